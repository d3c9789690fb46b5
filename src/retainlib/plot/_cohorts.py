"""Cohort pictures: the retention triangle as a heatmap, and retention curves."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt
import polars as pl

from retainlib.errors import OptionError, SchemaError
from retainlib.metrics.retention import COHORT_COLUMNS
from retainlib.plot._common import (
    GREY,
    OKABE_ITO,
    Grain,
    as_float,
    collect,
    date_label,
    figure_and_axes,
    grain_of,
    no_data,
    percent_formatter,
    period_axis,
    require,
    segment_label,
    segments,
    style,
    thin,
    units,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: The columns ``retention_rate`` computes.
RATE_COLUMNS: Final = (
    "period",
    "is_complete",
    "start",
    "new",
    "retained",
    "reactivated",
    "churned",
    "end",
    "retention_rate",
    "churn_rate",
    "crr",
)
#: Values that are shares (shown as percentages).
SHARES: Final = frozenset({"retention", "revenue_retention"})
#: Cells are written in when the triangle has at most this many cells (each text costs ~1 ms to draw,
#: and more would not be readable anyway)...
ANNOTATE_CELLS: Final = 400
#: ... and at most this many columns.
ANNOTATE_COLUMNS: Final = 30
#: The colour map of the heatmap: ColorBrewer's YlGnBu, a sequential scale that stays readable for the
#: common colour-vision deficiencies and in greyscale (light = low, dark = high).
HEATMAP_CMAP: Final = "YlGnBu"

_TITLES: Final = {
    "retention": "Cohort retention",
    "revenue_retention": "Cohort revenue retention",
    "active": "Active customers by cohort",
    "revenue": "Revenue by cohort",
    "cumulative_revenue_per_customer": "Cumulative revenue per customer by cohort",
}
_SCALE_LABELS: Final = {
    "retention": "customers active (% of cohort)",
    "revenue_retention": "revenue (% of the cohort's period 0)",
    "active": "customers active",
    "revenue": "revenue (currency units)",
    "cumulative_revenue_per_customer": "cumulative revenue per customer (currency units)",
}


def cell_text(value: float, *, share: bool, columns: int) -> str:
    """The text written in a heatmap cell: a percentage for shares (one decimal up to 12 columns), else a number."""
    if math.isnan(value):
        return ""
    if share:
        return f"{value * 100:.1f}%" if columns <= 12 else f"{value * 100:.0f}%"
    size = abs(value)
    if size >= 1e6:
        return f"{value / 1e6:.1f}M"
    if size >= 1e4:
        return f"{value / 1e3:.0f}k"
    if size >= 100 or float(value).is_integer():
        return f"{value:.0f}"
    return f"{value:.1f}"


def _wide_to_long(frame: pl.DataFrame, value: str) -> pl.DataFrame:
    """The output of ``rl.triangle`` back in the long layout (``period_number``, ``value``)."""
    numbered = [c for c in frame.columns if c.isdigit()]
    index = [c for c in frame.columns if c not in numbered]
    return (
        frame.unpivot(numbered, index=index, variable_name="period_number", value_name=value)
        .with_columns(pl.col("period_number").cast(pl.Int64))
        .drop_nulls(value)
    )


def _check_value(frame: pl.DataFrame, value: str | None) -> str:
    if value is None:
        return "retention"
    if not isinstance(value, str) or value in ("cohort", "period_number", "is_complete"):
        raise OptionError(
            f"value must name a numeric column of the cohort_retention frame (retention, active, revenue, ...), "
            f"got {value!r}",
            option="value",
            value=value,
        )
    return value


def _matrix(
    frame: pl.DataFrame, keys: list[str], value: str
) -> tuple[pl.DataFrame, npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Rows (one per segment and cohort, sorted), the value matrix (NaN where absent) and the incomplete cells."""
    rows = (
        frame.select(*keys, *(["cohort_size"] if "cohort_size" in frame.columns else []))
        .unique(subset=keys, keep="first", maintain_order=True)
        .sort(keys, nulls_last=True)
        .with_row_index("_row")
    )
    cells = frame.join(rows.select("_row", *keys), on=keys, nulls_equal=True)
    doubled = cells.filter(pl.struct("_row", "period_number").is_duplicated())
    if doubled.height:
        raise SchemaError(
            "a cohort has two rows for one period_number: give the plot one segment per row "
            f"(the frame's segment columns: {', '.join(keys[:-1]) or 'none'}); first: {doubled.row(0, named=True)}",
            table="cohort_retention",
            column="period_number",
            expected="one row per cohort and period_number",
            actual="duplicates",
        )
    if cells.filter(pl.col("period_number") < 0).height:
        raise SchemaError(
            "period_number must be >= 0",
            table="cohort_retention",
            column="period_number",
            expected="0, 1, 2, ...",
            actual="negative",
        )
    columns = int(cells["period_number"].cast(pl.Int64).max() or 0) + 1 if cells.height else 0  # type: ignore[arg-type]
    matrix = np.full((rows.height, columns), np.nan)
    incomplete = np.zeros((rows.height, columns), dtype=bool)
    r = cells["_row"].to_numpy().astype(np.intp)
    c = cells["period_number"].to_numpy().astype(np.intp)
    matrix[r, c] = cells[value].cast(pl.Float64).fill_null(float("nan")).to_numpy()
    if "is_complete" in cells.columns:
        incomplete[r, c] = ~cells["is_complete"].fill_null(value=True).to_numpy()
    return rows, matrix, incomplete


