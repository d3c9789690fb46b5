"""JSON lines, read lazily: one record per non-blank line, decoded by polars, bad lines found and explained.

How a file becomes records:

* the bytes are split into lines by polars (a one-column CSV scan whose
  separator and quote never occur in JSON text), lazily, so a file of tens of
  millions of lines streams; each line keeps its physical number (1-based,
  blank lines counted but not records).  A UTF-8 byte-order mark is dropped;
  bytes that are not UTF-8 become U+FFFD (the sources reject an id or a name
  holding one);
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
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import polars as pl

__all__ = ["LINE", "PROBLEM", "TEXT", "Unpacked", "decode", "gunzip", "is_gzip", "lines", "path_match"]

LINE = "_line"  # the record's physical line (1-based)
TEXT = "_text"  # the line's text
PROBLEM = "_problem"  # why the line cannot be read (invalid JSON...), else null
GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20


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


def lines(source: Path | bytes) -> pl.LazyFrame:
    """The non-blank lines of a file (or of bytes) with their physical numbers: ``LINE`` (Int64), ``TEXT``.

    Lazy: nothing is read until the frame is collected.
    """
    empty = len(source) == 0 if isinstance(source, bytes) else source.stat().st_size == 0
    if empty:  # polars finds no column in an empty file
        return pl.LazyFrame(schema={LINE: pl.Int64, TEXT: pl.String})
    frame = pl.scan_csv(
        source,
        has_header=False,
        separator="\x1f",
        quote_char=None,
        infer_schema=False,
        new_columns=[TEXT],
        encoding="utf8-lossy",
        truncate_ragged_lines=True,
        raise_if_empty=False,
    )
    return (
        frame.with_row_index(LINE, offset=1)
        .with_columns(pl.col(LINE).cast(pl.Int64))
        .filter(pl.col(TEXT).str.contains(r"\S").fill_null(False))
    )


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
