"""Differential test of GenAI trace search and the trace writes: the same stock-client script logs traces on the
reference ``mlflow server`` and on ``stratus local`` (decorated functions with nested LLM / TOOL / RETRIEVER spans,
an exception, a trace inside a run, tags, metadata, feedback, expectations and an override), then the same searches
run on both and are compared by the trace names they return, in order, page by page (trace ids and times differ
between the servers). Tags, assessments, deletion and link-to-run are compared by their answers with ids and times
normalised.

Not compared: error messages that print a Python set (the reference's order of its members varies by process), the
reference's 500s (contract §7.11), and session-scoped assessments.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import mlflow
import pytest
import requests
from differential import assert_same_answers
from mlflow.entities import AssessmentSource, SpanType

TIMEOUT = 30
V2, V3 = "/api/2.0/mlflow", "/api/3.0/mlflow"
NOT_COMPARED = ("sqlstate", "error_class")
TRACE_ID = re.compile(r"tr-[0-9a-f]{32}")
ASSESSMENT_ID = re.compile(r"a-[0-9a-f]{32}")


@dataclass
class Side:
    uri: str
    experiment_id: str = ""
    run_id: str = ""
    ids: dict[str, str] = field(default_factory=dict)  # trace name -> trace id

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, query: str = "") -> tuple[int, Any]:
        url = f"{self.uri}{path}" + (f"?{query}" if query else "")
        response = requests.request(method, url, json=body, timeout=TIMEOUT)
        try:
            answer = response.json()
        except ValueError:
            return response.status_code, response.text[:40]
        if isinstance(answer, dict):
            answer = {k: v for k, v in answer.items() if k not in NOT_COMPARED}
        return response.status_code, answer

    def names(self) -> dict[str, str]:
        return {trace_id: name for name, trace_id in self.ids.items()}


# ------------------------------------------------------------------------------------------- the client script


@mlflow.trace(span_type=SpanType.LLM)
def llm(prompt: str) -> dict[str, Any]:
    mlflow.update_current_trace(tags={"model": "gpt-4o"})
    return {"text": f"answer to {prompt}"}


@mlflow.trace(span_type=SpanType.TOOL)
def lookup(key: str) -> str:
    return key.upper()


@mlflow.trace(span_type=SpanType.RETRIEVER)
def retrieve(query: str) -> list[str]:
    return [f"doc about {query}"]


@mlflow.trace(name="agent", span_type=SpanType.AGENT)
def agent(question: str) -> str:
    mlflow.update_current_trace(tags={"user_tag": "hello"}, metadata={"mlflow.trace.session": "sess-1"})
    lookup("k")
    return llm(question)["text"]


@mlflow.trace(name="rag", span_type=SpanType.CHAIN)
def rag(question: str) -> str:
    mlflow.update_current_trace(tags={"user_tag": "bye", "team": "search"})
    return " ".join(retrieve(question))


@mlflow.trace(name="boom")
def boom(x: int) -> int:
    raise ValueError(f"kaboom {x}")


@mlflow.trace(name="in-run")
def in_run(x: int) -> int:
    return x * 2


@mlflow.trace
def simple(n: int) -> int:
    return n


def _pause() -> None:
    time.sleep(0.02)  # distinct request times, so that the order is the same on both servers


def _log_traces(side: Side) -> None:
    """One stock-client script: what a GenAI app logs."""
    mlflow.set_tracking_uri(side.uri)
    side.experiment_id = mlflow.create_experiment(f"trace-search-{uuid.uuid4().hex[:8]}")
    mlflow.set_experiment(experiment_id=side.experiment_id)
    agent("what is mlflow?")
    _pause()
    rag("tracing")
    _pause()
    with pytest.raises(ValueError, match="kaboom"):
        boom(1)
    _pause()
    with mlflow.start_run() as run:
        side.run_id = run.info.run_id
        in_run(3)
    _pause()
    for n in range(5):
        with mlflow.start_span(name=f"simple-{n}") as span:
            span.set_inputs({"n": n})
            span.set_outputs(simple(n))
        _pause()
    mlflow.flush_trace_async_logging()
    _wait_for(side, 9)


def _wait_for(side: Side, count: int) -> None:
    """Map trace names to ids once every trace is searchable (spans and StartTraceV3 arrive asynchronously)."""
    deadline = time.monotonic() + 60
    while True:
        status, body = side.call("POST", f"{V3}/traces/search", _search_body(side, max_results=100))
        traces = body.get("traces", []) if status == 200 else []
        side.ids = {t.get("tags", {}).get("mlflow.traceName", ""): t["trace_id"] for t in traces}
        if len(side.ids) >= count and all(t.get("state") in ("OK", "ERROR") for t in traces):
            return
        assert time.monotonic() < deadline, f"only {len(side.ids)} traces of {count} arrived on {side.uri}"
        time.sleep(0.5)


def _assess(side: Side) -> None:
    """Feedback, expectations and an override, through the stock client."""
    mlflow.set_tracking_uri(side.uri)
    judge = AssessmentSource(source_type="LLM_JUDGE", source_id="gpt-judge")
    human = AssessmentSource(source_type="HUMAN", source_id="alice")
    old = mlflow.log_feedback(trace_id=side.ids["agent"], name="relevance", value=0.8, source=judge)
    mlflow.override_feedback(trace_id=side.ids["agent"], assessment_id=old.assessment_id, value=0.3,
                             rationale="human says less", source=human)  # fmt: skip
    mlflow.log_feedback(trace_id=side.ids["rag"], name="relevance", value=0.9, source=judge)
    mlflow.log_feedback(trace_id=side.ids["rag"], name="correct", value=True, source=judge)
    mlflow.log_feedback(trace_id=side.ids["boom"], name="correct", value=False, source=judge)
    mlflow.log_feedback(trace_id=side.ids["simple-0"], name="verdict", value="yes", source=human)
    mlflow.log_expectation(trace_id=side.ids["agent"], name="expected_answer",
                           value={"answer": "MLflow is a platform"}, source=human)  # fmt: skip
    mlflow.log_expectation(trace_id=side.ids["simple-1"], name="expected_n", value=1, source=human)
    client = mlflow.MlflowClient(side.uri)
    client.set_trace_tag(side.ids["simple-2"], "reviewed", "yes")
    client.link_traces_to_run([side.ids["simple-3"]], side.run_id)


@pytest.fixture(scope="module")
def sides(reference_uri: str, tracking_uri: str) -> tuple[Side, Side]:
    both = (Side(reference_uri), Side(tracking_uri))
    for side in both:
        _log_traces(side)
        _assess(side)
    mlflow.set_tracking_uri(tracking_uri)
    return both


# ------------------------------------------------------------------------------------------- searches


def _search_body(side: Side, **fields: Any) -> dict[str, Any]:
    location = {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": side.experiment_id}}
    return {"locations": [location], **fields}


def _normalised_message(message: str) -> str:
    return re.sub(r"\{[^{}]*\}", "{…}", message)


def _search_outcome(side: Side, filter_string: str | None, order_by: list[str], max_results: int) -> tuple[Any, ...]:
    """("ok", names in order over every page, page sizes) or ("error", status, code, message)."""
    names, sizes, token = [], [], None
    filter_string = (filter_string or "").replace("<RUN>", side.run_id)
    for _ in range(20):
        body = _search_body(side, filter=filter_string, order_by=order_by, max_results=max_results)
        if token:
            body["page_token"] = token
        status, answer = side.call("POST", f"{V3}/traces/search", body)
        if status != 200:
            return ("error", status, answer.get("error_code"), _normalised_message(answer.get("message", "")))
        page = answer.get("traces", [])
        names += [t.get("tags", {}).get("mlflow.traceName") for t in page]
        sizes.append(len(page))
        token = answer.get("next_page_token")
        if not token:
            break
    return ("ok", names, sizes)


FILTERS = [
    None,
    "trace.status = 'OK'",
    "trace.status = 'ERROR'",
    "trace.status != 'OK'",
    "trace.status IN ('OK', 'ERROR')",
    "trace.status NOT IN ('OK')",
    "trace.name = 'agent'",
    "trace.name LIKE 'simple-%'",
    "trace.name ILIKE 'SIMPLE-%'",
    "trace.name RLIKE '^(agent|rag)$'",
    "trace.name != 'agent'",
    "tags.user_tag = 'hello'",
    "tags.user_tag IS NULL",
    "tags.user_tag IS NOT NULL",
    "tags.team LIKE 'sea%'",
    "tags.reviewed = 'yes'",
    "tags.`mlflow.traceName` = 'rag'",
    "metadata.`mlflow.trace.session` = 'sess-1'",
    "metadata.`mlflow.sourceRun` IS NOT NULL",
    "metadata.`mlflow.user` IS NOT NULL",
    "trace.run_id = '<RUN>'",
    "metadata.`mlflow.sourceRun` = '<RUN>'",
    "trace.execution_time_ms >= 0",
    "trace.timestamp_ms > 0",
    "trace.timestamp_ms > '2024-01-01'",
    "span.type = 'LLM'",
    "span.type = 'TOOL'",
    "span.type IN ('RETRIEVER', 'TOOL')",
    "span.name = 'llm'",
    "span.name = 'llm' AND span.type = 'TOOL'",
    "span.name = 'lookup' AND span.type = 'TOOL'",
    "span.status = 'ERROR'",
    "span.name LIKE 'simp%'",
    "span.content LIKE '%kaboom%'",
    "trace.text ILIKE '%TRACING%'",
    "span.attributes.`mlflow.spanType` LIKE '%RETRIEVER%'",
    "span.attributes.custom = 'x'",
    "feedback.relevance = '0.3'",
    "feedback.relevance = '0.8'",
    "feedback.relevance > 0.5",
    "feedback.relevance <= 0.5",
    "feedback.relevance IS NOT NULL",
    "feedback.relevance IS NULL",
    "feedback.correct = 'true'",
    "feedback.correct = 'false'",
    "feedback.verdict = 'yes'",
    "feedback.verdict LIKE '%ye%'",
    "expectation.expected_n = '1.0'",
    "expectation.expected_answer LIKE '%platform%'",
    "expectation.expected_answer IS NOT NULL",
    "trace.status = 'OK' AND tags.user_tag = 'bye'",
    "trace.status = 'OK' AND feedback.correct IS NOT NULL",
    # refused
    "trace.status = 'OK' OR trace.status = 'ERROR'",
    "trace.status",
    "trace.status = OK",
    "foo.bar = 'x'",
    "trace.state = 'OK'",
    "tags.x > 'a'",
    "metadata.x IN ('a')",
    "span.foo = 'x'",
    "trace.text = 'x'",
    "feedback.relevance = 0.5",
    "feedback.relevance > '0.5'",
    "feedback.correct = true",
    "trace.prompt = 'p'",
]
ORDERS = [
    [],
    ["timestamp DESC"],
    ["timestamp_ms ASC"],
    ["name"],
    ["name DESC"],
    ["status", "name"],
    ["tags.user_tag DESC"],
    ["run_id", "name"],
    ["timestamp_ms sideways"],
    ["span.name"],
]


@pytest.mark.parametrize("filter_string", FILTERS)
def test_a_filter_finds_the_same_traces(sides: tuple[Side, Side], filter_string: str | None) -> None:
    reference, stratus = sides
    for max_results in (100, 2):
        assert _search_outcome(stratus, filter_string, [], max_results) == _search_outcome(
            reference, filter_string, [], max_results
        ), f"{filter_string!r}, max_results={max_results}"


@pytest.mark.parametrize("order_by", ORDERS, ids=lambda order: ",".join(order) or "default")
def test_an_order_by_sorts_the_same_way(sides: tuple[Side, Side], order_by: list[str]) -> None:
    reference, stratus = sides
    for max_results in (100, 3):
        assert _search_outcome(stratus, None, order_by, max_results) == _search_outcome(
            reference, None, order_by, max_results
        )


def test_the_client_search_traces_returns_the_same_traces(sides: tuple[Side, Side]) -> None:
    outcomes = []
    for side in sides:
        found = mlflow.MlflowClient(side.uri).search_traces(
            locations=[side.experiment_id], filter_string="trace.status = 'OK'", max_results=4
        )
        outcomes.append([t.info.tags.get("mlflow.traceName") for t in found])
    assert outcomes[1] == outcomes[0]


# ------------------------------------------------------------------------------------------- writes


def _normalise(value: Any, side: Side) -> Any:
    """Ids as names, times dropped: what two servers can agree on."""
    if isinstance(value, dict):
        return {
            k: _normalise(v, side)
            for k, v in value.items()
            if k
            not in (
                "create_time",
                "last_update_time",
                "request_time",
                "execution_duration",
                "timestamp_ms",
                "execution_time_ms",
            )
        }
    if isinstance(value, list):
        return [_normalise(v, side) for v in value]
    if isinstance(value, str):
        names = side.names()
        value = TRACE_ID.sub(lambda m: f"<{names.get(m.group(0), 'trace')}>", value)
        value = value.replace(side.run_id, "<run>") if side.run_id else value
        return ASSESSMENT_ID.sub("<assessment>", value)
    return value


SERVER_SPECIFIC_TAGS = ("mlflow.artifactLocation",)


def _info_view(answer: Any) -> Any:
    """What two servers agree on in a trace info: its state, tags (the artifact location differs) and assessments;
    the metadata holds sizes and times of the client's run."""
    info = answer.get("trace", {}).get("trace_info") if isinstance(answer, dict) else None
    if info is None:
        return answer
    tags = {k: v for k, v in info.get("tags", {}).items() if k not in SERVER_SPECIFIC_TAGS}
    return {"trace_id": info.get("trace_id"), "state": info.get("state"), "tags": tags,
            "assessments": info.get("assessments", [])}  # fmt: skip


