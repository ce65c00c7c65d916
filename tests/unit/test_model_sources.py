"""Model-version sources: the forms Stratus registers from, and every trick MLflow shipped a CVE for.

Each refused case is otherwise a valid request (the run_id or model_id it names is given), so a refusal can only come
from the trick itself. The last section checks the messages, and that the accepted forms pass the reference's own
traversal check, against mlflow's functions when mlflow is installed.
"""

from __future__ import annotations

import pytest

from stratus.domain.model_sources import (
    MAX_SOURCE_CHARS,
    ModelSource,
    artifact_root_key,
    lineage_mismatch,
    prompt_as_source,
    validate_model_version_source,
)
from stratus.errors import InvalidParameterValue

BUCKET = "stratus-artifacts-123"
EXP = "7"
RUN = "0123456789abcdef0123456789abcdef"
OTHER_RUN = "fedcba9876543210fedcba9876543210"
MODEL = "m-00112233445566778899aabbccddeeff"
OTHER_MODEL = "m-ffeeddccbbaa99887766554433221100"
RUN_ROOT = f"{EXP}/{RUN}/artifacts"
MODEL_ROOT = f"{EXP}/models/{MODEL}/artifacts"

TRAVERSAL = (
    "If supplying a source as an http, https, local file path, ftp, objectstore, or mlflow-artifacts uri, an absolute "
    "path must be provided without relative path references present. Please provide an absolute path."
)


def validate(source: str, run_id: str | None = RUN, model_id: str | None = None, **kwargs: bool) -> ModelSource:
    return validate_model_version_source(source, bucket=BUCKET, run_id=run_id, model_id=model_id, **kwargs)


def refused(source: str, run_id: str | None = RUN, model_id: str | None = None, **kwargs: bool) -> str:
    with pytest.raises(InvalidParameterValue) as info:
        validate(source, run_id, model_id, **kwargs)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert info.value.http_status == 400
    return info.value.message


def cve(cve_id: str, *cases: str | tuple[str, str | None, str | None]) -> list[object]:
    """``(source, run_id, model_id)`` params named after the CVE; a bare source comes with the run it names."""
    params = []
    for number, case in enumerate(cases):
        source, run_id, model_id = (case, RUN, None) if isinstance(case, str) else case
        params.append(pytest.param(source, run_id, model_id, id=f"{cve_id}-{number}"))
    return params


# --------------------------------------------------------------------------- accepted forms


@pytest.mark.parametrize(
    ("source", "run_id", "model_id", "expected"),
    [
        pytest.param(f"runs:/{RUN}/model", RUN, None, ModelSource("run", run_id=RUN), id="runs"),
        pytest.param(f"runs:/{RUN}/sub dir/model.v2/", RUN, None, ModelSource("run", run_id=RUN), id="runs-slash"),
        pytest.param(f"runs:/{RUN}", RUN, None, ModelSource("run", run_id=RUN), id="runs-root"),
        # the reference never looks the run up: its id may be another server's (MLflow's own tests use such ids)
        pytest.param(
            "runs:/some-run-id/model",
            "some-run-id",
            None,
            ModelSource("run", run_id="some-run-id"),
            id="runs-foreign-id",
        ),
        pytest.param(f"models:/{MODEL}", None, MODEL, ModelSource("model", model_id=MODEL), id="logged-model"),
        pytest.param(
            f"models:/{MODEL}", RUN, MODEL, ModelSource("model", run_id=RUN, model_id=MODEL), id="logged-model-run"
        ),
        pytest.param(
            "models:/Iris classifier/12",
            RUN,
            MODEL,
            ModelSource("model_version", run_id=RUN, model_id=MODEL, name="Iris classifier", version="12"),
            id="copy-model-version",
        ),
        pytest.param(
            "models:/Iris/3", None, None, ModelSource("model_version", name="Iris", version="3"), id="copy-no-lineage"
        ),
        pytest.param(
            f"mlflow-artifacts:/{RUN_ROOT}/model",
            RUN,
            None,
            ModelSource("run", run_id=RUN, experiment_id=EXP, key=f"mlartifacts/{RUN_ROOT}/model"),
            id="proxied-run",
        ),
        pytest.param(
            f"mlflow-artifacts:/{MODEL_ROOT}",
            RUN,
            MODEL,
            ModelSource("model", run_id=RUN, model_id=MODEL, experiment_id=EXP, key=f"mlartifacts/{MODEL_ROOT}"),
            id="proxied-model",
        ),
        pytest.param(
            f"s3://{BUCKET}/mlartifacts/{RUN_ROOT}/model/",
            RUN,
            None,
            ModelSource("run", run_id=RUN, experiment_id=EXP, key=f"mlartifacts/{RUN_ROOT}/model"),
            id="s3-default-location-run",
        ),
        pytest.param(
            f"s3://{BUCKET}/mlartifacts/{MODEL_ROOT}/MLmodel",
            None,
            MODEL,
            ModelSource("model", model_id=MODEL, experiment_id=EXP, key=f"mlartifacts/{MODEL_ROOT}/MLmodel"),
            id="s3-default-location-model",
        ),
        pytest.param(
            f"s3://{BUCKET}/team/exp-a/{RUN}/artifacts/model",
            RUN,
            None,
            ModelSource("location", run_id=RUN, key=f"team/exp-a/{RUN}/artifacts/model"),
            id="s3-explicit-location-run",
        ),
        pytest.param(
            f"s3://{BUCKET}/team/models/{MODEL}/artifacts",
            RUN,
            MODEL,
            ModelSource("location", run_id=RUN, model_id=MODEL, key=f"team/models/{MODEL}/artifacts"),
            id="s3-explicit-location-model",
        ),
    ],
)
def test_accepted_sources_say_what_they_refer_to(source, run_id, model_id, expected):
    assert validate(source, run_id, model_id) == expected


