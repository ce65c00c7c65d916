"""S3-driven registration under ``stratus local``: a pipeline that never used the mlflow client drops an MLflow model
folder under ``register/<name>/<drop>/`` of the artifact bucket; the bucket notifies the registration queue (moto),
stratus local feeds it to RegistrationFunction, and the folder becomes a version that loads with the stock client."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import boto3
import mlflow
import numpy as np
from mlflow import MlflowClient

DEADLINE_S = 40


def test_a_dropped_model_folder_becomes_a_ready_version_that_loads(tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    features = np.array([[1.0], [2.0], [3.0]])
    model = LinearRegression().fit(features, np.array([3.0, 5.0, 7.0]))
    folder = tmp_path / "model"
    mlflow.sklearn.save_model(model, str(folder), serialization_format="cloudpickle")
    name = f"dropped-{uuid.uuid4().hex[:6]}"
    s3, bucket = boto3.client("s3"), os.environ["STRATUS_ARTIFACT_BUCKET"]
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    # The MLmodel first: the version must wait for the files it names.
    files.sort(key=lambda p: p.name != "MLmodel")
    for path in files:
        s3.upload_file(str(path), bucket, f"register/{name}/2026-11-27/{path.relative_to(folder).as_posix()}")

    client = MlflowClient()
    deadline, version = time.monotonic() + DEADLINE_S, None
    while time.monotonic() < deadline:
        found = client.search_model_versions(f"name = '{name}'")
        if found and found[0].status == "READY":
            version = found[0]
            break
        time.sleep(0.5)
    assert version is not None, "the dropped folder did not become a READY version"
    assert version.version == "1"
    assert version.source == f"s3://{bucket}/register/{name}/2026-11-27"
    loaded = mlflow.pyfunc.load_model(f"models:/{name}/1")
    assert np.allclose(loaded.predict(features), model.predict(features))
    # The same files again (a repeated drop of one folder) never make a second version.
    for path in files:
        s3.upload_file(str(path), bucket, f"register/{name}/2026-11-27/{path.relative_to(folder).as_posix()}")
    time.sleep(3)
    assert [v.version for v in client.search_model_versions(f"name = '{name}'")] == ["1"]
