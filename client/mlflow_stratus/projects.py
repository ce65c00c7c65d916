"""``mlflow run --backend stratus``: pack the project, upload it to Stratus and submit it as a job.

The run itself is created by MLflow's own project helpers (same tags and params as the local backend); the job's
runner then logs into it, and the server ends it when the job ends.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mlflow.entities import RunStatus
from mlflow.exceptions import MlflowException
from mlflow.projects import env_type
from mlflow.projects.backend.abstract_backend import AbstractBackend
from mlflow.projects.submitted_run import SubmittedRun
from mlflow.projects.utils import fetch_and_validate_project, get_or_create_run, load_project
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PROJECT_ENV

from mlflow_stratus.api import ProjectsApi
from mlflow_stratus.config import load_backend_config, resolve_env_manager, validate_backend_config
from mlflow_stratus.packing import pack_project

# A child of MLflow's logger, which `mlflow` sets up to print INFO: `mlflow run` shows these lines as it shows its
# own backends' "=== ... ===" lines.
_logger = logging.getLogger("mlflow.projects.stratus")

TERMINAL_STATUSES = frozenset({"FINISHED", "FAILED", "KILLED"})
FIRST_POLL_SECONDS = 1.0
MAX_POLL_SECONDS = 5.0


class StratusSubmittedRun(SubmittedRun):
    """A project run submitted to Stratus, followed through ``/api/2.0/stratus/projects/runs/...``."""

    def __init__(self, run_id: str, api: ProjectsApi, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__()
        self._run_id = run_id
        self._api = api
        self._sleep = sleep

    @property
    def run_id(self) -> str:
        return self._run_id

    def get_status(self) -> str:
        """The run's MLflow status as Stratus reports it: SCHEDULED, RUNNING, FINISHED, FAILED or KILLED."""
        return self._api.get_run(self._run_id)["run_status"]

    def wait(self) -> bool:
        """Poll until the run has ended (1 s between polls at first, growing to 5 s); True iff it FINISHED."""
        interval = FIRST_POLL_SECONDS
        last = None
        while True:
            status = self.get_status()
            if status != last:
                _logger.info("=== Run (ID '%s') is %s on Stratus ===", self._run_id, status)
                last = status
            if status in TERMINAL_STATUSES:
                return status == "FINISHED"
            self._sleep(interval)
            interval = min(interval * 1.5, MAX_POLL_SECONDS)

    def cancel(self) -> None:
        """Cancel the job and wait until the run has ended."""
        self._api.cancel(self._run_id)
        self.wait()


class StratusBackend(AbstractBackend):
    """The ``stratus`` project backend: runs each project run as an AWS Batch job (or in ``stratus local``)."""

    def __init__(self, connect: Callable[[str], ProjectsApi] = ProjectsApi.for_tracking_uri) -> None:
        self._connect = connect

    def run(
        self,
        project_uri: str,
        entry_point: str,
        params: Mapping[str, Any] | None,
        version: str | None,
        backend_config: Mapping[str, Any] | str | None,
        tracking_uri: str,
        experiment_id: str,
    ) -> StratusSubmittedRun:
        # Everything that can be refused is checked before MLflow creates the run.
        config = load_backend_config(backend_config)
        resources = validate_backend_config(config)
        env_manager = resolve_env_manager(config)
        api = self._connect(tracking_uri)
        params = dict(params or {})
        work_dir = fetch_and_validate_project(project_uri, version, entry_point, params)
        project = load_project(work_dir)
        env_manager = _env_manager_for(project, env_manager)
        with tempfile.TemporaryDirectory(prefix="stratus-project-") as scratch:
            packed = pack_project(work_dir, Path(scratch) / "project.tar.gz")
            active_run = get_or_create_run(None, project_uri, experiment_id, work_dir, version, entry_point, params)
            run_id = active_run.info.run_id
            body = {
                "entry_point": entry_point,
                "parameters": {str(key): str(value) for key, value in params.items()},
                "env_manager": env_manager,
                "backend_config": resources,
            }
            if project.docker_env:
                body["docker_image"] = project.docker_env["image"]
            try:
                _tag_project_env(MlflowClient(tracking_uri), run_id, project, env_manager)
                package = api.create_package(active_run.info.experiment_id, packed.size)
                api.upload(package, packed.path)
                api.submit(run_id, {"package_id": package.package_id, **body})
            except BaseException:
                # Interrupted too: a run whose job was never submitted must not stay RUNNING.
                _end_failed(MlflowClient(tracking_uri), run_id)
                raise
        _logger.info(
            "=== Submitted run (ID '%s') to Stratus: entry point '%s', %d files (%d bytes) ===",
            run_id,
            entry_point,
            packed.members,
            packed.size,
        )
        return StratusSubmittedRun(run_id, api)


def _env_manager_for(project: Any, env_manager: str | None) -> str | None:
    if project.docker_env:
        # The job runs in the project's image, with what it has installed (contract: env_manager local).
        return "local"
    if project.env_type == env_type.PYTHON and env_manager == "conda":
        raise MlflowException.invalid_parameter_value(
            "python_env project cannot be executed using conda. Set `--env-manager` to 'virtualenv', 'uv' or "
            "'local' to execute this project."
        )
    return env_manager


def _tag_project_env(client: MlflowClient, run_id: str, project: Any, env_manager: str | None) -> None:
    # As MLflow's local backend does: "docker", or the env manager that builds an environment; none for local. The
    # stack's default (no --env-manager) is tagged by the runner, which knows it.
    if project.docker_env:
        client.set_tag(run_id, MLFLOW_PROJECT_ENV, "docker")
    elif env_manager not in (None, "local"):
        client.set_tag(run_id, MLFLOW_PROJECT_ENV, env_manager)


def _end_failed(client: MlflowClient, run_id: str) -> None:
    """End the run FAILED unless it has ended already (the server ends a run whose submit it rejects)."""
    try:
        status = client.get_run(run_id).info.status
        if not RunStatus.is_terminated(RunStatus.from_string(status)):
            client.set_terminated(run_id, "FAILED")
    except Exception:
        _logger.warning("Could not end run %s as FAILED", run_id, exc_info=True)