@pytest.mark.parametrize("placeholder", ["dummy-source", "prompt-template"])
def test_prompt_versions_take_the_reference_placeholders(placeholder):
    assert validate(placeholder, None, None, is_prompt=True) == ModelSource("prompt")


def test_empty_ids_count_as_absent():
    assert validate(f"models:/{MODEL}", "", MODEL) == ModelSource("model", model_id=MODEL)
    assert refused(f"runs:/{RUN}/model", "", "") == (
        f"Invalid model version source: 'runs:/{RUN}/model'. The run_id request parameter must identify the "
        "resource that contains the source."
    )


# --------------------------------------------------------------------------- the CVEs


@pytest.mark.parametrize(
    ("source", "run_id", "model_id"),
    cve(
        "CVE-2023-1177",
        "/etc/passwd",
        "/etc/",
        "file:///etc/passwd",
        "file:/etc/passwd",
        "file://localhost/etc/passwd",
        "etc/passwd",
        "~/.aws/credentials",
        f"/srv/mlruns/{EXP}/{RUN}/artifacts/model",  # inside the run's local directory: the reference accepts it
        f"mlruns/{EXP}/{RUN}/artifacts/model",
        (f"file:///srv/mlruns/{EXP}/models/{MODEL}/artifacts", None, MODEL),
    ),
)
def test_local_paths_are_refused(source, run_id, model_id):
    assert "Local paths and file: URIs are not accepted" in refused(source, run_id, model_id)


@pytest.mark.parametrize(
    ("source", "run_id", "model_id"),
    cve(
        "CVE-2023-2356",
        f"runs:/{RUN}/../../../../etc",
        f"runs:/{RUN}/..",
        f"runs:/{RUN}/model/../../{OTHER_RUN}/model",
        f"runs:/{RUN}/model/./MLmodel",
        f"runs:/{RUN}/model/.../x",
        f"mlflow-artifacts:/{RUN_ROOT}/../../../../etc",
        f"mlflow-artifacts:/{RUN_ROOT}/..",
        (f"mlflow-artifacts:/{MODEL_ROOT}/../../../models/{OTHER_MODEL}/artifacts", None, MODEL),
        (f"models:/{MODEL}/..", None, MODEL),
        "models:/../1",
        f"s3://{BUCKET}/mlartifacts/{RUN_ROOT}/../../../..",
        f"s3://{BUCKET}/team/{RUN}/artifacts/../../secrets",
        f"s3://{BUCKET}/team/../mlartifacts/{RUN_ROOT}",
    ),
)
def test_relative_path_references_are_refused(source, run_id, model_id):
    assert refused(source, run_id, model_id) == f"Invalid model version source: '{source}'. {TRAVERSAL}"


@pytest.mark.parametrize(
    ("source", "run_id", "model_id"),
    cve("CVE-2023-1177-dots", "./mlruns", "../mlruns", f"/srv/mlruns/../{EXP}/{RUN}/artifacts")
    + cve("CVE-2024-3573-dots", "file://./etc/passwd", "file://../etc/passwd"),
)
def test_local_paths_with_dot_segments_are_refused_as_relative_references(source, run_id, model_id):
    assert refused(source, run_id, model_id) == f"Invalid model version source: '{source}'. {TRAVERSAL}"


