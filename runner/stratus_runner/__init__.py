"""The Stratus project runner: runs one MLflow project entry point inside the container of an AWS Batch job.

The Stratus server submits the job with this environment (docs/projects.md):

    STRATUS_PROJECT_PACKAGE_URI   s3://bucket/key of the project's gzipped tar, uploaded by the client
    STRATUS_PROJECT_ENTRY_POINT   the entry point to run (default "main")
    STRATUS_PROJECT_PARAMETERS    a JSON object of its parameters, all strings, as MLflow passes them
    STRATUS_PROJECT_ENV_MANAGER   local | virtualenv | uv | conda (default local)
    MLFLOW_TRACKING_URI, MLFLOW_RUN_ID, MLFLOW_EXPERIMENT_ID

The runner downloads and safely extracts the package, then does with it what MLflow's local backend
(``mlflow/projects/backend/local.py``) does with a project folder, with MLflow's own code: load the MLproject, build
the environment, compute the entry point's command and run it in a shell. It exits with the entry point's exit code
and never ends the MLflow run itself: the server does, when it sees the job end.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import FrameType
from typing import Any

ENV_MANAGERS = ("local", "virtualenv", "uv", "conda")
RUNNER_ERROR_EXIT = 2
"""The exit code when the job's input is unusable (a bad package, an unknown entry point...): the entry point never
ran. The one-line ``stratus-runner: error:`` message says which."""
STOP_TIMEOUT_ENV = "STRATUS_RUNNER_STOP_TIMEOUT"
DEFAULT_STOP_TIMEOUT_S = 25.0
"""Seconds between forwarding SIGTERM to the entry point and killing it: under the 30 s ECS waits before it kills
the whole container, so the runner still reports the entry point's own exit code."""


class RunnerError(Exception):
    """The job cannot run as given; the message is printed as one line and the runner exits non-zero."""


