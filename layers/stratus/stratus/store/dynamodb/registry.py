"""The model registry in DynamoDB. A registered model has a stable internal id (``rm_id``) so that a rename moves
one name claim instead of every version; its item sits in the ``REGMODELS`` partition (one Query lists them all),
its versions and promotion history in ``RM#<rm_id>``, and a summary of each version in the registry-wide ``MVSUM``
partition (one Query answers a search over every model). Every change is one TransactWriteItems conditioned on the
versions of what it read. Costs per call: docs/data-model.md."""

from __future__ import annotations

import copy
import json
import random
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from stratus.domain import registry_rules as rules
from stratus.domain.actor import current_actor
from stratus.domain.entities import ModelVersion, PromotionEvent, RegisteredModel, latest_per_stage
from stratus.domain.ports import RegistryChange, RegistrySnapshot
from stratus.errors import Conflict, InvalidParameterValue, ResourceAlreadyExists, ResourceDoesNotExist
from stratus.store.dynamodb.batch import batch_delete
from stratus.store.dynamodb.errors import is_condition_failure, is_transaction_conflict, translated, written
from stratus.store.dynamodb.items import (
    ModelNameItem,
    ModelVersionItem,
    ModelVersionSummaryItem,
    PromotionEventItem,
    RegisteredModelItem,
    StratusItem,
    sort_key_prefix,
)

