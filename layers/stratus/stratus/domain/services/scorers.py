"""MLflow 3 registered scorers: register, list, versions, get, delete and the online scoring configuration, as the
reference's SqlAlchemyStore (``register_scorer`` ... ``upsert_online_scoring_config``) does them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from stratus.domain import messages, validation
from stratus.domain.entities import ACTIVE, Experiment
from stratus.domain.ports import ScorerStore
from stratus.domain.scorers import (
    OnlineScoringConfig,
    ScorerVersion,
    check_filter_string,
    check_online_scorer,
    check_sample_rate,
    check_scorer_model,
    check_scorer_name,
    check_serialized_scorer,
    scorer_not_found,
)
from stratus.domain.services.experiments import ExperimentService, now_ms
from stratus.errors import Conflict, InvalidParameterValue, ResourceDoesNotExist

REGISTER_ATTEMPTS = 8
BOTH_EXPERIMENT_FIELDS = (
    "Cannot specify both 'experiment_id' and 'experiment_ids'. Use 'experiment_ids' to scope the query to multiple "
    "experiments, or 'experiment_id' to scope it to a single experiment."
)


class ScorerService:
    """Everything the scorers routes do. A name's versions are numbered from 1, each new one the highest + 1 (so a
    deleted highest version's number is given again, as in the reference)."""

    def __init__(
        self,
        store: ScorerStore,
        experiments: ExperimentService,
        clock: Callable[[], int] = now_ms,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._store = store
        self._experiments = experiments
        self._clock = clock
        self._new_id = new_id

    def register(self, experiment_id: str, name: str, serialized_scorer: str) -> ScorerVersion:
        """A new version of the name (the first makes the scorer and its id), after the reference's checks in its
        order: the payload, the name, the experiment, the judge model."""
        data = check_serialized_scorer(serialized_scorer)
        check_scorer_name(name)
        exp = self._active_experiment(experiment_id)
        check_scorer_model(data)
        for _attempt in range(REGISTER_ATTEMPTS):
            scorer_id = self._store.get_scorer_id(exp, name)
            versions = self._store.list_scorer_versions(exp, name) if scorer_id else []
            version = ScorerVersion(
                experiment_id=exp,
                scorer_name=name,
                scorer_version=max((v.scorer_version for v in versions), default=0) + 1,
                serialized_scorer=serialized_scorer,
                creation_time=self._clock(),
                scorer_id=scorer_id or self._new_id(),
            )
            try:
                self._store.insert_scorer_version(version, new_scorer=scorer_id is None)
                return version
            except Conflict:
                continue  # another registration of the name won the number: count again
        raise Conflict(f"Scorer '{name}' was registered concurrently too many times; retry.")

    def list_latest(self, experiment_id: str | None, experiment_ids: list[str] | None) -> list[ScorerVersion]:
        """Each name's highest version, by experiment then name. ``experiment_ids`` (None: not sent) skips unknown
        and deleted experiments; neither field: every active experiment."""
        if experiment_id and experiment_ids is not None:
            raise InvalidParameterValue(BOTH_EXPERIMENT_FIELDS)
        if experiment_ids is not None:
            wanted = {validation.validate_experiment_id(e) for e in experiment_ids}
            ids = [e.experiment_id for e in self._experiments.list_all() if e.experiment_id in wanted and _active(e)]
        elif experiment_id:
            ids = [self._active_experiment(experiment_id)]
        else:
            ids = [e.experiment_id for e in self._experiments.list_all() if _active(e)]
        found = [v for exp in ids for v in self._store.list_latest_scorer_versions(exp)]
        return sorted(found, key=lambda v: (int(v.experiment_id), v.scorer_name))

    def versions(self, experiment_id: str, name: str) -> list[ScorerVersion]:
        exp = self._active_experiment(experiment_id)
        versions = self._store.list_scorer_versions(exp, name)
        if not versions:
            raise ResourceDoesNotExist(scorer_not_found(name, experiment_id))
        return versions

    def get(self, experiment_id: str, name: str, version: int | None = None) -> ScorerVersion:
        """One version, or the highest without ``version``."""
        exp = self._active_experiment(experiment_id)
        if version is None:
            versions = self._store.list_scorer_versions(exp, name)
            if not versions:
                raise ResourceDoesNotExist(scorer_not_found(name, experiment_id))
            return versions[-1]
        found = self._store.get_scorer_version(exp, name, version)
        if found is None:
            missing_scorer = self._store.get_scorer_id(exp, name) is None
            raise ResourceDoesNotExist(scorer_not_found(name, experiment_id, None if missing_scorer else version))
        return found

    def delete(self, experiment_id: str, name: str, version: int | None = None) -> None:
        """One version, or without ``version`` the whole scorer (its id and online configuration go too)."""
        exp = self._active_experiment(experiment_id)
        if self._store.get_scorer_id(exp, name) is None:
            raise ResourceDoesNotExist(scorer_not_found(name, experiment_id))
        if version is None:
            if not self._store.list_scorer_versions(exp, name):
                raise ResourceDoesNotExist(scorer_not_found(name, experiment_id))
            self._store.delete_scorer(exp, name)
            return
        if self._store.get_scorer_version(exp, name, version) is None:
            raise ResourceDoesNotExist(scorer_not_found(name, experiment_id, version))
        self._store.delete_scorer_version(exp, name, version)

    def upsert_online_config(
        self, experiment_id: str, name: str, sample_rate: float, filter_string: Any
    ) -> OnlineScoringConfig:
        """Replaces the scorer's configuration with a new one (new id). Sampling above zero needs a gateway judge.
        ``filter_string`` is stored as given: Stratus has no trace search to check its syntax against."""
        filter_string = check_filter_string(filter_string)
        check_sample_rate(sample_rate)
        exp = self._active_experiment(experiment_id)
        scorer_id = self._store.get_scorer_id(exp, name)
        if scorer_id is None:
            raise ResourceDoesNotExist(scorer_not_found(name, experiment_id))
        versions = self._store.list_scorer_versions(exp, name)
        if versions and sample_rate > 0:
            check_online_scorer(name, versions[-1])
        config = OnlineScoringConfig(
            online_scoring_config_id=uuid.uuid4().hex,
            scorer_id=scorer_id,
            sample_rate=sample_rate,
            experiment_id=exp,
            filter_string=filter_string,
        )
        self._store.put_online_scoring_config(config)
        return config

    def online_configs(self, scorer_ids: list[str]) -> list[OnlineScoringConfig]:
        return self._store.get_online_scoring_configs(list(dict.fromkeys(scorer_ids))) if scorer_ids else []

    def _active_experiment(self, experiment_id: str) -> str:
        experiment = self._experiments.get(experiment_id)
        if experiment.lifecycle_stage != ACTIVE:
            raise InvalidParameterValue(messages.experiment_not_active(experiment.experiment_id))
        return experiment.experiment_id


def _active(experiment: Experiment) -> bool:
    return experiment.lifecycle_stage == ACTIVE
