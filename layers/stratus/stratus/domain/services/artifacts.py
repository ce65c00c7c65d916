"""Proxied artifacts (``mlflow-artifacts:/`` URIs): every path is resolved to one key inside the artifacts of an
existing, active run or logged model before S3 is touched. Bytes go through the function only for small files:
uploads in one PUT, and downloads of up to 4 MiB, which come back in the answer. Larger downloads are presigned, and
large uploads are multipart with presigned part URLs.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from stratus.domain import messages
from stratus.domain.artifact_paths import KEY_ROOT, ArtifactOwner, resolve_proxied_path
from stratus.domain.entities import ACTIVE, ArtifactEntry
from stratus.domain.model_sources import artifact_root_key
from stratus.domain.ports import ArtifactStore, LoggedModelStore, TrackingStore
from stratus.domain.services.artifact_files import MAX_INLINE_BYTES, ArtifactFile, artifact_file, safe_relative_path
from stratus.errors import InvalidParameterValue, ResourceDoesNotExist
from stratus.observability import BYTES, MetricName, count

MAX_PARTS = 10_000  # S3's limit per multipart upload
MAX_UI_UPLOAD_BYTES = 10 * 1024 * 1024
"""The reference's limit on ``upload-artifact`` (the web UI's upload); API Gateway's own limit is the same."""


@dataclass(frozen=True)
class PresignedDownload:
    url: str
    file_size: int


@dataclass(frozen=True)
class MultipartUpload:
    upload_id: str
    part_urls: list[str]


