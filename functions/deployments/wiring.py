"""The deployment service as both deployment functions build it: the API (``app.py``) and the rollouts
(``rollouts.py``)."""

from __future__ import annotations

import json

from stratus.config import Settings
from stratus.domain.deployments import DeploymentConfig, parse_config
from stratus.domain.services import ExperimentService, LoggedModelService, RegistryService, RunService
from stratus.domain.services.deployments import DeploymentService, DeploymentSettings, Models
from stratus.store.codebuild import CodeBuildImages
from stratus.store.dynamodb import (
    DynamoDeploymentStore,
    DynamoLoggedModelStore,
    DynamoRegistryStore,
    DynamoTrackingStore,
    bind_table,
)
from stratus.store.lambda_serving import LambdaServing
from stratus.store.s3 import S3ArtifactStore


def deployment_service(settings: Settings) -> DeploymentService:
    bind_table(settings.table_name, settings.region)
    tracking = DynamoTrackingStore()
    experiments = ExperimentService(tracking, settings.artifact_root, artifact_bucket=settings.artifact_bucket)
    logged_models = LoggedModelService(DynamoLoggedModelStore(), experiments)
    models = Models(
        RegistryService(DynamoRegistryStore(), logged_models, tracking, settings.artifact_bucket),
        logged_models,
        RunService(tracking, experiments),
    )
    builder = None
    if settings.serving_repository:
        builder = CodeBuildImages(
            settings.serving_build_project,
            settings.serving_repository,
            settings.serving_build_bucket or settings.artifact_bucket,
            settings.serving_image,
        )
    defaults = parse_config(json.loads(settings.deployment_defaults or "{}"), DeploymentConfig())
    return DeploymentService(
        DynamoDeploymentStore(),
        models,
        S3ArtifactStore(settings.artifact_bucket, ttl_seconds=settings.presigned_url_ttl_seconds),
        LambdaServing(settings.serving_role_arn, settings.serving_architecture),
        builder,
        DeploymentSettings(
            function_prefix=settings.deployment_function_prefix,
            base_image=settings.serving_image,
            artifact_bucket=settings.artifact_bucket,
            defaults=defaults,
        ),
    )
