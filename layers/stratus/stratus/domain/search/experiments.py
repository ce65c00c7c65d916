"""Search over experiments: filter and order exactly as the reference's SQL store (``search_experiments``).

The view type (active/deleted) and pagination are the caller's. Semantics (checked against ``mlflow server`` with
a SQLite backend):

* Attributes: ``name`` (``= != LIKE ILIKE``), ``experiment_id`` (``= != IN NOT IN``, values are quoted and compared
  as integers), ``creation_time`` and ``last_update_time`` (``= != < <= > >=``, integers only).
* Tags (``tag.`` / ``tags.``): ``= != LIKE ILIKE`` need the tag to exist, so a missing tag does *not* satisfy
  ``!=``; ``IS NULL`` / ``IS NOT NULL`` test its presence.
* Comparators are case-sensitive here: ``LIKE`` works, ``like`` is rejected (the runs grammar accepts both).
* Order: ``creation_time DESC, experiment_id ASC`` by default; otherwise the given keys, then ``experiment_id``
  DESC unless ordered on already. The only prefix accepted in order_by is ``attribute.``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from stratus.domain.entities import Experiment
from stratus.domain.search.comparison import ordering_matcher, string_matcher
from stratus.domain.search.grammar import (
    ATTRIBUTE,
    EXPERIMENTS,
    IS_NOT_NULL,
    IS_NULL,
    TAG,
    Clause,
    parse_filter,
    parse_order_by,
    set_repr,
)
from stratus.errors import BadRequest, InvalidParameterValue

STRING_ATTRIBUTE_COMPARATORS = ("!=", "=", "LIKE", "ILIKE", "IN", "NOT IN")
NUMERIC_COMPARATORS = (">", ">=", "!=", "=", "<", "<=")
SUPPORTED_STRING_COMPARATORS = ("=", "!=", "LIKE", "ILIKE")
EXPERIMENT_ID_COMPARATORS = ("=", "!=", "IN", "NOT IN")
NUMERIC_ATTRIBUTES = ("creation_time", "last_update_time")
DEFAULT_ORDER_BY = ("creation_time DESC", "experiment_id ASC")

Predicate = Callable[[Experiment], bool]


def experiment_number(experiment: Experiment) -> int | None:
    """The experiment id as the integer the reference stores (None if it is not one)."""
    try:
        return int(experiment.experiment_id)
    except ValueError:
        return None


def _parse_experiment_id(value: Any) -> int:
    try:
        return int(value)
    except (ValueError, TypeError):
        raise InvalidParameterValue(
            f"Invalid experiment ID '{value}'. Experiment ID must be a valid integer."
        ) from None


def _compile_experiment_id(comparator: str, value: object) -> Predicate:
    if comparator not in EXPERIMENT_ID_COMPARATORS:
        raise InvalidParameterValue(f"Invalid comparator for experiment_id: {comparator}")
    if isinstance(value, tuple):
        numbers: object = tuple(_parse_experiment_id(item) for item in value)
    else:
        numbers = _parse_experiment_id(value)
    matches = string_matcher(comparator, numbers)
    return lambda experiment: matches(experiment_number(experiment))


def _compile_numeric(key: str, comparator: str, value: Any) -> Predicate:
    if comparator not in NUMERIC_COMPARATORS:
        raise InvalidParameterValue(
            f"Invalid comparator '{comparator}' not one of '{set_repr(STRING_ATTRIBUTE_COMPARATORS)}"
        )
    if isinstance(value, float):
        raise InvalidParameterValue(f"Invalid value for numeric attribute '{key}': {str(value)!r}")
    matches = ordering_matcher(comparator, int(value))
    if key == "creation_time":
        return lambda experiment: matches(experiment.creation_time)
    return lambda experiment: matches(experiment.last_update_time)


def _compile_name(comparator: str, value: object) -> Predicate:
    if comparator not in STRING_ATTRIBUTE_COMPARATORS:
        raise InvalidParameterValue(
            f"Invalid comparator '{comparator}' not one of '{set_repr(STRING_ATTRIBUTE_COMPARATORS)}'"
        )
    if comparator not in SUPPORTED_STRING_COMPARATORS:
        raise InvalidParameterValue(f"Invalid comparator for string attribute: {comparator}")
    matches = string_matcher(comparator, value)
    return lambda experiment: matches(experiment.name)


def _compile_tag(key: str, comparator: str, value: object) -> Predicate:
    if comparator == IS_NULL:
        return lambda experiment: key not in experiment.tags
    if comparator == IS_NOT_NULL:
        return lambda experiment: key in experiment.tags
    if comparator not in SUPPORTED_STRING_COMPARATORS:
        raise InvalidParameterValue(f"Invalid comparator for tag: {comparator}")
    matches = string_matcher(comparator, value)
    return lambda experiment: matches(experiment.tags.get(key))


def _compile_clause(clause: Clause) -> Predicate:
    # Unlike runs, the reference does not upper-case comparators here.
    if clause.entity == TAG:
        return _compile_tag(clause.key, clause.comparator, clause.value)
    if clause.entity != ATTRIBUTE:
        raise InvalidParameterValue(f"Invalid token type: {clause.entity}")
    if clause.key == "experiment_id":
        return _compile_experiment_id(clause.comparator, clause.value)
    if clause.key in NUMERIC_ATTRIBUTES:
        return _compile_numeric(clause.key, clause.comparator, clause.value)
    return _compile_name(clause.comparator, clause.value)


def _check_bindable(clauses: Sequence[Clause]) -> None:
    """``experiment_id = ('1')`` passes every check but fails when the reference runs the SQL."""
    for clause in clauses:
        if isinstance(clause.value, tuple) and clause.comparator not in ("IN", "NOT IN"):
            raise BadRequest("Error binding parameter: type 'tuple' is not supported")


@dataclass(frozen=True)
class ExperimentOrder:
    """One compiled order_by key on an experiment attribute."""

    key: str
    ascending: bool

    def sort(self, experiments: list[Experiment]) -> None:
        """Stable in-place sort on this key alone (a missing value sorts as the smallest, like SQL NULL)."""
        read = _ORDER_VALUES[self.key]

        def sort_key(experiment: Experiment) -> tuple[bool, object]:
            value = read(experiment)
            return (value is not None, value if value is not None else 0)

        experiments.sort(key=sort_key, reverse=not self.ascending)


_ORDER_VALUES: dict[str, Callable[[Experiment], object]] = {
    "name": lambda experiment: experiment.name,
    "experiment_id": experiment_number,
    "creation_time": lambda experiment: experiment.creation_time,
    "last_update_time": lambda experiment: experiment.last_update_time,
}


def _compile_order_by(order_by: Sequence[str] | None) -> list[ExperimentOrder]:
    compiled: list[ExperimentOrder] = []
    for element in order_by or DEFAULT_ORDER_BY:
        parsed = parse_order_by(element, EXPERIMENTS)
        if parsed.entity != ATTRIBUTE:
            raise InvalidParameterValue(f"Invalid order_by entity: {parsed.entity}")
        compiled.append(ExperimentOrder(parsed.key, parsed.ascending))
    if not any(item.key == "experiment_id" for item in compiled):
        compiled.append(ExperimentOrder("experiment_id", ascending=False))
    return compiled


@dataclass(frozen=True)
class ExperimentQuery:
    """A validated, compiled experiment search."""

    predicates: tuple[Predicate, ...]
    order: tuple[ExperimentOrder, ...]

    @property
    def newest_first_by(self) -> str | None:
        """``creation_time`` or ``last_update_time`` when the order is that time, newest first, then the id (either
        way): the orders a store can list from its order items. None for any other order."""
        first, rest = self.order[0], self.order[1:]
        if first.ascending or first.key not in ("creation_time", "last_update_time"):
            return None
        return first.key if all(item.key == "experiment_id" for item in rest) else None

    def apply(self, experiments: Sequence[Experiment]) -> list[Experiment]:
        """The experiments that pass every clause, in the reference's order."""
        selected = list(experiments)
        for predicate in self.predicates:
            selected = [experiment for experiment in selected if predicate(experiment)]
        for item in reversed(self.order):  # stable sorts, least significant key first
            item.sort(selected)
        return selected


