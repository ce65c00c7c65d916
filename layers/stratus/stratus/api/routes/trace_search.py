"""``traces/search`` (API 3.0) and the legacy listing ``GET /traces`` (API 2.0): GenAI trace search."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router


def build(service: Any) -> Router:
    router = Router()
    return router
