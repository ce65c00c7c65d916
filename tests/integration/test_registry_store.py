"""The registry store under moto with AWS's batch and transaction rules enforced: version numbers under concurrent
registration, changes that touch several versions, rename and delete, searches over every model from the version
summaries."""

from __future__ import annotations

import io
import itertools
import os
import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient

from stratus.domain.entities import STAGES, ModelVersion, PromotionEvent, RegisteredModel, latest_per_stage
from stratus.domain.ports import RegistrySnapshot
from stratus.domain.services import ExperimentService, LoggedModelService, RegistryService
from stratus.errors import ResourceAlreadyExists, ResourceDoesNotExist
from stratus.store.dynamodb import DynamoRegistryStore, bind_table
from stratus.store.memory import InMemoryLoggedModelStore, InMemoryTrackingStore
from stratus_local.backends import create_tables
from stratus_local.template import parse_project

PROJECT_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(aws: None) -> Iterator[DynamoRegistryStore]:
    project = parse_project(PROJECT_DIR)
    create_tables(boto3.client("dynamodb"), project.tables, io.StringIO())
    bind_table(project.tables[0].name, os.environ["AWS_REGION"])
    yield DynamoRegistryStore()


def _version(name: str, number: int) -> ModelVersion:
    return ModelVersion(name, number, 1, 1, "models:/m-" + "0" * 32)


def test_a_registration_that_loses_a_race_takes_the_next_number(store: DynamoRegistryStore) -> None:
    """Deterministic interleaving: while one registration is between its read and its write, another one commits.
    (moto's conditional writes are not thread-safe, so real threads run against DynamoDB Local in tests/e2e.)"""
    store.create_model(RegisteredModel("m", 1, 1))
    offered: list[int] = []

    def build(number: int) -> ModelVersion:
        offered.append(number)
        if len(offered) == 1:  # the competitor commits first
            store.create_version("m", lambda n: _version("m", n), 2)
        return _version("m", number)

    assert store.create_version("m", build, 3).version == 2
    assert offered == [1, 2]
    assert sorted(v.version for v in store.list_versions("m")) == [1, 2]
    assert store.get_model("m").last_updated_timestamp == 3  # type: ignore[union-attr]


def test_a_name_is_taken_once(store: DynamoRegistryStore) -> None:
    store.create_model(RegisteredModel("m", 1, 1))
    with pytest.raises(ResourceAlreadyExists):
        store.create_model(RegisteredModel("m", 2, 2))


def test_a_change_writes_versions_aliases_and_history_together(store: DynamoRegistryStore) -> None:
    store.create_model(RegisteredModel("m", 1, 1))
    for _ in range(3):
        store.create_version("m", lambda n: _version("m", n), 1)

    def change(snapshot: RegistrySnapshot) -> list[PromotionEvent]:
        snapshot.versions[1].current_stage = "Archived"
        snapshot.versions[2].current_stage = "Production"
        del snapshot.versions[3]
        snapshot.model.aliases["champion"] = 2
        return [PromotionEvent("m", 2, "stage", "None", "Production", "me", 5, None, "e1")]

    store.modify("m", change)
    assert {v.version: v.current_stage for v in store.list_versions("m")} == {1: "Archived", 2: "Production"}
    assert store.get_model("m").aliases == {"champion": 2}  # type: ignore[union-attr]
    assert [(e.kind, e.after, e.actor) for e in store.history("m")] == [("stage", "Production", "me")]
    # A deleted number is never handed out again.
    assert store.create_version("m", lambda n: _version("m", n), 1).version == 4


