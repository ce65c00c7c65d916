"""MLflow's input validation for the tracking API: limits, key rules, batches, datasets and search arguments.

Behaviour and texts follow mlflow 3.17.2 (``utils/validation.py``, the schema checks of ``server/handlers.py`` and the
store-side checks of ``store/tracking/sqlalchemy_store.py``); ``docs/mlflow-validation.md`` records what the reference
server answered. Every function raises :class:`~stratus.errors.InvalidParameterValue` (INVALID_PARAMETER_VALUE, 400)
with the reference's message. Functions that validate a value which the reference silently shortens (param and run
tag values) return the value to store.

The reference reports paths like ``metrics[0].name`` for log-batch and plain ``name`` for log-metric; pass
``indexed=False`` to :func:`validate_batch_payload` when serving the single-entity endpoints.
"""

from __future__ import annotations

import json
import math
import numbers
import posixpath
import re
import urllib.parse
from collections.abc import Iterable, Sequence
from typing import Any

from stratus.domain import messages
from stratus.domain.entities import Dataset, DatasetInput, Metric
from stratus.errors import InvalidParameterValue

# --------------------------------------------------------------------------- limits (utils/validation.py)

MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000
MAX_DATASETS_PER_BATCH = 1000
MAX_ENTITIES_PER_BATCH = 1000
MAX_BATCH_LOG_REQUEST_SIZE = 1_000_000
MAX_PARAM_VAL_LENGTH = 6000
MAX_TAG_VAL_LENGTH = 8000
MAX_EXPERIMENT_NAME_LENGTH = 500
MAX_EXPERIMENT_TAG_KEY_LENGTH = 250
MAX_EXPERIMENT_TAG_VAL_LENGTH = 20000
MAX_CUSTOM_VIEWS_PER_EXPERIMENT = 50
MAX_ENTITY_KEY_LENGTH = 250
MAX_EXPERIMENTS_LISTED_PER_PAGE = 50000
MAX_DATASET_NAME_SIZE = 500
MAX_DATASET_DIGEST_SIZE = 36
MAX_DATASET_SCHEMA_SIZE = 1048575
MAX_DATASET_SOURCE_SIZE = 65535
MAX_DATASET_PROFILE_SIZE = 16777215
MAX_INPUT_TAG_KEY_SIZE = 255
MAX_INPUT_TAG_VALUE_SIZE = 500
MAX_ARTIFACT_LOCATION_LENGTH = 2048
"""Default of the reference's ``MLFLOW_ARTIFACT_LOCATION_MAX_LENGTH``."""

# Search and history arguments (store/tracking/__init__.py, server/handlers.py).
SEARCH_MAX_RESULTS_DEFAULT = 1000
SEARCH_MAX_RESULTS_THRESHOLD = 50000
GET_METRIC_HISTORY_MAX_RESULTS = 25000
MAX_RUNS_GET_METRIC_HISTORY_BULK = 100
MAX_RESULTS_PER_RUN = 2500
"""Upper bound (and default) of ``max_results`` in metrics/get-history-bulk-interval."""
MAX_HISTORY_BULK_RESULTS = 25000
"""Upper bound (and default) of ``max_results`` in the UI's older metrics/get-history-bulk."""

TRUNCATE_LONG_VALUES = True
"""The reference's ``MLFLOW_TRUNCATE_LONG_VALUES`` default: over-long param and run-tag values are cut, not refused."""

CUSTOM_VIEW_TAG_PREFIX = "mlflow.customView.view"
TRACE_ARCHIVAL_RETENTION_TAG = "mlflow.trace.archivalRetention"
TRACE_ARCHIVE_NOW_TAG = "mlflow.trace.archiveNow"
MAX_TRACE_ARCHIVAL_RETENTION_LENGTH = 32

HOST_ADDRESSED_ARTIFACT_SCHEMES = frozenset(
    {"ftp", "sftp", "hdfs", "viewfs", "http", "https", "mlflow-artifacts", "r2", "b2", "abfss"}
)
"""Schemes whose repositories connect to the host named in the URI; refused for experiment artifact locations."""

