"""The synthetic store written into a database as a connector would have synced it (Fivetran, Airbyte).

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
* ``airbyte_shopify``: streams ``orders`` (``total_price`` as above,
  ``current_total_price`` the kept amount, the customer as a JSON object with a
  null top-level ``customer_id``, as the connector leaves it by default),
  ``customers`` and ``transactions`` (the refunds, plus a failed refund that
  must not count).
* ``airbyte_stripe``: streams ``charges``, ``customers``, ``subscriptions``
  (times as epoch seconds: ``BIGINT``, or ``DECIMAL`` for ``ended_at`` and
  ``canceled_at``; the item and its price as JSON), ``subscription_items``
  and ``prices``.

Airbyte streams are written as Postgres destination v3 writes them (typed
columns, objects as JSON, plus ``_airbyte_raw_id``, ``_airbyte_extracted_at``,
``_airbyte_meta``, ``_airbyte_generation_id``), or with ``airbyte="json"`` as
raw JSON blobs (``_airbyte_data``) in ``airbyte_internal.raw_<schema>__<stream>``.
With ``append=True`` every third record is also synced in an older version
(an earlier cursor and extraction time, other values), as incremental append
mode leaves it.

Ids stay the store's ids (text), so the tables read back compare equal to the
store.  Writing needs ``duckdb`` or ``adbc-driver-postgresql`` (both installed
with ``retainlib-warehouse``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, cast

import polars as pl

from retainlib._dataset import Dataset
from retainlib.errors import OptionError, SourceError
from retainlib.tables import MONEY

__all__ = ["AirbyteStorage", "Layout", "connector_tables", "load_synthetic", "write_airbyte", "write_tables"]

Layout = Literal["fivetran_shopify", "fivetran_shopify_graphql", "fivetran_stripe", "airbyte_shopify", "airbyte_stripe"]
_LAYOUTS: tuple[Layout, ...] = (
    "fivetran_shopify",
    "fivetran_shopify_graphql",
    "fivetran_stripe",
    "airbyte_shopify",
    "airbyte_stripe",
)
AirbyteStorage = Literal["typed", "json"]
#: The refund added on top of every seventh order's amount, as in the Shopify export writer.
_REFUND = "5.00"
_SYNCED = pl.lit("2025-01-02 03:04:05").str.to_datetime(time_zone="UTC")


def _seconds(column: str) -> pl.Expr:
    return pl.col(column).dt.truncate("1s")


def _frames(data: Dataset) -> dict[str, pl.DataFrame]:
    return {name: frame.collect() for name, frame in data.tables.items()}


def _shop_orders(orders: pl.DataFrame, customers: pl.DataFrame | None) -> pl.DataFrame:
    """The store's orders as a shop sees them, by time: ``_n`` (0, 1, ...), the customer's ``email``,
    ``_refunded`` (every 7th order, partly refunded by ``_REFUND``) and ``_total`` (the amount charged)."""
    emails = (
        customers.select("customer_id", "email")
        if customers is not None
        else pl.DataFrame(schema={"customer_id": pl.String, "email": pl.String})
    )
    refund = pl.lit(_REFUND).cast(MONEY)
    refunded = (pl.col("_n") % 7 == 3) & (pl.col("amount") > refund)
    return (
        orders.sort("ordered_at", "order_id")
        .with_row_index("_n")
        .join(emails, on="customer_id", how="left", maintain_order="left")
        .with_columns(
            pl.when(refunded).then(pl.col("amount") + refund).otherwise(pl.col("amount")).alias("_total"),
            refunded.alias("_refunded"),
        )
    )


def _shopify(data: Dataset, *, graphql: bool, shop_tz: str) -> dict[str, pl.DataFrame]:
    t = _frames(data)
    orders, customers = t["orders"], t.get("customers")
    ranked = _shop_orders(orders, customers)
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
        pl.lit(_REFUND).cast(MONEY).cast(pl.Decimal(18, 2)).alias(subtotal),
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
        # A monthly price when the MRR is whole cents, else the yearly price it was normalised from (the
        # prices the Stripe subscriptions export writer gives the same segments).
        from retainlib._exports.stripe import prices

        priced = prices(subs.lazy()).collect()
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


# --- Airbyte ---------------------------------------------------------------------------------

_EXTRACTED = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
_META = '{"sync_id":1,"changes":[]}'


def _epoch(column: str) -> pl.Expr:
    return pl.col(column).dt.epoch("s")


def _airbyte_shopify(data: Dataset) -> dict[str, pl.DataFrame]:
    t = _frames(data)
    orders, customers = t["orders"], t.get("customers")
    ranked = _shop_orders(orders, customers)
    refund = pl.lit(_REFUND).cast(MONEY)
    number = pl.Decimal(38, 9)
    order = ranked.select(
        pl.col("order_id").alias("id"),
        pl.format("#{}", pl.col("_n") + 1001).alias("name"),
        pl.col("email"),
        pl.lit(None, pl.Int64).alias("customer_id"),  # null unless the connector is told to fill it
        pl.struct(pl.col("customer_id").alias("id"), pl.col("email")).alias("customer"),
        _seconds("ordered_at").alias("created_at"),
        (_seconds("ordered_at") + pl.duration(days=1)).alias("updated_at"),
        pl.col("_total").cast(number).alias("total_price"),
        pl.col("amount").cast(number).alias("current_total_price"),
        pl.col("currency"),
        pl.when(pl.col("_refunded"))
        .then(pl.lit("partially_refunded"))
        .otherwise(pl.lit("paid"))
        .alias("financial_status"),
        pl.lit(False).alias("test"),
        pl.lit(None, pl.Datetime("us", "UTC")).alias("cancelled_at"),
        pl.lit(None, pl.Datetime("us", "UTC")).alias("deleted_at"),
    )
    refunds = ranked.filter(pl.col("_refunded"))
    transaction = pl.concat(
        [
            refunds.select(
                pl.format("{}-r", pl.col("order_id")).alias("id"),
                pl.col("order_id"),
                refund.cast(number).alias("amount"),
                pl.col("currency"),
                pl.lit("refund").alias("kind"),
                pl.lit("success").alias("status"),
                pl.lit(False).alias("test"),
                (_seconds("ordered_at") + pl.duration(hours=2)).alias("created_at"),
            ),
            refunds.select(  # a refund that failed: it gave nothing back
                pl.format("{}-f", pl.col("order_id")).alias("id"),
                pl.col("order_id"),
                pl.lit(1).cast(number).alias("amount"),
                pl.col("currency"),
                pl.lit("refund").alias("kind"),
                pl.lit("failure").alias("status"),
                pl.lit(False).alias("test"),
                (_seconds("ordered_at") + pl.duration(hours=1)).alias("created_at"),
            ),
        ]
    )
    out = {"orders": order, "transactions": transaction}
    if customers is not None:
        names = (
            customers["name"].cast(pl.String) if "name" in customers.columns else pl.Series([None] * customers.height)
        )
        parts = names.str.splitn(" ", 2)
        out["customers"] = customers.select(
            pl.col("customer_id").alias("id"),
            pl.col("email"),
            parts.struct.field("field_0").alias("first_name"),
            parts.struct.field("field_1").alias("last_name"),
            _seconds("created_at").alias("created_at"),
            (_seconds("created_at") + pl.duration(days=1)).alias("updated_at"),
            pl.lit("enabled").alias("state"),
        )
    return out


def _airbyte_stripe(data: Dataset) -> dict[str, pl.DataFrame]:
    t = _frames(data)
    out: dict[str, pl.DataFrame] = {}
    out["charges"] = t["orders"].select(
        pl.col("order_id").alias("id"),
        pl.lit("charge").alias("object"),
        pl.col("customer_id").alias("customer"),
        _epoch("ordered_at").alias("created"),
        _epoch("ordered_at").alias("updated"),
        _cents("amount").alias("amount"),
        pl.lit(0, pl.Int64).alias("amount_refunded"),
        pl.col("currency").str.to_lowercase().alias("currency"),
        pl.lit("succeeded").alias("status"),
        pl.lit(True).alias("paid"),
        pl.lit(True).alias("captured"),
        pl.lit(None, pl.String).alias("invoice"),
        pl.lit(True).alias("livemode"),
    )
    customers = t.get("customers")
    if customers is not None:
        out["customers"] = customers.select(
            pl.col("customer_id").alias("id"),
            _epoch("created_at").alias("created"),
            _epoch("created_at").alias("updated"),
            pl.col("email"),
            pl.col("name") if "name" in customers.columns else pl.lit(None, pl.String).alias("name"),
            pl.lit(False).alias("is_deleted"),
            pl.lit(True).alias("livemode"),
        )
    subs = t.get("subscriptions")
    if subs is not None:
        stripe = _stripe(data)
        prices = stripe["price"]
        price = pl.struct(
            pl.col("_price").alias("id"),
            pl.col("_unit").cast(pl.Float64).alias("unit_amount"),
            pl.col("currency").str.to_lowercase().alias("currency"),
            pl.struct(pl.col("_interval").alias("interval"), pl.lit(1, pl.Int64).alias("interval_count")).alias(
                "recurring"
            ),
        )
        priced = subs.join(
            stripe["subscription_item"].select(
                pl.col("subscription_id"), pl.col("price_id").alias("_price"), pl.col("id").alias("_item")
            ),
            on="subscription_id",
            how="left",
            maintain_order="left",
        ).join(
            prices.select(
                pl.col("id").alias("_price"),
                pl.col("unit_amount").alias("_unit"),
                pl.col("recurring_interval").alias("_interval"),
            ),
            on="_price",
            how="left",
            maintain_order="left",
        )
        ended = _epoch("ended_at").cast(pl.Decimal(38, 9))
        out["subscriptions"] = priced.select(
            pl.col("subscription_id").alias("id"),
            pl.col("customer_id").alias("customer"),
            pl.when(pl.col("ended_at").is_null()).then(pl.lit("active")).otherwise(pl.lit("canceled")).alias("status"),
            _epoch("started_at").alias("created"),
            pl.coalesce(_epoch("ended_at"), _epoch("started_at")).alias("updated"),
            _epoch("started_at").alias("start_date"),
            _epoch("started_at").alias("current_period_start"),
            ended.alias("ended_at"),
            ended.alias("canceled_at"),
            pl.lit(1, pl.Int64).alias("quantity"),
            pl.lit(True).alias("livemode"),
            pl.struct(
                pl.concat_list(
                    pl.struct(pl.col("_item").alias("id"), price.alias("price"), pl.lit(1, pl.Int64).alias("quantity"))
                ).alias("data")
            ).alias("items"),
        )
        out["subscription_items"] = priced.select(
            pl.col("_item").alias("id"),
            pl.col("subscription_id").alias("subscription"),
            pl.lit(1, pl.Int64).alias("quantity"),
            price.alias("price"),
            _epoch("started_at").alias("created"),
            _epoch("started_at").alias("updated"),
        )
        out["prices"] = prices.select(
            "id",
            pl.col("unit_amount").cast(pl.Decimal(38, 9)),
            "currency",
            pl.struct(
                pl.col("recurring_interval").alias("interval"),
                pl.col("recurring_interval_count").alias("interval_count"),
            ).alias("recurring"),
            pl.lit("recurring").alias("type"),
            pl.lit(True).alias("active"),
            pl.lit(0, pl.Int64).alias("updated"),
        )
    return out


def _older_versions(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Every third record again, as an earlier sync saw it: an earlier cursor, other values."""
    older = frame.gather_every(3)
    changes: list[pl.Expr] = []
    cols = frame.schema
    for column in ("updated_at", "updated", "created_at"):
        if column in cols and column != "created_at":
            kind = cols[column]
            earlier = pl.col(column) - (pl.duration(hours=1) if isinstance(kind, pl.Datetime) else pl.lit(3600))
            changes.append(earlier.alias(column))
            break
    if name == "orders":
        changes += [pl.lit("pending").alias("financial_status"), (pl.col("total_price") + 1).alias("total_price")]
    elif name == "subscriptions":
        changes += [
            pl.lit("active").alias("status"),
            pl.lit(None, cols["ended_at"]).alias("ended_at"),
            pl.lit(None, cols["canceled_at"]).alias("canceled_at"),
        ]
    elif name in {"charges", "customers"} and "email" in cols:
        changes.append(pl.lit("old@example.com").alias("email"))
    elif name == "charges":
        changes.append((pl.col("amount") + 100).alias("amount"))
    return older.with_columns(changes)


