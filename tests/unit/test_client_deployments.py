"""The ``stratus`` target of ``mlflow.deployments`` against a fake Stratus: what each call sends, what it returns,
and that Stratus's error answers reach the user as ``MlflowException``s with their error codes. The network is
replaced under MLflow's ``http_request``, so URLs, headers and credentials are MLflow's own."""

from __future__ import annotations

import base64
import importlib.metadata
import json
from typing import Any

import mlflow.deployments
import mlflow.models.flavor_backend_registry
import mlflow.utils.rest_utils
import numpy as np
import pandas as pd
import pytest
import requests
import scipy.sparse
from click.testing import CliRunner
from mlflow.deployments import PredictionsResponse, get_deploy_client
from mlflow.deployments import cli as deployments_cli
from mlflow.exceptions import MlflowException
from mlflow.tracking._tracking_service import utils as tracking_utils
from mlflow_stratus import deployments
from mlflow_stratus.deployments import StratusDeploymentClient, scoring_request

STRATUS = "http://stratus.test:5000"
PREFIX = "/api/2.0/stratus/deployments"


def _response(status: int, body: Any = None, text: str | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.url = STRATUS
    response._content = (text if text is not None else json.dumps(body)).encode()
    return response


def _d(name: str = "wine", state: str = "READY", **fields: Any) -> dict[str, Any]:
    """A deployment as the contract describes it."""
    return {
        "name": name,
        "flavor": "python_function",
        "model_uri": f"models:/{name}@champion",
        "config": {"memory_mb": 2048, "timeout_seconds": 30, "canary_percent": 0},
        "state": state,
        "message": "",
        "endpoint_url": f"{STRATUS}{PREFIX}/{name}/invocations",
        "model_name": name,
        "model_version": "3",
        "run_id": "r-3",
        **fields,
    }


class Wire:
    """Stands in for the network under MLflow's http_request: records each request, answers from a queue."""

    def __init__(self) -> None:
        self.answers: list[requests.Response] = []
        self.requests: list[dict[str, Any]] = []

    def answer(self, status: int, body: Any = None, text: str | None = None) -> None:
        self.answers.append(_response(status, body, text))

    def __call__(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        self.requests.append({"method": method, "url": url, **kwargs})
        return self.answers.pop(0)

    def sent(self) -> list[tuple[str, str, Any]]:
        """(method, path, JSON body or query) of each request."""
        return [
            (sent["method"], sent["url"].removeprefix(STRATUS), sent.get("json", sent.get("params")))
            for sent in self.requests
        ]


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Wire:
    wire = Wire()
    monkeypatch.setattr(mlflow.utils.rest_utils, "_get_http_response_with_retries", wire)
    for name in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", "/nonexistent")  # no ~/.mlflow/credentials
    # a URI set with mlflow.set_tracking_uri (by an earlier test in this worker) would win over the variable
    monkeypatch.setattr(tracking_utils, "_tracking_uri", None)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", STRATUS)
    return wire


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(wire: Wire, clock: Clock) -> StratusDeploymentClient:
    return StratusDeploymentClient("stratus", sleep=clock.sleep, clock=lambda: clock.now)


# --- the plugin as MLflow finds it


def test_the_package_registers_the_stratus_deployments_entry_point() -> None:
    [entry] = [ep for ep in importlib.metadata.entry_points(group="mlflow.deployments") if ep.name == "stratus"]

    assert entry.value == "mlflow_stratus.deployments"


def test_get_deploy_client_talks_to_the_stratus_at_the_tracking_uri(wire: Wire) -> None:
    wire.answer(200, {"deployment": _d()})

    client = get_deploy_client("stratus")
    deployment = client.get_deployment("wine")

    assert isinstance(client, StratusDeploymentClient)
    assert deployment["endpoint_url"] == f"{STRATUS}{PREFIX}/wine/invocations"
    assert wire.sent() == [("GET", f"{PREFIX}/get", {"name": "wine"})]


def test_a_target_uri_with_a_url_talks_to_that_stratus(wire: Wire) -> None:
    wire.answer(200, {"deployment": _d()})

    get_deploy_client("stratus:/https://abc.execute-api.test/prod").get_deployment("wine")

    assert wire.requests[0]["url"] == f"https://abc.execute-api.test/prod{PREFIX}/get"


@pytest.mark.parametrize("target", ["stratus://host.test", "stratus:/ftp://host.test", "stratus:/host.test"])
def test_an_unknown_target_uri_is_refused(wire: Wire, target: str) -> None:
    with pytest.raises(MlflowException, match="Unknown stratus target URI") as raised:
        get_deploy_client(target)

    assert raised.value.error_code == "INVALID_PARAMETER_VALUE"


def test_a_tracking_uri_that_is_not_a_stratus_url_is_refused(wire: Wire, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db")

    with pytest.raises(MlflowException, match="set MLFLOW_TRACKING_URI") as raised:
        get_deploy_client("stratus")

    assert raised.value.error_code == "INVALID_PARAMETER_VALUE"


def test_requests_carry_the_tracking_credentials(wire: Wire, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ana")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "s3cret")
    wire.answer(200, {"predictions": [1]})

    get_deploy_client("stratus").predict("wine", [[1.0]])

    assert wire.requests[0]["headers"]["Authorization"] == "Basic " + base64.b64encode(b"ana:s3cret").decode()


def test_target_help_names_the_uris_and_every_config_key() -> None:
    text = mlflow.deployments.interface._target_help("stratus")

    for expected in (
        "memory_mb",
        "timeout_seconds",
        "canary_percent",
        "canary_seconds",
        "canary_max_errors",
        "synchronous",
        "stratus:/<url>",
        "models:/<name>@<alias>",
        "models:/<name>/<version>",
        "models:/<model_id>",
        "runs:/<run_id>/<path>",
        "mlflow deployments create -t stratus --name wine -m models:/wine@champion",
        "-C canary_percent=10",
    ):
        assert expected in text


# --- create, update, delete, get, list


def test_create_sends_name_uri_and_config_and_returns_the_deployment(client, wire: Wire) -> None:
    wire.answer(200, {"deployment": _d()})

    deployment = client.create_deployment("wine", "models:/wine@champion", config={"canary_percent": "10"})

    assert deployment["name"] == "wine" and deployment["flavor"] == "python_function"
    assert wire.sent() == [
        (
            "POST",
            f"{PREFIX}/create",
            {"name": "wine", "model_uri": "models:/wine@champion", "config": {"canary_percent": "10"}},
        )
    ]


def test_create_waits_until_the_rollout_has_ended(client, wire: Wire, clock: Clock) -> None:
    """Given a create the server answers PENDING, when the client creates, then it polls get until READY."""
    wire.answer(200, {"deployment": _d(state="PENDING", rollout={"id": "ro-1", "step": "BUILDING"})})
    wire.answer(200, {"deployment": _d(state="PENDING", rollout={"id": "ro-1", "step": "DEPLOYED"})})
    wire.answer(200, {"deployment": _d(state="READY", last_rollout={"id": "ro-1", "outcome": "SUCCEEDED"})})

    deployment = client.create_deployment("wine", "models:/wine@champion")

    assert deployment["state"] == "READY"
    assert [method for method, _, _ in wire.sent()] == ["POST", "GET", "GET"]
    assert clock.slept == [1.0, 1.5]


def test_synchronous_false_returns_at_once_and_is_never_sent(client, wire: Wire) -> None:
    wire.answer(200, {"deployment": _d(state="PENDING")})

    deployment = client.create_deployment("wine", "models:/wine/3", config={"synchronous": "false"})

    assert deployment["state"] == "PENDING"
    assert wire.sent() == [("POST", f"{PREFIX}/create", {"name": "wine", "model_uri": "models:/wine/3"})]


def test_synchronous_must_be_true_or_false(client, wire: Wire) -> None:
    with pytest.raises(MlflowException, match="'synchronous' must be true or false") as raised:
        client.create_deployment("wine", "models:/wine/3", config={"synchronous": "maybe"})

    assert raised.value.error_code == "INVALID_PARAMETER_VALUE" and wire.requests == []


def test_a_first_rollout_that_fails_is_an_error_with_the_servers_reason(client, wire: Wire) -> None:
    wire.answer(200, {"deployment": _d(state="PENDING", rollout={"id": "ro-1"})})
    wire.answer(200, {"deployment": _d(state="FAILED", message="smoke test failed: KeyError 'alcohol'")})

    with pytest.raises(MlflowException, match="Deployment 'wine' failed: smoke test failed: KeyError 'alcohol'"):
        client.create_deployment("wine", "models:/wine@champion")


def test_an_update_whose_rollout_is_rolled_back_is_an_error_naming_what_still_serves(client, wire: Wire) -> None:
    wire.answer(200, {"deployment": _d(state="UPDATING", rollout={"id": "ro-2"})})
    wire.answer(
        200,
        {
            "deployment": _d(
                state="READY",
                model_version="3",
                last_rollout={"id": "ro-2", "outcome": "ROLLED_BACK", "message": "canary answered 3 errors"},
            )
        },
    )

    with pytest.raises(MlflowException, match="ROLLED_BACK: canary answered 3 errors.*version 3 still serves"):
        client.update_deployment("wine", model_uri="models:/wine/4")


def test_waiting_gives_up_after_the_limit_with_deadline_exceeded(client, wire: Wire, clock: Clock) -> None:
    wire.answer(200, {"deployment": _d(state="PENDING", message="Building the image")})
    for _ in range(int(deployments.WAIT_SECONDS / deployments.FIRST_POLL_SECONDS) + 1):  # more than it asks
        wire.answer(200, {"deployment": _d(state="PENDING", message="Building the image")})

    with pytest.raises(MlflowException, match="still PENDING after 1800 s") as raised:
        client.create_deployment("wine", "models:/wine@champion")

    assert raised.value.error_code == "DEADLINE_EXCEEDED"
    assert clock.now >= deployments.WAIT_SECONDS and max(clock.slept) == deployments.MAX_POLL_SECONDS


def test_update_sends_only_what_changes_and_returns_the_deployment(client, wire: Wire) -> None:
    wire.answer(200, {"deployment": _d(config={"memory_mb": 4096})})

    deployment = client.update_deployment("wine", config={"memory_mb": "4096"})

    assert deployment["config"] == {"memory_mb": 4096}
    assert wire.sent() == [("POST", f"{PREFIX}/update", {"name": "wine", "config": {"memory_mb": "4096"}})]


def test_update_with_a_flavor_needs_a_model_uri(client, wire: Wire) -> None:
    with pytest.raises(MlflowException, match="only be given with a model_uri"):
        client.update_deployment("wine", flavor="python_function")

    assert wire.requests == []


def test_delete_sends_the_name(client, wire: Wire) -> None:
    wire.answer(200, {})

    client.delete_deployment("wine")

    assert wire.sent() == [("POST", f"{PREFIX}/delete", {"name": "wine"})]


def test_deleting_a_deployment_that_does_not_exist_is_not_an_error(client, wire: Wire) -> None:
    wire.answer(404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Deployment 'wine' not found"})

    client.delete_deployment("wine")


def test_delete_raises_other_errors(client, wire: Wire) -> None:
    wire.answer(403, {"error_code": "PERMISSION_DENIED", "message": "no"})

    with pytest.raises(MlflowException) as raised:
        client.delete_deployment("wine")

    assert raised.value.error_code == "PERMISSION_DENIED"


def test_list_follows_the_page_token_to_the_last_page(client, wire: Wire) -> None:
    wire.answer(200, {"deployments": [_d("a"), _d("b")], "next_page_token": "t1"})
    wire.answer(200, {"deployments": [_d("c")]})

    names = [deployment["name"] for deployment in client.list_deployments()]

    assert names == ["a", "b", "c"]
    assert wire.sent() == [("GET", f"{PREFIX}/list", {}), ("GET", f"{PREFIX}/list", {"page_token": "t1"})]


def test_list_of_no_deployments_is_empty(client, wire: Wire) -> None:
    wire.answer(200, {})

    assert client.list_deployments() == []


def test_history_asks_for_the_deployment_newest_first(client, wire: Wire) -> None:
    wire.answer(200, {"history": [{"rollout_id": "ro-2", "outcome": "SUCCEEDED"}]})

    history = client.get_deployment_history("wine", max_results=5)

    assert history == [{"rollout_id": "ro-2", "outcome": "SUCCEEDED"}]
    assert wire.sent() == [("GET", f"{PREFIX}/history", {"name": "wine", "max_results": "5"})]


@pytest.mark.parametrize(
    ("call", "status", "code", "message"),
    [
        (lambda c: c.get_deployment("nope"), 404, "RESOURCE_DOES_NOT_EXIST", "Deployment 'nope' not found"),
        (lambda c: c.create_deployment("wine", "models:/wine/3"), 400, "RESOURCE_ALREADY_EXISTS", "exists"),
        (lambda c: c.create_deployment("wine", "models:/nope@x"), 404, "RESOURCE_DOES_NOT_EXIST", "no alias"),
        (lambda c: c.create_deployment("bad name", "models:/w/1"), 400, "INVALID_PARAMETER_VALUE", "name"),
        (lambda c: c.update_deployment("wine", config={"memry_mb": 1}), 400, "INVALID_PARAMETER_VALUE", "key"),
    ],
)
def test_stratus_error_answers_are_mlflow_exceptions_with_their_code(client, wire, call, status, code, message):
    wire.answer(status, {"error_code": code, "message": message})

    with pytest.raises(MlflowException) as raised:
        call(client)

    assert (raised.value.error_code, raised.value.message) == (code, message)


def test_an_answer_without_a_deployment_is_an_internal_error(client, wire: Wire) -> None:
    wire.answer(200, {"name": "wine"})

    with pytest.raises(MlflowException, match="has no deployment") as raised:
        client.get_deployment("wine")

    assert raised.value.error_code == "INTERNAL_ERROR"


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.create_deployment("wine", "models:/w/1", endpoint="e"),
        lambda c: c.get_deployment("wine", endpoint="e"),
        lambda c: c.list_deployments(endpoint="e"),
        lambda c: c.predict("wine", [[1]], endpoint="e"),
    ],
)
def test_endpoints_are_refused(client, wire: Wire, call) -> None:
    with pytest.raises(MlflowException, match="no endpoints") as raised:
        call(client)

    assert raised.value.error_code == "INVALID_PARAMETER_VALUE" and wire.requests == []


# --- predict


def _sent_body(wire: Wire) -> Any:
    [sent] = wire.requests
    assert (sent["method"], sent["url"]) == ("POST", f"{STRATUS}{PREFIX}/wine/invocations")
    assert sent["headers"]["Content-Type"] == "application/json"
    return json.loads(sent["data"])


def test_predict_sends_a_dataframe_as_dataframe_split_with_params(client, wire: Wire) -> None:
    wire.answer(200, {"predictions": [5.1, 6.2]})
    df = pd.DataFrame({"alcohol": [9.4, 12.8], "ph": [3.51, 3.2]})

    response = client.predict("wine", df, params={"threshold": 0.5})

    assert _sent_body(wire) == {
        "dataframe_split": {"index": [0, 1], "columns": ["alcohol", "ph"], "data": [[9.4, 3.51], [12.8, 3.2]]},
        "params": {"threshold": 0.5},
    }
    assert isinstance(response, PredictionsResponse)
    assert response.get_predictions(predictions_format="ndarray").tolist() == [5.1, 6.2]


@pytest.mark.parametrize(
    ("inputs", "body"),
    [
        (np.array([[1.0, 2.0], [3.0, 4.0]]), {"inputs": [[1.0, 2.0], [3.0, 4.0]]}),
        (np.array([1, 2], dtype=np.int64), {"inputs": [1, 2]}),
        ([[1, 2], [3, 4]], {"inputs": [[1, 2], [3, 4]]}),
        ({"a": np.array([1, 2]), "b": ["x", "y"]}, {"inputs": {"a": [1, 2], "b": ["x", "y"]}}),
        (scipy.sparse.csr_matrix([[0, 1], [2, 0]]), {"inputs": [[0, 1], [2, 0]]}),
        ({"dataframe_records": [{"a": 1}]}, {"dataframe_records": [{"a": 1}]}),
        ({"instances": [[1, 2]]}, {"instances": [[1, 2]]}),
    ],
)
def test_predict_builds_the_scoring_request_as_mlflow_does(client, wire: Wire, inputs: Any, body: Any) -> None:
    wire.answer(200, {"predictions": [0]})

    client.predict("wine", inputs, params={"k": 3})

    assert _sent_body(wire) == {**body, "params": {"k": 3}}


def test_predict_without_params_sends_none() -> None:
    assert json.loads(scoring_request([[1, 2]])) == {"inputs": [[1, 2]]}


def test_a_json_string_is_sent_as_it_is() -> None:
    body = '{"dataframe_records": [{"a": 1}], "params": {"k": 1}}'

    assert scoring_request(body) == body


@pytest.mark.parametrize(
    ("inputs", "params", "message"),
    [
        ({"inputs": [1], "params": {"k": 1}}, {"k": 2}, "params are given twice"),
        ('{"inputs": [1]}', {"k": 2}, "cannot be added to inputs given as a JSON string"),
        ([1], ["k"], "params must be a dict"),
        (object(), None, "Cannot send inputs of type object"),
    ],
)
def test_inputs_that_cannot_be_sent_are_refused(inputs: Any, params: Any, message: str) -> None:
    with pytest.raises(MlflowException, match=message) as raised:
        scoring_request(inputs, params)

    assert raised.value.error_code == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "INVALID_STATE"), (400, "BAD_REQUEST"), (404, "RESOURCE_DOES_NOT_EXIST"), (400, "INVALID_PARAMETER_VALUE")],
)
def test_a_scoring_error_is_an_mlflow_exception_with_its_code(client, wire: Wire, status: int, code: str) -> None:
    wire.answer(status, {"error_code": code, "message": "Deployment 'wine' has nothing serving yet"})

    with pytest.raises(MlflowException, match="nothing serving yet") as raised:
        client.predict("wine", [[1]])

    assert raised.value.error_code == code


