"""One life cycle for every CLV model: fit, params, from_params, JSON, save/load, unfitted use, degenerate data."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from retainlib.clv import (
    BetaGeo,
    BetaGeoBetaBinom,
    GammaGamma,
    ModifiedBetaGeo,
    ParetoNBD,
    ShiftedBetaGeometric,
    TimeUnit,
)
from retainlib.clv._base import Optimum
from retainlib.clv._model import BOUNDS, CLVModel, check_interior
from retainlib.clv._value import RFMTransactionModel
from retainlib.errors import ConvergenceError, DataError, OptionError

MODELS: list[type[CLVModel[Any]]] = [
    BetaGeo,
    ModifiedBetaGeo,
    ParetoNBD,
    GammaGamma,
    ShiftedBetaGeometric,
    BetaGeoBetaBinom,
]
WEEK = TimeUnit.of("W")


def _rfm(customers: int, seed: int) -> pl.DataFrame:
    """BG/NBD customers observed for T whole days, with a Gamma-Gamma spend: every RFM model fits them.

    Given lambda, M ~ Poisson(lambda T) purchases; the customer lives for N ~ Geometric(p) of them;
    x = min(M, N), and the x-th of M uniform purchase times is T * Beta(x, M - x + 1) (rounded up
    to a whole day, at least x so that the BG/BB rule x <= t_x holds too).
    """
    rng = np.random.default_rng(seed)
    lam = rng.gamma(0.5, 1 / 40.0, customers)
    T = rng.integers(140, 561, customers).astype(np.float64)
    m = rng.poisson(lam * T)
    x = np.minimum(m, rng.geometric(rng.beta(0.8, 2.5, customers)))
    last = np.ceil(T * rng.beta(np.maximum(x, 1), m - x + 1))
    tx = np.where(x > 0, np.minimum(np.maximum(last, x), T), 0.0)
    nu = rng.gamma(4.0, 1 / 15.0, customers)
    spend = np.where(x > 0, rng.gamma(6.0 * np.maximum(x, 1), 1 / nu) / np.maximum(x, 1), 0.0)
    return pl.DataFrame(
        {"customer_id": [f"c{i}" for i in range(customers)], "frequency": x, "recency": tx, "T": T}
    ).with_columns(monetary_value=pl.Series(spend))


def _data(model: type[CLVModel[Any]]) -> Any:
    """Data each model fits well (small, quick)."""
    if model is ShiftedBetaGeometric:
        return [1000, 631, 468, 382, 326, 289, 262, 241]
    if model is BetaGeoBetaBinom:
        return pl.DataFrame(
            {
                "frequency": [0, 1, 1, 1, 2, 2, 3],
                "recency": [0, 1, 2, 3, 2, 3, 3],
                "T": [3] * 7,
                "weight": [350, 128, 55, 42, 91, 106, 227],
            }
        )
    return _rfm(600, seed=3)


_FITTED: dict[type[CLVModel[Any]], CLVModel[Any]] = {}


def _fitted(model: type[CLVModel[Any]]) -> CLVModel[Any]:
    if model not in _FITTED:
        _FITTED[model] = model().fit(_data(model), unit=WEEK)
    return _FITTED[model]


def _ids(models: list[type[CLVModel[Any]]]) -> list[str]:
    return [m.name for m in models]


@pytest.mark.parametrize("model", MODELS, ids=_ids(MODELS))
def test_fit_returns_a_fitted_copy_with_params_and_result(model: type[CLVModel[Any]]) -> None:
    unfitted = model()
    fitted = _fitted(model)
    assert unfitted.result is None and fitted is not unfitted
    assert fitted.result is not None and fitted.result.model == model.name
    assert list(fitted.params) == list(model.param_names)
    assert all(BOUNDS[0] < v < BOUNDS[1] for v in fitted.params.values())
    assert all(0 < se < math.inf for se in fitted.result.standard_errors.values())
    assert math.isfinite(fitted.result.log_likelihood) and fitted.result.unit == WEEK
    fitted.params["x"] = 1.0  # params is a copy: the frozen model is unchanged
    assert "x" not in fitted.params


@pytest.mark.parametrize("model", MODELS, ids=_ids(MODELS))
def test_json_and_file_round_trips(model: type[CLVModel[Any]], tmp_path: Path) -> None:
    fitted = _fitted(model)
    text = fitted.to_json()
    assert json.loads(text)["model"] == model.name
    assert model.from_json(text) == fitted
    fitted.save(tmp_path / "model.json")
    loaded = model.load(tmp_path / "model.json")
    assert loaded == fitted and loaded.result == fitted.result
    other = next(m for m in MODELS if m is not model)
    with pytest.raises(OptionError, match=f"not {other.name}"):
        other.from_json(text)
    with pytest.raises(OptionError, match="not a saved"):
        model.from_json("{not json")


@pytest.mark.parametrize("model", MODELS, ids=_ids(MODELS))
def test_from_params_equals_the_fitted_params(model: type[CLVModel[Any]]) -> None:
    fitted = _fitted(model)
    params: dict[str, Any] = fitted.params
    by_name = model.from_params(**params, unit=WEEK)
    in_order = model.from_params(*fitted.params.values(), unit=WEEK)
    assert by_name.params == in_order.params == fitted.params
    assert by_name.result is not None and by_name.result.unit == WEEK
    assert not by_name.result.converged and math.isnan(by_name.result.log_likelihood)
    # A model given its parameters saves and loads like a fitted one.
    back = model.from_json(by_name.to_json())
    assert back.params == fitted.params
    first = model.param_names[0]
    with pytest.raises(OptionError, match="positive"):
        model.from_params(**{**params, first: -1.0})
    with pytest.raises(OptionError, match="has the parameters"):
        model.from_params(**{k: v for k, v in params.items() if k != first})
    with pytest.raises(OptionError, match="has the parameters"):
        model.from_params(*fitted.params.values(), 1.0)


def _predictions(model: CLVModel[Any]) -> list[Callable[[], object]]:
    """Every public method of a model that needs its parameters."""
    frame = _data(type(model))
    if isinstance(model, ShiftedBetaGeometric):
        return [
            lambda: model.predict(3),
            model.expected_lifetime,
            lambda: model.discounted_expected_residual_lifetime(0.1),
        ]
    if isinstance(model, GammaGamma):
        return [
            lambda: model.conditional_expected_average_profit(frame),
            lambda: model.population_mean_spend,
            lambda: model.excluded_no_repeat,
        ]
    assert isinstance(model, (RFMTransactionModel, BetaGeoBetaBinom))
    calls: list[Callable[[], object]] = [
        lambda: model.probability_alive(frame),
        lambda: model.conditional_expected_purchases(frame, 2),
        lambda: model.expected_purchases(2),
    ]
    if not isinstance(model, BetaGeoBetaBinom):
        calls.append(lambda: model.customer_lifetime_value(frame, spend=1.0))
    return calls


@pytest.mark.parametrize("model", MODELS, ids=_ids(MODELS))
def test_unfitted_use_says_what_to_do(model: type[CLVModel[Any]]) -> None:
    unfitted = model()
    calls = [lambda: unfitted.params, unfitted.to_json, lambda: unfitted.save("never.json"), *_predictions(unfitted)]
    for call in calls:
        with pytest.raises(OptionError, match=rf"{model.name} is not fitted: call fit\(\) first"):
            call()
    assert not Path("never.json").exists()


# --------------------------------------------------------------------- degenerate data
_ONE: dict[str, list[float]] = {"frequency": [3], "recency": [5.0], "T": [8.0], "monetary_value": [20.0]}
_DEGENERATE: dict[str, dict[str, Any]] = {
    "one customer": {"rfm": _ONE, "survivors": [1, 0]},
    "two identical customers": {
        "rfm": {k: v * 2 for k, v in _ONE.items()},
        "survivors": [2, 2, 0],  # both churned in period 2
    },
    "all-zero frequency": {
        "rfm": {
            "frequency": [0] * 6,
            "recency": [0.0] * 6,
            "T": [3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
            "monetary_value": [0.0] * 6,
        },
        "survivors": [6, 6, 6],  # nobody churned
    },
}


@pytest.mark.parametrize("case", list(_DEGENERATE))
@pytest.mark.parametrize("model", MODELS, ids=_ids(MODELS))
def test_degenerate_inputs_give_a_clear_error(model: type[CLVModel[Any]], case: str) -> None:
    data = _DEGENERATE[case]["survivors" if model is ShiftedBetaGeometric else "rfm"]
    frame = data if isinstance(data, list) else pl.DataFrame(data)
    with pytest.raises(ConvergenceError) as caught:
        model().fit(frame)
    message = str(caught.value)
    assert message.startswith(f"{model.name}: ")
    assert caught.value.model == model.name
    # Says what degenerated, and what to do.
    assert any(s in message for s in ("cannot be estimated", "no variation", "no interior maximum")), message
    assert "Fit on more customers" in message


def test_gamma_gamma_two_customers_is_degenerate_wherever_the_optimiser_stops() -> None:
    """The regression of issue 13: the two-customer Gamma-Gamma fit stopped at q ~ 1.2e8 "converged" on one
    machine and with a singular Hessian on another.  The likelihood's supremum is at q, v -> infinity (no
    spread between customers); wherever along that ridge the search stops, the fit is refused."""
    from retainlib.clv.gamma_gamma import _log_likelihood, _Spend

    spend = _Spend(np.array([3.0, 1.0]), np.array([20.0, 30.0]), np.array([1.0, 1.0]))

    def ll(theta: np.ndarray) -> float:
        return _log_likelihood(theta, spend)

    p = 15.34  # the profile maximum in p along the ridge
    for q in (1e3, 1e5, 2.15e7, 1.2e8, 1e10):
        v = q * 1.467  # v / q fixed: the ridge
        theta = np.array([p, q, v])
        for information in (np.zeros((3, 3)), np.eye(3) * 1e-7, np.full((3, 3), np.nan), np.eye(3) * 50.0):
            optimum = Optimum(
                params=dict(zip(("p", "q", "v"), theta.tolist(), strict=True)),
                standard_errors=dict.fromkeys(("p", "q", "v"), 1.0),
                log_likelihood=ll(theta),
                message="CONVERGENCE: NORM OF PROJECTED GRADIENT <= PGTOL",
                information=information,
            )
            with pytest.raises(ConvergenceError, match="no interior maximum"):
                check_interior("GammaGamma", ll, optimum)
    two = pl.DataFrame({"frequency": [3, 1], "recency": [5.0, 1.0], "T": [8.0, 8.0], "monetary_value": [20.0, 30.0]})
    with pytest.raises(ConvergenceError, match="no interior maximum"):
        GammaGamma().fit(two)


def test_interior_optimum_passes_the_check() -> None:
    """A plain quadratic log-likelihood (a Gaussian in log-parameters) has an interior maximum."""
    centre = np.log(np.array([2.0, 0.5]))

    def ll(theta: np.ndarray) -> float:
        d = np.log(theta) - centre
        return float(-50.0 * d @ d)

    optimum = Optimum(
        params={"a": 2.0, "b": 0.5},
        standard_errors={"a": 0.1, "b": 0.1},
        log_likelihood=0.0,
        message="",
        information=np.eye(2) * 100.0,
    )
    check_interior("toy", ll, optimum)
    # The probes find the maximum interior, but standard errors need a positive definite information.
    for information in (np.zeros((2, 2)), np.diag([100.0, -1.0]), np.full((2, 2), np.inf)):
        with pytest.raises(ConvergenceError, match="singular or not finite"):
            check_interior("toy", ll, attrs_evolve(optimum, information=information))
    # A maximum beyond the search's range is refused whatever the curvature says.
    far = attrs_evolve(optimum, params={"a": 2e8, "b": 0.5})
    with pytest.raises(ConvergenceError, match="a ran towards infinity"):
        check_interior("toy", ll, far)


def attrs_evolve(optimum: Optimum, **changes: Any) -> Optimum:
    import attrs

    return attrs.evolve(optimum, **changes)


# --------------------------------------------------------------------------- bad rows
_BAD_ROWS = pl.DataFrame(
    {
        "customer_id": ["a", "b", "c", "d", "e", "f"],
        "frequency": [2.0, 0.0, 1.5, 3.0, -1.0, 1.0],
        "recency": [9.0, 2.0, 1.0, 4.0, 0.0, None],
        "T": [8.0, 5.0, 5.0, 6.0, 4.0, 5.0],
        "monetary_value": [10.0, 0.0, 5.0, 5.0, 0.0, 5.0],
    }
)


@pytest.mark.parametrize(
    "model", [m for m in MODELS if m is not ShiftedBetaGeometric], ids=_ids(MODELS[:4] + MODELS[5:])
)
def test_broken_rfm_invariants_list_every_bad_row(model: type[CLVModel[Any]]) -> None:
    frame = pl.concat([_rfm(40, seed=1), _BAD_ROWS], how="vertical_relaxed")
    with pytest.raises(DataError) as caught:
        model().fit(frame)
    error = caught.value
    by_reason = {p.reason: p for p in error.problems}
    expected = {
        "recency > T": ["a"],
        "recency != 0 while frequency = 0": ["b"],
        "negative or not a whole number": ["c", "e"],
        "missing or not a finite number": ["f"],
    }
    for reason, customers in expected.items():
        problem = by_reason[reason]
        assert problem.table == "rfm" and problem.count == len(customers)
        assert problem.rows["customer_id"].to_list() == customers
        # 1-based row numbers of the input: the bad rows follow 40 good ones.
        assert problem.rows["row"].to_list() == [41 + "abcdef".index(c) for c in customers]
    assert error.rows == 5
    assert "recency > T" in str(error) and "customer_id" in str(error)
    # Predictions check their input the same way.
    fitted = _fitted(model)
    predict = (
        fitted.conditional_expected_average_profit if isinstance(fitted, GammaGamma) else fitted.probability_alive  # type: ignore[attr-defined]
    )
    with pytest.raises(DataError, match=r"missing or not a finite number|negative"):
        predict(_BAD_ROWS)


def test_bgbb_rules_join_the_shared_ones() -> None:
    frame = pl.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "frequency": [3.0, 1.0, 1.0, 0.0],
            "recency": [2.0, 1.5, 7.0, 0.0],
            "T": [6.0, 6.0, 6.0, 6.0],
            "weight": [1.0, 1.0, 1.0, -2.0],
        }
    )
    with pytest.raises(DataError) as caught:
        BetaGeoBetaBinom().fit(frame)
    found = {(p.column, p.reason): p.rows["customer_id"].to_list() for p in caught.value.problems}
    assert found == {
        ("recency", "recency > T"): ["c"],
        ("recency", "not a whole number (BG/BB counts opportunities)"): ["b"],
        ("frequency", "frequency > recency (x transactions need x opportunities up to t_x)"): ["a"],
        ("weight", "negative"): ["d"],
    }
