"""POST /graphql: the four queries MLflow's web UI sends, run against the in-memory store."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from stratus.api.graphql import GraphqlServices, execute
from stratus.domain.entities import ArtifactEntry, Dataset, DatasetInput, Metric, ModelVersion
from stratus.domain.services import ExperimentService, RunService
from stratus.domain.services.artifact_files import ArtifactFileService
from stratus.store.memory import InMemoryTrackingStore

MLFLOW_JS = Path(__file__).resolve().parents[2] / ".venv/lib/python3.11/site-packages/mlflow/server/js/build/static/js"


class FakeRegistry:
    """versions_of_runs over a fixed list; records the run ids of each call (the UI's run table must cost one)."""

    def __init__(self, versions: list[ModelVersion]) -> None:
        self.versions = versions
        self.calls: list[list[str]] = []

    def versions_of_runs(self, run_ids: list[str]) -> dict[str, list[ModelVersion]]:
        self.calls.append(list(run_ids))
        grouped: dict[str, list[ModelVersion]] = {}
        for version in self.versions:
            if version.run_id in run_ids:
                grouped.setdefault(version.run_id, []).append(version)
        return grouped


@pytest.fixture
def services() -> GraphqlServices:
    store = InMemoryTrackingStore()
    clock = iter(range(1_000, 10_000_000)).__next__
    experiments = ExperimentService(store, "mlflow-artifacts:", clock=clock)
    return GraphqlServices(experiments, RunService(store, experiments, clock=clock))


def _ui_query(name: str) -> str:
    """The query text exactly as the installed UI bundle sends it."""
    marker = f"query {name}"
    for path in sorted(MLFLOW_JS.glob("*.js")):
        text = path.read_text(errors="replace")
        if marker in text:
            start = text.index(marker)
            return text[start : text.index("`", start)].replace("\\n", "\n")
    pytest.skip(f"the mlflow UI bundle with {marker!r} is not installed")


GET_EXPERIMENT = """query MlflowGetExperimentQuery($input: MlflowGetExperimentInput!) @component(name: "X") {
  mlflowGetExperiment(input: $input) { apiError { code message }
    experiment { artifactLocation creationTime experimentId lastUpdateTime lifecycleStage name tags { key value } } }
}"""


def test_get_experiment_answers_the_reference_shape_with_long_strings(services: GraphqlServices) -> None:
    services.experiments.set_tag("0", "team", "ml")
    answer = execute(services, GET_EXPERIMENT, {"input": {"experimentId": "0"}})
    assert answer["errors"] is None
    experiment = answer["data"]["mlflowGetExperiment"]["experiment"]
    assert experiment["experimentId"] == "0"
    assert experiment["name"] == "Default"
    assert isinstance(experiment["creationTime"], str) and experiment["creationTime"].isdigit()
    assert experiment["tags"] == [{"key": "team", "value": "ml"}]
    assert answer["data"]["mlflowGetExperiment"]["apiError"] is None


def test_missing_run_is_a_null_field_and_the_error_message(services: GraphqlServices) -> None:
    answer = execute(
        services,
        "query GetRun($data: MlflowGetRunInput!) { mlflowGetRun(input: $data) { run { info { runUuid } } } }",
        {"data": {"runId": "abc"}},
    )
    assert answer == {"data": {"mlflowGetRun": None}, "errors": ["Run with id=abc not found"]}


def test_unknown_field_is_answered_like_the_reference_answers_an_invalid_query(services: GraphqlServices) -> None:
    assert execute(services, "query { nope }") == {
        "data": None,
        "errors": ["Cannot query field 'nope' on type 'Query'."],
    }


def test_ui_get_run_query_reads_run_experiment_and_model_versions(services: GraphqlServices) -> None:
    run = services.runs.create("0", "ana", 5, {}, "r1")
    services.runs.log_batch(run.run_id, [Metric("loss", float("nan"), 7, 2)], [("lr", "0.1")], [])
    registry = FakeRegistry([ModelVersion("m", 1, 10, 10, "models:/x", run_id=run.run_id)])
    services.registry = registry  # type: ignore[assignment]
    answer = execute(services, _ui_query("GetRun"), {"data": {"runId": run.run_id}})
    assert answer["errors"] is None
    got = answer["data"]["mlflowGetRun"]["run"]
    assert got["info"]["runUuid"] == run.run_id
    assert got["info"]["status"] == "RUNNING"
    assert got["info"]["startTime"] == "5"
    assert got["experiment"]["name"] == "Default"
    assert got["data"]["params"] == [{"key": "lr", "value": "0.1"}]
    assert got["data"]["metrics"] == [{"key": "loss", "value": None, "step": "2", "timestamp": "7"}]
    assert got["modelVersions"] == [{"status": "READY", "version": "1", "name": "m", "source": "models:/x"}]
    assert registry.calls == [[run.run_id]]


def test_ui_search_runs_reads_the_registry_once_for_all_runs(services: GraphqlServices) -> None:
    ids = [services.runs.create("0", "ana", t, {}, f"r{t}").run_id for t in range(3)]
    registry = FakeRegistry([])
    services.registry = registry  # type: ignore[assignment]
    answer = execute(
        services, _ui_query("SearchRuns"), {"data": {"experimentIds": ["0"], "filter": "attributes.start_time >= 1"}}
    )
    assert answer["errors"] is None
    runs = answer["data"]["mlflowSearchRuns"]["runs"]
    assert sorted(r["info"]["runUuid"] for r in runs) == sorted(ids[1:])
    assert all(r["modelVersions"] == [] for r in runs)
    assert [sorted(call) for call in registry.calls] == [sorted(ids[1:])]


def test_ui_bulk_interval_query_samples_like_the_reference_ignoring_max_results(services: GraphqlServices) -> None:
    run = services.runs.create("0", "ana", 5, {}, "r")
    services.runs.log_batch(run.run_id, [Metric("acc", i / 10, 100 + i, i) for i in range(400)], [], [])
    variables = {"data": {"runIds": [run.run_id], "metricKey": "acc", "maxResults": 320, "startStep": 0, "endStep": 5}}
    answer = execute(services, _ui_query("GetMetricHistoryBulkInterval"), variables)
    assert answer["errors"] is None
    result = answer["data"]["mlflowGetMetricHistoryBulkInterval"]
    assert result["__typename"] == "MlflowGetMetricHistoryBulkIntervalResponse"
    # The reference's GraphQL path reads max_results and the step range from the URL: 400 points, all of them.
    assert len(result["metrics"]) == 400
    assert result["metrics"][-1] == {
        "timestamp": "499",
        "step": "399",
        "runId": run.run_id,
        "key": "acc",
        "value": 39.9,
    }


def test_syntax_error_is_reported_not_raised(services: GraphqlServices) -> None:
    answer = execute(services, "query { ")
    assert answer["data"] is None
    assert answer["errors"] and answer["errors"][0].startswith("Syntax Error")


def test_non_string_query_is_refused(services: GraphqlServices) -> None:
    assert execute(services, None)["errors"] == ["Must provide query string."]


def test_nan_free_values_keep_their_float(services: GraphqlServices) -> None:
    run = services.runs.create("0", "ana", 5, {}, "r")
    services.runs.log_batch(run.run_id, [Metric("x", 1.5, 1, 0)], [], [])
    answer = execute(
        services,
        "query Q($d: MlflowGetRunInput!) { mlflowGetRun(input: $d) { run { data { metrics { value } } } } }",
        {"d": {"runUuid": run.run_id}},
    )
    value: Any = answer["data"]["mlflowGetRun"]["run"]["data"]["metrics"][0]["value"]
    assert math.isclose(value, 1.5)


def test_more_than_ten_root_fields_are_refused_before_anything_is_read(services: GraphqlServices) -> None:
    fields = " ".join(
        f'e{i}: mlflowGetExperiment(input: {{experimentId: "0"}}) {{ experiment {{ name }} }}' for i in range(11)
    )
    answer = execute(services, f"query {{ {fields} }}")
    assert answer == {
        "data": None,
        "errors": ["GraphQL queries should have at most 10 root fields, got 11 root fields."],
    }


def test_ten_aliased_root_fields_still_run(services: GraphqlServices) -> None:
    fields = " ".join(
        f'e{i}: mlflowGetExperiment(input: {{experimentId: "0"}}) {{ experiment {{ name }} }}' for i in range(10)
    )
    answer = execute(services, f"query {{ {fields} }}")
    assert answer["errors"] is None
    assert answer["data"]["e9"] == {"experiment": {"name": "Default"}}


def test_invalid_variables_are_reported_like_the_reference(services: GraphqlServices) -> None:
    answer = execute(
        services,
        "query Q($d: MlflowGetRunInput!) { mlflowGetRun(input: $d) { run { info { runUuid } } } }",
        {"d": {"nope": 1}},
    )
    assert answer["data"] is None
    assert answer["errors"] and "nope" in answer["errors"][0]


# ---------------------------------------------------------------- the reference's other data fields


class FakeListing:
    """The part of S3ArtifactStore a run listing reads: ``list_children`` over fixed files (key -> size)."""

    bucket = "bucket"

    def __init__(self, files: dict[str, int]) -> None:
        self.files = files

    def list_children(self, folder_key: str) -> list[ArtifactEntry]:
        prefix = folder_key.rstrip("/") + "/"
        children: dict[str, ArtifactEntry] = {}
        for key, size in self.files.items():
            if key.startswith(prefix):
                name, _, rest = key[len(prefix) :].partition("/")
                children[name] = ArtifactEntry(name, True) if rest else ArtifactEntry(name, False, size)
        return [children[name] for name in sorted(children)]


SEARCH_RUNS_MUTATION = """mutation SearchRuns($data: MlflowSearchRunsInput) {
  mlflowSearchRuns(input: $data) { runs { info { runUuid runName } experiment { name } } nextPageToken }
}"""


def test_search_runs_sent_as_a_mutation_is_answered_as_the_query_is(services: GraphqlServices) -> None:
    run = services.runs.create("0", "ana", 5, {}, "as-mutation")
    answer = execute(services, SEARCH_RUNS_MUTATION, {"data": {"experimentIds": ["0"]}})
    assert answer == {
        "data": {
            "mlflowSearchRuns": {
                "runs": [
                    {"info": {"runUuid": run.run_id, "runName": "as-mutation"}, "experiment": {"name": "Default"}}
                ],
                "nextPageToken": "",
            }
        },
        "errors": None,
    }


def test_a_query_field_sent_as_a_mutation_is_refused_like_the_reference(services: GraphqlServices) -> None:
    answer = execute(services, 'mutation { mlflowGetRun(input: {runId: "x"}) { run { info { runId } } } }')
    assert answer == {"data": None, "errors": ["Cannot query field 'mlflowGetRun' on type 'Mutation'."]}


SEARCH_DATASETS = """mutation D($d: MlflowSearchDatasetsInput) {
  mlflowSearchDatasets(input: $d) { datasetSummaries { experimentId name digest context } apiError { code } }
}"""


def test_search_datasets_lists_summaries_with_the_proto_default_context(services: GraphqlServices) -> None:
    run = services.runs.create("0", "ana", 5, {}, None)
    trained = DatasetInput(Dataset("iris", "d1", "local", "{}"), (("mlflow.data.context", "train"),))
    services.runs.log_inputs(run.run_id, [trained, DatasetInput(Dataset("wine", "d2", "local", "{}"))], [])
    answer = execute(services, SEARCH_DATASETS, {"d": {"experimentIds": ["0"]}})
    assert answer == {
        "data": {
            "mlflowSearchDatasets": {
                "datasetSummaries": [
                    {"experimentId": "0", "name": "iris", "digest": "d1", "context": "train"},
                    {"experimentId": "0", "name": "wine", "digest": "d2", "context": ""},
                ],
                "apiError": None,
            }
        },
        "errors": None,
    }


def test_search_datasets_refusals_are_field_errors(services: GraphqlServices) -> None:
    assert execute(services, SEARCH_DATASETS, {"d": {"experimentIds": []}}) == {
        "data": {"mlflowSearchDatasets": None},
        "errors": ["SearchDatasets request must specify at least one experiment_id."],
    }


LIST_ARTIFACTS = """query L($d: MlflowListArtifactsInput) {
  mlflowListArtifacts(input: $d) { rootUri files { path isDir fileSize } nextPageToken apiError { code } }
}"""


def test_list_artifacts_answers_the_references_listing(services: GraphqlServices) -> None:
    run = services.runs.create("0", "ana", 5, {}, None)
    root = f"mlartifacts/0/{run.run_id}/artifacts"
    listing = FakeListing({f"{root}/a.txt": 5, f"{root}/sub/b.txt": 7})
    services.artifacts = ArtifactFileService(listing, services.runs, None, None)  # type: ignore[arg-type]

    top = execute(services, LIST_ARTIFACTS, {"d": {"runId": run.run_id}})
    assert top == {
        "data": {
            "mlflowListArtifacts": {
                "rootUri": f"mlflow-artifacts:/0/{run.run_id}/artifacts",
                "files": [
                    {"path": "a.txt", "isDir": False, "fileSize": "5"},
                    {"path": "sub", "isDir": True, "fileSize": "0"},
                ],
                "nextPageToken": "",
                "apiError": None,
            }
        },
        "errors": None,
    }
    inner = execute(services, LIST_ARTIFACTS, {"d": {"runUuid": run.run_id, "path": "sub"}})
    assert inner["data"]["mlflowListArtifacts"]["files"] == [{"path": "sub/b.txt", "isDir": False, "fileSize": "7"}]
    assert execute(services, LIST_ARTIFACTS, {"d": {"runId": run.run_id, "path": "../x"}}) == {
        "data": {"mlflowListArtifacts": None},
        "errors": ["Invalid path"],
    }
    assert execute(services, LIST_ARTIFACTS, {"d": {}}) == {
        "data": {"mlflowListArtifacts": None},
        "errors": ["Run with id= not found"],
    }
