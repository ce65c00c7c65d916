"""The one error hierarchy. Every error carries an MLflow error code; the HTTP status is derived from it in one place.

The mapping follows ``mlflow/exceptions.py`` of the reference server (see shared/MLFLOW-WIRE.md section 2).
"""

from __future__ import annotations

HTTP_STATUS_BY_CODE: dict[str, int] = {
    "INVALID_PARAMETER_VALUE": 400,
    "RESOURCE_ALREADY_EXISTS": 400,
    "BAD_REQUEST": 400,
    "INVALID_STATE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "ABORTED": 409,
    "REQUEST_LIMIT_EXCEEDED": 429,
    "RESOURCE_EXHAUSTED": 429,
    "INTERNAL_ERROR": 500,
    "NOT_IMPLEMENTED": 501,
    "TEMPORARILY_UNAVAILABLE": 503,
}


class StratusError(Exception):
    """Base of every error Stratus answers on purpose. ``error_code`` is an MLflow ``ErrorCode`` name."""

    error_code = "INTERNAL_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS_BY_CODE.get(self.error_code, 500)

    def to_json(self) -> dict[str, str]:
        return {"error_code": self.error_code, "message": self.message}


class InvalidParameterValue(StratusError):
    error_code = "INVALID_PARAMETER_VALUE"


class BadRequest(StratusError):
    error_code = "BAD_REQUEST"


class ResourceAlreadyExists(StratusError):
    error_code = "RESOURCE_ALREADY_EXISTS"


class ResourceDoesNotExist(StratusError):
    error_code = "RESOURCE_DOES_NOT_EXIST"


class EndpointNotFound(StratusError):
    error_code = "ENDPOINT_NOT_FOUND"


class InvalidState(StratusError):
    error_code = "INVALID_STATE"


class Conflict(StratusError):
    """A concurrent writer won a race that retrying could not settle."""

    error_code = "ABORTED"


class RequestLimitExceeded(StratusError):
    """DynamoDB throttled us; the client retries 429 with backoff."""

    error_code = "REQUEST_LIMIT_EXCEEDED"


class TemporarilyUnavailable(StratusError):
    error_code = "TEMPORARILY_UNAVAILABLE"


class ServingFailed(StratusError):
    """The serving platform could not do what a deployment needs (publish a function version, answer a request);
    a rollout that meets it fails and keeps the previous version serving."""

    error_code = "TEMPORARILY_UNAVAILABLE"


class ServingFunctionMissing(ServingFailed):
    """A deployment's function (or the version its alias names) is gone: deleted outside Stratus, or a ``stratus
    local`` restarted (its functions live in memory). The deployment is rolled out again."""


class NotImplementedFeature(StratusError):
    error_code = "NOT_IMPLEMENTED"


class PayloadTooLarge(StratusError):
    """A request body over the limits of API Gateway or Lambda; answered 413 with an MLflow error body."""

    error_code = "INVALID_PARAMETER_VALUE"

    @property
    def http_status(self) -> int:
        return 413


class NotFound(StratusError):
    """MLflow's ``NOT_FOUND`` (404), which the reference answers for missing trace data."""

    error_code = "NOT_FOUND"
