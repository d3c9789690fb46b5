"""Reading a survey tool's CSV export: its header record(s), then its records as text, with their numbers.

Both CSV exports (SurveyMonkey's and Typeform's) are read the same way:

* the **encoding** is UTF-8 (a UTF-8 byte-order mark is skipped) unless the
  file starts with a UTF-16 byte-order mark or the ``encoding`` option names
  another one; a file in another encoding is decoded once and handed to polars
  as UTF-8;
* the **separator** is the first of ``,``, ``;`` and tab under which the
  first record is a header of the export (spreadsheets in some locales save
  CSV files with ``;``);
* the **header** records (one, or SurveyMonkey's two) are read with Python's
  :mod:`csv` module; the records after them by polars, every field as text,
  each numbered: the first header record is line 1, and a record's ``line`` is
  its number in the file (the physical line unless a quoted field spans lines);
* a record whose every field is blank is a blank line: neither read nor rejected;
* a file polars cannot read as it stands (a record with more fields than the
  header, a stray quote) is read again with Python's :mod:`csv` module, which
  rejects each over-long record with its line, and locates a broken quote.

Columns are found by the header's names; inside the frames they are named
``c0``, ``c1``... by position, since survey headers repeat names and leave
cells blank (multi-column questions).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs
import polars as pl

from retainlib import _conform
from retainlib.errors import SourceError

__all__ = ["ROW", "CsvRecords", "column", "read_records", "sniff", "text"]

#: The record-number column (the core's, so conforming carries it).
ROW = _conform.ROW
#: Separators tried, in order, on the first record.
SEPARATORS = (",", ";", "\t")
#: Unicode White_Space, what polars' ``strip_chars`` strips: a record of such fields only is a blank line.
WHITE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
#: Stands for a lone carriage return while Python's csv module reads (which would end a record there).
_LONE_CR = "\ue000"
#: Polars' message for a file that does not parse can quote the rest of the file: this much of it is shown.
_MESSAGE_CHARS = 200


def column(index: int) -> str:
    """The frame's name of the header's ``index``-th column."""
    return f"c{index}"


def text(name: str | None) -> pl.Expr:
    """A column's stripped text, blank as null (null throughout when the export lacks the column)."""
    if name is None:
        return pl.lit(None, dtype=pl.String)
    s = pl.col(name).str.strip_chars()
    return pl.when(s != "").then(s)


@attrs.frozen(kw_only=True)
class CsvRecords:
    """A CSV export read: its header records and its data records as text.

    Attributes:
        path: the file.
        header: the header records, as read (one or two).
        frame: ``ROW`` (the record's line) and the columns asked for, as text; blank records left out.
        rejected: records refused while parsing (more fields than the header): line and reason.
    """

    path: Path
    header: tuple[tuple[str, ...], ...]
    frame: pl.DataFrame
    rejected: tuple[tuple[int, str], ...] = ()


def _decode_head(head: bytes, encoding: str | None) -> tuple[str, str]:
    """The encoding to read with and the head's text (bad bytes replaced, for sniffing only)."""
    if encoding is None:
        encoding = "utf-16" if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else "utf-8"
    codec = "utf-8-sig" if encoding == "utf-8" else encoding
    decoded = head.decode(codec, errors="replace")
    return encoding, decoded.removeprefix("\ufeff")


def _first_records(text_: str, separator: str, count: int) -> list[list[str]]:
    """The first ``count`` records of ``text_`` (fewer when it has fewer; [] when they do not parse)."""
    reader = csv.reader(io.StringIO(text_, newline=""), delimiter=separator)
    records: list[list[str]] = []
    try:
        for record in reader:
            records.append(record)
            if len(records) == count:
                break
    except csv.Error:
        return records
    return records


def sniff(
    head: bytes, is_header: Callable[[Sequence[str]], bool], *, encoding: str | None = None
) -> tuple[str, str] | None:
    """``(encoding, separator)`` under which the first record of ``head`` is a header ``is_header`` accepts.

    ``None`` when no separator gives such a header.  Never raises (detectors call it).
    """
    try:
        enc, decoded = _decode_head(head, encoding)
    except (LookupError, UnicodeError):
        return None
    for separator in SEPARATORS:
        records = _first_records(decoded, separator, 1)
        if records and is_header([cell.strip() for cell in records[0]]):
            return enc, separator
    return None


def _read_text(path: Path, encoding: str) -> str:
    """The whole file's text in ``encoding`` (a UTF-8 byte-order mark skipped); a SourceError when it is not."""
    raw = path.read_bytes()
    codec = "utf-8-sig" if encoding == "utf-8" else encoding
    try:
        decoded = raw.decode(codec)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        hint = " (pass encoding='cp1252', or the file's encoding)" if encoding == "utf-8" else ""
        raise SourceError(f"not valid {encoding} at line {line}, byte {exc.start}{hint}", file=path) from None
    return decoded.removeprefix("\ufeff")


