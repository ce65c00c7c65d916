"""The one place where DynamoDB failures become domain errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import ClientError
from pynamodb.exceptions import PynamoDBException

from stratus.errors import RequestLimitExceeded, TemporarilyUnavailable

_THROTTLED = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "LimitExceededException",
}
_UNAVAILABLE = {"InternalServerError", "ServiceUnavailable", "TransactionInProgressException"}


def cause_code(exc: BaseException) -> str:
    """The AWS error code behind a pynamodb or botocore exception ('' when there is none)."""
    if isinstance(exc, PynamoDBException):
        return exc.cause_response_code or ""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def is_condition_failure(exc: BaseException) -> bool:
    code = cause_code(exc)
    if code == "ConditionalCheckFailedException":
        return True
    if code == "TransactionCanceledException":
        reasons = getattr(exc, "cancellation_reasons", None) or []
        return any(r is not None and r.code == "ConditionalCheckFailed" for r in reasons)
    return False


@contextmanager
def translated() -> Iterator[None]:
    """Turn throttling into 429 and transient service faults into 503; the client retries both with backoff."""
    try:
        yield
    except (PynamoDBException, ClientError) as exc:
        code = cause_code(exc)
        if code in _THROTTLED:
            raise RequestLimitExceeded("DynamoDB is throttling requests; retry with backoff.") from exc
        if code in _UNAVAILABLE:
            raise TemporarilyUnavailable("DynamoDB is temporarily unavailable; retry with backoff.") from exc
        raise
