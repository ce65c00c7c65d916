"""Project run events on the Stratus bus (docs/events.md), derived from the table's stream as registry events are (so
a function that dies after its write still has its change published, at least once): each write of a project run
item (``PROJRUN#<run_id>``/``#``) that submits, starts or settles its end is one event. ``source`` is
``stratus.projects``; ``event_id`` is the stream record's id, the same on a redelivery, for consumers to de-duplicate
on."""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from stratus.domain.projects import RUN_STATUS, RUNNING
from stratus.events.publisher import bus_entry
from stratus.events.schema import event_time, json_body

SOURCE = "stratus.projects"
SUBMITTED = "Project Run Submitted"
STARTED = "Project Run Started"
ENDED = "Project Run Ended"
DETAIL_TYPES = (SUBMITTED, STARTED, ENDED)

Image = dict[str, Any]


class ProjectRunEventDetail(BaseModel):
    model_config = ConfigDict(frozen=True)

    schema_version: Literal["1"] = "1"
    event_id: str
    run_id: str
    experiment_id: str
    state: str
    run_status: str
    job_id: str | None = None
    actor: str | None = None
    time: str
    exit_code: int | None = None
    end_reason: str | None = None


class ProjectRunEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    detail_type: str
    detail: ProjectRunEventDetail

    def entry(self, bus_name: str) -> dict[str, Any]:
        """The PutEvents entry."""
        return bus_entry(SOURCE, self.detail_type, self.detail, bus_name)


def _body(image: Image | None) -> dict[str, Any]:
    return json_body(image) if image and str(image.get("pk", "")).startswith("PROJRUN#") else {}


def _kind(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    state, before = new.get("state"), old.get("state")
    if new.get("settled") and not old.get("settled"):
        return ENDED
    if state == RUNNING and before != RUNNING:
        return STARTED
    if new.get("job_id") and not old.get("job_id"):
        return SUBMITTED
    return None


def _time(millis: Any) -> str:
    return event_time(int(millis) if millis else int(time.time() * 1000))


def project_events_from_change(record_id: str, old: Image | None, new: Image | None) -> list[ProjectRunEvent]:
    """The event one stream record stands for: none for other items, or for a write that neither submitted, started
    nor ended a run."""
    after = _body(new)
    kind = _kind(_body(old), after) if after else None
    if kind is None:
        return []
    state = str(after["state"])
    moment = {ENDED: after.get("ended_at"), STARTED: after.get("started_at")}.get(kind, after.get("submitted_at"))
    return [
        ProjectRunEvent(
            detail_type=kind,
            detail=ProjectRunEventDetail(
                event_id=f"{record_id}:0",
                run_id=str(after["run_id"]),
                experiment_id=str(after["experiment_id"]),
                state=state,
                run_status=RUN_STATUS[state],
                job_id=after.get("job_id"),
                actor=after.get("user") or None,
                time=_time(moment),
                exit_code=after.get("exit_code"),
                end_reason=after.get("end_reason"),
            ),
        )
    ]
