"""Artifacts in the stack's bucket. Keys come from ``stratus.domain.artifact_paths`` and are never built here.

Every call is one S3 request except listings (one ListObjectsV2 per 1,000 entries) and deletes of a folder (one
DeleteObjects per 1,000 keys). Presigned URLs name one method and one key and expire after ``ttl_seconds``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from typing import Any
from urllib.parse import quote

from botocore.config import Config
from botocore.exceptions import ClientError

from stratus.domain.entities import ArtifactEntry, StoredObject
from stratus.errors import InvalidParameterValue, RequestLimitExceeded, ResourceDoesNotExist, TemporarilyUnavailable

_THROTTLED = {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded"}
_UNAVAILABLE = {"InternalError", "ServiceUnavailable", "503"}
_MISSING = {"NoSuchKey", "404", "NotFound"}
_BAD_UPLOAD = {"NoSuchUpload", "InvalidPart", "InvalidPartOrder", "EntityTooSmall", "InvalidArgument", "MalformedXML"}
_DELETE_BATCH = 1000  # AWS's limit per DeleteObjects


def default_client() -> Any:
    """An S3 client that signs with SigV4 (presigned URLs included). The endpoint comes from botocore's own
    settings (``AWS_ENDPOINT_URL_S3`` under ``stratus local``), which also need path-style addressing."""
    custom_endpoint = bool(os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"))
    config = Config(signature_version="s3v4", s3={"addressing_style": "path" if custom_endpoint else "auto"})
    # on first use: boto3 and s3transfer are ~5% of a cold import, and the tracking function never needs them
    import boto3

    return boto3.session.Session().client("s3", config=config)


@contextmanager
def translated() -> Iterator[None]:
    """The one place where S3 failures become domain errors."""
    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        message = str(exc.response.get("Error", {}).get("Message", code))
        if code in _THROTTLED:
            raise RequestLimitExceeded("S3 is throttling requests; retry with backoff.") from exc
        if code in _UNAVAILABLE:
            raise TemporarilyUnavailable("S3 is temporarily unavailable; retry with backoff.") from exc
        if code in _MISSING:
            raise ResourceDoesNotExist("The artifact does not exist.") from exc
        if code in _BAD_UPLOAD:
            raise InvalidParameterValue(f"S3 refused the multipart upload: {code}: {message}") from exc
        raise


def _attachment(filename: str) -> str:
    """A Content-Disposition that saves as ``filename``: an ASCII fallback, plus RFC 6266 ``filename*`` for the rest."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename) or "artifact"
    if fallback == filename:
        return f'attachment; filename="{filename}"'
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def delete_keys(client: Any, bucket: str, keys: Sequence[str]) -> None:
    """Delete ``keys`` in DeleteObjects requests of at most 1,000 (a missing key is no error)."""
    with translated():
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = [{"Key": k} for k in keys[start : start + _DELETE_BATCH]]
            client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})


class BucketAdapter:
    """Base of an adapter on one bucket: its S3 client is made on first use, never at import or construction."""

    def __init__(self, bucket: str, client_factory: Callable[[], Any] = default_client) -> None:
        self._bucket = bucket
        self._client_factory = client_factory

    @cached_property
    def _client(self) -> Any:
        return self._client_factory()


