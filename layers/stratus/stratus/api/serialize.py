"""Domain entities to MLflow's proto3 JSON (snake_case, defaults and empty lists omitted, int64 as numbers,
non-finite doubles as "NaN"/"Infinity"/"-Infinity" as protobuf's json_format writes them)."""

from __future__ import annotations

import json
import math
from typing import Any

from stratus.domain.datasets import EvaluationDataset
from stratus.domain.deployments import Deployment, HistoryEntry
from stratus.domain.entities import (
    ArtifactEntry,
    DatasetInput,
    DatasetSummary,
    Experiment,
    LoggedModel,
    Metric,
    ModelMetric,
    ModelVersion,
    PromotionEvent,
    RegisteredModel,
    Run,
    RunInfo,
    Webhook,
    WebhookDelivery,
)
from stratus.domain.issues import Issue
from stratus.domain.projects import ProjectRun
from stratus.domain.scorers import OnlineScoringConfig, ScorerVersion
from stratus.domain.services.projects import PackageUpload
from stratus.domain.traces import MetricDataPoint


def _double(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _key_values(mapping: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in mapping.items()]


def _compact(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v not in (None, "", [], {})}


def page(key: str, items: list[dict[str, Any]], next_page_token: str | None) -> dict[str, Any]:
    """A paged answer: ``{key: [...], "next_page_token": ...}``, each part omitted when empty, as proto JSON does."""
    out: dict[str, Any] = {}
    if items:
        out[key] = items
    if next_page_token:
        out["next_page_token"] = next_page_token
    return out


def experiment(e: Experiment) -> dict[str, Any]:
    return _compact(
        {
            "experiment_id": e.experiment_id,
            "name": e.name,
            "artifact_location": e.artifact_location,
            "lifecycle_stage": e.lifecycle_stage,
            "last_update_time": e.last_update_time,
            "creation_time": e.creation_time,
            "tags": _key_values(e.tags),
        }
    )


def file_info(entry: ArtifactEntry) -> dict[str, Any]:
    """MLflow's FileInfo: folders carry no size, and neither does an empty file (proto's default 0 is left out)."""
    out: dict[str, Any] = {"path": entry.name, "is_dir": entry.is_dir}
    if not entry.is_dir and entry.file_size:
        out["file_size"] = entry.file_size
    return out


def metric(m: Metric, run_id: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"key": m.key, "value": _double(m.value), "timestamp": m.timestamp, "step": m.step}
    if run_id is not None:
        out["run_id"] = run_id
    return out


def run_info(i: RunInfo) -> dict[str, Any]:
    return _compact(
        {
            "run_id": i.run_id,
            "run_uuid": i.run_id,
            "run_name": i.run_name,
            "experiment_id": i.experiment_id,
            "user_id": i.user_id,
            "status": i.status,
            "start_time": i.start_time,
            "end_time": i.end_time,
            "artifact_uri": i.artifact_uri,
            "lifecycle_stage": i.lifecycle_stage,
        }
    )


def _dataset_input(d: DatasetInput) -> dict[str, Any]:
    ds = d.dataset
    dataset = _compact(
        {
            "name": ds.name,
            "digest": ds.digest,
            "source_type": ds.source_type,
            "source": ds.source,
            "schema": ds.schema,
            "profile": ds.profile,
        }
    )
    return _compact({"tags": [{"key": k, "value": v} for k, v in d.tags], "dataset": dataset})


def dataset_summary(s: DatasetSummary) -> dict[str, Any]:
    """``SearchDatasets.Response.dataset_summaries``: an absent or empty context is left out."""
    return _compact({"experiment_id": s.experiment_id, "name": s.name, "digest": s.digest, "context": s.context})


def run(r: Run) -> dict[str, Any]:
    data = _compact(
        {
            "metrics": [metric(m) for m in r.metrics.values()],
            "params": _key_values(r.params),
            "tags": _key_values(r.tags),
        }
    )
    inputs = _compact(
        {
            "dataset_inputs": [_dataset_input(d) for d in r.dataset_inputs],
            "model_inputs": [{"model_id": m.model_id} for m in r.model_inputs],
        }
    )
    outputs = _compact({"model_outputs": [_compact({"model_id": m.model_id, "step": m.step}) for m in r.model_outputs]})
    return {"info": run_info(r.info), "data": data, "inputs": inputs, "outputs": outputs}


def model_metric(m: ModelMetric) -> dict[str, Any]:
    return _compact(
        {
            "key": m.key,
            "value": _double(m.value),
            "timestamp": m.timestamp,
            "step": m.step,
            "model_id": m.model_id,
            "dataset_name": m.dataset_name,
            "dataset_digest": m.dataset_digest,
            "run_id": m.run_id,
        }
    ) | {"value": _double(m.value)}


def logged_model(m: LoggedModel) -> dict[str, Any]:
    """``LoggedModel`` (info + data), as the reference writes it."""
    info = _compact(
        {
            "model_id": m.model_id,
            "experiment_id": m.experiment_id,
            "name": m.name,
            "creation_timestamp_ms": m.creation_timestamp_ms,
            "last_updated_timestamp_ms": m.last_updated_timestamp_ms,
            "artifact_uri": m.artifact_uri,
            "status": m.status,
            "model_type": m.model_type,
            "source_run_id": m.source_run_id,
            "status_message": m.status_message,
            "tags": _key_values(m.tags),
        }
    )
    data = _compact({"params": _key_values(m.params), "metrics": [model_metric(x) for x in m.metrics]})
    return {"info": info, "data": data}


def model_version(v: ModelVersion) -> dict[str, Any]:
    return _compact(
        {
            "name": v.name,
            "version": str(v.version),
            "creation_timestamp": v.creation_timestamp,
            "last_updated_timestamp": v.last_updated_timestamp,
            "user_id": v.user_id,
            "current_stage": v.current_stage,
            "description": v.description,
            "source": v.source,
            "run_id": v.run_id,
            "status": v.status,
            "status_message": v.status_message,
            "tags": _key_values(v.tags),
            "run_link": v.run_link,
            "aliases": list(v.aliases),
        }
    )


def registered_model(m: RegisteredModel) -> dict[str, Any]:
    return _compact(
        {
            "name": m.name,
            "creation_timestamp": m.creation_timestamp,
            "last_updated_timestamp": m.last_updated_timestamp,
            "description": m.description,
            "latest_versions": [model_version(v) for v in m.latest_versions],
            "tags": _key_values(m.tags),
            "aliases": [{"alias": a, "version": str(n)} for a, n in sorted(m.aliases.items())],
        }
    )


def promotion_event(e: PromotionEvent) -> dict[str, Any]:
    """One entry of ``GET /api/2.0/stratus/registered-models/history`` (docs/registry.md)."""
    return {
        "event_id": e.event_id,
        "name": e.model_name,
        "version": str(e.version),
        "kind": e.kind,
        "alias": e.alias,
        "from": e.before,
        "to": e.after,
        "actor": e.actor,
        "timestamp": e.timestamp,
    }


def webhook(w: Webhook) -> dict[str, Any]:
    """MLflow's Webhook message; enums by their proto names, the secret never."""
    return _compact(
        {
            "webhook_id": w.webhook_id,
            "name": w.name,
            "description": w.description,
            "url": w.url,
            "events": [{"entity": entity.upper(), "action": action.upper()} for entity, action in w.events],
            "status": w.status,
            "creation_timestamp": w.creation_timestamp,
            "last_updated_timestamp": w.last_updated_timestamp,
        }
    )


def webhook_delivery(d: WebhookDelivery) -> dict[str, Any]:
    return {
        "event_id": d.event_id,
        "event": d.event_name,
        "timestamp": d.timestamp,
        "success": d.success,
        "response_status": d.response_status,
        "error_message": d.error_message,
    }


def project_run(r: ProjectRun) -> dict[str, Any]:
    """A project run as ``/api/2.0/stratus/projects/runs/*`` answers it (docs/projects.md); unset fields are null."""
    return {
        "run_id": r.run_id,
        "experiment_id": r.experiment_id,
        "state": r.state,
        "run_status": r.run_status,
        "entry_point": r.entry_point,
        "parameters": r.parameters,
        "env_manager": r.env_manager,
        "resources": r.resources.as_dict(),
        "docker_image": r.docker_image,
        "job_id": r.job_id,
        "package_uri": r.package_uri,
        "user": r.user,
        "submitted_at": r.submitted_at,
        "started_at": r.started_at,
        "ended_at": r.ended_at,
        "exit_code": r.exit_code,
        "end_reason": r.end_reason,
        "log_stream": r.log_stream,
    }


def deployment(d: Deployment, endpoint_url: str) -> dict[str, Any]:
    """A deployment as ``/api/2.0/stratus/deployments/*`` answers it (docs/deployments.md): what serves now at the
    top level, the rollout under way and how the last one ended; fields that do not apply are left out."""
    answer: dict[str, Any] = {
        "name": d.name,
        "flavor": d.flavor,
        "model_uri": d.model_uri,
        "config": d.config.as_dict(),
        "state": d.state,
        "message": d.message,
        "endpoint_url": endpoint_url,
        "created_at": d.created_at,
        "updated_at": d.updated_at,
    }
    if d.creator:
        answer["creator"] = d.creator
    if d.follows:
        answer["follows"] = {"model_name": d.follows[0], "alias": d.follows[1]}
    if d.served:
        served = d.served
        answer.update(
            model_name=served.model_name,
            model_version=served.model_version,
            run_id=served.run_id,
            model_id=served.model_id,
            function_version=served.function_version,
            serving_since=served.since,
        )
    if d.rollout:
        r = d.rollout
        answer["rollout"] = {
            "id": r.id,
            "step": r.step,
            "reason": r.reason,
            "model_name": r.target.model_name,
            "model_version": r.target.model_version,
            "run_id": r.target.run_id,
            "started_at": r.started_at,
        }
    if d.last_rollout:
        answer["last_rollout"] = dict(vars(d.last_rollout))
    return {k: v for k, v in answer.items() if v is not None}


def deployment_history(entry: HistoryEntry) -> dict[str, Any]:
    return {k: v for k, v in vars(entry).items() if v is not None}


def package_upload(p: PackageUpload) -> dict[str, Any]:
    """One presigned PUT (``upload_url``, ``upload_headers``) or a multipart upload (``upload_id``, ``part_size``,
    ``part_urls``)."""
    if p.upload_url is not None:
        return {
            "package_id": p.package_id,
            "package_uri": p.package_uri,
            "upload_url": p.upload_url,
            "upload_headers": p.upload_headers,
        }
    return {
        "package_id": p.package_id,
        "package_uri": p.package_uri,
        "upload_id": p.upload_id,
        "part_size": p.part_size,
        "part_urls": p.part_urls,
    }


def issue(i: Issue) -> dict[str, Any]:
    """``Issue`` (issues.proto), as the reference writes it; ``trace_count`` only when a search asked for it."""
    out = _compact(
        {
            "issue_id": i.issue_id,
            "experiment_id": i.experiment_id,
            "name": i.name,
            "description": i.description,
            "status": i.status,
            "severity": i.severity,
            "root_causes": list(i.root_causes),
            "source_run_id": i.source_run_id,
            "created_timestamp": i.created_timestamp,
            "last_updated_timestamp": i.last_updated_timestamp,
            "created_by": i.created_by,
            "categories": list(i.categories),
        }
    )
    if i.trace_count is not None:
        out["trace_count"] = i.trace_count
    return out


def evaluation_dataset(d: EvaluationDataset, *, with_experiment_ids: bool = False) -> dict[str, Any]:
    """``Dataset`` (datasets.proto): tags, schema and profile as JSON text; the experiment ids only in the answer
    to ``create`` (the reference's other answers leave them to ``experiment-ids``)."""
    out = _compact(
        {
            "dataset_id": d.dataset_id,
            "name": d.name,
            "tags": json.dumps(d.tags),
            "schema": d.schema,
            "profile": d.profile,
            "digest": d.digest,
            "created_time": d.created_time,
            "last_update_time": d.last_update_time,
            "created_by": d.created_by,
            "last_updated_by": d.last_updated_by,
        }
    )
    if with_experiment_ids and d.experiment_ids:
        out["experiment_ids"] = list(d.experiment_ids)
    return out


def issue_page(issues: list[Issue], next_page_token: str | None) -> dict[str, Any]:
    """``SearchIssues.Response``: unlike other searches the reference always sets ``next_page_token``, so an
    empty one is written as ``""``."""
    out: dict[str, Any] = {"issues": [issue(i) for i in issues]} if issues else {}
    out["next_page_token"] = next_page_token or ""
    return out


def scorer(v: ScorerVersion) -> dict[str, Any]:
    """``Scorer`` (service.proto), whose ``experiment_id`` is an int32."""
    return {
        "experiment_id": int(v.experiment_id),
        "scorer_name": v.scorer_name,
        "scorer_version": v.scorer_version,
        "serialized_scorer": v.serialized_scorer,
        "creation_time": v.creation_time,
        "scorer_id": v.scorer_id,
    }


def scorer_list(versions: list[ScorerVersion]) -> dict[str, Any]:
    return {"scorers": [scorer(v) for v in versions]} if versions else {}


def registered_scorer(v: ScorerVersion) -> dict[str, Any]:
    """``RegisterScorer.Response``: other field names than ``Scorer``, and a string ``experiment_id``."""
    return {
        "version": v.scorer_version,
        "scorer_id": v.scorer_id,
        "experiment_id": v.experiment_id,
        "name": v.scorer_name,
        "serialized_scorer": v.serialized_scorer,
        "creation_time": v.creation_time,
    }


def online_scoring_config(c: OnlineScoringConfig) -> dict[str, Any]:
    """The reference's ``OnlineScoringConfig.to_dict`` (no proto message): ``filter_string`` only when set."""
    out: dict[str, Any] = {
        "online_scoring_config_id": c.online_scoring_config_id,
        "scorer_id": c.scorer_id,
        "sample_rate": c.sample_rate,
        "experiment_id": c.experiment_id,
    }
    if c.filter_string is not None:
        out["filter_string"] = c.filter_string
    return out


def metric_data_point(p: MetricDataPoint) -> dict[str, Any]:
    """``MetricDataPoint`` (service.proto): the group's dimension values, when grouped, and its aggregated values."""
    return _compact({"metric_name": p.metric_name, "dimensions": dict(p.dimensions), "values": dict(p.values)})