def test_an_answer_without_predictions_is_an_error(client, wire: Wire) -> None:
    wire.answer(200, {"outputs": [1]})

    with pytest.raises(MlflowException, match="without 'predictions'"):
        client.predict("wine", [[1]])


def test_predict_needs_a_deployment_name(client, wire: Wire) -> None:
    with pytest.raises(MlflowException, match="needs the deployment's name"):
        client.predict(None, [[1]])


# --- MLflow's CLI


def test_cli_create_prints_the_flavor_and_name(wire: Wire) -> None:
    wire.answer(200, {"deployment": _d()})

    result = CliRunner().invoke(
        deployments_cli.commands,
        ["create", "-t", "stratus", "--name", "wine", "-m", "models:/wine@champion", "-C", "canary_percent=10"],
    )

    assert result.exit_code == 0, result.output
    assert "python_function deployment wine is created" in result.output
    assert wire.sent()[0][2] == {
        "name": "wine",
        "model_uri": "models:/wine@champion",
        "config": {"canary_percent": "10"},
    }


def test_cli_predict_sends_the_input_file_as_dataframe_split(wire: Wire, tmp_path) -> None:
    wire.answer(200, {"predictions": [5.1]})
    (tmp_path / "input.json").write_text(json.dumps({"alcohol": {"0": 9.4}, "ph": {"0": 3.51}}))

    result = CliRunner().invoke(
        deployments_cli.commands,
        ["predict", "-t", "stratus", "--name", "wine", "--input-path", str(tmp_path / "input.json")],
    )

    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"predictions": [5.1]}
    assert _sent_body(wire) == {"dataframe_split": {"index": [0], "columns": ["alcohol", "ph"], "data": [[9.4, 3.51]]}}


