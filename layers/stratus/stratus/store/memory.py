"""An in-memory ``TrackingStore`` for unit tests of the services: same contract, no AWS."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import replace

from stratus.domain import messages
from stratus.domain.datasets import DatasetRecord, EvaluationDataset
from stratus.domain.deployments import Deployment, HistoryEntry
from stratus.domain.entities import (
    DatasetInput,
    DatasetSummary,
    Experiment,
    LoggedModel,
    Metric,
    MetricPoint,
    Run,
    RunInfo,
    Webhook,
    WebhookDelivery,
)
from stratus.domain.issues import Issue
from stratus.domain.ports import (
    DatasetChange,
    ExperimentChange,
    IssueChange,
    LoggedModelChange,
    RunChange,
    SchemaState,
)
from stratus.domain.projection import Columns, ProjectionManifest
from stratus.domain.projects import ProjectRun
from stratus.domain.scorers import OnlineScoringConfig, ScorerVersion
from stratus.domain.trace_records import TraceRecord
from stratus.domain.trace_retention import expired
from stratus.errors import Conflict, ResourceAlreadyExists, ResourceDoesNotExist


class InMemoryTrackingStore:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._experiments: dict[str, Experiment] = {}
        self._names: dict[str, str] = {}
        self._runs: dict[str, Run] = {}
        self._history: dict[tuple[str, str], set[tuple[int, int, float]]] = {}
        self._summaries: dict[str, list[DatasetSummary]] = {}  # per experiment, in the order first logged
        self._changed: dict[str, int] = {}  # run id -> when last written (epoch ms): the change markers
        self._counter = 0
        self.clock: Callable[[], int] = lambda: time.time_ns() // 1_000_000

    def next_experiment_id(self) -> str:
        with self._lock:
            self._counter += 1
            return str(self._counter)

    def insert_experiment(self, experiment: Experiment) -> None:
        with self._lock:
            if experiment.name in self._names or experiment.experiment_id in self._experiments:
                raise ResourceAlreadyExists(messages.experiment_already_exists(experiment.name))
            self._experiments[experiment.experiment_id] = copy.deepcopy(experiment)
            self._names[experiment.name] = experiment.experiment_id

    def get_experiment(self, experiment_id: str) -> Experiment | None:
        with self._lock:
            found = self._experiments.get(experiment_id)
            return copy.deepcopy(found) if found else None

    def get_experiment_id_by_name(self, name: str) -> str | None:
        return self._names.get(name)

    def list_experiments(self) -> list[Experiment]:
        with self._lock:
            return [copy.deepcopy(e) for e in self._experiments.values()]

    def modify_experiment(self, experiment_id: str, change: ExperimentChange) -> Experiment:
        with self._lock:
            current = self._experiments.get(experiment_id)
            if current is None:
                raise ResourceDoesNotExist(messages.experiment_not_found(experiment_id))
            after = copy.deepcopy(current)
            change(after)
            if after.name != current.name:
                if after.name in self._names:
                    raise ResourceAlreadyExists(messages.experiment_already_exists(after.name))
                del self._names[current.name]
                self._names[after.name] = experiment_id
            self._experiments[experiment_id] = after
            return copy.deepcopy(after)

    def insert_run(self, run: Run) -> None:
        with self._lock:
            self._runs[run.run_id] = copy.deepcopy(run)
            self._changed[run.run_id] = self.clock()

    def experiments_newest_first(self, by: str) -> Iterator[list[Experiment]] | None:
        with self._lock:
            ordered = sorted(self._experiments.values(), key=lambda e: (-getattr(e, by), int(e.experiment_id)))
            chunks = [[copy.deepcopy(e) for e in ordered[i : i + 50]] for i in range(0, len(ordered), 50)]
        return iter(chunks)

    def get_runs(self, experiment_id: str, run_ids: Collection[str]) -> list[Run]:
        with self._lock:
            found = (self._runs.get(run_id) for run_id in run_ids)
            return [copy.deepcopy(r) for r in found if r is not None and r.info.experiment_id == experiment_id]

    def changed_run_ids(self, experiment_id: str, since: int) -> set[str]:
        with self._lock:
            return {
                run_id
                for run_id, at in self._changed.items()
                if at >= since and run_id in self._runs and self._runs[run_id].info.experiment_id == experiment_id
            }

    def newest_change(self, experiment_id: str) -> int | None:
        with self._lock:
            times = [
                at
                for run_id, at in self._changed.items()
                if run_id in self._runs and self._runs[run_id].info.experiment_id == experiment_id
            ]
        return max(times, default=None)

    def has_runs(self, experiment_id: str, count: int) -> bool:
        with self._lock:
            return sum(r.info.experiment_id == experiment_id for r in self._runs.values()) >= count

    def get_run(self, run_id: str) -> Run | None:
        with self._lock:
            found = self._runs.get(run_id)
            return copy.deepcopy(found) if found else None

    def get_run_info(self, run_id: str) -> RunInfo | None:
        with self._lock:
            found = self._runs.get(run_id)
            return copy.deepcopy(found.info) if found else None

    def list_runs(self, experiment_id: str) -> list[Run]:
        with self._lock:
            return [copy.deepcopy(r) for r in self._runs.values() if r.info.experiment_id == experiment_id]

    def runs_newest_first(
        self, experiment_id: str, stages: Collection[str], start: int, count: int
    ) -> list[Run] | None:
        with self._lock:
            runs = [r for r in self._runs.values() if r.info.experiment_id == experiment_id]
            runs = [r for r in runs if r.info.lifecycle_stage in stages]
            runs.sort(key=lambda r: (-r.info.start_time, r.run_id))
            return [copy.deepcopy(r) for r in runs[start : start + count]]

    def modify_run(self, run_id: str, change: RunChange, history: Iterable[Metric] = ()) -> Run:
        with self._lock:
            current = self._runs.get(run_id)
            if current is None:
                raise ResourceDoesNotExist(messages.run_not_found(run_id))
            after = copy.deepcopy(current)
            change(after)
            self._runs[run_id] = after
            self._changed[run_id] = self.clock()
            self.append_metric_history(run_id, history)
            return copy.deepcopy(after)

    def run_stage(self, run_id: str) -> tuple[str, str] | None:
        with self._lock:
            found = self._runs.get(run_id)
            return (found.info.experiment_id, found.info.lifecycle_stage) if found else None

    def run_stages(self, experiment_id: str) -> dict[str, str]:
        with self._lock:
            return {
                r.run_id: r.info.lifecycle_stage for r in self._runs.values() if r.info.experiment_id == experiment_id
            }

    def set_run_stages(self, experiment_id: str, run_ids: list[str], stage: str) -> None:
        with self._lock:
            for run_id in run_ids:
                self._runs[run_id].info.lifecycle_stage = stage
                self._changed[run_id] = self.clock()

    def append_metric_history(self, run_id: str, metrics: Iterable[Metric]) -> None:
        with self._lock:
            for m in metrics:
                self._history.setdefault((run_id, m.key), set()).add((m.step, m.timestamp, m.value))

    def metric_points(self, run_id: str, key: str) -> list[MetricPoint]:
        with self._lock:
            return list(self._history.get((run_id, key), set()))

    def add_dataset_inputs(self, run_id: str, inputs: list[DatasetInput]) -> None:
        """Dataset bodies live on the run itself here (``RunService.log_inputs`` links them); only the summaries are
        kept apart."""
        with self._lock:
            experiment_id = self._runs[run_id].info.experiment_id
            known = self._summaries.setdefault(experiment_id, [])
            for d in inputs:
                summary = DatasetSummary(experiment_id, d.dataset.name, d.dataset.digest, d.context or None)
                if summary not in known:
                    known.append(summary)

    def dataset_summaries(self, experiment_id: str) -> list[DatasetSummary]:
        with self._lock:
            return list(self._summaries.get(experiment_id, []))

    def fill_dataset_inputs(self, runs: list[Run]) -> None:
        """Runs read here already carry their full dataset inputs."""


class InMemoryLoggedModelStore:
    """``LoggedModelStore`` in a dict."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._models: dict[str, LoggedModel] = {}

    def insert_logged_model(self, model: LoggedModel) -> None:
        with self._lock:
            self._models[model.model_id] = copy.deepcopy(model)

    def get_logged_model(self, model_id: str) -> LoggedModel | None:
        with self._lock:
            found = self._models.get(model_id)
            return copy.deepcopy(found) if found else None

    def list_logged_models(self, experiment_id: str) -> list[LoggedModel]:
        with self._lock:
            return [copy.deepcopy(m) for m in self._models.values() if m.experiment_id == experiment_id]

    def modify_logged_model(self, model_id: str, change: LoggedModelChange) -> LoggedModel:
        with self._lock:
            current = self._models.get(model_id)
            if current is None:
                raise ResourceDoesNotExist(messages.logged_model_not_found(model_id))
            after = copy.deepcopy(current)
            change(after)
            self._models[model_id] = after
            return copy.deepcopy(after)


