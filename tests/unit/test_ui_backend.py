"""The web UI's server side without AWS: chart sampling as the reference's SQL, the switched-off features' answers,
and `stratus local` serving the UI's files."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from stratus.api.graphql import GraphqlServices
from stratus.api.routes.artifacts import content_type_of
from stratus.api.routes.ui import assistant_providers_off
from stratus.api.ui_app import build_ui_api
from stratus.domain.entities import Dataset, DatasetInput
from stratus.domain.services import ExperimentService, RunService
from stratus.domain.services.runs import _evenly_spaced_indices
from stratus.store.memory import InMemoryTrackingStore
from stratus_local.gateway import HttpRequest, HttpResponse
from stratus_local.ui import MISSING_UI_PAGE, UiAssets, UiGateway


def _reference_sample(total: int, max_results: int) -> list[int]:
    """The reference's sampling query (NTILE buckets, first row of each, then the last row), run by SQLite."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE m (step INTEGER)")
    db.executemany("INSERT INTO m VALUES (?)", [(i,) for i in range(total)])
    rows = [
        r[0]
        for r in db.execute(
            "SELECT step FROM (SELECT step, ROW_NUMBER() OVER (PARTITION BY b ORDER BY step) rn FROM "
            "(SELECT step, NTILE(?) OVER (ORDER BY step) b FROM m)) WHERE rn = 1 ORDER BY step",
            (max_results,),
        )
    ]
    if total and (not rows or rows[-1] != total - 1):
        if len(rows) >= max_results:
            rows[-1] = total - 1
        else:
            rows.append(total - 1)
    return rows


@pytest.mark.parametrize(
    ("total", "max_results"), [(0, 5), (1, 1), (7, 1), (10, 3), (10, 10), (11, 4), (401, 320), (1000, 320), (5, 100)]
)
def test_chart_sampling_picks_the_rows_the_reference_picks(total: int, max_results: int) -> None:
    assert _evenly_spaced_indices(total, max_results) == _reference_sample(total, max_results)


# ---------------------------------------------------------------- switched-off features, through the resolver


def _event(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": method, "path": path}, "stage": "$default"},
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


@pytest.fixture
def ui_api() -> Any:
    return build_ui_api(None, None)  # type: ignore[arg-type]  # these routes touch no service


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        ("GET", "/ajax-api/3.0/mlflow/ui-telemetry", None, {"disable_ui_events": [], "disable_ui_telemetry": True,
                                                             "ui_rollout_percentage": 0}),
        ("POST", "/ajax-api/3.0/mlflow/ui-telemetry", {"records": []}, {"status": "disabled"}),
        ("GET", "/ajax-api/3.0/mlflow/assistant/config", None, {"providers": {}, "projects": {},
                                                                "remote_access_allowed": False}),
        ("GET", "/ajax-api/2.0/mlflow/gateway-proxy", None, {"endpoints": []}),
    ],
)  # fmt: skip
def test_switched_off_features_answer_as_the_reference_does(
    ui_api: Any, method: str, path: str, body: dict[str, Any] | None, expected: dict[str, Any]
) -> None:
    answer = ui_api.resolve(_event(method, path, body), None)
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"]) == expected


def test_no_assistant_provider_is_available_so_none_is_resolved(ui_api: Any) -> None:
    answer = json.loads(ui_api.resolve(_event("GET", "/ajax-api/3.0/mlflow/assistant/providers"), None)["body"])
    assert answer == assistant_providers_off()
    assert answer["resolved"] is None
    assert not any(p["available"] for p in answer["providers"])


@pytest.fixture
def services() -> GraphqlServices:
    store = InMemoryTrackingStore()
    experiments = ExperimentService(store, "mlflow-artifacts:")
    return GraphqlServices(experiments, RunService(store, experiments))


