"""Artifacts through ``stratus local`` (proxied mode) with the stock client: how many requests reach a function per
file uploaded and downloaded, and how many bytes pass through one (target: none above the Lambda payload limit).

    python -m benchmarks.artifacts [--small 200] [--large-mb 1024]

Workloads: ``--small`` files of 10 KB uploaded with ``log_artifacts`` and downloaded with ``download_artifacts``;
one file of ``--large-mb`` MB uploaded in parts (``MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE`` = 4 MiB, as the README
tells proxied clients to set) and downloaded through a presigned URL, compared byte for byte.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness import PROJECT_DIR
from stratus_local.gateway import LAMBDA_MAX_REQUEST_BYTES
from stratus_local.stack import LocalStack

MIB = 1024 * 1024


@dataclass
class Traffic:
    """Invocations per function and the event bytes they carried."""

    invocations: dict[str, int] = field(default_factory=dict)
    event_bytes: int = 0
    largest_event: int = 0


class TrafficMeter:
    """Counts every invocation the local gateway makes, by function, with the size of its event."""

    def __init__(self, stack: LocalStack) -> None:
        if stack.functions is None:
            raise RuntimeError("the stack is not started")
        self._lock = threading.Lock()
        self._traffic = Traffic()
        gateway = stack.gateway
        if gateway is None:
            raise RuntimeError("the stack is not started")
        original = gateway.invoke

        def counted(function_id: str, event_json: bytes, request_id: str) -> bytes:
            with self._lock:
                self._traffic.invocations[function_id] = self._traffic.invocations.get(function_id, 0) + 1
                self._traffic.event_bytes += len(event_json)
                self._traffic.largest_event = max(self._traffic.largest_event, len(event_json))
            return original(function_id, event_json, request_id)

        gateway.invoke = counted

    @contextmanager
    def measure(self) -> Iterator[Traffic]:
        with self._lock:
            self._traffic = Traffic()
        result = Traffic()
        yield result
        with self._lock:
            result.invocations = dict(self._traffic.invocations)
            result.event_bytes = self._traffic.event_bytes
            result.largest_event = self._traffic.largest_event


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(MIB):
            sha.update(chunk)
    return sha.hexdigest()


def _report(label: str, files: int, traffic: Traffic, seconds: float) -> None:
    total = sum(traffic.invocations.values())
    per_function = ", ".join(f"{name} {count}" for name, count in sorted(traffic.invocations.items()))
    print(
        f"{label:<34} {seconds:8.1f} s  {total:6d} invocations ({total / files:5.1f} per file: {per_function})  "
        f"event bytes {traffic.event_bytes / MIB:8.1f} MiB, largest {traffic.largest_event / MIB:5.2f} MiB "
        f"(limit {LAMBDA_MAX_REQUEST_BYTES / MIB:.1f} MiB)"
    )


def run(small: int, large_mb: int) -> None:
    import mlflow
    from mlflow import MlflowClient

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ["MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE"] = str(4 * MIB)
    with LocalStack(PROJECT_DIR, ephemeral=True, log_requests=False) as stack, tempfile.TemporaryDirectory() as tmp:
        meter = TrafficMeter(stack)
        mlflow.set_tracking_uri(stack.base_url)
        client = MlflowClient()
        experiment_id = client.create_experiment("bench-artifacts")
        run_id = client.create_run(experiment_id).info.run_id
        print(f"stratus local (proxied artifacts) at {stack.base_url}; machine: {os.cpu_count()} CPUs\n")

        folder = Path(tmp) / "small"
        folder.mkdir()
        for i in range(small):
            (folder / f"f{i:04d}.bin").write_bytes(os.urandom(10_000))
        with meter.measure() as traffic:
            started = time.perf_counter()
            client.log_artifacts(run_id, str(folder), "small")
        _report(f"upload {small} x 10 KB", small, traffic, time.perf_counter() - started)
        with meter.measure() as traffic:
            started = time.perf_counter()
            out = Path(client.download_artifacts(run_id, "small", str(Path(tmp) / "down")))
        _report(f"download {small} x 10 KB", small, traffic, time.perf_counter() - started)
        assert len(list(out.iterdir())) == small

        big = Path(tmp) / "big.bin"
        with big.open("wb") as handle:
            for _ in range(large_mb):
                handle.write(os.urandom(MIB))
        with meter.measure() as traffic:
            started = time.perf_counter()
            client.log_artifact(run_id, str(big), "large")
        _report(f"upload 1 x {large_mb} MB (multipart)", 1, traffic, time.perf_counter() - started)
        with meter.measure() as traffic:
            started = time.perf_counter()
            back = Path(client.download_artifacts(run_id, "large/big.bin", str(Path(tmp) / "back")))
        _report(f"download 1 x {large_mb} MB (presigned)", 1, traffic, time.perf_counter() - started)
        same = _digest(back) == _digest(big)
        print(f"\n{large_mb} MB round trip byte for byte: {'yes' if same else 'NO'}")
        print("Target: no event above the Lambda limit; bytes through a function only for the small uploads.")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--large-mb", type=int, default=1024)
    args: Any = parser.parse_args(argv)
    run(args.small, args.large_mb)


if __name__ == "__main__":
    main()
