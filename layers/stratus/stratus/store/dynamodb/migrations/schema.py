"""The table's schema state: one item, ``META``/``SCHEMA`` (``items.SchemaItem``), moved by conditional writes."""

from __future__ import annotations

import time

from pynamodb.exceptions import DoesNotExist

from stratus.domain.ports import SchemaState
from stratus.store.dynamodb.errors import translated, written
from stratus.store.dynamodb.items import SchemaItem

SCHEMA_KEY = ("META", "SCHEMA")


class DynamoSchemaState:
    """``SchemaStateStore`` on the single Stratus table."""

    def read(self) -> SchemaState:
        with translated():
            try:
                item = SchemaItem.get(*SCHEMA_KEY, consistent_read=True)
            except DoesNotExist:
                return SchemaState(0, None, 0)
        return SchemaState(int(item.schema_version), item.cursor, int(item.revision))

    def advance(self, seen: SchemaState, after: SchemaState) -> bool:
        item = SchemaItem(
            *SCHEMA_KEY,
            schema_version=after.version,
            cursor=after.cursor,
            revision=seen.revision + 1,
            updated_at=int(time.time() * 1000),
        )
        first = SchemaItem.pk.does_not_exist()  # a table never upgraded has no schema item
        condition = first if seen.revision == 0 else SchemaItem.revision == seen.revision
        return written(lambda: item.save(condition=condition))
