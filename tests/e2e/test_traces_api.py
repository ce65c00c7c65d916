"""Differential test of the GenAI reads for an experiment with only classic runs logged: trace searches (API 3.0 and
the legacy ``GET /api/2.0/mlflow/traces``), ``traces/metrics`` and evaluation dataset searches, over raw HTTP, to the
reference ``mlflow server`` and to ``stratus local``, under ``/api`` and ``/ajax-api`` as each is served.

The experiment has no traces or datasets, so these reads find none on either server (traces written by the client:
test_tracing_client.py; datasets: test_evaluation_datasets_reference.py). The requests are the ones the 3.17.2 web
UI sends from the experiment's pages (every chart of the GenAI Overview's three tabs, the Traces, Judges and Datasets
pages), then the reference's checks of what is sent. What is compared per request: the HTTP status and the JSON
body, without the reference's newer ``sqlstate`` and ``error_class``. Known differences (the reference's 500s) are
checked on their own below; not compared here: the trace and dataset filter and ``order_by`` grammars
(test_trace_search.py, test_evaluation_datasets_reference.py).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import mlflow
import pytest
import requests
from differential import assert_same_answers

TIMEOUT = 30
DAY_MS = 86_400_000
UNKNOWN_EXPERIMENT = "987654321"
NOT_COMPARED = ("sqlstate", "error_class")
V3, AJAX_V3 = "/api/3.0/mlflow", "/ajax-api/3.0/mlflow"


@dataclass
class Side:
    base: str
    experiment_id: str = ""

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> requests.Response:
        if method == "GET":
            return requests.get(f"{self.base}{path}", params=body, timeout=TIMEOUT)
        return requests.request(method, f"{self.base}{path}", json=body, timeout=TIMEOUT)

    def answer(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        response = self.call(method, path, body)
        try:
            answer = response.json()
        except ValueError:
            return response.status_code, response.text[:40]
        if isinstance(answer, dict):
            answer = {k: v for k, v in answer.items() if k not in NOT_COMPARED}
        return response.status_code, answer


def _sides(reference_uri: str, tracking_uri: str) -> tuple[Side, Side]:
    """A new experiment on each server with one classic run in it (a param and a metric), as a new user logs."""
    sides = (Side(reference_uri), Side(tracking_uri))
    name = f"genai-reads-{uuid.uuid4().hex[:8]}"
    for side in sides:
        created = side.call("POST", "/api/2.0/mlflow/experiments/create", {"name": name})
        assert created.status_code == 200, created.text
        side.experiment_id = created.json()["experiment_id"]
        run_id = side.call("POST", "/api/2.0/mlflow/runs/create", {"experiment_id": side.experiment_id}).json()
        run_id = run_id["run"]["info"]["run_id"]
        metric = {"run_id": run_id, "key": "loss", "value": 0.5, "timestamp": 1, "step": 0}
        assert side.call("POST", "/api/2.0/mlflow/runs/log-metric", metric).status_code == 200
    return sides


COUNT, SUM, AVG, MIN, MAX = ([{"aggregation_type": kind}] for kind in ("COUNT", "SUM", "AVG", "MIN", "MAX"))
PERCENTILES = [{"aggregation_type": "PERCENTILE", "percentile_value": p} for p in (50, 90, 99)]
TOOL_SPANS = ['span.type = "TOOL"']
FEEDBACK = ['assessment.type = "feedback"']


def _query(view_type: str | int, metric_name: str, aggregations: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"view_type": view_type, "metric_name": metric_name, "aggregations": aggregations, **extra}


def _overview_queries(now: int) -> list[tuple[str, dict[str, Any]]]:
    """Every ``traces/metrics`` body of the Overview's Usage, Quality and Tool calls tabs and of the Traces page, as
    the UI sends them (without ``experiment_ids``), for the last 7 days by day."""
    since = {"start_time_ms": now - 7 * DAY_MS, "end_time_ms": now}
    by_day = {**since, "time_interval_seconds": 86400}
    tokens = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
    return [
        (
            "usage: traces by day and status",
            _query("TRACES", "trace_count", COUNT, **by_day, dimensions=["trace_status"]),
        ),
        ("usage: latency percentiles by day", _query("TRACES", "latency", PERCENTILES, **by_day)),
        ("usage: latency average", _query("TRACES", "latency", AVG, **since)),
        *((f"usage: {metric} by day", _query("TRACES", metric, SUM, **by_day)) for metric in tokens),
        ("usage: total tokens", _query("TRACES", "total_tokens", SUM + AVG, **since)),
        ("usage: total tokens percentiles by day", _query("TRACES", "total_tokens", PERCENTILES, **by_day)),
        ("usage: cost by model", _query("SPANS", "total_cost", SUM, **since, dimensions=["span_model_name"])),
        ("usage: cost by model by day", _query("SPANS", "total_cost", SUM, **by_day, dimensions=["span_model_name"])),
        (
            "quality: feedback average by name by day",
            _query("ASSESSMENTS", "assessment_value", AVG, **by_day, filters=FEEDBACK, dimensions=["assessment_name"]),
        ),
        (
            "quality: feedback count by name and value",
            _query(
                "ASSESSMENTS",
                "assessment_count",
                COUNT,
                **since,
                filters=FEEDBACK,
                dimensions=["assessment_name", "assessment_value"],
            ),
        ),
        (
            "tool calls: count by name and status",
            _query("SPANS", "span_count", COUNT, **since, filters=TOOL_SPANS, dimensions=["span_name", "span_status"]),
        ),
        ("tool calls: latency", _query("SPANS", "latency", AVG, **since, filters=TOOL_SPANS)),
        (
            "tool calls: latency by name",
            _query("SPANS", "latency", AVG, **since, filters=TOOL_SPANS, dimensions=["span_name"]),
        ),
        (
            "tool calls: count by name by day",
            _query("SPANS", "span_count", COUNT, **by_day, filters=TOOL_SPANS, dimensions=["span_name"]),
        ),
        (
            "tool calls: latency by name by day",
            _query("SPANS", "latency", AVG, **by_day, filters=TOOL_SPANS, dimensions=["span_name"]),
        ),
        ("traces page: count", _query("TRACES", "trace_count", COUNT, **since)),
    ]


def _metrics_checks() -> list[tuple[str, dict[str, Any]]]:
    """The reference's checks of a ``traces/metrics`` request, and what it answers without any trace."""
    base = _query("TRACES", "trace_count", COUNT)
    return [
        ("count, no time range", base),
        ("count, time interval 0", {**base, "time_interval_seconds": 0}),
        ("count, max_results 0", {**base, "max_results": 0}),
        ("count, max_results -1", {**base, "max_results": -1}),
        ("count, max_results as a string", {**base, "max_results": "5"}),
        ("count twice", {**base, "aggregations": COUNT + COUNT}),
        ("session count", {**base, "metric_name": "session_count"}),
        ("span count", _query("SPANS", "span_count", COUNT)),
        ("span count, view type by number", _query(2, "span_count", COUNT)),
        ("assessment count", _query("ASSESSMENTS", "assessment_count", COUNT)),
        ("latency minimum and maximum", _query("TRACES", "latency", MIN + MAX)),
        ("unknown view type reads as TRACES", {**base, "view_type": "RUNS"}),
        ("unknown aggregation reads as COUNT", {**base, "aggregations": [{"aggregation_type": "MEDIAN"}]}),
        ("aggregation without type reads as COUNT", {**base, "aggregations": [{}]}),
        ("page token is ignored", {**base, "page_token": "abc"}),
        ("interval without time range", {**base, "time_interval_seconds": 3600}),
        ("interval with start only", {**base, "time_interval_seconds": 3600, "start_time_ms": 1}),
        ("unknown metric", {**base, "metric_name": "nope"}),
        ("metric of another view", {**base, "metric_name": "span_count"}),
        ("metric of another view by number", {**base, "view_type": 3}),
        ("aggregation the metric lacks", {**base, "aggregations": SUM}),
        ("two aggregations the metric lacks", _query("TRACES", "latency", SUM + COUNT)),
        ("dimension of another view", {**base, "dimensions": ["span_name"]}),
        ("unknown dimensions", {**base, "dimensions": ["zzz", "aaa", "trace_name"]}),
        ("no aggregation, ungrouped", {**base, "aggregations": []}),
        ("no aggregation, grouped", {**base, "aggregations": [], "dimensions": ["trace_name"]}),
        ("dimensions not a list", {**base, "dimensions": "trace_name"}),
        ("dimension not a string", {**base, "dimensions": [5]}),
        ("filters not a list", {**base, "filters": "trace.status = 'OK'"}),
        ("aggregations not a list", {**base, "aggregations": {"aggregation_type": "COUNT"}}),
        ("metric name not a string", {**base, "metric_name": 5}),
        ("max_results not a number", {**base, "max_results": "abc"}),
        ("start time not a number", {**base, "start_time_ms": "abc"}),
        ("without view type", {k: v for k, v in base.items() if k != "view_type"}),
        ("empty view type", {**base, "view_type": ""}),
        ("without metric name", {k: v for k, v in base.items() if k != "metric_name"}),
        ("without aggregations", {k: v for k, v in base.items() if k != "aggregations"}),
    ]


