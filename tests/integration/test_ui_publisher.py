"""UiPublisherFunction (functions/ui_publisher/app.py), the custom resource that fills the web UI bucket, under moto:
CloudFormation's Create, Update and Delete requests, with the installed mlflow's real UI build standing in for the one
the Makefile extracts from the same pinned wheel."""

from __future__ import annotations

import importlib.util
import json
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

PROJECT_DIR = Path(__file__).resolve().parents[2]
BUCKET = "stratus-ui-test"
ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE"
DISCOVERY = {
    "issuer": ISSUER,
    "authorization_endpoint": "https://example.auth.us-east-1.amazoncognito.com/oauth2/authorize",
    "token_endpoint": "https://example.auth.us-east-1.amazoncognito.com/oauth2/token",
}


def mlflow_ui_build() -> Path:
    spec = importlib.util.find_spec("mlflow")
    assert spec and spec.submodule_search_locations
    build = Path(next(iter(spec.submodule_search_locations))) / "server" / "js" / "build"
    assert (build / "index.html").is_file(), "the test needs mlflow (with its UI build) installed"
    return build


@pytest.fixture
def publisher(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("ui_publisher_app", PROJECT_DIR / "functions/ui_publisher/app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    # Where the Makefile puts the build in the package; the sign-in pages are the repository's own.
    monkeypatch.setattr(module, "UI_BUILD_DIR", mlflow_ui_build())
    return module


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def request(kind: str, **properties: Any) -> dict[str, Any]:
    """A CloudFormation custom resource request, as the documentation shows it."""
    event: dict[str, Any] = {
        "RequestType": kind,
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:stratus-ui-publisher",
        "ResponseURL": "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/response?sig=x",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/stratus/00000000-0000-0000-0000-000000000000",
        "RequestId": "11111111-1111-1111-1111-111111111111",
        "ResourceType": "Custom::StratusWebUi",
        "LogicalResourceId": "UiContent",
        "ResourceProperties": {
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:stratus-ui-publisher",
            "Bucket": BUCKET,
            "CodeVersion": "arn:aws:lambda:us-east-1:123456789012:function:stratus-ui-publisher:2",
            "Issuer": ISSUER,
            "ClientId": "client-a",
            "Scope": "openid email",
        }
        | properties,
    }
    if kind != "Create":
        event["PhysicalResourceId"] = BUCKET
    return event


def discovery(url: str) -> dict[str, Any]:
    assert url == f"{ISSUER}/.well-known/openid-configuration"
    return DISCOVERY


def keys(s3: Any) -> set[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


def head(s3: Any, key: str) -> dict[str, Any]:
    return s3.head_object(Bucket=BUCKET, Key=key)


def test_create_publishes_ui_build_and_sign_in_pages_with_headers(publisher: ModuleType, s3: Any) -> None:
    build = mlflow_ui_build()

    outcome = publisher.handle(request("Create"), s3, discovery)

    assert outcome == {"Status": "SUCCESS", "Reason": "done", "PhysicalResourceId": BUCKET}
    published = keys(s3)
    every_build_file = {"static-files/" + p.relative_to(build).as_posix() for p in build.rglob("*") if p.is_file()}
    assert every_build_file <= published
    assert {"index.html", "auth/login", "auth/callback", "auth/signin.js", "auth/config.json"} <= published
    index = head(s3, "index.html")
    assert (index["ContentType"], index["CacheControl"]) == ("text/html; charset=utf-8", "no-cache")
    assert s3.get_object(Bucket=BUCKET, Key="index.html")["Body"].read() == (build / "index.html").read_bytes()
    script = next(key for key in published if key.startswith("static-files/static/js/") and key.endswith(".js"))
    assert (head(s3, script)["ContentType"], head(s3, script)["CacheControl"]) == (
        "text/javascript; charset=utf-8",
        "public, max-age=2419200",
    )
    stylesheet = next(key for key in published if key.endswith(".css"))
    assert head(s3, stylesheet)["ContentType"] == "text/css; charset=utf-8"
    assert head(s3, "auth/callback")["ContentType"] == "text/html; charset=utf-8"
    assert head(s3, "auth/login")["CacheControl"] == "no-cache"


def test_create_writes_sign_in_config_from_discovery(publisher: ModuleType, s3: Any) -> None:
    publisher.handle(request("Create"), s3, discovery)

    config = json.loads(s3.get_object(Bucket=BUCKET, Key="auth/config.json")["Body"].read())

    assert config == {
        "authorizationEndpoint": DISCOVERY["authorization_endpoint"],
        "tokenEndpoint": DISCOVERY["token_endpoint"],
        "clientId": "client-a",
        "scope": "openid email",
    }


def test_update_removes_what_the_previous_build_left(publisher: ModuleType, s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="static-files/static/js/main.0ld.js", Body=b"old")

    outcome = publisher.handle(request("Update", ClientId="client-b"), s3, discovery)

    assert outcome["Status"] == "SUCCESS"
    assert "static-files/static/js/main.0ld.js" not in keys(s3)
    assert json.loads(s3.get_object(Bucket=BUCKET, Key="auth/config.json")["Body"].read())["clientId"] == "client-b"


def test_delete_empties_bucket(publisher: ModuleType, s3: Any) -> None:
    publisher.handle(request("Create"), s3, discovery)

    outcome = publisher.handle(request("Delete"), s3, discovery)

    assert outcome["Status"] == "SUCCESS"
    assert keys(s3) == set()


def test_delete_of_bucket_already_gone_succeeds(publisher: ModuleType, s3: Any) -> None:
    s3.delete_bucket(Bucket=BUCKET)

    outcome = publisher.handle(request("Delete"), s3, discovery)

    assert outcome == {"Status": "SUCCESS", "Reason": "done", "PhysicalResourceId": BUCKET}


def test_issuer_without_hosted_ui_fails_with_reason_and_publishes_nothing(publisher: ModuleType, s3: Any) -> None:
    def no_endpoints(url: str) -> dict[str, Any]:
        return {"issuer": ISSUER, "jwks_uri": f"{ISSUER}/.well-known/jwks.json"}

    outcome = publisher.handle(request("Create"), s3, no_endpoints)

    assert outcome["Status"] == "FAILED"
    assert "authorization_endpoint or token_endpoint" in outcome["Reason"]
    assert "needs a domain" in outcome["Reason"]
    assert keys(s3) == set()


def test_unreachable_issuer_fails_with_reason(publisher: ModuleType, s3: Any) -> None:
    def unreachable(url: str) -> dict[str, Any]:
        raise OSError("timed out")

    outcome = publisher.handle(request("Create"), s3, unreachable)

    assert outcome["Status"] == "FAILED"
    assert outcome["Reason"] == f"could not read {ISSUER}/.well-known/openid-configuration: timed out"


def test_missing_client_id_fails(publisher: ModuleType, s3: Any) -> None:
    outcome = publisher.handle(request("Create", ClientId=""), s3, discovery)

    assert outcome["Status"] == "FAILED"
    assert "ClientId" in outcome["Reason"]


def test_handler_answers_cloudformation_even_when_publishing_fails(
    publisher: ModuleType, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A custom resource that never answers holds the stack until its ServiceTimeout."""
    sent: list[urllib.request.Request] = []

    class Answer:
        status = 200

        def __enter__(self) -> Answer:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

    def fake_urlopen(req: urllib.request.Request, timeout: float) -> Answer:
        sent.append(req)
        return Answer()

    monkeypatch.setattr(publisher, "fetch_json_over_https", discovery)
    monkeypatch.setattr(publisher.urllib.request, "urlopen", fake_urlopen)
    event = request("Create", Bucket="no-such-bucket")

    publisher.handler(event, None)

    [answer] = sent
    assert isinstance(answer.data, bytes)
    body = json.loads(answer.data)
    assert answer.get_method() == "PUT"
    assert answer.full_url == event["ResponseURL"]
    assert body["Status"] == "FAILED"
    assert "NoSuchBucket" in body["Reason"]
    assert (body["StackId"], body["RequestId"], body["LogicalResourceId"], body["PhysicalResourceId"]) == (
        event["StackId"],
        event["RequestId"],
        "UiContent",
        "no-such-bucket",
    )
