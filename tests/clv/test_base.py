"""The shared CLV machinery: time units, compressed RFM input, maximum likelihood, JSON results."""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest
from scipy import special

from retainlib.clv import MEAN_MONTH_DAYS, FitResult, TimeUnit
from retainlib.clv._base import maximise, rfm_arrays
from retainlib.errors import DataError, OptionError, SchemaError


def test_time_units_convert_explicitly() -> None:
    weeks = TimeUnit.of("D", 7)  # rl.rfm(freq="D", freq_multiplier=7): 7-day units
    assert weeks == TimeUnit(name="day", count=7.0)
    assert weeks.days == 7.0
    assert TimeUnit.of("W").days == 7.0
    assert weeks.convert(52, "week") == pytest.approx(52.0)
    # A month is the mean Gregorian month, stated, never a silent 30 days.
    assert TimeUnit(name="month").days == 365.2425 / 12 == MEAN_MONTH_DAYS
    assert TimeUnit.of("D").convert(12, "month") == pytest.approx(365.2425)
    assert str(weeks) == "7 days"
    with pytest.raises(OptionError):
        TimeUnit.of("X")
    with pytest.raises(OptionError):
        TimeUnit.of("D", 0)
    with pytest.raises(OptionError):
        weeks.convert(1, "fortnight")  # type: ignore[arg-type]


def test_rfm_arrays_compress_and_check() -> None:
    frame = pl.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "frequency": [0, 2, 2, 0],
            "recency": [0.0, 5.0, 5.0, 0.0],
            "T": [10.0, 8.0, 8.0, 10.0],
            "monetary_value": [0.0, 3.0, 3.0, 0.0],
        }
    )
    data = rfm_arrays(frame, model="m", monetary=True)
    assert data.customers == 4
    assert data.frequency.tolist() == [0.0, 2.0]
    assert data.weight.tolist() == [2.0, 2.0]
    assert data.monetary is not None and data.monetary.tolist() == [0.0, 3.0]
    with pytest.raises(SchemaError, match="missing T"):
        rfm_arrays(frame.drop("T"), model="m")
    for bad, rule in [
        ({"recency": [11.0, 5.0, 5.0, 0.0]}, "recency > T"),
        ({"recency": [1.0, 5.0, 5.0, 0.0]}, "recency != 0 while frequency = 0"),
        ({"frequency": [0.5, 2, 2, 0]}, "not a whole number"),
        ({"T": [-1.0, 8.0, 8.0, 10.0]}, "negative"),
        ({"T": [math.inf, 8.0, 8.0, 10.0]}, "not a finite number"),
        ({"monetary_value": [0.0, math.nan, 3.0, 0.0]}, "monetary_value: missing or not a finite number while"),
    ]:
        with pytest.raises(DataError, match=rule) as caught:
            rfm_arrays(frame.with_columns(**{k: pl.Series(v) for k, v in bad.items()}), model="m", monetary=True)
        (row,) = {p.rows["row"].item() for p in caught.value.problems}  # every rule names the one bad row
        assert frame["customer_id"][row - 1] == next(iter(caught.value.problems)).rows["customer_id"].item()
    # A non-repeat customer's spend is not used: missing is fine there.
    no_spend = frame.with_columns(monetary_value=pl.Series([None, 3.0, 3.0, None], dtype=pl.Float64))
    assert rfm_arrays(no_spend, model="m", monetary=True).customers == 4


