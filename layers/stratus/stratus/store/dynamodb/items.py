"""Item shapes of the single Stratus table (template.yaml: StratusTable, keys ``pk``/``sk``).

| item                | pk                 | sk                      | what it holds                                   |
|---------------------|--------------------|-------------------------|-------------------------------------------------|
| experiment          | ``EXPERIMENTS``    | ``E#<experiment_id>``   | experiment fields and its tags                  |
| experiment name     | ``EXPNAME#<name>`` | ``#``                   | the unique-name claim: experiment_id            |
| counter             | ``COUNTER``        | ``experiment``          | last experiment id handed out                   |
| run pointer         | ``RUN#<run_id>``   | ``#RUN``                | experiment_id (immutable, cached)               |
| run info            | ``EXP#<exp_id>``   | ``R#<run_id>#I``        | run info, dataset summary, model inputs/outputs |
| run data shard      | ``EXP#<exp_id>``   | ``R#<run_id>#D<n>``     | params, tags, latest metrics hashed to shard n  |
| run order           | ``EXP#<exp_id>``   | ``T#<newest>#<run_id>`` | keys only: runs newest first (RunOrderItem)    |
| run order marker    | ``EXP#<exp_id>``   | ``T#``                  | keys only: every run of the experiment has one  |
| long value          | ``RUN#<run_id>``   | ``V#<sha256>``          | a param or tag value over 1 KB                  |
| metric history      | ``RUN#<run_id>``   | ``H#<key>#<chunk id>``  | packed points of one metric from one write      |
| dataset input       | ``RUN#<run_id>``   | ``DS#<name>#<digest>``  | a dataset with its schema, profile and tags     |
| dataset summary     | ``EXP#<exp_id>``   | ``DS#<sha256>``         | (name, digest, context) a run logged as input   |
| logged model pointer| ``MODEL#<id>``     | ``#``                   | experiment_id (immutable, cached)               |
| logged model        | ``EXP#<exp_id>``   | ``M#<model_id>``        | the model: info, tags, params, metrics          |
| registered model    | ``REGMODELS``      | ``M#<rm_id>``           | name, description, tags, aliases, next version  |
| model name claim    | ``RMNAME#<name>``  | ``#``                   | rm_id: the unique name, moved by a rename       |
| model version       | ``RM#<rm_id>``     | ``V#<version:010d>``    | a version: stage, source, run, tags             |
| promotion event     | ``RM#<rm_id>``     | ``H#<time:013d>#<id>``  | a stage transition or alias change              |
| version summary     | ``MVSUM``          | ``<rm_id>#<ver:010d>``  | a version as a search needs it (compact JSON)   |
| version summary mark| ``MVSUM``          | ``#``                   | keys only: every version has its summary        |
| webhook             | ``WEBHOOKS``       | ``W#<webhook_id>``      | URL, events, status, encrypted secret           |
| upload claim        | ``UPLOAD#<folder>``| ``#``                   | an S3-driven registration and its version       |
| webhook delivery    | ``WEBHOOK#<id>``   | ``D#<time>#<ev>``, ``E#<ev>`` | delivery log; delivered-event marker |
| project run         | ``PROJRUN#<run_id>``| ``#``                  | a project run's job: state, revision, record    |
| active project run  | ``PROJRUNS``       | ``A#<submitted:013d>#<run_id>`` | keys only: a project run not yet ended |
| issue pointer       | ``ISSUE#<id>``     | ``#``                   | experiment_id (immutable, cached)               |
| issue               | ``EXP#<exp_id>``   | ``I#<issue_id>``        | an issue: status, severity, causes, categories  |
| scorer              | ``EXP#<exp_id>``   | ``SC#<name>``           | a registered scorer's name and its scorer_id    |
| scorer version      | ``EXP#<exp_id>``   | ``S#<name>#<ver:010d>`` | one version: the serialized scorer, created     |
| online scoring conf | ``SCORER#<id>``    | ``#``                   | sample rate, filter, config id, experiment_id   |
| trace pointer       | ``TRACE#<id>``     | ``#``                   | experiment_id and sk of the trace record        |
| trace               | ``TRACES#<exp_id>``| ``T#<req ms:013d>#<id>``| GenAI trace record (zlib JSON), revision, ttl   |
| trace run link      | ``TRACERUN#<run>`` | ``<trace_id>``          | a trace linked to a run; ttl                    |
| schema state        | ``META``           | ``SCHEMA``              | migrations done, running one's cursor, revision |
| evaluation dataset  | ``DATASET#<id>``   | ``#``                   | name, tags, schema, profile, experiment ids     |
| dataset listing     | ``DATASETS``       | ``<dataset_id>``        | keys only: every evaluation dataset             |
| experiment dataset  | ``EXP#<exp_id>``   | ``ED#<dataset_id>``     | keys only: a dataset linked to the experiment   |
| dataset record key  | ``DATASET#<id>``   | ``K#<record key>``      | created time: where the record is (upserts)     |
| dataset record      | ``DATASET#<id>``   | ``R#<created:013d>#<record_id>`` | a record: body inline or in S3       |

One GSI, ``RunVersions``: model version keys by ``run_id`` (which only model version items carry).

Runs live in their experiment's partition so that a search reads that experiment's runs with one Query and nothing
else; what a search never needs (history, long values, dataset bodies) lives under the run's own partition.
"""

