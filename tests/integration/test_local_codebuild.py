"""stratus local's CodeBuild and ECR (stratus_local/codebuild.py), as ``--serving-env virtualenv`` uses them: the
rollouts' own adapter (``stratus.store.codebuild.CodeBuildImages``) looks for an image in ECR, uploads a build context
and starts a build with boto3; the build makes a real virtualenv with pip, pushes its tag, and its end reaches the
template's BuildEnded rule on the default bus; the local Lambda then runs a function from that image in its
virtualenv. The AWS side (S3, EventBridge, SQS, CloudWatch Logs) is an in-process moto server, as in the stack.

To stay fast, images here hold ``six`` alone (``base_packages=()``): the worker's own packages (mlflow-skinny, pandas,
pyarrow) take minutes to install; tests/e2e/test_deployments_virtualenv.py builds those. One emulator serves the
module, so the tests run in order on one xdist worker."""

from __future__ import annotations

import io
import json
import subprocess
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from lambda_harness import LambdaContext, load_function
from moto_server import moto_server_with_bucket

from stratus.store.codebuild import CodeBuildImages
from stratus_local.codebuild import MARKER, CodeBuildEmulator
from stratus_local.event_sources import RulePoller
from stratus_local.lambda_api import LambdaEmulator
from stratus_local.template import LOCAL_ACCOUNT_ID, RuleSourceSpec, parse_project, samconfig_parameter_overrides

pytestmark = pytest.mark.xdist_group("local_codebuild")

REPO = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
BUCKET = "artifact-bucket"
BASE_IMAGE = "stratus-serving:local-test"
WAIT_S = 120.0


