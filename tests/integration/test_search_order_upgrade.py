"""Migration 3 (docs/operations.md "Upgrades"): a table written before the search order items existed (no run order
items or ``T#`` markers, no ``EXPORDER`` items or marker, no change markers) is upgraded, under moto with AWS's
write rules and on DynamoDB Local. Afterwards it holds exactly the items today's code writes for the same data, the
fast search paths answer as the full read, a second pass writes nothing, a stopped upgrade resumes from its cursor,
and runs and experiments written while it runs end with neither a missing, a duplicate nor a stale item."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from experiment_listings import FullReadOnly, compare_experiment_listings, fill_experiments

from stratus.domain.services import ExperimentService, ProjectionService, RunService
from stratus.domain.upgrades import upgrade
from stratus.store.dynamodb import DynamoTrackingStore, bind_table, tracking
from stratus.store.dynamodb.migrations import MIGRATIONS, DynamoSchemaState, search_order, upgrade_table
from stratus.store.memory import InMemoryRunProjectionStore
from stratus_local.backends import create_tables
from stratus_local.template import load_template, parse_project

PROJECT_DIR = Path(__file__).resolve().parents[2]
NEWEST = 2**63 - 1
Key = tuple[str, str]


@dataclass
class Table:
    client: Any
    name: str


@pytest.fixture
def table(aws: None) -> Table:
    """The template's table under moto (the ``aws`` fixture checks AWS's batch and transaction rules)."""
    return _bound(boto3.client("dynamodb"), None)


@pytest.fixture
def local_table(dynamodb_local: str, monkeypatch: pytest.MonkeyPatch) -> Table:
    """The template's table on DynamoDB Local (AWS's own rules), emptied of any other test's table."""
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "local"),
        ("AWS_SECRET_ACCESS_KEY", "local"),
        ("AWS_REGION", "us-east-1"),
    ):
        monkeypatch.setenv(name, value)
    client = boto3.client("dynamodb", endpoint_url=dynamodb_local, region_name="us-east-1")
    for existing in client.list_tables()["TableNames"]:
        client.delete_table(TableName=existing)
    return _bound(client, dynamodb_local)


def _bound(client: Any, host: str | None) -> Table:
    spec = parse_project(PROJECT_DIR).tables[0]
    create_tables(client, [spec], io.StringIO())
    bind_table(spec.name, "us-east-1", host=host)
    return Table(client, spec.name)


@dataclass(frozen=True)
class Sizes:
    experiments: int  # besides the Default
    big: int  # runs of the big experiment
    gone: int  # runs of the deleted experiment


SMALL = Sizes(12, 30, 8)  # for moto, which copies the whole table in every transaction
LARGE = Sizes(30, 60, 30)


@dataclass
class Older:
    """A table in the older layout, and the services that wrote it."""

    store: DynamoTrackingStore
    experiments: ExperimentService
    runs: RunService
    big: str  # start times tied in sevens, every ninth run deleted
    gone: str  # a deleted experiment
    written: set[Key]  # the order items and markers today's code wrote for this data


