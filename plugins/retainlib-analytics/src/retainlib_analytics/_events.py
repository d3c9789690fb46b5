"""From decoded records to canonical ``events`` (and ``orders``): conforming, duplicates, the account of every row.

Each source turns one input (a file, or a member of an archive) into a lazy
frame of *candidates* (:class:`Part`): the record's line, why it cannot be read
at all (``PROBLEM``: invalid JSON...), the canonical columns computed from its
fields, the extra columns kept, one reason column per rule of its own
(``_why_<column>``) and the key that makes two records one event (``KEY``).
Here, for every source alike:

* the candidates are read in one streaming pass and held in memory (the
  decoded fields only, never the text);
* records that cannot be read are rejected with their one reason; the others
  are conformed by the core (``retainlib._conform``: ids, UTC timestamps,
  required values) with the source's rules, every problem of a record listed;
* among the records loaded, in the order read (files in the order given,
  lines in file order), a record whose key an earlier one holds is rejected as
  a duplicate event: the first stays.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import polars as pl

from retainlib import _conform
from retainlib.errors import SourceError
from retainlib.load_report import REJECTS_SCHEMA, FileLoad
from retainlib.tables import TableSpec
from retainlib_analytics._jsonl import LINE, PROBLEM, Span

__all__ = [
    "KEY",
    "Account",
    "Members",
    "Part",
    "Table",
    "TablePlan",
    "account",
    "conform_part",
    "drop_repeated",
    "localise",
    "merge_loads",
    "read_all",
    "rejects",
    "why",
]

KEY = "_key"  # what makes two records one event (or one order): null when the record has none
_SEQ = "_seq"  # the record's place in the whole read (parts in order, lines in order)
_FILE = "_file"
#: Whether a part without unreadable records skips the filters that set them apart (tests compare both ways).
FAST_SPLIT = 1
Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)


def why(column: str) -> str:
    """The name of the reason column of a source's rule about ``column``."""
    return f"_why_{column}"


@dataclass(frozen=True, slots=True)
class Part:
    """One input of a read: a file, or a member of an archive.

    Attributes:
        name: how the report names it (the file's path, or ``archive!member``).
        file: the file it belongs to (the report's account is per file).
        records: the candidates (see the module docs), lazy.
        extra_rejects: records found bad before decoding (a damaged gzip tail), in the report's shape.
        extra_read: how many records those are.
        members: where each member starts, when the part holds several members of an archive.
        careful: the same candidates decoded line by line when polars refuses a line (see
            :func:`retainlib_analytics._jsonl.decode`); ``records`` then decodes whole batches, fast,
            and fails on such a line.  ``None``: ``records`` never fails on a line.
        span: the lines of the file the part holds, when a streamed read cut a file of JSON lines in
            slices (``None``: the whole input).
    """

    name: str
    file: str
    records: pl.LazyFrame
    extra_rejects: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=REJECTS_SCHEMA))
    extra_read: int = 0
    members: Members | None = None
    careful: pl.LazyFrame | None = None
    span: Span | None = None


@dataclass(frozen=True, slots=True)
class Members:
    """The members of an archive read as one input, their lines one after the other.

    Attributes:
        starts: per member, in order, how many lines the members before it hold (Int64).
        names: per member, how the report names it (``archive!member``).
    """

    starts: pl.Series
    names: pl.Series


def localise(frame: Frame, part: Part) -> Frame:
    """Rejected rows of ``part`` named by their member and its own line, when the part holds several members."""
    if part.members is None:
        return frame
    starts, names = pl.lit(part.members.starts), pl.lit(part.members.names)
    member = starts.search_sorted(pl.col("line") - 1, side="right").cast(pl.Int64) - 1
    return frame.with_columns(
        names.gather(member).alias("file"), (pl.col("line") - starts.gather(member)).alias("line")
    )


def rejects(frame: Frame, file: str, table: str, reason: pl.Expr) -> Frame:
    """Rejected records in the report's shape: file, line, table, column (the reason's first word), reason."""
    return frame.select(
        pl.lit(file).alias("file"),
        pl.col(LINE).cast(pl.Int64).alias("line"),
        pl.lit(table).alias("table"),
        reason.str.splitn(": ", 2).struct.field("field_0").alias("column"),
        reason.alias("reason"),
    ).cast(REJECTS_SCHEMA)


