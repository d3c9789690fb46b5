"""The ``retainlib-cdnow`` plugin: discovery, the four CDNOW layouts, rejects, detection, the real files."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner
from polars.testing import assert_frame_equal

import retainlib as rl
import retainlib_cdnow as cdnow
from retainlib import _host
from retainlib.cli import main
from retainlib.errors import DataError, OptionError, PluginError, SourceError
from retainlib.plugins import ReadResult, Source, hookimpl, watching_progress
from retainlib.tables import MONEY, TIMESTAMP

#: The shared reference data folder beside the repository (public data, never copied into it).
SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
CDNOW = Path("reference") / "cdnow"


@pytest.fixture
def shared_data() -> Path:
    """The shared data folder; skips the test when it is absent (a user's fresh clone)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared reference data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def fresh_default_host() -> Iterator[None]:
    """Rebuild the process-wide host around the test (it is cached on first use)."""
    _host.default_host.cache_clear()
    yield
    _host.default_host.cache_clear()


# --- fixtures in each layout -----------------------------------------------------------------

# lifetimes' master file: header, whitespace, CRLF.  Line numbers count the header as line 1.
MASTER = (
    b" customer_id  date number_of_cds  dollar_value\r\n"  # 1
    b" 00001 19970101  1   11.77\r\n"  # 2
    b" 00002 19970112  1   12.00\r\n"  # 3
    b" 00002 19970112  5   77.00\r\n"  # 4: second line of customer 2 that day
    b" 00003 19970230  2   20.76\r\n"  # 5: no 30 February
    b"\r\n"  # 6: blank, not a record
    b" 00003 19970102  2\r\n"  # 7: a field short
    b" 00004 19970103  x   1,50\r\n"  # 8: two problems
    b" 0000A 19970104  1   3.00\r\n"  # 9
    b" 00005 19970105  1   1.23456\r\n"  # 10: real extra precision
    b" 00005 19970105  2   0.00\r\n"  # 11: customer 5's 2nd line of the day (line 10 counts)
    b" 00006 19971231  3   -5.5\r\n"  # 12
)
# The sample file: no header, master id and sample id.
SAMPLE = (
    b"00004 0001 19970101  2   29.33\n"  # 1
    b"00004 0001 19970118  2   29.73\n"  # 2
    b"00021 0002 19970101  3   63.34  extra\n"  # 3
    b"00021 00x2 19970102  3   63.34\n"  # 4
    b"00021 0002 1997-01-03 1 10\n"  # 5: ISO dates are read too
    b"00021 0002 19970701  1   9.99\n"  # 6: summer time in New York
    b"00021 0002 19970702  1   9.9\xe9\n"  # 7: a stray latin-1 byte
)
ELOG = (
    b"masterid,sampleid,date,cds,sales\n"  # 1
    b"4,1,19970101,2,29.33\n"  # 2
    b'4,1,19970101,1,"5.00"\n'  # 3
    b"18,2,19970101,1\n"  # 4
    b"18,2,19971332,1,12.00\n"  # 5
    b"18,2,,1,12.00\n"  # 6
    b"21,3,19970213,2,abc\n"  # 7
)
CLVTOOLS = (
    "\ufeffId,Date,CDs,Price\n"  # 1, with a byte-order mark
    "1,1997-01-01,2,29.33\n"  # 2
    "1,1997-01-18,2,20.759999999999998\n"  # 3: float noise of 20.76
    "2,1997-02-30,1,11.77\n"  # 4
    "2,1997-01-02,1,1e3\n"  # 5
    "2,1997-01-02,1,11.771\n"  # 6: customer 2's 2nd line of the day (line 5 counts)
    "3,1997-01-05,1.5,10\n"  # 7
).encode()

ORDERS_SCHEMA = pl.Schema(
    {
        "order_id": pl.String(),
        "customer_id": pl.String(),
        "ordered_at": TIMESTAMP,
        "amount": MONEY,
        "currency": pl.String(),
        "quantity": pl.Int64(),
    }
)
DATE = "ordered_at: not a calendar date (YYYYMMDD or YYYY-MM-DD)"
UTC = dt.UTC


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def _utc(year: int, month: int, day: int, hour: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=UTC)


def _orders(rows: Sequence[tuple[Any, ...]], *, sample: bool = False) -> pl.DataFrame:
    schema = pl.Schema({**ORDERS_SCHEMA, "sample_id": pl.String()}) if sample else ORDERS_SCHEMA
    return pl.DataFrame([list(r) for r in rows], schema=schema, orient="row")


def _customers(rows: Sequence[tuple[str, dt.datetime]]) -> pl.DataFrame:
    return pl.DataFrame(
        [[*r, None, None] for r in rows],
        schema={"customer_id": pl.String, "created_at": TIMESTAMP, "email": pl.String, "name": pl.String},
        orient="row",
    )


def _rejects(ds: rl.Dataset) -> list[tuple[int, str, str]]:
    assert ds.report is not None
    return [tuple(r) for r in ds.report.rejects.select("line", "column", "reason").iter_rows()]


def _frames(ds: rl.Dataset) -> tuple[pl.DataFrame, pl.DataFrame]:
    assert ds.orders is not None and ds.customers is not None
    return ds.orders.collect(), ds.customers.collect()


# --- discovery ---------------------------------------------------------------------------------


def test_the_entry_point_is_discovered() -> None:
    eps = importlib.metadata.entry_points(group="retainlib")
    assert [ep.value for ep in eps if ep.name == "cdnow"] == ["retainlib_cdnow"]
    assert "cdnow" in rl.sources()
    source = _host.build_host().sources["cdnow"]
    assert source.plugin == "cdnow"
    assert set(source.options) == {"tz", "currency"}
    assert source.detector is cdnow.detect
    # Without entry points only the built-in sources remain.
    assert "cdnow" not in _host.build_host(entry_points=False).sources


def test_the_command_line_lists_the_source(fresh_default_host: None) -> None:
    result = CliRunner().invoke(main, ["sources"])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if " cdnow " in line]
    assert rows and "tz" in " ".join(result.stdout.split())
    assert "csv" in result.stdout


