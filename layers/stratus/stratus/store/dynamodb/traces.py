"""GenAI trace records in DynamoDB: the record in its experiment's trace partition, in request-time order
(``TRACES#<exp>``/``T#<ms:013d>#<id>``), found by id through a pointer (``TRACE#<id>``/``#``); run links under
``TRACERUN#<run_id>``. Every update is conditional on the record's revision; a record whose key moves (its request
time or experiment changed) is deleted, re-put and re-pointed in one transaction. The record, its pointer and its run
links carry the record's expiry as the table's TTL attribute; DynamoDB deletes expired items within days, so every
read here drops a record whose ``ttl`` has passed, and a create may replace one. Costs: docs/data-model.md."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from functools import partial
from typing import Any

from pynamodb.exceptions import DoesNotExist
from pynamodb.transactions import TransactWrite

from stratus.domain.trace_records import SpanSummary, TraceRecord
from stratus.domain.trace_retention import expired
from stratus.store.dynamodb.batch import batch_put
from stratus.store.dynamodb.errors import translated, written
from stratus.store.dynamodb.items import StratusItem, TraceItem, TracePointerItem, TraceRunItem, sort_key_prefix

_PREFIX = "T#"
_BATCH_GET = 100  # DynamoDB's limit per BatchGetItem


def _pointer_pk(trace_id: str) -> str:
    return f"TRACE#{trace_id}"


def _partition(experiment_id: str) -> str:
    return f"TRACES#{experiment_id}"


def record_body(record: TraceRecord) -> str:
    """The record as the item's ``body`` (without the revision and expiry, which are attributes)."""
    body = asdict(record)
    del body["revision"], body["expires_at"]
    return json.dumps(body, separators=(",", ":"))


def record_of(item: TraceItem) -> TraceRecord:
    body: dict[str, Any] = json.loads(item.body)
    body["spans"] = [SpanSummary(**s) for s in body.get("spans", [])]
    return TraceRecord(**body, revision=int(item.revision), expires_at=int(item.ttl) if item.ttl is not None else None)


def _item(record: TraceRecord, revision: int) -> TraceItem:
    return TraceItem(
        pk=_partition(record.experiment_id),
        sk=record.sort_key,
        body=record_body(record),
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
        ids = list(dict.fromkeys(trace_ids))
        records: list[TraceRecord] = []
        with translated():
            for start in range(0, len(ids), _BATCH_GET):
                keys = [(_pointer_pk(t), "#") for t in ids[start : start + _BATCH_GET]]
                pointers = list(TracePointerItem.batch_get(keys))
                item_keys = [(_partition(p.experiment_id), p.record_sk) for p in pointers]
                records.extend(record_of(item) for item in TraceItem.batch_get(item_keys) if self._live(item))
        return records

    def put(self, record: TraceRecord, *, previous: TraceRecord | None) -> bool:
        revision = (previous.revision if previous else 0) + 1
        item = _item(record, revision)
        if previous is None:
            saved = written(partial(self._create, record, item))
        elif (previous.experiment_id, previous.sort_key) == (record.experiment_id, record.sort_key):
            saved = written(partial(item.save, condition=TraceItem.revision == previous.revision))
        else:
            saved = written(partial(self._move, record, item, previous))
        if saved:
            record.revision = revision
        return saved

    def _create(self, record: TraceRecord, item: TraceItem) -> None:
        """Pointer and record in one transaction, over nothing or over an expired trace TTL has not deleted yet (its
        record item, if at another key, is left to TTL)."""
        now = int(self._clock())
        with TransactWrite(connection=StratusItem._get_connection().connection) as tx:
            tx.save(_pointer(record), condition=TracePointerItem.pk.does_not_exist() | (TracePointerItem.ttl <= now))
            tx.save(item, condition=TraceItem.pk.does_not_exist() | (TraceItem.ttl <= now))

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
