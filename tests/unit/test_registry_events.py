"""Registry events derived from stream images (as Powertools deserializes them: numbers are Decimals)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from stratus.events import schema
from stratus.events.registry import events_from_change

DOCS = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def model(**fields: Any) -> dict[str, Any]:
    base = {"pk": "REGMODELS", "sk": "M#abc", "name": "churn", "tags": {}, "aliases": {},
            "last_updated_timestamp": Decimal(1795000000000), "updated_by": "arn:aws:iam::1:role/x"}  # fmt: skip
    return base | fields


def version(**fields: Any) -> dict[str, Any]:
    base = {"pk": "RM#abc", "sk": "V#0000000002", "model_name": "churn", "number": Decimal(2), "run_id": "r1",
            "current_stage": "None", "source": "models:/m-1", "status": "READY", "tags": {},
            "last_updated_timestamp": Decimal(1795000000000), "updated_by": "me"}  # fmt: skip
    return base | fields


def kinds(old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[tuple[str, Any, Any]]:
    return [(e.detail_type, e.detail.before, e.detail.after) for e in events_from_change("rec", old, new)]


def test_model_lifecycle() -> None:
    assert [k for k, _, _ in kinds(None, model())] == [schema.MODEL_CREATED]
    assert kinds(model(), model(name="churn-v2")) == [(schema.MODEL_RENAMED, {"name": "churn"}, {"name": "churn-v2"})]
    assert [k for k, _, _ in kinds(model(), None)] == [schema.MODEL_DELETED]


def test_alias_set_moved_deleted() -> None:
    assert kinds(model(), model(aliases={"champion": Decimal(1)})) == [
        (schema.ALIAS_SET, None, {"alias": "champion", "version": "1"})
    ]
    assert kinds(model(aliases={"champion": Decimal(1)}), model(aliases={"champion": Decimal(2)})) == [
        (schema.ALIAS_MOVED, {"alias": "champion", "version": "1"}, {"alias": "champion", "version": "2"})
    ]
    assert kinds(model(aliases={"champion": Decimal(2)}), model()) == [
        (schema.ALIAS_DELETED, {"alias": "champion", "version": "2"}, None)
    ]


def test_tags_of_models_and_versions() -> None:
    assert kinds(model(), model(tags={"team": "risk"})) == [
        (schema.MODEL_TAG_SET, None, {"key": "team", "value": "risk"})
    ]
    assert kinds(model(tags={"team": "risk"}), model()) == [
        (schema.MODEL_TAG_DELETED, {"key": "team", "value": "risk"}, None)
    ]
    assert kinds(version(), version(tags={"ok": "1"})) == [(schema.VERSION_TAG_SET, None, {"key": "ok", "value": "1"})]
    assert kinds(version(tags={"ok": "1"}), version()) == [
        (schema.VERSION_TAG_DELETED, {"key": "ok", "value": "1"}, None)
    ]


def test_version_lifecycle_and_stage() -> None:
    created = events_from_change("rec", None, version())
    assert [e.detail_type for e in created] == [schema.VERSION_CREATED]
    detail = created[0].detail
    assert (detail.model_name, detail.version, detail.run_id, detail.actor) == ("churn", "2", "r1", "me")
    assert detail.time == "2026-11-18T11:06:40.000Z"
    assert kinds(version(), version(current_stage="Production")) == [
        (schema.VERSION_STAGE, {"stage": "None"}, {"stage": "Production"})
    ]
    assert [k for k, _, _ in kinds(version(), None)] == [schema.VERSION_DELETED]


def test_nothing_for_other_items_or_unchanged_writes() -> None:
    assert kinds(None, {"pk": "EXP#1", "sk": "R#x#I"}) == []
    assert kinds(version(), version(last_updated_timestamp=Decimal(1))) == []
    assert kinds(model(), model(description="d")) == []


def test_event_ids_are_stable_and_distinct_within_a_record() -> None:
    old, new = model(), model(name="b", aliases={"a": Decimal(1)}, tags={"t": "v"})
    first = [e.detail.event_id for e in events_from_change("rec-7", old, new)]
    assert first == [e.detail.event_id for e in events_from_change("rec-7", old, new)]
    assert first == ["rec-7:0", "rec-7:1", "rec-7:2"]


@pytest.mark.parametrize("detail_type", schema.DETAIL_TYPES)
def test_docs_describe_every_event(detail_type: str) -> None:
    assert f"`{detail_type}`" in DOCS.read_text()
