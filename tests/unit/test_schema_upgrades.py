"""The upgrade runner (domain/upgrades.py) against an in-memory schema state and migrations that page over lists:
order, resuming from the cursor a stopped runner wrote, idempotence, and two runners at once."""

from __future__ import annotations

import itertools

from stratus.domain.ports import SchemaState
from stratus.domain.upgrades import upgrade
from stratus.store.memory import InMemorySchemaState


class PagedMigration:
    """Upgrades ``items`` (a shared dict) page by page: each item it passes gets ``name`` appended once."""

    def __init__(self, name: str, items: dict[int, list[str]], page: int = 2, log: list[str] | None = None) -> None:
        self.name, self.items, self.page = name, items, page
        self.log = log if log is not None else []

    def step(self, cursor: str | None) -> str | None:
        start = int(cursor or 0)
        keys = sorted(self.items)[start : start + self.page]
        for key in keys:
            if self.name not in self.items[key]:  # idempotent: a repeated step changes nothing
                self.items[key].append(self.name)
        self.log.append(f"{self.name}@{start}")
        following = start + len(keys)
        return str(following) if following < len(self.items) else None


def _items(count: int) -> dict[int, list[str]]:
    return {key: [] for key in range(count)}


def test_migrations_run_in_order_each_to_its_end() -> None:
    items, log = _items(5), []
    migrations = [PagedMigration("a", items, log=log), PagedMigration("b", items, log=log)]
    state = InMemorySchemaState()

    result = upgrade(state, migrations)

    assert result.complete and (result.version, result.target) == (2, 2)
    assert log == ["a@0", "a@2", "a@4", "b@0", "b@2", "b@4"]
    assert all(marks == ["a", "b"] for marks in items.values())
    assert state.state.version == 2 and state.state.cursor is None


def test_a_runner_stopped_by_its_deadline_is_resumed_from_the_cursor_it_wrote() -> None:
    items, log = _items(7), []
    migrations = [PagedMigration("a", items, log=log)]
    state = InMemorySchemaState()
    ticks = itertools.count()

    first = upgrade(state, migrations, deadline=2, clock=lambda: next(ticks))  # time for 2 steps

    assert not first.complete and first.steps == 2
    assert state.state == SchemaState(0, "4", 2)
    second = upgrade(state, migrations)
    assert second.complete and second.steps == 2
    assert log == ["a@0", "a@2", "a@4", "a@6"]  # nothing done twice
    assert all(marks == ["a"] for marks in items.values())


def test_running_again_on_an_upgraded_table_runs_no_step() -> None:
    items, log = _items(3), []
    state = InMemorySchemaState()
    upgrade(state, [PagedMigration("a", items, log=log)])
    log.clear()

    again = upgrade(state, [PagedMigration("a", items, log=log)])

    assert again.complete and again.steps == 0 and log == []


def test_a_release_with_a_new_migration_runs_only_that_one() -> None:
    items, log = _items(3), []
    state = InMemorySchemaState()
    upgrade(state, [PagedMigration("a", items, log=log)])
    log.clear()

    upgrade(state, [PagedMigration("a", items, log=log), PagedMigration("b", items, log=log)])

    assert log == ["b@0", "b@2"]
    assert state.state.version == 2


class RacingState(InMemorySchemaState):
    """Before this runner's first write lands, another runner moves the state past it (its own step written)."""

    def __init__(self, other: SchemaState) -> None:
        super().__init__()
        self.other, self.refused = other, 0

    def advance(self, seen: SchemaState, after: SchemaState) -> bool:
        if self.other is not None:
            self.state, self.other = self.other, None  # type: ignore[assignment]
        written = super().advance(seen, after)
        self.refused += not written
        return written


def test_a_runner_whose_step_another_wrote_first_goes_on_from_that_runners_state() -> None:
    items, log = _items(6), []
    state = RacingState(SchemaState(0, "4", 1))  # the other runner did pages 0 and 2 meanwhile

    result = upgrade(state, [PagedMigration("a", items, log=log)])

    assert state.refused == 1  # its own first step was not written: the state did not move twice
    assert log == ["a@0", "a@4"]  # went on from the other runner's cursor, not from its own
    assert result.complete and result.steps == 1
    assert state.state == SchemaState(1, None, 2)


def test_a_table_upgraded_by_a_newer_release_is_left_as_it_is() -> None:
    """A rolled-back deploy runs the older release's upgrade: it must neither touch the table nor fail."""
    items, log = _items(1), []
    state = InMemorySchemaState(SchemaState(3, None, 3))

    result = upgrade(state, [PagedMigration("a", items, log=log)])

    assert result.newer and result.complete and result.steps == 0
    assert log == [] and state.state == SchemaState(3, None, 3)
