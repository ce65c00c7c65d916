"""DynamoDB requests and capacity units per tracking call, then cold import and first-request times.

    python -m benchmarks.tracking [--skip-calls] [--skip-cold]

Part 1 runs each scenario through the real handler (``stratus local``: API Gateway emulation + the TrackingFunction
in this process + DynamoDB Local), counts every DynamoDB request with :mod:`benchmarks.dynamo_meter` and prints one
table. Part 2 (:mod:`benchmarks.cold_start`) times fresh interpreters importing each function's handler module.
Figures only: nothing fails on a target. Results and how to read them: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchmarks import cold_start
from benchmarks.dynamo_meter import DynamoMeter, Usage
from benchmarks.harness import Bench, MlflowHttp, Timing, describe, http_round_trip_ms, local_stack, metric, parallel
from stratus_local.server import GatewayRequestHandler

MAX_WRITE_REQUESTS = 40
"""Target: DynamoDB write requests for one log-batch of 1,000 metrics."""
MAX_WCU_PER_POINT = 1.2
"""Target: write units per metric point for one log-batch of 1,000 metrics."""
SEARCH_RUNS = 1_000
HISTORY_POINTS = 100_000


@dataclass
class Scenario:
    """One call, measured ``repeat`` times on state ``setup`` prepares (setup is not measured)."""

    label: str
    call: Callable[[Any], None]
    setup: Callable[[], Any] = lambda: None
    points: int = 0
    repeat: int = 5
    target: bool = False


@dataclass
class Measured:
    scenario: Scenario
    usages: list[Usage] = field(default_factory=list)
    timings: list[Timing] = field(default_factory=list)

    @property
    def invocations(self) -> int:
        return self.timings[-1].invocations if self.timings else 0

    def dynamodb_ms(self) -> float:
        return statistics.median(u.seconds for u in self.usages) * 1000

    def median_ms(self, cpu: bool = False) -> float:
        return statistics.median(t.cpu_seconds if cpu else t.seconds for t in self.timings) * 1000

    @property
    def usage(self) -> Usage:
        """The median repetition by request count (they normally all agree)."""
        ordered = sorted(self.usages, key=lambda u: (u.requests, u.wcu, u.rcu))
        return ordered[len(ordered) // 2]

    @property
    def varies(self) -> bool:
        return len({(u.requests, u.wcu, u.rcu) for u in self.usages}) > 1


# ---------------------------------------------------------------------------------------------------------- payloads


def common_shape(first_step: int) -> list[dict[str, Any]]:
    """1,000 metrics: 10 keys x 100 steps (a training loop flushing every 100 steps)."""
    return [
        metric(f"metric_{k}", 1.0 / (step + k + 1), step)
        for step in range(first_step, first_step + 100)
        for k in range(10)
    ]


def wide_shape(step: int) -> list[dict[str, Any]]:
    """1,000 metrics: 1,000 distinct keys at one step (per-layer statistics of a large model)."""
    return [metric(f"layer_{k:04d}/grad_norm", 0.5 + k / 10_000, step) for k in range(1_000)]


def params(count: int, prefix: str = "param") -> dict[str, str]:
    return {f"{prefix}_{i:03d}": f"value-{i}-0.0001" for i in range(count)}


# ---------------------------------------------------------------------------------------------------------- scenarios


def scenarios(http: MlflowHttp) -> list[Scenario]:
    """The calls of the brief, each with the state it needs."""
    exp = http.create_experiment("bench-calls")

    def run_with(metrics: list[dict[str, Any]] | None = None) -> Callable[[], str]:
        def setup() -> str:
            run_id = http.create_run(exp)
            if metrics:
                http.log_batch(run_id, metrics)
            return run_id

        return setup

    def rich_run() -> str:
        run_id = http.create_run(exp, tags={f"tag_{i}": f"tag value {i}" for i in range(10)})
        http.log_batch(run_id, [metric(f"m_{k}", k / 3, 10) for k in range(20)], params(50))
        return run_id

    rich = rich_run()
    search_exp = _search_experiment(http)
    history_run = _history_run(http, exp)

    return [
        Scenario(
            "a. log-batch 1,000 metrics (10 keys x 100 steps)",
            lambda run_id: http.log_batch(run_id, common_shape(100)),
            run_with(common_shape(0)),
            points=1_000,
            target=True,
        ),
        Scenario(
            "b. log-batch 1,000 metrics (1,000 keys x 1 step)",
            lambda run_id: http.log_batch(run_id, wide_shape(1)),
            run_with(wide_shape(0)),
            points=1_000,
            target=True,
        ),
        Scenario("c. log-batch 100 params", lambda run_id: http.log_batch(run_id, params=params(100)), run_with()),
        Scenario(
            "d. log-metric (1 point)",
            lambda run_id: http.call("POST", "/runs/log-metric", {"run_id": run_id, **metric("metric_0", 0.5, 200)}),
            run_with(common_shape(0)[:10]),
            points=1,
            repeat=10,
        ),
        Scenario("e. runs/create", lambda _: http.create_run(exp), repeat=10),
        Scenario(
            "f. runs/get (50 params, 20 metrics, 10 tags)",
            lambda _: http.call("GET", "/runs/get", {"run_id": rich}),
            repeat=10,
        ),
        Scenario(
            f"g. search_runs, {SEARCH_RUNS:,} runs, metric filter + order_by",
            lambda _: _search(http, search_exp),
            repeat=5,
        ),
        Scenario(
            f"h. get_metric_history, {HISTORY_POINTS:,} points, all pages",
            lambda _: _check(http.metric_history(history_run, "loss"), HISTORY_POINTS, "history points"),
            repeat=3,
        ),
    ]


def _search_experiment(http: MlflowHttp) -> str:
    exp = http.create_experiment("bench-search")

    def fill(i: int) -> None:
        run_id = http.create_run(exp, tags={"team": f"team-{i % 7}"})
        metrics = [metric("loss", 1.0 / (i + 1), 10), metric("accuracy", i / SEARCH_RUNS, 10)]
        http.log_batch(run_id, metrics, {"lr": str(0.001 * (i % 10)), "layers": str(i % 5)})

    parallel(fill, range(SEARCH_RUNS))
    return exp


def _search(http: MlflowHttp, exp: str) -> None:
    body = {
        "experiment_ids": [exp],
        "filter": "metrics.loss < 2 and params.layers != '9'",
        "order_by": ["metrics.loss ASC"],
        "max_results": SEARCH_RUNS,
    }
    _check(len(http.call("POST", "/runs/search", body).get("runs", [])), SEARCH_RUNS, "runs found")


def _history_run(http: MlflowHttp, exp: str) -> str:
    run_id = http.create_run(exp)
    for start in range(0, HISTORY_POINTS, 1_000):
        http.log_batch(run_id, [metric("loss", 1.0 / (s + 1), s) for s in range(start, start + 1_000)])
    return run_id


def _check(got: int, expected: int, what: str) -> None:
    if got != expected:
        raise RuntimeError(f"expected {expected} {what}, got {got}")


# ---------------------------------------------------------------------------------------------------------- running


def measure(bench: Bench, meter: DynamoMeter, scenario: Scenario) -> Measured:
    measured = Measured(scenario)
    for _ in range(scenario.repeat):
        state = scenario.setup()
        meter.reset()
        bench.clock.take()
        scenario.call(state)
        measured.usages.append(meter.take())
        measured.timings.append(bench.clock.take())
    return measured


def table(results: list[Measured]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| scenario | DynamoDB requests by operation | requests | WCU | WCU / point | RCU | handler ms "
        "| of which DynamoDB ms | handler CPU ms |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for result in results:
        usage, scenario = result.usage, result.scenario
        per_point = f"{usage.wcu / scenario.points:.3f}" if scenario.points else ""
        calls = f" ({result.invocations} HTTP calls)" if result.invocations > 1 else ""
        varies = " (varies)" if result.varies else ""
        lines.append(
            f"| {scenario.label}{calls} | {usage.operations_text()}{varies} | {usage.requests} | {usage.wcu:g} | "
            f"{per_point} | {usage.rcu:g} | {result.median_ms():.1f} | {result.dynamodb_ms():.1f} | "
            f"{result.median_ms(cpu=True):.1f} |"
        )
    return "\n".join(lines)


def targets(results: list[Measured]) -> list[str]:
    lines = []
    for result in results:
        if not result.scenario.target:
            continue
        usage = result.usage
        per_point = usage.wcu / result.scenario.points
        writes_ok = "met" if usage.write_requests <= MAX_WRITE_REQUESTS else "OVER"
        units_ok = "met" if per_point <= MAX_WCU_PER_POINT else "OVER"
        lines.append(
            f"{result.scenario.label}: {usage.write_requests} write requests (target <= {MAX_WRITE_REQUESTS}: "
            f"{writes_ok}), {per_point:.3f} WCU per point (target <= {MAX_WCU_PER_POINT}: {units_ok})"
        )
    return lines


def disagreements(results: list[Measured]) -> list[str]:
    """Where DynamoDB Local's ConsumedCapacity differs from the units computed from the payloads."""
    lines = []
    for result in results:
        usage = result.usage
        for what, computed, reported in (
            ("WCU", usage.wcu, usage.reported_wcu),
            ("RCU", usage.rcu, usage.reported_rcu),
        ):
            if reported is not None and abs(reported - computed) > 1e-9:
                lines.append(
                    f"{result.scenario.label}: {what} computed {computed:g}, DynamoDB Local reports {reported:g}"
                )
    return lines


