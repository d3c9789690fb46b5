"""Reading canonical orders files (CSV, JSON lines, Parquet) with retainlib beside polars' own reader.

Run by hand (from the repository root)::

    python3 -m uv run --all-packages python benchmarks/bench_read.py [--rows 1000000] [--repeat 3] [--large]

``--large`` adds 10M rows.  Writes ``benchmarks/results-read.md``.

The files are canonical orders exports (``order_id``, ``customer_id``,
``ordered_at`` as ISO 8601 UTC with ``Z``, ``amount`` with two decimals,
``currency``), sorted by time as real exports are; one order in a thousand is
a refund (a negative amount), which ``rl.read`` rejects with its line.

* retainlib: ``rl.read(fmt, path)`` (full validation, rejects kept with their
  line and reason), then the orders collected;
* polars: the same file read and parsed to the same dtypes (timestamps to
  ``Datetime("us", "UTC")``, amounts to ``Decimal(38, 4)``), no checks.

Each case runs in a fresh process (its peak RSS is its own); the table shows
the median, min and max seconds over the repetitions and rows per second at
the median.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from benchmarks import _harness
else:  # run as a script: this folder is on sys.path
    import _harness

HERE = Path(__file__).resolve().parent
FORMATS = ("csv", "json", "parquet")
SUFFIX = {"csv": "csv", "json": "jsonl", "parquet": "parquet"}
MONEY = pl.Decimal(38, 4)
STAMP = pl.Datetime("us", "UTC")
#: One order in this many is a refund (negative amount): rejected by retainlib, parsed by polars.
REFUND_EVERY = 1000


def orders_frame(rows: int, seed: int = 0) -> pl.DataFrame:
    """A canonical orders table as text, sorted by time (vectorised)."""
    rng = np.random.default_rng(seed)
    seconds = np.sort(rng.integers(1_640_995_200, 1_735_689_600, rows))
    cents = rng.integers(100, 50_000, rows)
    cents[::REFUND_EVERY] *= -1
    units, rest = pl.Series(np.abs(cents) // 100), pl.Series(np.abs(cents) % 100)
    sign = pl.Series(np.where(cents < 0, "-", ""))
    return pl.DataFrame(
        {
            "order_id": "o" + pl.Series(np.arange(rows)).cast(pl.String),
            "customer_id": "c" + pl.Series(rng.integers(0, max(rows // 4, 1), rows)).cast(pl.String),
            "ordered_at": pl.from_epoch(pl.Series(seconds), time_unit="s").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "amount": sign + units.cast(pl.String) + "." + rest.cast(pl.String).str.zfill(2),
            "currency": pl.Series(rng.choice(["USD", "EUR"], rows, p=[0.9, 0.1])),
        }
    )


def write(folder: Path, rows: int) -> dict[str, Path]:
    """The same orders as ``orders.csv``, ``orders.jsonl`` and ``orders.parquet`` (canonical dtypes)."""
    frame = orders_frame(rows)
    paths = {fmt: folder / f"orders.{SUFFIX[fmt]}" for fmt in FORMATS}
    frame.write_csv(paths["csv"])
    frame.write_ndjson(paths["json"])
    frame.with_columns(_parsed()).write_parquet(paths["parquet"])
    return paths


def _parsed() -> list[pl.Expr]:
    return [
        pl.col("ordered_at").str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_unit="us").dt.replace_time_zone("UTC"),
        pl.col("amount").cast(MONEY),
    ]


def polars_read(fmt: str, path: Path) -> pl.DataFrame:
    """Polars' own reader on the same file, to the same dtypes (no checks)."""
    if fmt == "parquet":
        return pl.read_parquet(path)
    if fmt == "csv":
        frame = pl.scan_csv(path, infer_schema=False)
    else:
        frame = pl.scan_ndjson(path, schema=dict.fromkeys(orders_frame(1).columns, pl.String))
    return frame.with_columns(_parsed()).collect()


def one(fmt: str, library: str, path: Path) -> dict[str, Any]:
    """One timed read in this process: seconds, peak RSS, rows loaded and rejected."""
    if library == "retainlib":
        import retainlib as rl  # imported before the clock starts: reading is timed, not the import
    started = time.perf_counter()
    if library == "polars":
        frame = polars_read(fmt, path)
        rejected = 0
    else:
        ds = rl.read(fmt, path)
        frame = ds.require("orders").collect()
        assert ds.report is not None
        rejected = ds.report.rows_rejected
    seconds = time.perf_counter() - started
    assert frame.schema["ordered_at"] == STAMP and frame.schema["amount"] == MONEY
    return {"seconds": seconds, "peak_mib": _harness.peak_mib(), "loaded": frame.height, "rejected": rejected}


def _label(rows: int) -> str:
    return f"{rows // 1_000_000}M" if rows % 1_000_000 == 0 else f"{rows:,}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--large", action="store_true", help="also 10M rows")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS))
    parser.add_argument("--out", type=Path, default=HERE / "results-read.md")
    parser.add_argument("--one", nargs=3, metavar=("FORMAT", "LIBRARY", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        fmt, library, path = args.one
        print(json.dumps(one(fmt, library, Path(path))))
        return
    sizes = [args.rows, *([10_000_000] if args.large else [])]
    lines = [
        "# Reading canonical orders files: retainlib beside polars",
        "",
        f"Machine: {_harness.machine()}; {_harness.versions(['polars', 'retainlib'])}; {_harness.today()}; "
        f"load {_harness.loadavg()} at the start.",
        "",
        "| rows | format | MiB | library | loaded | rejected | median s | min s | max s | rows/s | peak RSS MiB "
        "| ratio |",
        "| ---: | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for rows in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            paths = write(Path(tmp), rows)
            for fmt in args.formats:
                medians: dict[str, float] = {}
                for library in ("polars", "retainlib"):
                    command = [sys.executable, __file__, "--one", fmt, library, str(paths[fmt])]
                    runs = [_harness.run_fresh(command, timeout=1800) for _ in range(args.repeat)]
                    failed = [r["status"] for r in runs if r["status"] != "ok"]
                    if failed:
                        lines.append(f"| {_label(rows)} | {fmt} | | {library} | {failed[0]} | | | | | | | |")
                        continue
                    med, low, high = _harness.spread([r["seconds"] for r in runs])
                    medians[library] = med
                    ratio = f"{med / medians['polars']:.2f}x" if "polars" in medians else ""
                    lines.append(
                        f"| {_label(rows)} | {fmt} | {paths[fmt].stat().st_size / 2**20:,.0f} | {library} | "
                        f"{runs[0]['loaded']:,} | {runs[0]['rejected']:,} | {med:.2f} | {low:.2f} | {high:.2f} | "
                        f"{rows / med:,.0f} | {max(r['peak_mib'] for r in runs):,.0f} | {ratio} |"
                    )
                    print(lines[-1], flush=True)
    lines += ["", f"Load at the end: {_harness.loadavg()}."]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
