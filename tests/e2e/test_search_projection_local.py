"""Search projections through ``stratus local``: the projector runs from the table's stream, searches of the
projected experiment answer as the reference ``mlflow server`` does, also right after runs change (read-after-write
through the change markers). ``STRATUS_PROJECTION_MIN_RUNS`` is lowered so that a small experiment is projected; the
server runs in its own process, as its environment differs from the session's."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from local_process import stratus_local_process

from stratus.domain.services.projection import SETTLE_MARGIN_MS

pytestmark = pytest.mark.xdist_group("search_projection")

RUNS = 40
QUERIES = [
    ("metrics.acc > 0.5 and params.p1 = '3' and tags.team = 'a'", ["metrics.loss ASC"]),
    ("", ["metrics.loss ASC"]),
    ("metrics.acc != 0.5", ["params.p1 DESC", "metrics.acc"]),
    ("params.p2 LIKE '%x%'", ["tags.team"]),
    ("tags.team IS NULL", []),
    ("attributes.run_name LIKE 'r1%'", ["attributes.end_time DESC"]),
    ("attributes.status = 'FINISHED'", ["attributes.start_time ASC"]),
]


@pytest.fixture(scope="module")
def projected_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    log_path = tmp_path_factory.mktemp("projection") / "stratus.log"
    options = ["--artifacts", "direct"]
    with stratus_local_process(
        options,
        log_path,
        env={"STRATUS_PROJECTION_MIN_RUNS": "20", "STRATUS_PROJECTION_PAGE_SHARE": "1"},
        dropped_env=("MLFLOW_S3",),
    ) as exports:
        yield exports


def _post(base: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = requests.post(f"{base}/api/2.0/mlflow/{path}", json=body, timeout=60)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def _fill(base: str, experiment_id: str, start: int, count: int) -> dict[str, str]:
    """Runs ``r<start>``..: params, tags (some missing), metrics (NaN and infinities among them), some finished. Start
    times are unique (``i * 7 % 45`` for i < 45): ties after them fall to run ids, which differ between the servers."""
    ids = {}
    specials: list[float | str] = ["NaN", "Infinity", "-Infinity", 0.5]  # as the client's protobuf JSON spells them
    for i in range(start, start + count):
        name = f"r{i}"
        tags = [{"key": "team", "value": "abc"[i % 3]}] if i % 5 else []
        run = _post(
            base,
            "runs/create",
            {"experiment_id": experiment_id, "run_name": name, "start_time": 1_000 + i * 7 % 45, "tags": tags},
        )
        run_id = run["run"]["info"]["run_id"]
        acc = specials[i % 4] if i % 7 == 0 else (i * 37 % 100) / 100
        metrics = [{"key": "acc", "value": acc, "timestamp": 1, "step": 0}]
        if i % 4:
            metrics.append({"key": "loss", "value": (i * 13 % 17) / 17, "timestamp": 1, "step": 0})
        params = [{"key": "p1", "value": str(i % 5)}] + ([{"key": "p2", "value": f"v{i % 3}x"}] if i % 2 else [])
        _post(base, "runs/log-batch", {"run_id": run_id, "metrics": metrics, "params": params})
        if i % 3 == 0:
            _post(base, "runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": 2_000 + i})
        ids[name] = run_id
    return ids


def _names(base: str, experiment_id: str, filter_string: str, order_by: list[str]) -> list[list[str]]:
    pages, token = [], None
    while True:
        body = {"experiment_ids": [experiment_id], "filter": filter_string, "order_by": order_by, "max_results": 7}
        answer = _post(base, "runs/search", {**body, **({"page_token": token} if token else {})})
        pages.append([run["info"]["run_name"] for run in answer.get("runs", [])])
        token = answer.get("next_page_token")
        if not token:
            return pages


def _same_as_reference(servers: dict[str, tuple[str, str]]) -> None:
    for filter_string, order_by in QUERIES:
        answers = {name: _names(base, exp, filter_string, order_by) for name, (base, exp) in servers.items()}
        assert answers["stratus"] == answers["reference"], (filter_string, order_by)


def _embedded(exports: dict[str, str], service: str) -> Any:
    """A client of the stack's embedded moto (S3, SQS, ...), with the credentials stratus local exported."""
    return boto3.client(
        service,
        endpoint_url=exports["MLFLOW_S3_ENDPOINT_URL"],
        aws_access_key_id=exports["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=exports["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )


def _projection_objects(exports: dict[str, str], experiment_id: str) -> dict[str, float]:
    """The experiment's projection objects, each with when it was written (epoch seconds)."""
    s3 = _embedded(exports, "s3")
    written = {}
    for bucket in s3.list_buckets()["Buckets"]:
        if "projection" in bucket["Name"].lower():
            listing = s3.list_objects_v2(Bucket=bucket["Name"], Prefix=f"projections/{experiment_id}/")
            written.update({entry["Key"]: entry["LastModified"].timestamp() for entry in listing.get("Contents", ())})
    return written


def _settle_queue(exports: dict[str, str]) -> dict[str, int]:
    """The message counts of the projector's settle queue and of its dead-letter queue, from the embedded moto."""
    sqs = _embedded(exports, "sqs")
    counts = {}
    for queue in ("projection-settle-queue", "projection-dead-letter-queue"):
        url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        names.append("ApproximateNumberOfMessagesDelayed")
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        for name in names:
            counts[f"{queue} {name.removeprefix('ApproximateNumberOfMessages') or 'Visible'}"] = int(attributes[name])
    return counts


def test_a_projected_experiment_searches_as_the_reference_before_and_after_changes(
    projected_stack: dict[str, str], reference_uri: str
) -> None:
    """Given 40 runs in stratus local (projected from 20 runs) and the same runs in the reference, when the projector
    has written the experiment's columns, then every query pages as the reference's, at once and once the runs come
    from the columns; and when runs are then added, changed and deleted, the very next searches still do."""
    stratus = projected_stack["MLFLOW_TRACKING_URI"]
    servers = {}
    ids = {}
    for name, base in (("stratus", stratus), ("reference", reference_uri)):
        experiment_id = _post(base, "experiments/create", {"name": f"projected-{time.time_ns()}"})["experiment_id"]
        ids[name] = _fill(base, experiment_id, 0, RUNS)
        if name == "stratus":
            stratus_filled_at = time.time()  # the newest change marker is at most a few seconds older
        servers[name] = (base, experiment_id)
    stratus_experiment = servers["stratus"][1]

    filled = time.monotonic()
    while not _projection_objects(projected_stack, stratus_experiment):
        assert time.monotonic() < filled + 90, "the projector wrote no projection within 90 s"
        time.sleep(1)
    _same_as_reference(servers)  # most runs still changed within the settle margin: read from the table
    # The projection left runs in its margin, so it asked for a settling refresh, delayed past the margin.
    while _settle_queue(projected_stack)["projection-settle-queue Delayed"] < 1:
        assert time.monotonic() < filled + 75, f"no settling refresh was asked for: {_settle_queue(projected_stack)}"
        time.sleep(1)
    # Past the margin (60 s), the settling refresh re-reads the runs written in it; from then on the runs come from
    # the projection's columns, with nothing written since: the path a big experiment at rest takes.
    time.sleep(max(0.0, filled + SETTLE_MARGIN_MS / 1000 - time.monotonic()))
    while any(_settle_queue(projected_stack).values()):
        assert time.monotonic() < filled + SETTLE_MARGIN_MS / 1000 + 60, _settle_queue(projected_stack)
        time.sleep(1)
    # A search's window is (watermark - margin, now]: for it to hold no marker, the last projection must have started
    # a margin after the newest one (a stream pass that late under load, else the settling pass). Objects are written
    # after their pass starts; the fill's newest marker is older than its end by the coalescing window at most.
    newest = max(_projection_objects(projected_stack, stratus_experiment).values())
    assert newest >= stratus_filled_at + SETTLE_MARGIN_MS / 1000 - 15, "no projection settled the fill"
    _same_as_reference(servers)

    for name, (base, experiment_id) in servers.items():
        _fill(base, experiment_id, RUNS, 5)
        for run in ("r3", "r8", "r13"):
            metrics = [{"key": "loss", "value": -1.0, "timestamp": 5, "step": 3}]
            _post(base, "runs/log-batch", {"run_id": ids[name][run], "metrics": metrics})
        _post(base, "runs/set-tag", {"run_id": ids[name]["r4"], "key": "team", "value": "a"})
        _post(base, "runs/delete", {"run_id": ids[name]["r6"]})
    _same_as_reference(servers)
