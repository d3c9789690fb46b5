"""``retainlib.testing``: its strategies draw canonical tables that ``Dataset`` accepts, its asserts catch faults."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

import retainlib
from retainlib import testing
from retainlib.errors import OptionError
from retainlib.load_report import FileLoad, LoadReport
from retainlib.tables import TABLES

UTC = dt.UTC
POOL = ["ann", "bob", "cy", "dee"]

#: For ``find``: no shrinking (shrinking polars frames is slow), no example database, fixed seed.
FIND_SETTINGS = settings(max_examples=500, database=None, phases=[Phase.generate])

STRATEGIES: dict[str, Callable[..., st.SearchStrategy[pl.DataFrame]]] = {
    "customers": testing.customers,
    "orders": testing.orders,
    "subscriptions": testing.subscriptions,
    "tickets": testing.tickets,
    "responses": testing.responses,
    "events": testing.events,
}


def _find(strategy: st.SearchStrategy[pl.DataFrame], condition: Callable[[pl.DataFrame], bool]) -> pl.DataFrame:
    """An example satisfying ``condition``: proof that the strategy produces that case."""
    return find(strategy, condition, settings=FIND_SETTINGS, random=random.Random(0))


def _dataset(table: str, frame: pl.DataFrame) -> retainlib.Dataset:
    tables: dict[str, Any] = {table: frame}
    return retainlib.Dataset(**tables, validate="full")


# --- every strategy draws canonical tables -----------------------------------------------


@pytest.mark.parametrize("table", list(STRATEGIES))
@given(data=st.data())
def test_strategies_draw_canonical_tables_that_dataset_accepts(table: str, data: st.DataObject) -> None:
    frame = data.draw(STRATEGIES[table](max_size=30), label=table)
    testing.assert_canonical(frame, table)
    assert frame.schema == TABLES[table].schema
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Datetime):
            assert dtype.time_zone == "UTC", name
    ds = _dataset(table, frame)
    # canonical input is a fixed point of validation
    assert ds.tables[table].collect().equals(frame)


@given(
    customers=testing.customers(max_size=4, customers=POOL),
    orders=testing.orders(max_size=15, customers=POOL, currencies=("EUR",)),
    subscriptions=testing.subscriptions(max_size=15, customers=POOL, currencies=("EUR",)),
    tickets=testing.tickets(max_size=15, customers=POOL),
    responses=testing.responses(max_size=15, customers=POOL),
    events=testing.events(max_size=15, customers=POOL),
)
def test_a_whole_dataset_is_accepted(
    customers: pl.DataFrame,
    orders: pl.DataFrame,
    subscriptions: pl.DataFrame,
    tickets: pl.DataFrame,
    responses: pl.DataFrame,
    events: pl.DataFrame,
) -> None:
    ds = retainlib.Dataset(
        customers=customers,
        orders=orders,
        subscriptions=subscriptions,
        tickets=tickets,
        responses=responses,
        events=events,
        validate="full",
    )
    given_frames = [customers, orders, subscriptions, tickets, responses, events]
    assert ds.counts() == {name: frame.height for name, frame in zip(TABLES, given_frames, strict=True)}
    assert set(ds.currencies()) <= {"EUR"}
    for name, frame in ds.tables.items():
        testing.assert_canonical(frame, name)
        assert set(frame.collect()["customer_id"]) <= set(POOL)


# --- what the strategies draw -----------------------------------------------------------


@given(
    testing.orders(
        min_size=3,
        max_size=10,
        customers=2,
        currencies=("USD", "JPY"),
        start=dt.datetime(2024, 1, 1, tzinfo=UTC),
        end=dt.datetime(2024, 4, 1, tzinfo=UTC),
        max_amount=20,
    )
)
def test_orders_follow_their_options(frame: pl.DataFrame) -> None:
    assert 3 <= frame.height <= 10
    assert set(frame["customer_id"]) <= {"c1", "c2"}
    assert set(frame["currency"]) <= {"USD", "JPY"}
    assert frame["ordered_at"].min() >= dt.datetime(2024, 1, 1, tzinfo=UTC)  # type: ignore[operator]
    assert frame["ordered_at"].max() < dt.datetime(2024, 4, 1, tzinfo=UTC)  # type: ignore[operator]
    for amount in frame["amount"]:
        assert Decimal(0) <= amount <= 20
        assert amount == amount.quantize(Decimal("0.01"))  # at most two places
    assert frame["order_id"].is_unique().all()


@given(testing.subscriptions(max_size=40, customers=3, currencies=("USD", "EUR")))
def test_subscription_segments_do_not_overlap(frame: pl.DataFrame) -> None:
    for (_,), segments in frame.sort("started_at").group_by(["customer_id"], maintain_order=True):
        rows = segments.rows(named=True)
        assert segments["currency"].n_unique() == 1
        for before, after in itertools.pairwise(rows):
            assert before["ended_at"] is not None, "only the last segment may still run"
            assert before["started_at"] < before["ended_at"] <= after["started_at"]
        assert rows[-1]["ended_at"] is None or rows[-1]["started_at"] < rows[-1]["ended_at"]
    assert (frame["mrr"] >= 0).all()


@given(testing.tickets(max_size=30))
def test_only_solved_tickets_are_rated(frame: pl.DataFrame) -> None:
    unsolved = frame.filter(pl.col("solved_at").is_null())
    assert unsolved["satisfaction"].null_count() == unsolved.height
    assert (frame["solved_at"] < testing.DEFAULT_END).all()


@given(testing.customers(max_size=100, customers=7))
def test_customers_are_distinct_ids_of_the_pool(frame: pl.DataFrame) -> None:
    assert frame.height <= 7
    assert set(frame["customer_id"]) <= set(testing.customer_ids(7))
    emails = frame["email"].drop_nulls()
    assert emails.is_unique().all()
    assert (emails == emails.str.to_lowercase()).all()


@given(testing.timestamps(dt.datetime(2024, 1, 31, 12, tzinfo=UTC), dt.datetime(2024, 3, 1, tzinfo=UTC)))
def test_timestamps_stay_in_range(t: dt.datetime) -> None:
    assert t.tzinfo is UTC
    assert dt.datetime(2024, 1, 31, 12, tzinfo=UTC) <= t < dt.datetime(2024, 3, 1, tzinfo=UTC)


def test_timestamps_accept_other_zones_and_a_tiny_range() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    start = dt.datetime(2024, 3, 1, 1, tzinfo=paris)  # = 2024-03-01 00:00 UTC
    t = find(testing.timestamps(start, start + dt.timedelta(microseconds=1)), lambda _: True)
    assert t == dt.datetime(2024, 3, 1, tzinfo=UTC)
    assert t.tzinfo is UTC


# --- edge cases do come up --------------------------------------------------------------


def _at_month_start(column: str) -> Callable[[pl.DataFrame], bool]:
    def check(frame: pl.DataFrame) -> bool:
        t = frame[column]
        return bool(((t.dt.day() == 1) & (t.dt.time() == dt.time(0))).any())

    return check


def test_timestamps_land_exactly_on_month_starts() -> None:
    _find(testing.orders(), _at_month_start("ordered_at"))
    _find(testing.events(), _at_month_start("occurred_at"))
    _find(testing.subscriptions(), _at_month_start("started_at"))
    last_microsecond = find(
        testing.timestamps(),
        lambda t: (t + dt.timedelta(microseconds=1)).day == 1 and t.day != 1,
        settings=FIND_SETTINGS,
        random=random.Random(0),
    )
    assert last_microsecond.time() == dt.time(23, 59, 59, 999_999)


def test_ties_and_repeat_customers_come_up() -> None:
    _find(testing.orders(), lambda f: f["ordered_at"].is_duplicated().any())
    _find(testing.orders(), lambda f: f.select(pl.struct("customer_id", "ordered_at").is_duplicated().any()).item())
    _find(testing.responses(), lambda f: f["responded_at"].is_duplicated().any())
    _find(testing.tickets(), lambda f: (f["solved_at"] == f["opened_at"]).any())


def test_amount_edge_cases_come_up() -> None:
    _find(testing.orders(), lambda f: (f["amount"] == 0).any())
    _find(testing.orders(), lambda f: (f["amount"] == Decimal("0.01")).any())
    _find(testing.orders(max_amount=50), lambda f: (f["amount"] == 50).any())


def test_subscription_shapes_come_up() -> None:
    def contiguous(frame: pl.DataFrame) -> bool:
        prev_end = pl.col("ended_at").shift().over("customer_id", order_by="started_at")
        return frame.filter(pl.col("started_at") == prev_end).height > 0

    def gap(frame: pl.DataFrame) -> bool:
        prev_end = pl.col("ended_at").shift().over("customer_id", order_by="started_at")
        return frame.filter(pl.col("started_at") > prev_end).height > 0

    _find(testing.subscriptions(), contiguous)
    _find(testing.subscriptions(), gap)
    _find(testing.subscriptions(), lambda f: f["ended_at"].null_count() > 0)
    _find(testing.subscriptions(), lambda f: f["ended_at"].null_count() < f.height)


def test_empty_tables_can_be_drawn() -> None:
    for table, strategy in STRATEGIES.items():
        frame = _find(strategy(), lambda f: f.height == 0)
        testing.assert_canonical(frame, table)
        assert _dataset(table, frame).counts() == {table: 0}


# --- bad options ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: testing.orders(min_size=5, max_size=2), id="sizes"),
        pytest.param(lambda: testing.orders(min_size=-1), id="negative size"),
        pytest.param(lambda: testing.orders(currencies=("usd",)), id="lower-case currency"),
        pytest.param(lambda: testing.orders(currencies="USD"), id="currency string"),
        pytest.param(lambda: testing.orders(currencies=()), id="no currency"),
        pytest.param(lambda: testing.orders(customers=0), id="no customer"),
        pytest.param(lambda: testing.orders(customers=["a", " "]), id="blank id"),
        pytest.param(lambda: testing.orders(max_amount=Decimal("0.001")), id="3 places"),
        pytest.param(lambda: testing.timestamps(dt.datetime(2024, 1, 1), dt.datetime(2025, 1, 1)), id="naive"),
        pytest.param(
            lambda: testing.timestamps(dt.datetime(2025, 1, 1, tzinfo=UTC), dt.datetime(2024, 1, 1, tzinfo=UTC)),
            id="end before start",
        ),
        pytest.param(lambda: testing.customers(min_size=5, customers=3), id="pool too small"),
        pytest.param(lambda: testing.events(names=()), id="no event name"),
        pytest.param(lambda: testing.amounts(10, 1), id="amount bounds"),
    ],
)
def test_bad_strategy_options_raise_option_error(make: Callable[[], object]) -> None:
    with pytest.raises(OptionError):
        make()


def test_customer_ids() -> None:
    assert testing.customer_ids(3) == ["c1", "c2", "c3"]
    assert testing.customer_ids(["b", "a", "b"]) == ["b", "a"]


# --- assert_canonical -------------------------------------------------------------------


def _orders_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "order_id": ["o1", "o2"],
            "customer_id": ["c1", "c2"],
            "ordered_at": [dt.datetime(2024, 3, 1, tzinfo=UTC), dt.datetime(2024, 3, 2, tzinfo=UTC)],
            "amount": [Decimal("9.90"), Decimal("0")],
            "currency": ["USD", "USD"],
        },
        schema=TABLES["orders"].schema,
    )


def test_assert_canonical_accepts_canonical_frames() -> None:
    frame = _orders_frame()
    testing.assert_canonical(frame, "orders")
    testing.assert_canonical(frame.lazy(), TABLES["orders"])
    testing.assert_canonical(frame.with_columns(channel=pl.lit("web")), "orders", extra=True)
    testing.assert_canonical(TABLES["events"].schema_frame(), "events")


BROKEN: list[Any] = [
    pytest.param(lambda f: f.drop("currency"), "missing column(s): currency", id="missing"),
    pytest.param(lambda f: f.with_columns(pl.col("amount").cast(pl.Float64)), "amount: type Float64", id="float"),
    pytest.param(
        lambda f: f.with_columns(pl.col("ordered_at").dt.replace_time_zone(None)), "ordered_at: type", id="naive"
    ),
    pytest.param(lambda f: f.with_columns(pl.col("ordered_at").dt.cast_time_unit("ns")), "ordered_at: type", id="ns"),
    pytest.param(lambda f: f.select(reversed(f.columns)), "canonical columns must come first", id="order"),
    pytest.param(lambda f: f.with_columns(channel=pl.lit("web")), "extra column(s) ['channel']", id="extra"),
    pytest.param(lambda f: f.with_columns(order_id=pl.lit("o1")), "order_id: duplicate key(s) 'o1'", id="dup"),
    pytest.param(
        lambda f: f.with_columns(customer_id=pl.lit(None, pl.String)), "customer_id: 2 null value(s)", id="null"
    ),
    pytest.param(lambda f: f.with_columns(customer_id=pl.lit(" ")), "customer_id: empty id", id="blank id"),
    pytest.param(lambda f: f.with_columns(currency=pl.lit("usd")), "currency: not an ISO 4217 code", id="currency"),
]


@pytest.mark.parametrize(("breaking", "message"), BROKEN)
def test_assert_canonical_reports_problems(breaking: Callable[[pl.DataFrame], pl.DataFrame], message: str) -> None:
    with pytest.raises(AssertionError, match="not a canonical orders table") as info:
        testing.assert_canonical(breaking(_orders_frame()), "orders")
    assert message in str(info.value)


def test_assert_canonical_checks_row_rules_of_every_table() -> None:
    t0, t1 = dt.datetime(2024, 3, 2, tzinfo=UTC), dt.datetime(2024, 3, 1, tzinfo=UTC)
    subs = pl.DataFrame(
        [("s1", "c1", t0, t1, Decimal("-1"), "USD")], schema=TABLES["subscriptions"].schema, orient="row"
    )
    with pytest.raises(AssertionError) as info:
        testing.assert_canonical(subs, "subscriptions")
    assert "ended_at: before started_at (1 row(s))" in str(info.value)
    assert "mrr: negative" in str(info.value)
    tickets = pl.DataFrame([("t1", "c1", t0, t1, "good")], schema=TABLES["tickets"].schema, orient="row")
    with pytest.raises(AssertionError, match="solved_at: before opened_at"):
        testing.assert_canonical(tickets, "tickets")
    responses = pl.DataFrame([("r1", "c1", t0, 11)], schema=TABLES["responses"].schema, orient="row")
    with pytest.raises(AssertionError, match=r"score: outside 0..10 \(1 row\(s\)\): 11"):
        testing.assert_canonical(responses, "responses")
    customers = pl.DataFrame(
        [("c1", t0, " Ann@Example.com", None), ("c2", t0, "", None)], schema=TABLES["customers"].schema, orient="row"
    )
    with pytest.raises(AssertionError) as info:
        testing.assert_canonical(customers, "customers")
    assert "email: not normalised" in str(info.value)
    assert "email: empty e-mail (use null)" in str(info.value)


def test_assert_canonical_rejects_non_frames_and_unknown_tables() -> None:
    with pytest.raises(AssertionError, match="expected a polars DataFrame"):
        testing.assert_canonical(_orders_frame().to_dicts(), "orders")  # type: ignore[arg-type]
    with pytest.raises(OptionError):
        testing.assert_canonical(_orders_frame(), "order")


# --- assert_report_balanced -------------------------------------------------------------


def test_assert_report_balanced_on_a_real_read(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_id,customer_id,ordered_at,amount,currency\n"
        "o1,c1,2024-03-01T10:00:00Z,9.90,USD\n"
        "o2,c2,yesterday,1.00,USD\n"
        "o3,c3,2024-03-02T10:00:00Z,abc,usd\n",
        encoding="utf-8",
    )
    ds = retainlib.read("csv", path)
    testing.assert_report_balanced(ds)
    assert ds.report is not None
    testing.assert_report_balanced(ds.report)
    assert (ds.report.rows_read, ds.report.rows_loaded, ds.report.rows_rejected) == (3, 1, 2)


def _rejects(file: str, lines: list[int]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "file": [file] * len(lines),
            "line": lines,
            "table": ["orders"] * len(lines),
            "column": ["amount"] * len(lines),
            "reason": ["amount: not a number"] * len(lines),
        }
    )


@pytest.mark.parametrize(
    ("load", "message"),
    [
        pytest.param(
            FileLoad(file="a.csv", table="orders", rows_read=3, rows_loaded=1, rejected=_rejects("a.csv", [2])),
            "a.csv -> orders: 3 read != 1 loaded + 1 rejected",
            id="unbalanced",
        ),
        pytest.param(
            FileLoad(file="a.csv", table="orders", rows_read=2, rows_loaded=1, rejected=_rejects("b.csv", [2])),
            "rejected rows name other file(s) 'b.csv'",
            id="other file",
        ),
        pytest.param(
            FileLoad(file="a.csv", table="orders", rows_read=3, rows_loaded=1, rejected=_rejects("a.csv", [2, 2])),
            "line(s) rejected twice: 2",
            id="line twice",
        ),
        pytest.param(
            FileLoad(file="a.csv", table="orders", rows_read=-1, rows_loaded=-1),
            "negative count",
            id="negative",
        ),
    ],
)
def test_assert_report_balanced_reports_problems(load: FileLoad, message: str) -> None:
    with pytest.raises(AssertionError, match="unbalanced load report from source 'csv'") as info:
        testing.assert_report_balanced(LoadReport(source="csv", files=(load,)))
    assert message in str(info.value)


def test_assert_report_balanced_needs_a_report() -> None:
    testing.assert_report_balanced(LoadReport(source="none"))
    with pytest.raises(AssertionError, match="no load report"):
        testing.assert_report_balanced(retainlib.Dataset())


def test_a_line_holding_several_records_may_be_rejected_several_times() -> None:
    from retainlib.load_report import FileLoad, LoadReport
    from retainlib.testing import assert_report_balanced

    rejected = pl.DataFrame(
        {"file": ["a.jsonl"] * 2, "line": [3, 3], "table": ["orders"] * 2, "column": ["*"] * 2, "reason": ["x", "y"]}
    )
    report = LoadReport(source="s", files=[FileLoad(file="a.jsonl", table="orders", rows_read=3, rows_loaded=1,
                                                    rejected=rejected)])  # fmt: skip
    with pytest.raises(AssertionError, match="rejected twice"):
        assert_report_balanced(report)
    assert_report_balanced(report, records_per_line=True)
