"""Every Fivetran sample table of the shared data, seeded into each backend, reads (rows read = loaded + rejected)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from retainlib import datasets
from retainlib_warehouse import read_sql

_BOOL = {"true", "false"}


def _seed(path: Path) -> pl.DataFrame:
    """A seed CSV with its types guessed as dbt's seeds would be: numbers, timestamps, TRUE/FALSE flags."""
    frame = pl.read_csv(path, infer_schema_length=0, encoding="utf8-lossy")
    frame = frame.rename({c: c.lstrip("\ufeff") for c in frame.columns})
    out = []
    for name in frame.columns:
        col = frame[name].str.strip_chars()
        values = {v.lower() for v in col.drop_nulls().unique()}
        if values and values <= _BOOL:
            out.append((col.str.to_lowercase() == "true").alias(name))
        elif (
            name in {"id", "customer_id", "order_id", "refund_id", "order_line_id"} and col.str.contains(r"^\d+$").all()
        ):
            out.append(col.cast(pl.Int64).alias(name))
        elif values and col.drop_nulls().str.contains(r"^-?\d+(\.\d+)?$").all() and not name.endswith("_id"):
            out.append(col.cast(pl.Float64).alias(name))
        elif values and col.drop_nulls().str.contains(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d").all():
            out.append(col.str.to_datetime(time_zone="UTC", strict=False).alias(name))
        else:
            out.append(col.alias(name))
    return pl.DataFrame(out)


def _tables(folder: Path, prefix: str) -> dict[str, pl.DataFrame]:
    tables = {}
    for path in sorted(folder.glob(f"{prefix}*_data.csv")):
        name = path.name.removeprefix(prefix).removesuffix("_data.csv")
        if prefix == "shopify_" and name.startswith("gql_"):
            continue
        tables[name] = _seed(path)
    return tables


@pytest.mark.parametrize("prefix", ["shopify_", "shopify_gql_"])
def test_fivetran_shopify_seeds(shared_data: Path, database: tuple[str, str], prefix: str) -> None:
    uri, schema = database
    tables = _tables(shared_data / "formats" / "warehouse" / "fivetran_shopify", prefix)
    assert {"order", "customer", "shop", "refund"} <= set(tables)
    datasets.write_tables(uri, tables, schema=schema)
    ds = read_sql(uri, layout="fivetran_shopify", schema=schema)
    assert ds.report is not None
    for load in ds.report.files:
        assert load.rows_read == load.rows_loaded + load.rows_rejected
    assert ds.report.rows_read == tables["order"].height + tables["customer"].height
    assert ds.report.rows_loaded > 0
    orders = ds.tables["orders"].collect()
    assert orders["currency"].str.contains(r"^[A-Z]{3}$").all()


def test_fivetran_stripe_seeds(shared_data: Path, database: tuple[str, str]) -> None:
    uri, schema = database
    tables = _tables(shared_data / "formats" / "warehouse" / "fivetran_stripe", "")
    assert {"charge", "customer", "subscription_history", "subscription_item", "plan", "price"} <= set(tables)
    datasets.write_tables(uri, tables, schema=schema)
    ds = read_sql(uri, layout="fivetran_stripe", schema=schema)
    assert ds.report is not None
    for load in ds.report.files:
        assert load.rows_read == load.rows_loaded + load.rows_rejected, load
    charges = tables["charge"]
    assert ds.report.files[0].rows_read == charges.height
    reasons = set(ds.report.rejects["reason"])
    assert "payment failed (not succeeded)" in reasons
    orders = ds.tables["orders"].collect()
    assert orders.height > 0 and orders["currency"].str.contains(r"^[A-Z]{3}$").all()
    # The legacy table reads too.
    legacy = {k: v for k, v in tables.items() if k != "subscription_history"}
    datasets.write_tables(uri, legacy, schema=schema + "_legacy")
    old = read_sql(uri, layout="fivetran_stripe", schema=schema + "_legacy", tables="subscriptions")
    assert old.report is not None
    assert old.report.rows_read == tables["subscription"].height
