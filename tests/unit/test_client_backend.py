"""``mlflow run --backend stratus``'s flow, against a fake Stratus API and a real (SQLite) MLflow tracking store:
what is sent, what the run looks like, and that a failure never leaves the run RUNNING."""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from pathlib import Path
from typing import Any

import mlflow
import pytest
import requests
from mlflow.exceptions import MlflowException
from mlflow.projects.backend import loader
from mlflow.tracking import MlflowClient
from mlflow.tracking._tracking_service import utils as tracking_utils
from mlflow_stratus import http
from mlflow_stratus.api import ProjectsApi
from mlflow_stratus.http import StratusHttp
from mlflow_stratus.projects import StratusBackend, StratusSubmittedRun

STRATUS = "http://stratus.test"
UPLOAD_URL = "http://bucket.test/projects/packages/p1.tar.gz?X-Amz-Signature=sig"
MLPROJECT = """name: wine
python_env: python_env.yaml
entry_points:
  main:
    parameters:
      alpha: {type: float, default: 0.5}
      epochs: {type: int, default: 3}
    command: "python train.py --alpha {alpha} --epochs {epochs}"
"""


def _response(status: int, body: Any) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.url = STRATUS
    response._content = json.dumps(body).encode()
    return response


class FakeStratus:
    """The projects API as the contract describes it, in memory. ``fail`` makes one route answer an error;
    ``end_on_reject`` makes a rejected submit end the run FAILED first, as the server does."""

    def __init__(self, tracking_uri: str) -> None:
        self.tracking = MlflowClient(tracking_uri)
        self.calls: list[tuple[str, str, dict]] = []
        self.uploaded: bytes | None = None
        self.upload_headers: dict[str, str] | None = None
        self.project_runs: dict[str, dict] = {}
        self.fail: dict[str, tuple[int, dict]] = {}
        self.end_on_reject = False
        self.lose_submit_answer = False
        self.statuses: list[str] = []

    def http_request(self, host_creds, endpoint: str, method: str, **kwargs: Any) -> requests.Response:
        body = kwargs.get("json") or kwargs.get("params") or {}
        route = endpoint.removeprefix("/api/2.0/stratus/projects/")
        self.calls.append((method, route, body))
        if route in self.fail:
            status, error = self.fail[route]
            if route == "runs/submit" and self.end_on_reject:
                self.tracking.set_terminated(body["run_id"], "FAILED")
            return _response(status, error)
        if route == "runs/submit" and self.lose_submit_answer:
            self.runs_submit(body)
            return _response(400, {"error_code": "RESOURCE_ALREADY_EXISTS", "message": "already submitted"})
        return _response(200, getattr(self, route.replace("/", "_"))(body))

    def packages(self, body: dict) -> dict:
        return {
            "package_id": "p1",
            "package_uri": "s3://bucket/projects/packages/p1.tar.gz",
            "upload_url": UPLOAD_URL,
            "upload_headers": {"Content-Type": "application/gzip"},
        }

    def runs_submit(self, body: dict) -> dict:
        self.project_runs[body["run_id"]] = {"run_id": body["run_id"], "state": "SUBMITTED", "run_status": "SCHEDULED"}
        return {"project_run": self.project_runs[body["run_id"]]}

    def runs_get(self, body: dict) -> dict:
        project_run = self.project_runs[body["run_id"]]
        if self.statuses:
            project_run["run_status"] = self.statuses.pop(0)
        return {"project_run": project_run}

    def runs_cancel(self, body: dict) -> dict:
        self.statuses = ["RUNNING", "KILLED"]
        return {"project_run": self.project_runs[body["run_id"]]}

    def put(self, method: str, url: str, data, headers: dict, timeout: float) -> requests.Response:
        self.calls.append((method.upper(), "upload", {}))
        if "upload" in self.fail:
            return _response(*self.fail["upload"])
        self.uploaded, self.upload_headers = data.read(), headers
        return _response(200, {})

    def routes(self) -> list[str]:
        return [route for _, route, _ in self.calls]

    def sent(self, route: str) -> dict:
        return next(body for _, called, body in self.calls if called == route)


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory):
    uri = f"sqlite:///{tmp_path_factory.mktemp('tracking')}/mlflow.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        MlflowClient(uri).search_experiments()  # creates the schema once
        yield uri


