"""Stratus against the reference MLflow server, in one run, on one machine; what AWS would bill; cold start.

    python -m benchmarks.compare [--quick | --scale F] [--only KEY,...] [--json FILE] [--plots DIR] [--skip-cold]

Starts a throw-away ``stratus local`` in this process (handlers in-process, DynamoDB Local, moto) and the reference
``mlflow server`` (SQLite, proxied artifacts) as a subprocess, then drives each workload of
:mod:`benchmarks.workloads` with the stock client against both, Stratus first. The client runs in a process of its
own, as a training script does, so neither server shares an interpreter with it (``--client-in-process`` puts it in
this one, with ``stratus local``: how runs before 2026-12-08 were made). Loading (a 10,000-run experiment, a
100,000-point history) is not timed. For Stratus it also counts what AWS would bill (:mod:`benchmarks.aws_meter`)
and prices it (:mod:`benchmarks.cost`). Figures only: targets are printed beside them, nothing fails on one.
Results and how to read them: docs/benchmarks.md, section 4.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import boto3

from benchmarks import cold_start, plots, prices
from benchmarks.aws_meter import AwsMeter, DynamoProxy, InvocationMeter, MotoCounter, StackUsage, gateway_counter
from benchmarks.cost import AWS_CALL_MS, LAMBDA_CPU_FACTOR, Bill, Monthly, Storage, bill, monthly
from benchmarks.dynamo_meter import READ_UNIT_BYTES, DynamoMeter, item_size
from benchmarks.harness import PROJECT_DIR, describe, local_stack
from benchmarks.reference import reference_server
from benchmarks.tracking import machine
from benchmarks.workloads import QUICK, Scale, Workload, all_workloads
from stratus_local.stack import LocalStack

MAX_RATIO = 1.5
"""Target: every workload through stratus local within 1.5x the reference's wall time."""
MAX_WCU_PER_POINT = 1.2
MAX_SEARCH_PAGE_MS = 500.0
MAX_IMPORT_MS = cold_start.MAX_IMPORT_MS
IMAGES_DIR = PROJECT_DIR / "docs" / "images"


@dataclass
class Result:
    """One workload on both servers."""

    workload: Workload
    stratus_seconds: float = 0.0
    mlflow_seconds: float = 0.0
    stratus_counts: dict[str, int] = field(default_factory=dict)
    mlflow_counts: dict[str, int] = field(default_factory=dict)
    load_seconds: dict[str, float] = field(default_factory=dict)
    stratus_state: Any = None
    usage: StackUsage = field(default_factory=StackUsage)
    bill: Bill = field(default_factory=Bill)

    @property
    def ratio(self) -> float:
        return self.stratus_seconds / self.mlflow_seconds if self.mlflow_seconds else float("inf")


class Meters:
    """Every counter on the running stack, read together at the end of each timed stretch."""

    def __init__(
        self, stack: LocalStack, aws: AwsMeter, dynamo: DynamoMeter, proxy: DynamoProxy | None, exits: ExitStack
    ):
        self.aws, self.dynamo, self.proxy = aws, dynamo, proxy
        self.invocations = InvocationMeter(stack, aws)
        self.moto = MotoCounter(stack)
        self.gateway = exits.enter_context(gateway_counter(stack))

    def take(self) -> StackUsage:
        requests, events = self.aws.take()
        return StackUsage(
            requests=requests,
            functions=self.invocations.take(),
            moto=self.moto.take(),
            proxy=self.proxy.take() if self.proxy else Counter(),
            dynamodb=self.dynamo.take(),
            gateway_requests=self.gateway(),
            events=events,
        )


