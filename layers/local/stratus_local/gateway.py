"""API Gateway HTTP API in front of Lambda, without sockets: a request in, a response out.

:class:`Gateway` selects the route, enforces the size limits of API Gateway and Lambda, builds the payload-format-2.0
event, invokes the function and turns its result into an HTTP response the way API Gateway does. The HTTP server in
:mod:`stratus_local.server` only moves bytes.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TextIO
from urllib.parse import unquote, unquote_plus

from stratus_local.auth import LocalAuth
from stratus_local.routes import RouteMatch, Router
from stratus_local.template import LOCAL_ACCOUNT_ID

API_GATEWAY_MAX_BODY_BYTES = 10 * 1024 * 1024
"""HTTP API payload quota: 10 MB, which API Gateway counts in MiB."""
LAMBDA_MAX_REQUEST_BYTES = 6_291_456
"""Synchronous Invoke request payload limit (what Lambda's error message names)."""
LAMBDA_MAX_RESPONSE_BYTES = 6_291_556
"""Synchronous Invoke response payload limit (``Function.ResponseSizeTooLarge`` names this figure)."""

TEXT_CONTENT_TYPES = frozenset({"application/json", "application/xml", "application/javascript"})
"""With ``text/*``, the content types whose bodies HTTP APIs pass as text. Every other body, including one without a
``Content-Type`` and ``application/x-www-form-urlencoded``, reaches Lambda base64-encoded."""

_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "expect"})

Invoke = Callable[[str, bytes, str], bytes]
"""``invoke(function_id, event_json, request_id) -> response_json``; raises :class:`InvocationError` on failure."""


class InvocationError(Exception):
    """The function failed (unhandled exception, response too large, not serialisable): API Gateway answers 500."""


@dataclass
class HttpRequest:
    """A request as the HTTP server received it; ``target`` is the raw request-target (path and query)."""

    method: str
    target: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    source_ip: str = "127.0.0.1"
    protocol: str = "HTTP/1.1"
    server_port: int = 5000

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key.lower() == name]
        return ",".join(values) if values else None


@dataclass
class HttpResponse:
    """What goes back to the client."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    function_id: str | None = None

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key.lower() == name), None)


def json_response(status: int, document: dict[str, Any]) -> HttpResponse:
    """A JSON answer produced by the gateway itself (not by a function)."""
    return HttpResponse(status, [("Content-Type", "application/json")], json.dumps(document).encode())


def mlflow_error(status: int, message: str) -> HttpResponse:
    """An error in MLflow's shape, so the stock client shows ``message`` to the user instead of retrying."""
    return json_response(status, {"error_code": "INVALID_PARAMETER_VALUE", "message": message})


LARGE_UPLOAD_ADVICE = (
    "For artifacts, set MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE=4194304 in the client's environment: the mlflow "
    "client then uploads files of 4 MiB and more in parts straight to S3. Or use direct s3:// artifacts "
    "(stratus local --artifacts direct)."
)
"""What every over-limit answer says, since almost every large body is an artifact upload."""


def body_too_large(size: int | None) -> HttpResponse:
    """413 for a request body over API Gateway's 10 MiB limit."""
    measured = f"is {size / 1048576:.1f} MiB" if size is not None else "is larger than that"
    return mlflow_error(
        413,
        f"Request body {measured}; API Gateway HTTP APIs accept at most 10 MiB ({API_GATEWAY_MAX_BODY_BYTES} bytes). "
        + LARGE_UPLOAD_ADVICE,
    )


def event_too_large(size: int) -> HttpResponse:
    """413 for a request whose Lambda event would exceed the 6 MB synchronous payload limit."""
    return mlflow_error(
        413,
        f"Request becomes a Lambda event of {size} bytes; Lambda accepts at most {LAMBDA_MAX_REQUEST_BYTES} bytes "
        "for a synchronous invocation. Binary bodies are base64-encoded in the event (4/3 of their size), so about "
        "4.5 MiB of file fits. " + LARGE_UPLOAD_ADVICE,
    )


