"""Search time against experiment size: ``stratus local`` (search projections and run order items) and ``mlflow
server`` (SQLite), the same runs in both, the same two searches, in one run.

    python -m benchmarks.search_sizes [--sizes 1000 10000 30000 100000] [--repeat 5] [--workers 8] [--plot PATH]

For each size, a fresh ephemeral ``stratus local`` gets one experiment of N runs in issue 18's shape (5 params, 3 tags,
4 metrics; run ``run-<i>`` starting at a fixed time plus ``i`` ms, as ``benchmarks.local_scale`` makes them). The runs
are written through the tracking store's own ``insert_run`` (one transaction a run, 8 threads, the change marker and
run order item included), not over HTTP: the HTTP fill is ``benchmarks.local_scale``'s, and at ~30 runs a second it
cannot sweep sizes in reasonable time. The projector runs from the table's stream as usual; the benchmark waits out
the projection's settle margin and changes one run so that the projection is the one an experiment at rest has. Then
it times over HTTP, as a client sees them (handler time beside it), the web UI's default page (newest first, 100
runs) and the filtered page (``metrics.acc > 0.5 and params.p1 = '3' and tags.team = 'a'``, ``metrics.loss ASC``, 100
runs): the first call after the stack started and the median of ``--repeat`` more, with DynamoDB requests and read
units. Up to ``--full-read-up-to`` runs, it also times the filtered search reading the experiment whole (the path
before projections), in process. The reference gets the same runs by SQL (``benchmarks.reference_load``) and the same
two searches over HTTP; the answers' run names are compared. ``--plot`` draws the figures against size.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.dynamo_meter import DynamoMeter
from benchmarks.harness import Bench, MlflowHttp, local_stack, parallel
from benchmarks.local_scale import START_TIME, run_name, search_shape
from benchmarks.reference import reference_server
from benchmarks.reference_load import DATABASE, ReferenceRun, create_database, load_runs
from benchmarks.tracking import machine
from stratus.config import ENV_NAMES, Settings
from stratus.domain.entities import Metric, Run, RunInfo
from stratus.domain.services import ExperimentService, RunService
from stratus.store.dynamodb import DynamoTrackingStore, bind_table
from stratus.store.s3 import S3RunProjectionStore

PAGE = 100
DEFAULT_PAGE = {"max_results": PAGE, "order_by": ["attributes.start_time DESC"]}
FILTERED_PAGE = {
    "max_results": PAGE,
    "filter": "metrics.acc > 0.5 and params.p1 = '3' and tags.team = 'a'",
    "order_by": ["metrics.loss ASC"],
}
SEARCHES = {"default page": DEFAULT_PAGE, "filtered page": FILTERED_PAGE}
SETTLE_S = 62


def _run(experiment_id: str, i: int) -> Run:
    tags, params, metrics = search_shape(i)
    run_id = uuid.uuid4().hex
    info = RunInfo(
        run_id=run_id,
        experiment_id=experiment_id,
        run_name=run_name(i),
        user_id="bench",
        status="RUNNING",
        start_time=START_TIME + i,
        end_time=None,
        artifact_uri=f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts",
    )
    values = {m["key"]: Metric(m["key"], m["value"], m["timestamp"], m["step"]) for m in metrics}
    return Run(info=info, params=params, tags={**tags, "mlflow.runName": run_name(i)}, metrics=values)


def _reference_run(i: int) -> ReferenceRun:
    tags, params, metrics = search_shape(i)
    return ReferenceRun(name=run_name(i), start_time=START_TIME + i, tags=tags, params=params, metrics=metrics)


def _search(http: MlflowHttp, experiment_id: str, body: dict[str, Any]) -> list[str]:
    answer = http.call("POST", "/runs/search", {"experiment_ids": [experiment_id], **body})
    return [run["info"]["run_name"] for run in answer.get("runs", [])]


def _timed(call: Callable[[], Any], repeat: int, before: Callable[[], None] = lambda: None) -> dict[str, Any]:
    """The first call's ms, the median of ``repeat`` more, and the last answer."""
    started = time.perf_counter()
    answer = call()
    first = (time.perf_counter() - started) * 1000
    times = []
    for _ in range(repeat):
        before()
        started = time.perf_counter()
        answer = call()
        times.append((time.perf_counter() - started) * 1000)
    return {"first": first, "median": statistics.median(times) if times else first, "answer": answer}


