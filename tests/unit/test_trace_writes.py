"""Assessments, trace tags, trace deletion and run links (contract §4, §6) against the in-memory trace store."""

from __future__ import annotations

import itertools
import re

import pytest

from stratus.domain.services.assessments import TraceWriteService
from stratus.domain.trace_records import TraceRecord
from stratus.errors import Conflict, InvalidParameterValue, ResourceDoesNotExist
from stratus.store.memory import InMemorySpanStore, InMemoryTraceStore

TRACE = "tr-1"


@pytest.fixture
def traces() -> InMemoryTraceStore:
    store = InMemoryTraceStore()
    assert store.put(TraceRecord(trace_id=TRACE, experiment_id="1", request_time=1000, state="OK"), previous=None)
    return store


@pytest.fixture
def spans() -> InMemorySpanStore:
    return InMemorySpanStore()


@pytest.fixture
def service(traces: InMemoryTraceStore, spans: InMemorySpanStore) -> TraceWriteService:
    ids = itertools.count(1)
    return TraceWriteService(traces, spans, new_id=lambda: f"a-{next(ids)}")


def _feedback(value: object, **extra: object) -> dict:
    return {"assessment_name": "relevance", "source": {"source_type": "HUMAN", "source_id": "u"},
            "feedback": {"value": value}, **extra}  # fmt: skip


def test_create_answers_the_stored_assessment_with_id_doubles_and_valid(service: TraceWriteService, traces) -> None:
    created = service.create_assessment(TRACE, _feedback(3, valid=False, trace_id="tr-other", rationale="r"))

    assert created["assessment_id"] == "a-1"
    assert created["trace_id"] == TRACE
    assert created["feedback"] == {"value": 3.0}
    assert created["valid"] is True
    assert list(created) == ["assessment_id", "assessment_name", "trace_id", "source", "create_time",
                             "last_update_time", "feedback", "rationale", "valid"]  # fmt: skip
    assert traces.get(TRACE).assessments == [created]


def test_create_defaults_source_and_name_and_keeps_a_given_id(service: TraceWriteService) -> None:
    created = service.create_assessment(
        TRACE, {"assessment_id": "a-custom", "source": {"source_type": "ROBOT"}, "expectation": {"value": [1, 2]}}
    )

    assert created["assessment_id"] == "a-custom"
    assert created["assessment_name"] == ""
    assert created["source"] == {"source_type": "SOURCE_TYPE_UNSPECIFIED"}
    assert created["expectation"] == {"value": [1.0, 2.0]}


def test_create_without_a_value_kind_or_on_an_unknown_trace_is_refused(service: TraceWriteService) -> None:
    with pytest.raises(InvalidParameterValue, match="Unknown assessment type: None"):
        service.create_assessment(TRACE, {"assessment_name": "x"})
    with pytest.raises(ResourceDoesNotExist, match=re.escape("Trace with ID 'tr-0' not found.")):
        service.create_assessment("tr-0", _feedback(1))


def test_an_override_invalidates_the_old_one_until_it_is_deleted(service: TraceWriteService, traces) -> None:
    old = service.create_assessment(TRACE, _feedback(0.8))
    new = service.create_assessment(TRACE, _feedback(0.1, overrides=old["assessment_id"]))

    assert [a["valid"] for a in traces.get(TRACE).assessments] == [False, True]
    assert new["overrides"] == old["assessment_id"]

    service.delete_assessment(TRACE, new["assessment_id"])

    assert traces.get(TRACE).assessments == [{**old, "valid": True}]


def test_overriding_an_unknown_assessment_is_not_found(service: TraceWriteService) -> None:
    with pytest.raises(ResourceDoesNotExist, match=f"Assessment with ID 'a-nope' not found for trace '{TRACE}'"):
        service.create_assessment(TRACE, _feedback(1, overrides="a-nope"))


