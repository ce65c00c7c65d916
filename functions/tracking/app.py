"""TrackingFunction: composition root. Builds settings, store, services and the resolver once per container."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.utilities.typing import LambdaContext

from stratus.api.app import build_tracking_api
from stratus.config import Settings
from stratus.domain.services import ExperimentService, RunService
from stratus.observability import get_logger
from stratus.store.dynamodb import DynamoTrackingStore, bind_table


@cache
def api() -> APIGatewayHttpResolver:
    settings = Settings.from_env()
    bind_table(settings.table_name, settings.region)
    store = DynamoTrackingStore()
    experiments = ExperimentService(store, settings.artifact_root)
    return build_tracking_api(experiments, RunService(store, experiments))


def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    get_logger().append_keys(route=event.get("routeKey"))
    return api().resolve(event, context)
