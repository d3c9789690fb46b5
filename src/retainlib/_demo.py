"""``retainlib demo``: the main job on built-in data.

Generates the synthetic sample store, then prints an overview of it.  Each
metric issue adds its headline numbers here.
"""

from __future__ import annotations

import datetime as dt
import time

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
from retainlib.samples import synthetic_store

__all__ = ["run_demo"]


def run_demo(console: Console, *, customers: int, seed: int, period: str) -> None:
    """Generate a sample store of ``customers`` customers and print its headline numbers."""
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
    console.print(rich_table(rates, f"Period retention (orders, by {period}, last {tail}; the last may be incomplete)"))
    cohort_period: PeriodName = "quarter" if cal.period in ("day", "week", "month") else cal.period
    cohorts = triangle(cohort_retention(store, period=cohort_period))
    console.print(
        rich_table(cohorts.tail(8).select(cohorts.columns[:8]), f"Cohort retention by {cohort_period} (share active)")
    )
    repeat = compare(repeat_purchase_rate(store, by="channel"))
    console.print(
        rich_table(repeat, "Repeat purchase rate by acquisition channel (Wilson 95% CI; z-test against 'organic')")
    )
    returning = returning_customer_rate(store, period=cal.period).tail(tail).drop("is_complete")
    console.print(rich_table(returning, f"Returning customer rate (Shopify's definition), last {tail}"))
    subs = retention_rate(store, period=cal.period, table="subscriptions").tail(tail).select(shown)
    console.print(rich_table(subs, f"Subscriber retention by {period}, last {tail}"))
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
    console.print(
        rich_table(movements, f"MRR movements by {period} (monthly revenue, {store.single_currency() or ''})")
    )
    scores = nps(store, period="quarter").tail(4).drop("is_complete")
    console.print(rich_table(scores, "Net Promoter Score by quarter (95% CI)"))
    window = dt.timedelta(days=180)
    lifetimes = pl.concat(
        [
            median_lifetime(store).select(pl.lit("subscribers").alias("customers"), pl.all()),
            median_lifetime(store, window=window).select(
                pl.lit("buyers (churned after 180 days without an order)").alias("customers"), pl.all()
            ),
        ]
    )
    console.print(rich_table(lifetimes, "Median customer lifetime in days (Kaplan-Meier, 95% CI)"))