@pytest.mark.parametrize(
    ("source", "run_id", "model_id"),
    cve(
        "CVE-2023-2780",
        f"runs:/{RUN}/model\\..\\..\\etc",
        f"runs:/{RUN}/\\..\\..\\etc\\passwd",
        f"mlflow-artifacts:/{RUN_ROOT}\\..\\..\\",
        f"runs:/{RUN}/..%2f..%2fetc",
        f"runs:/{RUN}/%2e%2e/%2e%2e/etc",
        f"runs:/{RUN}/%252e%252e%252f%252e%252e",
        f"runs:/{RUN}/..%5c..%5cetc",
        f"runs:/{RUN}/..+/x",
        f"runs:/{RUN}/%2e%2e%20/x",
        f"mlflow-artifacts:/{RUN_ROOT}/%2E%2E/%2E%2E",
        f"s3://{BUCKET}/mlartifacts/{RUN_ROOT}/%252E%252E/x",
        f"runs:/{RUN}/\uff0e\uff0e/x",  # fullwidth dots: NFKC reads them as ..
        f"runs:/{RUN}/a\uff0fb",  # fullwidth solidus: NFKC makes one segment two
        f"runs:/{RUN}/model%00",
        f"runs:/{RUN}/model\x00.pkl",
        f"runs:/{RUN}/%" + "25" * 10 + "2e",  # still decoding after ten rounds
        "models:/Iris%2f..%2f..%2fx/1",
    ),
)
def test_encoded_and_backslash_traversal_is_refused(source, run_id, model_id):
    assert refused(source, run_id, model_id).endswith(TRAVERSAL)


@pytest.mark.parametrize(
    ("source", "run_id", "model_id"),
    cve(
        "CVE-2024-3573",
        "file://attacker/etc/passwd",
        "file://127.0.0.1/etc/passwd",
        "//attacker/etc/passwd",
        "///etc/passwd",
        "file:etc/passwd",
        "FILE:///etc/passwd",
        "C:/Windows/win.ini",
        "c:/Users/me/mlruns",
        "file:///C:/Windows/win.ini",
    ),
)
def test_file_and_empty_scheme_uris_read_as_remote_are_refused(source, run_id, model_id):
    assert "Local paths and file: URIs are not accepted" in refused(source, run_id, model_id)


@pytest.mark.parametrize(("source", "run_id", "model_id"), cve("CVE-2024-3573-windows", "C:\\mlruns", "\\\\srv\\share"))
def test_windows_and_unc_paths_are_refused(source, run_id, model_id):
    assert refused(source, run_id, model_id).endswith(TRAVERSAL)


@pytest.mark.parametrize(
    ("source", "run_id", "model_id"),
    cve(
        "CVE-2025-11201",
        f"s3://attacker-bucket/mlartifacts/{RUN_ROOT}/model",
        f"s3://{BUCKET}.evil.example/mlartifacts/{RUN_ROOT}/model",
        f"s3://{BUCKET}@evil.example/mlartifacts/{RUN_ROOT}/model",
        f"s3://{BUCKET.upper()}/mlartifacts/{RUN_ROOT}/model",
        f"S3://{BUCKET}/mlartifacts/{RUN_ROOT}/model",
        f"s3:/{BUCKET}/mlartifacts/{RUN_ROOT}/model",
        f"s3a://{BUCKET}/mlartifacts/{RUN_ROOT}/model",
        f"gs://{BUCKET}/mlartifacts/{RUN_ROOT}/model",
        f"wasbs://c@acct.blob.core.windows.net/{RUN_ROOT}/model",
        f"RUNS:/{RUN}/model",
        f"mlflow-artifacts:///{RUN_ROOT}/model",
        "dbfs:/databricks/mlflow/model",
        "sqlite:///mlflow.db",
        "data:text/plain,model",
    ),
)
def test_sources_outside_the_stacks_artifact_store_are_refused(source, run_id, model_id):
    assert refused(source, run_id, model_id).startswith(f"Invalid model version source: '{source}'.")


