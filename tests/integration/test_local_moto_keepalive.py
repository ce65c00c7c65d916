"""The embedded moto server of ``stratus local`` (``backends.MotoServer`` behind ``server.WsgiHTTPServer``): HTTP/1.1
keep-alive with every request framing the clients use, and what moto's own request handler did for S3 metadata."""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config

from stratus_local.backends import MotoServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    server = MotoServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def s3(moto: MotoServer, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201 - boto3's client type
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client("s3", endpoint_url=moto.endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="keepalive-bucket")
    return client


def test_one_connection_serves_many_requests(moto: MotoServer, s3) -> None:  # noqa: ANN001
    connection = http.client.HTTPConnection("127.0.0.1", moto.port, timeout=10)
    sockets = set()
    for i in range(5):
        connection.request("PUT", f"/keepalive-bucket/k{i}", body=b"x" * i)
        response = connection.getresponse()
        assert response.status == 200, response.read()
        response.read()
        assert response.getheader("Connection") != "close"
        sockets.add(id(connection.sock))
    connection.request("HEAD", "/keepalive-bucket/missing")  # an answer without a body, then the next request
    assert connection.getresponse().read() == b""
    connection.request("PUT", "/keepalive-bucket/last", body=b"last")
    assert connection.getresponse().status == 200
    sockets.add(id(connection.sock))
    assert len(sockets) == 1  # never reconnected
    connection.close()
    for i in range(5):
        assert s3.get_object(Bucket="keepalive-bucket", Key=f"k{i}")["Body"].read() == b"x" * i
    assert s3.get_object(Bucket="keepalive-bucket", Key="last")["Body"].read() == b"last"


def test_chunked_body_then_next_request_on_the_same_connection(moto: MotoServer, s3) -> None:  # noqa: ANN001
    connection = http.client.HTTPConnection("127.0.0.1", moto.port, timeout=10)
    connection.request("PUT", "/keepalive-bucket/chunked", body=iter([b"hello ", b"chunked ", b"world"]))
    response = connection.getresponse()
    assert response.status == 200, response.read()
    response.read()
    connection.request("PUT", "/keepalive-bucket/after", body=b"after")
    assert connection.getresponse().status == 200
    connection.close()
    assert s3.get_object(Bucket="keepalive-bucket", Key="chunked")["Body"].read() == b"hello chunked world"
    assert s3.get_object(Bucket="keepalive-bucket", Key="after")["Body"].read() == b"after"


def test_boto3_round_trips_metadata_with_underscores_and_large_bodies(s3) -> None:  # noqa: ANN001
    body = os.urandom(6 * 1024 * 1024)
    s3.put_object(Bucket="keepalive-bucket", Key="big", Body=body, Metadata={"run_id": "r1", "plain": "p"})
    head = s3.head_object(Bucket="keepalive-bucket", Key="big")
    assert head["ContentLength"] == len(body)
    assert head["Metadata"] == {"run_id": "r1", "plain": "p"}
    assert s3.get_object(Bucket="keepalive-bucket", Key="big")["Body"].read() == body
    ranged = s3.get_object(Bucket="keepalive-bucket", Key="big", Range="bytes=10-19")
    assert ranged["Body"].read() == body[10:20]


def test_json_services_and_event_transformers_are_dispatched(moto: MotoServer, s3) -> None:  # noqa: ANN001
    """SQS (JSON protocol) and EventBridge with an input transformer go through the same dispatcher; the JSONPath
    parsing moto does per target is cached (``backends._speed_up_moto``), so a second event must transform alike."""
    config = Config(region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=moto.endpoint, config=config)
    events = boto3.client("events", endpoint_url=moto.endpoint, config=config)
    queue = sqs.create_queue(QueueName="keepalive-queue")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="keepalive-rule", EventPattern=json.dumps({"source": ["stratus.test"]}))
    events.put_targets(
        Rule="keepalive-rule",
        Targets=[
            {
                "Id": "q",
                "Arn": arn,
                "InputTransformer": {"InputPathsMap": {"v": "$.detail.value"}, "InputTemplate": '{"got": <v>}'},
            }
        ],
    )
    for value in (1, 2):
        events.put_events(
            Entries=[{"Source": "stratus.test", "DetailType": "t", "Detail": json.dumps({"value": value})}]
        )
    received = []
    while len(received) < 2:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=2).get("Messages", [])
        assert messages, "the events never reached the queue"
        received.extend(json.loads(m["Body"]) for m in messages)
    assert sorted(m["got"] for m in received) == [1, 2]


def test_a_message_past_its_queues_retention_is_not_received_and_a_fresh_one_is(moto: MotoServer, s3) -> None:  # noqa: ANN001
    """``ReceiveMessage`` reads the retention period from the queue itself (``backends._speed_up_sqs_retention``)
    instead of building every attribute of the queue per message: what it hands out must not change."""
    from moto.sqs.models import sqs_backends  # noqa: PLC0415 - moto's state, read in this process

    sqs = boto3.client("sqs", endpoint_url=moto.endpoint, config=Config(region_name="us-east-1"))
    queue = sqs.create_queue(QueueName="retention-queue", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="old")
    (held,) = [
        q
        for backend in sqs_backends.values()
        for region in backend.values()
        for q in region.queues.values()
        if q.name == "retention-queue"
    ]
    held._messages[0].sent_timestamp -= 61_000  # sent 61 s before now: past the queue's 60 s
    assert sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0).get("Messages", []) == []
    sqs.send_message(QueueUrl=queue, MessageBody="fresh")
    bodies = [m["Body"] for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])]
    assert bodies == ["fresh"]
