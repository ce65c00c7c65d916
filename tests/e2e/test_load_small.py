"""A small run of ``python -m benchmarks.load``: the stock client in several processes and threads against a fresh
``stratus local``, every point counted back with ``get_metric_history``. The full run sends 100,000 points."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from child_process import child_environment

PROJECT_DIR = Path(__file__).resolve().parents[2]
LOAD_TIMEOUT_S = 600


def run_load(tmp_path: Path, *options: str) -> dict[str, Any]:
    figures = tmp_path / "figures.json"
    env = child_environment()  # not this worker's stack: the child starts its own
    command = [sys.executable, "-m", "benchmarks.load", "--points", "5000", "--processes", "2", "--threads", "2"]
    child = subprocess.run(  # noqa: S603 - this interpreter, this project's module
        [*command, "--batch", "250", "--singles", "20", *options, "--json", str(figures)],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=LOAD_TIMEOUT_S,
        check=False,
    )
    assert child.returncode == 0, child.stdout[-2000:] + child.stderr[-4000:]
    return json.loads(figures.read_text())  # type: ignore[no-any-return]


def test_5000_points_from_4_client_threads_are_all_found_once(tmp_path: Path) -> None:
    figures = run_load(tmp_path)

    assert figures["failed_calls"] == []
    assert figures["points_sent"] == 5_000
    assert (figures["points_found"], figures["points_lost"], figures["points_duplicated"]) == (5_000, 0, 0)
    assert figures["retries"] == 0
    assert figures["log_requests"] == figures["client_log_calls"] == 4 * 20 + 4 * 5  # 20 singles, 1,230 / 250


@pytest.mark.parametrize("rate", ["0.05"])
def test_5000_points_through_throttled_dynamodb_are_all_found_once(tmp_path: Path, rate: str) -> None:
    """Given a share of DynamoDB calls failing with ProvisionedThroughputExceededException after botocore's retries,
    the API answers 429 (never 500), the stock client retries, and every point lands exactly once."""
    figures = run_load(tmp_path, "--fault-rate", rate, "--seed", "7")

    assert figures["failed_calls"] == []
    assert (figures["points_found"], figures["points_lost"], figures["points_duplicated"]) == (5_000, 0, 0)
    assert figures["retries"] > 0
    assert set(figures["answers"]) == {"200", "429"}
