"""GenAI trace records in DynamoDB: the record in its experiment's trace partition, in request-time order
(``TRACES#<exp>``/``T#<ms:013d>#<id>``), found by id through a pointer (``TRACE#<id>``/``#``); run links under
``TRACERUN#<run_id>``. Every update is conditional on the record's revision; a record whose key moves (its request
time or experiment changed) is deleted, re-put and re-pointed in one transaction; new records are created with their
pointers in transactions of up to 50 traces (``put_many``). The record's body is zlib-compressed JSON (``zbody``; a
record written before that has a plain ``body``). The record, its pointer and its run links carry the record's expiry
as the table's TTL attribute; DynamoDB deletes expired items within days, so every read here drops a record whose
``ttl`` has passed, and a create may replace one. Costs: docs/data-model.md."""

from __future__ import annotations

import json
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from functools import partial
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from stratus.domain.trace_records import SpanSummary, TraceRecord
from stratus.domain.trace_retention import expired
from stratus.store.dynamodb.batch import batch_get, batch_put
from stratus.store.dynamodb.errors import cause_code, translated, written
from stratus.store.dynamodb.items import StratusItem, TraceItem, TracePointerItem, TraceRunItem, sort_key_prefix

_PREFIX = "T#"
TRANSACTION_ITEMS = 100
"""DynamoDB's limit of items per TransactWriteItems: a create is two (pointer and record), so 50 traces."""
TRANSACTION_BYTES = 3_500_000
"""Below DynamoDB's 4 MB per TransactWriteItems, with room for the keys, names and conditions around the bodies."""
CREATE_ROUNDS = 3
"""Transactions tried for the creates of one ``put_many`` that another create's failure cancelled."""
WRITES_IN_PARALLEL = 8
"""Conditional PutItems of one ``put_many`` in flight at once."""
COMPRESSION_LEVEL = 6


def _pointer_pk(trace_id: str) -> str:
    return f"TRACE#{trace_id}"


def _partition(experiment_id: str) -> str:
    return f"TRACES#{experiment_id}"


def record_body(record: TraceRecord) -> str:
    """The record as the item's ``body`` (without the revision and expiry, which are attributes)."""
    body = asdict(record)
    del body["revision"], body["expires_at"]
    return json.dumps(body, separators=(",", ":"))


def compressed_body(record: TraceRecord) -> bytes:
    """The item's ``zbody``: :func:`record_body` zlib-compressed. A record is mostly its span summary, keys and ids
    repeated span after span, which compresses about 7 to 1 (a full 200-span summary from ~50 KB to ~7 KB), and a
    write is billed per KB of the item: docs/traces.md, "Ingest"."""
    return zlib.compress(record_body(record).encode(), COMPRESSION_LEVEL)


def record_of(item: TraceItem) -> TraceRecord:
    text = zlib.decompress(item.zbody).decode() if item.zbody is not None else item.body
    body: dict[str, Any] = json.loads(text or "{}")
    body["spans"] = [SpanSummary(**s) for s in body.get("spans", [])]
    return TraceRecord(**body, revision=int(item.revision), expires_at=int(item.ttl) if item.ttl is not None else None)


def _item(record: TraceRecord, revision: int) -> TraceItem:
    return TraceItem(
        pk=_partition(record.experiment_id),
        sk=record.sort_key,
        zbody=compressed_body(record),
        revision=revision,
        ttl=record.expires_at,
    )


def _pointer(record: TraceRecord) -> TracePointerItem:
    return TracePointerItem(
        pk=_pointer_pk(record.trace_id),
        sk="#",
        experiment_id=record.experiment_id,
        record_sk=record.sort_key,
        ttl=record.expires_at,
    )


