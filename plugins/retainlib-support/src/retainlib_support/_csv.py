"""Zendesk's tickets CSV export, read as text, its columns matched by name.

No real export was available to check the header against: the column names
below follow the header of the admin CSV export as tools reproducing it write
it (``Summation column,Id,Requester,Requester id,Requester external id,
Requester email,...,Status,...,Created at,Updated at,...,Solved at,...,
Satisfaction Score,...``, custom fields after them as ``Name [type]``).
Columns are matched by name, never by position, ignoring case, spaces,
``_`` and ``-`` (``Requester ID``, ``requester_id`` and ``Requester id`` are
one column), so reordered, renamed-in-case, older and trimmed headers read
alike.

Polars reads the file (every field as text, its line kept); a file it cannot
read as it stands (a row with more fields than the header, a broken quote, an
encoding other than UTF-8) is read again with Python's :mod:`csv` module,
which rejects each over-long row with its line and locates a broken quote.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl

from retainlib.errors import SourceError
from retainlib_support._frames import FILE, LINE, PROBLEM, TICKET_FIELDS, TICKET_SCHEMA
from retainlib_support._options import Options

__all__ = ["COLUMNS", "REQUIRED", "columns_of", "header", "read_csv"]

#: Internal field -> the export's column names (normalised by :func:`_key`), first match wins.
COLUMNS: Mapping[str, tuple[str, ...]] = {
    "id": ("id", "ticket id"),
    "requester_id": ("requester id",),
    "email": ("requester email", "requester e mail"),
    "name": ("requester", "requester name"),
    "created_at": ("created at", "created"),
    "updated_at": ("updated at", "updated"),
    "solved_at": ("solved at", "solved"),
    "status": ("status", "ticket status"),
    "score": ("satisfaction score", "satisfaction", "satisfaction rating"),
    "tags": ("tags",),
    "priority": ("priority",),
    "channel": ("via", "channel"),
}
#: Fields a tickets export must have: the ticket, when it was opened, and who asked (an id or an e-mail).
REQUIRED = ("id", "created_at")
_REQUESTER = ("requester_id", "email")
#: Columns only a Zendesk tickets export has, beside ``Id``: they tell it from other CSV files.
_MARKS = ("requester id", "requester email", "requester external id", "summation column", "satisfaction score")
_NAME = "zendesk"
_NEWLINE = b"\n"
#: Unicode White_Space, what polars strips: a row of such cells only is a blank line, in both readers.
_WHITE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
#: Stands for a lone carriage return while the csv module parses (a private-use character).
_MASK = "\ue000"


def _key(name: str) -> str:
    """A column name as matched: lower-case, without byte-order mark, ``_``/``-``/spaces as one space."""
    return re.sub(r"[\s_\-]+", " ", name.replace("\ufeff", "").strip().lower()).strip()


def columns_of(names: Sequence[str]) -> dict[str, str]:
    """Internal field -> the export's column holding it, for the fields the header has."""
    by_key: dict[str, str] = {}
    for name in names:
        by_key.setdefault(_key(name), name)
    found: dict[str, str] = {}
    for field, candidates in COLUMNS.items():
        for candidate in candidates:
            if candidate in by_key:
                found[field] = by_key[candidate]
                break
    return found


def header(head: bytes, separator: str = ",") -> list[str]:
    """The column names of a CSV file's first line ([] when it has none)."""
    text = head.decode("utf-8", errors="replace").removeprefix("\ufeff")
    first = text.split("\n", 1)[0].rstrip("\r")
    try:
        return next(csv.reader(io.StringIO(first), delimiter=separator), [])
    except csv.Error:
        return []


def is_tickets_export(names: Sequence[str]) -> bool:
    """Whether a header is a Zendesk tickets export's: an id, a creation time, a requester and a Zendesk mark."""
    keys = {_key(n) for n in names}
    found = columns_of(names)
    return all(f in found for f in REQUIRED) and any(f in found for f in _REQUESTER) and any(m in keys for m in _MARKS)


def _missing(path: Path, names: Sequence[str], separator: str) -> SourceError:
    found = columns_of(names)
    missing = [COLUMNS[f][0].capitalize() for f in REQUIRED if f not in found]
    if not any(f in found for f in _REQUESTER):
        missing.append("Requester id (or Requester email)")
    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    hint = ""
    if len(names) == 1:
        others = [s for s in (";", "\t", "|", ",") if s != separator and s in names[0]]
        if others:
            hint = f"; is the file separated by {others[0]!r}? pass separator={others[0]!r}"
    return SourceError(
        f"not a Zendesk tickets export: missing column(s) {', '.join(missing)} (columns: {shown or 'none'}){hint}",
        file=path,
        source=_NAME,
    )


def _utf8_problem(path: Path) -> str:
    """Where a file stops being UTF-8 (line and byte), for the error message."""
    line, offset = 1, 0
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return f"line {line + chunk[: exc.start].count(_NEWLINE)}, byte {offset + exc.start}"
            line += chunk.count(_NEWLINE)
            offset += len(chunk)
    return "at its end"


def _not_utf8(path: Path) -> SourceError:
    return SourceError(
        f"not valid UTF-8 ({_utf8_problem(path)}); pass encoding='latin-1' (or the file's encoding)",
        file=path,
        source=_NAME,
    )


