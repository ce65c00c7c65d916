"""AWS Batch, locally: the part of the Batch API the project functions call (``SubmitJob``, ``TerminateJob``,
``CancelJob``, ``DescribeJobs``, ``RegisterJobDefinition``, ``DescribeJobDefinitions``), answered in botocore's
REST-JSON protocol on a loopback port (``AWS_ENDPOINT_URL_BATCH``), with each job run as a process of this machine
instead of a Fargate container: ``python -m stratus_runner`` with the runner's folder on ``PYTHONPATH``, in a session
of its own, in a fresh folder. The job definition's image and command are ignored.

As AWS Batch does, each state change of a job (SUBMITTED, RUNNABLE, STARTING, RUNNING, SUCCEEDED or FAILED) is put
on the default EventBridge bus (source ``aws.batch``, detail-type ``Batch Job State Change``, the job's DescribeJobs
detail), the job's output goes to CloudWatch Logs (group ``/aws/batch/job``), a job that outlives its
``attemptDurationSeconds`` is stopped, and jobs wait RUNNABLE while ``max_running`` others run.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, TextIO

import boto3

from stratus_local.server import LocalHTTPServer, serve_in_thread
from stratus_local.template import LOCAL_ACCOUNT_ID

LOG_GROUP = "/aws/batch/job"
LOG_STREAM_PREFIX = "stratus-project/default/"
EVENT_SOURCE = "aws.batch"
EVENT_DETAIL_TYPE = "Batch Job State Change"
MAX_RUNNING_JOBS = 2
"""Jobs run at once; the others wait RUNNABLE, as when a compute environment is at its maxvCpus."""
KILL_AFTER_S = 10.0
"""Between SIGTERM and SIGKILL when a job is terminated, times out or the stack stops."""
RUNNER_STOP_TIMEOUT_S = 8.0
"""What the runner waits, after passing SIGTERM on, before it kills the entry point: under :data:`KILL_AFTER_S`, so
the entry point's own processes do not outlive the runner."""
LOG_FLUSH_S = 1.0
POLL_S = 0.2
EXITED_REASON = "Essential container in task exited"
TIMEOUT_REASON = "Job attempt duration exceeded timeout"
STACK_STOPPED_REASON = "stratus local stopped"
UNSTARTED = ("SUBMITTED", "PENDING", "RUNNABLE")
STARTED = ("STARTING", "RUNNING")
MAX_LOG_EVENT_BYTES = 256 * 1024 - 26
"""CloudWatch Logs' limits: an event's message, a PutLogEvents call's events and bytes (26 bytes per event)."""
MAX_LOG_BATCH_EVENTS = 10_000
MAX_LOG_BATCH_BYTES = 1_048_576
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
OPERATIONS = {
    "/v1/submitjob": "submit_job",
    "/v1/terminatejob": "terminate_job",
    "/v1/canceljob": "cancel_job",
    "/v1/describejobs": "describe_jobs",
    "/v1/registerjobdefinition": "register_job_definition",
    "/v1/describejobdefinitions": "describe_job_definitions",
}
"""Request path -> method of :class:`BatchEmulator` (botocore's ``batch`` model, 2016-08-10)."""


class BatchClientError(Exception):
    """Batch's ``ClientException``: the request is wrong (HTTP 400)."""


def _now_ms() -> int:
    return int(time.time() * 1000)


def _exit_code(returncode: int) -> int:
    """As a container reports it: 128 + N for a process killed by signal N."""
    return returncode if returncode >= 0 else 128 - returncode


