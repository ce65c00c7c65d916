"""What the first page of a listing read, kept in the warm container for the pages after it.

The stock client reads a metric history in pages of 25,000 points and a search in pages of up to 1,000 runs, and
every page used to read, filter and sort everything again (a 100,000-point history: 4 full reads; a 10,000-run
search: 10 reads of the whole experiment). The first page now keeps its sorted result under a snapshot id carried in
the page token (``paging.create_page_token``); a later page that reaches the same container within ``TTL_S`` is cut
from it, as a repeatable read: the pages add up to the listing as it was at the first page, where offsets over a
changing listing could skip or repeat an entry. A page that reaches another container (tokens stay valid
everywhere), or comes later, reads again at its offset, as before.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from stratus.domain.paging import create_page_token, page_token_snapshot, parse_page_token

TTL_S = 300.0
HISTORY_POINTS = 500_000
"""Metric points a container keeps in all (about 150 bytes each in CPython: ~75 MB at most)."""
SEARCH_RUNS = 10_000
"""Runs a container keeps in all (a few KB each with their params, tags and latest metrics: ~100 MB at most)."""

T = TypeVar("T")


@dataclass
class _Snapshot(Generic[T]):
    listing: Hashable
    entries: Sequence[T]
    taken: float


class PageSnapshots(Generic[T]):
    """Sorted listings by snapshot id, oldest dropped first, at most ``max_entries`` entries in all. ``listing``
    identifies what was listed (a run and metric key, or a search's experiments, filter, view and order): a snapshot
    answers only the listing it was taken for."""

    def __init__(self, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._max_entries = max_entries
        self._snapshots: OrderedDict[str, _Snapshot[T]] = OrderedDict()
        self._entries = 0

    def keep(self, listing: Hashable, entries: Sequence[T]) -> str | None:
        """Keep ``entries`` and return their snapshot id, or None if they are too many to keep."""
        if len(entries) > self._max_entries:
            return None
        while self._snapshots and self._entries + len(entries) > self._max_entries:
            self._drop(next(iter(self._snapshots)))
        snapshot_id = secrets.token_hex(8)
        self._snapshots[snapshot_id] = _Snapshot(listing, entries, self._clock())
        self._entries += len(entries)
        return snapshot_id

    def get(self, snapshot_id: str | None, listing: Hashable) -> Sequence[T] | None:
        """The entries kept under ``snapshot_id`` for ``listing``, if still fresh."""
        snapshot = self._snapshots.get(snapshot_id or "")
        if snapshot is None or snapshot.listing != listing:
            return None
        if self._clock() - snapshot.taken > TTL_S:
            self._drop(snapshot_id or "")
            return None
        return snapshot.entries

    def _drop(self, snapshot_id: str) -> None:
        snapshot = self._snapshots.pop(snapshot_id)
        self._entries -= len(snapshot.entries)


def snapshot_page(
    snapshots: PageSnapshots[T],
    listing: Hashable,
    page_token: str | None,
    max_results: int | None,
    read: Callable[[], Sequence[T]],
) -> tuple[Sequence[T], str | None]:
    """One page of ``listing``: cut from the snapshot the token names if this container still has it, else from
    ``read()`` (the whole sorted listing); a page with more to come keeps its listing for the next one. No
    ``max_results``: everything from the token's offset, and no next token."""
    start = parse_page_token(page_token)
    snapshot = page_token_snapshot(page_token)
    entries = snapshots.get(snapshot, listing)
    if entries is None:
        snapshot, entries = None, read()
    if max_results is None:
        return entries[start:], None
    end = start + max_results
    if end >= len(entries):
        return entries[start:end], None
    snapshot = snapshot or snapshots.keep(listing, entries)
    return entries[start:end], create_page_token(end, snapshot=snapshot)
