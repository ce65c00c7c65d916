"""Runs, params, metrics, tags, inputs and outputs, search and metric history. Mirrors MLflow's SqlAlchemyStore.

Every logging call is a ``log_batch`` (as MLflow writes ``log_metric`` in terms of it), so the rules live once.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from stratus.domain import messages, validation
from stratus.domain.entities import (
    ACTIVE,
    DELETED,
    DatasetInput,
    DatasetSummary,
    Metric,
    MetricPoint,
    ModelIO,
    ModelMetric,
    Run,
    RunInfo,
)
from stratus.domain.metric_history import sorted_points
from stratus.domain.names import random_run_name
from stratus.domain.paging import create_page_token, page_token_snapshot, parse_page_token
from stratus.domain.ports import TrackingStore
from stratus.domain.projection import ThinRun
from stratus.domain.services.experiments import VIEW_TYPES, ExperimentService, now_ms
from stratus.domain.snapshots import HISTORY_POINTS, SEARCH_RUNS, PageSnapshots, snapshot_page
from stratus.errors import InvalidParameterValue, ResourceAlreadyExists, ResourceDoesNotExist
from stratus.observability import MetricName, count

if TYPE_CHECKING:
    from stratus.domain.search.runs import RunQuery
    from stratus.domain.services.projection import ProjectionService

ModelMetricSink = Callable[[str, list[ModelMetric]], None]
"""Receives the metrics of a log-batch that name a logged model (LoggedModelService.log_metrics)."""

RUN_NAME_TAG = "mlflow.runName"
USER_TAG = "mlflow.user"
"""What MLflow's UI shows as a run's user (``run_info.user_id`` only when the tag is missing)."""
SEARCH_RUNS_DEFAULT_MAX_RESULTS = 1000
NEWEST_FIRST_RUNS = 2000
"""Up to this many runs into a newest-first listing, its pages come from the store's run order (about a page of reads
each); deeper pages read the experiment whole."""
SEARCH_DATASETS_MAX_EXPERIMENTS = 20
"""The reference's ``MAX_EXPERIMENT_IDS_PER_REQUEST`` of ``experiments/search-datasets``."""
SEARCH_DATASETS_MAX_RESULTS = 1000
"""The reference's ``MAX_DATASET_SUMMARIES_RESULTS``: the SQL ``LIMIT`` of its dataset summaries."""


@dataclass(frozen=True)
class MetricWithRunId:
    run_id: str
    metric: Metric


