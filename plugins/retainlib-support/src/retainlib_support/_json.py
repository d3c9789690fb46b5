"""Zendesk API JSON and JSON lines: tickets, ticket metrics, satisfaction ratings and users, as record frames.

What a file may hold:

* an API response (a *page*): ``{"tickets": [...]}`` (list and incremental
  exports, with ``count``, ``end_time``, ``next_page``, ``end_of_stream`` or
  the cursor fields beside them), ``{"ticket": {...}}`` (one ticket), and the
  side-loads ``include=metric_sets,users`` add (``metric_sets``, ``users``);
  ``{"ticket_metrics": [...]}``, ``{"ticket_metric": {...}}``,
  ``{"satisfaction_ratings": [...]}``, ``{"satisfaction_rating": {...}}``,
  ``{"users": [...]}``, ``{"user": {...}}``;
* bare objects: one object, an array of objects, or JSON lines (one object,
  or one page, per line, as incremental exports are saved), each object a
  ticket, a ticket metric, a satisfaction rating or a user, told apart by its
  ``url`` and its fields.

In a page holding tickets, the tickets are the records and the other arrays
are side-loads (parts of those tickets); elsewhere every object is a record.
A record's "line" is its line in JSON lines, else its 1-based position among
the file's records.

JSON lines holding one object each are read by polars (each line's fields
decoded in one pass); pages and arrays, small API payloads, are parsed by
:mod:`json` and their objects decoded the same way.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from retainlib.errors import SourceError
from retainlib_support._frames import (
    FILE,
    LINE,
    METRIC_SCHEMA,
    PROBLEM,
    RATING_SCHEMA,
    SIDE,
    TICKET_SCHEMA,
    USER_SCHEMA,
)

__all__ = ["COLLECTIONS", "UNKNOWN", "JsonRecords", "is_page", "read_json"]

#: Keys of an API response holding records: key -> (kind of record, whether it holds a list).
COLLECTIONS: dict[str, tuple[str, bool]] = {
    "tickets": ("ticket", True),
    "ticket": ("ticket", False),
    "metric_sets": ("metric", True),
    "ticket_metrics": ("metric", True),
    "ticket_metric": ("metric", False),
    "satisfaction_ratings": ("rating", True),
    "satisfaction_rating": ("rating", False),
    "users": ("user", True),
    "user": ("user", False),
}
#: Other keys of an API response (paging, counts).
_PAGING = {
    "count",
    "next_page",
    "previous_page",
    "end_time",
    "end_of_stream",
    "after_url",
    "after_cursor",
    "before_url",
    "before_cursor",
    "meta",
    "links",
}
#: Why an object is not read.
UNKNOWN = "object: not a Zendesk ticket, ticket metric, satisfaction rating or user"
_INVALID = "json: invalid JSON"
_NAME = "zendesk"
_NEWLINE = b"\n"
#: A JSON line that is a page: its first key is a collection or a paging key (read with :mod:`json`, not polars).
_PAGE_LINE = r'^\s*\{\s*"(' + "|".join(sorted({*COLLECTIONS, *_PAGING})) + r')"\s*:'
_TEXT, _KIND = "_text", "_kind"
#: The fields read from every object, decoded in one pass (objects, arrays and odd values take the slow path).
_DECODED = pl.Struct(
    {
        "url": pl.String,
        "id": pl.String,
        "ticket_id": pl.String,
        "requester_id": pl.String,
        "email": pl.String,
        "role": pl.String,
        "name": pl.String,
        "created_at": pl.String,
        "updated_at": pl.String,
        "status": pl.String,
        "subject": pl.String,
        "score": pl.String,
        "solved_at": pl.String,
        "tags": pl.List(pl.String),
        "priority": pl.String,
        "via": pl.Struct({"channel": pl.String}),
        "satisfaction_rating": pl.Struct({"score": pl.String}),
        "metric_set": pl.Struct({"solved_at": pl.String}),
    }
)
#: The scalar fields, each matched on its own by the slow path.
_PATHS = (
    "url",
    "id",
    "ticket_id",
    "requester_id",
    "email",
    "role",
    "name",
    "created_at",
    "updated_at",
    "status",
    "subject",
    "score",
    "solved_at",
    "priority",
)


@dataclass(frozen=True, slots=True)
class JsonRecords:
    """The records of one JSON file, one frame per kind (see :mod:`retainlib_support._frames`)."""

    tickets: pl.DataFrame
    metrics: pl.DataFrame
    ratings: pl.DataFrame
    users: pl.DataFrame


@dataclass(slots=True)
class _Found:
    """Records found by :mod:`json`: line, kind (``auto``: tell by its fields), side-load, text, problem."""

    lines: list[int]
    kinds: list[str]
    sides: list[bool]
    texts: list[str | None]
    problems: list[str | None]

    def add(self, line: int, kind: str, side: bool, item: object) -> None:
        """One record (an object's JSON text), or a record that cannot be read (anything but an object)."""
        if isinstance(item, dict):
            self.lines.append(line)
            self.kinds.append(kind)
            self.sides.append(side)
            self.texts.append(json.dumps(item))
            self.problems.append(None)
        elif not side:  # a side-loaded value that is not an object carries nothing: not a record
            self.lines.append(line)
            self.kinds.append("bad")
            self.sides.append(False)
            self.texts.append(None)
            self.problems.append(f"json: not a JSON object (a {_type_name(item)})")

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame(
            {LINE: self.lines, _KIND: self.kinds, SIDE: self.sides, _TEXT: self.texts, PROBLEM: self.problems},
            schema={LINE: pl.Int64, _KIND: pl.String, SIDE: pl.Boolean, _TEXT: pl.String, PROBLEM: pl.String},
        )


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "list" if isinstance(value, list) else type(value).__name__


def is_page(value: dict[str, Any]) -> bool:
    """Whether an object is an API response holding records (rather than a record itself)."""
    for key, (_, many) in COLLECTIONS.items():
        if key in value and isinstance(value[key], list if many else dict):
            if key == "satisfaction_rating" and not set(value) <= set(COLLECTIONS) | _PAGING:
                continue  # a ticket's own satisfaction_rating: the object is a ticket
            return True
    return False


def _page(value: dict[str, Any], found: _Found, line: Iterator[int] | int) -> None:
    """The records of an API response: its tickets, with the rest side-loaded; else every collection."""
    present = [k for k, (_, many) in COLLECTIONS.items() if isinstance(value.get(k), list if many else dict)]
    has_tickets = any(COLLECTIONS[k][0] == "ticket" for k in present)
    for key in present:
        kind, many = COLLECTIONS[key]
        side = has_tickets and kind != "ticket"
        items = value[key] if many else [value[key]]
        for item in items:
            number = line if isinstance(line, int) else (0 if side else next(line))
            found.add(number, kind, side, item)


def _items(value: object, found: _Found, line: Iterator[int] | int) -> None:
    """The records of a parsed document (or line): a page, an object, or an array of either."""
    if isinstance(value, dict):
        if is_page(value):
            _page(value, found, line)
        else:
            found.add(line if isinstance(line, int) else next(line), "auto", False, value)
        return
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, dict) and is_page(item):
            _page(item, found, line)
        else:
            found.add(line if isinstance(line, int) else next(line), "auto", False, item)


