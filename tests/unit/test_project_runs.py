"""Project runs (domain.projects, ProjectService): backend_config rules, the state machine driven by job events, why a
job ended, cancellation, the capacity sweep and refused submissions, against in-memory fakes."""

from __future__ import annotations

import dataclasses
import json

import pytest

from stratus.domain import projects as p
from stratus.domain.ports import JobRequest
from stratus.domain.services import ExperimentService, RunService
from stratus.domain.services.projects import ProjectService, ProjectSettings, Submission
from stratus.errors import (
    InvalidParameterValue,
    InvalidState,
    RequestLimitExceeded,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
)
from stratus.events.projects import project_events_from_change
from stratus.store.memory import InMemoryProjectRunStore, InMemoryTrackingStore

DEFAULTS = p.ProjectResources()
PACKAGE = "0" * 32


class FakePackages:
    def __init__(self) -> None:
        self.uploaded: set[str] = set()
        self.completed: list[tuple[str, str, list[tuple[int, str]]]] = []

    def uri(self, package_id: str) -> str:
        return f"s3://bucket/projects/packages/{package_id}.tar.gz"

    def upload_url(self, package_id: str) -> tuple[str, dict[str, str]]:
        return f"https://put/{package_id}", {"Content-Type": "application/gzip"}

    def size(self, package_id: str) -> int | None:
        return 10 if package_id in self.uploaded else None

    def create_multipart(self, package_id: str, parts: int) -> tuple[str, list[str]]:
        return "upload-1", [f"https://part/{package_id}/{n}" for n in range(1, parts + 1)]

    def complete_multipart(self, package_id: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        self.completed.append((package_id, upload_id, parts))


class FakeJobs:
    def __init__(self) -> None:
        self.submitted: list[JobRequest] = []
        self.terminated: list[tuple[str, str]] = []
        self.described: dict[str, dict[str, object]] = {}

    def submit(self, job: JobRequest) -> str:
        self.submitted.append(job)
        return f"job-{len(self.submitted)}"

    def terminate(self, job_id: str, reason: str) -> None:
        self.terminated.append((job_id, reason))

    def describe(self, job_ids: list[str]) -> list[dict[str, object]]:
        return [self.described[j] for j in job_ids if j in self.described]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def world():
    tracking = InMemoryTrackingStore()
    experiments = ExperimentService(tracking, "mlflow-artifacts:")
    runs = RunService(tracking, experiments)
    packages, jobs, clock = FakePackages(), FakeJobs(), Clock()
    packages.uploaded.add(PACKAGE)
    settings = ProjectSettings("queue", "definition", "https://stratus.example", DEFAULTS)
    service = ProjectService(InMemoryProjectRunStore(), experiments, runs, packages, jobs, settings, clock=clock)
    return service, runs, jobs, clock


def submit(service, runs, **overrides):
    run = runs.create("0", "alice", None, {}, None)
    fields = {
        "run_id": run.run_id,
        "package_id": PACKAGE,
        "entry_point": "main",
        "parameters": {"alpha": "0.3"},
        "env_manager": None,
        "backend_config": {},
    }
    fields.update(overrides)
    return run.run_id, service.submit(Submission(**fields), "alice")


def event(run_id: str, status: str, job_id: str = "job-1", **detail):
    return {"jobName": p.job_name(run_id), "jobId": job_id, "status": status, **detail}


# ---------------------------------------------------------------------------------------------- backend_config


def test_backend_config_names_an_unknown_key_and_lists_the_known_ones():
    with pytest.raises(InvalidParameterValue) as caught:
        p.parse_backend_config({"vpcu": 2, "memory": 4096}, DEFAULTS)
    assert "'vpcu'" in caught.value.message
    assert "vcpu, memory, timeout, max_wait, environment" in caught.value.message


def test_backend_config_accepts_mlflows_own_keys():
    config = p.parse_backend_config(
        {
            "ENV_MANAGER": "uv",
            "SYNCHRONOUS": False,
            "DOCKER_ARGS": {},
            "STORAGE_DIR": None,
            "build_image": False,
            "docker_auth": None,
            "_mlflow_local_backend_run_id": None,
        },
        DEFAULTS,
    )
    assert config.env_manager == "uv"
    assert config.resources == DEFAULTS


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"vcpu": 2}, p.ProjectResources(2.0, 4096, 3600, 3600)),
        ({"vcpu": "0.5", "memory": 3072}, p.ProjectResources(0.5, 3072, 3600, 3600)),
        ({"vcpu": 16, "memory": 32768, "timeout": 60, "max_wait": 86400}, p.ProjectResources(16.0, 32768, 60, 86400)),
        ({}, DEFAULTS),
    ],
)
def test_backend_config_resources(raw, expected):
    assert p.parse_backend_config(raw, DEFAULTS).resources == expected


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ({"vcpu": 3}, "vcpu must be one of Fargate's"),
        ({"vcpu": True}, "vcpu must be a number"),
        ({"vcpu": 1, "memory": 1024}, "memory (MiB) must be one Fargate allows with 1 vCPU: 2048 to 8192"),
        ({"memory": 2048.5}, "memory (MiB)"),
        ({"timeout": 10}, "timeout must be a whole number of seconds from 60"),
        ({"max_wait": "soon"}, "max_wait must be a number"),
        ({"environment": {"MLFLOW_RUN_ID": "x"}}, "is reserved"),
        ({"environment": {"1BAD": "x"}}, "not a valid variable name"),
        ({"environment": {"OK": 1}}, "must be a string"),
        ({"environment": ["A=1"]}, "must be an object"),
        ({"ENV_MANAGER": "pipenv"}, "ENV_MANAGER must be one of"),
    ],
)
def test_backend_config_refuses(raw, words):
    with pytest.raises(InvalidParameterValue) as caught:
        p.parse_backend_config(raw, DEFAULTS)
    assert words in caught.value.message


