"""The environment for a child process that runs Stratus code (a ``stratus local``, a benchmark, a load test).

A stack started in this test worker exports its endpoints (``AWS_ENDPOINT_URL*``), its table and bucket names
(``STRATUS_*``) and the tracking URI into ``os.environ``. A child that inherited them would use that stack's
DynamoDB and S3 instead of starting its own, and find other tests' runs there.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
STACK_PREFIXES = ("AWS_", "STRATUS_", "MLFLOW_TRACKING_")
"""Variables a stack or the e2e session sets for itself; a child must not see them."""


def child_environment(*dropped: str) -> dict[str, str]:
    """This process's environment without the stack's variables (and those starting with ``dropped``), with the
    project's layers and this folder on ``PYTHONPATH``, as pytest has them (a test file run as a child imports them
    as the test did)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith((*STACK_PREFIXES, *dropped))}
    paths = [str(PROJECT_DIR / "layers" / "stratus"), str(PROJECT_DIR / "layers" / "local"), str(PROJECT_DIR / "tests")]
    env["PYTHONPATH"] = os.pathsep.join([*paths, *filter(None, [os.environ.get("PYTHONPATH")])])
    return env
