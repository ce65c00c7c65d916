"""``stratus local`` reads template.yaml: short tags, intrinsic functions resolved to local values, functions with
their HttpApi routes and environment, and the tables and buckets it must create."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from stratus_local.event_sources import SchedulePoller
from stratus_local.template import (
    CfnYamlLoader,
    Resolver,
    ScheduleSourceSpec,
    TemplateError,
    kebab_case,
    parse_project,
    rate_seconds,
)

TEMPLATE = """
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
  Retention:
    Type: Number
    Default: 30
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  IsNotProd: !Not [!Condition IsProd]
Globals:
  Function:
    Runtime: python3.12
    Timeout: 29
    MemorySize: 1024
    Layers: [!Ref StratusLayer]
    Environment:
      Variables:
        STRATUS_TABLE_NAME: !Ref StratusTable
        STRATUS_ARTIFACT_BUCKET: !Ref ArtifactBucket
        STAGE: !Ref Stage
        OVERRIDDEN: global
Resources:
  StratusLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layers/stratus
  TrackingFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/tracking/
      Handler: app.handler
      Environment:
        Variables:
          STRATUS_DEFAULT_ARTIFACT_ROOT: !Sub "s3://${ArtifactBucket}/mlartifacts"
          REGION_AND_ACCOUNT: !Sub "${AWS::Region}:${AWS::AccountId}:${!Literal}"
          TABLE_ARN: !GetAtt StratusTable.Arn
          NAMED_TABLE: !Ref NamedTable
          MODE: !If [IsProd, production, development]
          NOT_PROD: !If [IsNotProd, "yes", "no"]
          JOINED: !Join ["-", [a, !Ref Stage, !Select [1, [x, y]]]]
          RETENTION: !Ref Retention
          DEBUG: true
          OVERRIDDEN: function
      Events:
        Api:
          Type: HttpApi
          Properties:
            Path: /api/{proxy+}
            Method: any
        GetRun:
          Type: HttpApi
          Properties:
            Path: /api/2.0/mlflow/runs/get
            Method: get
        Version:
          Type: HttpApi
          Properties:
            Path: /version
        Queue:
          Type: SQS
          Properties:
            Queue: !GetAtt Queue.Arn
  CatchAllFunction:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub "${AWS::StackName}-catch-all"
      CodeUri: functions/catchall
      Handler: handlers.main.handler
      MemorySize: 256
      Events:
        Default:
          Type: HttpApi
  WorkerFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/worker
      Handler: app.handler
      Events:
        Queue:
          Type: SQS
          Properties:
            Queue: !GetAtt Queue.Arn
  ProdOnlyFunction:
    Type: AWS::Serverless::Function
    Condition: IsProd
    Properties:
      CodeUri: functions/prod
      Handler: app.handler
      Events:
        Api:
          Type: HttpApi
          Properties: {Path: /prod, Method: GET}
  Queue:
    Type: AWS::SQS::Queue
  StratusTable:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: sk, AttributeType: S}
        - {AttributeName: gsi1pk, AttributeType: S}
        - {AttributeName: lsi1sk, AttributeType: N}
      KeySchema:
        - {AttributeName: pk, KeyType: HASH}
        - {AttributeName: sk, KeyType: RANGE}
      GlobalSecondaryIndexes:
        - IndexName: gsi1
          KeySchema:
            - {AttributeName: gsi1pk, KeyType: HASH}
            - {AttributeName: sk, KeyType: RANGE}
          Projection: {ProjectionType: ALL}
      LocalSecondaryIndexes:
        - IndexName: lsi1
          KeySchema:
            - {AttributeName: pk, KeyType: HASH}
            - {AttributeName: lsi1sk, KeyType: RANGE}
          Projection: {ProjectionType: KEYS_ONLY}
      StreamSpecification:
        StreamViewType: NEW_AND_OLD_IMAGES
      TimeToLiveSpecification:
        AttributeName: expires_at
        Enabled: true
  NamedTable:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: my-named-table
      ProvisionedThroughput: {ReadCapacityUnits: 3, WriteCapacityUnits: 4}
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
  ArtifactBucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub "stratus-${AWS::AccountId}"
  LogsBucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: literal-logs
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    (tmp_path / "layers" / "stratus").mkdir(parents=True)
    return tmp_path


def test_short_tags_load_as_their_long_form() -> None:
    text = textwrap.dedent(
        """
        a: !Ref Thing
        b: !Sub "${X}-y"
        c: !GetAtt Table.StreamArn
        d: !GetAtt [Table, Arn]
        e: !If [Cond, !Ref A, !Ref B]
        f: !Not [!Equals [1, 2]]
        g: !Condition Other
        """
    )
    loaded = yaml.load(text, Loader=CfnYamlLoader)  # noqa: S506 - a SafeLoader subclass

    assert loaded == {
        "a": {"Ref": "Thing"},
        "b": {"Fn::Sub": "${X}-y"},
        "c": {"Fn::GetAtt": ["Table", "StreamArn"]},
        "d": {"Fn::GetAtt": ["Table", "Arn"]},
        "e": {"Fn::If": ["Cond", {"Ref": "A"}, {"Ref": "B"}]},
        "f": {"Fn::Not": [{"Fn::Equals": [1, 2]}]},
        "g": {"Condition": "Other"},
    }


