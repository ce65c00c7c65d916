"""The copier: experiments, then their runs (parents before children), then logged models, then the registry.

Every item is found again on the destination by where it came from, so a second run copies nothing twice and an
interrupted one resumes: experiments and registered models by name, model versions by number, runs and logged
models by the tag ``stratus.import.source_run_id`` / ``stratus.import.source_model_id`` written when they are
created. A run or logged model also carries ``stratus.import.state=copying`` until its last step; one found with it
was interrupted and is deleted and copied again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests
from mlflow import MlflowClient
from mlflow.entities import Experiment, LifecycleStage, Metric, Param, Run, RunStatus, RunTag, ViewType
from mlflow.exceptions import MlflowException
from mlflow.protos.service_pb2 import CreateRun as CreateRunMessage
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME, MLFLOW_USER
from mlflow.utils.proto_json_utils import parse_dict
from mlflow.utils.rest_utils import http_request, verify_rest_response

from stratus_local.migrate.artifacts import ArtifactMismatch, copy_artifacts
from stratus_local.migrate.report import Progress, Summary

SOURCE_RUN_TAG = "stratus.import.source_run_id"
SOURCE_MODEL_TAG = "stratus.import.source_model_id"
STATE_TAG = "stratus.import.state"
COPYING = "copying"
# MLflow's LogBatch limits (mlflow.utils.validation)
METRICS_PER_BATCH = 1000
PARAMS_PER_BATCH = 100
TAGS_PER_BATCH = 100
PAGE = 1000
IMPORT_RUN_PATH = "/api/2.0/stratus/runs/import"  # Stratus only: CreateRun with the id to keep
# what one item's copy may fail with; the item is refused with the reason and the copy goes on
ITEM_ERRORS = (MlflowException, ArtifactMismatch, requests.RequestException, OSError)


@dataclass
class Side:
    """One server, reached with the stock client (tracking and registry at the same URI)."""

    uri: str
    client: MlflowClient = field(init=False)

    def __post_init__(self) -> None:
        self.client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)


@dataclass
class Migration:
    """State shared by the copy's steps: both sides, the id maps built so far, the summary and the pool size."""

    source: Side
    destination: Side
    summary: Summary
    progress: Progress
    workers: int
    run_ids: dict[str, str] = field(default_factory=dict)  # source run id -> destination run id
    run_artifact_uris: dict[str, tuple[str, str]] = field(default_factory=dict)  # source id -> (source, dest) uri
    model_ids: dict[str, str] = field(default_factory=dict)  # source logged model id -> destination id
    model_artifact_uris: dict[str, tuple[str, str]] = field(default_factory=dict)
    model_versions_tags: dict[str, str] = field(default_factory=dict)  # destination model id -> source's tag
    destination_keeps_ids: bool | None = None  # whether it offers IMPORT_RUN_PATH; None until the first run

    def in_parallel(self, label: str, items: list[Any], step: Callable[[Any], None]) -> None:
        """Run ``step`` on every item with the pool, advancing the progress bar as each ends."""
        self.progress.start(label, len(items))

        def one(item: Any) -> None:
            try:
                step(item)
            finally:
                self.progress.advance()

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            list(pool.map(one, items))
        self.progress.finish()


def copy_server(source_uri: str, destination_uri: str, workers: int = 4, progress: Progress | None = None) -> Summary:
    """Copy everything the server at ``source_uri`` holds into the one at ``destination_uri``; see the module doc."""
    from stratus_local.migrate.models import copy_logged_models, copy_registry, restore_model_versions_tags

    migration = Migration(Side(source_uri), Side(destination_uri), Summary(), progress or Progress(None), workers)
    experiments = list(pages(lambda token: migration.source.client.search_experiments(
        view_type=ViewType.ALL, max_results=PAGE, page_token=token
    )))  # fmt: skip
    for experiment in experiments:
        destination_id = _copy_experiment(migration, experiment)
        if destination_id is None:
            continue
        refused = len(migration.summary.refusals)
        _copy_runs(migration, experiment.experiment_id, destination_id)
        copy_logged_models(migration, experiment.experiment_id, destination_id)
        # deleted only once whole: a second run skips a deleted experiment, so one refusal leaves it open for that
        if experiment.lifecycle_stage == LifecycleStage.DELETED and len(migration.summary.refusals) == refused:
            migration.destination.client.delete_experiment(destination_id)
    copy_registry(migration)
    restore_model_versions_tags(migration)
    return migration.summary


def pages(search: Callable[[str | None], Any]) -> Iterable[Any]:
    token = None
    while True:
        page = search(token)
        yield from page
        token = page.token
        if not token:
            return


