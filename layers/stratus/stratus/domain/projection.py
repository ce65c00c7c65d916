"""An experiment's search projection: its runs as columns, so that a filtered or ordered search reads the few columns
its query names instead of every item of every run (docs/search-at-scale.md).

A projection is a set of columns of equal length, one row per run, rows in run id order: the run's id, start time and
lifecycle stage always; its other attributes; and one column per metric (latest value), param and tag key
(``m:<key>``, ``p:<key>``, ``t:<key>``), ``None`` where the run lacks it. A search loads the columns its query reads
and rebuilds *thin* runs from them: runs that carry exactly what the query's predicates and order read, and nothing
else. The domain's own :class:`~stratus.domain.search.runs.RunQuery` then filters and orders them, so the projection
path orders exactly as the full read does by construction; the page's runs are read whole afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from stratus.domain.entities import Dataset, DatasetInput, Metric, Run, RunInfo

RUN_ID, START_TIME, STAGE, DATASETS = "run_id", "start_time", "stage", "datasets"
ATTRIBUTE_COLUMNS = ("run_name", "user_id", "status", "end_time", "artifact_uri")
BASE_COLUMNS = (RUN_ID, START_TIME, STAGE)
METRIC_PREFIX, PARAM_PREFIX, TAG_PREFIX = "m:", "p:", "t:"
CONTEXT_TAG = "mlflow.data.context"

Columns = dict[str, list[Any]]


@dataclass(frozen=True)
class ProjectionManifest:
    """Where an experiment's projection is and how fresh: it holds every run change made before ``watermark`` (epoch
    ms) minus the settle margin; later changes are found through the runs' change markers."""

    experiment_id: str
    version: int
    watermark: int
    run_count: int
    columns: tuple[str, ...]
    location: str
    """Where the store keeps this version's columns (an S3 prefix); opaque to the domain."""


class ThinRun(Run):
    """A run rebuilt from projection columns: enough to filter and order it, not to answer with it."""


def columns_of(runs: Iterable[Run]) -> Columns:
    """Every column of ``runs`` (whole runs, as the store lists them), rows in run id order."""
    ordered = sorted(runs, key=lambda run: run.info.run_id)
    columns: Columns = {
        RUN_ID: [run.info.run_id for run in ordered],
        START_TIME: [run.info.start_time for run in ordered],
        STAGE: [run.info.lifecycle_stage for run in ordered],
        DATASETS: [_datasets(run) for run in ordered],
    }
    for name in ATTRIBUTE_COLUMNS:
        columns[name] = [getattr(run.info, name) for run in ordered]
    for prefix, values in (
        (METRIC_PREFIX, [{k: m.value for k, m in run.metrics.items()} for run in ordered]),
        (PARAM_PREFIX, [run.params for run in ordered]),
        (TAG_PREFIX, [run.tags for run in ordered]),
    ):
        keys = sorted({key for row in values for key in row})
        for key in keys:
            columns[prefix + key] = [row.get(key) for row in values]
    return columns


def replace_rows(columns: Columns, fresh: Sequence[Run], gone: Iterable[str]) -> Columns:
    """``columns`` with the rows of ``fresh`` runs replaced or added and the rows of ``gone`` run ids removed."""
    dropped = set(gone) | {run.info.run_id for run in fresh}
    kept = [i for i, run_id in enumerate(columns.get(RUN_ID, [])) if run_id not in dropped]
    new = columns_of(fresh)
    names = set(columns) | set(new)
    merged: Columns = {}
    fresh_rows = len(new[RUN_ID])
    for name in names:
        old = columns.get(name)
        base = [old[i] for i in kept] if old is not None else [None] * len(kept)
        merged[name] = base + new.get(name, [None] * fresh_rows)
    order = sorted(range(len(merged[RUN_ID])), key=merged[RUN_ID].__getitem__)
    return {name: [values[i] for i in order] for name, values in merged.items()}


