"""Read ``template.yaml`` the way ``stratus local`` needs it: functions, their HTTP API routes and environment, and the
tables and buckets to create.

CloudFormation short tags (``!Ref``, ``!Sub``, ``!GetAtt``, ...) are loaded as their long form (``{"Ref": ...}``,
``{"Fn::Sub": ...}``) and resolved to *local* values:

* ``!Ref`` of a DynamoDB table or S3 bucket gives its local name: the resource's ``TableName``/``BucketName`` when
  that is a literal string, else the logical id in kebab case (``StratusTable`` -> ``stratus-table``,
  ``ArtifactBucket`` -> ``artifact-bucket``). Other resources give their kebab-case logical id too, except Batch job
  queues, job definitions and compute environments, whose ``!Ref`` is an ARN on AWS: an ARN built from that name; and
  ECR repositories, CodeBuild projects and log groups, which take their name property even when it is an expression.
* ``!Ref`` of a parameter gives its ``Default``; pseudo parameters give local values (account ``000000000000``).
* ``!GetAtt`` gives ARNs and names built from the same local names (and an ECR repository's ``RepositoryUri``).
* ``!Sub``, ``!Join``, ``!Select``, ``!Split``, ``!If``, ``!Equals``, ``!Not``, ``!And``, ``!Or``, ``!FindInMap`` and
  ``Condition`` are evaluated.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

LOCAL_ACCOUNT_ID = "000000000000"
LOCAL_STACK_NAME = "stratus-local"
DEFAULT_REGION = "us-east-1"

FUNCTION_TYPE = "AWS::Serverless::Function"
LAYER_TYPES = ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion")
TABLE_TYPE = "AWS::DynamoDB::Table"
SIMPLE_TABLE_TYPE = "AWS::Serverless::SimpleTable"
EVENT_BUS_TYPE = "AWS::Events::EventBus"
KMS_ALIAS_TYPE = "AWS::KMS::Alias"
QUEUE_TYPE = "AWS::SQS::Queue"
BUCKET_TYPE = "AWS::S3::Bucket"
BUILD_PROJECT_TYPE = "AWS::CodeBuild::Project"
REPOSITORY_TYPE = "AWS::ECR::Repository"
_RESOLVED_NAMES = {
    BUILD_PROJECT_TYPE: "Name",
    REPOSITORY_TYPE: "RepositoryName",
    "AWS::Logs::LogGroup": "LogGroupName",
}
"""Resource types whose name property (often ``!Sub "${AWS::StackName}-..."``) is resolved for their local name: the
serving images' build project and repository, which the functions reach by name (``--serving-env virtualenv``)."""

_ARN_REFS = {
    "AWS::Batch::JobQueue": "job-queue/{name}",
    "AWS::Batch::JobDefinition": "job-definition/{name}:1",
    "AWS::Batch::ComputeEnvironment": "compute-environment/{name}",
}
"""Resource types whose ``!Ref`` is an ARN (resource part after the account), built from the local name."""
_NO_VALUE = object()
"""What ``!Ref AWS::NoValue`` resolves to: the enclosing key or list item is dropped."""


class TemplateError(ValueError):
    """The template cannot be served locally (missing file, unsupported construct, unresolvable reference)."""


# --------------------------------------------------------------------------------------------------------------------
# YAML loading


class CfnYamlLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc, unused-ignore]
    """A SafeLoader that reads CloudFormation short tags as their long JSON form: libyaml's when PyYAML has it (ten
    times faster on template.yaml: 37 ms instead of 423 ms of every `stratus local` start, same data)."""


def _construct_short_tag(loader: CfnYamlLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type, unused-ignore]
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        logical_id, _, attribute = value.partition(".")
        value = [logical_id, attribute]
    return {f"Fn::{tag_suffix}": value}


CfnYamlLoader.add_multi_constructor("!", _construct_short_tag)


