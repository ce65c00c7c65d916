"""Real-looking MLflow data for the migration tests, loaded into a reference server with the stock client, and a
snapshot of everything a server holds (records and artifact bytes) that two servers' copies can be compared by.

The snapshot names things as a user sees them, not by id: experiments by name, runs by experiment and run name,
logged models by name, a parent run by its name, a version's source by what it points at. Tags the copier adds
(``stratus.import.*``) are left out, and so are the runs of an interrupted copy (deleted, tagged
``stratus.import.state=copying``).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput, InputTag, ViewType
from mlflow.pyfunc import PythonModel

COPIER_TAGS = "stratus.import."
TOOL_NAMES = "exim-"
BINARY = bytes(range(256)) * 64 + b"\x00\xff" * 100


class Doubler(PythonModel):
    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        return model_input * 2


def load(uri: str, folder: Path) -> None:
    """Three experiments (one deleted) with nested, failed and deleted runs, metric histories, a dataset input,
    artifacts (text, empty, binary, nested), a logged model, and a registered model whose version 2 was deleted."""
    client = MlflowClient(uri, uri)
    churn = client.create_experiment("mig-churn", tags={"team": "growth", "mlflow.note.content": "churn models"})
    vision = client.create_experiment("mig-vision", tags={"team": "cv"})
    retired = client.create_experiment("mig-retired")
    files = folder / "files"
    (files / "plots").mkdir(parents=True)
    (files / "notes.txt").write_text("first try\n")
    (files / "empty.txt").write_bytes(b"")
    (files / "plots" / "weights.bin").write_bytes(BINARY)

    parent = _run(client, churn, "sweep", params={"grid": "lr"}, tags={"kind": "sweep"})
    for index, lr in enumerate(("0.1", "0.01")):
        child = _run(client, churn, f"trial-{index}", params={"lr": lr, "depth": "4"}, parent=parent)
        for step in range(5):
            client.log_metric(child, "loss", 1.0 / (step + 1 + index), timestamp=1_700_000_000_000 + step, step=step)
        client.log_metric(child, "auc", 0.8 + index / 10, timestamp=1_700_000_100_000, step=0)
        client.log_artifacts(child, str(files))
        client.set_terminated(child, "FINISHED", end_time=1_700_000_200_000 + index)
    client.set_terminated(parent, "FINISHED", end_time=1_700_000_300_000)
    dataset = Dataset("customers", "abc123", "local", '{"uri": "/data/customers.csv"}', '{"cols": ["age"]}', "{}")
    client.log_inputs(parent, [DatasetInput(dataset, [InputTag("mlflow.data.context", "training")])])

    failed = _run(client, vision, "crashed", params={"epochs": "3"})
    client.log_metric(failed, "loss", 2.5, timestamp=1_700_000_000_500, step=0)
    client.set_terminated(failed, "FAILED", end_time=1_700_000_000_900)
    gone = _run(client, vision, "discarded")
    client.set_terminated(gone, "KILLED", end_time=1_700_000_000_950)
    client.delete_run(gone)
    _run(client, retired, "old")
    client.delete_experiment(retired)

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        with mlflow.start_run(experiment_id=vision, run_name="packaged") as run:
            mlflow.log_param("threshold", "0.5")
            mlflow.log_artifact(str(files / "notes.txt"), "extra")
            info = mlflow.pyfunc.log_model(
                name="doubler", python_model=Doubler(), registered_model_name="doubler", pip_requirements=["mlflow"]
            )
    finally:
        mlflow.set_tracking_uri(previous)
    client.update_registered_model("doubler", description="doubles its input")
    client.set_registered_model_tag("doubler", "owner", "cv-team")
    client.update_model_version("doubler", "1", description="first cut")
    client.set_model_version_tag("doubler", "1", "validated", "yes")
    client.transition_model_version_stage("doubler", "1", "Production")
    client.create_model_version("doubler", f"runs:/{run.info.run_id}/extra", run_id=run.info.run_id)
    third = client.create_model_version(
        "doubler", f"{run.info.artifact_uri}/extra", run_id=run.info.run_id, description="from the run's artifacts"
    )
    client.delete_model_version("doubler", "2")
    client.set_registered_model_alias("doubler", "champion", third.version)
    assert info.model_id


def _run(
    client: MlflowClient,
    experiment_id: str,
    name: str,
    params: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    parent: str | None = None,
) -> str:
    all_tags = {"mlflow.user": "ada", **(tags or {})}
    if parent:
        all_tags["mlflow.parentRunId"] = parent
    run = client.create_run(experiment_id, start_time=1_699_999_999_000, tags=all_tags, run_name=name)
    for key, value in (params or {}).items():
        client.log_param(run.info.run_id, key, value)
    return run.info.run_id


def snapshot(uri: str, only: str = "") -> dict[str, Any]:
    """Everything the server holds, named as a user sees it (see the module doc). Experiments and registered models
    named ``exim-*`` are the third-party tool's: left out, or only them with ``only="exim-"``."""
    client = MlflowClient(uri, uri)
    run_names: dict[str, str] = {}
    model_names: dict[str, str] = {}
    experiments = {}
    for experiment in client.search_experiments(view_type=ViewType.ALL):
        if experiment.name.startswith(TOOL_NAMES) != (only == TOOL_NAMES):
            continue
        every_run = client.search_runs([experiment.experiment_id], run_view_type=ViewType.ALL)
        runs = [run for run in every_run if run.data.tags.get(f"{COPIER_TAGS}state") != "copying"]  # debris
        run_names.update({run.info.run_id: f"{experiment.name}/{run.info.run_name}" for run in runs})
        models = client.search_logged_models([experiment.experiment_id])
        model_names.update({model.model_id: model.name for model in models})
        experiments[experiment.name] = {
            "lifecycle": experiment.lifecycle_stage,
            "tags": _user_tags(experiment.tags),
            "runs": {run.info.run_name: _run_record(client, uri, run) for run in runs},
            "logged models": {model.name: _model_record(uri, model) for model in models},
        }
    return _named({"experiments": experiments, "registry": _registry(client, only)}, {**run_names, **model_names})


