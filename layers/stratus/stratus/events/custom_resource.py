"""CloudFormation's custom resource protocol: the answer a function PUTs to the request's presigned ``ResponseURL``,
which CloudFormation waits on (for up to the resource's ServiceTimeout) whatever happened, a failure included."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Mapping
from typing import Any

RESPONSE_TIMEOUT_SECONDS = 30


def answer(
    event: Mapping[str, Any], status: str, reason: str, physical_id: str, data: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The response document for ``event``: ``status`` is SUCCESS or FAILED; ``reason`` is shown in the stack's
    events (truncated to what CloudFormation keeps)."""
    return {
        "Status": status,
        "Reason": reason[:1000],
        "PhysicalResourceId": physical_id,
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": dict(data or {}),
    }


def send(event: Mapping[str, Any], response: Mapping[str, Any]) -> int:
    """PUT the response to the presigned URL (an empty Content-Type, which the URL was signed with); its HTTP status."""
    body = json.dumps(response).encode()
    request = urllib.request.Request(  # noqa: S310 - CloudFormation's presigned https URL
        event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
    )
    with urllib.request.urlopen(request, timeout=RESPONSE_TIMEOUT_SECONDS) as reply:  # noqa: S310
        return int(reply.status)
