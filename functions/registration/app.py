"""RegistrationFunction: composition root of S3-driven registration (docs/s3-registration.md). An SQS queue
receives the artifact bucket's notifications for ``register/``; each failed record is retried by the queue and
moved to its dead-letter queue after a few receives."""

from __future__ import annotations

import json
import urllib.parse
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from stratus.config import Settings
from stratus.domain.services import ExperimentService, LoggedModelService, RegistryService
from stratus.domain.services.uploads import S3Registration
from stratus.observability import get_logger, get_metrics
from stratus.store.dynamodb import (
    DynamoLoggedModelStore,
    DynamoRegistryStore,
    DynamoTrackingStore,
    DynamoUploadClaims,
    bind_table,
)
from stratus.store.s3 import S3ArtifactStore


@cache
def registration() -> S3Registration:
    settings = Settings.from_env()
    bind_table(settings.table_name, settings.region)
    tracking = DynamoTrackingStore()
    experiments = ExperimentService(tracking, settings.artifact_root, artifact_bucket=settings.artifact_bucket)
    registry = RegistryService(
        DynamoRegistryStore(),
        LoggedModelService(DynamoLoggedModelStore(), experiments),
        tracking,
        settings.artifact_bucket,
    )
    objects = S3ArtifactStore(settings.artifact_bucket)
    return S3Registration(registry, tracking, objects, DynamoUploadClaims(), settings.artifact_bucket)


def record_handler(record: SQSRecord) -> None:
    notification = json.loads(record.body)
    for entry in notification.get("Records", []):  # an s3:TestEvent has none
        key = urllib.parse.unquote_plus(entry["s3"]["object"]["key"])
        outcome = registration().handle(key)
        get_logger().info("s3 registration", key=key, outcome=outcome)


@get_metrics().log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(
        event=event,
        record_handler=record_handler,
        processor=BatchProcessor(event_type=EventType.SQS),
        context=context,
    )
