"""Concurrent requests to ``stratus local`` must not lose or misplace runs.

The defect these guard against: ``stratus local`` serves each HTTP connection on its own thread and invoked the one
handler from all of them at once, but Powertools' resolver keeps the event being resolved in a class attribute
(``BaseRouter.current_event``), shared by the whole process. A request could route and parse the body of another
request in flight, so a create-run without its own ``experiment_id`` landed in ``Default`` (missing from every search
of its experiment) or a rename went to the wrong request, all answered 200. AWS Lambda never runs two invocations in
one execution environment at the same time, and neither does ``stratus local`` now: concurrent invocations get
environments of their own (module copies), and those two class attributes are per thread.

The stress test hammers the real stack (DynamoDB Local) from many threads in a child process: the stack changes
``os.environ`` and the handler module it imports is cached process-wide, so it must not share a pytest worker.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
from child_process import child_environment

from stratus_local.gateway import Gateway, HttpRequest
from stratus_local.lambdas import FunctionSet
from stratus_local.routes import Router
from stratus_local.template import FunctionSpec, RouteSpec

PROJECT_DIR = Path(__file__).resolve().parents[2]
HAMMER_THREADS = 8
HAMMER_RUNS = 30
HAMMER_EXPERIMENTS = 3
HAMMER_SWITCH_INTERVAL_S = 1e-4
"""The interpreter's thread switch interval in the child (default 5 ms): switching often makes a race between
requests likely within seconds instead of once in many CI runs."""
HAMMER_TIMEOUT_S = 150

POWERTOOLS_ECHO_APP = """
import time

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

app = APIGatewayHttpResolver()


@app.post("/echo")
def echo():
    first = app.current_event.json_body["n"]
    time.sleep(0.05)  # a request arriving meanwhile runs in another environment, on another thread
    return {"first": first, "then": app.current_event.json_body["n"]}


def handler(event, context):
    return app.resolve(event, context)
"""


def test_concurrent_requests_to_one_function_each_see_their_own_event(tmp_path: Path) -> None:
    """Given a Powertools handler that reads its event before and after a pause,
    when 8 requests reach it at once through the local gateway,
    then each answer is computed from that request's own body."""
    code_dir = tmp_path / "echo"
    code_dir.mkdir()
    (code_dir / "app.py").write_text(textwrap.dedent(POWERTOOLS_ECHO_APP))
    spec = FunctionSpec(
        logical_id="ConcurrencyEchoFunction",
        function_name="ConcurrencyEchoFunction",
        code_dir=code_dir,
        handler="app.handler",
        environment={},
        memory_mb=512,
        timeout_s=10,
        routes=[RouteSpec("POST /echo", "ConcurrencyEchoFunction")],
    )
    gateway = Gateway(Router(spec.routes), FunctionSet({spec.logical_id: spec}, io.StringIO()), io.StringIO())

    def call(n: int) -> tuple[int, Any]:
        request = HttpRequest(
            "POST", "/echo", headers=[("Content-Type", "application/json")], body=json.dumps({"n": n}).encode()
        )
        response = gateway.handle(request)
        return response.status, json.loads(response.body)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(call, range(8)))

    assert answers == [(200, {"first": n, "then": n}) for n in range(8)]


def test_runs_written_by_many_threads_are_all_found_where_they_were_created() -> None:
    """Given stratus local on DynamoDB Local,
    when 8 threads each create runs in 3 experiments, rename them, tag them, log batches and search,
    then every request succeeds and every run is found once, under its final name, in its own experiment, by search
    and by get; none lands in Default."""
    # Not a stack another test started in this worker: its AWS_ENDPOINT_URL would give the child that stack's
    # DynamoDB (with the fuzzing tests' runs in Default).
    env = child_environment()
    child = subprocess.run(  # noqa: S603 - this interpreter, this file
        [sys.executable, __file__, "--hammer"],
        capture_output=True,
        text=True,
        env=env,
        timeout=HAMMER_TIMEOUT_S,
        check=False,
    )
    assert child.returncode == 0, child.stderr[-4000:]
    report = json.loads(child.stdout.strip().splitlines()[-1])
    assert report["problems"] == [], report
    assert report["runs"] == HAMMER_RUNS


# -------------------------------------------------------------------- the child process


