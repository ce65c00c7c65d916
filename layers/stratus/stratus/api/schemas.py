"""One pydantic model per MLflow request message, named after it. Unknown fields are ignored (the client sends
legacy ``run_uuid`` beside ``run_id``); proto JSON rules apply, so int64 fields also accept numeric strings."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from stratus.domain.entities import RUN_STATUSES
from stratus.domain.traces import AGGREGATION_TYPES, VIEW_TYPES
from stratus.domain.traces import DEFAULT_MAX_RESULTS as METRICS_DEFAULT_MAX_RESULTS


def _not_a_boolean(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("a boolean is not an integer")  # protobuf's JSON parsing refuses it too
    return value


Int64 = Annotated[int, BeforeValidator(_not_a_boolean), Field(ge=-(2**63), le=2**63 - 1)]
"""A protobuf int64 field (timestamps, steps, sizes, limits): booleans and numbers outside int64 are refused."""


def _proto_enum(*names: str) -> BeforeValidator:
    """A protobuf enum field: one of its value names or their numbers (from 1). An unknown name or number is ignored
    (read as unset), as the reference's ``ParseDict(ignore_unknown_fields=True)`` does; a value of another JSON type
    (a list, an object, a boolean) is refused instead of being stored."""

    def read(value: Any) -> Any:
        if value is None or value in names:
            return value
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError(f"not one of {', '.join(names)}")
        number = str(value)
        if number.isdigit() and 1 <= int(number) <= len(names):
            return names[int(number) - 1]
        return None

    return BeforeValidator(read)


def _present(value: Any) -> Any:
    if value is None or value == "":
        raise PydanticCustomError("missing", "Field required")
    return value


Required = BeforeValidator(_present)
"""A field the reference checks with ``_assert_required``: absent, ``null`` and ``""`` are all "Missing value for
required parameter"; a value of the wrong type is an invalid value."""
RequiredStr = Annotated[str, Required]

ViewType = Annotated[str | None, _proto_enum("ACTIVE_ONLY", "DELETED_ONLY", "ALL")]
RunStatus = Annotated[str | None, _proto_enum(*RUN_STATUSES)]


class Request(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)


class KeyValue(Request):
    key: str
    value: str = ""


class CreateExperiment(Request):
    name: RequiredStr
    artifact_location: str | None = None
    tags: list[KeyValue] = Field(default_factory=list)


class GetExperiment(Request):
    experiment_id: RequiredStr


class GetExperimentByName(Request):
    experiment_name: RequiredStr


class SearchExperiments(Request):
    max_results: Int64 = 1000
    page_token: str | None = None
    filter: str | None = None
    order_by: list[str] = Field(default_factory=list)
    view_type: ViewType = None


class UpdateExperiment(Request):
    experiment_id: RequiredStr
    new_name: RequiredStr


class ExperimentId(Request):
    experiment_id: RequiredStr


class SetExperimentTag(Request):
    experiment_id: RequiredStr
    key: RequiredStr
    value: str


class DeleteExperimentTag(Request):
    experiment_id: RequiredStr
    key: RequiredStr


