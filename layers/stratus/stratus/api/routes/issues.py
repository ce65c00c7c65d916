"""``/mlflow/issues*`` (API 3.0): MLflow 3 issues, the quality problems found in GenAI traces."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from stratus.api import schemas, serialize
from stratus.api.request import parse
from stratus.domain.services.issues import IssueService


def build(service: IssueService) -> Router:
    router = Router()

    @router.post("/issues")
    def create() -> dict[str, Any]:
        req = parse(router, schemas.CreateIssue)
        issue = service.create(
            req.experiment_id,
            req.name,
            req.description,
            status=req.status,
            severity=req.severity,
            root_causes=req.root_causes,
            source_run_id=req.source_run_id,
            categories=req.categories,
            created_by=req.created_by,
        )
        return {"issue": serialize.issue(issue)}

    @router.post("/issues/search")
    def search() -> dict[str, Any]:
        req = parse(router, schemas.SearchIssues)
        issues, token = service.search(
            req.experiment_id or None,
            req.filter_string,
            req.max_results,
            req.page_token,
            include_trace_count=req.include_trace_count,
        )
        return serialize.issue_page(issues, token)

    @router.get("/issues/<issue_id>")
    def get(issue_id: str) -> dict[str, Any]:
        return {"issue": serialize.issue(service.get(issue_id))}

    @router.patch("/issues/<issue_id>")
    def update(issue_id: str) -> dict[str, Any]:
        req = parse(router, schemas.UpdateIssue)
        issue = service.update(
            issue_id, status=req.status, name=req.name, description=req.description, severity=req.severity
        )
        return {"issue": serialize.issue(issue)}

    return router
