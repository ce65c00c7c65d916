"""``stratus import`` / ``stratus export`` end to end: a reference ``mlflow server`` loaded with real-looking data
(tests/e2e/migration_data.py) is imported into a ``stratus local`` of its own, every record and artifact byte
compared; a second import copies nothing; ``stratus export`` fills a fresh reference server, compared the same way.

The ``stratus local`` keeps artifacts direct (``s3://`` locations, as a deployed stack does by default): the
third-party tool below only registers versions whose source is a local path or ``s3://``. Its S3 endpoint and keys
go to the child processes that read it (the commands, the snapshots), never into this process, where the session's
own stack has set other ones."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from child_process import child_environment
from conftest import ReferenceServer
from local_process import stratus_local_process
from migration_data import load
from mlflow import MlflowClient
from mlflow.entities import ViewType

SNAPSHOT_SCRIPT = Path(__file__).with_name("migration_data.py")

pytestmark = [pytest.mark.xdist_group("migration"), pytest.mark.timeout(900)]  # one load of the servers


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The loaded source reference, an empty reference for the export, and an empty ``stratus local``."""
    source = ReferenceServer(tmp_path_factory.mktemp("mig-source"))
    target = ReferenceServer(tmp_path_factory.mktemp("mig-target"))
    source.start()
    target.start()
    try:
        log = tmp_path_factory.mktemp("mig-stratus") / "local.log"
        with stratus_local_process(["--artifacts", "direct"], log) as exports:
            STRATUS_ENV.update(exports)
            load(source.wait(), tmp_path_factory.mktemp("mig-data"))
            yield {"source": source.url, "target": target.wait(), "stratus": exports["MLFLOW_TRACKING_URI"]}
    finally:
        source.stop()
        target.stop()


STRATUS_ENV: dict[str, str] = {}
"""What a client of the module's stratus local needs (MLFLOW_TRACKING_URI, the S3 endpoint and keys)."""


def environment(tracking_uri: str) -> dict[str, str]:
    """A child's environment for talking to ``tracking_uri`` (and, when set, the stratus local's S3)."""
    quiet = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
    return {**child_environment(), **STRATUS_ENV, **quiet, "MLFLOW_TRACKING_URI": tracking_uri}


def snapshot(uri: str, only: str = "") -> dict[str, Any]:
    """migration_data.snapshot, taken by a child process (see the module doc), as JSON."""
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(SNAPSHOT_SCRIPT), uri, *([only] if only else [])],
        capture_output=True, text=True, env=environment(uri), timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def first_difference(actual: Any, expected: Any, path: str = "") -> str | None:
    """Where two snapshots first differ, for a readable failure."""
    if isinstance(actual, dict) and isinstance(expected, dict):
        for key in sorted(set(actual) | set(expected)):
            if key not in actual or key not in expected:
                return f"{path}/{key}: only in {'expected' if key in expected else 'actual'}"
            found = first_difference(actual[key], expected[key], f"{path}/{key}")
            if found:
                return found
        return None
    return None if actual == expected else f"{path}: {actual!r} != {expected!r}"


def stratus_command(stratus: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = environment(stratus)
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "stratus_local.cli", *args, "--workers", "3"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )


def copied_counts(stdout: str) -> dict[str, tuple[int, int]]:
    """The summary's (copied, already there) per kind."""
    kinds = "experiments|runs|logged models|registered models|model versions"
    rows = re.findall(rf"^({kinds})\s+(\d+)\s+(\d+)$", stdout, re.M)
    return {kind: (int(copied), int(skipped)) for kind, copied, skipped in rows}


@pytest.fixture(scope="module")
def source_snapshot(servers: dict[str, str]) -> dict[str, Any]:
    return snapshot(servers["source"])


