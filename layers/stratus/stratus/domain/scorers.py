"""MLflow 3 registered scorers: versions of a serialized scorer under a name in an experiment, and the online
scoring configuration of each name. The entities and the checks the reference makes on what is registered
(``_validate_serialized_scorer_payload`` in ``mlflow/server/handlers.py``, ``SqlAlchemyStore.register_scorer`` and
``upsert_online_scoring_config``), with its messages."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from stratus.errors import InvalidParameterValue, ResourceDoesNotExist

GATEWAY_PROVIDER = "gateway"
DESTINATION_KEYS = frozenset({"api_base", "base_url", "model_list", "fallbacks", "custom_llm_provider"})
"""Third-party scorer options that choose where its LLM client connects (``GATEWAY_DESTINATION_KEYS``)."""

CUSTOM_SCORER_NOT_SUPPORTED = (
    "Custom scorer registration (using @scorer decorator) is disabled by default "
    "outside of Databricks tracking environments due to security concerns. "
    "Custom scorers require arbitrary code execution during deserialization.\n\n"
    "To use custom scorers:\n"
    "1. Configure MLflow to use a Databricks tracking URI, or\n"
    "2. Manage your custom scorer code in a source code repository "
    "(e.g., GitHub) and import it directly, or\n"
    "3. On a self-managed MLflow server (or local environment) that you trust to run the "
    "scorer's code, set the MLFLOW_SERVER_ENABLE_CUSTOM_SCORERS environment variable to true, or\n"
    "4. Use built-in scorers or make_judge() scorers instead."
)
"""``DECORATOR_SCORER_REGISTRATION_NOT_SUPPORTED_ERROR``: the reference's default (custom scorers not enabled)."""


@dataclass
class ScorerVersion:
    experiment_id: str
    scorer_name: str
    scorer_version: int
    serialized_scorer: str
    creation_time: int
    scorer_id: str


@dataclass
class OnlineScoringConfig:
    online_scoring_config_id: str
    scorer_id: str
    sample_rate: float
    experiment_id: str
    filter_string: str | None = None


def scorer_not_found(name: str, experiment_id: str, version: int | None = None) -> str:
    """RESOURCE_DOES_NOT_EXIST (404), with the experiment id as the caller wrote it."""
    if version is None:
        return f"Scorer with name '{name}' not found for experiment {experiment_id}."
    return f"Scorer with name '{name}' and version {version} not found for experiment {experiment_id}."


def check_scorer_name(name: str) -> None:
    if not name.strip():
        raise InvalidParameterValue("Scorer name cannot be empty or contain only whitespace.")


def check_serialized_scorer(serialized_scorer: str) -> Any:
    """The parsed scorer, refused as the reference's handler refuses it, before anything is looked up: not JSON,
    custom code (``call_source``, anywhere), third-party options that steer its LLM client."""
    try:
        data = json.loads(serialized_scorer)
    except ValueError as exc:
        raise InvalidParameterValue("serialized_scorer must be valid JSON") from exc
    if _has_call_source(data):
        raise InvalidParameterValue(CUSTOM_SCORER_NOT_SUPPORTED)
    _check_third_party_kwargs(data)
    return data


def check_scorer_model(data: Any) -> None:
    """The store's checks, after the experiment's: a blank or non-string model, a gateway model (Stratus has no
    gateway endpoints, so none is found). A JSON value that is not an object is a 400 here, a 500 there."""
    if not isinstance(data, dict):
        raise InvalidParameterValue("serialized_scorer must be a JSON object")
    model = model_of(data)
    if model is None:
        return
    if not isinstance(model, str):
        raise InvalidParameterValue(f"Scorer model must be a string, got {_type_name(model)}.")
    if not model.strip():
        raise InvalidParameterValue("Scorer model cannot be empty or contain only whitespace.")
    if is_gateway_model(model):
        endpoint = model.split(":/", 1)[1].lstrip("/")
        raise ResourceDoesNotExist(f"GatewayEndpoint not found (name='{endpoint}')")


