"""The DynamoDB store at MLflow's limits, under moto with AWS's batch and transaction rules enforced."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from experiment_listings import FullReadOnly, fill_and_compare_experiment_listings

from stratus.domain.entities import Metric
from stratus.domain.services import ExperimentService, ProjectionService, RunService
from stratus.store.dynamodb import DynamoTrackingStore, bind_table
from stratus.store.dynamodb.items import ExperimentOrderItem, RunOrderItem
from stratus.store.dynamodb.tracking import MARKER_COALESCE_MS
from stratus.store.s3 import S3RunProjectionStore
from stratus_local.backends import create_tables
from stratus_local.template import parse_project

PROJECT_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture
def runs(aws: None) -> Iterator[RunService]:
    project = parse_project(PROJECT_DIR)
    create_tables(boto3.client("dynamodb"), project.tables, io.StringIO())
    bind_table(project.tables[0].name, os.environ["AWS_REGION"])
    store = DynamoTrackingStore()
    experiments = ExperimentService(store, "s3://bucket/mlartifacts")
    yield RunService(store, experiments)


def test_a_run_with_a_thousand_long_params_fits(runs: RunService) -> None:
    run_id = runs.create("0", "ana", 1, {}, None).run_id
    for batch in range(10):
        params = [(f"param_{batch}_{i}", f"{i:05d}" + "v" * 5995) for i in range(100)]
        runs.log_batch(run_id, [], params, [])
    run = runs.get(run_id)
    assert len(run.params) == 1000
    assert run.params["param_3_42"] == "00042" + "v" * 5995


def test_a_hundred_thousand_points_come_back_complete_and_ordered(runs: RunService) -> None:
    run_id = runs.create("0", "ana", 1, {}, None).run_id
    for start in range(0, 100_000, 1000):
        runs.log_batch(
            run_id, [Metric("loss", 1.0 / (s + 1), 10_000 + s, s) for s in range(start, start + 1000)], [], []
        )
    history, token = runs.get_metric_history(run_id, "loss", None, None)
    assert token is None
    assert [m.step for m in history] == list(range(100_000))
    assert runs.get(run_id).metrics["loss"].step == 99_999


def test_identical_points_merge_and_nan_sorts_as_zero(runs: RunService) -> None:
    run_id = runs.create("0", "ana", 1, {}, None).run_id
    points = [Metric("m", 2.0, 5, 1), Metric("m", float("nan"), 5, 1), Metric("m", -1.0, 5, 1), Metric("m", 7.0, 3, 9)]
    runs.log_batch(run_id, points, [], [])
    runs.log_batch(run_id, points, [], [])  # a client retry: every point again
    history, token = runs.get_metric_history(run_id, "m", None, None)
    assert token is None
    # MLflow's order: timestamp, step, value, with NaN compared as 0 (the reference's SQL store)
    shown = [(m.timestamp, m.step, "nan" if m.value != m.value else m.value) for m in history]
    assert shown == [(3, 9, 7.0), (5, 1, -1.0), (5, 1, "nan"), (5, 1, 2.0)]
    first, token = runs.get_metric_history(run_id, "m", 3, None)
    rest, last = runs.get_metric_history(run_id, "m", 3, token)
    assert [m.value for m in first][:2] == [7.0, -1.0] and [m.value for m in rest] == [2.0] and last is None


def test_an_experiment_beyond_one_query_page_is_read_whole_in_ranges(
    runs: RunService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DynamoDB pages a Query at 1 MB; the store then reads the rest of the experiment in sort-key ranges at once.
    A small first page (Limit) stands in for the 1 MB boundary."""
    from pynamodb.connection.table import TableConnection

    experiment_id = runs._experiments.create("wide", None, {})
    run_ids = []
    for i in range(40):
        run_id = runs.create(experiment_id, "ana", i, {"t": str(i)}, f"r{i}").run_id
        runs.log_batch(
            run_id, [Metric(f"m{k}", i + k, 1, 0) for k in range(8)], [(f"p{k}", str(i)) for k in range(8)], []
        )
        run_ids.append(run_id)
    runs.log_batch(run_ids[7], [], [("long", "x" * 5000)], [])
    ranges: list[object] = []
    query = TableConnection.query

    def first_page_small(self: TableConnection, hash_key: str, *args: object, **kwargs: object) -> object:
        ranges.append(kwargs.get("exclusive_start_key"))
        if kwargs.get("exclusive_start_key") is None and len(ranges) == 1:
            kwargs["limit"] = 25
        return query(self, hash_key, *args, **kwargs)

    monkeypatch.setattr(TableConnection, "query", first_page_small)
    listed = runs._store.list_runs(experiment_id)
    assert len(ranges) > 2, "the rest of the experiment was not read in ranges"
    assert sorted(r.run_id for r in listed) == sorted(run_ids)
    monkeypatch.setattr(TableConnection, "query", query)
    for run in listed:
        expected = runs.get(run.run_id)
        assert (run.params, run.tags, run.metrics) == (expected.params, expected.tags, expected.metrics)
    assert next(r for r in listed if r.run_id == run_ids[7]).params["long"] == "x" * 5000


