"""MLflow 3 GenAI evaluation datasets (``/api/3.0/mlflow/datasets*``), as the reference's SqlAlchemyStore answers
them (``create_dataset`` ... ``remove_dataset_from_experiments``); the rules are ``domain.datasets``."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable
from typing import Any

from stratus.domain import datasets as rules
from stratus.domain import messages, validation
from stratus.domain.datasets import DatasetRecord, EvaluationDataset
from stratus.domain.paging import paginate, parse_page_token
from stratus.domain.ports import DatasetStore
from stratus.domain.services.experiments import ExperimentService, now_ms
from stratus.errors import InvalidParameterValue, ResourceDoesNotExist

RECORDS_DEFAULT_MAX_RESULTS = 1000
RECORDS_PAGE_MAX_BYTES = 4 * 1024 * 1024
"""A records page reads at most this many bytes of bodies (and says more follow): Lambda answers at most 6 MB, and
the client asks for the next page until none is left."""
RECORDS_ANSWER_MAX_BYTES = 5 * 1024 * 1024
"""And it answers at most this many bytes as sent: the records' JSON inside a JSON string, escaped twice, so quotes
and non-ASCII text grow (a record alone on its page is sent whatever its size)."""


def not_found(dataset_id: str) -> ResourceDoesNotExist:
    return ResourceDoesNotExist(f"Evaluation dataset with id '{dataset_id}' not found")


class EvaluationDatasetService:
    """Everything the datasets routes do."""

    def __init__(self, store: DatasetStore, experiments: ExperimentService, clock: Callable[[], int] = now_ms) -> None:
        self._store = store
        self._experiments = experiments
        self._clock = clock

    def create(self, name: str, experiment_ids: list[str], tags_json: str | None) -> EvaluationDataset:
        """A new dataset; its ``mlflow.user`` tag is its creator. The experiments are not checked (the reference
        links whatever ids it is given); the answer shows the tags as given, the store keeps them as text."""
        tags = rules.parse_tags(tags_json)
        now = self._clock()
        user = tags.get(rules.MLFLOW_USER)
        dataset = EvaluationDataset(
            dataset_id=f"{rules.DATASET_ID_PREFIX}{uuid.uuid4().hex}",
            name=name,
            digest=rules.dataset_digest(name, now),
            created_time=now,
            last_update_time=now,
            tags={k: str(v) for k, v in tags.items()},
            created_by=user,
            last_updated_by=user,
            experiment_ids=list(dict.fromkeys(str(e) for e in experiment_ids)),
        )
        self._store.insert_dataset(dataset)
        dataset.tags = tags
        return dataset

    def get(self, dataset_id: str) -> EvaluationDataset:
        dataset = self._store.get_dataset(dataset_id)
        if dataset is None:
            raise not_found(dataset_id)
        return dataset

    def delete(self, dataset_id: str) -> None:
        """Deleting a dataset that does not exist is no error."""
        dataset = self._store.get_dataset(dataset_id)
        if dataset is not None:
            self._store.delete_dataset(dataset)

    def search(
        self,
        experiment_ids: list[str],
        filter_string: str | None,
        max_results: int,
        order_by: list[str],
        page_token: str | None,
    ) -> tuple[list[EvaluationDataset], str | None]:
        """``max_results`` 0 is read as unset, which the reference then refuses as ``None``."""
        if max_results < 1:
            raise InvalidParameterValue(messages.max_results_not_positive(max_results or None))
        if max_results > validation.SEARCH_MAX_RESULTS_THRESHOLD:
            raise InvalidParameterValue(
                messages.max_results_above_limit(max_results, validation.SEARCH_MAX_RESULTS_THRESHOLD)
            )
        parse_page_token(page_token)
        clauses = rules.parse_dataset_filter(filter_string)
        ordered_by = list(order_by)
        rules.sort_datasets([], ordered_by)  # checks the order_by before reading anything
        if experiment_ids:
            ids = {i for e in dict.fromkeys(experiment_ids) for i in self._store.list_dataset_ids(str(e))}
        else:
            ids = set(self._store.list_dataset_ids(None))
        found = [d for d in self._store.get_datasets(ids) if all(rules.matches(d, c) for c in clauses)]
        return paginate(rules.sort_datasets(found, ordered_by), page_token, max_results)

    def set_tags(self, dataset_id: str, tags_json: str) -> None:
        """Upserts the tags given; a tag set to null is left as it is."""
        tags = rules.parse_tags(tags_json)

        def change(dataset: EvaluationDataset) -> None:
            dataset.tags.update({k: str(v) for k, v in tags.items() if v is not None})

        if self._store.modify_dataset(dataset_id, change) is None:
            raise ResourceDoesNotExist(f"Could not find evaluation dataset with ID {dataset_id}")

    def delete_tag(self, dataset_id: str, key: str) -> None:
        """No error for a dataset or tag that does not exist."""
        self._store.modify_dataset(dataset_id, lambda dataset: dataset.tags.pop(key, None))

    def experiment_ids(self, dataset_id: str) -> list[str]:
        """The dataset's experiments; none for a dataset that does not exist."""
        dataset = self._store.get_dataset(dataset_id)
        return list(dataset.experiment_ids) if dataset else []

    def add_to_experiments(self, dataset_id: str, experiment_ids: list[str]) -> EvaluationDataset:
        """Every experiment must exist (in any lifecycle stage); ids already linked are kept once."""
        self._require(dataset_id)
        wanted = [str(e) for e in experiment_ids]
        for experiment_id in wanted:
            self._require_experiment(experiment_id)
        now = self._clock()

        def change(dataset: EvaluationDataset) -> None:
            dataset.experiment_ids = list(dict.fromkeys([*dataset.experiment_ids, *wanted]))
            dataset.last_update_time = now

        return self._modified(dataset_id, change)

    def remove_from_experiments(self, dataset_id: str, experiment_ids: list[str]) -> EvaluationDataset:
        """Ids not linked are ignored; the update time moves only if a link went."""
        unwanted = {str(e) for e in experiment_ids}
        now = self._clock()

        def change(dataset: EvaluationDataset) -> None:
            kept = [e for e in dataset.experiment_ids if e not in unwanted]
            if len(kept) != len(dataset.experiment_ids):
                dataset.experiment_ids = kept
                dataset.last_update_time = now

        return self._modified(dataset_id, change)

    def upsert_records(self, dataset_id: str, records_json: str) -> tuple[int, int]:
        """(inserted, updated): records merge into the record with the same inputs, one after the other."""
        records = rules.parse_records(records_json)
        self.get(dataset_id)  # the reference fails on its foreign key (400) where the dataset is missing
        now = self._clock()
        keys = [rules.record_key(record.get("inputs", {})) for record in records]
        current: dict[str, DatasetRecord] = self._store.get_records(dataset_id, set(keys))
        existing = set(current)
        updated_by = None
        for key, record in zip(keys, records, strict=True):
            tags = record.get("tags")
            if tags and rules.MLFLOW_USER in tags:
                updated_by = tags[rules.MLFLOW_USER]
            if key in current:
                rules.merge_record(current[key], record, now)
            else:
                current[key] = rules.new_record(dataset_id, key, record, now)
        changed = {key: current[key] for key in dict.fromkeys(keys)}
        inserted = [key for key in changed if key not in existing]
        self._store.put_records(changed, inserted)

        def change(dataset: EvaluationDataset) -> None:
            dataset.num_records += len(inserted)
            dataset.schema = rules.updated_schema(dataset.schema, records)
            dataset.profile = rules.profile_of(dataset.num_records) or dataset.profile
            dataset.last_update_time = now
            dataset.last_updated_by = updated_by
            dataset.digest = rules.dataset_digest(dataset.name, now)

        self._modified(dataset_id, change)
        return len(inserted), len(records) - len(inserted)

    def records(
        self, dataset_id: str, max_results: int | None, page_token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Records by creation time then id, ``max_results`` (1000 by default) per page and fewer for large
        bodies; a dataset that does not exist has none. The token is the reference's ``<time>:<id>`` cursor."""
        limit = max_results or RECORDS_DEFAULT_MAX_RESULTS
        if limit < 0:  # the reference fails with a 500
            raise InvalidParameterValue(messages.max_results_not_positive(limit))
        after = _parse_record_cursor(page_token)
        page, more = self._store.list_records(dataset_id, after, limit, RECORDS_PAGE_MAX_BYTES)
        answer: list[dict[str, Any]] = []
        size = 0
        for record in page:
            as_dict = record.to_dict()
            size += len(json.dumps(json.dumps(as_dict)))
            if answer and size > RECORDS_ANSWER_MAX_BYTES:
                more = True
                break
            answer.append(as_dict)
        token = None
        if more and answer:
            last = page[len(answer) - 1]
            token = base64.b64encode(f"{last.created_time}:{last.dataset_record_id}".encode()).decode()
        return answer, token

    def delete_records(self, dataset_id: str, record_ids: list[str]) -> int:
        keys = {key for key in map(rules.record_key_of, record_ids) if key is not None}
        if not keys or self._store.get_dataset(dataset_id) is None:
            return 0
        deleted = self._store.delete_records(dataset_id, keys)
        if deleted:

            def change(dataset: EvaluationDataset) -> None:
                dataset.num_records = max(0, dataset.num_records - deleted)
                dataset.profile = rules.profile_after_delete(dataset.num_records)

            self._store.modify_dataset(dataset_id, change)
        return deleted

    def _require(self, dataset_id: str) -> None:
        if self._store.get_dataset(dataset_id) is None:
            raise ResourceDoesNotExist(f"Dataset '{dataset_id}' not found")

    def _require_experiment(self, experiment_id: str) -> None:
        if not experiment_id.isdigit():
            raise ResourceDoesNotExist(f"No Experiment with id={experiment_id}")
        try:
            self._experiments.get(experiment_id)
        except ResourceDoesNotExist:
            raise ResourceDoesNotExist(f"No Experiment with id={experiment_id}") from None

    def _modified(self, dataset_id: str, change: Callable[[EvaluationDataset], None]) -> EvaluationDataset:
        dataset = self._store.modify_dataset(dataset_id, change)
        if dataset is None:
            raise ResourceDoesNotExist(f"Dataset '{dataset_id}' not found")
        return dataset


def _parse_record_cursor(page_token: str | None) -> tuple[int, str] | None:
    if not page_token:
        return None
    try:
        created, _, record_id = base64.b64decode(page_token.encode(), validate=True).decode().partition(":")
        return int(created), record_id
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:  # the reference fails with a 500
        raise InvalidParameterValue(f"Invalid page token: {page_token!r}") from exc
