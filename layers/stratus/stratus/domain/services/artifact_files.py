"""The web UI's artifact views: a run's artifact listing (``artifacts/list``) and the file viewer's reads
(``/get-artifact``, ``/model-versions/get-artifact``, ``logged-models/<id>/artifacts/files``).

Every path is checked as the reference's ``validate_path_is_safe`` does and joined under the owner's artifact root,
which must be in this stack's artifact bucket: ``mlflow-artifacts:/<path>`` (proxied, key ``mlartifacts/<path>``) or
``s3://<artifact bucket>/<prefix>`` (direct). Small files come back as bytes; larger ones as a presigned URL, since a
Lambda response holds about 6 MB.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath
from urllib.parse import unquote, urlparse

from stratus.domain.artifact_paths import KEY_ROOT
from stratus.domain.entities import ACTIVE, ArtifactEntry, StoredObject
from stratus.domain.ports import ArtifactStore
from stratus.domain.services.logged_models import LoggedModelService
from stratus.domain.services.registry import RegistryService
from stratus.domain.services.runs import RunService
from stratus.errors import InvalidParameterValue, ResourceDoesNotExist
from stratus.observability import BYTES, MetricName, count

MAX_INLINE_BYTES = 4 * 1024 * 1024
"""Largest file answered with its bytes: base64 makes 4 MiB about 5.6 MB, under Lambda's 6 MB response limit."""
_DECODE_ROUNDS = 5


@dataclass(frozen=True)
class ArtifactFile:
    """One file for the viewer: its ``body`` when small, else a presigned ``url``."""

    name: str
    size: int
    body: bytes | None = None
    url: str | None = None


def artifact_file(artifacts: ArtifactStore, key: str, found: StoredObject) -> ArtifactFile:
    """What a client downloads: the bytes read (counted as downloaded through the function), or a presigned URL
    when the object was too large to read."""
    name = posixpath.basename(key)
    if found.body is None:
        return ArtifactFile(name, found.size, url=artifacts.presigned_get(key, name))
    count(MetricName.ARTIFACT_BYTES_DOWNLOADED, len(found.body), BYTES)
    return ArtifactFile(name, found.size, body=found.body)


def safe_relative_path(path: str | None) -> str:
    """The reference's ``validate_path_is_safe``: decoded, no ``#``, no ``..`` segment, no backslash, not absolute;
    ``INVALID_PARAMETER_VALUE "Invalid path"`` otherwise."""
    if path is None:
        return ""
    decoded = path
    for _ in range(_DECODE_ROUNDS):
        once = unquote(decoded)
        if once == decoded:
            break
        decoded = once
    if (
        "#" in decoded
        or "\\" in decoded
        or ".." in decoded.split("/")
        or PurePosixPath(decoded).is_absolute()
        or PureWindowsPath(decoded).is_absolute()
        or (len(decoded) >= 2 and decoded[1] == ":")
        or any(ord(c) < 32 for c in decoded)
    ):
        raise InvalidParameterValue("Invalid path")
    return decoded


class ArtifactFileService:
    """Reads the artifacts of runs, model versions and logged models for the UI."""

    def __init__(  # noqa: PLR0913 - the UI reads from every owner of artifacts
        self,
        artifacts: ArtifactStore,
        runs: RunService,
        registry: RegistryService | None,
        models: LoggedModelService,
        max_inline_bytes: int = MAX_INLINE_BYTES,
    ) -> None:
        self._artifacts = artifacts
        self._runs = runs
        self._registry = registry
        self._models = models
        self._max_inline = max_inline_bytes

    # ---------------------------------------------------------------- roots

    def root_key(self, uri: str) -> str:
        """The S3 key prefix of an artifact root URI this stack serves."""
        parsed = urlparse(uri)
        if parsed.scheme == "mlflow-artifacts":
            path = parsed.path.strip("/")
            return f"{KEY_ROOT}/{path}" if path else KEY_ROOT
        if parsed.scheme == "s3" and parsed.netloc == self._artifacts.bucket:
            return parsed.path.strip("/")
        raise InvalidParameterValue(f"Artifacts at '{uri}' are not in this server's artifact store.")

    def _run_root(self, run_id: str) -> str:
        run = self._runs.get(run_id)
        return run.info.artifact_uri

    # ---------------------------------------------------------------- operations

    def list_run(self, run_id: str, path: str | None) -> tuple[str, list[ArtifactEntry]]:
        """``artifacts/list``: the run's artifact root URI and the children of ``path``, named from the root."""
        relative = safe_relative_path(path).strip("/")
        root_uri = self._run_root(run_id)
        folder = posixpath.join(self.root_key(root_uri), relative) if relative else self.root_key(root_uri)
        prefix = f"{relative}/" if relative else ""
        entries = self._artifacts.list_children(folder)
        return root_uri, [ArtifactEntry(prefix + e.name, e.is_dir, e.file_size) for e in entries]

    def run_file(self, run_id: str, path: str) -> ArtifactFile:
        """``/get-artifact?run_uuid=&path=``."""
        relative = safe_relative_path(path)
        return self._file(self._run_root(run_id), relative)

    def model_version_file(self, name: str, version: str, path: str) -> ArtifactFile:
        """``/model-versions/get-artifact?name=&version=&path=`` (the UI reads ``MLmodel``)."""
        relative = safe_relative_path(path)
        if self._registry is None:
            raise ResourceDoesNotExist("The model registry is not served here.")
        return self._file(self._registry.get_download_uri(name, version), relative)

    def logged_model_file(self, model_id: str, path: str) -> ArtifactFile:
        """``logged-models/<id>/artifacts/files?artifact_file_path=``."""
        relative = safe_relative_path(path)
        model = self._models.get(model_id)
        if model.lifecycle_stage != ACTIVE:
            raise ResourceDoesNotExist(f"Logged model with ID '{model_id}' not found.")
        return self._file(model.artifact_uri, relative)

    def _file(self, root_uri: str, relative: str) -> ArtifactFile:
        # The reference names the file by its path in the artifact store: "<experiment>/<run>/artifacts/<path>".
        shown = posixpath.join(urlparse(root_uri).path.strip("/"), relative.strip("/")).rstrip("/")
        if not relative.strip("/"):
            raise InvalidParameterValue(f"Artifact path refers to a directory, not a file: '{shown}'")
        key = posixpath.join(self.root_key(root_uri), relative.strip("/"))
        found = self._artifacts.fetch(key, self._max_inline)
        if found is None:
            if self._artifacts.list_children(key):
                raise InvalidParameterValue(f"Artifact path refers to a directory, not a file: '{shown}'")
            raise ResourceDoesNotExist(f"No such artifact: '{shown}'")
        return artifact_file(self._artifacts, key, found)
