"""``max_results`` checks of runs/search and experiments/search, with the reference's messages.

The reference checks in two places: the HTTP handler (type, and for runs the 50000 cap) and then the store
(positive, and the 50000 cap again). Their messages differ, so a value is checked as the request sent it.
"""

from __future__ import annotations

import json

from stratus.errors import InvalidParameterValue

SEARCH_MAX_RESULTS_DEFAULT = 1000
SEARCH_MAX_RESULTS_THRESHOLD = 50000


def _handler_error(param: str, value: object) -> InvalidParameterValue:
    shown = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return InvalidParameterValue(
        f"Invalid value {shown} for parameter '{param}' supplied:  Hint: Value was of type '{type(value).__name__}'."
        " See the API docs for more information about request parameters."
    )


def _as_int(value: int | str) -> int:
    """The handler's "int-like" test: an int, or anything ``int()`` reads (so ``"12"`` passes)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _handler_error("max_results", value) from None


def validate_max_results(max_results: int, limit: int = SEARCH_MAX_RESULTS_THRESHOLD) -> None:
    """The store's check: ``max_results`` must be in ``1..limit``."""
    if max_results < 1:
        raise InvalidParameterValue(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be a positive integer"
        )
    if max_results > limit:
        raise InvalidParameterValue(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be at most {limit}"
        )


def validate_run_max_results(max_results: int | str | None) -> int:
    """Check runs/search ``max_results`` as sent (JSON int or string, None when absent); return the value to use.

    Over 50000 the reference's handler answers first, quoting the value as sent:
    ``Invalid value 123456789 for parameter 'max_results' supplied:  Hint: Value was of type 'int'. See the API
    docs for more information about request parameters.``; zero or less gets the store's "positive integer" message.
    """
    if max_results is None:
        return SEARCH_MAX_RESULTS_DEFAULT
    number = _as_int(max_results)
    if number > SEARCH_MAX_RESULTS_THRESHOLD:
        raise _handler_error("max_results", max_results)
    validate_max_results(number)
    return number


def validate_experiment_max_results(max_results: int | str | None) -> int:
    """Check experiments/search ``max_results`` as sent; return the value to use.

    Only the type is checked by the handler; the store's messages follow (``... It must be at most 50000``).
    """
    if max_results is None:
        return SEARCH_MAX_RESULTS_DEFAULT
    number = _as_int(max_results)
    validate_max_results(number)
    return number
