"""Search over the model registry: registered models and model versions, exactly as the reference's SQL store.

The reference parses these filters with ``SearchModelUtils`` / ``SearchModelVersionUtils`` (``search_utils.py``)
and runs them as SQL in ``model_registry/sqlalchemy_store.py``; the limits on ``max_results`` live in its handlers.
Semantics (checked against ``SqlAlchemyStore`` on SQLite):

* Registered models: ``name`` (``= != LIKE ILIKE IN NOT IN``) and ``tag.<key>`` / ``tags.<key>``
  (``= != LIKE ILIKE``). The only prefixes are ``attribute.``, ``tag.`` and ``tags.``; a bare or
  ``attribute.`` key must be spelled exactly ``name`` (a backticked `` `name` `` is refused).
* Model versions: ``name``, ``run_id`` (both also ``IN`` / ``NOT IN``), ``source_path`` (the version's
  ``source``), ``version_number`` (``= != < <= > >=`` with an integer, or a string Python's ``int`` reads),
  and tags as above. ``creation_timestamp`` and the other timestamps cannot be filtered on.
* A tag comparison needs the tag to exist, so a missing tag satisfies no comparison, ``!=`` included; there is no
  ``IS NULL``. Strings compare byte-wise, ``LIKE`` is case-sensitive, ``ILIKE`` folds ASCII only.
* Prompts: unless a filter asks for prompts (its first clause on ``mlflow.prompt.is_prompt`` is ``= 'true'`` or
  ``!= 'false'``, case-insensitively), registered models whose tag ``mlflow.prompt.is_prompt`` is exactly
  ``'true'`` are left out, and every clause on that tag is ignored. So the client's appended
  `` AND tag.`mlflow.prompt.is_prompt` != 'true' `` keeps models without the tag. For model versions the same
  holds with *version* tags, by model: no version of a model any of whose versions is tagged as a prompt.
* Order: registered models by ``name``, ``timestamp`` or ``last_updated_timestamp`` (both timestamps are the last
  update; ``creation_timestamp`` is refused), then ``name`` ASC. Model versions by ``name``, ``version_number``,
  ``creation_timestamp``, ``last_updated_timestamp``; by default ``last_updated_timestamp DESC, name ASC,
  version_number DESC``; then ``name`` ASC and ``version_number`` DESC unless ordered on already.
* Versions in the stage ``Deleted_Internal`` (the reference's soft delete) are never returned.

Where the reference fails with an internal error (``IS NULL``, a duplicate order_by key, an odd ``max_results``)
this module raises :class:`InvalidParameterValue` instead: a 4xx keeps clients from retrying.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from operator import attrgetter
from typing import Any

from sqlparse import tokens as T
from sqlparse.sql import Parenthesis, Token

from stratus.domain.entities import ModelVersion, RegisteredModel
from stratus.domain.search.comparison import ordering_matcher, string_matcher
from stratus.domain.search.grammar import (
    ATTRIBUTE,
    TAG,
    Dialect,
    _check_comparison_shape,
    _is_string_token,
    _join_list_and_null_comparisons,
    _quoted_string,
    _read_list,
    _split_direction,
    _strip_quotes,
    _trim_backticks,
    parse_order_by,
    parse_statement,
    set_repr,
)
from stratus.errors import BadRequest, InvalidParameterValue

IS_PROMPT_TAG_KEY = "mlflow.prompt.is_prompt"
STAGE_DELETED_INTERNAL = "Deleted_Internal"

REGISTERED_MODEL_MAX_RESULTS_DEFAULT = 100
REGISTERED_MODEL_MAX_RESULTS_LIMIT = 1000
# The proto's default, used when a request has no max_results (the MLflow client always sends 10000).
MODEL_VERSION_MAX_RESULTS_DEFAULT = 200_000
MODEL_VERSION_MAX_RESULTS_LIMIT = 200_000

ENTITY_TYPES = ("attribute", "tag", "tags")
TAG_COMPARATORS = ("=", "!=", "LIKE", "ILIKE")
STRING_COMPARATORS = ("!=", "=", "LIKE", "ILIKE", "IN", "NOT IN")
NUMERIC_COMPARATORS = (">", ">=", "!=", "=", "<", "<=")
LIST_COMPARATORS = ("IN", "NOT IN")

MODEL_ORDER_KEYS = ("timestamp", "last_updated_timestamp", "name")
MODEL_RECOMMENDED_ORDER_KEYS = ("name", "timestamp")

VERSION_SEARCH_KEYS = ("name", "version_number", "run_id", "source_path")
VERSION_NUMERIC_KEYS = ("version_number", "creation_timestamp", "last_updated_timestamp")
VERSION_ORDER_KEYS = ("name", "version_number", "creation_timestamp", "last_updated_timestamp")
VERSION_DEFAULT_ORDER_BY = ("last_updated_timestamp DESC", "name ASC", "version_number DESC")

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

_INTEGER = T.Literal.Number.Integer
_NUMBERS = (T.Literal.Number.Integer, T.Literal.Number.Float)

# Model-version order_by keys are read as experiment identifiers are (SearchExperimentsUtils._get_identifier).
_VERSION_ORDER_DIALECT = Dialect(
    entity_names=ENTITY_TYPES,
    entity_whitelist=ENTITY_TYPES,
    search_attributes=VERSION_SEARCH_KEYS,
    order_attributes=VERSION_ORDER_KEYS,
    numeric_attributes=frozenset(VERSION_NUMERIC_KEYS),
    list_keys=("name", "run_id"),
    dataset_keys=(),
    null_entities=(),
    quote_invalid_clauses=False,
)

ModelPredicate = Callable[[RegisteredModel], bool]
VersionPredicate = Callable[[ModelVersion], bool]


# ---------------------------------------------------------------------------------------------------------------
# filter: parsing (SearchModelUtils / SearchModelVersionUtils.parse_search_filter)
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Grammar:
    """What differs between the registered-model and the model-version filter."""

    search_keys: tuple[str, ...]
    list_keys: tuple[str, ...]
    numeric_keys: tuple[str, ...] | None  # None: numbers are no values at all


_MODELS = _Grammar(search_keys=("name",), list_keys=("name",), numeric_keys=None)
_VERSIONS = _Grammar(search_keys=VERSION_SEARCH_KEYS, list_keys=("name", "run_id"), numeric_keys=VERSION_NUMERIC_KEYS)


@dataclass(frozen=True)
class _Clause:
    entity: str  # ATTRIBUTE or TAG
    key: str
    comparator: str  # upper-case
    value: Any  # str; int or float (version_number); tuple of str (lists)


def _parse_filter(filter_string: str | None, grammar: _Grammar) -> list[_Clause]:
    if not filter_string:
        return []
    statement = parse_statement(filter_string)
    items = _join_list_and_null_comparisons(statement.tokens)
    invalid = [
        item
        for item in items
        if isinstance(item, Token) and not item.is_whitespace and not item.match(T.Keyword, ["AND"])
    ]
    if invalid:
        raise InvalidParameterValue(f"Invalid clause(s) in filter string: {', '.join(map(str, invalid))}")
    return [_read_comparison(item, grammar) for item in items if isinstance(item, list)]


def _read_comparison(parts: list[Token], grammar: _Grammar) -> _Clause:
    _check_comparison_shape(parts)
    if len(parts) == 2:
        # The reference fails unpacking ``x IS NULL`` into three tokens (a 500); say what is wrong instead.
        raise InvalidParameterValue(
            f"Invalid comparator '{parts[1].value}': model registry search has no IS NULL / IS NOT NULL"
        )
    entity, key = _read_identifier(parts[0].value, grammar)
    return _Clause(entity, key, parts[1].value.upper(), _read_value(entity, key, parts[2], grammar))


def _read_identifier(identifier: str, grammar: _Grammar) -> tuple[str, str]:
    prefix, dot, key = identifier.partition(".")
    if not dot:
        entity, key = ATTRIBUTE, prefix
    elif prefix not in ENTITY_TYPES:
        raise InvalidParameterValue(f"Invalid entity type '{prefix}'. Valid entity types are {ENTITY_TYPES}")
    else:
        entity = ATTRIBUTE if prefix == "attribute" else TAG
    # Unlike the runs grammar, the key is checked before its quotes are taken off.
    if entity == ATTRIBUTE and key not in grammar.search_keys:
        raise InvalidParameterValue(
            f"Invalid attribute key '{key}' specified. Valid keys are '{set_repr(grammar.search_keys)}'"
        )
    return entity, _trim_backticks(_strip_quotes(key))


def _read_value(entity: str, key: str, token: Token, grammar: _Grammar) -> Any:
    if _is_string_token(token):
        return _quoted_string(token.value)
    if entity == TAG:
        raise InvalidParameterValue(
            f"Expected a quoted string value for tag (e.g. 'my-value'). Got value {token.value}"
        )
    if isinstance(token, Parenthesis):
        if key not in grammar.list_keys:
            raise InvalidParameterValue(
                f"Only {sorted(grammar.list_keys)} attributes support comparison with a list of quoted string values."
            )
        return _read_list(token.value)
    if grammar.numeric_keys is not None and token.ttype in _NUMBERS:
        if key not in grammar.numeric_keys:
            raise InvalidParameterValue(
                f"Only the '{set_repr(grammar.numeric_keys)}' attributes support comparison with numeric values."
            )
        return int(token.value) if token.ttype == _INTEGER else float(token.value)
    raise InvalidParameterValue(
        f"Expected a quoted string value or a list of quoted string values for attributes. Got value {token.value}"
    )


# ---------------------------------------------------------------------------------------------------------------
# filter: predicates (the store's SQL conditions)
# ---------------------------------------------------------------------------------------------------------------


def _is_querying_prompts(clauses: Sequence[_Clause]) -> bool:
    """The reference's ``_is_querying_prompt``: the first clause on the prompt tag decides."""
    for clause in clauses:
        if clause.entity == TAG and clause.key == IS_PROMPT_TAG_KEY:
            value = str(clause.value).lower()
            return (clause.comparator == "=" and value == "true") or (clause.comparator == "!=" and value == "false")
    return False