class InMemoryWebhookStore:
    """``WebhookStore`` in dicts (secrets kept as given: there is no KMS here)."""

    def __init__(self) -> None:
        self._webhooks: dict[str, Webhook] = {}
        self._secrets: dict[str, str | None] = {}
        self._log: dict[str, list[WebhookDelivery]] = {}
        self._delivered: set[tuple[str, str]] = set()

    def put_webhook(self, webhook: Webhook, secret: str | None, *, keep_secret: bool = False) -> None:
        self._webhooks[webhook.webhook_id] = copy.deepcopy(webhook)
        if not keep_secret:
            self._secrets[webhook.webhook_id] = secret

    def get_webhook(self, webhook_id: str) -> Webhook | None:
        found = self._webhooks.get(webhook_id)
        return copy.deepcopy(found) if found else None

    def get_secret(self, webhook_id: str) -> str | None:
        return self._secrets.get(webhook_id)

    def list_webhooks(self) -> list[Webhook]:
        return [copy.deepcopy(w) for w in self._webhooks.values()]

    def delete_webhook(self, webhook_id: str) -> bool:
        return self._webhooks.pop(webhook_id, None) is not None

    def record_delivery(self, delivery: WebhookDelivery) -> None:
        self._log.setdefault(delivery.webhook_id, []).append(delivery)
        if delivery.success:
            self._delivered.add((delivery.webhook_id, delivery.event_id))

    def was_delivered(self, webhook_id: str, event_id: str) -> bool:
        return (webhook_id, event_id) in self._delivered

    def deliveries(self, webhook_id: str, limit: int) -> list[WebhookDelivery]:
        return list(reversed(self._log.get(webhook_id, [])))[:limit]


