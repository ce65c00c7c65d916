"""Differential test of the model-registry searches: the same registry in the reference ``mlflow server`` (SQLite)
and in Stratus, the same ``registered-models/search`` and ``model-versions/search`` requests sent to both as the
client sends them (GET, query parameters, ``order_by`` repeated), and the answers compared.

The registry is written through the stock ``MlflowClient`` on both sides, one operation at a time and a few
milliseconds apart, in one fixed order: every timestamp order is then the same on both servers, and every order ends
on a unique tie-break (``name``; ``name`` then ``version``), so results are compared as sequences, never as sets.
The only ties are between entities one operation updates together (a stage move archiving other versions), which
those tie-breaks order alike. The one model renamed is renamed first, before any other entity exists (what a rename
does to its versions' timestamps is checked on its own, below).

What is compared, per query:

* registered models: the names, in order; model versions: ``name#version``, in order. Every page is walked. Only
  this module's entities (names starting with ``dreg-``) are kept: the Stratus session is shared with other e2e tests.
* page sizes, when ``max_results`` is not the client's default; those queries are scoped to ``name LIKE 'dreg-%'``,
  and a page holding another test's entity is reported instead of its size.
* errors: the HTTP status, ``error_code`` and ``message`` (run ids put back as placeholders; set literals sorted: the
  reference prints them in hash-seed order).

Registered-model filters are sent twice: as written, and as ``MlflowClient.search_registered_models`` sends them
(with `` AND tag.`mlflow.prompt.is_prompt` != 'true' `` appended). Queries are grouped in families, one test per
family reporting every mismatch; known differences run as strict xfails, one per query.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import differential
import pytest
import requests
from differential import Mismatch, Outcome
from mlflow import MlflowClient
from mlflow.prompt.registry_utils import add_prompt_filter_string
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

PREFIX = "dreg-"
SCOPE = f"name LIKE '{PREFIX}%'"
EXPERIMENT_NAME = f"{PREFIX}runs"
RUN_KEYS = ("r1", "r2", "r3")
PROMPT_TAG = "mlflow.prompt.is_prompt"
MODEL_PAGE_DEFAULT = 100  # what MlflowClient.search_registered_models sends
VERSION_PAGE_DEFAULT = 10_000  # what MlflowClient.search_model_versions sends
MAX_PAGES = 60  # the longest walk is ~30 pages of one version; the reference pages forever with max_results=-1
OPERATION_GAP_SECONDS = 0.004
"""Between two writes, so that no two timestamps of one side coincide (timestamps are milliseconds)."""

# ---------------------------------------------------------------------------------------------------------------
# the registry (deterministic)
# ---------------------------------------------------------------------------------------------------------------

Operation = tuple[Any, ...]


def _model(name: str, tags: dict[str, str] | None = None, description: str | None = None) -> Operation:
    return ("model", name, tags or {}, description)


def _version(name: str, run: str, tags: dict[str, str] | None = None, description: str | None = None) -> Operation:
    return ("version", name, run, tags or {}, description)


RENAMED = ("dreg-old name", "dreg-Delta")

OPERATIONS: tuple[Operation, ...] = (
    # First, so that the rename's effect on its version's last_updated_timestamp (which differs, see
    # test_renaming_a_model_updates_its_versions_as_the_reference_does) changes no order between entities.
    _model(RENAMED[0], {"team": "speech"}),
    _version(RENAMED[0], "r3", {"env": "prod"}),
    ("rename", *RENAMED),
    _model("dreg-Alpha", {"team": "vision", "stage": "prod", "owner": "ann"}, "the first"),
    _version("dreg-Alpha", "r1", {"env": "prod", "quality": "good"}, "v one"),
    _version("dreg-Alpha", "r2", {"env": "staging"}),
    _version("dreg-Alpha", "r1"),
    _model("dreg-alpha", {"team": "Vision"}),
    _version("dreg-alpha", "r2", {"env": "prod"}),
    _model("dreg-ALPHA_2", {"team": "nlp", "note key": "100%"}, "second 100%"),
    _version("dreg-ALPHA_2", "r3", {"env": "dev"}),
    _version("dreg-ALPHA_2", "r3", {"env": "prod", "quality": "bad"}),
    _version("dreg-ALPHA_2", "r3", {"env": "prod", "quality": "good"}),
    _version("dreg-ALPHA_2", "r1", {"my tag": "a b"}),
    _model("dreg-beta%1", {"team": "nlp", "priority": "10"}),
    _version("dreg-beta%1", "r1", {"data.version": "v1"}),
    _version("dreg-beta%1", "r1"),
    _model("dreg-beta 2", {"data.version": "v1", "my tag": "a b"}, "spaced"),
    _version("dreg-beta 2", "r2", {"my tag": "x_y"}),
    _version("dreg-beta 2", "r2", {"env": "staging"}),
    _version("dreg-beta 2", "r3", {"my tag": "xy"}),
    _model("dreg-gamma_x", {"priority": "2"}),
    *(_version("dreg-gamma_x", RUN_KEYS[n % 3], {"env": ("dev", "prod", "Prod")[n % 3]}) for n in range(5)),
    _model("dreg-gammaXx"),
    _version("dreg-gammaXx", "r2", {"quality": "good"}),
    _model("dreg-epsilon", {"team": "vision"}),
    _version("dreg-epsilon", "r1"),
    _model("dreg-zeta", description="no versions"),
    _model("dreg-eta"),
    _version("dreg-eta", "r2"),
    _model("dreg-theta", {"team": "nlp"}),
    _version("dreg-theta", "r1"),
    _version("dreg-theta", "r2", {"env": "prod"}),
    _model("dreg-Éclair", {"team": "Végé"}),
    _version("dreg-Éclair", "r3"),
    _model("dreg-gone", {"team": "vision"}),
    _version("dreg-gone", "r1", {"env": "prod"}),
    ("prompt", "dreg-prompt_a", "Hello {{name}}", {"team": "nlp"}),
    ("prompt", "dreg-prompt_a", "Hello again {{name}}", {}),
    ("prompt", "dreg-prompt-b", "Bye {{name}}", {"team": "vision"}),
    # moves, after every entity exists: they change last_updated_timestamp (some of them)
    ("stage", "dreg-Alpha", "1", "Production", False),
    ("stage", "dreg-Alpha", "2", "Staging", False),
    ("stage", "dreg-ALPHA_2", "2", "Production", False),
    ("stage", "dreg-ALPHA_2", "3", "Production", True),  # archives version 2
    ("stage", "dreg-gamma_x", "1", "Archived", False),
    ("stage", "dreg-beta 2", "1", "Staging", False),
    ("alias", "dreg-Alpha", "champion", "1"),
    ("alias", "dreg-Alpha", "challenger", "2"),
    ("alias", "dreg-ALPHA_2", "champion", "3"),
    ("alias", "dreg-gamma_x", "prod", "5"),
    ("delete_version", "dreg-beta 2", "2"),
    ("delete_version", "dreg-gamma_x", "5"),  # its alias goes with it
    _version("dreg-gamma_x", "r3", {"env": "dev"}),  # version 6: numbers are never reused
    ("update_model", "dreg-alpha", "described later"),
    ("update_version", "dreg-Alpha", "3", "retrained"),
    ("model_tag", "dreg-gammaXx", "team", "nlp"),
    ("delete_model_tag", "dreg-Alpha", "owner"),
    ("version_tag", "dreg-beta%1", "2", "env", "prod"),
    ("delete_version_tag", "dreg-Alpha", "2", "env"),
    ("delete_model", "dreg-gone"),
    # the prompt tag on models and versions that are not prompts (the client refuses to touch them afterwards)
    ("model_tag", "dreg-epsilon", PROMPT_TAG, "TRUE"),
    ("model_tag", "dreg-eta", PROMPT_TAG, "false"),
    ("version_tag", "dreg-theta", "2", PROMPT_TAG, "true"),
)

MODEL_NAMES = (
    "dreg-ALPHA_2", "dreg-Alpha", "dreg-Delta", "dreg-alpha", "dreg-beta 2", "dreg-beta%1", "dreg-epsilon", "dreg-eta",
    "dreg-gammaXx", "dreg-gamma_x", "dreg-theta", "dreg-zeta", "dreg-Éclair",
)  # fmt: skip
"""What a search for every model finds (prompts left out), in name order."""
VISIBLE_VERSIONS = 22
"""What a search for every version finds: 27 created, less 2 deleted, 1 of a deleted model, 2 of dreg-theta (one of
its versions is tagged as a prompt)."""

QUERY_THREADS = 6
"""Queries in flight at once; each runs on both servers in turn."""


@dataclass
class Side:
    """One server, with its run ids for the run keys used in query templates."""

    label: str
    base_url: str
    run_ids: dict[str, str] = field(default_factory=dict)  # run key -> run id
    parallel: int = 1  # requests this server gets at once
    _local: threading.local = field(default_factory=threading.local)
    _gate: threading.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self._gate = threading.Semaphore(self.parallel)

    def get(self, path: str, params: dict[str, Any]) -> requests.Response:
        with self._gate:
            session = getattr(self._local, "session", None)
            if session is None:  # one keep-alive session per thread: queries run in parallel
                session = self._local.session = requests.Session()
                # A reset keep-alive connection is resent; HTTP answers, 5xx included, never are.
                retry = Retry(total=3, connect=3, read=3, status=0, allowed_methods=None, backoff_factor=0.1)
                session.mount("http://", HTTPAdapter(max_retries=retry))
            return session.get(f"{self.base_url}/api/2.0/mlflow/{path}", params=params, timeout=120)


def _apply(client: MlflowClient, side: Side, operation: Operation) -> None:  # noqa: C901 - one branch per kind
    kind, name, *rest = operation
    # Copies: both sides load at once, and register_prompt adds its own keys to the tags dict it is given.
    rest = [dict(item) if isinstance(item, dict) else item for item in rest]
    if kind == "model":
        tags, description = rest
        client.create_registered_model(name, tags=tags, description=description)
    elif kind == "version":
        run_key, tags, description = rest
        run_id = side.run_ids[run_key]
        client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id, tags=tags, description=description)
    elif kind == "prompt":
        template, tags = rest
        client.register_prompt(name, template, tags=tags)
    elif kind == "stage":
        version, stage, archive = rest
        client.transition_model_version_stage(name, version, stage, archive_existing_versions=archive)
    elif kind == "alias":
        alias, version = rest
        client.set_registered_model_alias(name, alias, version)
    elif kind == "delete_version":
        client.delete_model_version(name, rest[0])
    elif kind == "update_model":
        client.update_registered_model(name, description=rest[0])
    elif kind == "update_version":
        client.update_model_version(name, rest[0], description=rest[1])
    elif kind == "model_tag":
        client.set_registered_model_tag(name, *rest)
    elif kind == "delete_model_tag":
        client.delete_registered_model_tag(name, rest[0])
    elif kind == "version_tag":
        client.set_model_version_tag(name, *rest)
    elif kind == "delete_version_tag":
        client.delete_model_version_tag(name, *rest)
    elif kind == "rename":
        client.rename_registered_model(name, rest[0])
    elif kind == "delete_model":
        client.delete_registered_model(name)
    else:
        raise AssertionError(f"unknown operation {kind}")


def load_registry(side: Side) -> None:
    """One experiment with three runs, then every operation in order, a few milliseconds apart."""
    client = MlflowClient(side.base_url)
    experiment_id = client.create_experiment(EXPERIMENT_NAME)
    for key in RUN_KEYS:
        side.run_ids[key] = client.create_run(experiment_id, run_name=f"{PREFIX}{key}").info.run_id
    for operation in OPERATIONS:
        _apply(client, side, operation)
        time.sleep(OPERATION_GAP_SECONDS)


# With pytest-xdist, keep this module on one worker (under --dist loadgroup) so the registry is loaded once.
pytestmark = [
    pytest.mark.xdist_group("differential_registry"),
    pytest.mark.filterwarnings("ignore:.*transition_model_version_stage.* is deprecated:FutureWarning"),
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
    """Both servers holding the registry. Stratus is loaded while the reference server boots."""
    stratus = Side("stratus", tracking_uri, parallel=QUERY_THREADS)
    with ThreadPoolExecutor(1) as pool:
        stratus_loaded = pool.submit(load_registry, stratus)
        # One request at a time for the reference: concurrent requests to it once answered an HTML 500 while
        # mlflow.server.auth was half imported (see test_differential_search.py).
        reference = Side("reference", reference_server.wait(), parallel=1)
        load_registry(reference)
        stratus_loaded.result()
    return reference, stratus


# ---------------------------------------------------------------------------------------------------------------
# queries
# ---------------------------------------------------------------------------------------------------------------

_RUN_PLACEHOLDER = re.compile(r"<<run:([^>]+)>>")


def substitute(text: str, side: Side) -> str:
    """Fill ``<<run:KEY>>`` with this server's run id."""
    return _RUN_PLACEHOLDER.sub(lambda match: side.run_ids[match.group(1)], text)


