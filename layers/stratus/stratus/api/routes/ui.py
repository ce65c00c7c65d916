"""What MLflow's web UI calls besides the REST API the client uses.

* ``build_switched_off``: features Stratus does not offer (UI telemetry, the assistant, the AI gateway) answer
  exactly as the reference ``mlflow server`` answers with them switched off or empty, so the UI hides them or shows
  empty pages. Measured against mlflow 3.17.2 (``MLFLOW_ENABLE_AI_GATEWAY=false``, telemetry disabled, no assistant
  provider available). The GenAI pages' trace and evaluation dataset reads are ``routes/traces.py``.
* ``build_datasets``: the dataset summaries of the experiments' runs (the UI's dataset filter).
* ``build_artifacts``: the artifact listing and the file viewer's reads.
* ``build_graphql``: ``POST /graphql``.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from stratus.api import schemas, serialize
from stratus.api.graphql import GraphqlServices
from stratus.api.request import parse
from stratus.api.routes.artifacts import file_response
from stratus.domain.services.artifact_files import ArtifactFileService
from stratus.errors import InvalidParameterValue

UI_TELEMETRY_OFF = {"disable_ui_telemetry": True, "disable_ui_events": [], "ui_rollout_percentage": 0}
"""The reference's ``FALLBACK_UI_CONFIG``: what it answers when telemetry is disabled."""
UI_TELEMETRY_POST_OFF = {"status": "disabled"}
ASSISTANT_CONFIG_OFF = {"providers": {}, "projects": {}, "remote_access_allowed": False}
ASSISTANT_PROVIDERS = (
    ("claude_code", "Claude Code", "AI-powered assistant using Claude Code CLI", False, "structured"),
    ("codex", "Codex", "AI-powered assistant using the Codex CLI", False, "structured"),
    (
        "mlflow_gateway",
        "MLflow AI Gateway",
        "AI-powered assistant backed by an MLflow AI Gateway endpoint configured on this server.",
        True,
        "tool",
    ),
    ("ollama", "Ollama", "AI-powered assistant using a locally running Ollama server.", False, "tool"),
)
"""The reference's providers (name, display name, description, remote access, tool delivery); none is available."""
GATEWAY_ENDPOINTS_OFF: dict[str, list[Any]] = {"endpoints": []}
"""The reference's gateway proxy without ``MLFLOW_DEPLOYMENTS_TARGET``: "pretend an empty gateway service"."""


def assistant_providers_off() -> dict[str, Any]:
    """``assistant/providers`` with no provider available: nothing resolved, so the UI offers no assistant."""
    providers = [
        {
            "name": name,
            "display_name": display,
            "description": description,
            "available": False,
            "selected": False,
            "requires_api_key": False,
            "has_api_key": False,
            "allows_remote_access": remote,
            "client_tool_delivery": delivery,
            "model_options": [],
        }
        for name, display, description, remote, delivery in ASSISTANT_PROVIDERS
    ]
    return {"providers": providers, "resolved": None, "gateway_vendor_options": {}}


def build_switched_off() -> Router:
    router = Router()

    @router.get("/ajax-api/3.0/mlflow/ui-telemetry")
    def ui_telemetry() -> dict[str, Any]:
        return UI_TELEMETRY_OFF

    @router.post("/ajax-api/3.0/mlflow/ui-telemetry")
    def ui_telemetry_records() -> dict[str, Any]:
        return UI_TELEMETRY_POST_OFF

    @router.get("/ajax-api/3.0/mlflow/assistant/config")
    def assistant_config() -> dict[str, Any]:
        return ASSISTANT_CONFIG_OFF

    @router.get("/ajax-api/3.0/mlflow/assistant/providers")
    def assistant_providers() -> dict[str, Any]:
        return assistant_providers_off()

    @router.route("/ajax-api/2.0/mlflow/gateway-proxy", method=["GET", "POST"])
    def gateway_proxy() -> dict[str, Any]:
        return GATEWAY_ENDPOINTS_OFF

    return router


def build_datasets(services: GraphqlServices) -> Router:
    """``experiments/search-datasets``: the datasets the experiments' runs logged (the UI's dataset filter)."""
    router = Router()

    @router.post("/ajax-api/2.0/mlflow/experiments/search-datasets")
    def search_datasets() -> dict[str, Any]:
        summaries = services.runs.search_datasets(parse(router, schemas.SearchDatasets).experiment_ids)
        return {"dataset_summaries": [serialize.dataset_summary(s) for s in summaries]} if summaries else {}

    return router


def build_artifacts(service: ArtifactFileService) -> Router:
    router = Router()

    def list_artifacts() -> dict[str, Any]:
        req = parse(router, schemas.ListRunArtifacts)
        if not req.run_id:
            raise InvalidParameterValue("Missing value for required parameter 'run_id'.")
        root_uri, entries = service.list_run(req.run_id, req.path)
        files = [serialize.file_info(e) for e in entries]
        return {"root_uri": root_uri, "files": files} if files else {"root_uri": root_uri}

    router.get("/api/2.0/mlflow/artifacts/list")(list_artifacts)
    router.get("/ajax-api/2.0/mlflow/artifacts/list")(list_artifacts)

    def get_artifact() -> Response:
        req = parse(router, schemas.GetArtifact)
        if not req.run_id:
            raise InvalidParameterValue("Missing value for required parameter 'run_id'.")
        return file_response(service.run_file(req.run_id, req.path))

    router.get("/get-artifact")(get_artifact)
    router.get("/ajax-api/2.0/mlflow/get-artifact")(get_artifact)

    @router.get("/model-versions/get-artifact")
    def get_model_version_artifact() -> Response:
        req = parse(router, schemas.GetModelVersionArtifact)
        return file_response(service.model_version_file(req.name, req.version, req.path))

    @router.get("/ajax-api/2.0/mlflow/logged-models/<model_id>/artifacts/files")
    def get_logged_model_artifact(model_id: str) -> Response:
        req = parse(router, schemas.GetLoggedModelArtifact)
        return file_response(service.logged_model_file(model_id, req.artifact_file_path))

    return router


def build_graphql(execute: Any) -> Router:
    """``execute(query, variables, operation_name) -> dict``: :func:`stratus.api.graphql.execute` with services."""
    router = Router()

    def graphql() -> dict[str, Any]:
        req = parse(router, schemas.GraphqlRequest)
        variables = req.variables
        if isinstance(variables, str):  # GET: the variables are JSON text in the query string
            try:
                variables = json.loads(variables) if variables else None
            except ValueError as exc:
                raise InvalidParameterValue(f"'variables' is not JSON: {exc}") from exc
        return execute(req.query, variables, req.operation_name)

    router.route("/graphql", method=["GET", "POST"])(graphql)
    return router
