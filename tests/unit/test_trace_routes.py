"""The TracesFunction's trace routes in-process over in-memory stores: OTLP's FastAPI-style answers (the empty
protobuf 200, ``{"detail": ...}`` errors, the 422 for a missing experiment header), StartTraceV3's answer, the reads'
JSON shapes and words, and static paths winning over ``/traces/<trace_id>``."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from stratus.api.app import build_traces_api
from stratus.domain.services.assessments import TraceWriteService
from stratus.domain.services.datasets import EvaluationDatasetService
from stratus.domain.services.experiments import ExperimentService
from stratus.domain.services.trace_search import TraceSearchService
from stratus.domain.services.traces import TraceService
from stratus.store.memory import InMemoryDatasetStore, InMemorySpanStore, InMemoryTraceStore, InMemoryTrackingStore

TRACE = bytes.fromhex("8a045183c7674eea066d59898268ee2a")
TRACE_ID = "tr-" + TRACE.hex()


@pytest.fixture
def api() -> Any:
    experiments = ExperimentService(InMemoryTrackingStore(), "mlflow-artifacts:")
    experiments.ensure_default_experiment()
    traces, spans = InMemoryTraceStore(), InMemorySpanStore()
    return build_traces_api(
        TraceService(traces, spans, experiments),
        TraceSearchService(traces, spans),
        TraceWriteService(traces, spans),
        EvaluationDatasetService(
            InMemoryDatasetStore(), ExperimentService(InMemoryTrackingStore(), "mlflow-artifacts:")
        ),
    )


def _call(
    api: Any, method: str, path: str, body: bytes | dict | None = None, query: str = "", **headers: str
) -> tuple[int, dict[str, str], Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
    event = {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": query,
        "queryStringParameters": dict(p.split("=", 1) for p in query.split("&")) if query else None,
        "headers": {"content-type": "application/json", **{k.replace("_", "-"): v for k, v in headers.items()}},
        "requestContext": {"http": {"method": method, "path": path}, "stage": "$default"},
        "body": base64.b64encode(raw).decode(),
        "isBase64Encoded": True,
    }
    answer = api.resolve(event, None)
    text = base64.b64decode(answer["body"]) if answer.get("isBase64Encoded") else (answer.get("body") or "")
    try:
        parsed: Any = json.loads(text) if text else text
    except ValueError:
        parsed = text
    return answer["statusCode"], {k.lower(): v for k, v in (answer.get("headers") or {}).items()}, parsed


def _otlp_body() -> bytes:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.CopyFrom(
        Span(
            trace_id=TRACE,
            span_id=bytes.fromhex("c1d18e732cb7ab5f"),
            name="root",
            start_time_unix_nano=1_796_654_472_056_000_000,
            end_time_unix_nano=1_796_654_472_103_000_000,
            status=Status(code=Status.STATUS_CODE_OK),
        )
    )
    return request.SerializeToString()


def test_otlp_answers_an_empty_protobuf_and_the_trace_reads_back(api: Any) -> None:
    status, headers, body = _call(
        api, "POST", "/v1/traces", _otlp_body(), content_type="application/x-protobuf", x_mlflow_experiment_id="0"
    )
    assert (status, headers["content-type"], body) == (200, "application/x-protobuf", b"")

    status, _, info = _call(api, "GET", f"/ajax-api/3.0/mlflow/traces/{TRACE_ID}")
    assert status == 200
    assert info["trace"]["trace_info"]["state"] == "OK"
    assert info["trace"]["trace_info"]["request_time"] == "2026-12-07T14:41:12.056Z"
    assert info["trace"]["trace_info"]["execution_duration"] == "0.047s"

    status, _, trace = _call(api, "GET", "/api/3.0/mlflow/traces/get", query=f"trace_id={TRACE_ID}&allow_partial=False")
    assert status == 200
    assert trace["trace"]["spans"][0]["span_id"] == "wdGOcyy3q18="
    assert trace["trace"]["spans"][0]["start_time_unix_nano"] == 1_796_654_472_056_000_000

    status, headers, artifact = _call(
        api, "GET", "/ajax-api/3.0/mlflow/get-trace-artifact", query=f"request_id={TRACE_ID}"
    )
    assert (status, headers["content-type"]) == (200, "text/plain")
    assert headers["content-disposition"] == "attachment; filename=traces.json"
    assert [s["name"] for s in artifact["spans"]] == ["root"]

    status, _, legacy = _call(api, "GET", f"/api/2.0/mlflow/traces/{TRACE_ID}/info")
    assert (status, legacy["trace_info"]["request_id"], legacy["trace_info"]["status"]) == (200, TRACE_ID, "OK")


def test_otlp_without_the_experiment_header_is_a_422_in_fastapis_words(api: Any) -> None:
    status, _, body = _call(api, "POST", "/v1/traces", _otlp_body(), content_type="application/x-protobuf")

    assert status == 422
    assert body == {
        "detail": [
            {"type": "missing", "loc": ["header", "x-mlflow-experiment-id"], "msg": "Field required", "input": None}
        ]
    }


def test_otlp_errors_are_fastapi_details_or_mlflow_errors(api: Any) -> None:
    assert _call(api, "POST", "/v1/traces", b"x", content_type="text/plain", x_mlflow_experiment_id="0")[::2] == (
        400,
        {"detail": "Invalid Content-Type: text/plain. Expected: application/x-protobuf or application/json"},
    )
    status, _, body = _call(
        api, "POST", "/v1/traces", _otlp_body(), content_type="application/x-protobuf", x_mlflow_experiment_id="999"
    )
    assert (status, body["error_code"], body["message"]) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "No Experiment with id=999 exists",
    )


def test_start_trace_answers_the_stored_info_with_the_spans_location(api: Any) -> None:
    info = {
        "trace_id": TRACE_ID,
        "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": "0"}},
        "request_time": "2026-12-07T14:41:12.056Z",
        "execution_duration": "0.047s",
        "state": "OK",
        "trace_metadata": {"mlflow.user": "root"},
        "tags": {"mlflow.traceName": "agent"},
        "request_preview": '{"q": 1}',
    }
    status, _, body = _call(api, "POST", "/api/3.0/mlflow/traces", {"trace": {"trace_info": info}})

    assert status == 200
    stored = body["trace"]["trace_info"]
    assert stored["tags"] == {
        "mlflow.traceName": "agent",
        "mlflow.artifactLocation": f"mlflow-artifacts:/0/traces/{TRACE_ID}/artifacts",
        "mlflow.trace.spansLocation": "TRACKING_STORE",
    }
    assert stored["trace_metadata"] == {"mlflow.user": "root", "mlflow.trace.infoFinalized": "true"}
    assert (stored["request_time"], stored["execution_duration"], stored["state"]) == (
        "2026-12-07T14:41:12.056Z",
        "0.047s",
        "OK",
    )


def test_start_trace_without_a_trace_is_missing_a_parameter(api: Any) -> None:
    status, _, body = _call(api, "POST", "/api/3.0/mlflow/traces", {})
    assert status == 400
    assert body["message"].startswith("Missing value for required parameter 'trace'")


def test_a_get_on_a_post_only_static_path_reads_it_as_a_trace_id(api: Any) -> None:
    status, _, body = _call(api, "GET", "/api/3.0/mlflow/traces/search")
    assert (status, body["message"]) == (404, "Trace with ID 'search' not found.")


def test_unknown_traces_in_the_reads(api: Any) -> None:
    assert _call(api, "GET", "/api/3.0/mlflow/traces/get", query="trace_id=tr-0")[::2] == (
        404,
        {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Trace with ID tr-0 is not found."},
    )
    assert _call(api, "GET", "/api/3.0/mlflow/traces/batchGet", query="trace_ids=tr-0&trace_ids=tr-1")[::2] == (200, {})
    assert _call(api, "POST", "/api/3.0/mlflow/traces/batchGetInfos", {"trace_ids": []})[::2] == (200, {})
    status, _, body = _call(api, "GET", "/ajax-api/3.0/mlflow/get-trace-artifact")
    assert (status, body["error_code"], body["message"]) == (
        400,
        "BAD_REQUEST",
        'Request must include the "request_id" query parameter.',
    )
