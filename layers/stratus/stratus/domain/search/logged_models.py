"""Search over logged models: filter and order exactly as the reference's SQL store (``search_logged_models``).

MLflow 3 searches logged models with a grammar of its own (``mlflow/utils/search_logged_model_utils.py``), not the
runs grammar: prefixes are ``attributes.``, ``metrics.``, ``params.`` and ``tags.`` only, a bare name is an
attribute, and the filter is turned into SQL on the ``logged_models`` table. What a filter means follows from that
SQL on SQLite, so this module evaluates the same conditions in memory. Checked against ``SqlAlchemyStore`` on SQLite:

* Attributes are the table's columns: ``model_id``, ``experiment_id``, ``name``, ``artifact_location``,
  ``creation_timestamp_ms`` (also ``creation_time``, ``creation_timestamp``), ``last_updated_timestamp_ms`` (also
  ``last_updated_timestamp``), ``status``, ``lifecycle_stage``, ``model_type``, ``source_run_id``,
  ``status_message``. The two timestamps take ``< <= > >= = !=`` and a number; the rest take
  ``= != LIKE ILIKE IN NOT IN``. String values are the text with single quotes stripped from both ends (no
  unescaping); double-quoted or bare words are taken verbatim, quotes included.
* ``status`` and ``experiment_id`` are integer columns: ``status`` holds 0 (unspecified), 1 (pending), 2 (ready)
  or 3 (upload failed), so ``status = '2'`` finds ready models and ``status = 'READY'`` finds none; a value that
  reads as a number compares as one (``' 2 '``, ``'2.0'``), any other value is unequal to every row.
* ``metrics.<key> <op> <number>`` holds when *any* point of that metric (any step, run or dataset) satisfies it;
  with the request's ``datasets``, only points on one of those datasets count, and without a metric clause the
  model must have some metric point on one of them. The handler always passes a digest, ``None`` when the request
  has none, and the store then requires a point with *no* digest: so a dataset given by name alone matches only
  points logged without a digest (the MLflow client logs both or neither).
* NaN metric values are stored as 0 and +/-inf as +/-max float; a NaN threshold matches nothing.
* ``params.`` and ``tags.`` compare strings; a model lacking the key satisfies no comparison, ``!=`` included.
* Order: each order_by entry (an attribute, or ``metrics.<key>`` with an optional ``dataset_name`` /
  ``dataset_digest``) puts models lacking a value last in both directions; a metric orders by its latest point
  (highest timestamp, then highest step, then lowest run id). Then ``creation_timestamp_ms`` DESC unless ordered
  on already, then ``model_id`` ASC unless ordered on already.
* Deleted models never appear. Experiment ids and paging are the caller's.

Where the reference fails with an internal error (an unknown attribute, a value that is not a number, a list that
SQL cannot bind) this module raises :class:`InvalidParameterValue` instead: a 4xx keeps clients from retrying.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlparse
from sqlparse import tokens as T
from sqlparse.sql import Comparison, Identifier, Parenthesis, Token

from stratus.domain.entities import DELETED, LoggedModel, ModelMetric
from stratus.domain.search.comparison import ORDERING_OPERATORS, ascii_lower, like_predicate, stored_metric_value
from stratus.errors import InvalidParameterValue

ATTRIBUTES = "attributes"
METRICS = "metrics"
PARAMS = "params"
TAGS = "tags"
ENTITY_TYPES = (ATTRIBUTES, METRICS, PARAMS, TAGS)

NUMERIC_OPERATORS = ("<", "<=", ">", ">=", "=", "!=")
STRING_OPERATORS = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")

STATUS_CODES = {
    "LOGGED_MODEL_STATUS_UNSPECIFIED": 0,
    "LOGGED_MODEL_PENDING": 1,
    "LOGGED_MODEL_READY": 2,
    "LOGGED_MODEL_UPLOAD_FAILED": 3,
}

_COLUMN_ALIASES = {
    "creation_time": "creation_timestamp_ms",
    "creation_timestamp": "creation_timestamp_ms",
    "last_updated_timestamp": "last_updated_timestamp_ms",
}
_TIMESTAMP_COLUMNS = frozenset({"creation_timestamp_ms", "last_updated_timestamp_ms"})
_INTEGER_COLUMNS = frozenset({"experiment_id", "status"})

_IDENTIFIER = re.compile(r"^([a-z]+)\.(.+)$")
_SQLITE_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_SQLITE_SPACE = " \t\n\v\f\r"

_NOT_A_CONJUNCTION = (
    "Invalid filter string: {!r}. Expected a list of comparisons separated by 'AND' "
    "(e.g. 'metrics.loss > 0.1 AND params.lr = 0.01')."
)

SqlValue = str | int | float | None
Predicate = Callable[[LoggedModel], bool]
ModelValue = Callable[[LoggedModel], SqlValue]


def _experiment_id_value(model: LoggedModel) -> SqlValue:
    experiment_id = model.experiment_id
    return int(experiment_id) if experiment_id.isascii() and experiment_id.isdigit() else experiment_id


# The columns of the reference's logged_models table, read as SQLite holds them.
_COLUMNS: dict[str, ModelValue] = {
    "model_id": lambda model: model.model_id,
    "experiment_id": _experiment_id_value,
    "name": lambda model: model.name,
    "artifact_location": lambda model: model.artifact_uri,
    "creation_timestamp_ms": lambda model: model.creation_timestamp_ms,
    "last_updated_timestamp_ms": lambda model: model.last_updated_timestamp_ms,
    "status": lambda model: STATUS_CODES.get(model.status, 0),
    "lifecycle_stage": lambda model: model.lifecycle_stage,
    "model_type": lambda model: model.model_type,
    "source_run_id": lambda model: model.source_run_id,
    "status_message": lambda model: model.status_message,
}


# ---------------------------------------------------------------------------------------------------------------
# SQLite values
# ---------------------------------------------------------------------------------------------------------------


def _sqlite_number(text: str) -> int | float | None:
    """The number SQLite reads from ``text`` next to an integer column, or None if it stays text."""
    stripped = text.strip(_SQLITE_SPACE)
    if _SQLITE_NUMBER.fullmatch(stripped) is None:
        return None
    if any(mark in stripped for mark in ".eE"):
        return float(stripped)
    return int(stripped)


def _sqlite_text(value: int | float) -> str:
    """A number as SQLite renders it in text (``%!.15g`` for reals), as when compared with a text column."""
    if isinstance(value, int):
        return str(value)
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    text = f"{value + 0.0:.15g}"
    mantissa, marker, exponent = text.partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return mantissa + marker + exponent


def _bound(value: object, integer_column: bool) -> SqlValue:
    """A value given in a filter as SQLite compares it with a column of that affinity (text or integer)."""
    if value is None:
        return None
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, str):
        if integer_column:
            number = _sqlite_number(value)
            return value if number is None else number
        return value
    if isinstance(value, int | float):
        return value if integer_column else _sqlite_text(value)
    raise InvalidParameterValue(f"Unsupported value in filter: {value!r}")


def _as_text(value: str | int | float) -> str:
    return value if isinstance(value, str) else _sqlite_text(value)


# ---------------------------------------------------------------------------------------------------------------
# filter: parsing (the reference's parse_filter_string)
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _RawComparison:
    """A comparison as the tokenizer grouped it: its non-blank parts and its text for messages."""

    parts: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class _Clause:
    entity: str  # one of ENTITY_TYPES
    key: str
    op: str  # upper-case
    value: object  # float for numeric keys; otherwise a str, or what a parenthesised literal evaluated to
    numeric: bool


def _parse_filter(filter_string: str | None) -> list[_Clause]:
    if not filter_string:
        return []
    try:
        statements = sqlparse.parse(filter_string)
    except Exception as exc:  # the reference turns any parser failure into this message
        raise InvalidParameterValue(f"Invalid filter string: {filter_string!r}. {exc!r}") from exc
    if len(statements) != 1:
        raise InvalidParameterValue(f"Invalid filter string: {filter_string!r}. Expected a single SQL expression.")
    clauses: list[_Clause] = []
    for item in _group_comparisons(statements[0].tokens):
        if isinstance(item, _RawComparison):
            clauses.append(_read_comparison(item))
        elif item.value.strip().upper() != "AND":
            raise InvalidParameterValue(_NOT_A_CONJUNCTION.format(filter_string))
    return clauses


def _comparison_of(token: Token) -> Token | _RawComparison:
    if isinstance(token, Comparison):
        return _RawComparison(tuple(str(part) for part in token.tokens if not part.is_whitespace), str(token))
    return token


def _joined(*parts: str) -> _RawComparison:
    return _RawComparison(parts, "".join(parts))


def _group_comparisons(tokens: Sequence[Token]) -> list[Token | _RawComparison]:
    """Group ``x IN (...)``, ``x NOT IN (...)``, ``x IS [NOT] NULL``, which sqlparse leaves apart.

    The scan mirrors the reference's, including the tokens it steps over after a failed match.
    """
    items = [token for token in tokens if not token.is_whitespace]
    grouped: list[Token | _RawComparison] = []
    index = 0
    while index < len(items):
        if len(items) - index < 3:
            grouped.extend(_comparison_of(token) for token in items[index:])
            break
        first = items[index]
        if not isinstance(first, Identifier):
            grouped.append(_comparison_of(first))
            index += 1
            continue
        group, consumed = _match_list_or_null(items, index)
        if group is not None:
            grouped.append(group)
        else:
            grouped.extend(_comparison_of(token) for token in items[index : index + consumed])
        index += consumed
    return grouped


def _match_list_or_null(items: Sequence[Token], index: int) -> tuple[_RawComparison | None, int]:
    first, second, third = items[index], items[index + 1], items[index + 2]
    if second.match(T.Keyword, ["IN"]) and isinstance(third, Parenthesis):
        return _joined(str(first), str(second), str(third)), 3
    if second.match(T.Keyword, ["IS"]) and third.match(T.Keyword, ["NULL"]):
        return _joined(str(first), "IS NULL"), 3
    if second.match(T.Keyword, ["IS"]) and third.ttype == T.Keyword and third.value.upper() == "NOT NULL":
        return _joined(str(first), "IS NOT NULL"), 3
    if index + 3 >= len(items):
        return None, 3
    fourth = items[index + 3]
    if second.match(T.Keyword, ["NOT"]) and third.match(T.Keyword, ["IN"]) and isinstance(fourth, Parenthesis):
        return _joined(str(first), "NOT IN", str(fourth)), 4
    return None, 4


def _read_entity(identifier: str) -> tuple[str, str]:
    match = _IDENTIFIER.match(identifier)
    if match is None:
        return ATTRIBUTES, _COLUMN_ALIASES.get(identifier, identifier).strip("`")
    entity = match.group(1)
    if entity not in ENTITY_TYPES:
        raise InvalidParameterValue(f"Invalid entity type: {entity!r}. Expected one of {list(ENTITY_TYPES)}.")
    return entity, match.group(2).strip("`")


def _read_comparison(comparison: _RawComparison) -> _Clause:
    if len(comparison.parts) != 3:
        raise InvalidParameterValue(f"Invalid comparison: {comparison.text}. Expected a comparison with 3 tokens.")
    identifier, op, raw_value = comparison.parts
    op = op.upper()
    entity, key = _read_entity(identifier)
    # As in the reference, aliases count here even for ``attributes.<alias>``, which then names no column.
    numeric = entity == METRICS or (entity == ATTRIBUTES and _COLUMN_ALIASES.get(key, key) in _TIMESTAMP_COLUMNS)
    allowed = NUMERIC_OPERATORS if numeric else STRING_OPERATORS
    if op not in allowed:
        raise InvalidParameterValue(
            f"Invalid comparison operator for {entity}.{key}: {op!r}. Expected one of {allowed}."
        )
    value: object
    if numeric:
        try:
            value = float(raw_value)
        except ValueError as exc:  # the reference answers 500 with this message
            raise InvalidParameterValue(str(exc)) from exc
    elif raw_value.startswith("(") and raw_value.endswith(")"):
        value = _read_literal(raw_value)
    else:
        value = raw_value.strip("'")
    return _Clause(entity, key, op, value, numeric)


def _read_literal(text: str) -> object:
    try:
        value = ast.literal_eval(text)
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError) as exc:
        raise InvalidParameterValue(
            "While parsing a list in the query, expected a non-empty list of string values, but got ill-formed list."
        ) from exc
    return (value,) if isinstance(value, str) else value


# ---------------------------------------------------------------------------------------------------------------
# filter: predicates (the reference's SQL conditions)
# ---------------------------------------------------------------------------------------------------------------


def _binding_error(clause: _Clause) -> InvalidParameterValue | None:
    """A list compared with ``=``, ``LIKE``...: accepted when parsed, but SQLite refuses to bind it later."""
    if clause.op not in ("IN", "NOT IN") and isinstance(clause.value, tuple | list):
        return InvalidParameterValue(f"Error binding parameter: type {type(clause.value).__name__!r} is not supported")
    return None


def _members(value: object, integer_column: bool) -> tuple[frozenset[SqlValue], bool]:
    if not isinstance(value, tuple | list):
        raise InvalidParameterValue(f"Expected a list of values after IN, got {value!r}.")
    bound = [_bound(item, integer_column) for item in value]
    return frozenset(item for item in bound if item is not None), None in bound


def _membership_matcher(op: str, value: object, integer_column: bool) -> Callable[[SqlValue], bool]:
    members, has_null = _members(value, integer_column)
    if not members and not has_null:
        # An empty list: SQL's ``x NOT IN ()`` holds even for NULL.
        return (lambda lhs: False) if op == "IN" else (lambda lhs: True)

    # Once affinities are applied, SQLite's equality is Python's: a number never equals a text.
    if op == "IN":
        return lambda lhs: lhs is not None and lhs in members
    # ``x NOT IN (..., NULL)`` is never true.
    return lambda lhs: lhs is not None and not has_null and lhs not in members


def _like_matcher(op: str, value: SqlValue) -> Callable[[SqlValue], bool]:
    if value is None:  # the reference fails building ``LIKE NULL``
        raise InvalidParameterValue(f"Expected a pattern after {op}, got None.")
    if op == "LIKE":
        like = like_predicate(_as_text(value))
        return lambda lhs: lhs is not None and like(_as_text(lhs))
    folded = like_predicate(ascii_lower(_as_text(value)))
    return lambda lhs: lhs is not None and folded(ascii_lower(_as_text(lhs)))


def _string_matcher(op: str, value: object, integer_column: bool) -> Callable[[SqlValue], bool]:
    """``= != LIKE ILIKE IN NOT IN`` on a text or integer column, as SQLite evaluates them; NULL matches nothing."""
    if op in ("IN", "NOT IN"):
        return _membership_matcher(op, value, integer_column)
    if isinstance(value, tuple | list):  # refused later, once order_by is checked (see _binding_error)
        return lambda lhs: False
    rhs = _bound(value, integer_column)
    if op in ("LIKE", "ILIKE"):
        return _like_matcher(op, rhs)
    if rhs is None:  # ``= None`` and ``!= None`` become IS NULL and IS NOT NULL
        return (lambda lhs: lhs is None) if op == "=" else (lambda lhs: lhs is not None)
    if op == "=":
        return lambda lhs: lhs is not None and lhs == rhs
    return lambda lhs: lhs is not None and lhs != rhs


def _number_matcher(op: str, threshold: float) -> Callable[[Any], bool]:
    if math.isnan(threshold):  # SQLite binds NaN as NULL
        return lambda lhs: False
    compare = ORDERING_OPERATORS[op]
    return lambda lhs: lhs is not None and bool(compare(lhs, threshold))


def _stored_value(metric: ModelMetric) -> float:
    value = metric.value
    return 0.0 if math.isnan(value) else stored_metric_value(value)


@dataclass(frozen=True)
class _DatasetScope:
    """The request's ``datasets``: which metric points count, as (name, digest) pairs; a None digest is IS NULL."""

    datasets: tuple[tuple[str, str | None], ...]

    def covers(self, metric: ModelMetric) -> bool:
        return not self.datasets or any(
            metric.dataset_name == name and metric.dataset_digest == digest for name, digest in self.datasets
        )