def test_get_names_the_missing_trace_or_assessment(service: TraceWriteService) -> None:
    created = service.create_assessment(TRACE, _feedback("yes"))

    assert service.get_assessment(TRACE, created["assessment_id"]) == created
    with pytest.raises(ResourceDoesNotExist, match="Trace with request_id 'tr-0' not found"):
        service.get_assessment("tr-0", "a-x")
    with pytest.raises(ResourceDoesNotExist, match="Assessment with ID 'a-x' not found"):
        service.get_assessment(TRACE, "a-x")


def test_update_changes_only_masked_fields_and_merges_metadata(service: TraceWriteService) -> None:
    created = service.create_assessment(TRACE, _feedback("yes", metadata={"a": "1"}))
    aid = created["assessment_id"]

    renamed = service.update_assessment(TRACE, aid, {"assessment_name": "m2", "rationale": "r"}, "assessmentName")
    valued = service.update_assessment(TRACE, aid, {"feedback": {"value": 2}, "metadata": {"b": "2"}},
                                       "feedback,metadata")  # fmt: skip
    ignored = service.update_assessment(TRACE, aid, {"rationale": "z"}, "source")

    assert renamed["assessment_name"] == "m2" and "rationale" not in renamed
    assert valued["feedback"] == {"value": 2.0} and valued["metadata"] == {"a": "1", "b": "2"}
    assert ignored["source"] == created["source"] and "rationale" not in ignored
    assert ignored["create_time"] == created["create_time"]


def test_update_refuses_a_value_of_the_other_kind_and_the_valid_field(service: TraceWriteService) -> None:
    aid = service.create_assessment(TRACE, _feedback(1))["assessment_id"]

    with pytest.raises(InvalidParameterValue, match="Cannot update expectation value on a Feedback assessment."):
        service.update_assessment(TRACE, aid, {"expectation": {"value": 1}}, "expectation")
    with pytest.raises(InvalidParameterValue, match="valid"):
        service.update_assessment(TRACE, aid, {"valid": False}, "valid")
    with pytest.raises(ResourceDoesNotExist, match="Assessment with ID 'a-nope'"):
        service.update_assessment(TRACE, "a-nope", {}, "rationale")


def test_delete_of_an_unknown_assessment_or_trace_is_a_no_op(service: TraceWriteService) -> None:
    service.delete_assessment(TRACE, "a-nope")
    service.delete_assessment("tr-0", "a-x")


def test_a_lost_race_is_retried_and_the_other_write_is_kept(traces: InMemoryTraceStore, spans) -> None:
    real_put = traces.put
    raced = []

    def put_after_a_rival(record: TraceRecord, *, previous: TraceRecord | None) -> bool:
        if not raced:
            raced.append(True)
            rival = traces.get(TRACE)
            rival.tags["rival"] = "1"
            assert real_put(rival, previous=traces.get(TRACE))
        return real_put(record, previous=previous)

    traces.put = put_after_a_rival  # type: ignore[method-assign]
    TraceWriteService(traces, spans).set_tag(TRACE, "k", "v")

    assert traces.get(TRACE).tags == {"rival": "1", "k": "v"}


def test_a_trace_that_keeps_changing_is_a_conflict(traces: InMemoryTraceStore, spans) -> None:
    traces.put = lambda record, *, previous: False  # type: ignore[method-assign]
    with pytest.raises(Conflict):
        TraceWriteService(traces, spans).set_tag(TRACE, "k", "v")


