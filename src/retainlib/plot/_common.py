"""What every plot shares: the matplotlib import, the style, input checks and labels."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Literal, cast

import polars as pl

from retainlib.errors import MissingExtraError, OptionError, SchemaError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Kind = Literal["number", "date", "bool"]

#: The look every retainlib figure is built with (set while it is built, then restored): a font that
#: ships with matplotlib, so the output is the same on every machine, and quiet axes.
STYLE: Final[Mapping[str, Any]] = {
    "font.family": ["DejaVu Sans"],
    "font.size": 10.0,
    "axes.titlesize": 12.0,
    "axes.titleweight": "bold",
    "axes.labelsize": 10.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "xtick.labelsize": 9.0,
    "ytick.labelsize": 9.0,
    "legend.fontsize": 9.0,
    "legend.frameon": False,
    "svg.fonttype": "path",
    "svg.hashsalt": "retainlib",
    "svg.image_inline": True,
    "figure.dpi": 100.0,
}

#: Okabe & Ito's palette, told apart by readers with any common colour-vision deficiency.
OKABE_ITO: Final = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
#: Grey for secondary marks (interval bands' edges, reference lines).
GREY: Final = "#6b6b6b"
#: At most this many tick labels on a categorical axis; more are thinned out evenly.
MAX_TICKS: Final = 24


def require_matplotlib() -> None:
    """Import matplotlib (Agg-only use: figures are built without pyplot) or raise :class:`MissingExtraError`."""
    try:
        import matplotlib  # noqa: F401
        from matplotlib.figure import Figure  # noqa: F401
    except ImportError:
        raise MissingExtraError("matplotlib", "plot") from None


@contextlib.contextmanager
def style() -> Iterator[None]:
    """Build a figure with :data:`STYLE` (restored afterwards); needs matplotlib."""
    require_matplotlib()
    import matplotlib as mpl

    with mpl.rc_context(cast("Any", dict(STYLE))):
        yield


def figure_and_axes(ax: Axes | None, size: tuple[float, float]) -> tuple[Figure, Axes]:
    """The axes to draw into: ``ax`` (its figure is returned), or a new figure of ``size`` inches with one axes."""
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    if ax is None:
        fig = Figure(figsize=size, layout="constrained")
        return fig, fig.add_subplot()
    if not isinstance(ax, Axes):
        raise OptionError(f"ax must be a matplotlib Axes, got {type(ax).__name__}", option="ax", value=ax)
    figure = ax.get_figure(root=True)
    if not isinstance(figure, Figure):  # an Axes always belongs to a figure; this narrows the type
        raise OptionError("ax does not belong to a figure", option="ax", value=ax)
    return figure, ax


def collect(frame: object, *, option: str, kernel: str) -> pl.DataFrame:
    """``frame`` as a DataFrame (a LazyFrame is collected); anything else is an :class:`OptionError`."""
    if isinstance(frame, pl.LazyFrame):
        return frame.collect()
    if isinstance(frame, pl.DataFrame):
        return frame
    raise OptionError(
        f"{option} must be the polars frame {kernel} returns, got {type(frame).__name__}",
        option=option,
        value=type(frame).__name__,
    )


def _is_kind(dtype: pl.DataType, kind: Kind) -> bool:
    if kind == "number":
        return dtype.is_numeric()
    if kind == "date":
        return isinstance(dtype, (pl.Date, pl.Datetime))
    return isinstance(dtype, pl.Boolean)


_KIND_WORDS: Final[Mapping[Kind, str]] = {"number": "a number", "date": "a date", "bool": "a boolean"}


def require(frame: pl.DataFrame, columns: Mapping[str, Kind], *, table: str, kernel: str) -> None:
    """Raise a :class:`SchemaError` naming every missing column of ``columns``, or the first of the wrong type."""
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise SchemaError(
            f"missing column(s) {', '.join(repr(m) for m in missing)}; this plot takes the frame {kernel} returns "
            f"(columns {', '.join(columns)}), got columns {', '.join(frame.columns) or '(none)'}",
            table=table,
            column=missing[0],
            expected="present",
            actual=None,
        )
    for name, kind in columns.items():
        dtype = frame.schema[name]
        if not _is_kind(dtype, kind):
            raise SchemaError(
                f"must be {_KIND_WORDS[kind]} as {kernel} returns it, got {dtype}",
                table=table,
                column=name,
                expected=_KIND_WORDS[kind],
                actual=str(dtype),
            )


def segments(
    frame: pl.DataFrame, known: Sequence[str], by: str | Sequence[str] | None, *, table: str, kernel: str
) -> list[str]:
    """The segment columns: ``by`` (checked), or else the columns a kernel's ``by`` put before its own."""
    if by is None:
        return [c for c in frame.columns if c not in known]
    names = [by] if isinstance(by, str) else list(by)
    if not all(isinstance(n, str) for n in names):
        raise OptionError("by must be a column name or a sequence of column names", option="by", value=by)
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise SchemaError(
            f"by names column(s) {', '.join(repr(m) for m in missing)} that the frame does not have "
            f"(columns {', '.join(frame.columns)}); give the same by to {kernel}",
            table=table,
            column=missing[0],
            expected="present",
            actual=None,
        )
    wrong = [n for n in names if n in known]
    if wrong:
        raise OptionError(
            f"by cannot name {', '.join(repr(w) for w in wrong)}: a column {kernel} computes, not a segment",
            option="by",
            value=by,
        )
    return names


