"""Lazy in, lazy out: a kernel given a LazyFrame reads nothing before ``collect`` and reads it at most twice."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

import retainlib as rl
from retainlib.errors import DataError
from retainlib.metrics._common import prepare
from retainlib.metrics.revenue import _rows_and_totals
from retainlib.samples import synthetic_tables

Kernel = Callable[[pl.DataFrame | pl.LazyFrame], pl.DataFrame | pl.LazyFrame]

TABLES = synthetic_tables(300, seed=3)


def _same_kind(frame: pl.DataFrame, like: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame | pl.LazyFrame:
    """``frame``, lazy when ``like`` is (the tickets decide whether support retention is lazy)."""
    return frame.lazy() if isinstance(like, pl.LazyFrame) else frame


KERNELS: dict[str, tuple[str, Kernel, int]] = {
    # name: (table, kernel, most reads of the input when collected)
    "retention_rate": ("orders", rl.retention_rate, 2),
    "retention_rate_by": ("orders", lambda d: rl.retention_rate(d, by="channel"), 2),
    "retention_rate_events": ("events", lambda d: rl.retention_rate(d, events="session"), 2),
    "retention_rate_subscriptions": ("subscriptions", rl.retention_rate, 2),
    "cohort_retention": ("orders", rl.cohort_retention, 2),
    "cohort_retention_rolling": ("orders", lambda d: rl.cohort_retention(d, kind="rolling"), 2),
    # the revenue by cohort is one more read of the orders beside the masks (see docs/performance.md)
    "cohort_retention_revenue": ("orders", lambda d: rl.cohort_retention(d, measure="revenue"), 3),
    "repeat_purchase_rate": ("orders", rl.repeat_purchase_rate, 2),
    "repeat_purchase_rate_within": ("orders", lambda d: rl.repeat_purchase_rate(d, within=2), 2),
    "returning_customer_rate": ("orders", rl.returning_customer_rate, 2),
    "rfm": ("orders", rl.rfm, 2),
    "mrr": ("subscriptions", rl.mrr, 2),
    "mrr_movements": ("subscriptions", rl.mrr_movements, 2),
    "mrr_movements_detail": ("subscriptions", lambda d: rl.mrr_movements(d, detail=True), 2),
    "revenue_retention": ("subscriptions", rl.revenue_retention, 2),
    # support retention reads two tables: each is counted in turn (the result is lazy when the tickets are)
    "support_retention": ("tickets", lambda d: rl.support_retention(d, orders=TABLES["orders"]), 2),
    "support_retention_orders": (
        "orders",
        lambda d: rl.support_retention(_same_kind(TABLES["tickets"], d), orders=d),
        2,
    ),
    "support_retention_subscriptions": (
        "subscriptions",
        lambda d: rl.support_retention(_same_kind(TABLES["tickets"], d), subscriptions=d),
        2,
    ),
}


def counting(frame: pl.DataFrame) -> tuple[pl.LazyFrame, list[int]]:
    """A LazyFrame over ``frame`` and the list that grows by one each time polars reads it."""
    reads: list[int] = []

    def source() -> pl.DataFrame:
        reads.append(1)
        return frame

    return pl.defer(source, schema=frame.schema), reads


def table(name: str) -> pl.DataFrame:
    frame = TABLES[name]
    if name == "orders":  # a segment column of the orders themselves
        frame = frame.with_columns(
            channel=pl.when(pl.col("amount") > 50).then(pl.lit("big")).otherwise(pl.lit("small"))
        )
    return frame


@pytest.mark.parametrize("name", list(KERNELS))
def test_lazy_input_is_read_at_collect_only_and_at_most_twice(name: str) -> None:
    table_name, kernel, most = KERNELS[name]
    frame = table(table_name)
    lazy, reads = counting(frame)
    query = kernel(lazy)
    assert isinstance(query, pl.LazyFrame)
    assert reads == []
    got = query.collect()
    assert 1 <= len(reads) <= most
    want = kernel(frame)
    assert isinstance(want, pl.DataFrame)
    assert got.height > 0
    assert got.schema == want.schema
    assert got.sort(got.columns).equals(want.sort(want.columns))


def test_lazy_input_errors_keep_their_kind() -> None:
    """A currency mix found by the deferred pre-pass raises the same error at collect as eager input at call."""
    mixed = table("orders").with_columns(
        currency=pl.when(pl.int_range(pl.len()) % 2 == 0).then(pl.lit("EUR")).otherwise(pl.lit("USD"))
    )
    lazy, reads = counting(mixed)
    query = rl.cohort_retention(lazy, measure="revenue")
    assert reads == []
    with pytest.raises(rl.errors.CurrencyError) as lazily:
        query.collect()
    with pytest.raises(rl.errors.CurrencyError) as eagerly:
        rl.cohort_retention(mixed, measure="revenue")
    assert lazily.value.currencies == eagerly.value.currencies == ("EUR", "USD")


def test_options_are_still_checked_at_call() -> None:
    lazy, reads = counting(table("subscriptions"))
    with pytest.raises(rl.errors.OptionError):
        rl.mrr(lazy, currency="EUR")  # currency= without fx=
    assert reads == []


def test_mrr_on_a_parquet_scan_reads_it_once(tmp_path: Path) -> None:
    path = tmp_path / "subscriptions.parquet"
    TABLES["subscriptions"].write_parquet(path)
    p = prepare(pl.scan_parquet(path), metric="mrr", tables=["subscriptions"])
    rows, totals = _rows_and_totals(p, None, None)
    for plan in (rows, totals):  # the plan the deferred kernel runs: one scan, shared through a cache
        assert plan.explain().count("Parquet SCAN") == 1
    for kernel in (rl.mrr, rl.mrr_movements):
        result = kernel(pl.scan_parquet(path))
        assert isinstance(result, pl.LazyFrame)
        assert result.collect().equals(kernel(TABLES["subscriptions"]))


def test_an_error_raised_inside_a_deferred_kernel_is_carried_once() -> None:
    bad = pl.DataFrame(
        {
            "order_id": ["1", "2"],
            "customer_id": ["a", None],
            "ordered_at": ["2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z"],
            "amount": ["1", "2"],
            "currency": ["USD", "USD"],
        }
    )
    with pytest.raises(DataError) as info:
        rl.retention_rate(bad.lazy()).collect()
    # One carrier subclass over DataError, not one per level of the query it travelled through.
    assert type(info.value).__mro__[1] is DataError
    assert [(p.column, p.count) for p in info.value.problems] == [("customer_id", 1)]
