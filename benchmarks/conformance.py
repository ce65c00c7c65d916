"""MLflow's own server tests, bodies unchanged, against ``stratus local`` and the reference ``mlflow server``.

    python -m benchmarks.conformance [--target stratus|reference|both] [--mlflow-src DIR] [-k EXPR] [--isolate]
                                     [--mlflow-ref v3.17.2] [--mlflow-repo URL] [--out DIR] [--timeout 180]

MLflow's tests (``tests/tracking/test_rest_tracking.py`` and ``tests/tracking/test_model_registry.py``) come from
``--mlflow-src`` (a checkout of MLflow), else from ``~/.cache/stratus/mlflow-tests-<ref>``, else from a sparse,
shallow clone of ``--mlflow-repo`` at ``--mlflow-ref`` (the tag of the pinned client) into that cache folder. None
of it is written inside this repository.

Each target is started on a free loopback port (``stratus local --ephemeral``; ``mlflow server`` on SQLite with
proxied artifacts) and pytest runs the two files inside the MLflow checkout with MLflow's own conftest and
``benchmarks.conformance_plugin``, which makes the tests' server fixtures yield the target's URL. All tests share one
server, so tests that expect a fresh, empty server fail on the reference too: only the tests that pass on the
reference are counted. ``--isolate`` then re-runs each test that failed on the shared reference alone, on a fresh
server of each kind (about 15 s of server start and stop per test and target), and counts those results instead.
Tests that cannot apply to an external server are deselected (the plugin says why).

Writes ``<target>.xml`` (junit; ``<target>-isolated.xml`` for ``--isolate``), ``<target>.log`` (pytest's output),
``<target>-server.log`` and ``summary.json`` under ``--out``; prints the counts, the tests that pass on the reference
and fail on Stratus with the first line of each failure, and closes with ``conformance: N passed, M failed``
(reference-passing tests only). Exit status 1 when one of those fails on Stratus.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from benchmarks.reference import reference_server, stop_process_group, wait_healthy
from stratus_local.backends import port_for_child

PROJECT_DIR = Path(__file__).resolve().parents[1]
PINNED_MLFLOW = "v3.17.2"
"""The tag of the mlflow client this project pins (pyproject.toml): its tests describe the server it talks to."""
MLFLOW_REPO = "https://github.com/mlflow/mlflow"
CACHE_DIR = Path.home() / ".cache" / "stratus"
TEST_FILES = ("tests/tracking/test_rest_tracking.py", "tests/tracking/test_model_registry.py")
STARTUP_SECONDS = 300
"""``stratus local`` fetches DynamoDB Local once (npm) on a new machine: its first start can take minutes."""
SECRETS_PASSPHRASE = "test-passphrase-at-least-32-characters-long"
"""What MLflow's server fixtures set as ``MLFLOW_CRYPTO_KEK_PASSPHRASE`` (its AI gateway secrets need one); the
reference server gets the same so that its secrets tests can run against it."""
TARGETS = ("reference", "stratus")


# --- MLflow's tests -----------------------------------------------------------------------------------------------


def mlflow_tests(args: argparse.Namespace) -> Path:
    """The MLflow checkout to run: ``--mlflow-src``, else the cache folder, else a fresh sparse clone into it."""
    if args.mlflow_src:
        source = Path(args.mlflow_src).expanduser().resolve()
        missing = [name for name in TEST_FILES if not (source / name).is_file()]
        if missing:
            raise SystemExit(f"--mlflow-src {source} has no {', '.join(missing)}")
        return source
    cache = CACHE_DIR / f"mlflow-tests-{args.mlflow_ref.removeprefix('v')}"
    if all((cache / name).is_file() for name in TEST_FILES):
        return cache
    return clone_tests(args.mlflow_repo, args.mlflow_ref, cache)


def clone_tests(repo: str, ref: str, destination: Path) -> Path:
    """Only ``tests/`` (and the top-level files: MLflow's pytest settings are in its pyproject.toml) at ``ref``,
    without history or other blobs: a few MB instead of MLflow's whole history."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=destination.name + ".", dir=destination.parent))
    try:
        git = ["git", "-c", "advice.detachedHead=false"]
        clone = [*git, "clone", "--quiet", "--depth", "1", "--branch", ref, "--filter=blob:none", "--sparse"]
        subprocess.run([*clone, repo, str(scratch)], check=True)  # noqa: S603 - git with our own arguments
        subprocess.run([*git, "-C", str(scratch), "sparse-checkout", "set", "tests"], check=True)  # noqa: S603
        shutil.rmtree(destination, ignore_errors=True)
        scratch.rename(destination)
    except (OSError, subprocess.CalledProcessError) as error:
        shutil.rmtree(scratch, ignore_errors=True)
        raise SystemExit(
            f"could not fetch MLflow's tests ({error}); pass a checkout of MLflow {ref} with --mlflow-src DIR"
        ) from error
    return destination


def describe_source(source: Path) -> str:
    """Which MLflow commit the tests come from, as git tells it (a plain copy says nothing)."""
    git = ["git", "-C", str(source)]
    try:
        commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout  # noqa: S603
    except (OSError, subprocess.CalledProcessError):
        return f"{source} (not a git checkout: version unknown)"
    described = subprocess.run(  # noqa: S603 - git with our own arguments
        [*git, "describe", "--tags", "--always"], capture_output=True, text=True, check=False
    ).stdout
    return f"{source} at {commit.strip()} ({described.strip() or 'no tag'})"


# --- servers --------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def stratus_server(log_path: Path) -> Iterator[str]:
    """``stratus local --ephemeral`` as its own process (as a user runs it), on a free port; yields its URL."""
    port = port_for_child()
    stratus = Path(sys.executable).with_name("stratus")
    command = [str(stratus), "local", "--ephemeral", "--host", "127.0.0.1", "--port", str(port)]
    env = {key: value for key, value in os.environ.items() if key != "MLFLOW_TRACKING_URI"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - the stratus command next to this interpreter
            command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=PROJECT_DIR, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process, log_path, STARTUP_SECONDS)
        yield url
    finally:
        stop_process_group(process, grace_seconds=30)


@contextlib.contextmanager
def target_server(target: str, out: Path) -> Iterator[str]:
    """The server named ``target``, ready; yields its base URL."""
    if target == "stratus":
        with stratus_server(out / "stratus-server.log") as url:
            yield url
        return
    folder = Path(tempfile.mkdtemp(prefix="conformance-reference."))
    try:
        with reference_server(folder) as ready:
            url = ready()
            shutil.copyfile(folder / "server.log", out / "reference-server.log")
            yield url
    finally:
        with contextlib.suppress(OSError):
            shutil.copyfile(folder / "server.log", out / "reference-server.log")
        shutil.rmtree(folder, ignore_errors=True)


# --- one pytest run ---------------------------------------------------------------------------------------------------


def run_pytest(source: Path, target: str, args: argparse.Namespace, url: str | None = None) -> int:
    """MLflow's two test files in ``source`` against ``url``, or with ``url`` None the tests listed in
    ``isolate.json``, each on a fresh server; junit XML, pytest's output and the deselected tests go to ``--out``."""
    out: Path = args.out
    name = target if url else f"{target}-isolated"
    command = [
        sys.executable, "-m", "pytest", *TEST_FILES,
        "-p", "benchmarks.conformance_plugin",
        "--conformance-excluded", str(out / f"{name}-excluded.json"),
        "--conformance-timeout", str(args.timeout),
        "--junitxml", str(out / f"{name}.xml"),
        "-p", "no:cacheprovider",  # no .pytest_cache written into the MLflow checkout
        "-o", "junit_family=xunit1",
        "--color=no",
    ]  # fmt: skip
    if url:
        command += ["--conformance-url", url]
    else:
        (out / "fresh").mkdir(exist_ok=True)
        command += ["--conformance-fresh", target, "--conformance-out", str(out / "fresh")]
        command += ["--conformance-only", str(out / "isolate.json")]
    if args.k:
        command += ["-k", args.k]
    env = {
        **os.environ,
        # MLflow's checkout first: its `tests` package, not this project's tests/.
        "PYTHONPATH": os.pathsep.join([str(source), str(PROJECT_DIR)]),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        # A 5xx is a failure to report, not something to retry for minutes (the client's default: 7 retries).
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    }
    for variable in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "CI", "GITHUB_ACTIONS"):
        env.pop(variable, None)  # CI=true makes MLflow's conftest build a wheel of the checkout (--serve-wheel)
    where = url or "a fresh server for each test"
    print(f"[{name}] pytest against {where} (output: {out / f'{name}.log'})", flush=True)
    started = time.monotonic()
    with (out / f"{name}.log").open("wb") as log:
        code = subprocess.run(command, cwd=source, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)  # noqa: S603
    print(f"[{name}] pytest exited {code.returncode} after {time.monotonic() - started:.0f} s", flush=True)
    if not (out / f"{name}.xml").is_file():
        raise SystemExit(f"[{name}] pytest wrote no results: see {out / f'{name}.log'}")
    return code.returncode