def test_rename_keeps_everything_and_delete_removes_everything(store: DynamoRegistryStore) -> None:
    store.create_model(RegisteredModel("old", 1, 1, "d", {"t": "v"}))
    store.create_version("old", lambda n: _version("old", n), 1)

    def alias(snapshot: RegistrySnapshot) -> list[PromotionEvent]:
        snapshot.model.aliases["a"] = 1
        return []

    store.modify("old", alias, versions=[])
    store.create_model(RegisteredModel("taken", 1, 1))
    with pytest.raises(ResourceAlreadyExists):
        store.rename_model("old", "taken", 3)
    store.rename_model("old", "new", 3)
    assert store.get_model("old") is None
    model = store.get_model("new")
    assert model is not None and (model.tags, model.aliases, model.description) == ({"t": "v"}, {"a": 1}, "d")
    assert [v.name for v in store.list_versions("new")] == ["new"]
    store.delete_model("new")
    assert store.get_model("new") is None and store.list_versions("new") == []
    with pytest.raises(ResourceDoesNotExist):
        store.modify("new", lambda s: [])
    store.create_model(RegisteredModel("new", 9, 9))  # the name is free again, with nothing left over
    assert store.list_versions("new") == [] and store.history("new") == []


def test_deleting_a_model_resends_versions_dynamodb_left_unprocessed(
    store: DynamoRegistryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AWS's rule for BatchWriteItem: what comes back as UnprocessedItems must be sent again (with backoff)."""
    from pynamodb.connection.table import TableConnection

    from stratus.store.dynamodb import batch as batch_module

    store.create_model(RegisteredModel("m", 1, 1))
    for _ in range(30):
        store.create_version("m", lambda n: _version("m", n), 2)
    rm_id = store._rm_id("m")
    original = TableConnection.batch_write_item
    handed_back: list[int] = []

    def half_done(self: TableConnection, put_items: object = None, delete_items: object = None, **kw: object) -> dict:
        keys = list(delete_items or [])  # type: ignore[call-overload]
        if len(handed_back) < 2 and len(keys) > 1:
            done = original(self, delete_items=keys[:1])
            handed_back.append(len(keys) - 1)
            # handed back as DynamoDB returns them: typed attribute values
            unprocessed = [{"DeleteRequest": {"Key": {a: _typed(k[a]) for a in ("pk", "sk")}}} for k in keys[1:]]
            return {**(done or {}), "UnprocessedItems": {self.table_name: unprocessed}}
        return original(self, put_items=put_items, delete_items=delete_items, **kw)  # type: ignore[arg-type]

    waits: list[float] = []
    monkeypatch.setattr(TableConnection, "batch_write_item", half_done)
    monkeypatch.setattr(batch_module.time, "sleep", waits.append)
    store.delete_model("m")
    monkeypatch.setattr(TableConnection, "batch_write_item", original)

    assert handed_back and len(waits) == len(handed_back)
    assert store.get_model("m") is None
    left = list(
        boto3.client("dynamodb").query(
            TableName=parse_project(PROJECT_DIR).tables[0].name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"RM#{rm_id}"}},
        )["Items"]
    )
    assert left == []


def _typed(value: object) -> object:
    return value if isinstance(value, dict) else {"S": value}


