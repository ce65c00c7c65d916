"""Trace retention under moto: the table's TTL attribute on a trace's record, pointer and run links, the retention
tag on its span objects, expired records read as gone (and replaceable) before TTL deletes them, and the artifact
bucket's lifecycle rules in template.yaml, one per allowed retention, accepted by S3."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from stratus.domain import otlp
from stratus.domain.services.experiments import ExperimentService
from stratus.domain.services.traces import TraceService
from stratus.domain.trace_records import TraceRecord
from stratus.domain.trace_retention import RETENTION_DAYS, RETENTION_TAG, SPAN_OBJECT_TAG
from stratus.store.dynamodb import DynamoTrackingStore, bind_table
from stratus.store.dynamodb.traces import DynamoTraceStore
from stratus.store.s3.spans import S3SpanStore
from stratus_local.backends import create_tables
from stratus_local.template import load_template, parse_project

PROJECT_DIR = Path(__file__).resolve().parents[2]
BUCKET = "trace-retention-bucket"
NOW = 1_800_000_000.0
DAY = 86_400


class Clock:
    now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def table(aws: None) -> Iterator[str]:
    project = parse_project(PROJECT_DIR)
    create_tables(boto3.client("dynamodb"), project.tables, io.StringIO())
    bind_table(project.tables[0].name, os.environ["AWS_REGION"])
    yield project.tables[0].name


@pytest.fixture
def bucket(aws: None) -> str:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    return BUCKET


def _item(table: str, pk: str, sk: str) -> dict[str, Any]:
    found = boto3.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": sk}})
    item: dict[str, Any] = found["Item"]
    return item


def _span_tags(bucket: str) -> list[list[dict[str, str]]]:
    s3 = boto3.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return [s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"] for key in keys]


def _root(trace_id: str) -> otlp.TraceSpans:
    span = {
        "span_id": "wdGOcyy3q18=",
        "parent_span_id": None,
        "name": "root",
        "start_time_unix_nano": 1_000_000_000,
        "end_time_unix_nano": 2_000_000_000,
        "status": {"code": "STATUS_CODE_OK", "message": ""},
        "attributes": {},
    }
    return otlp.TraceSpans(trace_id=trace_id, spans=[span])


def test_a_trace_of_an_experiment_kept_7_days_carries_ttl_and_its_spans_the_tag(table: str, bucket: str) -> None:
    experiments = ExperimentService(DynamoTrackingStore(), f"s3://{bucket}/mlartifacts")
    experiment_id = experiments.create("kept-a-week", None, {RETENTION_TAG: "7"})
    service = TraceService(
        DynamoTraceStore(clock=Clock()), S3SpanStore(bucket), experiments, default_retention_days=30, clock=Clock()
    )

    service.log_spans(experiment_id, [_root("tr-week")], run_id="run-1")

    expires = str(int(NOW) + 7 * DAY)
    pointer = _item(table, "TRACE#tr-week", "#")
    assert pointer["ttl"] == {"N": expires}
    assert _item(table, f"TRACES#{experiment_id}", pointer["record_sk"]["S"])["ttl"] == {"N": expires}
    assert _item(table, "TRACERUN#run-1", "tr-week")["ttl"] == {"N": expires}
    assert _span_tags(bucket) == [[{"Key": SPAN_OBJECT_TAG, "Value": "7"}]]


def test_a_kept_trace_has_no_ttl_and_its_spans_no_tag(table: str, bucket: str) -> None:
    experiments = ExperimentService(DynamoTrackingStore(), f"s3://{bucket}/mlartifacts")
    experiment_id = experiments.create("kept", None, {})
    service = TraceService(DynamoTraceStore(), S3SpanStore(bucket), experiments)

    service.log_spans(experiment_id, [_root("tr-kept")])

    assert "ttl" not in _item(table, "TRACE#tr-kept", "#")
    assert _span_tags(bucket) == [[]]


def test_an_expired_record_is_gone_for_reads_and_pages_and_may_be_created_again(table: str) -> None:
    clock = Clock()
    store = DynamoTraceStore(clock=clock)
    for index, trace_id in enumerate(["tr-old", "tr-new", "tr-kept"]):
        expires_at = {"tr-old": int(NOW) + DAY, "tr-new": int(NOW) + 3 * DAY, "tr-kept": None}[trace_id]
        record = TraceRecord(trace_id=trace_id, experiment_id="1", request_time=1_000 + index, expires_at=expires_at)
        assert store.put(record, previous=None)
    clock.now = NOW + DAY

    assert store.get("tr-old") is None
    assert sorted(r.trace_id for r in store.get_many(["tr-old", "tr-new", "tr-kept"])) == ["tr-kept", "tr-new"]
    first, resume = store.page("1", descending=False, start_after=None, limit=1)
    assert (first, resume is not None) == ([], True)  # the expired one took the page's place; the key moves on
    rest, _ = store.page("1", descending=False, start_after=resume, limit=10)
    assert [r.trace_id for r in rest] == ["tr-new", "tr-kept"]

    again = TraceRecord(trace_id="tr-old", experiment_id="1", request_time=5_000, expires_at=int(NOW) + 2 * DAY)
    assert store.put(again, previous=None)
    assert store.get("tr-old") == again
    assert not store.put(TraceRecord(trace_id="tr-new", experiment_id="1", request_time=1), previous=None)


def _lifecycle_rules() -> list[dict[str, Any]]:
    template = load_template(PROJECT_DIR / "template.yaml")
    rules: list[dict[str, Any]] = template["Resources"]["ArtifactBucket"]["Properties"]["LifecycleConfiguration"][
        "Rules"
    ]
    return rules


def test_the_artifact_bucket_has_a_rule_for_every_retention_but_keep(bucket: str) -> None:
    template = load_template(PROJECT_DIR / "template.yaml")
    parameter = template["Parameters"]["TraceRetentionDays"]
    assert (tuple(parameter["AllowedValues"]), parameter["Default"]) == (RETENTION_DAYS, 0)
    environment = template["Resources"]["TracesFunction"]["Properties"]["Environment"]["Variables"]
    assert environment["STRATUS_TRACE_RETENTION_DAYS"] == {"Ref": "TraceRetentionDays"}

    tagged = {rule["TagFilters"][0]["Value"]: rule for rule in _lifecycle_rules() if rule.get("TagFilters")}

    assert sorted(tagged, key=int) == [str(days) for days in RETENTION_DAYS if days]
    for value, rule in tagged.items():
        assert rule["Status"] == "Enabled"
        assert rule["Prefix"] == "mlartifacts/"
        assert rule["TagFilters"] == [{"Key": SPAN_OBJECT_TAG, "Value": value}]
        assert rule["ExpirationInDays"] == int(value)
        assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] >= 1
    # the same rules, as CloudFormation sends them, are accepted on a versioned bucket
    s3 = boto3.client("s3")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": rule["Id"],
                    "Status": "Enabled",
                    "Filter": {"And": {"Prefix": rule["Prefix"], "Tags": rule["TagFilters"]}},
                    "Expiration": {"Days": rule["ExpirationInDays"]},
                    "NoncurrentVersionExpiration": rule["NoncurrentVersionExpiration"],
                }
                for rule in tagged.values()
            ]
        },
    )
    assert len(s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]) == len(tagged)
