"""The registered scorers service against in-memory fakes: version numbering, latest, deletion, the online scoring
configuration and the reference's errors."""

from __future__ import annotations

import itertools
import json

import pytest

from stratus.domain.services import ExperimentService
from stratus.domain.services.scorers import ScorerService
from stratus.errors import InvalidParameterValue, ResourceDoesNotExist
from stratus.store.memory import InMemoryScorerStore, InMemoryTrackingStore

SERIALIZED = json.dumps({"name": "s", "builtin_scorer_class": "Safety", "builtin_scorer_pydantic_data": {"name": "s"}})


@pytest.fixture
def experiments() -> ExperimentService:
    ticks = itertools.count(1000)
    return ExperimentService(InMemoryTrackingStore(), "s3://bucket/mlartifacts", clock=lambda: next(ticks))


@pytest.fixture
def service_and_experiment(experiments: ExperimentService) -> tuple[ScorerService, str]:
    ticks = itertools.count(5000)
    return ScorerService(InMemoryScorerStore(), experiments, clock=lambda: next(ticks)), experiments.create(
        "sc", None, {}
    )


def test_register_numbers_versions_per_name_and_keeps_the_scorer_id(
    service_and_experiment: tuple[ScorerService, str],
) -> None:
    service, exp = service_and_experiment

    first = service.register(exp, "s", SERIALIZED)
    second = service.register(exp, "s", SERIALIZED)
    other = service.register(exp, "t", "{}")

    assert (first.scorer_version, second.scorer_version, other.scorer_version) == (1, 2, 1)
    assert first.scorer_id == second.scorer_id != other.scorer_id


def test_list_gives_each_names_latest_version_by_name(service_and_experiment: tuple[ScorerService, str]) -> None:
    service, exp = service_and_experiment
    service.register(exp, "s", SERIALIZED)
    service.register(exp, "s", SERIALIZED)
    service.register(exp, "a", "{}")

    listed = service.list_latest(exp, None)

    assert [(v.scorer_name, v.scorer_version) for v in listed] == [("a", 1), ("s", 2)]


def test_get_without_version_is_the_latest_and_with_one_that_version(
    service_and_experiment: tuple[ScorerService, str],
) -> None:
    service, exp = service_and_experiment
    service.register(exp, "s", SERIALIZED)
    service.register(exp, "s", "{}")

    assert service.get(exp, "s").serialized_scorer == "{}"
    assert service.get(exp, "s", 1).serialized_scorer == SERIALIZED
    with pytest.raises(ResourceDoesNotExist, match="Scorer with name 's' and version 9 not found for experiment"):
        service.get(exp, "s", 9)


def test_deleting_the_highest_version_gives_its_number_again(service_and_experiment: tuple[ScorerService, str]) -> None:
    service, exp = service_and_experiment
    first = service.register(exp, "s", SERIALIZED)
    service.register(exp, "s", SERIALIZED)

    service.delete(exp, "s", 2)
    again = service.register(exp, "s", SERIALIZED)

    assert (again.scorer_version, again.scorer_id) == (2, first.scorer_id)
    assert [v.scorer_version for v in service.versions(exp, "s")] == [1, 2]


def test_deleting_all_versions_forgets_the_scorer_and_its_config(
    service_and_experiment: tuple[ScorerService, str],
) -> None:
    service, exp = service_and_experiment
    first = service.register(exp, "s", SERIALIZED)
    service.upsert_online_config(exp, "s", 0.0, None)

    service.delete(exp, "s")

    with pytest.raises(ResourceDoesNotExist, match="Scorer with name 's' not found for experiment"):
        service.versions(exp, "s")
    assert service.online_configs([first.scorer_id]) == []
    assert service.register(exp, "s", SERIALIZED).scorer_id != first.scorer_id


def test_upsert_replaces_the_config_and_refuses_sampling_without_a_gateway_judge(
    service_and_experiment: tuple[ScorerService, str],
) -> None:
    service, exp = service_and_experiment
    scorer_id = service.register(exp, "s", SERIALIZED).scorer_id
    service.upsert_online_config(exp, "s", 0.0, None)

    latest = service.upsert_online_config(exp, "s", 0.0, "trace.status = 'OK'")

    assert service.online_configs([scorer_id, "other"]) == [latest]
    with pytest.raises(InvalidParameterValue, match="does not use a gateway model"):
        service.upsert_online_config(exp, "s", 0.5, None)
    with pytest.raises(InvalidParameterValue, match="sample_rate must be between 0.0 and 1.0, got 2.0"):
        service.upsert_online_config(exp, "s", 2.0, None)


@pytest.mark.parametrize(
    ("serialized", "error", "message"),
    [
        ("nope", InvalidParameterValue, "serialized_scorer must be valid JSON"),
        (json.dumps({"call_source": "x"}), InvalidParameterValue, "Custom scorer registration"),
        (json.dumps({"instructions_judge_pydantic_data": {"model": " "}}), InvalidParameterValue, "cannot be empty"),
        (json.dumps({"instructions_judge_pydantic_data": {"model": 3}}), InvalidParameterValue, "got int"),
        (json.dumps({"third_party_scorer_data": {"kwargs": {"api_base": "h"}}}), InvalidParameterValue, "'api_base'"),
        (json.dumps({"builtin_scorer_pydantic_data": {"model": "gateway:/g"}}), ResourceDoesNotExist, "name='g'"),
    ],
)
def test_register_refuses_what_the_reference_refuses(
    service_and_experiment: tuple[ScorerService, str], serialized: str, error: type[Exception], message: str
) -> None:
    service, exp = service_and_experiment

    with pytest.raises(error, match=message):
        service.register(exp, "s", serialized)


def test_scorers_of_a_deleted_experiment_are_refused(
    service_and_experiment: tuple[ScorerService, str], experiments: ExperimentService
) -> None:
    service, exp = service_and_experiment
    experiments.delete(exp)

    with pytest.raises(InvalidParameterValue, match="must be in the 'active' state"):
        service.register(exp, "s", SERIALIZED)
    assert service.list_latest(None, [exp]) == []


def test_list_refuses_both_experiment_fields(service_and_experiment: tuple[ScorerService, str]) -> None:
    service, exp = service_and_experiment

    with pytest.raises(InvalidParameterValue, match="Cannot specify both"):
        service.list_latest(exp, [exp])
