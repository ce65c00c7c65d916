"""A function's handler called in-process as Lambda calls it: its composition root loaded from
``functions/<folder>/app.py`` (a module of its own per test, as each function is its own deployment package), and a
Lambda context."""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
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


def load_function(folder: str, module_name: str = "app") -> ModuleType:
    """``functions/<folder>/<module_name>.py`` as a fresh module ``<folder>_<module_name>``, with its folder on
    ``sys.path`` while it imports (as Lambda's task root is), and the sibling modules it imported dropped afterwards
    so that the next function's siblings are its own."""
    code_dir = PROJECT_DIR / "functions" / folder
    spec = importlib.util.spec_from_file_location(f"{folder}_{module_name}", code_dir / f"{module_name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    siblings = {path.stem for path in code_dir.glob("*.py")}
    sys.path.insert(0, str(code_dir))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(code_dir))
        for name in siblings:
            sys.modules.pop(name, None)
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
