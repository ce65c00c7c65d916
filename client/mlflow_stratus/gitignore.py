"""A small ``.gitignore`` matcher, for project folders that are not git work trees.

It follows gitignore(5) for what projects use: blank lines and ``#`` comments, ``!`` negation, ``dir/`` (directories
only), patterns with a slash anchored to their ``.gitignore``'s folder, ``*``, ``?``, ``[...]`` and ``**``; the last
matching rule wins, deeper ``.gitignore`` files after shallower ones, and nothing under an ignored directory comes back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class IgnoreRule:
    """One pattern of a ``.gitignore`` file found in folder ``base`` ("" for the project root, else a relative
    posix path)."""

    base: str
    pattern: str
    regex: re.Pattern[str]
    negated: bool
    dir_only: bool

    def matches(self, path: str, is_dir: bool) -> bool:
        """Whether this rule's pattern matches ``path`` (posix, relative to the project root) itself."""
        if self.dir_only and not is_dir:
            return False
        if self.base:
            if not path.startswith(self.base + "/"):
                return False
            path = path[len(self.base) + 1 :]
        return self.regex.fullmatch(path) is not None


def parse_gitignore(text: str, base: str = "") -> list[IgnoreRule]:
    """The rules of one ``.gitignore`` file whose folder is ``base`` (relative to the project root)."""
    rules = []
    for line in text.splitlines():
        rule = _parse_line(line, base.strip("/"))
        if rule is not None:
            rules.append(rule)
    return rules


def _parse_line(line: str, base: str) -> IgnoreRule | None:
    if not line or line.startswith("#"):
        return None
    pattern = _strip_trailing_spaces(line)
    negated = pattern.startswith("!")
    if negated:
        pattern = pattern[1:]
    dir_only = pattern.endswith("/")
    body = pattern.rstrip("/")
    if not body:
        return None
    # A slash at the start or in the middle anchors the pattern to the .gitignore's folder.
    anchored = "/" in body
    regex = _translate(body.lstrip("/"), anchored)
    return IgnoreRule(base=base, pattern=line, regex=re.compile(regex), negated=negated, dir_only=dir_only)


def _strip_trailing_spaces(line: str) -> str:
    while line.endswith(" ") and not line.endswith("\\ "):
        line = line[:-1]
    return line


def _translate(pattern: str, anchored: bool) -> str:
    segments = pattern.split("/")
    last = len(segments) - 1
    regex = "" if anchored else "(?:.*/)?"
    for index, segment in enumerate(segments):
        if segment == "**":
            # "**/" is zero or more folders; a final "/**" is everything inside.
            regex += ".+" if index == last else "(?:.*/)?"
        else:
            regex += _translate_segment(segment) + ("" if index == last else "/")
    return regex


def _translate_segment(segment: str) -> str:
    out = []
    i = 0
    while i < len(segment):
        char = segment[i]
        if char == "\\" and i + 1 < len(segment):
            out.append(re.escape(segment[i + 1]))
            i += 2
            continue
        if char == "*":
            while i + 1 < len(segment) and segment[i + 1] == "*":
                i += 1
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            bracket, i = _translate_bracket(segment, i)
            out.append(bracket)
            continue
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def _translate_bracket(segment: str, start: int) -> tuple[str, int]:
    """``[...]`` at ``start``: the regex class and the index after it, or a literal ``[`` when it is not closed."""
    i = start + 1
    negated = i < len(segment) and segment[i] in "!^"
    if negated:
        i += 1
    first = i
    if i < len(segment) and segment[i] == "]":
        i += 1
    while i < len(segment) and segment[i] != "]":
        i += 1
    if i >= len(segment):
        return re.escape("["), start + 1
    members = "".join(char if char == "-" else re.escape(char) for char in segment[first:i])
    return ("[^/" if negated else "[") + members + "]", i + 1


class IgnoreRules:
    """The rules in force at some folder of a project: those of every ``.gitignore`` from the root down to it."""

    def __init__(self, rules: Iterable[IgnoreRule] = ()) -> None:
        self._rules = tuple(rules)

    def extended(self, rules: Iterable[IgnoreRule]) -> IgnoreRules:
        """These rules followed by a deeper ``.gitignore``'s, which take precedence."""
        return IgnoreRules((*self._rules, *rules))

    def matches(self, path: str, is_dir: bool) -> bool:
        """Whether the last rule matching ``path`` itself ignores it (its folders are not looked at)."""
        ignored = False
        for rule in self._rules:
            if rule.matches(path, is_dir):
                ignored = not rule.negated
        return ignored

    def ignores(self, path: str, is_dir: bool) -> bool:
        """Whether ``path`` is ignored, itself or through one of its folders (git cannot re-include a file under
        an ignored folder)."""
        parts = path.split("/")
        for depth in range(1, len(parts)):
            if self.matches("/".join(parts[:depth]), True):
                return True
        return self.matches(path, is_dir)
