"""PromotionGateFunction: composition root of the built-in promotion hook (docs/promotion.md). Invoked by an
EventBridge rule on the registry bus for nominations (alias ``challenger`` set, stage ``Staging``)."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from stratus.config import Settings
from stratus.domain.services import ExperimentService, LoggedModelService, RegistryService, RunService
from stratus.domain.services.promotion import PromotionGate, is_nomination
from stratus.observability import get_logger, get_metrics
from stratus.store.dynamodb import DynamoLoggedModelStore, DynamoRegistryStore, DynamoTrackingStore, bind_table


@cache
def gate() -> PromotionGate:
    settings = Settings.from_env()
    bind_table(settings.table_name, settings.region)
    tracking = DynamoTrackingStore()
    experiments = ExperimentService(tracking, settings.artifact_root, artifact_bucket=settings.artifact_bucket)
    logged_models = LoggedModelService(DynamoLoggedModelStore(), experiments)
    registry = RegistryService(DynamoRegistryStore(), logged_models, tracking, settings.artifact_bucket)
    return PromotionGate(registry, RunService(tracking, experiments))


@get_metrics().log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    detail = event.get("detail") or {}
    if not is_nomination(str(event.get("detail-type", "")), detail.get("after")):
        return {"evaluated": False}
    outcome = gate().evaluate(detail["model_name"], detail["version"])
    get_logger().info("promotion gate", model=detail["model_name"], version=detail["version"], reason=outcome.reason)
    return {"evaluated": True, "promoted": outcome.promoted, "reason": outcome.reason}
