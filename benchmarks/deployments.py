"""Model deployments on ``stratus local``: what the endpoint adds to the model's own ``predict``, and how soon an
alias move reaches the traffic.

    python -m benchmarks.deployments [--quick] [--requests N] [--warmup N] [--moves N] [--json FILE]

Starts its own throw-away ``stratus local`` in this process (``benchmarks.harness.local_stack``) and, beside it,
``mlflow models serve`` on the same model. The model is a logistic regression on iris (4 features), saved to a folder
for ``mlflow models serve`` and logged and registered, from the same fitted estimator, with the stock client; alias
``champion`` points at it and ``get_deploy_client("stratus").create_deployment`` deploys ``models:/<model>@champion``.

Part 1, warm, for a 2-row and a 100-row ``dataframe_split`` JSON request: median and p95 over ``--requests`` calls
(200; 30 with ``--quick``) of

* (a) ``model.predict(df)`` on the pyfunc model;
* (b) MLflow's scoring code alone, ``stratus_serving.scoring.Scorer.answer`` (parse the JSON, check the schema,
  predict, write the answer): (a) and (b) run in a process of their own that loads the model once, as a worker holds
  it (serving/ is not on this process's path, and the stack's threads here would share its GIL);
* (b') the Lambda hop alone: ``Invoke`` of the deployment's ``live`` alias with boto3, which is what
  DeploymentsFunction calls (the local Lambda API, then the worker process, both over loopback HTTP);
* (c) the deployment's ``endpoint_url`` over HTTP: API Gateway emulation, DeploymentsFunction, Lambda, worker;
* (d) ``mlflow models serve`` on the same model over HTTP, the reference.

(b'), (c) and (d) take turns request by request, so the machine's load falls on all three alike. What each endpoint
request costs is counted inside DeploymentsFunction's handler only, by botocore hooks (``benchmarks.aws_meter``,
``benchmarks.dynamo_meter``): its AWS requests by operation, DynamoDB read units, and the handler's time. Beside them,
a fresh interpreter importing the scoring code and loading the model: most of what a worker's start costs.

Part 2: two threads score the 2-row request without pause while the alias moves ``--moves`` times (3; 1 with
``--quick``), each time to a version registered beforehand. For each move: the time from
``set_registered_model_alias`` returning to the first answer from the new version (``x-stratus-model-version``), to
the last answer from the old one, and to ``get_deployment`` reporting the new version; the failed requests (there
must be none); the traffic's latency meanwhile; and the functions that ran in between (the rollout's event chain,
with the rollout's slow AWS requests: the smoke test's Invoke starts the new worker). Then the time to READY of a new
deployment: ``create_deployment`` from its start to its return (the plugin polls, 2 s then 1.5x), and to the first
200 from its endpoint (polled every 0.1 s), for the stack's first deployment (functions cold) and for a second one.

Figures only, except that a request failed during a move, or a move the traffic never saw, exits 1. Times depend on
the machine's load: compare the rows of one run side by side. Results: docs/benchmarks.md#deployments.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import boto3
import mlflow
import pandas as pd
import requests
from mlflow.deployments import get_deploy_client
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from benchmarks.aws_meter import AwsMeter
from benchmarks.dynamo_meter import DynamoMeter
from benchmarks.harness import PROJECT_DIR, describe, local_stack
from benchmarks.reference import mlflow_command, stop_process_group, wait_healthy
from benchmarks.tracking import machine
from stratus.config import Settings
from stratus.domain.deployments import LIVE_ALIAS, scoring_event
from stratus_local.backends import port_for_child
from stratus_local.stack import LocalStack

MODEL = "bench-iris"
ALIAS = "champion"
DEPLOYMENT = "bench-iris"
SECOND_DEPLOYMENT = "bench-iris-second"
ROW_COUNTS = (2, 100)
REQUESTS, QUICK_REQUESTS = 200, 30
MOVES, QUICK_MOVES = 3, 1
WARMUP = 10
POLLERS = 2
"""Threads scoring the deployment while its alias moves."""
SETTLE_S = 1.0
"""Traffic before and after each move."""
MOVE_TIMEOUT_S = 180.0
STATE_POLL_S = 0.25
READY_POLL_S = 0.1
SERVE_STARTUP_S = 180.0
SCORING_FUNCTION = "DeploymentsFunction"
"""The function behind ``/api/2.0/stratus/deployments/<name>/invocations`` (template.yaml)."""
ROLLOUTS_FUNCTION = "DeploymentRolloutsFunction"
SLOW_CALL_S = 0.05
"""A rollout's AWS requests at least this long are listed."""
SERVING_DIR = PROJECT_DIR / "serving"
VERSION_HEADER = "x-stratus-model-version"
LOAD_MODEL = "import sys; from stratus_serving.scoring import Lineage, Scorer; Scorer.load(Lineage(sys.argv[1]))"
CAVEAT = (
    "Times depend on the load of this machine (2 CPUs shared with other jobs): compare side by side in one run; "
    "request counts are exact."
)


