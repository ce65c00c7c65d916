"""Start `stratus local` (throw-away state) once per test worker and point the stock mlflow client at it.

``reference_uri`` starts the reference ``mlflow server`` (SQLite backend) for differential tests.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from stratus_local.backends import port_for_child
from stratus_local.stack import LocalStack

PROJECT_DIR = Path(__file__).resolve().parents[2]
REFERENCE_STARTUP_SECONDS = 180


@pytest.fixture(scope="session")
def tracking_uri() -> Iterator[str]:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    # Webhook receivers in these tests listen on loopback over http, which MLflow (and Stratus) refuse by default.
    os.environ.setdefault("MLFLOW_WEBHOOK_ALLOWED_SCHEMES", "http,https")
    os.environ.setdefault("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS", "true")
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


class ReferenceServer:
    """``mlflow server`` (the mlflow installed next to pytest) with a fresh SQLite store, as a subprocess.

    ``start`` returns at once (the server takes tens of seconds to boot); ``wait`` blocks until ``/health`` answers.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.url = f"http://127.0.0.1:{port_for_child()}"
        self.log_path = folder / "server.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._healthy = False

    def start(self) -> None:
        env = {
            **os.environ,
            "MLFLOW_DISABLE_TELEMETRY": "true",
            # Background job workers (huey) are irrelevant to tracking and slow the server's start down.
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        }
        env.pop("MLFLOW_TRACKING_URI", None)
        port = self.url.rsplit(":", 1)[1]
        command = [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", f"sqlite:///{self.folder / 'ref.db'}",
            "--default-artifact-root", str(self.folder / "art"),
            "--host", "127.0.0.1", "--port", port,
            "--workers", "1",
        ]  # fmt: skip
        with self.log_path.open("wb") as log:
            # A session of its own, so that stop() can end uvicorn and every worker with one killpg.
            self._process = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
                command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.folder, start_new_session=True
            )

    def wait(self) -> str:
        """Block until the server answers ``/health``; returns its base URL."""
        if self._healthy:
            return self.url
        if self._process is None:
            raise RuntimeError("the reference server was not started")
        deadline = time.monotonic() + REFERENCE_STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {self._process.returncode}:\n{self._log_tail()}")
            try:
                if requests.get(f"{self.url}/health", timeout=2).status_code == 200:
                    self._healthy = True
                    return self.url
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"mlflow server not healthy after {REFERENCE_STARTUP_SECONDS}s:\n{self._log_tail()}")

    def stop(self) -> None:
        """End the whole process group the server leads (it spawns uvicorn, and huey workers unless disabled)."""
        process, self._process = self._process, None
        if process is None:
            return
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

    def _log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@pytest.fixture(scope="session")
def reference_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReferenceServer]:
    """The reference server, started but maybe not ready yet: call ``wait()`` (or use ``reference_uri``)."""
    server = ReferenceServer(tmp_path_factory.mktemp("reference"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def reference_uri(reference_server: ReferenceServer) -> str:
    """Base URL of the reference ``mlflow server``, once it is ready."""
    return reference_server.wait()
