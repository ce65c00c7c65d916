"""Searches answered from an experiment's projection (thin runs from columns, merged with the runs changed since)
give exactly what the full read gives: same runs, same order, same pages, whole runs on every page."""

from __future__ import annotations

import math
import random

import pytest

from stratus.domain.entities import Dataset, DatasetInput, Metric
from stratus.domain.projection import ThinRun, columns_of, replace_rows, thin_runs
from stratus.domain.services import ExperimentService, ProjectionService, RunService
from stratus.domain.services.projection import SETTLE_MARGIN_MS, SETTLE_SLACK_MS
from stratus.store.memory import InMemoryRunProjectionStore, InMemoryTrackingStore

FILTERS = [
    "",
    "metrics.acc > 0.5 and params.p1 = '3' and tags.team = 'a'",
    "metrics.acc != 0.5",
    "metrics.loss <= 0.2",
    "params.p2 LIKE '%\\_x%'",
    "params.p2 ILIKE 'Ü%'",
    "attributes.status != 'RUNNING' and datasets.digest IN ('d1')",
    "tags.team != 'a'",
    "params.p1 IS NULL",
    "tags.team IS NOT NULL",
    "attributes.status = 'FINISHED'",
    "attributes.run_name LIKE 'run-1%'",
    "attributes.start_time > 1050",
    "attributes.end_time <= 1200",
    "datasets.name = 'train'",
    "datasets.context = 'eval'",
    "attributes.user_id = 'bo'",
]
ORDERS = [
    [],
    ["metrics.loss ASC"],
    ["metrics.acc DESC"],
    ["params.p1"],
    ["tags.team DESC", "metrics.loss"],
    ["attributes.start_time ASC"],
    ["attributes.run_name DESC"],
    ["attributes.end_time"],
]
SPECIAL = [math.nan, math.inf, -math.inf, 0.5, 0.5, 1e308]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000

    def __call__(self) -> int:
        return self.now


def _fill(runs: RunService, experiment_id: str, rng: random.Random, count: int) -> list[str]:
    ids = []
    for i in range(count):
        tags = {"team": rng.choice(["a", "b", "c"])} if rng.random() < 0.8 else {}
        run = runs.create(experiment_id, rng.choice(["ana", "bo"]), 1000 + rng.randrange(100), tags, f"run-{i}")
        params = {}
        if rng.random() < 0.8:
            params["p1"] = str(rng.randrange(5))
        if rng.random() < 0.5:
            params["p2"] = rng.choice(["ü_x", "Üx", "a_x", "a%x", "plain"])
        metrics = []
        for key in ("acc", "loss"):
            if rng.random() < 0.85:
                value = rng.choice(SPECIAL) if rng.random() < 0.2 else round(rng.random(), 2)
                metrics.append(Metric(key, value, 5, 0))
        runs.log_batch(run.run_id, metrics, params, [])
        if rng.random() < 0.3:
            context = rng.choice(["train", "eval"])
            dataset = DatasetInput(Dataset(rng.choice(["train", "test"]), "d1"), (("mlflow.data.context", context),))
            runs.log_inputs(run.run_id, [dataset], [])
        if rng.random() < 0.5:
            runs.update(run.run_id, rng.choice(["FINISHED", "FAILED"]), 1100 + rng.randrange(200), None)
        if rng.random() < 0.1:
            runs.delete(run.run_id)
        ids.append(run.run_id)
    return ids


@pytest.fixture
def world() -> tuple[RunService, RunService, ProjectionService, Clock, InMemoryTrackingStore, str]:
    clock = Clock()
    store = InMemoryTrackingStore()
    store.clock = clock
    experiments = ExperimentService(store, "s3://bucket/mlartifacts", clock=clock)
    projector = ProjectionService(store, InMemoryRunProjectionStore(), min_runs=1, clock=clock, page_share=1)
    plain = RunService(store, experiments, clock=clock)
    projected = RunService(store, experiments, clock=clock, projections=projector)
    experiment_id = experiments.create("big", None, {})
    return plain, projected, projector, clock, store, experiment_id


def _pages(runs: RunService, experiment_id: str, filter_string: str, order: list[str], view: str) -> list[list[str]]:
    pages, token = [], None
    while True:
        page, token = runs.search([experiment_id], filter_string, view, 17, order, token)
        assert not any(isinstance(run, ThinRun) for run in page)
        pages.append([run.run_id for run in page])
        if token is None:
            return pages


def _same_answers(plain: RunService, projected: RunService, experiment_id: str) -> int:
    compared = 0
    for filter_string in FILTERS:
        for order in ORDERS:
            for view in ("ACTIVE_ONLY", "ALL"):
                expected = _pages(plain, experiment_id, filter_string, order, view)
                assert _pages(projected, experiment_id, filter_string, order, view) == expected, (filter_string, order)
                compared += 1
    return compared