def _scale_top(matrix: npt.NDArray[np.float64]) -> tuple[float, float]:
    """Colour scale limits: from 0 (or the lowest value) to the 98th percentile of the values after period 0.

    Period 0 is 100% for every cohort of a retention triangle, and a cohort of one customer can be at 100%
    anywhere; letting them set the top of the scale would wash out every other cell.  Values above the top
    are drawn in the top colour (the colour bar's arrow says so).
    """
    finite = matrix[np.isfinite(matrix)]
    if finite.size == 0:
        return 0.0, 1.0
    later = matrix[:, 1:][np.isfinite(matrix[:, 1:])] if matrix.shape[1] > 1 else finite
    top = float(np.quantile(later if later.size else finite, 0.98))
    bottom = min(0.0, float(finite.min()))
    if top <= bottom:
        top = float(finite.max()) if float(finite.max()) > bottom else bottom + 1.0
    return bottom, top


def cohort_heatmap(
    triangle: pl.DataFrame | pl.LazyFrame,
    *,
    value: str | None = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """The cohort triangle as a heatmap: one row per cohort, one column per period since the cohort's start.

    Parameters
    ----------
    triangle
        The frame :func:`retainlib.cohort_retention` returns (a LazyFrame is collected), with any ``by``
        segment columns (one block of rows per segment, separated by a line).  The wide frame of
        :func:`retainlib.triangle` is accepted too.
    value
        The column shown: ``"retention"`` (default), ``"revenue_retention"`` (written as percentages),
        ``"active"``, ``"revenue"``, ``"cumulative_revenue_per_customer"`` or another numeric column.
        For the wide frame of ``triangle``, the column it was pivoted on.
    ax
        A matplotlib Axes to draw into (its figure is returned); by default a new figure sized to the triangle.
    title
        The title; by default one naming the value.

    Returns
    -------
    matplotlib.figure.Figure
        Rows are labelled with the cohort (``2024-03``, ``2024 Q1``, ...) and its size; cells hold the value
        (percentages with one decimal up to 12 columns, whole percentages beyond) when the triangle has at
        most 400 cells and 30 columns (a 24-month triangle; larger ones are read from the colour bar);
        cells of periods not yet complete are hatched.  The colour scale (ColorBrewer YlGnBu) runs from 0
        to the 98th percentile of the values after period 0, so that period 0 (100% for every cohort) and
        tiny cohorts do not wash out the rest (higher values take the top colour).

    Raises
    ------
    SchemaError
        The frame lacks ``cohort``, ``period_number`` or the value column (all missing ones are named),
        or holds one of them with another type.
    OptionError
        ``triangle`` is not a polars frame, ``value`` is not a column name, ``ax`` is not an Axes.
    """
    frame = collect(triangle, option="triangle", kernel="rl.cohort_retention")
    name = _check_value(frame, value)
    if "period_number" not in frame.columns and "cohort" in frame.columns and any(c.isdigit() for c in frame.columns):
        frame = _wide_to_long(frame, name)
    require(
        frame,
        {"cohort": "date", "period_number": "number", name: "number"},
        table="cohort_retention",
        kernel="rl.cohort_retention",
    )
    segs = segments(frame, (*COHORT_COLUMNS, name), None, table="cohort_retention", kernel="rl.cohort_retention")
    keys = [*segs, "cohort"]
    rows, matrix, incomplete = _matrix(frame, keys, name)
    n_rows, n_cols = matrix.shape
    with style():
        fig, axes = figure_and_axes(
            ax, (min(16.0, max(6.0, 2.8 + 0.55 * n_cols)), min(22.0, max(3.5, 1.6 + 0.3 * n_rows)))
        )
        axes.set_title(title if title is not None else _TITLES.get(name, f"{name.replace('_', ' ')} by cohort"))
        if n_rows == 0 or n_cols == 0:
            no_data(axes, "cohorts")
            return fig
        _draw_heatmap(fig, axes, rows, matrix, incomplete, segs, name)
    return fig


def _draw_heatmap(
    fig: Figure,
    axes: Axes,
    rows: pl.DataFrame,
    matrix: npt.NDArray[np.float64],
    incomplete: npt.NDArray[np.bool_],
    segs: list[str],
    name: str,
) -> None:
    from matplotlib import colormaps
    from matplotlib.collections import LineCollection, PatchCollection
    from matplotlib.colors import Normalize
    from matplotlib.patches import Patch, Rectangle

    n_rows, n_cols = matrix.shape
    share = name in SHARES
    bottom, top = _scale_top(matrix)
    norm = Normalize(vmin=bottom, vmax=top, clip=False)
    cmap = colormaps[HEATMAP_CMAP].with_extremes(bad=(1.0, 1.0, 1.0, 0.0))
    # One image pixel per cell, embedded as it is ("none": no resampling; SVG viewers draw it pixelated):
    # far lighter and faster than a vector quad per cell for 120+ cohorts.
    mesh = axes.imshow(
        np.ma.masked_invalid(matrix),
        cmap=cmap,
        norm=norm,
        aspect="auto",
        interpolation="none",
        extent=(-0.5, n_cols - 0.5, n_rows - 0.5, -0.5),
    )
    if n_rows <= 60 and n_cols <= 60:  # white lines between the cells
        edges = [((x - 0.5, -0.5), (x - 0.5, n_rows - 0.5)) for x in range(1, n_cols)]
        edges += [((-0.5, y - 0.5), (n_cols - 0.5, y - 0.5)) for y in range(1, n_rows)]
        axes.add_collection(LineCollection(edges, colors="white", linewidths=1.0), autolim=False)
    axes.set_xlim(-0.5, n_cols - 0.5)
    axes.set_ylim(n_rows - 0.5, -0.5)
    axes.xaxis.tick_top()
    axes.xaxis.set_label_position("top")
    axes.tick_params(length=0)
    for spine in axes.spines.values():
        spine.set_visible(False)

    cohorts: list[dt.date] = rows["cohort"].to_list()
    grain: Grain | None = grain_of(cohorts)
    sizes = rows["cohort_size"].to_list() if "cohort_size" in rows.columns else [None] * n_rows
    seg_values = rows.select(segs).rows() if segs else [()] * n_rows
    labels = []
    for cohort, size, seg in zip(cohorts, sizes, seg_values, strict=True):
        label = date_label(cohort, grain)
        if seg:
            label = f"{segment_label(seg)} · {label}"
        labels.append(label if size is None else f"{label}  (n={size:,})")
    shown_rows = thin(n_rows, 40)
    axes.set_yticks(shown_rows, [labels[i] for i in shown_rows])
    shown_cols = thin(n_cols, 40)
    axes.set_xticks(shown_cols, [str(i) for i in shown_cols])
    axes.set_xlabel(f"{units(grain)} since the cohort's first {grain or 'period'}")
    axes.set_ylabel(f"cohort (first {grain or 'period'} active)" + (", customers" if sizes[0] is not None else ""))
    if segs:  # a line between the segments' blocks of rows
        starts = [i for i in range(1, n_rows) if seg_values[i] != seg_values[i - 1]]
        for i in starts:
            axes.axhline(i - 0.5, color="black", linewidth=1.2)

    if int(np.isfinite(matrix).sum()) <= ANNOTATE_CELLS and n_cols <= ANNOTATE_COLUMNS:
        size = 8.0 if n_cols <= 12 else 7.0 if n_cols <= 20 else 6.0
        rgba = cmap(norm(np.nan_to_num(matrix, nan=bottom)))
        luminance = 0.2126 * rgba[..., 0] + 0.7152 * rgba[..., 1] + 0.0722 * rgba[..., 2]
        for i in range(n_rows):
            for j in range(n_cols):
                v = float(matrix[i, j])
                if math.isnan(v):
                    continue
                axes.text(
                    j,
                    i,
                    cell_text(v, share=share, columns=n_cols),
                    ha="center",
                    va="center",
                    fontsize=size,
                    color="black" if luminance[i, j] > 0.45 else "white",
                    gid="cell",
                    in_layout=False,
                )

    hatched = [Rectangle((j - 0.5, i - 0.5), 1.0, 1.0) for i, j in zip(*np.nonzero(incomplete), strict=True)]
    handles = []
    if hatched:
        axes.add_collection(
            PatchCollection(hatched, facecolor="none", edgecolor=GREY, linewidth=0.0, hatch="///", gid="incomplete")
        )
        handles.append(Patch(facecolor="white", edgecolor=GREY, hatch="///", label="period not yet complete"))
        axes.legend(handles=handles, loc="lower right", borderaxespad=1.0)
    finite = matrix[np.isfinite(matrix)]
    extend = "max" if finite.size and float(finite.max()) > top else "neither"
    colorbar = fig.colorbar(mesh, ax=axes, extend=extend, fraction=0.04, pad=0.02)
    colorbar.set_label(_SCALE_LABELS.get(name, name.replace("_", " ")))
    if share:
        colorbar.ax.yaxis.set_major_formatter(percent_formatter())
    colorbar.outline.set_visible(False)


# --------------------------------------------------------------------------- retention curves
def retention_curves(
    frame: pl.DataFrame | pl.LazyFrame,
    *,
    by: str | Sequence[str] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Retention over time: one curve per cohort or segment.

    Parameters
    ----------
    frame
        The frame :func:`retainlib.cohort_retention` returns: retention (y, in %) against the periods since
        the cohort's start (x).  Without ``by`` (and without segment columns), one thin curve per cohort,
        coloured from the oldest to the newest, and the cohorts' average in black; with ``by``, or when the
        frame has ``by`` segment columns, one curve per segment: the cohorts' average.
        Or the frame :func:`retainlib.retention_rate` returns: the per-period retention rate (y, in %) over
        calendar periods (x), one line per segment.
    by
        Segment column(s) of the frame to draw one curve each for (default: the frame's segment columns).
    ax
        A matplotlib Axes to draw into (its figure is returned); by default a new figure.
    title
        The title; by default "Retention curves" or "Retention rate".

    Returns
    -------
    matplotlib.figure.Figure
        An average over cohorts is weighted by cohort size, Σ active / Σ cohort size at each period number,
        over the cohorts whose period is complete: a cohort's last, still running period would look like a
        drop, so the cohort curves leave it out too.  On ``retention_rate`` lines, periods not yet complete
        are drawn dotted, with hollow markers.

    Raises
    ------
    SchemaError
        The frame is neither kernel's output: the missing columns are named.
    OptionError
        ``by`` names a column the kernel computes, or an option has the wrong type.
    """
    data = collect(frame, option="frame", kernel="rl.cohort_retention or rl.retention_rate")
    if "retention_rate" in data.columns and "period_number" not in data.columns:
        return _rate_lines(data, by=by, ax=ax, title=title)
    require(
        data,
        {"cohort": "date", "period_number": "number", "retention": "number", "cohort_size": "number"},
        table="cohort_retention",
        kernel="rl.cohort_retention (or rl.retention_rate: columns period, retention_rate)",
    )
    segs = segments(data, COHORT_COLUMNS, by, table="cohort_retention", kernel="rl.cohort_retention")
    with style():
        fig, axes = figure_and_axes(ax, (8.0, 4.8))
        axes.set_title(title if title is not None else "Retention curves")
        grain = grain_of(data["cohort"].to_list())
        axes.set_xlabel(f"{units(grain)} since the cohort's first {grain or 'period'}")
        axes.set_ylabel("customers active (% of cohort)")
        axes.yaxis.set_major_formatter(percent_formatter())
        if data.height == 0:
            no_data(axes, "cohorts")
            return fig
        if segs:
            _segment_averages(axes, data, segs)
        else:
            _cohort_lines(fig, axes, data, grain)
        axes.set_ylim(bottom=0.0)
        axes.grid(axis="y", color="#e5e5e5", linewidth=0.6)
        axes.set_axisbelow(True)
    return fig


def weighted_average(data: pl.DataFrame, segs: Sequence[str]) -> pl.DataFrame:
    """Per segment and period number: Σ retention·cohort_size / Σ cohort_size over complete cohort periods."""
    complete = data.filter(pl.col("is_complete")) if "is_complete" in data.columns else data
    weight = pl.col("cohort_size").cast(pl.Float64)
    return (
        complete.filter(pl.col("retention").is_not_null())
        .group_by(*segs, "period_number")
        .agg(
            retention=(pl.col("retention") * weight).sum() / weight.sum(),
            cohorts=pl.len(),
        )
        .sort(*segs, "period_number", nulls_last=True)
    )


def _segment_averages(axes: Axes, data: pl.DataFrame, segs: list[str]) -> None:
    averages = weighted_average(data, segs)
    groups = averages.partition_by(segs, maintain_order=True, include_key=True) if segs else [averages]
    for i, group in enumerate(groups):
        label = segment_label(group.select(segs).row(0)) if segs else "all cohorts"
        axes.plot(
            group["period_number"].to_list(),
            as_float(group, "retention"),
            color=OKABE_ITO[i % len(OKABE_ITO)],
            marker="o",
            markersize=3.5,
            linewidth=1.8,
            label=label,
        )
    axes.legend(title=", ".join(segs) if segs else None, loc="upper right")


def _cohort_lines(fig: Figure, axes: Axes, data: pl.DataFrame, grain: Grain | None) -> None:
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    ordered = data.sort("cohort", "period_number")
    cohorts = ordered.partition_by("cohort", maintain_order=True, include_key=True)
    cmap = colormaps["viridis"]
    count = len(cohorts)
    for i, group in enumerate(cohorts):
        colour = cmap(i / max(count - 1, 1) * 0.9)
        label = date_label(group["cohort"][0], grain)
        shown = group.filter(pl.col("is_complete")) if "is_complete" in group.columns else group
        axes.plot(
            shown["period_number"].to_list(), as_float(shown, "retention"), color=colour, linewidth=1.0, label=label
        )
    average = weighted_average(data, [])
    axes.plot(
        average["period_number"].to_list(),
        as_float(average, "retention"),
        color="black",
        linewidth=2.4,
        label="all cohorts (weighted average)",
        gid="average",
    )
    if count <= 10:
        axes.legend(title="cohort", loc="upper right", ncols=2 if count > 5 else 1)
    else:
        days = [group["cohort"][0] for group in cohorts]
        mappable = ScalarMappable(norm=Normalize(vmin=0, vmax=(count - 1) / 0.9 if count > 1 else 1), cmap=cmap)
        colorbar = fig.colorbar(mappable, ax=axes, fraction=0.04, pad=0.02)
        ticks = thin(count, 8)
        colorbar.set_ticks([float(t) for t in ticks], labels=[date_label(days[t], grain) for t in ticks])
        colorbar.set_label("cohort")
        colorbar.outline.set_visible(False)
        axes.legend(handles=[axes.get_lines()[-1]], loc="upper right")


def line_with_tail(
    axes: Axes, group: pl.DataFrame, x: str, y: str, *, colour: object, label: str, width: float
) -> None:
    """One series: solid over complete periods, dotted to hollow markers over the periods not yet complete."""
    xs = group[x].to_list()
    ys = as_float(group, y)
    done = group["is_complete"].fill_null(value=True).to_list() if "is_complete" in group.columns else [True] * len(xs)
    first_open = done.index(False) if False in done else len(xs)
    axes.plot(xs[:first_open], ys[:first_open], color=colour, linewidth=width, marker="o", markersize=3.5, label=label)
    if first_open < len(xs):
        start = max(first_open - 1, 0)
        axes.plot(xs[start:], ys[start:], color=colour, linewidth=width, linestyle=":", label="_incomplete")
        axes.plot(
            xs[first_open:],
            ys[first_open:],
            color=colour,
            linestyle="none",
            marker="o",
            markersize=4.5,
            markerfacecolor="white",
            label="_incomplete",
        )


def _rate_lines(data: pl.DataFrame, *, by: str | Sequence[str] | None, ax: Axes | None, title: str | None) -> Figure:
    require(
        data,
        {"period": "date", "retention_rate": "number"},
        table="retention_rate",
        kernel="rl.retention_rate",
    )
    segs = segments(data, RATE_COLUMNS, by, table="retention_rate", kernel="rl.retention_rate")
    with style():
        fig, axes = figure_and_axes(ax, (8.0, 4.5))
        grain = grain_of(data["period"].to_list())
        axes.set_title(title if title is not None else "Retention rate")
        per = f"per {grain}" if grain else "per period"
        axes.set_xlabel(f"{grain or 'period'} (start)")
        axes.set_ylabel(f"customers retained {per} (%)")
        axes.yaxis.set_major_formatter(percent_formatter())
        if data.height == 0:
            no_data(axes, "periods")
            return fig
        ordered = data.sort(*segs, "period", nulls_last=True)
        groups = ordered.partition_by(segs, maintain_order=True, include_key=True) if segs else [ordered]
        for i, group in enumerate(groups):
            label = segment_label(group.select(segs).row(0)) if segs else "retention rate"
            line_with_tail(
                axes, group, "period", "retention_rate", colour=OKABE_ITO[i % len(OKABE_ITO)], label=label, width=1.8
            )
        if "is_complete" in data.columns and not bool(data["is_complete"].fill_null(value=True).all()):
            from matplotlib.lines import Line2D

            handles = [line for line in axes.get_lines() if not str(line.get_label()).startswith("_")]
            handles.append(
                Line2D([], [], color=GREY, linestyle=":", marker="o", markerfacecolor="white", label="not yet complete")
            )
            axes.legend(handles=handles, title=", ".join(segs) if segs else None, loc="best")
        else:
            axes.legend(title=", ".join(segs) if segs else None, loc="best")
        axes.set_ylim(bottom=0.0)
        axes.grid(axis="y", color="#e5e5e5", linewidth=0.6)
        axes.set_axisbelow(True)
        period_axis(axes, data["period"].to_list(), grain)
    return fig
