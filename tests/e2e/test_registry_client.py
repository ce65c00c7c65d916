"""The model registry with the stock client against ``stratus local``: registering from log_model, loading by
version and alias, stages, aliases, concurrency, search, rename and delete, prompts, source checks, and the
promotion history Stratus adds."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import mlflow
import numpy as np
import pytest
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def logged() -> dict[str, object]:
    """A scikit-learn model logged and registered once, as version 1 of a fresh registered model."""
    from sklearn.linear_model import LinearRegression

    features = np.array([[1.0], [2.0], [3.0]])
    model = LinearRegression().fit(features, np.array([1.0, 2.0, 3.5]))
    name = _name("reg")
    mlflow.set_experiment("registry-e2e")
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(model, name="model", registered_model_name=name)
    return {"name": name, "info": info, "run": run, "features": features, "expected": model.predict(features)}


def test_log_model_registers_version_one_and_loads_by_version_and_alias(logged: dict) -> None:
    client = MlflowClient()
    name = logged["name"]
    version = client.get_model_version(name, "1")
    assert (version.version, version.run_id, version.status) == ("1", logged["run"].info.run_id, "READY")
    assert version.source == f"models:/{logged['info'].model_id}"
    for uri in (f"models:/{name}/1", f"models:/{name}/latest"):
        assert np.allclose(mlflow.pyfunc.load_model(uri).predict(logged["features"]), logged["expected"]), uri
    client.set_registered_model_alias(name, "champion", "1")
    assert client.get_model_version_by_alias(name, "champion").version == "1"
    loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    assert np.allclose(loaded.predict(logged["features"]), logged["expected"])
    assert client.get_registered_model(name).aliases == {"champion": "1"}


def test_a_missing_alias_is_invalid_parameter_value(logged: dict) -> None:
    with pytest.raises(MlflowException) as caught:
        MlflowClient().get_model_version_by_alias(logged["name"], "nope")
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "Registered model alias nope not found." in caught.value.message


def test_stage_transition_archives_the_previous_production_version(logged: dict) -> None:
    client = MlflowClient()
    name = _name("stages")
    client.create_registered_model(name)
    source = f"models:/{logged['info'].model_id}"
    for _ in range(3):
        client.create_model_version(name, source, model_id=logged["info"].model_id)
    client.transition_model_version_stage(name, "1", "Production")
    client.transition_model_version_stage(name, "2", "production", archive_existing_versions=True)
    stages = {v.version: v.current_stage for v in client.search_model_versions(f"name = '{name}'")}
    assert stages == {"1": "Archived", "2": "Production", "3": "None"}
    latest = {v.current_stage: v.version for v in client.get_latest_versions(name)}
    assert latest == {"None": "3", "Production": "2", "Archived": "1"}
    with pytest.raises(MlflowException, match="is not an Active stage"):
        client.transition_model_version_stage(name, "3", "Archived", archive_existing_versions=True)


def test_sixteen_concurrent_registrations_get_versions_one_to_sixteen(logged: dict) -> None:
    client = MlflowClient()
    name = _name("concurrent")
    client.create_registered_model(name)
    source = f"models:/{logged['info'].model_id}"

    def register(_: int) -> str:
        return MlflowClient().create_model_version(name, source, model_id=logged["info"].model_id).version

    with ThreadPoolExecutor(max_workers=16) as pool:
        numbers = sorted(int(v) for v in pool.map(register, range(16)))
    assert numbers == list(range(1, 17))
    assert sorted(int(v.version) for v in client.search_model_versions(f"name = '{name}'")) == list(range(1, 17))


def test_rename_carries_versions_tags_and_aliases_and_delete_removes_everything(logged: dict) -> None:
    client = MlflowClient()
    name, new_name = _name("old"), _name("new")
    client.create_registered_model(name, tags={"team": "a"}, description="d")
    client.create_model_version(name, f"models:/{logged['info'].model_id}", model_id=logged["info"].model_id)
    client.set_registered_model_alias(name, "prod", "1")
    client.rename_registered_model(name, new_name)
    renamed = client.get_registered_model(new_name)
    assert (renamed.tags, renamed.aliases, renamed.description) == ({"team": "a"}, {"prod": "1"}, "d")
    assert client.get_model_version(new_name, "1").name == new_name
    with pytest.raises(MlflowException) as caught:
        client.get_registered_model(name)
    assert caught.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    client.delete_registered_model(new_name)
    assert client.search_model_versions(f"name = '{new_name}'") == []
    with pytest.raises(MlflowException):
        client.get_model_version(new_name, "1")


def test_searches(logged: dict) -> None:
    client = MlflowClient()
    found = client.search_registered_models(filter_string=f"name = '{logged['name']}'")
    assert [m.name for m in found] == [logged["name"]]
    by_run = client.search_model_versions(f"run_id = '{logged['run'].info.run_id}'")
    assert logged["name"] in {v.name for v in by_run}


def test_prompts_are_registry_entries_that_model_searches_skip() -> None:
    name = _name("prompt")
    mlflow.genai.register_prompt(name=name, template="Hello {{who}}")
    prompt = mlflow.genai.load_prompt(f"prompts:/{name}/1")
    assert prompt.format(who="you") == "Hello you"
    assert name in {p.name for p in mlflow.genai.search_prompts(filter_string=f"name = '{name}'")}
    assert name not in {m.name for m in MlflowClient().search_registered_models(filter_string=f"name = '{name}'")}


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("file:///etc/passwd", id="file-CVE-2023-1177"),
        pytest.param("/etc/passwd", id="local-path-CVE-2023-2356"),
        pytest.param("s3://someone-elses-bucket/model", id="foreign-bucket"),
        pytest.param("runs:/" + "a" * 32 + "/../../../etc", id="traversal-CVE-2023-2780"),
        pytest.param("http://169.254.169.254/latest", id="ssrf-CVE-2024-3573"),
    ],
)
def test_sources_outside_stratus_are_refused(source: str) -> None:
    client = MlflowClient()
    name = _name("sources")
    client.create_registered_model(name)
    with pytest.raises(MlflowException) as caught:
        client.create_model_version(name, source)
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"


def test_promotion_history_records_every_stage_and_alias_move(logged: dict, tracking_uri: str) -> None:
    client = MlflowClient()
    name = _name("history")
    client.create_registered_model(name)
    for _ in range(2):
        client.create_model_version(name, f"models:/{logged['info'].model_id}", model_id=logged["info"].model_id)
    client.set_registered_model_alias(name, "champion", "1")
    client.set_registered_model_alias(name, "champion", "2")
    client.transition_model_version_stage(name, "2", "Production")
    client.delete_registered_model_alias(name, "champion")
    url = f"{tracking_uri}/api/2.0/stratus/registered-models/history"
    events = requests.get(url, params={"name": name}, timeout=10).json()["events"]
    kinds = [(e["kind"], e.get("alias"), e["from"], e["to"]) for e in events]
    assert kinds == [
        ("alias_deleted", "champion", "2", None),
        ("stage", None, "None", "Production"),
        ("alias_moved", "champion", "1", "2"),
        ("alias_set", "champion", None, "1"),
    ]
    assert all(e["actor"].startswith("arn:aws:iam::") for e in events)
    one = requests.get(url, params={"name": name, "version": "1"}, timeout=10).json()["events"]
    assert [e["kind"] for e in one] == ["alias_set"]
    paged = requests.get(url, params={"name": name, "max_results": 3}, timeout=10).json()
    assert len(paged["events"]) == 3 and paged["next_page_token"]


def test_copy_update_tag_and_delete_a_version(logged: dict) -> None:
    client = MlflowClient()
    source_name, target_name = _name("copy-src"), _name("copy-dst")
    client.create_registered_model(source_name)
    client.create_model_version(source_name, f"models:/{logged['info'].model_id}", model_id=logged["info"].model_id)
    copied = client.copy_model_version(f"models:/{source_name}/1", target_name)
    assert (copied.name, copied.version) == (target_name, "1")
    assert client.get_model_version_download_uri(target_name, "1") == client.get_model_version_download_uri(
        source_name, "1"
    )
    loaded = mlflow.pyfunc.load_model(f"models:/{target_name}/1")
    assert np.allclose(loaded.predict(logged["features"]), logged["expected"])
    client.update_model_version(target_name, "1", description="copied")
    client.set_model_version_tag(target_name, "1", "validated", "yes")
    version = client.get_model_version(target_name, "1")
    assert (version.description, version.tags) == ("copied", {"validated": "yes"})
    client.delete_model_version_tag(target_name, "1", "validated")
    client.set_registered_model_alias(target_name, "prod", "1")
    client.delete_model_version(target_name, "1")
    with pytest.raises(MlflowException) as caught:
        client.get_model_version(target_name, "1")
    assert caught.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert client.get_registered_model(target_name).aliases == {}
    # Numbers are never reused.
    assert (
        client.create_model_version(
            target_name, f"models:/{logged['info'].model_id}", model_id=logged["info"].model_id
        ).version
        == "2"
    )
