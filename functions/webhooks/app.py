"""WebhookDeliveryFunction: composition root of webhook delivery. An EventBridge rule on the registry bus invokes
it with each registry event; it posts MLflow's payload to every subscribed webhook, signed as MLflow signs it, and
fails (so EventBridge retries, then dead-letters the event) if any delivery failed."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from stratus.config import Settings
from stratus.domain.services.webhooks import DestinationPolicy, WebhookService, http_sender
from stratus.observability import get_logger, get_metrics
from stratus.store.dynamodb import DynamoRegistryStore, DynamoWebhookStore, bind_table
from stratus.store.kms import KmsCipher

PROMPT_TAG = "mlflow.prompt.is_prompt"


@cache
def services() -> tuple[WebhookService, DynamoRegistryStore]:
    settings = Settings.from_env()
    bind_table(settings.table_name, settings.region)
    policy = DestinationPolicy.parse(settings.webhook_allowed_schemes, settings.webhook_allow_private_ips)
    store = DynamoWebhookStore(KmsCipher(settings.webhook_key_id))
    return WebhookService(store, http_sender(policy), policy), DynamoRegistryStore()


@get_metrics().log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    webhooks, registry = services()
    detail = event.get("detail") or {}

    def is_prompt() -> bool:
        model = registry.get_model(str(detail.get("model_name", "")))
        return bool(model and model.tags.get(PROMPT_TAG, "false").lower() == "true")

    served = webhooks.deliver(
        str(detail.get("event_id", "")), str(event.get("detail-type", "")), detail, is_prompt=is_prompt
    )
    get_logger().info("webhooks delivered", event_id=detail.get("event_id"), served=served)
    return {"served": served}
