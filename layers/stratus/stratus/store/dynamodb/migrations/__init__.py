"""Upgrades of older items to the current layout (docs/operations.md "Upgrades"), run on every deploy by the
SchemaUpgrade custom resource (``functions/upgrade``) and by ``stratus local`` at start-up.

``MIGRATIONS`` is ordered and only ever appended to: the table's schema version (``META``/``SCHEMA``, written by
``DynamoSchemaState``) is the number of its first migrations already done, so a migration's place in the tuple is its
number. Each one is idempotent and resumable (``domain.ports.Migration``); code keeps reading the older layout until a
release after the one that added the migration, since a deploy's requests may come before the upgrade ends."""

from __future__ import annotations

import time

from stratus.domain.ports import Migration
from stratus.domain.upgrades import UpgradeResult, upgrade
from stratus.store.dynamodb.migrations.model_versions_tag import ModelVersionsTagNumbers
from stratus.store.dynamodb.migrations.schema import DynamoSchemaState
from stratus.store.dynamodb.migrations.search_order import SearchOrderItems
from stratus.store.dynamodb.migrations.version_summaries import VersionSummaries

MIGRATIONS: tuple[Migration, ...] = (
    VersionSummaries(),  # 1: every model version gets its MVSUM summary, then the marker
    ModelVersionsTagNumbers(),  # 2: mlflow.modelVersions entries hold the version as a number
    SearchOrderItems(),  # 3: older runs and experiments get their search order items, then the markers
)


def upgrade_table(seconds: float | None = None) -> UpgradeResult:
    """Run the pending migrations on the bound table for at most about ``seconds`` (None: until done; a step started
    before the limit is finished)."""
    deadline = None if seconds is None else time.monotonic() + seconds
    return upgrade(DynamoSchemaState(), MIGRATIONS, deadline=deadline)


__all__ = ["MIGRATIONS", "DynamoSchemaState", "upgrade_table"]
