"""The rules of a trace metrics query (what the web UI's Overview dashboards ask ``traces/metrics``): which metrics,
aggregations and dimensions each view offers, and the reference's checks. The computation is
:mod:`stratus.domain.trace_metrics`.

The metrics, aggregations and dimensions each view offers are mlflow 3.17.2's (``TRACES_METRICS_CONFIGS`` and its
siblings in ``store/tracking/utils/sql_trace_metrics_utils.py``), in its order, which its messages show.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stratus.errors import InvalidParameterValue

VIEW_TYPES = ("TRACES", "SPANS", "ASSESSMENTS")
"""``MetricViewType``, in proto order (a request may name one by its number, from 1)."""
AGGREGATION_TYPES = ("COUNT", "SUM", "AVG", "PERCENTILE", "MIN", "MAX")
"""``AggregationType``, in proto order."""
DEFAULT_MAX_RESULTS = 1000
"""``MAX_RESULTS_QUERY_TRACE_METRICS``, also the proto default of ``QueryTraceMetrics.max_results``."""
NO_COLUMNS = "Query contains no columns with which to SELECT from."
"""The reference's answer (BAD_REQUEST, from its SQL layer) to a query with neither aggregations nor grouping."""


@dataclass(frozen=True)
class MetricRule:
    """What one metric of a view may be aggregated with and grouped by."""

    aggregations: frozenset[str]
    dimensions: frozenset[str]


_COUNT = frozenset({"COUNT"})
_SPREAD = frozenset({"AVG", "MIN", "MAX", "PERCENTILE"})
_AMOUNT = _SPREAD | {"SUM"}
_BY_TRACE_NAME = frozenset({"trace_name"})
_BY_MODEL = frozenset({"span_model_name", "span_model_provider"})

METRICS: dict[str, dict[str, MetricRule]] = {
    "TRACES": {
        "trace_count": MetricRule(_COUNT, frozenset({"trace_name", "trace_status"})),
        "session_count": MetricRule(_COUNT, frozenset()),
        "latency": MetricRule(_SPREAD, _BY_TRACE_NAME),
        "input_tokens": MetricRule(_AMOUNT, _BY_TRACE_NAME),
        "output_tokens": MetricRule(_AMOUNT, _BY_TRACE_NAME),
        "total_tokens": MetricRule(_AMOUNT, _BY_TRACE_NAME),
        "cache_read_input_tokens": MetricRule(_AMOUNT, _BY_TRACE_NAME),
        "cache_creation_input_tokens": MetricRule(_AMOUNT, _BY_TRACE_NAME),
    },
    "SPANS": {
        "span_count": MetricRule(
            _COUNT, frozenset({"span_name", "span_type", "span_status", "span_model_name", "span_model_provider"})
        ),
        "latency": MetricRule(_SPREAD, frozenset({"span_name", "span_status"})),
        "input_cost": MetricRule(_AMOUNT, _BY_MODEL),
        "output_cost": MetricRule(_AMOUNT, _BY_MODEL),
        "total_cost": MetricRule(_AMOUNT, _BY_MODEL),
    },
    "ASSESSMENTS": {
        "assessment_count": MetricRule(_COUNT, frozenset({"assessment_name", "assessment_value"})),
        "assessment_value": MetricRule(_SPREAD, frozenset({"assessment_name"})),
    },
}


@dataclass(frozen=True)
class Aggregation:
    """``MetricAggregation``: a percentile names its value (0 to 100), no other aggregation does. The reference checks
    this when it reads the request and answers a 500; Stratus answers the same words as a 400."""

    aggregation_type: str
    percentile_value: float | None = None

    def __post_init__(self) -> None:
        if self.aggregation_type == "PERCENTILE":
            if self.percentile_value is None:
                raise InvalidParameterValue("Percentile value is required for PERCENTILE aggregation")
            if not 0 <= self.percentile_value <= 100:
                raise InvalidParameterValue(f"Percentile value must be between 0 and 100, got {self.percentile_value}")
        elif self.percentile_value is not None:
            raise InvalidParameterValue(
                f"Percentile value is only allowed for PERCENTILE aggregation type, got {self.aggregation_type}"
            )

    @property
    def label(self) -> str:
        """The key of this aggregation's value in a data point (``COUNT``, ``P50.0``)."""
        return f"P{self.percentile_value}" if self.aggregation_type == "PERCENTILE" else self.aggregation_type


@dataclass(frozen=True)
class TraceMetricsQuery:
    """``QueryTraceMetrics``: one metric of a view, aggregated, optionally bucketed by time and grouped by dimensions.
    ``filters`` are kept as given (:mod:`stratus.domain.search.trace_metrics` parses them)."""

    experiment_ids: tuple[str, ...]
    view_type: str
    metric_name: str
    aggregations: tuple[Aggregation, ...]
    dimensions: tuple[str, ...] = ()
    filters: tuple[str, ...] = ()
    time_interval_seconds: int | None = None
    start_time_ms: int | None = None
    end_time_ms: int | None = None
    max_results: int = DEFAULT_MAX_RESULTS

    @property
    def grouped(self) -> bool:
        """Whether the answer has one data point per group (time bucket, dimension values) rather than one in all."""
        return bool(self.time_interval_seconds) or bool(self.dimensions)


@dataclass(frozen=True)
class MetricDataPoint:
    """One group's aggregated values, keyed by :attr:`Aggregation.label`."""

    metric_name: str
    values: dict[str, float]
    dimensions: dict[str, str] = field(default_factory=dict)


def check_metrics_query(query: TraceMetricsQuery) -> None:
    """The reference's ``validate_query_trace_metrics_params`` and the time range check, with its messages and in
    its order: the metric (for the view), the aggregations, the dimensions, then the range a time bucket needs."""
    rules = METRICS[query.view_type]
    rule = rules.get(query.metric_name)
    if rule is None:
        raise InvalidParameterValue(f"metric_name must be one of {list(rules)}, got '{query.metric_name}'")
    if invalid := {a.aggregation_type for a in query.aggregations} - rule.aggregations:
        raise InvalidParameterValue(
            f"Found invalid aggregation_type(s): {sorted(invalid)}. Supported aggregation types: "
            f"{sorted(rule.aggregations)}"
        )
    if invalid := set(query.dimensions) - rule.dimensions:
        raise InvalidParameterValue(
            f"Found invalid dimension(s): {sorted(invalid)}. Supported dimensions: {sorted(rule.dimensions)}"
        )
    if query.time_interval_seconds and (query.start_time_ms is None or query.end_time_ms is None):
        raise InvalidParameterValue("start_time_ms and end_time_ms are required if time_interval_seconds is set")