from __future__ import annotations

from pynamodb.attributes import (
    BinaryAttribute,
    DiscriminatorAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.expressions.condition import Condition
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

DATA_SHARDS = 8


def sort_key_prefix(attribute: UnicodeAttribute, prefix: str) -> Condition:
    """Sort keys made of ``prefix`` and an ASCII rest, as a BETWEEN: DynamoDB reads and bills it exactly as
    ``begins_with``, but DynamoDB Local (``stratus local``) seeks its index for a BETWEEN where it scans the whole
    partition for ``begins_with`` (8 ms instead of 70 ms to read one run of a 30,000-run experiment)."""
    return attribute.between(prefix, prefix + "\x7f")


class StratusItem(Model):
    """Base of every item: the table's keys. ``bind_table`` sets Meta.table_name at start-up."""

    class Meta:
        table_name = "stratus"
        region = "us-east-1"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class ExperimentItem(StratusItem):
    experiment_id = UnicodeAttribute()
    name = UnicodeAttribute()
    artifact_location = UnicodeAttribute()
    lifecycle_stage = UnicodeAttribute()
    creation_time = NumberAttribute()
    last_update_time = NumberAttribute()
    tags = MapAttribute[str, str](default=dict)
    version = NumberAttribute(default=0)


class ExperimentNameItem(StratusItem):
    experiment_id = UnicodeAttribute()


class CounterItem(StratusItem):
    value = NumberAttribute(default=0)


class RunPointerItem(StratusItem):
    experiment_id = UnicodeAttribute()


class RunItem(StratusItem):
    """The items of a run in its experiment's partition: one info item and up to DATA_SHARDS data shards."""

    kind = DiscriminatorAttribute()
    version = NumberAttribute(default=0)


class RunInfoItem(RunItem, discriminator="info"):
    """A run's info. ``lifecycle_stage`` is an attribute of its own: deleting or restoring an experiment updates it
    in place (``set_run_stages``) and ``run_stages`` reads it alone. The rest is one compact JSON object, ``body``
    (``tracking._info_body``), for the reason ``RunDataItem`` gives: ``{"n": run_name, "u": user_id, "s": status,
    "st": start_time, "et": end_time or null, "a": artifact_uri, "ds": [[name, digest, context]] of the dataset inputs
    (bodies are DatasetItems), "mi"/"mo": [[model_id, step]] of the model inputs/outputs}``; run and experiment ids
    are in the keys."""

    lifecycle_stage = UnicodeAttribute()
    body = UnicodeAttribute(default="{}")


class RunDataItem(RunItem, discriminator="data"):
    """One shard's params, tags and latest metrics as one compact JSON object (``tracking._shard_body``):
    ``{"p": {key: value}, "t": {key: value}, "lp": {key: sha256}, "lt": {key: sha256},
    "m": {key: [value as exact float repr, timestamp, step]}}``, empty members left out. ``lp``/``lt`` point at
    ValueItems (values over LONG_VALUE_BYTES). One string attribute, not five DynamoDB maps: a search parses every
    shard of an experiment, and ``json.loads`` does in microseconds what botocore's and pynamodb's map decoding did
    in ~55% of a search's CPU (docs/benchmarks.md)."""

    body = UnicodeAttribute(default="{}")


class RunOrderItem(StratusItem):
    """Keys only. ``T#<newest>#<run_id>``, where ``<newest>`` is ``2**63 - 1 - start_time`` in 20 digits, so the
    partition's ``T#`` range lists runs in the order of MLflow's default search (start_time DESC, run_id ASC); it is
    written in the run's own transaction (start times never change). The marker ``T#``, written with the experiment,
    says the range is complete: experiments created before run order items existed are read whole until migration 3
    (``migrations/search_order.py``) has written their runs' items, then the marker."""


class ExperimentOrderItem(StratusItem):
    """Keys only, in the ``EXPORDER`` partition: ``C#<newest creation>#<id>`` and ``U#<newest update>#<id>``, where
    ``<newest ...>`` is ``2**63 - 1 - time`` and ``<id>`` the experiment id, both in 20 digits, so each range lists
    experiments as MLflow orders them by ``creation_time DESC`` (its default) or ``last_update_time DESC``, ties by id.
    ``C#`` is written once with the experiment; ``U#`` is moved in the same transaction as the experiment whenever its
    last update time changes. The marker ``#`` says every experiment of the table has its items (it is written with
    the Default experiment of a new table, and by migration 3 for an older table once every experiment has its items);
    without it, searches read every experiment."""


class ChangeMarkerItem(StratusItem):
    """``C#<epoch ms, 13 digits>#<run_id>``: the run was (about to be) written at that time. Put before every run write
    (in the create transaction; before a change, at most one per run every MARKER_COALESCE_MS per container), read by
    search projections for the runs changed since the projection was made (``domain/services/projection.py``);
    DynamoDB's TTL deletes it a day later."""

    ttl = NumberAttribute()


class ProjectionManifestItem(StratusItem):
    """``P#`` in the experiment's partition: its search projection's version (conditional writes), watermark (epoch
    ms), run count, S3 prefix and column names (a JSON list)."""

    version = NumberAttribute()
    watermark = NumberAttribute()
    runs = NumberAttribute()
    prefix = UnicodeAttribute()
    columns = UnicodeAttribute()


class ValueItem(StratusItem):
    value = UnicodeAttribute()


class MetricChunkItem(StratusItem):
    """Points of one metric written by one request: little-endian (step int64, timestamp int64, value float64)."""

    points = BinaryAttribute(legacy_encoding=False)


class DatasetItem(StratusItem):
    name = UnicodeAttribute()
    digest = UnicodeAttribute()
    source_type = UnicodeAttribute(default="")
    source = UnicodeAttribute(default="")
    schema = UnicodeAttribute(default="")
    profile = UnicodeAttribute(default="")
    tags = ListAttribute(default=list)  # type: ignore[var-annotated]  # [[key, value], ...]


class DatasetSummaryItem(StratusItem):
    """``EXP#<exp_id>``/``DS#<sha256 of [name, digest, context]>``: a (dataset, context) pair that a run of the
    experiment logged as an input, what ``experiments/search-datasets`` lists without reading any run. Written by
    log-inputs with an UpdateItem that keeps ``first_logged`` (nanoseconds) from the first write, so a retry or
    another run logging the same pair changes nothing; the hash keeps the key under DynamoDB's 1,024 bytes whatever
    the name and context. No context tag: no ``context`` attribute."""

    name = UnicodeAttribute()
    digest = UnicodeAttribute()
    context = UnicodeAttribute(null=True)
    first_logged = NumberAttribute()


class LoggedModelPointerItem(StratusItem):
    experiment_id = UnicodeAttribute()


class LoggedModelItem(StratusItem):
    model_id = UnicodeAttribute()
    experiment_id = UnicodeAttribute()
    name = UnicodeAttribute()
    artifact_uri = UnicodeAttribute()
    status = UnicodeAttribute()
    lifecycle_stage = UnicodeAttribute()
    creation_timestamp_ms = NumberAttribute()
    last_updated_timestamp_ms = NumberAttribute()
    model_type = UnicodeAttribute(null=True)
    source_run_id = UnicodeAttribute(null=True)
    status_message = UnicodeAttribute(null=True)
    tags = MapAttribute[str, str](default=dict)
    params = MapAttribute[str, str](default=dict)
    # [key, value as text, timestamp, step, run_id, dataset_name, dataset_digest] per point
    metrics = ListAttribute(default=list)  # type: ignore[var-annotated]
    version = NumberAttribute(default=0)


class RegisteredModelItem(StratusItem):
    rm_id = UnicodeAttribute()
    name = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    creation_timestamp = NumberAttribute()
    last_updated_timestamp = NumberAttribute()
    tags = MapAttribute[str, str](default=dict)
    aliases = MapAttribute(default=dict)  # type: ignore[var-annotated]  # alias -> version number
    last_version = NumberAttribute(default=0)
    latest = MapAttribute(null=True)  # type: ignore[var-annotated]  # stage -> its newest version; absent: not kept yet
    updated_by = UnicodeAttribute(null=True)  # the actor of the last write (read by the registry event publisher)
    version = NumberAttribute(default=0)


class ModelNameItem(StratusItem):
    rm_id = UnicodeAttribute()


class RunVersionsIndex(GlobalSecondaryIndex["ModelVersionItem"]):
    """GSI ``RunVersions`` (template.yaml): model version keys by ``run_id``. Eventually consistent, keys only: it
    says which models to read, and they are then read consistently."""

    class Meta:
        index_name = "RunVersions"
        projection = KeysOnlyProjection()

    run_id = UnicodeAttribute(hash_key=True)


class ModelVersionItem(StratusItem):
    model_name = UnicodeAttribute(null=True)  # kept current by renames, for the registry event publisher
    updated_by = UnicodeAttribute(null=True)
    number = NumberAttribute()
    creation_timestamp = NumberAttribute()
    last_updated_timestamp = NumberAttribute()
    source = UnicodeAttribute()
    run_id = UnicodeAttribute(null=True)  # never "": the key of RunVersions, where DynamoDB refuses an empty string
    model_id = UnicodeAttribute(null=True)
    storage_location = UnicodeAttribute(null=True)
    run_link = UnicodeAttribute(null=True)
    description = UnicodeAttribute(null=True)
    user_id = UnicodeAttribute(null=True)
    current_stage = UnicodeAttribute()
    status = UnicodeAttribute()
    status_message = UnicodeAttribute(null=True)
    tags = MapAttribute[str, str](default=dict)
    version = NumberAttribute(default=0)
    by_run = RunVersionsIndex()


class ModelVersionSummaryItem(StratusItem):
    """``MVSUM``/``<rm_id>#<version:010d>``: a model version as ``all_versions`` rebuilds it, in one registry-wide
    partition, so a model-version search not pinned to a model or a run reads one range instead of every model's
    partition. Written in the same transaction as its ModelVersionItem (``registry._summary_body``: one compact JSON
    object with the model's name and every field of the version, read raw). No ``run_id`` attribute: that would put
    it in the RunVersions index. The marker ``#`` (no body), written with the first registered model of a table,
    says that every version has its summary; registries created before summaries existed have none and are read
    model by model."""

    body = UnicodeAttribute(null=True)


class SchemaItem(StratusItem):
    """``META``/``SCHEMA``: how far the table's upgrade is (``domain/upgrades.py``, ``store/dynamodb/migrations``):
    ``schema_version`` migrations done, the running one's ``cursor`` (its own JSON; absent before its first step) and
    ``revision``, the count of writes, on which each write is conditioned. Absent in a table never upgraded."""

    schema_version = NumberAttribute(default=0)
    cursor = UnicodeAttribute(null=True)
    revision = NumberAttribute(default=0)
    updated_at = NumberAttribute(null=True)  # epoch ms of the last step, for people reading the item


class PromotionEventItem(StratusItem):
    number = NumberAttribute()
    kind = UnicodeAttribute()
    before = UnicodeAttribute(null=True)
    after = UnicodeAttribute(null=True)
    actor = UnicodeAttribute()
    timestamp = NumberAttribute()
    alias = UnicodeAttribute(null=True)
    event_id = UnicodeAttribute()


class WebhookItem(StratusItem):
    """``WEBHOOKS``/``W#<id>``: a webhook; its secret encrypted with the stack's KMS key (never returned)."""

    name = UnicodeAttribute()
    url = UnicodeAttribute()
    events = ListAttribute(default=list)  # type: ignore[var-annotated]  # ["entity:action", ...]
    description = UnicodeAttribute(null=True)
    status = UnicodeAttribute()
    creation_timestamp = NumberAttribute()
    last_updated_timestamp = NumberAttribute()
    secret = BinaryAttribute(null=True, legacy_encoding=False)


class WebhookDeliveryItem(StratusItem):
    """``WEBHOOK#<id>``/``D#<time:013d>#<event_id>``: one delivery attempt; ``E#<event_id>`` marks a delivered event."""

    event_id = UnicodeAttribute()
    event_name = UnicodeAttribute(default="")
    timestamp = NumberAttribute(default=0)
    success = UnicodeAttribute(default="false")
    response_status = NumberAttribute(null=True)
    error_message = UnicodeAttribute(null=True)


class UploadClaimItem(StratusItem):
    """``UPLOAD#<register/name/drop>``/``#``: an S3-driven registration (CLAIMED, PENDING, READY or FAILED)."""

    status = UnicodeAttribute()
    claimed_at = NumberAttribute()
    version = NumberAttribute(null=True)
    reason = UnicodeAttribute(null=True)


class ProjectRunItem(StratusItem):
    """``PROJRUN#<run_id>``/``#``: the job side of a project run (``domain.projects.ProjectRun``) as JSON, with its
    state and a revision every save checks."""

    state = UnicodeAttribute()
    revision = NumberAttribute()
    body = UnicodeAttribute()


class ActiveProjectRunItem(StratusItem):
    """``PROJRUNS``/``A#<submitted_at:013d>#<run_id>``: one per project run not yet ended (the sweep's list); written
    with the run, deleted in the write that ends it."""


class DeploymentItem(StratusItem):
    """``DEPLOYS``/``D#<name>``: a model deployment (``domain.deployments.Deployment``) as JSON, with its state and a
    revision every save checks. One partition holds them all: ``list`` is one Query, and a registry alias event
    reads it to find the deployments that follow the alias (a stack has tens of deployments, not millions)."""

    state = UnicodeAttribute()
    revision = NumberAttribute()
    body = UnicodeAttribute()


class DeploymentHistoryItem(StratusItem):
    """``DEPLOY#<name>``/``H#<time:013d>#<rollout_id>#<outcome>``: one switch (or failed rollout) of a deployment,
    as JSON (``domain.deployments.HistoryEntry``)."""

    body = UnicodeAttribute()


class IssuePointerItem(StratusItem):
    """``ISSUE#<issue_id>``/``#``: which experiment's partition holds the issue (get and update by id)."""

    experiment_id = UnicodeAttribute()


class IssueItem(StratusItem):
    """``EXP#<exp_id>``/``I#<issue_id>``: an MLflow 3 issue, beside its experiment's runs and logged models."""

    issue_id = UnicodeAttribute()
    experiment_id = UnicodeAttribute()
    name = UnicodeAttribute()
    description = UnicodeAttribute()
    status = UnicodeAttribute()
    created_timestamp = NumberAttribute()
    last_updated_timestamp = NumberAttribute()
    severity = UnicodeAttribute(null=True)
    root_causes = ListAttribute(default=list)  # type: ignore[var-annotated]
    source_run_id = UnicodeAttribute(null=True)
    categories = ListAttribute(default=list)  # type: ignore[var-annotated]
    created_by = UnicodeAttribute(null=True)
    version = NumberAttribute(default=0)


class ScorerItem(StratusItem):
    """``EXP#<exp_id>``/``SC#<name>``: a registered scorer's name and the id its versions and online configuration
    share; it outlives the deletion of its versions one by one, as the reference's scorer row does."""

    scorer_id = UnicodeAttribute()
    scorer_name = UnicodeAttribute()


class ScorerVersionItem(StratusItem):
    """``EXP#<exp_id>``/``S#<name>#<version:010d>``: one version of a registered scorer (its serialized JSON)."""

    scorer_id = UnicodeAttribute()
    scorer_name = UnicodeAttribute()
    scorer_version = NumberAttribute()
    serialized_scorer = UnicodeAttribute()
    creation_time = NumberAttribute()


class OnlineScoringConfigItem(StratusItem):
    """``SCORER#<scorer_id>``/``#``: a scorer's online scoring configuration, found by scorer id."""

    experiment_id = UnicodeAttribute()
    online_scoring_config_id = UnicodeAttribute()
    sample_rate = NumberAttribute()
    filter_string = UnicodeAttribute(null=True)


class TracePointerItem(StratusItem):
    """``TRACE#<trace_id>``/``#``: where the trace's record is (its experiment and request time move it). ``ttl``:
    the record's expiry (epoch s)."""

    experiment_id = UnicodeAttribute()
    record_sk = UnicodeAttribute()
    ttl = NumberAttribute(null=True)


class TraceItem(StratusItem):
    """``TRACES#<exp_id>``/``T#<request_time ms:013d>#<trace_id>``: a GenAI trace's record
    (``domain.trace_records.TraceRecord`` as JSON, zlib-compressed in ``zbody``; ``body``, plain, in records written
    before), in request-time order for searches. ``ttl``: expiry (epoch s)."""

    body = UnicodeAttribute(null=True)
    zbody = BinaryAttribute(null=True, legacy_encoding=False)
    revision = NumberAttribute()
    ttl = NumberAttribute(null=True)


class TraceRunItem(StratusItem):
    """``TRACERUN#<run_id>``/``<trace_id>``: a trace linked to a run (link-to-run, ``x-mlflow-run-id``). ``ttl``:
    the trace's expiry (epoch s), absent for a trace kept or unknown when linked."""

    ttl = NumberAttribute(null=True)


class EvaluationDatasetItem(StratusItem):
    """``DATASET#<id>``/``#``: an MLflow 3 evaluation dataset with its tags and the experiments it is linked to."""

    dataset_id = UnicodeAttribute()
    name = UnicodeAttribute()
    digest = UnicodeAttribute()
    created_time = NumberAttribute()
    last_update_time = NumberAttribute()
    tags = UnicodeAttribute(default="{}")  # JSON: the reference lists tags in the order they were first set
    schema = UnicodeAttribute(null=True)
    profile = UnicodeAttribute(null=True)
    created_by = UnicodeAttribute(null=True)
    last_updated_by = UnicodeAttribute(null=True)
    experiment_ids = ListAttribute(default=list)  # type: ignore[var-annotated]
    num_records = NumberAttribute(default=0)
    version = NumberAttribute(default=0)


class DatasetLinkItem(StratusItem):
    """Keys only: ``DATASETS``/``<dataset_id>`` (every dataset) or ``EXP#<exp_id>``/``ED#<dataset_id>`` (the
    datasets of an experiment): what a dataset search Queries before it reads the datasets in batches."""


class DatasetRecordKeyItem(StratusItem):
    """``DATASET#<id>``/``K#<record key>``: the record with those inputs, as the sort key of its record item."""

    record_sk = UnicodeAttribute()


class DatasetRecordItem(StratusItem):
    """``DATASET#<id>``/``R#<created:013d>#<record_id>``: one record, ordered as the reference pages them. The body
    (inputs, outputs, expectations, tags, source as JSON) is inline up to 64 KB, else an S3 object (``body_key``)."""

    record_id = UnicodeAttribute()
    created_time = NumberAttribute()
    last_update_time = NumberAttribute()
    created_by = UnicodeAttribute(null=True)
    last_updated_by = UnicodeAttribute(null=True)
    body = UnicodeAttribute(null=True)
    body_key = UnicodeAttribute(null=True)
    body_bytes = NumberAttribute(default=0)


ALL_ITEMS: tuple[type[StratusItem], ...] = (
    StratusItem,
    ExperimentItem,
    ExperimentNameItem,
    CounterItem,
    RunPointerItem,
    RunItem,
    RunInfoItem,
    RunDataItem,
    RunOrderItem,
    ExperimentOrderItem,
    ChangeMarkerItem,
    ProjectionManifestItem,
    ValueItem,
    MetricChunkItem,
    DatasetItem,
    DatasetSummaryItem,
    LoggedModelPointerItem,
    LoggedModelItem,
    RegisteredModelItem,
    ModelNameItem,
    ModelVersionItem,
    ModelVersionSummaryItem,
    SchemaItem,
    PromotionEventItem,
    WebhookItem,
    WebhookDeliveryItem,
    UploadClaimItem,
    ProjectRunItem,
    ActiveProjectRunItem,
    DeploymentItem,
    DeploymentHistoryItem,
    IssuePointerItem,
    IssueItem,
    ScorerItem,
    ScorerVersionItem,
    OnlineScoringConfigItem,
    TracePointerItem,
    TraceItem,
    TraceRunItem,
    EvaluationDatasetItem,
    DatasetLinkItem,
    DatasetRecordKeyItem,
    DatasetRecordItem,
)
