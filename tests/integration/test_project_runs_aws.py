"""Project runs on AWS's APIs under moto: the API function (packages, submit, get, cancel) submits to AWS Batch
(moto's Batch with ``use_docker: False``: the API contract, no container runs), and synthetic ``Batch Job State
Change`` events travel the EventBridge rule -> SQS path to the job-events function, which ends the MLflow run and
copies the job's CloudWatch log into its artifacts. Table writes go through the DynamoDB rule checker."""

from __future__ import annotations

import copy
import io
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from lambda_harness import EVENTS_DIR, PROJECT_DIR, LambdaContext, api_event, load_function
from moto.core.config import default_user_config

from stratus_local.backends import create_buckets, create_event_buses, create_tables
from stratus_local.template import parse_project

ACCOUNT = "123456789012"


def _batch_resources() -> tuple[str, str]:
    ec2, iam, batch = boto3.client("ec2"), boto3.client("iam"), boto3.client("batch")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="jobs", Description="jobs", VpcId=vpc)["GroupId"]
    trust = {"Version": "2012-10-17", "Statement": []}
    role = iam.create_role(RoleName="batch", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    environment = batch.create_compute_environment(
        computeEnvironmentName="stratus-projects",
        type="MANAGED",
        state="ENABLED",
        computeResources={"type": "FARGATE", "maxvCpus": 16, "subnets": [subnet], "securityGroupIds": [group]},
        serviceRole=role,
    )["computeEnvironmentArn"]
    queue = batch.create_job_queue(
        jobQueueName="stratus-projects",
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": environment}],
    )["jobQueueArn"]
    batch.register_job_definition(
        jobDefinitionName="stratus-projects",
        type="container",
        platformCapabilities=["FARGATE"],
        containerProperties={
            "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/stratus-runner:latest",
            "command": ["python", "-m", "stratus_runner"],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "2048"}],
            "executionRoleArn": role,
            "jobRoleArn": role,
        },
    )
    return queue, "stratus-projects"  # by name, as the template gives it: SubmitJob takes the latest revision


