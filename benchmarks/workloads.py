"""The workloads the comparison drives, with the stock ``mlflow`` client, against any tracking server.

Each workload has an untimed ``prepare`` (loading a big experiment goes over raw REST from several threads) and a
timed ``run`` that makes the calls a user makes, one after the other, through ``MlflowClient``. ``run`` returns what
it saw (runs found, points read, bytes back...) so a report can show the counts are sane and equal on both servers.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness import MlflowHttp, metric, parallel

MIB = 1024 * 1024
SEARCH_FILTER = "metrics.loss < 2"
"""Matches every run of the searched experiment (loss = 1 / (i + 1)), so all pages come back."""
SEARCH_ORDER_BY = ["metrics.loss ASC"]
SEARCH_PAGE = 1_000


@dataclass(frozen=True)
class Scale:
    """How big each workload is. The defaults are issue 7's sizes."""

    runs: int = 100
    params: int = 50
    metrics: int = 20
    steps: int = 100
    search_runs: int = 10_000
    search_page: int = SEARCH_PAGE
    history_points: int = 100_000
    versions: int = 100
    alias_moves: int = 200
    small_files: int = 200
    small_bytes: int = 10_000
    large_mb: int = 200
    load_workers: int = 8

    def scaled(self, factor: float) -> Scale:
        """Every count times ``factor`` (at least 1; file sizes and the batch shape stay)."""

        def times(n: int) -> int:
            return max(1, round(n * factor))

        return Scale(
            runs=times(self.runs),
            params=self.params,
            metrics=self.metrics,
            steps=self.steps,
            search_runs=times(self.search_runs),
            search_page=self.search_page,
            history_points=max(1_000, int(round(self.history_points * factor, -3))),
            versions=times(self.versions),
            alias_moves=times(self.alias_moves),
            small_files=times(self.small_files),
            small_bytes=self.small_bytes,
            large_mb=max(5, round(self.large_mb * factor)),
            load_workers=self.load_workers,
        )


QUICK = Scale(
    runs=5,
    steps=10,
    search_runs=100,
    search_page=40,
    history_points=3_000,
    versions=5,
    alias_moves=10,
    small_files=10,
    large_mb=5,
)
"""A smoke run: every workload, every code path (the large file still goes in several parts), in seconds."""


@dataclass
class Workload:
    """One workload: ``prepare(uri) -> state`` is not timed, ``run(uri, state) -> counts`` is."""

    key: str
    label: str
    prepare: Callable[[str], Any]
    run: Callable[[str, Any], dict[str, int]]
    units: dict[str, int] = field(default_factory=dict)
    """What the workload does, for per-unit figures: ``points``, ``runs_searched``, ``files``, ..."""


def _client(uri: str) -> Any:
    import mlflow  # noqa: PLC0415 - the client is only needed here, not at import

    mlflow.set_tracking_uri(uri)  # mlflow-artifacts:/ URIs resolve against the global tracking URI
    return mlflow.MlflowClient(tracking_uri=uri)


def _experiment(uri: str, prefix: str) -> str:
    return str(_client(uri).create_experiment(f"{prefix}-{uuid.uuid4().hex[:8]}"))


# -------------------------------------------------------------------------------------------------------- logging


def logging_workload(scale: Scale) -> Workload:
    """``runs`` runs, each: create, one ``log_batch`` of ``params`` params and ``metrics`` x ``steps`` points (the
    client splits it into requests of at most 1,000 metrics), set terminated."""

    def run(uri: str, experiment_id: str) -> dict[str, int]:
        from mlflow.entities import Metric, Param  # noqa: PLC0415

        client = _client(uri)
        points = 0
        for i in range(scale.runs):
            run_id = client.create_run(experiment_id).info.run_id
            params = [Param(f"param_{p:03d}", f"value-{p}-{i}") for p in range(scale.params)]
            metrics = [
                Metric(f"metric_{k:02d}", 1.0 / (step + k + 1), 1_700_000_000_000 + step, step)
                for step in range(scale.steps)
                for k in range(scale.metrics)
            ]
            client.log_batch(run_id, metrics=metrics, params=params)
            client.set_terminated(run_id)
            points += len(metrics)
        return {"runs": scale.runs, "points": points}

    return Workload(
        "logging",
        f"logging: {scale.runs} runs x ({scale.params} params, {scale.metrics} metrics x {scale.steps} steps)",
        lambda uri: _experiment(uri, "bench-logging"),
        run,
        {"runs": scale.runs, "points": scale.runs * scale.metrics * scale.steps},
    )


