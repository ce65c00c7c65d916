"""The model registry in DynamoDB. A registered model has a stable internal id (``rm_id``) so that a rename moves
one name claim instead of every version; its item sits in the ``REGMODELS`` partition (one Query lists them all),
its versions and promotion history in ``RM#<rm_id>``. Every change is one TransactWriteItems conditioned on the
versions of what it read. Costs per call: docs/data-model.md."""

from __future__ import annotations

import copy
import random
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from stratus.domain import registry_rules as rules
from stratus.domain.actor import current_actor
from stratus.domain.entities import ModelVersion, PromotionEvent, RegisteredModel
from stratus.domain.ports import RegistryChange, RegistrySnapshot
from stratus.errors import Conflict, InvalidParameterValue, ResourceAlreadyExists, ResourceDoesNotExist
from stratus.store.dynamodb.batch import batch_delete
from stratus.store.dynamodb.errors import is_condition_failure, translated
from stratus.store.dynamodb.items import (
    ModelNameItem,
    ModelVersionItem,
    PromotionEventItem,
    RegisteredModelItem,
    StratusItem,
    sort_key_prefix,
)

MODELS_PK = "REGMODELS"
MAX_ATTEMPTS = 40  # many clients registering versions of one model at once all contend for its counter
_TRANSACTION_ITEMS = 100
_PARALLEL_READS = 8
_REMEMBERED_NAMES = 10_000  # name -> rm_id entries a container keeps (a few MB at most)


def _backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, min(0.2, 0.005 * 2**attempt)))  # noqa: S311 - jitter, not cryptography


def _connection():  # type: ignore[no-untyped-def]
    return StratusItem._get_connection().connection


