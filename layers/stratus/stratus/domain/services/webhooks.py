"""MLflow 3 webhooks: their management (``/api/2.0/mlflow/webhooks``) and their delivery from registry events.

Delivery is at least once: a webhook that fails makes the delivery function fail, so EventBridge retries the event
(with backoff, then its dead-letter queue), and webhooks already served for that event are skipped by their
delivered-event marker. Every attempt is in the webhook's delivery log. Destinations are checked against SSRF at
creation and again at every delivery (DNS may change)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from stratus.domain import webhooks as rules
from stratus.domain.entities import Webhook, WebhookDelivery
from stratus.domain.paging import paginate
from stratus.domain.ports import WebhookStore
from stratus.domain.services.experiments import now_ms
from stratus.errors import InvalidParameterValue, ResourceDoesNotExist
from stratus.observability import MetricName, count

DEFAULT_MAX_RESULTS = 100


@dataclass(frozen=True)
class SendResult:
    status: int | None
    body: str
    error: str | None = None


Sender = Callable[[str, bytes, dict[str, str]], SendResult]
"""POST ``body`` with ``headers`` to ``url``; never raises (network errors come back as ``error``)."""


@dataclass(frozen=True)
class DestinationPolicy:
    """MLFLOW_WEBHOOK_ALLOWED_SCHEMES and MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS, as the deployment sets them."""

    allowed_schemes: tuple[str, ...] = ("https",)
    allow_private_ips: bool = False

    @classmethod
    def parse(cls, allowed_schemes: str | None, allow_private_ips: str | bool | None) -> DestinationPolicy:
        """From the settings, read as MLflow reads its environment variables."""
        private = (
            allow_private_ips
            if isinstance(allow_private_ips, bool)
            else rules.parse_allow_private_ips(allow_private_ips)
        )
        return cls(rules.parse_allowed_schemes(allowed_schemes), private)


class DeliveryFailed(RuntimeError):
    """Some webhooks could not be served; raising makes EventBridge retry the event."""


class WebhookService:
    def __init__(
        self,
        store: WebhookStore,
        sender: Sender,
        policy: DestinationPolicy = DestinationPolicy(),
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._store = store
        self._send = sender
        self._policy = policy
        self._clock = clock

    def _check_destination(self, url: str) -> None:
        rules.check_destination(
            url, allowed_schemes=self._policy.allowed_schemes, allow_private_ips=self._policy.allow_private_ips
        )

    # ---------------------------------------------------------------- management

    def create(  # noqa: PLR0913 - the request's fields
        self,
        name: str,
        url: str,
        events: list[dict],
        description: str | None,
        secret: str | None,
        status: str | None,
    ) -> Webhook:
        rules.validate_webhook_fields(name, url, description, status, secret)
        parsed = rules.parse_events(events)
        self._check_destination(url)
        now = self._clock()
        state = rules.parse_status(status) or "ACTIVE"
        webhook = Webhook(uuid.uuid4().hex, name, url, parsed, now, now, description or None, state)
        self._store.put_webhook(webhook, secret or None)
        return webhook

    def get(self, webhook_id: str) -> Webhook:
        found = self._store.get_webhook(webhook_id)
        if found is None:
            raise ResourceDoesNotExist(f"Webhook with ID {webhook_id} not found.")
        return found

    def list(self, max_results: int | None, page_token: str | None) -> tuple[list[Webhook], str | None]:
        limit = max_results or DEFAULT_MAX_RESULTS
        if not 1 <= limit <= 1000:
            raise InvalidParameterValue("max_results must be between 1 and 1000.")
        webhooks = sorted(self._store.list_webhooks(), key=lambda w: (w.creation_timestamp, w.webhook_id))
        return paginate(webhooks, page_token, limit)

    def update(  # noqa: PLR0913 - the request's fields
        self,
        webhook_id: str,
        name: str | None,
        url: str | None,
        events: list[dict] | None,
        description: str | None,
        secret: str | None,
        status: str | None,
    ) -> Webhook:
        rules.validate_webhook_fields(name, url, description, status, secret, creating=False)
        webhook = self.get(webhook_id)
        webhook.name = name or webhook.name
        if url:
            self._check_destination(url)
            webhook.url = url
        if description is not None:
            webhook.description = description or None
        webhook.status = rules.parse_status(status) or webhook.status
        if events:
            webhook.events = rules.parse_events(events)
        webhook.last_updated_timestamp = self._clock()
        self._store.put_webhook(webhook, secret or None, keep_secret=secret is None)
        return webhook

    def delete(self, webhook_id: str) -> None:
        if not self._store.delete_webhook(webhook_id):
            raise ResourceDoesNotExist(f"Webhook with ID {webhook_id} not found.")

    def deliveries(self, webhook_id: str, limit: int = 100) -> list[WebhookDelivery]:
        self.get(webhook_id)
        return self._store.deliveries(webhook_id, limit)

    def test(self, webhook_id: str, event: dict | None) -> SendResult:
        """Send an example payload of ``event`` (default: the webhook's first event), as MLflow's test does."""
        webhook = self.get(webhook_id)
        entity, action = rules.parse_events([event])[0] if event else webhook.events[0]
        payload = rules.example_payload(entity, action)
        try:
            self._check_destination(webhook.url)
        except InvalidParameterValue as exc:
            return SendResult(None, "", f"Failed to test webhook: {exc.message}")
        return self._post(webhook, f"{entity}.{action}", payload)

    # ---------------------------------------------------------------- delivery

    def deliver(
        self, event_id: str, detail_type: str, detail: dict, *, is_prompt: Callable[[], bool] = lambda: False
    ) -> int:
        """Serve one registry event to every active webhook subscribed to what it means in MLflow's terms; returns
        how many deliveries succeeded; raises :class:`DeliveryFailed` if any failed (the event is retried).

        ``is_prompt`` (a read of the model) is asked only when the event means something and a webhook is active:
        most registries have no webhook, and then an event costs one read of the webhook list."""
        if not (
            rules.webhook_deliveries(detail_type, detail, is_prompt=False)
            or rules.webhook_deliveries(detail_type, detail, is_prompt=True)
        ):
            return 0
        active = [webhook for webhook in self._store.list_webhooks() if webhook.status == "ACTIVE"]
        if not active:
            return 0
        deliveries = rules.webhook_deliveries(detail_type, detail, is_prompt=is_prompt())
        failures, served = [], 0
        for webhook in active:
            for event_name, payload in deliveries:
                entity, _, action = event_name.partition(".")
                if (entity, action) not in webhook.events:
                    continue
                delivery_id = f"{event_id}:{event_name}"
                if self._store.was_delivered(webhook.webhook_id, delivery_id):
                    continue
                result = self._attempt(webhook, event_name, payload, delivery_id)
                if result.error is None and result.status is not None and result.status < 400:
                    served += 1
                else:
                    failures.append(f"{webhook.webhook_id} ({event_name}): {result.error or result.status}")
        if failures:
            raise DeliveryFailed(f"{len(failures)} webhook deliveries failed: {'; '.join(failures[:5])}")
        return served

    def _attempt(self, webhook: Webhook, event_name: str, payload: dict, delivery_id: str) -> SendResult:
        try:
            self._check_destination(webhook.url)
            result = self._post(webhook, event_name, payload)
        except InvalidParameterValue as exc:
            result = SendResult(None, "", f"destination refused: {exc.message}")
        success = result.error is None and result.status is not None and result.status < 400
        count(MetricName.WEBHOOK_DELIVERIES)
        if not success:
            count(MetricName.WEBHOOK_DELIVERY_FAILURES)
        self._store.record_delivery(
            WebhookDelivery(
                webhook.webhook_id,
                delivery_id,
                event_name,
                self._clock(),
                success,
                result.status,
                result.error or (None if success else result.body[:500]),
            )  # fmt: skip
        )
        return result

    def _post(self, webhook: Webhook, event_name: str, payload: dict) -> SendResult:
        """One signed POST; like MLflow, each attempt has its own delivery id (receivers de-duplicate retries of one
        event on the payload, e.g. name and version)."""
        timestamp = self._clock() // 1000
        body = rules.request_body(event_name, payload, timestamp)
        secret = self._store.get_secret(webhook.webhook_id)
        headers = rules.signature_headers(secret, uuid.uuid4().hex, timestamp, body)
        return self._send(webhook.url, body, headers)


def http_sender(policy: DestinationPolicy, timeout_s: float = 10.0) -> Sender:
    """The real sender: one POST with ``http.client`` (header names sent as written, no redirect followed, no proxy
    from the environment), and the connected peer's address checked again after connecting, so a name that resolved
    to a public address at the check and a private one at the connection (DNS rebinding) is refused."""
    import http.client
    import ipaddress
    import urllib.parse

    def send(url: str, body: bytes, headers: dict[str, str]) -> SendResult:
        parts = urllib.parse.urlsplit(url)
        connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        connection = connection_class(parts.hostname or "", parts.port, timeout=timeout_s)
        try:
            connection.connect()
            peer = ipaddress.ip_address(connection.sock.getpeername()[0])
            if not policy.allow_private_ips and not rules.is_public_ip(peer):
                return SendResult(None, "", f"destination refused: connected to a non-public address {peer}")
            path = parts.path or "/"
            connection.request("POST", f"{path}?{parts.query}" if parts.query else path, body=body, headers=headers)
            response = connection.getresponse()
            return SendResult(response.status, response.read(4096).decode(errors="replace"))
        except (OSError, http.client.HTTPException, ValueError) as exc:
            return SendResult(None, "", f"{type(exc).__name__}: {exc}")
        finally:
            connection.close()

    return send
