"""The filters of a trace metrics query (``traces/metrics``), parsed as the reference does
(``SearchTraceMetricsUtils`` in ``mlflow/utils/search_utils.py``): one ``=`` comparison per string, with a quoted
value, on ``trace.status``, ``trace.tag.<key>``, ``trace.metadata.<key>``, ``span.name|type|status`` or
``assessment.name|type``. The tokenizing and the quote rules are the trace search's (:mod:`.traces`, :mod:`.grammar`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlparse.sql import Comparison, Token

from stratus.domain.search import grammar
from stratus.domain.search.traces import _is_string_token
from stratus.errors import InvalidParameterValue

TRACE = "trace"
SPAN = "span"
ASSESSMENT = "assessment"

# entity -> whether it needs a key, per view prefix, in the reference's order (its messages list them)
_ENTITIES: dict[str, dict[str, bool]] = {
    TRACE: {"status": False, "tag": True, "metadata": True},
    SPAN: {"name": False, "status": False, "type": False},
    ASSESSMENT: {"name": False, "type": False},
}


@dataclass(frozen=True)
class MetricsFilter:
    """``TraceMetricsFilter``: ``<prefix>.<entity>[.<key>] = '<value>'``."""

    prefix: str
    entity: str
    key: str | None
    value: str


def parse_metrics_filter(filter_string: str) -> MetricsFilter:
    """One filter string of the request, checked with the reference's messages."""
    clauses = _parse(filter_string) if filter_string else []
    if len(clauses) != 1:
        raise InvalidParameterValue(f"Invalid filter: '{filter_string}'. Expected one filter clause.")
    return clauses[0]


def _parse(filter_string: str) -> list[MetricsFilter]:
    statement = grammar.parse_statement(filter_string)
    tokens = statement.tokens
    invalid = [t for t in tokens if not (isinstance(t, Comparison) or t.is_whitespace)]
    if invalid:
        raise InvalidParameterValue(f"Invalid clause(s) in filter string: {', '.join(map(str, invalid))}")
    return [_comparison(t) for t in tokens if isinstance(t, Comparison)]


def _comparison(comparison: Comparison) -> MetricsFilter:
    parts: list[Token] = [t for t in comparison.tokens if not t.is_whitespace]
    grammar._check_comparison_shape(parts)
    prefix, entity, key = _identifier(parts[0].value)
    comparator = parts[1].value
    if comparator != "=":
        raise InvalidParameterValue(f"Invalid comparator: '{comparator}', only '=' operator is supported")
    if not _is_string_token(parts[2]):
        raise InvalidParameterValue(
            f"Expected a quoted string value for {entity} value (e.g. 'my-value'). Got value {parts[2].value}"
        )
    return MetricsFilter(prefix, entity, key, grammar._quoted_string(parts[2].value))


def _identifier(identifier: str) -> tuple[str, str, str | None]:
    pieces = identifier.split(".", 2)
    if len(pieces) < 2:
        raise InvalidParameterValue(
            f"Invalid identifier {identifier!r}. Columns should be specified as "
            "'trace.<key>', 'span.<key>', 'assessment.<key>'."
        )
    prefix, entity = grammar._trim_backticks(pieces[0]), pieces[1]
    key = pieces[2] if len(pieces) == 3 else None
    if prefix not in _ENTITIES:
        raise InvalidParameterValue(f"Invalid view type '{prefix}'. Valid values are dict_keys({list(_ENTITIES)})")
    entities = _ENTITIES[prefix]
    if entity not in entities:
        raise InvalidParameterValue(
            f"Invalid entity '{entity}' specified for view type '{prefix}'. Valid entities are {list(entities)}"
        )
    if entities[entity] and key is None:
        raise InvalidParameterValue(f"Filtering by {entity} requires a key, e.g. '{prefix}.{entity}.<key> = <value>'")
    if not entities[entity] and key is not None:
        raise InvalidParameterValue(f"Filtering by {entity} does not require a key, use '{prefix}.{entity}' instead")
    return prefix, entity, grammar._trim_backticks(grammar._strip_quotes(key)) if key else None
