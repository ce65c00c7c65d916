"""Run search: the filter grammar, its evaluation and the ordering of the reference server (mlflow 3.17.2, SQLite).

Expected results were checked against ``mlflow server`` with a SQLite backend store. Messages that list a Python set
(valid keys, valid comparators) print it in an order that varies between the reference's worker processes; ours is
fixed, and the tests pin ours.
"""

from __future__ import annotations

import math
import re
import time

import pytest

from stratus.domain.entities import Dataset, DatasetInput, Metric, Run, RunInfo
from stratus.domain.search import (
    compile_run_search,
    search_runs,
    validate_run_filter,
    validate_run_order_by,
)
from stratus.errors import BadRequest, InvalidParameterValue

MAX = 1.7976931348623157e308


def make_run(
    run_id: str,
    *,
    name: str | None = None,
    start_time: int = 0,
    end_time: int | None = None,
    status: str = "RUNNING",
    user_id: str = "alice",
    params: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    metrics: dict[str, float] | None = None,
    datasets: tuple[tuple[str, str, str | None], ...] = (),
) -> Run:
    """A run as the service stores it: the run name is also the ``mlflow.runName`` tag."""
    run_name = name if name is not None else run_id
    info = RunInfo(
        run_id=run_id,
        experiment_id="1",
        run_name=run_name,
        user_id=user_id,
        status=status,
        start_time=start_time,
        end_time=end_time,
        artifact_uri=f"mlflow-artifacts:/1/{run_id}/artifacts",
    )
    inputs = [
        DatasetInput(Dataset(name=ds_name, digest=digest), (("mlflow.data.context", context),) if context else ())
        for ds_name, digest, context in datasets
    ]
    return Run(
        info=info,
        params=dict(params or {}),
        tags={"mlflow.runName": run_name, **(tags or {})},
        metrics={key: Metric(key, value, timestamp=1, step=0) for key, value in (metrics or {}).items()},
        dataset_inputs=inputs,
    )


def ids(runs: list[Run]) -> list[str]:
    return [run.run_id for run in runs]


def matching(runs: list[Run], filter_string: str) -> set[str]:
    return set(ids(search_runs(runs, filter_string, None)))


def error_of(filter_string: str | None, order_by: list[str] | None = None) -> str:
    with pytest.raises(InvalidParameterValue) as caught:
        compile_run_search(filter_string, order_by)
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    assert caught.value.http_status == 400
    return caught.value.message


# ---------------------------------------------------------------------------------------------------------------
# default order
# ---------------------------------------------------------------------------------------------------------------


def test_no_filter_returns_every_run_newest_first_then_by_run_id() -> None:
    runs = [make_run("c", start_time=1), make_run("b", start_time=2), make_run("a", start_time=1)]

    assert ids(search_runs(runs, None, None)) == ["b", "a", "c"]
    assert ids(search_runs(runs, "", [])) == ["b", "a", "c"]


def test_blank_filter_is_not_an_empty_filter() -> None:
    assert error_of("   ") == "Invalid filter '   '. Could not be parsed."


# ---------------------------------------------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------------------------------------------

METRIC_RUNS = [
    make_run("low", metrics={"acc": -1.0}),
    make_run("zero", metrics={"acc": 0.0}),
    make_run("high", metrics={"acc": 0.9}),
    make_run("nan", metrics={"acc": math.nan}),
    make_run("inf", metrics={"acc": math.inf}),
    make_run("ninf", metrics={"acc": -math.inf}),
    make_run("none", metrics={"loss": 1.0}),
]


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("metrics.acc > 0", {"high", "inf"}),
        ("metrics.acc >= 0.9", {"high", "inf"}),
        ("metrics.acc < 0", {"low", "ninf"}),
        ("metrics.acc <= -1", {"low", "ninf"}),
        ("metrics.acc = 0", {"zero"}),
        ("metrics.acc = 0.9", {"high"}),
        ("metrics.acc != 0", {"low", "high", "nan", "inf", "ninf"}),
        ("metrics.acc > -1e3", {"zero", "high", "inf", "low"}),
        ("metrics.acc > .5", {"high", "inf"}),
        ("metrics.acc > 1.", {"inf"}),
    ],
)
def test_metric_filters_compare_numbers(filter_string: str, expected: set[str]) -> None:
    assert matching(METRIC_RUNS, filter_string) == expected


