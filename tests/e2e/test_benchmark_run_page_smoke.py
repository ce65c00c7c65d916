"""``python -m benchmarks.run_page`` at a tiny size, in a process of its own (it starts its own ``stratus local``): it
runs, and its request counts are the run page's: each call costs the same at any registry size (the prompt search reads
the version summaries: their marker and one Query)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from child_process import child_environment

PROJECT_DIR = Path(__file__).resolve().parents[2]


def test_the_run_page_benchmark_prints_its_table() -> None:
    completed = subprocess.run(  # noqa: S603 - our interpreter, our module
        [sys.executable, "-m", "benchmarks.run_page", "--models", "2", "5", "--repeat", "2"],
        cwd=PROJECT_DIR,
        env=child_environment(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
    rows = re.findall(r"^\| (\d+) \| (.+?) \| \d+ \| (\d+) \|$", completed.stdout, flags=re.M)
    requests = {(int(models), call): int(count) for models, call, count in rows}
    for models in (2, 5):
        assert requests[(models, "GraphQL GetRun")] == 4
        assert requests[(models, "model-versions/search run_id")] == 3
        assert requests[(models, "model-versions/search prompts of the run")] == 2
