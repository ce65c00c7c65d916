"""The GenAI trace search grammar (``traces/search``, the legacy listing), parsed and evaluated as the reference does.

The reference (``SearchTraceUtils`` in ``mlflow/utils/search_utils.py`` for the parsing, and
``sqlalchemy_store._get_filter_clauses_for_search_traces`` / ``_get_orderby_clauses_for_search_traces`` for the
meaning) tokenizes with sqlparse like the run search, so this module reuses :mod:`stratus.domain.search.grammar`'s
reading of the token tree and adds what differs for traces: the entity prefixes (``tag``, ``metadata``, ``span``,
``feedback``, ``expectation``, ``issue``), the keys mapped to tags or metadata (``name``, ``run_id``, ``prompt``,
``text``), each entity's comparators and values, and the order_by keys.

:func:`compile_trace_search` validates a request before any data is read and returns a :class:`TraceQuery`, which
tests one trace (``matches``) and sorts traces (``sort_key``). It works on any object with the attributes of
``TraceRecord`` (``trace_id``, ``experiment_id``, ``request_time``, ``execution_duration``, ``state``,
``client_request_id``, ``tags``, ``trace_metadata``, ``assessments``, ``spans``).

Differences from the reference, all on inputs it answers 500 for: a duplicate order_by key is a 400 (same wording),
ordering by ``end_time`` works, and a list that is not a Python literal is a 400.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlparse import tokens as T
from sqlparse.sql import Identifier, Parenthesis, Token

from stratus.domain.search import grammar
from stratus.domain.search.comparison import ORDERING_OPERATORS, string_matcher
from stratus.errors import InvalidParameterValue

ATTRIBUTE = "attribute"
TAG = "tag"
METADATA = "request_metadata"
SPAN = "span"
FEEDBACK = "feedback"
EXPECTATION = "expectation"
ISSUE = "issue"

TRACE_NAME_TAG = "mlflow.traceName"
LINKED_PROMPTS_TAG = "mlflow.linkedPrompts"
SOURCE_RUN = "mlflow.sourceRun"
SESSION = "mlflow.trace.session"
TOKEN_USAGE = "mlflow.trace.tokenUsage"
COST = "mlflow.trace.cost"
RESERVED_METADATA = (TOKEN_USAGE, COST)

# Sets are printed in the reference's messages as Python sets; these tuples fix one order of their members.
SEARCH_ATTRIBUTES = (
    "request_id",
    "timestamp",
    "timestamp_ms",
    "execution_time",
    "execution_time_ms",
    "end_time",
    "end_time_ms",
    "status",
    "client_request_id",
    "name",
    "run_id",
    "prompt",
    "text",
)
ORDER_ATTRIBUTES = (
    "experiment_id",
    "timestamp",
    "timestamp_ms",
    "execution_time",
    "execution_time_ms",
    "end_time",
    "end_time_ms",
    "status",
    "request_id",
    "name",
    "run_id",
)
NUMERIC_ATTRIBUTES = (
    "timestamp_ms",
    "timestamp",
    "execution_time_ms",
    "execution_time",
    "end_time_ms",
    "end_time",
)
LIST_ATTRIBUTES = ("name", "status", "request_id", "run_id", "client_request_id")

TAG_COMPARATORS = ("!=", "=", "LIKE", "ILIKE", "RLIKE", "IS NULL", "IS NOT NULL")
METADATA_COMPARATORS = TAG_COMPARATORS
STRING_ATTRIBUTE_COMPARATORS = ("!=", "=", "IN", "NOT IN", "LIKE", "ILIKE", "RLIKE")
NUMERIC_ATTRIBUTE_COMPARATORS = (">", ">=", "!=", "=", "<", "<=")
SPAN_COMPARATORS = STRING_ATTRIBUTE_COMPARATORS
SPAN_CONTENT_COMPARATORS = ("LIKE", "ILIKE")
NUMERIC_ASSESSMENT_COMPARATORS = (">", ">=", "<", "<=")
ASSESSMENT_COMPARATORS = (
    "!=",
    "=",
    *NUMERIC_ASSESSMENT_COMPARATORS,
    "LIKE",
    "ILIKE",
    "RLIKE",
    "IS NULL",
    "IS NOT NULL",
)
SPAN_KEYS = ("name", "type", "status")
SPAN_CONTENT = "content"

_ENTITY_ALIASES = {
    "tag": TAG,
    "tags": TAG,
    "attribute": ATTRIBUTE,
    "attributes": ATTRIBUTE,
    "trace": ATTRIBUTE,
    "metadata": METADATA,
    "request_metadata": METADATA,
    "span": SPAN,
    "feedback": FEEDBACK,
    "expectation": EXPECTATION,
    "issue": ISSUE,
}
_VALID_ENTITIES = ("tag", "request_metadata", "attribute", "span", "feedback", "expectation", "issue", "tags",
                   "attributes", "trace", "metadata")  # fmt: skip
_KEY_TO_TAG = {"name": TRACE_NAME_TAG, "prompt": LINKED_PROMPTS_TAG}
_KEY_TO_METADATA = {"run_id": SOURCE_RUN}
_KEY_TO_ATTRIBUTE = {"timestamp": "timestamp_ms", "execution_time": "execution_time_ms", "end_time": "end_time_ms"}
_KEY_TO_SPAN = {"text": SPAN_CONTENT}
_NUMBER_TYPES = (T.Literal.Number.Integer, T.Literal.Number.Float)

Value = str | int | float | tuple[object, ...] | None
SpanContents = Callable[[Any], Sequence[str]]


@dataclass(frozen=True)
class TraceClause:
    """One comparison of a trace filter, after the key mapping: ``entity`` is one of the module's entity names,
    ``comparator`` is upper-case, ``value`` a string, number, tuple (lists) or None (``IS [NOT] NULL``)."""

    entity: str
    key: str
    comparator: str
    value: Value


@dataclass(frozen=True)
class TraceOrderKey:
    entity: str
    key: str
    ascending: bool


# ---------------------------------------------------------------------------------------------------------------
# filter
# ---------------------------------------------------------------------------------------------------------------


def parse_trace_filter(filter_string: str | None) -> list[TraceClause]:
    """The AND-ed clauses of a trace filter, each checked as the reference checks it (message for message)."""
    if not filter_string:
        return []
    statement = grammar.parse_statement(filter_string)
    items = _join_comparisons(statement.tokens)
    invalid = [item for item in items if isinstance(item, Token) and grammar._is_invalid_token(item)]
    if invalid:
        listed = ", ".join(f"'{token}'" for token in invalid)
        raise InvalidParameterValue(f"Invalid clause(s) in filter string: {listed}")
    clauses = [_read_comparison(item) for item in items if isinstance(item, list)]
    for clause in clauses:
        _check_clause(clause)
    return clauses


def _is_timestamp_builtin(token: Token) -> bool:
    return bool(token.match(T.Name.Builtin, ["timestamp", "timestamp_ms"]))


def _join_comparisons(tokens: Sequence[Token]) -> list[Token | list[Token]]:
    """grammar's joining of ``IN`` / ``IS NULL`` comparisons, plus the reference's trace-only case: a bare
    ``timestamp`` (which sqlparse reads as a builtin type, not an identifier) compared with an integer."""
    items = [token for token in tokens if not token.is_whitespace]
    joined: list[Token | list[Token]] = []
    index = 0
    while index < len(items):
        if len(items) - index < 3:
            joined.extend(grammar._as_item(token) for token in items[index:])
            break
        first = items[index]
        if _is_timestamp_builtin(first):
            second, third = items[index + 1], items[index + 2]
            if second.ttype == T.Operator.Comparison and third.ttype == T.Literal.Number.Integer:
                joined.append([first, second, third])
            else:
                joined.extend([first, second, third, first])  # the reference lists the first token twice
            index += 3
            continue
        if not isinstance(first, Identifier):
            joined.append(grammar._as_item(first))
            index += 1
            continue
        group, consumed = grammar._match_special_comparison(items, index)
        if group is not None:
            joined.append(group)
        else:
            joined.extend(grammar._as_item(token) for token in items[index : index + consumed])
        index += consumed
    return joined


def _read_comparison(parts: list[Token]) -> TraceClause:
    if not (len(parts) == 3 and _is_timestamp_builtin(parts[0])):
        grammar._check_comparison_shape(parts)
    if len(parts) == 2:
        entity, key = _identifier(parts[0].value, SEARCH_ATTRIBUTES)
        return _mapped(TraceClause(entity, key, parts[1].value.upper(), None))
    entity, key = _identifier(parts[0].value, SEARCH_ATTRIBUTES)
    comparator = parts[1].value
    _check_assessment_value(entity, comparator, parts[2])
    value = _read_value(entity, key, parts[2])
    if entity == SPAN:
        _check_span(key, comparator.upper())
    return _mapped(TraceClause(entity, key, comparator.upper(), value))


def _identifier(identifier: str, valid_attributes: Sequence[str]) -> tuple[str, str]:
    entity_name, separator, key = identifier.partition(".")
    if not separator:
        entity, key = ATTRIBUTE, entity_name
    else:
        trimmed = grammar._trim_backticks(entity_name)
        if trimmed not in _ENTITY_ALIASES:
            raise InvalidParameterValue(
                f"Invalid entity type '{trimmed}'. Valid values are {grammar.set_repr(_VALID_ENTITIES)}"
            )
        entity = _ENTITY_ALIASES[trimmed]
    key = grammar._trim_backticks(grammar._strip_quotes(key))
    if entity == ATTRIBUTE and key not in valid_attributes:
        raise InvalidParameterValue(
            f"Invalid attribute key '{key}' specified. Valid keys are '{grammar.set_repr(valid_attributes)}'"
        )
    return entity, key


def _mapped(clause: TraceClause) -> TraceClause:
    """The reference maps some keys (whatever their prefix, except ``span``) to tags, metadata or spans."""
    if clause.entity == SPAN:
        return clause
    lowered = clause.key.lower()
    if lowered in _KEY_TO_TAG:
        return TraceClause(TAG, _KEY_TO_TAG[lowered], clause.comparator, clause.value)
    if lowered in _KEY_TO_METADATA:
        return TraceClause(METADATA, _KEY_TO_METADATA[lowered], clause.comparator, clause.value)
    if lowered in _KEY_TO_SPAN:
        return TraceClause(SPAN, _KEY_TO_SPAN[lowered], clause.comparator, clause.value)
    if lowered in _KEY_TO_ATTRIBUTE:
        return TraceClause(clause.entity, _KEY_TO_ATTRIBUTE[lowered], clause.comparator, clause.value)
    return clause


def _is_string_token(token: Token) -> bool:
    return token.ttype in grammar._STRING_TYPES or isinstance(token, Identifier)


def _number(token: Token) -> int | float:
    return int(token.value) if token.ttype == T.Literal.Number.Integer else float(token.value)


def _check_assessment_value(entity: str, comparator: str, token: Token) -> None:
    if entity not in (FEEDBACK, EXPECTATION):
        return
    numeric = comparator in NUMERIC_ASSESSMENT_COMPARATORS
    if numeric:
        message = f"Expected a numeric value for {entity} when using comparator '{comparator}'. Got value {token.value}"
    else:
        message = f"Expected a quoted string value for {entity} (e.g. 'my-value'). Got value {token.value}"
    if _is_string_token(token):
        if numeric:
            raise InvalidParameterValue(message)
    elif token.ttype in _NUMBER_TYPES:
        if not numeric:
            raise InvalidParameterValue(message)
    else:
        raise InvalidParameterValue(message)


def _read_value(entity: str, key: str, token: Token) -> Value:
    if entity == ATTRIBUTE:
        return _read_attribute_value(key, token)
    if _is_string_token(token):
        return grammar._quoted_string(token.value)
    if entity in (TAG, SPAN) and isinstance(token, Parenthesis):
        return grammar._read_list(token.value)
    if entity in (FEEDBACK, EXPECTATION) and token.ttype in _NUMBER_TYPES:
        return _number(token)
    if entity in (FEEDBACK, EXPECTATION):
        raise InvalidParameterValue(
            f"Expected a quoted string value or numeric value for {entity} (e.g. 'my-value' or 0.8). "
            f"Got value {token.value}"
        )
    raise InvalidParameterValue(
        f"Expected a quoted string value for {entity} (e.g. 'my-value'). Got value {token.value}"
    )


def _read_attribute_value(key: str, token: Token) -> Value:
    if _is_string_token(token):
        return grammar._quoted_string(token.value)
    if isinstance(token, Parenthesis):
        if key not in LIST_ATTRIBUTES:
            raise InvalidParameterValue(
                f"Only attributes in {grammar.set_repr(LIST_ATTRIBUTES)} supports comparison with a list of "
                "quoted string values."
            )
        return grammar._read_list(token.value)
    if token.ttype in _NUMBER_TYPES:
        if key not in NUMERIC_ATTRIBUTES:
            raise InvalidParameterValue(
                f"Only the '{grammar.set_repr(NUMERIC_ATTRIBUTES)}' attributes support comparison with numeric values."
            )
        return _number(token)
    raise InvalidParameterValue(
        f"Expected a quoted string value or a list of quoted string values for attributes. Got value {token.value}"
    )


def _check_span(key: str, comparator: str) -> None:
    if key.startswith("attributes."):
        if not key[len("attributes.") :]:
            raise InvalidParameterValue("Span attribute name cannot be empty after 'attributes.'")
        allowed: Sequence[str] = SPAN_COMPARATORS
    elif key in SPAN_KEYS:
        allowed = SPAN_COMPARATORS
    elif key == SPAN_CONTENT:
        allowed = SPAN_CONTENT_COMPARATORS
    else:
        raise InvalidParameterValue(
            f"Invalid span attribute '{key}'. Supported attributes: {', '.join(sorted(SPAN_KEYS))}, "
            "attributes.<attribute_name>."
        )
    if comparator not in allowed:
        raise InvalidParameterValue(f"span.{key} comparator '{comparator}' not one of '{grammar.set_repr(allowed)}'")


def _check_clause(clause: TraceClause) -> None:
    """The store's checks, in its order (``_get_filter_clauses_for_search_traces``)."""
    check = _CHECKS.get(clause.entity)
    if check is not None:
        check(clause)


