"""Shared by every test folder: a LocalStack for the tests marked ``localstack`` (docs/localstack.md)."""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Iterator

import localstack_host
import pytest

from stratus_local.backends import port_for_child

LOCALSTACK_GROUP = "localstack"  # every [localstack] test runs on one xdist worker, which starts LocalStack once


@pytest.fixture(scope="session")
def localstack() -> Iterator[str]:
    """A LocalStack for this session: the one at $STRATUS_LOCALSTACK_URL if it answers, else one started here from
    `make localstack`'s install (tests/localstack_host.py) and stopped when the tests end. Skipped (failed under
    $STRATUS_REQUIRE_LOCALSTACK=1, as CI runs) when there is none."""
    given = os.environ.get("STRATUS_LOCALSTACK_URL")
    if given:
        url = localstack_host.endpoint(urllib.parse.urlsplit(given).netloc)
        if localstack_host.healthy(url):
            yield url
            return
        reason = f"no LocalStack answers at STRATUS_LOCALSTACK_URL={given}"
    elif localstack_host.is_installed():
        port = port_for_child()  # LocalStack binds it itself: below the ephemeral range, as for DynamoDB Local
        process = localstack_host.start(port)
        try:
            yield localstack_host.endpoint(f"127.0.0.1:{port}")
        finally:
            localstack_host.stop(process)
        return
    else:
        reason = "LocalStack is not installed: `make localstack` (docs/localstack.md)"
    if os.environ.get(localstack_host.REQUIRE_ENV) == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups (--dist loadgroup)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("localstack") is not None:
            item.add_marker(pytest.mark.xdist_group(LOCALSTACK_GROUP))
