"""The kernels on a dask cluster beside the local engine, and a simulated billion-order run: time and memory.

Run by hand (needs the extra ``retainlib[dask]``; the stores are those of ``bench_suite.py``)::

    python3 -m uv run --all-packages python benchmarks/bench_dask.py --size 10M --workers 2
    python3 -m uv run --all-packages python benchmarks/bench_dask.py --size 100M --workers 2 --cases retention_rate
    python3 -m uv run --all-packages python benchmarks/bench_dask.py --simulate 10 --size 100M   # 1B orders

``--size`` picks ``benchmarks/data/store-<size>/orders`` (and subscriptions).  Each case
runs on the local engine (polars, ``pl.scan_parquet``, streaming engine) and on a
``LocalCluster`` of ``--workers`` worker processes (one thread each) reading the same
files with :func:`retainlib.dask.read_parquet`; the two results must be equal
(``assert_frame_equal``).  ``--partitioning shuffle`` lets dask hash-shuffle the orders by
customer; ``declared`` (the default) declares the store's files as partitioned by customer
(each file holds a range of customer ids, which the script checks).  Peak memory: the
driver's own high-water mark (``VmHWM``) and each worker's, reset between cases.

``--simulate N`` runs N copies of the store, each with its customer ids made distinct
(``k<copy>-`` prefixed), one partition (a file of a copy) after another through the same
partial steps in this process (dask's synchronous scheduler): N = 10 on the 100M store is
one billion orders.  It logs the resident memory after each partition, to show that it
stays bounded by one partition's, not the data's, size.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import itertools
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from benchmarks import _harness
else:
    import _harness

import retainlib as rl

HERE = Path(__file__).resolve().parent
Kernel = Callable[[Any], Any]
#: The cases: (table, kernel).  The same options as bench_suite.py's cases.
CASES: dict[str, tuple[str, Kernel]] = {
    "retention_rate": ("orders", rl.retention_rate),
    "cohort_revenue": ("orders", lambda d: rl.cohort_retention(d, revenue=True)),
    "repeat_purchase_rate": ("orders", rl.repeat_purchase_rate),
    "survival": ("orders", lambda d: rl.survival(d, window=dt.timedelta(days=90))),
    "mrr_movements": ("subscriptions", rl.mrr_movements),
    "rfm": ("orders", lambda d: d),  # run by _rfm: a distributed result
}


def _rss_mib() -> float:
    """Current resident set size of this process, in MiB (``VmRSS``)."""
    for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _worker_peak() -> float:
    return _harness.peak_mib()


def _reset_peak() -> None:
    """Reset this process's high-water mark (``VmHWM``) to its current RSS (Linux: ``clear_refs`` 5)."""
    Path("/proc/self/clear_refs").write_text("5", encoding="utf-8")


def _check_customer_ranges(folder: Path) -> None:
    """Refuse to declare the files partitioned by customer unless their customer-id ranges are disjoint."""
    ranges = sorted(
        pl.scan_parquet(f)
        .select(pl.col("customer_id").min().alias("lo"), pl.col("customer_id").max().alias("hi"))
        .collect()
        .row(0)
        for f in sorted(folder.glob("*.parquet"))
    )
    for (_, hi), (lo, _) in itertools.pairwise(ranges):
        if lo <= hi:
            raise SystemExit(f"{folder}: files share customer ids ({lo} <= {hi}); use --partitioning shuffle")


def _local(kernel: Kernel, folder: Path, case: str) -> tuple[float, pl.DataFrame]:
    start = time.perf_counter()
    if case == "rfm":
        result = rl.rfm(pl.scan_parquet(folder / "*.parquet"), freq="W").collect(engine="streaming")
    else:
        result = kernel(pl.scan_parquet(folder / "*.parquet")).collect(engine="streaming")
    return time.perf_counter() - start, result


def _distributed(kernel: Kernel, frame: Any, case: str) -> tuple[float, pl.DataFrame]:
    import retainlib.dask as rld

    start = time.perf_counter()
    if case == "rfm":
        out: Any = rld.rfm(frame, freq="W")
        tmp = HERE / "data" / "rfm-dask.parquet"
        out.to_parquet(tmp, write_index=False)  # stays distributed: written by the workers
        elapsed = time.perf_counter() - start
        result = pl.read_parquet(tmp / "*.parquet").sort("customer_id")
        return elapsed, result
    result = kernel(frame)
    return time.perf_counter() - start, result