@pytest.mark.parametrize(
    ("logical_id", "name"),
    [
        ("StratusTable", "stratus-table"),
        ("ArtifactBucket", "artifact-bucket"),
        ("S3ArtifactBucket", "s3-artifact-bucket"),
    ],
)
def test_resources_without_a_literal_name_are_named_in_kebab_case(logical_id: str, name: str) -> None:
    assert kebab_case(logical_id) == name


def test_function_environment_resolves_intrinsics_to_local_values(project: Path) -> None:
    template = parse_project(project)

    env = template.functions["TrackingFunction"].environment

    assert env == {
        "STRATUS_TABLE_NAME": "stratus-table",
        "STRATUS_ARTIFACT_BUCKET": "artifact-bucket",  # BucketName is not a literal, so the logical id decides
        "STAGE": "dev",
        "OVERRIDDEN": "function",
        "STRATUS_DEFAULT_ARTIFACT_ROOT": "s3://artifact-bucket/mlartifacts",
        "REGION_AND_ACCOUNT": "us-east-1:000000000000:${Literal}",
        "TABLE_ARN": "arn:aws:dynamodb:us-east-1:000000000000:table/stratus-table",
        "NAMED_TABLE": "my-named-table",
        "MODE": "development",
        "NOT_PROD": "yes",
        "JOINED": "a-dev-y",
        "RETENTION": "30",
        "DEBUG": "true",
    }


def test_functions_are_collected_with_their_http_api_routes(project: Path) -> None:
    template = parse_project(project)

    tracking = template.functions["TrackingFunction"]
    assert [route.route_key for route in tracking.routes] == [
        "ANY /api/{proxy+}",
        "GET /api/2.0/mlflow/runs/get",
        "ANY /version",
    ]
    assert tracking.code_dir == project / "functions" / "tracking"
    assert tracking.handler == "app.handler"
    assert (tracking.memory_mb, tracking.timeout_s) == (1024, 29.0)
    assert tracking.layer_dirs == [project / "layers" / "stratus"]
    catch_all = template.functions["CatchAllFunction"]
    assert [route.route_key for route in catch_all.routes] == ["$default"]
    assert catch_all.handler == "handlers.main.handler"
    assert catch_all.memory_mb == 256
    assert (tracking.function_name, catch_all.function_name) == ("TrackingFunction", "stratus-local-catch-all")


def test_functions_without_an_event_run_locally_or_whose_condition_is_false_are_not_served(project: Path) -> None:
    template = parse_project(project)

    # The SQS-fed worker runs locally too: stratus local polls its queue.
    assert set(template.functions) == {"TrackingFunction", "CatchAllFunction", "WorkerFunction"}
    assert template.functions["WorkerFunction"].routes == []
    assert [source.queue for source in template.functions["WorkerFunction"].queue_sources] == ["queue"]


