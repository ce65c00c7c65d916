"""The one Logger and the one Metrics. Structured JSON logs with keyword fields; business metrics as CloudWatch EMF
lines on stdout, which Lambda's log agent turns into metrics of the ``Stratus`` namespace (docs/operations.md).

Decorators go on Lambda handlers only: ``@get_metrics().log_metrics`` publishes what an invocation recorded when it
ends (an exception included). Anything may record with :func:`count`, which keeps Powertools out of the caller."""

from __future__ import annotations

import os
from enum import StrEnum
from functools import cache

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

NAMESPACE = "Stratus"
"""The namespace when POWERTOOLS_METRICS_NAMESPACE does not name one (template.yaml sets it on most functions)."""
COUNT = "Count"
BYTES = "Bytes"


class MetricName(StrEnum):
    """Every business metric, as docs/operations.md lists them (a unit test holds the two together)."""

    RUNS_CREATED = "RunsCreated"
    METRIC_POINTS_LOGGED = "MetricPointsLogged"
    PARAMS_LOGGED = "ParamsLogged"
    RUN_SEARCHES = "RunSearches"
    RUN_SEARCH_ITEMS_READ = "RunSearchItemsRead"
    EXPERIMENT_SEARCHES = "ExperimentSearches"
    EXPERIMENT_SEARCH_ITEMS_READ = "ExperimentSearchItemsRead"
    MODEL_SEARCHES = "ModelSearches"
    MODEL_SEARCH_ITEMS_READ = "ModelSearchItemsRead"
    ARTIFACT_BYTES_UPLOADED = "ArtifactBytesUploaded"
    ARTIFACT_BYTES_DOWNLOADED = "ArtifactBytesDownloaded"
    STAGE_TRANSITIONS = "StageTransitions"
    ALIAS_CHANGES = "AliasChanges"
    WEBHOOK_DELIVERIES = "WebhookDeliveries"
    WEBHOOK_DELIVERY_FAILURES = "WebhookDeliveryFailures"
    PROJECT_RUNS_SUCCEEDED = "ProjectRunsSucceeded"
    PROJECT_RUNS_FAILED = "ProjectRunsFailed"
    PROJECT_RUNS_CANCELLED = "ProjectRunsCancelled"
    ROLLOUTS_SUCCEEDED = "RolloutsSucceeded"
    ROLLOUTS_FAILED = "RolloutsFailed"
    ROLLOUTS_ROLLED_BACK = "RolloutsRolledBack"


class _EmfProvider(AmazonCloudWatchEMFProvider):
    """Powertools' EMF provider, quiet when an invocation recorded nothing (most reads): no line and no "No
    application metrics to publish" warning in the logs. It also forgets what it held when metrics are switched off
    (POWERTOOLS_METRICS_DISABLED, as ``stratus local`` does), where Powertools keeps it and prints it anyway once one
    metric has 100 values."""

    def flush_metrics(self, raise_on_empty_metrics: bool = False) -> None:
        if not self.metric_set and not raise_on_empty_metrics:
            return
        super().flush_metrics(raise_on_empty_metrics=raise_on_empty_metrics)
        self.clear_metrics()


@cache
def get_logger() -> Logger:
    return Logger(service="stratus")


@cache
def get_metrics() -> Metrics:
    """The one Metrics: namespace from POWERTOOLS_METRICS_NAMESPACE (else ``Stratus``), and one dimension,
    ``service``: the Lambda function's name (``<stack>-tracking``), which keeps two stacks in one account and region
    apart (outside Lambda, POWERTOOLS_SERVICE_NAME). Its own metric set, not Powertools' class-wide one."""
    provider = _EmfProvider(service=os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))  # set by the Lambda runtime
    if provider.namespace is None:
        provider.namespace = NAMESPACE
    return Metrics(provider=provider)


def count(name: MetricName, value: float = 1, unit: str = COUNT) -> None:
    """Record ``value`` (``Count`` or ``Bytes``) of ``name`` on the current invocation; the handler's
    ``log_metrics`` publishes it. Outside a handler (tests, scripts) nothing publishes them, except Powertools itself
    once one metric holds 100 values."""
    get_metrics().add_metric(name=str(name), unit=unit, value=value)
