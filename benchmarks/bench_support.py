"""Time ``support_retention`` alone on a synthetic store: wall, CPU and peak memory of one fresh process.

Run by hand, from the repository root, one size at a time (the peak is the whole process's)::

    /usr/bin/time -v python3 -m uv run --all-packages python benchmarks/bench_support.py --size 100M \\
        --save /tmp/support-100M.parquet

Data: the synthetic store cached as Parquet under ``benchmarks/data/store-<size>/`` (written by
``bench_suite.py``'s ``store()`` when missing), read lazily with ``rl.Dataset.read_parquet``, and
``rl.support_retention(ds)`` with the options the report uses (the defaults), its result collected.
``--order time`` takes ``store-<size>-bytime``, the same orders sorted by time as exports come.

``--kernel path/to/support.py`` runs another copy of the kernel module (say the one of an earlier
commit, from ``git show <commit>:src/retainlib/metrics/support.py``) in place of the installed one;
``--save`` writes the result and ``--compare`` checks it against a saved one with
``polars.testing.assert_frame_equal``, to show that a change gives the same rows.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
from polars.testing import assert_frame_equal

import retainlib as rl

if TYPE_CHECKING:
    from benchmarks import bench_suite
else:  # run as a script: this folder is on sys.path
    import bench_suite

HERE = Path(__file__).resolve().parent


def kernel(path: Path | None) -> Callable[..., Any]:
    """``support_retention`` of the installed retainlib, or of the module file at ``path``."""
    if path is None:
        return rl.support_retention
    spec = importlib.util.spec_from_file_location("support_under_test", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    function: Callable[..., Any] = module.support_retention
    return function


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="10M", choices=sorted(bench_suite.SIZES))
    parser.add_argument("--data", type=Path, default=HERE / "data")
    parser.add_argument("--order", default="customer", choices=["customer", "time"], help="store-<size>-bytime: time")
    parser.add_argument("--kernel", type=Path, default=None, help="a support.py to run instead of the installed one")
    parser.add_argument("--save", type=Path, default=None, help="write the result here (Parquet)")
    parser.add_argument("--compare", type=Path, default=None, help="check the result equals this saved one")
    args = parser.parse_args(argv)

    support_retention = kernel(args.kernel)
    ds = rl.Dataset.read_parquet(bench_suite.store(args.data, args.size, args.order))
    load = os.getloadavg()
    cpu = os.times()
    started = time.perf_counter()
    result = support_retention(ds)
    wall = time.perf_counter() - started
    after = os.times()
    used = (after.user - cpu.user) + (after.system - cpu.system)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    print(
        f"support_retention {args.size} ({args.order} order): {result.height} rows, wall {wall:.1f} s, "
        f"CPU (user+sys) {used:.1f} s, process peak RSS {peak:.2f} GiB, "
        f"load average before {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        flush=True,
    )
    if args.save is not None:
        result.write_parquet(args.save)
    if args.compare is not None:
        assert_frame_equal(result, pl.read_parquet(args.compare), check_exact=True)
        print(f"identical to {args.compare}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
