"""Experiments, runs and metric history in DynamoDB. Item shapes: ``items.py``; costs per call: docs/data-model.md."""

from __future__ import annotations

import copy
import hashlib
import json
import random
import struct
import time
import uuid
import zlib
from collections.abc import Collection, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from stratus.domain import messages
from stratus.domain.entities import (
    Dataset,
    DatasetInput,
    DatasetSummary,
    Experiment,
    Metric,
    MetricPoint,
    ModelIO,
    Run,
    RunInfo,
)
from stratus.domain.ports import ExperimentChange, RunChange
from stratus.errors import Conflict, ResourceAlreadyExists, ResourceDoesNotExist, TemporarilyUnavailable
from stratus.store.dynamodb.batch import batch_put
from stratus.store.dynamodb.errors import is_condition_failure, is_transaction_conflict, translated, written
from stratus.store.dynamodb.items import (
    DATA_SHARDS,
    ChangeMarkerItem,
    CounterItem,
    DatasetItem,
    DatasetSummaryItem,
    ExperimentItem,
    ExperimentNameItem,
    ExperimentOrderItem,
    MetricChunkItem,
    RunDataItem,
    RunInfoItem,
    RunItem,
    RunOrderItem,
    RunPointerItem,
    StratusItem,
    ValueItem,
    sort_key_prefix,
)

LONG_VALUE_BYTES = 1024
_TRANSACTION_ITEMS = 100  # AWS's limit per TransactWriteItems
_BATCH_ITEMS = 25  # AWS's limit per BatchWriteItem
_RIDING_CHUNK_BYTES = 256 * 1024  # history that may join a run's transaction (limit: 4 MB per transaction)
_PARALLEL_WRITES = 8
_PARALLEL_READS = 8
_RUNS_END = "R#\x7f"  # after every run item's sort key (run ids are hex)
_ORDER_MARKER = "T#"  # RunOrderItem: the experiment's run order items are complete
_ORDER_END = "T#\x7f"
_ORDER_BATCH = 500
_BATCH_GET_KEYS = 100  # AWS's limit per BatchGetItem
_NEWEST_KEY_BASE = 2**63 - 1
_EXPERIMENT_ORDER = "EXPORDER"  # ExperimentOrderItem's partition
_EXPERIMENT_ORDER_MARKER = "#"
_CREATED, _UPDATED = "C#", "U#"
_EXPERIMENT_CHUNK = 50
_MARKER_PREFIX = "C#"  # ChangeMarkerItem
_MARKER_END = "C#\x7f"
_MARKER_TTL_S = 86_400
MARKER_COALESCE_MS = 10_000
_MARKED_RUNS_KEPT = 10_000


def _grouped(items: Iterable[dict[str, Any]]) -> tuple[dict[str, _StoredInfo], dict[str, list[_StoredShard]]]:
    """Raw run items (info and data shards, any order) grouped by run id."""
    infos: dict[str, _StoredInfo] = {}
    shards: dict[str, list[_StoredShard]] = {}
    for raw in items:
        run_id = raw["sk"]["S"].split("#", 2)[1]
        if raw["kind"]["S"] == "info":
            infos[run_id] = _StoredInfo.of_raw(raw)
        else:
            shards.setdefault(run_id, []).append(_StoredShard.of_raw(raw))
    return infos, shards


def _order_key(start_time: int, run_id: str) -> str:
    """``T#<2**63 - 1 - start_time in 20 digits>#<run_id>``: ascending keys are start_time DESC, then run_id ASC (any
    int64 start time gives a number from 0 to 2**64 - 1)."""
    return f"{_ORDER_MARKER}{_NEWEST_KEY_BASE - start_time:020d}#{run_id}"


_RUN_RANGE_BOUNDS = [f"R#{digit}" for digit in "123456789abcdef"]
_COMPACT_JSON: dict[str, Any] = {"ensure_ascii": False, "separators": (",", ":")}
MAX_ATTEMPTS = 12
_RACE_BACKOFF_BASE_S = 0.005
_RACE_BACKOFF_CAP_S = 0.5
_POINT = struct.Struct("<qqd")
_POINTS_PER_CHUNK = 12_000  # 288 KB, under the 400 KB item limit


def _run_prefix(run_id: str) -> str:
    return f"R#{run_id}#"


def shard_of(kind: str, key: str) -> int:
    """Stable shard of a param ('p'), tag ('t') or metric ('m') key."""
    return zlib.crc32(f"{kind}:{key}".encode()) % DATA_SHARDS


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass
class _Shard:
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    long_params: dict[str, str] = field(default_factory=dict)
    long_tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, list[object]] = field(default_factory=dict)

    def is_empty(self) -> bool:
        return not (self.params or self.tags or self.long_params or self.long_tags or self.metrics)


@dataclass
class _Snapshot:
    """A run as read, with the versions its items had: what an optimistic write is conditioned on."""

    run: Run
    info_version: int
    shard_versions: dict[int, int]
    long_values: dict[str, str]


