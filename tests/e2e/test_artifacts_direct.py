"""Direct artifacts: a deployment with ``ArtifactAccess=direct`` hands out ``s3://`` locations and the stock client
reads and writes the bucket itself (boto3), so no artifact byte reaches a function. ``stratus local --artifacts
direct`` runs in its own process here: a stack sets the process environment its handlers read."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
from local_process import stratus_local_process

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def direct_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Start ``stratus local --artifacts direct`` and return the environment it prints for clients."""
    log_path = tmp_path_factory.mktemp("direct") / "stratus.log"
    with stratus_local_process(["--artifacts", "direct"], log_path, dropped_env=("MLFLOW_S3",)) as exports:
        yield exports


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