# ---------------------------------------------------------------------------------------------- the state machine


def test_submit_starts_a_job_with_the_runs_environment(world):
    service, runs, jobs, _ = world
    run_id, project_run = submit(service, runs, backend_config={"vcpu": 2, "environment": {"TOKEN_FILE": "/x"}})
    assert project_run.state == p.QUEUED and project_run.job_id == "job-1"
    [job] = jobs.submitted
    assert job.name == f"stratus-run-{run_id}"
    assert job.resources == p.ProjectResources(2.0, 4096, 3600, 3600)
    assert job.environment["MLFLOW_RUN_ID"] == run_id
    assert job.environment["MLFLOW_TRACKING_URI"] == "https://stratus.example"
    assert job.environment["STRATUS_PROJECT_PARAMETERS"] == '{"alpha": "0.3"}'
    assert job.environment["TOKEN_FILE"] == "/x"
    assert "MLFLOW_TRACKING_AWS_SIGV4" not in job.environment
    assert runs.get(run_id).tags["stratus.project.job_id"] == "job-1"


def test_job_events_move_the_run_and_its_end_ends_the_mlflow_run(world):
    service, runs, _, _ = world
    run_id, _ = submit(service, runs)
    assert service.on_job_event(event(run_id, "RUNNABLE")).state == p.QUEUED
    assert service.on_job_event(event(run_id, "STARTING")).state == p.STARTING
    assert service.on_job_event(event(run_id, "RUNNING", startedAt=5)).state == p.RUNNING
    assert service.on_job_event(event(run_id, "RUNNABLE")).state == p.RUNNING  # late: ignored
    ended = service.on_job_event(event(run_id, "SUCCEEDED", container={"exitCode": 0, "logStreamName": "s/1"}))
    assert (ended.state, ended.exit_code, ended.log_stream, ended.started_at) == (p.SUCCEEDED, 0, "s/1", 5)
    run = runs.get(run_id)
    assert run.info.status == "FINISHED" and run.info.end_time is not None
    assert run.tags["stratus.project.end_reason"] == "succeeded"
    assert run.tags["stratus.project.log_stream"] == "s/1"
    assert service.on_job_event(event(run_id, "FAILED")).state == p.SUCCEEDED  # ended runs never change


@pytest.mark.parametrize(
    ("detail", "status", "reason", "exit_code"),
    [
        ({"container": {"exitCode": 3}}, "FAILED", "exit code 3", 3),
        ({"statusReason": "Job attempt duration exceeded timeout"}, "FAILED", "timed out after 3600 s", None),
        (
            {"container": {"exitCode": 137, "reason": "OutOfMemoryError: Container killed due to memory usage"}},
            "FAILED",
            "out of memory (2048 MiB)",
            137,
        ),
        ({"statusReason": "Waited for capacity longer than max_wait (60 s)"}, "FAILED", "waited for capacity", None),
        ({"statusReason": "Cancelled by Stratus user bob"}, "KILLED", "Cancelled by Stratus user bob", None),
        ({"attempts": [{"container": {"exitCode": 2}}]}, "FAILED", "exit code 2", 2),
    ],
)
def test_why_a_job_ended(world, detail, status, reason, exit_code):
    service, runs, _, _ = world
    run_id, _ = submit(service, runs)
    ended = service.on_job_event(event(run_id, "FAILED", **detail))
    assert ended.exit_code == exit_code
    run = runs.get(run_id)
    assert run.info.status == status
    assert run.tags["stratus.project.end_reason"].startswith(reason)


