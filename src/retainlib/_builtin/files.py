"""Built-in sources ``csv``, ``parquet`` and ``json``: files already in canonical shape.

Each file holds one canonical table, named by the ``table`` option, by the
file's name (``orders.csv``) or, failing both, by its columns.  Columns can be
renamed with ``mapping`` and missing canonical columns filled with
``defaults``.  Rows that cannot be coerced are rejected with their line and
reason; the rest are loaded.  Orders files also take ``refunds`` (what a
negative amount becomes) and ``lines`` (rows are line items), see
:mod:`retainlib._builtin._orders`.

Line numbers: CSV lines count the header as line 1 and every physical line
after it, blank ones included (but a record with a quoted line break counts
as one line when polars reads the file, as it does for well-formed UTF-8
files); JSON lines count from 1; for a JSON array or a Parquet file ``line``
is the record's 1-based position.  Blank lines (and CSV lines holding only
separators) are not rows: neither read nor rejected.

CSV files are read by polars; a file polars cannot read as it stands (rows
with too many fields, stray quotes, an encoding other than UTF-8) is read
again by Python's ``csv`` module, which rejects each row with too many fields
with its line and locates a broken quote.  Both read the missing trailing
fields of a short row as empty.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import mmap
import os
import re
import stat
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, NamedTuple

import attrs
import polars as pl

from retainlib import _conform
from retainlib._builtin._orders import OrderOptions, plan, spec_for
from retainlib._builtin._parquet_stats import text_bounds
from retainlib._dataset import Dataset
from retainlib.calendar import check_tz
from retainlib.errors import OptionError, SourceError
from retainlib.load_report import REJECTS_SCHEMA, FileLoad, LoadReport
from retainlib.plugins import FilePlan, ReadResult, Source, hookimpl, progress
from retainlib.tables import PARQUET_MARK, TABLES, TableSpec

_COMMON_OPTIONS = {
    "table": "canonical table the files hold (default: from the file name, else from the columns)",
    "mapping": "column renames, input name -> canonical name",
    "defaults": "constant values for canonical columns the files lack, e.g. {'currency': 'EUR'}",
    "tz": "time zone of naive timestamps (default: naive timestamps are rejected)",
    "refunds": "orders with a negative amount: 'reject' (default), 'net' (into the order named by a cancels "
    "column) or 'keep'",
    "lines": "orders files with one row per line item: True (amount is the line total) or "
    "{'quantity': COLUMN, 'unit_price': COLUMN}",
}
_CSV_OPTIONS = {
    **_COMMON_OPTIONS,
    "separator": "field separator (default ',')",
    "encoding": "text encoding (default 'utf-8'; e.g. 'latin-1', 'utf-16')",
}
_SCALARS = (str, int, float, Decimal, bool, dt.date, dt.datetime, type(None))
#: Rows pre-rejected while parsing (ragged CSV rows, bad JSON lines): line and reason.
_Prerejected = list[tuple[int, str]]


class _UnreadableError(Exception):
    """Polars could not read a CSV file as it stands: read it again with Python's csv module."""


# --- options ----------------------------------------------------------------------------------


def _check_common(
    table: object, mapping: object, defaults: object, tz: object, refunds: object, lines: object
) -> OrderOptions:
    """Check the options every built-in source takes; each bad one is an :class:`OptionError` naming it."""
    if table is not None and (not isinstance(table, str) or table not in TABLES):
        raise OptionError(f"unknown table {table!r}; tables are {', '.join(TABLES)}", option="table", value=table)
    if mapping is not None and not (
        isinstance(mapping, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items())
    ):
        raise OptionError(
            f"mapping is a dict of input column -> canonical column, got {mapping!r}", option="mapping", value=mapping
        )
    if defaults is not None and not (
        isinstance(defaults, Mapping)
        and all(isinstance(k, str) and isinstance(v, _SCALARS) for k, v in defaults.items())
    ):
        raise OptionError(
            f"defaults is a dict of canonical column -> constant value, e.g. {{'currency': 'EUR'}}, got {defaults!r}",
            option="defaults",
            value=defaults,
        )
    if tz is not None:
        check_tz(tz)
    return OrderOptions.check(refunds, lines)


def _check_csv(separator: object, encoding: object) -> str:
    """Check the CSV options; return the encoding's canonical name."""
    if not (isinstance(separator, str) and len(separator) == 1 and separator.isascii() and separator not in '"\r\n'):
        raise OptionError(
            f"separator is one ASCII character other than a quote or a line break, got {separator!r}",
            option="separator",
            value=separator,
        )
    if not isinstance(encoding, str):
        raise OptionError(f"encoding is a name such as 'utf-8', got {encoding!r}", option="encoding", value=encoding)
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise OptionError(f"unknown encoding {encoding!r}", option="encoding", value=encoding) from None


# --- tables and columns -----------------------------------------------------------------------


def _guess_table(path: Path, columns: Sequence[str], table: str | None) -> TableSpec:
    if table is not None:
        return TABLES[table]
    stem = path.name.split(".")[0].lower()
    if stem in TABLES:
        return TABLES[stem]
    fits = [t for t in TABLES.values() if all(c in columns for c in t.required)]
    if len(fits) == 1:
        return fits[0]
    if not fits:
        raise SourceError(
            "cannot tell which table this file holds: its columns match none "
            f"(columns: {', '.join(columns[:15])}); pass table='orders' (or another) and a mapping",
            file=path,
        )
    fits.sort(key=lambda t: len(t.required), reverse=True)
    if len(fits[0].required) > len(fits[1].required):
        return fits[0]
    raise SourceError(f"the columns fit several tables ({', '.join(t.name for t in fits)}); pass table=", file=path)


def _not_blank(columns: Sequence[str]) -> pl.Expr:
    """False for a blank line: every field empty, the first one perhaps holding spaces (not a row).

    Polars reads a blank line as a row of nulls; only the first field is
    stripped, so the check costs little more than null tests.
    """
    others = pl.all_horizontal([pl.col(c).is_null() for c in columns[1:]]) if columns[1:] else pl.lit(True)
    # The first field is stripped only on the rows whose other fields are all empty (few).
    first = pl.when(others).then(pl.col(columns[0]))
    return ~(others & (first.is_null() | (first.str.strip_chars() == "")))