@pytest.fixture
def requests_made(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The DynamoDB operations this test's thread sends from now on, in order (not the pollers of a stack another
    test left running in this worker)."""
    made: list[str] = []
    original = BaseClient._make_api_call
    test_thread = threading.get_ident()

    def counted(self: BaseClient, operation: str, params: dict) -> dict:
        if threading.get_ident() == test_thread and self.meta.service_model.service_name == "dynamodb":
            made.append(operation)
        return original(self, operation, params)  # type: ignore[no-any-return]

    monkeypatch.setattr(BaseClient, "_make_api_call", counted)
    return made


def test_moving_an_alias_reads_the_model_and_its_versions_in_two_requests(
    store: DynamoRegistryStore, requests_made: list[str]
) -> None:
    """Given a model this container has read before, with versions 1 and 2,
    when an alias moves and a change touches both versions,
    then each change reads the model item once and the versions in one batch, then writes once."""
    store.create_model(RegisteredModel("m", 1, 1))
    for _ in range(2):
        store.create_version("m", lambda n: _version("m", n), 1)
    requests_made.clear()

    def promote(snapshot: RegistrySnapshot) -> list[PromotionEvent]:
        snapshot.model.aliases["champion"] = 2
        snapshot.versions[1].current_stage = "Archived"
        return []

    store.modify("m", promote, versions=[1, 2])
    assert requests_made == ["GetItem", "BatchGetItem", "TransactWriteItems"]
    assert store.get_model("m").aliases == {"champion": 2}  # type: ignore[union-attr]


def test_a_remembered_name_follows_renames_and_re_creations_by_other_containers(
    store: DynamoRegistryStore,
) -> None:
    """Given a container that has read model "a",
    when another container renames it to "b", creates a new "a", then deletes "b",
    then the first container sees each change as it happens, never the model the name used to point at."""
    other = DynamoRegistryStore()
    store.create_model(RegisteredModel("a", 1, 1, description="first"))
    assert store.get_model("a").description == "first"  # type: ignore[union-attr]
    other.rename_model("a", "b", 2)
    assert store.get_model("a") is None
    other.create_model(RegisteredModel("a", 3, 3, description="second"))
    assert store.get_model("a").description == "second"  # type: ignore[union-attr]
    assert store.get_model("b").description == "first"  # type: ignore[union-attr]
    other.delete_model("b")
    assert store.get_model("b") is None
    assert store.get_model("a").description == "second"  # type: ignore[union-attr]


# ---------------------------------------------------------------- version summaries: every model in one Query

RUN = "a" * 32


def _service(store: DynamoRegistryStore) -> RegistryService:
    """The service on this store, with a clock that moves at each reading (so renames and changes show)."""
    tracking = InMemoryTrackingStore()
    logged_models = LoggedModelService(InMemoryLoggedModelStore(), ExperimentService(tracking, "mlflow-artifacts:"))
    clock = itertools.count(1_000)
    return RegistryService(store, logged_models, tracking, "stratus-artifacts", clock=lambda: next(clock))


def _register(registry: RegistryService, name: str, versions: int, **fields: Any) -> None:
    registry.create_model(name, {"team": name}, f"about {name}")
    for n in range(versions):
        tags = {"n": str(n), "mlflow.prompt.run_ids": RUN} if n % 2 else {}
        registry.create_version(name, f"runs:/{RUN}/model", RUN, tags, fields.get("link"), fields.get("about"), None)


def _table_items(partition: str) -> list[dict[str, Any]]:
    client = boto3.client("dynamodb")
    return client.query(
        TableName=parse_project(PROJECT_DIR).tables[0].name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": partition}},
        ConsistentRead=True,
    )["Items"]


def _a_registry_with_every_kind_of_change(store: DynamoRegistryStore) -> None:
    """Tags, descriptions, stages archived by a transition, aliases, a deleted version, a version with every optional
    field (written through the store: the service leaves some empty), a renamed model, a deleted one, and a model of
    51 versions renamed: too big for one transaction with its summaries, so the versions are renamed after it."""
    registry = _service(store)
    _register(registry, "alpha", 4, link="http://runs/1", about="first")
    registry.transition_stage("alpha", 1, "Production", archive_existing=False, actor="me")
    registry.transition_stage("alpha", 2, "production", archive_existing=True, actor="me")
    registry.set_alias("alpha", "champion", 2, actor="me")
    registry.set_alias("alpha", "old", 4, actor="me")
    registry.set_version_tag("alpha", 3, "reviewed", "yes ✓")
    registry.update_version("alpha", 3, "a better description")
    registry.delete_version("alpha", 4, actor="me")
    full = ModelVersion(
        "alpha", 0, 7, 8, "models:/m-" + "1" * 32, "", "m-" + "1" * 32, "s3://bucket/m", None, "", "ü-user",
        "Staging", "PENDING_REGISTRATION", "waiting", {"ü": "✓", "empty": ""},
    )  # fmt: skip
    store.create_version("alpha", lambda n: ModelVersion(**{**full.__dict__, "version": n}), 9)
    _register(registry, "beta", 2)
    registry.rename_model("beta", "beta-renamed")
    _register(registry, "gone", 3)
    registry.delete_model("gone")
    _register(registry, "big", 51)
    registry.set_alias("big", "champion", 51, actor="me")
    registry.rename_model("big", "big-renamed")


def test_a_search_over_every_model_reads_the_summaries_and_answers_what_reading_every_model_answers(
    store: DynamoRegistryStore, requests_made: list[str]
) -> None:
    """Given a registry built through the service with every kind of change,
    when every version is read (what a model-version search pinned to no model and no run reads),
    then the versions are those, in that order, that reading the registry model by model gives, from 2 requests,
    and still 2 once the registry has more models; and the summaries are exactly the versions that exist."""
    _a_registry_with_every_kind_of_change(store)

    requests_made.clear()
    versions = store.all_versions()
    assert requests_made == ["GetItem", "Query"]
    assert versions == store._versions_model_by_model()
    by_model: dict[str, list[int]] = {}
    for version in versions:
        by_model.setdefault(version.name, []).append(version.version)
    assert by_model == {"alpha": [1, 2, 3, 5], "beta-renamed": [1, 2], "big-renamed": list(range(1, 52))}
    renamed = store.get_model("big-renamed")
    assert renamed is not None
    assert {v.last_updated_timestamp for v in versions if v.name == "big-renamed"} == {renamed.last_updated_timestamp}
    alpha = {v.version: v for v in versions if v.name == "alpha"}
    assert [alpha[n].current_stage for n in (1, 2, 3)] == ["Archived", "Production", "None"]
    assert (alpha[3].description, alpha[3].tags) == (
        "a better description",
        {"reviewed": "yes ✓"},
    )

    summaries = {item["sk"]["S"] for item in _table_items("MVSUM")}
    assert len(summaries) == 1 + len(versions)  # the marker, and one summary a version: none of what was deleted

    service = _service(store)
    for n in range(6):  # moto copies the whole table in each transaction: a bigger registry only takes longer
        _register(service, f"more-{n}", 1)
    requests_made.clear()
    more = store.all_versions()
    assert requests_made == ["GetItem", "Query"]
    assert len(more) == len(versions) + 6
    assert more == store._versions_model_by_model()


def test_a_registry_from_before_the_summaries_is_read_model_by_model(store: DynamoRegistryStore) -> None:
    """Given a table whose versions were written before summaries existed (no marker, no summaries),
    when every version is read, and after a model is added,
    then every version is there all the same, read model by model; the marker is never written while models exist."""
    registry = _service(store)
    _register(registry, "alpha", 3)
    registry.delete_version("alpha", 2, actor="me")
    _register(registry, "beta", 2)
    registry.rename_model("beta", "beta-renamed")
    expected = store.all_versions()
    client = boto3.client("dynamodb")
    table = parse_project(PROJECT_DIR).tables[0].name
    for item in _table_items("MVSUM"):
        client.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})

    assert store.all_versions() == expected
    _register(_service(store), "later", 2)
    assert [item["sk"]["S"] for item in _table_items("MVSUM") if item["sk"]["S"] == "#"] == []
    after = store.all_versions()
    assert after == store._versions_model_by_model()
    assert [(v.name, v.version) for v in after if v not in expected] == [("later", 1), ("later", 2)]


def test_a_big_rename_goes_on_after_a_change_that_came_in_between(
    store: DynamoRegistryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a model of 50 versions, too big to rename in one transaction with its summaries,
    when another container changes a version between two of the rename's transactions,
    then the rename reads the versions it has not done yet again and finishes: every version and every summary has
    the new name and the rename time, and the change is kept."""
    registry = _service(store)
    _register(registry, "big", 50)
    other = _service(DynamoRegistryStore())
    original = DynamoRegistryStore._rename_chunk
    calls: list[int] = []

    def interleaved(*args: Any) -> bool:
        calls.append(len(args[-1]))
        if len(calls) == 2:
            other.transition_stage("big-renamed", 50, "Staging", archive_existing=False, actor="someone")
        return original(*args)

    monkeypatch.setattr(DynamoRegistryStore, "_rename_chunk", staticmethod(interleaved))
    renamed = registry.rename_model("big", "big-renamed")

    assert calls == [49, 1, 1]  # the second transaction failed on the model item's check and was sent again
    versions = store.all_versions()
    assert versions == store._versions_model_by_model()
    assert {(v.name, v.last_updated_timestamp) for v in versions} == {("big-renamed", renamed.last_updated_timestamp)}
    assert [v.version for v in versions if v.current_stage == "Staging"] == [50]