def test_nan_metric_satisfies_only_not_equal() -> None:
    runs = [make_run("nan", metrics={"acc": math.nan})]

    assert matching(runs, "metrics.acc != 0") == {"nan"}
    for comparator in ("=", "<", "<=", ">", ">="):
        assert matching(runs, f"metrics.acc {comparator} 0") == set()


def test_infinite_metrics_compare_as_the_largest_float() -> None:
    assert matching(METRIC_RUNS, "metrics.acc = 1.7976931348623157e308") == {"inf"}
    assert matching(METRIC_RUNS, "metrics.acc = -1.7976931348623157e308") == {"ninf"}
    assert matching(METRIC_RUNS, "metrics.acc = 1e999") == set()
    assert matching(METRIC_RUNS, "metrics.acc < 1e999") == {"low", "zero", "high", "inf", "ninf"}


def test_runs_without_the_metric_satisfy_no_comparison() -> None:
    assert "none" not in matching(METRIC_RUNS, "metrics.acc != 5")
    assert matching(METRIC_RUNS, "metrics.other != 5") == set()


# ---------------------------------------------------------------------------------------------------------------
# params and tags
# ---------------------------------------------------------------------------------------------------------------

STRING_RUNS = [
    make_run("a", params={"opt": "adam", "p": "a%b"}, tags={"team": "ml"}),
    make_run("b", params={"opt": "Adam", "p": "a_b"}, tags={"team": "ML"}),
    make_run("c", params={"opt": "ÉPÉE", "p": "line1\nline2"}, tags={"team": "m_l"}),
    make_run("d", params={"opt": "épée"}, tags={"team": ""}),
    make_run("e"),
]


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("params.opt = 'adam'", {"a"}),
        ("params.opt != 'adam'", {"b", "c", "d"}),
        ("params.opt LIKE 'a%'", {"a"}),
        ("params.opt LIKE 'A%'", {"b"}),
        ("params.opt LIKE '%'", {"a", "b", "c", "d"}),
        ("params.opt LIKE 'ada'", set()),
        ("params.opt ILIKE 'ADAM'", {"a", "b"}),
        ("params.p LIKE 'a_b'", {"a", "b"}),
        ("params.p LIKE 'a\\_b'", set()),
        ("params.p LIKE 'a\\%b'", set()),
        ("params.p LIKE 'line1_line2'", {"c"}),
        ("params.p LIKE 'line1%'", {"c"}),
        ("tags.team = ''", {"d"}),
        ("tags.team LIKE 'm_l'", {"c"}),
        ("tags.team ILIKE 'ml'", {"a", "b"}),
        ("tags.team != 'ml'", {"b", "c", "d"}),
    ],
)
def test_param_and_tag_filters_compare_strings_like_sqlite(filter_string: str, expected: set[str]) -> None:
    assert matching(STRING_RUNS, filter_string) == expected


def test_ilike_folds_ascii_letters_only() -> None:
    assert matching(STRING_RUNS, "params.opt ILIKE 'épée'") == {"d"}
    assert matching(STRING_RUNS, "params.opt ILIKE 'ÉPÉE'") == {"c"}
    assert matching(STRING_RUNS, "params.opt ILIKE 'éPéE'") == {"d"}


def test_like_underscore_matches_one_character_of_any_kind() -> None:
    runs = [make_run("accent", params={"p": "é"}), make_run("two", params={"p": "ab"})]

    assert matching(runs, "params.p LIKE '_'") == {"accent"}
    assert matching(runs, "params.p LIKE '__'") == {"two"}


def test_hostile_like_pattern_is_answered_at_once() -> None:
    runs = [make_run("long", params={"p": "a" * 5000})]
    started = time.perf_counter()

    assert matching(runs, "params.p LIKE '" + "%a" * 30 + "%b'") == set()
    assert time.perf_counter() - started < 1.0


