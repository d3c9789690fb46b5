"""ParetoNBD: the hypergeometric building block, the likelihood, CDNOW references, recovery, extremes, JSON, errors."""

from __future__ import annotations

import importlib.util
import itertools
import json
import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest
from scipy import integrate, special

from retainlib.clv import TimeUnit
from retainlib.clv.pareto import ParetoNBD, _individual_ll, _log_hyp2f1_1_integral, log_hyp2f1_1
from retainlib.errors import ConvergenceError, DataError, OptionError, SchemaError

Array = npt.NDArray[np.float64]
CDNOW_OPTIMUM = (0.553277, 10.577684, 0.606240, 11.668729)  # "verified" MLE of the reference JSON


def _reference(shared_data: Path) -> dict[str, object]:
    data = json.loads((shared_data / "reference" / "published_reference_values.json").read_text())
    ref: dict[str, object] = data["pareto_nbd_cdnow"]
    return ref


def _cdnow(shared_data: Path) -> pl.DataFrame:
    path = shared_data / "reference" / "cdnow" / "BTYD-2.4.3" / "cdnowSummary_cbs.csv"
    return pl.read_csv(path).rename({"cust": "customer_id", "x": "frequency", "t.x": "recency", "T.cal": "T"})


def _simulate(
    r: float, alpha: float, s: float, beta: float, customers: int, seed: int, *, day: float | None = 1 / 7
) -> pl.DataFrame:
    """Pareto/NBD customers: λ ~ Gamma(r, α), μ ~ Gamma(s, β), death ~ Exp(μ), Poisson purchases while alive.

    T is uniform on 27..39 (weeks); with ``day`` set, times are whole days (as :func:`retainlib.rfm` gives).
    """
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1 / alpha, customers)
    mu = rng.gamma(s, 1 / beta, customers)
    T = rng.uniform(27.0, 39.0, customers)
    if day is not None:
        T = np.ceil(T / day) * day
    active = np.minimum(rng.exponential(1 / mu), T)
    x = rng.poisson(lam * active)
    # The last of x uniform purchase times on (0, active].
    tx = np.where(x > 0, active * rng.random(customers) ** (1 / np.maximum(x, 1)), 0.0)
    if day is not None:
        tx = np.minimum(np.floor(tx / day) * day, T)
    return pl.DataFrame({"frequency": x.astype(np.float64), "recency": tx, "T": T})


# ----------------------------------------------------------------- 2F1(1, b; c; z)
def _series_log_f(b: float, c: float, z: float) -> float:
    """log 2F1(1, b; c; z) by the plain power series (positive terms, each ratio < z), summed to float precision."""
    if z == 0:
        return 0.0
    n = int(60 / (1 - z)) + 100
    k = np.arange(n, dtype=np.float64)
    log_terms = np.concatenate([[0.0], np.cumsum(np.log((b + k) / (c + k)) + math.log(z))])
    return math.log(math.fsum(np.exp(log_terms)))


def _quad_log_f(b: float, c: float, z: float, eps: float) -> float:
    """log 2F1(1, b; c; z) = log[(c-1) ∫_0^∞ e^-(c-1)y (ε + z e^-y)^-b dy] by piecewise adaptive quadrature."""

    def log_g(y: float) -> float:
        return -(c - 1) * y - b * float(np.logaddexp(math.log(eps), math.log(z) - y))

    y_max = -math.log(eps) + (60 + b) / (c - 1) + 5
    grid = np.linspace(0.0, y_max, 2001)
    top = max(log_g(float(y)) for y in grid)
    total = 0.0
    for lo, hi in itertools.pairwise(grid):
        # full_output: a round-off notice on a negligible piece must not become an error.
        total += integrate.quad(lambda y: math.exp(log_g(y) - top), lo, hi, epsabs=0, epsrel=1e-13, full_output=1)[0]
    return math.log(c - 1) + top + math.log(total)


