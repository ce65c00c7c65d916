"""Deployments' functions on AWS Lambda (``ServingPlatform``): one function per deployment, from a container image.
A rollout updates the function's image and settings, waits until Lambda has applied them (it refuses a second change
while one is in progress) and publishes a version; the ``live`` alias points at the version that answers, with a
weighted second version during a canary. Under ``stratus local`` the same calls go to the local Lambda API
(``AWS_ENDPOINT_URL_LAMBDA``, ``stratus_local.lambda_api``), which may leave ``LastUpdateStatus`` out: that counts as
applied."""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, WaiterError
from botocore.waiter import WaiterModel, create_waiter_with_client

from stratus.domain.ports import FunctionSpec, Invocation
from stratus.errors import PayloadTooLarge, ServingFailed, ServingFunctionMissing

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
"""Lambda's limit on a synchronous invocation's request, and on its response."""
FUNCTION_ERROR_STATUS = 502
"""The status of an answer whose handler crashed (as a gateway answers for a failed upstream)."""
_READ_TIMEOUT = 910  # beyond Lambda's longest timeout (900 s): the client must not give up before the function does
_NOT_FOUND = "ResourceNotFoundException"
_THROTTLED = {"TooManyRequestsException", "ThrottlingException", "Throttling"}
_TOO_LARGE = {"RequestTooLargeException"}
_RESPONSE_TOO_LARGE = "Function.ResponseSizeTooLarge"

# One waiter for a new function and for an update: GetFunctionConfiguration until the function is Active and its last
# update, if it reports one, succeeded. boto3's function_active_v2 / function_updated_v2 each check one of the two, and
# function_updated_v2 never succeeds where LastUpdateStatus is absent (a new function on the local Lambda API).
_WAITERS = WaiterModel(
    {
        "version": 2,
        "waiters": {
            "FunctionReady": {
                "operation": "GetFunctionConfiguration",
                "delay": 2,
                "maxAttempts": 300,
                "acceptors": [
                    {
                        "matcher": "path",
                        "argument": "State == 'Active' && (LastUpdateStatus || 'Successful') == 'Successful'",
                        "expected": True,
                        "state": "success",
                    },
                    {"matcher": "path", "argument": "State", "expected": "Failed", "state": "failure"},
                    {"matcher": "path", "argument": "LastUpdateStatus", "expected": "Failed", "state": "failure"},
                ],
            }
        },
    }
)


def default_client() -> Any:
    import boto3  # on first use: only the deployments' functions need Lambda's API
    from botocore.config import Config

    config = Config(read_timeout=_READ_TIMEOUT, retries={"mode": "standard", "max_attempts": 3})
    return boto3.session.Session().client("lambda", config=config)


def _error(exc: ClientError) -> tuple[str, str]:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    return code, str(error.get("Message") or code)


@contextmanager
def translated(action: str) -> Iterator[None]:
    """Lambda's refusals while ``action`` runs as ``ServingFailed``, with Lambda's reason (a rollout shows it)."""
    try:
        yield
    except ClientError as exc:
        code, message = _error(exc)
        if code in _THROTTLED:
            raise ServingFailed(f"Lambda is throttling requests to {action}; retry later") from exc
        raise ServingFailed(f"Lambda refused to {action}: {message} ({code})") from exc
    except BotoCoreError as exc:
        raise ServingFailed(f"Lambda did not answer a request to {action}: {exc}") from exc


