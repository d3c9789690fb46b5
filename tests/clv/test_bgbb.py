"""BetaGeoBetaBinom: Fader, Hardie & Shang (2010) donations fit and predictions, recovery, extremes, JSON, errors."""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import attrs
import numpy as np
import polars as pl
import pytest
from scipy import optimize

from retainlib.clv import TimeUnit
from retainlib.clv.bgbb import BetaGeoBetaBinom, _gradient, _log_likelihood_rows
from retainlib.errors import ConvergenceError, DataError, OptionError, SchemaError


def _donations(shared_data: Path) -> pl.DataFrame:
    path = shared_data / "reference" / "donations_bgbb" / "lifetimes-0.11.3" / "donations.csv"
    return pl.read_csv(path).rename({"periods": "T", "weights": "weight"})


def _reference(shared_data: Path) -> dict[str, object]:
    data = json.loads((shared_data / "reference" / "published_reference_values.json").read_text())
    ref: dict[str, object] = data["bgbb_donations"]
    return ref


def _simulate(alpha: float, beta: float, gamma: float, delta: float, customers: int, n: int, seed: int) -> pl.DataFrame:
    """The generative process: p ~ Beta(alpha, beta), theta ~ Beta(gamma, delta); at the start of each
    opportunity an alive customer dies with probability theta, and if still alive transacts with probability p."""
    rng = np.random.default_rng(seed)
    p = rng.beta(alpha, beta, size=customers)
    theta = rng.beta(gamma, delta, size=customers)
    alive_for = rng.geometric(theta) - 1  # opportunities survived
    opportunity = np.arange(1, n + 1)
    buys = (rng.random((customers, n)) < p[:, None]) & (opportunity[None, :] <= alive_for[:, None])
    x = buys.sum(axis=1)
    tx = np.where(x > 0, np.max(np.where(buys, opportunity[None, :], 0), axis=1), 0)
    return pl.DataFrame({"frequency": x, "recency": tx, "T": np.full(customers, n)})


@functools.cache
def _fitted_donations(shared_data: Path) -> tuple[BetaGeoBetaBinom, pl.DataFrame]:
    data = _donations(shared_data)
    return BetaGeoBetaBinom().fit(data, unit=TimeUnit(name="year")), data


@pytest.fixture
def donations_model(shared_data: Path) -> tuple[BetaGeoBetaBinom, pl.DataFrame]:
    return _fitted_donations(shared_data)


def test_donations_parameters_and_likelihood(
    shared_data: Path, donations_model: tuple[BetaGeoBetaBinom, pl.DataFrame]
) -> None:
    ref = _reference(shared_data)
    published, full = ref["published"], ref["full_precision"]
    assert isinstance(published, dict) and isinstance(full, dict)
    model, data = donations_model
    assert model.result is not None
    for name in ("alpha", "beta", "gamma", "delta"):
        assert model.params[name] == pytest.approx(published[name], abs=1e-3)
        assert model.params[name] == pytest.approx(full[name], rel=2e-4)
    assert model.result.log_likelihood == pytest.approx(published["LL"], abs=0.05)
    assert model.result.log_likelihood == pytest.approx(full["LL"], abs=0.005)
    assert model.result.customers == data["weight"].sum() == 11_104
    assert all(0 < se < math.inf for se in model.result.standard_errors.values())


def test_donations_predictions(shared_data: Path, donations_model: tuple[BetaGeoBetaBinom, pl.DataFrame]) -> None:
    predictions = _reference(shared_data)["predictions"]
    assert isinstance(predictions, list)
    alive, tracking, holdout, in_sample, walkthrough = predictions
    model, data = donations_model

    cells = pl.DataFrame({"frequency": [0, 2, 6], "recency": [0, 4, 6], "T": [6, 6, 6]})
    assert model.probability_alive(cells)["probability_alive"].round(2).to_list() == alive["value"]

    expected = model.expected_purchases(range(1, 12))
    assert expected["t"].to_list() == list(range(1, 12))
    assert expected["expected_purchases"].to_list() == pytest.approx(tracking["value"], abs=tracking["tol"])

    per_cell = model.conditional_expected_purchases(data, 5)["expected_purchases"]
    assert (per_cell * data["weight"]).sum() == pytest.approx(holdout["value"], abs=0.1)

    counts = model.probability_of_purchases(6, [0, 6])["probability"] * 11_104
    assert counts.to_list() == pytest.approx(in_sample["value"], abs=0.1)
    assert model.probability_of_purchases(6, range(7))["probability"].sum() == pytest.approx(1.0, abs=1e-12)

    walk = [
        model.expected_purchases(10)["expected_purchases"][0],
        *model.conditional_expected_purchases(pl.DataFrame({"frequency": [0, 4], "recency": [0, 5], "T": [6, 6]}), 10)[
            "expected_purchases"
        ],
    ]
    assert walk == pytest.approx(walkthrough["value"], rel=1e-4)


