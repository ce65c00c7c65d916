"""DeploymentsFunction: composition root of the model deployment API (``/api/2.0/stratus/deployments/...``):
create, read, update, delete and list deployments, and their scoring endpoints, which pass each request on to the
deployment's own function (docs/deployments.md). Rollouts run in DeploymentRolloutsFunction (``rollouts.py``, same
folder); both build their service in ``wiring.py``."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.utilities.typing import LambdaContext
from wiring import deployment_service

from stratus.api.app import build_deployments_api
from stratus.config import Settings
from stratus.observability import get_logger, get_metrics
from stratus.snapstart import prime_before_snapshot
from stratus.store.dynamodb import warm_table


@cache
def api() -> APIGatewayHttpResolver:
    return build_deployments_api(deployment_service(Settings.from_env()))


@get_metrics().log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    get_logger().thread_safe_append_keys(route=event.get("routeKey"))
    return api().resolve(event, context)


# SnapStart=enabled: built while Lambda publishes a version, kept in its snapshot (stratus/snapstart.py)
prime_before_snapshot(api, warm_table)
