"""Start `stratus local` (throw-away state) once per test worker and point the stock mlflow client at it.

``reference_uri`` starts the reference ``mlflow server`` (SQLite backend) for differential tests.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from stratus_local.stack import LocalStack

PROJECT_DIR = Path(__file__).resolve().parents[2]
REFERENCE_STARTUP_SECONDS = 180


@pytest.fixture(scope="session")
def tracking_uri() -> Iterator[str]:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with LocalStack(PROJECT_DIR, ephemeral=True, port=0, log_requests=False) as stack:
        uri = stack.base_url
        os.environ["MLFLOW_TRACKING_URI"] = uri
        yield uri


@pytest.fixture(autouse=True)
def _fluent_client(tracking_uri: str) -> Iterator[None]:
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    yield
    while mlflow.active_run() is not None:
        mlflow.end_run()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_health(base_url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + REFERENCE_STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mlflow server exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            if requests.get(f"{base_url}/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"mlflow server not healthy after {REFERENCE_STARTUP_SECONDS}s:\n{log_path.read_text()[-4000:]}")


def _stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """The server spawns uvicorn (and, unless disabled, huey workers): end the whole group it leads."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)
    with contextlib.suppress(ProcessLookupError):  # children that outlived their leader
        os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def reference_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The reference ``mlflow server`` (the mlflow installed next to pytest) with a fresh SQLite store."""
    folder = tmp_path_factory.mktemp("reference")
    port = _free_port()
    env = {
        **os.environ,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        # Background job workers (huey) are irrelevant to tracking and slow the server's start down.
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{folder / 'ref.db'}",
        "--default-artifact-root", str(folder / "art"),
        "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1",
    ]  # fmt: skip
    log_path = folder / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
            command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=folder, start_new_session=True
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_health(base_url, process, log_path)
        yield base_url
    finally:
        _stop_process_group(process)
