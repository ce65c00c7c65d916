"""Classic routes where Stratus once answered differently from the reference ``mlflow server`` (issue 19): each
request goes to both servers, and the answers must agree (status, error code and message, or the data)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

Answer = tuple[int, dict[str, Any]]


def _call(base: str, method: str, path: str, **kwargs: Any) -> Answer:
    response = requests.request(method, base + path, timeout=30, **kwargs)
    try:
        body = response.json()
    except ValueError:
        body = {"text": response.text[:200]}
    return response.status_code, body


def _error(answer: Answer) -> tuple[int, str | None, str | None]:
    status, body = answer
    return status, body.get("error_code"), body.get("message")


def _new_run(base: str) -> str:
    _, created = _call(base, "POST", "/api/2.0/mlflow/experiments/create", json={"name": f"compat-{uuid.uuid4().hex}"})
    _, run = _call(base, "POST", "/api/2.0/mlflow/runs/create", json={"experiment_id": created["experiment_id"]})
    return run["run"]["info"]["run_id"]


def _log(base: str, run_id: str, key: str, points: list[tuple[float, int, int]]) -> None:
    metrics = [{"key": key, "value": v, "timestamp": t, "step": s} for v, t, s in points]
    status, body = _call(base, "POST", "/api/2.0/mlflow/runs/log-batch", json={"run_id": run_id, "metrics": metrics})
    assert status == 200, body


@pytest.fixture(scope="module")
def servers(tracking_uri: str, reference_uri: str) -> dict[str, str]:
    return {"stratus": tracking_uri, "reference": reference_uri}


# ----------------------------------------------------------------------------------------- 1. runs:/ sources


def test_a_runs_source_may_name_a_run_the_server_does_not_hold(servers: dict[str, str]) -> None:
    """The reference checks only that the source's run id is the request's ``run_id``; the run need not exist."""
    outcomes = {}
    for side, base in servers.items():
        client = MlflowClient(base)
        name = f"foreign-run-{uuid.uuid4().hex[:8]}"
        client.create_registered_model(name)
        version = client.create_model_version(name, "runs:/some-run-id/model", "some-run-id")
        with pytest.raises(MlflowException) as mismatch:
            client.create_model_version(name, "runs:/some-run-id/model", "other-run-id")
        outcomes[side] = (
            version.version,
            version.source,
            version.run_id,
            client.get_model_version_download_uri(name, version.version),
            mismatch.value.error_code,
            str(mismatch.value.message).replace(name, "<name>"),
        )
    assert outcomes["stratus"] == outcomes["reference"]
    assert outcomes["stratus"][:4] == ("1", "runs:/some-run-id/model", "some-run-id", "runs:/some-run-id/model")


# ----------------------------------------------------------------------------------- 2. get-history-bulk


def _bulk_fixture(base: str) -> tuple[str, str]:
    first, second = _new_run(base), _new_run(base)
    _log(base, first, "loss", [(3.0, 30, 1), (1.0, 10, 2), (2.0, 10, 1), (4.0, 40, 0)])
    _log(base, second, "loss", [(5.0, 5, 5), (6.0, 6, 6)])
    _log(base, second, "acc", [(0.5, 5, 5)])
    return first, second


@pytest.mark.parametrize(
    "query",
    [
        "run_id={second}&run_id={first}&metric_key=loss",
        "run_id={second}&run_id={first}&run_id={first}&metric_key=loss",
        "run_id={first}&metric_key=loss&max_results=3",
        "run_id={first}&metric_key=loss&max_results=0",
        "run_id={first}&metric_key=loss&max_results=-2",
        "run_id={first}&run_id=no-such-run&metric_key=loss",
        "run_id={second}&metric_key=acc",
        "run_id={first}&metric_key=",
    ],
)
def test_history_bulk_answers_as_the_reference(servers: dict[str, str], query: str) -> None:
    """Runs come in the order of their ids, which differ between the servers: each answer is checked for that order,
    then compared with the run ids replaced by names."""
    answers = {}
    for side, base in servers.items():
        first, second = _bulk_fixture(base)
        status, body = _call(base, "GET", "/ajax-api/2.0/mlflow/metrics/get-history-bulk?" + query.format(**locals()))
        ids = [metric["run_id"] for metric in body.get("metrics", [])]
        assert ids == sorted(ids)
        names = {first: "first", second: "second"}
        named = [{**metric, "run_id": names[metric["run_id"]]} for metric in body.get("metrics", [])]
        answers[side] = (status, sorted(named, key=lambda metric: metric["run_id"]))  # stable: keeps each run's order
    assert answers["stratus"] == answers["reference"]
    assert answers["stratus"][0] == 200


@pytest.mark.parametrize(
    "query",
    ["metric_key=loss", "run_id=a", "metric_key=loss&" + "&".join(f"run_id=r{i}" for i in range(101))],
    ids=["no-run", "no-metric-key", "101-runs"],
)
def test_history_bulk_refuses_what_the_reference_refuses(servers: dict[str, str], query: str) -> None:
    path = "/ajax-api/2.0/mlflow/metrics/get-history-bulk?" + query
    ours, theirs = (_error(_call(base, "GET", path)) for base in servers.values())
    assert ours == theirs
    assert ours[:2] == (400, "INVALID_PARAMETER_VALUE")


def test_history_bulk_is_a_ui_route_only(servers: dict[str, str]) -> None:
    statuses = [
        _call(b, "GET", "/api/2.0/mlflow/metrics/get-history-bulk?run_id=a&metric_key=m")[0] for b in servers.values()
    ]
    assert statuses == [404, 404]


def test_history_bulk_refuses_a_non_integer_limit_with_a_4xx(tracking_uri: str) -> None:
    """The reference fails this one with a 500 (``int("ten")``); Stratus says what is wrong."""
    status, body = _call(
        tracking_uri, "GET", "/ajax-api/2.0/mlflow/metrics/get-history-bulk?run_id=a&metric_key=m&max_results=ten"
    )
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert "max_results" in body["message"]


# ----------------------------------------------------------------------- 3. get-history's max_results


@pytest.mark.parametrize("max_results", [0, -1, 1])
def test_history_max_results_must_be_positive(servers: dict[str, str], max_results: int) -> None:
    answers = []
    for base in servers.values():
        run_id = _new_run(base)
        _log(base, run_id, "m", [(1.0, 1, 1), (2.0, 2, 2)])
        params = {"run_id": run_id, "metric_key": "m", "max_results": max_results}
        status, body = _call(base, "GET", "/api/2.0/mlflow/metrics/get-history", params=params)
        body.pop("next_page_token", None)  # page tokens are opaque and differ
        answers.append((status, body) if status == 200 else _error((status, body)))
    assert answers[0] == answers[1]
    if max_results <= 0:
        assert answers[0] == (
            400,
            "INVALID_PARAMETER_VALUE",
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be a positive integer.",
        )


# ------------------------------------------------------------------------------ 4. missing parameters


MISSING = [
    ("POST", "/api/2.0/mlflow/runs/log-metric", {"run_id": None, "key": "k", "value": 1, "timestamp": 1}),
    ("POST", "/api/2.0/mlflow/runs/log-metric", {"run_id": "", "key": "k", "value": 1, "timestamp": 1}),
    ("POST", "/api/2.0/mlflow/runs/log-metric", {"run_id": "{run}", "key": None, "value": 1, "timestamp": 1}),
    ("POST", "/api/2.0/mlflow/runs/log-metric", {"run_id": "{run}", "key": "k", "value": None, "timestamp": 1}),
    ("POST", "/api/2.0/mlflow/runs/log-metric", {"run_id": "{run}", "key": "k", "value": 1, "timestamp": None}),
    ("POST", "/api/2.0/mlflow/runs/log-metric", {"run_id": 31, "key": "k", "value": 1, "timestamp": 1}),
    ("POST", "/api/2.0/mlflow/runs/log-inputs", {"run_id": None, "datasets": []}),
    ("POST", "/api/2.0/mlflow/runs/log-inputs", {"run_id": ""}),
    ("POST", "/api/2.0/mlflow/runs/log-parameter", {"run_id": "{run}", "key": "", "value": "v"}),
    ("POST", "/api/2.0/mlflow/runs/set-tag", {"run_id": None, "key": "k", "value": "v"}),
    ("POST", "/api/2.0/mlflow/runs/delete-tag", {"run_id": "{run}", "key": None}),
    ("POST", "/api/2.0/mlflow/runs/log-batch", {"run_id": None}),
    ("POST", "/api/2.0/mlflow/runs/update", {"run_id": ""}),
    ("POST", "/api/2.0/mlflow/runs/delete", {"run_id": None}),
    ("POST", "/api/2.0/mlflow/runs/restore", {}),
    ("GET", "/api/2.0/mlflow/runs/get?run_id=", None),
    ("GET", "/api/2.0/mlflow/metrics/get-history?run_id=&metric_key=m", None),
    ("GET", "/api/2.0/mlflow/metrics/get-history?run_id={run}&metric_key=", None),
    ("GET", "/api/2.0/mlflow/experiments/get?experiment_id=", None),
    ("GET", "/api/2.0/mlflow/experiments/get-by-name?experiment_name=", None),
    ("POST", "/api/2.0/mlflow/experiments/create", {"name": ""}),
    ("POST", "/api/2.0/mlflow/experiments/update", {"experiment_id": "0", "new_name": None}),
    ("POST", "/api/2.0/mlflow/experiments/delete", {"experiment_id": None}),
    ("POST", "/api/2.0/mlflow/experiments/set-experiment-tag", {"experiment_id": "0", "key": "", "value": "v"}),
]


@pytest.mark.parametrize(("method", "path", "body"), MISSING, ids=[f"{m} {p} {b}" for m, p, b in MISSING])
def test_missing_parameters_are_named_as_the_reference_names_them(
    servers: dict[str, str], method: str, path: str, body: dict[str, Any] | None
) -> None:
    answers = []
    for base in servers.values():
        run_id = _new_run(base)
        filled = json.loads(json.dumps(body).replace("{run}", run_id)) if body is not None else None
        answers.append(_error(_call(base, method, path.replace("{run}", run_id), json=filled)))
    assert answers[0] == answers[1]
    assert answers[0][:2] == (400, "INVALID_PARAMETER_VALUE")


# ---------------------------------------------------------------------- 8. GET parameters in a JSON body


def test_a_get_without_query_string_is_read_from_its_json_body(servers: dict[str, str]) -> None:
    """How ``mlflow-export-import`` sends GET parameters."""
    answers = []
    for base in servers.values():
        run_id = _new_run(base)
        status, body = _call(base, "GET", "/api/2.0/mlflow/runs/get", json={"run_id": run_id})
        experiment = body["run"]["info"]["experiment_id"]
        by_id = _call(base, "GET", "/api/2.0/mlflow/experiments/get", json={"experiment_id": experiment})
        name = by_id[1]["experiment"]["name"]
        by_name = _call(base, "GET", "/api/2.0/mlflow/experiments/get-by-name", json={"experiment_name": name})
        answers.append(
            (status, body["run"]["info"]["run_id"] == run_id, by_id[0], by_name[1]["experiment"]["name"] == name)
        )
    assert answers[0] == answers[1] == (200, True, 200, True)


# ------------------------------------------------------------------------------- 9. small shape differences


def test_model_versions_tag_holds_the_version_as_a_number(servers: dict[str, str]) -> None:
    tags = []
    for base in servers.values():
        client = MlflowClient(base)
        experiment = client.create_experiment(f"compat-tag-{uuid.uuid4().hex}")
        model = client.create_logged_model(experiment)
        name = f"tagged-{uuid.uuid4().hex[:8]}"
        client.create_registered_model(name)
        client.create_model_version(name, f"models:/{model.model_id}", model_id=model.model_id)
        listed = json.loads(client.get_logged_model(model.model_id).tags["mlflow.modelVersions"])
        tags.append([{**entry, "name": "<name>"} for entry in listed])
    assert tags[0] == tags[1] == [{"name": "<name>", "version": 1}]


def test_an_empty_file_is_listed_without_a_size(servers: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "full.txt").write_bytes(b"abc")
    listings = []
    for base in servers.values():
        client = MlflowClient(base)
        run_id = client.create_run(client.create_experiment(f"compat-files-{uuid.uuid4().hex}")).info.run_id
        client.log_artifact(run_id, str(tmp_path / "empty.txt"))
        client.log_artifact(run_id, str(tmp_path / "full.txt"))
        status, body = _call(base, "GET", "/api/2.0/mlflow/artifacts/list", params={"run_id": run_id})
        listings.append((status, sorted(body["files"], key=lambda f: f["path"])))
    assert listings[0] == listings[1]
    assert listings[0][1][0] == {"path": "empty.txt", "is_dir": False}


# ------------------------------------------------------------------------------ the run table, page by page


def test_the_run_table_pages_newest_first_as_the_reference(servers: dict[str, str]) -> None:
    """The web UI's run table (no filter, newest first) of an experiment bigger than a page: Stratus reads it from
    its run order items, page by page; the pages must list what the reference lists, deleted runs left out."""
    listings = []
    for base in servers.values():
        client = MlflowClient(base)
        experiment = client.create_experiment(f"run-table-{uuid.uuid4().hex}")
        run_ids = [
            client.create_run(experiment, start_time=10_000 + (i * 37) % 131, run_name=f"r{i}").info.run_id
            for i in range(131)
        ]
        for run_id in run_ids[::9]:
            client.delete_run(run_id)
        pages, token = [], None
        while True:
            page = client.search_runs(
                [experiment], max_results=25, order_by=["attributes.start_time DESC"], page_token=token
            )
            pages.append([run.info.run_name for run in page])
            token = page.token
            if not token:
                break
        listings.append(pages)
    assert listings[0] == listings[1]
    assert sum(len(page) for page in listings[0]) == 131 - len(range(0, 131, 9))
