"""The ``ga4`` source: BigQuery export rows as JSON lines or Parquet -> events, purchases -> orders."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import retainlib as rl
from retainlib.errors import OptionError, SourceError
from retainlib.tables import EVENTS, ORDERS
from retainlib_analytics._ga4 import FAR_FROM_DATE

FIXTURE = "ga4_events_20240304.jsonl"
UTC = dt.UTC


def _at(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def _events(ds: rl.Dataset) -> pl.DataFrame:
    """The dataset's events, collected."""
    assert ds.events is not None
    return ds.events.collect()


def _rejects(ds: rl.Dataset) -> list[tuple[int, str, str]]:
    assert ds.report is not None
    return [(r["line"], r["table"], r["reason"]) for r in ds.report.rejects.sort("table", "line").iter_rows(named=True)]


def test_the_fixture_loads_every_quirk(read: Callable[..., rl.Dataset], fixtures: Path) -> None:
    ds = read("ga4", fixtures / FIXTURE, params="value,ga_session_id")
    expected = pl.DataFrame(
        {
            "customer_id": ["u1", "p2.2", "u1", "p2.2", "u1", "u1", "u5"],
            "occurred_at": [
                _at(2024, 3, 4, 9),  # event_timestamp 1709542800000000 us
                _at(2024, 3, 4, 23, 30),  # event_date 20240305 in the property's zone: within a day
                _at(2024, 3, 5, 10),
                _at(2024, 3, 5, 11),
                _at(2024, 3, 5, 12),
                _at(2024, 3, 5, 13),
                _at(2024, 3, 5, 14, 46, 40),
            ],
            "event": ["page_view", "session_start", "purchase", "purchase", "purchase", "purchase", "purchase"],
            # "value" is a double_value in one row, an int_value in others: read from whichever slot holds it
            "value": ["9.5", "10", "31", "12.5", None, None, None],
            "ga_session_id": ["1709542000", "1709595000", None, None, None, None, None],
        },
        schema={**EVENTS.schema, "value": pl.String, "ga_session_id": pl.String},
    )
    assert_frame_equal(_events(ds), expected)
    orders = pl.DataFrame(
        {
            "order_id": ["T1"],
            "customer_id": ["u1"],
            "ordered_at": [_at(2024, 3, 5, 10)],
            "amount": [Decimal("31")],
            "currency": ["EUR"],
        },
        schema=ORDERS.schema,
    )
    assert ds.orders is not None
    assert_frame_equal(ds.orders.collect(), orders)
    assert _rejects(ds) == [
        (
            7,
            "events",
            "event: duplicate event (the same event was read earlier: a daily and an intraday table, "
            "or one file read twice)",
        ),
        (8, "events", FAR_FROM_DATE),  # a timestamp in milliseconds: 1970-01-20
        (9, "events", "event_timestamp: not a whole number (microseconds since 1970)"),
        (10, "events", "event_name: missing"),
        (11, "events", "user_pseudo_id: neither a user_id nor a user_pseudo_id"),
        (13, "events", "json: invalid JSON (Unterminated string starting at, column 16)"),
        (14, "events", "json: not a JSON object (an array)"),
        (15, "events", "user_id: an object where a value was expected"),
        (4, "orders", "currency: the purchase has no 'currency' event parameter (pass currency='EUR' or another code)"),
        (5, "orders", "order_id: duplicate transaction_id (an earlier purchase event has it)"),
        (16, "orders", "amount: negative amount (a refund or cancellation)"),
    ]
    report = ds.report
    assert report is not None
    summary = report.summary().select("table", "read", "loaded", "rejected").rows()
    # 15 records (16 lines, one blank); 4 purchases with a transaction id ("(not set)" is none)
    assert summary == [("events", 15, 7, 8), ("orders", 4, 1, 3)]


def test_currency_option_and_usd_revenue(read: Callable[..., rl.Dataset], fixtures: Path) -> None:
    with_default = read("ga4", fixtures / FIXTURE, currency="usd")
    assert with_default.orders is not None
    orders = with_default.orders.collect()
    assert orders.select("order_id", "amount", "currency").rows() == [
        ("T1", Decimal("31"), "EUR"),  # its own currency parameter wins
        ("T2", Decimal("12.5"), "USD"),
    ]
    usd = read("ga4", fixtures / FIXTURE, revenue="usd")
    assert usd.orders is not None
    assert usd.orders.collect().select("order_id", "amount", "currency").rows() == [
        ("T1", Decimal("33.57"), "USD"),
        ("T2", Decimal("13.54"), "USD"),
    ]


