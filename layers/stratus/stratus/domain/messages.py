"""The texts of MLflow's error messages, written once so every layer answers in the reference server's words.

Copied from mlflow 3.17.2 (``utils/validation.py``, ``server/handlers.py``, ``store/tracking/sqlalchemy_store.py``)
and checked against a running reference server; ``docs/mlflow-validation.md`` records what it answered. These are
plain functions returning strings: which error class (and so which ``error_code``) carries a text is the caller's
choice, and each docstring says what the reference uses.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterable, Sequence
from typing import Any

API_DOCS_HINT = " See the API docs for more information about request parameters."
"""Suffix the reference server appends to every failure of its request-schema checks."""

MISSING_KEY_NAME = "A key name must be provided."

# --------------------------------------------------------------------------- building blocks (utils/validation.py)


def invalid_value(path: str, value: Any, message: str | None = None) -> str:
    """``Invalid value <json> for parameter '<path>' supplied[: <message>]``; the value is compact, sorted JSON."""
    formatted = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    if message:
        return f"Invalid value {formatted} for parameter '{path}' supplied: {message}"
    return f"Invalid value {formatted} for parameter '{path}' supplied."


def missing_value(path: str) -> str:
    return f"Missing value for required parameter '{path}'."


def exceeds_maximum_length(path: str, limit: int) -> str:
    return f"'{path}' exceeds the maximum length of {limit} characters"


def bad_character_message() -> str:
    """Why a param, metric or tag key was refused for its characters (the non-Windows text: colons allowed)."""
    return (
        "Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:)"
        " and slashes (/)."
    )


def bad_path_message(name: str) -> str:
    """Why a key that would normalise to another path (``a/./b``, ``../x``, ``/abs``, ``a/``) was refused."""
    return (
        "Names may be treated as files in certain cases, and must not resolve to other names"
        f" when treated as such. This name would resolve to {posixpath.normpath(name)!r}"
    )


# --------------------------------------------------------------------------- request schema (server/handlers.py)


def missing_parameter_message(field: str) -> str:
    """A required request field is absent, null or ``""`` (INVALID_PARAMETER_VALUE, 400).

    ``field`` is the JSON path the reference names: ``experiment_id``, ``metrics[0].key``, ``params[3].key``.
    """
    return missing_value(field) + API_DOCS_HINT


def invalid_type_message(field: str, value: Any, expected: str | None = None) -> str:
    """A request field of the wrong JSON type (INVALID_PARAMETER_VALUE, 400).

    The reference names the type of the value it *received* (``Hint: Value was of type 'int'``), never the type it
    expected, so ``expected`` is accepted for the caller's convenience and left out of the text. Note the two spaces
    after ``supplied:``; the reference has them too.
    """
    del expected
    hint = f" Hint: Value was of type '{type(value).__name__}'."
    return invalid_value(field, value, hint) + API_DOCS_HINT


def schema_check_message(message: str) -> str:
    """A schema check with its own text (bulk-interval limits) gets the same API-docs suffix."""
    return message + API_DOCS_HINT


def content_type_missing() -> str:
    return "Bad Request. Content-Type header is missing."


def content_type_not_allowed(allowed: Sequence[str] = ("application/json",)) -> str:
    return f"Bad Request. Content-Type must be one of {list(allowed)}."


def conflicting_field_aliases(name: str, json_name: str) -> str:
    """Both spellings of one field in a body (``artifact_location`` and ``artifactLocation``)."""
    return f"Request specifies both '{name}' and '{json_name}'; provide only one of them."


def invalid_boolean_query_value(value: str) -> str:
    return f"Invalid boolean value: {value}, must be 'true' or 'false'."


# --------------------------------------------------------------------------- experiments


def experiment_not_found(experiment_id: str | int) -> str:
    """RESOURCE_DOES_NOT_EXIST (404). The reference prints the id as parsed to an integer (``007`` → ``7``)."""
    return f"No Experiment with id={_as_int_if_possible(experiment_id)} exists"


def experiment_name_not_found(name: str) -> str:
    """experiments/get-by-name for an unknown name: RESOURCE_DOES_NOT_EXIST (404)."""
    return f"Could not find experiment with name '{name}'"


def experiment_already_exists(name: str) -> str:
    """RESOURCE_ALREADY_EXISTS (400) on create. The reference continues with `` Error: <the SQL error>``."""
    return f"Experiment(name={name}) already exists."


def experiment_not_active(experiment_id: str, lifecycle_stage: str = "deleted") -> str:
    """Creating a run in, or tagging, a deleted experiment: INVALID_PARAMETER_VALUE (400)."""
    return f"The experiment {experiment_id} must be in the 'active' state. Current state is {lifecycle_stage}."


def experiment_not_active_for_rename(name: str | None = None) -> str:
    """experiments/update on a deleted experiment. The reference uses INVALID_STATE (which it answers with 500)."""
    del name
    return "Cannot rename a non-active experiment."


def cannot_delete_default_experiment(experiment_id: str = "0") -> str:
    """The file store's refusal; the SQL reference server lets experiment 0 be deleted."""
    return f"Cannot delete the default experiment '{experiment_id}'. This is an internally reserved experiment."


