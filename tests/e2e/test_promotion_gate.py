"""The built-in promotion hook, end to end with the stock client against ``stratus local``: a model's tags declare
a gate; nominating a version (alias ``challenger``) promotes it when its run's metric passes, and records why not
otherwise. The nomination reaches the hook as on AWS: table stream -> RegistryEventsFunction -> registry bus ->
rule -> PromotionGateFunction."""

from __future__ import annotations

import time
import uuid

from mlflow import MlflowClient

DEADLINE_S = 40


def _wait_for(check, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_nominated_version_is_promoted_only_if_it_passes_the_gate() -> None:
    client = MlflowClient()
    name = f"gated-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(
        name,
        tags={
            "stratus.gate.metric": "accuracy",
            "stratus.gate.threshold": "0.9",
            "stratus.gate.promote_to": "alias:champion",
        },
    )
    experiment_id = client.create_experiment(f"exp-{name}")
    versions = {}
    for accuracy in (0.85, 0.95):
        run = client.create_run(experiment_id)
        client.log_metric(run.info.run_id, "accuracy", accuracy)
        client.log_text(run.info.run_id, "x", "model/MLmodel")
        version = client.create_model_version(name, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
        versions[accuracy] = version.version

    client.set_registered_model_alias(name, "challenger", versions[0.85])
    rejected = versions[0.85]
    result = _wait_for(lambda: client.get_model_version(name, rejected).tags.get("stratus.gate.result"), "the gate")
    assert result == "rejected: accuracy 0.85 >= 0.9 is false"
    assert "champion" not in client.get_registered_model(name).aliases

    client.set_registered_model_alias(name, "challenger", versions[0.95])
    champion = _wait_for(lambda: client.get_registered_model(name).aliases.get("champion"), "the promotion")
    assert champion == versions[0.95]
    tags = client.get_model_version(name, versions[0.95]).tags
    assert tags["stratus.gate.result"] == "promoted to alias champion: accuracy 0.95 >= 0.9"
