"""The ``sql`` source on both backends: connector layouts read back equal to the store, each rule by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

import retainlib as rl
from retainlib import datasets
from retainlib.samples import synthetic_store, write_synthetic_exports
from retainlib_warehouse import read_sql

UTC = dt.UTC


def _t(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def _canonical(frame: pl.LazyFrame | pl.DataFrame, columns: list[str], key: str) -> pl.DataFrame:
    eager = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    out = eager.select(columns).sort(key)
    return out.with_columns(pl.col(c).dt.truncate("1s") for c, t in out.schema.items() if isinstance(t, pl.Datetime))


def _rejects(ds: rl.Dataset) -> dict[str, str]:
    assert ds.report is not None
    return dict(zip(ds.report.rejects["file"], ds.report.rejects["reason"], strict=True))


@pytest.mark.parametrize("layout", ["fivetran_shopify", "fivetran_shopify_graphql", "fivetran_stripe"])
def test_synthetic_store_reads_back_equal(database: tuple[str, str], layout: str) -> None:
    uri, schema = database
    store = datasets.load_synthetic(uri, layout, customers=120, seed=3, schema=schema)  # type: ignore[arg-type]
    ds = read_sql(uri, layout=layout.removesuffix("_graphql"), schema=schema)
    assert ds.report is not None
    assert ds.report.rows_read == ds.report.rows_loaded + ds.report.rows_rejected
    assert ds.report.rows_rejected == 0
    names = ["orders", "customers"] + (["subscriptions"] if layout == "fivetran_stripe" else [])
    assert sorted(ds.tables) == sorted(names)
    for name in names:
        spec = rl.tables.TABLES[name]
        columns = spec.schema.names()
        got = _canonical(ds.tables[name], columns, spec.key or columns[0])
        want = _canonical(getattr(store, name), columns, spec.key or columns[0])
        assert got.equals(want), name


def test_shopify_files_and_warehouse_give_equal_datasets(database: tuple[str, str], tmp_path: Path) -> None:
    """The same store as Shopify's admin exports (shopify plugin) and as Fivetran tables: equal orders, customers."""
    uri, schema = database
    files = write_synthetic_exports(tmp_path / "files", 60, seed=5)
    from_files = rl.read("shopify", *files["shopify"])
    store = synthetic_store(60, seed=5, events=False)
    datasets.write_tables(uri, datasets.connector_tables(store, "fivetran_shopify"), schema=schema)
    from_db = read_sql(uri, layout="fivetran_shopify", schema=schema)
    orders = ["order_id", "customer_id", "ordered_at", "amount", "currency", "financial_status"]
    assert _canonical(from_db.tables["orders"], orders, "order_id").equals(
        _canonical(from_files.tables["orders"], orders, "order_id")
    )
    # The customers export has no creation date: the file source loads the customers who ordered (dated by their
    # first order); the warehouse's customer table dates every customer.  On the customers both load, they agree.
    customers = ["customer_id", "created_at", "email"]
    file_customers = _canonical(from_files.tables["customers"], customers, "customer_id")
    db_customers = _canonical(from_db.tables["customers"], customers, "customer_id")
    assert file_customers.height > 0
    assert (
        db_customers.join(file_customers.select("customer_id"), on="customer_id")
        .sort("customer_id")
        .equals(file_customers)
    )


def _rest_orders() -> dict[str, pl.DataFrame]:
    ts = pl.Datetime("us", "UTC")
    order = pl.DataFrame(
        {
            "id": [1, 2, 3, 4, 5, 6, 7, 8],
            "customer_id": [10, 10, 11, None, 12, 13, 14, None],
            "email": ["a@x.com", "a@x.com", "b@x.com", " Guest@X.com ", "c@x.com", "d@x.com", "e@x.com", None],
            "created_at": [_t("2024-03-01 10:00:00")] * 8,
            "currency": ["GBP"] * 8,
            "total_price": [100.01, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0],
            "financial_status": ["paid", "paid", "paid", "paid", "voided", "refunded", "paid", "paid"],
            "test": [False, True, False, False, False, False, False, False],
            "cancelled_at": [None, None, _t("2024-03-02 00:00:00"), None, None, None, None, None],
            "_fivetran_deleted": [False, False, False, False, False, False, True, False],
        },
        schema_overrides={"created_at": ts, "cancelled_at": ts},
    )
    refund = pl.DataFrame({"id": [100, 101], "order_id": [1, 6], "created_at": [_t("2024-03-05 00:00:00")] * 2})
    line = pl.DataFrame(
        {"id": [1000, 1001], "refund_id": [100, 101], "subtotal": [10.0, 55.0], "total_tax": [1.5, 5.0]}
    )
    adjustment = pl.DataFrame(
        {
            "id": [5],
            "order_id": [1],
            "refund_id": [100],
            "amount": [-4.65],
            "tax_amount": [0.0],
            "kind": ["shipping_refund"],
        }
    )
    shop = pl.DataFrame(
        {"id": [1], "currency": ["GBP"], "iana_timezone": ["Europe/London"], "_fivetran_deleted": [False]}
    )
    return {"order": order, "refund": refund, "order_line_refund": line, "order_adjustment": adjustment, "shop": shop}