RUN_ID_REGEX = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}$")
EXPERIMENT_ID_REGEX = re.compile(r"^[a-zA-Z0-9][\w\-]{0,63}$")
KEY_NAME_REGEX = re.compile(r"^[/\w.\- :]*$")
"""Param, metric and tag keys: word characters (Unicode too), ``/``, ``.``, ``-``, space and ``:``."""
_TRACE_ARCHIVAL_RETENTION_REGEX = re.compile(r"^[1-9][0-9]*[mhd]$")


def _invalid(message: str) -> InvalidParameterValue:
    return InvalidParameterValue(message)


def append_to_json_path(current_path: str, value: str) -> str:
    """``""`` + ``name`` → ``name``; ``metrics[0]`` + ``name`` → ``metrics[0].name``."""
    if not current_path:
        return value
    if value.startswith("["):
        return f"{current_path}{value}"
    return f"{current_path}.{value}"


# --------------------------------------------------------------------------- key names


def is_valid_key_name(name: str) -> bool:
    """Whether ``name`` uses only the characters the reference allows in param, metric and tag keys."""
    return KEY_NAME_REGEX.match(name) is not None


def path_not_unique(name: str) -> bool:
    """True when ``name``, read as a path, is not its own normal form: ``a/./b``, ``a//b``, ``a/``, ``../x``,
    ``..a``, ``/abs``, ``.`` and ``""`` (which normalises to ``.``). ``a..b`` is fine."""
    norm = posixpath.normpath(name)
    return norm != str(name) or norm == "." or norm.startswith("..") or norm.startswith("/")


def _check_key_chars_and_path(name: str, path: str) -> None:
    if not is_valid_key_name(name):
        raise _invalid(messages.invalid_value(path, name, messages.bad_character_message()))
    if path_not_unique(name):
        raise _invalid(messages.invalid_value(path, name, messages.bad_path_message(name)))


def validate_metric_name(name: str | None, path: str = "name") -> None:
    if name is None:
        raise _invalid(messages.invalid_value(path, name, f"Metric name cannot be None. {messages.MISSING_KEY_NAME}"))
    _check_key_chars_and_path(name, path)


def validate_param_name(name: str | None, path: str = "key") -> None:
    if name is None:
        raise _invalid(messages.invalid_value(path, "", messages.MISSING_KEY_NAME))
    _check_key_chars_and_path(name, path)


def validate_tag_name(name: str | None, path: str = "key") -> None:
    if name is None:
        raise _invalid(messages.missing_value(path))
    _check_key_chars_and_path(name, path)


def validate_length_limit(entity_name: str, limit: int, value: str | None, *, truncate: bool = False) -> str | None:
    """``value`` if it fits; cut to ``limit`` when ``truncate`` (and truncation is on); otherwise refused."""
    if value is None or len(value) <= limit:
        return value
    if truncate and TRUNCATE_LONG_VALUES:
        return value[:limit]
    raise _invalid(messages.exceeds_maximum_length(entity_name, limit))


def truncate_param_value(value: str) -> str:
    """The reference keeps the first 6000 characters of a longer param value (and logs a warning)."""
    return value[:MAX_PARAM_VAL_LENGTH] if TRUNCATE_LONG_VALUES else value


def truncate_tag_value(value: str) -> str:
    """The reference keeps the first 8000 characters of a longer run tag value, ``mlflow.runName`` included.

    Experiment tag values are never cut (over 20000 is refused), and neither are run names given to runs/create or
    runs/update, nor tags given to runs/create: the reference stores those as sent.
    """
    return value[:MAX_TAG_VAL_LENGTH] if TRUNCATE_LONG_VALUES else value


# --------------------------------------------------------------------------- metrics, params, tags


def _is_numeric(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Number)


def validate_metric(key: str | None, value: Any, timestamp: Any, step: Any, path: str = "") -> None:
    """A metric's key, value, timestamp (>= 0) and step, in the reference's order and words.

    NaN and ±infinity are valid values; negative steps are valid.
    """
    validate_metric_name(key, append_to_json_path(path, "name"))
    if value is None:
        raise _invalid(messages.missing_value(append_to_json_path(path, "value")))
    if not _is_numeric(value):
        raise _invalid(
            messages.invalid_value(
                append_to_json_path(path, "value"),
                value,
                f"(timestamp={timestamp}). Please specify value as a valid double (64-bit floating point)",
            )
        )
    shown = float(value) if isinstance(value, numbers.Real) else value
    if not isinstance(timestamp, numbers.Real) or timestamp < 0:
        raise _invalid(
            messages.invalid_value(
                append_to_json_path(path, "timestamp"),
                timestamp,
                f"metric '{key}' (value={shown}). Timestamp must be a nonnegative long (64-bit integer) ",
            )
        )
    if not isinstance(step, numbers.Number):
        raise _invalid(
            messages.invalid_value(
                append_to_json_path(path, "step"),
                step,
                f"metric '{key}' (value={shown}). Step must be a valid long (64-bit integer).",
            )
        )
    validate_length_limit("Metric name", MAX_ENTITY_KEY_LENGTH, key)


