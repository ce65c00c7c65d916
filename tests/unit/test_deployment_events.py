"""Deployment events derived from the table's stream: a new rollout, a canary, and each way a rollout ends, once per
write (a redelivered record has the same event ids)."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from typing import Any

from stratus.domain import deployments as dep
from stratus.events import deployments as events

TARGET = dep.ModelTarget("models:/wine@champion", "s3://b/m", "wine", "2", "run2")


def _image(deployment: dep.Deployment | None) -> dict[str, Any] | None:
    if deployment is None:
        return None
    body = asdict(deployment)
    body.pop("revision")
    return {"pk": "DEPLOYS", "sk": f"D#{deployment.name}", "body": json.dumps(body)}


def _deployment(**changes: Any) -> dep.Deployment:
    base = dep.Deployment(
        "wine-api", "models:/wine@champion", dep.DeploymentConfig(), 1, 1, follows=("wine", "champion")
    )
    return replace(base, **changes)


SERVED_1 = dep.Served("wine", "1", "run1", None, "s3://b/m1", "1", "img", 5)
ROLLOUT = dep.Rollout("r-2", TARGET, dep.REASON_ALIAS_MOVED, dep.RESOLVED, 10, 10, actor="bob")


def test_a_new_rollout_is_one_started_event_and_its_steps_are_none() -> None:
    before, after = _deployment(served=SERVED_1, state=dep.READY), _deployment(served=SERVED_1, rollout=ROLLOUT)
    [started] = events.deployment_events_from_change("rec-1", _image(before), _image(after))
    assert started.detail_type == events.ROLLOUT_STARTED
    detail = started.detail
    assert (detail.deployment, detail.rollout_id, detail.model_version, detail.previous_model_version) == (
        "wine-api",
        "r-2",
        "2",
        "1",
    )
    assert (detail.reason, detail.actor, detail.event_id) == ("alias moved", "bob", "rec-1:0")
    stepped = replace(ROLLOUT, step=dep.DEPLOYED, function_version="2")
    assert events.deployment_events_from_change("rec-2", _image(after), _image(replace(after, rollout=stepped))) == []


def test_each_end_of_a_rollout_is_its_own_event() -> None:
    moving = _deployment(served=SERVED_1, rollout=ROLLOUT)
    for outcome, kind in (
        (dep.SUCCEEDED, events.ROLLOUT_SUCCEEDED),
        (dep.FAILED, events.ROLLOUT_FAILED),
        (dep.ROLLED_BACK, events.ROLLED_BACK_TYPE),
    ):
        ended = dep.ended(moving, ROLLOUT, outcome, "why", 20, SERVED_1)
        [event] = events.deployment_events_from_change("rec", _image(moving), _image(ended))
        assert event.detail_type == kind and event.detail.rollout_id == "r-2" and event.detail.message == "why"
        assert event.detail.previous_model_version == "1"


def test_a_canary_start_is_an_event_and_other_items_are_none() -> None:
    moving = _deployment(served=SERVED_1, rollout=replace(ROLLOUT, step=dep.DEPLOYED))
    canary = replace(moving, rollout=replace(ROLLOUT, step=dep.CANARY, canary_until=99))
    [event] = events.deployment_events_from_change("rec", _image(moving), _image(canary))
    assert event.detail_type == events.CANARY_STARTED
    assert events.deployment_events_from_change("rec", None, {"pk": "RM#wine", "sk": "#", "body": "{}"}) == []
    assert events.deployment_events_from_change("rec", _image(moving), None) == []
