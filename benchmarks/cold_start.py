"""Cold start of each function in template.yaml: handler import time, import contributors, first requests.

Every figure comes from a fresh interpreter started the way the Lambda runtime loads a function: the current folder
is the function's CodeUri and its layers are on ``PYTHONPATH`` (as ``/opt/python`` is). Import time is measured
inside the process with ``time.perf_counter`` around ``import app``, so interpreter start-up is excluded. Compiled
``.pyc`` files are warm (one unmeasured import first), as in a layer built by pip, which compiles them.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stratus_local.template import FunctionSpec, parse_project

from benchmarks.harness import PROJECT_DIR, Bench

MAX_IMPORT_MS = 300.0
"""Target: importing a handler module."""
_MARK = "@@benchmarks"

_IMPORT = """
import sys, time
sys.stderr.write("{mark}\\n")
started = time.perf_counter()
import {module}
print("{mark}", time.perf_counter() - started)
"""

_FIRST_REQUESTS = """
import json, sys, time

class Context:
    aws_request_id = "cold-start-benchmark"
    function_name = "{function_name}"
    function_version = "$LATEST"
    invoked_function_arn = "{arn}"
    memory_limit_in_mb = "{memory}"
    log_group_name = "/aws/lambda/{function_name}"
    log_stream_name = "benchmark"

    def get_remaining_time_in_millis(self):
        return 29000

events = json.load(open(sys.argv[1]))
started = time.perf_counter()
import {module} as function
timings = {{"import": time.perf_counter() - started, "calls": []}}
for event in events:
    started = time.perf_counter()
    result = function.{attribute}(event, Context())
    timings["calls"].append([time.perf_counter() - started, result.get("statusCode")])