def validate_param(key: str | None, value: str | None, path: str = "") -> str:
    """A param's key; returns the value to store (cut to 6000 characters). A missing value counts as ``""``."""
    validate_param_name(key, append_to_json_path(path, "key"))
    validate_length_limit("Param key", MAX_ENTITY_KEY_LENGTH, key)
    return validate_length_limit("Param value", MAX_PARAM_VAL_LENGTH, value or "", truncate=True) or ""


def validate_tag(key: str | None, value: str | None, path: str = "") -> str:
    """A run tag's key; returns the value to store (cut to 8000 characters). A missing value counts as ``""``."""
    validate_tag_name(key, append_to_json_path(path, "key"))
    validate_length_limit(append_to_json_path(path, "key"), MAX_ENTITY_KEY_LENGTH, key)
    stored = validate_length_limit(append_to_json_path(path, "value"), MAX_TAG_VAL_LENGTH, value or "", truncate=True)
    return stored or ""


def validate_experiment_tag(key: str | None, value: str | None) -> None:
    """An experiment tag: key rules, key <= 250, value <= 20000 (refused, never cut), trace-archival tag syntax."""
    validate_tag_name(key)
    validate_length_limit("key", MAX_EXPERIMENT_TAG_KEY_LENGTH, key)
    validate_length_limit("value", MAX_EXPERIMENT_TAG_VAL_LENGTH, value)
    if key == TRACE_ARCHIVAL_RETENTION_TAG:
        _parse_trace_archival_config(value, duration_key="value", expected_type="duration")
    elif key == TRACE_ARCHIVE_NOW_TAG:
        _parse_trace_archival_config(value, duration_key="older_than", allow_missing_duration=True)


def _parse_trace_archival_config(
    value: str | None, *, duration_key: str, expected_type: str | None = None, allow_missing_duration: bool = False
) -> None:
    if value is None:
        return
    try:
        payload = json.loads(value)
    except ValueError as exc:
        raise _invalid("Trace archival config must be encoded as a JSON object.") from exc
    if not isinstance(payload, dict):
        raise _invalid("Trace archival config must be encoded as a JSON object.")
    if expected_type is not None and payload.get("type") != expected_type:
        raise _invalid(f"Trace archival config must use type '{expected_type}'.")
    duration = payload.get(duration_key)
    if duration is None and allow_missing_duration:
        return
    _validate_trace_archival_retention(duration)


def _validate_trace_archival_retention(value: Any) -> None:
    form = "Trace archival retention must be in the form `<int><unit>`, where unit is one of 'm', 'h', or 'd'."
    if not isinstance(value, str):
        raise _invalid(form)
    trimmed = value.strip()
    if len(trimmed) > MAX_TRACE_ARCHIVAL_RETENTION_LENGTH:
        raise _invalid("Trace archival duration must be at most 32 characters.")
    if _TRACE_ARCHIVAL_RETENTION_REGEX.fullmatch(trimmed) is None:
        raise _invalid(form)


# --------------------------------------------------------------------------- batches


def validate_batch_limits(n_metrics: int, n_params: int, n_tags: int) -> None:
    """At most 1000 metrics, 100 params, 100 tags and 1000 entities in all per log-batch."""
    _check_batch_limit("metrics", MAX_METRICS_PER_BATCH, n_metrics)
    _check_batch_limit("params", MAX_PARAMS_TAGS_PER_BATCH, n_params)
    _check_batch_limit("tags", MAX_PARAMS_TAGS_PER_BATCH, n_tags)
    _check_batch_limit("metrics, params, and tags", MAX_ENTITIES_PER_BATCH, n_metrics + n_params + n_tags)


