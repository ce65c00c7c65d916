"""``RunService.search_datasets`` (the UI's dataset filter) against the in-memory store: what the reference's SQL
store answers, checked against mlflow 3.17.2's server by hand and in tests/e2e/test_ui_server.py."""

from __future__ import annotations

import pytest

from stratus.domain.entities import Dataset, DatasetInput, DatasetSummary
from stratus.domain.services import ExperimentService, RunService
from stratus.domain.services.runs import SEARCH_DATASETS_MAX_RESULTS
from stratus.errors import InvalidParameterValue
from stratus.store.memory import InMemoryTrackingStore

CONTEXT = "mlflow.data.context"


@pytest.fixture
def services() -> tuple[ExperimentService, RunService]:
    store = InMemoryTrackingStore()
    experiments = ExperimentService(store, "mlflow-artifacts:")
    return experiments, RunService(store, experiments)


def _input(name: str, digest: str, context: str | None = None) -> DatasetInput:
    tags = ((CONTEXT, context),) if context is not None else ()
    return DatasetInput(Dataset(name, digest, "local", "{}"), tags)


def _listed(summaries: list[DatasetSummary]) -> list[tuple[str, str, str, str | None]]:
    return [(s.experiment_id, s.name, s.digest, s.context) for s in summaries]


def test_summaries_are_ordered_by_experiment_name_and_digest_then_first_logged(
    services: tuple[ExperimentService, RunService],
) -> None:
    """Given runs in two experiments logging datasets (one dataset with three contexts, by three runs),
    when their experiments are searched, listed in any order,
    then the summaries come as the reference's SQL lists them: experiment ids as numbers, names and digests in byte
    order, and a dataset's contexts in the order they were first logged."""
    experiments, runs = services
    created = [experiments.create(f"e{i}", None, {}) for i in range(10)]
    second, tenth = created[1], created[9]
    assert (second, tenth) == ("2", "10")  # "10" < "2" as text: the order must be numeric
    first_run, other_run, third_run = (runs.create(second, "u", 1, {}, None).run_id for _ in range(3))
    first_inputs = [_input("zeta", "d2", "train"), _input("alpha", "d9", "eval"), _input("alpha", "d1")]
    runs.log_inputs(first_run, first_inputs, [])
    runs.log_inputs(other_run, [_input("zeta", "d2", "eval"), _input("Alpha", "d0")], [])
    runs.log_inputs(third_run, [_input("zeta", "d2", "test"), _input("zeta", "d2", "ignored: same dataset")], [])
    runs.log_inputs(runs.create(tenth, "u", 1, {}, None).run_id, [_input("gamma", "x", "train")], [])

    assert _listed(runs.search_datasets([tenth, second, "99"])) == [
        (second, "Alpha", "d0", None),
        (second, "alpha", "d1", None),
        (second, "alpha", "d9", "eval"),
        (second, "zeta", "d2", "train"),
        (second, "zeta", "d2", "eval"),
        (second, "zeta", "d2", "test"),
        (tenth, "gamma", "x", "train"),
    ]


def test_a_run_logging_a_dataset_again_keeps_its_first_context(services: tuple[ExperimentService, RunService]) -> None:
    """The reference keeps a run's first input of a dataset (with its tags) and ignores a later one."""
    _, runs = services
    run_id = runs.create("0", "u", 1, {}, None).run_id
    runs.log_inputs(run_id, [_input("iris", "d1", "train")], [])
    runs.log_inputs(run_id, [_input("iris", "d1", "eval")], [])
    assert _listed(runs.search_datasets(["0"])) == [("0", "iris", "d1", "train")]
    assert [d.context for d in runs.get(run_id).dataset_inputs] == ["train"]


def test_datasets_of_deleted_runs_stay_listed_as_the_reference_lists_them(
    services: tuple[ExperimentService, RunService],
) -> None:
    _, runs = services
    run_id = runs.create("0", "u", 1, {}, None).run_id
    runs.log_inputs(run_id, [_input("iris", "d1", "train")], [])
    runs.delete(run_id)
    assert _listed(runs.search_datasets(["0"])) == [("0", "iris", "d1", "train")]


def test_at_most_a_thousand_summaries_are_listed(services: tuple[ExperimentService, RunService]) -> None:
    experiments, runs = services
    other = experiments.create("other", None, {})
    run_id = runs.create("0", "u", 1, {}, None).run_id
    runs.log_inputs(run_id, [_input(f"ds{i:04d}", "d") for i in range(SEARCH_DATASETS_MAX_RESULTS - 1)], [])
    runs.log_inputs(runs.create(other, "u", 1, {}, None).run_id, [_input("a", "d"), _input("b", "d")], [])
    found = runs.search_datasets([other, "0"])
    assert len(found) == SEARCH_DATASETS_MAX_RESULTS
    assert _listed(found[-2:]) == [("0", "ds0998", "d", None), (other, "a", "d", None)]


@pytest.mark.parametrize(
    ("experiment_ids", "message"),
    [
        ([], "SearchDatasets request must specify at least one experiment_id."),
        (
            [str(i) for i in range(21)],
            "SearchDatasets request cannot specify more than 20 experiment_ids. Received 21 experiment_ids.",
        ),
        (["0", "abc"], "Invalid experiment ID 'abc'. Experiment ID must be a valid integer."),
    ],
)
def test_the_reference_limits_and_messages_apply(
    services: tuple[ExperimentService, RunService], experiment_ids: list[str], message: str
) -> None:
    _, runs = services
    with pytest.raises(InvalidParameterValue) as raised:
        runs.search_datasets(experiment_ids)
    assert raised.value.message == message


def test_twenty_experiments_are_accepted_and_ids_are_read_as_numbers(
    services: tuple[ExperimentService, RunService],
) -> None:
    _, runs = services
    run_id = runs.create("0", "u", 1, {}, None).run_id
    runs.log_inputs(run_id, [_input("iris", "d1")], [])
    assert _listed(runs.search_datasets(["00", *(str(i) for i in range(1, 20))])) == [("0", "iris", "d1", None)]