def _copy_experiment(migration: Migration, experiment: Experiment) -> str | None:
    """The destination's id for ``experiment``, created with its tags if missing; None when it cannot be filled."""
    destination = migration.destination.client
    summary = migration.summary
    existing = destination.get_experiment_by_name(experiment.name)
    tags = {k: v for k, v in experiment.tags.items()}
    if existing is None:
        try:
            created = destination.create_experiment(experiment.name, tags=tags)
        except MlflowException as exc:
            summary.refuse("experiment", repr(experiment.name), exc.message)
            return None
        summary.count_copied("experiments")
        return created
    if existing.lifecycle_stage == LifecycleStage.DELETED:
        if experiment.lifecycle_stage == LifecycleStage.DELETED:
            summary.count_skipped("experiments")  # deleted last, so it was copied completely
        else:
            summary.refuse(
                "experiment", repr(experiment.name), "a deleted experiment holds that name at the destination"
            )
        return None
    for key, value in tags.items():
        if existing.tags.get(key) != value:
            destination.set_experiment_tag(existing.experiment_id, key, value)
    summary.count_skipped("experiments")
    return existing.experiment_id


def _copy_runs(migration: Migration, source_experiment: str, destination_experiment: str) -> None:
    # an interrupted copy's run, left in the source by an earlier migration into it, is debris, not data
    source_runs = [
        run
        for run in _search_runs(migration.source.client, source_experiment)
        if run.data.tags.get(STATE_TAG) != COPYING
    ]
    copied = _copied_runs(migration, destination_experiment)
    by_depth: dict[int, list[Run]] = {}
    parents = {run.info.run_id: run.data.tags.get(MLFLOW_PARENT_RUN_ID) for run in source_runs}
    for run in source_runs:
        by_depth.setdefault(_depth(run.info.run_id, parents), []).append(run)
    for depth in sorted(by_depth):

        def copy_one(run: Run) -> None:
            _copy_run(migration, run, destination_experiment, copied.get(run.info.run_id))

        migration.in_parallel(f"runs (level {depth + 1})" if depth else "runs", by_depth[depth], copy_one)


def _depth(run_id: str, parents: dict[str, str | None]) -> int:
    depth, seen = 0, {run_id}
    while (parent := parents.get(run_id)) and parent in parents and parent not in seen:
        depth, run_id = depth + 1, parent
        seen.add(parent)
    return depth


def _search_runs(client: MlflowClient, experiment_id: str) -> Iterable[Run]:
    return pages(lambda token: client.search_runs(
        [experiment_id], run_view_type=ViewType.ALL, max_results=PAGE, page_token=token
    ))  # fmt: skip


def _copied_runs(migration: Migration, destination_experiment: str) -> dict[str, Run]:
    """Runs an earlier copy finished, by source run id; interrupted ones are deleted so they are copied again."""
    copied = {}
    for run in _search_runs(migration.destination.client, destination_experiment):
        source_id = run.data.tags.get(SOURCE_RUN_TAG)
        if source_id is None:
            continue
        if run.data.tags.get(STATE_TAG) == COPYING:
            if run.info.lifecycle_stage == LifecycleStage.ACTIVE:
                migration.destination.client.delete_run(run.info.run_id)
            continue
        copied[source_id] = run
    return copied


def _copy_run(migration: Migration, run: Run, destination_experiment: str, done: Run | None) -> None:
    source_id = run.info.run_id
    if done is not None:
        migration.run_ids[source_id] = done.info.run_id
        migration.run_artifact_uris[source_id] = (run.info.artifact_uri, done.info.artifact_uri)
        migration.summary.count_skipped("runs")
        return
    parent = run.data.tags.get(MLFLOW_PARENT_RUN_ID)
    if parent and parent not in migration.run_ids:
        migration.summary.refuse("run", source_id, f"its parent run {parent} was not copied")
        return
    try:
        _write_run(migration, run, destination_experiment)
    except ITEM_ERRORS as exc:
        migration.summary.refuse("run", source_id, reason(exc))
        return
    migration.summary.count_copied("runs")


def reason(exc: Exception) -> str:
    """The first line of what went wrong, for the summary."""
    text = exc.message if isinstance(exc, MlflowException) else str(exc)
    return text.splitlines()[0] if text.strip() else type(exc).__name__


