"""GammaGamma: the published CDNOW fit (note 025), parameter recovery, extreme inputs, JSON, errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from retainlib.clv import TimeUnit
from retainlib.clv._value import SpendModel
from retainlib.clv.gamma_gamma import GammaGamma
from retainlib.errors import ConvergenceError, DataError, OptionError, SchemaError


def _cbs(shared_data: Path) -> pl.DataFrame:
    # BTYD's cdnowSummary$cbs: m.x is the mean spend per *repeat* purchase in the calibration period.
    return pl.read_csv(shared_data / "reference" / "cdnow" / "BTYD-2.4.3" / "cdnowSummary_cbs.csv").rename(
        {"cust": "customer_id", "x": "frequency", "t.x": "recency", "T.cal": "T", "m.x": "monetary_value"}
    )


def _reference(shared_data: Path) -> dict[str, object]:
    data = json.loads((shared_data / "reference" / "published_reference_values.json").read_text())
    ref: dict[str, object] = data["gamma_gamma_cdnow"]
    return ref


def _simulate(p: float, q: float, v: float, customers: int, seed: int) -> pl.DataFrame:
    """The model's generative process: nu ~ Gamma(q, rate v); x spends ~ Gamma(p, rate nu); zbar = their mean."""
    rng = np.random.default_rng(seed)
    nu = rng.gamma(q, 1 / v, size=customers)
    x = 1 + rng.poisson(3.0, size=customers)
    zbar = rng.gamma(p * x, 1 / nu) / x  # the sum of x Gamma(p, nu) draws is Gamma(p x, nu)
    return pl.DataFrame({"frequency": x, "recency": x.astype(float), "T": x + 1.0, "monetary_value": zbar})


def test_cdnow_reproduces_note_025(shared_data: Path) -> None:
    ref = _reference(shared_data)
    published = ref["published"]
    assert isinstance(published, dict)
    cbs = _cbs(shared_data)
    model = GammaGamma().fit(cbs, unit=TimeUnit.of("D", 7))
    params = model.params
    assert params["p"] == pytest.approx(published["p"], abs=0.005)
    assert params["q"] == pytest.approx(published["q"], abs=0.005)
    assert params["v"] == pytest.approx(published["gamma"], abs=0.005)
    assert model.result is not None
    assert model.result.log_likelihood == pytest.approx(published["LL"], abs=1e-3)
    assert model.result.customers == published["n"] == 946
    assert model.excluded_no_repeat == cbs.height - 946
    assert model.result.unit == TimeUnit.of("D", 7)
    assert model.result.aic == pytest.approx(6 - 2 * published["LL"], abs=1e-2)
    assert all(0 < se < math.inf for se in model.result.standard_errors.values())

    predictions = ref["predictions"]
    assert isinstance(predictions, list)
    spend = model.conditional_expected_average_profit(cbs)
    assert spend.columns == ["customer_id", "expected_spend"]
    first10 = spend["expected_spend"].head(10).to_list()
    assert first10 == pytest.approx(predictions[0]["value"], abs=predictions[0]["tol"])
    # Customers with frequency 0 get the population mean p v / (q - 1).
    zero = spend.filter(cbs["frequency"] == 0)["expected_spend"]
    assert zero.min() == zero.max() == pytest.approx(params["p"] * params["v"] / (params["q"] - 1))
    # lifetimes' quickstart: mean E[M] over all 2,357 customers (their data have 2-dp spend).
    assert spend["expected_spend"].mean() == pytest.approx(predictions[1]["value"][0], abs=0.01)


def test_recovers_simulated_parameters() -> None:
    truth = {"p": 6.0, "q": 4.0, "v": 15.0}
    model = GammaGamma().fit(_simulate(**truth, customers=8_000, seed=7))
    assert model.result is not None
    for name, value in truth.items():
        se = model.result.standard_errors[name]
        assert abs(model.params[name] - value) < 4 * se, (name, model.params[name], se)
        assert model.params[name] == pytest.approx(value, rel=0.25)


def test_compressed_fit_equals_expanded_fit() -> None:
    frame = _simulate(3.0, 5.0, 20.0, customers=300, seed=1)
    doubled = pl.concat([frame, frame])
    one, two = GammaGamma().fit(frame), GammaGamma().fit(doubled)
    assert one.result is not None and two.result is not None
    assert two.result.log_likelihood == pytest.approx(2 * one.result.log_likelihood, rel=1e-6)
    assert two.params == pytest.approx(one.params, rel=1e-4)