def test_experiments_are_listed_whole_with_their_tags(runs: RunService) -> None:
    """``list_experiments`` reads raw DynamoDB JSON: every field and tag (an empty value too) comes back as written,
    over more than one 1 MB page."""
    store = DynamoTrackingStore()
    experiments = ExperimentService(store, "s3://bucket/mlartifacts")
    long_tag = "v" * 20_000
    ids = [experiments.create(f"listed-{n}", None, {"empty": "", "long": long_tag, "n": str(n)}) for n in range(60)]
    listed = {e.experiment_id: e for e in store.list_experiments()}
    for experiment_id in ids:
        expected = store.get_experiment(experiment_id)
        assert listed[experiment_id] == expected
        assert listed[experiment_id].tags["empty"] == ""
    assert sum(len(e.tags.get("long", "")) for e in listed.values()) > 1_048_576  # more than one Query page


def test_newest_first_reads_the_run_order_items(runs: RunService) -> None:
    """Runs newest first (ties by run id), one view at a time, from the run order items; None where a full read is
    as cheap (a small experiment) or the only way (an experiment without the marker, created before the items)."""
    store = DynamoTrackingStore()
    experiment = runs._experiments.create("ordered", None, {})  # noqa: SLF001 - the fixture's experiment service
    ids = [runs.create(experiment, "ana", 1_000 + (i % 7), {}, f"r{i}").run_id for i in range(40)]
    deleted = set(ids[::6])
    for run_id in deleted:
        runs.delete(run_id)
    everything = sorted(store.list_runs(experiment), key=lambda r: (-r.info.start_time, r.run_id))
    for stages, start, count in [
        (["active"], 0, 10),
        (["active"], 7, 11),
        (["deleted"], 2, 3),
        (["active", "deleted"], 25, 9),
    ]:
        expected = [r.run_id for r in everything if r.info.lifecycle_stage in stages][start : start + count]
        found = store.runs_newest_first(experiment, stages, start, count)
        assert found is not None
        assert [r.run_id for r in found] == expected
        assert found == [r for r in everything if r.run_id in set(expected)]  # whole runs, as list_runs gives them

    assert store.runs_newest_first(experiment, ["active"], 0, 40) is None  # 40 runs: one Query reads them whole
    small = runs._experiments.create("small", None, {})  # noqa: SLF001
    runs.create(small, "ana", 5, {}, "only")
    assert store.runs_newest_first(small, ["active"], 0, 1) is None

    RunOrderItem(pk=f"EXP#{experiment}", sk="T#").delete()  # as an experiment created before run order items
    assert store.runs_newest_first(experiment, ["active"], 0, 10) is None
    page, _ = runs.search([experiment], None, None, 10, [], None)
    assert [r.run_id for r in page] == [r.run_id for r in everything if r.run_id not in deleted][:10]