def test_is_null_and_is_not_null_test_presence_of_params_and_tags() -> None:
    assert matching(STRING_RUNS, "params.p IS NULL") == {"d", "e"}
    assert matching(STRING_RUNS, "params.p IS NOT NULL") == {"a", "b", "c"}
    assert matching(STRING_RUNS, "tags.team is null") == {"e"}
    assert matching(STRING_RUNS, "tags.team is not null") == {"a", "b", "c", "d"}
    assert matching(STRING_RUNS, "params.p IS  NULL") == {"d", "e"}


def test_missing_param_or_tag_satisfies_no_comparison_not_even_not_equal() -> None:
    assert "e" not in matching(STRING_RUNS, "params.opt != 'x'")
    assert "e" not in matching(STRING_RUNS, "tags.team != 'x'")
    assert "e" not in matching(STRING_RUNS, "tags.team LIKE '%'")


def test_string_values_are_taken_verbatim_between_the_quotes() -> None:
    runs = [make_run("doubled", params={"q": "it''s"}), make_run("single", params={"q": "it's"})]

    assert matching(runs, "params.q = 'it''s'") == {"doubled"}
    assert matching(runs, 'params.q = "it\'s"') == {"single"}
    assert matching(runs, "params.q = \"it''s\"") == {"doubled"}


# ---------------------------------------------------------------------------------------------------------------
# prefixes and quoting
# ---------------------------------------------------------------------------------------------------------------

PREFIX_RUN = make_run(
    "r1",
    status="FINISHED",
    params={"lr": "0.1", "a b": "x"},
    tags={"team": "ml", "a b": "spaced"},
    metrics={"acc": 0.5, "a b": 1.0},
    datasets=(("train", "d1", "training"),),
)
OTHER_RUN = make_run("r2")


@pytest.mark.parametrize(
    "filter_string",
    [
        "metrics.acc > 0",
        "metric.acc > 0",
        "params.lr = '0.1'",
        "param.lr = '0.1'",
        "parameters.lr = '0.1'",
        "parameter.lr = '0.1'",
        "tags.team = 'ml'",
        "tag.team = 'ml'",
        "attributes.status = 'FINISHED'",
        "attribute.status = 'FINISHED'",
        "attr.status = 'FINISHED'",
        "run.status = 'FINISHED'",
        "status = 'FINISHED'",
        "datasets.name = 'train'",
        "dataset.name = 'train'",
        "`metrics`.acc > 0",
        "metrics.`acc` > 0",
        'metrics."acc" > 0',
        "metrics.`a b` > 0",
        'metrics."a b" > 0',
        "params.`a b` = 'x'",
        "tags.`a b` = 'spaced'",
        "tags.'a b' = 'spaced'",
        'params.lr = "0.1"',
        "metrics.acc>0",
        "params.lr='0.1'and tags.team='ml'",
    ],
)
def test_every_entity_prefix_alias_and_key_quoting_is_accepted(filter_string: str) -> None:
    assert ids(search_runs([PREFIX_RUN, OTHER_RUN], filter_string, None)) == ["r1"]


def test_unquoted_dotted_tag_keys_keep_their_dots() -> None:
    run = make_run("r", name="my-run")

    assert matching([run], "tags.mlflow.runName = 'my-run'") == {"r"}
    assert matching([run], "tags.`mlflow.runName` = 'my-run'") == {"r"}
    assert matching([run], "tags.\"mlflow.runName\" = 'my-run'") == {"r"}


def test_clauses_are_anded_and_keywords_are_case_insensitive() -> None:
    runs = [
        make_run("both", params={"lr": "0.1"}, metrics={"acc": 0.9}),
        make_run("param_only", params={"lr": "0.1"}, metrics={"acc": 0.1}),
    ]

    assert matching(runs, "params.lr = '0.1' and metrics.acc > 0.5") == {"both"}
    assert matching(runs, "params.lr = '0.1' AND metrics.acc > 0.5 AND params.lr like '0.%'") == {"both"}
    assert matching(runs, "params.lr ilike '0.1' and params.lr is not null") == {"both", "param_only"}


# ---------------------------------------------------------------------------------------------------------------
# attributes
# ---------------------------------------------------------------------------------------------------------------

