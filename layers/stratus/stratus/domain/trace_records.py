"""A GenAI trace as Stratus keeps it: the ``TraceRecord`` (what MLflow 3.17.2's ``TraceInfoV3`` answers, plus a
compact summary of the trace's spans for ``span.*`` filters) and the rules that build it from spans and from
``StartTraceV3``. The spans themselves are stored apart (``SpanStore``), in the ``traces.json`` form."""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from stratus.domain import otlp

SPAN_SUMMARY_CAP = 200
"""How many spans a record summarises; past it ``spans_cut`` is set (span filters then see only the first ones)."""
METADATA_OUT_LIMIT = 250
"""``TraceInfo.to_proto``: metadata keys and values, and tag keys, are cut to this many characters on output."""
TAG_VALUE_OUT_LIMIT = 4096
"""``TraceInfo.to_proto``: tag values are cut to this many characters on output."""
TAG_VALUE_STORE_LIMIT = 8000
"""Tag values are stored up to this many characters (longer ones silently cut)."""

SPANS_LOCATION = "mlflow.trace.spansLocation"
ARTIFACT_LOCATION = "mlflow.artifactLocation"
TRACE_NAME = "mlflow.traceName"
INFO_FINALIZED = "mlflow.trace.infoFinalized"
SOURCE_RUN = "mlflow.sourceRun"
SESSION = "mlflow.trace.session"
USER = "mlflow.trace.user"
TOKEN_USAGE = "mlflow.trace.tokenUsage"
COST = "mlflow.trace.cost"
SIZE_STATS = "mlflow.trace.sizeStats"
TRACKING_STORE = "TRACKING_STORE"
PREVIEW_LIMIT = 1000
"""``TRACE_REQUEST_RESPONSE_PREVIEW_MAX_LENGTH_OSS``: previews the server derives from the root span are cut here."""
USAGE_KEYS = ("input_tokens", "output_tokens", "total_tokens")
CACHE_USAGE_KEYS = ("cache_read_input_tokens", "cache_creation_input_tokens")
COST_KEYS = ("input_cost", "output_cost", "total_cost")
STATES = ("STATE_UNSPECIFIED", "OK", "ERROR", "IN_PROGRESS")
MODEL_DIMENSION_LIMIT = 500
"""``MODEL_DIMENSION_MAX_LENGTH``: a span's model name and provider are kept to this many characters."""


@dataclass
class SpanSummary:
    """What ``span.name``/``span.type``/``span.status`` filters and the span metrics (``traces/metrics``, SPANS view)
    read of one span. ``status`` is ``OK``, ``ERROR`` or ``UNSET``; ``span_id`` is 16 hex digits; times are the
    span's nanoseconds; ``model_name``/``model_provider``/``cost`` come from ``mlflow.llm.model``,
    ``mlflow.llm.provider`` and ``mlflow.llm.cost`` (``{"input_cost", "output_cost", "total_cost"}``)."""

    span_id: str
    name: str
    type: str
    status: str
    parent_id: str | None = None
    usage: dict[str, int] | None = None
    start_ns: int | None = None
    end_ns: int | None = None
    model_name: str | None = None
    model_provider: str | None = None
    cost: dict[str, float] | None = None