class ClientProcess:
    """The stock client in a process of its own (one for the whole comparison, started by ``spawn``: this process
    has threads, and a fork could copy a held lock). Each workload is rebuilt there from its key."""

    def __init__(self, scale: Scale, scratch: Path) -> None:
        self._scale, self._scratch = scale, scratch
        self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))

    def prepare(self, workload: Workload, url: str) -> Any:
        return self._pool.submit(_prepare_here, workload.key, self._scale, self._scratch, url).result()

    def run(self, workload: Workload, url: str, state: Any) -> tuple[float, dict[str, int]]:
        return self._pool.submit(_run_here, workload.key, self._scale, self._scratch, url, state).result()

    def close(self) -> None:
        self._pool.shutdown()


_CHILD_WORKLOADS: dict[str, Workload] = {}


def _child_workload(key: str, scale: Scale, scratch: Path) -> Workload:
    if not _CHILD_WORKLOADS:
        _CHILD_WORKLOADS.update((w.key, w) for w in all_workloads(scale, scratch))
    return _CHILD_WORKLOADS[key]


def _prepare_here(key: str, scale: Scale, scratch: Path, url: str) -> Any:
    return _child_workload(key, scale, scratch).prepare(url)


def _run_here(key: str, scale: Scale, scratch: Path, url: str, state: Any) -> tuple[float, dict[str, int]]:
    """The timed part, timed where it runs."""
    return _run_inline(_child_workload(key, scale, scratch), url, state)


def _run_inline(workload: Workload, url: str, state: Any) -> tuple[float, dict[str, int]]:
    started = time.perf_counter()
    counts = workload.run(url, state)
    return time.perf_counter() - started, counts


def run_workload(
    workload: Workload, stratus_url: str, mlflow_url: str, meters: Meters, client: ClientProcess | None
) -> Result:
    result = Result(workload)
    for name, url in (("stratus", stratus_url), ("mlflow", mlflow_url)):
        started = time.perf_counter()
        state = client.prepare(workload, url) if client else workload.prepare(url)
        result.load_seconds[name] = time.perf_counter() - started
        meters.take()
        seconds, counts = client.run(workload, url, state) if client else _run_inline(workload, url, state)
        if name == "stratus":
            meters.invocations.settle()
            result.usage = meters.take()
            result.bill = bill(result.usage)
            result.stratus_seconds, result.stratus_counts, result.stratus_state = seconds, counts, state
        else:
            result.mlflow_seconds, result.mlflow_counts = seconds, counts
        print(f"  {workload.key:<15} {name:<8} {seconds:8.2f} s  {counts}", flush=True)
    return result


# ------------------------------------------------------------------------------------------------ storage (a scan)


def measure_storage(stack: LocalStack, points: int) -> tuple[Storage, dict[str, int]]:
    """Scan the table (after the timed work, not metered): bytes of history chunks per point stored, bytes of run
    items (info, data shards, pointer) per run, and bytes per partition."""
    if stack.endpoints is None or stack.template is None:
        raise RuntimeError("the stack is not started")
    client = boto3.client("dynamodb", endpoint_url=stack.endpoints.dynamodb, region_name=os.environ["AWS_REGION"])
    history = runs_bytes = runs = 0
    partitions: dict[str, int] = {}
    for table in stack.template.tables:
        for page in client.get_paginator("scan").paginate(TableName=table.name):
            for item in page["Items"]:
                size, pk, sk = item_size(item), item["pk"]["S"], item["sk"]["S"]
                partitions[pk] = partitions.get(pk, 0) + size
                if sk.startswith("H#"):
                    history += size
                elif sk.startswith("R#") or sk == "#RUN":
                    runs_bytes += size
                    runs += sk.endswith("#I")
    return Storage(history / max(1, points), runs_bytes / max(1, runs)), partitions


# ------------------------------------------------------------------------------------------------ cold start


