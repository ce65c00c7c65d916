"""Model deployments (``get_deploy_client("stratus")``; docs/deployments.md): the deployment record, its settings,
and the rollout that moves it from one model version to the next.

A deployment serves one model through MLflow's scoring protocol from a function of its own (a Lambda function from a
container image on AWS; a worker process under ``stratus local``). The function's ``live`` alias is what answers;
each model version it serves is a published function version. A deployment made from ``models:/<name>@<alias>``
follows the alias: each move starts a rollout.

    rollout: RESOLVED -> BUILDING (only when no image has the model's requirements yet) -> DEPLOYED (a function
             version is published) -> CANARY (only with canary_percent) -> done: SUCCEEDED | FAILED | ROLLED_BACK

The deployment's ``state`` is what a user checks: PENDING (nothing serves yet), UPDATING (a rollout is under way;
the previous version serves), READY (the live alias answers), FAILED (nothing serves: the first rollout failed).
A failed rollout keeps the previous version serving: the deployment stays READY, with the reason in ``message`` and
in ``last_rollout``.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from stratus.errors import InvalidParameterValue

PENDING = "PENDING"
UPDATING = "UPDATING"
READY = "READY"
FAILED = "FAILED"
STATES = (PENDING, UPDATING, READY, FAILED)

# Rollout steps, in order
RESOLVED = "RESOLVED"
BUILDING = "BUILDING"
DEPLOYED = "DEPLOYED"
CANARY = "CANARY"
# Rollout outcomes
SUCCEEDED = "SUCCEEDED"
ROLLED_BACK = "ROLLED_BACK"
OUTCOMES = (SUCCEEDED, FAILED, ROLLED_BACK)

FLAVOR = "python_function"
LIVE_ALIAS = "live"
"""The function alias that answers a deployment's requests; each rollout moves it."""

MODEL_ID_PATTERN = re.compile(r"^m-[0-9a-f]{32}$")
MAX_EXAMPLE_BYTES = 6 * 1024 * 1024 - 64 * 1024
"""The largest serving input example a smoke test sends: under Lambda's 6 MB request payload with the event around."""
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
MAX_FUNCTION_NAME = 64  # Lambda's limit

# Why a rollout started (history and events)
REASON_CREATED = "created"
REASON_UPDATED = "updated"
REASON_ALIAS_MOVED = "alias moved"
REASON_FUNCTION_MISSING = "function missing"


@dataclass(frozen=True)
class DeploymentConfig:
    """What ``config`` may set (``create_deployment(..., config={...})``); unknown keys are refused by name."""

    memory_mb: int = 2048
    timeout_seconds: int = 30
    canary_percent: int = 0
    canary_seconds: int = 300
    canary_max_errors: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "memory_mb": self.memory_mb,
            "timeout_seconds": self.timeout_seconds,
            "canary_percent": self.canary_percent,
            "canary_seconds": self.canary_seconds,
            "canary_max_errors": self.canary_max_errors,
        }


CONFIG_BOUNDS: dict[str, tuple[int, int]] = {
    "memory_mb": (512, 10240),  # Lambda's memory range, from what a pyfunc model needs to load
    "timeout_seconds": (1, 900),  # Lambda's; requests through API Gateway end at its ~30 s
    "canary_percent": (0, 50),
    "canary_seconds": (10, 3600),
    "canary_max_errors": (0, 1000),
}


def parse_config(raw: Any, base: DeploymentConfig) -> DeploymentConfig:
    """``base`` with the keys of ``raw`` (the plugin's ``config`` dict: values may be strings, as the CLI's ``-C
    key=value`` sends them); INVALID_PARAMETER_VALUE naming an unknown key or a value out of its range."""
    if raw is None:
        return base
    if not isinstance(raw, dict):
        raise InvalidParameterValue("Deployment config must be an object of settings")
    values = base.as_dict()
    for key, value in raw.items():
        if key not in CONFIG_BOUNDS:
            raise InvalidParameterValue(
                f"Unknown deployment config key '{key}'. Known keys: {', '.join(sorted(CONFIG_BOUNDS))}"
            )
        values[key] = _bounded(key, value)
    return DeploymentConfig(**values)


def _bounded(key: str, value: Any) -> int:
    low, high = CONFIG_BOUNDS[key]
    try:
        number = int(str(value).strip()) if not isinstance(value, bool) else None
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        raise InvalidParameterValue(
            f"Deployment config '{key}' must be a whole number from {low} to {high}, got {value!r}"
        )
    return number


def is_model_id(text: str) -> bool:
    return bool(MODEL_ID_PATTERN.match(text))


def scoring_event(method: str, path: str, content_type: str | None, body: bytes) -> dict[str, Any]:
    """An HTTP API (payload 2.0) event for a serving function: how the API passes a request on, and how a smoke
    test sends the model's serving input example."""
    return {
        "version": "2.0",
        "rawPath": path,
        "requestContext": {"http": {"method": method, "path": path}},
        "headers": {"content-type": content_type} if content_type else {},
        "body": base64.b64encode(body).decode() if body else "",
        "isBase64Encoded": bool(body),
    }