class RunService:
    """Everything the runs and metrics routes do."""

    def __init__(
        self,
        store: TrackingStore,
        experiments: ExperimentService,
        clock: Callable[[], int] = now_ms,
        model_metrics: ModelMetricSink | None = None,
        projections: ProjectionService | None = None,
    ) -> None:
        self._store = store
        self._projections = projections
        self._experiments = experiments
        self._clock = clock
        self._model_metrics = model_metrics
        # sorted listings kept for their next pages (domain/snapshots.py)
        self._history_snapshots: PageSnapshots[MetricPoint] = PageSnapshots(HISTORY_POINTS)
        self._search_snapshots: PageSnapshots[Run] = PageSnapshots(SEARCH_RUNS)

    # ---------------------------------------------------------------- lifecycle

    def create(
        self,
        experiment_id: str | None,
        user_id: str,
        start_time: int | None,
        tags: dict[str, str],
        run_name: str | None,
        *,
        caller: str | None = None,
        run_id: str | None = None,
    ) -> Run:
        """A new RUNNING run. ``caller`` is who the API authenticated: when given, it is the run's user (``user_id``
        and the ``mlflow.user`` tag) whatever the client claimed; without one the client's ``user_id`` is kept, as
        MLflow does. ``run_id``: the id to give it (``stratus import`` keeps a copied run's id); one a run already
        has is refused."""
        if run_id is not None:
            validation.validate_run_id(run_id)
            if self._store.get_run(run_id) is not None:
                raise ResourceAlreadyExists(messages.run_already_exists(run_id))
        experiment = self._experiments.get(experiment_id or "0")
        if experiment.lifecycle_stage != ACTIVE:
            raise InvalidParameterValue(messages.experiment_not_active(experiment.experiment_id))
        name_tag = tags.get(RUN_NAME_TAG)
        if run_name and name_tag and run_name != name_tag:
            raise InvalidParameterValue(messages.run_name_conflict(run_name, name_tag))
        run_name = run_name or name_tag or random_run_name()
        tags.setdefault(RUN_NAME_TAG, run_name)
        if caller:
            user_id = caller
            tags[USER_TAG] = caller
        run_id = run_id or uuid.uuid4().hex
        info = RunInfo(
            run_id=run_id,
            experiment_id=experiment.experiment_id,
            run_name=run_name,
            user_id=user_id or "",
            status="RUNNING",
            start_time=start_time if start_time is not None else self._clock(),
            end_time=None,
            artifact_uri=f"{experiment.artifact_location.rstrip('/')}/{run_id}/artifacts",
            lifecycle_stage=ACTIVE,
        )
        run = Run(info=info, tags=tags)
        self._store.insert_run(run)
        count(MetricName.RUNS_CREATED)
        return run

    def get(self, run_id: str) -> Run:
        run = self._store.get_run(run_id)
        if run is None:
            raise ResourceDoesNotExist(messages.run_not_found(run_id))
        return run

    def update(self, run_id: str, status: str | None, end_time: int | None, run_name: str | None) -> RunInfo:
        def change(run: Run) -> None:
            _check_active(run)
            if status is not None:
                run.info.status = status
            if end_time is not None:
                run.info.end_time = end_time
            if run_name:
                run.info.run_name = run_name
                run.tags[RUN_NAME_TAG] = run_name

        return self._store.modify_run(run_id, change).info

    def end(self, run_id: str, status: str, end_time: int, tags: dict[str, str]) -> bool:
        """End a run that Stratus runs (a project run) with ``status`` and ``tags``, in one write; False when the run
        is gone or deleted (nothing is written to it then)."""

        def change(run: Run) -> None:
            _check_active(run)
            run.info.status = status
            run.info.end_time = end_time
            run.tags.update(tags)

        try:
            self._store.modify_run(run_id, change)
        except (ResourceDoesNotExist, InvalidParameterValue):
            return False
        return True

    def delete(self, run_id: str) -> None:
        self._set_lifecycle(run_id, DELETED)

    def restore(self, run_id: str) -> None:
        self._set_lifecycle(run_id, ACTIVE)

    def _set_lifecycle(self, run_id: str, stage: str) -> None:
        def change(run: Run) -> None:
            run.info.lifecycle_stage = stage

        self._store.modify_run(run_id, change)

    # ---------------------------------------------------------------- logging

    def log_batch(
        self,
        run_id: str,
        metrics: list[Metric],
        params: dict[str, str] | list[tuple[str, str]],
        tags: list[tuple[str, str]],
        *,
        single: bool = False,
        model_metrics: list[ModelMetric] | None = None,
    ) -> None:
        """MLflow's log_batch. Params, tags and latest values go in one conditional write that re-checks the rules on
        a fresh read, so a rejected batch writes nothing and concurrent writers never break a rule; the history
        points follow (a retry after a crash in between rewrites them, and identical points are merged on read)."""
        validation.validate_run_id(run_id)
        param_list = list(params.items()) if isinstance(params, dict) else list(params)
        metrics, param_list, tags = validation.validate_batch_payload(metrics, param_list, tags, indexed=not single)
        validation.validate_batch_limits(len(metrics), len(param_list), len(tags))
        validation.validate_param_keys_unique(param_list)
        metrics = [replace(m, value=validation.stored_metric_value(m.value)) for m in metrics]

        def change(run: Run) -> None:
            _check_active(run)
            _check_params_unchanged(run, param_list, batch=not single)
            run.params.update(dict(param_list))
            for metric in metrics:
                current = run.metrics.get(metric.key)
                if current is None or metric.sort_key() > current.sort_key():
                    run.metrics[metric.key] = metric
            for key, value in tags:
                run.tags[key] = value
                if key == RUN_NAME_TAG:
                    run.info.run_name = value

        self._store.modify_run(run_id, change, history=metrics)
        if metrics:
            count(MetricName.METRIC_POINTS_LOGGED, len(metrics))
        if param_list:
            count(MetricName.PARAMS_LOGGED, len(param_list))
        if model_metrics and self._model_metrics is not None:
            self._model_metrics(run_id, [replace(m, run_id=run_id) for m in model_metrics])

    def log_metric(self, run_id: str, metric: Metric, model_metric: ModelMetric | None = None) -> None:
        self.log_batch(run_id, [metric], [], [], single=True, model_metrics=[model_metric] if model_metric else None)

    def log_param(self, run_id: str, key: str, value: str) -> None:
        self.log_batch(run_id, [], [(key, value)], [], single=True)

    def set_tag(self, run_id: str, key: str, value: str) -> None:
        self.log_batch(run_id, [], [], [(key, value)], single=True)

    def delete_tag(self, run_id: str, key: str) -> None:
        def change(run: Run) -> None:
            _check_active(run)
            if key not in run.tags:
                raise ResourceDoesNotExist(messages.run_tag_not_found(key, run.run_id))
            del run.tags[key]

        self._store.modify_run(run_id, change)

    def log_inputs(self, run_id: str, datasets: list[DatasetInput], models: list[ModelIO]) -> None:
        validation.validate_run_id(run_id)
        validation.validate_dataset_inputs(datasets)
        run = self.get(run_id)
        _check_active(run)
        # Only inputs the run does not have yet, first of each (name, digest): the reference keeps the first input of
        # a dataset and its tags (so its context), and so a summary is recorded only for what the run records.
        known = {(d.dataset.name, d.dataset.digest) for d in run.dataset_inputs}
        new: dict[tuple[str, str], DatasetInput] = {}
        for dataset_input in datasets:
            ident = (dataset_input.dataset.name, dataset_input.dataset.digest)
            if ident not in known:
                new.setdefault(ident, dataset_input)
        if new:
            self._store.add_dataset_inputs(run_id, list(new.values()))

        def change(run: Run) -> None:
            _check_active(run)
            known = {(d.dataset.name, d.dataset.digest) for d in run.dataset_inputs}
            for dataset_input in datasets:
                ident = (dataset_input.dataset.name, dataset_input.dataset.digest)
                if ident not in known:
                    run.dataset_inputs.append(dataset_input)
                    known.add(ident)
            for model in models:
                if model not in run.model_inputs:
                    run.model_inputs.append(model)

        self._store.modify_run(run_id, change)

    def log_outputs(self, run_id: str, models: list[ModelIO]) -> None:
        def change(run: Run) -> None:
            _check_active(run)
            for model in models:
                if model not in run.model_outputs:
                    run.model_outputs.append(model)

        self._store.modify_run(run_id, change)

    # ---------------------------------------------------------------- datasets

    def search_datasets(self, experiment_ids: list[str]) -> list[DatasetSummary]:
        """The dataset summaries of the experiments' runs, deleted runs included, as the reference's SQL store lists
        them: by experiment id (as a number), name and digest, each dataset's contexts in the order first logged, at
        most 1,000. Reads only the experiments' summary items (written by ``log_inputs``), never their runs."""
        if not experiment_ids:
            raise InvalidParameterValue("SearchDatasets request must specify at least one experiment_id.")
        if len(experiment_ids) > SEARCH_DATASETS_MAX_EXPERIMENTS:
            raise InvalidParameterValue(
                f"SearchDatasets request cannot specify more than {SEARCH_DATASETS_MAX_EXPERIMENTS} experiment_ids. "
                f"Received {len(experiment_ids)} experiment_ids."
            )
        canonical_ids = sorted({validation.validate_experiment_id(e) for e in experiment_ids}, key=int)
        found: list[DatasetSummary] = []
        for experiment_id in canonical_ids:
            if len(found) >= SEARCH_DATASETS_MAX_RESULTS:
                break
            # a stable sort: the contexts of one dataset stay in the order the store gives, first logged first
            found.extend(sorted(self._store.dataset_summaries(experiment_id), key=lambda s: (s.name, s.digest)))
        return found[:SEARCH_DATASETS_MAX_RESULTS]

    # ---------------------------------------------------------------- reading

    def search(
        self,
        experiment_ids: list[str],
        filter_string: str | None,
        run_view_type: str | None,
        max_results: int,
        order_by: list[str],
        page_token: str | None,
    ) -> tuple[list[Run], str | None]:
        validation.validate_search_runs_max_results(max_results)
        stages = VIEW_TYPES.get(run_view_type or "", VIEW_TYPES["ACTIVE_ONLY"])
        # on first use: the search grammar and sqlparse are ~7% of a cold import, and most requests never search
        from stratus.domain.search import compile_run_search

        query = compile_run_search(filter_string, order_by)  # a bad filter costs no read
        parse_page_token(page_token)
        # The reference looks experiments up by integer id: "nope" is a 400 and "01" is experiment 1.
        canonical_ids = tuple(dict.fromkeys(validation.validate_experiment_id(e) for e in experiment_ids))

        def read() -> list[Run]:
            examined: list[Run] = []
            for experiment_id in canonical_ids:
                examined.extend(self._runs_to_search(experiment_id, query, max_results))
            count(MetricName.RUN_SEARCH_ITEMS_READ, len(examined))
            return query.apply([r for r in examined if r.info.lifecycle_stage in stages])

        newest = self._newest_first(query, canonical_ids, stages, page_token, max_results)
        if newest is not None:
            page, token = newest
        else:
            listing = ("runs", canonical_ids, filter_string, tuple(stages), tuple(order_by))
            page, token = snapshot_page(self._search_snapshots, listing, page_token, max_results, read)
        page = self._whole(page)
        page = [copy.copy(run) for run in page]  # the page's dataset inputs are filled in; the snapshot keeps its own
        self._store.fill_dataset_inputs(page)  # searches read dataset summaries; the page gets full inputs
        count(MetricName.RUN_SEARCHES)
        return page, token

    def _runs_to_search(self, experiment_id: str, query: RunQuery, page_size: int) -> list[Run]:
        """The experiment's runs for ``query``: from its search projection where it has one and it suits pages of
        ``page_size`` (thin runs, enough to filter and order), else read whole."""
        if self._projections is not None:
            runs = self._projections.runs_to_search(experiment_id, query, page_size)
            if runs is not None:
                return runs
        return self._store.list_runs(experiment_id)

    def _whole(self, page: list[Run]) -> list[Run]:
        """``page`` with its thin runs (from a projection) read whole, in the same order."""
        thin: dict[str, list[str]] = {}
        for run in page:
            if isinstance(run, ThinRun):
                thin.setdefault(run.info.experiment_id, []).append(run.info.run_id)
        if not thin:
            return page
        whole = {run.info.run_id: run for e, ids in thin.items() for run in self._store.get_runs(e, ids)}
        count(MetricName.RUN_SEARCH_ITEMS_READ, len(whole))
        # a run deleted for good since the projection was read is left out, as a read a moment later would
        return [
            run if not isinstance(run, ThinRun) else whole[run.info.run_id]
            for run in page
            if not isinstance(run, ThinRun) or run.info.run_id in whole
        ]

    def _newest_first(
        self,
        query: RunQuery,
        experiment_ids: tuple[str, ...],
        stages: list[str],
        page_token: str | None,
        max_results: int,
    ) -> tuple[list[Run], str | None] | None:
        """The web UI's run table (no filter, newest first, one experiment) read page by page from the store's run
        order instead of the whole experiment; None when the store cannot, or for a page past NEWEST_FIRST_RUNS
        (the stock client's pandas ``search_runs`` reads pages of thousands: a full read is cheaper there). Its
        page tokens are plain offsets, valid in any container."""
        if not query.newest_first or len(experiment_ids) != 1 or page_token_snapshot(page_token) is not None:
            return None
        start = parse_page_token(page_token)
        if start + max_results > NEWEST_FIRST_RUNS:
            return None
        found = self._store.runs_newest_first(experiment_ids[0], stages, start, max_results + 1)
        if found is None:
            return None
        count(MetricName.RUN_SEARCH_ITEMS_READ, len(found))
        more = len(found) > max_results
        return found[:max_results], create_page_token(start + max_results) if more else None

    def get_metric_history(
        self, run_id: str, key: str, max_results: int | None, page_token: str | None
    ) -> tuple[list[Metric], str | None]:
        validation.validate_history_max_results(max_results)
        self.get(run_id)
        # the reference reads (and refuses a forged) token even without a limit
        points, token = snapshot_page(
            self._history_snapshots,
            ("history", run_id, key),
            page_token,
            max_results,
            lambda: sorted_points(self._store.metric_points(run_id, key)),
        )
        return _metrics(key, points), token

    def get_metric_history_bulk(
        self, run_ids: list[str], key: str | None, max_results: int | None
    ) -> list[MetricWithRunId]:
        """The UI's older bulk history: every point of ``key`` in the runs, by run id, then timestamp, step and value,
        at most ``max_results`` (25,000) in all. Runs are not looked up (an unknown id has no points), and the limit
        is applied as the reference's SQL ``LIMIT`` then slice apply it (a negative one drops points from the end)."""
        validation.validate_history_bulk_request(run_ids, key)
        limit = min(
            validation.MAX_HISTORY_BULK_RESULTS if max_results is None else max_results,
            validation.MAX_HISTORY_BULK_RESULTS,
        )
        found: list[MetricWithRunId] = []
        for run_id in sorted(set(run_ids)):
            if 0 <= limit <= len(found):
                break
            points = sorted_points(self._store.metric_points(run_id, key or ""))
            found.extend(MetricWithRunId(run_id, metric) for metric in _metrics(key or "", points))
        return found[:limit]

    def get_metric_history_bulk_interval(
        self,
        run_ids: list[str],
        key: str,
        max_results: int,
        start_step: int | None,
        end_step: int | None,
    ) -> list[MetricWithRunId]:
        validation.validate_bulk_interval_request(run_ids, key, max_results, start_step, end_step)
        for run_id in run_ids:
            self.get(run_id)
        sampled: list[MetricWithRunId] = []
        for run_id in run_ids:
            points = self._store.metric_points(run_id, key)
            if start_step is not None and end_step is not None:
                points = [p for p in points if start_step <= p[0] <= end_step]
            points = sorted_points(points, by_step=True)
            indices = _evenly_spaced_indices(len(points), max(1, max_results))
            sampled.extend(
                MetricWithRunId(run_id, Metric(key, points[i][2], points[i][1], points[i][0])) for i in indices
            )
        return sampled