class InMemoryRunProjectionStore:
    """Search projections kept as given (columns copied on the way in and out)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._current: dict[str, tuple[ProjectionManifest, Columns]] = {}

    def manifest(self, experiment_id: str) -> ProjectionManifest | None:
        with self._lock:
            found = self._current.get(experiment_id)
            return found[0] if found else None

    def read_columns(self, manifest: ProjectionManifest, names: Collection[str]) -> Columns | None:
        with self._lock:
            current, columns = self._current.get(manifest.experiment_id, (None, {}))
            if current is None or current.version != manifest.version:
                return None
            return {name: list(columns[name]) for name in names if name in columns}

    def write(self, experiment_id: str, columns: Columns, watermark: int, previous: ProjectionManifest | None) -> bool:
        with self._lock:
            if self.manifest(experiment_id) != previous:
                return False
            version = previous.version + 1 if previous else 1
            manifest = ProjectionManifest(
                experiment_id, version, watermark, len(columns.get("run_id", ())), tuple(sorted(columns)), f"v{version}"
            )
            self._current[experiment_id] = (manifest, {name: list(values) for name, values in columns.items()})
            return True


class InMemoryProjectRunStore:
    """``ProjectRunStore`` in a dict, with the same revision checks as DynamoDB's."""

    def __init__(self) -> None:
        self.runs: dict[str, ProjectRun] = {}

    def create(self, run: ProjectRun) -> bool:
        if run.run_id in self.runs:
            return False
        self.runs[run.run_id] = copy.deepcopy(run)
        return True

    def get(self, run_id: str) -> ProjectRun | None:
        found = self.runs.get(run_id)
        return copy.deepcopy(found) if found else None

    def save(self, run: ProjectRun) -> bool:
        current = self.runs.get(run.run_id)
        if current is None or current.revision != run.revision:
            return False
        stored = copy.deepcopy(run)
        stored.revision += 1
        self.runs[run.run_id] = stored
        return True

    def active(self, limit: int) -> list[ProjectRun]:
        waiting = sorted((r for r in self.runs.values() if not r.settled), key=lambda r: (r.submitted_at, r.run_id))
        return [copy.deepcopy(r) for r in waiting[:limit]]


