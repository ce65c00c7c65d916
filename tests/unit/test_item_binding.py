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


def test_every_item_class_shares_one_connection_that_knows_the_index() -> None:
    """One botocore client for the table, not one per item class (each would load the service model again)."""
    from stratus.store.dynamodb import bind_table

    bind_table("a-table", "eu-west-1", host="http://127.0.0.1:1")  # no request is made

    connections = {id(item._get_connection()) for item in items.ALL_ITEMS}
    assert len(connections) == 1
    shared = items.RunOrderItem._get_connection()
    assert shared.table_name == "a-table"
    assert shared.get_meta_table().has_index_name("RunVersions")
