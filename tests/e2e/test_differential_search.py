"""Differential test of search: the same dataset in the reference ``mlflow server`` (SQLite) and in Stratus, the same
queries sent to both over HTTP, and the answers compared.

What is compared, per query:

* runs/search: the run names (run ids differ between the servers; names are unique), in order, and the page sizes
  when ``max_results`` is given (every page is walked). Runs that tie on every order_by key *and* on ``start_time``
  are ordered by run id, which differs between the servers, so such groups are compared as sets.
* experiments/search: the experiment names, in order, restricted to the experiments this module creates plus
  ``Default`` (the Stratus session is shared with other e2e tests).
* errors: ``error_code`` and ``message`` (set literals in messages are compared as sets: the reference prints them in
  hash-seed order).

Queries are grouped in families, one test per family, each reporting every mismatch it finds. Known, accepted
differences are listed in ``KNOWN_DIFFERENCES`` and run as strict xfails, one per query.
"""

from __future__ import annotations

import functools
import math
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import differential
import mlflow.data
import pandas as pd
import pytest
import requests
from differential import Mismatch, Outcome
from mlflow import MlflowClient
from mlflow.entities import DatasetInput, InputTag, Metric, Param
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

BASE_TIME = 1_700_000_000_000
MAX_FLOAT = 1.7976931348623157e308
DEFAULT_EXPERIMENTS = ("A", "B", "C")

# ---------------------------------------------------------------------------------------------------------------
# the dataset (deterministic)
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExperimentSpec:
    key: str
    name: str
    tags: dict[str, str]
    deleted: bool = False


EXPERIMENTS = (
    ExperimentSpec("A", "diff Alpha_1", {"team": "Vision", "stage": "prod", "note key": "100%"}),
    ExperimentSpec("B", "diff alpha%1", {"team": "vision", "stage": "dev", "mlflow.note.content": "Hello"}),
    ExperimentSpec("C", "Diff beta 2", {"team": "nlp", "priority": "10"}),
    ExperimentSpec("D", "DIFF delta_", {}),
    ExperimentSpec("X", "diff gone 3", {"team": "Vision"}, deleted=True),
)
EXPERIMENT_NAMES = frozenset({spec.name for spec in EXPERIMENTS} | {"Default"})

MetricPoint = tuple[str, float, int, int]  # key, value, timestamp, step


@dataclass
class RunSpec:
    name: str
    experiment: str
    start_time: int
    status: str
    end_time: int | None
    tags: dict[str, str]
    params: dict[str, str]
    metric_batches: list[list[MetricPoint]]
    datasets: list[tuple[str, str | None]] = field(default_factory=list)  # dataset key, context
    deleted: bool = False
    created_as: str | None = None  # created under this name, then renamed
    drop_name_tag: bool = False  # the mlflow.runName tag is deleted after creation


# name, frame; two "train_ds" with different data (so different digests)
DATASET_FRAMES = {
    "train1": ("train_ds", {"x": [1.0, 2.0, 3.0], "y": ["a", "b", "c"]}),
    "train2": ("train_ds", {"x": [4.0, 5.0], "y": ["d", "e"]}),
    "eval": ("eval-DS", {"x": [7.0], "y": ["z"]}),
    "holdout": ("holdout%", {"x": [0.0, 0.5], "y": ["q", "r"]}),
}
DATASET_CONTEXTS = ("training", "eval", "Test", None)

RUN_PREFIXES = ("run-", "Run_", "RUN ", "run%", "trial.")
USERS = ("alice", "Bob", "carol_x", "dave%", None)
STATUSES = ("RUNNING", "FINISHED", "FAILED", "KILLED")
LOSS_VALUES = (1.5, 0.0, -2.25, math.nan, math.inf, -math.inf, 3.0, 1e-9, MAX_FLOAT, -0.5, 100.0)

# Latest-value rules (highest step, then timestamp, then value; NaN is stored as 0 by the reference). Each entry is
# a list of batches, logged in this order.
SPECIAL_METRICS: dict[int, list[list[MetricPoint]]] = {
    0: [[("acc", 0.9, BASE_TIME + 200, 2), ("acc", 0.1, BASE_TIME + 300, 2)]],
    1: [[("acc", 0.5, BASE_TIME + 100, 1), ("acc", 0.7, BASE_TIME + 100, 1)]],
    2: [[("acc", 0.2, BASE_TIME + 10, 5), ("acc", 0.95, BASE_TIME + 500, 3)]],
    3: [[("loss", math.nan, BASE_TIME + 100, 1), ("loss", 0.5, BASE_TIME + 100, 1)]],
    4: [[("loss", math.nan, BASE_TIME + 100, 1), ("loss", -1.0, BASE_TIME + 100, 1)]],
    5: [[("loss", 0.0, BASE_TIME + 100, 1), ("loss", math.nan, BASE_TIME + 100, 1)]],
    6: [[("loss", math.nan, BASE_TIME + 100, 1)], [("loss", 0.25, BASE_TIME + 100, 1)]],
    7: [[("loss", math.nan, BASE_TIME + 100, 2)], [("loss", 3.0, BASE_TIME + 900, 1)]],
    8: [[("acc", 0.3, BASE_TIME + 100, 1)], [("acc", 0.1, BASE_TIME + 100, 1)]],
    9: [[("loss", math.inf, BASE_TIME + 100, 1), ("loss", 5.0, BASE_TIME + 100, 1)]],
    10: [[("loss", -math.inf, BASE_TIME + 100, 1)], [("loss", -5.0, BASE_TIME + 100, 1)]],
    11: [[("loss", 0.5, BASE_TIME + 100, 1)], [("loss", math.nan, BASE_TIME + 100, 1)]],
}


def _random_metrics(rng: random.Random) -> list[MetricPoint]:
    points: list[MetricPoint] = []
    if rng.random() < 0.85:
        for step in range(rng.randint(1, 4)):
            points.append(("acc", round(rng.random(), 2), BASE_TIME + 100_000 + step * 1000 + rng.randrange(3), step))
    if rng.random() < 0.8:
        points.append(("loss", rng.choice(LOSS_VALUES), BASE_TIME + 100_000, 0))
    if rng.random() < 0.7:
        points.append(("epochs", float(rng.randint(1, 20)), BASE_TIME + 100_000, 0))
    if rng.random() < 0.4:
        points.append(("val.score", rng.choice([0.0, -5.0, 2.5, -0.5, 7.0]), BASE_TIME + 100_000, 0))
    if rng.random() < 0.3:
        points.append(("f1 score", round(rng.random(), 1), BASE_TIME + 100_000, 0))
    return points


