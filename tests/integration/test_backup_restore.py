"""The restore procedures of docs/operations.md "Backups and restore", exercised here: a table exported as DynamoDB
JSON lines and restored (only what differs written) on DynamoDB Local; ``stratus backup`` and ``stratus restore`` on a
state folder; and the artifact bucket's versions under moto, stratus local's embedded S3, versioned as the template
versions it on AWS (a deleted artifact brought back by removing its delete marker, an overwritten one by copying its
older version over it)."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest

from stratus.domain.entities import ModelVersion, RegisteredModel
from stratus.store.dynamodb import DynamoRegistryStore, bind_table
from stratus_local.backends import create_buckets, create_tables
from stratus_local.backup import export_table, read_export, restore_items, scan_items
from stratus_local.cli import main
from stratus_local.template import parse_project

PROJECT_DIR = Path(__file__).resolve().parents[2]
PROJECT = parse_project(PROJECT_DIR)
TABLE = PROJECT.tables[0].name


@pytest.fixture
def local_table(dynamodb_local: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "local"),
        ("AWS_SECRET_ACCESS_KEY", "local"),
        ("AWS_REGION", "us-east-1"),
    ):
        monkeypatch.setenv(name, value)
    client = boto3.client(
        "dynamodb",
        endpoint_url=dynamodb_local,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - DynamoDB Local's
    )
    if TABLE in client.list_tables()["TableNames"]:
        client.delete_table(TableName=TABLE)
    create_tables(client, PROJECT.tables, io.StringIO())
    bind_table(TABLE, "us-east-1", host=dynamodb_local)
    yield client


def _registry(count: int) -> DynamoRegistryStore:
    store = DynamoRegistryStore()
    store.create_model(RegisteredModel("churn", 1, 1))
    for _ in range(count):
        store.create_version("churn", lambda n: ModelVersion("churn", n, 1, 1, "models:/m-" + "0" * 32), 2)
    return store


def _snapshot(client: Any) -> list[str]:
    return sorted(json.dumps(item, sort_keys=True) for item in scan_items(client, TABLE))


def test_a_table_restored_from_its_export_is_as_it_was_and_a_second_restore_writes_nothing(
    local_table: Any, tmp_path: Path
) -> None:
    """Given a registry exported to DynamoDB JSON lines, when a version is deleted, another changed and a model added,
    then restoring the export puts back the two, deletes what was added, and the store reads what it read before."""
    store = _registry(3)
    before, versions = _snapshot(local_table), store.list_versions("churn")
    export = tmp_path / "table.jsonl"
    assert export_table(local_table, TABLE, export) == len(before)
    assert all(set(json.loads(line)) == {"Item"} for line in export.read_text().splitlines())  # AWS's export lines

    partition = _version_pk(local_table)
    local_table.delete_item(TableName=TABLE, Key={"pk": {"S": partition}, "sk": {"S": "V#0000000001"}})
    local_table.update_item(
        TableName=TABLE,
        Key={"pk": {"S": partition}, "sk": {"S": "V#0000000002"}},
        UpdateExpression="SET current_stage = :s",
        ExpressionAttributeValues={":s": {"S": "Archived"}},
    )
    store.create_model(RegisteredModel("added later", 5, 5))
    assert _snapshot(local_table) != before

    result = restore_items(local_table, TABLE, read_export(export))

    assert (result.put, result.deleted) == (2, 2)  # the 2 versions back; the new model and its name claim gone
    assert _snapshot(local_table) == before
    assert store.list_versions("churn") == versions
    again = restore_items(local_table, TABLE, read_export(export))
    assert (again.put, again.deleted, again.unchanged) == (0, 0, len(before))


def _version_pk(client: Any) -> str:
    return next(item["pk"]["S"] for item in scan_items(client, TABLE) if item["sk"]["S"] == "V#0000000001")


def _seed(folder: Path, items: list[dict[str, Any]], objects: dict[str, str]) -> Path:
    """A backup folder as ``stratus backup`` writes it: the table's lines, and S3 objects as the state folder keeps
    them (only their presence is checked here: restore copies the folder)."""
    folder.mkdir(parents=True)
    (folder / f"{TABLE}.jsonl").write_text("".join(json.dumps({"Item": item}) + "\n" for item in items))
    for name, text in objects.items():
        path = folder / "s3" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def _lines(folder: Path) -> list[str]:
    return sorted(json.dumps(item, sort_keys=True) for item in read_export(folder / f"{TABLE}.jsonl"))


def _item(pk: str, sk: str, **values: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}, **{name: {"S": value} for name, value in values.items()}}


def test_stratus_backup_and_restore_round_trip_a_state_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a state folder restored from one backup, when it is backed up, then the backup holds those items and
    files; when another backup is restored over it and the first one restored again, the state is the first one."""
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:  # a stack this worker ran set some
        monkeypatch.delenv(name)
    first = _seed(tmp_path / "first", [_item("EXPERIMENTS", "E#1", name="one"), _item("X", "#")], {"b/index.json": "1"})
    second = _seed(tmp_path / "second", [_item("EXPERIMENTS", "E#2", name="two")], {"b/index.json": "2"})
    state, copy = tmp_path / "state", tmp_path / "copy"
    common = ["--state-dir", str(state), "--project-dir", str(PROJECT_DIR)]

    assert main(["restore", str(first), *common]) == 0
    assert main(["backup", str(copy), *common]) == 0
    assert _lines(copy) == _lines(first)
    assert (copy / "s3" / "b" / "index.json").read_text() == "1"

    assert main(["restore", str(second), *common]) == 0
    assert (state / "s3" / "b" / "index.json").read_text() == "2"
    capsys.readouterr()
    assert main(["restore", str(copy), *common]) == 0
    assert f"{TABLE}: 2 put, 1 deleted, 0 unchanged" in capsys.readouterr().out
    assert (state / "s3" / "b" / "index.json").read_text() == "1"