def test_extreme_inputs_are_finite() -> None:
    frame = pl.concat(
        [
            _simulate(3.0, 5.0, 20.0, customers=500, seed=3),
            pl.DataFrame(
                {"frequency": [5000, 1, 2], "recency": [5000.0, 1e-9, 3.0], "T": [5000.0, 1e-9, 3.0]},
            ).with_columns(monetary_value=pl.Series([1e6, 1e-6, 25.0])),
        ]
    )
    model = GammaGamma().fit(frame)
    assert all(math.isfinite(v) for v in model.params.values())
    spend = model.conditional_expected_average_profit(frame)["expected_spend"]
    assert spend.is_finite().all()
    # With thousands of purchases the prediction is (almost) the customer's own mean.
    assert spend[-3] == pytest.approx(1e6, rel=1e-3)


def test_single_customer_gives_a_clear_error() -> None:
    one = pl.DataFrame({"frequency": [3], "recency": [5.0], "T": [8.0], "monetary_value": [20.0]})
    with pytest.raises(ConvergenceError, match="from 1 customer"):
        GammaGamma().fit(one)
    identical = pl.concat([one] * 5)
    # Identical spends: no heterogeneity, no spread: reported, never fitted.
    with pytest.raises(ConvergenceError, match="same \\(frequency, monetary_value\\)"):
        GammaGamma().fit(identical)
    # Two customers: no between-customer spread to speak of, so q and v run off together towards
    # infinity; where the optimiser stops on that ridge depends on the machine, the error does not.
    two = pl.DataFrame({"frequency": [3, 1], "recency": [5.0, 1.0], "T": [8.0, 8.0], "monetary_value": [20.0, 30.0]})
    with pytest.raises(ConvergenceError, match="no interior maximum") as caught:
        GammaGamma().fit(two)
    assert "Fit on more customers" in str(caught.value)
    # Nobody with a repeat purchase: nothing to fit, and the message says who was left out.
    none = pl.DataFrame({"frequency": [0, 0], "recency": [0.0, 0.0], "T": [8.0, 8.0], "monetary_value": [0.0, 0.0]})
    with pytest.raises(ConvergenceError, match="from 0 customers \\(customers left out: no_repeat: 2\\)"):
        GammaGamma().fit(none)


def test_customers_without_positive_spend_are_left_out_and_counted() -> None:
    """Repeat customers whose mean repeat spend is 0 (free orders) or negative (refunds) are excluded like the
    customers without repeats, counted in the result, and get no expected spend (null)."""
    good = _simulate(3.0, 5.0, 20.0, customers=300, seed=8).with_columns(customer_id=pl.int_range(pl.len()))
    odd = pl.DataFrame(
        {
            "frequency": [1, 2, 0, 4],
            "recency": [4.0, 6.0, 0.0, 9.0],
            "T": [73.0, 70.0, 60.0, 10.0],
            "monetary_value": [0.0, -5.0, 0.0, 1e-3],
            "customer_id": [1000, 1001, 1002, 1003],
        }
    )
    frame = pl.concat([good, odd], how="vertical_relaxed")
    model = GammaGamma().fit(frame)
    assert model.excluded_non_positive_spend == 2 and model.excluded_no_repeat == 1
    assert model.result is not None
    assert model.result.excluded == {"no_repeat": 1, "non_positive_spend": 2}
    assert model.result.customers == 301  # rows read = used + excluded
    assert model.result.customers + sum(model.result.excluded.values()) == frame.height
    # The fit is the fit of the customers it used.
    assert model.params == GammaGamma().fit(frame.filter(pl.col("monetary_value") > 0)).params
    assert GammaGamma.from_json(model.to_json()).result == model.result
    spend = model.conditional_expected_average_profit(frame.lazy()).filter(pl.col("customer_id") >= 1000)
    values = spend["expected_spend"].to_list()
    assert values[0] is None and values[1] is None  # left out of the fit: not scored
    assert values[2] == pytest.approx(model.population_mean_spend)
    p, q, v = model.params["p"], model.params["q"], model.params["v"]
    assert values[3] == pytest.approx(p * (v + 4 * 1e-3) / (4 * p + q - 1))