def _random_params(rng: random.Random) -> dict[str, str]:
    params: dict[str, str] = {}
    if rng.random() < 0.9:
        params["lr"] = rng.choice(["0.1", "0.01", "1e-3", "10", "9", "0.10"])
    if rng.random() < 0.8:
        params["model"] = rng.choice(["ResNet", "resnet", "RESNET50", "vit_b", "vit%b", "Vit-B", "ÉcoleNet"])
    if rng.random() < 0.5:
        params["optimizer"] = rng.choice(["adam", "Adam", "sgd"])
    if rng.random() < 0.6:
        params["batch size"] = rng.choice(["32", "64", "128", "8"])
    if rng.random() < 0.3:
        params["note"] = rng.choice(["50%_off", "a_b", "100%", "", "x y"])
    return params


def _random_tags(rng: random.Random) -> dict[str, str]:
    tags: dict[str, str] = {}
    if rng.random() < 0.85:
        tags["team"] = rng.choice(["vision", "Vision", "nlp", "NLP", "speech"])
    if rng.random() < 0.6:
        tags["data.version"] = rng.choice(["v1", "v2", "V1", "v10"])
    if rng.random() < 0.4:
        tags["my tag"] = rng.choice(["a b", "100%", "x_y", "xy"])
    if rng.random() < 0.5:
        tags["priority"] = rng.choice(["1", "10", "2", "-1"])
    user = rng.choice(USERS)
    if user is not None:
        tags["mlflow.user"] = user  # the client turns it into the run's user_id ("unknown" without it)
    return tags


def build_runs() -> list[RunSpec]:
    """60 runs in A, B and C, 3 in X (whose experiment is deleted); seeded, so identical on every call."""
    rng = random.Random(20241127)
    placement = ["A"] * 25 + ["B"] * 18 + ["C"] * 17 + ["X"] * 3
    runs: list[RunSpec] = []
    for index, experiment in enumerate(placement):
        start = BASE_TIME + rng.randrange(20) * 1000  # ~3 runs per start_time: ties
        status = rng.choice(STATUSES)
        end = None if status == "RUNNING" or rng.random() < 0.2 else BASE_TIME + 30_000 + rng.randrange(15) * 1000
        batches = [_random_metrics(rng)]
        if index in SPECIAL_METRICS:
            batches = [[p for p in batches[0] if p[0] not in {q[0] for b in SPECIAL_METRICS[index] for q in b}]]
            batches.extend(SPECIAL_METRICS[index])
        datasets: list[tuple[str, str | None]] = []
        if rng.random() < 0.35:
            for key in rng.sample(sorted(DATASET_FRAMES), rng.randint(1, 2)):
                datasets.append((key, rng.choice(DATASET_CONTEXTS)))
        runs.append(
            RunSpec(
                name=f"{RUN_PREFIXES[index % len(RUN_PREFIXES)]}{index:02d}",
                experiment=experiment,
                start_time=start,
                status=status,
                end_time=end,
                tags=_random_tags(rng),
                params=_random_params(rng),
                metric_batches=batches,
                datasets=datasets,
            )
        )
    for index in (13, 29, 47):
        runs[index].deleted = True
    runs[21].created_as = "renamed-later"
    runs[33].drop_name_tag = True
    return runs


RUNS = build_runs()


@functools.cache
def _dataset_entities() -> dict[str, Any]:
    entities = {}
    for key, (name, frame) in DATASET_FRAMES.items():
        dataset = mlflow.data.from_pandas(pd.DataFrame(frame), name=name, source="s3://diff-bucket/data.parquet")
        entities[key] = dataset._to_mlflow_entity()
    return entities


QUERY_THREADS = 6
"""Queries in flight at once; each runs on both servers in turn."""


@dataclass
class Side:
    """One server with its ids for the logical names used in query templates."""

    label: str
    base_url: str
    run_ids: dict[str, str] = field(default_factory=dict)  # run name -> run id
    experiment_ids: dict[str, str] = field(default_factory=dict)  # experiment key -> id
    creation_times: dict[str, int] = field(default_factory=dict)
    update_times: dict[str, int] = field(default_factory=dict)
    parallel: int = 1  # requests this server gets at once
    _local: threading.local = field(default_factory=threading.local)
    _gate: threading.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self._gate = threading.Semaphore(self.parallel)

    def post(self, path: str, body: dict[str, Any]) -> requests.Response:
        with self._gate:
            return self._post(path, body)

    def _post(self, path: str, body: dict[str, Any]) -> requests.Response:
        session = getattr(self._local, "session", None)
        if session is None:  # one keep-alive session per thread: queries run in parallel
            session = self._local.session = requests.Session()
            # A keep-alive connection the server closed meanwhile is a reset, not an answer: searches are safe to
            # resend. HTTP answers, 5xx included, are never retried.
            retry = Retry(total=3, connect=3, read=3, status=0, allowed_methods=None, backoff_factor=0.1)
            session.mount("http://", HTTPAdapter(max_retries=retry))
        return session.post(f"{self.base_url}/api/2.0/mlflow/{path}", json=body, timeout=120)


def _log_run(client: MlflowClient, side: Side, spec: RunSpec, datasets: dict[str, Any]) -> None:
    experiment_id = side.experiment_ids[spec.experiment]
    run = client.create_run(
        experiment_id, start_time=spec.start_time, tags=spec.tags, run_name=spec.created_as or spec.name
    )
    run_id = run.info.run_id
    side.run_ids[spec.name] = run_id
    for number, batch in enumerate(spec.metric_batches):
        params = [Param(k, v) for k, v in spec.params.items()] if number == 0 else []
        metrics = [Metric(key, value, timestamp, step) for key, value, timestamp, step in batch]
        client.log_batch(run_id, metrics=metrics, params=params)
    if spec.datasets:
        inputs = []
        for key, context in spec.datasets:
            tags = [InputTag(MLFLOW_DATASET_CONTEXT, context)] if context else []
            inputs.append(DatasetInput(datasets[key], tags=tags))
        client.log_inputs(run_id, datasets=inputs)
    if spec.created_as:
        client.update_run(run_id, name=spec.name)
    if spec.drop_name_tag:
        client.delete_tag(run_id, "mlflow.runName")
    if spec.status != "RUNNING":
        if spec.end_time is None:
            client.update_run(run_id, status=spec.status)
        else:
            client.set_terminated(run_id, spec.status, end_time=spec.end_time)
    if spec.deleted:
        client.delete_run(run_id)