def cold_starts(repeats: int) -> list[dict[str, Any]]:
    """Per function: median import of its handler in ``repeats`` fresh processes (the sam build output with its
    bytecode, run by python3.12, when there is one; else the source with the venv) and its packaged size."""
    template = cold_start.parse_project(PROJECT_DIR)
    python = cold_start.runtime_python()
    rows = []
    with tempfile.TemporaryDirectory(prefix="stratus-no-pyc-") as empty:
        for function in template.functions.values():
            built = cold_start.built_function(function)
            try:
                if built is not None and python is not None:
                    setup, measured = cold_start.sam_build_setups(built, python, Path(empty))[0], built
                    try:
                        walls = cold_start.import_seconds(measured, setup, repeats)
                    except cold_start.SnippetError:  # a build older than the sources: measure the sources
                        setup, measured = cold_start.venv_setup(function), function
                        walls = cold_start.import_seconds(measured, setup, repeats)
                else:
                    setup, measured = cold_start.venv_setup(function), function
                    walls = cold_start.import_seconds(measured, setup, repeats)
            except (cold_start.SnippetError, OSError) as exc:
                rows.append({"function": function.logical_id, "error": str(exc)})
                continue
            size = cold_start.folder_size(measured.code_dir)
            rows.append(
                {
                    "function": function.logical_id,
                    "setup": setup.name,
                    "import_ms": statistics.median(w for w, _ in walls) * 1000,
                    "import_cpu_ms": statistics.median(c for _, c in walls) * 1000,
                    "function_unzipped": size.unzipped,
                    "function_zipped": size.zipped,
                    "layers": [
                        layer.parent.name if layer.name == "python" else layer.name for layer in measured.layer_dirs
                    ],
                    "stale_build": measured is built and _stale(function),
                }
            )
    return rows


def _stale(function: Any) -> bool:
    try:
        return cold_start.stale_build_source(function) is not None
    except OSError:  # the build is being rewritten right now
        return True


def layer_sizes() -> dict[str, dict[str, int]]:
    """Each layer of the sam build output, unzipped and zipped."""
    sizes = {}
    if cold_start.SAM_BUILD_DIR.is_dir():
        for folder in sorted(cold_start.SAM_BUILD_DIR.iterdir()):
            if (folder / "python").is_dir():
                size = cold_start.folder_size(folder)
                sizes[folder.name] = {"files": size.files, "unzipped": size.unzipped, "zipped": size.zipped}
    return sizes


# ------------------------------------------------------------------------------------------------ report


def _mb(size: float) -> str:
    return f"{size / 2**20:.1f} MB" if size >= 2**20 else f"{size / 1024:.1f} KB"


def _usd(value: float) -> str:
    return f"${value:,.2f}" if value >= 1 else f"${value:.4f}" if value >= 0.0001 else f"${value:.2e}"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def time_table(results: list[Result]) -> list[str]:
    lines = [
        "| workload | mlflow server s | stratus local s | ratio | target <= 1.5x | counts (both servers) | loading s "
        "(stratus / mlflow, not timed) |",
        "| --- | ---: | ---: | ---: | --- | --- | ---: |",
    ]
    for r in results:
        same = "same" if r.stratus_counts == r.mlflow_counts else f"DIFFER: mlflow {r.mlflow_counts}"
        ok = r.ratio <= MAX_RATIO
        over = "" if ok else f" by {r.ratio / MAX_RATIO:.1f}x"
        lines.append(
            f"| {r.workload.label} | {r.mlflow_seconds:.2f} | {r.stratus_seconds:.2f} | {r.ratio:.2f} | "
            f"{verdict(ok)}{over} | {r.stratus_counts} {same} | {r.load_seconds['stratus']:.0f} / "
            f"{r.load_seconds['mlflow']:.0f} |"
        )
    return lines


def _requests_text(usage: StackUsage) -> str:
    return ", ".join(f"{s} {op} {n}" for (s, op), n in sorted(usage.requests.items())) or "none"


def _moto_text(usage: StackUsage) -> str:
    return ", ".join(f"{s} {op} {n}" for (s, op), n in sorted(usage.moto.items())) or "none"


