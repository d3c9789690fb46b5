"""JSON lines, read lazily: one record per non-blank line, decoded by polars, bad lines found and explained.

How a file becomes records:

* the bytes are split into lines by polars (a one-column CSV scan whose
  separator and quote never occur in JSON text), lazily, so a file of tens of
  millions of lines streams; each line keeps its physical number (1-based,
  blank lines counted but not records).  A UTF-8 byte-order mark is dropped;
  bytes that are not UTF-8 become U+FFFD (the sources reject an id or a name
  holding one);
* a streamed read cuts a large file into :class:`Span` s of whole lines, found
  once by looking for newlines (:func:`spans`); each span is read on its own,
  a few MiB at a time, its lines numbered from its first line's number, so
  that a slice of the file is read without reading what comes before it;
* gzip data (``.json.gz``, Amplitude's members, a saved ``Accept-Encoding:
  gzip`` response) is decompressed in memory first: whatever a damaged or
  truncated stream still gives is read, and the damage is one record of its
  own (:class:`Unpacked`);
* each line's JSON is decoded by polars into the fields a source asks for
  (:func:`decode`), a batch at a time.  Polars refuses a whole batch when one
  line is not JSON or holds an object where a value was expected; the batch is
  then halved until the lines it refuses stand alone, and only those lines are
  parsed by Python's :mod:`json`, to say what is wrong with them.  Well-formed
  files never reach Python.
"""

from __future__ import annotations

import io
import json
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import BinaryIO, Literal, TypedDict

import polars as pl
from polars.io.plugins import register_io_source

__all__ = [
    "LINE",
    "PROBLEM",
    "TEXT",
    "Span",
    "Unpacked",
    "decode",
    "gunzip",
    "is_gzip",
    "lines",
    "path_match",
    "spans",
]

LINE = "_line"  # the record's physical line (1-based)
TEXT = "_text"  # the line's text
PROBLEM = "_problem"  # why the line cannot be read (invalid JSON...), else null
GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20
_BOM = b"\xef\xbb\xbf"
#: Bytes of text a span's reader splits into lines at once (cut after a newline).  Each piece goes down the
#: streaming pass as one batch: the pass's memory grows with it (1M Mixpanel events: 340 MiB with pieces of
#: 1 MiB, 600 with 8 MiB, 1,060 with 32 MiB).
PIECE_BYTES = 2 << 20
#: Bytes read at once while looking for the newlines that end the spans.
_BLOCK = 1 << 20
_SCHEMA = pl.Schema({LINE: pl.Int64(), TEXT: pl.String()})


class _CsvOptions(TypedDict):
    has_header: bool
    separator: str
    quote_char: str | None
    infer_schema: bool
    new_columns: list[str]
    encoding: Literal["utf8-lossy"]
    truncate_ragged_lines: bool
    raise_if_empty: bool


#: How polars splits text into lines, for a whole file and for a span's pieces alike: one column of text a
#: line (no separator nor quote occurs in JSON text).
_CSV = _CsvOptions(
    has_header=False,
    separator="\x1f",
    quote_char=None,
    infer_schema=False,
    new_columns=[TEXT],
    encoding="utf8-lossy",
    truncate_ragged_lines=True,
    raise_if_empty=False,
)


def is_gzip(head: bytes) -> bool:
    """Whether the bytes start a gzip stream."""
    return head.startswith(GZIP_MAGIC)


@dataclass(frozen=True, slots=True)
class Unpacked:
    """The text of a gzip stream, as far as it could be read.

    Attributes:
        data: the decompressed bytes (all of them, or those before the damage).
        damage: why the rest could not be read (``None`` when the stream is whole).
    """

    data: bytes
    damage: str | None = None


