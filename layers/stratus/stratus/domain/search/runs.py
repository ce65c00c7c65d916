"""Search over runs: filter and order exactly as the reference's SQL store (``SqlAlchemyStore._search_runs``).

The run view type (active/deleted) and pagination are the caller's; this module filters the runs it is given and
returns them in the reference's order. A filter is compiled once into predicates, then applied to every run.

Semantics worth knowing (all checked against ``mlflow server`` with a SQLite backend):

* Metrics compare their latest value (``Run.metrics``). NaN satisfies only ``!=``; +/-inf compare as +/-max float.
* ``run_name`` / ``run name`` filter on the ``mlflow.runName`` tag (a run whose tag was deleted never matches),
  while ordering by ``run_name`` uses ``RunInfo.run_name``.
* A missing param, tag or metric, or a NULL ``end_time``, satisfies no comparison, ``!=`` included; ``IS NULL`` and
  ``IS NOT NULL`` exist for params and tags only.
* ``datasets.<name|digest|context>``: a run matches when any of its dataset inputs matches; each clause is
  checked on its own (two clauses may be met by two different inputs).
* Order: each order_by key puts runs lacking the key last whatever the direction (for metrics: numbers, then NaN,
  then missing), then ``start_time`` DESC unless ordered on already, then ``run_id`` ASC.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from stratus.domain.entities import Run
from stratus.domain.search.comparison import (
    MAX_FLOAT,
    ORDERING_OPERATORS,
    Matcher,
    ordering_matcher,
    stored_metric_value,
    string_matcher,
)
from stratus.domain.search.grammar import (
    ATTRIBUTE,
    DATASET,
    IS_NOT_NULL,
    IS_NULL,
    METRIC,
    PARAM,
    RUNS,
    TAG,
    Clause,
    parse_filter,
    parse_order_by,
    set_repr,
)
from stratus.errors import BadRequest, InvalidParameterValue

MLFLOW_RUN_NAME = "mlflow.runName"

METRIC_COMPARATORS = (">", ">=", "!=", "=", "<", "<=")
PARAM_COMPARATORS = ("!=", "=", "LIKE", "ILIKE", IS_NULL, IS_NOT_NULL)
TAG_COMPARATORS = PARAM_COMPARATORS
STRING_ATTRIBUTE_COMPARATORS = ("!=", "=", "LIKE", "ILIKE", "IN", "NOT IN")
DATASET_COMPARATORS = STRING_ATTRIBUTE_COMPARATORS
LIST_COMPARATORS = ("IN", "NOT IN")

NUMERIC_ATTRIBUTES = ("start_time", "end_time")

_KEY_ALIASES = {
    "created": "start_time",
    "Created": "start_time",
    "run name": "run_name",
    "Run name": "run_name",
    "Run Name": "run_name",
}

Predicate = Callable[[Run], bool]
RunValue = Callable[[Run], Any]

# What a filter reads for each attribute. run_name reads the tag, as the reference does.
_FILTER_ATTRIBUTES: dict[str, RunValue] = {
    "run_id": lambda run: run.info.run_id,
    "run_name": lambda run: run.tags.get(MLFLOW_RUN_NAME),
    "status": lambda run: run.info.status,
    "user_id": lambda run: run.info.user_id,
    "artifact_uri": lambda run: run.info.artifact_uri,
    "start_time": lambda run: run.info.start_time,
    "end_time": lambda run: run.info.end_time,
}

# What order_by reads for each attribute. run_name reads the run's name column.
_ORDER_ATTRIBUTES: dict[str, RunValue] = {**_FILTER_ATTRIBUTES, "run_name": lambda run: run.info.run_name}


def translate_key_alias(key: str) -> str:
    """``created`` means ``start_time``; ``run name`` (any of three spellings) means ``run_name``."""
    return _KEY_ALIASES.get(key, key)


# ---------------------------------------------------------------------------------------------------------------
# filter
# ---------------------------------------------------------------------------------------------------------------


def _check_comparator(comparator: str, allowed: Sequence[str], shown: Sequence[str], closing_quote: bool) -> None:
    if comparator not in allowed:
        # The reference's messages differ in whether they close the quote and, for numeric attributes, show the
        # string attribute comparators; copied as they are.
        end = "'" if closing_quote else ""
        raise InvalidParameterValue(f"Invalid comparator '{comparator}' not one of '{set_repr(shown)}{end}")


def _compile_attribute(key: str, comparator: str, value: object) -> Predicate:
    if key in NUMERIC_ATTRIBUTES:
        _check_comparator(comparator, METRIC_COMPARATORS, STRING_ATTRIBUTE_COMPARATORS, closing_quote=False)
        matches = ordering_matcher(comparator, value)
    else:
        _check_comparator(comparator, STRING_ATTRIBUTE_COMPARATORS, STRING_ATTRIBUTE_COMPARATORS, closing_quote=True)
        matches = string_matcher(comparator, value)
    read = _FILTER_ATTRIBUTES[key]
    return lambda run: matches(read(run))


def _compile_metric(key: str, comparator: str, value: object) -> Predicate:
    _check_comparator(comparator, METRIC_COMPARATORS, METRIC_COMPARATORS, closing_quote=False)
    threshold = float(str(value))
    compare = ORDERING_OPERATORS[comparator]
    nan_matches = comparator == "!="

    def predicate(run: Run) -> bool:
        metric = run.metrics.get(key)
        if metric is None:
            return False
        number = metric.value
        if number != number:  # NaN
            return nan_matches
        if number > MAX_FLOAT or number < -MAX_FLOAT:
            number = stored_metric_value(number)
        return compare(number, threshold)

    return predicate


def _param_reader(key: str) -> RunValue:
    return lambda run: run.params.get(key)


def _tag_reader(key: str) -> RunValue:
    return lambda run: run.tags.get(key)


def _compile_param_or_tag(entity: str, key: str, comparator: str, value: object) -> Predicate:
    if entity == PARAM:
        _check_comparator(comparator, PARAM_COMPARATORS, PARAM_COMPARATORS, closing_quote=True)
        read = _param_reader(key)
    else:
        _check_comparator(comparator, TAG_COMPARATORS, TAG_COMPARATORS, closing_quote=False)
        read = _tag_reader(key)
    if comparator == IS_NULL:
        return lambda run: read(run) is None
    if comparator == IS_NOT_NULL:
        return lambda run: read(run) is not None
    matches = string_matcher(comparator, value)
    return lambda run: matches(read(run))


def _compile_dataset(key: str, comparator: str, value: object) -> Predicate:
    _check_comparator(comparator, DATASET_COMPARATORS, DATASET_COMPARATORS, closing_quote=False)
    matches: Matcher = string_matcher(comparator, value)
    if key == "context":
        return lambda run: any(matches(item.context) for item in run.dataset_inputs)
    return lambda run: any(matches(getattr(item.dataset, key)) for item in run.dataset_inputs)


def _compile_clause(clause: Clause) -> Predicate:
    comparator = clause.comparator.upper()
    key = translate_key_alias(clause.key)
    if clause.entity == ATTRIBUTE:
        return _compile_attribute(key, comparator, clause.value)
    if clause.entity == METRIC:
        return _compile_metric(key, comparator, clause.value)
    if clause.entity in (PARAM, TAG):
        return _compile_param_or_tag(clause.entity, key, comparator, clause.value)
    if clause.entity == DATASET:
        return _compile_dataset(key, comparator, clause.value)
    raise InvalidParameterValue(f"Invalid search expression type '{clause.entity}'")


def _check_bindable(clauses: Sequence[Clause]) -> None:
    """A list compared with ``=``, ``LIKE``... is accepted by the parser but fails when the reference runs the SQL."""
    for clause in clauses:
        if isinstance(clause.value, tuple) and clause.comparator.upper() not in LIST_COMPARATORS:
            raise BadRequest("Error binding parameter: type 'tuple' is not supported")


def _compile_filter(filter_string: str | None) -> tuple[list[Clause], list[Predicate]]:
    clauses = parse_filter(filter_string, RUNS)
    return clauses, [_compile_clause(clause) for clause in clauses]


# ---------------------------------------------------------------------------------------------------------------
# order_by
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunOrder:
    """One compiled order_by key: ``entity`` is METRIC, PARAM, TAG or ATTRIBUTE; ``key`` is alias-free."""

    entity: str
    key: str
    ascending: bool

    def columns(self, runs: Sequence[Run]) -> tuple[list[int], list[object]]:
        """Two ascending sort columns: a group (0 when the run has a value) and the value, signed by direction.

        Runs lacking the key come last in both directions, as the reference's ``CASE WHEN value IS NULL`` puts
        them; for metrics, NaN (group 1, stored as 0) comes after every number and before missing (group 2).
        """
        if self.entity == METRIC:
            return self._metric_columns(runs)
        read = self._reader()
        values = [read(run) for run in runs]
        groups = [1 if value is None else 0 for value in values]
        if self.entity == ATTRIBUTE and self.key in NUMERIC_ATTRIBUTES:
            sign = 1 if self.ascending else -1
            return groups, [0 if value is None else sign * value for value in values]
        if self.ascending:
            return groups, ["" if value is None else value for value in values]
        # Strings cannot be negated: sort on their descending rank instead.
        ranks = {value: -rank for rank, value in enumerate(sorted({v for v in values if v is not None}))}
        return groups, [0 if value is None else ranks[value] for value in values]

    def _reader(self) -> RunValue:
        if self.entity == PARAM:
            return _param_reader(self.key)
        if self.entity == TAG:
            return _tag_reader(self.key)
        return _ORDER_ATTRIBUTES[self.key]

    def _metric_columns(self, runs: Sequence[Run]) -> tuple[list[int], list[object]]:
        sign = 1.0 if self.ascending else -1.0
        groups: list[int] = []
        values: list[object] = []
        for run in runs:
            metric = run.metrics.get(self.key)
            if metric is None:
                groups.append(2)
                values.append(0.0)
            elif metric.value != metric.value:  # NaN
                groups.append(1)
                values.append(0.0)
            else:
                groups.append(0)
                values.append(sign * stored_metric_value(metric.value))
        return groups, values


def _compile_order_by(order_by: Sequence[str] | None) -> list[RunOrder]:
    compiled: list[RunOrder] = []
    seen: set[tuple[str, str]] = set()
    for element in order_by or ():
        parsed = parse_order_by(element, RUNS)
        key = translate_key_alias(parsed.key)
        if parsed.entity == DATASET:
            raise InvalidParameterValue(f"Invalid identifier type '{parsed.entity}'")
        if (parsed.entity, key) in seen:
            # The reference raises this without an error code, so it answers 500; a 4xx keeps clients from retrying.
            raise InvalidParameterValue(f"`order_by` contains duplicate fields: {list(order_by or ())}")
        seen.add((parsed.entity, key))
        compiled.append(RunOrder(parsed.entity, key, parsed.ascending))
    return compiled


def _sort_runs(runs: list[Run], order: Sequence[RunOrder]) -> list[Run]:
    """Sort on the order_by keys, then ``start_time`` DESC (unless ordered on), then ``run_id``, in one pass."""
    columns: list[Sequence[object]] = []
    for item in order:
        columns.extend(item.columns(runs))
    if not any(item.entity == ATTRIBUTE and item.key == "start_time" for item in order):
        columns.append([-run.info.start_time for run in runs])
    columns.append([run.info.run_id for run in runs])
    columns.append(range(len(runs)))  # run ids are unique, so runs themselves are never compared
    return [runs[row[-1]] for row in sorted(zip(*columns, strict=True))]


# ---------------------------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunQuery:
    """A validated, compiled search: apply it to as many runs as needed."""

    predicates: tuple[Predicate, ...]
    order: tuple[RunOrder, ...]
    columns: frozenset[str] = frozenset()
    """The projection columns (``domain/projection.py``) its predicates and order read, beyond the base ones."""

    @property
    def newest_first(self) -> bool:
        """No filter, and MLflow's default order (start_time DESC, then run_id): the web UI's run table."""
        return not self.predicates and self.order in ((), (RunOrder(ATTRIBUTE, "start_time", False),))

    def apply(self, runs: Sequence[Run]) -> list[Run]:
        """The runs that pass every clause, in the reference's order."""
        selected = list(runs)
        for predicate in self.predicates:
            selected = [run for run in selected if predicate(run)]
        return _sort_runs(selected, self.order)