def load_template(path: Path) -> dict[str, Any]:
    """Parse a CloudFormation/SAM YAML (or JSON) template into plain Python data."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise TemplateError(f"no template at {path}") from exc
    data = yaml.load(text, Loader=CfnYamlLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(data, dict):
        raise TemplateError(f"{path} is not a CloudFormation template (top level is not a mapping)")
    return data


# --------------------------------------------------------------------------------------------------------------------
# What the local stack needs from the template


@dataclass(frozen=True)
class RouteSpec:
    """One HttpApi event of a function: ``route_key`` is ``"METHOD /path"`` or ``"$default"``."""

    route_key: str
    function_id: str
    payload_format_version: str = "2.0"


@dataclass(frozen=True)
class StreamSourceSpec:
    """A ``DynamoDB`` event of a function: the table whose stream feeds it, and how (an event source mapping)."""

    table: str
    batch_size: int = 100
    max_retries: int = 10
    filters: tuple[dict[str, Any], ...] = ()
    batching_window_s: float = 0.0
    local_window_cap_s: float | None = None
    """The function's ``Metadata: StratusLocal: MaxBatchingWindowInSeconds``: what stratus local caps this mapping's
    window at instead of its default cap (event_sources.MAX_BATCHING_WINDOW_S)."""


@dataclass(frozen=True)
class RuleSourceSpec:
    """An ``EventBridgeRule`` event of a function: the bus and the pattern that invoke it."""

    name: str
    bus: str
    pattern: dict[str, Any]


@dataclass(frozen=True)
class ScheduleSourceSpec:
    """A ``Schedule`` event: the function is invoked every ``every_s`` seconds with a ``Scheduled Event``."""

    name: str
    every_s: float


_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_RATE_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> float | None:
    """Seconds between two runs of ``rate(N unit)``; None for a ``cron(...)`` expression (not run locally)."""
    match = _RATE.match(expression.strip())
    if match is None:
        return None
    return int(match.group(1)) * _RATE_SECONDS[match.group(2).rstrip("s")]


@dataclass
class FunctionSpec:
    """An ``AWS::Serverless::Function`` with what is needed to import and invoke its handler locally."""

    logical_id: str
    function_name: str
    code_dir: Path
    handler: str
    environment: dict[str, str]
    memory_mb: int = 128
    timeout_s: float = 3.0
    layer_dirs: list[Path] = field(default_factory=list)
    routes: list[RouteSpec] = field(default_factory=list)
    stream_sources: list[StreamSourceSpec] = field(default_factory=list)
    rule_sources: list[RuleSourceSpec] = field(default_factory=list)
    queue_sources: list[QueueSourceSpec] = field(default_factory=list)
    schedule_sources: list[ScheduleSourceSpec] = field(default_factory=list)

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{DEFAULT_REGION}:{LOCAL_ACCOUNT_ID}:function:{self.function_name}"


@dataclass(frozen=True)
class TableSpec:
    """An ``AWS::DynamoDB::Table`` as the ``CreateTable`` arguments that rebuild it locally."""

    logical_id: str
    name: str
    create_args: dict[str, Any]
    ttl_attribute: str | None = None


@dataclass(frozen=True)
class BucketSpec:
    """An ``AWS::S3::Bucket``, the queues its notifications go to (queue name, events, key prefix), and its CORS
    rules (CloudFormation's ``CorsRules``)."""

    logical_id: str
    name: str
    queue_notifications: tuple[tuple[str, tuple[str, ...], str], ...] = ()
    cors_rules: tuple[dict[str, Any], ...] = ()
    versioned: bool = False  # VersioningConfiguration Status Enabled (on AWS; stratus local does not version)


@dataclass(frozen=True)
class QueueSpec:
    """An ``AWS::SQS::Queue``: its local name, and the queue its messages move to after ``max_receives``."""

    logical_id: str
    name: str
    dead_letter_queue: str | None = None
    max_receives: int = 0


@dataclass(frozen=True)
class QueueSourceSpec:
    """An ``SQS`` event of a function: the queue it polls."""

    queue: str
    batch_size: int = 10


@dataclass
class ProjectTemplate:
    """Everything ``stratus local`` serves or creates, read from one template."""

    path: Path
    functions: dict[str, FunctionSpec]
    tables: list[TableSpec]
    buckets: list[BucketSpec]
    warnings: list[str]
    event_buses: list[str] = field(default_factory=list)
    kms_aliases: list[str] = field(default_factory=list)
    queues: list[QueueSpec] = field(default_factory=list)
    build_projects: list[dict[str, Any]] = field(default_factory=list)
    """Each ``AWS::CodeBuild::Project`` as CodeBuild's CreateProject request (botocore's names)."""
    image_repositories: list[str] = field(default_factory=list)
    """The name of each ``AWS::ECR::Repository``."""

    @property
    def routes(self) -> list[RouteSpec]:
        return [route for function in self.functions.values() for route in function.routes]


def kebab_case(logical_id: str) -> str:
    """``StratusTable`` -> ``stratus-table``; ``S3ArtifactBucket`` -> ``s3-artifact-bucket``."""
    words = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1-\2", logical_id)
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1-\2", words)
    return re.sub(r"[^a-zA-Z0-9]+", "-", words).strip("-").lower()


# --------------------------------------------------------------------------------------------------------------------
# Intrinsic functions


class Resolver:
    """Resolves intrinsic functions of one template to local values."""

    def __init__(
        self, template: dict[str, Any], region: str = DEFAULT_REGION, parameter_overrides: dict[str, str] | None = None
    ) -> None:
        self.template = template
        self.region = region
        self.resources: dict[str, Any] = template.get("Resources") or {}
        self.parameters: dict[str, Any] = template.get("Parameters") or {}
        self.conditions: dict[str, Any] = template.get("Conditions") or {}
        self.mappings: dict[str, Any] = template.get("Mappings") or {}
        self.parameter_overrides = parameter_overrides or {}
        self._condition_cache: dict[str, bool] = {}

    # -- names --------------------------------------------------------------------------------------------------

    def physical_name(self, logical_id: str) -> str:
        """The local name of a resource, as ``!Ref`` gives it."""
        resource = self.resources[logical_id]
        properties = resource.get("Properties") or {}
        name_property = {
            TABLE_TYPE: "TableName",
            SIMPLE_TABLE_TYPE: "TableName",
            BUCKET_TYPE: "BucketName",
            FUNCTION_TYPE: "FunctionName",
            "AWS::Lambda::Function": "FunctionName",
            "AWS::SQS::Queue": "QueueName",
            "AWS::SNS::Topic": "TopicName",
            "AWS::Events::EventBus": "Name",
            **_RESOLVED_NAMES,
        }.get(resource.get("Type", ""))
        declared = properties.get(name_property) if name_property else None
        if isinstance(declared, str):
            return declared
        if declared is not None and resource.get("Type") in _RESOLVED_NAMES:
            return str(self.resolve(declared))
        if resource.get("Type") in (FUNCTION_TYPE, "AWS::Lambda::Function"):
            # Function names only label logs and the context, so an expression is worth resolving.
            with contextlib.suppress(TemplateError, KeyError, TypeError, ValueError):
                if declared is not None:
                    return str(self.resolve(declared))
            return logical_id
        return kebab_case(logical_id)

    def _ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": LOCAL_ACCOUNT_ID,
            "AWS::StackName": LOCAL_STACK_NAME,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{LOCAL_ACCOUNT_ID}:stack/{LOCAL_STACK_NAME}/local",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": _NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameter_overrides:
            return self.parameter_overrides[name]
        if name in self.parameters:
            parameter = self.parameters[name] or {}
            if "Default" not in parameter:
                raise TemplateError(f"parameter {name} has no Default, so it has no local value")
            default = parameter["Default"]
            if str(parameter.get("Type", "")).startswith("List<") or parameter.get("Type") == "CommaDelimitedList":
                return [item.strip() for item in str(default).split(",")]
            return default if isinstance(default, str) else str(default)
        if name in self.resources:
            return self._resource_ref(name)
        raise TemplateError(f"!Ref {name}: no such parameter or resource")

    def _resource_ref(self, logical_id: str) -> str:
        """A resource's ``!Ref``: its local name, or its ARN for the types whose ``Ref`` is an ARN on AWS (Batch's:
        the project functions compare the queue ARN in job events with the one they were given)."""
        name = self.physical_name(logical_id)
        kind = self.resources[logical_id].get("Type", "")
        if kind in _ARN_REFS:
            return f"arn:aws:batch:{self.region}:{LOCAL_ACCOUNT_ID}:{_ARN_REFS[kind].format(name=name)}"
        return name

    def _get_att(self, logical_id: str, attribute: str) -> str:
        if logical_id not in self.resources:
            raise TemplateError(f"!GetAtt {logical_id}.{attribute}: no such resource")
        kind = self.resources[logical_id].get("Type", "")
        name = self.physical_name(logical_id)
        region, account = self.region, LOCAL_ACCOUNT_ID
        arns = {
            TABLE_TYPE: f"arn:aws:dynamodb:{region}:{account}:table/{name}",
            SIMPLE_TABLE_TYPE: f"arn:aws:dynamodb:{region}:{account}:table/{name}",
            BUCKET_TYPE: f"arn:aws:s3:::{name}",
            FUNCTION_TYPE: f"arn:aws:lambda:{region}:{account}:function:{name}",
            "AWS::SQS::Queue": f"arn:aws:sqs:{region}:{account}:{name}",
            "AWS::Events::EventBus": f"arn:aws:events:{region}:{account}:event-bus/{name}",
            REPOSITORY_TYPE: f"arn:aws:ecr:{region}:{account}:repository/{name}",
            BUILD_PROJECT_TYPE: f"arn:aws:codebuild:{region}:{account}:project/{name}",
            "AWS::Logs::LogGroup": f"arn:aws:logs:{region}:{account}:log-group:{name}:*",
        }
        if attribute == "Arn" and kind in arns:
            return arns[kind]
        if kind == REPOSITORY_TYPE and attribute == "RepositoryUri":
            return f"{account}.dkr.ecr.{region}.amazonaws.com/{name}"
        if kind in (TABLE_TYPE, SIMPLE_TABLE_TYPE) and attribute == "StreamArn":
            return f"{arns[kind]}/stream/local"
        if kind == BUCKET_TYPE and attribute in ("DomainName", "RegionalDomainName"):
            return f"{name}.s3.amazonaws.com" if attribute == "DomainName" else f"{name}.s3.{region}.amazonaws.com"
        if kind == "AWS::SQS::Queue" and attribute == "QueueName":
            return name
        if kind == "AWS::SQS::Queue" and attribute == "QueueUrl":
            return f"https://sqs.{region}.amazonaws.com/{account}/{name}"
        # Anything else has no meaningful local value; a recognisable placeholder beats failing the whole start.
        return f"{logical_id}.{attribute}"

    def condition(self, name: str) -> bool:
        if name not in self._condition_cache:
            if name not in self.conditions:
                raise TemplateError(f"condition {name} is not defined")
            self._condition_cache[name] = bool(self.resolve(self.conditions[name]))
        return self._condition_cache[name]

    # -- evaluation ---------------------------------------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        """Resolve every intrinsic function inside ``value``."""
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self._ref(argument)
            if key == "Condition" and isinstance(argument, str):
                return self.condition(argument)
            if key.startswith("Fn::"):
                return self._function(key[4:], argument)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not _NO_VALUE}

    def _function(self, name: str, argument: Any) -> Any:
        evaluate = getattr(self, f"_fn_{name.lower()}", None)
        if evaluate is None:
            raise TemplateError(f"intrinsic function Fn::{name} is not supported by stratus local")
        return evaluate(argument)

    def _fn_sub(self, argument: Any) -> str:
        return self._sub(argument)

    def _fn_getatt(self, argument: Any) -> str:
        parts = argument if isinstance(argument, list) else str(argument).split(".", 1)
        return self._get_att(self.resolve(parts[0]), self.resolve(parts[1]))

    def _fn_join(self, argument: list[Any]) -> str:
        delimiter, items = argument
        return str(self.resolve(delimiter)).join(str(item) for item in self.resolve(items))

    def _fn_select(self, argument: list[Any]) -> Any:
        index, items = argument
        return self.resolve(items)[int(self.resolve(index))]

    def _fn_split(self, argument: list[Any]) -> list[str]:
        delimiter, text = argument
        return str(self.resolve(text)).split(str(self.resolve(delimiter)))

    def _fn_if(self, argument: list[Any]) -> Any:
        condition, when_true, when_false = argument
        return self.resolve(when_true if self.condition(condition) else when_false)

    def _fn_equals(self, argument: list[Any]) -> bool:
        left, right = (self.resolve(item) for item in argument)
        return str(left) == str(right)

    def _fn_not(self, argument: list[Any]) -> bool:
        return not self.resolve(argument[0])

    def _fn_and(self, argument: list[Any]) -> bool:
        return all(self.resolve(item) for item in argument)

    def _fn_or(self, argument: list[Any]) -> bool:
        return any(self.resolve(item) for item in argument)

    def _fn_findinmap(self, argument: list[Any]) -> Any:
        map_name, top_key, second_key = (self.resolve(item) for item in argument)
        return self.mappings[map_name][top_key][second_key]

    def _fn_base64(self, argument: Any) -> str:
        return base64.b64encode(str(self.resolve(argument)).encode()).decode()

    def _fn_getazs(self, argument: Any) -> list[str]:
        return [f"{self.region}{zone}" for zone in "abc"]

    def _fn_importvalue(self, argument: Any) -> Any:
        raise TemplateError(f"!ImportValue {argument!r} refers to another stack; it has no local value")

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, list):
            text, variables = argument[0], {key: self.resolve(value) for key, value in argument[1].items()}
        else:
            text, variables = argument, {}

        def substitute(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression.startswith("!"):
                return "${" + expression[1:] + "}"
            if expression in variables:
                return str(variables[expression])
            if "." in expression and expression.split(".", 1)[0] in self.resources:
                logical_id, attribute = expression.split(".", 1)
                return self._get_att(logical_id, attribute)
            return str(self._ref(expression))

        return re.sub(r"\$\{([^}]*)\}", substitute, str(text))


# --------------------------------------------------------------------------------------------------------------------
# Reading the parts


def samconfig_parameter_overrides(project_dir: Path, command: str = "local_start_api") -> dict[str, str]:
    """``parameter_overrides`` of ``[default.<command>.parameters]`` in samconfig.toml (``A=x B="y z"``), so the
    local stack runs with the parameters ``sam local start-api`` would use."""
    path = project_dir / "samconfig.toml"
    if not path.is_file():
        return {}
    with path.open("rb") as handle:
        config = tomllib.load(handle)
    raw = config.get("default", {}).get(command, {}).get("parameters", {}).get("parameter_overrides", "")
    items = raw if isinstance(raw, list) else shlex.split(str(raw))
    return dict(item.split("=", 1) for item in items if "=" in item)


def parse_project(
    project_dir: Path, template_name: str = "template.yaml", parameter_overrides: dict[str, str] | None = None
) -> ProjectTemplate:
    """Read ``project_dir/template.yaml`` into what the local stack serves and creates."""
    path = project_dir / template_name
    template = load_template(path)
    resolver = Resolver(template, parameter_overrides=parameter_overrides)
    resources: dict[str, Any] = template.get("Resources") or {}
    globals_function = (template.get("Globals") or {}).get("Function") or {}
    project = ProjectTemplate(path=path, functions={}, tables=[], buckets=[], warnings=[])
    for logical_id, resource in resources.items():
        if _is_active(resource, resolver):
            _read_resource(project, project_dir, logical_id, resource, resolver, globals_function)
    return project


def _read_resource(  # noqa: PLR0913 - the project, and one resource with what resolves it
    project: ProjectTemplate,
    project_dir: Path,
    logical_id: str,
    resource: dict[str, Any],
    resolver: Resolver,
    globals_function: dict[str, Any],
) -> None:
    """Add what one resource is locally to ``project`` (resources with no local part are skipped)."""
    kind = resource.get("Type")
    if kind == FUNCTION_TYPE:
        function = _read_function(
            project_dir,
            logical_id=logical_id,
            resource=resource,
            globals_function=globals_function,
            resolver=resolver,
            warnings=project.warnings,
        )
        if function.routes or function.stream_sources or function.rule_sources or function.queue_sources:
            project.functions[logical_id] = function
    elif kind in (TABLE_TYPE, SIMPLE_TABLE_TYPE):
        read_table = _read_table if kind == TABLE_TYPE else _read_simple_table
        project.tables.append(read_table(logical_id, resource, resolver))
    elif kind == BUCKET_TYPE:
        project.buckets.append(_read_bucket(logical_id, resource, resolver))
    elif kind == QUEUE_TYPE:
        project.queues.append(_read_queue(logical_id, resource, resolver))
    elif kind == EVENT_BUS_TYPE:
        project.event_buses.append(resolver.physical_name(logical_id))
    elif kind == KMS_ALIAS_TYPE:
        project.kms_aliases.append(str(resolver.resolve((resource.get("Properties") or {}).get("AliasName"))))
    elif kind == REPOSITORY_TYPE:
        project.image_repositories.append(resolver.physical_name(logical_id))
    elif kind == BUILD_PROJECT_TYPE:
        project.build_projects.append(_read_build_project(logical_id, resource, resolver))


def _is_active(resource: dict[str, Any], resolver: Resolver) -> bool:
    condition = resource.get("Condition")
    return condition is None or resolver.condition(condition)


def _merged(globals_function: dict[str, Any], properties: dict[str, Any], key: str, default: Any = None) -> Any:
    return properties.get(key, globals_function.get(key, default))


def _read_function(  # noqa: PLR0913 - the template pieces a function is made of
    project_dir: Path,
    *,
    logical_id: str,
    resource: dict[str, Any],
    globals_function: dict[str, Any],
    resolver: Resolver,
    warnings: list[str],
) -> FunctionSpec:
    properties = resource.get("Properties") or {}
    code_uri = resolver.resolve(_merged(globals_function, properties, "CodeUri", "."))
    handler = resolver.resolve(_merged(globals_function, properties, "Handler"))
    if not isinstance(code_uri, str):
        raise TemplateError(f"{logical_id}: CodeUri must be a local folder to run locally, not {code_uri!r}")
    if not isinstance(handler, str) or "." not in handler:
        raise TemplateError(f"{logical_id}: Handler must look like module.function, got {handler!r}")

    environment: dict[str, str] = {}
    for source in (globals_function, properties):
        variables = resolver.resolve(((source.get("Environment") or {}).get("Variables")) or {})
        environment.update({key: _env_text(value) for key, value in variables.items()})

    layer_dirs = []
    for layer in _merged(globals_function, properties, "Layers", []) or []:
        layer_dir = _layer_dir(project_dir, layer, resolver)
        if layer_dir is not None:
            layer_dirs.append(layer_dir)

    function = FunctionSpec(
        logical_id=logical_id,
        function_name=resolver.physical_name(logical_id),
        code_dir=(project_dir / code_uri).resolve(),
        handler=handler,
        environment=environment,
        memory_mb=int(resolver.resolve(_merged(globals_function, properties, "MemorySize", 128))),
        timeout_s=float(resolver.resolve(_merged(globals_function, properties, "Timeout", 3))),
        layer_dirs=layer_dirs,
    )
    for event_name, event in (properties.get("Events") or {}).items():
        _read_event(function, event_name, event, resolver, warnings)
    local = (resource.get("Metadata") or {}).get("StratusLocal") or {}
    if "MaxBatchingWindowInSeconds" in local:
        cap = float(local["MaxBatchingWindowInSeconds"])
        function.stream_sources[:] = [replace(s, local_window_cap_s=cap) for s in function.stream_sources]
    return function


def _read_event(
    function: FunctionSpec, event_name: str, event: dict[str, Any], resolver: Resolver, warnings: list[str]
) -> None:
    """Add what one ``Events`` entry makes of the function locally: a route, a stream mapping or a rule."""
    logical_id = function.logical_id
    kind = event.get("Type")
    if kind == "EventBridgeRule":
        rule = resolver.resolve(event["Properties"])
        bus = str(rule.get("EventBusName") or "default")
        function.rule_sources.append(RuleSourceSpec(f"{logical_id}-{event_name}", bus, rule["Pattern"]))
        return
    if kind == "SQS":
        properties = resolver.resolve(event["Properties"])
        queue = _name_in_arn(properties.get("Queue"), ":")
        function.queue_sources.append(QueueSourceSpec(queue, int(properties.get("BatchSize", 10))))
        return
    if kind == "Schedule":
        properties = resolver.resolve(event["Properties"])
        every = rate_seconds(str(properties.get("Schedule", "")))
        if every is None:
            warnings.append(f"{logical_id}.{event_name}: only rate(...) schedules run locally")
            return
        if properties.get("Enabled", True) not in (False, "false"):
            function.schedule_sources.append(ScheduleSourceSpec(f"{logical_id}-{event_name}", every))
        return
    if kind == "DynamoDB":
        function.stream_sources.append(_stream_source(logical_id, event_name, resolver.resolve(event["Properties"])))
        return
    if kind != "HttpApi":
        return
    event_properties = resolver.resolve(event.get("Properties") or {})
    route = RouteSpec(
        route_key=_route_key(logical_id, event_name, event_properties),
        function_id=logical_id,
        payload_format_version=str(event_properties.get("PayloadFormatVersion", "2.0")),
    )
    if route.payload_format_version != "2.0":
        warnings.append(
            f"{logical_id}.{event_name}: PayloadFormatVersion {route.payload_format_version} is served as 2.0"
        )
    function.routes.append(route)


def _name_in_arn(arn: Any, separator: str) -> str:
    return str(arn).rsplit(separator, 1)[-1]


def _read_bucket(logical_id: str, resource: dict[str, Any], resolver: Resolver) -> BucketSpec:
    properties = resolver.resolve(resource.get("Properties") or {})
    notifications = []
    for entry in (properties.get("NotificationConfiguration") or {}).get("QueueConfigurations") or []:
        rules = ((entry.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []
        prefix = next((r.get("Value", "") for r in rules if str(r.get("Name", "")).lower() == "prefix"), "")
        notifications.append((_name_in_arn(entry["Queue"], ":"), (str(entry["Event"]),), str(prefix)))
    cors_rules = tuple((properties.get("CorsConfiguration") or {}).get("CorsRules") or ())
    versioned = (properties.get("VersioningConfiguration") or {}).get("Status") == "Enabled"
    return BucketSpec(logical_id, resolver.physical_name(logical_id), tuple(notifications), cors_rules, versioned)


def _read_queue(logical_id: str, resource: dict[str, Any], resolver: Resolver) -> QueueSpec:
    properties = resolver.resolve(resource.get("Properties") or {})
    redrive = properties.get("RedrivePolicy") or {}
    dead_letter = redrive.get("deadLetterTargetArn")
    return QueueSpec(
        logical_id,
        resolver.physical_name(logical_id),
        _name_in_arn(dead_letter, ":") if dead_letter else None,
        int(redrive.get("maxReceiveCount", 0)),
    )


def _read_build_project(logical_id: str, resource: dict[str, Any], resolver: Resolver) -> dict[str, Any]:
    """What ``stratus local``'s CodeBuild uses of a project: its source, variables, timeout and log group."""
    properties = resolver.resolve(resource.get("Properties") or {})
    source = properties.get("Source") or {}
    environment = properties.get("Environment") or {}
    logs = (properties.get("LogsConfig") or {}).get("CloudWatchLogs") or {}
    variables = [
        {"name": str(item["Name"]), "value": str(item.get("Value", "")), "type": str(item.get("Type", "PLAINTEXT"))}
        for item in environment.get("EnvironmentVariables") or []
    ]
    request: dict[str, Any] = {
        "name": resolver.physical_name(logical_id),
        "serviceRole": str(properties.get("ServiceRole", "")),
        "artifacts": {"type": str((properties.get("Artifacts") or {}).get("Type", "NO_ARTIFACTS"))},
        "source": {"type": str(source.get("Type", "NO_SOURCE")), "location": str(source.get("Location", ""))},
        "environment": {
            "type": str(environment.get("Type", "LINUX_CONTAINER")),
            "image": str(environment.get("Image", "")),
            "computeType": str(environment.get("ComputeType", "BUILD_GENERAL1_SMALL")),
            "environmentVariables": variables,
        },
        "timeoutInMinutes": int(properties.get("TimeoutInMinutes", 60)),
    }
    if logs.get("GroupName") and str(logs.get("Status", "ENABLED")) == "ENABLED":
        request["logsConfig"] = {"cloudWatchLogs": {"status": "ENABLED", "groupName": str(logs["GroupName"])}}
    return request


def _stream_source(logical_id: str, event_name: str, properties: dict[str, Any]) -> StreamSourceSpec:
    """``Stream: !GetAtt <Table>.StreamArn`` resolves to ``arn:...:table/<name>/stream/local``."""
    found = re.search(r":table/([^/]+)/stream/", str(properties.get("Stream", "")))
    if found is None:
        raise TemplateError(f"{logical_id}.{event_name}: Stream must be !GetAtt <a table of this template>.StreamArn")
    filters = ((properties.get("FilterCriteria") or {}).get("Filters")) or []
    return StreamSourceSpec(
        table=found.group(1),
        batch_size=int(properties.get("BatchSize", 100)),
        max_retries=int(properties.get("MaximumRetryAttempts", 10)),
        filters=tuple(json.loads(f["Pattern"]) for f in filters),
        batching_window_s=float(properties.get("MaximumBatchingWindowInSeconds", 0)),
    )


def _route_key(logical_id: str, event_name: str, properties: dict[str, Any]) -> str:
    path, method = properties.get("Path"), properties.get("Method")
    if path is None and method is None:
        return "$default"
    if path is None:
        raise TemplateError(f"{logical_id}.{event_name}: an HttpApi event with a Method needs a Path")
    method = str(method or "ANY").upper()
    if method == "*":
        method = "ANY"
    return f"{method} {path}"


def _layer_dir(project_dir: Path, layer: Any, resolver: Resolver) -> Path | None:
    """A layer of the template (``!Ref StratusLayer``) becomes its ContentUri folder, which goes on sys.path."""
    logical_id = layer.get("Ref") if isinstance(layer, dict) else None
    resource = resolver.resources.get(logical_id) if isinstance(logical_id, str) else None
    if resource is None or resource.get("Type") not in LAYER_TYPES:
        return None  # a published layer ARN: nothing local to put on sys.path
    properties = resource.get("Properties") or {}
    content = resolver.resolve(properties.get("ContentUri") or properties.get("Content"))
    if not isinstance(content, str):
        return None
    folder = (project_dir / content).resolve()
    # A layer built by hand keeps its packages in python/, which Lambda puts on sys.path; `sam build` makes that
    # folder from a source tree, whose root is then what the functions import from.
    return folder / "python" if (folder / "python").is_dir() else folder


def _env_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        raise TemplateError(f"environment variable values must be scalars, got {value!r}")
    return str(value)


def _read_table(logical_id: str, resource: dict[str, Any], resolver: Resolver) -> TableSpec:
    properties = resolver.resolve(resource.get("Properties") or {})
    name = resolver.physical_name(logical_id)
    provisioned = properties.get("BillingMode", "PROVISIONED") == "PROVISIONED"
    default_throughput = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}

    def index(definition: dict[str, Any], is_global: bool) -> dict[str, Any]:
        result: dict[str, Any] = {
            key: definition[key] for key in ("IndexName", "KeySchema", "Projection") if key in definition
        }
        if is_global and provisioned:
            result["ProvisionedThroughput"] = _throughput(definition.get("ProvisionedThroughput"), default_throughput)
        return result

    args: dict[str, Any] = {
        "TableName": name,
        "KeySchema": properties["KeySchema"],
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "BillingMode": "PROVISIONED" if provisioned else "PAY_PER_REQUEST",
    }
    if provisioned:
        args["ProvisionedThroughput"] = _throughput(properties.get("ProvisionedThroughput"), default_throughput)
    if properties.get("GlobalSecondaryIndexes"):
        args["GlobalSecondaryIndexes"] = [index(item, True) for item in properties["GlobalSecondaryIndexes"]]
    if properties.get("LocalSecondaryIndexes"):
        args["LocalSecondaryIndexes"] = [index(item, False) for item in properties["LocalSecondaryIndexes"]]
    stream = properties.get("StreamSpecification") or {}
    if stream.get("StreamViewType"):
        args["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    ttl = properties.get("TimeToLiveSpecification") or {}
    ttl_attribute = ttl.get("AttributeName") if str(ttl.get("Enabled", "false")).lower() == "true" else None
    return TableSpec(logical_id, name, args, ttl_attribute)


def _throughput(value: dict[str, Any] | None, default: dict[str, int]) -> dict[str, int]:
    if not value:
        return dict(default)
    return {key: int(value[key]) for key in ("ReadCapacityUnits", "WriteCapacityUnits")}


def _read_simple_table(logical_id: str, resource: dict[str, Any], resolver: Resolver) -> TableSpec:
    properties = resolver.resolve(resource.get("Properties") or {})
    key = properties.get("PrimaryKey") or {"Name": "id", "Type": "String"}
    attribute_type = {"String": "S", "Number": "N", "Binary": "B"}[key.get("Type", "String")]
    name = resolver.physical_name(logical_id)
    args = {
        "TableName": name,
        "KeySchema": [{"AttributeName": key["Name"], "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": key["Name"], "AttributeType": attribute_type}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    return TableSpec(logical_id, name, args)