def run_cluster(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Each case on the local engine and on the cluster; results checked equal."""
    from polars.testing import assert_frame_equal

    import retainlib.dask as rld

    store = HERE / "data" / f"store-{args.size}"
    distributed: Any = importlib.import_module("distributed")  # untyped
    cluster = distributed.LocalCluster(
        n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=":0", memory_limit=args.memory
    )
    client = distributed.Client(cluster)
    # The workers import retainlib's dask engine (and polars, pyarrow...) before the first case's clock.
    client.run(importlib.import_module, "retainlib.dask")
    rows: list[dict[str, Any]] = []
    for case in args.cases:
        table, kernel = CASES[case]
        folder = store / table
        declared = args.partitioning == "declared"
        if declared:
            _check_customer_ranges(folder)
        local_s, local = _local(kernel, folder, case)
        client.run(_reset_peak)  # each case's own peak on the workers (a restart is slow on a loaded machine)
        frame = rld.read_parquet(folder, by_customer=declared, partition_rows=args.partition_rows)
        dask_s, remote = _distributed(kernel, frame, case)
        peaks = client.run(_worker_peak)
        assert_frame_equal(remote, local)
        row = {
            "case": case,
            "rows": sum(pl.scan_parquet(folder / "*.parquet").select(pl.len()).collect().row(0)),
            "partitions": frame.npartitions,
            "local_s": local_s,
            "dask_s": dask_s,
            "worker_peak_mib": max(peaks.values()),
            "driver_peak_mib": _harness.peak_mib(),
            "equal": True,
        }
        print(row, flush=True)
        rows.append(row)
    client.close()
    cluster.close()
    return rows


def run_simulated(args: argparse.Namespace) -> dict[str, Any]:
    """``--simulate N`` copies of the store's orders, partition after partition in this process."""
    import pandas as pd

    import retainlib.dask as rld

    dask: Any = importlib.import_module("dask")  # untyped
    dd: Any = importlib.import_module("dask.dataframe")

    folder = HERE / "data" / f"store-{args.size}" / "orders"
    _check_customer_ranges(folder)
    files = sorted(folder.glob("*.parquet"))
    pieces = [(copy, str(f)) for copy in range(args.simulate) for f in files]
    log: list[tuple[int, float]] = []

    def piece(item: tuple[int, str]) -> pd.DataFrame:
        copy, file = item
        table = pl.read_parquet(file).with_columns(
            pl.format("k{}-{}", pl.lit(copy), pl.col("customer_id")).alias("customer_id")
        )
        frame: pd.DataFrame = table.to_pandas(use_pyarrow_extension_array=True)
        log.append((table.height, _rss_mib()))
        return frame

    meta = pl.read_parquet(files[0], n_rows=0).to_pandas(use_pyarrow_extension_array=True)
    frame = rld.by_customer(dd.from_map(piece, pieces, meta=meta, enforce_metadata=False), declared=True)
    start = time.perf_counter()
    with dask.config.set(scheduler="synchronous"):
        result = rl.retention_rate(frame)
    elapsed = time.perf_counter() - start
    rows = sum(n for n, _ in log) // 2  # two passes over the orders: the span, then the masks
    out = {
        "orders": rows,
        "partitions": len(pieces),
        "seconds": elapsed,
        "rss_mib_first_10": [round(r) for _, r in log[:10]],
        "rss_mib_max": max(r for _, r in log),
        "rss_mib_last": log[-1][1],
        "peak_mib": _harness.peak_mib(),
        "result_rows": result.height,
        "end_last_period": int(result["end"][-1]),
    }
    print(out, flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="10M", choices=["1M", "10M", "100M"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory", default="6GiB", help="memory limit per worker")
    parser.add_argument("--partitioning", default="declared", choices=["declared", "shuffle"])
    parser.add_argument("--partition-rows", type=int, default=2_000_000)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--simulate", type=int, default=0, help="N copies of the store in sequence (10 x 100M = 1B)")
    args = parser.parse_args()
    print(f"{_harness.machine()}; load {_harness.loadavg()}; pid {os.getpid()}", file=sys.stderr)
    if args.simulate:
        run_simulated(args)
    else:
        run_cluster(args)


if __name__ == "__main__":
    main()
