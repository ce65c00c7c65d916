"""``stratus local`` keeps runs and artifacts in its state folder: after the process is killed (no clean stop) and
started again, what a client logged more than a few seconds before is still there."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stratus_local.backends import port_for_child

PROJECT_DIR = Path(__file__).resolve().parents[2]


def _start(state_dir: Path, port: int, log: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_S3", "STRATUS_"))}
    layers = [str(PROJECT_DIR / "layers" / "local"), str(PROJECT_DIR / "layers" / "stratus")]
    env["PYTHONPATH"] = os.pathsep.join([*layers, env.get("PYTHONPATH", "")])
    command = [sys.executable, "-m", "stratus_local.cli", "local", "--quiet", "--state-dir", str(state_dir)]
    with log.open("a") as handle:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [*command, "--port", str(port), "--project-dir", str(PROJECT_DIR)],
            stdout=subprocess.PIPE,
            stderr=handle,
            text=True,
            env=env,
            start_new_session=True,
        )
    assert process.stdout is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"stratus local exited: {log.read_text()[-2000:]}")
        if re.match(r"export MLFLOW_TRACKING_URI=", line):
            return process
    raise RuntimeError("stratus local did not start in time")


def test_runs_and_artifacts_survive_a_killed_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow
    from mlflow import MlflowClient

    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(name)
    port, log = port_for_child(), tmp_path / "stratus.log"
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"http://127.0.0.1:{port}")
    try:
        first = _start(tmp_path / "state", port, log)
        try:
            experiment_id = MlflowClient().create_experiment("survives")
            run_id = MlflowClient().create_run(experiment_id).info.run_id
            MlflowClient().log_text(run_id, "still here", "kept.txt")
            time.sleep(7)  # longer than the autosave interval
        finally:
            os.killpg(first.pid, signal.SIGKILL)  # no clean stop: nothing is saved on the way out
            first.wait(timeout=30)
        time.sleep(1)
        second = _start(tmp_path / "state", port, log)
        try:
            assert MlflowClient().get_run(run_id).info.experiment_id == experiment_id
            assert mlflow.artifacts.load_text(f"runs:/{run_id}/kept.txt") == "still here"
        finally:
            second.terminate()
            second.wait(timeout=60)
    finally:
        mlflow.set_tracking_uri(previous)