print("{mark}", json.dumps(timings))
"""


@dataclass
class Contributor:
    package: str
    self_us: int
    cumulative_us: int


def _environment(function: FunctionSpec) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(str(layer) for layer in function.layer_dirs)
    env.pop("PYTHONSTARTUP", None)
    return env


def _run(function: FunctionSpec, code: str, *args: str, flags: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(  # noqa: S603 - this interpreter, our own snippet
        [sys.executable, *flags, "-c", code, *args],
        cwd=function.code_dir,
        env=_environment(function),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{function.logical_id}: the snippet failed:\n{completed.stderr[-3000:]}")
    return completed


def _marked(stdout: str) -> str:
    line = next(line for line in stdout.splitlines() if line.startswith(_MARK))
    return line[len(_MARK) :].strip()


def import_seconds(function: FunctionSpec, repeats: int) -> list[float]:
    """``repeats`` fresh interpreters importing the handler module (after one unmeasured import that writes .pyc)."""
    module = function.handler.rpartition(".")[0]
    code = _IMPORT.format(mark=_MARK, module=module)
    _run(function, code)
    return [float(_marked(_run(function, code).stdout)) for _ in range(repeats)]


def import_contributors(function: FunctionSpec) -> tuple[list[Contributor], int]:
    """Self time per top-level package under ``-X importtime`` (excluding interpreter start), and the total."""
    module = function.handler.rpartition(".")[0]
    stderr = _run(function, _IMPORT.format(mark=_MARK, module=module), flags=("-X", "importtime")).stderr
    lines = stderr.split(_MARK, 1)[1].splitlines()
    self_us: dict[str, int] = defaultdict(int)
    cumulative_us: dict[str, int] = defaultdict(int)
    total = 0
    for line in lines:
        if not line.startswith("import time:") or "|" not in line or "self [us]" in line:
            continue
        own, cumulative, name = (part.strip() for part in line[len("import time:") :].split("|"))
        package = name.split(".")[0]
        self_us[package] += int(own)
        total += int(own)
        if name == package:
            cumulative_us[package] = max(cumulative_us[package], int(cumulative))
    ranked = sorted(self_us, key=lambda p: self_us[p], reverse=True)
    return [Contributor(p, self_us[p], cumulative_us.get(p, 0)) for p in ranked], total


def _events(function: FunctionSpec) -> list[dict[str, Any]] | None:
    """/health, then experiments/get twice (first DynamoDB request, then warm): the requests a client opens with."""
    routes = {route.route_key for route in function.routes}
    if "GET /health" not in routes:
        return None
    events_dir = PROJECT_DIR / "events"
    health = json.loads((events_dir / "health.json").read_text())
    get = json.loads((events_dir / "experiments_get_by_name.json").read_text())
    path = get["rawPath"].replace("get-by-name", "get")
    get.update(rawPath=path, rawQueryString="experiment_id=0", queryStringParameters={"experiment_id": "0"})
    get["pathParameters"] = {"proxy": "get"}
    get["requestContext"]["http"]["path"] = path
    return [health, get, get]


def first_requests(function: FunctionSpec, repeats: int) -> list[dict[str, Any]] | None:
    """Import + /health + experiments/get (first DynamoDB call) + experiments/get (warm), each in a fresh process."""
    events = _events(function)
    if events is None:
        return None
    module, _, attribute = function.handler.rpartition(".")
    code = _FIRST_REQUESTS.format(
        mark=_MARK,
        module=module,
        attribute=attribute,
        function_name=function.function_name,
        arn=function.arn,
        memory=function.memory_mb,
    )
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(events, handle)
    try:
        return [json.loads(_marked(_run(function, code, handle.name).stdout)) for _ in range(repeats)]
    finally:
        Path(handle.name).unlink()


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} ms (min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f})"


def report_function(function: FunctionSpec, repeats: int) -> None:
    print(f"{function.logical_id} ({function.code_dir.relative_to(PROJECT_DIR)}/{function.handler}, layers: "
          f"{', '.join(str(d.relative_to(PROJECT_DIR)) for d in function.layer_dirs) or 'none'})")
    imports = import_seconds(function, repeats)
    verdict = "met" if statistics.median(imports) * 1000 <= MAX_IMPORT_MS else "OVER"
    print(f"  import of the handler module, median of {repeats} fresh processes: {_ms(imports)}"
          f"  [target < {MAX_IMPORT_MS:.0f} ms: {verdict}]")
    contributors, total = import_contributors(function)
    print(f"  -X importtime: {total / 1000:.0f} ms of self time in total; top 10 top-level packages:")
    print("    | package | self time, all its modules (ms) | share | cumulative of `import <package>` (ms) |")
    print("    | --- | ---: | ---: | ---: |")
    for c in contributors[:10]:
        print(f"    | {c.package} | {c.self_us / 1000:.1f} | {c.self_us / total:.0%} | {c.cumulative_us / 1000:.1f} |")
    runs = first_requests(function, max(3, repeats // 2))
    if runs is None:
        print("  first requests: no GET /health route; skipped")
        return
    statuses = sorted({tuple(call[1] for call in run["calls"]) for run in runs})
    print(f"  first requests, median of {len(runs)} fresh processes (status codes {statuses}):")
    print(f"    import                                   {_ms([r['import'] for r in runs])}")
    print(f"    1st call, GET /health (builds the API)   {_ms([r['calls'][0][0] for r in runs])}")
    print(f"    2nd call, experiments/get (1st DynamoDB) {_ms([r['calls'][1][0] for r in runs])}")
    print(f"    3rd call, experiments/get (warm)         {_ms([r['calls'][2][0] for r in runs])}")
    cold = [r["import"] + r["calls"][0][0] + r["calls"][1][0] for r in runs]
    print(f"    cold total to first DynamoDB answer      {_ms(cold)}")


def run(bench: Bench | None, repeats: int = 10) -> None:
    """Part 2. ``bench`` is the running stack whose DynamoDB the first requests use (its env is inherited)."""
    print("Part 2: cold start of each function (fresh interpreters; interpreter start-up excluded)")
    if bench is not None and bench.stack.endpoints is not None:
        print(f"  first requests go to {bench.stack.endpoints.dynamodb_kind} at {bench.stack.endpoints.dynamodb}")
    template = parse_project(PROJECT_DIR)
    for function in template.functions.values():
        report_function(function, repeats)
    print()
