"""Streaming a CSV export to a canonical Parquet dataset: ``retainlib read csv FILE --out DIR`` beside polars.

Run by hand (from the repository root)::

    python3 -m uv run --all-packages python benchmarks/bench_stream.py [--rows 10000000] [--repeat 3]

Writes ``benchmarks/results-stream.md``.

The file is a canonical orders export sorted by time (``bench_read.orders_frame``:
one order in a thousand is a refund, which retainlib rejects with its line).
Each case runs in a fresh process; its peak RSS (``VmHWM``) is its own:

* polars: ``pl.scan_csv(FILE, infer_schema=False).with_columns(<timestamps and
  amounts parsed>).sink_parquet(OUT)``, the floor for the same conversion
  without checks;
* retainlib: ``rl.read_to_parquet("csv", FILE, out=DIR)`` -- every row coerced
  and checked, loaded rows and rejected ones written as they are found, keys
  checked for repeats across the table afterwards, the load report built.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from benchmarks import _harness, bench_read
else:  # run as a script: this folder is on sys.path
    import _harness
    import bench_read

HERE = Path(__file__).resolve().parent


def one(library: str, path: Path, out: Path) -> dict[str, Any]:
    """One timed conversion in this process: seconds, peak RSS, rows loaded and rejected."""
    if library == "retainlib":
        import retainlib as rl
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    if library == "polars":
        out.mkdir(parents=True)
        frame = pl.scan_csv(path, infer_schema=False).with_columns(bench_read._parsed())
        frame.sink_parquet(out / "orders.parquet")
        loaded, rejected = pl.scan_parquet(out / "orders.parquet").select(pl.len()).collect().item(), 0
    else:
        ds = rl.read_to_parquet("csv", path, out=out)
        assert ds.report is not None
        loaded, rejected = ds.report.rows_loaded, ds.report.rows_rejected
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak_mib": _harness.peak_mib(), "loaded": loaded, "rejected": rejected}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results-stream.md")
    parser.add_argument("--one", nargs=3, metavar=("LIBRARY", "PATH", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        library, path, out = args.one
        print(json.dumps(one(library, Path(path), Path(out))))
        return
    lines = [
        "# Streaming a CSV export to Parquet: retainlib beside polars",
        "",
        f"Machine: {_harness.machine()}; {_harness.versions(['polars', 'retainlib'])}; {_harness.today()}; "
        f"load {_harness.loadavg()} at the start.",
        "",
        f"Command: `python3 -m uv run --all-packages python benchmarks/bench_stream.py --rows "
        f"{' '.join(map(str, args.rows))} --repeat {args.repeat}`",
        "",
        "| rows | CSV MiB | library | loaded | rejected | median s | min s | max s | peak RSS MiB | time ratio "
        "| memory ratio |",
        "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for rows in args.rows:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "orders.csv"
            bench_read.orders_frame(rows).write_csv(path)
            base: dict[str, float] = {}
            for library in ("polars", "retainlib"):
                command = [sys.executable, __file__, "--one", library, str(path), str(Path(tmp) / library)]
                runs = [_harness.run_fresh(command, timeout=3600) for _ in range(args.repeat)]
                failed = [r["status"] for r in runs if r["status"] != "ok"]
                if failed:
                    lines.append(f"| {rows:,} | | {library} | {failed[0]} | | | | | | | |")
                    continue
                med, low, high = _harness.spread([r["seconds"] for r in runs])
                peak = max(r["peak_mib"] for r in runs)
                if library == "polars":
                    base = {"s": med, "mib": peak}
                ratio = f"{med / base['s']:.2f}x" if base else ""
                memory = f"{peak / base['mib']:.2f}x" if base else ""
                lines.append(
                    f"| {rows:,} | {path.stat().st_size / 2**20:,.0f} | {library} | {runs[0]['loaded']:,} | "
                    f"{runs[0]['rejected']:,} | {med:.2f} | {low:.2f} | {high:.2f} | {peak:,.0f} | {ratio} | {memory} |"
                )
                print(lines[-1], flush=True)
    lines += ["", f"Load at the end: {_harness.loadavg()}."]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
