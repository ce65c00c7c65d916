"""The Stratus projects API (``/api/2.0/stratus/projects/...``), one method per route."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, RESOURCE_ALREADY_EXISTS, ErrorCode

from mlflow_stratus.http import StratusHttp, put_file, put_part

PREFIX = "/api/2.0/stratus/projects"


@dataclass(frozen=True)
class Package:
    """Where to upload a packed project, as ``POST .../packages`` answers: one presigned PUT (``upload_url``), or for
    a large package a multipart upload (``upload_id``, one presigned URL per ``part_size`` bytes)."""

    package_id: str
    package_uri: str
    upload_url: str | None = None
    upload_headers: dict[str, str] = field(default_factory=dict)
    upload_id: str | None = None
    part_size: int = 0
    part_urls: tuple[str, ...] = ()


class ProjectsApi:
    """Packages and project runs on a Stratus server."""

    def __init__(self, http: StratusHttp) -> None:
        self._http = http

    @classmethod
    def for_tracking_uri(cls, tracking_uri: str) -> ProjectsApi:
        """The API of the Stratus server at the tracking URI, with MLflow's credentials for it."""
        return cls(StratusHttp(tracking_uri))

    def create_package(self, experiment_id: str, size_bytes: int | None = None) -> Package:
        """Reserve a package of ``size_bytes`` in the experiment, and where to upload it."""
        body: dict[str, Any] = {"experiment_id": str(experiment_id)}
        if size_bytes is not None:
            body["size_bytes"] = int(size_bytes)
        answer = self._http.post(f"{PREFIX}/packages", body)
        try:
            if answer.get("part_urls"):
                return Package(
                    package_id=answer["package_id"],
                    package_uri=answer["package_uri"],
                    upload_id=answer["upload_id"],
                    part_size=int(answer["part_size"]),
                    part_urls=tuple(answer["part_urls"]),
                )
            return Package(
                package_id=answer["package_id"],
                package_uri=answer["package_uri"],
                upload_url=answer["upload_url"],
                upload_headers=dict(answer.get("upload_headers") or {}),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise MlflowException(
                f"Stratus's answer to POST {PREFIX}/packages lacks {error}", error_code=INTERNAL_ERROR
            ) from None

    def upload(self, package: Package, path: str | os.PathLike[str]) -> None:
        """PUT the packed project to the package's upload URL, or part by part, then join the parts."""
        if package.upload_url is not None:
            put_file(package.upload_url, package.upload_headers, path)
            return
        parts = [
            {"part_number": number, "etag": put_part(url, path, (number - 1) * package.part_size, package.part_size)}
            for number, url in enumerate(package.part_urls, start=1)
        ]
        self._http.post(
            f"{PREFIX}/packages/complete",
            {"package_id": package.package_id, "upload_id": package.upload_id, "parts": parts},
        )

    def submit(self, run_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Submit the project run of MLflow run ``run_id``; its ProjectRun.

        A submit that the server took but whose answer was lost is retried by MLflow's HTTP client and then answered
        RESOURCE_ALREADY_EXISTS; since the client creates a fresh run for each submit, that run is this one.
        """
        try:
            answer = self._http.post(f"{PREFIX}/runs/submit", {"run_id": run_id, **body})
        except MlflowException as error:
            if error.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
                raise
            return self.get_run(run_id)
        return _project_run(answer, "runs/submit")

    def get_run(self, run_id: str) -> dict[str, Any]:
        """The ProjectRun of MLflow run ``run_id``."""
        return _project_run(self._http.get(f"{PREFIX}/runs/get", {"run_id": run_id}), "runs/get")

    def cancel(self, run_id: str) -> dict[str, Any]:
        """Ask for the project run to be cancelled (a no-op once it has ended); its ProjectRun."""
        return _project_run(self._http.post(f"{PREFIX}/runs/cancel", {"run_id": run_id}), "runs/cancel")


def _project_run(answer: Mapping[str, Any], route: str) -> dict[str, Any]:
    project_run = answer.get("project_run")
    if not isinstance(project_run, dict) or not isinstance(project_run.get("run_status"), str):
        raise MlflowException(f"Stratus's answer to {PREFIX}/{route} has no project_run", error_code=INTERNAL_ERROR)
    return project_run