def _is_blank(record: Sequence[str]) -> bool:
    """The same rule on a record read by Python's csv module (empty fields are "")."""
    return not record[0].strip() and not any(record[1:]) if record else True


def _prerejects(path: Path, table: str, rows: _Prerejected) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "file": [str(path)] * len(rows),
            "line": [line for line, _ in rows],
            "table": [table] * len(rows),
            "column": ["*"] * len(rows),
            "reason": [reason for _, reason in rows],
        },
        schema=REJECTS_SCHEMA,
    )


def _not_utf8(path: Path) -> SourceError:
    return SourceError(
        f"not valid UTF-8 ({_utf8_problem(path)}); pass encoding='latin-1' (or the file's encoding)", file=path
    )


def _polars_failure(path: Path, exc: Exception, recoverable: bool) -> Exception:
    if "utf-8" in str(exc).lower() or "utf8" in str(exc).lower():
        return _not_utf8(path)
    if "overflow" in str(exc).lower():
        return SourceError("an order's total does not fit Decimal(38, 4) (amounts too large to add up)", file=path)
    if recoverable:
        return _UnreadableError(str(exc))
    return SourceError(f"cannot read: {exc}", file=path)


def _plan_file(
    path: Path,
    frame: pl.LazyFrame,
    *,
    first_line: int,
    table: str | None,
    mapping: Mapping[str, str] | None,
    defaults: Mapping[str, Any] | None,
    tz: str | None,
    orders: OrderOptions,
    text: bool = False,
    recoverable: bool = False,
    check_duplicates: bool = False,
    trusted: str | None = None,
    bounds: Mapping[str, _conform.Bounds] | None = None,
) -> tuple[TableSpec, _conform.Conformed]:
    """Plan the coercion of one file's frame into a canonical table (nothing read yet but the schema).

    ``text``: every column is text (CSV, JSON) and rows whose every field is
    blank are blank lines, not rows.  ``check_duplicates``: the plan flags repeated
    keys (for rows grouped into orders); otherwise the caller finds the keys
    repeated among the rows loaded (:func:`_reject_repeated_keys`).
    ``trusted``: the canonical table a file written by retainlib holds (its
    columns of canonical type are taken as they are, see :func:`_written_as`).
    ``bounds``: the bounds of text columns from the file's statistics
    (:func:`_text_bounds`), by input column.
    """
    try:
        columns = frame.collect_schema().names()
    except pl.exceptions.NoDataError:
        raise SourceError("the file is empty (not even a header line)", file=path) from None
    except pl.exceptions.PolarsError as exc:
        raise _polars_failure(path, exc, recoverable) from None
    renames = _conform.check_renames(
        [c for c in columns if c != _conform.ROW], mapping or {}, table=table or "?", file=path
    )
    frame = frame.rename(renames)
    columns = [renames.get(c, c) for c in columns]
    if _conform.ROW not in columns:
        frame = frame.with_row_index(_conform.ROW, offset=first_line)
    columns = [c for c in columns if c != _conform.ROW]
    if text and columns:
        frame = frame.filter(_not_blank(columns))
    spec = _guess_table(path, columns, table)
    line_renames = orders.renames(columns, spec.name, path)
    if line_renames:
        frame = frame.rename(line_renames)
        columns = [line_renames.get(c, c) for c in columns]
    if spec.name == "orders":
        orders.check_columns(columns, path)
    conformed = _conform.conform(
        frame,
        spec_for(spec, orders),
        tz=tz,
        defaults=defaults,
        file=path,
        check_duplicates=check_duplicates,
        trust_canonical=trusted is not None and trusted == spec.name and not renames and not line_renames,
        bounds={line_renames.get(n, n): b for n, b in _renamed(bounds or {}, renames).items()},
    )
    return spec, conformed


def _read_file(
    path: Path,
    frame: pl.LazyFrame,
    *,
    first_line: int,
    table: str | None,
    mapping: Mapping[str, str] | None,
    defaults: Mapping[str, Any] | None,
    tz: str | None,
    orders: OrderOptions,
    text: bool = False,
    prerejected: Sequence[tuple[int, str]] = (),
    recoverable: bool = False,
    trusted: str | None = None,
    bounds: Mapping[str, _conform.Bounds] | None = None,
    scanned: bool = False,
) -> _FileRead:
    """Read one file's frame into a canonical table and its load account.

    ``prerejected``: rows refused while parsing.  ``recoverable``: a polars
    failure raises :class:`_UnreadableError`.  ``scanned``: polars reads the
    file as the frame is collected (else the frame is in memory already).  See
    :func:`_plan_file`.
    """
    spec, conformed = _plan_file(
        path,
        frame,
        first_line=first_line,
        table=table,
        mapping=mapping,
        defaults=defaults,
        tz=tz,
        orders=orders,
        text=text,
        recoverable=recoverable,
        check_duplicates=orders.grouped,
        trusted=trusted,
        bounds=bounds,
    )
    try:
        grouped = spec.name == "orders" and orders.grouped
        if not grouped:  # the row rules join the checks of the one pass (not worked out again by each split)
            conformed = _with_file_rules(spec, conformed, orders)
        if grouped:
            # One pass over the file: every row coerced and checked once; the orders are decided in memory.
            checked = conformed.collect()
            loaded_lf, rejected_lf, loaded_count = plan(checked, orders, file=str(path))
            assert loaded_count is not None  # rows grouped into orders are counted apart from the orders
            loaded, rejected, count, counted = pl.collect_all(
                [loaded_lf, rejected_lf, checked.frame.select(pl.len()), loaded_count]
            )
            rows, rows_loaded, lines = int(count.item()), int(counted.item()), None
        elif scanned:  # rows stand alone, read in pieces: loaded, rejected and counted in the one pass
            loaded, rejected, lines, rows = _split_streamed(path, spec, conformed, orders)
            rows_loaded = loaded.height
        else:  # rows stand alone, in memory: the checked rows are held by the split alone (it lets them go)
            loaded, rejected, lines, rows = _split_in_memory(path, spec, [conformed.collect()], orders)
            rows_loaded = loaded.height
    except pl.exceptions.PolarsError as exc:
        raise _polars_failure(path, exc, recoverable) from None
    if prerejected:
        rejected = pl.concat([rejected, _prerejects(path, spec.name, list(prerejected))]).sort("line")
    load = FileLoad(
        file=str(path),
        table=spec.name,
        rows_read=rows + len(prerejected),
        rows_loaded=rows_loaded,
        rejected=rejected,
        rows_out=loaded.height if orders.grouped and spec.name == "orders" else None,
    )
    progress(path, load.rows_read)
    return _FileRead(spec, loaded, load, lines)


