"""``GET /api/2.0/stratus/openapi.json``: the OpenAPI description of the whole API (every function's routes)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from stratus.api import openapi


def build() -> Router:
    router = Router()

    @router.get("/openapi.json")
    def openapi_json() -> dict[str, Any]:
        """The OpenAPI 3.1 document of the whole API, built on the first request (never at cold start)."""
        return openapi.document()

    return router