def _scenario(side: Side, now: int) -> list[tuple[str, tuple[int, Any]]]:
    exp = side.experiment_id
    out: list[tuple[str, tuple[int, Any]]] = []

    def send(label: str, method: str, path: str, body: dict[str, Any] | None = None) -> None:
        out.append((label, side.answer(method, path, body)))

    for label, query in _overview_queries(now):
        send(f"metrics: {label}", "POST", f"{AJAX_V3}/traces/metrics", {"experiment_ids": [exp], **query})
    for label, query in _metrics_checks():
        send(f"metrics: {label}", "POST", f"{V3}/traces/metrics", {"experiment_ids": [exp], **query})
    count = _query("TRACES", "trace_count", COUNT)
    experiments = {"several": [exp, UNKNOWN_EXPERIMENT], "none": [], "non-integer": ["abc"], "not a list": "1"}
    for label, ids in {**experiments, "not strings": [1]}.items():
        send(f"metrics: experiments {label}", "POST", f"{V3}/traces/metrics", {**count, "experiment_ids": ids})
    send("metrics: without experiments", "POST", f"{V3}/traces/metrics", count)
    send("metrics: empty body", "POST", f"{V3}/traces/metrics", {})

    here = [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp}}]
    window = f"attributes.timestamp_ms > {now - 7 * DAY_MS} AND attributes.timestamp_ms < {now}"
    ui_search = {"locations": here, "filter": window, "max_results": 25, "order_by": ["timestamp DESC"]}
    send("search: traces page", "POST", f"{AJAX_V3}/traces/search", ui_search)
    send("search: traces page, API", "POST", f"{V3}/traces/search", ui_search)
    judges_search = {"locations": [], "max_results": 1, "order_by": ["timestamp DESC"]}
    send("search: judges page", "POST", f"{AJAX_V3}/traces/search", judges_search)
    for label, body in (
        ("client default", {"locations": here}),
        ("unknown experiment", {"locations": [{"mlflow_experiment": {"experiment_id": UNKNOWN_EXPERIMENT}}]}),
        ("location without experiment", {"locations": [{"type": "MLFLOW_EXPERIMENT"}]}),
        ("Unity Catalog location", {"locations": [{"type": "UC_SCHEMA", "uc_schema": {"catalog_name": "c"}}]}),
        ("max_results 500", {"locations": here, "max_results": 500}),
        ("max_results 501", {"locations": here, "max_results": 501}),
        ("max_results 0", {"locations": here, "max_results": 0}),
        ("max_results -1", {"locations": here, "max_results": -1}),
        ("max_results not a number", {"locations": here, "max_results": "abc"}),
        ("filter not a string", {"locations": here, "filter": 5}),
        ("order_by not a list", {"locations": here, "order_by": "timestamp DESC"}),
        ("page token not base64", {"locations": here, "page_token": "abc"}),
        ("page token not JSON", {"locations": here, "page_token": "Zm9v"}),
        ("page token not a string", {"locations": here, "page_token": 5}),
        # a location of an experiment neither server has: the message quotes it, and the servers' ids differ
        ("locations not a list", {"locations": {"mlflow_experiment": {"experiment_id": UNKNOWN_EXPERIMENT}}}),
        ("without locations", {"max_results": 1}),
    ):
        send(f"search: {label}", "POST", f"{V3}/traces/search", body)

    for label, params in (
        ("experiment", {"experiment_ids": exp}),
        ("two experiments", {"experiment_ids": [exp, UNKNOWN_EXPERIMENT], "max_results": 10}),
        ("max_results 501", {"experiment_ids": exp, "max_results": 501}),
        ("max_results 0", {"experiment_ids": exp, "max_results": 0}),
        ("max_results not a number", {"experiment_ids": exp, "max_results": "abc"}),
        ("page token", {"experiment_ids": exp, "page_token": "abc"}),
        ("without experiment", None),
    ):
        send(f"legacy listing: {label}", "GET", "/api/2.0/mlflow/traces", params)
    send("legacy listing: ajax", "GET", "/ajax-api/2.0/mlflow/traces", {"experiment_ids": exp})

    for page, max_results in (("traces", 50), ("datasets", 20)):
        body = {"experiment_ids": [exp], "order_by": ["created_time DESC"], "max_results": max_results}
        send(f"datasets: {page} page", "POST", f"{AJAX_V3}/datasets/search", body)
    send("datasets: GET", "GET", f"{V3}/datasets/search", {"experiment_ids": exp})
    send("datasets: GET, ajax", "GET", f"{AJAX_V3}/datasets/search", {"experiment_ids": exp})
    for label, body in (
        ("client default", {"experiment_ids": [exp], "filter_string": f"created_time >= {now - DAY_MS}"}),
        # every experiment's datasets, narrowed to a name none has: other tests of the session store datasets
        ("every experiment", {"filter_string": "name = 'no dataset has this name'"}),
        ("unknown and non-integer experiments", {"experiment_ids": [UNKNOWN_EXPERIMENT, "abc"]}),
        ("experiments not a list", {"experiment_ids": "1"}),
        ("filter not a string", {"filter_string": 5}),
        ("order_by not a list", {"order_by": "created_time DESC"}),
        ("max_results 0", {"max_results": 0}),
        ("max_results -1", {"max_results": -1}),
        ("max_results 50001", {"max_results": 50001}),
        ("max_results not a number", {"max_results": "abc"}),
        ("page token not base64", {"page_token": "abc"}),
        ("page token without offset", {"page_token": "e30="}),
    ):
        send(f"datasets: {label}", "POST", f"{V3}/datasets/search", body)
    return out