@attrs.frozen
class _FileRead:
    """A file read: its table, the rows loaded, its load account, and the lines of the rows loaded (``None`` for
    rows grouped into orders, whose keys the file's plan checked)."""

    spec: TableSpec
    loaded: pl.DataFrame
    load: FileLoad
    lines: _Lines | None


@attrs.frozen
class _Lines:
    """The lines of a file's loaded rows, worked out only for the few rows that need them (a key repeated)."""

    #: The line of each row read and checked (or of each row loaded, when ``kept`` is ``None``).
    read: pl.Series
    #: Whether each of them was loaded.
    kept: pl.Series | None = None

    def of(self, positions: pl.Series) -> pl.Series:
        """The lines of the loaded rows at ``positions`` (0 for the first row loaded)."""
        loaded = self.read if self.kept is None else self.read.filter(self.kept)
        return loaded.gather(positions).cast(pl.Int64)


def _split_streamed(
    path: Path, spec: TableSpec, c: _conform.Conformed, orders: OrderOptions
) -> tuple[pl.DataFrame, pl.DataFrame, _Lines, int]:
    """The loaded rows, the rejected rows (report shape), the lines of the loaded rows and the count of rows read
    of a file whose rows stand alone, which polars reads as it goes.

    The file is read and checked once, a piece at a time (polars' streaming
    engine): the loaded rows, the rejected rows and the count are three
    outputs of that one pass, which share its checked rows (marked as shared)
    without ever holding them whole.  The peak is about the loaded rows.
    """
    shared = attrs.evolve(c, frame=c.frame.select(c.checked).cache())
    bad = pl.col(_conform.BAD)
    loaded, rejected, count = pl.collect_all(
        [
            shared.frame.filter(~bad).select(_conform.ROW, *shared.coerced),
            _file_plan(path, spec, shared, orders, ruled=True).rejected,
            shared.frame.select(pl.len()),
        ],
        engine="streaming",
    )
    lines = _Lines(read=loaded.get_column(_conform.ROW))
    return loaded.drop(_conform.ROW), rejected, lines, int(count.item())


def _split_in_memory(
    path: Path, spec: TableSpec, held: list[_conform.Conformed], orders: OrderOptions
) -> tuple[pl.DataFrame, pl.DataFrame, _Lines, int]:
    """The loaded rows, the rejected rows (report shape), the lines of the rows read and their count, of a file
    whose rows stand alone, checked in memory (``held``: the only reference to it, taken from the list).

    Once the rejected rows are explained, the input's texts and the checks are
    let go of before the values are filtered into the loaded rows: the peak is
    not every checked column and the loaded rows side by side.  When every row
    is loaded, the values are the loaded rows (nothing copied).  The loaded
    rows carry no line: its column is held in pieces of other sizes than the
    values' (a frame of such columns would later be copied into one piece);
    :class:`_Lines` gives the lines of the few loaded rows that need one.
    """
    c = held.pop()
    checked = c.frame.collect()  # already in memory: the same columns, nothing computed
    keep = ~checked.get_column(_conform.BAD)
    rejected = _file_plan(path, spec, c, orders, ruled=True).rejected.collect()
    values = _selected(checked, c.coerced)
    lines = _Lines(read=checked.get_column(_conform.ROW), kept=keep)
    rows = checked.height
    del c, checked
    return (values if keep.all(ignore_nulls=False) else values.filter(keep)), rejected, lines, rows


def _selected(frame: pl.DataFrame, exprs: Sequence[pl.Expr]) -> pl.DataFrame:
    """``frame.select(exprs)``, the expressions that name a column (renamed or not) taken as they are.

    A select of a frame held in many pieces (a JSON file is read in thousands)
    would first join the pieces of every column it reads into one: a copy of
    each, which a column taken as it is does not cost.
    """
    columns = []
    for e in exprs:
        named = e.meta.undo_aliases()
        if named.meta.is_column():
            columns.append(frame.get_column(named.meta.output_name()).alias(e.meta.output_name()))
        else:
            columns.append(frame.select(e).to_series())
    return pl.DataFrame(columns)


def _assemble(name: str, parts: Iterable[_FileRead]) -> ReadResult:
    tables: dict[str, list[pl.DataFrame]] = {}
    lines: dict[str, list[_Lines | None]] = {}
    loads: list[FileLoad] = []
    for part in parts:
        tables.setdefault(part.spec.name, []).append(part.loaded)
        lines.setdefault(part.spec.name, []).append(part.lines)
        loads.append(part.load)
    # Rows were checked one file at a time (validated once); a key repeated among the rows loaded,
    # in one file or across files, rejects the later rows.
    for table, frames in tables.items():
        at = [i for i, load in enumerate(loads) if load.table == table]
        _reject_repeated_keys(table, frames, lines[table], at, loads)
    merged: dict[str, Any] = {
        t: frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed") for t, frames in tables.items()
    }
    validate: Literal["full", "none"] = "full" if _repeated_across_files(tables) else "none"
    dataset = Dataset(**merged, validate=validate, source=name)
    return ReadResult(dataset=dataset, report=LoadReport(source=name, files=tuple(loads)))