@pytest.mark.parametrize(
    ("source", "run_id", "model_id"),
    cve(
        "CVE-2025-11201-hosts",
        "https://evil.example/model.tar.gz",
        f"http://localhost:5000/api/2.0/mlflow-artifacts/artifacts/{RUN_ROOT}/model",
        f"mlflow-artifacts://evil.example:5000/{RUN_ROOT}/model",
        "ftp://evil.example/model",
        "hdfs://namenode:8020/model",
    ),
)
def test_sources_naming_a_host_are_refused_with_the_reference_message(source, run_id, model_id):
    scheme = source.split(":", 1)[0]
    assert refused(source, run_id, model_id).startswith(f"'source' cannot use the '{scheme}' scheme:")


@pytest.mark.parametrize(
    ("source", "run_id", "model_id"),
    cve(
        "CVE-2026-2614",
        ("/etc/passwd", None, None),
        ("file:///etc/passwd", None, None),
        (f"runs:/{RUN}/model", RUN, None),
        ("dummy-source/../../../etc/passwd", None, None),
        ("Dummy-Source", None, None),
        (" prompt-template", None, None),
    ),
)
def test_a_prompt_tag_does_not_let_a_source_skip_validation(source, run_id, model_id):
    assert refused(source, run_id, model_id, is_prompt=True) == (
        f"Invalid prompt source: '{source}'. Prompt sources must use an MLflow placeholder."
    )


@pytest.mark.parametrize(
    ("source", "run_id", "model_id"), cve("CVE-2026-2614-untagged", "dummy-source", "prompt-template")
)
def test_prompt_placeholders_are_not_model_sources(source, run_id, model_id):
    assert "Local paths and file: URIs are not accepted" in refused(source, run_id, model_id)


# --------------------------------------------------------------------------- the ids must agree with the source


@pytest.mark.parametrize(
    ("source", "run_id", "model_id", "field"),
    [
        pytest.param(f"models:/{MODEL}", None, None, "model_id", id="logged-model-without-model_id"),
        pytest.param(f"models:/{MODEL}", RUN, OTHER_MODEL, "model_id", id="logged-model-other-model_id"),
        pytest.param("models:/Iris", None, "Iris", "model_id", id="not-a-model-id"),
        pytest.param(f"models:/{MODEL}/", None, MODEL, "model_id", id="improper-models-uri"),
        pytest.param(f"runs:/{RUN}/model", None, None, "run_id", id="runs-without-run_id"),
        pytest.param(f"runs:/{RUN}/model", OTHER_RUN, None, "run_id", id="runs-other-run_id"),
        pytest.param(f"runs:/{RUN}/model", RUN, MODEL, "model_id", id="runs-with-model_id"),
        pytest.param(f"runs://host/{RUN}/model", RUN, None, "run_id", id="runs-with-host"),
        pytest.param(f"mlflow-artifacts:/{RUN_ROOT}/model", OTHER_RUN, None, "run_id", id="another-runs-artifacts"),
        pytest.param(f"mlflow-artifacts:/{RUN_ROOT}/model", None, None, "run_id", id="proxied-without-run_id"),
        pytest.param(f"mlflow-artifacts:/{RUN_ROOT}/model", RUN, MODEL, "model_id", id="run-path-with-model_id"),
        pytest.param(f"mlflow-artifacts:/{MODEL_ROOT}", RUN, None, "run_id", id="model-path-without-model_id"),
        pytest.param(f"mlflow-artifacts:/{MODEL_ROOT}", None, OTHER_MODEL, "model_id", id="another-models-artifacts"),
        pytest.param(f"s3://{BUCKET}/mlartifacts/{RUN_ROOT}", OTHER_RUN, None, "run_id", id="s3-another-run"),
        pytest.param(f"s3://{BUCKET}/team/{RUN}/artifacts/m", None, None, "run_id", id="location-without-ids"),
        pytest.param(f"s3://{BUCKET}/team/{RUN}/artifacts/m", OTHER_RUN, None, "run_id", id="location-other-run"),
        pytest.param(f"s3://{BUCKET}/team/{RUN}/artifacts/m", RUN, MODEL, "model_id", id="location-run-model_id"),
        pytest.param(f"s3://{BUCKET}/team/secrets.txt", RUN, None, "run_id", id="location-not-a-run-path"),
        pytest.param(f"s3://{BUCKET}/{RUN}/artifacts/m", RUN, None, "run_id", id="location-without-prefix"),
    ],
)
def test_the_request_ids_must_identify_what_contains_the_source(source, run_id, model_id, field):
    assert refused(source, run_id, model_id) == (
        f"Invalid model version source: '{source}'. The {field} request parameter must identify the resource that "
        "contains the source."
    )


# --------------------------------------------------------------------------- other refusals