def _tag_matcher(clause: _Clause) -> Callable[[dict[str, str]], bool]:
    if clause.comparator not in TAG_COMPARATORS:
        raise InvalidParameterValue(f"Invalid comparator for tag: {clause.comparator}")
    matches = string_matcher(clause.comparator, clause.value)
    key = clause.key
    return lambda tags: key in tags and matches(tags[key])


def _kept(clause: _Clause, querying_prompts: bool) -> bool:
    # Outside a prompt search the reference drops every condition on the prompt tag (and excludes prompts).
    return querying_prompts or clause.entity != TAG or clause.key != IS_PROMPT_TAG_KEY


def _compile_model_clause(clause: _Clause) -> ModelPredicate:
    if clause.entity == TAG:
        matches_tags = _tag_matcher(clause)
        return lambda model: matches_tags(model.tags)
    if clause.comparator not in STRING_COMPARATORS:
        raise InvalidParameterValue(f"Invalid comparator for attribute: {clause.comparator}")
    matches = string_matcher(clause.comparator, clause.value)
    return lambda model: matches(model.name)


def _version_number(clause: _Clause) -> int:
    if clause.comparator not in NUMERIC_COMPARATORS:
        raise InvalidParameterValue(f"Invalid comparator for attribute {clause.key}: {clause.comparator}")
    invalid = InvalidParameterValue(f"Invalid value for numeric attribute '{clause.key}': {clause.value!r}")
    if isinstance(clause.value, float):
        raise invalid
    try:
        return int(clause.value)  # Python's int, as in the reference: ' 2 ' and '1_0' are numbers
    except (TypeError, ValueError):
        raise invalid from None


