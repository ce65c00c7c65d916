"""``/mlflow/datasets*`` (API 3.0): MLflow 3 GenAI evaluation datasets and their records."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from stratus.api import schemas, serialize
from stratus.api.request import parse
from stratus.domain.services.datasets import EvaluationDatasetService


def build(service: EvaluationDatasetService) -> Router:
    router = Router()

    @router.post("/datasets/create")
    def create() -> dict[str, Any]:
        req = parse(router, schemas.CreateDataset)
        dataset = service.create(req.name, req.experiment_ids, req.tags)
        return {"dataset": serialize.evaluation_dataset(dataset, with_experiment_ids=True)}

    @router.route("/datasets/search", method=["GET", "POST"])
    def search() -> dict[str, Any]:
        req = parse(router, schemas.SearchEvaluationDatasets)
        found, token = service.search(
            req.experiment_ids, req.filter_string, req.max_results, req.order_by, req.page_token
        )
        return serialize.page("datasets", [serialize.evaluation_dataset(d) for d in found], token)

    @router.get("/datasets/<dataset_id>")
    def get(dataset_id: str) -> dict[str, Any]:
        return {"dataset": serialize.evaluation_dataset(service.get(dataset_id))}

    @router.delete("/datasets/<dataset_id>")
    def delete(dataset_id: str) -> dict[str, Any]:
        service.delete(dataset_id)
        return {}

    @router.patch("/datasets/<dataset_id>/tags")
    def set_tags(dataset_id: str) -> dict[str, Any]:
        service.set_tags(dataset_id, parse(router, schemas.SetDatasetTags).tags)
        return {}

    @router.delete("/datasets/<dataset_id>/tags/<key>")
    def delete_tag(dataset_id: str, key: str) -> dict[str, Any]:
        service.delete_tag(dataset_id, key)
        return {}

    @router.get("/datasets/<dataset_id>/experiment-ids")
    def experiment_ids(dataset_id: str) -> dict[str, Any]:
        ids = service.experiment_ids(dataset_id)
        return {"experiment_ids": ids} if ids else {}

    @router.post("/datasets/<dataset_id>/add-experiments")
    def add_experiments(dataset_id: str) -> dict[str, Any]:
        req = parse(router, schemas.DatasetExperiments)
        return {"dataset": serialize.evaluation_dataset(service.add_to_experiments(dataset_id, req.experiment_ids))}

    @router.post("/datasets/<dataset_id>/remove-experiments")
    def remove_experiments(dataset_id: str) -> dict[str, Any]:
        req = parse(router, schemas.DatasetExperiments)
        dataset = service.remove_from_experiments(dataset_id, req.experiment_ids)
        return {"dataset": serialize.evaluation_dataset(dataset)}

    @router.post("/datasets/<dataset_id>/records")
    def upsert_records(dataset_id: str) -> dict[str, Any]:
        inserted, updated = service.upsert_records(dataset_id, parse(router, schemas.UpsertDatasetRecords).records)
        return {"inserted_count": inserted, "updated_count": updated}

    @router.get("/datasets/<dataset_id>/records")
    def get_records(dataset_id: str) -> dict[str, Any]:
        req = parse(router, schemas.GetDatasetRecords)
        records, token = service.records(dataset_id, req.max_results, req.page_token)
        out: dict[str, Any] = {"records": json.dumps(records)}
        return {**out, "next_page_token": token} if token else out

    @router.delete("/datasets/<dataset_id>/records")
    def delete_records(dataset_id: str) -> dict[str, Any]:
        deleted = service.delete_records(dataset_id, parse(router, schemas.DeleteDatasetRecords).dataset_record_ids)
        return {"deleted_count": deleted}

    return router