@pytest.fixture
def stratus(tracking_uri: str, monkeypatch: pytest.MonkeyPatch) -> FakeStratus:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    # a URI set with mlflow.set_tracking_uri (by an earlier test in this worker) would win over the variable
    monkeypatch.setattr(tracking_utils, "_tracking_uri", None)
    fake = FakeStratus(tracking_uri)
    monkeypatch.setattr(http, "http_request", fake.http_request)
    monkeypatch.setattr(http, "cloud_storage_http_request", fake.put)
    return fake


@pytest.fixture
def experiment_id(tracking_uri: str) -> str:
    return MlflowClient(tracking_uri).create_experiment(f"projects-{uuid.uuid4().hex}")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "wine"
    root.mkdir()
    (root / "MLproject").write_text(MLPROJECT)
    (root / "python_env.yaml").write_text("python: '3.11'\ndependencies: [mlflow]\n")
    (root / "train.py").write_text("print('training')\n")
    (root / ".gitignore").write_text("*.csv\n")
    (root / "big.csv").write_text("1,2\n")
    return root


def _backend() -> StratusBackend:
    return StratusBackend(connect=lambda uri: ProjectsApi(StratusHttp(STRATUS)))


def _run(tracking_uri: str, project: Path, experiment_id: str, backend_config: Any = None, **kwargs: Any):
    config = {"ENV_MANAGER": None, "SYNCHRONOUS": True, "DOCKER_ARGS": {}, "STORAGE_DIR": None}
    config.update({"build_image": False, "docker_auth": None})
    if isinstance(backend_config, dict):
        config.update(backend_config)
    elif backend_config is not None:
        config = backend_config
    return _backend().run(
        str(project),
        kwargs.get("entry_point", "main"),
        kwargs.get("params", {"alpha": 0.3}),
        None,
        config,
        tracking_uri,
        experiment_id,
    )


def _runs(tracking_uri: str, experiment_id: str):
    return MlflowClient(tracking_uri).search_runs([experiment_id])


def test_submit_uploads_the_package_and_sends_the_contract_body(
    stratus: FakeStratus, tracking_uri: str, project: Path, experiment_id: str
) -> None:
    submitted = _run(tracking_uri, project, experiment_id, {"vcpu": 2, "timeout": 600, "environment": {"A": "1"}})

    assert isinstance(submitted, StratusSubmittedRun)
    assert stratus.routes() == ["packages", "upload", "runs/submit"]
    assert stratus.sent("packages") == {"experiment_id": experiment_id, "size_bytes": len(stratus.uploaded)}
    assert stratus.upload_headers == {"Content-Type": "application/gzip"}
    with tarfile.open(fileobj=io.BytesIO(stratus.uploaded), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == [".gitignore", "MLproject", "python_env.yaml", "train.py"]
    assert stratus.sent("runs/submit") == {
        "run_id": submitted.run_id,
        "package_id": "p1",
        "entry_point": "main",
        "parameters": {"alpha": "0.3"},
        "env_manager": None,  # no --env-manager: the stack's default
        "backend_config": {"vcpu": 2.0, "timeout": 600, "environment": {"A": "1"}},
    }


def test_the_run_has_mlflows_project_tags_and_params_and_stays_running(
    stratus: FakeStratus, tracking_uri: str, project: Path, experiment_id: str
) -> None:
    submitted = _run(tracking_uri, project, experiment_id)

    run = MlflowClient(tracking_uri).get_run(submitted.run_id)
    assert run.info.status == "RUNNING"
    assert run.info.experiment_id == experiment_id
    assert run.data.params == {"alpha": "0.3", "epochs": "3"}
    assert run.data.tags["mlflow.source.type"] == "PROJECT"
    assert run.data.tags["mlflow.project.entryPoint"] == "main"
    assert "mlflow.project.env" not in run.data.tags  # as the local backend with --env-manager local


def test_env_manager_from_mlflow_is_sent_and_tagged(
    stratus: FakeStratus, tracking_uri: str, project: Path, experiment_id: str
) -> None:
    submitted = _run(tracking_uri, project, experiment_id, {"ENV_MANAGER": "virtualenv"})

    assert stratus.sent("runs/submit")["env_manager"] == "virtualenv"
    tags = MlflowClient(tracking_uri).get_run(submitted.run_id).data.tags
    assert tags["mlflow.project.env"] == "virtualenv"


def test_docker_project_sends_its_image_and_runs_with_local_env(
    stratus: FakeStratus, tracking_uri: str, project: Path, experiment_id: str
) -> None:
    (project / "MLproject").write_text(
        MLPROJECT.replace("python_env: python_env.yaml", "docker_env:\n  image: ghcr.io/acme/train:1")
    )

    submitted = _run(tracking_uri, project, experiment_id, {"ENV_MANAGER": "virtualenv"})

    body = stratus.sent("runs/submit")
    assert (body["docker_image"], body["env_manager"]) == ("ghcr.io/acme/train:1", "local")
    assert MlflowClient(tracking_uri).get_run(submitted.run_id).data.tags["mlflow.project.env"] == "docker"


def test_backend_config_may_be_a_json_file(
    stratus: FakeStratus, tracking_uri: str, project: Path, experiment_id: str, tmp_path: Path
) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"vcpu": 0.5, "memory": 2048}))

    _run(tracking_uri, project, experiment_id, str(path))

    assert stratus.sent("runs/submit")["backend_config"] == {"vcpu": 0.5, "memory": 2048}


