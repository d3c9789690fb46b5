"""``retainlib report``, ``retainlib metric`` and the demo's tables: 80 columns, plain text when piped."""

from __future__ import annotations

import io
import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from rich.console import Console

import retainlib as rl
from retainlib._demo import run_demo
from retainlib.cli import main
from retainlib.samples import synthetic_store

HEADER = "order_id,customer_id,ordered_at,amount,currency\n"
ROWS = (
    "o1,a,2024-01-05T10:00:00Z,10.00,EUR\n"
    "o2,a,2024-02-05T10:00:00Z,12.50,EUR\n"
    "o3,b,2024-01-09T10:00:00Z,20.00,EUR\n"
    "o4,b,2024-03-09T10:00:00Z,oops,EUR\n"
    "o5,c,2024-02-20T10:00:00Z,5.00,EUR\n"
    "o6,a,2024-03-02T10:00:00Z,7.00,EUR\n"
)


@pytest.fixture
def orders_csv(tmp_path: Path) -> Path:
    f = tmp_path / "orders.csv"
    f.write_text(HEADER + ROWS)
    return f


@pytest.fixture(scope="module")
def store_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic_store(customers=300, seed=7).collect().write_parquet(tmp_path_factory.mktemp("store") / "ds")


def _fits(text: str, width: int = 80) -> None:
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width, max(lines, key=len)
    assert "…" not in text, "a header or cell was cut"


def test_report_prints_headlines_and_the_triangle_as_plain_text(orders_csv: Path) -> None:
    result = CliRunner().invoke(main, ["report", "csv", str(orders_csv)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Headline numbers" in out and "Repeat purchase rate" in out and "Cohort retention" in out
    assert "\x1b[" not in out  # piped: no colour codes
    assert "rows read 6 = loaded 5 + rejected 1" in out
    assert "not shown: Subscription revenue: the dataset has no subscriptions table" in " ".join(out.split())
    # Customers a, b, c; a and b ordered twice (b's second order rejected, so only a): 1 of 3.
    assert "33.3%" in out


def test_report_fits_80_columns_with_colours_on_a_terminal(store_folder: Path) -> None:
    report = rl.report(rl.Dataset.read_parquet(store_folder), window=120)
    buffer = io.StringIO()
    console = Console(file=buffer, width=80, force_terminal=True, color_system="truecolor")
    report.print(console)
    raw = buffer.getvalue()
    assert "\x1b[" in raw and "48;2;" in raw  # colour-graded cells (truecolor backgrounds)
    plain = Console(width=80, record=True, file=io.StringIO())
    report.print(plain)
    text = plain.export_text()
    _fits(text)
    triangle = report.frames["triangle"].tail(12)
    line = next(line for line in text.splitlines() if line.strip().startswith("2024-10 "))
    cohort = triangle.filter(pl.col("cohort") == pl.date(2024, 10, 1))
    assert line.split()[1] == str(cohort["cohort_size"].item())
    assert line.split()[3] == f"{100 * cohort['1'].item():.0f}"


def test_report_writes_html_and_says_where(store_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    args = ["report", str(store_folder), "--html", str(out), "--period", "quarter", "--no-charts"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert f"report written to {out}" in result.output
    text = out.read_text(encoding="utf-8")
    assert 'id="subscriptions"' in text and "by quarter" in text and "<svg" not in text


def test_report_options_are_checked(orders_csv: Path) -> None:
    bad = CliRunner().invoke(main, ["report", "csv", str(orders_csv), "--by", "nosuch"])
    assert bad.exit_code == 2 and "no column 'nosuch'" in bad.output and "Traceback" not in bad.output
    naive = CliRunner().invoke(main, ["report", "csv", str(orders_csv), "--as-of", "2024-03-01T00:00"])
    assert naive.exit_code == 2 and "UTC offset" in naive.output


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_metric_writes_the_kernel_frame(store_folder: Path, tmp_path: Path, fmt: str) -> None:
    expected = rl.mrr_movements(rl.Dataset.read_parquet(store_folder), period="quarter")
    out = tmp_path / f"m.{fmt}"
    args = ["metric", "mrr_movements", str(store_folder), "--period", "quarter", "--format", fmt, "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    if fmt == "parquet":
        assert pl.read_parquet(out).equals(expected)
    elif fmt == "csv":
        back = pl.read_csv(out, schema=pl.Schema(dict.fromkeys(expected.columns, pl.String)))
        assert back["mrr_end"].to_list() == [str(v) for v in expected["mrr_end"]]
    else:
        rows = json.loads(out.read_text(encoding="utf-8"))
        assert [r["mrr_end"] for r in rows] == [str(v) for v in expected["mrr_end"]]
        assert [r["period"] for r in rows] == [d.isoformat() for d in expected["period"]]


def test_metric_to_standard_output_and_its_options(orders_csv: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["metric", "repeat_purchase_rate", "csv", str(orders_csv)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["customers,repeat_customers,repeat_purchase_rate", f"3,1,{1 / 3}"]
    tri = runner.invoke(main, ["metric", "triangle", "csv", str(orders_csv), "--format", "json"])
    assert json.loads(tri.stdout)[0]["cohort_size"] == 2
    survival = runner.invoke(main, ["metric", "survival", "csv", str(orders_csv), "--window", "30"])
    assert survival.exit_code == 0 and survival.stdout.startswith("time,at_risk")
    rfm = runner.invoke(main, ["metric", "rfm", "csv", str(orders_csv), "-a", "freq=W", "--format", "json"])
    assert rfm.exit_code == 0, rfm.output
    assert {r["customer_id"] for r in json.loads(rfm.stdout)} == {"a", "b", "c"}
    unknown = runner.invoke(main, ["metric", "nosuch", "csv", str(orders_csv)])
    assert unknown.exit_code == 2 and "unknown metric 'nosuch'" in unknown.output
    wrong = runner.invoke(main, ["metric", "nps", "csv", str(orders_csv), "-a", "horizon=3"])
    assert wrong.exit_code == 2 and "nps takes no option 'horizon'" in wrong.output
    window = runner.invoke(main, ["metric", "nps", "csv", str(orders_csv), "--window", "3"])
    assert window.exit_code == 2 and "takes no option 'window'" in window.output
    binary = runner.invoke(main, ["metric", "mrr", "csv", str(orders_csv), "--format", "parquet"])
    assert binary.exit_code == 2 and "--out" in binary.output


def test_demo_tables_fit_80_columns(tmp_path: Path) -> None:
    console = Console(width=80, record=True, file=io.StringIO())
    out = run_demo(console, customers=600, seed=1, period="month")
    text = console.export_text()
    _fits(text)
    for header in ("NRR", "expans.", "retention", "ci high"):
        assert header in text
    assert out is None and "written to" not in text
