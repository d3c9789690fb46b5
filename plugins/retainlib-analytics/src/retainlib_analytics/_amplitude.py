"""Source ``amplitude``: Amplitude Export API archives (a zip of hourly gzipped JSON lines) -> events.

The Export API answers with a zip archive holding, per hour, one or more
gzipped JSON-lines files (``<project>/<project>_<YYYY-MM-DD>_<H>#<n>.json.gz``).
The archive is read in memory, member by member, in the archive's order:
nothing is extracted to disk.  Members are read together, about
:data:`CHUNK_BYTES` of text at a time, their lines one after the other; a
rejected event is still named by its member and its own line.  A member saved on its own (``.json.gz``) or
decompressed (JSON lines) is read too.  Read from each event:

* ``event_type``: the event's name (``$identify`` and ``$groupidentify`` are
  user- and group-property updates, not events: rejected as such);
* ``event_time``: UTC, written without a zone (``2024-03-01 10:00:00.123456``);
* the customer: ``user_id``, else ``device_id`` (option ``identity``; or
  Amplitude's ``amplitude_id``);
* ``session_id``: the session's start in milliseconds, ``-1`` for an event
  outside any session (kept as the extra column ``session_id``, null then);
* ``uuid`` and ``$insert_id``: an event whose ``uuid``, or whose
  ``$insert_id``, an earlier event of the read holds is a duplicate (the same
  hour exported twice, a client retry): rejected.

``docs/sources/amplitude.md`` states every policy and option.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import polars as pl

from retainlib.tables import EVENTS, TIMESTAMP
from retainlib_analytics._events import Members, Part, TablePlan
from retainlib_analytics._files import (
    Text,
    damage_record,
    head_text,
    is_zip,
    slices,
    text_of,
    zip_members,
    zip_sizes,
)
from retainlib_analytics._jsonl import LINE, PROBLEM, TEXT, Span, decode, lines, path_match
from retainlib_analytics._options import AmplitudeOptions

__all__ = ["CHUNK_BYTES", "NAME", "NOT_EVENTS", "SHAPE", "detect", "empty_input", "member_groups", "parts", "plans"]

NAME = "amplitude"
_S = pl.String()
#: The fields read from each event.
SHAPE = pl.Struct(
    {
        "event_type": _S,
        "event_time": _S,
        "user_id": _S,
        "device_id": _S,
        "amplitude_id": _S,
        "session_id": _S,
        "uuid": _S,
        "$insert_id": _S,
    }
)
#: Event types that are property updates, not events.
NOT_EVENTS = ("$identify", "$groupidentify")
_UUID, _INSERT = "_uuid", "_insert_id"
_MARKS = re.compile(r'"event_type"\s*:.*"(amplitude_id|event_time|device_id)"\s*:', re.S)
_MEMBER = re.compile(rb"\.json(\.gz)?$|\.gz$")
#: An archive's members are read together until their text holds this many bytes (one input: one pass).
CHUNK_BYTES = 64 * 2**20


def detect(path: Path, head: bytes) -> int:
    """90 for an Amplitude export: a zip of ``.json.gz`` members, one such member, or its JSON lines; else 0."""
    del path  # recognised by content
    if is_zip(head):
        # the first local header: the member's name starts at byte 30, its length at bytes 26-27
        size = int.from_bytes(head[26:28], "little") if len(head) >= 30 else 0
        name = head[30 : 30 + size]
        # the first member may be the project's folder: the members after it follow at once
        return 90 if _MEMBER.search(name) or (name.endswith(b"/") and b".json" in head) else 0
    return 90 if _MARKS.search(head_text(head)[:65536]) else 0


def _clean(text: pl.Expr) -> pl.Expr:
    s = text.str.strip_chars()
    return pl.when(s != "").then(s)


def _reasons(*reasons: pl.Expr) -> pl.Expr:
    joined = pl.concat_str(list(reasons), separator="; ", ignore_nulls=True)
    return pl.when(joined != "").then(joined)


def event_time(text: pl.Expr) -> pl.Expr:
    """Amplitude's ``2024-03-01 10:00:00.123456`` (UTC, no zone) as an instant; the ISO form with ``T``/``Z`` too."""
    s = text.str.strip_chars().str.replace(r"^(\d{4}-\d\d-\d\d)T", "${1} ").str.replace(r"(?i)(z|\+00:?00)$", "")
    return s.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", strict=False, time_unit="us", time_zone="UTC")


