"""``EvaluationDatasetService`` against the in-memory store: the reference's rules for evaluation datasets (record
merges by inputs, schema, profile and digest, search filters and order, tags, experiment links) and its errors."""

from __future__ import annotations

import itertools
import json

import pytest

from stratus.domain.datasets import dataset_digest, record_id_of, record_key
from stratus.domain.services.datasets import EvaluationDatasetService
from stratus.domain.services.experiments import ExperimentService
from stratus.errors import InvalidParameterValue, ResourceDoesNotExist
from stratus.store.memory import InMemoryDatasetStore, InMemoryTrackingStore


@pytest.fixture
def service() -> EvaluationDatasetService:
    experiments = ExperimentService(InMemoryTrackingStore(), "mlflow-artifacts:")
    experiments.ensure_default_experiment()
    clock = itertools.count(1_000, 10)
    return EvaluationDatasetService(InMemoryDatasetStore(), experiments, clock=lambda: next(clock))


def _upsert(service: EvaluationDatasetService, dataset_id: str, *records: dict) -> tuple[int, int]:
    return service.upsert_records(dataset_id, json.dumps(list(records)))


def _records(service: EvaluationDatasetService, dataset_id: str) -> list[dict]:
    return service.records(dataset_id, None, None)[0]


def test_records_with_the_same_inputs_merge_in_order(service: EvaluationDatasetService) -> None:
    dataset = service.create("qa", [], json.dumps({"mlflow.user": "bob"}))
    assert (dataset.created_by, dataset.last_updated_by) == ("bob", "bob")

    counts = _upsert(
        service,
        dataset.dataset_id,
        {"inputs": {"q": "a"}, "expectations": {"x": 1}, "tags": {"t": "1"}},
        {"inputs": {"q": "b"}, "outputs": "out", "source": {"source_type": "trace", "source_data": {"trace_id": "tr"}}},
        {"inputs": {"q": "a"}, "expectations": {"y": 2}, "tags": {"mlflow.user": "al"}},
    )

    assert counts == (2, 1)
    a, b = sorted(_records(service, dataset.dataset_id), key=lambda r: r["inputs"]["q"])
    assert a["dataset_record_id"] == record_id_of(record_key({"q": "a"}))
    assert (a["expectations"], a["tags"], a["outputs"]) == ({"x": 1, "y": 2}, {"t": "1", "mlflow.user": "al"}, {})
    assert a["last_updated_by"] == "al" and "created_by" not in a
    assert (b["source_type"], b["source_id"], b["outputs"]) == ("TRACE", "tr", "out")

    after = service.get(dataset.dataset_id)
    assert after.profile == '{"num_records": 2}'
    assert json.loads(after.schema) == {
        "inputs": {"q": "string"},
        "outputs": "string",
        "expectations": {"x": "integer", "y": "integer"},
        "version": "1.0",
    }
    assert after.digest == dataset_digest("qa", after.last_update_time) != dataset.digest
    assert after.last_updated_by == "al"


def test_outputs_given_as_null_clear_them_and_an_upsert_without_user_clears_the_updater(
    service: EvaluationDatasetService,
) -> None:
    dataset_id = service.create("qa", [], json.dumps({"mlflow.user": "bob"})).dataset_id
    _upsert(service, dataset_id, {"inputs": {"q": "a"}, "outputs": {"o": 1}})
    _upsert(service, dataset_id, {"inputs": {"q": "a"}, "outputs": None})

    (record,) = _records(service, dataset_id)
    assert "outputs" not in record
    assert service.get(dataset_id).last_updated_by is None


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ("not json", "Invalid JSON in field 'records'"),
        ('{"inputs": {}}', "must be a JSON list of objects"),
        ('[{"inputs": {}, "source": {"source_type": "BAD"}}]', "Invalid dataset record source type: BAD."),
        ('[{"inputs": {}, "source": {"source_type": "CODE", "extra": 1}}]', "Unknown fields in record source"),
    ],
)
def test_bad_records_are_a_400(service: EvaluationDatasetService, records: str, message: str) -> None:
    dataset_id = service.create("qa", [], None).dataset_id
    with pytest.raises(InvalidParameterValue, match=message):
        service.upsert_records(dataset_id, records)


def test_deleting_records_updates_the_profile_down_to_json_null(service: EvaluationDatasetService) -> None:
    dataset_id = service.create("qa", [], None).dataset_id
    _upsert(service, dataset_id, {"inputs": {"n": 1}}, {"inputs": {"n": 2}})
    ids = [r["dataset_record_id"] for r in _records(service, dataset_id)]

    assert service.delete_records(dataset_id, [ids[0], "dr-unknown"]) == 1
    assert service.get(dataset_id).profile == '{"num_records": 1}'
    assert service.delete_records(dataset_id, ids) == 1
    assert service.get(dataset_id).profile == "null"
    assert service.delete_records("d-missing", ids) == 0


def test_records_page_by_creation_time_with_the_reference_cursor(service: EvaluationDatasetService) -> None:
    dataset_id = service.create("qa", [], None).dataset_id
    for n in range(5):
        _upsert(service, dataset_id, {"inputs": {"n": n}})

    first, token = service.records(dataset_id, 2, None)
    assert [r["inputs"]["n"] for r in first] == [0, 1]
    second, token = service.records(dataset_id, 2, token)
    third, token = service.records(dataset_id, 2, token)
    assert [r["inputs"]["n"] for r in second + third] == [2, 3, 4]
    assert token is None
    with pytest.raises(InvalidParameterValue, match="Invalid page token"):
        service.records(dataset_id, 2, "zz")
    assert service.records("d-missing", None, None) == ([], None)