def _check_issue_clause(clause: TraceClause) -> None:
    if clause.key != "id":
        raise InvalidParameterValue(f"Invalid issue attribute '{clause.key}'. Supported attributes: id")
    if clause.comparator != "=":
        raise InvalidParameterValue(f"issue.{clause.key} comparator '{clause.comparator}' not one of '{{'='}}'")


def _check_attribute_clause(clause: TraceClause) -> None:
    numeric = clause.key in NUMERIC_ATTRIBUTES
    if clause.comparator not in (NUMERIC_ATTRIBUTE_COMPARATORS if numeric else STRING_ATTRIBUTE_COMPARATORS):
        closing = "" if numeric else "'"  # the reference's numeric message lacks its closing quote
        listed = grammar.set_repr(STRING_ATTRIBUTE_COMPARATORS)
        raise InvalidParameterValue(f"Invalid comparator '{clause.comparator}' not one of '{listed}{closing}")


def _check_tag_clause(clause: TraceClause) -> None:
    if clause.comparator not in TAG_COMPARATORS:
        listed = grammar.set_repr(TAG_COMPARATORS)
        raise InvalidParameterValue(f"Invalid comparator '{clause.comparator}' not one of '{listed}")
    if clause.key == LINKED_PROMPTS_TAG:
        _check_prompt_clause(clause.comparator, clause.value)


