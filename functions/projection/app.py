"""ProjectionFunction: composition root of the projector. The table's stream wakes it with new change markers
(filtered in the event source mapping); it brings the search projection of each experiment named in the batch up to
date (docs/search-at-scale.md, section 5.4). Its settle queue wakes it with the settling refreshes its projections
asked for (``ProjectionService.settle``), one message each, through Powertools' batch processor.

What it projects comes from the markers and runs in the table, not from the records, so a replayed batch costs a
little work and changes nothing, and an experiment whose projection cannot be written is reported as failed for all its
records, so Lambda retries them and then sends them to the dead-letter queue. Records are grouped by experiment
first (one projection per experiment and batch), which is why Powertools' record-by-record batch processor is not
used here."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from stratus.config import Settings
from stratus.domain.services import ProjectionService
from stratus.observability import get_logger, get_metrics
from stratus.store.dynamodb import DynamoTrackingStore, bind_table
from stratus.store.queues import RefreshRequest, SqsRefreshQueue
from stratus.store.s3 import S3RunProjectionStore


@cache
def service() -> ProjectionService:
    settings = Settings.from_env()
    bind_table(settings.table_name, settings.region)
    return ProjectionService(
        DynamoTrackingStore(),
        S3RunProjectionStore(settings.projection_bucket),
        min_runs=settings.projection_min_runs,
        later=SqsRefreshQueue(settings.projection_settle_queue) if settings.projection_settle_queue else None,
    )


def settle(record: SQSRecord) -> None:
    request = RefreshRequest.model_validate_json(record.body)
    if service().settle(request.experiment_id, request.due_ms):
        get_logger().info("projection settled", experiment_id=request.experiment_id)


@get_metrics().log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records") or [{}]
    if records[0].get("eventSource") == "aws:sqs":
        return process_partial_response(
            event=event, record_handler=settle, processor=BatchProcessor(event_type=EventType.SQS), context=context
        )
    by_experiment: dict[str, list[str]] = {}
    for record in event.get("Records", ()):
        partition = record.get("dynamodb", {}).get("Keys", {}).get("pk", {}).get("S", "")
        if partition.startswith("EXP#"):
            by_experiment.setdefault(partition[4:], []).append(record["dynamodb"].get("SequenceNumber", ""))
    failures: list[dict[str, str]] = []
    for experiment_id, sequence_numbers in by_experiment.items():
        try:
            written = service().refresh(experiment_id)
        except Exception:  # one experiment's failure must not stop the others; its records are retried
            get_logger().exception("projection failed", experiment_id=experiment_id)
            failures.extend({"itemIdentifier": s} for s in sequence_numbers)
            continue
        if written:
            get_logger().info("projected", experiment_id=experiment_id, records=len(sequence_numbers))
    return {"batchItemFailures": failures}
