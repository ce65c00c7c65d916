"""The stock mlflow client (3.17.2) against `stratus local` over HTTP: the contract that matters most."""

from __future__ import annotations

import math
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import mlflow
import pytest
import requests
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def client(tracking_uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri)


# ------------------------------------------------------------------ experiments


def test_set_experiment_creates_then_reuses_by_name(client: MlflowClient) -> None:
    name = unique("exp")
    first = mlflow.set_experiment(name)
    second = mlflow.set_experiment(name)
    assert first.experiment_id == second.experiment_id
    assert client.get_experiment(first.experiment_id).name == name
    assert first.artifact_location.endswith(f"/{first.experiment_id}")


def test_default_experiment_exists(client: MlflowClient) -> None:
    default = client.get_experiment("0")
    assert default.name == "Default"
    assert client.get_experiment_by_name("Default").experiment_id == "0"


def test_get_experiment_by_unknown_name_returns_none(client: MlflowClient) -> None:
    assert client.get_experiment_by_name(unique("missing")) is None


def test_create_experiment_with_duplicate_name_is_resource_already_exists(client: MlflowClient) -> None:
    name = unique("dup")
    client.create_experiment(name)
    with pytest.raises(MlflowException) as err:
        client.create_experiment(name)
    assert err.value.error_code == "RESOURCE_ALREADY_EXISTS"


def test_unknown_experiment_id_is_resource_does_not_exist(client: MlflowClient) -> None:
    with pytest.raises(MlflowException) as err:
        client.get_experiment("987654321")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_experiment_rename_tags_delete_and_restore(client: MlflowClient) -> None:
    exp_id = client.create_experiment(unique("life"), tags={"team": "vision"})
    new_name = unique("renamed")
    client.rename_experiment(exp_id, new_name)
    client.set_experiment_tag(exp_id, "owner", "ana")
    client.delete_experiment_tag(exp_id, "team")
    exp = client.get_experiment(exp_id)
    assert exp.name == new_name
    assert exp.tags == {"owner": "ana"}
    assert client.get_experiment_by_name(new_name).experiment_id == exp_id

    client.delete_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "deleted"
    deleted = client.search_experiments(view_type=ViewType.DELETED_ONLY, filter_string=f"name = '{new_name}'")
    assert [e.experiment_id for e in deleted] == [exp_id]
    active = client.search_experiments(filter_string=f"name = '{new_name}'")
    assert active == []
    client.restore_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "active"


def test_rename_to_a_taken_name_is_refused(client: MlflowClient) -> None:
    taken = unique("taken")
    client.create_experiment(taken)
    other = client.create_experiment(unique("other"))
    with pytest.raises(MlflowException) as err:
        client.rename_experiment(other, taken)
    assert err.value.error_code == "RESOURCE_ALREADY_EXISTS"


def test_search_experiments_filters_orders_and_pages(client: MlflowClient) -> None:
    prefix = unique("page")
    ids = [client.create_experiment(f"{prefix}-{i}", tags={"i": str(i)}) for i in range(5)]
    found = client.search_experiments(filter_string=f"name LIKE '{prefix}-%'", order_by=["name DESC"])
    assert [e.experiment_id for e in found] == list(reversed(ids))
    page1 = client.search_experiments(filter_string=f"name LIKE '{prefix}-%'", max_results=2, order_by=["name"])
    assert len(page1) == 2 and page1.token
    page2 = client.search_experiments(
        filter_string=f"name LIKE '{prefix}-%'", max_results=2, order_by=["name"], page_token=page1.token
    )
    assert [e.name for e in page2] == [f"{prefix}-2", f"{prefix}-3"]
    tagged = client.search_experiments(filter_string=f"name LIKE '{prefix}-%' AND tags.i = '3'")
    assert [e.experiment_id for e in tagged] == [ids[3]]


# ------------------------------------------------------------------ runs


