"""What the benchmarks share: a throw-away ``LocalStack``, a clock around the Lambda handler, an MLflow REST client."""

from __future__ import annotations

import io
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import requests

from stratus_local.server import GatewayRequestHandler
from stratus_local.stack import LocalStack

PROJECT_DIR = Path(__file__).resolve().parents[1]
API_PREFIX = "/api/2.0/mlflow"
T = TypeVar("T")
R = TypeVar("R")


class BenchmarkError(RuntimeError):
    """A request the benchmark relies on did not succeed."""


@dataclass
class Timing:
    """Handler time over a stretch of work: wall seconds, CPU seconds of the handler threads, invocations."""

    seconds: float = 0.0
    cpu_seconds: float = 0.0
    invocations: int = 0


class HandlerClock:
    """Adds up the time spent inside the Lambda handlers (what Lambda bills), excluding the local HTTP plumbing.

    CPU time (``time.thread_time`` of the handler's thread) is kept too: it leaves out waiting for DynamoDB and is
    less disturbed than wall time when other processes share the machine."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._timing = Timing()

    def wrap(self, stack: LocalStack) -> None:
        """Put the clock around every function's handler in ``stack``."""
        if stack.functions is None:
            raise RuntimeError("the stack is not started")

        def timing(handler: Any) -> Any:
            def timed(event: dict[str, Any], context: Any) -> Any:
                started, started_cpu = time.perf_counter(), time.thread_time()
                try:
                    return handler(event, context)
                finally:
                    self._add(time.perf_counter() - started, time.thread_time() - started_cpu)

            return timed

        for function in stack.functions.functions.values():
            function.wrap(timing)

    def _add(self, seconds: float, cpu_seconds: float) -> None:
        with self._lock:
            self._timing.seconds += seconds
            self._timing.cpu_seconds += cpu_seconds
            self._timing.invocations += 1

    def take(self) -> Timing:
        """The handler time since the last take."""
        with self._lock:
            taken, self._timing = self._timing, Timing()
        return taken


class MlflowHttp:
    """The MLflow REST calls the benchmarks make, over HTTP, one ``requests.Session`` per thread."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._local = threading.local()

    @property
    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session  # type: ignore[no-any-return]

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """``method`` ``/api/2.0/mlflow<path>``; GET sends ``body`` as the query string."""
        url = f"{self.base_url}{API_PREFIX}{path}" if not path.startswith("/health") else f"{self.base_url}{path}"
        if method == "GET":
            response = self._session.get(url, params=body, timeout=600)
        else:
            response = self._session.post(url, json=body or {}, timeout=600)
        if response.status_code != 200:
            raise BenchmarkError(f"{method} {path}: HTTP {response.status_code}: {response.text[:500]}")
        return response.json() if response.headers.get("content-type", "").startswith("application/json") else {}

    def create_experiment(self, name: str) -> str:
        return str(self.call("POST", "/experiments/create", {"name": name})["experiment_id"])

    def create_run(self, experiment_id: str, tags: dict[str, str] | None = None) -> str:
        body: dict[str, Any] = {"experiment_id": experiment_id, "start_time": int(time.time() * 1000)}
        if tags:
            body["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
        return str(self.call("POST", "/runs/create", body)["run"]["info"]["run_id"])

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[dict[str, Any]] = (),
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        body: dict[str, Any] = {"run_id": run_id, "metrics": list(metrics)}
        body["params"] = [{"key": k, "value": v} for k, v in (params or {}).items()]
        body["tags"] = [{"key": k, "value": v} for k, v in (tags or {}).items()]
        self.call("POST", "/runs/log-batch", body)

    def metric_history(self, run_id: str, key: str, page_size: int = 25_000) -> int:
        """Every page of a metric's history, as the stock client reads it (25,000 per page); returns the count."""
        count, token = 0, None
        while True:
            query: dict[str, Any] = {"run_id": run_id, "metric_key": key, "max_results": page_size}
            if token:
                query["page_token"] = token
            page = self.call("GET", "/metrics/get-history", query)
            count += len(page.get("metrics", []))
            token = page.get("next_page_token")
            if not token:
                return count


def metric(key: str, value: float, step: int, timestamp: int | None = None) -> dict[str, Any]:
    """One metric as log-batch carries it."""
    return {"key": key, "value": value, "timestamp": timestamp or 1_700_000_000_000 + step, "step": step}


def parallel(work: Callable[[T], R], items: Iterable[T], workers: int = 8) -> list[R]:
    """``work`` over ``items`` on ``workers`` threads, results in order."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(work, items))


def median_ms(seconds: Iterable[float]) -> float:
    return statistics.median(seconds) * 1000


@dataclass
class Bench:
    """A running local stack with its clock and client."""

    stack: LocalStack
    clock: HandlerClock
    http: MlflowHttp


@contextmanager
def local_stack() -> Iterator[Bench]:
    """A fresh ephemeral ``stratus local`` (DynamoDB Local + moto S3), quiet, with the handler clock installed."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    log = io.StringIO()
    stack = LocalStack(PROJECT_DIR, ephemeral=True, port=0, log=log, log_requests=False)
    try:
        stack.start()
        clock = HandlerClock()
        clock.wrap(stack)
        yield Bench(stack, clock, MlflowHttp(stack.base_url))
    finally:
        stack.stop()
        problems = [line for line in log.getvalue().splitlines() if "Error" in line or "WARNING" in line]
        if problems:
            print("\n".join(["stratus local reported:", *problems[:40]]))


def http_round_trip_ms(base_url: str, nodelay: bool, calls: int = 30) -> float:
    """Median round trip of ``GET /health`` on a new connection with TCP_NODELAY on or off (the handler takes
    well under a millisecond, so this is the local server's own overhead)."""
    saved = GatewayRequestHandler.disable_nagle_algorithm
    GatewayRequestHandler.disable_nagle_algorithm = nodelay
    try:
        with requests.Session() as session:
            times = []
            for _ in range(calls):
                started = time.perf_counter()
                session.get(f"{base_url}/health", timeout=60).raise_for_status()
                times.append(time.perf_counter() - started)
    finally:
        GatewayRequestHandler.disable_nagle_algorithm = saved
    return median_ms(times)


def describe(stack: LocalStack) -> str:
    """One line: which DynamoDB the stack runs and how long it took to start."""
    kind = stack.endpoints.dynamodb_kind if stack.endpoints else "?"
    return f"stratus local: DynamoDB is {kind}, started in {stack.startup_seconds:.1f} s"