def _check_assessment_clause(clause: TraceClause) -> None:
    if not clause.key:
        raise InvalidParameterValue("Assessment field name cannot be empty")
    if clause.comparator not in ASSESSMENT_COMPARATORS:
        listed = grammar.set_repr(ASSESSMENT_COMPARATORS)
        raise InvalidParameterValue(f"assessment.{clause.key} comparator '{clause.comparator}' not one of '{listed}'")


def _check_metadata(clause: TraceClause) -> None:
    _check_metadata_clause(clause.key, clause.comparator)


def _check_span_clause(clause: TraceClause) -> None:
    _check_span(clause.key, clause.comparator)


_CHECKS: dict[str, Callable[[TraceClause], None]] = {
    SPAN: _check_span_clause,
    ISSUE: _check_issue_clause,
    ATTRIBUTE: _check_attribute_clause,
    TAG: _check_tag_clause,
    METADATA: _check_metadata,
    FEEDBACK: _check_assessment_clause,
    EXPECTATION: _check_assessment_clause,
}


def _check_prompt_clause(comparator: str, value: Value) -> None:
    if comparator != "=":
        raise InvalidParameterValue(
            f"Invalid comparator '{comparator}' for prompts filter. Only '=' is supported with format: "
            'prompt = "name/version"'
        )
    if not isinstance(value, str) or value.count("/") != 1:
        raise InvalidParameterValue(
            f"Invalid prompts filter value '{value}'. Expected format: prompt = \"name/version\""
        )