# --- the layouts -------------------------------------------------------------------------------


def test_master_layout_rows_and_rejects(tmp_path: Path) -> None:
    path = _write(tmp_path / "CDNOW_master.txt", MASTER)
    ds = rl.read("cdnow", path)
    orders, customers = _frames(ds)
    expected = _orders(
        [
            ("1-19970101-1", "1", _utc(1997, 1, 1), Decimal("11.77"), "USD", 1),
            ("2-19970112-1", "2", _utc(1997, 1, 12), Decimal("12.00"), "USD", 1),
            ("2-19970112-2", "2", _utc(1997, 1, 12), Decimal("77.00"), "USD", 5),
            ("5-19970105-2", "5", _utc(1997, 1, 5), Decimal("0"), "USD", 2),
            ("6-19971231-1", "6", _utc(1997, 12, 31), Decimal("-5.5"), "USD", 3),
        ]
    )
    assert_frame_equal(orders, expected)
    assert_frame_equal(
        customers,
        _customers(
            [("1", _utc(1997, 1, 1)), ("2", _utc(1997, 1, 12)), ("5", _utc(1997, 1, 5)), ("6", _utc(1997, 12, 31))]
        ),
    )
    assert _rejects(ds) == [
        (5, "ordered_at", DATE),
        (7, "line", "line: 3 fields, expected 4 (customer_id ordered_at quantity amount)"),
        (8, "amount", "amount: not a number; quantity: not a whole number"),
        (9, "customer_id", "customer_id: not a whole number"),
        (10, "amount", "amount: more than 4 decimal places"),
    ]
    report = ds.report
    assert report is not None and report.source == "cdnow"
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (10, 5, 5)
    assert set(report.rejects["file"]) == {str(path)} and set(report.rejects["table"]) == {"orders"}
    assert ds.source == "cdnow"


def test_sample_layout_with_time_zone_and_currency(tmp_path: Path) -> None:
    path = _write(tmp_path / "CDNOW_sample.txt", SAMPLE)
    ds = rl.read("cdnow", path, tz="America/New_York", currency="eur")
    orders, customers = _frames(ds)
    expected = _orders(
        [
            ("4-19970101-1", "4", _utc(1997, 1, 1, 5), Decimal("29.33"), "EUR", 2, "1"),
            ("4-19970118-1", "4", _utc(1997, 1, 18, 5), Decimal("29.73"), "EUR", 2, "1"),
            ("21-19970103-1", "21", _utc(1997, 1, 3, 5), Decimal("10"), "EUR", 1, "2"),
            ("21-19970701-1", "21", _utc(1997, 7, 1, 4), Decimal("9.99"), "EUR", 1, "2"),
        ],
        sample=True,
    )
    assert_frame_equal(orders, expected)
    assert_frame_equal(customers, _customers([("4", _utc(1997, 1, 1, 5)), ("21", _utc(1997, 1, 3, 5))]))
    assert _rejects(ds) == [
        (3, "line", "line: 6 fields, expected 5 (customer_id sample_id ordered_at quantity amount)"),
        (4, "sample_id", "sample_id: not a whole number"),
        (7, "amount", "amount: not a number"),
    ]


