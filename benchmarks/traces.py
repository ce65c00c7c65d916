"""GenAI traces at scale through ``stratus local`` (issue 15 item 6).

    python -m benchmarks.traces [--ingest-spans 20000] [--spans-per-trace 10] [--batch-spans 100] [--threads 4]
        [--traces 1000000] [--big-spans 30000] [--page-repeat 5] [--smoke] [--profile FILE]

Three parts, on one fresh ephemeral local stack (DynamoDB Local, embedded S3), with the DynamoDB requests and read
units (``benchmarks.dynamo_meter``) and the S3 requests (counted at the embedded moto server) of each call:

1. **Ingest**: ``--ingest-spans`` spans sent to ``POST /v1/traces`` over HTTP as OTLP protobuf, ``--batch-spans`` a
   request (whole traces of ``--spans-per-trace`` spans; the stock client sends 5 spans a request by default, an
   OpenTelemetry SDK's batch processor up to 512), from ``--threads`` client threads: spans per second, and per
   request the handler's time and the time spent in each kind of DynamoDB request. ``--profile FILE`` runs the trace
   function's handler under cProfile meanwhile and prints where its thread spent its time.
2. **A large experiment**: ``--traces`` trace records bulk-loaded into the stack's DynamoDB Local with the store's
   own items (``store.dynamodb.traces``) in BatchWriteItem requests of 25 from 8 threads, not through the API (the
   API would take hours at this size on 2 CPUs: see part 1's rate). Each record is what a 3-span trace leaves (info,
   tags, previews, a 3-span summary); 1 in 10 is an error trace and 1 in 4 has the tag ``team`` = ``a``. No span
   objects are written (a search page reads none). Then the first search page of 100 over HTTP, twice: the web UI's
   default (no filter, newest first) and one filtered by a tag and status in timestamp order; the first call after
   the load (nothing of this experiment read by the server before) and the median of ``--page-repeat`` more.
3. **A large trace**: one trace of ``--big-spans`` spans (each with about 300 bytes of inputs and outputs: well over
   6 MB of span JSON) sent over OTLP in requests of 100 spans (what each request wrote: after the second, each
   rewrites a record whose 200-span summary is full), then opened with the stock client
   (``MlflowClient().get_trace``: GetTraceInfoV3, then ``traces/get``) and through the web UI's route
   (``ajax-api/3.0/mlflow/get-trace-artifact``), each twice: the first read assembles and stores the answer, the
   second finds it stored. The answer is a 307 to a presigned S3 URL that ``requests`` follows.

``--smoke`` runs all three at a tiny size (seconds) for the CI smoke test, with the size over which a read's answer is
stored in S3 and redirected to lowered from 4 MiB to 100 KB, so that part 3's 300-span trace takes that path.
Results: docs/benchmarks.md, "Traces". ``benchmarks.traces_ab`` runs part 1 for two versions side by side.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from benchmarks.dynamo_meter import DynamoMeter, Usage
from benchmarks.harness import Bench, Timing, describe, local_stack
from benchmarks.local_scale import Meters, Progress
from benchmarks.tracking import machine
from stratus.domain.services import traces as traces_service
from stratus.domain.trace_records import SpanSummary, TraceRecord
from stratus.store.dynamodb.batch import batch_put
from stratus.store.dynamodb.traces import _item, _pointer

PAGE = 100
START_MS = 1_700_000_000_000
"""Request time of the large experiment's trace 0; trace ``i`` starts ``i`` ms later."""
DEFAULT_PAGE: dict[str, Any] = {}
"""The web UI's Traces tab and ``mlflow.search_traces()``: no filter, newest first (the default order)."""
FILTERED_PAGE = {"filter": "tags.team = 'a' AND attributes.status = 'OK'", "order_by": ["timestamp_ms DESC"]}
LOAD_THREADS = 8
LOAD_CHUNK = 500
"""Records per bulk-load task (1,000 items: 40 BatchWriteItem requests)."""
BIG_BATCH = 100
SMOKE_ANSWER_BYTES = 100_000
PAYLOAD = "x" * 150