def test_fivetran_shopify_rest_rules(database: tuple[str, str]) -> None:
    uri, schema = database
    datasets.write_tables(uri, _rest_orders(), schema=schema)
    ds = read_sql(uri, layout="fivetran_shopify", schema=schema)
    assert ds.report is not None
    assert (ds.report.rows_read, ds.report.rows_loaded, ds.report.rows_rejected) == (8, 2, 6)
    orders = ds.tables["orders"].collect().sort("order_id")
    # Order 1: 100.01 - 4.65 (shipping refund adjustment) - 10.00 - 1.50 (refunded line and its tax) = 83.86.
    assert orders["order_id"].to_list() == ["1", "4"]
    assert orders["amount"].to_list() == [Decimal("83.8600"), Decimal("40.0000")]
    assert orders["customer_id"].to_list() == ["10", "guest@x.com"]  # a guest checkout keyed by its e-mail
    assert orders["currency"].to_list() == ["GBP", "GBP"]
    rejects = _rejects(ds)
    table = f"{schema}.order"
    assert rejects[f"{table} id=2"] == "test order"
    assert rejects[f"{table} id=3"] == "cancelled order"
    assert rejects[f"{table} id=5"] == "never paid (financial status voided)"
    assert rejects[f"{table} id=6"] == "fully refunded (nothing kept after refunds)"
    assert rejects[f"{table} id=7"] == "deleted in Shopify (_fivetran_deleted)"
    assert rejects[f"{table} id=8"].startswith("customer_id")  # neither a customer nor an e-mail


def test_fivetran_shopify_graphql_refunds_and_shop_currency(database: tuple[str, str]) -> None:
    """GraphQL flavour: money in *_set_shop_amount, adjustments reached through their refund, currency from shop."""
    uri, schema = database
    order = pl.DataFrame(
        {
            "id": [4001, 4002],
            "customer_id": [1001, 1002],
            "created_at": [_t("2025-07-18 08:45:00"), _t("2025-07-19 08:45:00")],
            "currency_code": [None, "usd"],
            "total_price_set_shop_amount": [49.99, 10.0],
            "display_financial_status": ["PARTIALLY_REFUNDED", "PAID"],
            "test": [False, False],
            "cancelled_at": [None, None],
            "_fivetran_deleted": [False, False],
        },
        schema_overrides={"currency_code": pl.String, "cancelled_at": pl.Datetime("us", "UTC")},
    )
    refund = pl.DataFrame({"id": [7001], "order_id": [4001], "total_refunded_set_shop_amount": [19.99]})
    line = pl.DataFrame(
        {"id": [1], "refund_id": [7001], "subtotal_set_shop_amount": [15.0], "total_tax_set_shop_amount": [1.2]}
    )
    adjustment = pl.DataFrame(
        {"id": [1], "refund_id": [7001], "amount_set_shop_amount": [-3.79], "tax_amount_set_shop_amount": [0.0]}
    )
    shop = pl.DataFrame({"id": [1], "currency_code": ["CAD"], "iana_timezone": ["America/Toronto"]})
    datasets.write_tables(
        uri,
        {"order": order, "refund": refund, "refund_line_item": line, "order_adjustment": adjustment, "shop": shop},
        schema=schema,
    )
    ds = read_sql(uri, layout="fivetran_shopify", schema=schema, tables="orders")
    orders = ds.tables["orders"].collect().sort("order_id")
    assert orders["amount"].to_list() == [Decimal("30.0000"), Decimal("10.0000")]  # 49.99 - 3.79 - 15.00 - 1.20
    assert orders["currency"].to_list() == ["CAD", "USD"]
    assert orders["financial_status"].to_list() == ["partially_refunded", "paid"]