@dataclass(frozen=True)
class ModelSearch:
    filter: str = ""
    order_by: tuple[str, ...] = ()
    max_results: Any = MODEL_PAGE_DEFAULT  # None sends none
    page_token: str | None = None
    client: bool = False  # send the filter as MlflowClient.search_registered_models does

    path = "registered-models/search"
    answer_key = "registered_models"
    default_page = MODEL_PAGE_DEFAULT

    def sent_filter(self) -> str:
        return (add_prompt_filter_string(self.filter, False) or "") if self.client else self.filter

    def describe(self) -> str:
        parts = [f"models{' via client' if self.client else ''} filter={self.filter!r}"]
        return " ".join(parts + _describe_common(self))


@dataclass(frozen=True)
class VersionSearch:
    filter: str = ""
    order_by: tuple[str, ...] = ()
    max_results: Any = VERSION_PAGE_DEFAULT
    page_token: str | None = None

    path = "model-versions/search"
    answer_key = "model_versions"
    default_page = VERSION_PAGE_DEFAULT

    def sent_filter(self) -> str:
        return self.filter

    def describe(self) -> str:
        return " ".join([f"versions filter={self.filter!r}", *_describe_common(self)])


Query = ModelSearch | VersionSearch


def _describe_common(query: Query) -> list[str]:
    parts = []
    if query.order_by:
        parts.append(f"order_by={list(query.order_by)}")
    if query.max_results != query.default_page:
        parts.append(f"max_results={query.max_results!r}")
    if query.page_token is not None:
        parts.append(f"page_token={query.page_token!r}")
    return parts


