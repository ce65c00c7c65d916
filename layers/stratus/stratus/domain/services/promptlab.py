"""``runs/create-promptlab-run``: the web UI's prompt lab records one prompt, its model call and the answer as a
finished run, as the reference's ``create_promptlab_run_handler`` does."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from stratus.domain import promptlab
from stratus.domain.entities import Run
from stratus.domain.promptlab import PromptlabModel, PromptlabRun, PythonEnvironment
from stratus.domain.services.artifacts import ArtifactService
from stratus.domain.services.experiments import now_ms
from stratus.domain.services.runs import RunService
from stratus.errors import InvalidParameterValue, StratusError


def _utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class PromptlabService:
    """Creates a prompt-engineering run: the run, its params and tags, its ``model`` folder and evaluation table."""

    def __init__(  # noqa: PLR0913 - the clocks and ids are injected for tests
        self,
        runs: RunService,
        artifacts: ArtifactService,
        *,
        clock: Callable[[], int] = now_ms,
        utc_now: Callable[[], str] = _utc_now,
        new_model_uuid: Callable[[], str] = lambda: uuid.uuid4().hex,
        environment: PythonEnvironment | None = None,
    ) -> None:
        self._runs = runs
        self._artifacts = artifacts
        self._clock = clock
        self._utc_now = utc_now
        self._new_model_uuid = new_model_uuid
        self._environment = environment

    def create_run(self, request: PromptlabRun, *, caller: str | None = None) -> Run:
        """The reference's order: refuse a request missing a required field (nothing is created); create the run
        (an unknown or deleted experiment refuses it); then log its params and tags and write its artifacts. A
        failure there does not fail the request: the run ends ``FAILED`` instead of ``FINISHED``, and is returned.
        ``caller`` is the authenticated user, who then owns the run (as ``runs/create`` decides)."""
        missing = request.missing_field()
        if missing:
            raise InvalidParameterValue(f"CreatePromptlabRun request must specify {missing}.")
        user_id = "unknown" if request.user_id is None else request.user_id
        run = self._runs.create(
            request.experiment_id, user_id, request.start_time, dict(request.tags), request.run_name, caller=caller
        )
        status = "FINISHED"
        try:
            self._record(run, request)
        except StratusError:
            status = "FAILED"
        self._runs.update(run.run_id, status, self._clock(), request.run_name)
        return self._runs.get(run.run_id)

    def _record(self, run: Run, request: PromptlabRun) -> None:
        model = PromptlabModel(run.run_id, self._new_model_uuid(), self._utc_now())
        self._runs.log_batch(run.run_id, [], promptlab.params_to_log(request), promptlab.tags_to_log(model))
        environment = self._environment or PythonEnvironment.current()
        files = promptlab.artifact_files(request, model, environment)
        self._artifacts.write_run_files(run.run_id, run.info.artifact_uri, files)
