"""RunService and ExperimentService against the in-memory store: MLflow's rules without AWS."""

from __future__ import annotations

import pytest

from stratus.domain.entities import Metric
from stratus.domain.services import ExperimentService, RunService
from stratus.errors import InvalidParameterValue, ResourceAlreadyExists, ResourceDoesNotExist
from stratus.store.memory import InMemoryTrackingStore


@pytest.fixture
def services() -> tuple[ExperimentService, RunService]:
    store = InMemoryTrackingStore()
    clock = iter(range(1_000, 10_000_000)).__next__
    experiments = ExperimentService(store, "s3://bucket/mlartifacts", clock=clock)
    return experiments, RunService(store, experiments, clock=clock)


def test_default_experiment_is_created_on_first_use(services: tuple[ExperimentService, RunService]) -> None:
    experiments, _ = services
    default = experiments.get("0")
    assert (default.name, default.artifact_location) == ("Default", "s3://bucket/mlartifacts/0")


def test_experiment_ids_are_sequential_and_names_unique(services: tuple[ExperimentService, RunService]) -> None:
    experiments, _ = services
    assert experiments.create("a", None, {}) == "1"
    assert experiments.create("b", None, {}) == "2"
    with pytest.raises(ResourceAlreadyExists):
        experiments.create("a", None, {})


def test_experiment_id_is_read_as_an_integer_like_the_reference(services: tuple[ExperimentService, RunService]) -> None:
    experiments, _ = services
    experiments.create("a", None, {})
    assert experiments.get("01").name == "a"
    with pytest.raises(InvalidParameterValue):
        experiments.get("abc")


def test_an_imported_run_keeps_its_id_once(services: tuple[ExperimentService, RunService]) -> None:
    _, runs = services
    run = runs.create("0", "ana", 5, {}, "copied", run_id="0123456789abcdef0123456789abcdef")
    assert runs.get("0123456789abcdef0123456789abcdef").info.artifact_uri == (
        "s3://bucket/mlartifacts/0/0123456789abcdef0123456789abcdef/artifacts"
    )
    assert run.info.run_name == "copied"
    with pytest.raises(ResourceAlreadyExists):
        runs.create("0", "ana", 5, {}, None, run_id=run.run_id)
    with pytest.raises(InvalidParameterValue):
        runs.create("0", "ana", 5, {}, None, run_id="../escape")


def test_run_gets_a_generated_name_and_the_run_name_tag(services: tuple[ExperimentService, RunService]) -> None:
    _, runs = services
    run = runs.create("0", "ana", 5, {}, None)
    assert run.info.run_name
    assert run.tags["mlflow.runName"] == run.info.run_name
    assert run.info.artifact_uri == f"s3://bucket/mlartifacts/0/{run.run_id}/artifacts"


def test_run_name_and_tag_that_disagree_are_refused(services: tuple[ExperimentService, RunService]) -> None:
    _, runs = services
    with pytest.raises(InvalidParameterValue):
        runs.create("0", "ana", 5, {"mlflow.runName": "x"}, "y")


def test_run_in_a_deleted_experiment_is_refused(services: tuple[ExperimentService, RunService]) -> None:
    experiments, runs = services
    exp = experiments.create("gone", None, {})
    experiments.delete(exp)
    with pytest.raises(InvalidParameterValue):
        runs.create(exp, "ana", 5, {}, None)


def test_log_batch_rejects_changed_param_value_and_writes_nothing(
    services: tuple[ExperimentService, RunService],
) -> None:
    _, runs = services
    run_id = runs.create("0", "ana", 5, {}, None).run_id
    runs.log_param(run_id, "p", "1")
    with pytest.raises(InvalidParameterValue, match="Changing param values is not allowed"):
        runs.log_batch(run_id, [Metric("m", 1.0, 1, 0)], [("q", "2"), ("p", "2")], [("t", "v")])
    run = runs.get(run_id)
    assert run.params == {"p": "1"}
    assert run.metrics == {}
    assert "t" not in run.tags
    assert runs.get_metric_history(run_id, "m", None, None) == ([], None)


