"""CSV files as a grid of text cells, each record with its physical line, whatever the header holds.

CRM exports have headers polars cannot key a frame by: HubSpot repeats column
names (``Billing Contact`` twice) and quotes inside them (``Date entered
"Lead (Lifecycle Stage Pipeline)"``).  So the header is parsed once with
Python's :mod:`csv` module (from the file's first bytes) and the records are
read by polars with every field as text, their columns then named by position
(``c0``, ``c1``...): a field is found through the header, never through a
polars column name.

Line numbers are the file's physical lines: the header is line 1 (or lines
1..k when a header cell holds line breaks), blank lines count, and a record
holding quoted line breaks counts its lines.  A blank record (every field empty
or white space) is not a record: neither read nor rejected.

Polars reads the file as it stands.  A file it refuses (a row with more fields
than the header, a broken quote) is read again with the :mod:`csv` module,
which rejects each over-long row with its line (``_problem``) and names the
line of a broken quote in a :class:`~retainlib.errors.SourceError`.
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

from retainlib.errors import SourceError

__all__ = ["LINE", "PROBLEM", "Grid", "cell", "decode_head", "header_of", "read_grid"]

#: Column of a record's physical line (1-based; the header is line 1).
LINE = "_line"
#: Column of why a record cannot be read at all (a row longer than the header), else null.
PROBLEM = "_problem"
#: The separators tried, in order, when sniffing a header.
SEPARATORS = (",", ";", "\t")
#: How much of a file is read to find its header (an all-properties export's header can be long).
_HEAD_BYTES = 1024 * 1024
#: Stands for a lone carriage return while the csv module parses (a private-use character): polars, like
#: this reader, ends records at line feeds only.
_MASK = "\ue000"
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def cell(position: int) -> str:
    """The grid's name of the column at ``position`` (0-based) of the header."""
    return f"c{position}"


@attrs.frozen(kw_only=True)
class Grid:
    """The records of one CSV file.

    Attributes:
        path: the file.
        header: the column names as the file writes them (quotes unescaped, repeats kept).
        separator: the field separator.
        frame: one row per record: the cells ``c0``, ``c1``... (text, null when empty),
            :data:`LINE` and :data:`PROBLEM`; blank records left out.
    """

    path: Path
    header: tuple[str, ...]
    separator: str
    frame: pl.DataFrame


def _codec(raw_head: bytes, encoding: str) -> str:
    """The codec to decode with: a UTF-16 byte-order mark wins over the default UTF-8."""
    if encoding == "utf-8":
        return "utf-16" if raw_head.startswith(_UTF16_BOMS) else "utf-8-sig"
    return encoding


def decode_head(raw_head: bytes, encoding: str = "utf-8") -> str:
    """The first bytes of a file as text (byte-order mark removed, bad bytes replaced)."""
    text = raw_head.decode(_codec(raw_head, encoding), errors="replace")
    return text.removeprefix("\ufeff")


def header_of(text: str, separator: str) -> list[str]:
    """The first record of ``text`` (a file's start) split by ``separator``; [] when it is not CSV."""
    try:
        return next(csv.reader(io.StringIO(text, newline=""), delimiter=separator), [])
    except csv.Error:
        return []