def _both_ways(filters: Sequence[str], order_by: tuple[str, ...] = ()) -> list[Query]:
    """Each filter as written and as the client rewrites it."""
    return [ModelSearch(text, order_by, client=client) for text in filters for client in (False, True)]


# ---- registered models


def model_name_queries() -> list[Query]:
    filters = [
        "", "name = 'dreg-Alpha'", "name = 'dreg-alpha'", "name != 'dreg-Alpha'", "name LIKE 'dreg-alpha%'",
        "name ILIKE 'dreg-alpha%'", "name like 'dreg-a%'", "name ilike 'DREG-A%'", "name LIKE 'DREG-%'",
        "name ILIKE 'dreg-%'", "name LIKE 'dreg-_lpha'", "name LIKE 'dreg-%a'", "name ILIKE 'dreg-%A'",
        "name LIKE 'dreg-gamma_x'", "name LIKE 'dreg-gamma\\_x'", "name ILIKE 'DREG-GAMMA_X'", "name LIKE '%\\_%'",
        "name LIKE '%\\%%'", "name LIKE 'dreg-beta\\%1'", "name LIKE 'dreg-beta%1'", "name LIKE 'dreg-beta _'",
        "name LIKE '% %'", "name = 'dreg-beta 2'", "name = 'dreg-beta%1'", "name ILIKE 'dreg-Beta%'",
        "name LIKE 'dreg-ALPHA\\_2'", "name ILIKE '%éclair'", "name ILIKE '%ÉCLAIR'", "name LIKE '%É%'",
        "name IN ('dreg-Alpha', 'dreg-zeta', 'nope')", "name NOT IN ('dreg-Alpha', 'dreg-alpha')",
        "name IN ('dreg-prompt_a')", "attribute.name = 'dreg-zeta'", 'name = "dreg-zeta"', "name = 'dreg-gone'",
        "name = 'dreg-old name'", "name = 'dreg-Delta'", "name = 'dreg-prompt_a'", "name LIKE 'dreg-prompt%'",
        "name LIKE 'dreg-'", "name LIKE ''", "name = ''", "name != ''", "name LIKE 'dreg-%' AND name LIKE '%a'",
        "name LIKE 'dreg-%' AND name != 'dreg-zeta'", "name = 'dreg-Alpha' AND name = 'dreg-alpha'",
        "name  =  'dreg-eta'", "name='dreg-eta'", "name = 'dreg-epsilon'", "name = 'dreg-theta'",
    ]  # fmt: skip
    return _both_ways(filters)