class RunRequest(Request):
    """Run-scoped requests require ``run_id``; an absent or null one is read from the legacy ``run_uuid`` when the
    request has it, as the reference's schema check does."""

    run_id: RequiredStr
    run_uuid: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _legacy_run_uuid(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("run_id") is None and "run_uuid" in data:
            return {**data, "run_id": data["run_uuid"]}
        return data


class CreateRun(Request):
    experiment_id: str | None = None
    user_id: str = ""
    run_name: str | None = None
    start_time: Int64 | None = None
    tags: list[KeyValue] = Field(default_factory=list)


class ImportRun(CreateRun):
    """``POST /api/2.0/stratus/runs/import`` (Stratus only): CreateRun with the id to keep (``stratus import``)."""

    run_id: str


class GetRun(RunRequest):
    pass


class UpdateRun(RunRequest):
    status: RunStatus = None
    end_time: Int64 | None = None
    run_name: str | None = None


class DeleteRun(RunRequest):
    pass


class SetTag(RunRequest):
    key: RequiredStr
    value: str


class DeleteTag(RunRequest):
    key: RequiredStr


class MetricIn(Request):
    key: RequiredStr
    value: Annotated[float, Required]
    timestamp: Annotated[Int64, Required]
    step: Int64 = 0
    model_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None


class LogMetric(MetricIn, RunRequest):  # fields in the reference's check order: run_id first
    pass


class LogParam(RunRequest):
    key: RequiredStr
    value: str


class LogBatch(RunRequest):
    metrics: list[MetricIn] = Field(default_factory=list)
    params: list[KeyValue] = Field(default_factory=list)
    tags: list[KeyValue] = Field(default_factory=list)


class DatasetIn(Request):
    name: str
    digest: str
    source_type: str = ""
    source: str = ""
    schema_: str = Field(default="", alias="schema")
    profile: str = ""


class DatasetInputIn(Request):
    tags: list[KeyValue] = Field(default_factory=list)
    dataset: DatasetIn


class ModelInputIn(Request):
    model_id: str


class ModelOutputIn(Request):
    model_id: str
    step: Int64 | None = None


class LogInputs(RunRequest):
    datasets: list[DatasetInputIn] = Field(default_factory=list)
    models: list[ModelInputIn] = Field(default_factory=list)


class LogOutputs(RunRequest):
    models: list[ModelOutputIn] = Field(default_factory=list)


class SearchRuns(Request):
    experiment_ids: list[str] = Field(default_factory=list)
    filter: str | None = None
    run_view_type: ViewType = None
    max_results: Int64 = 1000
    order_by: list[str] = Field(default_factory=list)
    page_token: str | None = None


class GetMetricHistory(RunRequest):
    metric_key: RequiredStr
    page_token: str | None = None
    max_results: Int64 | None = None


class GetMetricHistoryBulk(Request):
    """``/ajax-api/2.0/mlflow/metrics/get-history-bulk``, the UI's older chart route (no proto message): one query
    parameter ``run_id`` per run."""

    run_id: list[str] = Field(default_factory=list)
    metric_key: str | None = None
    max_results: Int64 | None = None


class GetMetricHistoryBulkInterval(Request):
    run_ids: list[str] = Field(default_factory=list)
    metric_key: str
    start_step: Int64 | None = None
    end_step: Int64 | None = None
    max_results: Int64 | None = None


# ---------------------------------------------------------------- logged models


class CreateLoggedModel(Request):
    experiment_id: RequiredStr
    name: str | None = None
    model_type: str | None = None
    source_run_id: str | None = None
    params: list[KeyValue] = Field(default_factory=list)
    tags: list[KeyValue] = Field(default_factory=list)


class GetLoggedModel(Request):
    allow_deleted: bool = False


class FinalizeLoggedModel(Request):
    status: int | str


class LoggedModelTags(Request):
    tags: list[KeyValue] = Field(default_factory=list)


class LoggedModelParams(Request):
    params: list[KeyValue] = Field(default_factory=list)


class DatasetFilter(Request):
    dataset_name: str = ""
    dataset_digest: str | None = None


class LoggedModelOrderBy(Request):
    field_name: str
    ascending: bool = True
    dataset_name: str | None = None
    dataset_digest: str | None = None


class SearchLoggedModels(Request):
    experiment_ids: list[str]
    filter: str | None = None
    datasets: list[DatasetFilter] = Field(default_factory=list)
    max_results: Int64 | None = None
    order_by: list[LoggedModelOrderBy] = Field(default_factory=list)
    page_token: str | None = None


# ---------------------------------------------------------------- proxied artifacts


class ListArtifacts(Request):
    path: str | None = None


class ListLoggedModelArtifacts(Request):
    artifact_directory_path: str | None = None


class CreateMultipartUpload(Request):
    path: str
    num_parts: Int64 = 1


class MultipartPart(Request):
    part_number: Int64
    etag: str
    url: str | None = None


class CompleteMultipartUpload(Request):
    path: str
    upload_id: str
    parts: list[MultipartPart]


class AbortMultipartUpload(Request):
    path: str
    upload_id: str


# ---------------------------------------------------------------- model registry


class CreateRegisteredModel(Request):
    name: str | None = None
    tags: list[KeyValue] = Field(default_factory=list)
    description: str | None = None


class RegisteredModelName(Request):
    name: str | None = None


class RenameRegisteredModel(Request):
    name: str | None = None
    new_name: str | None = None


class UpdateRegisteredModel(Request):
    name: str | None = None
    description: str | None = None


class RegistrySearch(Request):
    filter: str | None = None
    max_results: int | str | None = None  # checked by the registry search, with the reference's messages
    order_by: list[str] = Field(default_factory=list)
    page_token: str | None = None


class RegisteredModelTag(Request):
    name: str | None = None
    key: str | None = None
    value: str = ""


class GetLatestVersions(Request):
    name: str | None = None
    stages: list[str] = Field(default_factory=list)


class CreateModelVersion(Request):
    name: str | None = None
    source: str
    run_id: str | None = None
    tags: list[KeyValue] = Field(default_factory=list)
    run_link: str | None = None
    description: str | None = None
    model_id: str | None = None


class ModelVersionRef(Request):
    name: str | None = None
    version: str | None = None


class UpdateModelVersion(ModelVersionRef):
    description: str | None = None


class TransitionModelVersionStage(ModelVersionRef):
    stage: str | None = None
    archive_existing_versions: bool = False


class ModelVersionTag(ModelVersionRef):
    key: str | None = None
    value: str = ""


class RegisteredModelAlias(Request):
    name: str | None = None
    alias: str | None = None
    version: str | None = None


class PromotionHistory(Request):
    name: str | None = None
    version: str | None = None
    max_results: Int64 | None = None
    page_token: str | None = None


# ---------------------------------------------------------------- webhooks


class WebhookEventIn(Request):
    entity: str | None = None
    action: str | None = None


class CreateWebhook(Request):
    name: str
    url: str
    events: list[dict] = Field(default_factory=list)
    description: str | None = None
    secret: str | None = None
    status: str | None = None


class UpdateWebhook(Request):
    name: str | None = None
    url: str | None = None
    events: list[dict] | None = None
    description: str | None = None
    secret: str | None = None
    status: str | None = None


class ListWebhooks(Request):
    max_results: Int64 | None = None
    page_token: str | None = None


class TestWebhook(Request):
    event: dict | None = None


# ---------------------------------------------------------------- the web UI (api/routes/ui.py)


class SearchDatasets(Request):
    experiment_ids: list[str] = Field(default_factory=list)


class PromptlabParameter(Request):
    """A prompt, model or output parameter of ``CreatePromptlabRun``: any JSON value, logged as Python's ``str``."""

    key: str
    value: Any = None


class CreatePromptlabRun(Request):
    """``runs/create-promptlab-run`` (the UI's prompt engineering): no proto, the reference reads the JSON itself and
    checks the required fields in the service (``PromptlabService``)."""

    experiment_id: str | None = None
    run_name: str | None = None
    tags: list[KeyValue] | None = None
    prompt_template: str | None = None
    prompt_parameters: list[PromptlabParameter] | None = None
    model_route: str | None = None
    model_parameters: list[PromptlabParameter] | None = None
    model_input: str | None = None
    model_output: str | None = None
    model_output_parameters: list[PromptlabParameter] | None = None
    mlflow_version: str | None = None
    user_id: str | None = None
    start_time: Int64 | None = None


class ListRunArtifacts(Request):
    """``artifacts/list`` (service.proto ListArtifacts): the UI sends ``run_uuid``."""

    run_id: str | None = Field(default=None, validation_alias=AliasChoices("run_id", "run_uuid"))
    path: str | None = None


class GetArtifact(Request):
    """``/get-artifact``: a run's file for the viewer."""

    run_id: str | None = Field(default=None, validation_alias=AliasChoices("run_id", "run_uuid"))
    path: str


class GetModelVersionArtifact(Request):
    name: str
    version: str
    path: str


class GetLoggedModelArtifact(Request):
    artifact_file_path: str


class GraphqlRequest(Request):
    """A GraphQL request: JSON body on POST, query string on GET (``variables`` then JSON text)."""

    query: Any = None
    variables: Any = None
    operation_name: Any = Field(default=None, validation_alias=AliasChoices("operationName", "operation_name"))


# ---------------------------------------------------------------------------------------------- project runs


class CreateProjectPackage(Request):
    experiment_id: RequiredStr
    size_bytes: int | None = None


class PackagePart(Request):
    part_number: int = Field(ge=1, le=10_000)
    etag: RequiredStr


class CompleteProjectPackage(Request):
    package_id: RequiredStr
    upload_id: RequiredStr
    parts: list[PackagePart] = Field(default_factory=list)


class SubmitProjectRun(Request):
    run_id: RequiredStr
    package_id: RequiredStr
    entry_point: RequiredStr
    parameters: dict[str, str] = Field(default_factory=dict)
    env_manager: str | None = None
    backend_config: dict[str, Any] = Field(default_factory=dict)
    docker_image: str | None = None


class GetProjectRun(Request):
    run_id: RequiredStr


# ---------------------------------------------------------------- model deployments (docs/deployments.md)


class CreateDeployment(Request):
    name: RequiredStr
    model_uri: RequiredStr
    flavor: str | None = None
    config: dict[str, Any] | None = None


class UpdateDeployment(Request):
    name: RequiredStr
    model_uri: str | None = None
    flavor: str | None = None
    config: dict[str, Any] | None = None


class GetDeployment(Request):
    name: RequiredStr


class ListDeployments(Request):
    max_results: Int64 = 100
    page_token: str | None = None


class DeploymentHistory(Request):
    name: RequiredStr
    max_results: Int64 = 100


# ---------------------------------------------------------------- MLflow 3 issues


class CreateIssue(Request):
    # in the reference's check order: a request missing several names the first of these
    name: RequiredStr
    description: RequiredStr
    experiment_id: RequiredStr
    status: str | None = None
    severity: str | None = None
    root_causes: list[str] = Field(default_factory=list)
    source_run_id: str | None = None
    categories: list[str] = Field(default_factory=list)
    created_by: str | None = None


class UpdateIssue(Request):
    # the reference requires the id in the body too (and then uses the one in the path)
    issue_id: RequiredStr
    status: str | None = None
    name: str | None = None
    description: str | None = None
    severity: str | None = None


class SearchIssues(Request):
    experiment_id: str | None = None
    filter_string: str | None = None
    max_results: Int64 | None = None
    page_token: str | None = None
    include_trace_count: bool = False


# ---------------------------------------------------------------- MLflow 3 registered scorers


class RegisterScorer(Request):
    experiment_id: RequiredStr
    name: RequiredStr
    serialized_scorer: RequiredStr


class ListScorers(Request):
    # whether experiment_ids was sent at all matters (an empty list lists nothing): see model_fields_set
    experiment_id: str | None = None
    experiment_ids: list[str] = Field(default_factory=list)


class ListScorerVersions(Request):
    experiment_id: RequiredStr
    name: RequiredStr


class GetScorer(Request):
    experiment_id: RequiredStr
    name: RequiredStr
    version: Int64 | None = None


class DeleteScorer(GetScorer):
    pass


class UpsertOnlineScoringConfig(Request):
    """No proto message: the reference reads the JSON and converts ``sample_rate`` with ``float()``."""

    experiment_id: RequiredStr
    name: RequiredStr
    sample_rate: Annotated[float, Required]
    filter_string: Any = None  # the service checks its type, with the reference's own message


class GetOnlineScoringConfigs(Request):
    scorer_ids: Annotated[list[str], Required]


# ---------------------------------------------------------------- MLflow 3 traces and evaluation datasets (reads)


def _strings(value: Any) -> Any:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError("not a list of strings")
    return value


StringList = Annotated[list[str], BeforeValidator(_strings)]
"""A repeated string field the reference checks with ``_assert_item_type_string``: one item of another type makes
the whole list the invalid value."""


def _proto2_enum(*names: str) -> BeforeValidator:
    """A proto2 enum field: as :func:`_proto_enum`, but an unknown value reads as the first one (proto2's default)."""
    read = _proto_enum(*names).func
    return BeforeValidator(lambda value: read(value) or names[0])


MAX_TRACES_PER_PAGE = 500
"""The reference's request-schema bound on a trace search's ``max_results``."""


class MlflowExperimentLocation(Request):
    experiment_id: str = ""


class TraceLocation(Request):
    mlflow_experiment: MlflowExperimentLocation | None = None


class SearchTracesV3(Request):
    locations: Annotated[list[TraceLocation], Required]
    filter: str | None = None
    max_results: Annotated[Int64, Field(le=MAX_TRACES_PER_PAGE)] = 100
    order_by: StringList = Field(default_factory=list)
    page_token: str | None = None

    def experiment_ids(self) -> list[str]:
        """The experiments searched: the locations that name one (others, such as Unity Catalog tables, are not)."""
        return [location.mlflow_experiment.experiment_id for location in self.locations if location.mlflow_experiment]


class TraceLocationV3(Request):
    type: str | None = None
    mlflow_experiment: Annotated[MlflowExperimentLocation, Required]


class TraceInfoV3(Request):
    """The ``TraceInfoV3`` a ``StartTraceV3`` carries; times are proto JSON Timestamp/Duration strings."""

    trace_id: str = ""
    client_request_id: str | None = None
    trace_location: Annotated[TraceLocationV3, Required]
    request_preview: str | None = None
    response_preview: str | None = None
    request_time: str | None = None
    execution_duration: str | None = None
    state: Annotated[str | None, _proto_enum("OK", "ERROR", "IN_PROGRESS")] = None
    trace_metadata: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    assessments: list[dict[str, Any]] = Field(default_factory=list)


class TraceV3(Request):
    trace_info: Annotated[TraceInfoV3, Required]


class StartTraceV3(Request):
    trace: Annotated[TraceV3, Required]


class GetTrace(Request):
    trace_id: RequiredStr
    allow_partial: bool = False


class BatchGetTraces(Request):
    trace_ids: Annotated[StringList, Required]
    experiment_ids: StringList = Field(default_factory=list)


class BatchGetTraceInfos(Request):
    trace_ids: Annotated[StringList, Required]
    experiment_ids: StringList = Field(default_factory=list)


class SearchTraces(Request):
    """The legacy listing, ``GET /api/2.0/mlflow/traces``."""

    experiment_ids: Annotated[StringList, Required]
    filter: str | None = None
    max_results: Annotated[Int64, Field(le=MAX_TRACES_PER_PAGE)] = 100
    order_by: StringList = Field(default_factory=list)
    page_token: str | None = None


class MetricAggregation(Request):
    aggregation_type: Annotated[str, _proto2_enum(*AGGREGATION_TYPES)] = AGGREGATION_TYPES[0]
    percentile_value: float | None = None


class QueryTraceMetrics(Request):
    # in the reference's check order
    experiment_ids: Annotated[StringList, Required]
    view_type: Annotated[str, _proto2_enum(*VIEW_TYPES), Required]
    metric_name: RequiredStr
    aggregations: Annotated[list[MetricAggregation], Required]
    dimensions: StringList = Field(default_factory=list)
    filters: StringList = Field(default_factory=list)
    time_interval_seconds: Int64 | None = None
    start_time_ms: Int64 | None = None
    end_time_ms: Int64 | None = None
    max_results: Int64 = METRICS_DEFAULT_MAX_RESULTS
    page_token: str | None = None


class SearchEvaluationDatasets(Request):
    experiment_ids: StringList = Field(default_factory=list)
    filter_string: str | None = None
    max_results: Int64 = 1000
    order_by: list[str] = Field(default_factory=list)
    page_token: str | None = None


class CreateDataset(Request):
    name: RequiredStr
    experiment_ids: StringList = Field(default_factory=list)
    tags: str | None = None  # a JSON object in a string


class SetDatasetTags(Request):
    tags: RequiredStr  # a JSON object in a string


class UpsertDatasetRecords(Request):
    records: RequiredStr  # a JSON list of records in a string


class GetDatasetRecords(Request):
    max_results: Int64 | None = None
    page_token: str | None = None


class DeleteDatasetRecords(Request):
    dataset_record_ids: StringList = Field(default_factory=list)


class DatasetExperiments(Request):
    """``AddDatasetToExperiments`` and ``RemoveDatasetFromExperiments``."""

    experiment_ids: StringList = Field(default_factory=list)


# --------------------------------------------------------------------------- trace writes (assessments, tags, ...)


class CreateAssessment(Request):
    """``POST /traces/<trace_id>/assessments``: the Assessment is kept as its proto JSON (the service reads it)."""

    assessment: Annotated[dict[str, Any], Required]


class UpdateAssessment(Request):
    """``PATCH …/assessments/<id>``. ``update_mask`` is a FieldMask, whose proto JSON is a comma-separated string;
    another JSON shape (``{"paths": [...]}``) changes nothing, as in the reference."""

    assessment: dict[str, Any] = Field(default_factory=dict)
    update_mask: Annotated[Any, Required]


class SetTraceTag(Request):
    key: RequiredStr
    value: str = ""


class DeleteTraceTag(Request):
    key: RequiredStr


class DeleteTraces(Request):
    experiment_id: RequiredStr
    max_timestamp_millis: Int64 | None = None
    max_traces: Int64 | None = None
    request_ids: StringList = Field(default_factory=list)


class LinkTracesToRun(Request):
    trace_ids: Annotated[StringList, Required]
    run_id: RequiredStr