# ------------------------------------------------------------------------------------------------------- the model


def iris() -> tuple[pd.DataFrame, pd.Series]:
    data = load_iris(as_frame=True)
    return data.data.rename(columns=lambda c: c.removesuffix(" (cm)").replace(" ", "_")), data.target


def frames() -> dict[int, pd.DataFrame]:
    """The request's rows for each size: the first 2 and the first 100 iris flowers."""
    features, _ = iris()
    return {rows: features.head(rows) for rows in ROW_COUNTS}


def request_body(frame: pd.DataFrame) -> bytes:
    return json.dumps({"dataframe_split": frame.to_dict(orient="split", index=False)}).encode()


def fit() -> tuple[LogisticRegression, Any]:
    """The estimator and its signature."""
    features, target = iris()
    model = LogisticRegression(max_iter=500).fit(features, target)
    return model, infer_signature(features, model.predict(features))


def model_files() -> dict[str, Any]:
    """How the model is saved and logged: with its signature and an input example (the rollout's smoke test sends
    it), and scikit-learn's default requirements, which spares the requirement inference (a subprocess that loads the
    model: ~10 s per model on a busy machine; stratus local builds no environment from them anyway)."""
    return {"input_example": iris()[0].head(2), "pip_requirements": mlflow.sklearn.get_default_pip_requirements()}


def log_version(model: LogisticRegression, signature: Any) -> str:
    """Log and register the estimator (a new version of :data:`MODEL`); its version."""
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model, name="model", signature=signature, registered_model_name=MODEL, **model_files()
        )
    return str(info.registered_model_version)


# ------------------------------------------------------------------------------------------------------- figures


@dataclass(frozen=True)
class Latency:
    median_ms: float
    p95_ms: float
    count: int

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latency:
        ms = sorted(s * 1000 for s in seconds)
        p95 = statistics.quantiles(ms, n=20, method="inclusive")[18] if len(ms) > 1 else ms[0]
        return cls(statistics.median(ms), p95, len(ms))


