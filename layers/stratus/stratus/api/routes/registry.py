"""``/registered-models/*`` and ``/model-versions/*``: MLflow's model registry; plus Stratus's promotion history."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from stratus.api import schemas, serialize
from stratus.api.identity import caller
from stratus.api.request import parse
from stratus.domain.services.registry import RegistryService


def _tags(tags: list[schemas.KeyValue]) -> dict[str, str]:
    return {t.key: t.value for t in tags}


def build(service: RegistryService) -> Router:  # noqa: C901, PLR0915 - one small function per route
    router = Router()

    def actor() -> str:
        return caller(router.current_event.raw_event)

    # ---------------------------------------------------------------- registered models

    @router.post("/registered-models/create")
    def create_model() -> dict[str, Any]:
        req = parse(router, schemas.CreateRegisteredModel)
        model = service.create_model(req.name or "", _tags(req.tags), req.description)
        return {"registered_model": serialize.registered_model(model)}

    @router.get("/registered-models/get")
    def get_model() -> dict[str, Any]:
        req = parse(router, schemas.RegisteredModelName)
        return {"registered_model": serialize.registered_model(service.get_model(req.name or ""))}

    @router.get("/registered-models/search")
    def search_models() -> dict[str, Any]:
        req = parse(router, schemas.RegistrySearch)
        models, token = service.search_models(req.filter, req.max_results, req.order_by, req.page_token)
        return serialize.page("registered_models", [serialize.registered_model(m) for m in models], token)

    @router.patch("/registered-models/update")
    def update_model() -> dict[str, Any]:
        req = parse(router, schemas.UpdateRegisteredModel)
        return {"registered_model": serialize.registered_model(service.update_model(req.name or "", req.description))}

    @router.post("/registered-models/rename")
    def rename_model() -> dict[str, Any]:
        req = parse(router, schemas.RenameRegisteredModel)
        model = service.rename_model(req.name or "", req.new_name or "")
        return {"registered_model": serialize.registered_model(model)}

    @router.delete("/registered-models/delete")
    def delete_model() -> dict[str, Any]:
        service.delete_model(parse(router, schemas.RegisteredModelName).name or "")
        return {}

    @router.post("/registered-models/set-tag")
    def set_model_tag() -> dict[str, Any]:
        req = parse(router, schemas.RegisteredModelTag)
        service.set_model_tag(req.name or "", req.key or "", req.value)
        return {}

    @router.delete("/registered-models/delete-tag")
    def delete_model_tag() -> dict[str, Any]:
        req = parse(router, schemas.RegisteredModelTag)
        service.delete_model_tag(req.name or "", req.key or "")
        return {}

    @router.post("/registered-models/get-latest-versions")
    @router.get("/registered-models/get-latest-versions")
    def latest_versions() -> dict[str, Any]:
        req = parse(router, schemas.GetLatestVersions)
        versions = service.get_latest_versions(req.name or "", req.stages)
        return serialize.page("model_versions", [serialize.model_version(v) for v in versions], None)

    # ---------------------------------------------------------------- aliases

    @router.post("/registered-models/alias")
    def set_alias() -> dict[str, Any]:
        req = parse(router, schemas.RegisteredModelAlias)
        service.set_alias(req.name or "", req.alias or "", req.version or "", actor())
        return {}

    @router.delete("/registered-models/alias")
    def delete_alias() -> dict[str, Any]:
        req = parse(router, schemas.RegisteredModelAlias)
        service.delete_alias(req.name or "", req.alias or "", actor())
        return {}

    @router.get("/registered-models/alias")
    def get_by_alias() -> dict[str, Any]:
        req = parse(router, schemas.RegisteredModelAlias)
        return {"model_version": serialize.model_version(service.get_version_by_alias(req.name or "", req.alias or ""))}

    # ---------------------------------------------------------------- versions

    @router.post("/model-versions/create")
    def create_version() -> dict[str, Any]:
        req = parse(router, schemas.CreateModelVersion)
        version = service.create_version(
            req.name or "", req.source, req.run_id, _tags(req.tags), req.run_link, req.description, req.model_id
        )
        return {"model_version": serialize.model_version(version)}

    @router.get("/model-versions/get")
    def get_version() -> dict[str, Any]:
        req = parse(router, schemas.ModelVersionRef)
        return {"model_version": serialize.model_version(service.get_version(req.name or "", req.version or ""))}

    @router.patch("/model-versions/update")
    def update_version() -> dict[str, Any]:
        req = parse(router, schemas.UpdateModelVersion)
        version = service.update_version(req.name or "", req.version or "", req.description)
        return {"model_version": serialize.model_version(version)}

    @router.post("/model-versions/transition-stage")
    def transition() -> dict[str, Any]:
        req = parse(router, schemas.TransitionModelVersionStage)
        version = service.transition_stage(
            req.name or "", req.version or "", req.stage or "", req.archive_existing_versions, actor()
        )
        return {"model_version": serialize.model_version(version)}

    @router.delete("/model-versions/delete")
    def delete_version() -> dict[str, Any]:
        req = parse(router, schemas.ModelVersionRef)
        service.delete_version(req.name or "", req.version or "", actor())
        return {}

    @router.post("/model-versions/set-tag")
    def set_version_tag() -> dict[str, Any]:
        req = parse(router, schemas.ModelVersionTag)
        service.set_version_tag(req.name or "", req.version or "", req.key or "", req.value)
        return {}

    @router.delete("/model-versions/delete-tag")
    def delete_version_tag() -> dict[str, Any]:
        req = parse(router, schemas.ModelVersionTag)
        service.delete_version_tag(req.name or "", req.version or "", req.key or "")
        return {}

    @router.get("/model-versions/search")
    def search_versions() -> dict[str, Any]:
        req = parse(router, schemas.RegistrySearch)
        versions, token = service.search_versions(req.filter, req.max_results, req.order_by, req.page_token)
        return serialize.page("model_versions", [serialize.model_version(v) for v in versions], token)

    @router.get("/model-versions/get-download-uri")
    def download_uri() -> dict[str, Any]:
        req = parse(router, schemas.ModelVersionRef)
        return {"artifact_uri": service.get_download_uri(req.name or "", req.version or "")}

    return router


def build_history(service: RegistryService) -> Router:
    """``GET /api/2.0/stratus/registered-models/history``: who moved which version or alias, when (docs/registry.md)."""
    router = Router()

    @router.get("/registered-models/history")
    def history() -> dict[str, Any]:
        req = parse(router, schemas.PromotionHistory)
        events, token = service.history(req.name or "", req.version, req.max_results, req.page_token)
        return serialize.page("events", [serialize.promotion_event(e) for e in events], token)

    return router
