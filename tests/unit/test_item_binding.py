"""``bind_table`` re-points every item class: one missing from ``ALL_ITEMS`` keeps the connection of the table it
was first used with (a test that ran before, or another stack in the process) and reads or writes there."""

from __future__ import annotations

from stratus.store.dynamodb import items


def _subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_subclasses(sub)}
    return found


def test_every_item_class_is_bound_by_bind_table() -> None:
    declared = {cls for cls in _subclasses(items.StratusItem) if cls.__module__ == items.__name__}
    assert declared - set(items.ALL_ITEMS) == set()