# ------------------------------------------------------------------------------------------------------------- OTLP


def _attribute(key: str, value: Any) -> KeyValue:
    """An MLflow span attribute: JSON text, as the MLflow SDK sets them."""
    return KeyValue(key=key, value=AnyValue(string_value=json.dumps(value)))


def otlp_span(trace: bytes, index: int, parent: bytes | None, start_ns: int, *, error: bool = False) -> Span:
    """Span ``index`` of the trace with OTel id ``trace``: a chain under the root, 1 ms each, small payloads."""
    request_id = f"tr-{trace.hex()}"
    span = Span(
        trace_id=trace,
        span_id=(index + 1).to_bytes(8, "big"),
        name="root" if parent is None else f"step_{index}",
        start_time_unix_nano=start_ns + index * 1_000,
        end_time_unix_nano=start_ns + index * 1_000 + 1_000_000,
        status=Status(code=Status.STATUS_CODE_ERROR if error else Status.STATUS_CODE_OK),
    )
    if parent is not None:
        span.parent_span_id = parent
    span.attributes.extend(
        [
            _attribute("mlflow.traceRequestId", request_id),
            _attribute("mlflow.spanType", "CHAIN" if parent is None else "LLM"),
            _attribute("mlflow.spanInputs", {"question": f"{PAYLOAD} {index}"}),
            _attribute("mlflow.spanOutputs", {"answer": f"{PAYLOAD} {index}"}),
        ]
    )
    return span


def trace_spans(trace: bytes, count: int, start_ns: int, first: int = 0) -> list[Span]:
    """Spans ``first`` .. ``first + count - 1`` of a trace: span 0 is the root, every other one its child."""
    root = (1).to_bytes(8, "big")
    return [otlp_span(trace, i, None if i == 0 else root, start_ns) for i in range(first, first + count)]


def export_body(spans: list[Span]) -> bytes:
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])])
    return request.SerializeToString()


class Exporter:
    """``POST /v1/traces`` over HTTP, one session per thread."""

    def __init__(self, base_url: str, experiment_id: str) -> None:
        self.url = f"{base_url}/v1/traces"
        self.headers = {"Content-Type": "application/x-protobuf", "x-mlflow-experiment-id": experiment_id}
        self._local = threading.local()

    def send(self, spans: list[Span]) -> None:
        session = getattr(self._local, "session", None) or requests.Session()
        self._local.session = session
        response = session.post(self.url, data=export_body(spans), headers=self.headers, timeout=600)
        if response.status_code != 200:
            raise RuntimeError(f"OTLP export: HTTP {response.status_code}: {response.text[:300]}")


# ---------------------------------------------------------------------------------------------------------- part 1


@dataclass
class Ingest:
    spans: int
    requests: int
    seconds: float
    usage: Usage
    s3: Counter[str]
    handler: Timing


class HandlerProfile:
    """cProfile around the TracesFunction's handler (one invocation at a time, as ``stratus local`` runs it). Only the
    handler's own thread is seen: work it hands to a thread pool shows as waiting for it."""

    def __init__(self, bench: Bench) -> None:
        self.profile = cProfile.Profile()
        function = bench.stack.functions.functions["TracesFunction"] if bench.stack.functions else None
        if function is None:
            raise RuntimeError("the stack has no TracesFunction")
        handler = function.load()
        self._lock = threading.Lock()

        def profiled(event: dict[str, Any], context: Any) -> Any:
            with self._lock:
                self.profile.enable()
                try:
                    return handler(event, context)
                finally:
                    self.profile.disable()

        function._handler = profiled  # noqa: SLF001 - benchmarks may look inside the local stack

    def report(self, path: Path, lines: int = 30) -> str:
        """The top ``lines`` functions by cumulative time (the stats also saved to ``path``)."""
        self.profile.dump_stats(str(path))
        out = io.StringIO()
        pstats.Stats(self.profile, stream=out).sort_stats("cumulative").print_stats(lines)
        return out.getvalue()


