"""Cold start of each function in template.yaml: handler import time, import contributors, first requests.

Every figure comes from a fresh interpreter started the way the Lambda runtime loads a function: the current folder
is the function's CodeUri and its layers are on ``PYTHONPATH`` (as ``/opt/python`` is). Import time is measured
inside the process with ``time.perf_counter`` (wall) and ``time.process_time`` (CPU) around ``import app``, so
interpreter start-up is excluded. Two set-ups:

* **venv**: the layer folders on ``PYTHONPATH`` and the project's virtualenv behind them, with compiled ``.pyc``
  files warm (one unmeasured import first);
* **Lambda-like**: what ``sam build`` puts in the layer and nothing else: each layer's source plus the dependency
  closure of its ``requirements.txt``, copied from the virtualenv without ``__pycache__``, run with ``-S -B`` (no
  site-packages, no bytecode written). ``sam build`` ships no ``.pyc`` files and ``/opt`` is read-only, so on AWS
  every cold start compiles every module it imports; this set-up pays that too.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness import PROJECT_DIR, Bench
from stratus_local.template import FunctionSpec, parse_project

MAX_IMPORT_MS = 300.0
"""Target: importing a handler module."""
_MARK = "@@benchmarks"

_IMPORT = """
import sys, time
sys.stderr.write("{mark}\\n")
started, started_cpu = time.perf_counter(), time.process_time()
import {module}
print("{mark}", time.perf_counter() - started, time.process_time() - started_cpu)
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


class SnippetError(RuntimeError):
    """The measured interpreter failed (typically: a module the layer does not ship)."""


@dataclass(frozen=True)
class Setup:
    """How the fresh interpreters find the code."""

    name: str
    pythonpath: tuple[Path, ...]
    flags: tuple[str, ...] = ()


@dataclass
class Contributor:
    package: str
    self_us: int
    modules: int


def venv_setup(function: FunctionSpec) -> Setup:
    return Setup("venv, .pyc warm", tuple(function.layer_dirs))


def _requirement_names(requirements: Path) -> list[str]:
    names = []
    for line in requirements.read_text().splitlines():
        found = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9_.\-]*)", line.split("#", 1)[0])
        if found:
            names.append(found.group(1))
    return names


def _copy_closure(names: list[str], target: Path) -> list[str]:
    """Copy the installed files of ``names`` and their dependencies (extras left out) into ``target``, without
    bytecode; returns the requirements not installed in this environment."""
    missing, seen, todo = [], set(), list(names)
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        seen.add(key)
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
            continue
        for file in distribution.files or []:
            parts = Path(file).parts
            if ".." in parts or "__pycache__" in parts or parts[0] == "bin" or file.suffix == ".pyc":
                continue
            source = Path(str(distribution.locate_file(file)))
            if source.is_file():
                (target / file).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target / file)
        for requirement in distribution.requires or []:
            if "extra ==" not in requirement:
                todo.append(re.match(r"[A-Za-z0-9_.\-]+", requirement).group(0))  # type: ignore[union-attr]
    return missing