def _parse(text: str) -> object:
    """One JSON document; :class:`ValueError` when it is not (malformed, nested too deep, a huge integer)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _lines(raw: bytes) -> pl.DataFrame:
    """JSON lines: one-object lines kept as text for polars, pages and arrays parsed by :mod:`json`.

    Polars splits the lines (as one-column CSV whose separator and quotes never
    occur in JSON text); a blank line is not a record.
    """
    lines = (
        pl.read_csv(
            io.BytesIO(raw),
            has_header=False,
            separator="\x1f",
            quote_char=None,
            infer_schema=False,
            new_columns=[_TEXT],
            truncate_ragged_lines=True,
            raise_if_empty=False,
        )
        .with_row_index(LINE, offset=1)
        .with_columns(pl.col(LINE).cast(pl.Int64))
        .with_columns(
            pl.when(pl.col(LINE) == 1).then(pl.col(_TEXT).str.strip_prefix("\ufeff")).otherwise(pl.col(_TEXT))
        )
        .filter(~pl.col(_TEXT).str.contains(r"^\s*$").fill_null(True))
    )
    opens = pl.col(_TEXT).str.contains(r"^\s*\{")
    parsed = lines.filter(~opens | pl.col(_TEXT).str.contains(_PAGE_LINE))
    simple = lines.filter(opens & ~pl.col(_TEXT).str.contains(_PAGE_LINE)).select(
        LINE,
        pl.lit("auto").alias(_KIND),
        pl.lit(False).alias(SIDE),
        _TEXT,
        pl.lit(None, dtype=pl.String).alias(PROBLEM),
    )
    found = _Found([], [], [], [], [])
    for number, line in parsed.select(LINE, _TEXT).iter_rows():
        try:
            value = _parse(line)
        except ValueError:
            found.lines.append(number)
            found.kinds.append("bad")
            found.sides.append(False)
            found.texts.append(None)
            found.problems.append(_INVALID)
            continue
        _items(value, found, number)
    return pl.concat([simple, found.frame()]).sort(LINE, maintain_order=True)


def _records(path: Path) -> pl.DataFrame:
    """Every record of a JSON file with its fields: line, kind, side-load, text, problem, fields."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        where = f"line {raw.count(_NEWLINE, 0, exc.start) + 1}, byte {exc.start}"
        raise SourceError(f"not valid UTF-8 ({where}); JSON is UTF-8", file=path, source=_NAME) from None
    if not text.strip():
        raise SourceError("the file is empty", file=path, source=_NAME)
    try:
        document = _parse(text)
    except ValueError as whole:
        first = text.lstrip().split("\n", 1)[0]
        try:
            _parse(first)
        except ValueError:
            where = (
                f" at line {whole.lineno}, column {whole.colno}: {whole.msg}"
                if isinstance(whole, json.JSONDecodeError)
                else f": {whole}"
            )
            raise SourceError(f"invalid JSON{where}", file=path, source=_NAME) from None
        return _decoded(_lines(raw))
    if not isinstance(document, dict | list):
        raise SourceError(
            f"not a Zendesk export: the JSON is a {_type_name(document)}, not an object or an array",
            file=path,
            source=_NAME,
        )
    if isinstance(document, dict) and is_page(document):
        fast = _page_decoded(text, document)
        if fast is not None:
            return fast
    found = _Found([], [], [], [], [])
    positions = iter(range(1, 1 << 62))
    _items(document, found, positions)
    return _decoded(found.frame())


