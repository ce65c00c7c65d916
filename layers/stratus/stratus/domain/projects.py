"""MLflow Projects run by Stratus (``mlflow run --backend stratus``): the project run record, its state machine, the
backend settings a submission may carry, and why a job ended (docs/projects.md).

A project run follows one MLflow run. The client creates that run with MLflow's own project tags and params, uploads
the project and submits it; Stratus starts a job (AWS Batch on Fargate; worker processes under ``stratus local``) and
ends the MLflow run when the job ends, whatever the client does meanwhile.

    SUBMITTED -> QUEUED -> STARTING -> RUNNING -> SUCCEEDED | FAILED | CANCELLED
                        (CANCELLING: asked to stop, until the job's end arrives)

Job events may arrive late, twice or out of order: a state only moves forward, and an ended run never changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from stratus.errors import InvalidParameterValue

SUBMITTED = "SUBMITTED"
QUEUED = "QUEUED"
STARTING = "STARTING"
RUNNING = "RUNNING"
CANCELLING = "CANCELLING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
CANCELLED = "CANCELLED"
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})

_RANK = {SUBMITTED: 0, QUEUED: 1, STARTING: 2, RUNNING: 3, CANCELLING: 4, SUCCEEDED: 9, FAILED: 9, CANCELLED: 9}

# What the client's SubmittedRun reports (MLflow's RunStatus names)
RUN_STATUS = {
    SUBMITTED: "SCHEDULED",
    QUEUED: "SCHEDULED",
    STARTING: "SCHEDULED",
    RUNNING: "RUNNING",
    CANCELLING: "RUNNING",
    SUCCEEDED: "FINISHED",
    FAILED: "FAILED",
    CANCELLED: "KILLED",
}

# AWS Batch job statuses (the state-change events' ``detail.status``), as project states
JOB_STATES = {
    "SUBMITTED": QUEUED,
    "PENDING": QUEUED,
    "RUNNABLE": QUEUED,
    "STARTING": STARTING,
    "RUNNING": RUNNING,
    "SUCCEEDED": SUCCEEDED,
    "FAILED": FAILED,
}

ENV_MANAGERS = ("local", "virtualenv", "uv", "conda")

# Reasons Stratus gives TerminateJob/CancelJob, recognised again in the job's FAILED event
CANCEL_REASON = "Cancelled by Stratus"
CAPACITY_REASON = "Waited for capacity longer than max_wait"
AWS_TIMEOUT_REASON = "Job attempt duration exceeded timeout"

# MLflow puts these in every backend_config (mlflow/projects/__init__.py, _run); they mean nothing on Batch
MLFLOW_KEYS = frozenset(
    {"ENV_MANAGER", "SYNCHRONOUS", "DOCKER_ARGS", "STORAGE_DIR", "build_image", "docker_auth", "USE_CONDA"}
)
MLFLOW_KEY_PREFIX = "_mlflow"
STRATUS_KEYS = ("vcpu", "memory", "timeout", "max_wait", "environment")

# Fargate's vCPU and memory (MiB) combinations
FARGATE_MEMORY: dict[float, tuple[int, ...]] = {
    0.25: (512, 1024, 2048),
    0.5: tuple(range(1024, 4096 + 1, 1024)),
    1.0: tuple(range(2048, 8192 + 1, 1024)),
    2.0: tuple(range(4096, 16384 + 1, 1024)),
    4.0: tuple(range(8192, 30720 + 1, 1024)),
    8.0: tuple(range(16384, 61440 + 1, 4096)),
    16.0: tuple(range(32768, 122880 + 1, 8192)),
}
TIMEOUT_RANGE = (60, 14 * 24 * 3600)
MAX_WAIT_RANGE = (60, 24 * 3600)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_RESERVED_ENV_PREFIXES = ("MLFLOW_", "STRATUS_", "AWS_")
MAX_ENVIRONMENT = 50


@dataclass(frozen=True)
class ProjectResources:
    """What one job gets: Fargate vCPU and memory (MiB), a time limit and how long it may wait for capacity (s)."""

    vcpu: float = 1.0
    memory: int = 2048
    timeout: int = 3600
    max_wait: int = 3600

    def as_dict(self) -> dict[str, Any]:
        return {"vcpu": self.vcpu, "memory": self.memory, "timeout": self.timeout, "max_wait": self.max_wait}


@dataclass(frozen=True)
class BackendConfig:
    """A submission's ``backend_config``, checked: the job's resources and the user's extra environment."""

    resources: ProjectResources
    environment: dict[str, str] = field(default_factory=dict)
    env_manager: str | None = None  # MLflow's ENV_MANAGER, when it sent one


