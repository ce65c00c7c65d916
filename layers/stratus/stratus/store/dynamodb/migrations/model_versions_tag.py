"""Migration 2: the ``mlflow.modelVersions`` tag of logged models written before 2026-12 holds some versions as
strings (``{"name": "m", "version": "1"}``); MLflow writes numbers, and the stock client's ``LoggedModel`` page shows
what is stored. Logged models live in their experiments' partitions with no index over all of them, so this one reads
the table with a Scan, one page per step (the cursor is the page's LastEvaluatedKey)."""

from __future__ import annotations

import json
from typing import Any

from stratus.domain.entities import LoggedModel
from stratus.domain.services.registry import MODEL_VERSIONS_TAG
from stratus.store.dynamodb.errors import translated
from stratus.store.dynamodb.items import LoggedModelItem
from stratus.store.dynamodb.logged_models import DynamoLoggedModelStore

ITEMS_PER_STEP = 500  # items read per Scan page (at most 1 MB either way)


class ModelVersionsTagNumbers:
    name = "model-versions-tag-numbers"

    def step(self, cursor: str | None) -> str | None:
        connection = LoggedModelItem._get_connection()  # noqa: SLF001 - pynamodb's own way to the connection
        logged_models = LoggedModelItem.pk.startswith("EXP#") & LoggedModelItem.sk.startswith("M#")
        with translated():
            page = connection.scan(
                filter_condition=logged_models,
                limit=ITEMS_PER_STEP,
                exclusive_start_key=json.loads(cursor) if cursor else None,
                consistent_read=True,
            )
        store = DynamoLoggedModelStore()
        for raw in page.get("Items", ()):
            item = LoggedModelItem.from_raw_data(raw)
            if normalized(item.tags.as_dict().get(MODEL_VERSIONS_TAG)) is not None:
                store.modify_logged_model(item.model_id, _normalize)  # conditioned on the item's version, re-read
        following = page.get("LastEvaluatedKey")
        return json.dumps(following, sort_keys=True) if following else None


def normalized(value: str | None) -> str | None:
    """The tag's value with every numeric string version as a number; None when nothing is to change."""
    if value is None:
        return None
    try:
        entries = json.loads(value)
    except ValueError:
        return None  # not ours to repair
    if not isinstance(entries, list):
        return None
    changed = [_entry(entry) for entry in entries]
    return json.dumps(changed) if changed != entries else None


def _entry(entry: Any) -> Any:
    if isinstance(entry, dict) and isinstance(entry.get("version"), str) and entry["version"].isdigit():
        return {**entry, "version": int(entry["version"])}
    return entry


def _normalize(model: LoggedModel) -> None:
    value = normalized(model.tags.get(MODEL_VERSIONS_TAG))
    if value is not None:
        model.tags[MODEL_VERSIONS_TAG] = value
