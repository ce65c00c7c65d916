"""Who a run and a registry change belong to: the caller API Gateway authenticated (IAM or JWT event shapes from
events/), never the user the client names, unless the API has no authorizer (AuthorizationType NONE, as MLflow)."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from lambda_harness import LambdaContext, load_function

from stratus_local.backends import create_buckets, create_tables
from stratus_local.template import parse_project

PROJECT_DIR = Path(__file__).resolve().parents[2]
EVENTS_DIR = PROJECT_DIR / "events"
IAM_CALLER = "arn:aws:sts::123456789012:assumed-role/ml-training/alice"  # events/runs_create.json

Call = Callable[..., dict[str, Any]]


def _stack(monkeypatch: pytest.MonkeyPatch, authorization_type: str) -> Call:
    """Tracking and registry handlers configured from template.yaml for one AuthorizationType."""
    project = parse_project(PROJECT_DIR, parameter_overrides={"AuthorizationType": authorization_type})
    create_tables(boto3.client("dynamodb"), project.tables, io.StringIO())
    create_buckets(boto3.client("s3"), project.buckets)
    for function in ("TrackingFunction", "RegistryFunction"):
        for key, value in project.functions[function].environment.items():
            monkeypatch.setenv(key, value)
    handlers = {"tracking": load_function("tracking").handler, "registry": load_function("registry").handler}

    def call(
        function: str,
        event_name: str,
        *,
        path: str | None = None,
        body: dict[str, Any] | None = None,
        query: str | None = None,
        method: str | None = None,
        anonymous: bool = False,
    ) -> dict[str, Any]:
        event = copy.deepcopy(json.loads((EVENTS_DIR / event_name).read_text()))
        if path is not None:
            event["rawPath"] = event["requestContext"]["http"]["path"] = f"/prod{path}"
        if method is not None:
            event["requestContext"]["http"]["method"] = method
        if body is not None:
            event["body"] = json.dumps(body)
        if query is not None:
            event["rawQueryString"] = query
            event["queryStringParameters"] = dict(p.split("=", 1) for p in query.split("&") if p)
        if anonymous:  # what API Gateway sends with AuthorizationType NONE
            event["requestContext"].pop("authorizer")
            event["headers"].pop("authorization")
        response = handlers[function](event, LambdaContext("TrackingFunction"))
        response["json"] = json.loads(response["body"]) if response.get("body") else None
        return response

    return call


@pytest.fixture
def jwt_stack(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Call]:
    yield _stack(monkeypatch, "JWT")


@pytest.fixture
def iam_stack(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Call]:
    yield _stack(monkeypatch, "AWS_IAM")


@pytest.fixture
def open_stack(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Call]:
    yield _stack(monkeypatch, "NONE")


def _user(run: dict[str, Any]) -> tuple[str, str | None]:
    tags = {t["key"]: t["value"] for t in run["data"].get("tags", [])}
    return run["info"]["user_id"], tags.get("mlflow.user")


def test_jwt_run_belongs_to_the_token_user_not_to_the_claimed_one(jwt_stack: Call) -> None:
    # Given a Cognito access token for bob, and a client that says it is alice
    created = jwt_stack("tracking", "runs_create_jwt.json")

    assert created["statusCode"] == 200
    assert _user(created["json"]["run"]) == ("bob", "bob")
    run_id = created["json"]["run"]["info"]["run_id"]
    get = "/api/2.0/mlflow/runs/get"
    fetched = jwt_stack("tracking", "runs_create_jwt.json", path=get, query=f"run_id={run_id}", method="GET")
    assert _user(fetched["json"]["run"]) == ("bob", "bob")


def test_iam_run_belongs_to_the_signing_principal(iam_stack: Call) -> None:
    created = iam_stack("tracking", "runs_create.json")

    assert created["statusCode"] == 200
    assert _user(created["json"]["run"]) == (IAM_CALLER, IAM_CALLER)


def test_without_an_authorizer_the_run_keeps_the_clients_user(open_stack: Call) -> None:
    created = open_stack("tracking", "runs_create_jwt.json", anonymous=True)

    assert created["statusCode"] == 200
    assert _user(created["json"]["run"]) == ("alice", "alice")


def test_jwt_promotion_history_names_the_token_user(jwt_stack: Call) -> None:
    # Given a registered model with one version
    registry = "registered_models_set_alias_jwt.json"
    model = jwt_stack("registry", registry, path="/api/2.0/mlflow/registered-models/create", body={"name": "churn"})
    assert model["statusCode"] == 200, model["json"]
    run = jwt_stack("tracking", "runs_create_jwt.json")["json"]["run"]["info"]
    source = f"{run['artifact_uri']}/model"
    body = {"name": "churn", "source": source, "run_id": run["run_id"]}
    version = jwt_stack("registry", registry, path="/api/2.0/mlflow/model-versions/create", body=body)
    assert version["statusCode"] == 200, version["json"]

    # When bob moves the champion alias to it
    assert jwt_stack("registry", registry)["statusCode"] == 200

    # Then the history says bob did
    history = jwt_stack(
        "registry", registry, path="/api/2.0/stratus/registered-models/history", query="name=churn", method="GET"
    )
    assert history["statusCode"] == 200, history["json"]
    assert [(e["kind"], e["actor"]) for e in history["json"]["events"]] == [("alias_set", "bob")]
