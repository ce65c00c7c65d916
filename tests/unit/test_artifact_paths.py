"""Proxied artifact paths: which run or model they name, their S3 keys, and every traversal class MLflow shipped a CVE
for. Each refused case is named after the CVE whose trick it replays; the paths are otherwise valid run or model paths,
so a refusal can only come from the trick itself.
"""

from __future__ import annotations

import urllib.parse

import pytest

from stratus.domain.artifact_paths import (
    INVALID_PATH,
    MAX_KEY_BYTES,
    MAX_PATH_BYTES,
    ArtifactOwner,
    relative_to,
    resolve_proxied_path,
    resolve_s3_location,
)
from stratus.errors import InvalidParameterValue

EXP = "7"
RUN = "0123456789abcdef0123456789abcdef"
OTHER_RUN = "fedcba9876543210fedcba9876543210"
MODEL = "m-00112233445566778899aabbccddeeff"
OTHER_MODEL = "m-ffeeddccbbaa99887766554433221100"
ROOT = f"{EXP}/{RUN}/artifacts"
MODEL_ROOT = f"{EXP}/models/{MODEL}/artifacts"
BUCKET = "stratus-artifacts-123"
ARTIFACTS_ROUTE = "/api/2.0/mlflow-artifacts/artifacts"


def refused(raw: str, *, decoded: bool = False) -> InvalidParameterValue:
    with pytest.raises(InvalidParameterValue) as info:
        resolve_proxied_path(raw, decoded=decoded)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert info.value.http_status == 400
    return info.value


def assert_traversal_refused(raw: str) -> None:
    """Refused with the reference's bare message, whichever way the caller says the text was decoded."""
    assert refused(raw).message == INVALID_PATH
    assert refused(urllib.parse.unquote(raw), decoded=True).message == INVALID_PATH


# --------------------------------------------------------------------------- accepted paths


@pytest.mark.parametrize(
    ("raw", "relative"),
    [
        (ROOT, ""),
        (f"{ROOT}/model/MLmodel", "model/MLmodel"),
        (f"{ROOT}/model/model.pkl", "model/model.pkl"),
        (f"{ROOT}/sub%20dir/a%20b.txt", "sub dir/a b.txt"),
        (f"{ROOT}/%C3%BCn%C3%AF.txt", "ünï.txt"),
        (f"{ROOT}/%E5%AE%9F%E9%A8%93%EF%BC%9F.txt", "実験？.txt"),
        (f"{ROOT}/100%25.txt", "100%.txt"),
        (f"{ROOT}/a%2541.txt", "a%41.txt"),
        (f"{ROOT}/a+b=c@d,e!~'(x)&$.txt", "a+b=c@d,e!~'(x)&$.txt"),
        (f"{ROOT}/.hidden", ".hidden"),
        (f"{ROOT}/..hidden/a..b/x.", "..hidden/a..b/x."),
        (f"{ROOT}/2024-01-01T12:00:00.json", "2024-01-01T12:00:00.json"),
        (f"0/{RUN}/artifacts/traces.json", "traces.json"),
    ],
)
def test_run_paths_resolve_to_the_run_and_the_decoded_name(raw: str, relative: str) -> None:
    owner = resolve_proxied_path(raw)

    assert owner == ArtifactOwner("run", raw.split("/")[0], RUN, relative)


@pytest.mark.parametrize(("raw", "relative"), [(MODEL_ROOT, ""), (f"{MODEL_ROOT}/MLmodel", "MLmodel")])
def test_model_paths_resolve_to_the_logged_model(raw: str, relative: str) -> None:
    assert resolve_proxied_path(raw) == ArtifactOwner("model", EXP, MODEL, relative)


