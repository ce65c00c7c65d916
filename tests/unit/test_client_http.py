"""The stratus client's HTTP layer: MLflow's own request function and credentials, and Stratus's error answers
turned into MlflowException."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import mlflow.utils.rest_utils
import pytest
import requests
from mlflow.exceptions import MlflowException
from mlflow_stratus import http
from mlflow_stratus.api import Package, ProjectsApi
from mlflow_stratus.http import StratusHttp, error_from_response, put_file

URI = "https://stratus.example.test/prod"


def _response(status: int, body: Any = None, text: str | None = None, url: str = URI + "/x") -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.url = url
    response._content = (text if text is not None else json.dumps(body)).encode()
    return response


class Wire:
    """Stands in for the network under MLflow's http_request: records each request, answers from a queue."""

    def __init__(self, *answers: requests.Response) -> None:
        self.answers = list(answers)
        self.requests: list[dict[str, Any]] = []

    def __call__(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        self.requests.append({"method": method, "url": url, **kwargs})
        return self.answers.pop(0)


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Wire:
    wire = Wire()
    monkeypatch.setattr(mlflow.utils.rest_utils, "_get_http_response_with_retries", wire)
    for name in (
        "MLFLOW_TRACKING_TOKEN",
        "MLFLOW_TRACKING_USERNAME",
        "MLFLOW_TRACKING_PASSWORD",
        "MLFLOW_TRACKING_INSECURE_TLS",
        "MLFLOW_TRACKING_AWS_SIGV4",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", "/nonexistent")  # no ~/.mlflow/credentials
    return wire


def test_post_sends_json_to_the_endpoint_under_the_tracking_uri(wire: Wire) -> None:
    wire.answers.append(_response(200, {"package_id": "p"}))

    answer = StratusHttp(URI).post("/api/2.0/stratus/projects/packages", {"experiment_id": "1"})

    assert answer == {"package_id": "p"}
    [sent] = wire.requests
    assert (sent["method"], sent["url"]) == ("POST", URI + "/api/2.0/stratus/projects/packages")
    assert sent["json"] == {"experiment_id": "1"}


def test_get_sends_a_query_string(wire: Wire) -> None:
    wire.answers.append(_response(200, {"project_run": {}}))

    StratusHttp(URI).get("/api/2.0/stratus/projects/runs/get", {"run_id": "r1"})

    assert wire.requests[0]["method"] == "GET" and wire.requests[0]["params"] == {"run_id": "r1"}


def test_token_from_the_environment_is_sent_as_bearer(wire: Wire, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "tok-123")
    wire.answers.append(_response(200, {}))

    StratusHttp(URI).post("/api/2.0/stratus/projects/packages", {})

    assert wire.requests[0]["headers"]["Authorization"] == "Bearer tok-123"


def test_username_and_password_are_sent_as_basic_auth(wire: Wire, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ana")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "s3cret")
    wire.answers.append(_response(200, {}))

    StratusHttp(URI).post("/api/2.0/stratus/projects/packages", {})

    expected = "Basic " + base64.b64encode(b"ana:s3cret").decode()
    assert wire.requests[0]["headers"]["Authorization"] == expected


def test_insecure_tls_setting_turns_off_verification(wire: Wire, monkeypatch: pytest.MonkeyPatch) -> None:
    wire.answers.extend([_response(200, {}), _response(200, {})])

    StratusHttp(URI).post("/x", {})
    monkeypatch.setenv("MLFLOW_TRACKING_INSECURE_TLS", "true")
    StratusHttp(URI).post("/x", {})

    assert [sent["verify"] for sent in wire.requests] == [True, False]


def test_sigv4_setting_reaches_the_host_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_AWS_SIGV4", "true")
    seen = []
    monkeypatch.setattr(http, "http_request", lambda creds, *args, **kwargs: seen.append(creds) or _response(200, {}))

    StratusHttp(URI).post("/x", {})

    assert seen[0].aws_sigv4 is True and seen[0].host == URI


@pytest.mark.parametrize("uri", ["sqlite:///mlflow.db", "file:///tmp/mlruns", "databricks", "/tmp/mlruns"])
def test_a_tracking_uri_that_is_not_a_url_is_refused(uri: str) -> None:
    with pytest.raises(MlflowException, match="needs the tracking URI to be the Stratus URL") as raised:
        StratusHttp(uri)
    assert raised.value.error_code == "INVALID_PARAMETER_VALUE"


def test_stratus_error_answer_becomes_mlflow_exception_with_its_code(wire: Wire) -> None:
    wire.answers.append(_response(404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Run 'r9' not found"}))

    with pytest.raises(MlflowException) as raised:
        StratusHttp(URI).get("/api/2.0/stratus/projects/runs/get", {"run_id": "r9"})

    assert raised.value.message == "Run 'r9' not found"
    assert raised.value.error_code == "RESOURCE_DOES_NOT_EXIST"


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (400, {"error_code": "NOT_A_CODE", "message": "odd"}, "BAD_REQUEST"),
        (400, {"message": "no code"}, "BAD_REQUEST"),
        (403, {"message": "Forbidden"}, "PERMISSION_DENIED"),  # API Gateway's own answer
        (409, {"error_code": None, "message": "conflict"}, "ALREADY_EXISTS"),
    ],
)
def test_error_code_falls_back_to_the_http_status(status: int, body: dict, code: str) -> None:
    error = error_from_response(_response(status, body))

    assert (error.message, error.error_code) == (body["message"], code)


def test_non_json_error_names_the_status_and_path_and_quotes_the_body() -> None:
    error = error_from_response(_response(502, text="<html>Bad Gateway</html>", url=URI + "/api/2.0/x?run_id=1"))

    assert error.message == "Stratus answered HTTP 502 to /prod/api/2.0/x: <html>Bad Gateway</html>"
    assert error.error_code == "INTERNAL_ERROR"


def test_a_200_answer_that_is_not_a_json_object_is_an_error(wire: Wire) -> None:
    wire.answers.append(_response(200, text="[1, 2]"))

    with pytest.raises(MlflowException, match="not a JSON object"):
        StratusHttp(URI).post("/x", {})


class Bucket:
    def __init__(self, answer: requests.Response | Exception) -> None:
        self.answer = answer
        self.received: list[dict[str, Any]] = []

    def __call__(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        self.received.append(
            {"method": method, "url": url, "headers": kwargs["headers"], "body": kwargs["data"].read()}
        )
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_put_file_streams_the_file_with_exactly_the_given_headers(monkeypatch, tmp_path: Path) -> None:
    bucket = Bucket(_response(200, text=""))
    monkeypatch.setattr(http, "cloud_storage_http_request", bucket)
    (tmp_path / "p.tar.gz").write_bytes(b"\x1f\x8b package")

    put_file("https://bucket.s3/k?X-Amz-Signature=abc", {"Content-Type": "application/gzip"}, tmp_path / "p.tar.gz")

    assert bucket.received == [
        {
            "method": "put",
            "url": "https://bucket.s3/k?X-Amz-Signature=abc",
            "headers": {"Content-Type": "application/gzip"},
            "body": b"\x1f\x8b package",
        }
    ]


def test_refused_upload_is_an_error_with_the_storage_answer(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(http, "cloud_storage_http_request", Bucket(_response(403, text="<Code>AccessDenied</Code>")))
    (tmp_path / "p").write_bytes(b"x")

    with pytest.raises(MlflowException, match="HTTP 403: <Code>AccessDenied</Code>") as raised:
        put_file("https://bucket.s3/k?X-Amz-Signature=abc", {}, tmp_path / "p")
    assert raised.value.error_code == "PERMISSION_DENIED"


def test_upload_connection_error_does_not_show_the_signature(monkeypatch, tmp_path: Path) -> None:
    error = requests.ConnectionError("Max retries exceeded with url: /k?X-Amz-Signature=abc (Caused by timeout)")
    monkeypatch.setattr(http, "cloud_storage_http_request", Bucket(error))
    (tmp_path / "p").write_bytes(b"x")

    with pytest.raises(MlflowException) as raised:
        put_file("https://bucket.s3/k?X-Amz-Signature=abc", {}, tmp_path / "p")

    assert "Max retries exceeded with url: /k?... (Caused by timeout)" in raised.value.message
    assert "abc" not in raised.value.message


def test_a_large_package_goes_up_part_by_part_then_is_joined(monkeypatch, tmp_path: Path) -> None:
    sent: list[tuple[str, bytes]] = []

    def bucket(method: str, url: str, **kwargs: Any) -> requests.Response:
        sent.append((url, kwargs["data"]))
        response = _response(200, text="")
        response.headers["ETag"] = f'"etag-{len(sent)}"'
        return response

    posted: list[tuple[str, dict[str, Any]]] = []

    class Http:
        def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
            posted.append((path, body))
            return {}

    monkeypatch.setattr(http, "cloud_storage_http_request", bucket)
    (tmp_path / "p.tar.gz").write_bytes(b"0123456789")
    package = Package(
        "a" * 32, "s3://b/k", upload_id="u-1", part_size=4, part_urls=("https://p/1", "https://p/2", "https://p/3")
    )

    ProjectsApi(Http()).upload(package, tmp_path / "p.tar.gz")

    assert sent == [("https://p/1", b"0123"), ("https://p/2", b"4567"), ("https://p/3", b"89")]
    assert posted == [
        (
            "/api/2.0/stratus/projects/packages/complete",
            {
                "package_id": "a" * 32,
                "upload_id": "u-1",
                "parts": [
                    {"part_number": 1, "etag": '"etag-1"'},
                    {"part_number": 2, "etag": '"etag-2"'},
                    {"part_number": 3, "etag": '"etag-3"'},
                ],
            },
        )
    ]


def test_the_package_answer_chooses_one_put_or_parts() -> None:
    class Http:
        def __init__(self, answer: dict[str, Any]) -> None:
            self.answer, self.body = answer, None

        def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
            self.body = body
            return self.answer

    single = Http({"package_id": "p", "package_uri": "s3://b/k", "upload_url": "https://u", "upload_headers": {}})
    assert ProjectsApi(single).create_package("1", 10).upload_url == "https://u"
    assert single.body == {"experiment_id": "1", "size_bytes": 10}
    parts = Http({"package_id": "p", "package_uri": "s3://b/k", "upload_id": "u", "part_size": 5, "part_urls": ["x"]})
    assert ProjectsApi(parts).create_package("1", 10).part_urls == ("x",)
