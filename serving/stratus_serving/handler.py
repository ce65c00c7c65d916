"""A deployment's Lambda handler (image command ``stratus_serving.handler.handler``): HTTP API events (payload 2.0)
in, MLflow's scoring answers out. The model is loaded once per container, on the first request (its cold start)."""

from __future__ import annotations

import base64
from functools import cache
from typing import Any

from stratus_serving.scoring import Lineage, Scorer

ROUTE_PREFIX = "/api/2.0/stratus/deployments/"


@cache
def scorer() -> Scorer:
    return Scorer.load(Lineage.from_env())


def request_path(event: dict[str, Any]) -> str:
    """The scoring path of the request: ``/invocations`` whether the function is called on its own URL or through
    the Stratus API (``/api/2.0/stratus/deployments/<name>/invocations``)."""
    path = str(event.get("rawPath") or event.get("requestContext", {}).get("http", {}).get("path") or "/")
    if ROUTE_PREFIX in path:
        path = "/" + path.split(ROUTE_PREFIX, 1)[1].split("/", 1)[-1]
    return path


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    http = event.get("requestContext", {}).get("http", {})
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    raw = event.get("body") or ""
    body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode()
    answer = scorer().answer(
        str(http.get("method", "GET")).upper(), request_path(event), headers.get("content-type"), body
    )
    return {
        "statusCode": answer.status,
        "headers": {"content-type": answer.content_type, **answer.headers},
        "body": answer.body.decode("utf-8", errors="replace"),
        "isBase64Encoded": False,
    }
