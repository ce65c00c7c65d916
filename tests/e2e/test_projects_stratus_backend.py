"""MLflow Projects on Stratus's own backend (``mlflow run --backend stratus``), with the stock client and the
mlflow-stratus plugin (``client/``) against ``stratus local``: the project is packed and uploaded, the run is created
with MLflow's own tags and params, the job runs in one of the stack's workers (the local AWS Batch), and the server
ends the run by itself: FINISHED, FAILED with the exit code, or KILLED on cancel; the job's output is kept as an
artifact. An unknown backend setting is refused before any run exists."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
from mlflow.exceptions import MlflowException
from mlflow.projects.submitted_run import SubmittedRun
from mlflow.tracking import MlflowClient

PROJECT = Path(__file__).resolve().parents[2] / "examples" / "wine_project"
CONFIG = {"vcpu": 1, "memory": 2048, "timeout": 600}
JOB_SECONDS = 240


def _log_of(client: MlflowClient, run_id: str, tmp_path: Path) -> str:
    path = client.download_artifacts(run_id, "stratus/project-output.log", str(tmp_path))
    return Path(path).read_text()


@pytest.fixture
def git_checkout(tmp_path: Path) -> tuple[Path, str]:
    """The example project committed in a git repository of its own, with an ignored file beside it."""
    folder = tmp_path / "wine_project"
    shutil.copytree(PROJECT, folder)
    (folder / ".gitignore").write_text("secrets.txt\n")
    (folder / "secrets.txt").write_text("not to be uploaded\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(folder)]
    for step in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "wine"]):
        subprocess.run([*git, *step], check=True, capture_output=True)  # noqa: S603 - git, fixed arguments
    commit = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()  # noqa: S603
    return folder, commit


def test_the_cli_submits_and_the_run_finishes_on_its_own(tracking_uri: str, git_checkout, tmp_path: Path) -> None:  # noqa: ANN001
    folder, commit = git_checkout
    config = tmp_path / "config.json"
    config.write_text(json.dumps(CONFIG))
    env = {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "MLFLOW_TRACKING_URI": tracking_uri,
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    started = time.monotonic()
    completed = subprocess.run(  # noqa: S603 - our interpreter, fixed arguments
        [sys.executable, "-m", "mlflow", "run", str(folder), "--backend", "stratus", "--backend-config", str(config),
         "-P", "alpha=0.3", "--experiment-name", "stratus-backend-cli"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("stratus-backend-cli")
    (submitted,) = client.search_runs([experiment.experiment_id])
    assert submitted.info.status in {"RUNNING", "FINISHED"}  # the CLI returned once submitted
    follow = subprocess.run(  # noqa: S603 - the plugin's own CLI, fixed arguments
        [str(Path(sys.executable).parent / "mlflow-stratus"), "wait", submitted.info.run_id],
        env=env, capture_output=True, text=True, timeout=JOB_SECONDS, check=False,
    )  # fmt: skip
    assert follow.returncode == 0, follow.stderr[-3000:]
    run = client.get_run(submitted.info.run_id)
    tags = run.data.tags
    assert run.info.status == "FINISHED", tags.get("stratus.project.end_reason")
    assert run.data.params == {"alpha": "0.3", "l1_ratio": "0.1", "max_iter": "1000"}  # typed, with defaults
    assert tags["mlflow.project.backend"] == "stratus"
    assert tags["mlflow.source.type"] == "PROJECT"
    assert tags["mlflow.project.entryPoint"] == "main"
    assert tags["mlflow.source.git.commit"] == commit
    assert tags["stratus.project.end_reason"] == "succeeded" and tags["stratus.project.exit_code"] == "0"
    assert set(run.data.metrics) >= {"rmse", "r2"}
    assert [m.name for m in client.search_logged_models([experiment.experiment_id])] == ["model"]
    log = _log_of(client, run.info.run_id, tmp_path)
    assert "running entry point 'main'" in log
    assert "secrets.txt" not in log
    print(
        f"submit took {completed.stderr.count(chr(10))} log lines; run ended {time.monotonic() - started:.1f} s later"
    )


def test_a_failing_entry_point_ends_failed_with_its_exit_code(tracking_uri: str, tmp_path: Path) -> None:
    mlflow.set_tracking_uri(tracking_uri)
    submitted = mlflow.projects.run(
        str(PROJECT),
        entry_point="fail",
        parameters={"code": 4},
        backend="stratus",
        backend_config=CONFIG,
        experiment_name="stratus-backend-fail",
        synchronous=False,
    )
    assert isinstance(submitted, SubmittedRun)
    assert submitted.wait() is False
    assert submitted.get_status() == "FAILED"
    run = MlflowClient(tracking_uri).get_run(submitted.run_id)
    assert run.info.status == "FAILED"
    assert run.data.params == {"code": "4"}
    assert run.data.tags["stratus.project.end_reason"] == "exit code 4"
    assert run.data.tags["stratus.project.exit_code"] == "4"
    assert "failing on purpose" in _log_of(MlflowClient(tracking_uri), submitted.run_id, tmp_path)


def test_cancel_stops_the_job_and_the_run_is_killed(tracking_uri: str) -> None:
    mlflow.set_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri)
    submitted = mlflow.projects.run(
        str(PROJECT),
        entry_point="wait",
        backend="stratus",
        backend_config=CONFIG,
        experiment_name="stratus-backend-cancel",
        synchronous=False,
    )
    deadline = time.monotonic() + JOB_SECONDS
    while "heartbeat" not in client.get_run(submitted.run_id).data.metrics:  # the entry point is running
        assert time.monotonic() < deadline, submitted.get_status()
        time.sleep(1)
    assert submitted.get_status() == "RUNNING"
    submitted.cancel()
    assert submitted.get_status() == "KILLED"
    run = client.get_run(submitted.run_id)
    assert run.info.status == "KILLED"
    assert run.data.tags["stratus.project.end_reason"].startswith("Cancelled by Stratus user")


def test_an_unknown_setting_is_refused_before_any_run(tracking_uri: str) -> None:
    mlflow.set_tracking_uri(tracking_uri)
    with pytest.raises(MlflowException, match="'vpcu'"):
        mlflow.projects.run(
            str(PROJECT),
            backend="stratus",
            backend_config={"vpcu": 2},
            experiment_name="stratus-backend-bad-config",
            synchronous=False,
        )
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("stratus-backend-bad-config")
    assert experiment is None or client.search_runs([experiment.experiment_id]) == []
