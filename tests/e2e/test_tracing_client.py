"""GenAI tracing with the stock 3.17.2 client against ``stratus local``: ``@mlflow.trace`` functions, nested and manual
spans, exceptions, traces inside a run, several threads tracing at once and a large span all arrive (OTLP span
batches and StartTraceV3, in whatever order the client's worker threads send them) as one trace each, which
``MlflowClient().get_trace`` reads back whole. Then the web UI's reads of one trace (``GET /ajax-api/3.0/mlflow/traces/
<id>`` and ``get-trace-artifact``) are compared with the reference server's for the same script (ids and times
normalised)."""

from __future__ import annotations

import base64
import contextlib
import re
import threading
import uuid
from collections.abc import Callable
from typing import Any

import mlflow
import requests
from mlflow import MlflowClient
from mlflow.entities import SpanType

TIMEOUT = 30


def _experiment(name_prefix: str) -> str:
    experiment_id = mlflow.create_experiment(f"{name_prefix}-{uuid.uuid4().hex[:8]}")
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


@mlflow.trace(span_type=SpanType.RETRIEVER)
def retrieve(query: str) -> list[str]:
    return [f"doc about {query}", "another doc"]


@mlflow.trace(span_type=SpanType.LLM)
def llm(prompt: str) -> str:
    return f"answer to {prompt}"


@mlflow.trace(name="agent")
def agent(q: str) -> str:
    docs = retrieve(q)
    with mlflow.start_span(name="manual-span", span_type=SpanType.TOOL) as span:
        span.set_inputs({"docs": docs})
        span.set_outputs({"n": len(docs)})
        span.add_event(mlflow.entities.SpanEvent("my-event", attributes={"k": "v"}))
    return llm(q)


@mlflow.trace
def boom(x: int) -> None:
    raise ValueError(f"kaboom {x}")


def _traced(fn: Callable[[], Any]) -> str:
    """Run ``fn`` (which traces), wait until the client sent everything, and return the trace's id."""
    with contextlib.suppress(ValueError):
        fn()
    trace_id = mlflow.get_last_active_trace_id()
    assert trace_id is not None
    mlflow.flush_trace_async_logging(terminate=False)
    return trace_id


def test_a_decorated_function_with_nested_and_manual_spans_reads_back_whole(tracking_uri: str) -> None:
    _experiment("tracing-nested")
    trace_id = _traced(lambda: agent("what is mlflow?"))

    trace = MlflowClient().get_trace(trace_id)

    assert trace.info.state == "OK"
    assert trace.info.tags["mlflow.trace.spansLocation"] == "TRACKING_STORE"
    assert trace.info.request_preview == '{"q": "what is mlflow?"}'
    assert trace.info.response_preview == '"answer to what is mlflow?"'
    spans = {span.name: span for span in trace.data.spans}
    assert set(spans) == {"agent", "retrieve", "manual-span", "llm"}
    assert spans["agent"].parent_id is None
    assert {spans[n].parent_id for n in ("retrieve", "manual-span", "llm")} == {spans["agent"].span_id}
    assert spans["retrieve"].inputs == {"query": "what is mlflow?"}
    assert spans["retrieve"].outputs == ["doc about what is mlflow?", "another doc"]
    assert spans["retrieve"].span_type == SpanType.RETRIEVER
    assert spans["manual-span"].outputs == {"n": 2}
    assert [(e.name, e.attributes) for e in spans["manual-span"].events] == [("my-event", {"k": "v"})]
    assert spans["agent"].outputs == "answer to what is mlflow?"


def test_an_exception_makes_an_error_trace_with_the_exception_event(tracking_uri: str) -> None:
    _experiment("tracing-error")
    trace_id = _traced(lambda: boom(1))

    trace = MlflowClient().get_trace(trace_id)

    assert trace.info.state == "ERROR"
    (span,) = trace.data.spans
    assert span.status.status_code == "ERROR"
    assert span.status.description == "ValueError: kaboom 1"
    (event,) = span.events
    assert event.name == "exception"
    assert event.attributes["exception.message"] == "kaboom 1"
    assert event.attributes["exception.type"] == "ValueError"


def test_a_trace_inside_a_run_names_the_run(tracking_uri: str) -> None:
    _experiment("tracing-run")
    with mlflow.start_run() as run:
        trace_id = _traced(lambda: agent("in a run"))

    info = MlflowClient().get_trace(trace_id).info

    assert info.trace_metadata["mlflow.sourceRun"] == run.info.run_id
    assert len(MlflowClient().get_trace(trace_id).data.spans) == 4


def test_threads_tracing_at_once_each_get_their_whole_trace(tracking_uri: str) -> None:
    _experiment("tracing-threads")
    trace_ids: list[str] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        for i in range(3):
            agent(f"thread {n} call {i}")
            with lock:
                trace_ids.append(mlflow.get_last_active_trace_id(thread_local=True))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    mlflow.flush_trace_async_logging(terminate=False)

    assert len(set(trace_ids)) == 12
    for trace_id in trace_ids:
        trace = MlflowClient().get_trace(trace_id)
        assert trace.info.state == "OK"
        assert sorted(s.name for s in trace.data.spans) == ["agent", "llm", "manual-span", "retrieve"]


