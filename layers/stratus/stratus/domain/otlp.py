"""OTLP trace export requests (``POST /v1/traces``) as MLflow 3.17.2's server reads them
(``server/otel_api.py``, ``entities/span.py:Span.from_otel_proto``): the body decoded (protobuf or OTLP/JSON, gzip
or deflate) into spans in the ``traces.json`` form (attributes as JSON-encoded strings, ids base64), grouped by
trace; and a stored span turned back into the OTel proto JSON that ``GetTrace`` answers.

Failures are ``OtlpRejected``: the route answers them FastAPI-style, ``{"detail": ...}`` with the status given."""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValueList
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status as ProtoStatus

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
REQUEST_ID = "mlflow.traceRequestId"
_STATUS_NAMES = {ProtoStatus.STATUS_CODE_OK: "STATUS_CODE_OK", ProtoStatus.STATUS_CODE_ERROR: "STATUS_CODE_ERROR"}
_INT64_FIELDS = frozenset({"start_time_unix_nano", "end_time_unix_nano", "time_unix_nano", "int_value"})
_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


class OtlpRejected(Exception):  # noqa: N818 - named for what the caller sees
    """The request cannot be taken: answered ``status`` with ``{"detail": detail}``."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(str(detail))
        self.status = status
        self.detail = detail


@dataclass
class TraceSpans:
    """The spans of one trace in one request, in the ``traces.json`` form, and the resource attributes they came
    with (decoded values)."""

    trace_id: str
    spans: list[dict] = field(default_factory=list)
    resource: dict[str, Any] = field(default_factory=dict)


def decode_request(body: bytes, content_type: str | None, content_encoding: str | None) -> list[TraceSpans]:
    """The spans of an export request, grouped by trace (request order), with the reference's checks in its order."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media not in (PROTOBUF, JSON):
        raise OtlpRejected(400, f"Invalid Content-Type: {media}. Expected: {PROTOBUF} or {JSON}")
    raw = decompress(body, (content_encoding or "").strip().lower())
    request = _parse_json(raw) if media == JSON else _parse_protobuf(raw)
    if not request.resource_spans:
        raise OtlpRejected(400, "Invalid OpenTelemetry format - no spans found")
    grouped: dict[str, TraceSpans] = {}
    for resource_spans in request.resource_spans:
        resource = {a.key: decode_any_value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                converted = span_to_dict(span)
                trace_id = mlflow_trace_id(span.trace_id)
                entry = grouped.setdefault(trace_id, TraceSpans(trace_id))
                entry.resource.update(resource)
                entry.spans.append(converted)
    if not grouped:
        raise OtlpRejected(400, "Invalid OpenTelemetry format - no spans found")
    return list(grouped.values())


def decompress(body: bytes, encoding: str) -> bytes:
    """``Content-Encoding`` undone: none, ``gzip``, or ``deflate`` (zlib or raw)."""
    if encoding in ("", "identity"):
        return body
    if encoding == "gzip":
        try:
            return gzip.decompress(body)
        except (OSError, EOFError, zlib.error) as error:
            raise OtlpRejected(400, "Failed to decompress gzip payload") from error
    if encoding == "deflate":
        for wbits in (zlib.MAX_WBITS, -zlib.MAX_WBITS):
            try:
                return zlib.decompress(body, wbits)
            except zlib.error:
                continue
        raise OtlpRejected(400, "Failed to decompress deflate payload")
    raise OtlpRejected(400, f"Unsupported Content-Encoding: {encoding}")


def _parse_protobuf(raw: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(raw)
    except (DecodeError, ValueError) as error:
        raise OtlpRejected(400, "Invalid OpenTelemetry format") from error
    return request


def _parse_json(raw: bytes) -> ExportTraceServiceRequest:
    """OTLP/JSON: hex ids (protobuf's JSON reader expects base64, so they are converted first)."""
    try:
        document = json.loads(raw or b"{}")
        _hex_ids_to_base64(document)
        return json_format.ParseDict(document, ExportTraceServiceRequest(), ignore_unknown_fields=True)
    except (ValueError, TypeError, AttributeError, json_format.ParseError) as error:
        raise OtlpRejected(400, "Invalid OpenTelemetry format") from error


def _hex_ids_to_base64(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _hex_ids_to_base64(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str):
                node[key] = base64.b64encode(bytes.fromhex(value)).decode() if value else ""
            else:
                _hex_ids_to_base64(value)


def mlflow_trace_id(otel_trace_id: bytes) -> str:
    """``tr-`` and the 32 hex digits of the OTel trace id."""
    return "tr-" + otel_trace_id.hex().rjust(32, "0")


def decode_any_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [decode_any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: decode_any_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, kind)


def span_to_dict(span: ProtoSpan) -> dict:
    """One OTLP span in the ``traces.json`` form (``Span.from_otel_proto`` then ``Span.to_dict``): the MLflow
    trace id derived from the OTel one overrides the client's ``mlflow.traceRequestId``."""
    if not span.trace_id or not span.span_id:
        raise OtlpRejected(422, "Cannot convert OpenTelemetry span to MLflow span")
    attributes = {a.key: json.dumps(decode_any_value(a.value), ensure_ascii=False) for a in span.attributes}
    attributes[REQUEST_ID] = json.dumps(mlflow_trace_id(span.trace_id))
    return {
        "trace_id": _b64(span.trace_id),
        "span_id": _b64(span.span_id),
        "parent_span_id": _b64(span.parent_span_id) if span.parent_span_id else None,
        "name": span.name,
        "start_time_unix_nano": span.start_time_unix_nano,
        "end_time_unix_nano": span.end_time_unix_nano,
        "events": [
            {
                "name": event.name,
                "time_unix_nano": event.time_unix_nano,
                "attributes": {a.key: decode_any_value(a.value) for a in event.attributes},
            }
            for event in span.events
        ],
        "status": {"code": _STATUS_NAMES.get(span.status.code, "STATUS_CODE_UNSET"), "message": span.status.message},
        "attributes": attributes,
        "links": [_link_to_dict(link, span.trace_id) for link in span.links],
    }


def _link_to_dict(link: ProtoSpan.Link, own_trace_id: bytes) -> dict:
    return {
        "trace_id": mlflow_trace_id(link.trace_id or own_trace_id),
        "span_id": link.span_id.hex(),
        "attributes": {a.key: decode_any_value(a.value) for a in link.attributes},
    }


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def span_hex_id(span: dict) -> str:
    """A stored span's id as 16 hex digits (assessments and summaries use hex)."""
    return base64.b64decode(span["span_id"]).hex()


def parent_hex_id(span: dict) -> str | None:
    parent = span.get("parent_span_id")
    return base64.b64decode(parent).hex() if parent else None


def attribute(span: dict, key: str) -> Any:
    """A stored span attribute's value (decoded from its JSON string); None when absent or not JSON."""
    text = span.get("attributes", {}).get(key)
    if text is None:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def span_to_proto_json(span: dict) -> dict:
    """A stored span as ``GetTrace`` answers it: OTel proto ``Span`` in proto JSON, snake_case, typed AnyValues, int64
    as numbers (``Span.to_otel_proto``)."""
    proto = ProtoSpan(
        trace_id=base64.b64decode(span["trace_id"]),
        span_id=base64.b64decode(span["span_id"]),
        name=span.get("name", ""),
        start_time_unix_nano=span.get("start_time_unix_nano") or 0,
        end_time_unix_nano=span.get("end_time_unix_nano") or 0,
    )
    if span.get("parent_span_id"):
        proto.parent_span_id = base64.b64decode(span["parent_span_id"])
    status = span.get("status") or {}
    proto.status.code = ProtoStatus.StatusCode.Value(status.get("code") or "STATUS_CODE_UNSET")
    if status.get("message"):
        proto.status.message = status["message"]
    for key in span.get("attributes", {}):
        entry = proto.attributes.add(key=key)
        set_any_value(entry.value, attribute(span, key))
    for event in span.get("events", []):
        proto_event = proto.events.add(name=event.get("name", ""), time_unix_nano=event.get("time_unix_nano") or 0)
        for key, value in (event.get("attributes") or {}).items():
            set_any_value(proto_event.attributes.add(key=key).value, value)
    for link in span.get("links", []):
        proto_link = proto.links.add(
            trace_id=bytes.fromhex(link["trace_id"].removeprefix("tr-")), span_id=bytes.fromhex(link["span_id"])
        )
        for key, value in (link.get("attributes") or {}).items():
            set_any_value(proto_link.attributes.add(key=key).value, value)
    return _int64_as_numbers(json_format.MessageToDict(proto, preserving_proto_field_name=True))


def set_any_value(target: AnyValue, value: Any) -> None:
    """``_set_otel_proto_anyvalue``: None leaves the value unset; unknown types become strings."""
    if value is None:
        return
    if isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, str):
        target.string_value = value
    elif isinstance(value, int):
        target.int_value = value
    elif isinstance(value, float):
        target.double_value = value
    elif isinstance(value, list | tuple):
        array = ArrayValue()
        for item in value:
            set_any_value(array.values.add(), item)
        target.array_value.CopyFrom(array)
    elif isinstance(value, dict):
        kvlist = KeyValueList()
        for key, item in value.items():
            set_any_value(kvlist.values.add(key=str(key)).value, item)
        target.kvlist_value.CopyFrom(kvlist)
    else:
        target.string_value = str(value)


def _int64_as_numbers(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: int(value) if key in _INT64_FIELDS and isinstance(value, str) else _int64_as_numbers(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_int64_as_numbers(v) for v in node]
    return node