def test_a_projected_search_answers_exactly_as_the_full_read(world) -> None:
    """Given 300 random runs (NaN, infinities, ties, missing keys, LIKE's special characters, datasets, deleted runs),
    projected once the clock has moved past the settle margin, when every filter is searched in every order and view,
    then each page is the full read's page."""
    plain, projected, projector, clock, _store, experiment_id = world
    _fill(plain, experiment_id, random.Random(18), 300)
    clock.now += 120_000
    assert projector.refresh(experiment_id)
    clock.now += 120_000  # every run now comes from the columns: no marker in the window
    assert _same_answers(plain, projected, experiment_id) == len(FILTERS) * len(ORDERS) * 2


def test_runs_written_after_the_projection_are_seen_at_once(world) -> None:
    """Given a projection, when runs are created, changed, deleted and restored afterwards (without the projector),
    then searches still answer as the full read; and after the projector runs again, too."""
    plain, projected, projector, clock, _store, experiment_id = world
    rng = random.Random(7)
    ids = _fill(plain, experiment_id, rng, 150)
    clock.now += 120_000
    projector.refresh(experiment_id)
    clock.now += 120_000
    _fill(plain, experiment_id, rng, 40)
    for run_id in rng.sample(ids, 30):
        plain.restore(run_id)
        plain.log_batch(run_id, [Metric("loss", rng.random(), 9, 1)], [], [("team", "a")])
    for run_id in rng.sample(ids, 10):
        plain.delete(run_id)
    _same_answers(plain, projected, experiment_id)
    clock.now += 120_000
    assert projector.refresh(experiment_id)
    _same_answers(plain, projected, experiment_id)


class Later:
    """``RefreshQueue``: what was asked for."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, int]] = []

    def refresh_later(self, experiment_id: str, due_ms: int) -> None:
        self.asked.append((experiment_id, due_ms))


def _left_to_reread(store: InMemoryTrackingStore, projections: InMemoryRunProjectionStore, experiment_id: str) -> int:
    """How many runs a search would read from the table beside the projection's columns."""
    manifest = projections.manifest(experiment_id)
    assert manifest is not None
    return len(store.changed_run_ids(experiment_id, manifest.watermark - SETTLE_MARGIN_MS))


def test_a_projection_made_just_after_writes_settles_once_they_are_out_of_its_margin(world) -> None:
    """Given runs written and projected at once (a bulk load, then nothing), then every search re-reads them from the
    table; so the projection asks for a refresh when the newest write is past the margin, and after it searches read
    no run from the table, still answering exactly as the full read."""
    plain, _projected, _projector, clock, store, experiment_id = world
    later, projections = Later(), InMemoryRunProjectionStore()
    projector = ProjectionService(store, projections, min_runs=1, clock=clock, page_share=1, later=later)
    experiments = ExperimentService(store, "s3://bucket/mlartifacts", clock=clock)
    projected = RunService(store, experiments, clock=clock, projections=projector)
    _fill(plain, experiment_id, random.Random(5), 120)
    newest = store.newest_change(experiment_id)
    assert newest == clock.now

    assert projector.refresh(experiment_id)
    assert later.asked == [(experiment_id, newest + SETTLE_MARGIN_MS + SETTLE_SLACK_MS)]
    assert _left_to_reread(store, projections, experiment_id) == 120

    clock.now = later.asked[0][1]
    assert projector.settle(*later.asked[0])
    assert _left_to_reread(store, projections, experiment_id) == 0
    assert later.asked[1:] == []  # nothing was written in the new projection's margin: no further refresh
    _same_answers(plain, projected, experiment_id)


def test_a_settling_refresh_overtaken_by_a_later_projection_does_nothing(world) -> None:
    plain, _projected, _projector, clock, store, experiment_id = world
    later, projections = Later(), InMemoryRunProjectionStore()
    projector = ProjectionService(store, projections, min_runs=1, clock=clock, later=later)
    ids = _fill(plain, experiment_id, random.Random(6), 20)
    assert projector.refresh(experiment_id)
    clock.now += SETTLE_MARGIN_MS + 5_000
    plain.log_batch(ids[0], [Metric("loss", 0.1, 9, 1)], [], [])  # a later write: the stream wakes the projector
    assert projector.refresh(experiment_id)
    version = projections.manifest(experiment_id).version

    assert not projector.settle(*later.asked[0])
    assert projections.manifest(experiment_id).version == version
    assert len(later.asked) == 2  # the later projection asked for its own, for the run it re-read


