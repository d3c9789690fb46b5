"""The plugin host, the built-in file sources and the load report."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import retainlib as rl
from retainlib import _host
from retainlib.errors import OptionError, PluginError, SchemaError, SourceError
from retainlib.load_report import FileLoad, LoadReport
from retainlib.plugins import ReadResult, Source, Specs, hookimpl

HEADER = "order_id,customer_id,ordered_at,amount,currency\n"


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_builtin_sources_are_listed() -> None:
    assert {"csv", "parquet", "json"} <= set(rl.sources())
    host = _host.build_host(entry_points=False)
    assert host.sources["csv"].plugin == "retainlib._builtin.files"


def test_a_builtin_source_named_reads_without_loading_the_plugins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No plugin can take over csv, json or parquet: reading with one named needs no plugin loaded, and gives
    what the host of every installed plugin gives."""
    f = _write(tmp_path / "orders.csv", HEADER + "o1,c1,2024-01-05T10:00:00Z,10.00,USD\no2,c1,2024-02-05,x,USD\n")
    full = _host.default_host()
    expected = full.read(full.sources["csv"], [f], {"tz": "UTC"})

    def no_plugins() -> _host.Host:
        raise AssertionError("the installed plugins were loaded")

    monkeypatch.setattr("retainlib._read.default_host", no_plugins)
    ds = rl.read("csv", f, tz="UTC")
    assert ds.source == expected.source == "csv" and ds.report is not None and expected.report is not None
    assert ds.require("orders").collect().equals(expected.require("orders").collect())
    assert ds.report.rejects.equals(expected.report.rejects)
    with pytest.raises(OptionError, match="no option"):
        rl.read("csv", f, sheet=1)
    with pytest.raises(AssertionError, match="plugins were loaded"):  # a path: every source may detect it
        rl.read(f)


def test_read_csv_with_detection_and_report(tmp_path: Path) -> None:
    f = _write(
        tmp_path / "orders.csv",
        HEADER
        + "o1,c1,2024-01-05T10:00:00Z,10.00,usd\no2,c1,2024-02-05,x,USD\no3,c2,2024-02-07 00:00:00+01:00,5,EUR\n",
    )
    ds = rl.read(f)
    assert ds.source == "csv"
    report = ds.report
    assert report is not None
    auto = rl.read("auto", f).report  # "auto" detects, as on the command line
    assert auto is not None and auto.source == "csv" and auto.rejects.equals(report.rejects)
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (3, 2, 1)
    rejects = report.rejects
    assert rejects.select("file", "line", "table", "column").row(0) == (str(f), 3, "orders", "ordered_at")
    assert "naive timestamp" in rejects["reason"][0] and "amount: not a number" in rejects["reason"][0]
    assert ds.orders is not None
    assert ds.orders.collect()["amount"].to_list() == [Decimal("10"), Decimal("5")]
    out = report.write_rejects(tmp_path / "rejects.csv")
    assert pl.read_csv(out)["line"].to_list() == [3]
    # With a time zone for naive timestamps the row loads (the amount still fails).
    again = rl.read("csv", f, tz="UTC")
    assert again.report is not None and again.report.reasons()["reason"].to_list() == ["amount: not a number"]


def test_mapping_table_and_defaults(tmp_path: Path) -> None:
    f = _write(tmp_path / "export.csv", "id,user,when,total\n1,7,2024-03-01 10:00,9.50\n")
    ds = rl.read(
        "csv",
        f,
        table="orders",
        mapping={"id": "order_id", "user": "customer_id", "when": "ordered_at", "total": "amount"},
        defaults={"currency": "EUR"},
        tz="Europe/Paris",
    )
    assert ds.orders is not None
    assert ds.orders.collect().row(0) == ("1", "7", dt.datetime(2024, 3, 1, 9, tzinfo=dt.UTC), Decimal("9.5"), "EUR")


@pytest.mark.parametrize(
    ("content", "error", "pattern"),
    [
        (b"", SourceError, "empty"),
        (
            HEADER.encode() + "o1,c1,2024-01-05T10:00:00Z,10,EUR,caf\xe9\n".encode("latin-1"),
            SourceError,
            r"not valid UTF-8 \(line 2",
        ),
        (
            b"order_id,customer,ordered_at,amount,currency\no1,c1,2024-01-01,1,EUR\n",
            SourceError,
            "cannot tell which table",
        ),
    ],
)
def test_bad_files(tmp_path: Path, content: bytes, error: type[Exception], pattern: str) -> None:
    f = tmp_path / "data.csv"
    f.write_bytes(content)
    with pytest.raises(error, match=pattern) as info:
        rl.read("csv", f)
    assert isinstance(info.value, rl.RetainlibError)
    assert str(f) in str(info.value)


def test_other_encodings(tmp_path: Path) -> None:
    text = HEADER + "o1,café,2024-01-05T10:00:00Z,10,EUR\n"
    latin = _write(tmp_path / "latin.csv", text, "latin-1")
    ds = rl.read("csv", latin, table="orders", encoding="latin-1")
    assert ds.orders is not None and ds.orders.collect()["customer_id"].to_list() == ["café"]
    utf16 = _write(tmp_path / "orders16.csv", "\ufeff" + text, "utf-16-le")
    ds16 = rl.read("csv", utf16)
    assert ds16.orders is not None and ds16.orders.collect()["customer_id"].to_list() == ["café"]
    with pytest.raises(OptionError, match="unknown encoding"):
        rl.read("csv", latin, encoding="klingon")


