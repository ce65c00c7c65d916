"""``POST /graphql``: the queries MLflow's web UI sends (``MlflowGetExperimentQuery``, ``GetRun``, ``SearchRuns``,
``GetMetricHistoryBulkInterval``) and the rest of the reference's data fields (``mlflowListArtifacts``; the
mutations ``mlflowSearchRuns`` and ``mlflowSearchDatasets``), executed with graphql-core against Stratus's services.

The schema below declares the part of the reference's schema (``mlflow/server/graphql``) those fields reach, with
the reference's type names (the UI names input types in its variables and reads ``__typename``); anything else is
answered as the reference answers an invalid query: ``200 {"data": null, "errors": ["Cannot query field ..."]}``.
Not declared: the reference's echo fields ``test`` and ``testMutation``, and ``mlflowSearchModelVersions``.
Field values are the REST serialisations of :mod:`stratus.api.serialize`; a field ``fooBar`` reads key ``foo_bar``.
graphql-core is imported here only, and this module only by the ``/graphql`` route.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from stratus.api import serialize
from stratus.domain.entities import Run
from stratus.domain.services import ExperimentService, RegistryService, RunService
from stratus.domain.services.artifact_files import ArtifactFileService
from stratus.errors import ResourceDoesNotExist, StratusError

BULK_INTERVAL_MAX_RESULTS = 2500
"""What the reference samples to over GraphQL: its handler reads max_results (and the step range) from the HTTP query
string, which a GraphQL POST does not have, so the UI's ``maxResults``/``startStep``/``endStep`` are ignored there."""
SEARCH_RUNS_MAX_RESULTS = 1000
"""SearchRuns' proto default."""

