"""Value comparisons as the reference's SQLite store evaluates them.

The reference runs every filter as SQL on SQLite with ``PRAGMA case_sensitive_like = true``:

* ``=``, ``!=`` and ordering compare strings byte-wise (code point order), exactly.
* ``LIKE`` is case-sensitive; ``%`` matches any run of characters (newlines included), ``_`` exactly one
  character, and there is no escape character (a backslash is literal).
* ``ILIKE`` is ``lower(x) LIKE lower(pattern)``, and SQLite's ``lower`` folds ASCII letters only: ``'É'`` does not
  match ``'é'``.
* A missing value (SQL NULL) satisfies no comparison, ``!=`` included.
* Metric values: NaN is stored as 0 with a flag and satisfies only ``!=``; +/-inf is stored as +/-max float.
"""

from __future__ import annotations

import operator
import re
import sys
from collections.abc import Callable, Iterable
from typing import Any

Matcher = Callable[[Any], bool]

MAX_FLOAT = sys.float_info.max

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

ORDERING_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def ascii_lower(text: str) -> str:
    """Lower-case ASCII letters only, like SQLite's built-in ``lower()``."""
    return text.translate(_ASCII_LOWER)


def stored_metric_value(value: float) -> float:
    """The number the reference stores for a metric value: +/-inf become +/-max float (NaN is handled apart)."""
    if value > MAX_FLOAT:
        return MAX_FLOAT
    if value < -MAX_FLOAT:
        return -MAX_FLOAT
    return value


def like_regex(pattern: str) -> re.Pattern[str]:
    """Compile an SQL LIKE pattern (``%`` and ``_`` wildcards, no escape character) to a regex to fullmatch."""
    parts = [".*" if char == "%" else "." if char == "_" else re.escape(char) for char in pattern]
    return re.compile("".join(parts), re.DOTALL)


def string_matcher(comparator: str, value: Any) -> Matcher:
    """A test ``lhs -> bool`` for a string column; ``comparator`` is upper-case. ``None`` (NULL) never matches.

    ``value`` is a string, or for ``IN`` / ``NOT IN`` an iterable of values.
    """
    if comparator == "LIKE":
        return _like_matcher(like_regex(value))
    if comparator == "ILIKE":
        folded = like_regex(ascii_lower(value)).fullmatch
        return lambda lhs: lhs is not None and folded(ascii_lower(lhs)) is not None
    if comparator == "IN":
        return _membership_matcher(value, expected=True)
    if comparator == "NOT IN":
        return _membership_matcher(value, expected=False)
    return ordering_matcher(comparator, value)


def _like_matcher(regex: re.Pattern[str]) -> Matcher:
    fullmatch = regex.fullmatch
    return lambda lhs: lhs is not None and fullmatch(lhs) is not None


def _membership_matcher(values: Iterable[Any], expected: bool) -> Matcher:
    members = frozenset(values)
    return lambda lhs: lhs is not None and (lhs in members) is expected


def ordering_matcher(comparator: str, value: Any) -> Matcher:
    """A test ``lhs -> bool`` for ``= != < <= > >=``. ``None`` (NULL) never matches."""
    compare = ORDERING_OPERATORS[comparator]
    return lambda lhs: lhs is not None and bool(compare(lhs, value))
