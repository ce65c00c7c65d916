"""MLflow 3 issues: quality problems found in GenAI traces. The entity, its status and severity values, the order a
search returns them in and the filter grammar, as the reference's ``SqlAlchemyStore.search_issues`` and
``SearchIssuesUtils`` (``mlflow/utils/search_utils.py``) define them."""

from __future__ import annotations

from dataclasses import dataclass, field

from stratus.domain.search.grammar import set_repr
from stratus.errors import InvalidParameterValue

ISSUE_STATUSES = ("pending", "rejected", "resolved")
DEFAULT_STATUS = "pending"
ISSUE_SEVERITIES = ("not_an_issue", "low", "medium", "high")
"""Lowest to highest: a search lists the most severe first."""

FILTER_KEYS = ("status", "source_run_id")
FILTER_COMPARATORS = ("=", "!=")


@dataclass
class Issue:
    issue_id: str
    experiment_id: str
    name: str
    description: str
    status: str
    created_timestamp: int
    last_updated_timestamp: int
    severity: str | None = None
    root_causes: list[str] = field(default_factory=list)
    source_run_id: str | None = None
    categories: list[str] = field(default_factory=list)
    created_by: str | None = None
    trace_count: int | None = None


@dataclass(frozen=True)
class IssueFilter:
    """One ``key = 'value'`` or ``key != 'value'`` clause; a filter is their AND."""

    key: str
    comparator: str
    value: str

    def matches(self, issue: Issue) -> bool:
        actual = issue.status if self.key == "status" else issue.source_run_id
        # SQL: a NULL source_run_id satisfies neither = nor !=
        if actual is None:
            return False
        return (actual == self.value) == (self.comparator == "=")


def parse_status(status: str) -> str:
    """The reference answers an unknown status with a 500 (``IssueStatus(...)`` raises ValueError); we say 400."""
    if status not in ISSUE_STATUSES:
        raise InvalidParameterValue(
            f"Invalid value '{status}' for parameter 'status' supplied. Valid values: {', '.join(ISSUE_STATUSES)}"
        )
    return status


def parse_severity(severity: str) -> str:
    """As ``parse_status``: the reference's 500 for an unknown severity is a 400 here."""
    if severity not in ISSUE_SEVERITIES:
        raise InvalidParameterValue(
            f"Invalid value '{severity}' for parameter 'severity' supplied. Valid values: {', '.join(ISSUE_SEVERITIES)}"
        )
    return severity


def search_order_key(issue: Issue) -> tuple[int, int, str]:
    """Ascending key for the reference's order, which is descending: severity rank (none lowest), creation time,
    id."""
    rank = ISSUE_SEVERITIES.index(issue.severity) if issue.severity in ISSUE_SEVERITIES else -1
    return (rank, issue.created_timestamp, issue.issue_id)


def parse_issue_filter(filter_string: str | None) -> list[IssueFilter]:
    """``SearchIssuesUtils.parse_search_filter``: comparisons of ``status`` or ``source_run_id`` with ``=`` or
    ``!=``, joined by AND; anything else is INVALID_PARAMETER_VALUE with the reference's message."""
    if not filter_string:
        return []
    import sqlparse  # on first use: most requests never filter
    from sqlparse.sql import Statement

    try:
        parsed = sqlparse.parse(filter_string)
    except Exception as exc:  # sqlparse's own limits (e.g. nesting); the reference words it so
        raise InvalidParameterValue(f"Error on parsing filter '{filter_string}'") from exc
    if len(parsed) == 0 or not isinstance(parsed[0], Statement):
        raise InvalidParameterValue(f"Invalid filter '{filter_string}'. Could not be parsed.")
    if len(parsed) > 1:
        raise InvalidParameterValue(
            f"Search filter contained multiple expression {filter_string!r}. Provide AND-ed expression list."
        )
    return _read_statement(parsed[0])


def _read_statement(statement: object) -> list[IssueFilter]:
    from sqlparse import tokens as T
    from sqlparse.sql import Comparison

    tokens = [t for t in statement.tokens if not t.is_whitespace]  # type: ignore[attr-defined]
    invalid = [t for t in tokens if not isinstance(t, Comparison) and not t.match(ttype=T.Keyword, values=["AND"])]
    if invalid:
        raise InvalidParameterValue(f"Invalid clause(s) in filter string: {', '.join(map(str, invalid))}")
    return [_read_comparison(t) for t in tokens if isinstance(t, Comparison)]


def _read_comparison(comparison: object) -> IssueFilter:
    from sqlparse.sql import Identifier

    parts = [t for t in comparison.tokens if not t.is_whitespace]  # type: ignore[attr-defined]
    if len(parts) != 3:
        raise InvalidParameterValue(f"Invalid comparison: expected 3 tokens, got {len(parts)}")
    left, comparator_token, right = parts
    if not isinstance(left, Identifier):
        raise InvalidParameterValue(f"Invalid comparison: left side must be an identifier, got {type(left)}")
    key = _strip_quotes(left.value).strip()
    if key not in FILTER_KEYS:
        raise InvalidParameterValue(f"Invalid filter field '{key}'. Supported fields: {set_repr(FILTER_KEYS)}")
    comparator = comparator_token.value.upper()
    if comparator not in FILTER_COMPARATORS:
        raise InvalidParameterValue(
            f"Invalid comparator '{comparator}'. Supported comparators: {set_repr(FILTER_COMPARATORS)}"
        )
    return IssueFilter(key, comparator, _strip_quotes(right.value).strip())


def _strip_quotes(text: str) -> str:
    quoted = len(text) >= 2 and text[0] == text[-1] and text[0] in "'\""
    return text[1:-1] if quoted else text