ATTRIBUTE_RUNS = [
    make_run("r1", name="alpha", start_time=1000, end_time=2000, status="FINISHED", user_id="alice"),
    make_run("r2", name="Beta", start_time=3000, status="RUNNING", user_id="Bob"),
    make_run("r3", name="gamma", start_time=500, end_time=900, status="FAILED", user_id=""),
]


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("status = 'RUNNING'", {"r2"}),
        ("status != 'RUNNING'", {"r1", "r3"}),
        ("status LIKE 'r%'", set()),
        ("status ILIKE 'r%'", {"r2"}),
        ("user_id = ''", {"r3"}),
        ("user_id ILIKE 'B%'", {"r2"}),
        ("attributes.artifact_uri LIKE '%/r1/%'", {"r1"}),
        ("run_id = 'r2'", {"r2"}),
        ("run_id IN ('r1', 'r3', 'zz')", {"r1", "r3"}),
        ("run_id in ('r1')", {"r1"}),
        ("run_id NOT IN ('r1')", {"r2", "r3"}),
        ("run_id not in (\"r1\", 'r2')", {"r3"}),
        ("start_time > 500", {"r1", "r2"}),
        ("start_time >= 500.5", {"r1", "r2"}),
        ("created <= 1000", {"r1", "r3"}),
        ("Created = 3000", {"r2"}),
        ("end_time > 0", {"r1", "r3"}),
        ("end_time != 0", {"r1", "r3"}),
        ("end_time < 1000", {"r3"}),
    ],
)
def test_attribute_filters(filter_string: str, expected: set[str]) -> None:
    assert matching(ATTRIBUTE_RUNS, filter_string) == expected


@pytest.mark.parametrize(
    "filter_string",
    [
        "run_name = 'alpha'",
        "attributes.run_name = 'alpha'",
        "`run name` = 'alpha'",
        "\"run name\" = 'alpha'",
        "`Run name` = 'alpha'",
        "attributes.`Run Name` = 'alpha'",
        "run_name LIKE 'al%'",
        "run_name ILIKE 'ALPHA'",
    ],
)
def test_run_name_filters_match_the_run_name_tag(filter_string: str) -> None:
    assert matching(ATTRIBUTE_RUNS, filter_string) == {"r1"}


def test_run_name_filter_ignores_a_run_whose_name_tag_was_deleted() -> None:
    run = make_run("r", name="alpha")
    del run.tags["mlflow.runName"]

    assert matching([run], "run_name = 'alpha'") == set()
    assert matching([run], "run_name != 'beta'") == set()


# ---------------------------------------------------------------------------------------------------------------
# datasets
# ---------------------------------------------------------------------------------------------------------------

DATASET_RUNS = [
    make_run("one", datasets=(("train_ds", "d1", "training"),)),
    make_run("two", datasets=(("eval_ds", "d2", "eval"), ("train_ds", "d1", "training"))),
    make_run("three", datasets=(("Train_DS", "D1", None),)),
    make_run("none"),
]


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("datasets.name = 'train_ds'", {"one", "two"}),
        ("datasets.name != 'train_ds'", {"two", "three"}),
        ("datasets.name LIKE 'train%'", {"one", "two"}),
        ("datasets.name ILIKE 'train%'", {"one", "two", "three"}),
        ("datasets.name IN ('eval_ds', 'x')", {"two"}),
        ("datasets.name NOT IN ('train_ds')", {"two", "three"}),
        ("datasets.digest = 'd1'", {"one", "two"}),
        ("datasets.digest IN ('d2', 'D1')", {"two", "three"}),
        ("datasets.context = 'training'", {"one", "two"}),
        ("datasets.context != 'training'", {"two"}),
        ("datasets.context NOT IN ('eval')", {"one", "two"}),
        ("datasets.name = 'train_ds' AND datasets.context = 'eval'", {"two"}),
    ],
)
def test_dataset_filters_match_when_any_dataset_input_matches(filter_string: str, expected: set[str]) -> None:
    assert matching(DATASET_RUNS, filter_string) == expected


# ---------------------------------------------------------------------------------------------------------------
# ordering
# ---------------------------------------------------------------------------------------------------------------