def model_tag_queries() -> list[Query]:
    filters = [
        "tags.team = 'vision'", "tag.team = 'Vision'", "tags.team != 'nlp'", "tags.team LIKE 'v%'",
        "tags.team ILIKE 'V%'", "tags.`team` = 'nlp'", "tags.\"team\" = 'nlp'", "tag.team ILIKE 'végé'",
        "tags.team ILIKE 'VÉGÉ'", "tags.`note key` = '100%'", "tags.`note key` LIKE '100\\%'",
        "tags.`note key` LIKE '100%'", "tags.`data.version` = 'v1'", "tags.data.version = 'v1'",
        "tags.`my tag` LIKE 'a_b'", "tags.`my tag` = 'a b'", "tags.priority = '10'", "tags.priority != '2'",
        "tags.priority LIKE '1%'", "tags.stage = 'prod'", "tags.owner = 'ann'", "tags.missing = 'x'",
        "tags.missing != 'x'", "tags.team = 'vision' AND tags.stage = 'prod'",
        "tags.team ILIKE 'VISION' AND tags.team != 'vision'", "tags.team LIKE '%i%' AND tags.team LIKE 'V%'",
        "tags.team = 'nlp' AND name LIKE '%a%'", "tags.team != 'vision' AND tags.priority != '10'",
        # the prompt tag: the client's own clause, prompt searches, and models that carry it without being prompts
        f"tag.`{PROMPT_TAG}` = 'true'", f"tag.`{PROMPT_TAG}` != 'true'", f"tags.`{PROMPT_TAG}` = 'false'",
        f"tags.`{PROMPT_TAG}` != 'false'", f"tags.`{PROMPT_TAG}` = 'TRUE'", f"tags.`{PROMPT_TAG}` = 'True'",
        f"tags.`{PROMPT_TAG}` LIKE 't%'", f"tags.`{PROMPT_TAG}` ILIKE 'true'", f"tags.`{PROMPT_TAG}` != 'x'",
        f"tags.`{PROMPT_TAG}` = 'true' AND tags.team = 'nlp'", f"tags.team = 'nlp' AND tags.`{PROMPT_TAG}` = 'true'",
        f"tags.`{PROMPT_TAG}` = 'true' AND tags.`{PROMPT_TAG}` != 'true'",
        f"tags.`{PROMPT_TAG}` != 'true' AND tags.`{PROMPT_TAG}` = 'true'", f"tags.{PROMPT_TAG} = 'true'",
        f"tags.\"{PROMPT_TAG}\" = 'true' AND name LIKE '%_a'", f"tags.`{PROMPT_TAG}` != 'false' AND tags.team != 'x'",
    ]  # fmt: skip
    return _both_ways(filters)


MODEL_ORDERS = (
    ("name",), ("name DESC",), ("name ASC",), ("name desc",), ("timestamp",), ("timestamp DESC",),
    ("last_updated_timestamp",), ("last_updated_timestamp DESC",), ("last_updated_timestamp DESC", "name"),
    ("name DESC", "timestamp"), ("timestamp ASC", "name DESC"), ("  name   DESC",), ("timestamp desc",),
)  # fmt: skip


def model_order_queries() -> list[Query]:
    queries: list[Query] = [ModelSearch(order_by=order, client=True) for order in MODEL_ORDERS]
    queries += [ModelSearch(order_by=order) for order in MODEL_ORDERS[:8]]
    for number, text in enumerate(("tags.team != 'x'", "name ILIKE '%a%'", f"tags.`{PROMPT_TAG}` = 'true'")):
        queries += [ModelSearch(text, order, client=bool(number % 2)) for order in MODEL_ORDERS[4:9]]
    return queries


def model_paging_queries() -> list[Query]:
    queries: list[Query] = []
    for size in (1, 2, 3, 5, 13, 1000):
        queries.append(ModelSearch(SCOPE, max_results=size, client=True))
    for size, order in ((2, ("timestamp DESC",)), (4, ("name DESC",)), (3, ("last_updated_timestamp", "name"))):
        queries.append(ModelSearch(SCOPE, order, max_results=size, client=True))
        queries.append(ModelSearch(SCOPE, order, max_results=size))
    queries += [
        ModelSearch(f"{SCOPE} AND tags.team ILIKE '%i%'", max_results=1),
        ModelSearch(f"{SCOPE} AND tags.`{PROMPT_TAG}` = 'true'", max_results=1),
        ModelSearch(SCOPE, max_results="2"),
        ModelSearch(SCOPE, max_results=None),  # the server's default page
        ModelSearch(SCOPE, page_token="eyJvZmZzZXQiOiAxMDAwMH0="),  # {"offset": 10000}
        ModelSearch(SCOPE, page_token="eyJvZmZzZXQiOiAzfQ==", client=True),  # {"offset": 3}
    ]
    return queries