def test_keys_live_under_mlartifacts_in_the_owners_artifacts_root() -> None:
    run_file = resolve_proxied_path(f"{ROOT}/sub%20dir/a.txt")
    run_root = resolve_proxied_path(ROOT)
    model_file = resolve_proxied_path(f"{MODEL_ROOT}/data/model.pkl")

    assert run_file.key_prefix == f"mlartifacts/{EXP}/{RUN}/artifacts"
    assert run_file.key == f"mlartifacts/{EXP}/{RUN}/artifacts/sub dir/a.txt"
    assert run_root.key == run_root.key_prefix == f"mlartifacts/{EXP}/{RUN}/artifacts"
    assert model_file.key_prefix == f"mlartifacts/{EXP}/models/{MODEL}/artifacts"
    assert model_file.key == f"mlartifacts/{EXP}/models/{MODEL}/artifacts/data/model.pkl"


def test_query_parameter_form_is_not_decoded_a_second_time() -> None:
    # ?path=7%2F...%2F100%2525.txt reaches us as ".../100%25.txt" after the query parser: the name has a literal "%25".
    assert resolve_proxied_path(f"{ROOT}/100%25.txt", decoded=True).relative == "100%25.txt"
    assert resolve_proxied_path(f"{ROOT}/a b+c.txt", decoded=True).relative == "a b+c.txt"


def test_key_of_exactly_the_s3_limit_is_accepted_and_one_byte_more_is_not() -> None:
    name_bytes = MAX_PATH_BYTES - len(ROOT) - 1
    fits = f"{ROOT}/{'é' * (name_bytes // 2)}{'x' * (name_bytes % 2)}"
    assert len(resolve_proxied_path(fits, decoded=True).key.encode("utf-8")) == MAX_KEY_BYTES

    error = refused(fits + "x", decoded=True)
    assert "1012 bytes" in error.message and "1024" in error.message


# --------------------------------------------------------------------------- the stock client's URLs


CLIENT_NAMES = ["a b.txt", "100%.txt", "ünï.txt", "a+b=c@d.txt", ".hidden", "model.pkl", "実験？.txt", "q'\"<>.txt"]


@pytest.mark.parametrize("name", CLIENT_NAMES)
def test_names_as_the_stock_client_puts_them_resolve_to_the_same_name(name: str) -> None:
    # HttpArtifactRepository.log_artifact: http_request(host, posixpath.join("/", path, name), "PUT"); requests then
    # percent-encodes the URL with requote_uri.
    requests = pytest.importorskip("requests")
    url = f"http://h{ARTIFACTS_ROUTE}/{ROOT}/sub dir/{name}"
    raw = requests.Request("PUT", url).prepare().path_url.removeprefix(f"{ARTIFACTS_ROUTE}/")

    assert resolve_proxied_path(raw).relative == f"sub dir/{name}"


@pytest.mark.parametrize("name", CLIENT_NAMES)
def test_names_as_the_stock_client_lists_them_resolve_to_the_same_name(name: str) -> None:
    # HttpArtifactRepository.list_artifacts: GET .../artifacts with params={"path": ...} (form-encoded, space as "+").
    requests = pytest.importorskip("requests")
    url = requests.Request("GET", f"http://h{ARTIFACTS_ROUTE}", params={"path": f"{ROOT}/{name}"}).prepare().url
    (path,) = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["path"]

    assert resolve_proxied_path(path, decoded=True).relative == name


def test_a_name_with_a_semicolon_is_refused_although_the_stock_client_sends_it() -> None:
    requests = pytest.importorskip("requests")
    raw = requests.Request("PUT", f"http://h{ARTIFACTS_ROUTE}/{ROOT}/a;b.txt").prepare().path_url
    assert refused(raw.removeprefix(f"{ARTIFACTS_ROUTE}/")).message == INVALID_PATH


