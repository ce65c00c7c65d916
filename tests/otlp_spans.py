"""OTLP spans for tests of traces with many spans: span ``index`` of a trace, a child of span 0 (the root), with the
given MLflow attributes as the MLflow SDK sets them (JSON text), and an export request of such spans."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

START_NS = 1_700_000_000_000_000_000


def numbered_span(trace: bytes, index: int, **attributes: Any) -> Span:
    """Span ``index`` (id ``index + 1``) named ``root`` (index 0) or ``step_<index>``, started ``index`` ns in."""
    span = Span(
        trace_id=trace,
        span_id=(index + 1).to_bytes(8, "big"),
        name="root" if index == 0 else f"step_{index}",
        start_time_unix_nano=START_NS + index,
        end_time_unix_nano=START_NS + 1_000_000_000,
        status=Status(code=Status.STATUS_CODE_OK),
    )
    if index:
        span.parent_span_id = (1).to_bytes(8, "big")
    span.attributes.extend(
        KeyValue(key=key, value=AnyValue(string_value=json.dumps(value))) for key, value in attributes.items()
    )
    return span


def export_request(spans: Iterable[Span]) -> bytes:
    """An OTLP ``ExportTraceServiceRequest`` of ``spans``, serialised (``application/x-protobuf``)."""
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.extend(spans)
    return request.SerializeToString()
