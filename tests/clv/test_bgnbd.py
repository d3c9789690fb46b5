"""BG/NBD and MBG/NBD: published reference values (CDNOW), parameter recovery, edge cases, JSON."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from retainlib.clv import TimeUnit
from retainlib.clv.bgnbd import BetaGeo, ModifiedBetaGeo
from retainlib.errors import ConvergenceError, DataError, OptionError, SchemaError

WEEK = TimeUnit(name="day", count=7)


def reference(shared: Path) -> dict[str, Any]:
    data = json.loads((shared / "reference" / "published_reference_values.json").read_text())
    assert isinstance(data, dict)
    return data


def prediction(ref: dict[str, Any], prefix: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [p for p in ref["bgnbd_cdnow"]["predictions"] if p["what"].startswith(prefix)]
    assert len(found) == 1
    return found[0]


def cdnow(shared: Path) -> pl.DataFrame:
    return pl.read_csv(shared / "reference" / "cdnow" / "BTYD-2.4.3" / "cdnowSummary_cbs.csv").rename(
        {"cust": "customer_id", "x": "frequency", "t.x": "recency", "T.cal": "T"}
    )


def rfm(x: list[float], tx: list[float], T: list[float]) -> pl.DataFrame:
    return pl.DataFrame(
        {"frequency": x, "recency": tx, "T": T},
        schema={"frequency": pl.Float64, "recency": pl.Float64, "T": pl.Float64},
    )


def simulate(
    n: int, r: float, alpha: float, a: float, b: float, *, modified: bool, seed: int, days: bool = False
) -> pl.DataFrame:
    """Customers from the BG/NBD (or MBG/NBD) generative process, observed for T in [20, 80] units.

    Given lambda the purchase count in (0, T] is Poisson(lambda T) (M); the number of
    purchases the customer lives to make is N = Geometric(p) (BG/NBD: death after a
    purchase) or N - 1 (MBG/NBD: also a death chance at time 0); x = min(M, N) and
    the x-th of M uniform arrival times is T * Beta(x, M - x + 1).
    """
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    T = rng.uniform(20, 80, n)
    if days:
        T = np.round(T * 7) / 7
    m = rng.poisson(lam * T)
    lives = rng.geometric(p) - (1 if modified else 0)
    x = np.minimum(m, lives)
    tx = np.where(x > 0, T * rng.beta(np.maximum(x, 1), m - x + 1), 0.0)
    if days:
        tx = np.minimum(np.round(tx * 7) / 7, T)
        tx = np.where(x > 0, np.maximum(tx, 1 / 7), 0.0)
    return pl.DataFrame({"customer_id": np.arange(n), "frequency": x, "recency": tx, "T": T})


# ------------------------------------------------------------------ published values


def test_cdnow_fit_matches_paper(shared_data: Path) -> None:
    ref = reference(shared_data)["bgnbd_cdnow"]
    model = BetaGeo().fit(cdnow(shared_data), unit=WEEK)
    result = model.result
    assert result is not None
    for name in ("r", "alpha", "a", "b"):
        assert model.params[name] == pytest.approx(ref["published"][name], abs=5e-4)
        assert model.params[name] == pytest.approx(ref["full_precision"][name], rel=2e-4)
        assert result.standard_errors[name] == pytest.approx(ref["std_errors"][name], rel=0.01)
    assert result.log_likelihood == pytest.approx(ref["full_precision"]["LL"], abs=1e-3)
    assert round(result.log_likelihood, 1) == ref["published"]["LL"]
    assert result.customers == 2357
    assert result.aic == pytest.approx(8 - 2 * result.log_likelihood)
    assert result.unit == WEEK


def test_cdnow_conditional_expectation_hardie_excel(shared_data: Path) -> None:
    ref = reference(shared_data)
    p = prediction(ref, "E[Y(39)|x=2")
    full = ref["bgnbd_cdnow"]["full_precision"]
    model = BetaGeo.from_params(full["r"], full["alpha"], full["a"], full["b"])
    got = model.conditional_expected_purchases(rfm([2], [30.43], [38.86]), 39)["expected_purchases"][0]
    assert got == pytest.approx(p["value"], abs=p["tol"])


def test_cdnow_unconditional_expectation(shared_data: Path) -> None:
    ref = reference(shared_data)
    p = prediction(ref, "E[X(t)] at fitted params")
    model = BetaGeo().fit(cdnow(shared_data), unit=WEEK)
    t = [0.1429, 1, 3, 31.8571, 32, 78]
    got = model.expected_purchases(t)
    assert got["t"].to_list() == pytest.approx(t)
    assert got["expected_purchases"].to_list() == pytest.approx(p["value"], abs=p["tol"])


def test_btyd_manual_pmf(shared_data: Path) -> None:
    ref = reference(shared_data)
    model = BetaGeo.from_params(0.243, 4.414, 0.793, 2.426)
    p10 = prediction(ref, "P(X(2)=10)")
    assert model.probability_of_purchases(2, 10)["probability"][0] == pytest.approx(p10["value"], rel=1e-5)
    p0 = prediction(ref, "P(X(39)=0)")
    assert model.probability_of_purchases(39, 0)["probability"][0] == pytest.approx(p0["value"], abs=p0["tol"])
    many = prediction(ref, "P(X(30)=n)")
    got = model.probability_of_purchases(30, range(11, 21))
    assert got["n"].to_list() == list(range(11, 21))
    assert got["probability"].to_list() == pytest.approx(many["value"], rel=1e-6)


def test_btyd_walkthrough(shared_data: Path) -> None:
    p = prediction(reference(shared_data), "at BTYD params")
    values = p["value"]
    model = BetaGeo.from_params(0.2425967, 4.413659, 0.7929869, 2.426164)
    assert model.expected_purchases(52)["expected_purchases"][0] == pytest.approx(values["EX52"], rel=1e-6)
    cust = rfm([26], [30.85714], [31])
    cond = model.conditional_expected_purchases(cust, 52)["expected_purchases"][0]
    assert cond == pytest.approx(values["cond52_1516"], rel=1e-6)
    assert model.probability_alive(cust)["probability_alive"][0] == pytest.approx(values["palive_1516"], rel=1e-6)
    paradox = rfm([10, 15, 20, 25], [20] * 4, [39] * 4)
    got = model.conditional_expected_purchases(paradox, 52)["expected_purchases"].to_list()
    assert got == pytest.approx(values["paradox"], rel=1e-6)


def test_lifetimes_quickstart_t1(shared_data: Path) -> None:
    p = prediction(reference(shared_data), "t=1 conditional expectation")
    summary = pl.read_csv(shared_data / "reference" / "cdnow" / "lifetimes-0.11.3" / "cdnow_customers_summary.csv")
    model = BetaGeo.from_params(0.242593, 4.413532, 0.792886, 2.425752)
    got = model.conditional_expected_purchases(summary.rename({"ID": "customer_id"}), 1)
    for label, value in p["value"].items():
        cid = int(label.split()[0])
        row = got.filter(pl.col("customer_id") == cid)
        assert row["expected_purchases"][0] == pytest.approx(value, abs=1e-6)


def test_individual_log_likelihood_num_error_note(shared_data: Path) -> None:
    p = prediction(reference(shared_data), "individual log-likelihood")
    model = BetaGeo.from_params(0.25, 4, 0.8, 2.5)
    got = model.log_likelihood(rfm([0, 200], [0, 38], [40, 40]))["log_likelihood"].to_list()
    assert got[0] == pytest.approx(p["value"]["x=0,t_x=0"], abs=1e-8)
    assert got[1] == pytest.approx(p["value"]["x=200,t_x=38"], abs=1e-4)


# ------------------------------------------------------------------ internal consistency


@pytest.mark.parametrize("cls", [BetaGeo, ModifiedBetaGeo])
def test_pmf_sums_to_one_and_mean_is_expectation(cls: type[BetaGeo] | type[ModifiedBetaGeo]) -> None:
    model = cls.from_params(0.5, 3.0, 1.6, 2.2)
    for t in (0.5, 10.0, 60.0):
        pmf = model.probability_of_purchases(t, range(0, 3000))["probability"].to_numpy()
        assert pmf.sum() == pytest.approx(1.0, abs=1e-9)
        mean = float(np.dot(np.arange(3000), pmf))
        assert mean == pytest.approx(model.expected_purchases(t)["expected_purchases"][0], rel=1e-8)


@pytest.mark.parametrize("cls", [BetaGeo, ModifiedBetaGeo])
def test_unconditional_is_conditional_on_a_new_customer(cls: type[BetaGeo] | type[ModifiedBetaGeo]) -> None:
    model = cls.from_params(0.3, 5.0, 0.7, 2.0)
    t = [1.0, 13.0, 52.0]
    new = rfm([0], [0], [0])
    cond = [model.conditional_expected_purchases(new, s)["expected_purchases"][0] for s in t]
    assert model.expected_purchases(t)["expected_purchases"].to_list() == pytest.approx(cond, rel=1e-12)


def test_mbg_expectation_limit_is_b_over_a_minus_1() -> None:
    """E[X(t)] -> E[(1-p)/p] = b/(a-1) as t grows (the factor lifetimes prints as (b+1)/(a-1))."""
    a, b = 3.0, 2.0
    model = ModifiedBetaGeo.from_params(1.0, 1.0, a, b)
    assert model.expected_purchases(1e9)["expected_purchases"][0] == pytest.approx(b / (a - 1), rel=1e-3)
    bg = BetaGeo.from_params(1.0, 1.0, a, b)
    assert bg.expected_purchases(1e9)["expected_purchases"][0] == pytest.approx((a + b - 1) / (a - 1), rel=1e-3)


@pytest.mark.parametrize("cls", [BetaGeo, ModifiedBetaGeo])
def test_expectation_is_continuous_at_a_equal_1(cls: type[BetaGeo] | type[ModifiedBetaGeo]) -> None:
    frame = rfm([0, 3], [0, 5], [10, 10])
    values = [
        cls.from_params(0.5, 3.0, a, 2.0).conditional_expected_purchases(frame, 20)["expected_purchases"].to_numpy()
        for a in (1 - 2e-4, 1 - 5e-5, 1.0, 1 + 5e-5, 1 + 2e-4)
    ]
    for got in values:
        assert np.all(np.isfinite(got))
        assert got == pytest.approx(values[0], rel=1e-3)
    assert values[2] == pytest.approx((values[1] + values[3]) / 2, rel=1e-7)


def test_mbg_new_customer_may_be_dead_bg_not() -> None:
    frame = rfm([0, 0], [0, 0], [0, 10])
    bg = BetaGeo.from_params(0.3, 5.0, 0.7, 2.0).probability_alive(frame)["probability_alive"].to_list()
    assert bg == [1.0, 1.0]
    mbg = ModifiedBetaGeo.from_params(0.3, 5.0, 0.7, 2.0).probability_alive(frame)["probability_alive"].to_list()
    assert mbg[0] == pytest.approx(2.0 / 2.7)  # b / (a + b): survived the time-0 coin
    assert mbg[1] < mbg[0]


def test_quadrature_fallback_matches_formula_and_brute_force() -> None:
    """Where scipy's 2F1 fails, E[Y | alive] is integrated over p ~ Beta(a, b + x); both agree elsewhere."""
    from scipy import special

    from retainlib.clv.bgnbd import _given_alive_by_quadrature

    # BG/NBD at the CDNOW fit, x = 2, T = 38.86, t = 39: (a+b+x-1)/(a-1) [1 - (1-z)^(r+x) 2F1(...)]
    r, alpha, a, b = 0.2425945, 4.4136019, 0.7929199, 2.4258881
    x, T, t = 2.0, 38.86, 39.0
    z = t / (alpha + T + t)
    formula = (a + b + x - 1) / (a - 1) * (1 - (1 - z) ** (r + x) * special.hyp2f1(r + x, b + x, a + b + x - 1, z))
    quad = _given_alive_by_quadrature(a, np.array([b + x]), np.array([r + x]), np.array([t / (alpha + T)]))
    assert quad[0] == pytest.approx(formula, rel=1e-10)
    # an extreme case, against a brute-force midpoint rule in u = F(p)
    u = (np.arange(400_000) + 0.5) / 400_000
    p = np.clip(
        np.where(u <= 0.5, special.betaincinv(0.01, 0.02, u), 1 - special.betaincinv(0.02, 0.01, 1 - u)), 1e-300, 1
    )
    brute = float(np.mean(-np.expm1(-0.3 * np.log1p(p * 100.0)) / p))
    quad = _given_alive_by_quadrature(0.01, np.array([0.02]), np.array([0.3]), np.array([100.0]))
    assert quad[0] == pytest.approx(brute, rel=1e-5)
    # scipy's 2F1 returns inf here (integer c - a - b, z = 0.91); the prediction stays finite and bounded
    model = BetaGeo.from_params(0.5, 0.5, 0.5, 2.0)
    frame = rfm([98], [0.5], [0.5])
    e = model.conditional_expected_purchases(frame, 10.0)["expected_purchases"][0]
    assert 0 < e <= 98.5 * 10.0
    degenerate = BetaGeo.from_params(1.19e5, 1.19e6, 2.5e-4, 26804.0)
    assert math.isfinite(degenerate.conditional_expected_purchases(rfm([3], [20], [30]), 10)["expected_purchases"][0])