def test_identity_options(read: Callable[..., rl.Dataset], fixtures: Path) -> None:
    signed_in = read("ga4", fixtures / FIXTURE, identity="user_id")
    assert set(_events(signed_in)["customer_id"]) == {"u1", "u5"}
    assert signed_in.report is not None
    missing = "user_id: missing (identity='user_id' reads only events of signed-in users)"
    rejects = signed_in.report.rejects.filter(pl.col("reason") == missing)
    # p2.2's session start and purchase, the event without any id; and p2.2's purchase as an order
    assert rejects.select("line", "table").sort("table", "line").rows() == [
        (2, "events"),
        (4, "events"),
        (11, "events"),
        (4, "orders"),
    ]
    pseudo = read("ga4", fixtures / FIXTURE, identity="pseudo")
    assert set(_events(pseudo)["customer_id"]) == {"p1.1", "p2.2", "p5.5"}


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"identity": "email"}, "identity"),
        ({"revenue": "eur"}, "revenue"),
        ({"currency": "EURO"}, "currency"),
        ({"currency": 5}, "currency"),
        ({"params": "event"}, "params"),
        ({"params": "a,a"}, "params"),
        ({"params": "it's"}, "params"),
        ({"params": 3}, "params"),
    ],
)
def test_bad_options(read: Callable[..., rl.Dataset], fixtures: Path, options: dict[str, Any], option: str) -> None:
    with pytest.raises(OptionError) as caught:
        read("ga4", fixtures / FIXTURE, **options)
    assert caught.value.option == option


def _nested_rows() -> pl.DataFrame:
    """Two exported rows as a BigQuery Parquet export types them (INT64s as integers, FLOAT64s as floats)."""
    value = pl.Struct(
        {"string_value": pl.String, "int_value": pl.Int64, "float_value": pl.Float64, "double_value": pl.Float64}
    )
    params = pl.List(pl.Struct({"key": pl.String, "value": value}))
    return pl.DataFrame(
        {
            "event_date": ["20240304", "20240304"],
            "event_timestamp": [1709542800000000, 1709546400000000],
            "event_name": ["page_view", "purchase"],
            "event_params": [
                [{"key": "ga_session_id", "value": {"int_value": 1709542000}}],
                [
                    {"key": "currency", "value": {"string_value": "EUR"}},
                    {"key": "value", "value": {"double_value": 9.99}},
                ],
            ],
            "user_id": [None, "u1"],
            "user_pseudo_id": ["p1.1", "p1.1"],
            "ecommerce": [None, {"transaction_id": "T9", "purchase_revenue": 9.99, "purchase_revenue_in_usd": 10.8}],
        },
        schema={
            "event_date": pl.String,
            "event_timestamp": pl.Int64,
            "event_name": pl.String,
            "event_params": params,
            "user_id": pl.String,
            "user_pseudo_id": pl.String,
            "ecommerce": pl.Struct(
                {"transaction_id": pl.String, "purchase_revenue": pl.Float64, "purchase_revenue_in_usd": pl.Float64}
            ),
        },
    )


def test_parquet_export(read: Callable[..., rl.Dataset], tmp_path: Path) -> None:
    path = tmp_path / "events_20240304.parquet"
    _nested_rows().write_parquet(path)
    ds = read("ga4", path, params=["ga_session_id", "value"])
    events = _events(ds)
    assert events.rows() == [
        ("p1.1", _at(2024, 3, 4, 9), "page_view", "1709542000", None),
        ("u1", _at(2024, 3, 4, 10), "purchase", None, "9.99"),
    ]
    assert ds.orders is not None
    assert ds.orders.collect().rows() == [("T9", "u1", _at(2024, 3, 4, 10), Decimal("9.99"), "EUR")]
    assert rl.read(path).source == "ga4"  # detected


def test_parquet_and_json_of_the_same_rows_agree(read: Callable[..., rl.Dataset], tmp_path: Path) -> None:
    rows = _nested_rows()
    rows.write_parquet(tmp_path / "a.parquet")
    # BigQuery's JSON export writes INT64s as strings and FLOAT64s as numbers
    as_json = rows.with_columns(pl.col("event_timestamp").cast(pl.String))
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(r) for r in as_json.to_dicts()) + "\n")
    one, two = read("ga4", tmp_path / "a.parquet"), read("ga4", tmp_path / "a.jsonl")
    assert_frame_equal(_events(one), _events(two))
    assert one.orders is not None and two.orders is not None
    assert_frame_equal(one.orders.collect(), two.orders.collect())