@pytest.fixture
def world(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    if os.environ.get("AWS_ENDPOINT_URL"):
        pytest.skip("LocalStack's community edition has no AWS Batch")
    monkeypatch.setitem(default_user_config, "batch", {"use_docker": False})
    project = parse_project(PROJECT_DIR, parameter_overrides={"ProjectRunnerImage": "stratus-runner:test"})
    create_tables(boto3.client("dynamodb"), project.tables, io.StringIO())
    create_buckets(boto3.client("s3"), project.buckets)
    create_event_buses(boto3.client("events"), project.event_buses)
    api_function = project.functions["ProjectsFunction"]
    events_function = project.functions["ProjectJobEventsFunction"]
    tracking_function = project.functions["TrackingFunction"]
    environment = {**tracking_function.environment, **api_function.environment, **events_function.environment}
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    queue, definition = _batch_resources()
    monkeypatch.setenv("STRATUS_PROJECT_JOB_QUEUE", queue)
    monkeypatch.setenv("STRATUS_PROJECT_JOB_DEFINITION", definition)
    monkeypatch.setenv("STRATUS_TRACKING_URI", "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/prod")
    # the rule the template gives the job-events function, on the default bus, delivering to a queue
    [rule] = [r for r in events_function.rule_sources if r.bus == "default"]
    sqs, events = boto3.client("sqs"), boto3.client("events")
    queue_url = sqs.create_queue(QueueName="job-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {**rule.pattern, "detail": {**rule.pattern["detail"], "jobQueue": [queue]}}  # this test's queue
    events.put_rule(Name="job-events", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="job-events", Targets=[{"Id": "q", "Arn": queue_arn}])
    tracking = load_function("tracking")
    projects = load_function("projects")
    jobs = load_function("projects", "jobs")
    yield {"tracking": tracking, "projects": projects, "jobs": jobs, "queue_url": queue_url, "queue": queue}


def call(module: Any, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = module.handler(event, LambdaContext("function"))
    return response["statusCode"], json.loads(response["body"] or "{}")


def request(module: Any, event_name: str, path: str, method: str, body: dict[str, Any] | None) -> Any:
    event = api_event(event_name, body)
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/prod{path}"
    event["requestContext"]["http"]["method"] = method
    if method == "GET":
        event.pop("body", None)
        event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in (body or {}).items())
    return call(module, event)


def deliver(world: dict[str, Any], detail: dict[str, Any]) -> list[dict[str, Any]]:
    """Put a Batch state change on the default bus as AWS would, then hand what the rule queued to the function."""
    template = json.loads((EVENTS_DIR / "batch_job_state_change.json").read_text())
    boto3.client("events").put_events(
        Entries=[{"Source": "aws.batch", "DetailType": template["detail-type"], "Detail": json.dumps(detail)}]
    )
    answers = []
    for message in boto3.client("sqs").receive_message(QueueUrl=world["queue_url"], MaxNumberOfMessages=10)["Messages"]:
        answers.append(world["jobs"].handler(json.loads(message["Body"]), LambdaContext("jobs")))
    return answers


def submitted(world: dict[str, Any], backend_config: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    status, run = call(world["tracking"], api_event("runs_create.json"))
    assert status == 200
    run_id = run["run"]["info"]["run_id"]
    status, package = request(
        world["projects"], "projects_submit.json", "/api/2.0/stratus/projects/packages", "POST", {"experiment_id": "0"}
    )
    assert status == 200, package
    assert package["upload_headers"] == {"Content-Type": "application/gzip"}
    bucket, key = package["package_uri"].removeprefix("s3://").split("/", 1)
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=b"tarball")  # what the client's PUT does
    event = api_event("projects_submit.json")
    body = json.loads(
        event["body"].replace("RUN_ID_PLACEHOLDER", run_id).replace("PACKAGE_ID_PLACEHOLDER", package["package_id"])
    )
    if backend_config is not None:
        body["backend_config"] = backend_config
    event["body"] = json.dumps(body)
    return run_id, dict(zip(("status", "answer"), call(world["projects"], event), strict=True))


def test_submit_puts_a_job_on_the_queue_with_the_runs_environment(world):
    run_id, result = submitted(world)
    assert result["status"] == 200, result
    project_run = result["answer"]["project_run"]
    assert project_run["state"] == "QUEUED" and project_run["run_status"] == "SCHEDULED"
    [job] = boto3.client("batch").describe_jobs(jobs=[project_run["job_id"]])["jobs"]
    assert job["jobName"] == f"stratus-run-{run_id}"
    assert job["jobQueue"] == world["queue"]
    overrides = {e["name"]: e["value"] for e in job["container"]["environment"]}
    assert overrides["MLFLOW_RUN_ID"] == run_id
    assert overrides["MLFLOW_TRACKING_URI"].startswith("https://")
    assert json.loads(overrides["STRATUS_PROJECT_PARAMETERS"]) == {"alpha": "0.3"}
    assert job["timeout"] == {"attemptDurationSeconds": 600}


def test_job_events_end_the_run_and_keep_its_log(world):
    run_id, result = submitted(world)
    job_id = result["answer"]["project_run"]["job_id"]
    logs = boto3.client("logs")
    logs.create_log_group(logGroupName="/aws/batch/job")
    logs.create_log_stream(logGroupName="/aws/batch/job", logStreamName="stratus-project/default/0f1e2d3c")
    logs.put_log_events(
        logGroupName="/aws/batch/job",
        logStreamName="stratus-project/default/0f1e2d3c",
        logEvents=[{"timestamp": int(time.time() * 1000), "message": "Traceback: boom"}],
    )
    text = (EVENTS_DIR / "batch_job_state_change.json").read_text()
    failed = json.loads(text.replace("RUN_ID_PLACEHOLDER", run_id).replace("JOB_ID_PLACEHOLDER", job_id))["detail"]
    running = {**copy.deepcopy(failed), "status": "RUNNING", "container": {}, "attempts": []}
    assert [a["state"] for a in deliver(world, running)] == ["RUNNING"]
    assert [a["state"] for a in deliver(world, failed)] == ["FAILED"]
    status, run = request(world["tracking"], "runs_create.json", "/api/2.0/mlflow/runs/get", "GET", {"run_id": run_id})
    assert status == 200
    tags = {t["key"]: t["value"] for t in run["run"]["data"]["tags"]}
    assert run["run"]["info"]["status"] == "FAILED"
    assert tags["stratus.project.end_reason"] == "exit code 1"
    assert tags["stratus.project.log_stream"] == "stratus-project/default/0f1e2d3c"
    bucket = os.environ["STRATUS_ARTIFACT_BUCKET"]
    found = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket)["Contents"]]
    [log_key] = [k for k in found if k.endswith(f"{run_id}/artifacts/stratus/project-output.log")]
    body = boto3.client("s3").get_object(Bucket=bucket, Key=log_key)["Body"].read()
    assert body == b"Traceback: boom\n"
    # another job's events do not match the rule's pattern, or are ignored by the function
    assert deliver(world, {**failed, "jobName": "someone-elses-job"}) in ([], [{"run_id": None, "state": None}])


