"""Registry events derived from the table's stream: the images before and after each write of a registered-model
item (``REGMODELS``/``M#...``) or a model-version item (``RM#...``/``V#...``). Deriving them from the stream, not
from the request, is what makes them durable: a function that dies after its write still has its change published,
by the stream consumer, at least once."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from stratus.events import schema

Image = dict[str, Any]


def _time(image: Image, field: str) -> str:
    return schema.event_time(int(image.get(field) or 0))


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_plain(v) for v in value]
    return value


def events_from_change(record_id: str, old: Image | None, new: Image | None) -> list[schema.RegistryEvent]:
    """The events one stream record stands for (none for items that are not registry models or versions)."""
    key = new or old or {}
    pk, sk = str(key.get("pk", "")), str(key.get("sk", ""))
    if pk == "REGMODELS" and sk.startswith("M#"):
        changes = _model_changes(old, new)
    elif pk.startswith("RM#") and sk.startswith("V#"):
        changes = _version_changes(old, new)
    else:
        return []
    return [
        schema.RegistryEvent(detail_type=kind, detail=detail.model_copy(update={"event_id": f"{record_id}:{n}"}))
        for n, (kind, detail) in enumerate(changes)
    ]


def _detail(image: Image, *, time_field: str, **fields: Any) -> schema.RegistryEventDetail:
    return schema.RegistryEventDetail(
        event_id="", time=_time(image, time_field), actor=image.get("updated_by"), **fields
    )


def _model_summary(image: Image) -> dict[str, Any]:
    return _plain(
        {
            "name": image.get("name"),
            "description": image.get("description"),
            "tags": image.get("tags") or {},
            "aliases": image.get("aliases") or {},
        }
    )


def _model_changes(old: Image | None, new: Image | None) -> list[tuple[str, schema.RegistryEventDetail]]:
    if new is None:
        assert old is not None
        return [(schema.MODEL_DELETED, _detail(old, time_field="last_updated_timestamp", model_name=old["name"],
                                               before=_model_summary(old)))]  # fmt: skip
    name = str(new["name"])
    at = {"time_field": "last_updated_timestamp", "model_name": name}
    if old is None:
        return [(schema.MODEL_CREATED, _detail(new, **at, after=_model_summary(new)))]
    changes = []
    if old.get("name") != name:
        changes.append(
            (schema.MODEL_RENAMED, _detail(new, **at, before={"name": old.get("name")}, after={"name": name}))
        )
    changes.extend(_alias_changes(old, new, at))
    changes.extend(_tag_changes(old, new, at, schema.MODEL_TAG_SET, schema.MODEL_TAG_DELETED))
    return changes


def _alias_changes(old: Image, new: Image, at: dict[str, Any]) -> list[tuple[str, schema.RegistryEventDetail]]:
    before, after = _plain(old.get("aliases") or {}), _plain(new.get("aliases") or {})
    changes = []
    for alias in sorted(set(before) | set(after)):
        was, now = before.get(alias), after.get(alias)
        if was == now:
            continue
        kind = schema.ALIAS_SET if was is None else schema.ALIAS_DELETED if now is None else schema.ALIAS_MOVED
        version = str(now if now is not None else was)
        changes.append(
            (
                kind,
                _detail(
                    new,
                    **at,
                    version=version,
                    before=None if was is None else {"alias": alias, "version": str(was)},
                    after=None if now is None else {"alias": alias, "version": str(now)},
                ),
            )
        )
    return changes


def _tag_changes(
    old: Image, new: Image, at: dict[str, Any], set_kind: str, deleted_kind: str, **extra: Any
) -> list[tuple[str, schema.RegistryEventDetail]]:
    before, after = old.get("tags") or {}, new.get("tags") or {}
    changes = []
    for key in sorted(set(before) | set(after)):
        was, now = before.get(key), after.get(key)
        if was == now:
            continue
        detail = _detail(
            new,
            **at,
            **extra,
            before=None if was is None else {"key": key, "value": was},
            after=None if now is None else {"key": key, "value": now},
        )
        changes.append((deleted_kind if now is None else set_kind, detail))
    return changes


def _version_summary(image: Image) -> dict[str, Any]:
    return _plain(
        {
            "version": str(image.get("number")),
            "source": image.get("source"),
            "description": image.get("description"),
            "stage": image.get("current_stage"),
            "status": image.get("status"),
            "model_id": image.get("model_id"),
            "tags": image.get("tags") or {},
        }
    )


def _version_changes(old: Image | None, new: Image | None) -> list[tuple[str, schema.RegistryEventDetail]]:
    image = new or old
    assert image is not None
    at = {
        "time_field": "last_updated_timestamp",
        "model_name": str(image.get("model_name") or ""),
        "version": str(_plain(image.get("number"))),
        "run_id": image.get("run_id") or None,
    }
    if new is None:
        return [(schema.VERSION_DELETED, _detail(image, **at, before=_version_summary(image)))]
    if old is None:
        return [(schema.VERSION_CREATED, _detail(new, **at, after=_version_summary(new)))]
    changes = []
    if old.get("current_stage") != new.get("current_stage"):
        stage_change = _detail(
            new, **at, before={"stage": old.get("current_stage")}, after={"stage": new.get("current_stage")}
        )
        changes.append((schema.VERSION_STAGE, stage_change))
    changes.extend(_tag_changes(old, new, {k: v for k, v in at.items() if k != "version" and k != "run_id"},
                                schema.VERSION_TAG_SET, schema.VERSION_TAG_DELETED,
                                version=at["version"], run_id=at["run_id"]))  # fmt: skip
    return changes
