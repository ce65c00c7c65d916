"""``stratus local`` behaves as API Gateway HTTP API + Lambda: route selection, the payload-format-2.0 event, the
response rules, the size limits, handler loading and invocation, and the HTTP server (over loopback only)."""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import textwrap
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest

from stratus_local.backends import S3Snapshot, create_tables
from stratus_local.gateway import (
    API_GATEWAY_MAX_BODY_BYTES,
    Gateway,
    HttpRequest,
    InvocationError,
    build_event,
    response_from_lambda,
)
from stratus_local.lambdas import FunctionSet, LocalFunction, encode_result
from stratus_local.routes import Router
from stratus_local.server import GatewayHTTPServer, serve_in_thread
from stratus_local.stack import LocalStack
from stratus_local.template import FunctionSpec, RouteSpec, TableSpec, TemplateError


def router(*route_keys: str) -> Router:
    return Router(RouteSpec(key, function_id=key) for key in route_keys)


def selected(routes: Router, method: str, path: str) -> str | None:
    match = routes.match(method, path)
    return match.route.route_key if match else None


# ---------------------------------------------------------------------------------------------------------------------
# Route selection


def test_routes_are_selected_like_the_api_gateway_documentation_example() -> None:
    routes = router("GET /pets/dog/1", "GET /pets/dog/{id}", "GET /pets/{proxy+}", "ANY /{proxy+}", "$default")

    assert selected(routes, "GET", "/pets/dog/1") == "GET /pets/dog/1"
    assert selected(routes, "GET", "/pets/dog/2") == "GET /pets/dog/{id}"
    assert selected(routes, "GET", "/pets/cat/1") == "GET /pets/{proxy+}"
    assert selected(routes, "POST", "/test/5") == "ANY /{proxy+}"
    assert selected(routes, "GET", "/") == "$default"


def test_a_method_specific_route_beats_any_on_the_same_path() -> None:
    routes = router("ANY /runs/get", "GET /runs/get")

    assert selected(routes, "GET", "/runs/get") == "GET /runs/get"
    assert selected(routes, "DELETE", "/runs/get") == "ANY /runs/get"


def test_a_full_match_beats_a_greedy_route_and_a_longer_greedy_prefix_wins() -> None:
    routes = router(
        "ANY /api/{proxy+}", "ANY /api/2.0/mlflow-artifacts/artifacts/{proxy+}", "POST /api/2.0/mlflow/runs/create"
    )

    assert selected(routes, "POST", "/api/2.0/mlflow/runs/create") == "POST /api/2.0/mlflow/runs/create"
    assert selected(routes, "PUT", "/api/2.0/mlflow-artifacts/artifacts/1/r/a.txt") == (
        "ANY /api/2.0/mlflow-artifacts/artifacts/{proxy+}"
    )
    assert selected(routes, "GET", "/api/2.0/mlflow/runs/get") == "ANY /api/{proxy+}"


def test_unmatched_requests_fall_to_default_or_to_nothing() -> None:
    without_default = router("GET /version", "ANY /api/{proxy+}")

    assert selected(without_default, "POST", "/version") is None
    assert selected(without_default, "GET", "/api") is None  # a greedy variable needs at least one character
    assert selected(without_default, "GET", "/api/") is None
    assert selected(router("GET /a/{id}"), "GET", "/a/") is None  # nor does a path variable match an empty segment


def test_path_parameters_are_decoded_and_greedy_ones_keep_their_slashes() -> None:
    routes = router("GET /runs/{run_id}/tags/{key}", "PUT /artifacts/{proxy+}")

    tags = routes.match("GET", "/runs/abc/tags/a%20b%2Fc")
    artifacts = routes.match("PUT", "/artifacts/1/run/artifacts/dir/my%20file.txt")

    assert tags is not None
    assert tags.path_parameters == {"run_id": "abc", "key": "a b/c"}
    assert artifacts is not None
    assert artifacts.path_parameters == {"proxy": "1/run/artifacts/dir/my file.txt"}


