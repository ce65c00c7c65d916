"""Differential test of MLflow 3's issues API (``/api/3.0/mlflow/issues*``): the same requests, over raw HTTP, to the
reference ``mlflow server`` and to ``stratus local``, and the answers compared.

Each side gets its own new experiment (and one run, as the reference's ``source_run_id`` must name one); the scenario
creates, reads, updates and searches issues in it and checks the error cases. What is compared per request: the HTTP
status and the JSON body, with issue ids replaced by placeholders in order of appearance (``<issue-0>`` ...), the
experiment and run ids by ``<exp>`` and ``<run>``, timestamps by whether they are set, ``sqlstate`` and
``error_class`` dropped, and set literals in messages sorted (the reference prints them in hash-seed order). Known
differences (the reference's 500 on an unknown status or severity) are checked on their own below.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from differential import assert_same_answers

TIMEOUT = 30
UNKNOWN_EXPERIMENT = "987654321"
TIMESTAMPS = ("created_timestamp", "last_updated_timestamp")
NOT_COMPARED = ("sqlstate", "error_class")  # the reference's newer error fields, which Stratus does not send


@dataclass
class Side:
    base: str
    experiment_id: str = ""
    run_id: str = ""
    issue_ids: list[str] = field(default_factory=list)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> requests.Response:
        return requests.request(method, f"{self.base}{path}", json=body, timeout=TIMEOUT)

    def normalized(self, response: requests.Response) -> tuple[int, Any]:
        try:
            body = response.json()
        except ValueError:
            return response.status_code, response.text[:40]
        return response.status_code, self._scrub(body)

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, dict):
            kept = {k: v for k, v in value.items() if k not in NOT_COMPARED}
            return {k: (bool(v) if k in TIMESTAMPS else self._scrub(v)) for k, v in kept.items()}
        if isinstance(value, list):
            return [self._scrub(v) for v in value]
        if isinstance(value, str):
            return self._placeholders(value)
        return value

    def _placeholders(self, text: str) -> str:
        for issue_id in re.findall(r"iss-[0-9a-f]{32}", text):
            if issue_id not in self.issue_ids:
                self.issue_ids.append(issue_id)
            text = text.replace(issue_id, f"<issue-{self.issue_ids.index(issue_id)}>")
        if text == self.experiment_id:
            return "<exp>"
        if text == self.run_id:
            return "<run>"
        return re.sub(r"\{('[^{}]*')\}", lambda m: "{" + ", ".join(sorted(m.group(1).split(", "))) + "}", text)


def _sides(reference_uri: str, tracking_uri: str) -> tuple[Side, Side]:
    sides = (Side(reference_uri), Side(tracking_uri))
    name = f"issues-{uuid.uuid4().hex[:8]}"
    for side in sides:
        created = side.call("POST", "/api/2.0/mlflow/experiments/create", {"name": name})
        assert created.status_code == 200, created.text
        side.experiment_id = created.json()["experiment_id"]
        # the reference's source_run_id is a foreign key: it must name a run
        run = side.call("POST", "/api/2.0/mlflow/runs/create", {"experiment_id": side.experiment_id})
        side.run_id = run.json()["run"]["info"]["run_id"]
    return sides


def _scenario(side: Side) -> list[tuple[str, tuple[int, Any]]]:  # noqa: PLR0915 - one request per line
    exp = side.experiment_id
    out: list[tuple[str, tuple[int, Any]]] = []

    def send(label: str, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = side.call(method, path, body)
        out.append((label, side.normalized(response)))
        time.sleep(0.01)  # distinct creation times on both sides, so the order is the same
        return response.json() if response.headers.get("content-type", "").startswith("application/json") else {}

    issues = "/api/3.0/mlflow/issues"
    plain = send("create minimal", "POST", issues, {"experiment_id": exp, "name": "n1", "description": "d1"})
    full = send(
        "create with every field",
        "POST",
        issues,
        {
            "experiment_id": exp,
            "name": "n2",
            "description": "d2",
            "status": "resolved",
            "severity": "high",
            "root_causes": ["a", "b"],
            "categories": ["c"],
            "source_run_id": side.run_id,
            "created_by": "me",
        },
    )
    send(
        "create via ajax",
        "POST",
        "/ajax-api/3.0/mlflow/issues",
        {"experiment_id": exp, "name": "n3", "description": "d3", "severity": "low"},
    )
    send("create without name", "POST", issues, {"experiment_id": exp, "description": "d"})
    send("create with empty name", "POST", issues, {"experiment_id": exp, "name": "", "description": "d"})
    send("create without description", "POST", issues, {"experiment_id": exp, "name": "x"})
    send("create without experiment", "POST", issues, {"name": "x", "description": "d"})
    send("create with name of wrong type", "POST", issues, {"experiment_id": exp, "name": 5, "description": "d"})
    send(
        "create in unknown experiment",
        "POST",
        issues,
        {"experiment_id": UNKNOWN_EXPERIMENT, "name": "x", "description": "d"},
    )
    send("create in non-integer experiment", "POST", issues, {"experiment_id": "abc", "name": "x", "description": "d"})

    first, second = plain["issue"]["issue_id"], full["issue"]["issue_id"]
    send("get", "GET", f"{issues}/{first}")
    send("get via ajax", "GET", f"/ajax-api/3.0/mlflow/issues/{second}")
    send("get unknown", "GET", f"{issues}/iss-{'0' * 32}")
    send(
        "update status and name", "PATCH", f"{issues}/{first}", {"issue_id": first, "status": "rejected", "name": "n1b"}
    )
    send("update severity", "PATCH", f"{issues}/{first}", {"issue_id": first, "severity": "medium"})
    send(
        "update with empty name keeps it",
        "PATCH",
        f"{issues}/{first}",
        {"issue_id": first, "name": "", "description": ""},
    )
    send("update without id in body", "PATCH", f"{issues}/{first}", {"status": "resolved"})
    send("update unknown", "PATCH", f"{issues}/iss-{'0' * 32}", {"issue_id": f"iss-{'0' * 32}", "status": "resolved"})

    search = f"{issues}/search"
    send("search experiment", "POST", search, {"experiment_id": exp})
    page = send("search page 1", "POST", search, {"experiment_id": exp, "max_results": 2})
    send(
        "search page 2",
        "POST",
        search,
        {"experiment_id": exp, "max_results": 2, "page_token": page.get("next_page_token")},
    )
    send("search status =", "POST", search, {"experiment_id": exp, "filter_string": "status = 'pending'"})
    send("search status !=", "POST", search, {"experiment_id": exp, "filter_string": 'status != "pending"'})
    send(
        "search AND",
        "POST",
        search,
        {"experiment_id": exp, "filter_string": f"status = 'resolved' AND source_run_id = '{side.run_id}'"},
    )
    send("search source_run_id !=", "POST", search, {"experiment_id": exp, "filter_string": "source_run_id != 'x'"})
    send("search unquoted value", "POST", search, {"experiment_id": exp, "filter_string": "status = pending"})
    send("search trace count", "POST", search, {"experiment_id": exp, "include_trace_count": True, "max_results": 1})
    send("search unknown field", "POST", search, {"experiment_id": exp, "filter_string": "name = 'x'"})
    send("search bad comparator", "POST", search, {"experiment_id": exp, "filter_string": "status LIKE 'x'"})
    send("search OR", "POST", search, {"experiment_id": exp, "filter_string": "status = 'a' OR status = 'b'"})
    send("search bare word", "POST", search, {"experiment_id": exp, "filter_string": "status"})
    send("search max_results 0", "POST", search, {"experiment_id": exp, "max_results": 0})
    send("search max_results too big", "POST", search, {"experiment_id": exp, "max_results": 50001})
    send("search bad token", "POST", search, {"experiment_id": exp, "page_token": "garbage!"})
    send("search token not json", "POST", search, {"experiment_id": exp, "page_token": "Zm9v"})
    send("search unknown experiment", "POST", search, {"experiment_id": UNKNOWN_EXPERIMENT})
    send("search non-integer experiment", "POST", search, {"experiment_id": "abc"})
    return out


def _error_code(response: requests.Response) -> str | None:
    try:
        return response.json().get("error_code")
    except ValueError:
        return None


def test_issues_api_answers_as_the_reference(reference_uri: str, tracking_uri: str) -> None:
    reference, stratus = _sides(reference_uri, tracking_uri)
    assert_same_answers(_scenario(reference), _scenario(stratus))


@pytest.mark.parametrize("field_name", ["status", "severity"])
def test_unknown_enum_value_is_a_400_where_the_reference_fails_with_500(
    reference_uri: str, tracking_uri: str, field_name: str
) -> None:
    """Known difference: the reference's ``IssueStatus("bogus")`` raises ValueError (an HTML 500, which the client
    retries); Stratus answers INVALID_PARAMETER_VALUE, on create and on update."""
    reference, stratus = _sides(reference_uri, tracking_uri)
    for side, status, code in ((reference, 500, None), (stratus, 400, "INVALID_PARAMETER_VALUE")):
        body = {"experiment_id": side.experiment_id, "name": "x", "description": "d", field_name: "bogus"}
        created = side.call("POST", "/api/3.0/mlflow/issues", body)
        assert (created.status_code, _error_code(created)) == (status, code)
        body.pop(field_name)
        issue_id = side.call("POST", "/api/3.0/mlflow/issues", body).json()["issue"]["issue_id"]
        updated = side.call("PATCH", f"/api/3.0/mlflow/issues/{issue_id}", {"issue_id": issue_id, field_name: "bogus"})
        assert (updated.status_code, _error_code(updated)) == (status, code)


def test_search_without_experiment_lists_issues_of_every_experiment(tracking_uri: str) -> None:
    stratus = Side(tracking_uri)
    ids = []
    for _ in range(2):
        name = f"issues-all-{uuid.uuid4().hex[:8]}"
        experiment_id = stratus.call("POST", "/api/2.0/mlflow/experiments/create", {"name": name}).json()
        body = {"experiment_id": experiment_id["experiment_id"], "name": "x", "description": "d", "severity": "high"}
        ids.append(stratus.call("POST", "/api/3.0/mlflow/issues", body).json()["issue"]["issue_id"])

    found = stratus.call("POST", "/api/3.0/mlflow/issues/search", {"filter_string": "status = 'pending'"}).json()

    assert set(ids) <= {i["issue_id"] for i in found["issues"]}
