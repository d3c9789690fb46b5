"""How a report writes its numbers: percentages, money, counts, periods."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Literal, TypeAlias

__all__ = ["Kind", "fmt", "fmt_period"]

#: How a number is shown: a share (as %), a count, money, a score, days, a plain ratio.
Kind: TypeAlias = Literal["percent", "count", "money", "score", "days", "ratio", "text"]


def fmt(value: object, kind: Kind, *, currency: str | None = None, compact: bool = False) -> str:
    """``value`` written as ``kind`` (``""`` for a missing value).

    ``compact`` shortens money and counts for narrow terminals (``34.3k``).
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if kind == "text" or isinstance(value, (str, dt.date)):
        return str(value)
    if not isinstance(value, (int, float, Decimal)):
        return str(value)
    number = float(value)
    if math.isinf(number):
        return "∞" if number > 0 else "-∞"
    if kind == "percent":
        return f"{100 * number:.1f}%"
    if kind == "count":
        return _compact(number) if compact else f"{int(number):,}"
    if kind == "money":
        text = _compact(number) if compact else f"{number:,.2f}"
        return f"{text} {currency}" if currency and not compact else text
    if kind == "score":
        return f"{number:.1f}"
    if kind == "days":
        return f"{number:,.0f} days" if not compact else f"{number:,.0f}"
    return f"{number:,.2f}"


def _compact(number: float) -> str:
    size = abs(number)
    for limit, scale, suffix in ((1e9, 1e9, "G"), (1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if size >= limit:
            return f"{number / scale:.1f}{suffix}"
    return f"{number:,.0f}" if number.is_integer() or size >= 10 else f"{number:,.2f}"


_QUARTERS = {1: "Q1", 4: "Q2", 7: "Q3", 10: "Q4"}


def fmt_period(day: object, period: str) -> str:
    """The period starting on ``day`` as people write it: ``2024-03``, ``2024 Q1``, ``2024``, ``2024-03-04``."""
    if not isinstance(day, dt.date):
        return "" if day is None else str(day)
    if period == "month":
        return f"{day.year}-{day.month:02d}"
    if period == "quarter":
        return f"{day.year} {_QUARTERS.get(day.month, f'M{day.month}')}"
    if period == "year":
        return str(day.year)
    return day.isoformat()