def gunzip(raw: bytes) -> Unpacked:
    """Decompress gzip data (one or several concatenated members) in memory, keeping what a damaged stream gives."""
    out = io.BytesIO()
    rest = raw
    while rest:
        engine = zlib.decompressobj(wbits=31)
        try:
            for start in range(0, len(rest), _CHUNK):
                out.write(engine.decompress(rest[start : start + _CHUNK]))
                if engine.eof:
                    break
            out.write(engine.flush())
        except zlib.error as exc:
            return Unpacked(out.getvalue(), f"damaged gzip data ({exc})")
        if not engine.eof:
            return Unpacked(out.getvalue(), "truncated gzip data (the stream ends before its end mark)")
        rest = engine.unused_data
        if rest and not is_gzip(rest):  # trailing bytes that start no member: padding or damage
            if rest.strip(b"\x00"):
                return Unpacked(out.getvalue(), "bytes after the end of the gzip data")
            break
    return Unpacked(out.getvalue())


def lines(source: Path | bytes, span: Span | None = None) -> pl.LazyFrame:
    """The non-blank lines of a file (or of bytes) with their physical numbers: ``LINE`` (Int64), ``TEXT``.

    ``span``: only the lines of that span, numbered as in the whole file (a span of all the data is read as
    the whole data, by polars' own parallel scan).  Lazy: nothing is read until the frame is collected.
    """
    size = len(source) if isinstance(source, bytes) else source.stat().st_size
    if span is not None and (span.start, span.end) != (0, size):
        return _span_lines(source, span)
    if size <= len(_BOM) and _starts(source, size) in (b"", _BOM):  # polars finds no column in an empty file
        return pl.LazyFrame(schema=_SCHEMA)
    frame = pl.scan_csv(source, **_CSV)
    return _non_blank(frame.with_row_index(LINE, offset=1).with_columns(pl.col(LINE).cast(pl.Int64)))


def _starts(source: Path | bytes, size: int) -> bytes:
    """The first ``size`` bytes."""
    if isinstance(source, bytes):
        return source[:size]
    with source.open("rb") as f:
        return f.read(size)


