"""retainlib.plot: structural tests of the figures (axes, labels, the data drawn), errors, ax=, to_svg."""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import retainlib as rl
from retainlib.errors import OptionError, RetainlibError, SchemaError
from retainlib.samples import synthetic_store

pytest.importorskip("matplotlib")

from matplotlib.axes import Axes
from matplotlib.collections import PatchCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

import retainlib.plot as rlp
from retainlib.errors import MissingExtraError
from retainlib.plot._cohorts import cell_text
from retainlib.plot._common import date_label, grain_of, require_matplotlib


# --------------------------------------------------------------------------- data
@pytest.fixture(scope="module")
def store() -> rl.Dataset:
    return synthetic_store(customers=400, seed=3)


@pytest.fixture(scope="module")
def fitted(store: rl.Dataset) -> tuple[Any, pl.DataFrame]:
    """A BG/NBD fitted on the store's weekly RFM summary, and the summary."""
    from retainlib.clv import BetaGeo, TimeUnit

    summary = rl.rfm(store, freq="W")
    assert isinstance(summary, pl.DataFrame)
    return BetaGeo().fit(summary, unit=TimeUnit.of("W")), summary


def tiny_cohorts() -> pl.DataFrame:
    """Three monthly cohorts, by hand: retention 1, .5, .25 / 1, .4 / 1; each cohort's last period still running."""
    return pl.DataFrame(
        {
            "cohort": [dt.date(2024, 1, 1)] * 3 + [dt.date(2024, 2, 1)] * 2 + [dt.date(2024, 3, 1)],
            "period_number": [0, 1, 2, 0, 1, 0],
            "is_complete": [True, True, False, True, False, False],
            "cohort_size": [4, 4, 4, 5, 5, 2],
            "active": [4, 2, 1, 5, 2, 2],
            "retention": [1.0, 0.5, 0.25, 1.0, 0.4, 1.0],
        },
        schema_overrides={"cohort_size": pl.UInt32, "active": pl.UInt32},
    )


def image_of(fig: Figure) -> np.ndarray[Any, Any]:
    images = [im for ax in fig.axes for im in ax.get_images()]
    assert len(images) == 1
    image = images[0]
    assert isinstance(image, AxesImage)
    data = np.ma.filled(np.ma.masked_invalid(np.ma.asarray(image.get_array())).astype(float), np.nan)
    return np.asarray(data)


def xs(line: Line2D) -> list[float]:
    return [float(v) for v in np.asarray(line.get_xdata(), dtype=float)]


def ys(line: Line2D) -> list[float]:
    return [float(v) for v in np.asarray(line.get_ydata(), dtype=float)]


def band_ys(band: PolyCollection) -> np.ndarray[Any, Any]:
    return np.concatenate([np.asarray(p.vertices)[:, 1] for p in band.get_paths()])


def heights(ax: Axes, gid: str) -> list[float]:
    return [p.get_height() for p in ax.patches if isinstance(p, Rectangle) and p.get_gid() == gid]


def cell_texts(ax: Axes) -> dict[tuple[float, float], str]:
    return {t.get_position(): t.get_text() for t in ax.texts if t.get_gid() == "cell"}