def run_calls(bench: Bench, meter: DynamoMeter) -> None:
    print("Part 1: DynamoDB requests and capacity units per call (setting up state ...)", flush=True)
    results = []
    for scenario in scenarios(bench.http):
        print(f"  measuring {scenario.label} x{scenario.repeat}", flush=True)
        results.append(measure(bench, meter, scenario))
    print()
    print(table(results))
    print()
    print("Targets (log-batch of 1,000 metrics):")
    print("\n".join(f"  {line}" for line in targets(results)))
    print()
    print("ConsumedCapacity reported by DynamoDB Local, where it differs from AWS's billing rules:")
    print("\n".join(f"  {line}" for line in disagreements(results)) or "  none")
    print()


def machine() -> str:
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{platform.machine()}, {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {memory_gb:.1f} GiB, "
        f"Python {platform.python_version()} ({sys.executable})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tracking", description=__doc__.splitlines()[0])
    parser.add_argument("--skip-calls", action="store_true", help="skip part 1 (DynamoDB requests per call)")
    parser.add_argument("--skip-cold", action="store_true", help="skip part 2 (cold import and first request)")
    parser.add_argument("--imports", type=int, default=10, help="fresh interpreters per import median (default 10)")
    args = parser.parse_args(argv)
    print(f"Machine: {machine()}")
    meter = DynamoMeter()
    meter.install()
    try:
        with local_stack() as bench:
            print(describe(bench.stack))
            print()
            if not args.skip_calls:
                run_calls(bench, meter)
                shipped = "on" if GatewayRequestHandler.disable_nagle_algorithm else "off"
                print(f"stratus local's own HTTP overhead (GET /health round trip, median of 30; shipped: {shipped}):")
                for nodelay in (False, True):
                    ms = http_round_trip_ms(bench.stack.base_url, nodelay)
                    print(f"  TCP_NODELAY {'on ' if nodelay else 'off'}: {ms:.1f} ms")
                print()
            if not args.skip_cold:
                cold_start.run(bench, repeats=args.imports)
    finally:
        meter.uninstall()
    return 0


if __name__ == "__main__":
    sys.exit(main())
