"""What OTLP ingest writes to DynamoDB and S3, request by request, counted under moto (no timing: the counts and
units are the same on any machine).

    python -m benchmarks.trace_writes [--json FILE]

The trace service of whatever ``stratus`` is on ``PYTHONPATH`` (so ``benchmarks.traces_ab`` runs it for two trees) is
called in-process with OTLP requests decoded as the route decodes them, on tables made from template.yaml under moto,
with ``benchmarks.dynamo_meter`` counting DynamoDB requests and billed units and a hook counting S3 requests. Spans
are shaped like an instrumented LLM application's (random 64-bit span ids as OpenTelemetry SDKs make them, a few
span names and types, token usage and a model on the LLM spans, ~300 bytes of inputs and outputs), so that record
sizes are realistic. Scenarios:

* ``10 x 10-span traces a request``: 20 requests, each carrying ten new 10-span traces (a batch processor's export);
* ``the same requests again``: each sent a second time (an exporter's retry);
* ``StartTraceV3 after the spans``: one StartTraceV3 for each of those traces;
* ``10-span traces, 5 spans a request``: the stock MLflow client's default batch, a trace in two requests;
* ``1,000-span trace, 100 spans a request`` and ``... 5 spans a request`` (the stock client's default batch): one
  trace sent in 10 and in 200 requests; the record's summary is full (200 spans) from the third and the 41st request
  on, and every later request rewrites it.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.client import BaseClient
from moto import mock_aws
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from benchmarks.dynamo_meter import DynamoMeter, Usage

PROJECT_DIR = Path(__file__).resolve().parents[1]
BUCKET = "trace-writes-bench"
NAMES = [("ChatOpenAI", "LLM"), ("retrieve_docs", "RETRIEVER"), ("search_web", "TOOL"), ("format_prompt", "CHAIN")]
TEXT = "The quick brown fox jumps over the lazy dog. " * 3


def _attribute(key: str, value: Any) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=json.dumps(value)))


def llm_span(rng: random.Random, trace: bytes, parent: bytes | None, start_ns: int, index: int) -> Span:
    """One span of a traced LLM application (the root when ``parent`` is None)."""
    name, kind = ("agent", "AGENT") if parent is None else NAMES[index % len(NAMES)]
    span = Span(
        trace_id=trace,
        span_id=rng.getrandbits(64).to_bytes(8, "big"),
        name=name,
        start_time_unix_nano=start_ns + index * 1_000_000 + rng.randrange(1_000_000),
        end_time_unix_nano=start_ns + index * 1_000_000 + 5_000_000 + rng.randrange(500_000_000),
        status=Status(code=Status.STATUS_CODE_OK),
    )
    if parent is not None:
        span.parent_span_id = parent
    attributes = [
        _attribute("mlflow.traceRequestId", f"tr-{trace.hex()}"),
        _attribute("mlflow.spanType", kind),
        _attribute("mlflow.spanInputs", {"messages": [{"role": "user", "content": f"{TEXT} {index}"}]}),
        _attribute("mlflow.spanOutputs", {"content": f"{TEXT} {rng.random()}"}),
    ]
    if kind == "LLM":
        usage = {"input_tokens": rng.randrange(50, 3000), "output_tokens": rng.randrange(10, 500)}
        usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
        attributes += [
            _attribute("mlflow.chat.tokenUsage", usage),
            _attribute("mlflow.llm.model", "gpt-4o-mini"),
            _attribute("mlflow.llm.provider", "openai"),
        ]
    span.attributes.extend(attributes)
    return span


def trace_of(rng: random.Random, spans: int) -> list[Span]:
    """A trace's spans: a root and its children, children first (as they end, and so are exported, first)."""
    trace = rng.getrandbits(128).to_bytes(16, "big")
    start_ns = 1_765_000_000_000_000_000 + rng.randrange(10**12)
    root = llm_span(rng, trace, None, start_ns, 0)
    return [*(llm_span(rng, trace, root.span_id, start_ns, i) for i in range(1, spans)), root]


def decoded(spans: list[Span]) -> list[Any]:
    from stratus.domain import otlp  # noqa: PLC0415 - the tree under test, once PYTHONPATH is set

    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])])
    return otlp.decode_request(request.SerializeToString(), otlp.PROTOBUF, None)


@dataclass
class Scenario:
    label: str
    requests: int
    usage: Usage
    s3: Counter[str]
    wcu_per_request: list[float]

    def row(self) -> str:
        n = self.requests
        ops = ", ".join(
            f"{op} {count / n:.2f}".rstrip("0").rstrip(".") for op, count in sorted(self.usage.by_operation.items())
        )
        s3 = ", ".join(f"{op} {count / n:g}" for op, count in sorted(self.s3.items()))
        last = self.wcu_per_request[-1] if self.wcu_per_request else 0
        return f"| {self.label} | {n} | {ops} | {self.usage.wcu / n:.1f} | {last:g} | {self.usage.rcu / n:.1f} | {s3} |"


