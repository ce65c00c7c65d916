"""The one Logger. Structured JSON logs with keyword fields; decorators go on Lambda handlers only."""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools import Logger


@cache
def get_logger() -> Logger:
    return Logger(service="stratus")
