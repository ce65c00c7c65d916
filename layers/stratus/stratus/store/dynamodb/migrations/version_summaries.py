"""Migration 1: registries written before version summaries existed (``MVSUM``) get one per version, then the marker
that lets a model-version search read them alone (1 Query) instead of every model's partition."""

from __future__ import annotations

import json

from stratus.store.dynamodb.registry import backfill_summaries

MODELS_PER_STEP = 25


class VersionSummaries:
    name = "version-summaries"

    def step(self, cursor: str | None) -> str | None:
        following = backfill_summaries(json.loads(cursor) if cursor else None, MODELS_PER_STEP)
        return json.dumps(following, sort_keys=True) if following else None