def _newest_by_reading_every_version(store: DynamoRegistryStore, name: str) -> list[tuple[int, str]]:
    return [(v.version, v.current_stage) for v in latest_per_stage(store.list_versions(name))]


def _newest_kept(store: DynamoRegistryStore, name: str) -> list[tuple[int, str]]:
    model = store.get_model_and_latest(name)
    assert model is not None
    return [(v.version, v.current_stage) for v in model.latest_versions]


def test_the_newest_version_of_each_stage_is_read_in_two_requests_and_stays_right_through_every_change(
    store: DynamoRegistryStore, requests_made: list[str]
) -> None:
    """Given a model whose versions are created, moved between stages (the newest of a stage among them), deleted
    and renamed, in a fixed pseudo-random order,
    when its latest versions are read after each change,
    then they are what reading every version gives, from the model item and one batch of at most 4 versions."""
    registry = _service(store)
    registry.create_model("m", {}, None)
    store.get_model("m")
    requests_made.clear()
    assert _newest_kept(store, "m") == []
    assert requests_made == ["GetItem"]  # a model without versions: its item says so
    chooser = random.Random(7)
    name = "m"
    for step in range(60):
        numbers = [v.version for v in store.list_versions(name)]
        roll = chooser.random()
        if roll < 0.3 or not numbers:
            registry.create_version(name, f"runs:/{RUN}/model", RUN, {}, None, None, None)
        elif roll < 0.8:
            stage = chooser.choice(STAGES)
            archive = stage in ("Staging", "Production") and chooser.random() < 0.3
            registry.transition_stage(name, chooser.choice(numbers), stage, archive, actor="me")
        elif roll < 0.95:
            registry.delete_version(name, chooser.choice(numbers), actor="me")
        else:
            registry.rename_model(name, f"m{step}")
            name = f"m{step}"
        expected = _newest_by_reading_every_version(store, name)
        store.get_model(name)  # this container knows the name (a rename's new one too)
        requests_made.clear()
        assert _newest_kept(store, name) == expected, step
        assert requests_made == (["GetItem", "BatchGetItem"] if expected else ["GetItem"]), step