def _airbyte(
    data: Dataset, layout: Layout, *, storage: AirbyteStorage, append: bool
) -> tuple[dict[str, pl.DataFrame], dict[str, list[str]]]:
    """Airbyte streams: ``(tables, their JSON columns)``, typed (v3) or raw JSON blobs."""
    streams = _airbyte_shopify(data) if layout == "airbyte_shopify" else _airbyte_stripe(data)
    tables: dict[str, pl.DataFrame] = {}
    json_columns: dict[str, list[str]] = {}
    for name, frame in streams.items():
        versions = [(frame, _EXTRACTED)]
        if append and name != "prices":
            versions.insert(0, (_older_versions(name, frame), _EXTRACTED - dt.timedelta(days=30)))
        parts = []
        for number, (part, extracted) in enumerate(versions):
            parts.append(
                part.with_columns(
                    pl.format("{}-{}-{}", pl.lit(name), pl.lit(number), pl.int_range(pl.len())).alias(
                        "_airbyte_raw_id"
                    ),
                    pl.lit(extracted).alias("_airbyte_extracted_at"),
                )
            )
        rows = pl.concat(parts)
        objects = [c for c, kind in frame.schema.items() if isinstance(kind, pl.Struct)]
        if storage == "typed":
            tables[name] = rows.with_columns(
                *(pl.col(c).struct.json_encode() for c in objects),
                pl.lit(_META).alias("_airbyte_meta"),
                pl.lit(0, pl.Int64).alias("_airbyte_generation_id"),
            )
            json_columns[name] = [*objects, "_airbyte_meta"]
        else:
            record = list(frame.columns)
            plain = rows.with_columns(
                *(
                    pl.col(c).dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%SZ")
                    for c, kind in frame.schema.items()
                    if isinstance(kind, pl.Datetime)
                ),
                *(pl.col(c).cast(pl.Float64) for c, kind in frame.schema.items() if isinstance(kind, pl.Decimal)),
            )
            tables[name] = plain.select(
                "_airbyte_raw_id",
                pl.struct(record).struct.json_encode().alias("_airbyte_data"),
                "_airbyte_extracted_at",
                pl.col("_airbyte_extracted_at").alias("_airbyte_loaded_at"),
            )
            json_columns[name] = ["_airbyte_data"]
    return tables, json_columns