@pytest.mark.parametrize("cls", [BetaGeo, ModifiedBetaGeo])
def test_gradient_matches_finite_differences(cls: type[BetaGeo] | type[ModifiedBetaGeo]) -> None:
    from retainlib.clv._base import rfm_arrays
    from retainlib.clv.bgnbd import _Data

    data = _Data.from_rfm(rfm_arrays(simulate(500, 0.4, 3.0, 0.9, 2.0, modified=False, seed=3), model="test"))
    model = cls()
    theta = np.array([0.4, 3.0, 0.9, 2.0])
    grad = model._gradient(theta, data)
    for i in range(4):
        h = np.zeros(4)
        h[i] = 1e-6 * theta[i]
        numeric = (model._ll(theta + h, data) - model._ll(theta - h, data)) / (2 * h[i])
        assert grad[i] == pytest.approx(numeric, rel=1e-5, abs=1e-4)


# ------------------------------------------------------------------ recovery


@pytest.mark.parametrize("cls", [BetaGeo, ModifiedBetaGeo])
def test_parameter_recovery(cls: type[BetaGeo] | type[ModifiedBetaGeo]) -> None:
    truth = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}
    data = simulate(20_000, *truth.values(), modified=cls is ModifiedBetaGeo, seed=20240611)
    model = cls().fit(data, unit=WEEK)
    assert model.result is not None
    for name, value in truth.items():
        se = model.result.standard_errors[name]
        assert 0 < se < value
        assert abs(model.params[name] - value) < 4 * se, (name, model.params[name], se)


