"""The kernels on a dask cluster give exactly the local engine's frames."""

from __future__ import annotations

import datetime as dt
import importlib
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import retainlib as rl
import retainlib.dask as rld
from retainlib.calendar import PeriodName
from retainlib.clv import BetaGeo, GammaGamma
from retainlib.errors import CurrencyError, DataError, OptionError, SchemaError
from retainlib.testing import orders as orders_strategy

from .conftest import as_polars

Kernel = Callable[[Any], Any]

#: (name, table, kernel): every supported aggregate kernel, with options that take each plan.
AGGREGATES: list[tuple[str, str, Kernel]] = [
    ("retention_rate", "orders", rl.retention_rate),
    ("retention_rate_by_quarter", "orders", lambda d: rl.retention_rate(d, period="quarter", by="currency")),
    ("cohort_retention", "orders", rl.cohort_retention),
    ("cohort_revenue_rolling", "orders", lambda d: rl.cohort_retention(d, measure="revenue", kind="rolling")),
    ("repeat_purchase_rate", "orders", rl.repeat_purchase_rate),
    ("repeat_by_cohort", "orders", lambda d: rl.repeat_purchase_rate(d, cohorts=True, as_of=dt.date(2024, 6, 30))),
    ("repeat_within", "orders", lambda d: rl.repeat_purchase_rate(d, within=2)),
    ("returning_customer_rate", "orders", lambda d: rl.returning_customer_rate(d, period="quarter")),
    ("survival_orders", "orders", lambda d: rl.survival(d, window=120)),
    ("survival_subscriptions", "subscriptions", lambda d: rl.survival(d, by="plan", ci="log")),
    ("mrr_movements", "subscriptions", rl.mrr_movements),
    ("mrr_movements_as_of", "subscriptions", lambda d: rl.mrr_movements(d, by="plan", as_of=dt.date(2023, 9, 15))),
]

# dask's collections are untyped: handled as Any (the kernels take them at run time).
dask: Any = importlib.import_module("dask")
dd: Any = importlib.import_module("dask.dataframe")
Client = Any


@contextmanager
def in_process() -> Iterator[None]:
    """dask's synchronous scheduler and task shuffle: the same partial steps, run in this process (quick)."""
    with dask.config.set({"scheduler": "synchronous", "dataframe.shuffle.method": "tasks"}):
        yield


@pytest.mark.parametrize(("name", "table", "kernel"), AGGREGATES, ids=[a[0] for a in AGGREGATES])
def test_aggregate_equals_local(
    store: dict[str, pl.DataFrame], store_files: dict[str, Path], name: str, table: str, kernel: Kernel
) -> None:
    with in_process():
        distributed = kernel(rld.read_parquet(store_files[table], partition_rows=300))
    local = kernel(store[table])
    assert isinstance(distributed, pl.DataFrame)
    assert distributed.height > 0
    assert_frame_equal(distributed, local)


def test_aggregates_on_cluster_equal_local(
    client: Client, store: dict[str, pl.DataFrame], store_files: dict[str, Path]
) -> None:
    """On worker processes (partitions, steps and results pickled between processes): the same frames."""
    orders = rld.read_parquet(store_files["orders"], partition_rows=300)
    subscriptions = rld.read_parquet(store_files["subscriptions"], partition_rows=300)
    cases: list[tuple[Kernel, Any, pl.DataFrame]] = [
        (lambda d: rl.cohort_retention(d, revenue=True), orders, store["orders"]),
        (rl.mrr_movements, subscriptions, store["subscriptions"]),
    ]
    for kernel, distributed, local in cases:
        assert_frame_equal(kernel(distributed), kernel(local))


def test_rfm_stays_distributed_and_equals_local(
    client: Client, store: dict[str, pl.DataFrame], store_files: dict[str, Path]
) -> None:
    ddf = rld.read_parquet(store_files["orders"], partition_rows=300)
    result: Any = rld.rfm(ddf, freq="W")
    assert isinstance(result, dd.DataFrame)
    got = as_polars(result.compute()).sort("customer_id")
    assert_frame_equal(got, rl.rfm(store["orders"], freq="W"))
    # per segment, each with its own end of observation (its last order)
    per_currency: Any = rld.rfm(ddf, by="currency")
    by_currency = as_polars(per_currency.compute()).sort("currency", "customer_id")
    assert_frame_equal(by_currency, rl.rfm(store["orders"], by="currency"))


def test_fits_from_statistics(client: Client, store: dict[str, pl.DataFrame], store_files: dict[str, Path]) -> None:
    ddf = rld.read_parquet(store_files["orders"], partition_rows=300)
    summary = rld.rfm(ddf, freq="D", freq_multiplier=7)
    stats = rld.rfm_statistics(summary)
    local = rl.rfm(store["orders"], freq="D", freq_multiplier=7)
    assert stats["_customers"].sum() == local.height
    assert stats.height == local.select("frequency", "recency", "T").unique().height
    # BG/NBD: the compressed statistics in the local frame's order: the same fit, exactly
    remote, here = BetaGeo().fit(stats), BetaGeo().fit(local)
    assert remote.params == here.params
    assert remote.fitted.log_likelihood == here.fitted.log_likelihood
    # Gamma-Gamma: the distinct (frequency, monetary_value) in their first customer's order either way: exactly
    spend = rld.rfm_statistics(summary, monetary=True)
    remote_gg, here_gg = GammaGamma().fit(spend), GammaGamma().fit(local)
    assert remote_gg.params == here_gg.params
    assert remote_gg.fitted.log_likelihood == here_gg.fitted.log_likelihood
    assert remote_gg.fitted.standard_errors == here_gg.fitted.standard_errors
    assert remote_gg.fitted.excluded == here_gg.fitted.excluded


