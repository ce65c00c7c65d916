"""Model-registry search: registered models and model versions, filtered and ordered as the reference's SQL store.

The first part pins behaviour on small hand-made entities; the second builds the same models and versions in the
reference's model-registry ``SqlAlchemyStore`` (SQLite, in-process) and compares many requests, result for result
and error for error.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from stratus.domain.entities import ModelVersion, RegisteredModel
from stratus.domain.search import (
    compile_model_version_search,
    compile_registered_model_search,
    search_model_versions,
    search_registered_models,
    validate_model_version_max_results,
    validate_registered_model_max_results,
)
from stratus.errors import BadRequest, InvalidParameterValue, StratusError

PROMPT = "mlflow.prompt.is_prompt"
CLIENT_CLAUSE = "tag.`mlflow.prompt.is_prompt` != 'true'"  # what the MLflow client appends to every model search


def model(name: str, created: int = 0, updated: int | None = None, **tags: str) -> RegisteredModel:
    return RegisteredModel(name, created, created if updated is None else updated, tags=dict(tags))


def version(
    name: str,
    number: int,
    *,
    created: int = 0,
    updated: int | None = None,
    source: str = "s3://bucket/model",
    run_id: str | None = None,
    stage: str = "None",
    tags: dict[str, str] | None = None,
) -> ModelVersion:
    return ModelVersion(
        name,
        number,
        created,
        created if updated is None else updated,
        source,
        run_id=run_id,
        current_stage=stage,
        tags=dict(tags or {}),
    )


def names(models: Sequence[RegisteredModel]) -> list[str]:
    return [item.name for item in models]


def keys(versions: Sequence[ModelVersion]) -> list[tuple[str, int]]:
    return [(item.name, item.version) for item in versions]


def model_error(filter_string: str | None, order_by: list[str] | None = None) -> str:
    with pytest.raises(InvalidParameterValue) as caught:
        compile_registered_model_search(filter_string, order_by)
    return caught.value.message


def version_error(filter_string: str | None, order_by: list[str] | None = None) -> str:
    with pytest.raises(InvalidParameterValue) as caught:
        compile_model_version_search(filter_string, order_by)
    return caught.value.message


# ---------------------------------------------------------------------------------------------------------------
# registered models
# ---------------------------------------------------------------------------------------------------------------

MODELS = [
    model("plain", 10, 40),
    model("Vision", 20, 30, team="vision"),
    model("prompt", 30, 20, **{PROMPT: "true"}),
    model("odd-prompt", 40, 10, **{PROMPT: "True"}),
    model("declared", 50, 50, **{PROMPT: "false"}, team="nlp"),
]


def test_client_prompt_clause_keeps_models_without_the_tag_and_hides_prompts() -> None:
    # Given the clause the client appends, a model lacking the tag still matches; only an exact 'true' is a prompt.
    assert names(search_registered_models(MODELS, CLIENT_CLAUSE)) == ["Vision", "declared", "odd-prompt", "plain"]
    assert names(search_registered_models(MODELS, None)) == ["Vision", "declared", "odd-prompt", "plain"]
    assert names(search_registered_models(MODELS, f"name LIKE '%a%' AND {CLIENT_CLAUSE}")) == ["declared", "plain"]


def test_prompt_searches_return_prompts_and_other_prompt_clauses_are_ignored() -> None:
    assert names(search_registered_models(MODELS, f"tags.`{PROMPT}` = 'true'")) == ["prompt"]
    assert names(search_registered_models(MODELS, f"tags.`{PROMPT}` != 'false'")) == ["odd-prompt", "prompt"]
    # 'TRUE' asks for prompts, then compares case-sensitively: nothing.
    assert names(search_registered_models(MODELS, f"tags.`{PROMPT}` = 'TRUE'")) == []
    # Not a prompt search: the clause is dropped and prompts are hidden.
    everything_but_prompts = ["Vision", "declared", "odd-prompt", "plain"]
    assert names(search_registered_models(MODELS, f"tags.`{PROMPT}` = 'false'")) == everything_but_prompts
    assert names(search_registered_models(MODELS, f"tags.`{PROMPT}` LIKE 'nothing'")) == everything_but_prompts


def test_a_missing_tag_satisfies_no_comparison_not_even_inequality() -> None:
    assert names(search_registered_models(MODELS, "tags.team != 'x'")) == ["Vision", "declared"]
    assert names(search_registered_models(MODELS, "tag.team = 'nlp'")) == ["declared"]
    assert names(search_registered_models(MODELS, "tags.team LIKE 'V%'")) == []
    assert names(search_registered_models(MODELS, "tags.team ILIKE 'V%'")) == ["Vision"]


def test_name_comparisons_are_case_sensitive_except_ilike_which_folds_ascii_only() -> None:
    models = [model("Alpha"), model("alpha"), model("Élan"), model("élan")]

    assert names(search_registered_models(models, "name = 'alpha'")) == ["alpha"]
    assert names(search_registered_models(models, "name LIKE 'a%'")) == ["alpha"]
    assert names(search_registered_models(models, "name ILIKE 'A%'")) == ["Alpha", "alpha"]
    assert names(search_registered_models(models, "name ILIKE 'é%'")) == ["élan"]
    assert names(search_registered_models(models, "attribute.name IN ('Alpha', 'élan')")) == ["Alpha", "élan"]
    assert names(search_registered_models(models, "name NOT IN ('Alpha')")) == ["alpha", "Élan", "élan"]


def test_models_order_by_name_by_default_and_timestamp_means_last_update() -> None:
    assert names(search_registered_models(MODELS, None, ["timestamp"])) == [
        "odd-prompt",
        "Vision",
        "plain",
        "declared",
    ]
    assert names(search_registered_models(MODELS, None, ["last_updated_timestamp DESC"])) == [
        "declared",
        "plain",
        "Vision",
        "odd-prompt",
    ]
    assert names(search_registered_models(MODELS, None, ["name DESC"])) == ["plain", "odd-prompt", "declared", "Vision"]


def test_ties_on_last_update_are_broken_by_name() -> None:
    models = [model("b", 1, 7), model("a", 2, 7), model("c", 3, 1)]

    assert names(search_registered_models(models, None, ["timestamp DESC"])) == ["a", "b", "c"]


def test_model_order_by_refuses_creation_timestamp_and_duplicates() -> None:
    assert model_error(None, ["creation_timestamp"]) == (
        "Invalid order by key 'creation_timestamp' specified. Valid keys are '{'name', 'timestamp'}'"
    )
    assert model_error(None, ["timestamp", "last_updated_timestamp DESC"]) == (
        "`order_by` contains duplicate fields: ['timestamp', 'last_updated_timestamp DESC']"
    )


@pytest.mark.parametrize(
    ("filter_string", "message"),
    [
        ("description = 'x'", "Invalid attribute key 'description' specified. Valid keys are '{'name'}'"),
        ("`name` = 'x'", "Invalid attribute key '`name`' specified. Valid keys are '{'name'}'"),
        ("params.a = 'x'", "Invalid entity type 'params'. Valid entity types are ('attribute', 'tag', 'tags')"),
        ("name = 5", "Expected a quoted string value or a list of quoted string values for attributes. Got value 5"),
        ("tags.a IN ('x')", "Expected a quoted string value for tag (e.g. 'my-value'). Got value ('x')"),
        ("name > 'a'", "Invalid comparator for attribute: >"),
        ("tags.a <> 'x'", "Invalid comparator for tag: <>"),
        ("name = 'a' OR name = 'b'", "Invalid clause(s) in filter string: OR"),
    ],
)
def test_model_filter_errors_use_the_reference_messages(filter_string: str, message: str) -> None:
    assert model_error(filter_string) == message


def test_tag_is_null_is_a_client_error_not_a_crash() -> None:
    message = model_error("tags.a IS NULL")

    assert "IS NULL" in message


def test_model_filter_syntax_is_checked_before_order_by_and_comparators_after() -> None:
    assert model_error("foo = 'x'", ["bar"]).startswith("Invalid attribute key 'foo'")
    assert model_error("name > 'a'", ["bar"]).startswith("Invalid order by key 'bar'")


def test_a_list_compared_with_equals_is_a_bad_request() -> None:
    with pytest.raises(BadRequest) as caught:
        compile_registered_model_search("name = ('a')", None)

    assert caught.value.http_status == 400


# ---------------------------------------------------------------------------------------------------------------
# model versions
# ---------------------------------------------------------------------------------------------------------------

VERSIONS = [
    version("m", 1, created=10, updated=10, run_id="r1", source="s3://b/m/1", tags={"env": "prod"}),
    version("m", 2, created=20, updated=50, run_id="r2", source="s3://b/m/2"),
    version("m", 3, created=30, updated=60, run_id="r1", stage="Deleted_Internal"),
    version("a", 1, created=5, updated=50, source="runs:/r1/model"),
    version("a", 10, created=6, updated=6, run_id="r3"),
]


def test_versions_default_order_is_last_update_desc_then_name_then_version_desc_and_deleted_are_hidden() -> None:
    assert keys(search_model_versions(VERSIONS, None)) == [("a", 1), ("m", 2), ("m", 1), ("a", 10)]
    assert keys(search_model_versions(VERSIONS, None, ["name"])) == [("a", 10), ("a", 1), ("m", 2), ("m", 1)]
    assert keys(search_model_versions(VERSIONS, None, ["version_number", "creation_timestamp DESC"])) == [
        ("m", 1),
        ("a", 1),
        ("m", 2),
        ("a", 10),
    ]


def test_version_number_compares_as_an_integer_and_accepts_what_python_int_reads() -> None:
    assert keys(search_model_versions(VERSIONS, "version_number > 2")) == [("a", 10)]
    assert keys(search_model_versions(VERSIONS, "version_number = ' 10 '")) == [("a", 10)]
    assert keys(search_model_versions(VERSIONS, "version_number = '1_0'")) == [("a", 10)]
    assert version_error("version_number = 1.0") == "Invalid value for numeric attribute 'version_number': 1.0"
    assert version_error("version_number = '1.0'") == "Invalid value for numeric attribute 'version_number': '1.0'"
    assert version_error("version_number LIKE '1'") == "Invalid comparator for attribute version_number: LIKE"


def test_run_id_and_source_path_filters() -> None:
    assert keys(search_model_versions(VERSIONS, "run_id IN ('r1', 'r3')")) == [("m", 1), ("a", 10)]
    # A version without a run satisfies no comparison on run_id.
    assert keys(search_model_versions(VERSIONS, "run_id != 'r1'")) == [("m", 2), ("a", 10)]
    assert keys(search_model_versions(VERSIONS, "source_path LIKE 'runs:/%'")) == [("a", 1)]
    assert keys(search_model_versions(VERSIONS, "name = 'm' AND tags.env = 'prod'")) == [("m", 1)]


def test_one_prompt_tagged_version_hides_every_version_of_its_model() -> None:
    versions = [
        version("p", 1, tags={PROMPT: "true"}),
        version("p", 2),
        version("q", 1, stage="Deleted_Internal", tags={PROMPT: "true"}),
        version("q", 2),
        version("r", 1),
    ]

    assert keys(search_model_versions(versions, None)) == [("r", 1)]
    assert keys(search_model_versions(versions, f"tags.`{PROMPT}` = 'true'")) == [("p", 1)]


@pytest.mark.parametrize(
    ("filter_string", "order_by", "message"),
    [
        (
            "creation_timestamp > 0",
            None,
            "Invalid attribute key 'creation_timestamp' specified. "
            "Valid keys are '{'name', 'version_number', 'run_id', 'source_path'}'",
        ),
        (
            "run_id = 5",
            None,
            "Only the '{'version_number', 'creation_timestamp', 'last_updated_timestamp'}' attributes support "
            "comparison with numeric values.",
        ),
        (
            "source_path IN ('a')",
            None,
            "Only ['name', 'run_id'] attributes support comparison with a list of quoted string values.",
        ),
        (
            None,
            ["tags.foo"],
            "Invalid order by key 'foo' specified. "
            "Valid keys are {'name', 'version_number', 'creation_timestamp', 'last_updated_timestamp'}",
        ),
        (
            None,
            ["run_id"],
            "Invalid attribute key 'run_id' specified. "
            "Valid keys are '{'name', 'version_number', 'creation_timestamp', 'last_updated_timestamp'}'",
        ),
        (None, ["version_number", "version_number DESC"], "`order_by` contains duplicate fields: "),
        ("run_id > 'a'", ["bogus"], "Invalid comparator for attribute: >"),
    ],
)
def test_version_errors_use_the_reference_messages_in_its_order(
    filter_string: str | None, order_by: list[str] | None, message: str
) -> None:
    assert version_error(filter_string, order_by).startswith(message)


def test_a_filter_pinning_one_model_names_it_for_the_caller() -> None:
    assert compile_model_version_search("name = 'm' AND run_id = 'r1'", None).model_name == "m"
    assert compile_model_version_search("name LIKE 'm'", None).model_name is None
    assert compile_model_version_search("name = 'm' AND name = 'n'", None).model_name is None


# ---------------------------------------------------------------------------------------------------------------
# max_results
# ---------------------------------------------------------------------------------------------------------------

_API_DOCS = " See the API docs for more information about request parameters."


def test_max_results_defaults_and_limits() -> None:
    assert validate_registered_model_max_results(None) == 100
    assert validate_registered_model_max_results(1000) == 1000
    assert validate_registered_model_max_results("7") == 7
    assert validate_model_version_max_results(None) == 200_000
    assert validate_model_version_max_results(200_000) == 200_000
    # What protobuf cannot read but int() can falls back to the default, as in the reference.
    assert validate_registered_model_max_results(" 5") == 100
    assert validate_registered_model_max_results(5.5) == 100


@pytest.mark.parametrize(
    ("check", "value", "message"),
    [
        (
            validate_registered_model_max_results,
            1001,
            "Invalid value 1001 for parameter 'max_results' supplied:  Hint: Value was of type 'int'." + _API_DOCS,
        ),
        (
            validate_registered_model_max_results,
            "1001",
            "Invalid value \"1001\" for parameter 'max_results' supplied:  Hint: Value was of type 'str'." + _API_DOCS,
        ),
        (
            validate_registered_model_max_results,
            "abc",
            "Invalid value \"abc\" for parameter 'max_results' supplied:  Hint: Value was of type 'str'." + _API_DOCS,
        ),
        (
            validate_model_version_max_results,
            "200001",
            "Invalid value \"200001\" for parameter 'max_results' supplied:  Hint: Value was of type 'str'."
            + _API_DOCS,
        ),
        (
            validate_model_version_max_results,
            1e10,
            "Invalid value 10000000000.0 for parameter 'max_results' supplied:  Hint: Value was of type 'float'."
            + _API_DOCS,
        ),
        (
            validate_model_version_max_results,
            0,
            "Invalid value for max_results. It must be a positive integer, but got 0",
        ),
        (
            validate_model_version_max_results,
            "-1",
            "Invalid value for max_results. It must be a positive integer, but got -1",
        ),
        (
            validate_registered_model_max_results,
            0,
            "Invalid value for max_results. It must be a positive integer, but got 0",
        ),
        (
            validate_registered_model_max_results,
            [5],
            "Invalid value [5] for parameter 'max_results' supplied:  Hint: Value was of type 'list'." + _API_DOCS,
        ),
    ],
)
def test_max_results_errors_use_the_reference_handler_messages(check: Any, value: object, message: str) -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        check(value)

    assert caught.value.message == message
    assert caught.value.http_status == 400


# ---------------------------------------------------------------------------------------------------------------
# differential: the same registry in the reference's SqlAlchemyStore (SQLite, in-process)
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class ModelSpec:
    name: str
    created: int
    updated: int
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class VersionSpec:
    name: str
    created: int
    updated: int
    source: str
    run_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    deleted: bool = False


MODEL_SPECS = [
    ModelSpec("alpha", 1000, 5000, {"team": "vision", "stage": "prod"}),
    ModelSpec("Beta", 2000, 2000, {"team": "nlp"}),
    ModelSpec("gamma", 3000, 4000),
    ModelSpec("alpha_2", 1500, 4000, {"team": "Vision", "stage": "dev"}),
    ModelSpec("delta%", 500, 6000, {"owner": "a.b"}),
    ModelSpec("émile", 2500, 1000, {"team": "ÉQUIPE"}),
    ModelSpec("with space", 2600, 2600, {"note": "x y"}),
    ModelSpec("prompt-a", 100, 100, {PROMPT: "true", "team": "nlp"}),
    ModelSpec("prompt-b", 200, 7000, {PROMPT: "True"}),
    ModelSpec("not-prompt", 300, 300, {PROMPT: "false"}),
    ModelSpec("vp", 400, 400),
]

# Versions are numbered 1, 2, ... per model in this order.
VERSION_SPECS = [
    VersionSpec("alpha", 1100, 1200, "s3://bucket/alpha/1", "r1", {"k": "v1", "env": "prod"}),
    VersionSpec("alpha", 1300, 5000, "s3://bucket/alpha/2", "r2", {"k": "v2"}),
    VersionSpec("alpha", 1350, 1350, "s3://bucket/alpha/3", "r1", {"k": "v3"}, deleted=True),
    VersionSpec("alpha", 1400, 1400, "runs:/r1/model"),
    VersionSpec("Beta", 2100, 5000, "s3://bucket/Beta/1", "r1", {"env": "staging"}),
    VersionSpec("Beta", 2200, 2200, "mlflow-artifacts:/1/models/m-123/artifacts", "r3", {"env": "Prod"}),
    VersionSpec("gamma", 3100, 3100, "s3://bucket/gamma/1", "r3"),
    VersionSpec("gamma", 3200, 3200, "s3://bucket/gamma/2", "r3", {"k": "v1"}),
    VersionSpec("gamma", 3300, 3300, "s3://bucket/gamma/3", "r2", {"k": "V1"}),
    VersionSpec("gamma", 3400, 1000, "s3://bucket/gamma/4", "r4"),
    VersionSpec("gamma", 3500, 3500, "s3://bucket/gamma/5", "r4"),
    VersionSpec("gamma", 3600, 3600, "s3://bucket/gamma/6", "r4"),
    VersionSpec("gamma", 3700, 3700, "s3://bucket/gamma/7", "r4"),
    VersionSpec("gamma", 3800, 3800, "s3://bucket/gamma/8", "r4"),
    VersionSpec("gamma", 3900, 3900, "s3://bucket/gamma/9", "r4"),
    VersionSpec("gamma", 4000, 4000, "s3://bucket/gamma/10", "r4"),
    VersionSpec("delta%", 600, 600, "s3://bucket/delta%/1", "r5", {"owner": "x"}),
    VersionSpec("émile", 2550, 2550, "file:///tmp/émile", "r1", {"k": "É"}),
    VersionSpec("prompt-a", 150, 150, "dummy-source", None, {PROMPT: "true"}),
    VersionSpec("prompt-a", 160, 160, "dummy-source"),
    VersionSpec("prompt-b", 250, 250, "s3://bucket/pb/1", None, {PROMPT: "True"}),
    VersionSpec("not-prompt", 350, 350, "s3://bucket/np/1", "r1", {PROMPT: "false"}),
    VersionSpec("vp", 410, 410, "s3://bucket/vp/1", None, {PROMPT: "true"}, deleted=True),
    VersionSpec("vp", 420, 420, "s3://bucket/vp/2", "r1"),
]


@dataclass
class Both:
    reference: Any  # the reference's model-registry SqlAlchemyStore
    models: list[RegisteredModel]
    versions: list[ModelVersion]


def _create_reference_schema(uri: str) -> None:
    """The reference's tables as its ORM declares them, stamped at the head revision (its migrations are slow)."""
    import sqlalchemy
    from mlflow.store.db.base_sql_model import Base
    from mlflow.store.db.utils import _get_latest_schema_revision
    from sqlalchemy.schema import CreateTable

    engine = sqlalchemy.create_engine(uri)
    with engine.begin() as connection:
        for table in Base.metadata.sorted_tables:
            connection.execute(CreateTable(table))
        connection.execute(sqlalchemy.text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
        connection.execute(
            sqlalchemy.text("INSERT INTO alembic_version VALUES (:head)"), {"head": _get_latest_schema_revision()}
        )
    engine.dispose()


def _build_reference(store: Any) -> None:
    from mlflow.entities.model_registry import ModelVersionTag, RegisteredModelTag
    from sqlalchemy import text

    for model_spec in MODEL_SPECS:
        store.create_registered_model(
            model_spec.name, tags=[RegisteredModelTag(k, v) for k, v in model_spec.tags.items()]
        )
    set_times = text(
        "UPDATE model_versions SET creation_time = :c, last_updated_time = :u WHERE name = :n AND version = :v"
    )
    for spec in VERSION_SPECS:
        created = store.create_model_version(
            spec.name, spec.source, run_id=spec.run_id, tags=[ModelVersionTag(k, v) for k, v in spec.tags.items()]
        )
        if spec.deleted:
            store.delete_model_version(spec.name, created.version)
        with store.engine.begin() as connection:
            connection.execute(
                set_times, {"c": spec.created, "u": spec.updated, "n": spec.name, "v": int(created.version)}
            )
    # Last, as creating and deleting versions touch their model's last update.
    with store.engine.begin() as connection:
        for model_spec in MODEL_SPECS:
            connection.execute(
                text("UPDATE registered_models SET creation_time = :c, last_updated_time = :u WHERE name = :n"),
                {"c": model_spec.created, "u": model_spec.updated, "n": model_spec.name},
            )


def _ours() -> tuple[list[RegisteredModel], list[ModelVersion]]:
    models = [RegisteredModel(spec.name, spec.created, spec.updated, tags=dict(spec.tags)) for spec in MODEL_SPECS]
    versions: list[ModelVersion] = []
    numbers: dict[str, int] = {}
    for spec in VERSION_SPECS:
        numbers[spec.name] = numbers.get(spec.name, 0) + 1
        versions.append(
            ModelVersion(
                spec.name,
                numbers[spec.name],
                spec.created,
                spec.updated,
                spec.source,
                run_id=spec.run_id,
                current_stage="Deleted_Internal" if spec.deleted else "None",
                tags=dict(spec.tags),
            )
        )
    return models, versions


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Both]:
    pytest.importorskip("mlflow")
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore

    root: Path = tmp_path_factory.mktemp("registry-reference")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    _create_reference_schema(uri)
    store = SqlAlchemyStore(uri)
    _build_reference(store)
    models, versions = _ours()
    yield Both(store, models, versions)
    store.engine.dispose()


