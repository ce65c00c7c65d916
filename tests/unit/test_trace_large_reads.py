"""Traces too large for a Lambda response: GetTrace, batchGet and get-trace-artifact store the answer once in S3 and
answer a redirect to it, reused while the trace does not change; span filters see every span of a trace larger than
its record's summary."""

from __future__ import annotations

import json
from typing import Any

import pytest
from otlp_spans import export_request, numbered_span

from stratus.api.app import build_traces_api
from stratus.domain import otlp
from stratus.domain.services import traces as traces_module
from stratus.domain.services.assessments import TraceWriteService
from stratus.domain.services.datasets import EvaluationDatasetService
from stratus.domain.services.experiments import ExperimentService
from stratus.domain.services.trace_search import TraceSearchService
from stratus.domain.services.traces import TraceService
from stratus.domain.trace_records import SPAN_SUMMARY_CAP
from stratus.domain.traces import Aggregation, TraceMetricsQuery
from stratus.store.memory import InMemoryDatasetStore, InMemorySpanStore, InMemoryTraceStore, InMemoryTrackingStore

TRACE = bytes.fromhex("5f0e8b7a2c1d4e3f9a8b7c6d5e4f3a2b")
TRACE_ID = f"tr-{TRACE.hex()}"
SPANS = SPAN_SUMMARY_CAP + 50


