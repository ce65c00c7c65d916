"""``/webhooks``: MLflow 3's webhook API (what ``MlflowClient.create_webhook`` and friends call); plus Stratus's
delivery log (``/api/2.0/stratus/webhooks/<id>/deliveries``)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from stratus.api import schemas, serialize
from stratus.api.request import parse
from stratus.domain.services.webhooks import WebhookService


def build(service: WebhookService) -> Router:
    router = Router()

    @router.post("/webhooks")
    def create() -> dict[str, Any]:
        req = parse(router, schemas.CreateWebhook)
        hook = service.create(req.name, req.url, req.events, req.description, req.secret, req.status)
        return {"webhook": serialize.webhook(hook)}

    @router.get("/webhooks")
    def list_webhooks() -> dict[str, Any]:
        req = parse(router, schemas.ListWebhooks)
        hooks, token = service.list(req.max_results, req.page_token)
        return serialize.page("webhooks", [serialize.webhook(h) for h in hooks], token)

    @router.get("/webhooks/<webhook_id>")
    def get(webhook_id: str) -> dict[str, Any]:
        return {"webhook": serialize.webhook(service.get(webhook_id))}

    @router.patch("/webhooks/<webhook_id>")
    def update(webhook_id: str) -> dict[str, Any]:
        req = parse(router, schemas.UpdateWebhook)
        hook = service.update(webhook_id, req.name, req.url, req.events, req.description, req.secret, req.status)
        return {"webhook": serialize.webhook(hook)}

    @router.delete("/webhooks/<webhook_id>")
    def delete(webhook_id: str) -> dict[str, Any]:
        service.delete(webhook_id)
        return {}

    @router.post("/webhooks/<webhook_id>/test")
    def test(webhook_id: str) -> dict[str, Any]:
        result = service.test(webhook_id, parse(router, schemas.TestWebhook).event)
        success = result.error is None and result.status is not None and result.status < 400
        answer: dict[str, Any] = {"success": success}
        if result.status is not None:
            answer["response_status"] = result.status
        if result.body:
            answer["response_body"] = result.body
        if result.error:
            answer["error_message"] = result.error
        return {"result": answer}

    return router


def build_deliveries(service: WebhookService) -> Router:
    router = Router()

    @router.get("/webhooks/<webhook_id>/deliveries")
    def deliveries(webhook_id: str) -> dict[str, Any]:
        return serialize.page(
            "deliveries", [serialize.webhook_delivery(d) for d in service.deliveries(webhook_id)], None
        )

    return router