def _timed(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


# ---------------------------------------------------------------------------------------- (a) and (b), in a process


def in_process(model_dir: str, requests_per_size: int, warmup: int) -> dict[str, Any]:
    """(a) and (b) in this process, on the model in ``model_dir``; run with serving/ on ``PYTHONPATH``."""
    from stratus_serving.scoring import Lineage, Scorer  # noqa: PLC0415 - serving/ is on the child's path only

    scorer = Scorer.load(Lineage(model_dir))
    sample = {rows: (frame, request_body(frame)) for rows, frame in frames().items()}
    seconds: dict[str, dict[int, list[float]]] = {"predict": {}, "scorer": {}}
    for rows, (frame, body) in sample.items():
        predict, answer = seconds["predict"].setdefault(rows, []), seconds["scorer"].setdefault(rows, [])
        for i in range(warmup + requests_per_size):
            took_predict = _timed(lambda f=frame: scorer.model.predict(f))
            took_answer = _timed(lambda b=body: scorer.answer("POST", "/invocations", "application/json", b))
            if i >= warmup:
                predict.append(took_predict)
                answer.append(took_answer)
    return seconds


def _serving_python(arguments: list[str]) -> str:
    """Run this interpreter with serving/ on its path, as the local Lambda starts a worker; its stdout."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SERVING_DIR), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(  # noqa: S603 - our interpreter, our code
        [sys.executable, *arguments], cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{arguments[:2]} failed: {done.stderr[-3000:]}")
    return done.stdout


def in_child_process(model_dir: Path, requests_per_size: int, warmup: int) -> dict[str, dict[int, list[float]]]:
    """:func:`in_process` in a fresh interpreter (JSON turns the row counts into strings)."""
    out = _serving_python(["-m", "benchmarks.deployments", "--in-process", str(model_dir),
                           "--requests", str(requests_per_size), "--warmup", str(warmup)])  # fmt: skip
    measured = json.loads(out.strip().splitlines()[-1])
    return {key: {int(rows): s for rows, s in by_rows.items()} for key, by_rows in measured.items()}


def cold_load_seconds(model_dir: Path) -> float:
    """A fresh interpreter that imports the scoring code and loads the model from a folder: most of a worker's
    start (it also downloads the model from S3 and opens its port)."""
    started = time.perf_counter()
    _serving_python(["-c", LOAD_MODEL, str(model_dir)])
    return time.perf_counter() - started


# ------------------------------------------------------------------------------------------------------- meters


@dataclass(frozen=True)
class AwsCall:
    """One AWS request made inside a watched function's handler."""

    function: str
    operation: str
    """``service:Operation``"""
    ended: float
    seconds: float


class FunctionAws(AwsMeter):
    """:class:`AwsMeter` for the AWS requests made inside the handlers of the functions it watches only: each request
    with its function and time, and each invocation's wall time and the time of its AWS requests."""

    def __init__(self) -> None:
        super().__init__()
        self._record_lock = threading.Lock()
        self._calls: list[AwsCall] = []
        self._invocations: list[tuple[str, float, float]] = []

    @property
    def function(self) -> str | None:
        """The watched function whose handler runs on this thread, if one does."""
        return getattr(self._local, "function", None)

    def _counted(self) -> bool:
        return self.function is not None

    def watch(self, stack: LocalStack, function_id: str) -> None:
        if stack.functions is None:
            raise RuntimeError("the stack is not started")
        function = stack.functions.functions[function_id]

        def measuring(handler: Any) -> Any:
            def measured(event: Any, context: Any) -> Any:
                aws_before, started = self.thread_aws_seconds(), time.perf_counter()
                self._local.function = function_id
                try:
                    return handler(event, context)
                finally:
                    self._local.function = None
                    wall = time.perf_counter() - started
                    with self._record_lock:
                        self._invocations.append((function_id, wall, self.thread_aws_seconds() - aws_before))

            return measured

        function.wrap(measuring)

    def _after(self, **kwargs: Any) -> None:  # type: ignore[override]
        before = self.thread_aws_seconds()
        super()._after(**kwargs)
        function = self.function
        if function is not None:
            model = kwargs["model"]
            operation = f"{model.service_model.service_name}:{model.name}"
            call = AwsCall(function, operation, time.perf_counter(), self.thread_aws_seconds() - before)
            with self._record_lock:
                self._calls.append(call)

    def calls(self, function: str, start: float = 0.0, end: float = float("inf")) -> list[AwsCall]:
        """``function``'s requests that ended in [start, end]."""
        with self._record_lock:
            return [c for c in self._calls if c.function == function and start <= c.ended <= end]

    def take_invocations(self, function: str) -> list[tuple[float, float]]:
        """(wall, AWS) seconds of each invocation of ``function`` since the last take."""
        with self._record_lock:
            taken = [(wall, aws) for f, wall, aws in self._invocations if f == function]
            self._invocations = [i for i in self._invocations if i[0] != function]
        return taken


class FunctionDynamo(DynamoMeter):
    """:class:`DynamoMeter` for the DynamoDB requests made inside one function's handler (as ``aws`` sees it)."""

    def __init__(self, aws: FunctionAws, function: str) -> None:
        super().__init__()
        self._aws, self._function = aws, function

    def _after(self, **kwargs: Any) -> None:  # type: ignore[override]
        if self._aws.function == self._function:
            super()._after(**kwargs)


class Timeline:
    """When each function's handler ran: a rollout's event chain, from the table's stream to the alias switch."""

    def __init__(self, stack: LocalStack) -> None:
        if stack.functions is None:
            raise RuntimeError("the stack is not started")
        self._lock = threading.Lock()
        self._runs: list[tuple[str, float, float]] = []
        for name, function in stack.functions.functions.items():
            function.wrap(lambda handler, _name=name: self._timed(_name, handler))

    def _timed(self, name: str, handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        def timed(event: Any, context: Any) -> Any:
            started = time.perf_counter()
            try:
                return handler(event, context)
            finally:
                with self._lock:
                    self._runs.append((name, started, time.perf_counter()))

        return timed

    def chain(self, start: float, end: float, origin: float | None = None) -> list[tuple[str, float, float]]:
        """The runs that started in [start, end], other than the scoring function's: (function, offset from
        ``origin`` (default ``start``), seconds)."""
        with self._lock:
            runs = list(self._runs)
        at = start if origin is None else origin
        chain = [(n, s - at, e - s) for n, s, e in runs if start <= s <= end and n != SCORING_FUNCTION]
        return sorted(chain, key=lambda run: run[1])


# ------------------------------------------------------------------------------------------ mlflow models serve


@contextmanager
def models_serve(model_dir: Path, folder: Path) -> Iterator[Callable[[], str]]:
    """``mlflow models serve`` on ``model_dir``, as a user starts it (``--env-manager local``), in its own process
    group; yields at once a callable that waits until it answers and returns its URL."""
    port = port_for_child()
    # uvicorn, which mlflow models serve starts by name, lives beside this interpreter
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path, "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    command = [*mlflow_command(), "models", "serve", "-m", str(model_dir), "--env-manager", "local",
               "--host", "127.0.0.1", "-p", str(port)]  # fmt: skip
    log_path = folder / "models-serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - mlflow from our venv, fixed arguments
            command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=folder, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"

    def ready() -> str:
        wait_healthy(url, process, log_path, SERVE_STARTUP_S)
        return url

    try:
        yield ready
    finally:
        stop_process_group(process)


# ------------------------------------------------------------------------------------------------------- part 1


@dataclass
class Setup:
    """What the run made: the stack, the meters, the reference and the deployment."""

    stack: LocalStack
    aws: FunctionAws
    dynamo: FunctionDynamo
    timeline: Timeline
    client: Any
    reference_url: str
    model_dir: Path
    endpoint: str
    spare_versions: list[str]
    creations: list[dict[str, Any]] = field(default_factory=list)


class LambdaHop:
    """(b'): ``Invoke`` of the deployment's live alias, as DeploymentsFunction sends it."""

    def __init__(self, deployment: str) -> None:
        self._client = boto3.session.Session().client("lambda", endpoint_url=os.environ["AWS_ENDPOINT_URL_LAMBDA"])
        self._function = f"{Settings.from_env().deployment_function_prefix}{deployment}"

    def __call__(self, body: bytes) -> None:
        event = scoring_event("POST", "/invocations", "application/json", body)
        answer = self._client.invoke(FunctionName=self._function, Qualifier=LIVE_ALIAS, Payload=json.dumps(event))
        status = json.loads(answer["Payload"].read()).get("statusCode")
        if status != 200 or answer.get("FunctionError"):
            raise RuntimeError(f"Invoke of {self._function}:{LIVE_ALIAS} answered {status}")


def _post(session: requests.Session, url: str, body: bytes) -> requests.Response:
    answer = session.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=60)
    if answer.status_code != 200:
        raise RuntimeError(f"POST {url}: HTTP {answer.status_code}: {answer.text[:300]}")
    return answer