ORDER_RUNS = [
    make_run("r_low", start_time=10, metrics={"acc": -1.0}, params={"lr": "0.01"}, tags={"team": "ML"}),
    make_run("r_zero_old", start_time=5, metrics={"acc": 0.0}, params={"lr": "1e-3"}, end_time=7),
    make_run("r_zero_new", start_time=50, metrics={"acc": 0.0}, params={"lr": "10"}, tags={"team": "m_l"}),
    make_run("r_high", start_time=20, metrics={"acc": 0.9}, params={"lr": "9"}, end_time=30),
    make_run("r_inf", start_time=30, metrics={"acc": math.inf}, tags={"team": ""}),
    make_run("r_max", start_time=40, metrics={"acc": MAX}, end_time=45),
    make_run("r_nan_a", start_time=1, metrics={"acc": math.nan}, params={"lr": "0.1"}),
    make_run("r_nan_b", start_time=1, metrics={"acc": math.nan}, tags={"team": "ml"}),
    make_run("r_missing", start_time=60),
]


def ordered(order_by: list[str], filter_string: str = "") -> list[str]:
    return ids(search_runs(ORDER_RUNS, filter_string, order_by))


def test_metric_order_ascending_puts_nan_then_missing_last() -> None:
    assert ordered(["metrics.acc"]) == [
        "r_low",
        "r_zero_new",
        "r_zero_old",
        "r_high",
        "r_max",
        "r_inf",
        "r_nan_a",
        "r_nan_b",
        "r_missing",
    ]


def test_metric_order_descending_still_puts_nan_then_missing_last() -> None:
    assert ordered(["metrics.acc DESC"]) == [
        "r_max",
        "r_inf",
        "r_high",
        "r_zero_new",
        "r_zero_old",
        "r_low",
        "r_nan_a",
        "r_nan_b",
        "r_missing",
    ]


def test_metric_order_direction_is_case_insensitive_and_quoted_keys_work() -> None:
    expected = ordered(["metrics.acc DESC"])

    assert ordered(["metrics.acc desc"]) == expected
    assert ordered(["metrics.`acc` DESC"]) == expected
    assert ordered(['metric."acc"   Desc']) == expected
    assert ordered(["metrics.acc asc"]) == ordered(["metrics.acc"])


def test_param_order_compares_strings_and_puts_missing_last() -> None:
    assert ordered(["params.lr"]) == [
        "r_low",
        "r_nan_a",
        "r_zero_new",
        "r_zero_old",
        "r_high",
        "r_missing",
        "r_max",
        "r_inf",
        "r_nan_b",
    ]
    assert ordered(["params.lr DESC"])[:5] == ["r_high", "r_zero_old", "r_zero_new", "r_nan_a", "r_low"]
    assert ordered(["params.lr DESC"])[5:] == ["r_missing", "r_max", "r_inf", "r_nan_b"]


def test_tag_order_uses_code_point_order() -> None:
    assert ordered(["tags.team"])[:4] == ["r_inf", "r_low", "r_zero_new", "r_nan_b"]
    assert ordered(["tags.team DESC"])[:4] == ["r_nan_b", "r_zero_new", "r_low", "r_inf"]


def test_end_time_order_puts_unfinished_runs_last_in_both_directions() -> None:
    unfinished_newest_first = ["r_missing", "r_zero_new", "r_inf", "r_low", "r_nan_a", "r_nan_b"]

    assert ordered(["attributes.end_time"]) == ["r_zero_old", "r_high", "r_max", *unfinished_newest_first]
    assert ordered(["end_time DESC"]) == ["r_max", "r_high", "r_zero_old", *unfinished_newest_first]


def test_ordering_on_start_time_replaces_the_default_tie_break() -> None:
    runs = [make_run("b", start_time=1), make_run("a", start_time=1), make_run("c", start_time=0)]

    assert ids(search_runs(runs, None, ["start_time"])) == ["c", "a", "b"]
    assert ids(search_runs(runs, None, ["attributes.start_time DESC"])) == ["a", "b", "c"]
    assert ids(search_runs(runs, None, ["created"])) == ["c", "a", "b"]


