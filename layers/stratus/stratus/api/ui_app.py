"""The web UI's API: ``/graphql``, the artifact viewer, the dataset filter and the answers for features Stratus
switches off. The GenAI pages' trace and evaluation dataset routes are the TracesFunction's
(``api.app.build_traces_api``)."""

from __future__ import annotations

from functools import partial

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from stratus.api import graphql
from stratus.api.app import install_error_handlers
from stratus.api.routes import ui
from stratus.domain.services.artifact_files import ArtifactFileService


def build_ui_api(
    services: graphql.GraphqlServices,
    artifact_files: ArtifactFileService,
) -> APIGatewayHttpResolver:
    """The UI function's resolver. Only the ``/graphql`` route imports graphql-core, on its first request."""
    app = APIGatewayHttpResolver()
    app.include_router(ui.build_switched_off())
    app.include_router(ui.build_datasets(services))
    app.include_router(ui.build_artifacts(artifact_files))
    app.include_router(ui.build_graphql(partial(graphql.execute, services)))
    install_error_handlers(app)
    return app
