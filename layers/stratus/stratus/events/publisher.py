"""Put registry events on the bus (PutEvents takes at most 10 entries per request)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any

import boto3

from stratus.events.schema import RegistryEvent

PUT_EVENTS_ENTRIES = 10  # AWS's limit per PutEvents


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

    def publish(self, events: Sequence[RegistryEvent]) -> None:
        for start in range(0, len(events), PUT_EVENTS_ENTRIES):
            entries = [event.entry(self.bus_name) for event in events[start : start + PUT_EVENTS_ENTRIES]]
            answer = self.client.put_events(Entries=entries)
            if answer.get("FailedEntryCount"):
                failed = [e for e in answer.get("Entries", []) if e.get("ErrorCode")]
                raise PublishError(f"EventBridge refused {len(failed)} of {len(entries)} events: {failed[:3]}")
