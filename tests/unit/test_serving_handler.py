"""A deployment's Lambda handler: HTTP API events in (through the Stratus API path or the function's own, base64
bodies as API Gateway sends binary ones), MLflow's scoring answers out with the lineage headers."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import mlflow
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from stratus_serving import handler as serving


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    iris = load_iris(as_frame=True)
    features = iris.data.iloc[:, :2]
    folder = tmp_path_factory.mktemp("model") / "iris"
    mlflow.sklearn.save_model(LogisticRegression(max_iter=200).fit(features, iris.target), folder)
    return folder


@pytest.fixture
def handler(deployed: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("STRATUS_MODEL_URI", str(deployed))
    monkeypatch.setenv("STRATUS_MODEL_NAME", "iris")
    monkeypatch.setenv("STRATUS_MODEL_VERSION", "7")
    monkeypatch.setenv("STRATUS_MODEL_RUN_ID", "abc")
    serving.scorer.cache_clear()
    yield serving.handler
    serving.scorer.cache_clear()


def event(method: str, path: str, body: bytes = b"", content_type: str = "application/json", binary: bool = False):
    return {
        "rawPath": path,
        "requestContext": {"http": {"method": method, "path": path}},
        "headers": {"Content-Type": content_type},
        "body": base64.b64encode(body).decode() if binary else body.decode(),
        "isBase64Encoded": binary,
    }


def test_predictions_through_the_stratus_api_path(handler) -> None:
    body = json.dumps({"dataframe_split": {"columns": ["sepal length (cm)", "sepal width (cm)"], "data": [[5.1, 3.5]]}})
    answer = handler(event("POST", "/api/2.0/stratus/deployments/iris-prod/invocations", body.encode()))
    assert answer["statusCode"] == 200, answer["body"]
    assert json.loads(answer["body"]) == {"predictions": [0]}
    assert answer["headers"]["x-stratus-model-version"] == "7"
    assert answer["headers"]["x-stratus-run-id"] == "abc"


def test_a_base64_csv_body(handler) -> None:
    csv = b"sepal length (cm),sepal width (cm)\n5.1,3.5\n6.7,3.0\n"
    answer = handler(event("POST", "/invocations", csv, content_type="text/csv", binary=True))
    assert answer["statusCode"] == 200 and len(json.loads(answer["body"])["predictions"]) == 2


def test_bad_input_is_a_400_with_mlflows_error(handler) -> None:
    answer = handler(event("POST", "/invocations", b"{not json"))
    assert answer["statusCode"] == 400
    assert json.loads(answer["body"])["error_code"] == "BAD_REQUEST"


def test_health_and_unknown_paths(handler) -> None:
    assert handler(event("GET", "/ping"))["statusCode"] == 200
    assert handler(event("GET", "/nope"))["statusCode"] == 404
