"""Streaming plans of the analytics sources: ``rl.read_to_parquet`` and ``retainlib read ... --out DIR``.

A read in memory (:func:`retainlib_analytics._events.read_all`) holds every
decoded record.  A streamed read holds a batch of lines at a time and works in
two steps:

1. **Staging (while planning).**  Each input (a file, or about 64 MiB of
   an Amplitude archive's members, decompressed in memory, never extracted)
   is decoded and conformed in one streaming pass, exactly as the reader does
   it, and its loaded rows (with their line and their duplicate keys) and its
   rejected ones are written to Parquet files in a temporary folder.  This
   runs while planning, against the hook's wish that nothing run then: the
   duplicates of a table without a key column (events) must be known before
   the plans are.
2. **Duplicates.**  A loaded row whose key (Mixpanel's event, customer,
   second and ``$insert_id``; Amplitude's ``uuid``, then ``$insert_id``; GA4's
   event fields; a GA4 purchase's ``transaction_id``) an earlier loaded row of
   the read holds is a duplicate, the first staying, as in memory.  The keys'
   64-bit hashes are counted one slice of the hash space at a time (at most
   :data:`KEYS_PER_PASS` keys in memory); only rows whose hash repeats are read
   with their keys, sorted in read order and compared by their keys (a hash
   collision never makes a false duplicate).  Duplicates are rare: their
   ``(input, line)`` pairs are all that is kept.

The plans returned (one :class:`~retainlib.plugins.FilePlan` per file and
table) scan the staged files without the duplicates, and add the duplicates
to the rejected rows.  The temporary folder is removed when the plans are
dropped (at the end of ``read_to_parquet``), or when the process ends.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from retainlib import _conform
from retainlib.load_report import REJECTS_SCHEMA
from retainlib.plugins import FilePlan
from retainlib.tables import TableSpec
from retainlib_analytics._events import Part, TablePlan, localise, rejects
from retainlib_analytics._jsonl import LINE, PROBLEM

__all__ = ["KEYS_PER_PASS", "Plans", "conform_lazy", "plan"]

#: Keys whose hashes are counted at once when duplicates are looked for (about 40 MiB a million keys).
KEYS_PER_PASS = 4_000_000
_PART = "_part"  # the staged input's number, in read order
_HASH = "_hash"
_REASON = "_reason"


class Plans(list[FilePlan]):
    """The plans of one streamed read; their staging folder is removed once this list is dropped."""


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


#: Inputs of one file staged together in one pass (an Amplitude archive's members come in inputs of about
#: 64 MiB of text: see :data:`retainlib_analytics._amplitude.CHUNK_BYTES`); their text is in memory at once.
PARTS_PER_PASS = 4
_NO_ROWS = {_PART: pl.Int64, LINE: pl.Int64}


@dataclass(slots=True)
class _Staged:
    """Some inputs of one file, their rows for one table written to the staging folder (with ``_PART``)."""

    file: str
    parts: dict[int, Part]
    loaded: Path
    rejected: Path
    read: int = 0
    repeated: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema={**_NO_ROWS, _REASON: pl.String}))


def _count(path: Path) -> int:
    return int(pl.scan_parquet(path).select(pl.len()).collect().item())


def _stage(parts: dict[int, Part], plans: Sequence[TablePlan], folder: Path) -> dict[str, _Staged]:
    """Decode, conform and write some inputs' rows for every table, in one streaming pass.

    When polars refuses a line, the inputs are staged again, decoded line by line where they can be
    (:attr:`Part.careful`), so that the line is explained.
    """
    try:
        return _stage_once(parts, plans, folder, careful=False)
    except pl.exceptions.PolarsError:
        if all(p.careful is None for p in parts.values()):
            raise
        return _stage_once(parts, plans, folder, careful=True)


def _stage_once(
    parts: dict[int, Part], plans: Sequence[TablePlan], folder: Path, *, careful: bool
) -> dict[str, _Staged]:
    sinks = []
    staged: dict[str, _Staged] = {}
    first = min(parts)
    for p in plans:
        name = p.spec.name
        loaded, rejected = [], []
        for number, part in parts.items():
            records = part.careful if careful and part.careful is not None else part.records
            records = records if p.select is None else p.select(records)
            ok, bad = conform_lazy(part, records, p.spec, columns=p.columns, keys=[k for k, _ in p.keys])
            loaded.append(ok.with_columns(pl.lit(number, pl.Int64).alias(_PART)))
            rejected.append(bad)
        file = next(iter(parts.values())).file
        s = _Staged(file, parts, folder / f"{name}-{first:06d}.parquet", folder / f"{name}-{first:06d}-rej.parquet")
        sinks += [
            pl.concat(loaded).sink_parquet(s.loaded, lazy=True),
            pl.concat(rejected).sink_parquet(s.rejected, lazy=True),
        ]
        staged[name] = s
    pl.collect_all(sinks, engine="streaming")
    for s in staged.values():
        s.read = _count(s.loaded) + _count(s.rejected)
    return staged


def _groups(parts: Iterator[Part]) -> Iterator[dict[int, Part]]:
    """The inputs numbered in read order, in groups of at most :data:`PARTS_PER_PASS` inputs of one file."""
    group: dict[int, Part] = {}
    for number, part in enumerate(parts):
        if group and (len(group) >= PARTS_PER_PASS or next(iter(group.values())).file != part.file):
            yield group
            group = {}
        group[number] = part
    if group:
        yield group


def _repeated(staged: Sequence[_Staged], key: str, dropped: pl.DataFrame) -> pl.DataFrame:
    """``_PART`` and ``LINE`` of the loaded rows whose ``key`` an earlier loaded row holds (``dropped`` left out)."""
    scans = [pl.scan_parquet(s.loaded).select(_PART, LINE, key).filter(pl.col(key).is_not_null()) for s in staged]
    none = pl.DataFrame(schema=_NO_ROWS)
    if not scans:
        return none
    every = pl.concat(scans)
    total = sum(_count(s.loaded) for s in staged)
    slices = max(1, -(-total // KEYS_PER_PASS))
    hashes = every.select(pl.col(key).hash().alias(_HASH))
    found = []
    for number in range(slices):
        piece = hashes if slices == 1 else hashes.filter(pl.col(_HASH) % slices == number)
        counts = piece.group_by(_HASH).agg(pl.len().alias("n")).filter(pl.col("n") > 1)
        found.append(counts.collect(engine="streaming").get_column(_HASH))
    suspects = pl.concat(found)
    if suspects.len() == 0:
        return none
    rows = (
        every.filter(pl.col(key).hash().is_in(suspects.implode()))
        .collect(engine="streaming")
        .join(dropped, on=[_PART, LINE], how="anti")
        .sort(_PART, LINE)
    )
    return rows.filter(~pl.col(key).is_first_distinct()).select(_PART, LINE)


def _drop_repeated(staged: Sequence[_Staged], keys: Sequence[tuple[str, str]]) -> None:
    """Find each key's duplicates among the rows still loaded, in order; note them where they were staged."""
    dropped = pl.DataFrame(schema=_NO_ROWS)
    for key, reason in keys:
        found = _repeated(staged, key, dropped)
        if found.height == 0:
            continue
        dropped = pl.concat([dropped, found])
        for s in staged:
            mine = found.filter(pl.col(_PART).is_in(list(s.parts)))
            if mine.height:
                s.repeated = pl.concat([s.repeated, mine.with_columns(pl.lit(reason).alias(_REASON))])