def test_tags_are_set_truncated_and_deleted(service: TraceWriteService, traces) -> None:
    service.set_tag(TRACE, "k", "x" * 9000)
    service.set_tag(TRACE, "mlflow.traceName", "renamed")
    service.delete_tag(TRACE, "k")

    assert traces.get(TRACE).tags == {"mlflow.traceName": "renamed"}


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda s: s.set_tag(TRACE, "mlflow.trace.spansLocation", "x"), InvalidParameterValue,
         "Tag 'mlflow.trace.spansLocation' is immutable and cannot be set on a trace."),
        (lambda s: s.delete_tag(TRACE, "mlflow.trace.archiveLocation"), InvalidParameterValue,
         "Tag 'mlflow.trace.archiveLocation' is immutable and cannot be deleted on a trace."),
        (lambda s: s.set_tag(TRACE, "k" * 251, "v"), InvalidParameterValue,
         "'key' exceeds the maximum length of 250 characters"),
        (lambda s: s.set_tag(TRACE, "../a", "v"), InvalidParameterValue, "This name would resolve to '../a'"),
        (lambda s: s.set_tag("tr-0", "k", "v"), ResourceDoesNotExist, "Trace with ID 'tr-0' not found."),
        (lambda s: s.delete_tag(TRACE, "nope"), ResourceDoesNotExist,
         f"No trace tag with key 'nope' for trace with ID '{TRACE}'"),
        (lambda s: s.delete_tag("tr-0", "nope"), ResourceDoesNotExist,
         "No trace tag with key 'nope' for trace with ID 'tr-0'"),
    ],
)  # fmt: skip
def test_bad_tag_writes_are_refused_in_the_reference_words(service, call, error, message) -> None:
    with pytest.raises(error, match=re.escape(message)):
        call(service)


def test_archival_failure_tag_may_be_deleted(service: TraceWriteService, traces) -> None:
    record = traces.get(TRACE)
    changed = TraceRecord(**{**record.__dict__, "tags": {"mlflow.trace.archivalFailure": "x"}})
    assert traces.put(changed, previous=record)

    service.delete_tag(TRACE, "mlflow.trace.archivalFailure")

    assert traces.get(TRACE).tags == {}


def test_delete_by_ids_counts_only_the_experiment_traces_and_removes_spans(service, traces, spans) -> None:
    assert traces.put(TraceRecord(trace_id="tr-2", experiment_id="2", request_time=1), previous=None)
    spans.put_batch("1", TRACE, "b", [{"span_id": "AA=="}])

    deleted = service.delete_traces("1", max_timestamp_millis=None, max_traces=None, trace_ids=[TRACE, "tr-2", "x"])

    assert deleted == 1
    assert traces.get(TRACE) is None and traces.get("tr-2") is not None
    assert spans.read("1", TRACE) == []


def test_delete_by_time_takes_the_oldest_first(service, traces) -> None:
    for n in range(5):
        assert traces.put(TraceRecord(trace_id=f"tr-t{n}", experiment_id="1", request_time=n), previous=None)

    deleted = service.delete_traces("1", max_timestamp_millis=3, max_traces=2, trace_ids=[])

    assert deleted == 2
    assert [traces.get(f"tr-t{n}") is None for n in range(5)] == [True, True, False, False, False]
    assert service.delete_traces("1", max_timestamp_millis=1000, max_traces=None, trace_ids=[]) == 4
    assert service.delete_traces("999", max_timestamp_millis=1000, max_traces=None, trace_ids=[]) == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_timestamp_millis": None, "max_traces": None, "trace_ids": []},
         "Either `max_timestamp_millis` or `trace_ids` must be specified."),
        ({"max_timestamp_millis": 1, "max_traces": None, "trace_ids": ["a"]},
         "Only one of `max_timestamp_millis` and `trace_ids` can be specified."),
        ({"max_timestamp_millis": None, "max_traces": 1, "trace_ids": ["a"]},
         "`max_traces` can't be specified if `trace_ids` is specified."),
        ({"max_timestamp_millis": 1, "max_traces": 0, "trace_ids": []},
         "`max_traces` must be a positive integer, received 0."),
    ],
)  # fmt: skip
def test_delete_arguments_are_checked_as_the_reference_does(service, kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidParameterValue, match=re.escape(message)):
        service.delete_traces("1", **kwargs)


def test_link_to_run_is_idempotent_and_limited_to_100(service, traces) -> None:
    service.link_to_run("run-1", [TRACE, TRACE, "tr-unknown"])
    service.link_to_run("run-1", [TRACE])
    service.link_to_run("run-1", [])

    assert traces.traces_of_run("run-1") == [TRACE, "tr-unknown"]
    with pytest.raises(InvalidParameterValue, match="Cannot link more than 100 traces to a run in a single request. "
                                                    "Provided 101 traces."):  # fmt: skip
        service.link_to_run("run-1", [f"t{n}" for n in range(101)])