def requests_table(results: list[Result]) -> list[str]:
    lines = [
        "| workload | HTTP API requests | invocations (function) | handler s | handler s without AWS calls | handler "
        "CPU s | AWS requests, counted by botocore hooks in the handlers | DynamoDB requests at the proxy | requests "
        "at the moto endpoint | WCU | RCU |",
        "| --- | ---: | --- | ---: | ---: | ---: | --- | --- | --- | ---: | ---: |",
    ]
    for r in results:
        u = r.usage
        functions = ", ".join(f"{f.invocations} {name.removesuffix('Function')}" for name, f in u.functions.items())
        seconds = sum(f.seconds for f in u.functions.values())
        without = sum(f.seconds_without_aws for f in u.functions.values())
        cpu = sum(f.cpu_seconds for f in u.functions.values())
        proxy = ", ".join(f"{op} {n}" for op, n in sorted(u.proxy.items())) or "none"
        lines.append(
            f"| {r.workload.key} | {u.gateway_requests} | {functions} | {seconds:.2f} | {without:.2f} | {cpu:.2f} | "
            f"{_requests_text(u)} | {proxy} | {_moto_text(u)} | {u.dynamodb.wcu:g} | {u.dynamodb.rcu:g} |"
        )
    return lines


def bill_table(results: list[Result]) -> list[str]:
    items = list(results[0].bill.dollars) if results else []
    lines = [
        "| workload | " + " | ".join(items) + " | total |",
        "| --- | " + " | ".join("---:" for _ in items) + " | ---: |",
    ]
    for r in results:
        cells = [f"{r.bill.quantities[k]:,.4g} = {_usd(r.bill.dollars[k])}" for k in items]
        lines.append(f"| {r.workload.key} | " + " | ".join(cells) + f" | **{_usd(r.bill.total)}** |")
    return lines


def monthly_lines(m: Monthly, storage: Storage, crossing: float | None) -> list[str]:
    team = m.total(1.0)
    return [
        "- per million metric points logged (logging workload, runs and params included): "
        f"{_usd(m.per_million_points)}",
        f"- per thousand runs searched (search workload: all pages, divided by the experiment's runs / 1,000): "
        f"{_usd(m.per_thousand_runs_searched)}",
        f"- storage measured: {storage.bytes_per_point:.1f} bytes of DynamoDB per metric point (history chunks), "
        f"{storage.bytes_per_run:,.0f} bytes per run (info, data shards, pointer)",
        f"- team of 10, 5 M points and 20,000 searches of 1,000 runs a month: usage {_usd(m.usage)} + idle "
        f"{_usd(m.idle_year_of_data)} (holding a year of data) = **{_usd(team)} per month**",
        f"- idle per month: {_usd(m.idle_empty)} empty (the KMS key), {_usd(m.idle_year_of_data)} holding a year of "
        "the team's data (DynamoDB storage + point-in-time recovery)",
        f"- managed MLflow server, always on at ${prices.MANAGED_MLFLOW_HOUR}/h: {_usd(m.managed)} per month; Stratus "
        f"costs as much at {f'{crossing:.0f}x' if crossing else 'more than 100x'} the team's usage",
    ]


def search_targets(search: Result, partitions: dict[str, int]) -> list[str]:
    u = search.usage
    pages = max(1, search.stratus_counts.get("pages", 1))
    tracking = u.functions.get("TrackingFunction")
    page_ms = (tracking.seconds / pages * 1000) if tracking else 0.0
    page_ms_without = (tracking.seconds_without_aws / pages * 1000) if tracking else 0.0
    experiment_rcu = partitions.get(f"EXP#{search.stratus_state}", 0) / READ_UNIT_BYTES
    return [
        f"- search, read units: {u.dynamodb.rcu:g} RCU for {pages} pages = {u.dynamodb.rcu / pages:,.0f} per page; the "
        f"searched experiment's partition holds {experiment_rcu:,.0f} RCU of items (strongly consistent, 4 KB "
        f"units), so each page reads {u.dynamodb.rcu / pages / max(experiment_rcu, 1):.2f}x the searched experiment "
        "(1.00x = proportional to the searched experiment only, read whole once per page)",
        f"- search, handler time per page of {search.workload.units['page_size']:,} (filter + order_by): "
        f"{page_ms:,.0f} ms, {page_ms_without:,.0f} ms without DynamoDB Local's time "
        f"[target < {MAX_SEARCH_PAGE_MS:.0f} ms for 1,000: {verdict(page_ms <= MAX_SEARCH_PAGE_MS)}"
        + ("" if page_ms <= MAX_SEARCH_PAGE_MS else f", {page_ms / MAX_SEARCH_PAGE_MS:.1f}x over")
        + "]",
    ]


