"""Calibration/holdout table, tracking and their plots (retainlib.clv.evaluation)."""

from __future__ import annotations

import datetime as dt
import functools
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import pytest
from scipy.special import hyp2f1

import retainlib
from retainlib._dataset import Dataset
from retainlib.clv._base import TimeUnit
from retainlib.clv.bgnbd import BetaGeo, ModifiedBetaGeo
from retainlib.clv.evaluation import calibration_holdout, plot_calibration_holdout, plot_tracking, tracking
from retainlib.clv.pareto import ParetoNBD
from retainlib.errors import DataError, MissingExtraError, OptionError, SchemaError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

WEEK = TimeUnit.of("D", 7)
PUBLISHED = BetaGeo.from_params(0.243, 4.414, 0.793, 2.426, unit=WEEK)


def bgnbd_conditional(
    params: tuple[float, float, float, float], x: np.ndarray, tx: np.ndarray, T: np.ndarray, t: float
) -> np.ndarray:
    """E[Y(t) | x, t_x, T] of FHL (2005) eq. 10, straight from scipy (independent of the model code)."""
    r, alpha, a, b = params
    z = t / (alpha + T + t)
    given_alive = (
        (a + b + x - 1)
        / (a - 1)
        * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z))
    )
    odds = np.where(x > 0, a / np.where(x > 0, b + x - 1, 1.0) * ((alpha + T) / (alpha + tx)) ** (r + x), 0.0)
    out: np.ndarray = given_alive / (1 + odds)
    return out


def bgnbd_unconditional(params: tuple[float, float, float, float], t: np.ndarray) -> np.ndarray:
    """E[X(t)] of FHL (2005) eq. 7."""
    r, alpha, a, b = params
    out: np.ndarray = (
        (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, t / (alpha + t)))
    )
    return out


# --------------------------------------------------------------------------- calibration / holdout
def small_frame() -> pl.DataFrame:
    """Customers over bins 0, 1, 2 and 9 (bins 3..6 empty with max_frequency 7), two holdout lengths."""
    return pl.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(8)],
            "frequency": [0, 0, 1, 1, 2, 9, 12, 0],
            "recency": [0.0, 0.0, 3.0, 10.0, 20.0, 30.0, 35.0, 0.0],
            "T": [40.0, 12.0, 20.0, 40.0, 38.0, 39.0, 40.0, 5.0],
            "monetary_value": [0.0, 0.0, 10.0, 12.0, 9.0, 20.0, 15.0, 0.0],
            "frequency_holdout": [0, 1, 0, 2, 1, 5, 8, 0],
            "monetary_value_holdout": [0.0] * 8,
            "duration_holdout": [39.0, 39.0, 39.0, 39.0, 39.0, 20.0, 20.0, 39.0],
        }
    )


def test_calibration_holdout_bins_match_an_independent_computation() -> None:
    frame = small_frame()
    got = calibration_holdout(PUBLISHED, frame)
    params = (0.243, 4.414, 0.793, 2.426)
    rows = frame.to_dicts()
    expected = {
        i: float(
            bgnbd_conditional(
                params,
                np.array([float(r["frequency"])]),
                np.array([r["recency"]]),
                np.array([r["T"]]),
                r["duration_holdout"],
            )[0]
        )
        for i, r in enumerate(rows)
    }
    assert got.bins["bin"].to_list() == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert got.bins["customers"].sum() == frame.height == got.customers
    assert got.bins["customers"].to_list() == [3, 2, 1, 0, 0, 0, 0, 2]
    for label, members in (("0", [0, 1, 7]), ("1", [2, 3]), ("2", [4]), ("7+", [5, 6])):
        row = got.bins.filter(pl.col("bin") == label).row(0, named=True)
        actual = sum(rows[i]["frequency_holdout"] for i in members) / len(members)
        predicted = sum(expected[i] for i in members) / len(members)
        assert row["actual"] == pytest.approx(actual, rel=1e-12)
        assert row["predicted"] == pytest.approx(predicted, rel=1e-9)
        assert row["error"] == pytest.approx(predicted - actual, rel=1e-9, abs=1e-12)
    empty = got.bins.filter(pl.col("customers") == 0)
    assert empty["actual"].null_count() == empty.height == 4
    overall = got.overall.row(0, named=True)
    assert overall["bin"] == "all" and overall["customers"] == 8
    assert got.actual_total == overall["actual_total"] == 17.0
    assert got.predicted_total == pytest.approx(sum(expected.values()), rel=1e-9)
    diff = np.array([expected[i] - r["frequency_holdout"] for i, r in enumerate(rows)])
    assert got.customer_mae == pytest.approx(np.abs(diff).mean(), rel=1e-9)
    assert got.customer_rmse == pytest.approx(np.sqrt((diff**2).mean()), rel=1e-9)
    assert got.bin_mae == pytest.approx(got.bins["error"].drop_nulls().abs().mean(), rel=1e-12)
    assert got.total_error == pytest.approx(got.predicted_total / 17.0 - 1)


