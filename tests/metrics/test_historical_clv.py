"""Tests of clv_historical and clv_formula: plain-Python references on hypothesis data, hand examples, errors."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from retainlib import CurrencyError, Dataset, OptionError, SchemaError
from retainlib.calendar import Period, PeriodName
from retainlib.metrics._common import as_of_instant
from retainlib.metrics.historical_clv import clv_formula, clv_historical
from retainlib.tables import TABLES
from retainlib.testing import orders, subscriptions

UTC = dt.UTC
START = dt.datetime(2023, 7, 1, tzinfo=UTC)
END = dt.datetime(2024, 7, 1, tzinfo=UTC)
US = dt.timedelta(microseconds=1)
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"]
FORMULA_COLUMNS = [
    "period",
    "is_complete",
    "customers_start",
    "churned",
    "churn_rate",
    "arpa",
    "margin",
    "clv",
    "zero_churn",
]


def ts(year: int, month: int, day: int, hour: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=UTC)


def dicts(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return [dict(zip(frame.columns, row, strict=True)) for row in frame.iter_rows()]


@st.composite
def as_of_values(draw: st.DrawFn) -> dt.datetime | dt.date | None:
    kind = draw(st.sampled_from(["none", "instant", "date"]))
    if kind == "none":
        return None
    t = draw(st.datetimes(min_value=dt.datetime(2023, 8, 1), max_value=dt.datetime(2024, 8, 1), timezones=st.just(UTC)))
    return t if kind == "instant" else t.date()


# --- clv_historical -----------------------------------------------------------------------


def reference_historical(rows: list[dict[str, Any]], as_of: dt.datetime | None) -> list[tuple[Any, ...]]:
    """Per customer: first and last order, count, exact total, currency."""
    per: dict[str, list[dict[str, Any]]] = {}
    for o in rows:
        if as_of is None or o["ordered_at"] < as_of:
            per.setdefault(o["customer_id"], []).append(o)
    out = []
    for c in sorted(per):
        mine = per[c]
        total = sum((o["amount"] for o in mine), Decimal(0))
        times = [o["ordered_at"] for o in mine]
        out.append((c, min(times), max(times), len(mine), total, mine[0]["currency"]))
    return out


@given(orders(max_size=30, customers=8, start=START, end=END), as_of_values(), st.sampled_from(ZONES))
def test_historical_matches_reference(frame: pl.DataFrame, as_of: dt.datetime | dt.date | None, tz: str) -> None:
    got = clv_historical(frame, as_of=as_of, tz=tz)
    expected_schema: dict[str, Any] = {
        "customer_id": pl.String,
        "first_order": TABLES["orders"].schema["ordered_at"],
        "last_order": TABLES["orders"].schema["ordered_at"],
        "orders": pl.UInt32,
        "revenue": pl.Decimal(38, 4),
        "currency": pl.String,
    }
    assert got.schema == pl.Schema(expected_schema)
    assert got.rows() == reference_historical(dicts(frame), as_of_instant(as_of, tz))


@given(orders(max_size=30, customers=8, currencies=("USD", "EUR"), start=START, end=END))
def test_historical_by_currency_equals_filter(frame: pl.DataFrame) -> None:
    got = clv_historical(frame, by="currency")
    assert got.columns == ["currency", "customer_id", "first_order", "last_order", "orders", "revenue"]
    for currency in ("EUR", "USD"):
        alone = clv_historical(frame.filter(currency=currency))
        assert got.filter(currency=currency).equals(alone.select(got.columns))
    assert got.lazy().collect().equals(clv_historical(frame.lazy(), by="currency").collect())


def test_historical_mixed_currencies_are_an_error() -> None:
    # Each customer has one currency, but the table has two: no total without by="currency".
    frame = order_frame([("a", ts(2024, 1, 5), "10", "EUR"), ("b", ts(2024, 1, 9), "5", "USD")])
    with pytest.raises(CurrencyError) as info:
        clv_historical(frame)
    assert info.value.currencies == ("EUR", "USD")
    with pytest.raises(CurrencyError):
        clv_historical(frame.lazy())
    with pytest.raises(CurrencyError):
        clv_historical(frame, grain="cohort")


def order_frame(rows: list[tuple[str, dt.datetime, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "order_id": [f"o{i}" for i in range(len(rows))],
            "customer_id": [r[0] for r in rows],
            "ordered_at": [r[1] for r in rows],
            "amount": [Decimal(r[2]) for r in rows],
            "currency": [r[3] for r in rows],
        },
        schema=TABLES["orders"].schema,
    )


HAND_ORDERS = order_frame(
    [
        ("a", ts(2024, 1, 5), "10.50", "EUR"),
        ("a", ts(2024, 3, 5), "20", "EUR"),
        ("b", ts(2024, 1, 9), "5", "EUR"),
        ("c", ts(2024, 2, 7), "7", "EUR"),
        ("c", ts(2024, 2, 8), "-2.25", "EUR"),  # a refund netted into the amount
    ]
)


def test_historical_hand_example() -> None:
    got = clv_historical(HAND_ORDERS)
    # a: 10.50 + 20 = 30.50 over 2 orders; b: 5; c: 7 - 2.25 = 4.75.
    assert got.select("customer_id", "orders", "revenue", "currency").rows() == [
        ("a", 2, Decimal("30.50"), "EUR"),
        ("b", 1, Decimal("5"), "EUR"),
        ("c", 2, Decimal("4.75"), "EUR"),
    ]
    assert got.row(0)[1:3] == (ts(2024, 1, 5), ts(2024, 3, 5))
    # as_of Mar 5 00:00 (exclusive) drops a's second order; a date means the end of that day.
    assert clv_historical(HAND_ORDERS, as_of=ts(2024, 3, 5))["revenue"].to_list()[0] == Decimal("10.50")
    assert clv_historical(HAND_ORDERS, as_of=dt.date(2024, 3, 5))["revenue"].to_list()[0] == Decimal("30.50")


def test_historical_segments_from_the_customers_table() -> None:
    customers = pl.DataFrame(
        {"customer_id": ["a", "b", "c"], "created_at": [ts(2024, 1, 1)] * 3, "tier": ["gold", None, "gold"]}
    )
    ds = Dataset(customers=customers, orders=HAND_ORDERS)
    got = clv_historical(ds, by="tier")
    assert got.select("tier", "customer_id", "revenue").rows() == [
        ("gold", "a", Decimal("30.50")),
        ("gold", "c", Decimal("4.75")),
        (None, "b", Decimal("5")),
    ]


def test_historical_cohort_grain() -> None:
    got = clv_historical(HAND_ORDERS, grain="cohort")
    assert got.columns == [
        "cohort",
        "period_number",
        "is_complete",
        "cohort_size",
        "revenue",
        "cumulative_revenue_per_customer",
    ]
    # January cohort {a, b}: 15.50 in January, 0 in February, 20 in March -> 7.75, 7.75, 35.50 / 2 = 17.75.
    # February cohort {c}: 4.75 in February, 0 in March -> 4.75, 4.75.  The window ends in March (last order).
    assert got.select("cohort", "period_number", "cohort_size", "cumulative_revenue_per_customer").rows() == [
        (dt.date(2024, 1, 1), 0, 2, 7.75),
        (dt.date(2024, 1, 1), 1, 2, 7.75),
        (dt.date(2024, 1, 1), 2, 2, 17.75),
        (dt.date(2024, 2, 1), 0, 1, 4.75),
        (dt.date(2024, 2, 1), 1, 1, 4.75),
    ]
    lazy = clv_historical(HAND_ORDERS.lazy(), grain="cohort")
    assert isinstance(lazy, pl.LazyFrame) and lazy.collect().equals(got)


def test_historical_bad_input() -> None:
    with pytest.raises(OptionError, match="grain") as info:
        clv_historical(HAND_ORDERS, grain="order")  # type: ignore[call-overload]
    assert info.value.option == "grain"
    with pytest.raises(TypeError):
        clv_historical(HAND_ORDERS, level="cohort")  # type: ignore[call-overload]
    with pytest.raises(SchemaError):
        clv_historical(subscription_frame([("a", ts(2024, 1, 1), None, "10")]))
    with pytest.raises(SchemaError, match="nope"):
        clv_historical(HAND_ORDERS, by="nope")
    empty = clv_historical(TABLES["orders"].schema_frame())
    assert empty.height == 0 and empty.columns[-1] == "currency"


# --- clv_formula --------------------------------------------------------------------------


def subscription_frame(
    rows: list[tuple[str, dt.datetime, dt.datetime | None, str]], currency: str = "EUR"
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "subscription_id": [f"s{i}" for i in range(len(rows))],
            "customer_id": [r[0] for r in rows],
            "started_at": [r[1] for r in rows],
            "ended_at": [r[2] for r in rows],
            "mrr": [Decimal(r[3]) for r in rows],
            "currency": [currency] * len(rows),
        },
        schema=TABLES["subscriptions"].schema,
    )


MONTHS = {"month": 1, "quarter": 3, "year": 12}


def reference_formula(
    rows: list[dict[str, Any]], *, period: PeriodName, tz: str, as_of: dt.datetime | None, margin: float
) -> list[dict[str, Any]]:
    """clv_formula from the spec: snapshots of each customer's mrr at period starts, with Fractions."""
    segments = []
    for s in rows:
        start, end = s["started_at"], s["ended_at"]
        if s["mrr"] <= 0 or (end is not None and end <= start):
            continue  # never runs with mrr > 0
        if as_of is not None:
            if start >= as_of:
                continue  # not observed yet
            if end is not None and end >= as_of:
                end = None  # its end is not known at as_of
        segments.append((s["customer_id"], start, end, Fraction(s["mrr"])))
    if not segments:
        return []

    def mrr_at(c: str, t: dt.datetime) -> Fraction:
        return sum((m for cc, s, e, m in segments if cc == c and s <= t and (e is None or t < e)), Fraction(0))

    stamps = [s for _, s, _, _ in segments] + [e for _, _, e, _ in segments if e is not None]
    end_of = as_of if as_of is not None else max(stamps)
    last = Period.containing(end_of - US if as_of is not None else end_of, period, tz=tz)
    p = min(Period.containing(s, period, tz=tz) for _, s, _, _ in segments)
    customers = sorted({c for c, _, _, _ in segments})
    out = []
    while p <= last:
        t0, t1 = p.start_instant, p.end_instant
        at_start = {c for c in customers if mrr_at(c, t0) > 0}
        at_end = {c for c in customers if mrr_at(c, t1) > 0}
        churned = len(at_start - at_end)
        churn = Fraction(churned, len(at_start)) if at_start else None
        arpa = sum((mrr_at(c, t1) for c in at_end), Fraction(0)) / len(at_end) if at_end else None
        clv = arpa * MONTHS[period] * Fraction(margin) / churn if churned and arpa is not None and churn else None
        out.append(
            {
                "period": p.start,
                "is_complete": t1 <= end_of,
                "customers_start": len(at_start),
                "churned": churned,
                "churn_rate": None if churn is None else float(churn),
                "arpa": None if arpa is None else float(arpa),
                "margin": margin,
                "clv": None if clv is None else float(clv),
                "zero_churn": bool(at_start) and churned == 0,
            }
        )
        p = p.next()
    return out


