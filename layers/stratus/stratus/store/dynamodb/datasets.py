"""MLflow 3 evaluation datasets in DynamoDB (item shapes: ``items.py``; costs per call: docs/data-model.md).

The dataset is one item (``DATASET#<id>``/``#``) holding its tags and experiment ids; keys-only link items list
every dataset (``DATASETS``) and an experiment's datasets (``EXP#<exp>``/``ED#<id>``). Its records share its
partition: ``R#<created:013d>#<record_id>`` (the reference's page order, so a page is one Query from the cursor)
and ``K#<record key>`` naming that sort key (so an upsert finds the records with the same inputs by BatchGet). A
body over ``INLINE_BODY_BYTES`` goes to S3 (``S3RecordBodies``) and the item keeps its key.

Two upserts of the same new inputs at the same moment may both insert (BatchWriteItem has no conditions): the later
key item wins and the earlier record stays listed until deleted. The reference serialises them in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from functools import partial
from typing import Any

from pynamodb.exceptions import DoesNotExist

from stratus.domain.datasets import DatasetRecord, EvaluationDataset
from stratus.domain.ports import DatasetChange
from stratus.errors import Conflict
from stratus.store.dynamodb.batch import batch_delete, batch_put
from stratus.store.dynamodb.errors import translated, written
from stratus.store.dynamodb.items import (
    DatasetLinkItem,
    DatasetRecordItem,
    DatasetRecordKeyItem,
    EvaluationDatasetItem,
    sort_key_prefix,
)
from stratus.store.s3.record_bodies import S3RecordBodies, body_key

MAX_ATTEMPTS = 12
INLINE_BODY_BYTES = 64 * 1024
ALL_DATASETS = "DATASETS"
_LINK_PREFIX = "ED#"
_RECORD_PREFIX = "R#"
_KEY_PREFIX = "K#"


def _pk(dataset_id: str) -> str:
    return f"DATASET#{dataset_id}"


def _record_sk(record: DatasetRecord) -> str:
    return f"{_RECORD_PREFIX}{record.created_time:013d}#{record.dataset_record_id}"


class DynamoDatasetStore:
    """``DatasetStore`` on the single Stratus table, large record bodies in S3."""

    def __init__(self, bodies: S3RecordBodies) -> None:
        self._bodies = bodies

    # ----------------------------------------------------------------------------------------------- datasets

    def insert_dataset(self, dataset: EvaluationDataset) -> None:
        links = [_experiment_link(e, dataset.dataset_id) for e in dataset.experiment_ids]
        with translated():
            _item(dataset, version=1).save(condition=EvaluationDatasetItem.pk.does_not_exist())
            batch_put([DatasetLinkItem(pk=ALL_DATASETS, sk=dataset.dataset_id), *links])

    def get_dataset(self, dataset_id: str) -> EvaluationDataset | None:
        item = self._get_item(dataset_id)
        return _dataset(item) if item else None

    def get_datasets(self, dataset_ids: Collection[str]) -> list[EvaluationDataset]:
        with translated():
            items = EvaluationDatasetItem.batch_get([(_pk(i), "#") for i in dataset_ids], consistent_read=True)
            return [_dataset(item) for item in items]

    def list_dataset_ids(self, experiment_id: str | None) -> list[str]:
        with translated():
            if experiment_id is None:
                return [item.sk for item in DatasetLinkItem.query(ALL_DATASETS, consistent_read=True)]
            links = DatasetLinkItem.query(
                f"EXP#{experiment_id}", sort_key_prefix(DatasetLinkItem.sk, _LINK_PREFIX), consistent_read=True
            )
            return [item.sk.removeprefix(_LINK_PREFIX) for item in links]

    def modify_dataset(self, dataset_id: str, change: DatasetChange) -> EvaluationDataset | None:
        for _ in range(MAX_ATTEMPTS):
            item = self._get_item(dataset_id)
            if item is None:
                return None
            before = list(item.experiment_ids)
            dataset = _dataset(item)
            change(dataset)
            updated = _item(dataset, version=item.version + 1)
            if written(partial(updated.save, condition=EvaluationDatasetItem.version == item.version)):
                self._relink(dataset_id, before, dataset.experiment_ids)
                return dataset
        raise Conflict(f"Evaluation dataset {dataset_id} was changed concurrently too many times; retry.")

    def delete_dataset(self, dataset: EvaluationDataset) -> None:
        pk = _pk(dataset.dataset_id)
        with translated():
            items = list(DatasetRecordItem.query(pk, sort_key_prefix(DatasetRecordItem.sk, _RECORD_PREFIX)))
            keys = list(DatasetRecordKeyItem.query(pk, sort_key_prefix(DatasetRecordKeyItem.sk, _KEY_PREFIX)))
            links = [_experiment_link(e, dataset.dataset_id) for e in dataset.experiment_ids]
            batch_delete([DatasetLinkItem(pk=ALL_DATASETS, sk=dataset.dataset_id), *links, *items, *keys])
            EvaluationDatasetItem(pk=pk, sk="#").delete()
        self._bodies.delete([item.body_key for item in items if item.body_key])

    # ------------------------------------------------------------------------------------------------ records

    def get_records(self, dataset_id: str, keys: Collection[str]) -> dict[str, DatasetRecord]:
        pk = _pk(dataset_id)
        with translated():
            found = list(DatasetRecordKeyItem.batch_get([(pk, f"{_KEY_PREFIX}{k}") for k in keys]))
            by_sk = {item.record_sk: item.sk.removeprefix(_KEY_PREFIX) for item in found}
            items = list(DatasetRecordItem.batch_get([(pk, sk) for sk in by_sk]))
        return {by_sk[item.sk]: record for item, record in zip(items, self._records(dataset_id, items), strict=True)}

    def put_records(self, records: Mapping[str, DatasetRecord], new: Collection[str]) -> None:
        items: list[DatasetRecordItem | DatasetRecordKeyItem] = []
        stale = []  # an updated record whose body is inline now may have had one in S3
        for key, record in records.items():
            item = self._record_item(record)
            items.append(item)
            if key in new:
                items.append(DatasetRecordKeyItem(pk=item.pk, sk=f"{_KEY_PREFIX}{key}", record_sk=item.sk))
            elif item.body_key is None:
                stale.append(body_key(record.dataset_id, record.dataset_record_id))
        with translated():
            batch_put(items)
        self._bodies.delete(stale)  # one DeleteObjects per 1,000 keys; a missing key is no error

    def list_records(
        self, dataset_id: str, after: tuple[int, str] | None, limit: int, max_bytes: int
    ) -> tuple[list[DatasetRecord], bool]:
        start = f"{_RECORD_PREFIX}{after[0]:013d}#{after[1]}" if after else _RECORD_PREFIX
        condition = DatasetRecordItem.sk.between(start + "\x00", _RECORD_PREFIX + "\x7f")
        page: list[DatasetRecordItem] = []
        size = 0
        with translated():
            for item in DatasetRecordItem.query(_pk(dataset_id), condition, consistent_read=True):
                if len(page) == limit or (page and size + item.body_bytes > max_bytes):
                    return self._records(dataset_id, page), True
                page.append(item)
                size += item.body_bytes
        return self._records(dataset_id, page), False

    def delete_records(self, dataset_id: str, keys: Collection[str]) -> int:
        pk = _pk(dataset_id)
        with translated():
            found = list(DatasetRecordKeyItem.batch_get([(pk, f"{_KEY_PREFIX}{k}") for k in keys]))
            items = list(DatasetRecordItem.batch_get([(pk, key.record_sk) for key in found]))
            batch_delete([*found, *items])
        self._bodies.delete([item.body_key for item in items if item.body_key])
        return len(items)

    # ---------------------------------------------------------------------------------------------- internals

    def _get_item(self, dataset_id: str) -> EvaluationDatasetItem | None:
        with translated():
            try:
                return EvaluationDatasetItem.get(_pk(dataset_id), "#", consistent_read=True)
            except DoesNotExist:
                return None

    def _relink(self, dataset_id: str, before: list[str], after: list[str]) -> None:
        added = [_experiment_link(e, dataset_id) for e in after if e not in before]
        removed = [_experiment_link(e, dataset_id) for e in before if e not in after]
        with translated():
            batch_put(added)
            batch_delete(removed)

    def _record_item(self, record: DatasetRecord) -> DatasetRecordItem:
        body = json.dumps(record.body(), separators=(",", ":"), ensure_ascii=False)
        size = len(body.encode())
        key = None
        if size > INLINE_BODY_BYTES:
            key = body_key(record.dataset_id, record.dataset_record_id)
            self._bodies.put(key, body)
        return DatasetRecordItem(
            pk=_pk(record.dataset_id),
            sk=_record_sk(record),
            record_id=record.dataset_record_id,
            created_time=record.created_time,
            last_update_time=record.last_update_time,
            created_by=record.created_by,
            last_updated_by=record.last_updated_by,
            body=None if key else body,
            body_key=key,
            body_bytes=size,
        )

    def _records(self, dataset_id: str, items: Iterable[DatasetRecordItem]) -> list[DatasetRecord]:
        items = list(items)
        outside = iter(self._bodies.get_all([item.body_key for item in items if item.body_key]))
        return [_record(dataset_id, item, item.body if item.body is not None else next(outside)) for item in items]


def _experiment_link(experiment_id: str, dataset_id: str) -> DatasetLinkItem:
    return DatasetLinkItem(pk=f"EXP#{experiment_id}", sk=f"{_LINK_PREFIX}{dataset_id}")


def _item(dataset: EvaluationDataset, version: int) -> EvaluationDatasetItem:
    return EvaluationDatasetItem(
        pk=_pk(dataset.dataset_id),
        sk="#",
        dataset_id=dataset.dataset_id,
        name=dataset.name,
        digest=dataset.digest,
        created_time=dataset.created_time,
        last_update_time=dataset.last_update_time,
        tags=json.dumps({k: str(v) for k, v in dataset.tags.items()}),
        schema=dataset.schema,
        profile=dataset.profile,
        created_by=dataset.created_by,
        last_updated_by=dataset.last_updated_by,
        experiment_ids=list(dataset.experiment_ids),
        num_records=dataset.num_records,
        version=version,
    )


def _dataset(item: EvaluationDatasetItem) -> EvaluationDataset:
    return EvaluationDataset(
        dataset_id=item.dataset_id,
        name=item.name,
        digest=item.digest,
        created_time=int(item.created_time),
        last_update_time=int(item.last_update_time),
        tags=json.loads(item.tags),
        schema=item.schema,
        profile=item.profile,
        created_by=item.created_by,
        last_updated_by=item.last_updated_by,
        experiment_ids=list(item.experiment_ids),
        num_records=int(item.num_records),
    )


def _record(dataset_id: str, item: DatasetRecordItem, body_json: str) -> DatasetRecord:
    body: dict[str, Any] = json.loads(body_json)
    return DatasetRecord(
        dataset_record_id=item.record_id,
        dataset_id=dataset_id,
        inputs=body["inputs"],
        outputs=body.get("outputs"),
        expectations=body.get("expectations"),
        tags=body.get("tags"),
        source=body.get("source"),
        created_time=int(item.created_time),
        last_update_time=int(item.last_update_time),
        created_by=item.created_by,
        last_updated_by=item.last_updated_by,
    )