def check_name(name: Any, function_prefix: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise InvalidParameterValue(
            f"Invalid deployment name {name!r}: use 1 to 40 letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    if len(function_prefix) + len(name) > MAX_FUNCTION_NAME:
        raise InvalidParameterValue(
            f"Deployment name '{name}' is too long for this stack: its function name "
            f"'{function_prefix}{name}' would exceed Lambda's {MAX_FUNCTION_NAME} characters"
        )
    return name


def check_flavor(flavor: str | None) -> str:
    if flavor not in (None, "", FLAVOR):
        raise InvalidParameterValue(
            f"Flavor '{flavor}' is not supported by the stratus target: deployments serve '{FLAVOR}' models"
        )
    return FLAVOR


@dataclass(frozen=True)
class ModelTarget:
    """One model, resolved from a model URI: what a rollout serves."""

    model_uri: str  # as the user gave it
    source: str  # where the model's files are (what the serving function loads)
    model_name: str | None = None
    model_version: str | None = None
    run_id: str | None = None
    model_id: str | None = None


@dataclass(frozen=True)
class Served:
    """What the live alias answers with."""

    model_name: str | None
    model_version: str | None
    run_id: str | None
    model_id: str | None
    source: str
    function_version: str
    image: str
    since: int  # ms


@dataclass(frozen=True)
class Rollout:
    """A move to ``target``, under way."""

    id: str
    target: ModelTarget
    reason: str
    step: str
    started_at: int
    updated_at: int
    image_key: str | None = None
    image: str | None = None
    build_id: str | None = None
    function_version: str | None = None
    canary_until: int | None = None
    canary_errors: int = 0
    actor: str | None = None


@dataclass(frozen=True)
class RolloutEnd:
    """How the last rollout ended."""

    id: str
    outcome: str  # SUCCEEDED | FAILED | ROLLED_BACK
    reason: str  # why it started
    model_version: str | None
    run_id: str | None
    message: str
    ended_at: int


@dataclass(frozen=True)
class Deployment:
    name: str
    model_uri: str
    config: DeploymentConfig
    created_at: int
    updated_at: int
    follows: tuple[str, str] | None = None  # (registered model, alias) when made from models:/<name>@<alias>
    state: str = PENDING
    message: str = ""
    served: Served | None = None
    rollout: Rollout | None = None
    last_rollout: RolloutEnd | None = None
    creator: str | None = None
    revision: int = 0
    flavor: str = FLAVOR

    def function_name(self, prefix: str) -> str:
        return f"{prefix}{self.name}"


@dataclass(frozen=True)
class HistoryEntry:
    """One switch of what the live alias serves (or a rollout that did not switch), for ``history``."""

    time: int
    rollout_id: str
    outcome: str  # SUCCEEDED | FAILED | ROLLED_BACK | CANARY_STARTED
    reason: str
    model_version: str | None
    run_id: str | None
    function_version: str | None
    previous_model_version: str | None
    message: str = ""
    actor: str | None = None


CANARY_STARTED = "CANARY_STARTED"


def new_rollout(target: ModelTarget, reason: str, now: int, actor: str | None) -> Rollout:
    return Rollout(uuid.uuid4().hex, target, reason, RESOLVED, now, now, actor=actor)


def with_rollout(deployment: Deployment, rollout: Rollout, now: int) -> Deployment:
    """``deployment`` moving to ``rollout.target`` (a newer rollout replaces one under way)."""
    state = UPDATING if deployment.served else PENDING
    target = rollout.target
    message = f"Rolling out {describe(target)} ({rollout.reason})"
    return replace(deployment, rollout=rollout, state=state, message=message, updated_at=now)


def describe(target: ModelTarget) -> str:
    if target.model_name and target.model_version:
        return f"version {target.model_version} of '{target.model_name}'"
    return target.model_uri


def image_key(requirements: list[str], base_image: str) -> str:
    """The image for a set of requirements on a base image: the same key, the same image (reused by deployments)."""
    lines = sorted({line.strip() for line in requirements if line.strip() and not line.strip().startswith("#")})
    digest = hashlib.sha256("\n".join([base_image, *lines]).encode()).hexdigest()
    return f"req-{digest[:20]}"


def ended(
    deployment: Deployment, rollout: Rollout, outcome: str, message: str, now: int, served: Served | None
) -> Deployment:
    """``deployment`` once ``rollout`` ended with ``outcome``; ``served`` is what the live alias answers with now."""
    end = RolloutEnd(
        rollout.id,
        outcome,
        rollout.reason,
        rollout.target.model_version,
        rollout.target.run_id,
        message,
        now,
    )
    state = READY if served else FAILED
    return replace(
        deployment, rollout=None, last_rollout=end, served=served, state=state, message=message, updated_at=now
    )


def serving_environment(deployment: Deployment, target: ModelTarget) -> dict[str, str]:
    """The serving function's settings (``stratus_serving.scoring.Lineage.from_env``)."""
    named = {
        "STRATUS_MODEL_URI": target.source,
        "STRATUS_MODEL_NAME": target.model_name or "",
        "STRATUS_MODEL_VERSION": target.model_version or "",
        "STRATUS_MODEL_RUN_ID": target.run_id or "",
        "STRATUS_DEPLOYMENT_NAME": deployment.name,
    }
    return {k: v for k, v in named.items() if v}


@dataclass(frozen=True)
class ModelFiles:
    """What a rollout reads from the model's directory: its pip requirements and its serving input example."""

    requirements: list[str] = field(default_factory=list)
    serving_example: bytes | None = None
