"""``retainlib.read_to_parquet``: files to a canonical Parquet dataset, streamed.

A file larger than memory is read in one streaming pass per plan
(:class:`~retainlib.plugins.FilePlan`): each row is coerced and checked on the
way, loaded rows are written to ``OUT/<table>/part-NNNNN.parquet`` and rejected
ones to ``OUT/rejected/part-NNNNN.parquet`` as they are found.  When rows can
repeat a key (the table's key, ``order_id``..., or the keys a plan declares in
:attr:`FilePlan.dedup <retainlib.plugins.FilePlan.dedup>`), the same pass writes
beside them, in a temporary folder, each loaded row's line, the name of its
input and its keys.  Once every plan is written, the keys repeated across the
whole table are found from their 64-bit hashes, a slice of the hash space at a
time so that memory stays bounded (:data:`KEYS_PER_PASS` keys at once),
confirmed against the keys themselves, and their rows moved from the table to
the rejected rows, key by key (the first occurrence stays, as
:func:`retainlib.read` does).  Plans of one file and table (a file planned in
slices) are reported as one load.

Sources that cannot stream some input (a file polars cannot read as it
stands, the policies that group rows, a plugin without a planner) are read in
memory by their reader and written afterwards: the result is the same.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from retainlib._dataset import _FORMAT_VERSION, _META_FILE, Dataset
from retainlib._host import Host
from retainlib._read import host_for
from retainlib.errors import OptionError, PluginError, RetainlibError, SourceError
from retainlib.load_report import REJECTS_SCHEMA, FileLoad, LoadReport
from retainlib.plugins import FilePlan, Source, progress
from retainlib.tables import TABLES, parquet_mark

__all__ = ["read_to_parquet"]

#: Folder of the rejected rows inside the output folder.
REJECTED = "rejected"
_HASH = "_retainlib_hash"
_HASHES = "_hashes.parquet"  # the keys' hashes, while the keys are checked in slices
_SUSPECTS = "_suspects"  # the rows whose key's hash repeats, a file a part, while their keys are compared
_KEYS = "_keys"  # each part's loaded lines, input names and keys, while the keys are checked
_NAME = "_name"
#: Rows per Parquet row group of the side outputs: each sink holds one group in memory while writing.
_SMALL_GROUPS = 65_536
#: Keys checked at once for repeats (a group-by of 64-bit hashes): bounds the memory of the check
#: (about 40 MiB a million keys).
KEYS_PER_PASS = 4_000_000


def read_to_parquet(
    source_or_path: str | os.PathLike[str],
    /,
    *paths: str | os.PathLike[str],
    out: str | os.PathLike[str],
    **options: Any,
) -> Dataset:
    """Read files as :func:`retainlib.read` does, writing the canonical dataset to ``out`` as it goes.

    The files are read in one streaming pass when their source can plan them
    (the built-in ``csv`` and ``parquet`` sources can, for the policies that
    keep rows apart): peak memory then stays near that of polars copying the
    file to Parquet, whatever the file's size.  Rejected rows are written to
    ``out/rejected/`` as they are found.  Otherwise the source reads in
    memory and the result is written afterwards.

    Returns the dataset scanned lazily from ``out`` (``Dataset.read_parquet``),
    with the load report in ``.report``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "orders.csv").write_text(
    ...     "order_id,customer_id,ordered_at,amount,currency\\n"
    ...     "o1,c1,2024-03-01T10:00:00Z,12.50,EUR\\n"
    ...     "o2,c1,not a date,8.00,EUR\\n"
    ... )
    >>> ds = read_to_parquet("csv", folder / "orders.csv", out=folder / "dataset")
    >>> ds.report.rows_read, ds.report.rows_loaded, ds.report.rows_rejected
    (2, 1, 1)
    >>> sorted(p.name for p in (folder / "dataset").iterdir())
    ['orders', 'rejected', 'retainlib.json']
    """
    host = host_for(source_or_path, paths)
    root = Path(out)
    source, files = _resolve(host, source_or_path, paths)
    if source is None:  # several sources detected: read in memory and merge, as read() does
        return _in_memory(root, files, options, None)
    plans = _plans(host, source, files, options)
    if plans is None:
        return _in_memory(root, files, options, source)
    try:
        report = _stream(root, source, plans)
    except pl.exceptions.PolarsError:
        # A file polars could not read as it stands after all (a ragged row): the reader knows how.
        return _in_memory(root, files, options, source)
    dataset = Dataset.read_parquet(root, validate="none")
    return dataset.relabel(source=source.name, report=report)


def _resolve(
    host: Host, first: str | os.PathLike[str], rest: Sequence[str | os.PathLike[str]]
) -> tuple[Source | None, list[Path | str]]:
    name = os.fspath(first)
    if name == "auto" and rest:
        name, rest = os.fspath(rest[0]), rest[1:]
    if name in host.sources and not Path(name).is_file():
        if not rest:
            raise OptionError(f"read_to_parquet({name!r}) needs at least one file", option="paths", value=())
        return host.sources[name], host.arguments(host.sources[name], rest)  # connection strings stay strings
    files: list[Path] = [Path(name), *(Path(p) for p in rest)]
    if not files[0].exists() and (rest or files[0].suffix == ""):
        host.source(name)  # an unknown source name: raises with suggestions
    detected = {host.detect(f).name for f in files if f.exists()}
    if len(detected) == 1 and all(f.exists() for f in files):
        return host.sources[detected.pop()], list(files)
    return None, list(files)


def _plans(host: Host, source: Source, files: list[Path | str], options: dict[str, Any]) -> list[FilePlan] | None:
    if source.planner is None:
        return None
    host.check_options(source, options)
    host.check_files(source, files)
    try:
        return source.planner(files, **options)
    except RetainlibError:
        raise
    except (OSError, UnicodeError) as exc:
        raise SourceError(f"cannot read: {exc}", source=source.name) from exc
    except Exception as exc:  # a planner's own bug: name the plugin, never a raw error
        raise SourceError(
            f"source {source.name!r} (plugin {source.plugin!r}) failed to plan: {type(exc).__name__}: {exc}",
            source=source.name,
        ) from exc


def _in_memory(root: Path, files: list[Path | str], options: dict[str, Any], source: Source | None) -> Dataset:
    from retainlib._read import read

    dataset = read(source.name, *files, **options) if source is not None else read(*files, **options)
    _clear(root)
    dataset.write_parquet(root)
    if dataset.report is not None:
        _write_rejects(root / REJECTED / "part-00000.parquet", dataset.report.rejects)
    return dataset


def _clear(root: Path) -> None:
    """Remove what a previous write left in ``root`` (tables, rejects), keeping unrelated files."""
    root.mkdir(parents=True, exist_ok=True)
    for name in (*TABLES, REJECTED):
        for stale in (root / name, root / f"{name}.parquet"):
            if stale.is_dir():
                shutil.rmtree(stale)
            elif stale.exists():
                stale.unlink()


def _write_rejects(path: Path, rejects: pl.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rejects.write_parquet(path)


@dataclass(frozen=True, slots=True)
class _Check:
    """One key checked across a table: its columns, the reason and column of the rows it rejects."""

    columns: tuple[str, ...]
    reason: str
    column: str
    earlier: bool = False  # say when the first holder was loaded from an earlier file (the table's own key)


def _checks(table: str, items: list[tuple[int, FilePlan]]) -> list[_Check]:
    """The keys checked across ``table``: the plans' own (:attr:`FilePlan.dedup`), then the table's key."""
    plans = [p for _, p in items]
    declared = {p.dedup for p in plans}
    if len(declared) > 1:
        raise PluginError(f"the plans of table {table!r} declare different keys (FilePlan.dedup): {declared}")
    checks = [_Check(k.columns, k.reason, k.column) for k in plans[0].dedup]
    key = TABLES[table].key
    if key is not None and all(c.columns != (key,) for c in checks):
        checks.append(_Check((key,), f"{key}: duplicate id", key, earlier=True))
    return checks


def _key(columns: tuple[str, ...]) -> pl.Expr:
    """A key's value (its column, or a record of its columns); null when one of its columns is null."""
    if len(columns) == 1:
        return pl.col(columns[0])
    return pl.when(pl.all_horizontal(pl.col(c).is_not_null() for c in columns)).then(pl.struct(*columns))