# --------------------------------------------------------------------------- traversal classes, one test per CVE


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(f"{ROOT}/../../etc/passwd", id="CVE-2023-2356-dotdot"),
        pytest.param(f"{ROOT}/a/../b", id="CVE-2023-2356-dotdot-inside"),
        pytest.param(f"{ROOT}/..", id="CVE-2023-2356-dotdot-last"),
        pytest.param(f"{EXP}/{RUN}/artifacts/../../{OTHER_RUN}/artifacts/x", id="CVE-2023-2356-other-run"),
        pytest.param(f"{EXP}/{RUN}/../{OTHER_RUN}/artifacts/x", id="CVE-2023-2356-above-root"),
        pytest.param(f"../{ROOT}/x", id="CVE-2023-2356-leading-dotdot"),
        pytest.param(f"{ROOT}/./x", id="CVE-2023-2356-dot"),
        pytest.param(f"./{ROOT}/x", id="CVE-2023-2356-leading-dot"),
    ],
)
def test_dot_segments_are_refused(raw: str) -> None:
    assert_traversal_refused(raw)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(f"{ROOT}/%2e%2e/%2e%2e/x", id="CVE-2023-6730-encoded-dotdot"),
        pytest.param(f"{ROOT}/%2E%2E/x", id="CVE-2023-6730-encoded-dotdot-upper"),
        pytest.param(f"{ROOT}/%2E%2e/x", id="CVE-2023-6730-encoded-dotdot-mixed"),
        pytest.param(f"{ROOT}/.%2e/x", id="CVE-2023-6730-half-encoded"),
        pytest.param(f"{ROOT}/%2e./x", id="CVE-2023-6730-half-encoded-first"),
        pytest.param(f"{ROOT}/%2e/x", id="CVE-2023-6730-encoded-dot"),
    ],
)
def test_encoded_dot_segments_are_refused(raw: str) -> None:
    assert refused(raw).message == INVALID_PATH


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(f"{ROOT}/%252e%252e/x", id="CVE-2024-1560-double-encoded-dotdot"),
        pytest.param(f"{ROOT}/%252E%252e/x", id="CVE-2024-1560-double-encoded-mixed-case"),
        pytest.param(f"{ROOT}/.%252e/x", id="CVE-2024-1560-double-encoded-half"),
        pytest.param(f"{ROOT}/%25252e%25252e/x", id="CVE-2024-1560-triple-encoded"),
        pytest.param(f"{ROOT}/%25%32%65%25%32%65/x", id="CVE-2024-1560-encoded-hex-digits"),
        pytest.param(f"{ROOT}/a%252f..%252f..%252fx", id="CVE-2024-1560-double-encoded-slash"),
        pytest.param(f"{ROOT}/a%252fb", id="CVE-2024-1560-double-encoded-slash-alone"),
        pytest.param(f"{ROOT}/a%255c..%255cx", id="CVE-2024-1560-double-encoded-backslash"),
        pytest.param(f"{ROOT}/x%2500.txt", id="CVE-2024-1560-double-encoded-nul"),
        pytest.param(f"{ROOT}/%{'25' * 12}2e", id="CVE-2024-1560-endless-encoding"),
    ],
)
def test_nested_encodings_are_refused(raw: str) -> None:
    assert_traversal_refused(raw)


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(f"{ROOT}/%2e%2e/x", id="CVE-2024-1560-query-encoded-dotdot"),
        pytest.param(f"{ROOT}/%%32%65%%32%65/x", id="CVE-2024-1560-query-encoded-hex-digits"),
        pytest.param(f"{ROOT}/a%2Fb", id="CVE-2024-1560-query-encoded-slash"),
        pytest.param(f"{ROOT}/a%5cb", id="CVE-2024-1560-query-encoded-backslash"),
    ],
)
def test_encodings_left_in_an_already_decoded_path_are_refused(path: str) -> None:
    assert refused(path, decoded=True).message == INVALID_PATH


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(f"{ROOT}/a%2Fb", id="CVE-2023-6831-encoded-slash"),
        pytest.param(f"{ROOT}/a%2f..%2f..%2fx", id="CVE-2023-6831-encoded-slash-dotdot"),
        pytest.param("%2E%2E%2F%2E%2E%2Fpath", id="CVE-2023-6831-reference-test"),
        pytest.param(f"{ROOT}/x%00.jpg", id="CVE-2023-6831-nul"),
        pytest.param("/etc/passwd%00.jpg", id="CVE-2023-6831-absolute-nul"),
        pytest.param("/file://etc/passwd", id="CVE-2023-6831-absolute-file-uri"),
    ],
)
def test_encoded_slashes_and_nul_are_refused(raw: str) -> None:
    assert refused(raw).message == INVALID_PATH


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(f"{ROOT}/..\\..\\x", id="CVE-2023-2780-backslash-dotdot"),
        pytest.param(f"{ROOT}/a\\b", id="CVE-2023-2780-backslash"),
        pytest.param(f"{ROOT}/a%5cb", id="CVE-2023-2780-encoded-backslash"),
        pytest.param(f"{ROOT}/%5C..%5C..%5Cx", id="CVE-2023-2780-encoded-backslash-dotdot"),
        pytest.param("\\\\server\\share\\x", id="CVE-2023-2780-unc"),
    ],
)
def test_backslashes_are_refused(raw: str) -> None:
    assert_traversal_refused(raw)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(f"{ROOT}/;..%2F..%2Fetc", id="CVE-2024-1593-reference-test"),
        pytest.param(f"{ROOT}/..;/x", id="CVE-2024-1593-dotdot-semicolon"),
        pytest.param(f"{ROOT}/x;y=1", id="CVE-2024-1593-path-parameter"),
        pytest.param(f"{ROOT}/x%3By", id="CVE-2024-1593-encoded-semicolon"),
        pytest.param(f"{ROOT}/x%253by", id="CVE-2024-1593-double-encoded-semicolon"),
    ],
)
def test_path_parameters_are_refused(raw: str) -> None:
    assert refused(raw).message == INVALID_PATH


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(f"{ROOT}/x#/../../etc", id="CVE-2024-1483-fragment"),
        pytest.param(f"{ROOT}/x%23y", id="CVE-2024-1483-encoded-fragment"),
        pytest.param(f"{ROOT}/x%2523y", id="CVE-2024-1483-double-encoded-fragment"),
        pytest.param(f"{ROOT}/x?y=../..", id="CVE-2024-1483-query"),
        pytest.param(f"{ROOT}/x%3Fy", id="CVE-2024-1483-encoded-query"),
    ],
)
def test_fragments_and_queries_are_refused(raw: str) -> None:
    assert refused(raw).message == INVALID_PATH


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("file:///etc/passwd", id="CVE-2023-1177-file-uri"),
        pytest.param("file:/etc/passwd", id="CVE-2023-1177-file-uri-one-slash"),
        pytest.param("/etc/passwd", id="CVE-2023-1177-absolute"),
        pytest.param(f"/{ROOT}/x", id="CVE-2023-1177-absolute-run-path"),
        pytest.param("FILE:x", id="CVE-2024-3573-file-scheme-upper"),
        pytest.param(f"s3://{BUCKET}/{ROOT}/x", id="CVE-2024-3573-s3-uri"),
        pytest.param(f"http://evil/{ROOT}/x", id="CVE-2024-3573-http-uri"),
        pytest.param(f"mlflow-artifacts:/{ROOT}/x", id="CVE-2024-3573-mlflow-artifacts-uri"),
        pytest.param("//host/share/x", id="CVE-2024-3573-network-path"),
        pytest.param("C:\\Windows\\x", id="CVE-2024-3573-drive-backslash"),
        pytest.param("C:/Windows/x", id="CVE-2024-3573-drive-slash"),
        pytest.param(f"{ROOT}/C:/x", id="CVE-2024-3573-drive-segment"),
        pytest.param(f"{ROOT}/c:evil.txt", id="CVE-2024-3573-drive-relative"),
    ],
)
def test_schemes_absolute_paths_and_drive_letters_are_refused(raw: str) -> None:
    assert refused(raw).message == INVALID_PATH


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(f"{MODEL_ROOT}/../../../etc/passwd", id="CVE-2025-11201-model-dotdot"),
        pytest.param(f"{EXP}/models/{MODEL}/../{OTHER_MODEL}/artifacts/x", id="CVE-2025-11201-other-model"),
        pytest.param(f"{MODEL_ROOT}/%2e%2e/%2e%2e/x", id="CVE-2025-11201-model-encoded-dotdot"),
        pytest.param(f"{MODEL_ROOT}/..%5c..%5cx", id="CVE-2025-11201-model-backslash"),
    ],
)
def test_model_path_traversal_is_refused(raw: str) -> None:
    assert refused(raw).message == INVALID_PATH


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(f"{ROOT}/a//b", id="inner"),
        pytest.param(f"{ROOT}/", id="trailing"),
        pytest.param(f"{EXP}//{RUN}/artifacts", id="in-the-owner"),
        pytest.param(f"{ROOT}//", id="double-trailing"),
    ],
)
def test_empty_segments_are_refused(raw: str) -> None:
    assert_traversal_refused(raw)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(f"{ROOT}/a%09b", id="tab"),
        pytest.param(f"{ROOT}/a%0Ab", id="newline"),
        pytest.param(f"{ROOT}/a%0db", id="carriage-return"),
        pytest.param(f"{ROOT}/a%7Fb", id="delete"),
        pytest.param(f"{ROOT}/a%C2%85b", id="c1-next-line"),
        pytest.param(f"{ROOT}/a\x01b", id="raw-control"),
    ],
)
def test_control_characters_are_refused(raw: str) -> None:
    assert_traversal_refused(raw)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(f"{ROOT}/...", id="three-dots"),
        pytest.param(f"{ROOT}/..%20/x", id="dotdot-space"),
        pytest.param(f"{ROOT}/.%20./x", id="dot-space-dot"),
        pytest.param(f"{ROOT}/%20", id="space-only"),
        pytest.param(f"{ROOT}/%EF%BC%8E%EF%BC%8E/x", id="fullwidth-dotdot"),
        pytest.param(f"{ROOT}/%E2%80%A5/x", id="two-dot-leader"),
        pytest.param(f"{ROOT}/a%EF%BC%8F..%EF%BC%8Fx", id="fullwidth-solidus"),
        pytest.param(f"{ROOT}/a%EF%BC%8Fb", id="fullwidth-solidus-alone"),
        pytest.param(f"{ROOT}/a%EF%BC%BCb", id="fullwidth-backslash"),
        pytest.param(f"{ROOT}/..%C2%A0/x", id="dotdot-no-break-space"),
    ],
)
def test_segments_that_windows_or_unicode_normalisation_turn_into_dot_segments_are_refused(raw: str) -> None:
    assert_traversal_refused(raw)


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        pytest.param("", False, id="empty"),
        pytest.param("", True, id="empty-decoded"),
        pytest.param(f"{ROOT}/100%.txt", False, id="bare-percent"),
        pytest.param(f"{ROOT}/%zz", False, id="bad-hex"),
        pytest.param(f"{ROOT}/x%", False, id="trailing-percent"),
        pytest.param(f"{ROOT}/%E9t%E9", False, id="latin-1-not-utf-8"),
        pytest.param(f"{ROOT}/\ud800", True, id="lone-surrogate"),
        pytest.param(f"{ROOT}/{'a' * 3100}", False, id="raw-over-3072"),
        pytest.param(f"{ROOT}/{'a' * 3100}", True, id="decoded-over-3072"),
    ],
)
def test_paths_without_one_reading_are_refused(raw: str, decoded: bool) -> None:
    assert refused(raw, decoded=decoded).message == INVALID_PATH


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(EXP, id="experiment-only"),
        pytest.param(f"{EXP}/{RUN}", id="run-without-artifacts"),
        pytest.param(f"{EXP}/{RUN}/metrics/x", id="not-artifacts"),
        pytest.param(f"{EXP}/{RUN.upper()}/artifacts", id="upper-case-run-id"),
        pytest.param(f"{EXP}/{RUN[:-1]}/artifacts", id="short-run-id"),
        pytest.param(f"{EXP}/{RUN}0/artifacts", id="long-run-id"),
        pytest.param(f"07/{RUN}/artifacts", id="non-canonical-experiment"),
        pytest.param(f"-1/{RUN}/artifacts", id="negative-experiment"),
        pytest.param(f"abc/{RUN}/artifacts", id="named-experiment"),
        pytest.param(f"{'9' * 20}/{RUN}/artifacts", id="experiment-beyond-int64"),
        pytest.param(f"{EXP}/models/{MODEL}", id="model-without-artifacts"),
        pytest.param(f"{EXP}/models/{RUN}/artifacts", id="model-id-without-m"),
        pytest.param(f"{EXP}/models/m-{RUN.upper()}/artifacts", id="upper-case-model-id"),
        pytest.param(f"{EXP}/models", id="models-only"),
        pytest.param(f"mlartifacts/{ROOT}/x", id="key-instead-of-path"),
    ],
)
def test_paths_of_other_shapes_are_refused_with_the_accepted_shapes(raw: str) -> None:
    message = refused(raw).message
    assert message.startswith(f"Invalid path '{raw}'")
    assert "'<experiment_id>/<run_id>/artifacts[/<path>]'" in message
    assert "'<experiment_id>/models/<model_id>/artifacts[/<path>]'" in message