def test_bad_route_keys_are_rejected() -> None:
    with pytest.raises(TemplateError, match="last segment"):
        router("GET /{proxy+}/x")
    with pytest.raises(TemplateError, match="both"):
        Router([RouteSpec("GET /a", "One"), RouteSpec("GET /a", "Two")])


# ---------------------------------------------------------------------------------------------------------------------
# The event


def event_for(request: HttpRequest, route_key: str = "ANY /{proxy+}") -> dict[str, Any]:
    match = router(route_key).match(request.method, request.target.partition("?")[0])
    assert match is not None
    return build_event(request, match, request_id="req-1", now=datetime(2026, 3, 12, 19, 3, 58, tzinfo=UTC))


def test_query_strings_are_passed_raw_and_decoded_with_repeated_keys_joined() -> None:
    event = event_for(HttpRequest("GET", "/api/runs/search?run_id=a&run_id=b&filter=name+%3D+%27x%27&flag"))

    assert event["rawQueryString"] == "run_id=a&run_id=b&filter=name+%3D+%27x%27&flag"
    assert event["queryStringParameters"] == {"run_id": "a,b", "filter": "name = 'x'", "flag": ""}


def test_a_request_without_query_or_path_parameters_has_no_such_keys() -> None:
    event = event_for(HttpRequest("GET", "/version"), "GET /version")

    assert event["rawQueryString"] == ""
    assert "queryStringParameters" not in event
    assert "pathParameters" not in event
    assert "body" not in event
    assert event["isBase64Encoded"] is False


def test_headers_are_lower_cased_repeated_ones_joined_and_cookies_split_out() -> None:
    request = HttpRequest(
        "GET",
        "/x",
        headers=[
            ("Host", "127.0.0.1:5000"),
            ("X-Thing", "1"),
            ("x-thing", "2"),
            ("Cookie", "a=1; b=2"),
            ("User-Agent", "mlflow-python-client/3.17.2"),
        ],
    )

    event = event_for(request)

    assert event["headers"]["x-thing"] == "1,2"
    assert event["headers"]["host"] == "127.0.0.1:5000"
    assert "cookie" not in event["headers"]
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["requestContext"]["http"]["userAgent"] == "mlflow-python-client/3.17.2"
    assert event["requestContext"]["domainName"] == "127.0.0.1"


def test_request_context_carries_the_local_iam_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER", "alice")

    context = event_for(HttpRequest("POST", "/api/2.0/mlflow/runs/create", source_ip="127.0.0.9"))["requestContext"]

    assert context["authorizer"]["iam"]["userArn"] == "arn:aws:iam::000000000000:user/alice"
    assert context["accountId"] == "000000000000"
    assert context["stage"] == "$default"
    assert context["routeKey"] == "ANY /{proxy+}"
    assert context["requestId"] == "req-1"
    assert context["time"] == "12/Mar/2026:19:03:58 +0000"
    assert context["timeEpoch"] == 1773342238000
    assert context["http"] == {
        "method": "POST",
        "path": "/api/2.0/mlflow/runs/create",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.9",
        "userAgent": "",
    }


def test_json_and_text_bodies_are_passed_as_text() -> None:
    for content_type in ("application/json", "application/json; charset=utf-8", "text/plain"):
        body = '{"name": "exp ü"}'.encode()
        event = event_for(HttpRequest("POST", "/x", [("Content-Type", content_type)], body))

        assert (event["body"], event["isBase64Encoded"]) == ('{"name": "exp ü"}', False)


@pytest.mark.parametrize(
    "content_type", ["application/octet-stream", "image/png", "application/x-www-form-urlencoded", None]
)
def test_other_bodies_are_base64_encoded(content_type: str | None) -> None:
    headers = [("Content-Type", content_type)] if content_type else []
    body = bytes(range(256))

    event = event_for(HttpRequest("PUT", "/x", headers, body))

    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body