def invalid_model_queries() -> list[Query]:
    filters = [
        "name > 'a'", "name IS NULL", "tags.team IS NOT NULL", "run_id = 'x'", "version_number = 1",
        "tags.team IN ('a')", "tags.team > 'a'", "attributes.name = 'x'", "metrics.x > 1", "params.x = '1'",
        "name = 'a' OR name = 'b'", "`name` = 'x'", "name = x", "name = 1", "tags.team = 1", "name = ", "name",
        "name = 'a' AND", "name IN ()", "name IN ('a', 1)", "name = ('a')", "tag.`team = 'x'",
        "creation_timestamp > 0", "last_updated_timestamp > 0", "name LIKE 5", "NAME = 'x'", "name == 'x'",
        "name = 'x'; name = 'y'", "(name = 'x')", "name = 'x' AND AND name = 'y'", "foo.bar = 'x'",
        "name NOT LIKE 'x'", "tags.team NOT IN ('a')", "name = 'unterminated",
    ]  # fmt: skip
    queries = _both_ways(filters)
    orders = [
        ("creation_timestamp",), ("creation_timestamp DESC",), ("name", "name DESC"),
        ("timestamp", "last_updated_timestamp"), ("foo",), ("name ASCC",), ("`name`",), ("attribute.name",),
        ("tags.team",), ("",), ("name DESC ASC",), ("version_number",), ("NAME",),
    ]  # fmt: skip
    queries += [ModelSearch(order_by=order, client=True) for order in orders]
    queries += [
        ModelSearch(max_results=0),
        ModelSearch(max_results=-1),
        ModelSearch(max_results=1001),
        ModelSearch(max_results="abc"),
        ModelSearch(max_results="1.5"),
        ModelSearch(page_token="garbage"),
        ModelSearch(page_token="eyJvZmZzZXQiOiAtMX0="),  # {"offset": -1}
        ModelSearch("name > 'a'", ("foo",)),
        ModelSearch("name > 'a'", max_results=1001),
        ModelSearch("name = 'a'", ("foo",), page_token="garbage"),
    ]
    return queries


# ---- model versions


def version_attribute_queries() -> list[Query]:
    filters = [
        "", "name = 'dreg-Alpha'", "name != 'dreg-Alpha'", "name LIKE 'dreg-gamma%'", "name ILIKE 'dreg-ALPHA%'",
        "name LIKE 'dreg-gamma_x'", "name LIKE '%\\%%'", "name IN ('dreg-Alpha', 'dreg-beta 2', 'nope')",
        "name NOT IN ('dreg-Alpha', 'dreg-alpha')", "attribute.name = 'dreg-alpha'", "name = 'dreg-gone'",
        "name = 'dreg-Delta'", "name = 'dreg-old name'", "name = 'dreg-theta'", "name = 'dreg-prompt_a'",
        "name = 'dreg-zeta'", "name = 'dreg-Alpha' AND name = 'dreg-alpha'", "name = 'dreg-Alpha' AND name != 'x'",
        "version_number = 2", "version_number > 3", "version_number <= 1", "version_number != 1",
        "version_number >= '3'", "version_number = '2'", "version_number = ' 2 '", "version_number = '1_0'",
        "version_number < 2 AND name LIKE 'dreg-%'", "version_number = 5", "version_number = 6",
        "version_number > -1", "attribute.version_number = 4", "run_id = '<<run:r1>>'", "run_id != '<<run:r1>>'",
        "run_id IN ('<<run:r1>>', '<<run:r3>>')", "run_id NOT IN ('<<run:r2>>')", "run_id LIKE '<<run:r1>>%'",
        "run_id ILIKE '%'", "run_id = '<<run:r2>>' AND name = 'dreg-beta 2'", "run_id IN ('nope')",
        "source_path = 'runs:/<<run:r2>>/model'", "source_path LIKE 'runs:/%'", "source_path ILIKE 'RUNS:/<<run:r3>>%'",
        "source_path LIKE '%/model'", "source_path != 'runs:/<<run:r1>>/model'", "source_path = 'runs:/<<run:r1>>'",
        "source_path LIKE '%dummy%'", "name = 'dreg-Alpha' AND version_number > 1 AND run_id = '<<run:r1>>'",
    ]  # fmt: skip
    return [VersionSearch(text) for text in filters]


def version_tag_queries() -> list[Query]:
    filters = [
        "tags.env = 'prod'", "tag.env != 'prod'", "tags.env LIKE 'sta%'", "tags.env ILIKE 'PROD'",
        "tags.env LIKE 'P%'", "tags.`env` = 'dev'", "tags.\"env\" = 'dev'", "tags.quality = 'good'",
        "tags.`data.version` = 'v1'", "tags.data.version LIKE 'v%'", "tags.`my tag` LIKE 'x\\_y'",
        "tags.`my tag` LIKE 'x_y'", "tags.`my tag` = 'a b'", "tags.missing != 'x'", "tags.missing = 'x'",
        "tags.env = 'prod' AND tags.quality = 'good'", "tags.env = 'prod' AND tags.env != 'prod'",
        "tags.env = 'prod' AND name LIKE 'dreg-%a'", "tags.env != 'dev' AND run_id = '<<run:r3>>'",
        f"tags.`{PROMPT_TAG}` = 'true'", f"tags.`{PROMPT_TAG}` != 'true'", f"tags.`{PROMPT_TAG}` = 'false'",
        f"tags.`{PROMPT_TAG}` != 'false'", f"tags.`{PROMPT_TAG}` = 'TRUE'", f"tags.`{PROMPT_TAG}` ILIKE 'TRUE'",
        f"tag.`{PROMPT_TAG}` = 'true' AND tags.team = 'nlp'", f"tags.env = 'prod' AND tags.`{PROMPT_TAG}` = 'true'",
        f"tags.`{PROMPT_TAG}` = 'true' AND name = 'dreg-theta'", f"tags.`{PROMPT_TAG}` = 'true' AND run_id != 'x'",
        f"tags.`{PROMPT_TAG}` = 'true' AND run_id NOT IN ('x')", f"tags.`{PROMPT_TAG}` = 'true' AND run_id = ''",
        f"tags.`{PROMPT_TAG}` = 'true' AND run_id LIKE '%'", f"tags.`{PROMPT_TAG}` = 'true' AND version_number = 2",
        "run_id = ''",
        "tags.`mlflow.prompt.text` LIKE 'Hello%'",
        f"tags.`mlflow.prompt.text` LIKE 'Hello%' AND tags.`{PROMPT_TAG}` = 'true'",
        f"name = 'dreg-prompt_a' AND tags.`{PROMPT_TAG}` != 'false'",
        f"tags.`{PROMPT_TAG}` = 'true' AND source_path LIKE '%'",
    ]  # fmt: skip
    return [VersionSearch(text) for text in filters]