def _check_batch_limit(entity_name: str, limit: int, length: int) -> None:
    if length > limit:
        raise _invalid(messages.batch_limit_exceeded(entity_name, limit, length))


def validate_batch_payload(
    metrics: Sequence[Metric],
    params: Sequence[tuple[str, str]],
    tags: Sequence[tuple[str, str]],
    *,
    indexed: bool = True,
) -> tuple[list[Metric], list[tuple[str, str]], list[tuple[str, str]]]:
    """Every metric, then every param, then every tag, stopping at the first fault.

    Returns the entities to store: param and tag values cut to their limits. ``indexed`` names the offender as the
    reference's log-batch does (``params[2].key``); ``indexed=False`` names it as log-metric, log-parameter and
    set-tag do (``name``, ``key``).
    """

    def at(kind: str, index: int) -> str:
        return f"{kind}[{index}]" if indexed else ""

    for index, metric in enumerate(metrics):
        validate_metric(metric.key, metric.value, metric.timestamp, metric.step, path=at("metrics", index))
    checked_params = [(key, validate_param(key, value, path=at("params", i))) for i, (key, value) in enumerate(params)]
    checked_tags = [(key, validate_tag(key, value, path=at("tags", i))) for i, (key, value) in enumerate(tags)]
    return list(metrics), checked_params, checked_tags


def validate_param_keys_unique(params: Iterable[tuple[str, str]]) -> None:
    """The same key twice in one batch is refused, even with equal values; every repeat is listed."""
    seen: set[str] = set()
    dupes: list[str] = []
    for key, _value in params:
        if key in seen:
            dupes.append(key)
        seen.add(key)
    if dupes:
        raise _invalid(messages.duplicate_param_keys(dupes))


def validate_log_batch(
    metrics: Sequence[Metric],
    params: Sequence[tuple[str, str]],
    tags: Sequence[tuple[str, str]],
    *,
    indexed: bool = True,
) -> tuple[list[Metric], list[tuple[str, str]], list[tuple[str, str]]]:
    """Everything the reference checks on a batch before it looks at the run, in its order:
    each entity, then the count limits, then duplicate param keys."""
    checked = validate_batch_payload(metrics, params, tags, indexed=indexed)
    validate_batch_limits(len(metrics), len(params), len(tags))
    validate_param_keys_unique(checked[1])
    return checked


def validate_batch_request_size(size: int) -> None:
    """At most 1 MB per log-batch body.

    The reference applies this to ``len()`` of the *parsed* body (its number of top-level keys), so in practice it
    never fires there; callers that pass the byte length get a stricter check than the reference.
    """
    if size > MAX_BATCH_LOG_REQUEST_SIZE:
        raise _invalid(messages.batch_request_too_large(MAX_BATCH_LOG_REQUEST_SIZE, size))


# --------------------------------------------------------------------------- ids and names


def validate_run_id(run_id: str, path: str = "run_id") -> None:
    """1-256 word characters or dashes, starting with a letter or digit.

    The reference checks this in log-batch and log-inputs only; elsewhere a malformed id is just "not found".
    """
    if not isinstance(run_id, str) or RUN_ID_REGEX.match(run_id) is None:
        raise _invalid(messages.invalid_value(path, run_id))


def validate_experiment_id(experiment_id: str | int) -> str:
    """An experiment id must parse as an integer; returns it in canonical form (`` 07 `` → ``7``).

    The reference looks experiments up by that integer, so ``"07"`` finds experiment 7 there.
    """
    try:
        return str(int(experiment_id))
    except (TypeError, ValueError) as exc:
        raise _invalid(messages.invalid_experiment_id(experiment_id)) from exc


def validate_experiment_id_format(experiment_id: str | None) -> None:
    """The file store's looser rule: 1-64 word characters or dashes, starting with a letter or digit."""
    if experiment_id is not None and EXPERIMENT_ID_REGEX.match(experiment_id) is None:
        raise _invalid(messages.invalid_experiment_id_format(experiment_id))


