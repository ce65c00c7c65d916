"""``traces/metrics`` computed over trace records, as the reference's SQL (``sql_trace_metrics_utils.query_metrics``)
computes it over its tables: each view's rows (one per trace, per summarised span, or per valid assessment) pass
the filters, rows whose value or a dimension is null are dropped, the rest are grouped by time bucket and
dimensions, aggregated, ordered by bucket then dimensions and cut to ``max_results``.

The records come in from the caller (``TraceService.query_metrics`` reads those in the request's time range); this
module reads nothing. Where the reference reads a column, Stratus reads the record:

* trace name, status, session, token counts: the ``mlflow.traceName`` tag, ``state``, the ``mlflow.trace.session``
  metadata, the ``mlflow.trace.tokenUsage`` metadata (``token_count_or_none`` per key);
* spans: the record's span summaries (``SpanSummary``); a trace with more spans than its record summarises
  (``spans_cut``) has them all summarised by the caller's ``all_spans`` (the service reads them from S3);
* assessments: the record's valid assessments, their value text (numbers as doubles) and aggregate value
  (number; ``true``/``false`` and ``"yes"``/``"no"`` as 1/0).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from stratus.domain.search.trace_metrics import ASSESSMENT, SPAN, TRACE, MetricsFilter
from stratus.domain.search.traces import assessment_value_text
from stratus.domain.trace_records import (
    CACHE_USAGE_KEYS,
    COST,
    COST_KEYS,
    SESSION,
    SOURCE_RUN,
    TOKEN_USAGE,
    USAGE_KEYS,
    SpanSummary,
    TraceRecord,
)
from stratus.domain.traces import NO_COLUMNS, Aggregation, MetricDataPoint, TraceMetricsQuery
from stratus.errors import BadRequest, InvalidParameterValue

TIME_BUCKET = "time_bucket"
TOKEN_METRICS = (*USAGE_KEYS, *CACHE_USAGE_KEYS)
_BIGINT = 2**63
_NS_PER_MS = 1_000_000


@dataclass(frozen=True)
class _Row:
    """One row of the view: its time (ms, for the bucket), its dimension values and the metric's value."""

    time_ms: int
    dimensions: tuple[Any, ...]
    value: Any


def span_metric_uses_span_time(query: TraceMetricsQuery) -> bool:
    """Span cost metrics take their time range from the span's start; every other metric from the trace's
    request time (span count and latency too: the reference bounds them by the parent trace)."""
    return query.view_type == "SPANS" and query.metric_name.endswith("_cost")


def filter_for_view(filters: Iterable[MetricsFilter], view_type: str) -> list[MetricsFilter]:
    """The filters, refused as the reference refuses a span filter outside SPANS and an assessment filter outside
    ASSESSMENTS (in the order given)."""
    checked = []
    for item in filters:
        if item.prefix == SPAN and view_type != "SPANS":
            raise InvalidParameterValue(f"Filtering by span is only supported for SPANS view type, got {view_type}")
        if item.prefix == ASSESSMENT and view_type != "ASSESSMENTS":
            raise InvalidParameterValue(
                f"Filtering by assessment is only supported for ASSESSMENTS view type, got {view_type}"
            )
        checked.append(item)
    return checked


def compute_metrics(
    query: TraceMetricsQuery,
    records: Iterable[TraceRecord],
    filters: list[MetricsFilter],
    traces_of_run: Callable[[str], frozenset[str]] = lambda _: frozenset(),
    all_spans: Callable[[TraceRecord], list[SpanSummary]] | None = None,
) -> list[MetricDataPoint]:
    """The query's data points over ``records`` (the caller passes at least those in the query's range; this
    function applies the range itself). ``traces_of_run`` answers the ids linked to a run, for
    ``trace.metadata.`mlflow.sourceRun```; ``all_spans`` every span of a record whose summary was cut (the SPANS
    view then counts them all, as the reference does; without it, the summarised ones)."""
    if not query.aggregations and not query.grouped:
        raise BadRequest(NO_COLUMNS)
    trace_filters = [f for f in filters if f.prefix == TRACE]
    span_filters = [f for f in filters if f.prefix == SPAN]
    assessment_filters = [f for f in filters if f.prefix == ASSESSMENT]
    rows: list[_Row] = []
    for record in records:
        if not _trace_in_range(query, record) or not all(
            _trace_matches(record, f, traces_of_run) for f in trace_filters
        ):
            continue
        if query.view_type == "TRACES":
            rows.extend(_trace_rows(query, record))
        elif query.view_type == "SPANS":
            spans = all_spans(record) if all_spans is not None and record.spans_cut else record.spans
            rows.extend(_span_rows(query, record, spans, span_filters))
        else:
            rows.extend(_assessment_rows(query, record, assessment_filters))
    rows = [r for r in rows if r.value is not None and all(d is not None for d in r.dimensions)]
    return _aggregate(query, rows)


