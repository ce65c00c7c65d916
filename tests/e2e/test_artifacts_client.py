"""Artifacts and logged models with the stock client against ``stratus local`` in its default, proxied mode
(``mlflow-artifacts:/`` URIs): small files through the API, large ones in presigned parts, every download presigned."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import mlflow
import numpy as np
import pytest
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

MIB = 1024 * 1024


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def run_id() -> str:
    mlflow.set_experiment("artifacts-e2e")
    with mlflow.start_run() as run:
        return run.info.run_id


def test_new_runs_get_proxied_artifact_uris(run_id: str) -> None:
    run = MlflowClient().get_run(run_id)
    assert run.info.artifact_uri == f"mlflow-artifacts:/{run.info.experiment_id}/{run_id}/artifacts"


def test_text_dict_and_nested_folders_round_trip(run_id: str, tmp_path: Path) -> None:
    client = MlflowClient()
    client.log_text(run_id, "hello", "notes/hello.txt")
    client.log_dict(run_id, {"a": 1, "b": [1, 2]}, "config/params.json")
    tree = tmp_path / "tree"
    (tree / "deep" / "er").mkdir(parents=True)
    (tree / "top.bin").write_bytes(os.urandom(1000))
    (tree / "deep" / "er" / "leaf with space.txt").write_text("leaf")
    client.log_artifacts(run_id, str(tree), "bundle")

    top = {(f.path, f.is_dir) for f in client.list_artifacts(run_id)}
    assert top == {("notes", True), ("config", True), ("bundle", True)}
    bundle = {(f.path, f.is_dir, f.file_size) for f in client.list_artifacts(run_id, "bundle")}
    assert bundle == {("bundle/deep", True, None), ("bundle/top.bin", False, 1000)}

    assert mlflow.artifacts.load_text(f"runs:/{run_id}/notes/hello.txt") == "hello"
    assert mlflow.artifacts.load_dict(f"runs:/{run_id}/config/params.json") == {"a": 1, "b": [1, 2]}
    out = Path(client.download_artifacts(run_id, "bundle", str(tmp_path / "out")))
    assert (out / "deep" / "er" / "leaf with space.txt").read_text() == "leaf"
    assert _digest(out / "top.bin") == _digest(tree / "top.bin")


def test_fifty_megabytes_round_trip_byte_for_byte_in_parts(
    run_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(4 * MIB))
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(10 * MIB))
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(50 * MIB))
    MlflowClient().log_artifact(run_id, str(big), "large")
    [listed] = MlflowClient().list_artifacts(run_id, "large")
    assert (listed.path, listed.file_size) == ("large/big.bin", 50 * MIB)
    back = Path(MlflowClient().download_artifacts(run_id, "large/big.bin", str(tmp_path / "back")))
    assert _digest(back) == _digest(big)


def test_an_upload_over_the_limit_is_refused_with_the_setting_to_use(run_id: str, tmp_path: Path) -> None:
    big = tmp_path / "seven.bin"
    big.write_bytes(os.urandom(7 * MIB))
    # The client raises requests' HTTPError carrying the answer's text for a failed artifact PUT.
    with pytest.raises((MlflowException, requests.HTTPError)) as caught:
        MlflowClient().log_artifact(run_id, str(big))
    assert "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE" in str(caught.value)
    assert MlflowClient().list_artifacts(run_id) == []


def test_download_answers_small_files_with_their_bytes_and_large_ones_with_a_presigned_url(
    run_id: str, tracking_uri: str
) -> None:
    """Given a file of 10 bytes and one of 5 MiB (over the 4 MiB a Lambda answer can carry),
    when each is downloaded through the proxied artifact API,
    then the small one comes back in the answer, as an attachment, as the reference sends it, and the large one is a
    307 to a presigned S3 URL; both arrive whole."""
    MlflowClient().log_text(run_id, "in answer!", "r.txt")
    large = "x" * (5 * MIB)
    MlflowClient().log_text(run_id, large, "big.txt")
    experiment_id = MlflowClient().get_run(run_id).info.experiment_id
    root = f"{tracking_uri}/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts"

    small = requests.get(f"{root}/r.txt", allow_redirects=False, timeout=10)
    assert small.status_code == 200
    assert small.content == b"in answer!"
    assert small.headers["Content-Disposition"] == 'attachment; filename="r.txt"'
    assert small.headers["X-Content-Type-Options"] == "nosniff"

    answer = requests.get(f"{root}/big.txt", allow_redirects=False, timeout=10)
    assert answer.status_code == 307
    assert "X-Amz-Signature=" in answer.headers["Location"]
    assert "X-Amz-Expires=900" in answer.headers["Location"]
    assert requests.get(f"{root}/big.txt", timeout=30).text == large

    presigned = requests.get(f"{root}/r.txt".replace("/artifacts/", "/presigned/", 1), timeout=10).json()
    assert presigned["file_size"] == len("in answer!")
    assert presigned["headers"] == {}
    # SigV4 binds the URL to GET and that one key; moto does not check signatures, so that is not tested here.
    assert f"/{run_id}/artifacts/r.txt?" in presigned["url"]


def test_an_empty_file_downloads_empty(run_id: str, tmp_path: Path) -> None:
    """An empty object is the one a ranged S3 read cannot satisfy: it still downloads, empty."""
    MlflowClient().log_text(run_id, "", "empty.txt")
    back = Path(MlflowClient().download_artifacts(run_id, "empty.txt", str(tmp_path)))
    assert back.read_bytes() == b""


def test_listing_answers_mlflows_json(run_id: str, tracking_uri: str) -> None:
    MlflowClient().log_text(run_id, "x", "d/f.txt")
    root = f"{MlflowClient().get_run(run_id).info.experiment_id}/{run_id}/artifacts"
    listing = f"{tracking_uri}/api/2.0/mlflow-artifacts/artifacts"
    assert requests.get(listing, params={"path": root}, timeout=10).json() == {"files": [{"path": "d", "is_dir": True}]}
    assert requests.get(listing, params={"path": f"{root}/d"}, timeout=10).json() == {
        "files": [{"path": "f.txt", "is_dir": False, "file_size": 1}]
    }
    assert requests.get(listing, params={"path": f"{root}/d/f.txt"}, timeout=10).json() == {}
    assert requests.get(listing, params={"path": f"{root}/missing"}, timeout=10).json() == {}


def test_delete_artifacts(run_id: str, tracking_uri: str) -> None:
    client = MlflowClient()
    client.log_text(run_id, "1", "gone/a.txt")
    client.log_text(run_id, "2", "gone/sub/b.txt")
    client.log_text(run_id, "3", "kept.txt")
    root = f"{client.get_run(run_id).info.experiment_id}/{run_id}/artifacts"
    answer = requests.delete(f"{tracking_uri}/api/2.0/mlflow-artifacts/artifacts/{root}/gone", timeout=10)
    assert answer.status_code == 200
    assert [f.path for f in client.list_artifacts(run_id)] == ["kept.txt"]


def test_artifacts_of_a_deleted_run_are_not_served(run_id: str, tracking_uri: str) -> None:
    client = MlflowClient()
    client.log_text(run_id, "secret", "s.txt")
    root = f"{client.get_run(run_id).info.experiment_id}/{run_id}/artifacts"
    client.delete_run(run_id)
    answer = requests.get(f"{tracking_uri}/api/2.0/mlflow-artifacts/presigned/{root}/s.txt", timeout=10)
    assert (answer.status_code, answer.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    put = requests.put(f"{tracking_uri}/api/2.0/mlflow-artifacts/artifacts/{root}/t.txt", data=b"x", timeout=10)
    assert (put.status_code, put.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")


def test_paths_outside_a_known_run_are_refused(tracking_uri: str) -> None:
    unknown = "0/" + "ab" * 16 + "/artifacts/x.txt"
    answer = requests.put(f"{tracking_uri}/api/2.0/mlflow-artifacts/artifacts/{unknown}", data=b"x", timeout=10)
    assert (answer.status_code, answer.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("{root}/../../other/artifacts/x", id="dot-dot-CVE-2023-1177"),
        pytest.param("{root}/%2e%2e/%2e%2e/x", id="encoded-dots-CVE-2023-6831"),
        pytest.param("{root}/%252e%252e/x", id="double-encoded-dots-CVE-2024-1483"),
        pytest.param("{root}/a%2f..%2f..%2fx", id="encoded-slash-CVE-2024-1560"),
        pytest.param("{root}/..%5c..%5cx", id="backslash-CVE-2023-6730"),
        pytest.param("{root}/x;..;/y", id="path-parameter-CVE-2024-1593"),
        pytest.param("{root}/x%23/../../y", id="fragment-CVE-2023-2780"),
        pytest.param("{root}/x%3F/../../y", id="query-CVE-2024-3573"),
        pytest.param("%2Fetc%2Fpasswd", id="absolute-CVE-2023-2356"),
        pytest.param("file:%2F%2F%2Fetc%2Fpasswd", id="file-scheme-CVE-2025-11201"),
        pytest.param("{root}//x", id="empty-segment"),
    ],
)
def test_traversal_forms_are_refused(run_id: str, tracking_uri: str, path: str) -> None:
    MlflowClient().log_text(run_id, "x", "inside.txt")
    root = f"{MlflowClient().get_run(run_id).info.experiment_id}/{run_id}/artifacts"
    target = path.format(root=root)
    for verb in ("artifacts", "presigned"):
        url = f"{tracking_uri}/api/2.0/mlflow-artifacts/{verb}/{target}"
        # A raw request: requests would normalise the dots away.
        session = requests.Session()
        prepared = session.prepare_request(requests.Request("GET", url))
        prepared.url = url
        answer = session.send(prepared, allow_redirects=False, timeout=10)
        assert answer.status_code in (400, 404), (verb, target, answer.status_code, answer.text)
        # 404 only for a path that, as the gateway delivers it, stays inside the run (a decoded "?" ends it).
        codes = ("INVALID_PARAMETER_VALUE", "ENDPOINT_NOT_FOUND", "RESOURCE_DOES_NOT_EXIST")
        assert answer.json()["error_code"] in codes, answer.text


def test_sklearn_model_logged_and_loaded_every_way(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    features = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.7], [0.9, 0.1]])
    labels = np.array([0, 1, 0, 1])
    model = LogisticRegression().fit(features, labels)
    mlflow.set_experiment("models-e2e")
    with mlflow.start_run() as run:
        mlflow.log_metric("accuracy", 1.0)
        info = mlflow.sklearn.log_model(model, name="model", input_example=features[:2])
    expected = model.predict(features)

    logged = mlflow.get_logged_model(info.model_id)
    assert logged.status == "READY"
    assert logged.source_run_id == run.info.run_id
    assert logged.artifact_location.startswith(f"mlflow-artifacts:/{run.info.experiment_id}/models/m-")
    assert {m.key for m in logged.metrics} == {"accuracy"}
    for uri in (f"runs:/{run.info.run_id}/model", f"models:/{info.model_id}", info.model_uri):
        loaded = mlflow.pyfunc.load_model(uri)
        assert (loaded.predict(features) == expected).all(), uri
    found = mlflow.search_logged_models(experiment_ids=[run.info.experiment_id], output_format="list")
    assert info.model_id in {m.model_id for m in found}


def test_autolog_writes_run_artifacts_and_a_logged_model() -> None:
    from sklearn.tree import DecisionTreeClassifier

    mlflow.set_experiment("autolog-e2e")
    mlflow.sklearn.autolog(log_input_examples=False, silent=True)
    try:
        with mlflow.start_run() as run:
            DecisionTreeClassifier(max_depth=2).fit([[0, 0], [1, 1], [0, 1], [1, 0]], [0, 1, 0, 1])
    finally:
        mlflow.sklearn.autolog(disable=True)
    client = MlflowClient()
    names = {f.path for f in client.list_artifacts(run.info.run_id)}
    assert "estimator.html" in names
    models = client.search_logged_models(experiment_ids=[run.info.experiment_id])
    assert any(m.source_run_id == run.info.run_id and m.status == "READY" for m in models)


def test_logged_model_api(run_id: str) -> None:
    client = MlflowClient()
    experiment_id = client.get_run(run_id).info.experiment_id
    model = client.create_logged_model(experiment_id, name="lm", source_run_id=run_id, params={"p": "1"})
    assert model.status == "PENDING"
    client.set_logged_model_tags(model.model_id, {"t": "v"})
    client.delete_logged_model_tag(model.model_id, "t")
    client.log_model_params(model.model_id, {"q": "2"})
    finalized = client.finalize_logged_model(model.model_id, "READY")
    assert (finalized.status, finalized.params, finalized.tags) == ("READY", {"p": "1", "q": "2"}, {})
    assert [m.model_id for m in client.search_logged_models([experiment_id], filter_string="name = 'lm'")] == [
        model.model_id
    ]
    client.delete_logged_model(model.model_id)
    with pytest.raises(MlflowException, match="not found"):
        client.get_logged_model(model.model_id)
    assert client.search_logged_models([experiment_id], filter_string="name = 'lm'") == []
    with pytest.raises(MlflowException, match="Invalid model name"):
        client.create_logged_model(experiment_id, name="a/b")


def test_an_explicit_location_in_the_stacks_bucket_is_kept_and_written_directly(tmp_path: Path) -> None:
    bucket = os.environ["STRATUS_ARTIFACT_BUCKET"]
    client = MlflowClient()
    experiment_id = client.create_experiment("explicit-location", artifact_location=f"s3://{bucket}/team-a")
    assert client.get_experiment(experiment_id).artifact_location == f"s3://{bucket}/team-a"
    run = client.create_run(experiment_id)
    assert run.info.artifact_uri == f"s3://{bucket}/team-a/{run.info.run_id}/artifacts"
    # The test process holds the local stack's S3 endpoint and credentials, so the client writes S3 itself.
    client.log_text(run.info.run_id, "direct", "d.txt")
    assert mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/d.txt") == "direct"


@pytest.mark.parametrize(
    "location",
    ["s3://someone-elses-bucket/x", "file:///tmp/x", "/tmp/x", "s3://{bucket}/mlartifacts/7", "s3://{bucket}/a/../b"],
)
def test_other_explicit_locations_are_refused(location: str) -> None:
    bucket = os.environ["STRATUS_ARTIFACT_BUCKET"]
    with pytest.raises(MlflowException) as caught:
        MlflowClient().create_experiment(
            f"refused-{uuid.uuid4().hex}", artifact_location=location.format(bucket=bucket)
        )
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"


def test_a_logged_models_artifacts_are_listed_by_its_id(run_id: str, tracking_uri: str) -> None:
    client = MlflowClient()
    experiment_id = client.get_run(run_id).info.experiment_id
    model = client.create_logged_model(experiment_id, name="listed", source_run_id=run_id)
    base = f"{tracking_uri}/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/models/{model.model_id}/artifacts"
    for path in ("MLmodel", "sub/weights.bin"):
        assert requests.put(f"{base}/{path}", data=b"12345", timeout=10).status_code == 200
    url = f"{tracking_uri}/api/2.0/mlflow/logged-models/{model.model_id}/artifacts/directories"
    root = requests.get(url, timeout=10).json()
    assert root["root_uri"] == model.artifact_location
    assert root["files"] == [
        {"path": "MLmodel", "is_dir": False, "file_size": 5},
        {"path": "sub", "is_dir": True},
    ]
    sub = requests.get(url, params={"artifact_directory_path": "sub"}, timeout=10).json()
    assert sub["files"] == [{"path": "sub/weights.bin", "is_dir": False, "file_size": 5}]
    assert requests.get(url, params={"artifact_directory_path": "../x"}, timeout=10).status_code == 400
