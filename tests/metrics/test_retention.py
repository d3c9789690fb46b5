"""retention_rate, cohort_retention, triangle, repeat_purchase_rate, returning_customer_rate."""

from __future__ import annotations

import datetime as dt
import functools
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import retainlib as rl
from retainlib.calendar import PeriodName
from retainlib.errors import CurrencyError, DataError, OptionError, SchemaError
from retainlib.metrics import _common
from retainlib.metrics.retention import CohortKind
from retainlib.samples import synthetic_store, synthetic_tables
from retainlib.tables import MONEY, TIMESTAMP

sys.path.insert(0, str(Path(__file__).parent))
import reference as ref
from frames import orders_with_a_placeholder as _store_with_a_placeholder

UTC = dt.UTC
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "America/Santiago"]
PERIODS: list[PeriodName] = ["day", "week", "month", "quarter", "year"]
KINDS: list[CohortKind] = ["classic", "rolling"]
REVENUE_COLUMNS = ("revenue", "revenue_retention", "cumulative_revenue_per_customer")


@pytest.fixture(autouse=True, scope="module", params=["mask", "rows"])
def plan(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test runs with both plans: the per-customer bit masks and the (customer, period) rows."""
    saved = _common.MASK_PERIODS
    if request.param == "rows":
        _common.MASK_PERIODS = 0
    yield request.param
    _common.MASK_PERIODS = saved


def frame(orders: list[ref.Order]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "order_id": [f"o{i}" for i in range(len(orders))],
            "customer_id": [o.customer for o in orders],
            "ordered_at": pl.Series([o.at for o in orders], dtype=TIMESTAMP),
            "amount": pl.Series([o.amount for o in orders], dtype=MONEY),
            "currency": ["EUR"] * len(orders),
            "segment": [o.segment for o in orders],
        },
        schema_overrides={"customer_id": pl.String, "currency": pl.String, "segment": pl.String},
    )


# Timestamps: anywhere in a few months, plus exact month/day boundaries (UTC and local).
boundaries = [dt.datetime(2024, m, 1, tzinfo=UTC) for m in (1, 2, 3, 4)] + [
    dt.datetime(2024, 3, 31, 22, tzinfo=UTC),
    dt.datetime(2024, 2, 29, 23, 0, tzinfo=UTC),
]
moments = st.one_of(
    st.datetimes(min_value=dt.datetime(2023, 12, 20), max_value=dt.datetime(2024, 4, 10), timezones=st.just(UTC)),
    st.sampled_from(boundaries),
)
orders_st = st.lists(
    st.builds(
        ref.Order,
        customer=st.sampled_from(["a", "b", "c", "d", "e"]),
        at=moments,
        amount=st.decimals(min_value=0, max_value=500, places=2),
        segment=st.sampled_from(["x", "y", None]),  # a null segment is a segment of its own
    ),
    max_size=25,
)


def rows(df: pl.DataFrame) -> list[dict[str, Any]]:
    return df.to_dicts()


def approx_rows(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert set(g) == set(w)
        for key, value in w.items():
            if isinstance(value, float):
                assert g[key] == pytest.approx(value, rel=1e-12), key
            else:
                assert g[key] == value, (key, g, w)


@given(
    orders=orders_st,
    period=st.sampled_from(PERIODS),
    tz=st.sampled_from(ZONES),
    week_start=st.integers(0, 6),
    use_as_of=st.booleans(),
)
def test_retention_rate_matches_reference(
    orders: list[ref.Order], period: PeriodName, tz: str, week_start: int, use_as_of: bool
) -> None:
    as_of = dt.datetime(2024, 3, 1, tzinfo=UTC) if use_as_of else None
    got = rl.retention_rate(frame(orders), period=period, tz=tz, week_start=week_start, as_of=as_of)
    want = ref.retention_rate(orders, period=period, tz=tz, week_start=week_start, as_of=as_of)
    approx_rows(rows(got), want)
    for r in got.iter_rows(named=True):  # the identity of the spec
        assert r["end"] == r["retained"] + r["new"] + r["reactivated"]


@given(
    orders=orders_st,
    period=st.sampled_from(PERIODS[1:4]),
    tz=st.sampled_from(ZONES),
    kind=st.sampled_from(KINDS),
)
def test_cohort_retention_matches_reference(
    orders: list[ref.Order], period: PeriodName, tz: str, kind: CohortKind
) -> None:
    got = rl.cohort_retention(frame(orders), period=period, tz=tz, kind=kind, revenue=True)
    want = ref.cohort_retention(orders, period=period, tz=tz, kind=kind)
    approx_rows(rows(got), want)
    # Without revenue=True the same rows come without the three revenue columns.
    counts = rl.cohort_retention(frame(orders), period=period, tz=tz, kind=kind)
    assert counts.equals(got.drop(*REVENUE_COLUMNS))


@given(
    orders=orders_st,
    tz=st.sampled_from(ZONES),
    period=st.sampled_from(PERIODS[1:4]),
    use_as_of=st.booleans(),
)
def test_repeat_and_returning_match_reference(
    orders: list[ref.Order], tz: str, period: PeriodName, use_as_of: bool
) -> None:
    as_of = dt.datetime(2024, 3, 1, tzinfo=UTC) if use_as_of else None
    customers, repeaters = ref.repeat_purchase_rate(orders, as_of)
    got = rl.repeat_purchase_rate(frame(orders), tz=tz, as_of=as_of)
    # One overall row; with no customers the rate is null (zero denominator).
    assert got.row(0) == (customers, repeaters, repeaters / customers if customers else None)
    for within in (0, 1, 2):
        cohort = rl.repeat_purchase_rate(frame(orders), within=within, period=period, tz=tz, as_of=as_of)
        assert cohort.select("cohort", "customers", "repeat_customers").rows() == ref.repeat_within(
            orders, period=period, tz=tz, within=within, as_of=as_of
        )
    returning = rl.returning_customer_rate(frame(orders), period=period, tz=tz, as_of=as_of)
    assert returning.select("period", "customers", "returning_customers").rows() == ref.returning_customer_rate(
        orders, period=period, tz=tz, as_of=as_of
    )


def test_repeat_and_returning_by_hand() -> None:
    """Two orders in the first period make a customer returning there and a repeat buyer within 0 periods."""
    at = [
        ("a", "2024-01-03T10:00:00Z"),
        ("a", "2024-01-20T10:00:00Z"),  # a: two orders in January, their first month
        ("a", "2024-03-01T10:00:00Z"),
        ("b", "2024-01-10T10:00:00Z"),  # b: one order in January, the second in February
        ("b", "2024-02-15T10:00:00Z"),
        ("c", "2024-02-01T10:00:00Z"),  # c: one order only
        ("d", "2024-02-05T10:00:00Z"),  # d: two orders in February, their first month
        ("d", "2024-02-06T10:00:00Z"),
        ("e", "2024-03-10T10:00:00Z"),  # e: two orders at the same instant
        ("e", "2024-03-10T10:00:00Z"),
    ]
    orders = pl.DataFrame(
        {
            "order_id": [f"o{i}" for i in range(len(at))],
            "customer_id": [c for c, _ in at],
            "ordered_at": [t for _, t in at],
            "amount": ["1"] * len(at),
            "currency": ["EUR"] * len(at),
        }
    )
    jan, feb, mar = dt.date(2024, 1, 1), dt.date(2024, 2, 1), dt.date(2024, 3, 1)
    returning = rl.returning_customer_rate(orders).select("period", "customers", "returning_customers")
    # January: a (2 orders) returning, b (1) not; February: b (Jan + Feb) and d (2 in Feb) of b, c, d;
    # March: a and e.
    assert returning.rows() == [(jan, 2, 1), (feb, 3, 2), (mar, 2, 2)]
    within0 = rl.repeat_purchase_rate(orders, within=0).select("cohort", "customers", "repeat_customers")
    assert within0.rows() == [(jan, 2, 1), (feb, 2, 1), (mar, 1, 1)]
    within1 = rl.repeat_purchase_rate(orders, within=1).select("cohort", "customers", "repeat_customers")
    assert within1.rows() == [(jan, 2, 2), (feb, 2, 1), (mar, 1, 1)]
    assert rl.repeat_purchase_rate(orders).row(0) == (5, 4, 0.8)


# Each example runs the kernel a dozen times (segments, filters, lazy and eager): a third of the examples.
@settings(max_examples=max(10, settings().max_examples // 3))
@given(orders=orders_st, period=st.sampled_from(PERIODS))
def test_by_equals_filter_and_lazy_equals_eager(orders: list[ref.Order], period: PeriodName) -> None:
    df = frame(orders)

    def run(name: str, data: pl.DataFrame | pl.LazyFrame, by: str | None = None) -> pl.DataFrame:
        out: pl.DataFrame | pl.LazyFrame
        if name == "retention_rate":
            out = rl.retention_rate(data, period=period, by=by)
        elif name == "cohort_retention":
            out = rl.cohort_retention(data, period=period, by=by, revenue=True)
        elif name == "repeat_purchase_rate":
            out = rl.repeat_purchase_rate(data, within=1, period=period, by=by)
        else:
            out = rl.returning_customer_rate(data, period=period, by=by)
        assert isinstance(out, pl.LazyFrame) == isinstance(data, pl.LazyFrame)  # same kind out as in
        return out.collect() if isinstance(out, pl.LazyFrame) else out

    for name in ("retention_rate", "cohort_retention", "repeat_purchase_rate", "returning_customer_rate"):
        grouped = run(name, df, by="segment")
        assert run(name, df.lazy(), by="segment").equals(grouped)
        for segment in ("x", "y", None):
            pick = pl.col("segment").is_null() if segment is None else pl.col("segment") == segment
            alone = run(name, df.filter(pick))
            mine = grouped.filter(pick).drop("segment")
            assert mine.equals(alone), (name, segment)


# --- hand-computed examples ------------------------------------------------------------


def _orders(*rows: tuple[str, str, str]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "order_id": [str(i) for i in range(len(rows))],
            "customer_id": [r[0] for r in rows],
            "ordered_at": [r[1] for r in rows],
            "amount": [r[2] for r in rows],
            "currency": ["USD"] * len(rows),
        }
    )


EXAMPLE = _orders(
    ("a", "2024-01-10T00:00:00Z", "10"),
    ("b", "2024-01-20T00:00:00Z", "20"),
    ("a", "2024-02-03T00:00:00Z", "30"),
    ("c", "2024-02-14T00:00:00Z", "40"),
    ("b", "2024-03-01T00:00:00Z", "50"),  # exactly on the March boundary: a March order
    ("c", "2024-03-15T00:00:00Z", "60"),
)


def test_retention_rate_by_hand() -> None:
    # Jan: {a, b}; Feb: {a, c}; Mar: {b, c}.
    # Feb: start 2, retained 1 (a), new 1 (c), reactivated 0, churned 1 (b), end 2.
    # Mar: start 2, retained 1 (c), new 0, reactivated 1 (b came back), churned 1 (a), end 2.
    got = rl.retention_rate(rl.Dataset(orders=EXAMPLE))
    assert got.select("period", "start", "new", "retained", "reactivated", "churned", "end").rows() == [
        (dt.date(2024, 2, 1), 2, 1, 1, 0, 1, 2),
        (dt.date(2024, 3, 1), 2, 0, 1, 1, 1, 2),
    ]
    assert got["retention_rate"].to_list() == [0.5, 0.5]
    assert got["crr"].to_list() == [0.5, 1.0]  # (E - N) / S = (2 - 1) / 2, (2 - 0) / 2
    assert got["is_complete"].to_list() == [True, False]  # March ends after the last order
    # In Paris, the March 1st 00:00 UTC order is at 01:00 local: still March.  In New York it is Feb 29.
    ny = rl.retention_rate(EXAMPLE, tz="America/New_York")
    assert ny.select("period", "retained", "reactivated").rows() == [
        (dt.date(2024, 2, 1), 2, 0),  # Feb: a, c, b (b's order is Feb 29 19:00 local)
        (dt.date(2024, 3, 1), 1, 0),
    ]


def test_cohort_retention_by_hand() -> None:
    # Cohort Jan {a, b}: k0 both (30 = 10 + 20), k1 a (30), k2 b (50).  Cohort Feb {c}: k0 40, k1 60.
    got = rl.cohort_retention(EXAMPLE, revenue=True)
    assert got.select("cohort", "period_number", "cohort_size", "active", "revenue").rows() == [
        (dt.date(2024, 1, 1), 0, 2, 2, Decimal("30")),
        (dt.date(2024, 1, 1), 1, 2, 1, Decimal("30")),
        (dt.date(2024, 1, 1), 2, 2, 1, Decimal("50")),
        (dt.date(2024, 2, 1), 0, 1, 1, Decimal("40")),
        (dt.date(2024, 2, 1), 1, 1, 1, Decimal("60")),
    ]
    assert got["revenue_retention"].to_list() == [1.0, 1.0, 50 / 30, 1.0, 1.5]
    assert got["cumulative_revenue_per_customer"].to_list() == [15.0, 30.0, 55.0, 40.0, 100.0]
    rolling = rl.cohort_retention(EXAMPLE, kind="rolling")
    # a is last active at k1, b at k2: both are active at k1 or later, only b at k2 or later.
    assert rolling["active"].to_list() == [2, 2, 1, 1, 1]
    by_revenue = rl.cohort_retention(EXAMPLE, measure="revenue")
    assert by_revenue["retention"].to_list() == by_revenue["revenue_retention"].to_list()
    wide = rl.triangle(got)
    assert wide.columns == ["cohort", "cohort_size", "0", "1", "2"]
    assert wide.rows() == [(dt.date(2024, 1, 1), 2, 1.0, 0.5, 0.5), (dt.date(2024, 2, 1), 1, 1.0, 1.0, None)]
    assert rl.triangle(rl.cohort_retention(EXAMPLE.lazy()), value="active").collect().row(0) == (
        dt.date(2024, 1, 1),
        2,
        2,
        1,
        1,
    )


def test_subscriptions_and_events_define_activity() -> None:
    subs = pl.DataFrame(
        {
            "subscription_id": ["s1", "s2", "s3"],
            "customer_id": ["a", "b", "b"],
            "started_at": ["2024-01-15T00:00:00Z", "2024-01-01T00:00:00Z", "2024-03-10T00:00:00Z"],
            "ended_at": [None, "2024-02-01T00:00:00Z", None],  # b ends exactly at Feb's start, returns in March
            "mrr": ["10", "20", "0"],  # a zero-mrr segment is not activity
            "currency": ["USD"] * 3,
        },
        schema_overrides={"ended_at": pl.String},
    )
    got = rl.retention_rate(subs, as_of=dt.date(2024, 3, 31))
    # Jan {a, b}; Feb {a}; Mar {a}: b's segment [Jan 1, Feb 1) does not overlap February.
    assert got.select("period", "start", "retained", "end", "is_complete").rows() == [
        (dt.date(2024, 2, 1), 2, 1, 1, True),
        (dt.date(2024, 3, 1), 1, 1, 1, True),
    ]
    events = pl.DataFrame(
        {
            "customer_id": ["a", "a", "b"],
            "occurred_at": ["2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z", "2024-02-01T00:00:00Z"],
            "event": ["login", "login", "page_view"],
        }
    )
    only_logins = rl.retention_rate(events, events=["login"])
    assert only_logins.select("start", "retained", "new").row(0) == (1, 1, 0)


def test_zero_denominators_are_null() -> None:
    gap = _orders(("a", "2024-01-10T00:00:00Z", "1"), ("a", "2024-03-10T00:00:00Z", "1"))
    got = rl.retention_rate(gap)
    feb, mar = got.rows(named=True)
    assert (feb["start"], feb["end"], feb["retention_rate"], feb["churn_rate"]) == (1, 0, 0.0, 1.0)
    assert (mar["start"], mar["reactivated"], mar["retention_rate"], mar["crr"]) == (0, 1, None, None)


def test_empty_input_and_one_period() -> None:
    empty = EXAMPLE.clear()
    assert rl.retention_rate(empty).height == 0
    assert rl.cohort_retention(empty).height == 0
    assert rl.repeat_purchase_rate(empty).row(0) == (0, 0, None)
    one = EXAMPLE.head(2)
    assert rl.retention_rate(one).height == 0  # no period after the first
    assert rl.cohort_retention(one).select("period_number", "active").rows() == [(0, 2)]


def test_bad_input() -> None:
    with pytest.raises(OptionError, match="unknown period"):
        rl.retention_rate(EXAMPLE, period="fortnight")  # type: ignore[call-overload]
    with pytest.raises(OptionError, match="time zone"):
        rl.retention_rate(EXAMPLE, tz="Mars/Olympus")
    with pytest.raises(OptionError, match="kind"):
        rl.cohort_retention(EXAMPLE, kind="sideways")  # type: ignore[call-overload]
    with pytest.raises(OptionError, match="revenue is True, False or None"):
        rl.cohort_retention(EXAMPLE, revenue="yes")  # type: ignore[call-overload]
    with pytest.raises(OptionError, match="comes with the revenue columns"):
        rl.cohort_retention(EXAMPLE, measure="revenue", revenue=False)
    events = rl.Dataset(
        events=pl.DataFrame({"customer_id": ["a"], "occurred_at": ["2024-01-01T00:00:00Z"], "event": ["x"]})
    )
    with pytest.raises(SchemaError, match="revenue=True needs orders"):
        rl.cohort_retention(events, revenue=True)
    assert rl.cohort_retention(events).columns[-1] == "retention"
    with pytest.raises(OptionError, match="within"):
        rl.repeat_purchase_rate(EXAMPLE, within=-1)
    with pytest.raises(SchemaError, match="needs orders"):
        rl.repeat_purchase_rate(pl.DataFrame({"x": [1]}))
    with pytest.raises(SchemaError, match="by column"):
        rl.retention_rate(EXAMPLE, by="country")
    with pytest.raises(SchemaError, match="needs a orders"):
        rl.repeat_purchase_rate(
            rl.Dataset(
                events=pl.DataFrame({"customer_id": ["a"], "occurred_at": ["2024-01-01T00:00:00Z"], "event": ["x"]})
            )
        )
    with pytest.raises(OptionError, match="naive"):
        rl.retention_rate(EXAMPLE, as_of=dt.datetime(2024, 3, 1))
    mixed = EXAMPLE.with_columns(currency=pl.Series(["USD", "EUR"] * 3))
    with pytest.raises(CurrencyError):
        rl.cohort_retention(mixed, revenue=True)
    with pytest.raises(CurrencyError):
        rl.cohort_retention(mixed, measure="revenue")
    assert rl.cohort_retention(mixed, by="currency", revenue=True).height > 0
    assert rl.cohort_retention(mixed).height > 0  # customer counts only: currencies don't matter
    assert rl.retention_rate(mixed).height == 2  # counts only: currencies don't matter


def test_by_from_the_customers_table() -> None:
    customers = pl.DataFrame(
        {"customer_id": ["a", "b", "c"], "created_at": ["2024-01-01T00:00:00Z"] * 3, "plan": ["p", "q", "p"]}
    )
    ds = rl.Dataset(orders=EXAMPLE, customers=customers)
    got = rl.retention_rate(ds, by="plan")
    assert got.columns[0] == "plan"
    p_only = rl.retention_rate(EXAMPLE.filter(pl.col("customer_id").is_in(["a", "c"])))
    assert got.filter(pl.col("plan") == "p").drop("plan").equals(p_only)


def test_sample_store_runs_every_kernel() -> None:
    from retainlib.samples import synthetic_store

    store = synthetic_store(customers=1500, seed=2)
    rates = rl.retention_rate(store, by="country")
    assert (rates["end"] == rates["retained"] + rates["new"] + rates["reactivated"]).all()
    cohorts = rl.cohort_retention(store, period="quarter")
    assert (cohorts.filter(pl.col("period_number") == 0)["retention"] == 1.0).all()
    subs = rl.retention_rate(store, table="subscriptions")
    assert subs.height > 12


@pytest.mark.parametrize("months", [1, 2, 61, 62, 63, 64])
def test_spans_around_the_mask_limit(months: int) -> None:
    """Activity over exactly 62 periods takes the mask plan, 63 the rows plan; both match the reference."""
    start = dt.datetime(2019, 1, 15, 12, tzinfo=UTC)

    def month(k: int) -> dt.datetime:
        return start.replace(year=2019 + k // 12, month=1 + k % 12)

    orders = [
        ref.Order("a", month(0), Decimal("10"), "x"),
        ref.Order("a", month(0), Decimal("5"), "x"),
        ref.Order("a", month(months - 1), Decimal("7"), "x"),
        ref.Order("b", month(months // 2), Decimal("3"), "y"),
        ref.Order("b", month(months // 2 + 1 if months > 2 else months // 2), Decimal("4"), "y"),
        ref.Order("c", month(months - 1), Decimal("1"), None),
    ]
    data = frame(orders)
    plan = _common.mask_plan(_common.prepare(data, metric="test", tables=["orders"]))
    assert (plan is not None) == (months <= _common.MASK_PERIODS)
    approx_rows(rows(rl.retention_rate(data)), ref.retention_rate(orders, period="month", tz="UTC", week_start=0))
    for kind in KINDS:
        got = rl.cohort_retention(data, kind=kind, revenue=True)
        want = ref.cohort_retention(orders, kind=kind, period="month", tz="UTC")
        approx_rows(rows(got), want)


@pytest.mark.parametrize("engine", ["auto", "streaming", "in-memory"])
def test_every_engine_gives_the_same_numbers(engine: Any) -> None:
    store = synthetic_store(300, seed=4, events=False)
    orders = store.orders
    assert orders is not None
    eager = orders.collect()
    for kernel in (rl.retention_rate, rl.cohort_retention, rl.repeat_purchase_rate, rl.returning_customer_rate):
        want = kernel(eager)
        assert kernel(eager, engine=engine).equals(want), kernel.__name__
        assert kernel(orders, engine=engine).collect(engine=engine).equals(want), kernel.__name__
    summary = rl.rfm(eager, engine=engine).sort("customer_id")
    assert summary.equals(rl.rfm(eager).sort("customer_id"))
    subscriptions = store.subscriptions
    assert subscriptions is not None
    assert rl.mrr_movements(subscriptions.collect(), engine=engine).equals(rl.mrr_movements(subscriptions.collect()))


def test_unknown_engine_is_an_option_error() -> None:
    orders = synthetic_tables(50, seed=1, events=False)["orders"]
    with pytest.raises(OptionError, match="engine"):
        rl.retention_rate(orders, engine="gpu")  # type: ignore[call-overload]


def test_customer_partitions_give_the_same_numbers() -> None:
    """Large inputs run per hash partition of the customers; every count and sum is the same."""
    orders = synthetic_tables(500, seed=12, events=False)["orders"]

    def kernels(o: pl.DataFrame) -> list[pl.DataFrame]:
        return [
            rl.retention_rate(o),
            rl.retention_rate(o, by="currency"),
            rl.cohort_retention(o),
            rl.cohort_retention(o, revenue=True),
            rl.cohort_retention(o, kind="rolling", measure="revenue", period="quarter"),
        ]

    whole = kernels(orders)
    saved = _common.PARTITION_ROWS
    try:
        _common.PARTITION_ROWS = 400  # about five partitions
        parts = kernels(orders)
    finally:
        _common.PARTITION_ROWS = saved
    for got, want in zip(parts, whole, strict=True):
        assert got.equals(want)


# --- issue 13: every input either works or raises a retainlib error -----------------------------

ORDER_KERNELS = [rl.retention_rate, rl.cohort_retention, rl.repeat_purchase_rate, rl.returning_customer_rate]


def _run(kernel: Any, data: pl.DataFrame | pl.LazyFrame, **options: Any) -> pl.DataFrame:
    got = kernel(data, **options)
    return got.collect() if isinstance(got, pl.LazyFrame) else got


@pytest.mark.parametrize("kernel", ORDER_KERNELS)
def test_by_is_a_segment_column(kernel: Any) -> None:
    with pytest.raises(OptionError, match="column name") as info:
        kernel(EXAMPLE, by=1)
    assert info.value.option == "by"
    roles = {"customer_id": "customer id", "order_id": "key", "ordered_at": "timestamp", "amount": "money"}
    for column, role in roles.items():
        with pytest.raises(OptionError, match=role) as info:
            kernel(EXAMPLE, by=column)
        assert info.value.option == "by"
        assert column in str(info.value)
    with pytest.raises(OptionError, match="reserved"):
        kernel(EXAMPLE.with_columns(_period=pl.lit("x")), by="_period")
    by_currency = _run(kernel, EXAMPLE, by="currency")
    assert by_currency.drop("currency").equals(_run(kernel, EXAMPLE))


def test_by_named_like_an_output_column_is_an_option_error() -> None:
    clash = EXAMPLE.with_columns(period=pl.lit("x"), cohort=pl.lit("y"))
    for data in (clash, clash.lazy()):
        with pytest.raises(OptionError, match="rename it") as info:
            rl.retention_rate(data, by="period")
        assert info.value.option == "by"
        with pytest.raises(OptionError, match="rename it"):
            rl.cohort_retention(data, by="cohort")


BAD_FRAMES = {
    "naive timestamp strings": EXAMPLE.with_columns(pl.col("ordered_at").str.replace("T", " ").str.replace("Z", "")),
    "amounts with commas and words": EXAMPLE.with_columns(amount=pl.Series(["1,000.00", "ten", "1", "2", "3", "4"])),
    "a null customer id": EXAMPLE.with_columns(customer_id=pl.Series(["a", None, "a", "c", "b", "c"])),
    "a duplicate order id": EXAMPLE.with_columns(order_id=pl.Series(["1", "1", "2", "3", "4", "5"])),
    "an amount past 20 digits": EXAMPLE.with_columns(amount=pl.Series(["1" + "0" * 25, "1", "2", "3", "4", "5"])),
}


def _problems(error: DataError) -> list[tuple[str, str, int]]:
    return [(p.column, p.reason, p.count) for p in error.problems]


#: Kernels that read the orders' amounts (and so check them).
REVENUE_KERNELS = [functools.partial(rl.cohort_retention, measure="revenue"), rl.rfm]
#: The column each bad frame breaks: timestamps and customers are read by every kernel, money only by some.
BROKEN = {
    "naive timestamp strings": "ordered_at",
    "amounts with commas and words": "amount",
    "a null customer id": "customer_id",
    "a duplicate order id": "amount",
    "an amount past 20 digits": "amount",
}
#: The overall repeat rate counts orders per customer: it never reads their times.
READS = {
    kernel: {"customer_id", "ordered_at"} - ({"ordered_at"} if kernel is rl.repeat_purchase_rate else set())
    for kernel in ORDER_KERNELS
}
VERDICT_CASES = [
    (kernel, case)
    for case, column in BROKEN.items()
    for kernel in [*(k for k in ORDER_KERNELS if column in READS[k]), *REVENUE_KERNELS]
]
UNREAD_CASES = [
    (kernel, case) for case, column in BROKEN.items() for kernel in ORDER_KERNELS if column not in READS[kernel]
]


@pytest.mark.parametrize(("kernel", "case"), VERDICT_CASES)
def test_frames_get_the_verdict_of_a_validated_dataset(kernel: Any, case: str) -> None:
    bad = BAD_FRAMES[case]
    with pytest.raises(DataError) as dataset:
        rl.Dataset(orders=bad)
    with pytest.raises(DataError) as eager:
        _run(kernel, bad)
    assert _problems(eager.value) == _problems(dataset.value)
    with pytest.raises(DataError) as lazy:
        _run(kernel, bad.lazy())  # raised inside the plan: at collect (or a kernel's own pre-pass)
    assert _problems(lazy.value) == _problems(dataset.value)


@pytest.mark.parametrize(("kernel", "case"), UNREAD_CASES)
def test_a_column_a_kernel_does_not_read_does_not_change_its_result(kernel: Any, case: str) -> None:
    # Customer counts never read the amounts: a broken amount column is neither read nor checked.
    assert _run(kernel, BAD_FRAMES[case]).equals(_run(kernel, EXAMPLE))


def test_lazy_input_is_checked_at_collect_not_at_call() -> None:
    reads: list[int] = []
    bad = EXAMPLE.with_columns(amount=pl.Series(["ten", "1", "2", "3", "4", "5"]))

    def source() -> pl.DataFrame:
        reads.append(1)
        return bad

    subscriptions = pl.defer(source, schema=bad.schema).select(
        pl.col("order_id").alias("subscription_id"),
        "customer_id",
        pl.col("ordered_at").alias("started_at"),
        pl.lit(None, dtype=pl.String).alias("ended_at"),
        pl.col("amount").alias("mrr"),
        "currency",
    )
    query = rl.retention_rate(subscriptions)  # subscriptions take no pre-pass
    assert reads == []
    with pytest.raises(DataError, match=r"mrr: not a number") as info:
        query.collect()
    assert [(p.column, p.count) for p in info.value.problems] == [("mrr", 1)]
    assert info.value.problems[0].rows["row"].to_list() == [1]


def test_sums_cannot_overflow_money() -> None:
    big = "9" * 33
    many = pl.concat([EXAMPLE] * 20).with_columns(
        order_id=pl.int_range(pl.len()).cast(pl.String), amount=pl.lit(big + ".0000")
    )
    with pytest.raises(DataError, match="out of range") as info:
        rl.cohort_retention(many, measure="revenue")
    assert info.value.problems[0].column == "amount"
    assert info.value.problems[0].count == many.height
    # A Dataset that trusts its values (validate="schema") still never overflows inside a kernel.
    trusted = rl.Dataset(orders=many.with_columns(pl.col("amount").cast(MONEY)), validate="schema")
    with pytest.raises(DataError, match="out of range"):
        rl.cohort_retention(trusted, measure="revenue")
    # The largest amounts allowed (20 integer digits) sum exactly.
    largest = Decimal("9" * 20 + ".9999")
    ok = many.with_columns(amount=pl.lit(str(largest)))
    got = rl.cohort_retention(ok, measure="revenue", period="year")
    assert got["revenue"].sum() == largest * ok.height


def test_repeat_within_past_the_calendar_is_unbounded() -> None:
    everyone = rl.repeat_purchase_rate(EXAMPLE, cohorts=True)
    for within in (10**7, 2**62):
        got = rl.repeat_purchase_rate(EXAMPLE, within=within)
        assert got.select("cohort", "customers", "repeat_customers").equals(
            everyone.select("cohort", "customers", "repeat_customers")
        )
        assert not got["is_complete"].any()
    with pytest.raises(OptionError, match="cohorts is True, False or None") as info:
        rl.repeat_purchase_rate(EXAMPLE, cohorts="yes")  # type: ignore[call-overload]
    assert info.value.option == "cohorts"


def test_is_complete_caps_far_period_indices() -> None:
    cal = rl.Calendar(period="month")
    end = pl.lit(dt.datetime(2024, 3, 1, tzinfo=UTC), dtype=TIMESTAMP)
    index = pl.Series("i", [2024 * 12, 2024 * 12 + 1, 2024 * 12 + 2, 10**12], dtype=pl.Int64)
    got = pl.select(_common.is_complete(cal, pl.lit(index), end)).to_series().to_list()
    assert got == [True, True, False, False]  # Jan and Feb 2024 end by March 1; March and later do not


@pytest.mark.parametrize("kernel", ORDER_KERNELS)
def test_a_placeholder_date_is_refused_rather_than_expanded(kernel: Any) -> None:
    store = _store_with_a_placeholder()
    options: dict[str, Any] = {"period": "week"}
    if kernel is rl.repeat_purchase_rate:
        options["within"] = 2
    for data in (store, store.lazy()):
        with pytest.raises(DataError, match="5218 weeks") as info:
            _run(kernel, data, **options)
        (problem,) = info.value.problems
        assert problem.column == "ordered_at"
        assert problem.rows["order_id"].to_list() == [store["order_id"][-1]]  # the 9999-12-31 order only
    assert _run(kernel, store.head(-1), **options).height > 0


def test_the_horizon_is_one_hundred_years_of_periods() -> None:
    def years(*spans: int) -> pl.DataFrame:
        return _orders(*((f"c{i}", f"{y}-06-01T00:00:00Z", "1") for i, y in enumerate(spans)))

    assert rl.retention_rate(years(1950, 2049), period="year").height == 99
    with pytest.raises(DataError, match="100 years"):
        rl.retention_rate(years(1950, 2050), period="year")
    assert rl.retention_rate(years(1950, 2050), period="year", as_of=dt.date(2049, 12, 31)).height == 99


@pytest.mark.parametrize("kernel", ORDER_KERNELS)
@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("week_start", "funday"),
        ("period", "fortnight"),
        ("tz", "Europe/Pari"),
        ("as_of", "2024"),
        ("engine", "gpu"),
        ("by", 1),
    ],
)
def test_options_are_checked_by_every_kernel(kernel: Any, option: str, value: object) -> None:
    for data in (EXAMPLE, EXAMPLE.lazy(), rl.Dataset(orders=EXAMPLE)):
        with pytest.raises(OptionError) as info:
            kernel(data, **{option: value})
        assert info.value.option == option


def test_triangle_refuses_a_frame_that_is_not_a_cohort_result() -> None:
    cohorts = rl.cohort_retention(EXAMPLE)
    doubled = pl.concat([cohorts, cohorts.head(1)])
    with pytest.raises(DataError, match="period number twice") as info:
        rl.triangle(doubled)
    assert info.value.problems[0].rows["row"].to_list() == [1, cohorts.height + 1]
    with pytest.raises(DataError, match="missing"):
        rl.triangle(cohorts.with_columns(period_number=pl.lit(None, dtype=pl.Int64)).lazy())
    with pytest.raises(OptionError, match="value is a column name") as option:
        rl.triangle(cohorts, value=pl.DataFrame({"x": [1]}))  # type: ignore[call-overload]
    assert option.value.option == "value"


@pytest.mark.parametrize("engine", ["in-memory", "streaming"])
def test_subscriptions_shorter_than_a_period_on_every_engine(engine: Any) -> None:
    """Found by the kernel fuzz suite: the end of observation was broadcast from an aggregate."""
    start = dt.datetime(2023, 1, 1, tzinfo=UTC)
    subs = pl.DataFrame(
        {
            "subscription_id": ["s1", "s2"],
            "customer_id": ["c1", "c2"],
            "started_at": pl.Series([start] * 2, dtype=TIMESTAMP),
            "ended_at": pl.Series([start + dt.timedelta(microseconds=1)] * 2, dtype=TIMESTAMP),
            "mrr": pl.Series([Decimal("0.01")] * 2, dtype=MONEY),
            "currency": ["USD"] * 2,
        }
    )
    assert rl.retention_rate(subs, engine=engine).height == 0  # one period only: no period after the first
    cohorts = rl.cohort_retention(subs, engine=engine)
    assert cohorts.select("period_number", "active").rows() == [(0, 2)]


def test_events_option_is_checked() -> None:
    """Found by the kernel fuzz suite: events=0 raised a TypeError from inside the kernel."""
    log = pl.DataFrame(
        {
            "customer_id": ["a", "a", "b"],
            "occurred_at": ["2024-01-05T00:00:00Z", "2024-02-05T00:00:00Z", "2024-01-09T00:00:00Z"],
            "event": ["login", "login", "view"],
        }
    )
    for kernel in (rl.retention_rate, rl.cohort_retention):
        with pytest.raises(OptionError, match="event name") as info:
            kernel(log, events=0)  # type: ignore[call-overload]
        assert info.value.option == "events"
        assert _run(kernel, log, events="login").equals(_run(kernel, log, events=["login"]))