def target_lines(results: list[Result], partitions: dict[str, int], colds: list[dict[str, Any]]) -> list[str]:
    by_key = {r.workload.key: r for r in results}
    lines = []
    if "logging" in by_key:
        r = by_key["logging"]
        per_point = r.usage.dynamodb.wcu / r.workload.units["points"]
        lines.append(
            f"- WCU per metric point (logging workload, run creation and params included): {per_point:.3f} "
            f"[target <= {MAX_WCU_PER_POINT}: {verdict(per_point <= MAX_WCU_PER_POINT)}]"
        )
    if "search" in by_key:
        lines.extend(search_targets(by_key["search"], partitions))
    imports = [c for c in colds if "import_ms" in c]
    if imports:
        worst = max(imports, key=lambda c: c["import_ms"])
        lines.append(
            f"- handler import, median of fresh processes: worst {worst['function']} {worst['import_ms']:.0f} ms "
            f"[target < {MAX_IMPORT_MS:.0f} ms: {verdict(worst['import_ms'] < MAX_IMPORT_MS)}]"
        )
    missed = [f"{r.workload.key} {r.ratio:.2f}x" for r in results if r.ratio > MAX_RATIO]
    lines.append(
        f"- wall time within {MAX_RATIO}x the reference: {len(results) - len(missed)} of {len(results)} workloads"
        + (f" [MISSED: {', '.join(missed)}]" if missed else " [met]")
    )
    return lines


def cold_lines(colds: list[dict[str, Any]], layers: dict[str, dict[str, int]]) -> list[str]:
    lines = [
        "| function | import, median wall ms | CPU ms | function unzipped / zipped | layers | set-up |",
        "| --- | ---: | ---: | --- | --- | --- |",
    ]
    for c in colds:
        if "error" in c:
            lines.append(f"| {c['function']} | error: {c['error']} | | | | |")
            continue
        stale = " (sources changed since the build)" if c["stale_build"] else ""
        lines.append(
            f"| {c['function']} | {c['import_ms']:.0f} | {c['import_cpu_ms']:.0f} | {_mb(c['function_unzipped'])} / "
            f"{_mb(c['function_zipped'])} | {', '.join(c['layers'])} | {c['setup']}{stale} |"
        )
    for name, size in layers.items():
        unzipped, zipped = _mb(size["unzipped"]), _mb(size["zipped"])
        lines.append(f"- layer {name}: {size['files']} files, {unzipped} unzipped, {zipped} zipped")
    return lines


# ------------------------------------------------------------------------------------------------ main


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="a smoke run: every workload, tiny sizes (~30 s)")
    size.add_argument("--scale", type=float, default=1.0, help="multiply every count of issue 7's sizes (default 1)")
    parser.add_argument("--search-runs", type=int, help="runs in the searched experiment (overrides the scale)")
    parser.add_argument("--only", default="", help="comma-separated workload keys (default: all)")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    parser.add_argument("--plots", type=Path, help=f"write the two PNGs here (default {IMAGES_DIR} unless --quick)")
    parser.add_argument("--skip-cold", action="store_true", help="skip handler imports and package sizes")
    parser.add_argument("--imports", type=int, default=10, help="fresh processes per import median (default 10)")
    parser.add_argument("--load-workers", type=int, default=8, help="threads loading the search experiment")
    parser.add_argument(
        "--no-dynamodb-proxy",
        action="store_true",
        help="no counting proxy between the handlers and DynamoDB Local: a hop in this process, which a user's stratus "
        "local does not have (the botocore hooks still count every request)",
    )
    parser.add_argument(
        "--client-in-process",
        action="store_true",
        help="run the client in this process, beside stratus local (the setting of runs before 2026-12-08)",
    )
    return parser.parse_args(argv)