VERSION_ORDERS = (
    ("name",), ("name DESC",), ("version_number",), ("version_number DESC",), ("creation_timestamp",),
    ("creation_timestamp DESC",), ("last_updated_timestamp",), ("last_updated_timestamp DESC",),
    ("name", "version_number"), ("name DESC", "version_number ASC"), ("creation_timestamp DESC", "name"),
    ("last_updated_timestamp", "version_number DESC"), ("version_number", "name DESC"), ("tags.name DESC",),
    ("attribute.version_number",), ("`name` DESC",), ("name  desc",), ("version_number ASC", "last_updated_timestamp"),
)  # fmt: skip


def version_order_queries() -> list[Query]:
    queries: list[Query] = [VersionSearch(order_by=order) for order in VERSION_ORDERS]
    for text in ("tags.env = 'prod'", "run_id != '<<run:r2>>'", f"tags.`{PROMPT_TAG}` = 'true'"):
        queries += [VersionSearch(text, order) for order in VERSION_ORDERS[2:8]]
    return queries


def version_paging_queries() -> list[Query]:
    queries: list[Query] = [VersionSearch(SCOPE, max_results=size) for size in (1, 7, 29, 200_000)]
    for size, order in ((3, ("creation_timestamp",)), (4, ("name DESC", "version_number")), (5, ())):
        queries.append(VersionSearch(f"{SCOPE} AND tags.env != 'x'", order, max_results=size))
        queries.append(VersionSearch(SCOPE, order, max_results=size))
    queries += [
        VersionSearch(f"{SCOPE} AND tags.`{PROMPT_TAG}` = 'true'", max_results=1),
        VersionSearch(SCOPE, max_results="3"),
        VersionSearch(SCOPE, max_results=None),  # the proto's default
        VersionSearch(SCOPE, page_token="eyJvZmZzZXQiOiAxMDAwMH0="),  # {"offset": 10000}
        VersionSearch(SCOPE, ("name", "version_number"), page_token="eyJvZmZzZXQiOiA1fQ=="),  # {"offset": 5}
    ]
    return queries


def invalid_version_queries() -> list[Query]:
    filters = [
        "version_number = 1.5", "version_number = 'abc'", "version_number LIKE '1'", "version_number IN (1)",
        "version_number = '1.0'", "version_number = -1.0", "creation_timestamp > 0", "last_updated_timestamp > 0",
        "source_path IN ('a')", "tags.env IN ('a')", "run_id = 1", "name IS NULL", "tags.env IS NULL",
        "tags.env > 'a'", "name = 'a' OR name = 'b'", "status = 'READY'", "current_stage = 'Production'",
        "run_id IN ()", "name = ('a')", "run_id > 'a'", "aliases = 'x'", "tags.env = 1", "name = x",
        "`name` = 'x'", "version = 1", "attributes.name = 'x'", "foo.name = 'x'", "name = 'x' AND", "name",
        "version_number IN ('1')", "source_path NOT IN ('a')", "name LIKE 5", "run_id IN ('a', 1)",
        "version_number = 99999999999999999999",
    ]  # fmt: skip
    queries: list[Query] = [VersionSearch(text) for text in filters]
    orders = [
        ("foo",), ("run_id",), ("source_path",), ("name", "name"), ("version_number", "version_number DESC"),
        ("name ASCC",), ("",), ("metrics.x",), ("timestamp",), ("name DESC ASC",), ("tags.`name",),
        ("creation_timestamp", "attribute.creation_timestamp"), ("status",),
    ]  # fmt: skip
    queries += [VersionSearch(order_by=order) for order in orders]
    queries += [
        VersionSearch(max_results=0),
        VersionSearch(max_results=-1),
        VersionSearch(max_results=200_001),
        VersionSearch(max_results="abc"),
        VersionSearch(page_token="garbage"),
        VersionSearch("name > 'a'", ("foo",)),
        VersionSearch("version_number = 'x'", max_results=0),
    ]
    return queries


FAMILIES: dict[str, Callable[[], list[Query]]] = {
    "model_names": model_name_queries,
    "model_tags": model_tag_queries,
    "model_order_by": model_order_queries,
    "model_paging": model_paging_queries,
    "invalid_models": invalid_model_queries,
    "version_attributes": version_attribute_queries,
    "version_tags": version_tag_queries,
    "version_order_by": version_order_queries,
    "version_paging": version_paging_queries,
    "invalid_versions": invalid_version_queries,
}

