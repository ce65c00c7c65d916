"""The model registry: registered models, versions, stages, aliases, and the promotion history MLflow lacks.
Mirrors the reference's model-registry SqlAlchemyStore and the checks its handlers make."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from stratus.domain import messages
from stratus.domain import registry_rules as rules
from stratus.domain.entities import STAGES, ModelVersion, PromotionEvent, RegisteredModel, latest_per_stage
from stratus.domain.model_sources import (
    ModelSource,
    lineage_mismatch,
    prompt_as_source,
    validate_model_version_source,
)
from stratus.domain.paging import paginate
from stratus.domain.ports import RegistrySnapshot, RegistryStore, TrackingStore
from stratus.domain.services.experiments import now_ms
from stratus.domain.services.logged_models import LoggedModelService
from stratus.errors import InvalidParameterValue, ResourceAlreadyExists, ResourceDoesNotExist
from stratus.observability import MetricName, count

if TYPE_CHECKING:
    from stratus.domain.search.registry import ModelVersionQuery

PROMPT_TAG = "mlflow.prompt.is_prompt"
MODEL_VERSIONS_TAG = "mlflow.modelVersions"
HISTORY_DEFAULT = 100
_PARALLEL_READS = 8
_RUNS_LOOKED_UP = 25
"""Up to this many runs pinned by a version search are looked up in the run index (1 Query each, then 2 requests per
model found); more, and reading every model (1 Query each) is likely cheaper."""


def _is_prompt(tags: dict[str, str]) -> bool:
    return tags.get(PROMPT_TAG, "false").lower() == "true"


class RegistryService:
    """Everything the registry routes do. ``actor`` arguments name the caller (IAM principal or local user)."""

    def __init__(
        self,
        store: RegistryStore,
        logged_models: LoggedModelService,
        runs: TrackingStore,
        artifact_bucket: str,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._store = store
        self._logged_models = logged_models
        self._runs = runs
        self._bucket = artifact_bucket
        self._clock = clock

    # ---------------------------------------------------------------- registered models

    def create_model(self, name: str, tags: dict[str, str], description: str | None) -> RegisteredModel:
        rules.validate_model_name(name)
        for key, value in tags.items():
            rules.validate_tag(key, value)
        now = self._clock()
        model = RegisteredModel(name, now, now, description or None, dict(tags))
        try:
            self._store.create_model(model)
        except ResourceAlreadyExists:
            existing = self._store.get_model(name)
            existing_is_prompt = _is_prompt(existing.tags) if existing else False
            raise ResourceAlreadyExists(
                rules.model_already_exists(name, existing_is_prompt=existing_is_prompt, new_is_prompt=_is_prompt(tags))
            ) from None
        return model

    def get_model(self, name: str) -> RegisteredModel:
        rules.validate_model_name(name)
        model = self._store.get_model_and_latest(name)
        if model is None:
            raise ResourceDoesNotExist(rules.model_not_found(name))
        return model

    def _require_model(self, name: str) -> RegisteredModel:
        model = self._store.get_model(name)
        if model is None:
            raise ResourceDoesNotExist(rules.model_not_found(name))
        return model

    def search_models(
        self, filter_string: str | None, max_results: object, order_by: list[str], page_token: str | None
    ) -> tuple[list[RegisteredModel], str | None]:
        from stratus.domain.search.registry import (
            compile_registered_model_search,
            validate_registered_model_max_results,
        )

        limit = validate_registered_model_max_results(max_results)
        query = compile_registered_model_search(filter_string, order_by)
        models = self._store.list_models()
        page, token = paginate(query.apply(models), page_token, limit)
        with ThreadPoolExecutor(max_workers=_PARALLEL_READS) as pool:
            versions = list(pool.map(self._store.list_versions, [m.name for m in page]))
        for model, model_versions in zip(page, versions, strict=True):
            model.latest_versions = latest_per_stage(model_versions)
        count(MetricName.MODEL_SEARCHES)
        count(MetricName.MODEL_SEARCH_ITEMS_READ, len(models) + sum(map(len, versions)))
        return page, token

    def update_model(self, name: str, description: str | None) -> RegisteredModel:
        def change(snapshot: RegistrySnapshot) -> list[PromotionEvent]:
            snapshot.model.description = description or None
            snapshot.model.last_updated_timestamp = self._clock()
            return []

        return self._modify(name, change, versions=[]).model

    def rename_model(self, name: str, new_name: str) -> RegisteredModel:
        if new_name is None or str(new_name).strip() == "":
            raise InvalidParameterValue(messages.missing_value("new_name"))
        rules.validate_model_name(new_name, "new_name")
        rules.validate_model_name(name)
        if self._store.get_model(new_name) is not None and new_name != name:
            raise ResourceAlreadyExists(f"Registered Model (name={new_name}) already exists.")
        return self._store.rename_model(name, new_name, self._clock())

    def delete_model(self, name: str) -> None:
        rules.validate_model_name(name)
        self._require_model(name)
        self._store.delete_model(name)

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        rules.validate_model_name(name)
        rules.validate_tag(key, value)

        def change(snapshot: RegistrySnapshot) -> list[PromotionEvent]:
            snapshot.model.tags[key] = value
            return []

        self._modify(name, change, versions=[])

    def delete_model_tag(self, name: str, key: str) -> None:
        rules.validate_model_name(name)

        def change(snapshot: RegistrySnapshot) -> list[PromotionEvent]:
            snapshot.model.tags.pop(key, None)
            return []

        self._modify(name, change, versions=[])

    def get_latest_versions(self, name: str, stages: list[str]) -> list[ModelVersion]:
        model = self.get_model(name)
        wanted = {rules.canonical_stage(s) for s in stages} if stages else set(STAGES)
        latest = [v for v in model.latest_versions if v.current_stage in wanted]
        for v in latest:  # only this call fills them in, as in the reference
            v.aliases = sorted(a for a, n in model.aliases.items() if n == v.version)
        return latest

    # ---------------------------------------------------------------- versions

    def create_version(  # noqa: PLR0913 - the request's fields
        self,
        name: str,
        source: str,
        run_id: str | None,
        tags: dict[str, str],
        run_link: str | None,
        description: str | None,
        model_id: str | None,
    ) -> ModelVersion:
        rules.validate_model_name(name)
        for key, value in tags.items():
            rules.validate_tag(key, value)
        is_prompt = _is_prompt(tags)
        resolved = validate_model_version_source(
            source, bucket=self._bucket, run_id=run_id, model_id=model_id, is_prompt=is_prompt
        )
        run_id, model_id, storage_location = self._lineage(source, resolved, run_id or None, model_id or None)
        self._require_model(name)
        now = self._clock()

        def build(number: int) -> ModelVersion:
            return ModelVersion(
                name=name,
                version=number,
                creation_timestamp=now,
                last_updated_timestamp=now,
                source=source,
                run_id=run_id or "",  # the reference stores "" when there is none, and search compares it
                model_id=model_id or None,
                storage_location=storage_location,
                run_link=run_link or None,
                description=description or None,
                tags=dict(tags),
            )

        version = self._store.create_version(name, build, now)
        if model_id and not is_prompt:
            self._link_logged_model(model_id, name, version.version)
        return version

    def register_upload(
        self, name: str, source: str, run_id: str | None, tags: dict[str, str], *, ready: bool
    ) -> ModelVersion:
        """A version for a model folder dropped in the stack's own bucket (S3-driven registration): the model is
        created if absent; the source is trusted (the caller derived it from the notification's key), and the
        version is PENDING_REGISTRATION until every file its MLmodel names is present."""
        rules.validate_model_name(name)
        if self._store.get_model(name) is None:
            with contextlib.suppress(ResourceAlreadyExists):  # created meanwhile by another drop
                self.create_model(name, {}, None)
        now = self._clock()

        def build(number: int) -> ModelVersion:
            return ModelVersion(
                name=name,
                version=number,
                creation_timestamp=now,
                last_updated_timestamp=now,
                source=source,
                run_id=run_id or "",
                status="READY" if ready else "PENDING_REGISTRATION",
                tags=dict(tags),
            )

        return self._store.create_version(name, build, now)

    def mark_ready(self, name: str, version: int) -> None:
        def edit(snapshot: RegistrySnapshot, target: ModelVersion) -> list[PromotionEvent]:
            target.status = "READY"
            target.status_message = None
            target.last_updated_timestamp = self._clock()
            return []

        self._change_version(name, version, edit)

    def _lineage(
        self, source: str, resolved: ModelSource, run_id: str | None, model_id: str | None
    ) -> tuple[str | None, str | None, str | None]:
        """Check that what the source names exists and holds it; return the version's run_id, model_id and the
        location get-download-uri answers (None: the source itself), as the reference fills them."""
        if resolved.kind == "prompt":
            return run_id, model_id, None
        if resolved.kind == "model_version":
            origin = self.get_version(resolved.name or "", resolved.version or "")
            if _is_prompt(self._require_model(origin.name).tags):
                raise prompt_as_source(source)
            if (run_id and run_id != origin.run_id) or (model_id and model_id != origin.model_id):
                raise lineage_mismatch(source)
            return origin.run_id, origin.model_id, origin.storage_location or origin.source
        if resolved.owner_kind == "model":
            logged = self._logged_models.get(resolved.model_id or "")
            if not resolved.lies_within(logged.artifact_uri, bucket=self._bucket):
                raise InvalidParameterValue(
                    f"Invalid model version source: '{source}' is not inside model {logged.model_id}."
                )
            location = logged.artifact_uri if source.startswith("models:/") else None
            return run_id or logged.source_run_id, logged.model_id, location
        if resolved.kind == "run":
            return run_id, model_id, None  # runs:/<run_id>: the reference checks only that run_id is the source's
        run = self._runs.get_run(resolved.run_id or "")
        if run is None:
            raise ResourceDoesNotExist(f"Run with id={resolved.run_id} not found")
        if not resolved.lies_within(run.info.artifact_uri, bucket=self._bucket):
            raise InvalidParameterValue(f"Invalid model version source: '{source}' is not inside run {run.run_id}.")
        return run.run_id, model_id, None

    def _link_logged_model(self, model_id: str, name: str, version: int) -> None:
        """The reference tags the logged model with the versions registered from it (``mlflow.modelVersions``)."""
        entry = {"name": name, "version": version}  # a number, as the reference writes it
        model = self._logged_models.get(model_id)
        existing = json.loads(model.tags.get(MODEL_VERSIONS_TAG, "[]"))
        listed = {(e.get("name"), str(e.get("version"))) for e in existing if isinstance(e, dict)}
        # Entries written before 2026-12 hold the version as a string until the table's upgrade (migration 2,
        # store/dynamodb/migrations) has passed them; read both ways meanwhile.
        if (name, str(version)) not in listed:
            self._logged_models.set_tags(model_id, [(MODEL_VERSIONS_TAG, json.dumps([*existing, entry]))])

    def get_version(self, name: str, version: str | int) -> ModelVersion:
        rules.validate_model_name(name)
        number = rules.validate_version(version)
        found = self._store.get_version(name, number)
        if found is None:
            raise ResourceDoesNotExist(rules.version_not_found(name, number))
        model = self._require_model(name)
        found.aliases = sorted(a for a, v in model.aliases.items() if v == number)
        return found

    def get_download_uri(self, name: str, version: str | int) -> str:
        found = self.get_version(name, version)
        return found.storage_location or found.source

    def _change_version(
        self,
        name: str,
        version: str | int,
        edit: Callable[[RegistrySnapshot, ModelVersion], list[PromotionEvent]],
        *,
        all_versions: bool = False,
    ) -> ModelVersion | None:
        """Apply ``edit`` to one version (and, with ``all_versions``, see its siblings); the version after, or None
        if the edit deleted it."""
        rules.validate_model_name(name)
        number = rules.validate_version(version)

        def change(snapshot: RegistrySnapshot) -> list[PromotionEvent]:
            target = snapshot.versions.get(number)
            if target is None:
                raise ResourceDoesNotExist(rules.version_not_found(name, number))
            return edit(snapshot, target)

        snapshot = self._modify(name, change, versions=None if all_versions else [number])
        result = snapshot.versions.get(number)
        if result is not None:
            result.aliases = sorted(a for a, v in snapshot.model.aliases.items() if v == number)
        return result

    def update_version(self, name: str, version: str | int, description: str | None) -> ModelVersion:
        def edit(snapshot: RegistrySnapshot, target: ModelVersion) -> list[PromotionEvent]:
            target.description = description or None
            target.last_updated_timestamp = self._clock()
            return []

        return _existing(self._change_version(name, version, edit))

    def transition_stage(
        self, name: str, version: str | int, stage: str, archive_existing: bool, actor: str
    ) -> ModelVersion:
        canonical = rules.canonical_stage(stage)
        if archive_existing and canonical not in rules.ACTIVE_STAGES:
            raise InvalidParameterValue(rules.archive_needs_active_stage(stage))

        def edit(snapshot: RegistrySnapshot, target: ModelVersion) -> list[PromotionEvent]:
            now = self._clock()
            events = []
            if archive_existing:
                for other in snapshot.versions.values():
                    if other.version != target.version and other.current_stage == canonical:
                        events.append(self._event(name, other.version, "stage", other.current_stage, "Archived", actor))
                        other.current_stage = "Archived"
                        other.last_updated_timestamp = now
            events.append(self._event(name, target.version, "stage", target.current_stage, canonical, actor))
            target.current_stage = canonical
            target.last_updated_timestamp = now
            snapshot.model.last_updated_timestamp = now
            return events

        return _existing(self._change_version(name, version, edit, all_versions=archive_existing))

    def delete_version(self, name: str, version: str | int, actor: str) -> None:
        def edit(snapshot: RegistrySnapshot, target: ModelVersion) -> list[PromotionEvent]:
            events = []
            for alias, points_to in list(snapshot.model.aliases.items()):
                if points_to == target.version:
                    del snapshot.model.aliases[alias]
                    events.append(
                        self._event(name, target.version, "alias_deleted", str(points_to), None, actor, alias)
                    )
            del snapshot.versions[target.version]
            snapshot.model.last_updated_timestamp = self._clock()
            return events

        self._change_version(name, version, edit)

    def set_version_tag(self, name: str, version: str | int, key: str, value: str) -> None:
        rules.validate_tag(key, value)

        def edit(snapshot: RegistrySnapshot, target: ModelVersion) -> list[PromotionEvent]:
            target.tags[key] = value
            return []

        self._change_version(name, version, edit)

    def delete_version_tag(self, name: str, version: str | int, key: str) -> None:
        def edit(snapshot: RegistrySnapshot, target: ModelVersion) -> list[PromotionEvent]:
            target.tags.pop(key, None)
            return []

        self._change_version(name, version, edit)

    def search_versions(
        self, filter_string: str | None, max_results: object, order_by: list[str], page_token: str | None
    ) -> tuple[list[ModelVersion], str | None]:
        from stratus.domain.search.registry import compile_model_version_search, validate_model_version_max_results

        limit = validate_model_version_max_results(max_results)
        query = compile_model_version_search(filter_string, order_by)
        candidates = self._candidate_versions(query)
        count(MetricName.MODEL_SEARCHES)
        count(MetricName.MODEL_SEARCH_ITEMS_READ, len(candidates))
        # The reference's search answers carry no aliases (it builds versions without them).
        return paginate(query.apply(candidates), page_token, limit)

    def versions_of_runs(self, run_ids: Collection[str]) -> dict[str, list[ModelVersion]]:
        """Each run's versions as ``search_model_versions("run_id = '<id>'")`` answers them (what the web UI shows
        on a run's page), for all of ``run_ids`` at once."""
        from stratus.domain.search.registry import model_versions_of_runs_query

        query = model_versions_of_runs_query(run_ids)
        grouped: dict[str, list[ModelVersion]] = {}
        for version in query.apply(self._candidate_versions(query)):
            grouped.setdefault(version.run_id or "", []).append(version)
        return grouped

    def _candidate_versions(self, query: ModelVersionQuery) -> list[ModelVersion]:
        """Every version of each model whose versions may match ``query`` (all of a model's versions: one tagged as
        a prompt hides the others). A few pinned runs are looked up in the run index; otherwise every model is read."""
        if query.run_ids is not None and len(query.run_ids) <= _RUNS_LOOKED_UP:
            with ThreadPoolExecutor(max_workers=_PARALLEL_READS) as pool:
                found = list(pool.map(self._store.versions_of_models_with_run, sorted(query.run_ids)))
            if all(versions is not None for versions in found):
                unique = {(v.name, v.version): v for versions in found if versions for v in versions}
                return [v for v in unique.values() if query.model_name in (None, v.name)]
        if query.model_name is not None:  # name = 'x': read that model only
            return self._store.list_versions(query.model_name)
        return self._store.all_versions()

    # ---------------------------------------------------------------- aliases

    def set_alias(self, name: str, alias: str, version: str | int, actor: str) -> None:
        rules.validate_model_name(name)
        rules.validate_alias(alias, for_write=True)
        number = rules.validate_version(version)

        def change(snapshot: RegistrySnapshot) -> list[PromotionEvent]:
            if number not in snapshot.versions:
                raise ResourceDoesNotExist(rules.version_not_found(name, number))
            before = snapshot.model.aliases.get(alias)
            if before == number:
                return []
            snapshot.model.aliases[alias] = number
            kind = "alias_set" if before is None else "alias_moved"
            return [self._event(name, number, kind, None if before is None else str(before), str(number), actor, alias)]

        self._modify(name, change, versions=[number])

    def delete_alias(self, name: str, alias: str, actor: str) -> None:
        rules.validate_model_name(name)
        rules.validate_alias(alias)

        def change(snapshot: RegistrySnapshot) -> list[PromotionEvent]:
            before = snapshot.model.aliases.pop(alias, None)
            if before is None:
                return []
            return [self._event(name, before, "alias_deleted", str(before), None, actor, alias)]

        self._modify(name, change, versions=[])

    def get_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        rules.validate_model_name(name)
        rules.validate_alias(alias)
        model = self._require_model(name)
        if alias.lower() == "latest":
            versions = self._store.list_versions(name)
            if not versions:
                raise ResourceDoesNotExist(f"Latest version not found for model {name}.")
            return self.get_version(name, max(v.version for v in versions))
        number = model.aliases.get(alias)
        if number is None:
            raise InvalidParameterValue(rules.alias_not_found(alias))
        return self.get_version(name, number)

    # ---------------------------------------------------------------- history

    def history(
        self, name: str, version: str | int | None, max_results: int | None, page_token: str | None
    ) -> tuple[list[PromotionEvent], str | None]:
        rules.validate_model_name(name)
        self._require_model(name)
        events = self._store.history(name)
        if version not in (None, ""):
            number = rules.validate_version(version)
            events = [e for e in events if e.version == number]
        limit = max_results or HISTORY_DEFAULT
        if not 1 <= limit <= 1000:
            raise InvalidParameterValue(f"max_results must be between 1 and 1000, got {limit}.")
        return paginate(events, page_token, limit)

    # ---------------------------------------------------------------- helpers

    def _modify(
        self, name: str, change: Callable[[RegistrySnapshot], list[PromotionEvent]], versions: list[int] | None
    ) -> RegistrySnapshot:
        return self._store.modify(name, change, versions)

    def _event(  # noqa: PLR0913 - the fields of an event
        self,
        name: str,
        version: int,
        kind: str,
        before: str | None,
        after: str | None,
        actor: str,
        alias: str | None = None,
    ) -> PromotionEvent:
        return PromotionEvent(name, version, kind, before, after, actor, self._clock(), alias, uuid.uuid4().hex)


def _existing(version: ModelVersion | None) -> ModelVersion:
    if version is None:  # only a delete removes the version it edits
        raise RuntimeError("the edited version disappeared")
    return version
