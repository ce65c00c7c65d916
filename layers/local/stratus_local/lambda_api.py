"""AWS Lambda, locally, for the deployments' serving functions: the part of the Lambda API the server's deployment
code calls (functions, versions, aliases with traffic weights, invoke), answered in botocore's REST-JSON protocol on a
loopback port (``AWS_ENDPOINT_URL_LAMBDA``), with each version run as a process of this machine instead of a
container: ``python -m stratus_serving.worker`` (``serving/stratus_serving/worker.py``) with ``serving/`` on
``PYTHONPATH``, this process's environment and the function's variables. The handler is ignored, and so is the image,
unless the local CodeBuild built it (``--serving-env virtualenv``, ``stratus_local/codebuild.py``): the worker then
runs with that image's virtualenv's Python.

A version's worker starts on its first invoke (its cold start: the model is loaded then) and stays warm while an
alias routes to it. A worker no alias routes to (a version invoked directly, or left behind by an alias move) is
stopped once it has had no request in flight for :data:`IDLE_STOP_S`, so a request still running on the old version
when an alias moves completes. Functions live in memory: a restarted stack knows none of them, as with Batch jobs.

The worker protocol: the worker loads the model, listens on a free loopback port and prints
``stratus-worker-listening <port>`` on stdout (or exits non-zero, its error on stderr); each invoke is one HTTP POST
of the payload, answered 200 with the handler's JSON, or with Lambda's error payload and the header
``X-Stratus-Function-Error: Unhandled`` when the handler raised.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import http.client
import json
import os
import random
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
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qsl, unquote

from stratus_local.server import LocalHTTPServer, serve_in_thread
from stratus_local.template import DEFAULT_REGION, LOCAL_ACCOUNT_ID

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
"""Lambda's limit on a synchronous invoke's request and response (6 MB)."""
INIT_TIMEOUT_S = 10.0
"""Lambda's init phase: a worker must be listening within this plus the version's timeout."""
IDLE_STOP_S = 10.0
"""How long a worker no alias routes to may sit with no request in flight before it is stopped."""
STOP_GRACE_S = 3.0
"""Between SIGTERM and SIGKILL when a worker is stopped."""
REAP_EVERY_S = 0.5
POLL_S = 0.05
OUTPUT_TAIL_LINES = 40
"""The worker's last output lines kept for the error of a worker that failed to start or died."""
MAX_READ_BYTES = 64 * 1024 * 1024
"""A request body over this is refused without being read (and the connection closed)."""
READY_PREFIX = "stratus-worker-listening"
"""The worker's stdout line giving its port (``stratus_serving.worker.READY_PREFIX``; serving/ is not imported here)."""
ERROR_HEADER = "X-Stratus-Function-Error"
REQUEST_ID_HEADER = "Lambda-Runtime-Aws-Request-Id"
LATEST = "$LATEST"
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ALIAS = re.compile(r"(?!^[0-9]+$)[A-Za-z0-9_-]{1,128}")
_FUNCTION_REF = re.compile(
    r"(?:arn:aws[a-z-]*:lambda:[a-z0-9-]+:)?(?:\d{12}:function:)?(?P<name>[A-Za-z0-9_-]{1,64})"
    r"(?::(?P<qualifier>\$LATEST|[A-Za-z0-9_-]{1,128}))?"
)
_PUBLISHED_FIELDS = (
    "CodeSha256",
    "Environment",
    "MemorySize",
    "Timeout",
    "Role",
    "Architectures",
    "Handler",
    "Runtime",
)
"""What makes $LATEST differ from its last version: PublishVersion publishes nothing new when none of it changed."""
_BUSY = "The operation cannot be performed at this time."
_UPDATABLE = ("Role", "Handler", "Description", "Timeout", "MemorySize", "Runtime", "EphemeralStorage")


