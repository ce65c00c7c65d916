"""The caller API Gateway authenticated, from each authorizer's event shape, and what a run records of it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stratus.api.identity import ANONYMOUS, authenticated_user, caller
from stratus.domain.services import ExperimentService, RunService
from stratus.store.memory import InMemoryTrackingStore

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"


def _event(authorizer: dict[str, Any] | None) -> dict[str, Any]:
    context: dict[str, Any] = {"requestId": "r"}
    if authorizer is not None:
        context["authorizer"] = authorizer
    return {"headers": {"authorization": "Bearer whatever"}, "requestContext": context}


def test_sigv4_caller_is_the_principal_arn() -> None:
    event = json.loads((EVENTS_DIR / "runs_create.json").read_text())

    assert authenticated_user(event) == "arn:aws:sts::123456789012:assumed-role/ml-training/alice"


def test_cognito_access_token_caller_is_its_username() -> None:
    event = json.loads((EVENTS_DIR / "runs_create_jwt.json").read_text())

    assert authenticated_user(event) == "bob"


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"cognito:username": "carol", "email": "c@example.com", "sub": "s-1"}, "carol"),  # Cognito ID token
        ({"email": "dan@example.com", "sub": "s-2"}, "dan@example.com"),  # OIDC with the email scope
        ({"sub": "00u1abcd"}, "00u1abcd"),  # any OIDC access token
        ({"username": "", "sub": "s-3"}, "s-3"),  # an empty claim names nobody
    ],
)
def test_jwt_caller_is_the_best_user_claim(claims: dict[str, str], expected: str) -> None:
    assert authenticated_user(_event({"jwt": {"claims": claims, "scopes": None}})) == expected


def test_lambda_authorizer_context_names_the_caller() -> None:
    assert authenticated_user(_event({"lambda": {"principalId": "p", "username": "erin"}})) == "erin"


@pytest.mark.parametrize(
    "authorizer",
    [None, {}, {"jwt": {"claims": {}, "scopes": None}}, {"iam": {"userArn": None}}, {"lambda": {"role": "x"}}],
)
def test_no_authorizer_means_no_authenticated_caller(authorizer: dict[str, Any] | None) -> None:
    event = _event(authorizer)

    assert authenticated_user(event) is None
    assert caller(event) == ANONYMOUS


def test_a_header_the_client_sends_is_never_the_caller() -> None:
    event = _event(None)
    event["headers"].update({"x-amzn-oidc-identity": "mallory", "x-user": "mallory"})
    event["requestContext"]["identity"] = {"user": "mallory"}  # REST-API (v1) field: not what HTTP APIs authorise

    assert caller(event) == ANONYMOUS


@pytest.fixture
def runs() -> RunService:
    store = InMemoryTrackingStore()
    return RunService(store, ExperimentService(store, "s3://bucket/mlartifacts"))


def test_run_of_an_authenticated_caller_belongs_to_it_whatever_the_client_claims(runs: RunService) -> None:
    run = runs.create("0", "alice", 5, {"mlflow.user": "alice"}, "r", caller="bob")

    assert (run.info.user_id, run.tags["mlflow.user"]) == ("bob", "bob")
    stored = runs.get(run.run_id)
    assert (stored.info.user_id, stored.tags["mlflow.user"]) == ("bob", "bob")


def test_run_without_an_authenticated_caller_keeps_the_clients_user(runs: RunService) -> None:
    run = runs.create("0", "alice", 5, {"mlflow.user": "alice"}, "r")

    assert (run.info.user_id, run.tags["mlflow.user"]) == ("alice", "alice")
