"""UiFunction: composition root of what MLflow's web UI calls beyond the REST API (GraphQL, artifact viewer, dataset
filter, switched-off features). The GenAI pages' trace routes are the TracesFunction's (functions/traces/app.py)."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.utilities.typing import LambdaContext

from stratus.api.graphql import GraphqlServices
from stratus.api.ui_app import build_ui_api
from stratus.config import Settings
from stratus.domain.services import (
    ExperimentService,
    LoggedModelService,
    ProjectionService,
    RegistryService,
    RunService,
)
from stratus.domain.services.artifact_files import ArtifactFileService
from stratus.observability import get_logger, get_metrics
from stratus.snapstart import prime_before_snapshot
from stratus.store.dynamodb import (
    DynamoLoggedModelStore,
    DynamoRegistryStore,
    DynamoTrackingStore,
    bind_table,
    warm_table,
)
from stratus.store.s3 import S3ArtifactStore, S3RunProjectionStore


@cache
def api() -> APIGatewayHttpResolver:
    settings = Settings.from_env()
    bind_table(settings.table_name, settings.region)
    tracking = DynamoTrackingStore()
    experiments = ExperimentService(tracking, settings.artifact_root, artifact_bucket=settings.artifact_bucket)
    logged_models = LoggedModelService(DynamoLoggedModelStore(), experiments)
    # searches answered from experiments' projections where they have one (none without a projection bucket)
    projections = (
        ProjectionService(
            tracking,
            S3RunProjectionStore(settings.projection_bucket),
            page_share=settings.projection_page_share,
        )
        if settings.projection_bucket
        else None
    )
    runs = RunService(tracking, experiments, model_metrics=logged_models.log_metrics, projections=projections)
    registry = RegistryService(DynamoRegistryStore(), logged_models, tracking, settings.artifact_bucket)
    artifacts = S3ArtifactStore(settings.artifact_bucket, ttl_seconds=settings.presigned_url_ttl_seconds)
    artifact_files = ArtifactFileService(artifacts, runs, registry, logged_models)
    return build_ui_api(GraphqlServices(experiments, runs, registry, artifact_files), artifact_files)


@get_metrics().log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    get_logger().thread_safe_append_keys(route=event.get("routeKey"))
    return api().resolve(event, context)


# SnapStart=enabled: built while Lambda publishes a version, kept in its snapshot (stratus/snapstart.py)
prime_before_snapshot(api, warm_table)
