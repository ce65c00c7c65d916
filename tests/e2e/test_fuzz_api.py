"""A bounded schemathesis pass over every operation of the API's OpenAPI document, against a ``stratus local`` of
its own (fuzzing deletes and renames whatever it finds, so it must not share the session's stack): valid and mutated
requests, none answered 5xx, every error an MLflow error JSON. ``tests/e2e/fuzzing.py`` runs the long version.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import fuzzing
import pytest
import requests
from local_process import stratus_local_process

EXAMPLES_PER_MODE = int(os.environ.get("STRATUS_FUZZ_EXAMPLES", "3"))
"""Valid and mutated requests per operation: ~900 requests, ~60 s on 2 CPUs. The ``/ajax-api`` copies of the same
handlers are left to the long run."""

pytestmark = pytest.mark.xdist_group("fuzz_api")


@pytest.fixture(autouse=True)
def _fluent_client() -> None:
    """Replaces the e2e autouse fixture: this module speaks HTTP to its own stack, not through the mlflow client."""


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A process of its own: a second stack in this process would take the session stack's backends from the
    environment that stack exported (AWS_ENDPOINT_URL), and fuzz the session's data."""
    log_path = tmp_path_factory.mktemp("fuzz") / "stratus.log"
    with stratus_local_process([], log_path) as exports:
        yield exports["MLFLOW_TRACKING_URI"]


def test_fuzzed_requests_get_no_5xx_and_only_mlflow_error_bodies(own_stack: str) -> None:
    report = fuzzing.fuzz(own_stack, EXAMPLES_PER_MODE, include=lambda path: not path.startswith("/ajax-api/"))

    print(report.summary())
    assert report.operations >= 70, "the OpenAPI document lost operations"
    assert report.sent >= report.operations * 2
    assert not report.server_errors, "5xx answers:\n" + "\n".join(report.server_errors)
    assert not report.bad_error_bodies, "errors without MLflow's JSON:\n" + "\n".join(report.bad_error_bodies)
    assert not report.generation_errors, "\n".join(report.generation_errors)


def test_the_error_check_rejects_what_is_not_an_mlflow_error() -> None:
    """The property the fuzz test asserts can fail: API Gateway's own 404 body is not an MLflow error."""

    def response(status: int, body: bytes) -> requests.Response:
        r = requests.Response()
        r.status_code = status
        r._content = body
        return r

    assert fuzzing.is_mlflow_error(response(400, b'{"error_code": "INVALID_PARAMETER_VALUE", "message": "x"}'))
    assert not fuzzing.is_mlflow_error(response(404, b'{"message": "Not Found"}'))
    assert not fuzzing.is_mlflow_error(response(501, b"<html>Unsupported method</html>"))
    assert not fuzzing.is_mlflow_error(response(400, b'["error_code", "message"]'))