def test_cancel_terminates_the_job(world):
    run_id, result = submitted(world)
    job_id = result["answer"]["project_run"]["job_id"]
    status, answer = request(
        world["projects"], "projects_submit.json", "/api/2.0/stratus/projects/runs/cancel", "POST", {"run_id": run_id}
    )
    assert status == 200 and answer["project_run"]["state"] == "CANCELLING"
    [job] = boto3.client("batch").describe_jobs(jobs=[job_id])["jobs"]
    assert job["status"] in {"SUCCEEDED", "FAILED"}  # moto's simple Batch ends jobs at once; TerminateJob was accepted
    status, answer = request(
        world["projects"], "projects_submit.json", "/api/2.0/stratus/projects/runs/get", "GET", {"run_id": run_id}
    )
    assert status == 200 and answer["project_run"]["state"] == "CANCELLING"


def test_an_unknown_backend_setting_is_a_400_and_fails_the_run(world):
    run_id, result = submitted(world, {"vpcu": 4})
    assert result["status"] == 400
    assert result["answer"]["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "'vpcu'" in result["answer"]["message"]
    status, run = request(world["tracking"], "runs_create.json", "/api/2.0/mlflow/runs/get", "GET", {"run_id": run_id})
    assert run["run"]["info"]["status"] == "FAILED"
    assert boto3.client("batch").list_jobs(jobQueue=world["queue"])["jobSummaryList"] == []


def test_the_sweep_settles_a_job_whose_end_never_arrived(world):
    run_id, result = submitted(world)
    # moto's simple Batch has already marked the job SUCCEEDED; no event was delivered
    [job] = boto3.client("batch").describe_jobs(jobs=[result["answer"]["project_run"]["job_id"]])["jobs"]
    assert job["status"] == "SUCCEEDED"
    schedule = json.loads((EVENTS_DIR / "projects_sweep_schedule.json").read_text())
    assert world["jobs"].handler(schedule, LambdaContext("jobs")) == {"swept": 1}
    status, answer = request(
        world["projects"], "projects_submit.json", "/api/2.0/stratus/projects/runs/get", "GET", {"run_id": run_id}
    )
    assert answer["project_run"]["state"] == "SUCCEEDED"
    assert answer["project_run"]["run_status"] == "FINISHED"


def test_unknown_project_run_is_a_404(world):
    status, answer = request(
        world["projects"], "projects_submit.json", "/api/2.0/stratus/projects/runs/get", "GET", {"run_id": "f" * 32}
    )
    assert status == 404 and answer["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_a_large_package_is_uploaded_in_presigned_parts(world):
    status, package = request(
        world["projects"],
        "projects_submit.json",
        "/api/2.0/stratus/projects/packages",
        "POST",
        {"experiment_id": "0", "size_bytes": 150 * 2**20},
    )
    assert status == 200, package
    assert "upload_url" not in package and len(package["part_urls"]) == 2
    parts = [b"a" * 5 * 2**20, b"tail"]  # every part but the last at least 5 MiB, as S3 requires
    etags = []
    for url, body in zip(package["part_urls"], parts, strict=True):
        response = requests.put(url, data=body, timeout=30)
        assert response.status_code == 200, response.text
        etags.append(response.headers["ETag"])
    status, answer = request(
        world["projects"],
        "projects_submit.json",
        "/api/2.0/stratus/projects/packages/complete",
        "POST",
        {
            "package_id": package["package_id"],
            "upload_id": package["upload_id"],
            "parts": [{"part_number": n, "etag": etag} for n, etag in enumerate(etags, start=1)],
        },
    )
    assert (status, answer) == (200, {})
    bucket, key = package["package_uri"].removeprefix("s3://").split("/", 1)
    assert boto3.client("s3").head_object(Bucket=bucket, Key=key)["ContentLength"] == 5 * 2**20 + 4
