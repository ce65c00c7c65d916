"""Who the current request acts for. The API sets it once per request from what API Gateway authenticated
(``stratus.api.identity.caller``); stores stamp it on what they write, so change events can name the actor."""

from __future__ import annotations

from contextvars import ContextVar

UNKNOWN = "unknown"

current_actor: ContextVar[str] = ContextVar("current_actor", default=UNKNOWN)