class DynamoTrackingStore:
    """``TrackingStore`` on the single Stratus table."""

    def __init__(self) -> None:
        self._experiment_of_run: dict[str, str] = {}
        self._marked: dict[str, int] = {}  # run id -> when this container last put its change marker

    # ---------------------------------------------------------------- experiments

    def next_experiment_id(self) -> str:
        with translated():
            counter = CounterItem(pk="COUNTER", sk="experiment")
            counter.update(actions=[CounterItem.value.add(1)])
        return str(int(counter.value))

    def insert_experiment(self, experiment: Experiment) -> None:
        item = _experiment_item(experiment)
        claim = ExperimentNameItem(pk=f"EXPNAME#{experiment.name}", sk="#", experiment_id=experiment.experiment_id)
        # The Default experiment of a table no other experiment was created in yet (no id counter) says that every
        # experiment has its order items: this code writes them for each one it creates.
        first = experiment.experiment_id == "0" and not self._counter_exists()
        try:
            with translated(), TransactWrite(connection=StratusItem._get_connection().connection) as tx:
                tx.save(claim, condition=ExperimentNameItem.pk.does_not_exist())
                tx.save(item, condition=ExperimentItem.pk.does_not_exist())
                tx.save(RunOrderItem(pk=f"EXP#{experiment.experiment_id}", sk=_ORDER_MARKER))
                tx.save(_experiment_order(_CREATED, experiment.creation_time, experiment.experiment_id))
                tx.save(_experiment_order(_UPDATED, experiment.last_update_time, experiment.experiment_id))
                if first:
                    tx.save(ExperimentOrderItem(pk=_EXPERIMENT_ORDER, sk=_EXPERIMENT_ORDER_MARKER))
        except TransactWriteError as exc:
            if is_condition_failure(exc):
                raise ResourceAlreadyExists(messages.experiment_already_exists(experiment.name)) from exc
            raise

    def get_experiment(self, experiment_id: str) -> Experiment | None:
        with translated():
            try:
                item = ExperimentItem.get("EXPERIMENTS", f"E#{experiment_id}", consistent_read=True)
            except DoesNotExist:
                return None
        return _experiment(item)

    def get_experiment_id_by_name(self, name: str) -> str | None:
        with translated():
            try:
                claim = ExperimentNameItem.get(f"EXPNAME#{name}", "#", consistent_read=True)
            except DoesNotExist:
                return None
        return claim.experiment_id

    def list_experiments(self) -> list[Experiment]:
        """Every experiment, read raw (DynamoDB JSON): with 10,000 experiments, pynamodb's model and map decoding
        were most of an experiments/search's CPU (docs/search-at-scale.md)."""
        return [_experiment_of_raw(raw) for raw in _raw_items("EXPERIMENTS")]

    @staticmethod
    def _counter_exists() -> bool:
        with translated():
            try:
                CounterItem.get("COUNTER", "experiment", consistent_read=True, attributes_to_get=["pk"])
            except DoesNotExist:
                return False
        return True

    def experiments_newest_first(self, by: str) -> Iterator[list[Experiment]] | None:
        connection = ExperimentOrderItem._get_connection()  # noqa: SLF001 - pynamodb's own way to the table's connection
        prefix = _CREATED if by == "creation_time" else _UPDATED
        with translated():
            marker = connection.get_item(_EXPERIMENT_ORDER, _EXPERIMENT_ORDER_MARKER, consistent_read=True)
        if "Item" not in marker:
            return None
        return self._experiments_in_order(prefix)

    def _experiments_in_order(self, prefix: str) -> Iterator[list[Experiment]]:
        """Chunks of experiments in the order of the ``prefix`` range: a Query of keys (consistent), then the
        experiments by BatchGetItem; chunks double from 50 keys to 1,000, since most searches want a page."""
        connection = ExperimentOrderItem._get_connection()  # noqa: SLF001
        condition = ExperimentOrderItem.sk.between(prefix, f"{prefix}\x7f")
        start: dict[str, Any] | None = None
        limit = _EXPERIMENT_CHUNK
        while True:
            with translated():
                page = connection.query(
                    _EXPERIMENT_ORDER, condition, consistent_read=True, exclusive_start_key=start, limit=limit
                )
            ids = [str(int(raw["sk"]["S"].rsplit("#", 1)[1])) for raw in page.get("Items", ())]
            if ids:
                yield self._experiments_by_id(ids)
            start = page.get("LastEvaluatedKey")
            if not start:
                return
            limit = min(limit * 2, _ORDER_BATCH * 2)

    @staticmethod
    def _experiments_by_id(experiment_ids: list[str]) -> list[Experiment]:
        """The experiments, in the order given (a missing one is left out)."""
        keys = [{"pk": {"S": "EXPERIMENTS"}, "sk": {"S": f"E#{e}"}} for e in experiment_ids]
        found = {e.experiment_id: e for e in map(_experiment_of_raw, _batch_get_raw(keys))}
        return [found[e] for e in experiment_ids if e in found]

    def modify_experiment(self, experiment_id: str, change: ExperimentChange) -> Experiment:
        for _attempt in range(MAX_ATTEMPTS):
            with translated():
                try:
                    item = ExperimentItem.get("EXPERIMENTS", f"E#{experiment_id}", consistent_read=True)
                except DoesNotExist as exc:
                    raise ResourceDoesNotExist(messages.experiment_not_found(experiment_id)) from exc
            before = _experiment(item)
            after = copy.deepcopy(before)
            change(after)
            if after == before:
                return after
            if self._write_experiment(item, before, after):
                return after
        raise Conflict(f"Experiment {experiment_id} was changed concurrently too many times; retry.")

    def _write_experiment(self, item: ExperimentItem, before: Experiment, after: Experiment) -> bool:
        new_item = _experiment_item(after, version=int(item.version) + 1)
        unchanged = ExperimentItem.version == item.version
        moved = after.last_update_time != before.last_update_time
        try:
            with translated():
                if after.name == before.name and not moved:
                    new_item.save(condition=unchanged)
                    return True
                with TransactWrite(connection=StratusItem._get_connection().connection) as tx:
                    if after.name != before.name:
                        old = ExperimentNameItem(pk=f"EXPNAME#{before.name}", sk="#")
                        tx.delete(old, condition=ExperimentNameItem.experiment_id == before.experiment_id)
                        claim = ExperimentNameItem(
                            pk=f"EXPNAME#{after.name}", sk="#", experiment_id=after.experiment_id
                        )
                        tx.save(claim, condition=ExperimentNameItem.pk.does_not_exist())
                    if moved:
                        tx.delete(_experiment_order(_UPDATED, before.last_update_time, before.experiment_id))
                        tx.save(_experiment_order(_UPDATED, after.last_update_time, after.experiment_id))
                    tx.save(new_item, condition=unchanged)
                return True
        except (PutError, TransactWriteError) as exc:
            if not is_condition_failure(exc):
                raise
            if after.name != before.name and self.get_experiment_id_by_name(after.name) is not None:
                raise ResourceAlreadyExists(messages.experiment_already_exists(after.name)) from exc
            return False

    # ---------------------------------------------------------------- runs

    def insert_run(self, run: Run) -> None:
        exp = run.info.experiment_id
        shards = _shards_of(run)
        marked = _now_ms()
        with translated():
            self._put_long_values(run.run_id, shards.values(), {})
            with TransactWrite(connection=StratusItem._get_connection().connection) as tx:
                pointer = RunPointerItem(pk=f"RUN#{run.run_id}", sk="#RUN", experiment_id=exp)
                tx.save(pointer, condition=RunPointerItem.pk.does_not_exist())
                tx.save(_info_item(run, version=1))
                tx.save(RunOrderItem(pk=f"EXP#{exp}", sk=_order_key(run.info.start_time, run.run_id)))
                tx.save(_marker(exp, run.run_id, marked))
                for n, shard in shards.items():
                    tx.save(_data_item(exp, run.run_id, n, shard, version=1))
        self._experiment_of_run[run.run_id] = exp
        self._remember_marked([run.run_id], marked)  # the first log-batch, seconds later, needs no marker of its own

    def get_run(self, run_id: str) -> Run | None:
        snapshot = self._load(run_id)
        return snapshot.run if snapshot else None

    def get_run_info(self, run_id: str) -> RunInfo | None:
        experiment_id = self._experiment_id_of(run_id)
        if experiment_id is None:
            return None
        with translated():
            try:
                item = RunInfoItem.get(f"EXP#{experiment_id}", f"{_run_prefix(run_id)}I", consistent_read=True)
            except DoesNotExist:
                return None
        return _run_info(_StoredInfo.of(item))

    def list_runs(self, experiment_id: str) -> list[Run]:
        with translated():
            infos, shards = _grouped(self._run_items(f"EXP#{experiment_id}"))
        return self._assemble_runs(list(infos), infos, shards)

    def _assemble_runs(
        self, run_ids: list[str], infos: dict[str, _StoredInfo], shards: dict[str, list[_StoredShard]]
    ) -> list[Run]:
        """The runs of ``run_ids`` that have an info item, in that order, from their raw items; a value over
        LONG_VALUE_BYTES is read from its own item."""
        runs = []
        for run_id in run_ids:
            if run_id not in infos:
                continue
            run, _versions = _assemble(infos[run_id], shards.get(run_id, []))
            refs = _long_refs(shards.get(run_id, []))
            if refs:
                _resolve_long_values(run, shards[run_id], self._get_long_values(run_id, refs))
            runs.append(run)
        return runs

    @staticmethod
    def _run_items(partition: str) -> Iterator[dict[str, Any]]:
        """Every run item of an experiment, raw (DynamoDB JSON, in sort-key order): a search reads thousands of data
        shards, and skipping pynamodb's model for them halves its CPU. An experiment bigger than one 1 MB page is
        read in up to 16 sort-key ranges at once, split on the first hex digit of the run ids that follow the first
        page: a small experiment costs one request, a big one waits for DynamoDB once per range, not once per page."""
        connection = RunItem._get_connection()  # noqa: SLF001 - pynamodb's own way to the table's connection
        first = connection.query(partition, RunItem.sk.between("R#", _RUNS_END), consistent_read=True)
        yield from first.get("Items", ())
        last = first.get("LastEvaluatedKey")
        if not last:
            return
        after = last["sk"]["S"]
        bounds = [after, *(b for b in _RUN_RANGE_BOUNDS if b > after), _RUNS_END]
        ranges = [(bounds[i], bounds[i + 1], last if i == 0 else None) for i in range(len(bounds) - 1)]

        def read(lower: str, upper: str, start: dict[str, Any] | None) -> list[dict[str, Any]]:
            return list(_raw_items(partition, RunItem.sk.between(lower, upper), start))

        with ThreadPoolExecutor(max_workers=_PARALLEL_READS) as pool:
            for items in pool.map(lambda r: read(*r), ranges):
                yield from items

    def runs_newest_first(
        self, experiment_id: str, stages: Collection[str], start: int, count: int
    ) -> list[Run] | None:
        """Up to ``count`` runs in ``stages`` from the ``start``-th on, newest first, from the run order items: reads
        about ``start + count`` small keys and stages, then ``count`` runs, whatever the experiment's size. None where
        a full read is as good: an experiment without the order marker, or one of at most ``start + count + 1`` runs
        (one Query reads it whole)."""
        connection = RunOrderItem._get_connection()  # noqa: SLF001 - pynamodb's own way to the table's connection
        partition = f"EXP#{experiment_id}"
        wanted = start + count
        condition = RunOrderItem.sk.between(_ORDER_MARKER, _ORDER_END)
        with translated():
            page = connection.query(partition, condition, consistent_read=True, limit=wanted + 2)
        keys = [raw["sk"]["S"] for raw in page.get("Items", ())]
        if not keys or keys[0] != _ORDER_MARKER or "LastEvaluatedKey" not in page:
            return None
        visible: list[str] = []
        keys, last = keys[1:], page["LastEvaluatedKey"]
        while True:
            visible.extend(self._in_stages(partition, [k.rsplit("#", 1)[1] for k in keys], stages))
            if len(visible) >= wanted or last is None:
                break
            with translated():
                page = connection.query(
                    partition, condition, consistent_read=True, exclusive_start_key=last, limit=_ORDER_BATCH
                )
            keys, last = [raw["sk"]["S"] for raw in page.get("Items", ())], page.get("LastEvaluatedKey")
        return self._runs_by_id(partition, visible[start:wanted])

    def get_runs(self, experiment_id: str, run_ids: Collection[str]) -> list[Run]:
        return self._runs_by_id(f"EXP#{experiment_id}", sorted(run_ids))

    def changed_run_ids(self, experiment_id: str, since: int) -> set[str]:
        """The run ids of the experiment's change markers from ``since`` on (consistent Query of their keys)."""
        condition = ChangeMarkerItem.sk.between(f"{_MARKER_PREFIX}{max(since, 0):013d}", _MARKER_END)
        return {raw["sk"]["S"].rsplit("#", 1)[1] for raw in _raw_items(f"EXP#{experiment_id}", condition)}

    def newest_change(self, experiment_id: str) -> int | None:
        """1 Query of the experiment's markers, newest first, 1 key (a marker's sort key holds its time)."""
        connection = ChangeMarkerItem._get_connection()  # noqa: SLF001 - pynamodb's own way to the table's connection
        condition = ChangeMarkerItem.sk.between(_MARKER_PREFIX, _MARKER_END)
        with translated():
            page = connection.query(
                f"EXP#{experiment_id}",
                condition,
                consistent_read=True,
                scan_index_forward=False,
                limit=1,
                attributes_to_get=["sk"],
            )
        items = page.get("Items", ())
        return int(items[0]["sk"]["S"][len(_MARKER_PREFIX) :].split("#", 1)[0]) if items else None

    def has_runs(self, experiment_id: str, count: int) -> bool:
        """Counts run order items (69 bytes each), the ``T#`` marker first; without it the experiment's are not
        complete, so False."""
        connection = RunOrderItem._get_connection()  # noqa: SLF001 - pynamodb's own way to the table's connection
        condition = RunOrderItem.sk.between(_ORDER_MARKER, _ORDER_END)
        keys: list[str] = []
        start: dict[str, Any] | None = None
        while len(keys) <= count:
            with translated():
                page = connection.query(
                    f"EXP#{experiment_id}",
                    condition,
                    exclusive_start_key=start,
                    limit=count + 1 - len(keys),
                    attributes_to_get=["sk"],
                )
            keys.extend(raw["sk"]["S"] for raw in page.get("Items", ()))
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        return bool(keys) and keys[0] == _ORDER_MARKER and len(keys) > count

    def _mark_changed(self, experiment_id: str, run_ids: list[str]) -> None:
        """Put a change marker for each run about to be written, unless this container put one for it less than
        MARKER_COALESCE_MS ago (docs/search-at-scale.md, section 6: still exact, as the coalescing window plus a write's
        longest duration is under the projections' settle margin)."""
        now = _now_ms()
        due = [r for r in run_ids if now - self._marked.get(r, -MARKER_COALESCE_MS) >= MARKER_COALESCE_MS]
        if not due:
            return
        with translated():
            if len(due) == 1:
                _marker(experiment_id, due[0], now).save()
            else:
                batch_put([_marker(experiment_id, run_id, now) for run_id in due])
        self._remember_marked(due, now)

    def _remember_marked(self, run_ids: list[str], at_ms: int) -> None:
        if len(self._marked) > _MARKED_RUNS_KEPT:
            self._marked.clear()
        self._marked.update(dict.fromkeys(run_ids, at_ms))

    def _runs_by_id(self, partition: str, run_ids: list[str]) -> list[Run]:
        """The runs, in the order given, shaped as ``list_runs`` shapes them: their info and data items by
        BatchGetItem (``1 + DATA_SHARDS`` keys a run), raw."""
        suffixes = ("I", *(f"D{n}" for n in range(DATA_SHARDS)))
        keys = [{"pk": {"S": partition}, "sk": {"S": f"{_run_prefix(r)}{x}"}} for r in run_ids for x in suffixes]
        infos, shards = _grouped(_batch_get_raw(keys))
        return self._assemble_runs(run_ids, infos, shards)

    @staticmethod
    def _in_stages(partition: str, run_ids: list[str], stages: Collection[str]) -> list[str]:
        """The runs of ``run_ids`` whose lifecycle stage is in ``stages``, in the order given (BatchGetItem of their
        info items' stage, 100 keys a request)."""
        stage_of: dict[str, str] = {}
        keys = [(partition, f"{_run_prefix(run_id)}I") for run_id in run_ids]
        with translated():
            for item in RunInfoItem.batch_get(
                keys, consistent_read=True, attributes_to_get=["pk", "sk", "kind", "lifecycle_stage"]
            ):
                stage_of[item.sk.split("#", 2)[1]] = item.lifecycle_stage
        return [run_id for run_id in run_ids if stage_of.get(run_id) in stages]

    def modify_run(self, run_id: str, change: RunChange, history: Iterable[Metric] = ()) -> Run:
        chunks = _history_chunks(run_id, history)
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                _back_off(attempt)
            snapshot = self._load(run_id, with_datasets=False)
            if snapshot is None:
                raise ResourceDoesNotExist(messages.run_not_found(run_id))
            if not attempt:
                self._mark_changed(snapshot.run.info.experiment_id, [run_id])
            after = copy.deepcopy(snapshot.run)
            change(after)
            written = self._write_run(snapshot, after, chunks)
            if written is not None:
                self._write_chunks(chunks[written:])
                return after
        # As MLflow's SQL store answers a deadlock it could not retry away: the client retries a 503 with backoff.
        raise TemporarilyUnavailable(f"Run {run_id} is being changed by many writers at once; retry with backoff.")

    def run_stage(self, run_id: str) -> tuple[str, str] | None:
        experiment_id = self._experiment_id_of(run_id)
        if experiment_id is None:
            return None
        with translated():
            try:
                info = RunInfoItem.get(
                    f"EXP#{experiment_id}",
                    f"{_run_prefix(run_id)}I",
                    consistent_read=True,
                    attributes_to_get=["pk", "sk", "kind", "lifecycle_stage"],
                )
            except DoesNotExist:
                return None
        return experiment_id, info.lifecycle_stage

    def run_stages(self, experiment_id: str) -> dict[str, str]:
        with translated():
            infos = RunItem.query(
                f"EXP#{experiment_id}",
                RunItem.sk.startswith("R#"),
                filter_condition=RunItem.kind == RunInfoItem,
                attributes_to_get=["pk", "sk", "kind", "lifecycle_stage"],
                consistent_read=True,
            )
            return {item.sk.split("#", 2)[1]: item.lifecycle_stage for item in infos}  # type: ignore[attr-defined]

    def set_run_stages(self, experiment_id: str, run_ids: list[str], stage: str) -> None:
        """Transactions of up to 100 updates. Each bumps the run's version, so a writer that read the run before
        this change fails its condition, re-reads and sees the new stage."""
        chunks = [run_ids[i : i + _TRANSACTION_ITEMS] for i in range(0, len(run_ids), _TRANSACTION_ITEMS)]
        self._mark_changed(experiment_id, run_ids)

        def write(chunk: list[str]) -> None:
            with translated(), TransactWrite(connection=StratusItem._get_connection().connection) as tx:
                for run_id in chunk:
                    item = RunInfoItem(pk=f"EXP#{experiment_id}", sk=f"{_run_prefix(run_id)}I")
                    tx.update(
                        item,
                        actions=[RunInfoItem.lifecycle_stage.set(stage), RunInfoItem.version.add(1)],
                        condition=RunInfoItem.pk.exists(),
                    )

        with ThreadPoolExecutor(max_workers=_PARALLEL_WRITES) as pool:
            list(pool.map(write, chunks))

    def append_metric_history(self, run_id: str, metrics: Iterable[Metric]) -> None:
        self._write_chunks(_history_chunks(run_id, metrics))

    @staticmethod
    def _write_chunks(chunks: list[MetricChunkItem]) -> None:
        with translated():
            batch_put(chunks)

    def metric_points(self, run_id: str, key: str) -> list[MetricPoint]:
        points: set[MetricPoint] = set()
        with translated():
            chunks = MetricChunkItem.query(f"RUN#{run_id}", sort_key_prefix(MetricChunkItem.sk, f"H#{key}#"))
            for chunk in chunks:
                points.update(_POINT.iter_unpack(chunk.points))
        # NaN != NaN, so the set kept every NaN point: merge those by (step, timestamp)
        nan_points = {(step, timestamp) for step, timestamp, value in points if value != value}
        if not nan_points:
            return list(points)
        nan = float("nan")
        return [p for p in points if p[2] == p[2]] + [(step, timestamp, nan) for step, timestamp in nan_points]

    def add_dataset_inputs(self, run_id: str, inputs: list[DatasetInput]) -> None:
        items: dict[str, DatasetItem] = {}
        for dataset_input in inputs:
            d = dataset_input.dataset
            sk = f"DS#{d.name}#{d.digest}"
            items.setdefault(
                sk,
                DatasetItem(
                    pk=f"RUN#{run_id}",
                    sk=sk,
                    name=d.name,
                    digest=d.digest,
                    source_type=d.source_type,
                    source=d.source,
                    schema=d.schema,
                    profile=d.profile,
                    tags=[[k, v] for k, v in dataset_input.tags],
                ),
            )
        with translated():
            batch_put(list(items.values()))
        experiment_id = self._experiment_id_of(run_id)
        if experiment_id is not None:
            _put_dataset_summaries(experiment_id, inputs)

    def dataset_summaries(self, experiment_id: str) -> list[DatasetSummary]:
        with translated():
            items = list(
                DatasetSummaryItem.query(
                    f"EXP#{experiment_id}", sort_key_prefix(DatasetSummaryItem.sk, "DS#"), consistent_read=True
                )
            )
        items.sort(key=lambda item: (int(item.first_logged), item.sk))
        return [DatasetSummary(experiment_id, item.name, item.digest, item.context) for item in items]

    def fill_dataset_inputs(self, runs: list[Run]) -> None:
        wanted = [
            (run, (f"RUN#{run.run_id}", f"DS#{d.dataset.name}#{d.dataset.digest}"))
            for run in runs
            for d in run.dataset_inputs
        ]
        if not wanted:
            return
        found: dict[tuple[str, str], DatasetItem] = {}
        with translated():
            for item in DatasetItem.batch_get([key for _, key in wanted], consistent_read=True):
                found[(item.pk, item.sk)] = item
        for run in runs:
            run.dataset_inputs = []
        for run, key in wanted:
            item = found.get(key)
            if item is not None:
                dataset = Dataset(item.name, item.digest, item.source_type, item.source, item.schema, item.profile)
                run.dataset_inputs.append(DatasetInput(dataset, tuple((k, v) for k, v in item.tags)))

    # ---------------------------------------------------------------- internals

    def _experiment_id_of(self, run_id: str) -> str | None:
        cached = self._experiment_of_run.get(run_id)
        if cached is not None:
            return cached
        with translated():
            try:
                pointer = RunPointerItem.get(f"RUN#{run_id}", "#RUN", consistent_read=True)
            except DoesNotExist:
                return None
        self._experiment_of_run[run_id] = pointer.experiment_id
        return pointer.experiment_id

    def _load(self, run_id: str, with_datasets: bool = True) -> _Snapshot | None:
        exp = self._experiment_id_of(run_id)
        if exp is None:
            return None
        info: _StoredInfo | None = None
        shard_items: list[_StoredShard] = []
        with translated():
            run_items = sort_key_prefix(RunItem.sk, _run_prefix(run_id))
            for item in RunItem.query(f"EXP#{exp}", run_items, consistent_read=True):
                if isinstance(item, RunInfoItem):
                    info = _StoredInfo.of(item)
                else:
                    shard_items.append(_StoredShard.of(item))  # type: ignore[arg-type]
        if info is None:
            return None
        run, versions = _assemble(info, shard_items)
        refs = _long_refs(shard_items)
        long_values = self._get_long_values(run_id, refs) if refs else {}
        _resolve_long_values(run, shard_items, long_values)
        if with_datasets and info.body.get("ds"):
            run.dataset_inputs = self._get_dataset_inputs(run_id, info.body["ds"])
        return _Snapshot(run, info.version, versions, long_values)

    def _get_long_values(self, run_id: str, shas: set[str]) -> dict[str, str]:
        with translated():
            keys = [(f"RUN#{run_id}", f"V#{sha}") for sha in shas]
            return {item.sk[2:]: item.value for item in ValueItem.batch_get(keys, consistent_read=True)}

    def _get_dataset_inputs(self, run_id: str, summaries: list[list[str]]) -> list[DatasetInput]:
        with translated():
            items = {i.sk: i for i in DatasetItem.query(f"RUN#{run_id}", DatasetItem.sk.startswith("DS#"))}
        inputs = []
        for name, digest, _context in summaries:
            item = items.get(f"DS#{name}#{digest}")
            if item is None:
                continue
            dataset = Dataset(item.name, item.digest, item.source_type, item.source, item.schema, item.profile)
            inputs.append(DatasetInput(dataset, tuple((k, v) for k, v in item.tags)))
        return inputs

    def _put_long_values(self, run_id: str, shards: Iterable[_Shard], known: dict[str, str]) -> None:
        values: dict[str, str] = {}
        for shard in shards:
            for mapping, long_map in ((shard.params, shard.long_params), (shard.tags, shard.long_tags)):
                for key, sha in long_map.items():
                    if sha not in known:
                        values[sha] = mapping.pop(f"\0{key}")
        batch_put([ValueItem(pk=f"RUN#{run_id}", sk=f"V#{sha}", value=value) for sha, value in values.items()])

    def _write_run(self, snapshot: _Snapshot, after: Run, chunks: list[MetricChunkItem]) -> int | None:
        """Write what changed, conditioned on the versions read; None if a concurrent writer won. When the write is a
        transaction anyway, the history chunks that would fill a last, partial BatchWriteItem ride in it (atomic
        with the latest values, one request fewer); returns how many of ``chunks`` were written."""
        before = snapshot.run
        exp, run_id = before.info.experiment_id, before.run_id
        old_shards, new_shards = _shards_of(before), _shards_of(after)
        changed = [n for n in range(DATA_SHARDS) if _visible(old_shards.get(n)) != _visible(new_shards.get(n))]
        info_changed = _info_fields(before) != _info_fields(after)
        if not changed and not info_changed:
            return 0
        writes: list[tuple[StratusItem, object]] = []
        if info_changed:
            item = _info_item(after, version=snapshot.info_version + 1)
            writes.append((item, RunInfoItem.version == snapshot.info_version))
        for n in changed:
            version = snapshot.shard_versions.get(n)
            shard = new_shards.get(n) or _Shard()
            item = _data_item(exp, run_id, n, shard, version=(version or 0) + 1)
            cond = RunDataItem.pk.does_not_exist() if version is None else RunDataItem.version == version
            writes.append((item, cond))
        riding = _chunks_in_transaction(len(writes), chunks)
        with translated():
            self._put_long_values(run_id, [new_shards[n] for n in changed if n in new_shards], snapshot.long_values)
            try:
                if len(writes) == 1:
                    item, cond = writes[0]
                    item.save(condition=cond)  # type: ignore[arg-type]
                else:
                    with TransactWrite(connection=StratusItem._get_connection().connection) as tx:
                        for item, cond in writes:
                            tx.save(item, condition=cond)  # type: ignore[arg-type]
                        for chunk in chunks[:riding]:
                            tx.save(chunk)
            except (PutError, UpdateError, TransactWriteError) as exc:
                # A transaction conflict wrote nothing, like a lost race: recompute on a fresh read.
                if is_condition_failure(exc) or is_transaction_conflict(exc):
                    return None
                raise
        return riding


