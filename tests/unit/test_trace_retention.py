"""Trace retention against in-memory stores: how many days a new trace gets (the deployment's default, its
experiment's ``stratus.trace.retention_days`` tag, a bad tag ignored), the expiry its record and span batches are
written with, and an expired trace read as gone before DynamoDB's TTL deletes it."""

from __future__ import annotations

import pytest

from stratus.config import Settings
from stratus.domain import otlp
from stratus.domain.services.assessments import TraceWriteService
from stratus.domain.services.experiments import ExperimentService
from stratus.domain.services.trace_search import TraceSearchService
from stratus.domain.services.traces import TraceService
from stratus.domain.trace_records import StartInfo
from stratus.domain.trace_retention import RETENTION_TAG, parse_retention_days
from stratus.errors import ResourceDoesNotExist
from stratus.store.memory import InMemorySpanStore, InMemoryTraceStore, InMemoryTrackingStore

DAY = 86_400
NOW = 1_800_000_000.0
TRACE_ID = "tr-8a045183c7674eea066d59898268ee2a"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


class Stack:
    def __init__(self, default_days: int = 0) -> None:
        self.clock = Clock()
        self.experiments = ExperimentService(InMemoryTrackingStore(), "s3://bucket/mlartifacts")
        self.experiments.ensure_default_experiment()
        self.traces, self.spans = InMemoryTraceStore(clock=self.clock), InMemorySpanStore()
        self.service = TraceService(
            self.traces, self.spans, self.experiments, default_retention_days=default_days, clock=self.clock
        )

    def experiment(self, retention_tag: str | None = None) -> str:
        tags = {RETENTION_TAG: retention_tag} if retention_tag is not None else {}
        return self.experiments.create(f"exp-{len(self.experiments.list_all())}", None, tags)

    def log_root_span(self, experiment_id: str, trace_id: str = TRACE_ID, run_id: str | None = None) -> None:
        span = {
            "span_id": "wdGOcyy3q18=",
            "parent_span_id": None,
            "name": "root",
            "start_time_unix_nano": 1_000_000_000,
            "end_time_unix_nano": 2_000_000_000,
            "status": {"code": "STATUS_CODE_OK", "message": ""},
            "attributes": {},
        }
        self.service.log_spans(experiment_id, [otlp.TraceSpans(trace_id=trace_id, spans=[span])], run_id=run_id)

    def batch_days(self) -> list[int]:
        return list(self.spans.retention.values())


@pytest.mark.parametrize(
    ("value", "days"),
    [
        ("30", 30),
        (" 7 ", 7),
        ("0", 0),
        ("365", 365),
        ("45", None),
        ("30d", None),
        ("-1", None),
        ("", None),
        ("1e3", None),
        ("٣", None),
        (None, None),
    ],
)
def test_a_retention_tag_names_one_of_the_allowed_day_counts(value: str | None, days: int | None) -> None:
    assert parse_retention_days(value) == days


def test_without_a_tag_a_trace_is_kept_the_deployments_default_from_its_first_write() -> None:
    stack = Stack(default_days=7)

    stack.log_root_span(stack.experiment())

    record = stack.service.get_info(TRACE_ID)
    assert (record.retention_days, record.expires_at) == (7, int(NOW) + 7 * DAY)
    assert stack.batch_days() == [7]


def test_the_default_default_keeps_traces_as_mlflow_does() -> None:
    stack = Stack()

    stack.log_root_span(stack.experiment())

    assert stack.service.get_info(TRACE_ID).expires_at is None
    assert stack.batch_days() == [0]


def test_the_experiments_tag_overrides_the_default_either_way() -> None:
    stack = Stack(default_days=7)

    stack.log_root_span(stack.experiment("30"), trace_id="tr-30")
    stack.log_root_span(stack.experiment("0"), trace_id="tr-kept")

    assert stack.service.get_info("tr-30").expires_at == int(NOW) + 30 * DAY
    assert stack.service.get_info("tr-kept").expires_at is None
    assert sorted(stack.batch_days()) == [0, 30]


@pytest.mark.parametrize("bad", ["45", "thirty", "-7", ""])
def test_a_bad_tag_is_ignored_and_the_default_applies(bad: str) -> None:
    stack = Stack(default_days=14)

    stack.log_root_span(stack.experiment(bad))

    assert stack.service.get_info(TRACE_ID).retention_days == 14
    assert stack.batch_days() == [14]


def test_start_trace_first_takes_its_experiments_retention_and_later_batches_keep_it() -> None:
    stack = Stack()
    experiment_id = stack.experiment("3")
    stack.service.start_trace(
        StartInfo(trace_id=TRACE_ID, experiment_id=experiment_id, request_time=1_000, execution_duration=1, state="OK")
    )
    stack.experiments.set_tag(experiment_id, RETENTION_TAG, "90")  # applies to new traces only
    stack.clock.now += 60

    stack.log_root_span(experiment_id)

    record = stack.service.get_info(TRACE_ID)
    assert (record.retention_days, record.expires_at) == (3, int(NOW) + 3 * DAY)
    assert stack.batch_days() == [3]


def test_an_expired_trace_is_gone_for_reads_and_searches_before_ttl_deletes_it() -> None:
    stack = Stack(default_days=1)
    experiment_id = stack.experiment()
    stack.log_root_span(experiment_id)
    search = TraceSearchService(stack.traces, stack.spans)
    assert len(search.search([experiment_id], None, 100, [], None)[0]) == 1

    stack.clock.now += DAY

    with pytest.raises(ResourceDoesNotExist):
        stack.service.get_info(TRACE_ID)
    assert stack.service.batch_get_infos([TRACE_ID], []) == []
    assert search.search([experiment_id], None, 100, [], None)[0] == []


def test_spans_arriving_after_their_trace_expired_start_it_afresh_instead_of_conflicting() -> None:
    stack = Stack(default_days=1)
    experiment_id = stack.experiment()
    stack.log_root_span(experiment_id)
    stack.clock.now += 2 * DAY

    stack.log_root_span(experiment_id)

    assert stack.service.get_info(TRACE_ID).expires_at == int(NOW) + 3 * DAY


def test_run_links_expire_with_their_traces() -> None:
    stack = Stack(default_days=7)
    experiment_id = stack.experiment()
    stack.log_root_span(experiment_id, run_id="run-1")
    stack.log_root_span(stack.experiment("0"), trace_id="tr-kept")

    TraceWriteService(stack.traces, stack.spans).link_to_run("run-2", [TRACE_ID, "tr-kept", "tr-unknown"])

    assert stack.traces.link_expiry == {
        ("run-1", TRACE_ID): int(NOW) + 7 * DAY,
        ("run-2", TRACE_ID): int(NOW) + 7 * DAY,
        ("run-2", "tr-kept"): None,
        ("run-2", "tr-unknown"): None,
    }


def test_the_default_comes_from_the_environment_and_must_be_an_allowed_value() -> None:
    assert Settings.from_env({"STRATUS_TRACE_RETENTION_DAYS": "30"}).trace_retention_days == 30
    assert Settings.from_env({}).trace_retention_days == 0
    with pytest.raises(ValueError, match="allowed values are 0, 1, 3"):
        TraceService(default_retention_days=5)