class LambdaServing:
    """``ServingPlatform`` on Lambda: image functions run by ``role_arn`` on ``architecture`` (``arm64`` or
    ``x86_64``, what the images are built for). A change is waited for at most ``max_wait_seconds``."""

    def __init__(
        self,
        role_arn: str,
        architecture: str,
        client: Any = None,
        *,
        poll_seconds: float = 2.0,
        max_wait_seconds: float = 600.0,
    ) -> None:
        self.role_arn = role_arn
        self.architecture = architecture
        self._client = client
        self.poll_seconds = poll_seconds
        self.max_wait_seconds = max_wait_seconds

    @cached_property
    def client(self) -> Any:
        return self._client if self._client is not None else default_client()

    # ---------------------------------------------------------------------------------------------------- publish

    def publish(self, spec: FunctionSpec) -> str:
        with translated(f"publish function {spec.name}"):
            current = self._configuration(spec.name)
            if current is None:
                self._create(spec)
            else:
                self._update(spec, current)
            return self._publish_version(spec.name)

    def _configuration(self, name: str) -> dict[str, Any] | None:
        try:
            return dict(self.client.get_function(FunctionName=name)["Configuration"])
        except ClientError as exc:
            if _error(exc)[0] == _NOT_FOUND:
                return None
            raise

    def _create(self, spec: FunctionSpec) -> None:
        self.client.create_function(
            FunctionName=spec.name,
            PackageType="Image",
            Code={"ImageUri": spec.image},
            Role=self.role_arn,
            MemorySize=spec.memory_mb,
            Timeout=spec.timeout_seconds,
            Environment={"Variables": spec.environment},
            Tags=spec.tags,
            Architectures=[self.architecture],
            Publish=False,
        )
        self._wait(spec.name)

    def _update(self, spec: FunctionSpec, current: dict[str, Any]) -> None:
        if current.get("State") == "Pending" or current.get("LastUpdateStatus") == "InProgress":
            self._wait(spec.name)  # a change still being applied: Lambda refuses another until it ends
        self.client.update_function_code(FunctionName=spec.name, ImageUri=spec.image)
        self._wait(spec.name)
        self.client.update_function_configuration(
            FunctionName=spec.name,
            MemorySize=spec.memory_mb,
            Timeout=spec.timeout_seconds,
            Environment={"Variables": spec.environment},
        )
        self._wait(spec.name)

    def _publish_version(self, name: str) -> str:
        answer = self.client.publish_version(FunctionName=name)
        version = str(answer["Version"])
        if answer.get("State", "Active") != "Active":
            self._wait(name, version)
        return version

    def _wait(self, name: str, qualifier: str | None = None) -> None:
        """Until the function (or one version) can be invoked and changed again; ``ServingFailed`` with Lambda's
        reason when it cannot be, or when it is still not ready after ``max_wait_seconds``."""
        waiter = create_waiter_with_client("FunctionReady", _WAITERS, self.client)
        attempts = max(1, math.ceil(self.max_wait_seconds / max(self.poll_seconds, 0.1)))
        params: dict[str, Any] = {"FunctionName": name}
        if qualifier:
            params["Qualifier"] = qualifier
        try:
            waiter.wait(**params, WaiterConfig={"Delay": self.poll_seconds, "MaxAttempts": attempts})
        except WaiterError as exc:
            raise ServingFailed(self._not_ready(name, exc.last_response or {})) from exc

    def _not_ready(self, name: str, last: dict[str, Any]) -> str:
        if "Error" in last:
            error = last["Error"]
            return (
                f"Lambda could not say whether function {name} is ready: {error.get('Message')} ({error.get('Code')})"
            )
        if last.get("State") == "Failed":
            return f"Lambda could not start function {name}: {last.get('StateReason')} ({last.get('StateReasonCode')})"
        if last.get("LastUpdateStatus") == "Failed":
            reason, code = last.get("LastUpdateStatusReason"), last.get("LastUpdateStatusReasonCode")
            return f"Lambda could not update function {name}: {reason} ({code})"
        return (
            f"Function {name} was not ready after {self.max_wait_seconds:g} s "
            f"(state {last.get('State')}, last update {last.get('LastUpdateStatus')})"
        )

    # ----------------------------------------------------------------------------------------------------- invoke

    def invoke(self, function: str, qualifier: str, event: dict[str, object]) -> Invocation:
        payload = json.dumps(event).encode()
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise PayloadTooLarge(_request_too_large(len(payload)))
        try:
            answer = self.client.invoke(
                FunctionName=function, Qualifier=qualifier, InvocationType="RequestResponse", Payload=payload
            )
        except ClientError as exc:
            raise _invoke_error(function, qualifier, exc) from exc
        except BotoCoreError as exc:
            raise ServingFailed(f"Lambda did not answer for {function}:{qualifier}: {exc}") from exc
        raw = answer["Payload"].read()
        version = answer.get("ExecutedVersion")
        if answer.get("FunctionError"):
            return _crashed(raw, version, str(answer["FunctionError"]))
        return _answered(raw, version)

    # ------------------------------------------------------------------------------------------------ route, delete

    def route(self, function: str, alias: str, version: str, canary: tuple[str, float] | None = None) -> None:
        weights = {canary[0]: canary[1]} if canary and canary[0] != version and canary[1] > 0 else {}
        routing = {"AdditionalVersionWeights": weights} if weights else {}
        with translated(f"point alias {alias} of {function} at version {version}"):
            if self._has_alias(function, alias):
                self.client.update_alias(
                    FunctionName=function, Name=alias, FunctionVersion=version, RoutingConfig=routing
                )
            else:
                extra = {"RoutingConfig": routing} if routing else {}
                self.client.create_alias(FunctionName=function, Name=alias, FunctionVersion=version, **extra)

    def _has_alias(self, function: str, alias: str) -> bool:
        try:
            self.client.get_alias(FunctionName=function, Name=alias)
        except ClientError as exc:
            if _error(exc)[0] == _NOT_FOUND:
                return False
            raise
        return True

    def delete(self, function: str) -> None:
        with translated(f"delete function {function}"):
            try:
                self.client.delete_function(FunctionName=function)
            except ClientError as exc:
                if _error(exc)[0] != _NOT_FOUND:
                    raise


