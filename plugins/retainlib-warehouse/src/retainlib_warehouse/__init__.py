"""retainlib source ``sql``: canonical tables from a SQL database (PostgreSQL, DuckDB), through Arrow.

Two ways to read:

* a **connector layout** (``layout="fivetran_shopify"``, ``"fivetran_stripe"``):
  the tables Fivetran writes for Shopify or Stripe, read with the same
  policies as the file plugins (kept amounts, cancelled/test/deleted rows
  rejected with their reason, Stripe minor units, subscription segments);
* **one query or table** (``query=`` or ``table=``, with ``into=`` naming the
  canonical table, ``mapping=`` renaming columns).

Rows arrive as Arrow record batches (ADBC's PostgreSQL driver, DuckDB's
native Arrow output) and are conformed batch by batch: no Python object per
row.  Joins, sums, filters (``since``/``until``) and the projection run in the
database.  A rejected row names its database table and primary key in place
of a file and line (``shopify.order id=4501``); rows read = loaded + rejected
per query.  Errors name the table and column, and never show the credentials
of the connection string.

Examples
--------
>>> import retainlib as rl  # doctest: +SKIP
>>> uri = "postgresql://me:secret@db/warehouse"
>>> ds = rl.read("sql", uri, layout="fivetran_shopify", schema="shopify")  # doctest: +SKIP
"""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from retainlib import Dataset
from retainlib.errors import OptionError
from retainlib.load_report import LoadReport
from retainlib.plugins import FilePlan, ReadResult, Source, hookimpl
from retainlib.tables import TABLES
from retainlib_warehouse import _airbyte, _fivetran
from retainlib_warehouse._backend import Connection, TableRef, WarehouseError, connect, quote, redact
from retainlib_warehouse._catalog import Catalog
from retainlib_warehouse._options import LAYOUTS, OPTIONS, Options
from retainlib_warehouse._run import Query, Result, run

__all__ = ["LAYOUTS", "NAME", "OPTIONS", "Options", "WarehouseError", "read", "read_sql", "redact", "retainlib_sources"]

#: The source's name.
NAME = "sql"

_MANGLED = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):/(?!/)")


def _target(path: str | Path) -> str:
    """The connection string a path argument stands for (a URI that ``Path()`` squeezed to ``scheme:/`` mended)."""
    text = str(path)
    if isinstance(path, Path) and _MANGLED.match(text) and not Path(text).exists():
        return _MANGLED.sub(r"\1://", text, count=1)
    return text


def _generic(conn: Connection, opts: Options) -> Query:
    assert opts.into is not None
    spec = TABLES[opts.into]
    if opts.table is not None:
        ref = TableRef(name=opts.table, schema=opts.schema)
        columns = conn.columns(ref)
        if columns is None:
            raise conn.error("no such table", table=str(ref))
        source_sql, label = ref.sql(), str(ref)
        names = list(columns)
    else:
        assert opts.query is not None
        source_sql, label = f"({opts.query.strip().rstrip(';')})", "query"
        names = conn.frame(f"SELECT * FROM {source_sql} q LIMIT 0").columns
    unknown = [k for k in opts.mapping if k not in names]
    if unknown:
        raise conn.error(
            f"mapping renames column {unknown[0]!r}, which the result lacks (it has: {', '.join(names[:25])})",
            table=label,
            column=unknown[0],
        )
    renamed = {n: opts.mapping.get(n, n) for n in names}
    wanted = set(spec.schema.names())
    projection = [f"q.{quote(n)} AS {quote(to)}" for n, to in renamed.items() if to in wanted]
    if not projection:
        raise conn.error(
            f"none of the result's columns is a column of {spec.name} ({', '.join(spec.schema.names())}); "
            "rename them with mapping=",
            table=label,
        )
    back = {to: n for n, to in renamed.items()}
    key_name = back.get(spec.key or "", spec.key or "row")
    where: list[str] = []
    time_source = back.get(spec.time)
    if time_source in names and (opts.since or opts.until):
        expr = f"q.{quote(time_source)}"
        if opts.since:
            where.append(f"{expr} >= CAST('{opts.since}' AS TIMESTAMPTZ)")
        if opts.until:
            where.append(f"{expr} < CAST('{opts.until}' AS TIMESTAMPTZ)")
    # No ``_key`` column: a rejected row's key is read from its canonical key column (the same text).
    sql = f"SELECT {', '.join(projection)} FROM {source_sql} q" + (" WHERE " + " AND ".join(where) if where else "")
    return Query(spec=spec, label=label, key_name=key_name, sql=sql, tz=opts.tz, defaults=opts.defaults)


