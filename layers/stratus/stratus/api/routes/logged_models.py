"""``/logged-models/*``: MLflow 3 logged models (what ``log_model`` creates, finalizes, tags and searches)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from stratus.api import schemas, serialize
from stratus.api.request import parse
from stratus.domain.services.logged_models import LoggedModelService


def build(service: LoggedModelService) -> Router:
    router = Router()

    @router.post("/logged-models")
    def create() -> dict[str, Any]:
        req = parse(router, schemas.CreateLoggedModel)
        model = service.create(
            req.experiment_id,
            req.name or None,
            req.model_type,
            req.source_run_id,
            {t.key: t.value for t in req.tags},
            {p.key: p.value for p in req.params},
        )
        return {"model": serialize.logged_model(model)}

    @router.post("/logged-models/search")
    def search() -> dict[str, Any]:
        req = parse(router, schemas.SearchLoggedModels)
        models, token = service.search(
            req.experiment_ids,
            req.filter,
            [d.model_dump() for d in req.datasets] or None,
            req.max_results,
            [o.model_dump() for o in req.order_by] or None,
            req.page_token,
        )
        return serialize.page("models", [serialize.logged_model(m) for m in models], token)

    @router.get("/logged-models/<model_id>")
    def get(model_id: str) -> dict[str, Any]:
        req = parse(router, schemas.GetLoggedModel)
        return {"model": serialize.logged_model(service.get(model_id, allow_deleted=req.allow_deleted))}

    @router.patch("/logged-models/<model_id>")
    def finalize(model_id: str) -> dict[str, Any]:
        req = parse(router, schemas.FinalizeLoggedModel)
        return {"model": serialize.logged_model(service.finalize(model_id, req.status))}

    @router.delete("/logged-models/<model_id>")
    def delete(model_id: str) -> dict[str, Any]:
        service.delete(model_id)
        return {}

    @router.patch("/logged-models/<model_id>/tags")
    def set_tags(model_id: str) -> dict[str, Any]:
        req = parse(router, schemas.LoggedModelTags)
        service.set_tags(model_id, [(t.key, t.value) for t in req.tags])
        return {}

    @router.delete("/logged-models/<model_id>/tags/<key>")
    def delete_tag(model_id: str, key: str) -> dict[str, Any]:
        service.delete_tag(model_id, key)
        return {}

    @router.post("/logged-models/<model_id>/params")
    def log_params(model_id: str) -> dict[str, Any]:
        req = parse(router, schemas.LoggedModelParams)
        service.log_params(model_id, [(p.key, p.value) for p in req.params])
        return {}

    return router