def test_parquet_that_is_not_a_ga4_export(read: Callable[..., rl.Dataset], tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    pl.DataFrame({"a": [1]}).write_parquet(path)
    with pytest.raises(SourceError, match="no column event_timestamp"):
        read("ga4", path)
    bad = tmp_path / "y.parquet"
    _nested_rows().with_columns(pl.lit([1]).alias("event_params")).write_parquet(bad)
    with pytest.raises(SourceError, match="event_params"):
        read("ga4", bad)


def test_gzipped_export_and_intraday_table(read: Callable[..., rl.Dataset], fixtures: Path, tmp_path: Path) -> None:
    text = (fixtures / FIXTURE).read_bytes()
    (tmp_path / "events_20240304.json.gz").write_bytes(gzip.compress(text))
    (tmp_path / "events_intraday_20240304.jsonl").write_bytes(text)
    ds = read("ga4", tmp_path / "events_20240304.json.gz", tmp_path / "events_intraday_20240304.jsonl")
    assert ds.report is not None
    # the intraday table repeats the day: each of its 8 well-formed events (line 7 repeating line 1 among
    # them) is a duplicate of one of the daily table's 7 events
    assert _events(ds).height == 7
    intraday = ds.report.rejects.filter(pl.col("file").str.contains("intraday"))
    duplicates = intraday.filter(pl.col("reason").str.starts_with("event: duplicate event"))
    assert duplicates["line"].to_list() == [1, 2, 3, 4, 5, 6, 7, 16]
    assert ds.report.rows_read == ds.report.rows_loaded + ds.report.rows_rejected


def test_real_samples_load(read: Callable[..., rl.Dataset], shared_data: Path) -> None:
    folder = shared_data / "formats" / "ga4"
    files = sorted(folder.glob("*.jsonl"))
    assert len(files) == 2
    records = [json.loads(line) for f in files for line in f.read_text().splitlines() if line.strip()]
    ds = read("ga4", *files)
    assert ds.report is not None and ds.report.rows_rejected == 0
    events = _events(ds)
    # computed independently: event_timestamp (microseconds, as strings) -> instants; pseudo ids (no user_id)
    assert sorted(events.rows()) == sorted(
        (
            r["user_id"] or r["user_pseudo_id"],
            dt.datetime(1970, 1, 1, tzinfo=UTC) + dt.timedelta(microseconds=int(r["event_timestamp"])),
            r["event_name"],
        )
        for r in records
    )
    purchases = [r for r in records if r["event_name"] == "purchase"]
    assert ds.orders is not None
    orders = ds.orders.collect()
    currency = {p["key"]: p["value"]["string_value"] for p in purchases[0]["event_params"]}["currency"]
    assert orders.rows() == [
        (
            purchases[0]["ecommerce"]["transaction_id"],
            purchases[0]["user_pseudo_id"],
            events.filter(pl.col("event") == "purchase")["occurred_at"].item(),
            Decimal(purchases[0]["ecommerce"]["purchase_revenue"]),
            currency,
        )
    ]


def test_retention_on_read_events_equals_retention_on_hand_built_events(
    read: Callable[..., rl.Dataset], fixtures: Path
) -> None:
    ds = read("ga4", fixtures / FIXTURE)
    by_hand = pl.DataFrame(
        {
            "customer_id": ["u1", "p2.2", "u1", "p2.2", "u1", "u1", "u5"],
            "occurred_at": [
                _at(2024, 3, 4, 9),
                _at(2024, 3, 4, 23, 30),
                _at(2024, 3, 5, 10),
                _at(2024, 3, 5, 11),
                _at(2024, 3, 5, 12),
                _at(2024, 3, 5, 13),
                _at(2024, 3, 5, 14, 46, 40),
            ],
            "event": ["page_view", "session_start", *["purchase"] * 5],
        },
        schema=EVENTS.schema,
    )
    for period in ("day", "week"):
        assert_frame_equal(
            rl.cohort_retention(ds, table="events", period=period), rl.cohort_retention(by_hand, period=period)
        )
        assert_frame_equal(
            rl.retention_rate(ds, table="events", period=period), rl.retention_rate(by_hand, period=period)
        )
    daily = rl.cohort_retention(by_hand, period="day")
    # 4 March: u1 and p2.2, both back on the 5th; 5 March: u5 alone
    assert daily.select("cohort", "period_number", "cohort_size", "active").rows() == [
        (dt.date(2024, 3, 4), 0, 2, 2),
        (dt.date(2024, 3, 4), 1, 2, 2),
        (dt.date(2024, 3, 5), 0, 1, 1),
    ]


def _quirky_rows() -> pl.DataFrame:
    """Exported rows as a BigQuery Parquet export types them, with every reason to reject one among them."""
    frame = _nested_rows()
    stamp, day = 1709546400000000, "20240304"
    extra = pl.DataFrame(
        {
            "event_date": [day, day, day, day, "2024-03-04", day, day, day],
            "event_timestamp": [stamp, None, stamp, 1709546400000, stamp, stamp + 1, stamp + 2, stamp + 2],
            "event_name": ["purchase", "page_view", None, "page_view", "page_view", "purchase", "scroll", "scroll"],
            "event_params": [
                [
                    {"key": "currency", "value": {"string_value": "EUR"}},
                    {"key": "value", "value": {"double_value": 9.99}},
                ],  # a copy of the purchase above: a duplicate event and a duplicate transaction
                [],
                None,
                [{"key": "value", "value": {"int_value": 3}}],
                [{"key": "value", "value": {"double_value": 0.5}}],
                [{"key": "value", "value": {"double_value": -2.5}}],  # no currency
                [{"key": "value", "value": {"int_value": 1}}],
                [{"key": "value", "value": {"int_value": 2}}],  # same fields as the event before, other parameters
            ],
            "user_id": ["u1", None, "u2", None, None, "u3", "u4", "u4"],
            "user_pseudo_id": ["p1.1", "p2.2", "p2.2", "p3.3", "(not set)", "p3.3", "p4.4", "p4.4"],
            "ecommerce": [
                {"transaction_id": "T9", "purchase_revenue": 9.99, "purchase_revenue_in_usd": 10.8},
                None,
                None,
                None,
                None,
                {"transaction_id": "T10", "purchase_revenue": -2.5, "purchase_revenue_in_usd": None},
                None,
                None,
            ],
        },
        schema=frame.schema,
    )
    return pl.concat([frame, extra])


def test_parquet_and_json_lines_give_the_same_dataset_and_report(
    read: Callable[..., rl.Dataset], tmp_path: Path
) -> None:
    rows = _quirky_rows()
    rows.write_parquet(tmp_path / "events.parquet")
    as_json = rows.with_columns(pl.col("event_timestamp").cast(pl.String))
    (tmp_path / "events.jsonl").write_text("\n".join(json.dumps(r) for r in as_json.to_dicts()) + "\n")
    one = read("ga4", tmp_path / "events.parquet", params="value,currency")
    two = read("ga4", tmp_path / "events.jsonl", params="value,currency")
    assert_frame_equal(_events(one), _events(two))
    assert one.orders is not None and two.orders is not None
    assert_frame_equal(one.orders.collect(), two.orders.collect())
    assert one.report is not None and two.report is not None
    assert_frame_equal(one.report.rejects.drop("file"), two.report.rejects.drop("file"))
    assert_frame_equal(one.report.summary().drop("file"), two.report.summary().drop("file"))
    # worked out by hand: rows 3 to 7 and 9 rejected, rows 1, 2, 8 and 10 loaded (10: other parameters)
    assert _events(one).select("customer_id", "value").rows() == [
        ("p1.1", None),
        ("u1", "9.99"),
        ("u3", "-2.5"),
        ("u4", "1"),
        ("u4", "2"),
    ]
    assert _rejects(one) == [
        (
            3,
            "events",
            "event: duplicate event (the same event was read earlier: a daily and an intraday table, "
            "or one file read twice)",
        ),
        (4, "events", "event_timestamp: missing"),
        (5, "events", "event_name: missing"),
        (6, "events", FAR_FROM_DATE),
        (7, "events", "event_date: not a YYYYMMDD date; user_pseudo_id: neither a user_id nor a user_pseudo_id"),
        (3, "orders", "order_id: duplicate transaction_id (an earlier purchase event has it)"),
        (
            8,
            "orders",
            "amount: negative amount (a refund or cancellation); currency: the purchase has no "
            "'currency' event parameter (pass currency='EUR' or another code)",
        ),
    ]
    # read together, every event of the second file loaded alone is a duplicate (of the first file): the keys agree
    both = read("ga4", tmp_path / "events.parquet", tmp_path / "events.jsonl")
    assert both.report is not None
    again = both.report.rejects.filter(pl.col("file").str.ends_with(".jsonl") & (pl.col("table") == "events"))
    assert again.filter(pl.col("reason").str.starts_with("event: duplicate"))["line"].to_list() == [1, 2, 3, 8, 9, 10]


def test_parameters_written_differently_stay_apart(read: Callable[..., rl.Dataset], tmp_path: Path) -> None:
    def line(value: object) -> str:
        params = [{"key": "value", "value": {"double_value": value}}]
        row = {"event_date": "20240304", "event_timestamp": "1709542800000000", "event_name": "scroll"}
        return json.dumps({**row, "user_pseudo_id": "p1", "event_params": params})

    path = tmp_path / "events.jsonl"
    path.write_text("\n".join([line("9.5"), line("9.50"), line(9.5), line("9.50")]) + "\n")
    ds = read("ga4", path, params="value")
    # "9.5" and 9.5 are one value written alike (line 3 repeats line 1); "9.50" is another text (line 4 repeats 2)
    assert _events(ds)["value"].to_list() == ["9.5", "9.50"]
    assert [line for line, _, _ in _rejects(ds)] == [3, 4]