def _non_blank(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.filter(pl.col(TEXT).str.contains(r"\S").fill_null(False))


@dataclass(frozen=True, slots=True)
class Span:
    """Whole lines of a file (or of bytes), from one byte to another.

    Attributes:
        start: where its first line starts (0, or just after a newline).
        end: where its last line ends (just after a newline, or the end of the data).
        first: the physical number of its first line in the whole file (1-based).
    """

    start: int
    end: int
    first: int


def _open(source: Path | bytes) -> BinaryIO:
    return io.BytesIO(source) if isinstance(source, bytes) else source.open("rb")


def spans(source: Path | bytes, rows: int) -> list[Span]:
    """The file (or bytes) cut into spans of ``rows`` physical lines each (the last may hold fewer; one span,
    maybe empty, at least), found in one pass over its bytes that only looks for newlines."""
    rows = max(rows, 1)
    out: list[Span] = []
    start = offset = seen = 0  # seen: newlines since ``start``
    first = 1
    with _open(source) as f:
        while block := f.read(_BLOCK):
            at = 0
            while (left := block.count(b"\n", at)) >= rows - seen:
                for _ in range(rows - seen):
                    at = block.index(b"\n", at) + 1
                out.append(Span(start, offset + at, first))
                start, first, seen = offset + at, first + rows, 0
            seen += left
            offset += len(block)
    if start < offset or not out:
        out.append(Span(start, offset, first))
    return out


def _span_lines(source: Path | bytes, span: Span) -> pl.LazyFrame:
    """The non-blank lines of a span, read a piece of about :data:`PIECE_BYTES` at a time through a polars IO
    source (the span's bytes are never all held at once), numbered from ``span.first``."""
    if span.end <= span.start:
        return pl.LazyFrame(schema=_SCHEMA)
    return _non_blank(io_source(lambda: _ahead(_pieces(source, span)), _SCHEMA))


def io_source(frames: Callable[[], Iterator[pl.DataFrame]], schema: pl.Schema) -> pl.LazyFrame:
    """A lazy frame of ``schema`` that polars reads from ``frames()`` (called when it runs), a frame at a time.

    Each frame is served as polars asks: filtered, its columns chosen, and no more rows than asked for (a
    frame is as large as it is, whatever batch size polars asks).
    """

    def stream(
        with_columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None, batch_size: int | None
    ) -> Iterator[pl.DataFrame]:
        del batch_size
        left = n_rows
        for served in frames():
            frame = served if predicate is None else served.filter(predicate)
            if with_columns is not None:
                frame = frame.select(with_columns)
            if left is not None:
                frame = frame.head(left)
                left -= frame.height
            yield frame
            if left is not None and left <= 0:
                return

    return register_io_source(stream, schema=schema)


def _ahead(pieces: Iterator[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    """The pieces, the next one read and split by a thread of its own while polars takes the one before."""
    with ThreadPoolExecutor(1) as pool:
        coming = pool.submit(next, pieces, None)
        try:
            while (piece := coming.result()) is not None:
                coming = pool.submit(next, pieces, None)
                yield piece
        finally:  # the stream stopped early, or failed: the piece being read is waited for, never raised again
            if not coming.cancel():
                coming.exception()


def _pieces(source: Path | bytes, span: Span) -> Iterator[pl.DataFrame]:
    """A span's lines, numbered, a piece of whole lines at a time (each split by the CSV reader ``lines`` uses
    on a whole file, so that the lines and their text are the same)."""
    line = span.first
    with _open(source) as f:
        f.seek(span.start)
        left, carry = span.end - span.start, b""
        while left > 0 or carry:
            block = f.read(min(PIECE_BYTES, left))
            left -= len(block)
            data = carry + block
            carry = b""
            if left > 0 and block:
                cut = data.rfind(b"\n") + 1
                data, carry = data[:cut], data[cut:]
                if not data:  # a line longer than a piece: read on
                    continue
            inside = span.start > 0 or line > span.first
            if data == _BOM and not inside:  # a file holding a byte-order mark only: no line, as in ``lines``
                break
            count = data.count(b"\n") + (not data.endswith(b"\n"))
            offset = line
            if inside:
                # A piece inside the file is read after an empty line (not a record): the CSV reader then
                # keeps a byte-order mark starting its first line as text, as it does inside a whole file
                # (it drops one starting its data), and takes one column from that empty line, not from the
                # piece's first line (a first line holding the separator would give two).
                data, offset = b"\n" + data, line - 1
            frame = pl.read_csv(data, **_CSV)
            if frame.height != count + (offset < line):
                raise pl.exceptions.ComputeError(f"lines {line} to {line + count - 1}: the lines were miscounted")
            yield frame.select((pl.int_range(pl.len(), dtype=pl.Int64) + offset).alias(LINE), TEXT)
            line += count
            if not block:
                break


def path_match(text: pl.Expr, *path: str) -> pl.Expr:
    """The value at ``path`` in each line's JSON, as text (an object or list as its JSON text); null when absent."""
    where = "$" + "".join(f"['{key}']" for key in path)
    return text.str.json_path_match(where)


def decode(text: pl.Expr, shape: pl.Struct, *, fast: bool = False) -> pl.Expr:
    """Each line's JSON decoded to ``shape`` (a struct), with the field ``PROBLEM`` saying why a line is unreadable.

    Leaves of ``shape`` should be ``pl.String``: numbers and booleans then read
    as their text, so that a source decides what a value means.  A line that
    is not JSON, not an object, or that holds an object or a list where
    ``shape`` has a value, gives a null struct's fields and a ``PROBLEM``
    (``"json: invalid JSON (...)"``, ``"json: not a JSON object (an array)"``,
    ``"properties.time: an object where a value was expected"``).

    ``fast``: polars' own decoding of the whole column, with no way to explain
    a line it refuses: a frame using it fails when a line is unreadable, and
    is then read again with ``fast=False`` (:class:`retainlib_analytics._events.Part`
    holds both plans).  Where it succeeds it gives what ``fast=False`` gives.
    """
    fields = dict(shape.to_schema())
    out = pl.Struct({**fields, PROBLEM: pl.String()})
    if fast:
        decoded = text.str.json_decode(shape)
        problem = pl.when(decoded.is_null() & text.is_not_null()).then(pl.lit("json: not a JSON object (null)"))
        return pl.struct(*(decoded.struct.field(n) for n in fields), problem.alias(PROBLEM))
    return text.map_batches(partial(_decode_batch, shape=shape), return_dtype=out, is_elementwise=True)


def _decode_batch(batch: pl.Series, *, shape: pl.Struct) -> pl.Series:
    """One batch of lines decoded by polars; a batch polars refuses is halved until its bad lines stand alone."""
    if batch.len() == 0:
        return pl.Series(batch.name, [], dtype=pl.Struct({**dict(shape.to_schema()), PROBLEM: pl.String()}))
    try:
        decoded = batch.str.json_decode(shape)
    except pl.exceptions.PolarsError:
        if batch.len() == 1:
            return _python_line(batch, shape)
        half = batch.len() // 2
        return pl.concat(
            [_decode_batch(batch.slice(0, half), shape=shape), _decode_batch(batch.slice(half), shape=shape)],
            rechunk=False,
        )
    frame = decoded.to_frame("_v")
    problem = pl.when(pl.col("_v").is_null() & batch.is_not_null()).then(pl.lit("json: not a JSON object (null)"))
    return (
        frame.with_columns(problem.alias(PROBLEM))
        .select(pl.struct(*(pl.col("_v").struct.field(n) for n in shape.to_schema()), pl.col(PROBLEM)))
        .to_series()
        .alias(batch.name)
    )


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _coerce(value: object, dtype: object, path: str, problems: list[str]) -> object:
    """``value`` shaped as ``dtype`` would decode it; a value of the wrong kind is null and noted in ``problems``."""
    if value is None:
        return None
    if isinstance(dtype, pl.Struct):
        if not isinstance(value, dict):
            problems.append(f"{path}: {_kind(value)} where an object was expected")
            return None
        return {
            name: _coerce(value.get(name), inner, f"{path}.{name}" if path else name, problems)
            for name, inner in dtype.to_schema().items()
        }
    if isinstance(dtype, pl.List):
        if not isinstance(value, list):
            problems.append(f"{path}: {_kind(value)} where an array was expected")
            return None
        return [_coerce(item, dtype.inner, path, problems) for item in value]
    if isinstance(value, dict | list):
        problems.append(f"{path}: {_kind(value)} where a value was expected")
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value)  # numbers and booleans as their JSON text: 5, 2.5, true, Infinity


def _python_line(batch: pl.Series, shape: pl.Struct) -> pl.Series:
    """One line polars refused, parsed by :mod:`json` to say why (and to read what can be read of it)."""
    text = batch.item()
    out = pl.Struct({**dict(shape.to_schema()), PROBLEM: pl.String()})
    problems: list[str] = []
    value: object = None
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        problems.append(f"json: invalid JSON ({exc.msg}, column {exc.colno})")
    except (RecursionError, ValueError):
        problems.append("json: invalid JSON (nested too deeply, or a number too long)")
    else:
        if not isinstance(parsed, dict):
            problems.append(f"json: not a JSON object ({_kind(parsed)})")
        else:
            value = _coerce(parsed, shape, "", problems)
    row: dict[str, object] = dict.fromkeys(shape.to_schema())
    if isinstance(value, dict) and not problems:
        row.update(value)
    row[PROBLEM] = "; ".join(dict.fromkeys(problems)) if problems else None
    try:
        return pl.Series(batch.name, [row], dtype=out)
    except (pl.exceptions.PolarsError, OverflowError, ValueError):  # a value polars cannot hold after all
        blank: dict[str, object] = dict.fromkeys(shape.to_schema())
        blank[PROBLEM] = "json: a value retainlib cannot read"
        return pl.Series(batch.name, [blank], dtype=out)
