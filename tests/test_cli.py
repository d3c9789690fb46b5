"""The retainlib command line."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

import retainlib as rl
from retainlib.cli import main

HEADER = "order_id,customer_id,ordered_at,amount,currency\n"


@pytest.mark.parametrize("command", [[], ["sources"], ["read"], ["validate"], ["report"], ["metric"], ["demo"]])
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_sources_lists_builtin_sources() -> None:
    result = CliRunner().invoke(main, ["sources"])
    assert result.exit_code == 0
    for name in ("csv", "parquet", "json"):
        assert name in result.output


def test_read_writes_a_dataset_and_prints_the_report(tmp_path: Path) -> None:
    f = tmp_path / "orders.csv"
    f.write_text(HEADER + "o1,c1,2024-01-05T10:00:00Z,10.00,usd\no2,c1,2024-02-05T00:00:00Z,oops,USD\n")
    out = tmp_path / "out"
    rejects = tmp_path / "rejects.csv"
    result = CliRunner().invoke(main, ["read", "csv", str(f), "--out", str(out), "--rejects", str(rejects)])
    assert result.exit_code == 0, result.output
    assert "rows read 2 = loaded 1 + rejected 1" in result.output
    ds = rl.Dataset.read_parquet(out)
    assert ds.orders is not None and ds.orders.collect()["order_id"].to_list() == ["o1"]
    assert pl.read_csv(rejects)["reason"].to_list() == ["amount: not a number"]


def test_read_options_and_errors(tmp_path: Path) -> None:
    f = tmp_path / "export.csv"
    f.write_text("id,user,when,total\n1,7,2024-03-01 10:00,9.50\n")
    runner = CliRunner()
    ok = runner.invoke(
        main,
        [
            "read",
            "csv",
            str(f),
            "--out",
            str(tmp_path / "o"),
            "--table",
            "orders",
            "--tz",
            "Europe/Paris",
            "--map",
            "id=order_id",
            "--map",
            "user=customer_id",
            "--map",
            "when=ordered_at",
            "--map",
            "total=amount",
        ],
    )
    assert ok.exit_code == 2  # currency is missing: a clear error, no traceback
    assert "currency" in ok.output and "Traceback" not in ok.output
    bad = runner.invoke(main, ["read", "nosuch", str(f), "--out", str(tmp_path / "o")])
    assert bad.exit_code == 2 and "unknown source 'nosuch'" in bad.output


def test_validate_exit_status(tmp_path: Path) -> None:
    good = tmp_path / "orders.csv"
    good.write_text(HEADER + "o1,c1,2024-01-05T10:00:00Z,10.00,USD\n")
    assert CliRunner().invoke(main, ["validate", str(good)]).exit_code == 0
    bad = tmp_path / "bad_orders.csv"
    bad.write_text(HEADER + "o1,c1,2024-01-05T10:00:00Z,10.00,USD\no1,c1,2024-01-05T10:00:00Z,1,USD\n")
    result = CliRunner().invoke(main, ["validate", "--table", "orders", str(bad)])
    assert result.exit_code == 1
    assert "duplicate id" in result.output
    folder = rl.Dataset(orders=pl.read_csv(good)).write_parquet(tmp_path / "ds")
    assert CliRunner().invoke(main, ["validate", str(folder)]).exit_code == 0


def test_demo_runs_on_the_sample_store(tmp_path: Path) -> None:
    html = tmp_path / "demo.html"
    result = CliRunner().invoke(main, ["demo", "--customers", "500", "--seed", "3", "--html", str(html)])
    assert result.exit_code == 0, result.output
    assert html.exists() and f"written to {html.resolve()}" in " ".join(result.output.split())
    assert "Sample store" in result.output
    for title in (
        "Period retention",
        "Cohort retention",
        "Repeat purchase rate",
        "Returning customer rate",
        "Net Promoter Score",
        "Median customer lifetime",
        "MRR movements",
    ):
        assert title in result.output


def test_read_and_validate_take_the_source_the_same_way(tmp_path: Path) -> None:
    f = tmp_path / "orders.csv"
    f.write_text(HEADER + "o1,c1,2024-01-05T10:00:00Z,10.00,USD\n")
    runner = CliRunner()
    for args in (["csv", str(f)], ["auto", str(f)], [str(f)]):
        read = runner.invoke(main, ["read", *args, "--out", str(tmp_path / "out")])
        assert read.exit_code == 0, read.output
        assert "rows read 1 = loaded 1 + rejected 0" in read.output
        checked = runner.invoke(main, ["validate", *args])
        assert checked.exit_code == 0, checked.output
        assert "rows read 1 = loaded 1 + rejected 0" in checked.output
    missing = runner.invoke(main, ["validate", "csv", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2 and "no such file" in missing.output and "Traceback" not in missing.output


def test_default_sets_a_constant_column(tmp_path: Path) -> None:
    f = tmp_path / "export.csv"
    f.write_text("order_id,customer_id,ordered_at,amount\no1,c1,2024-01-05T10:00:00Z,10.00\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["read", "csv", str(f), "--table", "orders", "--default", "currency=eur", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    ds = rl.Dataset.read_parquet(out)
    assert ds.orders is not None and ds.orders.collect()["currency"].to_list() == ["EUR"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--tz", "Europe/Pari"], "OptionError: unknown time zone 'Europe/Pari'"),
        (["-o", "defaults=EUR"], "OptionError: defaults is a dict"),
        (["-o", "separator="], "OptionError: separator is one ASCII character"),
        (["-o", "refunds=drop"], "OptionError: refunds is one of"),
        (["--quantity", "q"], "--unit-price"),
    ],
)
def test_bad_options_are_an_error_line_not_a_traceback(tmp_path: Path, args: list[str], expected: str) -> None:
    f = tmp_path / "orders.csv"
    f.write_text(HEADER + "o1,c1,2024-01-05 10:00,10.00,USD\n")
    result = CliRunner().invoke(main, ["validate", "csv", str(f), *args])
    assert result.exit_code == 2
    assert expected in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)  # a clean exit, not an exception


def test_validate_reads_a_stray_quote_in_the_header(tmp_path: Path) -> None:
    f = tmp_path / "orders.csv"
    f.write_text('order_id,customer_id,ordered_at,amount,currency,no"te\no1,c1,2024-01-05T10:00:00Z,10,EUR,x\n')
    result = CliRunner().invoke(main, ["validate", str(f)])
    assert result.exit_code == 0, result.output
    assert "rows read 1 = loaded 1 + rejected 0" in result.output


def test_line_items_and_refunds_on_the_command_line(tmp_path: Path) -> None:
    fixture = Path(__file__).parent / "fixtures" / "retail_lines.csv"
    out = tmp_path / "out"
    args = ["read", "csv", str(fixture), "--table", "orders", "--tz", "Europe/London", "--default", "currency=GBP"]
    args += ["--map", "InvoiceNo=order_id", "--map", "InvoiceDate=ordered_at", "--map", "CustomerID=customer_id"]
    args += ["--quantity", "Quantity", "--unit-price", "UnitPrice", "--refunds", "reject", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "rows read 11 = loaded 8 + rejected 3" in result.output
    ds = rl.Dataset.read_parquet(out)
    assert ds.orders is not None and ds.orders.collect().height == 4
