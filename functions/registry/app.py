"""RegistryFunction: composition root of the model registry API and its promotion history."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.utilities.typing import LambdaContext

from stratus.api.app import build_registry_api
from stratus.config import Settings
from stratus.domain.services import ExperimentService, LoggedModelService, RegistryService
from stratus.domain.services.webhooks import DestinationPolicy, WebhookService, http_sender
from stratus.observability import get_logger, get_metrics
from stratus.snapstart import prime_before_snapshot
from stratus.store.dynamodb import (
    DynamoLoggedModelStore,
    DynamoRegistryStore,
    DynamoTrackingStore,
    DynamoWebhookStore,
    bind_table,
    warm_table,
)
from stratus.store.kms import KmsCipher


@cache
def api() -> APIGatewayHttpResolver:
    settings = Settings.from_env()
    bind_table(settings.table_name, settings.region)
    tracking = DynamoTrackingStore()
    experiments = ExperimentService(tracking, settings.artifact_root, artifact_bucket=settings.artifact_bucket)
    logged_models = LoggedModelService(DynamoLoggedModelStore(), experiments)
    registry = RegistryService(DynamoRegistryStore(), logged_models, tracking, settings.artifact_bucket)
    policy = DestinationPolicy.parse(settings.webhook_allowed_schemes, settings.webhook_allow_private_ips)
    webhooks = WebhookService(DynamoWebhookStore(KmsCipher(settings.webhook_key_id)), http_sender(policy), policy)
    return build_registry_api(registry, webhooks)


@get_metrics().log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    get_logger().thread_safe_append_keys(route=event.get("routeKey"))
    return api().resolve(event, context)


# SnapStart=enabled: built while Lambda publishes a version, kept in its snapshot (stratus/snapstart.py)
prime_before_snapshot(api, warm_table)
