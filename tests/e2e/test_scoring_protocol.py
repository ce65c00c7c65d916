"""MLflow's scoring protocol as a Stratus deployment answers it (``serving/stratus_serving``), against ``mlflow
models serve`` itself, request by request: every JSON input format with and without params, CSV, parquet, the wrong
content type, malformed JSON, two formats at once and a schema mismatch. Same status, same content type, same body;
Stratus adds only the headers that name the model version and run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
import requests
from mlflow.models import infer_signature
from scoring_cases import CASES, comparable
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from stratus_local.backends import port_for_child
from stratus_serving.scoring import Lineage, Scorer

STARTUP_SECONDS = 90


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    iris = load_iris(as_frame=True)
    features = iris.data.iloc[:, :2].rename(columns=lambda c: c.split(" (")[0].replace(" ", "_"))
    model = LogisticRegression(max_iter=200).fit(features, iris.target)
    folder = tmp_path_factory.mktemp("model") / "iris"
    mlflow.sklearn.save_model(
        model, folder, signature=infer_signature(features, model.predict(features)), input_example=features.head(2)
    )
    return folder


@pytest.fixture(scope="module")
def reference(model_dir: Path) -> Iterator[str]:
    """``mlflow models serve`` on the model, as a user would start it."""
    port = port_for_child()
    # uvicorn, which mlflow models serve starts by name, lives beside this interpreter
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path, "MLFLOW_DISABLE_TELEMETRY": "true"}
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(model_dir), "--env-manager", "local",
               "--host", "127.0.0.1", "-p", str(port)]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                if requests.get(f"{url}/ping", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow models serve did not start: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def scorer(model_dir: Path) -> Scorer:
    lineage = Lineage(str(model_dir), model_name="iris", model_version="3", run_id="r" * 32, deployment="iris-prod")
    return Scorer.load(lineage)


@pytest.mark.parametrize("case", list(CASES))
def test_scoring_answers_as_mlflow_models_serve(case: str, scorer: Scorer, reference: str) -> None:
    content_type, body = CASES[case]
    theirs = requests.post(f"{reference}/invocations", data=body, headers={"Content-Type": content_type}, timeout=30)
    ours = scorer.answer("POST", "/invocations", content_type, body)
    assert comparable(ours.status, ours.content_type, ours.body) == comparable(
        theirs.status_code, theirs.headers.get("content-type", ""), theirs.content
    )
    assert ours.status < 500
    assert ours.headers["x-stratus-model-version"] == "3" and ours.headers["x-stratus-run-id"] == "r" * 32


def test_health_and_version(scorer: Scorer, reference: str) -> None:
    for path in ("/ping", "/health", "/version"):
        theirs = requests.get(f"{reference}{path}", timeout=10)
        ours = scorer.answer("GET", path, None, b"")
        assert (ours.status, ours.body) == (theirs.status_code, theirs.content)
