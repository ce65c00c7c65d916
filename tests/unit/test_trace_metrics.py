"""``traces/metrics`` over hand-built trace records (in-memory TraceStore): each view's metrics, aggregations,
dimensions, time buckets, filters and the read of only the records in the time range."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stratus.domain.services.traces import TraceService
from stratus.domain.trace_records import SpanSummary, TraceRecord
from stratus.domain.traces import Aggregation, MetricDataPoint, TraceMetricsQuery
from stratus.errors import InvalidParameterValue
from stratus.store.memory import InMemoryTraceStore

COUNT, SUM, AVG, MIN, MAX = (Aggregation(a) for a in ("COUNT", "SUM", "AVG", "MIN", "MAX"))
P50, P90, P99 = (Aggregation("PERCENTILE", p) for p in (50.0, 90.0, 99.0))
DAY = 86_400_000
T0 = 1_796_601_600_000  # 2026-12-07T00:00:00Z


def _usage(inputs: int, outputs: int, **more: int) -> str:
    return json.dumps({"input_tokens": inputs, "output_tokens": outputs, "total_tokens": inputs + outputs, **more})


def _feedback(name: str, value: Any, *, valid: bool = True, kind: str = "feedback") -> dict[str, Any]:
    return {"assessment_id": f"a-{name}-{value}-{valid}", "assessment_name": name, kind: {"value": value},
            "valid": valid}  # fmt: skip


def _span(span_id: str, name: str, type_: str, status: str = "OK", start_ms: int = T0, ms: int = 5, **more: Any):
    return SpanSummary(span_id, name, type_, status, start_ns=start_ms * 1_000_000,
                       end_ns=(start_ms + ms) * 1_000_000 + 999, **more)  # fmt: skip


def _record(trace_id: str, request_time: int, duration: int | None = 10, state: str = "OK", **fields: Any):
    record = TraceRecord(trace_id=trace_id, experiment_id=fields.pop("experiment_id", "1"),
                         request_time=request_time, execution_duration=duration, state=state)  # fmt: skip
    record.tags = {"mlflow.traceName": fields.pop("name", "agent"), **fields.pop("tags", {})}
    for key, value in fields.items():
        setattr(record, key, value)
    return record


@pytest.fixture
def store() -> InMemoryTraceStore:
    store = InMemoryTraceStore()
    records = [
        _record("tr-1", T0 + 1_000, 1, trace_metadata={"mlflow.trace.tokenUsage": _usage(10, 5)},
                spans=[_span("01", "agent", "AGENT", ms=20), _span("02", "search", "TOOL", ms=4),
                       _span("03", "search", "TOOL", "ERROR", ms=8)],
                assessments=[_feedback("relevance", 1), _feedback("relevance", 0.5, valid=False),
                             _feedback("correct", True)]),
        _record("tr-2", T0 + 3_600_000, 32, "ERROR", name="chat",
                trace_metadata={"mlflow.trace.tokenUsage": _usage(20, 7, cache_read_input_tokens=3),
                                "mlflow.trace.session": "s1"},
                spans=[_span("04", "llm", "LLM", ms=30, model_name="gpt", cost={"total_cost": 0.25}),
                       _span("05", "search", "TOOL", ms=6)],
                assessments=[_feedback("relevance", 0), _feedback("correct", "yes"),
                             _feedback("expected", "x", kind="expectation")]),
        _record("tr-3", T0 + DAY + 5, 3, trace_metadata={"mlflow.trace.session": "s1"},
                spans=[_span("06", "llm", "LLM", start_ms=T0 + DAY + 5, model_name="gpt", cost={"total_cost": 0.5})]),
        _record("tr-4", T0 + DAY + 6, None, "IN_PROGRESS", trace_metadata={"mlflow.sourceRun": "run-a"}),
        _record("tr-old", T0 - 10 * DAY, 99, trace_metadata={"mlflow.trace.session": "s0"}),
    ]  # fmt: skip
    for record in records:
        assert store.put(record, previous=None)
    store.link_run("run-a", ["tr-1"])
    return store


def _query(view: str, metric: str, *aggregations: Aggregation, **fields: Any) -> TraceMetricsQuery:
    fields.setdefault("start_time_ms", T0)
    fields.setdefault("end_time_ms", T0 + 7 * DAY)
    return TraceMetricsQuery(("1",), view, metric, aggregations, **fields)


def _points(store: InMemoryTraceStore, query: TraceMetricsQuery) -> list[tuple[dict[str, str], dict[str, float]]]:
    return [(p.dimensions, p.values) for p in TraceService(store).query_metrics(query)]


def test_trace_count_counts_the_traces_in_the_range(store: InMemoryTraceStore) -> None:
    assert _points(store, _query("TRACES", "trace_count", COUNT)) == [({}, {"COUNT": 4.0})]
    assert _points(store, _query("TRACES", "trace_count", COUNT, start_time_ms=None, end_time_ms=None)) == [
        ({}, {"COUNT": 5.0})
    ]


def test_trace_count_by_day_and_status_is_ordered_by_bucket_then_status(store: InMemoryTraceStore) -> None:
    query = _query("TRACES", "trace_count", COUNT, time_interval_seconds=86400, dimensions=("trace_status",))
    assert _points(store, query) == [
        ({"time_bucket": "2026-12-07T00:00:00+00:00", "trace_status": "ERROR"}, {"COUNT": 1.0}),
        ({"time_bucket": "2026-12-07T00:00:00+00:00", "trace_status": "OK"}, {"COUNT": 1.0}),
        ({"time_bucket": "2026-12-08T00:00:00+00:00", "trace_status": "IN_PROGRESS"}, {"COUNT": 1.0}),
        ({"time_bucket": "2026-12-08T00:00:00+00:00", "trace_status": "OK"}, {"COUNT": 1.0}),
    ]


def test_hourly_buckets_are_iso_times_with_utc_offset(store: InMemoryTraceStore) -> None:
    query = _query("TRACES", "trace_count", COUNT, time_interval_seconds=3600, end_time_ms=T0 + DAY - 1)
    assert _points(store, query) == [
        ({"time_bucket": "2026-12-07T00:00:00+00:00"}, {"COUNT": 1.0}),
        ({"time_bucket": "2026-12-07T01:00:00+00:00"}, {"COUNT": 1.0}),
    ]


def test_latency_percentiles_interpolate_linearly_and_skip_unfinished_traces(store: InMemoryTraceStore) -> None:
    query = _query("TRACES", "latency", P50, P90, P99, AVG, MIN, MAX)
    expected = {"P50.0": 3.0, "P90.0": 26.2, "P99.0": 31.42, "AVG": 12.0, "MIN": 1.0, "MAX": 32.0}
    [(dimensions, values)] = _points(store, query)
    assert dimensions == {} and values == pytest.approx(expected) and list(values) == list(expected)


def test_token_sums_and_averages_come_from_the_token_usage_metadata(store: InMemoryTraceStore) -> None:
    assert _points(store, _query("TRACES", "total_tokens", SUM, AVG)) == [({}, {"SUM": 42.0, "AVG": 21.0})]
    assert _points(store, _query("TRACES", "cache_read_input_tokens", SUM)) == [({}, {"SUM": 3.0})]
    by_day = _query("TRACES", "input_tokens", SUM, time_interval_seconds=86400, dimensions=("trace_name",))
    assert _points(store, by_day) == [
        ({"time_bucket": "2026-12-07T00:00:00+00:00", "trace_name": "agent"}, {"SUM": 10.0}),
        ({"time_bucket": "2026-12-07T00:00:00+00:00", "trace_name": "chat"}, {"SUM": 20.0}),
    ]


def test_metrics_with_no_value_in_range_have_no_data_point(store: InMemoryTraceStore) -> None:
    assert _points(store, _query("TRACES", "cache_creation_input_tokens", SUM)) == []
    assert _points(store, _query("TRACES", "trace_count", COUNT, start_time_ms=0, end_time_ms=1)) == [
        ({}, {"COUNT": 0.0})
    ]


def test_session_count_counts_distinct_sessions(store: InMemoryTraceStore) -> None:
    assert _points(store, _query("TRACES", "session_count", COUNT)) == [({}, {"COUNT": 1.0})]
    assert _points(store, _query("TRACES", "session_count", COUNT, start_time_ms=None, end_time_ms=None)) == [
        ({}, {"COUNT": 2.0})
    ]


@pytest.mark.parametrize(
    ("filter_string", "count"),
    [
        ('trace.status = "ERROR"', 1.0),
        ("trace.tag.mlflow.traceName = 'chat'", 1.0),
        ('trace.metadata.`mlflow.trace.session` = "s1"', 2.0),
        ('trace.metadata.`mlflow.sourceRun` = "run-a"', 2.0),  # tr-4 by metadata, tr-1 by a run link
        ('trace.metadata.`mlflow.trace.tokenUsage` = \'{"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}\'',
         1.0),
    ],
)  # fmt: skip
def test_trace_filters_select_traces(store: InMemoryTraceStore, filter_string: str, count: float) -> None:
    assert _points(store, _query("TRACES", "trace_count", COUNT, filters=(filter_string,))) == [({}, {"COUNT": count})]


def test_tool_calls_by_name_and_status(store: InMemoryTraceStore) -> None:
    query = _query(
        "SPANS", "span_count", COUNT, filters=('span.type = "TOOL"',), dimensions=("span_name", "span_status")
    )
    assert _points(store, query) == [
        ({"span_name": "search", "span_status": "ERROR"}, {"COUNT": 1.0}),
        ({"span_name": "search", "span_status": "OK"}, {"COUNT": 2.0}),
    ]


def test_span_latency_is_whole_milliseconds_bucketed_by_span_start(store: InMemoryTraceStore) -> None:
    query = _query("SPANS", "latency", AVG, filters=('span.type = "TOOL"',), dimensions=("span_name",),
                   time_interval_seconds=86400)  # fmt: skip
    assert _points(store, query) == [({"time_bucket": "2026-12-07T00:00:00+00:00", "span_name": "search"},
                                      {"AVG": 6.0})]  # fmt: skip


def test_span_cost_by_model(store: InMemoryTraceStore) -> None:
    query = _query("SPANS", "total_cost", SUM, dimensions=("span_model_name",))
    assert _points(store, query) == [({"span_model_name": "gpt"}, {"SUM": 0.75})]


def test_valid_feedback_counted_by_name_and_value_text(store: InMemoryTraceStore) -> None:
    query = _query("ASSESSMENTS", "assessment_count", COUNT, filters=('assessment.type = "feedback"',),
                   dimensions=("assessment_name", "assessment_value"))  # fmt: skip
    assert _points(store, query) == [
        ({"assessment_name": "correct", "assessment_value": '"yes"'}, {"COUNT": 1.0}),
        ({"assessment_name": "correct", "assessment_value": "true"}, {"COUNT": 1.0}),
        ({"assessment_name": "relevance", "assessment_value": "0.0"}, {"COUNT": 1.0}),
        ({"assessment_name": "relevance", "assessment_value": "1.0"}, {"COUNT": 1.0}),
    ]


def test_assessment_values_average_booleans_and_yes_no_as_ones_and_zeros(store: InMemoryTraceStore) -> None:
    query = _query("ASSESSMENTS", "assessment_value", AVG, filters=('assessment.type = "feedback"',),
                   dimensions=("assessment_name",), time_interval_seconds=86400)  # fmt: skip
    assert _points(store, query) == [
        ({"time_bucket": "2026-12-07T00:00:00+00:00", "assessment_name": "correct"}, {"AVG": 1.0}),
        ({"time_bucket": "2026-12-07T00:00:00+00:00", "assessment_name": "relevance"}, {"AVG": 0.5}),
    ]


def test_max_results_cuts_after_ordering(store: InMemoryTraceStore) -> None:
    query = _query("TRACES", "trace_count", COUNT, dimensions=("trace_status",), max_results=1)
    assert _points(store, query) == [({"trace_status": "ERROR"}, {"COUNT": 1.0})]


@pytest.mark.parametrize(
    ("view", "metric", "aggregation", "filter_string", "message"),
    [
        ("TRACES", "trace_count", COUNT, 'span.type = "TOOL"',
         "Filtering by span is only supported for SPANS view type, got TRACES"),
        ("SPANS", "span_count", COUNT, 'assessment.name = "x"',
         "Filtering by assessment is only supported for ASSESSMENTS view type, got SPANS"),
        ("TRACES", "trace_count", COUNT, "trace.status != 'OK'", "Invalid comparator: '!=', only '=' operator is"),
        ("TRACES", "trace_count", COUNT, "trace.status = 'OK' AND trace.status = 'OK'", "Invalid clause(s) in filter"),
    ],
)  # fmt: skip
def test_bad_filters_are_refused_with_the_reference_words(
    store: InMemoryTraceStore, view: str, metric: str, aggregation: Aggregation, filter_string: str, message: str
) -> None:
    with pytest.raises(InvalidParameterValue) as raised:
        TraceService(store).query_metrics(_query(view, metric, aggregation, filters=(filter_string,)))
    assert raised.value.message.startswith(message)


class _CountingStore(InMemoryTraceStore):
    def __init__(self) -> None:
        super().__init__()
        self.pages: list[str | None] = []

    def page(self, experiment_id: str, *, descending: bool, start_after: str | None, limit: int):  # type: ignore[override]
        self.pages.append(start_after)
        return super().page(experiment_id, descending=descending, start_after=start_after, limit=limit)


def test_a_time_range_reads_from_its_start_and_stops_past_its_end() -> None:
    store = _CountingStore()
    for i in range(2_000):
        assert store.put(_record(f"tr-{i:04d}", T0 + i * 1000), previous=None)
    query = _query("TRACES", "trace_count", COUNT, start_time_ms=T0 + 1_500_000, end_time_ms=T0 + 1_509_000)
    assert TraceService(store).query_metrics(query) == [MetricDataPoint("trace_count", {"COUNT": 10.0})]
    assert len(store.pages) == 1 and store.pages[0] is not None and store.pages[0] < f"T#{T0 + 1_500_000:013d}#"