def load_dataset(side: Side, parallel: int = 1) -> None:
    """Create the experiments, then the runs (``parallel`` at a time: they are independent), then the rest."""
    client = MlflowClient(side.base_url)
    datasets = _dataset_entities()
    for spec in EXPERIMENTS:
        side.experiment_ids[spec.key] = client.create_experiment(spec.name, tags=spec.tags)
        time.sleep(0.005)  # distinct creation times, so the order never falls back to the ids
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(lambda spec: _log_run(client, side, spec, datasets), RUNS))
    client.set_experiment_tag(side.experiment_ids["C"], "late tag", "set after runs")
    for spec in EXPERIMENTS:
        if spec.deleted:
            client.delete_experiment(side.experiment_ids[spec.key])
        experiment = client.get_experiment(side.experiment_ids[spec.key])
        side.creation_times[spec.key] = experiment.creation_time
        side.update_times[spec.key] = experiment.last_update_time
        time.sleep(0.005)


# With pytest-xdist, keep this module on one worker (under --dist loadgroup) so the dataset is loaded once.
pytestmark = [
    pytest.mark.xdist_group("differential_search"),
    pytest.mark.filterwarnings("ignore:Starting with pandas version 4.0"),  # inside mlflow's dataset digest
]


class BootingServer(Protocol):
    """conftest's ``reference_server``: started, maybe not ready."""

    def wait(self) -> str: ...


@pytest.fixture(scope="module", autouse=True)
def _boot_reference_first(reference_server: BootingServer) -> None:
    """Module-scoped autouse fixtures come before the function-scoped one that starts Stratus: the reference (the
    slower of the two to start) boots meanwhile."""


@pytest.fixture(scope="module")
def sides(reference_server: BootingServer, tracking_uri: str) -> tuple[Side, Side]:
    """Both servers holding the dataset. Stratus is loaded while the reference server boots."""
    stratus = Side("stratus", tracking_uri, parallel=QUERY_THREADS)
    with ThreadPoolExecutor(1) as pool:
        # In parallel: this once lost a run silently, when stratus local ran two invocations of one function at once
        # and Powertools' class-level current_event mixed their requests up (fixed in stratus_local/lambdas.py).
        stratus_loaded = pool.submit(load_dataset, stratus, 4)
        # One request at a time for the reference: without Flask-WTF installed, every runs/search retries importing
        # mlflow.server.auth, and a concurrent request can see the half-imported module (an HTML 500).
        reference = Side("reference", reference_server.wait(), parallel=1)
        load_dataset(reference)  # serially: the reference races on concurrent inserts of one dataset
        stratus_loaded.result()
    return reference, stratus


# ---------------------------------------------------------------------------------------------------------------
# queries
# ---------------------------------------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"<<(run|exp|ctime|mtime|digest):([^>]+)>>")


def substitute(text: str, side: Side) -> str:
    """Fill ``<<run:NAME>>``, ``<<exp:KEY>>``, ``<<ctime:KEY>>``, ``<<mtime:KEY>>`` with this server's values, and
    ``<<digest:KEY>>`` with a dataset's digest (the same on both)."""

    def fill(match: re.Match[str]) -> str:
        kind, name = match.groups()
        if kind == "run":
            return side.run_ids[name]
        if kind == "exp":
            return side.experiment_ids[name]
        if kind == "ctime":
            return str(side.creation_times[name])
        if kind == "digest":
            return str(_dataset_entities()[name].digest)
        return str(side.update_times[name])

    return _PLACEHOLDER.sub(fill, text)


@dataclass(frozen=True)
class RunSearch:
    filter: str = ""
    order_by: tuple[str, ...] = ()
    view: str | None = None
    experiments: tuple[str, ...] = DEFAULT_EXPERIMENTS
    max_results: int | None = None
    page_token: str | None = None

    def describe(self) -> str:
        parts = [f"runs filter={self.filter!r}"]
        if self.order_by:
            parts.append(f"order_by={list(self.order_by)}")
        if self.view:
            parts.append(f"view={self.view}")
        if self.experiments != DEFAULT_EXPERIMENTS:
            parts.append(f"experiments={','.join(self.experiments)}")
        if self.max_results is not None:
            parts.append(f"max_results={self.max_results}")
        if self.page_token is not None:
            parts.append(f"page_token={self.page_token!r}")
        return " ".join(parts)


@dataclass(frozen=True)
class ExperimentSearch:
    filter: str = ""
    order_by: tuple[str, ...] = ()
    view: str | None = None
    max_results: int | None = 1000  # what the mlflow client sends by default; None sends none
    page_token: str | None = None

    def describe(self) -> str:
        parts = [f"experiments filter={self.filter!r}"]
        if self.order_by:
            parts.append(f"order_by={list(self.order_by)}")
        if self.view:
            parts.append(f"view={self.view}")
        if self.max_results != 1000:
            parts.append(f"max_results={self.max_results}")
        if self.page_token is not None:
            parts.append(f"page_token={self.page_token!r}")
        return " ".join(parts)


Query = RunSearch | ExperimentSearch

# Every valid run search reads all ~60 runs on the Stratus side (about half a second each on a busy laptop), so the
# valid queries are chosen, not enumerated; invalid ones are rejected before any read and are cheap.

# ---- metrics

OPERATORS = ("=", "!=", "<", "<=", ">", ">=")
# (key as written: plain, backticks or double quotes; threshold), each tried with every operator
METRIC_CASES = (
    ("acc", "0.5"),
    ("`loss`", "0"),
    ('"loss"', "1.7976931348623157e308"),
    ("epochs", "3"),
    ("val.score", "-5"),
    ("`f1 score`", "0.5"),
)