def _metrics(key: str, points: list[MetricPoint]) -> list[Metric]:
    return [Metric(key, value, timestamp, step) for step, timestamp, value in points]


def _evenly_spaced_indices(total: int, max_results: int) -> list[int]:
    """MLflow's sampling for charts (the reference's SQL ``NTILE``): the rows fall into ``max_results`` buckets, the
    first ones one row larger; the first row of each bucket is kept, and the last row always ends the sample
    (replacing the last kept one when the sample is full), so ``max_results == 1`` keeps only the last row."""
    if total <= 0:
        return []
    buckets = min(total, max_results)
    size, larger = divmod(total, buckets)
    indices = [bucket * size + min(bucket, larger) for bucket in range(buckets)]
    if indices[-1] != total - 1:
        if len(indices) >= max_results:
            indices[-1] = total - 1
        else:
            indices.append(total - 1)
    return indices


def _check_active(run: Run) -> None:
    if run.info.lifecycle_stage != ACTIVE:
        raise InvalidParameterValue(messages.run_not_active(run.run_id))


def _check_params_unchanged(run: Run, params: list[tuple[str, str]], batch: bool) -> None:
    changed = [(k, run.params[k], v) for k, v in params if k in run.params and run.params[k] != v]
    if changed:
        raise InvalidParameterValue(messages.params_changed(run.run_id, changed, batch=batch))