class CountingSpans(InMemorySpanStore):
    """Counts full span reads."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def read(self, experiment_id: str, trace_id: str) -> list[dict]:
        self.reads += 1
        return super().read(experiment_id, trace_id)


def _export(service: TraceService, first: int, count: int) -> None:
    spans = (
        numbered_span(TRACE, i, **{"mlflow.spanInputs": {"text": f"payload {i} " + "x" * 100}})
        for i in range(first, first + count)
    )
    service.log_spans("0", otlp.decode_request(export_request(spans), otlp.PROTOBUF, None))


@pytest.fixture
def spans() -> CountingSpans:
    return CountingSpans()


@pytest.fixture
def traces() -> InMemoryTraceStore:
    return InMemoryTraceStore()


@pytest.fixture
def service(traces: InMemoryTraceStore, spans: CountingSpans, monkeypatch: pytest.MonkeyPatch) -> TraceService:
    monkeypatch.setattr(traces_module, "LARGE_ANSWER_BYTES", 10_000)  # a 250-span trace is "large"
    experiments = ExperimentService(InMemoryTrackingStore(), "s3://bucket/mlartifacts")
    experiments.ensure_default_experiment()
    built = TraceService(traces, spans, experiments)
    for first in range(0, SPANS, 50):
        _export(built, first, 50)
    return built


@pytest.fixture
def api(service: TraceService, traces: InMemoryTraceStore, spans: CountingSpans) -> Any:
    datasets = EvaluationDatasetService(InMemoryDatasetStore(), ExperimentService(InMemoryTrackingStore(), "s3://b"))
    return build_traces_api(service, TraceSearchService(traces, spans), TraceWriteService(traces, spans), datasets)


def _get(api: Any, path: str, query: dict[str, str]) -> dict[str, Any]:
    event = {
        "version": "2.0",
        "routeKey": f"GET {path}",
        "rawPath": path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in query.items()),
        "queryStringParameters": query,
        "headers": {},
        "requestContext": {"http": {"method": "GET", "path": path}, "stage": "$default"},
        "isBase64Encoded": False,
    }
    return api.resolve(event, None)  # type: ignore[no-any-return]


def _stored(spans: CountingSpans, url: str) -> dict[str, Any]:
    _, _, rest = url.partition("memory://")
    experiment_id, trace_id, name = rest.split("/", 2)
    return json.loads(spans.answers[(experiment_id, trace_id, name)])  # type: ignore[no-any-return]


def _render(traces: list[tuple[Any, list[dict]]]) -> bytes:
    return json.dumps({"spans": [s for _, found in traces for s in found]}).encode()


def test_a_large_trace_answer_is_stored_and_redirected_to_with_every_span(api: Any, spans: CountingSpans) -> None:
    answer = _get(api, "/api/3.0/mlflow/traces/get", {"trace_id": TRACE_ID})

    assert answer["statusCode"] == 307
    stored = _stored(spans, answer["headers"]["Location"])
    assert stored["trace"]["trace_info"]["trace_id"] == TRACE_ID
    assert len(stored["trace"]["spans"]) == SPANS


def test_the_stored_answer_is_reused_while_the_trace_does_not_change(
    service: TraceService, spans: CountingSpans
) -> None:
    first = service.get_trace_answer(TRACE_ID, allow_partial=False, render=_render)
    reads = spans.reads

    again = service.get_trace_answer(TRACE_ID, allow_partial=False, render=_render)

    assert again.url == first.url
    assert spans.reads == reads  # the spans were not read again


def test_a_new_span_batch_makes_the_next_read_store_a_new_answer(service: TraceService, spans: CountingSpans) -> None:
    first = service.get_trace_answer(TRACE_ID, allow_partial=False, render=_render)
    _export(service, SPANS, 1)

    after = service.get_trace_answer(TRACE_ID, allow_partial=False, render=_render)

    assert after.url != first.url
    assert after.url is not None
    assert len(_stored(spans, after.url)["spans"]) == SPANS + 1


def test_a_small_answer_is_the_body_itself(service: TraceService, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(traces_module, "LARGE_ANSWER_BYTES", 10_000_000)

    answer = service.get_trace_answer(TRACE_ID, allow_partial=False, render=_render)

    assert answer.url is None
    assert answer.body is not None
    assert len(json.loads(answer.body)["spans"]) == SPANS


def test_the_ui_trace_artifact_of_a_large_trace_is_a_redirect_to_the_traces_json(
    api: Any, spans: CountingSpans
) -> None:
    answer = _get(api, "/ajax-api/3.0/mlflow/get-trace-artifact", {"request_id": TRACE_ID})

    assert answer["statusCode"] == 307
    stored = _stored(spans, answer["headers"]["Location"])
    assert len(stored["spans"]) == SPANS
    assert {s["name"] for s in stored["spans"]} >= {"root", f"step_{SPANS - 1}"}


def test_batch_get_of_a_large_trace_is_a_redirect(api: Any, spans: CountingSpans) -> None:
    answer = _get(api, "/api/3.0/mlflow/traces/batchGet", {"trace_ids": TRACE_ID})

    assert answer["statusCode"] == 307
    (trace,) = _stored(spans, answer["headers"]["Location"])["traces"]
    assert len(trace["spans"]) == SPANS


@pytest.mark.parametrize(
    ("filter_string", "found"),
    [
        (f"span.name = 'step_{SPANS - 1}'", True),
        (f"span.name = 'step_{SPANS}'", False),
        (f"span.content LIKE '%payload {SPANS - 1} %'", True),
    ],
    ids=["a span past the summary", "no such span", "content of a span past the summary"],
)
def test_span_filters_see_every_span_of_a_trace_larger_than_its_summary(
    service: TraceService, traces: InMemoryTraceStore, spans: CountingSpans, filter_string: str, found: bool
) -> None:
    assert traces.get(TRACE_ID).spans_cut  # type: ignore[union-attr]

    page, _ = TraceSearchService(traces, spans).search(["0"], filter_string, 10, [], None)

    assert [r.trace_id for r in page] == ([TRACE_ID] if found else [])


def test_the_spans_view_of_traces_metrics_counts_every_span_of_a_trace_larger_than_its_summary(
    service: TraceService,
) -> None:
    """The Overview's span charts (``traces/metrics``, SPANS view) count all of a large trace's spans, as the
    reference counts its spans table, not only the ones its record summarises."""
    query = TraceMetricsQuery(("0",), "SPANS", "span_count", (Aggregation("COUNT"),))

    (point,) = service.query_metrics(query)

    assert point.values == {"COUNT": float(SPANS)}
