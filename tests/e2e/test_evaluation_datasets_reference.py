"""Differential test of MLflow 3's evaluation datasets API (``/api/3.0/mlflow/datasets*``): the same requests, over
raw HTTP, to the reference ``mlflow server`` and to ``stratus local``, and the answers compared.

Each side gets its own experiment and names its datasets with one prefix, so searches see only this test's datasets
on a reference shared with other tests. What is compared per request: the HTTP status and the JSON body with the
JSON-in-a-string fields (``tags``, ``schema``, ``profile``, ``records``) parsed, records sorted by their inputs
(records upserted together share a creation time and the reference then orders them by a random id), dataset and
record ids replaced by placeholders in order of appearance, the experiment id by ``<exp>``, timestamps, digests and
page tokens by whether they are set, and ``sqlstate``/``error_class`` dropped. Known differences are checked on their
own below: the reference's 500s on malformed JSON, a bad records page token or a negative ``max_results``, and its 400
``BAD_REQUEST`` (a foreign key failure) on records for a dataset that does not exist.
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
V3 = "/api/3.0/mlflow/datasets"
PRESENCE_ONLY = ("created_time", "last_update_time", "digest", "next_page_token")
JSON_TEXT = ("tags", "schema", "profile", "records", "source")
NOT_COMPARED = ("sqlstate", "error_class")
ID_PATTERN = re.compile(r"\bdr?-[0-9a-f]{32}\b")


@dataclass
class Side:
    base: str
    prefix: str
    experiment_id: str = ""
    ids: list[str] = field(default_factory=list)

    def call(self, method: str, path: str, body: Any = None, params: Any = None) -> requests.Response:
        return requests.request(method, f"{self.base}{path}", json=body, params=params, timeout=TIMEOUT)

    def normalized(self, response: requests.Response) -> tuple[int, Any]:
        try:
            body = response.json()
        except ValueError:
            return response.status_code, "<not json>"
        return response.status_code, self._scrub(body)

    def _scrub(self, value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            kept = {k: v for k, v in value.items() if k not in NOT_COMPARED}
            return {k: bool(v) if k in PRESENCE_ONLY else self._scrub(v, k) for k, v in kept.items()}
        if isinstance(value, list):
            if key == "records":
                value = sorted(value, key=lambda r: json.dumps(r["inputs"], sort_keys=True))
            return [self._scrub(v, key) for v in value]
        if isinstance(value, str) and key in JSON_TEXT:
            return self._scrub(json.loads(value), key)
        if isinstance(value, str):
            return self._placeholders(value, key)
        return value

    def _placeholders(self, text: str, key: str) -> str:
        for found in ID_PATTERN.findall(text):
            if found not in self.ids:
                self.ids.append(found)
            text = text.replace(found, f"<{found[:2].rstrip('-')}-{self.ids.index(found)}>")
        if key == "experiment_ids" and text == self.experiment_id:
            return "<exp>"
        text = text.replace(self.prefix, "<prefix>")
        # set literals in messages: the reference prints them in its hash seed's order
        return re.sub(r"\{('[^{}]*')\}", lambda m: "{" + ", ".join(sorted(m.group(1).split(", "))) + "}", text)


def _sides(reference_uri: str, tracking_uri: str) -> tuple[Side, Side]:
    prefix = f"eds-{uuid.uuid4().hex[:8]}"
    sides = (Side(reference_uri, prefix), Side(tracking_uri, prefix))
    for side in sides:
        created = side.call("POST", "/api/2.0/mlflow/experiments/create", {"name": prefix})
        assert created.status_code == 200, created.text
        side.experiment_id = created.json()["experiment_id"]
    return sides


def _scenario(side: Side) -> list[tuple[str, tuple[int, Any]]]:  # noqa: PLR0915 - one request per line
    exp, prefix = side.experiment_id, side.prefix
    out: list[tuple[str, tuple[int, Any]]] = []

    def send(label: str, method: str, path: str, body: Any = None, params: Any = None) -> dict[str, Any]:
        response = side.call(method, path, body, params)
        out.append((label, side.normalized(response)))
        time.sleep(0.01)  # distinct times on both sides, so orders by time are the same
        return response.json() if response.headers.get("content-type", "").startswith("application/json") else {}

    tags = json.dumps({"mlflow.user": "bob", "team": "qa"})
    first = send("create", "POST", f"{V3}/create", {"name": f"{prefix}-a", "experiment_ids": [exp], "tags": tags})
    dataset_id = first["dataset"]["dataset_id"]
    send("create another", "POST", f"{V3}/create", {"name": f"{prefix}-b", "experiment_ids": [exp]})
    send("create unlinked", "POST", f"{V3}/create", {"name": f"{prefix}-c"})
    send("create without name", "POST", f"{V3}/create", {"experiment_ids": [exp]})
    send("get", "GET", f"{V3}/{dataset_id}")
    send("get missing", "GET", f"{V3}/d-{'0' * 32}")
    send("experiment ids", "GET", f"{V3}/{dataset_id}/experiment-ids")
    send("experiment ids of a missing dataset", "GET", f"{V3}/d-{'0' * 32}/experiment-ids")

    records = [
        {"inputs": {"q": "a"}, "expectations": {"x": 1}, "tags": {"t": "1"}},
        {
            "inputs": {"q": "b"},
            "outputs": {"o": [1]},
            "source": {"source_type": "trace", "source_data": {"trace_id": "t"}},
        },
        {"inputs": {"q": "a"}, "expectations": {"y": 2.5}, "tags": {"mlflow.user": "al"}},
        {
            "inputs": {"q": "c"},
            "outputs": "text",
            "source": {"source_type": "HUMAN", "source_data": {"source_id": "u"}},
        },
    ]
    send("upsert", "POST", f"{V3}/{dataset_id}/records", {"records": json.dumps(records)})
    send(
        "upsert merges",
        "POST",
        f"{V3}/{dataset_id}/records",
        {"records": json.dumps([{"inputs": {"q": "b"}, "outputs": None}, {"inputs": {}}])},
    )
    send("upsert without records", "POST", f"{V3}/{dataset_id}/records", {})
    send(
        "upsert bad source type",
        "POST",
        f"{V3}/{dataset_id}/records",
        {"records": json.dumps([{"inputs": {}, "source": {"source_type": "X"}}])},
    )
    send("get after upserts", "GET", f"{V3}/{dataset_id}")
    listed = send("records", "GET", f"{V3}/{dataset_id}/records")
    send("records of a missing dataset", "GET", f"{V3}/d-{'0' * 32}/records")
    page = send("records page 1", "GET", f"{V3}/{dataset_id}/records", params={"max_results": 3})
    send(
        "records page 2",
        "GET",
        f"{V3}/{dataset_id}/records",
        params={"max_results": 3, "page_token": page.get("next_page_token")},
    )

    record_ids = sorted((r["inputs"].get("q", ""), r["dataset_record_id"]) for r in json.loads(listed["records"]))
    doomed = [record_ids[0][1], record_ids[1][1]]
    send("delete records", "DELETE", f"{V3}/{dataset_id}/records", {"dataset_record_ids": [*doomed, "dr-unknown"]})
    send("delete records again", "DELETE", f"{V3}/{dataset_id}/records", {"dataset_record_ids": doomed})
    send("delete records of a missing dataset", "DELETE", f"{V3}/d-{'0' * 32}/records", {"dataset_record_ids": doomed})
    send("get after record deletion", "GET", f"{V3}/{dataset_id}")

    send("set tags", "PATCH", f"{V3}/{dataset_id}/tags", {"tags": json.dumps({"team": "eval", "n": 5, "gone": None})})
    send("set tags without tags", "PATCH", f"{V3}/{dataset_id}/tags", {})
    send("set tags of a missing dataset", "PATCH", f"{V3}/d-{'0' * 32}/tags", {"tags": "{}"})
    send("delete tag", "DELETE", f"{V3}/{dataset_id}/tags/n")
    send("delete missing tag", "DELETE", f"{V3}/{dataset_id}/tags/nope")
    send("delete tag of a missing dataset", "DELETE", f"{V3}/d-{'0' * 32}/tags/n")
    send("get after tags", "GET", f"{V3}/{dataset_id}")

    send("add experiments", "POST", f"{V3}/{dataset_id}/add-experiments", {"experiment_ids": ["0", exp]})
    send("add a missing experiment", "POST", f"{V3}/{dataset_id}/add-experiments", {"experiment_ids": ["987654321"]})
    send("add to a missing dataset", "POST", f"{V3}/d-{'0' * 32}/add-experiments", {"experiment_ids": ["0"]})
    send("experiment ids after add", "GET", f"{V3}/{dataset_id}/experiment-ids")
    send("remove experiments", "POST", f"{V3}/{dataset_id}/remove-experiments", {"experiment_ids": ["0", "55555"]})
    send("remove from a missing dataset", "POST", f"{V3}/d-{'0' * 32}/remove-experiments", {"experiment_ids": ["0"]})
    send("experiment ids after remove", "GET", f"{V3}/{dataset_id}/experiment-ids")

    mine = f"name LIKE '{prefix}%'"
    for label, body in (
        ("by experiment", {"experiment_ids": [exp]}),
        ("by name prefix", {"filter_string": mine}),
        ("by name prefix, by name ascending", {"filter_string": mine, "order_by": ["name ASC"]}),
        ("by name prefix, page of 2", {"filter_string": mine, "max_results": 2}),
        ("name in", {"filter_string": f"name IN ('{prefix}-a', '{prefix}-c')"}),
        ("name and tag", {"filter_string": f"{mine} AND tags.team = 'eval'"}),
        ("tag like", {"filter_string": f"{mine} AND tags.team LIKE 'ev%'"}),
        ("created by", {"filter_string": f"{mine} AND created_by = 'bob'"}),
        ("created since", {"filter_string": f"{mine} AND created_time > 0", "order_by": ["created_time ASC"]}),
        ("numeric attribute with text", {"filter_string": "created_time > 'abc'"}),
        ("tag with a bad comparator", {"filter_string": "tags.team > 'a'"}),
        ("list without IN", {"filter_string": "name = ('a', 'b')"}),
        ("unknown attribute", {"filter_string": "foo = 'x'"}),
        ("unknown prefix", {"filter_string": "params.x = 'y'"}),
        ("order by an unknown attribute", {"order_by": ["created_by ASC"]}),
        ("max_results 0", {"max_results": 0}),
        ("max_results 50001", {"max_results": 50001}),
        ("bad page token", {"page_token": "abc"}),
    ):
        send(f"search {label}", "POST", f"{V3}/search", body)
    send("search by GET", "GET", f"{V3}/search", params={"experiment_ids": exp})

    send("delete", "DELETE", f"{V3}/{dataset_id}")
    send("delete again", "DELETE", f"{V3}/{dataset_id}")
    send("get deleted", "GET", f"{V3}/{dataset_id}")
    send("search after delete", "POST", f"{V3}/search", {"experiment_ids": [exp]})
    return out


def test_evaluation_datasets_api_answers_as_the_reference(reference_uri: str, tracking_uri: str) -> None:
    reference, stratus = _sides(reference_uri, tracking_uri)
    assert_same_answers(_scenario(reference), _scenario(stratus))


def _error(response: requests.Response) -> tuple[int, str | None]:
    try:
        return response.status_code, response.json().get("error_code")
    except ValueError:
        return response.status_code, None


@pytest.mark.parametrize(
    ("label", "method", "path", "body", "params", "reference"),
    [
        ("tags not JSON", "POST", "create", {"name": "x", "tags": "nope"}, None, (500, None)),
        ("tags a JSON list", "POST", "create", {"name": "x", "tags": "[1]"}, None, (500, "INTERNAL_ERROR")),
        ("records not JSON", "POST", "<id>/records", {"records": "nope"}, None, (500, None)),
        ("records page token not base64", "GET", "<id>/records", None, {"page_token": "zz"}, (500, None)),
        ("records max_results -1", "GET", "<id>/records", None, {"max_results": -1}, (500, None)),
    ],
)
def test_malformed_input_is_a_400_where_the_reference_fails_with_500(  # noqa: PLR0913 - the case's parts
    reference_uri: str, tracking_uri: str, label: str, method: str, path: str, body: Any, params: Any, reference: Any
) -> None:
    """Known differences: the reference lets ``json.loads`` or ``int`` fail (a 500, which the client retries for
    minutes); Stratus answers INVALID_PARAMETER_VALUE."""
    sides = _sides(reference_uri, tracking_uri)
    answers = []
    for side in sides:
        dataset_id = side.call("POST", f"{V3}/create", {"name": f"{side.prefix}-x"}).json()["dataset"]["dataset_id"]
        answers.append(_error(side.call(method, f"{V3}/{path.replace('<id>', dataset_id)}", body, params)))
    assert answers == [reference, (400, "INVALID_PARAMETER_VALUE")], label


def test_records_for_a_missing_dataset_are_a_404_where_the_reference_reports_its_foreign_key(
    reference_uri: str, tracking_uri: str
) -> None:
    reference, stratus = _sides(reference_uri, tracking_uri)
    body = {"records": json.dumps([{"inputs": {"q": "z"}}])}
    assert _error(reference.call("POST", f"{V3}/d-{'0' * 32}/records", body)) == (400, "BAD_REQUEST")
    answer = stratus.call("POST", f"{V3}/d-{'0' * 32}/records", body)
    assert _error(answer) == (404, "RESOURCE_DOES_NOT_EXIST")
    assert answer.json()["message"] == f"Evaluation dataset with id 'd-{'0' * 32}' not found"
