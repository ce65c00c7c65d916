"""MLflow 3's trace reads and evaluation dataset searches: what the web UI's GenAI pages (the Overview's charts, the
Traces tab, Datasets) and ``mlflow.search_traces`` ask. Stratus stores no traces or datasets yet (issue 15), so these
find none, after the reference's checks; the writes (StartTraceV3, ``/v1/traces``, dataset creation) are not served.

* ``build``: ``traces/search`` and ``traces/metrics`` (API 3.0);
* ``build_legacy``: the legacy listing, ``GET /traces`` (API 2.0);
* ``build_datasets``: ``datasets/search``, GET or POST (API 3.0).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from stratus.api import schemas, serialize
from stratus.api.request import parse
from stratus.domain.services.traces import EvaluationDatasetService, TraceService
from stratus.domain.traces import Aggregation, TraceMetricsQuery


def build(service: TraceService) -> Router:
    router = Router()

    @router.post("/traces/search")
    def search_traces() -> dict[str, Any]:
        req = parse(router, schemas.SearchTracesV3)
        found = service.search(req.experiment_ids(), req.max_results, req.page_token)
        return serialize.page("traces", list(found), None)

    @router.post("/traces/metrics")
    def query_trace_metrics() -> dict[str, Any]:
        points = service.query_metrics(metrics_query(parse(router, schemas.QueryTraceMetrics)))
        return {"data_points": [serialize.metric_data_point(p) for p in points]} if points else {}

    return router


def build_legacy(service: TraceService) -> Router:
    router = Router()

    @router.get("/traces")
    def search_traces_v2() -> dict[str, Any]:
        req = parse(router, schemas.SearchTraces)
        found = service.search(req.experiment_ids, req.max_results, req.page_token)
        return serialize.page("traces", list(found), None)

    return router


def build_datasets(service: EvaluationDatasetService) -> Router:
    router = Router()

    @router.route("/datasets/search", method=["GET", "POST"])
    def search_evaluation_datasets() -> dict[str, Any]:
        req = parse(router, schemas.SearchEvaluationDatasets)
        return serialize.page("datasets", list(service.search(req.max_results, req.page_token)), None)

    return router


def metrics_query(req: schemas.QueryTraceMetrics) -> TraceMetricsQuery:
    """The request as the domain's query (a percentile's value is checked here, as the reference reads it)."""
    return TraceMetricsQuery(
        experiment_ids=tuple(req.experiment_ids),
        view_type=req.view_type,
        metric_name=req.metric_name,
        aggregations=tuple(Aggregation(a.aggregation_type, a.percentile_value) for a in req.aggregations),
        dimensions=tuple(req.dimensions),
        filters=tuple(req.filters),
        time_interval_seconds=req.time_interval_seconds,
        start_time_ms=req.start_time_ms,
        end_time_ms=req.end_time_ms,
        max_results=req.max_results,
    )
