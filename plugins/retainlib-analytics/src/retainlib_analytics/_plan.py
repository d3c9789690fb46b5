"""Streaming plans of the analytics sources: ``rl.read_to_parquet`` and ``retainlib read ... --out DIR``.

A read in memory (:func:`retainlib_analytics._events.read_all`) holds every
decoded record.  A streamed read returns one
:class:`~retainlib.plugins.FilePlan` per file and table, lazy plans that
nothing has run yet; the host runs each in one streaming pass, writing rows as
they are decoded and conformed:

* a file of JSON lines (plain, or gzipped: decompressed in memory first) is
  cut in slices of :data:`SLICE_ROWS` lines by one pass over its bytes that
  looks for newlines (:func:`retainlib_analytics._jsonl.spans`), a Parquet
  table in slices of as many rows; a plan each (one pass feeding several
  outputs holds what the slower one has not taken, so a pass's rows are
  bounded).  A slice of JSON lines is read on its own, a few MiB at a time,
  its lines numbered from its first line's number: no slice reads the lines
  before it.  Its JSON is decoded a batch of
  lines at a time, by polars; a batch polars refuses is halved until its
  refused lines stand alone and Python's :mod:`json` says what is wrong with
  them (the ``careful`` plan of :class:`~retainlib_analytics._events.Part`),
  so a damaged line never stops the stream;
* an Amplitude archive is planned in groups of members
  (:data:`~retainlib_analytics._amplitude.GROUP_BYTES` zipped), each read
  about :data:`~retainlib_analytics._amplitude.CHUNK_BYTES` of text at a time
  (decompressed in memory, never extracted) through a polars IO source: one
  input in memory at a time, whatever the archive's size.

Duplicates are the host's work: each plan declares its keys
(:attr:`FilePlan.dedup <retainlib.plugins.FilePlan.dedup>`: Mixpanel's event,
customer, second and ``$insert_id``; Amplitude's ``uuid``, then
``$insert_id``; GA4's event fields; a GA4 purchase's ``transaction_id``) with
the reason of the rows they reject, as hidden columns that are not written.
The host finds the repeated keys across the whole read from their 64-bit
hashes, a slice of the hash space at a time, and compares the keys themselves
before it rejects a row: the first occurrence stays, as in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import polars as pl

from retainlib import _conform
from retainlib.load_report import REJECTS_SCHEMA
from retainlib.plugins import FilePlan
from retainlib.tables import TableSpec
from retainlib_analytics._events import Part, TablePlan, localise, rejects
from retainlib_analytics._files import is_zip
from retainlib_analytics._jsonl import LINE, PROBLEM, io_source

__all__ = ["conform_lazy", "plan"]

_NAME = "_name"  # the input a loaded row comes from (``archive!member``), beside its line in that input
_OUT = "_out"  # which output a row of an archive's stream is for: a table's loaded rows, or its rejected ones
_REJECTED = "!rejected"
_R = "_r_"  # prefix of the rejected rows' columns in an archive's stream


def conform_lazy(
    part: Part, records: pl.LazyFrame, spec: TableSpec, *, columns: Sequence[str], keys: Sequence[str]
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """The loaded rows (``LINE``, canonical columns, extras, keys) and the rejected ones of an input, lazily.

    The same work as :func:`retainlib_analytics._events.conform_part`, nothing run yet.
    """
    unreadable = records.filter(pl.col(PROBLEM).is_not_null())
    candidates = records.filter(pl.col(PROBLEM).is_null()).with_columns(pl.col(LINE).alias(_conform.ROW))
    names = candidates.collect_schema().names()
    kept = [c for c in columns if c in names]
    extras = [c for c in kept if c not in spec.schema]
    frame = candidates.select(_conform.ROW, *kept, *keys)
    c = _conform.conform(frame, spec, check_duplicates=False, number_rows=False)
    bad = pl.col(_conform.BAD)
    loaded = (
        c.frame.filter(~bad)
        .select(pl.col(_conform.ROW).cast(pl.Int64).alias(LINE), *c.coerced)
        .select(LINE, *spec.schema.names(), *extras, *keys)
    )
    refused = _conform.rejects_frame(c, c.explain(c.frame.filter(bad)), file=part.name).cast(REJECTS_SCHEMA)
    early = rejects(unreadable, part.name, spec.name, pl.col(PROBLEM))
    return loaded, localise(pl.concat([early, refused]), part)


def _dedup(p: TablePlan) -> tuple[FilePlan.Key, ...]:
    return tuple(FilePlan.Key((key,), reason) for key, reason in p.keys)


def _keys(p: TablePlan) -> list[str]:
    return [key for key, _ in p.keys]


#: Input lines (rows of a Parquet table) one plan covers at most.  One streaming pass feeds several outputs (the
#: table, the rejected rows, the keys), and polars holds the rows the slower output has not taken yet: bounded by
#: the pass's size.
SLICE_ROWS = 2_000_000


def _plain(part: Part, plans: Sequence[TablePlan]) -> list[FilePlan]:
    """The plans of a part read as one input: a slice of a file of JSON lines (:attr:`Part.span`, cut by the
    source), or a Parquet table scanned in slices of :data:`SLICE_ROWS` rows (its rows counted first).

    The records are decoded lazily, a batch at a time (line by line where polars refuses a line).
    """
    every = part.careful if part.careful is not None else part.records
    if part.span is not None:
        pieces = [every]
    else:
        rows = int(every.select(pl.len()).collect(engine="streaming").item())
        pieces = [every] if rows <= SLICE_ROWS else [every.slice(s, SLICE_ROWS) for s in range(0, rows, SLICE_ROWS)]
    out = []
    for number, piece in enumerate(pieces):
        # the decoded records feed every output of the pass (loaded, rejected, the keys): decoded once
        records = piece.cache()
        for p in plans:
            chosen = records if p.select is None else p.select(records)
            loaded, rejected = conform_lazy(part, chosen, p.spec, columns=p.columns, keys=_keys(p))
            if p.spec.name == "events" and part.extra_read and number == len(pieces) - 1:  # a damaged gzip tail
                rejected = pl.concat([rejected, part.extra_rejects.lazy()])
            out.append(
                FilePlan(
                    file=Path(part.file),
                    table=p.spec.name,
                    loaded=loaded.rename({LINE: "line"}),
                    rejected=rejected,
                    dedup=_dedup(p),
                    hidden=_keys(p),
                    optional=p.spec.name != "events",
                )
            )
    return out


def _outputs(part: Part, records: pl.LazyFrame, plans: Sequence[TablePlan]) -> list[pl.LazyFrame]:
    """An input's loaded and rejected rows of every table, each row marked with its output (``_OUT``)."""
    frames = []
    records = records.cache()  # decoded once for every output
    for p in plans:
        name = p.spec.name
        chosen = records if p.select is None else p.select(records)
        loaded, rejected = conform_lazy(part, chosen, p.spec, columns=p.columns, keys=_keys(p))
        if name == "events" and part.extra_read:
            rejected = pl.concat([rejected, part.extra_rejects.lazy()])
        # each loaded row named by its member and its line there, as a rejected one would be
        named = localise(loaded.with_columns(pl.col(LINE).alias("line"), pl.lit(part.name).alias("file")), part)
        frames.append(
            named.drop(LINE).rename({"file": _NAME}).with_columns(pl.lit(name).alias(_OUT)),
        )
        frames.append(
            rejected.select(pl.all().name.prefix(_R)).with_columns(pl.lit(name + _REJECTED).alias(_OUT)),
        )
    return frames


