"""``retainlib read sql URI --out DIR``: record batches conformed and written as they come, with the same result."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

import retainlib as rl
from retainlib import datasets
from retainlib.cli import main
from retainlib_warehouse import _backend, read_sql


def test_a_table_of_many_batches_streams_to_parquet(
    database: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri, schema = database
    monkeypatch.setattr(_backend, "DUCKDB_BATCH_ROWS", 100)  # DuckDB: several batches (PostgreSQL batches by size)
    store = datasets.load_synthetic(uri, "fivetran_stripe", customers=150, seed=9, schema=schema)
    orders = store.orders.collect()  # type: ignore[union-attr]
    assert orders.height > 300
    # A repeated key split across batches: the stream's own key check must find it.
    datasets.write_tables(uri, {"charge": pl.concat([orders.head(1), orders]).pipe(_charges)}, schema=schema)
    seen: list[int] = []
    real = _backend.Connection.batches

    def counting(self: _backend.Connection, sql: str, *, table: str | None = None):  # type: ignore[no-untyped-def]
        for frame in real(self, sql, table=table):
            seen.append(frame.height)
            yield frame

    monkeypatch.setattr(_backend.Connection, "batches", counting)
    out = tmp_path / "dataset"
    args = ["read", "sql", uri, "--out", str(out), "-o", "layout=fivetran_stripe", "-o", f"schema={schema}"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    if uri.endswith(".duckdb"):
        assert len([n for n in seen if n]) > 3
    back = rl.Dataset.read_parquet(out)
    in_memory = read_sql(uri, layout="fivetran_stripe", schema=schema)
    for name in ("orders", "customers", "subscriptions"):
        spec = rl.tables.TABLES[name]
        key = spec.key or spec.schema.names()[0]
        got = back.tables[name].collect().sort(key)
        want = in_memory.tables[name].collect().sort(key)
        assert got.equals(want), name
    assert back.tables["orders"].collect().height == orders.height  # the repeated charge: loaded once
    rejected = pl.read_parquet(out / "rejected")
    assert rejected.filter(pl.col("reason").str.contains("duplicate|repeated")).height == 1


def _charges(orders: pl.DataFrame) -> pl.DataFrame:
    return orders.select(
        pl.col("order_id").alias("id"),
        "customer_id",
        pl.col("ordered_at").dt.truncate("1s").alias("created"),
        (pl.col("amount") * 100).cast(pl.Int64).alias("amount"),
        pl.col("currency").str.to_lowercase().alias("currency"),
        pl.lit("succeeded").alias("status"),
    )
