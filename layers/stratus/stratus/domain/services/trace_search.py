"""GenAI trace search (``traces/search``, the legacy listing ``GET /traces``) over ``TraceStore.page``.

The reference runs one SQL query; Stratus reads its experiments' trace partitions in request-time order and
evaluates the filter in code (:mod:`stratus.domain.search.traces`):

* Ordered by time (the default, the UI's and the client's order): each experiment is read page by page in that
  order, the experiments merged, and reading stops once ``max_results`` traces matched. The page token says where
  each experiment stopped, so the next page resumes there instead of reading from the start.
* Ordered by anything else (name, status, a tag, ...): every trace of the experiments is read, then sorted.

Span content filters (``span.content``, ``span.attributes.*``, ``text``) read the spans of the traces that passed
every other clause from the ``SpanStore``; so do ``span.name``/``type``/``status`` filters for a trace of more spans
than its record summarises (``SPAN_SUMMARY_CAP``). ``attribute.run_id = '…'`` also matches the traces linked to the run.

Page tokens are base64 JSON like the reference's (``{"offset": N}``), plus Stratus's resume points; a client only
echoes them.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stratus.domain import messages, validation
from stratus.domain.ports import SpanStore, TraceStore
from stratus.domain.search.traces import ATTRIBUTE, TraceQuery, compile_trace_search
from stratus.domain.trace_records import SpanSummary, TraceRecord, summarize, trace_sort_key
from stratus.errors import InvalidParameterValue

STORE_PAGE_SIZE = 101
"""Records read per ``TraceStore.page`` call (one DynamoDB Query): a search page of 100 (the client's and the web UI's
size) and the record after it, which tells whether the 100th record's millisecond is complete (otherwise a second
Query would be read to know)."""


@dataclass
class _Cursor:
    """Where one experiment's stream resumes: after the key ``start_after``, skipping the ids in ``skip`` (records
    of the request time the previous page stopped in, already returned)."""

    start_after: str | None
    skip: frozenset[str] = frozenset()


def _encode_token(offset: int, cursors: Mapping[str, _Cursor] | None) -> str:
    payload: dict[str, Any] = {"offset": offset}
    if cursors is not None:
        payload["resume"] = {exp: [c.start_after, sorted(c.skip)] for exp, c in cursors.items()}
    return base64.b64encode(json.dumps(payload).encode()).decode()


def _decode_token(page_token: str | None) -> tuple[int, dict[str, _Cursor] | None]:
    """The offset and resume points of a token; the reference's messages for a token it could not have issued."""
    if not page_token:
        return 0, None
    try:
        decoded = base64.b64decode(page_token, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise InvalidParameterValue("Invalid page token, could not base64-decode") from exc
    try:
        parsed = json.loads(decoded)
    except (ValueError, RecursionError) as exc:
        raise InvalidParameterValue(f"Invalid page token, decoded value={decoded!r}") from exc
    offset = parsed.get("offset") if isinstance(parsed, dict) else None
    if offset is None or isinstance(offset, bool) or not isinstance(offset, int):
        raise InvalidParameterValue(f"Invalid page token, parsed value={parsed}")
    resume = parsed.get("resume")
    if not isinstance(resume, dict):
        return max(offset, 0), None
    try:
        cursors = {str(exp): _Cursor(start, frozenset(skip)) for exp, (start, skip) in resume.items()}
    except (TypeError, ValueError) as exc:
        raise InvalidParameterValue(f"Invalid page token, parsed value={parsed}") from exc
    return max(offset, 0), cursors


def _group_start(request_time: int, *, descending: bool) -> str:
    """A store key just outside the records of ``request_time``, on the side a stream comes from."""
    prefix = trace_sort_key(request_time, "")[:-1]  # "T#<13 digits>"
    return prefix + ("$" if descending else '"')  # '$' sorts after '#', '"' before it


class _LazySpans(Mapping[str, str]):
    """Span id (hex) → the span's stored JSON text, read from the ``SpanStore`` on first use."""

    def __init__(self, spans: SpanStore, record: TraceRecord) -> None:
        self._spans, self._record = spans, record
        self._stored: list[dict] | None = None
        self._loaded: dict[str, str] | None = None

    def _read(self) -> list[dict]:
        if self._stored is None:
            self._stored = self._spans.read(self._record.experiment_id, self._record.trace_id)
        return self._stored

    def _load(self) -> dict[str, str]:
        if self._loaded is None:
            self._loaded = {_hex_span_id(span.get("span_id")): json.dumps(span) for span in self._read()}
        return self._loaded

    def summaries(self) -> list[SpanSummary]:
        """Every stored span as the record summarises its first ``SPAN_SUMMARY_CAP``."""
        return [summarize(span) for span in self._read()]

    def __getitem__(self, key: str) -> str:
        return self._load()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


def _hex_span_id(span_id: Any) -> str:
    if not isinstance(span_id, str):
        return ""
    try:
        return base64.b64decode(span_id, validate=True).hex()
    except (binascii.Error, ValueError):
        return span_id


class _Stream:
    """One experiment's records in the query's time order, read page by page from the store.

    The store orders records of the same millisecond by trace id in the read direction while the reference breaks
    ties by trace id ascending, so a whole millisecond is read before any of it is handed out, then sorted."""

    def __init__(self, store: TraceStore, experiment_id: str, query: TraceQuery, cursor: _Cursor | None) -> None:
        self._store, self.experiment_id, self._query = store, experiment_id, query
        self._descending = not query.order[0].ascending
        self._next_key: str | None = cursor.start_after if cursor else None
        self._skip = cursor.skip if cursor else frozenset()
        self._buffer: list[TraceRecord] = []
        self._ready: list[TraceRecord] = []
        self._ended = False
        self.last_time: int | None = None
        self.returned_in_group: set[str] = set()

    def _fill(self) -> None:
        # a resumed stream first re-reads the records of the millisecond it stopped in that were returned already
        limit = STORE_PAGE_SIZE + len(self._skip)
        records, self._next_key = self._store.page(
            self.experiment_id, descending=self._descending, start_after=self._next_key, limit=limit
        )
        self._buffer.extend(r for r in records if r.trace_id not in self._skip)
        self._ended = self._next_key is None

    def peek(self) -> TraceRecord | None:
        while not self._ready:
            while not self._ended and (
                not self._buffer or self._buffer[-1].request_time == self._buffer[0].request_time
            ):
                self._fill()
            if not self._buffer:
                return None
            head_time = self._buffer[0].request_time
            group = [r for r in self._buffer if r.request_time == head_time]
            self._buffer = self._buffer[len(group) :]
            self._ready = sorted(group, key=self._query.sort_key, reverse=True)  # popped from the end
        return self._ready[-1]

    def pop(self) -> TraceRecord:
        record = self._ready.pop()
        if record.request_time != self.last_time:
            self.last_time, self.returned_in_group = record.request_time, set()
        self.returned_in_group.add(record.trace_id)
        return record

    def cursor(self, previous: _Cursor | None) -> _Cursor:
        """Where the next page resumes: at the millisecond this page stopped in, skipping what it returned."""
        if self.last_time is None:
            return previous or _Cursor(None)
        skip = set(self.returned_in_group)
        if previous is not None and previous.start_after == _group_start(self.last_time, descending=self._descending):
            skip |= previous.skip
        return _Cursor(_group_start(self.last_time, descending=self._descending), frozenset(skip))


class TraceSearchService:
    """``SearchTracesV3`` and the legacy listing, as ``SqlAlchemyStore.search_traces`` answers them."""

    def __init__(self, traces: TraceStore, spans: SpanStore) -> None:
        self._traces = traces
        self._spans = spans

    def search(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None,
        max_results: int,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> tuple[list[TraceRecord], str | None]:
        """One page of the matching traces of the experiments, and the token of the next page (set whenever the
        page is full, as in the reference)."""
        if max_results < 1:
            raise InvalidParameterValue(messages.max_results_not_positive(max_results))
        experiments = list(dict.fromkeys(validation.validate_experiment_id(e) for e in experiment_ids))
        query = compile_trace_search(filter_string, order_by)
        offset, cursors = _decode_token(page_token)
        if not experiments:
            return [], None
        linked = self._linked_traces(query)
        first = query.order[0]
        if first.entity == ATTRIBUTE and first.key == "timestamp_ms" and (cursors is not None or offset == 0):
            return self._search_in_time_order(experiments, query, linked, max_results, offset, cursors or {})
        return self._search_all(experiments, query, linked, max_results, offset)

    def _linked_traces(self, query: TraceQuery) -> frozenset[str]:
        linked: set[str] = set()
        for run_id in query.run_ids:
            linked.update(self._traces.traces_of_run(run_id))
        return frozenset(linked)

    def _matches(self, query: TraceQuery, record: TraceRecord, linked: frozenset[str]) -> bool:
        if not query.filters_spans:
            return query.matches(record, linked_traces=linked)
        stored = _LazySpans(self._spans, record)
        # a record summarises its first SPAN_SUMMARY_CAP spans: a larger trace's span clauses read them all from S3
        every_span = stored.summaries if record.spans_cut else None
        contents = stored if query.needs_span_content else None
        return query.matches(record, linked_traces=linked, span_contents=contents, all_spans=every_span)

    def _search_in_time_order(
        self,
        experiments: list[str],
        query: TraceQuery,
        linked: frozenset[str],
        max_results: int,
        offset: int,
        cursors: dict[str, _Cursor],
    ) -> tuple[list[TraceRecord], str | None]:
        streams = [_Stream(self._traces, exp, query, cursors.get(exp)) for exp in experiments]
        found: list[TraceRecord] = []
        heap: list[tuple[tuple[Any, ...], int]] = []
        for index, stream in enumerate(streams):
            head = stream.peek()
            if head is not None:
                heap.append((query.sort_key(head), index))
        heapq.heapify(heap)
        while heap and len(found) < max_results:
            _, index = heapq.heappop(heap)
            stream = streams[index]
            record = stream.pop()
            if self._matches(query, record, linked):
                found.append(record)
            if len(found) == max_results:  # the page is full: reading the next record would cost another Query
                break
            head = stream.peek()
            if head is not None:
                heapq.heappush(heap, (query.sort_key(head), index))
        if len(found) < max_results:
            return found, None
        resume = {s.experiment_id: s.cursor(cursors.get(s.experiment_id)) for s in streams}
        return found, _encode_token(offset + len(found), resume)

    def _search_all(
        self, experiments: list[str], query: TraceQuery, linked: frozenset[str], max_results: int, offset: int
    ) -> tuple[list[TraceRecord], str | None]:
        matching = [r for exp in experiments for r in self._all_records(exp) if self._matches(query, r, linked)]
        matching.sort(key=query.sort_key)
        page = matching[offset : offset + max_results]
        token = _encode_token(offset + max_results, None) if len(page) == max_results else None
        return page, token

    def _all_records(self, experiment_id: str) -> Iterator[TraceRecord]:
        start_after: str | None = None
        while True:
            records, start_after = self._traces.page(
                experiment_id, descending=True, start_after=start_after, limit=STORE_PAGE_SIZE
            )
            yield from records
            if start_after is None:
                return