def test_rfm_arrays_list_every_bad_row_of_every_rule() -> None:
    frame = pl.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e"],
            "frequency": [1.0, 0.0, 2.0, 0.0, 1.0],
            "recency": [9.0, 3.0, 12.0, 0.0, None],
            "T": [8.0, 5.0, 10.0, 4.0, 5.0],
        }
    )
    with pytest.raises(DataError) as caught:
        rfm_arrays(frame.lazy(), model="m")
    error = caught.value
    assert {(p.column, p.reason, tuple(p.rows["customer_id"])) for p in error.problems} == {
        ("recency", "recency > T", ("a", "c")),
        ("recency", "recency != 0 while frequency = 0", ("b",)),
        ("recency", "missing or not a finite number", ("e",)),
    }
    assert error.rows == 4
    # Without customer_id the rows are still numbered (1-based, input order), all of them.
    many = pl.DataFrame({"frequency": [1.0] * 12, "recency": [9.0] * 12, "T": [8.0] * 12})
    with pytest.raises(DataError) as caught:
        rfm_arrays(many, model="m")
    (problem,) = caught.value.problems
    assert problem.count == 12 and problem.rows["row"].to_list() == list(range(1, 13))
    assert problem.rows.columns == ["row", "frequency", "recency", "T"]


def test_maximise_finds_a_known_optimum_with_standard_errors() -> None:
    # Gamma(shape k, rate b) sample: the MLE and its observed-information standard errors
    # are checked against an independent computation with scipy's digamma/trigamma.
    rng = np.random.default_rng(7)
    xs = rng.gamma(shape=2.5, scale=1 / 1.5, size=4000)
    n, sum_x, sum_log = xs.size, xs.sum(), np.log(xs).sum()

    def ll(theta: np.ndarray) -> float:
        k, b = theta
        return float(n * (k * math.log(b) - special.gammaln(k)) + (k - 1) * sum_log - b * sum_x)

    optimum = maximise(ll, names=["k", "b"], starts=[[1.0, 1.0], [5.0, 0.2]], model="gamma")
    params, ses, value = optimum.params, optimum.standard_errors, optimum.log_likelihood
    k, b = params["k"], params["b"]
    # First-order conditions: log b - digamma(k) + mean log x = 0 and k / b = mean x.
    assert k / b == pytest.approx(xs.mean(), rel=1e-5)
    assert math.log(b) - special.digamma(k) + sum_log / n == pytest.approx(0.0, abs=1e-5)
    info = n * np.array([[special.polygamma(1, k), -1 / b], [-1 / b, k / b**2]])
    expected = np.sqrt(np.diag(np.linalg.inv(info)))
    assert [ses["k"], ses["b"]] == pytest.approx(expected.tolist(), rel=1e-3)
    assert value == pytest.approx(ll(np.array([k, b])))
    # The information of the log-parameters is D I D with D = diag(k, b).
    scaled = info * np.outer([k, b], [k, b])
    np.testing.assert_allclose(optimum.information, scaled, rtol=1e-3)


def test_fit_results_round_trip_through_json() -> None:
    result = FitResult(
        model="BetaGeo",
        params={"r": 0.24, "alpha": 4.4},
        standard_errors={"r": 0.01, "alpha": math.inf},
        log_likelihood=-9582.4,
        customers=2357,
        unit=TimeUnit.of("D", 7),
    )
    back = FitResult.from_json(result.to_json())
    assert back == result
    # Excluded customers travel too; files written before "excluded" kept Gamma-Gamma's count on top.
    gg = FitResult(
        model="GammaGamma", params={}, standard_errors={}, log_likelihood=-1.0, customers=3, excluded={"no_repeat": 2}
    )
    assert FitResult.from_json(gg.to_json()).excluded == {"no_repeat": 2}
    old = json.loads(gg.to_json())
    old["excluded_no_repeat"] = old.pop("excluded")["no_repeat"]
    assert FitResult.from_json(json.dumps(old)).excluded == {"no_repeat": 2}
    with pytest.raises(OptionError, match="malformed"):
        FitResult.from_json(json.dumps({"format": "retainlib-clv-model", "model": "BetaGeo"}))
    assert back.aic == pytest.approx(2 * 2 + 2 * 9582.4)
    with pytest.raises(OptionError, match="not a saved retainlib model"):
        FitResult.from_json('{"format": "pickle"}')
    with pytest.raises(OptionError, match="not a saved retainlib model"):
        FitResult.from_json("{oops")
