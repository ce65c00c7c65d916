"""AWS CodeBuild and Amazon ECR, locally, for the serving images of model deployments (``stratus local
--serving-env virtualenv``): the calls the rollouts make through ``stratus.store.codebuild.CodeBuildImages``
(CodeBuild's ``StartBuild`` and ``BatchGetBuilds``, ECR's ``DescribeImages``) and a few neighbours, answered in
botocore's JSON 1.1 protocol on one loopback port, which the stack names in ``AWS_ENDPOINT_URL_CODEBUILD`` and
``AWS_ENDPOINT_URL_ECR``.

An image is a virtualenv here. A build reads the context zip the rollout uploaded (``sourceLocationOverride``, from
the stack's S3), and instead of the buildspec's ``docker build`` it makes ``<images>/<repository>/<tag>/`` with
``python -m venv`` (the Python that runs ``stratus local``) and installs into it what the image would hold: first the
base image's packages (``serving/requirements.txt``, and boto3, which AWS's Lambda image has), then the context's
``requirements.txt`` on top, as the deployment Dockerfile does. Success "pushes" the tag: a marker file in the
virtualenv, which ``DescribeImages`` finds from then on (also after a restart, when the images live in a state
folder). The local Lambda runs a function whose ``ImageUri`` names such a tag with that virtualenv's Python
(:meth:`CodeBuildEmulator.interpreter`).

As CodeBuild does, builds go through its phases (``DOWNLOAD_SOURCE``, ``PRE_BUILD``, ``BUILD``, ...), a failed phase
says why in its ``contexts`` (for pip, its last output lines), the output goes to CloudWatch Logs (the project's log
group, one stream per build), a build past the project's timeout ends ``TIMED_OUT``, and the build's state changes
(``IN_PROGRESS``, then ``SUCCEEDED``, ``FAILED``, ``STOPPED``, ``TIMED_OUT`` or ``FAULT``) go on the default
EventBridge bus as ``CodeBuild Build State Change`` events from ``aws.codebuild``. Builds run one at a time (the
others wait ``QUEUED``); they live in memory, the images on disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
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
import zipfile
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, TextIO

import boto3

from stratus_local.batch import EventPublisher, log_batches
from stratus_local.server import LocalHTTPServer, serve_in_thread
from stratus_local.template import DEFAULT_REGION, LOCAL_ACCOUNT_ID

EVENT_SOURCE = "aws.codebuild"
EVENT_DETAIL_TYPE = "CodeBuild Build State Change"
LAMBDA_RUNTIME_PACKAGES = ("boto3",)
"""What AWS's Lambda Python image holds besides the serving requirements (MLflow reads the model from S3 with it)."""
MARKER = "stratus-image.json"
"""In a virtualenv whose build succeeded: the image's ECR details. A folder without it is a build that did not end."""
IDEMPOTENCY_S = 300.0
"""CodeBuild answers the same build to a StartBuild with the same idempotencyToken within 5 minutes."""
OUTPUT_TAIL_LINES = 12
MAX_TAIL_LINE = 400
KILL_AFTER_S = 5.0
POLL_S = 0.2
ENDED = ("SUCCEEDED", "FAILED", "FAULT", "STOPPED", "TIMED_OUT")
_ISOLATED_ENV = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
"""Variables of this process that would let a build see its packages instead of the virtualenv's."""
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{1,254}$")
_REPOSITORY = re.compile(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_LOCAL_REGISTRY = re.compile(rf"^{LOCAL_ACCOUNT_ID}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com$")
"""This ECR in any Region: the template names its repository with the Region it resolves, which may not be this one."""
CODEBUILD = "CodeBuild_20161006"
ECR = "AmazonEC2ContainerRegistry_V20150921"
OPERATIONS = {
    f"{CODEBUILD}.CreateProject": "create_project",
    f"{CODEBUILD}.BatchGetProjects": "batch_get_projects",
    f"{CODEBUILD}.StartBuild": "start_build",
    f"{CODEBUILD}.BatchGetBuilds": "batch_get_builds",
    f"{CODEBUILD}.StopBuild": "stop_build",
    f"{ECR}.CreateRepository": "create_repository",
    f"{ECR}.DescribeRepositories": "describe_repositories",
    f"{ECR}.DescribeImages": "describe_images",
}
"""``X-Amz-Target`` (botocore's ``codebuild`` and ``ecr`` models) -> method of :class:`CodeBuildEmulator`."""


class ServiceError(Exception):
    """An error answer: HTTP status, botocore's error code, message."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


class ImageNotFound(LookupError):
    """An image URI of the local ECR that names no image built here."""


def serving_packages(serving_dir: Path) -> list[str]:
    """The base image's packages: ``serving/requirements.txt`` (the Dockerfile installs it) and the Lambda image's."""
    lines = (serving_dir / "requirements.txt").read_text(encoding="utf-8").splitlines()
    wanted = [line.split("#", 1)[0].strip() for line in lines]
    return [*(line for line in wanted if line), *LAMBDA_RUNTIME_PACKAGES]


def local_base_image(packages: Sequence[str]) -> str:
    """The ``ServingImage`` locally: a name for the base packages and this Python, which makes the virtualenvs. Image
    keys hash it, so a change to either gives deployments new images, as a new base image URI does on AWS."""
    version = ".".join(str(part) for part in sys.version_info[:3])
    digest = hashlib.sha256(json.dumps([version, sorted(packages)]).encode()).hexdigest()[:12]
    return f"stratus-serving:local-{digest}"


def _now() -> float:
    return time.time()


@dataclass
class _Phase:
    kind: str
    started: float = field(default_factory=_now)
    ended: float | None = None
    status: str | None = None
    contexts: list[dict[str, str]] = field(default_factory=list)

    def end(self, status: str, code: str = "", message: str = "") -> None:
        if self.ended is None:
            self.ended, self.status = _now(), status
            if message:
                self.contexts = [{"statusCode": code, "message": message}]

    def answer(self) -> dict[str, Any]:
        """As BatchGetBuilds shows it: the phase under way has no status or end yet; COMPLETED never has."""
        phase: dict[str, Any] = {"phaseType": self.kind, "startTime": self.started}
        if self.ended is not None and self.kind != "COMPLETED":
            phase.update(
                phaseStatus=self.status,
                endTime=self.ended,
                durationInSeconds=int(self.ended - self.started),
                contexts=self.contexts,
            )
        return phase

    def event(self) -> dict[str, Any]:
        answer = self.answer()
        phase: dict[str, Any] = {"phase-type": self.kind, "start-time": _event_time(self.started)}
        if "phaseStatus" in answer:
            phase.update(
                {
                    "phase-status": answer["phaseStatus"],
                    "end-time": _event_time(answer["endTime"]),
                    "duration-in-seconds": answer["durationInSeconds"],
                    "phase-context": [f"{c['statusCode']}: {c['message']}" for c in self.contexts],
                }
            )
        return phase


def _event_time(epoch: float) -> str:
    """How CodeBuild's events write times (``Sep 1, 2017 4:12:29 PM``)."""
    moment = time.gmtime(epoch)
    return time.strftime(f"%b {moment.tm_mday}, %Y {(moment.tm_hour % 12) or 12}:%M:%S %p", moment)


@dataclass(eq=False)
class _Build:
    """One build: what was asked, where it is, what it printed."""

    build_id: str
    arn: str
    number: int
    project: str
    source: dict[str, str]
    environment: dict[str, Any]
    variables: dict[str, str]
    timeout_minutes: int
    logs: dict[str, str]
    status: str = "IN_PROGRESS"
    started: float = field(default_factory=_now)
    ended: float | None = None
    phases: list[_Phase] = field(default_factory=lambda: [_Phase("SUBMITTED")])
    stop_reason: str | None = None
    """Set by StopBuild or the stack's stop: the build ends STOPPED."""
    process: subprocess.Popen[bytes] | None = None
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=OUTPUT_TAIL_LINES))
    output: deque[tuple[int, str]] = field(default_factory=deque)

    @property
    def phase(self) -> _Phase:
        return self.phases[-1]

    def answer(self) -> dict[str, Any]:
        """The build as BatchGetBuilds answers it."""
        variables = [{"name": k, "value": v, "type": "PLAINTEXT"} for k, v in self.variables.items()]
        build: dict[str, Any] = {
            "id": self.build_id,
            "arn": self.arn,
            "buildNumber": self.number,
            "startTime": self.started,
            "currentPhase": self.phase.kind,
            "buildStatus": self.status,
            "projectName": self.project,
            "phases": [phase.answer() for phase in self.phases],
            "source": dict(self.source),
            "environment": {**self.environment, "environmentVariables": variables},
            "logs": dict(self.logs),
            "timeoutInMinutes": self.timeout_minutes,
            "queuedTimeoutInMinutes": 480,
            "buildComplete": self.status in ENDED,
            "initiator": "stratus-local",
        }
        if self.ended is not None:
            build["endTime"] = self.ended
        return build

    def event_detail(self) -> dict[str, Any]:
        """The detail of its ``CodeBuild Build State Change`` event (whose ``build-id`` is the build's ARN)."""
        answer = self.answer()
        return {
            "build-status": self.status,
            "project-name": self.project,
            "build-id": self.arn,
            "additional-information": {
                "build-complete": answer["buildComplete"],
                "initiator": answer["initiator"],
                "build-start-time": _event_time(self.started),
                "source": answer["source"],
                "environment": {
                    "image": self.environment.get("image"),
                    "compute-type": self.environment.get("computeType"),
                    "type": self.environment.get("type"),
                    "environment-variables": answer["environment"]["environmentVariables"],
                },
                "timeout-in-minutes": self.timeout_minutes,
                "logs": {"group-name": self.logs["groupName"], "stream-name": self.logs["streamName"]},
                "phases": [phase.event() for phase in self.phases],
            },
            "current-phase": self.phase.kind,
            "current-phase-context": json.dumps([f"{c['statusCode']}: {c['message']}" for c in self.phase.contexts]),
            "version": "1",
        }


