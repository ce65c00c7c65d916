"""stratus local's AWS Lambda for deployments (stratus_local/lambda_api.py): boto3's lambda client creates a serving
function, publishes versions, routes aliases and invokes them, and each version answers from a worker process of
serving/ (``python -m stratus_serving.worker``) that loaded a real MLflow model, as the deployment code does on AWS.

One emulator and one function with two versions serve the whole module (a worker's cold start imports mlflow: seconds),
so the tests run in order on one xdist worker."""

from __future__ import annotations

import io
import json
import os
import threading
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from stratus_local.lambda_api import MAX_PAYLOAD_BYTES, LambdaEmulator
from stratus_local.stack import LocalStack

pytestmark = pytest.mark.xdist_group("local_lambda")

REPO = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
FUNCTION = "stratus-dep-wine"
ROLE = "arn:aws:iam::000000000000:role/stratus-serving"
IDLE_STOP_S = 2.0
MODEL_CODE = """
import time

import mlflow


class Doubler(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        time.sleep(float((params or {}).get("sleep", 0.0)))
        return (model_input["x"] * 2).tolist()


mlflow.models.set_model(Doubler())
"""


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pyfunc model from code (nothing pickled, so the worker needs no test module) with a signature and a
    ``sleep`` parameter."""
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature

    folder = tmp_path_factory.mktemp("model")
    code = folder / "doubler.py"
    code.write_text(MODEL_CODE)
    signature = infer_signature(pd.DataFrame({"x": [1.0]}), [2.0], params={"sleep": 0.0})
    path = folder / "model"
    with warnings.catch_warnings():  # no input example: not what these tests are about
        warnings.simplefilter("ignore")
        mlflow.pyfunc.save_model(path, python_model=str(code), signature=signature, pip_requirements=["mlflow"])
    return path


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LambdaEmulator]:
    emulator = LambdaEmulator(
        serving_dir=REPO / "serving",
        region=REGION,
        environment={
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path_factory.mktemp("home")),
            "MLFLOW_DISABLE_TELEMETRY": "true",
        },
        idle_stop_s=IDLE_STOP_S,
        update_seconds=0.2,
        log=io.StringIO(),
    )
    emulator.start()
    yield emulator
    emulator.stop()


def _client(endpoint: str, **config: Any) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, **config),  # a failure is not retried
    )


@pytest.fixture(scope="module")
def client(emulator: LambdaEmulator) -> Any:
    return _client(emulator.endpoint, max_pool_connections=16)


def _variables(model_dir: Path, version: str) -> dict[str, str]:
    return {
        "STRATUS_MODEL_URI": str(model_dir),
        "STRATUS_MODEL_NAME": "wine",
        "STRATUS_MODEL_VERSION": version,
        "STRATUS_DEPLOYMENT_NAME": "wine",
    }


@pytest.fixture(scope="module")
def function(client: Any, model_dir: Path) -> str:
    """The deployment code's calls: create (then wait Active), publish; update the settings (then wait
    Successful), publish again. Versions 1 and 2 serve model versions 1 and 2."""
    client.create_function(
        FunctionName=FUNCTION,
        PackageType="Image",
        Code={"ImageUri": "stratus-serving:local"},
        Role=ROLE,
        MemorySize=1024,
        Timeout=2,
        Environment={"Variables": _variables(model_dir, "1")},
        Tags={"stratus:deployment": "wine"},
        Architectures=["arm64"],
        Publish=False,
    )
    client.get_waiter("function_active_v2").wait(FunctionName=FUNCTION, WaiterConfig={"Delay": 0.1})
    assert client.publish_version(FunctionName=FUNCTION)["Version"] == "1"
    client.update_function_code(FunctionName=FUNCTION, ImageUri="stratus-serving:local")
    with pytest.raises(ClientError) as busy:  # as on AWS, one change at a time
        client.update_function_configuration(FunctionName=FUNCTION, Timeout=2)
    assert busy.value.response["Error"]["Code"] == "ResourceConflictException"
    client.get_waiter("function_updated_v2").wait(FunctionName=FUNCTION, WaiterConfig={"Delay": 0.1})
    client.update_function_configuration(
        FunctionName=FUNCTION, MemorySize=1024, Timeout=2, Environment={"Variables": _variables(model_dir, "2")}
    )
    client.get_waiter("function_updated_v2").wait(FunctionName=FUNCTION, WaiterConfig={"Delay": 0.1})
    assert client.publish_version(FunctionName=FUNCTION)["Version"] == "2"
    return FUNCTION


@pytest.fixture
def aliases(client: Any, function: str) -> Iterator[None]:
    """Each test makes its own aliases; they go when it ends."""
    yield
    for alias in client.list_aliases(FunctionName=function)["Aliases"]:
        client.delete_alias(FunctionName=function, Name=alias["Name"])


def _event(rows: list[float], sleep_s: float = 0.0) -> dict[str, Any]:
    """An HTTP API (payload 2.0) event as the Stratus API forwards a scoring request."""
    body: dict[str, Any] = {"dataframe_split": {"columns": ["x"], "data": [[x] for x in rows]}}
    if sleep_s:
        body["params"] = {"sleep": sleep_s}
    return {
        "version": "2.0",
        "rawPath": "/api/2.0/stratus/deployments/wine/invocations",
        "requestContext": {"http": {"method": "POST", "path": "/api/2.0/stratus/deployments/wine/invocations"}},
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


@dataclass(frozen=True)
class Answer:
    executed_version: str | None
    function_error: str | None
    payload: dict[str, Any]

    @property
    def predictions(self) -> Any:
        return json.loads(self.payload["body"])["predictions"]

    @property
    def model_version(self) -> str:
        return str(self.payload["headers"]["x-stratus-model-version"])


def _invoke(client: Any, qualifier: str | None, event: dict[str, Any]) -> Answer:
    qualified = {"Qualifier": qualifier} if qualifier else {}
    answer = client.invoke(
        FunctionName=FUNCTION, InvocationType="RequestResponse", Payload=json.dumps(event), **qualified
    )
    assert answer["StatusCode"] == 200
    return Answer(answer.get("ExecutedVersion"), answer.get("FunctionError"), json.loads(answer["Payload"].read()))


def _pids(emulator: LambdaEmulator, version: str) -> list[int]:
    return [w.pid for w in emulator.workers() if w.function == FUNCTION and w.version == version and w.pid]


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_an_alias_invoke_answers_predictions_with_the_model_lineage(client: Any, function: str, aliases: None) -> None:
    client.create_alias(FunctionName=function, Name="live", FunctionVersion="1")
    assert client.get_alias(FunctionName=function, Name="live")["FunctionVersion"] == "1"

    answer = _invoke(client, "live", _event([1.0, 3.5]))

    assert (answer.executed_version, answer.function_error) == ("1", None)
    assert answer.payload["statusCode"] == 200
    assert answer.predictions == [2.0, 7.0]
    assert answer.payload["headers"]["x-stratus-deployment"] == "wine"
    assert answer.payload["headers"]["x-stratus-model-name"] == "wine"
    assert answer.model_version == "1"
    configuration = client.get_function(FunctionName=function, Qualifier="live")["Configuration"]
    assert (configuration["Version"], configuration["State"], configuration["MemorySize"]) == ("1", "Active", 1024)


def test_a_weighted_alias_sends_requests_to_both_versions(client: Any, function: str, aliases: None) -> None:
    client.create_alias(
        FunctionName=function,
        Name="live",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}},
    )

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: _invoke(client, "live", _event([2.0])), range(40)))

    assert {a.executed_version for a in answers} == {"1", "2"}
    assert all(a.function_error is None and a.predictions == [4.0] for a in answers)
    assert all(a.model_version == a.executed_version for a in answers)  # each version runs its own settings


def test_an_alias_move_under_concurrent_traffic_loses_no_request(
    client: Any, emulator: LambdaEmulator, function: str, aliases: None
) -> None:
    client.create_alias(FunctionName=function, Name="live", FunctionVersion="1")
    _invoke(client, "2", _event([1.0]))  # the new version is smoke-tested (warm) before the move, as a rollout does
    moved = threading.Event()
    stop = threading.Event()
    answers: list[tuple[bool, bool, Answer]] = []  # (sent after the move, ended after the move, answer)

    def traffic() -> None:
        while not stop.is_set():
            sent_after = moved.is_set()
            answer = _invoke(client, "live", _event([5.0], sleep_s=0.1))
            answers.append((sent_after, moved.is_set(), answer))

    with ThreadPoolExecutor(6) as pool:
        senders = [pool.submit(traffic) for _ in range(6)]
        time.sleep(1.0)
        client.update_alias(FunctionName=function, Name="live", FunctionVersion="2", RoutingConfig={})
        moved.set()
        time.sleep(1.0)
        stop.set()
        for sender in senders:
            sender.result()

    assert all(a.function_error is None and a.predictions == [10.0] for _, _, a in answers)
    assert {a.executed_version for sent_after, _, a in answers if sent_after} == {"2"}
    in_flight_at_the_move = [a for sent_after, ended_after, a in answers if not sent_after and ended_after]
    assert any(a.executed_version == "1" for a in in_flight_at_the_move)  # the old worker finished them
    (old,) = _pids(emulator, "1")
    deadline = time.monotonic() + IDLE_STOP_S + 5
    while not _gone(old):  # nothing routes to version 1 now: stopped once idle
        assert time.monotonic() < deadline, "the worker of version 1 was not stopped"
        time.sleep(0.1)
    assert _pids(emulator, "2")


def test_handler_errors_timeouts_and_oversized_payloads_answer_as_lambda(client: Any, function: str) -> None:
    crashed = _invoke(client, "2", {"body": 5})  # the handler expects a string body: it raises
    assert crashed.function_error == "Unhandled"
    assert crashed.payload["errorType"] == "AttributeError"
    assert crashed.payload["stackTrace"]

    timed_out = _invoke(client, "2", _event([1.0], sleep_s=3.0))  # the version's Timeout is 2 s
    assert timed_out.function_error == "Unhandled"
    assert "Task timed out after 2.00 seconds" in timed_out.payload["errorMessage"]

    with pytest.raises(ClientError) as too_large:
        client.invoke(FunctionName=function, Qualifier="2", Payload=json.dumps({"body": "x" * MAX_PAYLOAD_BYTES}))
    assert too_large.value.response["Error"]["Code"] == "RequestTooLargeException"
    assert too_large.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert _invoke(client, "2", _event([1.0])).predictions == [2.0]  # the worker is still serving


def test_unknown_functions_versions_and_aliases_are_resource_not_found(client: Any, function: str) -> None:
    calls = [
        lambda: client.get_function(FunctionName="stratus-dep-nothing"),
        lambda: client.get_function_configuration(FunctionName=function, Qualifier="9"),
        lambda: client.invoke(FunctionName="stratus-dep-nothing", Payload=b"{}"),
        lambda: client.invoke(FunctionName=function, Qualifier="9", Payload=b"{}"),
        lambda: client.get_alias(FunctionName=function, Name="nowhere"),
        lambda: client.create_alias(FunctionName=function, Name="x", FunctionVersion="9"),
        lambda: client.delete_function(FunctionName="stratus-dep-nothing"),
    ]
    for call in calls:
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            call()
    with pytest.raises(client.exceptions.ResourceConflictException):
        client.create_function(FunctionName=function, Role=ROLE, PackageType="Image", Code={"ImageUri": "x"})
    assert client.publish_version(FunctionName=function)["Version"] == "2"  # nothing changed: no new version


def test_delete_function_stops_its_workers(client: Any, emulator: LambdaEmulator, function: str) -> None:
    _invoke(client, "2", _event([1.0]))
    (pid,) = _pids(emulator, "2")

    client.delete_function(FunctionName=function)

    assert _gone(pid)
    assert not [w for w in emulator.workers() if w.function == function]
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_function(FunctionName=function)


def test_a_model_that_cannot_load_is_a_function_error_with_the_workers_output(
    client: Any, emulator: LambdaEmulator, tmp_path: Path
) -> None:
    missing = tmp_path / "no-model-here"
    client.create_function(
        FunctionName="stratus-dep-broken",
        PackageType="Image",
        Code={"ImageUri": "stratus-serving:local"},
        Role=ROLE,
        Environment={"Variables": {"STRATUS_MODEL_URI": str(missing)}},
    )
    client.get_waiter("function_active_v2").wait(FunctionName="stratus-dep-broken", WaiterConfig={"Delay": 0.1})
    version = client.publish_version(FunctionName="stratus-dep-broken")["Version"]

    answer = client.invoke(FunctionName="stratus-dep-broken", Qualifier=version, Payload=json.dumps(_event([1.0])))

    error = json.loads(answer["Payload"].read())
    assert answer["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Runtime.ExitError"
    assert "exit status 1" in error["errorMessage"]
    assert "the model could not be loaded" in error["errorMessage"]
    assert "no-model-here" in error["errorMessage"]  # MLflow's own message, from the worker's stderr
    assert not [w for w in emulator.workers() if w.function == "stratus-dep-broken"]
    client.delete_function(FunctionName="stratus-dep-broken")


def test_the_stack_serves_lambda_to_its_functions_and_gives_them_its_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.server import ThreadedMotoServer

    (tmp_path / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n    Type: AWS::Serverless::Function\n"
        "    Properties:\n      CodeUri: functions/fn/\n      Handler: app.handler\n"
        "      Events:\n        Api:\n          Type: HttpApi\n          Properties: {Path: /x, Method: GET}\n"
    )
    (tmp_path / "functions" / "fn").mkdir(parents=True)
    (tmp_path / "functions" / "fn" / "app.py").write_text("def handler(event, context):\n    return {}\n")
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    moto_endpoint = f"http://{host}:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    for name in ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_LAMBDA"):
        monkeypatch.delenv(name, raising=False)
    try:
        with LocalStack(tmp_path, ephemeral=True, port=0, log=io.StringIO(), log_requests=False) as stack:
            functions = boto3.client("lambda", region_name=REGION)  # as the server makes it: AWS_ENDPOINT_URL_LAMBDA
            functions.create_function(
                FunctionName="stratus-dep-x", PackageType="Image", Code={"ImageUri": "stratus-serving:local"}, Role=ROLE
            )
            endpoint, report = os.environ["AWS_ENDPOINT_URL_LAMBDA"], "\n".join(stack.report)
            emulated = _client(endpoint).get_function(FunctionName="stratus-dep-x")["Configuration"]
            with pytest.raises(ClientError, match="Function not found"):  # not moto's Lambda
                _client(moto_endpoint).get_function(FunctionName="stratus-dep-x")
    finally:
        moto.stop()

    assert emulated["FunctionArn"] == f"arn:aws:lambda:{REGION}:000000000000:function:stratus-dep-x"
    assert f"Lambda: emulated at {endpoint}" in report
    assert "AWS_ENDPOINT_URL_LAMBDA" not in os.environ
