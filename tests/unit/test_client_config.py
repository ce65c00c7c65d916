"""backend_config of the stratus project backend (contract section 3), checked by the client before any run."""

from __future__ import annotations

import json

import pytest
from mlflow.exceptions import MlflowException
from mlflow_stratus.config import load_backend_config, resolve_env_manager, validate_backend_config

# What mlflow.projects._run puts into every backend_config.
MLFLOW_OWN = {
    "ENV_MANAGER": None,
    "SYNCHRONOUS": True,
    "DOCKER_ARGS": {},
    "STORAGE_DIR": None,
    "build_image": False,
    "docker_auth": None,
}


def _rejected(config: dict) -> str:
    with pytest.raises(MlflowException) as raised:
        validate_backend_config(config)
    assert raised.value.error_code == "INVALID_PARAMETER_VALUE"
    return raised.value.message


def test_mlflow_own_keys_are_accepted_and_left_out() -> None:
    config = {**MLFLOW_OWN, "USE_CONDA": False, "_mlflow_local_backend_run_id": "abc", "_mlflow_other": 1}

    assert validate_backend_config(config) == {}


def test_stratus_keys_are_normalised() -> None:
    config = {"vcpu": "2", "memory": 8192.0, "timeout": "600", "max_wait": 120, "environment": {"DATA": "s3://b/k"}}

    assert validate_backend_config({**MLFLOW_OWN, **config}) == {
        "vcpu": 2.0,
        "memory": 8192,
        "timeout": 600,
        "max_wait": 120,
        "environment": {"DATA": "s3://b/k"},
    }


def test_unknown_key_is_named_with_the_known_ones() -> None:
    message = _rejected({**MLFLOW_OWN, "vpcu": 2})

    assert message == (
        "Unknown backend_config key 'vpcu' for the stratus backend; known keys: vcpu, memory, timeout, max_wait, "
        "environment"
    )


def test_every_unknown_key_is_named() -> None:
    assert "keys 'cpus', 'mem' for" in _rejected({"mem": 1, "cpus": 2})


def test_experiment_name_points_to_the_mlflow_option() -> None:
    assert "--experiment-name" in _rejected({"experiment_name": "wine"})


def test_a_config_that_is_not_an_object_is_refused() -> None:
    assert "JSON object" in _rejected(["vcpu"])  # type: ignore[arg-type]


@pytest.mark.parametrize("vcpu", [0.25, 0.5, 1, 2, 4, 8, 16, "0.25"])
def test_each_fargate_vcpu_is_accepted_and_memory_left_to_the_server(vcpu: float) -> None:
    # The server picks the memory (the deployment's default when it fits this vcpu, else the smallest).
    assert validate_backend_config({"vcpu": vcpu}) == {"vcpu": float(vcpu)}


def test_null_values_mean_not_given() -> None:
    config = dict.fromkeys(("vcpu", "memory", "timeout", "max_wait", "environment"))

    assert validate_backend_config(config) == {}


@pytest.mark.parametrize("vcpu", [0, 0.75, 3, 32, "one", "nan", True, [1]])
def test_vcpu_outside_fargate_sizes_is_refused(vcpu: object) -> None:
    assert "vcpu must be one of Fargate's sizes 0.25, 0.5, 1, 2, 4, 8, 16" in _rejected({"vcpu": vcpu})


@pytest.mark.parametrize(
    ("vcpu", "memory"),
    [(0.25, 512), (0.25, 2048), (0.5, 4096), (1, 8192), (2, 16384), (4, 30720), (8, 61440), (16, 122880), (8, 20480)],
)
def test_memory_allowed_for_the_vcpu_is_accepted(vcpu: float, memory: int) -> None:
    assert validate_backend_config({"vcpu": vcpu, "memory": memory})["memory"] == memory


@pytest.mark.parametrize(
    ("vcpu", "memory"),
    [(0.25, 3072), (0.5, 512), (1, 1024), (1, 9216), (2, 2048), (4, 31744), (8, 18432), (16, 36864), (1, 2500)],
)
def test_memory_not_allowed_for_the_vcpu_is_refused_with_the_allowed_sizes(vcpu: float, memory: int) -> None:
    message = _rejected({"vcpu": vcpu, "memory": memory})

    assert f"memory {memory} MiB is not allowed with vcpu {vcpu:g} on Fargate; allowed: " in message


