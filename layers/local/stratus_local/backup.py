"""Backups of a table as DynamoDB JSON lines, and restores that change only what differs (docs/operations.md
"Backups and restore").

A backup file holds one ``{"Item": {...}}`` per line, in DynamoDB's typed JSON: the format of the data files of
DynamoDB's own export to S3 (``export-table-to-point-in-time --export-format DYNAMODB_JSON``, once gunzipped), so
one file reads both. A restore makes a table's items exactly those of a backup, or of another table (a point-in-time
restore of the deployed one), putting only the items that differ and deleting only those the source lacks: the
table's stream then carries just the changes the restore undoes, and restoring twice writes nothing."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import boto3

from stratus_local.backends import Backends, create_tables
from stratus_local.template import DEFAULT_REGION, parse_project

Key = tuple[Any, ...]
Items = dict[Key, dict[str, Any]]
BATCH = 25  # BatchWriteItem's limit


@dataclass(frozen=True)
class Restored:
    put: int
    deleted: int
    unchanged: int


def key_names(dynamodb: Any, table: str) -> tuple[str, ...]:
    schema = dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]
    return tuple(entry["AttributeName"] for entry in sorted(schema, key=lambda e: e["KeyType"]))  # HASH, RANGE


def scan_items(dynamodb: Any, table: str) -> Iterator[dict[str, Any]]:
    """Every item of the table, strongly consistent, page by page."""
    for page in dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        yield from page["Items"]


def _keyed(items: Iterable[dict[str, Any]], keys: tuple[str, ...]) -> Items:
    return {tuple(json.dumps(item[name], sort_keys=True) for name in keys): item for item in items}


def export_table(dynamodb: Any, table: str, path: Path) -> int:
    """Write every item of the table to ``path`` (DynamoDB JSON lines); how many."""
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for item in scan_items(dynamodb, table):
            out.write(json.dumps({"Item": item}, sort_keys=True, ensure_ascii=False) + "\n")
            count += 1
    return count


def read_export(path: Path) -> Iterator[dict[str, Any]]:
    """The items of a backup file (or of a gunzipped data file of DynamoDB's export to S3)."""
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)["Item"]


def restore_items(dynamodb: Any, table: str, items: Iterable[dict[str, Any]]) -> Restored:
    """Make the table's items exactly ``items``: put those that are missing or differ, delete those not among them."""
    keys = key_names(dynamodb, table)
    wanted, current = _keyed(items, keys), _keyed(scan_items(dynamodb, table), keys)
    puts = [{"PutRequest": {"Item": item}} for key, item in wanted.items() if current.get(key) != item]
    deletes = [
        {"DeleteRequest": {"Key": {name: item[name] for name in keys}}}
        for key, item in current.items()
        if key not in wanted
    ]
    _write(dynamodb, table, puts + deletes)
    return Restored(len(puts), len(deletes), len(wanted) - len(puts))


def _write(dynamodb: Any, table: str, requests: list[dict[str, Any]]) -> None:
    for start in range(0, len(requests), BATCH):
        pending = {table: requests[start : start + BATCH]}
        while pending:  # what DynamoDB left unprocessed (throttling) goes again, a moment later
            pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if pending:
                time.sleep(0.2)


# -- the state folder of `stratus local` (the commands `stratus backup` and `stratus restore`) ----------------------


@contextmanager
def _state_tables(state_dir: Path, project_dir: Path, log: TextIO) -> Iterator[tuple[Any, list[str]]]:
    """DynamoDB Local on the state folder's database, with the template's tables (created if missing): a client and
    the table names. ``stratus local`` must not be running on the same folder."""
    backends = Backends(state_dir, log)
    try:
        backends.start()
        endpoints = backends.wait_ready()
        if not endpoints.dynamodb_kind.startswith("DynamoDB Local"):
            raise RuntimeError(f"DynamoDB Local is needed to read {state_dir} ({endpoints.dynamodb_kind} answered)")
        dynamodb = boto3.client(
            "dynamodb",
            endpoint_url=endpoints.dynamodb,
            region_name=DEFAULT_REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - DynamoDB Local's, not a secret
        )
        tables = parse_project(project_dir).tables
        create_tables(dynamodb, tables, log)
        yield dynamodb, [table.name for table in tables]
    finally:
        backends.stop()


def backup_state(state_dir: Path, project_dir: Path, out: Path, log: TextIO) -> list[str]:
    """Write ``out/<table>.jsonl`` for each table and copy the saved S3 objects (``<state>/s3``) to ``out/s3``."""
    out.mkdir(parents=True, exist_ok=True)
    done = []
    with _state_tables(state_dir, project_dir, log) as (dynamodb, tables):
        for table in tables:
            count = export_table(dynamodb, table, out / f"{table}.jsonl")
            done.append(f"{table}: {count} items")
    objects = state_dir / "s3"
    if objects.is_dir():
        shutil.rmtree(out / "s3", ignore_errors=True)
        shutil.copytree(objects, out / "s3")
        done.append(f"S3 objects: {sum(1 for _ in (out / 's3').rglob('*') if _.is_file())} files")
    return done


def restore_state(state_dir: Path, project_dir: Path, backup: Path, log: TextIO) -> list[str]:
    """Make the state folder's tables and S3 objects those of the backup folder."""
    done = []
    with _state_tables(state_dir, project_dir, log) as (dynamodb, tables):
        for table in tables:
            source = backup / f"{table}.jsonl"
            if source.is_file():
                result = restore_items(dynamodb, table, read_export(source))
                done.append(f"{table}: {result.put} put, {result.deleted} deleted, {result.unchanged} unchanged")
    if (backup / "s3").is_dir():
        shutil.rmtree(state_dir / "s3", ignore_errors=True)
        shutil.copytree(backup / "s3", state_dir / "s3")
        done.append("S3 objects: replaced by the backup's")
    return done


def restore_table(source: str, target: str, region: str | None) -> Restored:
    """On AWS (the caller's credentials): make ``target``'s items those of ``source``, e.g. a point-in-time restore."""
    dynamodb = boto3.client("dynamodb", region_name=region)
    return restore_items(dynamodb, target, scan_items(dynamodb, source))
