"""A :class:`~retainlib.reporting.Report` printed as rich tables, fitted to the console's width.

On a terminal the cohort triangle's cells are colour-graded; piped or
redirected, rich writes plain text (no escape codes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import polars as pl
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from retainlib._render import fit_columns, rich_table

if TYPE_CHECKING:
    from retainlib.reporting._model import Report

__all__ = ["headline_table", "print_report", "triangle_table"]

#: Cohorts (rows) of the triangle printed: the latest ones.
TERMINAL_COHORTS: Final = 12


def headline_table(report: Report) -> Table:
    """The headline numbers, section by section: label, value, detail."""
    t = Table(title="Headline numbers", title_justify="left", header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    t.add_column("metric", overflow="fold", ratio=3)
    t.add_column("value", justify="right", no_wrap=True)
    t.add_column("detail", overflow="fold", style="dim", ratio=4)
    for section in report.sections:
        if not section.headlines:
            continue
        t.add_row(Text(section.title, style="bold underline"), "", "")
        for h in section.headlines:
            t.add_row(h.label, h.text, h.detail)
    return t


def triangle_table(report: Report, console: Console) -> Table | None:
    """The cohort triangle (percent of each cohort active), as many period columns as fit the console."""
    tri = report.cohort_triangle
    if tri is None or tri.height == 0:
        return None
    recent = tri.tail(TERMINAL_COHORTS)
    numbers = [c for c in tri.columns if c.isdigit() and recent[c].null_count() < recent.height]
    later = numbers[1:] or numbers
    found = recent.select(pl.max_horizontal(pl.col(later).max())).item() if later else None
    top = float(found) if found else 1.0
    shown = recent.with_columns(pl.col(numbers) * 100)

    def build(n: int) -> Table:
        cut = shown.select("cohort", "cohort_size", *numbers[:n])
        more = f"; {len(numbers) - n} later {report.period}s not shown" if n < len(numbers) else ""
        return rich_table(
            cut,
            f"Cohort retention: % of each cohort active n {report.period}s after its first "
            f"(latest {cut.height} cohorts{more})",
            float_format=".0f",
            labels={"cohort_size": "size"},
            kinds={"cohort_size": "count"},
            period=report.period,
            heat=numbers[1:n],
            heat_top=100 * top,
        )

    return fit_columns(console, build, len(numbers), least=min(2, len(numbers)))


def print_report(report: Report, console: Console) -> None:
    """Print the report's headline numbers, its cohort triangle, what it left out and its load report."""
    console.print(Text(report.title, style="bold"))
    meta = [f"by {report.period}"]
    if report.as_of is not None:
        meta.append(f"as of {report.as_of}")
    if report.currency:
        meta.append(f"money in {report.currency}")
    meta.append(", ".join(f"{n:,} {name}" for name, n in report.counts.items()))
    console.print(Text("; ".join(meta), style="dim"))
    console.print(headline_table(report))
    tri = triangle_table(report, console)
    if tri is not None:
        console.print(tri)
    for s in report.skipped:
        console.print(Text.assemble(("not shown: ", "yellow"), f"{s.section}: {s.reason}"))
    if report.load is not None:
        lr = report.load
        console.print(
            f"load report ({lr.source}): rows read {lr.rows_read:,} = loaded {lr.rows_loaded:,} "
            f"+ rejected {lr.rows_rejected:,}",
            highlight=False,
        )
        if lr.rows_rejected:
            console.print(rich_table(lr.reasons().head(10), "Rejected rows by reason"))
