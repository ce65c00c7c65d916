"""Project jobs on AWS Batch (Fargate): ``SubmitJob`` with the run's resources and environment as container
overrides, ``TerminateJob`` to stop one (waiting or running), ``DescribeJobs`` for the sweep. A ``docker_env``
project runs in its own image: a job definition copied from the stack's, with only the image changed, registered once
per image. Under ``stratus local`` the same calls go to the local Batch (``AWS_ENDPOINT_URL_BATCH``)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

from botocore.exceptions import ClientError

from stratus.domain.ports import JobRequest
from stratus.errors import InvalidParameterValue, RequestLimitExceeded, TemporarilyUnavailable

_THROTTLED = {"TooManyRequestsException", "ThrottlingException", "Throttling"}
_COPIED_FIELDS = (
    "type",
    "parameters",
    "retryStrategy",
    "propagateTags",
    "timeout",
    "tags",
    "platformCapabilities",
)


def default_client() -> Any:
    import boto3  # on first use: only the project functions need Batch

    return boto3.session.Session().client("batch")


@contextmanager
def translated() -> Iterator[None]:
    """Batch's refusals as domain errors: a bad request (a job definition or image it refuses) is the caller's 400;
    throttling 429; anything on AWS's side 503 (the client retries both)."""
    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        message = str(exc.response.get("Error", {}).get("Message", code))
        if code in _THROTTLED:
            raise RequestLimitExceeded("AWS Batch is throttling requests; retry with backoff.") from exc
        if code == "ClientException":
            raise InvalidParameterValue(f"AWS Batch refused the job: {message}") from exc
        raise TemporarilyUnavailable(f"AWS Batch did not answer: {code}") from exc


class BatchJobScheduler:
    """``JobScheduler`` on one Batch job queue and job definition."""

    def __init__(self, job_queue: str, job_definition: str, client_factory: Callable[[], Any] = default_client) -> None:
        self.job_queue = job_queue
        self.job_definition = job_definition
        self._client_factory = client_factory

    @cached_property
    def client(self) -> Any:
        return self._client_factory()

    def submit(self, job: JobRequest) -> str:
        definition = self._definition_for(job.docker_image) if job.docker_image else self.job_definition
        overrides = {
            "resourceRequirements": [
                {"type": "VCPU", "value": f"{job.resources.vcpu:g}"},
                {"type": "MEMORY", "value": str(job.resources.memory)},
            ],
            "environment": [{"name": k, "value": v} for k, v in sorted(job.environment.items())],
        }
        with translated():
            answer = self.client.submit_job(
                jobName=job.name,
                jobQueue=self.job_queue,
                jobDefinition=definition,
                containerOverrides=overrides,
                timeout={"attemptDurationSeconds": job.resources.timeout},
                retryStrategy={"attempts": 1},
                tags=job.tags,
                propagateTags=True,
            )
        return str(answer["jobId"])

    def terminate(self, job_id: str, reason: str) -> None:
        with translated():
            self.client.terminate_job(jobId=job_id, reason=reason[:1000])

    def describe(self, job_ids: list[str]) -> list[dict[str, object]]:
        if not job_ids:
            return []
        with translated():
            return list(self.client.describe_jobs(jobs=job_ids).get("jobs", []))

    def _definition_for(self, image: str) -> str:
        """The job definition that runs ``image``: registered on first use, named after the stack's job definition
        and the image (``<stack>-projects-<hash>``, which the function's role may register)."""
        name = f"{self.job_definition}-{hashlib.sha256(image.encode()).hexdigest()[:16]}"
        with translated():
            found = self.client.describe_job_definitions(jobDefinitionName=name, status="ACTIVE")["jobDefinitions"]
            if found:
                return str(max(found, key=lambda d: d["revision"])["jobDefinitionArn"])
            base = self.client.describe_job_definitions(jobDefinitionName=self.job_definition, status="ACTIVE")[
                "jobDefinitions"
            ]
            if not base:
                raise InvalidParameterValue(f"The stack's job definition {self.job_definition} is missing.")
            template = max(base, key=lambda d: d["revision"])
            container = {**template["containerProperties"], "image": image}
            copied = {k: template[k] for k in _COPIED_FIELDS if k in template}
            answer = self.client.register_job_definition(
                jobDefinitionName=name, containerProperties=container, **copied
            )
        return str(answer["jobDefinitionArn"])
