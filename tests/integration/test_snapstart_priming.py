"""Every API function of template.yaml publishes versions behind its ``live`` alias with SnapStart as the
``SnapStart`` parameter says, and its composition root registers the priming: run as Lambda runs it before the
snapshot (here under moto), it builds the API and makes the first DynamoDB request, so the first request after a
restore builds nothing."""

from __future__ import annotations

import io
import sys
import threading
import types
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.client import BaseClient
from lambda_harness import LambdaContext, api_event, load_function

from stratus_local.backends import create_tables
from stratus_local.template import parse_project

PROJECT_DIR = Path(__file__).resolve().parents[2]


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def _api_functions() -> dict[str, dict[str, Any]]:
    resources = yaml.load((PROJECT_DIR / "template.yaml").read_text(), Loader=_Loader)["Resources"]  # noqa: S506
    return {
        name: resource["Properties"]
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
        and any(event["Type"] == "HttpApi" for event in (resource["Properties"].get("Events") or {}).values())
    }


def test_every_api_function_is_called_through_its_alias_with_snapstart_on_published_versions() -> None:
    functions = _api_functions()

    assert set(functions) == {
        "TrackingFunction",
        "RegistryFunction",
        "ArtifactsFunction",
        "UiFunction",
        "TracesFunction",
        "ProjectsFunction",
        "DeploymentsFunction",
    }
    for name, properties in functions.items():
        assert properties.get("AutoPublishAlias") == "live", name
        assert "ApplyOn" in properties.get("SnapStart", {}), name


@pytest.mark.parametrize("folder", ["tracking", "registry", "artifacts", "ui", "traces", "projects", "deployments"])
def test_the_priming_registered_at_import_builds_the_api_and_makes_the_first_table_request(
    folder: str, aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = parse_project(PROJECT_DIR)
    create_tables(boto3.client("dynamodb"), project.tables, io.StringIO())
    monkeypatch.setenv("STRATUS_TABLE_NAME", project.tables[0].name)
    before: list[tuple[Any, ...]] = []
    runtime = types.ModuleType("snapshot_restore_py")
    runtime.register_before_snapshot = lambda func, *args: before.append((func, *args))  # type: ignore[attr-defined]
    runtime.register_after_restore = lambda func, *args: None  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", runtime)
    function = load_function(folder)
    assert function.api.cache_info().currsize == 0  # nothing built at import
    calls: list[str] = []
    original = BaseClient._make_api_call
    this_thread = threading.get_ident()

    def recorded(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if threading.get_ident() == this_thread:  # not the pollers of a stack another test runs in this process
            calls.append(operation)
        return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recorded)

    [(prime, *args)] = before
    prime(*args)  # what Lambda runs while it publishes a version

    assert function.api.cache_info().currsize == 1
    assert calls == ["GetItem"]
    if folder == "tracking":
        calls.clear()
        response = function.handler(api_event("health.json"), LambdaContext("stratus-tracking"))
        assert response["statusCode"] == 200 and calls == []