@dataclass
class Images:
    """The emulator with the template's project and repository, the rollouts' adapter on it, and the events."""

    emulator: CodeBuildEmulator
    builder: CodeBuildImages
    project: str
    repository_uri: str
    clients: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    ended: list[dict[str, Any]] = field(default_factory=list)
    """What the template's rule delivered."""

    def wait_ended(self, build_id: str) -> dict[str, Any]:
        """The event the template's rule delivered for the build's end."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            for event in list(self.ended):
                if event["detail"]["build-id"].endswith(f":build/{build_id}"):
                    return event
            time.sleep(0.2)
        raise AssertionError(f"build {build_id} did not end within {WAIT_S} s: {self.statuses(build_id)}")

    def statuses(self, build_id: str) -> list[str]:
        return [e["detail"]["build-status"] for e in self.events if e["detail"]["build-id"].endswith(build_id)]

    def build(self, build_id: str) -> dict[str, Any]:
        (found,) = self.clients["codebuild"].batch_get_builds(ids=[build_id])["builds"]
        return dict(found)

    def log(self, build_id: str) -> str:
        logs = self.build(build_id)["logs"]
        events = self.clients["logs"].get_log_events(
            logGroupName=logs["groupName"], logStreamName=logs["streamName"], startFromHead=True
        )["events"]
        return "\n".join(event["message"] for event in events)

    def start_raw(self, requirements: str, tag: str, token: str | None = None) -> str:
        """A build of a context written here (so not checked by the adapter), as the adapter starts one."""
        key = f"serving-builds/{tag}.zip"
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("requirements.txt", requirements)
        self.clients["s3"].put_object(Bucket=BUCKET, Key=key, Body=buffer.getvalue())
        extra = {"idempotencyToken": token} if token else {}
        answer = self.clients["codebuild"].start_build(
            projectName=self.project,
            sourceTypeOverride="S3",
            sourceLocationOverride=f"{BUCKET}/{key}",
            environmentVariablesOverride=[
                {"name": "IMAGE_TAG", "value": tag, "type": "PLAINTEXT"},
                {"name": "BUILD_KIND", "value": "deployment", "type": "PLAINTEXT"},
            ],
            **extra,
        )
        return str(answer["build"]["id"])


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_server_with_bucket(REGION, BUCKET) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def images(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Images]:
    overrides = {**samconfig_parameter_overrides(REPO), "ServingImageBuilds": "enabled", "ServingImage": BASE_IMAGE}
    template = parse_project(REPO, parameter_overrides=overrides)
    (project,) = template.build_projects
    (repository,) = template.image_repositories
    (rule,) = [r for f in template.functions.values() for r in f.rule_sources if r.name.endswith("-BuildEnded")]
    rollouts = template.functions["DeploymentRolloutsFunction"].environment
    assert rollouts["STRATUS_SERVING_BUILD_PROJECT"] == project["name"] == "stratus-local-serving-images"
    repository_uri = rollouts["STRATUS_SERVING_REPOSITORY"]
    assert repository_uri == f"{LOCAL_ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/{repository}"

    emulator = CodeBuildEmulator(
        aws_endpoint=moto_endpoint,
        images_dir=tmp_path_factory.mktemp("images"),
        base_packages=(),
        region=REGION,
        log=io.StringIO(),
    )
    endpoint = emulator.start()
    config = Config(retries={"total_max_attempts": 1, "mode": "standard"})
    clients = {
        service: boto3.client(service, endpoint_url=endpoint, region_name=REGION, config=config)
        for service in ("codebuild", "ecr")
    } | {service: boto3.client(service, endpoint_url=moto_endpoint, region_name=REGION) for service in ("s3", "logs")}
    # As the stack creates them from the template, but through the API
    clients["ecr"].create_repository(repositoryName=repository, imageTagMutability="IMMUTABLE")
    clients["codebuild"].create_project(**project)
    found = Images(
        emulator,
        CodeBuildImages(project["name"], repository_uri, BUCKET, BASE_IMAGE, clients=clients.__getitem__),
        project["name"],
        repository_uri,
        clients,
    )
    pollers = [
        RulePoller(
            "Everything",
            RuleSourceSpec(f"all-{uuid.uuid4().hex[:8]}", "default", {"source": ["aws.codebuild"]}),
            lambda _, body, __: found.events.append(json.loads(body)) or b"{}",
            moto_endpoint,
            REGION,
        ),
        RulePoller(
            "DeploymentRolloutsFunction",
            RuleSourceSpec(f"ended-{uuid.uuid4().hex[:8]}", rule.bus, rule.pattern),
            lambda _, body, __: found.ended.append(json.loads(body)) or b"{}",
            moto_endpoint,
            REGION,
        ),
    ]
    for poller in pollers:
        poller.start()
    yield found
    emulator.stop()
    for poller in pollers:
        poller.stop()


def test_a_build_installs_the_requirements_in_a_virtualenv_and_pushes_the_tag(images: Images) -> None:
    key = "req-six"
    assert images.builder.find(key) is None

    build_id = images.builder.start(key, ["six==1.16.0"])
    ended = images.wait_ended(build_id)

    assert ended["source"] == "aws.codebuild" and ended["detail-type"] == "CodeBuild Build State Change"
    assert ended["detail"]["build-status"] == "SUCCEEDED"
    assert ended["detail"]["project-name"] == images.project
    assert ended["detail"]["build-id"] == f"arn:aws:codebuild:{REGION}:{LOCAL_ACCOUNT_ID}:build/{build_id}"
    assert images.statuses(build_id)[0] == "IN_PROGRESS"
    assert images.builder.status(build_id) == ("SUCCEEDED", "")
    build = images.build(build_id)
    assert [p["phaseType"] for p in build["phases"]] == [
        "SUBMITTED",
        "QUEUED",
        "PROVISIONING",
        "DOWNLOAD_SOURCE",
        "INSTALL",
        "PRE_BUILD",
        "BUILD",
        "POST_BUILD",
        "UPLOAD_ARTIFACTS",
        "FINALIZING",
        "COMPLETED",
    ]
    assert {p.get("phaseStatus") for p in build["phases"]} == {"SUCCEEDED", None}  # COMPLETED has none
    variables = {v["name"]: v["value"] for v in build["environment"]["environmentVariables"]}
    assert variables["IMAGE_TAG"] == key and variables["BASE_IMAGE"] == BASE_IMAGE

    image = images.builder.find(key)
    assert image == f"{images.repository_uri}:{key}"
    details = images.clients["ecr"].describe_images(repositoryName=images.repository_uri.split("/", 1)[1])
    assert [d["imageTags"] for d in details["imageDetails"]] == [[key]]
    python = images.emulator.interpreter(image)
    assert python is not None
    answer = subprocess.run(  # noqa: S603 - the virtualenv the build made
        [python, "-c", "import six, sys; print(six.__version__, sys.prefix)"],
        capture_output=True,
        text=True,
        check=True,
    )
    version, prefix = answer.stdout.split()
    assert version == "1.16.0"  # this process has six 1.17
    assert Path(prefix) == Path(python).parent.parent and (Path(prefix) / MARKER).is_file()
    assert "Running command pip install -r model-requirements.txt" in images.log(build_id)
    assert "Successfully installed six-1.16.0" in images.log(build_id)


def test_the_build_event_reaches_the_rollouts_waiting_on_that_build(
    images: Images, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CodeBuild's event names the build by its ARN; the rollouts recorded the id StartBuild answered."""
    event = next(e for e in images.ended if e["detail"]["build-status"] == "SUCCEEDED")
    asked: list[str] = []

    class Service:
        def on_build_event(self, build_id: str) -> list[str]:
            asked.append(build_id)
            return ["wine-api"]

    rollouts = load_function("deployments", "rollouts")
    monkeypatch.setattr(rollouts, "service", Service)

    assert rollouts.handler(event, LambdaContext("rollouts")) == {"advanced": ["wine-api"]}
    assert asked == [event["detail"]["build-id"].split(":build/")[1]]
    assert asked[0].startswith(f"{images.project}:")