def compile_run_search(filter_string: str | None, order_by: Sequence[str] | None) -> RunQuery:
    """Validate a filter and an order_by list together, raising the error the reference raises first.

    The reference checks the filter's syntax, then the order_by list, then the filter's comparators, then runs the
    query; calling this before loading any run gives the same error for the same request.
    """
    clauses = parse_filter(filter_string, RUNS)
    order = _compile_order_by(order_by)
    predicates = [_compile_clause(clause) for clause in clauses]
    _check_bindable(clauses)
    return RunQuery(tuple(predicates), tuple(order), _columns_read(clauses, order))


def _columns_read(clauses: Sequence[Clause], order: Sequence[RunOrder]) -> frozenset[str]:
    """What a query reads of a run, named as projection columns: ``m:``/``p:``/``t:`` plus the key, an attribute's
    name, or ``datasets``. A filter on ``run_name`` reads the ``mlflow.runName`` tag; an order on it, the name."""
    prefixes = {METRIC: "m:", PARAM: "p:", TAG: "t:"}
    read: set[str] = set()
    for clause in clauses:
        key = translate_key_alias(clause.key)
        if clause.entity == DATASET:
            read.add("datasets")
        elif clause.entity == ATTRIBUTE:
            read.add(f"t:{MLFLOW_RUN_NAME}" if key == "run_name" else key)
        else:
            read.add(prefixes[clause.entity] + key)
    for item in order:
        read.add(item.key if item.entity == ATTRIBUTE else prefixes[item.entity] + item.key)
    return frozenset(read)


def validate_run_filter(filter_string: str | None) -> None:
    """Raise :class:`InvalidParameterValue` (or :class:`BadRequest`) if the reference would reject this filter."""
    clauses, _ = _compile_filter(filter_string)
    _check_bindable(clauses)


def validate_run_order_by(order_by: Sequence[str] | None) -> None:
    """Raise :class:`InvalidParameterValue` if the reference would reject this order_by list."""
    _compile_order_by(order_by)


def search_runs(runs: Sequence[Run], filter_string: str | None, order_by: Sequence[str] | None) -> list[Run]:
    """Filter ``runs`` (already restricted to the requested view type) and sort them as the reference does."""
    return compile_run_search(filter_string, order_by).apply(runs)