class ArtifactService:
    """What the ``/mlflow-artifacts/*`` routes do."""

    def __init__(self, artifacts: ArtifactStore, tracking: TrackingStore, models: LoggedModelStore) -> None:
        self._artifacts = artifacts
        self._tracking = tracking
        self._models = models

    # ---------------------------------------------------------------- resolution

    def resolve(self, path: str, *, writing: bool = False) -> ArtifactOwner:
        """The owner and key of a request path (decoded once already, as API Gateway HTTP APIs deliver paths);
        refuses unsafe paths, unknown owners and owners that are deleted."""
        owner = resolve_proxied_path(path, decoded=True)
        if owner.kind == "run":
            found = self._tracking.run_stage(owner.owner_id)  # the run's info only: one small read per file
            if found is None or found[0] != owner.experiment_id:
                raise ResourceDoesNotExist(messages.run_not_found(owner.owner_id))
            stage = found[1]
        else:
            model = self._models.get_logged_model(owner.owner_id)
            if model is None or model.experiment_id != owner.experiment_id:
                raise ResourceDoesNotExist(messages.logged_model_not_found(owner.owner_id))
            stage = model.lifecycle_stage
        if stage != ACTIVE:
            if writing:
                raise InvalidParameterValue(
                    f"The {owner.kind} {owner.owner_id} must be in the 'active' state. Current state is {stage}."
                )
            raise ResourceDoesNotExist(f"The artifacts of {owner.kind} {owner.owner_id} are not served: it is {stage}.")
        return owner

    # ---------------------------------------------------------------- operations

    def upload(self, path: str, body: bytes, content_type: str | None) -> None:
        owner = self.resolve(path, writing=True)
        if not owner.relative:
            raise InvalidParameterValue("An artifact upload must name a file inside the artifact root.")
        self._artifacts.put(owner.key, body, content_type)
        count(MetricName.ARTIFACT_BYTES_UPLOADED, len(body), BYTES)

    def upload_run_file(self, run_id: str | None, path: str | None, body: bytes, content_type: str | None) -> None:
        """``upload-artifact`` (the web UI's upload of one file to a run): the reference's checks and messages, in
        its order, then the file at ``path`` under the run's artifact root."""
        if not run_id:
            raise InvalidParameterValue("Request must specify run_uuid.")
        if not path:
            raise InvalidParameterValue("Request must specify path.")
        relative = safe_relative_path(path)
        if len(body) > MAX_UI_UPLOAD_BYTES:
            raise InvalidParameterValue("Artifact size is too large. Max size is 10MB.")
        if not body:
            raise InvalidParameterValue("Request must specify data.")
        info = self._tracking.get_run_info(run_id)
        if info is None:
            raise ResourceDoesNotExist(messages.run_not_found(run_id))
        owner = self.resolve(f"{self._managed_root(run_id, info.artifact_uri)}/{relative}", writing=True)
        if self._artifacts.list_children(owner.key):  # where the reference fails writing a file over a folder
            raise InvalidParameterValue(f"Artifact path refers to a directory, not a file: '{relative}'")
        self._artifacts.put(owner.key, body, content_type)
        count(MetricName.ARTIFACT_BYTES_UPLOADED, len(body), BYTES)

    def write_run_files(self, run_id: str, artifact_uri: str, files: dict[str, bytes]) -> None:
        """Store ``files`` (paths relative to the run's artifact root, made by Stratus) under the root of an active
        run: the artifacts of a prompt-engineering run."""
        root = self.resolve(self._managed_root(run_id, artifact_uri), writing=True)
        for relative, body in files.items():
            self._artifacts.put(f"{root.key}/{relative}", body, None)

    def _managed_root(self, run_id: str, artifact_uri: str) -> str:
        """The proxied path of a run's artifact root: ``mlflow-artifacts:/<p>`` and the default direct root
        ``s3://<bucket>/mlartifacts/<p>`` are both ``<p>``. A root elsewhere (an explicit ``s3://`` location, or
        ``DefaultArtifactRoot``) is written by clients with their own credentials: Stratus's functions write only
        under ``mlartifacts/``."""
        key = artifact_root_key(artifact_uri, bucket=self._artifacts.bucket) or ""
        if not key.startswith(f"{KEY_ROOT}/"):
            raise InvalidParameterValue(
                f"The artifacts of run {run_id} are at '{artifact_uri}', which clients write directly; this server "
                f"writes artifacts only under its own root ('mlflow-artifacts:/' or '{KEY_ROOT}/' of its bucket)."
            )
        return key.removeprefix(f"{KEY_ROOT}/")

    def download(self, path: str) -> ArtifactFile:
        """A file's bytes when it has at most ``MAX_INLINE_BYTES`` (one S3 read, and the client gets them in the
        answer), else a presigned URL (a Lambda response holds about 6 MB)."""
        owner = self.resolve(path)
        found = self._artifacts.fetch(owner.key, MAX_INLINE_BYTES) if owner.relative else None
        if found is None:
            raise ResourceDoesNotExist(f"The artifact '{owner.relative or '.'}' does not exist.")
        return artifact_file(self._artifacts, owner.key, found)

    def presigned_download(self, path: str) -> PresignedDownload:
        owner = self.resolve(path)
        size = self._artifacts.size(owner.key) if owner.relative else None
        if size is None:
            raise ResourceDoesNotExist(f"The artifact '{owner.relative or '.'}' does not exist.")
        return PresignedDownload(self._artifacts.presigned_get(owner.key, posixpath.basename(owner.key)), size)

    def list(self, path: str | None) -> list[ArtifactEntry]:
        """The children of a folder; ``[]`` for a file or a missing path (the client reads ``{}`` as "no files")."""
        if not path:
            raise InvalidParameterValue("List an artifact folder by its path: <experiment>/<run>/artifacts[/...].")
        owner = self.resolve(path)
        return self._artifacts.list_children(owner.key)

    def list_model_artifacts(self, model_id: str, directory: str | None) -> tuple[str, list[ArtifactEntry]]:
        """``logged-models/<id>/artifacts/directories``: the model's artifact root URI and the children of
        ``directory`` (relative to that root, and named relative to it too)."""
        model = self._models.get_logged_model(model_id)
        if model is None or model.lifecycle_stage != ACTIVE:
            raise ResourceDoesNotExist(messages.logged_model_not_found(model_id))
        folder = (directory or "").strip("/")
        owner = self.resolve("/".join(p for p in (model.experiment_id, "models", model_id, "artifacts", folder) if p))
        entries = self._artifacts.list_children(owner.key)
        prefix = f"{owner.relative}/" if owner.relative else ""
        return model.artifact_uri, [ArtifactEntry(prefix + e.name, e.is_dir, e.file_size) for e in entries]

    def delete(self, path: str) -> None:
        owner = self.resolve(path, writing=True)
        self._artifacts.delete_tree(owner.key)

    # ---------------------------------------------------------------- multipart

    def _upload_target(self, folder: str, local_path: str) -> ArtifactOwner:
        """The key a multipart upload writes: the folder of the URL plus the *basename* of the client's local path
        (the client sends its absolute local path; nothing else of it is used)."""
        name = posixpath.basename(local_path.replace("\\", "/"))
        if not name:
            raise InvalidParameterValue("'path' must name the file being uploaded.")
        return self.resolve(f"{folder.rstrip('/')}/{name}", writing=True)

    def create_multipart(self, folder: str, local_path: str, num_parts: int) -> MultipartUpload:
        if not 1 <= num_parts <= MAX_PARTS:
            raise InvalidParameterValue(f"'num_parts' must be between 1 and {MAX_PARTS}, got {num_parts}.")
        owner = self._upload_target(folder, local_path)
        upload_id, urls = self._artifacts.create_multipart(owner.key, num_parts)
        return MultipartUpload(upload_id, urls)

    def complete_multipart(self, folder: str, local_path: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        if not parts:
            raise InvalidParameterValue("'parts' must list every uploaded part with its ETag.")
        owner = self._upload_target(folder, local_path)
        self._artifacts.complete_multipart(owner.key, upload_id, parts)

    def abort_multipart(self, folder: str, local_path: str, upload_id: str) -> None:
        owner = self._upload_target(folder, local_path)
        self._artifacts.abort_multipart(owner.key, upload_id)
