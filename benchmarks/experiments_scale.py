"""``experiments/search`` with many experiments: ``stratus local`` against ``mlflow server`` (SQLite), same experiments,
same calls, in one run.

    python -m benchmarks.experiments_scale [--experiments 10000] [--workers 8] [--repeat 5]

Creates ``--experiments`` experiments in both servers over HTTP (every third with a tag, every tenth renamed, every
twentieth deleted), then times the web UI's experiment list (25 newest by update, without gateway experiments), its
second page, the SDK's default listing (``search_experiments()``: 1,000 newest by creation) and an order the store
does not keep (by name). For each: the first call and the median of ``--repeat`` more, as the client sees them (HTTP
included), and for Stratus the DynamoDB requests and read units of the last call. Results: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.dynamo_meter import DynamoMeter, Usage
from benchmarks.harness import MlflowHttp, describe, local_stack, parallel
from benchmarks.reference import reference_server
from benchmarks.tracking import machine

UI_LIST = {
    "max_results": 25,
    "order_by": ["last_update_time DESC"],
    "filter": "tags.`mlflow.experiment.isGateway` IS NULL",
}
SEARCHES: dict[str, dict[str, Any]] = {
    "web UI list (25 newest by update)": UI_LIST,
    "web UI list, pages 1 and 2": {**UI_LIST, "page": 2},
    "search_experiments() (1,000 newest by creation)": {"max_results": 1000},
    "order by name (25): read whole": {"max_results": 25, "order_by": ["name ASC"]},
}


def fill(http: MlflowHttp, count: int, workers: int) -> float:
    started = time.perf_counter()

    def create(i: int) -> None:
        experiment_id = http.create_experiment(f"scale-{i:06d}")
        if i % 3 == 0:
            tag = {"experiment_id": experiment_id, "key": "team", "value": "a"}
            http.call("POST", "/experiments/set-experiment-tag", tag)
        if i % 10 == 0:
            http.call("POST", "/experiments/update", {"experiment_id": experiment_id, "new_name": f"renamed-{i:06d}"})
        if i % 20 == 0:
            http.call("POST", "/experiments/delete", {"experiment_id": experiment_id})

    parallel(create, range(count), workers)
    return time.perf_counter() - started


def search(http: MlflowHttp, body: dict[str, Any]) -> list[str]:
    body = dict(body)
    pages = body.pop("page", 1)
    token = None
    answer: dict[str, Any] = {}
    for _ in range(pages):
        answer = http.call("POST", "/experiments/search", {**body, **({"page_token": token} if token else {})})
        token = answer.get("next_page_token")
    return [e["name"] for e in answer.get("experiments", [])]


def timed(call: Callable[[], Any], meter: DynamoMeter | None, repeat: int) -> tuple[float, float, Usage | None, Any]:
    """First call's ms, median ms of ``repeat`` more, the last call's DynamoDB usage, and the last answer."""
    started = time.perf_counter()
    answer = call()
    first = (time.perf_counter() - started) * 1000
    times = []
    usage = None
    for _ in range(repeat):
        if meter is not None:
            meter.reset()
        started = time.perf_counter()
        answer = call()
        times.append((time.perf_counter() - started) * 1000)
        if meter is not None:
            usage = meter.take()
    return first, statistics.median(times), usage, answer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.experiments_scale", description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=10_000, help="experiments in each server (default 10,000)")
    parser.add_argument("--workers", type=int, default=8, help="HTTP threads filling each server (default 8)")
    parser.add_argument("--repeat", type=int, default=5, help="calls per median after the first (default 5)")
    args = parser.parse_args(argv)
    print(f"Machine: {machine()}")
    meter = DynamoMeter()
    meter.install()
    rows = []
    try:
        with tempfile.TemporaryDirectory() as folder, reference_server(Path(folder)) as ready, local_stack() as bench:
            print(describe(bench.stack))
            reference = MlflowHttp(ready())
            for name, http in (("stratus local", bench.http), ("mlflow server", reference)):
                seconds = fill(http, args.experiments, args.workers)
                print(f"  {name}: {args.experiments:,} experiments in {seconds:.0f} s")
            time.sleep(2)  # let stream consumers settle: their reads must not count as a search's
            for label, body in SEARCHES.items():
                ours = timed(lambda body=body: search(bench.http, body), meter, args.repeat)
                theirs = timed(lambda body=body: search(reference, body), None, args.repeat)
                # Times differ between the servers (each stamps its own), so only the order by name can match in full
                same = ours[3] == theirs[3] if "name" in label else len(ours[3]) == len(theirs[3])
                rows.append((label, ours, theirs, same))
    finally:
        meter.uninstall()
    print()
    print(
        "| search | Stratus first ms | Stratus median ms | DynamoDB requests | RCU | reference first ms "
        "| reference median ms | same answer (by name: in full; otherwise: as many) |"
    )
    print("| --- | ---: | ---: | --- | ---: | ---: | ---: | --- |")
    for label, ours, theirs, same in rows:
        usage = ours[2]
        requests_text = usage.operations_text() if usage else ""
        rcu = f"{usage.rcu:g}" if usage else ""
        print(
            f"| {label} | {ours[0]:,.0f} | {ours[1]:,.0f} | {requests_text} | {rcu} | {theirs[0]:,.0f} | "
            f"{theirs[1]:,.0f} | {'yes' if same else 'NO'} |"
        )
    return 0 if all(row[3] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
