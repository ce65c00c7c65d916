"""What published events count for (docs/operations.md): registry stage transitions and alias changes, and project
runs and deployment rollouts by outcome.

They are counted by the table's stream consumer once the events are on the bus, so every writer (the API, the
promotion gate, S3 registration, the sweeps, the job and rollout functions) is counted in one place, from what was
written. Like the events, counts are at least once: a record Lambda retries after its events were published counts
again."""

from __future__ import annotations

from collections.abc import Iterable

from stratus.domain.projects import CANCELLED, FAILED, SUCCEEDED
from stratus.events import deployments, projects, schema
from stratus.events.deployments import DeploymentEvent
from stratus.events.projects import ProjectRunEvent
from stratus.events.schema import RegistryEvent
from stratus.observability import MetricName, count

_BY_DETAIL_TYPE = {
    schema.VERSION_STAGE: MetricName.STAGE_TRANSITIONS,
    schema.ALIAS_SET: MetricName.ALIAS_CHANGES,
    schema.ALIAS_MOVED: MetricName.ALIAS_CHANGES,
    schema.ALIAS_DELETED: MetricName.ALIAS_CHANGES,
    deployments.ROLLOUT_SUCCEEDED: MetricName.ROLLOUTS_SUCCEEDED,
    deployments.ROLLOUT_FAILED: MetricName.ROLLOUTS_FAILED,
    deployments.ROLLED_BACK_TYPE: MetricName.ROLLOUTS_ROLLED_BACK,
}
_PROJECT_RUN_OUTCOMES = {
    SUCCEEDED: MetricName.PROJECT_RUNS_SUCCEEDED,
    FAILED: MetricName.PROJECT_RUNS_FAILED,
    CANCELLED: MetricName.PROJECT_RUNS_CANCELLED,
}

Event = RegistryEvent | ProjectRunEvent | DeploymentEvent


def metric_of(event: Event) -> MetricName | None:
    """The business metric an event counts for, if any."""
    if isinstance(event, ProjectRunEvent):
        return _PROJECT_RUN_OUTCOMES.get(event.detail.state) if event.detail_type == projects.ENDED else None
    return _BY_DETAIL_TYPE.get(event.detail_type)


def count_published(events: Iterable[Event]) -> None:
    """Count the events just published."""
    for event in events:
        name = metric_of(event)
        if name is not None:
            count(name)
