"""Route selection as API Gateway HTTP APIs do it.

API Gateway picks the most specific match: a full match of path and method first (static segments beating path
variables), then routes with a greedy ``{proxy+}`` variable (the longest static prefix first), then ``$default``.
For the same path, a route with the request's method beats an ``ANY`` route. Path variables never match an empty
segment, and a greedy variable needs at least one character.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote

from stratus_local.template import RouteSpec, TemplateError

DEFAULT_ROUTE = "$default"
_VARIABLE = re.compile(r"^\{([A-Za-z0-9_.-]+)\}$")
_GREEDY = re.compile(r"^\{([A-Za-z0-9_.-]+)\+\}$")
_METHODS = {"ANY", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}


@dataclass(frozen=True)
class Route:
    """A parsed route key."""

    route_key: str
    function_id: str
    method: str
    segments: tuple[str, ...]
    greedy: str | None

    @property
    def is_default(self) -> bool:
        return self.route_key == DEFAULT_ROUTE

    def specificity(self) -> tuple[int, int, tuple[int, ...], int]:
        """Sort key: smaller is more specific."""
        if self.is_default:
            return (2, 0, (), 1)
        kinds = tuple(0 if _VARIABLE.match(segment) is None else 1 for segment in self.segments)
        greedy = 1 if self.greedy is not None else 0
        return (greedy, -len(self.segments) if greedy else 0, kinds, 1 if self.method == "ANY" else 0)

    def match(self, method: str, segments: list[str]) -> dict[str, str] | None:
        """The path parameters if this route takes the request, else None."""
        if self.is_default:
            return {}
        if self.method not in ("ANY", method) or not self._fits(segments):
            return None
        parameters: dict[str, str] = {}
        for pattern, segment in zip(self.segments, segments, strict=False):
            variable = _VARIABLE.match(pattern)
            if variable is None and pattern != segment:
                return None
            if variable is not None:
                parameters[variable.group(1)] = unquote(segment)
        if self.greedy is not None:
            parameters[self.greedy] = unquote("/".join(segments[len(self.segments) :]))
        return parameters

    def _fits(self, segments: list[str]) -> bool:
        """Right number of segments; variables and the greedy tail are never empty."""
        own = len(self.segments)
        if self.greedy is None and len(segments) != own:
            return False
        if self.greedy is not None and "/".join(segments[own:]) == "":
            return False
        variables = (i for i, pattern in enumerate(self.segments) if _VARIABLE.match(pattern))
        return all(segments[i] != "" for i in variables)


@dataclass(frozen=True)
class RouteMatch:
    """The route API Gateway would pick, and the path parameters it would pass."""

    route: Route
    path_parameters: dict[str, str]


def parse_route(spec: RouteSpec) -> Route:
    """Parse ``"GET /runs/{run_id}"``, ``"ANY /{proxy+}"`` or ``"$default"``."""
    if spec.route_key == DEFAULT_ROUTE:
        return Route(DEFAULT_ROUTE, spec.function_id, "ANY", (), None)
    method, _, path = spec.route_key.partition(" ")
    if method not in _METHODS or not path.startswith("/"):
        raise TemplateError(f"route key {spec.route_key!r} is not 'METHOD /path' with a known method")
    segments = [] if path == "/" else path[1:].split("/")
    greedy = None
    if segments and _GREEDY.match(segments[-1]):
        greedy = _GREEDY.match(segments.pop())
    if any(_GREEDY.match(segment) for segment in segments):
        raise TemplateError(f"route key {spec.route_key!r}: a greedy path variable must be the last segment")
    return Route(spec.route_key, spec.function_id, method, tuple(segments), greedy.group(1) if greedy else None)


class Router:
    """All routes of one HTTP API."""

    def __init__(self, specs: Iterable[RouteSpec]) -> None:
        routes: dict[str, Route] = {}
        for spec in specs:
            route = parse_route(spec)
            if route.route_key in routes:
                raise TemplateError(
                    f"route {route.route_key!r} is declared by both {routes[route.route_key].function_id} "
                    f"and {route.function_id}"
                )
            routes[route.route_key] = route
        self.routes = sorted(routes.values(), key=Route.specificity)

    def match(self, method: str, raw_path: str) -> RouteMatch | None:
        """Select the route for ``method`` and the request path as received (percent-encoded)."""
        segments = [] if raw_path in ("", "/") else raw_path.removeprefix("/").split("/")
        for route in self.routes:
            parameters = route.match(method.upper(), segments)
            if parameters is not None:
                return RouteMatch(route, parameters)
        return None