_VERSION_STRINGS: dict[str, Callable[[ModelVersion], str | None]] = {
    "name": lambda version: version.name,
    "run_id": lambda version: version.run_id,
    "source_path": lambda version: version.source,
}


def _compile_version_clause(clause: _Clause) -> VersionPredicate:
    if clause.entity == TAG:
        matches_tags = _tag_matcher(clause)
        return lambda version: matches_tags(version.tags)
    if clause.key == "version_number":
        matches_number = ordering_matcher(clause.comparator, _version_number(clause))
        return lambda version: matches_number(version.version)
    if clause.comparator not in STRING_COMPARATORS or (
        clause.comparator in LIST_COMPARATORS and clause.key not in ("run_id", "name")
    ):
        raise InvalidParameterValue(f"Invalid comparator for attribute: {clause.comparator}")
    read = _VERSION_STRINGS[clause.key]
    matches = string_matcher(clause.comparator, clause.value)
    return lambda version: matches(read(version))


def _check_bindable(clauses: Sequence[_Clause]) -> None:
    """``name = ('a')`` passes every check but fails when the reference runs its SQL (a BAD_REQUEST)."""
    for clause in clauses:
        if isinstance(clause.value, tuple) and clause.comparator not in LIST_COMPARATORS:
            raise BadRequest("Error binding parameter: type 'tuple' is not supported")


