"""Opening the files the analytics sources read: plain or gzipped JSON lines, Parquet, zip archives.

File-level problems (a file that cannot be opened, UTF-16 text, text that holds
no JSON object at all, a zip archive whose directory cannot be read) raise
:class:`~retainlib.errors.SourceError` naming the file.  A damaged gzip stream
or zip member is read as far as it goes; what cannot be read is one rejected
record (see :class:`retainlib_analytics._jsonl.Unpacked`).
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from retainlib.errors import SourceError
from retainlib.load_report import REJECTS_SCHEMA
from retainlib_analytics._jsonl import Span, Unpacked, gunzip, is_gzip, spans

__all__ = [
    "HEAD_BYTES",
    "ZIP_MAGIC",
    "Text",
    "damage_record",
    "head",
    "head_text",
    "is_zip",
    "slices",
    "text_of",
    "zip_members",
    "zip_sizes",
]

HEAD_BYTES = 64 * 1024
ZIP_MAGIC = b"PK\x03\x04"
_UTF16 = (b"\xff\xfe", b"\xfe\xff")
_OBJECT_LINE = re.compile(r"^\s*\{", re.M)


def head(path: Path, source: str) -> bytes:
    """The file's first bytes (up to 64 KiB); :class:`SourceError` when it cannot be opened."""
    try:
        with path.open("rb") as f:
            return f.read(HEAD_BYTES)
    except OSError as exc:
        raise SourceError(f"cannot open: {exc.strerror or exc}", file=path, source=source) from None


def is_zip(first: bytes) -> bool:
    """Whether the bytes start a zip archive."""
    return first.startswith(ZIP_MAGIC)


def head_text(first: bytes) -> str:
    """The first bytes as text (gzip data decompressed as far as they go), without a byte-order mark."""
    if is_gzip(first):
        engine = zlib.decompressobj(wbits=31)
        try:
            first = engine.decompress(first, HEAD_BYTES)
        except zlib.error:
            return ""
    return first.decode("utf-8", errors="replace").removeprefix("\ufeff")


@dataclass(frozen=True, slots=True)
class Text:
    """JSON lines to read: a path (scanned lazily) or bytes (decompressed), and the damage of a gzip stream.

    ``span``: only these lines of it (a slice of a streamed read; ``None``: all).
    """

    source: Path | bytes
    damage: str | None = None
    damage_line: int = 0
    span: Span | None = None


def slices(text: Text, rows: int | None) -> list[Text]:
    """The text cut in slices of ``rows`` lines (:func:`~retainlib_analytics._jsonl.spans`: one pass over
    its bytes looking for newlines), the damage of a gzip stream with the last; ``None``: the text whole."""
    if rows is None:
        return [text]
    cut = spans(text.source, rows)
    return [
        Text(text.source, text.damage, text.damage_line, span) if n == len(cut) - 1 else Text(text.source, span=span)
        for n, span in enumerate(cut)
    ]


def _complete_lines(unpacked: Unpacked) -> Text:
    """The complete lines of a damaged stream, and the line number of the damaged remainder (one record)."""
    data = unpacked.data
    if unpacked.damage is None:
        return Text(data)
    cut = data.rfind(b"\n") + 1
    kept = data[:cut]
    return Text(kept, unpacked.damage, kept.count(b"\n") + 1)


def _check_text(sample: bytes, path: Path, source: str, what: str) -> None:
    if sample.startswith(_UTF16):
        raise SourceError(f"UTF-16 text: {what} are UTF-8 JSON lines", file=path, source=source)
    text = sample.decode("utf-8", errors="replace").removeprefix("\ufeff")
    if text.strip() and not _OBJECT_LINE.search(text):
        raise SourceError(
            f"not {what}: no line of its first {len(sample)} bytes starts a JSON object", file=path, source=source
        )


def text_of(path: Path, first: bytes, source: str, what: str) -> Text:
    """The JSON lines of a plain or gzipped file, checked to be text holding JSON objects."""
    if is_gzip(first):
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise SourceError(f"cannot read: {exc.strerror or exc}", file=path, source=source) from None
        text = _complete_lines(gunzip(raw))
        assert isinstance(text.source, bytes)
        _check_text(text.source[:HEAD_BYTES], path, source, what)
        return text
    _check_text(first, path, source, what)
    return Text(path)


def damage_record(name: str, text: Text) -> pl.DataFrame:
    """The damaged remainder of a gzip stream as one rejected record (none when the stream is whole)."""
    if text.damage is None:
        return pl.DataFrame(schema=REJECTS_SCHEMA)
    return pl.DataFrame(
        {"file": [name], "line": [text.damage_line], "table": ["events"], "column": ["gzip"]},
    ).with_columns(pl.lit(f"gzip: {text.damage}; the rest of the data cannot be read").alias("reason"))


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[bytes, str | None]:
    """A member's bytes, as far as they can be read, and why the rest cannot."""
    chunks: list[bytes] = []
    try:
        with archive.open(info) as f:
            while chunk := f.read(1 << 20):
                chunks.append(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError) as exc:
        return b"".join(chunks), f"damaged zip member ({exc})"
    return b"".join(chunks), None


def _open_zip(path: Path, source: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise SourceError(f"not a readable zip archive: {exc}", file=path, source=source) from None


def zip_sizes(path: Path, source: str) -> list[int]:
    """The stored (compressed) size of each file member of a zip archive, in the archive's order."""
    with _open_zip(path, source) as archive:
        return [info.compress_size for info in archive.infolist() if not info.is_dir()]


def zip_members(path: Path, source: str, only: range | None = None) -> Iterator[tuple[str, Text]]:
    """Each file member of a zip archive (``only``: those at these places among the file members), in the
    archive's order, as JSON lines read in memory (never extracted)."""
    with _open_zip(path, source) as archive:
        files = [info for info in archive.infolist() if not info.is_dir()]
        for info in files if only is None else files[only.start : only.stop]:
            raw, broken = _read_member(archive, info)
            if is_gzip(raw):
                unpacked = gunzip(raw)
                if broken is not None:
                    unpacked = Unpacked(unpacked.data, broken)
                yield info.filename, _complete_lines(unpacked)
            else:
                yield info.filename, _complete_lines(Unpacked(raw, broken))