def _search_datasets(services: GraphqlServices, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    ui_api = build_ui_api(services, None)  # type: ignore[arg-type]  # the artifact viewer is not called
    answer = ui_api.resolve(_event("POST", "/ajax-api/2.0/mlflow/experiments/search-datasets", body), None)
    return answer["statusCode"], json.loads(answer["body"])


def test_search_datasets_lists_the_summaries_of_the_experiments_runs(services: GraphqlServices) -> None:
    runs = services.runs
    run_id = runs.create("0", "ana", 1, {}, None).run_id
    training = DatasetInput(Dataset("iris", "d1", "local", "{}"), (("mlflow.data.context", "train"),))
    runs.log_inputs(run_id, [training, DatasetInput(Dataset("wine", "d2", "local", "{}"))], [])
    assert _search_datasets(services, {"experiment_ids": ["0"]}) == (
        200,
        {
            "dataset_summaries": [
                {"experiment_id": "0", "name": "iris", "digest": "d1", "context": "train"},
                {"experiment_id": "0", "name": "wine", "digest": "d2"},
            ]
        },
    )


def test_search_datasets_of_experiments_without_datasets_is_the_empty_answer(services: GraphqlServices) -> None:
    assert _search_datasets(services, {"experiment_ids": ["0", "12"]}) == (200, {})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "SearchDatasets request must specify at least one experiment_id."),
        ({"experiment_ids": []}, "SearchDatasets request must specify at least one experiment_id."),
        (
            {"experiment_ids": [str(i) for i in range(21)]},
            "SearchDatasets request cannot specify more than 20 experiment_ids. Received 21 experiment_ids.",
        ),
        ({"experiment_ids": ["abc"]}, "Invalid experiment ID 'abc'. Experiment ID must be a valid integer."),
    ],
)
def test_search_datasets_refuses_what_the_reference_refuses(
    services: GraphqlServices, body: dict[str, Any], message: str
) -> None:
    assert _search_datasets(services, body) == (400, {"error_code": "INVALID_PARAMETER_VALUE", "message": message})


@pytest.mark.parametrize(
    "name",
    ["notes.txt", "table.json", "MLmodel", "MLproject", "conda.yaml", "plot.png", "page.html", "model.pkl", "data",
     ".hidden", "archive.tar.gz", "run.log", "script.py", "x.JSON"],
)  # fmt: skip
def test_artifact_files_are_typed_as_the_reference_types_them(name: str) -> None:
    from mlflow.utils.mime_type_utils import _guess_mime_type

    assert content_type_of(name) == _guess_mime_type(name)


def test_other_assistant_calls_are_endpoint_not_found(ui_api: Any) -> None:
    answer = ui_api.resolve(_event("POST", "/ajax-api/3.0/mlflow/assistant/message", {}), None)
    assert answer["statusCode"] == 404


# ---------------------------------------------------------------- stratus local: the UI's files


class Api:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def handle(self, request: HttpRequest) -> HttpResponse:
        self.seen.append(request.target)
        return HttpResponse(200, [], b"api")


@pytest.fixture
def build(tmp_path: Path) -> Path:
    (tmp_path / "static" / "js").mkdir(parents=True)
    (tmp_path / "index.html").write_text('<script src="static-files/static/js/main.1.js"></script>')
    (tmp_path / "static" / "js" / "main.1.js").write_text("console.log(1)")
    (tmp_path.parent / "secret.txt").write_text("no")
    return tmp_path


def _get(gateway: UiGateway, target: str, headers: list[tuple[str, str]] | None = None) -> HttpResponse:
    return gateway.handle(HttpRequest("GET", target, headers or []))


def test_index_and_assets_are_served_with_the_reference_caching(build: Path) -> None:
    gateway = UiGateway(Api(), UiAssets(build))
    index = _get(gateway, "/")
    assert index.status == 200 and b"main.1.js" in index.body
    assert index.header("content-type") == "text/html; charset=utf-8"
    assert index.header("cache-control") == "no-cache"
    asset = _get(gateway, "/static-files/static/js/main.1.js")
    assert asset.body == b"console.log(1)"
    assert asset.header("content-type") == "text/javascript; charset=utf-8"
    assert asset.header("cache-control") == "public, max-age=2419200"
    again = _get(gateway, "/static-files/static/js/main.1.js", [("If-None-Match", asset.header("etag") or "")])
    assert again.status == 304


@pytest.mark.parametrize(
    "target",
    ["/static-files/../secret.txt", "/static-files/%2e%2e/secret.txt", "/static-files/static", "/static-files/nope.js"],
)
def test_nothing_outside_the_build_or_missing_is_served(build: Path, target: str) -> None:
    assert _get(UiGateway(Api(), UiAssets(build)), target).status == 404


def test_api_requests_go_to_the_gateway(build: Path) -> None:
    api = Api()
    gateway = UiGateway(api, UiAssets(build))
    assert _get(gateway, "/api/2.0/mlflow/experiments/search").body == b"api"
    assert gateway.handle(HttpRequest("POST", "/", [])).body == b"api"
    assert api.seen == ["/api/2.0/mlflow/experiments/search", "/"]


def test_without_mlflow_the_index_says_how_to_install_it() -> None:
    answer = _get(UiGateway(Api(), UiAssets(None)), "/")
    assert answer.status == 200 and answer.body == MISSING_UI_PAGE.encode()
    assert b"pip install" in answer.body


def test_the_installed_mlflow_build_is_found_without_importing_mlflow() -> None:
    import sys

    from stratus_local.ui import find_ui_build

    before = "mlflow" in sys.modules
    folder = find_ui_build()
    if folder is None:
        pytest.skip("mlflow is not installed")
    assert (folder / "index.html").is_file()
    assert ("mlflow" in sys.modules) == before