def reference_refuses(raw: str) -> bool:
    """Whether mlflow's ``validate_path_is_safe`` refuses the path Flask would hand it (URL-decoded once)."""
    mlflow_uri = pytest.importorskip("mlflow.utils.uri")
    try:
        mlflow_uri.validate_path_is_safe(urllib.parse.unquote(raw))
    except Exception as error:  # MlflowException; mlflow is a test-only dependency
        assert "Invalid path" in str(error)
        return True
    return False


@pytest.mark.parametrize(
    "tail", ["../x", "a/../b", "%2e%2e/x", "%252e%252e/x", "a#b", "..%2fx", "%2e%2e%2f%2e%2e", "%25%32%65%25%32%65"]
)
def test_whatever_the_reference_refuses_is_refused_too(tail: str) -> None:
    raw = f"{ROOT}/{tail}"
    assert reference_refuses(raw)

    assert refused(raw).message == INVALID_PATH


@pytest.mark.parametrize(
    "tail",
    [
        pytest.param("a//b", id="empty-segment"),
        pytest.param("x%23", id="trailing-encoded-fragment"),
        pytest.param("file:///etc", id="scheme-inside"),
        pytest.param("x;y", id="path-parameter"),
        pytest.param("a%5cb", id="backslash-on-posix"),
        pytest.param("x%00.jpg", id="nul-escaped-not-refused"),
        pytest.param("...", id="three-dots"),
        pytest.param("%EF%BC%8E%EF%BC%8E/x", id="fullwidth-dotdot"),
        pytest.param("x?y", id="query"),
    ],
)
def test_stricter_than_the_reference_where_it_lets_a_second_reading_through(tail: str) -> None:
    raw = f"{ROOT}/{tail}"
    assert not reference_refuses(raw)

    assert refused(raw).message == INVALID_PATH


