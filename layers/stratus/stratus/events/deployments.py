"""Deployment events on the Stratus bus (docs/events.md), derived from the table's stream as registry events are:
each write of a deployment item (``DEPLOYS``/``D#<name>``) that starts a rollout, starts a canary or ends a rollout
is one event. ``source`` is ``stratus.deployments``; ``event_id`` is the stream record's id. The rollout's own
function (DeploymentEventsFunction) runs on "Deployment Rollout Started", so a rollout recorded by the API or by an
alias move is carried out even when the writer dies right after its write."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from stratus.domain.deployments import CANARY, FAILED, ROLLED_BACK, SUCCEEDED
from stratus.events.publisher import bus_entry
from stratus.events.schema import event_time, json_body

SOURCE = "stratus.deployments"
ROLLOUT_STARTED = "Deployment Rollout Started"
CANARY_STARTED = "Deployment Canary Started"
ROLLOUT_SUCCEEDED = "Deployment Rollout Succeeded"
ROLLOUT_FAILED = "Deployment Rollout Failed"
ROLLED_BACK_TYPE = "Deployment Rolled Back"
DETAIL_TYPES = (ROLLOUT_STARTED, CANARY_STARTED, ROLLOUT_SUCCEEDED, ROLLOUT_FAILED, ROLLED_BACK_TYPE)
_ENDED = {SUCCEEDED: ROLLOUT_SUCCEEDED, FAILED: ROLLOUT_FAILED, ROLLED_BACK: ROLLED_BACK_TYPE}

Image = dict[str, Any]


class DeploymentEventDetail(BaseModel):
    model_config = ConfigDict(frozen=True)

    schema_version: Literal["1"] = "1"
    event_id: str
    deployment: str
    rollout_id: str
    reason: str
    state: str
    model_name: str | None = None
    model_version: str | None = None
    run_id: str | None = None
    previous_model_version: str | None = None
    function_version: str | None = None
    message: str = ""
    actor: str | None = None
    time: str


class DeploymentEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    detail_type: str
    detail: DeploymentEventDetail

    def entry(self, bus_name: str) -> dict[str, Any]:
        """The PutEvents entry."""
        return bus_entry(SOURCE, self.detail_type, self.detail, bus_name)


def _body(image: Image | None) -> dict[str, Any]:
    return json_body(image) if image and image.get("pk") == "DEPLOYS" else {}


def _started(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any] | None:
    rollout, before = new.get("rollout") or {}, old.get("rollout") or {}
    return rollout if rollout and rollout.get("id") != before.get("id") else None


def deployment_events_from_change(record_id: str, old: Image | None, new: Image | None) -> list[DeploymentEvent]:
    """The events one stream record stands for (at most one start and one end: a rollout may replace one that
    ended in the same write)."""
    before, after = _body(old), _body(new)
    if not after:
        return []
    events: list[DeploymentEvent] = []
    end, end_before = after.get("last_rollout") or {}, before.get("last_rollout") or {}
    if end and end.get("id") != end_before.get("id"):
        events.append(_event(record_id, len(events), _ENDED[end["outcome"]], after, before, end))
    rollout = after.get("rollout") or {}
    if rollout and rollout.get("step") == CANARY and (before.get("rollout") or {}).get("step") != CANARY:
        events.append(_event(record_id, len(events), CANARY_STARTED, after, before, rollout))
    started = _started(before, after)
    if started:
        events.append(_event(record_id, len(events), ROLLOUT_STARTED, after, before, started))
    return events


def _event(  # noqa: PLR0913 - the parts of one event
    record_id: str, index: int, kind: str, after: dict[str, Any], before: dict[str, Any], rollout: dict[str, Any]
) -> DeploymentEvent:
    target = rollout.get("target") or {}
    previous = (before.get("served") or {}) if kind != ROLLOUT_STARTED else (after.get("served") or {})
    if kind == ROLLOUT_STARTED:
        at = rollout.get("started_at")
    elif "ended_at" in rollout:
        at = rollout["ended_at"]
    else:
        at = rollout.get("updated_at")
    return DeploymentEvent(
        detail_type=kind,
        detail=DeploymentEventDetail(
            event_id=f"{record_id}:{index}",
            deployment=str(after["name"]),
            rollout_id=str(rollout["id"]),
            reason=str(rollout.get("reason") or ""),
            state=str(after.get("state") or ""),
            model_name=target.get("model_name") or (after.get("served") or {}).get("model_name"),
            model_version=target.get("model_version") or rollout.get("model_version"),
            run_id=target.get("run_id") or rollout.get("run_id"),
            previous_model_version=previous.get("model_version"),
            function_version=rollout.get("function_version") or (after.get("served") or {}).get("function_version"),
            message=str(after.get("message") or ""),
            actor=rollout.get("actor"),
            time=event_time(int(at or after.get("updated_at") or 0)),
        ),
    )
