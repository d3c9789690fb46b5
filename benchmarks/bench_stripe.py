"""Reading a Stripe Dashboard payments export of 1M rows with the `stripe` source.

Run by hand::

    python3 -m uv run --all-packages python benchmarks/bench_stripe.py [--rows 1000000] [--repeat 3]

Writes ``benchmarks/results-stripe.md``.  The export is generated (default
column set, realistic mix: ~85% paid, some failed, partial and full refunds,
lower-case currencies, dates with and without seconds, quoted thousands
separators), each repetition runs in a fresh process for its peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
HEADER = [
    "id",
    "Created date (UTC)",
    "Amount",
    "Amount Refunded",
    "Currency",
    "Captured",
    "Converted Amount",
    "Converted Amount Refunded",
    "Converted Currency",
    "Decline Reason",
    "Description",
    "Fee",
    "Refunded date (UTC)",
    "Statement Descriptor",
    "Status",
    "Seller Message",
    "Taxes On Fee",
    "Card ID",
    "Customer ID",
    "Customer Description",
    "Customer Email",
    "Invoice ID",
    "Transfer",
]


def generate(path: Path, rows: int, seed: int = 0) -> None:
    """A payments export with ``rows`` rows (vectorised; written with polars)."""
    rng = np.random.default_rng(seed)
    cents = rng.integers(500, 250_000, rows)
    status = rng.choice(["Paid", "Failed", "Refunded"], rows, p=[0.86, 0.09, 0.05])
    partial = (status == "Paid") & (rng.random(rows) < 0.03)
    refunded = np.where(status == "Refunded", cents, np.where(partial, cents // 4, 0))
    seconds = rng.integers(1_640_995_200, 1_735_689_600, rows)
    stamp = pl.from_epoch(pl.Series(seconds), time_unit="s")
    with_seconds = rng.random(rows) < 0.8

    def money(c: np.ndarray) -> pl.Series:
        units = pl.Series(c // 100)
        text = units.cast(pl.String) + "." + pl.Series(c % 100).cast(pl.String).str.zfill(2)
        # Amounts of 1,000 and more appear with a thousands separator, quoted by the CSV writer.
        grouped = (units // 1000).cast(pl.String) + "," + (units % 1000).cast(pl.String).str.zfill(3)
        return pl.select(
            pl.when(units >= 1000).then(grouped + "." + pl.Series(c % 100).cast(pl.String).str.zfill(2)).otherwise(text)
        ).to_series()

    frame = pl.DataFrame(
        {
            "id": "ch_" + pl.Series(np.arange(rows)).cast(pl.String).str.zfill(12),
            "Created date (UTC)": pl.select(
                pl.when(pl.Series(with_seconds))
                .then(stamp.dt.strftime("%Y-%m-%d %H:%M:%S"))
                .otherwise(stamp.dt.strftime("%Y-%m-%d %H:%M"))
            ).to_series(),
            "Amount": money(cents),
            "Amount Refunded": money(refunded),
            "Currency": pl.Series(rng.choice(["usd", "usd", "usd", "eur"], rows)),
            "Captured": pl.Series(np.where(status == "Failed", "false", "true")),
            "Status": pl.Series(status),
            "Customer ID": "cus_" + pl.Series(rng.integers(0, rows // 4 + 1, rows)).cast(pl.String),
        }
    )
    for column in HEADER:
        if column not in frame.columns:
            frame = frame.with_columns(pl.lit("").alias(column))
    frame.select(HEADER).write_csv(path)


def _one(path: str) -> dict[str, float]:
    import retainlib as rl

    started = time.perf_counter()
    ds = rl.read("stripe", path)
    seconds = time.perf_counter() - started
    assert ds.report is not None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "seconds": seconds,
        "peak_mib": peak,
        "read": ds.report.rows_read,
        "loaded": ds.report.rows_loaded,
        "rejected": ds.report.rows_rejected,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results-stripe.md")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_one(args.one)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "unified_payments.csv"
        generate(path, args.rows)
        size = path.stat().st_size / 2**20
        runs = []
        for _ in range(args.repeat):
            out = subprocess.run(
                [sys.executable, __file__, "--one", str(path)], check=True, capture_output=True, text=True
            )
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    secs = [r["seconds"] for r in runs]
    med = statistics.median(secs)
    load = os.getloadavg()
    lines = [
        "# Stripe payments export: reading benchmark",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores; Python {platform.python_version()}, "
        f"polars {pl.__version__}; {time.strftime('%Y-%m-%d')}; load average at the end {load[0]:.1f}.",
        "",
        f"Command: `python3 -m uv run --all-packages python benchmarks/bench_stripe.py --rows {args.rows} "
        f"--repeat {args.repeat}`",
        "",
        "| rows | file MiB | read | loaded | rejected | median s | min s | max s | rows/s | peak RSS MiB |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {args.rows:,} | {size:,.0f} | {int(runs[0]['read']):,} | {int(runs[0]['loaded']):,} | "
        f"{int(runs[0]['rejected']):,} | {med:.2f} | {min(secs):.2f} | {max(secs):.2f} | {args.rows / med:,.0f} | "
        f"{max(r['peak_mib'] for r in runs):,.0f} |",
    ]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
