"""Point the item classes at a table. Called once by a composition root (or a test fixture), never at import."""

from __future__ import annotations

from stratus.store.dynamodb.items import ALL_ITEMS


def bind_table(table_name: str, region: str, host: str | None = None) -> None:
    """Bind every item class to ``table_name``. ``host`` is only for tests; deployed code and ``stratus local`` leave
    the endpoint to botocore, which honours ``AWS_ENDPOINT_URL_DYNAMODB``."""
    for item in ALL_ITEMS:
        item.Meta.table_name = table_name
        item.Meta.region = region
        item.Meta.host = host  # type: ignore[attr-defined]
        item._connection = None  # forget a connection bound to a previous table
