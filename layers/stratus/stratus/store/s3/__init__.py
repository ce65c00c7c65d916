"""The S3 adapter: artifact bytes, listings, presigned URLs and multipart uploads."""

from stratus.store.s3.artifacts import ArtifactEntry, S3ArtifactStore, StoredObject

__all__ = ["ArtifactEntry", "S3ArtifactStore", "StoredObject"]