def test_a_midnight_skipped_by_summer_time_starts_the_day_an_hour_later(tmp_path: Path) -> None:
    # Sao Paulo moved its clocks from 00:00 to 01:00 on 18 October 2015.
    path = _write(tmp_path / "log.txt", b"1 20151018 1 1.00\n1 20151017 1 1.00\n")
    orders, _ = _frames(rl.read("cdnow", path, tz="America/Sao_Paulo"))
    assert orders["ordered_at"].to_list() == [_utc(2015, 10, 18, 3), _utc(2015, 10, 17, 3)]


def test_btyd_elog_layout(tmp_path: Path) -> None:
    path = _write(tmp_path / "cdnowElog.csv", ELOG)
    ds = rl.read("cdnow", path)
    orders, _ = _frames(ds)
    expected = _orders(
        [
            ("4-19970101-1", "4", _utc(1997, 1, 1), Decimal("29.33"), "USD", 2, "1"),
            ("4-19970101-2", "4", _utc(1997, 1, 1), Decimal("5"), "USD", 1, "1"),
        ],
        sample=True,
    )
    assert_frame_equal(orders, expected)
    assert _rejects(ds) == [
        (4, "line", "line: 4 fields, expected 5 (customer_id sample_id ordered_at quantity amount)"),
        (5, "ordered_at", DATE),
        (6, "ordered_at", DATE),
        (7, "amount", "amount: not a number"),
    ]


def test_clvtools_layout(tmp_path: Path) -> None:
    path = _write(tmp_path / "cdnow.csv", CLVTOOLS)
    ds = rl.read("cdnow", path)
    orders, customers = _frames(ds)
    expected = _orders(
        [
            ("1-19970101-1", "1", _utc(1997, 1, 1), Decimal("29.33"), "USD", 2),
            ("1-19970118-1", "1", _utc(1997, 1, 18), Decimal("20.76"), "USD", 2),
            ("2-19970102-2", "2", _utc(1997, 1, 2), Decimal("11.771"), "USD", 1),
        ]
    )
    assert_frame_equal(orders, expected)
    assert_frame_equal(customers, _customers([("1", _utc(1997, 1, 1)), ("2", _utc(1997, 1, 2))]))
    assert _rejects(ds) == [
        (4, "ordered_at", DATE),
        (5, "amount", "amount: not a number"),
        (7, "quantity", "quantity: not a whole number"),
    ]


def test_a_customer_in_several_files_is_created_at_the_first_day_of_any(tmp_path: Path) -> None:
    """Customers are listed as they first appear, file after file, each created at its first day in any file."""
    first = _write(tmp_path / "a.txt", b" 7 19970105 1 1.00\r\n 3 19970106 1 1.00\r\n")
    second = _write(tmp_path / "b.txt", b" 9 19970101 1 1.00\r\n 7 19970102 1 1.00\r\n 3 19970107 1 1.00\r\n")
    _, customers = _frames(rl.read("cdnow", first, second))
    assert_frame_equal(
        customers,
        _customers([("7", _utc(1997, 1, 2)), ("3", _utc(1997, 1, 6)), ("9", _utc(1997, 1, 1))]),
    )


def test_several_files_make_one_dataset_and_report_progress(tmp_path: Path) -> None:
    sample = _write(tmp_path / "sample.txt", SAMPLE)
    clv = _write(tmp_path / "clv.csv", CLVTOOLS)
    done: list[tuple[Path, int]] = []
    with watching_progress(lambda path, rows: done.append((path, rows))):
        ds = rl.read("cdnow", sample, clv)
    assert done == [(sample, 7), (clv, 6)]
    orders, customers = _frames(ds)
    assert orders.height == 4 + 3
    assert orders.filter(pl.col("customer_id") == "1")["sample_id"].to_list() == [None, None]
    # Customer 4 comes from the sample file, customers 1 and 2 from CLVTools' file (other ids).
    assert customers["customer_id"].to_list() == ["4", "21", "1", "2"]
    report = ds.report
    assert report is not None
    assert [(f.file, f.rows_read, f.rows_loaded, f.rows_rejected) for f in report.files] == [
        (str(sample), 7, 4, 3),
        (str(clv), 6, 3, 3),
    ]


