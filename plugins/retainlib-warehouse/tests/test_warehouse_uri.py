"""Connection strings through ``rl.read`` and ``retainlib read``: passed as written, never shown with their password."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import pytest
from click.testing import CliRunner

import retainlib as rl
from retainlib import datasets
from retainlib._host import default_host
from retainlib.cli import main
from retainlib.errors import RetainlibError, SourceError

SECRET = "uR1-s3cr3t"


def _with_password(uri: str) -> str:
    parts = urllib.parse.urlsplit(uri)
    return urllib.parse.urlunsplit(
        parts._replace(netloc=f"{parts.username or 'postgres'}:{SECRET}@{parts.hostname or ''}")
    )


def _all_text(folder: Path) -> str:
    return "".join(p.read_bytes().decode("latin-1") for p in folder.rglob("*") if p.is_file())


def test_arguments_keep_connection_strings_of_uri_sources_only() -> None:
    host = default_host()
    sql, csv = host.source("sql"), host.source("csv")
    uri = "postgresql://me:pw@/shop?host=/var/run/postgresql"
    assert host.arguments(sql, [uri, "duckdb:///data/x.duckdb", "shop.duckdb"]) == [
        uri,
        "duckdb:///data/x.duckdb",
        Path("shop.duckdb"),
    ]
    assert host.arguments(csv, [uri]) == [Path(uri)]  # a file source takes paths only
    assert host.arguments(sql, ["C:/data/x.duckdb"]) == [Path("C:/data/x.duckdb")]  # a drive letter is no scheme
    with pytest.raises(SourceError, match="no such file"):
        rl.read("sql", "missing.duckdb", layout="fivetran_shopify")


def test_postgres_uri_through_rl_read_and_the_command_line(postgres_uri: str, tmp_path: Path) -> None:
    uri = _with_password(postgres_uri)
    assert "//" in uri and "?host=" in uri  # a socket URI: Path() would have squeezed it
    store = datasets.load_synthetic(uri, "fivetran_stripe", customers=30, seed=4, schema="uri_pg")
    ds = rl.read("sql", uri, layout="fivetran_stripe", schema="uri_pg")
    assert ds.report is not None and ds.report.source == "sql"
    assert ds.tables["orders"].collect().height == store.orders.collect().height  # type: ignore[union-attr]
    assert SECRET not in str(ds.report) + ds.report.summary().write_csv()
    out = tmp_path / "pg"
    result = CliRunner().invoke(
        main, ["read", "sql", uri, "--out", str(out), "-o", "layout=fivetran_stripe", "-o", "schema=uri_pg"]
    )
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output and SECRET not in _all_text(out)
    back = rl.Dataset.read_parquet(out)
    assert back.orders is not None and back.orders.collect().height == store.orders.collect().height  # type: ignore[union-attr]
    # A failing read: the error names the database with the password masked, in Python and on the command line.
    with pytest.raises(RetainlibError) as info:
        rl.read("sql", uri, layout="fivetran_stripe", schema="nowhere")
    assert SECRET not in str(info.value) and ":***@" in str(info.value)
    failed = CliRunner().invoke(main, ["read", "sql", uri, "--out", str(tmp_path / "x"), "-o", "layout=fivetran_stripe",
                                       "-o", "schema=nowhere"])  # fmt: skip
    assert failed.exit_code == 2 and "nowhere" in failed.output and SECRET not in failed.output


def test_duckdb_uri_through_rl_read_and_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "wh.duckdb"
    store = datasets.load_synthetic(path, "fivetran_shopify", customers=30, seed=6, schema="shop")
    uri = f"duckdb://{path.resolve()}"  # duckdb:///abs/path: three slashes that Path() would squeeze to one
    ds = rl.read("sql", uri, layout="fivetran_shopify", schema="shop")
    assert ds.tables["orders"].collect().height == store.orders.collect().height  # type: ignore[union-attr]
    out = tmp_path / "dataset"
    result = CliRunner().invoke(
        main, ["read", "sql", uri, "--out", str(out), "-o", "layout=fivetran_shopify", "-o", "schema=shop"]
    )
    assert result.exit_code == 0, result.output
    back = rl.Dataset.read_parquet(out)
    assert back.orders is not None and back.orders.collect().height == store.orders.collect().height  # type: ignore[union-attr]
