"""The one place where DynamoDB failures become domain errors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError
from pynamodb.exceptions import PynamoDBException

from stratus.errors import InvalidParameterValue, RequestLimitExceeded, TemporarilyUnavailable

_THROTTLED = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "LimitExceededException",
}
_UNAVAILABLE = {"InternalServerError", "ServiceUnavailable", "TransactionInProgressException"}
# Why a TransactWriteItems was cancelled, per item (``CancellationReasons``); botocore does not retry any of them.
_THROTTLED_REASONS = {"ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"}
_TRANSIENT_REASONS = {"TransactionConflict"}


def cause_code(exc: BaseException) -> str:
    """The AWS error code behind a pynamodb or botocore exception ('' when there is none)."""
    if isinstance(exc, PynamoDBException):
        # Not exc.cause_response_code: it raises AttributeError for a cause whose response is None (a read timeout).
        response = getattr(exc.cause, "response", None)
        return str(response.get("Error", {}).get("Code") or "") if isinstance(response, dict) else ""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def _cancellation_codes(exc: BaseException) -> set[str]:
    if cause_code(exc) != "TransactionCanceledException":
        return set()
    reasons = getattr(exc, "cancellation_reasons", None) or []
    return {r.code for r in reasons if r is not None and r.code}


def is_condition_failure(exc: BaseException) -> bool:
    if cause_code(exc) == "ConditionalCheckFailedException":
        return True
    return "ConditionalCheckFailed" in _cancellation_codes(exc)


def is_transaction_conflict(exc: BaseException) -> bool:
    """A transaction cancelled because another transaction held one of its items: nothing was written, and the same
    write may simply be tried again on a fresh read."""
    return bool(_cancellation_codes(exc) & _TRANSIENT_REASONS)


def _refused_input(exc: BaseException, code: str, reasons: set[str]) -> str | None:
    """DynamoDB's reason when it refused the request's data itself (an item over 400 KB, an empty map key): the same
    request will never succeed, so it is the caller's error (400), not one to retry for minutes (500)."""
    if code != "ValidationException" and "ValidationError" not in reasons:
        return None
    if isinstance(exc, PynamoDBException):
        return exc.cause_response_message or "invalid item"
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Message", "invalid item"))
    return "invalid item"


def _is_network_fault(exc: BaseException) -> bool:
    cause = getattr(exc, "cause", None) if isinstance(exc, PynamoDBException) else exc
    return isinstance(cause, (BotocoreConnectionError, HTTPClientError))


@contextmanager
def translated() -> Iterator[None]:
    """Turn throttling (left after botocore's own retries, or as a transaction's cancellation reason) into 429, and
    transient service faults, transaction conflicts and network faults into 503; the client retries both with
    backoff. Data DynamoDB refuses (ValidationException) is a 400. Condition failures pass through for the caller to
    decide."""
    try:
        yield
    except (PynamoDBException, ClientError) as exc:
        code = cause_code(exc)
        reasons = _cancellation_codes(exc)
        if code in _THROTTLED or (reasons & _THROTTLED_REASONS and "ConditionalCheckFailed" not in reasons):
            raise RequestLimitExceeded("DynamoDB is throttling requests; retry with backoff.") from exc
        transient = reasons & _TRANSIENT_REASONS and "ConditionalCheckFailed" not in reasons
        if code in _UNAVAILABLE or transient or _is_network_fault(exc):
            raise TemporarilyUnavailable("DynamoDB is temporarily unavailable; retry with backoff.") from exc
        refused = _refused_input(exc, code, reasons)
        if refused is not None:
            raise InvalidParameterValue(f"The request's data cannot be stored: {refused}") from exc
        raise


def written(write: Callable[[], object]) -> bool:
    """Run one conditional write (an item's save, or a whole ``TransactWrite`` block) under :func:`translated`;
    False when its condition failed, that is when someone else wrote first and the caller must re-read or give up."""
    try:
        with translated():
            write()
    except PynamoDBException as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True