def test_missing_column_in_a_file_names_it(tmp_path: Path) -> None:
    f = _write(tmp_path / "orders.csv", "order_id,customer_id,ordered_at,amount\no1,c1,2024-01-05T10:00:00Z,10\n")
    with pytest.raises(SchemaError) as info:
        rl.read("csv", f)
    assert info.value.column == "currency" and info.value.file == f


def test_json_and_parquet_sources(tmp_path: Path) -> None:
    lines = _write(
        tmp_path / "responses.jsonl",
        '{"response_id": "r1", "customer_id": "c1", "responded_at": "2024-01-01T00:00:00Z", "score": 9}\n'
        '{"response_id": "r2", "customer_id": "c1", "responded_at": "2024-01-01T00:00:00Z", "score": 12}\n',
    )
    ds = rl.read(lines)
    assert ds.report is not None and (ds.report.rows_loaded, ds.report.rows_rejected) == (1, 1)
    assert ds.report.rejects.row(0)[1:] == (2, "responses", "score", "score: score outside 0..10")
    bad = _write(tmp_path / "bad.json", '[{"a": 1},')
    with pytest.raises(SourceError, match="invalid JSON at line 1"):
        rl.read("json", bad)
    pq = tmp_path / "orders.parquet"
    pl.read_csv(_write(tmp_path / "o.csv", HEADER + "o1,c1,2024-01-05T10:00:00Z,10,EUR\n")).write_parquet(pq)
    ds_pq = rl.read(pq)
    assert ds_pq.source == "parquet" and ds_pq.orders is not None and ds_pq.orders.collect().height == 1


def test_reading_several_files_of_different_sources_merges(tmp_path: Path) -> None:
    orders = _write(tmp_path / "orders.csv", HEADER + "o1,c1,2024-01-05T10:00:00Z,10,EUR\n")
    customers = tmp_path / "customers.parquet"
    pl.DataFrame({"customer_id": ["c1"], "created_at": ["2024-01-01T00:00:00Z"]}).write_parquet(customers)
    ds = rl.read(orders, customers)
    assert set(ds.tables) == {"customers", "orders"}
    assert ds.report is not None and ds.report.rows_read == 2


def test_unknown_source_and_option(tmp_path: Path) -> None:
    f = _write(tmp_path / "orders.csv", HEADER)
    with pytest.raises(OptionError, match="Did you mean 'csv'"):
        rl.read("cvs", f)
    with pytest.raises(OptionError, match="no option"):
        rl.read("csv", f, timezone="UTC")
    with pytest.raises(SourceError, match="no such file"):
        rl.read("csv", tmp_path / "missing.csv")
    with pytest.raises(SourceError, match="no source recognises"):
        rl.read(_write(tmp_path / "notes.md", "hello"))


# --- third-party plugins ------------------------------------------------------------------


def _reader(paths: Sequence[Path], **options: Any) -> ReadResult:
    rows = [line for p in paths for line in p.read_text().splitlines() if line]
    good = [r for r in rows if r.count(";") == 1]
    frame = pl.DataFrame(
        {
            "customer_id": [r.split(";")[0] for r in good],
            "occurred_at": [r.split(";")[1] for r in good],
            "event": ["visit"] * len(good),
        },
        schema={"customer_id": pl.String, "occurred_at": pl.String, "event": pl.String},
    )
    rejected = pl.DataFrame(
        {
            "file": [str(paths[0])] * (len(rows) - len(good)),
            "line": [i + 1 for i, r in enumerate(rows) if r.count(";") != 1],
            "table": ["events"] * (len(rows) - len(good)),
            "column": ["*"] * (len(rows) - len(good)),
            "reason": ["expected 2 fields"] * (len(rows) - len(good)),
        },
        schema={"file": pl.String, "line": pl.Int64, "table": pl.String, "column": pl.String, "reason": pl.String},
    )
    report = LoadReport(
        source="visits",
        files=(
            FileLoad(file=str(paths[0]), table="events", rows_read=len(rows), rows_loaded=len(good), rejected=rejected),
        ),
    )
    return ReadResult(dataset=rl.Dataset(events=frame, tz=options.get("tz")), report=report)


def _detect(path: Path, head: bytes) -> int:
    return 90 if path.suffix == ".visits" else 0


class VisitsPlugin:
    """A minimal third-party plugin, registered as an object."""

    __name__ = "visits-plugin"

    @hookimpl
    def retainlib_sources(self) -> Iterable[Source]:
        yield Source(
            name="visits",
            description="visit logs",
            kinds=("visits",),
            reader=_reader,
            detector=_detect,
            options={"tz": "time zone"},
        )


def test_a_plugin_source_is_read_and_detected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    host = _host.build_host(entry_points=False, plugins=[VisitsPlugin()])
    monkeypatch.setattr(_host, "default_host", lambda: host)
    monkeypatch.setattr("retainlib._read.default_host", lambda: host)
    f = _write(tmp_path / "log.visits", "c1;2024-01-01T00:00:00Z\nbroken\nc2;2024-01-02 00:00\n")
    assert rl.sources()["visits"] == "visit logs"
    ds = rl.read(f, tz="UTC")
    assert ds.source == "visits" and ds.events is not None and ds.events.collect().height == 2
    assert ds.report is not None and ds.report.rejects["line"].to_list() == [2]