def ingest(bench: Bench, meters: Meters, experiment_id: str, args: argparse.Namespace) -> Ingest:
    """``args.ingest_spans`` spans in requests of ``args.batch_spans`` (whole traces) from ``args.threads`` threads."""
    exporter = Exporter(bench.stack.base_url, experiment_id)
    per_trace = args.spans_per_trace
    traces_per_request = max(1, args.batch_spans // per_trace)
    requests_total = max(1, args.ingest_spans // (traces_per_request * per_trace))
    start_ns = time.time_ns()

    def one_request(_: int) -> None:
        spans = [s for _ in range(traces_per_request) for s in trace_spans(uuid.uuid4().bytes, per_trace, start_ns)]
        exporter.send(spans)

    meters.meter.reset()
    meters.s3_requests()
    bench.clock.take()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.threads) as pool:
        list(pool.map(one_request, range(requests_total)))
    seconds = time.perf_counter() - started
    return Ingest(
        requests_total * traces_per_request * per_trace,
        requests_total,
        seconds,
        meters.meter.take(),
        meters.s3_requests(),
        bench.clock.take(),
    )


def dynamo_seconds(usage: Usage) -> Counter[str]:
    """Time spent in DynamoDB requests by operation (summed over threads)."""
    spent: Counter[str] = Counter()
    for call in usage.calls:
        spent[call.operation] += call.seconds
    return spent


def print_ingest(result: Ingest, args: argparse.Namespace) -> None:
    per_request = result.usage.by_operation
    operations = ", ".join(f"{op} {n / result.requests:.1f}" for op, n in sorted(per_request.items()))
    s3 = ", ".join(f"{op} {n / result.requests:.1f}" for op, n in sorted(result.s3.items()))
    print(
        f"  {result.spans:,} spans in {result.requests:,} requests ({args.batch_spans} spans, traces of "
        f"{args.spans_per_trace}) from {args.threads} threads: {result.seconds:.1f} s, "
        f"**{result.spans / result.seconds:,.0f} spans/s** ({result.requests / result.seconds:.0f} requests/s)"
    )
    print(f"  per request: DynamoDB {operations}; WCU {result.usage.wcu / result.requests:.1f}; S3 {s3}")
    n = result.requests
    waits = ", ".join(f"{op} {ms * 1000 / n:.0f}" for op, ms in sorted(dynamo_seconds(result.usage).items()))
    print(
        f"  per request: handler {result.handler.seconds * 1000 / n:.0f} ms wall, "
        f"{result.handler.cpu_seconds * 1000 / n:.0f} ms CPU of its thread; DynamoDB ms (over threads) {waits}"
    )


# ---------------------------------------------------------------------------------------------------------- part 2


def record_of(experiment_id: str, i: int) -> TraceRecord:
    """Trace ``i`` of the large experiment: what a 3-span trace's ingest leaves in its record."""
    trace_id = f"tr-{i:032x}"
    error = i % 10 == 0
    tags = {
        "mlflow.traceName": "answer",
        "mlflow.trace.spansLocation": "TRACKING_STORE",
        "mlflow.artifactLocation": f"mlflow-artifacts:/{experiment_id}/traces/{trace_id}/artifacts",
        "team": "a" if i % 4 == 0 else "b",
    }
    metadata = {"mlflow.trace_schema.version": "3", "mlflow.trace.sizeStats": json.dumps({"num_spans": 3})}
    start_ns = (START_MS + i) * 1_000_000
    spans = [
        SpanSummary(f"{i:012x}{n:04x}", name, kind, "ERROR" if error and n == 0 else "OK", parent, None, start_ns)
        for n, (name, kind, parent) in enumerate(
            [("answer", "CHAIN", None), ("retrieve", "RETRIEVER", f"{i:012x}0000"), ("llm", "LLM", f"{i:012x}0000")]
        )
    ]
    return TraceRecord(
        trace_id=trace_id,
        experiment_id=experiment_id,
        request_time=START_MS + i,
        execution_duration=40 + i % 100,
        state="ERROR" if error else "OK",
        request_preview=f'{{"question": "question {i}"}}',
        response_preview=f'{{"answer": "answer {i}"}}',
        trace_metadata=metadata,
        tags=tags,
        spans=spans,
        revision=1,
    )


def bulk_load(experiment_id: str, count: int) -> float:
    """``count`` records and their pointers in BatchWriteItem requests; the seconds it took."""
    progress = Progress("trace records", count)

    def load(start: int) -> None:
        records = [record_of(experiment_id, i) for i in range(start, min(count, start + LOAD_CHUNK))]
        batch_put([_item(r, 1) for r in records])
        batch_put([_pointer(r) for r in records])
        progress.step(len(records))

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=LOAD_THREADS) as pool:
        list(pool.map(load, range(0, count, LOAD_CHUNK)))
    return time.perf_counter() - started


