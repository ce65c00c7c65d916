"""Bulk loading over REST: ``stratus local`` against the reference ``mlflow server``, side by side in one run.

    python -m benchmarks.bulk_load [--runs 2000] [--workers 8] [--rounds 1] [--variants after,before,...]
        [--warmup 300] [--end-and-get] [--no-reference] [--no-meters]
        [--profile FILE] [--profile-seconds 30] [--profile-after 10]

Loads ``--runs`` runs into a fresh experiment of each server as the comparison loads its searched experiment
(:func:`benchmarks.workloads.load_search_experiment`: ``--workers`` threads, each run a ``runs/create`` with a tag
then a ``runs/log-batch`` of 2 metrics and 2 params; ``--end-and-get`` adds a ``runs/update`` to FINISHED and a
``runs/get``), and prints runs per second for each. The loading client runs in a process of its own, for both
servers, so it never competes for the GIL with ``stratus local``, whose handlers run in this process (a throw-away
``LocalStack``, as in :mod:`benchmarks.compare`); the reference ``mlflow server --workers 1`` (SQLite) is a
subprocess. ``--rounds N`` loads each server N times, alternating, Stratus first, each time into a new experiment,
after ``--warmup`` runs loaded into each and not reported.

``--variants`` loads Stratus once per variant in each round, in the same process: ``after`` is the code as it is;
``before`` undoes the changes that made bulk loading faster (:data:`CHANGES`: several execution environments per
function, stream records not parsed by botocore, a create-run's change marker remembered by its container), and
``without-<change>`` undoes one of them, so that each change's effect is measured side by side with the others.

For ``stratus local`` it also counts per run: DynamoDB requests by operation and capacity units
(:mod:`benchmarks.dynamo_meter`), handler invocations and CPU per function, and the CPU time of this process (HTTP
server, gateway, handlers, stream pollers, moto) and of DynamoDB Local (Java); for the reference, the CPU time of its
process group. ``--no-meters`` leaves the botocore hooks out (they cost some CPU per request); the CPU figures stay.
``--profile FILE`` samples this process with py-spy (``PY_SPY``, default /tmp/py-spy) for ``--profile-seconds``
during the first Stratus load, writes the raw collapsed stacks to FILE and prints where the samples fell.

An experiment reaches STRATUS_PROJECTION_MIN_RUNS (template: 2,000) runs part way through a load of more: from
then on the projector (on the table's stream) keeps its search projection, as in the comparison's 10,000-run load.
Results: docs/benchmarks.md, part 4, "Bulk loading".
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.aws_meter import AwsMeter, InvocationMeter
from benchmarks.dynamo_meter import DynamoMeter
from benchmarks.harness import MlflowHttp, local_stack
from benchmarks.reference import reference_server
from benchmarks.tracking import machine
from benchmarks.workloads import load_search_run
from stratus.store.dynamodb import DynamoTrackingStore
from stratus_local import event_sources
from stratus_local.stack import LocalStack

PROGRESS_STEPS = 10


# ---------------------------------------------------------------------------------------------- the loading client


class TimedHttp(MlflowHttp):
    """:class:`MlflowHttp` keeping each call's wall time by path."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self.seconds: dict[str, list[float]] = {}

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            return super().call(method, path, body)
        finally:
            self.seconds.setdefault(path, []).append(time.perf_counter() - started)  # list.append: GIL-atomic


def load(url: str, runs: int, workers: int, end_and_get: bool, label: str) -> dict[str, Any]:
    """Load ``runs`` runs into a new experiment at ``url`` from ``workers`` threads; prints progress lines. Runs in
    the loading process."""
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - only the loading process needs it

    http = TimedHttp(url)
    experiment_id = http.create_experiment(f"bench-bulk-{os.getpid()}-{time.time_ns()}")
    done, lock, started = [0], threading.Lock(), time.perf_counter()
    step = max(1, runs // PROGRESS_STEPS)

    def one(i: int) -> None:
        run_id = load_search_run(http, experiment_id, i, runs)
        if end_and_get:
            http.call(
                "POST", "/runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": int(time.time() * 1000)}
            )
            http.call("GET", "/runs/get", {"run_id": run_id})
        with lock:
            done[0] += 1
            if done[0] % step == 0 or done[0] == runs:
                elapsed = time.perf_counter() - started
                print(
                    f"    {label}: {done[0]:,}/{runs:,} runs in {elapsed:.0f} s ({done[0] / elapsed:.1f}/s)", flush=True
                )

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, range(runs)))
    seconds = time.perf_counter() - started
    medians = {
        path: statistics.median(times) * 1000 for path, times in http.seconds.items() if path != "/experiments/create"
    }
    return {"seconds": seconds, "median_ms": medians, "experiment_id": experiment_id}


