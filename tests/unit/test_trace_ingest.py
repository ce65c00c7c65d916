"""Trace ingest against in-memory stores: OTLP decoding (protobuf, OTLP/JSON with hex ids, gzip and deflate, every
error of the reference's table), assembly of one trace from spans and StartTraceV3 in either order, retries,
previews and their truncation, and the two span forms the reads answer."""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from stratus.domain import otlp
from stratus.domain.services.experiments import ExperimentService
from stratus.domain.services.traces import TraceService
from stratus.domain.trace_records import StartInfo, TraceRecord, duration_json, preview, timestamp_json
from stratus.errors import InvalidParameterValue, ResourceDoesNotExist
from stratus.store.memory import InMemorySpanStore, InMemoryTraceStore, InMemoryTrackingStore

TRACE = bytes.fromhex("8a045183c7674eea066d59898268ee2a")
TRACE_ID = "tr-8a045183c7674eea066d59898268ee2a"
ROOT, CHILD = bytes.fromhex("c1d18e732cb7ab5f"), bytes.fromhex("2a2c9dc8038827bc")


def _value(value: Any) -> AnyValue:
    target = AnyValue()
    otlp.set_any_value(target, value)
    return target


def _span(span_id: bytes, parent: bytes | None, name: str, start_ms: int, end_ms: int, **attributes: Any) -> Span:
    span = Span(
        trace_id=TRACE,
        span_id=span_id,
        name=name,
        start_time_unix_nano=start_ms * 1_000_000,
        end_time_unix_nano=end_ms * 1_000_000,
        status=Status(code=Status.STATUS_CODE_OK),
    )
    if parent:
        span.parent_span_id = parent
    span.attributes.extend([KeyValue(key=k, value=_value(v)) for k, v in attributes.items()])
    return span


def _request(*spans: Span, resource: dict[str, Any] | None = None) -> bytes:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(
        [KeyValue(key=k, value=_value(v)) for k, v in (resource or {"telemetry.sdk.name": "mlflow"}).items()]
    )
    resource_spans.scope_spans.add().spans.extend(spans)
    return request.SerializeToString()


ROOT_SPAN = _span(
    ROOT,
    None,
    "agent",
    1_000,
    1_050,
    **{"mlflow.spanType": "AGENT", "mlflow.spanInputs": {"q": "hi"}, "mlflow.spanOutputs": "yes"},
)
CHILD_SPAN = _span(
    CHILD,
    ROOT,
    "llm",
    1_010,
    1_040,
    **{
        "mlflow.spanType": "LLM",
        "mlflow.chat.tokenUsage": {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15},
        "session.id": "s-1",
    },
)


@pytest.fixture
def service() -> TraceService:
    tracking = InMemoryTrackingStore()
    experiments = ExperimentService(tracking, "s3://bucket/mlartifacts")
    experiments.ensure_default_experiment()
    return TraceService(InMemoryTraceStore(), InMemorySpanStore(), experiments)


def _ingest(service: TraceService, body: bytes, experiment_id: str = "0") -> None:
    service.log_spans(experiment_id, otlp.decode_request(body, otlp.PROTOBUF, None))


def _start(request_time: int = 2_000) -> StartInfo:
    return StartInfo(
        trace_id=TRACE_ID,
        experiment_id="0",
        request_time=request_time,
        execution_duration=47,
        state="OK",
        trace_metadata={"mlflow.user": "root"},
        tags={"mlflow.traceName": "agent"},
    )


# ---- OTLP decoding ------------------------------------------------------------------------------------------------


def test_protobuf_spans_decode_to_the_traces_json_form() -> None:
    (group,) = otlp.decode_request(_request(ROOT_SPAN), "application/x-protobuf; charset=utf-8", None)

    (span,) = group.spans
    assert group.trace_id == TRACE_ID
    assert span["trace_id"] == "igRRg8dnTuoGbVmJgmjuKg=="
    assert span["parent_span_id"] is None
    assert span["attributes"]["mlflow.spanInputs"] == '{"q": "hi"}'
    assert span["attributes"]["mlflow.spanOutputs"] == '"yes"'
    assert span["attributes"]["mlflow.traceRequestId"] == f'"{TRACE_ID}"'
    assert span["status"] == {"code": "STATUS_CODE_OK", "message": ""}
    assert span["start_time_unix_nano"] == 1_000_000_000


