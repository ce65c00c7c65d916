"""Logged models in DynamoDB: one item in the experiment's partition (``EXP#<exp>``/``M#<id>``), found by id through
a pointer item (``MODEL#<id>``/``#``). Costs per call: docs/data-model.md."""

from __future__ import annotations

from functools import partial

from pynamodb.exceptions import DoesNotExist
from pynamodb.transactions import TransactWrite

from stratus.domain import messages
from stratus.domain.entities import LoggedModel, ModelMetric
from stratus.domain.ports import LoggedModelChange
from stratus.errors import Conflict, ResourceDoesNotExist
from stratus.store.dynamodb.errors import translated, written
from stratus.store.dynamodb.items import LoggedModelItem, LoggedModelPointerItem, StratusItem, sort_key_prefix

MAX_ATTEMPTS = 12
_MODEL_PREFIX = "M#"


class DynamoLoggedModelStore:
    """``LoggedModelStore`` on the single Stratus table."""

    def __init__(self) -> None:
        self._experiment_of_model: dict[str, str] = {}

    def insert_logged_model(self, model: LoggedModel) -> None:
        pointer = LoggedModelPointerItem(pk=f"MODEL#{model.model_id}", sk="#", experiment_id=model.experiment_id)
        with translated(), TransactWrite(connection=StratusItem._get_connection().connection) as tx:
            tx.save(pointer, condition=LoggedModelPointerItem.pk.does_not_exist())
            tx.save(_item(model, version=1), condition=LoggedModelItem.pk.does_not_exist())
        self._experiment_of_model[model.model_id] = model.experiment_id

    def get_logged_model(self, model_id: str) -> LoggedModel | None:
        item = self._get_item(model_id)
        return _model(item) if item else None

    def list_logged_models(self, experiment_id: str) -> list[LoggedModel]:
        with translated():
            items = LoggedModelItem.query(
                f"EXP#{experiment_id}",
                sort_key_prefix(LoggedModelItem.sk, _MODEL_PREFIX),
                consistent_read=True,
            )
            return [_model(item) for item in items]

    def modify_logged_model(self, model_id: str, change: LoggedModelChange) -> LoggedModel:
        for _attempt in range(MAX_ATTEMPTS):
            item = self._get_item(model_id)
            if item is None:
                raise ResourceDoesNotExist(messages.logged_model_not_found(model_id))
            after = _model(item)
            change(after)
            updated = _item(after, version=int(item.version) + 1)
            if written(partial(updated.save, condition=LoggedModelItem.version == item.version)):
                return after
        raise Conflict(f"Logged model {model_id} was changed concurrently too many times; retry.")

    def _experiment_id(self, model_id: str) -> str | None:
        cached = self._experiment_of_model.get(model_id)
        if cached is not None:
            return cached
        with translated():
            try:
                pointer = LoggedModelPointerItem.get(f"MODEL#{model_id}", "#", consistent_read=True)
            except DoesNotExist:
                return None
        self._experiment_of_model[model_id] = pointer.experiment_id
        return pointer.experiment_id

    def _get_item(self, model_id: str) -> LoggedModelItem | None:
        experiment_id = self._experiment_id(model_id)
        if experiment_id is None:
            return None
        with translated():
            try:
                return LoggedModelItem.get(f"EXP#{experiment_id}", f"{_MODEL_PREFIX}{model_id}", consistent_read=True)
            except DoesNotExist:
                return None


def _item(model: LoggedModel, version: int) -> LoggedModelItem:
    return LoggedModelItem(
        pk=f"EXP#{model.experiment_id}",
        sk=f"{_MODEL_PREFIX}{model.model_id}",
        model_id=model.model_id,
        experiment_id=model.experiment_id,
        name=model.name,
        artifact_uri=model.artifact_uri,
        status=model.status,
        lifecycle_stage=model.lifecycle_stage,
        creation_timestamp_ms=model.creation_timestamp_ms,
        last_updated_timestamp_ms=model.last_updated_timestamp_ms,
        model_type=model.model_type,
        source_run_id=model.source_run_id,
        status_message=model.status_message,
        tags=dict(model.tags),
        params=dict(model.params),
        metrics=[
            [m.key, repr(float(m.value)), m.timestamp, m.step, m.run_id, m.dataset_name, m.dataset_digest]
            for m in model.metrics
        ],
        version=version,
    )


def _model(item: LoggedModelItem) -> LoggedModel:
    return LoggedModel(
        model_id=item.model_id,
        experiment_id=item.experiment_id,
        name=item.name,
        artifact_uri=item.artifact_uri,
        creation_timestamp_ms=int(item.creation_timestamp_ms),
        last_updated_timestamp_ms=int(item.last_updated_timestamp_ms),
        status=item.status,
        lifecycle_stage=item.lifecycle_stage,
        model_type=item.model_type,
        source_run_id=item.source_run_id,
        status_message=item.status_message,
        tags=item.tags.as_dict() if item.tags else {},
        params=item.params.as_dict() if item.params else {},
        metrics=[
            ModelMetric(
                key, float(value), int(ts), int(step), run_id, dataset_name, dataset_digest, model_id=item.model_id
            )
            for key, value, ts, step, run_id, dataset_name, dataset_digest in (item.metrics or [])
        ],
    )
