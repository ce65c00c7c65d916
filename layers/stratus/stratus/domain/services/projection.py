"""Search projections: keep an experiment's runs as columns (the projector), and answer a search from them merged
with the runs changed since (the reader). docs/search-at-scale.md, sections 5 and 6, gives the reasoning.

Exactness: every run write puts a change marker (time ``t``) before it writes, and completes or fails by
``t + SETTLE_MARGIN_MS``. The projector reads the markers after ``W - SETTLE_MARGIN_MS`` (``W``: the previous
watermark), re-reads those runs and stores the new columns with watermark = the time it started. A reader takes every
run with a marker after ``W - SETTLE_MARGIN_MS`` from the table, and the rest from the columns: a write that ended
before the search began is either in the table part (marker in the window) or was complete before the projector read
it (marker older than the window). So a search sees the writes that returned before it, as the full read does.

Settling: the runs changed in the margin before the watermark stay in every search's table part until a later
projection starts at least ``SETTLE_MARGIN_MS`` after their markers. While runs are written, the next marker brings
one; after the last write nothing would, so an experiment loaded and then left alone would have every search re-read
its last minute of writes (thousands of runs after a bulk load). So a projection that leaves markers in its margin
asks the ``RefreshQueue`` for a refresh once the newest of them has settled (``settle``).
"""

from __future__ import annotations

from collections.abc import Callable

from stratus.domain.entities import Run
from stratus.domain.ports import RefreshQueue, RunProjectionStore, TrackingStore
from stratus.domain.projection import BASE_COLUMNS, columns_of, matching_rows, replace_rows, thin_runs
from stratus.domain.search.runs import RunQuery
from stratus.domain.services.experiments import now_ms

SETTLE_MARGIN_MS = 60_000
"""How long a run write may take from its marker to its last item (29 s API timeout, clock skew), with room."""
SETTLE_SLACK_MS = 1_000
"""Added to a settling refresh's due time: the queue's delay is in whole seconds and clocks differ a little."""
MAX_CHANGED_RUNS = 5_000
"""Past this many runs changed in the window (a bulk load, a stalled projector, an experiment just deleted), and more
than 1/REREAD_SHARE of the experiment, a search reads the experiment whole instead of those runs by key. Both: for a
large experiment the whole read is the slower by far (100,000 runs: minutes on stratus local, past the API's 30 s),
so its changed runs are still read by key, at ~10 RCU a run, until the projector catches up."""
REREAD_SHARE = 4
"""The projector reads the experiment whole instead of run by run once more than 1/REREAD_SHARE of its runs changed."""
MIN_RUNS = 2_000
"""Experiments smaller than this are not projected: reading them whole is about as fast."""
PAGE_SHARE = 50
"""A search answers from the projection only when its pages are at most 1/PAGE_SHARE of the experiment's runs; larger
pages read the experiment whole. A page from the projection reads its runs by key, and BatchGetItem bills each of a
run's ~9 items as at least a 4 KB unit (~10 RCU a run), where a Query of the partition bills bytes (~0.2 RCU a run) and
the later pages then come from the container's snapshot: with pages of 1,000 in a 10,000-run experiment, 10,958 RCU a
page against 2,114 for the whole experiment once (docs/benchmarks.md, part 4)."""


class ProjectionService:
    def __init__(
        self,
        tracking: TrackingStore,
        projections: RunProjectionStore,
        min_runs: int = MIN_RUNS,
        clock: Callable[[], int] = now_ms,
        page_share: int = PAGE_SHARE,
        later: RefreshQueue | None = None,
    ) -> None:
        self._tracking = tracking
        self._projections = projections
        self._min_runs = min_runs
        self._clock = clock
        self._page_share = page_share
        self._later = later

    # ---------------------------------------------------------------- reader

    def runs_to_search(self, experiment_id: str, query: RunQuery, page_size: int = 1) -> list[Run] | None:
        """The experiment's runs, enough of each for ``query`` (thin runs from the projection, whole runs for those
        changed since it was made); None when there is no usable projection, or when pages of ``page_size`` runs
        would cost more read by key than the experiment read whole (``PAGE_SHARE``): read the experiment whole then."""
        manifest = self._projections.manifest(experiment_id)
        if manifest is None or page_size * self._page_share > manifest.run_count:
            return None
        changed = self._tracking.changed_run_ids(experiment_id, manifest.watermark - SETTLE_MARGIN_MS)
        if len(changed) > MAX_CHANGED_RUNS and len(changed) * REREAD_SHARE > manifest.run_count:
            return None
        wanted = [name for name in (*BASE_COLUMNS, *sorted(query.columns)) if name in manifest.columns]
        columns = self._projections.read_columns(manifest, wanted)
        if columns is None:
            return None
        # The query's filter runs on the columns first, so only the rows it keeps become runs; RunService applies the
        # whole query again to these and to the changed runs read from the table.
        kept = matching_rows(columns, query.predicates)
        projected = [run for run in thin_runs(experiment_id, columns, kept) if run.info.run_id not in changed]
        return projected + self._tracking.get_runs(experiment_id, changed)

    # ---------------------------------------------------------------- projector

    def refresh(self, experiment_id: str) -> bool:
        """Bring the experiment's projection up to date; returns whether one was written. The first projection of an
        experiment reads it whole (only once it holds ``min_runs`` runs); later ones re-read the runs changed since.
        A projection written with change markers in its margin asks for a settling refresh (module docstring)."""
        started = self._clock()
        if not self._write_next(experiment_id):
            return False
        if self._later is None:  # nowhere to ask: the newest marker is not read
            return True
        newest = self._tracking.newest_change(experiment_id)
        if newest is not None and newest > started - SETTLE_MARGIN_MS:
            self._later.refresh_later(experiment_id, newest + SETTLE_MARGIN_MS + SETTLE_SLACK_MS)
        return True

    def settle(self, experiment_id: str, due_ms: int) -> bool:
        """The refresh a projection asked for, due at ``due_ms``: nothing if a projection started since then (it
        re-read those runs, and asked for its own settling refresh if it had to); whether one was written."""
        manifest = self._projections.manifest(experiment_id)
        if manifest is None or manifest.watermark >= due_ms:
            return False
        return self.refresh(experiment_id)

    def _write_next(self, experiment_id: str) -> bool:
        for _ in range(3):  # another projector may write between our read and our write: start again from its version
            started = self._clock()
            manifest = self._projections.manifest(experiment_id)
            if manifest is None:
                if not self._tracking.has_runs(experiment_id, self._min_runs):
                    return False
                columns = columns_of(self._tracking.list_runs(experiment_id))
            else:
                changed = self._tracking.changed_run_ids(experiment_id, manifest.watermark - SETTLE_MARGIN_MS)
                if not changed:
                    return False
                if len(changed) * REREAD_SHARE > manifest.run_count:
                    # most runs changed (an experiment deleted or restored): one read of the experiment is cheaper
                    # than reading each run by key (9 read units a run against about a quarter)
                    columns = columns_of(self._tracking.list_runs(experiment_id))
                    if self._projections.write(experiment_id, columns, started, manifest):
                        return True
                    continue
                old = self._projections.read_columns(manifest, manifest.columns)
                if old is None:
                    continue
                fresh = self._tracking.get_runs(experiment_id, changed)
                gone = changed - {run.info.run_id for run in fresh}
                columns = replace_rows(old, fresh, gone)
            if self._projections.write(experiment_id, columns, started, manifest):
                return True
        return False