def test_genai_reads_answer_as_the_reference_for_an_experiment_without_traces(
    reference_uri: str, tracking_uri: str
) -> None:
    reference, stratus = _sides(reference_uri, tracking_uri)
    now = int(time.time() * 1000)
    assert_same_answers(_scenario(reference, now), _scenario(stratus, now))


def _error_code(response: requests.Response) -> str | None:
    try:
        return response.json().get("error_code")
    except ValueError:
        return None


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/traces/metrics", {"aggregations": [{"aggregation_type": "PERCENTILE"}]}),
        ("/traces/metrics", {"aggregations": [{"aggregation_type": "PERCENTILE", "percentile_value": 150}]}),
        ("/traces/metrics", {"aggregations": [{"aggregation_type": "AVG", "percentile_value": 50}]}),
        ("/traces/search", {"locations": [{"mlflow_experiment": {"experiment_id": "abc"}}]}),
    ],
)
def test_bad_argument_is_a_400_where_the_reference_fails_with_500(
    reference_uri: str, tracking_uri: str, path: str, body: dict[str, Any]
) -> None:
    """Known difference: the reference's ``MetricAggregation`` check and its ``int()`` of a location's experiment id
    raise unhandled (a 500, which the client retries for minutes); Stratus answers INVALID_PARAMETER_VALUE."""
    latency = {"experiment_ids": ["1"], "view_type": "TRACES", "metric_name": "latency"}
    request = {**latency, **body} if path == "/traces/metrics" else body
    reference, stratus = Side(reference_uri), Side(tracking_uri)

    assert reference.call("POST", f"{V3}{path}", request).status_code == 500
    answer = stratus.call("POST", f"{V3}{path}", request)
    assert (answer.status_code, _error_code(answer)) == (400, "INVALID_PARAMETER_VALUE")


