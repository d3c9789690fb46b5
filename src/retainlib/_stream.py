"""``retainlib.read_to_parquet``: files to a canonical Parquet dataset, streamed.

A file larger than memory is read in one streaming pass: each row is coerced
and checked on the way, loaded rows are written to ``OUT/<table>/part-NNNNN.parquet``
and rejected ones to ``OUT/rejected/part-NNNNN.parquet`` as they are found.
Beside them, a small file per part keeps each loaded row's line and the hash
of its key (``order_id``...).  Once every file is written, keys repeated
across the whole table are found from those hashes, partition by partition of
the hash space so that memory stays bounded, confirmed against the keys
themselves, and their rows moved from the table to the rejected rows (the
first occurrence stays, as :func:`retainlib.read` does).

Sources that cannot stream some input (a file polars cannot read as it
stands, the policies that group rows, a plugin without a planner) are read in
memory by their reader and written afterwards: the result is the same.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from retainlib._dataset import _FORMAT_VERSION, _META_FILE, Dataset
from retainlib._host import Host, default_host
from retainlib.errors import OptionError, RetainlibError, SourceError
from retainlib.load_report import REJECTS_SCHEMA, FileLoad, LoadReport
from retainlib.plugins import FilePlan, Source, progress
from retainlib.tables import TABLES, parquet_mark

__all__ = ["read_to_parquet"]

#: Folder of the rejected rows inside the output folder.
REJECTED = "rejected"
_HASH = "_retainlib_hash"
_HASHES = "_hashes.parquet"  # the keys' hashes, while the keys are checked in slices
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
    host = default_host()
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


def _stream(root: Path, source: Source, plans: list[FilePlan]) -> LoadReport:
    _clear(root)
    for folder in {p.table for p in plans} | {REJECTED}:
        (root / folder).mkdir(parents=True, exist_ok=True)
    parts: dict[str, list[tuple[int, FilePlan]]] = {}
    for number, p in enumerate(plans):
        part = f"part-{number:05d}.parquet"
        sinks = [
            p.loaded.drop("line").sink_parquet(root / p.table / part, metadata=parquet_mark(p.table), lazy=True),
            p.rejected.sink_parquet(root / REJECTED / part, row_group_size=_SMALL_GROUPS, lazy=True),
        ]
        pl.collect_all(sinks, engine="streaming")
        parts.setdefault(p.table, []).append((number, p))
        progress(p.file, _count(root / p.table / part) + _count(root / REJECTED / part))
    repeats = {table: _repeated_keys(root, table, items) for table, items in parts.items()}
    loads = []
    for table, items in parts.items():
        for number, p in items:
            part = f"part-{number:05d}.parquet"
            loaded = _count(root / table / part)
            rejected = pl.read_parquet(root / REJECTED / part)
            repeated = repeats[table].get(number)
            if repeated is not None and repeated.height:
                _drop_rows(root / table / part, repeated["position"])
                extra = repeated.select(
                    pl.lit(str(p.file)).alias("file"),
                    "line",
                    pl.lit(table).alias("table"),
                    pl.lit(TABLES[table].key).alias("column"),
                    (pl.lit(f"{TABLES[table].key}: duplicate id") + pl.col("_where")).alias("reason"),
                )
                rejected = pl.concat([rejected, extra.cast(REJECTS_SCHEMA)]).sort("line")
                _write_rejects(root / REJECTED / part, rejected)
                loaded -= repeated.height
            loads.append(
                FileLoad(
                    file=str(p.file),
                    table=table,
                    rows_read=loaded + rejected.height,
                    rows_loaded=loaded,
                    rejected=rejected,
                )
            )
    meta = {"format": "retainlib-dataset", "version": _FORMAT_VERSION, "source": source.name, "tables": sorted(parts)}
    (root / _META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    report = LoadReport(source=source.name, files=tuple(loads))
    report.check()
    return report


def _count(path: Path) -> int:
    return int(pl.scan_parquet(path).select(pl.len()).collect().item())


def _repeated_keys(root: Path, table: str, items: list[tuple[int, FilePlan]]) -> dict[int, pl.DataFrame]:
    """Per part number, the loaded rows whose key an earlier row holds: ``position`` in the part, ``line``, why.

    The keys' hashes are read back from the written parts and repeated ones
    found one slice of the hash space at a time (at most :data:`KEYS_PER_PASS`
    keys in memory); the rows holding them are then compared by their keys, in
    file order.  Their lines come from their file's plan, run again for them
    alone (repeats are rare).
    """
    key = TABLES[table].key
    if key is None:
        return {}
    files = [root / table / f"part-{n:05d}.parquet" for n, _ in items]
    total = sum(_count(f) for f in files)
    slices = max(1, -(-total // KEYS_PER_PASS))
    hashes = pl.scan_parquet(files).select(pl.col(key).hash().alias(_HASH))
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
    suspects = pl.concat(repeated)
    if suspects.len() == 0:
        return {}
    rows = []
    for (n, _), path in zip(items, files, strict=True):
        with_hash = pl.scan_parquet(path).select(key).with_row_index("position")
        hit = with_hash.filter(pl.col(key).hash().is_in(suspects.implode())).collect()
        rows.append(hit.with_columns(pl.lit(n).alias("part")))
    every = pl.concat(rows).sort("part", "position")
    same_file = pl.col("part").first().over(key) == pl.col("part")
    reason = pl.when(same_file).then(pl.lit("")).otherwise(pl.lit(" (loaded from an earlier file)"))
    dups = every.with_columns(reason.alias("_where")).filter(~pl.col(key).is_first_distinct())
    found: dict[int, pl.DataFrame] = {}
    plans = dict(items)
    for (n,), frame in dups.group_by("part", maintain_order=True):
        positions = frame["position"].implode()
        lines = (
            plans[int(n)]
            .loaded.select(pl.col("line").cast(pl.Int64))
            .with_row_index("position")
            .filter(pl.col("position").is_in(positions))
            .collect(engine="streaming")
        )
        found[int(n)] = frame.drop("part").join(lines, on="position", how="left")
    return found


def _drop_rows(path: Path, positions: pl.Series) -> None:
    """Rewrite a part without the rows at ``positions`` (streamed, then swapped in)."""
    kept = pl.scan_parquet(path).with_row_index("_p").filter(~pl.col("_p").is_in(positions.implode())).drop("_p")
    temporary = path.with_suffix(".tmp")
    kept.sink_parquet(temporary, metadata=pl.read_parquet_metadata(path))
    temporary.replace(path)
