"""Upgrading a table in place (docs/operations.md "Upgrades") under moto with AWS's write rules: a table written in
the older layouts (versions without summaries, ``mlflow.modelVersions`` versions as strings) is upgraded, a second run
changes nothing, a stopped run resumes from its cursor; and the SchemaUpgrade custom resource answers CloudFormation
at a presigned-URL stand-in (a local HTTP server), whether the upgrade ends, goes on in the background or fails."""

from __future__ import annotations

import http.server
import io
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from lambda_harness import EVENTS_DIR, LambdaContext, load_function

from stratus.domain.entities import ModelVersion, RegisteredModel
from stratus.domain.upgrades import upgrade
from stratus.store.dynamodb import DynamoRegistryStore, bind_table
from stratus.store.dynamodb.items import LoggedModelItem, LoggedModelPointerItem
from stratus.store.dynamodb.migrations import MIGRATIONS, DynamoSchemaState, upgrade_table, version_summaries
from stratus_local.backends import create_tables
from stratus_local.template import parse_project

PROJECT_DIR = Path(__file__).resolve().parents[2]
OLD_TAG = json.dumps(
    [{"name": "alpha", "version": "1"}, {"name": "alpha", "version": 2}, {"name": "x", "version": "v"}]
)


@pytest.fixture
def table(aws: None) -> Iterator[str]:
    project = parse_project(PROJECT_DIR)
    name = project.tables[0].name
    create_tables(boto3.client("dynamodb"), project.tables, io.StringIO())
    bind_table(name, os.environ["AWS_REGION"])
    yield name


def _items(table: str) -> dict[tuple[str, str], dict[str, Any]]:
    client = boto3.client("dynamodb")
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        found.update({(item["pk"]["S"], item["sk"]["S"]): item for item in page["Items"]})
    return found


def _an_older_table(table: str) -> DynamoRegistryStore:
    """Two models of versions written before summaries existed, and a logged model tagged by an older release."""
    store = DynamoRegistryStore()
    for name, count in (("alpha", 3), ("beta", 2)):
        store.create_model(RegisteredModel(name, 1, 1))
        for _ in range(count):
            store.create_version(name, lambda n, name=name: ModelVersion(name, n, 1, 1, "models:/m-" + "0" * 32), 2)
    client = boto3.client("dynamodb")
    for pk, sk in [key for key in _items(table) if key[0] == "MVSUM"]:
        client.delete_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": sk}})
    LoggedModelPointerItem(pk="MODEL#m-1", sk="#", experiment_id="0").save()
    LoggedModelItem(
        pk="EXP#0",
        sk="M#m-1",
        model_id="m-1",
        experiment_id="0",
        name="model",
        artifact_uri="s3://bucket/0/models/m-1/artifacts",
        status="READY",
        lifecycle_stage="active",
        creation_timestamp_ms=1,
        last_updated_timestamp_ms=1,
        tags={"mlflow.modelVersions": OLD_TAG, "other": "kept"},
        version=1,
    ).save()
    return store


def test_an_older_table_is_upgraded_in_place_and_a_second_run_changes_nothing(table: str) -> None:
    """Given a table written in the older layouts,
    when it is upgraded, then every version has its summary and the marker (searches read MVSUM alone), the tag holds
    numbers, and the schema item says every migration is done; when it is upgraded again, no item changes."""
    store = _an_older_table(table)
    expected = store._versions_model_by_model()

    result = upgrade_table()

    assert (result.version, result.target, result.complete) == (len(MIGRATIONS), 3, True)
    items = _items(table)
    summaries = sorted(sk for pk, sk in items if pk == "MVSUM")
    assert len(summaries) == 1 + 5 and summaries[0] == "#"
    assert store.all_versions() == expected  # now from the summaries, as the model-by-model read gives them
    tag = json.loads(items[("EXP#0", "M#m-1")]["tags"]["M"]["mlflow.modelVersions"]["S"])
    assert tag == [{"name": "alpha", "version": 1}, {"name": "alpha", "version": 2}, {"name": "x", "version": "v"}]
    assert items[("EXP#0", "M#m-1")]["tags"]["M"]["other"] == {"S": "kept"}
    schema = items[("META", "SCHEMA")]
    assert (schema["schema_version"], "cursor" in schema) == ({"N": "3"}, False)

    again = upgrade_table()

    assert again.steps == 0
    assert _items(table) == items


