"""BatchWriteItem and BatchGetItem with AWS's rule for ``UnprocessedItems``/``UnprocessedKeys``: send them again, with
exponential backoff and jitter.

pynamodb's ``Model.batch_write`` resends unprocessed items at once, without waiting, and after three tries raises a
``PutError`` that carries no AWS error code (so it would surface as a 500); its ``Model.batch_get`` resends unprocessed
keys at once and for ever. Throttling of a whole request is botocore's to retry; what is left unprocessed after
``MAX_ATTEMPTS`` requests is answered 429, which the MLflow client retries.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any, TypeVar

from pynamodb.models import Model

from stratus.errors import RequestLimitExceeded
from stratus.store.dynamodb.errors import translated

BATCH_ITEMS = 25  # AWS's limit per BatchWriteItem
BATCH_GET_KEYS = 100  # AWS's limit per BatchGetItem (and 16 MB an answer: the rest comes back unprocessed)
M = TypeVar("M", bound=Model)
MAX_ATTEMPTS = 8
BACKOFF_BASE_S = 0.05
BACKOFF_CAP_S = 1.6
"""Full jitter: the n-th resend waits uniform(0, min(cap, base * 2**n)), at most ~6 s in all: well inside the
function's 29 s."""


def batch_put(items: Sequence[Model]) -> None:
    """Put ``items`` (of one table, no key twice) in requests of 25, resending what DynamoDB leaves unprocessed."""
    if items:
        _write(type(items[0]), [item.serialize() for item in items], delete=False)


def batch_delete(items: Sequence[Model]) -> None:
    """Delete ``items`` (of one table, no key twice; only their keys are read) likewise."""
    if items:
        _write(type(items[0]), [item._get_keys() for item in items], delete=True)  # noqa: SLF001 - pynamodb's keys


def batch_get(model: type[M], keys: Sequence[tuple[str, str]]) -> list[M]:
    """The items of ``model`` at ``keys`` (``(pk, sk)``, no key twice) that exist, read consistently in requests of
    100; what DynamoDB leaves unprocessed (throttling, or an answer past 16 MB) is asked again with backoff. In no
    particular order."""
    client = model._get_connection().connection.client  # noqa: SLF001 - pynamodb's own botocore client
    table = model.Meta.table_name
    found: list[M] = []
    for start in range(0, len(keys), BATCH_GET_KEYS):
        chunk = [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in keys[start : start + BATCH_GET_KEYS]]
        found.extend(model.from_raw_data(raw) for raw in _read_all(client, table, chunk))
    return found


def _read_all(client: Any, table: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {table: {"Keys": keys, "ConsistentRead": True}}
    for attempt in range(MAX_ATTEMPTS):
        if attempt:
            time.sleep(random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt)))  # noqa: S311 - jitter
        with translated():
            answer = client.batch_get_item(RequestItems=request)
        items.extend((answer.get("Responses") or {}).get(table) or [])
        request = answer.get("UnprocessedKeys") or {}
        if not request:
            return items
    left = sum(len(spec.get("Keys", [])) for spec in request.values())
    raise RequestLimitExceeded(
        f"DynamoDB left {left} keys of a batch read unprocessed after {MAX_ATTEMPTS} tries; retry with backoff."
    )


def _write(model: type[Model], requests: list[dict[str, Any]], delete: bool) -> None:
    connection = model._get_connection()  # noqa: SLF001 - pynamodb's own way to its table connection
    table = model.Meta.table_name
    for start in range(0, len(requests), BATCH_ITEMS):
        _write_all(connection, table, requests[start : start + BATCH_ITEMS], delete)


def _write_all(connection: Any, table: str, requests: list[dict[str, Any]], delete: bool) -> None:
    pending = requests
    for attempt in range(MAX_ATTEMPTS):
        if attempt:
            time.sleep(random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt)))  # noqa: S311 - jitter
        sent = {"delete_items": pending} if delete else {"put_items": pending}
        data = connection.batch_write_item(**sent) or {}
        unprocessed = (data.get("UnprocessedItems") or {}).get(table) or []
        if not unprocessed:
            return
        pending = [r["DeleteRequest"]["Key"] if delete else r["PutRequest"]["Item"] for r in unprocessed]
    raise RequestLimitExceeded(
        f"DynamoDB left {len(pending)} of a batch's items unprocessed after {MAX_ATTEMPTS} tries; retry with backoff."
    )
