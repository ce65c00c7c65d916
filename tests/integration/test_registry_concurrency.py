"""The registry's guarantees under real concurrency, against DynamoDB Local (moto's conditional writes are not
thread-safe, and ``stratus local`` runs one invocation per function at a time, as one Lambda environment does; on AWS
many environments run at once). Threads here call the store and service directly, as concurrent Lambdas would."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest

from stratus.domain.entities import ModelVersion, RegisteredModel
from stratus.store.dynamodb import DynamoRegistryStore, bind_table
from stratus_local.backends import (
    create_tables,
)
from stratus_local.template import parse_project

PROJECT_DIR = Path(__file__).resolve().parents[2]
THREADS = 16


@pytest.fixture
def store(dynamodb_local: str, monkeypatch: pytest.MonkeyPatch) -> DynamoRegistryStore:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    tables = parse_project(PROJECT_DIR).tables
    client: Any = boto3.client("dynamodb", endpoint_url=dynamodb_local, region_name="us-east-1")
    for existing in client.list_tables()["TableNames"]:
        client.delete_table(TableName=existing)
    create_tables(client, tables, io.StringIO())
    bind_table(tables[0].name, "us-east-1", host=dynamodb_local)
    return DynamoRegistryStore()


def _version(name: str, number: int) -> ModelVersion:
    return ModelVersion(name, number, 1, 1, "models:/m-" + "0" * 32)


def test_sixteen_threads_registering_get_one_to_sixteen(store: DynamoRegistryStore) -> None:
    store.create_model(RegisteredModel("m", 1, 1))
    with ThreadPoolExecutor(THREADS) as pool:
        made = list(
            pool.map(lambda _: store.create_version("m", lambda n: _version("m", n), 2).version, range(THREADS))
        )
    assert sorted(made) == list(range(1, THREADS + 1))
    assert sorted(v.version for v in store.list_versions("m")) == list(range(1, THREADS + 1))


def test_concurrent_archiving_transitions_leave_one_version_in_production(store: DynamoRegistryStore) -> None:
    store.create_model(RegisteredModel("m", 1, 1))
    for _ in range(8):
        store.create_version("m", lambda n: _version("m", n), 1)

    def promote(number: int) -> None:
        def change(snapshot: Any) -> list[Any]:
            for other in snapshot.versions.values():
                if other.current_stage == "Production":
                    other.current_stage = "Archived"
            snapshot.versions[number].current_stage = "Production"
            return []

        store.modify("m", change)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(promote, range(1, 9)))
    stages = [v.current_stage for v in store.list_versions("m")]
    assert stages.count("Production") == 1
    assert stages.count("Archived") == 7


def test_concurrent_alias_moves_leave_the_alias_on_one_existing_version(store: DynamoRegistryStore) -> None:
    store.create_model(RegisteredModel("m", 1, 1))
    for _ in range(4):
        store.create_version("m", lambda n: _version("m", n), 1)

    def point(number: int) -> None:
        def change(snapshot: Any) -> list[Any]:
            # As RegistryService.set_alias does, on every attempt: the version must still exist in what was read.
            if number not in snapshot.versions:
                return []
            snapshot.model.aliases["champion"] = number
            return []

        store.modify("m", change, versions=[number])

    def delete_version_4(_: int) -> None:
        def change(snapshot: Any) -> list[Any]:
            snapshot.versions.pop(4, None)
            for alias, target in list(snapshot.model.aliases.items()):
                if target == 4:
                    del snapshot.model.aliases[alias]
            return []

        store.modify("m", change, versions=[4])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: point(1 + i % 4) if i != 5 else delete_version_4(i), range(16)))
    aliases = store.get_model("m").aliases  # type: ignore[union-attr]
    existing = {v.version for v in store.list_versions("m")}
    assert 4 not in existing
    assert aliases.get("champion") is None or aliases["champion"] in existing
