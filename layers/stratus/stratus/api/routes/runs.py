"""``/runs/*``: MLflow's run endpoints (lifecycle, logging, inputs/outputs, search)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from stratus.api import schemas, serialize
from stratus.api.identity import authenticated_user
from stratus.api.request import parse
from stratus.domain.entities import Dataset, DatasetInput, Metric, ModelIO, ModelMetric, Run
from stratus.domain.promptlab import PromptlabRun
from stratus.domain.services import PromptlabService, RunService


def _metric(m: schemas.MetricIn) -> Metric:
    return Metric(m.key, m.value, m.timestamp, m.step)


def _model_metric(m: schemas.MetricIn) -> ModelMetric | None:
    """The point as a logged model's metric, when it names one."""
    if not m.model_id:
        return None
    return ModelMetric(m.key, m.value, m.timestamp, m.step, None, m.dataset_name, m.dataset_digest, m.model_id)


def _create(router: Router, service: RunService, req: schemas.CreateRun, caller_owns: bool, run_id: str | None) -> Run:
    """CreateRun, with the caller as the run's user when an authorizer guards the API (``caller_owns``)."""
    tags = {t.key: t.value for t in req.tags}
    caller = authenticated_user(router.current_event.raw_event) if caller_owns else None
    return service.create(
        req.experiment_id, req.user_id, req.start_time, tags, req.run_name, caller=caller, run_id=run_id
    )


def build_import(service: RunService, runs_belong_to_caller: bool = False) -> Router:
    """``/api/2.0/stratus/runs/import``: CreateRun keeping a copied run's id (docs/migration.md)."""
    router = Router()

    @router.post("/runs/import")
    def import_run() -> dict[str, Any]:
        req = parse(router, schemas.ImportRun)
        return {"run": serialize.run(_create(router, service, req, runs_belong_to_caller, req.run_id))}

    return router


def build(service: RunService, runs_belong_to_caller: bool = False) -> Router:
    """``runs_belong_to_caller``: an authorizer guards the API, so a new run's user is who it authenticated."""
    router = Router()

    @router.post("/runs/create")
    def create() -> dict[str, Any]:
        req = parse(router, schemas.CreateRun)
        return {"run": serialize.run(_create(router, service, req, runs_belong_to_caller, None))}

    @router.get("/runs/get")
    def get() -> dict[str, Any]:
        return {"run": serialize.run(service.get(parse(router, schemas.GetRun).run_id))}

    @router.post("/runs/update")
    def update() -> dict[str, Any]:
        req = parse(router, schemas.UpdateRun)
        info = service.update(req.run_id, req.status, req.end_time, req.run_name)
        return {"run_info": serialize.run_info(info)}

    @router.post("/runs/delete")
    def delete() -> dict[str, Any]:
        service.delete(parse(router, schemas.DeleteRun).run_id)
        return {}

    @router.post("/runs/restore")
    def restore() -> dict[str, Any]:
        service.restore(parse(router, schemas.DeleteRun).run_id)
        return {}

    @router.post("/runs/set-tag")
    def set_tag() -> dict[str, Any]:
        req = parse(router, schemas.SetTag)
        service.set_tag(req.run_id, req.key, req.value)
        return {}

    @router.post("/runs/delete-tag")
    def delete_tag() -> dict[str, Any]:
        req = parse(router, schemas.DeleteTag)
        service.delete_tag(req.run_id, req.key)
        return {}

    @router.post("/runs/log-metric")
    def log_metric() -> dict[str, Any]:
        req = parse(router, schemas.LogMetric)
        service.log_metric(req.run_id, _metric(req), _model_metric(req))
        return {}

    @router.post("/runs/log-parameter")
    def log_param() -> dict[str, Any]:
        req = parse(router, schemas.LogParam)
        service.log_param(req.run_id, req.key, req.value)
        return {}

    @router.post("/runs/log-batch")
    def log_batch() -> dict[str, Any]:
        req = parse(router, schemas.LogBatch)
        params = [(p.key, p.value) for p in req.params]
        tags = [(t.key, t.value) for t in req.tags]
        model_metrics = [mm for mm in map(_model_metric, req.metrics) if mm is not None]
        service.log_batch(req.run_id, [_metric(m) for m in req.metrics], params, tags, model_metrics=model_metrics)
        return {}

    @router.post("/runs/log-inputs")
    def log_inputs() -> dict[str, Any]:
        req = parse(router, schemas.LogInputs)
        datasets = [
            DatasetInput(
                Dataset(
                    d.dataset.name,
                    d.dataset.digest,
                    d.dataset.source_type,
                    d.dataset.source,
                    d.dataset.schema_,
                    d.dataset.profile,
                ),
                tuple((t.key, t.value) for t in d.tags),
            )
            for d in req.datasets
        ]
        service.log_inputs(req.run_id, datasets, [ModelIO(m.model_id) for m in req.models])
        return {}

    @router.post("/runs/outputs")
    def log_outputs() -> dict[str, Any]:
        req = parse(router, schemas.LogOutputs)
        service.log_outputs(req.run_id, [ModelIO(m.model_id, m.step) for m in req.models])
        return {}

    @router.post("/runs/search")
    def search() -> dict[str, Any]:
        req = parse(router, schemas.SearchRuns)
        runs, token = service.search(
            req.experiment_ids, req.filter, req.run_view_type, req.max_results, req.order_by, req.page_token
        )
        return serialize.page("runs", [serialize.run(r) for r in runs], token)

    return router


def _promptlab_run(req: schemas.CreatePromptlabRun) -> PromptlabRun:
    def pairs(parameters: list[schemas.PromptlabParameter] | None) -> list[tuple[str, object]]:
        return [(p.key, p.value) for p in parameters or ()]

    return PromptlabRun(
        experiment_id=req.experiment_id,
        prompt_template=req.prompt_template,
        prompt_parameters=pairs(req.prompt_parameters),
        model_route=req.model_route,
        model_input=req.model_input,
        mlflow_version=req.mlflow_version,
        run_name=req.run_name,
        tags={t.key: t.value for t in req.tags or ()},
        model_parameters=pairs(req.model_parameters),
        model_output=req.model_output,
        model_output_parameters=pairs(req.model_output_parameters),
        user_id=req.user_id,
        start_time=req.start_time,
    )


def build_ui(service: PromptlabService, runs_belong_to_caller: bool = False) -> Router:
    """The run routes only the web UI calls, served under ``/ajax-api/2.0/mlflow`` only (as the reference)."""
    router = Router()

    @router.post("/runs/create-promptlab-run")
    def create_promptlab_run() -> dict[str, Any]:
        req = parse(router, schemas.CreatePromptlabRun)
        caller = authenticated_user(router.current_event.raw_event) if runs_belong_to_caller else None
        return {"run": serialize.run(service.create_run(_promptlab_run(req), caller=caller))}

    return router