@dataclass
class ProjectRun:
    """The job side of one MLflow run submitted with the ``stratus`` backend."""

    run_id: str
    experiment_id: str
    package_uri: str
    entry_point: str
    parameters: dict[str, str]
    env_manager: str
    resources: ProjectResources
    submitted_at: int
    user: str = ""
    environment: dict[str, str] = field(default_factory=dict)
    docker_image: str | None = None
    state: str = SUBMITTED
    job_id: str | None = None
    started_at: int | None = None
    ended_at: int | None = None
    exit_code: int | None = None
    end_reason: str | None = None
    log_stream: str | None = None
    settled: bool = False  # the end is carried to the MLflow run (status, tags, log); until then it reports RUNNING
    revision: int = 0  # bumped on every save: concurrent writers (API and job events) never overwrite each other

    @property
    def ended(self) -> bool:
        return self.state in TERMINAL

    @property
    def run_status(self) -> str:
        if self.ended and not self.settled:
            return RUN_STATUS[RUNNING]
        return RUN_STATUS[self.state]


def moves_forward(current: str, new: str) -> bool:
    """Whether a job event may take a run from ``current`` to ``new`` (late or repeated events are dropped)."""
    if current in TERMINAL:
        return False
    if current == CANCELLING and new not in TERMINAL:
        return False
    return _RANK[new] > _RANK[current]


# Project packages: one presigned PUT up to this size, else a multipart upload in parts of at least this size
MULTIPART_BYTES = 100 * 1024 * 1024
MAX_PARTS = 10_000  # S3's limit
MAX_PACKAGE_BYTES = 5 * 1024**4  # S3's largest object