@pytest.mark.parametrize(
    "source",
    [
        f"mlflow-artifacts:/{EXP}/{RUN}/model",  # not under artifacts/
        f"mlflow-artifacts:/{EXP}/{RUN}/artifacts//model",
        f"mlflow-artifacts:/exp/{RUN}/artifacts/model",
        f"mlflow-artifacts:/{EXP}/{RUN}/artifacts/a;b",
        f"s3://{BUCKET}/mlartifacts",
        f"s3://{BUCKET}/mlartifacts/{EXP}/{RUN}",
        f"s3://{BUCKET}/team//{RUN}/artifacts/model",
        f"s3://{BUCKET}/te;am/{RUN}/artifacts/model",
    ],
)
def test_paths_that_are_not_a_runs_or_models_artifacts_are_refused(source):
    assert "must name a run's or a logged model's artifacts" in refused(source)


@pytest.mark.parametrize("source", [f"runs:/{RUN}/a;b", f"runs:/{RUN}/model//MLmodel", f"runs:/{RUN}/C:/x"])
def test_run_relative_paths_follow_the_artifact_path_rules(source):
    assert "must be relative, of non-empty segments" in refused(source)


@pytest.mark.parametrize(
    "source",
    ["models:/Iris@champion", "models:/Iris/latest", "models:/Iris/Production", "models:/Iris/01", "models:/a:b/1"],
)
def test_registered_model_sources_name_a_version_number(source):
    assert refused(source).endswith("not an alias, a stage or 'latest'.")


@pytest.mark.parametrize(
    "source", [f"runs:/{RUN}/model?versionId=3", f"runs:/{RUN}/model#frag", f"s3://{BUCKET}/mlartifacts/{RUN_ROOT}?x"]
)
def test_query_strings_and_fragments_are_refused(source):
    assert refused(source).endswith("A source may not carry a query string or a fragment.")


def test_an_empty_source_is_a_missing_value():
    assert refused("") == (
        "Missing value for required parameter 'source'. See the API docs for more information about request parameters."
    )


def test_overlong_sources_are_refused_before_parsing():
    assert "at most 4096 characters" in refused(f"runs:/{RUN}/" + "a" * MAX_SOURCE_CHARS)


def test_an_unpaired_surrogate_is_refused_and_escaped_in_the_message():
    message = refused(f"runs:/{RUN}/model\ud800")
    assert "\ud800" not in message
    assert "%d800" in message


def test_a_remote_model_registry_is_refused_with_the_reference_message():
    assert refused("models://other-registry/Iris/1") == (
        "Invalid model version source: 'models://other-registry/Iris/1'. Registered model sources must use the active "
        "model registry."
    )


def test_lineage_errors_use_the_reference_texts():
    assert lineage_mismatch("models:/Iris/1").message == (
        "Invalid model version source: 'models:/Iris/1'. The run_id and model_id request parameters must match the "
        "referenced model version."
    )
    assert prompt_as_source("models:/p/1").message == (
        "Invalid model version source: 'models:/p/1'. Prompt versions cannot be used as model version sources."
    )


# --------------------------------------------------------------------------- inside the owner's artifacts


@pytest.mark.parametrize(
    ("source", "run_id", "model_id", "artifact_uri", "inside"),
    [
        (f"mlflow-artifacts:/{RUN_ROOT}/model", RUN, None, f"mlflow-artifacts:/{RUN_ROOT}", True),
        (f"mlflow-artifacts:/{RUN_ROOT}/model", RUN, None, f"s3://{BUCKET}/mlartifacts/{RUN_ROOT}", True),
        (f"s3://{BUCKET}/mlartifacts/{RUN_ROOT}", RUN, None, f"mlflow-artifacts:/{RUN_ROOT}/", True),
        (f"mlflow-artifacts:/{RUN_ROOT}/model", RUN, None, f"mlflow-artifacts:/8/{RUN}/artifacts", False),
        (f"mlflow-artifacts:/{RUN_ROOT}/model", RUN, None, f"s3://{BUCKET}/team/{RUN}/artifacts", False),
        (f"mlflow-artifacts:/{RUN_ROOT}/model", RUN, None, f"s3://other/mlartifacts/{RUN_ROOT}", False),
        (f"s3://{BUCKET}/team/{RUN}/artifacts/model", RUN, None, f"s3://{BUCKET}/team/{RUN}/artifacts", True),
        (f"s3://{BUCKET}/team/{RUN}/artifacts/model", RUN, None, f"s3://{BUCKET}/team2/{RUN}/artifacts", False),
        (f"s3://{BUCKET}/a/team/{RUN}/artifacts/model", RUN, None, f"s3://{BUCKET}/team/{RUN}/artifacts", False),
        (f"mlflow-artifacts:/{MODEL_ROOT}/MLmodel", None, MODEL, f"mlflow-artifacts:/{MODEL_ROOT}", True),
        (f"runs:/{RUN}/model", RUN, None, f"s3://{BUCKET}/team/{RUN}/artifacts", True),
        (f"models:/{MODEL}", None, MODEL, f"mlflow-artifacts:/{MODEL_ROOT}", True),
        ("models:/Iris/1", None, None, f"mlflow-artifacts:/{MODEL_ROOT}", False),
    ],
)
def test_lies_within_compares_the_s3_keys_of_source_and_owner(source, run_id, model_id, artifact_uri, inside):
    assert validate(source, run_id, model_id).lies_within(artifact_uri, bucket=BUCKET) is inside


