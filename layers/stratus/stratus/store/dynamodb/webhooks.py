"""Webhooks in DynamoDB: one item each in the ``WEBHOOKS`` partition (one Query lists them), the secret encrypted
with the stack's KMS key (``store/kms``); the delivery log and delivered-event markers under ``WEBHOOK#<id>``."""

from __future__ import annotations

from pynamodb.exceptions import DoesNotExist

from stratus.domain.entities import Webhook, WebhookDelivery
from stratus.store.dynamodb.errors import translated
from stratus.store.dynamodb.items import WebhookDeliveryItem, WebhookItem, sort_key_prefix
from stratus.store.kms import SecretCipher

WEBHOOKS_PK = "WEBHOOKS"


class DynamoWebhookStore:
    """``WebhookStore`` on the single Stratus table."""

    def __init__(self, cipher: SecretCipher) -> None:
        self._cipher = cipher

    def put_webhook(self, webhook: Webhook, secret: str | None, *, keep_secret: bool = False) -> None:
        item = WebhookItem(
            pk=WEBHOOKS_PK,
            sk=f"W#{webhook.webhook_id}",
            name=webhook.name,
            url=webhook.url,
            events=[f"{entity}:{action}" for entity, action in webhook.events],
            description=webhook.description,
            status=webhook.status,
            creation_timestamp=webhook.creation_timestamp,
            last_updated_timestamp=webhook.last_updated_timestamp,
        )
        if keep_secret:
            existing = self._item(webhook.webhook_id)
            item.secret = existing.secret if existing else None
        else:
            item.secret = self._cipher.encrypt(secret) if secret else None
        with translated():
            item.save()

    def _item(self, webhook_id: str) -> WebhookItem | None:
        with translated():
            try:
                return WebhookItem.get(WEBHOOKS_PK, f"W#{webhook_id}", consistent_read=True)
            except DoesNotExist:
                return None

    def get_webhook(self, webhook_id: str) -> Webhook | None:
        item = self._item(webhook_id)
        return _webhook(item) if item else None

    def get_secret(self, webhook_id: str) -> str | None:
        item = self._item(webhook_id)
        return self._cipher.decrypt(item.secret) if item and item.secret else None

    def list_webhooks(self) -> list[Webhook]:
        with translated():
            items = WebhookItem.query(WEBHOOKS_PK, sort_key_prefix(WebhookItem.sk, "W#"), consistent_read=True)
            return [_webhook(item) for item in items]

    def delete_webhook(self, webhook_id: str) -> bool:
        item = self._item(webhook_id)
        if item is None:
            return False
        with translated():
            item.delete()
        return True

    def record_delivery(self, delivery: WebhookDelivery) -> None:
        pk = f"WEBHOOK#{delivery.webhook_id}"
        attempt = WebhookDeliveryItem(
            pk=pk,
            sk=f"D#{delivery.timestamp:013d}#{delivery.event_id}",
            event_id=delivery.event_id,
            event_name=delivery.event_name,
            timestamp=delivery.timestamp,
            success="true" if delivery.success else "false",
            response_status=delivery.response_status,
            error_message=delivery.error_message,
        )
        with translated():
            attempt.save()
            if delivery.success:
                WebhookDeliveryItem(pk=pk, sk=f"E#{delivery.event_id}", event_id=delivery.event_id).save()

    def was_delivered(self, webhook_id: str, event_id: str) -> bool:
        with translated():
            try:
                WebhookDeliveryItem.get(f"WEBHOOK#{webhook_id}", f"E#{event_id}", consistent_read=True)
            except DoesNotExist:
                return False
        return True

    def deliveries(self, webhook_id: str, limit: int) -> list[WebhookDelivery]:
        with translated():
            items = WebhookDeliveryItem.query(
                f"WEBHOOK#{webhook_id}",
                sort_key_prefix(WebhookDeliveryItem.sk, "D#"),
                scan_index_forward=False,
                limit=limit,
                consistent_read=True,
            )
            return [
                WebhookDelivery(
                    webhook_id=webhook_id,
                    event_id=item.event_id,
                    event_name=item.event_name,
                    timestamp=int(item.timestamp),
                    success=item.success == "true",
                    response_status=None if item.response_status is None else int(item.response_status),
                    error_message=item.error_message,
                )
                for item in items
            ]


def _webhook(item: WebhookItem) -> Webhook:
    return Webhook(
        webhook_id=item.sk.removeprefix("W#"),
        name=item.name,
        url=item.url,
        events=[tuple(e.split(":", 1)) for e in item.events or []],  # type: ignore[misc]
        creation_timestamp=int(item.creation_timestamp),
        last_updated_timestamp=int(item.last_updated_timestamp),
        description=item.description,
        status=item.status,
    )