# ---------------------------------------------------------------------------------------------------------------
# order_by
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Order:
    field: str  # an entity attribute name
    ascending: bool


def _duplicate(order_by: Sequence[str]) -> InvalidParameterValue:
    # The reference raises this without an error code, which makes it a 500.
    return InvalidParameterValue(f"`order_by` contains duplicate fields: {list(order_by)}")


def _compile_model_order(order_by: Sequence[str] | None) -> list[_Order]:
    order: list[_Order] = []
    for element in order_by or ():
        key, ascending = _split_direction(element)
        key = key.strip()
        if key not in MODEL_ORDER_KEYS:
            raise InvalidParameterValue(
                f"Invalid order by key '{key}' specified. Valid keys are '{set_repr(MODEL_RECOMMENDED_ORDER_KEYS)}'"
            )
        # ``timestamp`` is the last update, as ``last_updated_timestamp`` is.
        field = "name" if key == "name" else "last_updated_timestamp"
        if any(item.field == field for item in order):
            raise _duplicate(order_by or ())
        order.append(_Order(field, ascending))
    if not any(item.field == "name" for item in order):
        order.append(_Order("name", ascending=True))
    return order


_VERSION_ORDER_FIELDS = {
    "name": "name",
    "version_number": "version",
    "creation_timestamp": "creation_timestamp",
    "last_updated_timestamp": "last_updated_timestamp",
}


def _compile_version_order(order_by: Sequence[str] | None) -> list[_Order]:
    elements = list(order_by or VERSION_DEFAULT_ORDER_BY)
    order: list[_Order] = []
    for element in elements:
        # The entity is ignored: ``tags.name`` orders by name, as in the reference.
        parsed = parse_order_by(element, _VERSION_ORDER_DIALECT)
        if parsed.key not in _VERSION_ORDER_FIELDS:
            raise InvalidParameterValue(
                f"Invalid order by key '{parsed.key}' specified. Valid keys are {set_repr(VERSION_ORDER_KEYS)}"
            )
        field = _VERSION_ORDER_FIELDS[parsed.key]
        if any(item.field == field for item in order):
            raise _duplicate(elements)
        order.append(_Order(field, parsed.ascending))
    if not any(item.field == "name" for item in order):
        order.append(_Order("name", ascending=True))
    if not any(item.field == "version" for item in order):
        order.append(_Order("version", ascending=False))
    return order


def _sorted(items: Sequence[Any], order: Sequence[_Order]) -> list[Any]:
    """Sort on every key (values are never missing); stable sorts, least significant key first."""
    result = list(items)
    for item in reversed(order):
        result.sort(key=attrgetter(item.field), reverse=not item.ascending)
    return result


