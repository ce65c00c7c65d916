"""UiFunction's handler in-process under moto, with the sample events in events/: GraphQL reads what the tracking
function wrote, and the artifact viewer reads S3."""

from __future__ import annotations

import base64
import copy
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
import pytest
from lambda_harness import LambdaContext, load_function

from stratus_local.template import parse_project

PROJECT_DIR = Path(__file__).resolve().parents[2]
EVENTS_DIR = PROJECT_DIR / "events"

Invoke = Callable[..., dict[str, Any]]


@pytest.fixture
def ui(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], dict[str, Any]]:
    """Call UiFunction's handler with an event from events/, its RUN_ID_PLACEHOLDER replaced by ``run_id``."""
    for key, value in parse_project(PROJECT_DIR).functions["UiFunction"].environment.items():
        monkeypatch.setenv(key, value)
    module = load_function("ui")

    def call(event_name: str, run_id: str) -> dict[str, Any]:
        text = (EVENTS_DIR / event_name).read_text().replace("RUN_ID_PLACEHOLDER", run_id)
        return module.handler(copy.deepcopy(json.loads(text)), LambdaContext("UiFunction"))

    return call


def _new_run(invoke: Invoke) -> dict[str, Any]:
    created = invoke("runs_create.json")
    assert created["statusCode"] == 200, created
    return created["json"]["run"]["info"]


def test_graphql_get_run_reads_the_run_the_tracking_function_wrote(
    invoke: Invoke, ui: Callable[[str, str], dict[str, Any]]
) -> None:
    info = _new_run(invoke)
    answer = ui("ui_graphql_get_run.json", info["run_id"])
    assert answer["statusCode"] == 200
    body = json.loads(answer["body"])
    assert body["errors"] is None
    run = body["data"]["mlflowGetRun"]["run"]
    assert run["info"] == {
        "runUuid": info["run_id"],
        "runName": "r1",
        "status": "RUNNING",
        "startTime": str(info["start_time"]),
    }
    assert run["experiment"] == {"experimentId": "0", "name": "Default"}
    assert run["modelVersions"] == []
    assert run["data"]["params"] == []


def test_graphql_get_run_of_a_missing_run_is_a_field_error(ui: Callable[[str, str], dict[str, Any]]) -> None:
    answer = ui("ui_graphql_get_run.json", "0123456789abcdef0123456789abcdef")
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"]) == {
        "data": {"mlflowGetRun": None},
        "errors": ["Run with id=0123456789abcdef0123456789abcdef not found"],
    }


def test_get_artifact_answers_the_file_bytes(invoke: Invoke, ui: Callable[[str, str], dict[str, Any]]) -> None:
    info = _new_run(invoke)
    root = urlparse(info["artifact_uri"])
    key = (
        f"mlartifacts/{root.path.strip('/')}/notes.txt"
        if root.scheme == "mlflow-artifacts"
        else f"{root.path.strip('/')}/notes.txt"
    )
    boto3.client("s3").put_object(Bucket=os.environ["STRATUS_ARTIFACT_BUCKET"], Key=key, Body=b"hello\n")
    answer = ui("ui_get_artifact.json", info["run_id"])
    assert answer["statusCode"] == 200, answer
    body = base64.b64decode(answer["body"]) if answer.get("isBase64Encoded") else answer["body"].encode()
    assert body == b"hello\n"
    assert answer["headers"]["Content-Type"].startswith("text/plain")
    assert answer["headers"]["Content-Disposition"] == 'attachment; filename="notes.txt"'


def test_get_artifact_of_a_missing_file_is_404(invoke: Invoke, ui: Callable[[str, str], dict[str, Any]]) -> None:
    info = _new_run(invoke)
    answer = ui("ui_get_artifact.json", info["run_id"])
    assert answer["statusCode"] == 404
    assert json.loads(answer["body"])["error_code"] == "RESOURCE_DOES_NOT_EXIST"
