"""Airbyte layouts on both backends: typed (Postgres v3) and JSON-blob tables, append and deduped modes.

The streams' tables are made from the connector's own JSON schemas in the shared data (each property a
column of the type Postgres destination v3 gives it), filled with a few records written here by hand.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import retainlib as rl
from retainlib import datasets
from retainlib.samples import synthetic_store, write_synthetic_exports
from retainlib_warehouse import read_sql

UTC = dt.UTC
T0 = 1_704_067_200  # 2024-01-01 00:00:00 UTC, as Stripe's epoch seconds


def _t(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def _canonical(frame: pl.LazyFrame, columns: list[str], key: str) -> pl.DataFrame:
    out = frame.collect().select(columns).sort(key)
    return out.with_columns(pl.col(c).dt.truncate("1s") for c, t in out.schema.items() if isinstance(t, pl.Datetime))


def _rejects(ds: rl.Dataset) -> dict[str, list[str]]:
    assert ds.report is not None
    out: dict[str, list[str]] = {}
    for where, reason in zip(ds.report.rejects["file"], ds.report.rejects["reason"], strict=True):
        out.setdefault(where, []).append(reason)
    return out


@pytest.mark.parametrize(
    ("layout", "storage", "append"),
    [
        ("airbyte_shopify", "typed", False),
        ("airbyte_shopify", "json", True),
        ("airbyte_stripe", "typed", True),
        ("airbyte_stripe", "json", False),
    ],
)
def test_synthetic_store_reads_back_equal(database: tuple[str, str], layout: str, storage: str, append: bool) -> None:
    uri, schema = database
    store = datasets.load_synthetic(
        uri,
        layout,  # type: ignore[arg-type]
        customers=80,
        seed=7,
        schema=schema,
        airbyte=storage,  # type: ignore[arg-type]
        append=append,
    )
    ds = read_sql(uri, layout=layout, schema=schema)
    assert ds.report is not None
    assert ds.report.rows_read == ds.report.rows_loaded + ds.report.rows_rejected
    reasons = set(ds.report.rejects["reason"])
    assert reasons <= {
        "older version (a later sync of this id is kept: greatest cursor, then latest _airbyte_extracted_at)"
    }
    assert bool(reasons) == append  # only the older versions are rejected
    names = ["orders", "customers"] + (["subscriptions"] if layout == "airbyte_stripe" else [])
    assert sorted(ds.tables) == sorted(names)
    for name in names:
        spec = rl.tables.TABLES[name]
        columns = spec.schema.names()
        key = spec.key or columns[0]
        assert _canonical(ds.tables[name], columns, key).equals(_canonical(getattr(store, name), columns, key)), name


def test_shopify_files_and_airbyte_give_equal_orders(database: tuple[str, str], tmp_path: Path) -> None:
    """The same store as Shopify's admin exports and as Airbyte streams (append mode): equal orders."""
    uri, schema = database
    files = write_synthetic_exports(tmp_path / "files", 50, seed=8)
    from_files = rl.read("shopify", *files["shopify"])
    datasets.write_airbyte(
        uri, synthetic_store(50, seed=8, events=False), "airbyte_shopify", schema=schema, append=True
    )
    from_db = read_sql(uri, layout="airbyte_shopify", schema=schema)
    orders = ["order_id", "customer_id", "ordered_at", "amount", "currency", "financial_status"]
    assert _canonical(from_db.tables["orders"], orders, "order_id").equals(
        _canonical(from_files.tables["orders"], orders, "order_id")
    )


# --- the connector's schemas, with records written here ----------------------------------------------