def _names_view(answer: Any) -> Any:
    """A search or listing answer as its traces' names and tags (v2 lists them, v3 maps them)."""
    if not isinstance(answer, dict) or "traces" not in answer:
        return answer
    names = []
    for trace in answer["traces"]:
        tags = trace.get("tags", {})
        tags = {t["key"]: t["value"] for t in tags} if isinstance(tags, list) else tags
        names.append(tags.get("mlflow.traceName"))
    return {"names": names, "has_token": "next_page_token" in answer}


def _write_scenario(side: Side) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    simple4 = side.ids["simple-4"]

    def send(label: str, method: str, path: str, body: dict[str, Any] | None = None, query: str = "") -> Any:
        status, answer = side.call(method, path, body, query)
        view = _names_view(answer) if "traces" in (answer if isinstance(answer, dict) else {}) else _info_view(answer)
        out.append((label, (status, _normalise(view, side))))
        return answer

    base = f"{V3}/traces/{simple4}/assessments"
    created = send("create feedback", "POST", base, {"assessment": {"assessment_name": "m", "feedback": {"value": 3}}})
    aid = created.get("assessment", {}).get("assessment_id", "a-x")
    send("get it", "GET", f"{base}/{aid}")
    send(
        "update value",
        "PATCH",
        f"{base}/{aid}",
        {"assessment": {"feedback": {"value": "no"}}, "update_mask": "feedback"},
    )
    renamed = {"assessment": {"assessment_name": "m2", "rationale": "r"}, "update_mask": "assessmentName,rationale"}
    send("update rationale and name", "PATCH", f"{base}/{aid}", renamed)
    send(
        "update metadata", "PATCH", f"{base}/{aid}", {"assessment": {"metadata": {"x": "1"}}, "update_mask": "metadata"}
    )
    send("update with a paths object", "PATCH", f"{base}/{aid}",
         {"assessment": {"rationale": "z"}, "update_mask": {"paths": ["rationale"]}})  # fmt: skip
    send("update the other kind", "PATCH", f"{base}/{aid}",
         {"assessment": {"expectation": {"value": 1}}, "update_mask": "expectation"})  # fmt: skip
    send("update without mask", "PATCH", f"{base}/{aid}", {"assessment": {"rationale": "z"}})
    send("update unknown", "PATCH", f"{base}/a-nope", {"assessment": {"rationale": "z"}, "update_mask": "rationale"})
    override = send("override", "POST", base, {"assessment": {"assessment_name": "m2", "feedback": {"value": 1},
                                                             "overrides": aid}})  # fmt: skip
    send("trace info shows both", "GET", f"{V3}/traces/{simple4}")
    send("delete the override", "DELETE", f"{base}/{override.get('assessment', {}).get('assessment_id', 'a-x')}")
    send("trace info after", "GET", f"{V3}/traces/{simple4}")
    send("create without kind", "POST", base, {"assessment": {"assessment_name": "nv"}})
    send("create without assessment", "POST", base, {})
    send("create on unknown trace", "POST", f"{V3}/traces/tr-0/assessments",
         {"assessment": {"assessment_name": "m", "feedback": {"value": 1}}})  # fmt: skip
    send("override unknown", "POST", base, {"assessment": {"assessment_name": "o", "feedback": {"value": 1},
                                                          "overrides": "a-nope"}})  # fmt: skip
    send("get unknown", "GET", f"{base}/a-nope")
    send("get on unknown trace", "GET", f"{V3}/traces/tr-0/assessments/a-x")
    send("delete", "DELETE", f"{base}/{aid}")
    send("delete again", "DELETE", f"{base}/{aid}")

    tags = f"{V2}/traces/{simple4}/tags"
    send("set tag", "PATCH", tags, {"key": "k", "value": "v"})
    send("set tag v3", "PATCH", f"{V3}/traces/{simple4}/tags", {"key": "k3", "value": "v3"})
    send("set tag without value", "PATCH", tags, {"key": "empty"})
    send("set long tag", "PATCH", tags, {"key": "long", "value": "x" * 9000})
    send("rename", "PATCH", tags, {"key": "mlflow.traceName", "value": "renamed"})
    send("set immutable", "PATCH", tags, {"key": "mlflow.trace.spansLocation", "value": "x"})
    send("set without key", "PATCH", tags, {"value": "v"})
    send("set non-string", "PATCH", tags, {"key": "k", "value": 5})
    send("set long key", "PATCH", tags, {"key": "k" * 251, "value": "v"})
    send("set path-like key", "PATCH", tags, {"key": "../a", "value": "v"})
    send("info with tags", "GET", f"{V3}/traces/{simple4}")
    send("delete tag", "DELETE", tags, {"key": "k"})
    send("delete absent tag", "DELETE", tags, {"key": "nope"})
    send("delete immutable", "DELETE", tags, {"key": "mlflow.trace.spansLocation"})
    send("delete on unknown trace", "DELETE", f"{V2}/traces/tr-0/tags", {"key": "k"})
    send("rename back", "PATCH", tags, {"key": "mlflow.traceName", "value": "simple-4"})

    link = f"{V2}/traces/link-to-run"
    send("link", "POST", link, {"trace_ids": [simple4], "run_id": side.run_id})
    send("link again", "POST", link, {"trace_ids": [simple4], "run_id": side.run_id})
    send("link nothing", "POST", link, {"trace_ids": [], "run_id": side.run_id})
    send("link too many", "POST", link, {"trace_ids": [f"t{n}" for n in range(101)], "run_id": side.run_id})
    send("link without run", "POST", link, {"trace_ids": [simple4]})
    send("search the run", "POST", f"{V3}/traces/search",
         _search_body(side, filter=f"trace.run_id = '{side.run_id}'", order_by=["name"]))  # fmt: skip

    delete = f"{V2}/traces/delete-traces"
    exp = side.experiment_id
    send("delete neither", "POST", delete, {"experiment_id": exp})
    send("delete both", "POST", delete, {"experiment_id": exp, "max_timestamp_millis": 1, "request_ids": ["a"]})
    send("delete ids and max", "POST", delete, {"experiment_id": exp, "request_ids": ["a"], "max_traces": 1})
    send("delete max 0", "POST", delete, {"experiment_id": exp, "max_timestamp_millis": 1, "max_traces": 0})
    send("delete without experiment", "POST", delete, {"request_ids": ["a"]})
    send("delete by id", "POST", delete, {"experiment_id": exp, "request_ids": [simple4, "tr-0"]})
    send("delete in another experiment", "POST", delete, {"experiment_id": "0", "request_ids": [side.ids["simple-3"]]})
    send("delete the oldest", "POST", f"{V3}/traces/delete-traces",
         {"experiment_id": exp, "max_timestamp_millis": int(time.time() * 1000), "max_traces": 1})  # fmt: skip
    send("delete before 1970", "POST", delete, {"experiment_id": exp, "max_timestamp_millis": 1})
    send("what is left", "GET", f"{V2}/traces", query=f"experiment_ids={exp}&order_by=name")
    send("deleted trace is gone", "GET", f"{V3}/traces/{simple4}")
    return out


def test_writes_answer_as_the_reference(sides: tuple[Side, Side]) -> None:
    """Runs last in this module (pytest keeps file order): it deletes traces."""
    reference, stratus = sides
    expected, actual = _write_scenario(reference), _write_scenario(stratus)
    assert_same_answers(expected, actual)
    answers = dict(actual)
    assert answers["create feedback"][0] == 200 and answers["delete tag"] == (200, {})
    assert answers["delete by id"] == (200, {"traces_deleted": 1})
    assert answers["search the run"][1]["names"] == ["in-run", "simple-3", "simple-4"]