class S3Counter:
    """S3 requests by operation, from every botocore client."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def take(self) -> Counter[str]:
        taken, self.counts = self.counts, Counter()
        return taken


@contextmanager
def counted_s3(counter: S3Counter) -> Iterator[None]:
    original = BaseClient._make_api_call

    def counting(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if client.meta.service_model.service_name == "s3":
            counter.counts[operation] += 1
        return original(client, operation, params)

    BaseClient._make_api_call = counting  # type: ignore[method-assign]
    try:
        yield
    finally:
        BaseClient._make_api_call = original  # type: ignore[method-assign]


def measure(label: str, meter: DynamoMeter, s3: S3Counter, requests: list[Callable[[], object]]) -> Scenario:
    meter.reset()
    s3.take()
    total = Usage()
    per_request = []
    for send in requests:
        send()
        usage = meter.take()
        total.calls.extend(usage.calls)
        per_request.append(usage.wcu)
    return Scenario(label, len(requests), total, s3.take(), per_request)


def run_scenarios() -> list[Scenario]:
    from stratus.domain.services import traces as trace_service  # noqa: PLC0415 - the tree under test
    from stratus.domain.services.experiments import ExperimentService  # noqa: PLC0415
    from stratus.domain.services.traces import TraceService  # noqa: PLC0415
    from stratus.domain.trace_records import StartInfo  # noqa: PLC0415
    from stratus.store.dynamodb import DynamoTrackingStore, bind_table  # noqa: PLC0415
    from stratus.store.dynamodb import traces as trace_store  # noqa: PLC0415
    from stratus.store.dynamodb.traces import DynamoTraceStore  # noqa: PLC0415
    from stratus.store.s3.spans import S3SpanStore  # noqa: PLC0415
    from stratus_local.backends import create_tables  # noqa: PLC0415
    from stratus_local.template import parse_project  # noqa: PLC0415

    # One write at a time: moto's TransactWriteItems is not thread-safe (it copies the table while another thread
    # writes it), and the counts do not depend on it.
    trace_service.TRACES_IN_PARALLEL = 1
    if hasattr(trace_store, "WRITES_IN_PARALLEL"):
        trace_store.WRITES_IN_PARALLEL = 1
    project = parse_project(PROJECT_DIR)
    create_tables(boto3.client("dynamodb"), project.tables, io.StringIO())
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    meter = DynamoMeter()
    meter.install()  # before the table's client is made
    bind_table(project.tables[0].name, os.environ["AWS_REGION"])
    experiments = ExperimentService(DynamoTrackingStore(), f"s3://{BUCKET}/mlartifacts")
    experiment_id = experiments.create("trace-writes", None, {})
    service = TraceService(DynamoTraceStore(), S3SpanStore(BUCKET), experiments)
    rng = random.Random(15)
    s3 = S3Counter()
    results = []
    with counted_s3(s3):
        small = [decoded([s for _ in range(10) for s in trace_of(rng, 10)]) for _ in range(20)]
        send = [lambda batch=batch: service.log_spans(experiment_id, batch) for batch in small]
        results.append(measure("10 x 10-span traces a request (new traces)", meter, s3, send))
        results.append(measure("the same requests sent again", meter, s3, send))
        # the client's StartTraceV3 carries the root span's time and duration, as the spans already set them
        records = [service.get_info(group.trace_id) for batch in small for group in batch]
        starts = [
            StartInfo(r.trace_id, experiment_id, r.request_time, r.execution_duration, "OK", tags={"user": "bench"})
            for r in records
        ]
        results.append(
            measure(
                "StartTraceV3 after the spans, per trace",
                meter,
                s3,
                [lambda i=i: service.start_trace(i) for i in starts],
            )
        )
        stock = [trace_of(rng, 10) for _ in range(20)]  # the stock client: 5 spans a request, children first
        batches = [decoded(spans[i : i + 5]) for spans in stock for i in (0, 5)]
        label = "10-span traces, 5 spans a request"
        results.append(
            measure(
                label, meter, s3, [lambda batch=batch: service.log_spans(experiment_id, batch) for batch in batches]
            )
        )
        for per_request in (100, 5):
            spans = trace_of(rng, 1_000)
            batches = [decoded(spans[i : i + per_request]) for i in range(0, len(spans), per_request)]
            label = f"1,000-span trace, {per_request} spans a request"
            results.append(
                measure(
                    label, meter, s3, [lambda batch=batch: service.log_spans(experiment_id, batch) for batch in batches]
                )
            )
    meter.uninstall()
    return results


def print_table(results: list[Scenario]) -> None:
    print(
        "| requests | n | DynamoDB per request | WCU per request | WCU of the last | RCU per request | S3 per request |"
    )
    print("| --- | ---: | --- | ---: | ---: | ---: | --- |")
    for scenario in results:
        print(scenario.row())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.trace_writes", description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        os.environ[name] = value
    os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"] = "us-east-1"
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
        del os.environ[name]
    with mock_aws():
        results = run_scenarios()
    print_table(results)
    if args.json:
        report = [
            {
                "label": s.label,
                "requests": s.requests,
                "dynamodb": dict(s.usage.by_operation),
                "wcu": s.usage.wcu,
                "rcu": s.usage.rcu,
                "last_wcu": s.wcu_per_request[-1],
                "s3": dict(s.s3),
            }
            for s in results
        ]
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
