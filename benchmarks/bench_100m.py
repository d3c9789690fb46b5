"""The headline kernels at 100M orders from Parquet with the streaming engine: time and peak RSS.

Run by hand (the data, about 1.6 GB of Parquet, is generated once and cached)::

    python3 -m uv run --all-packages python benchmarks/bench_100m.py [--customers 28300000] [--engine streaming]
    python3 -m uv run --all-packages python benchmarks/bench_100m.py --order time   # orders sorted by time

Each case runs ``--repeat`` times (3), each run in a fresh process (``python bench_100m.py --case NAME``);
the results go to ``benchmarks/results-100M.md`` (``results-100M-bytime.md`` with ``--order time``).
``--order time`` runs on a copy of the store whose orders are sorted by ``ordered_at``
(``benchmarks/data/store-100M-bytime/``, 10 files of consecutive time ranges) and its
subscriptions by ``started_at``, as shops and billing systems export them.  ``--cases`` runs
a subset (the floor always runs).  The side-by-side suite with the competitors at 1M and 10M
orders is ``bench_suite.py``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from benchmarks import _harness
else:
    import _harness

from retainlib.metrics._common import Engine, check_engine

HERE = Path(__file__).resolve().parent
CASES = (
    "floor",
    "retention_rate",
    "cohort_customers",
    "cohort_revenue",
    "rfm",
    "repeat_purchase_rate",
    "repeat_within",
    "returning_customer_rate",
    "mrr_movements",
    "survival",
)
#: Days without an order after which a customer counts as churned in the survival case (as in bench_suite.py).
WINDOW_DAYS = 90
#: The repeat_within case: share of each monthly cohort ordering again within this many months (as in bench_suite.py).
REPEAT_WITHIN = 3


def _case(folder: Path, case: str, engine: Engine) -> dict[str, object]:
    import polars as pl

    import retainlib as rl

    orders = pl.scan_parquet(folder / "orders" / "*.parquet")
    started = time.perf_counter()
    if case == "floor":
        result = (
            orders.group_by("customer_id")
            .agg(
                pl.len(),
                pl.col("ordered_at").min().alias("first"),
                pl.col("ordered_at").max().alias("last"),
                pl.col("amount").sum(),
            )
            .collect(engine=engine)
        )
    elif case == "mrr_movements":
        subscriptions = pl.scan_parquet(folder / "subscriptions" / "*.parquet")
        result = rl.mrr_movements(subscriptions, engine=engine).collect(engine=engine)
    elif case in ("cohort_customers", "cohort_revenue"):
        measure: Literal["customers", "revenue"] = "customers" if case == "cohort_customers" else "revenue"
        result = rl.cohort_retention(orders, measure=measure, engine=engine).collect(engine=engine)
    elif case == "survival":
        result = rl.survival(orders, window=WINDOW_DAYS).collect(engine=engine)
    elif case == "repeat_within":
        result = rl.repeat_purchase_rate(orders, within=REPEAT_WITHIN, engine=engine).collect(engine=engine)
    else:
        kernel = getattr(rl, case)
        result = kernel(orders, engine=engine).collect(engine=engine)
    seconds = time.perf_counter() - started
    return {"case": case, "seconds": round(seconds, 2), "peak_mib": round(_harness.peak_mib()), "rows": result.height}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=28_300_000, help="customers (about 3.5 orders each)")
    parser.add_argument("--engine", default="streaming", choices=["streaming", "in-memory", "auto"])
    parser.add_argument(
        "--order",
        default="customer",
        choices=["customer", "time"],
        help="row order of the orders: as generated (each customer's together) or by time, as real exports",
    )
    parser.add_argument("--data", type=Path, default=None, help="the store (default: benchmarks/data/store-100M)")
    parser.add_argument("--out", type=Path, default=None, help="default: benchmarks/results-100M[-bytime].md")
    parser.add_argument("--repeat", "--runs", type=int, default=3, help="runs per case (median, min, max)")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES, help="a subset of the cases")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(_case(args.data, args.case, check_engine(args.engine))))
        return
    sys.path.insert(0, str(HERE))
    import polars as pl

    bytime = args.order == "time"
    base = args.data or HERE / "data" / "store-100M"
    out = args.out or HERE / ("results-100M-bytime.md" if bytime else "results-100M.md")
    if not (base / "retainlib.json").exists():
        from retainlib.samples import write_synthetic_parquet

        write_synthetic_parquet(base, args.customers, seed=1)
    data = _harness.time_ordered(base, base.with_name(base.name + "-bytime")) if bytime else base
    n = pl.scan_parquet(data / "orders" / "*.parquet").select(pl.len()).collect().item()
    files = len(list((data / "orders").glob("*.parquet")))
    command = "python3 -m uv run --all-packages python benchmarks/bench_100m.py"
    command += f" --engine {args.engine} --repeat {args.repeat}"
    if bytime:
        command += " --order time"
    if args.customers != 28_300_000:
        command += f" --customers {args.customers}"
    if args.cases != list(CASES):
        command += f" --cases {' '.join(args.cases)}"
    header = {
        "command": command,
        "order": args.order,
        "files": files,
        "started": _harness.today(),
        "commit": _harness.commit(),
        "load_start": _harness.loadavg(),
    }
    cases = ["floor", *(c for c in args.cases if c != "floor")]  # the ratios need the floor
    runs: dict[str, list[dict[str, Any]]] = {case: [] for case in cases}
    for _ in range(max(1, args.repeat)):  # the cases take turns, so that a busy spell hits them all alike
        for case in cases:
            command_line = [sys.executable, __file__, "--case", case, "--engine", args.engine, "--data", str(data)]
            done = subprocess.run(command_line, capture_output=True, text=True, timeout=1800, check=True)
            runs[case].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(runs[case][-1], flush=True)
            _write(out, n, args.engine, runs, header)  # after each run, so a stopped run keeps what it measured


def _write(out: Path, n: int, engine: str, runs: dict[str, list[dict[str, Any]]], header: dict[str, Any]) -> None:
    import polars as pl

    done = {case: sorted(float(r["seconds"]) for r in rs) for case, rs in runs.items() if rs}
    floor = statistics.median(done["floor"])
    files = f"{header['files']} file{'s' if header['files'] != 1 else ''}"
    order = (
        f"sorted by time (`ordered_at`), as exported by a shop or a billing system, in {files} "
        "(the subscriptions sorted by `started_at`)"
        if header["order"] == "time"
        else f"as generated, each customer's orders together, in {files}"
    )
    lines = [
        f"# {n:,} orders from Parquet, engine={engine}",
        "",
        f"Machine: {_harness.machine()}; polars {pl.__version__}.  Each run in a fresh process; the cases take",
        "turns; seconds are the median, min and max over the runs, peak RSS the highest of them.",
        "",
        f"Run {header['started']} on {header['commit']}; load average (1/5/15 min) at start {header['load_start']},",
        f"at the last run {_harness.loadavg()} (the machine is shared: other jobs add noise to times, not to memory).",
        "",
        f"Command: `{header['command']}`",
        "",
        f"Orders: {order}.",
        "",
        "| case | runs | median s | min s | max s | x floor | peak RSS MiB | result rows |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for case, seconds in done.items():
        median = statistics.median(seconds)
        peak = max(int(r["peak_mib"]) for r in runs[case])
        count = int(runs[case][0]["rows"])
        lines.append(
            f"| {case} | {len(seconds)} | {median:.2f} | {seconds[0]:.2f} | {seconds[-1]:.2f} | "
            f"{median / floor:.2f} | {peak} | {count:,} |"
        )
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
