"""DynamoDB faults under TrackingFunction's handler (moto): nothing is lost and nothing is written twice.

Faults are injected at two depths of the botocore client pynamodb uses:

- *below* botocore's retries, as DynamoDB answers over HTTP (a ``before-send`` handler): botocore's standard retry
  mode sees them and retries, as it does on AWS;
- *above* them (around ``BaseClient._make_api_call``): what is left once botocore has given up, a cancelled
  transaction (botocore never retries those), ``UnprocessedItems`` in a BatchWriteItem answer (botocore hands them
  back), a network fault, or the function being killed in the middle of a request.

What a user may see: a 200 (an internal retry succeeded) or a 429 ``REQUEST_LIMIT_EXCEEDED`` / 503
``TEMPORARILY_UNAVAILABLE`` that the MLflow client retries; never a 500. After the client's retry every metric point,
param and tag is there exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.client import BaseClient
from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.handlers import BUILTIN_HANDLERS
from botocore.retries.standard import ExponentialBackoff
from moto.core.botocore_stubber import MockRawResponse

from stratus.store.dynamodb import batch as batch_module
from stratus.store.dynamodb.tracking import MAX_ATTEMPTS

Invoke = Callable[..., dict[str, Any]]
THROTTLING_CODES = ["ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"]
ALWAYS = 10**9


class FunctionKilled(BaseException):  # noqa: N818 - named for what it simulates, like KeyboardInterrupt
    """The Lambda runtime stopping the function mid-request (timeout, out of memory): nothing catches it."""


@dataclass
class _Rule:
    operation: str
    action: Callable[[str, dict[str, Any]], Any]
    times: int
    keep: int | None = None  # an unprocessed() rule: how many items of a BatchWriteItem get written


@dataclass
class Faults:
    """Faults for the DynamoDB calls the handler makes, and a log of those calls."""

    http_rules: list[_Rule] = field(default_factory=list)
    api_rules: list[_Rule] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    http_attempts: list[str] = field(default_factory=list)
    injected: int = 0
    kill_at: int | None = None
    throttle_once: str | None = None

    # ---- below botocore's retries

    def http_error(self, operation: str, code: str, times: int = 1, status: int = 400) -> None:
        """The next ``times`` HTTP attempts of ``operation`` answer ``code`` (botocore retries them)."""
        body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "injected"}).encode()

        def answer(url: str, _params: dict[str, Any]) -> AWSResponse:
            headers = {"x-amzn-RequestId": "injected", "Content-Type": "application/x-amz-json-1.0"}
            return AWSResponse(url, status, headers, MockRawResponse(body))  # type: ignore[arg-type]

        self.http_rules.append(_Rule(operation, answer, times))

    def throttle_every_call_once(self, code: str) -> None:
        """The first HTTP attempt of every call answers ``code``; botocore's retry of it goes through."""
        self.throttle_once = code
        self.http_attempts.clear()
        self.calls.clear()

    # ---- above botocore's retries

    def error(self, operation: str, code: str, times: int = ALWAYS, reasons: list[str] | None = None) -> None:
        """``operation`` fails with ``code`` as botocore raises it after its retries (a transaction's cancellation
        ``reasons``: one code per item, the rest ``None``)."""

        def fail(_operation: str, params: dict[str, Any]) -> Any:
            response: dict[str, Any] = {"Error": {"Code": code, "Message": "injected"}}
            if reasons is not None:
                items = len(params.get("TransactItems", []))
                codes = (reasons + ["None"] * items)[: max(items, len(reasons))]
                response["CancellationReasons"] = [{"Code": c, "Message": "injected"} for c in codes]
            raise ClientError(response, operation)  # type: ignore[arg-type]

        self.api_rules.append(_Rule(operation, fail, times))

    def network_fault(self, operation: str, times: int = ALWAYS) -> None:
        def fail(_operation: str, _params: dict[str, Any]) -> Any:
            raise ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")

        self.api_rules.append(_Rule(operation, fail, times))

    def unprocessed(self, times: int = ALWAYS, keep: int = 1) -> None:
        """The next ``times`` BatchWriteItem requests write only their first ``keep`` items and hand the rest back
        as ``UnprocessedItems``, as DynamoDB does when a partition is over its throughput."""
        self.api_rules.append(_Rule("BatchWriteItem", lambda *_: None, times, keep=keep))

    def kill_after(self, calls: int) -> None:
        """Kill the function just before its DynamoDB call number ``calls`` (0-based, counted from now)."""
        self.calls.clear()
        self.kill_at = calls

    def clear(self) -> None:
        self.http_rules.clear()
        self.api_rules.clear()
        self.kill_at = None
        self.throttle_once = None

    @staticmethod
    def _take(rules: list[_Rule], operation: str) -> _Rule | None:
        for rule in rules:
            if rule.operation == operation and rule.times > 0:
                rule.times -= 1
                return rule
        return None

    def before_send(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        operation = event_name.rsplit(".", 1)[-1]
        if self.throttle_once is not None and (not self.http_attempts or self.http_attempts[-1] != "throttled"):
            self.http_error(operation, self.throttle_once)
            self.http_attempts.append("throttled")
        else:
            self.http_attempts.append(operation)
        rule = self._take(self.http_rules, operation)
        if rule is None:
            return None
        self.injected += 1
        return rule.action(request.url, {})  # type: ignore[no-any-return]

    def around_call(
        self, original: Callable[..., Any], client: BaseClient, operation: str, params: dict[str, Any]
    ) -> Any:
        if client.meta.service_model.service_name != "dynamodb":
            return original(client, operation, params)
        if self.kill_at is not None and len(self.calls) == self.kill_at:
            self.kill_at = None
            raise FunctionKilled(f"killed before {operation}")
        self.calls.append(operation)
        rule = self._take(self.api_rules, operation)
        if rule is None:
            return original(client, operation, params)
        if rule.keep is None:
            self.injected += 1
            return rule.action(operation, params)  # raises
        keep = rule.keep
        ((table, requests),) = params["RequestItems"].items()
        if len(requests) <= keep:  # nothing to hand back: the rule waits for a larger batch
            rule.times += 1
            return original(client, operation, params)
        self.injected += 1
        # (DynamoDB refuses a batch of no items, which moto accepts: with keep=0 nothing is sent)
        written = original(client, operation, {**params, "RequestItems": {table: requests[:keep]}}) if keep else {}
        return {**written, "UnprocessedItems": {table: requests[keep:]}}


@pytest.fixture
def faults(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> Iterator[Faults]:
    """Faults around every DynamoDB call of the handler; botocore's backoff is set to zero to keep tests fast."""
    injector = Faults()
    original = BaseClient._make_api_call  # already wrapped by the aws fixture's rule checks

    def around(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        return injector.around_call(original, client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", around)
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda _self, _context: 0.0)
    # pynamodb builds its botocore session and client on the handler's first call, after this: the handler goes in
    # first, ahead of moto's own before-send handler.
    spec = ("before-send.dynamodb", injector.before_send)
    BUILTIN_HANDLERS.insert(0, spec)
    try:
        yield injector
    finally:
        BUILTIN_HANDLERS.remove(spec)


# -------------------------------------------------------------------- batches and what they must leave


def wide_batch(run_id: str, round_: int = 0) -> dict[str, Any]:
    """30 metric keys (every data shard, so one TransactWriteItems with 5 history chunks riding in it plus a
    BatchWriteItem of 25 more), 5 params of which one is over 1 KB (its own item, written first), 3 tags."""
    metrics = [
        {
            "key": f"m{k}",
            "value": float(k * 10 + s + round_),
            "timestamp": 1_000 + s + round_ * 10,
            "step": s + 3 * round_,
        }
        for k in range(30)
        for s in range(3)
    ]
    params = [{"key": f"p{round_}-{k}", "value": "x" * 2000 if k == 0 else f"v{k}"} for k in range(5)]
    tags = [{"key": f"t{k}", "value": f"round {round_}"} for k in range(3)]
    return {"run_id": run_id, "metrics": metrics, "params": params, "tags": tags}


def narrow_batch(run_id: str, round_: int = 0) -> dict[str, Any]:
    """One metric key with 100 points and nothing else: one shard (a PutItem) and one history chunk."""
    metrics = [
        {"key": "loss", "value": 1.0 / (s + 1), "timestamp": 2_000 + s, "step": s + 100 * round_} for s in range(100)
    ]
    return {"run_id": run_id, "metrics": metrics, "params": [], "tags": []}


SHAPES = {"wide": wide_batch, "narrow": narrow_batch}


@dataclass
class Seen:
    """A run as a user reads it: search's params, tags and latest metrics, and each metric's full history."""

    params: dict[str, str]
    tags: dict[str, str]
    latest: dict[str, tuple[float, int, int]]
    history: dict[str, list[tuple[float, int, int]]]


def new_run(invoke: Invoke) -> str:
    created = invoke("runs_create.json")
    assert created["statusCode"] == 200, created["body"]
    return str(created["json"]["run"]["info"]["run_id"])


def read_run(invoke: Invoke, run_id: str, keys: set[str]) -> Seen:
    found = invoke("runs_search.json", body={"experiment_ids": ["0"], "filter": f"attributes.run_id = '{run_id}'"})
    assert found["statusCode"] == 200, found["body"]
    (run,) = found["json"]["runs"]
    data = run["data"]
    history = {}
    for key in sorted(keys):
        page = invoke("metrics_get_history.json", query=f"run_id={run_id}&metric_key={key}")
        assert page["statusCode"] == 200, page["body"]
        history[key] = [(m["value"], m["timestamp"], m["step"]) for m in page["json"].get("metrics", [])]
    return Seen(
        params={p["key"]: p["value"] for p in data.get("params", [])},
        tags={t["key"]: t["value"] for t in data.get("tags", []) if not t["key"].startswith("mlflow.")},
        latest={m["key"]: (m["value"], m["timestamp"], m["step"]) for m in data.get("metrics", [])},
        history=history,
    )


def _latest(points: list[tuple[float, int, int]]) -> tuple[float, int, int]:
    """MLflow's latest value: highest step, then timestamp, then value."""
    return max(points, key=lambda p: (p[2], p[1], p[0]))


def expected(batches: list[dict[str, Any]]) -> Seen:
    history: dict[str, list[tuple[float, int, int]]] = {}
    for batch in batches:
        for m in batch["metrics"]:
            history.setdefault(m["key"], []).append((m["value"], m["timestamp"], m["step"]))
    for points in history.values():
        points.sort(key=lambda p: (p[1], p[2], p[0]))  # get-history's order: timestamp, step, value
    return Seen(
        params={p["key"]: p["value"] for b in batches for p in b["params"]},
        tags={t["key"]: t["value"] for b in batches for t in b["tags"]},
        latest={key: _latest(points) for key, points in history.items()},
        history=history,
    )


def assert_exactly(invoke: Invoke, run_id: str, batches: list[dict[str, Any]]) -> None:
    want = expected(batches)
    seen = read_run(invoke, run_id, set(want.history))
    assert seen.history == want.history  # every point once: counts and values
    assert seen.latest == want.latest
    assert seen.params == want.params
    assert seen.tags == want.tags


def log_batch_until_accepted(invoke: Invoke, batch: dict[str, Any], faults: Faults) -> list[int]:
    """What the MLflow client does once the fault has passed: send, and send again while the answer is 429 or 5xx.
    Returns the statuses seen."""
    statuses = []
    faults.clear()
    for _ in range(3):
        response = invoke("runs_log_batch.json", body=batch)
        statuses.append(response["statusCode"])
        if response["statusCode"] == 200:
            return statuses
        assert response["statusCode"] in (429, 503), response["body"]
    raise AssertionError(f"log-batch never accepted: {statuses}")


# -------------------------------------------------------------------- throttling that botocore's retries absorb


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("code", THROTTLING_CODES)
def test_throttling_absorbed_by_botocore_retries_answers_200_and_writes_once(
    faults: Faults, invoke: Invoke, shape: str, code: str
) -> None:
    """Given a run, when the first HTTP attempt of every DynamoDB call a log-batch makes is throttled,
    then botocore retries each, the batch answers 200 and every point, param and tag is there once."""
    run_id = new_run(invoke)
    batch = SHAPES[shape](run_id)
    faults.throttle_every_call_once(code)

    response = invoke("runs_log_batch.json", body=batch)
    faults.clear()

    assert response["statusCode"] == 200, response["body"]
    assert faults.injected >= 2
    assert faults.injected == len(faults.calls)  # every call was throttled once, then retried by botocore
    assert_exactly(invoke, run_id, [batch])


# -------------------------------------------------------------------- faults left after botocore's retries


THROTTLED = "ProvisionedThroughputExceededException"
FAILING_CALLS = [
    # Every code on the run's write and on a history chunk written after it; the other calls with one code.
    *[("wide", "TransactWriteItems", code) for code in [*THROTTLING_CODES, "InternalServerError"]],
    *[("narrow", "BatchWriteItem", code) for code in [*THROTTLING_CODES, "InternalServerError"]],
    ("wide", "Query", THROTTLED),
    ("wide", "BatchWriteItem", THROTTLED),  # the long param value (written first), or the history after the run
    ("narrow", "PutItem", THROTTLED),
]


@pytest.mark.parametrize(("shape", "operation", "code"), FAILING_CALLS)
def test_fault_left_after_botocore_retries_answers_retryable_error_and_a_retry_lands_once(
    faults: Faults, invoke: Invoke, shape: str, operation: str, code: str
) -> None:
    """Given a run with a first batch, when a DynamoDB call of the second batch still fails after botocore's
    retries, then the answer is 429 REQUEST_LIMIT_EXCEEDED (throttling) or 503 TEMPORARILY_UNAVAILABLE, the run
    stays readable with the batch's params and tags all there or all missing, and the client's retry of the same
    batch leaves every point, param and tag exactly once."""
    run_id = new_run(invoke)
    first, second = SHAPES[shape](run_id, 0), SHAPES[shape](run_id, 1)
    assert invoke("runs_log_batch.json", body=first)["statusCode"] == 200
    faults.error(operation, code)

    response = invoke("runs_log_batch.json", body=second)

    want_status, want_code = (
        (503, "TEMPORARILY_UNAVAILABLE") if code == "InternalServerError" else (429, "REQUEST_LIMIT_EXCEEDED")
    )
    assert (response["statusCode"], response["json"]["error_code"]) == (want_status, want_code)
    faults.clear()
    partial = read_run(invoke, run_id, {m["key"] for m in second["metrics"]})
    new_params = {p["key"] for p in second["params"]}
    assert new_params <= set(partial.params) or not new_params & set(partial.params)
    assert log_batch_until_accepted(invoke, second, faults) == [200]
    assert_exactly(invoke, run_id, [first, second])


def test_network_fault_left_after_botocore_retries_answers_503(faults: Faults, invoke: Invoke) -> None:
    run_id = new_run(invoke)
    faults.network_fault("Query")
    response = invoke("runs_log_batch.json", body=narrow_batch(run_id))
    assert (response["statusCode"], response["json"]["error_code"]) == (503, "TEMPORARILY_UNAVAILABLE")


# -------------------------------------------------------------------- cancelled transactions


def test_transaction_conflict_is_retried_inside_the_function(faults: Faults, invoke: Invoke) -> None:
    """Given a run, when the batch's transaction is cancelled twice for a TransactionConflict (another transaction
    held an item), then the function recomputes it on a fresh read, answers 200, and everything is there once."""
    run_id = new_run(invoke)
    batch = wide_batch(run_id)
    faults.error("TransactWriteItems", "TransactionCanceledException", times=2, reasons=["TransactionConflict"])
    faults.calls.clear()

    response = invoke("runs_log_batch.json", body=batch)

    assert response["statusCode"] == 200, response["body"]
    assert faults.calls.count("TransactWriteItems") == 3
    assert_exactly(invoke, run_id, [batch])


def test_transaction_cancelled_for_throttling_answers_429_then_a_retry_lands_once(
    faults: Faults, invoke: Invoke
) -> None:
    run_id = new_run(invoke)
    batch = wide_batch(run_id)
    faults.error("TransactWriteItems", "TransactionCanceledException", reasons=["None", "ThrottlingError"])

    response = invoke("runs_log_batch.json", body=batch)

    assert (response["statusCode"], response["json"]["error_code"]) == (429, "REQUEST_LIMIT_EXCEEDED")
    assert log_batch_until_accepted(invoke, batch, faults) == [200]
    assert_exactly(invoke, run_id, [batch])


def test_create_run_in_a_conflicting_transaction_answers_503(faults: Faults, invoke: Invoke) -> None:
    faults.error("TransactWriteItems", "TransactionCanceledException", reasons=["TransactionConflict"])
    response = invoke("runs_create.json")
    assert (response["statusCode"], response["json"]["error_code"]) == (503, "TEMPORARILY_UNAVAILABLE")


def test_batch_whose_transaction_always_conflicts_gives_up_with_503(faults: Faults, invoke: Invoke) -> None:
    """A conflict on every one of the function's attempts ends as a race lost too often does: 503
    TEMPORARILY_UNAVAILABLE (what MLflow's SQL store answers for a deadlock it could not retry away), which the
    client retries. Nothing of the batch is written before, and the retry lands it once."""
    run_id = new_run(invoke)
    batch = wide_batch(run_id)
    faults.error("TransactWriteItems", "TransactionCanceledException", reasons=["TransactionConflict"])
    faults.calls.clear()

    response = invoke("runs_log_batch.json", body=batch)

    assert (response["statusCode"], response["json"]["error_code"]) == (503, "TEMPORARILY_UNAVAILABLE")
    assert faults.calls.count("TransactWriteItems") == MAX_ATTEMPTS
    faults.clear()
    seen = read_run(invoke, run_id, {"m0"})
    assert seen.params == {} and seen.latest == {} and seen.history == {"m0": []}
    assert log_batch_until_accepted(invoke, batch, faults) == [200]
    assert_exactly(invoke, run_id, [batch])


# -------------------------------------------------------------------- UnprocessedItems


def test_unprocessed_items_are_resent_with_backoff_and_the_batch_answers_200(
    faults: Faults, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a run, when the next three BatchWriteItem answers each leave all but one item unprocessed, then the
    function resends the rest after a growing, jittered wait, answers 200, and every point is there once."""
    waits: list[float] = []
    monkeypatch.setattr(batch_module.time, "sleep", waits.append)
    run_id = new_run(invoke)
    batch = wide_batch(run_id)
    faults.unprocessed(times=3, keep=1)

    response = invoke("runs_log_batch.json", body=batch)

    assert response["statusCode"] == 200, response["body"]
    assert len(waits) == 3
    caps = [min(batch_module.BACKOFF_CAP_S, batch_module.BACKOFF_BASE_S * 2**n) for n in range(1, 4)]
    assert all(0 <= wait <= cap for wait, cap in zip(waits, caps, strict=True))
    assert_exactly(invoke, run_id, [batch])


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_items_left_unprocessed_after_every_resend_answer_429_then_a_retry_lands_once(
    faults: Faults, invoke: Invoke, monkeypatch: pytest.MonkeyPatch, shape: str
) -> None:
    waits: list[float] = []
    monkeypatch.setattr(batch_module.time, "sleep", waits.append)
    run_id = new_run(invoke)
    batch = SHAPES[shape](run_id)
    faults.unprocessed(keep=0)

    response = invoke("runs_log_batch.json", body=batch)

    assert (response["statusCode"], response["json"]["error_code"]) == (429, "REQUEST_LIMIT_EXCEEDED")
    assert len(waits) == batch_module.MAX_ATTEMPTS - 1
    assert log_batch_until_accepted(invoke, batch, faults) == [200]
    assert_exactly(invoke, run_id, [batch])


# -------------------------------------------------------------------- the function killed mid-batch


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_batch_killed_after_any_dynamodb_call_leaves_a_readable_run_and_its_retry_lands_once(
    faults: Faults, invoke: Invoke, shape: str
) -> None:
    """Given a run with a first batch, when the function is killed before the n-th DynamoDB call of a second batch
    (every n the batch makes), then the run is readable; the batch's params and tags are all there or all missing;
    every history point read was sent; the latest values agree with the history except between the run's write
    and its last history chunk (the window docs/data-model.md describes), and then only for keys of this batch;
    and resending the batch (as the client does after the 5xx) leaves every point, param and tag exactly once."""
    killed_at = []
    for n in range(50):
        run_id = new_run(invoke)
        first, second = SHAPES[shape](run_id, 0), SHAPES[shape](run_id, 1)
        assert invoke("runs_log_batch.json", body=first)["statusCode"] == 200
        faults.kill_after(n)
        try:
            response = invoke("runs_log_batch.json", body=second)
        except FunctionKilled:
            killed_at.append(faults.calls[-1] if faults.calls else "-")
        else:
            assert response["statusCode"] == 200, response["body"]
            faults.clear()
            assert_exactly(invoke, run_id, [first, second])
            break
        faults.clear()
        _check_state_after_kill(invoke, first, second)
        assert invoke("runs_log_batch.json", body=second)["statusCode"] == 200
        assert_exactly(invoke, run_id, [first, second])
    else:
        pytest.fail("the batch was never completed")
    assert len(killed_at) >= 2  # killed at least before its first call and before its last


def _check_state_after_kill(invoke: Invoke, first: dict[str, Any], second: dict[str, Any]) -> None:
    run_id = first["run_id"]
    keys = {m["key"] for m in first["metrics"] + second["metrics"]}
    seen = read_run(invoke, run_id, keys)
    before, after = expected([first]), expected([first, second])
    new_params = {p["key"] for p in second["params"]}
    run_written = bool(new_params & set(seen.params)) if new_params else seen.latest != before.latest
    if new_params:
        assert new_params <= set(seen.params) or not run_written
    assert seen.latest in (before.latest, after.latest)
    for key, points in seen.history.items():
        assert set(points) <= set(after.history[key]) and len(points) == len(set(points))
        assert set(before.history.get(key, [])) <= set(points)
        if seen.latest.get(key) != (_latest(points) if points else None):
            assert run_written, f"{key}: latest {seen.latest.get(key)} disagrees with history before the run's write"