def test_the_same_transactions_from_two_files_are_refused(tmp_path: Path) -> None:
    first = _write(tmp_path / "a.csv", ELOG)
    second = _write(tmp_path / "b.csv", ELOG)
    with pytest.raises(DataError, match="duplicate"):
        rl.read("cdnow", first, second)


def test_bad_options_and_files(tmp_path: Path) -> None:
    path = _write(tmp_path / "log.txt", SAMPLE)
    with pytest.raises(OptionError, match="time zone"):
        rl.read("cdnow", path, tz="Mars/Olympus")
    with pytest.raises(OptionError, match="ISO 4217"):
        rl.read("cdnow", path, currency="dollars")
    with pytest.raises(OptionError, match="no option"):
        rl.read("cdnow", path, table="orders")
    with pytest.raises(OptionError, match="at least one file"):
        cdnow.read([])
    with pytest.raises(SourceError, match="empty"):
        rl.read("cdnow", _write(tmp_path / "empty.txt", b"\n \n"))
    with pytest.raises(SourceError, match="not a CDNOW/BTYD transaction log"):
        rl.read("cdnow", _write(tmp_path / "orders.csv", b"order_id,customer_id\no1,c1\n"))


def test_a_header_only_file_reads_as_empty(tmp_path: Path) -> None:
    ds = rl.read("cdnow", _write(tmp_path / "elog.csv", b"masterid,sampleid,date,cds,sales\n"))
    orders, customers = _frames(ds)
    assert (orders.height, customers.height) == (0, 0)
    assert ds.report is not None and ds.report.rows_read == 0


def test_the_command_line_reads_a_log(tmp_path: Path) -> None:
    path = _write(tmp_path / "CDNOW_master.txt", MASTER)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["read", "auto", str(path), "--out", str(out), "--tz", "Europe/Paris"])
    assert result.exit_code == 0, result.output
    assert "rows read 10 = loaded 5 + rejected 5" in result.output
    orders = rl.Dataset.read_parquet(out).require("orders").collect()
    assert orders["ordered_at"][0] == dt.datetime(1996, 12, 31, 23, tzinfo=UTC)
    assert orders["quantity"].to_list() == [1, 1, 5, 2, 3]


# --- detection -------------------------------------------------------------------------------------

CLEAN = {
    "master.txt": b" customer_id  date number_of_cds  dollar_value\r\n 00001 19970101  1   11.77\r\n",
    "sample.txt": b" 00004 0001 19970101  2   29.33\r\n 00004 0001 19970118  2   29.73\r\n",
    "headerless_master.dat": b"00001 19970101 1 11.77\n00002 19970112 1 12.00\n",
    "cdnowElog.csv": b"masterid,sampleid,date,cds,sales\n4,1,19970101,2,29.33\n",
    "cdnow.csv": b"Id,Date,CDs,Price\n1,1997-01-01,2,29.33\n",
}


@pytest.mark.parametrize("name", sorted(CLEAN))
def test_clean_logs_are_recognised_confidently(tmp_path: Path, name: str) -> None:
    path = _write(tmp_path / name, CLEAN[name])
    assert cdnow.detect(path, CLEAN[name]) == cdnow.CONFIDENT == 80
    assert rl.read(path).source == "cdnow"


def test_dirty_logs_are_recognised_less_surely(tmp_path: Path) -> None:
    # 7 of the 10 records are well formed: 40, still more than the csv source's 1 for any .txt.
    path = _write(tmp_path / "CDNOW_master.txt", MASTER)
    assert cdnow.detect(path, MASTER) == 40
    ds = rl.read(path)
    assert ds.source == "cdnow" and ds.report is not None and ds.report.rows_rejected == 5
    assert cdnow.detect(path, b"masterid,sampleid,date,cds,sales\n") == 50  # a header, no records yet


