"""MLflow 3's GenAI traces: ingest and reads of one or a few traces, the metrics the web UI's Overview asks. Search,
tags, assessments, deletion and run links are ``routes.trace_search`` and ``routes.assessments``.

* ``build``: ``traces/metrics`` (API 3.0);
* ``build_v3``: StartTraceV3, GetTraceInfoV3, GetTrace, BatchGetTraces, BatchGetTraceInfos (API 3.0);
* ``build_legacy``: the v2 ``GET /traces/<id>/info`` (API 2.0);
* ``build_artifact``: ``get-trace-artifact`` (ajax-api 2.0 and 3.0 only), the spans the UI's trace view renders;
* ``build_otlp``: ``POST /v1/traces``, OTLP span export (FastAPI-style errors, as the reference's).

Evaluation datasets are ``routes.datasets``.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from stratus.api import schemas, serialize
from stratus.api.request import parse
from stratus.domain import otlp
from stratus.domain.services.traces import TraceAnswer, TraceService
from stratus.domain.trace_records import StartInfo, TraceRecord, legacy_info_json, parse_duration, parse_timestamp
from stratus.domain.traces import Aggregation, TraceMetricsQuery
from stratus.errors import BadRequest, InvalidParameterValue, StratusError
from stratus.observability import get_logger


def build(service: TraceService) -> Router:
    router = Router()

    @router.post("/traces/metrics")
    def query_trace_metrics() -> dict[str, Any]:
        points = service.query_metrics(metrics_query(parse(router, schemas.QueryTraceMetrics)))
        return {"data_points": [serialize.metric_data_point(p) for p in points]} if points else {}

    return router


def build_v3(service: TraceService) -> Router:
    router = Router()

    @router.post("/traces")
    def start_trace() -> dict[str, Any]:
        record = service.start_trace(start_info(parse(router, schemas.StartTraceV3)))
        return {"trace": {"trace_info": record.info_json()}}

    @router.get("/traces/get")
    def get_trace() -> Response:
        req = parse(router, schemas.GetTrace)
        return answered(service.get_trace_answer(req.trace_id, allow_partial=req.allow_partial, render=render_trace))

    @router.get("/traces/batchGet")
    def batch_get_traces() -> Response:
        req = parse(router, schemas.BatchGetTraces)
        return answered(service.batch_get_answer(req.trace_ids, req.experiment_ids, render_traces))

    @router.post("/traces/batchGetInfos")
    def batch_get_trace_infos() -> dict[str, Any]:
        req = parse(router, schemas.BatchGetTraceInfos)
        infos = service.batch_get_infos(req.trace_ids, req.experiment_ids)
        return serialize.page("trace_infos", [r.info_json() for r in infos], None)

    @router.get("/traces/<trace_id>")
    def get_trace_info(trace_id: str) -> dict[str, Any]:
        return {"trace": {"trace_info": service.get_info(trace_id).info_json()}}

    return router


def build_artifact(service: TraceService) -> Router:
    router = Router()

    @router.get("/get-trace-artifact")
    def get_trace_artifact() -> Response:
        request_id = (router.current_event.query_string_parameters or {}).get("request_id")
        if not request_id:
            raise BadRequest('Request must include the "request_id" query parameter.')
        headers = {"Content-Disposition": "attachment; filename=traces.json", "X-Content-Type-Options": "nosniff"}
        return answered(service.trace_artifact_answer(request_id), "text/plain", headers)

    return router


def build_otlp(service: TraceService) -> Router:
    router = Router()

    @router.post("/v1/traces")
    def export_traces() -> Response:
        event = router.current_event
        headers = {k.lower(): v for k, v in (event.headers or {}).items()}
        experiment_id = headers.get("x-mlflow-experiment-id")
        if experiment_id is None:
            missing = {"type": "missing", "loc": ["header", "x-mlflow-experiment-id"], "msg": "Field required"}
            return otlp_error(422, [{**missing, "input": None}])
        raw = event.get("body") or ""
        body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode()
        try:
            batch = otlp.decode_request(body, headers.get("content-type"), headers.get("content-encoding"))
            service.log_spans(experiment_id, batch, run_id=headers.get("x-mlflow-run-id") or None)
        except otlp.OtlpRejected as rejected:
            return otlp_error(rejected.status, rejected.detail)
        except StratusError:
            raise
        except Exception:  # the reference answers any other store failure so
            get_logger().exception("OTLP spans not stored", experiment_id=experiment_id)
            return otlp_error(422, "Failed to log OpenTelemetry spans")
        return Response(status_code=200, content_type=otlp.PROTOBUF, body=b"")

    return router


def answered(answer: TraceAnswer, content_type: str = "application/json", headers: dict | None = None) -> Response:
    """The answer's body, or a 307 to where it is stored when too large for a Lambda response (the client's
    ``requests`` and the web UI's ``fetch`` follow it; docs/decisions.md, "GenAI tracing")."""
    if answer.url is not None:
        return Response(status_code=307, headers={"Location": answer.url}, body="")
    body = (answer.body or b"").decode()  # text, not bytes: bytes would go base64-encoded, a third larger
    return Response(status_code=200, content_type=content_type, body=body, headers=headers)


def render_trace(traces: list[tuple[TraceRecord, list[dict]]]) -> bytes:
    """GetTrace's body (one trace)."""
    ((record, spans),) = traces
    return json.dumps({"trace": trace_json(record, spans)}).encode()


def render_traces(traces: list[tuple[TraceRecord, list[dict]]]) -> bytes:
    """BatchGetTraces's body."""
    return json.dumps(serialize.page("traces", [trace_json(record, spans) for record, spans in traces], None)).encode()


def otlp_error(status: int, detail: Any) -> Response:
    return Response(status_code=status, content_type="application/json", body=json.dumps({"detail": detail}))


def build_legacy(service: TraceService) -> Router:
    router = Router()

    @router.get("/traces/<trace_id>/info")
    def get_trace_info_v2(trace_id: str) -> dict[str, Any]:
        return {"trace_info": legacy_info_json(service.legacy_info(trace_id))}

    return router


def start_info(req: schemas.StartTraceV3) -> StartInfo:
    """The request's ``TraceInfoV3`` as the domain reads it; a time that does not parse is refused (the reference
    stores 1970 and no state)."""
    info = req.trace.trace_info
    try:
        request_time = parse_timestamp(info.request_time) if info.request_time else 0
        duration = parse_duration(info.execution_duration) if info.execution_duration else None
    except ValueError as error:
        raise InvalidParameterValue(f"Invalid trace time: {error}") from error
    return StartInfo(
        trace_id=info.trace_id,
        experiment_id=info.trace_location.mlflow_experiment.experiment_id,
        request_time=request_time,
        execution_duration=duration,
        state=info.state or "STATE_UNSPECIFIED",
        client_request_id=info.client_request_id,
        request_preview=info.request_preview,
        response_preview=info.response_preview,
        trace_metadata=dict(info.trace_metadata),
        tags=dict(info.tags),
        assessments=list(info.assessments),
    )


def trace_json(record: TraceRecord, spans: list[dict]) -> dict[str, Any]:
    """A ``Trace`` as GetTrace and batchGet answer it: the info, and the spans in the OTel proto form."""
    out: dict[str, Any] = {"trace_info": record.info_json()}
    if spans:
        out["spans"] = [otlp.span_to_proto_json(span) for span in spans]
    return out


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
