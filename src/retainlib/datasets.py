"""The synthetic store written into a database as a connector would have synced it (Fivetran layouts).

:func:`connector_tables` turns a :class:`~retainlib.Dataset` (the synthetic
store of :mod:`retainlib.samples`, or any canonical tables) into the tables
Fivetran writes for Shopify (REST or GraphQL flavour) or Stripe, as polars
frames; :func:`write_tables` writes frames into PostgreSQL (through ADBC) or
DuckDB; :func:`load_synthetic` does both.  Tests, docs and benchmarks of the
``sql`` source (plugin ``retainlib-warehouse``) read them back.

What the tables hold (whole seconds, as the connectors store times):

* ``fivetran_shopify``: ``order`` (``total_price``; every seventh order carries
  a refund of 5.00 on top of its amount, as a ``refund`` with an
  ``order_line_refund``, so the kept amount is the canonical amount),
  ``customer``, ``shop``.  The GraphQL flavour names the money columns
  ``*_set_shop_amount`` and the currency ``currency_code``.
* ``fivetran_stripe``: ``charge`` (one per order, integer minor units,
  lower-case currency), ``customer``, ``subscription_history`` (one version
  per canonical subscription segment), ``subscription_item`` and ``price``
  (monthly or yearly prices giving the segment's MRR).

Ids stay the store's ids (text), so the tables read back compare equal to the
store.  Writing needs ``duckdb`` or ``adbc-driver-postgresql`` (both installed
with ``retainlib-warehouse``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import polars as pl

from retainlib._dataset import Dataset
from retainlib.errors import OptionError, SourceError
from retainlib.tables import MONEY

__all__ = ["Layout", "connector_tables", "load_synthetic", "write_tables"]

Layout = Literal["fivetran_shopify", "fivetran_shopify_graphql", "fivetran_stripe"]
_LAYOUTS: tuple[Layout, ...] = ("fivetran_shopify", "fivetran_shopify_graphql", "fivetran_stripe")
#: The refund added on top of every seventh order's amount, as in the Shopify export writer.
_REFUND = "5.00"
_SYNCED = pl.lit("2025-01-02 03:04:05").str.to_datetime(time_zone="UTC")


def _seconds(column: str) -> pl.Expr:
    return pl.col(column).dt.truncate("1s")


def _frames(data: Dataset) -> dict[str, pl.DataFrame]:
    return {name: frame.collect() for name, frame in data.tables.items()}


def _shopify(data: Dataset, *, graphql: bool, shop_tz: str) -> dict[str, pl.DataFrame]:
    t = _frames(data)
    orders, customers = t["orders"], t.get("customers")
    emails = (
        customers.select("customer_id", "email")
        if customers is not None
        else pl.DataFrame(schema={"customer_id": pl.String, "email": pl.String})
    )
    ranked = (
        orders.sort("ordered_at", "order_id")
        .with_row_index("_n")
        .join(emails, on="customer_id", how="left", maintain_order="left")
    )
    refund = pl.lit(_REFUND).cast(MONEY)
    refunded = (pl.col("_n") % 7 == 3) & (pl.col("amount") > refund)
    ranked = ranked.with_columns(
        pl.when(refunded).then(pl.col("amount") + refund).otherwise(pl.col("amount")).alias("_total"),
        refunded.alias("_refunded"),
    )
    currency = orders["currency"][0] if orders.height else "USD"
    money = "total_price_set_shop_amount" if graphql else "total_price"
    order = ranked.select(
        pl.col("order_id").alias("id"),
        pl.col("customer_id"),
        pl.col("email"),
        _seconds("ordered_at").alias("created_at"),
        _seconds("ordered_at").alias("processed_at"),
        pl.col("_total").cast(pl.Decimal(18, 2)).alias(money),
        pl.col("currency").alias("currency_code" if graphql else "currency"),
        pl.when(pl.col("_refunded"))
        .then(pl.lit("PARTIALLY_REFUNDED" if graphql else "partially_refunded"))
        .otherwise(pl.lit("PAID" if graphql else "paid"))
        .alias("display_financial_status" if graphql else "financial_status"),
        pl.lit(False).alias("test"),
        pl.lit(None, pl.Datetime("us", "UTC")).alias("cancelled_at"),
        pl.lit(False).alias("_fivetran_deleted"),
        _SYNCED.alias("_fivetran_synced"),
    )
    refunds = ranked.filter(pl.col("_refunded"))
    refund_table = refunds.select(
        pl.format("r{}", pl.col("order_id")).alias("id"),
        pl.col("order_id"),
        _seconds("ordered_at").alias("created_at"),
        _SYNCED.alias("_fivetran_synced"),
    )
    subtotal, tax = ("subtotal_set_shop_amount", "total_tax_set_shop_amount") if graphql else ("subtotal", "total_tax")
    line_refund = refunds.select(
        pl.format("l{}", pl.col("order_id")).alias("id"),
        pl.format("r{}", pl.col("order_id")).alias("refund_id"),
        pl.lit(1, pl.Int64).alias("quantity"),
        refund.cast(pl.Decimal(18, 2)).alias(subtotal),
        pl.lit("0").cast(pl.Decimal(18, 2)).alias(tax),
        pl.lit("return").alias("restock_type"),
        _SYNCED.alias("_fivetran_synced"),
    )
    out = {"order": order, "refund": refund_table, "order_line_refund": line_refund}
    if customers is not None:
        names = (
            customers["name"].cast(pl.String) if "name" in customers.columns else pl.Series([None] * customers.height)
        )
        parts = names.str.splitn(" ", 2)
        out["customer"] = customers.select(
            pl.col("customer_id").alias("id"),
            pl.col("email"),
            parts.struct.field("field_0").alias("first_name"),
            parts.struct.field("field_1").alias("last_name"),
            _seconds("created_at").alias("created_at"),
            _seconds("created_at").alias("updated_at"),
            pl.lit("enabled").alias("state"),
            pl.lit(False).alias("_fivetran_deleted"),
            _SYNCED.alias("_fivetran_synced"),
        )
    out["shop"] = pl.DataFrame(
        {
            "id": ["1"],
            ("currency_code" if graphql else "currency"): [currency],
            "iana_timezone": [shop_tz],
            "_fivetran_deleted": [False],
        }
    )
    return out


def _cents(column: str) -> pl.Expr:
    return (pl.col(column).cast(MONEY) * 100).cast(pl.Int64)


def _stripe(data: Dataset) -> dict[str, pl.DataFrame]:
    t = _frames(data)
    out: dict[str, pl.DataFrame] = {}
    orders = t["orders"]
    out["charge"] = orders.select(
        pl.col("order_id").alias("id"),
        pl.col("customer_id"),
        _seconds("ordered_at").alias("created"),
        _cents("amount").alias("amount"),
        pl.lit(0, pl.Int64).alias("amount_refunded"),
        pl.col("currency").str.to_lowercase().alias("currency"),
        pl.lit("succeeded").alias("status"),
        pl.lit(True).alias("paid"),
        pl.lit(True).alias("captured"),
        pl.lit(False).alias("refunded"),
        pl.lit(None, pl.String).alias("invoice_id"),
        pl.lit(True).alias("livemode"),
        _SYNCED.alias("_fivetran_synced"),
    )
    customers = t.get("customers")
    if customers is not None:
        out["customer"] = customers.select(
            pl.col("customer_id").alias("id"),
            _seconds("created_at").alias("created"),
            pl.col("email"),
            pl.col("name") if "name" in customers.columns else pl.lit(None, pl.String).alias("name"),
            pl.lit(False).alias("is_deleted"),
            pl.lit(True).alias("livemode"),
            _SYNCED.alias("_fivetran_synced"),
        )
    subs = t.get("subscriptions")
    if subs is not None:
        # A monthly price when the MRR is whole cents, else the yearly price it was normalised from.
        cents4 = (pl.col("mrr").cast(MONEY) * 10_000).cast(pl.Int64)
        monthly = cents4 % 100 == 0
        yearly_cents = (pl.col("mrr").cast(MONEY) * 12).round(0).cast(pl.Int64) * 100
        priced = subs.with_columns(
            pl.when(monthly).then(cents4 // 100).otherwise(yearly_cents).alias("_unit"),
            pl.when(monthly).then(pl.lit("month")).otherwise(pl.lit("year")).alias("_interval"),
        ).with_columns(pl.format("price_{}_{}_{}", "_interval", "_unit", pl.col("currency")).alias("_price"))
        out["subscription_history"] = priced.select(
            pl.col("subscription_id").alias("id"),
            pl.col("customer_id"),
            pl.when(pl.col("ended_at").is_null()).then(pl.lit("active")).otherwise(pl.lit("canceled")).alias("status"),
            _seconds("started_at").alias("created"),
            _seconds("started_at").alias("start_date"),
            _seconds("started_at").alias("current_period_start"),
            _seconds("ended_at").alias("ended_at"),
            _seconds("ended_at").alias("canceled_at"),
            pl.lit(1, pl.Int64).alias("quantity"),
            pl.lit(True).alias("livemode"),
            pl.lit(True).alias("_fivetran_active"),
            _SYNCED.alias("_fivetran_start"),
            _SYNCED.alias("_fivetran_synced"),
        )
        out["subscription_item"] = priced.select(
            pl.format("si_{}", pl.col("subscription_id")).alias("id"),
            pl.col("subscription_id"),
            pl.col("_price").alias("price_id"),
            pl.lit(1, pl.Int64).alias("quantity"),
            _seconds("started_at").alias("created"),
        )
        out["price"] = (
            priced.select(
                pl.col("_price").alias("id"),
                pl.col("_unit").alias("unit_amount"),
                pl.col("currency").str.to_lowercase().alias("currency"),
                pl.col("_interval").alias("recurring_interval"),
                pl.lit(1, pl.Int64).alias("recurring_interval_count"),
                pl.lit("recurring").alias("type"),
                pl.lit(True).alias("active"),
                pl.lit(False).alias("is_deleted"),
            )
            .unique("id", keep="first")
            .sort("id")
        )
    return out


def connector_tables(
    data: Dataset, layout: Layout = "fivetran_shopify", *, shop_tz: str = "America/New_York"
) -> dict[str, pl.DataFrame]:
    """The tables a connector would have written for ``data``: table name -> frame.

    Parameters
    ----------
    data
        Canonical tables (``orders`` at least; ``customers`` and, for Stripe,
        ``subscriptions`` when present).
    layout
        ``"fivetran_shopify"`` (REST flavour), ``"fivetran_shopify_graphql"`` or ``"fivetran_stripe"``.
    shop_tz
        Shopify: the shop's time zone, written to ``shop.iana_timezone``.
    """
    layout = OptionError.one_of(
        layout, _LAYOUTS, option="layout", message=f"layout is one of {', '.join(_LAYOUTS)}, got {layout!r}"
    )
    if data.orders is None:
        raise OptionError("the dataset has no orders to write", option="data", value=None)
    if layout == "fivetran_stripe":
        return _stripe(data)
    return _shopify(data, graphql=layout == "fivetran_shopify_graphql", shop_tz=shop_tz)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def write_tables(target: str | Path, tables: Mapping[str, pl.DataFrame], *, schema: str | None = None) -> None:
    """Write frames as database tables (replacing tables of the same names).

    ``target`` is a DuckDB file path (or ``duckdb:///path``), or a PostgreSQL
    connection string (``postgresql://...``).  ``schema`` is created if needed.
    """
    text = str(target)
    if text.startswith(("postgresql:", "postgres:")):
        _write_postgres(text, tables, schema)
    else:
        path = text.removeprefix("duckdb://").removeprefix("duckdb:") if text.startswith("duckdb:") else text
        _write_duckdb(path, tables, schema)


def _write_duckdb(path: str, tables: Mapping[str, pl.DataFrame], schema: str | None) -> None:
    import duckdb

    con = duckdb.connect(path)
    try:
        if schema:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(schema)}")
        for name, frame in tables.items():
            full = (_quote(schema) + "." if schema else "") + _quote(name)
            arrow = frame.to_arrow()
            con.register("_retainlib_frame", arrow)
            con.execute(f"CREATE OR REPLACE TABLE {full} AS SELECT * FROM _retainlib_frame")
            con.unregister("_retainlib_frame")
    finally:
        con.close()


def _write_postgres(uri: str, tables: Mapping[str, pl.DataFrame], schema: str | None) -> None:
    import adbc_driver_postgresql.dbapi as pg  # type: ignore[import-untyped]

    try:
        con = pg.connect(uri)
    except Exception:
        raise SourceError("cannot connect to the PostgreSQL server to write the tables") from None
    try:
        cur = con.cursor()
        if schema:
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(schema)}")
        for name, frame in tables.items():
            full = (_quote(schema) + "." if schema else "") + _quote(name)
            cur.execute(f"DROP TABLE IF EXISTS {full}")
            arrow: Any = frame.to_arrow()
            cur.adbc_ingest(name, arrow, mode="create", db_schema_name=schema)
        cur.close()
        con.commit()
    finally:
        con.close()


def load_synthetic(
    target: str | Path,
    layout: Layout = "fivetran_shopify",
    *,
    customers: int = 2_000,
    seed: int = 0,
    schema: str | None = None,
    shop_tz: str = "America/New_York",
) -> Dataset:
    """Write the synthetic store (:func:`retainlib.samples.synthetic_store`) into a database in a connector layout.

    Returns the store written (its canonical tables), to compare with what the
    ``sql`` source reads back.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "shop.duckdb"
    >>> store = load_synthetic(path, "fivetran_shopify", customers=50)  # doctest: +SKIP
    """
    from retainlib.samples import synthetic_store

    store = synthetic_store(customers, seed=seed, events=False)
    write_tables(target, connector_tables(store, layout, shop_tz=shop_tz), schema=schema)
    return store
