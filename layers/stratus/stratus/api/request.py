"""Turn an API Gateway event into a request model: a GET's query string, or else the JSON body."""

from __future__ import annotations

import json
import typing
from typing import Any, TypeVar
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from pydantic import BaseModel, ValidationError

from stratus.api.validation_errors import message_for
from stratus.errors import InvalidParameterValue

M = TypeVar("M", bound=BaseModel)


def _is_list_field(model: type[BaseModel], name: str) -> bool:
    field = model.model_fields.get(name)
    if field is None:
        return False
    annotation = field.annotation
    return typing.get_origin(annotation) is list


def _query_data(app: APIGatewayHttpResolver, model: type[BaseModel]) -> dict[str, Any]:
    raw = app.current_event.get("rawQueryString") or ""
    parsed = parse_qs(raw, keep_blank_values=True)
    return {k: (v if _is_list_field(model, k) else v[-1]) for k, v in parsed.items()}


def _body_data(app: APIGatewayHttpResolver) -> dict[str, Any]:
    try:
        body = app.current_event.decoded_body  # a base64 body is decoded as UTF-8 here
    except UnicodeDecodeError as exc:
        raise InvalidParameterValue(f"Malformed JSON request body: not UTF-8 ({exc.reason})") from exc
    if not body or not body.strip():
        return {}
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise InvalidParameterValue(f"Malformed JSON request body: {exc}") from exc
    except RecursionError as exc:
        raise InvalidParameterValue("Malformed JSON request body: nested too deeply") from exc
    if not isinstance(data, dict):
        raise InvalidParameterValue("The request body must be a JSON object.")
    return data


def _reads_query(app: APIGatewayHttpResolver) -> bool:
    """A GET or HEAD with a query string is read from it; one without is read from its JSON body, as the reference
    reads it (tools such as mlflow-export-import send GET parameters that way)."""
    method = app.current_event.http_method.upper()
    return method in ("GET", "HEAD") and bool(app.current_event.get("rawQueryString"))


def parse(app: APIGatewayHttpResolver, model: type[M]) -> M:
    """Parse the current request into ``model``; bad input is an MLflow INVALID_PARAMETER_VALUE error."""
    data = _query_data(app, model) if _reads_query(app) else _body_data(app)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidParameterValue(message_for(exc, data)) from exc


def base_url(event: Any) -> str:
    """The URL the caller reached the API at (``https://<domain>`` plus a named stage), for URLs an answer carries:
    a function cannot name the API that invokes it."""
    context = event.get("requestContext") or {}
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    scheme = headers.get("x-forwarded-proto", "https").split(",")[0].strip()
    host = headers.get("host") or context.get("domainName") or ""  # the Host header keeps a port
    stage = context.get("stage") or "$default"
    return f"{scheme}://{host}" + ("" if stage == "$default" else f"/{stage}")
