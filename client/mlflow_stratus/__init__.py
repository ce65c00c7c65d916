"""MLflow plugin for Stratus: ``mlflow run --backend stratus`` runs MLflow Projects as AWS Batch jobs, and the
``stratus`` deployments target (``mlflow deployments ... -t stratus``) serves registered models."""

__version__ = "0.1.0"
