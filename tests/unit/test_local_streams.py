"""stratus local's stream mapping: the template's filter criteria, and partial-batch retries."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from stratus_local import event_sources
from stratus_local.event_sources import StreamPoller, _keep_raw_records, _lambda_record, _Poller, matches
from stratus_local.template import StreamSourceSpec, parse_project

PROJECT_DIR = Path(__file__).resolve().parents[2]


def _record(pk: str, sk: str, sequence: str = "1") -> dict[str, Any]:
    return {"dynamodb": {"Keys": {"pk": {"S": pk}, "sk": {"S": sk}}, "SequenceNumber": sequence}}


def test_the_templates_filters_let_only_registry_items_through() -> None:
    function = parse_project(PROJECT_DIR).functions["RegistryEventsFunction"]
    [source] = function.stream_sources
    assert source.table == "stratus-table"

    def passes(record: dict[str, Any]) -> bool:
        return any(matches(f, record) for f in source.filters)

    assert passes(_record("REGMODELS", "M#abc"))
    assert passes(_record("RM#abc", "V#0000000001"))
    assert not passes(_record("RM#abc", "H#1795000000000#x"))  # history items: no event of their own
    assert not passes(_record("EXP#1", "R#abc#I"))
    assert not passes(_record("RMNAME#churn", "#"))


def test_a_partial_batch_failure_is_retried_from_the_first_failed_record() -> None:
    calls: list[list[str]] = []

    def invoke(function_id: str, event: bytes, request_id: str) -> bytes:
        sequences = [r["dynamodb"]["SequenceNumber"] for r in json.loads(event)["Records"]]
        calls.append(sequences)
        failures = [{"itemIdentifier": "2"}] if len(calls) == 1 else []
        return json.dumps({"batchItemFailures": failures}).encode()

    poller = StreamPoller.__new__(StreamPoller)  # no AWS clients needed for delivery
    poller.function_id, poller.source, poller._invoke = "F", StreamSourceSpec("t", max_retries=2), invoke
    delivered = poller._deliver([_record("REGMODELS", "M#a", s) for s in ("1", "2", "3")])
    assert calls == [["1", "2", "3"], ["2", "3"]]
    assert delivered == 2


def test_a_lasting_poll_error_is_reported_once_and_its_end_too(monkeypatch: Any) -> None:
    """Given a source that fails the same way three polls running, then works,
    when its poller runs,
    then the log says the error once and that polling is back, not one line per second of the outage."""
    monkeypatch.setattr(event_sources, "POLL_SECONDS", 0.001)
    done = threading.Event()

    class Flaky(_Poller):
        label = "queue q -> F"
        calls = 0

        def poll_once(self) -> int:
            self.calls += 1
            if self.calls <= 3:
                raise RuntimeError("The specified queue does not exist.")
            if self.calls == 5:
                done.set()
            return 0

    log = io.StringIO()
    poller = Flaky(log)
    poller._start_thread("flaky")
    assert done.wait(10)
    poller.stop()
    assert log.getvalue().splitlines() == [
        "stratus local: queue q -> F: The specified queue does not exist. (retrying every 0.001 s)",
        "stratus local: queue q -> F: polling again",
    ]


RAW_RECORD = {
    "eventID": "e1",
    "eventName": "INSERT",
    "eventVersion": "1.1",
    "eventSource": "aws:dynamodb",
    "awsRegion": "us-east-1",
    "dynamodb": {
        "ApproximateCreationDateTime": 1796000000.0,
        "Keys": {"pk": {"S": "EXP#1"}, "sk": {"S": "C#1796000000000#abc"}},
        "NewImage": {"pk": {"S": "EXP#1"}, "tags": {}, "n": {"N": "3"}},
        "SequenceNumber": "100",
        "SizeBytes": 60,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    },
}


class _Stream:
    """A canned GetRecords answer, sent instead of the HTTP request."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status, self.body = status, json.dumps(body).encode()

    def __call__(self, request: Any, **_: Any) -> AWSResponse:
        headers = {"Content-Type": "application/x-amz-json-1.0"}
        return AWSResponse(request.url, self.status, headers, _Raw(self.body))


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def _streams_client(answer: _Stream) -> Any:
    client = boto3.client(
        "dynamodbstreams",
        endpoint_url="http://127.0.0.1:1",
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - not a secret
    )
    client.meta.events.register("before-send.dynamodb-streams.GetRecords", answer)
    client.meta.events.register("before-parse.dynamodb-streams.GetRecords", _keep_raw_records)
    return client


def test_stream_records_reach_the_function_as_the_service_sent_them() -> None:
    """Given GetRecords answering one record with an empty map,
    when the poller's client reads it,
    then the record is the service's JSON (creation time in epoch seconds, as Lambda delivers it), the next iterator
    is botocore's as usual, and the shaped record gives the empty map its type back."""
    client = _streams_client(_Stream(200, {"Records": [RAW_RECORD], "NextShardIterator": "next"}))

    page = client.get_records(ShardIterator="it")
    assert page["Records"] == [RAW_RECORD]
    assert page["NextShardIterator"] == "next"
    shaped = _lambda_record(page["Records"][0], "arn:stream", "us-east-1")

    assert shaped["dynamodb"]["ApproximateCreationDateTime"] == 1796000000.0
    assert shaped["dynamodb"]["NewImage"]["tags"] == {"M": {}}
    assert (shaped["eventSourceARN"], shaped["awsRegion"]) == ("arn:stream", "us-east-1")
    assert json.loads(json.dumps(shaped)) == shaped  # JSON as it is: what the function gets


def test_a_get_records_error_is_still_raised_by_botocore() -> None:
    error = {"__type": "com.amazonaws.dynamodb.v20120810#ExpiredIteratorException", "message": "Iterator expired"}
    client = _streams_client(_Stream(400, error))

    with pytest.raises(client.exceptions.ExpiredIteratorException):
        client.get_records(ShardIterator="it")
