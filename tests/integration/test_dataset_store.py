"""``DynamoDatasetStore`` under moto (AWS's batch rules checked on every call): datasets and their experiment links,
records found by key and paged by creation time, bodies over 64 KB in S3, and deletion of records and datasets."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from stratus.domain.datasets import DatasetRecord, EvaluationDataset, record_id_of, record_key
from stratus.store.dynamodb import bind_table
from stratus.store.dynamodb.datasets import DynamoDatasetStore
from stratus.store.s3.record_bodies import S3RecordBodies
from stratus_local.backends import create_tables
from stratus_local.template import parse_project

PROJECT_DIR = Path(__file__).resolve().parents[2]
BUCKET = "dataset-test-bucket"
KB = 1024


@pytest.fixture
def store(aws: None) -> Iterator[DynamoDatasetStore]:
    project = parse_project(PROJECT_DIR)
    create_tables(boto3.client("dynamodb"), project.tables, io.StringIO())
    bind_table(project.tables[0].name, os.environ["AWS_REGION"])
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    yield DynamoDatasetStore(S3RecordBodies(BUCKET, client_factory=lambda: boto3.client("s3")))


def _dataset(dataset_id: str, *experiment_ids: str) -> EvaluationDataset:
    return EvaluationDataset(
        dataset_id, "qa", "digest", 1_000, 1_000, {"b": "1", "a": "2"}, experiment_ids=[*experiment_ids]
    )


def _record(dataset_id: str, n: int, created: int, outputs: object = None) -> tuple[str, DatasetRecord]:
    key = record_key({"n": n})
    return key, DatasetRecord(record_id_of(key), dataset_id, {"n": n}, created, created, outputs=outputs)


def _s3_keys() -> list[str]:
    return [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def test_datasets_are_listed_overall_and_by_experiment_and_follow_their_links(store: DynamoDatasetStore) -> None:
    store.insert_dataset(_dataset("d-1", "1", "2"))
    store.insert_dataset(_dataset("d-2", "2"))

    assert store.get_dataset("d-1") == _dataset("d-1", "1", "2")
    assert list(store.get_dataset("d-1").tags) == ["b", "a"]  # the order they were set in
    assert sorted(store.list_dataset_ids(None)) == ["d-1", "d-2"]
    assert sorted(store.list_dataset_ids("2")) == ["d-1", "d-2"]
    assert {d.dataset_id for d in store.get_datasets(["d-1", "d-2", "d-missing"])} == {"d-1", "d-2"}

    def move(dataset: EvaluationDataset) -> None:
        dataset.experiment_ids = ["2", "3"]

    assert store.modify_dataset("d-1", move).experiment_ids == ["2", "3"]
    assert store.list_dataset_ids("1") == []
    assert store.list_dataset_ids("3") == ["d-1"]
    assert store.modify_dataset("d-missing", move) is None


def test_records_are_found_by_key_and_paged_by_creation_time(store: DynamoDatasetStore) -> None:
    store.insert_dataset(_dataset("d-1"))
    records = dict(_record("d-1", n, created=2_000 + n % 3) for n in range(30))  # more than one batch of 25
    store.put_records(records, new=list(records))

    some = list(records)[:3]
    assert store.get_records("d-1", [*some, "0" * 32]) == {k: records[k] for k in some}

    expected = sorted(records.values(), key=lambda r: (r.created_time, r.dataset_record_id))
    pages, after = [], None
    while True:
        page, more = store.list_records("d-1", after, 7, max_bytes=1 << 20)
        pages.append(page)
        if not more:
            break
        after = (page[-1].created_time, page[-1].dataset_record_id)
    assert [len(p) for p in pages] == [7, 7, 7, 7, 2]
    assert [r for p in pages for r in p] == expected


def test_a_large_body_lives_in_s3_and_a_page_stops_at_its_byte_budget(store: DynamoDatasetStore) -> None:
    store.insert_dataset(_dataset("d-1"))
    big = "x" * (100 * KB)
    records = dict(_record("d-1", n, created=3_000 + n, outputs=big) for n in range(3))
    store.put_records(records, new=list(records))

    assert len(_s3_keys()) == 3
    page, more = store.list_records("d-1", None, 100, max_bytes=150 * KB)
    assert (len(page), more) == (1, True)
    assert page[0].outputs == big
    page, more = store.list_records("d-1", None, 100, max_bytes=1 << 20)
    assert (len(page), more) == (3, False)

    key = next(iter(records))
    assert store.delete_records("d-1", [key, "f" * 32]) == 1
    assert len(_s3_keys()) == 2
    assert store.get_records("d-1", [key]) == {}


def test_deleting_a_dataset_removes_its_records_links_and_bodies(store: DynamoDatasetStore) -> None:
    dataset = _dataset("d-1", "1")
    store.insert_dataset(dataset)
    records = dict(_record("d-1", n, created=4_000, outputs="y" * (70 * KB) if n == 0 else "small") for n in range(5))
    store.put_records(records, new=list(records))

    store.delete_dataset(dataset)

    assert store.get_dataset("d-1") is None
    assert store.list_dataset_ids(None) == []
    assert store.list_dataset_ids("1") == []
    assert store.list_records("d-1", None, 100, 1 << 20) == ([], False)
    assert _s3_keys() == []


def test_a_record_whose_body_shrinks_leaves_no_object_behind(store: DynamoDatasetStore) -> None:
    store.insert_dataset(_dataset("d-1"))
    key, record = _record("d-1", 1, created=5_000, outputs="z" * (80 * KB))
    store.put_records({key: record}, new=[key])
    assert len(_s3_keys()) == 1

    record.outputs = "small now"
    store.put_records({key: record}, new=[])

    assert _s3_keys() == []
    assert store.get_records("d-1", [key])[key].outputs == "small now"