def _compile_clause(clause: _Clause, scope: _DatasetScope) -> Predicate:
    if clause.entity == METRICS:
        key, matches_number = clause.key, _number_matcher(clause.op, float(str(clause.value)))
        return lambda model: any(
            metric.key == key and scope.covers(metric) and matches_number(_stored_value(metric))
            for metric in model.metrics
        )
    if clause.entity in (PARAMS, TAGS):
        # The reference joins on the rows of that key: a model without the key matches nothing, not even
        # ``NOT IN ()`` or ``= (None)``, which hold for a NULL attribute.
        matches = _string_matcher(clause.op, clause.value, integer_column=False)
        key = clause.key
        if clause.entity == PARAMS:
            return lambda model: key in model.params and matches(model.params[key])
        return lambda model: key in model.tags and matches(model.tags[key])
    read = _COLUMNS.get(clause.key)
    if read is None:
        raise InvalidParameterValue(f"Invalid logged model search key '{clause.key}'")
    if clause.numeric:
        matches_number = _number_matcher(clause.op, float(str(clause.value)))
        return lambda model: matches_number(read(model))
    matches = _string_matcher(clause.op, clause.value, integer_column=clause.key in _INTEGER_COLUMNS)
    return lambda model: matches(read(model))


def _compile_datasets(datasets: Sequence[Mapping[str, Any]] | None) -> _DatasetScope:
    # As the handler passes them: a digest always, None when empty; an empty list means no datasets.
    pairs = tuple((entry.get("dataset_name") or "", entry.get("dataset_digest") or None) for entry in datasets or ())
    if pairs and not all(name for name, _ in pairs):
        raise InvalidParameterValue("`dataset_name` in the `datasets` clause must be specified.")
    return _DatasetScope(pairs)