def test_recovery_on_day_grid_compresses() -> None:
    from retainlib.clv._base import rfm_arrays

    data = simulate(20_000, 0.25, 4.0, 0.8, 2.5, modified=False, seed=7, days=True)
    assert rfm_arrays(data, model="test").frequency.size < data.height
    model = BetaGeo().fit(data)
    assert model.result is not None
    assert model.params["r"] == pytest.approx(0.25, abs=4 * model.result.standard_errors["r"])


# ------------------------------------------------------------------ extremes and errors


@pytest.mark.parametrize("cls", [BetaGeo, ModifiedBetaGeo])
def test_extreme_inputs_are_finite(cls: type[BetaGeo] | type[ModifiedBetaGeo]) -> None:
    model = cls.from_params(0.25, 4.0, 0.8, 2.5)
    frame = rfm([0, 5000, 5000, 3000, 1, 0, 2], [0, 38, 40, 1e-6, 1e-9, 0, 1e6], [40, 40, 40, 40, 1e-9, 1e-9, 1e6])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for t in (1e-6, 1.0, 520.0, 1e6):
            e = model.conditional_expected_purchases(frame, t)["expected_purchases"].to_numpy()
            assert np.all(np.isfinite(e)) and np.all(e >= 0)
        alive = model.probability_alive(frame)["probability_alive"].to_numpy()
        assert np.all((alive >= 0) & (alive <= 1))
        ll = model.log_likelihood(frame)["log_likelihood"].to_numpy()
        assert np.all(np.isfinite(ll))
        pmf = model.probability_of_purchases([0, 1e-9, 1e6], [0, 1, 5000])["probability"].to_numpy()
        assert np.all(np.isfinite(pmf)) and np.all((pmf >= 0) & (pmf <= 1))
        assert model.expected_purchases(0)["expected_purchases"][0] == 0.0
    # 5000 purchases in 40 weeks, the last at T: about (r + x) / (alpha + T) = 114 next week;
    # a 2-week silence (recency 38) or 40 weeks of silence after 3000 purchases: gone
    e = model.conditional_expected_purchases(frame, 1.0)["expected_purchases"].to_numpy()
    assert e[2] == pytest.approx(5000.25 / 44, rel=0.02)
    assert e[1] < 1e-6 and e[3] < 1e-6


