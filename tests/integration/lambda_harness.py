"""A function's handler called in-process as Lambda calls it: its composition root loaded from
``functions/<folder>/app.py`` (a module of its own per test, as each function is its own deployment package), and a
Lambda context."""

from __future__ import annotations

import copy
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parents[2]
EVENTS_DIR = PROJECT_DIR / "events"


@dataclass
class LambdaContext:
    """The parts of Lambda's context object the handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int = 1024
    timeout_ms: int = 29_000
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_ms


def load_function(folder: str) -> ModuleType:
    """``functions/<folder>/app.py`` as a fresh module ``<folder>_app``."""
    spec = importlib.util.spec_from_file_location(f"{folder}_app", PROJECT_DIR / "functions" / folder / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def api_event(event_name: str, body: dict[str, Any] | None = None, query: str | None = None) -> dict[str, Any]:
    """A fresh copy of the sample HTTP API event ``events/<event_name>``, with ``body`` as its JSON body and
    ``query`` (``a=1&b=2``) as its query string."""
    event = copy.deepcopy(json.loads((EVENTS_DIR / event_name).read_text()))
    if body is not None:
        event["body"] = json.dumps(body)
    if query is not None:
        event["rawQueryString"] = query
        event["queryStringParameters"] = dict(p.split("=", 1) for p in query.split("&") if p)
    return event