def test_ties_fall_back_to_newest_start_time_then_run_id() -> None:
    runs = [
        make_run("b", start_time=1, params={"p": "x"}),
        make_run("a", start_time=1, params={"p": "x"}),
        make_run("c", start_time=2, params={"p": "x"}),
    ]

    assert ids(search_runs(runs, None, ["params.p"])) == ["c", "a", "b"]


def test_several_order_keys_apply_in_turn() -> None:
    runs = [
        make_run("r1", status="RUNNING", metrics={"acc": 0.1}),
        make_run("r2", status="FINISHED", metrics={"acc": 0.2}),
        make_run("r3", status="RUNNING", metrics={"acc": 0.3}),
        make_run("r4", status="FINISHED"),
    ]

    assert ids(search_runs(runs, None, ["status", "metrics.acc DESC"])) == ["r2", "r4", "r3", "r1"]
    assert ids(search_runs(runs, None, ["status DESC", "metrics.acc"])) == ["r1", "r3", "r2", "r4"]


def test_order_by_run_name_uses_the_run_name_not_the_tag() -> None:
    runs = [make_run("r1", name="b"), make_run("r2", name="B"), make_run("r3", name="a"), make_run("r4", name="é")]
    runs[0].tags["mlflow.runName"] = "zzz"

    assert ids(search_runs(runs, None, ["run_name"])) == ["r2", "r3", "r1", "r4"]
    assert ids(search_runs(runs, None, ["attributes.run_name DESC"])) == ["r4", "r1", "r3", "r2"]


def test_filter_and_order_combine() -> None:
    assert ordered(["metrics.acc DESC"], "metrics.acc >= 0 and params.lr IS NOT NULL") == [
        "r_high",
        "r_zero_new",
        "r_zero_old",
    ]


def test_compiled_query_is_reusable() -> None:
    query = compile_run_search("metrics.acc > 0", ["metrics.acc"])

    assert ids(query.apply(ORDER_RUNS)) == ["r_high", "r_max", "r_inf"]
    assert ids(query.apply(ORDER_RUNS[:4])) == ["r_high"]


# ---------------------------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------------------------

RUN_KEYS = (
    "{'artifact_uri', 'end_time', 'run_id', 'run_name', 'start_time', 'status', 'user_id', 'created', 'Created', "
    "'run name', 'Run name', 'Run Name'}"
)
ORDER_KEYS = (
    "{'artifact_uri', 'end_time', 'run_id', 'run_name', 'start_time', 'status', 'user_id', 'created', 'Created'}"
)
PARAM_COMPARATORS = "{'!=', '=', 'LIKE', 'ILIKE', 'IS NULL', 'IS NOT NULL'}"
METRIC_COMPARATORS = "{'>', '>=', '!=', '=', '<', '<='}"
STRING_COMPARATORS = "{'!=', '=', 'LIKE', 'ILIKE', 'IN', 'NOT IN'}"