def is_text_content_type(content_type: str | None) -> bool:
    """Whether an HTTP API passes a body of this type to Lambda as text (else base64)."""
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type.startswith("text/") or media_type in TEXT_CONTENT_TYPES


def parse_query(raw_query: str) -> dict[str, str]:
    """``queryStringParameters``: values decoded, repeated keys joined with commas, as API Gateway does."""
    parameters: dict[str, list[str]] = {}
    for part in raw_query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        parameters.setdefault(unquote_plus(key), []).append(unquote_plus(value))
    return {key: ",".join(values) for key, values in parameters.items()}


def local_user() -> str:
    """The IAM user name the local caller poses as."""
    return os.environ.get("USER") or "local"


def _trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}"


def build_event(  # noqa: PLR0913 - each is a distinct part of the event
    request: HttpRequest,
    match: RouteMatch,
    *,
    request_id: str,
    now: datetime | None = None,
    domain_name: str | None = None,
    user: str | None = None,
    authorizer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The payload-format-2.0 event API Gateway would send for ``request`` on ``match``. ``authorizer`` is what an
    authorizer verified (``stratus local --auth-*``); without one the caller poses as the local IAM ``user``."""
    now = now or datetime.now(UTC)
    target_path, _, raw_query = request.target.partition("?")
    raw_path = decoded_path(target_path)
    headers, cookies = _event_headers(request)
    host = domain_name or _strip_port(request.header("host") or "localhost")
    user = user or local_user()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": match.route.route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if raw_query:
        event["queryStringParameters"] = parse_query(raw_query)
    if match.path_parameters:
        event["pathParameters"] = dict(match.path_parameters)
    event["requestContext"] = {
        "accountId": LOCAL_ACCOUNT_ID,
        "apiId": "local",
        "authorizer": authorizer
        or {
            "iam": {
                "accessKey": "local",
                "accountId": LOCAL_ACCOUNT_ID,
                "callerId": "local",
                "cognitoIdentity": None,
                "principalOrgId": None,
                "userArn": f"arn:aws:iam::{LOCAL_ACCOUNT_ID}:user/{user}",
                "userId": "local",
            }
        },
        "domainName": host,
        "domainPrefix": host.split(".", 1)[0],
        "http": {
            "method": request.method.upper(),
            "path": raw_path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": request.header("user-agent") or "",
        },
        "requestId": request_id,
        "routeKey": match.route.route_key,
        "stage": "$default",
        "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now.timestamp() * 1000),
    }
    if request.body:
        if is_text_content_type(request.header("content-type")):
            event["body"] = request.body.decode("utf-8", errors="replace")
            event["isBase64Encoded"] = False
        else:
            event["body"] = base64.b64encode(request.body).decode("ascii")
            event["isBase64Encoded"] = True
    else:
        event["isBase64Encoded"] = False
    return event


def decoded_path(target_path: str) -> str:
    """``rawPath`` as HTTP APIs deliver it: percent-decoded (``%20`` is a space, ``%2F`` a slash), cut at a decoded
    ``?`` (measured on live HTTP APIs; REST APIs and function URLs keep the encoding, HTTP APIs do not)."""
    return unquote(target_path).partition("?")[0] or "/"


def _strip_port(host: str) -> str:
    if host.startswith("["):  # [::1]:5000
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _event_headers(request: HttpRequest) -> tuple[dict[str, str], list[str]]:
    headers: dict[str, list[str]] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        key = name.lower()
        if key in _HOP_BY_HOP:
            continue
        if key == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        headers.setdefault(key, []).append(value)
    if request.body and "content-length" not in headers:
        headers["content-length"] = [str(len(request.body))]  # the client sent it chunked
    headers.setdefault("x-forwarded-for", [request.source_ip])
    headers.setdefault("x-forwarded-port", [str(request.server_port)])
    headers.setdefault("x-forwarded-proto", ["http"])
    headers.setdefault("x-amzn-trace-id", [_trace_id()])
    return {key: ",".join(values) for key, values in headers.items()}, cookies


def encode_event(event: dict[str, Any]) -> bytes:
    """The event as the Invoke payload API Gateway sends (compact JSON, UTF-8)."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def response_from_lambda(payload: bytes, log: TextIO = sys.stderr, function_id: str = "") -> HttpResponse:
    """Turn a function's response payload into the HTTP response, per the payload-format-2.0 rules.

    A JSON object with ``statusCode`` is a structured response. Anything else is *inferred*: status 200,
    ``content-type: application/json`` and the payload itself as the body.
    """
    try:
        result = json.loads(payload)
    except ValueError:
        result = None
    if not isinstance(result, dict) or "statusCode" not in result:
        return HttpResponse(200, [("Content-Type", "application/json")], payload)
    try:
        return _structured_response(result, log, function_id)
    except (TypeError, ValueError) as exc:
        print(f"[{function_id}] API Gateway cannot use this response ({exc}): answering 500", file=log)
        return json_response(500, {"message": "Internal Server Error"})


def _structured_response(result: dict[str, Any], log: TextIO, function_id: str) -> HttpResponse:
    status = result["statusCode"]
    if isinstance(status, bool) or not isinstance(status, int | str) or not str(status).isdigit():
        raise ValueError(f"statusCode must be an integer, got {status!r}")
    headers: list[tuple[str, str]] = []
    for name, value in (result.get("headers") or {}).items():
        headers.append((str(name), _header_text(value)))
    if result.get("multiValueHeaders"):
        print(
            f"[{function_id}] multiValueHeaders is ignored: payload format 2.0 has no such response field "
            "(join values with commas in headers, and use cookies for Set-Cookie)",
            file=log,
        )
    for cookie in result.get("cookies") or []:
        headers.append(("Set-Cookie", str(cookie)))
    body = result.get("body")
    if body is None:
        data = b""
    elif isinstance(body, str):
        data = base64.b64decode(body, validate=True) if result.get("isBase64Encoded") else body.encode("utf-8")
    else:
        print(f"[{function_id}] response body should be a string; serialising it as JSON", file=log)
        data = json.dumps(body).encode("utf-8")
    return HttpResponse(int(status), headers, data)


def _header_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        raise TypeError(f"header values must be strings, got {value!r}")
    return str(value)


class HttpHandler(Protocol):
    """What the HTTP server calls: the :class:`Gateway`, or a wrapper in front of it (``ui.UiGateway``)."""

    def handle(self, request: HttpRequest) -> HttpResponse: ...


class Gateway:
    """One HTTP API: routes to functions, with API Gateway's limits and translation."""

    def __init__(self, router: Router, invoke: Invoke, log: TextIO = sys.stderr, auth: LocalAuth | None = None) -> None:
        self.router = router
        self.invoke = invoke
        self.log = log
        self.auth = auth

    def handle(self, request: HttpRequest) -> HttpResponse:
        """Answer one request."""
        if len(request.body) > API_GATEWAY_MAX_BODY_BYTES:
            return body_too_large(len(request.body))
        authorizer = None
        if self.auth is not None:  # every route, as a deployed JWT authorizer guards every route
            user = self.auth.authenticate(request.header("authorization"))
            if user is None:
                return HttpResponse(*self.auth.challenge())
            authorizer = self.auth.authorizer(user)
        raw_path = request.target.partition("?")[0] or "/"
        match = self.router.match(request.method, raw_path)
        if match is None:
            return json_response(404, {"message": "Not Found"})
        request_id = str(uuid.uuid4())
        event = encode_event(build_event(request, match, request_id=request_id, authorizer=authorizer))
        if len(event) > LAMBDA_MAX_REQUEST_BYTES:
            return event_too_large(len(event))
        function_id = match.route.function_id
        try:
            payload = self.invoke(function_id, event, request_id)
        except InvocationError:
            response = json_response(500, {"message": "Internal Server Error"})
        else:
            response = response_from_lambda(payload, self.log, function_id)
        response.headers.append(("Apigw-Requestid", request_id))
        response.function_id = function_id
        return response
