"""The ``backend_config`` of ``mlflow run --backend stratus``: read, checked and normalised before any run exists.

The server checks the same rules again; the client checks them first so that a typo fails before MLflow creates a
run for a job that could never be submitted.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

#: Keys the stratus backend reads, in the order the error messages list them.
STRATUS_KEYS = ("vcpu", "memory", "timeout", "max_wait", "environment")
#: Keys MLflow itself puts into backend_config (``mlflow.projects._run``; USE_CONDA in older versions), and any
#: key starting with ``_mlflow``: accepted, and ignored except ENV_MANAGER.
MLFLOW_KEYS = ("ENV_MANAGER", "SYNCHRONOUS", "DOCKER_ARGS", "STORAGE_DIR", "build_image", "docker_auth", "USE_CONDA")
MLFLOW_KEY_PREFIX = "_mlflow"
ENV_MANAGERS = ("local", "virtualenv", "uv", "conda")

#: Fargate's vCPU sizes and the memory sizes (MiB) allowed with each.
FARGATE_MEMORY: dict[float, tuple[int, ...]] = {
    0.25: (512, 1024, 2048),
    0.5: tuple(range(1024, 4096 + 1, 1024)),
    1.0: tuple(range(2048, 8192 + 1, 1024)),
    2.0: tuple(range(4096, 16384 + 1, 1024)),
    4.0: tuple(range(8192, 30720 + 1, 1024)),
    8.0: tuple(range(16384, 61440 + 1, 4096)),
    16.0: tuple(range(32768, 122880 + 1, 8192)),
}
_ALL_MEMORY = frozenset(size for sizes in FARGATE_MEMORY.values() for size in sizes)
TIMEOUT_RANGE = (60, 1_209_600)  # one minute to 14 days, AWS Batch's limit
MAX_WAIT_RANGE = (60, 86_400)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
# Stratus sets MLFLOW_* and STRATUS_* for the runner; AWS_* belongs to AWS (AWS_BATCH_*, the task's credentials).
_RESERVED_ENV_PREFIXES = ("MLFLOW_", "STRATUS_", "AWS_")
MAX_ENVIRONMENT = 50


def _invalid(message: str) -> MlflowException:
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def load_backend_config(backend_config: Mapping[str, Any] | str | os.PathLike[str] | None) -> dict[str, Any]:
    """Return ``backend_config`` as a dict: MLflow passes a dict, or a path to a ``.json`` file (its documented
    alternative)."""
    if backend_config is None:
        return {}
    if isinstance(backend_config, Mapping):
        return dict(backend_config)
    path = os.fspath(backend_config)
    if not path.endswith(".json"):
        raise _invalid(f"backend_config must be a JSON object or the path of a .json file, not {path!r}")
    try:
        with open(path, encoding="utf-8") as handle:
            loaded = json.load(handle)
    except (OSError, ValueError) as error:
        raise _invalid(f"Could not read the backend config file {path}: {error}") from error
    if not isinstance(loaded, dict):
        raise _invalid(f"The backend config file {path} must hold a JSON object, not {type(loaded).__name__}")
    return loaded


def validate_backend_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Check a backend_config and return the stratus keys it sets, normalised (vcpu a float, sizes ints). Keys not
    set are left out: the server fills them from the deployment's defaults. MLflow's own keys are accepted and left
    out too.

    Raises ``MlflowException(INVALID_PARAMETER_VALUE)`` naming the first key that is wrong.
    """
    if not isinstance(config, Mapping):
        raise _invalid(f"backend_config must be a JSON object, not {type(config).__name__}")
    _reject_unknown_keys(config)
    given = {key: config[key] for key in STRATUS_KEYS if config.get(key) is not None}  # null is "not given"
    normalised: dict[str, Any] = {}
    if "vcpu" in given:
        normalised["vcpu"] = _vcpu(given["vcpu"])
    if "memory" in given:
        normalised["memory"] = _memory(given["memory"], normalised.get("vcpu"))
    for key, (low, high) in (("timeout", TIMEOUT_RANGE), ("max_wait", MAX_WAIT_RANGE)):
        if key in given:
            normalised[key] = _seconds(key, given[key], low, high)
    if "environment" in given:
        normalised["environment"] = _environment(given["environment"])
    return normalised