def test_memory_message_lists_the_sizes_of_that_vcpu() -> None:
    assert _rejected({"vcpu": 0.25, "memory": 4096}).endswith("allowed: 512, 1024, 2048")


def test_memory_alone_must_be_some_fargate_size() -> None:
    assert validate_backend_config({"memory": 30720}) == {"memory": 30720}
    assert "not a Fargate size" in _rejected({"memory": 2500})


@pytest.mark.parametrize("memory", ["2 GB", 2048.5, True, [2048], -1, "inf"])
def test_memory_must_be_a_whole_number(memory: object) -> None:
    message = _rejected({"memory": memory})

    assert "memory" in message


@pytest.mark.parametrize(("key", "low", "high"), [("timeout", 60, 1209600), ("max_wait", 60, 86400)])
def test_seconds_bounds_are_inclusive(key: str, low: int, high: int) -> None:
    assert validate_backend_config({key: low}) == {key: low}
    assert validate_backend_config({key: high}) == {key: high}
    for wrong in (low - 1, high + 1, "10 min", 90.5, False):
        assert f"{key} must be a whole number of seconds from {low} to {high}" in _rejected({key: wrong})


def test_environment_must_map_names_to_strings() -> None:
    assert "environment must be an object" in _rejected({"environment": ["A=1"]})
    assert "value of 'A' must be a string" in _rejected({"environment": {"A": 1}})


@pytest.mark.parametrize("name", ["", "1ABC", "A-B", "A B", "A=B", "A" * 129])
def test_environment_names_must_be_variable_names(name: str) -> None:
    assert "not a valid environment variable name" in _rejected({"environment": {name: "x"}})


@pytest.mark.parametrize("name", ["MLFLOW_TRACKING_URI", "MLFLOW_", "STRATUS_X", "AWS_BATCH_JOB_ID", "aws_region"])
def test_environment_names_stratus_or_aws_set_are_reserved(name: str) -> None:
    assert "is reserved" in _rejected({"environment": {name: "x"}})


def test_environment_has_at_most_50_variables() -> None:
    fifty = {f"V{index}": "x" for index in range(50)}

    assert validate_backend_config({"environment": fifty}) == {"environment": fifty}
    assert "at most 50 variables" in _rejected({"environment": {**fifty, "V50": "x"}})


def test_no_env_manager_leaves_the_stacks_default() -> None:
    assert resolve_env_manager({}) is None
    assert resolve_env_manager({"ENV_MANAGER": None}) is None


@pytest.mark.parametrize("env_manager", ["local", "virtualenv", "uv", "conda"])
def test_env_manager_from_mlflow_is_used(env_manager: str) -> None:
    assert resolve_env_manager({"ENV_MANAGER": env_manager}) == env_manager


def test_unknown_env_manager_is_refused() -> None:
    with pytest.raises(MlflowException, match="Invalid env manager 'pipenv'") as raised:
        resolve_env_manager({"ENV_MANAGER": "pipenv"})
    assert raised.value.error_code == "INVALID_PARAMETER_VALUE"


def test_config_is_read_from_a_json_file(tmp_path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"vcpu": 1}))

    assert load_backend_config(str(path)) == {"vcpu": 1}
    assert load_backend_config(path) == {"vcpu": 1}
    assert load_backend_config(None) == {}


@pytest.mark.parametrize(
    ("content", "expected"),
    [("{not json", "Could not read the backend config file"), ("[1]", "must hold a JSON object")],
)
def test_a_bad_json_file_is_refused(tmp_path, content: str, expected: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(content)

    with pytest.raises(MlflowException, match=expected):
        load_backend_config(str(path))


def test_a_missing_json_file_or_other_path_is_refused(tmp_path) -> None:
    with pytest.raises(MlflowException, match="Could not read"):
        load_backend_config(str(tmp_path / "absent.json"))
    with pytest.raises(MlflowException, match="or the path of a .json file"):
        load_backend_config(str(tmp_path / "config.yaml"))