def scale_of(args: argparse.Namespace) -> Scale:
    base = QUICK if args.quick else Scale().scaled(args.scale)
    search_runs = args.search_runs or base.search_runs
    return Scale(**{**asdict(base), "load_workers": args.load_workers, "search_runs": search_runs})


def run_all(args: argparse.Namespace, scale: Scale, scratch: Path) -> dict[str, Any]:
    aws, dynamo = AwsMeter(), DynamoMeter()
    aws.install()
    dynamo.install()
    try:
        with ExitStack() as exits:
            mlflow_ready = exits.enter_context(reference_server(scratch / "reference"))
            started = time.perf_counter()
            bench = exits.enter_context(local_stack())
            mlflow_url = mlflow_ready()
            print(f"both servers up in {time.perf_counter() - started:.0f} s")
            print(describe(bench.stack), f"; mlflow server at {mlflow_url}", flush=True)
            proxy = None
            if not args.no_dynamodb_proxy:
                proxy = DynamoProxy(bench.stack.endpoints.dynamodb)  # type: ignore[union-attr]
                exits.callback(proxy.close)
                os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = proxy.endpoint  # the handlers make their clients lazily
            meters = Meters(bench.stack, aws, dynamo, proxy, exits)
            wanted = set(filter(None, args.only.split(",")))
            workloads = [w for w in all_workloads(scale, scratch) if not wanted or w.key in wanted]
            client = None if args.client_in_process else ClientProcess(scale, scratch)
            if client is not None:
                exits.callback(client.close)
            results = [run_workload(w, bench.stack.base_url, mlflow_url, meters, client) for w in workloads]
            points = sum(r.workload.units.get("points", 0) for r in results) + 2 * scale.search_runs
            storage, partitions = measure_storage(bench.stack, points)
    finally:
        dynamo.uninstall()
        aws.uninstall()
    return {"results": results, "storage": storage, "partitions": partitions}


def report(args: argparse.Namespace, scale: Scale, measured: dict[str, Any], colds: list[dict[str, Any]]) -> dict:
    results: list[Result] = measured["results"]
    by_key = {r.workload.key: r for r in results}
    m = None
    if "logging" in by_key and "search" in by_key:
        m = monthly(
            by_key["logging"].bill,
            by_key["logging"].workload.units["points"],
            by_key["search"].bill,
            by_key["search"].workload.units["runs_searched"],
            measured["storage"],
        )
    plots_dir = args.plots or (None if args.quick else IMAGES_DIR)
    crossing = None
    if plots_dir is not None and results:
        plots.time_per_workload(
            [r.workload.label.split(":")[0] + ":" + r.workload.label.split(":")[1][:38] for r in results],
            [r.stratus_seconds for r in results],
            [r.mlflow_seconds for r in results],
            "Wall time per workload (stock client, same machine)",
            plots_dir / "bench-time-per-workload.png",
        )
        if m is not None:
            crossing = plots.cost_per_month(m, plots_dir / "bench-cost-per-month.png")
    sections = [
        ["## Wall time, stock client, Stratus against mlflow server", *time_table(results)],
        ["## What AWS would be asked to do (counted in stratus local)", *requests_table(results)],
        [f"## What AWS would bill (us-east-1 list prices of {prices.PRICES_DATE})", *bill_table(results)],
    ]
    if m is not None:
        sections.append(["## Per unit and per month", *monthly_lines(m, measured["storage"], crossing)])
    if colds:
        sections.append(["## Cold start and package sizes", *cold_lines(colds, layer_sizes())])
    sections.append(["## Targets", *target_lines(results, measured["partitions"], colds)])
    print("\n\n".join("\n".join(section) for section in sections))
    document = _as_json(scale, results, m, measured["storage"], colds, crossing)
    document["client"] = "this process, beside stratus local" if args.client_in_process else "a process of its own"
    document["dynamodb_proxy"] = not args.no_dynamodb_proxy
    return document