# Differences kept on purpose, reference bugs, or Stratus bugs not fixed yet: query description -> reason. Each runs
# as a strict xfail, so a difference that goes away shows up. The deliberate ones are described in the docstring of
# layers/stratus/stratus/domain/search/registry.py and in docs/decisions.md.
_FIVE_HUNDRED = "reference bug: a user error answered 500 (the client retries 5xx); Stratus answers 400"
_IS_NULL = (
    "reference bug: IS NULL / IS NOT NULL fail unpacking the comparison, an HTML 500; Stratus answers 400 "
    "INVALID_PARAMETER_VALUE"
)
_SQL_TEXT = "same status and error_code (400 BAD_REQUEST); the reference's message carries the SQL statement"
KNOWN_DIFFERENCES: dict[str, str] = {
    "models filter='name IS NULL'": _IS_NULL,
    "models via client filter='name IS NULL'": _IS_NULL,
    "models filter='tags.team IS NOT NULL'": _IS_NULL,
    "models via client filter='tags.team IS NOT NULL'": _IS_NULL,
    "versions filter='name IS NULL'": _IS_NULL,
    "versions filter='tags.env IS NULL'": _IS_NULL,
    "models filter=\"name = ('a')\"": _SQL_TEXT,
    "models via client filter=\"name = ('a')\"": _SQL_TEXT,
    "versions filter=\"name = ('a')\"": _SQL_TEXT,
    "models via client filter='' order_by=['name', 'name DESC']": _FIVE_HUNDRED,
    "models via client filter='' order_by=['timestamp', 'last_updated_timestamp']": _FIVE_HUNDRED,
    "versions filter='' order_by=['name', 'name']": _FIVE_HUNDRED,
    "versions filter='' order_by=['version_number', 'version_number DESC']": _FIVE_HUNDRED,
    "versions filter='' order_by=['creation_timestamp', 'attribute.creation_timestamp']": _FIVE_HUNDRED,
    "versions filter='version_number = 99999999999999999999'": (
        "reference bug: 500 'Python int too large to convert to SQLite INTEGER'; Stratus answers no versions"
    ),
    "models filter='' max_results=0": (
        "deliberate: the reference answers 400 with a page-token message, Invalid page token, parsed "
        "value={'offset': 0}; Stratus says max_results must be a positive integer"
    ),
    "models filter='' max_results=-1": (
        "deliberate: the reference answers empty pages, each with a next_page_token (a client paging through "
        "loops forever); Stratus answers 400 INVALID_PARAMETER_VALUE"
    ),
    "models filter='' page_token='eyJvZmZzZXQiOiAtMX0='": (
        "a forged token {'offset': -1}: SQLite reads a negative OFFSET as 0 and the reference answers the first "
        "page; Stratus refuses forged tokens with 400 (docs/decisions.md, Page tokens)"
    ),
}


# ---------------------------------------------------------------------------------------------------------------
# running a query on one server
# ---------------------------------------------------------------------------------------------------------------

_SET_LITERAL = re.compile(r"\{'[^{}]*'\}")


def normalize_message(message: str, side: Side) -> str:
    """Put run ids back as placeholders and sort set literals (printed in hash-seed order by the reference)."""
    for key, run_id in side.run_ids.items():
        message = message.replace(run_id, f"<<run:{key}>>")
    return _SET_LITERAL.sub(lambda m: "{" + ", ".join(sorted(m.group(0)[1:-1].split(", "))) + "}", message)


def _error(response: requests.Response, side: Side) -> Outcome:
    try:
        body = response.json()
    except ValueError:
        return ("error", response.status_code, None, response.text[:300])
    return ("error", response.status_code, body.get("error_code"), normalize_message(str(body.get("message")), side))


def _identity(entity: dict[str, Any]) -> str:
    return f"{entity['name']}#{entity['version']}" if "version" in entity else entity["name"]


def outcome_of(query: Query, side: Side) -> Outcome:
    """("ok", this module's entities in order, page sizes or None) or ("error", status, error_code, message)."""
    params: dict[str, Any] = {}
    if text := query.sent_filter():
        params["filter"] = substitute(text, side)
    if query.max_results is not None:
        params["max_results"] = str(query.max_results)
    if query.order_by:
        params["order_by"] = list(query.order_by)
    if query.page_token is not None:
        params["page_token"] = query.page_token
    found: list[str] = []
    sizes: list[int] = []
    foreign = False
    for _ in range(MAX_PAGES):
        response = side.get(query.path, params)
        if response.status_code != 200:
            return _error(response, side)
        payload = response.json()
        page = [_identity(entity) for entity in payload.get(query.answer_key, [])]
        foreign = foreign or any(not name.startswith(PREFIX) for name in page)
        found.extend(name for name in page if name.startswith(PREFIX))
        sizes.append(len(page))
        token = payload.get("next_page_token")
        if not token:
            break
        params["page_token"] = token
    if query.max_results == query.default_page:
        return ("ok", found, None)
    return ("ok", found, "another test's entity on a page" if foreign else sizes)


def compare(query: Query, sides: tuple[Side, Side]) -> tuple[Mismatch | None, Outcome]:
    return differential.compare(query, sides, outcome_of)


def compare_all(queries: Sequence[Query], sides: tuple[Side, Side]) -> list[tuple[Mismatch | None, Outcome]]:
    return differential.compare_all(queries, sides, outcome_of, QUERY_THREADS)


# ---------------------------------------------------------------------------------------------------------------
# what the searches answer, field by field
# ---------------------------------------------------------------------------------------------------------------

_SERVER_TIMES = ("creation_timestamp", "last_updated_timestamp")


_NOT_COMPARED = _SERVER_TIMES


def _normalize_version(version: dict[str, Any], side: Side) -> dict[str, Any]:
    """A version as the client reads it: unset strings are '', tags sorted, run ids as placeholders."""
    shown = {key: value for key, value in version.items() if key not in _NOT_COMPARED}
    for key in ("description", "run_link", "run_id", "source", "status_message", "user_id", "model_id"):
        shown[key] = normalize_message(str(shown.get(key) or ""), side)
    shown["tags"] = sorted((tag["key"], tag["value"]) for tag in version.get("tags", []))
    return shown