def validate_experiment_name(name: Any) -> None:
    """Non-empty string of at most 500 characters. Whitespace-only names are accepted, as by the reference."""
    if name == "" or name is None:
        raise _invalid(messages.invalid_experiment_name(name))
    if not isinstance(name, str):
        raise _invalid(messages.experiment_name_not_string(name))
    if len(name) > MAX_EXPERIMENT_NAME_LENGTH:
        raise _invalid(messages.exceeds_maximum_length("name", MAX_EXPERIMENT_NAME_LENGTH))


def validate_list_param(param_name: str, param_value: Any, allow_none: bool = False) -> None:
    """A client-side check of the reference (``experiment_ids`` given as a bare string), kept for reuse."""
    if allow_none and param_value is None:
        return
    if not isinstance(param_value, list):
        raise _invalid(
            f"{param_name} must be a list, got {type(param_value).__name__}. "
            f"Did you mean to use {param_name}=[{param_value!r}]?"
        )


# --------------------------------------------------------------------------- experiment artifact locations


def validate_experiment_artifact_location(
    location: str,
    *,
    allowed_host_schemes: Iterable[str] = (),
    max_length: int = MAX_ARTIFACT_LOCATION_LENGTH,
    field: str = "artifact_location",
) -> None:
    """The checks experiments/create makes on an ``artifact_location``, in the reference's order: no fragment or
    ``;params``, no ``..`` in the query, no scheme that names a host (``http``, ``ftp``, ``mlflow-artifacts://h``...)
    unless allowed, not a ``runs:`` URI, at most 2048 characters."""
    parsed = urllib.parse.urlparse(location)
    if parsed.fragment or parsed.params:
        raise _invalid(messages.artifact_location_has_fragment(field))
    _validate_query_string(parsed.query)
    scheme = _uri_scheme(location)
    allowed = {s.lower() for s in allowed_host_schemes}
    if _selects_host(location, scheme) and scheme not in allowed:
        raise _invalid(messages.artifact_location_host_addressed(scheme, field))
    validate_experiment_artifact_location_scheme(location)
    validate_experiment_artifact_location_length(location, max_length)


def validate_experiment_artifact_location_scheme(location: str | None) -> None:
    if location is not None and location.startswith("runs:"):
        raise _invalid(messages.artifact_location_is_runs_uri(location))


def validate_experiment_artifact_location_length(location: str, max_length: int = MAX_ARTIFACT_LOCATION_LENGTH) -> None:
    if len(location) > max_length:
        raise _invalid(messages.artifact_location_too_long(max_length))


def _uri_scheme(uri: str) -> str:
    scheme = urllib.parse.urlparse(uri).scheme
    # A Windows drive letter (C:\...) parses as a one-letter scheme; it is a local path.
    return "" if len(scheme) == 1 and scheme.isalpha() else scheme


def _selects_host(uri: str, scheme: str) -> bool:
    if scheme not in HOST_ADDRESSED_ARTIFACT_SCHEMES:
        return False
    # mlflow-artifacts:/path resolves against the tracking server itself.
    return not (scheme == "mlflow-artifacts" and not urllib.parse.urlparse(uri).netloc)


def _validate_query_string(query: str) -> None:
    decoded = query
    for _ in range(10):
        candidate = urllib.parse.urlunparse(urllib.parse.urlparse(urllib.parse.unquote(decoded)))
        if candidate == decoded:
            break
        decoded = candidate
    else:
        raise _invalid(messages.invalid_query_string())
    if ".." in decoded:
        raise _invalid(messages.invalid_query_string())


def validate_custom_view_count(tag_keys: Iterable[str]) -> None:
    """experiments/create: at most 50 ``mlflow.customView.view*`` tags."""
    if sum(key.startswith(CUSTOM_VIEW_TAG_PREFIX) for key in tag_keys) > MAX_CUSTOM_VIEWS_PER_EXPERIMENT:
        raise _invalid(messages.custom_view_limit_exceeded(MAX_CUSTOM_VIEWS_PER_EXPERIMENT))


def validate_custom_view_tag_write(experiment_id: str, existing_keys: Iterable[str], key: str) -> None:
    """experiments/set-experiment-tag: a new custom-view tag may not make more than 50; overwriting one may."""
    if not key.startswith(CUSTOM_VIEW_TAG_PREFIX):
        return
    keys = set(existing_keys)
    if key in keys:
        return
    if sum(k.startswith(CUSTOM_VIEW_TAG_PREFIX) for k in keys) >= MAX_CUSTOM_VIEWS_PER_EXPERIMENT:
        raise _invalid(messages.custom_view_limit_exceeded(MAX_CUSTOM_VIEWS_PER_EXPERIMENT, experiment_id))


