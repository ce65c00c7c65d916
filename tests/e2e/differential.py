"""What the differential tests share: comparing one query's outcome on the reference server and on Stratus, and
reporting a mismatch readably. An outcome is ``("ok", names in order, page sizes)`` or an error tuple."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

Outcome = tuple[Any, ...]


class Described(Protocol):
    def describe(self) -> str: ...


Q = TypeVar("Q", bound=Described)
S = TypeVar("S")


@dataclass
class Mismatch:
    query: str
    reference: Outcome
    stratus: Outcome

    def report(self) -> str:
        lines = [f"- {self.query}"]
        if self.reference[0] == "ok" and self.stratus[0] == "ok":
            ref, got = self.reference[1], self.stratus[1]
            missing = [n for n in ref if n not in got]
            extra = [n for n in got if n not in ref]
            if missing or extra:
                lines.append(f"    only in reference: {missing}")
                lines.append(f"    only in stratus:   {extra}")
            elif ref != got:
                lines.append(f"    same results, different order:\n      reference: {ref}\n      stratus:   {got}")
            if self.reference[2] != self.stratus[2]:
                lines.append(f"    page sizes: reference {self.reference[2]}, stratus {self.stratus[2]}")
        else:
            lines.append(f"    reference: {self.reference[:3]}")
            lines.append(f"    stratus:   {self.stratus[:3]}")
        return "\n".join(lines)


def compare(query: Q, sides: tuple[S, S], outcome_of: Callable[[Q, S], Outcome]) -> tuple[Mismatch | None, Outcome]:
    """Run ``query`` on both servers; the mismatch (None if they agree) and the reference's outcome."""
    reference, stratus = sides
    expected = outcome_of(query, reference)
    actual = outcome_of(query, stratus)
    return (None if expected == actual else Mismatch(query.describe(), expected, actual)), expected


def compare_all(
    queries: Sequence[Q], sides: tuple[S, S], outcome_of: Callable[[Q, S], Outcome], threads: int
) -> list[tuple[Mismatch | None, Outcome]]:
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda query: compare(query, sides, outcome_of), queries))


def assert_same_answers(expected: list[tuple[str, Any]], actual: list[tuple[str, Any]]) -> None:
    """Two runs of one labelled scenario, the reference's and Stratus's, answer alike request by request."""
    mismatches = [
        f"- {label}\n    reference: {ref}\n    stratus:   {got}"
        for (label, ref), (_, got) in zip(expected, actual, strict=True)
        if ref != got
    ]
    assert not mismatches, "answers differ:\n" + "\n".join(mismatches)