# --- results ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One test's result in a junit file: passed, failed (error included) or skipped, with the first line why."""

    status: str
    detail: str = ""


def read_junit(path: Path) -> dict[str, Outcome]:
    """Test id (``module::name[params]``) to outcome. A test that passed but errored in teardown counts as failed."""
    outcomes: dict[str, Outcome] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is not None:
            outcomes[name] = Outcome("failed", first_line(problem))
        elif (skipped := case.find("skipped")) is not None:
            outcomes[name] = Outcome("skipped", first_line(skipped))
        else:
            outcomes[name] = Outcome("passed")
    return outcomes


def first_line(element: ET.Element) -> str:
    """The failure's message (else the first ``E`` line of its traceback), cut to 300 characters, and the line of
    the test that failed when the message alone does not say what was checked (``assert 404 == 400``)."""
    text = element.text or ""
    lines = (element.get("message") or "").strip().splitlines()
    if not lines:
        lines = [line[1:].strip() for line in text.splitlines() if line.startswith("E ")]
    message = (lines[0] if lines else "(no message)")[:300]
    failing = [line[1:].strip() for line in text.splitlines() if line.startswith("> ")]
    return f"{message}  [at: {failing[-1][:160]}]" if failing and message.startswith("assert") else message


def outcomes(out: Path, target: str, isolated: bool) -> dict[str, Outcome] | None:
    """The target's results: the shared server's, with those of the tests re-run alone replacing theirs when
    ``isolated`` (``--isolate``). None when the target has no results in ``out``."""
    shared = out / f"{target}.xml"
    if not shared.is_file():
        return None
    merged = read_junit(shared)
    if isolated and (alone := out / f"{target}-isolated.xml").is_file():
        merged.update(read_junit(alone))
    return merged


