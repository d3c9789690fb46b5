"""Smoke runs of the benchmark scripts at tiny sizes (``pytest -m bench -n 0``); no timing is asserted."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import polars as pl
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
BENCH = BENCHMARKS / "bench_core.py"


def _load(name: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """A benchmark script as a module (its folder on sys.path, as when run, for the shared ``_harness``)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.bench
@pytest.mark.parametrize("case", ["generate", "validate_full", "read_csv", "parquet_round_trip"])
def test_core_benchmark_cases_run(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = _load("bench_core", monkeypatch)
    result = module._case(case, 300, str(tmp_path))
    assert result["rows"] > 0
    assert result["seconds"] >= 0


@pytest.mark.bench
def test_clv_benchmark_quick_run(tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """retainlib's side of the CLV benchmark on CDNOW (competitors live in the 'bench' group)."""
    module = _load("bench_clv", monkeypatch)
    out = tmp_path / "results.md"
    module.main(["--quick", "--libraries", "retainlib", "--out", str(out)])
    text = out.read_text(encoding="utf-8")
    assert "| CDNOW" in text
    assert "0.24259" in text  # the published BG/NBD r on CDNOW, fitted by the benchmark


@pytest.mark.bench
def test_suite_quick_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole suite at 20,000 customers, one repetition, into a temporary folder: a row per case and library.

    Competitors that are not installed (plain ``uv sync`` drops the 'bench' group) get a "not installed" row.
    """
    suite = _load("bench_suite", monkeypatch)
    out, raw = tmp_path / "results.md", tmp_path / "results.json"
    command = [sys.executable, str(BENCHMARKS / "bench_suite.py"), "--quick", "--data-dir", str(tmp_path)]
    subprocess.run([*command, "--out", str(out), "--json", str(raw)], check=True, capture_output=True, timeout=600)
    text = out.read_text(encoding="utf-8")
    for case, libraries in suite.CASES.items():
        for library in libraries:
            for step in suite.CLV_STEPS if case == "clv" else (case,):
                assert f"| {step} | {library} |" in text, (step, library)
    assert "failed" not in text
    assert "did not finish" not in text
    assert "| retention_rate vs pandas | 35 periods (pandas 35); max abs Δ: start 0, new 0, retained 0, end 0 |" in text
    numbers = json.loads(raw.read_text(encoding="utf-8"))
    assert numbers["counts"]["20K"]["orders"] > 0
    assert all(r["status"] in ("ok", "not installed") for r in numbers["sizes"]["20K"])


@pytest.mark.bench
def test_suite_orders_by_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--order time`` runs on a copy of the store with the orders sorted by time, and says so."""
    suite = _load("bench_suite", monkeypatch)
    folder = suite.store(tmp_path, "20K", "time")
    assert folder.name == "store-20K-bytime"
    orders = pl.read_parquet(folder / "orders" / "*.parquet")
    generated = pl.read_parquet(tmp_path / "store-20K" / "orders" / "*.parquet")
    assert orders.height == generated.height
    assert orders["ordered_at"].is_sorted()
    assert orders.sort("order_id").equals(generated.sort("order_id"))
    assert (folder / "subscriptions").is_dir()
    out = tmp_path / "results.md"
    command = [sys.executable, str(BENCHMARKS / "bench_suite.py"), "--quick", "--data-dir", str(tmp_path)]
    options = ["--order", "time", "--cases", "floor", "rfm", "retention_rate", "--out", str(out)]
    subprocess.run([*command, *options], check=True, capture_output=True, timeout=600)
    text = out.read_text(encoding="utf-8")
    assert "Orders: sorted by time" in text
    assert "| rfm | retainlib |" in text
    assert "| cohort_customers |" not in text


@pytest.mark.bench
def test_100m_script_runs_small(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """bench_100m.py end to end at 2,000 customers: data generated, every case in its own process, a table."""
    bench_100m = _load("bench_100m", monkeypatch)
    out = tmp_path / "results-100M.md"
    command = [
        sys.executable,
        str(BENCHMARKS / "bench_100m.py"),
        "--customers",
        "2000",
        "--repeat",
        "2",
        "--data",
        str(tmp_path / "store"),
        "--out",
        str(out),
    ]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=300)
    text = out.read_text(encoding="utf-8")
    for case in bench_100m.CASES:
        assert f"| {case} | 2 |" in text  # two runs each
    assert "engine=streaming" in text


@pytest.mark.bench
def test_read_benchmark_quick_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reading benchmark at 2,000 rows, one repetition: a row per format and library, rejects kept."""
    module = _load("bench_read", monkeypatch)
    out = tmp_path / "results-read.md"
    module.main(["--rows", "2000", "--repeat", "1", "--out", str(out)])
    rows = [
        line.split("|")[1:-1] for line in out.read_text(encoding="utf-8").splitlines() if line.startswith("| 2,000")
    ]
    assert [(r[1].strip(), r[3].strip()) for r in rows] == [
        (fmt, library) for fmt in ("csv", "json", "parquet") for library in ("polars", "retainlib")
    ]
    for row in rows:
        loaded, rejected = int(row[4].replace(",", "")), int(row[5].replace(",", ""))
        refunds = 2 if row[3].strip() == "retainlib" else 0  # one order in a thousand is a refund
        assert (loaded, rejected) == (2000 - refunds, refunds)


@pytest.mark.bench
def test_read_benchmark_vendor_cases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The plugin export cases at 2,000 rows: polars reads every row, the sources account for every one."""
    module = _load("bench_read", monkeypatch)
    out = tmp_path / "results-read.md"
    data = tmp_path / "data"
    formats = ["stripe", "cdnow", "shopify", "mixpanel"]
    options = ["--rows", "2000", "--repeat", "1", "--formats", *formats, "--data", str(data)]
    module.main([*options, "--out", str(out)])
    rows = [
        line.split("|")[1:-1] for line in out.read_text(encoding="utf-8").splitlines() if line.startswith("| 2,000")
    ]
    assert [(r[1].strip(), r[3].strip()) for r in rows] == [
        (fmt, library) for fmt in formats for library in ("polars", "retainlib")
    ]
    for row in rows:
        loaded, rejected = int(row[4].replace(",", "")), int(row[5].replace(",", ""))
        if row[1].strip() == "shopify":  # line items become orders: polars counts lines, retainlib orders
            assert loaded > 0 and rejected == 0
        elif row[3].strip() == "polars":
            assert (loaded, rejected) == (2000, 0)
        else:  # failed, refunded and incomplete payments; impossible days; repeated events
            assert loaded + rejected == 2000 and 0 < rejected < 100
    assert sorted(p.name for p in (data / "2000").iterdir()) == [
        "CDNOW_master.txt",
        "mixpanel_export.jsonl",
        "orders_export_1.csv",
        "unified_payments.csv",
    ]


@pytest.mark.bench
def test_support_benchmark_quick_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """bench_support.py on the smallest store: the kernel timed, its result saved, then found equal to itself."""
    module = _load("bench_support", monkeypatch)
    saved = tmp_path / "support.parquet"
    assert module.main(["--size", "20K", "--data", str(tmp_path), "--save", str(saved)]) == 0
    assert module.main(["--size", "20K", "--data", str(tmp_path), "--compare", str(saved)]) == 0
    out = capsys.readouterr().out
    assert "support_retention 20K (customer order)" in out and f"identical to {saved}" in out
    assert pl.read_parquet(saved).height > 0