def _wait_for_projection(experiment_id: str, bucket: str, newer_than: int, timeout_s: float = 900) -> int:
    """Until the experiment's projection has a version above ``newer_than``; returns that version."""
    projections = S3RunProjectionStore(bucket)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        manifest = projections.manifest(experiment_id)
        if manifest is not None and manifest.version > newer_than:
            return manifest.version
        time.sleep(1)
    raise RuntimeError(f"no projection of experiment {experiment_id} past version {newer_than} in {timeout_s:g} s")


def _stratus(size: int, repeat: int, workers: int, full_read_up_to: int, meter: DynamoMeter) -> dict[str, Any]:
    with local_stack() as bench:
        settings = Settings.from_env()
        bind_table(settings.table_name, settings.region)
        experiment_id = bench.http.create_experiment(f"search-{size}")
        store = DynamoTrackingStore()
        started = time.perf_counter()
        ids = parallel(lambda i: _insert(store, experiment_id, i), range(size), workers)
        loaded_s = time.perf_counter() - started
        print(f"  stratus local: {size:,} runs written in {loaded_s:.0f} s ({size / loaded_s:,.0f}/s)", flush=True)
        _wait_for_projection(experiment_id, settings.projection_bucket, 0)
        time.sleep(SETTLE_S)  # the load leaves the projection's settle margin
        version = _wait_for_projection(experiment_id, settings.projection_bucket, 0)  # the load's last projection
        tag = {"run_id": ids[0], "key": "benchmark.settled", "value": "yes"}
        bench.http.call("POST", "/runs/set-tag", tag)
        version = _wait_for_projection(experiment_id, settings.projection_bucket, version)
        time.sleep(2)  # the projector's last reads and deletes
        figures = _time_searches(bench, experiment_id, repeat, meter)
        figures["load s"] = loaded_s
        figures["projection version"] = version
        if size <= full_read_up_to:
            service = RunService(store, ExperimentService(store, settings.artifact_root))
            body = FILTERED_PAGE

            def full() -> list[str]:
                page, _ = service.search([experiment_id], body["filter"], None, PAGE, body["order_by"], None)
                return [run.info.run_name for run in page]

            figures["filtered page, full read"] = _timed(full, 1)
        return figures


def _insert(store: DynamoTrackingStore, experiment_id: str, i: int) -> str:
    run = _run(experiment_id, i)
    store.insert_run(run)
    return run.info.run_id


def _time_searches(bench: Bench, experiment_id: str, repeat: int, meter: DynamoMeter) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for label, body in SEARCHES.items():
        bench.clock.take()
        meter.reset()
        result = _timed(lambda body=body: _search(bench.http, experiment_id, body), repeat, meter.reset)
        usage = meter.take()
        result["handler median"] = bench.clock.take().seconds * 1000 / (repeat + 1)
        result["requests"] = usage.operations_text()
        result["rcu"] = usage.rcu
        figures[label] = result
    return figures


