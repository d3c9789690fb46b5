"""Helpers shared by the benchmark scripts: the machine, versions, fresh-process runs, peak RSS, summaries.

The scripts import it as ``_harness`` (their own folder is on ``sys.path`` when run
as ``python benchmarks/<script>.py``); type checkers see it as ``benchmarks._harness``.
"""

from __future__ import annotations

import json
import os
import platform
import resource
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