def test_weights_equal_expanded_rows(donations_model: tuple[BetaGeoBetaBinom, pl.DataFrame]) -> None:
    model, data = donations_model
    expanded = data.select(pl.exclude("weight").repeat_by(pl.col("weight")).explode())
    again = BetaGeoBetaBinom().fit(
        expanded.with_row_index("customer_id").select("customer_id", "frequency", "recency", "T")
    )
    assert again.result is not None and model.result is not None
    assert again.result.log_likelihood == pytest.approx(model.result.log_likelihood, abs=1e-6)
    alive = again.probability_alive(expanded.with_row_index("customer_id").head(3))
    assert alive.columns == ["customer_id", "probability_alive"]


def test_gradient_matches_finite_differences() -> None:
    data = _simulate(1.2, 0.8, 0.7, 2.5, customers=300, n=7, seed=9)
    x, tx, n = (data[c].cast(pl.Float64).to_numpy() for c in ("frequency", "recency", "T"))
    w = np.ones_like(x)
    theta = np.array([1.1, 0.9, 0.6, 3.0])
    numeric = optimize.approx_fprime(theta, lambda t: float(np.dot(w, _log_likelihood_rows(t, x, tx, n))), 1e-7)
    assert _gradient(theta, x, tx, n, w) == pytest.approx(numeric, rel=1e-4)


def test_recovers_simulated_parameters() -> None:
    truth = {"alpha": 1.2, "beta": 0.75, "gamma": 0.65, "delta": 2.8}
    model = BetaGeoBetaBinom().fit(_simulate(**truth, customers=40_000, n=8, seed=21))
    assert model.result is not None
    for name, value in truth.items():
        assert abs(model.params[name] - value) < 4 * model.result.standard_errors[name], name
        assert model.params[name] == pytest.approx(value, rel=0.2), name


def test_extreme_inputs_are_finite() -> None:
    base = _simulate(1.2, 0.75, 0.65, 2.8, customers=2000, n=6, seed=2)
    extreme = pl.DataFrame(
        {"frequency": [3000, 0, 2, 1], "recency": [3000, 0, 2, 1], "T": [5000, 0, 2, 1]},
        schema={"frequency": pl.Int64, "recency": pl.Int64, "T": pl.Int64},
    )
    frame = pl.concat([base, extreme])
    model = BetaGeoBetaBinom().fit(frame)
    assert all(math.isfinite(v) for v in model.params.values())
    alive = model.probability_alive(frame)["probability_alive"].to_numpy()
    assert np.all(np.isfinite(alive) & (alive >= 0) & (alive <= 1))
    assert model.conditional_expected_purchases(frame, 1000)["expected_purchases"].is_finite().all()
    assert model.expected_purchases([0, 5000])["expected_purchases"].is_finite().all()
    assert model.probability_of_purchases([0, 300], [0, 3, 300])["probability"].is_finite().all()


def test_single_customer_and_degenerate_data() -> None:
    one = pl.DataFrame({"frequency": [2], "recency": [3], "T": [6]})
    # One customer cannot identify four parameters, nor can 50 identical ones: reported clearly.
    with pytest.raises(ConvergenceError, match="from 1 customer"):
        BetaGeoBetaBinom().fit(one)
    with pytest.raises(ConvergenceError, match="no variation"):
        BetaGeoBetaBinom().fit(pl.DataFrame({"frequency": [6] * 50, "recency": [6] * 50, "T": [6] * 50}))
    # Everybody transacted at every opportunity: p -> 1 for all, the optimum runs off to the edge.
    full = pl.DataFrame({"frequency": [6, 4], "recency": [6, 4], "T": [6, 4]})
    with pytest.raises(ConvergenceError, match="no interior maximum"):
        BetaGeoBetaBinom().fit(full)