def _select(frame: pl.LazyFrame, path: Path, names: Sequence[str], separator: str) -> pl.LazyFrame:
    """The ticket frame (:data:`TICKET_SCHEMA`) from a frame of text columns with ``LINE``; blank lines dropped."""
    found = columns_of(names)
    if not all(f in found for f in REQUIRED) or not any(f in found for f in _REQUESTER):
        raise _missing(path, names, separator)
    blank = pl.all_horizontal((pl.col(n).str.strip_chars() == "").fill_null(True) for n in names)
    fields = [(pl.col(found[f]) if f in found else pl.lit(None, dtype=pl.String)).alias(f) for f in TICKET_FIELDS]
    problem = pl.col(PROBLEM) if PROBLEM in frame.collect_schema() else pl.lit(None, dtype=pl.String)
    return (
        frame.filter(~blank | problem.is_not_null())
        .select(pl.lit(str(path)).alias(FILE), pl.col(LINE).cast(pl.Int64), problem.alias(PROBLEM), *fields)
        .cast(TICKET_SCHEMA)
    )


def _decoding(path: Path, encoding: str) -> str:
    """The codec to decode with: a UTF-16 byte-order mark wins over the default UTF-8."""
    if encoding == "utf-8":
        with path.open("rb") as f:
            if f.read(2) in (b"\xff\xfe", b"\xfe\xff"):
                return "utf-16"
        return "utf-8-sig"
    return encoding


def _python(path: Path, options: Options) -> pl.LazyFrame:
    """The file read with Python's csv module: each record with its line; too-long rows refused with theirs."""
    raw = path.read_bytes()
    codec = _decoding(path, options.encoding)
    if codec == "utf-8-sig" and b"\x00" in raw.split(b"\n", 1)[0]:
        raise SourceError(
            "the header holds NUL bytes: is the file UTF-16 without a byte-order mark? pass encoding='utf-16-le'",
            file=path,
            source=_NAME,
        )
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError as exc:
        if codec == "utf-8-sig":
            raise _not_utf8(path) from None
        raise SourceError(f"not valid {options.encoding} at byte {exc.start}", file=path, source=_NAME) from None
    text = text.removeprefix("\ufeff")
    # A lone carriage return is a character of its field, as polars reads it (the csv module would end the
    # record there): it is masked while parsing and put back in the cells.
    masked = "\r" in text and _MASK not in text
    if masked:
        text = re.sub("\r(?!\n)", _MASK, text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=options.separator, strict=True)
    lines: list[int] = []
    records: list[list[str | None]] = []
    start = 1
    try:
        names = next(reader, None)
        if names is not None and masked:
            names = [name.replace(_MASK, "\r") for name in names]
        if not names or not any(n.strip(_WHITE) for n in names):
            raise SourceError("the first line is not a header (it is empty)", file=path, source=_NAME)
        start = reader.line_num + 1
        width = len(names)
        for found in reader:
            record = [cell.replace(_MASK, "\r") for cell in found] if masked else found
            if any(cell.strip(_WHITE) for cell in record):
                lines.append(start)
                if len(record) > width:
                    records.append([None] * width + [f"line: the row has {len(record)} fields; the header has {width}"])
                else:  # missing trailing fields are empty, as polars reads them
                    cells: list[str | None] = [cell or None for cell in record]
                    records.append(cells + [None] * (width - len(record)) + [None])
            start = reader.line_num + 1
    except csv.Error as exc:
        raise SourceError(f"line {start}: {exc} (a broken quote?)", file=path, source=_NAME) from None
    unique = _unique(names)
    frame = pl.DataFrame(records, schema=[*((n, pl.String) for n in unique), (PROBLEM, pl.String)], orient="row")
    frame = frame.with_columns(pl.Series(LINE, lines, dtype=pl.Int64))
    return _select(frame.lazy(), path, unique, options.separator)


def _unique(names: Sequence[str]) -> list[str]:
    """Column names made unique the way polars does it (``Id``, ``Id_duplicated_0``)."""
    seen: dict[str, int] = {}
    out: list[str] = []
    for name in names:
        if name in seen:
            out.append(f"{name}_duplicated_{seen[name]}")
            seen[name] += 1
        else:
            seen[name] = 0
            out.append(name)
    return out


def read_csv(path: Path, options: Options) -> pl.DataFrame:
    """The ticket records of a tickets CSV export (:data:`TICKET_SCHEMA`), in memory, blank lines left out."""
    if path.stat().st_size == 0:
        raise SourceError("the file is empty (not even a header line)", file=path, source=_NAME)
    if _decoding(path, options.encoding) == "utf-8-sig":
        frame = pl.scan_csv(
            path, separator=options.separator, infer_schema=False, encoding="utf8", raise_if_empty=False
        )
        try:
            names = frame.collect_schema().names()
            if names and not any('"' in n for n in names):
                plan = _select(frame.with_row_index(LINE, offset=2), path, names, options.separator)
                return plan.collect()
        except pl.exceptions.PolarsError as exc:
            if "utf-8" in str(exc).lower() or "utf8" in str(exc).lower():
                raise _not_utf8(path) from None
        # Anything else polars refuses (a too-long row, a stray quote): the csv module says which line.
    return _python(path, options).collect()
