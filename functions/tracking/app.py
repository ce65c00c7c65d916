"""TrackingFunction: composition root. Builds settings, stores, services and the resolver once per container."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.utilities.typing import LambdaContext

from stratus.api.app import build_tracking_api
from stratus.config import Settings
from stratus.domain.services import (
    ArtifactService,
    ExperimentService,
    IssueService,
    LoggedModelService,
    ProjectionService,
    PromptlabService,
    RunService,
    ScorerService,
)
from stratus.observability import get_logger, get_metrics
from stratus.snapstart import prime_before_snapshot
from stratus.store.dynamodb import (
    DynamoIssueStore,
    DynamoLoggedModelStore,
    DynamoScorerStore,
    DynamoTrackingStore,
    bind_table,
    warm_table,
)
from stratus.store.s3 import S3ArtifactStore, S3RunProjectionStore


@cache
def api() -> APIGatewayHttpResolver:
    settings = Settings.from_env()
    bind_table(settings.table_name, settings.region)
    experiments = ExperimentService(
        DynamoTrackingStore(), settings.artifact_root, artifact_bucket=settings.artifact_bucket
    )
    logged_model_store = DynamoLoggedModelStore()
    logged_models = LoggedModelService(logged_model_store, experiments)
    tracking = DynamoTrackingStore()
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
    # the web UI's prompt lab writes its run's artifacts (S3 client made on first use)
    artifacts = S3ArtifactStore(settings.artifact_bucket, ttl_seconds=settings.presigned_url_ttl_seconds)
    promptlab = PromptlabService(runs, ArtifactService(artifacts, tracking, logged_model_store))
    issues = IssueService(DynamoIssueStore(), experiments)
    scorers = ScorerService(DynamoScorerStore(), experiments)
    return build_tracking_api(
        experiments,
        runs,
        logged_models,
        promptlab,
        issues,
        scorers,
        runs_belong_to_caller=settings.authorization_type != "NONE",
    )


@get_metrics().log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    get_logger().thread_safe_append_keys(route=event.get("routeKey"))
    return api().resolve(event, context)


# SnapStart=enabled: built while Lambda publishes a version, kept in its snapshot (stratus/snapstart.py)
prime_before_snapshot(api, warm_table)