# --------------------------------------------------------------------------- explicit s3:// experiment locations


@pytest.mark.parametrize(
    ("uri", "prefix"),
    [
        (f"s3://{BUCKET}/team-a", "team-a"),
        (f"s3://{BUCKET}/team-a/", "team-a"),
        (f"s3://{BUCKET}/team a/exp.1/ünï", "team a/exp.1/ünï"),
        (f"s3://{BUCKET}/mlartifacts-old/x", "mlartifacts-old/x"),
    ],
)
def test_s3_locations_in_the_stacks_bucket_give_their_key_prefix(uri: str, prefix: str) -> None:
    assert resolve_s3_location(uri, BUCKET) == prefix


@pytest.mark.parametrize(
    "uri",
    [
        pytest.param("s3://other-bucket/team-a", id="other-bucket"),
        pytest.param(f"s3://{BUCKET}.evil/team-a", id="lookalike-bucket"),
        pytest.param(f"s3://user@{BUCKET}/team-a", id="userinfo"),
        pytest.param(f"s3://{BUCKET}:443/team-a", id="port"),
        pytest.param(f"s3://{BUCKET}", id="bucket-root"),
        pytest.param(f"s3://{BUCKET}/", id="bucket-root-slash"),
        pytest.param(f"S3://{BUCKET}/team-a", id="upper-case-scheme"),
        pytest.param(f"s3:/{BUCKET}/team-a", id="one-slash"),
        pytest.param(f"gs://{BUCKET}/team-a", id="CVE-2024-3573-other-scheme"),
        pytest.param("file:///tmp/artifacts", id="CVE-2023-1177-file-uri"),
        pytest.param("/tmp/artifacts", id="CVE-2023-1177-local-path"),
        pytest.param(f"mlflow-artifacts:/{EXP}", id="CVE-2024-3573-mlflow-artifacts"),
        pytest.param(f"http://host/{BUCKET}/x", id="CVE-2024-3573-http"),
        pytest.param(f"s3://{BUCKET}/a/../../b", id="CVE-2023-2356-dotdot"),
        pytest.param(f"s3://{BUCKET}/a/%2e%2e/b", id="CVE-2024-1560-encoded-dotdot"),
        pytest.param(f"s3://{BUCKET}/a\\..\\b", id="CVE-2023-2780-backslash"),
        pytest.param(f"s3://{BUCKET}/a;..%2F..%2Fetc", id="CVE-2024-1593-semicolon"),
        pytest.param(f"s3://{BUCKET}/a#/../b", id="CVE-2024-1483-fragment"),
        pytest.param(f"s3://{BUCKET}/a?x=1", id="CVE-2024-1483-query"),
        pytest.param(f"s3://{BUCKET}/a//b", id="empty-segment"),
        pytest.param(f"s3://{BUCKET}/a\x00b", id="CVE-2023-6831-nul"),
        pytest.param(f"s3://{BUCKET}/mlartifacts", id="reserved-root"),
        pytest.param(f"s3://{BUCKET}/mlartifacts/{EXP}", id="inside-proxied-artifacts"),
        pytest.param(f"s3://{BUCKET}/{'a' * 513}", id="over-512-bytes"),
    ],
)
def test_other_locations_are_refused_with_what_is_accepted(uri: str) -> None:
    with pytest.raises(InvalidParameterValue) as info:
        resolve_s3_location(uri, BUCKET)

    assert info.value.http_status == 400
    assert f"only 's3://{BUCKET}/<prefix>' is accepted" in info.value.message
    assert "\x00" not in info.value.message


# --------------------------------------------------------------------------- listings


@pytest.mark.parametrize(
    ("key", "relative"),
    [
        (f"mlartifacts/{ROOT}/model/MLmodel", "model/MLmodel"),
        (f"mlartifacts/{ROOT}/model/", "model"),
        (f"mlartifacts/{ROOT}", ""),
    ],
)
def test_relative_to_gives_the_part_below_the_prefix(key: str, relative: str) -> None:
    assert relative_to(f"mlartifacts/{ROOT}", key) == relative


@pytest.mark.parametrize("key", [f"mlartifacts/{ROOT}x/a", f"mlartifacts/{EXP}/{OTHER_RUN}/artifacts/a", "other"])
def test_relative_to_refuses_keys_outside_the_prefix(key: str) -> None:
    with pytest.raises(ValueError, match="is not under"):
        relative_to(f"mlartifacts/{ROOT}", key)
