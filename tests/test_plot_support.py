"""retainlib.plot.support_trend: structural tests (axes, labels, the lines equal the frame), errors, ax=, SVG."""

from __future__ import annotations

import datetime as dt
import math
import re

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import retainlib as rl
from retainlib.errors import OptionError, SchemaError
from retainlib.samples import synthetic_store

pytest.importorskip("matplotlib")

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

import retainlib.plot as rlp

COLUMNS = ["period", "breakdown", "group", "customers", "retained", "retention_rate"]


@pytest.fixture(scope="module")
def store() -> rl.Dataset:
    return synthetic_store(customers=400, seed=3)


def hand_frame() -> pl.DataFrame:
    """Two months by hand, in the kernel's shape: the supported group is empty in February (null rate)."""
    rows = [
        (dt.date(2024, 1, 1), "group", "supported", 4, 1),
        (dt.date(2024, 1, 1), "group", "baseline", 10, 6),
        (dt.date(2024, 1, 1), "satisfaction", "satisfaction: good", 3, 1),
        (dt.date(2024, 1, 1), "satisfaction", "satisfaction: bad", 1, 0),
        (dt.date(2024, 1, 1), "satisfaction", "satisfaction: unrated", 0, 0),
        (dt.date(2024, 2, 1), "group", "supported", 0, 0),
        (dt.date(2024, 2, 1), "group", "baseline", 8, 2),
        (dt.date(2024, 2, 1), "satisfaction", "satisfaction: good", 0, 0),
        (dt.date(2024, 2, 1), "satisfaction", "satisfaction: bad", 0, 0),
        (dt.date(2024, 2, 1), "satisfaction", "satisfaction: unrated", 0, 0),
    ]
    return pl.DataFrame(rows, schema=COLUMNS[:-1], orient="row").with_columns(
        pl.col("customers", "retained").cast(pl.UInt32),
        pl.when(pl.col("customers") > 0).then(pl.col("retained") / pl.col("customers")).alias("retention_rate"),
    )


def lines(fig: Figure) -> dict[str, Line2D]:
    """The group lines of the chart, by group (their gid)."""
    return {str(line.get_gid()): line for line in fig.axes[0].get_lines() if line.get_gid()}


def ys(line: Line2D) -> list[float]:
    return [float(v) for v in np.asarray(line.get_ydata(), dtype=float)]


def xs(line: Line2D) -> list[dt.date]:
    days: list[dt.date] = []
    for v in np.asarray(line.get_xdata(), dtype=object):
        assert isinstance(v, dt.date)
        days.append(v.date() if isinstance(v, dt.datetime) else v)
    return days


def same(a: list[float], b: list[float | None]) -> bool:
    """Equal lists of rates, a null in the frame being a NaN (a gap) in the line."""
    return len(a) == len(b) and all(
        (math.isnan(x) and y is None) or (y is not None and x == pytest.approx(y)) for x, y in zip(a, b, strict=True)
    )


