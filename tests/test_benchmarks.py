"""Smoke runs of the benchmark scripts at tiny sizes (``pytest -m bench``); no timing is asserted."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_core.py"


@pytest.mark.bench
@pytest.mark.parametrize("case", ["generate", "validate_full", "read_csv", "parquet_round_trip"])
def test_core_benchmark_cases_run(case: str, tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("bench_core", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module._case(case, 300, str(tmp_path))
    assert result["rows"] > 0
    assert result["seconds"] >= 0