def test_otlp_json_takes_hex_ids_and_refuses_base64_ones() -> None:
    document = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": TRACE.hex(),
                                "spanId": ROOT.hex(),
                                "name": "root",
                                "startTimeUnixNano": "1796654472103099977",
                                "endTimeUnixNano": 1796654472103668982,
                                "status": {"code": "STATUS_CODE_ERROR", "message": "bad"},
                                "attributes": [{"key": "n", "value": {"intValue": "3"}}],
                                "unknownField": 1,
                            }
                        ]
                    }
                ]
            }
        ]
    }
    (group,) = otlp.decode_request(json.dumps(document).encode(), "application/json", None)
    assert group.spans[0]["start_time_unix_nano"] == 1796654472103099977
    assert group.spans[0]["attributes"]["n"] == "3"
    assert group.spans[0]["status"] == {"code": "STATUS_CODE_ERROR", "message": "bad"}

    document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] = "igRRg8dnTuoGbVmJgmjuKg=="
    with pytest.raises(otlp.OtlpRejected) as rejected:
        otlp.decode_request(json.dumps(document).encode(), "application/json", None)
    assert (rejected.value.status, rejected.value.detail) == (400, "Invalid OpenTelemetry format")


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "deflate-raw"])
def test_compressed_bodies_are_read(encoding: str) -> None:
    body = _request(ROOT_SPAN)
    if encoding == "gzip":
        packed = gzip.compress(body)
    elif encoding == "deflate":
        packed = zlib.compress(body)
    else:
        compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        packed = compressor.compress(body) + compressor.flush()
    (group,) = otlp.decode_request(packed, otlp.PROTOBUF, encoding.removesuffix("-raw"))
    assert group.spans[0]["name"] == "agent"


@pytest.mark.parametrize(
    ("body", "content_type", "encoding", "status", "detail"),
    [
        (b"", "text/plain", None, 400,
         "Invalid Content-Type: text/plain. Expected: application/x-protobuf or application/json"),
        (b"", otlp.PROTOBUF, "br", 400, "Unsupported Content-Encoding: br"),
        (b"nope", otlp.PROTOBUF, "gzip", 400, "Failed to decompress gzip payload"),
        (b"nope", otlp.PROTOBUF, "deflate", 400, "Failed to decompress deflate payload"),
        (b"\xff\xff\xff", otlp.PROTOBUF, None, 400, "Invalid OpenTelemetry format"),
        (b"{not json", otlp.JSON, None, 400, "Invalid OpenTelemetry format"),
        (b"", otlp.PROTOBUF, None, 400, "Invalid OpenTelemetry format - no spans found"),
        (b"{}", otlp.JSON, None, 400, "Invalid OpenTelemetry format - no spans found"),
        (_request(Span(trace_id=TRACE, name="no span id")), otlp.PROTOBUF, None, 422,
         "Cannot convert OpenTelemetry span to MLflow span"),
    ],
)  # fmt: skip
def test_bad_requests_are_refused_in_the_reference_words(
    body: bytes, content_type: str, encoding: str | None, status: int, detail: str
) -> None:
    with pytest.raises(otlp.OtlpRejected) as rejected:
        otlp.decode_request(body, content_type, encoding)
    assert (rejected.value.status, rejected.value.detail) == (status, detail)


def test_a_stored_span_converts_to_the_otel_proto_json_with_typed_values() -> None:
    (group,) = otlp.decode_request(_request(CHILD_SPAN), otlp.PROTOBUF, None)

    proto = otlp.span_to_proto_json(group.spans[0])

    assert proto["span_id"] == "KiydyAOIJ7w="
    assert proto["parent_span_id"] == "wdGOcyy3q18="
    assert proto["start_time_unix_nano"] == 1_010_000_000
    attributes = {a["key"]: a["value"] for a in proto["attributes"]}
    assert attributes["mlflow.spanType"] == {"string_value": "LLM"}
    usage = attributes["mlflow.chat.tokenUsage"]["kvlist_value"]["values"][0]
    assert usage == {"key": "input_tokens", "value": {"int_value": 10}}
    assert proto["status"] == {"code": "STATUS_CODE_OK"}


# ---- assembly -----------------------------------------------------------------------------------------------------


def test_spans_first_then_start_trace_make_one_finished_trace(service: TraceService) -> None:
    _ingest(service, _request(CHILD_SPAN))
    partial = service.get_info(TRACE_ID)
    assert partial.state == "IN_PROGRESS"
    assert partial.trace_metadata["mlflow.trace.tokenUsage"] == (
        '{"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}'
    )
    assert partial.trace_metadata["mlflow.trace.session"] == "s-1"

    _ingest(service, _request(ROOT_SPAN))
    record = service.start_trace(_start())

    assert record.state == "OK"
    assert record.request_preview == '{"q": "hi"}'
    assert record.response_preview == '"yes"'
    assert record.tags["mlflow.trace.spansLocation"] == "TRACKING_STORE"
    assert record.tags["mlflow.traceName"] == "agent"
    assert record.trace_metadata["mlflow.trace.infoFinalized"] == "true"
    assert (record.request_time, record.execution_duration) == (2_000, 47)
    _, spans = service.get_trace(TRACE_ID, allow_partial=False)
    assert [s["name"] for s in spans] == ["agent", "llm"]


def test_start_trace_first_then_spans_make_the_same_trace(service: TraceService) -> None:
    started = service.start_trace(_start())
    assert started.tags["mlflow.trace.spansLocation"] == "TRACKING_STORE"
    assert started.tags["mlflow.artifactLocation"] == f"s3://bucket/mlartifacts/0/traces/{TRACE_ID}/artifacts"

    _ingest(service, _request(ROOT_SPAN, CHILD_SPAN))

    record = service.get_info(TRACE_ID)
    assert record.state == "OK"
    assert record.request_preview == '{"q": "hi"}'
    assert [s.name for s in record.spans] == ["agent", "llm"]
    assert record.info_json()["trace_metadata"]["mlflow.user"] == "root"


