"""Bad connections, tables, columns and options: RetainlibErrors naming table and column, never the password."""

from __future__ import annotations

import datetime as dt
import urllib.parse
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

import retainlib as rl
from retainlib import datasets
from retainlib.cli import main
from retainlib.errors import OptionError, RetainlibError, SchemaError
from retainlib_warehouse import WarehouseError, read_sql, redact

SECRET = "s3cr3t-Pa55"


def _with_password(uri: str, user: str = "postgres") -> str:
    """The test server's URI with a user and a password written in."""
    parts = urllib.parse.urlsplit(uri)
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:{SECRET}@{parts.hostname or ''}"))


def test_unreachable_server_names_the_database_not_the_password() -> None:
    with pytest.raises(WarehouseError) as info:
        read_sql(f"postgresql://bob:{SECRET}@127.0.0.1:1/shop", layout="fivetran_shopify")
    assert "cannot connect" in str(info.value)
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)
    assert "bob:***@127.0.0.1:1" in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no driver text chained in


def test_wrong_credentials_on_the_real_server(postgres_uri: str) -> None:
    with pytest.raises(WarehouseError) as info:
        read_sql(_with_password(postgres_uri, user="nobody_here"), layout="fivetran_shopify")
    assert "nobody_here" in str(info.value)
    assert SECRET not in str(info.value)


def test_password_never_in_reports_or_rejects(postgres_uri: str, tmp_path: Path) -> None:
    """The test server trusts local connections, so a password in the URI is accepted and must still never show."""
    uri = _with_password(postgres_uri)
    order = pl.DataFrame(
        {"id": [1, 2], "customer_id": [5, 6], "created_at": ["2024-01-01 00:00:00", "2024-01-02 00:00:00"],
         "currency": ["USD", "USD"], "total_price": [10.0, 20.0], "test": [False, True]}
    )  # fmt: skip
    datasets.write_tables(uri, {"order": order}, schema="pw")
    ds = read_sql(uri, layout="fivetran_shopify", schema="pw")
    assert ds.report is not None
    assert ds.report.rows_rejected == 1
    text = str(ds.report) + ds.report.rejects.write_csv() + ds.report.summary().write_csv()
    assert SECRET not in text
    out = tmp_path / "rejects.csv"
    ds.report.write_rejects(out)
    assert SECRET not in out.read_text()
    with pytest.raises(WarehouseError) as info:
        read_sql(uri, layout="fivetran_shopify", schema="nowhere")
    assert SECRET not in str(info.value)
    with pytest.raises(WarehouseError) as info:
        read_sql(uri, query="SELECT * FROM no_such_table", into="orders")
    assert SECRET not in str(info.value) and "no_such_table" in str(info.value)


@given(password=st.text(alphabet=st.characters(codec="ascii", categories=["L", "N"]), min_size=4, max_size=20))
def test_redact_hides_any_password(password: str) -> None:
    uri = f"postgresql://me:{urllib.parse.quote(password, safe='')}@db.example:5432/shop?sslmode=require"
    shown = redact(uri)
    assert urllib.parse.quote(password, safe="") not in shown.replace("me:***", "")
    assert shown.startswith("postgresql://me:***@db.example:5432/shop")


def test_missing_table_column_and_bad_type(database: tuple[str, str]) -> None:
    uri, schema = database
    with pytest.raises(WarehouseError, match="no table 'order'") as info:
        read_sql(uri, layout="fivetran_shopify", schema=schema)
    assert info.value.table == "order"
    datasets.write_tables(
        uri, {"order": pl.DataFrame({"id": [1], "created_at": [dt.datetime(2024, 1, 1)]})}, schema=schema
    )
    with pytest.raises(SchemaError) as missing:
        read_sql(uri, layout="fivetran_shopify", schema=schema)
    assert missing.value.table == f"{schema}.order" and missing.value.column == "total_price"
    datasets.write_tables(
        uri,
        {"order": pl.DataFrame({"id": [1], "created_at": [True], "total_price": [1.0], "currency": ["USD"]})},
        schema=schema,
    )
    with pytest.raises(SchemaError) as bad:
        read_sql(uri, layout="fivetran_shopify", schema=schema)
    assert bad.value.column == "created_at" and "boolean" in str(bad.value)


def test_query_and_table_with_mapping(database: tuple[str, str]) -> None:
    uri, schema = database
    frame = pl.DataFrame(
        {
            "oid": ["a", "b", "c", "a"],
            "cust": ["x", "y", "z", "x"],
            "at": [dt.datetime(2024, 1, 1), dt.datetime(2024, 2, 1), dt.datetime(2024, 3, 1), dt.datetime(2024, 4, 1)],
            "total": ["12.50", "oops", "3", "1"],
            "cur": ["EUR", "EUR", "EUR", "EUR"],
            "ignored": [1, 2, 3, 4],
        }
    )
    datasets.write_tables(uri, {"sales": frame}, schema=schema)
    mapping = {"oid": "order_id", "cust": "customer_id", "at": "ordered_at", "total": "amount", "cur": "currency"}
    ds = read_sql(uri, table="sales", schema=schema, into="orders", mapping=mapping)
    assert ds.report is not None
    assert (ds.report.rows_read, ds.report.rows_loaded, ds.report.rows_rejected) == (4, 2, 2)
    assert ds.tables["orders"].collect_schema().names() == [
        "order_id",
        "customer_id",
        "ordered_at",
        "amount",
        "currency",
    ]
    reasons = dict(zip(ds.report.rejects["file"], ds.report.rejects["reason"], strict=True))
    assert reasons[f"{schema}.sales oid=b"].startswith("amount")
    assert reasons[f"{schema}.sales oid=a"] == "order_id: repeated order_id a"
    query = f'SELECT oid, cust, "at", total, cur FROM "{schema}"."sales" WHERE total <> \'oops\''
    ds2 = read_sql(uri, query=query, into="orders", mapping=mapping, since="2024-02-15")
    assert sorted(ds2.tables["orders"].collect()["order_id"]) == ["a", "c"]
    with pytest.raises(WarehouseError, match="mapping renames column 'nope'"):
        read_sql(uri, table="sales", schema=schema, into="orders", mapping={"nope": "order_id"})


def test_options_are_checked() -> None:
    with pytest.raises(OptionError, match="layout is one of"):
        read_sql("x.duckdb", layout="stitch")
    with pytest.raises(OptionError, match="exactly one of query= and table="):
        read_sql("x.duckdb")
    with pytest.raises(OptionError, match="into="):
        read_sql("x.duckdb", table="t")
    with pytest.raises(OptionError, match="since"):
        read_sql("x.duckdb", layout="fivetran_shopify", since="yesterday")
    with pytest.raises(RetainlibError, match="not a connection string"):
        read_sql("mysql://u:p@h/db", layout="fivetran_shopify")


def test_through_rl_read_and_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "shop.duckdb"
    store = datasets.load_synthetic(path, "fivetran_stripe", customers=40, seed=1)
    ds = rl.read("sql", path, layout="fivetran_stripe")
    assert ds.report is not None and ds.report.source == "sql"
    assert ds.tables["orders"].collect().height == store.orders.collect().height  # type: ignore[union-attr]
    out = tmp_path / "dataset"
    result = CliRunner().invoke(main, ["read", "sql", str(path), "--out", str(out), "-o", "layout=fivetran_stripe"])
    assert result.exit_code == 0, result.output
    back = rl.Dataset.read_parquet(out)
    assert back.orders is not None
    assert back.orders.collect().height == store.orders.collect().height  # type: ignore[union-attr]