def metric_queries() -> list[Query]:
    queries: list[Query] = []
    for number, (key, threshold) in enumerate(METRIC_CASES):
        for op in OPERATORS:
            prefix = ("metrics.", "metric.")[(number + len(queries)) % 2]
            queries.append(RunSearch(f"{prefix}{key} {op} {threshold}"))
    queries += [
        # latest-value rules (see SPECIAL_METRICS) and stored NaN/inf
        RunSearch("metrics.acc = 0.1"),
        RunSearch("metrics.acc = 0.7"),
        RunSearch("metrics.acc = 0.2"),
        RunSearch("metrics.acc = 0.3"),
        RunSearch("metrics.loss = 0.5"),
        RunSearch("metrics.loss = -1"),
        RunSearch("metrics.loss = 0.25"),
        RunSearch("metrics.loss = 3"),
        RunSearch("metrics.loss <= -1.7976931348623157e308"),
        RunSearch("metrics.loss > 1e307"),
        RunSearch("metrics.loss != 0.5"),
        # number forms and spacing
        RunSearch("metrics.acc>0.5"),
        RunSearch("metrics.epochs >= 3.0"),
        RunSearch("metrics.`val.score` = 2.5"),
        RunSearch('metric."f1 score" < 0.0'),
        RunSearch("metrics.missing_metric != 0"),
        RunSearch("metrics.acc >= -0.0"),
    ]
    return queries


# ---- params and tags (IS NULL / IS NOT NULL included)


def param_queries() -> list[Query]:
    filters = [
        "params.lr = '0.1'", "param.lr != '0.1'", "parameters.lr = '0.10'", "parameter.lr LIKE '0.%'",
        "params.lr ILIKE '1E%'", "params.lr LIKE '_'", 'params.lr = "9"', "params.lr like '%1%'",
        "params.model = 'ResNet'", "params.model ILIKE 'resnet%'", "params.model LIKE 'res%'",
        "params.model LIKE 'vit\\%b'", "params.model LIKE 'vit%b'", "params.model LIKE 'V_t-B'",
        "params.model ILIKE 'écolenet'", "params.model ILIKE 'ÉCOLENET'", "params.model != 'resnet'",
        "params.model iLike 'RES%'", "params.`optimizer` = 'adam'", "param.`optimizer` ILIKE 'ADAM'",
        "params.optimizer IS NULL", "parameters.optimizer IS NOT NULL", "params.`batch size` = '32'",
        'params."batch size" LIKE \'1%\'', "params.note = ''", "params.note LIKE '%\\_%'", "params.note LIKE '%_%'",
        "params.note LIKE '%\\%%'", "params.note ILIKE '100%'", "params.note != ''", "params.missing != 'x'",
        "params.missing IS NULL", "params.lr is null", "params.lr IS  NOT  NULL",
        # rejected
        "params.lr IN ('0.1', '10')", "params.lr NOT IN ('0.1')", "params.lr > '0.1'", "params.lr = 0.1",
        "params.lr IS NULL AND params.model IS NOT NULL",
    ]  # fmt: skip
    return [RunSearch(text) for text in filters]


def tag_queries() -> list[Query]:
    filters = [
        "tags.team = 'vision'", "tag.team != 'vision'", "tags.team ILIKE 'VISION'", "tags.team LIKE 'v%'",
        "tags.team LIKE 'N_P'", "tags.`data.version` = 'v1'", "tags.`data.version` ILIKE 'v1'",
        "tag.data.version LIKE 'v1%'", 'tags."data.version" = \'v10\'', "tags.`my tag` = 'a b'",
        "tags.`my tag` LIKE '100%'", "tags.`my tag` LIKE 'x\\_y'", "tags.`my tag` LIKE '%\\%'",
        "tags.`my tag` != 'xy'", "tags.priority = '10'", "tags.priority != '-1'", "tags.`mlflow.user` = 'Bob'",
        "tags.`mlflow.user` ILIKE 'bob'", "tags.mlflow.runName LIKE 'RUN%'", "tags.`my tag` IS NULL",
        "tags.`my tag` IS NOT NULL", "tag.priority is not null", "tags.missing = 'x'", "tags.missing IS NULL",
        # rejected
        "tags.team > 'nlp'", "tags.team IN ('nlp', 'NLP')", "tags.priority = 1",
    ]  # fmt: skip
    return [RunSearch(text) for text in filters]


# ---- attributes


ATTRIBUTE_PREFIXES = ("", "attributes.", "attribute.", "attr.", "run.")


def attribute_queries() -> list[Query]:
    clauses = [
        "status = 'FINISHED'", "status != 'RUNNING'", "status LIKE 'F%'", "status ILIKE 'f%'", "status = 'finished'",
        "user_id = 'alice'", "user_id != 'unknown'", "user_id LIKE '%o%'", "user_id ILIKE 'B%'", "user_id LIKE '%\\%'",
        "user_id LIKE 'carol_x'", "run_name = 'run-05'", "run_name = 'renamed-later'", "run_name = 'Run_21'",
        "run_name = 'run%33'", "run_name LIKE 'run%'", "run_name ILIKE 'run%'", "run_name LIKE 'run\\%%'",
        "run_name LIKE 'R__ %'", "run_name != 'run-05'", "`run name` = 'run-10'", "`Run name` LIKE 'Run%'",
        "`Run Name` ILIKE 'trial%'", "`run_name` = 'run-15'", "run_id = '<<run:run-05>>'",
        "run_id != '<<run:run-05>>'", "run_id IN ('<<run:run-05>>', '<<run:Run_01>>', '<<run:run%13>>')",
        "run_id NOT IN ('<<run:run-05>>', '<<run:Run_01>>')", "run_id LIKE '%'", "run_id = \"<<run:trial.04>>\"",
        "artifact_uri LIKE '%<<run:run-05>>%'", "artifact_uri LIKE '%/artifacts'",
        "artifact_uri ILIKE '%<<run:trial.09>>/ARTIFACTS'", f"start_time = {BASE_TIME + 5000}",
        f"start_time >= {BASE_TIME + 10000}", f"start_time < {BASE_TIME + 3000}", f"start_time != {BASE_TIME}",
        f"start_time > {BASE_TIME + 2500.5}", f"created > {BASE_TIME + 15000}", f"Created = {BASE_TIME + 7000}",
        f"end_time > {BASE_TIME + 35000}", f"end_time = {BASE_TIME + 40000}", "end_time != 0",
        f"end_time <= {BASE_TIME + 44000}",
        # rejected
        "status IN ('FAILED', 'KILLED')", "status > 'F'", "status IS NULL", "user_id IN ('alice')",
        "run_name IN ('run-05')", "run_id IN ('nope')", "end_time IS NULL", "start_time LIKE '1%'",
        "start_time = '1'", "start_time IN (1, 2)", "artifact_uri = 1",
    ]  # fmt: skip
    return [RunSearch(ATTRIBUTE_PREFIXES[n % len(ATTRIBUTE_PREFIXES)] + text) for n, text in enumerate(clauses)]


# ---- datasets


