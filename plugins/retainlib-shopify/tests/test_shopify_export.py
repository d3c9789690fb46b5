"""The Shopify export writers (``retainlib._exports.shopify``) read back by the ``shopify`` source."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import retainlib as rl
import retainlib_shopify as shopify
from retainlib import _host
from retainlib._exports.shopify import ORDERS_HEADER, write_customers_export, write_orders_export
from retainlib.errors import OptionError
from retainlib.load_report import LoadReport
from retainlib.samples import synthetic_store
from retainlib.tables import CUSTOMERS
from retainlib.testing import assert_report_balanced
from retainlib.testing.strategies import orders

HOST = _host.build_host(entry_points=False, plugins=[shopify])


def table(ds: rl.Dataset, name: str) -> pl.DataFrame:
    """A table of a dataset, collected (it must be there)."""
    frame = getattr(ds, name)
    assert frame is not None, f"no {name} table"
    result: pl.DataFrame = frame.collect()
    return result


def report(ds: rl.Dataset) -> LoadReport:
    """The load report of a dataset read from files."""
    assert ds.report is not None
    return ds.report


CANONICAL = ["order_id", "customer_id", "ordered_at", "amount", "currency"]


def read(paths: list[Path], **options: str) -> rl.Dataset:
    return HOST.read(HOST.sources["shopify"], paths, options)


def to_the_second(frame: pl.DataFrame) -> pl.DataFrame:
    """Orders as an export keeps them: canonical columns, times to the whole second, sorted by id."""
    return frame.select(CANONICAL).with_columns(pl.col("ordered_at").dt.truncate("1s")).sort("order_id")


def test_a_store_written_as_exports_reads_back_as_the_same_orders(tmp_path: Path) -> None:
    store = synthetic_store(customers=300, seed=7)
    files = write_orders_export(store, tmp_path, shop_tz="America/New_York", split_rows=97)
    files.append(write_customers_export(store, tmp_path))
    assert [p.name for p in files[:2]] == ["orders_export_1.csv", "orders_export_2.csv"]
    ds = read(files)
    assert_report_balanced(ds)
    original = table(store, "orders")
    assert_frame_equal(to_the_second(table(ds, "orders")), to_the_second(original))
    order_loads = [f for f in report(ds).files if f.table == "orders"]
    assert sum(f.rows_rejected for f in order_loads) == 0
    assert sum(f.records for f in order_loads) == original.height
    assert sum(f.rows_read for f in order_loads) > original.height  # some orders have two line items
    # Customers who ordered are read with their ids, e-mails and first order; the others have no date.
    buyers = table(store, "customers").join(original.select("customer_id").unique(), on="customer_id", how="semi")
    read_back = table(ds, "customers").sort("customer_id")
    first = original.group_by("customer_id").agg(pl.col("ordered_at").min().dt.truncate("1s"))
    assert read_back["customer_id"].to_list() == sorted(buyers["customer_id"])
    assert read_back["email"].to_list() == buyers.sort("customer_id")["email"].to_list()
    assert_frame_equal(
        read_back.select("customer_id", "created_at"),
        first.rename({"ordered_at": "created_at"}).sort("customer_id"),
    )
    load = next(f for f in report(ds).files if f.table == "customers")
    assert load.rows_rejected == table(store, "customers").height - buyers.height


def test_the_subtotal_amount_reads_back_the_same(tmp_path: Path) -> None:
    store = synthetic_store(customers=60, seed=3)
    ds = read([*write_orders_export(store, tmp_path), write_customers_export(store, tmp_path)], amount="subtotal")
    assert_frame_equal(to_the_second(table(ds, "orders")), to_the_second(table(store, "orders")))


def test_the_files_look_like_the_admins(tmp_path: Path) -> None:
    store = synthetic_store(customers=40, seed=1)
    (path,) = write_orders_export(store, tmp_path, shop_tz="Asia/Kolkata")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == ORDERS_HEADER
    records = [dict(zip(ORDERS_HEADER, r, strict=True)) for r in rows[1:]]
    created = [r["Created at"] for r in records]
    assert created == sorted(created, reverse=True)  # newest order first
    assert all(c.endswith(" +0530") for c in created)
    follow_ons = [r for r in records if not r["Total"]]
    assert follow_ons and all(not r["Financial Status"] and not r["Id"] and r["Email"] for r in follow_ons)
    refunded = [r for r in records if r["Refunded Amount"] not in ("", "0.00")]
    assert refunded and all(r["Financial Status"] == "partially_refunded" for r in refunded)
    customers = write_customers_export(store, tmp_path).read_text().splitlines()
    assert customers[1].startswith("'c")


orders_frames = orders(min_size=1, max_size=25, customers=6, currencies=("USD", "EUR", "JPY"))
zones = st.sampled_from(["UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham", "America/St_Johns"])


@settings(max_examples=max(10, settings().max_examples // 2))  # each example writes and reads files
@given(frame=orders_frames, tz=zones, split=st.one_of(st.none(), st.integers(1, 7)))
def test_any_orders_read_back_through_the_exports(frame: pl.DataFrame, tz: str, split: int | None) -> None:
    ids = frame["customer_id"].unique()
    customers = pl.DataFrame(
        {"customer_id": ids, "created_at": frame["ordered_at"].min(), "email": ids + "@Example.com"},
        schema_overrides={"created_at": CUSTOMERS.schema["created_at"]},
    )
    data = {"orders": frame, "customers": customers}
    with tempfile.TemporaryDirectory() as folder:
        files = write_orders_export(data, folder, shop_tz=tz, split_rows=split)
        files.append(write_customers_export(data, folder))
        ds = read(files)
    assert_frame_equal(to_the_second(table(ds, "orders")), to_the_second(frame))
    assert report(ds).rows_rejected == 0


def test_a_customer_without_email_leaves_the_orders_unidentified(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {"order_id": ["o1"], "customer_id": ["c1"], "ordered_at": ["2024-03-01T10:00:00Z"], "amount": ["5"],
         "currency": ["USD"]}
    )  # fmt: skip
    ds = read(write_orders_export(rl.Dataset(orders=frame), tmp_path))
    assert report(ds).rows_read == 2  # the first order is written as two line items
    assert report(ds).rejects["column"].to_list() == ["Email", "Email"]


@pytest.mark.parametrize(
    ("call", "option"),
    [
        (lambda d, f: write_orders_export(d, f, split_rows=0), "split_rows"),
        (lambda d, f: write_orders_export(d, f, split_rows=True), "split_rows"),
        (lambda d, f: write_orders_export(d, f, shop_tz="Mars/Olympus"), "shop_tz"),
        (lambda d, f: write_orders_export({"customers": d.customers}, f), "data"),
        (lambda d, f: write_orders_export([d], f), "data"),  # type: ignore[arg-type]
        (lambda d, f: write_customers_export({"orders": d.orders}, f), "data"),
        (lambda d, f: write_orders_export({"orders": d.orders.drop("amount")}, f), "data"),
    ],
)
def test_bad_arguments_are_option_errors(tmp_path: Path, call: object, option: str) -> None:
    store = synthetic_store(customers=5, seed=1)
    with pytest.raises(OptionError) as caught:
        call(store, tmp_path)  # type: ignore[operator]
    assert caught.value.option == option
