"""SchemaUpgradeFunction: the SchemaUpgrade custom resource (template.yaml) upgrades the table in place on every
deploy (docs/operations.md "Upgrades"). CloudFormation waits at most CFN_SECONDS on it; what is left goes on in
asynchronous invocations of this function, each stopping a step's length before its timeout and handing over to the
next, so no scan meets the 15-minute limit and the deploy is not held. Whatever happens, CloudFormation gets its
answer: FAILED with the reason when a step fails (the deploy rolls back; the table keeps the steps done, which the
next deploy resumes), SUCCESS otherwise."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from stratus.config import Settings
from stratus.domain.upgrades import UpgradeResult
from stratus.events import custom_resource
from stratus.observability import get_logger
from stratus.store.dynamodb import bind_table
from stratus.store.dynamodb.migrations import upgrade_table

CFN_SECONDS = 60.0
"""How long a deploy waits on the upgrade before the rest goes on in the background."""
STEP_MARGIN_SECONDS = 60.0
"""Kept free before an invocation's timeout: a step (a Query or Scan page and its writes) takes a few seconds."""
PHYSICAL_ID = "stratus-schema"
CONTINUE = {"continue": "schema-upgrade"}

Invoke = Callable[[str, Mapping[str, Any]], None]
Respond = Callable[[Mapping[str, Any], Mapping[str, Any]], object]


@cache
def _bound() -> None:
    settings = Settings.from_env()
    bind_table(settings.table_name, settings.region)


def invoke_async(function_arn: str, payload: Mapping[str, Any]) -> None:
    """Start another invocation of this function, not waiting for it (Lambda retries it twice on an error)."""
    boto3.client("lambda").invoke(FunctionName=function_arn, InvocationType="Event", Payload=json.dumps(payload))


def _run(context: LambdaContext, seconds: float, invoke: Invoke) -> UpgradeResult:
    budget = min(seconds, context.get_remaining_time_in_millis() / 1000 - STEP_MARGIN_SECONDS)
    result = upgrade_table(max(budget, 0.0))
    get_logger().info(
        "schema upgrade", version=result.version, target=result.target, steps=result.steps, newer=result.newer
    )
    if not result.complete:
        invoke(context.invoked_function_arn, CONTINUE)
    return result


def on_request(event: Mapping[str, Any], context: LambdaContext, invoke: Invoke) -> dict[str, Any]:
    """Carry out one CloudFormation request; the response document. Delete leaves the table (it is retained)."""
    if event.get("RequestType") == "Delete":
        return custom_resource.answer(event, "SUCCESS", "the table is retained as it is", PHYSICAL_ID)
    try:
        _bound()
        result = _run(context, CFN_SECONDS, invoke)
    except Exception as error:
        get_logger().exception("schema upgrade failed")
        return custom_resource.answer(event, "FAILED", f"{type(error).__name__}: {error}", PHYSICAL_ID)
    data = {"SchemaVersion": str(result.version), "Complete": str(result.complete).lower()}
    reason = "upgraded" if result.complete else "upgrading; the rest goes on in the background"
    return custom_resource.answer(event, "SUCCESS", reason, PHYSICAL_ID, data)


def handler(
    event: dict[str, Any],
    context: LambdaContext,
    respond: Respond = custom_resource.send,
    invoke: Invoke = invoke_async,
) -> None:
    """A CloudFormation request (it has a RequestType), or this function's own continuation."""
    if "RequestType" in event:
        respond(event, on_request(event, context, invoke))
    else:
        _bound()
        _run(context, float("inf"), invoke)