def test_a_projection_with_no_write_in_its_margin_asks_for_nothing(world) -> None:
    plain, _projected, _projector, clock, store, experiment_id = world
    later = Later()
    projector = ProjectionService(store, InMemoryRunProjectionStore(), min_runs=1, clock=clock, later=later)
    _fill(plain, experiment_id, random.Random(8), 10)
    clock.now += SETTLE_MARGIN_MS + 1
    assert projector.refresh(experiment_id)
    assert later.asked == []


def test_only_experiments_with_enough_runs_are_projected(world) -> None:
    plain, _projected, _projector, clock, store, experiment_id = world
    _fill(plain, experiment_id, random.Random(3), 5)
    small = ProjectionService(store, InMemoryRunProjectionStore(), min_runs=6, clock=clock)
    assert not small.refresh(experiment_id)
    _fill(plain, experiment_id, random.Random(4), 1)
    assert small.refresh(experiment_id)


def test_pages_large_beside_the_experiment_read_it_whole(world) -> None:
    """Reading a page by key costs ~10 RCU a run against ~0.2 for the experiment read whole, so the projection answers
    only pages of at most 1/page_share of the experiment's runs (docs/benchmarks.md, part 4)."""
    from stratus.domain.search import compile_run_search

    plain, _projected, _projector, clock, store, experiment_id = world
    _fill(plain, experiment_id, random.Random(5), 100)
    projector = ProjectionService(store, InMemoryRunProjectionStore(), min_runs=1, clock=clock, page_share=50)
    assert projector.refresh(experiment_id)
    clock.now += 120_000  # past the settle margin: no run counts as changed since
    query = compile_run_search("metrics.acc > 0.5", ["metrics.loss ASC"])
    assert projector.runs_to_search(experiment_id, query, page_size=2) is not None  # 2 x 50 <= 100 runs
    assert projector.runs_to_search(experiment_id, query, page_size=3) is None  # 3 x 50 > 100: read whole
    searched = RunService(
        store, ExperimentService(store, "s3://bucket/x", clock=clock), clock=clock, projections=projector
    )
    for size in (2, 3):
        page, _ = searched.search([experiment_id], "metrics.acc > 0.5", "ALL", size, ["metrics.loss ASC"], None)
        expected, _ = plain.search([experiment_id], "metrics.acc > 0.5", "ALL", size, ["metrics.loss ASC"], None)
        assert [run.run_id for run in page] == [run.run_id for run in expected]


def test_many_changed_runs_are_read_by_key_unless_they_are_much_of_the_experiment(world, monkeypatch) -> None:
    """A bulk load into a large experiment leaves thousands of runs in the window: reading them by key is still far
    quicker than reading the experiment whole, so only when they are over 1/REREAD_SHARE of it is it read whole."""
    from stratus.domain.search import compile_run_search
    from stratus.domain.services import projection

    plain, projected, projector, clock, store, experiment_id = world
    ids = _fill(plain, experiment_id, random.Random(9), 100)
    ids = [run_id for run_id in ids if store.get_run(run_id).info.lifecycle_stage == "active"]
    clock.now += 120_000
    assert projector.refresh(experiment_id)
    clock.now += 120_000  # the fill is out of the window
    monkeypatch.setattr(projection, "MAX_CHANGED_RUNS", 10)
    query = compile_run_search("metrics.acc > 0.5", ["metrics.loss ASC"])
    for run_id in ids[:20]:  # 20 changed: over the cap, but a fifth of the experiment
        plain.log_batch(run_id, [Metric("loss", 0.01, 9, 1)], [], [])
    assert projector.runs_to_search(experiment_id, query, page_size=1) is not None
    _same_answers(plain, projected, experiment_id)
    for run_id in ids[20:30]:  # 30 changed: over a quarter of the experiment
        plain.log_batch(run_id, [Metric("loss", 0.02, 9, 1)], [], [])
    assert projector.runs_to_search(experiment_id, query, page_size=1) is None


def test_columns_round_trip_and_rows_are_replaced_by_run_id(world) -> None:
    plain, _projected, _projector, _clock, store, experiment_id = world
    _fill(plain, experiment_id, random.Random(5), 20)
    runs = store.list_runs(experiment_id)
    columns = columns_of(runs)
    assert columns["run_id"] == sorted(r.run_id for r in runs)
    back = {r.run_id: r for r in thin_runs(experiment_id, columns)}
    for run in runs:
        assert back[run.run_id].params == run.params
        assert back[run.run_id].tags == run.tags
        assert {k: repr(m.value) for k, m in back[run.run_id].metrics.items()} == {
            k: repr(m.value) for k, m in run.metrics.items()
        }
    gone, changed = runs[0], runs[1]
    changed.params["new"] = "1"
    merged = replace_rows(columns, [changed], [gone.run_id])
    assert gone.run_id not in merged["run_id"]
    assert merged["p:new"][merged["run_id"].index(changed.run_id)] == "1"
    assert merged["run_id"] == sorted(merged["run_id"])
