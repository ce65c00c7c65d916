"""Project packages (gzipped tarballs of an MLflow project) under ``projects/packages/`` of the stack's bucket: the
client PUTs one through a presigned URL, the runner downloads it with the job's role."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

from stratus.errors import ResourceDoesNotExist
from stratus.store.s3.artifacts import default_client, translated

PACKAGE_PREFIX = "projects/packages"
CONTENT_TYPE = "application/gzip"
UPLOAD_TTL_SECONDS = 3600  # a large project on a slow link


class S3ProjectPackages:
    """``ProjectPackages`` in one bucket."""

    def __init__(self, bucket: str, client_factory: Callable[[], Any] = default_client) -> None:
        self.bucket = bucket
        self._client_factory = client_factory

    @cached_property
    def client(self) -> Any:
        return self._client_factory()

    def _key(self, package_id: str) -> str:
        return f"{PACKAGE_PREFIX}/{package_id}.tar.gz"

    def uri(self, package_id: str) -> str:
        return f"s3://{self.bucket}/{self._key(package_id)}"

    def upload_url(self, package_id: str) -> tuple[str, dict[str, str]]:
        params = {"Bucket": self.bucket, "Key": self._key(package_id), "ContentType": CONTENT_TYPE}
        url = self.client.generate_presigned_url("put_object", Params=params, ExpiresIn=UPLOAD_TTL_SECONDS)
        return str(url), {"Content-Type": CONTENT_TYPE}

    def size(self, package_id: str) -> int | None:
        try:
            with translated():
                return int(self.client.head_object(Bucket=self.bucket, Key=self._key(package_id))["ContentLength"])
        except ResourceDoesNotExist:
            return None

    def create_multipart(self, package_id: str, parts: int) -> tuple[str, list[str]]:
        key = self._key(package_id)
        with translated():
            upload_id = str(
                self.client.create_multipart_upload(Bucket=self.bucket, Key=key, ContentType=CONTENT_TYPE)["UploadId"]
            )
        urls = [
            str(
                self.client.generate_presigned_url(
                    "upload_part",
                    Params={"Bucket": self.bucket, "Key": key, "PartNumber": n, "UploadId": upload_id},
                    ExpiresIn=UPLOAD_TTL_SECONDS,
                )
            )
            for n in range(1, parts + 1)
        ]
        return upload_id, urls

    def complete_multipart(self, package_id: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        with translated():
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self._key(package_id),
                UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in sorted(parts)]},
            )
