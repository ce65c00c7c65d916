"""MLflow 3's trace reads (``traces/search``, the legacy listing, ``traces/metrics``) and evaluation dataset searches,
for a server that stores neither yet (issue 15). The writes are not served (StartTraceV3, the OTLP ingest and dataset
creation answer an error), so no experiment has a trace or a dataset, and these reads truthfully find none. They
check their arguments first, as the reference does, so a caller learns of a mistake here as it would there.

Not checked yet: the search filter and ``order_by`` grammars (trace, metric filter and dataset), which come with the
trace search itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Never

from stratus.domain import messages, validation
from stratus.domain.paging import parse_page_token
from stratus.domain.traces import MetricDataPoint, TraceMetricsQuery, check_metrics_query, metrics_of_no_traces
from stratus.errors import InvalidParameterValue


class TraceService:
    """The trace reads, in the order of the reference's checks (``SqlAlchemyStore.search_traces`` and
    ``query_trace_metrics``)."""

    def search(self, experiment_ids: Sequence[str], max_results: int, page_token: str | None) -> list[Never]:
        """The traces of the experiments on one page: none. ``max_results`` must be positive (its upper bound, 500,
        is the request schema's), each experiment id an integer and the page token one the reference could issue."""
        if max_results < 1:
            raise InvalidParameterValue(messages.max_results_not_positive(max_results))
        for experiment_id in experiment_ids:
            validation.validate_experiment_id(experiment_id)
        parse_page_token(page_token)
        return []

    def query_metrics(self, query: TraceMetricsQuery) -> list[MetricDataPoint]:
        """The query's data points over the experiments' traces, spans or assessments: those of no traces."""
        check_metrics_query(query)
        for experiment_id in query.experiment_ids:
            validation.validate_experiment_id(experiment_id)
        return metrics_of_no_traces(query)


class EvaluationDatasetService:
    """Evaluation dataset searches, as ``SqlAlchemyStore.search_datasets`` checks them."""

    def search(self, max_results: int, page_token: str | None) -> list[Never]:
        """The datasets (of any experiment, or of the ones named) on one page: none. ``max_results`` 0 is read as
        unset, which the reference then refuses as ``None``."""
        if max_results < 1:
            raise InvalidParameterValue(messages.max_results_not_positive(max_results or None))
        if max_results > validation.SEARCH_MAX_RESULTS_THRESHOLD:
            raise InvalidParameterValue(
                messages.max_results_above_limit(max_results, validation.SEARCH_MAX_RESULTS_THRESHOLD)
            )
        parse_page_token(page_token)
        return []