def test_run_lifecycle_with_params_metrics_tags(client: MlflowClient) -> None:
    mlflow.set_experiment(unique("runs"))
    with mlflow.start_run(run_name="first") as run:
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"layers": 3, "act": "relu"})
        mlflow.log_metric("loss", 1.5, step=0)
        mlflow.log_metric("loss", 0.5, step=1)
        mlflow.log_metrics({"acc": 0.8, "f1": 0.7}, step=1)
        mlflow.set_tag("stage", "dev")
        run_id = run.info.run_id
    fetched = client.get_run(run_id)
    assert fetched.info.status == "FINISHED"
    assert fetched.info.end_time is not None
    assert fetched.info.run_name == "first"
    assert fetched.data.params == {"lr": "0.01", "layers": "3", "act": "relu"}
    assert fetched.data.metrics == {"loss": 0.5, "acc": 0.8, "f1": 0.7}
    assert fetched.data.tags["stage"] == "dev"
    assert fetched.data.tags["mlflow.runName"] == "first"
    assert fetched.info.artifact_uri.endswith(f"/{run_id}/artifacts")


def test_changing_a_param_is_invalid_parameter_value(client: MlflowClient) -> None:
    exp = client.create_experiment(unique("immutable"))
    run = client.create_run(exp)
    client.log_param(run.info.run_id, "p", "1")
    client.log_param(run.info.run_id, "p", "1")  # same value again is fine
    with pytest.raises(MlflowException) as err:
        client.log_param(run.info.run_id, "p", "2")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert client.get_run(run.info.run_id).data.params == {"p": "1"}


def test_log_batch_with_changed_param_writes_nothing(client: MlflowClient) -> None:
    exp = client.create_experiment(unique("batch-atomic"))
    run_id = client.create_run(exp).info.run_id
    client.log_param(run_id, "p", "1")
    with pytest.raises(MlflowException):
        client.log_batch(
            run_id,
            metrics=[Metric("m", 1.0, 1, 0)],
            params=[Param("q", "x"), Param("p", "2")],
            tags=[RunTag("t", "v")],
        )
    run = client.get_run(run_id)
    assert run.data.params == {"p": "1"}
    assert "m" not in run.data.metrics
    assert "t" not in run.data.tags
    assert client.get_metric_history(run_id, "m") == []


def test_latest_metric_follows_step_then_timestamp_then_value(client: MlflowClient) -> None:
    run_id = client.create_run(client.create_experiment(unique("latest"))).info.run_id
    client.log_batch(
        run_id,
        metrics=[
            Metric("m", 5.0, 100, 2),
            Metric("m", 9.0, 50, 1),  # lower step, loses
            Metric("m", 7.0, 100, 2),  # same step and time, higher value wins
            Metric("m", 1.0, 90, 2),  # same step, older timestamp loses
        ],
    )
    assert client.get_run(run_id).data.metrics["m"] == 7.0
    client.log_metric(run_id, "m", 3.0, timestamp=10, step=3)
    assert client.get_run(run_id).data.metrics["m"] == 3.0


def test_metric_history_is_complete_ordered_and_paged(client: MlflowClient) -> None:
    run_id = client.create_run(client.create_experiment(unique("history"))).info.run_id
    points = [Metric("loss", float(i) / 10, 1_000 + i, i) for i in range(2_500)]
    for start in range(0, len(points), 1000):
        client.log_batch(run_id, metrics=points[start : start + 1000])
    history = client.get_metric_history(run_id, "loss")
    assert [(m.step, m.value, m.timestamp) for m in history] == [(p.step, p.value, p.timestamp) for p in points]


def test_metric_history_pages_over_http(tracking_uri: str, client: MlflowClient) -> None:
    run_id = client.create_run(client.create_experiment(unique("paged"))).info.run_id
    client.log_batch(run_id, metrics=[Metric("x", float(i), i, i) for i in range(25)])
    url = f"{tracking_uri}/api/2.0/mlflow/metrics/get-history"
    seen, token = [], None
    while True:
        params = {"run_id": run_id, "metric_key": "x", "max_results": 10}
        if token:
            params["page_token"] = token
        body = requests.get(url, params=params, timeout=30).json()
        seen += [m["step"] for m in body.get("metrics", [])]
        token = body.get("next_page_token")
        if not token:
            break
    assert seen == list(range(25))


