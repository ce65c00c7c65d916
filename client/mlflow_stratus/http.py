"""Talking to Stratus over HTTP the way MLflow's tracking client does.

Requests go through MLflow's own ``http_request`` with the host credentials MLflow builds for the tracking URI, so
``MLFLOW_TRACKING_TOKEN``, ``MLFLOW_TRACKING_USERNAME``/``PASSWORD``, ``MLFLOW_TRACKING_AWS_SIGV4``, the TLS settings
and the retry settings behave exactly as for ``mlflow.log_metric``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any
from urllib.parse import urlparse

import requests
from mlflow.exceptions import MlflowException, get_error_code
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, INVALID_PARAMETER_VALUE, ErrorCode
from mlflow.utils.credentials import get_default_host_creds
from mlflow.utils.request_utils import cloud_storage_http_request
from mlflow.utils.rest_utils import MlflowHostCreds, http_request

_BODY_EXCERPT = 500
# A query string ("?a=b&..."), as in a presigned URL or in urllib3's "Max retries exceeded with url: /key?X-Amz-...".
_QUERY_STRING = re.compile(r"\?(?=[^\s'\"]*=)[^\s'\"]*")


class StratusHttp:
    """JSON calls to the Stratus API at ``tracking_uri`` (an ``http://`` or ``https://`` URL)."""

    def __init__(self, tracking_uri: str, host_creds: Callable[[], MlflowHostCreds] | None = None) -> None:
        if urlparse(tracking_uri).scheme not in ("http", "https"):
            raise MlflowException(
                f"The stratus plugin needs the tracking URI to be the Stratus URL (http:// or https://), not "
                f"{tracking_uri!r}; set MLFLOW_TRACKING_URI",
                error_code=INVALID_PARAMETER_VALUE,
            )
        self.tracking_uri = tracking_uri
        # Built for each call, like MLflow's RestStore, so credentials set after start-up are used.
        self._host_creds = host_creds or partial(get_default_host_creds, tracking_uri)

    def get(self, endpoint: str, params: Mapping[str, str]) -> dict[str, Any]:
        """GET ``endpoint`` with a query string; the decoded JSON answer."""
        return self._call("GET", endpoint, params=dict(params))

    def post(self, endpoint: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST a JSON body to ``endpoint``; the decoded JSON answer."""
        return self._call("POST", endpoint, json=dict(body))

    def post_data(self, endpoint: str, data: str | bytes, content_type: str) -> dict[str, Any]:
        """POST a body that is already encoded (a scoring request) as ``content_type``; the decoded JSON answer."""
        return self._call("POST", endpoint, data=data, extra_headers={"Content-Type": content_type})

    def _call(self, method: str, endpoint: str, **kwargs: Any) -> dict[str, Any]:
        response = http_request(self._host_creds(), endpoint, method, **kwargs)
        if response.status_code != 200:
            raise error_from_response(response)
        if not response.text.strip():
            return {}
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise MlflowException(
                f"{method} {endpoint} answered 200 with a body that is not a JSON object: {_excerpt(response.text)}",
                error_code=INTERNAL_ERROR,
            )
        return answer


def error_from_response(response: requests.Response) -> MlflowException:
    """The ``MlflowException`` for an error answer: Stratus's ``{"error_code", "message"}`` when the body is one,
    else an error named after the HTTP status."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return MlflowException(body["message"], error_code=_error_code(body.get("error_code"), response.status_code))
    return MlflowException(
        f"Stratus answered HTTP {response.status_code} to {urlparse(response.url or '').path or 'a request'}: "
        f"{_excerpt(response.text)}",
        error_code=get_error_code(response.status_code),
    )


def _error_code(name: Any, status: int) -> int:
    if isinstance(name, str):
        try:
            return ErrorCode.Value(name)
        except ValueError:
            pass
    return get_error_code(status)


def put_file(url: str, headers: Mapping[str, str], path: str | os.PathLike[str], timeout: float = 600) -> None:
    """PUT the file at ``path`` to a presigned ``url`` with exactly ``headers``, streaming it from disk (with
    MLflow's retries for artifact uploads). Errors never show the URL's query string, which holds the signature."""
    with open(path, "rb") as body:
        _put(url, body, dict(headers), timeout)


def put_part(url: str, path: str | os.PathLike[str], offset: int, size: int, timeout: float = 600) -> str:
    """PUT ``size`` bytes of the file at ``path`` from ``offset`` to a presigned part ``url``; the part's ETag."""
    with open(path, "rb") as handle:
        handle.seek(offset)
        chunk = handle.read(size)
    return str(_put(url, chunk, None, timeout).headers.get("ETag", ""))


def _put(url: str, data: Any, headers: dict[str, str] | None, timeout: float) -> requests.Response:
    kwargs: dict[str, Any] = {"data": data, "timeout": timeout}
    if headers is not None:
        kwargs["headers"] = headers
    try:
        response = cloud_storage_http_request("put", url, **kwargs)
    except requests.RequestException as error:
        raise MlflowException(f"Uploading the project package failed: {_redact(str(error))}") from None
    if not 200 <= response.status_code < 300:
        raise MlflowException(
            f"Uploading the project package failed: HTTP {response.status_code}: {_excerpt(response.text)}",
            error_code=get_error_code(response.status_code),
        )
    return response


def _excerpt(text: str) -> str:
    text = text.strip()
    if len(text) > _BODY_EXCERPT:
        text = text[:_BODY_EXCERPT] + "..."
    return _redact(text) or "(empty body)"


def _redact(text: str) -> str:
    return _QUERY_STRING.sub("?...", text)
