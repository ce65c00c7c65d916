"""Count DynamoDB requests and capacity units the way AWS bills them, from the requests themselves.

:class:`DynamoMeter` patches ``botocore.session.Session.create_client`` so that every DynamoDB client created after
:meth:`DynamoMeter.install` (pynamodb makes its client lazily, on the first request after ``bind_table``) gets two
hooks: ``before-parameter-build.dynamodb`` asks for ``ReturnConsumedCapacity=TOTAL`` and keeps the request
parameters, and ``after-call.dynamodb`` turns request and response into one :class:`Call`.

Units follow AWS's documentation ("Item sizes and formats", "Read/write capacity unit consumption"):

* item size = sum over attributes of (UTF-8 length of the name + size of the value); strings are their UTF-8 length,
  binary its length, numbers about one byte per two significant digits plus one, booleans and nulls one byte, lists
  and maps 3 bytes plus one byte per element plus the elements (a map's keys count like attribute names);
* writes: PutItem, UpdateItem, DeleteItem = ceil(size / 1 KB), at least 1; BatchWriteItem = the sum over its items;
  TransactWriteItems = 2 x the sum. UpdateItem and DeleteItem are billed on the larger of the item before and after;
  the meter sees only what the request carries (key + values written), which is exact for the small counter item
  Stratus updates and a lower bound otherwise;
* reads: ceil(size / 4 KB) per GetItem, per BatchGetItem item, per Query response (sum of the items returned),
  at least 1; half of that when eventually consistent; TransactGetItems = 2 x.

The figure DynamoDB itself reports (``ConsumedCapacity``) is kept beside the computed one: DynamoDB Local reports
it, but not always as AWS bills (it charges a transaction 2 units in total, whatever its items).
"""

from __future__ import annotations

import base64
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import botocore.session

WRITE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
READ_OPERATIONS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"})
WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
_PARAMS_KEY = "benchmarks.dynamo_meter.params"
_STARTED_KEY = "benchmarks.dynamo_meter.started"


# -------------------------------------------------------------------------------------------------------- item sizes


def number_size(text: str) -> int:
    """Bytes DynamoDB stores for a number: ~1 per two significant digits, +1, +1 more when negative."""
    text = text.strip().lower()
    negative = text.startswith("-")
    mantissa = text.lstrip("+-").split("e", 1)[0]
    digits = mantissa.replace(".", "").strip("0") or "0"
    return (len(digits) + 1) // 2 + 1 + (1 if negative else 0)


def binary_size(value: bytes | bytearray | str) -> int:
    """A blob's length; botocore hands blobs around as bytes, or base64 text once serialised."""
    if isinstance(value, bytes | bytearray):
        return len(value)
    return len(base64.b64decode(value))


def value_size(value: dict[str, Any]) -> int:
    """Size of one attribute value in DynamoDB JSON (``{"S": ...}``, ``{"M": {...}}``, ...)."""
    ((kind, content),) = value.items()
    if kind == "S":
        return len(content.encode())
    if kind == "N":
        return number_size(content)
    if kind == "B":
        return binary_size(content)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in content)
    if kind == "NS":
        return sum(number_size(n) for n in content)
    if kind == "BS":
        return sum(binary_size(b) for b in content)
    if kind == "L":
        return 3 + sum(1 + value_size(element) for element in content)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + value_size(element) for name, element in content.items())
    raise ValueError(f"unknown DynamoDB type {kind!r}")


def item_size(item: dict[str, dict[str, Any]] | None) -> int:
    """Size of an item: attribute names plus values."""
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


# -------------------------------------------------------------------------------------------------------- billing


def _update_size(request: dict[str, Any]) -> int:
    """What an UpdateItem writes, as far as the request shows it: the key and the values it sets."""
    names = request.get("ExpressionAttributeNames") or {}
    values = request.get("ExpressionAttributeValues") or {}
    return (
        item_size(request.get("Key"))
        + sum(len(name.encode()) for name in names.values())
        + sum(value_size(value) for value in values.values())
    )


def _single_write_units(operation: str, request: dict[str, Any]) -> int:
    if operation == "PutItem":
        return write_units(item_size(request.get("Item")))
    if operation == "UpdateItem":
        return write_units(_update_size(request))
    return write_units(item_size(request.get("Key")))  # DeleteItem, ConditionCheck


def _write_request_units(write: dict[str, Any]) -> int:
    if "PutRequest" in write:
        return write_units(item_size(write["PutRequest"]["Item"]))
    return write_units(item_size(write["DeleteRequest"]["Key"]))


def _batch_write_units(request: dict[str, Any], response: dict[str, Any]) -> int:
    """The items sent minus those DynamoDB handed back unprocessed (pynamodb sends them again, metered then)."""
    sent = sum(_write_request_units(w) for writes in (request.get("RequestItems") or {}).values() for w in writes)
    unprocessed = (response.get("UnprocessedItems") or {}).values()
    return sent - sum(_write_request_units(w) for writes in unprocessed for w in writes)


def _transact_write_units(request: dict[str, Any]) -> int:
    total = 0
    for entry in request.get("TransactItems") or []:
        ((kind, body),) = entry.items()
        operation = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem"}.get(kind, "ConditionCheck")
        total += _single_write_units(operation, body)
    return 2 * total


def billed_write_units(operation: str, request: dict[str, Any], response: dict[str, Any]) -> float:
    """Write capacity units AWS bills for one request (0 for reads)."""
    if operation in ("PutItem", "UpdateItem", "DeleteItem"):
        return float(_single_write_units(operation, request))
    if operation == "BatchWriteItem":
        return float(_batch_write_units(request, response))
    if operation == "TransactWriteItems":
        return float(_transact_write_units(request))
    return 0.0


