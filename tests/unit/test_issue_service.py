"""The issues service against in-memory fakes: the reference's defaults, errors, order, filter and paging."""

from __future__ import annotations

import itertools

import pytest

from stratus.domain.services import ExperimentService
from stratus.domain.services.issues import IssueService
from stratus.errors import InvalidParameterValue, ResourceDoesNotExist
from stratus.store.memory import InMemoryIssueStore, InMemoryTrackingStore


@pytest.fixture
def service_and_experiment() -> tuple[IssueService, str]:
    ticks = itertools.count(1000)
    experiments = ExperimentService(InMemoryTrackingStore(), "s3://bucket/mlartifacts", clock=lambda: next(ticks))
    experiment_id = experiments.create("issues", None, {})
    return IssueService(InMemoryIssueStore(), experiments, clock=lambda: next(ticks)), experiment_id


def test_create_defaults_to_pending_without_severity(service_and_experiment: tuple[IssueService, str]) -> None:
    service, exp = service_and_experiment

    issue = service.create(exp, "n", "d")

    assert (issue.status, issue.severity, issue.issue_id[:4]) == ("pending", None, "iss-")
    assert service.get(issue.issue_id) == issue


def test_create_in_unknown_experiment_is_not_found(service_and_experiment: tuple[IssueService, str]) -> None:
    service, _ = service_and_experiment

    with pytest.raises(ResourceDoesNotExist, match="No Experiment with id=42 exists"):
        service.create("42", "n", "d")


@pytest.mark.parametrize("field", ["status", "severity"])
def test_unknown_status_or_severity_is_invalid(service_and_experiment: tuple[IssueService, str], field: str) -> None:
    service, exp = service_and_experiment

    with pytest.raises(InvalidParameterValue, match=field):
        service.create(exp, "n", "d", **{field: "bogus"})


def test_update_unknown_issue_is_not_found(service_and_experiment: tuple[IssueService, str]) -> None:
    service, _ = service_and_experiment

    with pytest.raises(ResourceDoesNotExist, match="Issue with ID 'iss-x' not found"):
        service.update("iss-x", status="resolved")


def test_update_sets_given_fields_and_keeps_empty_ones(service_and_experiment: tuple[IssueService, str]) -> None:
    service, exp = service_and_experiment
    issue = service.create(exp, "n", "d")

    updated = service.update(issue.issue_id, status="resolved", name="", severity="high")

    assert (updated.status, updated.name, updated.severity) == ("resolved", "n", "high")
    assert updated.last_updated_timestamp > issue.last_updated_timestamp


def test_search_orders_by_severity_then_newest_and_pages(service_and_experiment: tuple[IssueService, str]) -> None:
    service, exp = service_and_experiment
    low = service.create(exp, "low", "d", severity="low")
    none_old = service.create(exp, "none-old", "d")
    high = service.create(exp, "high", "d", severity="high")
    none_new = service.create(exp, "none-new", "d")

    first, token = service.search(exp, None, 2, None)
    rest, last_token = service.search(exp, None, 2, token)

    assert [i.issue_id for i in first + rest] == [high.issue_id, low.issue_id, none_new.issue_id, none_old.issue_id]
    assert token and last_token is None


def test_search_filters_on_status_and_source_run(service_and_experiment: tuple[IssueService, str]) -> None:
    service, exp = service_and_experiment
    service.create(exp, "a", "d", source_run_id="r1")
    resolved = service.create(exp, "b", "d", status="resolved", source_run_id="r1")
    service.create(exp, "c", "d", status="resolved")

    found, _ = service.search(exp, "status = 'resolved' AND source_run_id = 'r1'", None, None)

    assert [i.issue_id for i in found] == [resolved.issue_id]


@pytest.mark.parametrize(
    ("filter_string", "message"),
    [
        ("name = 'x'", "Invalid filter field 'name'"),
        ("status LIKE 'x'", "Invalid comparator 'LIKE'"),
        ("status = 'a' OR status = 'b'", r"Invalid clause\(s\) in filter string: OR"),
    ],
)
def test_search_refuses_what_the_reference_refuses(
    service_and_experiment: tuple[IssueService, str], filter_string: str, message: str
) -> None:
    service, exp = service_and_experiment

    with pytest.raises(InvalidParameterValue, match=message):
        service.search(exp, filter_string, None, None)
