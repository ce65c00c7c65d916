"""Serving images on AWS (``ImageBuilder``): one image per set of model requirements (``domain.deployments.image_key``),
built by the stack's CodeBuild project onto the serving base image (serving/Dockerfile) and pushed to the stack's ECR
repository, tagged with the key, so deployments whose models need the same packages share one image.

A build's source is a zip in the stack's bucket, ``serving-builds/<key>.zip``: the Dockerfile below and the model's
``requirements.txt``. The project's buildspec (serving/build/buildspec.yml, inlined in template.yaml) logs in to ECR,
builds the zip and pushes ``$REPOSITORY_URI:$IMAGE_TAG``; serving/build/README.md describes the whole build."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from functools import cached_property
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from stratus.errors import InvalidParameterValue, ServingFailed

BUILD_PREFIX = "serving-builds/"
MAX_REQUIREMENTS = 500
MAX_REQUIREMENT_LENGTH = 1000

# A deployment's image: the base image with the model's requirements installed on top. The base image is the ARG's
# default, so the zip builds as it is (`docker build .`); the key of the image covers the base image, so a new base
# means new keys and new builds.
DOCKERFILE = """\
# A Stratus deployment's image (written by stratus.store.codebuild): the serving base image and one model's packages.
ARG BASE_IMAGE={base_image}
FROM ${{BASE_IMAGE}}
COPY requirements.txt ${{LAMBDA_TASK_ROOT}}/model-requirements.txt
RUN pip install --no-cache-dir --disable-pip-version-check -r ${{LAMBDA_TASK_ROOT}}/model-requirements.txt
"""

# One requirement as PEP 508 writes it: a name with extras, version specifiers or an https:// URL, and markers; what pip
# would read as an option (-e, -r, --index-url, --hash), a path, a bare URL or an environment variable is refused.
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_EXTRAS = r"(?:\s*\[\s*(?:" + _NAME + r"(?:\s*,\s*" + _NAME + r")*)?\s*\])?"
_VERSION = r"(?:===|==|!=|~=|<=|>=|<|>)\s*[A-Za-z0-9.*+!_-]+"
_SPECIFIERS = r"(?:\s*\(?\s*" + _VERSION + r"(?:\s*,\s*" + _VERSION + r")*\s*\)?)?"
_URL = r"\s*@\s*https://[^\s;]+"
_MARKER = r"(?:\s*;\s*[A-Za-z0-9_.<>=!~'\" ()-]+)?"
_REQUIREMENT = re.compile(rf"^{_NAME}{_EXTRAS}(?:{_URL}|{_SPECIFIERS}){_MARKER}\s*$")
_ARCHIVE = re.compile(r"\.(whl|zip|tar|tgz|tar\.gz|tar\.bz2|tbz|tar\.xz|txz)$", re.IGNORECASE)
_COMMENT = re.compile(r"(^|\s+)#.*$")
_BUILD_STATUSES = {"IN_PROGRESS", "SUCCEEDED", "FAILED", "FAULT", "STOPPED", "TIMED_OUT"}


def default_client(service: str) -> Any:
    import boto3  # on first use: only deployments build images

    return boto3.session.Session().client(service)


def requirement_lines(requirements: list[str]) -> list[str]:
    """The requirements as ``image_key`` counts them (stripped, without blanks and comments, sorted, once each),
    each checked to be a plain requirement; INVALID_PARAMETER_VALUE naming the first line that is not."""
    lines = sorted({line.strip() for line in requirements if line.strip() and not line.strip().startswith("#")})
    if len(lines) > MAX_REQUIREMENTS:
        raise InvalidParameterValue(f"The model lists {len(lines)} requirements; images are built for at most 500")
    for line in lines:
        _check_requirement(line)
    return lines


def _check_requirement(line: str) -> None:
    requirement = _COMMENT.sub("", line).strip()
    problem = None
    if len(line) > MAX_REQUIREMENT_LENGTH:
        problem = f"it is longer than {MAX_REQUIREMENT_LENGTH} characters"
    elif requirement.startswith("-"):
        problem = "pip options (-e, -r, -c, --index-url, ...) are not accepted: list package requirements only"
    elif "$" in requirement or "\\" in requirement:
        problem = "environment variables and line continuations are not accepted"
    elif _ARCHIVE.search(requirement.split(";")[0].strip()) and "@" not in requirement:
        problem = "files (wheels, archives) are not accepted: publish the package to an index"
    elif not _REQUIREMENT.match(requirement):
        problem = "write it as a package requirement (name, optional extras and versions, or 'name @ https://...')"
    if problem:
        raise InvalidParameterValue(f"The model's requirement {line!r} cannot be built into a serving image: {problem}")


def build_context(base_image: str, lines: list[str]) -> bytes:
    """The build's source: a zip of the Dockerfile and requirements.txt, the same bytes for the same inputs."""
    files = {
        "Dockerfile": DOCKERFILE.format(base_image=base_image),
        "requirements.txt": "".join(f"{x}\n" for x in lines),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, text, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _failure(code: str, message: str, what: str) -> ServingFailed:
    if code in {"ThrottlingException", "TooManyRequestsException", "Throttling"}:
        return ServingFailed(f"AWS is throttling requests to {what}; retry later")
    return ServingFailed(f"Could not {what}: {message} ({code})")


class CodeBuildImages:
    """``ImageBuilder`` on one CodeBuild project, one ECR repository (``repository_uri``, such as
    ``123456789012.dkr.ecr.eu-west-1.amazonaws.com/stratus-serving``) and the bucket build contexts go to.
    ``clients`` makes a boto3 client for a service name (``codebuild``, ``ecr``, ``s3``)."""

    def __init__(
        self,
        project_name: str,
        repository_uri: str,
        context_bucket: str,
        base_image: str,
        clients: Callable[[str], Any] = default_client,
    ) -> None:
        self.project_name = project_name
        self.repository_uri = repository_uri
        self.context_bucket = context_bucket
        self.base_image = base_image
        self._clients = clients

    @cached_property
    def codebuild(self) -> Any:
        return self._clients("codebuild")

    @cached_property
    def ecr(self) -> Any:
        return self._clients("ecr")

    @cached_property
    def s3(self) -> Any:
        return self._clients("s3")

    def find(self, key: str) -> str | None:
        registry, _, repository = self.repository_uri.partition("/")
        try:
            found = self.ecr.describe_images(
                registryId=registry.split(".", 1)[0], repositoryName=repository, imageIds=[{"imageTag": key}]
            )
        except ClientError as exc:
            code, message = _code(exc)
            if code == "ImageNotFoundException":
                return None
            raise _failure(code, message, f"look for image {key} in {self.repository_uri}") from exc
        except BotoCoreError as exc:
            raise ServingFailed(f"ECR did not answer whether image {key} exists: {exc}") from exc
        return f"{self.repository_uri}:{key}" if found.get("imageDetails") else None

    def start(self, key: str, requirements: list[str]) -> str:
        lines = requirement_lines(requirements)
        location = f"{BUILD_PREFIX}{key}.zip"
        variables = {"BUILD_KIND": "deployment", "IMAGE_TAG": key, "REPOSITORY_URI": self.repository_uri}
        try:
            self.s3.put_object(
                Bucket=self.context_bucket,
                Key=location,
                Body=build_context(self.base_image, lines),
                ContentType="application/zip",
            )
            answer = self.codebuild.start_build(
                projectName=self.project_name,
                sourceTypeOverride="S3",
                sourceLocationOverride=f"{self.context_bucket}/{location}",
                environmentVariablesOverride=[
                    {"name": name, "value": value, "type": "PLAINTEXT"} for name, value in variables.items()
                ],
                # The same image asked for twice within CodeBuild's 5 minutes is one build
                idempotencyToken=key,
            )
        except ClientError as exc:
            raise _failure(*_code(exc), f"start building image {key}") from exc
        except BotoCoreError as exc:
            raise ServingFailed(f"AWS did not answer a request to build image {key}: {exc}") from exc
        return str(answer["build"]["id"])

    def status(self, build_id: str) -> tuple[str, str]:
        try:
            builds = self.codebuild.batch_get_builds(ids=[build_id]).get("builds", [])
        except ClientError as exc:
            raise _failure(*_code(exc), f"read build {build_id}") from exc
        except BotoCoreError as exc:
            raise ServingFailed(f"CodeBuild did not answer about build {build_id}: {exc}") from exc
        if not builds:
            return "FAILED", f"CodeBuild has no build {build_id}"
        build = builds[0]
        status = str(build.get("buildStatus", "IN_PROGRESS"))
        if status not in _BUILD_STATUSES:
            status = "FAILED"
        return status, _reason(build, status)


def _code(exc: ClientError) -> tuple[str, str]:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    return code, str(error.get("Message") or code)


def _reason(build: dict[str, Any], status: str) -> str:
    """Why a build is where it is: its current phase while it runs; the phases that did not succeed, with CodeBuild's
    messages (``BUILD FAILED: COMMAND_EXECUTION_ERROR: ... exit status 1``) and where its log is, when it ended."""
    if status == "IN_PROGRESS":
        return f"building ({build.get('currentPhase', 'QUEUED')})"
    if status == "SUCCEEDED":
        return ""
    failed = [phase for phase in build.get("phases", []) if phase.get("phaseStatus") not in (None, "SUCCEEDED")]
    reason = "; ".join(_phase(phase) for phase in failed) or f"the build ended {status}"
    link = build.get("logs", {}).get("deepLink")
    return f"{reason} (log: {link})" if link else reason


def _phase(phase: dict[str, Any]) -> str:
    said = [f"{c.get('statusCode')}: {c.get('message')}" for c in phase.get("contexts", []) if c.get("message")]
    name = f"{phase.get('phaseType')} {phase.get('phaseStatus')}"
    return f"{name}: {'; '.join(said)}" if said else name
