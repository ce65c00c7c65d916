"""The two figures of docs/benchmarks.md: wall time per workload, and cost per month against usage."""

from __future__ import annotations

from pathlib import Path

from benchmarks.cost import Monthly


def _pyplot() -> object:
    import matplotlib  # noqa: PLC0415 - only the report needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def time_per_workload(labels: list[str], stratus: list[float], mlflow: list[float], title: str, path: Path) -> None:
    """Grouped horizontal bars, seconds on a log axis, with the ratio written at each pair."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(9, 0.8 + 0.75 * len(labels)))  # type: ignore[attr-defined]
    rows = list(range(len(labels)))
    axes.barh([r + 0.2 for r in rows], mlflow, height=0.38, label="mlflow server (SQLite, proxied artifacts)")
    axes.barh([r - 0.2 for r in rows], stratus, height=0.38, label="stratus local (handlers + DynamoDB Local + moto)")
    for row, (ours, theirs) in enumerate(zip(stratus, mlflow, strict=True)):
        axes.annotate(f"{ours / theirs:.2f}x", (max(ours, theirs), row), xytext=(4, -4), textcoords="offset points")
    axes.set_yticks(rows, labels)
    axes.invert_yaxis()
    axes.set_xscale("log")
    axes.set_xlabel("wall time, seconds (log scale); label: Stratus / MLflow")
    axes.set_title(title)
    axes.legend(loc="lower right", fontsize="small")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)  # type: ignore[attr-defined]


def cost_per_month(monthly: Monthly, path: Path, max_multiple: float = 100.0) -> float | None:
    """Stratus's monthly bill against usage (multiples of the team's), beside the managed server's flat rate.
    Returns the usage multiple where they cross, if under ``max_multiple``."""
    plt = _pyplot()
    multiples = [max_multiple * i / 200 for i in range(201)]
    ours = [monthly.total(m) for m in multiples]
    figure, axes = plt.subplots(figsize=(8, 4.5))  # type: ignore[attr-defined]
    axes.plot(multiples, ours, label="Stratus (usage + a year of data held + fixed)")
    axes.plot(multiples, [monthly.managed] * len(multiples), label="managed MLflow server, always on, $0.642/h")
    axes.axvline(1.0, color="grey", linestyle=":", linewidth=1)
    axes.annotate("team of 10:\n5 M points,\n20,000 searches", (1.0, monthly.managed * 0.55), xytext=(6, 0),
                  textcoords="offset points", fontsize="small")  # fmt: skip
    crossing = next((m for m, total in zip(multiples, ours, strict=True) if total >= monthly.managed), None)
    axes.set_xlabel("usage, multiples of the team's month")
    axes.set_ylabel("US$ per month (us-east-1 list prices)")
    axes.set_title("Cost per month against usage")
    axes.set_ylim(bottom=0)
    axes.legend(loc="center right", fontsize="small")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)  # type: ignore[attr-defined]
    return crossing