def _run_record(client: MlflowClient, uri: str, run: Any) -> dict[str, Any]:
    info = run.info
    return {
        "info": (info.status, info.start_time, info.end_time, info.user_id, info.lifecycle_stage),
        "params": run.data.params,
        "tags": _user_tags(run.data.tags),
        "metrics": {
            key: sorted((m.step, m.timestamp, m.value) for m in client.get_metric_history(info.run_id, key))
            for key in run.data.metrics
        },
        "inputs": sorted(
            (
                d.dataset.name,
                d.dataset.digest,
                d.dataset.source_type,
                d.dataset.source,
                d.dataset.schema,
                tuple((t.key, t.value) for t in d.tags),
            )
            for d in (run.inputs.dataset_inputs if run.inputs else [])
        ),  # fmt: skip
        "outputs": [o.step for o in (run.outputs.model_outputs if run.outputs else [])],
        # Stratus does not serve a deleted run's artifacts (docs/decisions.md); the scenario's deleted runs have none
        "artifacts": None if info.lifecycle_stage == "deleted" else _artifact_bytes(uri, info.artifact_uri),
    }


def _model_record(uri: str, model: Any) -> dict[str, Any]:
    return {
        "info": (str(model.status), model.model_type, model.source_run_id),
        "params": model.params,
        "tags": _user_tags(model.tags),
        "artifacts": _artifact_bytes(uri, model.artifact_location),
    }


def _registry(client: MlflowClient, only: str) -> dict[str, Any]:
    registry = {}
    for model in client.search_registered_models():
        if model.name.startswith(TOOL_NAMES) != (only == TOOL_NAMES):
            continue
        versions = client.search_model_versions(f"name='{model.name}'")
        registry[model.name] = {
            "description": model.description,
            "tags": model.tags,
            "aliases": model.aliases,
            "versions": {
                int(v.version): (v.current_stage, v.description, v.tags, v.status, v.run_id, v.model_id,
                                 _source_kind(v.source, v.run_id, client))
                for v in versions
            },
        }  # fmt: skip
    return registry


def _source_kind(source: str, run_id: str | None, client: MlflowClient) -> str:
    """``runs:/<run>/path`` and ``models:/<id>`` kept (ids are named later); an artifact URI as ``<run artifacts>``."""
    if run_id and source.startswith(artifact_uri := client.get_run(run_id).info.artifact_uri):
        return f"<artifacts of {run_id}>{source[len(artifact_uri) :]}"
    return source


def _artifact_bytes(uri: str, artifact_uri: str) -> dict[str, str]:
    if not mlflow.artifacts.list_artifacts(artifact_uri=artifact_uri, tracking_uri=uri):
        return {}  # an empty root may not exist at all on the reference's disk
    with tempfile.TemporaryDirectory() as folder:
        local = mlflow.artifacts.download_artifacts(artifact_uri=artifact_uri, dst_path=folder, tracking_uri=uri)
        found = {}
        for root, _, names in os.walk(local):
            for name in names:
                path = Path(root) / name
                found[path.relative_to(local).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
        return found


def _user_tags(tags: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if not k.startswith(COPIER_TAGS)}


def _named(value: Any, names: dict[str, str]) -> Any:
    """``value`` with every run and logged model id replaced by its name, wherever it appears in a string."""
    if isinstance(value, dict):
        return {_named(k, names): _named(v, names) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_named(v, names) for v in value)
    if isinstance(value, str):
        for identifier, name in names.items():
            value = value.replace(identifier, f"<{name}>")
    return value


if __name__ == "__main__":
    # A snapshot taken in a process of its own, whose environment reaches that server's artifacts (a stratus local
    # with direct artifacts needs its S3 endpoint and keys, which the test process must not carry).
    import json
    import sys

    print(json.dumps(snapshot(sys.argv[1], *sys.argv[2:]), sort_keys=True))
