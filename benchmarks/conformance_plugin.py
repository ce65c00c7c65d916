"""pytest plugin that points MLflow's own server tests at an external tracking server, test bodies unchanged.

Loaded by ``benchmarks.conformance`` as ``-p benchmarks.conformance_plugin`` inside a checkout of MLflow's tests.
MLflow's fixtures (``mlflow_client`` and ``mlflow_client_with_secrets`` in ``tests/tracking/test_rest_tracking.py``,
``client`` in ``tests/tracking/test_model_registry.py``) start MLflow's server app in-process on a fresh SQLite
database; this plugin swaps them, just before each module's fixtures are read, for fixtures that yield an
``MlflowClient`` of ``--conformance-url`` (or, with ``--conformance-fresh TARGET``, of a server of that kind started
afresh for the test: MLflow's fixtures give each test an empty server, and many of its tests rely on that).
Everything else of MLflow's conftest runs as it is.

Tests that cannot say anything about an external server are deselected with a reason, written to
``--conformance-excluded`` (JSON) so that the runner can report them:

- the file-store variant of a test (``store_type == "file"``): the server's store is whatever the server runs;
- tests that start a server of their own (``_init_server``, ``ServerThread``): they test that server, not ours;
- tests that use none of the swapped fixtures: they call MLflow's handlers in-process or launch ``mlflow server``
  themselves with settings of their own.
"""

from __future__ import annotations

import inspect
import json
import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

import pytest

SERVER_FIXTURES: dict[str, tuple[str, ...]] = {
    "test_rest_tracking.py": ("mlflow_client", "mlflow_client_with_secrets"),
    "test_model_registry.py": ("client",),
}
"""Per test module, the fixtures that launch MLflow's server in MLflow's tests (version 3.x; older versions of
``test_rest_tracking.py`` had only ``mlflow_client``, a missing name is left alone)."""

OWN_SERVER_MARKERS = ("_init_server(", "ServerThread(")
"""Calls in a test body that start a server of the test's own instead of using the fixture's."""


class TestTimeoutError(Exception):
    """A test ran past ``--conformance-timeout``: a hung request must not stall the whole run."""

    __test__ = False  # not a test class, whatever pytest's name patterns say


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "MLflow's server tests against an external server")
    group.addoption("--conformance-url", help="base URL of the tracking server the tests talk to")
    group.addoption(
        "--conformance-fresh",
        choices=["stratus", "reference"],
        help="instead of --conformance-url, start this server afresh for each test (logs in --conformance-out)",
    )
    group.addoption("--conformance-out", default=".", help="folder for the servers' logs in --conformance-fresh")
    group.addoption("--conformance-only", help="JSON list of test ids (junit's classname::name) to run, no other")
    group.addoption("--conformance-excluded", help="where to write the deselected tests and why (JSON)")
    group.addoption("--conformance-timeout", type=int, default=180, help="seconds one test may take (default 180)")


def pytest_configure(config: pytest.Config) -> None:
    if not (config.getoption("conformance_url") or config.getoption("conformance_fresh")):
        raise pytest.UsageError("benchmarks.conformance_plugin needs --conformance-url or --conformance-fresh")
    # MLflow's pyproject runs with --strict-markers and registers `asyncio` through pytest-asyncio. Without that
    # package the whole module would fail to collect; with the marker declared, only its one async test fails.
    if not config.pluginmanager.hasplugin("asyncio"):
        config.addinivalue_line("markers", "asyncio: async test (pytest-asyncio is not installed here)")
    config.stash[_EXCLUDED] = []


_EXCLUDED = pytest.StashKey[list[dict[str, str]]]()


def external_client_fixture(name: str) -> Any:
    """A fixture called ``name`` that yields an ``MlflowClient`` of the external server.

    Like MLflow's own fixtures, it sets neither the tracking nor the registry URI of the fluent API: the test
    bodies do that where they need it, and MLflow's conftest resets them after each test."""

    @pytest.fixture(name=name)
    def external_client(request: pytest.FixtureRequest) -> Iterator[Any]:
        from mlflow import MlflowClient

        config = request.config
        if not config.getoption("conformance_fresh"):
            yield MlflowClient(config.getoption("conformance_url"))
            return
        from benchmarks.conformance import target_server

        with target_server(config.getoption("conformance_fresh"), Path(config.getoption("conformance_out"))) as url:
            yield MlflowClient(url)

    return external_client


@pytest.hookimpl(tryfirst=True)
def pytest_collectstart(collector: pytest.Collector) -> None:
    """Replace the server fixtures in the module's namespace before pytest reads the module's fixtures from it."""
    if not isinstance(collector, pytest.Module) or collector.path.name not in SERVER_FIXTURES:
        return
    try:
        module: ModuleType = collector.obj
    except Exception:  # noqa: BLE001 - collection imports the module again and reports the error itself
        return
    for name in SERVER_FIXTURES[collector.path.name]:
        if hasattr(module, name):
            setattr(module, name, external_client_fixture(name))


def junit_id(nodeid: str) -> str:
    """``tests/a/test_b.py::Class::test_c[p]`` as junit writes it: ``tests.a.test_b.Class::test_c[p]``."""
    path, *rest = nodeid.split("::")
    return ".".join([path.removesuffix(".py").replace("/", "."), *rest[:-1]]) + "::" + rest[-1]


def exclusion_reason(item: pytest.Item) -> str | None:
    """Why ``item`` cannot tell anything about an external server, or None when it applies."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get("store_type") == "file":
        return "file store variant: an external server's store is the server's own"
    function = getattr(item, "function", None)
    try:
        source = inspect.getsource(function) if function is not None else ""
    except (OSError, TypeError):
        source = ""
    if any(marker in source for marker in OWN_SERVER_MARKERS):
        return "starts a server of its own (_init_server / ServerThread) instead of the fixture's"
    swapped = set(SERVER_FIXTURES.get(item.path.name, ()))
    if not swapped.intersection(getattr(item, "fixturenames", ())):
        return "uses no server fixture: calls MLflow's handlers in-process or launches a server of its own"
    return None


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    only_path = config.getoption("conformance_only")
    only = set(json.loads(Path(only_path).read_text())) if only_path else None
    kept, dropped = [], []
    for item in items:
        reason = exclusion_reason(item)
        if reason is not None:
            config.stash[_EXCLUDED].append({"nodeid": item.nodeid, "reason": reason})
        if reason is None and (only is None or junit_id(item.nodeid) in only):
            kept.append(item)
        else:
            dropped.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Fail a test that runs past the timeout (SIGALRM: the tests run in the main thread)."""
    seconds = item.config.getoption("conformance_timeout")

    def expire(signum: int, frame: FrameType | None) -> None:
        raise TestTimeoutError(f"test still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        return (yield)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = session.config.getoption("conformance_excluded")
    if path:
        Path(path).write_text(json.dumps(session.config.stash[_EXCLUDED], indent=1))
