"""Source ``mixpanel``: Mixpanel raw event exports (JSON lines, plain or gzipped) -> events.

Each line is ``{"event": NAME, "properties": {"time": ..., "distinct_id":
..., "$insert_id": ..., ...}}``, as the raw export API returns it (and as
the import API takes it).  Read from it:

* ``event``: the event's name;
* ``properties.distinct_id``: the customer;
* ``properties.time``: the instant, in seconds since 1970 or, with
  ``time_in_ms`` (and in imports), milliseconds.  Told apart by magnitude
  (option ``time_unit``): a value below 10^11 is seconds (10^11 seconds is in
  the year 5138), one from 10^11 on is milliseconds (10^11 ms is 1973-03-03);
  fractions are kept to the microsecond;
* ``properties.$insert_id``: two events with the same name, customer, second
  and ``$insert_id`` are one event (Mixpanel's own rule): the later copy is
  rejected as a duplicate;
* chosen properties as extra text columns (option ``properties``).

``docs/sources/mixpanel.md`` states every policy and option.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from retainlib.tables import EVENTS, TIMESTAMP
from retainlib_analytics._events import KEY, Part, TablePlan
from retainlib_analytics._files import damage_record, head_text, slices, text_of
from retainlib_analytics._jsonl import LINE, PROBLEM, TEXT, decode, lines, path_match
from retainlib_analytics._options import MixpanelOptions

__all__ = ["MS_FROM", "NAME", "SHAPE", "detect", "parts", "plans"]

NAME = "mixpanel"
_S = pl.String()
#: The fields read from each line.
SHAPE = pl.Struct({"event": _S, "properties": pl.Struct({"time": _S, "distinct_id": _S, "$insert_id": _S})})
#: A ``time`` from this value on is in milliseconds (with ``time_unit='auto'``); below it, in seconds.
MS_FROM = 10**11
_END_US = 253_402_300_800_000_000  # 10000-01-01 in microseconds since 1970
_MARKS = re.compile(r'^\s*\{\s*"event"\s*:.*"properties"\s*:\s*\{.*"(distinct_id|time|\$insert_id)"\s*:', re.M)


def detect(path: Path, head: bytes) -> int:
    """90 for Mixpanel's event JSON lines (``{"event": ..., "properties": {..."distinct_id"...}}``), else 0."""
    del path  # recognised by content
    return 90 if _MARKS.search(head_text(head)[:65536]) else 0


def _clean(text: pl.Expr) -> pl.Expr:
    s = text.str.strip_chars()
    return pl.when(s != "").then(s)


def _reasons(*reasons: pl.Expr) -> pl.Expr:
    joined = pl.concat_str(list(reasons), separator="; ", ignore_nulls=True)
    return pl.when(joined != "").then(joined)


def micros(time: pl.Expr, unit: str) -> tuple[pl.Expr, pl.Expr]:
    """``properties.time`` (text) as a number, and as microseconds since 1970 (Int64) when in range.

    ``unit``: ``"s"``, ``"ms"`` or ``"auto"`` (milliseconds from :data:`MS_FROM`).  The number is null
    when the text is not a finite number; the microseconds are null too when the instant is not after
    1970-01-01 and before the year 10000.  Whole numbers (the usual case) are read exactly; others as
    binary floats, rounded to the microsecond.
    """
    text = time.str.strip_chars()
    whole = text.cast(pl.Int64, strict=False)
    real = text.cast(pl.Float64, strict=False)
    number = pl.coalesce(whole.cast(pl.Float64), pl.when(real.is_finite()).then(real))
    seconds = {"s": pl.lit(True), "ms": pl.lit(False)}.get(unit, number < MS_FROM)
    value = number * pl.when(seconds).then(1e6).otherwise(1e3)
    in_range = (value > 0) & (value < _END_US)
    exact = whole * pl.when(seconds).then(1_000_000).otherwise(1_000)
    return number, pl.when(in_range).then(pl.coalesce(exact, value.round(0).cast(pl.Int64, strict=False)))


def _candidates(frame: pl.LazyFrame, options: MixpanelOptions) -> pl.LazyFrame:
    props = pl.col("properties")
    raw_time = props.struct.field("time")
    number, us = micros(raw_time, options.time_unit)
    # Stage 1: each field read once; stage 2: the reasons and the key from those columns.
    fields = frame.select(
        LINE,
        PROBLEM,
        _clean(pl.col("event")).alias("event"),
        _clean(props.struct.field("distinct_id")).alias("customer_id"),
        raw_time.str.strip_chars().alias("_time"),
        number.alias("_number"),
        us.alias("_us"),
        _clean(props.struct.field("$insert_id")).alias("_insert_id"),
        *(path_match(pl.col(TEXT), "properties", p).alias(p) for p in options.properties),
    )
    event, customer, us_col = pl.col("event"), pl.col("customer_id"), pl.col("_us")
    problem = pl.coalesce(
        pl.col(PROBLEM),
        _reasons(
            pl.when(event.is_null()).then(pl.lit("event: missing")),
            pl.when(customer.is_null()).then(pl.lit("distinct_id: missing")),
            pl.when(pl.col("_time").is_null() | (pl.col("_time") == ""))
            .then(pl.lit("time: missing"))
            .when(pl.col("_number").is_null())
            .then(pl.lit("time: not a number of seconds (or milliseconds) since 1970"))
            .when(us_col.is_null())
            .then(pl.lit("time: out of range (after 1970-01-01, before the year 10000)")),
            pl.when(customer.str.contains("\ufffd", literal=True)).then(
                pl.lit("distinct_id: holds U+FFFD, the mark of bytes that are not UTF-8")
            ),
            pl.when(event.str.contains("\ufffd", literal=True)).then(
                pl.lit("event: holds U+FFFD, the mark of bytes that are not UTF-8")
            ),
        ),
    )
    key = pl.concat_str(
        [event, customer, (us_col // 1_000_000).cast(pl.String), pl.col("_insert_id")], separator="\x1f"
    )
    return fields.select(
        LINE,
        problem.alias(PROBLEM),
        "customer_id",
        pl.from_epoch(us_col, time_unit="us").dt.replace_time_zone("UTC").cast(TIMESTAMP).alias("occurred_at"),
        "event",
        *options.properties,
        key.alias(KEY),
    )


def plans(options: MixpanelOptions) -> list[TablePlan]:
    """The events a Mixpanel read makes."""
    return [
        TablePlan(
            spec=EVENTS,
            columns=(*EVENTS.schema.names(), *options.properties),
            keys=((KEY, "event: duplicate event (the same event, customer, second and $insert_id as an earlier one)"),),
        )
    ]


def parts(
    paths: list[Path], heads: list[bytes], options: MixpanelOptions, slice_rows: int | None = None
) -> Iterator[Part]:
    """One part per file, decoded lazily (``slice_rows``: one per slice of that many lines of a file)."""
    for path, first in zip(paths, heads, strict=True):
        whole = text_of(path, first, NAME, "a Mixpanel raw export (JSON lines)")
        for text in slices(whole, slice_rows):
            frames = [
                lines(text.source, text.span).with_columns(decode(pl.col(TEXT), SHAPE, fast=f).alias("_d")).unnest("_d")
                for f in (True, False)
            ]
            damaged = damage_record(str(path), text)
            yield Part(
                name=str(path),
                file=str(path),
                records=_candidates(frames[0], options),
                careful=_candidates(frames[1], options),
                extra_rejects=damaged,
                extra_read=damaged.height,
                span=text.span,
            )
