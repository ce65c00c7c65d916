"""DeploymentRolloutsFunction: carries rollouts out (docs/deployments.md). Its events:

- ``Deployment Rollout Started`` (Stratus bus, from the table's stream): run the new rollout as far as it goes;
- ``Model Alias Moved``/``Model Alias Set`` (registry bus): start a rollout on each deployment following the alias;
- ``CodeBuild Build State Change`` (default bus): a serving image build ended, so its rollouts go on;
- a schedule (every minute): promote canaries whose time is up, and pick up rollouts whose event was lost.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from wiring import deployment_service

from stratus.config import Settings
from stratus.domain.services.deployments import DeploymentService
from stratus.events import deployments as events
from stratus.events import schema as registry_events
from stratus.observability import get_logger, get_metrics

SCHEDULE_SOURCE = "aws.events"
BUILD_SOURCE = "aws.codebuild"


@cache
def service() -> DeploymentService:
    return deployment_service(Settings.from_env())


@get_metrics().log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    source, kind, detail = event.get("source"), event.get("detail-type"), event.get("detail") or {}
    if source == SCHEDULE_SOURCE:
        moved = service().sweep()
        get_logger().info("deployments swept", moved=moved)
        return {"swept": moved}
    if source == BUILD_SOURCE:
        # The event names the build by its ARN (arn:aws:codebuild:<region>:<account>:build/<id>); StartBuild gave its id
        names = service().on_build_event(str(detail.get("build-id") or "").split(":build/", 1)[-1])
        get_logger().info("build ended", build_id=detail.get("build-id"), status=detail.get("build-status"))
        return {"advanced": names}
    if source == registry_events.SOURCE and kind in (registry_events.ALIAS_SET, registry_events.ALIAS_MOVED):
        after = detail.get("after") or {}
        names = service().on_alias_moved(
            str(detail.get("model_name")), str(after.get("alias")), str(after.get("version")), detail.get("actor")
        )
        get_logger().info("alias moved", model=detail.get("model_name"), alias=after.get("alias"), deployments=names)
        return {"started": names}
    if source == events.SOURCE and kind == events.ROLLOUT_STARTED:
        found = service().advance(str(detail.get("deployment")), str(detail.get("rollout_id")))
        get_logger().info("rollout advanced", deployment=detail.get("deployment"), state=found and found.state)
        return {"state": found.state if found else None}
    get_logger().warning("ignored event", source=source, detail_type=kind)
    return {}