def test_events_of_other_jobs_are_ignored(world):
    service, runs, _, _ = world
    run_id, _ = submit(service, runs)
    assert service.on_job_event(event(run_id, "FAILED", job_id="someone-else")) is None
    assert service.get(run_id).state == p.QUEUED
    assert service.on_job_event({"jobName": "not-ours", "status": "FAILED"}) is None
    assert service.on_job_event(event("unknown-run", "FAILED")) is None


def test_cancel_terminates_the_job_and_its_end_is_killed(world):
    service, runs, jobs, _ = world
    run_id, _ = submit(service, runs)
    assert service.cancel(run_id, "bob").state == p.CANCELLING
    assert jobs.terminated == [("job-1", "Cancelled by Stratus user bob")]
    assert service.cancel(run_id, "bob").state == p.CANCELLING and len(jobs.terminated) == 1
    # the job ends with whatever Batch says; a run being cancelled ends KILLED
    ended = service.on_job_event(event(run_id, "FAILED", statusReason="Essential container in task exited"))
    assert ended.state == p.CANCELLED
    assert runs.get(run_id).info.status == "KILLED"
    assert service.cancel(run_id, "bob").state == p.CANCELLED


def test_sweep_cancels_jobs_waiting_too_long_and_settles_lost_ends(world):
    service, runs, jobs, clock = world
    waiting, _ = submit(service, runs, backend_config={"max_wait": 60})
    lost, _ = submit(service, runs)
    service.on_job_event(event(lost, "RUNNING", job_id="job-2"))
    jobs.described["job-2"] = {"jobId": "job-2", "jobName": p.job_name(lost), "status": "SUCCEEDED"}
    clock.now += 61_000
    assert service.sweep() == 2
    assert jobs.terminated == [("job-1", "Waited for capacity longer than max_wait (60 s)")]
    assert runs.get(lost).info.status == "FINISHED"
    assert service.get(waiting).state == p.QUEUED  # until the job's FAILED event arrives


def test_a_refused_submission_ends_the_run_failed(world):
    service, runs, jobs, _ = world
    run = runs.create("0", "alice", None, {}, None)
    bad = Submission(run.run_id, PACKAGE, "main", {}, None, {"vpcu": 2})
    with pytest.raises(InvalidParameterValue, match="'vpcu'"):
        service.submit(bad, "alice")
    ended = runs.get(run.run_id)
    assert ended.info.status == "FAILED"
    assert ended.tags["stratus.project.end_reason"].startswith("rejected: Unknown backend_config key 'vpcu'")
    assert jobs.submitted == []


def test_a_missing_package_is_refused(world):
    service, runs, _, _ = world
    with pytest.raises(InvalidParameterValue, match="was not uploaded"):
        submit(service, runs, package_id="f" * 32)


def test_submitting_twice_or_an_ended_or_unknown_run(world):
    service, runs, _, _ = world
    run_id, _ = submit(service, runs)
    with pytest.raises(ResourceAlreadyExists):
        service.submit(Submission(run_id, PACKAGE, "main", {}, None, {}), "alice")
    assert runs.get(run_id).info.status == "RUNNING"  # the first submission's run is left alone
    done = runs.create("0", "alice", None, {}, None)
    runs.update(done.run_id, "FINISHED", 1, None)
    with pytest.raises(InvalidState):
        service.submit(Submission(done.run_id, PACKAGE, "main", {}, None, {}), "alice")
    with pytest.raises(ResourceDoesNotExist):
        service.submit(Submission("nope", PACKAGE, "main", {}, None, {}), "alice")
    with pytest.raises(ResourceDoesNotExist):
        service.get("nope")


def test_project_runs_off_when_the_stack_has_no_queue(world):
    _, runs, jobs, _ = world
    tracking_runs = runs
    service = ProjectService(
        InMemoryProjectRunStore(), tracking_runs._experiments, tracking_runs, FakePackages(), jobs, ProjectSettings()
    )
    with pytest.raises(InvalidParameterValue, match="not enabled on this stack"):
        service.create_package("0")


# ---------------------------------------------------------------------------------------------- events


def _image(run: p.ProjectRun) -> dict:
    body = dataclasses.asdict(run)
    body.pop("revision")
    return {"pk": f"PROJRUN#{run.run_id}", "sk": "#", "state": run.state, "body": json.dumps(body)}


