"""The ports the services depend on, owned by the domain. Adapters live in ``stratus.store``: DynamoDB
(``store.dynamodb``, on AWS and under ``stratus local``), S3 (``store.s3``) and in-memory fakes for unit tests
(``store.memory``); the composition roots in ``functions/<family>/app.py`` build them and hand them to the services,
so nothing in ``domain/`` imports ``store/``."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from stratus.domain.datasets import DatasetRecord, EvaluationDataset
from stratus.domain.deployments import Deployment, HistoryEntry
from stratus.domain.entities import (
    ArtifactEntry,
    DatasetInput,
    DatasetSummary,
    Experiment,
    LoggedModel,
    Metric,
    MetricPoint,
    ModelVersion,
    PromotionEvent,
    RegisteredModel,
    Run,
    RunInfo,
    StoredObject,
    UploadClaim,
    Webhook,
    WebhookDelivery,
)
from stratus.domain.issues import Issue
from stratus.domain.projection import Columns, ProjectionManifest
from stratus.domain.projects import ProjectResources, ProjectRun
from stratus.domain.scorers import OnlineScoringConfig, ScorerVersion
from stratus.domain.trace_records import TraceRecord

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

    def experiments_newest_first(self, by: str) -> Iterator[list[Experiment]] | None:
        """Every experiment, in chunks, newest first by ``by`` (``creation_time`` or ``last_update_time``; ties by
        id), reading as many chunks as the caller takes; None where the store cannot (then ``list_experiments``)."""

    def get_experiment_id_by_name(self, name: str) -> str | None: ...

    def list_experiments(self) -> list[Experiment]: ...

    def modify_experiment(self, experiment_id: str, change: ExperimentChange) -> Experiment:
        """Apply ``change``; a changed name moves the unique-name claim atomically."""

    def insert_run(self, run: Run) -> None: ...

    def get_run(self, run_id: str) -> Run | None: ...

    def get_run_info(self, run_id: str) -> RunInfo | None:
        """A run's info alone (one small read), whatever its lifecycle stage; None if there is no such run."""

    def list_runs(self, experiment_id: str) -> list[Run]:
        """Every run of one experiment, with params, tags and latest metrics (not history, not dataset bodies)."""

    def runs_newest_first(
        self, experiment_id: str, stages: Collection[str], start: int, count: int
    ) -> list[Run] | None:
        """Runs ``start`` to ``start + count`` of the experiment's runs in ``stages``, in MLflow's default order
        (start_time DESC, run_id ASC), shaped as ``list_runs`` shapes them, reading about a page rather than the
        experiment; None where the store cannot (then the caller reads the experiment whole)."""

    def get_runs(self, experiment_id: str, run_ids: Collection[str]) -> list[Run]:
        """Those of ``run_ids`` that are runs of the experiment, shaped as ``list_runs`` shapes them, read by key
        (consistent); in no particular order."""

    def changed_run_ids(self, experiment_id: str, since: int) -> set[str]:
        """The runs of the experiment written since ``since`` (epoch ms), from the change markers every run write puts
        before it writes (a marker may name a run whose write then failed)."""

    def newest_change(self, experiment_id: str) -> int | None:
        """The time (epoch ms) of the experiment's newest change marker; None if it has none left."""

    def has_runs(self, experiment_id: str, count: int) -> bool:
        """Whether the experiment has at least ``count`` runs (reading at most ``count`` keys); False for an
        experiment without run order items."""

    def modify_run(self, run_id: str, change: RunChange, history: Iterable[Metric] = ()) -> Run:
        """Apply ``change``, then add ``history`` to the metric history (some of it may go in the same write)."""

    def run_stages(self, experiment_id: str) -> dict[str, str]:
        """run_id -> lifecycle stage of every run of one experiment (reads run info only)."""

    def run_stage(self, run_id: str) -> tuple[str, str] | None:
        """(experiment_id, lifecycle stage) of one run, None if there is no such run: what an artifact request checks,
        without reading the run's params, tags and metrics."""

    def set_run_stages(self, experiment_id: str, run_ids: list[str], stage: str) -> None:
        """Move many runs of one experiment to ``stage`` at once (deleting or restoring an experiment)."""

    def append_metric_history(self, run_id: str, metrics: Iterable[Metric]) -> None:
        """Add points to the run's history (idempotent for identical points)."""

    def metric_points(self, run_id: str, key: str) -> list[MetricPoint]:
        """Every point of one metric, identical points once, in no particular order (the service orders and pages:
        building a ``Metric`` for each of a 100,000-point history only to return 25,000 of them was most of a page's
        CPU)."""

    def add_dataset_inputs(self, run_id: str, inputs: list[DatasetInput]) -> None:
        """Store the bodies of dataset inputs the run does not have yet, and the summary (name, digest, context) of
        each in the run's experiment, keeping the time a summary was first logged (idempotent: a retry changes
        nothing). ``modify_run`` then links the inputs to the run."""

    def dataset_summaries(self, experiment_id: str) -> list[DatasetSummary]:
        """Every distinct (name, digest, context) that a run of the experiment logged as an input, deleted runs
        included, in the order each was first logged."""

    def fill_dataset_inputs(self, runs: list[Run]) -> None:
        """Replace the dataset summaries of runs read by ``list_runs`` with the full dataset inputs."""