def test_supported_and_baseline_by_hand() -> None:
    fig = rlp.support_trend(hand_frame())
    ax = fig.axes[0]
    assert ax.get_title() == "Retention after support: supported and baseline"
    assert ax.get_xlabel() == "month (start)"
    assert ax.get_ylabel() == "retained within the window after the period (%)"
    drawn = lines(fig)
    assert list(drawn) == ["supported", "baseline"]  # the kernel's group order
    assert xs(drawn["baseline"]) == [dt.date(2024, 1, 1), dt.date(2024, 2, 1)]
    assert ys(drawn["baseline"]) == pytest.approx([0.6, 0.25])
    supported = ys(drawn["supported"])
    assert supported[0] == pytest.approx(0.25) and math.isnan(supported[1])  # an empty group leaves a gap
    legend = ax.get_legend()
    assert legend is not None
    assert [t.get_text() for t in legend.get_texts()] == ["supported (n=4)", "baseline (n=18)"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2024-01", "2024-02"]
    low, high = ax.get_ylim()
    assert low == 0.0 and 0.6 < high <= 1.03


def test_satisfaction_breakdown_by_hand() -> None:
    fig = rlp.support_trend(hand_frame().lazy(), breakdown="satisfaction")
    ax = fig.axes[0]
    assert ax.get_title() == "Retention after support, by satisfaction of the last ticket"
    drawn = lines(fig)
    assert list(drawn) == ["satisfaction: good", "satisfaction: bad", "satisfaction: unrated"]
    assert same(ys(drawn["satisfaction: good"]), [1 / 3, None])
    assert same(ys(drawn["satisfaction: unrated"]), [None, None])
    legend = ax.get_legend()
    assert legend is not None
    assert [t.get_text() for t in legend.get_texts()] == ["good (n=3)", "bad (n=1)", "unrated (n=0)"]


@pytest.mark.parametrize("breakdown", ["group", "satisfaction", "resolution"])
def test_kernel_output_lines_equal_the_frame(store: rl.Dataset, breakdown: str) -> None:
    frame = rl.support_retention(store, period="quarter")
    fig = rlp.support_trend(frame, breakdown=breakdown, title="Mine")  # type: ignore[arg-type]
    assert fig.axes[0].get_title() == "Mine"
    assert fig.axes[0].get_xlabel() == "quarter (start)"
    part = frame.filter(breakdown=breakdown)
    drawn = lines(fig)
    assert list(drawn) == part["group"].unique(maintain_order=True).to_list()
    for group, line in drawn.items():
        rows = part.filter(group=group).sort("period")
        assert xs(line) == rows["period"].to_list()
        assert same(ys(line), rows["retention_rate"].to_list())
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels and all(re.fullmatch(r"\d{4} Q[1-4]", label) for label in labels)


@given(
    st.lists(
        st.tuples(st.integers(0, 50), st.integers(0, 50)),
        min_size=1,
        max_size=8,
    )
)
def test_any_counts_are_drawn_as_their_rates(cells: list[tuple[int, int]]) -> None:
    months = [dt.date(2024 + i // 12, i % 12 + 1, 1) for i in range(len(cells))]
    frame = pl.DataFrame(
        {
            "period": months * 2,
            "breakdown": ["group"] * (2 * len(cells)),
            "group": ["supported"] * len(cells) + ["baseline"] * len(cells),
            "customers": [max(a, b) for a, b in cells] + [a + b for a, b in cells],
            "retained": [min(a, b) for a, b in cells] + [a for a, _ in cells],
        },
        schema_overrides={"customers": pl.UInt32, "retained": pl.UInt32},
    ).with_columns(
        pl.when(pl.col("customers") > 0).then(pl.col("retained") / pl.col("customers")).alias("retention_rate")
    )
    drawn = lines(rlp.support_trend(frame))
    for group in ("supported", "baseline"):
        assert same(ys(drawn[group]), frame.filter(group=group)["retention_rate"].to_list())
    low, high = drawn["supported"].axes.get_ylim()  # type: ignore[union-attr]
    finite = [v for v in frame["retention_rate"].to_list() if v is not None]
    assert low == 0.0 and high >= max(finite, default=0.0)


def test_one_segment_at_a_time(store: rl.Dataset) -> None:
    frame = rl.support_retention(store, period="quarter", by="channel")
    with pytest.raises(OptionError, match="filter one first") as info:
        rlp.support_trend(frame)
    assert info.value.option == "result"
    channel = frame["channel"].drop_nulls()[0]
    fig = rlp.support_trend(frame.filter(channel=channel))
    assert fig.axes[0].get_title().endswith(f" · {channel}")


def test_errors() -> None:
    with pytest.raises(SchemaError, match="'breakdown'"):
        rlp.support_trend(hand_frame().drop("breakdown"))
    with pytest.raises(SchemaError, match="'retention_rate'"):
        rlp.support_trend(hand_frame().drop("retention_rate"))
    with pytest.raises(OptionError, match="breakdown") as bad:
        rlp.support_trend(hand_frame(), breakdown="channel")  # type: ignore[arg-type]
    assert bad.value.option == "breakdown"
    with pytest.raises(OptionError, match="support_retention"):
        rlp.support_trend({"period": []})  # type: ignore[arg-type]


def test_empty_frame_says_no_data_and_ax_is_used() -> None:
    fig = rlp.support_trend(hand_frame().clear())
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["No customers to show"]
    own = Figure(figsize=(10, 4))
    left, right = own.subplots(1, 2)
    assert rlp.support_trend(hand_frame(), ax=right) is own
    assert right.has_data() and right.get_title()
    assert not left.has_data() and not left.get_title()


def test_svg_is_self_contained() -> None:
    svg = rlp.to_svg(rlp.support_trend(hand_frame()))
    assert svg.startswith("<svg")
    assert re.findall(r"https?://[^\"'\s<>]*", svg) == ["http://www.w3.org/2000/svg"]
