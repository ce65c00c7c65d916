"""Logged-model search: the reference's own grammar, its SQL semantics on SQLite, and its order.

The first part pins behaviour on small hand-made models; the second builds the same models in the reference's
``SqlAlchemyStore`` (SQLite, in-process) and compares many requests, result for result and error for error.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from stratus.domain.entities import LoggedModel, ModelMetric
from stratus.domain.search import compile_logged_model_search, search_logged_models
from stratus.errors import InvalidParameterValue

MAX = 1.7976931348623157e308


def make_model(
    model_id: str,
    *,
    name: str | None = None,
    created: int = 0,
    status: str = "LOGGED_MODEL_READY",
    model_type: str | None = None,
    source_run_id: str | None = None,
    lifecycle_stage: str = "active",
    params: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    metrics: Sequence[ModelMetric] = (),
    experiment_id: str = "1",
) -> LoggedModel:
    return LoggedModel(
        model_id=model_id,
        experiment_id=experiment_id,
        name=name or model_id,
        artifact_uri=f"mlflow-artifacts:/{experiment_id}/models/{model_id}/artifacts",
        creation_timestamp_ms=created,
        last_updated_timestamp_ms=created,
        status=status,
        lifecycle_stage=lifecycle_stage,
        model_type=model_type,
        source_run_id=source_run_id,
        params=dict(params or {}),
        tags=dict(tags or {}),
        metrics=list(metrics),
    )


def point(
    key: str,
    value: float,
    *,
    timestamp: int = 1,
    step: int = 0,
    run_id: str | None = "r1",
    dataset: tuple[str, str] | None = None,
) -> ModelMetric:
    name, digest = dataset if dataset else (None, None)
    return ModelMetric(key, value, timestamp, step, run_id=run_id, dataset_name=name, dataset_digest=digest)


def ids(models: list[LoggedModel]) -> list[str]:
    return [model.model_id for model in models]


def found(
    models: list[LoggedModel],
    filter_string: str | None = None,
    order_by: list[dict[str, Any]] | None = None,
    datasets: list[dict[str, Any]] | None = None,
) -> list[str]:
    return ids(search_logged_models(models, filter_string, order_by, datasets))


def error_of(
    filter_string: str | None,
    order_by: list[dict[str, Any]] | None = None,
    datasets: list[dict[str, Any]] | None = None,
) -> str:
    with pytest.raises(InvalidParameterValue) as caught:
        compile_logged_model_search(filter_string, order_by, datasets)
    assert caught.value.http_status == 400
    return caught.value.message


# ---------------------------------------------------------------------------------------------------------------
# filters
# ---------------------------------------------------------------------------------------------------------------


def test_no_filter_lists_newest_first_then_by_model_id_and_hides_deleted_models() -> None:
    models = [
        make_model("m-b", created=5),
        make_model("m-a", created=5),
        make_model("m-c", created=9),
        make_model("m-gone", created=99, lifecycle_stage="deleted"),
    ]

    assert found(models) == ["m-c", "m-a", "m-b"]
    assert found(models, "name LIKE 'm-%'") == ["m-c", "m-a", "m-b"]


def test_status_is_compared_as_the_reference_stores_it_an_integer() -> None:
    models = [
        make_model("pending", status="LOGGED_MODEL_PENDING"),
        make_model("ready", status="LOGGED_MODEL_READY"),
        make_model("failed", status="LOGGED_MODEL_UPLOAD_FAILED"),
    ]

    assert found(models, "status = 'READY'") == []
    assert found(models, "status = 'LOGGED_MODEL_READY'") == []
    assert set(found(models, "status != 'READY'")) == {"pending", "ready", "failed"}
    assert found(models, "status = '2'") == ["ready"]
    assert found(models, "status = ' 2.0 '") == ["ready"]
    assert found(models, "status = 2") == ["ready"]
    assert set(found(models, "status IN ('1', '3')")) == {"pending", "failed"}
    assert found(models, "status LIKE '3'") == ["failed"]


def test_metric_filter_holds_when_any_point_satisfies_it() -> None:
    model = make_model("m", metrics=[point("acc", 0.2, timestamp=1), point("acc", 0.9, timestamp=2)])

    assert found([model], "metrics.acc < 0.5") == ["m"]
    assert found([model], "metrics.acc > 0.5") == ["m"]
    assert found([model], "metrics.acc > 0.95") == []


def test_nan_points_compare_as_zero_and_infinite_points_as_the_largest_float() -> None:
    models = [
        make_model("nan", metrics=[point("m", math.nan)]),
        make_model("inf", metrics=[point("m", math.inf)]),
        make_model("none"),
    ]

    assert found(models, "metrics.m = 0") == ["nan"]
    assert found(models, "metrics.m >= 1.7976931348623157e308") == ["inf"]
    assert set(found(models, "metrics.m < inf")) == {"nan", "inf"}
    assert found(models, "metrics.m != nan") == []


def test_models_without_the_key_satisfy_no_comparison_not_even_not_equal() -> None:
    models = [make_model("with", params={"p": "1"}, tags={"t": "1"}, model_type="x"), make_model("without")]

    assert found(models, "params.p != '2'") == ["with"]
    assert found(models, "tags.t != '2'") == ["with"]
    assert found(models, "model_type != 'y'") == ["with"]
    assert found(models, "model_type NOT IN ('y')") == ["with"]


def test_strings_compare_like_sqlite() -> None:
    models = [make_model("m1", name="Alpha"), make_model("m2", name="alpha_2"), make_model("m3", name="ÀLPHA")]

    assert found(models, "name LIKE 'a%'") == ["m2"]
    assert set(found(models, "name ILIKE 'a%'")) == {"m1", "m2"}
    assert found(models, "name ILIKE 'àlpha'") == []
    assert found(models, "name LIKE 'alpha_2'") == ["m2"]
    assert set(found(models, "name IN ('Alpha', 'ÀLPHA')")) == {"m1", "m3"}


def test_values_keep_everything_but_single_quotes_at_their_ends() -> None:
    models = [make_model("m1", name="x"), make_model("m2", name='"x"'), make_model("m3", name="it''s")]

    assert found(models, "name = x") == ["m1"]
    assert found(models, 'name = "x"') == ["m2"]
    assert found(models, "name = 'it''s'") == ["m3"]


def test_request_datasets_narrow_which_metric_points_count() -> None:
    models = [
        make_model("on-eval", metrics=[point("acc", 0.9, dataset=("eval", "d1")), point("acc", 0.1)]),
        make_model("on-test", metrics=[point("acc", 0.9, dataset=("test", "t1"))]),
        make_model("no-dataset", metrics=[point("acc", 0.9)]),
    ]
    on_eval = [{"dataset_name": "eval", "dataset_digest": "d1"}]

    assert found(models, "metrics.acc > 0.5", datasets=on_eval) == ["on-eval"]
    assert found(models, "metrics.acc < 0.5", datasets=on_eval) == []
    assert found(models, None, datasets=on_eval) == ["on-eval"]
    both = [*on_eval, {"dataset_name": "test", "dataset_digest": "t1"}]
    assert set(found(models, None, datasets=both)) == {"on-eval", "on-test"}


def test_a_dataset_named_without_digest_matches_only_points_logged_without_one() -> None:
    # The reference handler passes dataset_digest=None and the store turns that into "dataset_digest IS NULL".
    models = [
        make_model("with-digest", metrics=[point("acc", 1, dataset=("eval", "d1"))]),
        make_model("name-only", metrics=[ModelMetric("acc", 1, 1, 0, run_id="r", dataset_name="eval")]),
    ]

    assert found(models, None, datasets=[{"dataset_name": "eval"}]) == ["name-only"]
    assert found(models, None, datasets=[{"dataset_name": "eval", "dataset_digest": ""}]) == ["name-only"]


# ---------------------------------------------------------------------------------------------------------------
# order
# ---------------------------------------------------------------------------------------------------------------


def test_metric_order_uses_the_latest_point_by_timestamp_then_step_then_run_id() -> None:
    models = [
        make_model("by-timestamp", metrics=[point("m", 1, timestamp=9, step=0), point("m", 100, timestamp=1, step=5)]),
        make_model("by-step", metrics=[point("m", 3, timestamp=5, step=2), point("m", 200, timestamp=5, step=1)]),
        make_model("by-run", metrics=[point("m", 2, run_id="r1"), point("m", 300, run_id="r2")]),
    ]

    assert found(models, order_by=[{"field_name": "metrics.m", "ascending": True}]) == [
        "by-timestamp",
        "by-run",
        "by-step",
    ]


def test_models_lacking_the_order_key_come_last_in_both_directions() -> None:
    models = [
        make_model("low", created=1, model_type="a", metrics=[point("m", -1)]),
        make_model("missing", created=3),
        make_model("high", created=2, model_type="b", metrics=[point("m", 5)]),
    ]

    for ascending, expected in ((True, ["low", "high", "missing"]), (False, ["high", "low", "missing"])):
        assert found(models, order_by=[{"field_name": "metrics.m", "ascending": ascending}]) == expected
        assert found(models, order_by=[{"field_name": "model_type", "ascending": ascending}]) == expected


def test_metric_order_can_be_restricted_to_a_dataset() -> None:
    models = [
        make_model("a", created=2, metrics=[point("m", 1, dataset=("eval", "d1")), point("m", 9, timestamp=5)]),
        make_model("b", created=1, metrics=[point("m", 5, dataset=("eval", "d2"))]),
    ]

    assert found(models, order_by=[{"field_name": "metrics.m", "ascending": False}]) == ["a", "b"]
    eval_only = {"field_name": "metrics.m", "ascending": False, "dataset_name": "eval"}
    assert found(models, order_by=[eval_only]) == ["b", "a"]
    assert found(models, order_by=[{**eval_only, "dataset_digest": "d1"}]) == ["a", "b"]


def test_ordering_on_creation_time_or_model_id_replaces_the_default_tie_break() -> None:
    models = [make_model("m-1", created=2), make_model("m-2", created=1), make_model("m-3", created=1)]

    assert found(models) == ["m-1", "m-2", "m-3"]
    assert found(models, order_by=[{"field_name": "creation_time"}]) == ["m-2", "m-3", "m-1"]
    assert found(models, order_by=[{"field_name": "model_id", "ascending": False}]) == ["m-3", "m-2", "m-1"]


def test_status_orders_by_its_stored_number() -> None:
    models = [
        make_model("failed", status="LOGGED_MODEL_UPLOAD_FAILED"),
        make_model("pending", status="LOGGED_MODEL_PENDING"),
        make_model("ready", status="LOGGED_MODEL_READY"),
    ]

    assert found(models, order_by=[{"field_name": "status"}]) == ["pending", "ready", "failed"]


def test_compiled_query_validates_before_any_model_is_read_and_is_reusable() -> None:
    query = compile_logged_model_search("metrics.acc > 0.5", [{"field_name": "name"}], None)
    first = [make_model("b", metrics=[point("acc", 1)]), make_model("a", metrics=[point("acc", 1)])]

    assert ids(query.apply(first)) == ["a", "b"]
    assert ids(query.apply([make_model("c", metrics=[point("acc", 0)])])) == []


# ---------------------------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filter_string", "message"),
    [
        (
            "name = 'a' OR name = 'b'",
            "Invalid filter string: \"name = 'a' OR name = 'b'\". Expected a list of comparisons separated by 'AND' "
            "(e.g. 'metrics.loss > 0.1 AND params.lr = 0.01').",
        ),
        (
            "name = 'a'; name = 'b'",
            "Invalid filter string: \"name = 'a'; name = 'b'\". Expected a single SQL expression.",
        ),
        (
            "metric.acc > 1",
            "Invalid entity type: 'metric'. Expected one of ['attributes', 'metrics', 'params', 'tags'].",
        ),
        (
            "name > 'a'",
            "Invalid comparison operator for attributes.name: '>'. "
            "Expected one of ('=', '!=', 'LIKE', 'ILIKE', 'IN', 'NOT IN').",
        ),
        (
            "creation_time LIKE 1",
            "Invalid comparison operator for attributes.creation_timestamp_ms: 'LIKE'. "
            "Expected one of ('<', '<=', '>', '>=', '=', '!=').",
        ),
        ("tags.t IS NULL", "Invalid comparison: tags.tIS NULL. Expected a comparison with 3 tokens."),
        ("foo = 'x'", "Invalid logged model search key 'foo'"),
        ("attributes.creation_time > 1", "Invalid logged model search key 'creation_time'"),
        ("metrics.acc > 'x'", "could not convert string to float: \"'x'\""),
        ("name = ('a')", "Error binding parameter: type 'tuple' is not supported"),
    ],
)
def test_invalid_filters_are_rejected(filter_string: str, message: str) -> None:
    assert error_of(filter_string) == message


@pytest.mark.parametrize(
    ("order_by", "message"),
    [
        ({"field_name": "params.lr"}, "Invalid order by field name: params.lr. Only metrics are supported."),
        ({"field_name": "last_updated_time"}, "Invalid order by field name: last_updated_time"),
        ({"field_name": "tags"}, "Invalid order by field name: tags"),
        ({}, "Invalid order by field name: "),
    ],
)
def test_invalid_order_by_is_rejected(order_by: dict[str, Any], message: str) -> None:
    assert error_of(None, [order_by]) == message


def test_errors_come_in_the_reference_order_datasets_filter_order_by_then_binding() -> None:
    missing_name = [{"dataset_digest": "d"}]
    bad_order = [{"field_name": "foo"}]

    assert error_of("x", bad_order, missing_name) == "`dataset_name` in the `datasets` clause must be specified."
    assert error_of("foo = 'x'", bad_order).startswith("Invalid logged model search key")
    assert error_of("name = ('a')", bad_order) == "Invalid order by field name: foo"


# ---------------------------------------------------------------------------------------------------------------
# differential: the same models in the reference's SqlAlchemyStore (SQLite, in-process)
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Spec:
    """One logged model, described once and built in both stores."""

    label: str
    name: str
    created: int
    status: str = "PENDING"
    model_type: str | None = None
    source_run: int | None = None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    # (key, value, timestamp, step, run index, dataset (name, digest) or None)
    points: list[tuple[str, float, int, int, int, tuple[str, str] | None]] = field(default_factory=list)
    deleted: bool = False


SPECS = [
    Spec(
        "a",
        "alpha",
        1000,
        "READY",
        "agent",
        0,
        {"lr": "0.1", "opt": "adam"},
        {"team": "Vision", "stage": "prod"},
        [
            ("acc", 0.5, 100, 0, 0, ("eval", "d1")),
            ("acc", 0.9, 200, 1, 0, ("eval", "d1")),
            ("loss", 0.3, 100, 0, 0, None),
        ],
    ),
    Spec(
        "b",
        "beta",
        2000,
        "PENDING",
        None,
        None,
        {"lr": "0.01"},
        {"team": "nlp"},
        [("acc", 0.7, 150, 0, 0, ("eval", "d2")), ("acc", math.nan, 50, 0, 1, None)],
    ),
    Spec(
        "c",
        "Alpha-2",
        2000,
        "FAILED",
        "classifier",
        1,
        {},
        {"stage": "dev"},
        [("acc", math.inf, 100, 0, 0, None), ("f1", -1.0, 1, 0, 0, None)],
    ),
    Spec("d", "delta", 3000, "READY", "agent"),
    Spec(
        "e",
        "eps_1",
        500,
        "READY",
        None,
        0,
        {"lr": "0.1"},
        {},
        [("acc", 0.2, 100, 0, 0, ("test", "t1")), ("acc", 0.8, 100, 0, 1, ("test", "t1"))],
    ),
    Spec("f", "alpha", 4000, "READY", "agent", None, {}, {}, [("acc", 1.0, 1, 0, 0, None)], deleted=True),
    Spec("g", "gamma", 1500, "READY", None, None, {}, {"stage": "prod"}, [("acc", 0.7, 10, 0, 0, None)]),
    Spec(
        "h",
        "eta",
        1200,
        "PENDING",
        "agent",
        None,
        {},
        {},
        [("acc", 0.1, 300, 0, 1, ("eval", "d1")), ("acc", 0.95, 100, 5, 1, ("eval", "d1"))],
    ),
]


@dataclass
class Both:
    reference: Any  # SqlAlchemyStore
    experiment_id: str
    models: list[LoggedModel]
    labels: dict[str, str]  # model id -> spec label


def _build_reference(store: Any, experiment_id: str, run_ids: list[str]) -> dict[str, Any]:
    from mlflow.entities import LoggedModelParameter, LoggedModelStatus, LoggedModelTag, Metric
    from sqlalchemy import text

    created: dict[str, Any] = {}
    for spec in SPECS:
        model = store.create_logged_model(
            experiment_id,
            name=spec.name,
            source_run_id=None if spec.source_run is None else run_ids[spec.source_run],
            params=[LoggedModelParameter(key, value) for key, value in spec.params.items()],
            model_type=spec.model_type,
        )
        if spec.tags:
            store.set_logged_model_tags(model.model_id, [LoggedModelTag(k, v) for k, v in spec.tags.items()])
        if spec.status != "PENDING":
            store.finalize_logged_model(model.model_id, LoggedModelStatus(spec.status))
        for key, value, timestamp, step, run, dataset in spec.points:
            name, digest = dataset or (None, None)
            metric = Metric(key, value, timestamp, step, model.model_id, name, digest)
            store.log_batch(run_ids[run], metrics=[metric], params=[], tags=[])
        with store.engine.begin() as connection:
            connection.execute(
                text(
                    "UPDATE logged_models SET creation_timestamp_ms = :t, last_updated_timestamp_ms = :u "
                    "WHERE model_id = :m"
                ),
                {"t": spec.created, "u": spec.created + 7, "m": model.model_id},
            )
        if spec.deleted:
            store.delete_logged_model(model.model_id)
        created[spec.label] = store.get_logged_model(model.model_id, allow_deleted=True)
    return created


def _ours(spec: Spec, reference_model: Any, experiment_id: str, run_ids: list[str]) -> LoggedModel:
    return LoggedModel(
        model_id=reference_model.model_id,
        experiment_id=experiment_id,
        name=spec.name,
        artifact_uri=reference_model.artifact_location,
        creation_timestamp_ms=spec.created,
        last_updated_timestamp_ms=spec.created + 7,
        status={
            "PENDING": "LOGGED_MODEL_PENDING",
            "READY": "LOGGED_MODEL_READY",
            "FAILED": "LOGGED_MODEL_UPLOAD_FAILED",
        }[spec.status],
        lifecycle_stage="deleted" if spec.deleted else "active",
        model_type=spec.model_type,
        source_run_id=None if spec.source_run is None else run_ids[spec.source_run],
        params=dict(spec.params),
        tags=dict(spec.tags),
        metrics=[
            ModelMetric(key, value, timestamp, step, run_ids[run], *(dataset or (None, None)))
            for key, value, timestamp, step, run, dataset in spec.points
        ],
    )


def _create_reference_schema(uri: str) -> None:
    """The reference's tables as its ORM declares them, stamped at the head revision.

    Running its ~100 migrations on SQLite takes about ten seconds; the ORM's tables are what its queries read.
    """
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


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Both]:
    pytest.importorskip("mlflow")
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    root: Path = tmp_path_factory.mktemp("reference")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    _create_reference_schema(uri)
    store = SqlAlchemyStore(uri, str(root / "artifacts"))
    experiment_id = store.create_experiment("logged-models")
    run_ids = sorted(store.create_run(experiment_id, "u", 0, [], f"run-{i}").info.run_id for i in range(2))
    created = _build_reference(store, experiment_id, run_ids)
    models = [_ours(spec, created[spec.label], experiment_id, run_ids) for spec in SPECS]
    yield Both(store, experiment_id, models, {model.model_id: label for label, model in created.items()})
    store.engine.dispose()


def _as_the_handler_passes(
    order_by: list[dict[str, Any]] | None, datasets: list[dict[str, Any]] | None
) -> tuple[list[dict[str, Any]] | None, list[dict[str, Any]] | None]:
    """What ``handlers._search_logged_models`` gives the store for a request with these JSON fields."""
    handler_order = [
        {
            "field_name": entry.get("field_name", ""),
            "ascending": True if entry.get("ascending") is None else entry["ascending"],  # null is unset
            "dataset_name": entry.get("dataset_name") or None,
            "dataset_digest": entry.get("dataset_digest") or None,
        }
        for entry in order_by or ()
    ]
    handler_datasets = [
        {"dataset_name": entry.get("dataset_name", ""), "dataset_digest": entry.get("dataset_digest") or None}
        for entry in datasets or ()
    ]
    return handler_order or None, handler_datasets or None


def _reference_answer(
    both: Both, filter_string: str | None, order_by: list[dict[str, Any]] | None, datasets: Any
) -> object:
    from mlflow.exceptions import MlflowException

    handler_order, handler_datasets = _as_the_handler_passes(order_by, datasets)
    try:
        page = both.reference.search_logged_models(
            [both.experiment_id],
            filter_string=filter_string or None,
            datasets=handler_datasets,
            max_results=100,
            order_by=handler_order,
        )
    except MlflowException as error:
        # The reference's own 400s are compared word for word; its internal errors only as "an error".
        return ("error", error.message if error.error_code == "INVALID_PARAMETER_VALUE" else None)
    return [both.labels[model.model_id] for model in page]


def _our_answer(
    both: Both, filter_string: str | None, order_by: list[dict[str, Any]] | None, datasets: Any, exact: bool
) -> object:
    try:
        query = compile_logged_model_search(filter_string, order_by, datasets)
    except InvalidParameterValue as error:
        return ("error", error.message if exact else None)
    return [both.labels[model.model_id] for model in query.apply(both.models)]


def _agree(
    both: Both,
    filter_string: str | None,
    order_by: list[dict[str, Any]] | None = None,
    datasets: list[dict[str, Any]] | None = None,
) -> None:
    expected = _reference_answer(both, filter_string, order_by, datasets)
    exact = not (isinstance(expected, tuple) and expected[1] is None)
    assert _our_answer(both, filter_string, order_by, datasets, exact) == expected


DIFFERENTIAL_FILTERS = [
    None,
    "",
    "   ",
    "name = 'alpha'",
    "name != 'alpha'",
    "name LIKE 'a%'",
    "name ILIKE 'a%'",
    "name like '%a'",
    "name ILIKE '%ALPHA%'",
    "name LIKE 'e_a'",
    "name IN ('alpha', 'beta')",
    "name in ('alpha')",
    "name NOT IN ('alpha', 'eta')",
    "name not in ('alpha', 'eta')",
    'name = "alpha"',
    "name = alpha",
    "`name` = 'beta'",
    "attributes.name = 'beta'",
    "model_id IN (1, 2)",
    "model_type = 'agent'",
    "model_type != 'agent'",
    "model_type IN ('agent', None)",
    "model_type NOT IN ('agent', None)",
    "model_type NOT IN ('agent')",
    "model_type IN ()",
    "model_type NOT IN ()",
    "model_type = (None)",
    "model_type != (None)",
    "status = '2'",
    "status = 'READY'",
    "status != 'READY'",
    "status IN ('2', ' 3 ')",
    "status NOT IN ('1')",
    "status LIKE '%2%'",
    "status = 2",
    "status = '2.0'",
    "status = '02'",
    "status = (3)",
    "experiment_id = 1",
    "experiment_id != '1'",
    "experiment_id LIKE '1'",
    "experiment_id IN (1, '2')",
    "lifecycle_stage = 'deleted'",
    "lifecycle_stage = 'active'",
    "artifact_location LIKE '%/models/%'",
    "status_message != 'x'",
    "creation_time > 1000",
    "creation_timestamp >= 2000",
    "creation_timestamp_ms < 1500.5",
    "attributes.creation_timestamp_ms = 2000",
    "last_updated_timestamp = 1007",
    "creation_time = nan",
    "creation_time != nan",
    "creation_time < inf",
    "creation_time > -1e999",
    "metrics.acc > 0.6",
    "metrics.acc < 0.6",
    "metrics.acc = 0",
    "metrics.acc >= 1.7976931348623157e308",
    "metrics.acc != 0.5",
    "metrics.acc < inf",
    "metrics.acc != nan",
    "metrics.`acc` > 0.9",
    "metrics.loss <= 0.3",
    "metrics.f1 < -0.5",
    "metrics.nope > 0",
    "metrics.acc > 0.5 AND metrics.acc < 0.6",
    "metrics.acc>0.1 and metrics.loss>0",
    "params.lr = '0.1'",
    "params.lr != '0.1'",
    "params.lr LIKE '0.%'",
    "params.lr IN ('0.1', '0.01')",
    "params.lr NOT IN ('0.1')",
    "params.missing != 'x'",
    "tags.team = 'vision'",
    "tags.team ILIKE 'vision'",
    "tags.team LIKE 'V%'",
    "tags.stage IN ('prod', 'dev')",
    "tags.stage NOT IN ('prod')",
    "tags.`team` = 'nlp'",
    "name LIKE '%a%' and tags.stage = 'prod' AND params.lr = '0.1'",
    "source_run_id != 'x' AND model_type = 'agent'",
    "name = 'a' AND AND name = 'b'",
    "and name = 'alpha' and",
    "name IN ('alpha',) and name NOT IN ('beta',)",
    "name IN (['alpha'])",
    "name IN (('a', 'b'))",
    "name = (1)",
    "name LIKE (1)",
    "status = (True)",
    "status LIKE (2)",
    "experiment_id = '1.0'",
    "tags.`stage` = (None)",
    "tags.stage != (None)",
    "tags.team NOT IN ()",
    "params.lr NOT IN ()",
    "params.lr NOT IN ('x', None)",
    "tags.\"team\" = 'nlp'",
    "source_run_id = ''",
    # rejected
    "name = 'a' 'b'",
    "1 = 1",
    "'name' = 'a'",
    "name <> 'alpha'",
    "metrics.acc == 0.5",
    "metrics.acc ≥ 1",
    "name = 'alpha' -- c",
    "model_type IS NOT NULL",
    "model_type LIKE (None)",
    "tags.stage ILIKE (None)",
    "model_id IN (1e20)",
    "(" * 100 + "name = 'a'" + ")" * 100,  # sqlparse refuses to nest that deep
    "name = 'alpha' OR name = 'beta'",
    "name = 'a'; name = 'b'",
    "name = 'a''",
    "(name = 'a')",
    "name",
    "name = 'a' AND",
    "foo = 'x'",
    "tags = 'x'",
    "Name = 'x'",
    "metric.acc > 1",
    "Metrics.acc > 1",
    "metrics.acc > 'x'",
    "metrics.acc IN (1)",
    "metrics.acc LIKE 1",
    "name > 'a'",
    "name NOT LIKE 'a'",
    "creation_time LIKE 1",
    "creation_time > '5'",
    "attributes.creation_time > 0",
    "last_updated_time > 0",
    "tags.a IS NULL",
    "params.a IS NOT NULL",
    "name IN (a)",
    "name IN (1)",
    "name IN 'a'",
    "name = ('a')",
    "name LIKE ('a', 'b')",
]


@pytest.mark.parametrize("filter_string", DIFFERENTIAL_FILTERS)
def test_filters_agree_with_the_reference_store(both: Both, filter_string: str | None) -> None:
    _agree(both, filter_string)


DIFFERENTIAL_ORDERS: list[list[dict[str, Any]]] = [
    [{"field_name": "name"}],
    [{"field_name": "name", "ascending": False}],
    [{"field_name": "model_type"}],
    [{"field_name": "model_type", "ascending": False}],
    [{"field_name": "source_run_id", "ascending": False}],
    [{"field_name": "status"}],
    [{"field_name": "status", "ascending": False}, {"field_name": "name"}],
    [{"field_name": "creation_time"}],
    [{"field_name": "creation_timestamp", "ascending": False}],
    [{"field_name": "creation_timestamp_ms"}],
    [{"field_name": "last_updated_timestamp", "ascending": False}],
    [{"field_name": "model_id", "ascending": False}],
    [{"field_name": "experiment_id"}, {"field_name": "lifecycle_stage"}],
    [{"field_name": "metrics.acc"}],
    [{"field_name": "metrics.acc", "ascending": False}],
    [{"field_name": "metrics.acc", "dataset_name": "eval"}],
    [{"field_name": "metrics.acc", "ascending": False, "dataset_name": "eval", "dataset_digest": "d2"}],
    [{"field_name": "metrics.acc", "dataset_digest": "t1"}],
    [{"field_name": "metrics.loss", "ascending": False}],
    [{"field_name": "metrics.`acc`"}],
    [{"field_name": "metrics.acc", "ascending": False}, {"field_name": "name", "ascending": False}],
    [{"field_name": "metrics.f1"}, {"field_name": "metrics.acc"}],
    [{"field_name": "metrics."}],
    [{"field_name": "metrics.acc", "ascending": None}],
    # rejected
    [{"field_name": "params.lr"}],
    [{"field_name": "tags.team"}],
    [{"field_name": "foo"}],
    [{"field_name": "last_updated_time"}],
    [{"field_name": "creation_time "}],
    [{}],
]


@pytest.mark.parametrize("order_by", DIFFERENTIAL_ORDERS, ids=str)
def test_orders_agree_with_the_reference_store(both: Both, order_by: list[dict[str, Any]]) -> None:
    _agree(both, None, order_by)


EVAL_D1 = {"dataset_name": "eval", "dataset_digest": "d1"}
TEST_T1 = {"dataset_name": "test", "dataset_digest": "t1"}


@pytest.mark.parametrize(
    ("filter_string", "order_by", "datasets"),
    [
        (None, None, [EVAL_D1]),
        (None, None, [EVAL_D1, TEST_T1]),
        (None, None, [{"dataset_name": "eval"}]),
        ("metrics.acc > 0.6", None, [EVAL_D1]),
        ("metrics.acc < 0.6", [{"field_name": "metrics.acc"}], [EVAL_D1, TEST_T1]),
        ("metrics.acc > 0.6", None, [{"dataset_name": "eval", "dataset_digest": "d2"}]),
        ("params.lr = '0.1'", [{"field_name": "metrics.acc", "ascending": False}], [TEST_T1]),
        ("name LIKE '%a%'", [{"field_name": "name"}], None),
        ("metrics.acc > 0", [{"field_name": "metrics.acc", "ascending": False, "dataset_name": "eval"}], None),
        (None, None, [{"dataset_name": ""}]),
        (None, None, [{"dataset_digest": "d1"}]),
        ("foo = 'x'", [{"field_name": "bar"}], None),
        ("name = ('a')", [{"field_name": "bar"}], None),
        ("name = ('a')", [{"field_name": "name"}], None),
    ],
)
def test_combined_requests_agree_with_the_reference_store(
    both: Both,
    filter_string: str | None,
    order_by: list[dict[str, Any]] | None,
    datasets: list[Mapping[str, Any]] | None,
) -> None:
    _agree(both, filter_string, order_by, datasets)  # type: ignore[arg-type]
