"""Model versions found by run through the ``RunVersions`` index, against DynamoDB Local (AWS's own rules: an index
key cannot be an empty string, an index added to a table with items is built in the background).

A search pinned to a run (``run_id = '<id>'``, what the web UI's run page and ``search_model_versions`` send) reads
the models the index names, not the whole registry, and answers exactly what reading every model answers.
"""

from __future__ import annotations

import copy
import io
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from conftest import PROJECT_DIR

from stratus.domain.entities import ModelVersion, RegisteredModel
from stratus.domain.services import ExperimentService, LoggedModelService, RegistryService
from stratus.store.dynamodb import DynamoRegistryStore, bind_table
from stratus.store.memory import InMemoryLoggedModelStore, InMemoryTrackingStore
from stratus_local.backends import create_tables
from stratus_local.template import TableSpec, parse_project

RUN_A, RUN_B, RUN_C = "a" * 32, "b" * 32, "c" * 32
SOURCE = "models:/m-" + "0" * 32


@pytest.fixture
def client(dynamodb_local: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    dynamodb = boto3.client("dynamodb", endpoint_url=dynamodb_local, region_name="us-east-1")
    for existing in dynamodb.list_tables()["TableNames"]:
        dynamodb.delete_table(TableName=existing)
    return dynamodb


def _table() -> TableSpec:
    return parse_project(PROJECT_DIR).tables[0]


@pytest.fixture
def store(client: Any, dynamodb_local: str) -> DynamoRegistryStore:
    table = _table()
    create_tables(client, [table], io.StringIO())
    bind_table(table.name, "us-east-1", host=dynamodb_local)
    return DynamoRegistryStore()


def _registry(store: DynamoRegistryStore) -> RegistryService:
    """The service on this store; runs and logged models in memory (searches never read them)."""
    tracking = InMemoryTrackingStore()
    logged_models = LoggedModelService(InMemoryLoggedModelStore(), ExperimentService(tracking, "mlflow-artifacts:"))
    return RegistryService(store, logged_models, tracking, "stratus-artifacts", clock=lambda: 1)


def _add(store: DynamoRegistryStore, name: str, *runs: str, tags: dict[str, str] | None = None) -> None:
    if store.get_model(name) is None:
        store.create_model(RegisteredModel(name, 1, 1))
    for run in runs:
        store.create_version(
            name, lambda n, run=run: ModelVersion(name, n, n, n, SOURCE, run_id=run, tags=tags or {}), touched=1
        )


@pytest.fixture
def requests_made(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The DynamoDB operations sent from now on (by any thread: the service reads in a pool)."""
    made: list[str] = []
    original = BaseClient._make_api_call
    lock = threading.Lock()

    def counted(self: BaseClient, operation: str, params: dict) -> dict:
        if self.meta.service_model.service_name == "dynamodb":
            with lock:
                made.append(operation)
        return original(self, operation, params)  # type: ignore[no-any-return]

    monkeypatch.setattr(BaseClient, "_make_api_call", counted)
    return made


def _found(answer: tuple[list[ModelVersion], str | None]) -> list[tuple[str, int]]:
    return [(v.name, v.version) for v in answer[0]]


class WithoutIndex:
    """The store as it answers while the index is being built: the search falls back to reading every model."""

    def __init__(self, store: DynamoRegistryStore) -> None:
        self._store = store

    def versions_of_models_with_run(self, run_id: str) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def _every_model_read(store: DynamoRegistryStore, filter_string: str) -> list[tuple[str, int]]:
    registry = _registry(WithoutIndex(store))  # type: ignore[arg-type]
    return _found(registry.search_versions(filter_string, 1000, [], None))


def test_a_search_pinned_to_a_run_reads_only_the_models_of_that_run(
    store: DynamoRegistryStore, requests_made: list[str]
) -> None:
    """Given 12 models, two of them with versions from run A (one renamed since), one a prompt with a version of A,
    when versions are searched with run_id = A,
    then the answer is what reading every model answers, and it costs 1 index Query plus 2 requests per model of A,
    not a Query per model."""
    for n in range(9):
        _add(store, f"other-{n}", RUN_B)
    _add(store, "first", RUN_A, RUN_B, RUN_A)
    _add(store, "second", RUN_C, RUN_A)
    store.rename_model("second", "renamed", 2)
    _add(store, "a-prompt", RUN_A, tags={"mlflow.prompt.is_prompt": "true"})
    registry = _registry(store)

    requests_made.clear()
    answer = registry.search_versions(f"run_id = '{RUN_A}'", 1000, [], None)

    assert sorted(_found(answer)) == [("first", 1), ("first", 3), ("renamed", 2)]
    assert sorted(requests_made) == sorted(["Query"] + ["GetItem", "Query"] * 3)
    requests_made.clear()
    assert _found(answer) == _every_model_read(store, f"run_id = '{RUN_A}'")
    assert requests_made == ["GetItem", "Query"]  # the version summaries' marker, then every version's summary


@pytest.mark.parametrize(
    "filter_string",
    [
        f"run_id = '{RUN_A}'",
        f"run_id IN ('{RUN_A}', '{RUN_C}')",
        f"run_id = '{RUN_A}' AND name = 'second'",
        f"run_id = '{RUN_B}' AND version_number > 1",
        f"run_id = '{RUN_A.upper()}'",
        "run_id = ''",
        f"run_id = '{RUN_A}' AND tags.`mlflow.prompt.is_prompt` = 'true'",
    ],
)
def test_pinned_searches_answer_what_reading_every_model_answers(
    store: DynamoRegistryStore, filter_string: str
) -> None:
    _add(store, "first", RUN_A, RUN_B, "")
    _add(store, "second", RUN_C, RUN_A, RUN_B)
    _add(store, "third", RUN_B)
    _add(store, "a-prompt", RUN_A, tags={"mlflow.prompt.is_prompt": "true"})
    registry = _registry(store)

    pinned = _found(registry.search_versions(filter_string, 1000, [], None))
    assert pinned == _every_model_read(store, filter_string)


def test_the_ui_gets_each_runs_versions_in_one_lookup(store: DynamoRegistryStore) -> None:
    _add(store, "first", RUN_A, RUN_B)
    _add(store, "second", RUN_A)
    grouped = _registry(store).versions_of_runs([RUN_A, RUN_B, RUN_C])
    assert {run: [(v.name, v.version) for v in versions] for run, versions in grouped.items()} == {
        RUN_A: [("first", 1), ("second", 1)],  # the search's default order: newest first, then by name
        RUN_B: [("first", 2)],
    }


def test_a_version_without_a_run_keeps_no_index_key_and_reads_back_as_the_reference_shows_it(
    store: DynamoRegistryStore, client: Any
) -> None:
    """DynamoDB refuses an empty string as an index key, so a version without a run stores no run_id at all."""
    _add(store, "m", "")
    item = client.scan(TableName=_table().name, FilterExpression="begins_with(sk, :v)", ExpressionAttributeValues={
        ":v": {"S": "V#"}
    })["Items"]  # fmt: skip
    assert len(item) == 1 and "run_id" not in item[0]
    assert store.list_versions("m")[0].run_id == ""


@pytest.fixture
def table_before_the_index(client: Any, dynamodb_local: str) -> Iterator[TableSpec]:
    """The table as template.yaml defined it before RunVersions, holding versions written then: one with a run,
    one without (run_id "")."""
    table = _table()
    old = copy.deepcopy(table.create_args)
    old.pop("GlobalSecondaryIndexes")
    old["AttributeDefinitions"] = [a for a in old["AttributeDefinitions"] if a["AttributeName"] in ("pk", "sk")]
    client.create_table(**old)
    bind_table(table.name, "us-east-1", host=dynamodb_local)
    store = DynamoRegistryStore()
    store.create_model(RegisteredModel("old", 1, 1))
    for number, run in ((1, RUN_A), (2, "")):
        item = {
            "pk": {"S": f"RM#{_rm_id(client, table.name)}"},
            "sk": {"S": f"V#{number:010d}"},
            "model_name": {"S": "old"},
            "number": {"N": str(number)},
            "creation_timestamp": {"N": "1"},
            "last_updated_timestamp": {"N": "1"},
            "source": {"S": SOURCE},
            "run_id": {"S": run},
            "current_stage": {"S": "None"},
            "status": {"S": "READY"},
            "tags": {"M": {}},
            "version": {"N": "1"},
        }
        client.put_item(TableName=table.name, Item=item)
    yield table


def _rm_id(client: Any, table_name: str) -> str:
    claim = client.get_item(TableName=table_name, Key={"pk": {"S": "RMNAME#old"}, "sk": {"S": "#"}})["Item"]
    return str(claim["rm_id"]["S"])


def test_a_table_from_before_the_index_gains_it_and_its_versions_stay_usable(
    table_before_the_index: TableSpec, client: Any
) -> None:
    """Given a table written before the index existed,
    when stratus local starts with the new template (it adds the index and waits until it is built),
    then the old version with a run is found by run, and the model can still be renamed and changed: DynamoDB refuses
    any update of an item that keeps "" in an index key, so the rename drops the empty run_id."""
    done = create_tables(client, [table_before_the_index], io.StringIO())
    assert done == [f"added index RunVersions to table {table_before_the_index.name}"]
    store = DynamoRegistryStore()
    registry = _registry(store)

    assert _found(registry.search_versions(f"run_id = '{RUN_A}'", 10, [], None)) == [("old", 1)]
    store.rename_model("old", "new", 5)
    assert [(v.name, v.version, v.run_id) for v in store.list_versions("new")] == [("new", 1, RUN_A), ("new", 2, "")]
    registry.transition_stage("new", 2, "Staging", archive_existing=False, actor="me")
    assert _found(registry.search_versions("run_id = ''", 10, [], None)) == [("new", 2)]