def test_nan_and_infinite_metric_values_come_back_as_the_reference_stores_them(client: MlflowClient) -> None:
    run_id = client.create_run(client.create_experiment(unique("nan"))).info.run_id
    client.log_metric(run_id, "n", float("nan"), step=0)
    client.log_metric(run_id, "i", float("inf"), step=0)
    client.log_metric(run_id, "j", float("-inf"), step=0)
    metrics = client.get_run(run_id).data.metrics
    assert math.isnan(metrics["n"])
    # the reference's SQL columns cannot hold infinities; it stores the largest finite double instead
    assert metrics["i"] == 1.7976931348623157e308
    assert metrics["j"] == -1.7976931348623157e308


def test_run_name_and_status_updates(client: MlflowClient) -> None:
    run_id = client.create_run(client.create_experiment(unique("upd"))).info.run_id
    client.update_run(run_id, status="KILLED", name="renamed")
    run = client.get_run(run_id)
    assert run.info.status == "KILLED"
    assert run.info.run_name == "renamed"
    assert run.data.tags["mlflow.runName"] == "renamed"
    client.set_tag(run_id, "mlflow.runName", "again")
    assert client.get_run(run_id).info.run_name == "again"


def test_delete_tag_and_missing_tag(client: MlflowClient) -> None:
    run_id = client.create_run(client.create_experiment(unique("tags"))).info.run_id
    client.set_tag(run_id, "a", "1")
    client.delete_tag(run_id, "a")
    assert "a" not in client.get_run(run_id).data.tags
    with pytest.raises(MlflowException) as err:
        client.delete_tag(run_id, "a")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_deleted_run_cannot_be_logged_to_until_restored(client: MlflowClient) -> None:
    run_id = client.create_run(client.create_experiment(unique("del"))).info.run_id
    client.delete_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == "deleted"
    with pytest.raises(MlflowException) as err:
        client.log_metric(run_id, "m", 1.0)
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    client.restore_run(run_id)
    client.log_metric(run_id, "m", 1.0)
    assert client.get_run(run_id).data.metrics == {"m": 1.0}


def test_unknown_run_is_resource_does_not_exist(client: MlflowClient) -> None:
    with pytest.raises(MlflowException) as err:
        client.get_run(uuid.uuid4().hex)
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_nested_runs_and_parent_tag(client: MlflowClient) -> None:
    mlflow.set_experiment(unique("nested"))
    with mlflow.start_run() as parent, mlflow.start_run(nested=True) as child:
        pass
    assert client.get_run(child.info.run_id).data.tags["mlflow.parentRunId"] == parent.info.run_id


def test_log_input_dataset_is_returned_with_the_run(client: MlflowClient) -> None:
    pd = pytest.importorskip("pandas")
    mlflow.set_experiment(unique("datasets"))
    df = pd.DataFrame({"a": [1, 2, 3], "b": [4.0, 5.0, 6.0]})
    dataset = mlflow.data.from_pandas(df, name="train-set")
    with mlflow.start_run() as run:
        mlflow.log_input(dataset, context="training")
    inputs = client.get_run(run.info.run_id).inputs.dataset_inputs
    assert [(d.dataset.name, d.dataset.digest) for d in inputs] == [("train-set", dataset.digest)]
    assert {t.key: t.value for t in inputs[0].tags}["mlflow.data.context"] == "training"
    found = client.search_runs([run.info.experiment_id], "dataset.name = 'train-set' AND dataset.context = 'training'")
    assert [r.info.run_id for r in found] == [run.info.run_id]