@pytest.mark.parametrize(
    ("backend_config", "message"),
    [
        ({"vpcu": 2}, "Unknown backend_config key 'vpcu'"),
        ({"vcpu": 3}, "vcpu must be one of"),
        ({"vcpu": 1, "memory": 512}, "not allowed with vcpu 1"),
        ({"environment": {"MLFLOW_RUN_ID": "x"}}, "is reserved"),
        ({"ENV_MANAGER": "pipenv"}, "Invalid env manager"),
        ({"ENV_MANAGER": "conda"}, "python_env project cannot be executed using conda"),
    ],
)
def test_a_refused_config_fails_before_any_run_or_request(
    stratus: FakeStratus, tracking_uri: str, project: Path, experiment_id: str, backend_config: dict, message: str
) -> None:
    with pytest.raises(MlflowException, match=message) as raised:
        _run(tracking_uri, project, experiment_id, backend_config)

    assert raised.value.error_code == "INVALID_PARAMETER_VALUE"
    assert _runs(tracking_uri, experiment_id) == []
    assert stratus.calls == []


def test_a_tracking_uri_that_is_not_stratus_fails_before_any_run(
    tracking_uri: str, project: Path, experiment_id: str
) -> None:
    with pytest.raises(MlflowException, match="needs the tracking URI to be the Stratus URL"):
        StratusBackend().run(str(project), "main", {}, None, {}, tracking_uri, experiment_id)

    assert _runs(tracking_uri, experiment_id) == []


def test_a_failed_package_request_leaves_the_run_failed(
    stratus: FakeStratus, tracking_uri: str, project: Path, experiment_id: str
) -> None:
    stratus.fail["packages"] = (403, {"error_code": "PERMISSION_DENIED", "message": "not allowed"})

    with pytest.raises(MlflowException, match="not allowed"):
        _run(tracking_uri, project, experiment_id)

    [run] = _runs(tracking_uri, experiment_id)
    assert run.info.status == "FAILED"


def test_a_failed_upload_leaves_the_run_failed_and_submits_nothing(
    stratus: FakeStratus, tracking_uri: str, project: Path, experiment_id: str
) -> None:
    stratus.fail["upload"] = (403, {"Code": "SignatureDoesNotMatch"})

    with pytest.raises(MlflowException, match="Uploading the project package failed: HTTP 403"):
        _run(tracking_uri, project, experiment_id)

    [run] = _runs(tracking_uri, experiment_id)
    assert run.info.status == "FAILED"
    assert "runs/submit" not in stratus.routes()


def test_a_failed_submit_leaves_the_run_failed(
    stratus: FakeStratus, tracking_uri: str, project: Path, experiment_id: str
) -> None:
    stratus.fail["runs/submit"] = (500, {"error_code": "INTERNAL_ERROR", "message": "An internal error occurred"})

    with pytest.raises(MlflowException, match="An internal error occurred"):
        _run(tracking_uri, project, experiment_id)

    [run] = _runs(tracking_uri, experiment_id)
    assert run.info.status == "FAILED"