def compile_experiment_search(filter_string: str | None, order_by: Sequence[str] | None) -> ExperimentQuery:
    """Validate a filter and an order_by list in the reference's order (filter first), then compile them."""
    clauses = parse_filter(filter_string, EXPERIMENTS)
    predicates = [_compile_clause(clause) for clause in clauses]
    order = _compile_order_by(order_by)
    _check_bindable(clauses)
    return ExperimentQuery(tuple(predicates), tuple(order))


def validate_experiment_filter(filter_string: str | None) -> None:
    """Raise :class:`InvalidParameterValue` (or :class:`BadRequest`) if the reference would reject this filter."""
    clauses = parse_filter(filter_string, EXPERIMENTS)
    for clause in clauses:
        _compile_clause(clause)
    _check_bindable(clauses)


def validate_experiment_order_by(order_by: Sequence[str] | None) -> None:
    """Raise :class:`InvalidParameterValue` if the reference would reject this order_by list."""
    _compile_order_by(order_by)


def search_experiments(
    experiments: Sequence[Experiment], filter_string: str | None, order_by: Sequence[str] | None
) -> list[Experiment]:
    """Filter ``experiments`` (already restricted to the requested view type) and sort them as the reference does."""
    return compile_experiment_search(filter_string, order_by).apply(experiments)