def _normalise(message: str) -> str:
    """Sort the items of any printed set, whose order varies in the reference."""
    return re.sub(
        r"\{('[^']*'(?:, '[^']*')*)\}", lambda found: "{" + ", ".join(sorted(found.group(1).split(", "))) + "}", message
    )


def _reference_answer(call: Any) -> object:
    from mlflow.exceptions import MlflowException

    try:
        return call()
    except MlflowException as error:
        if error.error_code == "INVALID_PARAMETER_VALUE":
            return ("error", error.error_code, _normalise(error.message))
        if error.error_code == "BAD_REQUEST":  # SQLite refusing a bound value; its message quotes the SQL
            return ("error", error.error_code, None)
        return ("internal error",)
    except Exception:  # the reference crashes (a 500)
        return ("internal error",)


def _our_answer(call: Any, expected: object) -> object:
    try:
        return call()
    except StratusError as error:
        assert error.http_status == 400, "a 4xx, never a 5xx that clients retry"
        if expected == ("internal error",):
            return expected  # where the reference crashes, any 400 will do
        exact = isinstance(expected, tuple) and expected[2] is not None
        return ("error", error.error_code, _normalise(error.message) if exact else None)


def _agree_on_models(both: Both, filter_string: str | None, order_by: list[str] | None = None) -> None:
    expected = _reference_answer(
        lambda: [item.name for item in both.reference.search_registered_models(filter_string, 1000, order_by)]
    )
    actual = _our_answer(lambda: names(search_registered_models(both.models, filter_string, order_by)), expected)
    assert actual == expected