# --- run_local


class Backend:
    def __init__(self) -> None:
        self.made_with: dict[str, Any] = {}
        self.served: dict[str, Any] = {}

    def make(self, model_uri: str, **kwargs: Any) -> Backend:
        self.made_with = {"model_uri": model_uri, **kwargs}
        return self

    def serve(self, **kwargs: Any) -> None:
        self.served = kwargs


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> Backend:
    backend = Backend()
    monkeypatch.setattr(mlflow.models.flavor_backend_registry, "get_flavor_backend", backend.make)
    return backend


def test_run_local_serves_with_mlflows_scoring_server(backend: Backend) -> None:
    mlflow.deployments.run_local("stratus", "wine", "models:/wine/3", None, {"port": "6000", "env_manager": "uv"})

    assert backend.made_with == {"model_uri": "models:/wine/3", "env_manager": "uv", "workers": 1}
    assert backend.served == {"model_uri": "models:/wine/3", "port": 6000, "host": "127.0.0.1", "timeout": 60}


def test_run_local_defaults_to_this_python_on_port_5001(backend: Backend) -> None:
    deployments.run_local("wine", "models:/wine/3")

    assert backend.made_with["env_manager"] == "local" and backend.served["port"] == 5001


@pytest.mark.parametrize(
    ("flavor", "config", "message"),
    [
        (None, {"prot": "6000"}, "Unknown run_local config key 'prot'"),
        (None, {"port": "70000"}, "'port' must be a whole number from 1 to 65535"),
        (None, {"env_manager": "pip"}, "Invalid value for `env_manager`"),
        ("sklearn", None, "Flavor 'sklearn' is not supported"),
    ],
)
def test_run_local_refuses_bad_settings(backend: Backend, flavor: Any, config: Any, message: str) -> None:
    with pytest.raises(MlflowException, match=message) as raised:
        deployments.run_local("wine", "models:/wine/3", flavor, config)

    assert raised.value.error_code == "INVALID_PARAMETER_VALUE" and backend.served == {}
