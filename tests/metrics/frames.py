"""Small tables the kernels' tests share (the local tests here and the dask tests under ``tests/dask``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl

from retainlib.tables import MONEY, TIMESTAMP


def subscriptions(*rows: tuple[str, str, str | None, str]) -> pl.DataFrame:
    """A subscriptions table from ``(customer_id, started_at, ended_at or None, mrr)`` rows, ids ``s0``, ``s1``...,
    in dollars, the timestamps and amounts as text (the kernels coerce them)."""
    return pl.DataFrame(
        {
            "subscription_id": [f"s{i}" for i in range(len(rows))],
            "customer_id": [r[0] for r in rows],
            "started_at": [r[1] for r in rows],
            "ended_at": [r[2] for r in rows],
            "mrr": [r[3] for r in rows],
            "currency": ["USD"] * len(rows),
        },
        schema_overrides={"ended_at": pl.String},
    )


def orders_with_a_placeholder(customers: int = 300) -> pl.DataFrame:
    """Three orders a customer over 400 days from 2023-01-02, the last one dated 9999-12-31 (a placeholder date
    some exports write for "never"), which every kernel must refuse rather than expand into periods."""
    start = dt.datetime(2023, 1, 2, tzinfo=dt.UTC)
    times = [start + dt.timedelta(days=i % 400, hours=i % 24) for i in range(3 * customers)]
    times[-1] = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)
    return pl.DataFrame(
        {
            "order_id": [f"o{i}" for i in range(len(times))],
            "customer_id": [f"c{i % customers}" for i in range(len(times))],
            "ordered_at": pl.Series(times, dtype=TIMESTAMP),
            "amount": pl.Series([Decimal(5)] * len(times), dtype=MONEY),
            "currency": ["EUR"] * len(times),
        }
    )
