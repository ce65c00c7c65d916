"""The model registry's input rules and messages, as the reference server has them (``mlflow/utils/validation.py``:
``_validate_model_name``, ``_validate_model_alias_name``, tag limits; ``mlflow/store/model_registry``)."""

from __future__ import annotations

import re

from stratus.domain import messages, validation
from stratus.domain.entities import STAGES
from stratus.errors import InvalidParameterValue

MAX_TAG_KEY_LENGTH = 250
MAX_TAG_VALUE_LENGTH = 100_000
MAX_ALIAS_LENGTH = 255
_ALIAS = re.compile(r"^[\w\-]*$")
_VERSION_ALIAS = re.compile(r"^[vV]\d+$")
ACTIVE_STAGES = ("Staging", "Production")


def validate_model_name(name: str | None, field: str = "name") -> str:
    if name is None or name.strip() == "":
        raise InvalidParameterValue(messages.missing_value(field))
    if "/" in name or ":" in name:
        raise InvalidParameterValue(f"Invalid model name '{name}'. Names cannot contain '/' or ':'.")
    if validation.path_not_unique(name):
        raise InvalidParameterValue(messages.invalid_value(field, name, messages.bad_path_message(name)))
    return name


def validate_version(version: str | int | None) -> int:
    try:
        return int(version)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidParameterValue(f"Parameter 'version' must be an integer, got '{version}'.") from None


def validate_tag(key: str | None, value: str | None) -> None:
    validation.validate_tag_name(key)
    validation.validate_length_limit("key", MAX_TAG_KEY_LENGTH, key)
    validation.validate_length_limit("value", MAX_TAG_VALUE_LENGTH, value)


def validate_alias(alias: str | None, *, for_write: bool = False) -> str:
    if not alias:
        raise InvalidParameterValue("Registered model alias name cannot be empty.")
    if not _ALIAS.match(alias):
        raise InvalidParameterValue(
            f"Invalid alias name: '{alias}'. Names may only contain alphanumerics, underscores (_), and dashes (-)."
        )
    validation.validate_length_limit("Registered model alias name", MAX_ALIAS_LENGTH, alias)
    if for_write:
        if alias.lower() == "latest":
            raise InvalidParameterValue("'latest' alias name (case insensitive) is reserved.")
        if _VERSION_ALIAS.match(alias):
            raise InvalidParameterValue(f"Version alias name '{alias}' is reserved.")
    return alias


def canonical_stage(stage: str | None) -> str:
    """``staging`` -> ``Staging``; unknown stages are a 400 with the reference's message."""
    for known in STAGES:
        if stage is not None and stage.lower() == known.lower():
            return known
    raise InvalidParameterValue(f"Invalid Model Version stage: {stage}. Value must be one of {', '.join(STAGES)}.")


def model_not_found(name: str) -> str:
    return f"Registered Model with name={name} not found"


def model_already_exists(name: str, *, existing_is_prompt: bool = False, new_is_prompt: bool = False) -> str:
    old = "Prompt" if existing_is_prompt else "Registered Model"
    new = "Prompt" if new_is_prompt else "Registered Model"
    if old != new:
        return (
            f"Tried to create a {new.lower()} with name {name!r}, but the name is already taken by a "
            f"{old.lower()}. MLflow does not allow creating a model and a prompt with the same name."
        )
    return f"{new} (name={name}) already exists."


def version_not_found(name: str, version: int | str) -> str:
    return f"Model Version (name={name}, version={version}) not found"


def alias_not_found(alias: str) -> str:
    """A missing alias is INVALID_PARAMETER_VALUE (400) in the reference, not 404."""
    return f"Registered model alias {alias} not found."


def archive_needs_active_stage(stage: str) -> str:
    return (
        "Model version transition cannot archive existing model versions because "
        f"'{stage}' is not an Active stage. Valid stages are {list(ACTIVE_STAGES)}"
    )
