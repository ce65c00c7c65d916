"""Migration 3: experiments and runs created before the search order items existed get them, so that older tables
take the fast search paths (docs/search-at-scale.md): each run its ``T#<newest>#<run_id>`` item and then its
experiment the ``T#`` marker (the web UI's run table reads the order, not the experiment), each experiment its
``EXPORDER`` items ``C#`` and ``U#``, and after the last experiment the ``EXPORDER`` marker (experiments/search newest
first reads the order, not every experiment). A marker is written only once everything it vouches for is there, so an
experiment (or a table) left half done keeps the slower full read, which is always right.

The walk goes through the ``EXPERIMENTS`` partition in sort-key order, a page of experiments a step, and through
each experiment's runs a Query page at a time; a step stops once it has read ``RUN_ITEMS_PER_STEP`` run items, in the
middle of an experiment if need be. The cursor is ``{"after": the last experiment done, "experiment": the one whose
runs are half done, "runs": the key its runs go on from}`` (members absent when empty). The writes themselves are in
``store/dynamodb/tracking.py``, next to the code that writes the same items for new experiments and runs."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from stratus.store.dynamodb import tracking

EXPERIMENTS_PER_STEP = 25
RUN_ITEMS_PER_STEP = 4_000
"""Run items (an info item and up to 8 data shards a run) read per step: about 450 runs, in 1 MB pages at most."""


@dataclass
class _Progress:
    after: str | None = None
    experiment: str | None = None
    runs: dict[str, Any] | None = None

    @classmethod
    def of(cls, cursor: str | None) -> _Progress:
        return cls(**json.loads(cursor)) if cursor else cls()

    def dumps(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None}, sort_keys=True)


class SearchOrderItems:
    name = "search-order-items"

    def step(self, cursor: str | None) -> str | None:
        progress = _Progress.of(cursor)
        budget = RUN_ITEMS_PER_STEP
        if progress.experiment is not None:
            budget = _runs(progress, progress.experiment, budget)
            if progress.experiment is not None or budget <= 0:
                return progress.dumps()
        experiments = tracking.experiments_after(progress.after, EXPERIMENTS_PER_STEP)
        if not experiments:
            tracking.complete_experiment_order()
            return None
        for experiment in experiments:
            if budget <= 0:
                break
            tracking.backfill_experiment_order(experiment)
            if tracking.has_run_order(experiment.experiment_id):
                progress.after = experiment.experiment_id
                continue
            progress.experiment = experiment.experiment_id
            budget = _runs(progress, experiment.experiment_id, budget)
            if progress.experiment is not None:
                break
        return progress.dumps()


def _runs(progress: _Progress, experiment_id: str, budget: int) -> int:
    """Go on with the runs of ``experiment_id`` (``progress.experiment``) until they are done (then its ``T#`` marker
    is written and it becomes ``progress.after``) or ``budget`` run items are read; the budget left."""
    while budget > 0:
        progress.runs, read = tracking.backfill_run_order(experiment_id, progress.runs, budget)
        budget -= max(read, 1)
        if progress.runs is None:
            tracking.complete_run_order(experiment_id)
            progress.after, progress.experiment = experiment_id, None
            return budget
    return budget