@pytest.mark.parametrize("cls", [BetaGeo, ModifiedBetaGeo])
@pytest.mark.parametrize(("x", "tx", "T"), [([3], [20], [30]), ([0], [0], [30]), ([3, 0], [20, 0], [30, 30])])
def test_tiny_fits_give_a_clear_error(
    cls: type[BetaGeo] | type[ModifiedBetaGeo], x: list[float], tx: list[float], T: list[float]
) -> None:
    # One or two customers cannot identify four parameters: never a meaningless "fit".
    with pytest.raises(ConvergenceError, match=r"cannot be estimated from 1 customer|no interior maximum"):
        cls().fit(rfm(x, tx, T), unit=WEEK)


def test_predictions_keep_keys_and_order() -> None:
    frame = pl.DataFrame(
        {
            "region": ["n", "s", "n"],
            "customer_id": ["c", "a", "b"],
            "frequency": [1, 0, 4],
            "recency": [3.0, 0.0, 9.0],
            "T": [10.0, 5.0, 12.0],
            "note": ["x", "y", "z"],
        }
    )
    model = BetaGeo.from_params(0.25, 4.0, 0.8, 2.5)
    out = model.probability_alive(frame.lazy())
    assert out.columns == ["region", "customer_id", "probability_alive"]
    assert out["customer_id"].to_list() == ["c", "a", "b"]
    assert out["probability_alive"][1] == 1.0