def test_search_filters_orders_and_pages_as_the_reference(service: EvaluationDatasetService) -> None:
    alpha = service.create("alpha", ["0"], json.dumps({"stage": "dev"})).dataset_id
    beta = service.create("beta", [], None).dataset_id
    gamma = service.create("gamma", ["0"], json.dumps({"stage": "prod"})).dataset_id

    def ids(experiments: list[str] = [], filter_string: str | None = None, order_by: list[str] = []) -> list[str]:  # noqa: B006
        return [d.dataset_id for d in service.search(experiments, filter_string, 100, order_by, None)[0]]

    assert ids() == [gamma, beta, alpha]  # newest first
    assert ids(["0"]) == [gamma, alpha]
    assert ids(order_by=["name ASC"]) == [alpha, beta, gamma]
    assert ids(filter_string="name IN ('alpha', 'beta')") == [beta, alpha]
    assert ids(filter_string="name LIKE '%a' AND tags.stage != 'dev'") == [gamma]
    assert ids(filter_string="created_time > 1000") == [gamma, beta]

    page, token = service.search([], None, 2, [], None)
    rest, last = service.search([], None, 2, [], token)
    assert [d.dataset_id for d in page + rest] == [gamma, beta, alpha]
    assert last is None

    for bad in ("tags.stage > 'a'", "name = ('a', 'b')", "created_time > 'abc'", "foo = 'x'"):
        with pytest.raises(InvalidParameterValue):
            service.search([], bad, 10, [], None)
    with pytest.raises(InvalidParameterValue):
        service.search([], None, 10, ["foo"], None)


def test_tags_upsert_skip_nulls_and_deletion_is_idempotent(service: EvaluationDatasetService) -> None:
    dataset = service.create("qa", [], json.dumps({"a": 1}))
    assert dataset.tags == {"a": 1}  # the answer to create shows them as given
    assert service.get(dataset.dataset_id).tags == {"a": "1"}

    service.set_tags(dataset.dataset_id, json.dumps({"b": 2, "a": None}))
    service.delete_tag(dataset.dataset_id, "nope")
    service.delete_tag("d-missing", "a")
    assert service.get(dataset.dataset_id).tags == {"a": "1", "b": "2"}
    with pytest.raises(ResourceDoesNotExist, match="Could not find evaluation dataset with ID d-missing"):
        service.set_tags("d-missing", "{}")


def test_experiment_links_need_existing_experiments(service: EvaluationDatasetService) -> None:
    dataset = service.create("qa", ["5"], None)  # not checked on create, as in the reference
    before = service.get(dataset.dataset_id).last_update_time

    added = service.add_to_experiments(dataset.dataset_id, ["0", "0"])
    assert service.experiment_ids(dataset.dataset_id) == ["5", "0"]
    assert added.last_update_time > before
    with pytest.raises(ResourceDoesNotExist, match="No Experiment with id=424242"):
        service.add_to_experiments(dataset.dataset_id, ["424242"])
    with pytest.raises(ResourceDoesNotExist, match="Dataset 'd-missing' not found"):
        service.add_to_experiments("d-missing", ["0"])

    unchanged = service.remove_from_experiments(dataset.dataset_id, ["77"])
    assert unchanged.last_update_time == added.last_update_time
    service.remove_from_experiments(dataset.dataset_id, ["5"])
    assert service.experiment_ids(dataset.dataset_id) == ["0"]
    assert service.experiment_ids("d-missing") == []


def test_a_missing_dataset_is_a_404_to_get_and_upsert_and_nothing_to_delete(service: EvaluationDatasetService) -> None:
    with pytest.raises(ResourceDoesNotExist, match="Evaluation dataset with id 'd-x' not found"):
        service.get("d-x")
    with pytest.raises(ResourceDoesNotExist):
        service.upsert_records("d-x", '[{"inputs": {}}]')
    service.delete("d-x")


def test_a_merge_ignores_the_source_so_a_bad_one_is_refused_only_for_new_records(
    service: EvaluationDatasetService,
) -> None:
    dataset_id = service.create("qa", [], None).dataset_id
    _upsert(service, dataset_id, {"inputs": {"q": "a"}})

    assert _upsert(service, dataset_id, {"inputs": {"q": "a"}, "source": {"source_type": "X"}}) == (0, 1)
    with pytest.raises(InvalidParameterValue, match="Invalid dataset record source type: X"):
        _upsert(service, dataset_id, {"inputs": {"q": "b"}, "source": {"source_type": "X"}})


def test_a_records_page_stops_before_its_answer_passes_the_byte_budget(
    service: EvaluationDatasetService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sizes as sent: each record's JSON inside the answer's JSON string, escaped twice."""
    dataset_id = service.create("qa", [], None).dataset_id
    for n in range(3):
        _upsert(service, dataset_id, {"inputs": {"n": n}, "outputs": '"quoted" ' * 100})
    monkeypatch.setattr("stratus.domain.services.datasets.RECORDS_ANSWER_MAX_BYTES", 3_000)

    first, token = service.records(dataset_id, None, None)
    rest, last = service.records(dataset_id, None, token)

    assert [r["inputs"]["n"] for r in first] == [0]  # one record is about 1,500 bytes as sent
    assert [r["inputs"]["n"] for r in rest] == [1]
    assert last is not None
