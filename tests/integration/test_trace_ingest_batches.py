"""OTLP requests carrying many traces (what an OpenTelemetry SDK's batch processor sends), through the trace service
on the DynamoDB and S3 stores under moto, with the DynamoDB rule checker: new traces, existing ones, both mixed,
StartTraceV3 after the spans, a request sent twice, more than 100 traces in one request, records large enough to
split a transaction, a trace another writer created between the read and the write, and records written before
bodies were compressed. The requests a request makes are counted: the traces' records are read and created together.
Concurrent requests for the same traces run against DynamoDB Local (moto's transactions are not thread-safe)."""

from __future__ import annotations

import base64
import io
import os
import random
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient

from stratus.domain import otlp
from stratus.domain.services.experiments import ExperimentService
from stratus.domain.services.traces import TraceService
from stratus.domain.trace_records import SPAN_SUMMARY_CAP, StartInfo, TraceRecord
from stratus.store.dynamodb import DynamoTrackingStore, bind_table
from stratus.store.dynamodb.items import TraceItem
from stratus.store.dynamodb.traces import DynamoTraceStore, _pointer, record_body
from stratus.store.memory import InMemorySpanStore, InMemoryTrackingStore
from stratus.store.s3.spans import S3SpanStore
from stratus_local.backends import create_tables
from stratus_local.template import parse_project

PROJECT_DIR = Path(__file__).resolve().parents[2]
BUCKET = "trace-ingest-batches"
START_NS = 1_765_000_000_000_000_000


