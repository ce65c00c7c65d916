"""Logged models (MLflow 3) and the model registry, copied after the runs they point at."""

from __future__ import annotations

from mlflow.entities import LoggedModel, LoggedModelOutput, LoggedModelStatus
from mlflow.entities.model_registry import ModelVersion, RegisteredModel
from mlflow.exceptions import MlflowException

from stratus_local.migrate.artifacts import copy_artifacts
from stratus_local.migrate.copier import (
    COPYING,
    ITEM_ERRORS,
    PAGE,
    SOURCE_MODEL_TAG,
    STATE_TAG,
    Migration,
    pages,
    reason,
)

NO_STAGE = "None"
MODEL_VERSIONS_TAG = "mlflow.modelVersions"  # the registered versions a logged model backs


def copy_logged_models(migration: Migration, source_experiment: str, destination_experiment: str) -> None:
    source, destination = migration.source.client, migration.destination.client
    models = list(
        pages(lambda token: source.search_logged_models([source_experiment], max_results=100, page_token=token))
    )
    copied: dict[str, LoggedModel] = {}
    found = pages(lambda token: destination.search_logged_models(
        [destination_experiment], max_results=100, page_token=token
    ))  # fmt: skip
    for model in found:
        source_id = model.tags.get(SOURCE_MODEL_TAG)
        if source_id is None:
            continue
        if model.tags.get(STATE_TAG) == COPYING:
            destination.delete_logged_model(model.model_id)  # interrupted: copied again below
        else:
            copied[source_id] = model

    def copy_one(model: LoggedModel) -> None:
        done = copied.get(model.model_id)
        if done is not None:
            _remember(migration, model, done)
            migration.summary.count_skipped("logged models")
            return
        try:
            _write_logged_model(migration, model, destination_experiment)
        except ITEM_ERRORS as exc:
            migration.summary.refuse("logged model", model.model_id, reason(exc))
            return
        migration.summary.count_copied("logged models")

    migration.in_parallel("logged models", models, copy_one)


def _remember(migration: Migration, model: LoggedModel, copy: LoggedModel) -> None:
    migration.model_ids[model.model_id] = copy.model_id
    migration.model_artifact_uris[model.model_id] = (model.artifact_location, copy.artifact_location)
    if MODEL_VERSIONS_TAG in model.tags:
        migration.model_versions_tags[copy.model_id] = model.tags[MODEL_VERSIONS_TAG]


def restore_model_versions_tags(migration: Migration) -> None:
    """The source's ``mlflow.modelVersions`` on each copied logged model. Registering a version with a model id
    makes a server append to that tag (a plain ``mlflow server`` writes the version as a string, the client's
    log_model as a number), so it is set once the registry is copied, to what the source says."""
    for model_id, value in migration.model_versions_tags.items():
        try:
            migration.destination.client.set_logged_model_tags(model_id, {MODEL_VERSIONS_TAG: value})
        except ITEM_ERRORS as exc:
            migration.summary.refuse("logged model", model_id, f"{MODEL_VERSIONS_TAG} not set: {reason(exc)}")


def _write_logged_model(migration: Migration, model: LoggedModel, destination_experiment: str) -> None:
    source, destination = migration.source, migration.destination
    run_id = migration.run_ids.get(model.source_run_id) if model.source_run_id else None
    copy = destination.client.create_logged_model(
        destination_experiment,
        name=model.name,
        source_run_id=run_id,
        tags={
            **{k: v for k, v in model.tags.items() if k != MODEL_VERSIONS_TAG},
            SOURCE_MODEL_TAG: model.model_id,
            STATE_TAG: COPYING,
        },
        params=model.params or None,
        model_type=model.model_type,
    )
    files, size = copy_artifacts(model.artifact_location, source.uri, copy.artifact_location, destination.uri)
    migration.summary.count_artifacts(files, size)
    if run_id is not None:
        outputs = source.client.get_run(model.source_run_id).outputs
        steps = [
            output.step for output in (outputs.model_outputs if outputs else []) if output.model_id == model.model_id
        ]
        if steps:
            destination.client.log_outputs(run_id, [LoggedModelOutput(copy.model_id, step) for step in steps])
    if LoggedModelStatus.is_finalized(model.status):
        destination.client.finalize_logged_model(copy.model_id, model.status)
    destination.client.delete_logged_model_tag(copy.model_id, STATE_TAG)
    if model.metrics:
        migration.summary.refuse(
            "logged model",
            model.model_id,
            f"{len(model.metrics)} metric(s) linked to it arrive as its run's metric points, not linked to the copy",
        )
    _remember(migration, model, copy)


def copy_registry(migration: Migration) -> None:
    """Registered models with their tags, description and aliases; versions in number order with stage, tags and
    description, their source pointing at the copied run's or logged model's artifacts."""
    source = migration.source.client
    models = list(pages(lambda token: source.search_registered_models(max_results=PAGE, page_token=token)))

    def copy_one(model: RegisteredModel) -> None:
        try:
            _copy_registered_model(migration, model)
        except ITEM_ERRORS as exc:
            migration.summary.refuse("registered model", repr(model.name), reason(exc))

    migration.in_parallel("registered models", models, copy_one)


