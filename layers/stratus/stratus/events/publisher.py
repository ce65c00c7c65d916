"""Put Stratus events (registry and project runs) on the bus (PutEvents takes at most 10 entries per request)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any, Protocol

import boto3
from pydantic import BaseModel

PUT_EVENTS_ENTRIES = 10  # AWS's limit per PutEvents


def bus_entry(source: str, detail_type: str, detail: BaseModel, bus_name: str) -> dict[str, Any]:
    """One PutEvents entry: every Stratus event is a pydantic ``detail`` under a ``source`` and ``detail-type``."""
    return {"Source": source, "DetailType": detail_type, "Detail": detail.model_dump_json(), "EventBusName": bus_name}


class BusEvent(Protocol):
    def entry(self, bus_name: str) -> dict[str, Any]:
        """The PutEvents entry."""


class PublishError(RuntimeError):
    """EventBridge refused some entries; the stream record is retried (events carry ids for de-duplication)."""


class EventPublisher:
    def __init__(self, bus_name: str, client_factory: Callable[[], Any] = lambda: boto3.client("events")) -> None:
        self.bus_name = bus_name
        self._client_factory = client_factory

    @cached_property
    def client(self) -> Any:
        """Made on first use, never at import or construction."""
        return self._client_factory()

    def publish(self, events: Sequence[BusEvent]) -> None:
        for start in range(0, len(events), PUT_EVENTS_ENTRIES):
            entries = [event.entry(self.bus_name) for event in events[start : start + PUT_EVENTS_ENTRIES]]
            answer = self.client.put_events(Entries=entries)
            if answer.get("FailedEntryCount"):
                failed = [e for e in answer.get("Entries", []) if e.get("ErrorCode")]
                raise PublishError(f"EventBridge refused {len(failed)} of {len(entries)} events: {failed[:3]}")