def test_json_round_trip(tmp_path: Path) -> None:
    data = simulate(2_000, 0.25, 4.0, 0.8, 2.5, modified=False, seed=11)
    model = BetaGeo().fit(data, unit=WEEK)
    again = BetaGeo.from_json(model.to_json())
    assert again.result == model.result
    model.save(tmp_path / "bg.json")
    assert BetaGeo.load(tmp_path / "bg.json").params == model.params
    with pytest.raises(OptionError, match="BetaGeo"):
        ModifiedBetaGeo.from_json(model.to_json())
    with pytest.raises(OptionError):
        BetaGeo.from_json("{not json")


def test_errors() -> None:
    with pytest.raises(OptionError, match="not fitted"):
        BetaGeo().probability_alive(rfm([1], [1], [2]))
    with pytest.raises(OptionError, match="not fitted"):
        ModifiedBetaGeo().expected_purchases(1)
    with pytest.raises(OptionError, match="not fitted"):
        _ = BetaGeo().params
    with pytest.raises(OptionError, match="not fitted"):
        BetaGeo().to_json()
    with pytest.raises(SchemaError, match="recency"):
        BetaGeo().fit(pl.DataFrame({"frequency": [1], "T": [2.0]}))
    with pytest.raises(DataError, match="recency > T"):
        BetaGeo().fit(rfm([1, 2], [3, 1], [2, 4]))
    model = BetaGeo.from_params(0.25, 4.0, 0.8, 2.5)
    with pytest.raises(DataError, match="recency > T"):
        model.conditional_expected_purchases(rfm([1], [3], [2]), 1)
    with pytest.raises(OptionError):
        model.expected_purchases(-1)
    with pytest.raises(OptionError):
        model.probability_of_purchases(1, 1.5)
    with pytest.raises(OptionError):
        BetaGeo.from_params(-1, 4.0, 0.8, 2.5)
    with pytest.raises(ConvergenceError, match="from 0 customers"):
        BetaGeo().fit(rfm([], [], []))


