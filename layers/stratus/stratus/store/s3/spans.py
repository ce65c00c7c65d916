"""GenAI trace spans in the artifact bucket: one JSON object per OTLP batch and trace,
``mlartifacts/<experiment_id>/traces/<trace_id>/spans/<batch_id>.json`` holding ``{"spans": [...]}`` in the
``traces.json`` form. Written once, never rewritten; reading a trace lists its prefix and GETs every batch (in
parallel), a re-sent span id keeping its last batch's version. A PUT per batch (5 spans by default): docs/data-model.md.
A batch of a trace with a retention is tagged ``stratus-retention-days=<n>``; the bucket's lifecycle rule for ``n``
(template.yaml, ``ExpireTraceSpans<n>Days``) deletes it, and its noncurrent version, ``n`` days after the PUT.

A read whose answer is too large for a Lambda response is stored once under ``.../<trace_id>/answers/<name>`` (tagged
as the spans are) and answered as a presigned URL of it (docs/decisions.md, "GenAI tracing").
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from stratus.domain.trace_retention import SPAN_OBJECT_TAG
from stratus.errors import ResourceDoesNotExist
from stratus.store.s3.artifacts import BucketAdapter, default_client, delete_keys, translated

_PARALLEL = 32
"""GETs in flight while reading one trace's batches: a 30,000-span trace sent 5 spans a request is 6,000 objects."""


def spans_prefix(experiment_id: str, trace_id: str) -> str:
    return f"mlartifacts/{experiment_id}/traces/{trace_id}/spans/"


def trace_prefix(experiment_id: str, trace_id: str) -> str:
    return f"mlartifacts/{experiment_id}/traces/{trace_id}/"


def answer_key(experiment_id: str, trace_id: str, name: str) -> str:
    return f"{trace_prefix(experiment_id, trace_id)}answers/{name}"


def _tagging(retention_days: int) -> dict[str, str]:
    # A kept object carries no tag: S3 bills tags per object-month, and no rule would match it anyway.
    return {"Tagging": f"{SPAN_OBJECT_TAG}={retention_days}"} if retention_days else {}


class S3SpanStore(BucketAdapter):
    """``SpanStore`` on the artifact bucket."""

    def __init__(self, bucket: str, client_factory: Callable[[], Any] = default_client, ttl_seconds: int = 900) -> None:
        super().__init__(bucket, client_factory)
        self._ttl_seconds = ttl_seconds

    def put_batch(
        self, experiment_id: str, trace_id: str, batch_id: str, spans: list[dict], *, retention_days: int = 0
    ) -> None:
        body = json.dumps({"spans": spans}, separators=(",", ":"), ensure_ascii=False).encode()
        tagging = _tagging(retention_days)
        with translated():
            self._client.put_object(
                Bucket=self._bucket,
                Key=f"{spans_prefix(experiment_id, trace_id)}{batch_id}.json",
                Body=body,
                ContentType="application/json",
                **tagging,
            )

    def read(self, experiment_id: str, trace_id: str) -> list[dict]:
        keys = sorted(self._keys(spans_prefix(experiment_id, trace_id)))
        if not keys:
            return []
        with ThreadPoolExecutor(max_workers=min(_PARALLEL, len(keys))) as pool:
            batches = list(pool.map(self._get, keys))
        by_id: dict[str, dict] = {}
        for batch in batches:  # keys sort in arrival order: the last batch wins
            for span in batch:
                by_id[span["span_id"]] = span
        return list(by_id.values())

    def answer_url(self, experiment_id: str, trace_id: str, name: str) -> str | None:
        key = answer_key(experiment_id, trace_id, name)
        try:
            with translated():
                self._client.head_object(Bucket=self._bucket, Key=key)
        except ResourceDoesNotExist:
            return None
        return self._presigned(key)

    def put_answer(self, experiment_id: str, trace_id: str, name: str, body: bytes, *, retention_days: int = 0) -> str:
        key = answer_key(experiment_id, trace_id, name)
        with translated():
            self._client.put_object(
                Bucket=self._bucket, Key=key, Body=body, ContentType="application/json", **_tagging(retention_days)
            )
        return self._presigned(key)

    def _presigned(self, key: str) -> str:
        params = {"Bucket": self._bucket, "Key": key}
        return str(self._client.generate_presigned_url("get_object", Params=params, ExpiresIn=self._ttl_seconds))

    def delete(self, experiment_id: str, trace_id: str) -> None:
        delete_keys(self._client, self._bucket, self._keys(trace_prefix(experiment_id, trace_id)))

    def _keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        with translated():
            for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix):
                keys.extend(entry["Key"] for entry in page.get("Contents", []))
        return keys

    def _get(self, key: str) -> list[dict]:
        with translated():
            body = self._client.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        spans: list[dict] = json.loads(body)["spans"]
        return spans
