"""ProjectionFunction: composition root of the projector. The table's stream wakes it with new change markers
(filtered in the event source mapping); it brings the search projection of each experiment named in the batch up to
date (docs/search-at-scale.md, section 5.4).

What it projects comes from the markers and runs in the table, not from the records, so a replayed batch costs a
little work and changes nothing, and an experiment whose projection cannot be written is reported as failed for all its
records, so Lambda retries them and then sends them to the dead-letter queue. Records are grouped by experiment
first (one projection per experiment and batch), which is why Powertools' record-by-record batch processor is not
used here."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from stratus.config import Settings
from stratus.domain.services import ProjectionService
from stratus.observability import get_logger, get_metrics
from stratus.store.dynamodb import DynamoTrackingStore, bind_table
from stratus.store.s3 import S3RunProjectionStore


@cache
def service() -> ProjectionService:
    settings = Settings.from_env()
    bind_table(settings.table_name, settings.region)
    return ProjectionService(
        DynamoTrackingStore(), S3RunProjectionStore(settings.projection_bucket), min_runs=settings.projection_min_runs
    )


@get_metrics().log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
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