LoggedModelChange = Callable[[LoggedModel], None]


class RunProjectionStore(Protocol):
    """Experiments' search projections (``domain/projection.py``): a manifest, and columns written whole."""

    def manifest(self, experiment_id: str) -> ProjectionManifest | None:
        """The current manifest (consistent read); None if the experiment has no projection."""

    def read_columns(self, manifest: ProjectionManifest, names: Collection[str]) -> Columns | None:
        """Those of ``names`` the projection has; None if its objects are gone (a newer version replaced them)."""

    def write(self, experiment_id: str, columns: Columns, watermark: int, previous: ProjectionManifest | None) -> bool:
        """Store ``columns`` as the next version after ``previous``; False, and nothing current changed, if another
        projector wrote a version since ``previous`` was read."""


class RefreshQueue(Protocol):
    """Projection refreshes asked for later (``ProjectionService.settle``)."""

    def refresh_later(self, experiment_id: str, due_ms: int) -> None:
        """Have ``ProjectionService.settle(experiment_id, due_ms)`` called once ``due_ms`` (epoch ms) has passed."""


class LoggedModelStore(Protocol):
    """MLflow 3 logged models. ``modify_logged_model`` is optimistic like ``modify_run`` and raises
    ``ResourceDoesNotExist`` for an unknown id."""

    def insert_logged_model(self, model: LoggedModel) -> None: ...

    def get_logged_model(self, model_id: str) -> LoggedModel | None:
        """The model whatever its lifecycle stage; None if there is none."""

    def list_logged_models(self, experiment_id: str) -> list[LoggedModel]:
        """Every logged model of one experiment, deleted ones included."""

    def modify_logged_model(self, model_id: str, change: LoggedModelChange) -> LoggedModel: ...


@dataclass
class RegistrySnapshot:
    """A registered model and (some or all of) its versions, read together; what a registry change edits."""

    model: RegisteredModel
    versions: dict[int, ModelVersion]


RegistryChange = Callable[[RegistrySnapshot], list[PromotionEvent]]
"""Edits a snapshot in place (a version removed from ``versions`` is deleted) and returns the history to record."""