def test_unbalanced_report_is_a_plugin_error(tmp_path: Path) -> None:
    def lying_reader(paths: Sequence[Path], **options: Any) -> ReadResult:
        result = _reader(paths, **options)
        load = result.report.files[0]
        fake = LoadReport(
            source="visits",
            files=(
                FileLoad(
                    file=load.file,
                    table="events",
                    rows_read=load.rows_read + 1,
                    rows_loaded=load.rows_loaded,
                    rejected=load.rejected,
                ),
            ),
        )
        return ReadResult(dataset=result.dataset, report=fake)

    class Liar:
        @hookimpl
        def retainlib_sources(self) -> Iterable[Source]:
            yield Source(name="liar", description="", kinds=(), reader=lying_reader)

    host = _host.build_host(entry_points=False, plugins=[Liar()])
    f = _write(tmp_path / "log.visits", "c1;2024-01-01T00:00:00Z\n")
    with pytest.raises(PluginError, match="2 rows read"):
        host.read(host.sources["liar"], [f], {})


def test_misspelled_hook_is_caught() -> None:
    class Typo:
        @hookimpl
        def retainlib_source(self) -> Iterable[Source]:
            return []

    with pytest.raises(PluginError, match="unknown hook"):
        _host.build_host(entry_points=False, plugins=[Typo()])


def test_bad_source_names_are_refused() -> None:
    with pytest.raises(PluginError):
        Source(name="Bad Name", description="", kinds=(), reader=_reader)


def test_a_plugin_failing_to_import_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom() -> object:
        raise ImportError("no module named 'missing_dependency'")

    fake = SimpleNamespace(name="broken", value="retainlib_broken", load=boom)
    monkeypatch.setattr(_host, "_entry_points", lambda: [fake])
    host = _host.build_host()
    assert [f.name for f in host.failures] == ["broken"]
    assert "missing_dependency" in host.failures[0].error
    assert "csv" in host.sources


def test_every_hook_is_tested_and_documented() -> None:
    hooks = [name for name in dir(Specs) if name.startswith("retainlib_")]
    assert hooks == ["retainlib_sources"]
    docs = (Path(__file__).parents[1] / "docs" / "plugins.md").read_text(encoding="utf-8")
    tests = "".join(p.read_text(encoding="utf-8") for p in Path(__file__).parent.glob("test_*.py"))
    for hook in hooks:
        assert f"### {hook}" in docs, f"{hook} is not documented in docs/plugins.md"
        assert f"def {hook}" in tests, f"{hook} has no test implementing it"


# --- the load-report identity on generated files -------------------------------------------

good_row = st.tuples(
    st.integers(0, 5).map(lambda i: f"c{i}"),
    st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2030, 1, 1)).map(
        lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")
    ),
    st.decimals(min_value=0, max_value=10_000, places=2).map(str),
    st.sampled_from(["USD", "eur", " gbp "]),
)
#: Values that spoil customer_id, ordered_at, amount and currency respectively.
BAD_VALUES = (["", "  "], ["", "n/a", "2024-13-45", "2024-01-01"], ["", "n/a", "1.23456", "€5"], ["", "US", "n/a"])
bad_value = st.integers(0, 3)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.tuples(good_row, st.integers(-1, 3), bad_value), max_size=30),
)
def test_rows_read_equal_loaded_plus_rejected(
    tmp_path: Path, rows: list[tuple[tuple[str, str, str, str], int, int]]
) -> None:
    """Every row is loaded, in its order, or rejected with its line (every row loaded: nothing filtered)."""

    path = tmp_path / "orders.csv"
    expected_bad = 0
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["order_id", "customer_id", "ordered_at", "amount", "currency"])
        for i, (row, broken, value) in enumerate(rows):
            fields = [f"o{i}", *row]
            if broken >= 0:  # spoil one of customer_id, ordered_at, amount, currency
                fields[broken + 1] = BAD_VALUES[broken][value % len(BAD_VALUES[broken])]
                expected_bad += 1
            w.writerow(fields)
    ds = rl.read("csv", path)
    report = ds.report
    assert report is not None
    assert report.rows_read == len(rows)
    assert report.rows_read == report.rows_loaded + report.rows_rejected
    assert report.rows_rejected == expected_bad
    assert ds.orders is not None and ds.orders.collect().height == report.rows_loaded
    loaded = ds.orders.collect()
    good = [(f"o{i}", row[0]) for i, (row, broken, _) in enumerate(rows) if broken < 0]
    assert list(zip(loaded["order_id"], loaded["customer_id"], strict=True)) == good
    expected_lines = [i + 2 for i, (_, broken, _) in enumerate(rows) if broken >= 0]
    assert sorted(report.rejects["line"].to_list()) == expected_lines


# --- issue 13: refunds, line items, ids, hardening ------------------------------------------

FIXTURES = Path(__file__).parent / "fixtures"
RETAIL_MAPPING = {"InvoiceNo": "order_id", "InvoiceDate": "ordered_at", "CustomerID": "customer_id"}
RETAIL_LINES = {"quantity": "Quantity", "unit_price": "UnitPrice"}


def _report(ds: rl.Dataset) -> LoadReport:
    assert ds.report is not None
    assert ds.report.rows_read == ds.report.rows_loaded + ds.report.rows_rejected
    return ds.report


def _reasons(ds: rl.Dataset) -> dict[int, str]:
    return dict(_report(ds).rejects.select("line", "reason").iter_rows())