def _fields(decoded: pl.Expr) -> list[pl.Expr]:
    """The record's fields from its decoded struct (:data:`_DECODED`)."""
    return [
        *(decoded.struct.field(name).alias(name) for name in _PATHS),
        decoded.struct.field("tags").list.join(" ").alias("tags"),
        decoded.struct.field("via").struct.field("channel").alias("channel"),
        decoded.struct.field("satisfaction_rating").struct.field("score").alias("own_score"),
        decoded.struct.field("metric_set").struct.field("solved_at").alias("own_solved_at"),
    ]


def _page_decoded(text: str, page: dict[str, Any]) -> pl.DataFrame | None:
    """The records of an API response decoded by polars in one pass (no text per object).

    ``None`` when a collection holds anything but objects, or fields of odd types: the objects are
    then taken one by one.
    """
    present = [k for k, (_, many) in COLLECTIONS.items() if isinstance(page.get(k), list if many else dict)]
    if not present or any(not isinstance(item, dict) for key in present if COLLECTIONS[key][1] for item in page[key]):
        return None
    shape = pl.Struct({key: pl.List(_DECODED) if COLLECTIONS[key][1] else _DECODED for key in present})
    try:
        decoded = pl.DataFrame({_TEXT: [text]}).select(pl.col(_TEXT).str.json_decode(shape)).unnest(_TEXT)
    except pl.exceptions.PolarsError:
        return None
    has_tickets = any(COLLECTIONS[k][0] == "ticket" for k in present)
    parts: list[pl.DataFrame] = []
    position = 0
    for key in present:
        kind, many = COLLECTIONS[key]
        side = has_tickets and kind != "ticket"
        items = decoded.select(key).explode(key).head(len(page[key])) if many else decoded.select(key)
        count = items.height
        lines = [0] * count if side else list(range(position + 1, position + count + 1))
        position += 0 if side else count
        parts.append(
            items.select(
                pl.Series(LINE, lines, dtype=pl.Int64),
                pl.lit(kind).alias(_KIND),
                pl.lit(side).alias(SIDE),
                pl.lit(None, dtype=pl.String).alias(_TEXT),
                pl.lit(None, dtype=pl.String).alias(PROBLEM),
                *_fields(pl.col(key)),
            )
        )
    return pl.concat(parts)


