"""MLflow plugin for Stratus: ``mlflow run --backend stratus`` runs MLflow Projects as AWS Batch jobs."""

__version__ = "0.1.0"
