"""``python -m benchmarks.compare --quick``: every workload runs against both servers and the report is sane.

The benchmark runs in its own process (it starts its own ``stratus local`` in-process and sets the environment the
handlers read, which must not mix with this session's stack)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from child_process import child_environment

PROJECT_DIR = Path(__file__).resolve().parents[2]
WORKLOADS = {"logging", "search", "history", "registry", "small_artifacts", "large_artifact"}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("compare") / "report.json"
    # Not this session's stack: the benchmark starts its own, with its own embedded moto and DynamoDB Local.
    env = child_environment()
    completed = subprocess.run(  # noqa: S603 - our interpreter, our module
        [sys.executable, "-m", "benchmarks.compare", "--quick", "--skip-cold", "--json", str(out)],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return json.loads(out.read_text())


def test_every_workload_ran_on_both_servers_and_saw_the_same_thing(report: dict) -> None:
    workloads = report["workloads"]
    assert set(workloads) == WORKLOADS
    for key, figures in workloads.items():
        assert figures["stratus"]["counts"] == figures["mlflow"]["counts"], key
        assert figures["stratus"]["seconds"] > 0 and figures["mlflow"]["seconds"] > 0, key
        assert figures["ratio"] == pytest.approx(figures["stratus"]["seconds"] / figures["mlflow"]["seconds"])


def test_the_workloads_did_what_they_say(report: dict) -> None:
    scale, w = report["scale"], report["workloads"]
    assert w["logging"]["stratus"]["counts"]["points"] == scale["runs"] * scale["metrics"] * scale["steps"]
    search = w["search"]["stratus"]["counts"]
    assert search["runs_found"] == scale["search_runs"] and search["ordered"] == 1
    assert search["pages"] == -(-scale["search_runs"] // scale["search_page"]) > 1
    assert w["history"]["stratus"]["counts"]["points"] == scale["history_points"]
    assert w["registry"]["stratus"]["counts"]["versions"] == scale["versions"]
    assert w["small_artifacts"]["stratus"]["counts"]["files_back_identical"] == scale["small_files"]
    assert w["large_artifact"]["stratus"]["counts"]["identical"] == 1


def test_aws_usage_is_counted_and_the_independent_counts_agree(report: dict) -> None:
    w = report["workloads"]
    for key, figures in w.items():
        assert figures["gateway_requests"] > 0, key
        hooked = {op.split(":", 1)[1]: n for op, n in figures["aws_requests"].items() if op.startswith("dynamodb:")}
        assert hooked == figures["dynamodb_proxy_requests"], key
        assert sum(hooked.values()) == figures["dynamodb"]["requests"], key
        assert figures["bill"]["total"] > 0, key
    assert w["logging"]["dynamodb"]["wcu"] > 0
    assert w["search"]["dynamodb"]["rcu"] > 0
    assert w["registry"]["eventbridge_events"] > 0
    small_puts = w["small_artifacts"]["moto_requests"].get("s3:PUT", 0)
    assert small_puts >= report["scale"]["small_files"]
    assert w["large_artifact"]["moto_requests"].get("s3:PUT", 0) >= 3  # create, parts, complete


def test_the_monthly_figures_are_there(report: dict) -> None:
    monthly = report["monthly"]
    assert monthly["per_million_points"] > 0 and monthly["per_thousand_runs_searched"] > 0
    assert 0 < monthly["idle_empty"] <= monthly["idle_year_of_data"] < monthly["managed"]
    assert report["team_month"] > monthly["usage"]