def _reject_repeated_keys(
    table: str, frames: list[pl.DataFrame], lines: Sequence[_Lines | None], at: list[int], loads: list[FileLoad]
) -> None:
    """Reject the loaded rows whose key an earlier loaded row holds (the first stays), with their file and line.

    The key is checked among the rows that pass every other check, in file
    order, so a row rejected for another reason never hides a later good one
    (:func:`retainlib.read_to_parquet` decides the same way).  ``frames`` (one
    per file, with the ``lines`` of their rows) and the files' ``loads`` (at
    positions ``at``) are updated in place.  Rows grouped into orders (line
    items) have no lines: their file's plan checked its keys.
    """
    key = TABLES[table].key
    if key is None or any(n is None or key not in f.columns for f, n in zip(frames, lines, strict=True)):
        return
    flags = _conform.repeated(pl.concat([f[key] for f in frames]))
    if not flags.any():
        return
    position = pl.int_range(pl.len(), dtype=pl.UInt32).alias("_at")
    keys = pl.concat([f.select(pl.lit(n, pl.Int32).alias("_file"), position, key) for n, f in enumerate(frames)])
    found = keys.filter(flags)
    first_file = keys.group_by(key).agg(pl.col("_file").first().alias("_first"))
    found = found.join(first_file, on=key, how="left")
    for (n,), rows in found.group_by("_file"):
        index, load, numbered = at[int(n)], loads[at[int(n)]], lines[int(n)]
        assert numbered is not None
        frames[int(n)] = frames[int(n)].filter(~pl.int_range(pl.len(), dtype=pl.UInt32).is_in(rows["_at"].implode()))
        earlier = pl.when(pl.col("_first") != pl.col("_file")).then(pl.lit(" (loaded from an earlier file)"))
        extra = rows.select(
            pl.lit(load.file).alias("file"),
            pl.lit(numbered.of(rows["_at"])).alias("line"),
            pl.lit(table).alias("table"),
            pl.lit(key).alias("column"),
            (pl.lit(f"{key}: duplicate id") + earlier.fill_null("")).alias("reason"),
        )
        loads[index] = attrs.evolve(
            load,
            rows_loaded=load.rows_loaded - rows.height,
            rejected=pl.concat([load.rejected, extra]).sort("line"),
        )


def _repeated_across_files(tables: Mapping[str, list[pl.DataFrame]]) -> bool:
    """Whether a table read from several files still holds a key twice (the full check then names the rows)."""
    for table, frames in tables.items():
        key = TABLES[table].key
        if len(frames) > 1 and key is not None:
            keys = pl.concat([f.select(key) for f in frames if key in f.columns])
            if keys.height and keys[key].drop_nulls().is_duplicated().any():
                return True
    return False


# --- CSV --------------------------------------------------------------------------------------


def _utf8_problem(path: Path) -> str:
    """Where a file stops being UTF-8, for the error message."""
    line = 1
    offset = 0
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                pos = exc.start
                line += chunk[:pos].count(b"\n")
                return f"line {line}, byte {offset + pos}"
            line += chunk.count(b"\n")
            offset += len(chunk)
    return "somewhere in the file"


def _header_columns(head: bytes, separator: str = ",", encoding: str = "utf-8-sig") -> list[str]:
    """The header's column names as Python's csv module reads them ([] when it cannot)."""
    text = head.decode(encoding, errors="replace")
    try:
        return next(csv.reader(io.StringIO(text, newline=""), delimiter=separator), [])
    except csv.Error:
        return []


def _csv_encoding(path: Path, encoding: str) -> str:
    """The encoding to decode with: a UTF-16 byte-order mark wins over the default UTF-8."""
    if encoding == "utf-8":
        with path.open("rb") as f:
            bom = f.read(4)
        if bom.startswith((b"\xff\xfe", b"\xfe\xff")):
            return "utf-16"
    return encoding


def _polars_can_read(head: bytes, separator: str) -> bool:
    """Whether polars can read the file as it stands: UTF-8, and a header without stray quotes or duplicates."""
    first = head.split(b"\n", 1)[0]
    if b"\x00" in first:
        return False
    names = _header_columns(head, separator)
    return bool(names) and not any('"' in n for n in names) and len(set(names)) == len(names)


def _for_polars(path: Path, codec: str, separator: str) -> bool:
    """Whether polars can read the CSV file as it stands (UTF-8, a plain header); an empty file is an error."""
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):  # its first bytes, once read to look at it, would be gone
        raise SourceError("not a regular file (a pipe or a device?): save the CSV data to a file first", file=path)
    if info.st_size == 0:
        raise SourceError("the file is empty (not even a header line)", file=path)
    if _csv_encoding(path, codec) != "utf-8":
        return False
    with path.open("rb") as f:
        head = f.read(64 * 1024)
    return _polars_can_read(head, separator)


def _scan_csv(path: Path, separator: str) -> pl.LazyFrame:
    return pl.scan_csv(path, separator=separator, infer_schema=False, encoding="utf8", raise_if_empty=True)


