"""Upgrading a table in place (docs/operations.md "Upgrades"): the ordered migrations of ``store/dynamodb/migrations``
run one bounded step at a time, and the schema state (how many migrations are done, and the running one's cursor)
moves only by a conditional write on what was read, so a second runner at the same time re-reads instead of moving it
twice, and a runner stopped anywhere (a time budget, a crash) is resumed from the last step written."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from stratus.domain.ports import Migration, SchemaState, SchemaStateStore


@dataclass(frozen=True)
class UpgradeResult:
    """Where a run left the table: ``version`` migrations done of ``target``; ``steps`` this runner wrote."""

    version: int
    target: int
    steps: int

    @property
    def complete(self) -> bool:
        return self.version >= self.target

    @property
    def newer(self) -> bool:
        """A newer release upgraded the table (this is a rollback): nothing to do, and nothing refused, so that
        CloudFormation can roll a failed deploy back."""
        return self.version > self.target


def upgrade(
    state: SchemaStateStore,
    migrations: Sequence[Migration],
    *,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> UpgradeResult:
    """Run the pending migrations' steps in order until every one is done or ``clock()`` passes ``deadline`` (checked
    before each step; None: no limit). A step whose progress another runner wrote first is not written: the state is
    read again and the work goes on from there (steps are idempotent, so repeating one changes nothing)."""
    steps = 0
    current = state.read()
    while current.version < len(migrations):
        if deadline is not None and clock() >= deadline:
            break
        cursor = migrations[current.version].step(current.cursor)
        after = SchemaState(current.version + 1, None) if cursor is None else SchemaState(current.version, cursor)
        if state.advance(current, after):
            steps += 1
        current = state.read()  # this runner's step, or the state another runner wrote first
    return UpgradeResult(current.version, len(migrations), steps)
