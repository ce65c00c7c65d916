"""`stratus local --localstack HOST:PORT`: the whole stack on LocalStack's DynamoDB, S3, SQS and EventBridge instead
of DynamoDB Local and moto, driven by the stock client; what it stores is read back from LocalStack itself."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from local_process import PROJECT_DIR, stratus_local_process
from localstack_host import client, fresh_state, localstack_lock
from mlflow import MlflowClient

from stratus_local.template import parse_project

pytestmark = pytest.mark.localstack


@pytest.fixture(scope="module")
def on_localstack(localstack: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    log = tmp_path_factory.mktemp("localstack") / "stratus-local.log"
    host = urllib.parse.urlsplit(localstack).netloc
    with localstack_lock(localstack):
        fresh_state(localstack, PROJECT_DIR)
        with stratus_local_process(["--localstack", host], log, dropped_env=("AWS_", "MLFLOW_S3")) as exports:
            yield exports["MLFLOW_TRACKING_URI"], localstack


def test_a_run_its_artifact_and_a_model_version_land_in_localstack(
    on_localstack: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri, localstack = on_localstack
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    stock = MlflowClient(uri)
    experiment_id = stock.create_experiment("on-localstack")
    run = stock.create_run(experiment_id)
    stock.log_param(run.info.run_id, "alpha", "0.5")
    for step in range(3):
        stock.log_metric(run.info.run_id, "loss", 1.0 / (step + 1), step=step)
    (tmp_path / "notes.txt").write_text("kept in LocalStack's S3")
    stock.log_artifact(run.info.run_id, str(tmp_path / "notes.txt"))
    stock.set_terminated(run.info.run_id)
    stock.create_registered_model("on-localstack-model")
    version = stock.create_model_version("on-localstack-model", f"runs:/{run.info.run_id}/notes.txt", run.info.run_id)

    found = stock.search_runs([experiment_id], "params.alpha = '0.5'")
    assert [r.info.run_id for r in found] == [run.info.run_id]
    assert [m.value for m in stock.get_metric_history(run.info.run_id, "loss")] == [1.0, 0.5, 1.0 / 3]
    downloaded = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="notes.txt"))
    assert downloaded.read_text() == "kept in LocalStack's S3"
    assert stock.get_model_version("on-localstack-model", version.version).run_id == run.info.run_id

    project = parse_project(PROJECT_DIR)
    dynamodb, s3 = client(localstack, "dynamodb"), client(localstack, "s3")
    stored = sum(dynamodb.scan(TableName=t.name, Select="COUNT")["Count"] for t in project.tables)
    assert stored > 0, "stratus local wrote nothing to LocalStack's DynamoDB"
    keys = [
        item["Key"]
        for bucket in project.buckets
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket.name)
        for item in page.get("Contents", [])
    ]
    assert any(key.endswith(f"{run.info.run_id}/artifacts/notes.txt") for key in keys), keys