def _normalize_model(model: dict[str, Any], side: Side) -> dict[str, Any]:
    """A registered model as the client reads it. ``latest_versions`` is sorted by version: the reference lists
    them in no defined order (its query has no ORDER BY)."""
    shown = {key: value for key, value in model.items() if key not in _SERVER_TIMES}
    shown["description"] = model.get("description") or ""
    shown["tags"] = sorted((tag["key"], tag["value"]) for tag in model.get("tags", []))
    shown["aliases"] = sorted((alias["alias"], alias["version"]) for alias in model.get("aliases", []))
    latest = sorted(model.get("latest_versions", []), key=lambda version: int(version["version"]))
    shown["latest_versions"] = [_normalize_version(version, side) for version in latest]
    return shown


def _entities(side: Side, path: str, answer_key: str, filter_text: str) -> list[dict[str, Any]]:
    response = side.get(path, {"filter": filter_text, "max_results": "1000"})
    assert response.status_code == 200, response.text
    return response.json().get(answer_key, [])


def _first_difference(reference: list[dict[str, Any]], stratus: list[dict[str, Any]]) -> str:
    for expected, actual in zip(reference, stratus, strict=False):
        if expected != actual:
            keys = sorted({*expected, *actual})
            fields = {k: (expected.get(k), actual.get(k)) for k in keys if expected.get(k) != actual.get(k)}
            return f"{expected.get('name')} {expected.get('version', '')}: (reference, stratus) {fields}"
    return f"{len(reference)} entities in the reference, {len(stratus)} in stratus"


# ---------------------------------------------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------------------------------------------


def test_registry_loaded_alike(sides: tuple[Side, Side]) -> None:
    """Every later comparison is vacuous unless both servers hold the same models and versions."""
    reference, stratus = sides
    everything = ModelSearch(SCOPE, ("name",), client=True)
    expected = outcome_of(everything, reference)
    assert expected == ("ok", list(MODEL_NAMES), None)
    assert outcome_of(everything, stratus) == expected
    versions = VersionSearch(SCOPE, ("name", "version_number"))
    expected = outcome_of(versions, reference)
    assert expected[0] == "ok" and len(expected[1]) == VISIBLE_VERSIONS
    assert outcome_of(versions, stratus) == expected


@pytest.mark.parametrize(
    ("path", "answer_key", "filter_text"),
    [
        ("registered-models/search", "registered_models", SCOPE),
        ("registered-models/search", "registered_models", f"{SCOPE} AND tags.`{PROMPT_TAG}` = 'true'"),
        ("model-versions/search", "model_versions", SCOPE),
        ("model-versions/search", "model_versions", f"{SCOPE} AND tags.`{PROMPT_TAG}` = 'true'"),
    ],
    ids=["models", "prompts", "versions", "prompt-versions"],
)
def test_search_answers_carry_the_same_fields(
    path: str, answer_key: str, filter_text: str, sides: tuple[Side, Side]
) -> None:
    """Stages, aliases, tags, descriptions, latest versions, sources and run ids (as run keys) agree; timestamps are
    each server's own."""
    reference, stratus = sides
    normalize = _normalize_version if answer_key == "model_versions" else _normalize_model
    expected = [normalize(e, reference) for e in _entities(reference, path, answer_key, filter_text)]
    actual = [normalize(e, stratus) for e in _entities(stratus, path, answer_key, filter_text)]
    assert expected, "the reference found nothing: the comparison proves nothing"
    assert actual == expected, _first_difference(expected, actual)


def _version_aliases(side: Side) -> dict[str, list[str]]:
    """Each version's aliases as model-versions/search and the latest_versions of registered-models/search show them."""
    shown: dict[str, list[str]] = {}
    for version in _entities(side, "model-versions/search", "model_versions", SCOPE):
        shown[f"search {_identity(version)}"] = sorted(version.get("aliases", []))
    for model in _entities(side, "registered-models/search", "registered_models", SCOPE):
        for version in model.get("latest_versions", []):
            shown[f"latest {_identity(version)}"] = sorted(version.get("aliases", []))
    return shown


def test_version_aliases_in_search_answers_match_the_reference(sides: tuple[Side, Side]) -> None:
    reference, stratus = sides
    expected = _version_aliases(reference)
    if "search dreg-ALPHA_2#3" not in expected:
        pytest.fail("the reference's search misses dreg-ALPHA_2 version 3: the comparison proves nothing")
    assert _version_aliases(stratus) == expected


def _rename_facts(side: Side) -> list[bool]:
    """For each version of the renamed model: is its last_updated_timestamp the model's (the time of the rename)?"""
    model = side.get("registered-models/get", {"name": RENAMED[1]}).json()["registered_model"]
    versions = _entities(side, "model-versions/search", "model_versions", f"name = '{RENAMED[1]}'")
    return [version["last_updated_timestamp"] == model["last_updated_timestamp"] for version in versions]


def test_renaming_a_model_updates_its_versions_as_the_reference_does(sides: tuple[Side, Side]) -> None:
    reference, stratus = sides
    expected = _rename_facts(reference)
    if expected != [True]:
        pytest.fail(f"the reference no longer updates a renamed model's versions: {expected}")
    assert _rename_facts(stratus) == expected


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


def test_query_descriptions_are_unique() -> None:
    """KNOWN_DIFFERENCES names queries by description: two queries with one description would hide each other."""
    descriptions = [q.describe() for family in FAMILIES.values() for q in family()]
    assert len(descriptions) == len(set(descriptions))


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