class InMemoryDeploymentStore:
    """``DeploymentStore`` in dicts, with the same revision checks as DynamoDB's."""

    def __init__(self) -> None:
        self.deployments: dict[str, Deployment] = {}
        self.entries: dict[str, list[HistoryEntry]] = {}

    def create(self, deployment: Deployment) -> bool:
        if deployment.name in self.deployments:
            return False
        self.deployments[deployment.name] = deployment
        return True

    def get(self, name: str) -> Deployment | None:
        return self.deployments.get(name)

    def save(self, deployment: Deployment) -> bool:
        current = self.deployments.get(deployment.name)
        if current is None or current.revision != deployment.revision:
            return False
        self.deployments[deployment.name] = replace(deployment, revision=deployment.revision + 1)
        return True

    def list(self, max_results: int, page_token: str | None) -> tuple[list[Deployment], str | None]:
        names = sorted(n for n in self.deployments if page_token is None or n > page_token)
        page = [self.deployments[n] for n in names[:max_results]]
        return page, page[-1].name if len(names) > max_results else None

    def delete(self, name: str) -> None:
        self.deployments.pop(name, None)
        self.entries.pop(name, None)

    def add_history(self, name: str, entry: HistoryEntry) -> None:
        self.entries.setdefault(name, []).append(entry)

    def history(self, name: str, max_results: int) -> list[HistoryEntry]:
        return list(reversed(self.entries.get(name, [])))[:max_results]


class InMemoryIssueStore:
    """``IssueStore`` in a dict."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._issues: dict[str, Issue] = {}

    def insert_issue(self, issue: Issue) -> None:
        with self._lock:
            self._issues[issue.issue_id] = copy.deepcopy(issue)

    def get_issue(self, issue_id: str) -> Issue | None:
        with self._lock:
            found = self._issues.get(issue_id)
            return copy.deepcopy(found) if found else None

    def list_issues(self, experiment_id: str) -> list[Issue]:
        with self._lock:
            return [copy.deepcopy(i) for i in self._issues.values() if i.experiment_id == experiment_id]

    def modify_issue(self, issue_id: str, change: IssueChange) -> Issue:
        with self._lock:
            current = self._issues.get(issue_id)
            if current is None:
                raise ResourceDoesNotExist(messages.issue_not_found(issue_id))
            after = copy.deepcopy(current)
            change(after)
            self._issues[issue_id] = after
            return copy.deepcopy(after)


class InMemoryDatasetStore:
    """``DatasetStore`` in dicts (record bodies of any size stay in memory)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._datasets: dict[str, EvaluationDataset] = {}
        self._records: dict[str, dict[str, DatasetRecord]] = {}

    def insert_dataset(self, dataset: EvaluationDataset) -> None:
        with self._lock:
            self._datasets[dataset.dataset_id] = copy.deepcopy(dataset)
            self._records[dataset.dataset_id] = {}

    def get_dataset(self, dataset_id: str) -> EvaluationDataset | None:
        with self._lock:
            found = self._datasets.get(dataset_id)
            return copy.deepcopy(found) if found else None

    def get_datasets(self, dataset_ids: Collection[str]) -> list[EvaluationDataset]:
        with self._lock:
            return [copy.deepcopy(self._datasets[i]) for i in dataset_ids if i in self._datasets]

    def list_dataset_ids(self, experiment_id: str | None) -> list[str]:
        with self._lock:
            datasets = self._datasets.values()
            return [d.dataset_id for d in datasets if experiment_id is None or experiment_id in d.experiment_ids]

    def modify_dataset(self, dataset_id: str, change: DatasetChange) -> EvaluationDataset | None:
        with self._lock:
            current = self._datasets.get(dataset_id)
            if current is None:
                return None
            after = copy.deepcopy(current)
            change(after)
            self._datasets[dataset_id] = after
            return copy.deepcopy(after)

    def delete_dataset(self, dataset: EvaluationDataset) -> None:
        with self._lock:
            self._datasets.pop(dataset.dataset_id, None)
            self._records.pop(dataset.dataset_id, None)

    def get_records(self, dataset_id: str, keys: Collection[str]) -> dict[str, DatasetRecord]:
        with self._lock:
            records = self._records.get(dataset_id, {})
            return {k: copy.deepcopy(records[k]) for k in keys if k in records}

    def put_records(self, records: Mapping[str, DatasetRecord], new: Collection[str]) -> None:
        with self._lock:
            for key, record in records.items():
                self._records.setdefault(record.dataset_id, {})[key] = copy.deepcopy(record)

    def list_records(
        self, dataset_id: str, after: tuple[int, str] | None, limit: int, max_bytes: int
    ) -> tuple[list[DatasetRecord], bool]:
        with self._lock:
            ordered = sorted(
                self._records.get(dataset_id, {}).values(), key=lambda r: (r.created_time, r.dataset_record_id)
            )
        if after is not None:
            ordered = [r for r in ordered if (r.created_time, r.dataset_record_id) > after]
        return copy.deepcopy(ordered[:limit]), len(ordered) > limit

    def delete_records(self, dataset_id: str, keys: Collection[str]) -> int:
        with self._lock:
            records = self._records.get(dataset_id, {})
            return sum(records.pop(k, None) is not None for k in keys)