def _agree_on_versions(both: Both, filter_string: str | None, order_by: list[str] | None = None) -> None:
    expected = _reference_answer(
        lambda: [
            (item.name, int(item.version))
            for item in both.reference.search_model_versions(filter_string, 200_000, order_by)
        ]
    )
    actual = _our_answer(lambda: keys(search_model_versions(both.versions, filter_string, order_by)), expected)
    assert actual == expected


MODEL_FILTERS = [
    None,
    "",
    "  ",
    CLIENT_CLAUSE,
    f"name LIKE 'a%' AND {CLIENT_CLAUSE}",
    "name = 'alpha'",
    "name = 'Alpha'",
    "name != 'alpha'",
    "name LIKE 'a%'",
    "name like 'A%'",
    "name ILIKE 'A%'",
    "name ILIKE 'É%'",
    "name ILIKE '%ÉMILE'",
    "name LIKE '%\\%'",
    "name LIKE 'delta%'",
    "name LIKE '_lpha'",
    "name LIKE 'alpha_'",
    "name LIKE '%a%a%'",
    "name IN ('alpha', 'Beta', 'nope')",
    "name in ('alpha')",
    "name NOT IN ('alpha', 'gamma')",
    "name not in ('alpha')",
    "name IN ('prompt-a', 'alpha')",
    'name = "alpha"',
    "attribute.name = 'gamma'",
    "name = 'with space'",
    "tags.team = 'vision'",
    "tag.team != 'vision'",
    "tags.team LIKE '%i%'",
    "tags.team ILIKE 'VISION'",
    "tags.team ILIKE 'équipe'",
    "tags.`team` = 'nlp'",
    "tags.\"team\" = 'nlp'",
    "tags.stage = 'prod' AND tags.team = 'vision'",
    "tags.stage = 'prod' AND tags.team = 'nlp'",
    "tags.team != 'x' AND tags.team != 'nlp'",
    "tags.team = 'vision' AND tags.team != 'vision'",
    "tags.missing != 'x'",
    "tags.owner = 'a.b'",
    "tags.note = 'x y'",
    "name LIKE '%a%' and tags.team LIKE '%' AND name != 'Beta'",
    f"tags.`{PROMPT}` = 'true'",
    f"tags.`{PROMPT}` = 'TRUE'",
    f"tags.`{PROMPT}` = 'false'",
    f"tags.`{PROMPT}` != 'false'",
    f"tags.`{PROMPT}` != 'FALSE'",
    f"tags.`{PROMPT}` != 'true'",
    f"tags.`{PROMPT}` LIKE 'tr%'",
    f"tags.`{PROMPT}` ILIKE 'TRUE'",
    f"tags.`{PROMPT}` = 'true' AND tags.team = 'nlp'",
    f"tags.`{PROMPT}` = 'true' AND tags.`{PROMPT}` = 'false'",
    f"tags.`{PROMPT}` = 'false' AND tags.`{PROMPT}` = 'true'",
    f"tags.`{PROMPT}` = 'true' AND name = 'alpha'",
    f"tag.`{PROMPT}` != 'true' AND tags.team = 'nlp'",
    # rejected
    "name = ('alpha')",
    "name LIKE ('a%')",
    "name = 5",
    "name = alpha",
    "name > 'a'",
    "name <> 'a'",
    "name IS NULL",
    "tags.team IS NOT NULL",
    "tags.team IN ('nlp')",
    "tags.team = 5",
    "tags.team < 'z'",
    "tags.team NOT IN ('a')",
    "`name` = 'alpha'",
    "\"name\" = 'alpha'",
    "attributes.name = 'alpha'",
    "Name = 'alpha'",
    "creation_timestamp > 0",
    "description = 'x'",
    "params.a = 'b'",
    "metrics.a > 1",
    "name = 'a' OR name = 'b'",
    "name = 'a'; name = 'b'",
    "(name = 'a')",
    "name",
    "name = 'a' AND",
    "name = 'a''",
    "name IN ()",
    "name IN (1, 2)",
    "name IN ('a', 1)",
    "name = 'a' -- comment",
    "name = 'alpha' AND AND name = 'b'",
    "(" * 100 + "name = 'a'" + ")" * 100,
]


