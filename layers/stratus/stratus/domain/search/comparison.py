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


def _segment_regex(segment: str) -> re.Pattern[str]:
    return re.compile("".join("." if char == "_" else re.escape(char) for char in segment), re.DOTALL)


def like_predicate(pattern: str) -> Callable[[str], bool]:
    """A test ``text -> bool`` for an SQL LIKE pattern: ``%`` any run of characters, ``_`` one, no escape character.

    The pattern is cut at each ``%``; the first piece must start the text, the last must end it and the others are
    found left to right in between. That is exact for such patterns and never backtracks, unlike a regex with one
    ``.*`` per ``%``, which a hostile pattern can keep busy for minutes.
    """
    pieces = pattern.split("%")
    if len(pieces) == 1:
        whole = _segment_regex(pattern)
        return lambda text: whole.fullmatch(text) is not None
    head, tail = _segment_regex(pieces[0]), _segment_regex(pieces[-1])
    middle = [_segment_regex(piece) for piece in pieces[1:-1] if piece]
    head_length, tail_length = len(pieces[0]), len(pieces[-1])

    def matches(text: str) -> bool:
        end = len(text) - tail_length
        if end < head_length or head.match(text) is None or tail.match(text, end) is None:
            return False
        position = head_length
        for piece in middle:
            found = piece.search(text, position, end)
            if found is None:
                return False
            position = found.end()
        return True

    return matches


def string_matcher(comparator: str, value: Any) -> Matcher:
    """A test ``lhs -> bool`` for a string column; ``comparator`` is upper-case. ``None`` (NULL) never matches.

    ``value`` is a string, or for ``IN`` / ``NOT IN`` an iterable of values. A list given to ``LIKE`` or ``ILIKE``
    matches nothing; the search refuses such a filter before evaluating it, as the reference does.
    """
    if comparator in ("LIKE", "ILIKE") and not isinstance(value, str):
        return lambda lhs: False
    if comparator == "LIKE":
        like = like_predicate(value)
        return lambda lhs: lhs is not None and like(lhs)
    if comparator == "ILIKE":
        folded = like_predicate(ascii_lower(value))
        return lambda lhs: lhs is not None and folded(ascii_lower(lhs))
    if comparator == "IN":
        return _membership_matcher(value, expected=True)
    if comparator == "NOT IN":
        return _membership_matcher(value, expected=False)
    return ordering_matcher(comparator, value)


def _membership_matcher(values: Iterable[Any], expected: bool) -> Matcher:
    members = frozenset(values)
    return lambda lhs: lhs is not None and (lhs in members) is expected


def ordering_matcher(comparator: str, value: Any) -> Matcher:
    """A test ``lhs -> bool`` for ``= != < <= > >=``. ``None`` (NULL) never matches."""
    compare = ORDERING_OPERATORS[comparator]
    return lambda lhs: lhs is not None and bool(compare(lhs, value))
