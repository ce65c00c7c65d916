"""MLflow 3 issues: create, get, update and search, as the reference's SqlAlchemyStore (``create_issue`` ...
``search_issues``) does them."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from stratus.domain import messages, validation
from stratus.domain.entities import ACTIVE
from stratus.domain.issues import (
    DEFAULT_STATUS,
    Issue,
    parse_issue_filter,
    parse_severity,
    parse_status,
    search_order_key,
)
from stratus.domain.paging import paginate
from stratus.domain.ports import IssueStore
from stratus.domain.services.experiments import ExperimentService, now_ms
from stratus.errors import InvalidParameterValue, ResourceDoesNotExist

SEARCH_DEFAULT_MAX_RESULTS = 100


def new_issue_id() -> str:
    return f"iss-{uuid.uuid4().hex}"


class IssueService:
    """Everything the issues routes do."""

    def __init__(self, store: IssueStore, experiments: ExperimentService, clock: Callable[[], int] = now_ms) -> None:
        self._store = store
        self._experiments = experiments
        self._clock = clock

    def create(  # noqa: PLR0913 - the request's fields
        self,
        experiment_id: str,
        name: str,
        description: str,
        *,
        status: str | None = None,
        severity: str | None = None,
        root_causes: list[str] | None = None,
        source_run_id: str | None = None,
        categories: list[str] | None = None,
        created_by: str | None = None,
    ) -> Issue:
        """A new issue in an active experiment; status defaults to ``pending``."""
        status = parse_status(status) if status is not None else DEFAULT_STATUS
        severity = parse_severity(severity) if severity is not None else None
        experiment = self._experiments.get(experiment_id)
        if experiment.lifecycle_stage != ACTIVE:  # the reference looks it up with ViewType.ACTIVE_ONLY
            raise ResourceDoesNotExist(messages.experiment_not_found(experiment.experiment_id))
        now = self._clock()
        issue = Issue(
            issue_id=new_issue_id(),
            experiment_id=experiment.experiment_id,
            name=name,
            description=description,
            status=status,
            created_timestamp=now,
            last_updated_timestamp=now,
            severity=severity,
            root_causes=list(root_causes or []),
            source_run_id=source_run_id or None,
            categories=list(categories or []),
            created_by=created_by or None,
        )
        self._store.insert_issue(issue)
        return issue

    def get(self, issue_id: str) -> Issue:
        issue = self._store.get_issue(issue_id)
        if issue is None:
            raise ResourceDoesNotExist(messages.issue_not_found(issue_id))
        return issue

    def update(
        self,
        issue_id: str,
        *,
        status: str | None = None,
        name: str | None = None,
        description: str | None = None,
        severity: str | None = None,
    ) -> Issue:
        """Sets the fields given (empty name or description means unchanged) and always the update time."""
        status = parse_status(status) if status is not None else None
        severity = parse_severity(severity) if severity is not None else None

        def change(issue: Issue) -> None:
            issue.status = status or issue.status
            issue.name = name or issue.name
            issue.description = description or issue.description
            issue.severity = severity or issue.severity
            issue.last_updated_timestamp = self._clock()

        return self._store.modify_issue(issue_id, change)

    def search(
        self,
        experiment_id: str | None,
        filter_string: str | None,
        max_results: int | None,
        page_token: str | None,
        *,
        include_trace_count: bool = False,
    ) -> tuple[list[Issue], str | None]:
        """Most severe first, then newest, then by id (all descending); offset page tokens as the reference's.
        Without an experiment, every experiment's issues (one Query per experiment)."""
        max_results = _checked_max_results(max_results)
        clauses = parse_issue_filter(filter_string)
        if experiment_id is not None:
            experiment_ids = [validation.validate_experiment_id(experiment_id)]
        else:
            experiment_ids = [e.experiment_id for e in self._experiments.list_all()]
        issues = [i for exp in experiment_ids for i in self._store.list_issues(exp)]
        matched = [i for i in issues if all(c.matches(i) for c in clauses)]
        matched.sort(key=search_order_key, reverse=True)
        page, token = paginate(matched, page_token, max_results)
        if include_trace_count:
            for issue in page:  # traces are not stored by Stratus: no trace is linked to any issue
                issue.trace_count = 0
        return page, token


def _checked_max_results(max_results: int | None) -> int:
    if max_results is None:
        return SEARCH_DEFAULT_MAX_RESULTS
    if max_results < 1:
        raise InvalidParameterValue(messages.max_results_not_positive(max_results))
    if max_results > validation.SEARCH_MAX_RESULTS_THRESHOLD:
        raise InvalidParameterValue(
            messages.max_results_above_limit(max_results, validation.SEARCH_MAX_RESULTS_THRESHOLD)
        )
    return max_results
