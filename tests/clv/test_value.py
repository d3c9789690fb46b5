"""Discounted CLV over a horizon (``retainlib.clv._value``): hand-derived values, conventions, errors."""

from __future__ import annotations

import math

import attrs
import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from retainlib.clv import MEAN_MONTH_DAYS, FitResult, TimeUnit
from retainlib.clv._base import UnitName
from retainlib.clv._value import customer_lifetime_value, key_columns
from retainlib.clv.bgnbd import BetaGeo, ModifiedBetaGeo
from retainlib.errors import OptionError, SchemaError

WEEK = TimeUnit(name="day", count=7)


@attrs.frozen
class LinearModel:
    """A stand-in transaction model: customer i buys ``rate_i`` times per unit, forever."""

    result: FitResult | None

    def conditional_expected_purchases(self, rfm_frame: pl.DataFrame | pl.LazyFrame, t: float) -> pl.DataFrame:
        frame = rfm_frame.collect() if isinstance(rfm_frame, pl.LazyFrame) else rfm_frame
        return frame.select(key_columns(frame)).with_columns((pl.Series(frame["rate"]) * t).alias("expected_purchases"))


@attrs.frozen
class FixedSpend:
    """A stand-in spend model (duck-typed like Gamma-Gamma)."""

    values: list[float | None]

    def conditional_expected_average_profit(self, rfm_frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
        return pl.DataFrame({"expected_spend": self.values}, schema={"expected_spend": pl.Float64})


def fit_result(unit: TimeUnit | None) -> FitResult:
    return FitResult(model="Linear", params={}, standard_errors={}, log_likelihood=0.0, customers=0, unit=unit)


CUSTOMERS = pl.DataFrame(
    {
        "customer_id": ["a", "b", "c"],
        "frequency": [2, 0, 7],
        "recency": [20.0, 0.0, 35.0],
        "T": [38.0, 30.0, 39.0],
        "rate": [0.1, 0.0, 0.5],
        "spend": [20.0, 5.0, 10.0],
    }
)


def test_hand_derived_linear_model() -> None:
    """Rate λ per day, monthly intervals, 10 %/year: value = λ M spend margin Σ_k 1.1^(-k/12)."""
    model = LinearModel(fit_result(TimeUnit(name="day")))
    got = customer_lifetime_value(model, CUSTOMERS, spend="spend", margin=0.3)
    annuity = sum(1.1 ** (-k / 12) for k in range(1, 13))
    expected = [
        rate * MEAN_MONTH_DAYS * spend * 0.3 * annuity for rate, spend in zip([0.1, 0.0, 0.5], [20, 5, 10], strict=True)
    ]
    assert got.columns == ["customer_id", "clv"]
    assert got["customer_id"].to_list() == ["a", "b", "c"]
    assert got["clv"].to_list() == pytest.approx(expected, rel=1e-12)


def test_rate_conversion_is_exact_and_unit_free() -> None:
    frame = CUSTOMERS
    by_day = customer_lifetime_value(LinearModel(fit_result(TimeUnit(name="day"))), frame, spend=1.0)
    monthly: tuple[float, UnitName] = (1.1 ** (1 / 12) - 1, "month")
    same = customer_lifetime_value(
        LinearModel(fit_result(TimeUnit(name="day"))), frame, spend=1.0, discount_rate=monthly
    )
    assert same["clv"].to_list() == pytest.approx(by_day["clv"].to_list(), rel=1e-12)
    # a model in weeks buys 7x per week what the daily one buys per day: same value
    week_frame = frame.with_columns(pl.col("rate") * 7)
    by_week = customer_lifetime_value(LinearModel(fit_result(WEEK)), week_frame, spend=1.0)
    assert by_week["clv"].to_list() == pytest.approx(by_day["clv"].to_list(), rel=1e-12)


def test_intervals_sum_to_total_and_last_interval_is_cut() -> None:
    model = BetaGeo.from_params(0.243, 4.414, 0.793, 2.426, unit=WEEK)
    total = model.customer_lifetime_value(CUSTOMERS, spend="spend", horizon=(10, "week"))
    per = model.customer_lifetime_value(CUSTOMERS, spend="spend", horizon=(10, "week"), intervals=True)
    assert per.columns == ["customer_id", "interval", "t_end", "expected_purchases", "discount_factor", "clv"]
    # 70 days = 2 whole mean months + a cut third interval ending at 10 weeks
    assert per.filter(pl.col("customer_id") == "a")["interval"].to_list() == [1, 2, 3]
    ends = per.filter(pl.col("customer_id") == "a")["t_end"].to_list()
    assert ends == pytest.approx([MEAN_MONTH_DAYS / 7, 2 * MEAN_MONTH_DAYS / 7, 10.0])
    summed = per.group_by("customer_id", maintain_order=True).agg(
        pl.col("clv").sum(), pl.col("expected_purchases").sum()
    )
    assert summed["clv"].to_list() == pytest.approx(total["clv"].to_list(), rel=1e-12)
    cond = model.conditional_expected_purchases(CUSTOMERS, 10.0)["expected_purchases"].to_list()
    assert summed["expected_purchases"].to_list() == pytest.approx(cond, rel=1e-12)
    assert per["discount_factor"].to_list()[:3] == pytest.approx([1.1 ** (-e * 7 / 365.2425) for e in ends])


def test_zero_discount_is_expected_purchases_times_spend() -> None:
    model = ModifiedBetaGeo.from_params(0.3, 5.0, 0.7, 2.0, unit=WEEK)
    got = model.customer_lifetime_value(CUSTOMERS, spend=12.0, discount_rate=(0.0, "year"), margin=0.5)
    horizon = 12 * MEAN_MONTH_DAYS / 7
    cond = model.conditional_expected_purchases(CUSTOMERS, horizon)["expected_purchases"].to_numpy()
    assert got["clv"].to_numpy() == pytest.approx(cond * 6.0, rel=1e-12)


def test_spend_forms_agree_and_null_spend_gives_null() -> None:
    model = BetaGeo.from_params(0.243, 4.414, 0.793, 2.426, unit=WEEK)
    by_column = model.customer_lifetime_value(CUSTOMERS, spend="spend")
    by_model = model.customer_lifetime_value(CUSTOMERS, spend=FixedSpend([20.0, 5.0, 10.0]))
    assert by_model["clv"].to_list() == pytest.approx(by_column["clv"].to_list(), rel=1e-12)
    unit = model.customer_lifetime_value(CUSTOMERS, spend=1.0)["clv"].to_numpy()
    assert by_column["clv"].to_numpy() == pytest.approx(unit * np.array([20.0, 5.0, 10.0]), rel=1e-12)
    missing = model.customer_lifetime_value(CUSTOMERS, spend=FixedSpend([20.0, None, 10.0]), intervals=True)
    assert missing.filter(pl.col("customer_id") == "b")["clv"].null_count() == 12
    assert missing.filter(pl.col("customer_id") != "b")["clv"].null_count() == 0


def test_longer_horizon_more_value_and_higher_rate_less() -> None:
    model = BetaGeo.from_params(0.243, 4.414, 0.793, 2.426, unit=WEEK)
    short = model.customer_lifetime_value(CUSTOMERS, spend=1.0, horizon=(6, "month"))["clv"].to_numpy()
    long = model.customer_lifetime_value(CUSTOMERS, spend=1.0, horizon=(3, "year"))["clv"].to_numpy()
    dear = model.customer_lifetime_value(CUSTOMERS, spend=1.0, horizon=(3, "year"), discount_rate=(0.5, "year"))
    assert np.all(long >= short) and np.all(dear["clv"].to_numpy() <= long)
    assert np.all(np.isfinite(long))


def test_errors() -> None:
    with pytest.raises(OptionError, match="no time unit"):
        BetaGeo.from_params(0.243, 4.414, 0.793, 2.426).customer_lifetime_value(CUSTOMERS, spend=1.0)
    with pytest.raises(OptionError, match="not fitted"):
        BetaGeo().customer_lifetime_value(CUSTOMERS, spend=1.0)
    with pytest.raises(OptionError, match="not fitted"):
        customer_lifetime_value(LinearModel(None), CUSTOMERS, spend=1.0)
    model = BetaGeo.from_params(0.243, 4.414, 0.793, 2.426, unit=WEEK)
    with pytest.raises(OptionError, match="negative"):
        model.customer_lifetime_value(CUSTOMERS, spend=-1.0)
    with pytest.raises(OptionError, match="negative"):
        model.customer_lifetime_value(CUSTOMERS, spend=FixedSpend([1.0, math.nan, 2.0]))
    with pytest.raises(OptionError, match="one row per RFM row"):
        model.customer_lifetime_value(CUSTOMERS, spend=FixedSpend([1.0]))
    with pytest.raises(SchemaError, match="nope"):
        model.customer_lifetime_value(CUSTOMERS, spend="nope")
    with pytest.raises(OptionError, match="greater than -1"):
        model.customer_lifetime_value(CUSTOMERS, spend=1.0, discount_rate=(-1.0, "year"))
    with pytest.raises(OptionError, match="horizon"):
        model.customer_lifetime_value(CUSTOMERS, spend=1.0, horizon=(0, "month"))
    with pytest.raises(OptionError, match="unknown time unit"):
        model.customer_lifetime_value(CUSTOMERS, spend=1.0, horizon=(1, "fortnight"))  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="spend must be"):
        model.customer_lifetime_value(CUSTOMERS, spend=[1.0])  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="margin"):
        model.customer_lifetime_value(CUSTOMERS, spend=1.0, margin=math.inf)


