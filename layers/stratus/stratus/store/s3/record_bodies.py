"""Evaluation dataset record bodies too large for a DynamoDB item, in the artifact bucket:
``datasets/<dataset_id>/records/<record_id>.json``, rewritten when the record changes and deleted with it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import Any

from stratus.store.s3.artifacts import default_client, translated

_PARALLEL = 8
_DELETE_BATCH = 1000


def body_key(dataset_id: str, record_id: str) -> str:
    return f"datasets/{dataset_id}/records/{record_id}.json"


class S3RecordBodies:
    """Large record bodies, one object each."""

    def __init__(self, bucket: str, client_factory: Callable[[], Any] = default_client) -> None:
        self._bucket = bucket
        self._client_factory = client_factory

    @cached_property
    def _client(self) -> Any:
        return self._client_factory()

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
        with translated():
            for start in range(0, len(keys), _DELETE_BATCH):
                objects = [{"Key": k} for k in keys[start : start + _DELETE_BATCH]]
                self._client.delete_objects(Bucket=self._bucket, Delete={"Objects": objects, "Quiet": True})

    def _get(self, key: str) -> str:
        with translated():
            body: bytes = self._client.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        return body.decode()