@dataclass
class _Job:
    """One submitted job and what happened to it."""

    job_id: str
    name: str
    arn: str
    queue_arn: str
    definition: dict[str, Any]
    request: dict[str, Any]
    created_at: int = field(default_factory=_now_ms)
    status: str = "SUBMITTED"
    status_reason: str | None = None
    started_at: int | None = None
    stopped_at: int | None = None
    exit_code: int | None = None
    log_stream: str | None = None
    is_cancelled: bool = False
    is_terminated: bool = False
    stop_reason: str | None = None
    """Why the emulator is stopping the job (a TerminateJob reason, the timeout): the job then ends FAILED."""
    kill_at: float | None = None
    process: subprocess.Popen[bytes] | None = None
    output: deque[tuple[int, str]] = field(default_factory=deque)

    @property
    def timeout_s(self) -> int | None:
        timeout = self.request.get("timeout") or self.definition.get("timeout") or {}
        return timeout.get("attemptDurationSeconds")

    def environment(self) -> list[dict[str, str]]:
        """The definition's variables with the overrides' on top, as Batch merges them."""
        merged = {
            item["name"]: item["value"]
            for source in (
                (self.definition.get("containerProperties") or {}).get("environment") or [],
                (self.request.get("containerOverrides") or {}).get("environment") or [],
            )
            for item in source
        }
        return [{"name": name, "value": value} for name, value in merged.items()]

    def detail(self) -> dict[str, Any]:
        """The job as DescribeJobs shows it, which is also the detail of its state change events."""
        properties = self.definition.get("containerProperties") or {}
        overrides = self.request.get("containerOverrides") or {}
        container = {
            "image": properties.get("image"),
            "command": overrides.get("command") or properties.get("command") or [],
            "environment": self.environment(),
            "resourceRequirements": overrides.get("resourceRequirements") or properties.get("resourceRequirements"),
            "logStreamName": self.log_stream,
            "exitCode": self.exit_code,
        }
        attempts = []
        if self.started_at is not None and self.stopped_at is not None:
            attempt_container = {"exitCode": self.exit_code, "logStreamName": self.log_stream}
            attempts.append(
                {
                    "container": _without_none(attempt_container),
                    "startedAt": self.started_at,
                    "stoppedAt": self.stopped_at,
                    "statusReason": EXITED_REASON,
                }
            )
        detail = {
            "jobArn": self.arn,
            "jobName": self.name,
            "jobId": self.job_id,
            "jobQueue": self.queue_arn,
            "status": self.status,
            "statusReason": self.status_reason,
            "attempts": attempts,
            "createdAt": self.created_at,
            "startedAt": self.started_at,
            "stoppedAt": self.stopped_at,
            "dependsOn": [],
            "jobDefinition": self.definition["jobDefinitionArn"],
            "parameters": self.request.get("parameters") or {},
            "container": _without_none(container),
            "tags": self.request.get("tags") or {},
            "propagateTags": self.request.get("propagateTags", self.definition.get("propagateTags")),
            "timeout": self.request.get("timeout") or self.definition.get("timeout"),
            "retryStrategy": self.request.get("retryStrategy") or self.definition.get("retryStrategy"),
            "platformCapabilities": self.definition.get("platformCapabilities") or ["EC2"],
            "isCancelled": self.is_cancelled,
            "isTerminated": self.is_terminated,
        }
        return _without_none(detail)


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


class EventPublisher:
    """Puts an emulated service's state change events (``source``, ``detail_type``) on the default bus from one
    thread, in the order the changes happened; ``resources`` gives an event's ``resources`` from its detail."""

    def __init__(  # noqa: PLR0913 - what the events are, all but the client keyword-only
        self,
        events: Any,
        log: TextIO,
        *,
        source: str = EVENT_SOURCE,
        detail_type: str = EVENT_DETAIL_TYPE,
        resources: Callable[[dict[str, Any]], list[str]] = lambda detail: [detail["jobArn"]],
        what: str = "batch: job state",
    ) -> None:
        self._events = events
        self._log = log
        self._source, self._detail_type, self._resources, self._what = source, detail_type, resources, what
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._failing = False
        self._thread = threading.Thread(target=self._run, name=f"{source}-events", daemon=True)
        self._thread.start()

    def publish(self, detail: dict[str, Any]) -> None:
        self._queue.put(detail)

    def close(self) -> None:
        """Publish what is queued, then stop."""
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        closing = False
        while not closing:
            batch = [self._queue.get()]
            while len(batch) < 10 and not self._queue.empty():  # PutEvents takes up to 10 entries
                batch.append(self._queue.get())
            closing = None in batch
            entries = [
                {
                    "Source": self._source,
                    "DetailType": self._detail_type,
                    "Detail": json.dumps(detail),
                    "Resources": self._resources(detail),
                    "EventBusName": "default",
                }
                for detail in batch
                if detail is not None
            ]
            if entries:
                self._put(entries)

    def _put(self, entries: list[dict[str, Any]]) -> None:
        try:
            failed = self._events.put_events(Entries=entries).get("FailedEntryCount", 0)
            if failed:
                raise RuntimeError(f"{failed} of {len(entries)} entries failed")
        except Exception as exc:  # noqa: BLE001 - a lost event is reported; the emulator goes on
            if not self._failing:
                print(f"stratus local: {self._what} events could not go on the default bus: {exc}", file=self._log)
            self._failing = True
        else:
            self._failing = False


