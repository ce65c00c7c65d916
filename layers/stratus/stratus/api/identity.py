"""Who made a request, as API Gateway established it (never what the client claims).

API Gateway puts what its authorizer verified in ``requestContext.authorizer`` and clients cannot write there: one
key per authorizer type (payload format 2.0):

* ``iam``: SigV4 (AuthorizationType ``AWS_IAM``), the principal in ``userArn``;
* ``jwt``: a JWT authorizer (AuthorizationType ``JWT``, any OIDC issuer, Cognito included), the token's ``claims``
  (``stratus local --auth-*`` delivers its users the same way);
* ``lambda``: a Lambda authorizer's ``context``, for a deployment that adds one.

With AuthorizationType ``NONE`` there is no ``authorizer`` at all and the caller is anonymous.
"""

from __future__ import annotations

from typing import Any

ANONYMOUS = "anonymous"

USER_CLAIMS = ("username", "cognito:username", "email", "sub")
"""JWT claims naming the user, best first: Cognito access tokens carry ``username``, its ID tokens
``cognito:username``; ``sub`` is the one claim every OIDC token has (stable, but opaque)."""

LAMBDA_CONTEXT_KEYS = ("username", "user", "sub", "principalId")
"""Keys of a Lambda authorizer's context naming the user, best first."""


def authenticated_user(event: dict[str, Any]) -> str | None:
    """The principal an authorizer verified: the IAM ARN, the JWT's user claim or a Lambda authorizer's user; ``None``
    when no authorizer ran (or it named nobody)."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    iam = authorizer.get("iam") or {}
    if iam.get("userArn"):
        return str(iam["userArn"])
    claims = (authorizer.get("jwt") or {}).get("claims") or {}
    lambda_context = authorizer.get("lambda") or {}
    for source, keys in ((claims, USER_CLAIMS), (lambda_context, LAMBDA_CONTEXT_KEYS)):
        for key in keys:
            if source.get(key):
                return str(source[key])
    return None


def caller(event: dict[str, Any]) -> str:
    """:func:`authenticated_user`, else ``anonymous``: who a change is attributed to in the promotion history."""
    return authenticated_user(event) or ANONYMOUS