def _reference(size: int, repeat: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        experiment_id = create_database(Path(folder), f"search-{size}")
        started = time.perf_counter()
        load_runs(Path(folder) / DATABASE, experiment_id, (_reference_run(i) for i in range(size)))
        print(f"  mlflow server: {size:,} runs loaded by SQL in {time.perf_counter() - started:.0f} s")
        with reference_server(Path(folder)) as ready:
            http = MlflowHttp(ready())
            http.call("GET", "/experiments/get-by-name", {"experiment_name": f"search-{size}"})  # opens its store
            return {
                label: _timed(lambda b=body: _search(http, experiment_id, b), repeat)
                for label, body in SEARCHES.items()
            }


RESULT = "RESULT "


def _one_size(args: argparse.Namespace) -> int:
    os.environ[ENV_NAMES["projection_min_runs"]] = str(max(1, args.one_size // 2))  # every size gets a projection
    meter = DynamoMeter()
    meter.install()
    try:
        ours = _stratus(args.one_size, args.repeat, args.workers, args.full_read_up_to, meter)
    finally:
        meter.uninstall()
    theirs = _reference(args.one_size, args.repeat)
    print(RESULT + json.dumps({"stratus": ours, "reference": theirs}), flush=True)
    return 0


def _plot(rows: list[tuple[int, dict[str, Any], dict[str, Any]]], path: Path) -> None:
    import matplotlib  # noqa: PLC0415 - only when plotting

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    sizes = [size for size, _, _ in rows]
    figure, axes = plt.subplots(figsize=(8, 5))
    for label in SEARCHES:
        axes.plot(sizes, [ours[label]["median"] for _, ours, _ in rows], marker="o", label=f"Stratus, {label}")
        axes.plot(
            sizes,
            [theirs[label]["median"] for _, _, theirs in rows],
            marker="s",
            ls="--",
            label=f"mlflow server, {label}",
        )
    full = [
        (size, ours["filtered page, full read"]["first"])
        for size, ours, _ in rows
        if "filtered page, full read" in ours
    ]
    if full:
        axes.plot(*zip(*full, strict=True), marker="x", ls=":", label="Stratus before projections, filtered page")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("runs in the experiment")
    axes.set_ylabel("ms per search (median, over HTTP)")
    axes.set_title("Search time against experiment size (100-run pages)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    print(f"plot: {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.search_sizes", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 30_000, 100_000])
    parser.add_argument("--repeat", type=int, default=5, help="calls per median after the first (default 5)")
    parser.add_argument("--workers", type=int, default=8, help="threads writing runs (default 8)")
    parser.add_argument("--full-read-up-to", type=int, default=10_000, help="time the full read up to this size")
    parser.add_argument("--plot", type=Path, help="write a PNG of the medians against size")
    parser.add_argument("--one-size", type=int, help=argparse.SUPPRESS)  # a child's part: one size, JSON out
    args = parser.parse_args(argv)
    if args.one_size is not None:
        return _one_size(args)
    print(f"Machine: {machine()}")
    rows = []
    for size in args.sizes:
        # Each size in a process of its own: a fresh stack, and handlers that start cold (their clients are cached
        # per process, so a second stack in one process would reach the first one's endpoints).
        print(f"{size:,} runs")
        command = [
            sys.executable,
            "-m",
            "benchmarks.search_sizes",
            "--one-size",
            str(size),
            "--repeat",
            str(args.repeat),
        ]
        command += ["--workers", str(args.workers), "--full-read-up-to", str(args.full_read_up_to)]
        child = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - ourselves
        lines = child.stdout.splitlines()
        print("\n".join(line for line in lines if line.startswith("  ")))
        results = [json.loads(line[len(RESULT) :]) for line in lines if line.startswith(RESULT)]
        if child.returncode != 0 or not results:
            print(child.stdout[-3000:], child.stderr[-3000:])
            return 1
        rows.append((size, results[0]["stratus"], results[0]["reference"]))
    same = True
    print()
    print(
        "| runs | search | Stratus first ms | Stratus median ms | handler ms (mean) | DynamoDB requests (last call) "
        "| RCU (last call) | reference first ms | reference median ms | same answer |"
    )
    print("| ---: | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- |")
    for size, ours, theirs in rows:
        for label in SEARCHES:
            mine, ref = ours[label], theirs[label]
            agree = mine["answer"] == ref["answer"]
            same = same and agree
            print(
                f"| {size:,} | {label} | {mine['first']:,.0f} | {mine['median']:,.0f} | {mine['handler median']:,.0f} "
                f"| {mine['requests']} | {mine['rcu']:,.0f} | {ref['first']:,.0f} | {ref['median']:,.0f} "
                f"| {'yes' if agree else 'NO'} ({len(mine['answer'])} runs) |"
            )
        if "filtered page, full read" in ours:
            full = ours["filtered page, full read"]
            print(f"| {size:,} | filtered page, read whole (in process) | {full['first']:,.0f} | | | | | | | |")
    if args.plot:
        _plot(rows, args.plot)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
