"""Offline measurements behind docs/search-at-scale.md: how a run search could read about a page, not the experiment.

    python -m benchmarks.search_scale_probe [--runs 100000] [--big-runs 1000000] [--repeat 5] [--current-runs 10000]
        [--imports 5] [--wheels DIR] [--dynamodb-local RUNS]

Nothing here talks to AWS. Everything runs in one process, side by side (the machine is shared and its speed
varies: compare figures within one run, not across runs):

1. import time of pyarrow and duckdb in fresh interpreters, and their installed sizes (``--wheels DIR``: also the
   unzipped size of the wheels in DIR, e.g. the aarch64/cp312 wheels Lambda would run);
2. today's read path without DynamoDB: botocore's parsing of 1 MB Query pages and ``list_runs`` assembling the runs
   from items in the store's real format, then the domain's filter and sort; CPU per run;
3. a synthetic columnar projection (5 params, 3 tags, 4 metrics per run) of ``--runs`` and ``--big-runs`` runs:
   Parquet size per column, write time (what a compaction costs), read time of the columns each query needs, and
   the two target searches with pyarrow compute and with DuckDB over the Parquet file, single-threaded (a Lambda of
   1,769 MB has one vCPU), each page checked against the domain's own in-memory search (``RunQuery.apply``);
4. the DynamoDB side computed from item sizes with AWS's billing rules (``benchmarks.dynamo_meter``): read units and
   requests per page for sorted index items and for the projection, write units per log-batch / set-tag / log-param;
5. experiments/search over 10,000 experiments without DynamoDB: pynamodb decoding and the domain's filter and sort;
6. ``--dynamodb-local N`` (off by default): on DynamoDB Local, a start-time index page and the hydration of 100 runs
   (by one Query each, or by BatchGetItem), in a partition of N runs;
7. the same two searches through the reference's ``SqlAlchemyStore.search_runs`` (what ``mlflow server`` runs, in
   process, without HTTP) on SQLite loaded directly with the ``--runs`` runs of part 3, pages compared with pyarrow's;
8. the filtered page's columns read from S3 (moto's server, as ``stratus local`` runs it) with pyarrow's S3
   filesystem: first call in a fresh interpreter (import and S3 set-up included), then warm.

Prints figures, asserts nothing. About 3-4 minutes on 2 CPUs at the defaults, a third of it the reference's slow
search (run once when it takes over 3 s); part 6 adds ~1 minute at 5,000 runs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from benchmarks import prices
from benchmarks.dynamo_meter import item_size, read_units, write_units

MAX_FLOAT = sys.float_info.max
PAGE = 100
EXPERIMENT = "123"
FILTER = "metrics.acc > 0.5 and params.p1 = '3' and tags.team = 'a'"
ORDER_FILTERED = ["metrics.loss ASC"]
ORDER_DEFAULT = ["attributes.start_time DESC"]
Q1_COLUMNS = ["run_id", "a:lifecycle_stage", "a:start_time"]
Q2_COLUMNS = ["run_id", "a:lifecycle_stage", "a:start_time", "m:acc", "p:p1", "t:team", "m:loss"]
DICTIONARY_COLUMNS = ["a:lifecycle_stage", "a:status", "a:user_id", "p:p0", "p:p1", "p:p2", "p:p3", "t:team"]
HYDRATE_THREADS = 16
DATA_SHARD_KEYS = 8  # items.DATA_SHARDS: a run's data shards, any of which may exist
AWS_QUERY_MS = 8.0  # what a small DynamoDB request keeps a Lambda waiting on AWS (benchmarks/cost.py's assumption)
LAMBDA_CPU_FACTOR = 1.7  # a 1,024 MB Lambda has ~0.58 vCPU (benchmarks/cost.py)
SEARCH_MEMORY_GB = 1.0
AWS_MB_PAGE_MS = 60.0  # a 1 MB Query page on AWS: "tens of milliseconds" (docs/benchmarks.md), assumed 60
S3_FIRST_BYTE_MS = 30.0  # an S3 GET's first byte from Lambda, assumed
S3_BYTES_PER_MS = 100_000.0  # 100 MB/s from S3 into one Lambda, assumed (parallel ranged GETs do better)
REQUEST_CPU_MS = 2.0  # botocore's own CPU per small DynamoDB request here (part 6: 100 Queries, ~200-300 ms of CPU)


# ---------------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Timed:
    wall_ms: float
    cpu_ms: float
    result: Any


def timed(fn: Callable[[], Any], repeat: int) -> Timed:
    """Median wall and process CPU time of ``repeat`` calls; the last call's result."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return Timed(statistics.median(walls), statistics.median(cpus), result)


def table(headers: list[str], rows: Iterable[Iterable[object]]) -> None:
    """Print a Markdown table."""
    print("| " + " | ".join(headers) + " |")
    print("|" + "|".join(" --- " for _ in headers) + "|")
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
    print()


def ms(value: float) -> str:
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def mb(size: float) -> str:
    return f"{size / 1e6:,.2f} MB"


def machine() -> str:
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{platform.machine()}, {os.cpu_count()} CPUs, {memory_gb:.1f} GiB, Python {platform.python_version()}, "
        f"pyarrow {pa.__version__}, numpy {np.__version__}, duckdb {duckdb_version()}"
    )


def duckdb_version() -> str:
    try:
        import duckdb
    except ImportError:
        return "not installed (pip install duckdb into the venv for part 3's DuckDB rows)"
    return duckdb.__version__


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min)"


# ---------------------------------------------------------------------------------------------------------------
# 1. imports and sizes
# ---------------------------------------------------------------------------------------------------------------

IMPORTS = {
    "pyarrow": "import pyarrow",
    "pyarrow + parquet + compute": "import pyarrow, pyarrow.parquet, pyarrow.compute",
    "pyarrow + parquet + compute + fs": "import pyarrow, pyarrow.parquet, pyarrow.compute, pyarrow.fs",
    "pyarrow.dataset (`pq.read_table` on a filesystem imports it)": "import pyarrow, pyarrow.dataset",
    "pandas (pyarrow imports it on a first conversion when installed)": "import pandas",
    "duckdb": "import duckdb",
    "numpy (pulled by neither at import)": "import numpy",
}
_IMPORT_CHILD = (
    "import time; w, c = time.perf_counter(), time.process_time(); {stmt}; "
    "print(time.perf_counter() - w, time.process_time() - c)"
)


