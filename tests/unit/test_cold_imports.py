"""What a function imports before its first request is its cold start (docs/benchmarks.md, part 4). boto3 (with
s3transfer, ~100 ms) is imported on first use by the stores that need it (S3, KMS), never by a handler module, since
pynamodb talks to DynamoDB through botocore alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[2]
PROBE = "import json, sys; import app; print(json.dumps([m for m in ('boto3', 's3transfer') if m in sys.modules]))"


@pytest.mark.parametrize(
    "function", ["tracking", "registry", "artifacts", "ui", "webhooks", "promotion", "registration"]
)
def test_a_handler_module_does_not_import_boto3(function: str) -> None:
    """Given a function's folder and the layer, as the Lambda runtime sets them up,
    when its handler module is imported in a fresh interpreter,
    then neither boto3 nor s3transfer has been imported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STRATUS_"))}
    env["PYTHONPATH"] = str(PROJECT_DIR / "layers" / "stratus")
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed snippet
        [sys.executable, "-c", PROBE],
        cwd=PROJECT_DIR / "functions" / function,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
