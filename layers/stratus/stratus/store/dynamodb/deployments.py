"""Model deployments in DynamoDB: ``DEPLOYS``/``D#<name>`` holds each deployment (GetItem; the list is one Query of
that partition, a page at a time) and ``DEPLOY#<name>``/``H#<time>#<rollout>#<outcome>`` its history, newest last.
Every save is conditional on the deployment's revision."""

from __future__ import annotations

import json
from dataclasses import asdict
from functools import partial
from typing import Any

from pynamodb.exceptions import DoesNotExist

from stratus.domain.deployments import (
    Deployment,
    DeploymentConfig,
    HistoryEntry,
    ModelTarget,
    Rollout,
    RolloutEnd,
    Served,
)
from stratus.store.dynamodb.errors import translated, written
from stratus.store.dynamodb.items import DeploymentHistoryItem, DeploymentItem, sort_key_prefix

LIST_PK = "DEPLOYS"


def _sk(name: str) -> str:
    return f"D#{name}"


def _history_pk(name: str) -> str:
    return f"DEPLOY#{name}"


def _item(deployment: Deployment, revision: int) -> DeploymentItem:
    body = asdict(deployment)
    body.pop("revision")
    return DeploymentItem(
        pk=LIST_PK, sk=_sk(deployment.name), state=deployment.state, revision=revision, body=json.dumps(body)
    )


def _rollout(body: dict[str, Any] | None) -> Rollout | None:
    if body is None:
        return None
    return Rollout(**{**body, "target": ModelTarget(**body["target"])})


def _deployment(item: DeploymentItem) -> Deployment:
    body: dict[str, Any] = json.loads(item.body)
    follows = body.get("follows")
    return Deployment(
        **{
            **body,
            "config": DeploymentConfig(**body["config"]),
            "follows": tuple(follows) if follows else None,
            "served": Served(**body["served"]) if body.get("served") else None,
            "rollout": _rollout(body.get("rollout")),
            "last_rollout": RolloutEnd(**body["last_rollout"]) if body.get("last_rollout") else None,
        },
        revision=int(item.revision),
    )


class DynamoDeploymentStore:
    """``DeploymentStore`` on the single Stratus table."""

    def create(self, deployment: Deployment) -> bool:
        item = _item(deployment, deployment.revision)
        return written(partial(item.save, condition=DeploymentItem.pk.does_not_exist()))

    def get(self, name: str) -> Deployment | None:
        with translated():
            try:
                return _deployment(DeploymentItem.get(LIST_PK, _sk(name), consistent_read=True))
            except DoesNotExist:
                return None

    def save(self, deployment: Deployment) -> bool:
        item = _item(deployment, deployment.revision + 1)
        return written(partial(item.save, condition=DeploymentItem.revision == deployment.revision))

    def list(self, max_results: int, page_token: str | None) -> tuple[list[Deployment], str | None]:
        with translated():
            query = DeploymentItem.query(
                LIST_PK,
                sort_key_prefix(DeploymentItem.sk, "D#"),
                limit=max_results,
                consistent_read=True,
                last_evaluated_key={"pk": {"S": LIST_PK}, "sk": {"S": _sk(page_token)}} if page_token else None,
            )
            found = [_deployment(item) for item in query]
            last = query.last_evaluated_key
        token = str(last["sk"]["S"]).removeprefix("D#") if last and len(found) >= max_results else None
        return found, token

    def delete(self, name: str) -> None:
        with translated():
            history = list(DeploymentHistoryItem.query(_history_pk(name), attributes_to_get=["pk", "sk"]))
            with DeploymentHistoryItem.batch_write() as batch:
                for item in history:
                    batch.delete(item)
            DeploymentItem(pk=LIST_PK, sk=_sk(name)).delete()

    def add_history(self, name: str, entry: HistoryEntry) -> None:
        sk = f"H#{entry.time:013d}#{entry.rollout_id}#{entry.outcome}"
        with translated():
            DeploymentHistoryItem(pk=_history_pk(name), sk=sk, body=json.dumps(asdict(entry))).save()

    def history(self, name: str, max_results: int) -> list[HistoryEntry]:
        with translated():
            items = DeploymentHistoryItem.query(
                _history_pk(name),
                sort_key_prefix(DeploymentHistoryItem.sk, "H#"),
                scan_index_forward=False,
                limit=max_results,
            )
            return [HistoryEntry(**json.loads(item.body)) for item in items]