def test_negative_amounts_are_rejected_by_default_and_zero_is_an_order(tmp_path: Path) -> None:
    f = _write(
        tmp_path / "orders.csv",
        HEADER
        + "o1,c1,2024-01-05T10:00:00Z,10,EUR\no2,c1,2024-02-05T10:00:00Z,-10,EUR\no3,c2,2024-02-07T10:00Z,0,EUR\n",
    )
    ds = rl.read(f)
    assert _reasons(ds) == {3: "amount: negative amount (a refund or cancellation)"}
    assert ds.orders is not None and ds.orders.collect()["order_id"].to_list() == ["o1", "o3"]
    kept = rl.read("csv", f, refunds="keep")
    assert kept.orders is not None and kept.orders.collect()["amount"].to_list() == [10, -10, 0]
    with pytest.raises(OptionError, match="refunds") as info:
        rl.read("csv", f, refunds="drop")
    assert info.value.option == "refunds"


def test_the_refunds_rule_is_one_reusable_expression() -> None:
    from retainlib import _conform

    frame = pl.DataFrame({"amount": [Decimal("1"), Decimal("0"), Decimal("-0.01"), None]})
    got = frame.select(_conform.negative_amount(pl.col("amount"))).to_series().to_list()
    assert got == [None, None, _conform.NEGATIVE_AMOUNT, None]


NET_HEADER = "order_id,customer_id,ordered_at,amount,currency,cancels\n"


def test_refunds_net_into_the_order_they_cancel(tmp_path: Path) -> None:
    f = _write(
        tmp_path / "orders.csv",
        NET_HEADER
        + "o1,c1,2024-01-01T00:00:00Z,10,EUR,\n"  # line 2: partly refunded by lines 3 and 4
        + "r1,c1,2024-01-02T00:00:00Z,-4,EUR,o1\n"
        + "r2,c1,2024-01-03T00:00:00Z,-1.50,EUR,o1.0\n"  # links are ids, compared exactly: o1.0 is not o1
        + "o2,c2,2024-01-01T00:00:00Z,5,EUR,\n"  # line 5: fully refunded by line 6
        + "r3,c2,2024-01-02T00:00:00Z,-5,EUR,o2\n"
        + "r4,c2,2024-01-02T00:00:00Z,-5,EUR,o9\n"  # cancels an order that is not loaded
        + "r5,c2,2024-01-02T00:00:00Z,-5,EUR,\n"  # links to nothing
        + "r6,c3,2024-01-02T00:00:00Z,-1,EUR,o1\n"  # another customer's order
        + "r7,c1,2024-01-02T00:00:00Z,-1,USD,o1\n"  # another currency
        + "o3,c3,2024-01-04T00:00:00Z,0,EUR,\n",  # a free order stays an order
    )
    ds = rl.read(f, refunds="net")
    report = _report(ds)
    assert ds.orders is not None
    got = ds.orders.collect()
    assert got.columns == ["order_id", "customer_id", "ordered_at", "amount", "currency"]
    assert got.select("order_id", "amount").rows() == [("o1", Decimal("6")), ("o3", Decimal("0"))]
    reasons = _reasons(ds)
    assert reasons[4] == "amount: negative amount (a refund or cancellation) of order o1.0, which is not loaded"
    assert reasons[5] == "amount: fully refunded (by line 6)"
    assert reasons[6] == "amount: refunds order o2, which is fully refunded"
    assert reasons[7] == "amount: negative amount (a refund or cancellation) of order o9, which is not loaded"
    assert reasons[8] == "amount: negative amount (a refund or cancellation)"
    assert reasons[9] == "customer_id: refunds order o1 of another customer"
    assert reasons[10] == "currency: refunds order o1 in another currency"
    # o1, its refund r1, and o3 are loaded: 3 rows into 2 orders.
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (10, 3, 7)
    assert report.files[0].records == 2


def test_refunds_net_needs_the_link_column(tmp_path: Path) -> None:
    f = _write(tmp_path / "orders.csv", HEADER + "o1,c1,2024-01-01T00:00:00Z,10,EUR\n")
    with pytest.raises(SchemaError, match="cancels column") as info:
        rl.read(f, refunds="net")
    assert info.value.column == "cancels" and info.value.file == f


def _retail(path: Path, **options: Any) -> rl.Dataset:
    return rl.read(
        "csv",
        path,
        table="orders",
        mapping=RETAIL_MAPPING,
        defaults={"currency": "GBP"},
        tz="Europe/London",
        lines=RETAIL_LINES,
        **options,
    )


def test_line_items_become_orders() -> None:
    path = FIXTURES / "retail_lines.csv"
    ds = _retail(path)
    report = _report(ds)
    assert ds.orders is not None
    got = ds.orders.collect()
    assert got.select("order_id", "customer_id", "amount").rows() == [
        ("600001", "20001", Decimal("16.00")),
        ("600002", "20002", Decimal("20.65")),
        ("600005", "20001", Decimal("24.96")),
        ("600006", "20003", Decimal("0")),
    ]
    # The order's time is its earliest line's; the extra columns are its first line's.
    assert got.row(1)[2] == dt.datetime(2011, 1, 3, 10, 2, tzinfo=dt.UTC)
    assert got["Country"].to_list() == ["United Kingdom", "France", "United Kingdom", "Germany"]
    # The report counts lines: every line is loaded into an order or rejected with its own line number.
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (11, 8, 3)
    assert report.files[0].records == 4
    assert _reasons(ds) == {
        7: "amount: negative amount (a refund or cancellation)",
        8: "customer_id: missing value",
        9: "customer_id: missing value",
    }
    # The same figures from plain polars on the raw lines.
    raw = pl.read_csv(path, infer_schema=False).with_columns(
        total=pl.col("Quantity").cast(pl.Decimal(38, 4)) * pl.col("UnitPrice").cast(pl.Decimal(38, 4))
    )
    orders = raw.filter(pl.col("CustomerID").is_not_null()).group_by("InvoiceNo").agg(pl.col("total").sum())
    orders = orders.filter(pl.col("total") >= 0)
    assert orders.height == got.height
    assert orders["total"].sum() == got["amount"].sum()