# ---------------------------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisteredModelQuery:
    """A validated, compiled registered-model search."""

    predicates: tuple[ModelPredicate, ...]
    order: tuple[_Order, ...]
    exclude_prompts: bool

    def apply(self, models: Sequence[RegisteredModel]) -> list[RegisteredModel]:
        """The models that pass every clause (prompts left out unless asked for), in the reference's order."""
        selected = [
            model
            for model in models
            if not (self.exclude_prompts and model.tags.get(IS_PROMPT_TAG_KEY) == "true")
            and all(predicate(model) for predicate in self.predicates)
        ]
        return _sorted(selected, self.order)


@dataclass(frozen=True)
class ModelVersionQuery:
    """A validated, compiled model-version search.

    ``model_name`` is set when the filter pins one model (``name = '<x>'``): only that model's versions can match,
    so a caller may read just those. ``run_ids`` is set when it pins the runs (``run_id = '<x>'`` or
    ``run_id IN (...)``): only models with a version of one of them can match.
    """

    predicates: tuple[VersionPredicate, ...]
    order: tuple[_Order, ...]
    exclude_prompts: bool
    model_name: str | None = None
    run_ids: frozenset[str] | None = None

    def apply(self, versions: Sequence[ModelVersion]) -> list[ModelVersion]:
        """The versions that pass every clause, in the reference's order.

        Give it every version of each model that may match, soft-deleted ones included: one version tagged as a
        prompt hides all versions of its model, as in the reference.
        """
        prompts = (
            {version.name for version in versions if version.tags.get(IS_PROMPT_TAG_KEY) == "true"}
            if self.exclude_prompts
            else set()
        )
        selected = [
            version
            for version in versions
            if version.current_stage != STAGE_DELETED_INTERNAL
            and version.name not in prompts
            and all(predicate(version) for predicate in self.predicates)
        ]
        return _sorted(selected, self.order)


def compile_registered_model_search(filter_string: str | None, order_by: Sequence[str] | None) -> RegisteredModelQuery:
    """Validate a SearchRegisteredModels filter and order_by in the reference's order (filter syntax, order_by,
    then comparators), raising :class:`InvalidParameterValue` (or :class:`BadRequest`) with its messages."""
    clauses = _parse_filter(filter_string, _MODELS)
    order = _compile_model_order(order_by)
    querying_prompts = _is_querying_prompts(clauses)
    predicates = [_compile_model_clause(clause) for clause in clauses]
    kept = [predicate for clause, predicate in zip(clauses, predicates, strict=True) if _kept(clause, querying_prompts)]
    _check_bindable(clauses)
    return RegisteredModelQuery(tuple(kept), tuple(order), exclude_prompts=not querying_prompts)


def compile_model_version_search(filter_string: str | None, order_by: Sequence[str] | None) -> ModelVersionQuery:
    """Validate a SearchModelVersions filter and order_by in the reference's order (filter, then order_by),
    raising :class:`InvalidParameterValue` (or :class:`BadRequest`) with its messages."""
    clauses = _parse_filter(filter_string, _VERSIONS)
    querying_prompts = _is_querying_prompts(clauses)
    predicates = [_compile_version_clause(clause) for clause in clauses]
    kept = [predicate for clause, predicate in zip(clauses, predicates, strict=True) if _kept(clause, querying_prompts)]
    order = _compile_version_order(order_by)
    _check_bindable(clauses)
    names = {
        clause.value
        for clause in clauses
        if clause.entity == ATTRIBUTE and clause.key == "name" and clause.comparator == "="
    }
    model_name = next(iter(names)) if len(names) == 1 else None
    return ModelVersionQuery(tuple(kept), tuple(order), not querying_prompts, model_name, _pinned_runs(clauses))


def _pinned_runs(clauses: Sequence[_Clause]) -> frozenset[str] | None:
    """The run ids a version must have to match (clauses are ANDed, so any one ``=`` or ``IN`` clause pins them)."""
    for clause in clauses:
        if clause.entity == ATTRIBUTE and clause.key == "run_id" and clause.comparator in ("=", "IN"):
            values = clause.value if isinstance(clause.value, tuple) else (clause.value,)
            return frozenset(str(value) for value in values)
    return None