@given(
    rows=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 6), st.integers(0, 3)), min_size=1, max_size=40),
    pareto=st.booleans(),
)
def test_distinct_rows_shortcut_equals_row_by_row(rows: list[tuple[int, int, int]], pareto: bool) -> None:
    """expected_purchases_by_time (distinct (x, t_x, T) computed once) equals each t computed per row."""
    from retainlib.clv import ParetoNBD

    x = [float(a) for a, _, _ in rows]
    tx = [float(b) if a > 0 else 0.0 for a, b, _ in rows]
    T = [t + 6.0 + c for t, (_, _, c) in zip(tx, rows, strict=True)]
    frame = pl.DataFrame({"customer_id": [str(i) for i in range(len(rows))], "frequency": x, "recency": tx, "T": T})
    names = ("r", "alpha", "s", "beta") if pareto else ("r", "alpha", "a", "b")
    params = dict(zip(names, (0.55, 10.6, 0.61, 11.7) if pareto else (0.24, 4.4, 0.79, 2.4), strict=True))
    result = FitResult(
        model="ParetoNBD" if pareto else "BetaGeo",
        params=params,
        standard_errors=dict.fromkeys(names, 0.1),
        log_likelihood=0.0,
        customers=len(rows),
        unit=TimeUnit.of("W"),
    )
    model = ParetoNBD(result=result) if pareto else BetaGeo(result=result)
    ends = np.array([1.0, 4.5, 13.0])
    got = model.expected_purchases_by_time(frame, ends)
    for j, t in enumerate(ends):
        want = model.conditional_expected_purchases(frame, float(t)).get_column("expected_purchases").to_numpy()
        np.testing.assert_allclose(got[:, j], want, rtol=1e-12, atol=0)
