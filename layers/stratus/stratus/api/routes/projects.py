"""``/api/2.0/stratus/projects``: MLflow Projects run by Stratus (``mlflow run --backend stratus``; the client is
``client/``, mlflow-stratus). Upload a package, submit a run, read it, cancel it (docs/projects.md)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from stratus.api import schemas, serialize
from stratus.api.request import parse
from stratus.domain.actor import current_actor
from stratus.domain.services.projects import ProjectService, Submission


def build(service: ProjectService) -> Router:
    router = Router()

    @router.post("/projects/packages")
    def create_package() -> dict[str, Any]:
        req = parse(router, schemas.CreateProjectPackage)
        return serialize.package_upload(service.create_package(req.experiment_id, req.size_bytes))

    @router.post("/projects/packages/complete")
    def complete_package() -> dict[str, Any]:
        req = parse(router, schemas.CompleteProjectPackage)
        service.complete_package(req.package_id, req.upload_id, [(p.part_number, p.etag) for p in req.parts])
        return {}

    @router.post("/projects/runs/submit")
    def submit() -> dict[str, Any]:
        req = parse(router, schemas.SubmitProjectRun)
        submission = Submission(
            req.run_id,
            req.package_id,
            req.entry_point,
            req.parameters,
            req.env_manager,
            req.backend_config,
            req.docker_image,
        )
        return {"project_run": serialize.project_run(service.submit(submission, current_actor.get()))}

    @router.get("/projects/runs/get")
    def get() -> dict[str, Any]:
        req = parse(router, schemas.GetProjectRun)
        return {"project_run": serialize.project_run(service.get(req.run_id))}

    @router.post("/projects/runs/cancel")
    def cancel() -> dict[str, Any]:
        req = parse(router, schemas.GetProjectRun)
        return {"project_run": serialize.project_run(service.cancel(req.run_id, current_actor.get()))}

    return router
