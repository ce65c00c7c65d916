"""Many writers logging at once through TrackingFunction's handler, on DynamoDB Local: exact counts, and MLflow's
param immutability.

On AWS each concurrent request runs in its own Lambda execution environment. Here each writer is its own process
with its own copy of the handler (Powertools keeps the event being resolved in a class attribute, so one process
cannot run two invocations at once), all released together by a barrier, and each resends a 429 or 503 as the MLflow
client does. DynamoDB Local, unlike moto, applies conditional writes atomically under concurrency.

Writers come from a fork server that has already imported the API (so each starts warm), never from a fork of the
test worker itself: that process has threads (pytest-xdist's channel, DynamoDB Local's log reader), and a child forked
while one of them held a lock can wait on it for ever. Such a child once held a CI run past its limit, because a
worker that ends joins every child it forked.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from lambda_harness import LambdaContext, api_event, load_function

from stratus_local.backends import (
    create_tables,
)
from stratus_local.template import parse_project

PROJECT_DIR = Path(__file__).resolve().parents[2]
WRITERS = 32
WRITER_TIMEOUT_S = 400
CLIENT_RETRIES = 7
RESENT: dict[int, int] = {}

Request = tuple[str, dict[str, Any] | None, str | None]  # event file, body, query string
Answer = tuple[int, Any]


def _call(module: ModuleType, request: Request) -> Answer:
    response = module.handler(api_event(*request), LambdaContext("TrackingFunction"))
    is_json = "json" in response.get("headers", {}).get("Content-Type", "")
    return response["statusCode"], json.loads(response["body"]) if is_json and response.get("body") else None


def _call_like_the_client(module: ModuleType, request: Request, resent: dict[int, int]) -> Answer:
    """Send as the MLflow client does: a 429 or 503 is sent again after a jittered, growing wait (the client's
    default is 7 retries, backoff factor 2, jitter 1 s; shorter here)."""
    for attempt in range(CLIENT_RETRIES + 1):
        answer = _call(module, request)
        if answer[0] not in (429, 503) or attempt == CLIENT_RETRIES:
            return answer
        resent[answer[0]] = resent.get(answer[0], 0) + 1
        time.sleep(random.uniform(0, min(4.0, 0.25 * 2**attempt)))  # noqa: S311 - jitter
    raise AssertionError("unreachable")


def _writer(index: int, requests: list[Request], barrier: Any, answers: Any, environment: dict[str, str]) -> None:
    """One Lambda execution environment: load the function in the test's ``environment``, warm it up, wait for the
    others, send ``requests``."""
    try:
        os.environ.clear()
        os.environ.update(environment)
        module = load_function("tracking")
        _call(module, ("health.json", None, None))
        barrier.wait(timeout=WRITER_TIMEOUT_S)
        resent: dict[int, int] = {}
        answered = [_call_like_the_client(module, request, resent) for request in requests]
        answers.put((index, answered, resent))
    except BaseException as exc:  # noqa: BLE001 - reported to the test, which fails on it
        answers.put((index, [(-1, repr(exc))], {}))


def run_writers(requests_per_writer: list[list[Request]]) -> list[list[Answer]]:
    """Every writer's final answers, in writer order. Writers start their requests at the same moment. How many
    answers were 429 or 503 and sent again is added up in ``RESENT``."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["stratus.api.app"])  # before the server's first start; later calls change nothing
    barrier = context.Barrier(len(requests_per_writer))
    answers = context.Queue()
    environment = dict(os.environ)
    processes = [
        context.Process(target=_writer, args=(i, requests, barrier, answers, environment), daemon=True)
        for i, requests in enumerate(requests_per_writer)
    ]
    try:
        for process in processes:
            process.start()
        collected = {}
        for _ in processes:
            index, answered, resent = answers.get(timeout=WRITER_TIMEOUT_S)
            collected[index] = answered
            for status, count in resent.items():
                RESENT[status] = RESENT.get(status, 0) + count
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join(timeout=10)
    return [collected[i] for i in range(len(processes))]


