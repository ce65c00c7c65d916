"""A project job's output from CloudWatch Logs (Batch's ``awslogs`` driver writes each job to a stream of the
``/aws/batch/job`` group; under ``stratus local`` the local Batch writes to the same group on moto)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

from botocore.exceptions import ClientError

JOB_LOG_GROUP = "/aws/batch/job"
MAX_PAGES = 10_000


def default_client() -> Any:
    import boto3  # on first use

    return boto3.session.Session().client("logs")


class CloudWatchJobLogs:
    """``JobLogs``: GetLogEvents from the start of a stream, page by page, up to a size."""

    def __init__(self, group: str = JOB_LOG_GROUP, client_factory: Callable[[], Any] = default_client) -> None:
        self.group = group
        self._client_factory = client_factory

    @cached_property
    def client(self) -> Any:
        return self._client_factory()

    def read(self, stream: str, max_bytes: int) -> tuple[bytes, bool]:
        lines: list[bytes] = []
        size = 0
        token: str | None = None
        for _ in range(MAX_PAGES):
            kwargs: dict[str, Any] = {"logGroupName": self.group, "logStreamName": stream, "startFromHead": True}
            if token:
                kwargs["nextToken"] = token
            try:
                page = self.client.get_log_events(**kwargs)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                    break  # a job that never started wrote no stream
                raise
            for event in page.get("events", []):
                line = (str(event.get("message", "")).rstrip("\n") + "\n").encode()
                if size + len(line) > max_bytes:
                    return b"".join(lines), True
                lines.append(line)
                size += len(line)
            next_token = page.get("nextForwardToken")
            if not page.get("events") or next_token == token:
                break
            token = next_token
        return b"".join(lines), False
