"""The functions' IAM roles in template.yaml allow what their code sends to DynamoDB beyond the table's own items.
moto and DynamoDB Local check no IAM, so a missing grant would first show as AccessDenied on AWS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stratus_local.routes import Router
from stratus_local.template import load_template, parse_project

PROJECT_DIR = Path(__file__).resolve().parents[2]

# Requests whose handlers query the RunVersions index (a version search pinned to a run; a run's modelVersions).
INDEX_READERS = [
    ("GET", "/api/2.0/mlflow/model-versions/search"),
    ("GET", "/ajax-api/2.0/mlflow/model-versions/search"),
    ("POST", "/graphql"),
]


def _statements(function_id: str) -> list[dict[str, Any]]:
    properties = load_template(PROJECT_DIR / "template.yaml")["Resources"][function_id]["Properties"]
    return [statement for policy in properties.get("Policies", []) for statement in policy.get("Statement", [])]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def _indexes() -> list[str]:
    table = parse_project(PROJECT_DIR).tables[0]
    return [index["IndexName"] for index in table.create_args.get("GlobalSecondaryIndexes", [])]


def test_the_table_has_the_run_versions_index() -> None:
    assert _indexes() == ["RunVersions"]


@pytest.mark.parametrize(("method", "path"), INDEX_READERS)
def test_functions_that_search_versions_by_run_may_query_the_index(method: str, path: str) -> None:
    match = Router(parse_project(PROJECT_DIR).routes).match(method, path)
    assert match is not None, f"no route serves {method} {path}"
    function_id = match.route.function_id
    wanted = {"Fn::Sub": "${StratusTable.Arn}/index/RunVersions"}
    granted = [s for s in _statements(function_id) if s["Effect"] == "Allow" and "dynamodb:Query" in _actions(s)]
    assert any(s["Resource"] == wanted for s in granted), f"{function_id} may not Query the RunVersions index"


# Requests whose handlers write run artifacts (under mlartifacts/ only): the web UI's upload and its prompt lab.
ARTIFACT_WRITERS = [
    ("POST", "/ajax-api/2.0/mlflow/upload-artifact"),
    ("POST", "/ajax-api/2.0/mlflow/runs/create-promptlab-run"),
]


@pytest.mark.parametrize(("method", "path"), ARTIFACT_WRITERS)
def test_functions_that_write_run_artifacts_may_put_objects_under_mlartifacts_only(method: str, path: str) -> None:
    match = Router(parse_project(PROJECT_DIR).routes).match(method, path)
    assert match is not None, f"no route serves {method} {path}"
    puts = [
        s["Resource"]
        for s in _statements(match.route.function_id)
        if s["Effect"] == "Allow" and "s3:PutObject" in _actions(s)
    ]
    assert puts == [{"Fn::Sub": "${ArtifactBucket.Arn}/mlartifacts/*"}], f"{match.route.function_id} may put {puts}"