def test_declared_and_indexed_partitions(client: Client, store: dict[str, pl.DataFrame], tmp_path: Path) -> None:
    orders = store["orders"]
    buckets = orders.with_columns(b=pl.col("customer_id").hash(seed=1) % 3)
    for b in range(3):  # files written per customer bucket: declared, no shuffle
        buckets.filter(pl.col("b") == b).drop("b").write_parquet(tmp_path / f"bucket-{b}.parquet")
    declared = rld.read_parquet(tmp_path, by_customer=True)
    assert rld.is_by_customer(declared)
    assert_frame_equal(rl.cohort_retention(declared, revenue=True), rl.cohort_retention(orders, revenue=True))
    indexed = dd.from_pandas(orders.to_pandas(use_pyarrow_extension_array=True), npartitions=4).set_index("customer_id")
    assert rld.is_by_customer(indexed)
    assert_frame_equal(rl.retention_rate(indexed), rl.retention_rate(orders))
    assert not rld.is_by_customer(rld.read_parquet(tmp_path))


def test_errors_travel_from_the_workers(client: Client, store: dict[str, pl.DataFrame]) -> None:
    orders = store["orders"].with_columns(
        pl.when(pl.int_range(pl.len()) == 7)
        .then(pl.lit("abc"))
        .otherwise(pl.col("amount").cast(pl.String))
        .alias("amount")
    )
    ddf = dd.from_pandas(orders.to_pandas(use_pyarrow_extension_array=True), npartitions=3)
    with pytest.raises(DataError, match="amount") as caught:
        rl.cohort_retention(ddf, revenue=True)
    assert caught.value.problems and caught.value.problems[0].column == "amount"
    subscriptions = store["subscriptions"].with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(pl.lit("EUR")).otherwise(pl.col("currency")).alias("currency")
    )
    mixed = dd.from_pandas(subscriptions.to_pandas(use_pyarrow_extension_array=True), npartitions=2)
    with pytest.raises(CurrencyError):
        rl.mrr_movements(mixed)


def test_unsupported_kernels_and_paths_say_so(store: dict[str, pl.DataFrame]) -> None:
    ddf = dd.from_pandas(store["orders"].to_pandas(use_pyarrow_extension_array=True), npartitions=2)
    with pytest.raises(OptionError, match="does not run on a dask DataFrame"):
        rl.revenue_retention(ddf)
    with pytest.raises(OptionError, match=r"retainlib\.dask\.rfm"):
        rl.rfm(ddf)
    with pytest.raises(OptionError, match="local data only"):
        rl.retention_rate(ddf, period="day")  # more than 62 periods: the activity plan
    with pytest.raises(SchemaError, match="no_such_column"):  # the schema is checked at the call, nothing read
        rl.retention_rate(ddf, by="no_such_column")


def test_core_never_imports_dask() -> None:
    code = (
        "import sys, polars as pl, retainlib as rl\nfrom retainlib.samples import synthetic_tables\n"
        "orders = synthetic_tables(50, seed=1, events=False)['orders']\n"
        "rl.retention_rate(orders); rl.survival(orders, window=30)\n"
        "assert not [m for m in sys.modules if m == 'dask' or m.startswith('dask.')], 'dask imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


PERIODS: list[PeriodName] = ["month", "quarter"]
SMALL: dict[str, Any] = {
    "min_size": 0,
    "max_size": 30,
    "customers": 6,
    "currencies": ("USD",),
    "start": dt.datetime(2023, 1, 1, tzinfo=dt.UTC),
    "end": dt.datetime(2024, 7, 1, tzinfo=dt.UTC),
}


@settings(max_examples=12, deadline=None)
@given(frame=orders_strategy(**SMALL), partitions=st.integers(1, 4), period=st.sampled_from(PERIODS))
def test_any_orders_any_partitions(frame: pl.DataFrame, partitions: int, period: PeriodName) -> None:
    """Property: on any small orders table, split any way (dask's own scheduler, in process), the same frames."""
    ddf = dd.from_pandas(frame.to_pandas(use_pyarrow_extension_array=True), npartitions=partitions)
    kernels: list[Kernel] = [
        lambda d: rl.retention_rate(d, period=period),
        lambda d: rl.cohort_retention(d, period=period, revenue=True),
        lambda d: rl.repeat_purchase_rate(d, cohorts=True, period=period),
        lambda d: rl.survival(d, window=30),
    ]
    with in_process():
        for kernel in kernels:
            assert_frame_equal(kernel(ddf), kernel(frame))
