"""Services: MLflow's rules, written against the store ports."""

from stratus.domain.services.artifacts import ArtifactService
from stratus.domain.services.experiments import ExperimentService
from stratus.domain.services.issues import IssueService
from stratus.domain.services.logged_models import LoggedModelService
from stratus.domain.services.projection import ProjectionService
from stratus.domain.services.promptlab import PromptlabService
from stratus.domain.services.registry import RegistryService
from stratus.domain.services.runs import RunService
from stratus.domain.services.scorers import ScorerService

__all__ = [
    "ArtifactService",
    "ExperimentService",
    "IssueService",
    "LoggedModelService",
    "ProjectionService",
    "PromptlabService",
    "RegistryService",
    "RunService",
    "ScorerService",
]