class DynamoRegistryStore:
    """``RegistryStore`` on the single Stratus table."""

    def __init__(self) -> None:
        self._rm_ids: dict[str, str] = {}
        """name -> rm_id as seen by this container. A model's rm_id never changes but a name can move to another
        model (rename, or delete and create again), so a remembered id is used only where the model item is read
        anyway, and only if that item still has the name: a stale entry costs the read it would have saved."""

    # ---------------------------------------------------------------- reads

    def _rm_id(self, name: str) -> str | None:
        with translated():
            try:
                return ModelNameItem.get(f"RMNAME#{name}", "#", consistent_read=True).rm_id
            except DoesNotExist:
                return None

    def _model_item(self, name: str) -> RegisteredModelItem | None:
        remembered = self._rm_ids.get(name)
        if remembered is not None:
            item = self._model_item_by_id(remembered)
            if item is not None and item.name == name:
                return item
            del self._rm_ids[name]
        rm_id = self._rm_id(name)
        if rm_id is None:
            return None
        item = self._model_item_by_id(rm_id)
        if item is not None:
            if len(self._rm_ids) >= _REMEMBERED_NAMES:
                self._rm_ids.clear()
            self._rm_ids[name] = rm_id
        return item

    @staticmethod
    def _model_item_by_id(rm_id: str) -> RegisteredModelItem | None:
        with translated():
            try:
                return RegisteredModelItem.get(MODELS_PK, f"M#{rm_id}", consistent_read=True)
            except DoesNotExist:
                return None

    def get_model(self, name: str) -> RegisteredModel | None:
        item = self._model_item(name)
        return _model(item) if item else None

    @staticmethod
    def _model_items() -> list[RegisteredModelItem]:
        in_registry = sort_key_prefix(RegisteredModelItem.sk, "M#")
        with translated():
            return list(RegisteredModelItem.query(MODELS_PK, in_registry, consistent_read=True))

    def list_models(self) -> list[RegisteredModel]:
        return [_model(item) for item in self._model_items()]

    def all_versions(self) -> list[ModelVersion]:
        """1 Query of the models, then 1 Query per model (8 at a time): each model item gives its versions' partition
        and their name, so no name claim is read."""
        models = self._model_items()

        def versions(model: RegisteredModelItem) -> list[ModelVersion]:
            return [_version(model.name, item) for item in self._version_items(model.rm_id)]

        with ThreadPoolExecutor(max_workers=_PARALLEL_READS) as pool:
            return [version for per_model in pool.map(versions, models) for version in per_model]

    def _version_items(self, rm_id: str) -> list[ModelVersionItem]:
        with translated():
            return list(
                ModelVersionItem.query(f"RM#{rm_id}", sort_key_prefix(ModelVersionItem.sk, "V#"), consistent_read=True)
            )

    def list_versions(self, name: str) -> list[ModelVersion]:
        rm_id = self._rm_id(name)
        return [_version(name, item) for item in self._version_items(rm_id)] if rm_id else []

    def versions_of_models_with_run(self, run_id: str) -> list[ModelVersion] | None:
        """1 Query of the RunVersions index, then per model found: 1 GetItem (its current name) and 1 Query. None
        while the index cannot be read (DynamoDB builds an index added to a table with items before it serves it)."""
        if not run_id:
            return None  # versions without a run ("") are not in the index
        try:
            with translated():
                rm_ids = {item.pk.removeprefix("RM#") for item in ModelVersionItem.by_run.query(run_id)}
        except InvalidParameterValue:  # the ValidationException "Cannot read from backfilling global secondary index"
            return None
        versions = []
        for rm_id in sorted(rm_ids):
            model = self._model_item_by_id(rm_id)
            if model is not None:  # the index still lists a model deleted a moment ago
                versions += [_version(model.name, item) for item in self._version_items(rm_id)]
        return versions

    def get_version(self, name: str, version: int) -> ModelVersion | None:
        rm_id = self._rm_id(name)
        if rm_id is None:
            return None
        with translated():
            try:
                return _version(name, ModelVersionItem.get(f"RM#{rm_id}", _version_sk(version), consistent_read=True))
            except DoesNotExist:
                return None

    def history(self, name: str) -> list[PromotionEvent]:
        rm_id = self._rm_id(name)
        if rm_id is None:
            return []
        with translated():
            items = PromotionEventItem.query(
                f"RM#{rm_id}",
                sort_key_prefix(PromotionEventItem.sk, "H#"),
                consistent_read=True,
                scan_index_forward=False,
            )
            return [_event(name, item) for item in items]

    # ---------------------------------------------------------------- writes

    def create_model(self, model: RegisteredModel) -> None:
        rm_id = uuid.uuid4().hex
        claim = ModelNameItem(pk=f"RMNAME#{model.name}", sk="#", rm_id=rm_id)
        try:
            with translated(), TransactWrite(connection=_connection()) as tx:
                tx.save(claim, condition=ModelNameItem.pk.does_not_exist())
                tx.save(_model_item(rm_id, model, version=1))
        except TransactWriteError as exc:
            if is_condition_failure(exc):
                raise ResourceAlreadyExists(rules.model_already_exists(model.name)) from exc
            raise

    def create_version(self, name: str, build: Callable[[int], ModelVersion], touched: int) -> ModelVersion:
        for attempt in range(MAX_ATTEMPTS):
            item = self._require(name)
            number = int(item.last_version) + 1
            version = build(number)
            model = _model(item)
            model.last_updated_timestamp = touched
            try:
                with translated(), TransactWrite(connection=_connection()) as tx:
                    new_item = _model_item(item.rm_id, model, version=int(item.version) + 1, last_version=number)
                    tx.save(new_item, condition=RegisteredModelItem.version == item.version)
                    tx.save(_version_item(item.rm_id, version, 1), condition=ModelVersionItem.pk.does_not_exist())
                return version
            except TransactWriteError as exc:
                if not is_condition_failure(exc):
                    raise
                _backoff(attempt)
        raise Conflict(f"Model Version creation error (name={name}). Giving up after {MAX_ATTEMPTS} attempts.")

    def modify(self, name: str, change: RegistryChange, versions: list[int] | None = None) -> RegistrySnapshot:
        for attempt in range(MAX_ATTEMPTS):
            item = self._require(name)
            version_items = self._read_versions(item.rm_id, versions)
            before = RegistrySnapshot(_model(item), {int(v.number): _version(name, v) for v in version_items})
            after = copy.deepcopy(before)
            events = change(after)
            if after == before and not events:
                return after
            try:
                self._write(item, {int(v.number): v for v in version_items}, before, after, events)
                return after
            except (PutError, TransactWriteError) as exc:
                if not is_condition_failure(exc):
                    raise
                _backoff(attempt)
        raise Conflict(f"Registered model {name} was changed concurrently too many times; retry.")

    def _read_versions(self, rm_id: str, versions: list[int] | None) -> list[ModelVersionItem]:
        if versions is None:
            return self._version_items(rm_id)
        if not versions:
            return []
        keys = [(f"RM#{rm_id}", _version_sk(number)) for number in dict.fromkeys(versions)]
        with translated():  # one BatchGetItem (pynamodb resends unprocessed keys), missing versions left out
            return list(ModelVersionItem.batch_get(keys, consistent_read=True))

    def _write(
        self,
        item: RegisteredModelItem,
        version_items: dict[int, ModelVersionItem],
        before: RegistrySnapshot,
        after: RegistrySnapshot,
        events: list[PromotionEvent],
    ) -> None:
        changed = [n for n, v in after.versions.items() if before.versions.get(n) != v]
        removed = [n for n in before.versions if n not in after.versions]
        if len(changed) + len(removed) + len(events) + 1 > _TRANSACTION_ITEMS:
            raise InvalidParameterValue(
                f"This change touches more than {_TRANSACTION_ITEMS - 1} items of registered model {item.name} at once."
            )
        rm_id = item.rm_id
        with translated(), TransactWrite(connection=_connection()) as tx:
            # The model item is always written (or checked): every change is ordered against every other.
            new_model = _model_item(
                rm_id, after.model, version=int(item.version) + 1, last_version=int(item.last_version)
            )
            tx.save(new_model, condition=RegisteredModelItem.version == item.version)
            for number in changed:
                old = version_items[number]
                tx.save(
                    _version_item(rm_id, after.versions[number], int(old.version) + 1),
                    condition=ModelVersionItem.version == old.version,
                )
            for number in removed:
                old = version_items[number]
                tx.delete(old, condition=ModelVersionItem.version == old.version)
            for event in events:
                tx.save(_event_item(rm_id, event))

    def rename_model(self, name: str, new_name: str, touched: int) -> RegisteredModel:
        """Move the name claim and update the model in one transaction; the versions' last update becomes the rename
        time too, as in the reference (in the same transaction while it fits, else right after)."""
        for attempt in range(MAX_ATTEMPTS):
            item = self._require(name)
            model = _model(item)
            model.name, model.last_updated_timestamp = new_name, touched
            versions = self._version_items(item.rm_id)
            inside = versions if len(versions) + 3 <= _TRANSACTION_ITEMS else []
            try:
                with translated(), TransactWrite(connection=_connection()) as tx:
                    old = ModelNameItem(pk=f"RMNAME#{name}", sk="#")
                    tx.delete(old, condition=ModelNameItem.rm_id == item.rm_id)
                    new = ModelNameItem(pk=f"RMNAME#{new_name}", sk="#", rm_id=item.rm_id)
                    tx.save(new, condition=ModelNameItem.pk.does_not_exist())
                    new_item = _model_item(item.rm_id, model, int(item.version) + 1, int(item.last_version))
                    tx.save(new_item, condition=RegisteredModelItem.version == item.version)
                    for version in inside:
                        tx.update(version, actions=_renamed(version, new_name, touched))
            except TransactWriteError as exc:
                if not is_condition_failure(exc):
                    raise
                if self._rm_id(new_name) is not None:
                    raise ResourceAlreadyExists(f"Registered Model (name={new_name}) already exists.") from exc
                _backoff(attempt)
                continue
            if not inside:
                with translated():
                    for version in versions:
                        version.update(actions=_renamed(version, new_name, touched))
            return model
        raise Conflict(f"Registered model {name} was changed concurrently too many times; retry.")

    def delete_model(self, name: str) -> None:
        """The name and the model go in one transaction (the model is gone for every reader at once); its versions
        and history are deleted after, and are unreachable in between."""
        item = self._require(name)
        with translated(), TransactWrite(connection=_connection()) as tx:
            tx.delete(ModelNameItem(pk=f"RMNAME#{name}", sk="#"), condition=ModelNameItem.rm_id == item.rm_id)
            tx.delete(item, condition=RegisteredModelItem.version == item.version)
        with translated():
            leftovers = StratusItem.query(f"RM#{item.rm_id}", consistent_read=True, attributes_to_get=["pk", "sk"])
            batch_delete(list(leftovers))

    def _require(self, name: str) -> RegisteredModelItem:
        item = self._model_item(name)
        if item is None:
            raise ResourceDoesNotExist(rules.model_not_found(name))
        return item


