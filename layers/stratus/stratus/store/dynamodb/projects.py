"""Project runs in DynamoDB: ``PROJRUN#<run_id>``/``#`` holds the record (a GetItem reads it), and while it runs a
keys-only ``PROJRUNS``/``A#<submitted>#<run_id>`` item lists it for the periodic sweep (one Query). Every save is
conditional on the record's revision; the save that settles an ended run deletes its active item in the same
transaction."""

from __future__ import annotations

import json
from dataclasses import asdict
from functools import partial
from typing import Any

from pynamodb.exceptions import DoesNotExist
from pynamodb.transactions import TransactWrite

from stratus.domain.projects import ProjectResources, ProjectRun
from stratus.store.dynamodb.errors import translated, written
from stratus.store.dynamodb.items import ActiveProjectRunItem, ProjectRunItem, StratusItem, sort_key_prefix

ACTIVE_PK = "PROJRUNS"
BATCH_GET = 100  # DynamoDB's BatchGetItem limit


def _key(run_id: str) -> str:
    return f"PROJRUN#{run_id}"


def _active_sk(run: ProjectRun) -> str:
    return f"A#{run.submitted_at:013d}#{run.run_id}"


def _item(run: ProjectRun, revision: int) -> ProjectRunItem:
    body = asdict(run)
    body.pop("revision")
    return ProjectRunItem(
        pk=_key(run.run_id), sk="#", state=run.state, revision=revision, body=json.dumps(body, sort_keys=True)
    )


def _run(item: ProjectRunItem) -> ProjectRun:
    body: dict[str, Any] = json.loads(item.body)
    body["resources"] = ProjectResources(**body["resources"])
    return ProjectRun(**body, revision=int(item.revision))


class DynamoProjectRunStore:
    """``ProjectRunStore`` on the single Stratus table."""

    def create(self, run: ProjectRun) -> bool:
        def write() -> None:
            with TransactWrite(connection=StratusItem._get_connection().connection) as tx:
                tx.save(_item(run, run.revision), condition=ProjectRunItem.pk.does_not_exist())
                tx.save(ActiveProjectRunItem(pk=ACTIVE_PK, sk=_active_sk(run)))

        return written(write)

    def get(self, run_id: str) -> ProjectRun | None:
        with translated():
            try:
                return _run(ProjectRunItem.get(_key(run_id), "#", consistent_read=True))
            except DoesNotExist:
                return None

    def save(self, run: ProjectRun) -> bool:
        item = _item(run, run.revision + 1)
        condition = ProjectRunItem.revision == run.revision
        if not run.settled:
            return written(partial(item.save, condition=condition))

        def settle() -> None:
            with TransactWrite(connection=StratusItem._get_connection().connection) as tx:
                tx.save(item, condition=condition)
                tx.delete(ActiveProjectRunItem(pk=ACTIVE_PK, sk=_active_sk(run)))

        return written(settle)

    def active(self, limit: int) -> list[ProjectRun]:
        with translated():
            keys = [
                item.sk.rsplit("#", 1)[-1]
                for item in ActiveProjectRunItem.query(
                    ACTIVE_PK, sort_key_prefix(ActiveProjectRunItem.sk, "A#"), limit=limit, consistent_read=True
                )
            ]
            runs: list[ProjectRun] = []
            for start in range(0, len(keys), BATCH_GET):
                chunk = [(_key(run_id), "#") for run_id in keys[start : start + BATCH_GET]]
                runs.extend(_run(item) for item in ProjectRunItem.batch_get(chunk, consistent_read=True))
        runs.sort(key=lambda r: (r.submitted_at, r.run_id))
        return [r for r in runs if not r.settled]
