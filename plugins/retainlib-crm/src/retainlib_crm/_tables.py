"""From the rows each file gives a table to the canonical table and the account of every row, file by file.

A reader hands over one :class:`Part` per file: its records with the
canonical values already parsed (ids as text, instants, money) and, in
:data:`WHY`, the reasons a record is not a row of the table (a policy: an open
deal, a deleted record, a report's footer; or values that cannot be read).
Here, for all the files of one table together:

* the core conforms the rows (``retainlib._conform.conform``: ids, e-mails,
  currency codes, money range, ``solved_at >= opened_at``) and finds repeated
  keys across files (the first row in file order is kept, the others are
  rejected as ``duplicate id``);
* a record with reasons of its own is rejected with exactly those reasons:
  its canonical values are replaced by placeholders the core accepts, so
  that it neither takes a key nor adds the core's complaints about values
  already explained;
* every file gets a :class:`~retainlib.load_report.FileLoad`: rows read = rows
  loaded + rows rejected.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import attrs
import polars as pl

from retainlib import _conform
from retainlib.load_report import REJECTS_SCHEMA, FileLoad
from retainlib.tables import TABLES, TIMESTAMP, Kind

__all__ = ["WHY", "Part", "Table", "assemble", "reasons"]

#: Column of the reasons a record is rejected before conforming ("Deal Stage: an open deal..."), else null.
WHY = "_why"
_SRC = "_src"
_EPOCH = pl.lit(0).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


@attrs.frozen(kw_only=True)
class Part:
    """The records one file gives a table.

    Attributes:
        file: the file.
        table: the canonical table (``"customers"``, ``"orders"``, ``"subscriptions"``, ``"tickets"``).
        rows: one row per record: ``_conform.ROW`` (its line), the canonical
            columns, the table's extra columns, and :data:`WHY`.
    """

    file: Path
    table: str
    rows: pl.DataFrame


@attrs.frozen(kw_only=True)
class Table:
    """A canonical table built from the parts of a read, and one account per file."""

    frame: pl.DataFrame
    loads: list[FileLoad]


def reasons(*why: pl.Expr) -> pl.Expr:
    """Every non-null reason of a record joined with ``"; "``, or null when there is none."""
    if not why:
        return pl.lit(None, dtype=pl.String)
    joined = pl.concat_str(list(why), separator="; ", ignore_nulls=True)
    return pl.when(joined != "").then(joined)


def _placeholder(column: str, kind: Kind, dtype: pl.DataType, key: bool) -> pl.Expr:
    """What a rejected record holds in a canonical column: a value the core accepts without a word."""
    if key:
        return pl.format("\x00{}:{}", pl.col(_SRC), pl.col(_conform.ROW))
    if kind is Kind.ID:
        return pl.lit("\x00")
    if kind is Kind.TIMESTAMP:
        return (
            _EPOCH.cast(TIMESTAMP)
            if column in ("created_at", "ordered_at", "started_at", "opened_at")
            else pl.lit(None, TIMESTAMP)
        )
    if kind is Kind.MONEY:
        return pl.lit("0").cast(dtype)
    if kind is Kind.CURRENCY:
        return pl.lit("XXX")
    return pl.lit(None, dtype=dtype)


def assemble(parts: Sequence[Part], table: str, extras: Sequence[str]) -> Table:
    """The canonical ``table`` (with ``extras``) from ``parts``, and the account of each part's file."""
    spec = TABLES[table]
    columns = [*spec.schema.names(), *extras]
    frames = [
        p.rows.select(pl.lit(i, dtype=pl.Int32).alias(_SRC), _conform.ROW, *columns, WHY) for i, p in enumerate(parts)
    ]
    frame = pl.concat(frames, how="vertical_relaxed") if frames else None
    if frame is None or frame.height == 0:
        given = parts[0].rows.schema if parts else pl.Schema()
        empty = pl.DataFrame(schema={**spec.schema, **{e: given.get(e, pl.String()) for e in extras}})
        return Table(frame=empty, loads=[_load(p, 0, _rejects(None)) for p in parts])
    bad = pl.col(WHY).is_not_null()
    frame = frame.with_columns(
        pl.when(bad)
        .then(_placeholder(c.name, c.kind, c.dtype, c.name == spec.key))
        .otherwise(pl.col(c.name))
        .alias(c.name)
        for c in spec.columns
    )
    conformed = _conform.conform(frame.lazy(), spec, check_duplicates=True)
    conformed = attrs.evolve(
        conformed,
        frame=conformed.frame.with_columns((pl.col(_conform.BAD) | bad).alias(_conform.BAD)),
        problems=(pl.col(WHY), *conformed.problems),
    ).collect()
    checked = conformed.frame
    flagged = pl.col(_conform.BAD)
    loaded_plan = conformed.output(checked.filter(~flagged)).drop(_SRC, WHY)
    rejected_plan = conformed.explain(checked.filter(flagged)).select(
        _SRC,
        pl.col(_conform.ROW).cast(pl.Int64).alias("line"),
        pl.col(_conform.PROBLEMS).list.first().str.splitn(": ", 2).struct.field("field_0").alias("column"),
        pl.col(_conform.PROBLEM).alias("reason"),
    )
    counts_plan = checked.filter(~flagged).group_by(_SRC).len()
    loaded, rejected, counts = pl.collect_all([loaded_plan, rejected_plan, counts_plan])
    per_src = {int(s): int(n) for s, n in counts.iter_rows()}
    loads = []
    for i, part in enumerate(parts):
        mine = rejected.filter(pl.col(_SRC) == i).sort("line", maintain_order=True)
        loads.append(_load(part, per_src.get(i, 0), _rejects(mine, part.file, table)))
    return Table(frame=loaded, loads=loads)


def _rejects(frame: pl.DataFrame | None, file: Path | None = None, table: str = "") -> pl.DataFrame:
    if frame is None or file is None:
        return pl.DataFrame(schema=REJECTS_SCHEMA)
    return frame.select(pl.lit(str(file)).alias("file"), "line", pl.lit(table).alias("table"), "column", "reason").cast(
        REJECTS_SCHEMA
    )


def _load(part: Part, loaded: int, rejected: pl.DataFrame) -> FileLoad:
    return FileLoad(
        file=str(part.file), table=part.table, rows_read=part.rows.height, rows_loaded=loaded, rejected=rejected
    )
