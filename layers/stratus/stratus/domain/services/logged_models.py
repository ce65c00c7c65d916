"""MLflow 3 logged models: what ``log_model`` creates, finalizes, tags and searches. Mirrors the reference's
SqlAlchemyStore (``create_logged_model`` ... ``search_logged_models``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable

from stratus.domain import messages
from stratus.domain.entities import ACTIVE, DELETED, LOGGED_MODEL_STATUSES, LoggedModel, ModelMetric
from stratus.domain.names import random_run_name
from stratus.domain.paging import paginate
from stratus.domain.ports import LoggedModelStore
from stratus.domain.services.experiments import ExperimentService, now_ms
from stratus.errors import InvalidParameterValue, ResourceDoesNotExist
from stratus.observability import MetricName, count

SEARCH_DEFAULT_MAX_RESULTS = 100
_BAD_NAME_CHARS = ("/", ":", ".", "%", '"', "'")


def parse_status(status: str | int) -> str:
    """A ``LoggedModelStatus`` given by name (proto JSON) or number."""
    if isinstance(status, int) and not isinstance(status, bool) and 0 <= status < len(LOGGED_MODEL_STATUSES):
        return LOGGED_MODEL_STATUSES[status]
    if isinstance(status, str) and status in LOGGED_MODEL_STATUSES:
        return status
    raise InvalidParameterValue(f"Invalid value {status!r} for parameter 'status' supplied.")


def new_model_id() -> str:
    return f"m-{uuid.uuid4().hex}"


class LoggedModelService:
    """Everything the logged-models routes do."""

    def __init__(
        self, store: LoggedModelStore, experiments: ExperimentService, clock: Callable[[], int] = now_ms
    ) -> None:
        self._store = store
        self._experiments = experiments
        self._clock = clock

    def create(  # noqa: PLR0913 - the request's fields
        self,
        experiment_id: str,
        name: str | None,
        model_type: str | None,
        source_run_id: str | None,
        tags: dict[str, str],
        params: dict[str, str],
    ) -> LoggedModel:
        if name is not None and (not name or any(c in name for c in _BAD_NAME_CHARS)):
            raise InvalidParameterValue(messages.logged_model_bad_name(name))
        experiment = self._experiments.get(experiment_id)
        if experiment.lifecycle_stage != ACTIVE:
            raise InvalidParameterValue(messages.experiment_not_active(experiment.experiment_id))
        model_id = new_model_id()
        now = self._clock()
        model = LoggedModel(
            model_id=model_id,
            experiment_id=experiment.experiment_id,
            name=name or random_run_name(),
            artifact_uri=f"{experiment.artifact_location.rstrip('/')}/models/{model_id}/artifacts",
            creation_timestamp_ms=now,
            last_updated_timestamp_ms=now,
            model_type=model_type or None,
            source_run_id=source_run_id or None,
            tags=dict(tags),
            params=dict(params),
        )
        self._store.insert_logged_model(model)
        return model

    def get(self, model_id: str, *, allow_deleted: bool = False) -> LoggedModel:
        model = self._store.get_logged_model(model_id)
        if model is None or (model.lifecycle_stage == DELETED and not allow_deleted):
            raise ResourceDoesNotExist(messages.logged_model_not_found(model_id))
        return model

    def _modify(self, model_id: str, change: Callable[[LoggedModel], None]) -> LoggedModel:
        def guarded(model: LoggedModel) -> None:
            if model.lifecycle_stage == DELETED:
                raise ResourceDoesNotExist(messages.logged_model_not_found(model_id))
            change(model)

        return self._store.modify_logged_model(model_id, guarded)

    def finalize(self, model_id: str, status: str | int) -> LoggedModel:
        new_status = parse_status(status)

        def change(model: LoggedModel) -> None:
            model.status = new_status
            model.last_updated_timestamp_ms = self._clock()

        return self._modify(model_id, change)

    def delete(self, model_id: str) -> None:
        def change(model: LoggedModel) -> None:
            model.lifecycle_stage = DELETED
            model.last_updated_timestamp_ms = self._clock()

        self._modify(model_id, change)

    def set_tags(self, model_id: str, tags: Iterable[tuple[str, str]]) -> None:
        self._modify(model_id, lambda model: model.tags.update(dict(tags)))

    def delete_tag(self, model_id: str, key: str) -> None:
        def change(model: LoggedModel) -> None:
            if key not in model.tags:
                raise ResourceDoesNotExist(messages.logged_model_tag_not_found(key, model_id))
            del model.tags[key]

        self._modify(model_id, change)

    def log_params(self, model_id: str, params: Iterable[tuple[str, str]]) -> None:
        self._modify(model_id, lambda model: model.params.update(dict(params)))

    def log_metrics(self, run_id: str, metrics: list[ModelMetric]) -> None:
        """Metrics of a ``log-batch`` (of run ``run_id``) that name a logged model: kept on that model's
        ``data.metrics``, identical points once."""
        del run_id  # each point carries it
        for model_id in dict.fromkeys(m.model_id for m in metrics if m.model_id):
            points = [m for m in metrics if m.model_id == model_id]

            def change(model: LoggedModel, points: list[ModelMetric] = points) -> None:
                known = set(model.metrics)
                model.metrics.extend(p for p in points if p not in known)

            try:
                self._store.modify_logged_model(model_id, change)
            except ResourceDoesNotExist:
                continue  # the reference keeps such points in a table nobody reads; we drop them

    def search(  # noqa: PLR0913 - the request's fields
        self,
        experiment_ids: list[str],
        filter_string: str | None,
        datasets: list[dict] | None,
        max_results: int | None,
        order_by: list[dict] | None,
        page_token: str | None,
    ) -> tuple[list[LoggedModel], str | None]:
        # on first use: the search grammar and sqlparse are ~7% of a cold import, and most requests never search
        from stratus.domain.search.logged_models import compile_logged_model_search

        query = compile_logged_model_search(filter_string, order_by, datasets)
        examined: list[LoggedModel] = []
        for experiment_id in dict.fromkeys(experiment_ids):
            examined.extend(self._store.list_logged_models(experiment_id))
        count(MetricName.MODEL_SEARCHES)
        count(MetricName.MODEL_SEARCH_ITEMS_READ, len(examined))
        models = [m for m in examined if m.lifecycle_stage == ACTIVE]
        return paginate(query.apply(models), page_token, max_results or SEARCH_DEFAULT_MAX_RESULTS)
