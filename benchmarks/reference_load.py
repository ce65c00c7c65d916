"""The reference MLflow store (SQLite) loaded with given runs by SQL: filling 100,000 runs through its REST API would
take hours, and what is compared is reading them.

The schema is the one the reference's own migrations make (``SqlAlchemyStore`` creates it), and each run's rows are
what ``create_run`` then ``log_batch`` would have written: a ``RUNNING`` run of source type ``UNKNOWN`` with its name
also in the ``mlflow.runName`` tag, an artifact URI under ``mlflow-artifacts:/`` (what ``mlflow server
--serve-artifacts`` gives), and each metric in ``metrics`` plus the latest of each key in ``latest_metrics`` (the
table searches read), NaN kept as 0 with ``is_nan`` and infinities as the largest float.
"""

from __future__ import annotations

import itertools
import logging
import sqlite3
import sys
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATABASE = "mlflow.db"
"""The file name ``benchmarks.reference.reference_server`` serves."""
ARTIFACT_ROOT = "mlflow-artifacts:/"
RUN_NAME_TAG = "mlflow.runName"
MAX_FLOAT = sys.float_info.max
CHUNK_RUNS = 10_000
"""Runs whose rows are built and inserted at a time: 100,000 runs' rows at once would hold ~2 million tuples."""

INSERT_RUNS = (
    "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status, start_time, "
    "end_time, source_version, lifecycle_stage, artifact_uri, experiment_id) "
    "VALUES (?, ?, 'UNKNOWN', '', '', '', 'RUNNING', ?, NULL, '', 'active', ?, ?)"
)
INSERT_TAGS = 'INSERT INTO tags ("key", value, run_uuid) VALUES (?, ?, ?)'
INSERT_PARAMS = 'INSERT INTO params ("key", value, run_uuid) VALUES (?, ?, ?)'
INSERT_METRICS = (
    'INSERT OR IGNORE INTO metrics ("key", value, is_nan, timestamp, step, run_uuid) VALUES (?, ?, ?, ?, ?, ?)'
)
INSERT_LATEST = 'INSERT INTO latest_metrics ("key", value, is_nan, timestamp, step, run_uuid) VALUES (?, ?, ?, ?, ?, ?)'


@dataclass(frozen=True)
class ReferenceRun:
    """One run as a client's REST calls made it: runs/create (name, start time, tags), then log-batch."""

    name: str
    start_time: int
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: Sequence[dict[str, Any]] = ()
    """As log-batch carries them: ``key``, ``value``, ``timestamp``, ``step``."""


def create_database(folder: Path, experiment_name: str) -> str:
    """A fresh ``folder/mlflow.db`` with the reference's schema and one experiment, whose id is returned."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore  # mlflow only when a reference is wanted

    for name in ("mlflow", "alembic"):  # a line per migration otherwise
        logging.getLogger(name).setLevel(logging.WARNING)
    store = SqlAlchemyStore(f"sqlite:///{folder / DATABASE}", ARTIFACT_ROOT)
    try:
        return str(store.create_experiment(experiment_name))
    finally:
        store.engine.dispose()


def load_runs(database: Path, experiment_id: str, runs: Iterable[ReferenceRun]) -> int:
    """Insert ``runs`` into ``experiment_id`` in one transaction; returns how many."""
    connection = sqlite3.connect(database)
    loaded, pending = 0, iter(runs)
    try:
        with connection:
            while chunk := list(itertools.islice(pending, CHUNK_RUNS)):
                for statement, rows in zip(
                    (INSERT_RUNS, INSERT_TAGS, INSERT_PARAMS, INSERT_METRICS, INSERT_LATEST),
                    run_rows(chunk, int(experiment_id)),
                    strict=True,
                ):
                    connection.executemany(statement, rows)
                loaded += len(chunk)
    finally:
        connection.close()
    return loaded


def run_rows(runs: Sequence[ReferenceRun], experiment_id: int) -> tuple[list[tuple[Any, ...]], ...]:
    """The rows of ``runs`` for the runs, tags, params, metrics and latest_metrics tables, in that order."""
    run_rows, tags, params, metrics, latest = [], [], [], [], []
    for run in runs:
        run_id = uuid.uuid4().hex
        artifact_uri = f"{ARTIFACT_ROOT}{experiment_id}/{run_id}/artifacts"
        run_rows.append((run_id, run.name, run.start_time, artifact_uri, experiment_id))
        tags.extend((key, value, run_id) for key, value in {RUN_NAME_TAG: run.name, **run.tags}.items())
        params.extend((key, value, run_id) for key, value in run.params.items())
        stored = [(m["key"], *stored_value(float(m["value"])), m["timestamp"], m["step"], run_id) for m in run.metrics]
        metrics.extend(stored)
        latest.extend(latest_by_key(stored))
    return run_rows, tags, params, metrics, latest


def stored_value(value: float) -> tuple[float, int]:
    """``(value, is_nan)`` as SqlAlchemyStore keeps a metric: NaN as 0 with the flag, infinities as the largest
    float."""
    if value != value:
        return 0.0, 1
    return max(-MAX_FLOAT, min(MAX_FLOAT, value)), 0


def latest_by_key(rows: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Of metric rows ``(key, value, is_nan, timestamp, step, run_id)``, the latest of each key as the reference
    chooses it: the highest step, then timestamp, then value."""
    latest: dict[str, tuple[Any, ...]] = {}
    for row in rows:
        key, value, _, timestamp, step, _ = row
        held = latest.get(key)
        if held is None or (step, timestamp, value) > (held[4], held[3], held[1]):
            latest[key] = row
    return list(latest.values())
