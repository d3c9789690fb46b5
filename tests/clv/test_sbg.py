"""ShiftedBetaGeometric: Fader & Hardie (2007) fits and projections, recovery, input shapes, DERL, JSON, errors."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.special import beta as beta_fn

import retainlib as rl
from retainlib.clv import TimeUnit
from retainlib.clv.sbg import ShiftedBetaGeometric, survivor_counts
from retainlib.errors import ConvergenceError, OptionError, SchemaError


def _reference(shared_data: Path) -> dict[str, object]:
    data = json.loads((shared_data / "reference" / "published_reference_values.json").read_text())
    ref: dict[str, object] = data["sbg"]
    return ref


def _simulate(alpha: float, beta: float, customers: int, periods: int, seed: int) -> np.ndarray:
    """Survivors n_0..n_periods: theta ~ Beta(alpha, beta), churn period T ~ Geometric(theta) on 1, 2, ..."""
    rng = np.random.default_rng(seed)
    lifetime = rng.geometric(rng.beta(alpha, beta, size=customers))
    return np.array([(lifetime > t).sum() for t in range(periods + 1)], dtype=np.float64)


@pytest.mark.parametrize("segment", ["regular", "high_end"])
def test_reproduces_fader_hardie_2007(shared_data: Path, segment: str) -> None:
    ref = _reference(shared_data)
    data = pl.read_csv(shared_data / "reference" / "sbg_fader_hardie_2007" / "customer_retention.csv")
    pct = data[segment].to_list()
    published = ref["published_fit_years_1_7"]
    projected = ref["projected_pct_years_8_12_computed_here"]
    assert isinstance(published, dict) and isinstance(projected, dict)
    assert pct == ref["data_pct_surviving_years_0_12"][segment]  # type: ignore[index]

    model = ShiftedBetaGeometric().fit(pct[:8], cohort_size=1000, unit=TimeUnit(name="year"))
    assert model.params["alpha"] == pytest.approx(published[segment]["alpha"], abs=5e-4)
    assert model.params["beta"] == pytest.approx(published[segment]["beta"], abs=5e-4)
    assert model.result is not None
    expected_ll = {"regular": -1680.27, "high_end": -1611.16}[segment]
    assert model.result.log_likelihood == pytest.approx(expected_ll, abs=0.005)
    assert model.result.customers == 1000
    assert all(0 < se < math.inf for se in model.result.standard_errors.values())

    survival = model.predict(range(8, 13))["survival"] * 100
    assert survival.round(1).to_list() == projected[segment]
    # The projection stays near the held-out years 8..12 (the paper's point).
    assert np.max(np.abs(survival.to_numpy() - np.array(pct[8:]))) < 2.0


def test_predictions_match_hand_formulas() -> None:
    model = ShiftedBetaGeometric().fit([1000, 631, 468, 382, 326, 289, 262, 241])
    a, b = model.params["alpha"], model.params["beta"]
    frame = model.predict(5)
    assert frame["period"].to_list() == [0, 1, 2, 3, 4]
    for t, row in enumerate(frame.iter_rows(named=True)):
        assert row["survival"] == pytest.approx(beta_fn(a, b + t) / beta_fn(a, b))
        if t == 0:
            assert row["retention_rate"] is None and row["churn_probability"] == 0
        else:
            assert row["churn_probability"] == pytest.approx(beta_fn(a + 1, b + t - 1) / beta_fn(a, b))
            assert row["retention_rate"] == pytest.approx(
                row["survival"] / frame["survival"][t - 1],
            )
    # alpha < 1 here: the mean lifetime is infinite; a truncated mean is finite and sums S(t).
    assert model.expected_lifetime() == math.inf
    assert model.expected_lifetime(5) == pytest.approx(frame["survival"].sum())
    # DERL: the closed form equals the discounted sum it stands for.
    survival = model.predict(4000)["survival"].to_numpy()
    for renewals, d in [(0, 0.1), (3, 0.1), (10, 0.25)]:
        n = renewals + 1
        brute = sum(survival[t] / survival[n - 1] * (1 + d) ** -(t - n) for t in range(n, 4000))
        assert model.discounted_expected_residual_lifetime(d, renewals=renewals) == pytest.approx(brute, rel=1e-9)


def test_finite_mean_lifetime_when_alpha_above_one() -> None:
    model = ShiftedBetaGeometric().fit(_simulate(3.0, 6.0, customers=20_000, periods=8, seed=11))
    a, b = model.params["alpha"], model.params["beta"]
    assert a > 1
    assert model.expected_lifetime() == pytest.approx((a + b - 1) / (a - 1))
    assert model.expected_lifetime(20_000) == pytest.approx(model.expected_lifetime(), rel=1e-6)


def test_recovers_simulated_parameters() -> None:
    truth = {"alpha": 0.8, "beta": 2.5}
    model = ShiftedBetaGeometric().fit(_simulate(**truth, customers=50_000, periods=10, seed=3))
    assert model.result is not None
    for name, value in truth.items():
        assert abs(model.params[name] - value) < 4 * model.result.standard_errors[name]
        assert model.params[name] == pytest.approx(value, rel=0.1)


def test_accepts_a_cohort_retention_frame() -> None:
    # One monthly cohort of 400 customers acquired in January 2024, each active every month until it churns.
    rng = np.random.default_rng(5)
    lifetime = rng.geometric(rng.beta(1.0, 3.0, size=400))
    rows = [
        (f"{c}-{m}", f"c{c}", f"2024-{m + 1:02d}-10T00:00:00Z")
        for c, life in enumerate(lifetime)
        for m in range(min(int(life), 12))
    ]
    orders = pl.DataFrame(
        {
            "order_id": [r[0] for r in rows],
            "customer_id": [r[1] for r in rows],
            "ordered_at": [r[2] for r in rows],
            "amount": ["10"] * len(rows),
            "currency": ["EUR"] * len(rows),
        }
    )
    cohorts = rl.cohort_retention(orders, kind="rolling", as_of=dt.date(2024, 12, 31))
    counts = survivor_counts(cohorts)
    assert counts.tolist() == [float((lifetime > k).sum()) for k in range(counts.size)]
    model = ShiftedBetaGeometric().fit(cohorts)
    assert model.params == ShiftedBetaGeometric().fit(counts.tolist()).params


def test_input_shapes_and_errors() -> None:
    counts = [1000.0, 800.0, 700.0, 640.0]
    frame = pl.DataFrame({"period_number": [2, 0, 1, 3], "active": [700, 1000, 800, 640]})
    assert survivor_counts(frame).tolist() == counts
    assert survivor_counts(frame.lazy()).tolist() == counts
    assert survivor_counts([100, 80, 70, 64], cohort_size=1000).tolist() == pytest.approx(counts)
    incomplete = frame.with_columns(is_complete=pl.col("period_number") < 3)
    assert survivor_counts(incomplete).tolist() == counts[:3]
    with pytest.raises(OptionError, match="rolling"):
        survivor_counts([100, 80, 85])
    with pytest.raises(OptionError, match="at least"):
        survivor_counts([100])
    with pytest.raises(OptionError, match="percentages"):
        survivor_counts([1000, 800], cohort_size=1000)
    with pytest.raises(OptionError, match="gaps"):
        survivor_counts(pl.DataFrame({"period_number": [0, 2], "active": [10, 5]}))
    with pytest.raises(OptionError, match="one cohort"):
        survivor_counts(frame.with_columns(cohort=pl.col("period_number") % 2))
    with pytest.raises(SchemaError):
        survivor_counts(pl.DataFrame({"period_number": [0, 1]}))
    with pytest.raises(OptionError, match="finite"):
        survivor_counts([100, math.nan])
    with pytest.raises(ConvergenceError, match="nobody churned"):
        ShiftedBetaGeometric().fit([100, 100, 100])
    with pytest.raises(ConvergenceError, match="churned in period 1"):
        ShiftedBetaGeometric().fit([100, 0, 0])
    with pytest.raises(OptionError, match="not fitted"):
        _ = ShiftedBetaGeometric().params
    model = ShiftedBetaGeometric().fit(counts)
    with pytest.raises(OptionError):
        model.predict([-1])
    with pytest.raises(OptionError):
        model.discounted_expected_residual_lifetime(0.0)


def test_extreme_inputs_are_finite() -> None:
    # A huge cohort, a single churner, a single survivor, a long history.
    for survivors in (
        [1e9, 6e8, 4e8],
        [1000, 999],
        [2, 1],
        [1000, 1, 1, 1],
        _simulate(0.5, 1.0, customers=5000, periods=200, seed=1),
    ):
        try:
            model = ShiftedBetaGeometric().fit(survivors)
        except ConvergenceError:
            continue
        assert all(math.isfinite(v) for v in model.params.values())
        predictions = model.predict([0, 1, 10, 10_000])
        assert all(predictions[c].drop_nulls().is_finite().all() for c in predictions.columns[1:])
        assert math.isfinite(model.discounted_expected_residual_lifetime(0.01, renewals=5000))


def test_json_round_trip() -> None:
    model = ShiftedBetaGeometric().fit([1000, 631, 468, 382], unit=TimeUnit(name="year"))
    back = ShiftedBetaGeometric.from_json(model.to_json())
    assert back == model
    assert back.predict(5).equals(model.predict(5))
    with pytest.raises(OptionError):
        ShiftedBetaGeometric.from_json(model.to_json().replace("ShiftedBetaGeometric", "GammaGamma"))
