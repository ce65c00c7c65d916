"""Cold start of each function in template.yaml: handler import time, import contributors, first requests, sizes.

Every figure comes from a fresh interpreter started the way the Lambda runtime loads a function: the current folder
is the function's CodeUri and its layers are on ``PYTHONPATH`` (as ``/opt/python`` is). Import time is measured
inside the process with ``time.perf_counter`` (wall) and ``time.process_time`` (CPU) around ``import app``, so
interpreter start-up is excluded. Three set-ups:

* **venv**: the layer folders on ``PYTHONPATH`` and the project's virtualenv (Python 3.11) behind them, with
  compiled ``.pyc`` files warm (one unmeasured import first);
* **sam build**: what ships, read from the ``sam build`` output (``.aws-sam/build``, made by
  ``bash .ci/sam-checks.sh``): the built function folder and the built layers only, run by python3.12 (the runtime's
  version) with ``-S -B`` (no site-packages, no bytecode written: ``/opt`` and ``/var/task`` are read-only), using
  the ``.pyc`` files the layer ships. A layer built for arm64 holds native extensions this machine cannot load
  (pydantic-core); the same versions built for this machine, compiled the same way, go in front of it
  (cached in ``.aws-sam/cold-start-host-wheels``), and everything else is imported from the build output;
* **sam build, bytecode ignored**: the same files with ``-X pycache_prefix`` pointing at an empty folder, so every
  module is compiled at import, as on AWS when a layer ships no ``.pyc`` (``BuildMethod: python3.12``).

Each function's environment from the template is applied under the current one (``PYDANTIC_DISABLE_PLUGINS`` and
the like count). The sizes printed are the build output's, unzipped and zipped as ``sam package`` zips them.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness import PROJECT_DIR, Bench
from stratus_local.template import FunctionSpec, parse_project

MAX_IMPORT_MS = 300.0
"""Target: importing a handler module."""
SAM_BUILD_DIR = PROJECT_DIR / ".aws-sam" / "build"
HOST_WHEELS_DIR = PROJECT_DIR / ".aws-sam" / "cold-start-host-wheels"
RUNTIME_PYTHON = "python3.12"
"""The Lambda runtime's interpreter; looked for in $PY312_BIN (as .ci/sam-checks.sh does), then on PATH."""
LAMBDA_UNZIPPED_LIMIT = 250 * 2**20
"""A function and all its layers, unzipped."""
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
hooks = {{"before": [], "after": []}}
if {primed}:  # the runtime's snapshot_restore_py, recording what the handler registers
    import types
    runtime = types.ModuleType("snapshot_restore_py")
    runtime.register_before_snapshot = lambda func, *args: hooks["before"].append((func, args))
    runtime.register_after_restore = lambda func, *args: hooks["after"].append((func, args))
    sys.modules["snapshot_restore_py"] = runtime
started = time.perf_counter()
import {module} as function
timings = {{"import": time.perf_counter() - started, "calls": [], "prime": 0.0}}
started, started_cpu = time.perf_counter(), time.process_time()
for func, args in reversed(hooks["before"]):  # as Lambda runs them before the snapshot
    func(*args)
for func, args in hooks["after"]:  # and after a restore
    func(*args)
timings["prime"] = time.perf_counter() - started
timings["prime_cpu"] = time.process_time() - started_cpu
for event in events:
    started, started_cpu = time.perf_counter(), time.process_time()
    result = function.{attribute}(event, Context())
    wall, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    timings["calls"].append([wall, result.get("statusCode"), cpu])