class DynamoTraceStore:
    """``TraceStore`` on the single Stratus table; ``clock`` (epoch seconds) says which records have expired."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def _writers(self) -> ThreadPoolExecutor:
        """Threads for the single writes of ``put_many``, made on first use and kept for later invocations."""
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=WRITES_IN_PARALLEL, thread_name_prefix="trace-writes")
            return self._pool

    def _live(self, item: TraceItem) -> bool:
        return not expired(item.ttl, self._clock())

    def get(self, trace_id: str) -> TraceRecord | None:
        with translated():
            try:
                pointer = TracePointerItem.get(_pointer_pk(trace_id), "#", consistent_read=True)
                item = TraceItem.get(_partition(pointer.experiment_id), pointer.record_sk, consistent_read=True)
            except DoesNotExist:
                return None
        return record_of(item) if self._live(item) else None

    def get_many(self, trace_ids: list[str]) -> list[TraceRecord]:
        pointers = batch_get(TracePointerItem, [(_pointer_pk(t), "#") for t in dict.fromkeys(trace_ids)])
        items = batch_get(TraceItem, [(_partition(p.experiment_id), p.record_sk) for p in pointers])
        return [record_of(item) for item in items if self._live(item)]

    def put(self, record: TraceRecord, *, previous: TraceRecord | None) -> bool:
        if previous is None:
            return self._create_many([record])[0]
        revision = previous.revision + 1
        item = _item(record, revision)
        if (previous.experiment_id, previous.sort_key) == (record.experiment_id, record.sort_key):
            saved = written(partial(item.save, condition=TraceItem.revision == previous.revision))
        else:
            saved = written(partial(self._move, record, item, previous))
        if saved:
            record.revision = revision
        return saved

    def put_many(self, changes: list[tuple[TraceRecord, TraceRecord | None]]) -> list[bool]:
        """``put`` for each ``(record, previous)``: the creates together, in as few transactions as DynamoDB's
        limits allow (a transaction is billed twice its items either way), the other writes side by side meanwhile
        (a conditional PutItem each: in a transaction it would be billed twice)."""
        saved = [False] * len(changes)
        creates = [i for i, (_, previous) in enumerate(changes) if previous is None]
        others = [i for i, (_, previous) in enumerate(changes) if previous is not None]

        def put_one(index: int) -> None:
            record, previous = changes[index]
            saved[index] = self.put(record, previous=previous)

        pending = [self._writers().submit(put_one, i) for i in others] if creates or len(others) > 1 else []
        if not pending:
            for index in others:
                put_one(index)
        if creates:
            for index, done in zip(creates, self._create_many([changes[i][0] for i in creates]), strict=True):
                saved[index] = done
        for future in pending:
            future.result()
        return saved

    def _create_many(self, records: list[TraceRecord]) -> list[bool]:
        """Create each record with its pointer, over nothing or over an expired trace TTL has not deleted yet (its
        record item, if at another key, is left to TTL); many a transaction. A transaction is all or nothing: one trace
        another writer created first cancels it, so it is sent again without the traces that lost (and with those
        that were only cancelled), ``CREATE_ROUNDS`` times at most; what is left is False."""
        items = [_item(record, 1) for record in records]
        saved = [False] * len(records)
        pending = list(range(len(records)))
        for _ in range(CREATE_ROUNDS):
            cancelled: list[int] = []
            for chunk in _transaction_chunks(pending, [len(item.zbody or b"") for item in items]):
                outcome = self._create_chunk([records[i] for i in chunk], [items[i] for i in chunk])
                for index, result in zip(chunk, outcome, strict=True):
                    if result is None:
                        cancelled.append(index)
                    else:
                        saved[index] = result
            if not cancelled:
                break
            pending = cancelled
        for index, done in enumerate(saved):
            if done:
                records[index].revision = 1
        return saved

    def _create_chunk(self, records: list[TraceRecord], items: list[TraceItem]) -> list[bool | None]:
        """One transaction of creates: True for each when it went through; else, per trace, False when it lost to
        another writer (a condition failed, or another transaction held one of its items) and None when it was only
        cancelled with the others."""
        now = int(self._clock())
        with translated():
            try:
                with TransactWrite(connection=StratusItem._get_connection().connection) as tx:
                    for record, item in zip(records, items, strict=True):
                        pointer_free = TracePointerItem.pk.does_not_exist() | (TracePointerItem.ttl <= now)
                        tx.save(_pointer(record), condition=pointer_free)
                        tx.save(item, condition=TraceItem.pk.does_not_exist() | (TraceItem.ttl <= now))
            except TransactWriteError as exc:
                outcome = _lost_creates(exc, len(records))
                if outcome is None:
                    raise  # throttled, refused data, or no reasons given: translated() says which
                return outcome
        return [True] * len(records)

    def _move(self, record: TraceRecord, item: TraceItem, previous: TraceRecord) -> None:
        old = TraceItem(pk=_partition(previous.experiment_id), sk=previous.sort_key)
        with TransactWrite(connection=StratusItem._get_connection().connection) as tx:
            tx.delete(old, condition=TraceItem.revision == previous.revision)
            tx.save(item, condition=TraceItem.pk.does_not_exist())
            tx.save(_pointer(record))

    def delete(self, records: list[TraceRecord]) -> None:
        with translated():
            for record in records:
                with TransactWrite(connection=StratusItem._get_connection().connection) as tx:
                    tx.delete(TraceItem(pk=_partition(record.experiment_id), sk=record.sort_key))
                    tx.delete(TracePointerItem(pk=_pointer_pk(record.trace_id), sk="#"))

    def page(
        self, experiment_id: str, *, descending: bool, start_after: str | None, limit: int
    ) -> tuple[list[TraceRecord], str | None]:
        if start_after is None:
            condition = sort_key_prefix(TraceItem.sk, _PREFIX)
        elif descending:
            condition = TraceItem.sk.between(_PREFIX, start_after)
        else:
            condition = TraceItem.sk.between(start_after, _PREFIX + "\x7f")
        with translated():
            items = TraceItem.query(
                _partition(experiment_id),
                condition,
                scan_index_forward=not descending,
                limit=limit + 2,
                consistent_read=True,
            )
            found = [item for item in items if item.sk != start_after][: limit + 1]
        # expired records are dropped after the limit, so a page may be short; the resume key still moves on
        records = [record_of(item) for item in found[:limit] if self._live(item)]
        return records, (found[limit - 1].sk if len(found) > limit else None)

    def traces_of_run(self, run_id: str) -> list[str]:
        with translated():
            return [item.sk for item in TraceRunItem.query(f"TRACERUN#{run_id}", consistent_read=True)]

    def link_run(
        self, run_id: str, trace_ids: list[str], *, expires_at: Mapping[str, int | None] | None = None
    ) -> None:
        expiries = expires_at or {}
        links = [TraceRunItem(pk=f"TRACERUN#{run_id}", sk=t, ttl=expiries.get(t)) for t in dict.fromkeys(trace_ids)]
        with translated():
            batch_put(links)


_LOST = frozenset({"ConditionalCheckFailed", "TransactionConflict"})


def _lost_creates(exc: TransactWriteError, traces: int) -> list[bool | None] | None:
    """Per trace of a cancelled create transaction (two items each): False when it lost, None when it was only
    cancelled; None for the whole when the cancellation was for another reason (throttling, an item refused)."""
    reasons = exc.cancellation_reasons if cause_code(exc) == "TransactionCanceledException" else []
    if len(reasons) != 2 * traces:
        return None
    codes = [{r.code for r in reasons[2 * n : 2 * n + 2] if r is not None and r.code != "None"} for n in range(traces)]
    if not any(codes) or any(code - _LOST for code in codes):
        return None
    return [False if code else None for code in codes]


def _transaction_chunks(indexes: list[int], body_bytes: list[int]) -> list[list[int]]:
    """``indexes`` cut into transactions of at most ``TRANSACTION_ITEMS`` items (two a create) and about
    ``TRANSACTION_BYTES`` of bodies (each at most 400 KB, DynamoDB's item limit, so a chunk is never empty)."""
    chunks: list[list[int]] = []
    current: list[int] = []
    size = 0
    for index in indexes:
        item_bytes = body_bytes[index] + 1_000  # keys, names, the pointer
        if current and (2 * (len(current) + 1) > TRANSACTION_ITEMS or size + item_bytes > TRANSACTION_BYTES):
            chunks.append(current)
            current, size = [], 0
        current.append(index)
        size += item_bytes
    if current:
        chunks.append(current)
    return chunks
