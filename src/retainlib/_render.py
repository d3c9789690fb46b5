"""Rendering polars frames as rich tables for the command line (``retainlib`` and its demo)."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
from rich.table import Table

__all__ = ["rich_table"]


def _cell(value: object, float_format: str) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return format(value, float_format)
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    return str(value)


def rich_table(frame: pl.DataFrame, title: str, *, float_format: str = ",.3f") -> Table:
    """A rich table of ``frame``: numbers right-aligned, floats as ``float_format``, money to the cent."""
    t = Table(title=title, title_justify="left", header_style="bold")
    for name, dtype in frame.schema.items():
        t.add_column(name, justify="right" if dtype.is_numeric() else "left")
    for row in frame.iter_rows():
        t.add_row(*(_cell(v, float_format) for v in row))
    return t
