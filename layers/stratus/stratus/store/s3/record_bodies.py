"""Evaluation dataset record bodies too large for a DynamoDB item, in the artifact bucket:
``datasets/<dataset_id>/records/<record_id>.json``, rewritten when the record changes and deleted with it."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from stratus.store.s3.artifacts import BucketAdapter, delete_keys, translated

_PARALLEL = 8


def body_key(dataset_id: str, record_id: str) -> str:
    return f"datasets/{dataset_id}/records/{record_id}.json"


class S3RecordBodies(BucketAdapter):
    """Large record bodies, one object each."""

    def put(self, key: str, body: str) -> None:
        with translated():
            self._client.put_object(Bucket=self._bucket, Key=key, Body=body.encode(), ContentType="application/json")

    def get_all(self, keys: Sequence[str]) -> list[str]:
        """The bodies of ``keys``, in their order (read in parallel)."""
        if not keys:
            return []
        with ThreadPoolExecutor(max_workers=min(_PARALLEL, len(keys))) as pool:
            return list(pool.map(self._get, keys))

    def delete(self, keys: Sequence[str]) -> None:
        delete_keys(self._client, self._bucket, keys)

    def _get(self, key: str) -> str:
        with translated():
            body: bytes = self._client.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        return body.decode()