def _load_child(url: str, runs: int, workers: int, end_and_get: bool, label: str, answer: Any) -> None:
    try:
        answer.put(load(url, runs, workers, end_and_get, label))
    except BaseException as exc:  # the parent reports it
        answer.put({"error": f"{type(exc).__name__}: {exc}"})
        raise


def load_in_process(url: str, runs: int, workers: int, end_and_get: bool, label: str) -> dict[str, Any]:
    """:func:`load` in a spawned process (a clean interpreter: no stack, no GIL shared with the servers)."""
    context = multiprocessing.get_context("spawn")
    answer = context.Queue()
    child = context.Process(target=_load_child, args=(url, runs, workers, end_and_get, label, answer), daemon=True)
    child.start()
    try:
        result: dict[str, Any] = answer.get()
    finally:
        child.join(timeout=60)
    if "error" in result:
        raise RuntimeError(f"loading {label} failed: {result['error']}")
    return result


# ---------------------------------------------------------------------------------------------- CPU accounting


def _stat_fields(pid: int | str) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # fields from the state on (field 3 of proc(5))


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one live process (all its threads)."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") if fields else 0.0


def group_cpu_seconds(leader: int) -> float:
    """User + system CPU seconds of the live processes in ``leader``'s process group."""
    total = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(entry.name)
            if fields and int(fields[2]) == leader:
                total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------------------------- profile


THREAD_KINDS = (  # the first whose text is in a sample's stack (its first frame names the thread)
    ("moto server", "werkzeug/serving.py"),
    ("API requests (gateway threads)", "(process_request_thread)"),
    ("stream pollers", "stream-"),
    ("EventBridge rule pollers", "rule-"),
    ("SQS queue pollers", "queue-"),
    ("schedules", "schedule-"),
)
CATEGORIES = (  # a sample counts for its innermost frame that one of these matches (the first that does)
    ("benchmark meters (botocore hooks)", ("benchmarks/",)),
    ("botocore: HTTP send / receive", ("botocore/awsrequest.py", "botocore/httpsession.py", "urllib3/")),
    ("botocore: parse response", ("botocore/parsers.py",)),
    ("botocore: serialise, sign, events", ("botocore/",)),
    ("pynamodb", ("pynamodb/",)),
    ("pydantic", ("pydantic",)),
    ("Powertools logger / metrics", ("aws_lambda_powertools/logging", "aws_lambda_powertools/metrics")),
    ("Powertools resolver", ("aws_lambda_powertools/event_handler",)),
    ("stratus: store", ("stratus/store/",)),
    ("stratus: domain", ("stratus/domain/",)),
    ("stratus: api", ("stratus/api/",)),
    ("handler module (functions/)", ("_stratus_fn_",)),
    ("lambdas.py: event JSON, result encoding", ("stratus_local/lambdas.py",)),
    ("gateway.py: event building, response", ("stratus_local/gateway.py",)),
    ("HTTP server (stdlib)", ("http/server.py", "socketserver.py", "stratus_local/server.py")),
)


def profile_summary(raw: Path) -> list[str]:
    """Where the samples of a py-spy raw file (``--threads --gil``: only samples holding the GIL) fell: by thread
    kind, and for the API request threads by category (of the innermost frame :data:`CATEGORIES` names)."""
    total = 0
    by_kind: Counter[str] = Counter()
    by_category: Counter[str] = Counter()
    by_leaf: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        kind = next((name for name, needle in THREAD_KINDS if needle in stack), "other")
        by_kind[kind] += count
        if kind != THREAD_KINDS[1][0]:
            continue
        frames = stack.split(";")
        by_leaf[frames[-1]] += count
        category = next(
            (name for frame in reversed(frames) for name, needles in CATEGORIES if any(n in frame for n in needles)),
            "other",
        )
        by_category[category] += count
    lines = [f"{total:,} samples holding the GIL, by thread:"]
    lines += [f"  {100 * n / max(1, total):5.1f}%  {name}" for name, n in by_kind.most_common()]
    requests = max(1, by_kind[THREAD_KINDS[1][0]])
    lines.append("API request threads, by what they were doing (share of their samples):")
    lines += [f"  {100 * n / requests:5.1f}%  {name}" for name, n in by_category.most_common()]
    lines.append("API request threads, busiest leaf functions:")
    lines += [f"  {100 * n / requests:5.1f}%  {leaf}" for leaf, n in by_leaf.most_common(20)]
    return lines