def _older_table(table: Table, sizes: Sizes) -> Older:
    """Experiments (the Default, renamed, tagged, deleted and restored ones; tied times) and their runs, written by
    today's code; then every order item, order marker and change marker removed, as a table written before them."""
    store = DynamoTrackingStore()
    ticks = iter(range(10**6)).__next__
    experiments = ExperimentService(store, "s3://b/mlartifacts", clock=lambda: 1_000 + ticks() // 3)
    runs = RunService(store, experiments)
    ids = fill_experiments(experiments, sizes.experiments)
    big, small, gone = ids[1], ids[2], ids[3]
    big_runs = [runs.create(big, "ana", 5_000 + i % 7, {"i": str(i)}, f"r{i}").run_id for i in range(sizes.big)]
    for run_id in big_runs[::9]:
        runs.delete(run_id)
    for i in range(3):
        runs.create(small, "ana", 7_000, {}, f"s{i}")
    for i in range(sizes.gone):
        runs.create(gone, "bo", 6_000 + i, {}, f"g{i}")
    runs.create("0", "ana", 8_000, {}, "default")
    experiments.delete(gone)
    written = _order_items(table)
    assert written == _expected(store)  # the expectation below is what the code writes
    for pk, sk in [*written, *_change_markers(table)]:
        table.client.delete_item(TableName=table.name, Key={"pk": {"S": pk}, "sk": {"S": sk}})
    return Older(store, experiments, runs, big, gone, written)


def _items(table: Table) -> dict[Key, dict[str, Any]]:
    found: dict[Key, dict[str, Any]] = {}
    for page in table.client.get_paginator("scan").paginate(TableName=table.name, ConsistentRead=True):
        found.update({(item["pk"]["S"], item["sk"]["S"]): item for item in page["Items"]})
    return found


def _order_items(table: Table) -> set[Key]:
    """Experiment order items and their marker; run order items and their markers."""
    return {(pk, sk) for pk, sk in _items(table) if pk == "EXPORDER" or (pk.startswith("EXP#") and sk.startswith("T#"))}


def _change_markers(table: Table) -> set[Key]:
    return {(pk, sk) for pk, sk in _items(table) if pk.startswith("EXP#") and sk.startswith("C#")}


def _expected(store: DynamoTrackingStore) -> set[Key]:
    """The order items of the table's experiments and runs, from their times (docs/data-model.md), and the markers."""
    keys = {("EXPORDER", "#")}
    for e in store.list_experiments():
        number = int(e.experiment_id)
        keys.add(("EXPORDER", f"C#{NEWEST - e.creation_time:020d}#{number:020d}"))
        keys.add(("EXPORDER", f"U#{NEWEST - e.last_update_time:020d}#{number:020d}"))
        keys.add((f"EXP#{e.experiment_id}", "T#"))
        for run in store.list_runs(e.experiment_id):
            keys.add((f"EXP#{e.experiment_id}", f"T#{NEWEST - run.info.start_time:020d}#{run.run_id}"))
    return keys


def _newest_first(store: DynamoTrackingStore, experiment_id: str) -> list[Any]:
    return sorted(store.list_runs(experiment_id), key=lambda r: (-r.info.start_time, r.run_id))


def _recording(calls: list[tuple[str, dict[str, Any]]]) -> Callable[..., Any]:
    """Records DynamoDB's calls only: an xdist worker may also host the e2e session's stack, whose pollers call
    DynamoDB Streams and SQS meanwhile (the migration's own writes run on a thread pool, so not by thread)."""
    original = BaseClient._make_api_call

    def call(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if self.meta.service_model.service_name == "dynamodb":
            calls.append((operation, params))
        return original(self, operation, params)

    return call


def _written_keys(calls: list[tuple[str, dict[str, Any]]]) -> list[Key]:
    """The keys of the items put (alone or in a transaction), the schema item left out."""
    items = [params["Item"] for operation, params in calls if operation == "PutItem"]
    items += [
        i["Put"]["Item"]
        for op, params in calls
        if op == "TransactWriteItems"
        for i in params["TransactItems"]
        if "Put" in i
    ]
    keys = [(item["pk"]["S"], item["sk"]["S"]) for item in items]
    return [key for key in keys if key != ("META", "SCHEMA")]


_TRANSACTION_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def _iam_actions(calls: list[tuple[str, dict[str, Any]]]) -> set[str]:
    """The IAM actions DynamoDB checks for these requests (a transaction: those of its parts)."""
    actions = set()
    for operation, params in calls:
        if operation == "TransactWriteItems":
            actions |= {f"dynamodb:{_TRANSACTION_ACTIONS[next(iter(i))]}" for i in params["TransactItems"]}
        else:
            actions.add(f"dynamodb:{operation}")
    return actions


def _granted_to_the_upgrade_function() -> set[str]:
    properties = load_template(PROJECT_DIR / "template.yaml")["Resources"]["SchemaUpgradeFunction"]["Properties"]
    statements = [s for policy in properties["Policies"] for s in policy["Statement"] if s["Effect"] == "Allow"]
    return {a for s in statements if s["Resource"] == {"Fn::GetAtt": ["StratusTable", "Arn"]} for a in s["Action"]}


def _move(experiments: ExperimentService, store: DynamoTrackingStore, experiment_id: str) -> None:
    """Move the experiment's last update time: rename it, or restore it if it is deleted."""
    experiment = store.get_experiment(experiment_id)
    assert experiment is not None
    if experiment.lifecycle_stage == "active":
        experiments.rename(experiment_id, f"moved-{experiment_id}")
    else:
        experiments.restore(experiment_id)


def _small_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many steps: 4 experiments and 40 run items (about ten runs) a step, so that an experiment spans several."""
    monkeypatch.setattr(search_order, "EXPERIMENTS_PER_STEP", 4)
    monkeypatch.setattr(search_order, "RUN_ITEMS_PER_STEP", 40)


# ---------------------------------------------------------------- an older table, upgraded


def test_an_older_table_gets_the_search_order_items_and_takes_the_fast_paths(
    table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    _upgraded_and_searched(table, SMALL, monkeypatch)


def test_an_older_table_gets_the_search_order_items_on_dynamodb_local(
    local_table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    _upgraded_and_searched(local_table, LARGE, monkeypatch)


def _upgraded_and_searched(table: Table, sizes: Sizes, monkeypatch: pytest.MonkeyPatch) -> None:
    """Given a table in the older layout, whose searches read everything,
    when it is upgraded (in many steps), then it holds exactly the items today's code writes, the web UI's run table
    and experiments/search newest first answer from them as the full read does, each experiment with runs got one
    change marker (so the projector makes its first projection), and a second pass writes nothing."""
    older = _older_table(table, sizes)
    store, big = older.store, older.big
    projector = ProjectionService(store, InMemoryRunProjectionStore(), min_runs=5)
    assert store.runs_newest_first(big, ["active"], 0, 10) is None
    assert store.experiments_newest_first("creation_time") is None
    assert not projector.refresh(big)  # without the T# marker, an experiment is never projected
    _small_steps(monkeypatch)
    assert upgrade(DynamoSchemaState(), MIGRATIONS[:2]).complete
    calls: list[tuple[str, dict[str, Any]]] = []
    with monkeypatch.context() as recorded:
        recorded.setattr(BaseClient, "_make_api_call", _recording(calls))

        result = upgrade_table()

    assert (result.complete, result.version, result.target) == (True, 3, len(MIGRATIONS))
    assert result.steps > 3  # pages of experiments, and the big experiment over several steps
    assert _iam_actions(calls) <= _granted_to_the_upgrade_function()  # moto and DynamoDB Local check no IAM
    assert _order_items(table) == older.written
    everything = _newest_first(store, big)
    for stages, start, count in [
        (["active"], 0, 10),
        (["active"], 7, 11),
        (["deleted"], 1, 2),
        (["active", "deleted"], 18, 9),
    ]:
        expected = [r for r in everything if r.info.lifecycle_stage in stages][start : start + count]
        assert store.runs_newest_first(big, stages, start, count) == expected
    page, token = older.runs.search([big], None, None, 10, [], None)
    active = [r.run_id for r in everything if r.info.lifecycle_stage == "active"]
    assert [r.run_id for r in page] == active[:10] and token is not None
    full_read = ExperimentService(FullReadOnly(store), "s3://b/mlartifacts")
    assert store.experiments_newest_first("creation_time") is not None
    listings = compare_experiment_listings(older.experiments, full_read, (7, 1000), ("ALL", "DELETED_ONLY"))
    assert listings == 4 * 5 * 2 * 2
    markers = {(pk, sk.rsplit("#", 1)[1]) for pk, sk in _change_markers(table)}
    with_runs = [e.experiment_id for e in store.list_experiments() if store.list_runs(e.experiment_id)]
    assert markers == {(f"EXP#{e}", _newest_first(store, e)[0].run_id) for e in with_runs}
    assert projector.refresh(big) and projector.refresh(older.gone)

    items = _items(table)
    assert upgrade_table().steps == 0
    calls = []
    monkeypatch.setattr(BaseClient, "_make_api_call", _recording(calls))
    cursor = search_order.SearchOrderItems().step(None)  # the whole migration again, from the start
    while cursor is not None:
        cursor = search_order.SearchOrderItems().step(cursor)

    assert _written_keys(calls) == [("EXPORDER", "#")]  # only the last marker's conditional put, refused
    assert _items(table) == items


# ---------------------------------------------------------------- stopped, resumed, written to meanwhile


def test_a_stopped_upgrade_resumes_and_writes_meanwhile_get_exactly_their_items(
    table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    _resumed_with_writers(table, SMALL, monkeypatch)


def test_a_stopped_upgrade_resumes_on_dynamodb_local(local_table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    _resumed_with_writers(local_table, LARGE, monkeypatch)


def _resumed_with_writers(table: Table, sizes: Sizes, monkeypatch: pytest.MonkeyPatch) -> None:
    """Given an upgrade stopped half-way through the big experiment's runs (its cursor in the schema item, some of its
    runs with items, its marker not yet written: its searches still read it whole),
    when runs are created, changed and deleted there and elsewhere, experiments renamed and created, and another
    runner finishes from the cursor, then every experiment and run has exactly its items (none missing, none twice,
    no order item of a time an experiment no longer has), and the second runner wrote only items that were missing."""
    older = _older_table(table, sizes)
    store, runs, experiments, big = older.store, older.runs, older.experiments, older.big
    _small_steps(monkeypatch)
    assert upgrade(DynamoSchemaState(), MIGRATIONS[:2]).complete
    progress: dict[str, Any] = {}
    while not (progress.get("experiment") == big and "runs" in progress):  # one step at a time
        assert upgrade(DynamoSchemaState(), MIGRATIONS, deadline=1, clock=iter([0, 1]).__next__).steps == 1
        state = DynamoSchemaState().read()
        assert state.version == 2 and state.cursor is not None
        progress = json.loads(state.cursor)
    done_before = progress["after"]
    assert done_before is not None
    partial = {sk for pk, sk in _order_items(table) if pk == f"EXP#{big}"}
    assert partial and "T#" not in partial and len(partial) < sizes.big
    assert store.runs_newest_first(big, ["active"], 0, 10) is None

    created = runs.create(big, "cy", 5_003, {}, "during").run_id  # a start time tied with others
    runs.log_batch(created, [], [], [("t", "v")])
    deleted = next(r.run_id for r in _newest_first(store, big) if r.info.lifecycle_stage == "active")
    runs.delete(deleted)
    _move(experiments, store, done_before)  # its last update time moves: its U# item must follow
    not_yet = next(e.experiment_id for e in store.list_experiments() if f"E#{e.experiment_id}" > f"E#{big}")
    _move(experiments, store, not_yet)
    newcomer = experiments.create("created-during", None, {})
    runs.create(newcomer, "cy", 9_000, {}, "new")
    before = set(_items(table))
    calls: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(BaseClient, "_make_api_call", _recording(calls))

    result = upgrade_table()

    assert result.complete and DynamoSchemaState().read().cursor is None
    assert _order_items(table) == _expected(store)
    written = [key for key in _written_keys(calls) if not key[1].startswith("C#")]  # change markers: new keys
    assert written and not set(written) & before and len(written) == len(set(written))
    everything = _newest_first(store, big)
    assert created in {r.run_id for r in everything}
    active = [r for r in everything if r.info.lifecycle_stage == "active"]
    assert deleted not in {r.run_id for r in active}
    assert store.runs_newest_first(big, ["active"], 0, 10) == active[:10]


def test_an_experiment_changed_between_the_read_and_the_write_gets_its_new_time(
    table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given an experiment renamed (its last update time moved) after the upgrade read it and before it wrote its
    order items, then the write is refused, the experiment read again, and it ends with the item of its new time only
    (its rename's own transaction wrote that one; the upgrade adds the creation item)."""
    older = _older_table(table, SMALL)
    target = older.big
    original = tracking._put_experiment_order
    attempts: list[int] = []

    def renamed_first(experiment: Any, missing: list[Any]) -> bool:
        if experiment.experiment_id == target:
            attempts.append(experiment.last_update_time)
            if len(attempts) == 1:
                older.experiments.rename(target, "renamed-meanwhile")
        return original(experiment, missing)

    monkeypatch.setattr(tracking, "_put_experiment_order", renamed_first)

    assert upgrade_table().complete

    assert len(attempts) == 2 and attempts[0] != attempts[1]
    assert _order_items(table) == _expected(older.store)
    mine = {sk for pk, sk in _order_items(table) if pk == "EXPORDER" and sk.endswith(f"#{int(target):020d}")}
    assert len(mine) == 2
