"""ArtifactsFunction: composition root of the proxied artifact API (``/api/2.0/mlflow-artifacts/...``)."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.utilities.typing import LambdaContext

from stratus.api.app import build_artifacts_api
from stratus.config import Settings
from stratus.domain.services import ArtifactService
from stratus.observability import get_logger, get_metrics
from stratus.snapstart import prime_before_snapshot
from stratus.store.dynamodb import DynamoLoggedModelStore, DynamoTrackingStore, bind_table, warm_table
from stratus.store.s3 import S3ArtifactStore


@cache
def api() -> APIGatewayHttpResolver:
    settings = Settings.from_env()
    bind_table(settings.table_name, settings.region)
    artifacts = S3ArtifactStore(settings.artifact_bucket, ttl_seconds=settings.presigned_url_ttl_seconds)
    return build_artifacts_api(ArtifactService(artifacts, DynamoTrackingStore(), DynamoLoggedModelStore()))


@get_metrics().log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    get_logger().thread_safe_append_keys(route=event.get("routeKey"))
    return api().resolve(event, context)


# SnapStart=enabled: built while Lambda publishes a version, kept in its snapshot (stratus/snapstart.py)
prime_before_snapshot(api, warm_table)