def _parse_csv(path: Path, separator: str, encoding: str) -> tuple[pl.LazyFrame, _Prerejected]:
    """Read a CSV file with Python's csv module: each record with its line, rows with too many fields refused."""
    raw = path.read_bytes()
    if encoding == "utf-8" and b"\x00" in raw.split(b"\n", 1)[0]:
        raise SourceError(
            "the header holds NUL bytes: is the file UTF-16 without a byte-order mark? "
            "pass encoding='utf-16-le' (or the file's encoding)",
            file=path,
        )
    try:
        text = raw.decode("utf-8-sig" if encoding == "utf-8" else encoding)
    except UnicodeDecodeError as exc:
        if encoding == "utf-8":
            raise _not_utf8(path) from None
        raise SourceError(f"not valid {encoding} at byte {exc.start}", file=path) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator, strict=True)
    start = 1
    records: list[list[str]] = []
    lines: list[int] = []
    ragged: _Prerejected = []
    try:
        header = next(reader, None)
        if not header or _is_blank(header):
            raise SourceError("the first line is not a header (it is empty)", file=path)
        doubled = sorted({h for h in header if header.count(h) > 1})
        if doubled:
            raise SourceError(f"the header names column {doubled[0]!r} more than once", file=path)
        start = reader.line_num + 1
        for record in reader:
            if _is_blank(record):
                pass  # a blank line (or only separators): not a row
            elif len(record) > len(header):
                ragged.append((start, f"the row has {len(record)} fields; the header has {len(header)}"))
            else:  # missing trailing fields are empty, as polars reads them
                records.append(record + [""] * (len(header) - len(record)))
                lines.append(start)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise SourceError(f"line {start}: {exc} (a broken quote?)", file=path) from None
    frame = pl.DataFrame(records, schema=dict.fromkeys(header, pl.String), orient="row")
    frame = frame.with_columns(pl.Series(_conform.ROW, lines, dtype=pl.UInt32))
    # Python's csv module reads an empty field as "": polars reads it as null.
    return frame.lazy().with_columns(pl.col(h).replace("", None) for h in header), ragged


def read_csv(
    paths: Sequence[Path],
    *,
    table: str | None = None,
    mapping: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
    tz: str | None = None,
    refunds: str = "reject",
    lines: bool | Mapping[str, str] | None = None,
    separator: str = ",",
    encoding: str = "utf-8",
) -> ReadResult:
    """Read canonical (or mapped) CSV files, one table per file."""
    orders = _check_common(table, mapping, defaults, tz, refunds, lines)
    codec = _check_csv(separator, encoding)

    def one(path: Path) -> _FileRead:
        common: dict[str, Any] = {"table": table, "mapping": mapping, "defaults": defaults, "tz": tz}
        if _for_polars(path, codec, separator):
            try:
                frame = _scan_csv(path, separator)
                return _read_file(
                    path, frame, first_line=2, orders=orders, text=True, recoverable=True, scanned=True, **common
                )
            except _UnreadableError:
                pass
        frame, ragged = _parse_csv(path, separator, _csv_encoding(path, codec))
        return _read_file(path, frame, first_line=2, orders=orders, text=True, prerejected=ragged, **common)

    return _assemble("csv", (one(p) for p in paths))


def plan_csv(
    paths: Sequence[Path],
    *,
    table: str | None = None,
    mapping: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
    tz: str | None = None,
    refunds: str = "reject",
    lines: bool | Mapping[str, str] | None = None,
    separator: str = ",",
    encoding: str = "utf-8",
) -> list[FilePlan] | None:
    """Streaming plans of CSV files, or ``None`` when one needs the in-memory reader.

    That is: files not in UTF-8, headers polars cannot take as they are, and
    the policies that group rows (line items, refunds netted into orders).
    """
    orders = _check_common(table, mapping, defaults, tz, refunds, lines)
    codec = _check_csv(separator, encoding)
    if orders.grouped or orders.quantity is not None:
        return None
    plans = []
    for path in paths:
        if not _for_polars(path, codec, separator):
            return None
        try:
            spec, conformed = _plan_file(
                path,
                _scan_csv(path, separator),
                first_line=2,
                table=table,
                mapping=mapping,
                defaults=defaults,
                tz=tz,
                orders=orders,
                text=True,
                recoverable=True,
            )
        except _UnreadableError:
            return None
        plans.append(_file_plan(path, spec, conformed, orders))
    return plans


def _with_file_rules(spec: TableSpec, c: _conform.Conformed, orders: OrderOptions) -> _conform.Conformed:
    """``c`` with the rules of a file whose rows stand alone: the refunds rule for orders (refunds='reject')."""
    if spec.name == "orders" and orders.refunds == "reject":
        return c.with_rules({"amount": _conform.negative_amount(_conform.value("amount"))})
    return c


def _file_plan(
    path: Path, spec: TableSpec, c: _conform.Conformed, orders: OrderOptions, *, ruled: bool = False
) -> FilePlan:
    """The loaded and rejected rows of a file whose rows stand alone (no grouping), unchecked keys.

    ``ruled``: ``c`` already carries the file's rules (:func:`_with_file_rules`).
    """
    if not ruled:
        c = _with_file_rules(spec, c, orders)
        # Streamed, the loaded and rejected rows are two outputs of one pass: marked as shared, the file is
        # read and checked once for both (polars would otherwise decode it once per output).
        c = attrs.evolve(c, frame=c.frame.cache())
    bad = pl.col(_conform.BAD)
    line = pl.col(_conform.ROW).cast(pl.Int64).alias("line")
    loaded = c.frame.filter(~bad).select(line, *c.coerced)
    rejected = _conform.rejects_frame(c, c.explain(c.frame.filter(bad)), file=str(path))
    return FilePlan(file=path, table=spec.name, loaded=loaded, rejected=rejected)


# --- Parquet ----------------------------------------------------------------------------------


def read_parquet(
    paths: Sequence[Path],
    *,
    table: str | None = None,
    mapping: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
    tz: str | None = None,
    refunds: str = "reject",
    lines: bool | Mapping[str, str] | None = None,
) -> ReadResult:
    """Read canonical (or mapped) Parquet files, one table per file."""
    orders = _check_common(table, mapping, defaults, tz, refunds, lines)
    return _assemble(
        "parquet",
        (
            _read_file(
                p,
                frame,
                first_line=1,
                table=table,
                mapping=mapping,
                defaults=defaults,
                tz=tz,
                orders=orders,
                trusted=_written_as(p),
                bounds=_text_bounds(p, frame),
                scanned=True,
            )
            for p, frame in ((p, _scan_parquet(p)) for p in paths)
        ),
    )


def _renamed(bounds: Mapping[str, _conform.Bounds], renames: Mapping[str, str]) -> dict[str, _conform.Bounds]:
    return {renames.get(name, name): b for name, b in bounds.items()}