print("{mark}", json.dumps(timings))
"""


class SnippetError(RuntimeError):
    """The measured interpreter failed (typically: a module the layer does not ship)."""


@dataclass(frozen=True)
class Setup:
    """How the fresh interpreters find the code, and which interpreter runs it."""

    name: str
    pythonpath: tuple[Path, ...]
    flags: tuple[str, ...] = ()
    python: str = sys.executable


@dataclass
class Contributor:
    package: str
    self_us: int
    modules: int


@dataclass(frozen=True)
class Size:
    """A build folder: files, bytes unzipped, bytes zipped."""

    files: int
    unzipped: int
    zipped: int


def venv_setup(function: FunctionSpec) -> Setup:
    return Setup("venv, .pyc warm", tuple(function.layer_dirs))


def runtime_python() -> str | None:
    """A working python3.12 to run the build output with (a pyenv shim on PATH may not be one), or None."""
    candidates = [str(Path(os.environ.get("PY312_BIN", "/root/.pyenv/versions/3.12.1/bin")) / RUNTIME_PYTHON)]
    candidates.append(shutil.which(RUNTIME_PYTHON) or "")
    probe = "import sys; sys.exit(sys.version_info[:2] != (3, 12))"
    for candidate in filter(None, candidates):
        if not Path(candidate).is_file():
            continue
        if subprocess.run([candidate, "-c", probe], capture_output=True, check=False).returncode == 0:  # noqa: S603
            return candidate
    return None


def built_function(function: FunctionSpec) -> FunctionSpec | None:
    """``function`` as ``sam build`` left it in ``.aws-sam/build`` (its folder and its built layers), or None."""
    if not (SAM_BUILD_DIR / "template.yaml").is_file():
        return None
    return parse_project(SAM_BUILD_DIR).functions.get(function.logical_id)


def _newest_source(function: FunctionSpec) -> Path | None:
    sources = [
        path
        for folder in (function.code_dir, *function.layer_dirs)
        for path in folder.rglob("*")
        if path.suffix == ".py" or path.name in ("requirements.txt", "Makefile")
    ]
    sources.append(PROJECT_DIR / "template.yaml")
    return max(sources, key=lambda path: path.stat().st_mtime, default=None)


def stale_build_source(function: FunctionSpec) -> Path | None:
    """A source file of ``function`` changed after the last ``sam build``, if any."""
    newest = _newest_source(function)
    built_at = (SAM_BUILD_DIR / "template.yaml").stat().st_mtime
    return newest if newest is not None and newest.stat().st_mtime > built_at else None


def foreign_binaries(layer: Path) -> list[tuple[str, str]]:
    """(name, version) of the distributions in a built layer whose wheels are for another machine (arm64 here)."""
    found = []
    for wheel in sorted(layer.glob("*.dist-info/WHEEL")):
        tags = [line.split(":", 1)[1].strip() for line in wheel.read_text().splitlines() if line.startswith("Tag:")]
        platforms = {tag.rsplit("-", 1)[-1] for tag in tags}
        if platforms and "any" not in platforms and not any(p.endswith(platform.machine()) for p in platforms):
            name, version = wheel.parent.name.removesuffix(".dist-info").rsplit("-", 1)
            found.append((name, version))
    return found


def host_wheel(python: str, name: str, version: str) -> Path:
    """``name==version`` for this machine, compiled as layers/stratus/Makefile compiles the layer (cached)."""
    target = HOST_WHEELS_DIR / f"{name}-{version}-{Path(python).name}-{platform.machine()}"
    if not (target / ".complete").is_file():
        shutil.rmtree(target, ignore_errors=True)
        pip = [python, "-m", "pip", "install", "-qq", "--disable-pip-version-check", "--no-deps", "--no-compile"]
        subprocess.run(  # noqa: S603 - our interpreter, a pinned requirement of the layer
            [*pip, "--only-binary=:all:", "--target", str(target), f"{name}=={version}"], check=True
        )
        compileall = [python, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", str(target)]
        subprocess.run(compileall, check=True, stdout=subprocess.DEVNULL)  # noqa: S603
        (target / ".complete").touch()
    return target


def sam_build_setups(built: FunctionSpec, python: str, no_bytecode_dir: Path) -> tuple[Setup, Setup]:
    """The build output as shipped, and the same files with their bytecode ignored."""
    overlays = [
        host_wheel(python, name, version) for layer in built.layer_dirs for name, version in foreign_binaries(layer)
    ]
    path = (*overlays, *built.layer_dirs)
    shipped = Setup("sam build, python3.12, .pyc shipped", path, ("-S", "-B"), python)
    ignored = Setup(
        "sam build, python3.12, bytecode ignored", path, ("-S", "-B", "-X", f"pycache_prefix={no_bytecode_dir}"), python
    )
    return shipped, ignored


def folder_size(folder: Path) -> Size:
    """Files, bytes, and bytes once deflated into a zip (``sam package`` zips a build folder so)."""
    files = sorted(path for path in folder.rglob("*") if path.is_file())
    with tempfile.TemporaryFile() as handle:
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                archive.write(path, path.relative_to(folder))
        zipped = handle.tell()
    return Size(len(files), sum(path.stat().st_size for path in files), zipped)


def bytecode_coverage(folder: Path) -> tuple[int, int]:
    """(modules, of which with an unchecked-hash cpython-312 .pyc beside them): what python3.12 imports as is."""
    sources = [path for path in folder.rglob("*.py") if "__pycache__" not in path.parts]
    compiled = 0
    for source in sources:
        pyc = source.parent / "__pycache__" / f"{source.stem}.cpython-312.pyc"
        # PEP 552: flags 0b01 = hash-based, 0b10 = check the source; unchecked-hash is 0b01
        if pyc.is_file() and int.from_bytes(pyc.read_bytes()[4:8], "little") == 0b01:
            compiled += 1
    return len(sources), compiled


def _environment(function: FunctionSpec, setup: Setup) -> dict[str, str]:
    env = {**function.environment, **os.environ}
    env["PYTHONPATH"] = os.pathsep.join(str(path) for path in setup.pythonpath)
    env.pop("PYTHONSTARTUP", None)
    return env


def _run(
    function: FunctionSpec, setup: Setup, code: str, *args: str, flags: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(  # noqa: S603 - this interpreter, our own snippet
        [setup.python, *setup.flags, *flags, "-c", code, *args],
        cwd=function.code_dir,
        env=_environment(function, setup),
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


def first_requests(
    function: FunctionSpec, setup: Setup, repeats: int, *, primed: bool = False
) -> list[dict[str, Any]] | None:
    """Import + /health + experiments/get (first DynamoDB call) + experiments/get (warm), each in a fresh process.
    ``primed``: the SnapStart hooks the handler registers run between the import and the first request, as Lambda
    runs them before a snapshot; the requests then cost what they cost right after a restore (the restore itself
    aside, which only AWS measures)."""
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
        primed=primed,
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
    """Without SnapStart and primed as before a SnapStart snapshot, side by side, from processes taken in turn."""
    plain: list[dict[str, Any]] = []
    primed: list[dict[str, Any]] = []
    for _ in range(repeats):  # alternated, so that the machine's load falls on both columns alike
        for runs, prime in ((plain, False), (primed, True)):
            run = first_requests(function, setup, 1, primed=prime)
            if run is None:
                print("  first requests: no GET /health route; skipped")
                return
            runs.extend(run)
    statuses = sorted({tuple(call[1] for call in run["calls"]) for run in plain + primed})
    print(f"  first requests, {setup.name}, {repeats} fresh processes each (status codes {statuses}):")
    print(f"    {'':42} {'cold, no SnapStart':>28} | {'primed (SnapStart hooks run)':>28}")
    rows = [
        ("import", lambda r: r["import"]),
        ("SnapStart priming (at snapshot time)", lambda r: r["prime"]),
        ("1st call, GET /health", lambda r: r["calls"][0][0]),
        ("2nd call, experiments/get (1st DynamoDB)", lambda r: r["calls"][1][0]),
        ("3rd call, experiments/get (warm)", lambda r: r["calls"][2][0]),
        ("to the first DynamoDB answer", lambda r: r["import"] + r["calls"][0][0] + r["calls"][1][0]),
        ("the same after a restore (import in snapshot)", lambda r: r["calls"][0][0] + r["calls"][1][0]),
        ("CPU: priming", lambda r: r.get("prime_cpu", 0.0)),
        ("CPU: 1st + 2nd call (this process only)", lambda r: r["calls"][0][2] + r["calls"][1][2]),
    ]
    for label, value in rows:
        print(f"    {label:42} {_ms([value(r) for r in plain]):>28} | {_ms([value(r) for r in primed]):>28}")


def _mb(size: int) -> str:
    return f"{size / 2**20:.1f} MB"


def report_build(built: FunctionSpec) -> None:
    """Sizes of the function and its layers as built, and how much of each ships compiled for python3.12."""
    folders = [("function", built.code_dir)]
    folders += [(f"layer {layer.parent.name}", layer.parent) for layer in built.layer_dirs if layer.name == "python"]
    total = 0
    for label, folder in folders:
        size = folder_size(folder)
        modules, compiled = bytecode_coverage(folder)
        total += size.unzipped
        print(
            f"    {label} ({folder.relative_to(PROJECT_DIR)}): {size.files} files, {_mb(size.unzipped)} unzipped, "
            f"{_mb(size.zipped)} zipped; {compiled} of {modules} modules with an unchecked-hash cpython-312 .pyc"
        )
    print(f"    function + layers unzipped: {_mb(total)} of Lambda's {_mb(LAMBDA_UNZIPPED_LIMIT)}")


def report_sam_build(function: FunctionSpec, repeats: int) -> None:
    built, python = built_function(function), runtime_python()
    if built is None or python is None:
        missing = "python3.12 (set PY312_BIN)" if python is None else "a sam build output with this function"
        print(f"  sam build: skipped, no {missing}; `bash .ci/sam-checks.sh` builds .aws-sam/build")
        return
    print(f"  sam build output ({SAM_BUILD_DIR.relative_to(PROJECT_DIR)}, {python}):")
    stale = stale_build_source(function)
    if stale is not None:
        print(f"    NOTE: {stale.relative_to(PROJECT_DIR)} changed after the build; the figures are the build's")
    report_build(built)
    with tempfile.TemporaryDirectory(prefix="stratus-no-pyc-") as no_bytecode_dir:
        try:
            shipped, ignored = sam_build_setups(built, python, Path(no_bytecode_dir))
            report_imports(built, shipped, repeats)
            report_contributors(built, shipped)
            report_first_requests(built, shipped, max(3, repeats // 2))
            report_imports(built, ignored, max(3, repeats // 2))
        except (SnippetError, subprocess.CalledProcessError) as exc:
            print(f"  sam build: the handler does not import from the build output: {exc}")


def report_function(function: FunctionSpec, repeats: int) -> None:
    layers = ", ".join(str(d.relative_to(PROJECT_DIR)) for d in function.layer_dirs) or "none"
    print(f"{function.logical_id} ({function.code_dir.relative_to(PROJECT_DIR)}/{function.handler}, layers: {layers})")
    venv = venv_setup(function)
    try:
        report_imports(function, venv, repeats)
        report_first_requests(function, venv, max(3, repeats // 2))
    except SnippetError as exc:
        print(f"  venv: the handler does not import: {exc}")
    report_sam_build(function, repeats)


def run(bench: Bench | None, repeats: int = 10) -> None:
    """Part 2. ``bench`` is the running stack whose DynamoDB the first requests use (its env is inherited)."""
    print("Part 2: cold start of each function (fresh interpreters; interpreter start-up excluded)")
    if bench is not None and bench.stack.endpoints is not None:
        print(f"  first requests go to {bench.stack.endpoints.dynamodb_kind} at {bench.stack.endpoints.dynamodb}")
    template = parse_project(PROJECT_DIR)
    for function in template.functions.values():
        report_function(function, repeats)
    print()
