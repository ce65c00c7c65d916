"""One Router per MLflow service family. Paths are relative to ``/api/2.0/mlflow`` (and its ``/ajax-api`` alias)."""