def dataset_queries() -> list[Query]:
    digest = "<<digest:train1>>"
    filters = [
        "datasets.name = 'train_ds'", "dataset.name = 'eval-DS'", "datasets.name != 'train_ds'",
        "datasets.name LIKE 'train%'", "datasets.name ILIKE 'EVAL%'", "datasets.name LIKE '%\\%'",
        "datasets.name IN ('train_ds', 'eval-DS')", "datasets.name NOT IN ('train_ds')",
        "datasets.context = 'training'", "datasets.context ILIKE 'test'", "datasets.context != 'eval'",
        "datasets.context IN ('eval', 'training')", f"datasets.digest = '{digest}'", f"datasets.digest != '{digest}'",
        "datasets.name = 'train_ds' AND datasets.context = 'eval'", "datasets.`name` = 'holdout%'",
        # rejected
        "datasets.name > 'a'", "datasets.name IS NULL", "datasets.schema = 'x'",
    ]  # fmt: skip
    return [RunSearch(text) for text in filters]


# ---- conjunctions (seeded)

CONJUNCTION_POOL = (
    "metrics.acc > 0.3", "metric.loss <= 0", "metrics.`f1 score` >= 0.2", "metrics.epochs != 7", "metrics.loss = 0",
    "params.lr = '0.1'", "param.model ILIKE 'res%'", "params.`batch size` != '32'", "params.optimizer IS NULL",
    "params.note LIKE '%\\_%'", "tags.team = 'vision'", "tag.`data.version` LIKE 'v%'", "tags.priority IS NOT NULL",
    "tags.`my tag` != 'xy'", "status = 'FINISHED'", "attributes.status != 'KILLED'", "user_id ILIKE '%a%'",
    f"start_time >= {BASE_TIME + 8000}", f"attr.end_time < {BASE_TIME + 40000}", "run_name LIKE 'run%'",
    "datasets.name = 'train_ds'", "datasets.context = 'training'",
    "run_id IN ('<<run:run-05>>', '<<run:Run_01>>', '<<run:RUN 02>>', '<<run:run%03>>', '<<run:run-10>>')",
)  # fmt: skip


def conjunction_queries() -> list[Query]:
    rng = random.Random(7)
    texts: list[str] = []
    while len(texts) < 24:
        joiner = rng.choice((" AND ", " and ", "  AND  "))
        text = joiner.join(rng.sample(CONJUNCTION_POOL, rng.choice((2, 2, 3))))
        if text not in texts:
            texts.append(text)
    return [RunSearch(text) for text in texts]


# ---- order_by

ORDER_KEYS = (
    "metrics.acc", "metric.loss", "metrics.`f1 score`", "metrics.`val.score`", "metrics.missing", "params.lr",
    "param.model", "parameters.optimizer", "params.`batch size`", "params.note", "tags.team", "tag.`data.version`",
    'tags."my tag"', "tags.priority", "start_time", "attributes.end_time", "run_name", "attribute.status", "user_id",
    "created", "attr.start_time", "run.run_name", "run_id", "artifact_uri",
)  # fmt: skip


def order_by_queries() -> list[Query]:
    directions = (" ASC", " DESC", "", " desc", " asc")
    queries: list[Query] = [
        RunSearch(order_by=(f"{key}{directions[number % len(directions)]}",)) for number, key in enumerate(ORDER_KEYS)
    ]
    combos = [
        ("metrics.acc DESC", "params.lr ASC"), ("params.lr", "metrics.acc DESC"), ("metrics.loss DESC",),
        ("tags.team DESC", "metrics.loss", "run_name DESC"), ("status", "end_time DESC"), ("end_time", "run_name"),
        ("user_id DESC", "start_time ASC"), ("params.model", "tags.`data.version` DESC", "metrics.epochs"),
        ("metrics.loss ASC", "metrics.acc ASC"), ("tags.priority", "params.optimizer DESC"),
        ("metrics.`f1 score` DESC", "attributes.start_time DESC"), ("Created",), ("params.lr DESC",),
    ]  # fmt: skip
    queries += [RunSearch(order_by=combo) for combo in combos]
    queries += [
        RunSearch("metrics.acc > 0.2", ("metrics.acc DESC",)),
        RunSearch("params.lr LIKE '%1%'", ("params.lr DESC", "run_name")),
        RunSearch("tags.team ILIKE 'v%'", ("tags.team", "metrics.loss DESC")),
    ]
    return queries


# ---- view types, several experiments, paging


def view_queries() -> list[Query]:
    every = ("A", "B", "C", "X")
    queries: list[Query] = []
    for view in ("ACTIVE_ONLY", "DELETED_ONLY", "ALL"):
        queries += [RunSearch(view=view, experiments=ids) for ids in (("A",), ("C", "A"), every, ("X",), ("D",))]
        queries.append(RunSearch("run_name LIKE '%3%'", ("run_name DESC",), view=view, experiments=every))
    queries += [
        RunSearch(view="DELETED_ONLY"),
        RunSearch(experiments=("B", "B")),
        RunSearch(experiments=("A", "<<exp:B>>")),
        RunSearch(experiments=("0<<exp:C>>",)),  # "01": the reference reads ids as integers
    ]
    return queries


def paging_queries() -> list[Query]:
    return [
        RunSearch(max_results=1, experiments=("C",)),
        RunSearch(max_results=7),
        RunSearch(max_results=57),
        RunSearch(max_results=1000),
        RunSearch(order_by=("metrics.acc DESC",), max_results=10),
        RunSearch("params.lr != '0.1'", ("params.lr", "run_name DESC"), max_results=3),
        RunSearch(order_by=("tags.team",), view="ALL", max_results=9, experiments=("A", "B", "C", "X")),
        RunSearch("metrics.loss <= 0", ("metrics.loss DESC",), max_results=2),
        RunSearch(max_results=50000, experiments=("D",)),
        RunSearch(page_token="eyJvZmZzZXQiOiAxMDAwMH0="),  # {"offset": 10000}
        # rejected
        RunSearch(max_results=0),
        RunSearch(max_results=-3),
        RunSearch(max_results=50001),
        RunSearch(page_token="not a token"),
        RunSearch(page_token="eyJvZmZzZXQiOiAwfQ=="),  # {"offset": 0}
        RunSearch(page_token="eyJvZmZzZXQiOiAtMX0="),  # {"offset": -1}
        RunSearch(page_token="bnVsbA=="),  # null
    ]


# ---- invalid run filters and order_bys (all rejected before any read)


