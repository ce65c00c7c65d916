"""MLflow Projects with the stock client's local backend: ``mlflow run examples/wine_project`` against Stratus records
what it records against the reference ``mlflow server``: the run's status, the entry point's typed parameters, the
``mlflow.source.*`` and ``mlflow.project.*`` tags (a git checkout's commit included), metrics and the model."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

PROJECT = Path(__file__).resolve().parents[2] / "examples" / "wine_project"
RUN_SECONDS = 300
VOLATILE_TAGS = {"mlflow.runName", "mlflow.log-model.history"}
"""Tags whose values differ between any two runs (a generated name; a history naming the run id and times)."""


def _mlflow_run(uri: str, folder: Path, experiment: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "mlflow", "run", str(folder),
        "--env-manager", "local", "--experiment-name", experiment, *arguments,
    ]  # fmt: skip
    # What a user's shell would give `mlflow run`, and nothing of this test worker's environment (earlier tests and
    # the session's stack set variables there that a real shell does not have). The entry point's `python` is this
    # virtualenv's, as in a shell where it is activated.
    env = {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": os.environ.get("HOME", str(folder.parent)),
        "MLFLOW_TRACKING_URI": uri,
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    return subprocess.run(  # noqa: S603 - our interpreter, fixed arguments
        command, env=env, capture_output=True, text=True, timeout=RUN_SECONDS, check=False, cwd=folder.parent
    )


def _recorded(uri: str, experiment: str) -> dict[str, Any]:
    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None
    (run,) = client.search_runs([found.experiment_id])
    tags = run.data.tags
    return {
        "status": run.info.status,
        "params": run.data.params,
        "tags": {k: v for k, v in tags.items() if k not in VOLATILE_TAGS},
        "tag keys": set(tags),
        "metrics": {k: round(v, 9) for k, v in run.data.metrics.items()},
        "artifacts": sorted(a.path for a in client.list_artifacts(run.info.run_id)),
        "logged models": sorted(m.name for m in client.search_logged_models([found.experiment_id])),
    }


def _both(tracking_uri: str, reference_uri: str, folder: Path, name: str, *arguments: str) -> dict[str, Any]:
    recorded = {}
    for server, uri in (("stratus", tracking_uri), ("reference", reference_uri)):
        completed = _mlflow_run(uri, folder, name, *arguments)
        assert "=== Running command" in completed.stderr, (
            f"{server}: {completed.stdout[-2000:]}{completed.stderr[-4000:]}"
        )
        recorded[server] = _recorded(uri, name)
    return recorded


@pytest.fixture
def git_checkout(tmp_path: Path) -> tuple[Path, str]:
    """The example project in a git repository of its own, committed: the folder and the commit."""
    folder = tmp_path / "wine_project"
    shutil.copytree(PROJECT, folder)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(folder)]
    for step in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "wine"]):
        subprocess.run([*git, *step], check=True, capture_output=True)  # noqa: S603 - git, fixed arguments
    commit = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()  # noqa: S603
    return folder, commit


def test_a_project_run_records_what_the_reference_records(tracking_uri: str, reference_uri: str) -> None:
    recorded = _both(tracking_uri, reference_uri, PROJECT, "wine-project", "-P", "alpha=0.3")
    ours, theirs = recorded["stratus"], recorded["reference"]
    assert ours["status"] == "FINISHED"
    assert ours["params"] == {"alpha": "0.3", "l1_ratio": "0.1", "max_iter": "1000"}
    assert ours["tags"]["mlflow.project.entryPoint"] == "main"
    assert ours["tags"]["mlflow.project.backend"] == "local"
    assert ours["logged models"] == ["model"]
    assert ours == theirs


def test_a_git_checkout_records_its_commit(tracking_uri: str, reference_uri: str, git_checkout) -> None:  # noqa: ANN001
    folder, commit = git_checkout
    recorded = _both(tracking_uri, reference_uri, folder, "wine-project-git")
    assert recorded["stratus"]["tags"]["mlflow.source.git.commit"] == commit
    assert recorded["stratus"] == recorded["reference"]


def test_a_failing_entry_point_ends_failed(tracking_uri: str, reference_uri: str) -> None:
    recorded = _both(tracking_uri, reference_uri, PROJECT, "wine-project-fail", "-e", "fail", "-P", "code=4")
    assert recorded["stratus"]["status"] == "FAILED"
    assert recorded["stratus"]["params"] == {"code": "4"}
    assert recorded["stratus"] == recorded["reference"]