@pytest.mark.parametrize(
    "content",
    [
        b"order_id,customer_id,ordered_at,amount,currency\no1,c1,2024-01-05T10:00:00Z,10.00,USD\n",
        b"customer_id,created_at,email,name\nc1,2024-01-05T10:00:00Z,a@b.c,Ann\n",
        b"customer_id,date,amount,note\n1,19970101,2.00,x\n",  # a column no log has
        b"1,19970101,2,29.33\n",  # CSV without a header
        b"hello world\nthis is not a log\n",
        b"1 2 3\n4 5 6\n",
        b"\x89PNG\r\n\x1a\n\x00\x00",
        b"",
    ],
)
def test_other_files_score_zero(tmp_path: Path, content: bytes) -> None:
    assert cdnow.detect(tmp_path / "orders.csv", content) == 0


def test_canonical_csv_files_stay_with_the_csv_source(tmp_path: Path) -> None:
    orders = _write(
        tmp_path / "orders.csv",
        b"order_id,customer_id,ordered_at,amount,currency\no1,1,2024-01-05T10:00:00Z,10.00,USD\n",
    )
    customers = _write(tmp_path / "customers.csv", b"customer_id,created_at\n1,2024-01-05T10:00:00Z\n")
    host = _host.build_host()
    for path in (orders, customers):
        assert host.sources["cdnow"].detector is not None
        assert host.sources["cdnow"].detector(path, path.read_bytes()) == 0
        assert host.detect(path).name == "csv"


# --- the real files ------------------------------------------------------------------------------


def _python_totals(path: Path, *, skip: int, sep: str | None, customer: int, amount: int) -> tuple[int, int, Decimal]:
    """Rows, distinct customers and total spend, computed without polars."""
    rows, customers, total = 0, set(), Decimal(0)
    for line in path.read_text(encoding="ascii").splitlines()[skip:]:
        fields = line.split(sep)
        rows += 1
        customers.add(int(fields[customer]))
        total += Decimal(fields[amount])
    return rows, len(customers), total


@pytest.mark.reference
def test_the_master_file(shared_data: Path) -> None:
    path = shared_data / CDNOW / "lifetimes-0.11.3" / "CDNOW_master.txt"
    rows, customers, total = _python_totals(path, skip=1, sep=None, customer=0, amount=3)
    assert (rows, customers) == (69_659, 23_570)
    ds = rl.read(path)
    assert ds.source == "cdnow"
    report = ds.report
    assert report is not None
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (69_659, 69_659, 0)
    assert ds.counts() == {"customers": 23_570, "orders": 69_659}
    orders = ds.require("orders").collect()
    assert orders["amount"].sum() == total
    assert orders["ordered_at"].min() == _utc(1997, 1, 1)
    assert orders["ordered_at"].max() == _utc(1998, 6, 30)
    assert orders["order_id"].n_unique() == 69_659
    first_orders = ds.require("customers").collect()["created_at"]
    assert first_orders.is_between(_utc(1997, 1, 1), _utc(1997, 3, 31)).all()  # the cohort of Q1 1997


@pytest.mark.reference
def test_the_sample_files_agree(shared_data: Path) -> None:
    base = shared_data / CDNOW
    sample_path = base / "lifetimes-0.11.3" / "CDNOW_sample.txt"
    elog_path = base / "BTYD-2.4.3" / "cdnowElog.csv"
    clv_path = base / "CLVTools-0.11.2" / "cdnow.csv"
    host = _host.build_host()
    assert {host.detect(p).name for p in (sample_path, elog_path, clv_path)} == {"cdnow"}

    rows, customers, total = _python_totals(elog_path, skip=1, sep=",", customer=0, amount=4)
    assert (rows, customers) == (6_919, 2_357)
    sample, _ = _frames(rl.read(sample_path))
    elog, elog_customers = _frames(rl.read(elog_path))
    assert_frame_equal(sample, elog)  # same ids, times, amounts and quantities
    assert (elog.height, elog_customers.height, elog["amount"].sum()) == (6_919, 2_357, total)
    # The sample's transactions are the master's, under the same order ids.
    master = rl.read(base / "lifetimes-0.11.3" / "CDNOW_master.txt").require("orders").collect()
    assert_frame_equal(
        sample.drop("sample_id").sort("order_id"),
        master.join(sample.select("order_id"), on="order_id").sort("order_id"),
    )

    # CLVTools merged same-day transactions (adding floats): fewer rows, the same money.
    clv_ds = rl.read(clv_path)
    assert clv_ds.report is not None and clv_ds.report.rows_rejected == 0
    clv, clv_customers = _frames(clv_ds)
    assert (clv.height, clv_customers.height, clv["amount"].sum()) == (6_696, 2_357, total)


# --- the host around plugins -----------------------------------------------------------------------


