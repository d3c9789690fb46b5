"""mrr, mrr_movements (totals and detail) and revenue_retention."""

from __future__ import annotations

import datetime as dt
import itertools
import sys
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
from retainlib.tables import MONEY, TIMESTAMP

sys.path.insert(0, str(Path(__file__).parent))
import reference as ref
from frames import subscriptions as _subs

UTC = dt.UTC
MOVES = ["new", "reactivation", "expansion", "contraction", "churn"]


def frame(segments: list[ref.Segment]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "subscription_id": [f"s{i}" for i in range(len(segments))],
            "customer_id": [s.customer for s in segments],
            "started_at": pl.Series([s.start for s in segments], dtype=TIMESTAMP),
            "ended_at": pl.Series([s.end for s in segments], dtype=TIMESTAMP),
            "mrr": pl.Series([s.mrr for s in segments], dtype=MONEY),
            "currency": [s.currency for s in segments],
            "plan": [s.segment for s in segments],
        },
        schema_overrides={"customer_id": pl.String, "currency": pl.String, "plan": pl.String},
    )


boundaries = [dt.datetime(2024, m, 1, tzinfo=UTC) for m in (1, 2, 3, 4, 5)]
moments = st.one_of(
    st.datetimes(min_value=dt.datetime(2023, 12, 15), max_value=dt.datetime(2024, 5, 15), timezones=st.just(UTC)),
    st.sampled_from(boundaries),
)


@st.composite
def segment(draw: st.DrawFn, currencies: tuple[str, ...] = ("EUR",)) -> ref.Segment:
    start = draw(moments)
    end = draw(st.one_of(st.none(), moments.filter(lambda t: t >= start)))
    return ref.Segment(
        customer=draw(st.sampled_from(["a", "b", "c", "d"])),
        start=start,
        end=end,
        mrr=draw(st.sampled_from([Decimal(0), Decimal("9.99"), Decimal("10"), Decimal("29.5"), Decimal("100")])),
        currency=draw(st.sampled_from(currencies)),
        segment=draw(st.sampled_from(["basic", "pro", None])),
    )


segments_st = st.lists(segment(), max_size=12)