# --------------------------------------------------------------------------- cohort_heatmap
def test_heatmap_tiny_by_hand() -> None:
    fig = rlp.cohort_heatmap(tiny_cohorts())
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2  # the heatmap and its colour bar
    ax = fig.axes[0]
    assert ax.get_title() == "Cohort retention"
    assert ax.get_xlabel() == "months since the cohort's first month"
    assert "cohort" in ax.get_ylabel()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["2024-01  (n=4)", "2024-02  (n=5)", "2024-03  (n=2)"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2"]
    expected = np.array([[1.0, 0.5, 0.25], [1.0, 0.4, np.nan], [1.0, np.nan, np.nan]])
    np.testing.assert_array_equal(image_of(fig), expected)
    assert cell_texts(ax) == {
        (0, 0): "100.0%",
        (1, 0): "50.0%",
        (2, 0): "25.0%",
        (0, 1): "100.0%",
        (1, 1): "40.0%",
        (0, 2): "100.0%",
    }
    hatched = [c for c in ax.collections if c.get_gid() == "incomplete"]
    assert len(hatched) == 1 and isinstance(hatched[0], PatchCollection)
    assert len(hatched[0].get_paths()) == 3  # (2024-01, 2), (2024-02, 1), (2024-03, 0)
    assert "percent" in type(fig.axes[1].yaxis.get_major_formatter()).__name__.lower()
    assert fig.axes[1].get_ylabel() == "customers active (% of cohort)"


def test_heatmap_colour_scale_ignores_period_zero() -> None:
    fig = rlp.cohort_heatmap(tiny_cohorts())
    image = fig.axes[0].get_images()[0]
    assert image.norm.vmin == 0.0
    later = np.array([0.5, 0.25, 0.4])
    assert image.norm.vmax == pytest.approx(float(np.quantile(later, 0.98)))


def test_heatmap_kernel_output_with_segments(store: rl.Dataset) -> None:
    frame = rl.cohort_retention(store, period="quarter", by="channel")
    fig = rlp.cohort_heatmap(frame)
    ax = fig.axes[0]
    rows = frame.select("channel", "cohort").unique().sort("channel", "cohort")
    image = image_of(fig)
    assert image.shape == (rows.height, int(frame["period_number"].max()) + 1)  # type: ignore[arg-type]
    index = {key: i for i, key in enumerate(rows.rows())}
    for row in frame.iter_rows(named=True):
        i = index[(row["channel"], row["cohort"])]
        assert image[i, row["period_number"]] == row["retention"]
        assert cell_texts(ax)[(row["period_number"], i)] == f"{row['retention'] * 100:.1f}%"
    labels = [t.get_text() for t in ax.get_yticklabels()]
    first = rows.row(0)
    size = frame.filter((pl.col("channel") == first[0]) & (pl.col("cohort") == first[1]))["cohort_size"][0]
    assert labels[0] == f"{first[0]} · {date_label(first[1], 'quarter')}  (n={size})"
    separators = [line for line in ax.get_lines() if line.get_color() == "black"]
    assert len(separators) == rows["channel"].n_unique() - 1


def test_heatmap_accepts_lazy_and_triangle(store: rl.Dataset) -> None:
    frame = rl.cohort_retention(store, period="quarter")
    long = image_of(rlp.cohort_heatmap(frame))
    np.testing.assert_array_equal(image_of(rlp.cohort_heatmap(frame.lazy())), long)
    np.testing.assert_array_equal(image_of(rlp.cohort_heatmap(rl.triangle(frame))), long)


def test_heatmap_other_values(store: rl.Dataset) -> None:
    frame = rl.cohort_retention(store, period="quarter", revenue=True)
    fig = rlp.cohort_heatmap(frame, value="active", title="Active")
    ax = fig.axes[0]
    assert ax.get_title() == "Active"
    texts = set(cell_texts(ax).values())
    assert texts == {str(v) for v in frame["active"].to_list()}
    fig = rlp.cohort_heatmap(frame, value="cumulative_revenue_per_customer")
    assert np.nanmax(image_of(fig)) == pytest.approx(frame["cumulative_revenue_per_customer"].max())
    assert fig.axes[1].get_ylabel().startswith("cumulative revenue per customer")


def test_heatmap_large_triangle_is_quick_and_unwritten() -> None:
    """120 monthly cohorts (7,260 cells): no text in the cells, one image, drawn and written as SVG quickly."""
    cohorts, periods, values = [], [], []
    for c in range(120):
        day = dt.date(2010 + c // 12, c % 12 + 1, 1)
        for k in range(120 - c):
            cohorts.append(day)
            periods.append(k)
            values.append(1.0 if k == 0 else 0.3 / (1 + k))
    frame = pl.DataFrame({"cohort": cohorts, "period_number": periods, "retention": values})
    start = time.perf_counter()
    fig = rlp.cohort_heatmap(frame)
    svg = rlp.to_svg(fig)
    elapsed = time.perf_counter() - start
    assert image_of(fig).shape == (120, 120)
    assert not cell_texts(fig.axes[0])
    assert len(fig.axes[0].get_yticklabels()) <= 40
    assert len(svg) < 400_000
    assert elapsed < 10.0  # about 0.5 s alone; generous for a loaded CI machine


@pytest.mark.parametrize(
    ("frame", "missing"),
    [
        (pl.DataFrame({"cohort": [dt.date(2024, 1, 1)]}), ["period_number", "retention"]),
        (pl.DataFrame({"period": [dt.date(2024, 1, 1)], "x": [1]}), ["cohort", "period_number", "retention"]),
    ],
)
def test_heatmap_names_missing_columns(frame: pl.DataFrame, missing: list[str]) -> None:
    with pytest.raises(SchemaError) as error:
        rlp.cohort_heatmap(frame)
    for name in missing:
        assert repr(name) in str(error.value)
    assert error.value.column == missing[0]
    assert "rl.cohort_retention" in str(error.value)


def test_heatmap_bad_input() -> None:
    with pytest.raises(OptionError, match="polars frame"):
        rlp.cohort_heatmap(tiny_cohorts().to_dicts())  # type: ignore[arg-type]
    with pytest.raises(SchemaError, match="'revenue'"):
        rlp.cohort_heatmap(tiny_cohorts(), value="revenue")
    with pytest.raises(OptionError, match="value"):
        rlp.cohort_heatmap(tiny_cohorts(), value="cohort")
    with pytest.raises(SchemaError, match="must be a number"):
        rlp.cohort_heatmap(tiny_cohorts().with_columns(pl.col("retention").cast(pl.String)))
    with pytest.raises(SchemaError, match="two rows for one period_number"):
        rlp.cohort_heatmap(pl.concat([tiny_cohorts(), tiny_cohorts()]))
    with pytest.raises(OptionError, match="Axes"):
        rlp.cohort_heatmap(tiny_cohorts(), ax="left")  # type: ignore[arg-type]


def test_heatmap_empty_frame_says_no_data() -> None:
    fig = rlp.cohort_heatmap(tiny_cohorts().clear())
    assert [t.get_text() for t in fig.axes[0].texts] == ["No cohorts to show"]


@settings(max_examples=8)
@given(
    st.lists(
        st.lists(st.floats(min_value=0.0, max_value=1.0, allow_nan=False), min_size=1, max_size=6),
        min_size=1,
        max_size=6,
    )
)
def test_heatmap_cells_equal_the_frame(rows: list[list[float]]) -> None:
    """Any triangle: the image holds each value at (cohort, period number), and each cell's text is its percentage."""
    cohorts = [dt.date(2020 + i // 4, 3 * (i % 4) + 1, 1) for i in range(len(rows))]
    frame = pl.DataFrame(
        {
            "cohort": [c for c, values in zip(cohorts, rows, strict=True) for _ in values],
            "period_number": [k for values in rows for k in range(len(values))],
            "retention": [v for values in rows for v in values],
        }
    )
    fig = rlp.cohort_heatmap(frame.sample(fraction=1.0, shuffle=True, seed=1))
    image = image_of(fig)
    width = max(len(values) for values in rows)
    assert image.shape == (len(rows), width)
    texts = cell_texts(fig.axes[0])
    for i, values in enumerate(rows):
        for k in range(width):
            if k < len(values):
                assert image[i, k] == values[k]
                assert texts[(k, i)] == f"{values[k] * 100:.1f}%"
            else:
                assert math.isnan(image[i, k])
                assert (k, i) not in texts


def test_cell_text_and_labels() -> None:
    assert cell_text(0.3175, share=True, columns=5) == "31.8%"
    assert cell_text(0.3175, share=True, columns=20) == "32%"
    assert cell_text(63.0, share=False, columns=5) == "63"
    assert cell_text(1640.31, share=False, columns=5) == "1640"
    assert cell_text(56.5624, share=False, columns=5) == "56.6"
    assert cell_text(25_300.0, share=False, columns=5) == "25k"
    assert cell_text(3_250_000.0, share=False, columns=5) == "3.2M"
    assert cell_text(float("nan"), share=True, columns=5) == ""
    quarters = [dt.date(2022, 1, 1), dt.date(2022, 7, 1)]
    assert grain_of(quarters) == "quarter"
    assert date_label(quarters[1], "quarter") == "2022 Q3"
    assert grain_of([dt.date(2022, 1, 1), dt.date(2022, 2, 1)]) == "month"
    assert grain_of([dt.date(2022, 1, 1), dt.date(2024, 1, 1)]) == "year"
    assert grain_of([dt.date(2024, 1, 1), dt.date(2024, 1, 15)]) == "week"
    assert grain_of([dt.date(2024, 1, 2), dt.date(2024, 1, 3)]) == "day"


# --------------------------------------------------------------------------- retention_curves
def test_curves_per_cohort_by_hand() -> None:
    fig = rlp.retention_curves(tiny_cohorts())
    ax = fig.axes[0]
    assert ax.get_title() == "Retention curves"
    assert ax.get_xlabel() == "months since the cohort's first month"
    assert ax.get_ylabel() == "customers active (% of cohort)"
    lines = {str(line.get_label()): line for line in ax.get_lines()}
    # Only complete periods: 2024-01 at 0 and 1, 2024-02 at 0, 2024-03 none.
    assert ys(lines["2024-01"]) == [1.0, 0.5]
    assert ys(lines["2024-02"]) == [1.0]
    assert ys(lines["2024-03"]) == []
    average = lines["all cohorts (weighted average)"]
    assert xs(average) == [0, 1]
    # period 0: (4 + 5) / (4 + 5) = 1; period 1: only 2024-01 is complete, 2 / 4.
    assert ys(average) == pytest.approx([1.0, 0.5])
    assert ax.get_legend() is not None


def test_curves_segment_averages(store: rl.Dataset) -> None:
    frame = rl.cohort_retention(store, period="quarter", by="channel")
    fig = rlp.retention_curves(frame)
    ax = fig.axes[0]
    channels = sorted(frame["channel"].unique().to_list())
    assert [line.get_label() for line in ax.get_lines()] == channels
    organic = frame.filter(pl.col("channel") == channels[0], pl.col("is_complete"))
    expected = (
        organic.group_by("period_number")
        .agg(pl.col("active").sum() / pl.col("cohort_size").sum())
        .sort("period_number")
    )
    line = ax.get_lines()[0]
    assert xs(line) == expected["period_number"].to_list()
    assert ys(line) == pytest.approx(expected["active"].to_list())
    # by= names the segments explicitly; the same lines.
    again = rlp.retention_curves(frame, by="channel")
    assert [line.get_label() for line in again.axes[0].get_lines()] == channels


def test_curves_many_cohorts_use_a_colour_bar(store: rl.Dataset) -> None:
    frame = rl.cohort_retention(store, period="month")
    fig = rlp.retention_curves(frame)
    cohorts = frame["cohort"].n_unique()
    assert len(fig.axes[0].get_lines()) == cohorts + 1
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == "cohort"


def test_curves_retention_rate(store: rl.Dataset) -> None:
    frame = rl.retention_rate(store, period="quarter", by="channel")
    fig = rlp.retention_curves(frame)
    ax = fig.axes[0]
    assert ax.get_title() == "Retention rate"
    assert "per quarter" in ax.get_ylabel()
    solid = [line for line in ax.get_lines() if not str(line.get_label()).startswith("_")]
    assert [line.get_label() for line in solid] == sorted(frame["channel"].unique().to_list())
    for line in solid:
        part = frame.filter(pl.col("channel") == line.get_label(), pl.col("is_complete")).sort("period")
        values = [v if v is not None else math.nan for v in part["retention_rate"].to_list()]
        np.testing.assert_array_equal(np.asarray(line.get_ydata(), dtype=float), values)
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[0] == date_label(frame["period"].min(), "quarter")  # type: ignore[arg-type]
    legend = ax.get_legend()
    assert legend is not None and "not yet complete" in [t.get_text() for t in legend.get_texts()]


def test_curves_errors(store: rl.Dataset) -> None:
    with pytest.raises(SchemaError, match="'cohort_size'"):
        rlp.retention_curves(tiny_cohorts().drop("cohort_size"))
    with pytest.raises(SchemaError, match="'channel'"):
        rlp.retention_curves(tiny_cohorts(), by="channel")
    with pytest.raises(OptionError, match="computes"):
        rlp.retention_curves(tiny_cohorts(), by="active")
    with pytest.raises(SchemaError, match="'period'"):
        rlp.retention_curves(pl.DataFrame({"retention_rate": [0.5]}))


# --------------------------------------------------------------------------- mrr_waterfall
def test_mrr_waterfall(store: rl.Dataset) -> None:
    frame = rl.mrr_movements(store, period="quarter")
    fig = rlp.mrr_waterfall(frame)
    assert len(fig.axes) == 2  # the bars and the MRR line's twin axes
    ax, right = fig.axes
    assert ax.get_title() == "MRR movements"
    assert ax.get_ylabel() == "MRR change" and right.get_ylabel() == "MRR at period end"
    for name, sign in [("new", 1), ("reactivation", 1), ("expansion", 1), ("contraction", -1), ("churn", -1)]:
        expected = [sign * float(v) for v in frame[name].to_list()]
        assert heights(ax, name) == pytest.approx(expected)
    # Gains stack upwards from 0 and losses downwards: expansion starts where new + reactivation end.
    stacked = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_gid() == "expansion"]
    base = (frame["new"] + frame["reactivation"]).cast(pl.Float64).to_list()
    assert [b.get_y() for b in stacked] == pytest.approx(base)
    (line,) = right.get_lines()
    assert ys(line) == pytest.approx(frame["mrr_end"].cast(pl.Float64).to_list())
    hatched = [p for p in ax.patches if p.get_hatch()]
    assert len(hatched) == 5 * (~frame["is_complete"]).sum()


def test_mrr_waterfall_one_segment_at_a_time(store: rl.Dataset) -> None:
    frame = rl.mrr_movements(store, period="quarter", by="currency")
    currency = frame["currency"][0]
    fig = rlp.mrr_waterfall(frame.filter(pl.col("currency") == currency))
    assert fig.axes[0].get_title() == f"MRR movements · {currency}"
    assert fig.axes[0].get_ylabel() == f"MRR change ({currency})"
    several = pl.concat([frame, frame.with_columns(currency=pl.lit("ZZZ"))])
    with pytest.raises(OptionError, match="filter one first"):
        rlp.mrr_waterfall(several)
    with pytest.raises(SchemaError, match="'churn'"):
        rlp.mrr_waterfall(frame.drop("churn"))


# --------------------------------------------------------------------------- nps_trend
def test_nps_trend(store: rl.Dataset) -> None:
    frame = rl.nps(store, period="quarter")
    fig = rlp.nps_trend(frame)
    ax = fig.axes[0]
    assert ax.get_title() == "Net Promoter Score"
    assert ax.get_ylabel() == "NPS (points, -100 to 100)"
    (band,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert band.get_label() == "95% interval"
    ys_ = band_ys(band)
    assert ys_.min() == pytest.approx(frame["ci_lower"].min())
    assert ys_.max() == pytest.approx(frame["ci_upper"].max())
    shown = np.concatenate([np.asarray(line.get_ydata(), dtype=float) for line in ax.get_lines()[1:]])
    assert set(shown[~np.isnan(shown)]) == set(frame["nps"].drop_nulls().to_list())
    low, high = ax.get_ylim()
    assert low >= -100 and high <= 100


def test_nps_trend_level_and_segments(store: rl.Dataset) -> None:
    frame = rl.nps(store, period="quarter", by="channel", level=0.9)
    fig = rlp.nps_trend(frame)
    bands = [c.get_label() for c in fig.axes[0].collections if isinstance(c, PolyCollection)]
    assert bands == [f"{c}: 90% interval" for c in sorted(frame["channel"].unique().to_list())]


def test_nps_trend_whole_window(store: rl.Dataset) -> None:
    frame = rl.nps(store, period=None, by="channel")
    fig = rlp.nps_trend(frame)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == frame.sort("channel")["channel"].to_list()
    assert ax.get_xlabel() == "channel"
    points = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert ys(points[0]) == pytest.approx(frame.sort("channel")["nps"].to_list())
    with pytest.raises(SchemaError, match="'ci_upper'"):
        rlp.nps_trend(frame.drop("ci_upper"))


# --------------------------------------------------------------------------- survival_curve
def test_survival_curve_by_hand() -> None:
    durations = pl.DataFrame({"duration": [2, 2, 2, 3, 5], "event": [1, 1, 0, 1, 0]})
    curve = rl.survival(durations, ci="log")
    fig = rlp.survival_curve(curve)
    ax = fig.axes[0]
    assert ax.get_title() == "Customer survival (Kaplan–Meier)"
    assert ax.get_ylabel() == "customers still there (%)"
    steps = [line for line in ax.get_lines() if line.get_label() == "all customers (n=5)"]
    assert len(steps) == 1
    assert xs(steps[0]) == [0.0, 2.0, 3.0, 5.0]
    assert ys(steps[0]) == pytest.approx([1.0, 0.6, 0.3, 0.3])
    (band,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    ys_ = band_ys(band)
    assert ys_.min() == pytest.approx(curve["ci_lower"].min())
    assert ys_.max() == pytest.approx(1.0)
    censored = [line for line in ax.get_lines() if line.get_marker() == "|"]
    assert xs(censored[0]) == [2.0, 5.0]  # the censored customers


def test_survival_curve_segments(store: rl.Dataset) -> None:
    curve = rl.survival(store, window=90, unit="week", by="channel")
    fig = rlp.survival_curve(curve)
    labels = [str(line.get_label()) for line in fig.axes[0].get_lines() if not str(line.get_label()).startswith("_")]
    firsts = curve.group_by("channel", maintain_order=True).first().sort("channel")
    assert labels == [f"{c} (n={n:,})" for c, n in firsts.select("channel", "at_risk").rows()]
    with pytest.raises(SchemaError, match="'survival'"):
        rlp.survival_curve(curve.drop("survival"))


# --------------------------------------------------------------------------- clv_diagnostics
def test_clv_diagnostics(fitted: tuple[Any, pl.DataFrame]) -> None:
    from retainlib.clv import GammaGamma

    model, summary = fitted
    fig = rlp.clv_diagnostics(model, summary)
    ax = fig.axes[0]
    assert ax.get_title() == "Repeat purchases: actual vs BetaGeo"
    assert ax.get_ylabel() == "customers"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    actual = heights(ax, "actual")
    model_bars = heights(ax, "model")
    capped = summary["frequency"].clip(0, 7)
    assert actual == [float((capped == k).sum()) for k in range(8)]
    assert sum(model_bars) == pytest.approx(summary.height)
    assert all(v >= 0 for v in model_bars)
    # The expected count of customers without repeat purchases, by hand from P(X(T_i) = 0).
    p0 = model.probability_of_purchases(summary["T"].to_numpy(), [0])["probability"].sum()
    assert model_bars[0] == pytest.approx(p0)
    with pytest.raises(OptionError, match="probability_of_purchases"):
        rlp.clv_diagnostics(GammaGamma(), summary)
    with pytest.raises(SchemaError, match="'T'"):
        rlp.clv_diagnostics(model, summary.drop("T"))


# --------------------------------------------------------------------------- ax=, to_svg, no matplotlib
def test_every_plot_draws_into_a_given_axes(store: rl.Dataset, fitted: tuple[Any, pl.DataFrame]) -> None:
    model, summary = fitted
    calls: list[Callable[[Axes], Figure]] = [
        lambda ax: rlp.cohort_heatmap(tiny_cohorts(), ax=ax),
        lambda ax: rlp.retention_curves(tiny_cohorts(), ax=ax),
        lambda ax: rlp.mrr_waterfall(rl.mrr_movements(store, period="quarter"), ax=ax),
        lambda ax: rlp.nps_trend(rl.nps(store, period="quarter"), ax=ax),
        lambda ax: rlp.survival_curve(rl.survival(store), ax=ax),
        lambda ax: rlp.clv_diagnostics(model, summary, ax=ax),
    ]
    for call in calls:
        fig = Figure(figsize=(10, 4))
        left, right = fig.subplots(1, 2)
        assert call(right) is fig
        assert right.has_data() or right.get_images()
        assert not left.has_data() and not left.get_title()
        assert right.get_title()


def test_to_svg_is_self_contained_and_stable() -> None:
    svg = rlp.to_svg(rlp.cohort_heatmap(tiny_cohorts()))
    assert svg.startswith("<svg")
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert re.findall(r"https?://[^\"'\s<>]*", svg) == ["http://www.w3.org/2000/svg"]
    assert "<metadata" not in svg and "xlink:" not in svg and "<!DOCTYPE" not in svg
    assert "100.0%" in svg  # the cells' text (its glyphs are paths; matplotlib keeps the text in a comment)
    assert rlp.to_svg(rlp.cohort_heatmap(tiny_cohorts())) == svg
    hrefs = re.findall(r'href="([^"]*)"', svg)
    assert hrefs and all(h.startswith(("#", "data:image/png;base64,")) for h in hrefs)
    with pytest.raises(OptionError, match="Figure"):
        rlp.to_svg("figure")  # type: ignore[arg-type]


def test_works_without_a_display_or_pyplot() -> None:
    """In a fresh interpreter with no DISPLAY: builds a figure and its SVG, never imports pyplot."""
    code = (
        "import sys, datetime as dt, polars as pl, retainlib.plot as rlp\n"
        "f = pl.DataFrame({'cohort': [dt.date(2024, 1, 1)] * 2, 'period_number': [0, 1], 'retention': [1.0, 0.5]})\n"
        "svg = rlp.to_svg(rlp.cohort_heatmap(f))\n"
        "assert svg.startswith('<svg'), svg[:50]\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
        "print('ok')\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_missing_matplotlib_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingExtraError) as error:
        require_matplotlib()
    assert isinstance(error.value, ImportError) and isinstance(error.value, RetainlibError)
    assert 'pip install "retainlib[plot]"' in str(error.value)
    with pytest.raises(MissingExtraError):
        rlp.cohort_heatmap(tiny_cohorts())