def assert_close(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        for key, value in e.items():
            if isinstance(value, float):
                assert g[key] == pytest.approx(value, rel=1e-12), (key, g, e)
            else:
                assert g[key] == value, (key, g, e)


@given(
    subscriptions(max_size=16, customers=6, start=START, end=END, max_mrr=50),
    st.sampled_from(["month", "quarter", "year"]),
    st.sampled_from(ZONES),
    as_of_values(),
    st.sampled_from([1.0, 0.35]),
)
def test_formula_matches_reference(
    frame: pl.DataFrame, period: PeriodName, tz: str, as_of: dt.datetime | dt.date | None, margin: float
) -> None:
    got = clv_formula(frame, period=period, tz=tz, as_of=as_of, margin=margin)
    assert got.columns == FORMULA_COLUMNS
    expected = reference_formula(dicts(frame), period=period, tz=tz, as_of=as_of_instant(as_of, tz), margin=margin)
    assert_close(dicts(got), expected)
    lazy = clv_formula(frame.lazy(), period=period, tz=tz, as_of=as_of, margin=margin)
    assert isinstance(lazy, pl.LazyFrame) and lazy.collect().equals(got)


@given(subscriptions(max_size=16, customers=6, currencies=("USD", "EUR"), start=START, end=END), as_of_values())
def test_formula_by_equals_filter(frame: pl.DataFrame, as_of: dt.datetime | dt.date | None) -> None:
    got = clv_formula(frame, by="currency", as_of=as_of)
    assert got.columns == ["currency", *FORMULA_COLUMNS]
    for currency in ("EUR", "USD"):
        alone = clv_formula(frame.filter(currency=currency), as_of=as_of)
        assert got.filter(currency=currency).drop("currency").equals(alone)


# Hand example, month periods, UTC, as_of Apr 1 (exclusive):
#   A: 10 from Jan 1, upgraded to 20 exactly at Mar 1;       B: 30 from Jan 15 to Feb 1 (between snapshots);
#   C: 40 from Dec 15 to Feb 20 (churns in February);        D: 50 from Feb 1, downgraded to 25 on Mar 15.
# Snapshots (mrr per customer):  Dec 1: -   Jan 1: A10 C40   Feb 1: A10 C40 D50   Mar 1: A20 D50   Apr 1: A20 D25
HAND_SUBSCRIPTIONS = subscription_frame(
    [
        ("A", ts(2024, 1, 1), ts(2024, 3, 1), "10"),
        ("A", ts(2024, 3, 1), None, "20"),
        ("B", ts(2024, 1, 15), ts(2024, 2, 1), "30"),
        ("C", ts(2023, 12, 15), ts(2024, 2, 20), "40"),
        ("D", ts(2024, 2, 1), ts(2024, 3, 15), "50"),
        ("D", ts(2024, 3, 15), None, "25"),
    ]
)


def test_formula_hand_example_months() -> None:
    got = clv_formula(HAND_SUBSCRIPTIONS, margin=0.5, as_of=ts(2024, 4, 1))
    assert got.select("period", "customers_start", "churned", "churn_rate", "arpa", "clv", "zero_churn").rows() == [
        # December: nobody at Dec 1 -> churn undefined; ARPA at Jan 1 = (10 + 40) / 2 = 25.
        (dt.date(2023, 12, 1), 0, 0, None, 25.0, None, False),
        # January: A, C at the start, both still there at Feb 1: zero churn, CLV infinite -> null.
        # ARPA at Feb 1 = (10 + 40 + 50) / 3.
        (dt.date(2024, 1, 1), 2, 0, 0.0, 100 / 3, None, True),
        # February: A, C, D; C churned -> 1/3; ARPA at Mar 1 = (20 + 50) / 2 = 35; CLV = 35 * 0.5 / (1/3) = 52.5.
        (dt.date(2024, 2, 1), 3, 1, 1 / 3, 35.0, pytest.approx(52.5, rel=1e-12), False),
        # March: A, D stay; ARPA at Apr 1 = (20 + 25) / 2 = 22.5.
        (dt.date(2024, 3, 1), 2, 0, 0.0, 22.5, None, True),
    ]
    assert got["is_complete"].all() and got["margin"].to_list() == [0.5] * 4


def test_formula_hand_example_quarters() -> None:
    got = clv_formula(HAND_SUBSCRIPTIONS, period="quarter", margin=0.5, as_of=ts(2024, 4, 1))
    # Q4 2023: nobody at Oct 1; ARPA at Jan 1 = 25.
    # Q1 2024: A, C at Jan 1; at Apr 1 A20, D25: C churned -> 1/2; ARPA 22.5 per month = 67.5 per quarter;
    # CLV = 67.5 * 0.5 / 0.5 = 67.5.
    assert got.select("period", "customers_start", "churned", "churn_rate", "arpa", "clv").rows() == [
        (dt.date(2023, 10, 1), 0, 0, None, 25.0, None),
        (dt.date(2024, 1, 1), 2, 1, 0.5, 22.5, 67.5),
    ]


def test_formula_as_of_cuts_the_data() -> None:
    # as_of Mar 15 00:00: D's downgrade (at as_of) is not observed and D's 50 counts as still running.
    got = clv_formula(HAND_SUBSCRIPTIONS, as_of=ts(2024, 3, 15)).filter(period=dt.date(2024, 3, 1))
    # March: A, D at Mar 1 and at Apr 1 (A20, D50): ARPA 35, no churn; the period ends after as_of.
    assert got.select("is_complete", "customers_start", "churned", "arpa", "zero_churn").row(0) == (
        False,
        2,
        0,
        35.0,
        True,
    )


def test_formula_default_as_of_is_the_last_timestamp() -> None:
    # Last timestamp: Mar 15 (D's change): the March row is incomplete and snapshots use all the data.
    got = clv_formula(HAND_SUBSCRIPTIONS)
    assert got["period"].to_list()[-1] == dt.date(2024, 3, 1)
    assert got["is_complete"].to_list() == [True, True, True, False]
    assert got["arpa"].to_list()[-1] == 22.5


def test_formula_everyone_churns() -> None:
    subs = subscription_frame(
        [("A", ts(2024, 1, 1), ts(2024, 1, 20), "10"), ("B", ts(2024, 1, 1), ts(2024, 2, 1), "20")]
    )
    got = clv_formula(subs, as_of=ts(2024, 3, 1))
    # January: A, B at Jan 1, nobody at Feb 1: churn 1.0, ARPA undefined (no account at the end) -> CLV null.
    # February (observed up to Mar 1): nobody at either snapshot, every ratio undefined.
    assert got.select("period", "churn_rate", "arpa", "clv", "zero_churn").rows() == [
        (dt.date(2024, 1, 1), 1.0, None, None, False),
        (dt.date(2024, 2, 1), None, None, None, False),
    ]


def test_formula_dataset_and_segments_from_customers() -> None:
    customers = pl.DataFrame(
        {"customer_id": ["A", "B", "C", "D"], "created_at": [ts(2023, 1, 1)] * 4, "tier": ["x", "y", "x", "y"]}
    )
    ds = Dataset(customers=customers, subscriptions=HAND_SUBSCRIPTIONS)
    got = clv_formula(ds, by="tier", as_of=ts(2024, 4, 1), margin=0.5)
    # Tier x = {A, C}: February starts with A10, C40; at Mar 1 only A20: churn 1/2, ARPA 20, CLV 20 * 0.5 / 0.5 = 20.
    february = got.filter(tier="x", period=dt.date(2024, 2, 1))
    assert february.select("customers_start", "churned", "arpa", "clv").row(0) == (2, 1, 20.0, 20.0)
    # Tier y = {B, D} starts in January (B), so its first row is January.
    assert got.filter(tier="y")["period"].to_list()[0] == dt.date(2024, 1, 1)


def test_formula_bad_input() -> None:
    margins: list[Any] = [0, 0.0, -0.1, 1.5, float("nan"), True, "0.5"]
    for margin in margins:
        with pytest.raises(OptionError, match="margin"):
            clv_formula(HAND_SUBSCRIPTIONS, margin=margin)
    periods: list[Any] = ["week", "day"]
    for period in periods:
        with pytest.raises(OptionError, match="months"):
            clv_formula(HAND_SUBSCRIPTIONS, period=period)
    with pytest.raises(OptionError, match="period"):
        clv_formula(HAND_SUBSCRIPTIONS, period="fortnight")  # type: ignore[call-overload]
    with pytest.raises(SchemaError):
        clv_formula(HAND_ORDERS)
    usd = subscription_frame([("Z", ts(2024, 1, 1), None, "5")], currency="USD").with_columns(
        subscription_id=pl.lit("z")
    )
    mixed = pl.concat([HAND_SUBSCRIPTIONS, usd])
    with pytest.raises(CurrencyError):
        clv_formula(mixed)
    with pytest.raises(CurrencyError):
        clv_formula(mixed.with_columns(tier=pl.lit("t")), by="tier")  # one segment, two currencies
    assert clv_formula(mixed, by="currency")["currency"].unique().sort().to_list() == ["EUR", "USD"]
    empty = clv_formula(TABLES["subscriptions"].schema_frame())
    assert empty.height == 0 and empty.columns == FORMULA_COLUMNS


# --- the shared options: checked with either grain, one result whatever the engine ------------


@pytest.mark.parametrize("grain", ["customer", "cohort"])
def test_historical_options_are_checked_with_either_grain(grain: Any) -> None:
    bad: list[tuple[str, Any]] = [
        ("period", "fortnight"),
        ("week_start", 7),
        ("week_start", "someday"),
        ("tz", "Mars/Olympus"),
        ("engine", "gpu"),
        ("as_of", dt.datetime(2024, 1, 1)),
        ("by", ["currency", "currency"]),
    ]
    for option, value in bad:
        with pytest.raises(OptionError) as info:
            clv_historical(HAND_ORDERS, grain=grain, **{option: value})
        assert info.value.option == option, (option, value)


@pytest.mark.parametrize("engine", ["auto", "streaming", "in-memory"])
@pytest.mark.parametrize("grain", ["customer", "cohort"])
def test_every_engine_gives_the_same_result(engine: Any, grain: Any) -> None:
    want = clv_historical(HAND_ORDERS, grain=grain)
    assert clv_historical(HAND_ORDERS, grain=grain, engine=engine).equals(want)
    assert clv_historical(HAND_ORDERS.lazy(), grain=grain, engine=engine).collect(engine=engine).equals(want)
    formula = clv_formula(HAND_SUBSCRIPTIONS)
    assert clv_formula(HAND_SUBSCRIPTIONS, engine=engine).equals(formula)
    assert clv_formula(HAND_SUBSCRIPTIONS.lazy(), engine=engine).collect(engine=engine).equals(formula)


def test_formula_bad_shared_options() -> None:
    refused: list[tuple[str, Any]] = [
        ("engine", "gpu"),
        ("tz", "Mars/X"),
        ("by", [1]),
        ("as_of", dt.datetime(2024, 1, 1)),
    ]
    for option, value in refused:
        with pytest.raises(OptionError) as info:
            clv_formula(HAND_SUBSCRIPTIONS, **{option: value})
        assert info.value.option == option
    with pytest.raises(TypeError):
        clv_formula(HAND_SUBSCRIPTIONS, week_start=0)  # type: ignore[call-overload]