class _Failed(Exception):
    """The phase under way failed: the build ends ``build_status``, the phase ``phase_status`` with this context."""

    def __init__(self, code: str, message: str, build_status: str = "FAILED", phase_status: str = "FAILED") -> None:
        super().__init__(message)
        self.code, self.message, self.build_status, self.phase_status = code, message, build_status, phase_status


class CodeBuildEmulator:
    """Answers CodeBuild and ECR calls on a loopback port; builds serving images as virtualenvs, one at a time."""

    def __init__(  # noqa: PLR0913 - where things are and what to install, all keyword-only
        self,
        *,
        aws_endpoint: str,
        s3_endpoint: str | None = None,
        images_dir: Path | None = None,
        base_packages: Sequence[str] = (),
        region: str = DEFAULT_REGION,
        python: str = sys.executable,
        pip_options: Sequence[str] = (),
        environment: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
        log: TextIO = sys.stderr,
    ) -> None:
        """``aws_endpoint``: where EventBridge and CloudWatch Logs answer (the stack's moto); ``s3_endpoint``: where
        build contexts are read (default: ``aws_endpoint``). ``images_dir``: where the virtualenvs go (default: a
        temporary folder removed on stop). ``base_packages``: what every image holds before the model's requirements
        (:func:`serving_packages` for the stack; tests pass fewer). ``python`` makes the virtualenvs; ``pip_options``
        go to every ``pip install`` (``--find-links``, ``--no-index``); ``environment`` is the base of the commands'
        environment (default: this process's, without what would point Python elsewhere)."""
        self.aws_endpoint = aws_endpoint
        self.s3_endpoint = s3_endpoint or aws_endpoint
        self.region = region
        self.base_packages = list(base_packages)
        self.python = python
        self.pip_options = list(pip_options)
        self.host = host
        self.log = log
        self._environment = environment
        self._given_images_dir = images_dir
        self.images_dir: Path | None = None
        self._lock = threading.RLock()
        self._projects: dict[str, dict[str, Any]] = {}
        self._repositories: dict[str, dict[str, Any]] = {}
        self._builds: dict[str, _Build] = {}
        self._numbers: dict[str, int] = {}
        self._tokens: dict[str, tuple[float, str, str]] = {}
        self._queue: queue.Queue[_Build | None] = queue.Queue()
        self._builder: threading.Thread | None = None
        self._stopping = False
        self._server: _CodeBuildHTTPServer | None = None
        self._publisher: EventPublisher | None = None
        self._logs: Any = None
        self._s3: Any = None

    @property
    def endpoint(self) -> str:
        if self._server is None:
            raise RuntimeError("the CodeBuild emulator is not started")
        return f"http://{self.host}:{self._server.server_address[1]}"

    @property
    def registry(self) -> str:
        """The local ECR's registry, the host part of its image URIs."""
        return f"{LOCAL_ACCOUNT_ID}.dkr.ecr.{self.region}.amazonaws.com"

    # -- lifecycle ----------------------------------------------------------------------------------------------

    def start(self) -> str:
        """Listen on a free port; returns the endpoint (``AWS_ENDPOINT_URL_CODEBUILD`` and ``AWS_ENDPOINT_URL_ECR``)."""
        session = boto3.session.Session(region_name=self.region)
        self._logs = session.client("logs", endpoint_url=self.aws_endpoint)
        self._s3 = session.client("s3", endpoint_url=self.s3_endpoint)
        self._publisher = EventPublisher(
            session.client("events", endpoint_url=self.aws_endpoint),
            self.log,
            source=EVENT_SOURCE,
            detail_type=EVENT_DETAIL_TYPE,
            resources=lambda detail: [detail["build-id"]],
            what="codebuild: build state",
        )
        if self._given_images_dir is not None:
            self._given_images_dir.mkdir(parents=True, exist_ok=True)
            self.images_dir = self._given_images_dir
        else:
            self.images_dir = Path(tempfile.mkdtemp(prefix="stratus-images-"))
        self._stopping = False
        self._builder = threading.Thread(target=self._build_loop, name="codebuild-builds", daemon=True)
        self._builder.start()
        self._server = _CodeBuildHTTPServer((self.host, 0), self)
        serve_in_thread(self._server, name="codebuild-api")
        return self.endpoint

    def stop(self) -> int:
        """Stop answering; end the queued builds and the running one (its commands get SIGTERM, SIGKILL after
        :data:`KILL_AFTER_S`), ``STOPPED``; publish their last events. Returns how many builds it ended."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        with self._lock:
            if self._stopping:
                return 0
            self._stopping = True
            ended = [build for build in self._builds.values() if build.status == "IN_PROGRESS"]
            for build in ended:
                self._stop(build, "stratus local stopped")
        self._queue.put(None)
        if self._builder is not None:
            self._builder.join(timeout=KILL_AFTER_S + 10)
            self._builder = None
        if self._publisher is not None:
            self._publisher.close()
            self._publisher = None
        if self._given_images_dir is None and self.images_dir is not None:
            shutil.rmtree(self.images_dir, ignore_errors=True)
        return len(ended)

    # -- CodeBuild (one method per operation; request and answer as botocore's JSON) ------------------------------

    def create_project(self, request: dict[str, Any]) -> dict[str, Any]:
        name = str(request.get("name") or "")
        if not _NAME.match(name):
            raise ServiceError("InvalidInputException", f"Invalid project name: {name!r}")
        with self._lock:
            if name in self._projects:
                raise ServiceError("ResourceAlreadyExistsException", f"Project already exists: {name}")
            project = {
                **request,
                "arn": f"arn:aws:codebuild:{self.region}:{LOCAL_ACCOUNT_ID}:project/{name}",
                "timeoutInMinutes": int(request.get("timeoutInMinutes") or 60),
                "created": _now(),
            }
            self._projects[name] = project
            return {"project": dict(project)}

    def batch_get_projects(self, request: dict[str, Any]) -> dict[str, Any]:
        names = [str(ref).rsplit("/", 1)[-1] for ref in request.get("names") or []]
        with self._lock:
            return {
                "projects": [dict(self._projects[name]) for name in names if name in self._projects],
                "projectsNotFound": [name for name in names if name not in self._projects],
            }

    def start_build(self, request: dict[str, Any]) -> dict[str, Any]:
        """A build of the project with the request's overrides, queued; the same ``idempotencyToken`` within 5
        minutes answers the build it started."""
        name = str(request.get("projectName") or "")
        token = request.get("idempotencyToken")
        with self._lock:
            if self._stopping:
                raise ServiceError("AccountLimitExceededException", "stratus local is stopping")
            project = self._projects.get(name)
            if project is None:
                arn = f"arn:aws:codebuild:{self.region}:{LOCAL_ACCOUNT_ID}:project/{name}"
                raise ServiceError("ResourceNotFoundException", f"Project cannot be found: {arn}")
            fingerprint = json.dumps(request, sort_keys=True, default=str)
            if token and token in self._tokens:
                at, earlier, build_id = self._tokens[token]
                if _now() - at < IDEMPOTENCY_S:
                    if earlier != fingerprint:
                        raise ServiceError(
                            "InvalidInputException", "idempotencyToken was used with different parameters"
                        )
                    return {"build": self._builds[build_id].answer()}
            build = self._new_build(project, request)
            if token:
                self._tokens[str(token)] = (_now(), fingerprint, build.build_id)
            build.phase.end("SUCCEEDED")
            build.phases.append(_Phase("QUEUED"))
            self._builds[build.build_id] = build
            self._publish(build)
        self._queue.put(build)
        return {"build": build.answer()}

    def batch_get_builds(self, request: dict[str, Any]) -> dict[str, Any]:
        ids = [str(ref).split(":build/", 1)[-1] for ref in request.get("ids") or []]
        if not 1 <= len(ids) <= 100:
            raise ServiceError("InvalidInputException", "ids: between 1 and 100 build IDs")
        with self._lock:
            return {
                "builds": [self._builds[i].answer() for i in ids if i in self._builds],
                "buildsNotFound": [i for i in ids if i not in self._builds],
            }

    def stop_build(self, request: dict[str, Any]) -> dict[str, Any]:
        build_id = str(request.get("id") or "").split(":build/", 1)[-1]
        with self._lock:
            build = self._builds.get(build_id)
            if build is None:
                raise ServiceError("ResourceNotFoundException", f"Build {build_id} does not exist")
            if build.status == "IN_PROGRESS":
                self._stop(build, "Build was stopped")
            return {"build": build.answer()}

    # -- ECR ------------------------------------------------------------------------------------------------------

    def create_repository(self, request: dict[str, Any]) -> dict[str, Any]:
        name = str(request.get("repositoryName") or "")
        if not _REPOSITORY.match(name) or len(name) > 256:
            raise ServiceError("InvalidParameterException", f"Invalid parameter at 'repositoryName': {name!r}")
        with self._lock:
            if name in self._repositories:
                raise ServiceError(
                    "RepositoryAlreadyExistsException",
                    f"The repository with name '{name}' already exists in the registry with id '{LOCAL_ACCOUNT_ID}'",
                )
            self._repositories[name] = {
                "repositoryArn": f"arn:aws:ecr:{self.region}:{LOCAL_ACCOUNT_ID}:repository/{name}",
                "registryId": LOCAL_ACCOUNT_ID,
                "repositoryName": name,
                "repositoryUri": f"{self.registry}/{name}",
                "createdAt": _now(),
                "imageTagMutability": str(request.get("imageTagMutability") or "MUTABLE"),
            }
            return {"repository": dict(self._repositories[name])}

    def describe_repositories(self, request: dict[str, Any]) -> dict[str, Any]:
        self._check_registry(request)
        names = request.get("repositoryNames")
        with self._lock:
            if not names:
                return {"repositories": [dict(r) for r in self._repositories.values()]}
            return {"repositories": [dict(self._repository(str(name))) for name in names]}

    def describe_images(self, request: dict[str, Any]) -> dict[str, Any]:
        """The images of a repository, or those ``imageIds`` names (ImageNotFoundException for one that is not
        there)."""
        self._check_registry(request)
        name = str(request.get("repositoryName") or "")
        with self._lock:
            self._repository(name)
            images = self._images(name)
        wanted = request.get("imageIds")
        if not wanted:
            return {"imageDetails": list(images.values())}
        found = []
        for image_id in wanted:
            tag, digest = image_id.get("imageTag"), image_id.get("imageDigest")
            match = [
                i for i in images.values() if (not tag or tag in i["imageTags"]) and digest in (None, i["imageDigest"])
            ]
            if not match:
                raise ServiceError(
                    "ImageNotFoundException",
                    f"The image with imageId {{imageDigest:'{digest or 'null'}', imageTag:'{tag or 'null'}'}} does "
                    f"not exist within the repository with name '{name}' in the registry with id '{LOCAL_ACCOUNT_ID}'",
                )
            found.extend(i for i in match if i not in found)
        return {"imageDetails": found}

    # -- what the local Lambda asks ---------------------------------------------------------------------------------

    def interpreter(self, image_uri: str) -> str | None:
        """The Python of the virtualenv an image URI of this ECR names (``<registry>/<repository>:<tag>``, or
        ``@sha256:<digest>``); None for an image of another registry; :class:`ImageNotFound` for one not built."""
        registry, _, reference = image_uri.partition("/")
        if not _LOCAL_REGISTRY.match(registry):
            return None
        if "@" in reference:
            (name, _, digest), tag = reference.partition("@"), ""
        else:
            (name, _, tag), digest = reference.partition(":"), ""
        with self._lock:
            images = self._images(name) if name in self._repositories else {}
        for tag_found, detail in images.items():
            if (tag and tag_found == tag) or (digest and detail["imageDigest"] == digest):
                return str(_venv_python(self._image_dir(name, tag_found)))
        raise ImageNotFound(f"Source image {image_uri} does not exist. Provide a valid source image.")

    # -- state --------------------------------------------------------------------------------------------------------

    def _check_registry(self, request: dict[str, Any]) -> None:
        registry = request.get("registryId")
        if registry and registry != LOCAL_ACCOUNT_ID:
            raise ServiceError(
                "RepositoryNotFoundException", f"The registry with id '{registry}' is not stratus local's"
            )

    def _repository(self, name: str) -> dict[str, Any]:
        found = self._repositories.get(name)
        if found is None:
            raise ServiceError(
                "RepositoryNotFoundException",
                f"The repository with name '{name}' does not exist in the registry with id '{LOCAL_ACCOUNT_ID}'",
            )
        return found

    def _image_dir(self, repository: str, tag: str) -> Path:
        if self.images_dir is None:
            raise RuntimeError("the CodeBuild emulator is not started")
        return self.images_dir / repository / tag

    def _images(self, repository: str) -> dict[str, dict[str, Any]]:
        """The pushed images of a repository (tag -> ECR's image detail), read from their markers."""
        if self.images_dir is None:
            raise RuntimeError("the CodeBuild emulator is not started")
        images = {}
        for marker in sorted((self.images_dir / repository).glob(f"*/{MARKER}")):
            with contextlib.suppress(OSError, ValueError):
                images[marker.parent.name] = json.loads(marker.read_text(encoding="utf-8"))
        return images

    def _new_build(self, project: dict[str, Any], request: dict[str, Any]) -> _Build:
        name = project["name"]
        self._numbers[name] = self._numbers.get(name, 0) + 1
        run = str(uuid.uuid4())
        variables = {
            str(item["name"]): str(item.get("value", ""))
            for source in (
                (project.get("environment") or {}).get("environmentVariables") or [],
                request.get("environmentVariablesOverride") or [],
            )
            for item in source
        }
        source = {
            "type": str(request.get("sourceTypeOverride") or (project.get("source") or {}).get("type") or "S3"),
            "location": str(request.get("sourceLocationOverride") or (project.get("source") or {}).get("location")),
        }
        group = ((project.get("logsConfig") or {}).get("cloudWatchLogs") or {}).get("groupName")
        environment = {k: v for k, v in (project.get("environment") or {}).items() if k != "environmentVariables"}
        return _Build(
            build_id=f"{name}:{run}",
            arn=f"arn:aws:codebuild:{self.region}:{LOCAL_ACCOUNT_ID}:build/{name}:{run}",
            number=self._numbers[name],
            project=name,
            source=source,
            environment=environment,
            variables=variables,
            timeout_minutes=int(request.get("timeoutInMinutesOverride") or project["timeoutInMinutes"]),
            logs={"groupName": str(group or f"/aws/codebuild/{name}"), "streamName": run},
        )

    def _publish(self, build: _Build) -> None:
        if self._publisher is not None:
            self._publisher.publish(build.event_detail())

    def _stop(self, build: _Build, reason: str) -> None:
        """Ask a build to end STOPPED: a queued one when its turn comes, a running one now (SIGTERM to its command)."""
        if build.stop_reason is None:
            build.stop_reason = reason
            if build.process is not None and build.process.poll() is None:
                _signal_group(build.process, signal.SIGTERM)

    # -- builds -------------------------------------------------------------------------------------------------------

    def _build_loop(self) -> None:
        while True:
            build = self._queue.get()
            if build is None:
                return
            try:
                self._run(build)
            except Exception:  # noqa: BLE001 - the next build must still run
                traceback.print_exc(file=self.log)

    def _run(self, build: _Build) -> None:
        started = time.monotonic()
        outcome, code, message = "SUCCEEDED", "", ""
        try:
            self._logs_stream(build)
            self._phase(build, "PROVISIONING")
            self._phase(build, "DOWNLOAD_SOURCE")
            requirements = self._download(build)
            self._phase(build, "INSTALL")
            self._phase(build, "PRE_BUILD")
            repository, tag = self._target(build)
            self._phase(build, "BUILD")
            self._build_image(build, repository, tag, requirements)
            self._phase(build, "POST_BUILD")
            self._phase(build, "UPLOAD_ARTIFACTS")
        except _Failed as failure:
            outcome, code, message = failure.build_status, failure.code, failure.message
            build.phase.end(failure.phase_status, failure.code, failure.message)
        except Exception as exc:  # noqa: BLE001 - the build ends FAULT, as CodeBuild's own errors do
            traceback.print_exc(file=self.log)
            outcome, code, message = "FAULT", "CLIENT_ERROR", f"stratus local could not run the build: {exc}"
            build.phase.end("FAULT", code, message)
        with self._lock:
            for kind in ("FINALIZING", "COMPLETED"):
                build.phase.end("SUCCEEDED")
                build.phases.append(_Phase(kind))
            build.status, build.ended = outcome, _now()
            self._publish(build)
        self._ship_logs(build)
        why = f": {code}: {message.splitlines()[0]}" if message else ""
        took = time.monotonic() - started
        print(f"stratus local: codebuild {build.build_id} {outcome} in {took:.1f} s{why}", file=self.log)

    def _phase(self, build: _Build, kind: str) -> None:
        """End the phase under way (SUCCEEDED) and begin ``kind``; a build asked to stop or past its timeout ends
        here instead."""
        with self._lock:
            self._check_running(build)
            build.phase.end("SUCCEEDED")
            build.phases.append(_Phase(kind))
        self._ship_logs(build)

    def _check_running(self, build: _Build) -> None:
        if build.stop_reason is not None:
            raise _Failed("BUILD_STOPPED", build.stop_reason, "STOPPED", "STOPPED")
        if _now() - build.started > build.timeout_minutes * 60:
            raise _Failed("BUILD_TIMED_OUT", "Build has timed out. ", "TIMED_OUT", "TIMED_OUT")

    def _download(self, build: _Build) -> list[str]:
        """The context's ``requirements.txt`` lines (the Dockerfile's COPY needs it)."""
        location = build.source["location"]
        if build.source["type"] != "S3":
            raise _Failed("CLIENT_ERROR", f"stratus local builds from S3 sources only, not {build.source['type']}")
        bucket, _, key = location.removeprefix("arn:aws:s3:::").partition("/")
        self._say(build, f"Downloading the source from s3://{bucket}/{key}")
        try:
            body = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except self._s3.exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            raise _Failed(
                "CLIENT_ERROR",
                f"{error.get('Code')}: {error.get('Message')} for primary source and source version {location}",
            ) from exc
        try:
            with zipfile.ZipFile(io.BytesIO(body)) as archive:
                text = archive.read("requirements.txt").decode("utf-8")
        except KeyError as exc:
            raise _Failed(
                "COMMAND_EXECUTION_ERROR", "COPY failed: requirements.txt is not in the build context"
            ) from exc
        except (zipfile.BadZipFile, UnicodeDecodeError) as exc:
            raise _Failed("CLIENT_ERROR", f"the source {location} is not a readable zip: {exc}") from exc
        return [line for line in text.splitlines() if line.strip()]

    def _target(self, build: _Build) -> tuple[str, str]:
        """The buildspec's pre_build: ``$REPOSITORY_URI:$IMAGE_TAG``, in this registry."""
        uri, tag = build.variables.get("REPOSITORY_URI", ""), build.variables.get("IMAGE_TAG", "")
        if not uri or not tag:
            raise _Failed(
                "COMMAND_EXECUTION_ERROR",
                'Error while executing command: test -n "$REPOSITORY_URI" && test -n "$IMAGE_TAG". '
                "Reason: exit status 1",
            )
        registry, _, repository = uri.partition("/")
        with self._lock:
            known = bool(_LOCAL_REGISTRY.match(registry)) and repository in self._repositories
        if not known or not _TAG.match(tag):
            raise _Failed(
                "COMMAND_EXECUTION_ERROR",
                f"Error while executing command: docker push {uri}:{tag}. Reason: name unknown: the repository "
                f"'{repository}' does not exist in stratus local's registry {self.registry} (or the tag is invalid)",
            )
        self._say(build, f"Building the {build.variables.get('BUILD_KIND', 'deployment')} image {uri}:{tag}")
        return repository, tag

    def _build_image(self, build: _Build, repository: str, tag: str, requirements: list[str]) -> None:
        """``docker build`` and ``docker push``, as a virtualenv: base packages first, the context's on top."""
        with self._lock:
            if tag in self._images(repository):
                self._say(build, f"{self.registry}/{repository}:{tag} is in the repository already: nothing to build")
                return
        folder = self._image_dir(repository, tag)
        shutil.rmtree(folder, ignore_errors=True)  # a build that never ended
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._execute(build, [self.python, "-m", "venv", str(folder)], f"python -m venv {folder.name}")
            python = str(_venv_python(folder))
            pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--progress-bar", "off"]
            for name, lines in (
                ("stratus-serving-requirements.txt", self.base_packages),
                ("model-requirements.txt", requirements),
            ):
                (folder / name).write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
                if lines:
                    self._execute(build, [*pip, *self.pip_options, "-r", str(folder / name)], f"pip install -r {name}")
            self._push(build, repository, tag, folder, requirements)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)  # a failed build pushes nothing
            raise

    def _push(self, build: _Build, repository: str, tag: str, folder: Path, requirements: list[str]) -> None:
        self._check_running(build)
        contents = json.dumps([self.base_packages, requirements, tag]).encode()
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())
        detail = {
            "registryId": LOCAL_ACCOUNT_ID,
            "repositoryName": repository,
            "imageDigest": f"sha256:{hashlib.sha256(contents).hexdigest()}",
            "imageTags": [tag],
            "imageSizeInBytes": size,
            "imagePushedAt": _now(),
            "imageManifestMediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "artifactMediaType": "application/vnd.docker.container.image.v1+json",
        }
        (folder / MARKER).write_text(json.dumps(detail), encoding="utf-8")
        self._say(build, f"Pushed {self.registry}/{repository}:{tag} (a virtualenv: {folder})")

    def _execute(self, build: _Build, command: list[str], shown: str) -> None:
        """Run one command of the build, its output in the build's log; ``_Failed`` if it exits non-zero, is
        stopped or runs past the build's timeout."""
        self._say(build, f"Running command {shown}")
        environment = dict(os.environ if self._environment is None else self._environment)
        for name in _ISOLATED_ENV:
            environment.pop(name, None)
        with self._lock:
            self._check_running(build)
            build.process = process = subprocess.Popen(  # noqa: S603 - this interpreter, venv and pip
                command,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.images_dir,
            )
        reader = threading.Thread(target=self._read_output, args=(build, process), name="codebuild-output")
        reader.start()
        deadline = build.started + build.timeout_minutes * 60
        kill_at: float | None = None
        while True:
            try:
                returncode = process.wait(timeout=POLL_S)
                break
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if kill_at is None and (build.stop_reason is not None or _now() > deadline):
                _signal_group(process, signal.SIGTERM)
                kill_at = now + KILL_AFTER_S
            elif kill_at is not None and now >= kill_at:
                _signal_group(process, signal.SIGKILL)
        reader.join(timeout=5)
        build.process = None
        self._check_running(build)
        if returncode != 0:
            tail = "\n".join(line[:MAX_TAIL_LINE] for line in build.tail)
            raise _Failed(
                "COMMAND_EXECUTION_ERROR",
                f"Error while executing command: {shown}. Reason: exit status {returncode}\n{tail}".rstrip(),
            )

    def _read_output(self, build: _Build, process: subprocess.Popen[bytes]) -> None:
        if process.stdout is None:
            return
        with process.stdout:
            for raw in process.stdout:
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                if line.strip():
                    self._say(build, line, command_output=True)

    def _say(self, build: _Build, line: str, *, command_output: bool = False) -> None:
        """A line of the build's log (CloudWatch Logs, and the stack's log); a command's lines also make the tail
        a failure quotes, but for warnings (pip's about an index it cannot read could crowd out its error)."""
        if command_output and not line.startswith("WARNING:"):
            build.tail.append(line)
        else:
            line = f"[Container] {time.strftime('%Y/%m/%d %H:%M:%S', time.gmtime())} {line}"
        build.output.append((int(_now() * 1000), line))
        print(f"stratus local: codebuild {build.variables.get('IMAGE_TAG') or build.build_id}: {line}", file=self.log)

    def _logs_stream(self, build: _Build) -> None:
        group, stream = build.logs["groupName"], build.logs["streamName"]
        with contextlib.suppress(self._logs.exceptions.ResourceAlreadyExistsException):
            self._logs.create_log_group(logGroupName=group)
        self._logs.create_log_stream(logGroupName=group, logStreamName=stream)

    def _ship_logs(self, build: _Build) -> None:
        events = []
        while build.output:
            timestamp, message = build.output.popleft()
            events.append({"timestamp": timestamp, "message": message})
        for batch in log_batches(events):
            try:
                self._logs.put_log_events(
                    logGroupName=build.logs["groupName"], logStreamName=build.logs["streamName"], logEvents=batch
                )
            except Exception as exc:  # noqa: BLE001 - lost output is reported; the build goes on
                print(f"stratus local: codebuild {build.build_id}: could not write its log: {exc}", file=self.log)