def experiment_tag_not_found(key: str, experiment_id: str) -> str:
    """RESOURCE_DOES_NOT_EXIST (404)."""
    return f"No tag with name: {key} in experiment with id {experiment_id}"


def invalid_experiment_id(experiment_id: Any) -> str:
    """An experiment id that is not an integer: INVALID_PARAMETER_VALUE (400)."""
    return f"Invalid experiment ID '{experiment_id}'. Experiment ID must be a valid integer."


def invalid_experiment_id_format(experiment_id: Any) -> str:
    """The file store's regex check of an experiment id."""
    return f"Invalid experiment ID: '{experiment_id}'"


def invalid_experiment_name(name: Any) -> str:
    return f"Invalid experiment name: '{name}'"


def experiment_name_not_string(name: Any) -> str:
    return f"Invalid experiment name: {name}. Expects a string."


# --------------------------------------------------------------------------- runs


def run_already_exists(run_id: str) -> str:
    """RESOURCE_ALREADY_EXISTS (400): ``POST /api/2.0/stratus/runs/import`` with an id a run has (Stratus only)."""
    return f"Run with id={run_id} already exists"


def run_not_found(run_id: str) -> str:
    """RESOURCE_DOES_NOT_EXIST (404)."""
    return f"Run with id={run_id} not found"


def run_not_active(run_id: str, lifecycle_stage: str = "deleted") -> str:
    """Writing to a deleted run: INVALID_PARAMETER_VALUE (400)."""
    return f"The run {run_id} must be in the 'active' state. Current state is {lifecycle_stage}."


def run_name_conflict(run_name: str, tag_value: str) -> str:
    """runs/create with ``run_name`` and a different ``mlflow.runName`` tag: INVALID_PARAMETER_VALUE (400)."""
    return (
        "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with "
        f"different values (run_name='{run_name}', mlflow.runName='{tag_value}')."
    )


def run_tag_not_found(key: str, run_id: str) -> str:
    """RESOURCE_DOES_NOT_EXIST (404)."""
    return f"No tag with name: {key} in run with id {run_id}"


def param_changed(key: str, old_value: str, new_value: str, run_id: str) -> str:
    """runs/log-parameter with a new value for a logged key: INVALID_PARAMETER_VALUE (400)."""
    return (
        f"Changing param values is not allowed. Param with key='{key}' was already logged with value='{old_value}'"
        f" for run ID='{run_id}'. Attempted logging new value '{new_value}'."
    )


def params_changed_in_batch(run_id: str, changed: Iterable[tuple[str, str, str]]) -> str:
    """runs/log-batch with new values for logged keys (``changed`` holds key, old, new): INVALID_PARAMETER_VALUE.

    The reference prints a Python list of dicts, so the quoting is Python's ``repr``.
    """
    non_matching = [{"key": key, "old_value": old, "new_value": new} for key, old, new in changed]
    return f"Changing param values is not allowed. Params were already logged='{non_matching}' for run ID='{run_id}'."


def params_changed(run_id: str, changed: Sequence[tuple[str, str, str]], batch: bool) -> str:
    """The single form for runs/log-parameter, the batch form for runs/log-batch (even with one param).

    ``batch`` must say which endpoint was called: the reference answers a one-param log-batch in the batch form.
    """
    if not batch and len(changed) == 1:
        key, old, new = changed[0]
        return param_changed(key, old, new, run_id)
    return params_changed_in_batch(run_id, changed)


def duplicate_param_keys(keys: Sequence[str]) -> str:
    """The same param key twice in one log-batch (even with equal values): INVALID_PARAMETER_VALUE (400)."""
    return (
        f"Duplicate parameter keys have been submitted: {list(keys)}. Please ensure "
        "the request contains only one param value per param key."
    )


def batch_limit_exceeded(entity_name: str, limit: int, length: int) -> str:
    return (
        f"A batch logging request can contain at most {limit} {entity_name}. "
        f"Got {length} {entity_name}. Please split up {entity_name} across multiple"
        " requests and try again."
    )