def invalid_run_queries() -> list[Query]:
    filters = [
        "metrics.acc > 0.5 OR params.lr = '0.1'", "metrics.acc", "metrics.acc >", "acc > 0.5", "foo.acc > 1",
        "metrics.acc = 'x'", "metrics.acc > x", "params.lr = x", "tags.team LIKE 5", "status = FINISHED",
        "attributes.status IS NULL", "metrics.acc IS NULL", "metrics.acc IS NOT NULL", "run_id IN ()",
        "run_id IN (1, 2)", "run_id = ('a')", "run_id IN ('a', 1)", "params.lr = 'a' AND", "(metrics.acc > 1)",
        "metrics.acc > 1; params.x = 'y'", "metrics.acc >> 1", "metrics.acc == 1", "metrics.acc <> 1",
        "params.lr ~ 'a'", "datasets.foo = 'x'", "`metrics`.acc > 1", "metrics.`acc > 1", "params.lr = 'unterminated",
        "metrics.acc like 1", "params.model not like 'x'", "params.lr != NULL", "metrics.acc BETWEEN 0 AND 1",
        "NOT params.lr = '1'", "attributes.experiment_id = '1'", "end_time IS NOT NULL",
        "metrics.acc > 1 AND AND metrics.acc < 2", "AND metrics.acc > 1", "metrics. > 1", ".acc > 1",
        "metrics.acc > 1 metrics.acc < 2", "params.lr IN 'a'", "tags.team = 'a' OR", "1 = 1", "'a' = params.lr",
        "metrics.acc > 1e", "metrics.acc > --1", "metrics.acc > +1", "params.`lr = 'x'", "run_name IN ('a', 'b')",
        "datasets.name IN ()", "datasets.context IS NOT NULL", "tags.team == 'x'",
        "params.lr = 'x' AND metrics.acc > 'y'", "artifact_uri IN ('x')", "run_id IN ('a',)", "run_id NOT IN 'a'",
        "attribute.start_time > '1'", "start_time = 1e3", "status IN ('FINISHED'", "metrics.acc > 0.5)",
    ]  # fmt: skip
    queries: list[Query] = [RunSearch(text) for text in filters]
    order_bys = [
        ("metrics.acc ASCENDING",), ("metrics.acc DESC ASC",), ("foo.bar",), ("acc",), ("params.lr DESC, metrics.acc",),
        ("datasets.name",), ("metrics.acc", "metrics.acc DESC"), ("",), (" ",), ("`metrics.acc`",), ("metrics.`acc",),
        ("attributes.experiment_id",), ("attributes.`run name`",), ("metrics.acc ASC DESC",),
        ("metric.acc", "metrics.acc"), ("start_time", "created"), ("timestamp",), ("timestamp DESC",), ("metrics.",),
        ("run name",), ("tags.`my tag` desc", "tags.`my tag`"),
    ]  # fmt: skip
    queries += [RunSearch(order_by=order_by) for order_by in order_bys]
    queries += [
        RunSearch("metrics.acc >", ("foo.bar",)),
        RunSearch("metrics.acc = 'x'", ("foo.bar",)),
        RunSearch("params.lr > '1'", ("metrics.acc ASCENDING",)),
        RunSearch("params.lr > '1'", max_results=0),
        RunSearch("params.lr > '1'", page_token="not a token"),
        RunSearch("params.lr > '1'", experiments=("nope",)),
        RunSearch(page_token="not a token", experiments=("nope",)),
        RunSearch(experiments=("nope",)),
        RunSearch(experiments=("1.5",)),
        RunSearch(experiments=("999999",)),
        RunSearch(experiments=()),
        RunSearch(view="SOMETIMES"),
    ]
    return queries


# ---- experiments (cheap on both sides)


def experiment_queries() -> list[Query]:
    filters = [
        "name = 'diff Alpha_1'", "name = 'diff alpha_1'", "name != 'diff Alpha_1'", "name LIKE 'diff%'",
        "name LIKE 'Diff%'", "name ILIKE 'diff%'", "name LIKE 'diff alpha_1'", "name LIKE '%\\%%'",
        "name LIKE '%\\_%'", "name ILIKE '%ALPHA%'", "name LIKE '%_'", "attribute.name = 'Diff beta 2'",
        "name = \"DIFF delta_\"", "name LIKE 'Default'", "name ILIKE 'default'",
        "tags.team = 'Vision'", "tags.team = 'vision'", "tags.team ILIKE 'VISION'", "tags.team LIKE 'V%'",
        "tags.team != 'nlp'", "tag.team IS NULL", "tags.team IS NOT NULL", "tags.stage LIKE '%d%'",
        "tags.`note key` = '100%'", "tags.`note key` LIKE '%\\%'", "tags.\"note key\" IS NOT NULL",
        "tags.`mlflow.note.content` ILIKE 'hello'", "tags.priority = '10'", "tags.`late tag` IS NOT NULL",
        "tags.team = 'Vision' AND name LIKE '%1'", "tags.team ILIKE 'vision' AND tags.stage = 'dev'",
        "experiment_id = '<<exp:A>>'", "experiment_id != '<<exp:A>>'", "experiment_id IN ('<<exp:A>>', '<<exp:C>>')",
        "experiment_id NOT IN ('<<exp:A>>', '0')", "experiment_id = '0'", "attribute.experiment_id IN ('<<exp:D>>')",
        "experiment_id = '0<<exp:B>>'",
        "creation_time > <<ctime:B>>", "creation_time >= <<ctime:B>>", "creation_time < <<ctime:C>>",
        "creation_time = <<ctime:D>>", "creation_time != <<ctime:A>>", "creation_time <= <<ctime:A>>",
        "last_update_time > <<mtime:B>>", "last_update_time = <<mtime:C>>", "last_update_time < <<mtime:D>>",
        "last_update_time >= 0",
    ]  # fmt: skip
    queries: list[Query] = [ExperimentSearch(text) for text in filters]
    for view in ("ACTIVE_ONLY", "DELETED_ONLY", "ALL"):
        queries.append(ExperimentSearch(view=view))
        queries.append(ExperimentSearch("tags.team ILIKE 'vision'", view=view))
    order_bys = [
        ("name",), ("name DESC",), ("name ASC",), ("attribute.name DESC",), ("creation_time",), ("creation_time DESC",),
        ("last_update_time DESC",), ("last_update_time",), ("experiment_id",), ("experiment_id DESC",),
        ("name", "creation_time DESC"), ("last_update_time DESC", "name"),
    ]  # fmt: skip
    queries += [ExperimentSearch(order_by=order_by, view="ALL") for order_by in order_bys]
    queries += [ExperimentSearch("name LIKE '%a%'", order_by=order_by) for order_by in order_bys[:4]]
    for size in (1, 2, 3):
        queries.append(ExperimentSearch(max_results=size, view="ALL"))
        queries.append(ExperimentSearch("name ILIKE 'diff%'", ("name",), max_results=size))
    queries.append(ExperimentSearch(max_results=None))
    return queries


