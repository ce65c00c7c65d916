"""``stratus local --auth-token / --auth-user``: which credentials pass, the 401 for the others, and the identity a
function receives (read back through ``stratus.api.identity``, as the handlers read it)."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest

from stratus.api.identity import authenticated_user
from stratus_local.auth import AuthConfigError, LocalAuth
from stratus_local.cli import build_parser
from stratus_local.gateway import Gateway, HttpRequest
from stratus_local.routes import Router
from stratus_local.template import RouteSpec

TOKEN = "s3cret-token-123"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class RecordingInvoke:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, function_id: str, event: bytes, request_id: str) -> bytes:
        self.events.append(json.loads(event))
        return b'{"statusCode": 200, "body": "ok"}'


def serve(auth: LocalAuth | None, authorization: str | None) -> tuple[int, dict[str, Any], RecordingInvoke]:
    invoke = RecordingInvoke()
    gateway = Gateway(Router([RouteSpec("ANY /{proxy+}", function_id="f")]), invoke, io.StringIO(), auth=auth)
    headers = [("Authorization", authorization)] if authorization is not None else []
    response = gateway.handle(HttpRequest("POST", "/api/2.0/mlflow/runs/create", headers, b"{}"))
    body = json.loads(response.body) if response.body.startswith(b"{") else {}
    return response.status, {**body, "_headers": response.headers}, invoke


@pytest.fixture
def auth() -> LocalAuth:
    return LocalAuth(token=TOKEN, users={"ana": "pw-ana", "ben": "pw:with:colons"})


@pytest.mark.parametrize(
    ("authorization", "user"),
    [
        (f"Bearer {TOKEN}", "token"),
        (f"bearer  {TOKEN} ", "token"),
        (basic("ana", "pw-ana"), "ana"),
        (basic("ben", "pw:with:colons"), "ben"),
    ],
)
def test_valid_credentials_reach_the_function_as_the_authenticated_user(
    auth: LocalAuth, authorization: str, user: str
) -> None:
    status, _, invoke = serve(auth, authorization)

    assert status == 200
    assert authenticated_user(invoke.events[0]) == user
    assert "iam" not in invoke.events[0]["requestContext"]["authorizer"]


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer wrong-token-000",
        f"Bearer {TOKEN}x",
        f"Basic {TOKEN}",
        basic("ana", "wrong"),
        basic("nobody", "pw-ana"),
        basic("ana", ""),
        "Basic !!!not-base64!!!",
        f"Token {TOKEN}",
        "AWS4-HMAC-SHA256 Credential=AKIA/20231114/us-east-1/execute-api/aws4_request",
    ],
)
def test_anything_else_is_401_unauthenticated_and_reaches_no_function(auth: LocalAuth, authorization: str) -> None:
    status, body, invoke = serve(auth, authorization)

    assert status == 401
    assert body["error_code"] == "UNAUTHENTICATED"
    assert "MLFLOW_TRACKING_TOKEN" in body["message"]
    assert TOKEN not in body["message"]
    assert ("WWW-Authenticate", 'Basic realm="stratus"') in body["_headers"]
    assert invoke.events == []


def test_a_token_only_server_refuses_basic_credentials() -> None:
    status, body, _ = serve(LocalAuth(token=TOKEN), basic("ana", TOKEN))

    assert status == 401
    assert [v for k, v in body["_headers"] if k == "WWW-Authenticate"] == ['Bearer realm="stratus"']


def test_without_auth_the_caller_poses_as_the_local_iam_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER", "zoe")

    status, _, invoke = serve(None, None)

    assert status == 200
    assert authenticated_user(invoke.events[0]) == "arn:aws:iam::000000000000:user/zoe"


def test_credentials_come_from_options_before_the_environment() -> None:
    environ = {"STRATUS_AUTH_TOKEN": "env-token-1234", "STRATUS_AUTH_USERS": "a:1,b:2"}

    from_env = LocalAuth.from_options(None, None, environ)
    from_cli = LocalAuth.from_options("cli-token-1234", ["c:3"], environ)

    assert from_env == LocalAuth(token="env-token-1234", users={"a": "1", "b": "2"})
    assert from_cli == LocalAuth(token="cli-token-1234", users={"c": "3"})
    assert LocalAuth.from_options(None, None, {}) is None


@pytest.mark.parametrize(("token", "users"), [("short", None), (None, ["no-colon"]), (None, [":pw"]), (None, ["u:"])])
def test_malformed_credentials_are_refused_without_echoing_the_password(token: str | None, users: list[str]) -> None:
    with pytest.raises(AuthConfigError) as refused:
        LocalAuth.from_options(token, users, {})

    assert "pw" not in str(refused.value)


def test_cli_accepts_a_token_and_repeated_users() -> None:
    args = build_parser().parse_args(["local", "--auth-token", TOKEN, "--auth-user", "a:1", "--auth-user", "b:2"])

    assert (args.auth_token, args.auth_user) == (TOKEN, ["a:1", "b:2"])


def test_cli_runs_deployments_locally_unless_asked_for_virtualenvs() -> None:
    assert build_parser().parse_args(["local"]).serving_env == "local"
    assert build_parser().parse_args(["local", "--serving-env", "virtualenv"]).serving_env == "virtualenv"


def test_the_description_names_no_secret(auth: LocalAuth) -> None:
    assert TOKEN not in auth.describe() and "pw-ana" not in auth.describe()
