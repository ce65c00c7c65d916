"""The migration copier's pure rules: how a version's source is rewritten to the copies, in which order nested runs
are copied, and what the summary says."""

from __future__ import annotations

import io

from mlflow.entities.model_registry import ModelVersion

from stratus_local.migrate.copier import Migration, Side, _depth
from stratus_local.migrate.models import _rewritten_source
from stratus_local.migrate.report import Progress, Summary


def migration() -> Migration:
    copy = Migration(Side("http://old:5000"), Side("http://new:5000"), Summary(), Progress(None), workers=1)
    copy.run_ids["r-old"] = "r-new"
    copy.run_artifact_uris["r-old"] = ("/srv/mlruns/1/r-old/artifacts", "mlflow-artifacts:/7/r-new/artifacts")
    copy.model_ids["m-old"] = "m-new"
    copy.model_artifact_uris["m-old"] = ("/srv/mlruns/1/models/m-old/artifacts", "s3://b/7/models/m-new/artifacts")
    return copy


def version(source: str, run_id: str | None = "r-old", model_id: str | None = None) -> ModelVersion:
    return ModelVersion("m", "1", 0, source=source, run_id=run_id, model_id=model_id)


def test_a_logged_model_source_names_the_copy_even_without_the_model_id_field() -> None:
    assert _rewritten_source(migration(), version("models:/m-old", model_id=None)) == (
        "models:/m-new",
        "r-new",
        "m-new",
    )


def test_a_runs_uri_names_the_copied_run() -> None:
    assert _rewritten_source(migration(), version("runs:/r-old/model")) == ("runs:/r-new/model", "r-new", None)


def test_a_path_inside_the_old_artifact_location_moves_under_the_copys() -> None:
    run_path = _rewritten_source(migration(), version("/srv/mlruns/1/r-old/artifacts/model"))
    model_path = _rewritten_source(migration(), version("/srv/mlruns/1/models/m-old/artifacts", run_id=None))
    assert run_path[0] == "mlflow-artifacts:/7/r-new/artifacts/model"
    assert model_path == ("s3://b/7/models/m-new/artifacts", None, None)


def test_a_source_outside_both_servers_is_kept() -> None:
    assert _rewritten_source(migration(), version("s3://elsewhere/model", run_id=None)) == (
        "s3://elsewhere/model",
        None,
        None,
    )


def test_children_come_a_level_after_their_parents_and_a_cycle_ends() -> None:
    parents = {"a": None, "b": "a", "c": "b", "x": "y", "y": "x", "orphan": "gone"}
    assert [_depth(run, parents) for run in ("a", "b", "c", "orphan")] == [0, 1, 2, 0]
    assert _depth("x", parents) == 1  # a parent loop stops instead of spinning


def test_the_summary_counts_each_kind_and_says_why_something_was_refused() -> None:
    summary = Summary()
    summary.count_copied("runs")
    summary.count_copied("runs")
    summary.count_skipped("experiments")
    summary.count_artifacts(3, 120)
    summary.refuse("run", "r1", "its parent run r0 was not copied")
    text = summary.render()
    assert "runs                     2              0" in text
    assert "experiments              0              1" in text
    assert "artifacts copied: 3 files, 120 bytes" in text
    assert "refused: 1\n  run r1: its parent run r0 was not copied" in text


def test_the_progress_bar_fills_as_items_end() -> None:
    stream = io.StringIO()
    progress = Progress(stream)
    progress.start("runs", 2)
    progress.advance()
    progress.advance()
    assert stream.getvalue().split("\r")[-1].startswith("runs               [##############################] 2/2")