def test_latest_metric_is_highest_step_then_timestamp_then_value(
    services: tuple[ExperimentService, RunService],
) -> None:
    _, runs = services
    run_id = runs.create("0", "ana", 5, {}, None).run_id
    runs.log_batch(run_id, [Metric("m", 5.0, 100, 2), Metric("m", 9.0, 500, 1), Metric("m", 7.0, 100, 2)], [], [])
    assert runs.get(run_id).metrics["m"].value == 7.0
    runs.log_metric(run_id, Metric("m", 1.0, 99, 2))
    assert runs.get(run_id).metrics["m"].value == 7.0


def test_metric_history_pages_with_tokens(services: tuple[ExperimentService, RunService]) -> None:
    _, runs = services
    run_id = runs.create("0", "ana", 5, {}, None).run_id
    runs.log_batch(run_id, [Metric("m", float(i), i, i) for i in range(25)], [], [])
    page, token = runs.get_metric_history(run_id, "m", 10, None)
    assert [m.step for m in page] == list(range(10)) and token
    page, token = runs.get_metric_history(run_id, "m", 10, token)
    page3, last = runs.get_metric_history(run_id, "m", 10, token)
    assert [m.step for m in page3] == list(range(20, 25)) and last is None


def test_bulk_interval_keeps_first_and_last_point(services: tuple[ExperimentService, RunService]) -> None:
    _, runs = services
    run_id = runs.create("0", "ana", 5, {}, None).run_id
    runs.log_batch(run_id, [Metric("m", float(i), i, i) for i in range(100)], [], [])
    sampled = runs.get_metric_history_bulk_interval([run_id], "m", 5, None, None)
    # the reference (mlflow 3.17.2 server, SQLite) answers exactly these steps: NTILE buckets, then the last point
    assert [s.metric.step for s in sampled] == [0, 20, 40, 60, 99]


def test_deleted_run_refuses_logging_and_tag_deletion(services: tuple[ExperimentService, RunService]) -> None:
    _, runs = services
    run_id = runs.create("0", "ana", 5, {}, None).run_id
    runs.delete(run_id)
    with pytest.raises(InvalidParameterValue, match="must be in the 'active' state"):
        runs.set_tag(run_id, "a", "b")
    runs.restore(run_id)
    runs.set_tag(run_id, "a", "b")
    runs.delete_tag(run_id, "a")
    with pytest.raises(ResourceDoesNotExist):
        runs.delete_tag(run_id, "a")


def test_search_pages_through_matches(services: tuple[ExperimentService, RunService]) -> None:
    _, runs = services
    ids = [runs.create("0", "ana", 100 + i, {}, f"r{i}").run_id for i in range(5)]
    page, token = runs.search(["0"], None, None, 2, [], None)
    assert [r.run_id for r in page] == [ids[4], ids[3]]
    rest, end = runs.search(["0"], None, None, 10, [], token)
    assert [r.run_id for r in rest] == [ids[2], ids[1], ids[0]] and end is None


def test_forged_page_token_is_invalid_parameter_value(services: tuple[ExperimentService, RunService]) -> None:
    _, runs = services
    for token in ("!!!", "e30=", "eyJvZmZzZXQiOiAiYWJjIn0="):  # garbage, {}, {"offset": "abc"}
        with pytest.raises(InvalidParameterValue):
            runs.search(["0"], None, None, 10, [], token)


@pytest.mark.parametrize("view", [None, "DELETED_ONLY", "ALL"])
@pytest.mark.parametrize("page_size", [1, 3, 7, 50])
def test_newest_first_pages_list_what_a_full_read_lists(
    services: tuple[ExperimentService, RunService], view: str | None, page_size: int
) -> None:
    """The run table's search (no filter, newest first) pages through the store's run order; a filter that every run
    passes takes the full read. Both list the same runs in the same order: ties on start time by run id, deleted runs
    only in their view."""
    _, runs = services
    ids = [runs.create("0", "ana", 100 + (i % 4), {}, f"r{i}").run_id for i in range(23)]
    for run_id in ids[::5]:
        runs.delete(run_id)

    def walk(filter_string: str | None, order_by: list[str]) -> list[str]:
        listed, token = [], None
        while True:
            page, token = runs.search(["0"], filter_string, view, page_size, order_by, token)
            listed.extend(r.run_id for r in page)
            if token is None:
                return listed

    full = walk("attributes.run_name != 'no such run'", [])
    assert len(full) == {None: 18, "DELETED_ONLY": 5, "ALL": 23}[view]
    assert walk(None, []) == walk(None, ["attributes.start_time DESC"]) == full
