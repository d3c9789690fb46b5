"""Charts over time: MRR movements, NPS with its interval, Kaplan–Meier survival."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final

import numpy as np
import polars as pl

from retainlib.plot._cohorts import line_with_tail
from retainlib.plot._common import (
    GREY,
    OKABE_ITO,
    as_float,
    collect,
    date_label,
    figure_and_axes,
    grain_of,
    no_data,
    one_segment,
    percent_formatter,
    period_axis,
    require,
    segment_label,
    segments,
    style,
    thin,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# --------------------------------------------------------------------------- MRR
#: The columns ``mrr_movements`` computes (anything else is a ``by`` segment).
MRR_COLUMNS: Final = (
    "period",
    "is_complete",
    "mrr_start",
    "new",
    "reactivation",
    "expansion",
    "contraction",
    "churn",
    "mrr_end",
    "customers_start",
    "customers_churned",
    "logo_churn_rate",
    "gross_revenue_retention",
    "net_revenue_retention",
    "quick_ratio",
)
#: Movements drawn above zero (in stacking order) and below it, with their colours (Okabe & Ito:
#: greens and blues for MRR gained, orange and vermilion for MRR lost).
GAINS: Final = (("new", "#009E73"), ("reactivation", "#56B4E9"), ("expansion", "#0072B2"))
LOSSES: Final = (("contraction", "#E69F00"), ("churn", "#D55E00"))


def mrr_waterfall(
    movements: pl.DataFrame | pl.LazyFrame,
    *,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """MRR movements per period as stacked bars, with the MRR at the end of each period as a line.

    Parameters
    ----------
    movements
        The frame :func:`retainlib.mrr_movements` returns (a LazyFrame is collected).  With ``by``
        segments, filter one first: amounts of different segments (currencies) are not stacked together.
    ax
        A matplotlib Axes to draw into (its figure is returned, and a twin Axes on its right holds the
        MRR line); by default a new figure.
    title
        The title; by default "MRR movements" (and the segment's values).

    Returns
    -------
    matplotlib.figure.Figure
        Bars above zero stack new, reactivation and expansion MRR; below zero, contraction and churn.
        The black line (right axis) is ``mrr_end``.  Periods not yet complete are hatched.  Amounts are in
        the subscriptions' currency (named when ``currency`` is a segment column).

    Raises
    ------
    SchemaError
        The frame lacks the movement columns (all missing ones are named).
    OptionError
        The frame holds more than one segment.
    """
    frame = collect(movements, option="movements", kernel="rl.mrr_movements")
    needed = {"period": "date", **{name: "number" for name, _ in (*GAINS, *LOSSES)}, "mrr_end": "number"}
    require(frame, needed, table="mrr_movements", kernel="rl.mrr_movements")  # type: ignore[arg-type]
    segs = segments(frame, MRR_COLUMNS, None, table="mrr_movements", kernel="rl.mrr_movements")
    label = one_segment(frame, segs, plot="mrr_waterfall", option="movements")
    currency = str(frame["currency"][0]) if "currency" in segs and frame.height else None
    money = f" ({currency})" if currency else ""
    with style():
        fig, axes = figure_and_axes(ax, (9.0, 4.8))
        axes.set_title(title if title is not None else "MRR movements" + (f" · {label}" if label else ""))
        data = frame.sort("period")
        grain = grain_of(data["period"].to_list())
        axes.set_xlabel(grain or "period")
        axes.set_ylabel(f"MRR change{money}")
        if data.height == 0:
            no_data(axes, "MRR movements")
            return fig
        x = np.arange(data.height, dtype=np.float64)
        open_periods = (
            ~data["is_complete"].fill_null(value=True).to_numpy()
            if "is_complete" in data.columns
            else np.zeros(data.height, dtype=bool)
        )
        for stack, sign in ((GAINS, 1.0), (LOSSES, -1.0)):
            base = np.zeros(data.height)
            for name, colour in stack:
                heights = sign * np.abs(np.nan_to_num(np.asarray(as_float(data, name))))
                bars = axes.bar(x, heights, bottom=base, width=0.75, color=colour, label=name, gid=name)
                for bar, is_open in zip(bars, open_periods, strict=True):
                    if is_open:
                        bar.set_hatch("///")
                        bar.set_edgecolor("white")
                base += heights
        axes.axhline(0.0, color="black", linewidth=0.8)
        shown = thin(data.height, 12)
        labels = [date_label(d, grain) for d in data["period"].to_list()]
        axes.set_xticks(x[shown], [labels[i] for i in shown])
        if len(shown) > 6:
            for tick in axes.get_xticklabels():
                tick.set_rotation(30)
                tick.set_horizontalalignment("right")
        axes.set_xlim(-0.6, data.height - 0.4)
        axes.grid(axis="y", color="#e5e5e5", linewidth=0.6)
        axes.set_axisbelow(True)
        right = axes.twinx()
        right.plot(x, as_float(data, "mrr_end"), color="black", marker="o", markersize=3.5, linewidth=1.6, label="MRR")
        right.set_ylabel(f"MRR at period end{money}")
        right.set_ylim(bottom=0.0)
        right.spines["right"].set_visible(True)
        right.spines["top"].set_visible(False)
        handles, names = axes.get_legend_handles_labels()
        more, more_names = right.get_legend_handles_labels()
        if open_periods.any():
            from matplotlib.patches import Patch

            more.append(Patch(facecolor="white", edgecolor=GREY, hatch="///"))
            more_names.append("period not yet complete")
        axes.legend(handles + more, names + more_names, loc="upper left", ncols=3)
        low, high = axes.get_ylim()
        axes.set_ylim(low, high + (high - low) * 0.25)  # room for the legend
    return fig


# --------------------------------------------------------------------------- NPS
#: The columns ``nps`` computes.
NPS_COLUMNS: Final = (
    "period",
    "is_complete",
    "responses",
    "promoters",
    "passives",
    "detractors",
    "nps",
    "ci_lower",
    "ci_upper",
)


def interval_level(frame: pl.DataFrame) -> float | None:
    """The confidence level ``nps`` was called with, read back from the counts and the interval (None if unknown).

    ``ci_upper - ci_lower = 2 z se`` with ``se`` from the counts; rows clipped to [-100, 100] (``clip=True``)
    or without variance are left out.
    """
    if not {"responses", "promoters", "detractors"} <= set(frame.columns):
        return None
    n = pl.col("responses").cast(pl.Float64)
    p = pl.col("promoters").cast(pl.Float64) / n
    d = pl.col("detractors").cast(pl.Float64) / n
    se = 100.0 * ((p + d - (p - d) ** 2) / n).sqrt()
    z = (
        frame.filter(pl.col("responses") > 0)
        .filter((pl.col("ci_upper") < 100.0) & (pl.col("ci_lower") > -100.0) & (se > 1e-9))
        .select(((pl.col("ci_upper") - pl.col("ci_lower")) / (2.0 * se)).alias("z"))
        .get_column("z")
    )
    value = z.median() if z.len() else None
    if not isinstance(value, float) or not math.isfinite(value) or value <= 0:
        return None
    return math.erf(value / math.sqrt(2.0))


def nps_trend(
    scores: pl.DataFrame | pl.LazyFrame,
    *,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """NPS per period with its confidence interval as a band, one line per segment.

    Parameters
    ----------
    scores
        The frame :func:`retainlib.nps` returns (a LazyFrame is collected), with any ``by`` segments
        (one line and band each).  With ``period=None`` (one score per segment), the scores are drawn
        as points with their intervals as error bars, one per segment.
    ax
        A matplotlib Axes to draw into (its figure is returned); by default a new figure.
    title
        The title; by default "Net Promoter Score".

    Returns
    -------
    matplotlib.figure.Figure
        The y axis is NPS points (-100 to 100) with a line at 0.  Periods without responses (null NPS)
        leave a gap; periods not yet complete are drawn dotted with hollow markers.  The legend gives
        the interval's level, read back from the counts (95% unless ``level`` was changed).

    Raises
    ------
    SchemaError
        The frame lacks ``nps``, ``ci_lower`` or ``ci_upper`` (all missing ones are named).
    """
    frame = collect(scores, option="scores", kernel="rl.nps")
    require(
        frame,
        {"nps": "number", "ci_lower": "number", "ci_upper": "number"},
        table="nps",
        kernel="rl.nps",
    )
    if "period" in frame.columns:
        require(frame, {"period": "date"}, table="nps", kernel="rl.nps")
    segs = segments(frame, NPS_COLUMNS, None, table="nps", kernel="rl.nps")
    level = interval_level(frame)
    band = f"{level:.0%} interval" if level is not None else "confidence interval"
    with style():
        fig, axes = figure_and_axes(ax, (8.0, 4.5))
        axes.set_title(title if title is not None else "Net Promoter Score")
        axes.set_ylabel("NPS (points, -100 to 100)")
        if frame.height == 0:
            no_data(axes, "NPS responses")
            return fig
        axes.axhline(0.0, color=GREY, linewidth=0.8)
        if "period" in frame.columns:
            _nps_lines(axes, frame, segs, band)
        else:
            _nps_points(axes, frame, segs, band)
        low = frame["ci_lower"].min()
        high = frame["ci_upper"].max()
        lows = [v for v in (low, frame["nps"].min()) if isinstance(v, (int, float))]
        highs = [v for v in (high, frame["nps"].max()) if isinstance(v, (int, float))]
        if lows and highs:
            bottom, top = max(-100.0, min(lows) - 5.0), min(100.0, max(highs) + 5.0)
            if top > bottom:
                axes.set_ylim(bottom, top)
        axes.grid(axis="y", color="#e5e5e5", linewidth=0.6)
        axes.set_axisbelow(True)
    return fig


def _nps_lines(axes: Axes, frame: pl.DataFrame, segs: list[str], band: str) -> None:
    ordered = frame.sort(*segs, "period", nulls_last=True)
    groups = ordered.partition_by(segs, maintain_order=True, include_key=True) if segs else [ordered]
    grain = grain_of(frame["period"].to_list())
    axes.set_xlabel(f"{grain or 'period'} (start)")
    for i, group in enumerate(groups):
        colour = OKABE_ITO[i % len(OKABE_ITO)]
        label = segment_label(group.select(segs).row(0)) if segs else "NPS"
        axes.fill_between(
            group["period"].to_list(),
            as_float(group, "ci_lower"),
            as_float(group, "ci_upper"),
            color=colour,
            alpha=0.18 if len(groups) > 1 else 0.25,
            linewidth=0.0,
            label=f"{label}: {band}" if segs else band,
        )
        line_with_tail(axes, group, "period", "nps", colour=colour, label=label, width=1.8)
    period_axis(axes, frame["period"].to_list(), grain)
    handles = [h for h, name in zip(*axes.get_legend_handles_labels(), strict=True) if not name.startswith("_")]
    if segs:  # beside the axes: bands of several segments leave no empty corner
        axes.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        axes.legend(handles=handles, loc="best")


def _nps_points(axes: Axes, frame: pl.DataFrame, segs: list[str], band: str) -> None:
    ordered = frame.sort(*segs, nulls_last=True) if segs else frame
    labels = [segment_label(row) for row in ordered.select(segs).rows()] if segs else ["all responses"]
    x = np.arange(ordered.height, dtype=np.float64)
    value = np.asarray(as_float(ordered, "nps"))
    lower = np.asarray(as_float(ordered, "ci_lower"))
    upper = np.asarray(as_float(ordered, "ci_upper"))
    axes.errorbar(
        x,
        value,
        yerr=np.vstack([value - lower, upper - value]),
        fmt="o",
        color=OKABE_ITO[0],
        ecolor=OKABE_ITO[0],
        elinewidth=1.6,
        capsize=5,
        label=f"NPS and {band}",
    )
    axes.set_xticks(x, labels)
    axes.set_xlim(-0.6, ordered.height - 0.4)
    axes.set_xlabel(", ".join(segs) if segs else "")
    axes.legend(loc="best")


# --------------------------------------------------------------------------- survival
#: The columns ``survival`` computes.
SURVIVAL_COLUMNS: Final = ("time", "at_risk", "events", "censored", "survival", "ci_lower", "ci_upper")
#: Censoring ticks are drawn on a curve with at most this many censoring times.
MAX_CENSOR_MARKS: Final = 500


def survival_curve(
    curve: pl.DataFrame | pl.LazyFrame,
    *,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Kaplan–Meier survival curves as steps with their confidence band, one per segment.

    Parameters
    ----------
    curve
        The frame :func:`retainlib.survival` returns (a LazyFrame is collected), with any ``by``
        segments (one curve and band each).
    ax
        A matplotlib Axes to draw into (its figure is returned); by default a new figure.
    title
        The title; by default "Customer survival (Kaplan–Meier)".

    Returns
    -------
    matplotlib.figure.Figure
        Survival (y, % of customers still there) against lifetime (x, in the unit given to ``survival``:
        days unless ``unit=`` said otherwise).  Ticks mark censored customers when a curve has at most 500
        censoring times; a dotted line marks 50% (the median lifetime is where a curve crosses it).  The
        legend gives each segment's number of customers.

    Raises
    ------
    SchemaError
        The frame lacks ``time``, ``survival``, ``ci_lower`` or ``ci_upper`` (all missing ones are named).
    """
    frame = collect(curve, option="curve", kernel="rl.survival")
    require(
        frame,
        {"time": "number", "survival": "number", "ci_lower": "number", "ci_upper": "number"},
        table="survival",
        kernel="rl.survival",
    )
    segs = segments(frame, SURVIVAL_COLUMNS, None, table="survival", kernel="rl.survival")
    with style():
        fig, axes = figure_and_axes(ax, (8.0, 4.8))
        axes.set_title(title if title is not None else "Customer survival (Kaplan–Meier)")
        axes.set_xlabel("lifetime (in survival()'s unit: days unless unit= was given)")
        axes.set_ylabel("customers still there (%)")
        axes.yaxis.set_major_formatter(percent_formatter())
        if frame.height == 0:
            no_data(axes, "lifetimes")
            return fig
        ordered = frame.sort(*segs, "time", nulls_last=True)
        groups = ordered.partition_by(segs, maintain_order=True, include_key=True) if segs else [ordered]
        censor_marks = False
        for i, group in enumerate(groups):
            colour = OKABE_ITO[i % len(OKABE_ITO)]
            label = segment_label(group.select(segs).row(0)) if segs else "all customers"
            if "at_risk" in group.columns:
                label += f" (n={int(group['at_risk'][0]):,})"
            time = as_float(group, "time")
            axes.fill_between(
                time,
                as_float(group, "ci_lower"),
                as_float(group, "ci_upper"),
                step="post",
                color=colour,
                alpha=0.18 if len(groups) > 1 else 0.25,
                linewidth=0.0,
                label="_band",
            )
            axes.step(time, as_float(group, "survival"), where="post", color=colour, linewidth=1.8, label=label)
            if "censored" in group.columns:
                marks = group.filter(pl.col("censored") > 0)
                if 0 < marks.height <= MAX_CENSOR_MARKS:
                    axes.plot(
                        as_float(marks, "time"),
                        as_float(marks, "survival"),
                        linestyle="none",
                        marker="|",
                        markersize=6,
                        color=colour,
                        label="_censored",
                    )
                    censor_marks = True
        axes.axhline(0.5, color=GREY, linewidth=0.8, linestyle=":", label="_median")
        axes.set_ylim(0.0, 1.03)
        axes.set_xlim(left=0.0)
        axes.grid(axis="y", color="#e5e5e5", linewidth=0.6)
        axes.set_axisbelow(True)
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch

        handles, names = axes.get_legend_handles_labels()
        handles.append(Patch(facecolor=GREY, alpha=0.3, linewidth=0.0))
        names.append("95% interval (survival's ci)")
        if censor_marks:
            handles.append(Line2D([], [], color=GREY, linestyle="none", marker="|", markersize=6))
            names.append("censored (still a customer)")
        axes.legend(handles, names, loc="upper right")
    return fig
