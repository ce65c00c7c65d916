"""Services: MLflow's rules, written against the store port."""

from stratus.domain.services.experiments import ExperimentService
from stratus.domain.services.runs import RunService

__all__ = ["ExperimentService", "RunService"]
