"""ProjectJobEventsFunction: AWS Batch's job state changes (an EventBridge rule on the default bus) move project runs
through their states and end their MLflow runs; a schedule (every 5 minutes) runs the sweep that cancels jobs stuck
waiting for capacity and settles runs whose job ended without its event reaching us (docs/projects.md)."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from wiring import project_service

from stratus.config import Settings
from stratus.domain.services.projects import ProjectService
from stratus.observability import get_logger, get_metrics

SCHEDULE_SOURCE = "aws.events"


@cache
def service() -> ProjectService:
    return project_service(Settings.from_env())


@get_metrics().log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("source") == SCHEDULE_SOURCE:
        changed = service().sweep()
        get_logger().info("project runs swept", changed=changed)
        return {"swept": changed}
    detail = event.get("detail") or {}
    run = service().on_job_event(detail)
    get_logger().info(
        "job state change", job_id=detail.get("jobId"), status=detail.get("status"), run_id=run and run.run_id
    )
    return {"run_id": run.run_id if run else None, "state": run.state if run else None}