MODELS_PK = "REGMODELS"
SUMMARIES_PK = "MVSUM"  # ModelVersionSummaryItem
_SUMMARIES_MARKER = "#"  # every version of the table has its summary
_SUMMARIES_FIRST, _SUMMARIES_END = "0", "g"  # every summary's sort key (rm_ids are hex), not the marker
MAX_ATTEMPTS = 40  # many clients registering versions of one model at once all contend for its counter
_TRANSACTION_ITEMS = 100  # AWS's limit per TransactWriteItems
_RENAMED_PER_TRANSACTION = (_TRANSACTION_ITEMS - 1) // 2  # a version and its summary, and a check of the model
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

    def get_model_and_latest(self, name: str) -> RegisteredModel | None:
        """The model item (1 GetItem, 2 the first time a container sees the name), then the newest version of each
        stage it names (1 BatchGetItem of at most 4 versions). A model item written before it kept those numbers, or
        a version moved or deleted between the two reads, costs the Query of every version instead."""
        item = self._model_item(name)
        if item is None:
            return None
        model = _model(item)
        model.latest_versions = self._latest_versions(item)
        return model

    def _latest_versions(self, item: RegisteredModelItem) -> list[ModelVersion]:
        latest = _latest_of(item)
        if latest:
            keys = [(f"RM#{item.rm_id}", _version_sk(number)) for number in sorted(set(latest.values()))]
            with translated():
                found = {
                    int(v.number): _version(item.name, v)
                    for v in ModelVersionItem.batch_get(keys, consistent_read=True)
                }
            if all(n in found and found[n].current_stage == stage for stage, n in latest.items()):
                return latest_per_stage(found.values())
        elif latest is not None:
            return []  # a model without versions
        return latest_per_stage(_version(item.name, v) for v in self._version_items(item.rm_id))

    @staticmethod
    def _model_items() -> list[RegisteredModelItem]:
        in_registry = sort_key_prefix(RegisteredModelItem.sk, "M#")
        with translated():
            return list(RegisteredModelItem.query(MODELS_PK, in_registry, consistent_read=True))

    def list_models(self) -> list[RegisteredModel]:
        return [_model(item) for item in self._model_items()]

    def all_versions(self) -> list[ModelVersion]:
        """From the version summaries when the table has all of them (their marker says so): 1 GetItem and 1 Query
        of ``MVSUM`` (in 1 MB pages), whatever the number of models. In the order of the model-by-model read: models
        by rm_id, then versions by number."""
        connection = ModelVersionSummaryItem._get_connection()  # noqa: SLF001 - pynamodb's own way to the connection
        with translated():
            marker = connection.get_item(SUMMARIES_PK, _SUMMARIES_MARKER, consistent_read=True)
        if "Item" not in marker:
            return self._versions_model_by_model()
        in_summaries = ModelVersionSummaryItem.sk.between(_SUMMARIES_FIRST, _SUMMARIES_END)
        versions: list[ModelVersion] = []
        start: dict[str, Any] | None = None
        with translated():
            while True:
                page = connection.query(SUMMARIES_PK, in_summaries, consistent_read=True, exclusive_start_key=start)
                versions.extend(_version_of_summary(raw) for raw in page.get("Items", ()))
                start = page.get("LastEvaluatedKey")
                if not start:
                    return versions

    def _versions_model_by_model(self) -> list[ModelVersion]:
        """Every version of a table whose versions may lack summaries (written before they existed): 1 Query of the
        models, then 1 Query per model (8 at a time); each model item gives its versions' partition and their name,
        so no name claim is read."""
        models = self._model_items()

        def versions(model: RegisteredModelItem) -> list[ModelVersion]:
            return [_version(model.name, item) for item in self._version_items(model.rm_id)]

        with ThreadPoolExecutor(max_workers=_PARALLEL_READS) as pool:
            return [version for per_model in pool.map(versions, models) for version in per_model]

    @staticmethod
    def _version_items(rm_id: str) -> list[ModelVersionItem]:
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

    @staticmethod
    def _registry_is_empty() -> bool:
        connection = RegisteredModelItem._get_connection()  # noqa: SLF001 - pynamodb's own way to the connection
        in_registry = sort_key_prefix(RegisteredModelItem.sk, "M#")
        with translated():
            page = connection.query(MODELS_PK, in_registry, consistent_read=True, limit=1, attributes_to_get=["pk"])
        return not page.get("Items")

    def create_model(self, model: RegisteredModel) -> None:
        rm_id = uuid.uuid4().hex
        claim = ModelNameItem(pk=f"RMNAME#{model.name}", sk="#", rm_id=rm_id)
        # A registry without models has no version without a summary, and this code writes one with every version:
        # the marker lets searches read the summaries (a table from before them never gets it while it has models).
        first = self._registry_is_empty()
        try:
            with translated(), TransactWrite(connection=_connection()) as tx:
                tx.save(claim, condition=ModelNameItem.pk.does_not_exist())
                tx.save(_model_item(rm_id, model, version=1, latest={}))
                if first:
                    tx.save(ModelVersionSummaryItem(pk=SUMMARIES_PK, sk=_SUMMARIES_MARKER))
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
            latest = _latest_of(item)
            if latest is None:  # a model item from before the numbers were kept: computed once, then kept
                latest = _stages_latest(_version(name, v) for v in self._version_items(item.rm_id))
            latest[version.current_stage] = number  # the highest number there is
            try:
                with translated(), TransactWrite(connection=_connection()) as tx:
                    new_item = _model_item(
                        item.rm_id, model, version=int(item.version) + 1, last_version=number, latest=latest
                    )
                    tx.save(new_item, condition=RegisteredModelItem.version == item.version)
                    tx.save(_version_item(item.rm_id, version, 1), condition=ModelVersionItem.pk.does_not_exist())
                    tx.save(_summary_item(item.rm_id, version))
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
        # A version changed or removed is two items: the version and its summary.
        if 2 * (len(changed) + len(removed)) + len(events) + 1 > _TRANSACTION_ITEMS:
            raise InvalidParameterValue(
                f"This change touches more than {_TRANSACTION_ITEMS - 1} items of registered model {item.name} at once."
            )
        rm_id = item.rm_id
        latest = _moved_latest(_latest_of(item), before, after)
        if latest is None:  # a stage's newest version left it: its next newest is known only from them all
            versions = {int(v.number): _version(item.name, v) for v in self._version_items(rm_id)}
            versions.update(after.versions)
            for number in removed:
                versions.pop(number, None)
            latest = _stages_latest(versions.values())
        with translated(), TransactWrite(connection=_connection()) as tx:
            # The model item is always written (or checked): every change is ordered against every other.
            new_model = _model_item(
                rm_id, after.model, version=int(item.version) + 1, last_version=int(item.last_version), latest=latest
            )
            tx.save(new_model, condition=RegisteredModelItem.version == item.version)
            for number in changed:
                old = version_items[number]
                tx.save(
                    _version_item(rm_id, after.versions[number], int(old.version) + 1),
                    condition=ModelVersionItem.version == old.version,
                )
                tx.save(_summary_item(rm_id, after.versions[number]))
            for number in removed:
                old = version_items[number]
                tx.delete(old, condition=ModelVersionItem.version == old.version)
                tx.delete(_summary_key(rm_id, number))
            for event in events:
                tx.save(_event_item(rm_id, event))

    def rename_model(self, name: str, new_name: str, touched: int) -> RegisteredModel:
        """Move the name claim and update the model in one transaction; the versions' last update becomes the rename
        time too, as in the reference, and their summaries take the new name (in the same transaction while it fits,
        else right after: ``_rename_versions``)."""
        for attempt in range(MAX_ATTEMPTS):
            item = self._require(name)
            model = _model(item)
            model.name, model.last_updated_timestamp = new_name, touched
            versions = self._version_items(item.rm_id)
            inside = versions if 2 * len(versions) + 3 <= _TRANSACTION_ITEMS else []
            try:
                with translated(), TransactWrite(connection=_connection()) as tx:
                    old = ModelNameItem(pk=f"RMNAME#{name}", sk="#")
                    tx.delete(old, condition=ModelNameItem.rm_id == item.rm_id)
                    new = ModelNameItem(pk=f"RMNAME#{new_name}", sk="#", rm_id=item.rm_id)
                    tx.save(new, condition=ModelNameItem.pk.does_not_exist())
                    new_item = _model_item(
                        item.rm_id, model, int(item.version) + 1, int(item.last_version), latest=_latest_of(item)
                    )
                    tx.save(new_item, condition=RegisteredModelItem.version == item.version)
                    for version in inside:
                        tx.update(version, actions=_renamed(version, new_name, touched))
                        tx.save(_renamed_summary(item.rm_id, version, new_name, touched))
            except TransactWriteError as exc:
                if not is_condition_failure(exc):
                    raise
                if self._rm_id(new_name) is not None:
                    raise ResourceAlreadyExists(f"Registered Model (name={new_name}) already exists.") from exc
                _backoff(attempt)
                continue
            if not inside:
                self._rename_versions(item.rm_id, new_name, touched, int(item.version) + 1, versions)
            return model
        raise Conflict(f"Registered model {name} was changed concurrently too many times; retry.")

    def _rename_versions(
        self, rm_id: str, new_name: str, touched: int, model_version: int, versions: list[ModelVersionItem]
    ) -> None:
        """After the rename's transaction, the versions and their summaries of a model too big for it: transactions
        of 49 versions, each checking that the model item is still the one the rename wrote, since a summary carries
        the name searches show. When another change came in between (a version changed or deleted), the versions
        not done yet are read again and the rest goes on; when the model was renamed again or deleted, that change
        has written (or deleted) them all and nothing more is done."""
        pending = {int(version.number): version for version in versions}
        for attempt in range(MAX_ATTEMPTS):
            numbers = list(pending)
            for start in range(0, len(numbers), _RENAMED_PER_TRANSACTION):
                chunk = [pending[n] for n in numbers[start : start + _RENAMED_PER_TRANSACTION]]
                if not self._rename_chunk(rm_id, new_name, touched, model_version, chunk):
                    break
                for version in chunk:
                    del pending[int(version.number)]
            if not pending:
                return
            _backoff(attempt)
            model = self._model_item_by_id(rm_id)
            if model is None or model.name != new_name:
                return
            model_version = int(model.version)
            pending = {n: v for v in self._version_items(rm_id) if (n := int(v.number)) in pending}
        raise Conflict(f"Registered model {new_name} was changed concurrently too many times; retry.")

    @staticmethod
    def _rename_chunk(
        rm_id: str, new_name: str, touched: int, model_version: int, versions: list[ModelVersionItem]
    ) -> bool:
        """False if the model item changed since it was at ``model_version`` (nothing is written then)."""
        with translated():
            try:
                with TransactWrite(connection=_connection()) as tx:
                    tx.condition_check(
                        RegisteredModelItem,
                        MODELS_PK,
                        f"M#{rm_id}",
                        condition=RegisteredModelItem.version == model_version,
                    )
                    for version in versions:
                        tx.update(version, actions=_renamed(version, new_name, touched))
                        tx.save(_renamed_summary(rm_id, version, new_name, touched))
            except TransactWriteError as exc:
                # A transaction conflict wrote nothing, like a lost race: go on from a fresh read.
                if is_condition_failure(exc) or is_transaction_conflict(exc):
                    return False
                raise
        return True

    def delete_model(self, name: str) -> None:
        """The name, the model and its versions' summaries go in one transaction (the model is gone for every reader
        at once); its versions and history are deleted after, and are unreachable in between. The keys of its
        partition are read first: every write to it changes the model item too, so the transaction's condition on
        that item also says that nothing was added since. A model with more than 98 versions has its summaries
        deleted after the transaction as well, and a search may still show its versions for that moment."""
        for attempt in range(MAX_ATTEMPTS):
            item = self._require(name)
            with translated():
                keys = list(StratusItem.query(f"RM#{item.rm_id}", consistent_read=True, attributes_to_get=["pk", "sk"]))
            summaries = [_summary_key(item.rm_id, int(key.sk[2:])) for key in keys if key.sk.startswith("V#")]
            inside = summaries if len(summaries) + 2 <= _TRANSACTION_ITEMS else []
            try:
                with translated(), TransactWrite(connection=_connection()) as tx:
                    tx.delete(ModelNameItem(pk=f"RMNAME#{name}", sk="#"), condition=ModelNameItem.rm_id == item.rm_id)
                    tx.delete(item, condition=RegisteredModelItem.version == item.version)
                    for summary in inside:
                        tx.delete(summary)
            except TransactWriteError as exc:
                if not is_condition_failure(exc):
                    raise
                _backoff(attempt)
                continue
            with translated():
                batch_delete([*keys, *(summary for summary in summaries if not inside)])
            return
        raise Conflict(f"Registered model {name} was changed concurrently too many times; retry.")

    def _require(self, name: str) -> RegisteredModelItem:
        item = self._model_item(name)
        if item is None:
            raise ResourceDoesNotExist(rules.model_not_found(name))
        return item