def queries(conn: Connection, opts: Options) -> list[Query]:
    """The queries one read runs (one per canonical table and database table read)."""
    if opts.layout is None:
        return [_generic(conn, opts)]
    if opts.layout == "airbyte_shopify":
        found = _airbyte.shopify(conn, opts)
    elif opts.layout == "airbyte_stripe":
        found = _airbyte.stripe(conn, opts)
    else:
        cat = Catalog(conn=conn, schema=opts.schema)
        found = _fivetran.shopify(cat, opts) if opts.layout == "fivetran_shopify" else _fivetran.stripe(cat, opts)
    return [_with_tz(q, opts.tz) for q in found]


def _with_tz(query: Query, tz: str) -> Query:
    import attrs

    return attrs.evolve(query, tz=tz)


def _assemble(results: Sequence[Result]) -> ReadResult:
    frames: dict[str, list[pl.DataFrame]] = {}
    for r in results:
        frames.setdefault(r.query.spec.name, []).append(r.loaded)
    tables = {name: pl.concat(parts, how="diagonal_relaxed") for name, parts in frames.items()}
    dataset = Dataset(**tables, validate="none", source=NAME)  # type: ignore[arg-type]
    report = LoadReport(source=NAME, files=tuple(r.load() for r in results))
    return ReadResult(dataset=dataset, report=report)


def read_sql(uri: str, **options: Any) -> Dataset:
    """Read canonical tables from the database at ``uri``; the load report is in ``.report``.

    ``uri`` is ``postgresql://user:password@host:port/database`` (or with
    ``?host=/socket/dir``), ``duckdb:///path/file.duckdb`` or a DuckDB file's
    path.  Options as :data:`OPTIONS` (``layout=``, ``schema=``, ``query=``...).

    Raises
    ------
    OptionError
        An unknown or invalid option.
    WarehouseError
        The database cannot be reached, refuses the credentials, lacks a table (credentials masked).
    SchemaError
        A table lacks a column the layout needs, or holds it with an unusable type.
    """
    result = _read_one(uri, Options.of(**options))
    result.report.check()
    return result.dataset.relabel(report=result.report, source=NAME)


def _read_one(uri: str, opts: Options) -> ReadResult:
    with connect(uri) as conn:
        return _assemble([run(conn, q) for q in queries(conn, opts)])


def read(paths: Sequence[Path | str], **options: Any) -> ReadResult:
    """The source's reader: each "path" is a connection string (or a DuckDB file)."""
    opts = Options.of(**options)
    if not paths:
        raise OptionError("give the database's connection string", option="paths", value=())
    results = [_read_one(_target(p), opts) for p in paths]
    if len(results) == 1:
        return results[0]
    report = results[0].report.combine(r.report for r in results[1:])
    from retainlib._merge import merge

    dataset = merge([r.dataset for r in results])
    return ReadResult(dataset=dataset, report=report)


def plan(paths: Sequence[Path | str], **options: Any) -> list[FilePlan]:
    """The source's planner, for ``retainlib read sql URI --out DIR`` (:func:`retainlib.read_to_parquet`).

    Each query's record batches are conformed and written to Parquet as they
    arrive (one file a batch, in a temporary folder removed when the process
    ends), so memory holds a batch or two whatever the table's size; the plans
    then copy them into the dataset, where keys repeated across batches are
    found.  ``line`` is a loaded row's position in its query's result.
    """
    opts = Options.of(**options)
    if not paths:
        raise OptionError("give the database's connection string", option="paths", value=())
    folder = Path(tempfile.mkdtemp(prefix="retainlib-sql-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    plans: list[FilePlan] = []
    for i, target in enumerate(paths):
        with connect(_target(target)) as conn:
            for j, query in enumerate(queries(conn, opts)):
                parts = folder / f"{i:03d}-{j:03d}"
                parts.mkdir()
                written = [0]

                def sink(frame: pl.DataFrame, parts: Path = parts, written: list[int] = written) -> None:
                    line = pl.int_range(1, frame.height + 1, dtype=pl.Int64) + written[0]
                    frame.select(line.alias("line"), pl.all()).write_parquet(
                        parts / f"{len(list(parts.iterdir())):06d}.parquet"
                    )
                    written[0] += frame.height

                result = run(conn, query, sink=sink, check_keys=False)
                files = sorted(parts.iterdir())
                loaded = (
                    pl.scan_parquet(files)
                    if files
                    else query.spec.schema_frame().lazy().select(pl.lit(0, pl.Int64).alias("line"), pl.all()).clear()
                )
                plans.append(
                    FilePlan(
                        file=Path(query.label), table=query.spec.name, loaded=loaded, rejected=result.rejected.lazy()
                    )
                )
    return plans


@hookimpl
def retainlib_sources() -> Iterable[Source]:
    """The ``sql`` source (named, never detected: a database is no file to sniff)."""
    yield Source(
        name=NAME,
        description="SQL databases (PostgreSQL, DuckDB) through Arrow: Fivetran/Airbyte Shopify and Stripe "
        "tables, or any query",
        kinds=("postgresql", "postgres", "duckdb"),
        reader=read,
        options=OPTIONS,
        planner=plan,
    )
