"""``python -m benchmarks.traces --smoke`` at a tiny size, in a process of its own (it starts its own ``stratus
local``): every span sent is stored, a search page of 100 over 1,000 traces is one Query of the experiment and no S3
request, and a trace of more than 200 spans opens with the client and the UI's route, the second time from its stored
answer without reading a span."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from child_process import child_environment

PROJECT_DIR = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.xdist_group("benchmark_traces")


@pytest.fixture(autouse=True)
def _fluent_client() -> None:
    """No ``stratus local`` in this test's process: the benchmark starts its own."""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("traces") / "report.json"
    command = [sys.executable, "-m", "benchmarks.traces", "--smoke", "--json", str(out)]
    completed = subprocess.run(  # noqa: S603 - our interpreter, our module
        command, cwd=PROJECT_DIR, env=child_environment(), capture_output=True, text=True, timeout=600, check=False
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return json.loads(out.read_text())


def test_every_ingest_request_stores_each_trace_once(report: dict) -> None:
    ingest = report["ingest"]
    traces, requests = ingest["spans"] // 10, ingest["requests"]
    assert requests < traces  # ten 10-span traces a request
    assert ingest["s3"] == {"PUT": traces}  # one span object per trace of a request
    assert ingest["dynamodb"]["BatchGetItem"] == requests  # the pointers of a request's traces, read at once
    assert ingest["dynamodb"]["TransactWriteItems"] == requests  # its new traces' records and pointers, created at once


def test_a_search_page_reads_one_page_of_the_experiment(report: dict) -> None:
    default, filtered = report["search"]
    assert default["found"] == filtered["found"] == 100
    assert default["dynamodb"] == {"Query": 1}
    assert default["s3"] == {}
    assert filtered["dynamodb"]["Query"] <= 6  # 1 trace in 4 is team a, 9 in 10 of those OK: ~450 records read


def test_a_large_trace_is_read_once_then_answered_from_its_stored_copy(report: dict) -> None:
    first, second, ui_first, ui_second = report["big"]
    assert first["detail"] == second["detail"] == "300 spans"
    assert first["s3"].get("GET", 0) > 2  # the span objects
    assert second["s3"] == {"GET": 2} == ui_second["s3"]  # HEAD of the stored answer, GET of it
    assert ui_first["detail"].startswith("300 spans")