def backfill_summaries(start: dict[str, Any] | None, models: int) -> dict[str, Any] | None:
    """Upgrade step (``migrations.version_summaries``): write the missing summaries of the versions of up to ``models``
    registered models after the key ``start`` of the ``REGMODELS`` Query; the key to go on from. After the last page
    the marker says every version has its summary (searches then read ``MVSUM`` alone) and None is answered."""
    connection = RegisteredModelItem._get_connection()  # noqa: SLF001 - pynamodb's own way to the connection
    in_registry = sort_key_prefix(RegisteredModelItem.sk, "M#")
    with translated():
        page = connection.query(MODELS_PK, in_registry, consistent_read=True, limit=models, exclusive_start_key=start)
    for raw in page.get("Items", ()):
        _backfill_model(RegisteredModelItem.from_raw_data(raw))
    following = page.get("LastEvaluatedKey")
    if following is None:
        with translated():
            ModelVersionSummaryItem(pk=SUMMARIES_PK, sk=_SUMMARIES_MARKER).save()
    return following


def _backfill_model(model: RegisteredModelItem) -> None:
    """Put the summary of each version of the model that has none, conditioned on the version being as read and on
    no summary being there: a version changed, renamed or deleted meanwhile wrote (or deleted) its own."""
    of_model = sort_key_prefix(ModelVersionSummaryItem.sk, f"{model.rm_id}#")
    with translated():
        present = {
            item.sk
            for item in ModelVersionSummaryItem.query(
                SUMMARIES_PK, of_model, consistent_read=True, attributes_to_get=["pk", "sk"]
            )
        }
    for version in DynamoRegistryStore._version_items(model.rm_id):  # noqa: SLF001 - the registry's own read
        summary = _summary_item(model.rm_id, _version(model.name, version))
        if summary.sk in present:
            continue

        def put(version: ModelVersionItem = version, summary: ModelVersionSummaryItem = summary) -> None:
            with TransactWrite(connection=_connection()) as tx:
                tx.condition_check(
                    ModelVersionItem, version.pk, version.sk, condition=ModelVersionItem.version == version.version
                )
                tx.save(summary, condition=ModelVersionSummaryItem.pk.does_not_exist())

        written(put)


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