# ---------------------------------------------------------------------------------------------------------------
# order_by
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Order:
    """One order_by entry: an attribute column, or a metric's latest point (on a dataset, if one is named)."""

    column: str | None
    metric_key: str | None
    ascending: bool
    dataset_name: str | None = None
    dataset_digest: str | None = None

    def value(self, model: LoggedModel) -> SqlValue:
        if self.column is not None:
            return _COLUMNS[self.column](model)
        points = [
            metric
            for metric in model.metrics
            if metric.key == self.metric_key
            and (self.dataset_name is None or metric.dataset_name == self.dataset_name)
            and (self.dataset_digest is None or metric.dataset_digest == self.dataset_digest)
        ]
        if not points:
            return None
        latest = min(points, key=_latest_first)
        return _stored_value(latest)


def _latest_first(metric: ModelMetric) -> tuple[int, int, int, str]:
    # timestamp DESC, step DESC, run_id ASC (SQLite sorts NULL first)
    run_id = metric.run_id
    return (-metric.timestamp, -metric.step, 0 if run_id is None else 1, run_id or "")


def _compile_order_entry(entry: Mapping[str, Any]) -> _Order:
    field_name = entry.get("field_name") or ""
    ascending = entry.get("ascending")
    ascending = True if ascending is None else bool(ascending)
    if "." not in field_name:
        column = _COLUMN_ALIASES.get(field_name, field_name)
        if column not in _COLUMNS:
            raise InvalidParameterValue(f"Invalid order by field name: {field_name}")
        return _Order(column, None, ascending)
    entity, metric_key = field_name.split(".", 1)
    if entity != METRICS:
        raise InvalidParameterValue(f"Invalid order by field name: {field_name}. Only metrics are supported.")
    return _Order(None, metric_key, ascending, entry.get("dataset_name") or None, entry.get("dataset_digest") or None)


