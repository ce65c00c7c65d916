"""The three IAM policies in docs/security.md do what the page says: readers read, loggers log and register, and only
promoters reach the routes that change what is in production, through the client's paths and the UI's alike."""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"
STAGE = "arn:aws:execute-api:REGION:ACCOUNT:API_ID/prod"

PROMOTION = [
    ("POST", "mlflow/model-versions/transition-stage"),
    ("POST", "mlflow/registered-models/alias"),
    ("DELETE", "mlflow/registered-models/alias"),
    ("POST", "mlflow/registered-models/set-tag"),
    ("DELETE", "mlflow/registered-models/delete-tag"),
    ("POST", "mlflow/registered-models/rename"),
    ("DELETE", "mlflow/registered-models/delete"),
    ("DELETE", "mlflow/model-versions/delete"),
]
READS = [
    ("GET", "mlflow/experiments/get-by-name"),
    ("GET", "mlflow/registered-models/alias"),
    ("GET", "mlflow-artifacts/artifacts/1/abc/artifacts/model/MLmodel"),
    ("POST", "mlflow/runs/search"),
    ("POST", "mlflow/experiments/search"),
]
LOGGING = [
    ("POST", "mlflow/experiments/create"),
    ("POST", "mlflow/runs/create"),
    ("POST", "mlflow/runs/log-batch"),
    ("POST", "mlflow/logged-models"),
    ("PATCH", "mlflow/logged-models/m-1/tags"),
    ("PUT", "mlflow-artifacts/artifacts/1/abc/artifacts/model.pkl"),
    ("POST", "mlflow/registered-models/create"),
    ("POST", "mlflow/model-versions/create"),
    ("POST", "mlflow/traces/delete-traces"),
    ("PATCH", "mlflow/traces/tr-1/tags"),
]
ADMIN = [("POST", "mlflow/webhooks"), ("DELETE", "mlflow/webhooks/w-1")]


def _policies() -> dict[str, dict[str, Any]]:
    blocks = re.findall(r"^### (.+?)\n.*?```json\n(.*?)```", DOC.read_text(), flags=re.S | re.M)
    policies = {title.split(":")[0].strip(): json.loads(body) for title, body in blocks}
    # The promoter's policy is attached together with the logger's.
    promoter = policies["May also move models to production"]
    promoter["Statement"] = policies["May log runs"]["Statement"] + promoter["Statement"]
    return policies


def _allows(policy: dict[str, Any], method: str, path: str) -> bool:
    arn = f"{STAGE}/{method}/{path}"
    for statement in policy["Statement"]:
        if statement["Action"] != "execute-api:Invoke":
            continue
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if any(fnmatch.fnmatchcase(arn, resource) for resource in resources):
            assert statement["Effect"] == "Allow"  # allow-lists only: no Deny to get wrong
            return True
    return False


POLICIES = _policies()


def _client_and_ui(routes: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(method, f"{prefix}/2.0/{path}") for method, path in routes for prefix in ("api", "ajax-api")]


@pytest.mark.parametrize(
    "path",
    [
        "graphql",
        "ajax-api/2.0/mlflow/experiments/search-datasets",
        "ajax-api/3.0/mlflow/traces/metrics",  # the GenAI Overview's charts, where an experiment opens
        "ajax-api/3.0/mlflow/traces/search",
        "api/3.0/mlflow/traces/search",  # mlflow.search_traces
    ],
)
def test_every_role_may_use_the_reads_sent_as_post(path: str) -> None:
    assert all(_allows(policy, "POST", path) for policy in POLICIES.values())


def test_the_page_has_the_three_policies_each_within_the_managed_policy_size_limit() -> None:
    blocks = re.findall(r"```json\n(.*?)```", DOC.read_text(), flags=re.S)

    assert list(POLICIES) == ["Read-only", "May log runs", "May also move models to production"]
    assert [len(re.sub(r"\s", "", block)) <= 6144 for block in blocks] == [True, True, True]


@pytest.mark.parametrize(("method", "path"), _client_and_ui(READS))
def test_every_role_reads(method: str, path: str) -> None:
    assert all(_allows(policy, method, path) for policy in POLICIES.values())


@pytest.mark.parametrize(("method", "path"), _client_and_ui(LOGGING))
def test_loggers_and_promoters_log_but_readers_do_not(method: str, path: str) -> None:
    allowed = [name for name, policy in POLICIES.items() if _allows(policy, method, path)]

    assert allowed == ["May log runs", "May also move models to production"]


@pytest.mark.parametrize(
    "path", ["ajax-api/2.0/mlflow/upload-artifact", "ajax-api/2.0/mlflow/runs/create-promptlab-run"]
)
def test_loggers_and_promoters_write_from_the_web_ui_but_readers_do_not(path: str) -> None:
    allowed = [name for name, policy in POLICIES.items() if _allows(policy, "POST", path)]

    assert allowed == ["May log runs", "May also move models to production"]


@pytest.mark.parametrize(("method", "path"), _client_and_ui(PROMOTION))
def test_only_promoters_change_what_is_in_production(method: str, path: str) -> None:
    allowed = [name for name, policy in POLICIES.items() if _allows(policy, method, path)]

    assert allowed == ["May also move models to production"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "v1/traces"),  # OTLP spans
        ("POST", "api/3.0/mlflow/traces"),  # StartTraceV3
        ("POST", "api/3.0/mlflow/traces/tr-1/assessments"),
        ("PATCH", "ajax-api/3.0/mlflow/traces/tr-1/assessments/a-1"),
        ("DELETE", "ajax-api/3.0/mlflow/traces/tr-1/tags"),
        ("POST", "api/3.0/mlflow/datasets/create"),  # mlflow.genai.datasets
        ("POST", "api/3.0/mlflow/datasets/d-1/records"),
        ("PATCH", "api/3.0/mlflow/datasets/d-1/tags"),
        ("DELETE", "ajax-api/3.0/mlflow/datasets/d-1/records"),
    ],
)
def test_loggers_trace_but_readers_do_not(method: str, path: str) -> None:
    assert _allows(POLICIES["May log runs"], method, path)
    assert not _allows(POLICIES["Read-only"], method, path)


@pytest.mark.parametrize(("method", "path"), _client_and_ui(ADMIN))
def test_webhooks_are_left_to_administrators(method: str, path: str) -> None:
    assert not any(_allows(policy, method, path) for policy in POLICIES.values())


def test_every_promotion_route_is_a_registry_route() -> None:
    source = (Path(__file__).resolve().parents[2] / "layers/stratus/stratus/api/routes/registry.py").read_text()
    declared = {(m.upper(), f"mlflow{p}") for m, p in re.findall(r'@router\.(\w+)\("([^"]+)"\)', source)}

    assert set(PROMOTION) <= declared