def import_times(repeat: int) -> None:
    print("## 1. Import time in a fresh interpreter (interpreter start excluded), and installed size\n")
    rows = []
    for label, stmt in IMPORTS.items():
        walls, cpus = [], []
        for _ in range(repeat):
            done = subprocess.run(  # noqa: S603 - this interpreter, fixed code
                [sys.executable, "-c", _IMPORT_CHILD.format(stmt=stmt)], capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                break
            wall, cpu = (float(x) for x in done.stdout.split())
            walls.append(wall * 1000)
            cpus.append(cpu * 1000)
        if walls:
            rows.append((label, ms(statistics.median(walls)), ms(statistics.median(cpus)), f"{min(walls):,.0f}"))
        else:
            rows.append((label, "not installed", "", ""))
    table([f"import (median of {repeat})", "wall ms", "CPU ms", "min wall ms"], rows)


def installed_sizes(wheels: Path | None) -> None:
    site = Path(pa.__file__).parent.parent
    rows = []
    for name in ("pyarrow", "duckdb", "_duckdb", "numpy"):
        paths = list(site.glob(f"{name}")) + list(site.glob(f"{name}.*.so"))
        size = sum(f.stat().st_size for p in paths for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file())
        if size:
            rows.append((f"{name} (this venv, {platform.machine()}, Python {platform.python_version()})", mb(size)))
    for wheel in sorted(wheels.glob("*.whl")) if wheels else ():
        with zipfile.ZipFile(wheel) as archive:
            unzipped = sum(info.file_size for info in archive.infolist())
        rows.append((f"{wheel.name} (zipped {mb(wheel.stat().st_size)})", mb(unzipped)))
    table(["package", "unzipped size"], rows)


# ---------------------------------------------------------------------------------------------------------------
# synthetic runs, as a projection table
# ---------------------------------------------------------------------------------------------------------------

STATUSES = ["FINISHED", "RUNNING", "FAILED"]
STAGES = ["active", "deleted"]


def _dictionary(codes: np.ndarray, vocabulary: list[str], mask: np.ndarray | None = None) -> pa.DictionaryArray:
    indices = pa.array(codes.astype(np.int32), mask=mask)
    return pa.DictionaryArray.from_arrays(indices, pa.array(vocabulary))


def _with_specials(values: np.ndarray, rng: np.random.Generator, shares: dict[float, float]) -> np.ndarray:
    """Replace a share of ``values`` by each special value (NaN, +inf, -inf)."""
    for special, share in shares.items():
        values[rng.random(len(values)) < share] = special
    return values


def synthetic_projection(n: int, seed: int = 18) -> pa.Table:
    """One row per run, sorted by run id (so that row order is the final tie-breaker, run_id ASC): attributes
    ``a:``, params ``p:``, tags ``t:``, latest metric values ``m:`` (null = the run lacks the key). Ties on purpose:
    start times at second resolution, losses rounded to 3 decimals; NaN, +/-inf and missing values in the metrics."""
    rng = np.random.default_rng(seed)
    raw = rng.bytes(16 * n)
    run_ids = sorted(raw[i * 16 : (i + 1) * 16].hex() for i in range(n))
    start = 1_760_000_000_000 + rng.integers(0, 90 * 86_400, n) * 1000
    status = rng.choice(3, n, p=[0.85, 0.10, 0.05])
    users = [f"user-{i}" for i in range(20)]
    user = rng.integers(0, 20, n)
    names = [f"run-{i}" for i in range(n)]
    acc = _with_specials(np.round(rng.random(n), 4), rng, {math.nan: 0.002})
    loss = _with_specials(
        np.round(rng.exponential(1.0, n), 3), rng, {math.nan: 0.003, math.inf: 0.001, -math.inf: 5e-4}
    )
    columns: dict[str, pa.Array] = {
        "run_id": pa.array(run_ids),
        "a:lifecycle_stage": _dictionary(rng.choice(2, n, p=[0.97, 0.03]), STAGES),
        "a:status": _dictionary(status, STATUSES),
        "a:start_time": pa.array(start),
        "a:end_time": pa.array(start + rng.integers(1, 7200, n) * 1000, mask=status == 1),
        "a:user_id": _dictionary(user, users),
        "a:run_name": pa.array(names),
        "p:p0": _dictionary(rng.integers(0, 4, n), ["0.1", "0.01", "0.001", "0.0001"]),
        "p:p1": _dictionary(rng.integers(0, 10, n), [str(i) for i in range(10)]),
        "p:p2": _dictionary(rng.integers(0, 4, n), ["16", "32", "64", "128"]),
        "p:p3": _dictionary(rng.integers(0, 3, n), ["adam", "sgd", "rmsprop"]),
        "p:p4": pa.array([str(s) for s in rng.integers(0, 10**9, n)]),
        "t:team": _dictionary(rng.integers(0, 3, n), ["a", "b", "c"]),
        "t:mlflow.runName": pa.array(names),
        "t:mlflow.user": _dictionary(user, users),
        "m:acc": pa.array(acc, mask=rng.random(n) < 0.01),
        "m:loss": pa.array(loss, mask=rng.random(n) < 0.02),
        "m:m2": pa.array(rng.random(n), mask=rng.random(n) < 0.05),
        "m:m3": pa.array(rng.normal(0, 1, n), mask=rng.random(n) < 0.05),
    }
    return pa.table(columns)


def domain_runs(projection: pa.Table) -> list[Any]:
    """The same runs as the domain's ``Run`` objects (what the current search filters and sorts in memory)."""
    from stratus.domain.entities import Metric, Run, RunInfo

    rows = projection.to_pylist()
    runs = []
    for row in rows:
        info = RunInfo(
            run_id=row["run_id"],
            experiment_id=EXPERIMENT,
            run_name=row["a:run_name"],
            user_id=row["a:user_id"],
            status=row["a:status"],
            start_time=row["a:start_time"],
            end_time=row["a:end_time"],
            artifact_uri=f"s3://bucket/{EXPERIMENT}/{row['run_id']}/artifacts",
            lifecycle_stage=row["a:lifecycle_stage"],
        )
        run = Run(info)
        for column, value in row.items():
            if value is None or column[1] != ":" or column[0] == "a":
                continue
            kind, key = column.split(":", 1)
            if kind == "p":
                run.params[key] = value
            elif kind == "t":
                run.tags[key] = value
            else:
                run.metrics[key] = Metric(key, value, row["a:start_time"], 0)
        runs.append(run)
    return runs


# ---------------------------------------------------------------------------------------------------------------
# the two searches, with pyarrow compute
# ---------------------------------------------------------------------------------------------------------------


def _clamped(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """+/-inf as the reference stores them (+/-max float); NaN and null untouched."""
    upper = pc.if_else(pc.greater(column, MAX_FLOAT), MAX_FLOAT, column)
    return pc.if_else(pc.less(upper, -MAX_FLOAT), -MAX_FLOAT, upper)


def _string_mask(column: pa.ChunkedArray, matches: Callable[[Any], bool]) -> pa.ChunkedArray:
    """A string clause evaluated by the domain's own matcher on each distinct value (the dictionary), then spread
    over the rows: exact by construction (LIKE without escapes, ASCII-only ILIKE), and cheap for the few distinct
    values params and tags have. Null (a run without the key) never matches."""
    chunks = []
    for chunk in column.chunks:
        if not pa.types.is_dictionary(chunk.type):
            chunk = chunk.dictionary_encode()
        keep = pa.array([matches(value) for value in chunk.dictionary.to_pylist()], pa.bool_())
        chunks.append(pc.take(keep, chunk.indices))
    return pa.chunked_array(chunks, pa.bool_())


def _row_index(rows: pa.Table) -> pa.Table:
    return rows.append_column("rix", pa.array(np.arange(rows.num_rows, dtype=np.int32)))


def arrow_default_page(rows: pa.Table, offset: int = 0, limit: int = PAGE) -> list[str]:
    """Active runs, ``start_time DESC``, then run_id ASC (row order)."""
    rows = _row_index(rows)
    active = rows.filter(pc.equal(rows["a:lifecycle_stage"], "active"))
    top = pc.select_k_unstable(active, offset + limit, sort_keys=[("a:start_time", "descending"), ("rix", "ascending")])
    return active["run_id"].take(top).to_pylist()[offset:]


def arrow_filtered_page(rows: pa.Table, offset: int = 0, limit: int = PAGE, tie: str = "rix") -> list[str]:
    """``metrics.acc > 0.5 and params.p1 = '3' and tags.team = 'a'`` ordered by ``metrics.loss ASC``: numbers, then
    NaN, then runs without loss; then start_time DESC, then run_id ASC (``tie``: the row index of a projection sorted
    by run id, or ``run_id`` itself after a merge)."""
    from stratus.domain.search.comparison import string_matcher

    if tie == "rix":
        rows = _row_index(rows)
    mask = pc.and_(pc.equal(rows["a:lifecycle_stage"], "active"), pc.greater(_clamped(rows["m:acc"]), 0.5))
    mask = pc.and_(mask, _string_mask(rows["p:p1"], string_matcher("=", "3")))
    mask = pc.and_(mask, _string_mask(rows["t:team"], string_matcher("=", "a")))
    hits = rows.filter(mask)
    loss = hits["m:loss"]
    group = pc.if_else(pc.is_null(loss), 2, pc.if_else(pc.is_nan(loss), 1, 0))
    value = pc.fill_null(pc.if_else(pc.is_nan(loss), 0.0, _clamped(loss)), 0.0)
    keys = pa.table({"g": group, "v": value, "st": hits["a:start_time"], "tie": hits[tie]})
    order = [("g", "ascending"), ("v", "ascending"), ("st", "descending"), ("tie", "ascending")]
    top = pc.select_k_unstable(keys, min(offset + limit, keys.num_rows), sort_keys=order)
    return hits["run_id"].take(top).to_pylist()[offset:]


# ---------------------------------------------------------------------------------------------------------------
# the two searches, with DuckDB over Parquet
# ---------------------------------------------------------------------------------------------------------------

DUCK_DEFAULT = """
SELECT run_id FROM read_parquet(?) WHERE "a:lifecycle_stage" = 'active'
ORDER BY "a:start_time" DESC, run_id LIMIT ? OFFSET ?
"""
# DuckDB orders NaN above every number and finds NaN = NaN (PostgreSQL's rules), where the reference's SQLite store
# keeps NaN as 0 with a flag that only != satisfies: the NaN and null cases are spelled out.
DUCK_FILTERED = f"""
SELECT run_id FROM read_parquet(?)
WHERE "a:lifecycle_stage" = 'active' AND NOT isnan("m:acc") AND least("m:acc", {MAX_FLOAT!r}) > 0.5
  AND "p:p1" = '3' AND "t:team" = 'a'
ORDER BY CASE WHEN "m:loss" IS NULL THEN 2 WHEN isnan("m:loss") THEN 1 ELSE 0 END,
  CASE WHEN "m:loss" IS NULL OR isnan("m:loss") THEN 0
    ELSE greatest(least("m:loss", {MAX_FLOAT!r}), {-MAX_FLOAT!r}) END,
  "a:start_time" DESC, run_id
LIMIT ? OFFSET ?
"""


def duck_connection() -> Any:
    import duckdb

    connection = duckdb.connect()
    connection.execute("SET threads TO 1")
    return connection


def duck_page(connection: Any, sql: str, path: Path, offset: int = 0, limit: int = PAGE) -> list[str]:
    return [row[0] for row in connection.execute(sql, [str(path), limit, offset]).fetchall()]


# ---------------------------------------------------------------------------------------------------------------
# 2. today's read path, without DynamoDB
# ---------------------------------------------------------------------------------------------------------------


def run_items(projection: pa.Table) -> Iterator[dict[str, Any]]:
    """Each run's items in the store's real format (items.RunInfoItem, items.RunDataItem), as DynamoDB JSON."""
    from stratus.store.dynamodb.items import DATA_SHARDS
    from stratus.store.dynamodb.tracking import shard_of

    compact = {"ensure_ascii": False, "separators": (",", ":")}
    for row in projection.to_pylist():
        run_id = row["run_id"]
        info = {"n": row["a:run_name"], "u": row["a:user_id"], "s": row["a:status"], "st": row["a:start_time"]}
        info |= {"et": row["a:end_time"], "a": f"s3://bucket/{EXPERIMENT}/{run_id}/artifacts"}
        shards: dict[int, dict[str, dict[str, Any]]] = {}
        for column, value in row.items():
            if value is None or column[0] == "a" or column == "run_id":
                continue
            kind, key = column.split(":", 1)
            body = shards.setdefault(shard_of(kind, key), {})
            body.setdefault(kind, {})[key] = [repr(value), row["a:start_time"], 0] if kind == "m" else value
        pk = {"S": f"EXP#{EXPERIMENT}"}
        yield {
            "pk": pk,
            "sk": {"S": f"R#{run_id}#I"},
            "kind": {"S": "info"},
            "version": {"N": "1"},
            "lifecycle_stage": {"S": row["a:lifecycle_stage"]},
            "body": {"S": json.dumps({k: v for k, v in info.items() if v is not None}, **compact)},
        }
        for n in range(DATA_SHARDS):
            if n in shards:
                yield {
                    "pk": pk,
                    "sk": {"S": f"R#{run_id}#D{n}"},
                    "kind": {"S": "data"},
                    "version": {"N": "1"},
                    "body": {"S": json.dumps(shards[n], **compact)},
                }


def query_pages(items: list[dict[str, Any]]) -> tuple[list[bytes], float]:
    """The items as DynamoDB's 1 MB Query response bodies, and the read units of those pages (consistent)."""
    pages: list[list[dict[str, Any]]] = []
    page: list[dict[str, Any]] = []
    size, rcu = 0, 0.0
    for item in items:
        page.append(item)
        size += item_size(item)
        if size >= 1_000_000:
            pages.append(page)
            rcu += read_units(size, consistent=True)
            page, size = [], 0
    pages.append(page)
    rcu += read_units(size, consistent=True)
    return [json.dumps({"Items": p, "Count": len(p), "ScannedCount": len(p)}).encode() for p in pages], rcu


def current_read_path(projection: pa.Table, repeat: int) -> dict[str, float]:
    """Times what the first page of a search does today once DynamoDB has answered: botocore parses every page,
    ``list_runs`` assembles every run, the domain filters and sorts them all."""
    import botocore.session
    from botocore import parsers

    from stratus.domain.search import compile_run_search
    from stratus.store.dynamodb.tracking import DynamoTrackingStore

    n = projection.num_rows
    items = list(run_items(projection))
    pages, rcu = query_pages(items)
    model = botocore.session.get_session().get_service_model("dynamodb")
    shape = model.operation_model("Query").output_shape
    parser = parsers.create_parser("json")

    def parse() -> list[dict[str, Any]]:
        parsed = []
        for body in pages:
            parsed.extend(parser.parse({"body": body, "headers": {}, "status_code": 200}, shape)["Items"])
        return parsed

    parsed = parse()
    store = DynamoTrackingStore()
    store._run_items = lambda partition: iter(parsed)  # type: ignore[method-assign]  # noqa: SLF001 - no DynamoDB
    query = compile_run_search(FILTER, ORDER_FILTERED)
    t_parse = timed(parse, repeat)
    t_list = timed(lambda: store.list_runs(EXPERIMENT), repeat)
    runs = t_list.result
    t_apply = timed(lambda: query.apply([r for r in runs if r.info.lifecycle_stage == "active"]), repeat)
    size = sum(item_size(item) for item in items)
    print(f"## 2. Today's first page, without DynamoDB ({n:,} runs, {len(items):,} items, {mb(size)} of items)\n")
    total = t_parse.cpu_ms + t_list.cpu_ms + t_apply.cpu_ms
    table(
        ["step", f"wall ms (median of {repeat})", "CPU ms", "CPU us per run"],
        [
            (f"botocore parses the {len(pages)} Query pages", ms(t_parse.wall_ms), ms(t_parse.cpu_ms), ""),
            ("`list_runs` assembles every run (json.loads, Run objects)", ms(t_list.wall_ms), ms(t_list.cpu_ms), ""),
            (
                "domain filter + sort (`RunQuery.apply`), the filtered search",
                ms(t_apply.wall_ms),
                ms(t_apply.cpu_ms),
                "",
            ),
            ("**all three**", "", f"**{ms(total)}**", f"**{total * 1000 / n:,.0f}**"),
        ],
    )
    per_run_ms = total / n
    print(
        f"Read units of that one read: {rcu:,.0f} RCU for {n:,} runs ({rcu / n:.3f} per run, {size / n:,.0f} bytes of "
        f"items per run). At this CPU per run: 100,000 runs = {per_run_ms * 1e5 / 1000:,.1f} s of CPU here, "
        f"{per_run_ms * 1e5 * LAMBDA_CPU_FACTOR / 1000:,.1f} s on a 1,024 MB Lambda (x{LAMBDA_CPU_FACTOR}); "
        f"1,000,000 runs = {per_run_ms * 1e6 / 1000:,.0f} s here. DynamoDB's own time comes on top.\n"
    )
    return {"bytes_per_run": size / n, "items_per_run": len(items) / n, "cpu_ms_per_run": per_run_ms}


# ---------------------------------------------------------------------------------------------------------------
# 3. the projection
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class ProjectionFigures:
    runs: int
    file_bytes: int
    column_bytes: dict[str, int]
    write_ms: float
    q1_position: int
    q2_matches: int
    q2_walk: int
    rows: dict[str, tuple[str, str, str]]
    q2_cpu_ms: float = 0.0
    pages: dict[str, list[str]] | None = None  # pyarrow's two pages, for part 7


def column_sizes(path: Path) -> dict[str, int]:
    meta = pq.ParquetFile(path).metadata
    sizes: dict[str, int] = {}
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            column = group.column(c)
            sizes[column.path_in_schema] = sizes.get(column.path_in_schema, 0) + column.total_compressed_size
    return sizes


def read_columns(path: Path, columns: list[str]) -> pa.Table:
    dictionary = [c for c in columns if c in DICTIONARY_COLUMNS]
    return pq.read_table(path, columns=columns, read_dictionary=dictionary, use_threads=False)


def probe_projection(projection: pa.Table, folder: Path, repeat: int, oracle: list[Any] | None) -> ProjectionFigures:
    n = projection.num_rows
    path = folder / f"projection-{n}.parquet"
    write = timed(lambda: pq.write_table(projection, path, compression="zstd", use_dictionary=True), 1)
    figures = ProjectionFigures(n, path.stat().st_size, column_sizes(path), write.wall_ms, 0, 0, 0, {})
    rows = figures.rows
    rows["pyarrow, columns in memory (warm container): default page"] = _row(
        timed(lambda: arrow_default_page(projection.select(Q1_COLUMNS)), repeat)
    )
    rows["pyarrow, columns in memory (warm container): filtered page"] = _row(
        timed(lambda: arrow_filtered_page(projection.select(Q2_COLUMNS)), repeat)
    )
    rows["read the default page's 3 columns from Parquet (no query)"] = _row(
        timed(lambda: read_columns(path, Q1_COLUMNS).num_rows, repeat)
    )
    rows["read the filtered page's 7 columns from Parquet (no query)"] = _row(
        timed(lambda: read_columns(path, Q2_COLUMNS).num_rows, repeat)
    )
    default = timed(lambda: arrow_default_page(read_columns(path, Q1_COLUMNS)), repeat)
    filtered = timed(lambda: arrow_filtered_page(read_columns(path, Q2_COLUMNS)), repeat)
    rows["pyarrow, read Parquet + query: default page"] = _row(default)
    rows["pyarrow, read Parquet + query: filtered page"] = _row(filtered)
    figures.q2_cpu_ms = filtered.cpu_ms
    figures.pages = {"default page": default.result, "filtered page": filtered.result}
    _probe_duckdb(rows, path, repeat)
    _probe_merge(rows, projection, repeat)
    _positions(figures, projection)
    _check(rows, default.result, filtered.result, path, projection, oracle, repeat)
    return figures


def _row(t: Timed) -> tuple[str, str, str]:
    return ms(t.wall_ms), ms(t.cpu_ms), ""


def _probe_duckdb(rows: dict[str, tuple[str, str, str]], path: Path, repeat: int) -> None:
    try:
        import duckdb  # noqa: F401
    except ImportError:
        rows["duckdb"] = ("not installed", "", "")
        return
    rows["duckdb, fresh connection, over Parquet: default page"] = _row(
        timed(lambda: duck_page(duck_connection(), DUCK_DEFAULT, path), repeat)
    )
    rows["duckdb, fresh connection, over Parquet: filtered page"] = _row(
        timed(lambda: duck_page(duck_connection(), DUCK_FILTERED, path), repeat)
    )
    connection = duck_connection()
    duck_page(connection, DUCK_FILTERED, path)
    rows["duckdb, warm connection, over Parquet: default page"] = _row(
        timed(lambda: duck_page(connection, DUCK_DEFAULT, path), repeat)
    )
    rows["duckdb, warm connection, over Parquet: filtered page"] = _row(
        timed(lambda: duck_page(connection, DUCK_FILTERED, path), repeat)
    )


def _probe_merge(rows: dict[str, tuple[str, str, str]], projection: pa.Table, repeat: int) -> None:
    """A reader merging the projection with 1,000 runs changed since its watermark: drop their stale rows (by run
    id), append their fresh ones, order with run_id itself as the last key."""
    rng = np.random.default_rng(7)
    columns = projection.select(Q2_COLUMNS)
    changed = columns.take(pa.array(rng.choice(columns.num_rows, 1000, replace=False)))
    fresh = changed.set_column(
        changed.schema.get_field_index("m:loss"), "m:loss", pa.array(rng.random(1000) / 100, pa.float64())
    )

    def merged() -> list[str]:
        stale = pc.is_in(columns["run_id"], value_set=fresh["run_id"])
        base = columns.filter(pc.invert(stale))
        union = pa.concat_tables([base, fresh.cast(base.schema)])
        return arrow_filtered_page(union, tie="run_id")

    rows["pyarrow, in memory, filtered page merged with 1,000 changed runs"] = _row(timed(merged, repeat))


def _positions(figures: ProjectionFigures, projection: pa.Table) -> None:
    """How far a walk along an order index goes before it has a page: for the default page, index entries (with
    deleted runs) up to the 100th active run; for the filtered page, runs in loss order (every run with the key)
    up to the 100th that passes the filter."""
    from stratus.domain.search.comparison import string_matcher

    rows = _row_index(projection)
    by_time = pc.sort_indices(rows, sort_keys=[("a:start_time", "descending"), ("rix", "ascending")])
    active = pc.equal(rows["a:lifecycle_stage"].take(by_time), "active").to_numpy(zero_copy_only=False)
    figures.q1_position = int(np.flatnonzero(active)[PAGE - 1]) + 1
    loss = rows["m:loss"]
    key = pa.table(
        {
            "g": pc.if_else(pc.is_null(loss), 2, pc.if_else(pc.is_nan(loss), 1, 0)),
            "v": pc.fill_null(pc.if_else(pc.is_nan(loss), 0.0, _clamped(loss)), 0.0),
            "st": rows["a:start_time"],
            "rix": rows["rix"],
        }
    )
    by_loss = pc.sort_indices(key, sort_keys=[("g", "ascending"), ("v", "ascending"), ("st", "descending")])
    mask = pc.and_(pc.equal(rows["a:lifecycle_stage"], "active"), pc.greater(_clamped(rows["m:acc"]), 0.5))
    mask = pc.and_(mask, _string_mask(rows["p:p1"], string_matcher("=", "3")))
    mask = pc.and_(mask, _string_mask(rows["t:team"], string_matcher("=", "a")))
    passing = pc.fill_null(mask, False).take(by_loss).to_numpy(zero_copy_only=False)
    figures.q2_matches = int(passing.sum())
    hits = np.flatnonzero(passing)
    figures.q2_walk = int(hits[PAGE - 1]) + 1 if len(hits) >= PAGE else len(passing)  # short: to the end


def _check(
    rows: dict[str, tuple[str, str, str]],
    default: list[str],
    filtered: list[str],
    path: Path,
    projection: pa.Table,
    oracle: list[Any] | None,
    repeat: int,
) -> None:
    """Compare the pages of every engine with the domain's own search over the same runs (the reference's order)."""
    agree = {"pyarrow": (default, filtered)}
    try:
        connection = duck_connection()
        agree["duckdb"] = (duck_page(connection, DUCK_DEFAULT, path), duck_page(connection, DUCK_FILTERED, path))
    except ImportError:
        pass
    if oracle is None:
        same = default == agree.get("duckdb", (default,))[0] and filtered == agree.get("duckdb", (0, filtered))[1]
        rows["pages: pyarrow and duckdb give the same 100 run ids"] = ("yes" if same else "**NO**", "", "")
        return
    from stratus.domain.search import compile_run_search

    active = [r for r in oracle if r.info.lifecycle_stage == "active"]
    q1, q2 = compile_run_search(None, ORDER_DEFAULT), compile_run_search(FILTER, ORDER_FILTERED)
    t1 = timed(lambda: q1.apply(active), max(1, repeat // 2))
    t2 = timed(lambda: q2.apply(active), max(1, repeat // 2))
    rows["domain `RunQuery.apply` on Run objects already in memory: default page"] = _row(t1)
    rows["domain `RunQuery.apply` on Run objects already in memory: filtered page"] = _row(t2)
    expected = ([r.run_id for r in t1.result[:PAGE]], [r.run_id for r in t2.result[:PAGE]])
    for engine, pages in agree.items():
        verdict = "yes" if pages == expected else "**NO**"
        rows[f"{engine}: both pages equal the domain's (same 100 run ids, same order)"] = (verdict, "", "")


def projection_part(sizes: list[int], folder: Path, repeat: int, oracle_runs: int) -> list[ProjectionFigures]:
    print("## 3. A columnar projection: Parquet (zstd) and the two target searches, single-threaded\n")
    pa.set_cpu_count(1)
    results = []
    for n in sizes:
        started = time.perf_counter()
        projection = synthetic_projection(n)
        oracle = domain_runs(projection) if n <= oracle_runs else None
        print(f"{n:,} runs generated in {time.perf_counter() - started:,.1f} s ({load()})\n")
        figures = probe_projection(projection, folder, repeat, oracle)
        del oracle
        results.append(figures)
        q1_bytes = sum(figures.column_bytes[c] for c in Q1_COLUMNS)
        q2_bytes = sum(figures.column_bytes[c] for c in Q2_COLUMNS)
        print(
            f"{n:,} runs: Parquet {mb(figures.file_bytes)} ({figures.file_bytes / n:,.0f} bytes per run), written in "
            f"{ms(figures.write_ms)} ms; the default page reads {mb(q1_bytes)} of it, the filtered page "
            f"{mb(q2_bytes)}. {figures.q2_matches:,} active runs pass the filter "
            f"({figures.q2_matches / n:.2%}).\n"
        )
        table([f"{n:,} runs (median of {repeat})", "wall ms", "CPU ms", ""], ((k, *v) for k, v in figures.rows.items()))
        table(
            ["column", "compressed bytes", "bytes per run"],
            ((c, f"{b:,}", f"{b / n:.2f}") for c, b in figures.column_bytes.items()),
        )
    return results


# ---------------------------------------------------------------------------------------------------------------
# 4. DynamoDB arithmetic
# ---------------------------------------------------------------------------------------------------------------


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def index_items(run_id: str) -> dict[str, dict[str, Any]]:
    """One of each proposed item, at realistic key lengths (items.py's conventions)."""
    inverted = f"{2**64 - 1 - (1_760_000_000_000 + 2**63):020d}"
    sortable = "c00b1a2b3c4d5e6f"  # 16 hex digits: the float's bits, sign flipped so that bytes sort as numbers
    return {
        "start-time index `EXP#<exp>`/`T#<inverted start>#<run>` + `ls`": {
            "pk": _s(f"EXP#{EXPERIMENT}"),
            "sk": _s(f"T#{inverted}#{run_id}"),
            "ls": _s("a"),
        },
        "metric order item `XM#<exp>#<key>`/`<g><value>#<inverted start>#<run>`": {
            "pk": _s(f"XM#{EXPERIMENT}#loss"),
            "sk": _s(f"0{sortable}#{inverted}#{run_id}"),
        },
        "param/tag value item `XP#<exp>#<key>`/`<value>#<inverted start>#<run>`": {
            "pk": _s(f"XP#{EXPERIMENT}#p1"),
            "sk": _s(f"3#{inverted}#{run_id}"),
        },
        "change marker `EXP#<exp>`/`C#<ms>#<run>` + `ttl`": {
            "pk": _s(f"EXP#{EXPERIMENT}"),
            "sk": _s(f"C#1760000000000#{run_id}"),
            "ttl": {"N": "1760086400"},
        },
        "projection manifest `EXP#<exp>`/`P#`": {
            "pk": _s(f"EXP#{EXPERIMENT}"),
            "sk": _s("P#"),
            "version": {"N": "1234"},
            "watermark": {"N": "1760000000000"},
            "base": _s(f"projections/{EXPERIMENT}/base-0000001234.parquet"),
            "deltas": {"L": [_s(f"projections/{EXPERIMENT}/delta-{i:010d}.parquet") for i in range(8)]},
        },
    }


def query_rcu(items: int, size: int) -> float:
    """Consistent Query: read units on the bytes returned, per 1 MB page."""
    total, pages = items * size, max(1, math.ceil(items * size / 1_000_000))
    return sum(read_units(min(1_000_000, total - p * 1_000_000), consistent=True) for p in range(pages))


@dataclass
class PageCost:
    label: str
    rcu: float
    requests: int
    small_rounds: int  # rounds of small requests one after the other (parallel requests count once per round)
    page_rounds: int = 0  # 1 MB Query pages one after the other
    s3_gets: int = 0
    s3_bytes: int = 0
    cpu_ms: float = 0.0  # here; x LAMBDA_CPU_FACTOR on a 1,024 MB Lambda

    def lambda_ms(self) -> float:
        """An estimate of the Lambda's duration on AWS, from the assumptions named at the top of this module."""
        s3 = S3_FIRST_BYTE_MS + self.s3_bytes / S3_BYTES_PER_MS if self.s3_gets else 0.0
        cpu = self.cpu_ms + self.requests * REQUEST_CPU_MS
        return self.small_rounds * AWS_QUERY_MS + self.page_rounds * AWS_MB_PAGE_MS + s3 + cpu * LAMBDA_CPU_FACTOR

    def dollars_per_million(self) -> float:
        seconds = (self.lambda_ms() + 0.5) / 1000
        lambda_cost = seconds * SEARCH_MEMORY_GB * prices.LAMBDA_ARM64_GB_SECOND + prices.LAMBDA_REQUEST
        per_search = (
            self.rcu * prices.DYNAMODB_READ_REQUEST_UNIT
            + self.s3_gets * prices.S3_GET_REQUEST
            + lambda_cost
            + prices.HTTP_API_REQUEST
        )
        return per_search * 1e6


def dynamodb_part(current: dict[str, float], projections: list[ProjectionFigures], hydrate_rcu: float) -> None:
    print("## 4. DynamoDB, computed from item sizes (AWS's billing rules, benchmarks/dynamo_meter.py)\n")
    samples = index_items("0" * 32)
    sizes = {label: item_size(item) for label, item in samples.items()}
    table(
        ["item", "bytes", "WCU to put", "RCU per 100 in one Query"],
        ((label, size, write_units(size), f"{query_rcu(100, size):.1f}") for label, size in sizes.items()),
    )
    run_bytes = current["bytes_per_run"]
    print(
        f"A synthetic run's items (info + data shards): {current['items_per_run']:.1f} items, {run_bytes:,.0f} bytes: "
        f"hydrating one run by one consistent Query of its items costs {hydrate_rcu:.0f} RCU.\n"
    )
    rows = []
    for figures in projections:
        for cost in page_costs(figures, current, hydrate_rcu, list(sizes.values())):
            rows.append(
                (
                    f"{figures.runs:,}",
                    cost.label,
                    f"{cost.rcu:,.0f}",
                    f"{cost.requests:,}",
                    f"{cost.small_rounds:,} + {cost.page_rounds:,}",
                    f"{cost.s3_gets} / {mb(cost.s3_bytes)}" if cost.s3_gets else "",
                    f"{cost.lambda_ms():,.0f}",
                    f"${cost.dollars_per_million():,.2f}",
                )
            )
    table(
        [
            "runs",
            "page of 100",
            "RCU",
            "DynamoDB requests",
            "rounds: small + 1 MB pages",
            "S3 GETs / bytes",
            "est. Lambda ms",
            "$ per million searches",
        ],
        rows,
    )
    print(
        f"Est. Lambda ms (an estimate, not a measurement): {AWS_QUERY_MS:.0f} ms per round of small requests "
        f"(hydration: rounds of {HYDRATE_THREADS} parallel Queries), {AWS_MB_PAGE_MS:.0f} ms per 1 MB Query page, "
        f"S3 {S3_FIRST_BYTE_MS:.0f} ms + {S3_BYTES_PER_MS / 1000:.0f} MB/s, and CPU x {LAMBDA_CPU_FACTOR}: part 2's "
        f"per run read, part 3's read + query for the projection, {REQUEST_CPU_MS:.0f} ms per request. $ per million "
        f"searches: RCU x ${prices.DYNAMODB_READ_REQUEST_UNIT * 1e6}/M, S3 GETs, HTTP API, one invocation and that "
        f"duration at {SEARCH_MEMORY_GB:.0f} GB arm64 (benchmarks/prices.py). The projection's upkeep (stream "
        "consumer, S3 PUTs) is per write, not per search: see the write table.\n"
    )
    write_amplification(sizes)


def page_costs(
    figures: ProjectionFigures, current: dict[str, float], hydrate_rcu: float, sizes: list[int]
) -> list[PageCost]:
    """Each way of answering a page of 100, at ``figures.runs`` runs: read units, requests, rounds, CPU."""
    t_size, m_size, p_size, marker, manifest = sizes
    n, per_run = figures.runs, current["cpu_ms_per_run"]
    hydrate_rounds = math.ceil(PAGE / HYDRATE_THREADS)
    items, item_bytes = int(n * current["items_per_run"]), int(current["bytes_per_run"] / current["items_per_run"])
    partition_pages = math.ceil(n * current["bytes_per_run"] / 1e6)
    today = PageCost(
        "today: read the whole experiment (either search)",
        query_rcu(items, item_bytes),
        partition_pages,
        0,
        page_rounds=math.ceil(partition_pages / 16),  # 16 sort-key ranges read at once
        cpu_ms=per_run * n,
    )
    t_pages = math.ceil(figures.q1_position * t_size / 1e6)
    start_index = PageCost(
        f"default page: start-time index ({figures.q1_position} entries) + hydrate 100",
        query_rcu(figures.q1_position, t_size) + PAGE * hydrate_rcu,
        t_pages + PAGE,
        t_pages + hydrate_rounds,
        cpu_ms=per_run * PAGE,
    )
    walk = figures.q2_walk
    walk_pages = math.ceil(walk * m_size / 1e6)
    walk_cost = PageCost(
        f"filtered: walk the loss order items, hydrate each candidate ({walk:,})",
        query_rcu(walk, m_size) + walk * hydrate_rcu,
        walk_pages + walk,
        math.ceil(walk / HYDRATE_THREADS),
        page_rounds=walk_pages,
        cpu_ms=per_run * walk,
    )
    # p1 = '3' (a tenth of the runs), team = 'a' (a third), acc > 0.5 (a half) read from their value items at once,
    # intersected; then the survivors hydrated for their loss (fewer reads here than the whole loss order)
    clause_items = int(n * (0.1 + 1 / 3 + 0.5))
    survivors = figures.q2_matches
    intersect = PageCost(
        f"filtered: intersect 3 value-item ranges ({clause_items:,} entries), hydrate {survivors:,}",
        query_rcu(clause_items, p_size) + survivors * hydrate_rcu,
        math.ceil(clause_items * p_size / 1e6) + survivors,
        math.ceil(survivors / HYDRATE_THREADS),
        page_rounds=math.ceil(n * 0.5 * p_size / 1e6),
        cpu_ms=per_run * survivors,
    )
    projection = PageCost(
        "filtered: projection (manifest, markers, 7 columns from S3) + hydrate 100",
        read_units(manifest, consistent=True) + query_rcu(10, marker) + PAGE * hydrate_rcu,
        2 + PAGE,
        2 + hydrate_rounds,
        s3_gets=2 + len(Q2_COLUMNS),
        s3_bytes=sum(figures.column_bytes[c] for c in Q2_COLUMNS),
        cpu_ms=figures.q2_cpu_ms + per_run * PAGE,
    )
    # the page read by BatchGetItem by exact keys instead: the info item and all 8 possible data shards of each run
    # (9 keys, 100 a request, all at once); every key read costs >= 1 RCU, found or not
    batch_rcu = PAGE * (1 + DATA_SHARD_KEYS)
    batch_requests = math.ceil(PAGE * (1 + DATA_SHARD_KEYS) / 100)
    start_batch = PageCost(
        "default page: start-time index + BatchGetItem hydration (9 keys a run)",
        query_rcu(figures.q1_position, t_size) + batch_rcu,
        t_pages + batch_requests,
        t_pages + 1,
        cpu_ms=per_run * PAGE,
    )
    projection_batch = PageCost(
        "filtered: projection + BatchGetItem hydration (9 keys a run)",
        projection.rcu - PAGE * hydrate_rcu + batch_rcu,
        2 + batch_requests,
        2 + 1,
        s3_gets=projection.s3_gets,
        s3_bytes=projection.s3_bytes,
        cpu_ms=projection.cpu_ms,
    )
    return [today, start_index, start_batch, walk_cost, intersect, projection, projection_batch]


def _shard_wcu(metric_keys: int, every_shard: bool = False) -> tuple[int, int]:
    """(changed shards, their write units) when a run of 5 params, 3 tags and ``metric_keys`` metrics has every
    metric changed in one log-batch: each changed data shard is rewritten whole (tracking._write_run). With
    ``every_shard``: all the run's shards (what create-run writes)."""
    from stratus.store.dynamodb.tracking import shard_of

    bodies: dict[int, dict[str, dict[str, Any]]] = {}
    for kind, key, value in [("p", f"p{i}", "0.001") for i in range(5)] + [("t", f"tag{i}", "a") for i in range(3)]:
        bodies.setdefault(shard_of(kind, key), {}).setdefault(kind, {})[key] = value
    changed = set()
    for i in range(metric_keys):
        n = shard_of("m", f"metric_{i}")
        bodies.setdefault(n, {}).setdefault("m", {})[f"metric_{i}"] = ["0.12345678901234", 1760000000000, 1]
        changed.add(n)
    wcu = 0
    for n in bodies if every_shard else changed:
        item = {"pk": _s(f"EXP#{EXPERIMENT}"), "sk": _s(f"R#{'0' * 32}#D{n}"), "kind": _s("data")}
        item |= {"version": {"N": "12"}, "body": _s(json.dumps(bodies[n], separators=(",", ":")))}
        wcu += write_units(item_size(item))
    return len(changed), wcu


def write_amplification(sizes: dict[str, int]) -> None:
    labels = list(sizes)
    marker, metric_item, value_item = sizes[labels[3]], sizes[labels[1]], sizes[labels[2]]
    m_w, p_w, c_w = write_units(metric_item), write_units(value_item), write_units(marker)
    chunk = write_units(item_size({"pk": _s("RUN#" + "0" * 32), "sk": _s("H#metric_1#0a1b2c3d"), "points": {"B": ""}}))
    print(
        "Write units per call: today (computed: changed data shards rewritten whole, x2 in a transaction, + one "
        f"history chunk of {chunk} WCU per metric key), and what each design adds. An order item whose sort key "
        "changes is a delete + a put.\n"
    )
    rows = []
    for call, keys in (("log-metric", 1), ("log-batch, 10 metric keys", 10), ("log-batch, 100 metric keys", 100)):
        shards, shard_wcu = _shard_wcu(keys)
        today = (shard_wcu if shards == 1 else 2 * shard_wcu) + keys * chunk
        rows.append((call, today, f"+{2 * m_w * keys:,} ({2 * keys:,} requests)", f"+{4 * m_w * keys:,}", f"+{c_w}"))
    shards, shard_wcu = _shard_wcu(1000)
    rows.append(
        ("log-batch, 1,000 metric keys", 2 * shard_wcu + 1000 * chunk, f"+{2 * m_w * 1000:,} (2,000 requests)",
         "over the 100-item transaction limit", f"+{c_w}")
    )  # fmt: skip
    rows.append(("log-param", 1, f"+{p_w} (1 request)", f"+{2 * p_w}", f"+{c_w}"))
    rows.append(("set-tag (value changes)", 1, f"+{2 * p_w} (2 requests)", f"+{4 * p_w}", f"+{c_w}"))
    create = 2 * (1 + 1 + _shard_wcu(0, every_shard=True)[1])  # pointer, info, the shards: one transaction
    rows.append(("create-run (5 params, 3 tags)", create, f"+{8 * p_w} (8 requests)", f"+{16 * p_w}",
                 f"+{c_w} + {2 * write_units(sizes[labels[0]])} (`T#` in the create transaction)"))  # fmt: skip
    rows.append(("update-run, delete/restore-run", 1, "+0", "+0", f"+{c_w} (delete/restore: +2, `T#` stage)"))
    table(
        [
            "call",
            "today WCU",
            "order items, outside the transaction",
            "order items, inside it",
            "hybrid (`T#` + projection): change marker",
        ],
        rows,
    )


# ---------------------------------------------------------------------------------------------------------------
# 5. experiments/search over 10,000 experiments
# ---------------------------------------------------------------------------------------------------------------


def experiments_part(count: int, repeat: int) -> None:
    from stratus.domain.search import compile_experiment_search
    from stratus.store.dynamodb.items import ExperimentItem
    from stratus.store.dynamodb.tracking import _experiment

    raw = []
    for i in range(count):
        raw.append(
            {
                "pk": _s("EXPERIMENTS"),
                "sk": _s(f"E#{i}"),
                "experiment_id": _s(str(i)),
                "name": _s(f"team-{i % 40}/experiment-{i}"),
                "artifact_location": _s(f"s3://stratus-artifacts-123456789012/{i}"),
                "lifecycle_stage": _s("active" if i % 10 else "deleted"),
                "creation_time": {"N": str(1_760_000_000_000 + i * 1000)},
                "last_update_time": {"N": str(1_760_000_000_000 + i * 1000)},
                "tags": {"M": {"mlflow.note.content": _s("a short note"), "team": _s(f"team-{i % 40}")}},
                "version": {"N": "1"},
            }
        )
    size = sum(item_size(item) for item in raw)
    pages, rcu = query_pages(raw)
    parse = _botocore_pages(pages, repeat)
    decode = timed(lambda: [_experiment(ExperimentItem.from_raw_data(item)) for item in raw], repeat)
    direct = timed(lambda: [_raw_experiment(item) for item in raw], repeat)
    compact = [_compact_experiment(item) for item in raw]
    compact_pages, compact_rcu = query_pages(compact)
    compact_parse = _botocore_pages(compact_pages, repeat)
    compact_decode = timed(lambda: [_experiment_of_compact(item) for item in compact], repeat)
    experiments = [e for e in decode.result if e.lifecycle_stage == "active"]
    query = compile_experiment_search("name ILIKE '%experiment-12%'", ["last_update_time DESC"])
    default = compile_experiment_search(None, ["last_update_time DESC"])
    t_filtered = timed(lambda: query.apply(experiments), repeat)
    t_default = timed(lambda: default.apply(experiments), repeat)
    print(f"## 5. experiments/search over {count:,} experiments, without DynamoDB\n")
    table(
        ["step", f"wall ms (median of {repeat})", "CPU ms"],
        [
            (f"botocore parses the {len(pages)} Query pages", *_row(parse)[:2]),
            (f"pynamodb decodes {count:,} ExperimentItems (from_raw_data) into Experiments", *_row(decode)[:2]),
            ("or: raw DynamoDB JSON straight into Experiments (no pynamodb model)", *_row(direct)[:2]),
            (
                f"compact items (pk, sk, stage, one JSON body): botocore parses {len(compact_pages)} pages",
                *_row(compact_parse)[:2],
            ),
            ("compact items: json.loads into Experiments", *_row(compact_decode)[:2]),
            ("domain: no filter, last_update_time DESC", *_row(t_default)[:2]),
            ("domain: name ILIKE '%experiment-12%', last_update_time DESC", *_row(t_filtered)[:2]),
        ],
    )
    print(
        f"The EXPERIMENTS partition: {mb(size)} of items, {rcu:,.0f} RCU in {len(pages)} Query pages of up to 1 MB "
        f"(one after the other); as compact items {compact_rcu:,.0f} RCU in {len(compact_pages)} pages.\n"
    )


def _botocore_pages(pages: list[bytes], repeat: int) -> Timed:
    import botocore.session
    from botocore import parsers

    shape = botocore.session.get_session().get_service_model("dynamodb").operation_model("Query").output_shape
    parser = parsers.create_parser("json")

    def parse() -> list[Any]:
        return [parser.parse({"body": body, "headers": {}, "status_code": 200}, shape) for body in pages]

    parse()  # botocore resolves the shapes on first use
    return timed(parse, repeat)


def _compact_experiment(item: dict[str, Any]) -> dict[str, Any]:
    """The same experiment as a compact item: keys, lifecycle stage and one JSON ``body`` (as run items are)."""
    body = {
        "n": item["name"]["S"],
        "a": item["artifact_location"]["S"],
        "c": int(item["creation_time"]["N"]),
        "u": int(item["last_update_time"]["N"]),
        "t": {key: value["S"] for key, value in item["tags"]["M"].items()},
    }
    return {
        "pk": item["pk"],
        "sk": item["sk"],
        "lifecycle_stage": item["lifecycle_stage"],
        "version": item["version"],
        "body": _s(json.dumps(body, separators=(",", ":"))),
    }


def _experiment_of_compact(item: dict[str, Any]) -> Any:
    from stratus.domain.entities import Experiment

    body = json.loads(item["body"]["S"])
    experiment_id = item["sk"]["S"][2:]
    stage = item["lifecycle_stage"]["S"]
    return Experiment(experiment_id, body["n"], body["a"], stage, body["c"], body["u"], body["t"])


def _raw_experiment(item: dict[str, Any]) -> Any:
    from stratus.domain.entities import Experiment

    tags = {key: value["S"] for key, value in item.get("tags", {}).get("M", {}).items()}
    return Experiment(
        item["experiment_id"]["S"],
        item["name"]["S"],
        item["artifact_location"]["S"],
        item["lifecycle_stage"]["S"],
        int(item["creation_time"]["N"]),
        int(item["last_update_time"]["N"]),
        tags,
    )


# ---------------------------------------------------------------------------------------------------------------
# 6. DynamoDB Local: a start-time index page and the hydration of 100 runs
# ---------------------------------------------------------------------------------------------------------------


def dynamodb_local_part(runs: int, repeat: int) -> None:
    import boto3

    from stratus_local.backends import DynamoDBLocal, dynamodb_local_home, find_java, is_dynamodb_local_dir

    home, java = dynamodb_local_home(), find_java()
    if java is None or not is_dynamodb_local_dir(home):
        print("## 6. DynamoDB Local: skipped (no DynamoDB Local in the cache or no Java 17)\n")
        return
    server = DynamoDBLocal(home, java[0], None, None)
    endpoint = server.start()
    try:
        from botocore.config import Config

        client = boto3.client(
            "dynamodb",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
            config=Config(max_pool_connections=2 * HYDRATE_THREADS),
        )
        _measure_local(client, runs, repeat)
    finally:
        server.stop()


def _load_local(client: Any, runs: int) -> list[dict[str, Any]]:
    """A table like StratusTable's keys, with ``runs`` runs in one experiment and their ``T#`` items."""
    client.create_table(
        TableName="probe",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    projection = synthetic_projection(runs, seed=5)
    items = list(run_items(projection))
    starts = projection["a:start_time"].to_pylist()
    stages = projection["a:lifecycle_stage"].to_pylist()
    for run_id, start, stage in zip(projection["run_id"].to_pylist(), starts, stages, strict=True):
        inverted = f"{2**64 - 1 - (start + 2**63):020d}"
        items.append({"pk": _s(f"EXP#{EXPERIMENT}"), "sk": _s(f"T#{inverted}#{run_id}"), "ls": _s(stage[0])})
    loaded = time.perf_counter()
    batches = [items[i : i + 25] for i in range(0, len(items), 25)]

    def put(batch: list[dict[str, Any]]) -> None:
        pending = [{"PutRequest": {"Item": item}} for item in batch]
        while pending:
            pending = client.batch_write_item(RequestItems={"probe": pending}).get("UnprocessedItems", {}).get("probe")

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(put, batches))
    print(f"## 6. DynamoDB Local, one partition of {runs:,} runs ({len(items):,} items, loaded in "
          f"{time.perf_counter() - loaded:,.0f} s; {load()})\n")  # fmt: skip
    return items


def _measure_local(client: Any, runs: int, repeat: int) -> None:
    items = _load_local(client, runs)

    def index_page() -> list[str]:
        answer = client.query(
            TableName="probe",
            KeyConditionExpression="pk = :p AND sk BETWEEN :a AND :b",
            FilterExpression="ls = :s",
            ExpressionAttributeValues={
                ":p": _s(f"EXP#{EXPERIMENT}"),
                ":a": _s("T#"),
                ":b": _s("T#\x7f"),
                ":s": _s("a"),
            },
            ConsistentRead=True,
            Limit=110,
        )
        return [item["sk"]["S"].rsplit("#", 1)[1] for item in answer["Items"]][:PAGE]

    def hydrate_one(run_id: str) -> int:
        answer = client.query(
            TableName="probe",
            KeyConditionExpression="pk = :p AND sk BETWEEN :a AND :b",
            ExpressionAttributeValues={
                ":p": _s(f"EXP#{EXPERIMENT}"), ":a": _s(f"R#{run_id}#"), ":b": _s(f"R#{run_id}#\x7f")
            },
            ConsistentRead=True,
        )  # fmt: skip
        return len(answer["Items"])

    page = index_page()
    rows = [("start-time index: one Query of 110 `T#` items", *_row(timed(index_page, repeat))[:2])]
    for threads in (1, 8, HYDRATE_THREADS):
        with ThreadPoolExecutor(max_workers=threads) as pool:
            t = timed(lambda pool=pool: sum(pool.map(hydrate_one, page)), repeat)
        rows.append((f"hydrate the page's 100 runs: 100 Queries on {threads} threads ({t.result} items)", *_row(t)[:2]))
    with ThreadPoolExecutor(max_workers=HYDRATE_THREADS) as pool:
        both = timed(lambda: sum(pool.map(hydrate_one, index_page())), repeat)
    rows.append(("**default page: index Query + hydration (16 threads)**", *_row(both)[:2]))
    rows.extend(_batch_get_rows(client, items, page, repeat))
    table(["call (client in this process, DynamoDB Local in Java)", f"wall ms (median of {repeat})", "CPU ms"], rows)


def _batch_get_rows(client: Any, items: list[dict[str, Any]], page: list[str], repeat: int) -> list[tuple[str, ...]]:
    """The page's runs read by BatchGetItem instead: every possible key, or only those that exist."""
    existing: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        existing.setdefault(item["sk"]["S"].split("#")[1], []).append({"pk": item["pk"], "sk": item["sk"]})
    every = [
        {"pk": _s(f"EXP#{EXPERIMENT}"), "sk": _s(f"R#{r}#{s}")}
        for r in page
        for s in ["I"] + [f"D{n}" for n in range(8)]
    ]
    known = [key for r in page for key in existing[r]]

    def batch_get(keys: list[dict[str, Any]]) -> int:
        found = 0
        while keys:
            answer = client.batch_get_item(RequestItems={"probe": {"Keys": keys, "ConsistentRead": True}})
            found += len(answer["Responses"].get("probe", []))
            keys = answer.get("UnprocessedKeys", {}).get("probe", {}).get("Keys", [])
        return found

    rows = []
    for label, keys in (("all 9 possible keys per run", every), ("only the items that exist (a shard bitmap)", known)):
        chunks = [keys[i : i + 100] for i in range(0, len(keys), 100)]
        with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
            t = timed(lambda pool=pool, chunks=chunks: sum(pool.map(batch_get, chunks)), repeat)
        rows.append(
            (f"hydrate by BatchGetItem, {label}: {len(keys)} keys, {len(chunks)} requests at once", *_row(t)[:2])
        )
    return rows


# ---------------------------------------------------------------------------------------------------------------
# 7. the reference's SQL store (SQLite) with the same runs, in process
# ---------------------------------------------------------------------------------------------------------------


def _stored(value: float) -> tuple[float, int]:
    """(value, is_nan) as the reference's SqlAlchemyStore keeps a metric: NaN as 0 with a flag, inf as max float."""
    if value != value:
        return 0.0, 1
    return max(-MAX_FLOAT, min(MAX_FLOAT, value)), 0


def _load_reference(connection: Any, projection: pa.Table, experiment_id: str) -> None:
    rows = projection.to_pylist()
    runs, params, tags, metrics = [], [], [], []
    for row in rows:
        run_id = row["run_id"]
        runs.append(
            (run_id, row["a:run_name"], "UNKNOWN", "", "", row["a:user_id"], row["a:status"], row["a:start_time"],
             row["a:end_time"], "", row["a:lifecycle_stage"], f"/tmp/{run_id}", int(experiment_id))
        )  # fmt: skip
        for column, value in row.items():
            if value is None or column[1] != ":" or column[0] == "a":
                continue
            kind, key = column.split(":", 1)
            if kind == "p":
                params.append((key, value, run_id))
            elif kind == "t":
                tags.append((key, value, run_id))
            else:
                metrics.append((key, *_stored(value), row["a:start_time"], 0, run_id))
    with connection:
        connection.executemany(
            "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status, "
            "start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            runs,
        )
        connection.executemany('INSERT INTO params ("key", value, run_uuid) VALUES (?, ?, ?)', params)
        connection.executemany('INSERT INTO tags ("key", value, run_uuid) VALUES (?, ?, ?)', tags)
        connection.executemany(
            'INSERT INTO latest_metrics ("key", value, is_nan, timestamp, step, run_uuid) VALUES (?, ?, ?, ?, ?, ?)',
            metrics,
        )


def reference_part(runs: int, expected: dict[str, list[str]], repeat: int) -> None:
    """The two searches through ``SqlAlchemyStore.search_runs`` (what ``mlflow server`` runs per request, without
    HTTP), on SQLite loaded directly with the runs of part 3; pages compared with pyarrow's."""
    import logging
    import sqlite3

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from mlflow.entities import ViewType
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    with tempfile.TemporaryDirectory(prefix="stratus-probe-ref-") as folder:
        store = SqlAlchemyStore(f"sqlite:///{folder}/mlflow.db", f"{folder}/artifacts")
        experiment_id = store.create_experiment("probe")
        started = time.perf_counter()
        connection = sqlite3.connect(f"{folder}/mlflow.db")
        _load_reference(connection, synthetic_projection(runs), experiment_id)
        connection.close()
        loaded = time.perf_counter() - started
        print(f"## 7. The reference's SqlAlchemyStore on SQLite, {runs:,} runs (loaded by SQL in {loaded:,.0f} s; "
              f"{load()})\n")  # fmt: skip
        searches = {
            "default page": (None, ORDER_DEFAULT),
            "filtered page": (FILTER, ORDER_FILTERED),
        }
        rows = []
        for label, (filter_string, order_by) in searches.items():

            def search(filter_string: str | None = filter_string, order_by: list[str] = order_by) -> list[str]:
                found = store.search_runs([experiment_id], filter_string, ViewType.ACTIVE_ONLY, PAGE, order_by)
                return [run.info.run_id for run in found]

            first = timed(search, 1)
            again = first if first.wall_ms > 3000 else timed(search, repeat)  # a slow one once: the probe stays short
            same = "yes" if again.result == expected.get(label) else "**NO**"
            rows.append((label, ms(first.wall_ms), ms(again.wall_ms), ms(again.cpu_ms), same))
        table(
            ["search (100 runs)", "first call wall ms", f"then, median of {repeat}", "CPU ms", "same page as pyarrow"],
            rows,
        )


# ---------------------------------------------------------------------------------------------------------------
# 8. the projection read from S3 (moto's server, as stratus local runs it), first call in a fresh process
# ---------------------------------------------------------------------------------------------------------------

_S3_CHILD = """
import json, sys, time
started = time.perf_counter()
import pyarrow, pyarrow.compute, pyarrow.fs, pyarrow.parquet as pq
imported = time.perf_counter()
try:  # pyarrow imports pandas, when installed (this venv, not a Lambda layer), on its first Python-to-Arrow conversion
    import pandas
except ImportError:
    pass
with_pandas = time.perf_counter()
pyarrow.set_cpu_count(1)
import stratus.domain.search  # what compiling the query imports anyway
from benchmarks.search_scale_probe import DICTIONARY_COLUMNS, Q2_COLUMNS, arrow_filtered_page
probe = time.perf_counter()
endpoint, path = sys.argv[1], sys.argv[2]
fs = pyarrow.fs.S3FileSystem(
    endpoint_override=endpoint, scheme="http", access_key="x", secret_key="x", region="us-east-1"
)
dictionary = [c for c in Q2_COLUMNS if c in DICTIONARY_COLUMNS]
parquet = pq.ParquetFile(fs.open_input_file(path), read_dictionary=dictionary)
rows = parquet.read(columns=Q2_COLUMNS, use_threads=False)
read = time.perf_counter()
page = arrow_filtered_page(rows)
done = time.perf_counter()
print(json.dumps({
    "import": imported - started, "pandas": with_pandas - imported, "read": read - probe, "query": done - read,
}))
"""


def s3_part(files: list[Path], repeat: int) -> None:
    """The filtered page's columns read from moto's S3 server with pyarrow's S3 filesystem: first call in a fresh
    interpreter (pyarrow's import and S3 set-up included), then warm in this process."""
    import boto3
    from pyarrow import fs

    from stratus_local.backends import MotoServer

    server = MotoServer()
    endpoint = server.start()
    try:
        client = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        client.create_bucket(Bucket="probe")
        for path in files:
            client.upload_file(str(path), "probe", path.name)
        s3 = fs.S3FileSystem(
            endpoint_override=endpoint.removeprefix("http://"), scheme="http", access_key="x", secret_key="x",
            region="us-east-1",
        )  # fmt: skip
        print(f"## 8. The filtered page's columns from S3 (moto's server, as `stratus local` runs it; {load()})\n")
        rows = []
        for path in files:
            rows.extend(_s3_rows(path, endpoint, s3, client, repeat))
        table(["", "wall ms"], rows)
    finally:
        server.stop()


def _s3_rows(path: Path, endpoint: str, s3: Any, client: Any, repeat: int) -> list[tuple[str, str]]:
    import io

    runs = pq.ParquetFile(path).metadata.num_rows
    firsts = []
    for _ in range(max(1, repeat // 2)):
        child = subprocess.run(  # noqa: S603 - this interpreter, fixed code
            [sys.executable, "-c", _S3_CHILD, endpoint.removeprefix("http://"), f"probe/{path.name}"],
            capture_output=True,
            text=True,
            check=False,
        )
        if child.returncode == 0:
            firsts.append(json.loads(child.stdout.strip().splitlines()[-1]))
    rows = []
    if firsts:
        first = {key: statistics.median(f[key] * 1000 for f in firsts) for key in firsts[0]}
        total = first["import"] + first["read"] + first["query"]
        rows += [
            (f"{runs:,} runs, fresh interpreter: import pyarrow (+ parquet, compute, fs)", ms(first["import"])),
            (f"{runs:,} runs, fresh interpreter: import pandas, which pyarrow pulls in on its first conversion when it "
             "is installed (this venv; a Lambda layer without pandas does not pay it; not in the total)",
             ms(first["pandas"])),
            (f"{runs:,} runs, fresh interpreter: S3 set-up, open, footer, read the 7 columns", ms(first["read"])),
            (f"{runs:,} runs, fresh interpreter: the query", ms(first["query"])),
            (f"**{runs:,} runs, fresh interpreter: import + read + query**", f"**{ms(total)}**"),
        ]  # fmt: skip
    dictionary = [c for c in Q2_COLUMNS if c in DICTIONARY_COLUMNS]
    key = f"probe/{path.name}"
    warm = timed(
        lambda: pq.ParquetFile(s3.open_input_file(key), read_dictionary=dictionary).read(
            columns=Q2_COLUMNS, use_threads=False
        ),
        repeat,
    )
    whole = timed(
        lambda: pq.read_table(
            io.BytesIO(client.get_object(Bucket="probe", Key=path.name)["Body"].read()),
            columns=Q2_COLUMNS,
            read_dictionary=dictionary,
            use_threads=False,
        ),
        repeat,
    )
    rows += [
        (
            f"{runs:,} runs, warm: read the 7 columns with pyarrow's S3 filesystem (median of {repeat})",
            ms(warm.wall_ms),
        ),
        (f"{runs:,} runs, warm: or GetObject of the whole file (boto3) + read the columns", ms(whole.wall_ms)),
    ]
    return rows


# ---------------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.search_scale_probe", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=100_000, help="runs in the main projection (default 100,000)")
    parser.add_argument("--big-runs", type=int, default=1_000_000, help="a second, bigger projection (0: none)")
    parser.add_argument("--current-runs", type=int, default=10_000, help="runs for part 2 (today's read path)")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions per timing (median)")
    parser.add_argument("--imports", type=int, default=5, help="fresh interpreters per import timing")
    parser.add_argument("--experiments", type=int, default=10_000, help="experiments for part 5")
    parser.add_argument("--wheels", type=Path, help="a folder of wheels whose unzipped size to print")
    parser.add_argument("--dynamodb-local", type=int, default=0, metavar="RUNS", help="part 6 with RUNS runs")
    parser.add_argument("--skip-reference", action="store_true", help="skip part 7 (the reference's SQL store)")
    parser.add_argument("--skip-s3", action="store_true", help="skip part 8 (the projection read from moto's S3)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    print(f"Machine: {machine()}; {load()}\n")
    import_times(args.imports)
    installed_sizes(args.wheels)
    current = current_read_path(synthetic_projection(args.current_runs, seed=3), args.repeat)
    hydrate_rcu = float(read_units(int(current["bytes_per_run"]), consistent=True))
    sizes = [args.runs] + ([args.big_runs] if args.big_runs else [])
    with tempfile.TemporaryDirectory(prefix="stratus-probe-") as folder:
        projections = projection_part(sizes, Path(folder), args.repeat, oracle_runs=args.runs)
        if not args.skip_s3:
            s3_part(sorted(Path(folder).glob("projection-*.parquet"), key=lambda f: f.stat().st_size), args.repeat)
    dynamodb_part(current, projections, hydrate_rcu)
    experiments_part(args.experiments, args.repeat)
    if args.dynamodb_local:
        dynamodb_local_part(args.dynamodb_local, args.repeat)
    if not args.skip_reference:
        reference_part(args.runs, projections[0].pages or {}, args.repeat)
    print(f"Probe done in {time.perf_counter() - started:,.0f} s ({load()}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
