"""MLflow 3's GenAI traces: ingest (``StartTraceV3`` and OTLP span batches, in either order, into one trace), the
reads of one or a few traces (info, spans in the OTel proto form, the ``traces.json`` artifact, the legacy v2 info),
``traces/metrics`` over the stored records. Search, tags, assessments, deletion and run links are
``services.trace_search`` and ``services.assessments``.

Storage (docs/data-model.md): the trace's record in DynamoDB (``TraceStore``), its spans in S3, one object per OTLP
batch (``SpanStore``), written once and never rewritten; a span re-sent replaces the earlier one when read.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Never

from stratus.domain import messages, otlp, validation
from stratus.domain.entities import ACTIVE, Experiment
from stratus.domain.paging import parse_page_token
from stratus.domain.ports import SpanStore, TraceStore
from stratus.domain.search.trace_metrics import parse_metrics_filter
from stratus.domain.services.experiments import ExperimentService
from stratus.domain.trace_metrics import compute_metrics, filter_for_view
from stratus.domain.trace_records import (
    SIZE_STATS,
    SpanSummary,
    StartInfo,
    TraceRecord,
    apply_spans,
    apply_start,
    new_from_spans,
    summarize,
    trace_sort_key,
)
from stratus.domain.trace_retention import check_default_days, expiry, retention_days
from stratus.domain.traces import MetricDataPoint, TraceMetricsQuery, check_metrics_query
from stratus.errors import Conflict, InvalidParameterValue, NotFound, ResourceDoesNotExist

METRICS_PAGE_SIZE = 500
"""Records read per ``TraceStore.page`` call by a metrics query (one DynamoDB Query, up to 1 MB)."""
PUT_ATTEMPTS = 8
"""How often a trace update is retried after losing a race to another writer of the same trace."""
TRACES_IN_PARALLEL = 8
"""Span objects of one OTLP request PUT at once (and traces retried at once after a lost race)."""
LARGE_ANSWER_BYTES = 4 * 1024 * 1024
"""A read's answer larger than this, as the Lambda response carries it (a JSON string: every quote and backslash
escaped), is stored in S3 and answered by a redirect to it: a Lambda response holds about 6 MB."""

Render = Callable[[list[tuple[TraceRecord, list[dict]]]], bytes]
"""Turns traces (record and spans) into the body of a read's answer."""


@dataclass(frozen=True)
class TraceAnswer:
    """A read's answer: its ``body``, or the ``url`` of the same body stored in S3 (too large to answer)."""

    body: bytes | None = None
    url: str | None = None


def trace_not_found(trace_id: str) -> str:
    return f"Trace with ID '{trace_id}' not found."


def trace_data_not_found(trace_id: str) -> str:
    """GetTrace, batchGet and get-trace-artifact word it without quotes."""
    return f"Trace with ID {trace_id} is not found."


def new_batch_id() -> str:
    """Batch ids sort in arrival order (nanoseconds first), so the last batch wins when a span is re-sent."""
    return f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}"


def span_order(spans: list[dict]) -> list[dict]:
    """Roots first, then by start time (the reference's order)."""
    return sorted(spans, key=lambda s: (s.get("parent_span_id") is not None, s.get("start_time_unix_nano") or 0))