def test_a_delete_keeps_its_json_body() -> None:
    request = HttpRequest(
        "DELETE", "/api/2.0/mlflow/registered-models/delete", [("Content-Type", "application/json")], b'{"name": "m"}'
    )

    event = event_for(request)

    assert event["requestContext"]["http"]["method"] == "DELETE"
    assert json.loads(event["body"]) == {"name": "m"}


# ---------------------------------------------------------------------------------------------------------------------
# The response


def test_a_structured_response_sets_status_headers_cookies_and_decodes_base64() -> None:
    payload = {
        "statusCode": 201,
        "headers": {"Content-Type": "application/octet-stream", "X-Count": 3},
        "cookies": ["a=1; Path=/", "b=2"],
        "isBase64Encoded": True,
        "body": base64.b64encode(b"\x00\xff").decode(),
    }

    response = response_from_lambda(json.dumps(payload).encode())

    assert response.status == 201
    assert response.body == b"\x00\xff"
    assert ("X-Count", "3") in response.headers
    assert [value for name, value in response.headers if name == "Set-Cookie"] == ["a=1; Path=/", "b=2"]


def test_a_result_without_status_code_is_inferred_as_a_json_200() -> None:
    as_dict = response_from_lambda(b'{"experiment_id": "1"}')
    as_string = response_from_lambda(b'"Hello"')

    assert (as_dict.status, as_dict.header("content-type"), as_dict.body) == (
        200,
        "application/json",
        b'{"experiment_id": "1"}',
    )
    assert as_string.body == b'"Hello"'


def test_a_response_api_gateway_cannot_read_is_a_500() -> None:
    log = io.StringIO()

    response = response_from_lambda(b'{"statusCode": "abc", "body": ""}', log)

    assert response.status == 500
    assert json.loads(response.body) == {"message": "Internal Server Error"}
    assert "statusCode" in log.getvalue()


def test_multi_value_headers_are_ignored_as_payload_format_2_does() -> None:
    log = io.StringIO()

    response = response_from_lambda(b'{"statusCode": 200, "multiValueHeaders": {"X-A": ["1", "2"]}, "body": ""}', log)

    assert response.header("x-a") is None
    assert "multiValueHeaders is ignored" in log.getvalue()


# ---------------------------------------------------------------------------------------------------------------------
# Limits and errors at the gateway


class RecordingInvoke:
    def __init__(self, result: bytes = b'{"statusCode": 200, "body": "ok"}', fail: bool = False) -> None:
        self.result = result
        self.fail = fail
        self.events: list[dict[str, Any]] = []

    def __call__(self, function_id: str, event: bytes, request_id: str) -> bytes:
        self.events.append(json.loads(event))
        if self.fail:
            raise InvocationError(function_id)
        return self.result


def gateway(invoke: RecordingInvoke) -> Gateway:
    return Gateway(router("ANY /{proxy+}", "GET /version"), invoke, io.StringIO())