def approx_rows(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    assert len(got) == len(want), (got, want)
    for g, w in zip(got, want, strict=True):
        for key, value in w.items():
            if isinstance(value, float):
                assert g[key] == pytest.approx(value, rel=1e-12), (key, g, w)
            else:
                assert g[key] == value, (key, g, w)


@given(
    segments=segments_st,
    period=st.sampled_from(["week", "month", "quarter"]),
    tz=st.sampled_from(["UTC", "Europe/Paris", "America/New_York"]),
    use_as_of=st.booleans(),
)
def test_movements_match_reference_and_identities(
    segments: list[ref.Segment], period: PeriodName, tz: str, use_as_of: bool
) -> None:
    as_of = dt.datetime(2024, 4, 10, tzinfo=UTC) if use_as_of else None
    got = rl.mrr_movements(frame(segments), period=period, tz=tz, as_of=as_of)
    approx_rows(got.to_dicts(), ref.mrr_movements(segments, period=period, tz=tz, as_of=as_of))
    rows = got.to_dicts()
    for r in rows:  # the identity, exactly (Decimal)
        assert (
            r["mrr_end"]
            == r["mrr_start"] + r["new"] + r["reactivation"] + r["expansion"] - r["contraction"] - r["churn"]
        )
    for prev, cur in itertools.pairwise(rows):
        assert cur["mrr_start"] == prev["mrr_end"]
    levels = rl.mrr(frame(segments), period=period, tz=tz, as_of=as_of)
    assert levels["mrr"].to_list() == got["mrr_end"].to_list()
    detail = rl.mrr_movements(frame(segments), period=period, tz=tz, as_of=as_of, detail=True)
    if rows:
        sums = detail.group_by("period", "movement").agg(pl.col("amount").sum())
        for r in rows:
            for move in MOVES:
                found = sums.filter((pl.col("period") == r["period"]) & (pl.col("movement") == move))["amount"]
                assert (found.item() if found.len() else Decimal(0)) == r[move]


# Each example runs the kernel a dozen times (segments, filters, lazy and eager): a third of the examples.
@settings(max_examples=max(10, settings().max_examples // 3))
@given(segments=segments_st)
def test_by_equals_filter_and_lazy_equals_eager(segments: list[ref.Segment]) -> None:
    df = frame(segments)
    for kernel in (rl.mrr_movements, rl.mrr, rl.revenue_retention):
        grouped = kernel(df, by="plan") if kernel is not rl.revenue_retention else kernel(df, by="plan", horizon=2)
        lazy = (
            kernel(df.lazy(), by="plan")
            if kernel is not rl.revenue_retention
            else kernel(df.lazy(), by="plan", horizon=2)
        )
        assert lazy.collect().equals(grouped)
        for plan in ("basic", "pro", None):
            pick = pl.col("plan").is_null() if plan is None else pl.col("plan") == plan
            alone = (
                kernel(df.filter(pick)) if kernel is not rl.revenue_retention else kernel(df.filter(pick), horizon=2)
            )
            assert grouped.filter(pick).drop("plan").equals(alone), (kernel.__name__, plan)


EXAMPLE = _subs(
    ("a", "2024-01-01T00:00:00Z", "2024-02-10T00:00:00Z", "10"),  # a upgrades on Feb 10
    ("a", "2024-02-10T00:00:00Z", None, "30"),
    ("b", "2024-01-15T00:00:00Z", "2024-02-20T00:00:00Z", "20"),  # b churns in February
    ("b", "2024-04-05T00:00:00Z", None, "20"),  # and comes back in April
    ("c", "2024-03-01T00:00:00Z", None, "50"),  # c starts exactly on March 1st
)


def test_movements_by_hand() -> None:
    # Snapshots (1st of each month): Jan 1: a10 -> 10; Feb 1: a10 b20 -> 30; Mar 1: a30 c50 -> 80;
    # Apr 1: a30 c50 -> 80; May 1: a30 b20 c50 -> 100.
    got = rl.mrr_movements(EXAMPLE, as_of=dt.date(2024, 4, 30))
    assert got.select("period", "mrr_start", *MOVES, "mrr_end").rows() == [
        # January: b new (20): 10 -> 30.
        (dt.date(2024, 1, 1), 10, 20, 0, 0, 0, 0, 30),
        # February: a expands 10 -> 30 (+20), b churns (-20), c is new at Mar 1 (+50): 30 -> 80.
        (dt.date(2024, 2, 1), 30, 50, 0, 20, 0, 20, 80),
        # March: no change.
        (dt.date(2024, 3, 1), 80, 0, 0, 0, 0, 0, 80),
        # April: b reactivates (+20): 80 -> 100.
        (dt.date(2024, 4, 1), 80, 0, 20, 0, 0, 0, 100),
    ]
    feb = got.row(1, named=True)
    assert feb["customers_start"] == 2 and feb["customers_churned"] == 1 and feb["logo_churn_rate"] == 0.5
    assert feb["gross_revenue_retention"] == pytest.approx((30 - 20) / 30)
    assert feb["net_revenue_retention"] == pytest.approx((30 + 20 - 20) / 30)
    assert feb["quick_ratio"] == pytest.approx((50 + 20) / 20)
    assert got["is_complete"].to_list() == [True, True, True, True]
    levels = rl.mrr(EXAMPLE, as_of=dt.date(2024, 4, 30))
    assert levels.select("mrr", "customers").rows() == [(30, 2), (80, 2), (80, 2), (100, 3)]
    assert levels["arpa"].to_list() == pytest.approx([15.0, 40.0, 40.0, 100 / 3])
    detail = rl.mrr_movements(EXAMPLE, as_of=dt.date(2024, 4, 30), detail=True)
    assert detail.filter(pl.col("period") == dt.date(2024, 2, 1)).select(
        "customer_id", "movement", "amount"
    ).rows() == [
        ("a", "expansion", Decimal("20")),
        ("b", "churn", Decimal("20")),
        ("c", "new", Decimal("50")),
    ]


def test_revenue_retention_by_hand() -> None:
    # Base Feb 1 (a10, b20 = 30); two months later (Apr 1): a30, b0 -> net 30/30, gross min(30,10)+0 = 10/30.
    got = rl.revenue_retention(EXAMPLE, horizon=2, as_of=dt.date(2024, 4, 30))
    feb = got.filter(pl.col("period") == dt.date(2024, 2, 1)).row(0, named=True)
    assert (feb["customers"], feb["mrr_base"], feb["mrr_after"]) == (2, Decimal(30), Decimal(30))
    assert feb["net_revenue_retention"] == pytest.approx(1.0)
    assert feb["gross_revenue_retention"] == pytest.approx(10 / 30)
    assert got["period"].max() == dt.date(2024, 3, 1)  # March + 2 = May 1, the last snapshot
    with pytest.raises(OptionError, match="horizon"):
        rl.revenue_retention(EXAMPLE, horizon=0)


def test_currencies_and_exchange_rates() -> None:
    mixed = EXAMPLE.with_columns(currency=pl.Series(["USD", "USD", "EUR", "EUR", "USD"]))
    with pytest.raises(CurrencyError, match="by='currency'"):
        rl.mrr_movements(mixed)
    per_currency = rl.mrr(mixed, by="currency", as_of=dt.date(2024, 4, 30))
    assert per_currency.filter(pl.col("currency") == "EUR")["mrr"].to_list() == [20, 0, 0, 20]
    fx = pl.DataFrame(
        {"currency": ["EUR", "EUR"], "date": [dt.date(2023, 1, 1), dt.date(2024, 3, 15)], "rate": [1.1, 1.2]}
    )
    converted = rl.mrr(mixed, fx=fx, currency="USD", as_of=dt.date(2024, 4, 30))
    # Jan 31 snapshot: a 10 USD + b 20 EUR at 1.1 = 32; May 1: a 30 + c 50 + b 20 EUR at 1.2 = 104.
    assert converted["mrr"].to_list() == [Decimal("32"), Decimal("80"), Decimal("80"), Decimal("104")]
    with pytest.raises(OptionError, match="target currency"):
        rl.mrr(mixed, fx=fx)
    with pytest.raises(SchemaError, match="fx needs columns"):
        rl.mrr(mixed, fx=fx.drop("rate"), currency="USD")


def test_bad_input() -> None:
    with pytest.raises(SchemaError, match="needs subscriptions"):
        rl.mrr(
            pl.DataFrame(
                {
                    "order_id": ["o"],
                    "customer_id": ["c"],
                    "ordered_at": ["2024-01-01T00:00:00Z"],
                    "amount": ["1"],
                    "currency": ["USD"],
                }
            )
        )
    with pytest.raises(OptionError, match="detail"):
        rl.mrr_movements(EXAMPLE, detail="yes")  # type: ignore[call-overload]
    with pytest.raises(OptionError, match="unknown period"):
        rl.mrr(EXAMPLE, period="decade")  # type: ignore[call-overload]
    assert rl.mrr_movements(EXAMPLE.clear()).height == 0


def test_sample_store() -> None:
    from retainlib.samples import synthetic_store

    store = synthetic_store(customers=1500, seed=4)
    moves = rl.mrr_movements(store, by="plan")
    assert (
        moves["mrr_end"]
        == moves["mrr_start"]
        + moves["new"]
        + moves["reactivation"]
        + moves["expansion"]
        - moves["contraction"]
        - moves["churn"]
    ).all()
    assert rl.revenue_retention(store).height > 0


@given(segments=st.lists(segment(currencies=("EUR", "USD", "JPY")), max_size=12))
def test_several_currencies_are_kept_apart(segments: list[ref.Segment]) -> None:
    df = frame(segments)
    got = rl.mrr_movements(df, by="currency")
    for code in ("EUR", "USD", "JPY"):
        alone = [s for s in segments if s.currency == code]
        mine = got.filter(pl.col("currency") == code).drop("currency")
        approx_rows(mine.to_dicts(), ref.mrr_movements(alone, period="month", tz="UTC"))


# --- issue 13: exchange rates, spans and options -------------------------------------------------

SUB_KERNELS = [rl.mrr, rl.mrr_movements, rl.revenue_retention]
MIXED = EXAMPLE.with_columns(currency=pl.Series(["USD", "USD", "EUR", "EUR", "GBP"]))
RATES = pl.DataFrame(
    {
        "currency": ["EUR", "EUR", "GBP"],
        "date": [dt.date(2023, 1, 1), dt.date(2024, 3, 15), dt.date(2024, 1, 1)],
        "rate": [1.1, 1.2, 1.3],
    }
)


def _collected(got: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    return got.collect() if isinstance(got, pl.LazyFrame) else got


def test_rates_apply_as_of_the_snapshot_date() -> None:
    got = rl.mrr(MIXED, fx=RATES, currency="usd", as_of=dt.date(2024, 4, 30))
    # Snapshots on the 1st of Feb..May: b's 20 EUR at 1.1 until March 15, then 1.2; c's 50 GBP at 1.3.
    # Feb 1: a 10 + b 22 = 32; Mar 1: a 30 + c 65 = 95; Apr 1: 95; May 1: a 30 + b 24 + c 65 = 119.
    assert got["mrr"].to_list() == [Decimal("32"), Decimal("95"), Decimal("95"), Decimal("119")]
    as_text = RATES.with_columns(pl.col("date").cast(pl.String), pl.col("currency").str.to_lowercase())
    assert rl.mrr(MIXED, fx=as_text, currency="USD", as_of=dt.date(2024, 4, 30)).equals(got)


BAD_RATES = {
    "a negative and a zero rate": (RATES.with_columns(rate=pl.Series([1.1, -1.0, 0.0])), "rate", [2, 3]),
    "NaN and inf": (RATES.with_columns(rate=pl.Series([float("nan"), 1.2, float("inf")])), "rate", [1, 3]),
    "a duplicate (currency, date)": (pl.concat([RATES, RATES.head(1)]), "date", [1, 4]),
    "a date that is not a date": (
        RATES.with_columns(date=pl.Series(["2023-01-01", "15/03/2024", None])),
        "date",
        [2, 3],
    ),
    "a bad currency code": (RATES.with_columns(currency=pl.Series(["EUR", "EURO", "GBP"])), "currency", [2]),
}


@pytest.mark.parametrize("case", list(BAD_RATES))
@pytest.mark.parametrize("kernel", SUB_KERNELS)
def test_a_bad_rate_table_is_a_data_error_naming_its_rows(kernel: Any, case: str) -> None:
    rates, column, rows = BAD_RATES[case]
    for fx in (rates, rates.lazy()):
        with pytest.raises(DataError) as info:
            _collected(kernel(MIXED, fx=fx, currency="USD", as_of=dt.date(2024, 4, 30)))
        (problem,) = info.value.problems
        assert (problem.table, problem.column) == ("fx", column)
        assert problem.rows["row"].to_list() == rows


@pytest.mark.parametrize("kernel", SUB_KERNELS)
def test_a_missing_rate_is_a_currency_error_not_dropped_revenue(kernel: Any) -> None:
    no_gbp = RATES.filter(pl.col("currency") != "GBP")
    late = RATES.with_columns(date=pl.Series([dt.date(2024, 3, 20), dt.date(2024, 3, 25), dt.date(2024, 4, 15)]))
    for fx, currencies, named in ((no_gbp, ("GBP",), "no rate at all"), (late, ("EUR", "GBP"), "2024-03-20")):
        for data in (MIXED, MIXED.lazy()):
            with pytest.raises(CurrencyError, match=named) as info:
                _collected(kernel(data, fx=fx, currency="USD", as_of=dt.date(2024, 4, 30)))
            assert info.value.currencies == currencies
            assert "on or before" in str(info.value)


def test_rate_table_shapes_and_target_are_checked() -> None:
    with pytest.raises(SchemaError, match="rates are numbers"):
        rl.mrr(MIXED, fx=RATES.with_columns(pl.col("rate").cast(pl.String)), currency="USD")
    with pytest.raises(SchemaError, match="dates are dates"):
        rl.mrr(MIXED, fx=RATES.with_columns(date=pl.lit(3)), currency="USD")
    with pytest.raises(OptionError, match="ISO 4217") as info:
        rl.mrr(MIXED, fx=RATES, currency=5)  # type: ignore[call-overload]
    assert info.value.option == "currency"
    with pytest.raises(OptionError, match="polars frame"):
        rl.mrr(MIXED, fx={"EUR": 1.1}, currency="USD")  # type: ignore[call-overload]
    with pytest.raises(CurrencyError, match="out of range"):
        rl.mrr(MIXED, fx=RATES.with_columns(rate=pl.lit(1e30)), currency="USD", as_of=dt.date(2024, 4, 30))


def test_a_subscription_longer_than_the_horizon_is_named() -> None:
    old = _subs(
        ("a", "2024-01-01T00:00:00Z", None, "10"),
        ("b", "1800-01-15T00:00:00Z", None, "20"),
    )
    kernels: list[Any] = [*SUB_KERNELS, rl.retention_rate]
    for kernel in kernels:
        for data in (old, old.lazy()):
            with pytest.raises(DataError, match="36525 days") as info:
                _collected(kernel(data, period="day", as_of=dt.date(2024, 6, 30)))
            assert info.value.problems[0].rows["subscription_id"].to_list() == ["s1"]
    # A placeholder end (9999-12-31) is harmless once as_of ends the observation.
    forever = _subs(("a", "2024-01-01T00:00:00Z", "9999-12-31T00:00:00Z", "10"))
    assert rl.mrr(forever, as_of=dt.date(2024, 3, 31))["mrr"].to_list() == [Decimal(10)] * 3
    with pytest.raises(DataError, match="1200 months"):
        rl.mrr(forever)
    # Without as_of the placeholder stretches the window: it is named first, before the rows that run to it.
    mixed = pl.concat([EXAMPLE, forever.with_columns(subscription_id=pl.lit("placeholder"))])
    for data in (mixed, mixed.lazy()):
        with pytest.raises(DataError, match="1200 months") as info:
            _collected(rl.mrr_movements(data))
        assert info.value.problems[0].rows["subscription_id"].to_list() == ["placeholder"]


@pytest.mark.parametrize("kernel", SUB_KERNELS)
@pytest.mark.parametrize(
    ("option", "value"),
    [("week_start", "funday"), ("period", "fortnight"), ("tz", "Europe/Pari"), ("as_of", "2024"), ("engine", "gpu")],
)
def test_options_are_checked_by_every_subscription_kernel(kernel: Any, option: str, value: object) -> None:
    for data in (EXAMPLE, EXAMPLE.lazy()):
        with pytest.raises(OptionError) as info:
            kernel(data, **{option: value})
        assert info.value.option == option


def test_by_is_a_segment_column_for_subscriptions() -> None:
    for column in ("customer_id", "subscription_id", "started_at", "ended_at", "mrr"):
        with pytest.raises(OptionError, match=column) as info:
            rl.mrr_movements(EXAMPLE, by=column)
        assert info.value.option == "by"
