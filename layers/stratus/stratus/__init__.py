"""Stratus: a serverless, MLflow-compatible tracking server (shared Lambda layer package)."""

MLFLOW_COMPAT_VERSION = "3.17.2"