def _renamed(version: ModelVersionItem, new_name: str, touched: int) -> list[Any]:
    actions = [
        ModelVersionItem.last_updated_timestamp.set(touched),
        ModelVersionItem.model_name.set(new_name),
        ModelVersionItem.updated_by.set(current_actor.get()),
    ]
    if version.run_id == "":
        # Written before run_id became the RunVersions key: DynamoDB refuses any update of an item that keeps an
        # empty string in an index key, so the empty value goes (it reads back as "" all the same).
        actions.append(ModelVersionItem.run_id.remove())
    return actions


def _version_sk(number: int) -> str:
    return f"V#{number:010d}"


def _model_item(rm_id: str, model: RegisteredModel, version: int, last_version: int = 0) -> RegisteredModelItem:
    return RegisteredModelItem(
        pk=MODELS_PK,
        sk=f"M#{rm_id}",
        rm_id=rm_id,
        name=model.name,
        description=model.description,
        creation_timestamp=model.creation_timestamp,
        last_updated_timestamp=model.last_updated_timestamp,
        tags=dict(model.tags),
        aliases=dict(model.aliases),
        last_version=last_version,
        updated_by=current_actor.get(),
        version=version,
    )


def _model(item: RegisteredModelItem) -> RegisteredModel:
    aliases = item.aliases.as_dict() if item.aliases else {}
    return RegisteredModel(
        name=item.name,
        creation_timestamp=int(item.creation_timestamp),
        last_updated_timestamp=int(item.last_updated_timestamp),
        description=item.description,
        tags=item.tags.as_dict() if item.tags else {},
        aliases={alias: int(number) for alias, number in aliases.items()},
    )


