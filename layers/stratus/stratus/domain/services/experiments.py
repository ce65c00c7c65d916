"""Experiments: unique names, lifecycle stages, tags, search. Mirrors MLflow's SqlAlchemyStore."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from stratus.domain import messages, validation
from stratus.domain.artifact_paths import resolve_s3_location
from stratus.domain.entities import ACTIVE, DELETED, Experiment
from stratus.domain.paging import create_page_token, paginate, parse_page_token
from stratus.domain.ports import TrackingStore
from stratus.errors import InvalidParameterValue, ResourceAlreadyExists, ResourceDoesNotExist
from stratus.observability import MetricName, count

if TYPE_CHECKING:
    from stratus.domain.search.experiments import ExperimentQuery

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"
NEWEST_FIRST_EXPERIMENTS = 5_000
"""Up to this deep into a listing newest first, pages come from the store's experiment order; deeper ones read every
experiment (the client's ``search_experiments`` pages by 1,000 at most)."""
VIEW_TYPES = {"ACTIVE_ONLY": (ACTIVE,), "DELETED_ONLY": (DELETED,), "ALL": (ACTIVE, DELETED)}


def now_ms() -> int:
    return int(time.time() * 1000)


class ExperimentService:
    """Everything the experiments routes do."""

    def __init__(
        self,
        store: TrackingStore,
        artifact_root: str,
        clock: Callable[[], int] = now_ms,
        *,
        artifact_bucket: str | None = None,
    ) -> None:
        """``artifact_bucket``: when given, an explicit ``artifact_location`` must be a prefix of that bucket."""
        self._store = store
        self._artifact_root = artifact_root.rstrip("/")
        self._clock = clock
        self._artifact_bucket = artifact_bucket
        self._default_checked = False

    def ensure_default_experiment(self) -> None:
        """MLflow's database starts with experiment 0, 'Default'; ours is created on first use."""
        if self._default_checked:
            return
        if self._store.get_experiment(DEFAULT_EXPERIMENT_ID) is None:
            now = self._clock()
            default = Experiment(
                DEFAULT_EXPERIMENT_ID,
                DEFAULT_EXPERIMENT_NAME,
                f"{self._artifact_root}/{DEFAULT_EXPERIMENT_ID}",
                ACTIVE,
                now,
                now,
            )
            try:
                self._store.insert_experiment(default)
            except Exception:  # a concurrent first call created it: fine, re-check below
                if self._store.get_experiment(DEFAULT_EXPERIMENT_ID) is None:
                    raise
        self._default_checked = True

    def create(self, name: str, artifact_location: str | None, tags: dict[str, str]) -> str:
        validation.validate_experiment_name(name)
        for key, value in tags.items():
            validation.validate_experiment_tag(key, value)
        if artifact_location:
            validation.validate_experiment_artifact_location(artifact_location)
            if self._artifact_bucket is not None:
                resolve_s3_location(artifact_location, self._artifact_bucket)
        self.ensure_default_experiment()
        if self._store.get_experiment_id_by_name(name) is not None:
            raise ResourceAlreadyExists(messages.experiment_already_exists(name))
        experiment_id = self._store.next_experiment_id()
        now = self._clock()
        location = artifact_location or f"{self._artifact_root}/{experiment_id}"
        self._store.insert_experiment(Experiment(experiment_id, name, location, ACTIVE, now, now, dict(tags)))
        return experiment_id

    def get(self, experiment_id: str) -> Experiment:
        experiment_id = validation.validate_experiment_id(experiment_id)
        self.ensure_default_experiment()
        experiment = self._store.get_experiment(experiment_id)
        if experiment is None:
            raise ResourceDoesNotExist(messages.experiment_not_found(experiment_id))
        return experiment

    def list_all(self) -> list[Experiment]:
        """Every experiment, deleted ones included (what a search across experiments reads)."""
        self.ensure_default_experiment()
        return self._store.list_experiments()

    def get_by_name(self, name: str) -> Experiment:
        self.ensure_default_experiment()
        experiment_id = self._store.get_experiment_id_by_name(name)
        experiment = self._store.get_experiment(experiment_id) if experiment_id is not None else None
        if experiment is None:
            raise ResourceDoesNotExist(messages.experiment_name_not_found(name))
        return experiment

    def search(
        self,
        view_type: str,
        max_results: int,
        filter_string: str | None,
        order_by: list[str],
        page_token: str | None,
    ) -> tuple[list[Experiment], str | None]:
        validation.validate_search_experiments_max_results(max_results)
        stages = VIEW_TYPES.get(view_type or "", VIEW_TYPES["ACTIVE_ONLY"])
        # on first use: the search grammar and sqlparse are ~7% of a cold import, and most requests never search
        from stratus.domain.search import compile_experiment_search

        query = compile_experiment_search(filter_string, order_by)  # a bad filter costs no read
        self.ensure_default_experiment()
        count(MetricName.EXPERIMENT_SEARCHES)
        newest = self._newest_first(query, stages, page_token, max_results)
        if newest is not None:
            return newest
        every = self._store.list_experiments()
        count(MetricName.EXPERIMENT_SEARCH_ITEMS_READ, len(every))
        matched = query.apply([e for e in every if e.lifecycle_stage in stages])
        return paginate(matched, page_token, max_results)

    def _newest_first(
        self, query: ExperimentQuery, stages: list[str], page_token: str | None, max_results: int
    ) -> tuple[list[Experiment], str | None] | None:
        """A search ordered newest first by creation or update time (the SDK's default, the web UI's list) read from
        the store's order, chunk by chunk, until the page and the next experiment are known: about a page of reads
        when the filter passes most experiments. None when the order, the depth or the store does not allow it."""
        by = query.newest_first_by
        start = parse_page_token(page_token)
        if by is None or start + max_results > NEWEST_FIRST_EXPERIMENTS:
            return None
        chunks = self._store.experiments_newest_first(by)
        if chunks is None:
            return None
        wanted = start + max_results + 1  # the page, and whether anything follows it
        collected: list[Experiment] = []
        ordered: list[Experiment] = []
        read = 0
        for chunk in chunks:
            read += len(chunk)
            collected.extend(e for e in chunk if e.lifecycle_stage in stages)
            ordered = query.apply(collected)
            # Ties on the time are ordered by id, so the experiment that decides the page's end must have its whole
            # tie group read: stop only once the order has moved past its time.
            if len(ordered) >= wanted and getattr(chunk[-1], by) != getattr(ordered[wanted - 1], by):
                break
        count(MetricName.EXPERIMENT_SEARCH_ITEMS_READ, read)
        end = start + max_results
        return ordered[start:end], (create_page_token(end) if len(ordered) > end else None)

    def rename(self, experiment_id: str, new_name: str) -> None:
        validation.validate_experiment_name(new_name)

        def change(experiment: Experiment) -> None:
            if experiment.lifecycle_stage != ACTIVE:
                raise InvalidParameterValue(messages.experiment_not_active_for_rename(experiment.name))
            experiment.name = new_name
            experiment.last_update_time = self._clock()

        self._modify(experiment_id, change)

    def delete(self, experiment_id: str) -> None:
        """Delete an active experiment and, as the reference does, every run in it."""
        self._set_stage(experiment_id, ACTIVE, DELETED)

    def restore(self, experiment_id: str) -> None:
        """Restore a deleted experiment and, as the reference does, every run in it (runs deleted one by one too)."""
        self._set_stage(experiment_id, DELETED, ACTIVE)

    def _set_stage(self, experiment_id: str, current: str, stage: str) -> None:
        def change(experiment: Experiment) -> None:
            if experiment.lifecycle_stage != current:  # the reference only finds it in the other view
                raise ResourceDoesNotExist(messages.experiment_not_found(experiment.experiment_id))
            experiment.lifecycle_stage = stage
            experiment.last_update_time = self._clock()

        experiment = self.get(experiment_id)
        if experiment.lifecycle_stage != current:
            raise ResourceDoesNotExist(messages.experiment_not_found(experiment.experiment_id))
        self._set_runs_stage(experiment.experiment_id, stage)
        self._modify(experiment_id, change)

    def _set_runs_stage(self, experiment_id: str, stage: str) -> None:
        # Runs first, experiment last: if this stops half-way, the experiment is unchanged and a retry finishes.
        moving = [run_id for run_id, current in self._store.run_stages(experiment_id).items() if current != stage]
        if moving:
            self._store.set_run_stages(experiment_id, moving, stage)

    def set_tag(self, experiment_id: str, key: str, value: str) -> None:
        validation.validate_experiment_tag(key, value)

        def change(experiment: Experiment) -> None:
            if experiment.lifecycle_stage != ACTIVE:
                raise InvalidParameterValue(messages.experiment_not_active(experiment.experiment_id))
            experiment.tags[key] = value

        self._modify(experiment_id, change)

    def delete_tag(self, experiment_id: str, key: str) -> None:
        def change(experiment: Experiment) -> None:
            if experiment.lifecycle_stage != ACTIVE:
                raise InvalidParameterValue(messages.experiment_not_active(experiment.experiment_id))
            if key not in experiment.tags:
                raise ResourceDoesNotExist(messages.experiment_tag_not_found(key, experiment.experiment_id))
            del experiment.tags[key]

        self._modify(experiment_id, change)

    def _modify(self, experiment_id: str, change: Callable[[Experiment], None]) -> Experiment:
        experiment_id = validation.validate_experiment_id(experiment_id)
        self.ensure_default_experiment()
        return self._store.modify_experiment(experiment_id, change)
