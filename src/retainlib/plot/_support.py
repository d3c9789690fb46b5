"""Retention after support: the groups of ``support_retention`` compared period by period."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Literal

import polars as pl

from retainlib.errors import OptionError, SchemaError
from retainlib.plot._common import (
    GREY,
    OKABE_ITO,
    as_float,
    collect,
    figure_and_axes,
    grain_of,
    no_data,
    one_segment,
    percent_formatter,
    period_axis,
    require,
    segments,
    style,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: The columns ``support_retention`` computes (anything else is a ``by`` segment).
SUPPORT_COLUMNS: Final = ("period", "breakdown", "group", "customers", "retained", "retention_rate")
#: Which groups of the frame a chart compares: its ``breakdown`` values.
Breakdown = Literal["group", "satisfaction", "resolution"]
BREAKDOWNS: Final[tuple[Breakdown, ...]] = ("group", "satisfaction", "resolution")
_TITLES: Final[dict[Breakdown, str]] = {
    "group": "Retention after support: supported and baseline",
    "satisfaction": "Retention after support, by satisfaction of the last ticket",
    "resolution": "Retention after support, by resolution time of the last ticket",
}


def _short(group: str) -> str:
    """A group as the legend says it: ``"satisfaction: good"`` -> ``"good"``."""
    return group.split(": ", 1)[1] if ": " in group else group


def support_trend(
    result: pl.DataFrame | pl.LazyFrame,
    *,
    breakdown: Breakdown = "group",
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Retention rate per period, one line per group of one breakdown of :func:`retainlib.support_retention`.

    Parameters
    ----------
    result
        The frame :func:`retainlib.support_retention` returns (a LazyFrame is collected).  With ``by``
        segments, filter one first.
    breakdown
        Which groups to compare: ``"group"`` (default: supported against baseline), ``"satisfaction"``
        (the supported customers by the rating of their last ticket: good, bad, unrated) or
        ``"resolution"`` (by its resolution-time bucket).
    ax
        A matplotlib Axes to draw into (its figure is returned); by default a new figure.
    title
        The title; by default one saying which groups are compared.

    Returns
    -------
    matplotlib.figure.Figure
        One line per group, in the frame's group order: ``retention_rate`` (y, % of the group active in
        the window after the period) against the period (x, its start).  A period where a group is empty
        (null rate) leaves a gap.  The legend gives each group's customer-periods over the whole chart
        (the sum of ``customers``).

    Raises
    ------
    SchemaError
        The frame lacks a column of ``support_retention``'s output (all missing ones are named).
    OptionError
        An unknown ``breakdown``, or a frame holding more than one segment.
    """
    frame = collect(result, option="result", kernel="rl.support_retention")
    missing = [c for c in ("breakdown", "group") if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"missing column(s) {', '.join(repr(m) for m in missing)}; this plot takes the frame "
            f"rl.support_retention returns (columns {', '.join(SUPPORT_COLUMNS)}), "
            f"got columns {', '.join(frame.columns) or '(none)'}",
            table="support_retention",
            column=missing[0],
            expected="present",
            actual=None,
        )
    require(
        frame,
        {"period": "date", "customers": "number", "retained": "number", "retention_rate": "number"},
        table="support_retention",
        kernel="rl.support_retention",
    )
    chosen = OptionError.one_of(
        breakdown,
        BREAKDOWNS,
        option="breakdown",
        message=f"breakdown is 'group', 'satisfaction' or 'resolution', got {breakdown!r}",
    )
    segs = segments(frame, SUPPORT_COLUMNS, None, table="support_retention", kernel="rl.support_retention")
    label = one_segment(frame, segs, plot="support_trend", option="result")
    data = frame.filter(pl.col("breakdown") == chosen)
    with style():
        fig, axes = figure_and_axes(ax, (8.0, 4.5))
        heading = title if title is not None else _TITLES[chosen]
        axes.set_title(heading + (f" · {label}" if label and title is None else ""))
        axes.set_ylabel("retained within the window after the period (%)")
        axes.yaxis.set_major_formatter(percent_formatter())
        if data.height == 0:
            axes.set_xlabel("period (start)")
            no_data(axes, "supported customers" if chosen != "group" else "customers")
            return fig
        grain = grain_of(data["period"].to_list())
        axes.set_xlabel(f"{grain or 'period'} (start)")
        groups = data["group"].unique(maintain_order=True).to_list()
        for i, group in enumerate(groups):
            rows = data.filter(pl.col("group") == group).sort("period")
            n = int(rows["customers"].sum())
            axes.plot(
                rows["period"].to_list(),
                as_float(rows, "retention_rate"),
                color=OKABE_ITO[i % len(OKABE_ITO)],
                linewidth=1.8,
                marker="o",
                markersize=3.5,
                label=f"{_short(str(group))} (n={n:,})",
                gid=str(group),
            )
        period_axis(axes, data["period"].to_list(), grain)
        top = data["retention_rate"].max()
        high = float(top) if isinstance(top, (int, float)) else 1.0
        axes.set_ylim(0.0, min(1.03, max(high * 1.15, 0.05)))
        axes.grid(axis="y", color="#e5e5e5", linewidth=0.6)
        axes.set_axisbelow(True)
        legend = axes.legend(loc="best", title="n = customer-periods", title_fontproperties={"size": 8.0})
        legend.get_title().set_color(GREY)
    return fig