def _check_metadata_clause(key: str, comparator: str) -> None:
    if comparator not in METADATA_COMPARATORS:
        raise InvalidParameterValue(
            f"Invalid comparator '{comparator}' not one of '{grammar.set_repr(METADATA_COMPARATORS)}'"
        )
    if key in RESERVED_METADATA and comparator not in ("=", "!=", "IS NULL", "IS NOT NULL"):
        raise InvalidParameterValue(
            f"Comparator '{comparator}' is not supported for reserved metadata '{key}'. "
            "Only '=', '!=', 'IS NULL', and 'IS NOT NULL' are supported."
        )


# ---------------------------------------------------------------------------------------------------------------
# order_by
# ---------------------------------------------------------------------------------------------------------------


def parse_trace_order_by(order_by: Sequence[str]) -> list[TraceOrderKey]:
    """The order_by elements, then the reference's tie-breakers (``timestamp_ms DESC``, ``request_id ASC``)."""
    keys: list[TraceOrderKey] = []
    seen: set[tuple[str, str]] = set()
    for element in order_by:
        text, ascending = grammar._split_direction(element)
        entity, key = _identifier(text.strip(), ORDER_ATTRIBUTES)
        mapped = _mapped(TraceClause(entity, key, "=", None))
        entity, key = mapped.entity, mapped.key
        if entity == METADATA and key in RESERVED_METADATA:
            raise InvalidParameterValue(
                f"Ordering by reserved metadata '{key}' is not supported because it is represented by multiple columns."
            )
        if entity not in (ATTRIBUTE, TAG, METADATA):
            raise InvalidParameterValue(f"Invalid identifier type '{entity}'")
        if (entity, key) in seen:  # the reference answers 500 with this message
            raise InvalidParameterValue(f"`order_by` contains duplicate fields: {list(order_by)}")
        seen.add((entity, key))
        keys.append(TraceOrderKey(entity, key, ascending))
    if (ATTRIBUTE, "timestamp_ms") not in seen:
        keys.append(TraceOrderKey(ATTRIBUTE, "timestamp_ms", False))
    if (ATTRIBUTE, "request_id") not in seen:
        keys.append(TraceOrderKey(ATTRIBUTE, "request_id", True))
    return keys