def _summary_key(rm_id: str, number: int) -> ModelVersionSummaryItem:
    return ModelVersionSummaryItem(pk=SUMMARIES_PK, sk=f"{rm_id}#{number:010d}")


def _summary_item(rm_id: str, v: ModelVersion) -> ModelVersionSummaryItem:
    item = _summary_key(rm_id, v.version)
    item.body = _summary_body(v)
    return item


def _renamed_summary(rm_id: str, item: ModelVersionItem, new_name: str, touched: int) -> ModelVersionSummaryItem:
    version = _version(new_name, item)
    version.last_updated_timestamp = touched
    return _summary_item(rm_id, version)


def _summary_body(v: ModelVersion) -> str:
    """What ``_version`` gives for the version, as compact JSON: ``{"n": model name, "c": creation, "u": last update,
    "s": source, "r": run_id, "m": model_id, "l": storage_location, "k": run_link, "d": description, "w": user_id,
    "g": stage, "st": status, "sm": status_message, "t": tags}``, members that are None (or an empty run_id or tags)
    left out; the number is in the sort key."""
    fields = {
        "n": v.name,
        "c": v.creation_timestamp,
        "u": v.last_updated_timestamp,
        "s": v.source,
        "r": v.run_id or None,
        "m": v.model_id,
        "l": v.storage_location,
        "k": v.run_link,
        "d": v.description,
        "w": v.user_id,
        "g": v.current_stage,
        "st": v.status,
        "sm": v.status_message,
        "t": v.tags or None,
    }
    present = {key: value for key, value in fields.items() if value is not None}
    return json.dumps(present, separators=(",", ":"), ensure_ascii=False)


