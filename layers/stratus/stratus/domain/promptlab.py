"""What a prompt-engineering run records (``runs/create-promptlab-run``, the web UI's prompt lab), as the reference's
``_create_promptlab_run_impl`` (mlflow/utils/promptlab_utils.py) and ``mlflow.prompt.promptlab_model.save_model``
record it: its params and tags, and the files of its ``model`` folder and evaluation table.

The files are written here without mlflow (which the API's layer never imports) and without PyYAML (which Lambda's
runtime lacks): :func:`yaml_text` writes the same documents ``yaml.safe_dump`` writes, in block style with sorted
keys, quoting with double quotes any string that is not plainly a string. They load to the same values as the
reference's; the environment files name this server's Python and packages, as the reference names its own.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import re
from dataclasses import dataclass, field
from typing import Any

from stratus import MLFLOW_COMPAT_VERSION

LOGGED_ARTIFACTS_TAG = "mlflow.loggedArtifacts"
RUN_SOURCE_TYPE_TAG = "mlflow.runSourceType"
LOGGED_MODELS_TAG = "mlflow.log-model.history"
EVAL_RESULTS_FILE = "eval_results_table.json"
MODEL_FOLDER = "model"
LOADER_MODULE = "mlflow.prompt.promptlab_model"
REQUIRED_FIELDS = ("experiment_id", "prompt_template", "prompt_parameters", "model_route", "model_input",
                   "mlflow_version")  # fmt: skip
"""What the reference's handler refuses when absent or empty, in its order."""
BUILD_PACKAGES = ("pip", "setuptools", "wheel")


@dataclass(frozen=True)
class PromptlabRun:
    """One ``CreatePromptlabRun`` request. Parameter values are any JSON value; each is logged as Python's ``str``
    of it (``True``, ``None``, ``[1, 'a']``), as the reference logs them."""

    experiment_id: str | None
    prompt_template: str | None
    prompt_parameters: list[tuple[str, Any]]
    model_route: str | None
    model_input: str | None
    mlflow_version: str | None
    run_name: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    model_parameters: list[tuple[str, Any]] = field(default_factory=list)
    model_output: str | None = None
    model_output_parameters: list[tuple[str, Any]] = field(default_factory=list)
    user_id: str | None = None
    start_time: int | None = None

    def missing_field(self) -> str | None:
        """The first required field that is absent or empty, as the reference checks them."""
        return next((name for name in REQUIRED_FIELDS if not getattr(self, name)), None)


@dataclass(frozen=True)
class PythonEnvironment:
    """The interpreter a model's environment files name: its version and the versions of pip, setuptools and wheel
    (None when not installed)."""

    python_version: str
    packages: dict[str, str | None]

    @classmethod
    def current(cls) -> PythonEnvironment:
        return cls(platform.python_version(), {name: _installed_version(name) for name in BUILD_PACKAGES})


def _installed_version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


@dataclass(frozen=True)
class PromptlabModel:
    """The ``model`` folder's identity: the run, the model's uuid and its creation time (UTC,
    ``%Y-%m-%d %H:%M:%S.%f``)."""

    run_id: str
    model_uuid: str
    utc_time_created: str


def _as_text(parameters: list[tuple[str, Any]]) -> list[tuple[str, str]]:
    return [(key, str(value)) for key, value in parameters]


def params_to_log(request: PromptlabRun) -> list[tuple[str, str]]:
    """The model parameters, then ``model_route`` and ``prompt_template``."""
    return [
        *_as_text(request.model_parameters),
        ("model_route", request.model_route or ""),
        ("prompt_template", request.prompt_template or ""),
    ]


def tags_to_log(model: PromptlabModel) -> list[tuple[str, str]]:
    """The evaluation table's declaration, the run's source type, and the model in the run's model history."""
    history = {
        "run_id": model.run_id,
        "artifact_path": MODEL_FOLDER,
        "utc_time_created": model.utc_time_created,
        "model_uuid": model.model_uuid,
        "flavors": {},  # the reference records the model before it has saved its flavors
    }
    return [
        (LOGGED_ARTIFACTS_TAG, json.dumps([{"path": EVAL_RESULTS_FILE, "type": "table"}])),
        (RUN_SOURCE_TYPE_TAG, "PROMPT_ENGINEERING"),
        (LOGGED_MODELS_TAG, json.dumps([history])),
    ]


