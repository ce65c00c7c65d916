"""BatchWriteItem with AWS's rule for ``UnprocessedItems``: send them again, with exponential backoff and jitter.

pynamodb's ``Model.batch_write`` resends unprocessed items at once, without waiting, and after three tries raises a
``PutError`` that carries no AWS error code (so it would surface as a 500). Throttling of a whole request is botocore's
to retry; what is left unprocessed after ``MAX_ATTEMPTS`` requests is answered 429, which the MLflow client retries.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any

from pynamodb.models import Model

from stratus.errors import RequestLimitExceeded

BATCH_ITEMS = 25  # AWS's limit per BatchWriteItem
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