@pytest.mark.parametrize("filter_string", MODEL_FILTERS)
def test_model_filters_agree_with_the_reference_store(both: Both, filter_string: str | None) -> None:
    _agree_on_models(both, filter_string)


MODEL_ORDERS: list[list[str]] = [
    [],
    ["name"],
    ["name DESC"],
    ["name asc"],
    ["timestamp"],
    ["timestamp DESC"],
    ["last_updated_timestamp"],
    ["last_updated_timestamp DESC", "name DESC"],
    ["name", "timestamp"],
    ["`name` DESC"],
    ["  name  "],
    # rejected
    ["creation_timestamp"],
    ["`name`"],
    ["attribute.name"],
    ["name", "name DESC"],
    ["timestamp", "last_updated_timestamp"],
    ["name sideways"],
    ["name DESC extra"],
    ["tags.team"],
    [""],
    ["name, timestamp"],
]


@pytest.mark.parametrize("order_by", MODEL_ORDERS, ids=str)
def test_model_orders_agree_with_the_reference_store(both: Both, order_by: list[str]) -> None:
    _agree_on_models(both, CLIENT_CLAUSE, order_by)  # the client sends this clause with every search


VERSION_FILTERS = [
    None,
    "",
    "name = 'alpha'",
    "name = 'gamma' AND version_number > 3",
    "name != 'gamma'",
    "name LIKE 'g%'",
    "name ILIKE 'B%'",
    "name IN ('alpha', 'Beta')",
    "name NOT IN ('gamma')",
    "version_number = 1",
    "version_number = '2'",
    "version_number = ' 2 '",
    "version_number = '1_0'",
    "version_number = '+3'",
    "version_number != 1",
    "version_number >= 9",
    "version_number < 2",
    "version_number <= '2'",
    "attribute.version_number = 3",
    "run_id = 'r1'",
    "run_id != 'r1'",
    "run_id IN ('r1', 'r3')",
    "run_id NOT IN ('r4')",
    "run_id LIKE 'r%'",
    "run_id ILIKE 'R1'",
    "source_path = 'runs:/r1/model'",
    "source_path LIKE 's3://bucket/gamma/%'",
    "source_path LIKE '%/1'",
    "source_path ILIKE '%MODEL'",
    "source_path != 'dummy-source'",
    "source_path LIKE 's3://bucket/delta%'",
    "tags.k = 'v1'",
    "tags.k != 'v1'",
    "tags.k LIKE 'v%'",
    "tags.k ILIKE 'v1'",
    "tags.env = 'prod' AND tags.k = 'v1'",
    "tags.k ILIKE 'é'",
    "tags.missing != 'x'",
    "name = 'alpha' AND run_id = 'r1' AND tags.k LIKE 'v%'",
    f"tags.`{PROMPT}` = 'true'",
    f"tags.`{PROMPT}` != 'true'",
    f"tags.`{PROMPT}` = 'false'",
    f"tags.`{PROMPT}` != 'false'",
    f"tags.`{PROMPT}` = 'True'",
    f"tags.`{PROMPT}` = 'true' AND name = 'vp'",
    "name = 'vp'",
    "name = 'prompt-a'",
    # rejected
    "version_number = 1.0",
    "version_number = '1.0'",
    "version_number = 'one'",
    "version_number LIKE '1'",
    "version_number IN ('1')",
    "version_number IS NULL",
    "run_id = 5",
    "run_id = ('r1')",
    "run_id LIKE ('r1', 'r2')",
    "run_id > 'r1'",
    "source_path IN ('x')",
    "source_path NOT IN ('x')",
    "name = 1.5",
    "tags.k IN ('v1')",
    "tags.k = 1",
    "tags.k >= 'v'",
    "creation_timestamp > 0",
    "last_updated_timestamp > 0",
    "version = 1",
    "source = 'x'",
    "`run_id` = 'r1'",
    "attributes.run_id = 'r1'",
    "metrics.a > 0",
    "run_id = 'r1' OR run_id = 'r2'",
    "run_id",
    "run_id IN ()",
    "run_id IN (1)",
]


