"""The GenAI trace stores under moto: ``DynamoTraceStore`` (records, pointers, run links, revision checks, a record
moving when its request time or experiment changes, request-time pages) and ``S3SpanStore`` (one object per batch,
the last batch winning for a re-sent span, deletion of the trace's prefix, answers stored beside the spans)."""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from stratus.domain.trace_records import SpanSummary, TraceRecord
from stratus.store.dynamodb import bind_table
from stratus.store.dynamodb.traces import DynamoTraceStore
from stratus.store.s3.spans import S3SpanStore
from stratus_local.backends import create_tables
from stratus_local.template import parse_project

PROJECT_DIR = Path(__file__).resolve().parents[2]
BUCKET = "trace-test-bucket"


@pytest.fixture
def traces(aws: None) -> Iterator[DynamoTraceStore]:
    project = parse_project(PROJECT_DIR)
    create_tables(boto3.client("dynamodb"), project.tables, io.StringIO())
    bind_table(project.tables[0].name, os.environ["AWS_REGION"])
    yield DynamoTraceStore()


@pytest.fixture
def spans(aws: None) -> S3SpanStore:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    return S3SpanStore(BUCKET, client_factory=lambda: boto3.client("s3"))


def _record(trace_id: str, request_time: int, experiment_id: str = "1") -> TraceRecord:
    return TraceRecord(
        trace_id=trace_id,
        experiment_id=experiment_id,
        request_time=request_time,
        state="OK",
        tags={"mlflow.traceName": trace_id},
        spans=[SpanSummary("00000000000000aa", "root", "AGENT", "OK", None, {"input_tokens": 1})],
        expires_at=2_000_000_000,
    )


def test_a_created_record_reads_back_whole_and_a_second_create_is_refused(traces: DynamoTraceStore) -> None:
    record = _record("tr-a", 1_000)

    assert traces.put(record, previous=None)
    assert record.revision == 1
    assert traces.get("tr-a") == record
    assert not traces.put(_record("tr-a", 1_000), previous=None)
    assert traces.get("tr-missing") is None


def test_an_update_from_a_stale_read_loses(traces: DynamoTraceStore) -> None:
    traces.put(_record("tr-a", 1_000), previous=None)
    first, second = traces.get("tr-a"), traces.get("tr-a")
    assert first is not None and second is not None
    first.state, second.state = "ERROR", "IN_PROGRESS"

    assert traces.put(first, previous=traces.get("tr-a"))
    assert not traces.put(second, previous=second)
    assert traces.get("tr-a").state == "ERROR"  # type: ignore[union-attr]


def test_a_record_moves_with_its_request_time_and_experiment(traces: DynamoTraceStore) -> None:
    traces.put(_record("tr-a", 5_000), previous=None)
    previous = traces.get("tr-a")
    assert previous is not None
    moved = _record("tr-a", 1_000, experiment_id="2")

    assert traces.put(moved, previous=previous)

    assert traces.get("tr-a") == moved
    assert traces.page("1", descending=True, start_after=None, limit=10) == ([], None)
    assert [r.trace_id for r in traces.page("2", descending=True, start_after=None, limit=10)[0]] == ["tr-a"]


def test_pages_follow_request_time_in_either_direction(traces: DynamoTraceStore) -> None:
    for n in range(5):
        traces.put(_record(f"tr-{n}", 1_000 + n), previous=None)

    newest, key = traces.page("1", descending=True, start_after=None, limit=2)
    rest, end = traces.page("1", descending=True, start_after=key, limit=10)
    oldest, _ = traces.page("1", descending=False, start_after=None, limit=3)

    assert [r.trace_id for r in newest] == ["tr-4", "tr-3"]
    assert [r.trace_id for r in rest] == ["tr-2", "tr-1", "tr-0"]
    assert end is None
    assert [r.trace_id for r in oldest] == ["tr-0", "tr-1", "tr-2"]


def test_many_records_are_read_in_one_call_and_deleted(traces: DynamoTraceStore) -> None:
    for n in range(3):
        traces.put(_record(f"tr-{n}", 1_000 + n), previous=None)

    found = traces.get_many(["tr-0", "tr-2", "tr-nope", "tr-0"])
    assert sorted(r.trace_id for r in found) == ["tr-0", "tr-2"]

    traces.delete(found)
    assert traces.get("tr-0") is None
    assert [r.trace_id for r in traces.page("1", descending=True, start_after=None, limit=10)[0]] == ["tr-1"]


def test_run_links_are_idempotent(traces: DynamoTraceStore) -> None:
    traces.link_run("run-1", ["tr-a", "tr-b"])
    traces.link_run("run-1", ["tr-a"])

    assert sorted(traces.traces_of_run("run-1")) == ["tr-a", "tr-b"]
    assert traces.traces_of_run("run-2") == []


def _span(span_id: int, name: str) -> dict:
    return {"span_id": base64.b64encode(span_id.to_bytes(8, "big")).decode(), "name": name}


def test_spans_of_several_batches_read_as_one_trace_the_last_batch_winning(spans: S3SpanStore) -> None:
    spans.put_batch("1", "tr-a", "001", [_span(1, "old"), _span(2, "b")])
    spans.put_batch("1", "tr-a", "002", [_span(1, "new"), _span(3, "c")])
    spans.put_batch("1", "tr-other", "001", [_span(9, "z")])

    assert sorted(s["name"] for s in spans.read("1", "tr-a")) == ["b", "c", "new"]
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert "mlartifacts/1/traces/tr-a/spans/001.json" in keys


def test_deleting_a_trace_removes_its_prefix_only(spans: S3SpanStore) -> None:
    spans.put_batch("1", "tr-a", "001", [_span(1, "a")])
    spans.put_batch("1", "tr-b", "001", [_span(1, "b")])

    spans.delete("1", "tr-a")
    spans.delete("1", "tr-never")

    assert spans.read("1", "tr-a") == []
    assert [s["name"] for s in spans.read("1", "tr-b")] == ["b"]


def test_a_stored_answer_is_presigned_tagged_with_the_retention_and_deleted_with_its_trace(spans: S3SpanStore) -> None:
    spans.put_batch("1", "tr-a", "001", [_span(1, "a")])
    assert spans.answer_url("1", "tr-a", "trace-r1.json") is None

    url = spans.put_answer("1", "tr-a", "trace-r1.json", b'{"trace": {}}', retention_days=7)

    key = "mlartifacts/1/traces/tr-a/answers/trace-r1.json"
    assert key in url
    assert "Signature=" in url
    assert spans.answer_url("1", "tr-a", "trace-r1.json") is not None
    tags = boto3.client("s3").get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]
    assert tags == [{"Key": "stratus-retention-days", "Value": "7"}]
    assert [s["name"] for s in spans.read("1", "tr-a")] == ["a"]  # an answer is not a batch of spans

    spans.delete("1", "tr-a")

    assert spans.answer_url("1", "tr-a", "trace-r1.json") is None