def _stream(root: Path, source: Source, plans: list[FilePlan]) -> LoadReport:
    _clear(root)
    for folder in {p.table for p in plans} | {REJECTED}:
        (root / folder).mkdir(parents=True, exist_ok=True)
    parts: dict[str, list[tuple[int, FilePlan]]] = {}
    for number, p in enumerate(plans):
        parts.setdefault(p.table, []).append((number, p))
    checks = {table: _checks(table, items) for table, items in parts.items()}
    keys = root / _KEYS
    done: dict[Path, int] = {}
    try:
        for group in _passes(plans):
            sinks = []
            for number in group:
                p = plans[number]
                sinks += _sinks(root, p, f"part-{number:05d}.parquet", checks[p.table])
            pl.collect_all(sinks, engine="streaming")  # one pass: the plans' common work is shared
            for number in group:
                p, part = plans[number], f"part-{number:05d}.parquet"
                done[p.file] = done.get(p.file, 0) + _count(root / p.table / part) + _count(root / REJECTED / part)
            if group[-1] + 1 == len(plans) or plans[group[-1] + 1].file != p.file:  # a file planned in slices: once
                progress(p.file, done[p.file])
        repeats = {table: _repeated_keys(root, items, checks[table]) for table, items in parts.items()}
    finally:
        shutil.rmtree(keys, ignore_errors=True)
    loads: list[FileLoad] = []
    written: set[str] = set()
    for table, items in parts.items():
        for number, p in items:
            part = f"part-{number:05d}.parquet"
            loaded = _count(root / table / part)
            rejected = pl.read_parquet(root / REJECTED / part)
            repeated = repeats[table].get(number)
            if repeated is not None and repeated.height:
                _drop_rows(root / table / part, repeated["position"])
                extra = repeated.select(
                    pl.col(_NAME).alias("file"),
                    "line",
                    pl.lit(table).alias("table"),
                    pl.col("_column").alias("column"),
                    pl.col("_reason").alias("reason"),
                )
                rejected = pl.concat([rejected, extra.cast(REJECTS_SCHEMA)])
                rejected = rejected.sort("line", maintain_order=True) if p.named_by is None else rejected
                _write_rejects(root / REJECTED / part, rejected)
                loaded -= repeated.height
            if p.optional and loaded + rejected.height == 0:  # no candidate for this table in the file
                (root / table / part).unlink()
                (root / REJECTED / part).unlink()
                continue
            written.add(table)
            load = FileLoad(
                file=str(p.file), table=table, rows_read=loaded + rejected.height, rows_loaded=loaded, rejected=rejected
            )
            if loads and (loads[-1].file, loads[-1].table) == (load.file, table):  # one file planned in slices
                before = loads.pop()
                load = FileLoad(
                    file=load.file,
                    table=table,
                    rows_read=before.rows_read + load.rows_read,
                    rows_loaded=before.rows_loaded + load.rows_loaded,
                    rejected=pl.concat([before.rejected, rejected]),
                )
            loads.append(load)
    for table in set(parts) - written:
        shutil.rmtree(root / table)
    meta = {"format": "retainlib-dataset", "version": _FORMAT_VERSION, "source": source.name, "tables": sorted(written)}
    (root / _META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    report = LoadReport(source=source.name, files=tuple(loads))
    report.check()
    return report


def _passes(plans: list[FilePlan]) -> list[list[int]]:
    """The plans run together: consecutive plans of one file for different tables (a file's events and
    orders) share one streaming pass; a table repeated (the next slice of the file) starts another."""
    groups: list[list[int]] = []
    for number, p in enumerate(plans):
        last = groups[-1] if groups else []
        if last and plans[last[0]].file == p.file and all(plans[n].table != p.table for n in last):
            last.append(number)
        else:
            groups.append([number])
    return groups


def _sinks(root: Path, p: FilePlan, part: str, checks: list[_Check]) -> list[pl.LazyFrame]:
    """The outputs of one plan: the table's part, the rejected rows and, when keys are checked, the keys."""
    rows = p.loaded.cache() if checks else p.loaded  # feeds the table and the keys: run once
    sinks = [
        rows.drop("line", *p.hidden).sink_parquet(root / p.table / part, metadata=parquet_mark(p.table), lazy=True),
        p.rejected.sink_parquet(root / REJECTED / part, row_group_size=_SMALL_GROUPS, lazy=True),
    ]
    if checks:  # each loaded row's line, its input's name and its keys, for the checks below
        (root / _KEYS).mkdir(exist_ok=True)
        name = pl.lit(str(p.file)) if p.named_by is None else pl.col(p.named_by).cast(pl.String)
        keys = rows.select(
            pl.col("line").cast(pl.Int64),
            name.alias(_NAME),
            *(_key(c.columns).alias(f"_k{i}") for i, c in enumerate(checks)),
        )
        sinks.append(keys.sink_parquet(root / _KEYS / part, row_group_size=_SMALL_GROUPS, lazy=True))
    return sinks


def _count(path: Path) -> int:
    return int(pl.scan_parquet(path).select(pl.len()).collect().item())


def _repeated_keys(root: Path, items: list[tuple[int, FilePlan]], checks: list[_Check]) -> dict[int, pl.DataFrame]:
    """Per part number, the loaded rows a key check rejects: ``position`` in the part, ``line``, name, why.

    The keys are checked in order, each among the rows the earlier ones left.
    The keys' hashes are counted one slice of the hash space at a time (at
    most :data:`KEYS_PER_PASS` keys in memory); only the rows whose hash
    repeats are read with their keys, in read order, and compared by their
    keys (a collision of hashes never rejects a row).
    """
    if not checks:
        return {}
    files = [root / _KEYS / f"part-{n:05d}.parquet" for n, _ in items]
    total = sum(_count(f) for f in files)
    found: list[pl.DataFrame] = []
    for i, check in enumerate(checks):
        column = f"_k{i}"
        suspects = _repeated_hashes(root, files, column, total)
        if suspects.len() == 0:
            continue
        every = _suspect_rows(root, items, files, column, suspects).sort("part", "position")
        if found:  # rows an earlier key rejected are not loaded: they hold no key
            every = every.join(pl.concat(found).select("part", "position"), on=["part", "position"], how="anti")
        first = pl.col("part").first().over(column) == pl.col("part")
        reason = pl.lit(check.reason)
        if check.earlier:
            reason = reason + pl.when(first).then(pl.lit("")).otherwise(pl.lit(" (loaded from an earlier file)"))
        dups = every.with_columns(reason.alias("_reason"), pl.lit(check.column).alias("_column"))
        found.append(dups.filter(~pl.col(column).is_first_distinct()).drop(column))
    if not found:
        return {}
    every = pl.concat(found).sort("part", "position")
    return {int(n): frame.drop("part") for (n,), frame in every.group_by("part", maintain_order=True)}


def _suspect_rows(
    root: Path, items: list[tuple[int, FilePlan]], files: list[Path], column: str, suspects: pl.Series
) -> pl.DataFrame:
    """The rows of every part whose key's hash is among ``suspects``: part, ``position``, line, name, key.

    Each part's are written to a small Parquet file in a streaming pass of its own, then all are read back.
    A frame filtered from a scan keeps the text buffers of the rows it was filtered from (polars' strings are
    views into shared buffers): holding one filtered frame per part held every part's keys and names, 75 MiB
    a part of 2 million rows; one pass over all the parts at once peaked as high.
    """
    found = root / _SUSPECTS
    found.mkdir(exist_ok=True)
    written = []
    try:
        for (n, _), path in zip(items, files, strict=True):
            hit = pl.scan_parquet(path).select("line", _NAME, column).with_row_index("position")
            hit = hit.filter(pl.col(column).is_not_null() & pl.col(column).hash().is_in(suspects.implode()))
            written.append(found / f"part-{n:05d}.parquet")
            hit.with_columns(pl.lit(n, pl.Int64).alias("part")).sink_parquet(written[-1], row_group_size=_SMALL_GROUPS)
        return pl.read_parquet(written)
    finally:
        shutil.rmtree(found, ignore_errors=True)


def _repeated_hashes(root: Path, files: list[Path], column: str, total: int) -> pl.Series:
    """The 64-bit hashes of ``column`` that two loaded rows or more hold, a slice of the hash space at a time."""
    slices = max(1, -(-total // KEYS_PER_PASS))
    hashes = pl.scan_parquet(files).select(column).filter(pl.col(column).is_not_null())
    hashes = hashes.select(pl.col(column).hash().alias(_HASH))
    if slices > 1:  # the keys are read and hashed once; each slice then reads 8 bytes a row
        hashes.sink_parquet(root / _HASHES)
        hashes = pl.scan_parquet(root / _HASHES)
    repeated: list[pl.Series] = []
    try:
        for s in range(slices):
            piece = hashes if slices == 1 else hashes.filter(pl.col(_HASH) % slices == s)
            counts = piece.group_by(_HASH).agg(pl.len().alias("n")).filter(pl.col("n") > 1)
            repeated.append(counts.collect(engine="streaming")[_HASH])
    finally:
        (root / _HASHES).unlink(missing_ok=True)
    return pl.concat(repeated)


def _drop_rows(path: Path, positions: pl.Series) -> None:
    """Rewrite a part without the rows at ``positions`` (streamed, then swapped in)."""
    kept = pl.scan_parquet(path).with_row_index("_p").filter(~pl.col("_p").is_in(positions.implode())).drop("_p")
    temporary = path.with_suffix(".tmp")
    kept.sink_parquet(temporary, metadata=pl.read_parquet_metadata(path))
    temporary.replace(path)