def test_a_bad_line_rejects_its_whole_order(tmp_path: Path) -> None:
    text = (FIXTURES / "retail_lines.csv").read_text()
    f = _write(tmp_path / "lines.csv", text.replace("600001,10002,BLUE MUG,2.0", "600001,10002,BLUE MUG,two"))
    ds = _retail(f)
    reasons = _reasons(ds)
    assert reasons[3] == "quantity: not a number"
    assert reasons[2] == reasons[4] == "order_id: another line of this order was rejected (line 3)"
    assert ds.orders is not None and "600001" not in ds.orders.collect()["order_id"].to_list()


def test_lines_of_one_order_must_agree(tmp_path: Path) -> None:
    f = _write(
        tmp_path / "orders.csv",
        HEADER
        + "o1,c1,2024-01-01T00:00:00Z,10,EUR\no1,c2,2024-01-01T00:00:00Z,1,EUR\n"
        + "o2,c1,2024-01-01T00:00:00Z,10,EUR\no2,c1,2024-01-01T00:00:00Z,1,USD\n"
        + "o3,c1,2024-01-01T00:00:00Z,10,EUR\no3,c1,2024-01-01T00:00:00Z,-3,EUR\n"
        + "o4,c1,2024-01-01T00:00:00Z,0.00005,EUR\n",
    )
    ds = rl.read(f, lines=True)
    reasons = _reasons(ds)
    assert reasons[2] == reasons[3] == "customer_id: the lines of this order name different customers"
    assert reasons[4] == reasons[5] == "currency: the lines of this order are in different currencies"
    assert reasons[8] == "amount: more than 4 decimal places"
    assert ds.orders is not None and ds.orders.collect().select("order_id", "amount").rows() == [("o3", 7)]


def test_line_totals_are_exact_or_refused(tmp_path: Path) -> None:
    header = "order_id,customer_id,ordered_at,qty,price,currency\n"
    f = _write(
        tmp_path / "orders.csv",
        header
        + "o1,c1,2024-01-01T00:00:00Z,3,0.3333,EUR\n"
        + "o2,c1,2024-01-01T00:00:00Z,0.5,0.0001,EUR\n"
        + "o3,c1,2024-01-01T00:00:00Z,10000000000000,100000000,EUR\n",
    )
    ds = rl.read(f, lines={"quantity": "qty", "unit_price": "price"})
    reasons = _reasons(ds)
    assert reasons[3] == "amount: line total (quantity x unit price) has more than 4 decimal places"
    assert reasons[4].startswith("amount: line total (quantity x unit price) out of range")
    assert ds.orders is not None and ds.orders.collect()["amount"].to_list() == [Decimal("0.9999")]
    with pytest.raises(OptionError, match="lines"):
        rl.read(f, lines={"quantity": "qty"})
    with pytest.raises(SchemaError, match="lacks"):
        rl.read(f, lines={"quantity": "qty", "unit_price": "nope"})


@pytest.mark.reference
def test_online_retail_line_items(shared_data: Path, tmp_path: Path) -> None:
    import gzip

    source = shared_data / "reference" / "online_retail_uci" / "onlineretail-0.1.2" / "onlineretail.csv.gz"
    path = tmp_path / "online_retail.csv"
    path.write_bytes(gzip.decompress(source.read_bytes()))
    ds = _retail(path)
    report = _report(ds)
    raw = pl.read_csv(path, infer_schema=False)
    assert report.rows_read == raw.height
    # Plain polars: line totals of the lines with a customer, summed per invoice; negative invoices dropped.
    lines = raw.filter(pl.col("CustomerID").is_not_null()).with_columns(
        total=pl.col("Quantity").cast(pl.Decimal(38, 4)) * pl.col("UnitPrice").cast(pl.Decimal(38, 4))
    )
    invoices = lines.group_by("InvoiceNo").agg(pl.col("total").sum(), pl.len().alias("lines"))
    kept = invoices.filter(pl.col("total") >= 0)
    assert ds.orders is not None
    got = ds.orders.collect()
    assert got.height == kept.height
    assert got["amount"].sum() == kept["total"].sum()
    assert report.rows_loaded == kept["lines"].sum()
    # Cancellation invoices ("C" + a number of their own) link to no order: each of their lines is rejected.
    reasons = report.reasons()
    negative = reasons.filter(pl.col("reason") == "amount: negative amount (a refund or cancellation)")
    assert negative["rows"].sum() == invoices.filter(pl.col("total") < 0)["lines"].sum()


