"""Point the item classes at a table. Called once by a composition root (or a test fixture), never at import."""

from __future__ import annotations

import os
from contextlib import suppress

from pynamodb.exceptions import DoesNotExist

from stratus.store.dynamodb.items import ALL_ITEMS, ModelVersionItem, SchemaItem

_BOUND: dict[str, tuple[str, str, str | None, str | None]] = {}
"""What :func:`bind_table` last bound every item class to."""


def bind_table(table_name: str, region: str, host: str | None = None) -> None:
    """Bind every item class to ``table_name``. ``host`` is only for tests; deployed code and ``stratus local`` leave
    the endpoint to botocore, which honours ``AWS_ENDPOINT_URL_DYNAMODB``.

    Binding again to the same table at the same endpoint keeps the connection and its botocore client: ``stratus
    local`` runs every execution environment of every function in one process, and each binds when it starts; a new
    client loads botocore's DynamoDB model again (about 40 ms of the interpreter's lock, a third of the registry
    function's time in ``benchmarks.compare`` before this check)."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ.get("AWS_ENDPOINT_URL")  # botocore's order
    binding = (table_name, region, host, endpoint)
    shared = ModelVersionItem._connection  # noqa: SLF001 - pynamodb's own attribute
    same = _BOUND.get("binding") == binding and all(i._connection is shared for i in ALL_ITEMS)  # noqa: SLF001
    if shared is not None and same:
        return
    for item in ALL_ITEMS:
        item.Meta.table_name = table_name
        item.Meta.region = region
        item.Meta.host = host  # type: ignore[attr-defined]
        item._connection = None  # forget a connection bound to a previous table
    # One connection for every item class. pynamodb otherwise makes one per class on its first use, each with a
    # botocore session of its own that loads the DynamoDB service model again (tens of ms of a cold request per class
    # it touches). ModelVersionItem's describes the whole table: the keys every item has, and the RunVersions index.
    shared = ModelVersionItem._get_connection()  # noqa: SLF001 - pynamodb's own way to the connection
    for item in ALL_ITEMS:
        item._connection = shared
    _BOUND["binding"] = binding


def warm_table() -> None:
    """One consistent GetItem through the bound table's connection (of the schema item, which may be absent), so that
    botocore's DynamoDB model and endpoint rules, the credentials and an HTTPS connection exist before the first request
    (for a SnapStart snapshot: snapstart.prime_before_snapshot)."""
    with suppress(DoesNotExist):
        SchemaItem.get("META", "SCHEMA", consistent_read=True)
