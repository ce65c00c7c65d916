"""Optional authentication for ``stratus local``, so that a team can share one machine's server.

Two credentials, as the stock MLflow client sends them (``mlflow/utils/rest_utils.py``):

* a bearer token (``--auth-token``; clients set ``MLFLOW_TRACKING_TOKEN``): ``Authorization: Bearer <token>``;
* users with passwords (``--auth-user USER:PASSWORD``; clients set ``MLFLOW_TRACKING_USERNAME`` and
  ``MLFLOW_TRACKING_PASSWORD``): ``Authorization: Basic base64(user:password)``. A browser asks for them too.

A request with neither gets 401 and MLflow's error JSON (``UNAUTHENTICATED``) before any function runs. An
authenticated request reaches the function as a deployed JWT authorizer would deliver it: the user in
``requestContext.authorizer.jwt.claims``, which ``stratus.api.identity`` reads. Secrets are compared in constant time
and never logged.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

TOKEN_ENV = "STRATUS_AUTH_TOKEN"
USERS_ENV = "STRATUS_AUTH_USERS"
"""Comma-separated ``USER:PASSWORD`` pairs (a password containing a comma needs ``--auth-user``)."""
TOKEN_USER = "token"
"""Who a bearer-token request acts as: the token is shared, so it names no person."""
REALM = "stratus"
_NO_PASSWORD = "\x00" * 32
"""Compared against when the user is unknown, so an unknown name takes as long as a wrong password."""


class AuthConfigError(ValueError):
    """An ``--auth-*`` option or ``STRATUS_AUTH_*`` variable is malformed."""


@dataclass(frozen=True)
class LocalAuth:
    """The credentials ``stratus local`` accepts: one shared bearer token, named users, or both."""

    token: str | None = None
    users: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_options(
        cls, token: str | None, users: Iterable[str] | None, environ: Mapping[str, str] = os.environ
    ) -> LocalAuth | None:
        """From the command line, else ``STRATUS_AUTH_TOKEN`` / ``STRATUS_AUTH_USERS``; ``None`` when neither gives a
        credential (the server is then open, as before)."""
        token = token or environ.get(TOKEN_ENV) or None
        pairs = list(users or []) or [p for p in environ.get(USERS_ENV, "").split(",") if p.strip()]
        parsed: dict[str, str] = {}
        for pair in pairs:
            name, sep, password = pair.partition(":")
            name = name.strip()
            if not sep or not name or not password:
                raise AuthConfigError(f"expected USER:PASSWORD with both parts, got {_redacted(pair)}")
            parsed[name] = password
        if token is not None and len(token) < 8:
            raise AuthConfigError("the auth token must be at least 8 characters")
        if token is None and not parsed:
            return None
        return cls(token=token, users=parsed)

    def authenticate(self, authorization: str | None) -> str | None:
        """The user an ``Authorization`` header proves, or ``None``."""
        scheme, _, credentials = (authorization or "").strip().partition(" ")
        credentials = credentials.strip()
        if scheme.lower() == "bearer" and self.token is not None:
            return TOKEN_USER if _same(credentials, self.token) else None
        if scheme.lower() == "basic" and self.users:
            return self._basic(credentials)
        return None

    def _basic(self, credentials: str) -> str | None:
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        name, sep, password = decoded.partition(":")
        expected = self.users.get(name)
        # Compare even for an unknown user, so timing does not tell which names exist.
        matches = _same(password, _NO_PASSWORD if expected is None else expected)
        return name if sep and expected is not None and matches else None

    def authorizer(self, user: str) -> dict[str, Any]:
        """``requestContext.authorizer`` as a deployed JWT authorizer delivers it for ``user``."""
        return {"jwt": {"claims": {"sub": user, "username": user, "iss": f"stratus-local/{REALM}"}, "scopes": None}}

    def challenge(self) -> tuple[int, list[tuple[str, str]], bytes]:
        """The 401 for a request without valid credentials: status, headers, MLflow error JSON."""
        accepted = [scheme for scheme, on in (("Bearer", self.token), ("Basic", self.users)) if on]
        headers = [("Content-Type", "application/json")]
        headers += [("WWW-Authenticate", f'{scheme} realm="{REALM}"') for scheme in accepted]
        how = " or ".join(
            hint
            for hint, on in (
                ("MLFLOW_TRACKING_TOKEN", self.token),
                ("MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD", self.users),
            )
            if on
        )
        body = {
            "error_code": "UNAUTHENTICATED",
            "message": f"This stratus local server requires authentication: set {how} in the client's environment.",
        }
        return 401, headers, json.dumps(body).encode()

    def describe(self) -> str:
        """For the banner: which credentials are accepted, never the secrets."""
        parts = []
        if self.token is not None:
            parts.append("a bearer token (MLFLOW_TRACKING_TOKEN)")
        if self.users:
            parts.append(f"{len(self.users)} user(s) with passwords (MLFLOW_TRACKING_USERNAME/PASSWORD)")
        return "authentication required: " + " or ".join(parts)


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _redacted(pair: str) -> str:
    name = pair.partition(":")[0]
    return f"{name!r} with the password hidden" if ":" in pair else "a value without ':'"