class BatchEmulator:
    """Answers Batch API calls on a loopback port and runs each job as a local process of the Stratus runner."""

    def __init__(  # noqa: PLR0913 - where things are, all keyword-only
        self,
        *,
        aws_endpoint: str,
        runner_dir: Path,
        region: str,
        work_root: Path | None = None,
        environment: Mapping[str, str] | None = None,
        extra_environment: Mapping[str, str] | None = None,
        max_running: int = MAX_RUNNING_JOBS,
        python: str = sys.executable,
        host: str = "127.0.0.1",
        log: TextIO = sys.stderr,
    ) -> None:
        """``aws_endpoint``: where EventBridge and CloudWatch Logs answer (the stack's moto). ``environment``: the
        base of every job's environment (default: this process's at the job's start); ``extra_environment`` goes on
        top of it, and the job's own variables on top of both. ``work_root``: where each job gets its folder
        (default: a temporary folder removed on stop)."""
        self.aws_endpoint = aws_endpoint
        self.runner_dir = runner_dir
        self.region = region
        self.max_running = max_running
        self.python = python
        self.host = host
        self.log = log
        self._environment = environment
        self._extra_environment = dict(extra_environment or {})
        self._given_work_root = work_root
        self._work_root: Path | None = None
        self._lock = threading.RLock()
        self._jobs: dict[str, _Job] = {}
        self._waiting: deque[_Job] = deque()
        self._definitions: dict[str, list[dict[str, Any]]] = {}
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._server: _BatchHTTPServer | None = None
        self._publisher: EventPublisher | None = None
        self._logs: Any = None

    @property
    def endpoint(self) -> str:
        if self._server is None:
            raise RuntimeError("the Batch emulator is not started")
        return f"http://{self.host}:{self._server.server_address[1]}"

    # -- lifecycle ----------------------------------------------------------------------------------------------

    def start(self) -> str:
        """Listen on a free port; returns the endpoint (``AWS_ENDPOINT_URL_BATCH``)."""
        session = boto3.session.Session(region_name=self.region)
        self._logs = session.client("logs", endpoint_url=self.aws_endpoint)
        with contextlib.suppress(self._logs.exceptions.ResourceAlreadyExistsException):
            self._logs.create_log_group(logGroupName=LOG_GROUP)
        self._publisher = EventPublisher(session.client("events", endpoint_url=self.aws_endpoint), self.log)
        if self._given_work_root is not None:
            self._given_work_root.mkdir(parents=True, exist_ok=True)
            self._work_root = self._given_work_root
        else:
            self._work_root = Path(tempfile.mkdtemp(prefix="stratus-batch-"))
        self._server = _BatchHTTPServer((self.host, 0), self)
        serve_in_thread(self._server, name="batch-api")
        return self.endpoint

    def stop(self) -> int:
        """Stop answering, fail the waiting jobs and stop the running ones (SIGTERM, SIGKILL after
        :data:`KILL_AFTER_S`), publish their last events. Returns how many jobs it ended. Safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        with self._lock:
            if self._stopping:
                return 0
            self._stopping = True
            ended = [job for job in self._jobs.values() if job.status in UNSTARTED + STARTED]
            for job in ended:
                self._stop(job, STACK_STOPPED_REASON)
        for thread in self._threads:
            thread.join(timeout=KILL_AFTER_S + 5)
        if self._publisher is not None:
            self._publisher.close()
        if self._given_work_root is None and self._work_root is not None:
            shutil.rmtree(self._work_root, ignore_errors=True)
        return len(ended)

    # -- the API (one method per operation; request and answer as botocore's JSON) ---------------------------------

    def register_job_definition(self, request: dict[str, Any]) -> dict[str, Any]:
        name, kind = request.get("jobDefinitionName") or "", request.get("type")
        if not _NAME.match(name):
            raise BatchClientError(f"jobDefinitionName {name!r}: up to 128 letters, numbers, hyphens, underscores")
        if kind not in ("container", "multinode"):
            raise BatchClientError(f"type must be container or multinode, got {kind!r}")
        with self._lock:
            revisions = self._definitions.setdefault(name, [])
            revision = len(revisions) + 1
            arn = f"arn:aws:batch:{self.region}:{LOCAL_ACCOUNT_ID}:job-definition/{name}:{revision}"
            revisions.append(
                {
                    **request,
                    "jobDefinitionArn": arn,
                    "revision": revision,
                    "status": "ACTIVE",
                    "containerOrchestrationType": "ECS",
                }
            )
        return {"jobDefinitionName": name, "jobDefinitionArn": arn, "revision": revision}

    def describe_job_definitions(self, request: dict[str, Any]) -> dict[str, Any]:
        wanted = request.get("jobDefinitions") or []
        name, status = request.get("jobDefinitionName"), request.get("status")
        with self._lock:
            found = [
                definition
                for revisions in self._definitions.values()
                for definition in revisions
                if (not wanted or any(_names_definition(ref, definition) for ref in wanted))
                and (name is None or definition["jobDefinitionName"] == name)
                and (status is None or definition["status"] == status)
            ]
        return {"jobDefinitions": [dict(definition) for definition in found]}

    def submit_job(self, request: dict[str, Any]) -> dict[str, Any]:
        name, queue_ref = request.get("jobName") or "", request.get("jobQueue") or ""
        if not _NAME.match(name):
            raise BatchClientError(f"jobName {name!r}: up to 128 letters, numbers, hyphens, underscores")
        if not queue_ref:
            raise BatchClientError("jobQueue is required")
        overrides = (request.get("containerOverrides") or {}).get("environment") or []
        reserved = [item.get("name") for item in overrides if str(item.get("name", "")).startswith("AWS_BATCH")]
        if reserved:
            raise BatchClientError(f"Environment variable names cannot start with AWS_BATCH: {reserved}")
        timeout = (request.get("timeout") or {}).get("attemptDurationSeconds")
        if timeout is not None and int(timeout) < 1:  # AWS's minimum is 60 s; shorter is allowed here for tests
            raise BatchClientError("timeout.attemptDurationSeconds must be a positive number of seconds")
        with self._lock:
            if self._stopping:
                raise BatchClientError("stratus local is stopping")
            definition = self._definition(request.get("jobDefinition") or "")
            job_id = str(uuid.uuid4())
            job = _Job(
                job_id=job_id,
                name=name,
                arn=f"arn:aws:batch:{self.region}:{LOCAL_ACCOUNT_ID}:job/{job_id}",
                queue_arn=self._queue_arn(queue_ref),
                definition=definition,
                request=request,
            )
            self._jobs[job_id] = job
            self._set_status(job, "SUBMITTED")
            self._set_status(job, "RUNNABLE")
            self._waiting.append(job)
            self._schedule()
        return {"jobArn": job.arn, "jobName": job.name, "jobId": job.job_id}

    def describe_jobs(self, request: dict[str, Any]) -> dict[str, Any]:
        ids = request.get("jobs") or []
        if len(ids) > 100:
            raise BatchClientError("jobs: at most 100 job IDs")
        with self._lock:
            jobs = [self._jobs[ref.rsplit("/", 1)[-1]] for ref in ids if ref.rsplit("/", 1)[-1] in self._jobs]
            return {"jobs": [job.detail() for job in jobs]}

    def terminate_job(self, request: dict[str, Any]) -> dict[str, Any]:
        """A job not started yet is cancelled; a started one gets SIGTERM, then SIGKILL; an ended one is left."""
        with self._lock:
            job = self._job(request)
            if job.status in UNSTARTED + STARTED:
                job.is_terminated = True
                self._stop(job, str(request["reason"]))
        return {}

    def cancel_job(self, request: dict[str, Any]) -> dict[str, Any]:
        """As on AWS, only a job that has not reached STARTING is cancelled; the call succeeds either way."""
        with self._lock:
            job = self._job(request)
            if job.status in UNSTARTED:
                job.is_cancelled = True
                self._stop(job, str(request["reason"]))
        return {}

    # -- jobs -----------------------------------------------------------------------------------------------------

    def _job(self, request: dict[str, Any]) -> _Job:
        if not request.get("jobId") or not request.get("reason"):
            raise BatchClientError("jobId and reason are required")
        job = self._jobs.get(str(request["jobId"]))
        if job is None:
            raise BatchClientError(f"Job {request['jobId']} does not exist")
        return job

    def _definition(self, ref: str) -> dict[str, Any]:
        """A definition by name (latest active revision), ``name:revision`` or ARN."""
        name, _, revision = ref.rsplit("/", 1)[-1].partition(":")
        revisions = [d for d in self._definitions.get(name, []) if d["status"] == "ACTIVE"]
        if revision:
            revisions = [d for d in revisions if str(d["revision"]) == revision]
        if not revisions:
            raise BatchClientError(f"Job definition {ref} does not exist or is not active")
        return revisions[-1]

    def _queue_arn(self, ref: str) -> str:
        return ref if ref.startswith("arn:") else f"arn:aws:batch:{self.region}:{LOCAL_ACCOUNT_ID}:job-queue/{ref}"

    def _set_status(self, job: _Job, status: str) -> None:
        """Change the job's status and publish the change (under the lock, so events keep the changes' order)."""
        job.status = status
        if self._publisher is not None:
            self._publisher.publish(job.detail())

    def _schedule(self) -> None:
        """Start waiting jobs while fewer than ``max_running`` run."""
        with self._lock:
            while not self._stopping and self._waiting:
                if sum(job.status in STARTED for job in self._jobs.values()) >= self.max_running:
                    return
                job = self._waiting.popleft()
                if job.status != "RUNNABLE":
                    continue  # cancelled while it waited
                self._set_status(job, "STARTING")
                thread = threading.Thread(
                    target=self._run_job, args=(job,), name=f"batch-job-{job.job_id}", daemon=True
                )
                self._threads.append(thread)
                thread.start()

    def _stop(self, job: _Job, reason: str) -> None:
        """End a waiting job now, FAILED with ``reason``; or SIGTERM a started one, whose end is reported when it
        exits (FAILED with ``reason`` whatever its exit code)."""
        if job.status in UNSTARTED:
            job.status_reason, job.stopped_at = reason, _now_ms()
            self._set_status(job, "FAILED")
            return
        if job.stop_reason is None:
            job.stop_reason = reason
            job.kill_at = time.monotonic() + KILL_AFTER_S
            if job.process is not None:
                _signal_group(job.process, signal.SIGTERM)

    def _run_job(self, job: _Job) -> None:
        folder = self._job_folder(job)
        try:
            process = self._launch(job, folder)
            if process is not None:
                self._supervise(job, process)
        except Exception as exc:  # noqa: BLE001 - the job must end, and the stack go on
            traceback.print_exc(file=self.log)
            with self._lock:
                job.status_reason, job.stopped_at = f"stratus local could not run the job: {exc}", _now_ms()
                self._set_status(job, "FAILED")
        finally:
            shutil.rmtree(folder, ignore_errors=True)  # as a container's file system goes with it
            self._schedule()

    def _job_folder(self, job: _Job) -> Path:
        if self._work_root is None:
            raise RuntimeError("the Batch emulator is not started")
        folder = self._work_root / job.job_id
        folder.mkdir(parents=True)
        return folder

    def _launch(self, job: _Job, folder: Path) -> subprocess.Popen[bytes] | None:
        """The runner's process, RUNNING; None if the job was stopped while it was STARTING."""
        stream = f"{LOG_STREAM_PREFIX}{job.job_id}"
        self._logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
        environment = self._job_environment(job, folder)
        with self._lock:
            if job.stop_reason is not None:
                job.status_reason, job.stopped_at = job.stop_reason, _now_ms()
                self._set_status(job, "FAILED")
                return None
            job.process = subprocess.Popen(  # noqa: S603 - this interpreter and the runner
                [self.python, "-m", "stratus_runner"],
                cwd=folder,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            job.log_stream, job.started_at = stream, _now_ms()
            self._set_status(job, "RUNNING")
            print(f"stratus local: batch job {job.name} ({job.job_id}) is running", file=self.log)
            return job.process

    def _job_environment(self, job: _Job, folder: Path) -> dict[str, str]:
        """The stack's environment, the job's variables on top, and what the container would have: its Python first
        on PATH (the image's ``python``), the Batch variables, a temporary folder that goes with the job."""
        environment = dict(os.environ if self._environment is None else self._environment)
        environment.update(self._extra_environment)
        environment.update({item["name"]: item["value"] for item in job.environment()})
        python_path = [str(self.runner_dir), environment.get("PYTHONPATH", "")]
        environment.update(
            {
                "PYTHONPATH": os.pathsep.join(part for part in python_path if part),
                "PATH": os.pathsep.join([str(Path(self.python).parent), environment.get("PATH", os.defpath)]),
                "PYTHONUNBUFFERED": "1",
                "TMPDIR": str(folder),
                "AWS_BATCH_JOB_ID": job.job_id,
                "AWS_BATCH_JOB_ATTEMPT": "1",
                "AWS_BATCH_JQ_NAME": job.queue_arn.rsplit("/", 1)[-1],
            }
        )
        environment.setdefault("STRATUS_RUNNER_STOP_TIMEOUT", str(RUNNER_STOP_TIMEOUT_S))
        return environment

    def _supervise(self, job: _Job, process: subprocess.Popen[bytes]) -> None:
        """Collect the output, enforce the timeout and the kill, then report how the job ended."""
        reader = threading.Thread(target=self._read_output, args=(job, process), name=f"batch-output-{job.job_id}")
        reader.start()
        timeout_s = job.timeout_s
        deadline = time.monotonic() + timeout_s if timeout_s else None
        flushed = time.monotonic()
        while True:
            try:
                returncode = process.wait(timeout=POLL_S)
                break
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            with self._lock:
                if deadline is not None and now >= deadline:
                    self._stop(job, TIMEOUT_REASON)
                if job.kill_at is not None and now >= job.kill_at:
                    _kill_session(process)
                    job.kill_at = None
            if now - flushed >= LOG_FLUSH_S:
                self._ship_logs(job)
                flushed = now
        _kill_session(process)  # what the job left behind goes with it, as with its container
        reader.join(timeout=5)
        self._ship_logs(job)
        with self._lock:
            job.exit_code, job.stopped_at = _exit_code(returncode), _now_ms()
            job.status_reason = job.stop_reason or EXITED_REASON
            self._set_status(job, "SUCCEEDED" if job.exit_code == 0 and job.stop_reason is None else "FAILED")
        print(f"stratus local: batch job {job.name} ({job.job_id}) {job.status}: {job.status_reason}", file=self.log)

    @staticmethod
    def _read_output(job: _Job, process: subprocess.Popen[bytes]) -> None:
        if process.stdout is None:
            return
        with process.stdout:
            for raw in process.stdout:
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                if line:  # CloudWatch refuses empty messages; the awslogs driver drops them
                    job.output.append((_now_ms(), line))

    def _ship_logs(self, job: _Job) -> None:
        events = []
        while job.output:
            timestamp, message = job.output.popleft()
            encoded = message.encode()
            if len(encoded) > MAX_LOG_EVENT_BYTES:
                message = encoded[:MAX_LOG_EVENT_BYTES].decode(errors="ignore")
            events.append({"timestamp": timestamp, "message": message})
        for batch in log_batches(events):
            try:
                self._logs.put_log_events(logGroupName=LOG_GROUP, logStreamName=job.log_stream, logEvents=batch)
            except Exception as exc:  # noqa: BLE001 - lost output is reported; the job goes on
                print(f"stratus local: batch job {job.job_id}: could not write its log: {exc}", file=self.log)


def log_batches(events: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """PutLogEvents calls within CloudWatch's count and size limits."""
    batch: list[dict[str, Any]] = []
    size = 0
    for event in events:
        event_size = len(event["message"].encode()) + 26
        if batch and (len(batch) >= MAX_LOG_BATCH_EVENTS or size + event_size > MAX_LOG_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(event)
        size += event_size
    if batch:
        yield batch


def _names_definition(ref: str, definition: dict[str, Any]) -> bool:
    """Whether ``ref`` (a name, ``name:revision`` or an ARN) designates ``definition``."""
    name, _, revision = ref.rsplit("/", 1)[-1].partition(":")
    return definition["jobDefinitionName"] == name and (not revision or str(definition["revision"]) == revision)


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def _kill_session(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL every process of the job's session: the runner's group, and the entry point's group, which the runner
    made to pass signals on to it (Linux, from /proc; elsewhere only the runner's group)."""
    _signal_group(process, signal.SIGKILL)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            session = int(stat.read_text().rsplit(")", 1)[1].split()[3])  # after "pid (comm)": state ppid pgrp session
            if session == process.pid:
                os.kill(int(stat.parent.name), signal.SIGKILL)


class _BatchHTTPServer(LocalHTTPServer):
    def __init__(self, address: tuple[str, int], emulator: BatchEmulator) -> None:
        self.emulator = emulator
        super().__init__(address, _BatchRequestHandler)


class _BatchRequestHandler(BaseHTTPRequestHandler):
    """POST /v1/<operation> with a JSON body -> the emulator's method; errors as botocore's REST-JSON parser reads
    them (``x-amzn-ErrorType``)."""

    protocol_version = "HTTP/1.1"
    server: _BatchHTTPServer

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        operation = OPERATIONS.get(self.path.split("?", 1)[0].rstrip("/").lower())
        emulator: BatchEmulator = self.server.emulator
        try:
            if operation is None:
                raise BatchClientError(f"stratus local's Batch emulator does not implement POST {self.path}")
            request = json.loads(body or b"{}")
            if not isinstance(request, dict):
                raise BatchClientError("the request body must be a JSON object")
            call: Callable[[dict[str, Any]], dict[str, Any]] = getattr(emulator, operation)
            self._answer(200, call(request))
        except (BatchClientError, ValueError, TypeError, KeyError) as exc:
            self._answer(400, {"message": str(exc)}, error="ClientException")
        except Exception:  # noqa: BLE001 - answered as AWS would, with the traceback on the stack's log
            traceback.print_exc(file=emulator.log)
            self._answer(500, {"message": "internal error of the Batch emulator"}, error="ServerException")

    def _answer(self, status: int, document: dict[str, Any], error: str | None = None) -> None:
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if error is not None:
            self.send_header("x-amzn-ErrorType", error)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        """Quiet: the project functions' own requests are what the stack logs."""