# --------------------------------------------------------------------------- datasets (runs/log-inputs)


def validate_dataset_inputs(dataset_inputs: Iterable[DatasetInput]) -> None:
    """Each dataset's fields and sizes, then its input tags. Absent strings arrive as ``""`` over REST, so the
    reference's "cannot be None" checks only matter for direct callers."""
    for dataset_input in dataset_inputs:
        validate_dataset(dataset_input.dataset)
        for key, value in dataset_input.tags:
            validate_input_tag(key, value)


_DATASET_LIMITS = (
    ("name", MAX_DATASET_NAME_SIZE),
    ("digest", MAX_DATASET_DIGEST_SIZE),
    ("source", MAX_DATASET_SOURCE_SIZE),
    ("schema", MAX_DATASET_SCHEMA_SIZE),
    ("profile", MAX_DATASET_PROFILE_SIZE),
)


def validate_dataset(dataset: Dataset | None) -> None:
    if dataset is None:
        raise _invalid("Dataset cannot be None")
    for field_name in ("name", "digest", "source_type", "source"):
        if getattr(dataset, field_name) is None:
            raise _invalid(f"Dataset {field_name} cannot be None")
    for field_name, limit in _DATASET_LIMITS:
        value = getattr(dataset, field_name)
        if value is not None and len(value) > limit:
            raise _invalid(messages.exceeds_maximum_length(field_name, limit))


def validate_input_tag(key: str | None, value: str | None) -> None:
    if key is None:
        raise _invalid("InputTag key cannot be None")
    if value is None:
        raise _invalid("InputTag value cannot be None")
    if len(key) > MAX_INPUT_TAG_KEY_SIZE:
        raise _invalid(messages.exceeds_maximum_length("key", MAX_INPUT_TAG_KEY_SIZE))
    if len(value) > MAX_INPUT_TAG_VALUE_SIZE:
        raise _invalid(messages.exceeds_maximum_length("value", MAX_INPUT_TAG_VALUE_SIZE))


# --------------------------------------------------------------------------- search and history arguments


def validate_search_runs_max_results(max_results: int | None) -> None:
    """runs/search: over 50000 fails the request-schema check (its generic text); below 1 fails in the store."""
    if max_results is not None and max_results > SEARCH_MAX_RESULTS_THRESHOLD:
        raise _invalid(messages.invalid_type_message("max_results", max_results))
    if max_results is not None and max_results < 1:
        raise _invalid(messages.max_results_not_positive(max_results))


def validate_search_experiments_max_results(max_results: int | None) -> None:
    """experiments/search: 1 to 50000. The reference has no default: an absent ``max_results`` reads as 0 and is
    refused (the stock client always sends 1000)."""
    if max_results is None or max_results < 1:
        raise _invalid(messages.max_results_not_positive(max_results))
    if max_results > SEARCH_MAX_RESULTS_THRESHOLD:
        raise _invalid(messages.max_results_above_limit(max_results, SEARCH_MAX_RESULTS_THRESHOLD))


def validate_metric_history_max_results(max_results: int | None) -> None:
    """metrics/get-history: absent means everything; otherwise positive (no upper bound)."""
    if max_results is not None and max_results <= 0:
        raise _invalid(messages.metric_history_max_results_not_positive(max_results))


def validate_bulk_interval_request(
    run_ids: Sequence[str] | None,
    metric_key: str | None,
    max_results: int | None,
    start_step: int | None,
    end_step: int | None,
) -> None:
    """metrics/get-history-bulk-interval: run_ids required (at most 100), metric_key required, max_results 1 to
    2500 when given (absent means 2500), and start_step/end_step both or neither, start <= end."""
    if not run_ids:
        raise _invalid(messages.missing_parameter_message("run_ids"))
    if len(run_ids) > MAX_RUNS_GET_METRIC_HISTORY_BULK:
        raise _invalid(messages.bulk_interval_too_many_runs(MAX_RUNS_GET_METRIC_HISTORY_BULK, len(run_ids)))
    if not metric_key:
        raise _invalid(messages.missing_parameter_message("metric_key"))
    if max_results is not None and not 1 <= max_results <= MAX_RESULTS_PER_RUN:
        raise _invalid(messages.bulk_interval_max_results_out_of_range(MAX_RESULTS_PER_RUN))
    if (start_step is None) != (end_step is None):
        raise _invalid(messages.bulk_interval_steps_incomplete())
    if start_step is not None and end_step is not None and start_step > end_step:
        raise _invalid(messages.bulk_interval_steps_reversed(start_step, end_step))


