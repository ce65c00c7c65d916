"""Three web-UI features against `stratus local` and the reference `mlflow server`, over HTTP: the dataset filter
(``experiments/search-datasets`` and GraphQL ``mlflowSearchDatasets``), the UI's artifact upload
(``upload-artifact``) and its prompt lab (``runs/create-promptlab-run``), plus the GraphQL fields the reference
answers besides the UI's queries (``mlflowListArtifacts``; ``mlflowSearchRuns`` as a mutation).

Each scenario is played on both servers with the stock client, then the same requests are sent to both and the
answers compared, with what differs by nature (experiment and run ids, times, artifact root URIs, the model's uuid,
the server's Python) put back as placeholders. The reference adds ``sqlstate`` and ``error_class`` to its errors;
``error_code`` and ``message`` are compared."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

import requests
import yaml
from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput, InputTag

CONTEXT = "mlflow.data.context"
SEARCH_DATASETS = "/ajax-api/2.0/mlflow/experiments/search-datasets"
UPLOAD = "/ajax-api/2.0/mlflow/upload-artifact"
PROMPTLAB = "/ajax-api/2.0/mlflow/runs/create-promptlab-run"


def _input(name: str, digest: str, context: str | None = None) -> DatasetInput:
    tags = [InputTag(CONTEXT, context)] if context is not None else []
    return DatasetInput(Dataset(name=name, digest=digest, source_type="local", source="{}"), tags)


def _error(answer: requests.Response) -> tuple[int, str, str]:
    body = answer.json()
    return answer.status_code, body["error_code"], body["message"]


def _both(tracking_uri: str, reference_uri: str) -> dict[str, str]:
    return {"stratus": tracking_uri, "reference": reference_uri}


def _graphql(uri: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    answer = requests.post(f"{uri}/graphql", json={"query": query, "variables": variables}, timeout=60)
    assert answer.status_code == 200, answer.text
    return answer.json()


# ---------------------------------------------------------------- the dataset filter


def _log_datasets(uri: str) -> tuple[list[str], str]:
    """Two experiments; one dataset logged by three runs with three contexts (one run deleted afterwards, one
    logging it again with another context, which the reference ignores); a dataset without context. Returns the
    experiment ids and a run id."""
    client = MlflowClient(uri)
    stamp = f"{time.time_ns()}"
    first = client.create_experiment(f"ds-a-{stamp}")
    second = client.create_experiment(f"ds-b-{stamp}")
    runs = [client.create_run(first).info.run_id for _ in range(3)]
    client.log_inputs(runs[0], [_input("zeta", "d2", "train"), _input("alpha", "d9", "eval"), _input("alpha", "d1")])
    client.log_inputs(runs[1], [_input("zeta", "d2", "eval"), _input("beta", "d1", "train"), _input("Alpha", "d0")])
    client.log_inputs(runs[0], [_input("zeta", "d2", "again, ignored")])
    client.log_inputs(runs[2], [_input("zeta", "d2", "test")])
    client.delete_run(runs[1])
    client.log_inputs(client.create_run(second).info.run_id, [_input("gamma", "x", "train")])
    return [first, second], runs[0]


def test_search_datasets_answers_as_the_reference(tracking_uri: str, reference_uri: str) -> None:
    """Given the same inputs logged on both servers, the dataset summaries (REST and GraphQL) are the same, in the
    same order, deleted runs' datasets included; and the refusals are the same."""
    answers: dict[str, list[Any]] = {}
    for side, uri in _both(tracking_uri, reference_uri).items():
        (first, second), _ = _log_datasets(uri)
        placeholders = {first: "E1", second: "E2"}

        def placed(summaries: list[dict[str, Any]], key: str, ids: dict[str, str] = placeholders) -> list[Any]:
            return [{**s, key: ids[s[key]]} for s in summaries]

        rest = requests.post(uri + SEARCH_DATASETS, json={"experiment_ids": [second, first]}, timeout=60)
        assert rest.status_code == 200, rest.text
        graphql = _graphql(
            uri,
            "mutation D($d: MlflowSearchDatasetsInput) { mlflowSearchDatasets(input: $d) { "
            "datasetSummaries { experimentId name digest context } apiError { code } } }",
            {"d": {"experimentIds": [first, second]}},
        )
        none = requests.post(uri + SEARCH_DATASETS, json={"experiment_ids": ["987654"]}, timeout=60)
        answers[side] = [
            placed(rest.json()["dataset_summaries"], "experiment_id"),
            {**graphql["data"]["mlflowSearchDatasets"], "datasetSummaries": placed(
                graphql["data"]["mlflowSearchDatasets"]["datasetSummaries"], "experimentId")},
            (none.status_code, none.json()),
            *(
                _error(requests.post(uri + SEARCH_DATASETS, json=body, timeout=60))
                for body in ({}, {"experiment_ids": [str(i) for i in range(21)]}, {"experiment_ids": ["abc"]})
            ),
            _graphql(uri, "mutation { mlflowSearchDatasets(input: {experimentIds: []}) { datasetSummaries { name } } }",
                     {}),
        ]  # fmt: skip
    assert answers["stratus"] == answers["reference"]
    summaries = answers["stratus"][0]
    assert [(s["name"], s.get("context")) for s in summaries if s["name"] == "zeta"] == [
        ("zeta", "train"),
        ("zeta", "eval"),
        ("zeta", "test"),
    ]


