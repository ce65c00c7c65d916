"""Who made a request, as API Gateway established it (never what the client claims)."""

from __future__ import annotations

from typing import Any

ANONYMOUS = "anonymous"


def caller(event: dict[str, Any]) -> str:
    """The IAM principal ARN (SigV4), the JWT's username or subject (JWT authorizer), else ``anonymous``."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    iam = authorizer.get("iam") or {}
    if iam.get("userArn"):
        return str(iam["userArn"])
    claims = (authorizer.get("jwt") or {}).get("claims") or {}
    for claim in ("username", "cognito:username", "email", "sub"):
        if claims.get(claim):
            return str(claims[claim])
    return ANONYMOUS