@dataclass
class TraceRecord:
    """One trace's info. Times are epoch milliseconds; ``execution_duration`` is None until known. ``assessments``
    are the Assessment proto JSON as the reference answers them. ``revision`` is the store's optimistic lock:
    ``TraceStore.put`` writes ``previous.revision + 1`` (1 for a create) and sets it on the record it saved.
    ``retention_days`` (0: kept) and ``expires_at`` (epoch seconds, the store's TTL) are set when the record is created
    (``domain.trace_retention``) and never changed."""

    trace_id: str
    experiment_id: str
    request_time: int
    execution_duration: int | None = None
    state: str = "STATE_UNSPECIFIED"
    client_request_id: str | None = None
    request_preview: str | None = None
    response_preview: str | None = None
    trace_metadata: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    assessments: list[dict] = field(default_factory=list)
    spans: list[SpanSummary] = field(default_factory=list)
    spans_cut: bool = False
    info_finalized: bool = False
    retention_days: int = 0
    expires_at: int | None = None
    revision: int = 0

    @property
    def sort_key(self) -> str:
        """The record's place in its experiment's request-time order (``TraceStore.page`` keys)."""
        return trace_sort_key(self.request_time, self.trace_id)

    @property
    def name(self) -> str | None:
        return self.tags.get(TRACE_NAME)

    @property
    def spans_in_store(self) -> bool:
        return self.tags.get(SPANS_LOCATION) == TRACKING_STORE

    def info_json(self) -> dict:
        """``TraceInfoV3`` as proto JSON, exactly as the reference answers it: empty fields omitted, metadata and
        tag keys cut to 250 characters, metadata values to 250, tag values to 4096, assessments inline."""
        info: dict = {"trace_id": self.trace_id}
        if self.client_request_id:
            info["client_request_id"] = self.client_request_id
        location = {"experiment_id": self.experiment_id}
        info["trace_location"] = {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": location}
        if self.request_preview:
            info["request_preview"] = self.request_preview
        if self.response_preview:
            info["response_preview"] = self.response_preview
        info["request_time"] = timestamp_json(self.request_time)
        if self.execution_duration is not None:
            info["execution_duration"] = duration_json(self.execution_duration)
        if self.state != "STATE_UNSPECIFIED":
            info["state"] = self.state
        metadata = {k[:METADATA_OUT_LIMIT]: v[:METADATA_OUT_LIMIT] for k, v in self.trace_metadata.items()}
        if metadata:
            info["trace_metadata"] = metadata
        if self.assessments:
            info["assessments"] = self.assessments
        tags = {k[:METADATA_OUT_LIMIT]: v[:TAG_VALUE_OUT_LIMIT] for k, v in self.tags.items()}
        if tags:
            info["tags"] = tags
        return info


def trace_sort_key(request_time: int, trace_id: str) -> str:
    """``T#<request_time ms, 13 digits>#<trace_id>``."""
    return f"T#{max(request_time, 0):013d}#{trace_id}"


def timestamp_json(millis: int) -> str:
    """A ``google.protobuf.Timestamp`` in proto JSON: RFC 3339 UTC with 0 or 3 fractional digits."""
    seconds, ms = divmod(millis, 1000)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{ms:03d}Z" if ms else f"{text}Z"


def duration_json(millis: int) -> str:
    """A ``google.protobuf.Duration`` in proto JSON: ``"0.047s"``, ``"1.500s"``, ``"0s"``, ``"-3.100s"``."""
    sign = "-" if millis < 0 else ""
    seconds, ms = divmod(abs(millis), 1000)
    return f"{sign}{seconds}.{ms:03d}s" if ms else f"{sign}{seconds}s"


def parse_timestamp(text: Any) -> int:
    """A proto JSON ``Timestamp`` (RFC 3339) as epoch milliseconds."""
    if not isinstance(text, str):
        raise ValueError(f"not a timestamp: {text!r}")
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


def parse_duration(text: Any) -> int:
    """A proto JSON ``Duration`` (``"0.047s"``) as milliseconds."""
    if not isinstance(text, str) or not text.endswith("s"):
        raise ValueError(f"not a duration: {text!r}")
    return round(float(text[:-1]) * 1000)


def preview(value_json: str | None, role: str) -> str | None:
    """``truncation._get_truncated_preview``: the text of the last ``role`` message when the value looks like chat
    messages, else the JSON itself; cut to 1000 characters with ``...``."""
    if value_json is None:
        return None
    content = None
    try:
        messages = _messages(json.loads(value_json))
    except ValueError:
        messages = None
    if messages:
        last = next((m for m in reversed(messages) if m.get("role") == role), messages[-1])
        content = _message_text(last)
    content = content or value_json
    return content if len(content) <= PREVIEW_LIMIT else content[: PREVIEW_LIMIT - 3] + "..."


def _messages(obj: Any) -> list[dict] | None:
    if not isinstance(obj, dict):
        return None
    for key in ("messages", "input", "output"):
        if (found := obj.get(key)) and isinstance(found, list):
            return [m for m in found if _is_message(m)]
    choices = obj.get("choices")
    if (
        choices
        and isinstance(choices, list)
        and isinstance(choices[0], dict)
        and _is_message(choices[0].get("message"))
    ):
        return [choices[0]["message"]]
    return _messages(obj["request"]) if "request" in obj else None


def _is_message(item: Any) -> bool:
    return isinstance(item, dict) and "role" in item and "content" in item


def _message_text(message: dict) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    for part in content if isinstance(content, list) else []:
        if isinstance(part, str):
            return part
        if isinstance(part, dict) and part.get("type") in ("text", "output_text"):
            return part.get("text") or ""
    return ""


def summarize(span: dict) -> SpanSummary:
    """What the record keeps of a stored span."""
    usage = otlp.attribute(span, "mlflow.chat.tokenUsage")
    status = (span.get("status") or {}).get("code", "STATUS_CODE_UNSET").removeprefix("STATUS_CODE_")
    model, provider = otlp.attribute(span, "mlflow.llm.model"), otlp.attribute(span, "mlflow.llm.provider")
    return SpanSummary(
        span_id=otlp.span_hex_id(span),
        name=span.get("name", ""),
        type=str(otlp.attribute(span, "mlflow.spanType") or "UNKNOWN"),
        status=status,
        parent_id=otlp.parent_hex_id(span),
        usage=usage if isinstance(usage, dict) else None,
        start_ns=_int_or_none(span.get("start_time_unix_nano")),
        end_ns=_int_or_none(span.get("end_time_unix_nano")),
        model_name=model[:MODEL_DIMENSION_LIMIT] if isinstance(model, str) else None,
        model_provider=provider[:MODEL_DIMENSION_LIMIT] if isinstance(provider, str) else None,
        cost=_span_cost(otlp.attribute(span, "mlflow.llm.cost")),
    )


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _span_cost(value: Any) -> dict[str, float] | None:
    """The finite numbers of a span's ``mlflow.llm.cost`` (``finite_float_or_none`` in the reference)."""
    if not isinstance(value, dict):
        return None
    cost = {}
    for key in COST_KEYS:
        item = value.get(key)
        if isinstance(item, int | float) and not isinstance(item, bool) and math.isfinite(item):
            cost[key] = float(item)
    return cost or None


def new_from_spans(trace_id: str, experiment_id: str, artifact_location: str) -> TraceRecord:
    """The record of a trace whose spans arrive before its ``StartTraceV3``: in progress until its root span."""
    return TraceRecord(
        trace_id=trace_id,
        experiment_id=experiment_id,
        request_time=0,
        state="IN_PROGRESS",
        tags={ARTIFACT_LOCATION: trace_artifact_location(artifact_location, trace_id)},
    )


def trace_artifact_location(experiment_artifact_location: str, trace_id: str) -> str:
    return f"{experiment_artifact_location.rstrip('/')}/traces/{trace_id}/artifacts"


def apply_spans(record: TraceRecord, spans: list[dict], resource: dict[str, Any]) -> None:
    """What a batch of spans adds to its trace (``SqlAlchemyStore._log_spans_once``): the time range, the state and
    previews from the root span, token usage over the whole tree, session and user, tags from the resource and from
    the root's ``mlflow.traceTag.*`` attributes, and ``spansLocation``."""
    fresh = record.request_time == 0 and record.execution_duration is None
    _widen_time_range(record, spans, fresh=fresh)
    known = {s.span_id: i for i, s in enumerate(record.spans)}
    for span in spans:
        summary = summarize(span)
        if summary.span_id in known:
            record.spans[known[summary.span_id]] = summary
        elif len(record.spans) < SPAN_SUMMARY_CAP:
            known[summary.span_id] = len(record.spans)
            record.spans.append(summary)
        else:
            record.spans_cut = True
    _set_usage(record)
    for span in spans:
        _set_session_and_user(record, span)
    record.tags[SPANS_LOCATION] = TRACKING_STORE
    for key, value in resource.items():
        if not key.startswith(("telemetry.sdk.", "mlflow.")):
            record.tags[key] = value if isinstance(value, str) else json.dumps(value)
    for root in (s for s in spans if not s.get("parent_span_id")):
        _apply_root(record, root)


def _widen_time_range(record: TraceRecord, spans: list[dict], *, fresh: bool) -> None:
    finalized_fixed = record.info_finalized and any(k in record.trace_metadata for k in (TOKEN_USAGE, COST, SESSION))
    if finalized_fixed or not spans:
        return
    start = min(s["start_time_unix_nano"] for s in spans) // 1_000_000
    end = max(s["end_time_unix_nano"] for s in spans) // 1_000_000
    if not fresh:
        end = max(end, record.request_time + (record.execution_duration or 0))
        start = min(start, record.request_time)
    record.request_time = start
    record.execution_duration = end - start


def _apply_root(record: TraceRecord, root: dict) -> None:
    if record.state in ("IN_PROGRESS", "STATE_UNSPECIFIED"):
        record.state = "ERROR" if (root.get("status") or {}).get("code") == "STATUS_CODE_ERROR" else "OK"
    attributes = root.get("attributes", {})
    if record.request_preview is None:
        record.request_preview = preview(attributes.get("mlflow.spanInputs"), "user")
    if record.response_preview is None:
        record.response_preview = preview(attributes.get("mlflow.spanOutputs"), "assistant")
    for key in attributes:
        if key.startswith("mlflow.traceTag."):
            value = otlp.attribute(root, key)
            record.tags[key.removeprefix("mlflow.traceTag.")] = value if isinstance(value, str) else json.dumps(value)


def _set_session_and_user(record: TraceRecord, span: dict) -> None:
    if SESSION not in record.trace_metadata:
        for key in ("session.id", "gen_ai.conversation.id"):
            if (value := otlp.attribute(span, key)) is not None:
                record.trace_metadata[SESSION] = str(value)
                break
    if USER not in record.trace_metadata and (user := otlp.attribute(span, "user.id")) is not None:
        record.trace_metadata[USER] = str(user)


def _set_usage(record: TraceRecord) -> None:
    """Token usage summed over the spans that carry it, skipping those whose ancestor carries it already (a parent
    that rolls its children up is not counted twice). ``StartTraceV3``'s own figure wins."""
    if record.info_finalized and TOKEN_USAGE in record.trace_metadata:
        return
    by_id = {s.span_id: s for s in record.spans}
    totals = dict.fromkeys(USAGE_KEYS, 0)
    found = False
    for summary in record.spans:
        if not summary.usage or _ancestor_has_usage(summary, by_id):
            continue
        found = True
        for key in (*USAGE_KEYS, *CACHE_USAGE_KEYS):
            if isinstance(summary.usage.get(key), int):
                totals[key] = totals.get(key, 0) + summary.usage[key]
    if found:
        record.trace_metadata[TOKEN_USAGE] = json.dumps(totals)


def _ancestor_has_usage(summary: SpanSummary, by_id: dict[str, SpanSummary]) -> bool:
    seen: set[str] = set()
    parent = by_id.get(summary.parent_id or "")
    while parent is not None and parent.span_id not in seen:
        if parent.usage:
            return True
        seen.add(parent.span_id)
        parent = by_id.get(parent.parent_id or "")
    return False


def apply_start(record: TraceRecord, info: StartInfo, artifact_location: str) -> None:
    """``StartTraceV3`` over what spans built (``_start_trace_once``): its top-level fields win, previews only if
    given, tags and metadata merged with its values winning, inline assessments added; the info is final."""
    record.experiment_id = info.experiment_id
    record.request_time = info.request_time
    record.execution_duration = info.execution_duration
    record.state = info.state
    record.client_request_id = info.client_request_id
    record.request_preview = info.request_preview or record.request_preview
    record.response_preview = info.response_preview or record.response_preview
    record.trace_metadata.update(info.trace_metadata)
    record.trace_metadata[INFO_FINALIZED] = "true"
    record.tags.update({k: v[:TAG_VALUE_STORE_LIMIT] for k, v in info.tags.items()})
    record.tags[ARTIFACT_LOCATION] = trace_artifact_location(artifact_location, record.trace_id)
    record.tags[SPANS_LOCATION] = TRACKING_STORE  # docs/decisions.md "GenAI tracing": always, so no traces.json
    for assessment in info.assessments:
        record.assessments.append(
            {
                **assessment,
                "assessment_id": assessment.get("assessment_id") or f"a-{uuid.uuid4().hex}",
                "trace_id": record.trace_id,
                "valid": True,  # as a create forces it
            }
        )
    record.info_finalized = True


@dataclass
class StartInfo:
    """The ``TraceInfoV3`` of a ``StartTraceV3`` request, parsed."""

    trace_id: str
    experiment_id: str
    request_time: int
    execution_duration: int | None
    state: str
    client_request_id: str | None = None
    request_preview: str | None = None
    response_preview: str | None = None
    trace_metadata: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    assessments: list[dict] = field(default_factory=list)


def legacy_info_json(record: TraceRecord) -> dict:
    """The v2 ``TraceInfo`` (legacy listing, ``GET /traces/<id>/info``): metadata and tags as sorted key/value
    lists, ``status`` by ``TraceStatus`` name, no previews or assessments."""
    info: dict[str, Any] = {
        "request_id": record.trace_id,
        "experiment_id": record.experiment_id,
        "timestamp_ms": record.request_time,
    }
    if record.execution_duration is not None:
        info["execution_time_ms"] = record.execution_duration
    status = "TRACE_STATUS_UNSPECIFIED" if record.state == "STATE_UNSPECIFIED" else record.state
    info["status"] = status
    metadata = {k[:METADATA_OUT_LIMIT]: v[:METADATA_OUT_LIMIT] for k, v in record.trace_metadata.items()}
    if metadata:
        info["request_metadata"] = [{"key": k, "value": v} for k, v in sorted(metadata.items())]
    tags = {k[:METADATA_OUT_LIMIT]: v[:TAG_VALUE_OUT_LIMIT] for k, v in record.tags.items()}
    if tags:
        info["tags"] = [{"key": k, "value": v} for k, v in sorted(tags.items())]
    return info