class _BrokenEntryPoint:
    name = "broken"
    value = "retainlib_broken:plugin"
    group = "retainlib"

    def load(self) -> object:
        raise ImportError("No module named 'retainlib_broken'")


def test_a_broken_plugin_is_reported_not_fatal(monkeypatch: pytest.MonkeyPatch, fresh_default_host: None) -> None:
    installed = list(_host._entry_points())
    monkeypatch.setattr(_host, "_entry_points", lambda: [*installed, _BrokenEntryPoint()])
    host = _host.build_host()
    assert host.failures == (
        _host.PluginFailure(
            name="broken", target="retainlib_broken:plugin", error="ImportError: No module named 'retainlib_broken'"
        ),
    )
    assert {"csv", "parquet", "json", "cdnow"} <= set(host.sources)

    result = CliRunner().invoke(main, ["sources"])
    assert result.exit_code == 0, result.output
    assert " cdnow " in result.stdout and " csv " in result.stdout
    message = " ".join(result.stderr.split())  # rich wraps long lines
    assert "plugin 'broken' (retainlib_broken:plugin) failed to load" in message
    assert "No module named 'retainlib_broken'" in message


def _never(paths: Sequence[Path], **options: object) -> ReadResult:
    raise AssertionError("not called")


class _Provider:
    """A plugin object providing one source."""

    def __init__(self, name: str) -> None:
        self.name = name

    @hookimpl
    def retainlib_sources(self) -> Iterator[Source]:
        yield Source(name=self.name, description="a test source", kinds=("csv",), reader=_never)


def test_two_sources_with_one_name_are_refused() -> None:
    host = _host.build_host(entry_points=False, plugins=[_Provider("twin"), _Provider("twin")])
    assert host.conflicts == {"twin": ("plugin-0", "plugin-1")}
    with pytest.raises(PluginError, match=r"source 'twin' is provided by several plugins \(plugin-0, plugin-1\)"):
        host.source("twin")
    # A test plugin cannot take over the installed cdnow source either: neither is used, and cdnow says why.
    host = _host.build_host(plugins=[_Provider("cdnow")])
    assert "cdnow" not in host.sources and host.conflicts["cdnow"] == ("cdnow", "plugin-0")
    assert "twin" in _host.build_host(entry_points=False, plugins=[_Provider("twin")]).sources


# --- issue 13: blank lines, money out of range, unreadable lines ------------------------------------


def test_blank_lines_are_neither_read_nor_rejected(tmp_path: Path) -> None:
    log = (
        "\ufeffmasterid,sampleid,date,cds,sales\r\n"  # 1
        "\r\n"  # 2: empty
        "4,1,19970101,2,29.33\r\n"  # 3
        " \t \r\n"  # 4: white space only
        "\u3000\r\n"  # 5: an ideographic space
        "4,1,19970102,1,x\r\n"  # 6
        "\r\n\r\n"  # 7, 8: trailing blank lines
    )
    ds = rl.read("cdnow", _write(tmp_path / "elog.csv", log.encode()))
    assert ds.report is not None
    assert (ds.report.rows_read, ds.report.rows_loaded, ds.report.rows_rejected) == (2, 1, 1)
    assert _rejects(ds) == [(6, "amount", "amount: not a number")]


def test_an_amount_outside_retainlibs_money_is_rejected_not_fatal(tmp_path: Path) -> None:
    log = b"4 1 19970101 1 99999999999999999999.99\n4 1 19970102 1 100000000000000000000\n4 1 19970103 1 1e40\n"
    ds = rl.read("cdnow", _write(tmp_path / "CDNOW_sample.txt", log))
    orders, _ = _frames(ds)
    assert orders["amount"].to_list() == [Decimal("99999999999999999999.99")]
    assert _rejects(ds) == [
        (2, "amount", "amount: out of range (at most 20 integer digits)"),
        (3, "amount", "amount: not a number"),
    ]


def test_a_line_that_cannot_be_read_names_its_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "CDNOW_master.txt", b"00001 19970101 1 11.77\n00002 19970101 1 1\x1f2.00\n")
    with pytest.raises(SourceError, match=r"line 2 holds the control character 0x1F") as raised:
        rl.read("cdnow", path)
    assert raised.value.file == path and raised.value.__cause__ is None
    with pytest.raises(SourceError, match=r"no such file|cannot open"):
        cdnow.read([tmp_path])  # a folder, not a file
