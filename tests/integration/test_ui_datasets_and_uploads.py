"""The web UI's dataset filter, upload and prompt lab under moto: the dataset summary items (what a search reads and
what log-inputs writes, request by request), and the three routes through their functions' handlers with the
sample events in events/."""

from __future__ import annotations

import copy
import io
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.client import BaseClient
from lambda_harness import LambdaContext, load_function

from stratus.domain.entities import Dataset, DatasetInput
from stratus.domain.services import ExperimentService, RunService
from stratus.store.dynamodb import DynamoTrackingStore, bind_table
from stratus_local.backends import create_buckets, create_tables
from stratus_local.template import parse_project

PROJECT_DIR = Path(__file__).resolve().parents[2]
EVENTS_DIR = PROJECT_DIR / "events"
CONTEXT = "mlflow.data.context"
IAM_CALLER = "arn:aws:sts::123456789012:assumed-role/ml-training/alice"  # the events' SigV4 caller


def _input(name: str, digest: str, context: str | None = None) -> DatasetInput:
    return DatasetInput(Dataset(name, digest, "local", "{}"), ((CONTEXT, context),) if context is not None else ())


@pytest.fixture
def runs(aws: None) -> RunService:
    project = parse_project(PROJECT_DIR)
    create_tables(boto3.client("dynamodb"), project.tables, io.StringIO())
    create_buckets(boto3.client("s3"), project.buckets)
    bind_table(project.tables[0].name, os.environ["AWS_REGION"])
    store = DynamoTrackingStore()
    return RunService(store, ExperimentService(store, "mlflow-artifacts:"))


@pytest.fixture
def dynamodb_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The DynamoDB operations sent while the test runs (on top of the conftest's rule checks)."""
    calls: list[str] = []
    original = BaseClient._make_api_call

    def recorded(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if self.meta.service_model.service_name == "dynamodb":
            calls.append(operation)
        return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recorded)
    yield calls


def test_summaries_keep_the_order_first_logged_across_runs_and_retries(
    runs: RunService, dynamodb_calls: list[str]
) -> None:
    """Given three runs logging one dataset with three contexts, and a retry of the first request,
    when the experiment's datasets are searched,
    then the contexts come in the order first logged, each once, read with one Query and nothing else."""
    first, second, third = (runs.create("0", "u", 1, {}, None).run_id for _ in range(3))
    runs.log_inputs(first, [_input("iris", "d1", "train"), _input("wine", "d2")], [])
    runs.log_inputs(second, [_input("iris", "d1", "eval")], [])
    runs.log_inputs(third, [_input("iris", "d1", "test")], [])
    runs.log_inputs(second, [_input("iris", "d1", "eval")], [])  # the run has it: nothing is written
    runs._store.add_dataset_inputs(third, [_input("iris", "d1", "train")])  # noqa: SLF001 - a crash-and-retry's write

    dynamodb_calls.clear()
    found = runs.search_datasets(["0"])
    assert [(s.name, s.digest, s.context) for s in found] == [
        ("iris", "d1", "train"),
        ("iris", "d1", "eval"),
        ("iris", "d1", "test"),
        ("wine", "d2", None),
    ]
    assert dynamodb_calls == ["Query"]


def test_log_inputs_writes_one_summary_update_per_new_dataset_and_none_for_known_ones(
    runs: RunService, dynamodb_calls: list[str]
) -> None:
    run_id = runs.create("0", "u", 1, {}, None).run_id
    runs.get(run_id)  # the run pointer is cached from here, as in a warm function
    dynamodb_calls.clear()
    runs.log_inputs(run_id, [_input("iris", "d1", "train"), _input("wine", "d2", "train")], [])
    assert dynamodb_calls.count("UpdateItem") == 2
    assert "Scan" not in dynamodb_calls
    dynamodb_calls.clear()
    runs.log_inputs(run_id, [_input("iris", "d1", "eval")], [])
    assert "UpdateItem" not in dynamodb_calls and "BatchWriteItem" not in dynamodb_calls


def test_a_summary_longer_than_a_sort_key_may_be_is_stored(runs: RunService) -> None:
    """A 500-character name, a 36-character digest and a context of 500 four-byte characters: 2,536 bytes, where a
    sort key holds 1,024. (The name stays ASCII: the run's own dataset item is keyed by name and digest.)"""
    name, context = "n" * 500, "\U0001f4a1" * 500
    run_id = runs.create("0", "u", 1, {}, None).run_id
    runs.log_inputs(run_id, [_input(name, "d" * 36, context)], [])
    assert [(s.name, s.context) for s in runs.search_datasets(["0"])] == [(name, context)]


# ---------------------------------------------------------------- the routes, through their functions


def _event(name: str, run_id: str = "") -> dict[str, Any]:
    text = (EVENTS_DIR / name).read_text().replace("RUN_ID_PLACEHOLDER", run_id)
    return copy.deepcopy(json.loads(text))


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, dict[str, Any]], dict[str, Any]]:
    """Call a function's handler (``functions/<folder>/app.py``) with its environment from template.yaml."""
    functions = parse_project(PROJECT_DIR).functions

    def call(function_id: str, event: dict[str, Any]) -> dict[str, Any]:
        for key, value in functions[function_id].environment.items():
            monkeypatch.setenv(key, value)
        folder = {"TrackingFunction": "tracking", "ArtifactsFunction": "artifacts", "UiFunction": "ui"}[function_id]
        return load_function(folder).handler(event, LambdaContext(function_id))

    return call