class TraceService:
    """Trace ingest and reads, in the order of the reference's checks. ``traces``, ``spans`` and ``experiments``
    may be left out by a function that only answers the empty reads (metrics). A new trace is kept for its
    experiment's ``stratus.trace.retention_days``, else ``default_retention_days`` (0: until deleted), counted from
    ``clock()`` (epoch seconds) when its record is created (``domain.trace_retention``)."""

    def __init__(
        self,
        traces: TraceStore | None = None,
        spans: SpanStore | None = None,
        experiments: ExperimentService | None = None,
        new_batch: Callable[[], str] = new_batch_id,
        *,
        default_retention_days: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._traces = traces
        self._spans = spans
        self._experiments = experiments
        self._new_batch = new_batch
        self._default_days = check_default_days(default_retention_days)
        self._clock = clock
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    @property
    def traces(self) -> TraceStore:
        assert self._traces is not None, "TraceService built without a TraceStore"
        return self._traces

    @property
    def spans(self) -> SpanStore:
        assert self._spans is not None, "TraceService built without a SpanStore"
        return self._spans

    @property
    def experiments(self) -> ExperimentService:
        assert self._experiments is not None, "TraceService built without experiments"
        return self._experiments

    # ingest

    def start_trace(self, info: StartInfo) -> TraceRecord:
        """``StartTraceV3``: create the trace, or complete the one its spans began. The experiment must be active."""
        experiment = self.experiments.get(info.experiment_id)
        if experiment.lifecycle_stage != ACTIVE:
            raise InvalidParameterValue(messages.experiment_not_active(experiment.experiment_id))
        info.experiment_id = experiment.experiment_id

        def change(record: TraceRecord) -> None:
            apply_start(record, info, experiment.artifact_location)

        def create() -> TraceRecord:
            record = TraceRecord(trace_id=info.trace_id, experiment_id=info.experiment_id, request_time=0)
            return self._retained(record, retention_days(experiment.tags, self._default_days))

        saved, previous = self._update(info.trace_id, change, create)
        if previous is not None and previous.experiment_id != saved.experiment_id:
            self._move_spans(previous.experiment_id, saved)
        return saved

    def log_spans(self, experiment_id: str, batch: list[otlp.TraceSpans], run_id: str | None = None) -> None:
        """One OTLP export request: each trace's spans stored as one batch in S3, then its record brought up to
        date (created in ``experiment_id`` if new; an existing trace keeps its experiment). Retries are safe: a span
        re-sent replaces itself. ``run_id`` links the traces whose root span is in the request to that run.

        An OpenTelemetry SDK's batch carries the spans of many traces, so the request's records are read together
        (``get_many``) and written together (``put_many``: new traces in shared transactions); a trace whose write
        lost to another writer is then brought up to date on its own, re-read and retried (``_update``)."""
        current = {record.trace_id: record for record in self.traces.get_many([g.trace_id for g in batch])}
        experiment = None
        if any(group.trace_id not in current for group in batch):
            experiment = self._experiment_for_new_trace(experiment_id)
        plans = [self._plan(group, current.get(group.trace_id), experiment) for group in batch]
        self._each(self._put_spans, plans)
        saved = self._save_span_plans(plans)
        moved = [
            (plan.target, record)
            for plan, record in zip(plans, saved, strict=True)
            if record.experiment_id != plan.target
        ]
        self._each(lambda pair: self._move_spans(*pair), moved)  # StartTraceV3 moved the trace meanwhile
        if run_id:
            roots = [g.trace_id for g in batch if any(not s.get("parent_span_id") for s in g.spans)]
            if roots:
                self.traces.link_run(run_id, roots, expires_at={record.trace_id: record.expires_at for record in saved})

    def _plan(self, group: otlp.TraceSpans, previous: TraceRecord | None, experiment: Experiment | None) -> _SpanPlan:
        if previous is not None:
            return _SpanPlan(group, previous, previous.experiment_id, previous.retention_days)
        assert experiment is not None, "a new trace goes to the request's experiment"
        days = retention_days(experiment.tags, self._default_days)
        return _SpanPlan(group, None, experiment.experiment_id, days, experiment.artifact_location)

    def _put_spans(self, plan: _SpanPlan) -> None:
        trace_id = plan.group.trace_id
        self.spans.put_batch(plan.target, trace_id, self._new_batch(), plan.group.spans, retention_days=plan.days)

    def _create_for(self, plan: _SpanPlan) -> TraceRecord:
        """The trace's new record (also when it was deleted since read: made again where its spans went)."""
        record = new_from_spans(plan.group.trace_id, plan.target, plan.artifact_location)
        return self._retained(record, plan.days)

    def _save_span_plans(self, plans: list[_SpanPlan]) -> list[TraceRecord]:
        """Each plan's record saved: all at once from the records read, then each that lost on its own."""
        records: list[TraceRecord] = []
        for plan in plans:
            record = copy.deepcopy(plan.previous) if plan.previous else self._create_for(plan)
            plan.change(record)
            records.append(record)
        to_write = [i for i, plan in enumerate(plans) if not plan.unchanged(records[i])]
        written = self.traces.put_many([(records[i], plans[i].previous) for i in to_write])
        lost = [i for i, done in zip(to_write, written, strict=True) if not done]

        def retry(index: int) -> None:
            plan = plans[index]
            records[index], _ = self._update(
                plan.group.trace_id, plan.change, functools.partial(self._create_for, plan)
            )

        self._each(retry, lost)
        return records

    def _each(self, work: Callable[[Any], object], items: Sequence[Any]) -> None:
        """``work`` on every item, side by side when there are several (each is a request's wait or a few)."""
        if len(items) == 1:
            work(items[0])
        elif items:
            list(self._workers().map(work, items))

    def _workers(self) -> ThreadPoolExecutor:
        """The threads of ``_each``, made on first use and kept for later invocations (starting 8 threads took tens
        of ms a request on a busy machine)."""
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=TRACES_IN_PARALLEL, thread_name_prefix="trace-ingest")
            return self._pool

    def _retained(self, record: TraceRecord, days: int) -> TraceRecord:
        """A new record kept ``days`` from now (``domain.trace_retention``)."""
        record.retention_days = days
        record.expires_at = expiry(self._clock(), days)
        return record

    def _experiment_for_new_trace(self, experiment_id: str) -> Experiment:
        """The experiment a request's new traces go to."""
        try:
            canonical = str(int(experiment_id))
        except ValueError as error:
            raise InvalidParameterValue(messages.invalid_experiment_id(experiment_id)) from error
        return self.experiments.get(canonical)  # deleted experiments take spans, as the reference's do

    def _update(
        self,
        trace_id: str,
        change: Callable[[TraceRecord], None],
        create: Callable[[], TraceRecord],
    ) -> tuple[TraceRecord, TraceRecord | None]:
        """Apply ``change`` to the stored record (or a new one), saved conditionally; retried on a lost race."""
        for attempt in range(PUT_ATTEMPTS):
            previous = self.traces.get(trace_id)
            record = copy.deepcopy(previous) if previous else create()
            change(record)
            if self.traces.put(record, previous=previous):
                return record, previous
            # the client's worker threads send one trace's batches at once: spread the retries out
            time.sleep(random.uniform(0, 0.02 * (attempt + 1)))  # noqa: S311 - jitter, not security
        raise Conflict(f"Trace '{trace_id}' is being written by many callers at once; retry.")

    def _move_spans(self, old_experiment_id: str, record: TraceRecord) -> None:
        spans = self.spans.read(old_experiment_id, record.trace_id)
        if spans:
            self.spans.put_batch(
                record.experiment_id, record.trace_id, self._new_batch(), spans, retention_days=record.retention_days
            )
        self.spans.delete(old_experiment_id, record.trace_id)

    # reads

    def get_info(self, trace_id: str) -> TraceRecord:
        """``GetTraceInfoV3``."""
        record = self.traces.get(trace_id)
        if record is None:
            raise ResourceDoesNotExist(trace_not_found(trace_id))
        return record

    def get_trace(self, trace_id: str, *, allow_partial: bool) -> tuple[TraceRecord, list[dict]]:
        """``GetTrace``: the info and its spans (stored form, in the reference's order). Without ``allow_partial``,
        a trace whose ``sizeStats`` promise more spans than are stored is "not fully exported yet" (the reference
        sleeps 3 s before saying so; a Lambda answers at once)."""
        record = self._record_with_data(trace_id)
        return record, self._checked_spans(record, allow_partial)

    def get_trace_answer(self, trace_id: str, *, allow_partial: bool, render: Render) -> TraceAnswer:
        """``GetTrace`` rendered; a large trace's answer is stored once per revision (complete traces only) and
        later reads redirected to it without reading the spans again."""
        record = self._record_with_data(trace_id)
        name = f"trace-r{record.revision}.json"
        if cached := self._cached_answer(record, name):
            return cached
        spans = self._checked_spans(record, allow_partial)
        if not _complete(record, spans):
            name = f"partial-r{record.revision}.json"
        return self._sized_answer(record, name, render([(record, spans)]))

    def _record_with_data(self, trace_id: str) -> TraceRecord:
        record = self.traces.get(trace_id)
        if record is None:
            raise ResourceDoesNotExist(trace_data_not_found(trace_id))
        return record

    def _checked_spans(self, record: TraceRecord, allow_partial: bool) -> list[dict]:
        spans = self.read_spans(record)
        if not allow_partial and not _complete(record, spans):
            message = f"Trace with ID {record.trace_id} is not fully exported yet, please try again later."
            raise ResourceDoesNotExist(message)
        return spans

    def _cached_answer(self, record: TraceRecord, name: str) -> TraceAnswer | None:
        """A stored answer of a trace too large to summarise whole (so likely stored; a small trace costs no look)."""
        if not record.spans_cut:
            return None
        url = self.spans.answer_url(record.experiment_id, record.trace_id, name)
        return TraceAnswer(url=url) if url else None

    def _sized_answer(self, record: TraceRecord, name: str, body: bytes) -> TraceAnswer:
        if len(body) + body.count(b'"') + body.count(b"\\") <= LARGE_ANSWER_BYTES:
            return TraceAnswer(body=body)
        days = record.retention_days
        return TraceAnswer(
            url=self.spans.put_answer(record.experiment_id, record.trace_id, name, body, retention_days=days)
        )

    def batch_get(self, trace_ids: list[str], experiment_ids: list[str]) -> list[tuple[TraceRecord, list[dict]]]:
        """``BatchGetTraces``: unknown ids, traces of other experiments (when named) and incomplete traces left out."""
        return self._complete_traces(self.batch_get_infos(trace_ids, experiment_ids))

    def batch_get_answer(self, trace_ids: list[str], experiment_ids: list[str], render: Render) -> TraceAnswer:
        """``BatchGetTraces`` rendered; a large answer is stored beside the first trace's spans, named after the
        traces and their revisions, and reused while none of them changes."""
        records = self.batch_get_infos(trace_ids, experiment_ids)
        if not records:
            return TraceAnswer(body=render([]))
        revisions = ",".join(f"{r.trace_id}:{r.revision}" for r in records)
        name = f"batch-{hashlib.sha256(revisions.encode()).hexdigest()[:32]}.json"
        if any(r.spans_cut for r in records) and (cached := self._cached_answer(records[0], name)):
            return cached
        return self._sized_answer(records[0], name, render(self._complete_traces(records)))

    def _complete_traces(self, records: list[TraceRecord]) -> list[tuple[TraceRecord, list[dict]]]:
        found = []
        for record in records:
            spans = self.read_spans(record)
            if _complete(record, spans):
                found.append((record, spans))
        return found

    def batch_get_infos(self, trace_ids: list[str], experiment_ids: list[str]) -> list[TraceRecord]:
        """``BatchGetTraceInfos``: the infos of the ids that exist, in the order asked."""
        records = {r.trace_id: r for r in self.traces.get_many(list(dict.fromkeys(trace_ids)))}
        wanted = set(experiment_ids)
        return [
            records[t]
            for t in dict.fromkeys(trace_ids)
            if t in records and (not wanted or records[t].experiment_id in wanted)
        ]

    def trace_artifact(self, trace_id: str) -> dict:
        """``get-trace-artifact``: the trace's spans in the ``traces.json`` form (partial traces too)."""
        record = self._record_with_data(trace_id)
        return {"spans": self._artifact_spans(record)}

    def trace_artifact_answer(self, trace_id: str) -> TraceAnswer:
        """``get-trace-artifact`` as its JSON body; a large trace's stored once per revision, as GetTrace's."""
        record = self._record_with_data(trace_id)
        name = f"artifact-r{record.revision}.json"
        if cached := self._cached_answer(record, name):
            return cached
        body = json.dumps({"spans": self._artifact_spans(record)}).encode()
        return self._sized_answer(record, name, body)

    def _artifact_spans(self, record: TraceRecord) -> list[dict]:
        spans = self.read_spans(record)
        if not spans:
            raise NotFound("Trace data not found for path=traces.json")
        return spans

    def legacy_info(self, request_id: str) -> TraceRecord:
        """The v2 ``GetTraceInfo``."""
        return self.get_info(request_id)

    def read_spans(self, record: TraceRecord) -> list[dict]:
        return span_order(self.spans.read(record.experiment_id, record.trace_id))

    def search(self, experiment_ids: Sequence[str], max_results: int, page_token: str | None) -> list[Never]:
        """The traces of the experiments on one page: none. ``max_results`` must be positive (its upper bound, 500,
        is the request schema's), each experiment id an integer and the page token one the reference could issue."""
        if max_results < 1:
            raise InvalidParameterValue(messages.max_results_not_positive(max_results))
        for experiment_id in experiment_ids:
            validation.validate_experiment_id(experiment_id)
        parse_page_token(page_token)
        return []

    def query_metrics(self, query: TraceMetricsQuery) -> list[MetricDataPoint]:
        """The query's data points over the experiments' traces, spans or assessments, after the reference's checks.
        Only the records in the query's time range are read (``read_in_range``); without a range, every record of
        the experiments."""
        check_metrics_query(query)
        for experiment_id in query.experiment_ids:
            validation.validate_experiment_id(experiment_id)
        filters = filter_for_view([parse_metrics_filter(f) for f in query.filters], query.view_type)
        records = (
            record
            for experiment_id in dict.fromkeys(query.experiment_ids)
            for record in self.read_in_range(experiment_id, query.start_time_ms, query.end_time_ms)
        )
        return compute_metrics(query, records, filters, functools.cache(self._linked_traces), self._all_spans)

    def _all_spans(self, record: TraceRecord) -> list[SpanSummary]:
        """Every stored span of a trace whose record summarises only its first ``SPAN_SUMMARY_CAP``."""
        return [summarize(span) for span in self.spans.read(record.experiment_id, record.trace_id)]

    def read_in_range(self, experiment_id: str, start_ms: int | None, end_ms: int | None) -> Iterator[TraceRecord]:
        """The experiment's records with ``start_ms <= request_time <= end_ms`` (either bound optional), read in
        request-time order from the first in range, ``METRICS_PAGE_SIZE`` a page, stopping past the end."""
        start_after = trace_sort_key(start_ms, "")[:-1] + '"' if start_ms is not None and start_ms > 0 else None
        while True:
            records, start_after = self.traces.page(
                experiment_id, descending=False, start_after=start_after, limit=METRICS_PAGE_SIZE
            )
            for record in records:
                if end_ms is not None and record.request_time > end_ms:
                    return
                yield record
            if start_after is None:
                return

    def _linked_traces(self, run_id: str) -> frozenset[str]:
        return frozenset(self.traces.traces_of_run(run_id))


@dataclass(frozen=True)
class _SpanPlan:
    """One trace of an OTLP request: its spans, its record as read before (None: new), and where its spans go (the
    record's experiment and retention; for a new trace, the request's experiment and what its tag says)."""

    group: otlp.TraceSpans
    previous: TraceRecord | None
    target: str
    days: int
    artifact_location: str = ""

    def change(self, record: TraceRecord) -> None:
        apply_spans(record, self.group.spans, self.group.resource)

    def unchanged(self, record: TraceRecord) -> bool:
        """Nothing to write: every span was summarised as it is (a batch sent again). Never so for a trace whose
        summary is cut: its stored answers are named after the revision, which its new spans must move."""
        return self.previous is not None and record == self.previous and not record.spans_cut


def _complete(record: TraceRecord, spans: list[dict]) -> bool:
    try:
        expected = int(json.loads(record.trace_metadata[SIZE_STATS])["num_spans"])
    except (KeyError, TypeError, ValueError):
        return True
    return len(spans) >= expected