def test_fit_on_rl_rfm_of_cdnow_sample(shared_data: Path) -> None:
    """From raw CDNOW orders through ``rl.rfm`` (7-day units) to the published fit and a unit-aware CLV."""
    import datetime as dt

    import retainlib

    sample = shared_data / "reference" / "cdnow" / "lifetimes-0.11.3" / "CDNOW_sample.txt"
    summary = retainlib.rfm(
        retainlib.read("cdnow", sample).collect(),
        freq="D",
        freq_multiplier=7,
        observation_end=dt.date(1997, 9, 30),
        holdout_end=dt.date(1998, 6, 30),
    )
    model = BetaGeo().fit(summary, unit=WEEK)
    ref = reference(shared_data)["bgnbd_cdnow"]["full_precision"]
    for name in ("r", "alpha", "a", "b"):
        assert model.params[name] == pytest.approx(ref[name], rel=2e-4)
    clv = model.customer_lifetime_value(summary, spend="monetary_value", horizon=(1, "year"))
    assert clv.columns == ["customer_id", "clv"]
    assert clv.height == 2357 and clv["clv"].is_finite().all()


positive = st.floats(min_value=0.01, max_value=50.0)


@given(
    params=st.tuples(positive, positive, positive, positive),
    x=st.integers(min_value=0, max_value=3000),
    share=st.floats(min_value=0.0, max_value=1.0),
    T=st.floats(min_value=1e-6, max_value=1000.0),
    t=st.floats(min_value=0.0, max_value=1000.0),
    modified=st.booleans(),
)
def test_predictions_finite_and_coherent(
    params: tuple[float, float, float, float], x: int, share: float, T: float, t: float, modified: bool
) -> None:
    cls = ModifiedBetaGeo if modified else BetaGeo
    model = cls.from_params(*params)
    frame = rfm([x], [share * T if x else 0.0], [T])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        alive = model.probability_alive(frame)["probability_alive"][0]
        e_now = model.conditional_expected_purchases(frame, t)["expected_purchases"][0]
        e_later = model.conditional_expected_purchases(frame, t + 10.0)["expected_purchases"][0]
        ll = model.log_likelihood(frame)["log_likelihood"][0]
    assert 0.0 <= alive <= 1.0
    assert math.isfinite(ll)
    assert math.isfinite(e_now) and math.isfinite(e_later)
    assert -1e-9 <= e_now <= e_later * (1 + 1e-7) + 1e-12


@pytest.mark.parametrize("cls", [BetaGeo, ModifiedBetaGeo])
def test_screened_starts_reach_the_same_optimum(cls: type[BetaGeo] | type[ModifiedBetaGeo]) -> None:
    """Above 100k customers the starts are screened on a subsample; the optimum is the unscreened one."""
    from retainlib.clv import _base

    data = simulate(120_000, 0.5, 6.0, 0.8, 2.5, modified=cls is ModifiedBetaGeo, seed=11, days=True)
    assert _base.subsample(_base.rfm_arrays(data, model="test")) is not None
    screened = cls().fit(data)
    saved = _base.SCREEN_CUSTOMERS
    try:
        _base.SCREEN_CUSTOMERS = 10**9  # no screening: every start on the full data
        full = cls().fit(data)
    finally:
        _base.SCREEN_CUSTOMERS = saved
    assert screened.result is not None and full.result is not None
    assert screened.result.log_likelihood == pytest.approx(full.result.log_likelihood, abs=1e-3)
    for name, value in full.params.items():
        assert screened.params[name] == pytest.approx(value, rel=1e-3), name
        assert screened.result.standard_errors[name] == pytest.approx(full.result.standard_errors[name], rel=1e-2)