def test_a_large_span_input_is_kept_whole(tracking_uri: str) -> None:
    _experiment("tracing-large")
    big = "x" * 300_000

    @mlflow.trace
    def takes_big(text: str) -> int:
        return len(text)

    trace_id = _traced(lambda: takes_big(big))

    (span,) = MlflowClient().get_trace(trace_id).data.spans
    assert span.inputs == {"text": big}
    assert span.outputs == 300_000


# ---- the web UI's reads, against the reference ------------------------------------------------------------------

_HEX_ID = re.compile(r"tr-[0-9a-f]{32}")


def _scenario(uri: str) -> list[str]:
    """The same client script on one server: an experiment, one nested trace and one that failed. Their ids."""
    mlflow.set_tracking_uri(uri)
    experiment_id = mlflow.create_experiment(f"ui-reads-{uuid.uuid4().hex[:8]}")
    mlflow.set_experiment(experiment_id=experiment_id)
    return [_traced(lambda: agent("what is mlflow?")), _traced(lambda: boom(7))]


def _normalise(value: Any, ids: dict[str, str]) -> Any:
    """Ids and times differ between servers: trace ids, span ids (base64 or hex) and timestamps become placeholders
    (the same id the same placeholder), so that structure and values compare."""
    if isinstance(value, dict):
        return {k: _normalise_field(k, v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v, ids) for v in value]
    if isinstance(value, str):
        return _HEX_ID.sub(lambda m: ids.setdefault(m.group(0), f"<trace {len(ids)}>"), value)
    return value


_ID_FIELDS = {"trace_id", "span_id", "parent_span_id"}
_TIME_FIELDS = {"start_time_unix_nano", "end_time_unix_nano", "time_unix_nano", "request_time", "execution_duration"}
_VOLATILE_METADATA = {
    "mlflow.trace.sizeBytes",
    "mlflow.trace.sizeStats",
    "mlflow.source.name",
    "mlflow.source.git.commit",
    "mlflow.source.git.repoURL",
    "mlflow.source.git.branch",
    "mlflow.user",
}


def _normalise_field(key: str, value: Any, ids: dict[str, str]) -> Any:
    if key in _ID_FIELDS and isinstance(value, str) and not value.startswith("tr-"):
        raw = base64.b64decode(value) if value.endswith("=") or len(value) in (12, 24) else bytes.fromhex(value)
        return ids.setdefault(raw.hex(), f"<id {len(ids)}>")
    if key in _TIME_FIELDS:
        return "<time>"
    if key == "trace_metadata":
        return {k: _normalise(v, ids) for k, v in value.items() if k not in _VOLATILE_METADATA}
    if key == "mlflow.spanInputs" or key == "exception.stacktrace":
        return _normalise(value, ids)
    if key == "experiment_id":
        return "<experiment>"
    if key == "mlflow.artifactLocation":
        return "<artifact location>"
    return _normalise(value, ids)


def _reads(uri: str, trace_id: str) -> tuple[Any, ...]:
    """What the UI's trace view reads (info, then the spans as ``traces.json``) and the client's ``GetTrace``,
    normalised."""
    info = requests.get(f"{uri}/ajax-api/3.0/mlflow/traces/{trace_id}", timeout=TIMEOUT)
    artifact = requests.get(
        f"{uri}/ajax-api/3.0/mlflow/get-trace-artifact", params={"request_id": trace_id}, timeout=TIMEOUT
    )
    trace = requests.get(
        f"{uri}/api/3.0/mlflow/traces/get", params={"trace_id": trace_id, "allow_partial": "False"}, timeout=TIMEOUT
    )
    assert info.status_code == artifact.status_code == trace.status_code == 200
    assert artifact.headers["Content-Disposition"] == "attachment; filename=traces.json"
    ids: dict[str, str] = {}
    spans = sorted(artifact.json()["spans"], key=lambda s: s["start_time_unix_nano"])
    proto = trace.json()["trace"]
    proto["spans"] = sorted(proto["spans"], key=lambda s: s["start_time_unix_nano"])
    return _normalise(info.json(), ids), _normalise(spans, ids), _normalise(proto, ids)


def test_the_ui_trace_view_reads_answer_as_the_reference(reference_uri: str, tracking_uri: str) -> None:
    reference = [_reads(reference_uri, trace_id) for trace_id in _scenario(reference_uri)]
    stratus = [_reads(tracking_uri, trace_id) for trace_id in _scenario(tracking_uri)]
    mlflow.set_tracking_uri(tracking_uri)

    for ref, got in zip(reference, stratus, strict=True):
        assert got[0] == ref[0]  # GET /ajax-api/3.0/mlflow/traces/<id>
        assert got[1] == ref[1]  # get-trace-artifact
        assert got[2] == ref[2]  # GET /api/3.0/mlflow/traces/get