@pytest.mark.parametrize(
    ("filter_string", "message"),
    [
        ("params.p = 'a' OR metrics.m > 1", "Invalid clause(s) in filter string: 'OR'"),
        ("params.p = 'a' OR x", "Invalid clause(s) in filter string: 'OR', 'x'"),
        ("params.p = 'a';", "Invalid clause(s) in filter string: ';'"),
        (
            "params.p = 'a'; metrics.m > 1",
            "Search filter contained multiple expression \"params.p = 'a'; metrics.m > 1\". "
            "Provide AND-ed expression list.",
        ),
        ("params.p IS NOT  NULL", "Invalid clause(s) in filter string: 'params.p', 'IS', 'NOT  NULL'"),
        ("metrics.a-b > 1", "Invalid comparison clause. Expected 'Identifier' found 'metrics.a-b'"),
        ("metrics.acc /* c */ > 0", "Invalid clause(s) in filter string: 'metrics.acc /* c */', '>', '0'"),
        ("metrics.acc = 1e+3", "Expected numeric value type for metric. Found 1e+3"),
        (
            "foo.bar = 'a'",
            "Invalid entity type 'foo'. Valid values are ['metric', 'parameter', 'tag', 'attribute', 'dataset']",
        ),
        (
            "lifecycle_stage = 'active'",
            f"Invalid attribute key 'lifecycle_stage' specified. Valid keys are '{RUN_KEYS}'",
        ),
        (
            "datasets.profile = 'x'",
            "Invalid dataset key 'profile' specified. Valid keys are '{'name', 'digest', 'context'}'",
        ),
        ("metrics.acc = 'x'", "Expected numeric value type for metric. Found 'x'"),
        ('metrics.acc > "1"', 'Expected numeric value type for metric. Found "1"'),
        ("metrics.acc > 0x10", "Invalid clause(s) in filter string: 'metrics.acc', '>', '0x10'"),
        (
            "params.p = abc",
            "Parameter value is either not quoted or unidentified quote types used for string value abc. "
            "Use either single or double quotes.",
        ),
        ("params.p = 1", "Expected a quoted string value for parameter (e.g. 'my-value'). Got value 1"),
        ("tags.t = NULL", "Expected a quoted string value for tag (e.g. 'my-value'). Got value NULL"),
        ("tags.t IN ('a')", "Expected a quoted string value for tag (e.g. 'my-value'). Got value ('a')"),
        ("start_time = 'a'", "Expected numeric value type for numeric attribute: start_time. Found 'a'"),
        ("start_time IN (1)", "Expected numeric value type for numeric attribute: start_time. Found (1)"),
        ("status = 1", "Expected a quoted string value for attributes. Got value 1"),
        ("status IN ('a')", "Only ['run_id'] attributes support comparison with a list of quoted string values."),
        ("run_name IN ('a')", "Only ['run_id'] attributes support comparison with a list of quoted string values."),
        (
            "run_id IN ()",
            "While parsing a list in the query, expected a non-empty list of string values, but got empty list",
        ),
        (
            "run_id IN (1, 2)",
            "While parsing a list in the query, expected string value, punctuation, or whitespace, "
            "but got different type in list: (1, 2)",
        ),
        ("datasets.name = 1", "Expected a quoted string value for dataset attributes. Got value 1"),
        (
            "metrics.m IS NULL",
            "IS NULL / IS NOT NULL is only supported for tags and params, not for 'metric' 'm'",
        ),
        (
            "status IS NOT NULL",
            "IS NULL / IS NOT NULL is only supported for tags and params, not for 'attribute' 'status'",
        ),
        ("status > 'a'", f"Invalid comparator '>' not one of '{STRING_COMPARATORS}'"),
        ("start_time LIKE 1", f"Invalid comparator 'LIKE' not one of '{STRING_COMPARATORS}"),
        ("params.p > 'a'", f"Invalid comparator '>' not one of '{PARAM_COMPARATORS}'"),
        ("params.p == 'a'", f"Invalid comparator '==' not one of '{PARAM_COMPARATORS}'"),
        ("params.p NOT LIKE 'a'", f"Invalid comparator 'NOT LIKE' not one of '{PARAM_COMPARATORS}'"),
        ("tags.t <> 'a'", f"Invalid comparator '<>' not one of '{PARAM_COMPARATORS}"),
        ("metrics.m LIKE 1", f"Invalid comparator 'LIKE' not one of '{METRIC_COMPARATORS}"),
        ("metrics.m == 1", f"Invalid comparator '==' not one of '{METRIC_COMPARATORS}"),
        ("datasets.name > 'a'", f"Invalid comparator '>' not one of '{STRING_COMPARATORS}"),
    ],
)
def test_invalid_filters_are_rejected_with_the_reference_message(filter_string: str, message: str) -> None:
    assert error_of(filter_string) == message
    with pytest.raises(InvalidParameterValue):
        validate_run_filter(filter_string)


