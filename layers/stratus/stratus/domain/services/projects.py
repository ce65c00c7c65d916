"""Project runs (``mlflow run --backend stratus``): packages, submission, cancellation, and the job events that move
a run through its states and end its MLflow run (``domain.projects`` has the states and rules; docs/projects.md).
Its events on the Stratus bus are derived from the table's stream (``events.projects``), as registry events are."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from stratus.domain.entities import Run
from stratus.domain.ports import JobLogs, JobRequest, JobScheduler, ProjectPackages, ProjectRunStore
from stratus.domain.projects import (
    CANCEL_REASON,
    CANCELLING,
    CAPACITY_REASON,
    ENV_MANAGERS,
    JOB_STATES,
    QUEUED,
    RUNNING,
    SUBMITTED,
    TERMINAL,
    ProjectResources,
    ProjectRun,
    job_end,
    job_name,
    log_stream_of,
    moves_forward,
    package_parts,
    parse_backend_config,
    run_id_of_job,
)
from stratus.domain.services.artifacts import ArtifactService
from stratus.domain.services.experiments import ExperimentService, now_ms
from stratus.domain.services.runs import RunService
from stratus.errors import (
    Conflict,
    InvalidParameterValue,
    InvalidState,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
    StratusError,
)

TAG_PREFIX = "stratus.project."
LOG_ARTIFACT = "stratus/project-output.log"
MAX_LOG_BYTES = 64 * 1024 * 1024  # copied into the run's artifacts; the whole log stays in CloudWatch
SWEEP_LIMIT = 500
DESCRIBE_BATCH = 100  # AWS Batch's DescribeJobs limit
SAVE_ATTEMPTS = 5
RUN_STATUS_OF_END = {"SUCCEEDED": "FINISHED", "FAILED": "FAILED", "CANCELLED": "KILLED"}
_HEX32 = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class ProjectSettings:
    """What a deployment tells the project service: the job queue and definition (empty: project runs are off),
    the URL jobs call back, defaults for a job's resources, and whether jobs must sign their calls (SigV4)."""

    job_queue: str = ""
    job_definition: str = ""
    tracking_uri: str = ""
    defaults: ProjectResources = field(default_factory=ProjectResources)
    sigv4: bool = False
    # how a job builds the project's environment when the client names no --env-manager: uv on AWS (the runner
    # image holds only mlflow), local under stratus local (the laptop's own environment)
    default_env_manager: str = "local"

    @staticmethod
    def parse_defaults(raw: str) -> ProjectResources:
        """``STRATUS_PROJECT_DEFAULTS`` (JSON of vcpu, memory, timeout, max_wait) as resources."""
        values = json.loads(raw) if raw else {}
        base = ProjectResources()
        return ProjectResources(
            vcpu=float(values.get("vcpu", base.vcpu)),
            memory=int(values.get("memory", base.memory)),
            timeout=int(values.get("timeout", base.timeout)),
            max_wait=int(values.get("max_wait", base.max_wait)),
        )


@dataclass(frozen=True)
class PackageUpload:
    """Where the client uploads a package: one presigned PUT (``upload_url``), or, for a package over
    ``MULTIPART_BYTES``, a multipart upload (``upload_id`` and one presigned URL per ``part_size`` bytes)."""

    package_id: str
    package_uri: str
    upload_url: str | None = None
    upload_headers: dict[str, str] = field(default_factory=dict)
    upload_id: str | None = None
    part_size: int = 0
    part_urls: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Submission:
    """A ``runs/submit`` request, as parsed by the API."""

    run_id: str
    package_id: str
    entry_point: str
    parameters: dict[str, str]
    env_manager: str | None
    backend_config: dict[str, Any]
    docker_image: str | None = None


