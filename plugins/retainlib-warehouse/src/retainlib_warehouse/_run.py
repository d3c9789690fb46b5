"""Run a planned query batch by batch: canonical rows loaded, the others rejected with their key and reason.

Every query a layout writes returns the canonical columns of one table plus
two helper columns: ``_key`` (the row's primary key in the database, as
text; a query without it, as one read with ``query=``/``table=``, takes the
canonical key column as it arrives) and ``_reject`` (why the connector's rules make the row no canonical
row: a cancelled order, a test charge; null otherwise, ``_reject_column``
naming the column at fault).  Each Arrow record batch is conformed on its
own (retainlib's canonical coercion and checks), so a result larger than
memory can be written out as it arrives; repeated keys are found once,
over the whole result, at the end (streaming: by the caller).

A rejected row's ``file`` in the load report names the database table and
the primary key (``shopify.order id=4501``) in place of a file and a line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import attrs
import polars as pl

from retainlib import _conform
from retainlib.load_report import REJECTS_SCHEMA, FileLoad
from retainlib.tables import TableSpec
from retainlib_warehouse._backend import Connection

__all__ = ["KEY", "REJECT", "REJECT_COLUMN", "Query", "Result", "run"]

KEY = "_key"
REJECT = "_reject"
REJECT_COLUMN = "_reject_column"


@attrs.frozen(kw_only=True)
class Query:
    """One SQL query that yields rows of one canonical table.

    Attributes:
        spec: the canonical table.
        label: what the report calls the rows' origin (``shopify.order``).
        key_name: the primary key's column in the database (``id``), for rejects.
        sql: the query.
        tz: time zone of naive timestamps (connector tables hold UTC).
        defaults: constant values of canonical columns the query lacks.
        keep: the non-canonical columns kept after the canonical ones (``None``: all).
        money: ``(minor, exponent, column)``: the money column is computed from integer minor
            units and the currency's exponent (Stripe), exactly.
        per: a column dividing that money (the months a price covers, for MRR).
    """

    spec: TableSpec
    label: str
    key_name: str
    sql: str
    tz: str | None = "UTC"
    defaults: dict[str, Any] = attrs.field(factory=dict)
    keep: tuple[str, ...] | None = ()
    money: tuple[str, str, str] | None = None
    per: str | None = None


@attrs.frozen(kw_only=True)
class Result:
    """The rows of one query: loaded (canonical), rejected (report shape) and the count read."""

    query: Query
    loaded: pl.DataFrame
    rejected: pl.DataFrame
    rows_read: int
    rows_loaded: int

    def load(self) -> FileLoad:
        """The query's line in the load report."""
        return FileLoad(
            file=self.query.label,
            table=self.query.spec.name,
            rows_read=self.rows_read,
            rows_loaded=self.rows_loaded,
            rejected=self.rejected,
        )


def _where(query: Query, key: pl.Expr) -> pl.Expr:
    return pl.format(f"{query.label} {query.key_name}={{}}", key.fill_null("<null>"))