# ------------------------------------------------------------------------------------------------------------- rows


def _trace_in_range(query: TraceMetricsQuery, record: TraceRecord) -> bool:
    if span_metric_uses_span_time(query):
        return True  # bounded per span
    return _in_range(query, record.request_time)


def _in_range(query: TraceMetricsQuery, time_ms: int) -> bool:
    return (query.start_time_ms is None or time_ms >= query.start_time_ms) and (
        query.end_time_ms is None or time_ms <= query.end_time_ms
    )


def _span_in_range(query: TraceMetricsQuery, span: SpanSummary) -> bool:
    if not span_metric_uses_span_time(query):
        return True
    if span.start_ns is None:
        return False
    return (query.start_time_ms is None or span.start_ns >= query.start_time_ms * _NS_PER_MS) and (
        query.end_time_ms is None or span.start_ns < (query.end_time_ms + 1) * _NS_PER_MS
    )


def _trace_rows(query: TraceMetricsQuery, record: TraceRecord) -> Iterator[_Row]:
    columns = {"trace_name": record.name, "trace_status": record.state}
    dims = tuple(columns[d] for d in query.dimensions)
    metric = query.metric_name
    if metric == "trace_count":
        value: Any = record.trace_id
    elif metric == "session_count":
        value = record.trace_metadata.get(SESSION)
    elif metric == "latency":
        value = record.execution_duration
    else:
        value = token_columns(record).get(metric)
    yield _Row(record.request_time, dims, value)


def _span_rows(
    query: TraceMetricsQuery, record: TraceRecord, spans: list[SpanSummary], filters: list[MetricsFilter]
) -> Iterator[_Row]:
    for span in spans:
        if not _span_in_range(query, span) or not all(_span_matches(span, f) for f in filters):
            continue
        columns = {
            "span_name": span.name,
            "span_type": span.type,
            "span_status": span.status,
            "span_model_name": span.model_name,
            "span_model_provider": span.model_provider,
        }
        metric = query.metric_name
        if metric == "span_count":
            value: Any = span.span_id
        elif metric == "latency":
            has_times = span.start_ns is not None and span.end_ns is not None
            value = (span.end_ns - span.start_ns) // _NS_PER_MS if has_times else None  # type: ignore[operator]
        else:
            value = (span.cost or {}).get(metric)
        time_ms = span.start_ns // _NS_PER_MS if span.start_ns is not None else record.request_time
        yield _Row(time_ms, tuple(columns[d] for d in query.dimensions), value)


def _assessment_rows(query: TraceMetricsQuery, record: TraceRecord, filters: list[MetricsFilter]) -> Iterator[_Row]:
    for assessment in record.assessments:
        if assessment.get("valid") is False or not all(_assessment_matches(assessment, f) for f in filters):
            continue
        columns = {"assessment_name": assessment.get("assessment_name"), "assessment_value": value_text(assessment)}
        if query.metric_name == "assessment_count":
            value = assessment.get("assessment_id")
        else:
            value = aggregate_value(assessment)
        yield _Row(record.request_time, tuple(columns[d] for d in query.dimensions), value)


def token_columns(record: TraceRecord) -> dict[str, int]:
    """The token counts the reference keeps in columns, from the ``mlflow.trace.tokenUsage`` metadata."""
    usage = _json_object(record.trace_metadata.get(TOKEN_USAGE))
    return {key: count for key in TOKEN_METRICS if (count := _token_count(usage.get(key))) is not None}


def _cost_columns(record: TraceRecord) -> dict[str, float]:
    cost = _json_object(record.trace_metadata.get(COST))
    return {key: value for key in COST_KEYS if (value := _finite(cost.get(key))) is not None}


