"""TrackingFunction's handler, invoked in-process with real API Gateway event shapes, against moto."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from typing import Any

import pytest

from stratus.observability import get_logger

Invoke = Callable[..., dict[str, Any]]


def test_create_experiment_then_get_it_by_name(invoke: Invoke) -> None:
    created = invoke("experiments_create.json")
    assert created["statusCode"] == 200
    experiment_id = created["json"]["experiment_id"]
    found = invoke("experiments_get_by_name.json")
    assert found["statusCode"] == 200
    assert found["json"]["experiment"]["experiment_id"] == experiment_id
    assert found["json"]["experiment"]["artifact_location"].startswith("s3://")


def test_duplicate_experiment_is_400_resource_already_exists(invoke: Invoke) -> None:
    invoke("experiments_create.json")
    again = invoke("experiments_create.json")
    assert again["statusCode"] == 400
    assert again["json"]["error_code"] == "RESOURCE_ALREADY_EXISTS"


def test_log_batch_then_history_and_search(invoke: Invoke) -> None:
    run = invoke("runs_create.json")["json"]["run"]
    run_id = run["info"]["run_id"]
    assert run["info"]["run_name"] == "r1"
    batch = {
        "run_id": run_id,
        "metrics": [
            {"key": "loss", "value": 0.9, "timestamp": 1, "step": 0},
            {"key": "loss", "value": 0.4, "timestamp": 2, "step": 1},
        ],
        "params": [{"key": "lr", "value": "0.1"}],
        "tags": [{"key": "team", "value": "a"}],
    }
    assert invoke("runs_log_batch.json", body=batch)["statusCode"] == 200
    history = invoke("metrics_get_history.json", query=f"run_id={run_id}&metric_key=loss")
    assert [m["value"] for m in history["json"]["metrics"]] == [0.9, 0.4]
    found = invoke("runs_search.json", body={"experiment_ids": ["0"], "filter": "metrics.loss < 0.5"})
    assert [r["info"]["run_id"] for r in found["json"]["runs"]] == [run_id]
    none = invoke("runs_search.json", body={"experiment_ids": ["0"], "filter": "metrics.loss > 0.5"})
    assert none["json"] == {}


def test_unknown_route_is_endpoint_not_found(invoke: Invoke) -> None:
    response = invoke("unknown_route.json")
    assert response["statusCode"] == 404
    assert response["json"]["error_code"] == "ENDPOINT_NOT_FOUND"


def test_health(invoke: Invoke) -> None:
    response = invoke("health.json")
    assert response["statusCode"] == 200
    assert response["body"] == "OK"


def test_log_batch_to_unknown_run_is_404(invoke: Invoke) -> None:
    response = invoke("runs_log_batch.json", body={"run_id": "f" * 32, "metrics": []})
    assert response["statusCode"] == 404
    assert response["json"]["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_the_route_log_key_stays_with_the_thread_that_served_the_request(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``stratus local`` runs every function's environments as threads of one process: a request's ``route`` key goes
    on the lines its own thread logs, never on another function's (a poller's, a sweeper's)."""
    logger = get_logger()
    out = io.StringIO()  # the one logger writes to the stream of whichever test made it first
    monkeypatch.setattr(logger.registered_handler, "stream", out)

    def serve() -> None:
        invoke("health.json")
        logger.info("served")

    for work in (serve, lambda: logger.info("elsewhere")):  # a function's environment, then a poller's thread
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
    logged = [json.loads(line) for line in out.getvalue().splitlines()]
    lines = {line["message"]: line for line in logged if "message" in line}
    assert lines["served"]["route"] == "GET /health"
    assert "route" not in lines["elsewhere"]