def validate_history_bulk_request(run_ids: Sequence[str], metric_key: str | None) -> None:
    """metrics/get-history-bulk (the UI's older route, checked by hand in the reference): at least one ``run_id``, at
    most 100, and a ``metric_key`` (an empty one is accepted: it matches no metric)."""
    if not run_ids:
        raise _invalid(messages.history_bulk_without_runs())
    if len(run_ids) > MAX_RUNS_GET_METRIC_HISTORY_BULK:
        raise _invalid(messages.history_bulk_too_many_runs(MAX_RUNS_GET_METRIC_HISTORY_BULK, len(run_ids)))
    if metric_key is None:
        raise _invalid(messages.history_bulk_without_metric_key())


def validate_history_max_results(max_results: int | None) -> None:
    """metrics/get-history: a ``max_results`` that is given must be positive (absent means every point)."""
    if max_results is not None and max_results <= 0:
        raise _invalid(messages.history_max_results_not_positive(max_results))


# --------------------------------------------------------------------------- request field types (proto JSON rules)

_INT_RANGES = {32: (-(2**31), 2**31 - 1), 64: (-(2**63), 2**63 - 1)}


def coerce_int(field: str, value: Any, *, bits: int = 64) -> int:
    """An integer request field as protobuf JSON parsing reads it: a JSON integer, an integral float (``2.0``) or a
    string without spaces holding an integer (``"123"``, ``"1.0"``, ``"1e3"``); booleans, fractions (``1.5``,
    ``"1.5"``) and out-of-range numbers are refused.

    The reference server silently leaves such a field unset (0) when its own schema check lets the value through
    (``1.5``, ``2**63``); we refuse it with the schema-check text instead.
    """
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise _invalid(messages.invalid_type_message(field, value))
    if isinstance(value, str) and " " in value:
        raise _invalid(messages.invalid_type_message(field, value))
    number = _proto_int(value)
    if number is None:
        raise _invalid(messages.invalid_type_message(field, value))
    low, high = _INT_RANGES[bits]
    if not low <= number <= high:
        raise _invalid(messages.invalid_type_message(field, value))
    return number


def _proto_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        pass
    if not isinstance(value, str):
        return None
    try:  # protobuf also reads integer-valued float strings: "1.0", "1e3"
        number = float(value)
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


def coerce_double(field: str, value: Any) -> float:
    """A double request field as protobuf JSON parsing reads it: a JSON number (``true`` counts as 1.0), a numeric
    string (``"1.5"``, ``"1e3"``), or the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (also ``"inf"``,
    ``"NAN"``: Python spellings); lowercase ``"nan"`` is refused. Bare ``NaN``/``Infinity`` tokens (which Python's
    json module reads as floats) are accepted as what they say; the reference logs 0 at timestamp 0 for them.
    """
    if isinstance(value, int | float) or (isinstance(value, str) and value != "nan"):
        try:
            return float(value)
        except (ValueError, OverflowError):
            pass
    raise _invalid(messages.invalid_type_message(field, value))


def require_string(field: str, value: Any) -> str:
    """A string request field: anything else fails the schema check with the reference's text."""
    if not isinstance(value, str):
        raise _invalid(messages.invalid_type_message(field, value))
    return value


MAX_STORED_METRIC_VALUE = 1.7976931348623157e308


def stored_metric_value(value: float) -> float:
    """The value the reference answers after storing ``value``: ±infinity comes back as ±1.7976931348623157e308
    (its SQL columns cannot hold infinities); NaN comes back as NaN (JSON ``"NaN"``); anything else unchanged."""
    if math.isinf(value):
        return MAX_STORED_METRIC_VALUE if value > 0 else -MAX_STORED_METRIC_VALUE
    return value