# ---------------------------------------------------------------- GraphQL fields beyond the UI's queries


def test_list_artifacts_and_search_runs_mutation_answer_as_the_reference(tracking_uri: str, reference_uri: str) -> None:
    listing = (
        "query L($d: MlflowListArtifactsInput) { mlflowListArtifacts(input: $d) { "
        "rootUri files { path isDir fileSize } nextPageToken apiError { code } } }"
    )
    search_runs = (
        "mutation S($d: MlflowSearchRunsInput) { mlflowSearchRuns(input: $d) { "
        "runs { info { runId runName status } experiment { experimentId } } nextPageToken } }"
    )
    answers: dict[str, list[Any]] = {}
    with tempfile.TemporaryDirectory() as folder:
        note = os.path.join(folder, "note.txt")
        with open(note, "w") as handle:
            handle.write("hello")
        for side, uri in _both(tracking_uri, reference_uri).items():
            client = MlflowClient(uri)
            experiment_id = client.create_experiment(f"gql-{time.time_ns()}")
            run_id = client.create_run(experiment_id, run_name="listed").info.run_id
            client.log_artifact(run_id, note)
            client.log_artifact(run_id, note, "sub")

            def listed(variables: dict[str, Any], run_id: str = run_id, uri: str = uri) -> dict[str, Any]:
                answer = _graphql(uri, listing, {"d": variables})
                found = answer["data"]["mlflowListArtifacts"]
                if found is not None:  # the artifact root differs by nature (a local folder in the reference)
                    assert found.pop("rootUri").endswith(f"{run_id}/artifacts")
                return answer

            searched = _graphql(uri, search_runs, {"d": {"experimentIds": [experiment_id], "maxResults": 5}})
            shown = json.dumps(searched).replace(run_id, "RUN").replace(f'"{experiment_id}"', '"EXP"')
            answers[side] = [
                listed({"runId": run_id}),
                listed({"runUuid": run_id, "path": "sub"}),
                listed({"runId": run_id, "path": "missing"}),
                listed({"runId": run_id, "path": "../x"}),
                listed({"runId": "0123456789abcdef0123456789abcdef"}),
                json.loads(shown),
                _graphql(uri, 'mutation { mlflowGetRun(input: {runId: "x"}) { run { info { runId } } } }', {}),
            ]
    assert answers["stratus"] == answers["reference"]


# ---------------------------------------------------------------- upload-artifact


def test_upload_artifact_answers_as_the_reference(tracking_uri: str, reference_uri: str) -> None:
    answers: dict[str, list[Any]] = {}
    for side, uri in _both(tracking_uri, reference_uri).items():
        client = MlflowClient(uri)
        run_id = client.create_run(client.create_experiment(f"up-{time.time_ns()}")).info.run_id
        table = json.dumps({"columns": ["a"], "data": [["1"]]})

        def upload(params: dict[str, str], data: bytes | str = b"x", target: str = uri) -> requests.Response:
            return requests.post(target + UPLOAD, params=params, data=data, timeout=60)

        done = upload({"run_uuid": run_id, "path": "tables/edited.json"}, table)
        content = requests.get(
            f"{uri}/get-artifact", params={"run_uuid": run_id, "path": "tables/edited.json"}, timeout=60
        )
        answers[side] = [
            (done.status_code, done.headers["Content-Type"], done.text),
            [(f.path, f.is_dir, f.file_size) for f in client.list_artifacts(run_id, "tables")],
            content.text,
            _error(upload({"path": "a"})),
            _error(upload({"run_id": run_id, "path": "a"})),  # only run_uuid is read
            _error(upload({"run_uuid": run_id})),
            _error(upload({"run_uuid": run_id, "path": ""})),
            _error(upload({"run_uuid": run_id, "path": "../escape"})),
            _error(upload({"run_uuid": run_id, "path": "/abs"})),
            _error(upload({"run_uuid": run_id, "path": "a"}, b"")),
            _error(upload({"run_uuid": "0123456789abcdef0123456789abcdef", "path": "a"})),
            requests.post(f"{uri}/api/2.0/mlflow/upload-artifact", params={"run_uuid": run_id, "path": "a"},
                          data=b"x", timeout=60).status_code,
        ]  # fmt: skip
    assert answers["stratus"] == answers["reference"]