class RegistryStore(Protocol):
    """Registered models, their versions and promotion history. Changes are optimistic and atomic: ``modify``
    re-reads and calls ``change`` again when a concurrent writer won; it raises ``ResourceDoesNotExist`` (with the
    reference's message) for an unknown model."""

    def create_model(self, model: RegisteredModel) -> None:
        """``ResourceAlreadyExists`` if the name is taken."""

    def get_model(self, name: str) -> RegisteredModel | None: ...

    def get_model_and_latest(self, name: str) -> RegisteredModel | None:
        """The model with its ``latest_versions`` (the newest version of each stage), read without reading every
        version: the reference answers them on every GetRegisteredModel, which the stock client sends before most
        registry calls."""

    def list_models(self) -> list[RegisteredModel]: ...

    def list_versions(self, name: str) -> list[ModelVersion]: ...

    def all_versions(self) -> list[ModelVersion]:
        """Every version of every model."""

    def versions_of_models_with_run(self, run_id: str) -> list[ModelVersion] | None:
        """Every version of each model that has a version registered from ``run_id``; None when the index that says
        which models those are cannot be read (yet). The index may lag a write by a moment; the versions are read
        consistently."""

    def get_version(self, name: str, version: int) -> ModelVersion | None: ...

    def create_version(self, name: str, build: Callable[[int], ModelVersion], touched: int) -> ModelVersion:
        """Allocate the next version number (1, 2, 3... never reused, no gaps), store ``build(number)`` and set the
        model's last update to ``touched``, in one transaction."""

    def modify(self, name: str, change: RegistryChange, versions: list[int] | None = None) -> RegistrySnapshot:
        """Apply ``change`` to the model with ``versions`` (all of them when None) and record its history."""

    def rename_model(self, name: str, new_name: str, touched: int) -> RegisteredModel: ...

    def delete_model(self, name: str) -> None: ...

    def history(self, name: str) -> list[PromotionEvent]:
        """The model's promotion history, newest first."""


class WebhookStore(Protocol):
    """Webhooks, their encrypted secrets and their delivery log."""

    def put_webhook(self, webhook: Webhook, secret: str | None, *, keep_secret: bool = False) -> None:
        """Store (create or replace) a webhook; ``keep_secret`` leaves the stored secret as it is."""

    def get_webhook(self, webhook_id: str) -> Webhook | None: ...

    def get_secret(self, webhook_id: str) -> str | None: ...

    def list_webhooks(self) -> list[Webhook]: ...

    def delete_webhook(self, webhook_id: str) -> bool: ...

    def record_delivery(self, delivery: WebhookDelivery) -> None: ...

    def was_delivered(self, webhook_id: str, event_id: str) -> bool: ...

    def deliveries(self, webhook_id: str, limit: int) -> list[WebhookDelivery]:
        """The newest ``limit`` delivery attempts, newest first."""


class UploadClaims(Protocol):
    """One claim per dropped model folder (S3-driven registration)."""

    def get(self, folder: str) -> UploadClaim | None: ...

    def claim(self, folder: str, now: int, *, taking_over_from: int | None = None) -> bool:
        """Create the claim (or take over one claimed at ``taking_over_from``); False if someone else holds it."""

    def put(self, claim: UploadClaim) -> None: ...


class ArtifactStore(Protocol):
    """Artifacts of runs and logged models in the stack's bucket, by S3 key (keys come from
    ``domain.artifact_paths``). Adapter: ``store.s3.S3ArtifactStore``."""

    bucket: str

    def put(self, key: str, body: bytes, content_type: str | None) -> None: ...

    def size(self, key: str) -> int | None:
        """The object's size, or None when there is no object at ``key``."""

    def fetch(self, key: str, max_bytes: int) -> StoredObject | None:
        """The object at ``key``: its size, and its bytes if it has at most ``max_bytes``; None when there is none."""

    def read(self, key: str, max_bytes: int = 1024 * 1024) -> bytes | None:
        """The first ``max_bytes`` of the object at ``key``, or None when there is none."""

    def list_children(self, folder_key: str) -> list[ArtifactEntry]:
        """The files and folders directly under ``folder_key``, sorted by name."""

    def delete_tree(self, key: str) -> int:
        """Delete the object at ``key`` and every object under ``key/``; returns how many were deleted."""

    def presigned_get(self, key: str, filename: str) -> str:
        """A time-limited GET URL for one key that downloads as ``filename``."""

    def create_multipart(self, key: str, num_parts: int) -> tuple[str, list[str]]:
        """Start a multipart upload; its id and one presigned part-upload URL per part (numbered from 1)."""

    def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None: ...

    def abort_multipart(self, key: str, upload_id: str) -> None: ...


