"""MLflow's page tokens: base64 of ``{"offset": N}``. Opaque to clients; forged tokens are a clear 400."""

from __future__ import annotations

import base64
import binascii
import json

from stratus.errors import InvalidParameterValue


def create_page_token(offset: int, snapshot: str | None = None) -> str:
    """``snapshot`` names what the first page read, where a service keeps it (``metric_history.HistorySnapshots``)."""
    token = {"offset": offset} if snapshot is None else {"offset": offset, "snapshot": snapshot}
    return base64.b64encode(json.dumps(token).encode()).decode()


def page_token_snapshot(page_token: str | None) -> str | None:
    """The snapshot a valid token names, if any (call ``parse_page_token`` first: this one does not validate)."""
    if not page_token:
        return None
    try:
        parsed = json.loads(base64.b64decode(page_token))
    except (binascii.Error, ValueError, TypeError, RecursionError):
        return None
    snapshot = parsed.get("snapshot") if isinstance(parsed, dict) else None
    return snapshot if isinstance(snapshot, str) else None


def parse_page_token(page_token: str | None) -> int:
    """The start offset a token encodes; 0 for no token."""
    if not page_token:
        return 0
    try:
        decoded = base64.b64decode(page_token, validate=False)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise InvalidParameterValue("Invalid page token, could not base64-decode") from exc
    try:
        parsed = json.loads(decoded)
    except (ValueError, RecursionError) as exc:  # RecursionError: a forged token of deeply nested JSON
        raise InvalidParameterValue(f"Invalid page token, decoded value={decoded!r}") from exc
    offset = parsed.get("offset") if isinstance(parsed, dict) else None
    if not offset:
        raise InvalidParameterValue(f"Invalid page token, parsed value={parsed}")
    try:
        value = int(offset)
    except (TypeError, ValueError, OverflowError) as exc:  # OverflowError: {"offset": Infinity} or 1e400
        raise InvalidParameterValue(f"Invalid page token, not stringable {offset}") from exc
    if value < 0:
        raise InvalidParameterValue(f"Invalid page token, parsed value={parsed}")
    return value


def paginate(items: list, page_token: str | None, max_results: int) -> tuple[list, str | None]:
    start = parse_page_token(page_token)
    end = start + max_results
    return items[start:end], (create_page_token(end) if end < len(items) else None)