SCHEMA_SDL = """
directive @component(name: String!) on QUERY | MUTATION

scalar LongString

type Query {
  mlflowGetExperiment(input: MlflowGetExperimentInput): MlflowGetExperimentResponse
  mlflowGetMetricHistoryBulkInterval(input: MlflowGetMetricHistoryBulkIntervalInput):
    MlflowGetMetricHistoryBulkIntervalResponse
  mlflowGetRun(input: MlflowGetRunInput): MlflowGetRunResponse
  mlflowListArtifacts(input: MlflowListArtifactsInput): MlflowListArtifactsResponse
  mlflowSearchRuns(input: MlflowSearchRunsInput): MlflowSearchRunsResponse
}

type Mutation {
  mlflowSearchDatasets(input: MlflowSearchDatasetsInput): MlflowSearchDatasetsResponse
  mlflowSearchRuns(input: MlflowSearchRunsInput): MlflowSearchRunsResponse
}

input MlflowGetExperimentInput { experimentId: String }
input MlflowGetRunInput { runId: String runUuid: String }
enum MlflowViewType { ACTIVE_ONLY DELETED_ONLY ALL }
input MlflowSearchRunsInput {
  experimentIds: [String] filter: String runViewType: MlflowViewType = null maxResults: Int orderBy: [String]
  pageToken: String
}
input MlflowGetMetricHistoryBulkIntervalInput {
  runIds: [String] metricKey: String startStep: Int endStep: Int maxResults: Int
}
input MlflowListArtifactsInput { runId: String runUuid: String path: String pageToken: String }
input MlflowSearchDatasetsInput { experimentIds: [String] }

type ErrorDetail { field: String message: String }
type ApiError { code: String message: String helpUrl: String traceId: String errorDetails: [ErrorDetail] }

type MlflowExperimentTag { key: String value: String }
type MlflowExperiment {
  experimentId: String name: String artifactLocation: String lifecycleStage: String lastUpdateTime: LongString
  creationTime: LongString tags: [MlflowExperimentTag!] effectiveTraceArchivalRetention: String workspace: String
}
type MlflowGetExperimentResponse { experiment: MlflowExperiment apiError: ApiError }

enum MlflowRunStatus { RUNNING SCHEDULED FINISHED FAILED KILLED }
type MlflowRunInfo {
  runId: String runUuid: String runName: String experimentId: String userId: String status: MlflowRunStatus
  startTime: LongString endTime: LongString artifactUri: String lifecycleStage: String
}
type MlflowMetricExtension {
  key: String value: Float timestamp: LongString step: LongString datasetName: String datasetDigest: String
  modelId: String runId: String
}
type MlflowParam { key: String value: String }
type MlflowRunTag { key: String value: String }
type MlflowRunData { metrics: [MlflowMetricExtension!] params: [MlflowParam!] tags: [MlflowRunTag!] }
type MlflowInputTag { key: String value: String }
type MlflowDataset {
  name: String digest: String sourceType: String source: String schema: String profile: String
}
type MlflowDatasetInput { tags: [MlflowInputTag!] dataset: MlflowDataset }
type MlflowModelInput { modelId: String }
type MlflowRunInputs { datasetInputs: [MlflowDatasetInput!] modelInputs: [MlflowModelInput!] }
type MlflowModelOutput { modelId: String step: LongString }
type MlflowRunOutputs { modelOutputs: [MlflowModelOutput!] }

enum MlflowModelVersionStatus { PENDING_REGISTRATION FAILED_REGISTRATION READY }
type MlflowModelVersionTag { key: String value: String }
type MlflowModelParam { name: String value: String }
type MlflowModelMetric {
  key: String value: Float timestamp: LongString step: LongString datasetName: String datasetDigest: String
  modelId: String runId: String
}
enum MlflowDeploymentJobConnectionState {
  DEPLOYMENT_JOB_CONNECTION_STATE_UNSPECIFIED NOT_SET_UP CONNECTED NOT_FOUND REQUIRED_PARAMETERS_CHANGED
}
enum MlflowModelVersionDeploymentJobStateDeploymentJobRunState {
  DEPLOYMENT_JOB_RUN_STATE_UNSPECIFIED NO_VALID_DEPLOYMENT_JOB_FOUND RUNNING SUCCEEDED FAILED PENDING APPROVAL
}
type MlflowModelVersionDeploymentJobState {
  jobId: String runId: String jobState: MlflowDeploymentJobConnectionState
  runState: MlflowModelVersionDeploymentJobStateDeploymentJobRunState currentTaskName: String
}
type MlflowModelVersion {
  name: String version: String creationTimestamp: LongString lastUpdatedTimestamp: LongString userId: String
  currentStage: String description: String source: String runId: String status: MlflowModelVersionStatus
  statusMessage: String tags: [MlflowModelVersionTag!] runLink: String aliases: [String] modelId: String
  modelParams: [MlflowModelParam!] modelMetrics: [MlflowModelMetric!]
  deploymentJobState: MlflowModelVersionDeploymentJobState
}

type MlflowRunExtension {
  info: MlflowRunInfo data: MlflowRunData inputs: MlflowRunInputs outputs: MlflowRunOutputs
  experiment: MlflowExperiment modelVersions: [MlflowModelVersion!]
}
type MlflowGetRunResponse { run: MlflowRunExtension apiError: ApiError }
type MlflowSearchRunsResponse { runs: [MlflowRunExtension!] nextPageToken: String apiError: ApiError }

type MlflowMetricWithRunId { key: String value: Float timestamp: LongString step: LongString runId: String }
type MlflowGetMetricHistoryBulkIntervalResponse { metrics: [MlflowMetricWithRunId!] apiError: ApiError }

type MlflowFileInfo { path: String isDir: Boolean fileSize: LongString }
type MlflowListArtifactsResponse {
  rootUri: String files: [MlflowFileInfo!] nextPageToken: String apiError: ApiError
}

type MlflowDatasetSummary { experimentId: String name: String digest: String context: String }
type MlflowSearchDatasetsResponse { datasetSummaries: [MlflowDatasetSummary!] apiError: ApiError }
"""

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


@dataclass
class GraphqlServices:
    """What the UI's reads need. ``registry`` is optional: without it runs list no model versions; without
    ``artifacts``, ``mlflowListArtifacts`` answers that artifacts are not served."""

    experiments: ExperimentService
    runs: RunService
    registry: RegistryService | None = None
    artifacts: ArtifactFileService | None = None


@dataclass
class _Request:
    """Per-request memo: one experiment read per id, one registry read per query (not one per run)."""

    services: GraphqlServices
    experiments: dict[str, dict[str, Any]] = field(default_factory=dict)
    run_ids: list[str] = field(default_factory=list)
    """The runs this query answers, known before any of their fields is resolved."""
    versions_by_run: dict[str, list[dict[str, Any]]] | None = None

    def experiment(self, experiment_id: str) -> dict[str, Any]:
        if experiment_id not in self.experiments:
            found = serialize.experiment(self.services.experiments.get(experiment_id))
            found.setdefault("workspace", "default")  # the reference's single workspace, without workspaces enabled
            self.experiments[experiment_id] = found
        return self.experiments[experiment_id]

    def model_versions(self, run_id: str) -> list[dict[str, Any]]:
        if self.versions_by_run is None:
            registry = self.services.registry
            found = registry.versions_of_runs(self.run_ids) if registry is not None else {}
            self.versions_by_run = {
                run: [serialize.model_version(version) for version in versions] for run, versions in found.items()
            }
        return self.versions_by_run.get(run_id, [])