class InMemoryScorerStore:
    """``ScorerStore`` in dicts."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._ids: dict[tuple[str, str], str] = {}
        self._versions: dict[tuple[str, str, int], ScorerVersion] = {}
        self._configs: dict[str, OnlineScoringConfig] = {}

    def get_scorer_id(self, experiment_id: str, name: str) -> str | None:
        with self._lock:
            return self._ids.get((experiment_id, name))

    def insert_scorer_version(self, version: ScorerVersion, *, new_scorer: bool) -> None:
        key = (version.experiment_id, version.scorer_name)
        with self._lock:
            taken = (*key, version.scorer_version) in self._versions
            if taken or (key in self._ids) == new_scorer:
                raise Conflict(f"Scorer '{version.scorer_name}' changed while registering; retry.")
            self._ids[key] = version.scorer_id
            self._versions[(*key, version.scorer_version)] = copy.deepcopy(version)

    def list_latest_scorer_versions(self, experiment_id: str) -> list[ScorerVersion]:
        with self._lock:
            latest: dict[str, ScorerVersion] = {}
            for (exp, name, number), version in self._versions.items():
                if exp == experiment_id and (name not in latest or latest[name].scorer_version < number):
                    latest[name] = version
            return [copy.deepcopy(v) for v in latest.values()]

    def list_scorer_versions(self, experiment_id: str, name: str) -> list[ScorerVersion]:
        with self._lock:
            found = [v for (e, n, _), v in self._versions.items() if (e, n) == (experiment_id, name)]
            return [copy.deepcopy(v) for v in sorted(found, key=lambda v: v.scorer_version)]

    def get_scorer_version(self, experiment_id: str, name: str, version: int) -> ScorerVersion | None:
        with self._lock:
            found = self._versions.get((experiment_id, name, version))
            return copy.deepcopy(found) if found else None

    def delete_scorer_version(self, experiment_id: str, name: str, version: int) -> None:
        with self._lock:
            self._versions.pop((experiment_id, name, version), None)

    def delete_scorer(self, experiment_id: str, name: str) -> None:
        with self._lock:
            for key in [k for k in self._versions if k[:2] == (experiment_id, name)]:
                del self._versions[key]
            scorer_id = self._ids.pop((experiment_id, name), None)
            self._configs.pop(scorer_id or "", None)

    def put_online_scoring_config(self, config: OnlineScoringConfig) -> None:
        with self._lock:
            self._configs[config.scorer_id] = copy.deepcopy(config)

    def get_online_scoring_configs(self, scorer_ids: list[str]) -> list[OnlineScoringConfig]:
        with self._lock:
            return [copy.deepcopy(self._configs[s]) for s in scorer_ids if s in self._configs]


class InMemoryTraceStore:
    """``TraceStore`` in dicts; records past their ``expires_at`` by ``clock`` (epoch seconds) are gone, as the
    DynamoDB store's are. Run links are kept with the expiry they were written with (``link_expiry``), not dropped."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.RLock()
        self._records: dict[str, TraceRecord] = {}
        self._runs: dict[str, list[str]] = {}
        self.link_expiry: dict[tuple[str, str], int | None] = {}
        self._clock = clock

    def _live(self, trace_id: str) -> TraceRecord | None:
        found = self._records.get(trace_id)
        return None if found is None or expired(found.expires_at, self._clock()) else found

    def get(self, trace_id: str) -> TraceRecord | None:
        with self._lock:
            found = self._live(trace_id)
            return copy.deepcopy(found) if found else None

    def get_many(self, trace_ids: list[str]) -> list[TraceRecord]:
        with self._lock:
            found = (self._live(t) for t in dict.fromkeys(trace_ids))
            return [copy.deepcopy(r) for r in found if r is not None]

    def put(self, record: TraceRecord, *, previous: TraceRecord | None) -> bool:
        with self._lock:
            current = self._live(record.trace_id) if previous is None else self._records.get(record.trace_id)
            expected = previous.revision if previous else None
            if (current.revision if current else None) != expected:
                return False
            record.revision = (expected or 0) + 1
            self._records[record.trace_id] = copy.deepcopy(record)
            return True

    def put_many(self, changes: list[tuple[TraceRecord, TraceRecord | None]]) -> list[bool]:
        return [self.put(record, previous=previous) for record, previous in changes]

    def delete(self, records: list[TraceRecord]) -> None:
        with self._lock:
            for record in records:
                self._records.pop(record.trace_id, None)

    def page(
        self, experiment_id: str, *, descending: bool, start_after: str | None, limit: int
    ) -> tuple[list[TraceRecord], str | None]:
        now = self._clock()
        with self._lock:
            found = sorted(
                (
                    r
                    for r in self._records.values()
                    if r.experiment_id == experiment_id and not expired(r.expires_at, now)
                ),
                key=lambda r: r.sort_key,
                reverse=descending,
            )
        if start_after is not None:
            found = [r for r in found if (r.sort_key < start_after if descending else r.sort_key > start_after)]
        page = [copy.deepcopy(r) for r in found[:limit]]
        return page, (page[-1].sort_key if len(found) > limit else None)

    def traces_of_run(self, run_id: str) -> list[str]:
        with self._lock:
            return list(self._runs.get(run_id, []))

    def link_run(
        self, run_id: str, trace_ids: list[str], *, expires_at: Mapping[str, int | None] | None = None
    ) -> None:
        with self._lock:
            linked = self._runs.setdefault(run_id, [])
            linked.extend(t for t in trace_ids if t not in linked)
            for trace_id in trace_ids:
                self.link_expiry[(run_id, trace_id)] = (expires_at or {}).get(trace_id)