class LambdaError(Exception):
    """An error answer of the Lambda API: HTTP status, botocore's error code, message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _not_found(arn: str) -> LambdaError:
    return LambdaError(404, "ResourceNotFoundException", f"Function not found: {arn}")


def _invalid(message: str) -> LambdaError:
    return LambdaError(400, "InvalidParameterValueException", message)


def _validation(value: Any, member: str, constraint: str) -> LambdaError:
    return LambdaError(
        400,
        "ValidationException",
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}",
    )


@dataclass(frozen=True)
class Invoked:
    """The answer to an invoke: status (200, 202 or 204), the payload and the Lambda headers."""

    status: int
    payload: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class WorkerInfo:
    """A worker process as :meth:`LambdaEmulator.workers` lists it."""

    function: str
    version: str
    pid: int | None
    in_flight: int


@dataclass
class _Function:
    """One function: its $LATEST configuration, its published versions and its aliases (botocore's JSON)."""

    name: str
    arn: str
    latest: dict[str, Any]
    code: dict[str, Any]
    tags: dict[str, str]
    versions: dict[str, dict[str, Any]] = field(default_factory=dict)
    images: dict[str, str] = field(default_factory=dict)
    """The image URI each published version was made from."""
    aliases: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_version: int = 0
    pending_until: float = 0.0
    updating_until: float = 0.0

    def configuration(self, version: str) -> dict[str, Any]:
        if version == LATEST:
            return self.latest
        if version not in self.versions:
            raise _not_found(f"{self.arn}:{version}")
        return self.versions[version]

    def image(self, version: str) -> str | None:
        return self.code.get("ImageUri") if version == LATEST else self.images.get(version)

    def routed_versions(self) -> set[str]:
        """The versions some alias sends requests to."""
        routed = set()
        for alias in self.aliases.values():
            routed.add(alias["FunctionVersion"])
            routed.update((alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {})
        return routed

    def busy(self) -> str | None:
        """Why the function cannot be changed or invoked now (a creation or an update under way), if it cannot."""
        now = time.monotonic()
        if now < self.pending_until:
            return f"{_BUSY} The function is currently in the following state: Pending"
        if now < self.updating_until:
            return f"{_BUSY} An update is in progress for resource: {self.arn}"
        return None


@dataclass(eq=False)
class _Worker:
    """The process serving one version of a function (one revision of $LATEST)."""

    function: str
    version: str
    configuration: dict[str, Any]
    image: str | None = None
    in_flight: int = 0
    last_used: float = field(default_factory=time.monotonic)
    process: subprocess.Popen[bytes] | None = None
    port: int | None = None
    failure: dict[str, Any] | None = None
    """The function error of a start that failed; the next invoke makes a new worker."""
    folder: Path | None = None
    listening: threading.Event = field(default_factory=threading.Event)
    start_lock: threading.Lock = field(default_factory=threading.Lock)
    output: deque[str] = field(default_factory=lambda: deque(maxlen=OUTPUT_TAIL_LINES))
    readers: list[threading.Thread] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.function, self.version, str(self.configuration["RevisionId"]))

    @property
    def label(self) -> str:
        return f"{self.function}:{self.version}"

    @property
    def timeout_s(self) -> float:
        return float(self.configuration.get("Timeout") or 3)

    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def tail(self) -> str:
        return "\n".join(self.output)


class LambdaEmulator:
    """Answers Lambda API calls on a loopback port and runs each invoked function version as a worker process."""

    def __init__(  # noqa: PLR0913 - where things are and how long things take, all keyword-only
        self,
        *,
        serving_dir: Path,
        region: str = DEFAULT_REGION,
        environment: dict[str, str] | None = None,
        extra_environment: dict[str, str] | None = None,
        python: str = sys.executable,
        image_interpreter: Callable[[str], str | None] | None = None,
        host: str = "127.0.0.1",
        idle_stop_s: float = IDLE_STOP_S,
        init_timeout_s: float = INIT_TIMEOUT_S,
        update_seconds: float = 0.0,
        log: TextIO = sys.stderr,
    ) -> None:
        """``serving_dir``: the folder holding ``stratus_serving``. ``environment``: the base of every worker's
        environment (default: this process's when the worker starts); ``extra_environment`` goes on top of it, and
        the function's variables on top of both. ``python`` runs the workers, except those of an image that
        ``image_interpreter`` knows (``CodeBuildEmulator.interpreter``: the Python of the virtualenv the image is,
        None for an image it did not build, ``LookupError`` for one of its repositories that was never pushed).
        ``update_seconds``: how long a function stays ``Pending`` after its creation and ``InProgress`` after an
        update (0: changes are done at once), for exercising the waiters."""
        self.serving_dir = serving_dir
        self.region = region
        self.python = python
        self.image_interpreter = image_interpreter
        self.host = host
        self.idle_stop_s = idle_stop_s
        self.init_timeout_s = init_timeout_s
        self.update_seconds = update_seconds
        self.log = log
        self._environment = environment
        self._extra_environment = dict(extra_environment or {})
        self._lock = threading.RLock()
        self._functions: dict[str, _Function] = {}
        self._workers: dict[tuple[str, str, str], _Worker] = {}
        self._server: _LambdaHTTPServer | None = None
        self._work_root: Path | None = None
        self._reaper_stop = threading.Event()
        self._reaper: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        if self._server is None:
            raise RuntimeError("the Lambda emulator is not started")
        return f"http://{self.host}:{self._server.server_address[1]}"

    # -- lifecycle ----------------------------------------------------------------------------------------------

    def start(self) -> str:
        """Listen on a free port; returns the endpoint (``AWS_ENDPOINT_URL_LAMBDA``)."""
        self._work_root = Path(tempfile.mkdtemp(prefix="stratus-lambda-"))
        self._reaper_stop.clear()
        self._reaper = threading.Thread(target=self._reap_loop, name="lambda-workers", daemon=True)
        self._reaper.start()
        self._server = _LambdaHTTPServer((self.host, 0), self)
        serve_in_thread(self._server, name="lambda-api")
        return self.endpoint

    def stop(self) -> int:
        """Stop answering and stop every worker (SIGTERM to its process group, SIGKILL after
        :data:`STOP_GRACE_S`). Returns how many workers it stopped. Safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        self._reaper_stop.set()
        if self._reaper is not None:
            self._reaper.join(timeout=5)
            self._reaper = None
        with self._lock:
            workers = list(self._workers.values())
            self._workers.clear()
            self._functions.clear()
        self._stop_workers(workers, "stratus local stopped")
        if self._work_root is not None:
            shutil.rmtree(self._work_root, ignore_errors=True)
            self._work_root = None
        return len(workers)

    def workers(self) -> list[WorkerInfo]:
        """The worker processes now, started or starting."""
        with self._lock:
            return [
                WorkerInfo(w.function, w.version, w.process.pid if w.process else None, w.in_flight)
                for w in self._workers.values()
            ]

    # -- functions and versions (one method per operation; request and answer as botocore's JSON) ---------------

    def create_function(self, request: dict[str, Any]) -> dict[str, Any]:
        name = str(request.get("FunctionName") or "")
        if not _NAME.fullmatch(name):
            raise _validation(name, "functionName", "Member must satisfy regular expression pattern: [a-zA-Z0-9-_]+")
        package_type = request.get("PackageType") or "Zip"
        code = request.get("Code") or {}
        if package_type == "Image" and not code.get("ImageUri"):
            raise _invalid("Please provide ImageUri when creating a function with packageType Image.")
        if package_type == "Image":
            self._check_image(str(code["ImageUri"]))
        arn = f"arn:aws:lambda:{self.region}:{LOCAL_ACCOUNT_ID}:function:{name}"
        configuration = {
            "FunctionName": name,
            "FunctionArn": arn,
            "Role": request.get("Role"),
            "CodeSize": 0,
            "Description": request.get("Description") or "",
            "Timeout": 3,
            "MemorySize": 128,
            "Version": LATEST,
            "TracingConfig": {"Mode": "PassThrough"},
            "PackageType": package_type,
            "Architectures": request.get("Architectures") or ["x86_64"],
            "EphemeralStorage": {"Size": 512},
        }
        if package_type == "Zip":
            configuration.update(Runtime=request.get("Runtime"), Handler=request.get("Handler"))
        _configure(configuration, request)
        with self._lock:
            if name in self._functions:
                raise LambdaError(409, "ResourceConflictException", f"Function already exist: {name}")
            function = _Function(name, arn, configuration, {}, dict(request.get("Tags") or {}))
            _set_code(function, code, package_type)
            function.pending_until = time.monotonic() + self.update_seconds
            self._functions[name] = function
            if request.get("Publish"):
                function.pending_until = 0.0
                return self._publish(function, "")
            return self._configuration_answer(function, LATEST)

    def get_function(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            function, qualifier = self._lookup(request)
            version = self._target_version(function, qualifier)
            code = dict(function.code)
            image = function.image(version)
            if image is not None and image != code.get("ImageUri"):
                code.update(
                    ImageUri=image, ResolvedImageUri=f"{image}@sha256:{function.configuration(version)['CodeSha256']}"
                )
            return {
                "Configuration": self._configuration_answer(function, version),
                "Code": code,
                "Tags": dict(function.tags),
            }

    def get_function_configuration(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            function, qualifier = self._lookup(request)
            return self._configuration_answer(function, self._target_version(function, qualifier))

    def update_function_code(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            function = self._unqualified(request)
            self._check_changeable(function, request)
            package_type = function.latest["PackageType"]
            if package_type == "Image" and not request.get("ImageUri"):
                raise _invalid("Please provide ImageUri when updating a function with packageType Image.")
            if package_type == "Image":
                self._check_image(str(request["ImageUri"]))
            _set_code(function, request, package_type)
            return self._updated(function, publish=bool(request.get("Publish")))

    def update_function_configuration(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            function = self._unqualified(request)
            self._check_changeable(function, request)
            _configure(function.latest, request)
            return self._updated(function, publish=False)

    def publish_version(self, request: dict[str, Any]) -> dict[str, Any]:
        """Snapshot $LATEST as the next numbered version; as on AWS, when nothing changed since the last version,
        that version is answered instead of a new one."""
        with self._lock:
            function = self._unqualified(request)
            self._check_changeable(function, request)
            return self._publish(function, str(request.get("Description") or ""))

    def list_versions_by_function(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            function = self._unqualified(request)
            versions = [LATEST, *function.versions]
            return {"Versions": [self._configuration_answer(function, version) for version in versions]}

    def delete_function(self, request: dict[str, Any]) -> dict[str, Any]:
        """The whole function, its workers stopped now; or, with a qualifier, one version no alias uses."""
        with self._lock:
            function, qualifier = self._lookup(request)
            if qualifier is not None:
                self._delete_version(function, qualifier)
                return {}
            del self._functions[function.name]
            workers = [w for w in self._workers.values() if w.function == function.name]
            for worker in workers:
                del self._workers[worker.key]
        self._stop_workers(workers, "function deleted")
        return {}

    # -- aliases ----------------------------------------------------------------------------------------------------

    def create_alias(self, request: dict[str, Any]) -> dict[str, Any]:
        name = str(request.get("Name") or "")
        if not _ALIAS.fullmatch(name):
            raise _validation(
                name, "name", "Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)"
            )
        with self._lock:
            function = self._unqualified(request)
            if name in function.aliases:
                raise LambdaError(409, "ResourceConflictException", f"Alias already exists: {function.arn}:{name}")
            alias = {"AliasArn": f"{function.arn}:{name}", "Name": name}
            self._set_alias(function, alias, request)
            function.aliases[name] = alias
            return copy.deepcopy(alias)

    def get_alias(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._alias(self._unqualified(request), request))

    def update_alias(self, request: dict[str, Any]) -> dict[str, Any]:
        """Point the alias at ``FunctionVersion`` and/or replace its ``RoutingConfig`` (``{}`` removes the weights).
        Workers of versions it no longer routes to finish their requests, then stop when idle."""
        with self._lock:
            function = self._unqualified(request)
            alias = self._alias(function, request)
            if request.get("RevisionId") and request["RevisionId"] != alias["RevisionId"]:
                raise LambdaError(412, "PreconditionFailedException", "The RevisionId provided does not match")
            self._set_alias(function, alias, request)
            return copy.deepcopy(alias)

    def delete_alias(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            function = self._unqualified(request)
            del function.aliases[self._alias(function, request)["Name"]]
            return {}

    def list_aliases(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            function = self._unqualified(request)
            wanted = request.get("FunctionVersion")
            aliases = [a for a in function.aliases.values() if not wanted or a["FunctionVersion"] == wanted]
            return {"Aliases": copy.deepcopy(aliases)}

    # -- invoke ---------------------------------------------------------------------------------------------------

    def invoke(self, request: dict[str, Any]) -> Invoked:
        """Run the payload on the worker of the version the qualifier (a version, or an alias whose weights pick
        one) names; ``RequestResponse`` waits for the answer, ``Event`` does not, ``DryRun`` only checks."""
        payload: bytes = request.get("Payload") or b""
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise LambdaError(
                413,
                "RequestTooLargeException",
                f"Request must be smaller than {MAX_PAYLOAD_BYTES} bytes for the InvokeFunction operation",
            )
        try:
            json.loads(payload or b"{}")
        except ValueError as exc:
            raise LambdaError(
                400, "InvalidRequestContentException", f"Could not parse request body into json: {exc}"
            ) from None
        kind = request.get("InvocationType") or "RequestResponse"
        if kind not in ("RequestResponse", "Event", "DryRun"):
            raise _invalid(f"Unsupported invocation type {kind}")
        with self._lock:
            function, qualifier = self._lookup(request)
            if qualifier in (None, LATEST) and time.monotonic() < function.pending_until:
                raise LambdaError(409, "ResourceConflictException", str(function.busy()))
            version = self._pick_version(function, qualifier)
            if kind == "DryRun":
                return Invoked(204, b"", {})
            worker = self._acquire(function, version)
        request_id = str(uuid.uuid4())
        if kind == "Event":
            threading.Thread(
                target=self._call, args=(worker, payload or b"{}", request_id), name="lambda-event", daemon=True
            ).start()
            return Invoked(202, b"", {"x-amzn-RequestId": request_id})
        return self._call(worker, payload or b"{}", request_id)

    # -- state ----------------------------------------------------------------------------------------------------

    def _lookup(self, request: dict[str, Any]) -> tuple[_Function, str | None]:
        """The function a ``FunctionName`` (name, partial or full ARN, maybe with a qualifier) names, and the
        qualifier (from the name or ``Qualifier``)."""
        reference = str(request.get("FunctionName") or "")
        match = _FUNCTION_REF.fullmatch(reference)
        if match is None:
            raise _validation(reference, "functionName", "Member must satisfy the function name or ARN pattern")
        name, qualifier = match["name"], match["qualifier"]
        given = request.get("Qualifier")
        if given and qualifier and given != qualifier:
            raise _invalid("The derived qualifier from the function name does not match the specified qualifier.")
        function = self._functions.get(name)
        if function is None:
            raise _not_found(f"arn:aws:lambda:{self.region}:{LOCAL_ACCOUNT_ID}:function:{name}")
        return function, given or qualifier

    def _unqualified(self, request: dict[str, Any]) -> _Function:
        function, qualifier = self._lookup(request)
        if qualifier is not None:
            raise _invalid(f"Qualifier {qualifier} is not allowed for this operation")
        return function

    def _alias(self, function: _Function, request: dict[str, Any]) -> dict[str, Any]:
        alias = function.aliases.get(str(request.get("Name") or ""))
        if alias is None:
            raise LambdaError(
                404, "ResourceNotFoundException", f"Cannot find alias arn: {function.arn}:{request.get('Name')}"
            )
        return alias

    def _target_version(self, function: _Function, qualifier: str | None) -> str:
        """The version a qualifier names (an alias: its main version), checked to exist."""
        if qualifier in function.aliases:
            return str(function.aliases[qualifier]["FunctionVersion"])
        version = qualifier or LATEST
        function.configuration(version)
        return version

    def _pick_version(self, function: _Function, qualifier: str | None) -> str:
        """As Lambda routes an invoke: an alias sends each additional version its weight's share, the rest to its
        main version."""
        alias = function.aliases.get(qualifier or "")
        if alias is None:
            return self._target_version(function, qualifier)
        draw = random.random()
        for version, weight in ((alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}).items():
            if draw < weight:
                return str(version)
            draw -= weight
        return str(alias["FunctionVersion"])

    def _configuration_answer(self, function: _Function, version: str) -> dict[str, Any]:
        answer = copy.deepcopy(function.configuration(version))
        now = time.monotonic()
        pending = version == LATEST and now < function.pending_until
        updating = version == LATEST and now < max(function.pending_until, function.updating_until)
        answer["State"] = "Pending" if pending else "Active"
        answer["LastUpdateStatus"] = "InProgress" if updating else "Successful"
        return answer

    def _check_changeable(self, function: _Function, request: dict[str, Any]) -> None:
        reason = function.busy()
        if reason is not None:
            raise LambdaError(409, "ResourceConflictException", reason)
        if request.get("RevisionId") and request["RevisionId"] != function.latest["RevisionId"]:
            raise LambdaError(412, "PreconditionFailedException", "The RevisionId provided does not match")

    def _updated(self, function: _Function, *, publish: bool) -> dict[str, Any]:
        function.latest["LastModified"] = _timestamp()
        function.latest["RevisionId"] = str(uuid.uuid4())
        if publish:
            return self._publish(function, "")
        function.updating_until = time.monotonic() + self.update_seconds
        return self._configuration_answer(function, LATEST)

    def _publish(self, function: _Function, description: str) -> dict[str, Any]:
        if function.versions:
            last = function.versions[str(function.last_version)]
            if all(last.get(name) == function.latest.get(name) for name in _PUBLISHED_FIELDS):
                return self._configuration_answer(function, str(function.last_version))
        function.last_version += 1
        version = str(function.last_version)
        snapshot = copy.deepcopy(function.latest)
        snapshot.update(
            Version=version,
            FunctionArn=f"{function.arn}:{version}",
            Description=description or snapshot.get("Description", ""),
            RevisionId=str(uuid.uuid4()),
            LastModified=_timestamp(),
        )
        function.versions[version] = snapshot
        if function.code.get("ImageUri"):
            function.images[version] = str(function.code["ImageUri"])
        return self._configuration_answer(function, version)

    def _delete_version(self, function: _Function, version: str) -> None:
        if version == LATEST:
            raise _invalid("$LATEST version cannot be deleted without deleting the function.")
        function.configuration(version)
        users = sorted(a["Name"] for a in function.aliases.values() if version in _alias_versions(a))
        if users:
            raise LambdaError(
                409,
                "ResourceConflictException",
                f"Unable to delete version because the following aliases reference it: {users}",
            )
        del function.versions[version]  # its worker, if any, stops once idle

    def _set_alias(self, function: _Function, alias: dict[str, Any], request: dict[str, Any]) -> None:
        version = str(request.get("FunctionVersion") or alias.get("FunctionVersion") or "")
        function.configuration(version)
        weights = alias.get("RoutingConfig", {}).get("AdditionalVersionWeights") or {}
        if "RoutingConfig" in request:
            weights = (request.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        _check_weights(function, version, weights)
        alias.update(FunctionVersion=version, RevisionId=str(uuid.uuid4()))
        alias["Description"] = str(request.get("Description", alias.get("Description", "")))
        alias.pop("RoutingConfig", None)
        if weights:
            alias["RoutingConfig"] = {"AdditionalVersionWeights": {str(v): float(w) for v, w in weights.items()}}

    # -- workers ---------------------------------------------------------------------------------------------------

    def _acquire(self, function: _Function, version: str) -> _Worker:
        """The worker of that version (made if there is none; started by its first call), with one more request
        in flight, so it is not stopped until that request ends."""
        configuration = function.configuration(version)
        key = (function.name, version, str(configuration["RevisionId"]))
        worker = self._workers.get(key)
        if worker is None:
            worker = _Worker(function.name, version, copy.deepcopy(configuration), function.image(version))
            self._workers[key] = worker
        worker.in_flight += 1
        return worker

    def _release(self, worker: _Worker) -> None:
        with self._lock:
            worker.in_flight -= 1
            worker.last_used = time.monotonic()

    def _call(self, worker: _Worker, payload: bytes, request_id: str) -> Invoked:
        try:
            failure = self._ensure_started(worker)
            if failure is None:
                body, function_error = self._post(worker, payload, request_id)
            else:
                body, function_error = json.dumps(failure).encode(), "Unhandled"
        finally:
            self._release(worker)
        headers = {"X-Amz-Executed-Version": worker.version, "x-amzn-RequestId": request_id}
        if function_error:
            headers["X-Amz-Function-Error"] = function_error
        return Invoked(200, body, headers)

    def _ensure_started(self, worker: _Worker) -> dict[str, Any] | None:
        """None once the worker listens (starting it if this is its first call); else the function error."""
        with worker.start_lock:
            if worker.failure is not None:
                return worker.failure
            if worker.port is None:
                worker.failure = self._launch(worker)
            elif worker.exited():
                worker.failure = self._exit_failure(worker, "")
            if worker.failure is not None:
                self._retire(worker)
            return worker.failure

    def _launch(self, worker: _Worker) -> dict[str, Any] | None:
        """Start the worker and wait until it listens: None; or the function error of a worker that exited or
        took longer than the init phase and the version's timeout."""
        if self._work_root is None:
            raise RuntimeError("the Lambda emulator is not started")
        started = time.monotonic()
        worker.folder = Path(tempfile.mkdtemp(prefix=f"{worker.function}-", dir=self._work_root))
        try:
            python = self._interpreter(worker.image)
        except LookupError as exc:
            return {"errorType": "Runtime.InvalidEntrypoint", "errorMessage": str(exc)}
        try:
            worker.process = process = subprocess.Popen(  # noqa: S603 - this interpreter or the image's, and the worker
                [python or self.python, "-m", "stratus_serving.worker"],
                cwd=worker.folder,
                env=self._worker_environment(worker, python),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            return {"errorType": "Runtime.InvalidEntrypoint", "errorMessage": f"the worker could not start: {exc}"}
        for stream, ready in ((process.stdout, True), (process.stderr, False)):
            reader = threading.Thread(
                target=self._read_output, args=(worker, stream, ready), name=f"lambda-{worker.label}", daemon=True
            )
            reader.start()
            worker.readers.append(reader)
        deadline = started + self.init_timeout_s + worker.timeout_s
        while not worker.listening.wait(POLL_S):
            if process.poll() is not None:
                return self._exit_failure(worker, "the worker exited before it was ready")
            if time.monotonic() >= deadline:
                _end_group(process)
                return {
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": f"the worker was not ready after {deadline - started:.2f} seconds "
                    f"(init phase and Timeout)\n{worker.tail()}",
                }
        print(f"stratus local: lambda {worker.label} is warm ({time.monotonic() - started:.1f} s)", file=self.log)
        return None

    def _interpreter(self, image: str | None) -> str | None:
        """The Python of the virtualenv a built image is; None for any other image (or none)."""
        if image is None or self.image_interpreter is None:
            return None
        return self.image_interpreter(image)

    def _check_image(self, image: str) -> None:
        """As Lambda refuses an image its registry does not have: only an image of the local ECR can be checked."""
        try:
            self._interpreter(image)
        except LookupError as exc:
            raise _invalid(str(exc)) from None

    def _worker_environment(self, worker: _Worker, image_python: str | None = None) -> dict[str, str]:
        """The stack's environment, the function's variables on top, and what the Lambda runtime sets. A worker in
        an image's virtualenv has that virtualenv first on PATH and only serving/ on PYTHONPATH, so nothing of this
        Python's packages reaches it."""
        environment = dict(os.environ if self._environment is None else self._environment)
        environment.update(self._extra_environment)
        environment.update((worker.configuration.get("Environment") or {}).get("Variables") or {})
        python_path = [str(self.serving_dir), environment.get("PYTHONPATH", "")]
        if image_python is not None:
            python_path = [str(self.serving_dir)]
            venv = Path(image_python).parent.parent
            environment.pop("PYTHONHOME", None)
            environment.update(
                VIRTUAL_ENV=str(venv),
                PATH=os.pathsep.join([str(Path(image_python).parent), environment.get("PATH", os.defpath)]),
            )
        environment.update(
            {
                "PYTHONPATH": os.pathsep.join(part for part in python_path if part),
                "PYTHONUNBUFFERED": "1",
                "TMPDIR": str(worker.folder),
                "AWS_LAMBDA_FUNCTION_NAME": worker.function,
                "AWS_LAMBDA_FUNCTION_VERSION": worker.version,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(worker.configuration.get("MemorySize") or 128),
            }
        )
        environment.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no TTY: progress bars are noise
        return environment

    def _read_output(self, worker: _Worker, stream: Any, ready_line: bool) -> None:
        """Pass the worker's output to the stack's log, keeping its tail; on stdout, watch for the ready line."""
        with stream:
            for raw in stream:
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                if ready_line and worker.port is None and line.startswith(READY_PREFIX):
                    worker.port = int(line.split()[1])
                    worker.listening.set()
                    continue
                worker.output.append(line)
                print(f"stratus local: lambda {worker.label}: {line}", file=self.log)

    def _post(self, worker: _Worker, payload: bytes, request_id: str) -> tuple[bytes, str | None]:
        """Send the payload to the worker: its answer and function error (``Unhandled`` or None)."""
        connection = http.client.HTTPConnection("127.0.0.1", worker.port, timeout=worker.timeout_s)
        try:
            connection.request(
                "POST", "/", body=payload, headers={"Content-Type": "application/json", REQUEST_ID_HEADER: request_id}
            )
            response = connection.getresponse()
            body = response.read()
            function_error = response.getheader(ERROR_HEADER)
        except TimeoutError:
            message = f"RequestId: {request_id} Error: Task timed out after {worker.timeout_s:.2f} seconds"
            return json.dumps({"errorType": "Sandbox.Timedout", "errorMessage": message}).encode(), "Unhandled"
        except (OSError, http.client.HTTPException) as exc:
            return json.dumps(self._lost(worker, exc)).encode(), "Unhandled"
        finally:
            connection.close()
        if len(body) > MAX_PAYLOAD_BYTES:
            message = f"Response payload size exceeded maximum allowed payload size ({MAX_PAYLOAD_BYTES} bytes)."
            return json.dumps(
                {"errorType": "Function.ResponseSizeTooLarge", "errorMessage": message}
            ).encode(), "Unhandled"
        return body, function_error

    def _lost(self, worker: _Worker, error: Exception) -> dict[str, Any]:
        """The function error of a request the worker never answered: it died (it is retired, the next invoke
        starts a new one), or it dropped the connection."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            if worker.process is not None:
                worker.process.wait(timeout=1)
        if not worker.exited():
            return {"errorType": "Runtime.Unknown", "errorMessage": f"the worker did not answer: {error}"}
        self._retire(worker)
        return self._exit_failure(worker, "")

    def _exit_failure(self, worker: _Worker, context: str) -> dict[str, Any]:
        """Lambda's error for a runtime that exited, with the worker's last output lines."""
        if worker.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.process.wait(timeout=5)
        for reader in worker.readers:
            reader.join(timeout=2)  # so the tail holds the last lines
        code = worker.process.returncode if worker.process is not None else None
        status = f"signal: {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit status {code}"
        lines = [f"Runtime exited with error: {status}", context, worker.tail()]
        return {"errorType": "Runtime.ExitError", "errorMessage": "\n".join(line for line in lines if line)}

    def _retire(self, worker: _Worker) -> None:
        """Forget a worker that failed or died (the next invoke of its version makes a new one) and clean up."""
        with self._lock:
            if self._workers.get(worker.key) is worker:
                del self._workers[worker.key]
        self._stop_workers([worker], "")

    def _reap_loop(self) -> None:
        while not self._reaper_stop.wait(REAP_EVERY_S):
            try:
                self._reap()
            except Exception:  # noqa: BLE001 - the loop must go on
                traceback.print_exc(file=self.log)

    def _reap(self) -> None:
        """Stop the workers no alias routes to that have been idle for :attr:`idle_stop_s`, and forget the ones
        that exited while idle."""
        now = time.monotonic()
        with self._lock:
            idle = [w for w in self._workers.values() if w.in_flight == 0]
            exited = [w for w in idle if w.exited()]
            unrouted = [w for w in idle if not self._routed(w) and now - w.last_used >= self.idle_stop_s]
            for worker in {*exited, *unrouted}:
                del self._workers[worker.key]
        for worker in exited:
            code = worker.process.returncode if worker.process is not None else None
            print(
                f"stratus local: lambda {worker.label} exited ({code}); its next invoke starts it again", file=self.log
            )
        self._stop_workers([w for w in unrouted if w not in exited], "no alias routes to it")

    def _routed(self, worker: _Worker) -> bool:
        function = self._functions.get(worker.function)
        if function is None or worker.version not in function.routed_versions():
            return False
        current = function.latest if worker.version == LATEST else function.versions.get(worker.version, {})
        return current.get("RevisionId") == worker.configuration["RevisionId"]

    def _stop_workers(self, workers: list[_Worker], reason: str) -> None:
        """SIGTERM each worker's process group, SIGKILL those still there after :data:`STOP_GRACE_S`."""
        running = [w for w in workers if w.process is not None and w.process.poll() is None]
        for worker in running:
            _signal_group(worker.process, signal.SIGTERM)  # type: ignore[arg-type]
        deadline = time.monotonic() + STOP_GRACE_S
        for worker in running:
            _end_group(worker.process, max(0.0, deadline - time.monotonic()))  # type: ignore[arg-type]
            if reason:
                print(f"stratus local: lambda {worker.label} stopped: {reason}", file=self.log)
        for worker in workers:
            if worker.process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    worker.process.wait(timeout=1)
            if worker.folder is not None:
                shutil.rmtree(worker.folder, ignore_errors=True)


def _timestamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime())


def _configure(configuration: dict[str, Any], request: dict[str, Any]) -> None:
    """Apply the settings of a CreateFunction or UpdateFunctionConfiguration request, checked as Lambda checks them."""
    for name in _UPDATABLE:
        if name in request:
            configuration[name] = request[name]
    timeout, memory = configuration.get("Timeout", 3), configuration.get("MemorySize", 128)
    if not 1 <= int(timeout) <= 900:
        raise _validation(timeout, "timeout", "Member must have value less than or equal to 900")
    if not 128 <= int(memory) <= 10240:
        raise _validation(memory, "memorySize", "Member must have value less than or equal to 10240")
    if "Environment" in request:
        variables = (request.get("Environment") or {}).get("Variables") or {}
        configuration.pop("Environment", None)
        if variables:
            configuration["Environment"] = {"Variables": {str(k): str(v) for k, v in variables.items()}}
    configuration["LastModified"] = _timestamp()
    configuration["RevisionId"] = str(uuid.uuid4())


def _set_code(function: _Function, code: dict[str, Any], package_type: str) -> None:
    """Record the new code (image URI or zip); only its digest matters here, which PublishVersion compares."""
    if package_type == "Image":
        uri = str(code["ImageUri"])
        digest = hashlib.sha256(uri.encode()).hexdigest()
        function.code = {"RepositoryType": "ECR", "ImageUri": uri, "ResolvedImageUri": f"{uri}@sha256:{digest}"}
    else:
        source = json.dumps({k: code.get(k) for k in ("ZipFile", "S3Bucket", "S3Key", "S3ObjectVersion")}, default=str)
        digest = hashlib.sha256(source.encode()).hexdigest()
        function.code = {"RepositoryType": "S3", "Location": ""}
    function.latest["CodeSha256"] = digest


def _alias_versions(alias: dict[str, Any]) -> set[str]:
    return {alias["FunctionVersion"], *((alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {})}


def _check_weights(function: _Function, version: str, weights: dict[str, Any]) -> None:
    if len(weights) > 1:
        raise _invalid("Number of Additional version weights cannot be greater than 1.")
    for extra, weight in weights.items():
        if extra == version:
            raise _invalid(
                f"Invalid function version {extra}. Function version {extra} is already included in "
                "routing configuration."
            )
        if extra == LATEST or version == LATEST:
            raise _invalid("$LATEST is not supported for an alias pointing to more than 1 version")
        function.configuration(str(extra))
        if not 0.0 <= float(weight) <= 1.0:
            raise _invalid(f"Invalid weight {weight} for version {extra}: it must be between 0.0 and 1.0")


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def _end_group(process: subprocess.Popen[bytes], grace_s: float = 0.0) -> None:
    """Wait up to ``grace_s`` for the worker to exit, then SIGKILL its process group and reap it."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace_s)
        return
    _signal_group(process, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


_FUNCTION = r"/2015-03-31/functions/(?P<FunctionName>[^/]+)"
_ALIAS_PATH = _FUNCTION + r"/aliases/(?P<Name>[^/]+)"
ROUTES: tuple[tuple[str, re.Pattern[str], str, int], ...] = tuple(
    (method, re.compile(pattern + "/?"), operation, status)
    for method, pattern, operation, status in (
        ("POST", r"/2015-03-31/functions", "create_function", 201),
        ("GET", _FUNCTION, "get_function", 200),
        ("DELETE", _FUNCTION, "delete_function", 204),
        ("GET", _FUNCTION + "/configuration", "get_function_configuration", 200),
        ("PUT", _FUNCTION + "/configuration", "update_function_configuration", 200),
        ("PUT", _FUNCTION + "/code", "update_function_code", 200),
        ("POST", _FUNCTION + "/versions", "publish_version", 201),
        ("GET", _FUNCTION + "/versions", "list_versions_by_function", 200),
        ("POST", _FUNCTION + "/aliases", "create_alias", 201),
        ("GET", _FUNCTION + "/aliases", "list_aliases", 200),
        ("GET", _ALIAS_PATH, "get_alias", 200),
        ("PUT", _ALIAS_PATH, "update_alias", 200),
        ("DELETE", _ALIAS_PATH, "delete_alias", 204),
        ("POST", _FUNCTION + "/invocations", "invoke", 200),
    )
)
"""Method and path (botocore's ``lambda`` model, 2015-03-31) -> method of :class:`LambdaEmulator`, success status."""


def _route(method: str, path: str) -> tuple[str, int, re.Match[str]]:
    for route_method, pattern, operation, status in ROUTES:
        match = pattern.fullmatch(path)
        if route_method == method and match is not None:
            return operation, status, match
    raise LambdaError(404, "UnknownOperationException", f"stratus local's Lambda does not implement {method} {path}")


class _LambdaHTTPServer(LocalHTTPServer):
    request_queue_size = 1024
    """Many invokes may open connections at once (socketserver's default backlog of 5 resets some)."""

    def __init__(self, address: tuple[str, int], emulator: LambdaEmulator) -> None:
        self.emulator = emulator
        super().__init__(address, _LambdaRequestHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that drops its connection (one that never read an answer's payload resets it when closed) is
        not an error of the emulator; anything else is printed as socketserver does."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _LambdaRequestHandler(BaseHTTPRequestHandler):
    """A REST-JSON request -> the emulator's method; errors as botocore's parser reads them (``x-amzn-ErrorType``
    and a JSON body with ``Type`` and ``message``)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _LambdaHTTPServer

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self._serve()

    do_POST = do_PUT = do_DELETE = do_GET  # noqa: N815 - the stdlib's names

    def _serve(self) -> None:
        emulator = self.server.emulator
        try:
            operation, status, request = self._parse()
            result = getattr(emulator, operation)(request)
            if isinstance(result, Invoked):
                self._send(result.status, result.payload, result.headers)
            else:
                self._answer(status, result)
        except LambdaError as exc:
            self._answer(exc.status, {"Type": "User", "message": exc.message}, error=exc.code)
        except (ValueError, TypeError, KeyError) as exc:
            self._answer(400, {"Type": "User", "message": str(exc)}, error="InvalidParameterValueException")
        except Exception:  # noqa: BLE001 - answered as AWS would, with the traceback on the stack's log
            traceback.print_exc(file=emulator.log)
            self._answer(
                500, {"Type": "Service", "message": "internal error of the Lambda emulator"}, "ServiceException"
            )

    def _parse(self) -> tuple[str, int, dict[str, Any]]:
        """The operation, its success status and its request: botocore's input members, from the path, the query
        string and the body (the raw payload for Invoke)."""
        body = self._read_body()
        path, _, query = self.path.partition("?")
        operation, status, match = _route(self.command, path)
        request: dict[str, Any] = dict(parse_qsl(query))
        if operation == "invoke":
            request.update(Payload=body, InvocationType=self.headers.get("X-Amz-Invocation-Type"))
        else:
            document = json.loads(body or b"{}")
            if not isinstance(document, dict):
                raise LambdaError(400, "InvalidRequestContentException", "the request body must be a JSON object")
            request.update(document)
        request.update({name: unquote(value) for name, value in match.groupdict().items()})
        return operation, status, request

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_READ_BYTES:
            self.close_connection = True  # the body stays on the wire
            raise LambdaError(
                413,
                "RequestTooLargeException",
                f"Request must be smaller than {MAX_PAYLOAD_BYTES} bytes for the InvokeFunction operation",
            )
        return self.rfile.read(length)

    def _answer(self, status: int, document: dict[str, Any], error: str | None = None) -> None:
        headers = {"Content-Type": "application/json"}
        if error is not None:
            headers["x-amzn-ErrorType"] = error
        self._send(status, json.dumps(document).encode() if status != 204 else b"", headers)

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        headers = {"Content-Type": "application/json", "x-amzn-RequestId": str(uuid.uuid4()), **headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        """Quiet: the deployments' own requests are what the stack logs."""
