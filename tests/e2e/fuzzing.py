"""Property-based fuzzing of the HTTP API with schemathesis, driven by the API's own OpenAPI document
(``GET /api/2.0/stratus/openapi.json``).

For every operation it sends requests generated from the document (valid ones) and mutated away from it (wrong
types, missing fields, out-of-range values, strange strings), and checks the two promises the MLflow client relies
on: no 5xx for anything a caller sends, and every error an MLflow error JSON (``{"error_code", "message"}``).

The e2e test ``test_fuzz_api.py`` runs a bounded pass. For a longer one, against a fresh ephemeral ``stratus local``
(or any running server with ``--url``)::

    .venv/bin/python tests/e2e/fuzzing.py --examples 100            # ~8,000 requests
    .venv/bin/python tests/e2e/fuzzing.py --url http://127.0.0.1:5000 --examples 20 --only '/api/2.0/mlflow/runs'

It prints the requests sent, the status histogram, the 5xx count and a reproduction (curl) for each failure; it
exits 1 when there was a 5xx or a non-MLflow error body.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

OPENAPI_PATH = "/api/2.0/stratus/openapi.json"
PROJECT_DIR = Path(__file__).resolve().parents[2]
REQUEST_TIMEOUT_S = 60
KEPT_FAILURES = 50


@dataclass
class FuzzReport:
    """What a fuzzing pass sent and got back."""

    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    bad_error_bodies: list[str] = field(default_factory=list)
    generation_errors: list[str] = field(default_factory=list)
    operations: int = 0
    seconds: float = 0.0

    @property
    def server_error_count(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)

    def summary(self) -> str:
        histogram = ", ".join(f"{status}: {count}" for status, count in sorted(self.statuses.items()))
        return (
            f"{self.sent} requests to {self.operations} operations in {self.seconds:.0f} s; "
            f"statuses {{{histogram}}}; 5xx: {self.server_error_count}; "
            f"errors without MLflow error JSON: {len(self.bad_error_bodies)}"
        )


def is_mlflow_error(response: requests.Response) -> bool:
    """Whether an error response carries MLflow's ``{"error_code": str, "message": str}`` body."""
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("error_code"), str) and isinstance(body.get("message"), str)


def _describe(case: Any, response: requests.Response) -> str:
    body = response.text[:300].replace("\n", " ")
    return f"{case.method} {case.formatted_path} -> {response.status_code} {body}\n    {case.as_curl_command()}"


OTLP_PATHS = ("/v1/traces",)
"""OpenTelemetry's ingest answers errors as the reference's FastAPI route does (``{"detail": ...}``), which any OTLP
exporter expects: those bodies are not MLflow's on purpose (docs/decisions.md, GenAI tracing)."""


def _has_expected_error_body(case: Any, response: requests.Response) -> bool:
    if case.formatted_path in OTLP_PATHS:
        try:
            return isinstance(response.json(), dict) and "detail" in response.json()
        except ValueError:
            return False
    return is_mlflow_error(response)


def _record(report: FuzzReport, case: Any, response: requests.Response) -> None:
    report.sent += 1
    report.statuses[response.status_code] += 1
    if response.status_code >= 500 and len(report.server_errors) < KEPT_FAILURES:
        report.server_errors.append(_describe(case, response))
    bad_body = response.status_code >= 400 and not _has_expected_error_body(case, response)
    if bad_body and len(report.bad_error_bodies) < KEPT_FAILURES:
        report.bad_error_bodies.append(_describe(case, response))


def load_schema(base_url: str) -> Any:
    """The OpenAPI document the server describes itself with, as a schemathesis schema."""
    return schemathesis.openapi.from_url(base_url.rstrip("/") + OPENAPI_PATH)


def _can_be_mutated(operation: Any) -> bool:
    """Whether schemathesis has something to break: a JSON body or a query parameter (any string is a valid path
    parameter and any bytes a valid upload, so an operation with only those has no invalid request to generate)."""
    raw = operation.definition.raw
    has_json_body = "application/json" in raw.get("requestBody", {}).get("content", {})
    return has_json_body or any(p.get("in") == "query" for p in raw.get("parameters", []))


def _fuzz_operation(
    operation: Any, base_url: str, examples: int, report: FuzzReport, session: requests.Session
) -> None:
    modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if _can_be_mutated(operation) else [])
    for mode in modes:

        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=False,
            phases=[Phase.explicit, Phase.generate],  # no shrinking: nothing is asserted inside
            suppress_health_check=list(HealthCheck),
        )
        @given(operation.as_strategy(generation_mode=mode))
        def send(case: Any) -> None:
            response = case.call(base_url=base_url, session=session, allow_redirects=False, timeout=REQUEST_TIMEOUT_S)
            _record(report, case, response)

        try:
            send()
        except Unsatisfiable:
            pass  # nothing in this operation can be made invalid
        except Exception as exc:  # noqa: BLE001 - a strategy that cannot generate is reported, not fatal
            report.generation_errors.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {exc!r}")


def fuzz(base_url: str, examples: int, include: Callable[[str], bool] = lambda path: True) -> FuzzReport:
    """Send up to ``examples`` valid and ``examples`` mutated requests to every operation whose path ``include``
    accepts; returns what came back."""
    report = FuzzReport()
    started = time.monotonic()
    schema = load_schema(base_url)
    with requests.Session() as session:
        for result in schema.get_all_operations():
            operation = result.ok()
            if not include(operation.path):
                continue
            report.operations += 1
            _fuzz_operation(operation, base_url, examples, report, session)
    report.seconds = time.monotonic() - started
    return report


@contextmanager
def _server(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    from stratus_local.stack import LocalStack

    with LocalStack(PROJECT_DIR, ephemeral=True, port=0, log_requests=False) as stack:
        yield stack.base_url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running server (default: start an ephemeral stratus local)")
    parser.add_argument("--examples", type=int, default=100, help="valid and mutated requests per operation")
    parser.add_argument("--only", default="", help="fuzz only paths starting with this prefix")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    with _server(args.url) as url:
        report = fuzz(url, args.examples, lambda path: path.startswith(args.only))
    print(report.summary())
    for title, items in (
        ("5xx responses", report.server_errors),
        ("errors without an MLflow error JSON", report.bad_error_bodies),
        ("operations schemathesis could not generate for", report.generation_errors),
    ):
        if items:
            print(f"\n{title}:")
            print("\n".join(f"  {item}" for item in items))
    if args.json:
        figures = {
            "requests": report.sent,
            "operations": report.operations,
            "seconds": round(report.seconds, 1),
            "statuses": {str(k): v for k, v in sorted(report.statuses.items())},
            "server_errors": report.server_error_count,
            "bad_error_bodies": len(report.bad_error_bodies),
        }
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 1 if report.server_error_count or report.bad_error_bodies else 0


if __name__ == "__main__":
    sys.exit(main())