def _root_key(artifact_uri: str) -> str:
    """The S3 key of a run's artifact root in this stack's bucket (proxied or direct)."""
    if artifact_uri.startswith("mlflow-artifacts:"):
        return "mlartifacts/" + artifact_uri.removeprefix("mlflow-artifacts:").strip("/")
    return artifact_uri.removeprefix("s3://").partition("/")[2]


def _objects(prefix: str) -> dict[str, bytes]:
    s3 = boto3.client("s3")
    bucket = os.environ["STRATUS_ARTIFACT_BUCKET"]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"][len(prefix) :]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}


def test_search_datasets_answers_through_the_ui_function(runs: RunService, handler: Any) -> None:
    run_id = runs.create("0", "u", 1, {}, None).run_id
    runs.log_inputs(run_id, [_input("iris", "d1", "train")], [])
    answer = handler("UiFunction", _event("ui_search_datasets.json"))
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"]) == {
        "dataset_summaries": [{"experiment_id": "0", "name": "iris", "digest": "d1", "context": "train"}]
    }


def test_upload_artifact_writes_the_body_under_the_runs_root(runs: RunService, handler: Any) -> None:
    run = runs.create("0", "u", 1, {}, None)
    answer = handler("ArtifactsFunction", _event("ui_upload_artifact.json", run.run_id))
    assert (answer["statusCode"], answer["body"]) == (200, "")
    assert _objects(f"mlartifacts/0/{run.run_id}/artifacts/") == {
        "tables/edited.json": b'{"columns": ["a"], "data": [["1"]]}'
    }

    again = handler("ArtifactsFunction", _event("ui_upload_artifact.json", run.run_id))
    assert again["statusCode"] == 200  # a file is replaced, as the reference replaces it

    folder = _event("ui_upload_artifact.json", run.run_id)
    folder["rawQueryString"] = f"run_uuid={run.run_id}&path=tables"
    refused = handler("ArtifactsFunction", folder)
    assert refused["statusCode"] == 400
    assert json.loads(refused["body"]) == {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": "Artifact path refers to a directory, not a file: 'tables'",
    }


def test_upload_artifact_to_an_unknown_run_is_404(runs: RunService, handler: Any) -> None:
    answer = handler("ArtifactsFunction", _event("ui_upload_artifact.json", "0123456789abcdef0123456789abcdef"))
    assert answer["statusCode"] == 404
    assert json.loads(answer["body"]) == {
        "error_code": "RESOURCE_DOES_NOT_EXIST",
        "message": "Run with id=0123456789abcdef0123456789abcdef not found",
    }


def test_a_promptlab_run_is_created_with_its_artifacts_through_the_tracking_function(
    runs: RunService, handler: Any
) -> None:
    answer = handler("TrackingFunction", _event("ui_create_promptlab_run.json"))
    assert answer["statusCode"] == 200, answer
    run = json.loads(answer["body"])["run"]
    assert run["info"]["status"] == "FINISHED"
    assert run["info"]["user_id"] == IAM_CALLER  # behind the IAM authorizer the caller owns the run, not "unknown"
    params = {p["key"]: p["value"] for p in run["data"]["params"]}
    template = "Say {{ greeting }} to {{ name }}"
    assert params == {"temperature": "0.5", "model_route": "chat", "prompt_template": template}
    files = _objects(_root_key(run["info"]["artifact_uri"]) + "/")
    assert sorted(files) == [
        "eval_results_table.json", "model/MLmodel", "model/conda.yaml", "model/input_example.json",
        "model/parameters.yaml", "model/python_env.yaml", "model/requirements.txt", "model/serving_input_example.json",
    ]  # fmt: skip
    assert yaml.safe_load(files["model/MLmodel"])["run_id"] == run["info"]["run_id"]