@pytest.mark.parametrize(
    "model", [ModifiedBetaGeo.from_params(0.25, 4.0, 0.8, 2.5), ParetoNBD.from_params(0.55, 10.6, 0.6, 11.7)]
)
def test_calibration_holdout_other_models_use_their_conditional_expectation(model: ModifiedBetaGeo | ParetoNBD) -> None:
    frame = small_frame()
    got = calibration_holdout(model, frame, max_frequency=2)
    assert got.bins["bin"].to_list() == ["0", "1", "2+"]
    assert got.bins["customers"].to_list() == [3, 2, 3]
    long = frame.filter(pl.col("duration_holdout") == 39.0)
    short = frame.filter(pl.col("duration_holdout") == 20.0)
    total = float(model.conditional_expected_purchases(long, 39.0)["expected_purchases"].sum()) + float(
        model.conditional_expected_purchases(short, 20.0)["expected_purchases"].sum()
    )
    assert got.predicted_total == pytest.approx(total, rel=1e-12)


def test_calibration_holdout_errors() -> None:
    frame = small_frame()
    with pytest.raises(SchemaError, match="duration_holdout"):
        calibration_holdout(PUBLISHED, frame.drop("duration_holdout"))
    with pytest.raises(OptionError, match="max_frequency"):
        calibration_holdout(PUBLISHED, frame, max_frequency=0)
    with pytest.raises(OptionError, match="not fitted"):
        calibration_holdout(BetaGeo(), frame)
    with pytest.raises(OptionError, match="frequency_holdout"):
        calibration_holdout(PUBLISHED, frame.with_columns(pl.col("frequency_holdout").cast(pl.Float64) - 0.5))
    with pytest.raises(DataError, match="recency > T"):
        calibration_holdout(PUBLISHED, frame.with_columns(pl.col("recency") + 100))


