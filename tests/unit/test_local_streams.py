"""stratus local's stream mapping: the template's filter criteria, and partial-batch retries."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path
from typing import Any

from stratus_local import event_sources
from stratus_local.event_sources import StreamPoller, _Poller, matches
from stratus_local.template import StreamSourceSpec, parse_project

PROJECT_DIR = Path(__file__).resolve().parents[2]


def _record(pk: str, sk: str, sequence: str = "1") -> dict[str, Any]:
    return {"dynamodb": {"Keys": {"pk": {"S": pk}, "sk": {"S": sk}}, "SequenceNumber": sequence}}


def test_the_templates_filters_let_only_registry_items_through() -> None:
    function = parse_project(PROJECT_DIR).functions["RegistryEventsFunction"]
    [source] = function.stream_sources
    assert source.table == "stratus-table"

    def passes(record: dict[str, Any]) -> bool:
        return any(matches(f, record) for f in source.filters)

    assert passes(_record("REGMODELS", "M#abc"))
    assert passes(_record("RM#abc", "V#0000000001"))
    assert not passes(_record("RM#abc", "H#1795000000000#x"))  # history items: no event of their own
    assert not passes(_record("EXP#1", "R#abc#I"))
    assert not passes(_record("RMNAME#churn", "#"))


def test_a_partial_batch_failure_is_retried_from_the_first_failed_record() -> None:
    calls: list[list[str]] = []

    def invoke(function_id: str, event: bytes, request_id: str) -> bytes:
        sequences = [r["dynamodb"]["SequenceNumber"] for r in json.loads(event)["Records"]]
        calls.append(sequences)
        failures = [{"itemIdentifier": "2"}] if len(calls) == 1 else []
        return json.dumps({"batchItemFailures": failures}).encode()

    poller = StreamPoller.__new__(StreamPoller)  # no AWS clients needed for delivery
    poller.function_id, poller.source, poller._invoke = "F", StreamSourceSpec("t", max_retries=2), invoke
    delivered = poller._deliver([_record("REGMODELS", "M#a", s) for s in ("1", "2", "3")])
    assert calls == [["1", "2", "3"], ["2", "3"]]
    assert delivered == 2


def test_a_lasting_poll_error_is_reported_once_and_its_end_too(monkeypatch: Any) -> None:
    """Given a source that fails the same way three polls running, then works,
    when its poller runs,
    then the log says the error once and that polling is back, not one line per second of the outage."""
    monkeypatch.setattr(event_sources, "POLL_SECONDS", 0.001)
    done = threading.Event()

    class Flaky(_Poller):
        label = "queue q -> F"
        calls = 0

        def poll_once(self) -> int:
            self.calls += 1
            if self.calls <= 3:
                raise RuntimeError("The specified queue does not exist.")
            if self.calls == 5:
                done.set()
            return 0

    log = io.StringIO()
    poller = Flaky(log)
    poller._start_thread("flaky")
    assert done.wait(10)
    poller.stop()
    assert log.getvalue().splitlines() == [
        "stratus local: queue q -> F: The specified queue does not exist. (retrying every 0.001 s)",
        "stratus local: queue q -> F: polling again",
    ]