def segment_label(values: Sequence[object]) -> str:
    """One segment's legend label: its values joined by " · " (a null value shows as "(null)")."""
    return " · ".join("(null)" if v is None else str(v) for v in values)


def one_segment(frame: pl.DataFrame, segs: Sequence[str], *, plot: str, option: str) -> str:
    """The label of the one segment ``frame`` holds ("" without segment columns or rows).

    Raises :class:`OptionError` (naming ``option``, the argument of ``plot``) when the
    frame holds several segments, with the filter that picks the first.
    """
    if not segs:
        return ""
    values = frame.select(segs).unique(maintain_order=True)
    if values.height > 1:
        first = values.row(0, named=True)
        hint = " & ".join(f"(pl.col({k!r}) == {v!r})" for k, v in first.items())
        raise OptionError(
            f"{plot} draws one segment, the frame has {values.height} (by {', '.join(segs)}): "
            f"filter one first, e.g. {option}.filter({hint})",
            option=option,
            value=values.height,
        )
    return segment_label(values.row(0)) if values.height else ""


Grain = Literal["day", "week", "month", "quarter", "year"]

_GRAIN_UNITS: Final[Mapping[Grain | None, str]] = {
    "day": "days",
    "week": "weeks",
    "month": "months",
    "quarter": "quarters",
    "year": "years",
    None: "periods",
}


def grain_of(dates: Sequence[dt.date]) -> Grain | None:
    """The calendar grain of period starts (the kernels' first local day of each period), or None if unclear."""
    days = sorted({d if not isinstance(d, dt.datetime) else d.date() for d in dates})
    if not days:
        return None
    if all(d.day == 1 for d in days):
        months = {d.month for d in days}
        gaps = [(b.year - a.year) * 12 + b.month - a.month for a, b in itertools.pairwise(days)]
        smallest = min(gaps, default=None)
        if months == {1} and (smallest is None or smallest % 12 == 0) and len(days) > 1:
            return "year"
        if months <= {1, 4, 7, 10} and (smallest is None or smallest % 3 == 0) and len(days) > 1:
            return "quarter"
        return "month"
    gaps_days = [(b - a).days for a, b in itertools.pairwise(days)]
    if len({d.weekday() for d in days}) == 1 and len(days) > 1 and all(g % 7 == 0 for g in gaps_days):
        return "week"
    return "day"


def units(grain: Grain | None) -> str:
    """The plural word for a grain: ``"months"``; ``"periods"`` when unknown."""
    return _GRAIN_UNITS[grain]


def date_label(day: dt.date, grain: Grain | None) -> str:
    """A period start written the way analysts read it: 2024-03, 2024 Q1, 2024, or the ISO date."""
    if isinstance(day, dt.datetime):
        day = day.date()
    if grain == "month":
        return f"{day.year}-{day.month:02d}"
    if grain == "quarter":
        return f"{day.year} Q{(day.month - 1) // 3 + 1}"
    if grain == "year":
        return str(day.year)
    return day.isoformat()


def thin(count: int, limit: int = MAX_TICKS) -> list[int]:
    """Evenly spaced positions ``0 .. count - 1`` (every k-th) so that at most ``limit`` are labelled."""
    step = max(1, -(-count // limit))
    return list(range(0, count, step))


def no_data(ax: Axes, what: str) -> None:
    """Write a "no data" note in an empty axes (an empty frame is a valid kernel output)."""
    ax.text(0.5, 0.5, f"No {what} to show", transform=ax.transAxes, ha="center", va="center", color=GREY)
    ax.set_xticks([])
    ax.set_yticks([])


def percent_formatter(decimals: int = 0) -> Any:
    """A tick formatter showing shares (0..1) as percentages."""
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(xmax=1.0, decimals=decimals)


def as_float(frame: pl.DataFrame, name: str) -> list[float]:
    """A numeric column as Python floats, nulls as NaN (matplotlib leaves a gap there)."""
    return frame.get_column(name).cast(pl.Float64).fill_null(float("nan")).to_list()


def period_axis(axes: Axes, dates: Sequence[dt.date], grain: Grain | None) -> None:
    """Tick labels at the periods' starts, written as periods (2024 Q1, 2024-03...), thinned to about 12."""
    days = sorted(set(dates))
    shown = [days[i] for i in thin(len(days), 12)]
    axes.set_xticks(shown, [date_label(d, grain) for d in shown])  # type: ignore[arg-type]
    if len(shown) > 6:
        for label in axes.get_xticklabels():
            label.set_rotation(30)
            label.set_horizontalalignment("right")