def _cases() -> list[tuple[float, float, float]]:
    """(b, c, z) as the likelihood uses them: c - b = s + 1 (α ≥ β) or r + x (α < β), incl. whole-number c - 1 - b."""
    gaps = [(0.55, 1.606), (26.55, 1.606), (1131.86, 2.0), (0.05, 2.0), (3.0, 99.0), (5000.5, 1.05), (1.6, 0.553)]
    cases = []
    for b, gap in gaps:
        for z in [0.0, 0.1, 0.5, 0.74, 0.76, 0.9, 0.98, 0.999, 0.9999]:
            cases.append((b, b + gap, z))
    return cases


@pytest.mark.parametrize(("b", "c", "z"), _cases())
def test_log_hyp2f1_matches_the_power_series(b: float, c: float, z: float) -> None:
    # scipy.special.hyp2f1(1, 1131.86, 1133.86, 0.98) is nan and hyp2f1(1, 0.05, 2.05, 0.999) is inf;
    # log_hyp2f1_1 must stay exact there.
    assert log_hyp2f1_1(b, c, z)[()] == pytest.approx(_series_log_f(b, c, z), abs=1e-11)


@pytest.mark.parametrize("eps", [1e-5, 1e-9, 1e-13, 1e-40])
@pytest.mark.parametrize(("b", "c"), [(0.55, 2.16), (3000.5, 3002.1), (1.6, 3000.2), (2.0, 3.0)])
def test_log_hyp2f1_near_one_matches_quadrature(b: float, c: float, eps: float) -> None:
    z = 1.0 - eps
    expected = _quad_log_f(b, c, z, eps)
    assert log_hyp2f1_1(b, c, z, eps)[()] == pytest.approx(expected, abs=1e-9, rel=1e-11)


# --------------------------------------------------------------------- likelihood
def _quad_ll(theta: tuple[float, float, float, float], x: float, tx: float, T: float) -> float:
    """log L from the death-time integral (Fader, Hardie & Lee 2005 note), by adaptive quadrature."""
    r, alpha, s, beta = theta

    def log_h(tau: float) -> float:
        return -(r + x) * math.log(alpha + tau) - (s + 1) * math.log(beta + tau)

    top = log_h(tx)
    scale = (alpha + tx) / (r + x + s + 1)  # decay length of the integrand
    points = [p for p in (tx + scale, tx + 10 * scale, tx + 100 * scale) if p < T]
    dead = 0.0
    if tx < T:
        dead = integrate.quad(
            lambda tau: math.exp(log_h(tau) - top), tx, T, points=points or None, epsabs=0, epsrel=1e-12, limit=500
        )[0]
    alive = -(r + x) * math.log(alpha + T) - s * math.log(beta + T)
    bracket = np.logaddexp(alive, math.log(s) + top + math.log(dead)) if dead > 0 else alive
    return float(math.lgamma(r + x) - math.lgamma(r) + r * math.log(alpha) + s * math.log(beta) + bracket)


_EXTREME_ROWS = [
    (0.0, 0.0, 39.0),
    (0.0, 0.0, 1e-9),
    (1.0, 1e-9, 1e-9),
    (2.0, 38.9, 39.0),
    (3.0, 39.0, 39.0),
    (26.0, 30.857143, 31.0),
    (4000.0, 30.0, 39.0),
    (4000.0, 39.0, 39.0),
    (5000.0, 1e-6, 39.0),
]


@pytest.mark.parametrize(
    "theta",
    [CDNOW_OPTIMUM, (1.0, 20.0, 1.0, 5.0), (2.0, 1.0, 0.5, 300.0), (0.7, 1e4, 2.0, 1e-3), (1.0, 1.0, 1.0, 1.0)],
    ids=["cdnow", "s=1,alpha>beta", "alpha<<beta", "alpha>>beta", "alpha=beta"],
)
def test_likelihood_matches_the_death_time_integral(theta: tuple[float, float, float, float]) -> None:
    rng = np.random.default_rng(3)
    sims = _simulate(*CDNOW_OPTIMUM, customers=30, seed=3, day=None).rows()
    rows = _EXTREME_ROWS + [(float(a), float(b), float(c)) for a, b, c in sims] + [(1.0, float(rng.uniform()), 1.0)]
    x, tx, T = (np.array(col, dtype=np.float64) for col in zip(*rows, strict=True))
    got = _individual_ll(theta, x, tx, T)
    expected = np.array([_quad_ll(theta, *row) for row in rows])
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-8)


