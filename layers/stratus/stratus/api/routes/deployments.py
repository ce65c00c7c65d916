"""``/api/2.0/stratus/deployments``: model deployments (``get_deploy_client("stratus")``; the plugin is in
``client/``, mlflow-stratus). Create, read, update, delete and list deployments, read their history, and score:
``/deployments/<name>/invocations`` (and ``ping``, ``health``, ``version``) is answered by the deployment's own
function, exactly as ``mlflow models serve`` answers (docs/deployments.md)."""

from __future__ import annotations

import base64
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from stratus.api import schemas, serialize
from stratus.api.request import base_url, parse
from stratus.domain.actor import current_actor
from stratus.domain.deployments import Deployment, scoring_event
from stratus.domain.services.deployments import DeploymentService
from stratus.errors import EndpointNotFound

PATH = "/api/2.0/stratus/deployments"
SCORING_PATHS = ("invocations", "ping", "health", "version")


def build(service: DeploymentService) -> Router:
    router = Router()

    def answer(deployment: Deployment) -> dict[str, Any]:
        endpoint = f"{base_url(router.current_event)}{PATH}/{deployment.name}/invocations"
        return serialize.deployment(deployment, endpoint)

    @router.post("/deployments/create")
    def create() -> dict[str, Any]:
        req = parse(router, schemas.CreateDeployment)
        created = service.create(req.name, req.model_uri, req.flavor, req.config, current_actor.get())
        return {"deployment": answer(created)}

    @router.get("/deployments/get")
    def get() -> dict[str, Any]:
        req = parse(router, schemas.GetDeployment)
        return {"deployment": answer(service.get(req.name))}

    @router.get("/deployments/list")
    def list_deployments() -> dict[str, Any]:
        req = parse(router, schemas.ListDeployments)
        found, token = service.list(req.max_results, req.page_token)
        page: dict[str, Any] = {"deployments": [answer(d) for d in found]}
        return {**page, "next_page_token": token} if token else page

    @router.post("/deployments/update")
    def update() -> dict[str, Any]:
        req = parse(router, schemas.UpdateDeployment)
        updated = service.update(req.name, req.model_uri, req.flavor, req.config, current_actor.get())
        return {"deployment": answer(updated)}

    @router.post("/deployments/delete")
    def delete() -> dict[str, Any]:
        service.delete(parse(router, schemas.GetDeployment).name)
        return {}

    @router.get("/deployments/history")
    def history() -> dict[str, Any]:
        req = parse(router, schemas.DeploymentHistory)
        return {"history": [serialize.deployment_history(e) for e in service.history(req.name, req.max_results)]}

    @router.route("/deployments/<name>/<action>", method=["GET", "POST"])
    def score(name: str, action: str) -> Response:
        event = router.current_event
        raw = event.body or ""
        body = base64.b64decode(raw) if event.is_base64_encoded else raw.encode()
        if action not in SCORING_PATHS:
            raise EndpointNotFound(f"No deployment endpoint '{action}': use invocations, ping, health or version")
        method, content_type = event.request_context.http.method, event.headers.get("content-type")
        result = service.invoke(name, scoring_event(method, f"/{action}", content_type, body))
        headers = {k: v for k, v in result.headers.items() if k.lower() != "content-type"}
        answered_type = result.headers.get("content-type", "application/json")
        return Response(result.status, answered_type, result.body.decode("utf-8", errors="replace"), headers)

    return router
