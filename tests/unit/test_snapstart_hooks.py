"""stratus/snapstart.py: what runs before a SnapStart snapshot and after each restore."""

from __future__ import annotations

import random
import sys
import types
from typing import Any

import pytest

from stratus import snapstart


def test_without_the_runtime_hooks_nothing_is_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # import fails, as outside Lambda

    assert snapstart.prime_before_snapshot(lambda: None) is False


def test_the_build_and_the_warm_up_are_registered_before_the_snapshot_and_the_renewal_after_restore(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before: list[tuple[Any, ...]] = []
    after: list[tuple[Any, ...]] = []
    runtime = types.ModuleType("snapshot_restore_py")
    runtime.register_before_snapshot = lambda func, *args: before.append((func, *args))  # type: ignore[attr-defined]
    runtime.register_after_restore = lambda func, *args: after.append((func, *args))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", runtime)
    built: list[str] = []

    def build() -> None:
        built.append("api")

    def warm() -> None:
        built.append("warm")

    assert snapstart.prime_before_snapshot(build, warm) is True
    assert built == []  # registering builds nothing
    [(hook, *args)] = before
    hook(*args)
    assert built == ["api", "warm"]
    assert after == [(snapstart.renew,)]


def test_a_failed_warm_up_does_not_fail_the_snapshot_but_a_failed_build_does() -> None:
    def refused() -> None:
        raise ConnectionError("no route")

    snapstart.prime(lambda: None, refused)  # logged, not raised
    with pytest.raises(ValueError, match="bad setting"):
        snapstart.prime(lambda: (_ for _ in ()).throw(ValueError("bad setting")))


def test_environments_restored_from_one_snapshot_draw_different_random_numbers() -> None:
    """Two restores of one snapshot start with the same random state; the renewal reseeds each from the OS."""
    random.seed(42)
    snapshot = random.getstate()
    draws = []
    for _ in range(2):
        random.setstate(snapshot)  # a restore
        snapstart.renew()
        draws.append(random.random())
    random.setstate(snapshot)
    assert draws[0] != draws[1] and random.random() not in draws
