"""A trace whose spans are far more than a Lambda response holds (about 6 MB) opens through ``stratus local``: the
stock client's ``get_trace`` (GetTraceInfoV3, then ``traces/get``) and the web UI's ``get-trace-artifact`` follow a
307 to the answer stored in S3, which S3 serves with the CORS header the browser's ``fetch`` needs; a span filter
finds a span beyond the record's 200-span summary."""

from __future__ import annotations

import uuid

import mlflow
import requests
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from otlp_spans import export_request, numbered_span

SPANS = 1_500
PER_REQUEST = 250
TIMEOUT = 60


def _span(trace: bytes, index: int) -> Span:
    document = f"chunk {index} " + "lorem ipsum " * 400  # ~5 KB a span, 7 MB in all
    return numbered_span(trace, index, **{"mlflow.spanType": "RETRIEVER", "mlflow.spanInputs": {"document": document}})


def _send_trace(tracking_uri: str, experiment_id: str) -> str:
    trace = uuid.uuid4().bytes
    headers = {"Content-Type": "application/x-protobuf", "x-mlflow-experiment-id": experiment_id}
    for first in range(0, SPANS, PER_REQUEST):
        body = export_request(_span(trace, i) for i in range(first, first + PER_REQUEST))
        sent = requests.post(f"{tracking_uri}/v1/traces", data=body, headers=headers, timeout=TIMEOUT)
        assert sent.status_code == 200, sent.text
    return f"tr-{trace.hex()}"


def test_a_trace_larger_than_a_lambda_response_opens_in_the_client_and_the_ui(tracking_uri: str) -> None:
    experiment_id = mlflow.create_experiment(f"large-trace-{uuid.uuid4().hex[:8]}")
    trace_id = _send_trace(tracking_uri, experiment_id)

    trace = mlflow.MlflowClient().get_trace(trace_id)
    assert len(trace.data.spans) == SPANS
    assert trace.data.spans[0].name == "root"
    assert {s.name for s in trace.data.spans} >= {"step_1", f"step_{SPANS - 1}"}

    origin = tracking_uri.rstrip("/")
    artifact = requests.get(
        f"{tracking_uri}/ajax-api/3.0/mlflow/get-trace-artifact",
        params={"request_id": trace_id},
        headers={"Origin": origin},
        timeout=TIMEOUT,
    )
    assert [r.status_code for r in artifact.history] == [307]
    assert artifact.status_code == 200
    assert artifact.headers["Access-Control-Allow-Origin"] == origin
    assert len(artifact.content) > 6_000_000
    assert len(artifact.json()["spans"]) == SPANS

    found = mlflow.search_traces(
        locations=[experiment_id], filter_string=f"span.name = 'step_{SPANS - 1}'", return_type="list"
    )
    assert [t.info.trace_id for t in found] == [trace_id]
