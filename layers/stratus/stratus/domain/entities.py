"""Domain entities shaped after MLflow's protos (mlflow/protos/service.proto), free of wire and storage formats."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

ACTIVE = "active"
DELETED = "deleted"

RUN_STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")
TERMINATED_STATUSES = ("FINISHED", "FAILED", "KILLED")


@dataclass
class Experiment:
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str = ACTIVE
    creation_time: int = 0
    last_update_time: int = 0
    tags: dict[str, str] = field(default_factory=dict)


MetricPoint = tuple[int, int, float]
"""One logged point of a metric as the stores return it: ``(step, timestamp, value)``."""


@dataclass(frozen=True, slots=True)
class Metric:
    key: str
    value: float
    timestamp: int
    step: int = 0

    def sort_key(self) -> tuple[int, int, float]:
        """MLflow's rule for the latest value: highest step, then timestamp, then value (NaN compares as 0, as the
        reference's SQL store keeps it)."""
        value = self.value
        return (self.step, self.timestamp, 0.0 if value != value else value)


@dataclass(frozen=True)
class Dataset:
    name: str
    digest: str
    source_type: str = ""
    source: str = ""
    schema: str = ""
    profile: str = ""


@dataclass(frozen=True)
class DatasetInput:
    dataset: Dataset
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def context(self) -> str | None:
        return dict(self.tags).get("mlflow.data.context")


@dataclass(frozen=True)
class DatasetSummary:
    """One (dataset, context) pair logged as an input by a run of an experiment: what the UI's dataset filter lists
    (MLflow's ``_DatasetSummary``). ``context`` is the input's ``mlflow.data.context`` tag, None without one."""

    experiment_id: str
    name: str
    digest: str
    context: str | None = None


@dataclass(frozen=True)
class ModelIO:
    """A logged model linked to a run as an input or an output (runs/log-inputs, runs/outputs)."""

    model_id: str
    step: int | None = None


@dataclass
class RunInfo:
    run_id: str
    experiment_id: str
    run_name: str
    user_id: str
    status: str
    start_time: int
    end_time: int | None
    artifact_uri: str
    lifecycle_stage: str = ACTIVE


@dataclass
class Run:
    info: RunInfo
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Metric] = field(default_factory=dict)
    dataset_inputs: list[DatasetInput] = field(default_factory=list)
    model_inputs: list[ModelIO] = field(default_factory=list)
    model_outputs: list[ModelIO] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return self.info.run_id


LOGGED_MODEL_STATUSES = (
    "LOGGED_MODEL_STATUS_UNSPECIFIED",
    "LOGGED_MODEL_PENDING",
    "LOGGED_MODEL_READY",
    "LOGGED_MODEL_UPLOAD_FAILED",
)


@dataclass(frozen=True)
class ModelMetric:
    """A metric point logged against a logged model (``log-batch`` metrics that carry ``model_id``)."""

    key: str
    value: float
    timestamp: int
    step: int
    run_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None
    model_id: str | None = None


@dataclass
class LoggedModel:
    """An MLflow 3 logged model (mlflow/protos/service.proto LoggedModel): the unit ``log_model`` creates."""

    model_id: str
    experiment_id: str
    name: str
    artifact_uri: str
    creation_timestamp_ms: int
    last_updated_timestamp_ms: int
    status: str = "LOGGED_MODEL_PENDING"
    lifecycle_stage: str = ACTIVE
    model_type: str | None = None
    source_run_id: str | None = None
    status_message: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: list[ModelMetric] = field(default_factory=list)


# ---------------------------------------------------------------- model registry

STAGES = ("None", "Staging", "Production", "Archived")


def latest_per_stage(versions: Iterable[ModelVersion]) -> list[ModelVersion]:
    """A registered model's ``latest_versions``: the newest version of each stage, ordered by stage (the reference's
    order is undefined), without aliases."""
    latest: dict[str, ModelVersion] = {}
    for v in versions:
        current = latest.get(v.current_stage)
        if current is None or v.version > current.version:
            latest[v.current_stage] = v
    return [latest[s] for s in STAGES if s in latest]


@dataclass
class ModelVersion:
    """A version of a registered model (mlflow/protos/model_registry.proto ModelVersion). ``version`` is a number;
    the wire carries it as a string."""

    name: str
    version: int
    creation_timestamp: int
    last_updated_timestamp: int
    source: str
    run_id: str | None = None
    model_id: str | None = None
    storage_location: str | None = None  # where get-download-uri points (a logged model's artifacts), if not source
    run_link: str | None = None
    description: str | None = None
    user_id: str | None = None
    current_stage: str = "None"
    status: str = "READY"
    status_message: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)


@dataclass
class RegisteredModel:
    """A registered model with its tags and aliases (alias -> version number). ``latest_versions`` (the newest
    version of each stage) is filled in by the service when it answers."""

    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    latest_versions: list[ModelVersion] = field(default_factory=list)


@dataclass(frozen=True)
class PromotionEvent:
    """One entry of a registered model's promotion history (beyond MLflow, mlflow#2169): a stage transition or an
    alias set, moved or deleted. ``before``/``after`` are stages for a transition and version numbers (as text, or
    None) for an alias."""

    model_name: str
    version: int
    kind: str  # "stage" | "alias_set" | "alias_moved" | "alias_deleted"
    before: str | None
    after: str | None
    actor: str
    timestamp: int
    alias: str | None = None
    event_id: str = ""


# ---------------------------------------------------------------- webhooks


@dataclass
class Webhook:
    """An MLflow 3 webhook (mlflow/protos/webhooks.proto). ``events`` are (entity, action) pairs in MLflow's lower
    case (``("model_version", "created")``). The secret is never part of the entity: the store keeps it encrypted."""

    webhook_id: str
    name: str
    url: str
    events: list[tuple[str, str]]
    creation_timestamp: int
    last_updated_timestamp: int
    description: str | None = None
    status: str = "ACTIVE"


@dataclass(frozen=True)
class WebhookDelivery:
    """One attempt to deliver one event to one webhook (the per-webhook delivery log)."""

    webhook_id: str
    event_id: str
    event_name: str
    timestamp: int
    success: bool
    response_status: int | None = None
    error_message: str | None = None


@dataclass
class UploadClaim:
    """An S3-driven registration of one dropped model folder: CLAIMED, PENDING (version waits for files), READY or
    FAILED (with the reason)."""

    folder: str
    status: str
    claimed_at: int
    version: int | None = None
    reason: str | None = None


@dataclass(frozen=True)
class ArtifactEntry:
    """One child of a listed folder: its name (not its key), whether it is a folder, and a file's size."""

    name: str
    is_dir: bool
    file_size: int | None = None


@dataclass(frozen=True)
class StoredObject:
    """An object's size, and its bytes when they were read (see ``ArtifactStore.fetch``)."""

    size: int
    body: bytes | None
