"""The web UI's prompt lab (``runs/create-promptlab-run``): PromptlabService against the in-memory store and a fake
S3, and the YAML it writes without PyYAML. The files are compared with the reference server's in
tests/e2e/test_ui_server.py."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from stratus.domain.promptlab import PromptlabRun, PythonEnvironment, yaml_text
from stratus.domain.services import ArtifactService, ExperimentService, PromptlabService, RunService
from stratus.errors import InvalidParameterValue, ResourceDoesNotExist
from stratus.store.memory import InMemoryLoggedModelStore, InMemoryTrackingStore

ENVIRONMENT = PythonEnvironment("3.12.1", {"pip": "24.0", "setuptools": "69.0.3", "wheel": None})


class FakeObjects:
    """The part of S3ArtifactStore the writes use: objects by key."""

    bucket = "bucket"

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put(self, key: str, body: bytes, content_type: str | None) -> None:
        self.objects[key] = body

    def list_children(self, folder_key: str) -> list[Any]:
        return [key for key in self.objects if key.startswith(folder_key.rstrip("/") + "/")]


@dataclass
class Lab:
    service: PromptlabService
    objects: FakeObjects
    experiments: ExperimentService


@pytest.fixture
def lab() -> Lab:
    store = InMemoryTrackingStore()
    experiments = ExperimentService(store, "mlflow-artifacts:", clock=lambda: 1_000)
    runs = RunService(store, experiments, clock=lambda: 1_000)
    objects = FakeObjects()
    artifacts = ArtifactService(objects, store, InMemoryLoggedModelStore())  # type: ignore[arg-type]
    service = PromptlabService(
        runs,
        artifacts,
        clock=lambda: 2_000,
        utc_now=lambda: "2024-05-01 10:00:00.123456",
        new_model_uuid=lambda: "f" * 32,
        environment=ENVIRONMENT,
    )
    return Lab(service, objects, experiments)


def _request(**changes: Any) -> PromptlabRun:
    fields: dict[str, Any] = {
        "experiment_id": "0",
        "prompt_template": "Say {{ greeting }} to {{name}}",
        "prompt_parameters": [("greeting", "hi"), ("name", "bob")],
        "model_route": "chat",
        "model_input": "Say hi to bob",
        "mlflow_version": "2.7.1",
        "model_parameters": [("temperature", 0.5), ("max_tokens", 100), ("stop", None)],
        "model_output": "hi bob",
        "model_output_parameters": [("latency", 12)],
    }
    fields.update(changes)
    return PromptlabRun(**fields)


def test_a_prompt_becomes_a_finished_run_with_the_references_params_tags_and_files(
    lab: Lab,
) -> None:
    service, objects = lab.service, lab.objects
    run = service.create_run(_request(run_name="lab"))
    assert (run.info.status, run.info.end_time, run.info.run_name, run.info.user_id) == ("FINISHED", 2_000, "lab",
                                                                                        "unknown")  # fmt: skip
    assert run.params == {"temperature": "0.5", "max_tokens": "100", "stop": "None", "model_route": "chat",
                          "prompt_template": "Say {{ greeting }} to {{name}}"}  # fmt: skip
    assert run.tags["mlflow.runSourceType"] == "PROMPT_ENGINEERING"
    assert json.loads(run.tags["mlflow.loggedArtifacts"]) == [{"path": "eval_results_table.json", "type": "table"}]
    assert json.loads(run.tags["mlflow.log-model.history"]) == [
        {"run_id": run.run_id, "artifact_path": "model", "utc_time_created": "2024-05-01 10:00:00.123456",
         "model_uuid": "f" * 32, "flavors": {}}
    ]  # fmt: skip

    root = f"mlartifacts/0/{run.run_id}/artifacts/"
    files = {key.removeprefix(root): body.decode() for key, body in objects.objects.items()}
    assert sorted(files) == [
        "eval_results_table.json", "model/MLmodel", "model/conda.yaml", "model/input_example.json",
        "model/parameters.yaml", "model/python_env.yaml", "model/requirements.txt", "model/serving_input_example.json",
    ]  # fmt: skip
    assert json.loads(files["eval_results_table.json"]) == {
        "columns": ["greeting", "name", "prompt", "output", "latency"],
        "data": [["hi", "bob", "Say hi to bob", "hi bob", "12"]],
    }
    mlmodel = yaml.safe_load(files["model/MLmodel"])
    assert mlmodel["flavors"]["python_function"]["loader_module"] == "mlflow.prompt.promptlab_model"
    assert mlmodel["flavors"]["python_function"]["python_version"] == "3.12.1"
    assert (mlmodel["run_id"], mlmodel["model_uuid"], mlmodel["model_id"]) == (run.run_id, "f" * 32, None)
    assert json.loads(mlmodel["signature"]["inputs"]) == [
        {"type": "string", "name": "greeting", "required": True},
        {"type": "string", "name": "name", "required": True},
    ]
    assert yaml.safe_load(files["model/parameters.yaml"]) == {
        "model_parameters": {"max_tokens": "100", "stop": "None", "temperature": "0.5"},
        "model_route": "chat",
        "prompt_parameters": {"greeting": "hi", "name": "bob"},
        "prompt_template": "Say {{ greeting }} to {{name}}",
    }
    assert yaml.safe_load(files["model/conda.yaml"]) == {
        "channels": ["conda-forge"],
        "dependencies": ["python=3.12.1", "pip<=24.0", {"pip": ["mlflow[gateway]==3.17.2"]}],
        "name": "mlflow-env",
    }
    assert files["model/python_env.yaml"] == (
        'python: "3.12.1"\nbuild_dependencies:\n- pip==24.0\n- setuptools==69.0.3\n- wheel\ndependencies:\n'
        '- "-r requirements.txt"\n'
    )
    assert files["model/requirements.txt"] == "mlflow[gateway]==3.17.2"
    assert json.loads(files["model/input_example.json"]) == {"inputs": ["hi", "bob"]}
    assert json.loads(files["model/serving_input_example.json"]) == {"inputs": {"inputs": ["hi", "bob"]}}


def test_a_param_the_batch_refuses_fails_the_run_but_not_the_request(lab: Lab) -> None:
    """The reference logs the params after creating the run; a duplicate key (or any logging error) ends the run
    FAILED, with no params and no artifacts, and answers it."""
    service, objects = lab.service, lab.objects
    run = service.create_run(_request(model_parameters=[("model_route", "other")]))
    assert (run.info.status, run.params, objects.objects) == ("FAILED", {}, {})


@pytest.mark.parametrize(
    ("changes", "missing"),
    [
        ({"experiment_id": None}, "experiment_id"),
        ({"prompt_template": ""}, "prompt_template"),
        ({"prompt_parameters": []}, "prompt_parameters"),
        ({"model_route": None}, "model_route"),
        ({"model_input": ""}, "model_input"),
        ({"mlflow_version": None}, "mlflow_version"),
    ],
)
def test_a_missing_field_is_refused_before_anything_is_created(lab: Lab, changes: dict[str, Any], missing: str) -> None:
    service, objects = lab.service, lab.objects
    with pytest.raises(InvalidParameterValue) as refused:
        service.create_run(_request(**changes))
    assert refused.value.message == f"CreatePromptlabRun request must specify {missing}."
    assert objects.objects == {}


def test_an_unknown_experiment_is_refused(lab: Lab) -> None:
    service = lab.service
    with pytest.raises(ResourceDoesNotExist):
        service.create_run(_request(experiment_id="42"))


def test_the_authenticated_caller_owns_the_run(lab: Lab) -> None:
    service = lab.service
    run = service.create_run(_request(user_id="mallory", tags={"team": "ml"}), caller="bob")
    assert (run.info.user_id, run.tags["mlflow.user"], run.tags["team"]) == ("bob", "bob", "ml")


def test_a_run_whose_artifacts_clients_write_directly_ends_failed(lab: Lab) -> None:
    """An explicit s3:// location is outside what Stratus's functions write: the run is FAILED, as the reference
    fails a run whose artifacts it cannot write."""
    service, objects = lab.service, lab.objects
    experiment_id = lab.experiments.create("explicit", "s3://bucket/team", {})
    run = service.create_run(_request(experiment_id=experiment_id))
    assert run.info.status == "FAILED"
    assert run.params["model_route"] == "chat"
    assert objects.objects == {}


HOSTILE = [
    "", " lead", "trail ", "a: b", "# x", "- x", "true", "No", "null", "~", "123", "1.5", "1e3", "0x1f", "1:20",
    "2001-12-14", "3.11.7", "line\nbreak", "tab\there", 'quote " and \\', "'single'", "{flow}", "[list]", "*alias",
    "&anchor", "!tag", "%directive", "@at", "`tick`", "caf\u00e9 \u6f22\u5b57 \U0001f600", "nel\x85",
    "ls\u2028ps\u2029", "del\x7f", "bell\x07", "bom\ufeff", "?", ":", "-",
]  # fmt: skip


def test_yaml_text_loads_back_to_the_same_values_for_any_string() -> None:
    document = {
        "strings": {text or "empty": text for text in HOSTILE},
        "keys": {text: 1 for text in HOSTILE},
        "list": [*HOSTILE, {"nested": ["x", None, True, 3]}],
        "scalars": {"none": None, "yes": True, "no": False, "int": 7, "empty_map": {}, "empty_list": []},
    }
    assert yaml.safe_load(yaml_text(document)) == document


def test_yaml_text_lays_out_plain_documents_as_pyyaml_does() -> None:
    document = {
        "flavors": {"python_function": {"env": {"conda": "conda.yaml"}, "loader_module": "mlflow.prompt.x"}},
        "dependencies": ["pip<=24.0", {"pip": ["mlflow[gateway]==3.17.2"]}],
        "name": "mlflow-env",
        "model_id": None,
        "is_signature_from_type_hint": False,
    }
    assert yaml_text(document) == yaml.safe_dump(document, default_flow_style=False)