def _text_bounds(path: Path, frame: pl.LazyFrame) -> dict[str, _conform.Bounds]:
    """The bounds of a Parquet file's text columns, from its statistics (cheap: the footer alone)."""
    texts = {name for name, dtype in frame.collect_schema().items() if dtype == pl.String}
    return text_bounds(path, texts) if texts else {}


def _written_as(path: Path) -> str | None:
    """The canonical table a Parquet file written by retainlib holds (its metadata says so), else ``None``.

    retainlib writes the rows it has checked (``Dataset.write_parquet``,
    ``read_to_parquet``); reading them again, columns of canonical type are
    taken as they are and only nulls, ranges and repeated keys are checked.
    """
    try:
        mark = pl.read_parquet_metadata(path).get(PARQUET_MARK)
        found = json.loads(mark) if mark else None
    except (pl.exceptions.PolarsError, OSError, ValueError):
        return None
    table = found.get("table") if isinstance(found, dict) else None
    return table if isinstance(table, str) and table in TABLES else None


def _scan_parquet(path: Path) -> pl.LazyFrame:
    try:
        frame = pl.scan_parquet(path)
        frame.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise SourceError(f"not a readable Parquet file: {exc}", file=path) from None
    return frame


def plan_parquet(
    paths: Sequence[Path],
    *,
    table: str | None = None,
    mapping: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
    tz: str | None = None,
    refunds: str = "reject",
    lines: bool | Mapping[str, str] | None = None,
) -> list[FilePlan] | None:
    """Streaming plans of Parquet files, or ``None`` for the policies that group rows."""
    orders = _check_common(table, mapping, defaults, tz, refunds, lines)
    if orders.grouped or orders.quantity is not None:
        return None
    plans = []
    for path in paths:
        frame = _scan_parquet(path)
        spec, conformed = _plan_file(
            path,
            frame,
            first_line=1,
            table=table,
            mapping=mapping,
            defaults=defaults,
            tz=tz,
            orders=orders,
            trusted=_written_as(path),
            bounds=_text_bounds(path, frame),
        )
        plans.append(_file_plan(path, spec, conformed, orders))
    return plans


# --- JSON -------------------------------------------------------------------------------------


def _json_text(value: object) -> str | None:
    return None if value is None else (value if isinstance(value, str) else json.dumps(value))


#: A file's bytes: in memory, or mapped from the file (read by the system as they are looked at, never copied).
_Bytes = bytes | mmap.mmap


def _scan_json(path: Path) -> tuple[pl.LazyFrame, _Prerejected]:
    """The records of a JSON array or of JSON lines, as text, each with its line; bad JSON lines refused.

    The file is mapped, not read into memory: the byte counts that prove JSON
    lines fit for polars look at the mapped pages, and polars then reads the
    file itself.  (A copy of a large file costs more in fresh memory than the
    counts cost.)
    """
    with path.open("rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):  # a pipe or a device: its bytes, read once
            return _json_records(path, f.read())
        if info.st_size == 0:
            raise SourceError("the file is empty", file=path)
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as raw:
            return _json_records(path, raw)


def _json_records(path: Path, raw: _Bytes) -> tuple[pl.LazyFrame, _Prerejected]:
    """:func:`_scan_json` of the file's bytes ``raw`` (polars reads the file again only when they are mapped)."""
    start = _LEADING_SPACE.match(raw)
    first = start.end() if start else 0
    if _ALL_SPACE.fullmatch(raw, first):
        raise SourceError("the file is empty", file=path)
    # JSON lines go to polars first, before any decoding (a file polars cannot take is decoded and read below).
    if raw[first : first + 1] != b"[":
        read_by_polars = _polars_json_lines(raw, path if isinstance(raw, mmap.mmap) else None)
        if read_by_polars is not None:
            return read_by_polars, []
    try:
        text = raw[:].decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(f"not valid UTF-8 at byte {exc.start}", file=path) from None
    refused: _Prerejected = []
    numbered: list[tuple[int, dict[str, Any]]] = []
    if text.lstrip().startswith("["):
        try:
            records = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            where = f"line {exc.lineno}, column {exc.colno}: {exc.msg}" if isinstance(exc, ValueError) else "nesting"
            raise SourceError(f"invalid JSON at {where}", file=path) from None
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise SourceError("expected an array of objects or JSON lines of objects", file=path)
        numbered = list(enumerate(records, start=1))
    else:
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue  # a blank line: not a record
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, RecursionError):
                refused.append((number, "invalid JSON"))
                continue
            if isinstance(record, dict):
                numbered.append((number, record))
            else:
                refused.append((number, "not a JSON object"))
    # Values are read as text so that one odd value is a rejected row, not a failed file.
    rows = [{k: _json_text(v) for k, v in r.items()} for _, r in numbered]
    columns = list(dict.fromkeys(k for r in rows for k in r if k != _conform.ROW))
    frame = pl.DataFrame(
        [[r.get(c) for c in columns] for r in rows], schema=dict.fromkeys(columns, pl.String), orient="row"
    )
    frame = frame.with_columns(pl.Series(_conform.ROW, [n for n, _ in numbered], dtype=pl.UInt32))
    return frame.lazy(), refused


