"""The GenAI reads of a server that stores no traces yet: trace metric queries answer what the reference's SQL answers
over no rows, after its checks; searches check their arguments and find nothing; every prefix the reference serves
them under is routed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stratus.api.app import build_traces_api
from stratus.domain.services.assessments import TraceWriteService
from stratus.domain.services.datasets import EvaluationDatasetService
from stratus.domain.services.experiments import ExperimentService
from stratus.domain.services.trace_search import TraceSearchService
from stratus.domain.services.traces import TraceService
from stratus.domain.traces import Aggregation, MetricDataPoint, TraceMetricsQuery
from stratus.errors import BadRequest, InvalidParameterValue
from stratus.store.memory import InMemoryDatasetStore, InMemorySpanStore, InMemoryTraceStore, InMemoryTrackingStore

COUNT, AVG = Aggregation("COUNT"), Aggregation("AVG")
P50 = Aggregation("PERCENTILE", 50.0)


def _query(metric: str = "trace_count", *aggregations: Aggregation, **fields: Any) -> TraceMetricsQuery:
    view_type = fields.pop("view_type", "TRACES")
    return TraceMetricsQuery(("1",), view_type, metric, aggregations or (COUNT,), **fields)


def test_an_ungrouped_count_of_no_traces_is_one_data_point_of_zero() -> None:
    assert TraceService(InMemoryTraceStore()).query_metrics(_query()) == [
        MetricDataPoint("trace_count", {"COUNT": 0.0})
    ]


@pytest.mark.parametrize(
    "query",
    [
        _query(time_interval_seconds=86400, start_time_ms=0, end_time_ms=1),
        _query(dimensions=("trace_status",)),
        _query("latency", AVG),
        _query("latency", P50),
        _query(max_results=0),
    ],
    ids=["by time bucket", "by dimension", "average", "percentile", "max_results 0"],
)
def test_grouped_or_non_count_metrics_of_no_traces_have_no_data_point(query: TraceMetricsQuery) -> None:
    assert TraceService(InMemoryTraceStore()).query_metrics(query) == []


def test_a_negative_max_results_is_no_limit_as_in_sqlite() -> None:
    assert TraceService(InMemoryTraceStore()).query_metrics(_query(max_results=-1)) == [
        MetricDataPoint("trace_count", {"COUNT": 0.0})
    ]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (_query("span_count"), "metric_name must be one of ['trace_count', 'session_count', 'latency', "),
        (_query("trace_count", AVG), "Found invalid aggregation_type(s): ['AVG']. Supported aggregation types: "),
        (_query(dimensions=("span_name", "aaa")), "Found invalid dimension(s): ['aaa', 'span_name']. Supported "),
        (_query(time_interval_seconds=60, start_time_ms=0), "start_time_ms and end_time_ms are required if "),
        (TraceMetricsQuery(("x",), "TRACES", "trace_count", (COUNT,)), "Invalid experiment ID 'x'."),
    ],
    ids=["metric of another view", "aggregation", "dimensions", "time range", "experiment id"],
)
def test_a_metrics_query_is_checked_as_the_reference_checks_it(query: TraceMetricsQuery, message: str) -> None:
    with pytest.raises(InvalidParameterValue) as raised:
        TraceService(InMemoryTraceStore()).query_metrics(query)
    assert raised.value.message.startswith(message)


def test_a_query_with_nothing_to_select_is_a_bad_request() -> None:
    with pytest.raises(BadRequest):
        TraceService(InMemoryTraceStore()).query_metrics(TraceMetricsQuery(("1",), "TRACES", "trace_count", ()))


@pytest.mark.parametrize(
    ("aggregation_type", "percentile", "message"),
    [
        ("PERCENTILE", None, "Percentile value is required for PERCENTILE aggregation"),
        ("PERCENTILE", 100.5, "Percentile value must be between 0 and 100, got 100.5"),
        ("AVG", 50.0, "Percentile value is only allowed for PERCENTILE aggregation type, got AVG"),
    ],
)
def test_only_a_percentile_names_a_value_from_0_to_100(
    aggregation_type: str, percentile: float | None, message: str
) -> None:
    with pytest.raises(InvalidParameterValue, match=message):
        Aggregation(aggregation_type, percentile)


def test_a_percentile_is_labelled_by_its_value() -> None:
    assert (P50.label, COUNT.label) == ("P50.0", "COUNT")


@pytest.mark.parametrize(
    ("max_results", "experiment_ids", "page_token", "message"),
    [
        (0, ["1"], None, "Invalid value 0 for parameter 'max_results' supplied. It must be a positive integer"),
        (10, ["1", "abc"], None, "Invalid experiment ID 'abc'. Experiment ID must be a valid integer."),
        (10, ["1"], "abc", "Invalid page token, could not base64-decode"),
    ],
)
def test_a_trace_search_checks_its_arguments(
    max_results: int, experiment_ids: list[str], page_token: str | None, message: str
) -> None:
    with pytest.raises(InvalidParameterValue) as raised:
        TraceService().search(experiment_ids, max_results, page_token)
    assert raised.value.message == message


def test_a_trace_search_finds_nothing() -> None:
    assert TraceService().search(["1", "2"], 100, None) == []


@pytest.mark.parametrize(
    ("max_results", "message"),
    [
        (0, "Invalid value None for parameter 'max_results' supplied. It must be a positive integer"),
        (50001, "Invalid value 50001 for parameter 'max_results' supplied. It must be at most 50000"),
    ],
)
def test_a_dataset_search_checks_max_results_as_the_reference(max_results: int, message: str) -> None:
    with pytest.raises(InvalidParameterValue) as raised:
        EvaluationDatasetService(InMemoryDatasetStore(), ExperimentService(InMemoryTrackingStore(), "")).search(
            [], None, max_results, [], None
        )
    assert raised.value.message == message


# ---------------------------------------------------------------- through the UI function's resolver


def _event(method: str, path: str, body: dict[str, Any] | None, query: str = "") -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": method, "path": path}, "stage": "$default"},
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


COUNT_QUERY = {"experiment_ids": ["1"], "view_type": "TRACES", "metric_name": "trace_count", "aggregations": [{}]}


def _api() -> Any:
    """The TracesFunction's resolver over empty in-memory stores."""
    traces, spans = InMemoryTraceStore(), InMemorySpanStore()
    return build_traces_api(
        TraceService(traces, spans),
        TraceSearchService(traces, spans),
        TraceWriteService(traces, spans),
        EvaluationDatasetService(
            InMemoryDatasetStore(), ExperimentService(InMemoryTrackingStore(), "mlflow-artifacts:")
        ),
    )


