"""MLflow's web UI against `stratus local` over HTTP: the page and its files, the bootstrap calls, GraphQL and the
artifact viewer, with the data logged by the stock client."""

from __future__ import annotations

import re
from pathlib import Path

import mlflow
import pytest
import requests

QUERY_NAMES = ("MlflowGetExperimentQuery", "GetRun", "SearchRuns", "GetMetricHistoryBulkInterval")


def _ui_query(name: str) -> str:
    js = Path(mlflow.__file__).parent / "server" / "js" / "build" / "static" / "js"
    for path in sorted(js.glob("*.js")):
        text = path.read_text(errors="replace")
        if f"query {name}" in text:
            start = text.index(f"query {name}")
            return text[start : text.index("`", start)].replace("\\n", "\n")
    pytest.skip(f"no UI query {name}")


def test_index_and_its_assets_are_served(tracking_uri: str) -> None:
    index = requests.get(f"{tracking_uri}/", timeout=30)
    assert index.status_code == 200
    assert index.headers["Content-Type"].startswith("text/html")
    scripts = re.findall(r'src="(static-files/[^"]+\.js)"', index.text)
    assert scripts, index.text[:300]
    asset = requests.get(f"{tracking_uri}/{scripts[0]}", timeout=30)
    assert asset.status_code == 200
    assert asset.headers["Content-Type"].startswith("text/javascript")
    assert "max-age=2419200" in asset.headers["Cache-Control"]
    assert len(asset.content) > 100_000


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/ajax-api/3.0/mlflow/ui-telemetry", {"disable_ui_events": [], "disable_ui_telemetry": True,
                                              "ui_rollout_percentage": 0}),
        ("/ajax-api/3.0/mlflow/assistant/config", {"providers": {}, "projects": {}, "remote_access_allowed": False}),
        ("/ajax-api/2.0/mlflow/gateway-proxy?gateway_path=api/2.0/endpoints/", {"endpoints": []}),
    ],
)  # fmt: skip
def test_bootstrap_calls_answer_switched_off(tracking_uri: str, path: str, expected: dict[str, object]) -> None:
    answer = requests.get(tracking_uri + path, timeout=30)
    assert answer.status_code == 200
    assert answer.json() == expected


def test_server_info_hides_the_gateway_and_workspaces(tracking_uri: str) -> None:
    info = requests.get(f"{tracking_uri}/ajax-api/3.0/mlflow/server-info", timeout=30).json()
    assert info["features_enabled"] == {"gateway": False}
    assert info["workspaces_enabled"] is False


def test_experiment_list_query_of_the_ui_works(tracking_uri: str) -> None:
    mlflow.set_experiment("ui-list")
    answer = requests.get(
        f"{tracking_uri}/ajax-api/2.0/mlflow/experiments/search",
        params={
            "max_results": 25,
            "order_by": "last_update_time DESC",
            "filter": "tags.`mlflow.experiment.isGateway` IS NULL",
        },
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert "ui-list" in [e["name"] for e in answer.json()["experiments"]]


def test_run_page_graphql_and_artifact_viewer(tracking_uri: str, tmp_path: Path) -> None:
    experiment_id = mlflow.set_experiment("ui-run-page").experiment_id
    note = tmp_path / "note.txt"
    note.write_text("hello from the viewer")
    with mlflow.start_run(run_name="viewer") as run:
        mlflow.log_param("lr", "0.1")
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_artifact(str(note), artifact_path="docs")
    run_id = run.info.run_id

    def graphql(name: str, variables: dict[str, object]) -> dict[str, object]:
        answer = requests.post(
            f"{tracking_uri}/graphql", json={"query": _ui_query(name), "variables": variables}, timeout=30
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["errors"] is None, body
        return body["data"]

    experiment = graphql("MlflowGetExperimentQuery", {"input": {"experimentId": experiment_id}})
    assert experiment["mlflowGetExperiment"]["experiment"]["name"] == "ui-run-page"
    got = graphql("GetRun", {"data": {"runId": run_id}})["mlflowGetRun"]["run"]
    assert got["info"]["runName"] == "viewer" and got["info"]["status"] == "FINISHED"
    assert got["data"]["params"] == [{"key": "lr", "value": "0.1"}]
    found = graphql("SearchRuns", {"data": {"experimentIds": [experiment_id], "filter": "params.lr = '0.1'"}})
    assert [r["info"]["runUuid"] for r in found["mlflowSearchRuns"]["runs"]] == [run_id]
    history = graphql("GetMetricHistoryBulkInterval", {"data": {"runIds": [run_id], "metricKey": "loss"}})
    assert [m["step"] for m in history["mlflowGetMetricHistoryBulkInterval"]["metrics"]] == ["0", "1", "2", "3", "4"]

    listing = requests.get(
        f"{tracking_uri}/ajax-api/2.0/mlflow/artifacts/list", params={"run_uuid": run_id}, timeout=30
    ).json()
    assert listing["files"] == [{"path": "docs", "is_dir": True}]
    inner = requests.get(
        f"{tracking_uri}/ajax-api/2.0/mlflow/artifacts/list", params={"run_uuid": run_id, "path": "docs"}, timeout=30
    ).json()
    assert inner["files"] == [{"path": "docs/note.txt", "is_dir": False, "file_size": 21}]
    content = requests.get(
        f"{tracking_uri}/get-artifact", params={"run_uuid": run_id, "path": "docs/note.txt"}, timeout=30
    )
    assert content.status_code == 200
    assert content.text == "hello from the viewer"
    assert content.headers["Content-Type"].startswith("text/plain")
    traversal = requests.get(f"{tracking_uri}/get-artifact", params={"run_uuid": run_id, "path": "../x"}, timeout=30)
    assert traversal.status_code == 400
    assert traversal.json() == {"error_code": "INVALID_PARAMETER_VALUE", "message": "Invalid path"}


def test_graphql_answers_an_unknown_query_like_the_reference(tracking_uri: str) -> None:
    answer = requests.post(f"{tracking_uri}/graphql", json={"query": "query { nope }"}, timeout=30)
    assert answer.status_code == 200
    assert answer.json() == {"data": None, "errors": ["Cannot query field 'nope' on type 'Query'."]}


def test_ui_answers_match_the_reference(tracking_uri: str, reference_uri: str) -> None:
    """Differential: the same UI calls against both servers give the same documents (ids and times aside)."""
    for path in ("/ajax-api/3.0/mlflow/assistant/config", "/ajax-api/2.0/mlflow/gateway-proxy"):
        assert (
            requests.get(tracking_uri + path, timeout=30).json()
            == requests.get(reference_uri + path, timeout=30).json()
        )
    query = {"query": "query { nope }"}
    ours = requests.post(f"{tracking_uri}/graphql", json=query, timeout=30)
    theirs = requests.post(f"{reference_uri}/graphql", json=query, timeout=30)
    assert (ours.status_code, ours.json()) == (theirs.status_code, theirs.json())
    missing = {
        "query": "query Q($d: MlflowGetRunInput!) { mlflowGetRun(input: $d) { run { info { runUuid } } } }",
        "variables": {"d": {"runId": "0123456789abcdef0123456789abcdef"}},
    }
    ours = requests.post(f"{tracking_uri}/graphql", json=missing, timeout=30).json()
    theirs = requests.post(f"{reference_uri}/graphql", json=missing, timeout=30).json()
    assert ours == theirs
