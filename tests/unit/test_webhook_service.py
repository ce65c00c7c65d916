"""Webhook delivery rules with in-memory fakes: subscriptions, at-least-once retries without re-serving, SSRF."""

from __future__ import annotations

import pytest

from stratus.domain.services.webhooks import DeliveryFailed, DestinationPolicy, SendResult, WebhookService
from stratus.errors import InvalidParameterValue
from stratus.store.memory import InMemoryWebhookStore

EVENT = ("Model Version Created", {"event_id": "e1", "model_name": "churn", "version": "1", "run_id": "r",
                                   "time": "2026-11-27T00:00:00.000Z", "after": {"version": "1", "source": "s",
                                                                                 "tags": {}}})  # fmt: skip
PUBLIC = DestinationPolicy(("https",), False)
CREATED = [{"entity": "MODEL_VERSION", "action": "CREATED"}]
PUBLIC_ADDRESS = [(2, 1, 6, "", ("93.184.216.34", 443))]


class Recorder:
    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.sent: list[tuple[str, bytes, dict[str, str]]] = []

    def __call__(self, url: str, body: bytes, headers: dict[str, str]) -> SendResult:
        self.sent.append((url, body, headers))
        return SendResult(self.statuses.pop(0) if self.statuses else 200, "")


def service(sender: Recorder, policy: DestinationPolicy = PUBLIC) -> WebhookService:
    return WebhookService(InMemoryWebhookStore(), sender, policy, clock=lambda: 1_795_000_000_000)


def _resolves_public(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every name resolves to a public address (no DNS in unit tests)."""
    import stratus.domain.webhooks as rules

    original = rules.check_destination

    def public(url: str, **kwargs: object) -> None:
        original(url, **kwargs, resolve=lambda *_args, **_kw: PUBLIC_ADDRESS)  # type: ignore[arg-type]

    monkeypatch.setattr(rules, "check_destination", public)


def test_only_subscribed_active_webhooks_are_served_and_signed(monkeypatch: pytest.MonkeyPatch) -> None:
    _resolves_public(monkeypatch)
    sender = Recorder([])
    hooks = service(sender)
    hooks.create("a", "https://a.example/hook", CREATED, None, "k", None)
    hooks.create("b", "https://b.example/hook", [{"entity": "REGISTERED_MODEL", "action": "CREATED"}], None, None, None)
    off = hooks.create(
        "c", "https://c.example/hook", [{"entity": "MODEL_VERSION", "action": "CREATED"}], None, None, "DISABLED"
    )
    assert off.status == "DISABLED"
    assert hooks.deliver("e1", *EVENT) == 1
    [(url, _body, headers)] = sender.sent
    assert url == "https://a.example/hook" and headers["X-MLflow-Signature"].startswith("v1,")


def test_a_failure_raises_and_the_retry_skips_what_was_served(monkeypatch: pytest.MonkeyPatch) -> None:
    _resolves_public(monkeypatch)
    sender = Recorder([200, 500])
    hooks = service(sender)
    for name in ("ok", "flaky"):
        hooks.create(
            name, f"https://{name}.example/h", [{"entity": "MODEL_VERSION", "action": "CREATED"}], None, None, None
        )
    with pytest.raises(DeliveryFailed):
        hooks.deliver("e1", *EVENT)
    assert hooks.deliver("e1", *EVENT) == 1  # only the one that failed is sent again
    assert [url for url, _, _ in sender.sent] == [
        "https://ok.example/h",
        "https://flaky.example/h",
        "https://flaky.example/h",
    ]


@pytest.mark.parametrize("url", ["http://example.com/h", "https://127.0.0.1/h", "https://169.254.169.254/latest"])
def test_unsafe_destinations_are_refused_at_creation(url: str) -> None:
    with pytest.raises(InvalidParameterValue):
        service(Recorder([])).create("x", url, CREATED, None, None, None)


def test_without_an_active_webhook_an_event_does_not_read_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given webhooks that are all disabled,
    when a registry event arrives,
    then nothing is sent and whether the model is a prompt (a read of the model) is never asked;
    once a webhook is active, it is asked once."""
    _resolves_public(monkeypatch)
    sender = Recorder([])
    hooks = service(sender)
    hook = hooks.create(
        "off", "https://off.example/h", [{"entity": "MODEL_VERSION", "action": "CREATED"}], None, None, "DISABLED"
    )
    asked: list[str] = []

    def is_prompt() -> bool:
        asked.append("model read")
        return False

    assert hooks.deliver("e1", *EVENT, is_prompt=is_prompt) == 0
    assert asked == []
    hooks.update(hook.webhook_id, None, None, None, None, None, "ACTIVE")
    assert hooks.deliver("e2", *EVENT, is_prompt=is_prompt) == 1
    assert asked == ["model read"]