def test_a_location_is_owned_by_the_model_when_model_id_is_given():
    assert validate(f"s3://{BUCKET}/t/models/{MODEL}/artifacts", RUN, MODEL).owner_kind == "model"
    assert validate(f"s3://{BUCKET}/t/{RUN}/artifacts", RUN, None).owner_kind == "run"
    assert validate("models:/Iris/1").owner_kind is None


@pytest.mark.parametrize(
    ("uri", "key"),
    [
        (f"mlflow-artifacts:/{RUN_ROOT}", f"mlartifacts/{RUN_ROOT}"),
        (f"s3://{BUCKET}/team/{RUN}/artifacts/", f"team/{RUN}/artifacts"),
        (f"s3://{BUCKET}/", None),
        (f"s3://{BUCKET}-2/team", None),
        (f"mlflow-artifacts://host/{RUN_ROOT}", None),
        (f"file:///mlruns/{RUN_ROOT}", None),
    ],
)
def test_artifact_root_key(uri, key):
    assert artifact_root_key(uri, bucket=BUCKET) == key


# --------------------------------------------------------------------------- against the reference


@pytest.fixture(scope="module")
def reference():
    return pytest.importorskip("mlflow.server.handlers")


def reference_message(call) -> str:
    with pytest.raises(Exception) as info:  # noqa: B017 - MlflowException, importable only with mlflow
        call()
    return info.value.message


@pytest.mark.parametrize(
    "source",
    [
        f"runs:/{RUN}/model",
        f"runs:/{RUN}/sub dir/model.v2/",
        f"models:/{MODEL}",
        f"mlflow-artifacts:/{RUN_ROOT}/model",
        f"s3://{BUCKET}/mlartifacts/{MODEL_ROOT}/MLmodel",
        f"s3://{BUCKET}/team/exp-a/{RUN}/artifacts/model",
    ],
)
def test_accepted_sources_pass_the_references_traversal_check(reference, source):
    reference._validate_non_local_source_contains_relative_paths(source)


def _lineage(handlers, source):
    handlers._resolve_registered_model_source_lineage(source, "", "", has_run_id=False, has_model_id=False)


@pytest.mark.parametrize(
    ("source", "run_id", "model_id", "is_prompt", "call"),
    [
        (f"models:/{MODEL}", None, None, False, lambda h, s: h._validate_source_run(s, "")),
        (f"runs:/{RUN}/model", OTHER_RUN, None, False, lambda h, s: h._validate_source_run(s, OTHER_RUN)),
        (f"runs:/{RUN}/model", RUN, MODEL, False, lambda h, s: h._validate_source_model(s, MODEL)),
        (f"runs:/{RUN}/../../etc", RUN, None, False, lambda h, s: h._validate_source_run(s, RUN)),
        (f"runs:/{RUN}/..%2f..%2fetc", RUN, None, False, lambda h, s: h._validate_source_run(s, RUN)),
        ("https://evil.example/m", RUN, None, False, lambda h, s: h._validate_artifact_uri_scheme(s, "source")),
        ("models://other/Iris/1", None, None, False, _lineage),
        ("/etc/passwd", None, None, True, lambda h, s: h._validate_prompt_source(s)),
    ],
)
def test_messages_match_the_reference(reference, monkeypatch, source, run_id, model_id, is_prompt, call):
    monkeypatch.delenv("MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES", raising=False)
    expected = reference_message(lambda: call(reference, source))
    assert refused(source, run_id, model_id, is_prompt=is_prompt) == expected