def test_project_events_come_from_the_writes_that_submit_start_and_end_a_run(world):
    service, runs, _, _ = world
    run_id, _ = submit(service, runs)
    store = service._store
    images = [None]
    for change in (None, "RUNNABLE", "RUNNING", "RUNNING", "FAILED"):
        if change:
            service.on_job_event(event(run_id, change, container={"exitCode": 1}))
        images.append(_image(store.get(run_id)))
    first = _image(store.get(run_id))
    pairs = enumerate(zip(images, images[1:], strict=False))
    derived = [project_events_from_change(f"rec{n}", old, new) for n, (old, new) in pairs]
    kinds = [[e.detail_type for e in events] for events in derived]
    assert kinds == [["Project Run Submitted"], [], ["Project Run Started"], [], ["Project Run Ended"]]
    ended = derived[-1][0]
    assert ended.detail.event_id == "rec4:0"
    assert (ended.detail.run_id, ended.detail.run_status, ended.detail.exit_code) == (run_id, "FAILED", 1)
    assert ended.detail.end_reason == "exit code 1" and ended.detail.actor == "alice"
    assert ended.entry("bus")["Source"] == "stratus.projects"
    assert project_events_from_change("x", first, first) == []
    assert project_events_from_change("x", None, {"pk": "REGMODELS", "sk": "M#1"}) == []


def _throttled(*args, **kwargs):
    raise RequestLimitExceeded("DynamoDB is throttling")


def test_an_end_that_could_not_be_carried_to_the_run_is_settled_later(world, monkeypatch):
    service, runs, _, _ = world
    run_id, _ = submit(service, runs)
    real_end = runs.end
    monkeypatch.setattr(runs, "end", _throttled)
    with pytest.raises(RequestLimitExceeded):
        service.on_job_event(event(run_id, "FAILED", container={"exitCode": 2}))
    recorded = service.get(run_id)
    assert (recorded.state, recorded.settled, recorded.run_status) == (p.FAILED, False, "RUNNING")
    assert runs.get(run_id).info.status == "RUNNING"
    monkeypatch.setattr(runs, "end", real_end)
    # the event's retry settles it, with the end first recorded
    settled = service.on_job_event(event(run_id, "SUCCEEDED"))
    assert (settled.state, settled.settled, settled.run_status) == (p.FAILED, True, "FAILED")
    assert runs.get(run_id).tags["stratus.project.end_reason"] == "exit code 2"


def test_the_sweep_settles_an_end_whose_retries_ran_out(world, monkeypatch):
    service, runs, _, _ = world
    run_id, _ = submit(service, runs)
    real_end = runs.end
    monkeypatch.setattr(runs, "end", _throttled)
    with pytest.raises(RequestLimitExceeded):
        service.on_job_event(event(run_id, "SUCCEEDED"))
    monkeypatch.setattr(runs, "end", real_end)
    assert service.sweep() == 1
    assert runs.get(run_id).info.status == "FINISHED"
    assert service.get(run_id).settled
    assert service.sweep() == 0


# ---------------------------------------------------------------------------------------------- packages


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (None, (1, 0)),
        (0, (1, 0)),
        (100 * 2**20, (1, 0)),
        (100 * 2**20 + 1, (2, 100 * 2**20)),
        (5 * 2**30, (52, 100 * 2**20)),
    ],
)
def test_how_a_package_is_uploaded(size, expected):
    assert p.package_parts(size) == expected


def test_a_huge_package_stays_within_s3s_ten_thousand_parts():
    parts, part_size = p.package_parts(5 * 2**40)
    assert parts <= 10_000 and parts * part_size >= 5 * 2**40
    with pytest.raises(InvalidParameterValue, match="at most"):
        p.package_parts(5 * 2**40 + 1)


def test_a_large_package_gets_presigned_parts(world):
    service, _, _, _ = world
    small = service.create_package("0", 1000)
    assert small.upload_url and small.part_urls == []
    large = service.create_package("0", 250 * 2**20)
    assert large.upload_url is None and large.upload_id == "upload-1"
    assert large.part_size == 100 * 2**20 and len(large.part_urls) == 3
    service.complete_package(large.package_id, "upload-1", [(2, "b"), (1, "a"), (3, "c")])
    assert service._packages.completed == [(large.package_id, "upload-1", [(2, "b"), (1, "a"), (3, "c")])]
    with pytest.raises(InvalidParameterValue, match="at least one part"):
        service.complete_package(large.package_id, "upload-1", [])
    with pytest.raises(InvalidParameterValue, match="must not be negative"):
        service.create_package("0", -1)


def test_without_an_env_manager_the_stacks_default_builds_the_environment(world):
    _, runs, jobs, clock = world
    packages = FakePackages()
    packages.uploaded.add(PACKAGE)
    settings = ProjectSettings("queue", "definition", "", DEFAULTS, default_env_manager="uv")
    service = ProjectService(InMemoryProjectRunStore(), runs._experiments, runs, packages, jobs, settings, clock=clock)
    _, chosen = submit(service, runs)
    _, asked = submit(service, runs, env_manager="local")
    assert (chosen.env_manager, asked.env_manager) == ("uv", "local")
    assert [j.environment["STRATUS_PROJECT_ENV_MANAGER"] for j in jobs.submitted] == ["uv", "local"]
    assert "MLFLOW_TRACKING_URI" not in jobs.submitted[0].environment  # on AWS: the job definition's