def model_versions_of_runs_query(run_ids: Collection[str]) -> ModelVersionQuery:
    """What ``search_model_versions("run_id = '<id>'")`` asks for each of ``run_ids``, in one query: the reference's
    GraphQL gives each run its ``modelVersions`` so."""
    wanted = frozenset(run_ids)
    base = compile_model_version_search(None, None)
    return replace(base, predicates=(lambda version: version.run_id in wanted,), run_ids=wanted)


def search_registered_models(
    models: Sequence[RegisteredModel], filter_string: str | None, order_by: Sequence[str] | None = None
) -> list[RegisteredModel]:
    """Filter and sort registered models as the reference does (pagination is the caller's)."""
    return compile_registered_model_search(filter_string, order_by).apply(models)


def search_model_versions(
    versions: Sequence[ModelVersion], filter_string: str | None, order_by: Sequence[str] | None = None
) -> list[ModelVersion]:
    """Filter and sort model versions as the reference does (pagination is the caller's)."""
    return compile_model_version_search(filter_string, order_by).apply(versions)


# ---------------------------------------------------------------------------------------------------------------
# max_results (the handlers' schema checks, then the stores')
# ---------------------------------------------------------------------------------------------------------------


def _invalid_max_results(value: object) -> InvalidParameterValue:
    try:
        shown = json.dumps(value, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        shown = json.dumps(str(value))
    return InvalidParameterValue(
        f"Invalid value {shown} for parameter 'max_results' supplied:  Hint: Value was of type "
        f"'{type(value).__name__}'. See the API docs for more information about request parameters."
    )


def _protobuf_integer(value: object) -> int | None:
    """What protobuf's JSON parser makes of ``value`` for an int64 field, or None where it refuses it."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    if isinstance(value, str) and " " in value:
        return None
    try:
        number = int(value)
    except (ValueError, OverflowError):  # protobuf then tries an integral float ('1e2')
        try:
            as_float = float(value)
        except ValueError:
            return None
        if not as_float.is_integer():
            return None
        number = int(as_float)
    return number if _INT64_MIN <= number <= _INT64_MAX else None


def _python_int(value: object) -> int | None:
    """``int(value)`` as the handler calls it, or None where that raises."""
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        return None


def _checked_max_results(value: object, default: int, limit: int) -> int:
    """The handler's checks: an int-like value (``_assert_intlike``) no larger than ``limit``. Returns what the
    store receives: the value as protobuf read it, or the proto default where protobuf refused it."""
    if value is None:
        return default
    parsed = _protobuf_integer(value)
    as_int = _python_int(value)
    # Where int() itself fails (a list, '5.0', '1e2') the reference answers 500; we refuse the value instead.
    if as_int is None or as_int > limit:
        raise _invalid_max_results(value)
    return default if parsed is None else parsed


def _positive(max_results: int) -> int:
    if max_results < 1:
        raise InvalidParameterValue(
            f"Invalid value for max_results. It must be a positive integer, but got {max_results}"
        )
    return max_results


def validate_registered_model_max_results(max_results: object) -> int:
    """Check a SearchRegisteredModels ``max_results`` as the reference does (before the filter) and return the
    number of models to answer: 100 when absent, at most 1000.

    ``max_results`` is the request's value as received: None, an int, or a string from a query parameter. The
    reference accepts 0 and negative values and answers oddly (an empty page with a token, or all but the last
    models); they are refused here with the model-version message.
    """
    return _positive(
        _checked_max_results(max_results, REGISTERED_MODEL_MAX_RESULTS_DEFAULT, REGISTERED_MODEL_MAX_RESULTS_LIMIT)
    )


def validate_model_version_max_results(max_results: object) -> int:
    """Check a SearchModelVersions ``max_results`` as the reference does (before the filter) and return the number
    of versions to answer: 200000 (the proto default) when absent, between 1 and 200000."""
    return _positive(
        _checked_max_results(max_results, MODEL_VERSION_MAX_RESULTS_DEFAULT, MODEL_VERSION_MAX_RESULTS_LIMIT)
    )
