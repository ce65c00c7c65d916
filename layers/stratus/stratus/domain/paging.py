"""MLflow's page tokens: base64 of ``{"offset": N}``. Opaque to clients; forged tokens are a clear 400."""

from __future__ import annotations

import base64
import binascii
import json

from stratus.errors import InvalidParameterValue


def create_page_token(offset: int) -> str:
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


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
    except ValueError as exc:
        raise InvalidParameterValue(f"Invalid page token, decoded value={decoded!r}") from exc
    offset = parsed.get("offset") if isinstance(parsed, dict) else None
    if not offset:
        raise InvalidParameterValue(f"Invalid page token, parsed value={parsed}")
    try:
        value = int(offset)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterValue(f"Invalid page token, not stringable {offset}") from exc
    if value < 0:
        raise InvalidParameterValue(f"Invalid page token, parsed value={parsed}")
    return value


def paginate(items: list, page_token: str | None, max_results: int) -> tuple[list, str | None]:
    start = parse_page_token(page_token)
    end = start + max_results
    return items[start:end], (create_page_token(end) if end < len(items) else None)
