"""Experiment search: the filter grammar, its evaluation and the ordering of the reference server (mlflow 3.17.2).

Expected results were checked against ``mlflow server`` with a SQLite backend store. Messages that list a Python set
print it in an order that varies between the reference's worker processes; ours is fixed, and the tests pin ours.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from experiment_listings import FullReadOnly, fill_and_compare_experiment_listings

from stratus.domain.entities import Experiment
from stratus.domain.search import (
    compile_experiment_search,
    search_experiments,
    validate_experiment_filter,
    validate_experiment_order_by,
)
from stratus.domain.services import ExperimentService
from stratus.errors import BadRequest, InvalidParameterValue
from stratus.store.memory import InMemoryTrackingStore


def make_experiment(experiment_id: str, name: str, created: int, updated: int, **tags: str) -> Experiment:
    return Experiment(
        experiment_id=experiment_id,
        name=name,
        artifact_location=f"mlflow-artifacts:/{experiment_id}",
        creation_time=created,
        last_update_time=updated,
        tags=dict(tags),
    )


EXPERIMENTS = [
    make_experiment("0", "Default", 100, 100),
    make_experiment("1", "exp-a", 200, 900, owner="alice", stage="dev"),
    make_experiment("2", "Exp-B", 300, 300, owner="bob"),
    make_experiment("10", "exp_c", 300, 400),
    make_experiment("3", "éxp-d", 400, 500, owner="Alice", **{"mlflow.experiment.isGateway": "true"}),
    make_experiment("4", "exp%e", 500, 600, owner="", stage="prod"),
]


def ids(experiments: list[Experiment]) -> list[str]:
    return [experiment.experiment_id for experiment in experiments]


def matching(filter_string: str) -> set[str]:
    return set(ids(search_experiments(EXPERIMENTS, filter_string, None)))


def ordered(order_by: list[str] | None) -> list[str]:
    return ids(search_experiments(EXPERIMENTS, None, order_by))


def error_of(filter_string: str | None, order_by: list[str] | None = None) -> str:
    with pytest.raises(InvalidParameterValue) as caught:
        compile_experiment_search(filter_string, order_by)
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    return caught.value.message


# ---------------------------------------------------------------------------------------------------------------
# filters
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("name = 'exp-a'", {"1"}),
        ('name = "exp-a"', {"1"}),
        ("attribute.name = 'exp-a'", {"1"}),
        ("name != 'exp-a'", {"0", "2", "10", "3", "4"}),
        ("name LIKE 'exp%'", {"1", "10", "4"}),
        ("name LIKE 'exp_c'", {"10"}),
        ("name LIKE 'exp\\%e'", set()),
        ("name ILIKE 'EXP%'", {"1", "2", "10", "4"}),
        ("name ILIKE 'ÉXP%'", set()),
        ("name ILIKE 'éXP%'", {"3"}),
    ],
)
def test_name_filters_compare_like_sqlite(filter_string: str, expected: set[str]) -> None:
    assert matching(filter_string) == expected


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("experiment_id = '2'", {"2"}),
        ("experiment_id = ' 3 '", {"3"}),
        ("experiment_id != '2'", {"0", "1", "10", "3", "4"}),
        ("experiment_id IN ('2', '10', '99')", {"2", "10"}),
        ("experiment_id NOT IN ('0', '1')", {"2", "10", "3", "4"}),
        ("creation_time > 300", {"3", "4"}),
        ("creation_time = 300", {"2", "10"}),
        ("creation_time != 300", {"0", "1", "3", "4"}),
        ("last_update_time <= 400", {"0", "2", "10"}),
        ("last_update_time >= 600 AND creation_time < 500", {"1"}),
    ],
)
def test_id_and_time_filters_compare_integers(filter_string: str, expected: set[str]) -> None:
    assert matching(filter_string) == expected


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("tags.owner = 'alice'", {"1"}),
        ("tag.owner = 'alice'", {"1"}),
        ("tags.`owner` = 'alice'", {"1"}),
        ("tags.owner != 'alice'", {"2", "3", "4"}),
        ("tags.owner = ''", {"4"}),
        ("tags.owner LIKE '%'", {"1", "2", "3", "4"}),
        ("tags.owner LIKE 'a%'", {"1"}),
        ("tags.owner ILIKE 'alice'", {"1", "3"}),
        ("tags.owner IS NULL", {"0", "10"}),
        ("tags.owner is not null", {"1", "2", "3", "4"}),
        ("tags.`mlflow.experiment.isGateway` IS NULL", {"0", "1", "2", "10", "4"}),
        ("tags.\"mlflow.experiment.isGateway\" = 'true'", {"3"}),
        ("tags.mlflow.experiment.isGateway = 'true'", {"3"}),
        ("tags.owner != 'bob' and tags.stage != 'dev'", {"4"}),
        ("tags.owner = 'alice' AND name LIKE 'exp%'", {"1"}),
    ],
)
def test_tag_filters_need_the_tag_except_is_null(filter_string: str, expected: set[str]) -> None:
    assert matching(filter_string) == expected


def test_missing_tag_does_not_satisfy_not_equal() -> None:
    assert "0" not in matching("tags.owner != 'anyone'")
    assert "10" not in matching("tags.owner != 'anyone'")


def test_an_experiment_id_that_is_not_a_number_never_matches() -> None:
    odd = make_experiment("abc", "odd", 1, 1)

    assert search_experiments([odd], "experiment_id = '1'", None) == []
    assert search_experiments([odd], "experiment_id != '1'", None) == []


# ---------------------------------------------------------------------------------------------------------------
# ordering
# ---------------------------------------------------------------------------------------------------------------


def test_default_order_is_newest_first_then_lowest_id() -> None:
    assert ordered(None) == ["4", "3", "2", "10", "1", "0"]
    assert ordered([]) == ["4", "3", "2", "10", "1", "0"]


def test_explicit_order_breaks_ties_on_highest_id() -> None:
    assert ordered(["creation_time"]) == ["0", "1", "10", "2", "3", "4"]
    assert ordered(["creation_time DESC"]) == ["4", "3", "10", "2", "1", "0"]


def test_order_by_name_uses_code_point_order() -> None:
    assert ordered(["name"]) == ["0", "2", "4", "1", "10", "3"]
    assert ordered(["attribute.name DESC"]) == ["3", "10", "1", "4", "2", "0"]
    assert ordered(["`name` DESC"]) == ["3", "10", "1", "4", "2", "0"]


def test_order_by_experiment_id_is_numeric() -> None:
    assert ordered(["experiment_id"]) == ["0", "1", "2", "3", "4", "10"]
    assert ordered(["experiment_id DESC"]) == ["10", "4", "3", "2", "1", "0"]


def test_several_order_keys_and_repeated_keys() -> None:
    assert ordered(["last_update_time DESC", "name"]) == ["1", "4", "3", "10", "2", "0"]
    assert ordered(["name", "name DESC"]) == ordered(["name"])
    assert ordered(["creation_time ASC", "experiment_id ASC"]) == ["0", "1", "2", "10", "3", "4"]


def test_filter_and_order_combine() -> None:
    assert ids(search_experiments(EXPERIMENTS, "name LIKE 'exp%'", ["name DESC"])) == ["10", "1", "4"]


# ---------------------------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------------------------

EXPERIMENT_KEYS = "{'name', 'experiment_id', 'creation_time', 'last_update_time'}"
STRING_COMPARATORS = "{'!=', '=', 'LIKE', 'ILIKE', 'IN', 'NOT IN'}"


@pytest.mark.parametrize(
    ("filter_string", "message"),
    [
        ("name = 'a' OR name = 'b'", "Invalid clause(s) in filter string: OR"),
        ("name = 'a';", "Invalid clause(s) in filter string: ;"),
        ("name like 'exp%'", f"Invalid comparator 'like' not one of '{STRING_COMPARATORS}'"),
        ("name > 'a'", f"Invalid comparator '>' not one of '{STRING_COMPARATORS}'"),
        ("name == 'a'", f"Invalid comparator '==' not one of '{STRING_COMPARATORS}'"),
        (
            "name = exp",
            "Parameter value is either not quoted or unidentified quote types used for string value exp. "
            "Use either single or double quotes.",
        ),
        ("name = 1", "Expected a quoted string value for attributes. Got value 1"),
        (
            "name IN ('exp-a')",
            "Only ['experiment_id'] attributes support comparison with a list of quoted string values.",
        ),
        ("experiment_id = 2", "Expected a quoted string value for attributes. Got value 2"),
        ("experiment_id in ('2')", "Invalid comparator for experiment_id: in"),
        ("experiment_id > '2'", "Invalid comparator for experiment_id: >"),
        ("experiment_id LIKE '2'", "Invalid comparator for experiment_id: LIKE"),
        ("experiment_id = 'abc'", "Invalid experiment ID 'abc'. Experiment ID must be a valid integer."),
        ("experiment_id IN ('2', 'x')", "Invalid experiment ID 'x'. Experiment ID must be a valid integer."),
        (
            "experiment_id IS NULL",
            "IS NULL / IS NOT NULL is only supported for tags, not for attribute 'experiment_id'",
        ),
        ("creation_time > 1.5", "Invalid value for numeric attribute 'creation_time': '1.5'"),
        ("creation_time > 1e3", "Invalid value for numeric attribute 'creation_time': '1000.0'"),
        ("creation_time = 'a'", "Expected numeric value type for numeric attribute: creation_time. Found 'a'"),
        ("creation_time LIKE 1", f"Invalid comparator 'LIKE' not one of '{STRING_COMPARATORS}"),
        ("tags.owner like 'a%'", "Invalid comparator for tag: like"),
        ("tags.owner > 'a'", "Invalid comparator for tag: >"),
        ("tags.owner IN ('a')", "Expected a quoted string value for tag (e.g. 'my-value'). Got value ('a')"),
        ("foo = 'a'", f"Invalid attribute key 'foo' specified. Valid keys are '{EXPERIMENT_KEYS}'"),
        (
            "attributes.name = 'a'",
            "Invalid entity type 'attributes'. Valid entity types are ('attribute', 'tag', 'tags')",
        ),
        ("attr.name = 'a'", "Invalid entity type 'attr'. Valid entity types are ('attribute', 'tag', 'tags')"),
        ("`tags`.owner = 'a'", "Invalid entity type '`tags`'. Valid entity types are ('attribute', 'tag', 'tags')"),
        ("metrics.x > 1", "Invalid entity type 'metrics'. Valid entity types are ('attribute', 'tag', 'tags')"),
    ],
)
def test_invalid_filters_are_rejected_with_the_reference_message(filter_string: str, message: str) -> None:
    assert error_of(filter_string) == message
    with pytest.raises(InvalidParameterValue):
        validate_experiment_filter(filter_string)


@pytest.mark.parametrize(
    ("order_by", "message"),
    [
        (["tags.owner"], "Invalid order_by entity: tag"),
        (["foo"], f"Invalid attribute key 'foo' specified. Valid keys are '{EXPERIMENT_KEYS}'"),
        (["attributes.name"], "Invalid entity type 'attributes'. Valid entity types are ('attribute', 'tag', 'tags')"),
        ([""], "Invalid order_by clause ''. Could not be parsed."),
        (["name up"], "Invalid ordering key in order_by clause 'name up'."),
        (["name, experiment_id"], "Invalid order_by clause 'name, experiment_id'. Could not be parsed."),
    ],
)
def test_invalid_order_by_is_rejected_with_the_reference_message(order_by: list[str], message: str) -> None:
    assert error_of(None, order_by) == message
    with pytest.raises(InvalidParameterValue):
        validate_experiment_order_by(order_by)


def test_the_whole_filter_is_checked_before_order_by() -> None:
    assert error_of("tags.x = 'a' and name == 'b'", ["foo"]) == (
        f"Invalid comparator '==' not one of '{STRING_COMPARATORS}'"
    )


def test_experiment_id_compared_with_a_list_is_a_bad_request() -> None:
    with pytest.raises(BadRequest):
        compile_experiment_search("experiment_id = ('2')", None)


def test_valid_filters_and_order_by_pass_validation() -> None:
    validate_experiment_filter("tags.`mlflow.experiment.isGateway` IS NULL and name ILIKE '%x%'")
    validate_experiment_filter(None)
    validate_experiment_order_by(["last_update_time DESC"])
    validate_experiment_order_by(None)


# ---------------------------------------------------------------------------------------------------------------
# agreement with the reference parser (in-process, no server)
# ---------------------------------------------------------------------------------------------------------------

PARSER_CORPUS = [
    "name = 'a' and tags.`x.y` != 'b'",
    "tag.owner IS NULL AND tags.stage is not null",
    "experiment_id IN ('1', '2') and creation_time > 5",
    "name = 'a' OR name = 'b'",
    "attributes.name = 'a'",
    "experiment_id IS NULL",
    "name IN ('a')",
    "creation_time = 'x'",
    "foo = 1",
]


def _normalise(message: str) -> str:
    """Sort the items of any printed set, whose order varies in the reference."""
    return re.sub(
        r"\{('[^']*'(?:, '[^']*')*)\}", lambda found: "{" + ", ".join(sorted(found.group(1).split(", "))) + "}", message
    )


@pytest.mark.parametrize("filter_string", PARSER_CORPUS)
def test_filter_parsing_agrees_with_the_reference_parser(filter_string: str) -> None:
    search_utils = pytest.importorskip("mlflow.utils.search_utils")
    exceptions = pytest.importorskip("mlflow.exceptions")
    from stratus.domain.search.grammar import EXPERIMENTS as GRAMMAR
    from stratus.domain.search.grammar import parse_filter

    try:
        expected: object = [
            (item["type"], item["key"], item["comparator"], item["value"])
            for item in search_utils.SearchExperimentsUtils.parse_search_filter(filter_string)
        ]
    except exceptions.MlflowException as error:
        expected = _normalise(error.message)
    try:
        actual: object = [
            (clause.entity, clause.key, clause.comparator, clause.value)
            for clause in parse_filter(filter_string, GRAMMAR)
        ]
    except InvalidParameterValue as error:
        actual = _normalise(error.message)

    assert actual == expected


# ---------------------------------------------------------------------------------------------------------------
# listing newest first from the store's experiment order
# ---------------------------------------------------------------------------------------------------------------


def test_newest_first_listings_page_as_the_full_read() -> None:

    def factory() -> tuple[Any, Any]:
        store = InMemoryTrackingStore()
        ticks = iter(range(10**6)).__next__
        clock = lambda: 1_000 + ticks() // 3  # noqa: E731 - three calls share each millisecond: ties
        return (
            ExperimentService(store, "s3://b/mlartifacts", clock=clock),
            ExperimentService(FullReadOnly(store), "s3://b/mlartifacts", clock=clock),
        )

    assert fill_and_compare_experiment_listings(factory) == 4 * 5 * 3 * 4