# ---------------------------------------------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------------------------------------------


def _attribute(record: Any, key: str) -> Any:
    if key in ("request_id",):
        return record.trace_id
    if key == "timestamp_ms":
        return record.request_time
    if key == "execution_time_ms":
        return record.execution_duration
    if key == "end_time_ms":
        return record.request_time + (record.execution_duration or 0)
    if key == "status":
        return record.state
    if key == "client_request_id":
        return record.client_request_id or None
    if key == "experiment_id":
        return record.experiment_id
    return None


def _regex_matcher(pattern: str) -> Callable[[Any], bool]:
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise InvalidParameterValue(f"Invalid regular expression '{pattern}': {exc}") from exc
    return lambda lhs: lhs is not None and compiled.search(lhs) is not None


def value_matcher(comparator: str, value: Any) -> Callable[[Any], bool]:
    """A test for a string column with the trace comparators (RLIKE a regex searched anywhere)."""
    if comparator == "RLIKE":
        return _regex_matcher(str(value))
    return string_matcher(comparator, value)


def _numeric_matcher(comparator: str, value: Any) -> Callable[[Any], bool]:
    """SQLite's rules for an integer column against a literal: a numeric-looking text is read as a number, any
    other text is greater than every number (so ``timestamp_ms > 'abc'`` matches nothing, ``< 'abc'`` everything)."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            compare = ORDERING_OPERATORS[comparator]
            return lambda lhs: lhs is not None and bool(compare(0, 1))  # number < text
    compare = ORDERING_OPERATORS[comparator]
    return lambda lhs: lhs is not None and bool(compare(lhs, value))


def assessment_value_text(assessment: Mapping[str, Any]) -> str | None:
    """The JSON text the reference stores for an assessment's value (numbers as doubles: 3 is ``3.0``)."""
    for kind in (FEEDBACK, EXPECTATION):
        body = assessment.get(kind)
        if not isinstance(body, Mapping):
            continue
        serialized = body.get("serialized_value")
        if isinstance(serialized, Mapping):
            return str(serialized.get("value", ""))
        return json.dumps(_as_doubles(body.get("value")))
    return None


