"""``mlflow.genai.datasets`` with the stock client against ``stratus local``: create, merge records (a list of dicts,
a DataFrame, traces), read them back with ``to_df``, search, tags, experiment links, record deletion and dataset
deletion; records larger than a DynamoDB item and a dataset larger than one Lambda answer."""

from __future__ import annotations

import uuid

import mlflow
import mlflow.genai.datasets as datasets
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

KB = 1024


def _experiment() -> str:
    return mlflow.create_experiment(f"eval-datasets-{uuid.uuid4().hex[:8]}")


def test_records_merge_by_inputs_and_read_back_as_a_dataframe(tracking_uri: str) -> None:
    exp = _experiment()
    dataset = datasets.create_dataset(name="qa", experiment_id=exp, tags={"team": "search"})
    assert dataset.dataset_id.startswith("d-")
    assert dataset.tags["team"] == "search"

    dataset.merge_records(
        [
            {"inputs": {"question": "What is MLflow?"}, "expectations": {"answer": "A platform"}},
            {"inputs": {"question": "What is Stratus?"}},
        ]
    )
    frame = pd.DataFrame(
        [
            {"inputs": {"question": "What is MLflow?"}, "expectations": {"facts": ["open source"]}},
            {"inputs": {"question": "Who wrote it?"}, "expectations": {"answer": "Databricks"}},
        ]
    )
    dataset.merge_records(frame)

    df = datasets.get_dataset(dataset_id=dataset.dataset_id).to_df()
    by_question = {row["inputs"]["question"]: row for _, row in df.iterrows()}
    assert set(by_question) == {"What is MLflow?", "What is Stratus?", "Who wrote it?"}
    assert by_question["What is MLflow?"]["expectations"] == {"answer": "A platform", "facts": ["open source"]}
    assert by_question["What is MLflow?"]["source_type"] == "HUMAN"
    assert by_question["What is Stratus?"]["source_type"] == "CODE"

    reread = datasets.get_dataset(dataset_id=dataset.dataset_id)
    assert reread.profile == '{"num_records": 3}'
    assert '"question": "string"' in reread.schema
    assert reread.digest != dataset.digest  # every merge gives the dataset a new digest


def test_records_from_traces_keep_their_trace_as_source(tracking_uri: str) -> None:
    exp = _experiment()
    mlflow.set_experiment(experiment_id=exp)

    @mlflow.trace
    def answer(question: str) -> str:
        return f"about {question}"

    answer("tracing")
    mlflow.flush_trace_async_logging(terminate=False)
    traces = mlflow.search_traces(locations=[exp], return_type="list")
    assert len(traces) == 1

    dataset = datasets.create_dataset(name="from-traces", experiment_id=exp)
    dataset.merge_records(traces)

    (record,) = datasets.get_dataset(dataset_id=dataset.dataset_id).to_df().to_dict("records")
    assert record["inputs"] == {"question": "tracing"}
    assert record["source_type"] == "TRACE"
    assert record["source_id"] == traces[0].info.trace_id


def test_search_finds_datasets_by_experiment_name_and_tag(tracking_uri: str) -> None:
    exp, other = _experiment(), _experiment()
    name = f"search-{uuid.uuid4().hex[:8]}"
    first = datasets.create_dataset(name=name, experiment_id=exp, tags={"stage": "dev"})
    second = datasets.create_dataset(name=f"{name}-2", experiment_id=[exp, other])

    assert [d.dataset_id for d in datasets.search_datasets(experiment_ids=exp)] == [
        second.dataset_id,
        first.dataset_id,
    ]
    assert [d.dataset_id for d in datasets.search_datasets(experiment_ids=other)] == [second.dataset_id]
    assert [d.dataset_id for d in datasets.search_datasets(filter_string=f"name = '{name}'")] == [first.dataset_id]
    assert [
        d.dataset_id for d in datasets.search_datasets(filter_string=f"name LIKE '{name}%' AND tags.stage = 'dev'")
    ] == [first.dataset_id]
    assert datasets.get_dataset(name=name).dataset_id == first.dataset_id

    paged = datasets.search_datasets(experiment_ids=[exp], max_results=1)
    assert len(paged) == 1
    with pytest.raises(MlflowException, match="Invalid attribute key 'nope'"):
        datasets.search_datasets(filter_string="nope = 'x'")


def test_tags_and_experiment_links_are_kept(tracking_uri: str) -> None:
    exp, added = _experiment(), _experiment()
    dataset = datasets.create_dataset(name="links", experiment_id=exp, tags={"a": "1"})

    datasets.set_dataset_tags(dataset_id=dataset.dataset_id, tags={"b": "2", "a": "changed"})
    datasets.delete_dataset_tag(dataset_id=dataset.dataset_id, key="b")
    tags = datasets.get_dataset(dataset_id=dataset.dataset_id).tags
    assert {k: v for k, v in tags.items() if k != "mlflow.user"} == {"a": "changed"}  # the client adds the user

    datasets.add_dataset_to_experiments(dataset.dataset_id, [added])
    assert datasets.get_dataset(dataset_id=dataset.dataset_id).experiment_ids == [exp, added]
    assert [d.dataset_id for d in datasets.search_datasets(experiment_ids=added)] == [dataset.dataset_id]

    datasets.remove_dataset_from_experiments(dataset.dataset_id, [exp])
    assert datasets.get_dataset(dataset_id=dataset.dataset_id).experiment_ids == [added]
    assert datasets.search_datasets(experiment_ids=exp) == []

    with pytest.raises(MlflowException, match="No Experiment with id=987654321"):
        datasets.add_dataset_to_experiments(dataset.dataset_id, ["987654321"])


def test_deleting_records_and_the_dataset(tracking_uri: str) -> None:
    dataset = datasets.create_dataset(name="deletions", experiment_id=_experiment())
    dataset.merge_records([{"inputs": {"n": n}} for n in range(30)])  # more than one DynamoDB batch
    ids = dataset.to_df()["dataset_record_id"].tolist()
    assert len(ids) == 30

    assert dataset.delete_records(ids[:5] + ["dr-unknown"]) == 5
    assert len(datasets.get_dataset(dataset_id=dataset.dataset_id).to_df()) == 25

    datasets.delete_dataset(dataset_id=dataset.dataset_id)
    with pytest.raises(MlflowException, match="not found"):
        datasets.get_dataset(dataset_id=dataset.dataset_id)


def test_large_records_round_trip_across_pages(tracking_uri: str) -> None:
    """Bodies over 64 KB live in S3; sixteen 300 KB records (4.8 MB) are more than one records page holds."""
    dataset = datasets.create_dataset(name="large", experiment_id=_experiment())
    texts = {n: f"{n:02d}" + "x" * (300 * KB) for n in range(16)}
    for start in (0, 8):
        dataset.merge_records([{"inputs": {"n": n}, "outputs": texts[n]} for n in range(start, start + 8)])

    df = datasets.get_dataset(dataset_id=dataset.dataset_id).to_df()
    assert sorted(df["inputs"].map(lambda i: i["n"])) == list(range(16))
    assert all(row["outputs"] == texts[row["inputs"]["n"]] for _, row in df.iterrows())

    dataset.merge_records([{"inputs": {"n": 3}, "expectations": {"ok": True}}])
    (row,) = [
        r for _, r in datasets.get_dataset(dataset_id=dataset.dataset_id).to_df().iterrows() if r["inputs"]["n"] == 3
    ]
    assert row["outputs"] == texts[3]
    assert row["expectations"] == {"ok": True}
