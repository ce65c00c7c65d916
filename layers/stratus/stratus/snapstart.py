"""Lambda SnapStart (template.yaml's ``SnapStart=enabled``, docs/deploy.md "Cold starts and SnapStart"): a composition
root names what to build before Lambda snapshots a published version, and each environment restored from the
snapshot renews what must differ between environments.

Registering is a list append in the runtime's ``snapshot_restore_py`` and is all that happens at import; Lambda calls
the hooks while it publishes a version (its init phase). With SnapStart off, or outside Lambda, nothing calls them
and the functions build on their first request as before."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from stratus.observability import get_logger


def prime_before_snapshot(build: Callable[[], object], *warm: Callable[[], object]) -> bool:
    """Register ``build`` (the function's cached composition: settings, table binding, services, route table) and
    then the ``warm`` calls (a first request through each AWS client) to run before the snapshot, and the renewal after
    each restore. False where the runtime has no SnapStart hooks (tests, ``stratus local`` without the package)."""
    hooks = _runtime_hooks()
    if hooks is None:
        return False
    register_before_snapshot, register_after_restore = hooks
    register_before_snapshot(prime, build, *warm)
    register_after_restore(renew)
    return True


def _runtime_hooks() -> tuple[Any, Any] | None:
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:  # not a Lambda Python runtime
        return None
    return register_before_snapshot, register_after_restore


def prime(build: Callable[[], object], *warm: Callable[[], object]) -> None:
    """Build the composition (a failure fails the version's publication, as it would fail every request), then warm
    the clients (a failure there only costs the first request its warm-up)."""
    build()
    for call in warm:
        try:
            call()
        except Exception:  # noqa: BLE001 - an optimisation: the first request makes the connection instead
            get_logger().warning("warm-up before the snapshot failed", call=getattr(call, "__name__", str(call)))


def renew() -> None:
    """Every environment restored from one snapshot starts with the same state of ``random`` (seeded once, at import):
    reseed it from the OS, so that backoff jitter differs between environments. ``uuid4`` and ``secrets`` read the OS
    directly; AWS credentials come from the runtime's credentials endpoint after a restore and are refreshed by
    botocore; a pooled connection that the restore left stale is dropped and remade by urllib3."""
    random.seed()
