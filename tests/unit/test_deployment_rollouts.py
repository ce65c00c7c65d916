"""The deployment service against in-memory fakes: model URIs, settings, and the rollout state machine (image,
publish, smoke test, alias switch, canary, rollback, builds, alias moves)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from stratus.domain import deployments as dep
from stratus.domain.ports import FunctionSpec, Invocation
from stratus.domain.services.deployments import DeploymentService, DeploymentSettings, Models
from stratus.errors import (
    InvalidParameterValue,
    InvalidState,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
    ServingFailed,
)
from stratus.store.memory import InMemoryDeploymentStore

BUCKET = "artifacts"
MODEL_DIR = "mlartifacts/1/models/m-1/artifacts"
EXAMPLE = json.dumps({"dataframe_split": {"columns": ["x"], "data": [[1.0]]}}).encode()


@dataclass
class Version:
    name: str
    version: int
    run_id: str
    source: str
    storage_location: str | None = None
    model_id: str | None = None


class Registry:
    def __init__(self) -> None:
        self.versions: dict[tuple[str, int], Version] = {}
        self.aliases: dict[tuple[str, str], int] = {}

    def add(self, name: str, number: int, folder: str = MODEL_DIR) -> Version:
        v = Version(name, number, f"run{number}", f"mlflow-artifacts:/{folder.removeprefix('mlartifacts/')}")
        self.versions[(name, number)] = v
        return v

    def get_version(self, name: str, version: str | int) -> Version:
        found = self.versions.get((name, int(version)))
        if found is None:
            raise ResourceDoesNotExist(f"Model Version (name={name}, version={version}) not found")
        return found

    def get_version_by_alias(self, name: str, alias: str) -> Version:
        if (name, alias) not in self.aliases:
            raise InvalidParameterValue(f"Registered model alias {alias} not found.")
        return self.get_version(name, self.aliases[(name, alias)])

    def get_latest_versions(self, name: str, stages: list[str]) -> list[Version]:
        return []


class Files:
    """The artifact bucket: a model folder with MLmodel, requirements and (optionally) a serving example."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def model(self, folder: str = MODEL_DIR, requirements: str = "scikit-learn==1.5.0\n", example: bool = True) -> None:
        self.objects[f"{folder}/MLmodel"] = b"flavors: {}"
        self.objects[f"{folder}/requirements.txt"] = requirements.encode()
        if example:
            self.objects[f"{folder}/serving_input_example.json"] = EXAMPLE

    def read(self, key: str, max_bytes: int = 1024 * 1024) -> bytes | None:
        return self.objects.get(key)


@dataclass
class Platform:
    """Lambda, as far as rollouts see it: published versions, aliases with weights, scripted answers."""

    published: list[FunctionSpec] = field(default_factory=list)
    aliases: dict[tuple[str, str], tuple[str, tuple[str, float] | None]] = field(default_factory=dict)
    failing_versions: set[str] = field(default_factory=set)
    invoked: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    refuse_publish: str | None = None
    calls: list[str] = field(default_factory=list)

    def publish(self, spec: FunctionSpec) -> str:
        if self.refuse_publish:
            raise ServingFailed(self.refuse_publish)
        self.published.append(spec)
        self.calls.append(f"publish {len(self.published)}")
        return str(len(self.published))

    def invoke(self, function: str, qualifier: str, event: dict[str, Any]) -> Invocation:
        self.invoked.append((function, qualifier, event))
        self.calls.append(f"invoke {qualifier}")
        version = qualifier
        if qualifier == dep.LIVE_ALIAS:
            version, canary = self.aliases[(function, qualifier)]
            if canary is not None:
                version = canary[0]  # the tests send canary traffic on purpose
        if version in self.failing_versions:
            return Invocation(500, {"content-type": "application/json"}, b'{"error_code": "BAD"}', version)
        return Invocation(200, {"content-type": "application/json"}, b'{"predictions": [1]}', version)

    def route(self, function: str, alias: str, version: str, canary: tuple[str, float] | None = None) -> None:
        self.aliases[(function, alias)] = (version, canary)
        self.calls.append(f"route {version}" + (f" canary {canary[0]}" if canary else ""))

    def delete(self, function: str) -> None:
        self.deleted.append(function)


