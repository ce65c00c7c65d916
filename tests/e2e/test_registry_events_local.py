"""Under ``stratus local`` the registry's changes reach the EventBridge bus as on AWS: the table's stream (DynamoDB
Local) feeds RegistryEventsFunction, which publishes to the bus (moto); a rule delivers to an SQS queue here, since
moto drops Lambda targets."""

from __future__ import annotations

import json
import os
import time
import uuid

import boto3
from mlflow import MlflowClient

DEADLINE_S = 30


def test_registry_changes_arrive_on_the_bus(tracking_uri: str) -> None:
    events, sqs = boto3.client("events"), boto3.client("sqs")
    bus = os.environ["STRATUS_EVENT_BUS_NAME"]
    name = f"evented-{uuid.uuid4().hex[:8]}"
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": ["stratus.registry"], "detail": {"model_name": [name]}}
    events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "q", "Arn": queue_arn}])

    client = MlflowClient()
    client.create_registered_model(name)
    run = client.create_run(client.create_experiment(f"exp-{name}"))
    client.log_text(run.info.run_id, "x", "model/MLmodel")
    client.create_model_version(name, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    client.set_registered_model_alias(name, "champion", "1")
    client.transition_model_version_stage(name, "1", "Production")

    wanted = {
        "Registered Model Created",
        "Model Version Created",
        "Model Alias Set",
        "Model Version Stage Transitioned",
    }
    seen: dict[str, dict] = {}
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline and not wanted <= set(seen):
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            event = json.loads(message["Body"])
            seen[event["detail-type"]] = event["detail"]
    assert wanted <= set(seen), f"only {sorted(seen)} arrived"
    assert seen["Model Alias Set"]["after"] == {"alias": "champion", "version": "1"}
    assert seen["Model Version Stage Transitioned"]["after"] == {"stage": "Production"}
    assert seen["Model Version Created"]["run_id"] == run.info.run_id
    assert seen["Model Alias Set"]["actor"].startswith("arn:aws:iam::000000000000:user/")
