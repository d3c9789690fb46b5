"""``rl.read_to_parquet`` and ``retainlib read --out``: streamed reads give what ``rl.read`` gives."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import retainlib as rl
from retainlib import _conform, _stream
from retainlib._builtin import files
from retainlib.cli import main
from retainlib.tables import TABLES

HEADER = "order_id,customer_id,ordered_at,amount,currency\n"


def _same(streamed: rl.Dataset, read: rl.Dataset) -> None:
    """Both reads hold equal tables and equal reports (rows, rejects with file, line and reason)."""
    assert streamed.tables.keys() == read.tables.keys()
    for name, frame in read.tables.items():
        assert streamed.tables[name].collect().equals(frame.collect()), name
    assert streamed.report is not None and read.report is not None
    assert streamed.report.rejects.equals(read.report.rejects)
    assert (streamed.report.rows_read, streamed.report.rows_loaded) == (read.report.rows_read, read.report.rows_loaded)


def test_a_csv_streams_to_the_dataset_read_gives(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(
        HEADER + "o1,c1,2024-03-01T10:00:00Z,10.00,EUR\n"
        "o2,c1,not a date,5.00,EUR\n"
        "\n"  # a blank line: not a row
        "o3,c2,2024-03-02T10:00:00Z,-3.00,EUR\n"  # a refund: rejected
        "o1,c3,2024-03-03T10:00:00Z,1.00,EUR\n"  # o1 again: rejected, the first stays
        " 17850.0 ,c4,2024-03-04 10:00:00+01:00,2.5,eur\n"
    )
    streamed = rl.read_to_parquet("csv", path, out=tmp_path / "out")
    _same(streamed, rl.read("csv", path))
    assert streamed.report is not None
    assert streamed.report.rejects.select("line", "reason").rows() == [
        (3, "ordered_at: unparseable timestamp (expected ISO 8601, e.g. 2024-03-01T10:00:00Z)"),
        (5, "amount: negative amount (a refund or cancellation)"),
        (6, "order_id: duplicate id"),
    ]
    orders = streamed.require("orders").collect()
    assert orders["order_id"].to_list() == ["o1", "17850"]
    assert orders["currency"].to_list() == ["EUR", "EUR"]
    assert orders["ordered_at"][1] == dt.datetime(2024, 3, 4, 9, tzinfo=dt.UTC)
    # Written as they were found: the rejected rows are in the output folder too.
    assert pl.read_parquet(tmp_path / "out" / "rejected" / "part-00000.parquet").height == 3


def test_keys_repeated_across_files_are_rejected_with_their_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text(HEADER + "o1,c1,2024-03-01T10:00:00Z,10.00,EUR\no2,c1,2024-03-02T10:00:00Z,5.00,EUR\n")
    second.write_text(HEADER + "o3,c2,2024-03-01T10:00:00Z,1.00,EUR\no2,c2,2024-03-05T10:00:00Z,7.00,EUR\n")
    # Slices of the hash space one at a time, as for tables of more keys than fit in memory.
    monkeypatch.setattr(_stream, "KEYS_PER_PASS", 1)
    streamed = rl.read_to_parquet("csv", first, second, table="orders", out=tmp_path / "out")
    read = rl.read("csv", first, second, table="orders")
    _same(streamed, read)
    assert streamed.report is not None
    assert streamed.report.rejects.select("file", "line", "reason").rows() == [
        (str(second), 3, "order_id: duplicate id (loaded from an earlier file)")
    ]
    assert sorted(streamed.require("orders").collect()["order_id"]) == ["o1", "o2", "o3"]
    assert [f.rows_loaded for f in streamed.report.files] == [2, 1]


def test_parquet_streams_and_other_policies_read_in_memory(tmp_path: Path) -> None:
    csv = tmp_path / "orders.csv"
    csv.write_text(
        HEADER.rstrip("\n") + ",cancels\n"
        "o1,c1,2024-03-01T10:00:00Z,10.00,EUR,\n"
        "r1,c1,2024-03-02T10:00:00Z,-4.00,EUR,o1\n"
    )
    parquet = tmp_path / "orders.parquet"
    rl.read("csv", csv, refunds="keep").require("orders").collect().write_parquet(parquet)
    _same(rl.read_to_parquet(parquet, out=tmp_path / "p"), rl.read(parquet))
    # Netting groups rows: read in memory by the reader, then written; the result is the same.
    netted = rl.read_to_parquet("csv", csv, refunds="net", out=tmp_path / "n")
    _same(netted, rl.read("csv", csv, refunds="net"))
    assert netted.require("orders").collect()["amount"].cast(pl.Float64).to_list() == [6.0]


def test_a_file_polars_cannot_stream_is_read_by_the_reader(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    # A row with too many fields: polars stops; the reader rejects that row with its line.
    path.write_text(HEADER + "o1,c1,2024-03-01T10:00:00Z,10.00,EUR\no2,c1,2024-03-01T10:00:00Z,1,EUR,extra\n")
    streamed = rl.read_to_parquet("csv", path, out=tmp_path / "out")
    _same(streamed, rl.read("csv", path))
    assert streamed.report is not None and streamed.report.rows_rejected == 1


def test_writing_again_replaces_the_previous_dataset(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + "o1,c1,2024-03-01T10:00:00Z,10.00,EUR\n")
    out = tmp_path / "out"
    rl.read_to_parquet("csv", path, out=out)
    path.write_text(HEADER + "o9,c1,2024-03-01T10:00:00Z,10.00,EUR\n")
    again = rl.read_to_parquet("csv", path, out=out)
    assert again.require("orders").collect()["order_id"].to_list() == ["o9"]
    assert rl.Dataset.read_parquet(out).require("orders").collect()["order_id"].to_list() == ["o9"]


def test_a_built_in_source_named_streams_without_loading_plugins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + "o1,c1,2024-03-01T10:00:00Z,10.00,EUR\no2,c1,2024-03-01T11:00:00Z,x,EUR\n")

    def every_plugin() -> None:
        raise AssertionError("the plugins were loaded")

    monkeypatch.setattr("retainlib._read.default_host", every_plugin)  # where the host is chosen
    streamed = rl.read_to_parquet("csv", path, out=tmp_path / "out")
    assert streamed.report is not None
    assert (streamed.report.rows_read, streamed.report.rows_loaded) == (2, 1)
    assert streamed.report.rejects.select("line", "reason").rows() == [(3, "amount: not a number")]
    with pytest.raises(AssertionError, match="plugins were loaded"):  # detection needs every source
        rl.read_to_parquet(path, out=tmp_path / "out")


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_the_loaded_and_rejected_rows_of_a_plan_share_one_read_of_the_file(tmp_path: Path, suffix: str) -> None:
    # Two outputs of one streaming pass: without a shared (cached) frame polars reads and checks the file twice.
    frame = pl.DataFrame({"order_id": ["o1"], "customer_id": ["c1"], "ordered_at": ["2024-03-01T10:00:00Z"]})
    frame = frame.with_columns(amount=pl.lit("1.00"), currency=pl.lit("EUR"))
    path = tmp_path / f"orders.{suffix}"
    frame.write_csv(path) if suffix == "csv" else frame.write_parquet(path)
    planner = files.plan_csv if suffix == "csv" else files.plan_parquet
    plans = planner([path])
    assert plans is not None and len(plans) == 1
    for output in (plans[0].loaded, plans[0].rejected):
        assert "CACHE" in output.explain(optimized=False)


def test_unknown_options_and_sources_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(HEADER)
    with pytest.raises(rl.OptionError, match="no option"):
        rl.read_to_parquet("csv", path, out=tmp_path / "o", colour="red")
    with pytest.raises(rl.OptionError, match="unknown source"):
        rl.read_to_parquet("nosuch", path, out=tmp_path / "o")
    with pytest.raises(rl.SourceError, match="no such file"):
        rl.read_to_parquet("csv", tmp_path / "absent.csv", out=tmp_path / "o")


def test_the_command_line_streams_with_out(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + "o1,c1,2024-03-01T10:00:00Z,10.00,EUR\no2,c1,bad,1,EUR\n")
    result = CliRunner().invoke(main, ["read", "csv", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "rows read 2 = loaded 1 + rejected 1" in result.output
    assert (tmp_path / "out" / "orders" / "part-00000.parquet").exists()
    assert (tmp_path / "out" / "rejected" / "part-00000.parquet").exists()


# --- the cheap per-row checks agree with the explanations ---------------------------------------

_TEXT = st.text(alphabet="0123456789.+-eE :TZz/ \tUSDeurxy", max_size=24)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.tuples(_TEXT, _TEXT, _TEXT, _TEXT, _TEXT), min_size=1, max_size=40))
def test_a_row_is_flagged_exactly_when_it_is_explained(rows: list[tuple[str, ...]]) -> None:
    """Every check is a cheap boolean per row and a text built only for bad rows: they must agree."""
    columns = ["order_id", "customer_id", "ordered_at", "amount", "currency"]
    frame = pl.DataFrame(rows, schema=dict.fromkeys(columns, pl.String), orient="row").lazy()
    c = _conform.conform(frame, TABLES["orders"], check_duplicates=False)
    explained = c.explain(c.frame).collect()
    flagged = explained[_conform.BAD].to_list()
    reasons = explained[_conform.PROBLEMS].to_list()
    for bad, found, value in zip(flagged, reasons, explained.iter_rows(named=True), strict=True):
        assert bad == bool(found), (value, found)
        for reason in found:
            column = reason.split(": ", 1)[0]
            # "missing value" only where the value is missing; any other reason where the text gave no value
            # or a value the checks refuse (the amount range).
            if reason.endswith("missing value"):
                assert value[f"__v_{column}"] is None, reason


def test_parquet_written_by_retainlib_is_taken_by_type(tmp_path: Path) -> None:
    from retainlib._builtin.files import _written_as

    path = tmp_path / "orders.csv"
    path.write_text(HEADER + "o1,c1,2024-03-01T10:00:00Z,10.00,EUR\no2,c1,2024-03-02T10:00:00Z,5.00,EUR\n")
    rl.read_to_parquet("csv", path, out=tmp_path / "out")
    part = tmp_path / "out" / "orders" / "part-00000.parquet"
    assert _written_as(part) == "orders"
    plain = tmp_path / "plain.parquet"
    pl.read_parquet(part).write_parquet(plain)
    assert _written_as(plain) is None
    # Read again, the rows are the same, and still checked for what a type cannot say (repeated ids).
    again = rl.read("parquet", part, part, table="orders")
    assert again.require("orders").collect().equals(rl.read("parquet", plain).require("orders").collect())
    assert again.report is not None and again.report.rows_rejected == 2


def test_files_of_several_sources_each_take_their_own_options(tmp_path: Path) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_text(HEADER + "o1,c1,2024-03-01T10:00:00Z,10.00,EUR\n")
    master = tmp_path / "CDNOW_master.txt"
    master.write_text("00001 19970101 1 11.77\n")
    # `separator` is the csv source's alone, `currency` the cdnow source's alone.
    ds = rl.read(orders, master, separator=",", currency="USD")
    assert ds.report is not None and ds.report.rows_loaded == 2
    with pytest.raises(rl.OptionError, match="none of the sources detected"):
        rl.read(orders, master, colour="red")


@given(keys=st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "c", "17850", ""]), st.text(max_size=3))))
def test_repeated_keys_match_a_plain_python_reference(keys: list[str | None]) -> None:
    seen: set[str] = set()
    expected = []
    for k in keys:
        expected.append(k is not None and k in seen)
        if k is not None:
            seen.add(k)
    assert _conform.repeated(pl.Series(keys, dtype=pl.String)).to_list() == expected


_STAMPS = st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2099, 12, 31)).map(
    lambda t: t.replace(microsecond=0)
)


@given(stamps=st.lists(st.tuples(_STAMPS, st.integers(-14 * 60, 14 * 60), st.integers(0, 4)), min_size=1))
def test_exported_timestamp_shapes_give_their_instant(stamps: list[tuple[dt.datetime, int, int]]) -> None:
    """Zulu times and times with an offset, written as exports write them, give the instant they name."""
    texts, instants = [], []
    for local, minutes, style in stamps:
        sign, hours, rest = "+" if minutes >= 0 else "-", abs(minutes) // 60, abs(minutes) % 60
        day, clock = local.strftime("%Y-%m-%d"), local.strftime("%H:%M:%S")
        texts.append(
            [
                f"{day}T{clock}Z",
                f"{day} {clock} {sign}{hours:02d}{rest:02d}",
                f"{day}T{clock}{sign}{hours:02d}:{rest:02d}",
                f"{day} {clock}{sign}{hours:02d}{rest:02d}",
                f"{day}T{clock}{sign}{hours:02d}{rest:02d}",
            ][style]
        )
        offset = dt.timedelta(0) if style == 0 else dt.timedelta(minutes=minutes)
        instants.append((local - offset).replace(tzinfo=dt.UTC))
    frame = pl.DataFrame(
        {"order_id": [f"o{i}" for i in range(len(texts))], "customer_id": "c", "ordered_at": texts, "amount": "1"}
    )
    c = _conform.conform(frame.with_columns(currency=pl.lit("EUR")).lazy(), TABLES["orders"])
    got = c.frame.collect()
    assert not got[_conform.BAD].any()
    assert got["__v_ordered_at"].to_list() == instants


_SHAPES = ["2024-03-01T10:00:00Z", "2024-03-01 10:00:00 -0500", "2024-03-01T10:00:00+01:00", "2024-02-29 23:59:59+0530"]


@st.composite
def _mutated(draw: st.DrawFn) -> str:
    text = list(draw(st.sampled_from(_SHAPES)))
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, len(text) - 1))
        text[i : i + draw(st.integers(0, 1))] = draw(st.sampled_from("0123456789-T:Z zt+.:/\t"))
    return "".join(text)


@given(texts=st.lists(_mutated(), min_size=1, max_size=30))
def test_the_fast_timestamp_shapes_read_as_the_general_parse_does(texts: list[str]) -> None:
    """A leading space sends any text to the general parse: the instant (or its absence) must not change."""

    def values(column: list[str]) -> list[dt.datetime | None]:
        frame = pl.DataFrame({"order_id": [f"o{i}" for i in range(len(column))], "ordered_at": column})
        lazy = frame.lazy().with_columns(customer_id=pl.lit("c"), amount=pl.lit("1"), currency=pl.lit("EUR"))
        return _conform.conform(lazy, TABLES["orders"], tz="Europe/Paris").frame.collect()["__v_ordered_at"].to_list()

    assert values(texts) == values([" " + t for t in texts])


def test_a_year_outside_1_to_9999_is_rejected_with_its_reason() -> None:
    """Found by the property above: ``-2024-03-01 10:00:00 -0500`` parsed to the year -2024 and was loaded."""
    column = ["-2024-03-01 10:00:00 -0500", " -2024-03-01T10:00:00Z", "2024-03-01 10:00:00 -0500"]
    frame = pl.DataFrame({"order_id": ["o1", "o2", "o3"], "ordered_at": column})
    lazy = frame.lazy().with_columns(customer_id=pl.lit("c"), amount=pl.lit("1"), currency=pl.lit("EUR"))
    got = _conform.conform(lazy, TABLES["orders"]).frame.collect()
    assert got[_conform.BAD].to_list() == [True, True, False]
    assert got["__v_ordered_at"].to_list()[2] == dt.datetime(2024, 3, 1, 15, tzinfo=dt.UTC)