@dataclass(slots=True)
class Table:
    """The rows of one canonical table found in one part, before duplicates across the read are looked for.

    Attributes:
        part: the part read.
        read: records of the part that were candidates for this table.
        loaded: the rows conformed, with ``LINE``, ``KEY`` and ``_seq`` (the read order) beside the columns.
        rejected: the rejected records, in the report's shape (lines of the part: see :func:`localise`).
    """

    part: Part
    read: int
    loaded: pl.DataFrame
    rejected: pl.DataFrame
    keys: tuple[str, ...] = ()


def conform_part(
    part: Part,
    decoded: pl.DataFrame,
    spec: TableSpec,
    *,
    columns: Sequence[str],
    keys: Sequence[str] = (),
    rules: Sequence[str] = (),
    start: int = 0,
) -> Table:
    """Conform one part's candidates for ``spec``: unreadable records rejected, the rest conformed and split.

    ``decoded`` holds the part's candidates (collected); ``columns`` are the
    columns to keep (canonical ones first, then extras); ``keys`` the key
    columns duplicates are looked for on (kept beside the rows); ``rules`` the
    columns the source's own rules are about (their reasons in ``why(column)``).
    ``start`` numbers the rows in the order of the whole read.
    """
    # the usual case, no unreadable record: the rows are taken as they are, not copied by a filter
    clean = FAST_SPLIT and decoded.get_column(PROBLEM).null_count() == decoded.height
    unreadable = decoded.clear() if clean else decoded.filter(pl.col(PROBLEM).is_not_null())
    candidates = (decoded if clean else decoded.filter(pl.col(PROBLEM).is_null())).with_columns(
        pl.col(LINE).alias(_conform.ROW), (pl.int_range(pl.len(), dtype=pl.Int64) + start).alias(_SEQ)
    )
    kept = [c for c in columns if c in candidates.columns]
    extras = [c for c in kept if c not in spec.schema]
    frame = candidates.select(_conform.ROW, *kept, *(why(r) for r in rules), *keys, _SEQ).lazy()
    c = _conform.conform(frame, spec, check_duplicates=False, number_rows=False)
    c = c.with_rules({r: pl.col(why(r)) for r in rules}).collect()
    bad = pl.col(_conform.BAD)
    loaded = (
        c.frame.filter(~bad)
        .select(pl.col(_conform.ROW).alias(LINE), *c.coerced)
        .select(LINE, *spec.schema.names(), *extras, *keys, _SEQ)
        .collect()
    )
    refused = _conform.rejects_frame(c, c.explain(c.frame.filter(bad)), file=part.name).collect()
    early = rejects(unreadable, part.name, spec.name, pl.col(PROBLEM))
    rejected = pl.concat([early, refused.cast(REJECTS_SCHEMA)]).sort("line", maintain_order=True)
    return Table(part=part, read=decoded.height, loaded=loaded, rejected=rejected, keys=tuple(keys))


def drop_repeated(tables: Sequence[Table], spec: TableSpec, key: str, reason: str) -> None:
    """Reject the loaded rows whose ``key`` an earlier loaded row of the read holds (the first stays), in place."""
    if not tables:
        return
    # the tables come in read order and their rows are in read order: ``_SEQ`` already rises (no sort needed)
    keys = pl.concat([t.loaded.select(key, _SEQ) for t in tables])
    flags = _conform.repeated(keys.get_column(key))
    if not flags.any():
        return
    marked = keys.filter(flags).get_column(_SEQ).implode()
    for t in tables:
        hit = t.loaded.get_column(_SEQ).is_in(marked)
        if not hit.any():
            continue
        dropped = t.loaded.filter(hit)
        t.loaded = t.loaded.filter(~hit)
        found = rejects(dropped, t.part.name, spec.name, pl.lit(reason))
        t.rejected = pl.concat([t.rejected, found]).sort("line", maintain_order=True)