def test_readme_recipe_on_the_cdnow_master(shared_data: Path) -> None:
    """The README's ``GammaGamma().fit(summary.filter(pl.col("frequency") > 0))`` on all 23,570 CDNOW customers:
    one customer's repeat purchases cost $0, so his mean spend is 0; he is left out and counted."""
    import retainlib as rl

    master = shared_data / "reference" / "cdnow" / "lifetimes-0.11.3" / "CDNOW_master.txt"
    summary = rl.rfm(rl.read("cdnow", master).collect(), freq="W")
    repeat = summary.filter(pl.col("frequency") > 0)
    zero = repeat.filter(pl.col("monetary_value") <= 0)
    assert zero.height == 1
    model = GammaGamma().fit(repeat, unit=TimeUnit.of("W"))
    assert model.excluded_non_positive_spend == 1 and model.excluded_no_repeat == 0
    assert model.result is not None and model.result.customers == repeat.height - 1
    assert all(0 < se < math.inf for se in model.result.standard_errors.values())
    spend = model.conditional_expected_average_profit(summary)
    assert spend.height == summary.height
    missing = spend.filter(pl.col("expected_spend").is_null())["customer_id"].to_list()
    assert missing == zero["customer_id"].to_list()


def test_is_a_spend_model_and_ignores_spend_of_non_repeaters() -> None:
    model = GammaGamma().fit(_simulate(3.0, 5.0, 20.0, customers=300, seed=6))
    assert isinstance(model, SpendModel)  # usable as spend= in the transaction models' customer_lifetime_value
    frame = pl.DataFrame(
        {"customer_id": ["a", "b"], "frequency": [0, 2], "monetary_value": [None, 10.0]},
        schema_overrides={"monetary_value": pl.Float64},
    )
    spend = model.conditional_expected_average_profit(frame)
    assert spend["customer_id"].to_list() == ["a", "b"]
    assert spend["expected_spend"][0] == pytest.approx(model.population_mean_spend)
    p, q, v = model.params["p"], model.params["q"], model.params["v"]
    assert spend["expected_spend"][1] == pytest.approx(p * (v + 2 * 10.0) / (2 * p + q - 1))


def test_json_round_trip() -> None:
    frame = _simulate(3.0, 5.0, 20.0, customers=400, seed=2).vstack(
        pl.DataFrame({"frequency": [0, 0], "recency": [0.0, 0.0], "T": [4.0, 4.0], "monetary_value": [0.0, 0.0]}),
        in_place=False,
    )
    model = GammaGamma().fit(frame, unit=TimeUnit.of("W"))
    text = model.to_json()
    assert "pickle" not in text and json.loads(text)["excluded"] == {"no_repeat": 2, "non_positive_spend": 0}
    back = GammaGamma.from_json(text)
    assert back == model
    assert back.conditional_expected_average_profit(frame).equals(model.conditional_expected_average_profit(frame))
    with pytest.raises(OptionError):
        GammaGamma.from_json(text.replace('"GammaGamma"', '"BetaGeo"'))
    with pytest.raises(OptionError):
        GammaGamma.from_json("{not json")


def test_errors() -> None:
    with pytest.raises(OptionError, match="not fitted"):
        _ = GammaGamma().params
    broken = _simulate(3.0, 5.0, 20.0, customers=50, seed=4).with_columns(
        monetary_value=pl.when(pl.int_range(pl.len()).is_in([3, 7])).then(None).otherwise(pl.col("monetary_value"))
    )
    with pytest.raises(
        DataError, match=r"monetary_value: missing or not a finite number while frequency > 0 \(2 rows\)"
    ):
        GammaGamma().fit(broken)
    with pytest.raises(SchemaError):
        GammaGamma().fit(pl.DataFrame({"frequency": [1, 2], "recency": [1.0, 2.0], "T": [3.0, 3.0]}))
    model = GammaGamma().fit(_simulate(3.0, 5.0, 20.0, customers=200, seed=5))
    with pytest.raises(DataError) as caught:
        model.conditional_expected_average_profit(broken)
    assert caught.value.problems[0].rows["row"].to_list() == [4, 8]
    with pytest.raises(SchemaError):
        model.conditional_expected_average_profit(pl.DataFrame({"frequency": [1]}))
    heavy_tail = attrs_evolve_q(model, 0.5)
    with pytest.raises(OptionError, match="infinite"):
        _ = heavy_tail.population_mean_spend


def attrs_evolve_q(model: GammaGamma, q: float) -> GammaGamma:
    import attrs

    assert model.result is not None
    return attrs.evolve(model, result=attrs.evolve(model.result, params={**model.params, "q": q}))
