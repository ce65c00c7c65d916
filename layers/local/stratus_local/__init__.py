"""``stratus local``: the project's Lambda handlers behind an emulated API Gateway HTTP API, with AWS emulated locally.

Development only; never shipped to Lambda. See docs/local.md.
"""

from stratus_local.stack import LocalStack

__all__ = ["LocalStack"]
