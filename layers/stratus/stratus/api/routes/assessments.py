"""The writes on stored GenAI traces: assessments, trace tags, deleting traces, linking traces to a run.

``build`` holds the API 3.0 routes (assessments, v3 tags, delete-traces) and ``build_legacy`` the API 2.0 ones
(v2 tags, delete-traces, link-to-run): include each under its version's prefixes.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler.api_gateway import Router

from stratus.api import schemas
from stratus.api.request import parse
from stratus.domain.services.assessments import TraceWriteService
from stratus.errors import InvalidParameterValue


def build(service: TraceWriteService) -> Router:
    router = Router()

    @router.post("/traces/<trace_id>/assessments")
    def create_assessment(trace_id: str) -> dict[str, Any]:
        req = parse(router, schemas.CreateAssessment)
        return {"assessment": service.create_assessment(trace_id, req.assessment)}

    @router.get("/traces/<trace_id>/assessments/<assessment_id>")
    def get_assessment(trace_id: str, assessment_id: str) -> dict[str, Any]:
        return {"assessment": service.get_assessment(trace_id, assessment_id)}

    @router.patch("/traces/<trace_id>/assessments/<assessment_id>")
    def update_assessment(trace_id: str, assessment_id: str) -> dict[str, Any]:
        req = parse(router, schemas.UpdateAssessment)
        mask = req.update_mask if isinstance(req.update_mask, str) else ""
        return {"assessment": service.update_assessment(trace_id, assessment_id, req.assessment, mask)}

    @router.delete("/traces/<trace_id>/assessments/<assessment_id>")
    def delete_assessment(trace_id: str, assessment_id: str) -> dict[str, Any]:
        service.delete_assessment(trace_id, assessment_id)
        return {}

    _add_common(router, service)
    return router


def build_legacy(service: TraceWriteService) -> Router:
    router = Router()

    @router.post("/traces/link-to-run")
    def link_traces_to_run() -> dict[str, Any]:
        req = parse(router, schemas.LinkTracesToRun)
        service.link_to_run(req.run_id, req.trace_ids)
        return {}

    _add_common(router, service)
    return router


def _add_common(router: Router, service: TraceWriteService) -> None:
    """Routes both API versions serve: tags (SetTraceTag / SetTraceTagV3, ...) and delete-traces."""

    @router.patch("/traces/<trace_id>/tags")
    def set_trace_tag(trace_id: str) -> dict[str, Any]:
        req = parse(router, schemas.SetTraceTag)
        service.set_tag(trace_id, req.key, req.value)
        return {}

    @router.delete("/traces/<trace_id>/tags")
    def delete_trace_tag(trace_id: str) -> dict[str, Any]:
        service.delete_tag(trace_id, _tag_key(router))
        return {}

    @router.post("/traces/delete-traces")
    def delete_traces() -> dict[str, Any]:
        req = parse(router, schemas.DeleteTraces)
        deleted = service.delete_traces(
            req.experiment_id,
            max_timestamp_millis=req.max_timestamp_millis,
            max_traces=req.max_traces,
            trace_ids=req.request_ids,
        )
        return {"traces_deleted": deleted}


def _tag_key(router: Router) -> str:
    """The body's ``key``; else, as an extension, the query string's (the 3.17.2 UI's v3 tag delete sends it
    there, which the reference refuses as a missing key)."""
    try:
        return parse(router, schemas.DeleteTraceTag).key
    except InvalidParameterValue:
        keys = parse_qs(router.current_event.get("rawQueryString") or "").get("key")
        if keys and keys[-1]:
            return keys[-1]
        raise