def _header_lines(text: str, separator: str) -> int:
    """How many physical lines the header record takes."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    try:
        next(reader, None)
    except csv.Error:
        return 1
    return max(1, reader.line_num)


def _lines(records: pl.DataFrame, names: Sequence[str], first: int, breaks_total: bool) -> pl.Series:
    """Each record's physical line: ``first`` for the first, then one past the previous record's last line."""
    if breaks_total:  # one line per record
        return pl.int_range(first, first + records.height, dtype=pl.Int64, eager=True).alias(LINE)
    counted = records.select(
        pl.sum_horizontal(pl.col(n).str.count_matches("\n", literal=True).fill_null(0) for n in names)
        .cast(pl.Int64)
        .alias("_n")
    )["_n"]
    base = pl.int_range(first, first + records.height, dtype=pl.Int64, eager=True)
    return (base + counted.cum_sum() - counted).alias(LINE)


def _newlines(data: bytes | Path) -> tuple[int, bool]:
    """Line feeds in the file, and whether it ends with one."""
    if isinstance(data, bytes):
        return data.count(b"\n"), data.endswith(b"\n")
    count, last = 0, b""
    with data.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count, last == b"\n"


def _polars(source: bytes | Path, width: int, separator: str) -> pl.DataFrame | None:
    """The records read by polars, their columns named by position; ``None`` when polars refuses the file."""
    data = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        frame = pl.read_csv(data, separator=separator, infer_schema=False, encoding="utf8-lossy", raise_if_empty=False)
    except pl.exceptions.PolarsError:
        return None
    if frame.width != width:  # a header polars splits otherwise (a stray quote): the csv module decides
        return None
    return frame.rename(dict(zip(frame.columns, (cell(i) for i in range(width)), strict=True))).with_columns(
        pl.lit(None, dtype=pl.String).alias(PROBLEM)
    )


def _python(text: str, path: Path, width: int, separator: str, source: str) -> pl.DataFrame:
    """The records read with the csv module: an over-long row gets a problem; a broken quote is an error."""
    masked = "\r" in text and _MASK not in text
    if masked:  # a lone carriage return is a character of its field, as polars reads it
        text = re.sub("\r(?!\n)", _MASK, text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator, strict=True)
    rows: list[list[str | None]] = []
    lines: list[int] = []
    start = 1
    try:
        next(reader, None)
        start = reader.line_num + 1
        for record in reader:
            if len(record) > width:
                rows.append([None] * width + [f"line: the row has {len(record)} fields; the header has {width}"])
            else:
                cells = [c.replace(_MASK, "\r") for c in record] if masked else record
                rows.append([c or None for c in cells] + [None] * (width - len(record)) + [None])
            lines.append(start)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise SourceError(
            f"cannot read as CSV: line {start}: {exc} (a broken quote?)", file=path, source=source
        ) from None
    schema = [*((cell(i), pl.String()) for i in range(width)), (PROBLEM, pl.String())]
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    return frame.with_columns(pl.Series(LINE, lines, dtype=pl.Int64))


def read_grid(
    path: Path,
    *,
    source: str,
    encoding: str,
    recognise: Callable[[Sequence[str]], bool],
    not_mine: str,
) -> Grid:
    """The records of a CSV file whose header ``recognise`` accepts (tried with ``,``, ``;`` and tab).

    ``not_mine`` is the message of the :class:`SourceError` raised when no
    separator gives a recognised header.
    """
    try:
        with path.open("rb") as handle:
            raw_head = handle.read(_HEAD_BYTES)
    except OSError as exc:
        raise SourceError(f"cannot open: {exc.strerror or exc}", file=path, source=source) from None
    if not raw_head.strip():
        raise SourceError("the file is empty", file=path, source=source)
    codec = _codec(raw_head, encoding)
    head = decode_head(raw_head, encoding)
    for separator in SEPARATORS:
        header = header_of(head, separator)
        if header and recognise(header):
            break
    else:
        raise SourceError(not_mine, file=path, source=source)
    width = len(header)
    first = _header_lines(head, separator) + 1
    if codec == "utf-8-sig":
        data: bytes | Path = path
        text: str | None = None
    else:  # another encoding: decoded here, handed to polars as UTF-8
        try:
            text = path.read_bytes().decode(codec, errors="replace").removeprefix("\ufeff")
        except LookupError:
            raise SourceError(f"unknown encoding {encoding!r}", file=path, source=source) from None
        data = text.encode("utf-8")
    frame = _polars(data, width, separator)
    if frame is None:
        if text is None:
            text = path.read_bytes().decode("utf-8", errors="replace").removeprefix("\ufeff")
        frame = _python(text, path, width, separator, source)
    else:
        newlines, ends = _newlines(data)
        total = newlines + (0 if ends else 1)
        names = [cell(i) for i in range(width)]
        frame = frame.with_columns(_lines(frame, names, first, total == first - 1 + frame.height))
    return Grid(path=path, header=tuple(header), separator=separator, frame=_without_blanks(frame, width))


def _blank(cells: Sequence[str]) -> pl.Expr:
    return pl.all_horizontal((pl.col(n).str.strip_chars() == "").fill_null(True) for n in cells)


def _without_blanks(frame: pl.DataFrame, width: int) -> pl.DataFrame:
    """The records that are not blank (every cell empty or white space), rows too long for the header kept.

    Only the rows whose first cell is blank can be blank: the others are not looked at again.
    """
    first = pl.col(cell(0))
    maybe = frame.select((first.is_null() | (first.str.strip_chars() == "")) & pl.col(PROBLEM).is_null())
    candidates = maybe.to_series().arg_true()
    if candidates.len() == 0:
        return frame
    blank = frame[candidates].select(_blank([cell(i) for i in range(width)])).to_series()
    dropped = candidates.filter(blank)
    keep = pl.Series(values=[True], dtype=pl.Boolean).extend_constant(True, frame.height - 1)
    return frame.filter(keep.scatter(dropped, False)) if dropped.len() else frame
