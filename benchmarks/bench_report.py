"""Time ``rl.report`` and ``Report.to_html`` on the 10M-order store against the metrics alone.

Run by hand, from the repository root::

    python3 -m uv run --all-packages python benchmarks/bench_report.py --size 10M --repeat 3 \\
        --out benchmarks/results-report.md

Data: the synthetic store cached as Parquet under ``benchmarks/data/store-<size>/`` (written by
``bench_suite.py``'s ``store()`` when missing).  Each repetition, in this process:

* *metrics alone*: the kernels the report runs, called one after the other on
  ``rl.Dataset.read_parquet`` of the folder (each collected): retention_rate, cohort_retention +
  triangle, repeat_purchase_rate, returning_customer_rate, mrr_movements, mrr, revenue_retention,
  survival, median_lifetime, support_retention, nps by period and overall;
* *report*: ``rl.report`` of the same dataset (the same kernels plus one pass for the row counts);
* *HTML*: ``Report.to_html`` (charts drawn with matplotlib, tables cut to their latest rows).

The two computations take turns (metrics, then report) so that machine noise hits both.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

import retainlib as rl

if TYPE_CHECKING:
    from benchmarks import bench_suite
else:  # run as a script: this folder is on sys.path
    import bench_suite

HERE = Path(__file__).resolve().parent


def metrics_alone(ds: rl.Dataset) -> dict[str, float]:
    """Seconds per kernel the report runs, called directly."""
    steps: dict[str, Callable[[], object]] = {
        "retention_rate": lambda: rl.retention_rate(ds, table="orders"),
        "cohort_retention + triangle": lambda: rl.triangle(rl.cohort_retention(ds, table="orders")),
        "repeat_purchase_rate": lambda: rl.repeat_purchase_rate(ds),
        "returning_customer_rate": lambda: rl.returning_customer_rate(ds),
        "mrr_movements": lambda: rl.mrr_movements(ds),
        "mrr": lambda: rl.mrr(ds),
        "revenue_retention": lambda: rl.revenue_retention(ds, horizon=12),
        "survival": lambda: rl.survival(ds),
        "median_lifetime": lambda: rl.median_lifetime(ds),
        "support_retention": lambda: rl.support_retention(ds),
        "nps (by month and overall)": lambda: (rl.nps(ds), rl.nps(ds, period=None)),
    }
    seconds: dict[str, float] = {}
    for name, step in steps.items():
        started = time.perf_counter()
        step()
        seconds[name] = time.perf_counter() - started
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="10M", choices=sorted(bench_suite.SIZES))
    parser.add_argument("--data", type=Path, default=HERE / "data")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results-report.md")
    args = parser.parse_args(argv)

    folder = bench_suite.store(args.data, args.size)
    ds = rl.Dataset.read_parquet(folder)
    counts = ds.counts()
    load = os.getloadavg()
    runs: list[dict[str, float]] = []
    kernel_runs: list[dict[str, float]] = []
    report: rl.Report | None = None
    size = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            started = time.perf_counter()
            kernels = metrics_alone(ds)
            alone = time.perf_counter() - started
            started = time.perf_counter()
            report = rl.report(ds)
            computed = time.perf_counter() - started
            started = time.perf_counter()
            path = report.to_html(Path(tmp) / "report.html")
            drawn = time.perf_counter() - started
            started = time.perf_counter()
            report.to_html(Path(tmp) / "tables.html", charts=False)
            tables_only = time.perf_counter() - started
            size = path.stat().st_size
            runs.append(
                {"metrics": alone, "report": computed, "html": drawn, "tables": tables_only, "size": float(size)}
            )
            kernel_runs.append(kernels)
            print(
                f"run {i + 1}: metrics {alone:.2f} s, report {computed:.2f} s, to_html {drawn:.2f} s "
                f"(tables only {tables_only:.2f} s), {size:,} bytes",
                flush=True,
            )
            tables_size = (Path(tmp) / "tables.html").stat().st_size
    assert report is not None

    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    lines = [
        "# The report at scale: `rl.report` + `to_html` against the metrics alone",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores; Python {platform.python_version()}, "
        f"polars {pl.__version__}; load average at start {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} "
        "(a shared machine).",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        f"Command: `python3 -m uv run --all-packages python benchmarks/bench_report.py --size {args.size} "
        f"--repeat {args.repeat}`",
        "",
        f"Data: the synthetic store `store-{args.size}` (Parquet, read lazily): "
        + ", ".join(f"{n:,} {t}" for t, n in counts.items())
        + ".  Sections: "
        + ", ".join(s.key for s in report.sections)
        + (" (not shown: " + "; ".join(s.section for s in report.skipped) + ")" if report.skipped else "")
        + ".",
        "",
        f"Median of {args.repeat} runs in one process (metrics and report taking turns):",
        "",
        "| step | median s | min s | max s |",
        "| --- | ---: | ---: | ---: |",
    ]
    for key, label in (
        ("metrics", "the report's kernels, called one by one"),
        ("report", "`rl.report(dataset)`"),
        ("html", "`report.to_html(path)` (charts drawn)"),
        ("tables", "`report.to_html(path, charts=False)`"),
    ):
        values = [r[key] for r in runs]
        lines.append(f"| {label} | {med(key):.2f} | {min(values):.2f} | {max(values):.2f} |")
    lines += [
        "",
        f"* report / metrics alone: **{med('report') / med('metrics'):.2f}x**; "
        f"report + HTML / metrics alone: **{(med('report') + med('html')) / med('metrics'):.2f}x**.",
        f"* HTML file: **{int(med('size')):,} bytes** with charts, {tables_size:,} bytes without "
        "(aggregates only: tables cut to their latest 24 periods, the cohort triangle to 36 cohorts "
        "by 36 periods, survival curves to about 400 points each); the same bounds hold at any size.",
        "",
        "Seconds per kernel (median), as the metrics-alone step ran them:",
        "",
        "| kernel | s |",
        "| --- | ---: |",
    ]
    for name in kernel_runs[0]:
        lines.append(f"| {name} | {statistics.median(k[name] for k in kernel_runs):.2f} |")
    lines += [
        "",
        "Seconds per report section (last run): " + ", ".join(f"{k} {v:.2f}" for k, v in report.seconds.items()) + ".",
        "",
    ]
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