def _as_doubles(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, list):
        return [_as_doubles(item) for item in value]
    if isinstance(value, dict):
        return {key: _as_doubles(item) for key, item in value.items()}
    return value


def _numeric_value(assessment: Mapping[str, Any]) -> float | None:
    for kind in (FEEDBACK, EXPECTATION):
        body = assessment.get(kind)
        if isinstance(body, Mapping) and "serialized_value" not in body:
            value = body.get("value")
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                return float(value)
    return None


def _assessment_kind(assessment: Mapping[str, Any]) -> str | None:
    for kind in (FEEDBACK, EXPECTATION, ISSUE):
        if kind in assessment:
            return kind
    return None


def _assessment_test(clause: TraceClause) -> Callable[[Any, Mapping[str, Any]], bool]:
    comparator, value = clause.comparator, clause.value

    def candidates(record: Any) -> Iterable[Mapping[str, Any]]:
        return (
            a
            for a in record.assessments
            if a.get("valid", True) is not False
            and a.get("assessment_name") == clause.key
            and _assessment_kind(a) == clause.entity
        )

    if comparator == "IS NULL":
        return lambda record, context: not any(True for _ in candidates(record))
    if comparator == "IS NOT NULL":
        return lambda record, context: any(True for _ in candidates(record))
    if comparator in NUMERIC_ASSESSMENT_COMPARATORS:
        compare = ORDERING_OPERATORS[comparator]
        bound = float(value)  # type: ignore[arg-type]

        def numeric(record: Any, context: Mapping[str, Any]) -> bool:
            values = (_numeric_value(a) for a in candidates(record))
            return any(number is not None and compare(number, bound) for number in values)

        return numeric
    if comparator in ("=", "!="):
        texts = {str(value), json.dumps(value)}
        expected = comparator == "="
        return lambda record, context: any((assessment_value_text(a) in texts) is expected for a in candidates(record))
    matcher = value_matcher(comparator, value)
    return lambda record, context: any(matcher(assessment_value_text(a)) for a in candidates(record))


