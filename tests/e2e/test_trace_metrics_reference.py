"""Differential test of ``traces/metrics``: the same stock-client script logs traces (an agent with LLM and TOOL
spans carrying token usage, a failing tool, a RAG chain, a trace inside a run, one linked to it) and feedback on the
reference ``mlflow server`` and on ``stratus local``, then the exact requests the 3.17.2 web UI's Overview (Usage,
Quality, Tool calls), Traces tab and run page send (captured in ``/tmp/ref/log_ui*.jsonl``) go to both, with the
range the UI sends (the last 7 days up to now), and the answers are compared.

Times differ between the servers: time buckets are compared by their order (B0, B1, ...), and the values of latency
metrics (wall-clock durations) only by their presence.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from typing import Any

import mlflow
import pytest
import requests
from mlflow.entities import AssessmentSource, SpanType

TIMEOUT = 30
METRICS = "/ajax-api/3.0/mlflow/traces/metrics"
WEEK_MS = 7 * 86_400_000

# The UI's requests, as recorded ("RANGE": the UI adds start_time_ms/end_time_ms = now - 7 days .. now).
UI_REQUESTS: list[dict[str, Any]] = [
    {
        "view_type": "TRACES",
        "metric_name": "trace_count",
        "aggregations": [{"aggregation_type": "COUNT"}],
        "time_interval_seconds": 86400,
        "dimensions": ["trace_status"],
        "RANGE": True,
    },
    {
        "view_type": "TRACES",
        "metric_name": "total_tokens",
        "aggregations": [
            {"aggregation_type": "PERCENTILE", "percentile_value": 50},
            {"aggregation_type": "PERCENTILE", "percentile_value": 90},
            {"aggregation_type": "PERCENTILE", "percentile_value": 99},
        ],
        "time_interval_seconds": 86400,
        "RANGE": True,
    },
    {
        "view_type": "TRACES",
        "metric_name": "total_tokens",
        "aggregations": [{"aggregation_type": "SUM"}, {"aggregation_type": "AVG"}],
        "RANGE": True,
    },
    {
        "view_type": "TRACES",
        "metric_name": "input_tokens",
        "aggregations": [{"aggregation_type": "SUM"}],
        "time_interval_seconds": 86400,
        "RANGE": True,
    },
    {
        "view_type": "TRACES",
        "metric_name": "output_tokens",
        "aggregations": [{"aggregation_type": "SUM"}],
        "time_interval_seconds": 86400,
        "RANGE": True,
    },
    {
        "view_type": "TRACES",
        "metric_name": "cache_read_input_tokens",
        "aggregations": [{"aggregation_type": "SUM"}],
        "time_interval_seconds": 86400,
        "RANGE": True,
    },
    {
        "view_type": "TRACES",
        "metric_name": "cache_creation_input_tokens",
        "aggregations": [{"aggregation_type": "SUM"}],
        "time_interval_seconds": 86400,
        "RANGE": True,
    },
    {
        "view_type": "TRACES",
        "metric_name": "latency",
        "aggregations": [
            {"aggregation_type": "PERCENTILE", "percentile_value": 50},
            {"aggregation_type": "PERCENTILE", "percentile_value": 90},
            {"aggregation_type": "PERCENTILE", "percentile_value": 99},
        ],
        "time_interval_seconds": 86400,
        "RANGE": True,
    },
    {"view_type": "TRACES", "metric_name": "latency", "aggregations": [{"aggregation_type": "AVG"}], "RANGE": True},
    {
        "view_type": "SPANS",
        "metric_name": "total_cost",
        "aggregations": [{"aggregation_type": "SUM"}],
        "dimensions": ["span_model_name"],
        "RANGE": True,
    },
    {
        "view_type": "SPANS",
        "metric_name": "total_cost",
        "aggregations": [{"aggregation_type": "SUM"}],
        "time_interval_seconds": 86400,
        "dimensions": ["span_model_name"],
        "RANGE": True,
    },
    {
        "view_type": "ASSESSMENTS",
        "metric_name": "assessment_value",
        "aggregations": [{"aggregation_type": "AVG"}],
        "time_interval_seconds": 86400,
        "filters": ['assessment.type = "feedback"'],
        "dimensions": ["assessment_name"],
        "RANGE": True,
    },
    {
        "view_type": "ASSESSMENTS",
        "metric_name": "assessment_count",
        "aggregations": [{"aggregation_type": "COUNT"}],
        "filters": ['assessment.type = "feedback"'],
        "dimensions": ["assessment_name", "assessment_value"],
        "RANGE": True,
    },
    {
        "view_type": "ASSESSMENTS",
        "metric_name": "assessment_count",
        "aggregations": [{"aggregation_type": "COUNT"}],
        "filters": ['assessment.type = "feedback"'],
        "dimensions": ["assessment_name"],
    },
    {
        "view_type": "SPANS",
        "metric_name": "span_count",
        "aggregations": [{"aggregation_type": "COUNT"}],
        "filters": ['span.type = "TOOL"'],
        "dimensions": ["span_name", "span_status"],
        "RANGE": True,
    },
    {
        "view_type": "SPANS",
        "metric_name": "latency",
        "aggregations": [{"aggregation_type": "AVG"}],
        "filters": ['span.type = "TOOL"'],
        "RANGE": True,
    },
    {
        "view_type": "SPANS",
        "metric_name": "latency",
        "aggregations": [{"aggregation_type": "AVG"}],
        "filters": ['span.type = "TOOL"'],
        "dimensions": ["span_name"],
        "RANGE": True,
    },
    {
        "view_type": "SPANS",
        "metric_name": "latency",
        "aggregations": [{"aggregation_type": "AVG"}],
        "time_interval_seconds": 86400,
        "filters": ['span.type = "TOOL"'],
        "dimensions": ["span_name"],
        "RANGE": True,
    },
    {
        "view_type": "SPANS",
        "metric_name": "span_count",
        "aggregations": [{"aggregation_type": "COUNT"}],
        "time_interval_seconds": 86400,
        "filters": ['span.type = "TOOL"'],
        "dimensions": ["span_name"],
        "RANGE": True,
    },
    {
        "view_type": "TRACES",
        "metric_name": "trace_count",
        "aggregations": [{"aggregation_type": "COUNT"}],
        "RANGE": True,
    },
    {
        "view_type": "SPANS",
        "metric_name": "span_count",
        "aggregations": [{"aggregation_type": "COUNT"}],
        "time_interval_seconds": 86400,
        "filters": ['span.type = "TOOL"'],
        "dimensions": ["span_name", "span_status"],
        "RANGE": True,
    },
    {
        "view_type": "ASSESSMENTS",
        "metric_name": "assessment_count",
        "aggregations": [{"aggregation_type": "COUNT"}],
        "filters": ['trace.metadata.`mlflow.sourceRun` = "<RUN>"'],
        "dimensions": ["assessment_name", "assessment_value"],
    },
    {
        "view_type": "TRACES",
        "metric_name": "trace_count",
        "aggregations": [{"aggregation_type": "COUNT"}],
        "filters": ['trace.metadata.`mlflow.sourceRun` = "<RUN>"'],
    },
]


@mlflow.trace(span_type=SpanType.LLM)
def llm(prompt: str, tokens: int) -> str:
    span = mlflow.get_current_active_span()
    span.set_attribute(
        "mlflow.chat.tokenUsage",
        {"input_tokens": tokens, "output_tokens": tokens // 2, "total_tokens": tokens + tokens // 2},
    )
    return f"answer to {prompt}"  # fmt: skip


@mlflow.trace(span_type=SpanType.TOOL)
def lookup(key: str) -> str:
    if key == "bad":
        raise KeyError(key)
    return key.upper()


@mlflow.trace(name="agent", span_type=SpanType.AGENT)
def agent(question: str, tokens: int) -> str:
    lookup("k")
    lookup("j")
    return llm(question, tokens)


@mlflow.trace(name="failing-agent", span_type=SpanType.AGENT)
def failing_agent() -> str:
    return lookup("bad")


@mlflow.trace(name="rag", span_type=SpanType.CHAIN)
def rag(question: str) -> str:
    return question


class Side:
    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.experiment_id = ""
        self.run_id = ""
        self.ids: dict[str, str] = {}

    def metrics(self, body: dict[str, Any]) -> tuple[int, Any]:
        response = requests.post(f"{self.uri}{METRICS}", json=body, timeout=TIMEOUT)
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, response.text[:40]


def _log_traces(side: Side) -> None:
    mlflow.set_tracking_uri(side.uri)
    side.experiment_id = mlflow.create_experiment(f"trace-metrics-{uuid.uuid4().hex[:8]}")
    mlflow.set_experiment(experiment_id=side.experiment_id)
    agent("what is mlflow?", 100)
    agent("and tracing?", 40)
    with pytest.raises(KeyError):
        failing_agent()
    rag("docs")
    with mlflow.start_run() as run:
        side.run_id = run.info.run_id
        agent("inside a run", 10)
    mlflow.flush_trace_async_logging()
    traces = _wait_for(side, 5)
    judge = AssessmentSource(source_type="LLM_JUDGE", source_id="judge")
    first, second = [t for t in traces if t["tags"]["mlflow.traceName"] == "agent"][:2]
    old = mlflow.log_feedback(trace_id=first["trace_id"], name="relevance", value=0.8, source=judge)
    mlflow.override_feedback(trace_id=first["trace_id"], assessment_id=old.assessment_id, value=0.4, source=judge)
    mlflow.log_feedback(trace_id=second["trace_id"], name="relevance", value=1, source=judge)
    mlflow.log_feedback(trace_id=second["trace_id"], name="correct", value=True, source=judge)
    rag_id = next(t["trace_id"] for t in traces if t["tags"]["mlflow.traceName"] == "rag")
    mlflow.log_feedback(trace_id=rag_id, name="correct", value="no", source=judge)
    mlflow.log_expectation(trace_id=rag_id, name="expected", value="docs", source=judge)
    mlflow.MlflowClient(side.uri).link_traces_to_run([rag_id], side.run_id)


def _wait_for(side: Side, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 60
    location = {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": side.experiment_id}}
    while True:
        response = requests.post(f"{side.uri}/api/3.0/mlflow/traces/search",
                                 json={"locations": [location], "max_results": 100}, timeout=TIMEOUT)  # fmt: skip
        traces = response.json().get("traces", []) if response.ok else []
        if len(traces) >= count and all(t.get("state") in ("OK", "ERROR") for t in traces):
            return traces
        assert time.monotonic() < deadline, f"only {len(traces)} traces of {count} arrived on {side.uri}"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def sides(reference_uri: str, tracking_uri: str) -> tuple[Side, Side]:
    both = (Side(reference_uri), Side(tracking_uri))
    for side in both:
        _log_traces(side)
    mlflow.set_tracking_uri(tracking_uri)
    return both


def _body(side: Side, recorded: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(recorded)
    if body.pop("RANGE", False):
        now = int(time.time() * 1000)
        body["start_time_ms"], body["end_time_ms"] = now - WEEK_MS, now
    body["filters"] = [f.replace("<RUN>", side.run_id) for f in body.get("filters", [])]
    return {"experiment_ids": [side.experiment_id], **body}


def _normalised(recorded: dict[str, Any], answer: Any) -> Any:
    if not isinstance(answer, dict):
        return answer
    points = answer.get("data_points", [])
    buckets = sorted({p.get("dimensions", {}).get("time_bucket") for p in points} - {None})
    out = []
    for point in points:
        point = copy.deepcopy(point)
        if "time_bucket" in point.get("dimensions", {}):
            point["dimensions"]["time_bucket"] = f"B{buckets.index(point['dimensions']['time_bucket'])}"
        if recorded["metric_name"] == "latency":
            point["values"] = dict.fromkeys(point["values"], "n")
        out.append(point)
    return {"data_points": out} if "data_points" in answer else answer


def _label(recorded: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in recorded.items() if k != "aggregations"}, separators=(",", ":"))[:90]


@pytest.mark.parametrize("recorded", UI_REQUESTS, ids=[_label(r) for r in UI_REQUESTS])
def test_the_ui_metrics_requests_answer_as_the_reference(sides: tuple[Side, Side], recorded: dict[str, Any]) -> None:
    reference, stratus = sides
    expected = reference.metrics(_body(reference, recorded))
    got = stratus.metrics(_body(stratus, recorded))
    assert (got[0], _normalised(recorded, got[1])) == (expected[0], _normalised(recorded, expected[1]))


def test_the_seeded_experiment_has_data_in_every_overview_chart(sides: tuple[Side, Side]) -> None:
    """Guard against a differential test that passes because both sides answer nothing."""
    _, stratus = sides
    empty = [r for r in UI_REQUESTS if "cost" not in r["metric_name"] and "cache" not in r["metric_name"]
             and stratus.metrics(_body(stratus, r)) == (200, {})]  # fmt: skip
    assert empty == []