def test_customer_lifetime_value(donations_model: tuple[BetaGeoBetaBinom, pl.DataFrame]) -> None:
    model, data = donations_model
    cells = data.drop("weight")
    # Undiscounted (tiny rate), unit spend: the CLV is the expected number of transactions.
    flat = model.customer_lifetime_value(cells, spend=1.0, horizon=5, discount_rate=1e-12)
    expected = model.conditional_expected_purchases(cells, 5)["expected_purchases"]
    assert flat["clv"].to_numpy() == pytest.approx(expected.to_numpy(), rel=1e-9)
    # Per opportunity (a year here) and named units agree; intervals sum to the total.
    yearly = model.customer_lifetime_value(cells, spend=50.0, horizon=5, discount_rate=0.1, margin=0.3)
    named = model.customer_lifetime_value(cells, spend=50.0, horizon=5, discount_rate=(0.1, "year"), margin=0.3)
    assert named["clv"].to_numpy() == pytest.approx(yearly["clv"].to_numpy(), rel=1e-12)
    monthly = model.customer_lifetime_value(cells, spend=50.0, horizon=5, discount_rate=(0.1 / 12, "month"))
    compounded = model.customer_lifetime_value(cells, spend=50.0, horizon=5, discount_rate=(1 + 0.1 / 12) ** 12 - 1)
    assert monthly["clv"].to_numpy() == pytest.approx(compounded["clv"].to_numpy(), rel=1e-9)
    long = model.customer_lifetime_value(cells, spend=50.0, horizon=5, discount_rate=0.1, margin=0.3, intervals=True)
    assert long.height == 5 * cells.height
    summed = long.with_row_index().group_by(pl.col("index") // 5).agg(pl.col("clv").sum()).sort("index")["clv"]
    assert summed.to_numpy() == pytest.approx(yearly["clv"].to_numpy(), rel=1e-12)
    # By hand for one period: P(transaction in n+1) * spend * margin / (1 + d).
    one = model.customer_lifetime_value(cells.head(1), spend=50.0, horizon=1, discount_rate=0.1, margin=0.3)
    first = model.conditional_expected_purchases(cells.head(1), 1)["expected_purchases"][0]
    assert one["clv"][0] == pytest.approx(first * 50 * 0.3 / 1.1)
    no_unit = BetaGeoBetaBinom(result=attrs.evolve(model.fitted, unit=None))
    with pytest.raises(OptionError, match="unit"):
        no_unit.customer_lifetime_value(cells, spend=1.0, horizon=2, discount_rate=(0.1, "year"))
    with pytest.raises(OptionError):
        model.customer_lifetime_value(cells, spend=-1.0, horizon=2, discount_rate=0.1)
    with pytest.raises(OptionError):
        model.customer_lifetime_value(cells, spend=1.0, horizon=0, discount_rate=0.1)


def test_json_round_trip() -> None:
    model = BetaGeoBetaBinom().fit(
        _simulate(1.2, 0.75, 0.65, 2.8, customers=500, n=6, seed=4), unit=TimeUnit(name="year")
    )
    back = BetaGeoBetaBinom.from_json(model.to_json())
    assert back == model
    assert back.expected_purchases(4).equals(model.expected_purchases(4))
    with pytest.raises(OptionError):
        BetaGeoBetaBinom.from_json(model.to_json().replace("BetaGeoBetaBinom", "GammaGamma"))


def test_errors() -> None:
    with pytest.raises(OptionError, match="not fitted"):
        _ = BetaGeoBetaBinom().params
    with pytest.raises(DataError, match="frequency > recency"):
        BetaGeoBetaBinom().fit(pl.DataFrame({"frequency": [3, 1], "recency": [2, 1], "T": [6, 6]}))
    with pytest.raises(DataError, match="whole number"):
        BetaGeoBetaBinom().fit(pl.DataFrame({"frequency": [1, 1], "recency": [1.5, 1], "T": [6, 6]}))
    with pytest.raises(DataError, match="recency > T"):
        BetaGeoBetaBinom().fit(pl.DataFrame({"frequency": [1, 1], "recency": [7, 1], "T": [6, 6]}))
    with pytest.raises(DataError, match="weight"):
        BetaGeoBetaBinom().fit(pl.DataFrame({"frequency": [1], "recency": [1], "T": [6], "weight": [-1]}))
    with pytest.raises(SchemaError):
        BetaGeoBetaBinom().fit(pl.DataFrame({"frequency": [1], "recency": [1]}))
    model = BetaGeoBetaBinom().fit(_simulate(1.2, 0.75, 0.65, 2.8, customers=300, n=6, seed=5))
    with pytest.raises(OptionError):
        model.expected_purchases(-1)
    with pytest.raises(OptionError):
        model.conditional_expected_purchases(pl.DataFrame({"frequency": [0], "recency": [0], "T": [6]}), 1.5)  # type: ignore[arg-type]
