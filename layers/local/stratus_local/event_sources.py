"""Event sources, locally. DynamoDB stream mappings: poll a table's stream (DynamoDB Local) and invoke the function
with batches of records in the shape Lambda sends, honouring the mapping's filter criteria and the function's
partial batch responses (``batchItemFailures``: retry from the first failed record, up to the mapping's attempts).

Like Lambda it starts at the stream's end when ``stratus local`` starts (records written while it was stopped are not
replayed) and delivers at least once. And EventBridge rules whose target is a function (:class:`RulePoller`)."""

from __future__ import annotations

import json
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, TextIO

import boto3

from stratus_local.template import QueueSourceSpec, RuleSourceSpec, ScheduleSourceSpec, StreamSourceSpec

POLL_SECONDS = 0.5
MAX_BATCHING_WINDOW_S = 5.0
"""A stream mapping's MaximumBatchingWindowInSeconds, capped here: locally, waiting a minute for a projection helps
nobody (docs/local.md). A function's ``Metadata: StratusLocal: MaxBatchingWindowInSeconds`` sets its own cap."""
STREAM_READY_TIMEOUT_S = 30.0
"""How long a table's new stream may stay unknown to DescribeStream (LocalStack creates it asynchronously)."""
SHARD_DISCOVERY_POLLS = 20
Invoke = Callable[[str, bytes, str], bytes]