def _stripe_tables() -> dict[str, pl.DataFrame]:
    ts = pl.Datetime("us", "UTC")
    charge = pl.DataFrame(
        {
            "id": ["ch_1", "ch_2", "ch_3", "ch_4", "ch_5", "ch_6", "ch_7"],
            "customer_id": ["cus_1", "cus_1", "cus_2", "cus_2", "cus_3", "cus_1", "cus_1"],
            "created": [_t("2024-01-10 00:00:00")] * 7,
            "amount": [2999, 5000, 1500, 1000, 700, 12000, 3000],
            "amount_refunded": [0, 1000, 0, 1000, 0, 0, 0],
            "currency": ["usd", "usd", "usd", "usd", "jpy", "usd", "usd"],
            "status": ["succeeded", "succeeded", "failed", "succeeded", "succeeded", "succeeded", "succeeded"],
            "captured": [True, True, False, True, True, True, False],
            "invoice_id": [None, None, None, None, None, "in_1", None],
            "livemode": [True] * 7,
        },
        schema_overrides={"created": ts, "invoice_id": pl.String},
    )
    invoice = pl.DataFrame(
        {
            "id": ["in_1", "in_2"],
            "customer_id": ["cus_1", "cus_2"],
            "created": [_t("2024-01-09 00:00:00"), _t("2024-01-09 00:00:00")],
            "status_transitions_paid_at": [_t("2024-01-10 00:00:00"), None],
            "currency": ["usd", "usd"],
            "amount_paid": [12000, 0],
            "status": ["paid", "open"],
            "is_deleted": [False, False],
            "livemode": [True, True],
        },
        schema_overrides={"created": ts, "status_transitions_paid_at": ts},
    )
    customer = pl.DataFrame(
        {
            "id": ["cus_1", "cus_2", "cus_3", "cus_4"],
            "created": [_t("2024-01-01 00:00:00")] * 4,
            "email": ["A@X.COM", None, "c@x.com", "d@x.com"],
            "name": ["Ann", None, "Cy", "Di"],
            "is_deleted": [False, False, False, True],
            "livemode": [True, True, True, True],
        },
        schema_overrides={"created": ts},
    )
    history = pl.DataFrame(
        {
            "id": ["sub_1", "sub_1", "sub_1", "sub_2", "sub_3"],
            "customer_id": ["cus_1", "cus_1", "cus_1", "cus_2", "cus_3"],
            "status": ["trialing", "active", "canceled", "incomplete_expired", "active"],
            "start_date": [_t("2024-01-01 00:00:00")] * 3 + [_t("2024-02-01 00:00:00"), _t("2024-03-01 00:00:00")],
            "current_period_start": [
                _t("2024-01-01 00:00:00"), _t("2024-02-01 00:00:00"), _t("2024-03-01 00:00:00"),
                _t("2024-02-01 00:00:00"), _t("2024-03-01 00:00:00"),
            ],
            "ended_at": [None, None, _t("2024-04-15 00:00:00"), None, None],
            "canceled_at": [None, None, _t("2024-04-15 00:00:00"), None, None],
            "quantity": [1, 1, 3, 1, 2],
            "_fivetran_start": [  # sync times: they only order the versions
                _t("2024-01-02 05:00:00"), _t("2024-02-03 05:00:00"), _t("2024-04-20 05:00:00"),
                _t("2024-02-02 05:00:00"), _t("2024-03-02 05:00:00"),
            ],
            "_fivetran_active": [False, False, True, True, True],
            "livemode": [True] * 5,
        },
        schema_overrides={"ended_at": ts, "canceled_at": ts},
    )  # fmt: skip
    item = pl.DataFrame(
        {
            "id": ["si_1", "si_2", "si_3"],
            "subscription_id": ["sub_1", "sub_2", "sub_3"],
            "plan_id": ["price_m", "price_m", "price_y"],
            "quantity": [3, 1, 2],
        }
    )
    price = pl.DataFrame(
        {
            "id": ["price_m", "price_y"],
            "unit_amount": [2900, 99000],
            "currency": ["usd", "usd"],
            "recurring_interval": ["month", "year"],
            "recurring_interval_count": [1, 1],
        }
    )
    return {
        "charge": charge,
        "invoice": invoice,
        "customer": customer,
        "subscription_history": history,
        "subscription_item": item,
        "price": price,
    }


