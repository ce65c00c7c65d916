"""The reference ``mlflow server`` the comparison runs against: SQLite backend, proxied artifacts in a folder."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from stratus_local.backends import port_for_child

STARTUP_SECONDS = 180


def mlflow_command() -> list[str]:
    """``mlflow`` next to this interpreter (the project's .venv has mlflow==3.17.2)."""
    beside = Path(sys.executable).with_name("mlflow")
    return [str(beside)] if beside.is_file() else [sys.executable, "-m", "mlflow"]


@contextmanager
def reference_server(folder: Path, workers: int = 1) -> Iterator[Callable[[], str]]:
    """``mlflow server`` with ``sqlite:///<folder>/mlflow.db`` and ``--artifacts-destination <folder>/artifacts``
    (proxied artifacts, ``mlflow-artifacts:/`` URIs) on a free port, in its own process group. Yields at once a
    callable that waits until the server answers and returns its URL (so the caller can start other things); its
    ``pid`` is the server's, which leads its own process group (``benchmarks.bulk_load`` adds up its CPU time)."""
    port = port_for_child()
    command = [
        *mlflow_command(), "server",
        "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
        "--artifacts-destination", str(folder / "artifacts"),
        "--serve-artifacts",
        "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers),
    ]  # fmt: skip
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    env.pop("MLFLOW_TRACKING_URI", None)
    log_path = folder / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - mlflow from our venv, fixed arguments
            command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=folder, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"

    def ready() -> str:
        wait_healthy(url, process, log_path)
        return url

    ready.pid = process.pid  # type: ignore[attr-defined] - the process group's leader, for CPU accounting
    try:
        yield ready
    finally:
        stop_process_group(process)


def wait_healthy(url: str, process: subprocess.Popen[bytes], log_path: Path, seconds: float = STARTUP_SECONDS) -> None:
    """Block until ``/health`` answers; a server that exits or never answers is an error with its log's tail."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}: {log_path.read_text()[-2000:]}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{url}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise RuntimeError(f"{url} not healthy after {seconds} s: {log_path.read_text()[-2000:]}")


def stop_process_group(process: subprocess.Popen[bytes], grace_seconds: float = 15) -> None:
    """End the process group a server leads (``stratus local`` starts DynamoDB Local, Java, as a child)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)
