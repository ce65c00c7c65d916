"""``/metrics/*``: metric history, paged, the sampled bulk history the UI's charts use and its older bulk route."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from stratus.api import schemas, serialize
from stratus.api.request import parse
from stratus.domain.services import RunService


def build(service: RunService) -> Router:
    router = Router()

    @router.get("/metrics/get-history")
    def get_history() -> dict[str, Any]:
        req = parse(router, schemas.GetMetricHistory)
        history, token = service.get_metric_history(req.run_id, req.metric_key, req.max_results, req.page_token)
        return serialize.page("metrics", [serialize.metric(m) for m in history], token)

    @router.get("/metrics/get-history-bulk-interval")
    def get_history_bulk_interval() -> dict[str, Any]:
        req = parse(router, schemas.GetMetricHistoryBulkInterval)
        sampled = service.get_metric_history_bulk_interval(
            req.run_ids, req.metric_key, req.max_results, req.start_step, req.end_step
        )
        return serialize.page("metrics", [serialize.metric(s.metric, s.run_id) for s in sampled], None)

    return router


def build_ui(service: RunService) -> Router:
    """Routes the reference serves under ``/ajax-api/2.0/mlflow`` only."""
    router = Router()

    @router.get("/metrics/get-history-bulk")
    def get_history_bulk() -> dict[str, Any]:
        req = parse(router, schemas.GetMetricHistoryBulk)
        found = service.get_metric_history_bulk(req.run_id, req.metric_key, req.max_results)
        return {"metrics": [serialize.metric(m.metric, m.run_id) for m in found]}

    return router