def batch_request_too_large(limit: int, size: int) -> str:
    return f"Batched logging API requests must be at most {limit} bytes, got a request of size {size}."


# --------------------------------------------------------------------------- search and history arguments


def max_results_not_positive(max_results: Any) -> str:
    """runs/search and experiments/search (no final period, as in the reference)."""
    return f"Invalid value {max_results} for parameter 'max_results' supplied. It must be a positive integer"


def max_results_above_limit(max_results: Any, limit: int) -> str:
    """experiments/search above 50000 (runs/search answers the schema-check text instead)."""
    return f"Invalid value {max_results} for parameter 'max_results' supplied. It must be at most {limit}"


def metric_history_max_results_not_positive(max_results: Any) -> str:
    """metrics/get-history with ``max_results`` <= 0 (this one ends with a period)."""
    return f"Invalid value {max_results} for parameter 'max_results' supplied. It must be a positive integer."


def bulk_interval_too_many_runs(limit: int, count: int) -> str:
    return schema_check_message(
        f"GetMetricHistoryBulkInterval request must specify at most {limit} run_ids. Received {count} run_ids."
    )


def bulk_interval_max_results_out_of_range(limit: int) -> str:
    return schema_check_message(f"max_results must be between 1 and {limit}.")


def history_bulk_without_runs() -> str:
    return "GetMetricHistoryBulk request must specify at least one run_id."


def history_bulk_too_many_runs(limit: int, count: int) -> str:
    return f"GetMetricHistoryBulk request cannot specify more than {limit} run_ids. Received {count} run_ids."


def history_bulk_without_metric_key() -> str:
    return "GetMetricHistoryBulk request must specify a metric_key."


def history_max_results_not_positive(max_results: int) -> str:
    """metrics/get-history (with a final period, unlike the searches' text)."""
    return f"Invalid value {max_results} for parameter 'max_results' supplied. It must be a positive integer."


def bulk_interval_steps_incomplete() -> str:
    return "If either start step or end step are specified, both must be specified."


def bulk_interval_steps_reversed(start_step: int, end_step: int) -> str:
    return f"end_step must be greater than start_step. Found start_step={start_step} and end_step={end_step}."


# --------------------------------------------------------------------------- artifact locations


def artifact_location_is_runs_uri(location: str) -> str:
    return f"Artifact location cannot be a runs:/ URI. Given: '{location}'"


def artifact_location_has_fragment(field: str = "artifact_location") -> str:
    return f"'{field}' URL can't include fragments or params."


def invalid_query_string() -> str:
    return "Invalid query string"


def artifact_location_host_addressed(scheme: str, field: str = "artifact_location") -> str:
    reason = (
        f"the '{scheme}' scheme addresses a host other than the tracking server's configured "
        "artifact storage, so the server would connect to the host named in the URI"
    )
    hint = "Set the MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES environment variable on the server to allow it."
    return f"'{field}' cannot use the '{scheme}' scheme: {reason}. {hint}"


def artifact_location_too_long(max_length: int) -> str:
    return (
        "Invalid artifact path length. The length of the artifact path cannot be "
        f"greater than {max_length} characters. To configure this limit, please set the "
        "MLFLOW_ARTIFACT_LOCATION_MAX_LENGTH environment variable."
    )


def custom_view_limit_exceeded(limit: int, experiment_id: str | None = None) -> str:
    experiment_ref = f" for experiment {experiment_id}" if experiment_id else ""
    return (
        f"Unable to create another custom view{experiment_ref}; the maximum number of custom "
        f"views per experiment is {limit}. Delete an existing custom "
        "view before creating a new one."
    )


def _as_int_if_possible(value: str | int) -> str | int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


# ---------------------------------------------------------------- logged models


def logged_model_not_found(model_id: str) -> str:
    """RESOURCE_DOES_NOT_EXIST (404), also for a deleted model."""
    return f"Logged model with ID '{model_id}' not found."


def logged_model_bad_name(name: str) -> str:
    bad_chars = ("/", ":", ".", "%", '"', "'")
    return (
        f"Invalid model name ({name!r}) provided. Model name must be a non-empty string "
        f"and cannot contain the following characters: {bad_chars}"
    )


def logged_model_tag_not_found(key: str, model_id: str) -> str:
    return f"No tag with key {key!r} found for model with ID {model_id!r}."


def issue_not_found(issue_id: str) -> str:
    """RESOURCE_DOES_NOT_EXIST (404): get and update of an unknown issue."""
    return f"Issue with ID '{issue_id}' not found"
