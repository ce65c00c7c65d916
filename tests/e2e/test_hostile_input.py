"""Hostile input against ``stratus local``, with raw ``requests``: every probe gets a clear 4xx with MLflow's error
JSON (``{"error_code", "message"}``, never a 5xx the client would retry for minutes) and leaves the store as it was.

Covered: oversize bodies, deep JSON nesting, invalid UTF-8 (bodies, query strings, paths), huge ``max_results``,
forged, truncated and tampered page tokens on every paged endpoint, wrong JSON types for each kind of field,
NaN/Infinity, integers beyond int64, null bytes, methods and request lines the stdlib refuses, and the classes of
MLflow CVEs that apply to an API like this one (see ``CVE_PROBES``). Path traversal in artifact paths is tested in
``test_artifacts_client.py`` and ``tests/unit/test_artifact_paths.py``; plain ``file://``/local/foreign-bucket model
sources and artifact locations in ``test_registry_client.py`` and ``test_artifacts_client.py``.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import requests

API = "/api/2.0/mlflow"
TIMEOUT_S = 60
JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass
class World:
    """What the probes aim at: real ids, so that a refusal is about the hostile part, not a missing resource."""

    base: str
    experiment_id: str
    run_id: str
    model_name: str
    tokens: dict[str, str]


def _call(base: str, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, base + path, timeout=TIMEOUT_S, **kwargs)


def _ok(base: str, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    response = _call(base, method, path, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture(scope="module")
def world(tracking_uri: str) -> World:
    base = tracking_uri
    tag = uuid.uuid4().hex[:8]
    experiment_id = _ok(base, "POST", f"{API}/experiments/create", json={"name": f"hostile-{tag}"})["experiment_id"]
    runs = [
        _ok(base, "POST", f"{API}/runs/create", json={"experiment_id": experiment_id})["run"]["info"]["run_id"]
        for _ in range(3)
    ]
    run_id = runs[0]
    for step in range(3):
        metric = {"run_id": run_id, "key": "loss", "value": 1.0 / (step + 1), "timestamp": 1000 + step, "step": step}
        _ok(base, "POST", f"{API}/runs/log-metric", json=metric)
    _ok(base, "POST", f"{API}/runs/log-parameter", json={"run_id": run_id, "key": "lr", "value": "0.1"})
    model_name = f"hostile-model-{tag}"
    for name in (model_name, f"{model_name}-2"):
        _ok(base, "POST", f"{API}/registered-models/create", json={"name": name})
    tokens = {
        "runs": _ok(base, "POST", f"{API}/runs/search", json={"experiment_ids": [experiment_id], "max_results": 1})[
            "next_page_token"
        ],
        "experiments": _ok(base, "GET", f"{API}/experiments/search", params={"max_results": 1})["next_page_token"],
        "registered_models": _ok(
            base,
            "GET",
            f"{API}/registered-models/search",
            params={"filter": f"name LIKE '{model_name}%'", "max_results": 1},
        )["next_page_token"],
        "history": _ok(
            base, "GET", f"{API}/metrics/get-history", params={"run_id": run_id, "metric_key": "loss", "max_results": 1}
        )["next_page_token"],
    }
    return World(base, experiment_id, run_id, model_name, tokens)


def snapshot(world: World) -> dict[str, Any]:
    """Everything a probe could have changed, read back through the API."""
    base, exp = world.base, world.experiment_id
    return {
        "experiments": _ok(base, "GET", f"{API}/experiments/search", params={"max_results": 50000, "view_type": "ALL"}),
        "runs": _ok(base, "POST", f"{API}/runs/search", json={"experiment_ids": [exp], "run_view_type": "ALL"}),
        "history": _ok(
            base, "GET", f"{API}/metrics/get-history", params={"run_id": world.run_id, "metric_key": "loss"}
        ),
        "models": _ok(base, "GET", f"{API}/registered-models/search", params={"max_results": 1000}),
        "versions": _ok(base, "GET", f"{API}/model-versions/search", params={"max_results": 10000}),
        "logged_models": _ok(base, "POST", f"{API}/logged-models/search", json={"experiment_ids": [exp]}),
    }


Request = Callable[[World], requests.Response]
PROBES: list[Any] = []


def probe(name: str, method: str, path: str, **kwargs: Any) -> None:
    """Register a probe; ``{run_id}``, ``{experiment_id}``, ``{model_name}`` in ``path`` and string values of the
    JSON body are filled from the world."""

    def send(world: World) -> requests.Response:
        fill = {"run_id": world.run_id, "experiment_id": world.experiment_id, "model_name": world.model_name}
        options = dict(kwargs)
        if "json_body" in options:
            options["data"] = (
                options.pop("json_body").replace("@RUN@", world.run_id).replace("@EXP@", world.experiment_id)
            )
            options.setdefault("headers", JSON_HEADERS)
        if callable(options.get("params")):
            options["params"] = options["params"](world)
        if callable(options.get("json")):
            options["json"] = options["json"](world)
        return _call(world.base, method, path.format(**fill), **options)

    PROBES.append(pytest.param(send, id=name))


# ---------------------------------------------------------------- oversize bodies

probe(
    "body-over-10MiB",
    "POST",
    f"{API}/runs/log-batch",
    data=b"{" + b" " * (10 * 1024 * 1024 + 16) + b"}",
    headers=JSON_HEADERS,
)
probe(
    "event-over-6MB", "POST", f"{API}/runs/log-batch", data=b"{" + b" " * (7 * 1024 * 1024) + b"}", headers=JSON_HEADERS
)
probe(
    "binary-event-over-6MB",
    "POST",
    f"{API}/runs/create",
    data=os.urandom(5 * 1024 * 1024),
    headers={"Content-Type": "application/octet-stream"},
)
probe(
    "log-batch-1001-metrics",
    "POST",
    f"{API}/runs/log-batch",
    json=lambda w: {
        "run_id": w.run_id,
        "metrics": [{"key": "m", "value": 1, "timestamp": 1, "step": i} for i in range(1001)],
    },
)
probe("experiment-name-1MB", "POST", f"{API}/experiments/create", json={"name": "x" * 1_000_000})
probe(
    "model-description-500KB",
    "POST",
    f"{API}/registered-models/create",
    json={"name": f"big-{uuid.uuid4().hex}", "description": "d" * 500_000},
)
probe(
    "run-name-500KB",
    "POST",
    f"{API}/runs/create",
    json=lambda w: {"experiment_id": w.experiment_id, "run_name": "r" * 500_000},
)
probe(
    "run-user-500KB",
    "POST",
    f"{API}/runs/create",
    json=lambda w: {"experiment_id": w.experiment_id, "user_id": "u" * 500_000},
)
probe(
    "logged-model-param-500KB",
    "POST",
    f"{API}/logged-models",
    json=lambda w: {"experiment_id": w.experiment_id, "params": [{"key": "p", "value": "v" * 500_000}]},
)

# ---------------------------------------------------------------- deep nesting

probe("nested-100k-arrays", "POST", f"{API}/runs/create", data="[" * 100_000, headers=JSON_HEADERS)
probe("nested-100k-objects", "POST", f"{API}/runs/search", data='{"a":' * 100_000, headers=JSON_HEADERS)
probe(
    "nested-900-arrays-in-a-field",
    "POST",
    f"{API}/runs/search",
    json_body='{"experiment_ids": ' + "[" * 900 + "]" * 900 + "}",
)
probe(
    "nested-100k-base64-body",
    "POST",
    f"{API}/experiments/create",
    data=b"[" * 100_000,
    headers={"Content-Type": "application/octet-stream"},
)

# ---------------------------------------------------------------- invalid UTF-8

probe(
    "utf8-invalid-json-body", "POST", f"{API}/runs/create", data=b'{"experiment_id": "\xff\xfe"}', headers=JSON_HEADERS
)
probe(
    "utf8-invalid-binary-body",
    "POST",
    f"{API}/runs/create",
    data=b'{"experiment_id": "\xff\xfe"}',
    headers={"Content-Type": "application/octet-stream"},
)
probe(
    "utf8-invalid-no-content-type",
    "POST",
    f"{API}/experiments/create",
    data=b'{"name": "\xc3\x28"}',
    headers={"Content-Type": ""},
)
probe("utf8-invalid-query", "GET", f"{API}/experiments/get?experiment_id=%ff%fe")
probe("utf8-invalid-query-key", "GET", f"{API}/runs/get?%ff%fe=1")
probe("utf8-invalid-path", "GET", f"{API}/logged-models/%ff%fe")
probe(
    "utf8-lone-surrogate-escape",
    "POST",
    f"{API}/runs/set-tag",
    json_body='{"run_id": "@RUN@", "key": "\\ud800", "value": "x"}',
)

# ---------------------------------------------------------------- huge max_results and page sizes

probe(
    "runs-search-max-results-int64-overflow",
    "POST",
    f"{API}/runs/search",
    json=lambda w: {"experiment_ids": [w.experiment_id], "max_results": 10**40},
)
probe(
    "runs-search-max-results-over-cap",
    "POST",
    f"{API}/runs/search",
    json=lambda w: {"experiment_ids": [w.experiment_id], "max_results": 123456789},
)
probe("experiments-search-max-results-huge", "GET", f"{API}/experiments/search", params={"max_results": str(10**12)})
probe(
    "registered-models-search-max-results-huge",
    "GET",
    f"{API}/registered-models/search",
    params={"max_results": str(10**9)},
)
probe(
    "model-versions-search-max-results-huge", "GET", f"{API}/model-versions/search", params={"max_results": str(10**9)}
)
probe(
    "get-history-max-results-int64-overflow",
    "GET",
    f"{API}/metrics/get-history",
    params=lambda w: {"run_id": w.run_id, "metric_key": "loss", "max_results": str(10**30)},
)
probe(
    "bulk-interval-max-results-huge",
    "GET",
    f"{API}/metrics/get-history-bulk-interval",
    params=lambda w: {"run_ids": w.run_id, "metric_key": "loss", "max_results": str(10**9)},
)
probe(
    "logged-models-search-max-results-int64-overflow",
    "POST",
    f"{API}/logged-models/search",
    json=lambda w: {"experiment_ids": [w.experiment_id], "max_results": 10**40},
)
probe("webhooks-max-results-huge", "GET", f"{API}/webhooks", params={"max_results": str(10**9)})
probe(
    "history-max-results-int64-overflow",
    "GET",
    "/api/2.0/stratus/registered-models/history",
    params=lambda w: {"name": w.model_name, "max_results": str(10**30)},
)
probe(
    "max-results-negative",
    "POST",
    f"{API}/runs/search",
    json=lambda w: {"experiment_ids": [w.experiment_id], "max_results": -1},
)

# ---------------------------------------------------------------- forged, truncated and tampered page tokens

FORGED_TOKENS = {
    "garbage": "!!!not-base64!!!",
    "not-json": _b64("offset=3"),
    "json-list": _b64("[1, 2]"),
    "negative": _b64('{"offset": -1}'),
    "string-offset": _b64('{"offset": "x"}'),
    "infinite-offset": _b64('{"offset": Infinity}'),
    "overflowing-offset": _b64('{"offset": 1e400}'),
    "nested": _b64("[" * 5000),
    "null-bytes": _b64('{"offset": "\\u0000"}'),
    "not-utf8": base64.b64encode(b'{"offset": "\xff"}').decode(),
}


def _paged_requests() -> dict[str, Callable[[World, str], tuple[str, str, dict[str, Any]]]]:
    return {
        "runs-search": lambda w, t: (
            "POST",
            f"{API}/runs/search",
            {"json": {"experiment_ids": [w.experiment_id], "page_token": t}},
        ),
        "experiments-search": lambda w, t: ("GET", f"{API}/experiments/search", {"params": {"page_token": t}}),
        "experiments-search-post": lambda w, t: ("POST", f"{API}/experiments/search", {"json": {"page_token": t}}),
        "registered-models-search": lambda w, t: (
            "GET",
            f"{API}/registered-models/search",
            {"params": {"page_token": t}},
        ),
        "model-versions-search": lambda w, t: ("GET", f"{API}/model-versions/search", {"params": {"page_token": t}}),
        "metric-history": lambda w, t: (
            "GET",
            f"{API}/metrics/get-history",
            {"params": {"run_id": w.run_id, "metric_key": "loss", "page_token": t}},
        ),
        "logged-models-search": lambda w, t: (
            "POST",
            f"{API}/logged-models/search",
            {"json": {"experiment_ids": [w.experiment_id], "page_token": t}},
        ),
        "webhooks-list": lambda w, t: ("GET", f"{API}/webhooks", {"params": {"page_token": t}}),
        "promotion-history": lambda w, t: (
            "GET",
            "/api/2.0/stratus/registered-models/history",
            {"params": {"name": w.model_name, "page_token": t}},
        ),
    }


def _token_probe(endpoint: str, make_token: Callable[[World], str]) -> Request:
    def send(world: World) -> requests.Response:
        method, path, options = _paged_requests()[endpoint](world, make_token(world))
        return _call(world.base, method, path, **options)

    return send


def _truncated(token: str) -> str:
    return token[: len(token) // 2 + 1]


def _tampered(token: str) -> str:
    """The first characters decode to ``{"``; changing them leaves bytes that are not JSON."""
    return "eyK" + token[3:]


_REAL_TOKEN_OF = {
    "runs-search": "runs",
    "experiments-search": "experiments",
    "registered-models-search": "registered_models",
    "metric-history": "history",
}

TOKEN_PROBES: list[Any] = []
for _endpoint in _paged_requests():
    for _kind, _token in FORGED_TOKENS.items():
        TOKEN_PROBES.append(
            pytest.param(_token_probe(_endpoint, lambda w, t=_token: t), id=f"token-{_kind}-{_endpoint}")
        )
    _real = _REAL_TOKEN_OF.get(_endpoint)
    if _real:
        TOKEN_PROBES.append(
            pytest.param(
                _token_probe(_endpoint, lambda w, r=_real: _truncated(w.tokens[r])), id=f"token-truncated-{_endpoint}"
            )
        )
        TOKEN_PROBES.append(
            pytest.param(
                _token_probe(_endpoint, lambda w, r=_real: _tampered(w.tokens[r])), id=f"token-tampered-{_endpoint}"
            )
        )

# ---------------------------------------------------------------- wrong JSON types, one per kind of field

for _label, _value in {"number": "123", "list": "[]", "object": "{}", "bool": "true"}.items():
    probe(f"string-field-as-{_label}", "POST", f"{API}/experiments/create", json_body=f'{{"name": {_value}}}')
    probe(
        f"id-field-as-{_label}",
        "POST",
        f"{API}/runs/set-tag",
        json_body=f'{{"run_id": {_value}, "key": "k", "value": "v"}}',
    )
for _label, _value in {"word": '"abc"', "fraction": "1.5", "list": "[1]", "object": "{}", "bool": "true"}.items():
    probe(
        f"int64-field-as-{_label}",
        "POST",
        f"{API}/runs/log-metric",
        json_body=f'{{"run_id": "@RUN@", "key": "m", "value": 1, "timestamp": {_value}}}',
    )
for _label, _value in {"word": '"abc"', "list": "[1.0]", "object": "{}"}.items():
    probe(
        f"double-field-as-{_label}",
        "POST",
        f"{API}/runs/log-metric",
        json_body=f'{{"run_id": "@RUN@", "key": "m", "value": {_value}, "timestamp": 1}}',
    )
for _label, _value in {"word": "maybe", "list": "%5B%5D", "object": "%7B%7D", "number": "7"}.items():
    probe(f"bool-field-as-{_label}", "GET", f"{API}/logged-models/m-0?allow_deleted={_value}")
for _label, _value in {"string": '"@EXP@"', "object": '{"a": 1}', "number": "1", "list-of-lists": "[[1]]"}.items():
    probe(f"list-field-as-{_label}", "POST", f"{API}/runs/search", json_body=f'{{"experiment_ids": {_value}}}')
for _label, _value in {
    "string": '"m"',
    "list-of-numbers": "[1]",
    "list-of-strings": '["x"]',
    "object": '{"key": "m"}',
}.items():
    probe(
        f"message-list-as-{_label}",
        "POST",
        f"{API}/runs/log-batch",
        json_body=f'{{"run_id": "@RUN@", "metrics": {_value}}}',
    )
probe(
    "nested-message-as-string",
    "POST",
    f"{API}/runs/log-inputs",
    json_body='{"run_id": "@RUN@", "datasets": [{"dataset": "x"}]}',
)
probe("body-is-a-list", "POST", f"{API}/runs/create", json_body="[]")
probe("body-is-a-string", "POST", f"{API}/runs/create", json_body='"run"')
probe("body-is-malformed", "POST", f"{API}/runs/create", json_body='{"experiment_id": ')
probe(
    "enum-run-view-type",
    "POST",
    f"{API}/runs/search",
    json_body='{"experiment_ids": ["@EXP@"], "run_view_type": ["ALL"]}',
)
probe("enum-run-status", "POST", f"{API}/runs/update", json_body='{"run_id": "@RUN@", "status": {"name": "KILLED"}}')
probe(
    "enum-stage",
    "POST",
    f"{API}/model-versions/transition-stage",
    json=lambda w: {"name": w.model_name, "version": "1", "stage": "Nope"},
)
probe("missing-required-field", "POST", f"{API}/runs/log-metric", json_body='{"run_id": "@RUN@", "key": "m"}')

# ---------------------------------------------------------------- NaN and Infinity where a number must be finite

probe(
    "nan-timestamp",
    "POST",
    f"{API}/runs/log-metric",
    json_body='{"run_id": "@RUN@", "key": "m", "value": 1, "timestamp": NaN}',
)
probe(
    "infinite-step",
    "POST",
    f"{API}/runs/log-metric",
    json_body='{"run_id": "@RUN@", "key": "m", "value": 1, "timestamp": 1, "step": Infinity}',
)
probe("nan-max-results", "POST", f"{API}/runs/search", json_body='{"experiment_ids": ["@EXP@"], "max_results": NaN}')
probe(
    "infinite-start-time", "POST", f"{API}/runs/create", json_body='{"experiment_id": "@EXP@", "start_time": -Infinity}'
)
probe("nan-experiment-id", "POST", f"{API}/runs/create", json_body='{"experiment_id": NaN}')
probe("overflowing-float-end-time", "POST", f"{API}/runs/update", json_body='{"run_id": "@RUN@", "end_time": 1e400}')

# ---------------------------------------------------------------- integers beyond int64

probe(
    "step-2-pow-63",
    "POST",
    f"{API}/runs/log-metric",
    json_body=f'{{"run_id": "@RUN@", "key": "m", "value": 1, "timestamp": 1, "step": {2**63}}}',
)
probe(
    "timestamp-1e30",
    "POST",
    f"{API}/runs/log-metric",
    json_body=f'{{"run_id": "@RUN@", "key": "m", "value": 1, "timestamp": {10**30}}}',
)
probe(
    "start-time-below-int64",
    "POST",
    f"{API}/runs/create",
    json_body=f'{{"experiment_id": "@EXP@", "start_time": {-(2**64)}}}',
)
probe(
    "batch-timestamp-1e40",
    "POST",
    f"{API}/runs/log-batch",
    json_body=f'{{"run_id": "@RUN@", "metrics": [{{"key": "m", "value": 1, "timestamp": {10**40}}}]}}',
)
probe(
    "int-of-5000-digits",
    "POST",
    f"{API}/runs/create",
    json_body='{"experiment_id": "@EXP@", "start_time": ' + "9" * 5000 + "}",
)
probe(
    "version-of-40-digits",
    "GET",
    f"{API}/model-versions/get",
    params=lambda w: {"name": w.model_name, "version": "9" * 40},
)
probe("experiment-id-of-40-digits", "GET", f"{API}/experiments/get", params={"experiment_id": "9" * 40})

# ---------------------------------------------------------------- null bytes

probe(
    "null-byte-tag-key",
    "POST",
    f"{API}/runs/set-tag",
    json=lambda w: {"run_id": w.run_id, "key": "a\x00b", "value": "v"},
)
probe(
    "null-byte-param-key",
    "POST",
    f"{API}/runs/log-parameter",
    json=lambda w: {"run_id": w.run_id, "key": "\x00", "value": "v"},
)
probe(
    "null-byte-metric-key",
    "POST",
    f"{API}/runs/log-metric",
    json=lambda w: {"run_id": w.run_id, "key": "m\x00", "value": 1, "timestamp": 1},
)
probe("null-byte-experiment-id", "GET", f"{API}/experiments/get?experiment_id=%00")
probe("null-byte-run-id", "GET", f"{API}/runs/get?run_id=%00")
probe(
    "null-byte-in-filter",
    "POST",
    f"{API}/runs/search",
    json=lambda w: {"experiment_ids": [w.experiment_id], "filter": "params.lr = '\x00' AND \x00"},
)

# ---------------------------------------------------------------- the HTTP layer

probe("unsupported-method-trace", "TRACE", f"{API}/runs/get")
probe("unknown-method", "PROPFIND", f"{API}/experiments/search")
probe("request-line-over-64KiB", "GET", f"{API}/experiments/search?filter=" + "a" * 70_000)
probe(
    "hostile-filter-deep-parentheses",
    "POST",
    f"{API}/runs/search",
    json=lambda w: {"experiment_ids": [w.experiment_id], "filter": "(" * 5000 + "metrics.loss > 0" + ")" * 5000},
)
probe(
    "hostile-filter-garbage",
    "POST",
    f"{API}/runs/search",
    json=lambda w: {"experiment_ids": [w.experiment_id], "filter": "metrics.loss > 0 OR 1=1; DROP TABLE runs; --"},
)
probe(
    "hostile-order-by",
    "POST",
    f"{API}/runs/search",
    json=lambda w: {"experiment_ids": [w.experiment_id], "order_by": ["metrics.`" + "x" * 10_000 + "` ASC, DESC; --"]},
)

# ---------------------------------------------------------------- MLflow CVE classes that apply to this API

CVE_PROBES = {
    # CVE-2023-2780: backslash traversal in a model version source.
    "CVE-2023-2780-backslash-source": (
        "POST",
        f"{API}/model-versions/create",
        lambda w: {"name": w.model_name, "source": f"runs:/{w.run_id}/..\\..\\..\\etc\\passwd"},
    ),
    # CVE-2023-6831 / CVE-2024-1560: traversal that survives one decoding (double percent-encoding).
    "CVE-2024-1560-double-encoded-source": (
        "POST",
        f"{API}/model-versions/create",
        lambda w: {"name": w.model_name, "source": "mlflow-artifacts:/%252e%252e/%252e%252e/etc/passwd"},
    ),
    # CVE-2023-6909 / CVE-2024-1483 / CVE-2024-1594 / CVE-2024-2928: traversal hidden in a URI fragment or query.
    "CVE-2024-1594-fragment-location": (
        "POST",
        f"{API}/experiments/create",
        lambda w: {"name": f"cve-{uuid.uuid4().hex}", "artifact_location": "http://127.0.0.1/#/../../../../etc/passwd"},
    ),
    "CVE-2024-2928-file-fragment-location": (
        "POST",
        f"{API}/experiments/create",
        lambda w: {"name": f"cve-{uuid.uuid4().hex}", "artifact_location": "file:///tmp/x#/../../../etc"},
    ),
    "CVE-2024-1483-query-location": (
        "POST",
        f"{API}/experiments/create",
        lambda w: {"name": f"cve-{uuid.uuid4().hex}", "artifact_location": "s3://{bucket}/x?/../../other"},
    ),
    # CVE-2024-3099: model names that resolve to other names as paths.
    "CVE-2024-3099-dot-dot-name": ("POST", f"{API}/registered-models/create", lambda w: {"name": ".."}),
    "CVE-2024-3099-slash-name": (
        "POST",
        f"{API}/registered-models/rename",
        lambda w: {"name": w.model_name, "new_name": "a/../b"},
    ),
    # CVE-2024-6838: unbounded resource consumption through names without a length limit.
    "CVE-2024-6838-long-experiment-name": ("POST", f"{API}/experiments/create", lambda w: {"name": "n" * 501}),
    # CVE-2025-0453: a batch of GraphQL queries exhausting the server; /graphql takes one query, not a list.
    "CVE-2025-0453-graphql-batch": (
        "POST",
        "/graphql",
        lambda w: [{"query": "{ mlflowSearchRuns { runs { info { runId } } } }"}] * 1000,
    ),
    # Reflected input in errors (the UI XSS class): answered as JSON, never as HTML.
    "reflected-markup-in-path": ("GET", f"{API}/<script>alert(1)</script>", lambda w: None),
}

for _name, (_method, _path, _body) in CVE_PROBES.items():

    def _send(world: World, method: str = _method, path: str = _path, body: Any = _body) -> requests.Response:
        payload = body(world)
        if isinstance(payload, dict) and "artifact_location" in payload:
            payload["artifact_location"] = payload["artifact_location"].replace(
                "{bucket}", os.environ.get("STRATUS_ARTIFACT_BUCKET", "b")
            )
        return _call(world.base, method, path, json=payload)

    PROBES.append(pytest.param(_send, id=_name))


def _assert_mlflow_error(response: requests.Response) -> None:
    assert 400 <= response.status_code < 500, f"{response.status_code}: {response.text[:300]}"
    assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("error_code"), str) and body["error_code"], body
    assert isinstance(body.get("message"), str) and body["message"], body


