"""Parquet files of a canonical table as a dask DataFrame, every file named when it cannot be read."""

from __future__ import annotations

import glob
import importlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from retainlib.errors import OptionError, SourceError

if TYPE_CHECKING:
    import dask.dataframe as dd
    import pandas as pd

__all__ = ["read_parquet"]

#: Rows per partition that :func:`read_parquet` aims at (whole row groups of a file).
PARTITION_ROWS = 2_000_000


def _files(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[str]:
    """The Parquet files of ``paths``: files, directories (their ``*.parquet``, recursively) and glob patterns."""
    given = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    found: list[str] = []
    for entry in given:
        text = os.fspath(entry)
        if any(ch in text for ch in "*?["):
            found += sorted(glob.glob(text, recursive=True))  # noqa: PTH207 - an absolute pattern too
        elif Path(text).is_dir():
            found += sorted(str(f) for f in Path(text).rglob("*.parquet"))
        elif Path(text).is_file():
            found.append(text)
        else:
            raise SourceError("no such file or directory", file=Path(text))
    if not found:
        raise SourceError(f"no Parquet files in {', '.join(os.fspath(g) for g in given)}")
    return found


#: A piece of a Parquet file: (file, first row, number of rows), whole row groups.
Piece = tuple[str, int, int]


def _pieces(files: list[str], rows: int) -> tuple[Any, list[Piece]]:
    """The common schema of ``files`` and their pieces (a file's consecutive row groups, about ``rows`` rows).

    Reads each file's footer here: a file that is not Parquet, or whose schema
    differs from the first file's, is a :class:`SourceError` naming it.
    """
    pq: Any = importlib.import_module("pyarrow.parquet")  # untyped
    schema: Any = None
    pieces: list[Piece] = []
    for file in files:
        try:
            meta = pq.ParquetFile(file).metadata
            found = meta.schema.to_arrow_schema()
        except Exception as exc:  # pyarrow's errors for a bad file are of several kinds
            raise SourceError(f"cannot read this Parquet file: {exc}", file=Path(file)) from exc
        if schema is None:
            schema = found
        elif not found.remove_metadata().equals(schema.remove_metadata()):
            raise SourceError(
                f"its columns ({found.to_string(show_schema_metadata=False)}) differ from those of {files[0]}",
                file=Path(file),
            )
        start = count = 0
        for i in range(meta.num_row_groups):
            count += meta.row_group(i).num_rows
            if count >= rows or i == meta.num_row_groups - 1:
                pieces.append((file, start, count))
                start, count = start + count, 0
        if meta.num_row_groups == 0:
            pieces.append((file, 0, 0))
    return schema, pieces


def _to_pandas(frame: pl.DataFrame) -> pd.DataFrame:
    """A polars frame as pandas with arrow-backed columns (exact decimals, UTC timestamps; no copy of strings)."""
    out: pd.DataFrame = frame.to_pandas(use_pyarrow_extension_array=True)
    return out


def _read_piece(piece: Piece, schema: Any) -> pd.DataFrame:
    """One piece of a file, on a worker (read by polars); any failure is a :class:`SourceError` naming the file."""
    file, start, rows = piece
    try:
        frame = pl.scan_parquet(file).slice(start, rows).collect()
    except Exception as exc:
        raise SourceError(
            f"cannot read rows {start}..{start + rows} of this Parquet file: {exc}", file=Path(file)
        ) from exc
    return _to_pandas(frame)


def read_parquet(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    by_customer: bool = False,
    partition_rows: int = PARTITION_ROWS,
) -> dd.DataFrame:
    """Parquet files of a canonical table (orders, subscriptions...) as a dask DataFrame for the kernels.

    ``paths``: files, directories (their ``*.parquet`` files) or glob
    patterns.  Each partition is whole row groups of one file, about
    ``partition_rows`` rows; the columns keep their arrow types (exact
    decimals, UTC timestamps).  Every file's footer is read here: a file that
    is not Parquet, or whose columns differ from the first file's, is a
    :class:`~retainlib.errors.SourceError` naming it; a file that fails later,
    on a worker, raises the same error from the kernel, never a partial
    result.  A bad row found by a kernel is named by its file and its row
    in that file (1-based) in the :class:`~retainlib.errors.DataError`.

    ``by_customer=True`` declares that each customer's rows are in one file
    (written per customer bucket, as :func:`retainlib.dask.by_customer` and
    ``to_parquet`` leave them): the kernels then skip the shuffle.  A wrong
    declaration gives wrong results.
    """
    try:
        dataframes: Any = importlib.import_module("dask.dataframe")  # untyped
    except ImportError as exc:
        from retainlib.errors import RetainlibError

        raise RetainlibError('retainlib.dask needs dask and distributed: pip install "retainlib[dask]"') from exc
    if isinstance(partition_rows, bool) or not isinstance(partition_rows, int) or partition_rows < 1:
        raise OptionError(
            "partition_rows is a number of rows, 1 or more", option="partition_rows", value=partition_rows
        )
    files = _files(paths)
    schema, pieces = _pieces(files, partition_rows)
    meta = _to_pandas(pl.DataFrame(pl.from_arrow(schema.empty_table())))
    from retainlib.dask._engine import by_customer as mark
    from retainlib.dask._engine import set_origins

    if by_customer and len({piece[0] for piece in pieces}) != len(pieces):
        # several pieces of one file: group them back so that a file's customers stay together
        pieces = [(f, 0, _rows(f)) for f in files]
    frame: dd.DataFrame = dataframes.from_map(_read_piece, pieces, schema=schema, meta=meta, enforce_metadata=False)
    set_origins(frame, [(file, start + 1) for file, start, _ in pieces])  # errors name a row by file and row
    if by_customer:
        frame = mark(frame, declared=True)
    return frame


def _rows(file: str) -> int:
    pq: Any = importlib.import_module("pyarrow.parquet")  # untyped
    return int(pq.ParquetFile(file).metadata.num_rows)