@dataclass(slots=True)
class Account:
    """The rows of one table over a whole read, and one :class:`FileLoad` per file."""

    table: str
    frame: pl.DataFrame
    loads: list[FileLoad]


def account(tables: Sequence[Table], spec: TableSpec, files: Sequence[str], columns: Sequence[str]) -> Account:
    """The table's rows (canonical columns, then extras) and one :class:`FileLoad` per file (parts added up)."""
    per: dict[str, list[Table]] = {f: [] for f in files}
    for t in tables:
        per.setdefault(t.part.file, []).append(t)
    loads = []
    for file, found in per.items():
        parts = {id(t.part): t.part for t in found}
        extra = sum(p.extra_read for p in parts.values())
        extra_rejects = [p.extra_rejects for p in parts.values() if spec.name == "events"]
        loads.append(
            FileLoad(
                file=file,
                table=spec.name,
                rows_read=sum(t.read for t in found) + (extra if spec.name == "events" else 0),
                rows_loaded=sum(t.loaded.height for t in found),
                rejected=pl.concat(
                    [
                        pl.DataFrame(schema=REJECTS_SCHEMA),
                        *extra_rejects,
                        *(localise(t.rejected, t.part) for t in found),
                    ]
                ),
            )
        )
    empty = pl.DataFrame(schema=spec.schema)
    frames = [t.loaded.drop(LINE, *t.keys, _SEQ) for t in tables]
    frame = pl.concat([empty, *frames], how="diagonal_relaxed") if frames else empty
    order = [*spec.schema.names(), *(c for c in columns if c not in spec.schema)]
    return Account(table=spec.name, frame=frame.select(c for c in order if c in frame.columns), loads=loads)


@dataclass(frozen=True, slots=True)
class TablePlan:
    """How the decoded records of a part feed one canonical table.

    Attributes:
        spec: the table.
        columns: its columns (canonical ones, then the extras kept).
        keys: (key column, reason) pairs: a loaded row whose key an earlier one holds is rejected with the reason.
        select: the table's candidates among a part's decoded records (``None``: all of them).
    """

    spec: TableSpec
    columns: tuple[str, ...]
    keys: tuple[tuple[str, str], ...] = ()
    select: Callable[[pl.LazyFrame], pl.LazyFrame] | None = None


def _collect(part: Part, source: str) -> pl.DataFrame:
    try:
        try:
            return part.records.collect(engine="streaming")
        except pl.exceptions.PolarsError:
            if part.careful is None:
                raise
            return part.careful.collect(engine="streaming")  # a line polars refuses: found and explained
    except pl.exceptions.PolarsError as exc:
        raise SourceError(f"cannot read {part.name}: {exc}", file=Path(part.file), source=source) from None


def read_all(parts: Iterable[Part], files: Sequence[str], plans: Sequence[TablePlan], source: str) -> list[Account]:
    """Every part read once (in order), each table conformed, duplicates rejected across the read: one account each."""
    found: dict[str, list[Table]] = {plan.spec.name: [] for plan in plans}
    start = dict.fromkeys(found, 0)
    for part in parts:
        decoded = _collect(part, source)
        for plan in plans:
            name = plan.spec.name
            frame = decoded if plan.select is None else plan.select(decoded.lazy()).collect()
            keys = [k for k, _ in plan.keys]
            found[name].append(conform_part(part, frame, plan.spec, columns=plan.columns, keys=keys, start=start[name]))
            start[name] += frame.height
    accounts = []
    for plan in plans:
        tables = found[plan.spec.name]
        for key, reason in plan.keys:
            drop_repeated(tables, plan.spec, key, reason)
        accounts.append(account(tables, plan.spec, files, plan.columns))
    return accounts


def merge_loads(*accounts: Account) -> list[FileLoad]:
    """Every account's loads, file by file (events first), skipping empty accounts of tables a file never fed."""
    out: list[FileLoad] = []
    for a in accounts:
        for load in a.loads:
            if a.table != "events" and load.rows_read == 0:
                continue
            out.append(load)
    return out