def test_upload_artifact_refuses_what_the_reference_answers_with_a_500(tracking_uri: str) -> None:
    """A file over a folder, a ``.`` segment: the reference fails with 500s; Stratus refuses them (a deleted run
    too, as its artifact writes do; the reference writes to it)."""
    client = MlflowClient(tracking_uri)
    run_id = client.create_run(client.create_experiment(f"up-bad-{time.time_ns()}")).info.run_id
    assert requests.post(tracking_uri + UPLOAD, params={"run_uuid": run_id, "path": "dir/f"}, data=b"x", timeout=60).ok

    def refused(path: str) -> tuple[int, str, str]:
        return _error(requests.post(tracking_uri + UPLOAD, params={"run_uuid": run_id, "path": path}, data=b"x",
                                    timeout=60))  # fmt: skip

    assert refused("dir") == (400, "INVALID_PARAMETER_VALUE", "Artifact path refers to a directory, not a file: 'dir'")
    assert refused("a/./b") == (400, "INVALID_PARAMETER_VALUE", "Invalid path")
    assert refused("dir/") == (400, "INVALID_PARAMETER_VALUE", "Invalid path")
    client.delete_run(run_id)
    assert refused("late.txt")[:2] == (400, "INVALID_PARAMETER_VALUE")


# ---------------------------------------------------------------- create-promptlab-run


PROMPTLAB_BODY = {
    "tags": [],
    "prompt_template": "Say {{ greeting }} to {{ name }}: café",
    "prompt_parameters": [{"key": "greeting", "value": "hi"}, {"key": "name", "value": "bob"}],
    "model_route": "chat-route",
    "model_parameters": [{"key": "temperature", "value": 0.5}, {"key": "max_tokens", "value": 100},
                         {"key": "stop", "value": None}, {"key": "flag", "value": True}],
    "model_input": "Say hi to bob: café",
    "model_output": "hi bob",
    "model_output_parameters": [{"key": "latency", "value": 12}],
    "mlflow_version": "2.7.1",
    "user_id": "ui-user",
    "run_name": "lab-run",
}  # fmt: skip
FILES = (
    "eval_results_table.json",
    "model/MLmodel",
    "model/conda.yaml",
    "model/input_example.json",
    "model/parameters.yaml",
    "model/python_env.yaml",
    "model/requirements.txt",
    "model/serving_input_example.json",
)


def _file(uri: str, run_id: str, path: str) -> str:
    answer = requests.get(f"{uri}/get-artifact", params={"run_uuid": run_id, "path": path}, timeout=60)
    assert answer.status_code == 200, (path, answer.text)
    assert answer.headers["Content-Type"].startswith("text/plain")  # the reference sends every one of them as text
    return answer.content.decode("utf-8")


def _promptlab_outcome(uri: str, run: dict[str, Any]) -> dict[str, Any]:
    """What a user of the run would check, with its ids, times, model uuid and the server's Python as placeholders."""
    info, run_id = run["info"], run["info"]["run_id"]
    tags = {t["key"]: t["value"] for t in run["data"].get("tags", [])}
    history = json.loads(tags.pop("mlflow.log-model.history"))
    model_uuid, created = history[0]["model_uuid"], history[0]["utc_time_created"]
    assert time.strptime(created, "%Y-%m-%d %H:%M:%S.%f")

    def placed(text: str) -> str:
        return text.replace(run_id, "RUN").replace(model_uuid, "UUID").replace(created, "TIME")

    files = {path: _file(uri, run_id, path) for path in FILES}
    mlmodel = yaml.safe_load(placed(files["model/MLmodel"]))
    mlmodel["flavors"]["python_function"]["python_version"] = "PY"
    conda = yaml.safe_load(files["model/conda.yaml"])
    python_env = yaml.safe_load(files["model/python_env.yaml"])
    return {
        "info": (info["status"], info["user_id"], info["run_name"], info["lifecycle_stage"], info["experiment_id"]),
        "times": (info["start_time"] <= info["end_time"]),
        "params": sorted((p["key"], p["value"]) for p in run["data"].get("params", [])),
        "tags": tags,
        "history": json.loads(placed(json.dumps(history))),
        "listing": sorted(f["path"] for f in requests.get(
            f"{uri}/ajax-api/2.0/mlflow/artifacts/list", params={"run_uuid": run_id, "path": "model"}, timeout=60
        ).json()["files"]),
        "eval_results_table.json": files["eval_results_table.json"],
        "input_example.json": files["model/input_example.json"],
        "serving_input_example.json": files["model/serving_input_example.json"],
        "requirements.txt": files["model/requirements.txt"],
        "parameters.yaml": yaml.safe_load(files["model/parameters.yaml"]),
        "MLmodel": mlmodel,
        "conda.yaml": (conda["channels"], conda["name"], conda["dependencies"][2], len(conda["dependencies"])),
        "python_env.yaml": (list(python_env), python_env["dependencies"], len(python_env["build_dependencies"])),
    }  # fmt: skip


