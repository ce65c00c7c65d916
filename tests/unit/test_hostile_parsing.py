"""The fixes behind tests/e2e/test_hostile_input.py, one layer at a time: request parsing, request models, page
tokens and the DynamoDB error mapping turn hostile input into INVALID_PARAMETER_VALUE instead of a 500."""

from __future__ import annotations

import base64
import json
from typing import Any, cast

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from botocore.exceptions import ClientError
from pydantic import ValidationError

from stratus.api import schemas
from stratus.api.app import install_error_handlers
from stratus.api.request import parse
from stratus.domain.paging import parse_page_token
from stratus.errors import InvalidParameterValue
from stratus.store.dynamodb.errors import translated


def _resolver() -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver()

    @app.post("/runs/create")
    def create() -> dict[str, Any]:
        return {"experiment_id": parse(app, schemas.CreateRun).experiment_id}

    install_error_handlers(app)
    return app


def _post(body: bytes, *, base64_encoded: bool) -> dict[str, Any]:
    event = {
        "version": "2.0",
        "routeKey": "POST /runs/create",
        "rawPath": "/runs/create",
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": "POST", "path": "/runs/create"}, "stage": "$default"},
        "body": base64.b64encode(body).decode() if base64_encoded else body.decode("utf-8", errors="replace"),
        "isBase64Encoded": base64_encoded,
    }
    return _resolver().resolve(event, cast(Any, None))


@pytest.mark.parametrize(
    ("body", "base64_encoded"),
    [
        pytest.param(b"[" * 100_000, False, id="100k-nested-arrays"),
        pytest.param(b'{"a":' * 100_000, True, id="100k-nested-objects-base64"),
        pytest.param(b'{"experiment_id": "\xff\xfe"}', True, id="invalid-utf8-base64"),
        pytest.param(b'{"experiment_id": ', False, id="truncated"),
    ],
)
def test_unreadable_bodies_are_a_400(body: bytes, base64_encoded: bool) -> None:
    response = _post(body, base64_encoded=base64_encoded)

    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error_code"] == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize(
    "token",
    ['{"offset": Infinity}', '{"offset": 1e400}', "[" * 5000, '{"offset": -1}', "not json", '{"offset": [1]}'],
)
def test_forged_page_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidParameterValue, match="Invalid page token"):
        parse_page_token(base64.b64encode(token.encode()).decode())


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**40, True, False])
def test_int64_fields_refuse_booleans_and_numbers_beyond_int64(value: Any) -> None:
    with pytest.raises(ValidationError):
        schemas.LogMetric.model_validate({"run_id": "r", "key": "m", "value": 1, "timestamp": value})


def test_int64_fields_keep_accepting_what_proto_json_accepts() -> None:
    metric = schemas.LogMetric.model_validate(
        {"run_id": "r", "key": "m", "value": 1, "timestamp": "12", "step": 2**63 - 1}
    )
    assert (metric.timestamp, metric.step) == (12, 2**63 - 1)


@pytest.mark.parametrize(
    ("value", "read"),
    [("ALL", "ALL"), (3, "ALL"), ("2", "DELETED_ONLY"), (None, None), ("SOMETIMES", None), (9, None)],
)
def test_view_types_are_names_or_numbers_and_unknown_ones_are_ignored(value: Any, read: str | None) -> None:
    """As the reference (see tests/e2e/test_differential_search.py): an unknown view type reads as unset."""
    assert schemas.SearchRuns.model_validate({"run_view_type": value}).run_view_type == read


@pytest.mark.parametrize("value", [True, [], {}, 1.5])
def test_enum_fields_of_another_json_type_are_refused(value: Any) -> None:
    with pytest.raises(ValidationError):
        schemas.SearchRuns.model_validate({"run_view_type": value})
    with pytest.raises(ValidationError):
        schemas.UpdateRun.model_validate({"run_id": "r", "status": value})


def test_run_statuses_are_read_by_name_or_number() -> None:
    assert schemas.UpdateRun.model_validate({"run_id": "r", "status": 5}).status == "KILLED"
    assert schemas.UpdateRun.model_validate({"run_id": "r", "status": "FINISHED"}).status == "FINISHED"
    assert schemas.UpdateRun.model_validate({"run_id": "r", "status": "EXPLODED"}).status is None


@pytest.mark.parametrize(
    "message", ["Item size has exceeded the maximum allowed size", "Empty attribute name", "Number overflow"]
)
def test_data_dynamodb_refuses_is_the_callers_error(message: str) -> None:
    refused = ClientError({"Error": {"Code": "ValidationException", "Message": message}}, "TransactWriteItems")

    with pytest.raises(InvalidParameterValue, match=message), translated():
        raise refused


def test_other_dynamodb_failures_still_pass_through() -> None:
    failure = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "PutItem")

    with pytest.raises(ClientError), translated():
        raise failure
