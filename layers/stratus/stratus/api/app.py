"""Assemble the tracking API: routers under ``/api/2.0/mlflow`` and ``/ajax-api/2.0/mlflow`` (MLflow 3's issues and
scorers under ``/api/3.0/mlflow`` and ``/ajax-api/3.0/mlflow``), one error mapping."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

from stratus.api.identity import caller
from stratus.api.routes import (
    artifacts,
    datasets,
    deployments,
    experiments,
    issues,
    logged_models,
    meta,
    metrics,
    openapi,
    projects,
    registry,
    runs,
    scorers,
    trace_search,
    traces,
    webhooks,
)
from stratus.api.routes import assessments as assessment_routes
from stratus.domain.actor import current_actor
from stratus.domain.services import (
    ArtifactService,
    ExperimentService,
    IssueService,
    LoggedModelService,
    PromptlabService,
    RegistryService,
    RunService,
    ScorerService,
)
from stratus.domain.services.datasets import EvaluationDatasetService
from stratus.domain.services.deployments import DeploymentService
from stratus.domain.services.projects import ProjectService
from stratus.domain.services.traces import TraceService
from stratus.domain.services.webhooks import WebhookService
from stratus.errors import EndpointNotFound, StratusError
from stratus.observability import get_logger

UI_API_PREFIX = "/ajax-api/2.0/mlflow"
API_PREFIXES = ("/api/2.0/mlflow", UI_API_PREFIX)
API_V3_PREFIXES = ("/api/3.0/mlflow", "/ajax-api/3.0/mlflow")
ARTIFACT_PREFIXES = ("/api/2.0", "/ajax-api/2.0")
STRATUS_PREFIXES = ("/api/2.0/stratus", "/ajax-api/2.0/stratus")


def error_response(error: StratusError) -> Response:
    return Response(status_code=error.http_status, content_type="application/json", body=json.dumps(error.to_json()))


def build_tracking_api(
    experiment_service: ExperimentService,
    run_service: RunService,
    logged_model_service: LoggedModelService,
    promptlab_service: PromptlabService,
    issue_service: IssueService,
    scorer_service: ScorerService,
    *,
    runs_belong_to_caller: bool = False,
) -> APIGatewayHttpResolver:
    """The tracking API. ``runs_belong_to_caller``: an authorizer guards it (AuthorizationType AWS_IAM or JWT), so
    a new run's user is the caller it authenticated rather than the ``user_id`` the client sent.
    ``promptlab_service`` serves the web UI's ``runs/create-promptlab-run`` (it writes artifacts too);
    ``issue_service`` and ``scorer_service`` the MLflow 3 issues and registered scorers (API 3.0 only, as the
    reference serves them)."""
    app = APIGatewayHttpResolver()
    for prefix in API_PREFIXES:
        app.include_router(experiments.build(experiment_service), prefix=prefix)
        app.include_router(runs.build(run_service, runs_belong_to_caller), prefix=prefix)
        app.include_router(metrics.build(run_service), prefix=prefix)
        app.include_router(logged_models.build(logged_model_service), prefix=prefix)
    # Stratus's own route for `stratus import`; template.yaml routes only the API path of it to this function
    app.include_router(runs.build_import(run_service, runs_belong_to_caller), prefix=STRATUS_PREFIXES[0])
    app.include_router(metrics.build_ui(run_service), prefix=UI_API_PREFIX)
    app.include_router(runs.build_ui(promptlab_service, runs_belong_to_caller), prefix=UI_API_PREFIX)
    for prefix in API_V3_PREFIXES:
        app.include_router(issues.build(issue_service), prefix=prefix)
        app.include_router(scorers.build(scorer_service), prefix=prefix)
    app.include_router(meta.build())
    install_error_handlers(app)
    return app


def build_registry_api(registry_service: RegistryService, webhook_service: WebhookService) -> APIGatewayHttpResolver:
    """The model registry (``/api/2.0/mlflow/registered-models``, ``/model-versions``), its webhooks
    (``/api/2.0/mlflow/webhooks``), the promotion history, the webhook delivery log and the whole API's OpenAPI
    document (``/api/2.0/stratus/...``), served by its own function."""
    app = APIGatewayHttpResolver()
    for prefix in API_PREFIXES:
        app.include_router(registry.build(registry_service), prefix=prefix)
        app.include_router(webhooks.build(webhook_service), prefix=prefix)
    for prefix in STRATUS_PREFIXES:
        app.include_router(registry.build_history(registry_service), prefix=prefix)
        app.include_router(webhooks.build_deliveries(webhook_service), prefix=prefix)
        app.include_router(openapi.build(), prefix=prefix)
    install_actor(app)
    install_error_handlers(app)
    return app


def build_artifacts_api(artifact_service: ArtifactService) -> APIGatewayHttpResolver:
    """The proxied artifact API (``/api/2.0/mlflow-artifacts/...``) and the web UI's ``upload-artifact``, served by
    their own function."""
    app = APIGatewayHttpResolver()
    for prefix in ARTIFACT_PREFIXES:
        app.include_router(artifacts.build(artifact_service), prefix=prefix)
    app.include_router(artifacts.build_ui_upload(artifact_service))
    install_error_handlers(app)
    return app


def build_projects_api(project_service: ProjectService) -> APIGatewayHttpResolver:
    """MLflow Projects run by Stratus (``/api/2.0/stratus/projects/...``), served by their own function."""
    app = APIGatewayHttpResolver()
    for prefix in STRATUS_PREFIXES:
        app.include_router(projects.build(project_service), prefix=prefix)
    install_actor(app)
    install_error_handlers(app)
    return app


def build_deployments_api(deployment_service: DeploymentService) -> APIGatewayHttpResolver:
    """Model deployments (``/api/2.0/stratus/deployments/...``) and their scoring endpoints, served by their own
    function."""
    app = APIGatewayHttpResolver()
    for prefix in STRATUS_PREFIXES:
        app.include_router(deployments.build(deployment_service), prefix=prefix)
    install_actor(app)
    install_error_handlers(app)
    return app


def build_traces_api(
    trace_service: TraceService,
    search_service: Any,
    write_service: Any,
    dataset_service: EvaluationDatasetService,
) -> APIGatewayHttpResolver:
    """MLflow 3's GenAI traces, served by their own function: OTLP ingest (``/v1/traces``), StartTraceV3 and the
    reads (API 3.0), search (``routes.trace_search``), assessments, tags, deletion and run links
    (``routes.assessments``), the legacy v2 routes, the UI's ``get-trace-artifact``, ``traces/metrics`` and
    ``datasets/search``. Static paths (``/traces/search``) win over ``/traces/<trace_id>`` by the resolver's rule."""
    app = APIGatewayHttpResolver()
    for prefix in API_V3_PREFIXES:
        app.include_router(trace_search.build(search_service), prefix=prefix)
        app.include_router(assessment_routes.build(write_service), prefix=prefix)
        app.include_router(traces.build(trace_service), prefix=prefix)
        app.include_router(traces.build_v3(trace_service), prefix=prefix)
        app.include_router(datasets.build(dataset_service), prefix=prefix)
    for prefix in API_PREFIXES:  # the v2 routes: legacy listing and info, tags, deletion, link-to-run
        app.include_router(trace_search.build_legacy(search_service), prefix=prefix)
        app.include_router(assessment_routes.build_legacy(write_service), prefix=prefix)
        app.include_router(traces.build_legacy(trace_service), prefix=prefix)
    for prefix in ("/ajax-api/2.0/mlflow", "/ajax-api/3.0/mlflow"):
        app.include_router(traces.build_artifact(trace_service), prefix=prefix)
    app.include_router(traces.build_otlp(trace_service))
    install_error_handlers(app)
    return app


def install_actor(app: APIGatewayHttpResolver) -> None:
    """Every request acts for the caller API Gateway authenticated (what stores stamp on registry writes)."""

    def set_actor(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
        token = current_actor.set(caller(app.current_event.raw_event))
        try:
            return next_middleware(app)
        finally:
            current_actor.reset(token)

    app.use(middlewares=[set_actor])


def install_error_handlers(app: APIGatewayHttpResolver) -> None:
    """The one mapping from errors to HTTP: MLflow error JSON for every failure, never internals."""

    @app.exception_handler(StratusError)
    def stratus_error(error: StratusError) -> Response:
        if error.http_status >= 500:
            get_logger().warning("request failed", error_code=error.error_code, error_message=error.message)
        return error_response(error)

    @app.not_found
    def not_found(_: NotFoundError) -> Response:
        event = app.current_event
        return error_response(EndpointNotFound(f"No API route for {event.http_method} {event.path}"))

    @app.exception_handler(Exception)
    def unexpected(error: Exception) -> Response:
        get_logger().exception("unexpected error", error_type=type(error).__name__)
        return Response(
            status_code=500,
            content_type="application/json",
            body=json.dumps({"error_code": "INTERNAL_ERROR", "message": "Internal error; see the function's logs."}),
        )