def _venv_python(folder: Path) -> Path:
    return folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


class _CodeBuildHTTPServer(LocalHTTPServer):
    def __init__(self, address: tuple[str, int], emulator: CodeBuildEmulator) -> None:
        self.emulator = emulator
        super().__init__(address, _CodeBuildRequestHandler)


class _CodeBuildRequestHandler(BaseHTTPRequestHandler):
    """POST / with ``X-Amz-Target: <service>.<Operation>`` and a JSON body -> the emulator's method; errors as
    botocore's JSON parser reads them (``__type`` and ``message``)."""

    protocol_version = "HTTP/1.1"
    server: _CodeBuildHTTPServer

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        target = str(self.headers.get("X-Amz-Target") or "")
        operation = OPERATIONS.get(target)
        emulator: CodeBuildEmulator = self.server.emulator
        invalid = "InvalidParameterException" if target.startswith(ECR) else "InvalidInputException"
        try:
            if operation is None:
                raise ServiceError(
                    "UnknownOperationException", f"stratus local does not implement {target or self.path}"
                )
            request = json.loads(body or b"{}")
            if not isinstance(request, dict):
                raise ServiceError(invalid, "the request body must be a JSON object")
            call: Callable[[dict[str, Any]], dict[str, Any]] = getattr(emulator, operation)
            self._answer(200, call(request))
        except ServiceError as exc:
            self._answer(exc.status, {"__type": exc.code, "message": exc.message})
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            self._answer(400, {"__type": invalid, "message": str(exc)})
        except Exception:  # noqa: BLE001 - answered as AWS would, with the traceback on the stack's log
            traceback.print_exc(file=emulator.log)
            self._answer(500, {"__type": "ServerException", "message": "internal error of the CodeBuild emulator"})

    def _answer(self, status: int, document: dict[str, Any]) -> None:
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        """Quiet: the deployment functions' own requests are what the stack logs."""
