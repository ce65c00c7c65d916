"""``/mlflow/scorers/*`` (API 3.0): MLflow 3 registered scorers and their online scoring configuration."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from stratus.api import schemas, serialize
from stratus.api.request import parse
from stratus.domain.services.scorers import ScorerService


def build(service: ScorerService) -> Router:
    router = Router()

    @router.post("/scorers/register")
    def register() -> dict[str, Any]:
        req = parse(router, schemas.RegisterScorer)
        return serialize.registered_scorer(service.register(req.experiment_id, req.name, req.serialized_scorer))

    @router.get("/scorers/list")
    def list_scorers() -> dict[str, Any]:
        req = parse(router, schemas.ListScorers)
        experiment_ids = req.experiment_ids if "experiment_ids" in req.model_fields_set else None
        return serialize.scorer_list(service.list_latest(req.experiment_id, experiment_ids))

    @router.get("/scorers/versions")
    def versions() -> dict[str, Any]:
        req = parse(router, schemas.ListScorerVersions)
        return serialize.scorer_list(service.versions(req.experiment_id, req.name))

    @router.get("/scorers/get")
    def get() -> dict[str, Any]:
        req = parse(router, schemas.GetScorer)
        return {"scorer": serialize.scorer(service.get(req.experiment_id, req.name, req.version))}

    @router.delete("/scorers/delete")
    def delete() -> dict[str, Any]:
        req = parse(router, schemas.DeleteScorer)
        service.delete(req.experiment_id, req.name, req.version)
        return {}

    @router.get("/scorers/online-configs")
    def online_configs() -> dict[str, Any]:
        req = parse(router, schemas.GetOnlineScoringConfigs)
        return {"configs": [serialize.online_scoring_config(c) for c in service.online_configs(req.scorer_ids)]}

    @router.put("/scorers/online-config")
    def upsert_online_config() -> dict[str, Any]:
        req = parse(router, schemas.UpsertOnlineScoringConfig)
        config = service.upsert_online_config(req.experiment_id, req.name, req.sample_rate, req.filter_string)
        return {"config": serialize.online_scoring_config(config)}

    return router
