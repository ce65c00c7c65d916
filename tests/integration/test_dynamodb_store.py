"""The DynamoDB store at MLflow's limits, under moto with AWS's batch and transaction rules enforced."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from stratus.domain.entities import Metric
from stratus.domain.services import ExperimentService, RunService
from stratus.store.dynamodb import DynamoTrackingStore, bind_table
from stratus_local.backends import create_tables
from stratus_local.template import parse_project

PROJECT_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture
def runs(aws: None) -> Iterator[RunService]:
    project = parse_project(PROJECT_DIR)
    create_tables(boto3.client("dynamodb"), project.tables, io.StringIO())
    bind_table(project.tables[0].name, os.environ["AWS_REGION"])
    store = DynamoTrackingStore()
    experiments = ExperimentService(store, "s3://bucket/mlartifacts")
    yield RunService(store, experiments)


def test_a_run_with_a_thousand_long_params_fits(runs: RunService) -> None:
    run_id = runs.create("0", "ana", 1, {}, None).run_id
    for batch in range(10):
        params = [(f"param_{batch}_{i}", f"{i:05d}" + "v" * 5995) for i in range(100)]
        runs.log_batch(run_id, [], params, [])
    run = runs.get(run_id)
    assert len(run.params) == 1000
    assert run.params["param_3_42"] == "00042" + "v" * 5995


def test_a_hundred_thousand_points_come_back_complete_and_ordered(runs: RunService) -> None:
    run_id = runs.create("0", "ana", 1, {}, None).run_id
    for start in range(0, 100_000, 1000):
        runs.log_batch(
            run_id, [Metric("loss", 1.0 / (s + 1), 10_000 + s, s) for s in range(start, start + 1000)], [], []
        )
    history, token = runs.get_metric_history(run_id, "loss", None, None)
    assert token is None
    assert [m.step for m in history] == list(range(100_000))
    assert runs.get(run_id).metrics["loss"].step == 99_999
