"""Settings, read from the environment once, in a composition root. Env var names live here, in template.yaml and in
events/env.json, nowhere else."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """What every function needs to know about its deployment."""

    model_config = SettingsConfigDict(env_prefix="STRATUS_", extra="ignore")

    table_name: str = Field(default="stratus", description="The single DynamoDB table (template.yaml: StratusTable)")
    artifact_bucket: str = Field(default="stratus-artifacts", description="The artifact bucket")
    default_artifact_root: str = Field(
        default="",
        description="Root of new experiments' artifact locations; empty means s3://<artifact_bucket>/mlartifacts",
    )
    region: str = Field(default="us-east-1", validation_alias="AWS_REGION")

    @property
    def artifact_root(self) -> str:
        root = self.default_artifact_root or f"s3://{self.artifact_bucket}/mlartifacts"
        return root.rstrip("/")
