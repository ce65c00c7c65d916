"""Assessments, trace tags, trace deletion and link-to-run: the writes on stored GenAI traces."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router


def build(service: Any) -> Router:
    router = Router()
    return router
