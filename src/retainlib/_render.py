"""Rendering polars frames as rich tables for the command line (``retainlib``, its demo and reports).

Tables are made to fit the console: headers can be given short labels,
numbers written compactly (percentages, whole money units), and a table too
wide for the console can drop trailing columns (:func:`fit_columns`) instead
of letting rich cut its headers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal

import polars as pl
from rich import box
from rich.console import Console
from rich.style import Style
from rich.table import Table
from rich.text import Text

from retainlib.reporting._format import Kind, fmt, fmt_period

__all__ = ["fit_columns", "heat_style", "rich_table"]

# Light to dark blue: the background of a heat cell by its share of the scale (as the HTML report).
_HEAT = ((247, 251, 255), (198, 219, 239), (107, 174, 214), (33, 113, 181), (8, 48, 107))


def heat_style(share: float) -> Style:
    """The style of a colour-graded cell whose value is ``share`` (0..1) of the scale."""
    x = min(max(share, 0.0), 1.0) * (len(_HEAT) - 1)
    i = min(int(x), len(_HEAT) - 2)
    t = x - i
    r, g, b = (round(a + (c - a) * t) for a, c in zip(_HEAT[i], _HEAT[i + 1], strict=True))
    return Style(bgcolor=f"#{r:02x}{g:02x}{b:02x}", color="#ffffff" if share > 0.55 else "#000000")


def _cell(value: object, float_format: str, kind: Kind | None, period: str | None) -> str:
    if value is None:
        return ""
    if period is not None and not isinstance(value, (int, float, Decimal)):
        return fmt_period(value, period)
    if kind is not None:
        return fmt(value, kind, compact=True) if kind in ("money", "count") else fmt(value, kind)
    if isinstance(value, float):
        return format(value, float_format)
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    return str(value)


def rich_table(
    frame: pl.DataFrame,
    title: str,
    *,
    float_format: str = ",.3f",
    labels: Mapping[str, str] | None = None,
    kinds: Mapping[str, Kind] | None = None,
    period: str | None = None,
    period_columns: Iterable[str] = ("period", "cohort"),
    heat: Iterable[str] = (),
    heat_top: float | None = None,
) -> Table:
    """A rich table of ``frame``: numbers right-aligned, floats as ``float_format``, money to the cent.

    ``labels`` renames headers; ``kinds`` writes columns as percentages,
    counts or money (compact: ``34.3k``); with ``period`` the date columns
    named in ``period_columns`` are written as periods (``2024-03``,
    ``2024 Q1``); columns in ``heat`` get a background graded from 0 to
    ``heat_top`` (default: their largest value).
    """
    labels = dict(labels or {})
    kinds = dict(kinds or {})
    heat_cols = [c for c in heat if c in frame.columns]
    top = heat_top
    if heat_cols and top is None:
        found = frame.select(pl.max_horizontal(pl.col(heat_cols).max())).item()
        top = float(found) if found else None
    periods = set(period_columns) if period is not None else set()
    t = Table(title=title, title_justify="left", header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    for name, dtype in frame.schema.items():
        t.add_column(labels.get(name, name), justify="right" if dtype.is_numeric() else "left", overflow="fold")
    heat_index = {frame.columns.index(c) for c in heat_cols}
    for row in frame.iter_rows():
        cells: list[str | Text] = []
        for i, (name, value) in enumerate(zip(frame.columns, row, strict=True)):
            text = _cell(value, float_format, kinds.get(name), period if name in periods else None)
            if i in heat_index and value is not None and top:
                cells.append(Text(text, style=heat_style(float(value) / top)))
            else:
                cells.append(text)
        t.add_row(*cells)
    return t


def fit_columns(console: Console, build: Callable[[int], Table], most: int, least: int = 1) -> Table:
    """The widest ``build(n)`` (``least <= n <= most``) that fits the console's width."""
    unbounded = console.options.update_width(1_000_000)  # measure the natural width, not the console's
    n = most
    table = build(n)
    while n > least and console.measure(table, options=unbounded).maximum > console.width:
        n -= 1
        table = build(n)
    return table