@pytest.fixture
def api(dynamodb_local: str, monkeypatch: pytest.MonkeyPatch) -> Callable[[Request], Answer]:
    """TrackingFunction's environment on a fresh table in DynamoDB Local (inherited by the forked writers), and a
    handler in this process to set up and check with."""
    project = parse_project(PROJECT_DIR)
    for key, value in project.functions["TrackingFunction"].environment.items():
        monkeypatch.setenv(key, value)
    for key, value in {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_local,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    client: Any = boto3.client("dynamodb", endpoint_url=dynamodb_local, region_name="us-east-1")
    for existing in client.list_tables()["TableNames"]:
        client.delete_table(TableName=existing)
    create_tables(client, project.tables, io.StringIO())
    module = load_function("tracking")
    return lambda request: _call(module, request)


def _create_run(api: Callable[[Request], Answer]) -> str:
    status, body = api(("runs_create.json", None, None))
    assert status == 200, body
    return str(body["run"]["info"]["run_id"])


def _history(api: Callable[[Request], Answer], run_id: str, key: str) -> list[tuple[float, int, int]]:
    status, body = api(("metrics_get_history.json", None, f"run_id={run_id}&metric_key={key}"))
    assert status == 200, body
    return [(m["value"], m["timestamp"], m["step"]) for m in body.get("metrics", [])]


def _run_data(api: Callable[[Request], Answer], run_id: str) -> dict[str, Any]:
    query = {"experiment_ids": ["0"], "filter": f"attributes.run_id = '{run_id}'"}
    status, body = api(("runs_search.json", query, None))
    assert status == 200, body
    (run,) = body["runs"]
    data = run["data"]
    return {
        "params": {p["key"]: p["value"] for p in data.get("params", [])},
        "tags": {t["key"]: t["value"] for t in data.get("tags", []) if not t["key"].startswith("mlflow.")},
        "metrics": {m["key"]: (m["value"], m["timestamp"], m["step"]) for m in data.get("metrics", [])},
    }


def _batch(run_id: str, writer: int, round_: int, points: int) -> dict[str, Any]:
    """A writer's round: ``points`` points of its own metric, one point of a metric every writer logs, one param and
    one tag of its own."""
    own = [
        {"key": f"own{writer}", "value": float(s), "timestamp": 1_000 + s, "step": round_ * points + s}
        for s in range(points)
    ]
    shared = {"key": "shared", "value": float(writer), "timestamp": 5_000 + round_, "step": writer * 10 + round_}
    return {
        "run_id": run_id,
        "metrics": [*own, shared],
        "params": [{"key": f"p{writer}-{round_}", "value": str(writer)}],
        "tags": [{"key": f"t{writer}", "value": f"round {round_}"}],
    }


ROUNDS = 2
POINTS = 50


def _all_accepted(answers: list[list[Answer]]) -> None:
    refused = [(writer, a) for writer, per_writer in enumerate(answers) for a in per_writer if a[0] != 200]
    assert refused == [], refused[:5]


def test_32_writers_logging_to_one_run_lose_nothing(api: Callable[[Request], Answer]) -> None:
    """Given one run, when 32 writers each send 2 log-batches to it at the same moment (resending a 429 or 503 as the
    client does: a writer that loses the race for the run's items too often within the function gets a 503), then
    every batch is accepted and the run holds every point once, every param and tag, and the latest value of the
    metric all of them log."""
    RESENT.clear()
    run_id = _create_run(api)
    batches = [[_batch(run_id, w, r, POINTS) for r in range(ROUNDS)] for w in range(WRITERS)]

    answers = run_writers([[("runs_log_batch.json", b, None) for b in per_writer] for per_writer in batches])

    _all_accepted(answers)
    print(f"answers resent by the writers, by status: {RESENT}")
    data = _run_data(api, run_id)
    for writer in range(WRITERS):
        assert len(_history(api, run_id, f"own{writer}")) == ROUNDS * POINTS
        assert data["tags"][f"t{writer}"] in {f"round {r}" for r in range(ROUNDS)}
    shared = _history(api, run_id, "shared")
    assert len(shared) == WRITERS * ROUNDS
    assert data["metrics"]["shared"] == max(shared, key=lambda p: (p[2], p[1], p[0]))
    assert data["params"] == {f"p{w}-{r}": str(w) for w in range(WRITERS) for r in range(ROUNDS)}


def test_32_writers_logging_to_their_own_runs_lose_nothing(api: Callable[[Request], Answer]) -> None:
    run_ids = [_create_run(api) for _ in range(WRITERS)]
    batches = [[_batch(run_ids[w], w, r, POINTS) for r in range(ROUNDS)] for w in range(WRITERS)]

    answers = run_writers([[("runs_log_batch.json", b, None) for b in per_writer] for per_writer in batches])

    _all_accepted(answers)
    for writer, run_id in enumerate(run_ids):
        assert len(_history(api, run_id, f"own{writer}")) == ROUNDS * POINTS
        assert len(_history(api, run_id, "shared")) == ROUNDS
        data = _run_data(api, run_id)
        assert data["params"] == {f"p{writer}-{r}": str(writer) for r in range(ROUNDS)}
        assert data["tags"] == {f"t{writer}": f"round {ROUNDS - 1}"}


def _param(run_id: str, value: str) -> dict[str, Any]:
    return {"run_id": run_id, "metrics": [], "params": [{"key": "lr", "value": value}], "tags": []}


def test_32_writers_of_one_param_with_different_values_one_wins(api: Callable[[Request], Answer]) -> None:
    """Given a run, when 32 writers set param ``lr`` to 32 different values at once, then exactly one is accepted,
    the 31 others get 400 INVALID_PARAMETER_VALUE, and the stored value is the winner's, also after a late writer."""
    run_id = _create_run(api)

    answers = run_writers([[("runs_log_batch.json", _param(run_id, str(w)), None)] for w in range(WRITERS)])

    statuses = [(a[0][0], None if a[0][0] == 200 else a[0][1]["error_code"]) for a in answers]
    winners = [w for w, (status, _) in enumerate(statuses) if status == 200]
    assert len(winners) == 1, statuses
    assert sorted(s for s in statuses if s[0] != 200) == [(400, "INVALID_PARAMETER_VALUE")] * (WRITERS - 1)
    assert _run_data(api, run_id)["params"] == {"lr": str(winners[0])}
    late = api(("runs_log_batch.json", _param(run_id, "late"), None))
    assert late[0] == 400
    assert _run_data(api, run_id)["params"] == {"lr": str(winners[0])}


def test_32_writers_of_one_param_with_the_same_value_all_succeed(api: Callable[[Request], Answer]) -> None:
    run_id = _create_run(api)

    answers = run_writers([[("runs_log_batch.json", _param(run_id, "0.1"), None)] for _ in range(WRITERS)])

    assert [a[0][0] for a in answers] == [200] * WRITERS
    assert _run_data(api, run_id)["params"] == {"lr": "0.1"}