@pytest.mark.parametrize(
    ("method", "path", "body", "query", "expected"),
    [
        ("POST", "/ajax-api/3.0/mlflow/traces/metrics", COUNT_QUERY, "",
         {"data_points": [{"metric_name": "trace_count", "values": {"COUNT": 0.0}}]}),
        ("POST", "/api/3.0/mlflow/traces/metrics", {**COUNT_QUERY, "dimensions": ["trace_name"]}, "", {}),
        ("POST", "/ajax-api/3.0/mlflow/traces/search", {"locations": []}, "", {}),
        ("POST", "/api/3.0/mlflow/traces/search", {"locations": [{"mlflow_experiment": {"experiment_id": "1"}}]},
         "", {}),
        ("GET", "/api/2.0/mlflow/traces", None, "experiment_ids=1&experiment_ids=2", {}),
        ("GET", "/ajax-api/2.0/mlflow/traces", None, "experiment_ids=1", {}),
        ("POST", "/api/3.0/mlflow/datasets/search", {"experiment_ids": ["0"]}, "", {}),
        ("GET", "/ajax-api/3.0/mlflow/datasets/search", None, "experiment_ids=0", {}),
    ],
)  # fmt: skip
def test_the_reads_are_served_under_each_prefix_of_the_reference(
    method: str, path: str, body: dict[str, Any] | None, query: str, expected: dict[str, Any]
) -> None:
    answer = _api().resolve(_event(method, path, body, query), None)

    assert (answer["statusCode"], json.loads(answer["body"])) == (200, expected)


def test_a_bad_request_names_the_field_in_the_reference_words() -> None:
    body = {**COUNT_QUERY, "experiment_ids": [1]}
    answer = _api().resolve(_event("POST", "/api/3.0/mlflow/traces/metrics", body), None)

    assert answer["statusCode"] == 400
    assert json.loads(answer["body"])["message"].startswith(
        "Invalid value [1] for parameter 'experiment_ids' supplied:  Hint: Value was of type 'list'."
    )