def test_create_promptlab_run_answers_as_the_reference(tracking_uri: str, reference_uri: str) -> None:
    """Same request, same run: status, user, name, params, tags, the model folder and evaluation table (files
    compared as the values they load to: Stratus writes YAML without PyYAML), and the same refusals."""
    answers: dict[str, list[Any]] = {}
    for side, uri in _both(tracking_uri, reference_uri).items():
        client = MlflowClient(uri)
        experiment_id = client.create_experiment(f"lab-{time.time_ns()}")
        deleted = client.create_experiment(f"lab-deleted-{time.time_ns()}")
        client.delete_experiment(deleted)

        def post(changes: dict[str, Any], target: str = uri, exp: str = experiment_id) -> requests.Response:
            return requests.post(target + PROMPTLAB, json={**PROMPTLAB_BODY, "experiment_id": exp, **changes},
                                 timeout=60)  # fmt: skip

        created = post({})
        assert created.status_code == 200, created.text
        outcome = _promptlab_outcome(uri, created.json()["run"])
        outcome["info"] = (*outcome["info"][:4], outcome["info"][4] == experiment_id)
        duplicate = post({"model_parameters": [{"key": "model_route", "value": "x"}]}).json()["run"]
        bare = {key: value for key, value in PROMPTLAB_BODY.items() if key not in ("user_id", "run_name", "tags")}
        defaults = requests.post(uri + PROMPTLAB, json={**bare, "experiment_id": experiment_id}, timeout=60)
        answers[side] = [
            outcome,
            (duplicate["info"]["status"], duplicate["data"].get("params"),
             [t["key"] for t in duplicate["data"]["tags"]]),
            (defaults.json()["run"]["info"]["user_id"], bool(defaults.json()["run"]["info"]["run_name"])),
            *(_error(post({field: None})) for field in ("experiment_id", "prompt_template", "prompt_parameters",
                                                        "model_route", "model_input", "mlflow_version")),
            _error(post({"prompt_parameters": []})),
            _error(post({}, exp="987654")),
            _error(post({}, exp="abc")),
            tuple(part.replace(deleted, "DELETED") for part in map(str, _error(post({}, exp=deleted)))),
            requests.post(f"{uri}/api/2.0/mlflow/runs/create-promptlab-run", json=PROMPTLAB_BODY,
                          timeout=60).status_code,
        ]  # fmt: skip
    assert answers["stratus"] == answers["reference"]


def test_create_promptlab_run_refuses_what_the_reference_answers_with_a_500(tracking_uri: str) -> None:
    """Tags as the REST API sends them are applied (the reference fails on them with a 500), and a malformed
    parameter or start time is a 400."""
    client = MlflowClient(tracking_uri)
    experiment_id = client.create_experiment(f"lab-500-{time.time_ns()}")
    post: Callable[[dict[str, Any]], requests.Response] = lambda changes: requests.post(  # noqa: E731
        tracking_uri + PROMPTLAB, json={**PROMPTLAB_BODY, "experiment_id": experiment_id, **changes}, timeout=60
    )
    tagged = post({"tags": [{"key": "team", "value": "ml"}]})
    assert tagged.status_code == 200
    assert {"key": "team", "value": "ml"} in tagged.json()["run"]["data"]["tags"]
    for changes in ({"prompt_parameters": ["a"]}, {"start_time": "soon"}, {"model_parameters": [{"value": 1}]}):
        answer = post(changes)
        assert answer.status_code == 400, (changes, answer.text)
        assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"
