"""``retainlib demo``: the main job on built-in data.

Generates the synthetic sample store, prints an overview of it (tables that
fit an 80-column terminal) and writes its HTML report.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import polars as pl
from rich.console import Console

from retainlib._render import rich_table
from retainlib.calendar import Calendar, PeriodName, check_period
from retainlib.metrics import (
    cohort_retention,
    compare,
    median_lifetime,
    mrr_movements,
    nps,
    repeat_purchase_rate,
    retention_rate,
    returning_customer_rate,
    triangle,
)
from retainlib.reporting._format import Kind
from retainlib.samples import synthetic_store

__all__ = ["run_demo"]

Computing = Callable[[str], AbstractContextManager[Callable[[str, int, int], None]]]

#: Short headers, so that every table fits 80 columns.
_RETENTION_LABELS = {"reactivated": "back", "retention_rate": "retention"}
_RETENTION_KINDS: dict[str, Kind] = {"retention_rate": "percent"}
_COMPARE_LABELS = {"successes": "repeat", "trials": "buyers", "ci_lower": "ci low", "ci_upper": "ci high"}
_COMPARE_KINDS: dict[str, Kind] = {
    "rate": "percent",
    "ci_lower": "percent",
    "ci_upper": "percent",
    "difference": "percent",
}
_MRR_LABELS = {
    "mrr_start": "start",
    "reactivation": "reactiv.",
    "expansion": "expans.",
    "contraction": "contr.",
    "mrr_end": "end",
    "net_revenue_retention": "NRR",
}
_NPS_LABELS = {"responses": "answers", "promoters": "promot.", "detractors": "detract.", "ci_lower": "ci low"}
_NPS_LABELS |= {"ci_upper": "ci high"}


@contextmanager
def _quiet(_: str) -> Iterator[Callable[[str, int, int], None]]:
    yield lambda step, done, total: None


def run_demo(
    console: Console,
    *,
    customers: int,
    seed: int,
    period: str,
    html: Path | None = None,
    computing: Computing = _quiet,
) -> Path | None:
    """Generate a sample store of ``customers`` customers, print its headline numbers, write its report to ``html``.

    Returns the report's path (``None`` without ``html``).
    """
    cal = Calendar(period=check_period(period))
    started = time.perf_counter()
    store = synthetic_store(customers=customers, seed=seed).collect()
    counts = store.counts()
    console.print(
        f"[bold]Sample store[/] (seed {seed}): "
        + ", ".join(f"{n:,} {name}" for name, n in counts.items())
        + f"  [dim]generated in {time.perf_counter() - started:.2f} s[/]"
    )
    tail = 6
    shown = ["period", "start", "new", "retained", "reactivated", "churned", "end", "retention_rate"]
    rates = retention_rate(store, period=cal.period).tail(tail).select(shown)
    console.print(
        rich_table(
            rates,
            f"Period retention (orders, by {period}, last {tail}; the last may be incomplete)",
            labels=_RETENTION_LABELS,
            kinds=_RETENTION_KINDS,
            period=cal.period,
        )
    )
    cohort_period: PeriodName = "quarter" if cal.period in ("day", "week", "month") else cal.period
    cohorts = triangle(cohort_retention(store, period=cohort_period))
    numbers = [c for c in cohorts.columns if c.isdigit()][:8]
    console.print(
        rich_table(
            cohorts.tail(8).select("cohort", "cohort_size", *numbers),
            f"Cohort retention by {cohort_period} (share of the cohort active n {cohort_period}s later)",
            labels={"cohort_size": "size"},
            kinds=dict.fromkeys(numbers, "percent"),
            period=cohort_period,
            heat=numbers[1:],
        )
    )
    repeat = compare(repeat_purchase_rate(store, by="channel"))
    console.print(
        rich_table(
            repeat,
            "Repeat purchase rate by acquisition channel (Wilson 95% CI; z-test against 'organic')",
            labels=_COMPARE_LABELS,
            kinds=_COMPARE_KINDS,
        )
    )
    returning = returning_customer_rate(store, period=cal.period).tail(tail).drop("is_complete")
    console.print(
        rich_table(
            returning,
            f"Returning customer rate (Shopify's definition), last {tail}",
            labels={"returning_customers": "returning", "returning_customer_rate": "rate"},
            kinds={"returning_customer_rate": "percent"},
            period=cal.period,
        )
    )
    subs = retention_rate(store, period=cal.period, table="subscriptions").tail(tail).select(shown)
    console.print(
        rich_table(
            subs,
            f"Subscriber retention by {period}, last {tail}",
            labels=_RETENTION_LABELS,
            kinds=_RETENTION_KINDS,
            period=cal.period,
        )
    )
    movements = (
        mrr_movements(store, period=cal.period)
        .tail(tail)
        .select(
            "period",
            "mrr_start",
            "new",
            "reactivation",
            "expansion",
            "contraction",
            "churn",
            "mrr_end",
            "net_revenue_retention",
        )
    )
    money: dict[str, Kind] = dict.fromkeys(movements.columns[1:-1], "money")
    console.print(
        rich_table(
            movements,
            f"MRR movements by {period} (monthly revenue, {store.single_currency() or ''}; k = thousands)",
            labels=_MRR_LABELS,
            kinds={**money, "net_revenue_retention": "percent"},
            period=cal.period,
        )
    )
    scores = nps(store, period="quarter").tail(4).drop("is_complete")
    console.print(
        rich_table(
            scores,
            "Net Promoter Score by quarter (95% CI)",
            float_format=".1f",
            labels=_NPS_LABELS,
            period="quarter",
        )
    )
    window = dt.timedelta(days=180)
    lifetimes = pl.concat(
        [
            median_lifetime(store).select(pl.lit("subscribers").alias("customers"), pl.all()),
            median_lifetime(store, window=window).select(
                pl.lit("buyers (churned after 180 days without an order)").alias("customers"), pl.all()
            ),
        ]
    )
    console.print(rich_table(lifetimes, "Median customer lifetime in days (Kaplan-Meier, 95% CI)", float_format=",.0f"))
    if html is None:
        return None
    from retainlib.reporting import report
    from retainlib.reporting._html import CHARTS_HINT

    with computing("writing the sample store's report") as progress:
        result = report(store, period=cal.period, by="channel", window=window, title="Sample store", progress=progress)
        progress("drawing the charts", 1, 1)
        out = result.to_html(html)
    console.print(f"HTML report of the sample store written to {out.resolve()}", highlight=False, soft_wrap=True)
    if CHARTS_HINT in out.read_text(encoding="utf-8"):
        console.print(f"[yellow]{CHARTS_HINT}[/]", highlight=False)
    return out
