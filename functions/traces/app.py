"""TracesFunction: composition root of MLflow 3's GenAI traces: OTLP span ingest (``POST /v1/traces``), StartTraceV3,
the trace reads, search, assessments, tags, deletion and run links, ``traces/metrics`` and the evaluation datasets. Its
own function because trace traffic (bursts of small span batches from every traced process) differs from tracking's
in volume and memory (docs/decisions.md, "GenAI tracing")."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.utilities.typing import LambdaContext

from stratus.api.app import build_traces_api
from stratus.config import Settings
from stratus.domain.services import ExperimentService
from stratus.domain.services.assessments import TraceWriteService
from stratus.domain.services.datasets import EvaluationDatasetService
from stratus.domain.services.trace_search import TraceSearchService
from stratus.domain.services.traces import TraceService
from stratus.observability import get_logger, get_metrics
from stratus.snapstart import prime_before_snapshot
from stratus.store.dynamodb import DynamoTrackingStore, bind_table, warm_table
from stratus.store.dynamodb.datasets import DynamoDatasetStore
from stratus.store.dynamodb.traces import DynamoTraceStore
from stratus.store.s3.record_bodies import S3RecordBodies
from stratus.store.s3.spans import S3SpanStore


@cache
def api() -> APIGatewayHttpResolver:
    settings = Settings.from_env()
    bind_table(settings.table_name, settings.region)
    experiments = ExperimentService(
        DynamoTrackingStore(), settings.artifact_root, artifact_bucket=settings.artifact_bucket
    )
    traces = DynamoTraceStore()
    spans = S3SpanStore(settings.artifact_bucket, ttl_seconds=settings.presigned_url_ttl_seconds)
    return build_traces_api(
        TraceService(traces, spans, experiments, default_retention_days=settings.trace_retention_days),
        TraceSearchService(traces, spans),
        TraceWriteService(traces, spans),
        EvaluationDatasetService(DynamoDatasetStore(S3RecordBodies(settings.artifact_bucket)), experiments),
    )


@get_metrics().log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    get_logger().thread_safe_append_keys(route=event.get("routeKey"))
    return api().resolve(event, context)


# SnapStart=enabled: built while Lambda publishes a version, kept in its snapshot (stratus/snapstart.py)
prime_before_snapshot(api, warm_table)
