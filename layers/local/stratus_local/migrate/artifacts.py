"""Artifacts byte for byte: download a run's or logged model's tree from the source, upload it to the destination,
and check that the destination lists every file with the same size."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository


class ArtifactMismatch(Exception):
    """The destination does not list what was uploaded."""


def copy_artifacts(
    source_uri: str, source_tracking: str, destination_uri: str, destination_tracking: str
) -> tuple[int, int]:
    """Copy the tree at ``source_uri`` into ``destination_uri``; answer (files, bytes) copied."""
    source = get_artifact_repository(source_uri, tracking_uri=source_tracking)
    if not source.list_artifacts(None):
        return 0, 0
    destination = get_artifact_repository(destination_uri, tracking_uri=destination_tracking)
    with tempfile.TemporaryDirectory(prefix="stratus-migrate-") as folder:
        local = Path(source.download_artifacts("", dst_path=folder))
        expected = _local_sizes(local)
        destination.log_artifacts(str(local), None)
    listed = _listed_sizes(destination, None)
    missing = {path: size for path, size in expected.items() if listed.get(path) != size}
    if missing:
        raise ArtifactMismatch(f"destination lists {len(missing)} file(s) differently, e.g. {next(iter(missing))}")
    return len(expected), sum(expected.values())


def _local_sizes(root: Path) -> dict[str, int]:
    sizes = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            sizes[path.relative_to(root).as_posix()] = path.stat().st_size
    return sizes


def _listed_sizes(repository, path: str | None) -> dict[str, int]:  # noqa: ANN001 - any ArtifactRepository
    sizes: dict[str, int] = {}
    for entry in repository.list_artifacts(path):
        if entry.is_dir:
            sizes.update(_listed_sizes(repository, entry.path))
        else:
            sizes[entry.path] = entry.file_size or 0  # empty files are listed without a size
    return sizes