# -------------------------------------------------------------------------------------------------------- search


def load_search_experiment(uri: str, runs: int, workers: int, http: MlflowHttp | None = None) -> str:
    """An experiment of ``runs`` runs with 2 metrics, 2 params and a tag each, loaded over REST from threads."""
    http = http or MlflowHttp(uri)
    experiment_id = http.create_experiment(f"bench-search-{uuid.uuid4().hex[:8]}")
    parallel(lambda i: load_search_run(http, experiment_id, i, runs), range(runs), workers)
    return experiment_id


def load_search_run(http: MlflowHttp, experiment_id: str, i: int, runs: int) -> str:
    """Run ``i`` of ``runs`` of the searched experiment: ``runs/create`` with a tag, then one ``runs/log-batch``."""
    run_id = http.create_run(experiment_id, tags={"team": f"team-{i % 7}"})
    metrics = [metric("loss", 1.0 / (i + 1), 10), metric("accuracy", i / runs, 10)]
    http.log_batch(run_id, metrics, {"lr": str(0.001 * (i % 10)), "layers": str(i % 5)})
    return run_id


def search_workload(scale: Scale) -> Workload:
    """Every page of ``search_runs`` over the big experiment, metric filter and metric order."""

    def run(uri: str, experiment_id: str) -> dict[str, int]:
        client = _client(uri)
        found, pages, token, last = 0, 0, None, -1.0
        ordered = True
        while True:
            page = client.search_runs(
                [experiment_id],
                SEARCH_FILTER,
                order_by=SEARCH_ORDER_BY,
                max_results=scale.search_page,
                page_token=token,
            )
            pages += 1
            for found_run in page:
                loss = found_run.data.metrics["loss"]
                ordered = ordered and loss >= last
                last = loss
            found += len(page)
            token = page.token
            if not token:
                return {"runs_found": found, "pages": pages, "ordered": int(ordered)}

    return Workload(
        "search",
        f"search: {scale.search_runs:,} runs, metric filter + order_by, all pages of {scale.search_page:,}",
        lambda uri: load_search_experiment(uri, scale.search_runs, scale.load_workers),
        run,
        {
            "runs_searched": scale.search_runs,
            "page_size": scale.search_page,
            "pages": -(-scale.search_runs // scale.search_page),
        },
    )


# -------------------------------------------------------------------------------------------------------- history


def history_workload(scale: Scale) -> Workload:
    """``get_metric_history`` of one metric with ``history_points`` points (logged 1,000 per batch, not timed)."""

    def prepare(uri: str) -> str:
        http = MlflowHttp(uri)
        run_id = http.create_run(http.create_experiment(f"bench-history-{uuid.uuid4().hex[:8]}"))
        for start in range(0, scale.history_points, 1_000):
            steps = range(start, min(start + 1_000, scale.history_points))
            http.log_batch(run_id, [metric("loss", 1.0 / (s + 1), s) for s in steps])
        return run_id

    def run(uri: str, run_id: str) -> dict[str, int]:
        history = _client(uri).get_metric_history(run_id, "loss")
        return {"points": len(history), "distinct_steps": len({m.step for m in history})}

    return Workload(
        "history",
        f"history: get_metric_history of {scale.history_points:,} points",
        prepare,
        run,
        {"points": scale.history_points},
    )


# -------------------------------------------------------------------------------------------------------- registry


def registry_workload(scale: Scale) -> Workload:
    """A registered model, ``versions`` versions created from a run, then ``alias_moves`` moves of one alias."""

    def prepare(uri: str) -> tuple[str, str]:
        client = _client(uri)
        run = client.create_run(_experiment(uri, "bench-registry"))
        return run.info.run_id, f"{run.info.artifact_uri}/model"

    def run(uri: str, state: tuple[str, str]) -> dict[str, int]:
        run_id, source = state
        client = _client(uri)
        name = f"bench-model-{uuid.uuid4().hex[:8]}"
        client.create_registered_model(name)
        for _ in range(scale.versions):
            client.create_model_version(name, source, run_id=run_id)
        for i in range(scale.alias_moves):
            client.set_registered_model_alias(name, "champion", str(i % scale.versions + 1))
        alias = client.get_model_version_by_alias(name, "champion").version
        latest = max(int(v.version) for v in client.search_model_versions(f"name = '{name}'"))
        return {"versions": latest, "alias_moves": scale.alias_moves, "alias_at": int(alias)}

    return Workload(
        "registry",
        f"registry: {scale.versions} versions, then {scale.alias_moves} alias moves",
        prepare,
        run,
        {"versions": scale.versions, "alias_moves": scale.alias_moves},
    )


# -------------------------------------------------------------------------------------------------------- artifacts


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(MIB):
            sha.update(chunk)
    return sha.hexdigest()


def _artifact_run(uri: str) -> str:
    client = _client(uri)
    return str(client.create_run(_experiment(uri, "bench-artifacts")).info.run_id)


def small_artifacts_workload(scale: Scale, scratch: Path) -> Workload:
    """``small_files`` files of ``small_bytes`` bytes: ``log_artifacts`` then ``download_artifacts``."""
    folder = scratch / "small"

    def prepare(uri: str) -> str:
        if not folder.is_dir():
            folder.mkdir(parents=True)
            for i in range(scale.small_files):
                (folder / f"f{i:04d}.bin").write_bytes(os.urandom(scale.small_bytes))
        return _artifact_run(uri)

    def run(uri: str, run_id: str) -> dict[str, int]:
        client = _client(uri)
        client.log_artifacts(run_id, str(folder), "small")
        with tempfile.TemporaryDirectory(dir=scratch) as down:
            out = Path(client.download_artifacts(run_id, "small", down))
            same = sum((out / p.name).read_bytes() == p.read_bytes() for p in folder.iterdir())
        return {"files": scale.small_files, "files_back_identical": same}

    return Workload(
        "small_artifacts",
        f"artifacts: {scale.small_files} files of {scale.small_bytes // 1000} KB, up and down",
        prepare,
        run,
        {"files": scale.small_files, "bytes": scale.small_files * scale.small_bytes},
    )


def large_artifact_workload(scale: Scale, scratch: Path) -> Workload:
    """One file of ``large_mb`` MB: ``log_artifact`` then ``download_artifacts``, compared byte for byte."""
    big = scratch / "big.bin"

    def prepare(uri: str) -> str:
        if not big.is_file():
            with big.open("wb") as handle:
                for _ in range(scale.large_mb):
                    handle.write(os.urandom(MIB))
        return _artifact_run(uri)

    def run(uri: str, run_id: str) -> dict[str, int]:
        client = _client(uri)
        client.log_artifact(run_id, str(big), "large")
        with tempfile.TemporaryDirectory(dir=scratch) as down:
            back = Path(client.download_artifacts(run_id, "large/big.bin", down))
            identical = _digest(back) == _digest(big)
        return {"mb": scale.large_mb, "identical": int(identical)}

    return Workload(
        "large_artifact",
        f"artifacts: 1 file of {scale.large_mb} MB, up and down",
        prepare,
        run,
        {"files": 1, "bytes": scale.large_mb * MIB},
    )


def all_workloads(scale: Scale, scratch: Path) -> list[Workload]:
    return [
        logging_workload(scale),
        search_workload(scale),
        history_workload(scale),
        registry_workload(scale),
        small_artifacts_workload(scale, scratch),
        large_artifact_workload(scale, scratch),
    ]
