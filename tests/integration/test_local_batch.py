"""stratus local's AWS Batch (stratus_local/batch.py): jobs submitted with boto3's batch client run the project runner
as local processes, and their state changes reach a rule on the default bus, as the project functions receive them.
The AWS side (S3, EventBridge, SQS, CloudWatch Logs) is an in-process moto server, as in the stack."""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto_server import moto_server_with_bucket

from stratus_local.batch import LOG_GROUP, BatchEmulator
from stratus_local.event_sources import RulePoller
from stratus_local.stack import LocalStack
from stratus_local.template import RuleSourceSpec

REPO = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
BUCKET = "projects"
DEFINITION = "stratus-local-projects"
WAIT_S = 60.0


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_server_with_bucket(REGION, BUCKET) as endpoint:
        yield endpoint


class Jobs:
    """One emulator, a job queue of this test's own, and the events a rule on the default bus received for it."""

    def __init__(self, endpoint: str, moto_endpoint: str, emulator: BatchEmulator, queue_arn: str) -> None:
        self.batch = boto3.client("batch", endpoint_url=endpoint, region_name=REGION)
        self.s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name=REGION)
        self.logs = boto3.client("logs", endpoint_url=moto_endpoint, region_name=REGION)
        self.emulator = emulator
        self.queue_arn = queue_arn
        self.events: list[dict[str, Any]] = []

    def receive(self, function_id: str, body: bytes, request_id: str) -> bytes:
        self.events.append(json.loads(body))
        return b"{}"

    def submit(self, command: str, timeout_s: int = 600) -> str:
        """A job whose project's main entry point runs ``command``, with the server's SubmitJob arguments."""
        key = f"projects/packages/{uuid.uuid4().hex}.tar.gz"
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=_package(command))
        environment = {
            "MLFLOW_TRACKING_URI": "http://127.0.0.1:9",
            "MLFLOW_RUN_ID": uuid.uuid4().hex,
            "MLFLOW_EXPERIMENT_ID": "1",
            "STRATUS_PROJECT_PACKAGE_URI": f"s3://{BUCKET}/{key}",
            "STRATUS_PROJECT_ENTRY_POINT": "main",
            "STRATUS_PROJECT_PARAMETERS": json.dumps({"greeting": "hello"}),
            "STRATUS_PROJECT_ENV_MANAGER": "local",
        }
        answer = self.batch.submit_job(
            jobName=f"stratus-run-{environment['MLFLOW_RUN_ID']}",
            jobQueue=self.queue_arn,
            jobDefinition=DEFINITION,
            timeout={"attemptDurationSeconds": timeout_s},
            retryStrategy={"attempts": 1},
            tags={"stratus:run-id": environment["MLFLOW_RUN_ID"], "stratus:experiment-id": "1"},
            containerOverrides={
                "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "2048"}],
                "environment": [{"name": name, "value": value} for name, value in environment.items()],
            },
        )
        return str(answer["jobId"])

    def states(self, job_id: str) -> list[str]:
        return [event["detail"]["status"] for event in self.events if event["detail"]["jobId"] == job_id]

    def wait_for(self, job_id: str, *statuses: str) -> dict[str, Any]:
        """The detail of the job's first event in one of ``statuses``."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            for event in list(self.events):
                if event["detail"]["jobId"] == job_id and event["detail"]["status"] in statuses:
                    return dict(event["detail"])
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} never reached {statuses}; it went {self.states(job_id)}")

    def describe(self, job_id: str) -> dict[str, Any]:
        (job,) = self.batch.describe_jobs(jobs=[job_id])["jobs"]
        return dict(job)

    def log_lines(self, stream: str) -> list[str]:
        events = self.logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=stream, startFromHead=True)["events"]
        return [event["message"] for event in events]

    def wait_for_log(self, stream: str, prefix: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while not any(line.startswith(prefix) for line in self.log_lines(stream)):
            assert time.monotonic() < deadline, f"no line {prefix!r} in {stream}: {self.log_lines(stream)}"
            time.sleep(0.2)


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"  # killed, not yet reaped
    except FileNotFoundError:
        return True


def _package(command: str) -> bytes:
    """A gzipped tar of a one-entry-point project, in a folder as the client packs it."""
    mlproject = (
        "name: tiny\nentry_points:\n  main:\n    parameters:\n      greeting: {type: string, default: hi}\n"
        f"    command: {json.dumps(command)}\n"
    ).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("tiny/MLproject")
        info.size = len(mlproject)
        tar.addfile(info, io.BytesIO(mlproject))
    return buffer.getvalue()


@pytest.fixture
def make_jobs(moto_endpoint: str, tmp_path: Path) -> Iterator[Callable[..., Jobs]]:
    started: list[tuple[BatchEmulator, RulePoller]] = []

    def make(max_running: int = 2) -> Jobs:
        emulator = BatchEmulator(
            aws_endpoint=moto_endpoint,
            runner_dir=REPO / "runner",
            region=REGION,
            work_root=tmp_path / "jobs",
            environment={
                "PATH": os.environ["PATH"],
                "HOME": str(tmp_path),
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "AWS_REGION": REGION,
                "AWS_ENDPOINT_URL": moto_endpoint,
                "MLFLOW_DISABLE_TELEMETRY": "true",
            },
            max_running=max_running,
            log=io.StringIO(),
        )
        endpoint = emulator.start()
        queue_arn = f"arn:aws:batch:{REGION}:000000000000:job-queue/q-{uuid.uuid4().hex[:12]}"
        jobs = Jobs(endpoint, moto_endpoint, emulator, queue_arn)
        # The project functions' rule, as template.yaml declares it and the stack runs it (an SQS queue as target).
        pattern = {
            "source": ["aws.batch"],
            "detail-type": ["Batch Job State Change"],
            "detail": {"jobQueue": [queue_arn]},
        }
        poller = RulePoller(
            "JobEvents",
            RuleSourceSpec(f"rule-{uuid.uuid4().hex[:12]}", "default", pattern),
            jobs.receive,
            moto_endpoint,
            REGION,
        )
        poller.start()
        started.append((emulator, poller))
        jobs.batch.register_job_definition(
            jobDefinitionName=DEFINITION,
            type="container",
            containerProperties={"image": "stratus-runner:local", "command": ["python", "-m", "stratus_runner"]},
        )
        return jobs

    yield make
    for emulator, poller in started:
        emulator.stop()
        poller.stop()


def test_a_job_reports_each_state_its_exit_code_and_its_output_log(make_jobs: Callable[..., Jobs]) -> None:
    jobs = make_jobs()
    succeeding = jobs.submit("echo {greeting} from the entry point; sleep 300 & echo background=$!")
    failing = jobs.submit('python -c "import sys; sys.exit(3)"')

    succeeded = jobs.wait_for(succeeding, "SUCCEEDED", "FAILED")
    failed = jobs.wait_for(failing, "SUCCEEDED", "FAILED")

    assert (succeeded["status"], succeeded["container"]["exitCode"]) == ("SUCCEEDED", 0)
    assert (failed["status"], failed["container"]["exitCode"]) == ("FAILED", 3)
    assert failed["statusReason"] == "Essential container in task exited"
    assert failed["attempts"][0]["container"]["exitCode"] == 3
    assert failed["jobQueue"] == jobs.queue_arn
    assert failed["tags"]["stratus:experiment-id"] == "1"
    time.sleep(1.5)  # the rule's queue delivers in no particular order: let every event arrive
    for job_id, last in ((succeeding, "SUCCEEDED"), (failing, "FAILED")):
        assert sorted(jobs.states(job_id), key=["SUBMITTED", "RUNNABLE", "STARTING", "RUNNING", last].index) == [
            "SUBMITTED",
            "RUNNABLE",
            "STARTING",
            "RUNNING",
            last,
        ]
    stream = succeeded["container"]["logStreamName"]
    assert stream == f"stratus-project/default/{succeeding}"
    lines = jobs.log_lines(stream)
    assert "hello from the entry point" in lines
    assert any(line.startswith("stratus-runner: running entry point 'main'") for line in lines)
    (background,) = [int(line.split("=")[1]) for line in lines if line.startswith("background=")]
    assert _gone(background), "a process the job left behind outlived it (its container would have taken it)"
    assert jobs.describe(failing)["status"] == "FAILED"


def test_terminate_job_stops_a_running_job_with_the_given_reason(make_jobs: Callable[..., Jobs]) -> None:
    jobs = make_jobs()
    job_id = jobs.submit("sleep 60")
    stream = jobs.wait_for(job_id, "RUNNING")["container"]["logStreamName"]
    jobs.wait_for_log(stream, "stratus-runner: running entry point")  # the runner passes SIGTERM on to it

    started = time.monotonic()
    jobs.batch.terminate_job(jobId=job_id, reason="Cancelled by Stratus user alice")
    ended = jobs.wait_for(job_id, "SUCCEEDED", "FAILED")

    assert time.monotonic() - started < 10
    assert ended["status"] == "FAILED"
    assert ended["statusReason"] == "Cancelled by Stratus user alice"
    assert ended["isTerminated"] is True
    assert ended["container"]["exitCode"] == 128 + 15  # the entry point's, killed by SIGTERM
    assert "stratus-runner: received SIGTERM; passing it to the entry point" in jobs.log_lines(stream)


def test_a_job_past_its_attempt_duration_is_stopped(make_jobs: Callable[..., Jobs]) -> None:
    jobs = make_jobs()
    job_id = jobs.submit("sleep 60", timeout_s=3)

    ended = jobs.wait_for(job_id, "SUCCEEDED", "FAILED")

    assert ended["status"] == "FAILED"
    assert ended["statusReason"] == "Job attempt duration exceeded timeout"
    assert ended["stoppedAt"] - ended["startedAt"] < 8000


def test_jobs_over_the_limit_wait_runnable_and_only_those_can_be_cancelled(make_jobs: Callable[..., Jobs]) -> None:
    jobs = make_jobs(max_running=1)
    running = jobs.submit("sleep 60")
    waiting = jobs.submit("true")
    jobs.wait_for(running, "RUNNING")
    assert jobs.describe(waiting)["status"] == "RUNNABLE"

    jobs.batch.cancel_job(jobId=waiting, reason="Waited for capacity longer than max_wait (60 s)")
    jobs.batch.cancel_job(jobId=running, reason="too late: it runs")  # AWS leaves a started job alone

    cancelled = jobs.wait_for(waiting, "FAILED")
    assert cancelled["statusReason"] == "Waited for capacity longer than max_wait (60 s)"
    assert cancelled["isCancelled"] is True
    assert jobs.describe(running)["status"] == "RUNNING"

    assert jobs.emulator.stop() == 1  # the stack stopping: the running job is stopped and reported
    stopped = jobs.wait_for(running, "FAILED")
    assert stopped["statusReason"] == "stratus local stopped"


def test_bad_requests_are_client_errors(make_jobs: Callable[..., Jobs]) -> None:
    jobs = make_jobs()
    errors = jobs.batch.exceptions.ClientException
    with pytest.raises(errors, match="Job definition missing does not exist"):
        jobs.batch.submit_job(jobName="j", jobQueue="q", jobDefinition="missing")
    with pytest.raises(errors, match="does not exist"):
        jobs.batch.terminate_job(jobId="no-such-job", reason="x")
    revisions = jobs.batch.describe_job_definitions(jobDefinitionName=DEFINITION)["jobDefinitions"]
    assert [(d["revision"], d["status"]) for d in revisions] == [(1, "ACTIVE")]
    assert jobs.batch.describe_jobs(jobs=["no-such-job"])["jobs"] == []


def test_the_stack_serves_batch_to_its_functions_and_gives_them_its_url(
    tmp_path: Path, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n    Type: AWS::Serverless::Function\n"
        "    Properties:\n      CodeUri: functions/fn/\n      Handler: app.handler\n      Environment:\n"
        "        Variables:\n          STRATUS_PROJECT_JOB_DEFINITION: stratus-local-projects\n"
        '          STRATUS_TRACKING_URI: ""\n'
        "      Events:\n        Api:\n          Type: HttpApi\n          Properties: {Path: /x, Method: GET}\n"
    )
    (tmp_path / "functions" / "fn").mkdir(parents=True)
    (tmp_path / "functions" / "fn" / "app.py").write_text("def handler(event, context):\n    return {}\n")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    for name in ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_BATCH"):
        monkeypatch.delenv(name, raising=False)

    with LocalStack(tmp_path, ephemeral=True, port=0, log=io.StringIO(), log_requests=False) as stack:
        batch = boto3.client("batch", region_name=REGION)  # as a function makes it: AWS_ENDPOINT_URL_BATCH
        (definition,) = batch.describe_job_definitions(jobDefinitions=["stratus-local-projects"])["jobDefinitions"]
        tracking_uri, base_url = os.environ["STRATUS_TRACKING_URI"], stack.base_url
        report = "\n".join(stack.report)

    assert tracking_uri == base_url
    assert definition["containerProperties"]["environment"] == [{"name": "MLFLOW_TRACKING_URI", "value": tracking_uri}]
    assert "Batch: emulated at http://127.0.0.1:" in report
    assert "AWS_ENDPOINT_URL_BATCH" not in os.environ
