"""``LocalStack``: the whole local deployment (backends, tables, buckets, handlers, HTTP API) behind one object.

    with LocalStack(project_dir, ephemeral=True) as stack:
        mlflow.set_tracking_uri(stack.base_url)
        ...

The handlers run in this process, so the stack sets the environment they read (AWS endpoints, fake credentials, and
each function's Environment from template.yaml) in ``os.environ`` and puts it back when it stops.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import boto3

from stratus_local.auth import LocalAuth
from stratus_local.backends import (
    Backends,
    Endpoints,
    S3Snapshot,
    create_bucket_notifications,
    create_buckets,
    create_event_buses,
    create_kms_aliases,
    create_queues,
    create_tables,
)
from stratus_local.batch import MAX_RUNNING_JOBS, BatchEmulator
from stratus_local.codebuild import CodeBuildEmulator, local_base_image, serving_packages
from stratus_local.event_sources import QueuePoller, RulePoller, SchedulePoller, StreamPoller
from stratus_local.gateway import Gateway
from stratus_local.lambda_api import LambdaEmulator
from stratus_local.lambdas import FunctionSet
from stratus_local.routes import Router
from stratus_local.server import GatewayHTTPServer, serve_in_thread
from stratus_local.template import (
    DEFAULT_REGION,
    ProjectTemplate,
    TableSpec,
    parse_project,
    samconfig_parameter_overrides,
)
from stratus_local.ui import UiGateway

_REMOVED_ENV = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
"""A real session token would pair with the fake key; the last one would make boto3 ignore our endpoints."""
_RESERVED_PREFIXES = ("AWS_",)
AUTOSAVE_SECONDS = 5.0
"""How often ``stratus local`` copies new S3 objects (artifacts) to its state folder."""
_FROM_USER = (
    "MLFLOW_WEBHOOK_ALLOWED_SCHEMES",
    "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS",
    "STRATUS_PROJECTION_MIN_RUNS",
    "STRATUS_PROJECTION_PAGE_SHARE",
)
"""Variables a template sets but the user's environment overrides locally, as for ``mlflow server`` (and how big an
experiment must be before searches use its projection: docs/local.md)."""
_LOCAL_DEFAULTS = {"POWERTOOLS_METRICS_DISABLED": "true"}
"""Set here unless the user's environment sets them. Business metrics are CloudWatch EMF lines on a function's
stdout, which is the terminal here (and the pipe a test reads the exports from); POWERTOOLS_METRICS_DISABLED=false
shows them."""
_LABELS = frozenset({"POWERTOOLS_SERVICE_NAME"})
_RUNNING_ENDPOINTS: set[str] = set()
"""``AWS_ENDPOINT_URL`` of each stack running in this process: the environment is the process's, so a second stack
would read the first one's endpoints as an external AWS and share its tables and buckets."""
"""Variables that only label logs and metrics: functions may differ on them without changing behaviour."""
"""Lambda sets these itself; a template cannot."""
LOCAL_RUNNER_IMAGE = "stratus-runner:local"
"""The ProjectRunnerImage parameter locally: set, so project runs are enabled; the emulated Batch ignores images."""
RULE_DRAIN_SECONDS = 5.0
"""How long stopping waits for the end events of the project jobs it killed to reach their function."""
SERVING_ENVS = ("local", "virtualenv")
"""Where deployments' workers run: ``local``, in this Python; ``virtualenv``, in one the local CodeBuild builds from
the model's requirements (docs/deployments.md)."""


def find_project_dir(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: cwd) holding template.yaml, else this repository."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "template.yaml").is_file():
            return folder
    return Path(__file__).resolve().parents[3]


def _has_stratus_keys(table: TableSpec) -> bool:
    """Stratus's table (``pk`` and ``sk``), whose migrations ``stratus local`` runs; a test project's is its own."""
    keys = [(key["AttributeName"], key["KeyType"]) for key in table.create_args["KeySchema"]]
    return keys == [("pk", "HASH"), ("sk", "RANGE")]