def _raw_items(partition: str, condition: Any = None, start: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Every item of ``partition`` (within the sort-key ``condition``), raw (DynamoDB JSON), read consistently page
    after page from ``start`` on: no pynamodb model, whose decoding is most of the CPU of reading thousands."""
    connection = StratusItem._get_connection()  # noqa: SLF001 - pynamodb's own way to the table's connection
    while True:
        with translated():
            page = connection.query(partition, condition, consistent_read=True, exclusive_start_key=start)
        yield from page.get("Items", ())
        start = page.get("LastEvaluatedKey")
        if not start:
            return


def _batch_get_raw(keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items of ``keys`` (table keys, DynamoDB JSON) that exist, raw, read consistently by BatchGetItem: 100 keys
    a request, the requests side by side, unprocessed keys sent again with backoff."""
    client = StratusItem._get_connection().connection.client  # noqa: SLF001 - pynamodb's own botocore client
    table = StratusItem.Meta.table_name

    def read(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {table: {"Keys": batch, "ConsistentRead": True}}
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                _back_off(attempt)
            with translated():
                answer = client.batch_get_item(RequestItems=request)
            items.extend(answer.get("Responses", {}).get(table, ()))
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                return items
        raise TemporarilyUnavailable("DynamoDB left keys of a batch read unprocessed; retry with backoff.")

    batches = [keys[i : i + _BATCH_GET_KEYS] for i in range(0, len(keys), _BATCH_GET_KEYS)]
    if len(batches) == 1:
        return read(batches[0])
    with ThreadPoolExecutor(max_workers=_PARALLEL_READS) as pool:
        return [raw for items in pool.map(read, batches) for raw in items]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _marker(experiment_id: str, run_id: str, at_ms: int) -> ChangeMarkerItem:
    return ChangeMarkerItem(
        pk=f"EXP#{experiment_id}", sk=f"{_MARKER_PREFIX}{at_ms:013d}#{run_id}", ttl=at_ms // 1000 + _MARKER_TTL_S
    )


def _back_off(attempt: int) -> None:
    """Wait before re-reading a run another writer changed: full jitter, so that writers racing for one run spread
    out instead of colliding again (at most ~3 s over all attempts)."""
    time.sleep(random.uniform(0, min(_RACE_BACKOFF_CAP_S, _RACE_BACKOFF_BASE_S * 2**attempt)))  # noqa: S311 - jitter


# -------------------------------------------------------------------- order items of older data (migration 3)
# What ``insert_experiment`` and ``insert_run`` write, written for experiments and runs created before those items
# existed (``migrations.search_order`` drives these a page at a time). Every put is conditional on the item being
# absent, so a step repeated, or run by two upgraders at once, writes nothing more.


def experiments_after(after: str | None, count: int) -> list[Experiment]:
    """Up to ``count`` experiments in the ``EXPERIMENTS`` partition's order (by sort key, ``E#<id>``), after the
    experiment ``after`` (None: from the first)."""
    connection = ExperimentItem._get_connection()  # noqa: SLF001 - pynamodb's own way to the table's connection
    start = None if after is None else {"pk": {"S": "EXPERIMENTS"}, "sk": {"S": f"E#{after}"}}
    with translated():
        page = connection.query("EXPERIMENTS", None, consistent_read=True, limit=count, exclusive_start_key=start)
    return [_experiment_of_raw(raw) for raw in page.get("Items", ())]


def backfill_experiment_order(experiment: Experiment) -> None:
    """Put the experiment's missing ``C#`` and ``U#`` items. The ``U#`` item depends on the last update time, which a
    change moves in its own transaction (deleting the item of the time before), so the puts are conditioned on the
    experiment still having the time read: an experiment changed meanwhile (renamed, deleted, restored) is read
    again, and never keeps an item of a time it no longer has."""
    for attempt in range(MAX_ATTEMPTS):
        if attempt:
            _back_off(attempt)
        wanted = [
            _experiment_order(_CREATED, experiment.creation_time, experiment.experiment_id),
            _experiment_order(_UPDATED, experiment.last_update_time, experiment.experiment_id),
        ]
        missing = _missing(wanted)
        if not missing:
            return
        if _put_experiment_order(experiment, missing):
            return
        current = DynamoTrackingStore().get_experiment(experiment.experiment_id)
        if current is None:  # experiments are never removed; nothing to order if one were
            return
        experiment = current
    raise TemporarilyUnavailable(f"Experiment {experiment.experiment_id} kept changing during the upgrade; retry.")


def _put_experiment_order(experiment: Experiment, missing: list[StratusItem]) -> bool:
    """One transaction: the experiment's last update time as read, and each missing item still absent; False when
    either no longer holds (or another transaction held an item), so that the caller reads again."""
    same_time = ExperimentItem.last_update_time == experiment.last_update_time
    with translated():
        try:
            with TransactWrite(connection=StratusItem._get_connection().connection) as tx:
                tx.condition_check(ExperimentItem, "EXPERIMENTS", f"E#{experiment.experiment_id}", condition=same_time)
                for item in missing:
                    tx.save(item, condition=ExperimentOrderItem.pk.does_not_exist())
        except TransactWriteError as exc:
            if is_condition_failure(exc) or is_transaction_conflict(exc):
                return False
            raise
    return True


def complete_experiment_order() -> None:
    """The ``EXPORDER`` marker: every experiment has its order items (experiments created from now on write their
    own), so searches newest first read the order instead of every experiment."""
    marker = ExperimentOrderItem(pk=_EXPERIMENT_ORDER, sk=_EXPERIMENT_ORDER_MARKER)
    written(lambda: marker.save(condition=ExperimentOrderItem.pk.does_not_exist()))


def has_run_order(experiment_id: str) -> bool:
    """Whether the experiment has its ``T#`` marker (all its runs have their order items)."""
    with translated():
        try:
            RunOrderItem.get(f"EXP#{experiment_id}", _ORDER_MARKER, consistent_read=True, attributes_to_get=["pk"])
        except DoesNotExist:
            return False
    return True


def backfill_run_order(
    experiment_id: str, start: dict[str, Any] | None, items: int
) -> tuple[dict[str, Any] | None, int]:
    """Put the missing run order items of the runs whose info item is in the next page (at most ``items`` run items
    read) of the experiment's ``R#`` range after the key ``start``; the key to go on from (None: every run is done)
    and the number of items read. A run's item is set by its start time and id, neither of which ever changes, so a
    run created meanwhile (whose own transaction writes the same item) can neither get a second one nor a wrong one;
    a deleted run keeps its item, as one created today does."""
    connection = RunItem._get_connection()  # noqa: SLF001 - pynamodb's own way to the table's connection
    partition = f"EXP#{experiment_id}"
    with translated():
        page = connection.query(
            partition,
            RunItem.sk.between("R#", _RUNS_END),
            filter_condition=RunItem.kind == RunInfoItem,
            attributes_to_get=["sk", "body"],
            consistent_read=True,
            limit=items,
            exclusive_start_key=start,
        )
    wanted = []
    for raw in page.get("Items", ()):
        run_id, start_time = raw["sk"]["S"].split("#", 2)[1], json.loads(raw["body"]["S"])["st"]
        wanted.append(RunOrderItem(pk=partition, sk=_order_key(start_time, run_id)))
    missing = _missing(wanted)

    def put(item: StratusItem) -> None:
        written(lambda: item.save(condition=RunOrderItem.pk.does_not_exist()))

    if len(missing) <= 1:
        for item in missing:
            put(item)
    else:
        with ThreadPoolExecutor(max_workers=_PARALLEL_WRITES) as pool:
            list(pool.map(put, missing))
    return page.get("LastEvaluatedKey"), int(page.get("ScannedCount", 0))


def complete_run_order(experiment_id: str) -> None:
    """After every run of the experiment has its order item: the ``T#`` marker (the web UI's run table reads the
    order from now on), then a change marker for its newest run, as any write to that run would put. The projector,
    woken by new markers on the table's stream, then makes the experiment's first projection if it has enough runs:
    without the ``T#`` marker it never did (``has_runs`` is False), and would have waited for a write to the
    experiment. The run did not change, so a search or projector that reads it from the table finds it as it is."""
    partition = f"EXP#{experiment_id}"
    marker = RunOrderItem(pk=partition, sk=_ORDER_MARKER)
    written(lambda: marker.save(condition=RunOrderItem.pk.does_not_exist()))
    connection = RunOrderItem._get_connection()  # noqa: SLF001 - pynamodb's own way to the table's connection
    with translated():
        page = connection.query(
            partition, RunOrderItem.sk.between(_ORDER_MARKER, _ORDER_END), consistent_read=True, limit=2
        )
    newest = [raw["sk"]["S"] for raw in page.get("Items", ()) if raw["sk"]["S"] != _ORDER_MARKER]
    if newest:
        with translated():
            _marker(experiment_id, newest[0].rsplit("#", 1)[1], _now_ms()).save()


def _missing(items: list[StratusItem]) -> list[StratusItem]:
    """The items (of distinct keys) whose key is not in the table (strongly consistent BatchGetItem of the keys)."""
    if not items:
        return []
    keys = [{"pk": {"S": item.pk}, "sk": {"S": item.sk}} for item in items]
    present = {(raw["pk"]["S"], raw["sk"]["S"]) for raw in _batch_get_raw(keys)}
    return [item for item in items if (item.pk, item.sk) not in present]


# -------------------------------------------------------------------- dataset summaries


def _summary_sort_key(name: str, digest: str, context: str | None) -> str:
    """``DS#`` and the SHA-256 of the summary: a name (500 characters) and a context can be longer together than
    the 1,024 bytes DynamoDB allows a sort key."""
    return "DS#" + _sha(json.dumps([name, digest, context], **_COMPACT_JSON))


def _put_dataset_summaries(experiment_id: str, inputs: list[DatasetInput]) -> None:
    """One UpdateItem per distinct summary (in parallel when there are several), each setting ``first_logged`` only
    if it is not set yet: another run logging the same summary, or a retry, leaves its place in the order."""
    now = time.time_ns()
    summaries = list(dict.fromkeys((d.dataset.name, d.dataset.digest, d.context or None) for d in inputs))

    def write(summary: tuple[str, str, str | None]) -> None:
        name, digest, context = summary
        item = DatasetSummaryItem(pk=f"EXP#{experiment_id}", sk=_summary_sort_key(name, digest, context))
        actions = [
            DatasetSummaryItem.name.set(name),
            DatasetSummaryItem.digest.set(digest),
            DatasetSummaryItem.first_logged.set(DatasetSummaryItem.first_logged | now),
        ]
        if context is not None:
            actions.append(DatasetSummaryItem.context.set(context))
        with translated():
            item.update(actions=actions)

    if len(summaries) == 1:
        write(summaries[0])
        return
    with ThreadPoolExecutor(max_workers=_PARALLEL_WRITES) as pool:
        list(pool.map(write, summaries))


# -------------------------------------------------------------------- metric history


def _history_chunks(run_id: str, metrics: Iterable[Metric]) -> list[MetricChunkItem]:
    """The items a write adds to the run's history: per metric key, its points packed (at most _POINTS_PER_CHUNK
    per item). Each chunk has a fresh id, so a retried write adds a duplicate that reads merge away."""
    by_key: dict[str, list[Metric]] = {}
    for metric in metrics:
        by_key.setdefault(metric.key, []).append(metric)
    chunks = []
    for key, points in by_key.items():
        for start in range(0, len(points), _POINTS_PER_CHUNK):
            packed = b"".join(
                _POINT.pack(m.step, m.timestamp, m.value) for m in points[start : start + _POINTS_PER_CHUNK]
            )
            chunks.append(MetricChunkItem(pk=f"RUN#{run_id}", sk=f"H#{key}#{uuid.uuid4().hex}", points=packed))
    return chunks


def _chunks_in_transaction(run_writes: int, chunks: list[MetricChunkItem]) -> int:
    """How many history chunks to add to a transaction of ``run_writes`` items: those of the last, partial
    BatchWriteItem (a transactional write costs twice, so no more than saves one request), if they fit in the
    transaction's item count and stay small next to its 4 MB limit."""
    if run_writes < 2 or not chunks:
        return 0
    partial = len(chunks) % _BATCH_ITEMS or _BATCH_ITEMS
    fits = run_writes + partial <= _TRANSACTION_ITEMS
    small = sum(len(chunk.points) for chunk in chunks[:partial]) <= _RIDING_CHUNK_BYTES
    return partial if fits and small else 0


# -------------------------------------------------------------------- mapping


def _experiment(item: ExperimentItem) -> Experiment:
    return Experiment(
        experiment_id=item.experiment_id,
        name=item.name,
        artifact_location=item.artifact_location,
        lifecycle_stage=item.lifecycle_stage,
        creation_time=int(item.creation_time),
        last_update_time=int(item.last_update_time),
        tags=dict(item.tags.as_dict()) if item.tags else {},
    )


def _experiment_of_raw(raw: dict[str, Any]) -> Experiment:
    tags = raw.get("tags", {}).get("M", {})
    return Experiment(
        experiment_id=raw["experiment_id"]["S"],
        name=raw["name"]["S"],
        artifact_location=raw["artifact_location"]["S"],
        lifecycle_stage=raw["lifecycle_stage"]["S"],
        creation_time=int(raw["creation_time"]["N"]),
        last_update_time=int(raw["last_update_time"]["N"]),
        tags={key: value["S"] for key, value in tags.items()},
    )


def _experiment_order(prefix: str, at_ms: int, experiment_id: str) -> ExperimentOrderItem:
    return ExperimentOrderItem(
        pk=_EXPERIMENT_ORDER, sk=f"{prefix}{_NEWEST_KEY_BASE - at_ms:020d}#{int(experiment_id):020d}"
    )


def _experiment_item(e: Experiment, version: int = 1) -> ExperimentItem:
    return ExperimentItem(
        pk="EXPERIMENTS",
        sk=f"E#{e.experiment_id}",
        experiment_id=e.experiment_id,
        name=e.name,
        artifact_location=e.artifact_location,
        lifecycle_stage=e.lifecycle_stage,
        creation_time=e.creation_time,
        last_update_time=e.last_update_time,
        tags=e.tags,
        version=version,
    )


def _info_fields(run: Run) -> tuple[object, ...]:
    i = run.info
    return (
        i.run_name,
        i.user_id,
        i.status,
        i.start_time,
        i.end_time,
        i.artifact_uri,
        i.lifecycle_stage,
        [(d.dataset.name, d.dataset.digest, d.context) for d in run.dataset_inputs],
        run.model_inputs,
        run.model_outputs,
    )


def _info_item(run: Run, version: int) -> RunInfoItem:
    i = run.info
    return RunInfoItem(
        pk=f"EXP#{i.experiment_id}",
        sk=f"{_run_prefix(i.run_id)}I",
        version=version,
        lifecycle_stage=i.lifecycle_stage,
        body=_info_body(run),
    )


def _info_body(run: Run) -> str:
    """The JSON of a run's info (format: ``items.RunInfoItem``)."""
    i = run.info
    members = {
        "n": i.run_name,
        "u": i.user_id,
        "s": i.status,
        "st": i.start_time,
        "et": i.end_time,
        "a": i.artifact_uri,
        "ds": [[d.dataset.name, d.dataset.digest, d.context or ""] for d in run.dataset_inputs],
        "mi": [[m.model_id, m.step] for m in run.model_inputs],
        "mo": [[m.model_id, m.step] for m in run.model_outputs],
    }
    return json.dumps({k: v for k, v in members.items() if v is not None and v != []}, **_COMPACT_JSON)


@dataclass
class _StoredInfo:
    """A run's info item as read: ids from its keys, its version and lifecycle stage, and its decoded body."""

    run_id: str
    experiment_id: str
    version: int
    lifecycle_stage: str
    body: dict[str, Any]

    @classmethod
    def of(cls, item: RunInfoItem) -> _StoredInfo:
        run_id, experiment_id = item.sk.split("#", 2)[1], item.pk.split("#", 1)[1]
        return cls(run_id, experiment_id, int(item.version), item.lifecycle_stage, json.loads(item.body or "{}"))

    @classmethod
    def of_raw(cls, raw: dict[str, Any]) -> _StoredInfo:
        """From DynamoDB JSON: the attributes ``pk``, ``sk``, ``version``, ``lifecycle_stage`` and ``body`` of
        ``items.RunInfoItem``."""
        run_id, experiment_id = raw["sk"]["S"].split("#", 2)[1], raw["pk"]["S"].split("#", 1)[1]
        body = json.loads(raw["body"]["S"])
        return cls(run_id, experiment_id, int(raw["version"]["N"]), raw["lifecycle_stage"]["S"], body)


def _data_item(exp: str, run_id: str, n: int, shard: _Shard, version: int) -> RunDataItem:
    return RunDataItem(pk=f"EXP#{exp}", sk=f"{_run_prefix(run_id)}D{n}", version=version, body=_shard_body(shard))


def _shard_body(shard: _Shard) -> str:
    """The JSON of a data shard (format: ``items.RunDataItem``); long values are ValueItems, not in the body."""
    members = {
        "p": {k: v for k, v in shard.params.items() if not k.startswith("\0")},
        "t": {k: v for k, v in shard.tags.items() if not k.startswith("\0")},
        "lp": shard.long_params,
        "lt": shard.long_tags,
        "m": shard.metrics,
    }
    return json.dumps({k: v for k, v in members.items() if v}, **_COMPACT_JSON)


@dataclass
class _StoredShard:
    """A data shard as read: its number, version and decoded body."""

    number: int
    version: int
    body: dict[str, dict[str, Any]]

    @classmethod
    def of(cls, item: RunDataItem) -> _StoredShard:
        return cls(int(item.sk.rsplit("#D", 1)[1]), int(item.version), json.loads(item.body or "{}"))

    @classmethod
    def of_raw(cls, raw: dict[str, Any]) -> _StoredShard:
        """From DynamoDB JSON: the attributes ``sk``, ``version`` and ``body`` of ``items.RunDataItem``."""
        return cls(int(raw["sk"]["S"].rsplit("#D", 1)[1]), int(raw["version"]["N"]), json.loads(raw["body"]["S"]))


def _visible(shard: _Shard | None) -> tuple[object, ...]:
    if shard is None or shard.is_empty():
        return ()
    return (
        {k: v for k, v in shard.params.items() if not k.startswith("\0")},
        {k: v for k, v in shard.tags.items() if not k.startswith("\0")},
        shard.long_params,
        shard.long_tags,
        shard.metrics,
    )


def _shards_of(run: Run) -> dict[int, _Shard]:
    """Split a run's params, tags and latest metrics into data shards. A long value is kept under ``"\\0<key>"`` so
    that ``_put_long_values`` can store it before the shard that refers to it."""
    shards: dict[int, _Shard] = {}
    for kind, values in (("p", run.params), ("t", run.tags)):
        for key, value in values.items():
            shard = shards.setdefault(shard_of(kind, key), _Shard())
            short, long = (shard.params, shard.long_params) if kind == "p" else (shard.tags, shard.long_tags)
            if len(value.encode()) > LONG_VALUE_BYTES:
                long[key] = _sha(value)
                short[f"\0{key}"] = value
            else:
                short[key] = value
    for key, metric in run.metrics.items():
        shard = shards.setdefault(shard_of("m", key), _Shard())
        shard.metrics[key] = [repr(float(metric.value)), metric.timestamp, metric.step]
    return shards


def _run_info(info: _StoredInfo) -> RunInfo:
    body = info.body
    return RunInfo(
        run_id=info.run_id,
        experiment_id=info.experiment_id,
        run_name=body.get("n", ""),
        user_id=body.get("u", ""),
        status=body["s"],
        start_time=body["st"],
        end_time=body.get("et"),
        artifact_uri=body["a"],
        lifecycle_stage=info.lifecycle_stage,
    )


def _assemble(info: _StoredInfo, shards: list[_StoredShard]) -> tuple[Run, dict[int, int]]:
    body = info.body
    run = Run(
        info=_run_info(info),
        dataset_inputs=[
            DatasetInput(Dataset(name, digest), (("mlflow.data.context", ctx),) if ctx else ())
            for name, digest, ctx in body.get("ds", ())
        ],
        model_inputs=[ModelIO(m, s) for m, s in body.get("mi", ())],
        model_outputs=[ModelIO(m, s) for m, s in body.get("mo", ())],
    )
    versions: dict[int, int] = {}
    for shard in shards:
        versions[shard.number] = shard.version
        run.params.update(shard.body.get("p", ()))
        run.tags.update(shard.body.get("t", ()))
        for key, (value, timestamp, step) in shard.body.get("m", {}).items():
            run.metrics[key] = Metric(key, float(value), timestamp, step)
    return run, versions


def _long_refs(shards: list[_StoredShard]) -> set[str]:
    refs: set[str] = set()
    for shard in shards:
        for member in ("lp", "lt"):
            refs.update(shard.body.get(member, {}).values())
    return refs


def _resolve_long_values(run: Run, shards: list[_StoredShard], values: dict[str, str]) -> None:
    for shard in shards:
        for member, target in (("lp", run.params), ("lt", run.tags)):
            for key, sha in shard.body.get(member, {}).items():
                if sha in values:
                    target[key] = values[sha]