def matching_rows(columns: Columns, predicates: Sequence[Callable[[Run], bool]]) -> range | list[int]:
    """The rows of ``columns`` that every one of the query's ``predicates`` accepts, evaluated on a view of each row
    rather than a run built for it: a selective filter then builds runs for the few rows it keeps."""
    rows = range(len(columns[RUN_ID]))
    if not predicates:
        return rows
    view = _RowView(columns)
    kept = []
    for i in rows:
        view.row = i
        if all(predicate(view) for predicate in predicates):  # type: ignore[arg-type]
            kept.append(i)
    return kept


class _Values:
    """``run.metrics`` / ``params`` / ``tags`` of the viewed row: ``get(key)`` as a dict's."""

    __slots__ = ("_columns", "_prefix", "_view", "_metric")

    def __init__(self, view: _RowView, prefix: str) -> None:
        self._view, self._prefix = view, prefix
        self._columns = view.columns
        self._metric = prefix == METRIC_PREFIX

    def get(self, key: str, default: Any = None) -> Any:
        values = self._columns.get(self._prefix + key)
        value = None if values is None else values[self._view.row]
        if value is None:
            return default
        return Metric(key, value, 0, 0) if self._metric else value


class _InfoView:
    __slots__ = ("_view",)

    def __init__(self, view: _RowView) -> None:
        self._view = view

    def __getattr__(self, name: str) -> Any:
        column = {"lifecycle_stage": STAGE}.get(name, name)
        values = self._view.columns.get(column)
        return None if values is None else values[self._view.row]


class _RowView:
    """One row of the columns, seen as a run by the search predicates (which read ``info``, ``metrics``, ``params``,
    ``tags`` and ``dataset_inputs``); ``row`` moves it."""

    def __init__(self, columns: Columns) -> None:
        self.columns = columns
        self.row = 0
        self.info = _InfoView(self)
        self.metrics = _Values(self, METRIC_PREFIX)
        self.params = _Values(self, PARAM_PREFIX)
        self.tags = _Values(self, TAG_PREFIX)

    @property
    def dataset_inputs(self) -> list[DatasetInput]:
        entries = self.columns.get(DATASETS)
        return [_dataset_input(*entry) for entry in (entries[self.row] or [])] if entries else []


def thin_runs(experiment_id: str, columns: Columns, selected: Iterable[int] | None = None) -> list[ThinRun]:
    """The runs of ``columns`` (as loaded for a query: base columns plus what it reads), or of its ``selected``
    rows."""
    rows = len(columns[RUN_ID])
    absent: list[Any] = [None] * rows
    attributes = {name: columns.get(name, absent) for name in ATTRIBUTE_COLUMNS}
    keyed = [
        (kind, name[len(prefix) :], values)
        for name, values in columns.items()
        for kind, prefix in (("m", METRIC_PREFIX), ("p", PARAM_PREFIX), ("t", TAG_PREFIX))
        if name.startswith(prefix)
    ]
    datasets = columns.get(DATASETS)
    runs: list[ThinRun] = []
    for i in range(rows) if selected is None else selected:
        info = RunInfo(
            run_id=columns[RUN_ID][i],
            experiment_id=experiment_id,
            run_name=attributes["run_name"][i] or "",
            user_id=attributes["user_id"][i] or "",
            status=attributes["status"][i] or "",
            start_time=columns[START_TIME][i],
            end_time=attributes["end_time"][i],
            artifact_uri=attributes["artifact_uri"][i] or "",
            lifecycle_stage=columns[STAGE][i],
        )
        run = ThinRun(info=info)
        for kind, key, values in keyed:
            value = values[i]
            if value is None:
                continue
            if kind == "m":
                run.metrics[key] = Metric(key, value, 0, 0)
            elif kind == "p":
                run.params[key] = value
            else:
                run.tags[key] = value
        if datasets is not None and datasets[i]:
            run.dataset_inputs = [_dataset_input(*entry) for entry in datasets[i]]
        runs.append(run)
    return runs


def _datasets(run: Run) -> list[list[str | None]] | None:
    if not run.dataset_inputs:
        return None
    return [[d.dataset.name, d.dataset.digest, d.context] for d in run.dataset_inputs]


def _dataset_input(name: str, digest: str, context: str | None) -> DatasetInput:
    tags = ((CONTEXT_TAG, context),) if context is not None else ()
    return DatasetInput(Dataset(name=name, digest=digest), tags=tags)