def over_http(setup: Setup, requests_per_size: int, warmup: int) -> tuple[dict[str, dict[int, list[float]]], float]:
    """(b'), (c) and (d), taking turns (each round in another order), and when the warm-up ended (the (c) requests
    are the scoring function's only invocations since)."""
    hop = LambdaHop(DEPLOYMENT)
    seconds: dict[str, dict[int, list[float]]] = {"lambda": {}, "endpoint": {}, "reference": {}}
    with requests.Session() as ours, requests.Session() as theirs:
        reference = f"{setup.reference_url}/invocations"
        calls: dict[str, Callable[[bytes], Any]] = {
            "lambda": hop,
            "endpoint": lambda body: _post(ours, setup.endpoint, body),
            "reference": lambda body: _post(theirs, reference, body),
        }
        order, bodies = list(calls), {rows: request_body(frame) for rows, frame in frames().items()}
        for i in range(warmup + requests_per_size):
            if i == warmup:  # count from here on
                counted_from = time.perf_counter()
                setup.dynamo.take()
                setup.aws.take_invocations(SCORING_FUNCTION)
            for rows, body in bodies.items():
                for key in order[i % 3 :] + order[: i % 3]:
                    took = _timed(lambda c=calls[key], b=body: c(b))
                    if i >= warmup:
                        seconds[key].setdefault(rows, []).append(took)
    return seconds, counted_from


