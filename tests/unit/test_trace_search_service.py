"""Trace search over the TraceStore port (in-memory fake): paging, merging experiments, run links, span content."""

from __future__ import annotations

import base64
import json

import pytest

from stratus.domain.services.trace_search import TraceSearchService
from stratus.domain.trace_records import SpanSummary, TraceRecord
from stratus.errors import InvalidParameterValue
from stratus.store.memory import InMemorySpanStore, InMemoryTraceStore


def _put(store: InMemoryTraceStore, trace_id: str, experiment_id: str, request_time: int, **fields: object) -> None:
    record = TraceRecord(trace_id=trace_id, experiment_id=experiment_id, request_time=request_time, state="OK")
    for key, value in fields.items():
        setattr(record, key, value)
    assert store.put(record, previous=None)


@pytest.fixture
def stores() -> tuple[InMemoryTraceStore, InMemorySpanStore]:
    return InMemoryTraceStore(), InMemorySpanStore()


def _ids(records: list[TraceRecord]) -> list[str]:
    return [r.trace_id for r in records]


def _all_pages(service: TraceSearchService, **kwargs: object) -> list[list[str]]:
    pages, token = [], None
    while True:
        found, token = service.search(page_token=token, **kwargs)  # type: ignore[arg-type]
        pages.append(_ids(found))
        if token is None:
            return pages


def test_default_order_is_newest_first_with_a_token_whenever_the_page_is_full(stores) -> None:
    traces, spans = stores
    for n in range(5):
        _put(traces, f"tr-{n}", "1", 1000 + n)
    service = TraceSearchService(traces, spans)

    pages = _all_pages(service, experiment_ids=["1"], filter_string=None, max_results=2, order_by=[])

    assert pages == [["tr-4", "tr-3"], ["tr-2", "tr-1"], ["tr-0"]]


def test_a_full_last_page_still_gives_a_token_then_an_empty_page(stores) -> None:
    traces, spans = stores
    for n in range(4):
        _put(traces, f"tr-{n}", "1", 1000 + n)

    pages = _all_pages(TraceSearchService(traces, spans), experiment_ids=["1"], filter_string=None, max_results=2,
                       order_by=[])  # fmt: skip

    assert pages == [["tr-3", "tr-2"], ["tr-1", "tr-0"], []]


def test_paging_through_many_traces_of_one_millisecond_keeps_the_reference_tie_order(stores, monkeypatch) -> None:
    traces, spans = stores
    monkeypatch.setattr("stratus.domain.services.trace_search.STORE_PAGE_SIZE", 3)
    for n in range(7):
        _put(traces, f"tr-{n}", "1", 1000)
    _put(traces, "tr-new", "1", 2000)
    _put(traces, "tr-old", "1", 10)

    pages = _all_pages(TraceSearchService(traces, spans), experiment_ids=["1"], filter_string=None, max_results=3,
                       order_by=["timestamp DESC"])  # fmt: skip

    assert sum(pages, []) == ["tr-new", *(f"tr-{n}" for n in range(7)), "tr-old"]


def test_ascending_time_order_and_a_filter_page_through_matches_only(stores, monkeypatch) -> None:
    traces, spans = stores
    monkeypatch.setattr("stratus.domain.services.trace_search.STORE_PAGE_SIZE", 2)
    for n in range(10):
        _put(traces, f"tr-{n}", "1", 1000 + n, state="ERROR" if n % 3 == 0 else "OK")

    pages = _all_pages(TraceSearchService(traces, spans), experiment_ids=["1"], filter_string="trace.status = 'ERROR'",
                       max_results=2, order_by=["timestamp_ms ASC"])  # fmt: skip

    assert pages == [["tr-0", "tr-3"], ["tr-6", "tr-9"], []]


def test_several_experiments_are_merged_in_one_order(stores) -> None:
    traces, spans = stores
    _put(traces, "tr-a1", "1", 1)
    _put(traces, "tr-b2", "2", 2)
    _put(traces, "tr-a3", "1", 3)
    _put(traces, "tr-b4", "2", 4)
    _put(traces, "tr-c5", "3", 5)

    pages = _all_pages(TraceSearchService(traces, spans), experiment_ids=["1", "2"], filter_string=None,
                       max_results=3, order_by=[])  # fmt: skip

    assert pages == [["tr-b4", "tr-a3", "tr-b2"], ["tr-a1"]]