class InMemorySpanStore:
    """``SpanStore`` in a dict of batches; ``retention`` says what each batch or stored answer was written with
    (nothing expires); ``answers`` holds the stored answers, their URLs are ``memory://<experiment>/<trace>/<name>``."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.retention: dict[tuple[str, str, str], int] = {}
        self._batches: dict[tuple[str, str], dict[str, list[dict]]] = {}
        self.answers: dict[tuple[str, str, str], bytes] = {}

    def put_batch(
        self, experiment_id: str, trace_id: str, batch_id: str, spans: list[dict], *, retention_days: int = 0
    ) -> None:
        with self._lock:
            self._batches.setdefault((experiment_id, trace_id), {})[batch_id] = copy.deepcopy(spans)
            self.retention[(experiment_id, trace_id, batch_id)] = retention_days

    def read(self, experiment_id: str, trace_id: str) -> list[dict]:
        with self._lock:
            batches = self._batches.get((experiment_id, trace_id), {})
            by_id = {span["span_id"]: span for batch_id in sorted(batches) for span in batches[batch_id]}
            return copy.deepcopy(list(by_id.values()))

    def delete(self, experiment_id: str, trace_id: str) -> None:
        with self._lock:
            self._batches.pop((experiment_id, trace_id), None)
            for key in [k for k in self.answers if k[:2] == (experiment_id, trace_id)]:
                del self.answers[key]

    def answer_url(self, experiment_id: str, trace_id: str, name: str) -> str | None:
        with self._lock:
            found = (experiment_id, trace_id, name) in self.answers
        return f"memory://{experiment_id}/{trace_id}/{name}" if found else None

    def put_answer(self, experiment_id: str, trace_id: str, name: str, body: bytes, *, retention_days: int = 0) -> str:
        with self._lock:
            self.answers[(experiment_id, trace_id, name)] = body
            self.retention[(experiment_id, trace_id, name)] = retention_days
        return f"memory://{experiment_id}/{trace_id}/{name}"


class InMemorySchemaState:
    """``SchemaStateStore`` in memory: the state moves only from the revision it was read at."""

    def __init__(self, state: SchemaState | None = None) -> None:
        self.state = state or SchemaState(0, None, 0)
        self._lock = threading.Lock()

    def read(self) -> SchemaState:
        return self.state

    def advance(self, seen: SchemaState, after: SchemaState) -> bool:
        with self._lock:
            if self.state.revision != seen.revision:
                return False
            self.state = replace(after, revision=seen.revision + 1)
            return True