def _upgrade_table() -> list[str]:
    """Run the table's pending migrations, as the SchemaUpgrade custom resource does on a deploy (docs/operations.md
    "Upgrades"): a state folder written by an older release is upgraded before the first request."""
    from stratus.config import Settings  # the shipped package, imported when the stack starts (not at import)
    from stratus.store.dynamodb import bind_table
    from stratus.store.dynamodb.migrations import upgrade_table

    settings = Settings.from_env()
    bind_table(settings.table_name, settings.region)
    result = upgrade_table()
    if not result.steps:
        return []
    return [f"upgraded the table to schema version {result.version} ({result.steps} step(s))"]


class LocalStack:
    """API Gateway + Lambda + DynamoDB + S3 for one SAM project, on loopback."""

    def __init__(  # noqa: PLR0913 - the CLI's options, all keyword-only
        self,
        project_dir: Path | str,
        *,
        state_dir: Path | str | None = None,
        ephemeral: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        log: TextIO = sys.stderr,
        log_requests: bool = True,
        parameter_overrides: dict[str, str] | None = None,
        auth: LocalAuth | None = None,
        serving_env: str = "local",
    ) -> None:
        """``parameter_overrides`` go on top of samconfig.toml's ``local_start_api`` overrides. ``auth``: the
        credentials every request must carry (the stack is then AuthorizationType JWT); without it the API is open
        (AuthorizationType NONE) and callers pose as the local IAM user. ``serving_env``: ``virtualenv`` turns
        ``ServingImageBuilds`` on, so each deployment runs in a virtualenv built from its model's requirements by
        the local CodeBuild, with ``ServingImage`` naming the base packages it starts from."""
        if serving_env not in SERVING_ENVS:
            raise ValueError(f"serving_env must be one of {SERVING_ENVS}, not {serving_env!r}")
        self.project_dir = Path(project_dir).resolve()
        self.auth = auth
        self.serving_dir = self._find_serving_dir()
        self.base_packages = serving_packages(self.serving_dir) if serving_env == "virtualenv" else []
        builds = (
            {"ServingImageBuilds": "enabled", "ServingImage": local_base_image(self.base_packages)}
            if serving_env == "virtualenv"
            else {}
        )
        self.parameter_overrides = {
            "ProjectRunnerImage": LOCAL_RUNNER_IMAGE,
            **samconfig_parameter_overrides(self.project_dir),
            **builds,
            "AuthorizationType": "JWT" if auth else "NONE",
            **(parameter_overrides or {}),
        }
        self.ephemeral = ephemeral or state_dir is None
        self.state_dir = None if self.ephemeral else Path(state_dir).resolve()  # type: ignore[arg-type]
        self.host = host
        self.port = port
        self.log = log
        self.log_requests = log_requests
        self.template: ProjectTemplate | None = None
        self.endpoints: Endpoints | None = None
        self.functions: FunctionSet | None = None
        self.report: list[str] = []
        self.startup_seconds = 0.0
        self._backends: Backends | None = None
        self._server: GatewayHTTPServer | None = None
        self.gateway: Gateway | None = None
        """The API's gateway once started (behind the web UI's files): what benchmarks count invocations at."""
        self._ui_build: Path | None = None
        self._saved_env: dict[str, str | None] = {}
        self._snapshot: S3Snapshot | None = None
        self._snapshot_lock = threading.Lock()
        self._autosave_stop = threading.Event()
        self._autosave: threading.Thread | None = None
        self._s3: Any = None
        self._artifact_access = "direct"
        self._pollers: list[StreamPoller | RulePoller | QueuePoller] = []
        self._running_endpoint: str | None = None
        self._batch: BatchEmulator | None = None
        self._lambda: LambdaEmulator | None = None
        self._codebuild: CodeBuildEmulator | None = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the stack is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._server.port}"

    # -- lifecycle ----------------------------------------------------------------------------------------------

    def start(self) -> str:
        """Start everything; returns the base URL (``http://127.0.0.1:5000``)."""
        started = time.monotonic()
        if os.environ.get("AWS_ENDPOINT_URL") in _RUNNING_ENDPOINTS:
            raise RuntimeError(
                "another stratus local runs in this process and its AWS_ENDPOINT_URL is set: this one would use its "
                "tables and buckets; start it in a process of its own"
            )
        self.template = parse_project(self.project_dir, parameter_overrides=self.parameter_overrides)
        router = Router(self.template.routes)  # fails early on bad route keys
        self.report.extend(f"WARNING: {warning}" for warning in self.template.warnings)
        try:
            function_environment = self._function_environment(self.template)
            self._artifact_access = function_environment.get("STRATUS_ARTIFACT_ACCESS", "direct")
            self._backends = Backends(self.state_dir, self.log)
            self._set_environment(self._backends.start(), function_environment)
            # Import the handlers (a cold start) while the DynamoDB Local JVM boots; clients are made per request
            # or lazily, never at import time, so a fallback to moto below still reaches every handler.
            self.functions = FunctionSet(self.template.functions, self.log)
            failed = self.functions.load_all()
            self.endpoints = self._backends.wait_ready()
            self._set_environment(self.endpoints, function_environment)
            self._running_endpoint = self.endpoints.default
            _RUNNING_ENDPOINTS.add(self._running_endpoint)
            self.report.extend(self.endpoints.notes)
            self.report.extend(f"WARNING: {name} failed to import; its routes answer 500" for name in failed)
            self._create_resources(self.endpoints, self.template)
            self.gateway = gateway = Gateway(router, self.functions, self.log, auth=self.auth)
            ui = UiGateway(gateway)  # MLflow's web UI on the same port, as `mlflow server` serves it
            self._ui_build = ui.assets.build
            self._server = GatewayHTTPServer((self.host, self.port), ui, self.log if self.log_requests else None)
            # Where project jobs reach the API (the server puts it in their MLFLOW_TRACKING_URI); on AWS, the API's URL.
            self._apply_environment({"STRATUS_TRACKING_URI": self._local_url()})
            self._start_batch(self.endpoints)
            self._start_codebuild(self.endpoints, self.template)
            self._start_lambda()
            serve_in_thread(self._server)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self.base_url

    def stop(self) -> None:
        """Stop the server and every backend this stack started; restore the environment. Safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        self._stop_batch()
        self._stop_lambda()
        self._stop_codebuild()
        for poller in self._pollers:
            poller.stop()
        self._pollers = []
        self._autosave_stop.set()
        if self._autosave is not None:
            self._autosave.join(timeout=60)
            self._autosave = None
        if self._snapshot is not None and self._s3 is not None:
            try:
                with self._snapshot_lock:
                    count = self._snapshot.save(self._s3)
                if count:
                    print(f"stratus local: saved {count} S3 object(s) to {self._snapshot.folder}", file=self.log)
            except Exception as exc:  # noqa: BLE001 - stopping must go on
                print(f"stratus local: could not save S3 objects: {exc}", file=self.log)
            self._snapshot = None
        backends, self._backends = self._backends, None
        if backends is not None:
            backends.stop()
        if self._running_endpoint is not None:
            _RUNNING_ENDPOINTS.discard(self._running_endpoint)
            self._running_endpoint = None
        self._restore_environment()

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # -- steps --------------------------------------------------------------------------------------------------

    def _set_environment(self, endpoints: Endpoints, function_environment: dict[str, str]) -> None:
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
        values: dict[str, str | None] = {
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_ENDPOINT_URL": endpoints.default,
            "AWS_ENDPOINT_URL_DYNAMODB": endpoints.dynamodb,
            "AWS_ENDPOINT_URL_S3": endpoints.s3,
        }
        values.update(dict.fromkeys(_REMOVED_ENV))
        values.update(_LOCAL_DEFAULTS)
        values.update(function_environment)
        for name in (*_FROM_USER, *_LOCAL_DEFAULTS):  # the shell that starts stratus local wins, as with mlflow
            user_value = self._saved_env.get(name, os.environ.get(name))
            if user_value is not None:
                values[name] = user_value
        self._apply_environment(values)

    def _apply_environment(self, values: dict[str, str | None]) -> None:
        """Set (or, for None, remove) variables in this process, remembering their values to restore on stop."""
        for name, value in values.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def _function_environment(self, template: ProjectTemplate) -> dict[str, str]:
        """The union of every function's variables; all functions share this process, so they must agree."""
        merged: dict[str, tuple[str, str]] = {}
        for function in template.functions.values():
            for name, value in function.environment.items():
                if name.startswith(_RESERVED_PREFIXES):
                    continue
                if name in merged and merged[name][1] != value and name not in _LABELS:
                    other, other_value = merged[name]
                    self.report.append(
                        f"WARNING: {other} sets {name}={other_value!r} but {function.logical_id} sets {value!r}; "
                        f"all functions share one process here, so {other}'s value is used"
                    )
                    continue
                merged[name] = (function.logical_id, value)
        return {name: value for name, (_, value) in merged.items()}

    def _restore_environment(self) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env = {}

    def _create_resources(self, endpoints: Endpoints, template: ProjectTemplate) -> None:
        session = boto3.session.Session()
        dynamodb = session.client("dynamodb", endpoint_url=endpoints.dynamodb)
        self._s3 = session.client("s3", endpoint_url=endpoints.s3)
        self.report.extend(create_tables(dynamodb, template.tables, self.log))
        if any(_has_stratus_keys(table) for table in template.tables):  # not another SAM project's table
            self.report.extend(_upgrade_table())
        if self.state_dir is not None and endpoints.s3_kind == "moto":
            snapshot = S3Snapshot(self.state_dir / "s3")
            restored = snapshot.restore(self._s3)
            self._snapshot = snapshot  # only now: saving after a half-done restore would drop the objects not put back
            self._autosave_stop.clear()
            self._autosave = threading.Thread(target=self._autosave_loop, name="stratus-s3-autosave", daemon=True)
            self._autosave.start()
            if restored:
                self.report.append(f"restored {restored} S3 object(s) from {snapshot.folder}")
        self.report.extend(create_buckets(self._s3, template.buckets))
        events = session.client("events", endpoint_url=endpoints.default)
        self.report.extend(create_event_buses(events, template.event_buses))
        kms = session.client("kms", endpoint_url=endpoints.default)
        self.report.extend(create_kms_aliases(kms, template.kms_aliases))
        sqs = session.client("sqs", endpoint_url=endpoints.default)
        self.report.extend(create_queues(sqs, template.queues))
        self.report.extend(create_bucket_notifications(self._s3, sqs, template.buckets))
        self._start_event_sources(endpoints, template)

    def _start_event_sources(self, endpoints: Endpoints, template: ProjectTemplate) -> None:
        """Run each function's DynamoDB stream mappings, as Lambda's event source mappings would."""
        if self.functions is None:
            return
        for function in template.functions.values():
            for source in function.stream_sources:
                if endpoints.dynamodb_kind == "moto":
                    self.report.append(
                        f"WARNING: {function.logical_id} is fed by the stream of {source.table}, which moto does "
                        "not implement; it gets no records (DynamoDB Local has streams)"
                    )
                    continue
                poller = StreamPoller(
                    function.logical_id, source, self.functions, endpoints.dynamodb, os.environ["AWS_REGION"], self.log
                )
                poller.start()
                self._pollers.append(poller)
                self.report.append(f"{function.logical_id} reads the stream of {source.table}")
            for queue in function.queue_sources:
                queue_poller = QueuePoller(
                    function.logical_id, queue, self.functions, endpoints.default, os.environ["AWS_REGION"], self.log
                )
                queue_poller.start()
                self._pollers.append(queue_poller)
                self.report.append(f"{function.logical_id} reads the queue {queue.queue}")
            for schedule in function.schedule_sources:
                schedule_poller = SchedulePoller(
                    function.logical_id, schedule, self.functions, os.environ["AWS_REGION"], self.log
                )
                schedule_poller.start()
                self._pollers.append(schedule_poller)
                self.report.append(f"{function.logical_id} runs every {schedule.every_s:g} s ({schedule.name})")
            for rule in function.rule_sources:
                rule_poller = RulePoller(
                    function.logical_id, rule, self.functions, endpoints.default, os.environ["AWS_REGION"], self.log
                )
                rule_poller.start()
                self._pollers.append(rule_poller)
                self.report.append(f"{function.logical_id} receives the events of rule {rule.name} on {rule.bus}")

    def _start_batch(self, endpoints: Endpoints) -> None:
        """AWS Batch for the project functions: each job runs here as a process of the runner (docs/local.md)."""
        runner_dir = self.project_dir / "runner"
        if not (runner_dir / "stratus_runner").is_dir():  # a project of its own: this repository's runner
            runner_dir = Path(__file__).resolve().parents[3] / "runner"
        self._batch = BatchEmulator(
            aws_endpoint=endpoints.default,
            runner_dir=runner_dir,
            region=os.environ["AWS_REGION"],
            extra_environment=self._job_credentials(),
            log=self.log,
        )
        self._apply_environment({"AWS_ENDPOINT_URL_BATCH": self._batch.start()})
        definition = os.environ.get("STRATUS_PROJECT_JOB_DEFINITION", "")
        if definition:  # the template's job definition, which the server submits to and copies for docker_env images
            container = {
                "image": LOCAL_RUNNER_IMAGE,
                "command": ["python", "-m", "stratus_runner"],
                "environment": [{"name": "MLFLOW_TRACKING_URI", "value": self._local_url()}],
            }
            self._batch.register_job_definition(
                {
                    "jobDefinitionName": definition.rsplit("/", 1)[-1].partition(":")[0],
                    "type": "container",
                    "containerProperties": container,
                    "retryStrategy": {"attempts": 1},
                    "platformCapabilities": ["FARGATE"],
                }
            )
        self.report.append(
            f"Batch: emulated at {self._batch.endpoint}; project jobs run here with runner/ "
            f"({MAX_RUNNING_JOBS} at a time; job images are ignored)"
        )
        if importlib.util.find_spec("mlflow") is None:
            self.report.append("WARNING: project runs need mlflow in this Python: pip install 'stratus[ui]'")

    def _job_credentials(self) -> dict[str, str]:
        """What a project job's MLflow client needs to reach this stack, beside the variables the server gives it:
        the emulated S3 for direct artifacts, and a credential when the API requires one (on AWS, SigV4)."""
        environment = self.client_environment()
        if self.auth is not None and self.auth.token:
            environment["MLFLOW_TRACKING_TOKEN"] = self.auth.token
        elif self.auth is not None and self.auth.users:
            user, password = next(iter(self.auth.users.items()))
            environment.update({"MLFLOW_TRACKING_USERNAME": user, "MLFLOW_TRACKING_PASSWORD": password})
        return environment

    def _stop_batch(self) -> None:
        """Stop the project jobs, then let their last events reach the function that ends their runs, so no run is
        left RUNNING in a state directory."""
        batch, self._batch = self._batch, None
        if batch is None or not batch.stop():
            return
        for poller in self._pollers:
            if isinstance(poller, RulePoller):
                poller.drain(RULE_DRAIN_SECONDS)

    def _find_serving_dir(self) -> Path:
        serving_dir = self.project_dir / "serving"
        if not (serving_dir / "stratus_serving").is_dir():  # a project of its own: this repository's serving code
            serving_dir = Path(__file__).resolve().parents[3] / "serving"
        return serving_dir

    def _start_codebuild(self, endpoints: Endpoints, template: ProjectTemplate) -> None:
        """CodeBuild and ECR for the serving images, when the template has them (``ServingImageBuilds=enabled``):
        each image is a virtualenv of this machine (docs/local.md)."""
        if not template.build_projects and not template.image_repositories:
            return
        self._codebuild = CodeBuildEmulator(
            aws_endpoint=endpoints.default,
            s3_endpoint=endpoints.s3,
            images_dir=None if self.state_dir is None else self.state_dir / "serving-images",
            base_packages=self.base_packages or serving_packages(self.serving_dir),
            region=os.environ["AWS_REGION"],
            log=self.log,
        )
        endpoint = self._codebuild.start()
        self._apply_environment({"AWS_ENDPOINT_URL_CODEBUILD": endpoint, "AWS_ENDPOINT_URL_ECR": endpoint})
        for name in template.image_repositories:
            self._codebuild.create_repository({"repositoryName": name, "imageTagMutability": "IMMUTABLE"})
        for project in template.build_projects:
            self._codebuild.create_project(project)
        self.report.append(
            f"CodeBuild and ECR: emulated at {endpoint}; serving images are virtualenvs in "
            f"{self._codebuild.images_dir} (serving/requirements.txt and boto3, then the model's requirements; one "
            "build at a time)"
        )

    def _stop_codebuild(self) -> None:
        codebuild, self._codebuild = self._codebuild, None
        if codebuild is not None:
            codebuild.stop()

    def _start_lambda(self) -> None:
        """AWS Lambda for the deployments' serving functions: each version runs here as a worker process of
        serving/ (docs/local.md)."""
        self._lambda = LambdaEmulator(
            serving_dir=self.serving_dir,
            region=os.environ["AWS_REGION"],
            extra_environment={"MLFLOW_TRACKING_URI": self._local_url(), **self._job_credentials()},
            image_interpreter=self._codebuild.interpreter if self._codebuild is not None else None,
            log=self.log,
        )
        self._apply_environment({"AWS_ENDPOINT_URL_LAMBDA": self._lambda.start()})
        where = (
            "in the virtualenv of their image (built here) or this Python"
            if self._codebuild is not None
            else "with this Python (function images are ignored)"
        )
        self.report.append(
            f"Lambda: emulated at {self._lambda.endpoint}; deployments' functions run here as worker processes "
            f"of serving/, {where}"
        )
        if importlib.util.find_spec("mlflow") is None:
            self.report.append("WARNING: deployments need mlflow in this Python: pip install 'stratus[ui]'")

    def _stop_lambda(self) -> None:
        lambda_api, self._lambda = self._lambda, None
        if lambda_api is not None:
            lambda_api.stop()

    def _local_url(self) -> str:
        """The base URL as a process of this machine reaches it (a wildcard address is not one to connect to)."""
        if self._server is None:
            raise RuntimeError("the stack is not started")
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host  # noqa: S104 - compared, not bound
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self._server.port}"

    def _autosave_loop(self) -> None:
        """Copy new and changed S3 objects to the state folder every few seconds (unchanged ones are skipped by
        ETag), so a killed process loses at most the artifacts of the last interval."""
        while not self._autosave_stop.wait(AUTOSAVE_SECONDS):
            snapshot, s3 = self._snapshot, self._s3
            if snapshot is None or s3 is None:
                return
            try:
                with self._snapshot_lock:
                    snapshot.save(s3)
            except Exception as exc:  # noqa: BLE001 - keep serving; the save at stop tries again
                print(f"stratus local: could not save S3 objects: {exc}", file=self.log)

    # -- what to print ------------------------------------------------------------------------------------------

    @property
    def artifact_access(self) -> str:
        """``proxied`` or ``direct``, as the functions were configured from the template."""
        if self.template is None:
            raise RuntimeError("the stack is not started")
        return self._artifact_access

    def client_environment(self) -> dict[str, str]:
        """What an mlflow client needs besides MLFLOW_TRACKING_URI: with direct artifacts it writes the emulated S3
        itself, so it needs its endpoint and (fake) credentials."""
        if self.endpoints is None or self.artifact_access != "direct":
            return {}
        return {
            "MLFLOW_S3_ENDPOINT_URL": self.endpoints.s3,
            "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "local"),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
            "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", DEFAULT_REGION),
        }

    def summary(self) -> str:
        """What a user needs at start-up, in a few lines: where to point the client and the browser, where state is
        kept, how long it took. The rest is in :meth:`banner` (``stratus local --verbose``)."""
        if self.template is None or self.endpoints is None:
            raise RuntimeError("the stack is not started")
        ui = f"web UI at {self.base_url}/" if self._ui_build else "no web UI (pip install 'stratus[ui]')"
        lines = [f"Stratus is serving at {self.base_url} ({ui})", f"  State: {self._state_line()}"]
        if self._codebuild is not None:
            lines.append(
                f"  Deployments: each in a virtualenv of its model's requirements ({self._codebuild.images_dir})"
            )
        lines.extend(f"  {line}" for line in self.report if line.lower().startswith(("warning", "could not")))
        lines.append(f"  Started in {self.startup_seconds:.1f} s. Every route and emulated service: --verbose")
        return "\n".join(lines)

    def _state_line(self) -> str:
        assert self.endpoints is not None
        if self.endpoints.s3_kind == "AWS_ENDPOINT_URL":
            return "kept by the service at AWS_ENDPOINT_URL"
        if self.ephemeral:
            return "in memory only (--ephemeral); nothing is kept when this stops"
        if self.endpoints.s3_kind == "moto":
            return (
                f"{self.state_dir} (DynamoDB as written; S3 objects copied there every {AUTOSAVE_SECONDS:.0f} s and "
                "on stop)"
            )
        return str(self.state_dir)

    def banner(self) -> str:
        """A full account of what runs where (``stratus local --verbose``)."""
        if self.template is None or self.endpoints is None:
            raise RuntimeError("the stack is not started")
        lines = [f"stratus local: {self.template.path}"]
        for function in self.template.functions.values():
            keys = ", ".join(
                [route.route_key for route in function.routes]
                + [f"stream of {source.table}" for source in function.stream_sources]
                + [f"rule {rule.name}" for rule in function.rule_sources]
                + [f"queue {queue.queue}" for queue in function.queue_sources]
            )
            lines.append(f"  {function.logical_id} ({function.code_dir.name}/{function.handler}): {keys}")
        names = [table.name for table in self.template.tables] or ["none"]
        lines.append(
            f"  DynamoDB: {self.endpoints.dynamodb_kind} at {self.endpoints.dynamodb}; tables: {', '.join(names)}"
        )
        buckets = [bucket.name for bucket in self.template.buckets] or ["none"]
        lines.append(f"  S3: {self.endpoints.s3_kind} at {self.endpoints.s3}; buckets: {', '.join(buckets)}")
        lines.append(f"  Artifacts: {self.artifact_access} (choose with --artifacts proxied|direct)")
        lines.append(
            f"  Web UI: {self.base_url}/ (MLflow's, from {self._ui_build})"
            if self._ui_build
            else "  Web UI: not available (install mlflow: pip install 'stratus[ui]')"
        )
        lines.append(f"  State: {self._state_line()}")
        lines.extend(f"  {line}" for line in self.report)
        lines.append(f"  Started in {self.startup_seconds:.1f} s")
        return "\n".join(lines)
