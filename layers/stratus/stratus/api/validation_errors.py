"""pydantic validation errors in the words the reference server uses for the same mistakes."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from stratus.domain import messages


def _value_at(data: Any, loc: tuple[int | str, ...]) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def message_for(exc: ValidationError, data: dict[str, Any]) -> str:
    error = exc.errors()[0]
    loc = tuple(error["loc"])
    field = ""
    for part in loc:
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
    field = field or "request"
    if error["type"] == "missing":
        return messages.missing_parameter_message(field)
    return messages.invalid_type_message(field, _value_at(data, loc), error["type"])