@dataclass
class Builder:
    images: dict[str, str] = field(default_factory=dict)
    builds: dict[str, tuple[str, str]] = field(default_factory=dict)
    started: list[tuple[str, list[str]]] = field(default_factory=list)

    def find(self, key: str) -> str | None:
        return self.images.get(key)

    def start(self, key: str, requirements: list[str]) -> str:
        self.started.append((key, requirements))
        build_id = f"build-{len(self.started)}"
        self.builds[build_id] = ("IN_PROGRESS", "")
        return build_id

    def status(self, build_id: str) -> tuple[str, str]:
        return self.builds[build_id]


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000_000

    def __call__(self) -> int:
        self.now += 1
        return self.now


@dataclass
class World:
    service: DeploymentService
    store: InMemoryDeploymentStore
    registry: Registry
    files: Files
    platform: Platform
    clock: Clock
    builder: Builder | None


def world(builder: Builder | None = None, base_image: str = "serving:base") -> World:
    store, registry, files, platform, clock = InMemoryDeploymentStore(), Registry(), Files(), Platform(), Clock()
    run = SimpleNamespace(info=SimpleNamespace(artifact_uri=f"mlflow-artifacts:/1/{'r' * 32}/artifacts"))
    runs = SimpleNamespace(get=lambda run_id: run)
    logged = SimpleNamespace(
        get=lambda model_id: SimpleNamespace(
            model_id=model_id, artifact_location=f"mlflow-artifacts:/{MODEL_DIR[12:]}", source_run_id="run-of-model"
        )
    )
    service = DeploymentService(
        store,
        Models(registry, logged, runs),  # type: ignore[arg-type]
        files,  # type: ignore[arg-type]
        platform,
        builder,
        DeploymentSettings(function_prefix="stratus-dep-", base_image=base_image, artifact_bucket=BUCKET),
        clock=clock,
    )
    return World(service, store, registry, files, platform, clock, builder)


def champion(w: World, version: int = 1, folder: str = MODEL_DIR) -> None:
    w.registry.add("wine", version, folder)
    w.registry.aliases[("wine", "champion")] = version
    w.files.model(folder)


def test_a_deployment_by_alias_is_pending_until_its_rollout_serves_it() -> None:
    w = world()
    champion(w)
    created = w.service.create("wine-api", "models:/wine@champion", None, None, "alice")
    assert (created.state, created.served, created.follows) == (dep.PENDING, None, ("wine", "champion"))
    assert created.rollout and created.rollout.target.model_version == "1"

    ready = w.service.advance("wine-api")

    assert ready and ready.state == dep.READY and ready.rollout is None
    assert ready.served and (ready.served.model_version, ready.served.run_id) == ("1", "run1")
    spec = w.platform.published[0]
    assert spec.name == "stratus-dep-wine-api" and spec.image == "serving:base"
    assert spec.environment["STRATUS_MODEL_URI"] == f"s3://{BUCKET}/{MODEL_DIR}"
    assert spec.environment["STRATUS_MODEL_VERSION"] == "1"
    # smoke-tested on the published version with the model's own serving example, before the alias moved
    function, qualifier, event = w.platform.invoked[0]
    assert (function, qualifier) == ("stratus-dep-wine-api", "1")
    assert event["rawPath"] == "/invocations" and event["headers"]["content-type"] == "application/json"
    assert w.platform.aliases[("stratus-dep-wine-api", dep.LIVE_ALIAS)] == ("1", None)
    [entry] = w.service.history("wine-api", 10)
    assert (entry.outcome, entry.model_version, entry.previous_model_version, entry.actor) == (
        dep.SUCCEEDED,
        "1",
        None,
        "alice",
    )