def _compile_order_by(order_by: Sequence[Mapping[str, Any]] | None) -> list[_Order]:
    order = [_compile_order_entry(entry) for entry in order_by or ()]
    columns = {item.column for item in order}
    if "creation_timestamp_ms" not in columns:
        order.append(_Order("creation_timestamp_ms", None, ascending=False))
    if "model_id" not in columns:
        order.append(_Order("model_id", None, ascending=True))
    return order


def _sqlite_sort_key(value: str | int | float) -> tuple[int, str | int | float]:
    # SQLite orders numbers before text.
    return (1, value) if isinstance(value, str) else (0, value)


def _sort_columns(models: Sequence[LoggedModel], item: _Order) -> tuple[list[int], list[int]]:
    """Two ascending sort columns: 1 for a missing value (last in both directions), then the value's rank."""
    values = [item.value(model) for model in models]
    distinct = sorted({_sqlite_sort_key(value) for value in values if value is not None})
    sign = 1 if item.ascending else -1
    ranks = {key: sign * rank for rank, key in enumerate(distinct)}
    groups = [1 if value is None else 0 for value in values]
    return groups, [0 if value is None else ranks[_sqlite_sort_key(value)] for value in values]


def _sort(models: list[LoggedModel], order: Sequence[_Order]) -> list[LoggedModel]:
    columns: list[Sequence[int]] = []
    for item in order:
        columns.extend(_sort_columns(models, item))
    columns.append(range(len(models)))
    return [models[row[-1]] for row in sorted(zip(*columns, strict=True))]