def test_fivetran_stripe_rules(database: tuple[str, str]) -> None:
    uri, schema = database
    datasets.write_tables(uri, _stripe_tables(), schema=schema)
    ds = read_sql(uri, layout="fivetran_stripe", schema=schema)
    assert ds.report is not None
    assert ds.report.rows_read == ds.report.rows_loaded + ds.report.rows_rejected
    orders = ds.tables["orders"].collect().sort("order_id")
    assert orders.select("order_id", "amount", "currency").rows() == [
        ("ch_1", Decimal("29.9900"), "USD"),
        ("ch_2", Decimal("40.0000"), "USD"),  # 50.00 less 10.00 refunded
        ("ch_5", Decimal("700.0000"), "JPY"),  # zero-decimal currency: 700 yen
        ("in_1", Decimal("120.0000"), "USD"),  # the paid invoice is the order...
    ]
    rejects = _rejects(ds)
    assert rejects[f"{schema}.charge id=ch_6"] == "counted as its invoice in_1"  # ...and its charge a duplicate
    assert rejects[f"{schema}.charge id=ch_3"] == "payment failed (not succeeded)"
    assert rejects[f"{schema}.charge id=ch_4"] == "fully refunded (nothing kept after refunds)"
    assert rejects[f"{schema}.charge id=ch_7"] == "not captured (an authorisation only)"
    assert rejects[f"{schema}.invoice id=in_2"] == "invoice not paid (status open)"
    assert rejects[f"{schema}.customer id=cus_4"] == "deleted in Stripe (is_deleted)"
    customers = ds.tables["customers"].collect().sort("customer_id")
    assert customers["email"].to_list() == ["a@x.com", None, "c@x.com"]
    subs = ds.tables["subscriptions"].collect().sort("subscription_id")
    # sub_1: quantity 1 from its start, 3 from the period that began 2024-03-01 (not the sync time 04-20),
    # ended 2024-04-15; 29.00 a month per unit.  sub_3: 990.00 a year x 2 = 165.00 a month.
    assert subs.select("subscription_id", "started_at", "ended_at", "mrr").rows() == [
        ("sub_1", _t("2024-01-01 00:00:00"), _t("2024-03-01 00:00:00"), Decimal("29.0000")),
        ("sub_1#2", _t("2024-03-01 00:00:00"), _t("2024-04-15 00:00:00"), Decimal("87.0000")),
        ("sub_3", _t("2024-03-01 00:00:00"), None, Decimal("165.0000")),
    ]
    assert rejects[f"{schema}.subscription_history id=sub_2"] == "never started (status incomplete_expired)"


def test_legacy_subscription_table_and_plans(database: tuple[str, str]) -> None:
    uri, schema = database
    tables = _stripe_tables()
    legacy = (
        tables.pop("subscription_history")
        .filter(pl.col("_fivetran_active"))
        .drop("_fivetran_active", "_fivetran_start")
    )
    tables.pop("price")
    plan = pl.DataFrame(
        {"id": ["price_m", "price_y"], "amount": [2900, 99000], "currency": ["usd", "usd"],
         "interval": ["month", "year"], "interval_count": [1, 1]}
    )  # fmt: skip
    datasets.write_tables(uri, {**tables, "subscription": legacy, "plan": plan}, schema=schema)
    ds = read_sql(uri, layout="fivetran_stripe", schema=schema, tables=["subscriptions"])
    subs = ds.tables["subscriptions"].collect().sort("subscription_id")
    assert subs.select("subscription_id", "mrr").rows() == [
        ("sub_1", Decimal("87.0000")),
        ("sub_3", Decimal("165.0000")),
    ]


def test_since_until_are_pushed_into_the_query(database: tuple[str, str]) -> None:
    uri, schema = database
    store = datasets.load_synthetic(uri, "fivetran_shopify", customers=80, seed=2, schema=schema)
    ds = read_sql(
        uri, layout="fivetran_shopify", schema=schema, since="2023-01-01", until=dt.date(2024, 1, 1), tables="orders"
    )
    got = ds.tables["orders"].collect()
    want = store.orders.collect().filter(  # type: ignore[union-attr]
        pl.col("ordered_at")
        .dt.truncate("1s")
        .is_between(_t("2023-01-01 00:00:00"), _t("2024-01-01 00:00:00"), closed="left")
    )
    assert ds.report is not None
    assert ds.report.rows_read == want.height  # the database sent only those rows
    assert sorted(got["order_id"]) == sorted(want["order_id"])