def test_ids_are_the_same_by_every_route(tmp_path: Path) -> None:
    csv_file = _write(tmp_path / "orders.csv", HEADER + "1.0,17850.0,2024-01-05T10:00:00Z,10,EUR\n")
    from_csv = rl.read(csv_file).orders
    frame = pl.DataFrame(
        {
            "order_id": [1.0],
            "customer_id": [17850.0],
            "ordered_at": ["2024-01-05T10:00:00Z"],
            "amount": ["10"],
            "currency": ["EUR"],
        }
    )
    from_floats = rl.Dataset.from_frames(orders=frame).orders
    from_ints = rl.Dataset(orders=frame.with_columns(pl.col("order_id", "customer_id").cast(pl.Int64))).orders
    from_decimals = rl.Dataset(
        orders=frame.with_columns(pl.col("order_id", "customer_id").cast(pl.Decimal(20, 2)))
    ).orders
    json_file = _write(
        tmp_path / "orders.jsonl",
        '{"order_id": 1.0, "customer_id": 17850.0, "ordered_at": "2024-01-05T10:00:00Z", "amount": 10, '
        '"currency": "EUR"}\n',
    )
    from_json = rl.read(json_file).orders
    pq = tmp_path / "orders.parquet"
    frame.write_parquet(pq)
    from_parquet = rl.read(pq).orders
    for lf in (from_csv, from_floats, from_ints, from_decimals, from_json, from_parquet):
        assert lf is not None and lf.collect().select("order_id", "customer_id").row(0) == ("1", "17850")


def test_non_whole_float_ids_are_refused(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {"customer_id": [17850.5, 1e20, 7.0], "created_at": "2024-01-05T10:00:00Z"},
    )
    with pytest.raises(rl.DataError) as info:
        rl.Dataset(customers=frame)
    assert {(p.reason, p.count) for p in info.value.problems} == {
        ("not a whole-number id", 1),
        ("id too large for a whole number", 1),
    }
    pq = tmp_path / "customers.parquet"
    frame.write_parquet(pq)
    ds = rl.read(pq)
    assert _reasons(ds) == {1: "customer_id: not a whole-number id", 2: "customer_id: id too large for a whole number"}
    assert ds.customers is not None and ds.customers.collect()["customer_id"].to_list() == ["7"]


def test_a_stray_quote_in_the_header_reads_correctly(tmp_path: Path) -> None:
    f = _write(tmp_path / "orders.csv", 'order_id,customer_id,ordered_at,amount,currency,no"te\n')
    f.write_text(f.read_text() + "o1,c1,2024-01-05T10:00:00Z,10,EUR,x\no2,c1,2024-01-06T10:00:00Z,5,EUR,y\n")
    ds = rl.read(f)
    assert _report(ds).rows_read == 2
    assert ds.orders is not None and ds.orders.collect()['no"te'].to_list() == ["x", "y"]
    mapped = _write(tmp_path / "export.csv", 'id,cust"omer,ordered_at,amount,currency\no1,c1,2024-01-05T10:00Z,1,EUR\n')
    ds2 = rl.read("csv", mapped, table="orders", mapping={"id": "order_id", 'cust"omer': "customer_id"})
    assert ds2.orders is not None and ds2.orders.collect()["customer_id"].to_list() == ["c1"]


def test_ragged_rows_are_rejected_with_their_line(tmp_path: Path) -> None:
    f = _write(
        tmp_path / "orders.csv",
        HEADER
        + "o1,c1,2024-01-05T10:00:00Z,10,EUR\n"
        + "o2,c1,2024-01-05T10:00:00Z,10,EUR,surplus\n"
        + 'o3,c2,2024-01-05T10:00:00Z,1"0,EUR\n'  # a stray quote inside a field is a character
        + "\n"
        + "o4,c2,2024-01-05T10:00:00Z\n"
        + "o5,c3,2024-01-05T10:00:00Z,7,EUR\n",
    )
    ds = rl.read(f)
    assert _reasons(ds) == {
        3: "the row has 6 fields; the header has 5",
        4: "amount: not a number",
        6: "amount: missing value; currency: missing value",  # a short row's missing fields are empty
    }
    assert ds.orders is not None and ds.orders.collect()["order_id"].to_list() == ["o1", "o5"]
    # The same short row in a file polars reads on its own gets the same verdict.
    short = _write(tmp_path / "short.csv", HEADER + "o4,c2,2024-01-05T10:00:00Z\no5,c3,2024-01-05T10:00:00Z,7,EUR\n")
    assert _reasons(rl.read("csv", short, table="orders")) == {2: "amount: missing value; currency: missing value"}


def test_a_broken_quote_names_its_line(tmp_path: Path) -> None:
    f = _write(tmp_path / "orders.csv", HEADER + 'o1,c1,2024-01-05T10:00:00Z,10,EUR\no2,"c1,2024-01-05,1,EUR\n')
    with pytest.raises(SourceError, match="line 3") as info:
        rl.read(f)
    assert info.value.file == f


def test_blank_lines_are_not_rows(tmp_path: Path) -> None:
    f = _write(
        tmp_path / "orders.csv",
        HEADER + "\no1,c1,2024-01-05T10:00:00Z,10,EUR\n   \n,,,,\no2,c1,2024-01-05T10:00:00Z,ten,EUR\n\n",
    )
    ds = rl.read(f)
    assert (_report(ds).rows_read, _report(ds).rows_rejected) == (2, 1)
    assert _reasons(ds) == {6: "amount: not a number"}
    lines = _write(
        tmp_path / "responses.jsonl",
        '\n{"response_id": "r1", "customer_id": "c1", "responded_at": "2024-01-01T00:00:00Z", "score": 9}\n\n'
        '{"response_id": "r2", "customer_id": "c1", "responded_at": "2024-01-01T00:00:00Z", "score": 99}\n'
        "not json\n[1]\n",
    )
    ds2 = rl.read(lines)
    assert _report(ds2).rows_read == 4
    assert _reasons(ds2) == {4: "score: score outside 0..10", 5: "invalid JSON", 6: "not a JSON object"}