def read_excluded(out: Path) -> list[dict[str, str]]:
    """The tests the plugin deselected, and why (the same for every target of one checkout)."""
    for target in reversed(TARGETS):
        if (path := out / f"{target}-excluded.json").is_file():
            return json.loads(path.read_text())
    return []


def summarize(out: Path, source_text: str, targets: tuple[str, ...], isolated: bool) -> tuple[dict, list[str]]:
    """Counts and lines to print. A Stratus-only run is counted against the reference's results of an earlier run
    in ``out`` when there are some."""
    reference = outcomes(out, "reference", isolated)
    stratus = outcomes(out, "stratus", isolated) if "stratus" in targets else None
    excluded = read_excluded(out)
    ran = len(stratus if stratus is not None else reference or {})
    alone = json.loads((out / "isolate.json").read_text()) if isolated else []
    lines = [
        f"MLflow tests: {source_text}",
        f"collected {ran + len(excluded)}; not applicable to an external server {len(excluded)}; run {ran}",
        *(f"  {count:4d} {reason}" for reason, count in Counter(e["reason"] for e in excluded).most_common()),
    ]
    if alone:
        lines.append(f"re-run alone on a fresh server: the {len(alone)} tests that failed on the shared reference")
    summary: dict = {"source": source_text, "run": ran, "excluded": excluded, "isolated": alone}
    passed: list[str] = []
    if reference is not None:
        passed = sorted(name for name, outcome in reference.items() if outcome.status == "passed")
        lines.append(f"reference: {len(passed)} passed of {len(reference)}")
        summary["reference_passed"] = len(passed)
        summary["reference_failed"] = {n: o.detail for n, o in reference.items() if o.status != "passed"}
    if stratus is None:
        return summary, lines
    counted = passed if reference is not None else sorted(stratus)
    failing = {n: stratus.get(n, Outcome("missing", "not run on stratus")) for n in counted}
    failing = {n: o for n, o in failing.items() if o.status != "passed"}
    ok = len(counted) - len(failing)
    basis = "that pass on the reference" if reference is not None else "run (no reference results to compare with)"
    lines.append(f"stratus: {ok} passed of the {len(counted)} {basis}")
    if failing:
        lines.append("pass on the reference, fail on stratus:")
        lines += [f"  {name}: {outcome.detail}" for name, outcome in sorted(failing.items())]
    if reference is not None:
        extra = sorted(n for n, o in stratus.items() if o.status == "passed" and n not in passed)
        if extra:
            lines.append(f"pass on stratus, not on the reference ({len(extra)}): " + ", ".join(extra))
    summary.update(stratus_passed=ok, stratus_failed={n: o.detail for n, o in failing.items()})
    lines.append(f"conformance: {ok} passed, {len(failing)} failed")
    return summary, lines