def test_a_submit_the_server_rejected_keeps_the_servers_ending(
    stratus: FakeStratus, tracking_uri: str, project: Path, experiment_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stratus.fail["runs/submit"] = (400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "not enabled"})
    stratus.end_on_reject = True
    ended = []
    real_set_terminated = MlflowClient.set_terminated

    def set_terminated(self, run_id: str, status: str) -> None:
        ended.append(status)
        real_set_terminated(self, run_id, status)

    monkeypatch.setattr(MlflowClient, "set_terminated", set_terminated)

    with pytest.raises(MlflowException, match="not enabled") as raised:
        _run(tracking_uri, project, experiment_id)

    assert raised.value.error_code == "INVALID_PARAMETER_VALUE"
    assert ended == ["FAILED"]  # the server's own call, not a second one from the client
    [run] = _runs(tracking_uri, experiment_id)
    assert run.info.status == "FAILED"


def test_an_interrupted_upload_leaves_the_run_failed(
    stratus: FakeStratus, tracking_uri: str, project: Path, experiment_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(http, "cloud_storage_http_request", interrupted)

    with pytest.raises(KeyboardInterrupt):
        _run(tracking_uri, project, experiment_id)

    [run] = _runs(tracking_uri, experiment_id)
    assert run.info.status == "FAILED"


def test_a_submit_answered_already_exists_after_a_retry_is_the_same_run(
    stratus: FakeStratus, tracking_uri: str, project: Path, experiment_id: str
) -> None:
    # The server took the submit but its answer was lost; MLflow's retry was answered RESOURCE_ALREADY_EXISTS.
    stratus.lose_submit_answer = True

    submitted = _run(tracking_uri, project, experiment_id)

    assert stratus.routes()[-2:] == ["runs/submit", "runs/get"]
    assert MlflowClient(tracking_uri).get_run(submitted.run_id).info.status == "RUNNING"


def test_wait_polls_with_backoff_until_the_run_ends() -> None:
    api = _StubApi(["SCHEDULED", "SCHEDULED", "RUNNING", "RUNNING", "RUNNING", "RUNNING", "RUNNING", "FINISHED"])
    slept: list[float] = []

    assert StratusSubmittedRun("r1", api, sleep=slept.append).wait() is True

    assert slept == [1.0, 1.5, 2.25, 3.375, 5.0, 5.0, 5.0]


@pytest.mark.parametrize("status", ["FAILED", "KILLED"])
def test_wait_is_false_when_the_run_did_not_finish(status: str) -> None:
    assert StratusSubmittedRun("r1", _StubApi(["RUNNING", status]), sleep=lambda _: None).wait() is False


def test_get_status_is_the_project_runs_mlflow_status() -> None:
    assert StratusSubmittedRun("r1", _StubApi(["SCHEDULED"])).get_status() == "SCHEDULED"


def test_cancel_asks_stratus_then_waits_for_the_end() -> None:
    api = _StubApi(["RUNNING", "RUNNING", "KILLED"])
    submitted = StratusSubmittedRun("r1", api, sleep=lambda _: None)

    submitted.cancel()

    assert api.cancelled == ["r1"]
    assert api.statuses == []


class _StubApi:
    def __init__(self, statuses: list[str]) -> None:
        self.statuses = list(statuses)
        self.cancelled: list[str] = []

    def get_run(self, run_id: str) -> dict:
        return {"run_id": run_id, "run_status": self.statuses.pop(0)}

    def cancel(self, run_id: str) -> dict:
        self.cancelled.append(run_id)
        return {"run_id": run_id, "run_status": "RUNNING"}


def test_mlflow_loads_the_backend_from_the_installed_entry_point() -> None:
    assert isinstance(loader.load_backend("stratus"), StratusBackend)


def test_mlflow_run_with_the_stratus_backend_submits_and_tags_the_backend(
    stratus: FakeStratus, tracking_uri: str, project: Path, experiment_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loader, "load_backend", lambda name: _backend())

    submitted = mlflow.projects.run(
        str(project),
        parameters={"alpha": "0.7"},
        experiment_id=experiment_id,
        backend="stratus",
        backend_config={"vcpu": 1},
        synchronous=False,
        run_name="wine-on-batch",
    )

    tags = MlflowClient(tracking_uri).get_run(submitted.run_id).data.tags
    assert tags["mlflow.project.backend"] == "stratus"
    assert tags["mlflow.runName"] == "wine-on-batch"
    assert stratus.sent("runs/submit")["backend_config"] == {"vcpu": 1.0}
