"""Business metrics (docs/operations.md): what each service call records, as the CloudWatch EMF line the handler's
``log_metrics`` prints when the invocation ends; and that an invocation which recorded nothing prints nothing."""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from stratus.domain.entities import Metric, ModelVersion, RegisteredModel, StoredObject
from stratus.domain.projects import CANCELLED, FAILED, RUN_STATUS, SUCCEEDED
from stratus.domain.services import ArtifactService, ExperimentService, LoggedModelService, RegistryService, RunService
from stratus.domain.services.webhooks import DeliveryFailed, DestinationPolicy, SendResult, WebhookService
from stratus.events import deployments, projects, schema
from stratus.events.metrics import count_published
from stratus.observability import BYTES, NAMESPACE, MetricName, count, get_metrics
from stratus.store.memory import InMemoryLoggedModelStore, InMemoryTrackingStore, InMemoryWebhookStore

DOCS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
Published = Callable[[], dict[str, list[float]]]


@pytest.fixture
def published(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Published]:
    """What the metrics recorded since the test started, as the EMF line a handler would print (name -> values)."""
    # a stratus local started earlier in this process switches metrics off in its environment (stack.py)
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    metrics = get_metrics()
    metrics.clear_metrics()  # what earlier tests recorded outside a handler
    capsys.readouterr()

    def flush() -> dict[str, list[float]]:
        metrics.flush_metrics()
        lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
        if not lines:
            return {}
        [blob] = [json.loads(line) for line in lines]
        names = [m["Name"] for m in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
        return {name: blob[name] for name in names}

    yield flush
    metrics.clear_metrics()


@pytest.fixture
def services() -> tuple[ExperimentService, RunService]:
    store = InMemoryTrackingStore()
    clock = iter(range(1_000, 10_000_000)).__next__
    experiments = ExperimentService(store, "mlflow-artifacts:", clock=clock)
    return experiments, RunService(store, experiments, clock=clock)


# ---------------------------------------------------------------- tracking


def test_a_created_run_is_counted(services: tuple[ExperimentService, RunService], published: Published) -> None:
    _, runs = services
    runs.create("0", "ana", 5, {}, None)
    runs.create("0", "ana", 6, {}, None)
    assert published() == {"RunsCreated": [1.0, 1.0]}


def test_log_batch_counts_its_metric_points_and_params(
    services: tuple[ExperimentService, RunService], published: Published
) -> None:
    _, runs = services
    run_id = runs.create("0", "ana", 5, {}, None).run_id
    published()
    runs.log_batch(run_id, [Metric("loss", 0.5, 1, 0), Metric("loss", 0.4, 2, 1), Metric("acc", 0.9, 2, 1)],
                   {"lr": "0.1", "depth": "3"}, [("team", "a")])  # fmt: skip
    runs.log_metric(run_id, Metric("loss", 0.3, 3, 2))
    runs.log_param(run_id, "seed", "7")
    runs.set_tag(run_id, "stage", "dev")  # a tag alone counts for neither
    assert published() == {"MetricPointsLogged": [3.0, 1.0], "ParamsLogged": [2.0, 1.0]}


def test_a_rejected_batch_counts_nothing(services: tuple[ExperimentService, RunService], published: Published) -> None:
    _, runs = services
    run_id = runs.create("0", "ana", 5, {}, None).run_id
    runs.log_param(run_id, "lr", "0.1")
    published()
    with pytest.raises(Exception, match="Changing param values is not allowed"):
        runs.log_batch(run_id, [Metric("loss", 0.5, 1, 0)], {"lr": "0.2"}, [])
    assert published() == {}


def test_a_run_search_counts_once_with_the_runs_it_read(
    services: tuple[ExperimentService, RunService], published: Published
) -> None:
    experiments, runs = services
    other = experiments.create("other", None, {})
    for start in (1, 2, 3):
        runs.create("0", "ana", start, {}, None)
    runs.create(other, "ana", 4, {}, None)
    published()
    page, _ = runs.search(["0", other], "attributes.start_time > 1", "ACTIVE_ONLY", 10, [], None)
    assert len(page) == 3
    assert published() == {"RunSearchItemsRead": [4.0], "RunSearches": [1.0]}


def test_an_experiment_search_counts_once_with_the_experiments_it_read(
    services: tuple[ExperimentService, RunService], published: Published
) -> None:
    experiments, _ = services
    for name in ("a", "b"):
        experiments.create(name, None, {})
    published()
    found, _ = experiments.search("ACTIVE_ONLY", 10, "name = 'a'", [], None)
    assert [e.name for e in found] == ["a"]
    assert published() == {"ExperimentSearches": [1.0], "ExperimentSearchItemsRead": [3.0]}  # Default, a, b


def test_a_logged_model_search_is_a_model_search(
    services: tuple[ExperimentService, RunService], published: Published
) -> None:
    experiments, _ = services
    models = LoggedModelService(InMemoryLoggedModelStore(), experiments)
    for name in ("m1", "m2"):
        models.create("0", name, None, None, {}, {})
    published()
    found, _ = models.search(["0"], "name = 'm1'", None, None, None, None)
    assert [m.name for m in found] == ["m1"]
    assert published() == {"ModelSearches": [1.0], "ModelSearchItemsRead": [2.0]}


class ListedRegistry:
    """The reads a registry search makes, from a fixed list of models and versions."""

    def __init__(self, models: list[RegisteredModel], versions: list[ModelVersion]) -> None:
        self.models, self.versions = models, versions

    def list_models(self) -> list[RegisteredModel]:
        return list(self.models)

    def list_versions(self, name: str) -> list[ModelVersion]:
        return [v for v in self.versions if v.name == name]

    def all_versions(self) -> list[ModelVersion]:
        return list(self.versions)


def test_registry_searches_count_the_models_and_versions_they_read(
    services: tuple[ExperimentService, RunService], published: Published
) -> None:
    experiments, _ = services
    store = ListedRegistry(
        [RegisteredModel("churn", 1, 1), RegisteredModel("fraud", 1, 1)],
        [ModelVersion("churn", 1, 1, 1, "s3://b/1"), ModelVersion("churn", 2, 1, 1, "s3://b/2")],
    )
    registry = RegistryService(
        store,  # type: ignore[arg-type]
        LoggedModelService(InMemoryLoggedModelStore(), experiments),
        InMemoryTrackingStore(),
        "bucket",
    )
    models, _ = registry.search_models("name = 'churn'", 10, [], None)
    versions, _ = registry.search_versions(None, 10, [], None)
    assert ([m.name for m in models], len(versions)) == (["churn"], 2)
    # models: 2 listed + the page's model's 2 versions; versions: every version of every model
    assert published() == {"ModelSearches": [1.0, 1.0], "ModelSearchItemsRead": [4.0, 2.0]}


# ---------------------------------------------------------------- artifacts


class Objects:
    """The part of S3ArtifactStore the proxied upload and download use."""

    bucket = "bucket"

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put(self, key: str, body: bytes, content_type: str | None) -> None:
        self.objects[key] = body

    def fetch(self, key: str, max_bytes: int) -> StoredObject | None:
        body = self.objects.get(key)
        return None if body is None else StoredObject(len(body), body if len(body) <= max_bytes else None)

    def presigned_get(self, key: str, filename: str) -> str:
        return f"https://bucket.s3/{key}?signed"


def test_proxied_artifact_bytes_are_counted_both_ways(published: Published) -> None:
    store = InMemoryTrackingStore()
    run = RunService(store, ExperimentService(store, "mlflow-artifacts:")).create("0", "ana", 5, {}, None)
    artifacts = ArtifactService(Objects(), store, InMemoryLoggedModelStore())  # type: ignore[arg-type]
    path = f"0/{run.run_id}/artifacts/model.pkl"
    published()
    artifacts.upload(path, b"x" * 1000, None)
    assert artifacts.download(path).body == b"x" * 1000
    assert published() == {"ArtifactBytesUploaded": [1000.0], "ArtifactBytesDownloaded": [1000.0]}


# ---------------------------------------------------------------- webhooks


def test_webhook_deliveries_and_failures_are_counted(monkeypatch: pytest.MonkeyPatch, published: Published) -> None:
    import stratus.domain.webhooks as rules

    original = rules.check_destination
    public = [(2, 1, 6, "", ("93.184.216.34", 443))]
    monkeypatch.setattr(
        rules, "check_destination", lambda url, **kw: original(url, **kw, resolve=lambda *_a, **_k: public)
    )
    statuses = [200, 500]
    hooks = WebhookService(
        InMemoryWebhookStore(),
        lambda url, body, headers: SendResult(statuses.pop(0), ""),
        DestinationPolicy(("https",), False),
        clock=lambda: 1_795_000_000_000,
    )
    for name in ("a", "b"):
        hooks.create(name, f"https://{name}.example/hook", [{"entity": "MODEL_VERSION", "action": "CREATED"}],
                     None, None, None)  # fmt: skip
    event = {"event_id": "e1", "model_name": "churn", "version": "1", "time": "2026-11-27T00:00:00.000Z",
             "after": {"version": "1", "source": "s", "tags": {}}}  # fmt: skip
    with pytest.raises(DeliveryFailed):
        hooks.deliver("e1", "Model Version Created", event)
    assert published() == {"WebhookDeliveries": [1.0, 1.0], "WebhookDeliveryFailures": [1.0]}


# ---------------------------------------------------------------- published events


def _registry_event(kind: str) -> schema.RegistryEvent:
    detail = schema.RegistryEventDetail(event_id="r:0", model_name="churn", version="1", time="t")
    return schema.RegistryEvent(detail_type=kind, detail=detail)


def _project_event(kind: str, state: str) -> projects.ProjectRunEvent:
    detail = projects.ProjectRunEventDetail(
        event_id="r:0", run_id="r", experiment_id="0", state=state, run_status=RUN_STATUS[state], time="t"
    )
    return projects.ProjectRunEvent(detail_type=kind, detail=detail)


def _rollout_event(kind: str) -> deployments.DeploymentEvent:
    detail = deployments.DeploymentEventDetail(
        event_id="r:0", deployment="wine-api", rollout_id="r-1", reason="alias_moved", state="READY", time="t"
    )
    return deployments.DeploymentEvent(detail_type=kind, detail=detail)


def test_published_events_count_transitions_aliases_and_outcomes(published: Published) -> None:
    count_published(
        [
            _registry_event(schema.VERSION_STAGE),
            _registry_event(schema.ALIAS_SET),
            _registry_event(schema.ALIAS_MOVED),
            _registry_event(schema.ALIAS_DELETED),
            _registry_event(schema.VERSION_CREATED),  # counts for nothing
            _project_event(projects.STARTED, "RUNNING"),  # not an end
            _project_event(projects.ENDED, SUCCEEDED),
            _project_event(projects.ENDED, FAILED),
            _project_event(projects.ENDED, FAILED),
            _project_event(projects.ENDED, CANCELLED),
            _rollout_event(deployments.ROLLOUT_STARTED),  # not an end
            _rollout_event(deployments.ROLLOUT_SUCCEEDED),
            _rollout_event(deployments.ROLLOUT_FAILED),
            _rollout_event(deployments.ROLLED_BACK_TYPE),
        ]
    )
    assert published() == {
        "StageTransitions": [1.0],
        "AliasChanges": [1.0, 1.0, 1.0],
        "ProjectRunsSucceeded": [1.0],
        "ProjectRunsFailed": [1.0, 1.0],
        "ProjectRunsCancelled": [1.0],
        "RolloutsSucceeded": [1.0],
        "RolloutsFailed": [1.0],
        "RolloutsRolledBack": [1.0],
    }


# ---------------------------------------------------------------- the handler's decorator


def _handler(record: Callable[[], Any]) -> Callable[[dict[str, Any], Any], Any]:
    @get_metrics().log_metrics
    def handler(event: dict[str, Any], context: Any) -> Any:
        return record()

    return handler


def test_a_handler_publishes_one_emf_line_in_the_stratus_namespace_by_function(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given the environment of a deployed function that does not name a namespace, when its handler records two
    metrics, then one EMF line carries both in ``Stratus`` with the function's name (which names its stack) as the
    only dimension, ``service``."""
    monkeypatch.delenv("POWERTOOLS_METRICS_NAMESPACE", raising=False)
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "stratus-webhook-delivery")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "stratus-dev-webhook-delivery")
    metrics = get_metrics.__wrapped__()  # built from this environment, not the cached one

    @metrics.log_metrics
    def handler(event: dict[str, Any], context: Any) -> None:
        metrics.add_metric(name="WebhookDeliveries", unit="Count", value=1)
        metrics.add_metric(name="ArtifactBytesUploaded", unit=BYTES, value=10)

    handler({}, None)
    [line] = capsys.readouterr().out.splitlines()
    blob = json.loads(line)
    [directive] = blob["_aws"]["CloudWatchMetrics"]
    assert (directive["Namespace"], directive["Dimensions"]) == (NAMESPACE, [["service"]])
    assert blob["service"] == "stratus-dev-webhook-delivery"
    assert (blob["WebhookDeliveries"], blob["ArtifactBytesUploaded"]) == ([1.0], [10.0])


def test_the_namespace_comes_from_the_environment_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "StratusStaging")
    assert get_metrics.__wrapped__().namespace == "StratusStaging"


def test_outside_lambda_the_service_is_powertools_service_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "stratus-tracking")
    assert get_metrics.__wrapped__().service == "stratus-tracking"


def test_a_handler_that_records_nothing_prints_and_warns_nothing(
    capsys: pytest.CaptureFixture[str], published: Published
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Powertools' "No application metrics to publish" would raise here
        assert _handler(lambda: "read")({}, None) == "read"
    assert capsys.readouterr().out == ""


def test_a_failing_handler_still_publishes_what_it_recorded(
    capsys: pytest.CaptureFixture[str], published: Published
) -> None:
    def fail() -> None:
        count(MetricName.WEBHOOK_DELIVERY_FAILURES)
        raise DeliveryFailed("1 webhook delivery failed")

    with pytest.raises(DeliveryFailed):
        _handler(fail)({}, None)
    assert '"WebhookDeliveryFailures":[1.0]' in capsys.readouterr().out


def test_switched_off_metrics_print_nothing_and_are_not_kept(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], published: Published
) -> None:
    """As under ``stratus local``: Powertools would keep them and print them once a metric has 100 values."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    handler = _handler(lambda: count(MetricName.RUNS_CREATED))
    for _ in range(150):
        handler({}, None)
    assert capsys.readouterr().out == ""
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED")
    assert published() == {}


# ---------------------------------------------------------------- docs


def test_every_metric_is_documented() -> None:
    documented = set(re.findall(r"^\| `(\w+)` \|", DOCS.read_text(), flags=re.MULTILINE))
    assert {str(name) for name in MetricName} <= documented
