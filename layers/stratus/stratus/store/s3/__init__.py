"""The S3 adapter: artifact bytes, listings, presigned URLs and multipart uploads."""

from stratus.store.s3.artifacts import ArtifactEntry, S3ArtifactStore, StoredObject
from stratus.store.s3.packages import S3ProjectPackages
from stratus.store.s3.projections import S3RunProjectionStore

__all__ = ["ArtifactEntry", "S3ArtifactStore", "S3ProjectPackages", "S3RunProjectionStore", "StoredObject"]