def resolve_env_manager(config: Mapping[str, Any]) -> str | None:
    """The env manager the runner uses: MLflow's ``--env-manager`` (``backend_config["ENV_MANAGER"]``); None when
    not given, for the stack's default (``uv`` on AWS, ``local`` under ``stratus local``)."""
    env_manager = config.get("ENV_MANAGER")
    if env_manager is None:
        return None
    if env_manager not in ENV_MANAGERS:
        raise _invalid(
            f"Invalid env manager {env_manager!r} for the stratus backend; use one of {', '.join(ENV_MANAGERS)}"
        )
    return env_manager


def _reject_unknown_keys(config: Mapping[str, Any]) -> None:
    unknown = sorted(str(key) for key in config if not _known(key))
    if not unknown:
        return
    names = ", ".join(f"'{key}'" for key in unknown)
    noun = "key" if len(unknown) == 1 else "keys"
    message = f"Unknown backend_config {noun} {names} for the stratus backend; known keys: {', '.join(STRATUS_KEYS)}"
    if "experiment_name" in unknown:
        message += " (choose the experiment with mlflow run's --experiment-name)"
    raise _invalid(message)


def _known(key: Any) -> bool:
    return key in STRATUS_KEYS or key in MLFLOW_KEYS or (isinstance(key, str) and key.startswith(MLFLOW_KEY_PREFIX))


def _number(value: Any) -> float | None:
    """A number, or a string holding one (as the server accepts); None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _whole_number(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number.is_integer() else None


def _vcpu(value: Any) -> float:
    vcpu = _number(value)
    if vcpu is not None and vcpu in FARGATE_MEMORY:
        return vcpu
    allowed = ", ".join(f"{size:g}" for size in FARGATE_MEMORY)
    raise _invalid(f"backend_config vcpu must be one of Fargate's sizes {allowed}, not {value!r}")


def _memory(value: Any, vcpu: float | None) -> int:
    memory = _whole_number(value)
    if memory is None:
        raise _invalid(f"backend_config memory must be a whole number of MiB, not {value!r}")
    if vcpu is None:
        if memory not in _ALL_MEMORY:
            raise _invalid(
                f"backend_config memory {memory} MiB is not a Fargate size; sizes run from 512 to 122880 MiB, "
                "and which are allowed depends on vcpu"
            )
        return memory
    allowed = FARGATE_MEMORY[vcpu]
    if memory not in allowed:
        raise _invalid(
            f"backend_config memory {memory} MiB is not allowed with vcpu {vcpu:g} on Fargate; "
            f"allowed: {', '.join(str(size) for size in allowed)}"
        )
    return memory


def _seconds(key: str, value: Any, low: int, high: int) -> int:
    seconds = _whole_number(value)
    if seconds is None or not low <= seconds <= high:
        raise _invalid(f"backend_config {key} must be a whole number of seconds from {low} to {high}, not {value!r}")
    return seconds


def _environment(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise _invalid(f"backend_config environment must be an object of names to strings, not {value!r}")
    if len(value) > MAX_ENVIRONMENT:
        raise _invalid(f"backend_config environment may set at most {MAX_ENVIRONMENT} variables, not {len(value)}")
    for name, text in value.items():
        if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
            raise _invalid(f"backend_config environment name {name!r} is not a valid environment variable name")
        if name.upper().startswith(_RESERVED_ENV_PREFIXES):
            raise _invalid(
                f"backend_config environment name {name!r} is reserved: names must not start with "
                f"{', '.join(_RESERVED_ENV_PREFIXES)}"
            )
        if not isinstance(text, str):
            raise _invalid(f"backend_config environment value of {name!r} must be a string, not {text!r}")
    return dict(value)