def test_the_legacy_listing_refuses_a_non_integer_experiment_where_the_reference_fails_with_500(
    reference_uri: str, tracking_uri: str
) -> None:
    params = {"experiment_ids": "abc"}
    assert Side(reference_uri).call("GET", "/api/2.0/mlflow/traces", params).status_code == 500
    answer = Side(tracking_uri).call("GET", "/api/2.0/mlflow/traces", params)
    assert (answer.status_code, _error_code(answer)) == (400, "INVALID_PARAMETER_VALUE")


def test_the_stock_client_finds_no_traces_and_no_datasets(tracking_uri: str) -> None:
    from mlflow.genai.datasets import search_datasets

    # created, not set as the active experiment: later tests' runs belong to experiments of their own
    experiment_id = mlflow.MlflowClient(tracking_uri).create_experiment(f"genai-client-{uuid.uuid4().hex[:8]}")

    assert mlflow.search_traces(locations=[experiment_id]).empty
    assert mlflow.MlflowClient().search_traces(locations=[experiment_id]) == []
    assert list(search_datasets(experiment_ids=[experiment_id])) == []


def test_the_legacy_trace_write_is_not_accepted(tracking_uri: str) -> None:
    """The legacy StartTrace, which Stratus does not serve, is refused, never answered as if stored
    (test_tracing_client.py covers StartTraceV3 and /v1/traces; test_genai_datasets_client.py the dataset writes)."""
    answer = requests.post(f"{tracking_uri}/api/2.0/mlflow/traces", json={}, timeout=TIMEOUT)
    assert (answer.status_code, _error_code(answer)) == (404, "ENDPOINT_NOT_FOUND")