# ----------------------------------------------------------- published references
@pytest.mark.reference
def test_reproduces_cdnow_fit(shared_data: Path) -> None:
    ref = _reference(shared_data)
    published, full = ref["published"], ref["full_precision"]
    assert isinstance(published, dict) and isinstance(full, dict)
    model = ParetoNBD().fit(_cdnow(shared_data), unit=TimeUnit.of("D", 7))
    result = model.result
    assert result is not None and result.customers == 2357 and result.converged
    assert result.log_likelihood == pytest.approx(full["LL"], abs=0.01)
    assert round(result.log_likelihood) == pytest.approx(published["LL"], abs=0.5)
    p = model.params
    for name in ("r", "alpha", "s"):
        assert p[name] == pytest.approx(published[name], abs=1.5e-3)
    # The likelihood is flat in beta (SE ≈ 6.2, LL moves by ~1e-5 over beta ± 0.01): the published
    # 11.669 and CLVTools' 11.6715 differ by 0.003 already, so compare beta to 0.01.
    assert p["beta"] == pytest.approx(published["beta"], abs=0.01)
    for name, se in full["se"].items():
        assert result.standard_errors[name] == pytest.approx(se, rel=0.02)
    assert result.aic == pytest.approx(8 - 2 * full["LL"], abs=0.02)
    assert result.unit == TimeUnit.of("D", 7)