def invalid_experiment_queries() -> list[Query]:
    filters = [
        "name = 'a' OR name = 'b'", "metrics.x > 1", "params.x = '1'", "attributes.name = 'x'", "attribute.foo = 'x'",
        "name > 'a'", "name IN ('a')", "experiment_id = 'abc'", "experiment_id > '1'", "experiment_id = 1",
        "creation_time = 'x'", "creation_time LIKE '1%'", "creation_time = 1.5", "tags.team IN ('a')",
        "tags.team > 'a'", "name like 'x%'", "name IS NULL", "tag.`team = 'x'", "name = ", "foo",
        "name = 'x' AND", "experiment_id IN ()", "experiment_id IN ('a')", "experiment_id = ('1')",
        "tags.team = x", "name = x", "datasets.name = 'x'", "tags.team ilike 'v%'", "TAGS.team = 'x'",
        "attribute.`name` = 'diff Alpha_1'", "`tags`.team = 'x'", "name LIKE 5",
    ]  # fmt: skip
    queries: list[Query] = [ExperimentSearch(text) for text in filters]
    order_bys = [
        ("tags.team",), ("name ASCC",), ("foo",), ("attribute.foo",), ("attributes.name",), ("name", "name"),
        ("",), ("`name`",), ("name DESC ASC",), ("metrics.acc",),
    ]  # fmt: skip
    queries += [ExperimentSearch(order_by=order_by) for order_by in order_bys]
    queries += [
        ExperimentSearch(max_results=0),
        ExperimentSearch(max_results=50001),
        ExperimentSearch(page_token="garbage"),
        ExperimentSearch(view="SOMETIMES"),
        ExperimentSearch("name > 'a'", ("foo",)),
        ExperimentSearch("name > 'a'", max_results=0),
    ]
    return queries


FAMILIES: dict[str, Callable[[], list[Query]]] = {
    "metrics": metric_queries,
    "params": param_queries,
    "tags": tag_queries,
    "attributes": attribute_queries,
    "datasets": dataset_queries,
    "conjunctions": conjunction_queries,
    "order_by": order_by_queries,
    "view_types": view_queries,
    "paging": paging_queries,
    "invalid_runs": invalid_run_queries,
    "experiments": experiment_queries,
    "invalid_experiments": invalid_experiment_queries,
}

# Differences kept on purpose, or reference bugs: query description -> reason. Each runs as a strict xfail, so a
# difference that goes away shows up. See docs/decisions.md, "Where Stratus knowingly differs".
_FIVE_HUNDRED = "reference bug: a user error answered 500 (the client retries 5xx); Stratus answers 400"
_SQL_TEXT = "same error_code (BAD_REQUEST); the reference's message carries the SQL statement, Stratus's does not"
KNOWN_DIFFERENCES: dict[str, str] = {
    "runs filter='' order_by=['metrics.acc', 'metrics.acc DESC']": _FIVE_HUNDRED,
    "runs filter='' order_by=['metric.acc', 'metrics.acc']": _FIVE_HUNDRED,
    "runs filter='' order_by=['start_time', 'created']": _FIVE_HUNDRED,
    "runs filter='' order_by=['tags.`my tag` desc', 'tags.`my tag`']": _FIVE_HUNDRED,
    "runs filter='' page_token='bnVsbA=='": f"{_FIVE_HUNDRED} (a page token holding JSON null)",
    "runs filter='' page_token='eyJvZmZzZXQiOiAtMX0='": (
        "a forged token {'offset': -1}: SQLite reads a negative OFFSET as 0 and the reference answers the first "
        "page; Stratus refuses forged tokens with 400 (docs/decisions.md, Page tokens)"
    ),
    "runs filter=\"run_id = ('a')\"": _SQL_TEXT,
    "experiments filter=\"experiment_id = ('1')\"": _SQL_TEXT,
    "experiments filter='' max_results=None": (
        "deliberate: without max_results the reference answers 400, Stratus uses 1000 (docs/decisions.md)"
    ),
}


# ---------------------------------------------------------------------------------------------------------------
# running a query on one server
# ---------------------------------------------------------------------------------------------------------------

_ENTITY_PREFIXES = {
    "metrics": "metric", "metric": "metric",
    "params": "param", "param": "param", "parameters": "param", "parameter": "param",
    "tags": "tag", "tag": "tag",
    "attributes": "attr", "attribute": "attr", "attr": "attr", "run": "attr",
}  # fmt: skip
_ATTRIBUTE_ALIASES = {"created": "start_time", "Created": "start_time"}
SERVER_SPECIFIC_KEYS = ("run_id", "artifact_uri")
"""Attributes whose values differ between the servers (they hold run ids): each side is checked on its own."""


@dataclass(frozen=True)
class OrderKey:
    entity: str  # metric, param, tag or attr
    key: str
    descending: bool

    @classmethod
    def parse(cls, element: str) -> OrderKey:
        """A loose reading of a valid order_by element, enough to find what each run is sorted on."""
        words = element.strip().rsplit(None, 1)
        descending = len(words) == 2 and words[1].lower() == "desc"
        text = words[0] if len(words) == 2 and words[1].lower() in ("asc", "desc") else element.strip()
        prefix, dot, key = text.partition(".")
        if not (dot and prefix in _ENTITY_PREFIXES):
            return cls("attr", _ATTRIBUTE_ALIASES.get(text, text), descending)
        entity, key = _ENTITY_PREFIXES[prefix], key.strip('`"')
        return cls(entity, _ATTRIBUTE_ALIASES.get(key, key) if entity == "attr" else key, descending)

    def read(self, run: dict[str, Any]) -> object:
        """The run's value for this key, as the server returned it."""
        if self.entity == "attr":
            return run["info"].get(self.key)
        section = {"metric": "metrics", "param": "params", "tag": "tags"}[self.entity]
        for item in run.get("data", {}).get(section, []):
            if item["key"] == self.key:
                return repr(item["value"])
        return None