def matches(pattern: Any, value: Any) -> bool:
    """The subset of EventBridge patterns that filter criteria use here: nested objects, lists of literals, and
    ``{"prefix": ...}``."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(k in value and matches(p, value[k]) for k, p in pattern.items())
    if isinstance(pattern, list):
        return any(_leaf_matches(p, value) for p in pattern)
    return pattern == value


def _leaf_matches(pattern: Any, value: Any) -> bool:
    if isinstance(pattern, dict) and "prefix" in pattern:
        return isinstance(value, str) and value.startswith(pattern["prefix"])
    return pattern == value


def _lambda_record(record: dict[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """A streams API record, as GetRecords sent it (JSON, see :func:`_keep_raw_records`), shaped as Lambda delivers
    it (DynamoDB Local drops the type of an empty map)."""
    change = record["dynamodb"]
    for image in ("NewImage", "OldImage"):
        for name, value in (change.get(image) or {}).items():
            if value == {}:
                change[image][name] = {"M": {}}
    return {**record, "eventSource": "aws:dynamodb", "eventSourceARN": stream_arn, "awsRegion": region}


def _keep_raw_records(response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any) -> None:
    """``before-parse`` hook of GetRecords: hand the records over as the JSON the service sent, which is what Lambda
    delivers (``ApproximateCreationDateTime`` in epoch seconds, attribute values in DynamoDB JSON), and leave only
    the rest of the answer to botocore, whose parsing of every attribute of every record was most of the pollers' CPU
    while runs are written (docs/benchmarks.md, "Bulk loading")."""
    if response_dict.get("status_code") != 200:  # errors are botocore's to parse and raise
        return
    body = json.loads(response_dict["body"] or b"{}")
    customized_response_dict["Records"] = body.pop("Records", [])
    response_dict["body"] = json.dumps(body).encode()


class _Poller:
    """A thread that calls ``poll_once`` until stopped; an error is reported and polling goes on."""

    label = "poller"
    pause_between_polls = True  # long polls (SQS) wait in the call itself

    def __init__(self, log: TextIO) -> None:
        self._log = log
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _start_thread(self, name: str) -> None:
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        failing = ""  # the error being reported: said once, not every second it lasts
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception as exc:  # noqa: BLE001 - keep polling; report
                if str(exc) != failing:
                    failing = str(exc)
                    print(f"stratus local: {self.label}: {exc} (retrying every {POLL_SECONDS:g} s)", file=self._log)
                self._stop.wait(POLL_SECONDS)
                continue
            if failing:
                failing = ""
                print(f"stratus local: {self.label}: polling again", file=self._log)
            if self.pause_between_polls:
                self._stop.wait(POLL_SECONDS)

    def poll_once(self) -> int:
        raise NotImplementedError


class StreamPoller(_Poller):
    """One function's mapping on one table's stream, in a thread."""

    def __init__(  # noqa: PLR0913 - the mapping and where to reach things
        self,
        function_id: str,
        source: StreamSourceSpec,
        invoke: Invoke,
        dynamodb_endpoint: str,
        region: str,
        log: TextIO = sys.stderr,
    ) -> None:
        self.function_id = function_id
        self.source = source
        self._invoke = invoke
        self._region = region
        super().__init__(log)
        self.label = f"stream of {source.table} -> {function_id}"
        self._dynamodb = boto3.client("dynamodb", endpoint_url=dynamodb_endpoint, region_name=region)
        self._streams = boto3.client("dynamodbstreams", endpoint_url=dynamodb_endpoint, region_name=region)
        self._streams.meta.events.register("before-parse.dynamodb-streams.GetRecords", _keep_raw_records)
        self._iterators: dict[str, str] = {}
        self._polls = 0
        self.stream_arn = ""
        self._pending: list[dict[str, Any]] = []
        self._pending_since = 0.0
        cap = MAX_BATCHING_WINDOW_S if source.local_window_cap_s is None else source.local_window_cap_s
        self._window_s = min(source.batching_window_s, cap)

    def start(self) -> None:
        table = self._dynamodb.describe_table(TableName=self.source.table)["Table"]
        self.stream_arn = table.get("LatestStreamArn", "")
        if not self.stream_arn:
            print(
                f"stratus local: {self.source.table} has no stream; {self.function_id} gets no records", file=self._log
            )
            return
        deadline = time.monotonic() + STREAM_READY_TIMEOUT_S
        while True:  # LocalStack makes a new table's stream in the background: it is not found for a moment
            try:
                self._discover_shards("LATEST")
                break
            except self._streams.exceptions.ResourceNotFoundException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self._start_thread(f"stream-{self.function_id}")

    def _discover_shards(self, position: str) -> None:
        shards = self._streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        for shard in shards:
            shard_id = shard["ShardId"]
            if shard_id in self._iterators:
                continue
            kind = position if not self._iterators and position == "LATEST" else "TRIM_HORIZON"
            iterator = self._streams.get_shard_iterator(
                StreamArn=self.stream_arn, ShardId=shard_id, ShardIteratorType=kind
            )["ShardIterator"]
            self._iterators[shard_id] = iterator

    def poll_once(self) -> int:
        """Read what is new on every shard and deliver it; returns how many records were delivered."""
        self._polls += 1
        if self._polls % SHARD_DISCOVERY_POLLS == 0:
            self._discover_shards("TRIM_HORIZON")  # shards close and new ones open as the stream ages
        delivered = 0
        for shard_id, iterator in list(self._iterators.items()):
            if not iterator:
                continue
            page = self._streams.get_records(ShardIterator=iterator)
            self._iterators[shard_id] = page.get("NextShardIterator") or ""
            records = [_lambda_record(r, self.stream_arn, self._region) for r in page.get("Records", [])]
            records = [r for r in records if not self.source.filters or any(matches(f, r) for f in self.source.filters)]
            if records and not self._pending:
                self._pending_since = time.monotonic()
            self._pending.extend(records)
        # The mapping's batching window, as Lambda applies it: records wait until a batch is full or the window ends.
        if self._pending and (
            len(self._pending) >= self.source.batch_size or time.monotonic() - self._pending_since >= self._window_s
        ):
            records, self._pending = self._pending, []
            for start in range(0, len(records), self.source.batch_size):
                delivered += self._deliver(records[start : start + self.source.batch_size])
        return delivered

    def _deliver(self, batch: list[dict[str, Any]]) -> int:
        for _attempt in range(self.source.max_retries + 1):
            if not batch:
                return 0
            answer = json.loads(
                self._invoke(self.function_id, json.dumps({"Records": batch}).encode(), uuid.uuid4().hex)
            )
            failures = [f.get("itemIdentifier") for f in (answer or {}).get("batchItemFailures", [])]
            if not failures:
                return len(batch)
            sequence = [r["dynamodb"]["SequenceNumber"] for r in batch]
            first = min(sequence.index(f) for f in failures if f in sequence) if set(failures) & set(sequence) else 0
            batch = batch[first:]
        print(
            f"stratus local: {self.function_id} kept failing on {len(batch)} stream record(s); dropped (on AWS they "
            "would go to the mapping's on-failure destination)",
            file=self._log,
        )
        return 0


class RulePoller(_Poller):
    """An ``EventBridgeRule`` event of a function: the rule is created on the local bus with an SQS queue as its
    target (moto does not run Lambda targets), and the queue is polled to invoke the function with each event. A
    failed invocation is retried when the message becomes visible again, up to ``max_attempts`` receives."""

    pause_between_polls = False  # receive_message waits itself

    def __init__(  # noqa: PLR0913 - the rule and where to reach things
        self,
        function_id: str,
        rule: RuleSourceSpec,
        invoke: Invoke,
        endpoint: str,
        region: str,
        log: TextIO = sys.stderr,
        max_attempts: int = 3,
    ) -> None:
        self.function_id = function_id
        self.rule = rule
        self._invoke = invoke
        super().__init__(log)
        self.label = f"rule {rule.name} -> {function_id}"
        self._max_attempts = max_attempts
        self._events = boto3.client("events", endpoint_url=endpoint, region_name=region)
        self._sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=region)
        self.queue_url = ""

    def start(self) -> None:
        name = re.sub(r"[^A-Za-z0-9_-]", "-", self.rule.name)[:70]
        self.queue_url = self._sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "2"})["QueueUrl"]
        arn = self._sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"]
        self._events.put_rule(Name=name, EventBusName=self.rule.bus, EventPattern=json.dumps(self.rule.pattern))
        self._events.put_targets(
            Rule=name, EventBusName=self.rule.bus, Targets=[{"Id": "local", "Arn": arn["QueueArn"]}]
        )
        self._start_thread(f"rule-{name}")

    def drain(self, timeout_s: float) -> bool:
        """Wait until every event already on the queue has been handled (or ``timeout_s``); True if it was."""
        deadline = time.monotonic() + timeout_s
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        while self.queue_url and time.monotonic() < deadline:
            counts = self._sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=names)["Attributes"]
            if not any(int(counts.get(name, "0")) for name in names):
                return True
            time.sleep(POLL_SECONDS)
        return not self.queue_url

    def poll_once(self) -> int:
        answer = self._sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, AttributeNames=["All"]
        )
        handled = 0
        for message in answer.get("Messages", []):
            attempts = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
            try:
                self._invoke(self.function_id, message["Body"].encode(), uuid.uuid4().hex)
            except Exception as exc:  # noqa: BLE001 - the message comes back after its visibility timeout
                if attempts < self._max_attempts:
                    continue
                print(
                    f"stratus local: {self.function_id} failed {attempts} times on an event of rule {self.rule.name} "
                    f"({exc}); dropped (on AWS it would go to the rule's dead-letter queue)",
                    file=self._log,
                )
            self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            handled += 1
        return handled


class QueuePoller(_Poller):
    """An ``SQS`` event of a function: poll the queue, invoke with Lambda's SQS record shape, delete what succeeded
    and make what failed visible again soon (the queue's own redrive policy moves it to its dead-letter queue)."""

    pause_between_polls = False  # receive_message waits itself

    def __init__(  # noqa: PLR0913 - the mapping and where to reach things
        self,
        function_id: str,
        source: QueueSourceSpec,
        invoke: Invoke,
        endpoint: str,
        region: str,
        log: TextIO = sys.stderr,
    ) -> None:
        self.function_id = function_id
        self.source = source
        self._invoke = invoke
        super().__init__(log)
        self.label = f"queue {source.queue} -> {function_id}"
        self._region = region
        self._sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=region)
        self.queue_url = ""
        self.queue_arn = ""

    def start(self) -> None:
        self.queue_url = self._sqs.get_queue_url(QueueName=self.source.queue)["QueueUrl"]
        attributes = self._sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
        self.queue_arn = attributes["Attributes"]["QueueArn"]
        self._start_thread(f"queue-{self.source.queue}")

    def poll_once(self) -> int:
        answer = self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(10, self.source.batch_size),
            WaitTimeSeconds=1,
            AttributeNames=["All"],
        )
        messages = answer.get("Messages", [])
        if not messages:
            return 0
        records = [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": self.queue_arn,
                "awsRegion": self._region,
            }
            for m in messages
        ]
        try:
            event = json.dumps({"Records": records}).encode()
            result = json.loads(self._invoke(self.function_id, event, uuid.uuid4().hex))
            failed = {f.get("itemIdentifier") for f in (result or {}).get("batchItemFailures", [])}
        except Exception:  # noqa: BLE001 - the whole batch failed: every message comes back
            failed = {m["MessageId"] for m in messages}
        for message in messages:
            if message["MessageId"] in failed:
                self._sqs.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=2
                )
            else:
                self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages) - len(failed)


class SchedulePoller(_Poller):
    """A ``Schedule`` event of a function: invoked every ``every_s`` seconds (the first time one period after the
    stack starts, as a new rule fires), with the ``Scheduled Event`` EventBridge sends. A failed invocation is
    reported; the next period runs anyway, as on AWS."""

    pause_between_polls = False

    def __init__(
        self,
        function_id: str,
        schedule: ScheduleSourceSpec,
        invoke: Invoke,
        region: str,
        log: TextIO = sys.stderr,
    ) -> None:
        self.function_id = function_id
        self.schedule = schedule
        self._invoke = invoke
        self._region = region
        super().__init__(log)
        self.label = f"schedule {schedule.name} -> {function_id}"

    def start(self) -> None:
        self._start_thread(f"schedule-{self.schedule.name}")

    def poll_once(self) -> int:
        if self._stop.wait(self.schedule.every_s):
            return 0
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "000000000000",
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "region": self._region,
            "resources": [f"arn:aws:events:{self._region}:000000000000:rule/{self.schedule.name}"],
            "detail": {},
        }
        self._invoke(self.function_id, json.dumps(event).encode(), uuid.uuid4().hex)
        return 1
