"""Core benchmarks: sample-store generation, validation and reading throughput.

Run by hand (never in the timed unit tests)::

    python3 -m uv run --all-packages python benchmarks/bench_core.py [--sizes 250000 2500000] [--repeat 3]

Writes ``benchmarks/results-core.md`` with the machine, versions and the
median / min / max of each case.  Each case runs in a fresh process so its
peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from benchmarks import _harness
else:
    import _harness

HERE = Path(__file__).resolve().parent


def _case(name: str, customers: int, workdir: str) -> dict[str, float]:
    """Run one case in this process; return seconds and peak RSS (MiB)."""
    import polars as pl

    import retainlib as rl
    from retainlib.samples import synthetic_store, synthetic_tables

    tables = synthetic_tables(customers=customers, seed=1, events=False) if name != "generate" else None
    csv_path = Path(workdir) / f"orders_{customers}.csv"
    if name == "read_csv" and not csv_path.exists():
        assert tables is not None
        tables["orders"].write_csv(csv_path)
    started = time.perf_counter()
    rows = 0
    if name == "generate":
        store = synthetic_store(customers=customers, seed=1, events=False)
        rows = store.counts()["orders"]
    elif name == "validate_full":
        assert tables is not None
        ds = rl.Dataset(orders=tables["orders"].lazy(), validate="full")
        assert ds.orders is not None
        rows = ds.orders.select(pl.len()).collect().item()
    elif name == "read_csv":
        ds = rl.read("csv", csv_path)
        assert ds.report is not None
        rows = ds.report.rows_loaded
    elif name == "parquet_round_trip":
        assert tables is not None
        folder = rl.Dataset(orders=tables["orders"], validate="none").write_parquet(Path(workdir) / "ds")
        rows = rl.Dataset.read_parquet(folder).counts()["orders"]
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak_mib": _harness.peak_mib(), "rows": float(rows)}


CASES = ("generate", "validate_full", "read_csv", "parquet_round_trip")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[250_000, 2_500_000], help="customers per store")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results-core.md")
    parser.add_argument("--one", nargs=3, metavar=("CASE", "CUSTOMERS", "WORKDIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_case(args.one[0], int(args.one[1]), args.one[2])))
        return
    lines = [
        "# Core benchmarks",
        "",
        f"Machine: {_harness.machine()}; {_harness.versions(['polars'])}; {time.strftime('%Y-%m-%d')}.",
        "",
        "Command: `python3 -m uv run --all-packages python benchmarks/bench_core.py"
        f" --sizes {' '.join(map(str, args.sizes))} --repeat {args.repeat}`",
        "",
        "| case | customers | orders | median s | min s | max s | orders/s (median) | peak RSS MiB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    with tempfile.TemporaryDirectory() as workdir:
        for customers in args.sizes:
            for case in CASES:
                runs = []
                for _ in range(args.repeat):
                    out = subprocess.run(
                        [sys.executable, __file__, "--one", case, str(customers), workdir],
                        check=True,
                        capture_output=True,
                        text=True,
                    )
                    runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
                secs = [r["seconds"] for r in runs]
                med = statistics.median(secs)
                rows = int(runs[0]["rows"])
                lines.append(
                    f"| {case} | {customers:,} | {rows:,} | {med:.2f} | {min(secs):.2f} | {max(secs):.2f} "
                    f"| {rows / med:,.0f} | {max(r['peak_mib'] for r in runs):,.0f} |"
                )
                print(lines[-1], flush=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