def _copy_registered_model(migration: Migration, model: RegisteredModel) -> None:
    source, destination = migration.source.client, migration.destination.client
    existing = _registered_model_like(migration, model)
    versions = {int(v.version): v for v in _versions(source, model.name)}
    present = {int(v.version): v for v in _versions(destination, model.name)}
    _copy_versions(migration, model.name, versions, present)
    for alias, version in (model.aliases or {}).items():
        if (existing.aliases or {}).get(alias) != version:
            destination.set_registered_model_alias(model.name, alias, version)


def _registered_model_like(migration: Migration, model: RegisteredModel) -> RegisteredModel:
    """The destination's model of that name, created or brought to the source's description and tags."""
    destination = migration.destination.client
    try:
        existing = destination.get_registered_model(model.name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        destination.create_registered_model(model.name, tags=model.tags, description=model.description)
        migration.summary.count_copied("registered models")
        return destination.get_registered_model(model.name)
    migration.summary.count_skipped("registered models")
    if (existing.description or "") != (model.description or ""):
        destination.update_registered_model(model.name, description=model.description)
    for key, value in model.tags.items():
        if existing.tags.get(key) != value:
            destination.set_registered_model_tag(model.name, key, value)
    return existing


def _copy_versions(
    migration: Migration, name: str, versions: dict[int, ModelVersion], present: dict[int, ModelVersion]
) -> None:
    """Numbers up to the destination's highest are there already (or were deleted again, as in the source)."""
    copied_up_to = max(present, default=0)
    for number in range(1, max(versions, default=0) + 1):
        if number > copied_up_to:
            _create_version(migration, name, number, versions.get(number))
        elif number in present and number in versions:
            migration.summary.count_skipped("model versions")
            _update_version(migration, versions[number], present[number])


def _versions(client, name: str) -> list[ModelVersion]:  # noqa: ANN001 - MlflowClient
    quoted = name.replace("'", "\\'")
    return list(pages(lambda token: client.search_model_versions(
        f"name='{quoted}'", max_results=PAGE, page_token=token
    )))  # fmt: skip


def _create_version(migration: Migration, name: str, number: int, version: ModelVersion | None) -> None:
    """Version ``number``; a number the source deleted is created and deleted again so later numbers match."""
    destination = migration.destination.client
    template = version or _latest_or_none(migration, name)
    source_uri, run_id, model_id = _rewritten_source(migration, template) if template else ("none", None, None)
    created = destination.create_model_version(
        name,
        source_uri,
        run_id=run_id,
        tags=version.tags if version else None,
        description=version.description if version else None,
        model_id=model_id,
    )
    if int(created.version) != number:
        migration.summary.refuse("model version", f"{name}/{number}", f"the destination numbered it {created.version}")
    if version is None:
        destination.delete_model_version(name, created.version)
        return
    if version.current_stage and version.current_stage != NO_STAGE:
        destination.transition_model_version_stage(name, created.version, version.current_stage)
    migration.summary.count_copied("model versions")


def _latest_or_none(migration: Migration, name: str) -> ModelVersion | None:
    versions = _versions(migration.source.client, name)
    return versions[0] if versions else None


def _update_version(migration: Migration, version: ModelVersion, present: ModelVersion) -> None:
    destination = migration.destination.client
    if (present.description or "") != (version.description or ""):
        destination.update_model_version(version.name, present.version, description=version.description)
    for key, value in version.tags.items():
        if present.tags.get(key) != value:
            destination.set_model_version_tag(version.name, present.version, key, value)
    if (version.current_stage or NO_STAGE) != (present.current_stage or NO_STAGE):
        destination.transition_model_version_stage(version.name, present.version, version.current_stage)


def _model_in(source: str) -> str | None:
    """The logged model id in a ``models:/<id>`` source (a version's model_id field may be absent)."""
    if not source.startswith("models:/m-"):
        return None
    return source.removeprefix("models:/").split("/", 1)[0]


def _rewritten_source(migration: Migration, version: ModelVersion) -> tuple[str, str | None, str | None]:
    """The version's source, run id and logged model id as the destination knows them."""
    source = version.source
    run_id = migration.run_ids.get(version.run_id) if version.run_id else None
    source_model = version.model_id or _model_in(source)
    model_id = migration.model_ids.get(source_model) if source_model else None
    if model_id and source.startswith(f"models:/{source_model}"):
        return source.replace(source_model, model_id, 1), run_id, model_id
    if run_id and source.startswith(f"runs:/{version.run_id}"):
        return source.replace(version.run_id, run_id, 1), run_id, model_id
    for old, new in [*migration.model_artifact_uris.values(), *migration.run_artifact_uris.values()]:
        if old and source.startswith(old):
            return new + source[len(old) :], run_id, model_id
    return source, run_id, model_id
