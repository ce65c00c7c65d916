"""Metric history and search pages: MLflow's orders, and later pages cut from the snapshot the first page read."""

from __future__ import annotations

import math

from stratus.domain.entities import Metric, MetricPoint, Run
from stratus.domain.metric_history import sorted_points
from stratus.domain.paging import create_page_token
from stratus.domain.services import ExperimentService, RunService
from stratus.domain.snapshots import TTL_S, PageSnapshots
from stratus.store.memory import InMemoryTrackingStore

NAN = float("nan")


def test_history_order_is_timestamp_step_value_and_nan_sorts_as_zero() -> None:
    points: list[MetricPoint] = [(2, 10, 1.0), (1, 10, 5.0), (1, 10, -1.0), (0, 20, 0.5), (1, 10, NAN)]
    shown = [(s, t, "nan" if math.isnan(v) else v) for s, t, v in sorted_points(points)]
    assert shown == [(1, 10, -1.0), (1, 10, "nan"), (1, 10, 5.0), (2, 10, 1.0), (0, 20, 0.5)]
    by_step = [(s, t, "nan" if math.isnan(v) else v) for s, t, v in sorted_points(points, by_step=True)]
    assert by_step == [(0, 20, 0.5), (1, 10, -1.0), (1, 10, "nan"), (1, 10, 5.0), (2, 10, 1.0)]
    assert sorted_points([(3, 1, 2.0), (1, 2, 1.0)]) == [(3, 1, 2.0), (1, 2, 1.0)]


def test_snapshots_answer_their_own_listing_expire_and_stay_under_their_budget() -> None:
    now = [0.0]
    snapshots: PageSnapshots[MetricPoint] = PageSnapshots(max_entries=5, clock=lambda: now[0])
    first = snapshots.keep(("run", "m"), [(0, 0, 1.0)] * 3)
    assert first and snapshots.get(first, ("run", "m")) == [(0, 0, 1.0)] * 3
    assert snapshots.get(first, ("other-run", "m")) is None and snapshots.get(first, ("run", "n")) is None
    assert snapshots.get("forged", ("run", "m")) is None and snapshots.get(None, ("run", "m")) is None
    second = snapshots.keep(("run", "n"), [(0, 0, 2.0)] * 3)  # 6 entries > 5: the oldest goes
    assert snapshots.get(first, ("run", "m")) is None and snapshots.get(second, ("run", "n"))
    assert snapshots.keep(("run", "big"), [(0, 0, 0.0)] * 6) is None  # never kept: more than the whole budget
    now[0] += TTL_S + 1
    assert snapshots.get(second, ("run", "n")) is None


class CountingStore(InMemoryTrackingStore):
    def __init__(self) -> None:
        super().__init__()
        self.history_reads = 0
        self.run_lists = 0

    def list_runs(self, experiment_id: str) -> list[Run]:
        self.run_lists += 1
        return super().list_runs(experiment_id)

    def metric_points(self, run_id: str, key: str) -> list[MetricPoint]:
        self.history_reads += 1
        return super().metric_points(run_id, key)


def test_later_pages_come_from_the_first_pages_snapshot() -> None:
    store = CountingStore()
    experiments = ExperimentService(store, "s3://bucket/mlartifacts")
    runs = RunService(store, experiments)
    run_id = runs.create("0", "ana", 5, {}, None).run_id
    runs.log_batch(run_id, [Metric("m", float(i), i, i) for i in range(25)], [], [])

    page, token = runs.get_metric_history(run_id, "m", 10, None)
    runs.log_batch(run_id, [Metric("m", -1.0, 0, 0)], [], [])  # lands before every page's offset
    page2, token2 = runs.get_metric_history(run_id, "m", 10, token)
    page3, last = runs.get_metric_history(run_id, "m", 10, token2)
    assert store.history_reads == 1
    steps = [m.step for m in page + page2 + page3]
    assert steps == list(range(25)) and last is None  # no point skipped or repeated by the write in between

    fresh, _ = runs.get_metric_history(run_id, "m", 100, None)
    assert len(fresh) == 26 and store.history_reads == 2
    # a token with an unknown snapshot (another container, or forged) reads again, at its offset
    again, _ = runs.get_metric_history(run_id, "m", 10, create_page_token(20, snapshot="elsewhere"))
    assert [m.step for m in again] == [19, 20, 21, 22, 23, 24] and store.history_reads == 3


def test_later_search_pages_come_from_the_first_pages_snapshot() -> None:
    store = CountingStore()
    experiments = ExperimentService(store, "s3://bucket/mlartifacts")
    runs = RunService(store, experiments)
    for i in range(7):
        run_id = runs.create("0", "ana", 100 + i, {}, f"r{i}").run_id
        runs.log_batch(run_id, [Metric("m", float(i), 1, 0)], [], [])
    query = ("metrics.m >= 1", "ACTIVE_ONLY", 2, ["metrics.m DESC"])
    page, token = runs.search(["0"], *query, None)
    late = runs.create("0", "ana", 1, {}, "late").run_id
    runs.log_batch(late, [Metric("m", 99.0, 1, 0)], [], [])  # would come first in a fresh read
    page2, token2 = runs.search(["0"], *query, token)
    page3, last = runs.search(["0"], *query, token2)
    assert [r.info.run_name for r in page + page2 + page3] == ["r6", "r5", "r4", "r3", "r2", "r1"]
    assert last is None and store.run_lists == 1
    fresh, _ = runs.search(["0"], *query, None)
    assert [r.info.run_name for r in fresh] == ["late", "r6"] and store.run_lists == 2
    # the same token with another filter is another listing: it reads again, at the token's offset
    other, _ = runs.search(["0"], "metrics.m >= 0", "ACTIVE_ONLY", 2, ["metrics.m DESC"], token)
    assert [r.info.run_name for r in other] == ["r5", "r4"] and store.run_lists == 3