def canonical_run_order(runs: Sequence[dict[str, Any]], order_by: Sequence[str]) -> list[str]:
    """Run names in order, with each group of exactly tied runs (final tie-break: run id) sorted by name.

    Ordered on run_id or artifact_uri, the order is the server's own: the names come sorted, and each side is
    checked to be sorted on its own values (a run named ``!unsorted`` is added when it is not).
    """
    keys = [OrderKey.parse(element) for element in order_by]
    if any(key.entity == "attr" and key.key in SERVER_SPECIFIC_KEYS for key in keys):
        values = [keys[0].read(run) for run in runs]
        in_order = values == sorted(values, reverse=keys[0].descending)  # type: ignore[type-var]
        return sorted(run["info"]["run_name"] for run in runs) + ([] if in_order else ["!unsorted"])
    names: list[str] = []
    group: list[str] = []
    previous: object = object()
    for run in runs:
        signature = (*(repr(key.read(run)) for key in keys), run["info"].get("start_time"))
        if signature != previous:
            names.extend(sorted(group))
            group = []
            previous = signature
        group.append(run["info"]["run_name"])
    names.extend(sorted(group))
    return names


_SET_LITERAL = re.compile(r"\{'[^{}]*'\}")


def normalize_message(message: str, side: Side) -> str:
    """Sort set literals (printed in hash-seed order by the reference) and put run ids back as placeholders."""
    for name, run_id in side.run_ids.items():
        message = message.replace(run_id, f"<<run:{name}>>")
    return _SET_LITERAL.sub(lambda m: "{" + ", ".join(sorted(m.group(0)[1:-1].split(", "))) + "}", message)


def _error(response: requests.Response, side: Side) -> Outcome:
    try:
        body = response.json()
    except ValueError:
        return ("error", f"HTTP {response.status_code}", response.text[:300])
    return ("error", body.get("error_code"), normalize_message(str(body.get("message")), side))


def run_search(query: RunSearch, side: Side) -> Outcome:
    body: dict[str, Any] = {
        "experiment_ids": [
            substitute(e, side) if "<<" in e else side.experiment_ids.get(e, e) for e in query.experiments
        ]
    }
    if query.filter:
        body["filter"] = substitute(query.filter, side)
    if query.order_by:
        body["order_by"] = list(query.order_by)
    if query.view:
        body["run_view_type"] = query.view
    if query.max_results is not None:
        body["max_results"] = query.max_results
    if query.page_token is not None:
        body["page_token"] = query.page_token
    runs: list[dict[str, Any]] = []
    sizes: list[int] = []
    for _ in range(100):
        response = side.post("runs/search", body)
        if response.status_code != 200:
            return _error(response, side)
        payload = response.json()
        page = payload.get("runs", [])
        runs.extend(page)
        sizes.append(len(page))
        token = payload.get("next_page_token")
        if not token:
            break
        body["page_token"] = token
    names = canonical_run_order(runs, query.order_by)
    return ("ok", names, sizes if query.max_results is not None else None)


def experiment_search(query: ExperimentSearch, side: Side) -> Outcome:
    body: dict[str, Any] = {}
    if query.filter:
        body["filter"] = substitute(query.filter, side)
    if query.order_by:
        body["order_by"] = list(query.order_by)
    if query.view:
        body["view_type"] = query.view
    if query.max_results is not None:
        body["max_results"] = query.max_results
    if query.page_token is not None:
        body["page_token"] = query.page_token
    names: list[str] = []
    for _ in range(500):
        response = side.post("experiments/search", body)
        if response.status_code != 200:
            return _error(response, side)
        payload = response.json()
        names.extend(e["name"] for e in payload.get("experiments", []))
        token = payload.get("next_page_token")
        if not token:
            break
        body["page_token"] = token
    # Other e2e tests share the Stratus server: keep only this module's experiments (a subsequence keeps the order).
    return ("ok", [name for name in names if name in EXPERIMENT_NAMES], None)


def outcome_of(query: Query, side: Side) -> Outcome:
    if isinstance(query, RunSearch):
        return run_search(query, side)
    return experiment_search(query, side)


def compare(query: Query, sides: tuple[Side, Side]) -> tuple[Mismatch | None, Outcome]:
    return differential.compare(query, sides, outcome_of)


def compare_all(queries: Sequence[Query], sides: tuple[Side, Side]) -> list[tuple[Mismatch | None, Outcome]]:
    return differential.compare_all(queries, sides, outcome_of, QUERY_THREADS)


# ---------------------------------------------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------------------------------------------


def test_dataset_loaded_alike(sides: tuple[Side, Side]) -> None:
    """Every later comparison is vacuous unless both servers hold the same runs."""
    reference, stratus = sides
    everything = RunSearch(view="ALL", experiments=("A", "B", "C", "X"))
    expected = outcome_of(everything, reference)
    assert expected[0] == "ok"
    assert len(expected[1]) == len(RUNS)
    assert outcome_of(everything, stratus) == expected


@pytest.mark.parametrize("family", list(FAMILIES))
def test_search_matches_reference(family: str, sides: tuple[Side, Side]) -> None:
    queries = [q for q in FAMILIES[family]() if q.describe() not in KNOWN_DIFFERENCES]
    mismatches: list[Mismatch] = []
    non_empty = 0
    for mismatch, expected in compare_all(queries, sides):
        if mismatch is not None:
            mismatches.append(mismatch)
        elif expected[0] == "ok" and expected[1]:
            non_empty += 1
    report = "\n".join(m.report() for m in mismatches)
    assert not mismatches, f"{len(mismatches)} of {len(queries)} {family} queries differ:\n{report}"
    if not family.startswith("invalid"):
        assert non_empty > 0, f"no {family} query returned anything: the comparison proves nothing"


def _known_queries() -> list[Any]:
    by_description = {q.describe(): q for family in FAMILIES.values() for q in family()}
    params = []
    for description, reason in KNOWN_DIFFERENCES.items():
        query = by_description.get(description)
        if query is None:  # a stale entry fails (not xfails) below
            params.append(pytest.param(None, id=description))
        else:
            params.append(pytest.param(query, id=description, marks=pytest.mark.xfail(strict=True, reason=reason)))
    return params


@pytest.mark.parametrize("query", _known_queries())
def test_known_difference(query: Query | None, sides: tuple[Side, Side]) -> None:
    assert query is not None, "KNOWN_DIFFERENCES names a query that no family generates"
    mismatch, _ = compare(query, sides)
    assert mismatch is None, mismatch.report()