def _metric_value(value: Any) -> float | None:
    """NaN is not a GraphQL Float: the reference answers null for it."""
    if isinstance(value, str):
        return {"Infinity": math.inf, "-Infinity": -math.inf}.get(value)
    return None if value is None or math.isnan(value) else float(value)


def _run(run: Run, request: _Request) -> dict[str, Any]:
    request.run_ids.append(run.info.run_id)
    out = serialize.run(run)
    for metric in out.get("data", {}).get("metrics", []):
        metric["value"] = _metric_value(metric.get("value"))
    experiment_id = run.info.experiment_id
    out["experiment"] = lambda info: request.experiment(experiment_id)
    out["model_versions"] = lambda info: request.model_versions(run.info.run_id)
    return out


# ---------------------------------------------------------------- resolvers of the Query and Mutation fields


def _get_experiment(request: _Request, data: dict[str, Any]) -> dict[str, Any]:
    return {"experiment": request.experiment(data.get("experimentId") or "")}


def _get_run(request: _Request, data: dict[str, Any]) -> dict[str, Any]:
    run_id = data.get("runId") or data.get("runUuid") or ""
    return {"run": _run(request.services.runs.get(run_id), request)}


def _search_runs(request: _Request, data: dict[str, Any]) -> dict[str, Any]:
    max_results = data.get("maxResults")
    found, token = request.services.runs.search(
        [str(i) for i in data.get("experimentIds") or []],
        data.get("filter"),
        data.get("runViewType") or "ACTIVE_ONLY",
        SEARCH_RUNS_MAX_RESULTS if max_results is None else max_results,
        [str(o) for o in data.get("orderBy") or []],
        data.get("pageToken"),
    )
    answer: dict[str, Any] = {"runs": [_run(r, request) for r in found]}
    if token:
        answer["next_page_token"] = token  # without one, the proto default "" (the reference answers no null)
    return answer


def _bulk_interval(request: _Request, data: dict[str, Any]) -> dict[str, Any]:
    sampled = request.services.runs.get_metric_history_bulk_interval(
        [str(r) for r in data.get("runIds") or []], data.get("metricKey") or "", BULK_INTERVAL_MAX_RESULTS, None, None
    )
    metrics = []
    for point in sampled:
        metric = serialize.metric(point.metric, point.run_id)
        metric["value"] = _metric_value(metric["value"])
        metrics.append(metric)
    return {"metrics": metrics}


def _list_artifacts(request: _Request, data: dict[str, Any]) -> dict[str, Any]:
    """The reference's ``list_artifacts_impl``: the run's root URI and the children of ``path`` (``pageToken`` is
    ignored there too)."""
    artifacts = request.services.artifacts
    if artifacts is None:
        raise ResourceDoesNotExist("Artifacts are not served here.")
    run_id = data.get("runId") or data.get("runUuid") or ""
    root_uri, entries = artifacts.list_run(run_id, data.get("path"))
    return {"root_uri": root_uri, "files": [serialize.file_info(e) for e in entries]}


def _search_datasets(request: _Request, data: dict[str, Any]) -> dict[str, Any]:
    summaries = request.services.runs.search_datasets([str(i) for i in data.get("experimentIds") or []])
    return {"dataset_summaries": [serialize.dataset_summary(s) for s in summaries]}


_ROOT_FIELDS: dict[str, Callable[[_Request, dict[str, Any]], dict[str, Any]]] = {
    "mlflowGetExperiment": _get_experiment,
    "mlflowGetRun": _get_run,
    "mlflowSearchRuns": _search_runs,  # a Query and a Mutation field in the reference, answered alike
    "mlflowGetMetricHistoryBulkInterval": _bulk_interval,
    "mlflowListArtifacts": _list_artifacts,
    "mlflowSearchDatasets": _search_datasets,
}


# ---------------------------------------------------------------- schema and execution


def _field_resolver(source: Any, info: Any, **args: Any) -> Any:
    """Root fields (of Query and Mutation) call the services; below them, ``fooBar`` reads ``source["foo_bar"]``
    (callables are called). A key the REST serialisation left out (proto JSON omits defaults) answers the proto
    default, as graphene does on the reference's protos: ``""``, ``0``, ``[]``, an empty message; a key present with
    ``None`` (a NaN) stays null."""
    name = info.field_name
    if source is None and name in _ROOT_FIELDS:
        return _ROOT_FIELDS[name](info.context, args.get("input") or {})
    if not isinstance(source, dict):
        return None
    key = _CAMEL.sub("_", name).lower()
    if key not in source and name not in source:
        return _proto_default(info.return_type)
    value = source[key] if key in source else source[name]
    return value(info) if callable(value) else value


