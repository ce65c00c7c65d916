"""Differential test of MLflow 3's registered scorers API (``/api/3.0/mlflow/scorers/*``): the same requests, over raw
HTTP, to the reference ``mlflow server`` and to ``stratus local``, and the answers compared; then the stock client's
``mlflow.genai.scorers`` (a built-in scorer, which registers without an LLM) against Stratus.

What is compared per request: the HTTP status and the JSON body, with scorer ids and online scoring configuration
ids replaced by placeholders in order of appearance, the experiment id (a string in some answers, an int32 in
``Scorer``) by ``<exp:str>`` or ``<exp:int>``, creation times by whether they are set, and ``sqlstate`` and
``error_class`` dropped. Known differences (the reference's 500s) are checked on their own below; one is not tested:
Stratus stores an online scoring ``filter_string`` without checking its trace-search syntax.
"""

from __future__ import annotations

import json
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
NOT_COMPARED = ("sqlstate", "error_class")
SCORERS = "/api/3.0/mlflow/scorers"
SAFETY = json.dumps(
    {
        "name": "s1",
        "builtin_scorer_class": "Safety",
        "builtin_scorer_pydantic_data": {"name": "s1"},
        "mlflow_version": "3.17.2",
        "serialization_version": 1,
    }
)
IDS = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}")


@dataclass
class Side:
    base: str
    experiment_id: str = ""
    ids: list[str] = field(default_factory=list)

    def call(
        self, method: str, path: str, body: dict[str, Any] | None = None, params: dict[str, Any] | None = None
    ) -> requests.Response:
        return requests.request(method, f"{self.base}{path}", json=body, params=params, timeout=TIMEOUT)

    def normalized(self, response: requests.Response) -> tuple[int, Any]:
        try:
            body = response.json()
        except ValueError:
            return response.status_code, response.text[:40]
        return response.status_code, self._scrub(body)

    def _scrub(self, value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: self._scrub(v, k) for k, v in value.items() if k not in NOT_COMPARED}
        if isinstance(value, list):
            return [self._scrub(v) for v in value]
        if key == "creation_time":
            return bool(value)
        if key == "experiment_id" and str(value) == self.experiment_id:
            return f"<exp:{type(value).__name__}>"
        if isinstance(value, str):
            value = re.sub(rf"\bexperiment {self.experiment_id}\b", "experiment <exp>", value)
            return IDS.sub(self._placeholder, value)
        return value

    def _placeholder(self, match: re.Match[str]) -> str:
        if match.group(0) not in self.ids:
            self.ids.append(match.group(0))
        return f"<id-{self.ids.index(match.group(0))}>"


def _sides(reference_uri: str, tracking_uri: str) -> tuple[Side, Side]:
    sides = (Side(reference_uri), Side(tracking_uri))
    name = f"scorers-{uuid.uuid4().hex[:8]}"
    for side in sides:
        created = side.call("POST", "/api/2.0/mlflow/experiments/create", {"name": name})
        assert created.status_code == 200, created.text
        side.experiment_id = created.json()["experiment_id"]
    return sides


