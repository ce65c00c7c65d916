"""The project service as both project functions build it: the API (``app.py``) and the job events (``jobs.py``)."""

from __future__ import annotations

from stratus.config import Settings
from stratus.domain.services import ArtifactService, ExperimentService, RunService
from stratus.domain.services.projects import ProjectService, ProjectSettings
from stratus.store.batch import BatchJobScheduler
from stratus.store.dynamodb import DynamoLoggedModelStore, DynamoProjectRunStore, DynamoTrackingStore, bind_table
from stratus.store.logs import CloudWatchJobLogs
from stratus.store.s3 import S3ArtifactStore, S3ProjectPackages


def project_service(settings: Settings) -> ProjectService:
    bind_table(settings.table_name, settings.region)
    tracking = DynamoTrackingStore()
    experiments = ExperimentService(tracking, settings.artifact_root, artifact_bucket=settings.artifact_bucket)
    artifacts = ArtifactService(
        S3ArtifactStore(settings.artifact_bucket, ttl_seconds=settings.presigned_url_ttl_seconds),
        tracking,
        DynamoLoggedModelStore(),
    )
    return ProjectService(
        DynamoProjectRunStore(),
        experiments,
        RunService(tracking, experiments),
        S3ProjectPackages(settings.project_bucket or settings.artifact_bucket),
        BatchJobScheduler(settings.project_job_queue, settings.project_job_definition),
        ProjectSettings(
            job_queue=settings.project_job_queue,
            job_definition=settings.project_job_definition,
            tracking_uri=settings.tracking_uri,
            defaults=ProjectSettings.parse_defaults(settings.project_defaults),
            sigv4=settings.authorization_type == "AWS_IAM",
            default_env_manager=settings.project_env_manager,
        ),
        logs=CloudWatchJobLogs(),
        artifacts=artifacts,
    )
