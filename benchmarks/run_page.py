"""What the web UI's run page costs in registry reads, by the size of the registry.

    python -m benchmarks.run_page [--models 10 100 300] [--repeat 10]

A run's page sends three registry calls: GraphQL ``GetRun`` (its ``modelVersions``), ``model-versions/search`` with
``run_id = '<run>'``, and a prompt search (``tags.mlflow.prompt.is_prompt = 'true' AND
tags.mlflow.prompt.run_ids ILIKE '%<run>%'``). The registry grows to each size in turn, one version per model (one of
them from the run shown), and at each size each call is timed through ``stratus local`` (median wall time of
``--repeat`` calls) with its DynamoDB requests counted: none of them should grow with the registry (the prompt search
reads the version summaries, 2 requests, where it read every model, 1 + models). Figures only; results in
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import requests

from benchmarks.dynamo_meter import DynamoMeter
from benchmarks.harness import describe, local_stack
from benchmarks.tracking import machine
from stratus_local.event_sources import MAX_BATCHING_WINDOW_S

GET_RUN = (
    "query GetRun($data: MlflowGetRunInput!) { mlflowGetRun(input: $data) { run { info { runUuid } "
    "modelVersions { name version status source } } } }"
)


def _registry(api: str, indexes: range, shown_run: str, other_run: str) -> None:
    """A model with one version for each index; model 0's version comes from ``shown_run``."""

    def register(index: int) -> None:
        run = shown_run if index == 0 else other_run
        name = f"bench-model-{index:05d}"
        _post(f"{api}/registered-models/create", {"name": name})
        _post(f"{api}/model-versions/create", {"name": name, "source": f"runs:/{run}/model", "run_id": run})

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(register, indexes))


def _post(url: str, body: dict[str, str], attempts: int = 5) -> None:
    """POST, retrying a 503 as the mlflow client does (concurrent writers may be told to retry)."""
    for attempt in range(attempts):
        response = requests.post(url, json=body, timeout=60)
        if response.status_code != 503 or attempt == attempts - 1:
            response.raise_for_status()
            return
        print(f"retrying a 503: {response.text[:200]}")
        time.sleep(0.2 * 2**attempt)


def _wait_until_quiet(meter: DynamoMeter, quiet_s: float = MAX_BATCHING_WINDOW_S + 1, timeout_s: float = 600.0) -> None:
    """Until no DynamoDB request for ``quiet_s`` (longer than a stream's batching window): the registrations' events
    (stream, bus, webhooks, promotion gate) and the search projector read the table too, and must not be counted as
    the page's."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        meter.reset()
        time.sleep(quiet_s)
        if not meter.take().calls:
            return


def _measure(call: Callable[[], requests.Response], meter: DynamoMeter, repeat: int) -> tuple[float, int]:
    """Median milliseconds, and DynamoDB requests per call."""
    call().raise_for_status()  # warm: clients made, modules imported
    meter.reset()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call().raise_for_status()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, round(len(meter.take().calls) / repeat)


def _page_calls(http: requests.Session, base: str, run_id: str) -> dict[str, Callable[[], requests.Response]]:
    """The run page's registry calls, as the UI sends them."""
    api = f"{base}/api/2.0/mlflow"
    prompts = f"tags.`mlflow.prompt.is_prompt` = 'true' AND tags.`mlflow.prompt.run_ids` ILIKE \"%{run_id}%\""
    get_run = {"query": GET_RUN, "variables": {"data": {"runId": run_id}}}
    return {
        "GraphQL GetRun": lambda: http.post(f"{base}/graphql", json=get_run),
        "model-versions/search run_id": lambda: http.get(
            f"{api}/model-versions/search", params={"filter": f"run_id = '{run_id}'"}
        ),
        "model-versions/search prompts of the run": lambda: http.get(
            f"{api}/model-versions/search", params={"filter": prompts}
        ),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run_page", description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, nargs="+", default=[10, 100, 300], help="registry sizes")
    parser.add_argument("--repeat", type=int, default=10, help="calls per median (default 10)")
    args = parser.parse_args(argv)
    print(f"Machine: {machine()}")
    print("| models | call | median ms | DynamoDB requests |")
    print("| ---: | --- | ---: | ---: |")
    meter = DynamoMeter()
    meter.install()
    try:
        # One stack, grown from size to size (the registry keeps what the smaller sizes registered).
        with local_stack() as bench, requests.Session() as http:
            print(describe(bench.stack).replace("\n", " / "))
            base = bench.stack.base_url
            api = f"{base}/api/2.0/mlflow"
            experiment = http.post(f"{api}/experiments/create", json={"name": "run-page"}).json()["experiment_id"]
            runs = [
                http.post(f"{api}/runs/create", json={"experiment_id": experiment}).json()["run"]["info"]["run_id"]
                for _ in range(2)
            ]
            registered = 0
            for models in sorted(args.models):
                _registry(api, range(registered, models), runs[0], runs[1])
                registered = models
                _wait_until_quiet(meter)
                for label, call in _page_calls(http, base, runs[0]).items():
                    ms, count = _measure(call, meter, args.repeat)
                    print(f"| {models} | {label} | {ms:.0f} | {count} |", flush=True)
    finally:
        meter.uninstall()


if __name__ == "__main__":
    main()
