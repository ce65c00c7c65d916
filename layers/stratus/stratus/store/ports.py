"""The store port the services depend on. Adapters: ``dynamodb.DynamoTrackingStore`` (AWS and ``stratus local``)
and ``memory.InMemoryTrackingStore`` (unit tests)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from stratus.domain.entities import DatasetInput, Experiment, LoggedModel, Metric, Run

RunChange = Callable[[Run], None]
ExperimentChange = Callable[[Experiment], None]


class TrackingStore(Protocol):
    """Experiments, runs and metric history.

    Writes that read-modify-write (``modify_run``, ``modify_experiment``) are optimistic: the change function is
    called with a fresh copy, may raise a domain error to abort, and is called again if a concurrent writer won.
    """

    def next_experiment_id(self) -> str: ...

    def insert_experiment(self, experiment: Experiment) -> None:
        """Store a new experiment; ``ResourceAlreadyExists`` if its name is taken."""

    def get_experiment(self, experiment_id: str) -> Experiment | None: ...

    def get_experiment_id_by_name(self, name: str) -> str | None: ...

    def list_experiments(self) -> list[Experiment]: ...

    def modify_experiment(self, experiment_id: str, change: ExperimentChange) -> Experiment:
        """Apply ``change``; a changed name moves the unique-name claim atomically."""

    def insert_run(self, run: Run) -> None: ...

    def get_run(self, run_id: str) -> Run | None: ...

    def list_runs(self, experiment_id: str) -> list[Run]:
        """Every run of one experiment, with params, tags and latest metrics (not history, not dataset bodies)."""

    def modify_run(self, run_id: str, change: RunChange) -> Run: ...

    def run_stages(self, experiment_id: str) -> dict[str, str]:
        """run_id -> lifecycle stage of every run of one experiment (reads run info only)."""

    def set_run_stages(self, experiment_id: str, run_ids: list[str], stage: str) -> None:
        """Move many runs of one experiment to ``stage`` at once (deleting or restoring an experiment)."""

    def append_metric_history(self, run_id: str, metrics: Iterable[Metric]) -> None:
        """Add points to the run's history (idempotent for identical points)."""

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """All points of one metric, in MLflow's order, identical points once."""

    def add_dataset_inputs(self, run_id: str, inputs: list[DatasetInput]) -> None: ...

    def fill_dataset_inputs(self, runs: list[Run]) -> None:
        """Replace the dataset summaries of runs read by ``list_runs`` with the full dataset inputs."""


LoggedModelChange = Callable[[LoggedModel], None]


class LoggedModelStore(Protocol):
    """MLflow 3 logged models. ``modify_logged_model`` is optimistic like ``modify_run`` and raises
    ``ResourceDoesNotExist`` for an unknown id."""

    def insert_logged_model(self, model: LoggedModel) -> None: ...

    def get_logged_model(self, model_id: str) -> LoggedModel | None:
        """The model whatever its lifecycle stage; None if there is none."""

    def list_logged_models(self, experiment_id: str) -> list[LoggedModel]:
        """Every logged model of one experiment, deleted ones included."""

    def modify_logged_model(self, model_id: str, change: LoggedModelChange) -> LoggedModel: ...