def _candidates(frame: pl.LazyFrame, options: AmplitudeOptions) -> pl.LazyFrame:
    user_id, device_id = _clean(pl.col("user_id")), _clean(pl.col("device_id"))
    customer = {
        "fallback": pl.coalesce(user_id, device_id),
        "user_id": user_id,
        "amplitude_id": _clean(pl.col("amplitude_id")),
    }[options.identity]
    missing_customer = {
        "fallback": "device_id: neither a user_id nor a device_id",
        "user_id": "user_id: missing (identity='user_id' reads only events of identified users)",
        "amplitude_id": "amplitude_id: missing",
    }[options.identity]
    # Stage 1: each field read once; stage 2: the reasons from those columns.
    fields = frame.select(
        LINE,
        PROBLEM,
        customer.alias("customer_id"),
        event_time(pl.col("event_time")).cast(TIMESTAMP).alias("occurred_at"),
        _clean(pl.col("event_type")).alias("event"),
        pl.col("event_time").str.strip_chars().alias("_time"),
        _clean(pl.col("session_id")).alias("_session"),
        *(path_match(pl.col(TEXT), "event_properties", p).alias(p) for p in options.properties),
        _clean(pl.col("uuid")).alias(_UUID),
        _clean(pl.col("$insert_id")).alias(_INSERT),
    ).with_columns(pl.col("_session").cast(pl.Int64, strict=False).alias("session_id"))
    event, customer_col, session = pl.col("event"), pl.col("customer_id"), pl.col("session_id")
    problem = pl.coalesce(
        pl.col(PROBLEM),
        _reasons(
            pl.when(event.is_null())
            .then(pl.lit("event_type: missing"))
            .when(event.is_in(list(NOT_EVENTS)))
            .then(pl.format("event_type: {} is a property update, not an event", event)),
            pl.when(pl.col("_time").is_null() | (pl.col("_time") == ""))
            .then(pl.lit("event_time: missing"))
            .when(pl.col("occurred_at").is_null())
            .then(pl.lit("event_time: not a time such as 2024-03-01 10:00:00.123456 (UTC)")),
            pl.when(customer_col.is_null()).then(pl.lit(missing_customer)),
            pl.when(pl.col("_session").is_not_null() & session.is_null()).then(
                pl.lit("session_id: not a whole number")
            ),
            pl.when(customer_col.str.contains("\ufffd", literal=True)).then(
                pl.lit("customer_id: holds U+FFFD, the mark of bytes that are not UTF-8")
            ),
            pl.when(event.str.contains("\ufffd", literal=True)).then(
                pl.lit("event_type: holds U+FFFD, the mark of bytes that are not UTF-8")
            ),
        ),
    )
    return fields.select(
        LINE,
        problem.alias(PROBLEM),
        "customer_id",
        "occurred_at",
        "event",
        pl.when(session != -1).then(session).alias("session_id"),
        *options.properties,
        _UUID,
        _INSERT,
    )


def plans(options: AmplitudeOptions) -> list[TablePlan]:
    """The events an Amplitude read makes."""
    return [
        TablePlan(
            spec=EVENTS,
            columns=(*EVENTS.schema.names(), "session_id", *options.properties),
            keys=(
                (_UUID, "event: duplicate event (the same uuid as an earlier event)"),
                (_INSERT, "event: duplicate event (the same $insert_id as an earlier event)"),
            ),
        )
    ]


def _frame(source: Path | bytes, span: Span | None = None, *, fast: bool = False) -> pl.LazyFrame:
    return lines(source, span).with_columns(decode(pl.col(TEXT), SHAPE, fast=fast).alias("_d")).unnest("_d")


