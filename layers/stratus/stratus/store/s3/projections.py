"""Search projections: each column of an experiment's projection is one gzipped JSON list in S3, under a prefix per
version (``projections/<experiment>/<version>/<sha256 of the column name>.json.gz``); the manifest that names the
current version is a ``P#`` item in the experiment's partition, written conditionally so that two projectors never
both win. A search fetches only the columns its query reads, side by side. Stdlib only (gzip, json): a column of
100,000 values is ~0.3-1 MB and parses in tens of milliseconds, with no columnar library in the Lambda layer
(docs/decisions.md, "Search projections as JSON columns")."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.exceptions import DoesNotExist

from stratus.domain.projection import RUN_ID, Columns, ProjectionManifest
from stratus.store.dynamodb.errors import translated, written
from stratus.store.dynamodb.items import ProjectionManifestItem
from stratus.store.s3.artifacts import BucketAdapter

_MANIFEST_SK = "P#"
_PARALLEL = 8
_KEEP_VERSIONS = 2
"""The current version and the one before stay: a search that read the previous manifest can still fetch its columns."""


class S3RunProjectionStore(BucketAdapter):
    def manifest(self, experiment_id: str) -> ProjectionManifest | None:
        with translated():
            try:
                item = ProjectionManifestItem.get(f"EXP#{experiment_id}", _MANIFEST_SK, consistent_read=True)
            except DoesNotExist:
                return None
        return ProjectionManifest(
            experiment_id=experiment_id,
            version=int(item.version),
            watermark=int(item.watermark),
            run_count=int(item.runs),
            columns=tuple(json.loads(item.columns)),
            location=item.prefix,
        )

    def read_columns(self, manifest: ProjectionManifest, names: Collection[str]) -> Columns | None:
        wanted = [name for name in names if name in manifest.columns]

        def fetch(name: str) -> list[Any] | None:
            try:
                answer = self._client.get_object(Bucket=self._bucket, Key=_object_key(manifest.location, name))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    return None
                raise
            values: list[Any] = json.loads(gzip.decompress(answer["Body"].read()))
            return values

        with ThreadPoolExecutor(max_workers=_PARALLEL) as pool:
            fetched = list(pool.map(fetch, wanted))
        if any(values is None for values in fetched):
            return None
        return {name: values for name, values in zip(wanted, fetched, strict=True) if values is not None}

    def write(self, experiment_id: str, columns: Columns, watermark: int, previous: ProjectionManifest | None) -> bool:
        version = previous.version + 1 if previous else 1
        prefix = f"projections/{experiment_id}/{version:010d}"

        def put(item: tuple[str, list[Any]]) -> None:
            name, values = item
            body = gzip.compress(json.dumps(values, separators=(",", ":")).encode(), compresslevel=5)
            self._client.put_object(Bucket=self._bucket, Key=_object_key(prefix, name), Body=body)

        with ThreadPoolExecutor(max_workers=_PARALLEL) as pool:
            list(pool.map(put, columns.items()))
        item = ProjectionManifestItem(
            pk=f"EXP#{experiment_id}",
            sk=_MANIFEST_SK,
            version=version,
            watermark=watermark,
            runs=len(columns.get(RUN_ID, ())),
            prefix=prefix,
            columns=json.dumps(sorted(columns)),
        )
        condition = (
            ProjectionManifestItem.version == previous.version
            if previous
            else ProjectionManifestItem.pk.does_not_exist()
        )
        if not written(partial(item.save, condition=condition)):
            self._delete_prefix(prefix)
            return False
        if version > _KEEP_VERSIONS:
            self._delete_prefix(f"projections/{experiment_id}/{version - _KEEP_VERSIONS:010d}")
        return True

    def _delete_prefix(self, prefix: str) -> None:
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=f"{prefix}/"):
            keys = [{"Key": entry["Key"]} for entry in page.get("Contents", ())]
            if keys:
                self._client.delete_objects(Bucket=self._bucket, Delete={"Objects": keys, "Quiet": True})


def _object_key(prefix: str, column: str) -> str:
    return f"{prefix}/{hashlib.sha256(column.encode()).hexdigest()}.json.gz"