def test_an_image_is_built_once(images: Images) -> None:
    key = "req-six"
    assert images.builder.find(key) is not None  # a rollout stops here: no build

    assert images.builder.start(key, ["six==1.16.0"]) in {
        e["detail"]["build-id"].split(":build/")[1] for e in images.events
    }  # the same idempotencyToken within 5 minutes: the same build

    again = images.start_raw("six==1.16.0\n", key)  # another build of a tag already pushed
    assert images.wait_ended(again)["detail"]["build-status"] == "SUCCEEDED"
    assert "is in the repository already: nothing to build" in images.log(again)
    assert "pip install" not in images.log(again)


def test_a_failing_pip_install_fails_the_build_with_pip_s_last_lines(images: Images) -> None:
    failing = images.start_raw("this is not a requirement!\n", "req-broken")
    queued = images.start_raw("six\n", "req-never-built")
    images.clients["codebuild"].stop_build(id=queued)  # it waits while the first one builds

    ended = images.wait_ended(failing)
    assert ended["detail"]["build-status"] == "FAILED"
    status, reason = images.builder.status(failing)
    assert status == "FAILED"
    assert reason.startswith(
        "BUILD FAILED: COMMAND_EXECUTION_ERROR: Error while executing command: pip install -r model-requirements.txt. "
        "Reason: exit status 1"
    )
    assert "this is not a requirement!" in reason  # pip's own error, from its last lines
    assert images.builder.find("req-broken") is None
    assert not (images.emulator.images_dir / "stratus-local-serving" / "req-broken").exists()  # type: ignore[operator]

    assert images.wait_ended(queued)["detail"]["build-status"] == "STOPPED"
    phases = {p["phaseType"]: p.get("phaseStatus") for p in images.build(queued)["phases"]}
    assert phases["QUEUED"] == "STOPPED" and "BUILD" not in phases


def test_a_missing_source_fails_the_download(images: Images) -> None:
    answer = images.clients["codebuild"].start_build(
        projectName=images.project,
        sourceLocationOverride=f"{BUCKET}/serving-builds/nothing-here.zip",
        environmentVariablesOverride=[{"name": "IMAGE_TAG", "value": "req-none", "type": "PLAINTEXT"}],
    )
    build_id = answer["build"]["id"]
    assert images.wait_ended(build_id)["detail"]["build-status"] == "FAILED"
    status, reason = images.builder.status(build_id)
    assert status == "FAILED" and reason.startswith("DOWNLOAD_SOURCE FAILED: CLIENT_ERROR: NoSuchKey")


def test_unknown_projects_repositories_and_images_are_aws_errors(images: Images) -> None:
    with pytest.raises(ClientError) as project:
        images.clients["codebuild"].start_build(projectName="nope")
    assert project.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as repository:
        images.clients["ecr"].describe_images(repositoryName="nope")
    assert repository.value.response["Error"]["Code"] == "RepositoryNotFoundException"
    with pytest.raises(ClientError) as image:
        images.clients["ecr"].describe_images(
            repositoryName=images.repository_uri.split("/", 1)[1], imageIds=[{"imageTag": "req-never-built"}]
        )
    assert image.value.response["Error"]["Code"] == "ImageNotFoundException"
    assert images.clients["codebuild"].batch_get_builds(ids=["x:y"])["buildsNotFound"] == ["x:y"]


def test_a_function_of_a_built_image_runs_in_its_virtualenv(images: Images, tmp_path: Path) -> None:
    """The local Lambda runs the worker with the image's Python: this one has six alone, so the worker cannot import
    MLflow, which this process has. An image of the local ECR that was never pushed is refused, as Lambda does."""
    lambda_api = LambdaEmulator(
        serving_dir=REPO / "serving",
        region=REGION,
        image_interpreter=images.emulator.interpreter,
        log=io.StringIO(),
    )
    client = boto3.client(
        "lambda",
        endpoint_url=lambda_api.start(),
        region_name=REGION,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )
    try:
        with pytest.raises(ClientError) as missing:
            client.create_function(
                FunctionName="never-built",
                PackageType="Image",
                Code={"ImageUri": f"{images.repository_uri}:req-never-built"},
                Role="arn:aws:iam::000000000000:role/serving",
            )
        assert missing.value.response["Error"]["Code"] == "InvalidParameterValueException"
        assert "does not exist" in missing.value.response["Error"]["Message"]

        client.create_function(
            FunctionName="six-only",
            PackageType="Image",
            Code={"ImageUri": f"{images.repository_uri}:req-six"},
            Role="arn:aws:iam::000000000000:role/serving",
            Timeout=30,
            Environment={"Variables": {"STRATUS_MODEL_URI": str(tmp_path)}},
        )
        version = client.publish_version(FunctionName="six-only")["Version"]
        answer = client.invoke(FunctionName="six-only", Qualifier=version, Payload=b"{}")
        assert answer.get("FunctionError") == "Unhandled"
        assert "No module named 'mlflow'" in json.loads(answer["Payload"].read())["errorMessage"]
        code = client.get_function(FunctionName="six-only", Qualifier=version)["Code"]
        assert code["ImageUri"] == f"{images.repository_uri}:req-six"
    finally:
        lambda_api.stop()