@pytest.fixture
def artifact_bucket(aws: None) -> Iterator[tuple[Any, str]]:
    s3 = boto3.client("s3")
    [bucket] = [b for b in PROJECT.buckets if b.logical_id == "ArtifactBucket"]
    assert bucket.versioned  # the template's VersioningConfiguration
    # A name of its own: moto's state is the process's, and an e2e stack in this xdist worker keeps its artifacts in
    # the template's bucket, which must stay unversioned there (docs/local.md; test_artifacts_client's delete failed).
    bucket = replace(bucket, name=f"{bucket.name}-versioned-copy")
    create_buckets(s3, [bucket])
    s3.put_bucket_versioning(Bucket=bucket.name, VersioningConfiguration={"Status": "Enabled"})  # as on AWS
    yield s3, bucket.name


def test_a_deleted_artifact_comes_back_when_its_delete_marker_is_removed(artifact_bucket: tuple[Any, str]) -> None:
    s3, bucket = artifact_bucket
    key = "mlartifacts/1/run/artifacts/model.pkl"
    s3.put_object(Bucket=bucket, Key=key, Body=b"v1")
    s3.put_object(Bucket=bucket, Key=key, Body=b"v2")
    s3.delete_object(Bucket=bucket, Key=key)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=key)

    # aws s3api list-object-versions --bucket B --prefix K --query 'DeleteMarkers[?IsLatest].VersionId'
    listed = s3.list_object_versions(Bucket=bucket, Prefix=key)
    [marker] = [m["VersionId"] for m in listed["DeleteMarkers"] if m["IsLatest"]]
    # aws s3api delete-object --bucket B --key K --version-id <marker>
    s3.delete_object(Bucket=bucket, Key=key, VersionId=marker)

    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"v2"


def test_an_overwritten_artifact_is_restored_by_copying_its_older_version_over_it(
    artifact_bucket: tuple[Any, str],
) -> None:
    s3, bucket = artifact_bucket
    key = "mlartifacts/1/run/artifacts/metrics.json"
    s3.put_object(Bucket=bucket, Key=key, Body=b"good")
    s3.put_object(Bucket=bucket, Key=key, Body=b"overwritten by mistake")

    # aws s3api list-object-versions --bucket B --prefix K --query 'Versions[?!IsLatest].[VersionId,LastModified]'
    versions = s3.list_object_versions(Bucket=bucket, Prefix=key)["Versions"]
    [older] = [v["VersionId"] for v in versions if not v["IsLatest"]]
    # aws s3api copy-object --bucket B --key K --copy-source "B/K?versionId=<older>"
    s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": key, "VersionId": older})

    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"good"
    assert len(s3.list_object_versions(Bucket=bucket, Prefix=key)["Versions"]) == 3  # nothing lost on the way