def package_parts(size_bytes: int | None) -> tuple[int, int]:
    """How a package of ``size_bytes`` is uploaded: ``(1, 0)`` for one PUT, else ``(parts, part_size)``."""
    if size_bytes is None or size_bytes <= MULTIPART_BYTES:
        return 1, 0
    if size_bytes > MAX_PACKAGE_BYTES:
        raise InvalidParameterValue(f"A project package may have at most {MAX_PACKAGE_BYTES} bytes (S3's limit).")
    mib = 1024 * 1024
    part_size = max(MULTIPART_BYTES, -(-size_bytes // MAX_PARTS // mib) * mib + mib)
    return -(-size_bytes // part_size), part_size


def job_name(run_id: str) -> str:
    return f"stratus-run-{run_id}"


def run_id_of_job(name: str) -> str | None:
    prefix = "stratus-run-"
    return name[len(prefix) :] if name.startswith(prefix) and len(name) > len(prefix) else None


# ---------------------------------------------------------------------------------------------- backend_config


def parse_backend_config(raw: Any, defaults: ProjectResources) -> BackendConfig:
    """Check a ``backend_config``: MLflow's own keys are accepted, Stratus's are validated, anything else is named
    in an error (so a typo like ``vpcu`` is never silently ignored)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidParameterValue("backend_config must be a JSON object.")
    unknown = sorted(k for k in raw if k not in STRATUS_KEYS and k not in MLFLOW_KEYS and not _mlflow_key(k))
    if unknown:
        raise InvalidParameterValue(
            f"Unknown backend_config key{'s' if len(unknown) > 1 else ''} {', '.join(repr(k) for k in unknown)} for "
            f"the stratus backend; known keys: {', '.join(STRATUS_KEYS)} (and MLflow's own: "
            f"{', '.join(sorted(MLFLOW_KEYS))})."
        )
    vcpu = _vcpu(raw.get("vcpu"), defaults.vcpu)
    memory = _memory(raw.get("memory"), vcpu, defaults)
    timeout = _seconds("timeout", raw.get("timeout"), defaults.timeout, TIMEOUT_RANGE)
    max_wait = _seconds("max_wait", raw.get("max_wait"), defaults.max_wait, MAX_WAIT_RANGE)
    env_manager = raw.get("ENV_MANAGER")
    if env_manager is not None and env_manager not in ENV_MANAGERS:
        raise InvalidParameterValue(f"ENV_MANAGER must be one of {', '.join(ENV_MANAGERS)}; got {env_manager!r}.")
    return BackendConfig(
        ProjectResources(vcpu, memory, timeout, max_wait), _environment(raw.get("environment")), env_manager
    )


def _mlflow_key(key: Any) -> bool:
    return isinstance(key, str) and key.startswith(MLFLOW_KEY_PREFIX)


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidParameterValue(f"backend_config {name} must be a number; got {value!r}.")
    try:
        return float(value)
    except ValueError:
        raise InvalidParameterValue(f"backend_config {name} must be a number; got {value!r}.") from None


def _vcpu(value: Any, default: float) -> float:
    if value is None:
        return default
    vcpu = _number("vcpu", value)
    if vcpu not in FARGATE_MEMORY:
        allowed = ", ".join(f"{v:g}" for v in FARGATE_MEMORY)
        raise InvalidParameterValue(f"backend_config vcpu must be one of Fargate's: {allowed}; got {value!r}.")
    return vcpu


def _memory(value: Any, vcpu: float, defaults: ProjectResources) -> int:
    allowed = FARGATE_MEMORY[vcpu]
    if value is None:
        # the deployment's default when it fits this vcpu, else the smallest this vcpu allows
        return defaults.memory if defaults.memory in allowed else allowed[0]
    memory = _number("memory", value)
    if memory != int(memory) or int(memory) not in allowed:
        raise InvalidParameterValue(
            f"backend_config memory (MiB) must be one Fargate allows with {vcpu:g} vCPU: {allowed[0]} to "
            f"{allowed[-1]} in steps of {allowed[1] - allowed[0]}; got {value!r}."
        )
    return int(memory)


def _seconds(name: str, value: Any, default: int, bounds: tuple[int, int]) -> int:
    if value is None:
        return default
    seconds = _number(name, value)
    low, high = bounds
    if seconds != int(seconds) or not low <= seconds <= high:
        raise InvalidParameterValue(
            f"backend_config {name} must be a whole number of seconds from {low} to {high}; got {value!r}."
        )
    return int(seconds)


def _environment(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidParameterValue("backend_config environment must be an object of names to string values.")
    if len(value) > MAX_ENVIRONMENT:
        raise InvalidParameterValue(f"backend_config environment may set at most {MAX_ENVIRONMENT} variables.")
    for name, item in value.items():
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            raise InvalidParameterValue(f"backend_config environment: {name!r} is not a valid variable name.")
        if name.upper().startswith(_RESERVED_ENV_PREFIXES):
            raise InvalidParameterValue(
                f"backend_config environment: {name!r} is reserved (names starting with "
                f"{', '.join(_RESERVED_ENV_PREFIXES)} are set by Stratus)."
            )
        if not isinstance(item, str):
            raise InvalidParameterValue(f"backend_config environment: the value of {name!r} must be a string.")
    return dict(value)


# ---------------------------------------------------------------------------------------------- why a job ended


@dataclass(frozen=True)
class JobEnd:
    """How a job ended, read from its last state-change event."""

    state: str  # SUCCEEDED, FAILED or CANCELLED
    reason: str
    exit_code: int | None


def job_end(detail: dict[str, Any], run: ProjectRun) -> JobEnd:
    """Why the job of ``run`` ended, from a SUCCEEDED or FAILED ``Batch Job State Change`` detail: cancelled,
    stuck waiting for capacity, timed out, out of memory, or its exit code."""
    container = _last_container(detail)
    exit_code = container.get("exitCode")
    exit_code = int(exit_code) if isinstance(exit_code, int | float) and not isinstance(exit_code, bool) else None
    status_reason = str(detail.get("statusReason") or "")
    container_reason = str(container.get("reason") or "")
    if detail.get("status") == "SUCCEEDED":
        return JobEnd(SUCCEEDED, "succeeded", exit_code if exit_code is not None else 0)
    if status_reason.startswith(CAPACITY_REASON):
        return JobEnd(FAILED, f"waited for capacity longer than max_wait ({run.resources.max_wait} s)", exit_code)
    if status_reason.startswith(CANCEL_REASON) or run.state == CANCELLING:
        return JobEnd(CANCELLED, status_reason or "cancelled", exit_code)
    if AWS_TIMEOUT_REASON in status_reason:
        return JobEnd(FAILED, f"timed out after {run.resources.timeout} s", exit_code)
    if "OutOfMemory" in container_reason:
        return JobEnd(FAILED, f"out of memory ({run.resources.memory} MiB)", exit_code)
    if exit_code is not None:
        return JobEnd(FAILED, f"exit code {exit_code}", exit_code)
    return JobEnd(FAILED, container_reason or status_reason or "the job failed", exit_code)


def _last_container(detail: dict[str, Any]) -> dict[str, Any]:
    container = detail.get("container")
    if isinstance(container, dict) and container:
        return container
    attempts = detail.get("attempts")
    if isinstance(attempts, list) and attempts and isinstance(attempts[-1], dict):
        last = attempts[-1].get("container")
        if isinstance(last, dict):
            return last
    return {}


def log_stream_of(detail: dict[str, Any]) -> str | None:
    stream = _last_container(detail).get("logStreamName")
    return str(stream) if stream else None