def test_tables_are_created_from_their_template_definition(project: Path) -> None:
    template = parse_project(project)

    tables = {table.logical_id: table for table in template.tables}
    stratus = tables["StratusTable"]
    assert stratus.name == "stratus-table"
    assert stratus.ttl_attribute == "expires_at"
    assert stratus.create_args == {
        "TableName": "stratus-table",
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "gsi1pk", "AttributeType": "S"},
            {"AttributeName": "lsi1sk", "AttributeType": "N"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "gsi1",
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        "LocalSecondaryIndexes": [
            {
                "IndexName": "lsi1",
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "lsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
        # The stream the template declares: local consumers read it as the deployed ones do.
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    }
    named = tables["NamedTable"]
    assert named.name == "my-named-table"
    assert named.create_args["BillingMode"] == "PROVISIONED"
    assert named.create_args["ProvisionedThroughput"] == {"ReadCapacityUnits": 3, "WriteCapacityUnits": 4}


def test_buckets_use_a_literal_bucket_name_else_the_kebab_case_logical_id(project: Path) -> None:
    template = parse_project(project)

    assert {bucket.logical_id: bucket.name for bucket in template.buckets} == {
        "ArtifactBucket": "artifact-bucket",
        "LogsBucket": "literal-logs",
    }


def test_a_reference_to_nothing_is_an_error() -> None:
    resolver = Resolver({"Resources": {}})

    with pytest.raises(TemplateError, match="Missing"):
        resolver.resolve({"Ref": "Missing"})


def test_an_import_from_another_stack_has_no_local_value() -> None:
    resolver = Resolver({"Resources": {}})

    with pytest.raises(TemplateError, match="another stack"):
        resolver.resolve({"Fn::ImportValue": "shared-vpc"})


def test_a_batch_job_queue_and_definition_are_referenced_by_arn_as_on_aws() -> None:
    """Job events carry the queue's ARN; a rule matching ``!Ref ProjectJobQueue`` must see the same string."""
    resources = {"ProjectJobQueue": {"Type": "AWS::Batch::JobQueue"}, "Def": {"Type": "AWS::Batch::JobDefinition"}}
    resolver = Resolver({"Resources": resources})

    assert resolver.resolve({"Ref": "ProjectJobQueue"}) == (
        "arn:aws:batch:us-east-1:000000000000:job-queue/project-job-queue"
    )
    assert resolver.resolve({"Ref": "Def"}) == "arn:aws:batch:us-east-1:000000000000:job-definition/def:1"


def test_serving_image_resources_are_named_by_their_resolved_names() -> None:
    """The rollouts reach the build project and repository by these names (``--serving-env virtualenv``)."""
    resources = {
        "Repo": {
            "Type": "AWS::ECR::Repository",
            "Properties": {"RepositoryName": {"Fn::Sub": "${AWS::StackName}-serving"}},
        },
        "Builds": {"Type": "AWS::CodeBuild::Project", "Properties": {"Name": {"Fn::Sub": "${AWS::StackName}-images"}}},
        "Logs": {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {"LogGroupName": {"Fn::Sub": "/aws/codebuild/${Builds}"}},
        },
    }
    resolver = Resolver({"Resources": resources})

    assert resolver.resolve({"Fn::GetAtt": ["Repo", "RepositoryUri"]}) == (
        "000000000000.dkr.ecr.us-east-1.amazonaws.com/stratus-local-serving"
    )
    assert resolver.resolve({"Fn::GetAtt": ["Repo", "Arn"]}) == (
        "arn:aws:ecr:us-east-1:000000000000:repository/stratus-local-serving"
    )
    assert resolver.resolve({"Ref": "Builds"}) == "stratus-local-images"
    assert resolver.resolve({"Ref": "Logs"}) == "/aws/codebuild/stratus-local-images"


def test_image_builds_enabled_give_the_template_s_repository_and_build_project() -> None:
    root = Path(__file__).resolve().parents[2]

    project = parse_project(root, parameter_overrides={"ServingImage": "base", "ServingImageBuilds": "enabled"})
    disabled = parse_project(root, parameter_overrides={"ServingImage": "base", "ServingImageBuilds": "disabled"})

    assert project.image_repositories == ["stratus-local-serving"]
    [build] = project.build_projects
    assert build["name"] == "stratus-local-serving-images"
    assert build["logsConfig"]["cloudWatchLogs"]["groupName"] == "/aws/codebuild/stratus-local-serving-images"
    assert {v["name"]: v["value"] for v in build["environment"]["environmentVariables"]} == {
        "BASE_IMAGE": "base",
        "REPOSITORY_URI": "000000000000.dkr.ecr.us-east-1.amazonaws.com/stratus-local-serving",
    }
    assert (disabled.image_repositories, disabled.build_projects) == ([], [])


def test_no_value_drops_the_key() -> None:
    resolver = Resolver({"Resources": {}})

    assert resolver.resolve({"A": "1", "B": {"Ref": "AWS::NoValue"}}) == {"A": "1"}


def test_a_missing_template_is_reported(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="no template"):
        parse_project(tmp_path)


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [("rate(5 minutes)", 300), ("rate(1 minute)", 60), ("rate(2 hours)", 7200), ("rate(1 day)", 86400)],
)
def test_rate_schedules_run_locally(expression: str, seconds: int) -> None:
    assert rate_seconds(expression) == seconds


def test_cron_schedules_do_not() -> None:
    assert rate_seconds("cron(0 12 * * ? *)") is None


def test_the_project_sweep_is_a_local_schedule() -> None:
    project = parse_project(Path(__file__).resolve().parents[2], parameter_overrides={"ProjectRunnerImage": "x"})
    [schedule] = project.functions["ProjectJobEventsFunction"].schedule_sources
    assert schedule.every_s == 300


def test_a_function_s_metadata_sets_its_local_batching_window_cap() -> None:
    """The projector's 60 s window is 30 s locally (its Metadata says so), other mappings keep the default cap."""
    project = parse_project(Path(__file__).resolve().parents[2], parameter_overrides={"ProjectRunnerImage": "x"})
    [projector] = project.functions["ProjectionFunction"].stream_sources
    assert (projector.batching_window_s, projector.local_window_cap_s) == (60.0, 30.0)
    [events] = project.functions["RegistryEventsFunction"].stream_sources
    assert events.local_window_cap_s is None


def test_a_schedule_invokes_its_function_with_a_scheduled_event() -> None:
    calls: list[dict] = []
    poller = SchedulePoller(
        "Fn", ScheduleSourceSpec("Fn-Sweep", 0.05), lambda fn, body, _: calls.append(json.loads(body)), "us-east-1"
    )
    poller.start()
    deadline = time.monotonic() + 5
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    poller.stop()
    assert len(calls) >= 2
    assert calls[0]["source"] == "aws.events" and calls[0]["detail-type"] == "Scheduled Event"