def parts(
    paths: list[Path], heads: list[bytes], options: AmplitudeOptions, slice_rows: int | None = None
) -> Iterator[Part]:
    """One part per archive member (or per file of JSON lines), decoded lazily, in order (``slice_rows``: a
    file of JSON lines in parts of that many lines; an archive is streamed in groups of members instead)."""
    what = "an Amplitude export (a zip archive of gzipped JSON lines, one such member, or JSON lines)"
    for path, first in zip(paths, heads, strict=True):
        if is_zip(first):
            yield from _archive(path, options)
            continue
        whole = text_of(path, first, NAME, what)
        for text in slices(whole, slice_rows):
            damaged = damage_record(str(path), text)
            yield Part(
                name=str(path),
                file=str(path),
                records=_candidates(_frame(text.source, text.span, fast=True), options),
                careful=_candidates(_frame(text.source, text.span), options),
                extra_rejects=damaged,
                extra_read=damaged.height,
                span=text.span,
            )


#: A streamed archive is planned in groups of members holding about this many stored (compressed) bytes: one
#: streaming pass each (about 0.5 GB of JSON lines at Amplitude's usual compression), so that memory stays bounded.
GROUP_BYTES = 32 * 2**20


def member_groups(path: Path, options: AmplitudeOptions) -> list[Callable[[], Iterator[Part]]]:
    """The archive's members in groups of about :data:`GROUP_BYTES` stored bytes, each read when called."""
    groups: list[range] = []
    start = held = 0
    sizes = zip_sizes(path, NAME)
    for number, size in enumerate(sizes):
        held += size
        if held >= GROUP_BYTES:
            groups.append(range(start, number + 1))
            start, held = number + 1, 0
    if start < len(sizes) or not groups:
        groups.append(range(start, len(sizes)))
    return [partial(_archive, path, options, group) for group in groups]


def _archive(path: Path, options: AmplitudeOptions, only: range | None = None) -> Iterator[Part]:
    """An archive's members, in order, as inputs of about :data:`CHUNK_BYTES` of text each.

    The members' lines are read one after the other (each member ending its
    last line); :class:`~retainlib_analytics._events.Members` says where each
    starts, so that a rejected record is named by its member and its own line.
    """
    texts: list[bytes] = []
    starts: list[int] = []
    names: list[str] = []
    damaged: list[pl.DataFrame] = []
    held = lines_before = 0
    for member, text in zip_members(path, NAME, only):
        name = f"{path}!{member}"
        assert isinstance(text.source, bytes)  # members are read in memory
        data = text.source.removeprefix(b"\xef\xbb\xbf")
        if data and not data.endswith(b"\n"):
            data += b"\n"
        texts.append(data)
        starts.append(lines_before)
        names.append(name)
        damaged.append(damage_record(name, text))
        lines_before += data.count(b"\n")
        held += len(data)
        if held >= CHUNK_BYTES:
            yield _chunk(path, texts, starts, names, damaged, options)
            texts, starts, names, damaged = [], [], [], []
            held = lines_before = 0
    if names:
        yield _chunk(path, texts, starts, names, damaged, options)


def empty_input(path: Path, options: AmplitudeOptions) -> Part:
    """An input of an archive without any line: its plans give the columns of the archive's inputs."""
    none = damage_record(str(path), Text(b""))
    return _chunk(path, [b""], [0], [str(path)], [none], options)


def _chunk(
    path: Path,
    texts: list[bytes],
    starts: list[int],
    names: list[str],
    damaged: list[pl.DataFrame],
    options: AmplitudeOptions,
) -> Part:
    bad = pl.concat(damaged)
    text = b"".join(texts)
    return Part(
        name=names[0],
        file=str(path),
        records=_candidates(_frame(text, fast=True), options),
        careful=_candidates(_frame(text), options),
        extra_rejects=bad,
        extra_read=bad.height,
        members=Members(pl.Series(starts, dtype=pl.Int64), pl.Series(names, dtype=pl.String)),
    )
