"""The web UI's API: ``/graphql``, the artifact viewer, the dataset filter, the trace and evaluation dataset reads of
its GenAI pages (under the client's ``/api`` prefixes too) and the answers for features Stratus switches off."""

from __future__ import annotations

from functools import partial

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from stratus.api import graphql
from stratus.api.app import API_PREFIXES, API_V3_PREFIXES, install_error_handlers
from stratus.api.routes import traces, ui
from stratus.domain.services.artifact_files import ArtifactFileService
from stratus.domain.services.traces import EvaluationDatasetService, TraceService


def build_ui_api(
    services: graphql.GraphqlServices,
    artifact_files: ArtifactFileService,
    *,
    trace_service: TraceService | None = None,
    dataset_service: EvaluationDatasetService | None = None,
) -> APIGatewayHttpResolver:
    """The UI function's resolver. Only the ``/graphql`` route imports graphql-core, on its first request. The trace
    and evaluation dataset services hold no state (Stratus stores neither yet): left out, plain ones are made."""
    app = APIGatewayHttpResolver()
    trace_service = trace_service or TraceService()
    dataset_service = dataset_service or EvaluationDatasetService()
    for prefix in API_V3_PREFIXES:
        app.include_router(traces.build(trace_service), prefix=prefix)
        app.include_router(traces.build_datasets(dataset_service), prefix=prefix)
    for prefix in API_PREFIXES:
        app.include_router(traces.build_legacy(trace_service), prefix=prefix)
    app.include_router(ui.build_switched_off())
    app.include_router(ui.build_datasets(services))
    app.include_router(ui.build_artifacts(artifact_files))
    app.include_router(ui.build_graphql(partial(graphql.execute, services)))
    install_error_handlers(app)
    return app