def test_a_body_over_10_mib_is_refused_with_413_before_any_invocation() -> None:
    invoke = RecordingInvoke()

    response = gateway(invoke).handle(HttpRequest("PUT", "/a", body=b"\0" * (API_GATEWAY_MAX_BODY_BYTES + 1)))

    assert response.status == 413
    assert json.loads(response.body)["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "10 MiB" in json.loads(response.body)["message"]
    assert invoke.events == []


def test_a_binary_body_whose_event_exceeds_6_mb_is_refused_with_413() -> None:
    invoke = RecordingInvoke()
    headers = [("Content-Type", "application/octet-stream")]

    too_big = gateway(invoke).handle(HttpRequest("PUT", "/a", headers, b"\0" * (5 * 1024 * 1024)))
    fits = gateway(invoke).handle(HttpRequest("PUT", "/a", headers, b"\0" * (4 * 1024 * 1024)))

    assert too_big.status == 413
    assert "6291456 bytes" in json.loads(too_big.body)["message"]
    assert fits.status == 200
    assert len(invoke.events) == 1


def test_no_route_is_api_gateways_404() -> None:
    response = Gateway(router("GET /version"), RecordingInvoke(), io.StringIO()).handle(HttpRequest("GET", "/nope"))

    assert response.status == 404
    assert json.loads(response.body) == {"message": "Not Found"}


def test_a_function_error_is_api_gateways_500() -> None:
    response = gateway(RecordingInvoke(fail=True)).handle(HttpRequest("GET", "/version"))

    assert response.status == 500
    assert json.loads(response.body) == {"message": "Internal Server Error"}


# ---------------------------------------------------------------------------------------------------------------------
# Handlers


ECHO_APP = """
import helper

def handler(event, context):
    if event["rawPath"] == "/boom":
        raise ValueError("boom")
    if event["rawPath"] == "/huge":
        return {"statusCode": 200, "body": "x" * 7_000_000}
    return {
        "statusCode": 200,
        "body": helper.NAME,
        "headers": {
            "x-function": context.function_name,
            "x-memory": context.memory_limit_in_mb,
            "x-arn": context.invoked_function_arn,
            "x-request-id": context.aws_request_id,
            "x-remaining-ok": str(0 < context.get_remaining_time_in_millis() <= 10_000),
        },
    }
"""


def make_function(root: Path, logical_id: str, folder: str, helper_name: str) -> FunctionSpec:
    code_dir = root / "functions" / folder
    code_dir.mkdir(parents=True)
    (code_dir / "app.py").write_text(textwrap.dedent(ECHO_APP))
    (code_dir / "helper.py").write_text(f"NAME = {helper_name!r}\n")
    return FunctionSpec(
        logical_id=logical_id,
        function_name=logical_id,
        code_dir=code_dir,
        handler="app.handler",
        environment={},
        memory_mb=512,
        timeout_s=10,
        routes=[RouteSpec("ANY /{proxy+}" if folder == "one" else "$default", logical_id)],
    )


def invoke_json(function: LocalFunction, path: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(function.invoke(json.dumps({"rawPath": path}).encode(), "req-9"))
    return result


def test_each_function_imports_its_own_app_module_from_its_code_uri(tmp_path: Path) -> None:
    one = LocalFunction(make_function(tmp_path, "OneFunction", "one", "first"), io.StringIO())
    two = LocalFunction(make_function(tmp_path, "TwoFunction", "two", "second"), io.StringIO())

    first, second = invoke_json(one, "/x"), invoke_json(two, "/x")

    assert first["body"] == "first"
    assert first["headers"]["x-function"] == "OneFunction"
    assert first["headers"]["x-memory"] == "512"
    assert first["headers"]["x-arn"] == "arn:aws:lambda:us-east-1:000000000000:function:OneFunction"
    assert first["headers"]["x-request-id"] == "req-9"
    assert first["headers"]["x-remaining-ok"] == "True"
    assert second["body"] == "second"


def test_an_unhandled_exception_is_a_function_error_with_its_traceback_logged(tmp_path: Path) -> None:
    log = io.StringIO()
    function = LocalFunction(make_function(tmp_path, "OneFunction", "one", "first"), log)

    with pytest.raises(InvocationError):
        function.invoke(b'{"rawPath": "/boom"}', "req-1")

    assert "ValueError: boom" in log.getvalue()
    assert "Traceback" in log.getvalue()


def test_a_response_over_6_mb_is_a_function_error(tmp_path: Path) -> None:
    log = io.StringIO()
    function = LocalFunction(make_function(tmp_path, "OneFunction", "one", "first"), log)

    with pytest.raises(InvocationError):
        function.invoke(b'{"rawPath": "/huge"}', "req-1")

    assert "ResponseSizeTooLarge" in log.getvalue()


SLOW_APP = """
import threading
import time

inside = 0  # invocations running in this environment (this module copy)
most = 0
lock = threading.Lock()


def handler(event, context):
    global inside, most
    with lock:
        inside += 1
        most = max(most, inside)
    time.sleep(0.05)
    with lock:
        inside -= 1
    return {"statusCode": 200, "body": f"{__name__} {most}"}
"""


def test_concurrent_invocations_get_environments_of_their_own_up_to_the_limit(tmp_path: Path) -> None:
    """Given a function allowed 3 execution environments, wrapped to count invocations in flight,
    when 9 slow invocations arrive at once,
    then at most 3 run at a time, in 3 environments (module copies), each running one at a time."""
    code_dir = tmp_path / "functions" / "slow"
    code_dir.mkdir(parents=True)
    (code_dir / "app.py").write_text(textwrap.dedent(SLOW_APP))
    spec = FunctionSpec("SlowFunction", "SlowFunction", code_dir, "app.handler", {})
    function = LocalFunction(spec, io.StringIO(), max_environments=3)
    in_flight, most_in_flight, lock = [0], [0], threading.Lock()

    def counting(handler: Any) -> Any:
        def counted(event: Any, context: Any) -> Any:
            with lock:
                in_flight[0] += 1
                most_in_flight[0] = max(most_in_flight[0], in_flight[0])
            try:
                return handler(event, context)
            finally:
                with lock:
                    in_flight[0] -= 1

        return counted

    function.wrap(counting)
    with ThreadPoolExecutor(9) as pool:
        bodies = list(pool.map(lambda _: json.loads(function.invoke(b"{}", "r"))["body"], range(9)))

    modules = {body.split()[0] for body in bodies}
    assert most_in_flight[0] == 3
    assert modules == {
        "_stratus_fn_SlowFunction_app",
        "_stratus_fn_SlowFunction_app_env2",
        "_stratus_fn_SlowFunction_app_env3",
    }
    assert function.environments == 3
    assert all(body.split()[1] == "1" for body in bodies)  # never two invocations in one environment


def test_results_are_serialised_as_the_lambda_runtime_does() -> None:
    assert json.loads(encode_result({"n": Decimal("3"), "f": Decimal("1.5"), "s": "ü"})) == {"n": 3, "f": 1.5, "s": "ü"}
    with pytest.raises(TypeError):
        encode_result({"when": datetime(2026, 1, 1, tzinfo=UTC)})


# ---------------------------------------------------------------------------------------------------------------------
# The HTTP server, on loopback


@pytest.fixture
def server(tmp_path: Path) -> Iterator[GatewayHTTPServer]:
    spec = make_function(tmp_path, "OneFunction", "one", "first")
    echo_dir = tmp_path / "functions" / "echo"
    echo_dir.mkdir(parents=True)
    (echo_dir / "app.py").write_text("import json\n\ndef handler(event, context):\n    return event\n")
    echo = FunctionSpec(
        "EchoFunction",
        "EchoFunction",
        echo_dir,
        "app.handler",
        {},
        routes=[RouteSpec("ANY /echo/{proxy+}", "EchoFunction")],
    )
    functions = FunctionSet({"OneFunction": spec, "EchoFunction": echo}, io.StringIO())
    gateway = Gateway(Router([*spec.routes, *echo.routes]), functions, io.StringIO())
    http_server = GatewayHTTPServer(("127.0.0.1", 0), gateway, log=None)
    thread = serve_in_thread(http_server)
    yield http_server
    http_server.shutdown()
    http_server.server_close()
    thread.join(5)


def test_one_keep_alive_connection_serves_several_requests_with_bodies_on_delete(server: GatewayHTTPServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)

    connection.request("GET", "/anything")
    first = connection.getresponse()
    first_body = first.read()
    connection.request("DELETE", "/echo/models", body=b'{"name": "m"}', headers={"Content-Type": "application/json"})
    second = connection.getresponse()
    event = json.loads(second.read())
    connection.close()

    assert (first.status, first_body) == (200, b"first")
    assert first.getheader("Connection") != "close"
    assert second.status == 200
    assert event["body"] == '{"name": "m"}'
    assert event["requestContext"]["http"]["method"] == "DELETE"


def test_a_chunked_request_body_is_reassembled(server: GatewayHTTPServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)

    connection.request(
        "POST",
        "/echo/upload",
        body=iter([b"hello ", b"world"]),
        headers={"Content-Type": "text/plain"},
        encode_chunked=True,
    )
    event = json.loads(connection.getresponse().read())
    connection.close()

    assert event["body"] == "hello world"
    assert event["headers"]["content-length"] == "11"


def test_an_announced_body_over_10_mib_is_refused_without_reading_it(server: GatewayHTTPServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.putrequest("PUT", "/echo/big")
    connection.putheader("Content-Length", str(API_GATEWAY_MAX_BODY_BYTES + 1))
    connection.endheaders()

    response = connection.getresponse()
    document = json.loads(response.read())
    connection.close()

    assert response.status == 413
    assert document["error_code"] == "INVALID_PARAMETER_VALUE"
    assert response.getheader("Connection") == "close"


def test_head_answers_headers_without_a_body(server: GatewayHTTPServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)

    connection.request("HEAD", "/anything")
    response = connection.getresponse()
    body = response.read()
    connection.close()

    assert response.status == 200
    assert response.getheader("Content-Length") == "5"
    assert body == b""


# ---------------------------------------------------------------------------------------------------------------------
# The whole stack, against an endpoint that is already running (as with LocalStack), and the S3 snapshot

TWO_FUNCTIONS_TEMPLATE = """
Globals:
  Function:
    Environment:
      Variables:
        STRATUS_TABLE_NAME: !Ref StratusTable
Resources:
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/echo
      Handler: app.handler
      Environment:
        Variables: {SHARED: echo}
      Events:
        Api: {Type: HttpApi, Properties: {Path: "/echo/{proxy+}", Method: ANY}}
  OtherFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/other
      Handler: app.handler
      Environment:
        Variables: {SHARED: other}
      Events:
        Default: {Type: HttpApi}
  StratusTable:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
  ArtifactBucket:
    Type: AWS::S3::Bucket
"""

ENV_APP = """
import os

import boto3


def handler(event, context):
    tables = boto3.client("dynamodb").list_tables()["TableNames"]
    return {"table": os.environ["STRATUS_TABLE_NAME"], "shared": os.environ["SHARED"], "tables": tables}
"""


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def test_with_aws_endpoint_url_set_the_stack_starts_nothing_and_restores_the_environment(
    tmp_path: Path, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "template.yaml").write_text(TWO_FUNCTIONS_TEMPLATE)
    for folder in ("echo", "other"):
        (tmp_path / "functions" / folder).mkdir(parents=True)
        (tmp_path / "functions" / folder / "app.py").write_text(ENV_APP)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "a-real-token")
    for name in ("STRATUS_TABLE_NAME", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)  # another test's stack in this worker may have set them

    with LocalStack(tmp_path, ephemeral=True, port=0, log=io.StringIO(), log_requests=False) as stack:
        connection = http.client.HTTPConnection("127.0.0.1", int(stack.base_url.rsplit(":", 1)[1]), timeout=30)
        connection.request("GET", "/anything")
        result = json.loads(connection.getresponse().read())
        connection.close()
        in_stack = {name: os.environ.get(name) for name in ("AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_DYNAMODB")}
        report = "\n".join(stack.report)

    assert stack.endpoints is not None
    assert stack.endpoints.dynamodb_kind == "AWS_ENDPOINT_URL"
    assert result == {"table": "stratus-table", "shared": "echo", "tables": ["stratus-table"]}
    assert in_stack == {"AWS_SESSION_TOKEN": None, "AWS_ENDPOINT_URL_DYNAMODB": moto_endpoint}
    assert "EchoFunction sets SHARED='echo' but OtherFunction sets 'other'" in report
    assert os.environ["AWS_SESSION_TOKEN"] == "a-real-token"
    assert "STRATUS_TABLE_NAME" not in os.environ
    assert "AWS_ENDPOINT_URL_DYNAMODB" not in os.environ


def test_a_second_stack_in_the_process_of_a_running_one_is_refused(
    tmp_path: Path, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The environment is the process's: a second stack would read the first one's AWS_ENDPOINT_URL as an external
    AWS and use its tables (the fuzzing test once did so, in the session stack's process)."""
    (tmp_path / "template.yaml").write_text(TWO_FUNCTIONS_TEMPLATE)
    for folder in ("echo", "other"):
        (tmp_path / "functions" / folder).mkdir(parents=True)
        (tmp_path / "functions" / folder / "app.py").write_text(ENV_APP)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    for name in ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)  # another test's stack in this worker may have set them

    with LocalStack(tmp_path, ephemeral=True, port=0, log=io.StringIO(), log_requests=False):
        second = LocalStack(tmp_path, ephemeral=True, port=0, log=io.StringIO(), log_requests=False)
        with pytest.raises(RuntimeError, match="another stratus local runs in this process"):
            second.start()
    with LocalStack(tmp_path, ephemeral=True, port=0, log=io.StringIO(), log_requests=False) as after:
        assert after.endpoints is not None and after.endpoints.default == moto_endpoint


def test_s3_objects_survive_a_save_and_a_restore_into_an_empty_store(
    tmp_path: Path, moto_endpoint: str, aws_env: None
) -> None:
    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    s3.create_bucket(Bucket="snapshot-bucket")
    s3.put_object(
        Bucket="snapshot-bucket", Key="1/run/artifacts/model/MLmodel", Body=b"flavors: {}", ContentType="text/plain"
    )
    s3.put_object(Bucket="snapshot-bucket", Key="odd/../key/", Body=bytes(range(256)), Metadata={"k": "v"})
    snapshot = S3Snapshot(tmp_path / "s3")

    assert snapshot.save(s3) >= 2
    assert snapshot.save(s3) == 0  # unchanged objects are not written again
    for key in ("1/run/artifacts/model/MLmodel", "odd/../key/"):
        s3.delete_object(Bucket="snapshot-bucket", Key=key)
    s3.delete_bucket(Bucket="snapshot-bucket")
    snapshot.restore(s3)

    model = s3.get_object(Bucket="snapshot-bucket", Key="1/run/artifacts/model/MLmodel")
    odd = s3.get_object(Bucket="snapshot-bucket", Key="odd/../key/")
    assert (model["Body"].read(), model["ContentType"]) == (b"flavors: {}", "text/plain")
    assert (odd["Body"].read(), odd["Metadata"]) == (bytes(range(256)), {"k": "v"})


def test_an_existing_table_gains_the_indexes_the_template_added(moto_endpoint: str, aws_env: None) -> None:
    dynamodb = boto3.client("dynamodb", endpoint_url=moto_endpoint)
    base = {
        "TableName": "reconciled",
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    }
    with_index = {
        **base,
        "AttributeDefinitions": [*base["AttributeDefinitions"], {"AttributeName": "g", "AttributeType": "S"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "by-g",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    }

    first = create_tables(dynamodb, [TableSpec("T", "reconciled", base)], io.StringIO())
    second = create_tables(dynamodb, [TableSpec("T", "reconciled", with_index)], io.StringIO())

    indexes = dynamodb.describe_table(TableName="reconciled")["Table"].get("GlobalSecondaryIndexes", [])
    assert first == ["created table reconciled"]
    assert second == ["added index by-g to table reconciled"]
    assert [index["IndexName"] for index in indexes] == ["by-g"]
