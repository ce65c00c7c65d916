"""RegistryEventsFunction: composition root of the stream consumer that publishes registry, project-run and
deployment events to EventBridge.

Records are processed one by one with Powertools' batch processor; a record whose events cannot all be published is
reported as failed, so Lambda retries from it (at least once; events carry ids for de-duplication) and, after the
retries the event source mapping allows, sends it to the dead-letter queue."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from stratus.config import Settings
from stratus.events.deployments import deployment_events_from_change
from stratus.events.metrics import count_published
from stratus.events.projects import project_events_from_change
from stratus.events.publisher import EventPublisher
from stratus.events.registry import events_from_change
from stratus.observability import get_logger, get_metrics


@cache
def publisher() -> EventPublisher:
    return EventPublisher(Settings.from_env().event_bus_name)


def record_handler(record: DynamoDBRecord) -> None:
    change = record.dynamodb
    if change is None:
        return
    old, new = change.old_image or None, change.new_image or None
    events = [
        *events_from_change(record.event_id or "", old, new),
        *project_events_from_change(record.event_id or "", old, new),
        *deployment_events_from_change(record.event_id or "", old, new),
    ]
    if events:
        publisher().publish(events)
        count_published(events)
        get_logger().info("published", count=len(events), types=[e.detail_type for e in events])


@get_metrics().log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(
        event=event,
        record_handler=record_handler,
        processor=BatchProcessor(event_type=EventType.DynamoDBStreams),
        context=context,
    )