def _decoded(records: pl.DataFrame) -> pl.DataFrame:
    """The fields of every record's text, plus ``PROBLEM`` for text that is not a JSON object.

    One decoding pass when every text is an object whose fields have the usual
    types; otherwise each field is matched on its own (a value of an odd type
    becomes its JSON text, to be judged later).
    """
    text = pl.col(_TEXT)
    try:
        return records.with_columns(*_fields(text.str.json_decode(_DECODED)))
    except pl.exceptions.PolarsError:
        pass
    whole = text.str.json_path_match("$")
    bad = (
        pl.when(text.is_null())
        .then(pl.col(PROBLEM))
        .when(whole.is_null())
        .then(pl.lit(_INVALID))
        .when(~whole.str.starts_with("{"))
        .then(pl.lit("json: not a JSON object"))
    )
    tags = text.str.json_path_match("$.tags")
    return records.with_columns(bad.alias(PROBLEM)).with_columns(
        *(text.str.json_path_match(f"$.{name}").alias(name) for name in _PATHS),
        tags.str.replace_all(r'^\[|\]$|"', "").str.replace_all(",", " ").alias("tags"),
        text.str.json_path_match("$.via.channel").alias("channel"),
        text.str.json_path_match("$.satisfaction_rating.score").alias("own_score"),
        text.str.json_path_match("$.metric_set.solved_at").alias("own_solved_at"),
    )


def _kind() -> pl.Expr:
    """What an object is, from its ``url`` (API objects name their endpoint) or else its fields."""
    url = pl.col("url").fill_null("")
    some = pl.any_horizontal
    return (
        pl.when(pl.col(PROBLEM).is_not_null())
        .then(pl.lit("bad"))
        .when(pl.col(_KIND) != "auto")
        .then(pl.col(_KIND))
        .when(url.str.contains("/ticket_metrics/", literal=True))
        .then(pl.lit("metric"))
        .when(url.str.contains("/satisfaction_ratings/", literal=True))
        .then(pl.lit("rating"))
        .when(url.str.contains("/users/", literal=True))
        .then(pl.lit("user"))
        .when(url.str.contains("/tickets/", literal=True))
        .then(pl.lit("ticket"))
        .when(pl.col("ticket_id").is_not_null())
        .then(pl.when(pl.col("score").is_not_null()).then(pl.lit("rating")).otherwise(pl.lit("metric")))
        .when(some(pl.col(c).is_not_null() for c in ("requester_id", "status", "subject", "own_score")))
        .then(pl.lit("ticket"))
        .when(some(pl.col(c).is_not_null() for c in ("email", "role")))
        .then(pl.lit("user"))
        .otherwise(pl.lit("unknown"))
    )


def read_json(path: Path) -> JsonRecords:
    """The records of a Zendesk JSON (or JSON lines) file, one frame per kind."""
    found = _records(path).with_columns(_kind().alias(_KIND), pl.lit(str(path)).alias(FILE))
    kind = pl.col(_KIND)
    primary = ~pl.col(SIDE)
    problem = pl.when(kind == "unknown").then(pl.lit(UNKNOWN)).when(kind == "bad").then(pl.col(PROBLEM)).alias(PROBLEM)
    tickets = found.filter((kind == "ticket") | (kind.is_in(["unknown", "bad"]) & primary)).select(
        FILE,
        LINE,
        problem,
        "id",
        "requester_id",
        "email",
        "name",
        "created_at",
        "updated_at",
        pl.col("own_solved_at").alias("solved_at"),
        "status",
        pl.col("own_score").alias("score"),
        "tags",
        "priority",
        "channel",
    )
    empty = pl.lit(None, dtype=pl.String).alias(PROBLEM)
    return JsonRecords(
        tickets=tickets.cast(TICKET_SCHEMA),
        metrics=found.filter(kind == "metric")
        .select(FILE, LINE, empty, SIDE, "ticket_id", "solved_at")
        .cast(METRIC_SCHEMA),
        ratings=found.filter(kind == "rating")
        .select(FILE, LINE, empty, SIDE, "ticket_id", "score")
        .cast(RATING_SCHEMA),
        users=found.filter(kind == "user")
        .select(FILE, LINE, empty, SIDE, "id", "email", "name", "created_at")
        .cast(USER_SCHEMA),
    )
