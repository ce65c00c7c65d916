"""Model deployments (``get_deploy_client("stratus")``; docs/deployments.md): create, read, update and delete
deployments, proxy scoring requests to their functions, and run each rollout to its end.

A rollout is driven by events and is safe to repeat: the API (create, update) and a registry alias move only record
it; its "Deployment Rollout Started" event (derived from the table's stream) calls :meth:`advance`, which runs it as
far as it can go at once: find or build the image for the model's requirements (a build's end arrives as a build
event), publish a function version, smoke-test that version with the model's serving input example, and move the
``live`` alias, at once or as a canary that :meth:`sweep` promotes when its time is up. A save that loses a race
(``revision``) stops the loser: whoever won carries the rollout on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from stratus.domain import deployments as dep
from stratus.domain.artifact_paths import KEY_ROOT
from stratus.domain.deployments import Deployment, HistoryEntry, ModelFiles, ModelTarget, Rollout, Served
from stratus.domain.ports import ArtifactStore, DeploymentStore, FunctionSpec, ImageBuilder, Invocation, ServingPlatform
from stratus.domain.services.logged_models import LoggedModelService
from stratus.domain.services.registry import RegistryService
from stratus.domain.services.runs import RunService
from stratus.errors import (
    InvalidParameterValue,
    InvalidState,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
    ServingFailed,
    ServingFunctionMissing,
    StratusError,
    TemporarilyUnavailable,
)

MAX_LIST = 1000
BUILD_ENDED = ("SUCCEEDED", "FAILED", "FAULT", "STOPPED", "TIMED_OUT")
STALE_STEP_MS = 10 * 60 * 1000
"""A rollout whose step has not moved for this long (its event was lost) is advanced again by the sweep."""
SMOKE_PATH = "/invocations"
EXAMPLE_FILE = "serving_input_example.json"
REQUIREMENTS_FILE = "requirements.txt"
MAX_MODEL_FILE = 1024 * 1024


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class DeploymentSettings:
    function_prefix: str
    base_image: str
    artifact_bucket: str
    defaults: dep.DeploymentConfig = dep.DeploymentConfig()


@dataclass(frozen=True)
class Models:
    """Where model URIs are resolved: the registry, logged models and runs."""

    registry: RegistryService
    logged_models: LoggedModelService
    runs: RunService


class DeploymentService:
    def __init__(  # noqa: PLR0913 - the ports a rollout needs
        self,
        store: DeploymentStore,
        models: Models,
        files: ArtifactStore,
        platform: ServingPlatform,
        builder: ImageBuilder | None,
        settings: DeploymentSettings,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._store = store
        self._models = models
        self._files = files
        self._platform = platform
        self._builder = builder
        self._settings = settings
        self._now = clock

    # ------------------------------------------------------------------ the API

    def create(
        self, name: str, model_uri: str, flavor: str | None, config: Any, actor: str | None = None
    ) -> Deployment:
        self._require_enabled()
        dep.check_name(name, self._settings.function_prefix)
        dep.check_flavor(flavor)
        settings = dep.parse_config(config, self._settings.defaults)
        target, follows = self.resolve(model_uri)
        now = self._now()
        deployment = Deployment(name, model_uri, settings, now, now, follows=follows, creator=actor)
        deployment = dep.with_rollout(deployment, dep.new_rollout(target, dep.REASON_CREATED, now, actor), now)
        if not self._store.create(deployment):
            raise ResourceAlreadyExists(f"Deployment '{name}' already exists")
        return deployment

    def _require_enabled(self) -> None:
        if not self._settings.base_image:
            raise InvalidParameterValue(
                "Model deployments are off on this Stratus: deploy it with the ServingImage parameter "
                "(docs/deployments.md)"
            )

    def get(self, name: str) -> Deployment:
        found = self._store.get(name)
        if found is None:
            raise ResourceDoesNotExist(f"Deployment '{name}' does not exist")
        return found

    def list(self, max_results: int, page_token: str | None) -> tuple[list[Deployment], str | None]:
        if not 1 <= max_results <= MAX_LIST:
            raise InvalidParameterValue(f"max_results must be between 1 and {MAX_LIST}, got {max_results}")
        return self._store.list(max_results, page_token)

    def update(
        self, name: str, model_uri: str | None, flavor: str | None, config: Any, actor: str | None = None
    ) -> Deployment:
        """A new model URI or new settings start a rollout (the settings are a function's: a new version serves
        them); an update that changes nothing answers the deployment as it is."""
        self._require_enabled()
        dep.check_flavor(flavor)
        current = self.get(name)
        settings = dep.parse_config(config, current.config)
        uri = model_uri or current.model_uri
        if uri == current.model_uri and settings == current.config:
            return current
        target, follows = self.resolve(uri)
        now = self._now()
        changed = replace(current, model_uri=uri, follows=follows, config=settings)
        changed = dep.with_rollout(changed, dep.new_rollout(target, dep.REASON_UPDATED, now, actor), now)
        if not self._store.save(changed):
            raise InvalidState(f"Deployment '{name}' changed while it was being updated; try again")
        return replace(changed, revision=changed.revision + 1)

    def delete(self, name: str) -> None:
        current = self.get(name)
        self._platform.delete(current.function_name(self._settings.function_prefix))
        self._store.delete(name)

    def history(self, name: str, max_results: int) -> list[HistoryEntry]:
        self.get(name)
        if not 1 <= max_results <= MAX_LIST:
            raise InvalidParameterValue(f"max_results must be between 1 and {MAX_LIST}, got {max_results}")
        return self._store.history(name, max_results)

    def invoke(self, name: str, event: dict[str, Any]) -> Invocation:
        """One scoring request, answered by what the deployment's live alias serves."""
        current = self.get(name)
        if current.served is None:
            raise InvalidState(f"Deployment '{name}' has no model serving yet ({current.state}: {current.message})")
        function = current.function_name(self._settings.function_prefix)
        try:
            answer = self._platform.invoke(function, dep.LIVE_ALIAS, event)
        except ServingFunctionMissing:
            self._redeploy(current)
            raise TemporarilyUnavailable(
                f"Deployment '{name}' lost its function and is being rolled out again; retry in a minute"
            ) from None
        rollout = current.rollout
        if (
            rollout
            and rollout.step == dep.CANARY
            and _failed(answer)
            and answer.executed_version == rollout.function_version
        ):
            self._canary_error(name)
        return answer

    def _redeploy(self, deployment: Deployment) -> None:
        """Roll out what served again, once (a rollout under way will bring a function back by itself)."""
        if deployment.rollout is not None or deployment.served is None:
            return
        served = deployment.served
        target = ModelTarget(
            deployment.model_uri, served.source, served.model_name, served.model_version, served.run_id, served.model_id
        )
        now = self._now()
        rollout = dep.new_rollout(target, dep.REASON_FUNCTION_MISSING, now, None)
        self._store.save(dep.with_rollout(deployment, rollout, now))

    # ------------------------------------------------------------ model URIs

    def resolve(self, model_uri: str) -> tuple[ModelTarget, tuple[str, str] | None]:
        """The model behind ``model_uri``, and the (model, alias) it follows when it names an alias."""
        if not isinstance(model_uri, str) or not model_uri:
            raise InvalidParameterValue("model_uri is required")
        if model_uri.startswith("models:/"):
            return self._registered(model_uri)
        if model_uri.startswith("runs:/"):
            return self._run_model(model_uri), None
        raise InvalidParameterValue(
            f"Unsupported model URI '{model_uri}': use models:/<name>@<alias>, models:/<name>/<version>, "
            "models:/<model_id> or runs:/<run_id>/<path>"
        )

    def _registered(self, model_uri: str) -> tuple[ModelTarget, tuple[str, str] | None]:
        rest = model_uri.removeprefix("models:/").strip("/")
        registry = self._models.registry
        if "@" in rest:
            name, alias = rest.rsplit("@", 1)
            version = registry.get_version_by_alias(name, alias)
            follows: tuple[str, str] | None = (name, alias)
        elif "/" in rest:
            name, which = rest.rsplit("/", 1)
            version = registry.get_version(name, which) if which.isdigit() else self._stage_version(name, which)
            follows = None
        elif dep.is_model_id(rest):
            model = self._models.logged_models.get(rest)
            source = self._loadable(model.artifact_location)
            return ModelTarget(model_uri, source, run_id=model.source_run_id, model_id=model.model_id), None
        else:
            raise InvalidParameterValue(
                f"Invalid model URI '{model_uri}': expected models:/<name>@<alias>, models:/<name>/<version> or "
                "models:/<model_id>"
            )
        source = self._loadable(version.storage_location or version.source)
        target = ModelTarget(model_uri, source, version.name, str(version.version), version.run_id, version.model_id)
        return target, follows

    def _stage_version(self, name: str, stage: str) -> Any:
        latest = self._models.registry.get_latest_versions(name, [stage])
        if not latest:
            raise ResourceDoesNotExist(f"No version of model '{name}' is in stage '{stage}'")
        return latest[0]

    def _run_model(self, model_uri: str) -> ModelTarget:
        run_id, _, path = model_uri.removeprefix("runs:/").partition("/")
        if not run_id or not path.strip("/"):
            raise InvalidParameterValue(f"Invalid model URI '{model_uri}': expected runs:/<run_id>/<path>")
        run = self._models.runs.get(run_id)
        source = self._loadable(f"{run.info.artifact_uri.rstrip('/')}/{path.strip('/')}")
        return ModelTarget(model_uri, source, run_id=run_id)

    def _loadable(self, source: str) -> str:
        """``source`` as the serving function loads it: an ``s3://`` URI in the artifact bucket."""
        if source.startswith("mlflow-artifacts:"):
            path = source.removeprefix("mlflow-artifacts:").lstrip("/")
            return f"s3://{self._settings.artifact_bucket}/{KEY_ROOT}/{path}"
        if source.startswith(f"s3://{self._settings.artifact_bucket}/"):
            return source
        raise InvalidParameterValue(
            f"The model's files are at '{source}', outside this stack's artifact bucket: Stratus cannot serve them"
        )

    def _model_files(self, source: str) -> ModelFiles:
        key = source.removeprefix(f"s3://{self._settings.artifact_bucket}/").rstrip("/")
        if self._files.read(f"{key}/MLmodel", MAX_MODEL_FILE) is None:
            raise InvalidParameterValue(f"No MLflow model at '{source}' (it has no MLmodel file)")
        requirements = self._files.read(f"{key}/{REQUIREMENTS_FILE}", MAX_MODEL_FILE) or b""
        example = self._files.read(f"{key}/{EXAMPLE_FILE}", dep.MAX_EXAMPLE_BYTES)
        return ModelFiles(requirements.decode("utf-8", errors="replace").splitlines(), example)

    # ------------------------------------------------------------ rollouts

    def on_alias_moved(self, model_name: str, alias: str, version: str, actor: str | None = None) -> list[str]:
        """Start a rollout on every deployment that follows ``model_name@alias`` and does not already serve (or
        move to) ``version``, and run it as far as it goes; the names of those deployments."""
        started = []
        token: str | None = None
        while True:
            page, token = self._store.list(MAX_LIST, token)
            for deployment in page:
                if deployment.follows == (model_name, alias) and self._follow(deployment, version, actor):
                    started.append(deployment.name)
            if not token:
                break
        for name in started:  # at once: its own "Rollout Started" event then finds the work done
            self.advance(name)
        return started

    def _follow(self, deployment: Deployment, version: str, actor: str | None) -> bool:
        going_to = deployment.rollout.target.model_version if deployment.rollout else None
        serving = deployment.served.model_version if deployment.served else None
        if version in (going_to, serving if going_to is None else None):
            return False
        try:
            target, _ = self.resolve(deployment.model_uri)
        except StratusError:
            return False  # the alias moved on again or went away: its own event follows
        if target.model_version != version:
            return False
        now = self._now()
        rollout = dep.new_rollout(target, dep.REASON_ALIAS_MOVED, now, actor)
        return self._store.save(dep.with_rollout(deployment, rollout, now))

    def advance(self, name: str, rollout_id: str | None = None) -> Deployment | None:
        """Run the deployment's rollout as far as it goes now; None when there is no such deployment. With
        ``rollout_id``, only that rollout (a late event for a replaced rollout does nothing)."""
        for _ in range(8):  # each step saves; a step that loses a race reads again
            current = self._store.get(name)
            if current is None or current.rollout is None:
                return current
            if rollout_id and current.rollout.id != rollout_id:
                return current
            if self._step(current, current.rollout) is None:
                break
        return self._store.get(name)

    def _step(self, deployment: Deployment, rollout: Rollout) -> Deployment | None:
        """One step of ``rollout``; the deployment as saved, or None when there is nothing to do now (or the save
        lost a race, or the rollout ended)."""
        try:
            if rollout.step == dep.RESOLVED:
                return self._save(deployment, self._image(deployment, rollout))
            if rollout.step == dep.BUILDING:
                return self._build_progress(deployment, rollout)
            if rollout.step == dep.DEPLOYED:
                return self._switch(deployment, rollout)
            return None  # CANARY: the sweep ends it
        except StratusError as error:
            self._end(deployment, rollout, dep.FAILED, f"Rollout failed: {error.message}")
            return None

    def _image(self, deployment: Deployment, rollout: Rollout) -> Rollout:
        """The rollout published as a function version when its image exists, else with its image's build started."""
        files = self._model_files(rollout.target.source)
        now = self._now()
        if self._builder is None:
            return self._published(deployment, replace(rollout, image=self._settings.base_image, updated_at=now), files)
        key = dep.image_key(files.requirements, self._settings.base_image)
        image = self._builder.find(key)
        if image:
            return self._published(deployment, replace(rollout, image_key=key, image=image, updated_at=now), files)
        build_id = self._builder.start(key, files.requirements)
        return replace(rollout, step=dep.BUILDING, image_key=key, build_id=build_id, updated_at=now)

    def _build_progress(self, deployment: Deployment, rollout: Rollout) -> Deployment | None:
        assert self._builder is not None and rollout.build_id and rollout.image_key
        status, reason = self._builder.status(rollout.build_id)
        if status not in BUILD_ENDED:
            return None
        if status != "SUCCEEDED":
            raise ServingFailed(f"the image build {rollout.build_id} ended {status}: {reason or 'no reason given'}")
        image = self._builder.find(rollout.image_key)
        if image is None:
            raise ServingFailed(f"the image build {rollout.build_id} succeeded but pushed no image")
        files = self._model_files(rollout.target.source)
        return self._save(deployment, self._published(deployment, replace(rollout, image=image), files))

    def _published(self, deployment: Deployment, rollout: Rollout, files: ModelFiles) -> Rollout:
        """Publish a function version for ``rollout`` and smoke-test it; ``ServingFailed`` if it does not answer."""
        assert rollout.image
        spec = FunctionSpec(
            name=deployment.function_name(self._settings.function_prefix),
            image=rollout.image,
            environment=dep.serving_environment(deployment, rollout.target),
            memory_mb=deployment.config.memory_mb,
            timeout_seconds=deployment.config.timeout_seconds,
            tags={"stratus:deployment": deployment.name},
        )
        version = self._platform.publish(spec)
        self._smoke_test(spec.name, version, files)
        return replace(rollout, step=dep.DEPLOYED, function_version=version, updated_at=self._now())

    def _smoke_test(self, function: str, version: str, files: ModelFiles) -> None:
        if files.serving_example is not None:
            event = dep.scoring_event("POST", SMOKE_PATH, "application/json", files.serving_example)
        else:
            event = dep.scoring_event("GET", "/ping", None, b"")
        answer = self._platform.invoke(function, version, event)
        if _failed(answer) or answer.status >= 400:
            detail = answer.body[:300].decode("utf-8", errors="replace")
            raise ServingFailed(f"the smoke test of function version {version} answered {answer.status}: {detail}")

    def _switch(self, deployment: Deployment, rollout: Rollout) -> Deployment | None:
        assert rollout.function_version and rollout.image
        function = deployment.function_name(self._settings.function_prefix)
        config = deployment.config
        if deployment.served and config.canary_percent > 0:
            self._platform.route(
                function,
                dep.LIVE_ALIAS,
                deployment.served.function_version,
                (rollout.function_version, config.canary_percent / 100),
            )
            now = self._now()
            canary = replace(rollout, step=dep.CANARY, canary_until=now + config.canary_seconds * 1000, updated_at=now)
            saved = self._save(deployment, canary)
            if saved:
                why = f"{config.canary_percent}% of requests to the canary"
                self._record(saved, canary, dep.CANARY_STARTED, why, deployment.served)
            return saved
        self._platform.route(function, dep.LIVE_ALIAS, rollout.function_version)
        self._end(deployment, rollout, dep.SUCCEEDED, self._serving_message(rollout))
        return None

    def _serving_message(self, rollout: Rollout) -> str:
        return f"Serving {dep.describe(rollout.target)} (function version {rollout.function_version})"

    def sweep(self) -> int:
        """Promote canaries whose time is up, follow builds whose event was lost and re-run steps left stale;
        the number of deployments moved."""
        moved = 0
        token: str | None = None
        now = self._now()
        while True:
            page, token = self._store.list(MAX_LIST, token)
            for deployment in page:
                moved += self._sweep_one(deployment, now)
            if not token:
                return moved

    def _sweep_one(self, deployment: Deployment, now: int) -> int:
        rollout = deployment.rollout
        if rollout is None:
            return 0
        if rollout.step == dep.CANARY and rollout.canary_until is not None and now >= rollout.canary_until:
            self._promote(deployment, rollout)
            return 1
        if rollout.step == dep.BUILDING or now - rollout.updated_at >= STALE_STEP_MS:
            return int(self.advance(deployment.name, rollout.id) is not None)
        return 0

    def on_build_event(self, build_id: str) -> list[str]:
        """A build ended: advance the rollouts waiting on it."""
        names = []
        token: str | None = None
        while True:
            page, token = self._store.list(MAX_LIST, token)
            for deployment in page:
                if deployment.rollout and deployment.rollout.build_id == build_id:
                    self.advance(deployment.name, deployment.rollout.id)
                    names.append(deployment.name)
            if not token:
                return names

    def _promote(self, deployment: Deployment, rollout: Rollout) -> None:
        assert rollout.function_version
        try:
            self._platform.route(
                deployment.function_name(self._settings.function_prefix), dep.LIVE_ALIAS, rollout.function_version
            )
        except StratusError as error:
            self._roll_back(deployment, rollout, f"the canary could not be promoted: {error.message}")
            return
        self._end(deployment, rollout, dep.SUCCEEDED, self._serving_message(rollout))

    def _canary_error(self, name: str) -> None:
        """Count an error answered by the canary; past ``canary_max_errors``, roll back at once."""
        for _ in range(3):
            current = self._store.get(name)
            rollout = current.rollout if current else None
            if current is None or rollout is None or rollout.step != dep.CANARY:
                return
            counted = replace(rollout, canary_errors=rollout.canary_errors + 1)
            if counted.canary_errors > current.config.canary_max_errors:
                self._roll_back(current, counted, f"the canary answered {counted.canary_errors} error(s)")
                return
            if self._store.save(replace(current, rollout=counted)):
                return

    def _roll_back(self, deployment: Deployment, rollout: Rollout, why: str) -> None:
        if deployment.served is not None:
            self._platform.route(
                deployment.function_name(self._settings.function_prefix),
                dep.LIVE_ALIAS,
                deployment.served.function_version,
            )
        self._end(deployment, rollout, dep.ROLLED_BACK, f"Rolled back: {why}")

    # ------------------------------------------------------------ records

    def _save(self, deployment: Deployment, rollout: Rollout) -> Deployment | None:
        changed = replace(deployment, rollout=rollout, updated_at=self._now())
        if not self._store.save(changed):
            return None
        return replace(changed, revision=changed.revision + 1)

    def _end(self, deployment: Deployment, rollout: Rollout, outcome: str, message: str) -> None:
        """End ``rollout``: what serves afterwards is the rollout's target if it succeeded, else what served."""
        now = self._now()
        served = deployment.served
        if outcome == dep.SUCCEEDED:
            assert rollout.function_version and rollout.image
            target = rollout.target
            served = Served(
                target.model_name,
                target.model_version,
                target.run_id,
                target.model_id,
                target.source,
                rollout.function_version,
                rollout.image,
                now,
            )
        elif served is not None:
            message = f"{message}; {self._serving_message_of(served)} still serves"
        ended = dep.ended(deployment, rollout, outcome, message, now, served)
        if self._store.save(ended):
            self._record(ended, rollout, outcome, message, previous=deployment.served)

    def _serving_message_of(self, served: Served) -> str:
        version = f"model version {served.model_version}" if served.model_version else "the previous model"
        return f"{version} (function version {served.function_version})"

    def _record(
        self, deployment: Deployment, rollout: Rollout, outcome: str, message: str, previous: Served | None
    ) -> None:
        self._store.add_history(
            deployment.name,
            HistoryEntry(
                time=self._now(),
                rollout_id=rollout.id,
                outcome=outcome,
                reason=rollout.reason,
                model_version=rollout.target.model_version,
                run_id=rollout.target.run_id,
                function_version=rollout.function_version,
                previous_model_version=previous.model_version if previous else None,
                message=message,
                actor=rollout.actor,
            ),
        )


def _failed(answer: Invocation) -> bool:
    return answer.function_error is not None or answer.status >= 500