def _issue_test(clause: TraceClause) -> Callable[[Any, Mapping[str, Any]], bool]:
    return lambda record, context: any(
        _assessment_kind(a) == ISSUE and a.get("assessment_name") == clause.value for a in record.assessments
    )


def _mapping_test(clause: TraceClause, read: Callable[[Any], Mapping[str, str]]) -> Callable[[Any, Any], bool]:
    key, comparator = clause.key, clause.comparator
    if comparator == "IS NULL":
        return lambda record, context: key not in read(record)
    if comparator == "IS NOT NULL":
        return lambda record, context: key in read(record)
    matcher = value_matcher(comparator, clause.value)
    return lambda record, context: matcher(read(record).get(key))


def _prompt_test(clause: TraceClause) -> Callable[[Any, Mapping[str, Any]], bool]:
    name, _, version = str(clause.value).partition("/")

    def linked(record: Any, context: Mapping[str, Any]) -> bool:
        try:
            prompts = json.loads(record.tags.get(LINKED_PROMPTS_TAG) or "[]")
        except ValueError:
            return False
        return isinstance(prompts, list) and any(
            isinstance(p, dict) and p.get("name") == name and str(p.get("version")) == version for p in prompts
        )

    return linked


def _run_test(clause: TraceClause) -> Callable[[Any, Mapping[str, Any]], bool]:
    run_id = clause.value

    def in_run(record: Any, context: Mapping[str, Any]) -> bool:
        linked: Collection[str] = context.get("linked_traces", ())
        return record.trace_metadata.get(SOURCE_RUN) == run_id or record.trace_id in linked

    return in_run


def _attribute_test(clause: TraceClause) -> Callable[[Any, Mapping[str, Any]], bool]:
    if clause.key in NUMERIC_ATTRIBUTES or clause.key in _KEY_TO_ATTRIBUTE.values():
        matcher = _numeric_matcher(clause.comparator, clause.value)
    else:
        matcher = value_matcher(clause.comparator, clause.value)
    return lambda record, context: matcher(_attribute(record, clause.key))


def _clause_test(clause: TraceClause) -> Callable[[Any, Mapping[str, Any]], bool]:
    if clause.entity == ISSUE:
        return _issue_test(clause)
    if clause.entity == ATTRIBUTE:
        return _attribute_test(clause)
    if clause.entity == TAG and clause.key == LINKED_PROMPTS_TAG:
        return _prompt_test(clause)
    if clause.entity == TAG:
        return _mapping_test(clause, lambda record: record.tags)
    if clause.entity == METADATA and clause.key == SOURCE_RUN and clause.comparator == "=":
        return _run_test(clause)
    if clause.entity == METADATA:
        return _mapping_test(clause, lambda record: record.trace_metadata)
    return _assessment_test(clause)


def _span_status(status: str | None) -> str | None:
    if status is None:
        return None
    return status.removeprefix("STATUS_CODE_")


def _span_field(span: Any, key: str) -> str | None:
    if key == "status":
        return _span_status(getattr(span, "status", None))
    return getattr(span, key, None)


def _span_content_matcher(clause: TraceClause) -> Callable[[str], bool]:
    comparator, value = clause.comparator, clause.value
    if clause.key == SPAN_CONTENT:
        return value_matcher(comparator, value)
    attribute = grammar._trim_backticks(clause.key[len("attributes.") :])
    if comparator == "RLIKE":
        pattern = str(value)
        prefix, suffix = '"\\\\".*', ""
        if pattern.startswith("^"):
            pattern, prefix = pattern[1:], '"\\\\"'
        if pattern.endswith("$"):
            pattern, suffix = pattern[:-1], '\\\\"'
        return _regex_matcher(f'"{attribute}": {prefix}{pattern}{suffix}')
    if comparator in ("LIKE", "ILIKE"):
        return value_matcher(comparator, f'%"{attribute}"{value}%')
    return value_matcher(comparator, value)  # = != IN NOT IN compare the whole content: never in practice


