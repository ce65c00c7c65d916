"""OTLP ingest of two versions of Stratus side by side, in one run: ``benchmarks.traces`` part 1 run by each tree.

    python -m benchmarks.traces_ab --before DIR [--after DIR] [--spans 10000] [--shape 100:10] [--shape 500:500]
        [--rounds 2] [--threads 4] [--json FILE]

``--before`` is another checkout of the project (``git worktree add`` or ``git archive | tar -x``) and ``--after`` this
one by default. Each round runs every shape (``SPANS_A_REQUEST:SPANS_A_TRACE``: ``100:10`` is ten 10-span traces a
request, what an OpenTelemetry SDK's batch processor sends for small traces; ``500:500`` one 500-span trace a request)
once with each tree, in a process of its own with its own ``stratus local`` (``python -m benchmarks.traces --skip
search --skip big``, only options both trees know), alternating which goes first, so that both see the same machine
load. Prints spans per second, the DynamoDB requests, WCU and S3 requests per OTLP request, and the load average.
Then ``benchmarks.trace_writes`` (this tree's, counted under moto: exact, whatever the load) with each tree's
``stratus`` on the path: the requests and units of many-trace requests, re-sent requests, StartTraceV3 and large
traces sent in many requests. Results: docs/benchmarks.md, "Traces".
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parents[1]


@dataclass
class Run:
    side: str
    shape: str
    figures: dict[str, Any]
    load: tuple[float, float]
    """Load average (1 min) before and after the run."""

    @property
    def spans_per_second(self) -> float:
        return float(self.figures["spans"]) / float(self.figures["seconds"])


@dataclass
class Side:
    name: str
    tree: Path
    runs: list[Run] = field(default_factory=list)


def environment(tree: Path, benchmarks_tree: Path | None = None) -> dict[str, str]:
    """``tree``'s packages on the path, and the ``benchmarks`` of ``benchmarks_tree`` (``tree``'s own by default)."""
    env = dict(os.environ)
    parts = [tree / "layers/stratus", tree / "layers/local", benchmarks_tree or tree]
    env["PYTHONPATH"] = os.pathsep.join(str(part) for part in parts)
    return env


def writes(side: Side, after: Path) -> list[dict[str, Any]]:
    """``benchmarks.trace_writes`` of ``after`` run on ``side``'s code."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "writes.json"
        command = [sys.executable, "-m", "benchmarks.trace_writes", "--json", str(out)]
        completed = subprocess.run(  # noqa: S603 - our interpreter, our module
            command, cwd=after, env=environment(side.tree, after), capture_output=True, text=True, check=False
        )
        if completed.returncode != 0:
            raise RuntimeError(f"{side.name} writes: {completed.stdout[-2000:]}{completed.stderr[-2000:]}")
        result: list[dict[str, Any]] = json.loads(out.read_text())
    return result


def print_writes(by_side: dict[str, list[dict[str, Any]]]) -> None:
    print(
        "| requests (benchmarks.trace_writes, moto) | code | DynamoDB per request | WCU per request | WCU of the last "
        "| RCU per request | S3 per request |"
    )
    print("| --- | --- | --- | ---: | ---: | ---: | --- |")
    labels = [row["label"] for row in next(iter(by_side.values()))]
    for label in labels:
        for name, rows in by_side.items():
            row = next(r for r in rows if r["label"] == label)
            n = row["requests"]
            dynamo = ", ".join(f"{op} {count / n:.2g}" for op, count in sorted(row["dynamodb"].items()))
            s3 = ", ".join(f"{op} {count / n:g}" for op, count in sorted(row["s3"].items()))
            print(
                f"| {label} ({n}) | {name} | {dynamo} | {row['wcu'] / n:.1f} | {row['last_wcu']:g} | "
                f"{row['rcu'] / n:.1f} | {s3} |"
            )


def run_once(side: Side, shape: str, args: argparse.Namespace) -> Run:
    batch, per_trace = shape.split(":")
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "ingest.json"
        command = [
            sys.executable,
            "-m",
            "benchmarks.traces",
            "--skip",
            "search",
            "--skip",
            "big",
            "--ingest-spans",
            str(args.spans),
            "--batch-spans",
            batch,
            "--spans-per-trace",
            per_trace,
            "--threads",
            str(args.threads),
            "--json",
            str(out),
        ]
        load_before = os.getloadavg()[0]
        completed = subprocess.run(  # noqa: S603 - our interpreter, our module
            command, cwd=side.tree, env=environment(side.tree), capture_output=True, text=True, check=False
        )
        load_after = os.getloadavg()[0]
        if completed.returncode != 0:
            raise RuntimeError(f"{side.name} {shape}: {completed.stdout[-2000:]}{completed.stderr[-2000:]}")
        figures = json.loads(out.read_text())["ingest"]
    run = Run(side.name, shape, figures, (load_before, load_after))
    side.runs.append(run)
    return run


def per_request(run: Run) -> str:
    n = run.figures["requests"]
    dynamo = ", ".join(f"{op} {count / n:.1f}" for op, count in sorted(run.figures["dynamodb"].items()))
    s3 = ", ".join(f"{op} {count / n:.1f}" for op, count in sorted(run.figures["s3"].items()))
    return f"{dynamo} | {run.figures['wcu'] / n:.1f} | {s3}"


def print_table(sides: list[Side]) -> None:
    print("| shape (spans a request : a trace) | code | round | **spans/s** | DynamoDB per request | WCU | S3 | load |")
    print("| --- | --- | ---: | ---: | --- | ---: | --- | --- |")
    runs = sorted(
        ((run.shape, n, side.name, run) for side in sides for n, run in enumerate(side.runs)),
        key=lambda entry: (entry[0], entry[1], entry[2] != "before"),
    )
    rounds: dict[tuple[str, str], int] = {}
    for shape, _, name, run in runs:
        rounds[(shape, name)] = rounds.get((shape, name), 0) + 1
        load = f"{run.load[0]:.1f} to {run.load[1]:.1f}"
        cells = f"{rounds[(shape, name)]} | {run.spans_per_second:,.0f} | {per_request(run)} | {load}"
        print(f"| {shape} | {name} | {cells} |")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.traces_ab", description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the other checkout (main, or HEAD~)")
    parser.add_argument("--after", type=Path, default=PROJECT_DIR, help="this checkout by default")
    parser.add_argument("--spans", type=int, default=10_000, help="spans sent per run (10,000)")
    parser.add_argument("--shape", action="append", help="SPANS_A_REQUEST:SPANS_A_TRACE (100:10 and 500:500)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each shape with each tree (2)")
    parser.add_argument("--threads", type=int, default=4, help="client threads (4)")
    parser.add_argument("--json", type=Path, help="also write every run's figures to this file")
    args = parser.parse_args(argv)
    args.shape = args.shape or ["100:10", "500:500"]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sides = [Side("before", args.before.resolve()), Side("after", args.after.resolve())]
    for n in range(args.rounds):
        for shape in args.shape:
            for side in sides if n % 2 == 0 else list(reversed(sides)):
                run = run_once(side, shape, args)
                print(f"round {n + 1}, {shape}, {side.name}: {run.spans_per_second:,.0f} spans/s", flush=True)
    by_side = {side.name: writes(side, sides[1].tree) for side in sides}
    print()
    print_table(sides)
    print()
    print_writes(by_side)
    if args.json:
        runs = [{"side": r.side, "shape": r.shape, "load": r.load} | r.figures for s in sides for r in s.runs]
        args.json.write_text(json.dumps({"runs": runs, "writes": by_side}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