# ---------------------------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoggedModelQuery:
    """A validated, compiled logged-model search: apply it to as many models as needed."""

    predicates: tuple[Predicate, ...]
    order: tuple[_Order, ...]

    def apply(self, models: Sequence[LoggedModel]) -> list[LoggedModel]:
        """The models that are not deleted and pass every condition, in the reference's order."""
        selected = [model for model in models if model.lifecycle_stage != DELETED]
        for predicate in self.predicates:
            selected = [model for model in selected if predicate(model)]
        return _sort(selected, self.order)


def compile_logged_model_search(
    filter_string: str | None,
    order_by: Sequence[Mapping[str, Any]] | None,
    datasets: Sequence[Mapping[str, Any]] | None,
) -> LoggedModelQuery:
    """Validate a SearchLoggedModels request's filter, order_by and datasets, raising the error the reference raises
    first (:class:`InvalidParameterValue`), and compile them.

    ``order_by`` and ``datasets`` are the request's JSON objects (``field_name``, ``ascending``, ``dataset_name``,
    ``dataset_digest``); absent or empty fields mean what the reference handler makes of them. The reference checks
    ``datasets``, then the page token (the caller's), then the filter, then order_by.
    """
    scope = _compile_datasets(datasets)
    clauses = _parse_filter(filter_string)
    predicates = [_compile_clause(clause, scope) for clause in clauses]
    if scope.datasets and not any(clause.entity == METRICS for clause in clauses):
        predicates.insert(0, lambda model: any(scope.covers(metric) for metric in model.metrics))
    order = _compile_order_by(order_by)
    for clause in clauses:
        error = _binding_error(clause)
        if error is not None:
            raise error
    return LoggedModelQuery(tuple(predicates), tuple(order))


def search_logged_models(
    models: Sequence[LoggedModel],
    filter_string: str | None,
    order_by: Sequence[Mapping[str, Any]] | None = None,
    datasets: Sequence[Mapping[str, Any]] | None = None,
) -> list[LoggedModel]:
    """Filter ``models`` (those of the requested experiments) and sort them as the reference does."""
    return compile_logged_model_search(filter_string, order_by, datasets).apply(models)