def test_a_model_item_without_the_numbers_is_read_whole_once_and_kept_from_its_next_change(
    store: DynamoRegistryStore, requests_made: list[str]
) -> None:
    """Given a model item written before it kept its newest version of each stage (and one whose numbers went stale),
    when its latest versions are read, then the right versions come from every version; after its next change the
    item keeps them again."""
    registry = _service(store)
    _register(registry, "m", 3)
    registry.transition_stage("m", 1, "Production", False, actor="me")
    client = boto3.client("dynamodb")
    table = parse_project(PROJECT_DIR).tables[0].name
    (model,) = [item for item in _table_items("REGMODELS") if item.get("name", {}).get("S") == "m"]
    key = {"pk": model["pk"], "sk": model["sk"]}
    client.update_item(TableName=table, Key=key, UpdateExpression="REMOVE latest")
    store.get_model("m")
    expected = [(3, "None"), (1, "Production")]
    requests_made.clear()
    assert _newest_kept(store, "m") == expected
    assert requests_made == ["GetItem", "Query"]

    stale = {"None": {"N": "3"}, "Production": {"N": "2"}}  # as if version 2 had left Production between the reads
    client.update_item(
        TableName=table, Key=key, UpdateExpression="SET latest = :l", ExpressionAttributeValues={":l": {"M": stale}}
    )
    requests_made.clear()
    assert _newest_kept(store, "m") == expected
    assert requests_made == ["GetItem", "BatchGetItem", "Query"]

    client.update_item(TableName=table, Key=key, UpdateExpression="REMOVE latest")
    registry.create_version("m", f"runs:/{RUN}/model", RUN, {}, None, None, None)
    requests_made.clear()
    assert _newest_kept(store, "m") == [(4, "None"), (1, "Production")]
    assert requests_made == ["GetItem", "BatchGetItem"]