class Calls:
    """AWS requests by (service, operation), counted from a point on."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()

    def take(self) -> Counter[tuple[str, str]]:
        taken, self.counts = self.counts, Counter()
        return taken


@pytest.fixture
def calls(aws: None, monkeypatch: pytest.MonkeyPatch) -> Calls:
    counter = Calls()
    original = BaseClient._make_api_call  # the rule checker's, under moto

    def counting(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        counter.counts[(client.meta.service_model.service_name, operation)] += 1
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counting)
    return counter


@pytest.fixture
def table(aws: None) -> str:
    project = parse_project(PROJECT_DIR)
    create_tables(boto3.client("dynamodb"), project.tables, io.StringIO())
    bind_table(project.tables[0].name, os.environ["AWS_REGION"])
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    return project.tables[0].name


@pytest.fixture
def experiments(table: str) -> ExperimentService:
    return ExperimentService(DynamoTrackingStore(), f"s3://{BUCKET}/mlartifacts")


@pytest.fixture
def experiment_id(experiments: ExperimentService) -> str:
    return experiments.create("ingest", None, {})


@pytest.fixture
def service(experiments: ExperimentService) -> TraceService:
    return TraceService(DynamoTraceStore(), S3SpanStore(BUCKET), experiments)


def _span_id(rng: random.Random) -> str:
    return base64.b64encode(rng.getrandbits(64).to_bytes(8, "big")).decode()


def _trace(trace_id: str, spans: int, *, first: int = 0, root: bool = True, seed: int = 0) -> otlp.TraceSpans:
    """Spans ``first`` .. of a trace in the ``traces.json`` form: span ``i`` starts ``i`` ms in; span 0 is the root
    (left out when ``root`` is False), the others its children. Span ids depend on the trace and index only."""
    rng = random.Random(f"{trace_id}/{seed}")
    ids = [_span_id(rng) for _ in range(first + spans)]
    out = []
    for i in range(first, first + spans):
        if i == 0 and not root:
            continue
        out.append(
            {
                "span_id": ids[i],
                "parent_span_id": None if i == 0 else ids[0],
                "name": "agent" if i == 0 else f"step-{i}",
                "start_time_unix_nano": START_NS + i * 1_000_000,
                "end_time_unix_nano": START_NS + i * 1_000_000 + (500_000_000 if i == 0 else 1_000_000),
                "status": {"code": "STATUS_CODE_OK", "message": ""},
                "attributes": {"mlflow.spanType": '"AGENT"' if i == 0 else '"LLM"'},
            }
        )
    return otlp.TraceSpans(trace_id=trace_id, spans=out)


def _ids(count: int, prefix: str = "tr-") -> list[str]:
    return [f"{prefix}{n:032x}" for n in range(count)]


def _span_count(service: TraceService, trace_id: str) -> int:
    return len(service.read_spans(service.get_info(trace_id)))


def test_a_request_of_new_traces_reads_and_creates_them_together(
    service: TraceService, experiment_id: str, calls: Calls
) -> None:
    trace_ids = _ids(10)
    calls.take()

    service.log_spans(experiment_id, [_trace(t, 10) for t in trace_ids])

    made = calls.take()
    assert made[("dynamodb", "BatchGetItem")] == 1  # every pointer at once
    assert made[("dynamodb", "TransactWriteItems")] == 1  # every record and pointer at once
    assert made[("dynamodb", "GetItem")] <= 2  # the experiment (and the default one, once a process)
    assert made[("s3", "PutObject")] == 10  # one span object per trace
    for trace_id in trace_ids:
        info = service.get_info(trace_id)
        assert (info.experiment_id, info.state, info.revision, len(info.spans)) == (experiment_id, "OK", 1, 10)
        assert _span_count(service, trace_id) == 10


def test_a_request_of_existing_traces_completes_each(service: TraceService, experiment_id: str, calls: Calls) -> None:
    trace_ids = _ids(8)
    service.log_spans(experiment_id, [_trace(t, 5, first=0, root=False) for t in trace_ids])
    assert {service.get_info(t).state for t in trace_ids} == {"IN_PROGRESS"}
    calls.take()

    service.log_spans(experiment_id, [_trace(t, 5, first=5) for t in trace_ids])  # (no root yet)
    service.log_spans(experiment_id, [_trace(t, 1, first=0) for t in trace_ids])  # the roots, ended last

    made = calls.take()
    assert made[("dynamodb", "BatchGetItem")] == 4  # pointers, then records, per request
    assert made[("dynamodb", "GetItem")] == 0  # no trace is new: the experiment is not read
    for trace_id in trace_ids:
        info = service.get_info(trace_id)
        assert (info.state, info.request_time, info.execution_duration) == ("OK", START_NS // 1_000_000, 500)
        assert len(info.spans) == _span_count(service, trace_id) == 10


def test_a_request_mixing_new_and_existing_traces(service: TraceService, experiment_id: str) -> None:
    old, new = _ids(4, "tr-a"), _ids(5, "tr-b")
    service.log_spans(experiment_id, [_trace(t, 3, root=False) for t in old])

    service.log_spans(experiment_id, [*(_trace(t, 3) for t in new), *(_trace(t, 3, first=3) for t in old)])

    for trace_id in old:
        assert len(service.get_info(trace_id).spans) == _span_count(service, trace_id) == 5  # 2 + 3
        assert service.get_info(trace_id).revision == 2
    for trace_id in new:
        assert len(service.get_info(trace_id).spans) == _span_count(service, trace_id) == 3


def test_start_trace_after_the_spans_makes_one_finished_trace_each(
    service: TraceService, experiment_id: str, experiments: ExperimentService
) -> None:
    other = experiments.create("elsewhere", None, {})
    trace_ids = _ids(6)
    service.log_spans(experiment_id, [_trace(t, 4) for t in trace_ids])

    for n, trace_id in enumerate(trace_ids):
        target = other if n % 2 else experiment_id  # StartTraceV3 names another experiment for half of them
        service.start_trace(StartInfo(trace_id, target, 1_765_000_000_000, 2_000, "OK", tags={"n": str(n)}))

    for n, trace_id in enumerate(trace_ids):
        info = service.get_info(trace_id)
        assert info.experiment_id == (other if n % 2 else experiment_id)
        assert (info.info_finalized, info.execution_duration, info.tags["n"]) == (True, 2_000, str(n))
        assert len(info.spans) == _span_count(service, trace_id) == 4  # the spans moved with the trace


def test_start_trace_first_then_a_request_with_its_spans_and_new_traces(
    service: TraceService, experiment_id: str
) -> None:
    started, fresh = _ids(3, "tr-s"), _ids(3, "tr-f")
    for trace_id in started:
        service.start_trace(StartInfo(trace_id, experiment_id, 1_765_000_000_000, 2_000, "OK"))

    service.log_spans(experiment_id, [_trace(t, 4) for t in [*started, *fresh]])

    for trace_id in started:
        info = service.get_info(trace_id)
        assert (info.info_finalized, info.request_time, len(info.spans)) == (True, 1_765_000_000_000, 4)
    for trace_id in fresh:
        assert (service.get_info(trace_id).info_finalized, _span_count(service, trace_id)) == (False, 4)


def test_a_request_sent_twice_changes_nothing_and_writes_no_record(
    service: TraceService, experiment_id: str, calls: Calls
) -> None:
    request = [_trace(t, 6) for t in _ids(5)]
    service.log_spans(experiment_id, request)
    before = {t.trace_id: service.get_info(t.trace_id) for t in request}
    calls.take()

    service.log_spans(experiment_id, request)

    made = calls.take()
    writes = {"PutItem", "TransactWriteItems", "UpdateItem", "BatchWriteItem"}
    assert not [op for (_, op) in made if op in writes]
    for trace_id, record in before.items():
        assert service.get_info(trace_id) == record  # same revision too
        assert _span_count(service, trace_id) == 6  # each re-sent span once


def test_more_than_100_traces_in_one_request(service: TraceService, experiment_id: str, calls: Calls) -> None:
    trace_ids = _ids(150)
    calls.take()

    service.log_spans(experiment_id, [_trace(t, 2) for t in trace_ids])

    made = calls.take()
    assert made[("dynamodb", "BatchGetItem")] == 2  # 100 keys a request (the rule checker refuses more)
    assert made[("dynamodb", "TransactWriteItems")] == 3  # 50 creates (100 items) a transaction

    service.log_spans(experiment_id, [_trace(t, 2, first=2) for t in trace_ids])  # all existing now

    assert calls.take()[("dynamodb", "BatchGetItem")] == 4  # pointers and records, 100 at a time
    found = service.traces.get_many(trace_ids)
    assert sorted(r.trace_id for r in found) == trace_ids
    assert {len(r.spans) for r in found} == {4}


def test_large_records_are_created_in_transactions_under_4_mb(service: TraceService, experiment_id: str) -> None:
    rng = random.Random(4)
    groups = []
    for trace_id in _ids(60):
        group = _trace(trace_id, 1)
        # a resource attribute becomes a tag of the trace: 100 KB that do not compress, on each of 60 records
        group.resource = {"blob": base64.b64encode(rng.randbytes(100_000)).decode()}
        groups.append(group)

    service.log_spans(experiment_id, groups)  # the rule checker refuses a transaction over 4 MB

    assert len(service.traces.get_many([g.trace_id for g in groups])) == 60


class _StaleReads(DynamoTraceStore):
    """Reads as if ``hidden`` did not exist yet: another writer creates it between this request's read and write."""

    def __init__(self, hidden: set[str]) -> None:
        super().__init__()
        self.hidden = hidden

    def get_many(self, trace_ids: list[str]) -> list[TraceRecord]:
        return [r for r in super().get_many(trace_ids) if r.trace_id not in self.hidden]


