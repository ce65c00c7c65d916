"""The registry events Stratus puts on its EventBridge bus: a versioned schema (docs/events.md renders it).

Every event has ``source`` = ``stratus.registry``, a ``detail-type`` from :data:`DETAIL_TYPES`, and a
:class:`RegistryEventDetail`. ``event_id`` is stable across redeliveries (the stream record's id and the change's
index in it): consumers de-duplicate on it, since delivery is at least once.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from stratus.events.publisher import bus_entry


def event_time(millis: int) -> str:
    """An event's ``time``: epoch milliseconds as ISO 8601 in UTC, to the millisecond (``2026-12-07T10:00:00.000Z``)."""
    return datetime.fromtimestamp(millis / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def json_body(image: dict[str, Any] | None) -> dict[str, Any]:
    """The ``body`` attribute (one JSON object) of an item's stream image; empty when there is none or it is not an
    object. Project runs and deployments keep their records this way."""
    try:
        body = json.loads(str((image or {}).get("body") or "{}"))
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


SOURCE = "stratus.registry"
SCHEMA_VERSION = "1"

MODEL_CREATED = "Registered Model Created"
MODEL_RENAMED = "Registered Model Renamed"
MODEL_DELETED = "Registered Model Deleted"
VERSION_CREATED = "Model Version Created"
VERSION_DELETED = "Model Version Deleted"
VERSION_STAGE = "Model Version Stage Transitioned"
ALIAS_SET = "Model Alias Set"
ALIAS_MOVED = "Model Alias Moved"
ALIAS_DELETED = "Model Alias Deleted"
MODEL_TAG_SET = "Registered Model Tag Set"
MODEL_TAG_DELETED = "Registered Model Tag Deleted"
VERSION_TAG_SET = "Model Version Tag Set"
VERSION_TAG_DELETED = "Model Version Tag Deleted"

DETAIL_TYPES = (
    MODEL_CREATED,
    MODEL_RENAMED,
    MODEL_DELETED,
    VERSION_CREATED,
    VERSION_DELETED,
    VERSION_STAGE,
    ALIAS_SET,
    ALIAS_MOVED,
    ALIAS_DELETED,
    MODEL_TAG_SET,
    MODEL_TAG_DELETED,
    VERSION_TAG_SET,
    VERSION_TAG_DELETED,
)


class RegistryEventDetail(BaseModel):
    """The ``detail`` of every registry event. ``before``/``after`` hold what changed: ``{"name"}`` for a rename,
    ``{"stage"}`` for a transition, ``{"alias", "version"}`` for an alias, ``{"key", "value"}`` for a tag, and the
    whole model or version for a creation (``after``) or deletion (``before``)."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal["1"] = SCHEMA_VERSION
    event_id: str
    model_name: str
    version: str | None = None
    run_id: str | None = None
    actor: str | None = None
    time: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


class RegistryEvent(BaseModel):
    """One EventBridge entry: its ``detail-type`` and detail."""

    model_config = ConfigDict(frozen=True)

    detail_type: str
    detail: RegistryEventDetail

    def entry(self, bus_name: str) -> dict[str, Any]:
        """The PutEvents entry."""
        return bus_entry(SOURCE, self.detail_type, self.detail, bus_name)