def test_a_resent_batch_replaces_its_spans(service: TraceService) -> None:
    _ingest(service, _request(ROOT_SPAN, CHILD_SPAN))
    _ingest(service, _request(ROOT_SPAN, CHILD_SPAN))

    record, spans = service.get_trace(TRACE_ID, allow_partial=False)
    assert len(spans) == 2
    assert len(record.spans) == 2


def test_resource_attributes_and_root_trace_tags_become_tags(service: TraceService) -> None:
    root = _span(ROOT, None, "r", 1, 2, **{"mlflow.traceTag.team": "search", "user.id": "u-1"})
    _ingest(service, _request(root, resource={"service.name": "claude-code", "telemetry.sdk.name": "x", "n": 3}))

    record = service.get_info(TRACE_ID)
    assert record.tags["service.name"] == "claude-code"
    assert record.tags["n"] == "3"
    assert record.tags["team"] == "search"
    assert "telemetry.sdk.name" not in record.tags
    assert record.trace_metadata["mlflow.trace.user"] == "u-1"


def test_spans_of_a_new_trace_need_an_existing_experiment(service: TraceService) -> None:
    with pytest.raises(ResourceDoesNotExist, match="No Experiment with id=999 exists"):
        _ingest(service, _request(ROOT_SPAN), "999")
    with pytest.raises(InvalidParameterValue, match="Invalid experiment ID 'abc'"):
        _ingest(service, _request(ROOT_SPAN), "abc")


def test_start_trace_in_a_deleted_experiment_is_refused(service: TraceService) -> None:
    experiment_id = service.experiments.create("gone", None, {})
    service.experiments.delete(experiment_id)
    with pytest.raises(InvalidParameterValue, match="must be in the 'active' state"):
        service.start_trace(StartInfo(TRACE_ID, experiment_id, 1, None, "OK"))


def test_get_trace_waits_for_every_span_the_size_stats_promise(service: TraceService) -> None:
    info = _start()
    info.trace_metadata["mlflow.trace.sizeStats"] = json.dumps({"num_spans": 2})
    service.start_trace(info)
    _ingest(service, _request(ROOT_SPAN))

    with pytest.raises(ResourceDoesNotExist, match="is not fully exported yet"):
        service.get_trace(TRACE_ID, allow_partial=False)
    assert service.batch_get([TRACE_ID], []) == []
    assert len(service.get_trace(TRACE_ID, allow_partial=True)[1]) == 1


def test_batch_reads_leave_out_unknown_ids_and_other_experiments(service: TraceService) -> None:
    service.start_trace(_start())

    assert [r.trace_id for r in service.batch_get_infos([TRACE_ID, "tr-0", TRACE_ID], [])] == [TRACE_ID]
    assert service.batch_get_infos([TRACE_ID], ["5"]) == []


def test_unknown_traces_are_not_found_in_each_reads_words(service: TraceService) -> None:
    with pytest.raises(ResourceDoesNotExist, match="^Trace with ID 'tr-0' not found.$"):
        service.get_info("tr-0")
    with pytest.raises(ResourceDoesNotExist, match="^Trace with ID tr-0 is not found.$"):
        service.get_trace("tr-0", allow_partial=True)
    with pytest.raises(ResourceDoesNotExist, match="^Trace with ID tr-0 is not found.$"):
        service.trace_artifact("tr-0")


# ---- the record's JSON ------------------------------------------------------------------------------------------


def test_info_json_cuts_metadata_and_tags_on_output_and_omits_empty_fields() -> None:
    record = TraceRecord(
        trace_id=TRACE_ID,
        experiment_id="1",
        request_time=1_796_654_472_056,
        execution_duration=47,
        state="OK",
        trace_metadata={"m": "v" * 1000},
        tags={"t": "x" * 9000},
    )

    info = record.info_json()

    assert info["request_time"] == "2026-12-07T14:41:12.056Z"
    assert info["execution_duration"] == "0.047s"
    assert len(info["trace_metadata"]["m"]) == 250
    assert len(info["tags"]["t"]) == 4096
    assert "assessments" not in info and "request_preview" not in info and "client_request_id" not in info


@pytest.mark.parametrize(("millis", "text"), [(0, "0s"), (1500, "1.500s"), (47, "0.047s"), (-3100, "-3.100s")])
def test_durations_are_written_as_proto_json(millis: int, text: str) -> None:
    assert duration_json(millis) == text


def test_whole_second_timestamps_have_no_fraction() -> None:
    assert timestamp_json(1_796_083_200_000) == "2026-12-01T00:00:00Z"


def test_previews_take_the_last_chat_message_and_cut_at_1000() -> None:
    chat = json.dumps({"messages": [{"role": "system", "content": "be nice"}, {"role": "user", "content": "hello"}]})
    assert preview(chat, "user") == "hello"
    long = json.dumps("y" * 2000)
    assert preview(long, "user") == long[:997] + "..."
    assert preview(None, "user") is None
