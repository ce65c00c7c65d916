"""GenAI trace search: ``traces/search`` (API 3.0, ``build``) and the legacy listing ``GET /traces`` (API 2.0,
``build_legacy``). Include ``build`` under the 3.0 prefixes and ``build_legacy`` under the 2.0 ones."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from stratus.api import schemas, serialize
from stratus.api.request import parse
from stratus.domain.services.trace_search import TraceSearchService
from stratus.domain.trace_records import legacy_info_json


def build(service: TraceSearchService) -> Router:
    router = Router()

    @router.post("/traces/search")
    def search_traces() -> dict[str, Any]:
        req = parse(router, schemas.SearchTracesV3)
        found, token = service.search(req.experiment_ids(), req.filter, req.max_results, req.order_by, req.page_token)
        return serialize.page("traces", [record.info_json() for record in found], token)

    return router


def build_legacy(service: TraceSearchService) -> Router:
    router = Router()

    @router.get("/traces")
    def search_traces_v2() -> dict[str, Any]:
        req = parse(router, schemas.SearchTraces)
        found, token = service.search(req.experiment_ids, req.filter, req.max_results, req.order_by, req.page_token)
        return serialize.page("traces", [legacy_info_json(record) for record in found], token)

    return router
