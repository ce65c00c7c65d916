"""Load through ``stratus local`` with the stock MLflow client, then count every point back.

    python -m benchmarks.load [--points 100000] [--processes 4] [--threads 4] [--batch 250] [--singles 50]
                              [--fault-rate 0.0] [--seed 1] [--json figures.json]

``--processes`` client processes with ``--threads`` threads each; every thread has its own run and logs its share of
``--points`` metric points over 10 metric keys: its first ``--singles`` points one ``log_metric`` call each, the rest
``log_batch`` calls of ``--batch`` points. ``--fault-rate`` makes that fraction of the functions' DynamoDB calls fail
with ``ProvisionedThroughputExceededException`` as botocore raises it after its own retries, so the API answers 429
and the client retries (MLflow's default retries, 7 with backoff). At the end every metric of every run is read back
with ``MlflowClient.get_metric_history`` and compared with what was sent.

Prints points sent, client calls, requests the functions served (retries included), error answers by status,
retries, client calls that failed after their retries, points found, lost and duplicated, and wall time.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

KEYS = 10
BASE_TIMESTAMP = 1_700_000_000_000


@dataclass
class ThreadPlan:
    """What one client thread sends: ``points`` points to a run of its own."""

    process: int
    thread: int
    points: int
    batch: int
    singles: int

    def metrics(self) -> list[tuple[str, float, int, int]]:
        """(key, value, timestamp, step), all distinct: 10 keys, steps counting up."""
        return [
            (f"metric_{n % KEYS}", self.process * 1_000 + self.thread + n / 1e6, BASE_TIMESTAMP + n, n // KEYS)
            for n in range(self.points)
        ]


@dataclass
class ClientReport:
    """What a client process did: its runs (with the points of each), calls made and calls that failed."""

    runs: dict[str, list[tuple[str, float, int, int]]] = field(default_factory=dict)
    calls: int = 0
    log_calls: int = 0
    failed: list[str] = field(default_factory=list)


@dataclass
class LoadReport:
    points_sent: int
    client_calls: int
    client_log_calls: int
    failed_calls: list[str]
    requests: int
    log_requests: int
    answers: dict[int, int]
    points_found: int
    points_lost: int
    points_duplicated: int
    load_seconds: float
    check_seconds: float
    faults_injected: dict[str, int] = field(default_factory=dict)

    @property
    def retries(self) -> int:
        """Requests to log metrics beyond the client's calls: what the client's retries resent."""
        return self.log_requests - self.client_log_calls

    def lines(self) -> list[str]:
        errors = sum(n for status, n in self.answers.items() if status >= 400)
        return [
            f"points sent          {self.points_sent:>10,}",
            f"client calls         {self.client_calls:>10,}  (log-metric / log-batch: {self.client_log_calls:,})",
            f"requests served      {self.requests:>10,}  (log-metric / log-batch: {self.log_requests:,})",
            f"faults injected      {sum(self.faults_injected.values()):>10,}  {self.faults_injected}",
            f"error answers        {errors:>10,}  {dict(sorted(self.answers.items()))}",
            f"retries              {self.retries:>10,}",
            f"calls failed         {len(self.failed_calls):>10,}  {self.failed_calls[:3]}",
            f"points found         {self.points_found:>10,}",
            f"points lost          {self.points_lost:>10,}",
            f"points duplicated    {self.points_duplicated:>10,}",
            f"wall time            {self.load_seconds:>10.1f} s load "
            f"({self.points_sent / self.load_seconds:,.0f} points/s), {self.check_seconds:.1f} s count",
        ]


# -------------------------------------------------------------------- client processes


def _thread_work(client: Any, experiment_id: str, plan: ThreadPlan, report: ClientReport, lock: threading.Lock) -> None:
    from mlflow.entities import Metric  # noqa: PLC0415 - the client side only

    def call(what: str, fn: Callable[[], Any], log: bool = False) -> Any:
        with lock:
            report.calls += 1
            report.log_calls += int(log)
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - counted and reported, the load goes on
            with lock:
                report.failed.append(f"{what}: {str(exc)[:200]}")
            return None

    run = call("create_run", lambda: client.create_run(experiment_id))
    if run is None:
        return
    run_id = run.info.run_id
    points = plan.metrics()
    with lock:
        report.runs[run_id] = points
    for key, value, timestamp, step in points[: plan.singles]:
        call("log_metric", partial(client.log_metric, run_id, key, value, timestamp, step), log=True)
    rest = points[plan.singles :]
    for start in range(0, len(rest), plan.batch):
        batch = [Metric(k, v, t, s) for k, v, t, s in rest[start : start + plan.batch]]
        call("log_batch", partial(client.log_batch, run_id, metrics=batch), log=True)
    call("set_terminated", lambda: client.set_terminated(run_id))


def client_process(uri: str, experiment_id: str, plans: list[ThreadPlan], retries: int) -> ClientReport:
    """One client process: a stock ``MlflowClient`` shared by its threads, each logging to its own run."""
    os.environ["MLFLOW_TRACKING_URI"] = uri
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(retries)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow import MlflowClient  # noqa: PLC0415 - imported in the child, after its environment is set

    client = MlflowClient(uri)
    report, lock = ClientReport(), threading.Lock()
    with ThreadPoolExecutor(len(plans)) as pool:
        list(pool.map(lambda plan: _thread_work(client, experiment_id, plan, report, lock), plans))
    return report


# -------------------------------------------------------------------- the server side


class RequestCounter:
    """Counts the requests every function of a local stack serves, and their statuses."""

    LOG_PATHS = ("/runs/log-metric", "/runs/log-batch")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.log_requests = 0
        self.answers: Counter[int] = Counter()

    def wrap(self, stack: Any) -> None:
        def counting(handler: Any) -> Any:
            def counted(event: dict[str, Any], context: Any) -> Any:
                response = handler(event, context)
                is_log = str(event.get("rawPath", "")).endswith(self.LOG_PATHS)
                with self._lock:
                    self.requests += 1
                    self.log_requests += int(is_log)
                    self.answers[int(response.get("statusCode", 200))] += 1
                return response

            return counted

        for function in stack.functions.functions.values():
            function.wrap(counting)


@contextmanager
def throttled_dynamodb(rate: float, seed: int) -> Iterator[Counter[str]]:
    """Make ``rate`` of this process's DynamoDB calls fail with ProvisionedThroughputExceededException, as botocore
    raises it once its own retries are spent. Yields the count of injected faults per operation."""
    from botocore.client import BaseClient  # noqa: PLC0415 - only when faults are asked for
    from botocore.exceptions import ClientError  # noqa: PLC0415

    chance = random.Random(seed)  # noqa: S311 - fault injection, not cryptography
    injected: Counter[str] = Counter()
    lock = threading.Lock()
    original = BaseClient._make_api_call  # noqa: SLF001

    def faulty(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if client.meta.service_model.service_name == "dynamodb":
            with lock:
                fail = chance.random() < rate
                injected[operation] += int(fail)
            if fail:
                error = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "injected"}}
                raise ClientError(error, operation)  # type: ignore[arg-type]
        return original(client, operation, params)

    BaseClient._make_api_call = faulty  # type: ignore[method-assign] # noqa: SLF001
    try:
        yield injected
    finally:
        BaseClient._make_api_call = original  # type: ignore[method-assign] # noqa: SLF001


def plans_for(points: int, processes: int, threads: int, batch: int, singles: int) -> list[list[ThreadPlan]]:
    """Split ``points`` over the client threads (the first threads take the remainder)."""
    total = processes * threads
    share, extra = divmod(points, total)
    return [
        [ThreadPlan(p, t, share + int(p * threads + t < extra), batch, min(singles, share)) for t in range(threads)]
        for p in range(processes)
    ]


def count_back(uri: str, runs: dict[str, list[tuple[str, float, int, int]]]) -> tuple[int, int, int]:
    """Read every metric of every run with the stock client: (points found, lost, duplicated)."""
    from mlflow import MlflowClient  # noqa: PLC0415

    client = MlflowClient(uri)

    def one(item: tuple[str, list[tuple[str, float, int, int]]]) -> tuple[int, int, int]:
        run_id, sent = item
        found = lost = duplicated = 0
        for key in sorted({p[0] for p in sent}):
            history = client.get_metric_history(run_id, key)
            points = Counter((m.value, m.timestamp, m.step) for m in history)
            wanted = {(v, t, s) for k, v, t, s in sent if k == key}
            found += len(history)
            lost += len(wanted - set(points))
            duplicated += sum(n - 1 for n in points.values()) + len(set(points) - wanted)
        return found, lost, duplicated

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, runs.items()))
    return tuple(sum(column) for column in zip(*results, strict=True)) if results else (0, 0, 0)  # type: ignore[return-value]


def run_load(  # noqa: PLR0913 - the command's options
    uri: str,
    *,
    points: int,
    processes: int,
    threads: int,
    batch: int = 250,
    singles: int = 50,
    counter: RequestCounter | None = None,
    fault_rate: float = 0.0,
    seed: int = 1,
    client_retries: int = 7,
) -> LoadReport:
    """Send the load to ``uri`` from client processes, then count every point back."""
    from mlflow import MlflowClient  # noqa: PLC0415

    experiment_id = MlflowClient(uri).create_experiment(f"load {time.time_ns()}")
    plans = plans_for(points, processes, threads, batch, singles)
    before = (counter.requests, counter.log_requests, Counter(counter.answers)) if counter else (0, 0, Counter())
    faults: AbstractContextManager[Counter[str]] = (
        throttled_dynamodb(fault_rate, seed) if fault_rate > 0 else nullcontext(Counter())
    )
    started = time.perf_counter()
    with faults as injected, multiprocessing.get_context("spawn").Pool(processes) as pool:
        reports = pool.starmap(client_process, [(uri, experiment_id, p, client_retries) for p in plans])
    loaded = time.perf_counter()
    runs = {run_id: sent for r in reports for run_id, sent in r.runs.items()}
    found, lost, duplicated = count_back(uri, runs)
    answers = (counter.answers - before[2]) if counter else Counter()
    return LoadReport(
        points_sent=sum(len(sent) for sent in runs.values()),
        client_calls=sum(r.calls for r in reports),
        client_log_calls=sum(r.log_calls for r in reports),
        failed_calls=[f for r in reports for f in r.failed],
        requests=(counter.requests - before[0]) if counter else 0,
        log_requests=(counter.log_requests - before[1]) if counter else 0,
        answers=dict(answers),
        points_found=found,
        points_lost=lost,
        points_duplicated=duplicated,
        load_seconds=loaded - started,
        check_seconds=time.perf_counter() - loaded,
        faults_injected={operation: n for operation, n in injected.items() if n},
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--batch", type=int, default=250, help="points per log_batch (MLflow allows 1,000)")
    parser.add_argument("--singles", type=int, default=50, help="points per thread sent one log_metric each")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="fraction of DynamoDB calls throttled")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    from benchmarks.harness import describe, local_stack  # noqa: PLC0415 - starts DynamoDB Local

    with local_stack() as bench:
        print(describe(bench.stack))
        counter = RequestCounter()
        counter.wrap(bench.stack)
        print(
            f"load: {args.points:,} points, {args.processes} processes x {args.threads} threads, batches of "
            f"{args.batch}, {args.singles} single log_metric calls per thread, fault rate {args.fault_rate}"
        )
        report = run_load(
            bench.stack.base_url,
            points=args.points,
            processes=args.processes,
            threads=args.threads,
            batch=args.batch,
            singles=args.singles,
            counter=counter,
            fault_rate=args.fault_rate,
            seed=args.seed,
        )
    print("\n".join(report.lines()))
    if args.json:
        args.json.write_text(json.dumps({**asdict(report), "retries": report.retries}, indent=2))


if __name__ == "__main__":
    main()