def per_request(setup: Setup, requests_made: int, counted_from: float) -> dict[str, Any]:
    """What one endpoint request cost inside DeploymentsFunction, from the meters since the warm-up."""
    calls = setup.aws.calls(SCORING_FUNCTION, counted_from)
    dynamo = setup.dynamo.take()
    timings = setup.aws.take_invocations(SCORING_FUNCTION)
    by_operation: dict[str, list[float]] = {}
    for call in calls:
        by_operation.setdefault(call.operation, []).append(call.seconds)
    return {
        "aws_requests": {op: len(s) / requests_made for op, s in sorted(by_operation.items())},
        "aws_ms": {op: asdict(Latency.of(s)) for op, s in sorted(by_operation.items())},
        "dynamodb_rcu": dynamo.rcu / requests_made,
        "dynamodb_wcu": dynamo.wcu / requests_made,
        "invocations": len(timings) / requests_made,
        "handler": asdict(Latency.of([w for w, _ in timings])),
        "handler_without_aws": asdict(Latency.of([w - a for w, a in timings])),
    }


def slow_calls(aws: FunctionAws, start: float, end: float) -> list[tuple[str, float]]:
    """The rollouts function's AWS requests of at least :data:`SLOW_CALL_S` in [start, end]: (operation, seconds)."""
    return [(c.operation, c.seconds) for c in aws.calls(ROLLOUTS_FUNCTION, start, end) if c.seconds >= SLOW_CALL_S]


def same_predictions(setup: Setup) -> bool:
    """The deployment and ``mlflow models serve`` answer the 100-row request alike (they serve the same model)."""
    body = request_body(frames()[max(ROW_COUNTS)])
    with requests.Session() as session:
        ours = _post(session, setup.endpoint, body).json()
        theirs = _post(session, f"{setup.reference_url}/invocations", body).json()
    return bool(ours == theirs)


# ------------------------------------------------------------------------------------------------------- part 2


@dataclass(frozen=True)
class Answer:
    sent: float
    received: float
    status: int
    version: str


class Traffic:
    """Threads scoring a deployment without pause; each keeps every answer it got, in order."""

    def __init__(self, endpoint: str, body: bytes, threads: int = POLLERS) -> None:
        self.streams: list[list[Answer]] = [[] for _ in range(threads)]
        self._endpoint, self._body = endpoint, body
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._score, args=(s,), daemon=True) for s in self.streams]

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=90)

    def _score(self, stream: list[Answer]) -> None:
        with requests.Session() as session:
            while not self._stop.is_set():
                sent = time.perf_counter()
                try:
                    answer = session.post(
                        self._endpoint, data=self._body, headers={"Content-Type": "application/json"}, timeout=60
                    )
                    status, version = answer.status_code, answer.headers.get(VERSION_HEADER, "")
                except requests.RequestException as error:  # a reset connection is a failed request too
                    status, version = 0, type(error).__name__
                stream.append(Answer(sent, time.perf_counter(), status, version))

    def between(self, start: float, end: float) -> list[list[Answer]]:
        """Each thread's answers to the requests sent in [start, end]."""
        return [[a for a in list(stream) if start <= a.sent <= end] for stream in self.streams]

    def seen(self, version: str, since: float) -> bool:
        return any(a.version == version and a.sent >= since for stream in self.streams for a in list(stream))


@dataclass
class Move:
    """One alias move under traffic; times in seconds from ``set_registered_model_alias`` returning."""

    old: str
    new: str
    alias_call_s: float
    first_new_s: float | None
    last_old_s: float | None
    reported_s: float | None
    requests: int
    failed: int
    old_after_new: int
    latency_before: dict[str, float]
    """Of the traffic's requests in the second before the move."""
    latency_during: dict[str, float]
    """Of the traffic's requests from the alias move to the first answer from the new version (the rollout starts a
    worker beside them)."""
    chain: list[tuple[str, float, float]]
    slow_calls: list[tuple[str, float]]


def _wait_reported(client: Any, version: str, since: float) -> float | None:
    """Seconds from ``since`` until ``get_deployment`` says READY on ``version`` (None past the timeout)."""
    while time.perf_counter() - since < MOVE_TIMEOUT_S:
        found = client.get_deployment(DEPLOYMENT)
        if found["state"] == "READY" and found.get("model_version") == version:
            return time.perf_counter() - since
        if found["state"] == "FAILED":
            return None
        time.sleep(STATE_POLL_S)
    return None


