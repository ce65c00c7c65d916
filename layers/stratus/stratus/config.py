"""Settings, read from the environment once, in a composition root. Env var names live here, in template.yaml and in
events/env.json, nowhere else."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

ENV_NAMES = {
    "table_name": "STRATUS_TABLE_NAME",
    "artifact_bucket": "STRATUS_ARTIFACT_BUCKET",
    "default_artifact_root": "STRATUS_DEFAULT_ARTIFACT_ROOT",
    "region": "AWS_REGION",
}


class Settings(BaseModel):
    """What every function needs to know about its deployment."""

    model_config = ConfigDict(frozen=True)

    table_name: str = "stratus"  # template.yaml: StratusTable
    artifact_bucket: str = "stratus-artifacts"  # template.yaml: ArtifactBucket
    default_artifact_root: str = ""  # empty: s3://<artifact_bucket>/mlartifacts
    region: str = "us-east-1"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        return cls.model_validate({field: environ[name] for field, name in ENV_NAMES.items() if name in environ})

    @property
    def artifact_root(self) -> str:
        root = self.default_artifact_root or f"s3://{self.artifact_bucket}/mlartifacts"
        return root.rstrip("/")
