"""Search, assessments, tags, deletion and run links through the TracesFunction's resolver (in-memory stores):
each route under the prefixes the reference serves it at, and the reference's answers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stratus.api.app import build_traces_api
from stratus.domain.services.assessments import TraceWriteService
from stratus.domain.services.datasets import EvaluationDatasetService
from stratus.domain.services.experiments import ExperimentService
from stratus.domain.services.trace_search import TraceSearchService
from stratus.domain.services.traces import TraceService
from stratus.domain.trace_records import TraceRecord
from stratus.store.memory import InMemoryDatasetStore, InMemorySpanStore, InMemoryTraceStore, InMemoryTrackingStore

TRACE = "tr-8a045183c7674eea066d59898268ee2a"


def _event(method: str, path: str, body: Any = None, query: str = "") -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": method, "path": path}, "stage": "$default"},
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


class Api:
    def __init__(self) -> None:
        self.traces, spans = InMemoryTraceStore(), InMemorySpanStore()
        self.resolver = build_traces_api(
            TraceService(self.traces, spans),
            TraceSearchService(self.traces, spans),
            TraceWriteService(self.traces, spans),
            EvaluationDatasetService(
                InMemoryDatasetStore(), ExperimentService(InMemoryTrackingStore(), "mlflow-artifacts:")
            ),
        )

    def call(self, method: str, path: str, body: Any = None, query: str = "") -> tuple[int, dict[str, Any]]:
        answer = self.resolver.resolve(_event(method, path, body, query), None)
        return answer["statusCode"], json.loads(answer["body"] or "{}")


@pytest.fixture
def api() -> Api:
    api = Api()
    for n, (trace_id, name) in enumerate(((TRACE, "agent"), ("tr-2", "boom"))):
        record = TraceRecord(trace_id=trace_id, experiment_id="1", request_time=1000 + n, state="OK",
                             tags={"mlflow.traceName": name})  # fmt: skip
        assert api.traces.put(record, previous=None)
    return api


LOCATIONS = [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": "1"}}]


@pytest.mark.parametrize("prefix", ["/api/3.0/mlflow", "/ajax-api/3.0/mlflow"])
def test_search_answers_trace_infos_with_a_token_when_full(api: Api, prefix: str) -> None:
    status, body = api.call("POST", f"{prefix}/traces/search", {"locations": LOCATIONS, "max_results": 1})

    assert status == 200
    assert [t["trace_id"] for t in body["traces"]] == ["tr-2"]
    assert body["traces"][0]["trace_location"] == {
        "type": "MLFLOW_EXPERIMENT",
        "mlflow_experiment": {"experiment_id": "1"},
    }
    assert "next_page_token" in body


def test_search_filters_and_orders(api: Api) -> None:
    query = {"locations": LOCATIONS, "filter": "trace.name LIKE 'a%'", "order_by": ["name"]}
    status, body = api.call("POST", "/api/3.0/mlflow/traces/search", query)

    assert (status, [t["trace_id"] for t in body["traces"]]) == (200, [TRACE])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Missing value for required parameter 'locations'"),
        ({"locations": LOCATIONS, "max_results": 0}, "It must be a positive integer"),
        ({"locations": LOCATIONS, "filter": "trace.status = 'OK' OR trace.status = 'x'"}, "Invalid clause(s)"),
    ],
)
def test_a_bad_search_is_a_400(api: Api, body: dict, message: str) -> None:
    status, answer = api.call("POST", "/api/3.0/mlflow/traces/search", body)

    assert status == 400 and message in answer["message"]


def test_the_legacy_listing_answers_v2_infos(api: Api) -> None:
    status, body = api.call("GET", "/api/2.0/mlflow/traces", query="experiment_ids=1&max_results=1")

    assert status == 200
    assert body["traces"][0]["request_id"] == "tr-2" and body["traces"][0]["timestamp_ms"] == 1001
    assert body["next_page_token"]


def test_an_assessment_lifecycle(api: Api) -> None:
    base = f"/api/3.0/mlflow/traces/{TRACE}/assessments"
    status, created = api.call("POST", base, {"assessment": {"assessment_name": "m", "feedback": {"value": "yes"}}})
    aid = created["assessment"]["assessment_id"]

    assert status == 200 and aid.startswith("a-") and created["assessment"]["valid"] is True
    assert api.call("GET", f"{base}/{aid}", query=f"trace_id={TRACE}&assessment_id={aid}") == (200, created)
    status, updated = api.call("PATCH", f"{base}/{aid}", {"assessment": {"feedback": {"value": "no"}},
                                                          "update_mask": "feedback"})  # fmt: skip
    assert (status, updated["assessment"]["feedback"]) == (200, {"value": "no"})
    status, unchanged = api.call("PATCH", f"{base}/{aid}", {"assessment": {"rationale": "r"},
                                                            "update_mask": {"paths": ["rationale"]}})  # fmt: skip
    assert status == 200 and "rationale" not in unchanged["assessment"]
    _, info = api.call("GET", f"/api/3.0/mlflow/traces/{TRACE}")
    assert info["trace"]["trace_info"]["assessments"] == [unchanged["assessment"]]
    assert api.call("DELETE", f"{base}/{aid}", {"trace_id": TRACE, "assessment_id": aid}) == (200, {})
    assert api.call("DELETE", f"{base}/{aid}") == (200, {})


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("POST", f"/api/3.0/mlflow/traces/{TRACE}/assessments", {}, 400,
         "Missing value for required parameter 'assessment'."),
        ("POST", "/api/3.0/mlflow/traces/tr-0/assessments", {"assessment": {"feedback": {"value": 1}}}, 404,
         "Trace with ID 'tr-0' not found."),
        ("PATCH", f"/api/3.0/mlflow/traces/{TRACE}/assessments/a-1", {"assessment": {}}, 400,
         "Missing value for required parameter 'update_mask'."),
        ("GET", "/api/3.0/mlflow/traces/tr-0/assessments/a-x", None, 404, "Trace with request_id 'tr-0' not found"),
        ("PATCH", f"/api/2.0/mlflow/traces/{TRACE}/tags", {"value": "v"}, 400,
         "Missing value for required parameter 'key'."),
        ("PATCH", f"/api/2.0/mlflow/traces/{TRACE}/tags", {"key": "k", "value": 5}, 400,
         "Invalid value 5 for parameter 'value' supplied"),
        ("POST", "/api/2.0/mlflow/traces/delete-traces", {"max_timestamp_millis": 1}, 400,
         "Missing value for required parameter 'experiment_id'."),
        ("POST", "/api/2.0/mlflow/traces/link-to-run", {"trace_ids": [TRACE]}, 400,
         "Missing value for required parameter 'run_id'."),
    ],
)  # fmt: skip
def test_bad_writes_are_answered_as_the_reference(api: Api, method, path, body, status, message) -> None:
    got_status, answer = api.call(method, path, body)

    assert got_status == status and message in answer["message"]


@pytest.mark.parametrize("prefix", ["/api/2.0/mlflow", "/ajax-api/2.0/mlflow", "/ajax-api/3.0/mlflow"])
def test_tags_are_set_and_deleted_under_both_versions(api: Api, prefix: str) -> None:
    assert api.call("PATCH", f"{prefix}/traces/{TRACE}/tags", {"key": "k", "value": "v"}) == (200, {})
    assert api.traces.get(TRACE).tags["k"] == "v"
    assert api.call("DELETE", f"{prefix}/traces/{TRACE}/tags", {"key": "k"}) == (200, {})
    status, answer = api.call("DELETE", f"{prefix}/traces/{TRACE}/tags", {"key": "k"})
    assert (status, answer["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")


def test_the_ui_v3_tag_delete_with_the_key_in_the_query_is_accepted(api: Api) -> None:
    api.call("PATCH", f"/ajax-api/3.0/mlflow/traces/{TRACE}/tags", {"key": "k", "value": "v"})

    assert api.call("DELETE", f"/ajax-api/3.0/mlflow/traces/{TRACE}/tags", query="key=k") == (200, {})
    assert "k" not in api.traces.get(TRACE).tags


@pytest.mark.parametrize("path", ["/api/2.0/mlflow/traces/delete-traces", "/ajax-api/3.0/mlflow/traces/delete-traces"])
def test_delete_traces_counts_what_it_deleted(api: Api, path: str) -> None:
    assert api.call("POST", path, {"experiment_id": "1", "request_ids": [TRACE, "tr-x"]}) == (
        200, {"traces_deleted": 1})  # fmt: skip
    assert api.call("POST", path, {"experiment_id": "1", "max_timestamp_millis": 5000}) == (200, {"traces_deleted": 1})
    assert api.call("POST", path, {"experiment_id": "1", "max_timestamp_millis": 5000}) == (200, {"traces_deleted": 0})


def test_link_to_run_makes_run_id_search_find_the_trace(api: Api) -> None:
    assert api.call("POST", "/api/2.0/mlflow/traces/link-to-run", {"trace_ids": [TRACE], "run_id": "r1"}) == (200, {})

    _, body = api.call("POST", "/api/3.0/mlflow/traces/search",
                       {"locations": LOCATIONS, "filter": "attribute.run_id = 'r1'"})  # fmt: skip

    assert [t["trace_id"] for t in body["traces"]] == [TRACE]
