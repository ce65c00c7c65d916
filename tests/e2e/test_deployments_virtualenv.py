"""Model deployments on ``stratus local --serving-env virtualenv``, with the stock client and the mlflow-stratus plugin:
the rollout takes AWS's path (an image key from the model's requirements, ECR's DescribeImages, a CodeBuild build whose
end arrives as a ``CodeBuild Build State Change`` event), and the deployment answers from a virtualenv holding the
model's own requirements, not from the Python that runs ``stratus local``. A second version with the same requirements
reuses that virtualenv; a version whose requirements pip cannot install keeps the previous one serving.

Each build installs mlflow-skinny, pandas, pyarrow and boto3 with pip: a minute or two each, on top of a stack of its
own, so this runs only with ``STRATUS_SLOW_TESTS=1``."""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import six
from local_process import stratus_local_process
from mlflow.deployments import get_deploy_client
from mlflow.tracking import MlflowClient

pytestmark = [
    pytest.mark.xdist_group("deployments_virtualenv"),
    pytest.mark.skipif(
        os.environ.get("STRATUS_SLOW_TESTS") != "1",
        reason="builds two virtualenvs with pip (minutes): STRATUS_SLOW_TESTS=1 runs it",
    ),
    pytest.mark.timeout(1800),
]

MODEL = "six-reporter"
SIX = "1.16.0"
MODEL_CODE = """
import sys

import mlflow


class SixVersion(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        import six

        return [f"{six.__version__} {sys.prefix}"] * len(model_input)


mlflow.models.set_model(SixVersion())
"""
ROLLOUT_SECONDS = 900
FRAME = pd.DataFrame({"x": [1.0, 2.0]})


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("virtualenv")
    log_path = folder / "stratus-local.log"
    with stratus_local_process(["--serving-env", "virtualenv"], log_path, dropped_env=("MLFLOW_",)) as exports:
        yield exports["MLFLOW_TRACKING_URI"], log_path


def _log_version(folder: Path, requirements: list[str], alias: str = "champion") -> str:
    code = folder / "six_version.py"
    code.write_text(MODEL_CODE)
    with warnings.catch_warnings(), mlflow.start_run():  # the requirements differ from this Python: MLflow warns
        warnings.simplefilter("ignore")
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(code),
            pip_requirements=requirements,
            input_example=FRAME.head(1),
            registered_model_name=MODEL,
        )
    version = str(info.registered_model_version)
    MlflowClient().set_registered_model_alias(MODEL, alias, version)
    return version


def _wait_rollout(client: object, name: str, version: str) -> dict:
    """The deployment once its rollout to ``version`` has ended (the alias moved: the server starts it)."""
    deadline = time.monotonic() + ROLLOUT_SECONDS
    while True:
        found = client.get_deployment(name)  # type: ignore[attr-defined]
        last = found.get("last_rollout") or {}
        if not found.get("rollout") and last.get("model_version") == version:
            return dict(found)
        assert time.monotonic() < deadline, found
        time.sleep(1.0)


def _pip_installs(log_path: Path) -> int:
    return log_path.read_text().count("Running command pip install -r model-requirements.txt")


def test_a_deployment_serves_from_a_virtualenv_of_its_model_s_requirements(
    stack: tuple[str, Path], tmp_path: Path
) -> None:
    uri, log_path = stack
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("deployments-virtualenv")
    assert six.__version__ != SIX  # so the answer can only come from the model's own environment
    version = _log_version(tmp_path, ["mlflow-skinny==3.17.2", f"six=={SIX}"])
    client = get_deploy_client("stratus")

    client.create_deployment("six-api", f"models:/{MODEL}@champion")  # waits for the build and the rollout

    found = client.get_deployment("six-api")
    assert (found["state"], found["model_version"]) == ("READY", version), found
    predictions = client.predict("six-api", FRAME)["predictions"]
    reported, prefix = predictions[0].split(" ", 1)
    assert reported == SIX and len(predictions) == 2
    assert Path(prefix, "stratus-image.json").is_file()  # the worker's sys.prefix: the image's virtualenv
    assert _pip_installs(log_path) == 1


def test_a_version_with_the_same_requirements_reuses_the_virtualenv(stack: tuple[str, Path], tmp_path: Path) -> None:
    uri, log_path = stack
    mlflow.set_tracking_uri(uri)
    client = get_deploy_client("stratus")
    before = client.predict("six-api", FRAME)["predictions"][0]

    version = _log_version(tmp_path, ["mlflow-skinny==3.17.2", f"six=={SIX}"])
    found = _wait_rollout(client, "six-api", version)

    assert found["last_rollout"]["outcome"] == "SUCCEEDED", found
    assert found["model_version"] == version
    assert client.predict("six-api", FRAME)["predictions"][0] == before  # the same virtualenv
    assert _pip_installs(log_path) == 1  # no second build


def test_a_version_whose_requirements_do_not_install_keeps_the_previous_one_serving(
    stack: tuple[str, Path], tmp_path: Path
) -> None:
    uri, _ = stack
    mlflow.set_tracking_uri(uri)
    client = get_deploy_client("stratus")
    serving = client.get_deployment("six-api")["model_version"]

    version = _log_version(tmp_path, ["mlflow-skinny==3.17.2", "six==0.0.1"])
    found = _wait_rollout(client, "six-api", version)

    assert (found["state"], found["model_version"]) == ("READY", serving), found
    assert found["last_rollout"]["outcome"] == "FAILED"
    message = found["last_rollout"]["message"]
    assert "pip install -r model-requirements.txt" in message and "six==0.0.1" in message, message
    assert client.predict("six-api", FRAME)["predictions"][0].startswith(SIX)
    client.delete_deployment("six-api")