# --------------------------------------------------------------------------- tracking
def orders(rows: list[tuple[str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "order_id": [f"o{i}" for i in range(len(rows))],
            "customer_id": [c for c, _ in rows],
            "ordered_at": [dt.datetime.fromisoformat(d).replace(tzinfo=dt.UTC) for _, d in rows],
            "amount": ["10"] * len(rows),
            "currency": "EUR",
        }
    )


TOY = orders(
    [
        ("a", "2024-01-01 09:00"),
        ("a", "2024-01-01 18:00"),  # same day: merged
        ("a", "2024-01-09 10:00"),  # day 8: period 2
        ("a", "2024-01-14 10:00"),  # day 13: period 2
        ("a", "2024-01-20 10:00"),  # day 19: period 3 (holdout)
        ("b", "2024-01-05 12:00"),  # born day 4
        ("b", "2024-01-07 12:00"),  # day 6: period 1
        ("c", "2024-01-16 12:00"),  # born after calibration: not in the cohort
        ("c", "2024-01-18 12:00"),
        ("a", "2024-02-01 10:00"),  # after end: ignored
    ]
)


def test_tracking_counts_by_hand_and_predictions_from_the_formula() -> None:
    got = tracking(PUBLISHED, TOY, calibration_end=dt.date(2024, 1, 14), end=dt.date(2024, 1, 21))
    assert got["period"].to_list() == [1, 2, 3]
    assert got["period_end"].to_list() == [dt.date(2024, 1, 7), dt.date(2024, 1, 14), dt.date(2024, 1, 21)]
    assert got["holdout"].to_list() == [False, False, True]
    assert got["actual"].to_list() == [1.0, 3.0, 4.0]
    assert got["actual_in_period"].to_list() == [1.0, 2.0, 1.0]
    births = np.array([0.0, 4.0 / 7])  # a on day 0, b on day 4
    ks = np.array([1.0, 2.0, 3.0])
    predicted = bgnbd_unconditional((0.243, 4.414, 0.793, 2.426), ks[:, None] - births[None, :]).sum(axis=1)
    np.testing.assert_allclose(got["predicted"].to_numpy(), predicted, rtol=1e-9)
    np.testing.assert_allclose(got["predicted_in_period"].to_numpy(), np.diff(predicted, prepend=0.0), rtol=1e-9)
    # a later start shifts nothing but the axis; an earlier one adds an empty first period
    early = tracking(
        PUBLISHED,
        TOY.lazy(),
        calibration_end=dt.date(2024, 1, 14),
        end=dt.date(2024, 1, 21),
        start=dt.date(2023, 12, 25),
    )
    assert early["actual"].to_list() == [0.0, 1.0, 3.0, 4.0]
    np.testing.assert_allclose(early["predicted"].to_numpy()[1:], predicted, rtol=1e-9)
    assert early["predicted"][0] == 0.0


def test_tracking_daily_unit_and_errors() -> None:
    daily = BetaGeo.from_params(0.243, 4.414 * 7, 0.793, 2.426, unit=TimeUnit.of("D"))
    got = tracking(daily, TOY, calibration_end=dt.date(2024, 1, 14), end=dt.date(2024, 1, 21))
    assert got.height == 21
    assert got["actual"][6] == 1.0 and got["actual"][13] == 3.0 and got["actual"][-1] == 4.0
    with pytest.raises(OptionError, match="time unit"):
        tracking(
            BetaGeo.from_params(0.2, 4.0, 0.8, 2.4), TOY, calibration_end=dt.date(2024, 1, 14), end=dt.date(2024, 1, 21)
        )
    with pytest.raises(OptionError, match="not the unit"):
        tracking(PUBLISHED, TOY, calibration_end=dt.date(2024, 1, 14), end=dt.date(2024, 1, 21), unit=TimeUnit.of("D"))
    with pytest.raises(OptionError, match="end"):
        tracking(PUBLISHED, TOY, calibration_end=dt.date(2024, 1, 14), end=dt.date(2024, 1, 10))
    with pytest.raises(OptionError, match="start"):
        tracking(
            PUBLISHED, TOY, calibration_end=dt.date(2024, 1, 14), end=dt.date(2024, 1, 21), start=dt.date(2024, 1, 3)
        )
    with pytest.raises(OptionError, match="first order"):
        tracking(PUBLISHED, TOY, calibration_end=dt.date(2023, 1, 14), end=dt.date(2024, 1, 21))
    with pytest.raises(OptionError, match="whole period"):
        tracking(PUBLISHED, TOY, calibration_end=dt.date(2024, 1, 1), end=dt.date(2024, 1, 3))


# --------------------------------------------------------------------------- plots
def ydata(ax: Axes, line: int) -> np.ndarray:
    return np.asarray(ax.lines[line].get_ydata(), dtype=np.float64)


def test_plots_are_figures_with_the_right_lines() -> None:
    figure = pytest.importorskip("matplotlib.figure")

    ch = calibration_holdout(PUBLISHED, small_frame())
    fig = plot_calibration_holdout(ch, figsize=(5, 3))
    assert isinstance(fig, figure.Figure) and len(fig.axes) == 1
    (ax,) = fig.axes
    assert len(ax.lines) == 2
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2", "7+"]  # empty bins are not drawn
    np.testing.assert_allclose(ydata(ax, 0), ch.bins["actual"].drop_nulls().to_numpy())

    frame = tracking(PUBLISHED, TOY, calibration_end=dt.date(2024, 1, 14), end=dt.date(2024, 1, 21))
    fig = plot_tracking(frame)
    (ax,) = fig.axes
    assert len(ax.lines) == 3  # actual, model, end of calibration
    np.testing.assert_allclose(ydata(ax, 1), frame["predicted"].to_numpy())
    assert np.asarray(ax.lines[2].get_xdata(), dtype=float)[0] == 2.0
    fig = plot_tracking(frame.filter(~pl.col("holdout")), cumulative=False)
    (ax,) = fig.axes
    assert len(ax.lines) == 2  # no holdout: no marker
    np.testing.assert_allclose(ydata(ax, 0), np.array([1.0, 2.0]))
    with pytest.raises(SchemaError, match="predicted"):
        plot_tracking(frame.drop("predicted"))


def test_plots_without_matplotlib_say_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    ch = calibration_holdout(PUBLISHED, small_frame())
    frame = tracking(PUBLISHED, TOY, calibration_end=dt.date(2024, 1, 14), end=dt.date(2024, 1, 21))
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # makes the import raise ImportError
    with pytest.raises(MissingExtraError, match=r"retainlib\[plot\]"):
        plot_calibration_holdout(ch)
    with pytest.raises(MissingExtraError, match=r"retainlib\[plot\]"):
        plot_tracking(frame)


# --------------------------------------------------------------------------- CDNOW
@functools.cache
def cdnow_sample(path: Path) -> Dataset:
    return retainlib.read("cdnow", path).collect()


@pytest.fixture
def cdnow(shared_data: Path) -> Dataset:
    return cdnow_sample(shared_data / "reference" / "cdnow" / "lifetimes-0.11.3" / "CDNOW_sample.txt")


def test_cdnow_calibration_holdout(shared_data: Path, cdnow: Dataset) -> None:
    ref = json.loads((shared_data / "reference" / "published_reference_values.json").read_text())
    split = ref["cdnow_data_split"]
    summary = retainlib.rfm(
        cdnow, freq="D", freq_multiplier=7, observation_end=dt.date(1997, 9, 30), holdout_end=dt.date(1998, 6, 30)
    )
    model = BetaGeo().fit(summary, unit=WEEK)
    got = calibration_holdout(model, summary)
    assert got.bins["customers"].to_list() == split["x_bins_0_to_7plus"]
    assert got.actual_total == split["repeat_transactions_holdout"] == 1882
    # the model's sum is the FHL (2005) eq. 10 sum at the fitted parameters, computed independently
    p = model.params
    x, tx, T = (summary[c].cast(pl.Float64).to_numpy() for c in ("frequency", "recency", "T"))
    independent = bgnbd_conditional((p["r"], p["alpha"], p["a"], p["b"]), x, tx, T, 39.0).sum()
    assert got.predicted_total == pytest.approx(independent, rel=1e-8)
    # BG/NBD under-forecasts the CDNOW holdout (FHL 2005, Fig. 4: model below actual for most bins):
    # about 1,653 of 1,882 (-12 %); a forecast outside 10..15 % below would mean a broken fit or input.
    assert -0.15 < got.total_error < -0.10
    assert (got.bins["predicted"] < got.bins["actual"]).all()


def test_cdnow_tracking_equals_btyd_counts(shared_data: Path, cdnow: Dataset) -> None:
    btyd = pl.read_csv(shared_data / "reference" / "cdnow" / "BTYD-2.4.3" / "cdnowSummary_cu_tracking.csv")
    got = tracking(
        PUBLISHED, cdnow, calibration_end=dt.date(1997, 9, 30), end=dt.date(1998, 6, 30), start=dt.date(1997, 1, 1)
    )
    assert got.height == btyd.height == 78
    assert got["actual"].to_list() == btyd["cum_repeat_transactions"].cast(pl.Float64).to_list()
    assert got.filter(~pl.col("holdout")).height == 39
    # the model at the published parameters tracks the calibration period within 2 % (in-sample)
    at_39 = got.filter(pl.col("period") == 39).row(0, named=True)
    assert at_39["actual"] == 2457
    assert abs(at_39["predicted"] / at_39["actual"] - 1) < 0.02