@pytest.fixture(scope="module")
def imported(servers: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return stratus_command(servers["stratus"], "import", "--from", servers["source"])


def test_import_copies_every_record_and_artifact_byte(
    servers: dict[str, str], imported: Any, source_snapshot: dict[str, Any]
) -> None:
    assert imported.returncode == 0, imported.stdout + imported.stderr[-3000:]
    assert copied_counts(imported.stdout) == {
        "experiments": (3, 1),  # Default is there already
        "runs": (7, 0),
        "logged models": (1, 0),
        "registered models": (1, 0),
        "model versions": (2, 0),
    }
    assert first_difference(snapshot(servers["stratus"]), source_snapshot) is None
    assert "notes.txt" in str(source_snapshot)  # the scenario does hold artifacts
    source = MlflowClient(servers["source"])
    source_runs = [
        run.info.run_id
        for experiment in source.search_experiments(view_type=ViewType.ALL)
        for run in source.search_runs([experiment.experiment_id], run_view_type=ViewType.ALL)
    ]
    for run_id in source_runs:  # kept by Stratus's runs/import route
        answer = requests.get(f"{servers['stratus']}/api/2.0/mlflow/runs/get", params={"run_id": run_id}, timeout=30)
        assert answer.status_code == 200, answer.text


def test_second_import_copies_nothing_twice(servers: dict[str, str], imported: Any) -> None:
    before = snapshot(servers["stratus"])
    again = stratus_command(servers["stratus"], "import", "--from", servers["source"], "--no-progress")
    assert again.returncode == 0, again.stdout + again.stderr[-3000:]
    counts = copied_counts(again.stdout)
    assert {kind: copied for kind, (copied, _) in counts.items()} == dict.fromkeys(counts, 0)
    assert counts["runs"] == (0, 6)  # the deleted experiment's run is behind its experiment, skipped whole
    assert snapshot(servers["stratus"]) == before


def test_export_fills_a_plain_mlflow_server(
    servers: dict[str, str], imported: Any, source_snapshot: dict[str, Any]
) -> None:
    exported = stratus_command(servers["stratus"], "export", "--to", servers["target"])
    assert exported.returncode == 0, exported.stdout + exported.stderr[-3000:]
    assert first_difference(snapshot(servers["target"]), source_snapshot) is None


# The third-party tool databricks-mlflow-export-import (CLI), both directions through Stratus, under names of its
# own (exim-*) that the snapshots above leave out.


def exim(command: str, tracking_uri: str, *args: str) -> None:
    env = environment(tracking_uri)
    tool = Path(sys.executable).parent / command
    done = subprocess.run([str(tool), *args], capture_output=True, text=True, env=env, timeout=300, check=False)  # noqa: S603
    assert done.returncode == 0, f"{command}: {done.stdout[-2000:]}{done.stderr[-3000:]}"


def tool_view(runs: dict[str, Any]) -> dict[str, Any]:
    """What the tool carries over: params, metric histories, artifact bytes and the user's own tags."""
    return {
        name: (run["params"], run["metrics"], run["artifacts"], {k: v for k, v in run["tags"].items() if "." not in k})
        for name, run in runs.items()
    }


@pytest.mark.skipif(
    not (Path(sys.executable).parent / "export-experiment").exists(), reason="databricks-mlflow-export-import missing"
)
def test_export_import_tool_moves_an_experiment_and_a_model_both_ways(
    servers: dict[str, str], tmp_path: Path, imported: Any, source_snapshot: dict[str, Any]
) -> None:
    source, stratus, target = servers["source"], servers["stratus"], servers["target"]
    # version 1 only on the way back: the tool takes a version's path from the first "artifacts" in its source,
    # which for version 2 (s3://<bucket>/mlartifacts/<exp>/<run>/artifacts/extra) is the prefix's (docs/migration.md)
    for origin, experiment, model, destination, prefix, versions in (
        (source, "mig-churn", "doubler", stratus, "exim", []),
        (stratus, "exim-churn", "exim-doubler", target, "exim-back", ["--versions", "1"]),
    ):
        folder = tmp_path / prefix
        exim("export-experiment", origin, "--experiment", experiment, "--output-dir", str(folder / "exp"))
        exim(
            "import-experiment", destination, "--experiment-name", f"{prefix}-churn", "--input-dir", str(folder / "exp")
        )
        exim("export-model", origin, "--model", model, *versions, "--output-dir", str(folder / "model"))
        exim(
            "import-model", destination, "--model", f"{prefix}-doubler", "--experiment-name", f"{prefix}-runs",
            "--input-dir", str(folder / "model"),
        )  # fmt: skip

    arrived = {"exim": snapshot(stratus, only="exim-"), "exim-back": snapshot(target, only="exim-")}
    expected = tool_view(source_snapshot["experiments"]["mig-churn"]["runs"])
    model = source_snapshot["registry"]["doubler"]
    expected_versions = [v[:3] for v in model["versions"].values()]
    for prefix, versions in (("exim", 2), ("exim-back", 1)):
        assert tool_view(arrived[prefix]["experiments"][f"{prefix}-churn"]["runs"]) == expected
        copy = arrived[prefix]["registry"][f"{prefix}-doubler"]
        assert (copy["description"], copy["tags"]) == (model["description"], model["tags"])
        assert [v[:3] for v in copy["versions"].values()] == expected_versions[:versions]


def test_a_run_whose_copy_was_interrupted_is_copied_again(
    servers: dict[str, str], imported: Any, source_snapshot: dict[str, Any]
) -> None:
    """As if an import had died before a run's last step (its state tag still set): the next run deletes that copy
    and copies the run again, under a new id (the deleted copy keeps the old one)."""
    stratus = MlflowClient(servers["stratus"])
    churn = stratus.get_experiment_by_name("mig-churn")
    (half_copied,) = stratus.search_runs([churn.experiment_id], "attributes.run_name = 'trial-1'")
    stratus.set_tag(half_copied.info.run_id, "stratus.import.state", "copying")

    again = stratus_command(servers["stratus"], "import", "--from", servers["source"], "--no-progress")

    assert again.returncode == 0, again.stdout + again.stderr[-3000:]
    assert copied_counts(again.stdout)["runs"] == (1, 5)
    assert stratus.get_run(half_copied.info.run_id).info.lifecycle_stage == "deleted"
    assert first_difference(snapshot(servers["stratus"]), source_snapshot) is None
