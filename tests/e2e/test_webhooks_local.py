"""MLflow webhooks with the stock client against ``stratus local``: created with ``MlflowClient.create_webhook``,
fired by registry changes (table stream -> events function -> bus -> rule -> delivery function), signed as MLflow
signs them and verified by a receiver written as MLflow documents it; a receiver that fails twice is retried."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

SECRET = "s3cret-for-tests"
DEADLINE_S = 40


class Receiver:
    """An HTTP endpoint that records every POST and answers ``failures`` 500s before it answers 200."""

    def __init__(self, failures: int = 0) -> None:
        self.received: list[dict[str, Any]] = []
        self.failures = failures
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append({"headers": dict(self.headers), "body": body})
                status = 500 if receiver.failures > 0 else 200
                receiver.failures -= 1
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait_for(self, count: int) -> list[dict[str, Any]]:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline and len(self.received) < count:
            time.sleep(0.3)
        return self.received


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def verify(headers: dict[str, str], body: bytes, secret: str) -> bool:
    """The receiver-side check MLflow documents: HMAC-SHA256 over "<delivery id>.<timestamp>.<body>", base64,
    compared with the "v1,<signature>" header in constant time (and a timestamp that is recent)."""
    delivery_id, timestamp = headers["X-MLflow-Delivery-Id"], headers["X-MLflow-Timestamp"]
    if abs(time.time() - int(timestamp)) > 300:
        return False
    expected = base64.b64encode(
        hmac.new(secret.encode(), f"{delivery_id}.{timestamp}.{body.decode()}".encode(), hashlib.sha256).digest()
    ).decode()
    return hmac.compare_digest(headers["X-MLflow-Signature"], f"v1,{expected}")


def _registered_version(client: MlflowClient, name: str) -> None:
    client.create_registered_model(name)
    run = client.create_run(client.create_experiment(f"exp-{name}"))
    client.log_text(run.info.run_id, "x", "model/MLmodel")
    client.create_model_version(name, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)


def test_webhooks_fire_signed_and_the_secret_is_never_returned(receiver: Receiver, tracking_uri: str) -> None:
    client = MlflowClient()
    hook = client.create_webhook(
        name=f"hook-{uuid.uuid4().hex[:6]}",
        url=receiver.url,
        events=["model_version.created", "model_version_alias.created"],
        secret=SECRET,
    )
    assert hook.secret is None
    raw = requests.get(f"{tracking_uri}/api/2.0/mlflow/webhooks/{hook.webhook_id}", timeout=10).json()
    assert "secret" not in json.dumps(raw)
    assert raw["webhook"]["events"] == [
        {"entity": "MODEL_VERSION", "action": "CREATED"},
        {"entity": "MODEL_VERSION_ALIAS", "action": "CREATED"},
    ]

    name = f"hooked-{uuid.uuid4().hex[:6]}"
    _registered_version(client, name)
    client.set_registered_model_alias(name, "champion", "1")
    posts = receiver.wait_for(2)
    bodies = [json.loads(p["body"]) for p in posts]
    assert {(b["entity"], b["action"]) for b in bodies} == {
        ("model_version", "created"),
        ("model_version_alias", "created"),
    }
    assert all(verify(p["headers"], p["body"], SECRET) for p in posts)
    created = next(b for b in bodies if b["entity"] == "model_version")
    assert (created["data"]["name"], created["data"]["version"]) == (name, "1")
    assert not verify(posts[0]["headers"], posts[0]["body"], "wrong secret")

    deliveries = requests.get(f"{tracking_uri}/api/2.0/stratus/webhooks/{hook.webhook_id}/deliveries", timeout=10)
    assert sum(d["success"] for d in deliveries.json()["deliveries"]) >= 2
    client.delete_webhook(hook.webhook_id)


def test_a_receiver_that_fails_twice_gets_the_event_on_a_retry(tracking_uri: str) -> None:
    receiver = Receiver(failures=2)
    client = MlflowClient()
    hook = client.create_webhook(
        name=f"flaky-{uuid.uuid4().hex[:6]}", url=receiver.url, events=["registered_model.created"]
    )
    name = f"flaky-{uuid.uuid4().hex[:6]}"
    client.create_registered_model(name)
    posts = receiver.wait_for(3)
    assert len(posts) >= 3
    assert json.loads(posts[-1]["body"])["data"]["name"] == name
    log = requests.get(f"{tracking_uri}/api/2.0/stratus/webhooks/{hook.webhook_id}/deliveries", timeout=10).json()
    outcomes = [d["success"] for d in reversed(log["deliveries"])]
    assert outcomes[:3] == [False, False, True]
    client.delete_webhook(hook.webhook_id)
    receiver.server.shutdown()


def test_webhook_management_and_test_delivery(receiver: Receiver) -> None:
    client = MlflowClient()
    hook = client.create_webhook(
        name=f"mgmt-{uuid.uuid4().hex[:6]}", url=receiver.url, events=["model_version.created"]
    )
    assert hook.webhook_id in {w.webhook_id for w in client.list_webhooks(max_results=1000)}
    updated = client.update_webhook(hook.webhook_id, description="d", status="DISABLED")
    assert (updated.description, str(updated.status)) == ("d", "DISABLED")
    result = client.test_webhook(hook.webhook_id)
    assert result.success and result.response_status == 200
    client.delete_webhook(hook.webhook_id)
    with pytest.raises(MlflowException) as caught:
        client.get_webhook(hook.webhook_id)
    assert caught.value.error_code == "RESOURCE_DOES_NOT_EXIST"
