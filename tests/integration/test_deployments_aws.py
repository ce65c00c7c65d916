"""Deployments' AWS adapters under moto: ``LambdaServing`` (image functions, published versions, the live alias with
canary weights, invocation answers) and ``CodeBuildImages`` (ECR lookups, build contexts in S3, CodeBuild builds).

moto runs no image function and no build, and every change it makes is applied at once; what only AWS decides (a
change still in progress, a function that cannot start, a crashed handler, a refused payload, a failed build) is played
by botocore's Stubber on a real client, which also fails the test on any call it was not told to expect."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
import yaml
from botocore.config import Config
from botocore.response import StreamingBody
from botocore.stub import Stubber
from conftest import PROJECT_DIR
from moto import mock_aws
from moto.awslambda_simple.models import lambda_simple_backends
from moto.core.config import default_user_config

from stratus.domain.deployments import image_key
from stratus.domain.ports import FunctionSpec
from stratus.errors import InvalidParameterValue, PayloadTooLarge, ServingFailed
from stratus.store.codebuild import CodeBuildImages, requirement_lines
from stratus.store.lambda_serving import LambdaServing
from stratus_local.template import load_template

ACCOUNT = "123456789012"
REGION = "us-east-1"
REPOSITORY = "stratus-serving"
REPOSITORY_URI = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}"
BASE_IMAGE = f"{REPOSITORY_URI}:base-0123abcd"
BUCKET = "stratus-artifacts"
PROJECT = "stratus-serving-build"
FUNCTION = "stratus-dep-wine"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/stratus-serving"


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_LAMBDA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    # moto's Lambda without Docker: invoke answers from a queue of canned payloads (or echoes the request)
    monkeypatch.setitem(default_user_config, "lambda", {"use_docker": False})
    with mock_aws():
        yield


def _role() -> str:
    trust = json.dumps({"Version": "2012-10-17", "Statement": []})
    role = boto3.client("iam").create_role(RoleName="stratus-serving", AssumeRolePolicyDocument=trust)
    return str(role["Role"]["Arn"])


def _spec(image_tag: str = "req-aaaa", **changes: Any) -> FunctionSpec:
    spec = FunctionSpec(
        name=FUNCTION,
        image=f"{REPOSITORY_URI}:{image_tag}",
        environment={"STRATUS_MODEL_URI": "models:/m-1", "STRATUS_DEPLOYMENT_NAME": "wine"},
        memory_mb=2048,
        timeout_seconds=30,
        tags={"stratus:deployment": "wine"},
    )
    return replace(spec, **changes)


@pytest.fixture
def serving(moto: None) -> LambdaServing:
    return LambdaServing(_role(), "arm64", boto3.client("lambda"), poll_seconds=0, max_wait_seconds=1)


def _push_image(tag: str) -> None:
    manifest = {"schemaVersion": 2, "config": {"size": 100, "digest": "sha256:" + "0" * 64}, "layers": []}
    boto3.client("ecr").put_image(
        repositoryName=REPOSITORY,
        imageManifest=json.dumps(manifest),
        imageManifestMediaType="application/vnd.docker.distribution.manifest.v2+json",
        imageTag=tag,
    )


def _queue_answer(payload: str) -> None:
    """What moto's Lambda answers the next invocation with (it runs no image function)."""
    lambda_simple_backends[ACCOUNT][REGION].lambda_simple_results_queue.append(payload)


# --------------------------------------------------------------------------------------------- Lambda: publish


def test_publish_creates_an_image_function_and_publishes_version_1(serving: LambdaServing) -> None:
    version = serving.publish(_spec())

    assert version == "1"
    function = boto3.client("lambda").get_function(FunctionName=FUNCTION, Qualifier="1")
    configuration = function["Configuration"]
    assert configuration["PackageType"] == "Image"
    assert function["Code"]["ImageUri"] == f"{REPOSITORY_URI}:req-aaaa"
    assert configuration["Role"] == serving.role_arn
    assert configuration["Architectures"] == ["arm64"]
    assert (configuration["MemorySize"], configuration["Timeout"]) == (2048, 30)
    assert configuration["Environment"]["Variables"] == _spec().environment
    assert function["Tags"] == {"stratus:deployment": "wine"}