@pytest.mark.parametrize("filter_string", VERSION_FILTERS)
def test_version_filters_agree_with_the_reference_store(both: Both, filter_string: str | None) -> None:
    _agree_on_versions(both, filter_string)


VERSION_ORDERS: list[list[str]] = [
    [],
    ["name"],
    ["name DESC"],
    ["version_number"],
    ["version_number DESC", "name DESC"],
    ["creation_timestamp"],
    ["creation_timestamp DESC"],
    ["last_updated_timestamp"],
    ["last_updated_timestamp DESC", "version_number ASC"],
    ["attribute.creation_timestamp DESC"],
    ["tags.name DESC"],
    ["`version_number` DESC"],
    ["name", "version_number", "creation_timestamp", "last_updated_timestamp"],
    # rejected
    ["version"],
    ["run_id"],
    ["timestamp"],
    ["tags.foo"],
    ["metrics.x"],
    ["name", "name"],
    ["version_number", "tags.version_number DESC"],
    ["name upwards"],
    [""],
]


@pytest.mark.parametrize("order_by", VERSION_ORDERS, ids=str)
def test_version_orders_agree_with_the_reference_store(both: Both, order_by: list[str]) -> None:
    _agree_on_versions(both, None, order_by)


@pytest.mark.parametrize(
    ("filter_string", "order_by"),
    [
        ("foo = 'x'", ["bar"]),
        ("name > 'a'", ["bar"]),
        ("name = ('a')", ["bar"]),
        ("name = ('a')", ["name"]),
        ("tags.a IS NULL", ["bar"]),
    ],
)
def test_error_order_agrees_with_the_reference_store(both: Both, filter_string: str, order_by: list[str]) -> None:
    _agree_on_models(both, filter_string, order_by)
    _agree_on_versions(both, filter_string, order_by)


@pytest.mark.parametrize("max_results", [0, -1])
def test_version_max_results_checks_agree_with_the_reference_store(both: Both, max_results: int) -> None:
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException) as expected:
        both.reference.search_model_versions(None, max_results)
    with pytest.raises(InvalidParameterValue) as actual:
        validate_model_version_max_results(max_results)

    assert actual.value.message == expected.value.message
