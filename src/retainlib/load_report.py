"""The load report every read returns beside its data.

For each file (and table) read, the report counts rows read, rows loaded and
rows rejected, and keeps every rejected row with its file, line and reason, so
that **rows read = rows loaded + rows rejected** always holds.  The plugin host
checks that identity on every source's report.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import attrs
import polars as pl

from retainlib.errors import PluginError

__all__ = ["REJECTS_SCHEMA", "FileLoad", "LoadReport"]

#: Columns of the rejected-rows frame.
REJECTS_SCHEMA = pl.Schema(
    {"file": pl.String, "line": pl.Int64, "table": pl.String, "column": pl.String, "reason": pl.String}
)


#: First characters that make a spreadsheet cell a formula (CSV injection).
_FORMULA_START = r"^[=+\-@\t\r]"


def _inert(column: str) -> pl.Expr:
    """The text column, with a leading ``'`` where a spreadsheet would read a cell as a formula."""
    cell = pl.col(column)
    return pl.when(cell.str.contains(_FORMULA_START)).then(pl.lit("'") + cell).otherwise(cell).alias(column)


def _rejects(frame: pl.DataFrame | None) -> pl.DataFrame:
    if frame is None:
        return pl.DataFrame(schema=REJECTS_SCHEMA)
    return frame.select(pl.col(n).cast(t) for n, t in REJECTS_SCHEMA.items())


@attrs.frozen(kw_only=True)
class FileLoad:
    """What happened to the rows of one file (or one table of a file).

    Attributes:
        file: the file's path (or a label such as ``"<frame>"``).
        table: the canonical table its rows went to (``""`` when none did).
        rows_read: records found in the file (header excluded).
        rows_loaded: records that went into the table.
        rejected: one row per rejected record (file, line, table, column, reason).
        rows_out: the table rows the loaded records became, when a source groups
            records (line items aggregated into orders); ``None`` means one row per
            loaded record.
    """

    file: str
    table: str
    rows_read: int
    rows_loaded: int
    rejected: pl.DataFrame = attrs.field(factory=lambda: _rejects(None), converter=_rejects)
    rows_out: int | None = None

    @property
    def records(self) -> int:
        """Rows of the table this file's loaded records became."""
        return self.rows_loaded if self.rows_out is None else self.rows_out

    @property
    def rows_rejected(self) -> int:
        """Number of rejected records."""
        return self.rejected.height

    @property
    def balanced(self) -> bool:
        """Whether rows read = rows loaded + rows rejected."""
        return self.rows_read == self.rows_loaded + self.rows_rejected


def _loads(items: Iterable[FileLoad]) -> tuple[FileLoad, ...]:
    return tuple(items)


@attrs.frozen(kw_only=True)
class LoadReport:
    """Rows read, loaded and rejected by one read, file by file.

    Attributes:
        source: the source that read the files.
        files: one :class:`FileLoad` per file and table.

    Examples
    --------
    >>> report = LoadReport(source="csv", files=(FileLoad(file="a.csv", table="orders", rows_read=3, rows_loaded=3),))
    >>> report.rows_read, report.rows_loaded, report.rows_rejected
    (3, 3, 0)
    """

    source: str
    files: tuple[FileLoad, ...] = attrs.field(default=(), converter=_loads)

    @property
    def rows_read(self) -> int:
        """Records read, over all files."""
        return sum(f.rows_read for f in self.files)

    @property
    def rows_loaded(self) -> int:
        """Records loaded, over all files."""
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_rejected(self) -> int:
        """Records rejected, over all files."""
        return sum(f.rows_rejected for f in self.files)

    @property
    def rejects(self) -> pl.DataFrame:
        """Every rejected record: file, line, table, column, reason."""
        return pl.concat([_rejects(None), *(f.rejected for f in self.files)], how="vertical")

    def reasons(self) -> pl.DataFrame:
        """Rejected records counted by table, column and reason (most frequent first)."""
        return (
            self.rejects.group_by("table", "column", "reason")
            .agg(pl.len().alias("rows"))
            .sort(["rows", "table", "column", "reason"], descending=[True, False, False, False])
        )

    def check(self) -> None:
        """Raise :class:`PluginError` unless rows read = loaded + rejected for every file."""
        for f in self.files:
            if not f.balanced:
                raise PluginError(
                    f"source {self.source!r} reported {f.rows_read} rows read from {f.file} "
                    f"but {f.rows_loaded} loaded + {f.rows_rejected} rejected",
                    plugin=self.source,
                )

    def write_rejects(self, path: str | Path) -> Path:
        """Write every rejected record to a CSV file and return its path.

        Text cells that a spreadsheet would run as a formula (starting with
        ``=``, ``+``, ``-``, ``@``, a tab or a carriage return, as a file named
        ``=HYPERLINK(...).csv`` would) are written with a leading ``'``.
        """
        out = Path(path)
        self.rejects.with_columns(
            _inert(name) for name, dtype in REJECTS_SCHEMA.items() if dtype == pl.String
        ).write_csv(out)
        return out

    def combine(self, others: Iterable[LoadReport]) -> LoadReport:
        """One report holding this one's files and the others'."""
        files: list[FileLoad] = list(self.files)
        for o in others:
            files.extend(o.files)
        return attrs.evolve(self, files=tuple(files))

    def summary(self) -> pl.DataFrame:
        """One row per file: file, table, read, loaded, rejected."""
        return pl.DataFrame(
            {
                "file": [f.file for f in self.files],
                "table": [f.table for f in self.files],
                "read": [f.rows_read for f in self.files],
                "loaded": [f.rows_loaded for f in self.files],
                "rejected": [f.rows_rejected for f in self.files],
            },
            schema={"file": pl.String, "table": pl.String, "read": pl.Int64, "loaded": pl.Int64, "rejected": pl.Int64},
        )

    def __str__(self) -> str:
        lines = [
            f"{self.source}: {self.rows_read} rows read = {self.rows_loaded} loaded + {self.rows_rejected} rejected"
        ]
        lines += [
            f"  {f.file} -> {f.table or '-'}: {f.rows_read} read, {f.rows_loaded} loaded, {f.rows_rejected} rejected"
            for f in self.files
        ]
        for table, column, reason, rows in self.reasons().head(10).iter_rows():
            lines.append(f"  rejected {rows} x {table}.{column}: {reason}")
        return "\n".join(lines)