@dataclass
class Page:
    seconds: float
    handler_seconds: float
    usage: Usage
    s3: Counter[str]
    found: list[str]


def search_page(bench: Bench, meters: Meters, experiment_id: str, query: dict[str, Any]) -> Page:
    body = {"locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": experiment_id}}]}
    body.update({"max_results": PAGE, **query})
    meters.meter.reset()
    meters.s3_requests()
    bench.clock.take()
    started = time.perf_counter()
    response = requests.post(f"{bench.stack.base_url}/api/3.0/mlflow/traces/search", json=body, timeout=600)
    seconds = time.perf_counter() - started
    response.raise_for_status()
    found = [t["trace_id"] for t in response.json().get("traces", [])]
    return Page(seconds, bench.clock.take().seconds, meters.meter.take(), meters.s3_requests(), found)


def measure_pages(bench: Bench, meters: Meters, experiment_id: str, repeat: int) -> list[tuple[str, Page, list[Page]]]:
    results = []
    for label, query in (
        ("default page (no filter, newest first)", DEFAULT_PAGE),
        (f"filtered: {FILTERED_PAGE['filter']}, timestamp DESC", FILTERED_PAGE),
    ):
        first = search_page(bench, meters, experiment_id, query)
        repeats = [search_page(bench, meters, experiment_id, query) for _ in range(repeat)]
        results.append((label, first, repeats))
    return results


def page_cells(page: Page) -> str:
    return (
        f"{page.seconds * 1000:,.0f} | {page.handler_seconds * 1000:,.0f} | {page.usage.operations_text()} | "
        f"{page.usage.rcu:g} | {sum(page.s3.values())}"
    )