def _batch(query: Query, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One batch conformed: (loaded rows with ``_key``, rejected rows in the report's shape)."""
    names = frame.columns
    spec_key = query.spec.key
    if KEY in names:
        key = pl.col(KEY).cast(pl.String)
    elif spec_key is not None and spec_key in names:  # the key as the database holds it, before coercion
        key = pl.col(spec_key).cast(pl.String)
    else:
        key = pl.lit(None, pl.String)
    frame = frame.with_columns(key.alias(KEY))
    rejected_parts: list[pl.DataFrame] = []
    if REJECT in names:
        ruled = frame.filter(pl.col(REJECT).is_not_null())
        if ruled.height:
            column = pl.col(REJECT_COLUMN) if REJECT_COLUMN in names else pl.lit(query.spec.key)
            rejected_parts.append(
                ruled.select(
                    _where(query, pl.col(KEY)).alias("file"),
                    pl.lit(None, pl.Int64).alias("line"),
                    pl.lit(query.spec.name).alias("table"),
                    column.cast(pl.String).alias("column"),
                    pl.col(REJECT).cast(pl.String).alias("reason"),
                )
            )
        frame = frame.filter(pl.col(REJECT).is_null())
    frame = frame.drop([c for c in (REJECT, REJECT_COLUMN) if c in names])
    if query.money is not None:
        minor, exponent, target = query.money
        scale = pl.lit(10, pl.Int64).pow(pl.col(exponent).cast(pl.Int64))
        if query.per is not None:
            scale = scale * pl.col(query.per).cast(pl.Int64)
        value = pl.col(minor).cast(pl.Decimal(38, 4)) / scale.cast(pl.Decimal(38, 4))
        frame = frame.with_columns(value.alias(target))
    canonical = set(query.spec.schema.names())
    extras = [c for c in frame.columns if c not in canonical and c != KEY]
    if query.keep is not None:
        frame = frame.drop([c for c in extras if c not in query.keep])
    conformed = _conform.conform(
        frame.lazy(), query.spec, tz=query.tz, defaults=query.defaults or None, check_duplicates=False
    )
    ok = conformed.output(conformed.frame.filter(~pl.col(_conform.BAD)))
    bad = conformed.explain(conformed.frame.filter(pl.col(_conform.BAD)))
    bad_rows = bad.select(
        _where(query, pl.col(KEY)).alias("file"),
        pl.lit(None, pl.Int64).alias("line"),
        pl.lit(query.spec.name).alias("table"),
        pl.col(_conform.PROBLEMS).list.first().str.splitn(": ", 2).struct.field("field_0").alias("column"),
        pl.col(_conform.PROBLEM).alias("reason"),
    )
    loaded, bad_frame = pl.collect_all([ok, bad_rows])
    rejected_parts.append(bad_frame)
    return loaded, pl.concat([r.cast(dict(REJECTS_SCHEMA)) for r in rejected_parts])  # type: ignore[arg-type]


def batches(conn: Connection, query: Query) -> Iterator[tuple[pl.DataFrame, pl.DataFrame, int]]:
    """Each record batch of the query as (loaded rows with ``_key``, rejected rows, rows read)."""
    for frame in conn.batches(query.sql, table=query.label):
        loaded, rejected = _batch(query, frame)
        yield loaded, rejected, frame.height


def _repeats(query: Query, loaded: pl.DataFrame, repeated: pl.Series) -> pl.DataFrame:
    """The rows of ``loaded`` flagged by ``repeated``, as rejects (``key: repeated key <value>``)."""
    assert query.spec.key is not None
    key = query.spec.key
    return loaded.filter(repeated).select(
        _where(query, pl.col(KEY)).alias("file"),
        pl.lit(None, pl.Int64).alias("line"),
        pl.lit(query.spec.name).alias("table"),
        pl.lit(key).alias("column"),
        pl.format(f"{key}: repeated {key} {{}}", pl.col(key)).alias("reason"),
    )


def run(
    conn: Connection,
    query: Query,
    sink: Callable[[pl.DataFrame], None] | None = None,
    *,
    check_keys: bool = True,
) -> Result:
    """Run the query; rows whose key repeats an earlier row's are rejected (the first stays).

    Without ``sink`` the batches are kept and their keys checked once, over
    the whole result, at the end.  With ``sink``, each batch's loaded rows are
    handed to it as they come and :attr:`Result.loaded` is left empty
    (streaming); each batch's keys are then checked against the earlier
    batches' before it is handed over, unless ``check_keys`` is false (the
    caller checks them, as :func:`retainlib.read_to_parquet` does).
    """
    parts: list[pl.DataFrame] = []
    rejects: list[pl.DataFrame] = []
    keys: list[pl.Series] = []
    read = 0
    key = query.spec.key if check_keys else None
    for batch, rejected, n in batches(conn, query):
        loaded = batch
        read += n
        rejects.append(rejected)
        if sink is None:
            parts.append(loaded)
            continue
        if key is not None:
            before = sum(len(k) for k in keys)
            repeated = _conform.repeated(pl.concat([*keys, loaded[key]]))[before:]
            if repeated.any():
                rejects.append(_repeats(query, loaded, repeated))
                loaded = loaded.filter(~repeated)
            keys.append(loaded[key])
        loaded = loaded.drop(KEY)
        sink(loaded)
        parts.append(loaded.clear())
    if parts:
        loaded_all = pl.concat(parts, how="vertical_relaxed", rechunk=False) if len(parts) > 1 else parts[0]
    else:
        loaded_all = query.spec.schema_frame()
    if sink is None and key is not None and loaded_all.height:
        repeated = _conform.repeated(loaded_all[key])
        if repeated.any():
            rejects.append(_repeats(query, loaded_all, repeated))
            loaded_all = loaded_all.filter(~repeated)
    if KEY in loaded_all.columns:
        loaded_all = loaded_all.drop(KEY)
    rejected_all = pl.concat(rejects) if rejects else pl.DataFrame(schema=REJECTS_SCHEMA)
    count = read - rejected_all.height
    return Result(query=query, loaded=loaded_all, rejected=rejected_all, rows_read=read, rows_loaded=count)
