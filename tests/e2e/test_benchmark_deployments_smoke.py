"""``python -m benchmarks.deployments --quick`` at a tiny size, in a process of its own (it starts its own ``stratus
local`` and ``mlflow models serve``): it runs, every path is timed, an endpoint request costs one read of the
deployment and one invoke, and the alias move fails no request."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from child_process import child_environment

PROJECT_DIR = Path(__file__).resolve().parents[2]
PATHS = {"predict", "scorer", "lambda", "endpoint", "reference"}

pytestmark = pytest.mark.xdist_group("benchmark_deployments")


@pytest.fixture(autouse=True)
def _fluent_client() -> None:
    """No ``stratus local`` in this test's process: the benchmark starts its own (this replaces conftest's fixture,
    which would start the session's stack first, ~20 s on a busy machine, for nothing)."""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("deployments") / "report.json"
    command = [sys.executable, "-m", "benchmarks.deployments", "--quick", "--requests", "5", "--warmup", "2",
               "--json", str(out)]  # fmt: skip
    completed = subprocess.run(  # noqa: S603 - our interpreter, our module
        command, cwd=PROJECT_DIR, env=child_environment(), capture_output=True, text=True, timeout=300, check=False
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "compare side by side in one run" in completed.stdout
    return json.loads(out.read_text())


def test_every_path_is_timed_for_both_request_sizes(report: dict) -> None:
    assert set(report["latency"]) == PATHS
    for path, by_rows in report["latency"].items():
        assert set(by_rows) == {"2", "100"}, path
        assert all(f["count"] == 5 and 0 < f["median_ms"] <= f["p95_ms"] for f in by_rows.values()), path
    assert report["same_predictions"] is True


def test_an_endpoint_request_reads_the_deployment_once_and_invokes_its_function(report: dict) -> None:
    cost = report["per_request"]
    assert cost["invocations"] == 1
    assert cost["aws_requests"] == {"dynamodb:GetItem": 1, "lambda:Invoke": 1}
    assert (cost["dynamodb_rcu"], cost["dynamodb_wcu"]) == (1, 0)  # one strongly consistent read of a small item


def test_the_alias_move_reaches_the_traffic_with_no_failed_request(report: dict) -> None:
    (move,) = report["moves"]
    assert move["requests"] > 0 and move["failed"] == 0 and move["old_after_new"] == 0
    assert move["first_new_s"] > 0 and move["reported_s"] > 0
    assert any(name == "DeploymentRolloutsFunction" for name, _, _ in move["chain"])


def test_new_deployments_are_ready_when_create_returns(report: dict) -> None:
    assert [c["state"] for c in report["creations"]] == ["READY", "READY"]
    assert all(c["first_ok_s"] > 0 and c["returned_s"] > 0 for c in report["creations"])