def move_alias(setup: Setup, traffic: Traffic, old: str, new: str) -> Move:
    time.sleep(SETTLE_S)
    start = time.perf_counter()
    MlflowClient().set_registered_model_alias(MODEL, ALIAS, new)
    moved = time.perf_counter()
    reported = _wait_reported(setup.client, new, moved)
    deadline = moved + MOVE_TIMEOUT_S
    while not traffic.seen(new, moved) and time.perf_counter() < deadline:
        time.sleep(STATE_POLL_S)
    time.sleep(SETTLE_S)
    end = time.perf_counter()
    streams = traffic.between(start, end)
    answers = [a for stream in streams for a in stream]
    news = [a.received - moved for a in answers if a.version == new]
    olds = [a.received - moved for a in answers if a.version == old and a.received >= moved]
    switched = moved + min(news) if news else end
    return Move(
        old=old,
        new=new,
        alias_call_s=moved - start,
        first_new_s=min(news) if news else None,
        last_old_s=max(olds) if olds else None,
        reported_s=reported,
        requests=len(answers),
        failed=sum(1 for a in answers if a.status != 200),
        old_after_new=sum(_old_after_new(stream, old, new) for stream in streams),
        latency_before=asdict(_latency(traffic.between(start - SETTLE_S, start))),
        latency_during=asdict(_latency(traffic.between(moved, switched))),
        chain=setup.timeline.chain(start, end, origin=moved),
        slow_calls=slow_calls(setup.aws, start, end),
    )


def _old_after_new(stream: list[Answer], old: str, new: str) -> int:
    """Answers from the old version after one from the new, on one thread."""
    versions = [a.version for a in stream]
    return versions[versions.index(new) :].count(old) if new in versions else 0


def _latency(streams: list[list[Answer]]) -> Latency:
    return Latency.of([a.received - a.sent for stream in streams for a in stream] or [0.0])


def alias_moves(setup: Setup, served: str) -> list[Move]:
    moves = []
    with Traffic(setup.endpoint, request_body(frames()[min(ROW_COUNTS)])) as traffic:
        for new in setup.spare_versions:
            moves.append(move_alias(setup, traffic, served, new))
            served = new
    return moves


def _first_ok(url: str, stop: threading.Event, found: list[float]) -> None:
    body = request_body(frames()[min(ROW_COUNTS)])
    with requests.Session() as session:
        while not stop.is_set():
            try:
                ok = session.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=60).ok
            except requests.RequestException:
                ok = False
            if ok:
                found.append(time.perf_counter())
                return
            stop.wait(READY_POLL_S)


def create_deployment(setup: Setup, name: str, label: str) -> dict[str, Any]:
    """``create_deployment`` of ``models:/<model>@champion`` timed to its return and to its endpoint's first 200."""
    url = f"{setup.stack.base_url}/api/2.0/stratus/deployments/{name}/invocations"
    stop, found = threading.Event(), []
    probe = threading.Thread(target=_first_ok, args=(url, stop, found), daemon=True)
    started = time.perf_counter()
    probe.start()
    created = setup.client.create_deployment(name, f"models:/{MODEL}@{ALIAS}")
    returned = time.perf_counter() - started
    probe.join(timeout=MOVE_TIMEOUT_S)
    stop.set()
    return {
        "label": label,
        "state": created["state"],
        "returned_s": returned,
        "first_ok_s": found[0] - started if found else None,
        "endpoint": created["endpoint_url"],
        "chain": setup.timeline.chain(started, started + returned),
        "slow_calls": slow_calls(setup.aws, started, started + returned),
    }


# ------------------------------------------------------------------------------------------------------- the run


def _setup(exits: ExitStack, scratch: Path, moves: int) -> tuple[Setup, str]:
    """The reference and the stack up, the model registered and deployed; the version served."""
    estimator, signature = fit()
    model_dir = scratch / "model"
    mlflow.sklearn.save_model(estimator, model_dir, signature=signature, **model_files())
    reference_ready = exits.enter_context(models_serve(model_dir, scratch))
    aws = FunctionAws()
    dynamo = FunctionDynamo(aws, SCORING_FUNCTION)
    aws.install()
    dynamo.install()
    exits.callback(aws.uninstall)
    exits.callback(dynamo.uninstall)
    stack = exits.enter_context(local_stack()).stack
    print(describe(stack), flush=True)
    aws.watch(stack, SCORING_FUNCTION)
    aws.watch(stack, ROLLOUTS_FUNCTION)
    timeline = Timeline(stack)
    mlflow.set_tracking_uri(stack.base_url)
    os.environ["MLFLOW_TRACKING_URI"] = stack.base_url
    mlflow.set_experiment("bench-deployments")
    served = log_version(estimator, signature)
    spare = [log_version(estimator, signature) for _ in range(moves)]
    MlflowClient().set_registered_model_alias(MODEL, ALIAS, served)
    setup = Setup(stack, aws, dynamo, timeline, get_deploy_client("stratus"), "", model_dir, "", spare)
    setup.creations.append(create_deployment(setup, DEPLOYMENT, "first deployment of the stack (functions cold)"))
    setup.endpoint = setup.creations[0]["endpoint"]
    setup.reference_url = reference_ready()
    return setup, served