@dataclass
class TraceQuery:
    """A validated trace search: ``matches(record, ...)`` and ``sort_key(record)``.

    ``run_id`` is the run an ``attribute.run_id = '…'`` clause names (the caller passes the ids of the traces
    linked to it as ``linked_traces``); ``needs_span_content`` says whether a clause reads span content, which the
    caller then passes as ``span_contents`` (the JSON text of each stored span, in the reference's encoding).
    """

    clauses: list[TraceClause]
    order: list[TraceOrderKey]
    run_ids: tuple[str, ...] = ()
    needs_span_content: bool = False
    _tests: list[Callable[[Any, Mapping[str, Any]], bool]] = field(default_factory=list)
    _span_clauses: list[TraceClause] = field(default_factory=list)

    def matches(
        self,
        record: Any,
        *,
        linked_traces: Collection[str] = (),
        span_contents: Mapping[str, str] | None = None,
        all_spans: Callable[[], Sequence[Any]] | None = None,
    ) -> bool:
        """Whether ``record`` satisfies every clause; ``span_contents`` maps span id to its stored JSON text;
        ``all_spans`` gives every span's summary when ``record.spans`` holds only some (called only if a span clause
        is reached)."""
        context = {"linked_traces": linked_traces}
        if not all(test(record, context) for test in self._tests):
            return False
        if not self._span_clauses:
            return True
        return self._some_span_matches(all_spans() if all_spans else record.spans, span_contents or {})

    @property
    def filters_spans(self) -> bool:
        """Whether a clause reads the trace's spans (their summary, or their content)."""
        return bool(self._span_clauses)

    def _some_span_matches(self, spans: Sequence[Any], span_contents: Mapping[str, str]) -> bool:
        for span in spans:
            if all(self._span_clause_holds(clause, span, span_contents) for clause in self._span_clauses):
                return True
        return False

    @staticmethod
    def _span_clause_holds(clause: TraceClause, span: Any, span_contents: Mapping[str, str]) -> bool:
        if clause.key in SPAN_KEYS:
            return value_matcher(clause.comparator, clause.value)(_span_field(span, clause.key))
        content = span_contents.get(getattr(span, "span_id", ""))
        return content is not None and _span_content_matcher(clause)(content)

    def sort_key(self, record: Any) -> tuple[Any, ...]:
        """A key sorting records in the query's order, nulls last whatever the direction."""
        return tuple(_order_part(record, key) for key in self.order)


class _Reversed:
    """Wraps a value so that sorting ascending orders it descending."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Reversed) -> bool:
        return bool(other.value < self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and self.value == other.value


def _order_value(record: Any, key: TraceOrderKey) -> Any:
    if key.entity == ATTRIBUTE:
        return _attribute(record, key.key)
    if key.entity == TAG:
        return record.tags.get(key.key)
    return record.trace_metadata.get(key.key)


def _order_part(record: Any, key: TraceOrderKey) -> tuple[int, Any]:
    value = _order_value(record, key)
    if value is None:
        return (1, 0)
    if key.key == "experiment_id":
        value = int(value) if str(value).isdigit() else value
    return (0, value if key.ascending else _Reversed(value))


def compile_trace_search(filter_string: str | None, order_by: Sequence[str] = ()) -> TraceQuery:
    """Parse and check a filter and order_by; the query evaluates them."""
    clauses = parse_trace_filter(filter_string)
    order = parse_trace_order_by(order_by)
    query = TraceQuery(clauses=clauses, order=order)
    for clause in clauses:
        if clause.entity == SPAN:
            query._span_clauses.append(clause)
            if clause.key not in SPAN_KEYS:
                query.needs_span_content = True
        else:
            query._tests.append(_clause_test(clause))
            if clause.entity == METADATA and clause.key == SOURCE_RUN and clause.comparator == "=":
                query.run_ids = (*query.run_ids, str(clause.value))
    return query