def start_profile(out: Path, seconds: int, after: int) -> subprocess.Popen[bytes]:
    """py-spy sampling this process for ``seconds`` from ``after`` seconds on (past the environments' cold starts),
    only the samples of threads holding the GIL (a GIL-bound process's CPU)."""
    spy = os.environ.get("PY_SPY", "/tmp/py-spy")  # noqa: S108 - where this machine keeps it
    command = [spy, "record", "-p", str(os.getpid()), "-f", "raw", "-o", str(out), "-r", "100", "-d", str(seconds),
               "--threads", "--gil", "--nonblocking"]  # fmt: skip
    shell = f"sleep {after} && exec " + " ".join(command)
    return subprocess.Popen(["/bin/sh", "-c", shell], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603


# ---------------------------------------------------------------------------------------------- variants

CHANGES = ("environments", "raw-records", "create-marker")
"""What made bulk loading faster (docs/benchmarks.md, part 4, "Bulk loading"), each of which a variant can undo."""


def _botocore_lambda_record(record: dict[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """``event_sources._lambda_record`` as it was: for records botocore parsed (datetimes, bytes), made JSON-safe by
    a JSON round trip."""
    change = record["dynamodb"]
    for image in ("NewImage", "OldImage"):
        for name, value in (change.get(image) or {}).items():
            if value == {}:
                change[image][name] = {"M": {}}
    shaped = {**record, "eventSource": "aws:dynamodb", "eventSourceARN": stream_arn, "awsRegion": region}
    return json.loads(json.dumps(shaped, default=str))  # type: ignore[no-any-return]


@contextmanager
def undone(stack: LocalStack, changes: set[str]) -> Iterator[None]:
    """The stack as it was before ``changes`` (names in :data:`CHANGES`), for one load: one execution environment
    per function; stream records parsed by botocore; a create-run's marker not remembered by its container."""
    functions = stack.functions.functions if stack.functions is not None else {}
    limits = {name: f.max_environments for name, f in functions.items()}
    pollers = [p for p in stack._pollers if isinstance(p, event_sources.StreamPoller)]  # noqa: SLF001
    shaper, insert_run = event_sources._lambda_record, DynamoTrackingStore.insert_run  # noqa: SLF001

    def forgetful_insert_run(store: DynamoTrackingStore, run: Any) -> None:
        insert_run(store, run)
        store._marked.pop(run.run_id, None)  # noqa: SLF001

    hook = "before-parse.dynamodb-streams.GetRecords"
    if "environments" in changes:
        for function in functions.values():
            function.max_environments = 1
    if "raw-records" in changes:
        event_sources._lambda_record = _botocore_lambda_record  # noqa: SLF001 - takes both kinds of record
        for poller in pollers:
            poller._streams.meta.events.unregister(hook, event_sources._keep_raw_records)  # noqa: SLF001
    if "create-marker" in changes:
        DynamoTrackingStore.insert_run = forgetful_insert_run  # type: ignore[method-assign]
    try:
        yield
    finally:
        for name, function in functions.items():
            function.max_environments = limits[name]
        DynamoTrackingStore.insert_run = insert_run  # type: ignore[method-assign]
        if "raw-records" in changes:
            for poller in pollers:
                poller._streams.meta.events.register(hook, event_sources._keep_raw_records)  # noqa: SLF001
            time.sleep(2 * event_sources.POLL_SECONDS + 1)  # a poll under way hands its parsed records over first
            event_sources._lambda_record = shaper  # noqa: SLF001


def variant_changes(variant: str) -> set[str]:
    """``after`` (every change), ``before`` (none of them) or ``without-<change>``: the changes it undoes."""
    if variant == "after":
        return set()
    if variant == "before":
        return set(CHANGES)
    change = variant.removeprefix("without-")
    if change not in CHANGES or change == variant:
        raise ValueError(f"unknown variant {variant!r}: after, before, or without-<{'|'.join(CHANGES)}>")
    return {change}


# ---------------------------------------------------------------------------------------------- main


@dataclass
class Load:
    """One load of one server."""

    server: str
    runs: int
    seconds: float
    median_ms: dict[str, float]
    server_cpu: float
    dynamodb_cpu: float = 0.0
    dynamodb: Any = None
    functions: dict[str, Any] = field(default_factory=dict)
    environments: dict[str, int] = field(default_factory=dict)
    load_average: float = 0.0

    @property
    def per_second(self) -> float:
        return self.runs / self.seconds


def stratus_lines(load: Load) -> list[str]:
    lines = [
        f"  {load.server}: {load.per_second:6.1f} runs/s ({load.seconds:.1f} s); CPU per run: "
        f"{1000 * load.server_cpu / load.runs:.1f} ms in the stratus process, "
        f"{1000 * load.dynamodb_cpu / load.runs:.1f} ms in DynamoDB Local; client median ms "
        + ", ".join(f"{p} {ms:.1f}" for p, ms in load.median_ms.items())
    ]
    if load.dynamodb is not None:
        usage = load.dynamodb
        per_run = ", ".join(f"{op} {n / load.runs:.2f}" for op, n in sorted(usage.by_operation.items()))
        lines.append(
            f"    DynamoDB per run: {usage.requests / load.runs:.2f} requests ({per_run}); "
            f"{usage.wcu / load.runs:.2f} WCU, {usage.rcu / load.runs:.2f} RCU"
        )
    for name, f in sorted(load.functions.items()):
        each = max(1, f.invocations)
        lines.append(
            f"    {name}: {load.environments.get(name, 0)} environment(s), {f.invocations} invocations, handler CPU "
            f"{1000 * f.cpu_seconds / each:.1f} ms each, wall {1000 * f.seconds / each:.1f} ms "
            f"({1000 * f.aws_seconds / each:.1f} in AWS calls)"
        )
    return lines


def reference_line(load: Load) -> str:
    return (
        f"  mlflow server: {load.per_second:6.1f} runs/s ({load.seconds:.1f} s); CPU per run: "
        f"{1000 * load.server_cpu / load.runs:.1f} ms in the server's processes; client median ms "
        + ", ".join(f"{p} {ms:.1f}" for p, ms in load.median_ms.items())
    )


def summary(loads: list[Load]) -> list[str]:
    """Every load as one row of a markdown table."""
    lines = [
        "| load | runs/s | seconds | server CPU ms/run | DynamoDB Local CPU ms/run | DynamoDB requests/run | WCU/run | "
        "RCU/run | client median ms, create / log-batch | load average |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for x in loads:
        usage = x.dynamodb
        requests = f"{usage.requests / x.runs:.2f}" if usage is not None else ""
        units = (f"{usage.wcu / x.runs:.2f}", f"{usage.rcu / x.runs:.2f}") if usage is not None else ("", "")
        median = " / ".join(f"{x.median_ms.get(p, 0):.0f}" for p in ("/runs/create", "/runs/log-batch"))
        java = f"{1000 * x.dynamodb_cpu / x.runs:.1f}" if x.server != "mlflow server" else ""
        lines.append(
            f"| {x.server} | {x.per_second:.1f} | {x.seconds:.0f} | {1000 * x.server_cpu / x.runs:.1f} | {java} | "
            f"{requests} | {units[0]} | {units[1]} | {median} | {x.load_average:.1f} |"
        )
    return lines


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bulk_load", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000, help="runs per load (default 2,000)")
    parser.add_argument("--workers", type=int, default=8, help="loading threads (default 8)")
    parser.add_argument("--rounds", type=int, default=1, help="loads of each server, alternating (default 1)")
    parser.add_argument(
        "--variants",
        default="after",
        help="stratus loads of a round, comma-separated: after (default), before, without-<change> "
        f"(changes: {', '.join(CHANGES)})",
    )
    parser.add_argument(
        "--warmup", type=int, default=300, help="runs loaded into each server first, not reported (default 300)"
    )
    parser.add_argument("--end-and-get", action="store_true", help="also runs/update (FINISHED) and runs/get each run")
    parser.add_argument("--no-reference", action="store_true", help="load stratus local only")
    parser.add_argument("--no-meters", action="store_true", help="no botocore hooks (no DynamoDB or handler figures)")
    parser.add_argument("--profile", type=Path, help="py-spy raw stacks of the first stratus load to this file")
    parser.add_argument("--profile-seconds", type=int, default=30, help="how long to sample (default 30)")
    parser.add_argument("--profile-after", type=int, default=10, help="seconds into the load to start (default 10)")
    args = parser.parse_args(argv)
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for variant in args.variants:
        variant_changes(variant)
    return args


class Bulk:
    """The two servers, the meters, and one load after the other."""

    def __init__(self, args: argparse.Namespace, exits: ExitStack, folder: Path) -> None:
        self.args = args
        self.aws, self.dynamo = AwsMeter(), DynamoMeter()
        if not args.no_meters:
            self.aws.install()
            self.dynamo.install()
            exits.callback(self.aws.uninstall)
            exits.callback(self.dynamo.uninstall)
        self.ready = None if args.no_reference else exits.enter_context(reference_server(folder))
        self.bench = exits.enter_context(local_stack())
        self.invocations = None if args.no_meters else InvocationMeter(self.bench.stack, self.aws)
        java = self.bench.stack._backends.dynamodb_local  # noqa: SLF001 - benchmarks look inside the stack
        self.java_pid = java.process.pid if java is not None and java.process is not None else None
        self.mlflow_url = self.ready() if self.ready is not None else None
        self.profiler: subprocess.Popen[bytes] | None = None

    def java_cpu(self) -> float:
        return process_cpu_seconds(self.java_pid) if self.java_pid else 0.0

    def warm_up(self) -> None:
        """Load ``--warmup`` runs into each server (every environment started, DynamoDB Local's JIT warm, SQLite's
        pages cached), not reported."""
        if self.args.warmup <= 0:
            return
        workers, stack = self.args.workers, self.bench.stack
        load_in_process(stack.base_url, self.args.warmup, workers, self.args.end_and_get, "warm-up stratus local")
        if self.mlflow_url is not None:
            load_in_process(self.mlflow_url, self.args.warmup, workers, self.args.end_and_get, "warm-up mlflow server")

    def load_stratus(self, variant: str) -> Load:
        args, stack = self.args, self.bench.stack
        if self.invocations is not None:
            self.invocations.take()
        self.dynamo.take()
        if args.profile and self.profiler is None:
            self.profiler = start_profile(args.profile, args.profile_seconds, args.profile_after)
        label = f"stratus local ({variant})"
        with undone(stack, variant_changes(variant)):
            average, cpu, java_cpu = os.getloadavg()[0], time.process_time(), self.java_cpu()
            result = load_in_process(stack.base_url, args.runs, args.workers, args.end_and_get, label)
            load = Load(label, args.runs, result["seconds"], result["median_ms"], time.process_time() - cpu,
                        self.java_cpu() - java_cpu, load_average=average)  # fmt: skip
            if self.invocations is not None:
                self.invocations.settle()  # the projector's pass after the load counts for it
                load.functions = self.invocations.take()
                load.dynamodb = self.dynamo.take()
            else:
                time.sleep(6)  # the projector's batching window
        functions = stack.functions.functions if stack.functions is not None else {}
        load.environments = {name: f.environments for name, f in functions.items()}
        print(*stratus_lines(load), sep="\n", flush=True)
        return load

    def load_mlflow(self) -> Load:
        if self.ready is None or self.mlflow_url is None:
            raise RuntimeError("no reference server")
        leader = self.ready.pid  # type: ignore[attr-defined]
        average, cpu = os.getloadavg()[0], group_cpu_seconds(leader)
        result = load_in_process(self.mlflow_url, self.args.runs, self.args.workers, self.args.end_and_get, "mlflow")
        load = Load("mlflow server", self.args.runs, result["seconds"], result["median_ms"],
                    group_cpu_seconds(leader) - cpu, load_average=average)  # fmt: skip
        print(reference_line(load), flush=True)
        return load

    def finish_profile(self) -> None:
        if self.profiler is None or self.args.profile is None:
            return
        _, errors = self.profiler.communicate(timeout=self.args.profile_seconds + self.args.profile_after + 600)
        if self.profiler.returncode != 0:
            print(f"py-spy failed: {errors.decode()[-500:]}")
        else:
            print(f"\nprofile of the stratus process ({self.args.profile}):", *profile_summary(self.args.profile),
                  sep="\n")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers on the way out
    args = parse(argv)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    print(f"Machine: {machine()}; load average {os.getloadavg()[0]:.1f}", flush=True)
    print(
        f"{args.runs:,} runs per load, {args.workers} threads; stratus variants {', '.join(args.variants)}", flush=True
    )
    loads: list[Load] = []
    with tempfile.TemporaryDirectory(prefix="stratus-bulk-") as tmp, ExitStack() as exits:
        bulk = Bulk(args, exits, Path(tmp))
        print(f"stratus local at {bulk.bench.stack.base_url}; mlflow server at {bulk.mlflow_url}", flush=True)
        bulk.warm_up()
        for round_number in range(args.rounds):
            print(f"round {round_number + 1}", flush=True)
            loads.extend(bulk.load_stratus(variant) for variant in args.variants)
            if bulk.mlflow_url is not None:
                loads.append(bulk.load_mlflow())
        bulk.finish_profile()
    print("", *summary(loads), sep="\n")
    best = {x.server: max(y.per_second for y in loads if y.server == x.server) for x in loads}
    if "mlflow server" in best:
        ratios = ", ".join(
            f"{name} {rate / best['mlflow server']:.2f}x" for name, rate in best.items() if name != "mlflow server"
        )
        print(f"\nruns/s against mlflow server (best load of each): {ratios}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