class ProjectService:
    def __init__(  # noqa: PLR0913 - the ports a project run touches
        self,
        store: ProjectRunStore,
        experiments: ExperimentService,
        runs: RunService,
        packages: ProjectPackages,
        jobs: JobScheduler,
        settings: ProjectSettings,
        *,
        logs: JobLogs | None = None,
        artifacts: ArtifactService | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._store = store
        self._experiments = experiments
        self._runs = runs
        self._packages = packages
        self._jobs = jobs
        self._settings = settings
        self._logs = logs
        self._artifacts = artifacts
        self._clock = clock

    # ---------------------------------------------------------------- the API

    def create_package(self, experiment_id: str, size_bytes: int | None = None) -> PackageUpload:
        """Where the client uploads a project of ``size_bytes``: a fresh package id and a presigned PUT, or
        presigned parts of a multipart upload for a large one (any size S3 takes)."""
        self._check_enabled()
        self._experiments.get(experiment_id)  # 404 for an unknown experiment, as MLflow answers
        if size_bytes is not None and size_bytes < 0:
            raise InvalidParameterValue(f"size_bytes must not be negative; got {size_bytes}.")
        parts, part_size = package_parts(size_bytes)
        package_id = uuid.uuid4().hex
        uri = self._packages.uri(package_id)
        if parts == 1:
            url, headers = self._packages.upload_url(package_id)
            return PackageUpload(package_id, uri, url, headers)
        upload_id, urls = self._packages.create_multipart(package_id, parts)
        return PackageUpload(package_id, uri, upload_id=upload_id, part_size=part_size, part_urls=urls)

    def complete_package(self, package_id: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        """Join the parts of a multipart package upload."""
        self._check_enabled()
        _check_package_id(package_id)
        if not parts:
            raise InvalidParameterValue("A multipart package needs at least one part.")
        self._packages.complete_multipart(package_id, upload_id, parts)

    def submit(self, request: Submission, actor: str | None) -> ProjectRun:
        """Start a job for an MLflow run the client created. A request refused here ends that run FAILED (with the
        reason as a tag), so a bad submission never leaves a run RUNNING."""
        run = self._runs.get(request.run_id)  # 404 first: there is no run to end
        self._check_enabled()
        if run.info.status != "RUNNING" or run.info.lifecycle_stage != "active":
            raise InvalidState(
                f"Run {request.run_id} is {run.info.status.lower()} ({run.info.lifecycle_stage}); only a RUNNING run "
                "can be submitted."
            )
        if self._store.get(request.run_id) is not None:
            raise ResourceAlreadyExists(f"Run {request.run_id} was already submitted.")
        try:
            project_run = self._checked(request, run, actor)
        except InvalidParameterValue as exc:
            self._end_refused(run, exc.message)
            raise
        if not self._store.create(project_run):
            raise ResourceAlreadyExists(f"Run {request.run_id} was already submitted.")
        try:
            project_run.job_id = self._jobs.submit(self._job(project_run))
        except StratusError as exc:
            self._finish(project_run, "FAILED", f"the job could not be submitted: {exc.message}", None)
            raise
        queued = self._save(project_run, lambda current: _queued(current, project_run.job_id))
        self._tag(run.run_id, "job_id", project_run.job_id or "")
        return queued

    def get(self, run_id: str) -> ProjectRun:
        project_run = self._store.get(run_id)
        if project_run is None:
            raise ResourceDoesNotExist(f"Run {run_id} is not a project run submitted to Stratus.")
        return project_run

    def cancel(self, run_id: str, actor: str | None) -> ProjectRun:
        """Ask the job to stop; its end (a job event) ends the run KILLED. A run whose job never started ends now."""
        project_run = self.get(run_id)
        if project_run.ended or project_run.state == CANCELLING:
            return project_run
        reason = f"{CANCEL_REASON} user {actor or 'unknown'}"
        if project_run.job_id is None:
            return self._finish(project_run, "CANCELLED", reason, None)
        updated = self._save(project_run, _cancelling)
        self._jobs.terminate(project_run.job_id, reason)
        return updated

    # ---------------------------------------------------------------- job events

    def on_job_event(self, detail: dict[str, Any]) -> ProjectRun | None:
        """A ``Batch Job State Change``: move the run forward; at the job's end, end the MLflow run with why, and
        keep the job's output in the run's artifacts. Events of other jobs, late and repeated events are ignored."""
        run_id = run_id_of_job(str(detail.get("jobName") or ""))
        new_state = JOB_STATES.get(str(detail.get("status") or ""))
        if run_id is None or new_state is None:
            return None
        project_run = self._store.get(run_id)
        if project_run is None or project_run.job_id not in (None, detail.get("jobId")):
            return None
        if new_state in TERMINAL:
            if project_run.ended:
                return project_run if project_run.settled else self._settle(project_run)
            end = job_end(detail, project_run)
            stream = log_stream_of(detail)
            return self._finish(project_run, end.state, end.reason, end.exit_code, stream, detail)
        if not moves_forward(project_run.state, new_state):
            return project_run
        started = new_state == RUNNING
        updated = self._save(project_run, lambda current: _moved(current, new_state, detail, self._clock()))
        if started and updated.state == RUNNING:
            self._tag(run_id, "state", RUNNING)
        return updated

    def sweep(self) -> int:
        """The periodic check: cancel jobs that waited for capacity longer than their ``max_wait``, and settle runs
        whose job ended without its event reaching us (read from the scheduler), and finish the settling of runs whose
        end was recorded but not yet carried to the MLflow run. Returns how many it changed."""
        now = self._clock()
        active = self._store.active(SWEEP_LIMIT)
        unsettled = [r for r in active if r.ended]
        for project_run in unsettled:
            self._settle(project_run)
        active = [r for r in active if r.job_id and not r.ended]
        changed = len(unsettled)
        for start in range(0, len(active), DESCRIBE_BATCH):
            chunk = active[start : start + DESCRIBE_BATCH]
            jobs = {str(job.get("jobId")): job for job in self._jobs.describe([r.job_id or "" for r in chunk])}
            for project_run in chunk:
                job = jobs.get(project_run.job_id or "")
                if job is not None and JOB_STATES.get(str(job.get("status"))) in TERMINAL:
                    self.on_job_event({**job, "jobName": job_name(project_run.run_id)})
                    changed += 1
                elif _waited_too_long(project_run, now):
                    wait = project_run.resources.max_wait
                    self._jobs.terminate(project_run.job_id or "", f"{CAPACITY_REASON} ({wait} s)")
                    changed += 1
        return changed

    # ---------------------------------------------------------------- steps

    def _check_enabled(self) -> None:
        if not (self._settings.job_queue and self._settings.job_definition):
            raise InvalidParameterValue(
                "Project runs are not enabled on this stack: deploy it with ProjectRunnerImage=<image URI> "
                "(docs/projects.md)."
            )

    def _checked(self, request: Submission, run: Run, actor: str | None) -> ProjectRun:
        if not request.entry_point:
            raise InvalidParameterValue("Missing value for required parameter 'entry_point'.")
        _check_package_id(request.package_id)
        if self._packages.size(request.package_id) is None:
            raise InvalidParameterValue(f"Package {request.package_id} was not uploaded.")
        config = parse_backend_config(request.backend_config, self._settings.defaults)
        env_manager = request.env_manager or config.env_manager or self._settings.default_env_manager
        if env_manager not in ENV_MANAGERS:
            raise InvalidParameterValue(f"env_manager must be one of {', '.join(ENV_MANAGERS)}; got {env_manager!r}.")
        return ProjectRun(
            run_id=run.run_id,
            experiment_id=run.info.experiment_id,
            package_uri=self._packages.uri(request.package_id),
            entry_point=request.entry_point,
            parameters=dict(request.parameters),
            env_manager=env_manager,
            resources=config.resources,
            submitted_at=self._clock(),
            user=actor or run.info.user_id,
            environment=config.environment,
            docker_image=request.docker_image or None,
        )

    def _job(self, project_run: ProjectRun) -> JobRequest:
        environment = {
            **project_run.environment,
            "MLFLOW_RUN_ID": project_run.run_id,
            "MLFLOW_EXPERIMENT_ID": project_run.experiment_id,
            "STRATUS_PROJECT_PACKAGE_URI": project_run.package_uri,
            "STRATUS_PROJECT_ENTRY_POINT": project_run.entry_point,
            "STRATUS_PROJECT_PARAMETERS": json.dumps(project_run.parameters),
            "STRATUS_PROJECT_ENV_MANAGER": project_run.env_manager,
        }
        if self._settings.tracking_uri:  # else the job definition's (on AWS: the API's URL, which a function behind
            environment["MLFLOW_TRACKING_URI"] = self._settings.tracking_uri  # that API cannot refer to)
        if self._settings.sigv4:
            environment["MLFLOW_TRACKING_AWS_SIGV4"] = "true"
        return JobRequest(
            name=job_name(project_run.run_id),
            resources=project_run.resources,
            environment=environment,
            tags={"stratus:run-id": project_run.run_id, "stratus:experiment-id": project_run.experiment_id},
            docker_image=project_run.docker_image,
        )

    def _tag(self, run_id: str, key: str, value: str) -> None:
        """A ``stratus.project.*`` tag on the run, unless the user deleted the run meanwhile."""
        try:
            self._runs.set_tag(run_id, f"{TAG_PREFIX}{key}", value)
        except (InvalidParameterValue, ResourceDoesNotExist):
            return

    def _end_refused(self, run: Run, reason: str) -> None:
        self._runs.end(run.run_id, "FAILED", self._clock(), {f"{TAG_PREFIX}end_reason": f"rejected: {reason}"[:5000]})

    def _save(self, project_run: ProjectRun, change: Callable[[ProjectRun], ProjectRun | None]) -> ProjectRun:
        """Apply ``change`` to the stored run and save it, re-reading when someone else saved first. ``change``
        returns None when, on the fresh copy, there is nothing to do."""
        current = project_run
        for _ in range(SAVE_ATTEMPTS):
            updated = change(replace(current))
            if updated is None:
                return current
            if self._store.save(updated):
                updated.revision += 1
                return updated
            fresh = self._store.get(project_run.run_id)
            if fresh is None:
                raise ResourceDoesNotExist(f"Run {project_run.run_id} is not a project run submitted to Stratus.")
            current = fresh
        raise Conflict(f"Project run {project_run.run_id} kept changing; retry.")

    def _finish(  # noqa: PLR0913 - one ending, with what is known of it
        self,
        project_run: ProjectRun,
        state: str,
        reason: str,
        exit_code: int | None,
        log_stream: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> ProjectRun:
        """End the project run once (the first end recorded wins), then settle it (``_settle``)."""
        now = self._clock()

        def ended(current: ProjectRun) -> ProjectRun | None:
            if current.ended:
                return None
            current.state = state
            current.end_reason = reason
            current.exit_code = exit_code
            current.ended_at = now
            current.log_stream = log_stream or current.log_stream
            if detail is not None and current.started_at is None and detail.get("startedAt"):
                current.started_at = int(detail["startedAt"])
            return current

        updated = self._save(project_run, ended)
        return updated if updated.settled else self._settle(updated)

    def _settle(self, project_run: ProjectRun) -> ProjectRun:
        """What follows a recorded end, each step safe to repeat: the log copied into the run's artifacts, the MLflow
        run ended with the reason as tags, then the record marked settled (which also takes it off the active list).
        Until then the run reports RUNNING, so a client never sees KILLED on a run that still says RUNNING; a step
        that fails (a throttled write) is done again by the event's retry or by the sweep."""
        self._copy_log(project_run)
        tags = {
            f"{TAG_PREFIX}state": project_run.state,
            f"{TAG_PREFIX}end_reason": (project_run.end_reason or "")[:5000],
        }
        if project_run.exit_code is not None:
            tags[f"{TAG_PREFIX}exit_code"] = str(project_run.exit_code)
        if project_run.log_stream:
            tags[f"{TAG_PREFIX}log_stream"] = project_run.log_stream
        ended_at = project_run.ended_at or self._clock()
        self._runs.end(project_run.run_id, RUN_STATUS_OF_END[project_run.state], ended_at, tags)
        return self._save(project_run, _settled)

    def _copy_log(self, project_run: ProjectRun) -> None:
        if not (project_run.log_stream and self._logs is not None and self._artifacts is not None):
            return
        body, cut = self._logs.read(project_run.log_stream, MAX_LOG_BYTES)
        if cut:
            body += (
                f"\n[stratus: the log was cut at {MAX_LOG_BYTES} bytes; the whole of it is in CloudWatch Logs, "
                f"stream {project_run.log_stream}]\n"
            ).encode()
        try:
            run = self._runs.get(project_run.run_id)
            self._artifacts.write_run_files(project_run.run_id, run.info.artifact_uri, {LOG_ARTIFACT: body})
        except (InvalidParameterValue, ResourceDoesNotExist):
            # a run deleted meanwhile, or whose artifacts live where clients write directly: the log stays in
            # CloudWatch, and the log_stream tag names it
            return


def _check_package_id(package_id: str) -> None:
    if not (len(package_id) == 32 and set(package_id) <= _HEX32):
        raise InvalidParameterValue(f"Invalid package_id {package_id!r}.")


def _waited_too_long(project_run: ProjectRun, now: int) -> bool:
    """Still waiting for capacity (not started) past ``max_wait`` since submission."""
    return (
        project_run.state in (SUBMITTED, QUEUED)
        and now - project_run.submitted_at > project_run.resources.max_wait * 1000
    )


def _queued(current: ProjectRun, job_id: str | None) -> ProjectRun | None:
    if current.ended:
        return None
    current.job_id = job_id
    if current.state == SUBMITTED:
        current.state = QUEUED
    return current


def _settled(current: ProjectRun) -> ProjectRun | None:
    if current.settled:
        return None
    current.settled = True
    return current


def _cancelling(current: ProjectRun) -> ProjectRun | None:
    if current.ended or current.state == CANCELLING:
        return None
    current.state = CANCELLING
    return current


def _moved(current: ProjectRun, new_state: str, detail: dict[str, Any], now: int) -> ProjectRun | None:
    if not moves_forward(current.state, new_state):
        return None
    current.state = new_state
    if new_state == RUNNING:
        current.started_at = int(detail.get("startedAt") or now)
    current.log_stream = log_stream_of(detail) or current.log_stream
    return current
