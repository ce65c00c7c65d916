"""``stratus local`` at the scale of a real user: many runs in one experiment, millions of metric points.

    python -m benchmarks.local_scale [--runs 100000] [--points 2000000] [--workers 8] [--search-repeat 3]

Fills a fresh ephemeral local stack (DynamoDB Local) over HTTP with ``--workers`` threads: ``--runs`` runs in one big
experiment, and ``--points`` metric points: one run gets ``--history-points`` points of ``loss`` (the history read
below), the rest go 1,000 per log-batch (10 keys x 100 steps) to as many runs as they need. A small experiment of
100 runs sits beside it. Then it times the calls a user makes and prints, for each, the time inside the handler
(wall, of which waiting for DynamoDB Local, and CPU) and the DynamoDB requests and capacity units behind it.
At the defaults this takes ~40 minutes on 2 CPUs; results: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks.dynamo_meter import DynamoMeter, Usage
from benchmarks.harness import Bench, MlflowHttp, Timing, describe, local_stack, metric, parallel
from benchmarks.tracking import common_shape, machine

SMALL_RUNS = 100
SEARCH = {"filter": "metrics.metric_0 < 0.5 and attributes.status = 'RUNNING'", "order_by": ["metrics.metric_0 ASC"]}


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


def fill(http: MlflowHttp, runs: int, points: int, history_points: int, workers: int) -> dict[str, Any]:
    """Create the experiments, runs and metric points; returns the ids the timings use and fill figures."""
    started = time.perf_counter()
    big = http.create_experiment("scale-big")
    small = http.create_experiment("scale-small")
    progress = Progress("runs created", runs)

    def create(i: int) -> str:
        run_id = http.create_run(big, tags={"team": f"team-{i % 17}", "seed": str(i)})
        progress.step()
        return run_id

    run_ids = parallel(create, range(runs), workers)
    runs_seconds = time.perf_counter() - started

    history_run = run_ids[0]
    history_batches = [(history_run, s) for s in range(0, min(history_points, points), 1_000)]
    rest = max(0, points - history_points) // 1_000
    batches: list[tuple[str, int]] = history_batches + [
        (run_ids[1 + i % (runs - 1)], i // (runs - 1)) for i in range(rest)
    ]
    progress = Progress("points logged", len(batches) * 1_000)

    def log(batch: tuple[str, int]) -> None:
        run_id, start = batch
        if run_id == history_run:
            http.log_batch(run_id, [metric("loss", 1.0 / (s + 1), s) for s in range(start, start + 1_000)])
        else:
            http.log_batch(run_id, common_shape(start * 100))
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
        "metric_runs": run_ids[1 : 1 + min(rest, runs - 1)],
        "runs_seconds": runs_seconds,
        "fill_seconds": time.perf_counter() - started,
        "points": len(batches) * 1_000,
    }


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
        timed(bench, meter, "log-batch of 100 metrics (100 keys, 1 step)", log_batch, 20),
        timed(bench, meter, "search_runs in the small experiment (100 runs)", search_small, 10),
        timed(bench, meter, "get_metric_history, 100,000 points (4 pages)", history, 3),
        timed(
            bench, meter, f"search_runs in the big experiment ({len(ids['run_ids']):,} runs)", search_big, search_repeat
        ),
    ]
    print(
        f"  (search found {found.get('big')} runs in the big experiment, {found.get('small')} in the small one; "
        f"history returned {found.get('history'):,} points)"
    )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.local_scale", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000, help="runs in the big experiment (default 100,000)")
    parser.add_argument("--points", type=int, default=2_000_000, help="metric points in all (default 2,000,000)")
    parser.add_argument("--history-points", type=int, default=100_000, help="points of the run whose history is read")
    parser.add_argument("--workers", type=int, default=8, help="HTTP threads filling the stack (default 8)")
    parser.add_argument("--search-repeat", type=int, default=3, help="searches of the big experiment (default 3)")
    args = parser.parse_args(argv)
    print(f"Machine: {machine()}")
    meter = DynamoMeter()
    meter.install()
    try:
        with local_stack() as bench:
            print(describe(bench.stack))
            print(f"Filling: {args.runs:,} runs, {args.points:,} points, {args.workers} HTTP threads")
            ids = fill(bench.http, args.runs, args.points, args.history_points, args.workers)
            print(
                f"  filled in {ids['fill_seconds']:.0f} s ({args.runs:,} runs in {ids['runs_seconds']:.0f} s, "
                f"{ids['points']:,} points)"
            )
            bench.clock.take()
            meter.reset()
            results = measure(bench, meter, ids, args.search_repeat)
    finally:
        meter.uninstall()
    print()
    print(
        "| call | handler ms, median (min-max) | of which DynamoDB ms | handler CPU ms | DynamoDB requests (last call) "
        "| RCU | WCU |"
    )
    print("| --- | ---: | ---: | ---: | --- | ---: | ---: |")
    for label, timings, usages in results:
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