def test_a_trace_created_meanwhile_is_updated_and_the_others_still_created(
    experiments: ExperimentService, experiment_id: str, calls: Calls
) -> None:
    raced = "tr-raced"
    store = _StaleReads({raced})
    service = TraceService(store, S3SpanStore(BUCKET), experiments)
    service.log_spans(experiment_id, [_trace(raced, 3, root=False)])
    others = _ids(5)
    calls.take()

    service.log_spans(experiment_id, [_trace(raced, 3, first=3), *(_trace(t, 2) for t in others)])

    # the shared create was cancelled by the raced trace, sent again without it; the raced trace re-read and updated
    assert calls.take()[("dynamodb", "TransactWriteItems")] >= 2
    info = service.get_info(raced)
    assert (len(info.spans), info.state, info.revision) == (5, "IN_PROGRESS", 2)  # its 2 spans, then 3 more
    assert _span_count(service, raced) == 5
    for trace_id in others:
        assert (service.get_info(trace_id).revision, _span_count(service, trace_id)) == (1, 2)


def test_a_full_summary_is_stored_compressed_and_read_back(
    service: TraceService, experiment_id: str, table: str
) -> None:
    service.log_spans(experiment_id, [_trace("tr-big", SPAN_SUMMARY_CAP + 50)])

    info = service.get_info("tr-big")
    assert (len(info.spans), info.spans_cut) == (SPAN_SUMMARY_CAP, True)
    key = {"pk": {"S": f"TRACES#{experiment_id}"}, "sk": {"S": info.sort_key}}
    item = boto3.client("dynamodb").get_item(TableName=table, Key=key)["Item"]
    plain = len(record_body(info).encode())
    assert "body" not in item
    assert len(item["zbody"]["B"]) * 4 < plain  # random span ids and all, a summary compresses well over 4 to 1


