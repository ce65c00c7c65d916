"""Experiment listings newest first (from a store's experiment order) against the same service reading every
experiment: one check for the in-memory store (tests/unit) and DynamoDB (tests/integration)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

NEWEST_FIRST_FILTERS = ["", "tags.`mlflow.experiment.isGateway` IS NULL", "name LIKE 'e-1%'", "tags.team = 'a'"]
NEWEST_FIRST_ORDERS: list[list[str]] = [
    [],
    ["creation_time DESC"],
    ["last_update_time DESC"],
    ["last_update_time DESC", "experiment_id ASC"],
    ["name"],  # not an order the store keeps: the full read
]


def fill_and_compare_experiment_listings(
    service_factory: Callable[[], tuple[Any, Any]],
    size: int = 130,
    page_sizes: tuple[int, ...] = (1, 7, 25, 1000),
    views: tuple[str, ...] = ("ACTIVE_ONLY", "ALL", "DELETED_ONLY"),
) -> int:
    """Create ``size`` experiments through ``service_factory()``'s service (tied creation and update times; renamed,
    tagged, deleted and restored ones), then page every filter, order and view with page sizes that cut tie groups,
    and compare the pages with the same service reading every experiment. Returns the listings compared."""
    service, full_read = service_factory()
    fill_experiments(service, size)
    return compare_experiment_listings(service, full_read, page_sizes, views)


def fill_experiments(service: Any, size: int) -> list[str]:
    """Create ``size`` experiments (tags on two in three), renaming, tagging, deleting and restoring some; their ids."""
    ids = [service.create(f"e-{i}", None, {"team": "ab"[i % 2]} if i % 3 else {}) for i in range(size)]
    for i, experiment_id in enumerate(ids):
        if i % 7 == 0:
            service.rename(experiment_id, f"renamed-{i}")
        if i % 5 == 0:
            service.set_tag(experiment_id, "mlflow.experiment.isGateway", "true")
        if i % 11 == 0:
            service.delete(experiment_id)
        if i % 22 == 0:
            service.restore(experiment_id)
    return ids


def compare_experiment_listings(
    service: Any,
    full_read: Any,
    page_sizes: tuple[int, ...] = (1, 7, 25, 1000),
    views: tuple[str, ...] = ("ACTIVE_ONLY", "ALL", "DELETED_ONLY"),
) -> int:
    """Page every filter, order and view of ``service`` and of ``full_read`` (the same data read whole) and compare
    the pages; the listings compared."""
    compared = 0
    for filter_string in NEWEST_FIRST_FILTERS:
        for order_by in NEWEST_FIRST_ORDERS:
            for view in views:
                for page_size in page_sizes:
                    assert _pages(service, view, page_size, filter_string, order_by) == _pages(
                        full_read, view, page_size, filter_string, order_by
                    ), (filter_string, order_by, view, page_size)
                    compared += 1
    return compared


def _pages(service: Any, view: str, size: int, filter_string: str, order_by: list[str]) -> list[list[str]]:
    pages, token = [], None
    while True:
        page, token = service.search(view, size, filter_string, order_by, token)
        pages.append([e.experiment_id for e in page])
        if token is None or len(pages) > 200:
            return pages


class FullReadOnly:
    """A tracking store that cannot list experiments in order: the service reads them all."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def experiments_newest_first(self, by: str) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)
