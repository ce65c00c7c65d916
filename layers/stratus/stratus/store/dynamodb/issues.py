"""MLflow 3 issues in DynamoDB: one item in the experiment's partition (``EXP#<exp>``/``I#<id>``), found by id through
a pointer item (``ISSUE#<id>``/``#``). Costs per call: docs/data-model.md."""

from __future__ import annotations

from functools import partial

from pynamodb.exceptions import DoesNotExist
from pynamodb.transactions import TransactWrite

from stratus.domain import messages
from stratus.domain.issues import Issue
from stratus.domain.ports import IssueChange
from stratus.errors import Conflict, ResourceDoesNotExist
from stratus.store.dynamodb.errors import translated, written
from stratus.store.dynamodb.items import IssueItem, IssuePointerItem, StratusItem, sort_key_prefix

MAX_ATTEMPTS = 12
_ISSUE_PREFIX = "I#"


class DynamoIssueStore:
    """``IssueStore`` on the single Stratus table."""

    def __init__(self) -> None:
        self._experiment_of_issue: dict[str, str] = {}

    def insert_issue(self, issue: Issue) -> None:
        pointer = IssuePointerItem(pk=f"ISSUE#{issue.issue_id}", sk="#", experiment_id=issue.experiment_id)
        with translated(), TransactWrite(connection=StratusItem._get_connection().connection) as tx:
            tx.save(pointer, condition=IssuePointerItem.pk.does_not_exist())
            tx.save(_item(issue, version=1), condition=IssueItem.pk.does_not_exist())
        self._experiment_of_issue[issue.issue_id] = issue.experiment_id

    def get_issue(self, issue_id: str) -> Issue | None:
        item = self._get_item(issue_id)
        return _issue(item) if item else None

    def list_issues(self, experiment_id: str) -> list[Issue]:
        with translated():
            items = IssueItem.query(
                f"EXP#{experiment_id}", sort_key_prefix(IssueItem.sk, _ISSUE_PREFIX), consistent_read=True
            )
            return [_issue(item) for item in items]

    def modify_issue(self, issue_id: str, change: IssueChange) -> Issue:
        for _attempt in range(MAX_ATTEMPTS):
            item = self._get_item(issue_id)
            if item is None:
                raise ResourceDoesNotExist(messages.issue_not_found(issue_id))
            after = _issue(item)
            change(after)
            updated = _item(after, version=int(item.version) + 1)
            if written(partial(updated.save, condition=IssueItem.version == item.version)):
                return after
        raise Conflict(f"Issue {issue_id} was changed concurrently too many times; retry.")

    def _experiment_id(self, issue_id: str) -> str | None:
        cached = self._experiment_of_issue.get(issue_id)
        if cached is not None:
            return cached
        with translated():
            try:
                pointer = IssuePointerItem.get(f"ISSUE#{issue_id}", "#", consistent_read=True)
            except DoesNotExist:
                return None
        self._experiment_of_issue[issue_id] = pointer.experiment_id
        return pointer.experiment_id

    def _get_item(self, issue_id: str) -> IssueItem | None:
        experiment_id = self._experiment_id(issue_id)
        if experiment_id is None:
            return None
        with translated():
            try:
                return IssueItem.get(f"EXP#{experiment_id}", f"{_ISSUE_PREFIX}{issue_id}", consistent_read=True)
            except DoesNotExist:
                return None


def _item(issue: Issue, version: int) -> IssueItem:
    return IssueItem(
        pk=f"EXP#{issue.experiment_id}",
        sk=f"{_ISSUE_PREFIX}{issue.issue_id}",
        issue_id=issue.issue_id,
        experiment_id=issue.experiment_id,
        name=issue.name,
        description=issue.description,
        status=issue.status,
        created_timestamp=issue.created_timestamp,
        last_updated_timestamp=issue.last_updated_timestamp,
        severity=issue.severity,
        root_causes=list(issue.root_causes),
        source_run_id=issue.source_run_id,
        categories=list(issue.categories),
        created_by=issue.created_by,
        version=version,
    )


def _issue(item: IssueItem) -> Issue:
    return Issue(
        issue_id=item.issue_id,
        experiment_id=item.experiment_id,
        name=item.name,
        description=item.description,
        status=item.status,
        created_timestamp=int(item.created_timestamp),
        last_updated_timestamp=int(item.last_updated_timestamp),
        severity=item.severity,
        root_causes=[str(c) for c in item.root_causes or []],
        source_run_id=item.source_run_id,
        categories=[str(c) for c in item.categories or []],
        created_by=item.created_by,
    )