def test_a_log_batch_soon_after_create_run_in_the_same_container_puts_no_marker_of_its_own(
    runs: RunService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a run just created (its change marker written with it),
    when the same container logs to it within the coalescing window, then after it,
    then the first log-batch adds no marker (the create's stands for it, still exact: section 6 of
    docs/search-at-scale.md), and the later one does; another container, which did not see the create, does too."""
    now = [1_700_000_000_000]
    monkeypatch.setattr("stratus.store.dynamodb.tracking._now_ms", lambda: now[0])
    experiment = runs._experiments.create("coalesced", None, {})  # noqa: SLF001 - the fixture's
    run_id = runs.create(experiment, "ana", 1, {}, None).run_id

    now[0] += MARKER_COALESCE_MS - 1
    runs.log_batch(run_id, [Metric("loss", 0.5, 1, 0)], {"p": "1"}, [])
    assert marker_times(experiment) == [1_700_000_000_000]
    now[0] += 1
    runs.log_batch(run_id, [Metric("loss", 0.4, 2, 1)], {}, [])
    assert marker_times(experiment) == [1_700_000_000_000, 1_700_000_000_000 + MARKER_COALESCE_MS]
    now[0] += 1
    other = RunService(DynamoTrackingStore(), runs._experiments)  # noqa: SLF001 - another container
    other.log_batch(run_id, [Metric("loss", 0.3, 3, 2)], {}, [])
    assert len(marker_times(experiment)) == 3


def marker_times(experiment_id: str) -> list[int]:
    """The times of the experiment's change markers (``C#<ms>#<run_id>``), in order."""
    items = boto3.client("dynamodb").query(
        TableName=parse_project(PROJECT_DIR).tables[0].name,
        KeyConditionExpression="pk = :p AND begins_with(sk, :c)",
        ExpressionAttributeValues={":p": {"S": f"EXP#{experiment_id}"}, ":c": {"S": "C#"}},
        ConsistentRead=True,
    )["Items"]
    return [int(item["sk"]["S"][2:].split("#", 1)[0]) for item in items]


def test_a_search_projection_in_s3_answers_as_the_full_read(runs: RunService, monkeypatch: pytest.MonkeyPatch) -> None:
    """Given an experiment projected into S3 columns (change markers in the table, manifest item, one object per
    column), when runs change afterwards, then projected searches answer as the full read, before and after the
    projector runs again; and a projection whose objects are gone falls back to the full read."""
    boto3.client("s3").create_bucket(Bucket="projections")
    now = [1_700_000_000_000]  # the writers' markers and the projectors share this clock
    monkeypatch.setattr("stratus.store.dynamodb.tracking._now_ms", lambda: now[0])
    store = DynamoTrackingStore()
    projections = S3RunProjectionStore("projections")
    projector = ProjectionService(store, projections, min_runs=5, clock=lambda: now[0], page_share=1)
    projected = RunService(store, runs._experiments, projections=projector)  # noqa: SLF001 - the fixture's
    experiment = runs._experiments.create("projected", None, {})  # noqa: SLF001
    ids = []
    for i in range(30):
        run = runs.create(experiment, "ana", 1_000 + i % 4, {"team": "ab"[i % 2]}, f"r{i}")
        runs.log_batch(run.run_id, [Metric("loss", (i * 7 % 11) / 10, 1, 0)], {"p": str(i % 3)}, [])
        ids.append(run.run_id)
    assert store.changed_run_ids(experiment, 0) == set(ids)
    assert store.newest_change(experiment) == now[0]
    assert store.newest_change(runs._experiments.create("unchanged", None, {})) is None  # noqa: SLF001
    assert store.has_runs(experiment, 30) and not store.has_runs(experiment, 31)
    now[0] += 120_000  # past the settle margin: the projection holds every run so far
    assert projector.refresh(experiment)
    now[0] += 120_000
    manifest = projections.manifest(experiment)
    assert manifest is not None and manifest.run_count == 30 and "m:loss" in manifest.columns
    queries = [("", ["metrics.loss ASC"]), ("params.p = '1' and tags.team = 'a'", []), ("metrics.loss > 0.3", [])]

    def same() -> None:
        for filter_string, order in queries:
            expected, _ = runs.search([experiment], filter_string, None, 7, order, None)
            found, _ = projected.search([experiment], filter_string, None, 7, order, None)
            assert found == expected, filter_string

    same()
    assert store.changed_run_ids(experiment, now[0] - 60_000) == set()
    runs.log_batch(ids[0], [Metric("loss", -1.0, 2, 1)], {}, [])
    runs.delete(ids[1])
    assert store.changed_run_ids(experiment, now[0] - 60_000) == {ids[0], ids[1]}
    assert store.newest_change(experiment) == now[0]
    same()
    now[0] += 120_000
    assert projector.refresh(experiment)
    same()
    manifest = projections.manifest(experiment)
    assert manifest is not None
    for key in [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket="projections")["Contents"]]:
        boto3.client("s3").delete_object(Bucket="projections", Key=key)
    assert projections.read_columns(manifest, ["run_id"]) is None
    same()


def test_experiments_listed_newest_first_from_their_order_items(runs: RunService) -> None:
    """On DynamoDB: experiments listed from their order items (creation and last-update time, moved on rename,
    delete and restore) page as the full read does, for every filter, order and view; a table whose Default
    experiment predates the order items (no marker) reads every experiment."""
    ticks = iter(range(10**6)).__next__

    def factory() -> tuple[Any, Any]:
        clock = lambda: 1_000 + ticks() // 3  # noqa: E731 - three calls share each millisecond: ties
        store = DynamoTrackingStore()
        return (
            ExperimentService(store, "s3://b/mlartifacts", clock=clock),
            ExperimentService(FullReadOnly(store), "s3://b/mlartifacts", clock=clock),
        )

    listings = fill_and_compare_experiment_listings(
        factory, size=40, page_sizes=(7, 1000), views=("ALL", "DELETED_ONLY")
    )
    assert listings == 4 * 5 * 2 * 2
    store = DynamoTrackingStore()
    assert store.experiments_newest_first("creation_time") is not None
    ExperimentOrderItem(pk="EXPORDER", sk="#").delete()
    assert store.experiments_newest_first("creation_time") is None