def test_a_record_written_before_compression_is_still_read_and_updated(
    service: TraceService, experiment_id: str
) -> None:
    record = TraceRecord(trace_id="tr-old", experiment_id=experiment_id, request_time=START_NS // 1_000_000)
    record.tags["legacy"] = "yes"
    TraceItem(pk=f"TRACES#{experiment_id}", sk=record.sort_key, body=record_body(record), revision=1).save()
    _pointer(record).save()  # both as the store wrote them before

    assert service.get_info("tr-old").tags == {"legacy": "yes"}
    assert [r.trace_id for r in service.traces.page(experiment_id, descending=True, start_after=None, limit=5)[0]] == [
        "tr-old"
    ]
    service.log_spans(experiment_id, [_trace("tr-old", 2)])
    info = service.get_info("tr-old")
    assert (info.tags["legacy"], info.revision, len(info.spans)) == ("yes", 2, 2)


# ---------------------------------------------------------------------------------------------- DynamoDB Local


@pytest.fixture
def local_traces(dynamodb_local: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[DynamoTraceStore]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(name)
    client = boto3.client("dynamodb", endpoint_url=dynamodb_local, region_name="us-east-1")
    for existing in client.list_tables()["TableNames"]:
        client.delete_table(TableName=existing)
    table = parse_project(PROJECT_DIR).tables[0]
    create_tables(client, [table], io.StringIO())
    bind_table(table.name, "us-east-1", host=dynamodb_local)
    yield DynamoTraceStore()


def test_concurrent_requests_for_the_same_traces_lose_no_span(local_traces: DynamoTraceStore) -> None:
    experiments = ExperimentService(InMemoryTrackingStore(), "s3://bucket/mlartifacts")
    experiment_id = experiments.create("concurrent", None, {})
    spans = InMemorySpanStore()
    service = TraceService(local_traces, spans, experiments)
    trace_ids = _ids(6)
    senders = 4
    barrier = threading.Barrier(senders)
    failures: list[BaseException] = []

    def send(n: int) -> None:
        barrier.wait()
        try:  # each sender: 5 spans of every trace, its own span ids; sender 0 has the roots
            service.log_spans(experiment_id, [_trace(t, 5, first=5 * n, root=n == 0, seed=n) for t in trace_ids])
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    for trace_id in trace_ids:
        info = service.get_info(trace_id)
        assert len(info.spans) == len(service.read_spans(info)) == 5 * senders
        assert info.state == "OK"
