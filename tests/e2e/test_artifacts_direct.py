"""Direct artifacts: a deployment with ``ArtifactAccess=direct`` hands out ``s3://`` locations and the stock client
reads and writes the bucket itself (boto3), so no artifact byte reaches a function. ``stratus local --artifacts
direct`` runs in its own process here: a stack sets the process environment its handlers read."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests

PROJECT_DIR = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def direct_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Start ``stratus local --artifacts direct`` and return the environment it prints for clients."""
    log_path = tmp_path_factory.mktemp("direct") / "stratus.log"
    port = _free_port()
    command = [sys.executable, "-m", "stratus_local.cli", "local", "--ephemeral", "--quiet", "--artifacts", "direct"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_S3", "STRATUS_"))}
    layers = [str(PROJECT_DIR / "layers" / "local"), str(PROJECT_DIR / "layers" / "stratus")]
    env["PYTHONPATH"] = os.pathsep.join([*layers, env.get("PYTHONPATH", "")])
    with log_path.open("w") as log:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [*command, "--port", str(port), "--project-dir", str(PROJECT_DIR)],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=env,
        )
    try:
        printed = _read_exports(process, timeout_s=120)
        yield printed
    finally:
        process.terminate()
        process.wait(timeout=30)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


@pytest.fixture
def direct_client(direct_stack: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    import mlflow

    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    for name, value in direct_stack.items():
        monkeypatch.setenv(name, value)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(direct_stack["MLFLOW_TRACKING_URI"])
    yield mlflow
    mlflow.set_tracking_uri(previous)


def test_the_stack_prints_what_a_direct_client_needs(direct_stack: dict[str, str]) -> None:
    assert set(direct_stack) >= {"MLFLOW_TRACKING_URI", "MLFLOW_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID"}


def test_files_and_a_large_file_go_straight_to_s3(direct_client, tmp_path: Path) -> None:  # noqa: ANN001
    mlflow = direct_client
    mlflow.set_experiment("direct-e2e")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(12 * MIB))  # over the 10 MiB API limit: only possible without the API in between
    with mlflow.start_run() as run:
        mlflow.log_text("hello", "t/hello.txt")
        mlflow.log_artifact(str(big), "data")
    assert run.info.artifact_uri.startswith("s3://")
    assert "/mlartifacts/" in run.info.artifact_uri
    client = mlflow.MlflowClient()
    assert {f.path for f in client.list_artifacts(run.info.run_id)} == {"t", "data"}
    back = Path(client.download_artifacts(run.info.run_id, "data/big.bin", str(tmp_path / "back")))
    assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(big.read_bytes()).digest()
    assert mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/t/hello.txt") == "hello"


def test_a_model_logged_and_loaded_with_direct_artifacts(direct_client) -> None:  # noqa: ANN001
    from sklearn.linear_model import LinearRegression

    mlflow = direct_client
    mlflow.set_experiment("direct-models")
    features = np.array([[1.0], [2.0], [3.0]])
    model = LinearRegression().fit(features, np.array([2.0, 4.0, 6.0]))
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(model, name="model")
    assert mlflow.get_logged_model(info.model_id).artifact_location.startswith("s3://")
    for uri in (f"runs:/{run.info.run_id}/model", f"models:/{info.model_id}"):
        assert np.allclose(mlflow.pyfunc.load_model(uri).predict(features), model.predict(features)), uri


def test_server_info_still_answers(direct_stack: dict[str, str]) -> None:
    info = requests.get(f"{direct_stack['MLFLOW_TRACKING_URI']}/api/3.0/mlflow/server-info", timeout=10).json()
    assert info["multipart_downloads_enabled"] is True
