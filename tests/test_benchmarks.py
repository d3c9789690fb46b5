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


@pytest.mark.bench
def test_stripe_benchmark_runs(tmp_path: Path) -> None:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_stripe.py"
    spec = importlib.util.spec_from_file_location("bench_stripe", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    export = tmp_path / "unified_payments.csv"
    module.generate(export, 500)
    result = module._one(str(export))
    assert result["read"] == 500
    assert result["read"] == result["loaded"] + result["rejected"]
    assert 0 < result["rejected"] < 500  # failed and refunded payments are rejected, paid ones loaded


@pytest.mark.bench
def test_clv_benchmark_quick_run(tmp_path: Path, shared_data: Path) -> None:
    """retainlib's side of the CLV benchmark on CDNOW (competitors live in the 'bench' group)."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_clv.py"
    spec = importlib.util.spec_from_file_location("bench_clv", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "results.md"
    module.main(["--quick", "--libraries", "retainlib", "--out", str(out)])
    text = out.read_text(encoding="utf-8")
    assert "| CDNOW" in text
    assert "0.24259" in text  # the published BG/NBD r on CDNOW, fitted by the benchmark