@pytest.mark.parametrize("send", PROBES)
def test_hostile_input_gets_an_mlflow_4xx_and_changes_nothing(world: World, send: Request) -> None:
    before = snapshot(world)

    response = send(world)

    _assert_mlflow_error(response)
    assert snapshot(world) == before


@pytest.mark.parametrize("send", TOKEN_PROBES)
def test_forged_page_tokens_get_an_mlflow_400(world: World, send: Request) -> None:
    """Searches only read, so the store is not snapshotted around each token (there are ~100 of them)."""
    response = send(world)

    _assert_mlflow_error(response)
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_the_probes_can_fail(world: World) -> None:
    """The same check rejects a 200, a 5xx, and an error body that is not MLflow's."""

    def fake(status: int, body: bytes, content_type: str = "application/json") -> requests.Response:
        r = requests.Response()
        r.status_code, r._content, r.headers["Content-Type"] = status, body, content_type
        return r

    for bad in (
        fake(200, b"{}"),
        fake(500, b'{"error_code": "INTERNAL_ERROR", "message": "x"}'),
        fake(404, b'{"message": "Not Found"}'),
        fake(414, b"<html/>", "text/html"),
    ):
        with pytest.raises(AssertionError):
            _assert_mlflow_error(bad)
    _ok(world.base, "POST", f"{API}/runs/set-tag", json={"run_id": world.run_id, "key": "changed", "value": "yes"})
    changed = snapshot(world)
    _ok(world.base, "POST", f"{API}/runs/delete-tag", json={"run_id": world.run_id, "key": "changed"})
    assert changed != snapshot(world)


@pytest.mark.parametrize(
    "head",
    [
        pytest.param("Content-Length: lots\r\n", id="content-length-not-a-number"),
        pytest.param("Transfer-Encoding: chunked\r\n", id="chunk-size-not-hex"),
    ],
)
def test_broken_framing_gets_an_mlflow_400(world: World, head: str) -> None:
    """Requests the HTTP layer cannot read get MLflow's error JSON too (raw socket: requests would not send them)."""
    host, port = world.base.removeprefix("http://").rsplit(":", 1)
    request = f"POST {API}/runs/create HTTP/1.1\r\nHost: {host}\r\n{head}\r\nzz\r\n{{}}\r\n0\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=TIMEOUT_S) as connection:
        connection.sendall(request.encode())
        reply = b""
        while chunk := connection.recv(65536):
            reply += chunk
    status_line, _, rest = reply.partition(b"\r\n")
    assert status_line.split()[1] == b"400", reply[:300]
    body = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert body["error_code"] == "INVALID_PARAMETER_VALUE" and body["message"]