def test_publish_of_a_new_model_updates_image_and_settings_and_keeps_the_old_version(serving: LambdaServing) -> None:
    serving.publish(_spec())
    changed = _spec("req-bbbb", memory_mb=4096, timeout_seconds=60, environment={"STRATUS_MODEL_URI": "models:/m-2"})

    version = serving.publish(changed)

    assert version == "2"
    client = boto3.client("lambda")
    new, old = (client.get_function(FunctionName=FUNCTION, Qualifier=v) for v in ("2", "1"))
    assert new["Code"]["ImageUri"] == f"{REPOSITORY_URI}:req-bbbb"
    assert (new["Configuration"]["MemorySize"], new["Configuration"]["Timeout"]) == (4096, 60)
    assert new["Configuration"]["Environment"]["Variables"] == {"STRATUS_MODEL_URI": "models:/m-2"}
    # (moto's versions share one Code record, so the old version's image cannot be checked here)
    assert old["Configuration"]["Environment"]["Variables"]["STRATUS_MODEL_URI"] == "models:/m-1"
    assert old["Configuration"]["MemorySize"] == 2048


def test_publish_of_an_image_missing_from_ecr_is_serving_failed(
    serving: LambdaServing, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTO_LAMBDA_STUB_ECR", "false")  # moto then checks the image, as Lambda does
    boto3.client("ecr").create_repository(repositoryName=REPOSITORY)

    with pytest.raises(ServingFailed) as refused:
        serving.publish(_spec("req-missing"))
    assert "ImageNotFoundException" in refused.value.message
    assert refused.value.http_status == 503

    _push_image("req-missing")
    assert serving.publish(_spec("req-missing")) == "1"


# ------------------------------------------------------------------------------------------ Lambda: route, delete


def test_route_creates_the_live_alias_then_moves_it(serving: LambdaServing) -> None:
    serving.publish(_spec())
    serving.publish(_spec("req-bbbb"))
    client = boto3.client("lambda")

    serving.route(FUNCTION, "live", "1")
    assert client.get_alias(FunctionName=FUNCTION, Name="live")["FunctionVersion"] == "1"

    serving.route(FUNCTION, "live", "2")
    alias = client.get_alias(FunctionName=FUNCTION, Name="live")
    assert alias["FunctionVersion"] == "2"
    assert not alias.get("RoutingConfig", {}).get("AdditionalVersionWeights")


def test_route_with_a_canary_weights_the_new_version_until_the_alias_moves(serving: LambdaServing) -> None:
    serving.publish(_spec())
    serving.publish(_spec("req-bbbb"))
    serving.route(FUNCTION, "live", "1")
    client = boto3.client("lambda")

    serving.route(FUNCTION, "live", "1", canary=("2", 0.1))
    alias = client.get_alias(FunctionName=FUNCTION, Name="live")
    assert alias["FunctionVersion"] == "1"
    assert alias["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.1}

    serving.route(FUNCTION, "live", "2")  # the canary succeeded: all traffic to it, weights cleared
    alias = client.get_alias(FunctionName=FUNCTION, Name="live")
    assert alias["FunctionVersion"] == "2"
    assert not alias.get("RoutingConfig", {}).get("AdditionalVersionWeights")


def test_route_of_a_first_version_with_a_canary_creates_the_alias_with_its_weights(serving: LambdaServing) -> None:
    serving.publish(_spec())
    serving.publish(_spec("req-bbbb"))

    serving.route(FUNCTION, "live", "1", canary=("2", 0.25))

    alias = boto3.client("lambda").get_alias(FunctionName=FUNCTION, Name="live")
    assert alias["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.25}


def test_route_on_a_missing_function_is_serving_failed(serving: LambdaServing) -> None:
    with pytest.raises(ServingFailed, match="alias live"):
        serving.route("stratus-dep-gone", "live", "1")


def test_delete_removes_the_function_and_ignores_one_already_gone(serving: LambdaServing) -> None:
    serving.publish(_spec())
    serving.route(FUNCTION, "live", "1")
    client = boto3.client("lambda")

    serving.delete(FUNCTION)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_function(FunctionName=FUNCTION)
    serving.delete(FUNCTION)


# ---------------------------------------------------------------------------------------- Lambda: invoke (moto)


def test_invoke_answers_the_handlers_http_response(serving: LambdaServing) -> None:
    serving.publish(_spec())
    serving.route(FUNCTION, "live", "1")
    _queue_answer(
        json.dumps(
            {
                "statusCode": 400,
                "headers": {"content-type": "application/json", "x-stratus-model-version": "3"},
                "body": '{"error_code": "BAD_REQUEST", "message": "no input"}',
                "isBase64Encoded": False,
            }
        )
    )

    answer = serving.invoke(FUNCTION, "live", {"rawPath": "/invocations", "body": ""})

    assert answer.status == 400
    assert answer.headers == {"content-type": "application/json", "x-stratus-model-version": "3"}
    assert json.loads(answer.body) == {"error_code": "BAD_REQUEST", "message": "no input"}
    assert answer.function_error is None


def test_invoke_decodes_a_base64_body(serving: LambdaServing) -> None:
    serving.publish(_spec())
    parquet_like = bytes(range(256))
    _queue_answer(
        json.dumps({"statusCode": 200, "body": base64.b64encode(parquet_like).decode(), "isBase64Encoded": True})
    )

    answer = serving.invoke(FUNCTION, "1", {"rawPath": "/invocations"})

    assert (answer.status, answer.body) == (200, parquet_like)


def test_invoke_sends_the_event_as_json(serving: LambdaServing) -> None:
    serving.publish(_spec())
    event = {"rawPath": "/ping", "requestContext": {"http": {"method": "GET"}}, "body": "é"}

    # moto's Lambda echoes the request when nothing is queued; a JSON answer without statusCode is a 200 JSON body,
    # as API Gateway reads it
    answer = serving.invoke(FUNCTION, "1", event)

    assert answer.status == 200
    assert json.loads(answer.body) == event


def test_invoke_whose_answer_exceeds_6_mb_is_payload_too_large(serving: LambdaServing) -> None:
    serving.publish(_spec())
    _queue_answer(json.dumps({"statusCode": 200, "body": "x" * (6 * 1024 * 1024)}))

    with pytest.raises(PayloadTooLarge, match="6 MB") as refused:
        serving.invoke(FUNCTION, "1", {"rawPath": "/invocations"})
    assert refused.value.http_status == 413


# ----------------------------------------------------------------------- Lambda: what only AWS decides (Stubber)


def _stubbed_lambda(max_wait_seconds: float = 1.0) -> tuple[LambdaServing, Stubber]:
    client = boto3.client(
        "lambda",
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}),
    )
    stubber = Stubber(client)
    stubber.activate()
    return LambdaServing(ROLE_ARN, "arm64", client, poll_seconds=0, max_wait_seconds=max_wait_seconds), stubber


def _configuration(state: str = "Active", last_update: str | None = "Successful", **extra: str) -> dict[str, Any]:
    configuration: dict[str, Any] = {"FunctionName": FUNCTION, "State": state, **extra}
    if last_update:
        configuration["LastUpdateStatus"] = last_update
    return configuration


def _expect_configuration(stubber: Stubber, configuration: dict[str, Any]) -> None:
    stubber.add_response("get_function_configuration", configuration, {"FunctionName": FUNCTION})


def test_publish_waits_for_each_change_before_making_the_next() -> None:
    serving, stubber = _stubbed_lambda()
    spec = _spec("req-bbbb")
    # Given a function whose previous change Lambda is still applying
    stubber.add_response("get_function", {"Configuration": _configuration(last_update="InProgress")})
    _expect_configuration(stubber, _configuration())
    # When publishing, each update waits until Lambda applied the one before (it refuses a second change meanwhile)
    stubber.add_response("update_function_code", {}, {"FunctionName": FUNCTION, "ImageUri": spec.image})
    _expect_configuration(stubber, _configuration(last_update="InProgress"))
    _expect_configuration(stubber, _configuration())
    configuration_update = {
        "FunctionName": FUNCTION,
        "MemorySize": 2048,
        "Timeout": 30,
        "Environment": {"Variables": spec.environment},
    }
    stubber.add_response("update_function_configuration", {}, configuration_update)
    _expect_configuration(stubber, _configuration(last_update="InProgress"))
    _expect_configuration(stubber, _configuration())
    stubber.add_response("publish_version", {"Version": "7", "State": "Active"}, {"FunctionName": FUNCTION})

    assert serving.publish(spec) == "7"
    stubber.assert_no_pending_responses()


def test_publish_of_a_new_function_waits_until_it_is_active() -> None:
    serving, stubber = _stubbed_lambda()
    stubber.add_client_error("get_function", "ResourceNotFoundException", http_status_code=404)
    stubber.add_response("create_function", {})
    _expect_configuration(stubber, _configuration("Pending", last_update=None))
    _expect_configuration(stubber, _configuration("Active", last_update=None))  # the local Lambda API reports none
    stubber.add_response("publish_version", {"Version": "1"})

    assert serving.publish(_spec()) == "1"
    stubber.assert_no_pending_responses()


def test_publish_of_a_function_lambda_cannot_start_is_serving_failed_with_its_reason() -> None:
    serving, stubber = _stubbed_lambda()
    stubber.add_client_error("get_function", "ResourceNotFoundException", http_status_code=404)
    stubber.add_response("create_function", {})
    reason = "The image manifest, config or layer media type for the source image is not supported."
    _expect_configuration(stubber, _configuration("Failed", None, StateReason=reason, StateReasonCode="InvalidImage"))

    with pytest.raises(ServingFailed) as failed:  # and no version is published (the stub expects no more calls)
        serving.publish(_spec())
    assert reason in failed.value.message
    assert "InvalidImage" in failed.value.message


def test_publish_of_an_update_lambda_rejects_is_serving_failed_with_its_reason() -> None:
    serving, stubber = _stubbed_lambda()
    stubber.add_response("get_function", {"Configuration": _configuration()})
    stubber.add_response("update_function_code", {})
    reason = "Lambda does not have permission to access the ECR image."
    failed_update = _configuration(
        last_update="Failed", LastUpdateStatusReason=reason, LastUpdateStatusReasonCode="ImageAccessDenied"
    )
    _expect_configuration(stubber, failed_update)

    with pytest.raises(ServingFailed, match="ImageAccessDenied") as failed:
        serving.publish(_spec())
    assert reason in failed.value.message


def test_publish_gives_up_on_a_function_that_stays_pending() -> None:
    serving, stubber = _stubbed_lambda(max_wait_seconds=0.2)  # two looks, 0.1 s apart at the least
    stubber.add_client_error("get_function", "ResourceNotFoundException", http_status_code=404)
    stubber.add_response("create_function", {})
    _expect_configuration(stubber, _configuration("Pending", None))
    _expect_configuration(stubber, _configuration("Pending", None))

    with pytest.raises(ServingFailed, match="not ready after 0.2 s"):
        serving.publish(_spec())
    stubber.assert_no_pending_responses()


def test_publish_during_another_change_is_serving_failed_with_lambdas_refusal() -> None:
    serving, stubber = _stubbed_lambda()
    stubber.add_response("get_function", {"Configuration": _configuration()})
    stubber.add_client_error(
        "update_function_code",
        "ResourceConflictException",
        "An update is in progress for resource: stratus-dep-wine",
        http_status_code=409,
    )

    with pytest.raises(ServingFailed, match="An update is in progress") as failed:
        serving.publish(_spec())
    assert "ResourceConflictException" in failed.value.message


def _invoke_params(event: dict[str, Any]) -> dict[str, Any]:
    return {"InvocationType": "RequestResponse", "Payload": json.dumps(event).encode()}


def _payload(document: Any) -> StreamingBody:
    raw = json.dumps(document).encode()
    return StreamingBody(io.BytesIO(raw), len(raw))


def test_invoke_of_a_crashed_handler_answers_502_with_lambdas_error() -> None:
    serving, stubber = _stubbed_lambda()
    error = {"errorMessage": "Task timed out after 30.03 seconds", "errorType": "Sandbox.Timedout"}
    answer = {"StatusCode": 200, "FunctionError": "Unhandled", "ExecutedVersion": "3", "Payload": _payload(error)}
    stubber.add_response("invoke", answer, {"FunctionName": FUNCTION, "Qualifier": "live", **_invoke_params({})})

    invocation = serving.invoke(FUNCTION, "live", {})

    assert invocation.status == 502
    assert invocation.function_error == "Unhandled"
    assert invocation.executed_version == "3"
    assert json.loads(invocation.body)["errorType"] == "Sandbox.Timedout"


def test_invoke_reports_the_version_that_answered() -> None:
    serving, stubber = _stubbed_lambda()
    http = {"statusCode": 200, "headers": {"content-type": "text/plain"}, "body": "pong"}
    stubber.add_response("invoke", {"StatusCode": 200, "ExecutedVersion": "4", "Payload": _payload(http)})

    invocation = serving.invoke(FUNCTION, "live", {"rawPath": "/ping"})

    assert (invocation.status, invocation.body, invocation.executed_version) == (200, b"pong", "4")


def test_invoke_refused_by_lambda_as_too_large_is_payload_too_large() -> None:
    serving, stubber = _stubbed_lambda()
    stubber.add_client_error(
        "invoke", "RequestTooLargeException", "Request must be smaller than 6291456 bytes", http_status_code=413
    )

    with pytest.raises(PayloadTooLarge, match="6 MB") as refused:
        serving.invoke(FUNCTION, "live", {"body": "x" * 1000})
    assert refused.value.http_status == 413
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"


def test_invoke_of_an_event_over_6_mb_is_refused_without_calling_lambda() -> None:
    serving, stubber = _stubbed_lambda()  # nothing expected: a call would fail the test

    with pytest.raises(PayloadTooLarge, match="6 MB"):
        serving.invoke(FUNCTION, "live", {"body": "x" * (6 * 1024 * 1024)})


@pytest.mark.parametrize(
    ("code", "status", "says"),
    [
        ("ResourceNotFoundException", 404, "does not exist"),
        ("TooManyRequestsException", 429, "throttling"),
        ("ResourceNotReadyException", 502, "ResourceNotReadyException"),
    ],
)
def test_invoke_of_a_function_lambda_cannot_run_is_serving_failed(code: str, status: int, says: str) -> None:
    serving, stubber = _stubbed_lambda()
    stubber.add_client_error("invoke", code, "refused", http_status_code=status)

    with pytest.raises(ServingFailed, match=says) as failed:
        serving.invoke(FUNCTION, "live", {})
    assert FUNCTION in failed.value.message


def test_invoke_of_a_malformed_answer_is_serving_failed() -> None:
    serving, stubber = _stubbed_lambda()
    broken = {"statusCode": 200, "body": "not base64!", "isBase64Encoded": True}
    stubber.add_response("invoke", {"StatusCode": 200, "Payload": _payload(broken)})

    with pytest.raises(ServingFailed, match="malformed"):
        serving.invoke(FUNCTION, "live", {})


# --------------------------------------------------------------------------------------------- CodeBuild and ECR


@pytest.fixture
def images(moto: None) -> tuple[CodeBuildImages, list[dict[str, Any]]]:
    """The stack's repository, bucket and build project; the builder, and the StartBuild requests it sent (moto
    ignores the overrides, so they are read off the wire)."""
    boto3.client("ecr").create_repository(repositoryName=REPOSITORY)
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    boto3.client("codebuild").create_project(
        name=PROJECT,
        source={"type": "S3", "location": f"{BUCKET}/serving-builds/none.zip"},
        artifacts={"type": "NO_ARTIFACTS"},
        environment={
            "type": "ARM_CONTAINER",
            "image": "aws/codebuild/amazonlinux-aarch64-standard:3.0",
            "computeType": "BUILD_GENERAL1_SMALL",
            "privilegedMode": True,
        },
        serviceRole=_role(),
    )
    sent: list[dict[str, Any]] = []

    def client(service: str) -> Any:
        made = boto3.client(service)
        made.meta.events.register("provide-client-params.codebuild.StartBuild", lambda params, **_: sent.append(params))
        return made

    return CodeBuildImages(PROJECT, REPOSITORY_URI, BUCKET, BASE_IMAGE, client), sent


def test_find_answers_the_image_once_its_tag_is_pushed(images: tuple[CodeBuildImages, list[Any]]) -> None:
    builder, _ = images
    assert builder.find("req-1234") is None

    _push_image("req-other")
    assert builder.find("req-1234") is None

    _push_image("req-1234")
    assert builder.find("req-1234") == f"{REPOSITORY_URI}:req-1234"


def test_find_in_a_missing_repository_is_serving_failed(moto: None) -> None:
    builder = CodeBuildImages(
        PROJECT, f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/gone", BUCKET, BASE_IMAGE, boto3.client
    )

    with pytest.raises(ServingFailed, match="RepositoryNotFoundException"):
        builder.find("req-1234")


def _context(key: str) -> dict[str, str]:
    body = boto3.client("s3").get_object(Bucket=BUCKET, Key=f"serving-builds/{key}.zip")["Body"].read()
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        return {name: archive.read(name).decode() for name in archive.namelist()}


def test_start_uploads_the_build_context_and_builds_it_into_the_keys_tag(
    images: tuple[CodeBuildImages, list[dict[str, Any]]],
) -> None:
    builder, sent = images
    requirements = [
        "scikit-learn==1.5.1",
        "# inferred by mlflow",
        "",
        "numpy==1.26.4",
        "mlflow==2.19.0",
        "numpy==1.26.4",
    ]
    key = image_key(requirements, BASE_IMAGE)

    build_id = builder.start(key, requirements)

    context = _context(key)
    assert set(context) == {"Dockerfile", "requirements.txt"}
    assert f"ARG BASE_IMAGE={BASE_IMAGE}\nFROM ${{BASE_IMAGE}}\n" in context["Dockerfile"]
    assert "pip install --no-cache-dir" in context["Dockerfile"]
    assert context["requirements.txt"] == "mlflow==2.19.0\nnumpy==1.26.4\nscikit-learn==1.5.1\n"
    assert image_key(context["requirements.txt"].splitlines(), BASE_IMAGE) == key  # the zip is what the key names
    [request] = sent
    assert request["projectName"] == PROJECT
    assert (request["sourceTypeOverride"], request["sourceLocationOverride"]) == (
        "S3",
        f"{BUCKET}/serving-builds/{key}.zip",
    )
    variables = {v["name"]: v["value"] for v in request["environmentVariablesOverride"]}
    assert variables == {"BUILD_KIND": "deployment", "IMAGE_TAG": key, "REPOSITORY_URI": REPOSITORY_URI}
    assert boto3.client("codebuild").batch_get_builds(ids=[build_id])["builds"][0]["projectName"] == PROJECT


def test_start_writes_the_same_context_for_the_same_requirements(images: tuple[CodeBuildImages, list[Any]]) -> None:
    builder, _ = images
    s3 = boto3.client("s3")

    builder.start("req-same", ["numpy==1.26.4", "pandas==2.2.2"])
    first = s3.head_object(Bucket=BUCKET, Key="serving-builds/req-same.zip")["ETag"]
    builder.start("req-same", ["pandas==2.2.2", "numpy==1.26.4"])

    assert s3.head_object(Bucket=BUCKET, Key="serving-builds/req-same.zip")["ETag"] == first


def test_status_of_a_finished_build_is_its_status(images: tuple[CodeBuildImages, list[Any]]) -> None:
    builder, _ = images
    build_id = builder.start("req-1234", ["numpy==1.26.4"])

    assert builder.status(build_id) == ("SUCCEEDED", "")  # moto's builds succeed at once


def test_status_of_an_unknown_build_is_failed(images: tuple[CodeBuildImages, list[Any]]) -> None:
    builder, _ = images

    status, reason = builder.status(f"{PROJECT}:00000000-0000-0000-0000-000000000000")

    assert status == "FAILED"
    assert "no build" in reason


def _stubbed_builds(build: dict[str, Any]) -> CodeBuildImages:
    client = boto3.client("codebuild", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
    stubber = Stubber(client)
    stubber.add_response("batch_get_builds", {"builds": [build]}, {"ids": [build["id"]]})
    stubber.activate()
    return CodeBuildImages(PROJECT, REPOSITORY_URI, BUCKET, BASE_IMAGE, lambda service: client)


def test_status_of_a_failed_build_names_the_failed_phase_and_its_log() -> None:
    log = "https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#logEvent:group=/aws/codebuild/x"
    build = {
        "id": f"{PROJECT}:1",
        "buildStatus": "FAILED",
        "currentPhase": "COMPLETED",
        "phases": [
            {"phaseType": "PRE_BUILD", "phaseStatus": "SUCCEEDED"},
            {
                "phaseType": "BUILD",
                "phaseStatus": "FAILED",
                "contexts": [
                    {
                        "statusCode": "COMMAND_EXECUTION_ERROR",
                        "message": "Error while executing command: docker build. Reason: exit status 1",
                    }
                ],
            },
            {"phaseType": "COMPLETED"},
        ],
        "logs": {"deepLink": log},
    }

    status, reason = _stubbed_builds(build).status(f"{PROJECT}:1")

    assert status == "FAILED"
    assert reason.startswith("BUILD FAILED: COMMAND_EXECUTION_ERROR: Error while executing command: docker build")
    assert "PRE_BUILD" not in reason
    assert reason.endswith(f"(log: {log})")


def test_status_of_a_running_build_names_its_phase() -> None:
    build = {"id": f"{PROJECT}:2", "buildStatus": "IN_PROGRESS", "currentPhase": "BUILD"}

    assert _stubbed_builds(build).status(f"{PROJECT}:2") == ("IN_PROGRESS", "building (BUILD)")


# ---------------------------------------------------------------------------------------- requirements checked


@pytest.mark.parametrize(
    "line",
    [
        "-e git+https://github.com/acme/model-utils",
        "--index-url https://pypi.example.com/simple",
        "--extra-index-url https://pypi.example.com/simple",
        "-r other-requirements.txt",
        "-c constraints.txt",
        "numpy==1.26.4 --hash=sha256:abc",
        "./wheels/model_utils-1.0-py3-none-any.whl",
        "wheels/model_utils-1.0-py3-none-any.whl",
        "model_utils-1.0.tar.gz",
        "https://example.com/model_utils-1.0-py3-none-any.whl",
        "git+https://github.com/acme/model-utils",
        "model-utils @ file:///tmp/model_utils.whl",
        "model-utils @ http://example.com/model_utils.whl",
        "numpy==${NUMPY_VERSION}",
        "numpy==1.26.4 \\",
    ],
)
def test_start_refuses_a_requirement_pip_would_read_as_more_than_a_package(
    images: tuple[CodeBuildImages, list[Any]], line: str
) -> None:
    builder, sent = images

    with pytest.raises(InvalidParameterValue) as refused:
        builder.start("req-bad", ["numpy==1.26.4", line])

    assert repr(line) in refused.value.message
    assert sent == []
    assert "Contents" not in boto3.client("s3").list_objects_v2(Bucket=BUCKET)


@pytest.mark.parametrize(
    "line",
    [
        "scikit-learn==1.5.1",
        "numpy>=1.26,<2",
        "pandas[performance]==2.2.2",
        "torch==2.3.0+cpu",
        "cloudpickle",
        "scipy (>=1.10)",
        "pywin32==306; sys_platform == 'win32'",
        'typing-extensions>=4.6; python_version < "3.11"',
        "mlflow==2.19.0  # pinned by the model",
        "torch @ https://download.pytorch.org/whl/cpu/torch-2.3.0%2Bcpu-cp312-linux_aarch64.whl",
    ],
)
def test_plain_requirements_are_accepted(line: str) -> None:
    assert requirement_lines([line]) == [line]


# ------------------------------------------------------------------------------------------------ the buildspec


def test_the_templates_build_project_runs_serving_build_buildspec() -> None:
    projects = [
        resource["Properties"]
        for resource in load_template(PROJECT_DIR / "template.yaml").get("Resources", {}).values()
        if resource.get("Type") == "AWS::CodeBuild::Project"
    ]
    if not projects:
        pytest.skip("template.yaml has no CodeBuild project yet")
    expected = yaml.safe_load((PROJECT_DIR / "serving" / "build" / "buildspec.yml").read_text())
    assert [yaml.safe_load(p["Source"]["BuildSpec"]) for p in projects] == [expected]