@pytest.mark.parametrize(
    ("order_by", "message"),
    [
        ([""], "Invalid order_by clause ''. Could not be parsed."),
        (["metrics.acc DESC ASC"], "Invalid order_by clause 'metrics.acc DESC ASC'. Could not be parsed."),
        (["metrics.acc, params.lr"], "Invalid order_by clause 'metrics.acc, params.lr'. Could not be parsed."),
        (["metrics.acc up"], "Invalid ordering key in order_by clause 'metrics.acc up'."),
        (["run name"], "Invalid ordering key in order_by clause 'run name'."),
        (["`run name`"], f"Invalid attribute key 'run name' specified. Valid keys are '{ORDER_KEYS}'"),
        (["timestamp"], f"Invalid attribute key 'timestamp' specified. Valid keys are '{ORDER_KEYS}'"),
        (["experiment_id"], f"Invalid attribute key 'experiment_id' specified. Valid keys are '{ORDER_KEYS}'"),
        (
            ["foo.bar"],
            "Invalid entity type 'foo'. Valid values are ['metric', 'parameter', 'tag', 'attribute', 'dataset']",
        ),
        (["datasets.name"], "Invalid identifier type 'dataset'"),
        (["metrics.acc", "metric.acc"], "`order_by` contains duplicate fields: ['metrics.acc', 'metric.acc']"),
        (["created", "start_time DESC"], "`order_by` contains duplicate fields: ['created', 'start_time DESC']"),
    ],
)
def test_invalid_order_by_is_rejected_with_the_reference_message(order_by: list[str], message: str) -> None:
    assert error_of(None, order_by) == message
    with pytest.raises(InvalidParameterValue):
        validate_run_order_by(order_by)


def test_filter_syntax_is_checked_before_order_by_and_order_by_before_comparators() -> None:
    assert error_of("params.p = 'a' OR x", ["foo"]) == "Invalid clause(s) in filter string: 'OR', 'x'"
    assert (
        error_of("params.p > 'a'", ["foo"]) == f"Invalid attribute key 'foo' specified. Valid keys are '{ORDER_KEYS}'"
    )
    assert error_of("params.p > 'a'", ["metrics.a", "metrics.a"]).startswith("`order_by` contains duplicate")


def test_list_compared_with_a_single_value_operator_is_a_bad_request() -> None:
    for filter_string in ("run_id = ('a')", "run_id LIKE ('a', 'b')", "datasets.name = ('a')"):
        with pytest.raises(BadRequest) as caught:
            compile_run_search(filter_string, None)
        assert caught.value.http_status == 400


def test_list_that_is_not_a_literal_is_rejected_as_ill_formed() -> None:
    assert error_of("run_id IN (abc)") == (
        "While parsing a list in the query, expected a non-empty list of string values, but got ill-formed list."
    )


def test_valid_filters_and_order_by_pass_validation() -> None:
    validate_run_filter("metrics.acc > 0.5 and params.lr = '0.1' and tags.`a b` IS NULL")
    validate_run_filter(None)
    validate_run_order_by(["metrics.acc DESC", "params.lr", "tags.t ASC", "attributes.start_time"])
    validate_run_order_by(None)


# ---------------------------------------------------------------------------------------------------------------
# agreement with the reference parser (in-process, no server)
# ---------------------------------------------------------------------------------------------------------------

PARSER_CORPUS = [
    "metrics.acc > 0.5 and params.lr = '0.1'",
    "tags.`mlflow.runName` LIKE '%x%' AND attributes.status != 'FAILED'",
    "run_id IN ('a', \"b\") and run_id NOT IN ('c')",
    "datasets.context IN ('training') and dataset.digest = 'abc'",
    "params.p IS NULL and tags.t is not null",
    "`run name` = 'x' and created > 5 and Created < 1.5",
    "metrics.acc > 1e3 AND metrics.loss <= -2",
    "params.p = 'a' OR x",
    "params.p IS NOT  NULL",
    "metrics.a-b > 1",
    "foo.bar = 1",
    "status IN ('a')",
    "metrics.m IS NULL",
    "params.p = abc",
    "start_time = 'x'",
    "run_id IN (1)",
    "a; b",
    "= 1",
    "metrics.acc > 0 AND",
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
    from stratus.domain.search.grammar import RUNS, parse_filter

    try:
        expected: object = [
            (item["type"], item["key"], item["comparator"], item["value"])
            for item in search_utils.SearchUtils.parse_search_filter(filter_string)
        ]
    except exceptions.MlflowException as error:
        expected = _normalise(error.message)
    try:
        actual: object = [
            (clause.entity, clause.key, clause.comparator, clause.value) for clause in parse_filter(filter_string, RUNS)
        ]
    except InvalidParameterValue as error:
        actual = _normalise(error.message)

    assert actual == expected