def _position(part: pl.Expr, line: pl.Expr) -> pl.Expr:
    """One number for an input's line (an input holds fewer than 2^32 lines)."""
    return part * 2**32 + line


def _file_plan(file: str, spec: TableSpec, staged: Sequence[_Staged], schema: pl.Schema) -> FilePlan:
    """The loaded rows of a file's inputs (duplicates left out) and its rejected rows (duplicates added)."""
    loaded: list[pl.LazyFrame] = []
    rejected: list[pl.LazyFrame] = [pl.LazyFrame(schema=REJECTS_SCHEMA)]
    for s in staged:
        rows = pl.scan_parquet(s.loaded)
        if s.repeated.height:
            gone = s.repeated.select(_position(pl.col(_PART), pl.col(LINE))).to_series()
            rows = rows.filter(~_position(pl.col(_PART), pl.col(LINE)).is_in(gone.implode()))
        loaded.append(rows)
        if spec.name == "events":
            rejected += [p.extra_rejects.lazy() for p in s.parts.values() if p.extra_read]
        rejected.append(pl.scan_parquet(s.rejected))
        for number in s.repeated.get_column(_PART).unique(maintain_order=True).to_list():
            part = s.parts[number]
            rows_of = s.repeated.filter(pl.col(_PART) == number).lazy()
            rejected.append(localise(rejects(rows_of, part.name, spec.name, pl.col(_REASON)), part))
    frame = pl.concat(loaded) if loaded else pl.LazyFrame(schema=schema)
    columns = [c for c in schema.names() if not c.startswith("_")]  # LINE and the keys start with "_", no extra does
    return FilePlan(
        file=Path(file),
        table=spec.name,
        loaded=frame.select(pl.col(LINE).alias("line"), *columns),
        rejected=pl.concat(rejected, how="vertical"),
    )


def plan(parts: Iterator[Part], files: Sequence[str], plans: Sequence[TablePlan]) -> Plans | None:
    """Stage every input, find the duplicates, and plan each file's tables; ``None`` when polars cannot read one.

    A table other than ``events`` gets a plan only for the files holding candidates for it (GA4 orders:
    purchases), as the reader gives a load only for those.
    """
    folder = Path(tempfile.mkdtemp(prefix="retainlib-analytics-"))
    out = Plans()
    weakref.finalize(out, shutil.rmtree, folder, ignore_errors=True)
    staged: dict[str, list[_Staged]] = {p.spec.name: [] for p in plans}
    schemas: dict[str, pl.Schema] = {}
    try:
        for group in _groups(parts):
            for name, s in _stage(group, plans, folder).items():
                staged[name].append(s)
                schemas.setdefault(name, pl.Schema(pl.read_parquet_schema(s.loaded)))
    except pl.exceptions.PolarsError:
        shutil.rmtree(folder, ignore_errors=True)
        return None  # the reader explains what polars could not read
    for p in plans:
        _drop_repeated(staged[p.spec.name], p.keys)
    for file in files:
        for p in plans:
            name = p.spec.name
            mine = [s for s in staged[name] if s.file == file]
            read = sum(s.read for s in mine)
            if name != "events" and read == 0:
                continue
            schema = schemas.get(name) or pl.Schema([(LINE, pl.Int64()), *p.spec.schema.items(), (_PART, pl.Int64())])
            out.append(_file_plan(file, p.spec, mine, schema))
    return out
