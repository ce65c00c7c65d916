"""``/experiments/*``: MLflow's experiment endpoints."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from stratus.api import schemas, serialize
from stratus.api.request import parse
from stratus.domain.services import ExperimentService


def build(service: ExperimentService) -> Router:
    router = Router()

    @router.post("/experiments/create")
    def create() -> dict[str, Any]:
        req = parse(router, schemas.CreateExperiment)
        tags = {t.key: t.value for t in req.tags}
        return {"experiment_id": service.create(req.name, req.artifact_location, tags)}

    @router.get("/experiments/get")
    def get() -> dict[str, Any]:
        req = parse(router, schemas.GetExperiment)
        return {"experiment": serialize.experiment(service.get(req.experiment_id))}

    @router.get("/experiments/get-by-name")
    def get_by_name() -> dict[str, Any]:
        req = parse(router, schemas.GetExperimentByName)
        return {"experiment": serialize.experiment(service.get_by_name(req.experiment_name))}

    @router.route("/experiments/search", method=["GET", "POST"])
    def search() -> dict[str, Any]:
        req = parse(router, schemas.SearchExperiments)
        found, token = service.search(req.view_type or "", req.max_results, req.filter, req.order_by, req.page_token)
        return serialize.page("experiments", [serialize.experiment(e) for e in found], token)

    @router.post("/experiments/update")
    def update() -> dict[str, Any]:
        req = parse(router, schemas.UpdateExperiment)
        service.rename(req.experiment_id, req.new_name)
        return {}

    @router.post("/experiments/delete")
    def delete() -> dict[str, Any]:
        service.delete(parse(router, schemas.ExperimentId).experiment_id)
        return {}

    @router.post("/experiments/restore")
    def restore() -> dict[str, Any]:
        service.restore(parse(router, schemas.ExperimentId).experiment_id)
        return {}

    @router.post("/experiments/set-experiment-tag")
    def set_tag() -> dict[str, Any]:
        req = parse(router, schemas.SetExperimentTag)
        service.set_tag(req.experiment_id, req.key, req.value)
        return {}

    @router.post("/experiments/delete-experiment-tag")
    def delete_tag() -> dict[str, Any]:
        req = parse(router, schemas.DeleteExperimentTag)
        service.delete_tag(req.experiment_id, req.key)
        return {}

    return router