def _version_item(rm_id: str, v: ModelVersion, version: int) -> ModelVersionItem:
    return ModelVersionItem(
        pk=f"RM#{rm_id}",
        sk=_version_sk(v.version),
        model_name=v.name,
        updated_by=current_actor.get(),
        number=v.version,
        creation_timestamp=v.creation_timestamp,
        last_updated_timestamp=v.last_updated_timestamp,
        source=v.source,
        run_id=v.run_id or None,  # "" (no run) is left out: DynamoDB refuses an empty string as an index key
        model_id=v.model_id,
        storage_location=v.storage_location,
        run_link=v.run_link,
        description=v.description,
        user_id=v.user_id,
        current_stage=v.current_stage,
        status=v.status,
        status_message=v.status_message,
        tags=dict(v.tags),
        version=version,
    )


def _version(name: str, item: ModelVersionItem) -> ModelVersion:
    return ModelVersion(
        name=name,
        version=int(item.number),
        creation_timestamp=int(item.creation_timestamp),
        last_updated_timestamp=int(item.last_updated_timestamp),
        source=item.source,
        run_id=item.run_id or "",
        model_id=item.model_id,
        storage_location=item.storage_location,
        run_link=item.run_link,
        description=item.description,
        user_id=item.user_id,
        current_stage=item.current_stage,
        status=item.status,
        status_message=item.status_message,
        tags=item.tags.as_dict() if item.tags else {},
    )


def _event_item(rm_id: str, e: PromotionEvent) -> PromotionEventItem:
    return PromotionEventItem(
        pk=f"RM#{rm_id}",
        sk=f"H#{e.timestamp:013d}#{e.event_id}",
        number=e.version,
        kind=e.kind,
        before=e.before,
        after=e.after,
        actor=e.actor,
        timestamp=e.timestamp,
        alias=e.alias,
        event_id=e.event_id,
    )


def _event(name: str, item: PromotionEventItem) -> PromotionEvent:
    return PromotionEvent(
        model_name=name,
        version=int(item.number),
        kind=item.kind,
        before=item.before,
        after=item.after,
        actor=item.actor,
        timestamp=int(item.timestamp),
        alias=item.alias,
        event_id=item.event_id,
    )
