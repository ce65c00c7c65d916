"""The OpenAPI document (``GET /api/2.0/stratus/openapi.json``) describes every route the three functions serve, with
the request models they parse, is valid OpenAPI 3.1, agrees with template.yaml's routes, and is built only on request.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from openapi_spec_validator import validate

from stratus.api import app, openapi, schemas, ui_app
from stratus.api.request import parse
from stratus_local.gateway import HttpRequest, build_event
from stratus_local.routes import Router
from stratus_local.template import parse_project

PROJECT_DIR = Path(__file__).resolve().parents[2]
NOTHING = cast(Any, None)


def _resolvers_by_function() -> dict[str, APIGatewayHttpResolver]:
    return {
        "TrackingFunction": app.build_tracking_api(NOTHING, NOTHING, NOTHING, NOTHING, NOTHING, NOTHING),
        "ArtifactsFunction": app.build_artifacts_api(NOTHING),
        "RegistryFunction": app.build_registry_api(NOTHING, NOTHING),
        "ProjectsFunction": app.build_projects_api(NOTHING),
        "DeploymentsFunction": app.build_deployments_api(NOTHING),
        "UiFunction": ui_app.build_ui_api(NOTHING, NOTHING),
    }


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi.document()


@pytest.fixture(scope="module")
def template_routes() -> Router:
    return Router(parse_project(PROJECT_DIR).routes)


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, ops in document["paths"].items() for method, op in ops.items()]


def _concrete(path: str) -> str:
    """A request path for an OpenAPI path template (``{model_id}`` → ``m-1``, the artifact tail → two segments)."""
    path = path.replace("{" + openapi.ANY_PATH_PARAMETER + "}", "1/artifacts/model.pkl")
    while "{" in path:
        start, end = path.index("{"), path.index("}")
        path = path[:start] + "x-1" + path[end + 1 :]
    return path


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"].startswith("3.1")


def test_operation_ids_are_unique(document: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in _operations(document)]
    assert len(ids) == len(set(ids))


def test_every_template_route_is_described(document: dict[str, Any], template_routes: Router) -> None:
    """Each HttpApi route of template.yaml leads to at least one described operation (``$default`` aside)."""
    described = [(method, path) for method, path, _ in _operations(document)]
    for route in template_routes.routes:
        if route.is_default:
            continue
        prefix = "/" + "/".join(route.segments)
        covered = [
            (method, path)
            for method, path in described
            if route.method in ("ANY", method)
            and (path == prefix if route.greedy is None else path.startswith(prefix + "/"))
        ]
        assert covered, f"template route {route.route_key} ({route.function_id}) is missing from the document"


def test_every_described_operation_reaches_the_function_that_serves_it(template_routes: Router) -> None:
    """API Gateway (as template.yaml routes it) sends each operation to the function whose resolver has the route."""
    for function_id, resolver in _resolvers_by_function().items():
        for method, path, _ in _operations(openapi.describe([resolver])):
            match = template_routes.match(method, _concrete(path))
            assert match is not None, f"{method} {path} is not routed by template.yaml"
            assert match.route.function_id == function_id, f"{method} {path} goes to {match.route.function_id}"


@pytest.mark.parametrize(
    ("method", "path", "model"),
    [
        ("POST", "/api/2.0/mlflow/runs/log-batch", schemas.LogBatch),
        ("DELETE", "/api/2.0/mlflow/registered-models/delete", schemas.RegisteredModelName),
        ("PATCH", "/ajax-api/2.0/mlflow/logged-models/{model_id}", schemas.FinalizeLoggedModel),
        ("POST", "/api/2.0/mlflow-artifacts/mpu/create/{artifact_path}", schemas.CreateMultipartUpload),
    ],
)
def test_bodies_reference_the_model_the_handler_parses(
    document: dict[str, Any], method: str, path: str, model: type
) -> None:
    body = document["paths"][path][method.lower()]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": f"#/components/schemas/{model.__name__}"}
    assert set(document["components"]["schemas"][model.__name__]["properties"]) >= set(model.model_fields) - {"schema_"}


def test_get_models_become_query_parameters_with_repeated_list_keys(document: dict[str, Any]) -> None:
    operation = document["paths"]["/api/2.0/mlflow/metrics/get-history-bulk-interval"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert set(parameters) == set(schemas.GetMetricHistoryBulkInterval.model_fields)
    assert parameters["run_ids"]["explode"] is True and parameters["run_ids"]["schema"]["type"] == "array"
    assert parameters["metric_key"]["required"] is True
    assert parameters["max_results"]["required"] is False


def test_artifact_paths_are_a_path_parameter_and_uploads_are_binary(document: dict[str, Any]) -> None:
    operation = document["paths"]["/api/2.0/mlflow-artifacts/artifacts/{artifact_path}"]["put"]
    assert [p["name"] for p in operation["parameters"]] == ["artifact_path"]
    assert "application/octet-stream" in operation["requestBody"]["content"]
    assert not any(".+" in path for path in document["paths"])


def test_errors_are_described_as_mlflow_error_json(document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        error = operation["responses"]["4XX"]["content"]["application/json"]["schema"]
        assert error == {"$ref": "#/components/schemas/ErrorResponse"}, f"{method} {path}"
    assert document["components"]["schemas"]["ErrorResponse"]["required"] == ["error_code", "message"]


def test_every_handler_that_parses_names_exactly_one_request_model() -> None:
    for resolver in _resolvers_by_function().values():
        for route in resolver._static_routes + resolver._dynamic_routes:
            if parse.__name__ in route.func.__code__.co_names:
                assert openapi.request_model_of(route.func) is not None, route.path


def test_a_handler_naming_two_models_is_refused() -> None:
    def confused() -> None:
        schemas.LogBatch, schemas.LogMetric  # noqa: B018 - names only

    with pytest.raises(ValueError, match="several request models"):
        openapi.request_model_of(confused)


def test_the_document_is_built_on_request_not_at_cold_start() -> None:
    openapi.document.cache_clear()
    registry = app.build_registry_api(NOTHING, NOTHING)
    assert openapi.document.cache_info().currsize == 0

    route = Router(parse_project(PROJECT_DIR).routes).match("GET", "/api/2.0/stratus/openapi.json")
    assert route is not None and route.route.function_id == "RegistryFunction"
    event = build_event(HttpRequest("GET", "/api/2.0/stratus/openapi.json"), route, request_id="r-1")
    response = registry.resolve(event, NOTHING)

    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == openapi.document()
    assert openapi.document.cache_info().currsize == 1