def _proto_default(graphql_type: Any) -> Any:
    from graphql import GraphQLList, GraphQLObjectType, GraphQLScalarType, get_nullable_type

    nullable = get_nullable_type(graphql_type)
    if isinstance(nullable, GraphQLList):
        return []
    if isinstance(nullable, GraphQLObjectType):
        return None if nullable.name == "ApiError" else {}  # the reference's responses carry no api_error
    if isinstance(nullable, GraphQLScalarType):
        return _SCALAR_DEFAULTS.get(nullable.name)
    return None


_SCALAR_DEFAULTS: dict[str, Any] = {"String": "", "LongString": 0, "Float": 0.0, "Int": 0, "Boolean": False}


@cache
def _schema() -> Any:
    from graphql import build_schema

    schema = build_schema(SCHEMA_SDL)
    long_string = schema.type_map["LongString"]
    long_string.serialize = str  # type: ignore[attr-defined]  # int64 as text, beyond JavaScript's 2**53
    long_string.parse_value = int  # type: ignore[attr-defined]
    return schema


MAX_DEPTH = 10
MAX_SELECTIONS = 1000
MAX_ROOT_FIELDS = 10
MAX_ALIASES = 10
"""The reference's limits on one request (``graphql_no_batching.py``): one request cannot fan out into many reads."""


def _level(selection_set: Any, fragments: dict[str, Any]) -> tuple[list[Any], int]:
    """The fields of one selection level, through inline fragments and fragment spreads, and its alias count."""
    from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode

    fields: list[Any] = []
    aliases = 0
    pending = list(selection_set.selections)
    seen: set[str] = set()
    while pending:
        selection = pending.pop(0)
        if isinstance(selection, FieldNode):
            fields.append(selection)
            aliases += 1 if selection.alias else 0
        elif isinstance(selection, InlineFragmentNode):
            pending.extend(selection.selection_set.selections)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
            seen.add(selection.name.value)
            if fragment := fragments.get(selection.name.value):
                pending.extend(fragment.selection_set.selections)
    return fields, aliases


def exceeded_limit(document: Any) -> str | None:
    """Why ``document`` is refused before it runs (the reference's messages), or None."""
    from graphql import FragmentDefinitionNode, OperationDefinitionNode

    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    root_fields = max_aliases = total = 0
    for operation in (d for d in document.definitions if isinstance(d, OperationDefinitionNode)):
        stack = [(operation.selection_set, 1)]
        while stack:
            selection_set, depth = stack.pop()
            if depth > MAX_DEPTH:
                return f"Query exceeds maximum depth of {MAX_DEPTH}"
            fields, aliases = _level(selection_set, fragments)
            max_aliases = max(max_aliases, aliases)
            root_fields += len(fields) if depth == 1 else 0
            total += len(fields)
            if total > MAX_SELECTIONS:
                return f"Query exceeds maximum total selections of {MAX_SELECTIONS}"
            stack.extend((f.selection_set, depth + 1) for f in fields if f.selection_set)
    if root_fields > MAX_ROOT_FIELDS:
        return f"GraphQL queries should have at most {MAX_ROOT_FIELDS} root fields, got {root_fields} root fields."
    if max_aliases > MAX_ALIASES:
        return f"GraphQL queries should have at most {MAX_ALIASES} aliases, got {max_aliases} aliases."
    return None


def execute(services: GraphqlServices, query: Any, variables: Any = None, operation_name: Any = None) -> dict[str, Any]:
    """Run one GraphQL request; the answer in the reference's shape: ``{"data": ..., "errors": [str] | None}``.

    Domain errors inside a field become that field's ``null`` and an entry of ``errors`` (the message only), as in
    the reference; anything else is re-raised so the caller answers INTERNAL_ERROR. A syntax error, a query over the
    limits or one the schema does not validate is ``data: null`` with the reasons.
    """
    from graphql import GraphQLError, execute_sync, parse, validate

    if not isinstance(query, str):
        return {"data": None, "errors": ["Must provide query string."]}
    try:
        document = parse(query)
    except GraphQLError as error:
        return {"data": None, "errors": [error.message]}
    refused = exceeded_limit(document)
    invalid = [refused] if refused else [error.message for error in validate(_schema(), document)]
    if invalid:
        return {"data": None, "errors": invalid}
    result = execute_sync(
        _schema(),
        document,
        variable_values=variables if isinstance(variables, dict) else None,
        operation_name=operation_name if isinstance(operation_name, str) else None,
        context_value=_Request(services),
        field_resolver=_field_resolver,
    )
    errors = []
    for error in result.errors or []:
        original = error.original_error
        if original is not None and not isinstance(original, StratusError | GraphQLError):
            raise original
        errors.append(original.message if isinstance(original, StratusError) else error.message)
    return {"data": result.data, "errors": errors or None}