_LEADING_SPACE = re.compile(rb"[ \t\r\n]*")
_ALL_SPACE = re.compile(rb"[ \t\n\r\x0b\x0c]*")  # what bytes.isspace takes for white space
#: Bytes that end a line for ``str.splitlines`` (beside ``\n``): files holding one take the Python path.
_OTHER_LINE_BREAKS = (b"\r", b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e")
_OTHER_LINE_BREAKS_UTF8 = (b"\xc2\x85", b"\xe2\x80\xa8", b"\xe2\x80\xa9")  # looked for only in non-ASCII files


def _polars_json_lines(raw: _Bytes, file: Path | None = None) -> pl.LazyFrame | None:
    """JSON lines read by polars, as text with their line numbers; ``None`` when the Python path must read them.

    Taken only where polars gives what the Python path gives: every line an
    object (no blank, invalid or non-object line, else the count of rows and
    lines differs or polars fails), values strings, integers, booleans or
    nulls (an integer's or boolean's text is the same both ways), no byte
    order mark and no other line break than ``\n``.  Files whose values are
    all strings are read with their columns given (:func:`_string_json_lines`);
    the others have their types learned over the whole file, and a column
    polars reads as text must then hold only strings (the file's quotes say
    so), with the columns in the order the Python path gives them.

    ``file``: the file ``raw`` holds, for polars to read (else polars reads ``raw``).
    """
    if raw[:3] == codecs.BOM_UTF8:
        return None
    counts = _byte_counts(raw)
    newlines = counts.newlines
    # The other breaks are control bytes or non-ASCII: a file whose only such bytes are its newlines has none.
    if newlines == counts.unusual:
        breaks: tuple[bytes, ...] = ()
    else:  # some are not newlines: other control bytes, or non-ASCII ones (then perhaps a break of Unicode's)
        breaks = (() if newlines == _count_below(raw, 0x20) else _OTHER_LINE_BREAKS) + _OTHER_LINE_BREAKS_UTF8
    if any(raw.find(b) != -1 for b in breaks):
        return None
    lines = newlines + (0 if raw[-1:] == b"\n" else 1)
    strings = _string_json_lines(raw, lines, file, counts)
    if strings is not None:
        return strings
    try:
        frame = pl.read_ndjson(io.BytesIO(raw[:]) if file is None else _let_go(raw, file), infer_schema_length=None)
    except (pl.exceptions.PolarsError, ValueError, OverflowError):
        return None
    plain = all(d in (pl.String, pl.Boolean, pl.Null) or d.is_integer() for d in frame.schema.values())
    if frame.height != lines or not plain or _conform.ROW in frame.columns:
        return None
    # A column of text may hide numbers (polars writes a float its own way, the Python path as json.dumps does)
    # or objects: every value of such a column must be a string, which the file's quotes tell (see
    # _string_json_lines): two per key (each written "key":), two per string, none from other values.
    # A value starting with a colon adds to the count of '":' and sends the file to the Python path.
    texts = [c for c, d in frame.schema.items() if d == pl.String]
    if texts:
        if not _quotes_bound_strings(raw):
            return None
        found = frame.select(
            pl.sum_horizontal(pl.col(texts).is_not_null().sum()).alias("strings"),
            pl.any_horizontal(pl.col(texts).str.starts_with("{").any()).alias("objects"),
        )
        strings, objects = found.row(0)
        if objects or counts.quotes != 2 * counts.key_ends + 2 * int(strings):
            return None
    # The Python path orders the columns as they first appear: the first line's keys, then (at most one) other.
    keys = _first_keys(raw)
    if keys is None or not set(keys) <= set(frame.columns) or len(frame.columns) > len(keys) + 1:
        return None
    keys += [c for c in frame.columns if c not in keys]
    return frame.lazy().select(pl.col(keys).cast(pl.String)).with_row_index(_conform.ROW, offset=1)


def _let_go(raw: _Bytes, file: Path) -> Path:
    """``file``, for polars to read, once the pages of ``raw`` (the file, mapped) looked at so far are given back.

    The pages stay in the system's cache, where polars reads them: the process
    then holds each page of the file once (in polars' reading), not twice.
    """
    if isinstance(raw, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
        raw.madvise(mmap.MADV_DONTNEED)
    return file


#: Bytes are counted a block at a time, into one reused buffer: no temporary as large as the file (whose fresh
#: pages would cost the system time saved).
_COUNT_BLOCK = 1 << 20


class _ByteCounts(NamedTuple):
    """What the JSON-lines proofs count in a file's bytes."""

    newlines: int
    #: Control bytes (below 0x20, the newlines among them) and non-ASCII bytes (0x80 and up).
    unusual: int
    #: ``"`` bytes.
    quotes: int
    #: ``":`` pairs: where a key ends (or a value that starts with a colon).
    key_ends: int


def _byte_counts(raw: _Bytes) -> _ByteCounts:
    """The proofs' counts of ``raw``, by numpy in one pass: each block of bytes is counted every way while it is
    in the processor's cache (one pass over the file instead of one per count)."""
    import numpy as np

    items = np.frombuffer(raw, dtype=np.uint8)
    size = len(items)
    found = np.empty(min(_COUNT_BLOCK, size), dtype=bool)
    colons = np.empty_like(found)
    newlines = unusual = quotes = key_ends = 0
    for start in range(0, size, _COUNT_BLOCK):
        block = items[start : start + _COUNT_BLOCK]
        here = found[: len(block)]
        np.equal(block, 0x0A, out=here)
        newlines += int(np.count_nonzero(here))
        # Read as signed, the bytes from 0x80 are negative: below 0x20 with the control bytes.
        np.less(block.view(np.int8), 0x20, out=here)
        unusual += int(np.count_nonzero(here))
        np.equal(block, 0x22, out=here)
        quotes += int(np.count_nonzero(here))
        # A pair ends at the byte after each quote: the next block's first byte for the block's last.
        after = items[start + 1 : start + 1 + len(block)]
        pairs = colons[: len(after)]
        np.equal(after, 0x3A, out=pairs)
        np.logical_and(here[: len(after)], pairs, out=pairs)
        key_ends += int(np.count_nonzero(pairs))
    return _ByteCounts(newlines, unusual, quotes, key_ends)


def _count_below(raw: _Bytes, byte: int) -> int:
    """How many bytes of ``raw`` are below ``byte`` (counted by numpy a block at a time)."""
    import numpy as np

    items = np.frombuffer(raw, dtype=np.uint8)
    found = np.empty(min(_COUNT_BLOCK, len(items)), dtype=bool)
    total = 0
    for start in range(0, len(items), _COUNT_BLOCK):
        block = items[start : start + _COUNT_BLOCK]
        np.less(block, byte, out=found[: len(block)])
        total += int(np.count_nonzero(found[: len(block)]))
    return total


def _quotes_bound_strings(raw: _Bytes) -> bool:
    """No backslash, no ``[`` and no quote followed by white space in JSON lines.

    Every ``"`` then bounds a string, no value is an array, and every key is
    written ``"key":``; the file's other ``":`` (text holding no quote) open
    values that start with a colon.
    """
    if raw.find(b"\\") != -1 or raw.find(b"[") != -1:
        return False
    # A quote followed by white space: looked for only in files holding some (two-byte searches cost more).
    spaces = any(raw.find(b) != -1 for b in (b" ", b"\t"))
    return not (spaces and any(raw.find(b) != -1 for b in (b'" ', b'"\t')))


def _first_line(raw: _Bytes) -> bytes:
    end = raw.find(b"\n")
    return raw[: end if end != -1 else len(raw)]


def _first_keys(raw: _Bytes) -> list[str] | None:
    """The keys of the first line's object, in their order (``None`` when it is not an object)."""
    try:
        first = json.loads(_first_line(raw))
    except (ValueError, RecursionError):
        return None
    return list(first) if isinstance(first, dict) else None


def _string_json_lines(
    raw: _Bytes, lines: int, file: Path | None = None, counts: _ByteCounts | None = None
) -> pl.LazyFrame | None:
    """JSON lines whose every value is a string, read without inferring types; ``None`` for any other file.

    The keys are the first line's; polars reads every value as text.  Bytes
    counted over the whole file prove that each line holds exactly those keys,
    each with a string: what inferring the types over the whole file would
    learn, at a fraction of its cost.  With no backslash in the file every
    ``"`` bounds a string, and with no ``[`` no value is an array.  With no
    quote followed by a space or a tab, every key is written ``"key":``; the
    only other ``":`` opens a value starting with a colon, so the file's
    ``":`` are at least its keys, nested ones included
    (:func:`_quotes_bound_strings`).  Every key's value being read (no null),
    each line holds at least the first line's keys: as many ``":`` as keys
    times lines leaves no room for another key, in any line.  A line's quotes
    are then two per key and two per string value: four per key and line
    leaves no value that is not a string.

    ``file``: the file ``raw`` holds, for polars to read (else polars reads ``raw``); ``counts``: its
    :func:`_byte_counts`, when already counted.
    """
    if not _quotes_bound_strings(raw):
        return None
    try:
        first = json.loads(_first_line(raw))
    except (ValueError, RecursionError):
        return None
    if not isinstance(first, dict) or not first or _conform.ROW in first:
        return None
    if not all(isinstance(v, str) for v in first.values()):
        return None
    keys = list(first)
    counts = counts or _byte_counts(raw)
    if counts.quotes != 4 * len(keys) * lines:
        return None
    try:
        frame = pl.read_ndjson(raw[:] if file is None else _let_go(raw, file), schema=dict.fromkeys(keys, pl.String))
    except (pl.exceptions.PolarsError, ValueError, OverflowError):
        return None
    if frame.height != lines or any(frame.null_count().row(0)):
        return None
    if counts.key_ends != len(keys) * lines:
        return None
    return frame.lazy().with_row_index(_conform.ROW, offset=1)


def read_json(
    paths: Sequence[Path],
    *,
    table: str | None = None,
    mapping: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
    tz: str | None = None,
    refunds: str = "reject",
    lines: bool | Mapping[str, str] | None = None,
) -> ReadResult:
    """Read canonical (or mapped) JSON files: an array of flat objects, or JSON lines."""
    orders = _check_common(table, mapping, defaults, tz, refunds, lines)

    def one(path: Path) -> _FileRead:
        frame, refused = _scan_json(path)
        return _read_file(
            path,
            frame,
            first_line=1,
            table=table,
            mapping=mapping,
            defaults=defaults,
            tz=tz,
            orders=orders,
            prerejected=refused,
        )

    return _assemble("json", (one(p) for p in paths))


def _fits_a_table(columns: Sequence[str]) -> bool:
    return any(all(c in columns for c in t.required) for t in TABLES.values())


def detect_csv(path: Path, head: bytes) -> int:
    """10 for a .csv whose header fits a canonical table, 1 for any other .csv/.tsv."""
    if path.suffix.lower() not in (".csv", ".tsv", ".txt"):
        return 0
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    return 10 if _fits_a_table([c.strip() for c in _header_columns(head, sep)]) else 1


def detect_parquet(path: Path, head: bytes) -> int:
    """10 for a Parquet file whose columns fit a canonical table, 1 for any other."""
    if not head.startswith(b"PAR1"):
        return 0
    try:
        columns = pl.scan_parquet(path).collect_schema().names()
    except (pl.exceptions.PolarsError, OSError):
        return 1
    return 10 if _fits_a_table(columns) else 1


def detect_json(path: Path, head: bytes) -> int:
    """1 for a .json/.jsonl/.ndjson file: canonical JSON has no marks of its own."""
    del head
    return 1 if path.suffix.lower() in (".json", ".jsonl", ".ndjson") else 0


@hookimpl
def retainlib_sources() -> Iterable[Source]:
    """The built-in file sources."""
    yield Source(
        name="csv",
        description="CSV files already in canonical shape, or mapped to it (one table per file)",
        kinds=("csv", "tsv"),
        reader=read_csv,
        detector=detect_csv,
        options=_CSV_OPTIONS,
        planner=plan_csv,
    )
    yield Source(
        name="parquet",
        description="Parquet files already in canonical shape, or mapped to it (one table per file)",
        kinds=("parquet",),
        reader=read_parquet,
        detector=detect_parquet,
        options=_COMMON_OPTIONS,
        planner=plan_parquet,
    )
    yield Source(
        name="json",
        description="JSON arrays of flat objects or JSON lines, in canonical shape or mapped (one table per file)",
        kinds=("json", "jsonl"),
        reader=read_json,
        detector=detect_json,
        options=_COMMON_OPTIONS,
    )
