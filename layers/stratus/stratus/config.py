"""Settings, read from the environment once, in a composition root. Env var names live here, in template.yaml and in
events/env.json, nowhere else."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ENV_NAMES = {
    "table_name": "STRATUS_TABLE_NAME",
    "artifact_bucket": "STRATUS_ARTIFACT_BUCKET",
    "projection_bucket": "STRATUS_PROJECTION_BUCKET",
    "projection_min_runs": "STRATUS_PROJECTION_MIN_RUNS",
    "projection_page_share": "STRATUS_PROJECTION_PAGE_SHARE",
    "projection_settle_queue": "STRATUS_PROJECTION_SETTLE_QUEUE_URL",
    "default_artifact_root": "STRATUS_DEFAULT_ARTIFACT_ROOT",
    "artifact_access": "STRATUS_ARTIFACT_ACCESS",
    "presigned_url_ttl_seconds": "STRATUS_PRESIGNED_URL_TTL_SECONDS",
    "event_bus_name": "STRATUS_EVENT_BUS_NAME",
    "webhook_key_id": "STRATUS_WEBHOOK_KEY_ID",
    "webhook_allowed_schemes": "MLFLOW_WEBHOOK_ALLOWED_SCHEMES",
    "webhook_allow_private_ips": "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS",
    "region": "AWS_REGION",
    "authorization_type": "STRATUS_AUTHORIZATION_TYPE",
    "project_bucket": "STRATUS_PROJECT_BUCKET",
    "project_job_queue": "STRATUS_PROJECT_JOB_QUEUE",
    "project_job_definition": "STRATUS_PROJECT_JOB_DEFINITION",
    "project_defaults": "STRATUS_PROJECT_DEFAULTS",
    "project_env_manager": "STRATUS_PROJECT_DEFAULT_ENV_MANAGER",
    "tracking_uri": "STRATUS_TRACKING_URI",
    "deployment_function_prefix": "STRATUS_DEPLOYMENT_FUNCTION_PREFIX",
    "deployment_defaults": "STRATUS_DEPLOYMENT_DEFAULTS",
    "serving_role_arn": "STRATUS_SERVING_ROLE_ARN",
    "serving_image": "STRATUS_SERVING_IMAGE",
    "serving_repository": "STRATUS_SERVING_REPOSITORY",
    "serving_build_project": "STRATUS_SERVING_BUILD_PROJECT",
    "serving_build_bucket": "STRATUS_SERVING_BUILD_BUCKET",
    "serving_architecture": "STRATUS_SERVING_ARCHITECTURE",
    "trace_retention_days": "STRATUS_TRACE_RETENTION_DAYS",
}


class Settings(BaseModel):
    """What every function needs to know about its deployment."""

    model_config = ConfigDict(frozen=True)

    table_name: str = "stratus"  # template.yaml: StratusTable
    artifact_bucket: str = "stratus-artifacts"  # template.yaml: ArtifactBucket
    # Search projections (docs/search-at-scale.md); empty: searches read experiments whole. template.yaml:
    # SearchProjectionBucket. Experiments of fewer runs than projection_min_runs are not projected.
    projection_bucket: str = ""
    projection_min_runs: int = Field(default=2000, ge=1)
    # A search reads the projection only for pages of at most 1/projection_page_share of the experiment's runs.
    projection_page_share: int = Field(default=50, ge=1)
    # The projector's settling refreshes (template.yaml: ProjectionSettleQueue); empty: none are asked for.
    projection_settle_queue: str = ""
    default_artifact_root: str = ""  # empty: derived from artifact_access
    # proxied: new experiments get mlflow-artifacts:/<id> (bytes through the API, presigned S3 URLs);
    # direct: s3://<artifact_bucket>/mlartifacts/<id> (clients use their own AWS credentials).
    artifact_access: Literal["proxied", "direct"] = "direct"
    presigned_url_ttl_seconds: int = Field(default=900, ge=60, le=43200)
    event_bus_name: str = "stratus-registry"  # template.yaml: RegistryEventBus
    webhook_key_id: str = "alias/stratus-webhook-secrets"  # template.yaml: WebhookSecretsKeyAlias
    # MLflow's own settings for webhook destinations, with MLflow's defaults (https only, no private addresses)
    webhook_allowed_schemes: str = "https"
    webhook_allow_private_ips: bool = False
    region: str = "us-east-1"
    # template.yaml's AuthorizationType. With an authorizer in front, a run's user is the caller it authenticated;
    # with NONE, the client's claim (as in MLflow).
    authorization_type: Literal["AWS_IAM", "JWT", "NONE"] = "NONE"
    # Project runs (docs/projects.md): packages under projects/packages/ of this bucket (empty: the artifact bucket);
    # jobs on this Batch queue and definition (empty: project runs are off); jobs call Stratus back at tracking_uri;
    # project_defaults is JSON of the default vcpu, memory, timeout and max_wait (template.yaml's Project* parameters).
    project_bucket: str = ""
    project_job_queue: str = ""
    project_job_definition: str = ""
    project_defaults: str = ""
    project_env_manager: Literal["local", "uv", "virtualenv", "conda"] = "local"
    tracking_uri: str = ""
    # Model deployments (docs/deployments.md): each is a function named deployment_function_prefix + its name, run
    # with serving_role_arn from serving_image, or from an image CodeBuild (serving_build_project) builds per set of
    # model requirements into serving_repository (empty: no builds). deployment_defaults: JSON of the default config.
    deployment_function_prefix: str = "stratus-dep-"
    deployment_defaults: str = ""
    serving_role_arn: str = ""
    serving_image: str = ""
    serving_repository: str = ""
    serving_build_project: str = ""
    serving_build_bucket: str = ""
    serving_architecture: Literal["arm64", "x86_64"] = "arm64"
    # GenAI traces (docs/traces.md "Retention"): days a new trace is kept unless its experiment's tag
    # stratus.trace.retention_days says otherwise; 0 keeps traces until deleted, as MLflow does. template.yaml's
    # TraceRetentionDays, whose allowed values (domain.trace_retention.RETENTION_DAYS) TraceService checks.
    trace_retention_days: int = Field(default=0, ge=0)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        return cls.model_validate({field: environ[name] for field, name in ENV_NAMES.items() if name in environ})

    @property
    def artifact_root(self) -> str:
        """Where new experiments keep artifacts; an experiment's location is this plus ``/<experiment_id>``."""
        if self.default_artifact_root:
            return self.default_artifact_root.rstrip("/")
        if self.artifact_access == "proxied":
            return "mlflow-artifacts:"
        return f"s3://{self.artifact_bucket}/mlartifacts"