def test_a_model_without_a_serving_example_is_smoke_tested_with_a_ping() -> None:
    w = world()
    w.registry.add("wine", 1)
    w.files.model(example=False)
    w.service.create("wine-api", "models:/wine/1", None, None)
    w.service.advance("wine-api")
    assert w.platform.invoked[0][2]["rawPath"] == "/ping"


def test_an_alias_move_rolls_out_the_new_version_and_switches_only_after_its_smoke_test() -> None:
    w = world()
    champion(w)
    w.service.create("wine-api", "models:/wine@champion", None, None)
    w.service.advance("wine-api")
    w.registry.add("wine", 2, "mlartifacts/1/models/m-2/artifacts")
    w.files.model("mlartifacts/1/models/m-2/artifacts")
    w.registry.aliases[("wine", "champion")] = 2
    w.platform.calls.clear()

    assert w.service.on_alias_moved("wine", "champion", "2", "bob") == ["wine-api"]

    done = w.service.get("wine-api")
    assert done.state == dep.READY and done.served and done.served.model_version == "2"
    # the old version served until the new one answered its smoke test
    assert w.platform.calls == ["publish 2", "invoke 2", "route 2"]
    newest = w.service.history("wine-api", 9)[0]
    assert (newest.outcome, newest.model_version, newest.previous_model_version, newest.reason, newest.actor) == (
        dep.SUCCEEDED,
        "2",
        "1",
        dep.REASON_ALIAS_MOVED,
        "bob",
    )
    # the same event again (EventBridge delivers at least once) starts nothing, nor does the rollout's own event
    assert w.service.on_alias_moved("wine", "champion", "2") == []
    w.service.advance("wine-api")
    assert w.platform.calls == ["publish 2", "invoke 2", "route 2"]


def test_an_alias_move_leaves_deployments_of_other_aliases_and_pinned_versions_alone() -> None:
    w = world()
    champion(w)
    w.registry.aliases[("wine", "challenger")] = 1
    w.service.create("pinned", "models:/wine/1", None, None)
    w.service.create("challenger", "models:/wine@challenger", None, None)
    assert w.service.on_alias_moved("wine", "champion", "1") == []


def test_a_failed_smoke_test_keeps_the_previous_version_serving_and_says_why() -> None:
    w = world()
    champion(w)
    w.service.create("wine-api", "models:/wine@champion", None, None)
    w.service.advance("wine-api")
    w.registry.add("wine", 2)
    w.registry.aliases[("wine", "champion")] = 2
    w.platform.failing_versions.add("2")
    w.service.on_alias_moved("wine", "champion", "2")

    after = w.service.advance("wine-api")

    assert after and after.state == dep.READY and after.served and after.served.model_version == "1"
    assert after.last_rollout and after.last_rollout.outcome == dep.FAILED
    assert "smoke test" in after.message and "model version 1" in after.message
    assert w.platform.aliases[("stratus-dep-wine-api", dep.LIVE_ALIAS)] == ("1", None)
    assert w.service.history("wine-api", 1)[0].outcome == dep.FAILED


def test_a_first_rollout_that_fails_leaves_the_deployment_failed() -> None:
    w = world()
    champion(w)
    w.platform.refuse_publish = "image not found"
    w.service.create("wine-api", "models:/wine@champion", None, None)
    after = w.service.advance("wine-api")
    assert after and after.state == dep.FAILED and "image not found" in after.message
    with pytest.raises(InvalidState):
        w.service.invoke("wine-api", dep.scoring_event("GET", "/ping", None, b""))


