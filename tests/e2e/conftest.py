"""Start `stratus local` (throw-away state) once per test worker and point the stock mlflow client at it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from stratus_local.stack import LocalStack

PROJECT_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tracking_uri() -> Iterator[str]:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with LocalStack(PROJECT_DIR, ephemeral=True, port=0, log_requests=False) as stack:
        uri = stack.base_url
        os.environ["MLFLOW_TRACKING_URI"] = uri
        yield uri


@pytest.fixture(autouse=True)
def _fluent_client(tracking_uri: str) -> Iterator[None]:
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    yield
    while mlflow.active_run() is not None:
        mlflow.end_run()