def test_other_encodings_and_byte_order_marks(tmp_path: Path) -> None:
    text = HEADER + "o1,café,2024-01-05T10:00:00Z,10,EUR\no2,c2,2024-01-05T10:00:00Z,1,EUR,extra\n"
    utf16 = _write(tmp_path / "orders.csv", text, "utf-16")  # with its byte-order mark
    ds = rl.read(utf16)
    assert _reasons(ds) == {3: "the row has 6 fields; the header has 5"}
    assert ds.orders is not None and ds.orders.collect()["customer_id"].to_list() == ["café"]
    no_bom = _write(tmp_path / "bare.csv", text, "utf-16-le")
    with pytest.raises(SourceError, match="UTF-16 without a byte-order mark"):
        rl.read("csv", no_bom, table="orders")
    assert rl.read("csv", no_bom, table="orders", encoding="utf-16-le").orders is not None
    latin = _write(tmp_path / "latin.csv", text, "latin-1")
    with pytest.raises(SourceError, match=r"not valid UTF-8 \(line 2"):
        rl.read("csv", latin, table="orders")


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"tz": "Europe/Pari"}, "tz"),
        ({"separator": ""}, "separator"),
        ({"separator": ";;"}, "separator"),
        ({"encoding": None}, "encoding"),
        ({"encoding": "klingon"}, "encoding"),
        ({"mapping": "x"}, "mapping"),
        ({"table": ["orders"]}, "table"),
        ({"table": "order"}, "table"),
        ({"defaults": "EUR"}, "defaults"),
        ({"defaults": {"currency": ["EUR"]}}, "defaults"),
        ({"lines": "yes"}, "lines"),
        ({"refunds": None}, "refunds"),
    ],
)
def test_options_are_checked(tmp_path: Path, options: dict[str, Any], option: str) -> None:
    f = _write(tmp_path / "orders.csv", HEADER + "o1,c1,2024-01-05 10:00,10,EUR\n")
    with pytest.raises(OptionError) as info:
        rl.read("csv", f, **options)
    assert info.value.option == option


def test_lines_only_for_orders_and_renames_must_not_collide(tmp_path: Path) -> None:
    f = _write(tmp_path / "events.csv", "customer_id,occurred_at,event\nc1,2024-01-05T10:00Z,visit\n")
    with pytest.raises(OptionError, match="orders files"):
        rl.read(f, lines=True)
    g = _write(tmp_path / "orders.csv", HEADER.strip() + ",user\no1,c1,2024-01-05T10:00Z,1,EUR,u\n")
    with pytest.raises(SchemaError, match="several columns are called 'customer_id'"):
        rl.read(g, mapping={"user": "customer_id"})
    h = _write(tmp_path / "dup.csv", "order_id,customer_id,ordered_at,amount,currency,amount\n")
    with pytest.raises(SourceError, match="'amount' more than once"):
        rl.read("csv", h, table="orders")


# --- reading at polars speed (issue 14): the fast paths give what the general ones give --------


def test_export_timestamps_parse_as_every_other_iso_form(tmp_path: Path) -> None:
    """``...T10:00:00Z`` takes a one-format parse; lookalikes and impossible dates take the general one."""
    stamps = [
        "2024-03-01T10:00:00Z",  # the exports' shape
        "2024-03-01 10:00:00+00:00",  # the same instant, general parse
        " 2024-03-01T10:00:00Z ",  # padded: general parse after stripping
        "2024-03-01T10:00:00.250Z",
        "2024-03-01T10:00:00z",
        "2024-02-30T10:00:00Z",  # the shape, but no such day
        "2024-3-1T10:00:00Z",  # not ISO 8601
        "2024-03-01T24:00:00Z",
    ]
    rows = "".join(f'o{i},c1,"{s}",1.00,USD\n' for i, s in enumerate(stamps))
    report_ds = rl.read("csv", _write(tmp_path / "orders.csv", HEADER + rows))
    loaded = report_ds.require("orders").collect()
    ten = dt.datetime(2024, 3, 1, 10, tzinfo=dt.UTC)
    assert loaded["order_id"].to_list() == ["o0", "o1", "o2", "o3", "o4"]
    assert loaded["ordered_at"].to_list() == [ten, ten, ten, ten + dt.timedelta(milliseconds=250), ten]
    assert report_ds.report is not None
    rejects = report_ds.report.rejects
    assert rejects["line"].to_list() == [7, 8, 9]  # header is line 1
    assert all(r.startswith("ordered_at: unparseable timestamp") for r in rejects["reason"])