class _Api:
    """MLflow's REST API on the local stack, one keep-alive session per thread (as the mlflow client keeps one)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._local = threading.local()

    def call(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        url = f"{self.base_url}/api/2.0/mlflow/{path}"
        if method == "GET":
            response = session.get(url, params=body, timeout=60)
        else:
            response = session.post(url, json=body, timeout=60)
        if response.status_code != 200:
            raise AssertionError(f"{method} {path} {body} -> {response.status_code} {response.text[:300]}")
        return response.json()  # type: ignore[no-any-return]


def _write_run(api: _Api, experiment_id: str, i: int) -> str:
    """What the differential test's loader does to a run, with a rename, from one client thread."""
    run = api.call(
        "POST",
        "runs/create",
        {"experiment_id": experiment_id, "run_name": f"tmp-{i}", "start_time": 1_700_000_000_000 + i},
    )
    run_id: str = run["run"]["info"]["run_id"]
    metric = {"key": "m", "value": float(i), "timestamp": 1, "step": 0}
    batch = {"run_id": run_id, "metrics": [metric], "params": [{"key": "p", "value": str(i)}], "tags": []}
    api.call("POST", "runs/log-batch", batch)
    api.call("POST", "runs/update", {"run_id": run_id, "run_name": f"run-{i}"})
    api.call("POST", "runs/set-tag", {"run_id": run_id, "key": "t", "value": str(i)})
    api.call("POST", "runs/search", {"experiment_ids": [experiment_id], "max_results": 5})
    api.call("POST", "runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": 1_700_000_100_000 + i})
    return run_id


def _problems(api: _Api, experiment_ids: list[str], written: dict[int, str]) -> list[str]:
    problems: list[str] = []
    found: dict[str, list[tuple[str, str]]] = {}
    for experiment_id in [*experiment_ids, "0"]:
        page = api.call("POST", "runs/search", {"experiment_ids": [experiment_id], "run_view_type": "ALL"})
        for run in page.get("runs", []):
            found.setdefault(run["info"]["run_name"], []).append((experiment_id, run["info"]["run_id"]))
    for i, run_id in written.items():
        experiment_id = experiment_ids[i % len(experiment_ids)]
        if found.get(f"run-{i}") != [(experiment_id, run_id)]:
            problems.append(f"run-{i} ({run_id} in {experiment_id}): search finds {found.get(f'run-{i}')}")
        run = api.call("GET", "runs/get", {"run_id": run_id})["run"]
        info, data = run["info"], run["data"]
        seen = (
            info["experiment_id"],
            info["run_name"],
            info["status"],
            {p["key"]: p["value"] for p in data.get("params", [])},
            {t["key"]: t["value"] for t in data.get("tags", []) if t["key"] == "t"},
            {m["key"]: m["value"] for m in data.get("metrics", [])},
        )
        wanted = (experiment_id, f"run-{i}", "FINISHED", {"p": str(i)}, {"t": str(i)}, {"m": float(i)})
        if seen != wanted:
            problems.append(f"run-{i}: get says {seen}, wanted {wanted}")
    strays = sorted(name for name in found if not name.startswith("run-") or int(name[4:]) not in written)
    if strays:
        problems.append(f"runs nobody asked for: {strays}")
    for name in strays:  # what the stray holds says which request created it
        for _, run_id in found[name]:
            problems.append(f"stray {name}: {api.call('GET', 'runs/get', {'run_id': run_id})['run']}")
    return problems


def _hammer() -> dict[str, Any]:
    from stratus_local.stack import LocalStack  # noqa: PLC0415 - only the child starts a stack

    log = io.StringIO()
    started = time.monotonic()
    with LocalStack(PROJECT_DIR, ephemeral=True, port=0, log=log, log_requests=False) as stack:
        api = _Api(stack.base_url)
        stamp = time.time_ns()
        experiment_ids = [
            api.call("POST", "experiments/create", {"name": f"hammer {stamp} {n}"})["experiment_id"]
            for n in range(HAMMER_EXPERIMENTS)
        ]
        errors: list[str] = []
        written: dict[int, str] = {}
        up = time.monotonic()

        def work(i: int) -> None:
            try:
                written[i] = _write_run(api, experiment_ids[i % len(experiment_ids)], i)
            except Exception as exc:  # noqa: BLE001 - every failure is reported, none stops the others
                errors.append(f"run {i}: {exc}")

        sys.setswitchinterval(HAMMER_SWITCH_INTERVAL_S)
        try:
            with ThreadPoolExecutor(HAMMER_THREADS) as pool:
                list(pool.map(work, range(HAMMER_RUNS)))
        finally:
            sys.setswitchinterval(0.005)
        loaded = time.monotonic()
        problems = errors + _problems(api, experiment_ids, written)
        seconds = {"start": up - started, "load": loaded - up, "check": time.monotonic() - loaded}
    return {
        "runs": len(written),
        "problems": problems,
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "stack_log": log.getvalue()[-2000:] if problems else "",
    }


if __name__ == "__main__" and sys.argv[1:] == ["--hammer"]:
    print(json.dumps(_hammer()))