def print_pages(results: list[tuple[str, Page, list[Page]]], traces: int, repeat: int) -> None:
    print(
        f"| search of {traces:,} traces (max_results {PAGE}) | traces | first: client ms | handler ms | DynamoDB "
        f"requests | RCU | S3 requests | median of {repeat}: client ms | handler ms | DynamoDB requests | RCU | S3 |"
    )
    print("| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |")
    for label, first, repeats in results:
        median = sorted(repeats, key=lambda p: p.seconds)[len(repeats) // 2] if repeats else first
        print(f"| {label} | {len(first.found)} | {page_cells(first)} | {page_cells(median)} |")


def check_pages(results: list[tuple[str, Page, list[Page]]], traces: int) -> None:
    """The default page is the newest 100 traces; the filtered one only traces that match, newest first."""
    _, default, _ = results[0]
    newest = [f"tr-{i:032x}" for i in range(traces - 1, max(-1, traces - 1 - PAGE), -1)]
    if default.found != newest:
        raise RuntimeError(f"the default page is not the newest traces: {default.found[:3]}...")
    _, filtered, _ = results[1]
    expected = [f"tr-{i:032x}" for i in range(traces - 1, -1, -1) if i % 4 == 0 and i % 10 != 0][:PAGE]
    if filtered.found != expected:
        raise RuntimeError(f"the filtered page is not the newest matching traces: {filtered.found[:3]}...")


# ---------------------------------------------------------------------------------------------------------- part 3


@dataclass
class Opened:
    label: str
    seconds: float
    usage: Usage
    s3: Counter[str]
    detail: str


def send_big_trace(bench: Bench, experiment_id: str, spans: int) -> tuple[str, float]:
    """One trace of ``spans`` spans in requests of ``BIG_BATCH``, one after the other; its id and the seconds."""
    exporter = Exporter(bench.stack.base_url, experiment_id)
    trace = uuid.uuid4().bytes
    start_ns = time.time_ns()
    started = time.perf_counter()
    for first in range(0, spans, BIG_BATCH):
        exporter.send(trace_spans(trace, min(BIG_BATCH, spans - first), start_ns, first))
    return f"tr-{trace.hex()}", time.perf_counter() - started


def timed_open(meters: Meters, label: str, call: Callable[[], str]) -> Opened:
    meters.meter.reset()
    meters.s3_requests()
    started = time.perf_counter()
    detail = call()
    seconds = time.perf_counter() - started
    return Opened(label, seconds, meters.meter.take(), meters.s3_requests(), detail)


def open_with_client(base_url: str, trace_id: str, spans: int) -> str:
    import mlflow  # noqa: PLC0415 - the stock client, only for this part

    trace = mlflow.MlflowClient(tracking_uri=base_url).get_trace(trace_id)
    if len(trace.data.spans) != spans:
        raise RuntimeError(f"get_trace returned {len(trace.data.spans)} spans, not {spans}")
    return f"{len(trace.data.spans):,} spans"


def open_like_the_ui(base_url: str, trace_id: str, spans: int) -> str:
    url = f"{base_url}/ajax-api/3.0/mlflow/get-trace-artifact"
    response = requests.get(url, params={"request_id": trace_id}, timeout=600)
    response.raise_for_status()
    found = len(response.json()["spans"])
    if found != spans:
        raise RuntimeError(f"get-trace-artifact returned {found} spans, not {spans}")
    hops = " -> ".join(str(r.status_code) for r in [*response.history, response])
    return f"{found:,} spans, {len(response.content) / 2**20:.1f} MiB, HTTP {hops}"


@dataclass
class BigTrace:
    seconds: float
    sent: Usage
    """What sending it cost: every request after the second rewrites a record whose summary is full (200 spans)."""
    opened: list[Opened]


def big_trace(bench: Bench, meters: Meters, experiment_id: str, spans: int) -> BigTrace:
    import mlflow  # noqa: F401, PLC0415 - imported before the clock starts: the first get_trace must not time it

    meters.meter.reset()
    meters.s3_requests()
    trace_id, seconds = send_big_trace(bench, experiment_id, spans)
    sent = meters.meter.take()
    base = bench.stack.base_url
    opened = []
    for attempt in ("first", "second"):
        opened.append(
            timed_open(meters, f"client get_trace ({attempt})", lambda: open_with_client(base, trace_id, spans))
        )
    for attempt in ("first", "second"):
        opened.append(
            timed_open(meters, f"UI get-trace-artifact ({attempt})", lambda: open_like_the_ui(base, trace_id, spans))
        )
    return BigTrace(seconds, sent, opened)


def print_opened(opened: list[Opened]) -> None:
    print("| read | wall s | DynamoDB requests | RCU | S3 requests | answer |")
    print("| --- | ---: | --- | ---: | --- | --- |")
    for o in opened:
        s3 = ", ".join(f"{op} {n}" for op, n in sorted(o.s3.items()))
        print(f"| {o.label} | {o.seconds:.1f} | {o.usage.operations_text()} | {o.usage.rcu:g} | {s3} | {o.detail} |")


# ------------------------------------------------------------------------------------------------------------ main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.traces", description=__doc__.splitlines()[0])
    parser.add_argument("--ingest-spans", type=int, default=20_000, help="spans sent in part 1 (20,000)")
    parser.add_argument("--spans-per-trace", type=int, default=10, help="spans of each trace in part 1 (10)")
    parser.add_argument("--batch-spans", type=int, default=100, help="spans per OTLP request in part 1 (100)")
    parser.add_argument("--threads", type=int, default=4, help="client threads in part 1 (4)")
    parser.add_argument("--traces", type=int, default=1_000_000, help="traces of the large experiment (1,000,000)")
    parser.add_argument("--big-spans", type=int, default=30_000, help="spans of the large trace (30,000)")
    parser.add_argument("--page-repeat", type=int, default=5, help="calls of each search after the first (5)")
    parser.add_argument("--smoke", action="store_true", help="everything tiny, for the CI smoke test")
    parser.add_argument("--skip", action="append", default=[], choices=("ingest", "search", "big"))
    parser.add_argument("--json", type=Path, help="also write the figures to this file (the smoke test reads it)")
    parser.add_argument("--profile", type=Path, help="cProfile the trace handler in part 1; stats to this file")
    args = parser.parse_args(argv)
    if args.smoke:
        args.ingest_spans, args.traces, args.big_spans, args.page_repeat = 200, 1_000, 300, 1
        # the stack runs in this process: a 300-span trace (0.2 MiB) takes the path of one over 4 MiB
        traces_service.LARGE_ANSWER_BYTES = SMOKE_ANSWER_BYTES
    return args


def usage_json(usage: Usage, s3: Counter[str]) -> dict[str, Any]:
    return {"dynamodb": dict(usage.by_operation), "rcu": usage.rcu, "wcu": usage.wcu, "s3": dict(s3)}


def ingest_json(result: Ingest) -> dict[str, Any]:
    figures = {"spans": result.spans, "requests": result.requests, "seconds": result.seconds}
    figures |= {"handler_seconds": result.handler.seconds, "handler_cpu_seconds": result.handler.cpu_seconds}
    return figures | usage_json(result.usage, result.s3)


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0915 - three parts, each printed and reported
    args = parse_args(argv)
    print(f"Machine: {machine()}")
    meter = DynamoMeter()
    meter.install()
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "600")
    report: dict[str, Any] = {}
    try:
        with local_stack() as bench:
            print(describe(bench.stack))
            meters = Meters(bench, meter)
            if "ingest" not in args.skip:
                print("\n1. OTLP ingest over HTTP")
                profile = HandlerProfile(bench) if args.profile else None
                result = ingest(bench, meters, bench.http.create_experiment("ingest"), args)
                print_ingest(result, args)
                report["ingest"] = ingest_json(result)
                if profile and args.profile:
                    print(profile.report(args.profile))
            if "search" not in args.skip:
                print(f"\n2. One experiment of {args.traces:,} traces")
                big = bench.http.create_experiment("traces-scale")
                seconds = bulk_load(big, args.traces)
                print(
                    f"  loaded {args.traces:,} records and pointers in {seconds:.0f} s ({args.traces / seconds:,.0f}/s)"
                )
                pages = measure_pages(bench, meters, big, args.page_repeat)
                print_pages(pages, args.traces, args.page_repeat)
                check_pages(pages, args.traces)
                report["search"] = [
                    {"label": label, "found": len(first.found), "seconds": first.seconds}
                    | usage_json(first.usage, first.s3)
                    for label, first, _ in pages
                ]
            if "big" not in args.skip:
                print(f"\n3. One trace of {args.big_spans:,} spans")
                large = big_trace(bench, meters, bench.http.create_experiment("big-trace"), args.big_spans)
                sends = max(1, -(-args.big_spans // BIG_BATCH))
                print(
                    f"  sent in {sends} requests of {BIG_BATCH} spans in {large.seconds:.1f} s; DynamoDB in all: "
                    f"{large.sent.operations_text()}; WCU {large.sent.wcu / sends:.1f} a request"
                )
                print_opened(large.opened)
                report["big"] = [
                    {"label": o.label, "seconds": o.seconds, "detail": o.detail} | usage_json(o.usage, o.s3)
                    for o in large.opened
                ]
                report["big_sent"] = {"requests": sends, "seconds": large.seconds} | usage_json(large.sent, Counter())
    finally:
        meter.uninstall()
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
