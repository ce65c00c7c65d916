"""Model deployments on ``stratus local`` with the stock client and the mlflow-stratus plugin
(``get_deploy_client("stratus")``): deploy a registered model by alias, score it through the plugin and over HTTP in
every input format (answered exactly as the scoring adapter, itself checked against ``mlflow models serve``, answers),
bad input, an alias move under continuous traffic with no failed request, history, list and delete.

The deployment's function is a worker process of the local Lambda (``stratus_local.lambda_api``); rollouts go
through the same events as on AWS: the table's stream, the Stratus bus, DeploymentRolloutsFunction."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import mlflow
import pandas as pd
import pytest
import requests
from mlflow.deployments import get_deploy_client
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient
from scoring_cases import CASES, FRAME, ROWS, comparable
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from stratus_serving.scoring import Lineage, Scorer

MODEL = "iris-deployed"
ROLLOUT_SECONDS = 180

pytestmark = pytest.mark.xdist_group("deployments")


def _features() -> tuple[pd.DataFrame, Any]:
    iris = load_iris(as_frame=True)
    features = iris.data.iloc[:, :2].rename(columns=lambda c: c.split(" (")[0].replace(" ", "_"))
    return features, iris.target


def _log_version(alias: str | None, *, constant: int | None = None) -> tuple[str, str]:
    """Log and register an iris model (one that always answers ``constant`` if given); its version and run id."""
    features, target = _features()
    if constant is not None:
        target = pd.Series([constant] * len(features))
        target.iloc[0] = (constant + 1) % 3  # a classifier needs two classes
    model = LogisticRegression(max_iter=200).fit(features, target)
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(features, model.predict(features)),
            input_example=features.head(2),
            registered_model_name=MODEL,
        )
    version = str(info.registered_model_version)
    if alias:
        MlflowClient().set_registered_model_alias(MODEL, alias, version)
    return version, run.info.run_id


@dataclass
class Deployed:
    name: str
    version: str
    run_id: str
    endpoint: str
    client: Any
    local_model: str = ""
    traffic: list[tuple[int, str]] = field(default_factory=list)


@pytest.fixture(scope="module")
def deployed(tracking_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    mlflow.set_experiment("deployments-e2e")
    version, run_id = _log_version("champion")
    client = get_deploy_client("stratus")
    created = client.create_deployment("iris-api", f"models:/{MODEL}@champion")  # waits until it serves
    assert created["name"] == "iris-api" and created["flavor"] == "python_function"
    found = client.get_deployment("iris-api")
    local = mlflow.artifacts.download_artifacts(
        f"models:/{MODEL}/{version}", dst_path=str(tmp_path_factory.mktemp("m"))
    )
    yield Deployed("iris-api", version, run_id, found["endpoint_url"], client, local)
    client.delete_deployment("iris-api")  # the plugin's delete is idempotent: the last test deleted it already


def test_a_deployment_by_alias_serves_the_aliased_version(deployed: Deployed, tracking_uri: str) -> None:
    found = deployed.client.get_deployment(deployed.name)
    assert found["state"] == "READY", found
    assert (found["model_version"], found["run_id"], found["model_name"]) == (deployed.version, deployed.run_id, MODEL)
    assert found["follows"] == {"model_name": MODEL, "alias": "champion"}
    assert found["endpoint_url"] == f"{tracking_uri}/api/2.0/stratus/deployments/iris-api/invocations"
    assert found["model_uri"] == f"models:/{MODEL}@champion"


def test_predict_through_the_plugin_with_a_dataframe_and_params(deployed: Deployed) -> None:
    answer = deployed.client.predict(deployed.name, FRAME)
    assert len(answer["predictions"]) == len(ROWS)
    answer = deployed.client.predict(deployed.name, {"dataframe_records": ROWS}, params={"unused": 1})
    assert len(answer["predictions"]) == len(ROWS)


@pytest.mark.parametrize("case", list(CASES))
def test_every_input_format_and_error_answers_as_the_scoring_protocol(case: str, deployed: Deployed) -> None:
    content_type, body = CASES[case]
    theirs = Scorer.load(Lineage(deployed.local_model)).answer("POST", "/invocations", content_type, body)
    ours = requests.post(deployed.endpoint, data=body, headers={"Content-Type": content_type}, timeout=60)
    assert comparable(ours.status_code, ours.headers.get("content-type", ""), ours.content) == comparable(
        theirs.status, theirs.content_type, theirs.body
    )
    assert ours.status_code < 500
    assert ours.headers["x-stratus-model-version"] == deployed.version
    assert ours.headers["x-stratus-run-id"] == deployed.run_id
    assert ours.headers["x-stratus-deployment"] == deployed.name


def test_bad_requests_to_the_deployment_api_are_mlflow_errors(deployed: Deployed) -> None:
    client = deployed.client
    with pytest.raises(MlflowException) as duplicate:
        client.create_deployment(deployed.name, f"models:/{MODEL}@champion")
    assert duplicate.value.error_code == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as unknown:
        client.create_deployment("other", f"models:/{MODEL}/999")
    assert unknown.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as bad_name:
        client.create_deployment("no spaces allowed", f"models:/{MODEL}@champion")
    assert bad_name.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as bad_key:
        client.create_deployment("other", f"models:/{MODEL}@champion", config={"vcpu": "2"})
    assert bad_key.value.error_code == "INVALID_PARAMETER_VALUE" and "vcpu" in str(bad_key.value)
    with pytest.raises(MlflowException) as missing:
        client.get_deployment("never-made")
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert [d["name"] for d in client.list_deployments()] == [deployed.name]


def _traffic(endpoint: str, seen: list[tuple[int, str]], stop: threading.Event) -> None:
    body = {"dataframe_records": ROWS}
    while not stop.is_set():
        try:
            answer = requests.post(endpoint, json=body, timeout=60)
            seen.append((answer.status_code, answer.headers.get("x-stratus-model-version", "")))
        except requests.RequestException as error:  # a reset connection is a failed request too
            seen.append((0, type(error).__name__))


def test_an_alias_move_under_continuous_traffic_fails_no_request(deployed: Deployed) -> None:
    """Last in this module: it moves the alias the other tests' deployment follows."""
    streams: list[list[tuple[int, str]]] = [[] for _ in range(3)]
    stop = threading.Event()
    workers = [threading.Thread(target=_traffic, args=(deployed.endpoint, s, stop)) for s in streams]
    for worker in workers:
        worker.start()
    try:
        time.sleep(1.0)
        new_version, new_run = _log_version("champion", constant=2)
        deadline = time.monotonic() + ROLLOUT_SECONDS
        while True:
            found = deployed.client.get_deployment(deployed.name)
            if found["state"] == "READY" and found.get("model_version") == new_version:
                break
            assert found["state"] != "FAILED" and time.monotonic() < deadline, found
            time.sleep(0.5)
        time.sleep(2.0)  # traffic keeps flowing on the new version
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=90)
    answers = [a for s in streams for a in s]
    assert answers and all(status == 200 for status, _ in answers), [a for a in answers if a[0] != 200][:5]
    versions = {v for _, v in answers}
    assert versions == {deployed.version, new_version}
    for stream in streams:  # once a client saw the new version, it never sees the old one again
        seen = [v for _, v in stream]
        assert deployed.version not in seen[seen.index(new_version) :]
    assert found["run_id"] == new_run
    history = deployed.client.get_deployment_history(deployed.name)
    assert (history[0]["outcome"], history[0]["model_version"], history[0]["previous_model_version"]) == (
        "SUCCEEDED",
        new_version,
        deployed.version,
    )
    assert history[0]["reason"] == "alias moved"

    deployed.client.delete_deployment(deployed.name)
    assert deployed.client.list_deployments() == []
    gone = requests.post(deployed.endpoint, json={"dataframe_records": ROWS}, timeout=30)
    assert gone.status_code == 404 and gone.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