def test_a_read_validates_once_and_rejects_ids_repeated_across_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retainlib import _conform

    calls: list[str] = []
    real = _conform.raise_problems

    def counting(c: _conform.Conformed, *, limit: int = 5) -> None:
        calls.append(c.spec.name)
        real(c, limit=limit)

    monkeypatch.setattr(_conform, "raise_problems", counting)
    a = _write(tmp_path / "orders.csv", HEADER + "o1,c1,2024-01-05T10:00:00Z,10.00,USD\n")
    b = _write(tmp_path / "more_orders.csv", HEADER + "o2,c1,2024-01-06T10:00:00Z,5.00,USD\n")
    ds = rl.read("csv", a, b, table="orders")
    assert ds.require("orders").collect()["order_id"].to_list() == ["o1", "o2"]
    assert calls == []  # rows were checked file by file: the dataset is not validated a second time
    c = _write(
        tmp_path / "again.csv", HEADER + "o2,c2,2024-01-08T10:00:00Z,2.00,USD\no1,c2,2024-01-07T10:00:00Z,1.00,USD\n"
    )
    # An id loaded from an earlier file: that row is rejected with its file and line, the first one stays.
    again = rl.read("csv", a, c, table="orders")
    assert again.require("orders").collect()["order_id"].to_list() == ["o1", "o2"]
    assert again.report is not None
    assert again.report.rejects.select("file", "line", "reason").rows() == [
        (str(c), 3, "order_id: duplicate id (loaded from an earlier file)")
    ]
    assert [(f.rows_read, f.rows_loaded) for f in again.report.files] == [(1, 1), (2, 1)]
    assert calls == []


file_rows = st.lists(
    st.tuples(st.sampled_from(["o1", "o2", "o3", "o4"]), st.sampled_from(["row", "bad", "blank"])),
    max_size=12,
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.lists(file_rows, min_size=1, max_size=3))
def test_repeated_ids_are_rejected_with_their_file_and_line(tmp_path: Path, files: list[list[tuple[str, str]]]) -> None:
    """Against a plain walk through the files: a good row whose id an earlier good row holds is rejected with its
    file and line (blank lines and bad rows in between, so lines are not positions); the others are loaded."""
    paths, expected_loaded, expected_duplicates = [], [], []
    first_file: dict[str, int] = {}
    for n, rows in enumerate(files):
        path = tmp_path / f"orders_{n}.csv"
        text, line = HEADER, 1
        for order_id, kind in rows:
            line += 1
            if kind == "blank":
                text += "\n"
                continue
            text += f"{order_id},c1,2024-01-05T10:00:00Z,{'x' if kind == 'bad' else '1.00'},USD\n"
            if kind == "bad":
                continue
            if order_id in first_file:
                earlier = " (loaded from an earlier file)" if first_file[order_id] != n else ""
                expected_duplicates.append((str(path), line, f"order_id: duplicate id{earlier}"))
            else:
                first_file[order_id] = n
                expected_loaded.append(order_id)
        paths.append(_write(path, text))
    ds = rl.read("csv", *paths, table="orders")
    report = _report(ds)
    assert ds.require("orders").collect()["order_id"].to_list() == expected_loaded
    duplicates = report.rejects.filter(pl.col("reason").str.contains("duplicate"))
    assert sorted(duplicates.select("file", "line", "reason").rows()) == sorted(expected_duplicates)


def _json_lines(records: Sequence[dict[str, Any]]) -> str:
    import json

    return "".join(json.dumps(r) + "\n" for r in records)


def test_json_lines_read_by_polars_match_the_python_reader(tmp_path: Path) -> None:
    """A clean JSON lines file is read by polars; one with a blank line by Python: same rows, same rejects."""
    records: list[dict[str, Any]] = [
        {
            "order_id": "o1",
            "customer_id": 17850,
            "ordered_at": "2024-01-05T10:00:00Z",
            "amount": "10.00",
            "currency": "USD",
        },
        {"order_id": "o2", "customer_id": "c2", "ordered_at": "2024-01-06T10:00:00Z", "amount": 7, "currency": "usd"},
        {"order_id": "o3", "customer_id": "c3", "ordered_at": "2024-01-07T10:00:00Z", "amount": "x", "currency": "USD"},
        {"order_id": "o4", "customer_id": "c3", "ordered_at": None, "amount": "1", "currency": "USD", "vip": True},
        {},
        {
            "order_id": "o5",
            "customer_id": "c3",
            "ordered_at": "2024-01-08T10:00:00Z",
            "amount": "-2",
            "currency": "EUR",
        },
    ]
    text = _json_lines(records)
    from retainlib._builtin import files

    # A column mixing numbers and text (customer_id, amount) is read by Python: polars writes floats its own way.
    assert files._polars_json_lines(text.encode()) is None
    typed = [{**r, "customer_id": n, "amount": str(r["amount"])} for n, r in enumerate(records) if r]
    assert files._polars_json_lines(_json_lines(typed).encode()) is not None  # integers, text, booleans: polars
    assert files._polars_json_lines(("\n" + text).encode()) is None  # a blank line: the Python reader
    assert files._polars_json_lines('{"a": "x\u2028y"}\n'.encode()) is None  # a line break to str.splitlines
    clean = rl.read("json", _write(tmp_path / "orders.jsonl", text))
    blank = rl.read("json", _write(tmp_path / "orders.json", "\n" + text), table="orders")
    assert clean.report is not None and blank.report is not None
    assert clean.require("orders").collect().equals(blank.require("orders").collect())
    assert clean.require("orders").collect()["customer_id"].to_list() == ["17850", "c2"]
    assert clean.require("orders").collect()["vip"].to_list() == [None, None]
    lines = clean.report.rejects["line"].to_list()
    assert lines == [3, 4, 5, 6]
    assert blank.report.rejects["line"].to_list() == [line + 1 for line in lines]  # one blank line before
    assert clean.report.rejects["reason"].equals(blank.report.rejects["reason"])
    assert (clean.report.rows_read, clean.report.rows_loaded, clean.report.rows_rejected) == (6, 2, 4)