def test_batch_limits_are_enforced(client: MlflowClient, tracking_uri: str) -> None:
    run_id = client.create_run(client.create_experiment(unique("limits"))).info.run_id
    body = {"run_id": run_id, "metrics": [{"key": f"m{i}", "value": 1, "timestamp": 1, "step": 0} for i in range(1001)]}
    resp = requests.post(f"{tracking_uri}/api/2.0/mlflow/runs/log-batch", json=body, timeout=30)
    assert resp.status_code == 400
    assert resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    # the client itself splits large batches into legal ones
    client.log_batch(run_id, metrics=[Metric(f"k{i}", float(i), 1, 0) for i in range(2500)])
    assert len(client.get_run(run_id).data.metrics) == 2500


def test_long_param_values_are_kept_whole(client: MlflowClient) -> None:
    run_id = client.create_run(client.create_experiment(unique("long"))).info.run_id
    long_value = "x" * 5990
    client.log_batch(run_id, params=[Param(f"p{i}", long_value + str(i)) for i in range(100)])
    params = client.get_run(run_id).data.params
    assert len(params) == 100
    assert params["p7"] == long_value + "7"


def test_over_long_param_and_tag_values_are_truncated_like_the_reference(client: MlflowClient) -> None:
    run_id = client.create_run(client.create_experiment(unique("trunc"))).info.run_id
    client.log_batch(run_id, params=[Param("p", "y" * 7000)], tags=[RunTag("t", "z" * 9000)])
    run = client.get_run(run_id)
    assert run.data.params["p"] == "y" * 6000
    assert run.data.tags["t"] == "z" * 8000


def test_a_run_with_five_thousand_long_metric_keys_fits(client: MlflowClient) -> None:
    run_id = client.create_run(client.create_experiment(unique("wide"))).info.run_id
    keys = [f"metric/{i // 1000}/{'k' * 200}/{i}" for i in range(5000)]
    client.log_batch(run_id, metrics=[Metric(k, 1.5, 1, 0) for k in keys])
    assert set(client.get_run(run_id).data.metrics) == set(keys)


def test_concurrent_writers_lose_nothing_and_keep_params_immutable(client: MlflowClient) -> None:
    run_id = client.create_run(client.create_experiment(unique("concurrent"))).info.run_id

    def writer(n: int) -> str:
        try:
            client.log_batch(
                run_id, metrics=[Metric(f"m{n}", n, n, n)], params=[Param(f"p{n}", str(n)), Param("shared", str(n))]
            )
        except MlflowException as err:
            assert err.error_code == "INVALID_PARAMETER_VALUE"
            client.log_batch(run_id, metrics=[Metric(f"m{n}", n, n, n)], params=[Param(f"p{n}", str(n))])
            return "refused"
        return "ok"

    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(writer, range(32)))
    run = client.get_run(run_id)
    assert outcomes.count("ok") == 1  # exactly one writer sets "shared"; every other one is refused
    assert run.data.params["shared"] == str(outcomes.index("ok"))
    assert {f"m{n}" for n in range(32)} <= set(run.data.metrics)
    assert {f"p{n}" for n in range(32)} <= set(run.data.params)
    for n in (0, 17, 31):
        assert [m.value for m in client.get_metric_history(run_id, f"m{n}")] == [n]


# ------------------------------------------------------------------ search


def test_search_runs_filter_order_and_pages(client: MlflowClient) -> None:
    exp = client.create_experiment(unique("search"))
    ids = []
    for i in range(7):
        run = client.create_run(exp, start_time=1_000 + i, tags={"group": "a" if i % 2 else "b"})
        client.log_batch(run.info.run_id, metrics=[Metric("acc", i / 10, 1, 0)], params=[Param("i", str(i))])
        ids.append(run.info.run_id)
    found = client.search_runs([exp], "metrics.acc >= 0.3 AND tags.group = 'a'", order_by=["metrics.acc DESC"])
    assert [r.info.run_id for r in found] == [ids[5], ids[3]]
    default_order = client.search_runs([exp])
    assert [r.info.run_id for r in default_order] == list(reversed(ids))
    page = client.search_runs([exp], max_results=3, order_by=["params.i ASC"])
    assert [r.data.params["i"] for r in page] == ["0", "1", "2"] and page.token
    rest = client.search_runs([exp], max_results=10, order_by=["params.i ASC"], page_token=page.token)
    assert [r.data.params["i"] for r in rest] == ["3", "4", "5", "6"]


