"""``stratus local`` at the scale of a real user: many runs in one experiment, millions of metric points.

    python -m benchmarks.local_scale [--runs 100000] [--points 2000000] [--workers 8] [--search-repeat 3]
        [--shape search|tags] [--page-repeat 5] [--projection-min-runs N] [--projection-wait 600] [--no-settle]
        [--no-reference]

Fills a fresh ephemeral local stack (DynamoDB Local) over HTTP with ``--workers`` threads: ``--runs`` runs in one big
experiment, and ``--points`` metric points (0: none): one run gets ``--history-points`` points of ``loss`` (the
history read below), the rest go 1,000 per log-batch (10 keys x 100 steps) to as many runs as they need. A small
experiment of 100 runs sits beside it. Run ``i`` of the big experiment is named ``run-<i>`` and starts at a fixed
time plus ``i`` ms: every run has its own start time, so a newest-first page has one order on any server (ties would
fall to run ids).

The big experiment's runs have issue 18's search shape by default (``--shape search``): 3 tags at create-run (``team``
a/b/c, ``seed``, ``owner``), then one log-batch of 5 params (``p0``..``p4``, small integers) and 4 metrics (``acc``,
``loss``, ``m2``, ``m3``, pseudo-random in [0, 1), the same for the same run index every time). ``--shape tags`` gives
the older shape: 2 tags and nothing else.

An experiment of at least ``--projection-min-runs`` runs (default: template.yaml's STRATUS_PROJECTION_MIN_RUNS, 2,000)
gets a search projection from the projector that ``stratus local`` runs on the table's stream. After the fill the
benchmark waits until the projection holds the last run change, then (unless ``--no-settle``) for the projector's
settling pass, due once the fill has left the projection's settle margin (a minute), as in an experiment at rest:
before it, every search re-reads the runs changed in the last minute of the fill from the table. Set
``--projection-min-runs`` above ``--runs`` for the full-read baseline of the same searches.

Then it times issue 18's two search targets, the web UI's default page (newest first, 100 runs) and a filtered page
(``metrics.acc > 0.5 and params.p1 = '3' and tags.team = 'a'``, ``metrics.loss ASC``, 100 runs): the first call of
each in the process, and the median of ``--page-repeat`` more (by handler time; its requests are that call's), with
the DynamoDB requests, their time (summed: requests made in parallel add up, so it can exceed the handler's), read
units and S3 GET requests (counted at the embedded moto server). Then the calls a user makes, each with the time
inside the handler (wall, of which waiting for DynamoDB Local, and CPU) and the DynamoDB requests and capacity units.

Then (unless ``--no-reference``), with the local stack stopped, the reference: a fresh SQLite database of MLflow's
``SqlAlchemyStore`` loaded by SQL (``benchmarks.reference_load``) with the same big experiment (its name, and each
run's name, start time, tags, params and latest metric values; with ``--points``, the latest value of each extra
metric but not its history, which these searches do not read), served by ``mlflow server``. The same two searches
are timed against it over HTTP, first call and median of ``--page-repeat``, as the client sees them (after one
unrelated call, since the server opens its store on the first request and the fill has warmed Stratus), next to
Stratus's calls timed the same way, and the run names of both servers' pages are compared.

At the defaults this takes an hour or more on 2 CPUs (~40 minutes before runs got the search shape's log-batch);
``--runs 3000 --points 0`` takes ~4 minutes, the reference included. Results: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import functools
import importlib.metadata
import itertools
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from benchmarks.aws_meter import MotoCounter
from benchmarks.dynamo_meter import DynamoMeter, Usage
from benchmarks.harness import Bench, MlflowHttp, Timing, describe, local_stack, metric, parallel
from benchmarks.reference import reference_server
from benchmarks.reference_load import DATABASE, ReferenceRun, create_database, load_runs
from benchmarks.tracking import common_shape, machine
from stratus.config import ENV_NAMES, Settings
from stratus.domain.services.projection import SETTLE_MARGIN_MS
from stratus_local.stack import LocalStack

BIG_EXPERIMENT = "scale-big"
SMALL_RUNS = 100
START_TIME = 1_700_000_000_000
"""Epoch ms at which the big experiment's run 0 starts; run ``i`` starts ``i`` ms later."""
SEARCH = {"filter": "metrics.metric_0 < 0.5 and attributes.status = 'RUNNING'", "order_by": ["metrics.metric_0 ASC"]}
PAGE = 100
DEFAULT_PAGE = {"order_by": ["attributes.start_time DESC"]}
"""The web UI's run table: no filter, newest first."""
FILTERED_PAGE = {
    "filter": "metrics.acc > 0.5 and params.p1 = '3' and tags.team = 'a'",
    "order_by": ["metrics.loss ASC"],
}
"""Issue 18's filtered target."""
TARGETS = (
    ("default page (newest first)", DEFAULT_PAGE),
    (f"filtered page: {FILTERED_PAGE['filter']}, loss ASC", FILTERED_PAGE),
)
TEAMS = "abc"
MIN_RUNS_ENV = ENV_NAMES["projection_min_runs"]
LOG_LEVEL_ENV = "POWERTOOLS_LOG_LEVEL"
POLL_S = 1.0