def test_a_run_stopped_midway_is_resumed_from_its_cursor_by_another(
    table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given one model a step, when a runner stops after its first step, then the schema item holds that step's cursor
    and a second runner finishes from it: the first model's summaries are not written twice."""
    _an_older_table(table)
    monkeypatch.setattr(version_summaries, "MODELS_PER_STEP", 1)
    ticks = iter(range(100))

    first = upgrade(DynamoSchemaState(), MIGRATIONS, deadline=1, clock=lambda: next(ticks))

    assert (first.version, first.steps) == (0, 1)
    state = DynamoSchemaState().read()
    assert state.cursor is not None and state.revision == 1
    done = {sk for pk, sk in _items(table) if pk == "MVSUM"}
    assert len(done) in (2, 3)  # the first model's versions (3 or 2 of them, by rm_id order), no marker yet
    written: list[str] = []
    monkeypatch.setattr(BaseClient, "_make_api_call", _recording(written))

    second = upgrade_table()

    assert second.complete
    assert len({sk for pk, sk in _items(table) if pk == "MVSUM"}) == 6
    assert written.count("TransactWriteItems") == 5 - len(done)  # one a missing summary, none for the done ones


def _recording(written: list[str]) -> Any:
    original = BaseClient._make_api_call

    def call(self: Any, operation: str, params: dict[str, Any]) -> Any:
        written.append(operation)
        return original(self, operation, params)

    return call


def test_a_schema_write_from_a_state_another_runner_moved_is_refused(table: str) -> None:
    state = DynamoSchemaState()
    seen = state.read()
    assert state.advance(seen, type(seen)(0, '{"k": 1}'))

    assert not state.advance(seen, type(seen)(1, None))  # seen is stale now
    assert state.read().cursor == '{"k": 1}'


class ResponseServer(http.server.ThreadingHTTPServer):
    """Stands in for CloudFormation's presigned S3 URL: keeps each PUT body."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_PUT(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers["Content-Length"])
                server.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def cloudformation() -> Iterator[ResponseServer]:
    server = ResponseServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _request(server: ResponseServer, kind: str = "Update") -> dict[str, Any]:
    event = json.loads((EVENTS_DIR / "schema_upgrade_update.json").read_text())
    event["RequestType"] = kind
    event["ResponseURL"] = f"http://127.0.0.1:{server.server_port}/presigned?signature=x"
    return event


def _upgrade_function(table: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("STRATUS_TABLE_NAME", table)
    return load_function("upgrade")


def test_the_custom_resource_upgrades_and_answers_cloudformation(
    table: str, cloudformation: ResponseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _an_older_table(table)
    function = _upgrade_function(table, monkeypatch)
    invoked: list[tuple[str, Any]] = []

    function.handler(
        _request(cloudformation),
        LambdaContext("stratus-schema-upgrade", timeout_ms=900_000),
        invoke=lambda arn, payload: invoked.append((arn, payload)),
    )

    [answer] = cloudformation.bodies
    assert answer["Status"] == "SUCCESS" and answer["PhysicalResourceId"] == "stratus-schema"
    assert answer["Data"] == {"SchemaVersion": "3", "Complete": "true"}
    assert (answer["RequestId"], answer["LogicalResourceId"]) == (
        "11111111-1111-1111-1111-111111111111",
        "SchemaUpgrade",
    )
    assert invoked == []


def test_an_upgrade_longer_than_the_deploy_waits_goes_on_in_a_new_invocation(
    table: str, cloudformation: ResponseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a context with no time to spare, CloudFormation hears SUCCESS (not complete) at once and the function
    invokes itself; that continuation finishes the upgrade."""
    _an_older_table(table)
    function = _upgrade_function(table, monkeypatch)
    invoked: list[tuple[str, Any]] = []
    context = LambdaContext("stratus-schema-upgrade", timeout_ms=30_000)  # under the step margin: no step fits

    function.handler(_request(cloudformation), context, invoke=lambda arn, payload: invoked.append((arn, payload)))

    assert cloudformation.bodies[0]["Status"] == "SUCCESS"
    assert cloudformation.bodies[0]["Data"] == {"SchemaVersion": "0", "Complete": "false"}
    [(arn, payload)] = invoked
    assert arn == context.invoked_function_arn
    function.handler(payload, LambdaContext("stratus-schema-upgrade", timeout_ms=900_000), invoke=pytest.fail)
    assert DynamoSchemaState().read().version == 3


def test_a_failed_upgrade_is_answered_failed_and_a_delete_always_succeeds(
    table: str, cloudformation: ResponseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    function = _upgrade_function(table, monkeypatch)
    monkeypatch.setenv("STRATUS_TABLE_NAME", "no-such-table")
    function._bound.cache_clear()
    context = LambdaContext("stratus-schema-upgrade", timeout_ms=900_000)

    function.handler(_request(cloudformation), context, invoke=pytest.fail)
    function.handler(_request(cloudformation, "Delete"), context, invoke=pytest.fail)

    failed, deleted = cloudformation.bodies
    assert failed["Status"] == "FAILED" and "no-such-table" in failed["Reason"]
    assert deleted["Status"] == "SUCCESS"