# ------------------------------------------------------------------------------------------ invocation answers


def _request_too_large(size: int | None = None) -> str:
    sent = f" ({size / 1024 / 1024:.1f} MB)" if size else ""
    return (
        f"The request is too large for the deployment{sent}: Lambda accepts at most 6 MB per invocation, and the body "
        "travels base64-encoded inside it (about 4.5 MB of body). Send fewer rows per request."
    )


def _invoke_error(function: str, qualifier: str, exc: ClientError) -> Exception:
    code, message = _error(exc)
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in _TOO_LARGE or status == 413:
        return PayloadTooLarge(_request_too_large())
    if code == _NOT_FOUND:
        return ServingFunctionMissing(f"The deployment's function {function}:{qualifier} does not exist")
    if code in _THROTTLED:
        return ServingFailed(f"Lambda is throttling {function}: too many requests at once; retry later")
    return ServingFailed(f"Lambda could not invoke {function}:{qualifier}: {message} ({code})")


def _crashed(raw: bytes, version: str | None, function_error: str) -> Invocation:
    """The handler raised, timed out or ran out of memory: Lambda's error document, answered 502; a response over
    Lambda's limit is the caller's to fix (fewer rows), so 413."""
    try:
        document = json.loads(raw)
    except ValueError:
        document = None
    if isinstance(document, dict) and document.get("errorType") == _RESPONSE_TOO_LARGE:
        raise PayloadTooLarge(
            "The deployment's answer is larger than Lambda's 6 MB response limit. Send fewer rows per request."
        )
    headers = {"content-type": "application/json"}
    return Invocation(FUNCTION_ERROR_STATUS, headers, raw, version, function_error)


def _answered(raw: bytes, version: str | None) -> Invocation:
    """The handler's HTTP answer (payload 2.0: ``statusCode``, ``headers``, ``body``, ``isBase64Encoded``); any other
    JSON it returns is a 200 JSON body, as API Gateway reads it."""
    try:
        document = json.loads(raw)
    except ValueError:
        document = None
    if not isinstance(document, dict) or "statusCode" not in document:
        return Invocation(200, {"content-type": "application/json"}, raw, version)
    try:
        status = int(document["statusCode"])
        body = _body(document)
    except (TypeError, ValueError, binascii.Error) as exc:
        raise ServingFailed(f"The deployment's function answered a malformed response: {exc}") from exc
    headers = {str(k): str(v) for k, v in (document.get("headers") or {}).items()}
    return Invocation(status, headers, body, version)


def _body(document: dict[str, Any]) -> bytes:
    body = document.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        return json.dumps(body).encode()
    if document.get("isBase64Encoded"):
        return base64.b64decode(body, validate=True)
    return body.encode()
