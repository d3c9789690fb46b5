"""Smoke run of ``benchmarks/bench_warehouse.py`` at a tiny size on both backends (``pytest -m bench -n 0``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from retainlib.samples import synthetic_store

BENCHMARKS = Path(__file__).resolve().parents[3] / "benchmarks"


def _load(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The script as a module (its folder on sys.path, as when run, for the shared ``_harness``)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("bench_warehouse", BENCHMARKS / "bench_warehouse.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.bench
def test_warehouse_benchmark_cases_run(
    database: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = _load(monkeypatch)
    uri, _ = database
    orders = synthetic_store(60, seed=2, events=False).require("orders").collect()
    rows = orders.height
    assert bench.prepare(uri, rows, tmp_path, orders) > 0
    assert bench.prepare(uri, rows, tmp_path, orders) == 0  # already loaded: not again
    results = {
        (library, case): bench.one(library, uri, rows, case, tmp_path / f"out-{library}-{case}")
        for library, case in (("polars", "table"), ("retainlib", "table"), ("retainlib", "query"), ("stream", "table"))
    }
    floor = results["polars", "table"]
    assert floor["loaded"] == rows
    for result in results.values():
        assert result["loaded"] == rows and result["rejected"] == 0
        assert result["schema"] == floor["schema"]  # the same columns, the same dtypes
        assert result["seconds"] >= 0 and result["peak_mib"] > 0