def test_a_canary_takes_its_share_then_the_sweep_promotes_it() -> None:
    w = world()
    champion(w)
    w.service.create("wine-api", "models:/wine@champion", None, {"canary_percent": "10", "canary_seconds": 60})
    w.service.advance("wine-api")  # the first rollout has nothing to canary against
    w.registry.add("wine", 2)
    w.registry.aliases[("wine", "champion")] = 2
    w.service.on_alias_moved("wine", "champion", "2")

    canary = w.service.advance("wine-api")
    assert canary and canary.rollout and canary.rollout.step == dep.CANARY and canary.state == dep.UPDATING
    assert w.platform.aliases[("stratus-dep-wine-api", dep.LIVE_ALIAS)] == ("1", ("2", 0.1))
    assert w.service.sweep() == 0  # not yet

    w.clock.now += 61_000
    assert w.service.sweep() == 1
    done = w.service.get("wine-api")
    assert done.state == dep.READY and done.served and done.served.model_version == "2"
    assert w.platform.aliases[("stratus-dep-wine-api", dep.LIVE_ALIAS)] == ("2", None)
    assert [e.outcome for e in w.service.history("wine-api", 9)][:2] == [dep.SUCCEEDED, dep.CANARY_STARTED]


def test_a_canary_that_answers_errors_is_rolled_back_at_once() -> None:
    w = world()
    champion(w)
    w.service.create("wine-api", "models:/wine@champion", None, {"canary_percent": 20})
    w.service.advance("wine-api")
    w.registry.add("wine", 2)
    w.registry.aliases[("wine", "champion")] = 2
    w.service.on_alias_moved("wine", "champion", "2")
    w.service.advance("wine-api")  # smoke test passes
    w.platform.failing_versions.add("2")  # ...but real traffic fails

    answer = w.service.invoke("wine-api", dep.scoring_event("POST", "/invocations", "application/json", EXAMPLE))

    assert answer.status == 500
    after = w.service.get("wine-api")
    assert after.state == dep.READY and after.served and after.served.model_version == "1"
    assert after.last_rollout and after.last_rollout.outcome == dep.ROLLED_BACK
    assert w.platform.aliases[("stratus-dep-wine-api", dep.LIVE_ALIAS)] == ("1", None)


def test_an_image_is_built_once_per_set_of_requirements_and_reused() -> None:
    builder = Builder()
    w = world(builder)
    champion(w)
    w.service.create("wine-api", "models:/wine@champion", None, None)
    waiting = w.service.advance("wine-api")
    assert waiting and waiting.rollout and waiting.rollout.step == dep.BUILDING and not w.platform.published
    key, requirements = builder.started[0]
    assert requirements == ["scikit-learn==1.5.0"]

    builder.builds["build-1"] = ("SUCCEEDED", "")
    builder.images[key] = f"repo:{key}"
    assert w.service.on_build_event("build-1") == ["wine-api"]
    assert w.service.get("wine-api").state == dep.READY
    assert w.platform.published[0].image == f"repo:{key}"

    w.service.create("wine-api-2", "models:/wine/1", None, None)
    w.service.advance("wine-api-2")
    assert len(builder.started) == 1 and w.service.get("wine-api-2").state == dep.READY


def test_a_failed_build_fails_the_rollout_with_its_reason() -> None:
    builder = Builder()
    w = world(builder)
    champion(w)
    w.service.create("wine-api", "models:/wine@champion", None, None)
    w.service.advance("wine-api")
    builder.builds["build-1"] = ("FAILED", "pip could not install scikit-learn==1.5.0")
    w.service.on_build_event("build-1")
    after = w.service.get("wine-api")
    assert after.state == dep.FAILED and "pip could not install" in after.message


def test_model_uris_resolve_to_their_files_in_the_artifact_bucket() -> None:
    w = world()
    target, follows = w.service.resolve("runs:/" + "r" * 32 + "/model")
    assert follows is None and target.source == f"s3://{BUCKET}/mlartifacts/1/{'r' * 32}/artifacts/model"
    target, _ = w.service.resolve("models:/m-" + "a" * 32)
    assert target.model_id == "m-" + "a" * 32 and target.run_id == "run-of-model"
    for bad in ("wine", "models:/", "runs:/abc", "s3://elsewhere/model"):
        with pytest.raises(InvalidParameterValue):
            w.service.resolve(bad)