def run(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    warmup = min(args.warmup, args.requests)
    with ExitStack() as exits:
        setup, served = _setup(exits, scratch, args.moves)
        print(f"deployed {DEPLOYMENT} (version {served}); mlflow models serve at {setup.reference_url}", flush=True)
        load_before = os.getloadavg()
        cold_load = cold_load_seconds(setup.model_dir)
        local = in_child_process(setup.model_dir, args.requests, warmup)
        http, counted_from = over_http(setup, args.requests, warmup)
        cost = per_request(setup, args.requests * len(ROW_COUNTS), counted_from)
        identical = same_predictions(setup)
        load_after = os.getloadavg()
        print("part 1 done; moving the alias", flush=True)
        moves = alias_moves(setup, served)
        setup.creations.append(create_deployment(setup, SECOND_DEPLOYMENT, "another deployment"))
        setup.client.delete_deployment(SECOND_DEPLOYMENT)
        setup.client.delete_deployment(DEPLOYMENT)
    seconds = {**local, **http}
    return {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "requests": args.requests,
        "warmup": warmup,
        "load": {"before": load_before, "after_part_1": load_after, "end": os.getloadavg()},
        "cold_load_seconds": cold_load,
        "latency": {k: {str(r): asdict(Latency.of(s)) for r, s in by_rows.items()} for k, by_rows in seconds.items()},
        "per_request": cost,
        "same_predictions": identical,
        "moves": [asdict(m) for m in moves],
        "creations": setup.creations,
    }


# ------------------------------------------------------------------------------------------------------- report

PATHS = (
    ("predict", "(a) model.predict(df), in process"),
    ("scorer", "(b) Scorer.answer: MLflow's scoring code, in process"),
    ("lambda", "(b') Lambda Invoke of the live alias (boto3 → local Lambda → worker)"),
    ("endpoint", "(c) deployment endpoint over HTTP (API → DeploymentsFunction → Lambda → worker)"),
    ("reference", "(d) mlflow models serve over HTTP"),
)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _s(value: float | None) -> str:
    return "not seen" if value is None else f"{value:.2f} s"


def latency_lines(report: dict[str, Any]) -> list[str]:
    lat = report["latency"]
    sizes = [str(r) for r in ROW_COUNTS]
    head = " | ".join(f"{r} rows median ms | {r} rows p95 ms" for r in sizes)
    lines = [f"| path | {head} |", "| --- |" + " ---: | ---: |" * len(sizes)]
    for key, label in PATHS:
        cells = " | ".join(f"{_ms(lat[key][r]['median_ms'])} | {_ms(lat[key][r]['p95_ms'])}" for r in sizes)
        lines.append(f"| {label} | {cells} |")
    for minus, label in (("predict", "overhead (c) - (a)"), ("reference", "overhead (c) - (d)")):
        cells = " | ".join(
            f"{lat['endpoint'][r]['median_ms'] - lat[minus][r]['median_ms']:+.1f} | "
            f"{lat['endpoint'][r]['p95_ms'] - lat[minus][r]['p95_ms']:+.1f}"
            for r in sizes
        )
        lines.append(f"| **{label}** | {cells} |")
    return lines


def cost_lines(report: dict[str, Any]) -> list[str]:
    cost = report["per_request"]
    requests_text = ", ".join(
        f"{op} {n:g} (median {cost['aws_ms'][op]['median_ms']:.1f} ms, p95 {cost['aws_ms'][op]['p95_ms']:.1f})"
        for op, n in cost["aws_requests"].items()
    )
    return [
        f"Per endpoint request, counted inside {SCORING_FUNCTION} over {report['requests'] * len(ROW_COUNTS)} "
        f"requests: {cost['invocations']:g} invocation; AWS requests: {requests_text or 'none'}; DynamoDB "
        f"{cost['dynamodb_rcu']:g} RCU, {cost['dynamodb_wcu']:g} WCU.",
        f"{SCORING_FUNCTION}'s handler: median {cost['handler']['median_ms']:.1f} ms (p95 "
        f"{cost['handler']['p95_ms']:.1f}), of which outside its AWS requests "
        f"{cost['handler_without_aws']['median_ms']:.1f} ms.",
        f"A fresh interpreter importing the scoring code and loading the model (most of a worker's start): "
        f"{report['cold_load_seconds']:.1f} s. Same predictions from (c) and (d): "
        f"{'yes' if report['same_predictions'] else 'NO'}.",
    ]


def _pair(latency: dict[str, float]) -> str:
    return f"{latency['median_ms']:.0f}, {latency['p95_ms']:.0f}"


def _chain_text(chain: list[tuple[str, float, float]], slow: list[tuple[str, float]]) -> str:
    named = [f"{name.removesuffix('Function')} {at:+.2f} s ({took:.2f} s)" for name, at, took in chain]
    calls = ", ".join(f"{op} {seconds:.2f} s" for op, seconds in slow)
    return (", ".join(named) or "none") + (f"; the rollouts' requests over {SLOW_CALL_S} s: {calls}" if calls else "")


def move_lines(report: dict[str, Any]) -> list[str]:
    lines = [
        "| move | alias call | first answer from the new version | last from the old | get_deployment READY on it "
        "| requests | failed | old after new | latency before (median, p95 ms) | during |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for m in report["moves"]:
        lines.append(
            f"| {m['old']} → {m['new']} | {m['alias_call_s']:.2f} s | {_s(m['first_new_s'])} | {_s(m['last_old_s'])} "
            f"| {_s(m['reported_s'])} | {m['requests']} | {m['failed']} | {m['old_after_new']} "
            f"| {_pair(m['latency_before'])} | {_pair(m['latency_during'])} |"
        )
    lines += [
        f"  functions run during move {m['old']} → {m['new']} (from the alias call's return): "
        f"{_chain_text(m['chain'], m['slow_calls'])}"
        for m in report["moves"]
    ]
    return lines


def creation_lines(report: dict[str, Any]) -> list[str]:
    lines = [
        "| new deployment | create_deployment returned | first 200 from its endpoint | state |",
        "| --- | ---: | ---: | --- |",
    ]
    for c in report["creations"]:
        lines.append(f"| {c['label']} | {_s(c['returned_s'])} | {_s(c['first_ok_s'])} | {c['state']} |")
    lines += [
        f"  functions run during '{c['label']}': {_chain_text(c['chain'], c['slow_calls'])}"
        for c in report["creations"]
    ]
    return lines


def print_report(report: dict[str, Any]) -> None:
    load = report["load"]
    loads = ", ".join(f"{k} {' / '.join(f'{x:.1f}' for x in v)}" for k, v in load.items())
    print(f"\nMachine: {report['machine']}; {report['date']}; load average (1/5/15 min): {loads}")
    print(CAVEAT)
    print(f"\n1. Warm latency, {report['requests']} requests per size (after {report['warmup']} warm-up):\n")
    print("\n".join(latency_lines(report)))
    print()
    print("\n".join(cost_lines(report)))
    print(f"\n2. Alias moves under traffic ({POLLERS} threads scoring the 2-row request without pause):\n")
    print("\n".join(move_lines(report)))
    print()
    print("\n".join(creation_lines(report)))
    print(f"\n{CAVEAT}")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.deployments", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_REQUESTS} requests per size, {QUICK_MOVES} move")
    parser.add_argument("--requests", type=int, help=f"requests per size and path (default {REQUESTS})")
    parser.add_argument("--moves", type=int, help=f"alias moves (default {MOVES})")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--warmup", type=int, default=WARMUP, help=f"warm-up requests per size (default {WARMUP})")
    parser.add_argument("--in-process", metavar="MODEL_DIR", help=argparse.SUPPRESS)  # (a) and (b), in the child
    args = parser.parse_args(argv)
    args.requests = args.requests or (QUICK_REQUESTS if args.quick else REQUESTS)
    args.moves = args.moves if args.moves is not None else (QUICK_MOVES if args.quick else MOVES)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.in_process:
        print(json.dumps(in_process(args.in_process, args.requests, args.warmup)))
        return 0
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    print(f"Machine: {machine()}", flush=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-deployments-") as scratch:
        report = run(args, Path(scratch))
    report["seconds"] = time.perf_counter() - started
    print_report(report)
    print(f"\n(ran in {report['seconds']:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    broken = [m for m in report["moves"] if m["failed"] or m["first_new_s"] is None or m["old_after_new"]]
    for m in broken:
        print(f"move {m['old']} → {m['new']}: {m['failed']} failed requests, new version seen: {m['first_new_s']}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
