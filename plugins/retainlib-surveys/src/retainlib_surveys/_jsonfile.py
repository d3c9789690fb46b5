"""Reading the JSON the survey tools' APIs and webhooks give: one document or JSON lines, each record numbered.

API payloads are small (a page holds at most 1,000 responses), so they are
parsed with Python's :mod:`json` module; the values each source needs are then
turned into text columns and coerced with polars like the CSV exports.

* A file starting with ``[`` is one JSON array; its records are numbered by
  their 1-based position (``line``).
* A file starting with ``{`` is one JSON object when it parses as one (its
  records: the object itself, or its list of records such as an API page's
  ``items``), else JSON lines: one record per line, numbered by line; a line
  that is not valid JSON, or not an object, is rejected with its line.
* Blank lines are not records.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from retainlib.errors import SourceError

__all__ = ["JsonRecords", "as_text", "is_json", "load", "text_of"]


def is_json(head: bytes) -> bool:
    """Whether a file's first bytes look like JSON (an object or an array)."""
    return head.decode("utf-8", errors="replace").removeprefix("\ufeff").lstrip()[:1] in ("{", "[")


@attrs.frozen(kw_only=True)
class JsonRecords:
    """The records of a JSON file.

    Attributes:
        path: the file.
        records: ``(line, object)`` for every record that is a JSON object.
        rejected: ``(line, reason)`` for every record that is not.
    """

    path: Path
    records: tuple[tuple[int, Mapping[str, Any]], ...]
    rejected: tuple[tuple[int, str], ...] = ()


def _parse(text: str) -> Any:
    return json.loads(text)


def load(path: Path, *, unwrap: Callable[[Mapping[str, Any]], list[Any] | None]) -> JsonRecords:
    """The records of ``path``.

    ``unwrap(document)`` gives the records of a one-object document (an API
    page's ``items``), or ``None`` when the object is itself one record.
    """
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SourceError(f"not valid UTF-8 at line {line}, byte {exc.start}", file=path) from None
    stripped = text.lstrip()
    if not stripped:
        raise SourceError("the file is empty", file=path)
    if stripped[0] not in "[{":
        raise SourceError("not JSON: expected an array, an object or JSON lines of objects", file=path)
    try:
        document = _parse(text)
    except (ValueError, RecursionError) as exc:
        if stripped[0] == "[":
            raise SourceError(f"invalid JSON: {_why(exc)}", file=path) from None
        return _lines(path, text)
    if isinstance(document, list):
        return _numbered(path, list(enumerate(document, start=1)))
    if isinstance(document, dict):
        inner = unwrap(document)
        if inner is None:
            return JsonRecords(path=path, records=((1, document),))
        return _numbered(path, list(enumerate(inner, start=1)))
    raise SourceError("not JSON records: expected an array, an object or JSON lines of objects", file=path)


def _why(exc: BaseException) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"line {exc.lineno}, column {exc.colno}: {exc.msg}"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc)[:120]


def _numbered(path: Path, items: list[tuple[int, Any]]) -> JsonRecords:
    records = tuple((n, r) for n, r in items if isinstance(r, dict))
    rejected = tuple((n, "not a JSON object") for n, r in items if not isinstance(r, dict))
    return JsonRecords(path=path, records=records, rejected=rejected)


def _lines(path: Path, text: str) -> JsonRecords:
    """JSON lines; a file whose first record is not JSON at all is refused (it is no JSON export)."""
    records: list[tuple[int, Mapping[str, Any]]] = []
    rejected: list[tuple[int, str]] = []
    first = True
    for number, line in _split_lines(text):
        try:
            record = _parse(line)
        except (ValueError, RecursionError) as exc:
            if first:
                raise SourceError(f"invalid JSON at line {number}: {_why(exc)}", file=path) from None
            rejected.append((number, "invalid JSON"))
            continue
        finally:
            first = False
        if isinstance(record, dict):
            records.append((number, record))
        else:
            rejected.append((number, "not a JSON object"))
    return JsonRecords(path=path, records=tuple(records), rejected=tuple(rejected))


def _split_lines(text: str) -> Iterator[tuple[int, str]]:
    """Non-blank lines with their numbers; only ``\\n`` ends a line (``\\r\\n`` too, its ``\\r`` being blank)."""
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            yield number, line


def as_text(value: object) -> str | None:
    """A JSON value as text: strings as they are, numbers and booleans as JSON writes them, ``None`` for null.

    Objects and arrays become their JSON text (so that a wrong type is a
    rejected value, never a crash); text that is not valid Unicode (a lone
    surrogate) has the offending characters replaced.
    """
    if value is None:
        return None
    if isinstance(value, str):
        out = value
    elif isinstance(value, bool):
        out = "true" if value else "false"
    elif isinstance(value, int):
        try:
            out = str(value)
        except ValueError:  # more digits than Python converts
            out = "(a number too large)"
    else:
        try:
            out = json.dumps(value, allow_nan=True)
        except (ValueError, RecursionError):
            out = "(unreadable value)"
    return out.encode("utf-8", errors="replace").decode("utf-8")


def text_of(record: Mapping[str, Any], *keys: str) -> str | None:
    """The text of the first of ``keys`` that ``record`` holds with a value (see :func:`as_text`)."""
    for key in keys:
        value = record.get(key)
        if value is not None:
            return as_text(value)
    return None