def _version_of_summary(raw: dict[str, Any]) -> ModelVersion:
    """A version from its summary as DynamoDB returns it (raw: no pynamodb model for thousands of items)."""
    body = json.loads(raw["body"]["S"])
    return ModelVersion(
        name=body["n"],
        version=int(raw["sk"]["S"].rsplit("#", 1)[1]),
        creation_timestamp=int(body["c"]),
        last_updated_timestamp=int(body["u"]),
        source=body["s"],
        run_id=body.get("r", ""),
        model_id=body.get("m"),
        storage_location=body.get("l"),
        run_link=body.get("k"),
        description=body.get("d"),
        user_id=body.get("w"),
        current_stage=body["g"],
        status=body["st"],
        status_message=body.get("sm"),
        tags=body.get("t", {}),
    )


def _model_item(
    rm_id: str, model: RegisteredModel, version: int, last_version: int = 0, *, latest: dict[str, int] | None
) -> RegisteredModelItem:
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
        latest=latest,
        updated_by=current_actor.get(),
        version=version,
    )


def _latest_of(item: RegisteredModelItem) -> dict[str, int] | None:
    """Stage -> number of its newest version, as the model item keeps it; None on an item written before it did."""
    if item.latest is None:
        return None
    return {stage: int(number) for stage, number in item.latest.as_dict().items()}


def _stages_latest(versions: Iterable[ModelVersion]) -> dict[str, int]:
    return {v.current_stage: v.version for v in latest_per_stage(versions)}


def _moved_latest(
    latest: dict[str, int] | None, before: RegistrySnapshot, after: RegistrySnapshot
) -> dict[str, int] | None:
    """The newest version of each stage after a change to the versions it read, from the model item's numbers; None
    when they cannot tell: the item has none yet, or a stage's newest version left it (moved or deleted)."""
    if latest is None:
        return None
    latest = dict(latest)
    for number, old in before.versions.items():
        new = after.versions.get(number)
        if (new is None or new.current_stage != old.current_stage) and latest.get(old.current_stage) == number:
            return None
    for number, new in after.versions.items():
        old = before.versions.get(number)
        if (old is None or old.current_stage != new.current_stage) and number > latest.get(new.current_stage, 0):
            latest[new.current_stage] = number
    return latest


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
