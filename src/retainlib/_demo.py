"""``retainlib demo``: the main job on built-in data.

Generates the synthetic sample store, then prints an overview of it.  Each
metric issue adds its headline numbers here.
"""

from __future__ import annotations

import time

import polars as pl
from rich.console import Console
from rich.table import Table

from retainlib.calendar import Calendar, check_period
from retainlib.datasets import synthetic_store

__all__ = ["run_demo"]


def _rich(frame: pl.DataFrame, title: str) -> Table:
    t = Table(title=title, title_justify="left", header_style="bold")
    for name, dtype in frame.schema.items():
        t.add_column(name, justify="right" if dtype.is_numeric() else "left")
    for row in frame.iter_rows():
        t.add_row(*("" if v is None else f"{v:,.3f}" if isinstance(v, float) else str(v) for v in row))
    return t


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
    orders = store.require("orders", purpose="the demo")
    # Activity per period: the additive counts every retention metric starts from.
    activity = (
        orders.group_by(cal.floor("ordered_at").alias(period))
        .agg(
            pl.col("customer_id").n_unique().alias("active_customers"),
            pl.len().alias("orders"),
            pl.col("amount").sum().alias("revenue"),
        )
        .sort(period)
        .with_columns((pl.col("revenue") / pl.col("orders")).cast(pl.Float64).alias("average_order"))
        .tail(12)
        .collect()
    )
    console.print(_rich(activity, f"Orders by {period} (last 12, {store.single_currency() or 'no currency'})"))
    per_customer = orders.group_by("customer_id").agg(pl.len().alias("n")).collect()
    mean_orders = float(per_customer.select(pl.col("n").mean()).item() or 0.0)
    repeat = float(per_customer.select((pl.col("n") >= 2).mean()).item() or 0.0)
    console.print(
        f"customers with orders: {per_customer.height:,}; orders per customer: "
        f"{mean_orders:.2f}; share with 2+ orders: {repeat:.1%}"
    )