def test_expected_purchases_match_btyd_manual(shared_data: Path) -> None:
    ref = _reference(shared_data)
    predictions = ref["predictions"]
    assert isinstance(predictions, list)
    expected = predictions[1]["value"]
    model = ParetoNBD.from_params(0.55, 10.56, 0.61, 11.64)
    got = model.expected_purchases(range(10))
    assert got["t"].to_list() == list(range(10))
    np.testing.assert_allclose(got["expected_purchases"].to_numpy(), expected, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize(
    "params",
    [(0.553, 10.578, 0.606, 11.669), (0.5533971, 10.5801985, 0.6060625, 11.6562237)],
    ids=["published-3dp", "btyd-est-params"],
)
def test_btyd_walkthrough_predictions(shared_data: Path, params: tuple[float, float, float, float]) -> None:
    ref = _reference(shared_data)
    predictions = ref["predictions"]
    assert isinstance(predictions, list)
    value = predictions[0]["value"]
    model = ParetoNBD.from_params(*params)
    assert model.expected_purchases(52)["expected_purchases"][0] == pytest.approx(value["EX52"], rel=5e-4)
    # Customer 1516 of cdnowSummary: x = 26, t.x = 30.85714, T.cal = 31.
    c1516 = pl.DataFrame({"customer_id": [1516], "frequency": [26], "recency": [30.85714], "T": [31.0]})
    cond = model.conditional_expected_purchases(c1516, 52)
    assert cond.columns == ["customer_id", "expected_purchases"]
    assert cond["expected_purchases"][0] == pytest.approx(value["cond52_1516"], rel=5e-4)
    assert model.probability_alive(c1516)["probability_alive"][0] == pytest.approx(value["palive_1516"], rel=5e-4)
    # The "paradox": more purchases at the same recency means a lower expectation.
    paradox = pl.DataFrame({"frequency": [10, 15, 20, 25], "recency": [20.0] * 4, "T": [39.0] * 4})
    got = model.conditional_expected_purchases(paradox, 52)["expected_purchases"].to_numpy()
    np.testing.assert_allclose(got, value["paradox"], rtol=5e-4)


# ------------------------------------------------------------------------ recovery
def _assert_recovers(model: ParetoNBD, truth: tuple[float, float, float, float], sigmas: float) -> None:
    result = model.result
    assert result is not None
    for name, true in zip(("r", "alpha", "s", "beta"), truth, strict=True):
        se = result.standard_errors[name]
        assert 0 < se < math.inf
        assert abs(model.params[name] - true) < sigmas * se, (name, model.params[name], true, se)


def test_recovers_parameters_of_simulated_customers() -> None:
    truth = (0.8, 8.0, 0.9, 12.0)
    model = ParetoNBD().fit(_simulate(*truth, customers=6000, seed=11))
    _assert_recovers(model, truth, 4.0)


@pytest.mark.slow
@pytest.mark.parametrize("truth", [(0.55, 10.58, 0.61, 11.67), (2.0, 5.0, 1.5, 40.0), (0.3, 20.0, 3.0, 4.0)])
def test_recovers_parameters_large_samples(truth: tuple[float, float, float, float]) -> None:
    # 100,000 customers in whole days: > 20,000 unique rows, so the subsample-then-polish path runs.
    model = ParetoNBD().fit(_simulate(*truth, customers=100_000, seed=5))
    _assert_recovers(model, truth, 4.0)


# ----------------------------------------------------------- predictions' algebra
def test_new_customer_conditional_equals_unconditional() -> None:
    model = ParetoNBD.from_params(*CDNOW_OPTIMUM)
    new = pl.DataFrame({"frequency": [0, 0], "recency": [0.0, 0.0], "T": [0.0, 0.0]})
    for t in (0.0, 1.0, 52.0, 520.0):
        cond = model.conditional_expected_purchases(new, t)["expected_purchases"].to_numpy()
        uncond = model.expected_purchases(t)["expected_purchases"][0]
        np.testing.assert_allclose(cond, uncond, rtol=1e-12)
    assert model.probability_alive(new)["probability_alive"].to_list() == [1.0, 1.0]


def test_s_equal_one_uses_the_log_limit() -> None:
    # s = 1: E[X(t)] = r β/α log(1 + t/β) (the limit of the general formula).
    r, alpha, beta = 0.5, 10.0, 12.0
    got = ParetoNBD.from_params(r, alpha, 1.0, beta).expected_purchases([5.0, 50.0])["expected_purchases"]
    np.testing.assert_allclose(got.to_numpy(), [r * beta / alpha * math.log1p(t / beta) for t in (5.0, 50.0)])
    near = ParetoNBD.from_params(r, alpha, 1.0 + 1e-7, beta).expected_purchases([5.0, 50.0])["expected_purchases"]
    np.testing.assert_allclose(near.to_numpy(), got.to_numpy(), rtol=1e-6)


def test_probability_alive_behaves() -> None:
    model = ParetoNBD.from_params(*CDNOW_OPTIMUM)
    frame = pl.DataFrame(
        {"frequency": [5, 5, 5, 5, 0, 0], "recency": [10.0, 20.0, 30.0, 39.0, 0.0, 0.0], "T": [39.0] * 5 + [10.0]}
    )
    alive = model.probability_alive(frame)["probability_alive"].to_numpy()
    assert np.all(np.diff(alive[:4]) > 0)  # more recent last purchase: more likely alive
    assert alive[3] == 1.0  # bought at T: alive for sure
    assert alive[5] > alive[4]  # no purchase over a shorter time


def test_probability_of_purchases_is_a_distribution_with_the_right_mean() -> None:
    model = ParetoNBD.from_params(*CDNOW_OPTIMUM)
    n = np.arange(0, 300)  # P(X(78) >= 300) is below 1e-16
    for t in (0.0, 5.0, 39.0, 78.0):
        probs = model.probability_of_purchases(t, n)
        assert probs["t"].unique().to_list() == [t] and probs["n"].to_list() == n.tolist()
        p = probs["probability"].to_numpy()
        assert np.all(p >= 0)
        assert p.sum() == pytest.approx(1.0, abs=1e-9)
        mean = model.expected_purchases(t)["expected_purchases"][0]
        assert float(np.dot(n, p)) == pytest.approx(mean, rel=1e-7, abs=1e-12)
    assert model.probability_of_purchases(0.0, [0, 1])["probability"].to_list() == [1.0, 0.0]


def test_probability_of_purchases_matches_simulation() -> None:
    theta = (0.8, 8.0, 0.9, 12.0)
    t = 30.0
    rng = np.random.default_rng(8)
    size = 400_000
    active = np.minimum(rng.exponential(1 / rng.gamma(theta[2], 1 / theta[3], size)), t)
    x = rng.poisson(rng.gamma(theta[0], 1 / theta[1], size) * active)
    freq = np.bincount(x, minlength=6)[:6] / size
    p = ParetoNBD.from_params(*theta).probability_of_purchases(t, range(6))["probability"].to_numpy()
    assert np.all(np.abs(p - freq) <= 4 * np.sqrt(freq * (1 - freq) / size) + 1e-5), (p, freq)


# ------------------------------------------------------------------------- extremes
def test_extreme_inputs_are_finite() -> None:
    model = ParetoNBD.from_params(*CDNOW_OPTIMUM)
    x, tx, T = (list(col) for col in zip(*_EXTREME_ROWS, strict=True))
    frame = pl.DataFrame({"frequency": x, "recency": tx, "T": T})
    for out in (
        model.probability_alive(frame)["probability_alive"],
        model.conditional_expected_purchases(frame, 52)["expected_purchases"],
        model.log_likelihood(frame)["log_likelihood"],
    ):
        assert out.len() == len(_EXTREME_ROWS) and out.is_finite().all()
    alive = model.probability_alive(frame)["probability_alive"]
    assert alive.is_between(0, 1).all()
    # Many purchases long before T: almost surely dead, still an exact 0 <= p, never NaN.
    assert alive[6] < 1e-100
    assert model.expected_purchases([0.0, 1e-12, 1e6])["expected_purchases"].is_finite().all()


@pytest.mark.parametrize(
    "rows",
    [
        {"frequency": [3], "recency": [20.0], "T": [30.0]},
        {"frequency": [0], "recency": [0.0], "T": [30.0]},
        {"frequency": [5000, 0], "recency": [1e-9, 0.0], "T": [1e-9, 1e-9]},
    ],
    ids=["one-customer", "one-customer-no-repeat", "huge-x-tiny-T"],
)
def test_degenerate_fits_give_a_clear_error(rows: dict[str, list[float]]) -> None:
    # The parameters are not identified from one or two customers: a clear error, never meaningless numbers.
    with pytest.raises(ConvergenceError, match=r"cannot be estimated from 1 customer|no interior maximum"):
        ParetoNBD().fit(pl.DataFrame(rows))


def test_fit_uses_the_compressed_form_and_ignores_extra_columns() -> None:
    data = _simulate(0.8, 8.0, 0.9, 12.0, customers=3000, seed=2)
    once = ParetoNBD().fit(data)
    doubled = ParetoNBD().fit(pl.concat([data, data]).with_columns(extra=pl.lit("x")))
    assert doubled.result is not None and once.result is not None
    assert doubled.result.customers == 6000
    assert doubled.result.log_likelihood == pytest.approx(2 * once.result.log_likelihood, rel=1e-9)
    for name, value in once.params.items():
        assert doubled.params[name] == pytest.approx(value, rel=1e-3)


# ---------------------------------------------------------------- value, JSON, errors
@pytest.mark.skipif(
    importlib.util.find_spec("retainlib.clv._value") is None, reason="retainlib.clv._value is not written yet"
)
def test_customer_lifetime_value_delegates() -> None:
    model = ParetoNBD.from_params(*CDNOW_OPTIMUM, unit=TimeUnit.of("D", 7))
    frame = pl.DataFrame({"customer_id": [1, 2], "frequency": [26, 0], "recency": [30.85714, 0.0], "T": [31.0, 39.0]})
    # No discounting: the value is spend × E[Y(horizon)] (a year = 365.2425 / 7 weeks).
    flat = model.customer_lifetime_value(frame, spend=10.0, horizon=(1, "year"), discount_rate=(0.0, "year"))
    expected = 10.0 * model.conditional_expected_purchases(frame, 365.2425 / 7)["expected_purchases"]
    np.testing.assert_allclose(flat["clv"].to_numpy(), expected.to_numpy(), rtol=1e-9)
    assert flat["customer_id"].to_list() == [1, 2]
    by_month = model.customer_lifetime_value(frame, spend=10.0, margin=0.3, intervals=True)
    total = model.customer_lifetime_value(frame, spend=10.0, margin=0.3)
    sums = by_month.group_by("customer_id", maintain_order=True).agg(pl.col("clv").sum())
    np.testing.assert_allclose(sums["clv"].to_numpy(), total["clv"].to_numpy(), rtol=1e-9)
    with pytest.raises(OptionError, match="not fitted"):
        ParetoNBD().customer_lifetime_value(frame, spend=10.0)


def test_json_round_trip(tmp_path: Path) -> None:
    model = ParetoNBD().fit(_simulate(0.8, 8.0, 0.9, 12.0, customers=500, seed=4), unit=TimeUnit.of("W"))
    again = ParetoNBD.from_json(model.to_json())
    assert again.result == model.result
    model.save(tmp_path / "pnbd.json")
    loaded = ParetoNBD.load(tmp_path / "pnbd.json")
    assert loaded.params == model.params and loaded.result is not None and loaded.result.unit == TimeUnit.of("W")
    frame = pl.DataFrame({"frequency": [2], "recency": [10.0], "T": [30.0]})
    assert loaded.probability_alive(frame).equals(model.probability_alive(frame))
    text = json.loads(model.to_json())
    assert text["model"] == "ParetoNBD" and set(text["params"]) == {"r", "alpha", "s", "beta"}


def test_errors() -> None:
    unfitted = ParetoNBD()
    frame = pl.DataFrame({"frequency": [1], "recency": [2.0], "T": [3.0]})
    for call in (
        lambda: unfitted.params,
        lambda: unfitted.expected_purchases(1.0),
        lambda: unfitted.probability_alive(frame),
        lambda: unfitted.conditional_expected_purchases(frame, 1.0),
        lambda: unfitted.probability_of_purchases(1.0, 1),
        unfitted.to_json,
    ):
        with pytest.raises(OptionError, match="not fitted"):
            call()
    model = ParetoNBD.from_params(*CDNOW_OPTIMUM)
    with pytest.raises(DataError, match="recency > T"):
        model.probability_alive(pl.DataFrame({"frequency": [1], "recency": [4.0], "T": [3.0]}))
    with pytest.raises(DataError, match="recency != 0"):
        ParetoNBD().fit(pl.DataFrame({"frequency": [0], "recency": [1.0], "T": [3.0]}))
    with pytest.raises(SchemaError):
        model.probability_alive(pl.DataFrame({"frequency": [1], "T": [3.0]}))
    with pytest.raises(ConvergenceError, match="from 0 customers"):
        ParetoNBD().fit(frame.clear())
    with pytest.raises(OptionError, match="non-negative"):
        model.expected_purchases(-1.0)
    with pytest.raises(OptionError, match="whole numbers"):
        model.probability_of_purchases(1.0, 1.5)
    with pytest.raises(OptionError, match="positive"):
        ParetoNBD.from_params(0.5, -1.0, 0.5, 1.0)
    with pytest.raises(OptionError, match="not ParetoNBD"):
        ParetoNBD.from_json(model.to_json().replace('"ParetoNBD"', '"BetaGeo"'))
    with pytest.raises(OptionError, match="not a saved"):
        ParetoNBD.from_json("{}")


def test_both_evaluations_of_hyp2f1_agree_where_both_apply() -> None:
    # The Euler-integral rule (used above z = 0.75) also holds below, where scipy is exact.
    b, c = np.array([0.7, 30.0, 1131.86, 0.05]), np.array([2.3, 31.6, 1133.86, 2.05])
    z = np.array([0.6, 0.3, 0.7, 0.05])
    np.testing.assert_allclose(_log_hyp2f1_1_integral(b, c, z, 1 - z), np.log(special.hyp2f1(1.0, b, c, z)), atol=1e-12)
