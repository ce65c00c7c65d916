"""An OpenAPI 3.1 description of the whole HTTP API, generated from the three resolvers' route tables and the
request models in :mod:`stratus.api.schemas`.

Powertools' own generator (``get_openapi_json_schema``) cannot be used as it is: it fails on handlers annotated
``-> Response`` (pydantic cannot make a schema of ``Response``), it knows nothing of the bodies our handlers read with
``parse(router, schemas.X)`` inside, and it leaves the artifact routes' ``.+`` regular expressions in the paths. So the
operations come from the same ``Route`` objects Powertools matches requests against, and each handler's request model
is the pydantic model its code names (a handler names exactly one, in its ``parse`` call).

Nothing here runs at import or at cold start: :func:`document` builds the description on first request and keeps it.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable
from functools import cache
from typing import Any, cast

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from pydantic import BaseModel

from stratus import MLFLOW_COMPAT_VERSION
from stratus.api import schemas

ANY_PATH_PARAMETER = "artifact_path"
"""The name the description gives the artifact routes' multi-segment tail (``.+`` in the route rule)."""

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_PLAIN_TEXT_ROUTES = frozenset({"/health", "/version"})

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "MLflow's error body; the client branches on error_code, not on the HTTP status.",
    "required": ["error_code", "message"],
    "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}},
}


def request_models() -> dict[str, type[BaseModel]]:
    """Every request model in :mod:`stratus.api.schemas`, by class name."""
    return {
        name: value
        for name, value in vars(schemas).items()
        if inspect.isclass(value) and issubclass(value, BaseModel) and value.__module__ == schemas.__name__
    }


def request_model_of(handler: Any, models: dict[str, type[BaseModel]] | None = None) -> type[BaseModel] | None:
    """The request model a route handler parses: the one pydantic model its code names (``schemas.X``, or a model
    imported into the handler's module), or None."""
    models = models if models is not None else request_models()
    named: list[type[BaseModel]] = []
    for name in handler.__code__.co_names:
        candidate = models.get(name) or handler.__globals__.get(name)
        if inspect.isclass(candidate) and issubclass(candidate, BaseModel) and candidate not in named:
            named.append(candidate)
    if len(named) > 1:
        raise ValueError(f"handler {handler.__qualname__} names several request models: {named}")
    return named[0] if named else None


def openapi_path(route_path: str) -> str:
    """``/x/<model_id>`` → ``/x/{model_id}``; the artifact routes' ``.+`` tail → ``{artifact_path}``."""
    path = re.sub(r"<([^>]+)>", r"{\1}", route_path)
    return path.replace(".+", "{" + ANY_PATH_PARAMETER + "}")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")


class _Builder:
    """Accumulates paths and component schemas."""

    def __init__(self) -> None:
        self.paths: dict[str, dict[str, Any]] = {}
        self.components: dict[str, Any] = {"ErrorResponse": ERROR_SCHEMA}
        self.models = request_models()

    def model_ref(self, model: type[BaseModel]) -> dict[str, Any]:
        """A ``$ref`` to ``model``'s schema, adding it (and what it nests) to the components."""
        if model.__name__ not in self.components:
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            self.components.update(schema.pop("$defs", {}))
            self.components[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    def add(self, method: str, route_path: str, handler: Any) -> None:
        path = openapi_path(route_path)
        model = request_model_of(handler, self.models)
        operation: dict[str, Any] = {
            "operationId": f"{method.lower()}_{_slug(path)}",
            "summary": (handler.__doc__ or "").strip().split("\n")[0] or f"{method} {path}",
            "tags": [_family(path)],
            "responses": _responses(method, path),
        }
        parameters = [_path_parameter(name) for name in re.findall(r"\{([^}]+)\}", path)]
        if method == "PUT" and ANY_PATH_PARAMETER in path:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            }
        elif model is not None and method in _BODY_METHODS:
            json_body = {"application/json": {"schema": self.model_ref(model)}}
            operation["requestBody"] = {"required": True, "content": json_body}
        elif model is not None:
            parameters.extend(_query_parameters(model))
        if parameters:
            operation["parameters"] = parameters
        self.paths.setdefault(path, {})[method.lower()] = operation


def _family(path: str) -> str:
    """The OpenAPI tag: the resource family of the path (``runs``, ``registered-models``, ``artifacts``...)."""
    parts = [part for part in path.split("/") if part and not part.startswith("{")]
    for index, part in enumerate(parts):
        if part == "mlflow-artifacts":
            return "artifacts"
        if part in ("mlflow", "stratus") and index + 1 < len(parts):
            return parts[index + 1]
    return "meta"


def _path_parameter(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """A GET model's fields as query parameters; list fields repeat the key (``run_ids=a&run_ids=b``)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    required = set(schema.get("required", []))
    parameters = []
    for name, field_schema in schema.get("properties", {}).items():
        field_schema.pop("title", None)
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": field_schema}
        if field_schema.get("type") == "array":
            parameter.update(style="form", explode=True)
        parameters.append(parameter)
    return parameters


def _responses(method: str, path: str) -> dict[str, Any]:
    error = {"description": "MLflow error", "content": {"application/json": {"schema": _error_ref()}}}
    if path in _PLAIN_TEXT_ROUTES:
        ok: dict[str, Any] = {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}
    else:
        ok = {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
    responses: dict[str, Any] = {"200": ok, "4XX": error, "5XX": error}
    if method == "GET" and ANY_PATH_PARAMETER in path and "/artifacts/" in path:
        responses["307"] = {"description": "Redirect to a presigned S3 URL", "headers": {"Location": _location()}}
    return responses


def _error_ref() -> dict[str, Any]:
    return {"$ref": "#/components/schemas/ErrorResponse"}


def _location() -> dict[str, Any]:
    return {"schema": {"type": "string"}}


def describe(resolvers: Iterable[APIGatewayHttpResolver]) -> dict[str, Any]:
    """The OpenAPI document of every route the ``resolvers`` serve."""
    builder = _Builder()
    for resolver in resolvers:
        for route in resolver._static_routes + resolver._dynamic_routes:  # noqa: SLF001 - Powertools' route table
            builder.add(route.method, route.path, route.func)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Stratus",
            "version": MLFLOW_COMPAT_VERSION,
            "description": "MLflow-compatible tracking, artifacts and model registry on AWS Lambda.",
        },
        "paths": dict(sorted(builder.paths.items())),
        "components": {"schemas": dict(sorted(builder.components.items()))},
    }


def whole_api() -> list[APIGatewayHttpResolver]:
    """The resolvers the API functions serve, built without services (only their route tables are read)."""
    from stratus.api import app, ui_app  # at call time: app imports the route that serves this document

    nothing = cast(Any, None)
    return [
        app.build_tracking_api(nothing, nothing, nothing, nothing, nothing, nothing),
        app.build_artifacts_api(nothing),
        app.build_registry_api(nothing, nothing),
        app.build_projects_api(nothing),
        app.build_deployments_api(nothing),
        app.build_traces_api(nothing, nothing, nothing, nothing),
        ui_app.build_ui_api(nothing, nothing),
    ]


@cache
def document() -> dict[str, Any]:
    """The whole API's description, built on first use and kept for the warm container's life."""
    return describe(whole_api())