def _as_json(
    scale: Scale, results: list[Result], m: Monthly | None, storage: Storage, colds: list[dict[str, Any]], crossing: Any
) -> dict[str, Any]:
    workloads = {}
    for r in results:
        u = r.usage
        workloads[r.workload.key] = {
            "label": r.workload.label,
            "units": r.workload.units,
            "stratus": {"seconds": r.stratus_seconds, "counts": r.stratus_counts},
            "mlflow": {"seconds": r.mlflow_seconds, "counts": r.mlflow_counts},
            "ratio": r.ratio,
            "load_seconds": r.load_seconds,
            "aws_requests": {f"{s}:{op}": n for (s, op), n in u.requests.items()},
            "moto_requests": {f"{s}:{op}": n for (s, op), n in u.moto.items()},
            "dynamodb_proxy_requests": dict(u.proxy),
            "dynamodb": {"requests": u.dynamodb.requests, "wcu": u.dynamodb.wcu, "rcu": u.dynamodb.rcu},
            "gateway_requests": u.gateway_requests,
            "eventbridge_events": u.events,
            "functions": {name: asdict(f) for name, f in u.functions.items()},
            "bill": {"dollars": r.bill.dollars, "quantities": r.bill.quantities, "total": r.bill.total},
        }
    return {
        "machine": machine(),
        "scale": asdict(scale),
        "prices_date": prices.PRICES_DATE,
        "assumptions": {"lambda_cpu_factor": LAMBDA_CPU_FACTOR, "aws_call_ms": AWS_CALL_MS},
        "workloads": workloads,
        "storage": asdict(storage),
        "monthly": asdict(m) if m is not None else None,
        "team_month": m.total(1.0) if m is not None else None,
        "break_even_usage_multiple": crossing,
        "cold_start": colds,
    }


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers on the way out
    args = parse(argv)
    scale = scale_of(args)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow  # noqa: F401, PLC0415 - configures its loggers on import; quieten them after

    logging.getLogger("mlflow").setLevel(logging.WARNING)  # "View run ...", "Waiting up to 300 seconds ..."
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # an error shows at once, not after minutes
    os.environ["MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE"] = str(4 * 2**20)  # as the README asks (both servers)
    started = time.perf_counter()
    print(f"Machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    where = "in this process, beside stratus local" if args.client_in_process else "in a process of its own"
    print(f"The stock client runs {where}.")
    print(f"Scale: {asdict(scale)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="stratus-compare-") as tmp:
        scratch = Path(tmp)
        (scratch / "reference").mkdir()
        measured = run_all(args, scale, scratch)
    document = report(args, scale, measured, [])  # first, so a failure below loses nothing measured
    if args.json:
        args.json.write_text(json.dumps(document, indent=1, default=str))
    if not args.skip_cold:
        print(f"\n(measuring handler imports, {args.imports} fresh processes each ...)", flush=True)
        document["cold_start"] = colds = cold_starts(args.imports)
        print("\n## Cold start and package sizes", *cold_lines(colds, layer_sizes()), sep="\n")
        print(*[line for line in target_lines([], {}, colds) if "import" in line], sep="\n")
    document["seconds"] = time.perf_counter() - started
    print(f"\nTook {document['seconds']:.0f} s; load average at the end {os.getloadavg()[0]:.1f}")
    if args.json:
        args.json.write_text(json.dumps(document, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