class S3ArtifactStore:
    """Artifacts of runs and logged models in one bucket."""

    def __init__(self, bucket: str, client_factory: Callable[[], Any] = default_client, ttl_seconds: int = 900) -> None:
        self.bucket = bucket
        self.ttl_seconds = ttl_seconds
        self._client_factory = client_factory

    @cached_property
    def client(self) -> Any:
        """Made on first use, never at import or construction."""
        return self._client_factory()

    def put(self, key: str, body: bytes, content_type: str | None) -> None:
        extra = {"ContentType": content_type} if content_type else {}
        with translated():
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body, **extra)

    def size(self, key: str) -> int | None:
        """The object's size, or None when there is no object at ``key``."""
        try:
            with translated():
                head = self.client.head_object(Bucket=self.bucket, Key=key)
        except ResourceDoesNotExist:
            return None
        return int(head["ContentLength"])

    def fetch(self, key: str, max_bytes: int) -> StoredObject | None:
        """The object at ``key`` in one GET: its size, and its bytes if it has at most ``max_bytes``; None when there
        is no object. A larger object's stream is closed unread (the caller presigns it instead)."""
        try:
            with translated():
                answer = self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=0-{max_bytes - 1}")
        except ResourceDoesNotExist:
            return None
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                return StoredObject(0, b"")  # a range starting at 0 is unsatisfiable only for an empty object
            raise
        content_range = str(answer.get("ContentRange") or "")  # "bytes 0-1023/5000"; absent if the whole object came
        size = int(content_range.rpartition("/")[2]) if "/" in content_range else int(answer["ContentLength"])
        if size > max_bytes:
            answer["Body"].close()
            return StoredObject(size, None)
        return StoredObject(size, bytes(answer["Body"].read()))

    def read(self, key: str, max_bytes: int = 1024 * 1024) -> bytes | None:
        """The first ``max_bytes`` of the object at ``key``, or None when there is none."""
        try:
            with translated():
                answer = self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=0-{max_bytes - 1}")
        except ResourceDoesNotExist:
            return None
        return bytes(answer["Body"].read())

    def list_children(self, folder_key: str) -> list[ArtifactEntry]:
        """The files and folders directly under ``folder_key`` (all pages), sorted by name."""
        prefix = folder_key.rstrip("/") + "/"
        entries: dict[str, ArtifactEntry] = {}
        paginator = self.client.get_paginator("list_objects_v2")
        with translated():
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/"):
                for common in page.get("CommonPrefixes", []):
                    name = common["Prefix"][len(prefix) :].rstrip("/")
                    if name:
                        entries[name] = ArtifactEntry(name, True)
                for obj in page.get("Contents", []):
                    name = obj["Key"][len(prefix) :]
                    if name:  # a zero-byte "folder marker" equal to the prefix itself is not a child
                        entries[name] = ArtifactEntry(name, False, int(obj["Size"]))
        return [entries[name] for name in sorted(entries)]

    def delete_tree(self, key: str) -> int:
        """Delete the object at ``key`` and every object under ``key/``; returns how many were deleted."""
        keys = [key] if self.size(key) is not None else []
        paginator = self.client.get_paginator("list_objects_v2")
        with translated():
            for page in paginator.paginate(Bucket=self.bucket, Prefix=key.rstrip("/") + "/"):
                keys.extend(obj["Key"] for obj in page.get("Contents", []))
        delete_keys(self.client, self.bucket, keys)
        return len(keys)

    def presigned_get(self, key: str, filename: str) -> str:
        """A GET URL for one key that downloads as ``filename`` (the disposition is part of the signature)."""
        safe_name = filename.replace('"', "").replace("\\", "")
        params = {
            "Bucket": self.bucket,
            "Key": key,
            "ResponseContentDisposition": f'attachment; filename="{safe_name}"',
        }
        return str(self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=self.ttl_seconds))

    def create_multipart(self, key: str, num_parts: int) -> tuple[str, list[str]]:
        """Start a multipart upload; returns its id and one presigned UploadPart URL per part (numbered from 1)."""
        with translated():
            upload_id = str(self.client.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"])
        urls = [
            str(
                self.client.generate_presigned_url(
                    "upload_part",
                    Params={"Bucket": self.bucket, "Key": key, "PartNumber": n, "UploadId": upload_id},
                    ExpiresIn=self.ttl_seconds,
                )
            )
            for n in range(1, num_parts + 1)
        ]
        return upload_id, urls

    def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        ordered = [{"PartNumber": n, "ETag": etag} for n, etag in sorted(parts)]
        with translated():
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": ordered}
            )

    def abort_multipart(self, key: str, upload_id: str) -> None:
        with translated():
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
