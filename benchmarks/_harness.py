"""Helpers shared by the benchmark scripts: the machine, versions, fresh-process runs, peak RSS, summaries.

The scripts import it as ``_harness`` (their own folder is on ``sys.path`` when run
as ``python benchmarks/<script>.py``); type checkers see it as ``benchmarks._harness``.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import time
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any


def peak_mib() -> float:
    """Peak resident set size of this process so far, in MiB.

    On Linux the high-water mark of the process's own memory (``VmHWM``): ``ru_maxrss``
    of a freshly started process also counts its parent's resident memory at the fork
    (the kernel carries it over through ``exec``), so a large driver would inflate every case.
    Elsewhere ``ru_maxrss`` (KiB on Linux, bytes on macOS).
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text(encoding="utf-8").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 2**20 if platform.system() == "Darwin" else maxrss / 1024


def memory_gib() -> float:
    """Physical memory of the machine in GiB."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def cpu_model() -> str:
    """The CPU model name from ``/proc/cpuinfo`` (Linux), else ``platform.processor()``."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def machine() -> str:
    """One line: architecture, cores, memory, CPU model and OS."""
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, {memory_gib():.0f} GiB, {cpu_model()}; "
        f"{platform.system()} {platform.release()}"
    )


def versions(packages: Sequence[str]) -> str:
    """Python and the installed version of each distribution (``(not installed)`` when absent)."""
    parts = [f"Python {platform.python_version()}"]
    for name in packages:
        try:
            parts.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            parts.append(f"{name} (not installed)")
    return ", ".join(parts)


def loadavg() -> str:
    """The 1 / 5 / 15-minute load averages."""
    return " / ".join(f"{v:.2f}" for v in os.getloadavg())


def today() -> str:
    """The current UTC time, to the minute."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


def commit() -> str:
    """The repository's commit, marked when ``src`` has uncommitted changes (to match a table with its kernels)."""
    root = Path(__file__).resolve().parent.parent

    def git(*words: str) -> str:
        done = subprocess.run(["git", *words], cwd=root, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown commit"
    return f"commit {head}" + (" with uncommitted changes" if git("status", "--porcelain", "--", "src") else "")


def run_fresh(cmd: Sequence[str], timeout: float) -> dict[str, Any]:
    """Run one case in a fresh process; its last stdout line is a JSON object.

    Returns that object with ``status="ok"``, or only a ``status``: ``did not finish in N min``
    (the process is killed at ``timeout`` seconds) or ``failed: <last line of stderr>``.
    """
    try:
        proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"status": f"did not finish in {timeout / 60:g} min"}
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
        return {"status": f"failed: {tail[0][:160]}"}
    return {"status": "ok", **json.loads(proc.stdout.strip().splitlines()[-1])}


def spread(values: Sequence[float]) -> tuple[float, float, float]:
    """Median, min and max."""
    return statistics.median(values), min(values), max(values)


#: Rows per file of a time-ordered copy (:func:`time_ordered`): 100M orders make 10 files.
ROWS_PER_FILE = 10_000_000
#: The tables a time-ordered copy sorts, and the column each is sorted by.
TIME_COLUMNS = {"orders": "ordered_at", "subscriptions": "started_at"}


def time_ordered(folder: Path, timed: Path, rows_per_file: int = ROWS_PER_FILE) -> Path:
    """A copy of the store ``folder`` at ``timed`` with its orders and subscriptions sorted by time.

    Exports from a shop or a billing system come sorted by time, not grouped by
    customer: the orders by ``ordered_at``, the subscriptions by ``started_at``
    (:data:`TIME_COLUMNS`).  Each becomes ``max(1, rows // rows_per_file)`` files
    (``part-00000.parquet``, ...) covering consecutive time ranges cut at
    quantiles of its time column, each sorted: one range is sorted in memory at
    a time, so 100M orders are sorted without holding them all (about 2 GiB peak).
    The other tables are copied as they are.  Written when missing;
    ``retainlib.json`` is copied last, so a complete copy has it.
    """
    if (timed / "retainlib.json").exists():
        return timed
    started = time.perf_counter()
    for table in folder.iterdir():
        if table.is_dir() and table.name not in TIME_COLUMNS:
            shutil.copytree(table, timed / table.name, dirs_exist_ok=True)
    sizes = {
        name: _sort_by_time(folder / name, timed / name, column, rows_per_file) for name, column in TIME_COLUMNS.items()
    }
    shutil.copy(folder / "retainlib.json", timed / "retainlib.json")
    print(
        f"wrote {timed} ({', '.join(f'{rows:,} {name} in {files} files' for name, (rows, files) in sizes.items())}) "
        f"in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    return timed


def _sort_by_time(source: Path, out: Path, column: str, rows_per_file: int) -> tuple[int, int]:
    """The Parquet files of ``source`` sorted by ``column`` into files of consecutive ranges; (rows, files)."""
    import polars as pl

    if out.exists():
        shutil.rmtree(out)  # a copy stopped half way
    out.mkdir(parents=True)
    table = pl.scan_parquet(str(source / "*.parquet"))
    rows = table.select(pl.len()).collect().item()
    parts = max(1, rows // rows_per_file)
    t = pl.col(column)
    cuts = (
        table.select(t.quantile(i / parts, interpolation="lower").alias(str(i)) for i in range(1, parts))
        .collect()
        .row(0)
        if parts > 1
        else ()
    )
    bounds = [None, *cuts, None]
    for i in range(parts):
        low, high = bounds[i], bounds[i + 1]
        part = table
        if low is not None:
            part = part.filter(t >= low)
        if high is not None:
            part = part.filter(t < high)
        part.sort(column).sink_parquet(out / f"part-{i:05d}.parquet", row_group_size=1_000_000)
    return rows, parts