def test_create_refuses_bad_names_unknown_settings_other_flavors_duplicates_and_unknown_models() -> None:
    w = world()
    champion(w)
    with pytest.raises(InvalidParameterValue, match="Invalid deployment name"):
        w.service.create("has space", "models:/wine@champion", None, None)
    with pytest.raises(InvalidParameterValue, match="Unknown deployment config key 'memory'"):
        w.service.create("a", "models:/wine@champion", None, {"memory": 1})
    with pytest.raises(InvalidParameterValue, match="canary_percent"):
        w.service.create("a", "models:/wine@champion", None, {"canary_percent": 90})
    with pytest.raises(InvalidParameterValue, match="Flavor 'sklearn'"):
        w.service.create("a", "models:/wine@champion", "sklearn", None)
    with pytest.raises(ResourceDoesNotExist):
        w.service.create("a", "models:/wine/7", None, None)
    with pytest.raises(InvalidParameterValue, match="alias"):
        w.service.create("a", "models:/wine@nope", None, None)
    w.service.create("a", "models:/wine@champion", None, None)
    with pytest.raises(ResourceAlreadyExists):
        w.service.create("a", "models:/wine@champion", None, None)


def test_deployments_are_refused_when_the_stack_has_no_serving_image() -> None:
    w = world(base_image="")
    champion(w)
    with pytest.raises(InvalidParameterValue, match="ServingImage"):
        w.service.create("a", "models:/wine@champion", None, None)


def test_update_with_new_settings_rolls_out_and_delete_removes_the_function() -> None:
    w = world()
    champion(w)
    w.service.create("wine-api", "models:/wine@champion", None, None)
    w.service.advance("wine-api")
    unchanged = w.service.update("wine-api", None, None, None)
    assert unchanged.rollout is None
    updated = w.service.update("wine-api", None, None, {"memory_mb": 4096})
    assert updated.rollout and updated.config.memory_mb == 4096
    w.service.advance("wine-api")
    assert w.platform.published[-1].memory_mb == 4096

    w.service.delete("wine-api")
    assert w.platform.deleted == ["stratus-dep-wine-api"]
    with pytest.raises(ResourceDoesNotExist):
        w.service.get("wine-api")


def test_a_late_event_for_a_replaced_rollout_does_nothing() -> None:
    w = world()
    champion(w)
    created = w.service.create("wine-api", "models:/wine@champion", None, None)
    assert created.rollout
    w.service.update("wine-api", None, None, {"memory_mb": 1024})
    w.service.advance("wine-api", created.rollout.id)
    assert not w.platform.published


def test_a_deployment_whose_function_is_gone_is_rolled_out_again() -> None:
    from stratus.errors import ServingFunctionMissing, TemporarilyUnavailable

    w = world()
    champion(w)
    w.service.create("wine-api", "models:/wine@champion", None, None)
    w.service.advance("wine-api")

    def gone(function: str, qualifier: str, event: dict[str, Any]) -> Invocation:
        raise ServingFunctionMissing(f"{function}:{qualifier} does not exist")

    w.platform.invoke = gone  # type: ignore[method-assign]
    with pytest.raises(TemporarilyUnavailable, match="rolled out again"):
        w.service.invoke("wine-api", dep.scoring_event("GET", "/ping", None, b""))
    again = w.service.get("wine-api")
    assert again.state == dep.UPDATING and again.rollout and again.rollout.reason == dep.REASON_FUNCTION_MISSING
    assert again.rollout.target.model_version == "1"
    with pytest.raises(TemporarilyUnavailable):  # a second request does not start a second rollout
        w.service.invoke("wine-api", dep.scoring_event("GET", "/ping", None, b""))
    assert w.service.get("wine-api").rollout.id == again.rollout.id  # type: ignore[union-attr]
