"""The synthetic store as Stripe Dashboard exports: read back by the ``stripe`` source, and equal to the warehouse.

The export writer (``retainlib._exports.stripe``, joined into ``write_synthetic_exports(stripe=True)``)
is checked here, beside the warehouse: the same store written as Stripe files and loaded into the
warehouse as Fivetran or Airbyte sync it gives equal orders, customers and subscriptions.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import retainlib as rl
from retainlib import datasets
from retainlib._exports import stripe as stripe_exports
from retainlib.samples import synthetic_store, write_synthetic_exports
from retainlib_warehouse import read_sql

pytest.importorskip("retainlib_stripe")

NAMES = ("orders", "customers", "subscriptions")


def _canonical(frame: pl.LazyFrame, name: str) -> pl.DataFrame:
    spec = rl.tables.TABLES[name]
    columns = spec.schema.names()
    out = frame.collect().select(columns).sort(spec.key or columns[0])
    return out.with_columns(pl.col(c).dt.truncate("1s") for c, t in out.schema.items() if isinstance(t, pl.Datetime))


def _amounts(values: list[str]) -> list[str]:
    frame = pl.DataFrame({"a": values}).select(pl.col("a").cast(rl.tables.MONEY))
    return frame.select(stripe_exports.amount_text(pl.col("a"))).to_series().to_list()


def test_amounts_are_written_as_the_dashboard_writes_them() -> None:
    assert _amounts(["0.5", "12", "999.99", "1000", "1234.5", "1234567.891", "100000"]) == [
        "0.50",
        "12.00",
        "999.99",
        "1,000.00",
        "1,234.50",
        "1,234,567.891",
        "100,000.00",
    ]


@given(st.decimals(min_value=0, max_value=10**15, places=4, allow_nan=False, allow_infinity=False))
def test_an_amount_written_reads_back_as_itself(value: Decimal) -> None:
    (text,) = _amounts([str(value)])
    assert Decimal(text.replace(",", "")) == value
    whole = text.split(".")[0]
    assert all(len(group) == 3 for group in whole.split(",")[1:]) and 1 <= len(whole.split(",")[0]) <= 3


def test_stripe_exports_read_back_as_the_store(tmp_path: Path) -> None:
    """Payments, customers and subscriptions exports: the stripe source reads the store back, rejecting the declines."""
    files = write_synthetic_exports(tmp_path, 100, seed=4, stripe=True)
    assert [p.name for p in files["stripe"]] == ["unified_payments.csv", "customers.csv", "subscriptions.csv"]
    store = synthetic_store(100, seed=4, events=False)
    ds = rl.read("stripe", *files["stripe"])
    assert ds.report is not None
    assert ds.report.rows_read == ds.report.rows_loaded + ds.report.rows_rejected
    orders = store.require("orders").collect().sort("ordered_at", "order_id")
    # Every eleventh order (from the sixth) was preceded by a declined attempt: rejected, with its reason.
    declined = ds.report.rejects.filter(pl.col("reason").str.contains("Failed"))
    assert declined.height == ds.report.rows_rejected == len(range(5, orders.height, 11))
    # Every seventh order (from the fourth) was charged 5.00 more and refunded 5.00: its kept amount is loaded.
    payments = pl.read_csv(files["stripe"][0], infer_schema=False)
    refunded = payments.filter(pl.col("Amount Refunded") == "5.00")
    assert (
        refunded.height
        == orders.with_row_index().filter((pl.col("index") % 7 == 3) & (pl.col("amount") > Decimal(5))).height
    )
    for name in NAMES:
        assert _canonical(ds.tables[name], name).equals(_canonical(getattr(store, name), name)), name


def test_a_payment_by_hand(tmp_path: Path) -> None:
    orders = pl.DataFrame(
        {
            "order_id": ["ch_1", "ch_2", "ch_3", "ch_4"],
            "customer_id": ["cus_a", "cus_b", "cus_a", "cus_b"],
            "ordered_at": ["2024-03-01T10:00:00Z", "2024-03-02T10:00:00Z", "2024-03-03T10:00:00Z", "2024-03-04T10:00Z"],
            "amount": ["1500", "20.5", "7", "30"],
            "currency": ["EUR"] * 4,
        }
    ).with_columns(pl.col("ordered_at").str.to_datetime(time_zone="UTC"))
    customers = pl.DataFrame(
        {"customer_id": ["cus_a", "cus_b"], "created_at": ["2024-01-01T00:00:00Z"] * 2, "email": ["a@x.com", None]}
    )
    path = stripe_exports.write_payments_export({"orders": orders, "customers": customers}, tmp_path)
    rows = pl.read_csv(path, infer_schema=False)
    assert rows.columns == list(stripe_exports.PAYMENTS_HEADER)
    got = rows.select("id", "Created date (UTC)", "Amount", "Amount Refunded", "Currency", "Status", "Customer Email")
    # Newest first; the fourth order (index 3) refunded 5.00 on top of its 30.00.
    assert got.rows() == [
        ("ch_4", "2024-03-04 10:00:00", "35.00", "5.00", "eur", "Paid", None),
        ("ch_3", "2024-03-03 10:00:00", "7.00", "0.00", "eur", "Paid", "a@x.com"),
        ("ch_2", "2024-03-02 10:00:00", "20.50", "0.00", "eur", "Paid", None),
        ("ch_1", "2024-03-01 10:00:00", "1,500.00", "0.00", "eur", "Paid", "a@x.com"),
    ]


@pytest.mark.parametrize(("layout", "append"), [("fivetran_stripe", False), ("airbyte_stripe", True)])
def test_stripe_files_and_warehouse_give_equal_datasets(
    database: tuple[str, str], tmp_path: Path, layout: str, append: bool
) -> None:
    """One store, as Stripe Dashboard exports and as the connector's tables: equal orders, customers, subscriptions."""
    uri, schema = database
    files = write_synthetic_exports(tmp_path / "files", 40, seed=6, stripe=True)
    from_files = rl.read("stripe", *files["stripe"])
    store = synthetic_store(40, seed=6, events=False)
    if layout == "fivetran_stripe":
        datasets.write_tables(uri, datasets.connector_tables(store, "fivetran_stripe"), schema=schema)
    else:
        datasets.write_airbyte(uri, store, "airbyte_stripe", schema=schema, append=append)
    from_db = read_sql(uri, layout=layout, schema=schema)
    assert from_db.report is not None and from_files.report is not None
    assert from_db.report.rows_read == from_db.report.rows_loaded + from_db.report.rows_rejected
    assert sorted(from_db.tables) == sorted(from_files.tables) == sorted(NAMES)
    for name in NAMES:
        got, want = _canonical(from_db.tables[name], name), _canonical(from_files.tables[name], name)
        assert got.height > 0, name
        assert got.equals(want), name
