"""S3-driven registration under moto: the artifact bucket notifies an SQS queue (moto does S3 -> SQS) and the
queue's messages are handed to RegistrationFunction as Lambda would; duplicate and out-of-order notifications, files
arriving after the MLmodel, and bad uploads."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from lambda_harness import LambdaContext, load_function

from stratus.store.dynamodb import DynamoRegistryStore, DynamoUploadClaims, bind_table
from stratus_local.backends import create_buckets, create_tables
from stratus_local.template import parse_project

PROJECT_DIR = Path(__file__).resolve().parents[2]
MLMODEL = """
artifact_path: model
flavors:
  python_function:
    loader_module: mlflow.sklearn
    model_path: model.pkl
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
  sklearn:
    pickled_model: model.pkl
"""


_CONTEXT = LambdaContext("RegistrationFunction", memory_limit_in_mb=512, timeout_ms=60_000)


@pytest.fixture
def world(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    if os.environ.get("AWS_ENDPOINT_URL"):
        pytest.skip("moto only")
    project = parse_project(PROJECT_DIR)
    create_tables(boto3.client("dynamodb"), project.tables, io.StringIO())
    s3, sqs = boto3.client("s3"), boto3.client("sqs")
    create_buckets(s3, project.buckets)
    bucket = project.buckets[0].name
    queue_url = sqs.create_queue(QueueName="registration")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "register/"}]}},
                }
            ]
        },
    )
    monkeypatch.setenv("STRATUS_TABLE_NAME", project.tables[0].name)
    monkeypatch.setenv("STRATUS_ARTIFACT_BUCKET", bucket)
    bind_table(project.tables[0].name, "us-east-1")
    app = load_function("registration")
    yield {"s3": s3, "sqs": sqs, "bucket": bucket, "queue_url": queue_url, "app": app}


def _drain(world: dict[str, Any]) -> list[dict[str, Any]]:
    """Receive every notification waiting in the queue, as the SQS records Lambda would get."""
    records = []
    while True:
        got = world["sqs"].receive_message(QueueUrl=world["queue_url"], MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return records
        for message in got:
            records.append(
                {
                    "messageId": message["MessageId"],
                    "receiptHandle": message["ReceiptHandle"],
                    "body": message["Body"],
                    "attributes": {},
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:registration",
                }
            )
            world["sqs"].delete_message(QueueUrl=world["queue_url"], ReceiptHandle=message["ReceiptHandle"])


def _deliver(world: dict[str, Any], records: list[dict[str, Any]]) -> list[str]:
    """The ids of the records Lambda would return to the queue (all of them when the whole batch failed)."""
    try:
        answer = world["app"].handler({"Records": records}, _CONTEXT)
    except BatchProcessingError:
        return [record["messageId"] for record in records]
    return [failure["itemIdentifier"] for failure in answer["batchItemFailures"]]


def _put(world: dict[str, Any], key: str, body: str = "x") -> None:
    world["s3"].put_object(Bucket=world["bucket"], Key=key, Body=body.encode())


def test_a_dropped_folder_becomes_one_version_ready_once_its_files_are_there(world: dict[str, Any]) -> None:
    drop = "register/churn/2026-11-27"
    _put(world, f"{drop}/MLmodel", MLMODEL)  # first, before the files it names
    assert _deliver(world, _drain(world)) == []
    [version] = DynamoRegistryStore().list_versions("churn")
    assert (version.version, version.status) == (1, "PENDING_REGISTRATION")
    assert version.source == f"s3://{world['bucket']}/{drop}"
    for name in ("model.pkl", "conda.yaml", "python_env.yaml"):
        _put(world, f"{drop}/{name}")
    records = _drain(world)
    assert _deliver(world, records + records) == []  # every notification twice
    [version] = DynamoRegistryStore().list_versions("churn")
    assert (version.version, version.status) == (1, "READY")
    _put(world, f"{drop}/extra.txt")  # a late file: no second version
    assert _deliver(world, _drain(world)) == []
    assert len(DynamoRegistryStore().list_versions("churn")) == 1


def test_a_second_drop_is_a_second_version(world: dict[str, Any]) -> None:
    for drop in ("register/churn/a", "register/churn/b"):
        for name in ("model.pkl", "conda.yaml", "python_env.yaml"):
            _put(world, f"{drop}/{name}")
        _put(world, f"{drop}/MLmodel", MLMODEL)
    assert _deliver(world, _drain(world)) == []
    assert sorted((v.version, v.status) for v in DynamoRegistryStore().list_versions("churn")) == [
        (1, "READY"),
        (2, "READY"),
    ]


@pytest.mark.parametrize(
    ("mlmodel", "reason"),
    [
        ("flavors: [not, a, mapping", "not valid YAML"),
        ("artifact_path: model\n", "no flavors"),
        (MLMODEL + "run_id: " + "ab" * 16 + "\n", "does not exist"),
    ],
)
def test_a_bad_upload_creates_nothing_and_fails_with_its_reason(
    world: dict[str, Any], mlmodel: str, reason: str
) -> None:
    _put(world, "register/bad/1/MLmodel", mlmodel)
    notifications = [r for r in _drain(world) if "Records" in json.loads(r["body"])]  # not S3's test event
    # failed: the queue retries it, then moves it to its dead-letter queue
    assert _deliver(world, notifications) == [r["messageId"] for r in notifications]
    assert DynamoRegistryStore().get_model("bad") is None
    claim = DynamoUploadClaims().get("register/bad/1")
    assert claim is not None and claim.status == "FAILED" and reason in (claim.reason or "")
