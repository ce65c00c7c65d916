"""MLflow 3 registered scorers in DynamoDB: in the experiment's partition a scorer record (``EXP#<exp>``/
``SC#<name>``) and its versions (``S#<name>#<version:010d>``), so that a name's versions, or every name's, are one
Query; the online scoring configuration under ``SCORER#<scorer_id>``/``#``, found by id with BatchGetItem. Costs per
call: docs/data-model.md."""

from __future__ import annotations

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from stratus.domain.scorers import OnlineScoringConfig, ScorerVersion
from stratus.errors import Conflict
from stratus.store.dynamodb.batch import batch_delete
from stratus.store.dynamodb.errors import is_condition_failure, translated
from stratus.store.dynamodb.items import (
    OnlineScoringConfigItem,
    ScorerItem,
    ScorerVersionItem,
    StratusItem,
    sort_key_prefix,
)

_VERSION_PREFIX = "S#"
_SCORER_PREFIX = "SC#"
_VERSION_DIGITS = 10


class DynamoScorerStore:
    """``ScorerStore`` on the single Stratus table."""

    def get_scorer_id(self, experiment_id: str, name: str) -> str | None:
        with translated():
            try:
                item = ScorerItem.get(f"EXP#{experiment_id}", f"{_SCORER_PREFIX}{name}", consistent_read=True)
            except DoesNotExist:
                return None
        return item.scorer_id

    def insert_scorer_version(self, version: ScorerVersion, *, new_scorer: bool) -> None:
        pk = f"EXP#{version.experiment_id}"
        item = ScorerVersionItem(
            pk=pk,
            sk=_version_key(version.scorer_name, version.scorer_version),
            scorer_id=version.scorer_id,
            scorer_name=version.scorer_name,
            scorer_version=version.scorer_version,
            serialized_scorer=version.serialized_scorer,
            creation_time=version.creation_time,
        )
        record = ScorerItem(
            pk=pk,
            sk=f"{_SCORER_PREFIX}{version.scorer_name}",
            scorer_id=version.scorer_id,
            scorer_name=version.scorer_name,
        )
        try:
            with translated(), TransactWrite(connection=StratusItem._get_connection().connection) as tx:
                tx.save(item, condition=ScorerVersionItem.pk.does_not_exist())
                if new_scorer:
                    tx.save(record, condition=ScorerItem.pk.does_not_exist())
                else:  # a whole-scorer delete in between must not leave a version without its record
                    tx.condition_check(ScorerItem, pk, record.sk, condition=ScorerItem.scorer_id == version.scorer_id)
        except TransactWriteError as exc:
            if is_condition_failure(exc):
                raise Conflict(f"Scorer '{version.scorer_name}' changed while registering; retry.") from exc
            raise

    def list_latest_scorer_versions(self, experiment_id: str) -> list[ScorerVersion]:
        latest: dict[str, ScorerVersion] = {}
        for version in self._query(experiment_id, _VERSION_PREFIX):
            seen = latest.get(version.scorer_name)
            if seen is None or seen.scorer_version < version.scorer_version:
                latest[version.scorer_name] = version
        return list(latest.values())

    def list_scorer_versions(self, experiment_id: str, name: str) -> list[ScorerVersion]:
        # a name may hold "#": keep the versions of exactly this name, not of "<name>#..."
        versions = [v for v in self._query(experiment_id, f"{_VERSION_PREFIX}{name}#") if v.scorer_name == name]
        return sorted(versions, key=lambda v: v.scorer_version)

    def get_scorer_version(self, experiment_id: str, name: str, version: int) -> ScorerVersion | None:
        if not 0 <= version < 10**_VERSION_DIGITS:
            return None
        with translated():
            try:
                item = ScorerVersionItem.get(f"EXP#{experiment_id}", _version_key(name, version), consistent_read=True)
            except DoesNotExist:
                return None
        return _version(experiment_id, item)

    def delete_scorer_version(self, experiment_id: str, name: str, version: int) -> None:
        with translated():
            ScorerVersionItem(pk=f"EXP#{experiment_id}", sk=_version_key(name, version)).delete()

    def delete_scorer(self, experiment_id: str, name: str) -> None:
        pk = f"EXP#{experiment_id}"
        scorer_id = self.get_scorer_id(experiment_id, name)
        doomed: list[StratusItem] = [
            ScorerVersionItem(pk=pk, sk=_version_key(name, v.scorer_version))
            for v in self.list_scorer_versions(experiment_id, name)
        ]
        if scorer_id is not None:
            doomed.append(OnlineScoringConfigItem(pk=f"SCORER#{scorer_id}", sk="#"))
        with translated():
            batch_delete(doomed)
            # the record last: until it goes, a concurrent registration keeps its id and numbering
            ScorerItem(pk=pk, sk=f"{_SCORER_PREFIX}{name}").delete()

    def put_online_scoring_config(self, config: OnlineScoringConfig) -> None:
        with translated():
            OnlineScoringConfigItem(
                pk=f"SCORER#{config.scorer_id}",
                sk="#",
                experiment_id=config.experiment_id,
                online_scoring_config_id=config.online_scoring_config_id,
                sample_rate=config.sample_rate,
                filter_string=config.filter_string,
            ).save()

    def get_online_scoring_configs(self, scorer_ids: list[str]) -> list[OnlineScoringConfig]:
        with translated():
            items = list(OnlineScoringConfigItem.batch_get([(f"SCORER#{s}", "#") for s in scorer_ids]))
        return [
            OnlineScoringConfig(
                online_scoring_config_id=item.online_scoring_config_id,
                scorer_id=item.pk.removeprefix("SCORER#"),
                sample_rate=float(item.sample_rate),
                experiment_id=item.experiment_id,
                filter_string=item.filter_string,
            )
            for item in items
        ]

    def _query(self, experiment_id: str, prefix: str) -> list[ScorerVersion]:
        with translated():
            items = ScorerVersionItem.query(
                f"EXP#{experiment_id}", sort_key_prefix(ScorerVersionItem.sk, prefix), consistent_read=True
            )
            return [_version(experiment_id, item) for item in items]


def _version_key(name: str, version: int) -> str:
    return f"{_VERSION_PREFIX}{name}#{version:0{_VERSION_DIGITS}d}"


def _version(experiment_id: str, item: ScorerVersionItem) -> ScorerVersion:
    return ScorerVersion(
        experiment_id=experiment_id,
        scorer_name=item.scorer_name,
        scorer_version=int(item.scorer_version),
        serialized_scorer=item.serialized_scorer,
        creation_time=int(item.creation_time),
        scorer_id=item.scorer_id,
    )
