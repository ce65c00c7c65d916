"""S3-driven registration under ``stratus local``: a pipeline that never used the mlflow client drops an MLflow model
folder under ``register/<name>/<drop>/`` of the artifact bucket; the bucket notifies the registration queue (moto),
stratus local feeds it to RegistrationFunction, and the folder becomes a version that loads with the stock client."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from urllib.parse import unquote_plus

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


def test_a_bad_upload_ends_in_the_dead_letter_queue_and_creates_nothing() -> None:
    s3, sqs = boto3.client("s3"), boto3.client("sqs")
    bucket = os.environ["STRATUS_ARTIFACT_BUCKET"]
    name = f"poison-{uuid.uuid4().hex[:6]}"
    s3.put_object(Bucket=bucket, Key=f"register/{name}/1/MLmodel", Body=b"flavors: [not, yaml")
    dead_letters = sqs.get_queue_url(QueueName="registration-dead-letter-queue")["QueueUrl"]
    deadline, arrived = time.monotonic() + 60, []
    while time.monotonic() < deadline and not arrived:
        for message in sqs.receive_message(QueueUrl=dead_letters, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            keys = [unquote_plus(r["s3"]["object"]["key"]) for r in json.loads(message["Body"]).get("Records", [])]
            if f"register/{name}/1/MLmodel" in keys:  # keys arrive URL-encoded, as S3 sends them
                arrived.append(message)
            sqs.delete_message(QueueUrl=dead_letters, ReceiptHandle=message["ReceiptHandle"])
    assert arrived, "the poison notification did not reach the dead-letter queue"
    assert not MlflowClient().search_registered_models(filter_string=f"name = '{name}'")