@contextmanager
def lambda_like_setup(function: FunctionSpec) -> Iterator[tuple[Setup, list[str]]]:
    """Each layer as ``sam build`` would lay it out (source + requirements.txt closure, no .pyc) in a temp folder."""
    with tempfile.TemporaryDirectory(prefix="stratus-cold-") as scratch:
        paths, missing = [], []
        for index, layer in enumerate(function.layer_dirs):
            target = Path(scratch) / f"layer{index}" / "python"
            shutil.copytree(layer, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
            requirements = layer / "requirements.txt"
            if requirements.is_file():
                missing += _copy_closure(_requirement_names(requirements), target)
            paths.append(target)
        yield Setup("Lambda-like, no .pyc", tuple(paths), ("-S", "-B")), missing


def _environment(setup: Setup) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(str(path) for path in setup.pythonpath)
    env.pop("PYTHONSTARTUP", None)
    return env


def _run(
    function: FunctionSpec, setup: Setup, code: str, *args: str, flags: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(  # noqa: S603 - this interpreter, our own snippet
        [sys.executable, *setup.flags, *flags, "-c", code, *args],
        cwd=function.code_dir,
        env=_environment(setup),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if completed.returncode != 0:
        last = (completed.stderr.strip().splitlines() or ["?"])[-1]
        raise SnippetError(f"{function.logical_id} ({setup.name}): {last}")
    return completed


def _marked(stdout: str) -> str:
    line = next(line for line in stdout.splitlines() if line.startswith(_MARK))
    return line[len(_MARK) :].strip()


def import_seconds(function: FunctionSpec, setup: Setup, repeats: int) -> list[tuple[float, float]]:
    """(wall, CPU) seconds of ``repeats`` fresh interpreters importing the handler module, after one unmeasured
    import (which writes the .pyc files, unless the set-up forbids it)."""
    module = function.handler.rpartition(".")[0]
    code = _IMPORT.format(mark=_MARK, module=module)
    _run(function, setup, code)
    timings = []
    for _ in range(repeats):
        wall, cpu = _marked(_run(function, setup, code).stdout).split()
        timings.append((float(wall), float(cpu)))
    return timings


def _self_times(function: FunctionSpec, setup: Setup) -> tuple[dict[str, int], dict[str, int]]:
    module = function.handler.rpartition(".")[0]
    stderr = _run(function, setup, _IMPORT.format(mark=_MARK, module=module), flags=("-X", "importtime")).stderr
    self_us: dict[str, int] = defaultdict(int)
    modules: dict[str, int] = defaultdict(int)
    for line in stderr.split(_MARK, 1)[1].splitlines():
        if not line.startswith("import time:") or "|" not in line or "self [us]" in line:
            continue
        own, _cumulative, name = (part.strip() for part in line[len("import time:") :].split("|"))
        package = name.split(".")[0]
        self_us[package] += int(own)
        modules[package] += 1
    return self_us, modules


def import_contributors(function: FunctionSpec, setup: Setup, runs: int = 5) -> tuple[list[Contributor], int]:
    """Self time per top-level package under ``-X importtime`` (after the interpreter's own start-up): the median
    of ``runs`` processes, and the median total."""
    samples = [_self_times(function, setup) for _ in range(runs)]
    packages = {package for self_us, _ in samples for package in self_us}
    median = {p: int(statistics.median(self_us.get(p, 0) for self_us, _ in samples)) for p in packages}
    ranked = sorted(packages, key=lambda p: median[p], reverse=True)
    total = int(statistics.median(sum(self_us.values()) for self_us, _ in samples))
    return [Contributor(p, median[p], samples[0][1].get(p, 0)) for p in ranked], total


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


def first_requests(function: FunctionSpec, setup: Setup, repeats: int) -> list[dict[str, Any]] | None:
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
        return [json.loads(_marked(_run(function, setup, code, handle.name).stdout)) for _ in range(repeats)]
    finally:
        Path(handle.name).unlink()


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} ms (min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f})"


def report_imports(function: FunctionSpec, setup: Setup, repeats: int) -> None:
    imports = import_seconds(function, setup, repeats)
    walls = [wall for wall, _ in imports]
    verdict = "met" if statistics.median(walls) * 1000 <= MAX_IMPORT_MS else "OVER"
    print(f"  import, {setup.name}, {repeats} fresh processes [target < {MAX_IMPORT_MS:.0f} ms: {verdict}]")
    print(f"    wall {_ms(walls)}")
    print(f"    CPU  {_ms([cpu for _, cpu in imports])}")


def report_contributors(function: FunctionSpec, setup: Setup) -> None:
    contributors, total = import_contributors(function, setup)
    print(f"  -X importtime, {setup.name} (median of 5): {total / 1000:.0f} ms of self time; top 10 packages:")
    print("    | package | self time of its modules (ms) | share | modules imported |")
    print("    | --- | ---: | ---: | ---: |")
    for c in contributors[:10]:
        print(f"    | {c.package} | {c.self_us / 1000:.1f} | {c.self_us / total:.0%} | {c.modules} |")


def report_first_requests(function: FunctionSpec, setup: Setup, repeats: int) -> None:
    runs = first_requests(function, setup, repeats)
    if runs is None:
        print("  first requests: no GET /health route; skipped")
        return
    statuses = sorted({tuple(call[1] for call in run["calls"]) for run in runs})
    print(f"  first requests, {setup.name}, {len(runs)} fresh processes (status codes {statuses}):")
    print(f"    import                                   {_ms([r['import'] for r in runs])}")
    print(f"    1st call, GET /health (builds the API)   {_ms([r['calls'][0][0] for r in runs])}")
    print(f"    2nd call, experiments/get (1st DynamoDB) {_ms([r['calls'][1][0] for r in runs])}")
    print(f"    3rd call, experiments/get (warm)         {_ms([r['calls'][2][0] for r in runs])}")
    cold = [r["import"] + r["calls"][0][0] + r["calls"][1][0] for r in runs]
    print(f"    cold total to first DynamoDB answer      {_ms(cold)}")


def report_function(function: FunctionSpec, repeats: int) -> None:
    layers = ", ".join(str(d.relative_to(PROJECT_DIR)) for d in function.layer_dirs) or "none"
    print(f"{function.logical_id} ({function.code_dir.relative_to(PROJECT_DIR)}/{function.handler}, layers: {layers})")
    venv = venv_setup(function)
    report_imports(function, venv, repeats)
    report_contributors(function, venv)
    report_first_requests(function, venv, max(3, repeats // 2))
    with lambda_like_setup(function) as (lambda_like, missing):
        if missing:
            print(f"  Lambda-like: not installed here, left out: {', '.join(missing)}")
        try:
            report_imports(function, lambda_like, max(3, repeats // 2))
            report_first_requests(function, lambda_like, 3)
        except SnippetError as exc:
            print(f"  Lambda-like: the handler does not import from the layer as built: {exc}")


def run(bench: Bench | None, repeats: int = 10) -> None:
    """Part 2. ``bench`` is the running stack whose DynamoDB the first requests use (its env is inherited)."""
    print("Part 2: cold start of each function (fresh interpreters; interpreter start-up excluded)")
    if bench is not None and bench.stack.endpoints is not None:
        print(f"  first requests go to {bench.stack.endpoints.dynamodb_kind} at {bench.stack.endpoints.dynamodb}")
    template = parse_project(PROJECT_DIR)
    for function in template.functions.values():
        report_function(function, repeats)
    print()