def _write_run(migration: Migration, run: Run, destination_experiment: str) -> None:
    source, destination = migration.source, migration.destination
    info = run.info
    tags = dict(run.data.tags)
    if MLFLOW_PARENT_RUN_ID in tags:
        tags[MLFLOW_PARENT_RUN_ID] = migration.run_ids[tags[MLFLOW_PARENT_RUN_ID]]
    store = destination.client._tracking_client.store  # CreateRun's user_id, which MlflowClient takes from a tag
    request = {
        "experiment_id": destination_experiment,
        "user_id": info.user_id or tags.get(MLFLOW_USER, ""),
        "start_time": info.start_time,
        "tags": [RunTag(SOURCE_RUN_TAG, info.run_id), RunTag(STATE_TAG, COPYING)],
        "run_name": info.run_name or tags.get(MLFLOW_RUN_NAME),
    }
    created = _run_with_same_id(migration, info.run_id, request) or store.create_run(**request)
    new_id = created.info.run_id
    _log_in_batches(destination.client, new_id, params=[Param(k, v) for k, v in run.data.params.items()])
    _log_in_batches(destination.client, new_id, tags=[RunTag(k, v) for k, v in tags.items() if k != SOURCE_RUN_TAG])
    history = [
        Metric(point.key, point.value, point.timestamp, point.step)
        for key in run.data.metrics
        for point in source.client.get_metric_history(info.run_id, key)
    ]
    _log_in_batches(destination.client, new_id, metrics=history)
    if run.inputs and run.inputs.dataset_inputs:
        destination.client.log_inputs(new_id, datasets=run.inputs.dataset_inputs)
    _copy_run_artifacts(migration, run, created.info.artifact_uri)
    if info.status != RunStatus.to_string(RunStatus.RUNNING) or info.end_time:
        store.update_run_info(new_id, RunStatus.from_string(info.status), info.end_time, None)
    destination.client.delete_tag(new_id, STATE_TAG)
    if info.lifecycle_stage == LifecycleStage.DELETED:
        destination.client.delete_run(new_id)
    migration.run_ids[info.run_id] = new_id
    migration.run_artifact_uris[info.run_id] = (info.artifact_uri, created.info.artifact_uri)


def _run_with_same_id(migration: Migration, run_id: str, request: dict[str, Any]) -> Run | None:
    """The run created under the source's id through Stratus's ``POST /api/2.0/stratus/runs/import``; None where
    that cannot be: another server (it has no such route; asked once), or the id is taken (an interrupted copy)."""
    if migration.destination_keeps_ids is False:
        return None
    store = migration.destination.client._tracking_client.store
    body = {**request, "run_id": run_id, "tags": [{"key": t.key, "value": t.value} for t in request["tags"]]}
    response = http_request(store.get_host_creds(), IMPORT_RUN_PATH, "POST", json=body, max_retries=0)
    if response.status_code == 404:
        migration.destination_keeps_ids = False
        return None
    if response.status_code != 200:
        if response.status_code == 400 and "RESOURCE_ALREADY_EXISTS" in response.text:
            return None
        verify_rest_response(response, IMPORT_RUN_PATH)
    migration.destination_keeps_ids = True
    message = CreateRunMessage.Response()
    parse_dict(response.json(), message)
    return Run.from_proto(message.run)


def _copy_run_artifacts(migration: Migration, run: Run, destination_uri: str) -> None:
    info = run.info
    try:
        files, size = copy_artifacts(
            info.artifact_uri, migration.source.uri, destination_uri, migration.destination.uri
        )
    except requests.HTTPError as exc:
        # Stratus does not serve a deleted run's artifacts (docs/decisions.md); the reference does
        if info.lifecycle_stage != LifecycleStage.DELETED or exc.response is None or exc.response.status_code != 404:
            raise
        migration.summary.note("run", info.run_id, "deleted, and its artifacts are not served by the source")
        return
    migration.summary.count_artifacts(files, size)


def _log_in_batches(
    client: MlflowClient,
    run_id: str,
    metrics: list[Metric] = (),  # type: ignore[assignment]
    params: list[Param] = (),  # type: ignore[assignment]
    tags: list[RunTag] = (),  # type: ignore[assignment]
) -> None:
    for start in range(0, len(metrics), METRICS_PER_BATCH):
        client.log_batch(run_id, metrics=metrics[start : start + METRICS_PER_BATCH], synchronous=True)
    for start in range(0, len(params), PARAMS_PER_BATCH):
        client.log_batch(run_id, params=params[start : start + PARAMS_PER_BATCH], synchronous=True)
    for start in range(0, len(tags), TAGS_PER_BATCH):
        client.log_batch(run_id, tags=tags[start : start + TAGS_PER_BATCH], synchronous=True)