def connector_tables(
    data: Dataset,
    layout: Layout = "fivetran_shopify",
    *,
    shop_tz: str = "America/New_York",
    airbyte: AirbyteStorage = "typed",
    append: bool = False,
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
    airbyte
        Airbyte layouts: ``"typed"`` (Postgres destination v3 tables, objects as JSON text) or
        ``"json"`` (raw tables of ``_airbyte_data`` JSON records, one per stream name).
    append
        Airbyte layouts: add older versions of every third record (incremental append mode).
    """
    layout = OptionError.one_of(
        layout, _LAYOUTS, option="layout", message=f"layout is one of {', '.join(_LAYOUTS)}, got {layout!r}"
    )
    if data.orders is None:
        raise OptionError("the dataset has no orders to write", option="data", value=None)
    if layout.startswith("airbyte_"):
        return _airbyte(data, layout, storage=airbyte, append=append)[0]
    if layout == "fivetran_stripe":
        return _stripe(data)
    return _shopify(data, graphql=layout == "fivetran_shopify_graphql", shop_tz=shop_tz)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def write_tables(
    target: str | Path,
    tables: Mapping[str, pl.DataFrame],
    *,
    schema: str | None = None,
    json_columns: Mapping[str, Iterable[str]] | None = None,
) -> None:
    """Write frames as database tables (replacing tables of the same names).

    ``target`` is a DuckDB file path (or ``duckdb:///path``), or a PostgreSQL
    connection string (``postgresql://...``).  ``schema`` is created if needed.
    ``json_columns`` names, per table, the text columns holding JSON: they
    become ``JSONB`` (PostgreSQL) or ``JSON`` (DuckDB) columns.
    """
    text = str(target)
    json = {name: list(columns) for name, columns in (json_columns or {}).items()}
    if text.startswith(("postgresql:", "postgres:")):
        _write_postgres(text, tables, schema, json)
    else:
        path = text.removeprefix("duckdb://").removeprefix("duckdb:") if text.startswith("duckdb:") else text
        _write_duckdb(path, tables, schema, json)


def _write_duckdb(
    path: str, tables: Mapping[str, pl.DataFrame], schema: str | None, json: Mapping[str, list[str]]
) -> None:
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
            for column in json.get(name, ()):
                con.execute(f"ALTER TABLE {full} ALTER {_quote(column)} TYPE JSON")
    finally:
        con.close()


def _write_postgres(
    uri: str, tables: Mapping[str, pl.DataFrame], schema: str | None, json: Mapping[str, list[str]]
) -> None:
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
            for column in json.get(name, ()):
                c = _quote(column)
                cur.execute(f"ALTER TABLE {full} ALTER COLUMN {c} TYPE JSONB USING {c}::jsonb")
        cur.close()
        con.commit()
    finally:
        con.close()


def write_airbyte(
    target: str | Path,
    data: Dataset,
    layout: Literal["airbyte_shopify", "airbyte_stripe"],
    *,
    schema: str | None = None,
    airbyte: AirbyteStorage = "typed",
    append: bool = False,
) -> None:
    """Write ``data`` as an Airbyte connection would have synced it into ``schema`` (its namespace).

    Typed streams go to ``schema.<stream>``; raw JSON streams to
    ``airbyte_internal.raw_<schema>__<stream>`` (``schema`` defaulting to the
    database's own: ``public`` in PostgreSQL, ``main`` in DuckDB).
    """
    tables, json = _airbyte(data, layout, storage=airbyte, append=append)
    if airbyte == "typed":
        write_tables(target, tables, schema=schema, json_columns=json)
        return
    postgres = str(target).startswith(("postgresql:", "postgres:"))
    namespace = schema or ("public" if postgres else "main")
    write_tables(
        target,
        {f"raw_{namespace}__{name}": frame for name, frame in tables.items()},
        schema="airbyte_internal",
        json_columns={f"raw_{namespace}__{name}": columns for name, columns in json.items()},
    )


def load_synthetic(
    target: str | Path,
    layout: Layout = "fivetran_shopify",
    *,
    customers: int = 2_000,
    seed: int = 0,
    schema: str | None = None,
    shop_tz: str = "America/New_York",
    airbyte: AirbyteStorage = "typed",
    append: bool = False,
) -> Dataset:
    """Write the synthetic store (:func:`retainlib.samples.synthetic_store`) into a database in a connector layout.

    Returns the store written (its canonical tables), to compare with what the
    ``sql`` source reads back.  ``airbyte`` and ``append`` shape the Airbyte
    layouts (see :func:`write_airbyte`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "shop.duckdb"
    >>> store = load_synthetic(path, "fivetran_shopify", customers=50)  # doctest: +SKIP
    """
    from retainlib.samples import synthetic_store

    store = synthetic_store(customers, seed=seed, events=False)
    if layout in ("airbyte_shopify", "airbyte_stripe"):
        write_airbyte(target, store, cast(Any, layout), schema=schema, airbyte=airbyte, append=append)
    else:
        write_tables(target, connector_tables(store, layout, shop_tz=shop_tz), schema=schema)
    return store