# ---------------------------------------------------------------------------------------------- project runs


class ProjectRunStore(Protocol):
    """Project runs (``domain.projects``): one record per MLflow run, written with a check on its ``revision`` so the
    API and job events never overwrite each other; runs not yet ended are also listed for the periodic sweep.
    Adapter: ``store.dynamodb.DynamoProjectRunStore``."""

    def create(self, run: ProjectRun) -> bool:
        """Store a new project run; False when ``run.run_id`` already has one."""

    def get(self, run_id: str) -> ProjectRun | None: ...

    def save(self, run: ProjectRun) -> bool:
        """Store ``run`` if nobody saved it since it was read (``run.revision``), bumping the revision; False when
        someone did. An ended run leaves the list of active ones in the same write."""

    def active(self, limit: int) -> list[ProjectRun]:
        """Up to ``limit`` runs not yet ended, oldest submission first."""


class ProjectPackages(Protocol):
    """Uploaded project packages (gzipped tarballs) in the stack's bucket. Adapter: ``store.s3.S3ProjectPackages``."""

    def uri(self, package_id: str) -> str:
        """The package's ``s3://`` URI (what the runner downloads)."""

    def upload_url(self, package_id: str) -> tuple[str, dict[str, str]]:
        """A time-limited PUT URL for the package, and the headers the PUT must carry."""

    def size(self, package_id: str) -> int | None:
        """The package's size, or None when it was never uploaded."""

    def create_multipart(self, package_id: str, parts: int) -> tuple[str, list[str]]:
        """Start a multipart upload of the package; its id and one presigned part URL per part (numbered from 1)."""

    def complete_multipart(self, package_id: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        """Join the uploaded ``(part number, ETag)`` parts into the package."""


@dataclass(frozen=True)
class JobRequest:
    """One project job, as the scheduler submits it."""

    name: str
    resources: ProjectResources
    environment: dict[str, str]
    tags: dict[str, str]
    docker_image: str | None = None


class JobScheduler(Protocol):
    """Where project jobs run: AWS Batch (``store.batch.BatchJobScheduler``); under ``stratus local`` the same API,
    answered by worker processes."""

    def submit(self, job: JobRequest) -> str:
        """Submit ``job``; its job id."""

    def terminate(self, job_id: str, reason: str) -> None:
        """Stop the job whether it waits or runs; its end arrives as a job event."""

    def describe(self, job_ids: list[str]) -> list[dict[str, object]]:
        """The jobs as state-change events describe them (``jobId``, ``status``, ``statusReason``, ``container``,
        ...); jobs the scheduler no longer knows are left out."""


class JobLogs(Protocol):
    """A job's output. Adapter: ``store.logs.CloudWatchJobLogs``."""

    def read(self, stream: str, max_bytes: int) -> tuple[bytes, bool]:
        """The stream's lines (at most ``max_bytes``) and whether it was cut short."""


IssueChange = Callable[[Issue], None]
"""Edits an issue in place; ``IssueStore.modify_issue`` saves the result."""


class IssueStore(Protocol):
    """MLflow 3 issues, each in its experiment. ``modify_issue`` is optimistic like ``modify_logged_model`` and
    raises ``ResourceDoesNotExist`` (with the reference's message) for an unknown id."""

    def insert_issue(self, issue: Issue) -> None: ...

    def get_issue(self, issue_id: str) -> Issue | None:
        """The issue; None if there is none."""

    def list_issues(self, experiment_id: str) -> list[Issue]:
        """Every issue of one experiment, in no particular order."""

    def modify_issue(self, issue_id: str, change: IssueChange) -> Issue: ...


DatasetChange = Callable[[EvaluationDataset], None]
"""Edits a dataset in place; ``DatasetStore.modify_dataset`` saves the result."""


class DatasetStore(Protocol):
    """MLflow 3 evaluation datasets: the dataset (with its tags and experiment ids), the datasets of each
    experiment, and the records, each known by its key, the hash of its inputs (``datasets.record_key``). Record
    bodies of any size: the adapter keeps large ones out of its table."""

    def insert_dataset(self, dataset: EvaluationDataset) -> None:
        """Writes the dataset and links it to its experiment ids."""

    def get_dataset(self, dataset_id: str) -> EvaluationDataset | None: ...

    def get_datasets(self, dataset_ids: Collection[str]) -> list[EvaluationDataset]:
        """The datasets of those ids that exist, in no particular order."""

    def list_dataset_ids(self, experiment_id: str | None) -> list[str]:
        """The ids of an experiment's datasets; with None, of every dataset."""

    def modify_dataset(self, dataset_id: str, change: DatasetChange) -> EvaluationDataset | None:
        """Applies ``change`` and saves it (optimistically, retrying on a concurrent write); None if there is no
        such dataset. Experiment ids added or removed by ``change`` are linked or unlinked."""

    def delete_dataset(self, dataset: EvaluationDataset) -> None:
        """The dataset, its experiment links and its records."""

    def get_records(self, dataset_id: str, keys: Collection[str]) -> dict[str, DatasetRecord]:
        """The records of those keys that exist, by key."""

    def put_records(self, records: Mapping[str, DatasetRecord], new: Collection[str]) -> None:
        """Writes the records (by key); ``new`` names the keys the dataset did not have."""

    def list_records(
        self, dataset_id: str, after: tuple[int, str] | None, limit: int, max_bytes: int
    ) -> tuple[list[DatasetRecord], bool]:
        """Records ordered by (created time, record id) after the cursor: at most ``limit``, and fewer when their
        bodies pass ``max_bytes`` (at least one); and whether more follow."""

    def delete_records(self, dataset_id: str, keys: Collection[str]) -> int:
        """Deletes the records of those keys; how many existed."""


class ScorerStore(Protocol):
    """MLflow 3 registered scorers, each name's versions in its experiment. A scorer record (the name's
    ``scorer_id``) outlives the deletion of its versions one by one; ``delete_scorer`` removes it with every
    version and its online scoring configuration."""

    def get_scorer_id(self, experiment_id: str, name: str) -> str | None:
        """The scorer record's id; None if the name has none in the experiment."""

    def insert_scorer_version(self, version: ScorerVersion, *, new_scorer: bool) -> None:
        """Writes the version (and the scorer record if ``new_scorer``); ``Conflict`` if either already exists."""

    def list_latest_scorer_versions(self, experiment_id: str) -> list[ScorerVersion]:
        """The highest version of each name in the experiment, in no particular order."""

    def list_scorer_versions(self, experiment_id: str, name: str) -> list[ScorerVersion]:
        """Every version of one name, lowest first."""

    def get_scorer_version(self, experiment_id: str, name: str, version: int) -> ScorerVersion | None: ...

    def delete_scorer_version(self, experiment_id: str, name: str, version: int) -> None: ...

    def delete_scorer(self, experiment_id: str, name: str) -> None:
        """Every version, the scorer record and its online scoring configuration."""

    def put_online_scoring_config(self, config: OnlineScoringConfig) -> None:
        """Replaces the scorer's configuration (one per scorer id)."""

    def get_online_scoring_configs(self, scorer_ids: list[str]) -> list[OnlineScoringConfig]:
        """The configurations of those scorers that have one."""


class DeploymentStore(Protocol):
    """Model deployments (``domain.deployments``): one record per deployment, saved with a check on its ``revision``
    so the API, the rollout events and the sweep never overwrite each other, and its history of switches.
    Adapter: ``store.dynamodb.DynamoDeploymentStore``."""

    def create(self, deployment: Deployment) -> bool:
        """Store a new deployment; False when the name is taken."""

    def get(self, name: str) -> Deployment | None: ...

    def save(self, deployment: Deployment) -> bool:
        """Store ``deployment`` if nobody saved it since it was read (``deployment.revision``), bumping the revision;
        False when someone did."""

    def list(self, max_results: int, page_token: str | None) -> tuple[list[Deployment], str | None]:
        """Deployments by name, a page at a time."""

    def delete(self, name: str) -> None:
        """The deployment and its history; nothing if it is gone."""

    def add_history(self, name: str, entry: HistoryEntry) -> None: ...

    def history(self, name: str, max_results: int) -> list[HistoryEntry]:
        """The newest ``max_results`` entries, newest first."""


@dataclass(frozen=True)
class FunctionSpec:
    """A deployment's serving function, as the platform runs it."""

    name: str
    image: str
    environment: dict[str, str]
    memory_mb: int
    timeout_seconds: int
    tags: dict[str, str]


@dataclass(frozen=True)
class Invocation:
    """A serving function's answer to one HTTP API (payload 2.0) event: the event's response, and which function
    version answered (``ExecutedVersion``). ``function_error`` is set when the handler itself crashed."""

    status: int
    headers: dict[str, str]
    body: bytes
    executed_version: str | None = None
    function_error: str | None = None


class ServingPlatform(Protocol):
    """Where deployments run: Lambda functions from container images (``store.lambda_serving.LambdaServing``);
    under ``stratus local`` the same Lambda API, answered by worker processes (``stratus_local.lambda_api``)."""

    def publish(self, spec: FunctionSpec) -> str:
        """Create the function, or update its image and settings, wait until it can be invoked, and publish a
        version; the version's number (a string). ``ServingFailed`` with the platform's reason if it cannot."""

    def invoke(self, function: str, qualifier: str, event: dict[str, object]) -> Invocation:
        """Send one HTTP API event to a version or alias of the function and return its answer.
        ``ServingFailed`` when the function cannot be reached (missing, throttled); ``PayloadTooLarge`` over Lambda's
        6 MB."""

    def route(self, function: str, alias: str, version: str, canary: tuple[str, float] | None = None) -> None:
        """Point ``alias`` at ``version`` (creating the alias if missing); with ``canary`` ``(version, weight)``,
        that share (0 to 1) of the alias's requests goes to the canary version."""

    def delete(self, function: str) -> None:
        """Remove the function with its versions and aliases; nothing if it is gone."""


class ImageBuilder(Protocol):
    """Serving images, one per set of model requirements (``domain.deployments.image_key``): CodeBuild builds them
    onto the serving base image and pushes them to ECR (``store.codebuild.CodeBuildImages``)."""

    def find(self, key: str) -> str | None:
        """The URI of the image built for ``key``; None if there is none yet."""

    def start(self, key: str, requirements: list[str]) -> str:
        """Start building the image for ``key``; the build's id. Its end arrives as a build event."""

    def status(self, build_id: str) -> tuple[str, str]:
        """``(status, reason)`` of a build: IN_PROGRESS, SUCCEEDED, FAILED, FAULT, STOPPED or TIMED_OUT."""


class TraceStore(Protocol):
    """GenAI trace records (``domain.trace_records.TraceRecord``): DynamoDB items ``TRACE#<id>`` (pointer) and
    ``TRACES#<experiment_id>`` / ``T#<request_time>#<id>`` (``store.dynamodb.traces.DynamoTraceStore``)."""

    def get(self, trace_id: str) -> TraceRecord | None:
        """The record of ``trace_id``; None if there is none. A record past its ``expires_at`` is gone for every
        read of this port, whether or not the table's TTL has deleted it yet (``trace_retention.expired``)."""

    def get_many(self, trace_ids: list[str]) -> list[TraceRecord]:
        """The records of those ids that exist (missing ids left out, duplicates once), in no particular order; read
        as ``get`` reads one (consistently, expired ones gone), a few requests for any number of ids."""

    def put(self, record: TraceRecord, *, previous: TraceRecord | None) -> bool:
        """Create (``previous`` None) or replace ``previous`` by ``record`` (which may have moved experiment or
        request time). Writes revision ``previous.revision + 1`` (1 for a create) and sets it on ``record``. False
        when someone saved the trace since ``previous`` was read (or it exists unexpired, for a create). The record,
        its pointer and its run links expire at ``record.expires_at`` (epoch seconds; None: kept)."""

    def put_many(self, changes: list[tuple[TraceRecord, TraceRecord | None]]) -> list[bool]:
        """``put(record, previous=previous)`` for each pair (of distinct traces), in fewer requests; whether each
        was saved, in order. A trace that lost is False as with ``put`` (and one the store gave up on after others'
        failures too): the caller re-reads it."""

    def delete(self, records: list[TraceRecord]) -> None:
        """Remove the records (their run links are left; readers drop links to missing traces)."""

    def page(
        self, experiment_id: str, *, descending: bool, start_after: str | None, limit: int
    ) -> tuple[list[TraceRecord], str | None]:
        """Up to ``limit`` records of the experiment in request-time order (then trace id) from after the key
        ``start_after`` (a ``TraceRecord.sort_key``); the key to resume from, None when the experiment ended."""

    def traces_of_run(self, run_id: str) -> list[str]:
        """Ids of the traces linked to the run (link-to-run, ``x-mlflow-run-id``); may name deleted traces."""

    def link_run(
        self, run_id: str, trace_ids: list[str], *, expires_at: Mapping[str, int | None] | None = None
    ) -> None:
        """Link the traces to the run (idempotent); a link expires with its trace (``expires_at`` by trace id,
        epoch seconds; a trace not in it is kept)."""


class SpanStore(Protocol):
    """Span batches in S3 under ``mlartifacts/<experiment_id>/traces/<trace_id>/spans/``
    (``store.s3.spans.S3SpanStore``); each span in the ``traces.json`` form."""

    def put_batch(
        self, experiment_id: str, trace_id: str, batch_id: str, spans: list[dict], *, retention_days: int = 0
    ) -> None:
        """Store one OTLP batch's spans of one trace (written once; a retry of the same batch id overwrites).
        Batch ids sort in arrival order, so that a re-sent span in a later batch wins on ``read``. The batch is
        deleted ``retention_days`` after it is written (0: kept until ``delete``)."""

    def read(self, experiment_id: str, trace_id: str) -> list[dict]:
        """Every span of the trace, a re-sent span id once (the last batch wins), in no particular order."""

    def delete(self, experiment_id: str, trace_id: str) -> None:
        """Remove every span of the trace; nothing if there is none."""

    def answer_url(self, experiment_id: str, trace_id: str, name: str) -> str | None:
        """A presigned GET URL of the answer stored as ``name`` beside the trace's spans (``put_answer``); None if
        there is none."""

    def put_answer(self, experiment_id: str, trace_id: str, name: str, body: bytes, *, retention_days: int = 0) -> str:
        """Store a read's answer (JSON too large for a Lambda response) as ``name`` beside the trace's spans, deleted
        with the trace or after ``retention_days``; a presigned GET URL of it."""


@dataclass(frozen=True)
class SchemaState:
    """How far the table's upgrade is: ``version`` migrations done, and the progress of the next one (its own
    ``cursor``, None before its first step). ``revision`` counts the writes, for the next conditional one."""

    version: int
    cursor: str | None
    revision: int = 0


class SchemaStateStore(Protocol):
    """The table's schema state (``store.dynamodb.migrations.DynamoSchemaState``, one item)."""

    def read(self) -> SchemaState:
        """The state as last written (a consistent read); version 0 for a table never upgraded."""

    def advance(self, seen: SchemaState, after: SchemaState) -> bool:
        """Write ``after`` if the state is still ``seen`` (its revision); False when another runner wrote first."""


class Migration(Protocol):
    """One idempotent change of older items into the current layout, done in bounded steps (one page of a Query or
    Scan each), so that a runner with a time budget can stop between steps and another resume from the cursor."""

    name: str

    def step(self, cursor: str | None) -> str | None:
        """Upgrade the next page after ``cursor`` (None: from the start); the cursor to go on from, None when done.
        Running a step twice, or after a newer write of the same item, changes nothing more."""
