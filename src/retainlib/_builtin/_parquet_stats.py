"""Bounds of a Parquet file's text columns, from its footer's statistics (no data page read).

A Parquet file ends with its metadata (Thrift compact encoding), which gives
for each column chunk of each row group a lower and an upper bound of its
values (``min_value`` and ``max_value``; for text, byte by byte).  Over every
row group they bound the whole column, and a check that no value between them
can fail need not run on each row (:func:`retainlib._conform.conform`,
``bounds``).

Only the fields needed are decoded; the others are skipped by type.  Any
surprise (a file cut short, an unknown type, a row group without bounds for
the column) leaves the column without bounds: the rows are then checked one by
one as usual.
"""

from __future__ import annotations

import struct
from pathlib import Path

__all__ = ["text_bounds"]

#: Largest footer read (a file with more metadata is checked row by row).
_MAX_FOOTER = 64 * 2**20

# Thrift compact types.
_TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(1, 13)


class _MalformedError(Exception):
    """The footer is not what this reader understands."""


class _Reader:
    """A cursor over Thrift compact bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def byte(self) -> int:
        if self.at >= len(self.data):
            raise _MalformedError("footer cut short")
        value = self.data[self.at]
        self.at += 1
        return value

    def varint(self) -> int:
        shift = value = 0
        while True:
            b = self.byte()
            value |= (b & 0x7F) << shift
            if b < 0x80:
                return value
            shift += 7
            if shift > 70:
                raise _MalformedError("varint too long")

    def integer(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def binary(self) -> bytes:
        size = self.varint()
        if self.at + size > len(self.data):
            raise _MalformedError("footer cut short")
        value = self.data[self.at : self.at + size]
        self.at += size
        return value

    def field(self, last: int) -> tuple[int, int]:
        """The next field header of a struct: (id, type); type 0 at the struct's end."""
        b = self.byte()
        kind = b & 0x0F
        if kind == 0:
            return 0, 0
        delta = b >> 4
        return (last + delta if delta else self.integer()), kind

    def list_header(self) -> tuple[int, int]:
        b = self.byte()
        size = b >> 4
        if size == 15:
            size = self.varint()
        return size, b & 0x0F

    def skip(self, kind: int) -> None:
        if kind in (_TRUE, _FALSE):
            return
        if kind == _BYTE:
            self.byte()
        elif kind in (_I16, _I32, _I64):
            self.varint()
        elif kind == _DOUBLE:
            if self.at + 8 > len(self.data):
                raise _MalformedError("footer cut short")
            self.at += 8
        elif kind == _BINARY:
            self.binary()
        elif kind in (_LIST, _SET):
            size, element = self.list_header()
            for _ in range(size):
                self.skip_element(element)
        elif kind == _MAP:
            size = self.varint()
            if size:
                types = self.byte()
                for _ in range(size):
                    self.skip_element(types >> 4)
                    self.skip_element(types & 0x0F)
        elif kind == _STRUCT:
            last = 0
            while True:
                last, inner = self.field(last)
                if inner == 0:
                    return
                self.skip(inner)
        else:
            raise _MalformedError(f"unknown Thrift type {kind}")

    def skip_element(self, kind: int) -> None:
        """Skip a list, set or map element (booleans take a byte there)."""
        if kind in (_TRUE, _FALSE):
            self.byte()
        else:
            self.skip(kind)


def _statistics(r: _Reader) -> tuple[bytes | None, bytes | None]:
    """``Statistics``: (min_value, max_value), the bounds in the column's own order."""
    low = high = None
    last = 0
    while True:
        last, kind = r.field(last)
        if kind == 0:
            return low, high
        if last == 5 and kind == _BINARY:
            high = r.binary()
        elif last == 6 and kind == _BINARY:
            low = r.binary()
        else:
            r.skip(kind)


def _column_meta(r: _Reader) -> tuple[tuple[str, ...], bytes | None, bytes | None]:
    """``ColumnMetaData``: the column's path and its bounds."""
    path: tuple[str, ...] = ()
    low = high = None
    last = 0
    while True:
        last, kind = r.field(last)
        if kind == 0:
            return path, low, high
        if last == 3 and kind == _LIST:
            size, element = r.list_header()
            if element != _BINARY:
                raise _MalformedError("column path not text")
            path = tuple(r.binary().decode("utf-8", "replace") for _ in range(size))
        elif last == 12 and kind == _STRUCT:
            low, high = _statistics(r)
        else:
            r.skip(kind)


_Chunk = tuple[tuple[str, ...], bytes | None, bytes | None]  # a column chunk's path, lower and upper bound


def _row_group(r: _Reader) -> list[_Chunk]:
    """``RowGroup``: each column chunk's path and bounds."""
    chunks: list[_Chunk] = []
    last = 0
    while True:
        last, kind = r.field(last)
        if kind == 0:
            return chunks
        if last == 1 and kind == _LIST:
            size, element = r.list_header()
            if element != _STRUCT:
                raise _MalformedError("column chunks not structs")
            for _ in range(size):
                found: _Chunk = ((), None, None)
                inner_last = 0
                while True:
                    inner_last, inner = r.field(inner_last)
                    if inner == 0:
                        break
                    if inner_last == 3 and inner == _STRUCT:
                        found = _column_meta(r)
                    else:
                        r.skip(inner)
                chunks.append(found)
        else:
            r.skip(kind)


def _footer(path: Path) -> bytes:
    with path.open("rb") as f:
        f.seek(0, 2)
        size = f.tell()
        if size < 12:
            raise _MalformedError("too short for Parquet")
        f.seek(size - 8)
        tail = f.read(8)
        if tail[4:] != b"PAR1":
            raise _MalformedError("no Parquet footer")
        (length,) = struct.unpack("<I", tail[:4])
        if length > min(size - 12, _MAX_FOOTER):
            raise _MalformedError("footer length out of range")
        f.seek(size - 8 - length)
        return f.read(length)


def text_bounds(path: Path, columns: set[str]) -> dict[str, tuple[bytes, bytes]]:
    """For each top-level column of ``columns`` that every row group bounds: (lowest, highest) value's bytes.

    The bounds hold for every non-null value of the column (compared byte by
    byte, as polars compares texts).  A column left out has no bounds to
    trust; so is every column of a file whose footer cannot be read.
    """
    try:
        r = _Reader(_footer(path))
        groups: list[list[_Chunk]] = []
        ordered = False  # the writer says how it ordered the bounds (column_orders): else they are not trusted
        last = 0
        while True:
            last, kind = r.field(last)
            if kind == 0:
                break
            if last == 7 and kind == _LIST:
                ordered = True
                r.skip(kind)
            elif last == 4 and kind == _LIST:
                size, element = r.list_header()
                if element != _STRUCT:
                    raise _MalformedError("row groups not structs")
                groups.extend(_row_group(r) for _ in range(size))
            else:
                r.skip(kind)
    except (OSError, _MalformedError, struct.error, RecursionError):  # a file too odd to trust: no bounds
        return {}
    if not groups or not ordered:
        return {}
    bounds: dict[str, tuple[bytes, bytes]] = {}
    for name in columns:
        lows: list[bytes] = []
        highs: list[bytes] = []
        for chunks in groups:
            mine = [(low, high) for p, low, high in chunks if p == (name,)]
            low, high = mine[0] if len(mine) == 1 else (None, None)
            if low is None or high is None:
                break
            lows.append(low)
            highs.append(high)
        else:
            bounds[name] = (min(lows), max(highs))
    return bounds