def _collect_input(part: Part, plans: Sequence[TablePlan], schema: pl.Schema) -> pl.DataFrame:
    """One input of an archive, decoded (polars first; line by line where it refuses a line), conformed."""
    try:
        frames = pl.collect_all(_outputs(part, part.records, plans), engine="streaming")
    except pl.exceptions.PolarsError:
        if part.careful is None:
            raise
        frames = pl.collect_all(_outputs(part, part.careful, plans), engine="streaming")
    empty = pl.DataFrame(schema=schema)
    return pl.concat([empty, *frames], how="diagonal_relaxed").select(schema.names())


def _chunked(
    file: Path, inputs: Callable[[], Iterator[Part]], empty: Part, plans: Sequence[TablePlan]
) -> list[FilePlan]:
    """The plans of an archive read a few members at a time: a polars IO source that yields one input at a time.

    ``inputs`` opens the archive and yields its inputs (when the host runs the plans); ``empty`` is an
    input without lines, whose plans give the stream's columns.
    """
    schema = pl.concat(_outputs(empty, empty.records, plans), how="diagonal_relaxed").collect_schema()
    # An input is as large as it is (about CHUNK_BYTES of text).
    source = io_source(lambda: (_collect_input(part, plans, schema) for part in inputs()), schema)
    # One pass over the archive feeds every output of a plan (the loaded rows, the rejected ones, the keys).  The
    # stream is cached behind a barrier that no filter or projection crosses: polars would otherwise push each
    # output's own filter through the cache into the source and run the source, decoding everything, per output.
    rows = source.map_batches(_same, schema=schema, streamable=True).cache()
    out = []
    for p in plans:
        name = p.spec.name
        loaded = rows.filter(pl.col(_OUT) == name).select("line", *_columns(p, schema), *_keys(p), _NAME)
        rejected = rows.filter(pl.col(_OUT) == name + _REJECTED).select(
            pl.col(_R + c).alias(c) for c in REJECTS_SCHEMA.names()
        )
        out.append(
            FilePlan(
                file=file,
                table=name,
                loaded=loaded,
                rejected=rejected.cast(REJECTS_SCHEMA),
                dedup=_dedup(p),
                hidden=[*_keys(p), _NAME],
                named_by=_NAME,
                optional=name != "events",
            )
        )
    return out


def _same(frame: pl.DataFrame) -> pl.DataFrame:
    return frame


def _columns(p: TablePlan, schema: pl.Schema) -> list[str]:
    """The table's columns in an archive's stream: canonical ones, then the extras the inputs hold."""
    return [*p.spec.schema.names(), *(c for c in p.columns if c not in p.spec.schema and c in schema)]


def plan(
    files: Sequence[Path],
    heads: Sequence[bytes],
    make_parts: Callable[[list[Path], list[bytes], int | None], Iterator[Part]],
    plans: Sequence[TablePlan],
    *,
    groups: Callable[[Path], list[Callable[[], Iterator[Part]]]] | None = None,
    empty: Callable[[Path], Part] | None = None,
) -> list[FilePlan]:
    """The plans of the files, in order, for each table: a zip archive in ``groups`` of members, each through an
    IO source (``empty`` gives its columns), another file in slices of :data:`SLICE_ROWS` lines or rows
    (``make_parts(files, heads, SLICE_ROWS)`` gives a file of JSON lines in slices already).

    A table other than ``events`` is optional (:attr:`FilePlan.optional`): GA4 orders come from purchases, and
    the reader gives a load only to the files holding some.
    """
    out: list[FilePlan] = []
    for path, first in zip(files, heads, strict=True):
        if is_zip(first) and groups is not None and empty is not None:
            for inputs in groups(path):
                out += _chunked(path, inputs, empty(path), plans)
            continue
        for part in make_parts([path], [first], SLICE_ROWS):
            out += _plain(part, plans)
    return out