def _json_object(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text) if text is not None else None
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _token_count(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    if not number.is_finite() or number != number.to_integral_value() or not -_BIGINT <= number < _BIGINT:
        return None
    return int(number)


def _finite(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def value_text(assessment: dict[str, Any]) -> str | None:
    """The assessment's value as the reference stores it (JSON text); an issue's is its dictionary."""
    text = assessment_value_text(assessment)
    if text is None and isinstance(assessment.get("issue"), dict):
        return json.dumps(assessment["issue"])
    return text


def aggregate_value(assessment: dict[str, Any]) -> float | None:
    """``assessment_aggregate``: a finite number, a boolean as 1/0, ``"yes"``/``"no"`` as 1/0, else None."""
    body = assessment.get("feedback") or assessment.get("expectation")
    if not isinstance(body, dict) or "serialized_value" in body:
        return None
    value = body.get("value")
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return _finite(value)
    if isinstance(value, str) and value.strip().lower() in ("yes", "no"):
        return 1.0 if value.strip().lower() == "yes" else 0.0
    return None


# ---------------------------------------------------------------------------------------------------------- filters


def _trace_matches(record: TraceRecord, item: MetricsFilter, traces_of_run: Callable[[str], frozenset[str]]) -> bool:
    if item.entity == "status":
        return record.state == item.value
    if item.entity == "tag":
        return record.tags.get(item.key or "") == item.value
    if item.key == TOKEN_USAGE:
        return _analytics_equal(token_columns(record), item.value, TOKEN_METRICS, _token_count)
    if item.key == COST:
        return _analytics_equal(_cost_columns(record), item.value, COST_KEYS, _finite)
    if record.trace_metadata.get(item.key or "") == item.value:
        return True
    return item.key == SOURCE_RUN and record.trace_id in traces_of_run(item.value)


def _analytics_equal(columns: dict[str, Any], value: str, keys: tuple[str, ...], convert: Callable) -> bool:
    """``get_trace_analytics_metadata_filter`` for ``=``: the value must be the canonical JSON of the columns."""
    parsed = _json_object(value)
    if not parsed or not set(parsed) <= set(keys):
        return False
    normalized = {key: converted for key in keys if (converted := convert(parsed.get(key))) is not None}
    return bool(normalized) and value == json.dumps(normalized) and columns == normalized


def _span_matches(span: SpanSummary, item: MetricsFilter) -> bool:
    return {"name": span.name, "type": span.type, "status": span.status}[item.entity] == item.value


def _assessment_matches(assessment: dict[str, Any], item: MetricsFilter) -> bool:
    if item.entity == "name":
        return assessment.get("assessment_name") == item.value
    kind = next((k for k in ("feedback", "expectation", "issue") if k in assessment), None)
    return kind == item.value


# ------------------------------------------------------------------------------------------------------ aggregation


def _aggregate(query: TraceMetricsQuery, rows: list[_Row]) -> list[MetricDataPoint]:
    if query.max_results == 0:
        return []
    if not query.grouped:
        values = _values(query, [r.value for r in rows])
        return [MetricDataPoint(query.metric_name, values)] if values else []
    groups: dict[tuple[Any, ...], list[Any]] = {}
    interval_ms = (query.time_interval_seconds or 0) * 1000
    for row in rows:
        bucket = (row.time_ms // interval_ms * interval_ms,) if interval_ms else ()
        groups.setdefault((*bucket, *row.dimensions), []).append(row.value)
    points = []
    for key in sorted(groups, key=_group_order):
        values = _values(query, groups[key])
        if not values:
            continue
        names = ((TIME_BUCKET,) if interval_ms else ()) + query.dimensions
        dims = {name: _dimension_text(name, part) for name, part in zip(names, key, strict=True)}
        points.append(MetricDataPoint(query.metric_name, values, dims))
    return points[: query.max_results] if query.max_results > 0 else points


def _group_order(key: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((0, part, "") if isinstance(part, int | float) else (1, 0, str(part)) for part in key)


def _dimension_text(name: str, value: Any) -> str:
    if name == TIME_BUCKET:
        return datetime.fromtimestamp(value / 1000.0, UTC).isoformat()
    return str(value)


def _values(query: TraceMetricsQuery, values: list[Any]) -> dict[str, float]:
    out = {}
    for aggregation in query.aggregations:
        result = _apply(aggregation, query.metric_name, values)
        if result is not None:
            out[aggregation.label] = float(result)
    return out


def _apply(aggregation: Aggregation, metric: str, values: list[Any]) -> float | None:
    kind = aggregation.aggregation_type
    if kind == "COUNT":
        return float(len(set(values)) if metric == "session_count" else len(values))
    if not values:
        return None
    if kind == "SUM":
        return float(sum(values))
    if kind == "AVG":
        return sum(values) / len(values)
    if kind == "MIN":
        return float(min(values))
    if kind == "MAX":
        return float(max(values))
    return percentile(values, aggregation.percentile_value or 0.0)


def percentile(values: list[float], percent: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default, the reference's ``percentile``)."""
    ordered = sorted(float(v) for v in values)
    index = percent / 100.0 * (len(ordered) - 1)
    low = int(index)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (index - low) * (ordered[high] - ordered[low])
