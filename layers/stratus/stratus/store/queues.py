"""Work asked for later through SQS: a message with a delivery delay (at most 15 minutes, SQS's limit)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from functools import cached_property
from typing import Any

from pydantic import BaseModel

MAX_DELAY_S = 900


class RefreshRequest(BaseModel):
    """The body of a message ``SqsRefreshQueue`` sends."""

    experiment_id: str
    due_ms: int


def default_client() -> Any:
    import boto3  # on first use

    return boto3.session.Session().client("sqs")


class SqsRefreshQueue:
    """``RefreshQueue``: one message per refresh (a ``RefreshRequest``), delayed until ``due_ms``; the
    projector's SQS event source hands it back (``functions/projection``)."""

    def __init__(
        self,
        queue_url: str,
        client_factory: Callable[[], Any] = default_client,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.queue_url = queue_url
        self._client_factory = client_factory
        self._clock = clock

    @cached_property
    def client(self) -> Any:
        return self._client_factory()

    def refresh_later(self, experiment_id: str, due_ms: int) -> None:
        delay = min(MAX_DELAY_S, max(0, math.ceil(due_ms / 1000 - self._clock())))
        body = RefreshRequest(experiment_id=experiment_id, due_ms=due_ms).model_dump_json()
        self.client.send_message(QueueUrl=self.queue_url, MessageBody=body, DelaySeconds=delay)