def billed_read_units(operation: str, request: dict[str, Any], response: dict[str, Any]) -> float:
    """Read capacity units AWS bills for one request (0 for writes)."""
    consistent = bool(request.get("ConsistentRead"))
    if operation == "GetItem":
        return read_units(item_size(response.get("Item")), consistent)
    if operation in ("Query", "Scan"):
        return read_units(sum(item_size(item) for item in response.get("Items") or []), consistent)
    if operation == "BatchGetItem":
        total = 0.0
        for table, spec in (request.get("RequestItems") or {}).items():
            found = (response.get("Responses") or {}).get(table, [])
            unprocessed = len(((response.get("UnprocessedKeys") or {}).get(table) or {}).get("Keys", []))
            missing = max(0, len(spec.get("Keys", [])) - len(found) - unprocessed)
            sizes = [item_size(item) for item in found] + [0] * missing
            total += sum(read_units(size, bool(spec.get("ConsistentRead"))) for size in sizes)
        return total
    if operation == "TransactGetItems":
        return 2 * sum(read_units(item_size(r.get("Item")), True) for r in response.get("Responses") or [])
    return 0.0


def reported_units(response: dict[str, Any]) -> float | None:
    """The ``ConsumedCapacity`` DynamoDB returned (a dict, or a list of dicts for batches and transactions)."""
    consumed = response.get("ConsumedCapacity")
    if consumed is None:
        return None
    entries = consumed if isinstance(consumed, list) else [consumed]
    return float(sum(entry.get("CapacityUnits", 0.0) for entry in entries))


# -------------------------------------------------------------------------------------------------------- the meter


@dataclass(frozen=True)
class Call:
    """One DynamoDB request as billed."""

    operation: str
    write_units: float
    read_units: float
    reported: float | None
    status: int
    seconds: float


@dataclass
class Usage:
    """What a stretch of work cost in DynamoDB requests and capacity units."""

    calls: list[Call] = field(default_factory=list)

    @property
    def by_operation(self) -> Counter[str]:
        return Counter(call.operation for call in self.calls)

    @property
    def requests(self) -> int:
        return len(self.calls)

    @property
    def write_requests(self) -> int:
        return sum(1 for call in self.calls if call.operation in WRITE_OPERATIONS)

    @property
    def seconds(self) -> float:
        """Time spent in DynamoDB requests (serialising, waiting for the answer, parsing it)."""
        return sum(call.seconds for call in self.calls)

    @property
    def wcu(self) -> float:
        return sum(call.write_units for call in self.calls)

    @property
    def rcu(self) -> float:
        return sum(call.read_units for call in self.calls)

    @property
    def reported_wcu(self) -> float | None:
        return self._reported(WRITE_OPERATIONS)

    @property
    def reported_rcu(self) -> float | None:
        return self._reported(READ_OPERATIONS)

    def _reported(self, operations: Iterable[str]) -> float | None:
        calls = [call for call in self.calls if call.operation in operations]
        if not calls or any(call.reported is None for call in calls):
            return None
        return sum(call.reported or 0.0 for call in calls)

    def operations_text(self) -> str:
        """``Query 1, BatchWriteItem 40`` in a stable order (reads first)."""
        order = [*sorted(READ_OPERATIONS), *sorted(WRITE_OPERATIONS)]
        counts = self.by_operation
        names = sorted(counts, key=lambda op: (order.index(op) if op in order else len(order), op))
        return ", ".join(f"{name} {counts[name]}" for name in names)


class DynamoMeter:
    """Collects a :class:`Call` for every DynamoDB request of every client created while installed."""

    def __init__(self) -> None:
        self._calls: list[Call] = []
        self._lock = threading.Lock()
        self._original: Callable[..., Any] | None = None

    def install(self) -> None:
        """Hook every DynamoDB client created from now on (in any botocore session)."""
        if self._original is not None:
            return
        original = botocore.session.Session.create_client
        meter = self

        def create_client(session: botocore.session.Session, service_name: str, *args: Any, **kwargs: Any) -> Any:
            client = original(session, service_name, *args, **kwargs)
            if service_name == "dynamodb":
                meter.attach(client)
            return client

        self._original = original
        botocore.session.Session.create_client = create_client  # type: ignore[method-assign]

    def uninstall(self) -> None:
        if self._original is not None:
            botocore.session.Session.create_client = self._original  # type: ignore[method-assign]
            self._original = None

    def attach(self, client: Any) -> None:
        """Hook one existing DynamoDB client."""
        client.meta.events.register("before-parameter-build.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb", self._after)

    @staticmethod
    def _before(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if model.name in WRITE_OPERATIONS or model.name in READ_OPERATIONS:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")
        context[_PARAMS_KEY] = params
        context[_STARTED_KEY] = time.perf_counter()

    def _after(self, http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        request = context.get(_PARAMS_KEY) or {}
        operation = model.name
        status = int(getattr(http_response, "status_code", 0) or 0)
        call = Call(
            operation=operation,
            write_units=billed_write_units(operation, request, parsed),
            read_units=billed_read_units(operation, request, parsed),
            reported=reported_units(parsed),
            status=status,
            seconds=time.perf_counter() - context.get(_STARTED_KEY, time.perf_counter()),
        )
        with self._lock:
            self._calls.append(call)

    def reset(self) -> None:
        with self._lock:
            self._calls = []

    def take(self) -> Usage:
        """The calls since the last reset (and reset)."""
        with self._lock:
            calls, self._calls = self._calls, []
        return Usage(calls)