class Progress:
    """Prints how far a fill has come, about every 10%."""

    def __init__(self, what: str, total: int) -> None:
        self.what, self.total, self.done = what, total, 0
        self.started = time.perf_counter()
        self._next = max(1, total // 10)

    def step(self, count: int = 1) -> None:
        self.done += count  # GIL-atomic enough for a progress line
        if self.done >= self._next or self.done == self.total:
            self._next += max(1, self.total // 10)
            elapsed = time.perf_counter() - self.started
            print(f"    {self.what}: {self.done:,}/{self.total:,} in {elapsed:.0f} s ({self.done / elapsed:.0f}/s)")


# ---------------------------------------------------------------------------------------------------------- filling


def search_shape(i: int) -> tuple[dict[str, str], dict[str, str], list[dict[str, Any]]]:
    """Run ``i``'s tags, params and metrics in issue 18's shape (the same for the same ``i`` every time)."""
    tags = {"team": TEAMS[i % len(TEAMS)], "seed": str(i), "owner": f"user-{i % 11}"}
    params = {f"p{k}": str(i % modulus) for k, modulus in enumerate((5, 7, 11, 13, 17))}
    chance = random.Random(i)  # noqa: S311 - benchmark data, not cryptography
    metrics = [metric(key, chance.random(), 0) for key in ("acc", "loss", "m2", "m3")]
    return tags, params, metrics


def run_shape(i: int, shape: str) -> tuple[dict[str, str], dict[str, str], list[dict[str, Any]]]:
    """Run ``i``'s tags, params and metrics in ``shape``."""
    if shape == "tags":
        return {"team": f"team-{i % 17}", "seed": str(i)}, {}, []
    return search_shape(i)


def run_name(i: int) -> str:
    return f"run-{i}"


def point_batches(runs: int, points: int, history_points: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The log-batches of the metric points as (run index, start): the history run's (run 0, first step) and then the
    others' (runs 1.., steps from ``start * 100``), round-robin."""
    history = [(0, s) for s in range(0, min(history_points, points), 1_000)]
    rest = max(0, points - history_points) // 1_000
    return history, [(1 + i % (runs - 1), i // (runs - 1)) for i in range(rest)]


def batch_metrics(index: int, start: int) -> list[dict[str, Any]]:
    """The 1,000 points of one batch of :func:`point_batches`."""
    if index == 0:
        return [metric("loss", 1.0 / (s + 1), s) for s in range(start, start + 1_000)]
    return common_shape(start * 100)


def fill(  # noqa: PLR0913 - the fill's knobs, all from the command line
    http: MlflowHttp, big: str, small: str, runs: int, points: int, history_points: int, workers: int, shape: str
) -> dict[str, Any]:
    """Create the runs and metric points in the two experiments; returns the ids the timings use and fill figures."""
    started = time.perf_counter()
    progress = Progress("runs created" if shape == "tags" else "runs created and logged (2 requests each)", runs)

    def create(i: int) -> str:
        tags, params, metrics = run_shape(i, shape)
        body = {
            "experiment_id": big,
            "run_name": run_name(i),
            "start_time": START_TIME + i,
            "tags": [{"key": k, "value": v} for k, v in tags.items()],
        }
        run_id = str(http.call("POST", "/runs/create", body)["run"]["info"]["run_id"])
        if params or metrics:
            http.log_batch(run_id, metrics, params=params)
        progress.step()
        return run_id

    run_ids = parallel(create, range(runs), workers)
    runs_seconds = time.perf_counter() - started

    history_run = run_ids[0]
    history_batches, rest_batches = point_batches(runs, points, history_points)
    batches = history_batches + rest_batches
    progress = Progress("points logged", len(batches) * 1_000)

    def log(batch: tuple[int, int]) -> None:
        index, start = batch
        http.log_batch(run_ids[index], batch_metrics(index, start))
        progress.step(1_000)

    # the history run's batches go first, one at a time (they all rewrite the same run's latest values)
    for batch in history_batches:
        log(batch)
    parallel(log, batches[len(history_batches) :], workers)

    def small_run(i: int) -> None:
        run_id = http.create_run(small)
        http.log_batch(run_id, [metric(f"metric_{k}", (i + k) / (SMALL_RUNS + 10), 1) for k in range(10)])

    parallel(small_run, range(SMALL_RUNS), workers)
    return {
        "big": big,
        "small": small,
        "run_ids": run_ids,
        "history_run": history_run,
        "history_points": len(history_batches) * 1_000,
        "metric_runs": run_ids[1 : 1 + min(len(rest_batches), runs - 1)],
        "runs_seconds": runs_seconds,
        "fill_seconds": time.perf_counter() - started,
        "points": len(batches) * 1_000,
    }


# ------------------------------------------------------------------------------------------------------- projection


@dataclass(frozen=True)
class Manifest:
    """An experiment's search projection manifest, as the table holds it."""

    version: int
    watermark: int
    """Epoch ms: the projection holds every run change from before ``watermark - SETTLE_MARGIN_MS``."""
    runs: int


class ProjectionProbe:
    """Reads an experiment's search projection state straight from the table through the stack's DynamoDB endpoint:
    its manifest (``EXP#<id>`` / ``P#``) and its run change markers (``EXP#<id>`` / ``C#<epoch ms>#<run_id>``)."""

    def __init__(self, stack: LocalStack, experiment_id: str) -> None:
        if stack.template is None or stack.endpoints is None:
            raise RuntimeError("the stack is not started")
        self._table = next(t.name for t in stack.template.tables if t.logical_id == "StratusTable")
        self._client = boto3.session.Session().client("dynamodb", endpoint_url=stack.endpoints.dynamodb)
        self._pk = {"S": f"EXP#{experiment_id}"}

    def manifest(self) -> Manifest | None:
        item = self._client.get_item(
            TableName=self._table, Key={"pk": self._pk, "sk": {"S": "P#"}}, ConsistentRead=True
        ).get("Item")
        if item is None:
            return None
        return Manifest(int(item["version"]["N"]), int(item["watermark"]["N"]), int(item["runs"]["N"]))

    def last_change_ms(self) -> int | None:
        """When the experiment's newest change marker was put."""
        items = self._client.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :c)",
            ExpressionAttributeValues={":pk": self._pk, ":c": {"S": "C#"}},
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        ).get("Items", [])
        return int(items[0]["sk"]["S"][2:15]) if items else None

    def changed_runs(self, since_ms: int) -> int:
        """Runs with a change marker from ``since_ms`` on: the runs a search re-reads from the table."""
        found: set[str] = set()
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :from AND :to",
            "ExpressionAttributeValues": {
                ":pk": self._pk,
                ":from": {"S": f"C#{since_ms:013d}"},
                ":to": {"S": "C#\x7f"},
            },
            "ProjectionExpression": "sk",
            "ConsistentRead": True,
        }
        while True:
            page = self._client.query(**query)
            found.update(item["sk"]["S"].rsplit("#", 1)[1] for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return len(found)
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def wait_until_current(self, timeout_s: float) -> Manifest | None:
        """Poll until the projection exists and its watermark is at or after the newest change marker (it then holds
        every run as written, with the runs changed within the settle margin re-read by each search)."""
        deadline = time.monotonic() + timeout_s
        while True:
            manifest, last = self.manifest(), self.last_change_ms()
            if manifest is not None and last is not None and manifest.watermark >= last:
                return manifest
            if time.monotonic() >= deadline:
                return None
            time.sleep(POLL_S)


class ProjectionWatch:
    """Notes each new version of an experiment's projection manifest (polled every second on a thread of its own)
    with the seconds since the watch started."""

    def __init__(self, probe: ProjectionProbe) -> None:
        self.seen: list[tuple[float, Manifest]] = []
        self._probe = probe
        self._stop = threading.Event()
        self._started = time.perf_counter()
        self._thread = threading.Thread(target=self._watch, name="projection-watch", daemon=True)

    def __enter__(self) -> ProjectionWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(POLL_S):
            manifest = self._probe.manifest()
            if manifest is not None and (not self.seen or manifest.version != self.seen[-1][1].version):
                self.seen.append((time.perf_counter() - self._started, manifest))


def await_projection(
    probe: ProjectionProbe, watch: ProjectionWatch, fill_seconds: float, timeout_s: float
) -> Manifest | None:
    """Wait for the projection to hold the fill; print when it first appeared and when it caught up."""
    waited = time.perf_counter()
    manifest = probe.wait_until_current(timeout_s)
    if watch.seen:
        at, first = watch.seen[0]
        print(
            f"  first projection appeared {at:.0f} s into the fill ({at - fill_seconds:+.0f} s from its end): "
            f"version {first.version}, {first.runs:,} runs"
        )
    if manifest is None:
        print(f"  the projection did not catch up with the last run change within {timeout_s:.0f} s")
    else:
        print(
            f"  projection up to date {time.perf_counter() - waited:.0f} s after the fill: version {manifest.version}, "
            f"{manifest.runs:,} runs"
        )
    return manifest


def settle(probe: ProjectionProbe, timeout_s: float) -> Manifest | None:
    """Wait for the projector's settling pass (``ProjectionService.settle``), due once the fill's newest change marker
    is older than the settle margin: searches then re-read no run from the table, as at rest. Nothing is written."""
    due = (probe.last_change_ms() or 0) + SETTLE_MARGIN_MS
    pause_s = max(0.0, due / 1000 - time.time())
    margin_s = SETTLE_MARGIN_MS // 1000
    print(f"  settling: the projector's settling pass is due in {pause_s:.0f} s (the margin is {margin_s} s)")
    started = time.perf_counter()
    deadline = time.monotonic() + pause_s + timeout_s
    while True:
        manifest = probe.manifest()
        if manifest is not None and manifest.watermark >= due:
            print(f"  settled: version {manifest.version} {time.perf_counter() - started:.0f} s later")
            return manifest
        if time.monotonic() >= deadline:
            print(f"  no settling pass within {time.perf_counter() - started:.0f} s")
            return manifest
        time.sleep(POLL_S)


# ------------------------------------------------------------------------------------------------------- timing


@dataclass
class Sample:
    """One call: handler time, DynamoDB usage, S3 requests by billing class, the names of the runs returned, and the
    call's wall time as the client sees it."""

    timing: Timing
    usage: Usage
    s3: Counter[str]
    names: list[str]
    client_seconds: float

    @property
    def found(self) -> int:
        return len(self.names)


class Meters:
    """The clock, DynamoDB meter and S3 counter of one benchmark, read around one call at a time."""

    def __init__(self, bench: Bench, meter: DynamoMeter) -> None:
        self.bench, self.meter = bench, meter
        try:
            self.moto: MotoCounter | None = MotoCounter(bench.stack)
        except RuntimeError:  # S3 served elsewhere: not counted
            self.moto = None

    def s3_requests(self) -> Counter[str]:
        """S3 requests by billing class (GET, PUT) since the last call."""
        taken = self.moto.take() if self.moto else Counter()
        return Counter({operation: n for (service, operation), n in taken.items() if service == "s3"})

    def sample(self, call: Callable[[], list[str]]) -> Sample:
        self.meter.reset()
        self.bench.clock.take()
        self.s3_requests()
        started = time.perf_counter()
        names = call()
        client_seconds = time.perf_counter() - started
        return Sample(self.bench.clock.take(), self.meter.take(), self.s3_requests(), names, client_seconds)

    def wait_until_quiet(self, quiet_s: float = 2.0, timeout_s: float = 120.0) -> None:
        """Until no DynamoDB or S3 request for ``quiet_s``: the projector's last invocation (it deletes old versions
        after writing the manifest) must not be counted as a search's."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.meter.reset()
            self.s3_requests()
            time.sleep(quiet_s)
            if not self.meter.take().calls and not self.s3_requests():
                return


def page_search(http: MlflowHttp, experiment: str, query: dict[str, Any]) -> list[str]:
    """One page of a target search; the names of its runs, in order."""
    body = {"experiment_ids": [experiment], "max_results": PAGE, **query}
    return [run["info"]["run_name"] for run in http.call("POST", "/runs/search", body).get("runs", [])]


def measure_pages(meters: Meters, big: str, repeat: int) -> list[tuple[str, Sample, list[Sample]]]:
    """Each target search: its first call in this process, then ``repeat`` more."""
    http = meters.bench.http
    results = []
    for label, query in TARGETS:
        call = functools.partial(page_search, http, big, query)
        first = meters.sample(call)
        repeats = [meters.sample(call) for _ in range(repeat)]
        results.append((label, first, repeats))
    return results


def median_sample(samples: Sequence[Sample]) -> Sample:
    """The median by handler time (its usage is that call's)."""
    ordered = sorted(samples, key=lambda s: s.timing.seconds)
    return ordered[len(ordered) // 2]


def print_pages(results: list[tuple[str, Sample, list[Sample]]], repeat: int, s3_counted: bool) -> None:
    def cells(sample: Sample) -> str:
        s3 = f"{sample.s3['GET']}" if s3_counted else "n/a"
        dynamodb_ms = sample.usage.seconds * 1000
        return (
            f"{sample.timing.seconds * 1000:,.0f} | {dynamodb_ms:,.0f} | {sample.usage.operations_text()} | "
            f"{sample.usage.rcu:g} | {s3}"
        )

    print(
        f"| search (max_results {PAGE}) | runs returned | first: handler ms | DynamoDB ms, summed | DynamoDB requests "
        f"| RCU | S3 GETs | median of {repeat}: handler ms | DynamoDB ms, summed | DynamoDB requests | RCU | S3 GETs |"
    )
    print("| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |")
    for label, first, repeats in results:
        later = cells(median_sample(repeats)) if repeats else " | ".join(["n/a"] * 5)
        print(f"| {label} | {first.found:,} | {cells(first)} | {later} |")


def timed(
    bench: Bench, meter: DynamoMeter, label: str, call: Callable[[int], Any], repeat: int
) -> tuple[str, list[Timing], list[Usage]]:
    """Run ``call(i)`` ``repeat`` times; the handler time of each, and the DynamoDB usage of the last."""
    timings, usages = [], []
    for i in range(repeat):
        meter.reset()
        bench.clock.take()
        call(i)
        usages.append(meter.take())
        timings.append(bench.clock.take())
    return label, timings, usages


def search(http: MlflowHttp, experiment: str) -> int:
    body = {"experiment_ids": [experiment], "max_results": 1_000, **SEARCH}
    return len(http.call("POST", "/runs/search", body).get("runs", []))


def measure(bench: Bench, meter: DynamoMeter, ids: dict[str, Any], search_repeat: int) -> list[tuple[str, Any, Any]]:
    http = bench.http
    sample: Sequence[str] = ids["metric_runs"] or ids["run_ids"]
    cycle = itertools.cycle(sample)
    found: dict[str, int] = {}

    def search_big(_: int) -> None:
        found["big"] = search(http, ids["big"])

    def search_small(_: int) -> None:
        found["small"] = search(http, ids["small"])

    def history(_: int) -> None:
        found["history"] = http.metric_history(ids["history_run"], "loss")

    def log_batch(i: int) -> None:
        http.log_batch(next(cycle), [metric(f"extra_{k}", k / 100, 10_000 + i) for k in range(100)])

    results = [
        timed(bench, meter, "runs/get", lambda _: http.call("GET", "/runs/get", {"run_id": next(cycle)}), 20),
        timed(bench, meter, "search_runs in the small experiment (100 runs)", search_small, 10),
    ]
    if ids["history_points"]:
        pages = -(-ids["history_points"] // 25_000)
        label = f"get_metric_history, {ids['history_points']:,} points ({pages} pages)"
        results.append(timed(bench, meter, label, history, 3))
    label = f"search_runs in the big experiment ({len(ids['run_ids']):,} runs)"
    results.append(timed(bench, meter, label, search_big, search_repeat))
    # last: its change markers wake the projector, whose requests would otherwise count as the calls' after it
    results.insert(1, timed(bench, meter, "log-batch of 100 metrics (100 keys, 1 step)", log_batch, 20))
    history_found = f"; history returned {found['history']:,} points" if "history" in found else ""
    print(
        f"  (search found {found.get('big')} runs in the big experiment, {found.get('small')} in the small one"
        f"{history_found})"
    )
    return results


def print_calls(results: list[tuple[str, Any, Any]]) -> None:
    print(
        "| call | handler ms, median (min-max) | of which DynamoDB ms | handler CPU ms | DynamoDB requests (last call) "
        "| RCU | WCU |"
    )
    print("| --- | ---: | ---: | ---: | --- | ---: | ---: |")
    for label, timings, usages in results:
        if not usages:  # a call asked for 0 times (--search-repeat 0)
            continue
        usage = usages[-1]
        wall = [t.seconds * 1000 for t in timings]
        cpu = statistics.median(t.cpu_seconds * 1000 for t in timings)
        dynamodb = statistics.median(u.seconds * 1000 for u in usages)
        spread = f"{statistics.median(wall):,.0f} ({min(wall):,.0f}-{max(wall):,.0f})"
        print(
            f"| {label} (x{len(timings)}) | {spread} | {dynamodb:,.0f} | {cpu:,.0f} | {usage.operations_text()} | "
            f"{usage.rcu:g} | "
            f"{usage.wcu:g} |"
        )


# ------------------------------------------------------------------------------------------------------- reference


@dataclass(frozen=True)
class ClientCalls:
    """A target search's first call and ``--page-repeat`` more, by wall time as the client sees it (HTTP and JSON
    included), with the names of the runs its first call returned."""

    names: list[str]
    first_seconds: float
    repeat_seconds: list[float]

    @classmethod
    def of_samples(cls, first: Sample, repeats: Sequence[Sample]) -> ClientCalls:
        return cls(first.names, first.client_seconds, [sample.client_seconds for sample in repeats])

    def median_ms(self) -> str:
        return f"{statistics.median(self.repeat_seconds) * 1000:,.0f}" if self.repeat_seconds else "n/a"


def client_calls(call: Callable[[], list[str]], repeat: int) -> ClientCalls:
    def once() -> tuple[list[str], float]:
        started = time.perf_counter()
        names = call()
        return names, time.perf_counter() - started

    names, first = once()
    return ClientCalls(names, first, [once()[1] for _ in range(repeat)])


def last_points(runs: int, points: int, history_points: int) -> dict[int, list[dict[str, Any]]]:
    """By run index, the latest point of each metric key the fill's metric points gave the run (a run's later batches
    have later steps, and so do later points of a key within a batch)."""
    history, rest = point_batches(runs, points, history_points)
    last_start = dict(history + rest)
    return {
        index: list({point["key"]: point for point in batch_metrics(index, start)}.values())
        for index, start in last_start.items()
    }


def reference_runs(args: argparse.Namespace) -> Iterator[ReferenceRun]:
    """The big experiment's runs as the fill (and the settling tag) left them in Stratus."""
    extra = last_points(args.runs, args.points, args.history_points)
    for i in range(args.runs):
        tags, params, metrics = run_shape(i, args.shape)
        yield ReferenceRun(run_name(i), START_TIME + i, tags, params, [*metrics, *extra.get(i, [])])


def reference_pages(args: argparse.Namespace) -> list[ClientCalls]:
    """Load the reference's SQLite database, serve it with ``mlflow server`` and time the target searches."""
    with tempfile.TemporaryDirectory(prefix="stratus-local-scale-reference-") as temp:
        folder = Path(temp)
        started = time.perf_counter()
        experiment_id = create_database(folder, BIG_EXPERIMENT)
        loaded = load_runs(folder / DATABASE, experiment_id, reference_runs(args))
        print(f"  {loaded:,} runs loaded into SQLite by SQL in {time.perf_counter() - started:.0f} s")
        started = time.perf_counter()
        with reference_server(folder) as ready:
            http = MlflowHttp(ready())
            version = importlib.metadata.version("mlflow")
            print(f"  mlflow {version} server answering after {time.perf_counter() - started:.0f} s")
            # the server opens its store on its first request: not in the timings, as the fill has warmed Stratus
            http.call("GET", "/experiments/get-by-name", {"experiment_name": BIG_EXPERIMENT})
            return [
                client_calls(functools.partial(page_search, http, experiment_id, query), args.page_repeat)
                for _, query in TARGETS
            ]


def answer_text(stratus: ClientCalls, reference: ClientCalls) -> str:
    if stratus.names == reference.names:
        return f"yes ({len(stratus.names):,} runs)"
    differs = next(
        (i for i, (ours, theirs) in enumerate(zip(stratus.names, reference.names, strict=False)) if ours != theirs),
        min(len(stratus.names), len(reference.names)),
    )
    return f"NO ({len(stratus.names):,} vs {len(reference.names):,} runs; first difference at position {differs})"


def print_comparison(stratus: list[ClientCalls], reference: list[ClientCalls], runs: int, repeat: int) -> None:
    same = all(ours.names == theirs.names for ours, theirs in zip(stratus, reference, strict=True))
    print(f"same answers: {'yes' if same else 'NO'}")
    print(
        f"| search (max_results {PAGE}; client wall time over HTTP) | Stratus first ms | Stratus median of {repeat} ms "
        f"| reference first ms | reference median of {repeat} ms | runs | same answer |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for (label, _), ours, theirs in zip(TARGETS, stratus, reference, strict=True):
        print(
            f"| {label} | {ours.first_seconds * 1000:,.0f} | {ours.median_ms()} | {theirs.first_seconds * 1000:,.0f} "
            f"| {theirs.median_ms()} | {runs:,} | {answer_text(ours, theirs)} |"
        )


# ---------------------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.local_scale", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000, help="runs in the big experiment (default 100,000)")
    parser.add_argument("--points", type=int, default=2_000_000, help="metric points in all, 0 for none (2,000,000)")
    parser.add_argument("--history-points", type=int, default=100_000, help="points of the run whose history is read")
    parser.add_argument("--workers", type=int, default=8, help="HTTP threads filling the stack (default 8)")
    parser.add_argument("--search-repeat", type=int, default=3, help="searches of the big experiment (default 3)")
    parser.add_argument(
        "--shape", choices=("search", "tags"), default="search", help="the big experiment's runs (default search)"
    )
    parser.add_argument("--page-repeat", type=int, default=5, help="calls of each target search after the first (5)")
    parser.add_argument(
        "--projection-min-runs", type=int, help="runs an experiment needs for a projection (default: template.yaml's)"
    )
    parser.add_argument("--projection-wait", type=float, default=600, help="seconds to wait for the projection (600)")
    parser.add_argument(
        "--no-settle",
        dest="settle",
        action="store_false",
        help="time the searches as soon as the projection holds "
        "the fill (they then re-read the runs changed in its last minute)",
    )
    parser.add_argument(
        "--reference",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time the target searches against mlflow server (SQLite) loaded with the same runs (default on)",
    )
    return parser.parse_args(argv)


def prepare_projection(
    ids: dict[str, Any], probe: ProjectionProbe, watch: ProjectionWatch, args: argparse.Namespace
) -> None:
    """Wait for the big experiment's projection (if it is to have one) and report what searches will read."""
    min_runs = Settings.from_env().projection_min_runs
    if args.runs < min_runs:
        print(f"  no projection: {args.runs:,} runs, fewer than {min_runs:,}: searches read the experiment whole")
        if probe.manifest() is not None:
            print(f"  WARNING: the experiment has a projection all the same: {MIN_RUNS_ENV} did not take")
        return
    manifest = await_projection(probe, watch, ids["fill_seconds"], args.projection_wait)
    if manifest is not None and args.settle:
        manifest = settle(probe, args.projection_wait)
    if manifest is not None:
        changed = probe.changed_runs(manifest.watermark - SETTLE_MARGIN_MS)
        print(f"  searches read the projection's columns and re-read {changed:,} changed run(s) from the table")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"Machine: {machine()}")
    meter = DynamoMeter()
    meter.install()
    if args.projection_min_runs is not None:
        os.environ[MIN_RUNS_ENV] = str(args.projection_min_runs)  # stratus local takes it from the shell
    try:
        with local_stack() as bench:
            # the template's INFO would print a line per projector invocation between the progress lines
            os.environ[LOG_LEVEL_ENV] = "WARNING"
            print(describe(bench.stack))
            print(f"Filling: {args.runs:,} runs ({args.shape} shape), {args.points:,} points, {args.workers} threads")
            meters = Meters(bench, meter)
            big, small = bench.http.create_experiment(BIG_EXPERIMENT), bench.http.create_experiment("scale-small")
            probe = ProjectionProbe(bench.stack, big)
            with ProjectionWatch(probe) as watch:
                ids = fill(
                    bench.http, big, small, args.runs, args.points, args.history_points, args.workers, args.shape
                )
                print(
                    f"  filled in {ids['fill_seconds']:.0f} s ({args.runs:,} runs in {ids['runs_seconds']:.0f} s, "
                    f"{ids['points']:,} points)"
                )
                prepare_projection(ids, probe, watch, args)
            meters.wait_until_quiet()
            pages = measure_pages(meters, big, args.page_repeat)
            bench.clock.take()
            meter.reset()
            results = measure(bench, meter, ids, args.search_repeat)
    finally:
        meter.uninstall()
    print()
    print_pages(pages, args.page_repeat, meters.moto is not None)
    print()
    print_calls(results)
    if args.reference:
        print(f"\nReference: the big experiment's {args.runs:,} runs in mlflow server (SQLite)")
        reference = reference_pages(args)
        print()
        stratus = [ClientCalls.of_samples(first, repeats) for _, first, repeats in pages]
        print_comparison(stratus, reference, args.runs, args.page_repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