def _scenario(side: Side) -> list[tuple[str, tuple[int, Any]]]:  # noqa: PLR0915 - one request per line
    exp = side.experiment_id
    out: list[tuple[str, tuple[int, Any]]] = []

    def send(
        label: str, method: str, path: str, body: dict[str, Any] | None = None, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        response = side.call(method, f"{SCORERS}{path}", body, params)
        out.append((label, side.normalized(response)))
        time.sleep(0.01)
        return response.json() if response.headers.get("content-type", "").startswith("application/json") else {}

    def register(label: str, name: Any, serialized: Any = SAFETY, experiment_id: Any = exp) -> dict[str, Any]:
        body = {"experiment_id": experiment_id, "name": name, "serialized_scorer": serialized}
        return send(label, "POST", "/register", {k: v for k, v in body.items() if v is not None})

    register("register", "s1")
    register("register again", "s1")
    register("register another", "a0", "{}")
    register("register not json", "x", "nope")
    register("register custom code", "x", json.dumps({"call_source": "def f(): pass"}))
    register("register blank name", "  ")
    register("register empty name", "")
    register("register without name", None)
    register("register without scorer", "x", None)
    register("register without experiment", "x", experiment_id=None)
    register("register in unknown experiment", "x", experiment_id=UNKNOWN_EXPERIMENT)
    register("register in non-integer experiment", "x", experiment_id="abc")
    register("register name of wrong type", 5)
    register("register blank model", "x", json.dumps({"instructions_judge_pydantic_data": {"model": " "}}))
    register("register model not a string", "x", json.dumps({"instructions_judge_pydantic_data": {"model": 3}}))
    register("register gateway model", "x", json.dumps({"instructions_judge_pydantic_data": {"model": "gateway:/g"}}))
    register("register steering kwargs", "x", json.dumps({"third_party_scorer_data": {"kwargs": {"api_base": "h"}}}))
    send("register via ajax", "POST", "/register", {"experiment_id": exp, "name": "b1", "serialized_scorer": "{}"})

    send("list", "GET", "/list", params={"experiment_id": exp})
    send("list by ids", "GET", "/list", params={"experiment_ids": [exp, UNKNOWN_EXPERIMENT]})
    send("list by non-integer ids", "GET", "/list", params={"experiment_ids": ["abc"]})
    send("list both fields", "GET", "/list", params={"experiment_id": exp, "experiment_ids": exp})
    send("list unknown experiment", "GET", "/list", params={"experiment_id": UNKNOWN_EXPERIMENT})
    send("list non-integer experiment", "GET", "/list", params={"experiment_id": "abc"})
    send("versions", "GET", "/versions", params={"experiment_id": exp, "name": "s1"})
    send("versions unknown", "GET", "/versions", params={"experiment_id": exp, "name": "zz"})
    send("versions without name", "GET", "/versions", params={"experiment_id": exp})
    latest = send("get latest", "GET", "/get", params={"experiment_id": exp, "name": "s1"})
    send("get version 1", "GET", "/get", params={"experiment_id": exp, "name": "s1", "version": 1})
    send("get unknown version", "GET", "/get", params={"experiment_id": exp, "name": "s1", "version": 9})
    send("get non-integer version", "GET", "/get", params={"experiment_id": exp, "name": "s1", "version": "x"})
    send("get unknown", "GET", "/get", params={"experiment_id": exp, "name": "zz"})
    send("get without name", "GET", "/get", params={"experiment_id": exp})
    send("get in unknown experiment", "GET", "/get", params={"experiment_id": UNKNOWN_EXPERIMENT, "name": "s1"})

    config = "/online-config"
    send("upsert rate 0", "PUT", config, {"experiment_id": exp, "name": "s1", "sample_rate": 0})
    send(
        "upsert filter",
        "PUT",
        config,
        {"experiment_id": exp, "name": "s1", "sample_rate": 0.0, "filter_string": "trace.status = 'OK'"},
    )
    send("upsert rate above 0", "PUT", config, {"experiment_id": exp, "name": "s1", "sample_rate": 0.5})
    send(
        "upsert filter not a string",
        "PUT",
        config,
        {"experiment_id": exp, "name": "s1", "sample_rate": 0, "filter_string": 5},
    )
    send("upsert rate as string", "PUT", config, {"experiment_id": exp, "name": "s1", "sample_rate": "0.1"})
    send("upsert rate 2", "PUT", config, {"experiment_id": exp, "name": "s1", "sample_rate": 2})
    send("upsert rate null", "PUT", config, {"experiment_id": exp, "name": "s1", "sample_rate": None})
    send("upsert without rate", "PUT", config, {"experiment_id": exp, "name": "s1"})
    send("upsert unknown scorer", "PUT", config, {"experiment_id": exp, "name": "zz", "sample_rate": 0})
    send(
        "upsert unknown experiment", "PUT", config, {"experiment_id": UNKNOWN_EXPERIMENT, "name": "s", "sample_rate": 0}
    )
    scorer_id = latest["scorer"]["scorer_id"]
    send("configs", "GET", "/online-configs", params={"scorer_ids": [scorer_id, "nope"]})
    send("configs in body", "GET", "/online-configs", {"scorer_ids": [scorer_id]})
    send("configs without ids", "GET", "/online-configs")

    send("delete version 1", "DELETE", "/delete", {"experiment_id": exp, "name": "s1", "version": 1})
    send("delete in query string", "DELETE", "/delete", params={"experiment_id": exp, "name": "s1"})
    send("versions after delete", "GET", "/versions", params={"experiment_id": exp, "name": "s1"})
    send("delete version 1 again", "DELETE", "/delete", {"experiment_id": exp, "name": "s1", "version": 1})
    send("delete version 2", "DELETE", "/delete", {"experiment_id": exp, "name": "s1", "version": 2})
    send("get with no version left", "GET", "/get", params={"experiment_id": exp, "name": "s1"})
    send("delete all with no version left", "DELETE", "/delete", {"experiment_id": exp, "name": "s1"})
    register("register after deleting versions keeps the id", "s1")
    send("configs kept", "GET", "/online-configs", params={"scorer_ids": [scorer_id]})
    send("delete all", "DELETE", "/delete", {"experiment_id": exp, "name": "s1"})
    send("delete unknown", "DELETE", "/delete", {"experiment_id": exp, "name": "s1"})
    send("delete without name", "DELETE", "/delete", {"experiment_id": exp})
    register("register after deleting all gets a new id", "s1")
    send("configs gone", "GET", "/online-configs", params={"scorer_ids": [scorer_id]})
    send("list at the end", "GET", "/list", params={"experiment_id": exp})
    side.call("POST", "/api/2.0/mlflow/experiments/delete", {"experiment_id": exp})
    send("list deleted experiment", "GET", "/list", params={"experiment_id": exp})
    register("register in deleted experiment", "s1")
    return out


def test_scorers_api_answers_as_the_reference(reference_uri: str, tracking_uri: str) -> None:
    reference, stratus = _sides(reference_uri, tracking_uri)
    assert_same_answers(_scenario(reference), _scenario(stratus))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"serialized_scorer": "[1]", "name": "x"}, "serialized_scorer must be a JSON object"),
        ({"sample_rate": "abc", "name": "s1"}, "sample_rate"),
    ],
)
def test_what_the_reference_fails_with_500_is_a_400(
    reference_uri: str, tracking_uri: str, body: dict[str, Any], message: str
) -> None:
    """Known differences: a serialized scorer that is JSON but not an object, and a ``sample_rate`` that ``float()``
    cannot read, are an HTML or INTERNAL_ERROR 500 in the reference (which the client retries)."""
    reference, stratus = _sides(reference_uri, tracking_uri)
    for side in (reference, stratus):
        side.call(
            "POST",
            f"{SCORERS}/register",
            {"experiment_id": side.experiment_id, "name": "s1", "serialized_scorer": "{}"},
        )
        method, path = ("PUT", "/online-config") if "sample_rate" in body else ("POST", "/register")
        response = side.call(method, f"{SCORERS}{path}", {"experiment_id": side.experiment_id, **body})
        if side is reference:
            assert response.status_code == 500
        else:
            assert (response.status_code, response.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
            assert message in response.json()["message"]


def test_stock_client_registers_lists_gets_and_deletes_a_builtin_scorer(tracking_uri: str) -> None:
    import mlflow
    from mlflow.genai.scorers import Safety, delete_scorer, get_scorer, list_scorers

    experiment_id = mlflow.create_experiment(f"scorers-client-{uuid.uuid4().hex[:8]}")
    Safety().register(experiment_id=experiment_id, name="safety")
    Safety().register(experiment_id=experiment_id, name="safety")

    assert [s.name for s in list_scorers(experiment_id=experiment_id)] == ["safety"]
    assert type(get_scorer(name="safety", experiment_id=experiment_id)).__name__ == "Safety"
    assert get_scorer(name="safety", experiment_id=experiment_id, version=1).name == "safety"
    delete_scorer(name="safety", experiment_id=experiment_id, version="all")
    assert list_scorers(experiment_id=experiment_id) == []