def model_of(data: dict[str, Any]) -> Any:
    """``extract_model_from_serialized_scorer``: the judge model of the known scorer kinds."""
    for key in ("instructions_judge_pydantic_data", "builtin_scorer_pydantic_data"):
        if section := data.get(key):
            return section.get("model") if isinstance(section, dict) else None
    if memory := data.get("memory_augmented_judge_data"):
        base = memory.get("base_judge", {}) if isinstance(memory, dict) else {}
        return model_of(base) if isinstance(base, dict) else None
    if third_party := data.get("third_party_scorer_data"):
        return third_party.get("model") if isinstance(third_party, dict) else None
    return None


def is_gateway_model(model: Any) -> bool:
    if not isinstance(model, str):
        return False
    provider, _, path = model.partition(":/")
    return provider == GATEWAY_PROVIDER and bool(path.lstrip("/"))


def check_sample_rate(sample_rate: float) -> None:
    if not 0.0 <= sample_rate <= 1.0:
        raise InvalidParameterValue(f"sample_rate must be between 0.0 and 1.0, got {sample_rate}")


def check_filter_string(filter_string: Any) -> str | None:
    """The online scoring filter: a string or null, as the reference's handler checks it. Its syntax (the trace
    search grammar) is not checked: Stratus stores no traces to search."""
    if filter_string is not None and not isinstance(filter_string, str):
        raise InvalidParameterValue(
            f"Invalid value {filter_string!r} for parameter 'filter_string' supplied: Value was of type "
            f"'{_type_name(filter_string)}'. Expected type 'str' or None."
        )
    return filter_string


def check_online_scorer(name: str, latest: ScorerVersion) -> None:
    """Sampling above zero needs a scorer whose judge is a gateway model (which Stratus cannot register)."""
    try:
        data = json.loads(latest.serialized_scorer)
    except ValueError:
        data = {}
    if not is_gateway_model(model_of(data) if isinstance(data, dict) else None):
        raise InvalidParameterValue(
            f"Scorer '{name}' does not use a gateway model. Automatic evaluation is only supported for scorers that "
            "use gateway models."
        )


def _has_call_source(value: Any) -> bool:
    if isinstance(value, dict):
        return value.get("call_source") is not None or any(_has_call_source(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_call_source(v) for v in value)
    return False


def _third_party_sections(value: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(value, dict):
        section = value.get("third_party_scorer_data")
        if isinstance(section, dict):
            found.append(section)
        for nested in value.values():
            found.extend(_third_party_sections(nested))
    elif isinstance(value, list):
        for nested in value:
            found.extend(_third_party_sections(nested))
    return found


def _destination_keys(value: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        found |= DESTINATION_KEYS & set(value)
        for nested in value.values():
            found |= _destination_keys(nested)
    elif isinstance(value, list):
        for nested in value:
            # dict() also takes [key, value] pairs, which is how nested option maps arrive
            if isinstance(nested, list) and len(nested) == 2 and isinstance(nested[0], str):
                found |= DESTINATION_KEYS & {nested[0]}
            found |= _destination_keys(nested)
    return found


def _check_third_party_kwargs(data: Any) -> None:
    for section in _third_party_sections(data):
        kwargs = section.get("kwargs")
        if kwargs is not None and not isinstance(kwargs, dict):
            raise InvalidParameterValue(
                f"third_party_scorer_data.kwargs must be a JSON object, got {_type_name(kwargs)}."
            )
        if found := sorted(_destination_keys(kwargs)):
            raise InvalidParameterValue(
                f"third_party_scorer_data.kwargs must not contain {', '.join(map(repr, found))}: these options choose "
                "where the scorer's LLM client sends requests. Configure the judge endpoint on the server instead, "
                "for example through a gateway endpoint ('gateway:/<name>') or the provider's environment variables."
            )


def _type_name(value: Any) -> str:
    """The Python type name the reference prints for a JSON value."""
    return type(value).__name__