# --- entry point --------------------------------------------------------------------------------------------------


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.conformance", description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=["stratus", "reference", "both"], default="both")
    parser.add_argument("--mlflow-src", help="a checkout of MLflow (its tests/ folder is used)")
    parser.add_argument("--mlflow-ref", default=PINNED_MLFLOW, help="tag to clone when no checkout is given")
    parser.add_argument("--mlflow-repo", default=MLFLOW_REPO, help="repository to clone from")
    parser.add_argument("-k", help="pytest -k expression, to run some tests only")
    parser.add_argument(
        "--isolate",
        action="store_true",
        help="then re-run each test that failed on the shared reference alone, on a fresh server (both targets; "
        "about 25 s a test)",
    )
    parser.add_argument("--out", type=Path, default=CACHE_DIR / "conformance", help="where results are written")
    parser.add_argument("--timeout", type=int, default=180, help="seconds one test may take")
    return parser.parse_args(argv)


def isolate_list(out: Path) -> list[str]:
    """The tests that failed on the shared reference server: most expect a fresh, empty server."""
    shared = out / "reference.xml"
    if not shared.is_file():
        raise SystemExit(f"--isolate needs the reference's results ({shared}): run --target reference or both")
    failed = sorted(name for name, outcome in read_junit(shared).items() if outcome.status != "passed")
    (out / "isolate.json").write_text(json.dumps(failed, indent=1))
    return failed


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    source = mlflow_tests(args)
    source_text = describe_source(source)
    args.out.mkdir(parents=True, exist_ok=True)
    # The reference server takes its environment from this process's (benchmarks.reference).
    os.environ["MLFLOW_CRYPTO_KEK_PASSPHRASE"] = SECRETS_PASSPHRASE
    targets = TARGETS if args.target == "both" else (args.target,)
    for stale in [f"{t}{suffix}" for t in targets for suffix in (".xml", "-isolated.xml")]:
        (args.out / stale).unlink(missing_ok=True)
    for target in targets:
        with target_server(target, args.out) as url:
            run_pytest(source, target, args, url)
    if args.isolate and isolate_list(args.out):
        for target in targets:
            run_pytest(source, target, args)
    summary, lines = summarize(args.out, source_text, targets, args.isolate)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    print("\n".join(lines))
    return 1 if summary.get("stratus_failed") else 0


if __name__ == "__main__":
    sys.exit(main())