def say(message: str) -> None:
    print(f"stratus-runner: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class JobSpec:
    """What the job asks for, read from its environment."""

    package_uri: str
    entry_point: str
    parameters: dict[str, str]
    env_manager: str
    stop_timeout_s: float

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> JobSpec:
        package_uri = environ.get("STRATUS_PROJECT_PACKAGE_URI", "")
        if not package_uri.startswith("s3://"):
            raise RunnerError(f"STRATUS_PROJECT_PACKAGE_URI must be an s3://bucket/key URI, got {package_uri!r}")
        try:
            parameters = json.loads(environ.get("STRATUS_PROJECT_PARAMETERS") or "{}")
        except json.JSONDecodeError as exc:
            raise RunnerError(f"STRATUS_PROJECT_PARAMETERS is not JSON: {exc}") from exc
        if not isinstance(parameters, dict):
            raise RunnerError("STRATUS_PROJECT_PARAMETERS must be a JSON object of parameter names to values")
        env_manager = environ.get("STRATUS_PROJECT_ENV_MANAGER") or "local"
        if env_manager not in ENV_MANAGERS:
            raise RunnerError(
                f"STRATUS_PROJECT_ENV_MANAGER must be one of {', '.join(ENV_MANAGERS)}, got {env_manager!r}"
            )
        try:
            stop_timeout_s = float(environ.get(STOP_TIMEOUT_ENV) or DEFAULT_STOP_TIMEOUT_S)
        except ValueError as exc:
            raise RunnerError(f"{STOP_TIMEOUT_ENV} must be a number of seconds: {exc}") from exc
        return cls(
            package_uri=package_uri,
            entry_point=environ.get("STRATUS_PROJECT_ENTRY_POINT") or "main",
            parameters={str(name): str(value) for name, value in parameters.items()},
            env_manager=env_manager,
            stop_timeout_s=stop_timeout_s,
        )


# -- the package ------------------------------------------------------------------------------------------------------


def download_package(uri: str, destination: Path) -> Path:
    """Download ``s3://bucket/key`` to ``destination`` with boto3 (which honours ``AWS_ENDPOINT_URL_S3``)."""
    import boto3  # noqa: PLC0415 - only here, so the rest of the runner is usable without AWS
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket or not key:
        raise RunnerError(f"STRATUS_PROJECT_PACKAGE_URI must be an s3://bucket/key URI, got {uri!r}")
    try:
        boto3.client("s3").download_file(bucket, key, str(destination))
    except (BotoCoreError, ClientError) as exc:
        raise RunnerError(f"cannot download the project package {uri}: {exc}") from exc
    return destination


def _refusal(member: tarfile.TarInfo, root: Path) -> str | None:
    """Why ``member`` may not be extracted under ``root``, or None if it may."""
    name = PurePosixPath(member.name)
    if name.is_absolute() or member.name.startswith(("/", "\\")) or ":" in name.parts[0]:
        return "an absolute path"
    target = (root / name).resolve()
    if not target.is_relative_to(root):
        return "a path outside the project folder"
    if member.issym():
        if PurePosixPath(member.linkname).is_absolute():
            return "a link to an absolute path"
        if not (target.parent / member.linkname).resolve().is_relative_to(root):
            return "a link out of the project folder"
    elif member.islnk() and not (root / member.linkname).resolve().is_relative_to(root):
        return "a link out of the project folder"
    elif not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        return "a device or pipe"
    return None


def safe_extract(archive: Path, destination: Path) -> Path:
    """Extract a (gzipped) tar into ``destination``, refusing any member that would land or point outside it.
    Returns the project folder: ``destination`` (the client names members from the project's root), or the archive's
    only top-level folder when that holds the MLproject file and the top level does not."""
    destination.mkdir(parents=True, exist_ok=True)
    root = destination.resolve()
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for member in members:
                reason = _refusal(member, root)
                if reason is not None:
                    raise RunnerError(f"the project package is unsafe: {member.name!r} is {reason}")
            tar.extractall(root, members=members, filter="data")  # the stdlib's own checks, as a second line
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise RunnerError(f"the project package is not a readable tar archive: {exc}") from exc
    entries = list(root.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and _has_mlproject(entries[0]) and not _has_mlproject(root):
        return entries[0]
    return root


def _has_mlproject(folder: Path) -> bool:
    return any(entry.name.lower() == "mlproject" and entry.is_file() for entry in folder.iterdir())


# -- the project ------------------------------------------------------------------------------------------------------


def load_project(project_dir: Path) -> Any:
    """The project as MLflow reads it (``mlflow/projects/_project_spec.py``)."""
    import yaml  # noqa: PLC0415 - mlflow's dependency
    from mlflow.exceptions import MlflowException  # noqa: PLC0415 - mlflow takes seconds to import
    from mlflow.projects import _project_spec  # noqa: PLC0415

    try:
        return _project_spec.load_project(str(project_dir))
    except (MlflowException, yaml.YAMLError, AttributeError, TypeError) as exc:  # a non-mapping YAML: AttributeError
        raise RunnerError(f"the MLproject file is invalid: {exc}") from exc


def entry_point_command(project: Any, entry_point: str, parameters: Mapping[str, str]) -> str:
    """The shell command of ``entry_point`` with ``parameters``, as ``mlflow run`` computes it (parameters of type
    ``path`` that are URIs are downloaded first)."""
    from mlflow.exceptions import MlflowException  # noqa: PLC0415
    from mlflow.projects.utils import get_entry_point_command  # noqa: PLC0415

    try:
        (command,) = get_entry_point_command(project, entry_point, dict(parameters), None)
    except MlflowException as exc:
        raise RunnerError(f"cannot run entry point {entry_point!r}: {exc.message}") from exc
    return str(command)


def environment_commands(project: Any, project_dir: Path, env_manager: str) -> tuple[list[str], str]:
    """The commands that prepare the entry point's environment, and how to join them with the entry point's command:
    the same as MLflow's local backend for each env manager. Builds the environment (virtualenv, uv, conda)."""
    from mlflow.projects import env_type  # noqa: PLC0415

    if project.docker_env:
        say("docker_env project: this image is its environment; running it with env_manager local")
        return [], " "
    if env_manager == "local":
        return [], " "
    if env_manager == "conda":
        if project.env_type == env_type.PYTHON:
            raise RunnerError(
                "python_env project cannot be executed using conda: use env_manager virtualenv, uv or local"
            )
        return [*_conda_activation(project)], " && "
    return [_virtualenv_activation(project, project_dir, env_manager)], " && "


def _virtualenv_activation(project: Any, project_dir: Path, env_manager: str) -> str:
    from mlflow.exceptions import MlflowException  # noqa: PLC0415
    from mlflow.projects import env_type  # noqa: PLC0415
    from mlflow.utils.environment import _PythonEnv  # noqa: PLC0415
    from mlflow.utils.process import ShellCommandException  # noqa: PLC0415
    from mlflow.utils.virtualenv import (  # noqa: PLC0415
        _create_virtualenv,
        _get_mlflow_virtualenv_root,
        _get_virtualenv_name,
        _is_pyenv_available,
    )

    if env_manager == "uv" and shutil.which("uv") is None:
        raise RunnerError("env_manager uv needs the uv executable, which is not on PATH in this image")
    if env_manager == "virtualenv" and not _is_pyenv_available():
        raise RunnerError(
            "env_manager virtualenv needs pyenv (MLflow installs the project's Python with it), which is not in this "
            "image; use env_manager uv"
        )
    try:
        if project.env_type == env_type.CONDA:
            python_env = _PythonEnv.from_conda_yaml(project.env_config_path)
        else:
            python_env = _PythonEnv.from_yaml(project.env_config_path) if project.env_config_path else _PythonEnv()
        env_dir = Path(_get_mlflow_virtualenv_root()) / _get_virtualenv_name(python_env, project_dir)
        say(f"building the {env_manager} environment {env_dir} (python {python_env.python})")
        return str(
            _create_virtualenv(
                local_model_path=project_dir, python_env=python_env, env_dir=env_dir, env_manager=env_manager
            )
        )
    except (MlflowException, ShellCommandException) as exc:  # a failed command: its output is just above
        raise RunnerError(f"cannot build the {env_manager} environment: {_first_line(exc)}") from exc


def _conda_activation(project: Any) -> list[str]:
    from mlflow.exceptions import MlflowException  # noqa: PLC0415
    from mlflow.utils.conda import get_conda_bin_executable, get_or_create_conda_env  # noqa: PLC0415
    from mlflow.utils.process import ShellCommandException  # noqa: PLC0415

    conda = get_conda_bin_executable("conda")
    if shutil.which(conda) is None:
        raise RunnerError(
            f"env_manager conda needs conda, which is not in this image ({conda} not found); use env_manager uv or "
            "virtualenv, or a docker_env image that has conda"
        )
    try:
        say("building the conda environment")
        return list(get_or_create_conda_env(project.env_config_path).get_activate_command())
    except (MlflowException, ShellCommandException) as exc:
        raise RunnerError(f"cannot build the conda environment: {_first_line(exc)}") from exc


def _first_line(exc: Exception) -> str:
    """An exception's first line (MLflow's command failures go on with the command's whole output)."""
    return (str(getattr(exc, "message", "") or exc).strip().splitlines() or [type(exc).__name__])[0]


def run_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The entry point's environment: the job's, with the run variables set as MLflow's local backend sets them."""
    from mlflow.projects.utils import get_run_env_vars  # noqa: PLC0415

    env = dict(environ)
    # "python" in an entry point is the runner's own interpreter (the image's; under stratus local, the one stratus
    # runs on), as in a shell where its environment is activated; a virtualenv or conda activation goes before it
    interpreter_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([interpreter_dir, *(p for p in env.get("PATH", "").split(os.pathsep) if p)])
    run_id, experiment_id = environ.get("MLFLOW_RUN_ID"), environ.get("MLFLOW_EXPERIMENT_ID")
    if run_id and experiment_id:
        env.update(get_run_env_vars(run_id, experiment_id))
    else:
        say("MLFLOW_RUN_ID or MLFLOW_EXPERIMENT_ID is not set: the entry point will log to a run of its own")
    return env


def record_env_manager(environ: Mapping[str, str], value: str) -> None:
    """Tag the run with the environment it ran in (``mlflow.project.env``), as MLflow's local backend does."""
    run_id = environ.get("MLFLOW_RUN_ID")
    if not run_id:
        return
    from mlflow.tracking import MlflowClient  # noqa: PLC0415
    from mlflow.utils.mlflow_tags import MLFLOW_PROJECT_ENV  # noqa: PLC0415

    try:
        MlflowClient().set_tag(run_id, MLFLOW_PROJECT_ENV, value)
    except Exception as exc:  # noqa: BLE001 - a missing tag must not stop the run
        say(f"warning: could not tag the run with {MLFLOW_PROJECT_ENV}={value}: {exc}")


# -- running ----------------------------------------------------------------------------------------------------------


def exit_code(returncode: int) -> int:
    """A shell's exit code for a process result: 128 + N for a process killed by signal N."""
    return returncode if returncode >= 0 else 128 - returncode


def run_command(command: str, cwd: Path, env: Mapping[str, str], stop_timeout_s: float = DEFAULT_STOP_TIMEOUT_S) -> int:
    """Run ``command`` with bash in its own process group, its output going straight to ours. SIGTERM and SIGINT
    are forwarded to the group, which is killed if it is still there ``stop_timeout_s`` later. Returns its exit code."""
    process: subprocess.Popen[bytes] | None = None
    stopping_since: list[float] = []

    def forward(signum: int, _frame: FrameType | None) -> None:
        say(f"received {signal.Signals(signum).name}; passing it to the entry point")
        stopping_since.append(time.monotonic())
        if process is not None:
            _signal_group(process.pid, signum)

    handled = (signal.SIGTERM, signal.SIGINT) if threading.current_thread() is threading.main_thread() else ()
    previous = {signum: signal.signal(signum, forward) for signum in handled}
    try:
        process = subprocess.Popen(["bash", "-c", command], cwd=cwd, env=dict(env), process_group=0)  # noqa: S603
        while True:
            try:
                return exit_code(process.wait(timeout=0.5))
            except subprocess.TimeoutExpired:
                if stopping_since and time.monotonic() - stopping_since[0] >= stop_timeout_s:
                    say(f"the entry point is still running {stop_timeout_s:g} s after SIGTERM; killing it")
                    _signal_group(process.pid, signal.SIGKILL)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone already
        os.killpg(pgid, signum)


def run_job(environ: Mapping[str, str], work_dir: Path) -> int:
    """Every step of the job; returns the entry point's exit code. Raises :class:`RunnerError` for bad input."""
    job = JobSpec.from_environment(environ)
    say(f"downloading {job.package_uri}")
    archive = download_package(job.package_uri, work_dir / "package.tar.gz")
    project_dir = safe_extract(archive, work_dir / "project")
    say(f"extracted the project into {project_dir}")
    project = load_project(project_dir)
    command = entry_point_command(project, job.entry_point, job.parameters)  # fails fast on a bad entry point
    preparation, separator = environment_commands(project, project_dir, job.env_manager)
    if project.docker_env:
        record_env_manager(environ, "docker")
    elif job.env_manager != "local":
        record_env_manager(environ, job.env_manager)
    full_command = separator.join([*preparation, command])
    say(f"running entry point {job.entry_point!r}: {command}")
    code = run_command(full_command, project_dir, run_environment(environ), job.stop_timeout_s)
    say(f"entry point {job.entry_point!r} exited with code {code}")
    return code


def main(environ: Mapping[str, str] | None = None) -> int:
    """``python -m stratus_runner``: run the job described by the environment; returns the exit code."""
    environ = os.environ if environ is None else environ
    work_dir = Path(tempfile.mkdtemp(prefix="stratus-project-"))
    try:
        return run_job(environ, work_dir)
    except RunnerError as exc:
        say(f"error: {exc}")
        return RUNNER_ERROR_EXIT