def test_search_runs_across_experiments_and_view_types(client: MlflowClient) -> None:
    e1, e2 = client.create_experiment(unique("s1")), client.create_experiment(unique("s2"))
    r1 = client.create_run(e1).info.run_id
    r2 = client.create_run(e2).info.run_id
    client.delete_run(r2)
    assert {r.info.run_id for r in client.search_runs([e1, e2])} == {r1}
    assert {r.info.run_id for r in client.search_runs([e1, e2], run_view_type=ViewType.ALL)} == {r1, r2}
    assert {r.info.run_id for r in client.search_runs([e1, e2], run_view_type=ViewType.DELETED_ONLY)} == {r2}


def test_pandas_search_runs(tracking_uri: str) -> None:
    pytest.importorskip("pandas")
    mlflow.set_experiment(unique("pandas"))
    with mlflow.start_run():
        mlflow.log_metric("m", 2.0)
    df = mlflow.search_runs()
    assert list(df["metrics.m"]) == [2.0]


def test_bad_filter_is_invalid_parameter_value(client: MlflowClient) -> None:
    exp = client.create_experiment(unique("badfilter"))
    with pytest.raises(MlflowException) as err:
        client.search_runs([exp], "metrics.acc >>> 1")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"


def test_forged_page_token_is_invalid_parameter_value(client: MlflowClient) -> None:
    exp = client.create_experiment(unique("token"))
    with pytest.raises(MlflowException) as err:
        client.search_runs([exp], page_token="not-a-token!")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"


# ------------------------------------------------------------------ wire details


def test_unknown_route_is_endpoint_not_found_json(tracking_uri: str) -> None:
    resp = requests.get(f"{tracking_uri}/api/2.0/mlflow/nope", timeout=30)
    assert resp.status_code == 404
    assert resp.json()["error_code"] == "ENDPOINT_NOT_FOUND"


def test_health_version_and_server_info(tracking_uri: str) -> None:
    assert requests.get(f"{tracking_uri}/health", timeout=30).text == "OK"
    assert requests.get(f"{tracking_uri}/version", timeout=30).text == "3.17.2"
    info = requests.get(f"{tracking_uri}/api/3.0/mlflow/server-info", timeout=30).json()
    assert info["workspaces_enabled"] is False


def test_ajax_api_alias_answers_like_the_api(tracking_uri: str) -> None:
    url = f"{tracking_uri}/ajax-api/2.0/mlflow/experiments/get"
    resp = requests.get(url, params={"experiment_id": "0"}, timeout=30)
    assert resp.status_code == 200
    assert resp.json()["experiment"]["name"] == "Default"


def test_missing_required_field_is_400_with_error_code(tracking_uri: str) -> None:
    resp = requests.post(f"{tracking_uri}/api/2.0/mlflow/experiments/create", json={}, timeout=30)
    assert resp.status_code == 400
    assert resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_malformed_json_is_400(tracking_uri: str) -> None:
    resp = requests.post(
        f"{tracking_uri}/api/2.0/mlflow/runs/create",
        data="{not json",
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert resp.status_code == 400
    assert resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_read_after_write_create_then_search(client: MlflowClient) -> None:
    exp = client.create_experiment(unique("raw"))
    started = time.time()
    for _ in range(5):
        run_id = client.create_run(exp).info.run_id
        assert run_id in {r.info.run_id for r in client.search_runs([exp])}
    assert time.time() - started < 60
