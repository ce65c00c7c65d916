"""The registry store under moto with AWS's batch and transaction rules enforced: version numbers under concurrent
registration, changes that touch several versions, rename and delete."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.client import BaseClient

from stratus.domain.entities import ModelVersion, PromotionEvent, RegisteredModel
from stratus.domain.ports import RegistrySnapshot
from stratus.errors import ResourceAlreadyExists, ResourceDoesNotExist
from stratus.store.dynamodb import DynamoRegistryStore, bind_table
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