def _resolve(schema: dict[str, Any], folder: Path) -> dict[str, Any]:
    if "$ref" in schema:
        ref = folder / schema["$ref"]
        if not ref.exists():
            ref = folder / "shared" / schema["$ref"]
        return {**json.loads(ref.read_text()), **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _postgres_v3_type(prop: dict[str, Any]) -> pl.DataType | None:
    """The column type Postgres destination v3 gives a property (``None``: JSONB)."""
    kinds = prop.get("type") or []
    kinds = [kinds] if isinstance(kinds, str) else [k for k in kinds if k != "null"]
    if "$ref" in prop or not kinds or "object" in kinds or "array" in kinds or len(kinds) > 1:
        return None
    if kinds == ["string"]:
        return pl.Datetime("us", "UTC") if prop.get("format") == "date-time" else pl.String()
    return {"integer": pl.Int64(), "number": pl.Decimal(38, 9), "boolean": pl.Boolean()}.get(kinds[0], pl.String())


_SHOPIFY_RECORDS: dict[str, list[dict[str, Any]]] = {
    "orders": [
        {"id": 1001, "email": "A@x.com", "created_at": "2024-03-01T10:00:00-05:00",
         "updated_at": "2024-03-02T00:00:00Z",
         "currency": "USD", "total_price": 50.0, "current_total_price": 45.0, "financial_status": "partially_refunded",
         "test": False, "customer": {"id": 501, "email": "a@x.com"}},
        {"id": 1001, "email": "A@x.com", "created_at": "2024-03-01T10:00:00-05:00",
         "updated_at": "2024-03-01T15:00:00Z",
         "currency": "USD", "total_price": 50.0, "current_total_price": 50.0, "financial_status": "paid",
         "test": False, "customer": {"id": 501, "email": "a@x.com"}},  # an older version (append mode)
        {"id": 1002, "email": "b@x.com", "created_at": "2024-03-05T10:00:00Z", "updated_at": "2024-03-05T10:00:00Z",
         "currency": "USD", "total_price": 20.0, "financial_status": "paid", "test": False, "customer_id": 502},
        {"id": 1002, "deleted_at": "2024-03-06T00:00:00Z"},  # the deletion record from Shopify's events
        {"id": 1003, "email": "c@x.com", "created_at": "2024-03-07T10:00:00Z", "updated_at": "2024-03-07T10:00:00Z",
         "currency": "USD", "total_price": 30.0, "financial_status": "paid", "test": True, "customer_id": 503},
    ],
    "customers": [
        {"id": 501, "email": "A@X.com", "first_name": "Ann", "last_name": "Lee", "created_at": "2024-02-01T00:00:00Z",
         "updated_at": "2024-02-01T00:00:00Z"},
    ],
    "transactions": [
        {"id": 9001, "order_id": 1001, "amount": 5.0, "kind": "refund", "status": "success",
         "created_at": "2024-03-02T00:00:00Z", "test": False},
        {"id": 9002, "order_id": 1001, "amount": 7.0, "kind": "refund", "status": "failure",
         "created_at": "2024-03-02T00:00:00Z", "test": False},
    ],
    "order_refunds": [{"id": 7001, "order_id": 1001, "created_at": "2024-03-02T00:00:00Z"}],
}  # fmt: skip

_PRICE = {
    "id": "price_1",
    "unit_amount": 1500,
    "currency": "usd",
    "recurring": {"interval": "month", "interval_count": 1},
}
_STRIPE_RECORDS: dict[str, list[dict[str, Any]]] = {
    "charges": [
        {"id": "ch_1", "customer": "cus_1", "created": T0, "updated": T0, "amount": 2999, "amount_refunded": 0,
         "currency": "usd", "status": "succeeded", "captured": True, "paid": True, "livemode": True},
        {"id": "ch_2", "customer": "cus_1", "created": T0, "updated": T0 + 60, "amount": 500, "amount_refunded": 500,
         "currency": "usd", "status": "succeeded", "captured": True, "paid": True, "livemode": True},
        {"id": "ch_3", "customer": "cus_1", "created": T0, "updated": T0, "amount": 1000, "amount_refunded": 0,
         "currency": "usd", "status": "succeeded", "captured": True, "paid": True, "livemode": True, "invoice": "in_1"},
    ],
    "refunds": [{"id": "re_1", "charge": "ch_2", "amount": 500, "status": "succeeded", "created": T0, "updated": T0}],
    "customers": [
        {"id": "cus_1", "created": T0, "updated": T0, "email": "C@X.COM", "name": "Cy", "livemode": True},
        {"id": "cus_2", "created": T0, "updated": T0 + 5, "email": "d@x.com", "is_deleted": True, "livemode": True},
    ],
    "invoices": [
        {"id": "in_1", "customer": "cus_1", "created": T0 - 100, "updated": T0, "status": "paid", "amount_paid": 1000,
         "total": 1000, "currency": "usd", "status_transitions": {"paid_at": T0}, "livemode": True},
    ],
    "subscriptions": [
        {"id": "sub_1", "customer": "cus_1", "status": "active", "created": T0, "updated": T0, "start_date": T0,
         "current_period_start": T0, "quantity": 2, "livemode": True,
         "items": {"data": [{"id": "si_1", "price": _PRICE, "quantity": 2}]}},
        {"id": "sub_1", "customer": "cus_1", "status": "canceled", "created": T0, "updated": T0 + 86_400 * 40,
         "start_date": T0, "current_period_start": T0 + 86_400 * 31, "quantity": 2, "livemode": True,
         "ended_at": T0 + 86_400 * 40, "canceled_at": T0 + 86_400 * 40, "is_deleted": True,
         "items": {"data": [{"id": "si_1", "price": _PRICE, "quantity": 2}]}},
    ],
    "subscription_items": [{"id": "si_1", "subscription": "sub_1", "quantity": 2, "price": _PRICE, "created": T0}],
    "prices": [_PRICE | {"created": T0, "updated": T0}],
    "plans": [{"id": "price_1", "amount": 1500, "currency": "usd", "interval": "month", "interval_count": 1}],
    "invoice_line_items": [{"id": "il_1", "invoice": "in_1", "amount": 1000, "quantity": 1, "currency": "usd"}],
}  # fmt: skip


def _typed_tables(
    folder: Path, records: dict[str, list[dict[str, Any]]]
) -> tuple[dict[str, pl.DataFrame], dict[str, list[str]]]:
    """Each schema as a typed v3 table (every property a column), holding the records: tables and JSON columns."""
    tables: dict[str, pl.DataFrame] = {}
    json_columns: dict[str, list[str]] = {}
    for path in sorted(folder.glob("*.json")):
        stream = path.stem
        schema = _resolve(json.loads(path.read_text()), folder)
        props = schema.get("properties", {})
        assert props, stream
        rows = records.get(stream, [])
        columns: dict[str, pl.Series] = {}
        objects: list[str] = []
        for name, prop in props.items():
            dtype = _postgres_v3_type(prop)
            values = [r.get(name) for r in rows]
            if dtype is None:
                objects.append(name)
                columns[name] = pl.Series(name, [None if v is None else json.dumps(v) for v in values], pl.String)
            elif isinstance(dtype, pl.Datetime):
                columns[name] = pl.Series(name, values, pl.String).str.to_datetime(time_zone="UTC")
            elif isinstance(dtype, pl.Decimal):
                columns[name] = pl.Series(name, [None if v is None else str(v) for v in values], pl.String).cast(dtype)
            else:
                columns[name] = pl.Series(name, values, dtype)
        n = len(rows)
        frame = pl.DataFrame(list(columns.values())).with_columns(
            pl.Series("_airbyte_raw_id", [f"{stream}-{i}" for i in range(n)], pl.String),
            pl.Series("_airbyte_extracted_at", [dt.datetime(2024, 6, 1, tzinfo=UTC) - dt.timedelta(hours=i)
                                                for i in range(n)], pl.Datetime("us", "UTC")),
            pl.Series("_airbyte_meta", ['{"sync_id": 1, "changes": []}'] * n, pl.String),
            pl.Series("_airbyte_generation_id", [0] * n, pl.Int64),
        )  # fmt: skip
        tables[stream] = frame
        json_columns[stream] = [*objects, "_airbyte_meta"]
    return tables, json_columns


def _raw_tables(records: dict[str, list[dict[str, Any]]]) -> dict[str, pl.DataFrame]:
    """The records as the legacy JSON-blob tables ``_airbyte_raw_<stream>`` (``_airbyte_ab_id``, ``_emitted_at``)."""
    return {
        f"_airbyte_raw_{stream}": pl.DataFrame(
            {
                "_airbyte_ab_id": [f"{stream}-{i}" for i in range(len(rows))],
                "_airbyte_data": [json.dumps(r) for r in rows],
                "_airbyte_emitted_at": [
                    dt.datetime(2024, 6, 1, tzinfo=UTC) - dt.timedelta(hours=i) for i in range(len(rows))
                ],
            }
        )
        for stream, rows in records.items()
    }


def _check_shopify(ds: rl.Dataset, prefix: str) -> None:
    assert ds.report is not None
    assert ds.report.rows_read == ds.report.rows_loaded + ds.report.rows_rejected == 5 + 1
    orders = ds.tables["orders"].collect()
    # 50.00 less the successful refund of 5.00 (the failed one gave nothing back); customer from the object.
    assert orders.select("order_id", "customer_id", "ordered_at", "amount", "currency").rows() == [
        ("1001", "501", _t("2024-03-01 15:00:00"), Decimal("45.0000"), "USD")
    ]
    rejects = _rejects(ds)
    # The kept version of 1002 is rejected as deleted; its deletion record (no cursor) as an older version.
    assert sorted(rejects[f"{prefix}orders id=1002"]) == [
        "deleted in Shopify (deleted_at)",
        "older version (a later sync of this id is kept: greatest cursor, then latest _airbyte_extracted_at)",
    ]
    assert rejects[f"{prefix}orders id=1001"] == [
        "older version (a later sync of this id is kept: greatest cursor, then latest _airbyte_extracted_at)"
    ]
    assert rejects[f"{prefix}orders id=1003"] == ["test order"]
    assert ds.tables["customers"].collect()["email"].to_list() == ["a@x.com"]


def _check_stripe(ds: rl.Dataset, prefix: str) -> None:
    assert ds.report is not None
    assert ds.report.rows_read == ds.report.rows_loaded + ds.report.rows_rejected
    orders = ds.tables["orders"].collect().sort("order_id")
    assert orders.select("order_id", "ordered_at", "amount", "currency").rows() == [
        ("ch_1", _t("2024-01-01 00:00:00"), Decimal("29.9900"), "USD"),
        ("in_1", _t("2024-01-01 00:00:00"), Decimal("10.0000"), "USD"),  # paid_at from status_transitions
    ]
    rejects = _rejects(ds)
    assert rejects[f"{prefix}charges id=ch_2"] == ["fully refunded (nothing kept after refunds)"]
    assert rejects[f"{prefix}charges id=ch_3"] == ["counted as its invoice in_1"]
    assert rejects[f"{prefix}customers id=cus_2"] == ["deleted in Stripe (is_deleted)"]
    subs = ds.tables["subscriptions"].collect()
    # Two versions in append mode: the later one ends it (epoch seconds, DECIMAL in the typed table);
    # 15.00 a month x quantity 2.
    assert subs.select("subscription_id", "started_at", "ended_at", "mrr").rows() == [
        ("sub_1", _t("2024-01-01 00:00:00"), _t("2024-02-10 00:00:00"), Decimal("30.0000"))
    ]


@pytest.mark.parametrize("connector", ["airbyte_shopify", "airbyte_stripe"])
def test_every_airbyte_schema_loads_typed(shared_data: Path, database: tuple[str, str], connector: str) -> None:
    uri, schema = database
    records = _SHOPIFY_RECORDS if connector == "airbyte_shopify" else _STRIPE_RECORDS
    tables, json_columns = _typed_tables(shared_data / "formats" / "warehouse" / connector, records)
    assert set(records) <= set(tables)  # a record for a stream the connector has no schema for would be a typo
    datasets.write_tables(uri, tables, schema=schema, json_columns=json_columns)
    ds = read_sql(uri, layout=connector, schema=schema)
    (_check_shopify if connector == "airbyte_shopify" else _check_stripe)(ds, f"{schema}.")


@pytest.mark.parametrize("connector", ["airbyte_shopify", "airbyte_stripe"])
def test_json_blob_tables(database: tuple[str, str], connector: str) -> None:
    uri, schema = database
    records = _SHOPIFY_RECORDS if connector == "airbyte_shopify" else _STRIPE_RECORDS
    raw = _raw_tables(records)
    datasets.write_tables(uri, raw, schema=schema, json_columns={name: ["_airbyte_data"] for name in raw})
    ds = read_sql(uri, layout=connector, schema=schema)
    (_check_shopify if connector == "airbyte_shopify" else _check_stripe)(ds, f"{schema}._airbyte_raw_")


def test_missing_stream_names_what_was_looked_for(database: tuple[str, str]) -> None:
    uri, schema = database
    with pytest.raises(rl.errors.RetainlibError, match="no Airbyte stream 'charges'") as info:
        read_sql(uri, layout="airbyte_stripe", schema=schema)
    assert "_airbyte_raw_charges" in str(info.value)
