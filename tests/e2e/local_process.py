"""``stratus local`` in a process of its own, for tests that need their own options or environment (a stack sets
the process environment its handlers read, so such a server cannot share the test session's process)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from child_process import child_environment

PROJECT_DIR = Path(__file__).resolve().parents[2]


@contextmanager
def stratus_local_process(
    options: list[str], log_path: Path, env: dict[str, str] | None = None, dropped_env: tuple[str, ...] = ()
) -> Iterator[dict[str, str]]:
    """Start an ephemeral ``stratus local`` with ``options`` on a port the kernel picks, yield the
    ``export NAME=value`` lines it prints for clients (``MLFLOW_TRACKING_URI`` among them), and stop it.
    ``dropped_env``: prefixes of this process's variables the server must not see; ``env``: variables to add."""
    keep = child_environment(*dropped_env)
    command = [sys.executable, "-m", "stratus_local.cli", "local", "--ephemeral", "--quiet", *options]
    with log_path.open("w") as log:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [*command, "--port", "0", "--project-dir", str(PROJECT_DIR)],  # the kernel picks; the exports say which
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env={**keep, **(env or {})},
        )
    try:
        yield _read_exports(process, timeout_s=120)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _read_exports(process: subprocess.Popen[str], timeout_s: float) -> dict[str, str]:
    assert process.stdout is not None
    exports: dict[str, str] = {}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"stratus local exited with {process.poll()}")
        found = re.match(r"export (\w+)=(.*)", line.strip())
        if found:
            exports[found.group(1)] = found.group(2)
        elif exports and not line.strip():
            return exports
    raise RuntimeError("stratus local did not print its environment in time")