def test_a_non_time_order_reads_everything_and_pages_by_offset(stores) -> None:
    traces, spans = stores
    for n, name in enumerate(["c", "a", None, "b"]):
        _put(traces, f"tr-{n}", "1", 1000 + n, tags={"mlflow.traceName": name} if name else {})

    pages = _all_pages(TraceSearchService(traces, spans), experiment_ids=["1"], filter_string=None, max_results=3,
                       order_by=["name ASC"])  # fmt: skip

    assert pages == [["tr-1", "tr-3", "tr-0"], ["tr-2"]]


def test_the_page_token_is_base64_json_with_an_offset(stores) -> None:
    traces, spans = stores
    for n in range(3):
        _put(traces, f"tr-{n}", "1", n)

    _, token = TraceSearchService(traces, spans).search(["1"], None, 1, [], None)

    assert json.loads(base64.b64decode(token))["offset"] == 1  # type: ignore[arg-type]


def test_run_id_finds_traces_by_metadata_and_by_link(stores) -> None:
    traces, spans = stores
    _put(traces, "tr-meta", "1", 1, trace_metadata={"mlflow.sourceRun": "run-1"})
    _put(traces, "tr-link", "1", 2)
    _put(traces, "tr-other", "1", 3)
    traces.link_run("run-1", ["tr-link"])

    found, _ = TraceSearchService(traces, spans).search(["1"], "attribute.run_id = 'run-1'", 10, [], None)

    assert _ids(found) == ["tr-link", "tr-meta"]


def test_span_content_filters_read_spans_only_for_otherwise_matching_traces(stores) -> None:
    traces, spans = stores
    span_id_hex = "00000000000000aa"
    span_id_b64 = base64.b64encode(bytes.fromhex(span_id_hex)).decode()
    for trace_id, model in (("tr-gpt", "gpt-4o"), ("tr-claude", "claude")):
        _put(traces, trace_id, "1", 1 if model == "claude" else 2, spans=[SpanSummary(span_id_hex, "llm", "LLM", "OK")])
        spans.put_batch("1", trace_id, "b1", [{"span_id": span_id_b64, "name": "llm",
                                                "attributes": {"mlflow.llm.model": json.dumps(model)}}])  # fmt: skip
    reads: list[str] = []
    original = spans.read
    spans.read = lambda exp, trace_id: reads.append(trace_id) or original(exp, trace_id)  # type: ignore[method-assign]
    service = TraceSearchService(traces, spans)

    found, _ = service.search(["1"], "span.attributes.`mlflow.llm.model` LIKE '%gpt%'", 10, [], None)
    narrowed, _ = service.search(["1"], "trace.text LIKE '%claude%' AND trace.timestamp_ms < 2", 10, [], None)

    assert _ids(found) == ["tr-gpt"]
    assert _ids(narrowed) == ["tr-claude"]
    assert reads.count("tr-gpt") == 1  # the second search read only the trace its time clause let through


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_results": 0}, "Invalid value 0 for parameter 'max_results' supplied. It must be a positive integer"),
        ({"experiment_ids": ["abc"]}, "abc"),
        ({"page_token": "!!!"}, "Invalid page token"),
        ({"page_token": base64.b64encode(b'{"foo": 1}').decode()}, "Invalid page token, parsed value={'foo': 1}"),
        ({"filter_string": "trace.state = 'OK'"}, "Invalid attribute key 'state'"),
    ],
)
def test_bad_arguments_are_refused(stores, kwargs: dict, message: str) -> None:
    args = {"experiment_ids": ["1"], "filter_string": None, "max_results": 10, "order_by": [], "page_token": None}
    with pytest.raises(InvalidParameterValue, match=message):
        TraceSearchService(*stores).search(**{**args, **kwargs})


def test_no_experiment_finds_nothing(stores) -> None:
    assert TraceSearchService(*stores).search([], None, 10, [], None) == ([], None)


def test_each_page_of_100_in_time_order_is_one_store_read(stores) -> None:
    traces, spans = stores
    for i in range(350):
        _put(traces, f"tr-{i:04d}", "1", 1_000 + i)
    reads = []
    page = traces.page
    traces.page = lambda *args, **kwargs: reads.append(kwargs) or page(*args, **kwargs)  # type: ignore[method-assign]
    service, token, found = TraceSearchService(traces, spans), None, []

    for _ in range(3):
        reads.clear()
        records, token = service.search(["1"], None, 100, [], token)
        found += _ids(records)
        assert len(reads) == 1

    assert found == [f"tr-{i:04d}" for i in range(349, 49, -1)]