def _header(decoded: str, separator: str, rows: int, path: Path) -> tuple[tuple[str, ...], ...]:
    kept = re.sub("\r(?!\n)", _LONE_CR, decoded)
    reader = csv.reader(io.StringIO(kept, newline=""), delimiter=separator, strict=True)
    records: list[tuple[str, ...]] = []
    try:
        for record in reader:
            records.append(tuple(cell.replace(_LONE_CR, "\r") for cell in record))
            if len(records) == rows:
                break
    except csv.Error as exc:
        raise SourceError(f"the header does not parse as CSV at line {reader.line_num}: {exc}", file=path) from None
    if not records or not any(cell.strip() for cell in records[0]):
        raise SourceError("the first line is not a header (it is empty)", file=path)
    return tuple(records)


def _blank(names: Sequence[str]) -> pl.Expr:
    """Whether every field of a record is empty or white space (a blank line)."""
    return pl.all_horizontal((pl.col(n).str.strip_chars() == "").fill_null(True) for n in names)


def _empty(wanted: Sequence[int]) -> pl.DataFrame:
    return pl.DataFrame(schema={ROW: pl.Int64, **{column(i): pl.String for i in wanted}})


def _polars_records(source: Path | bytes, width: int, rows: int, separator: str, wanted: Sequence[int]) -> pl.DataFrame:
    names = [column(i) for i in range(width)]
    frame = pl.scan_csv(
        source,
        has_header=False,
        skip_rows=rows,
        separator=separator,
        schema=dict.fromkeys(names, pl.String()),
        missing_columns="insert",  # a blank or short first record must not set the width
        raise_if_empty=False,
    )
    if frame.collect_schema().names() != names:  # no record after the header: polars gives no columns
        return _empty(wanted)
    numbered = frame.with_row_index(ROW, offset=rows + 1).with_columns(pl.col(ROW).cast(pl.Int64))
    return numbered.filter(~_blank(names)).select(ROW, *(column(i) for i in wanted)).collect()


def _python_records(
    decoded: str, width: int, rows: int, separator: str, wanted: Sequence[int], path: Path
) -> tuple[pl.DataFrame, list[tuple[int, str]]]:
    """The records read by Python's csv module: over-long ones refused, short ones padded with empty fields.

    As in polars, only ``\\n`` ends a record: a lone ``\\r`` stays in its field.
    """
    kept = re.sub("\r(?!\n)", _LONE_CR, decoded)
    reader = csv.reader(io.StringIO(kept, newline=""), delimiter=separator, strict=True)
    lines: list[int] = []
    values: list[list[str | None]] = [[] for _ in wanted]
    refused: list[tuple[int, str]] = []
    number = 0
    try:
        for record in reader:
            number += 1
            if number <= rows or not any(cell.replace(_LONE_CR, "").strip(WHITE) for cell in record):
                continue  # the header, or a blank line
            if len(record) > width:
                refused.append((number, f"the row has {len(record)} fields; the header has {width}"))
                continue
            lines.append(number)
            for slot, i in zip(values, wanted, strict=True):
                cell = record[i].replace(_LONE_CR, "\r") if i < len(record) else ""
                slot.append(cell if cell != "" else None)
    except csv.Error as exc:
        raise SourceError(f"line {reader.line_num}: {exc} (a broken quote?)", file=path) from None
    frame = pl.DataFrame(
        {ROW: lines, **{column(i): slot for i, slot in zip(wanted, values, strict=True)}},
        schema={ROW: pl.Int64, **{column(i): pl.String for i in wanted}},
    )
    return frame, refused


def read_records(
    path: Path,
    *,
    rows: int | Callable[[Sequence[tuple[str, ...]]], int],
    separator: str,
    encoding: str,
    wanted: Callable[[tuple[tuple[str, ...], ...]], Sequence[int]],
) -> CsvRecords:
    """Read a CSV export: ``rows`` header records (or a function of the first two records giving how many),
    then the records after them, keeping the columns ``wanted`` returns (from the header) as text.
    """
    if encoding == "utf-8":
        with path.open("rb") as f:
            head = f.read(1 << 20)
        # Only the header is decoded here; polars checks the rest of the file as it reads it.
        cut = head.rfind(b"\n") + 1 if len(head) == 1 << 20 else len(head)
        try:
            decoded_head = head[:cut].decode("utf-8-sig").removeprefix("\ufeff")
        except UnicodeDecodeError:
            decoded_head = _read_text(path, encoding)  # raises the SourceError naming where
        full: str | None = None
    else:
        full = decoded_head = _read_text(path, encoding)
    first_two = _header(decoded_head, separator, 2, path)
    count = rows if isinstance(rows, int) else rows(first_two)
    header = first_two[:count]
    width = len(header[0])
    keep = sorted(set(wanted(header)))
    source: Path | bytes = path if full is None else full.encode("utf-8")
    try:
        frame = _polars_records(source, width, count, separator, keep)
    except pl.exceptions.PolarsError as exc:
        if "utf-8" in str(exc).lower() or "utf8" in str(exc).lower():
            _read_text(path, encoding)  # raises the SourceError naming where
            raise SourceError(f"cannot read as CSV: {_short(exc)}", file=path) from None
        frame, refused = _python_records(full or _read_text(path, encoding), width, count, separator, keep, path)
        return CsvRecords(path=path, header=header, frame=frame, rejected=tuple(refused))
    return CsvRecords(path=path, header=header, frame=frame)


def _short(exc: Exception) -> str:
    message = " ".join(str(exc).split())
    return message if len(message) <= _MESSAGE_CHARS else message[:_MESSAGE_CHARS] + "..."