def artifact_files(request: PromptlabRun, model: PromptlabModel, environment: PythonEnvironment) -> dict[str, bytes]:
    """Every file of the run's artifacts, by path under its artifact root."""
    prompt_parameters = _as_text(request.prompt_parameters)
    output_parameters = _as_text(request.model_output_parameters)
    requirement = f"mlflow[gateway]=={MLFLOW_COMPAT_VERSION}"
    example = {"inputs": [value for _, value in prompt_parameters]}
    files = {
        "MLmodel": yaml_text(_mlmodel(prompt_parameters, model, environment)),
        "conda.yaml": yaml_text(_conda_env(requirement, environment)),
        "python_env.yaml": yaml_text(_python_env(environment), sort_keys=False),
        "requirements.txt": requirement,
        "parameters.yaml": yaml_text(
            {
                "prompt_template": request.prompt_template,
                "prompt_parameters": dict(prompt_parameters),
                "model_parameters": dict(_as_text(request.model_parameters)),
                "model_route": request.model_route,
            }
        ),
        "input_example.json": json.dumps(example),
        "serving_input_example.json": json.dumps({"inputs": example}, indent=2),
    }
    table = {
        "columns": [key for key, _ in prompt_parameters] + ["prompt", "output"] + [key for key, _ in output_parameters],
        "data": [
            [value for _, value in prompt_parameters]
            + [request.model_input, request.model_output]
            + [value for _, value in output_parameters]
        ],
    }
    found = {f"{MODEL_FOLDER}/{name}": text.encode() for name, text in files.items()}
    found[EVAL_RESULTS_FILE] = json.dumps(table).encode()
    return found


def _mlmodel(prompt_parameters: list[tuple[str, str]], model: PromptlabModel, env: PythonEnvironment) -> dict[str, Any]:
    def columns(names: list[str]) -> str:
        return json.dumps([{"type": "string", "name": name, "required": True} for name in names])

    return {
        "artifact_path": MODEL_FOLDER,
        "flavors": {
            "python_function": {
                "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
                "loader_module": LOADER_MODULE,
                "parameters_path": "parameters.yaml",
                "python_version": env.python_version,
            }
        },
        "is_signature_from_type_hint": False,
        "mlflow_version": MLFLOW_COMPAT_VERSION,
        "model_id": None,
        "model_uuid": model.model_uuid,
        "prompts": None,
        "run_id": model.run_id,
        "saved_input_example_info": {
            "artifact_path": "input_example.json",
            "serving_input_path": "serving_input_example.json",
            "type": "json_object",
        },
        "signature": {
            "inputs": columns([key for key, _ in prompt_parameters]),
            "outputs": columns(["output"]),
            "params": None,
        },
        "type_hint_from_example": False,
        "utc_time_created": model.utc_time_created,
    }


def _conda_env(requirement: str, env: PythonEnvironment) -> dict[str, Any]:
    pip = env.packages.get("pip")
    return {
        "channels": ["conda-forge"],
        "dependencies": [f"python={env.python_version}", f"pip<={pip}" if pip else "pip", {"pip": [requirement]}],
        "name": "mlflow-env",
    }


def _python_env(env: PythonEnvironment) -> dict[str, Any]:
    return {
        "python": env.python_version,
        "build_dependencies": [f"{name}=={version}" if version else name for name, version in env.packages.items()],
        "dependencies": ["-r requirements.txt"],
    }


# ---------------------------------------------------------------- YAML


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-+/=<>\[\]]*")
_NOT_PLAIN = {"true", "false", "yes", "no", "on", "off", "null"}
"""Plain words PyYAML would read as booleans or null (in any case)."""


def yaml_text(document: dict[str, Any], *, sort_keys: bool = True) -> str:
    """``document`` as ``yaml.safe_dump(document, default_flow_style=False, sort_keys=sort_keys)`` lays it out."""
    lines: list[str] = []
    _mapping(document, 0, lines, sort_keys)
    return "\n".join(lines) + "\n"


def _mapping(mapping: dict[str, Any], indent: int, lines: list[str], sort_keys: bool) -> None:
    items = sorted(mapping.items()) if sort_keys else list(mapping.items())
    for key, value in items:
        head = f"{' ' * indent}{_scalar(key)}:"
        if isinstance(value, dict) and value:
            lines.append(head)
            _mapping(value, indent + 2, lines, sort_keys)
        elif isinstance(value, list) and value:
            lines.append(head)
            _sequence(value, indent, lines, sort_keys)  # PyYAML does not indent a sequence inside a mapping
        else:
            lines.append(f"{head} {_scalar(value)}")


def _sequence(items: list[Any], indent: int, lines: list[str], sort_keys: bool) -> None:
    for item in items:
        if isinstance(item, dict) and item:
            nested: list[str] = []
            _mapping(item, indent + 2, nested, sort_keys)
            nested[0] = f"{' ' * indent}- {nested[0][indent + 2 :]}"
            lines.extend(nested)
        else:
            lines.append(f"{' ' * indent}- {_scalar(item)}")


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return "{}" if isinstance(value, dict) else "[]"  # only empty ones reach here
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    if _PLAIN.fullmatch(text) and text.lower() not in _NOT_PLAIN:
        return text
    return _double_quoted(text)


def _double_quoted(text: str) -> str:
    """A YAML double-quoted scalar: JSON's escapes, plus an escape for every character YAML may not print."""
    quoted = json.dumps(text, ensure_ascii=False)
    return "".join(char if _printable(char) else _escape(char) for char in quoted)


def _printable(char: str) -> bool:
    """Printable in YAML and no line break (YAML 1.1 breaks lines at NEL, LS and PS too, and would fold them)."""
    code = ord(char)
    return (
        0x20 <= code <= 0x7E
        or (0xA0 <= code <= 0xD7FF and code not in (0x2028, 0x2029))
        or 0xE000 <= code <= 0xFFFD
        or code >= 0x10000
    )


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
