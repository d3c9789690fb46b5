"""Source ``ga4``: Google Analytics 4 BigQuery export tables (JSON lines or Parquet) -> events, and purchases -> orders.

One row of an ``events_YYYYMMDD`` (or ``events_intraday_YYYYMMDD``) table is
one event.  Read from it:

* ``event_timestamp``: microseconds since 1970 in UTC (an INT64, written as a
  string in JSON exports); ``event_date`` (``YYYYMMDD`` in the property's
  time zone) only checks it: an instant more than a day from its
  ``event_date`` is not in microseconds and is rejected;
* ``event_name``;
* the customer: ``user_id``, else ``user_pseudo_id`` (option ``identity``);
* ``event_params``: ``[{key, value: {string_value, int_value, float_value,
  double_value}}]``, each value read from whichever slot holds it; chosen
  parameters are kept as extra text columns (option ``params``);
* purchases (``event_name`` ``purchase`` with an ``ecommerce.transaction_id``)
  also give an order: ``ecommerce.purchase_revenue`` in the event's
  ``currency`` parameter (or ``purchase_revenue_in_usd`` in USD).

The same event read twice (a daily and an intraday table of one day, one file
given twice) is one event: the later copy is rejected, and so is a second
purchase with a transaction id already read.  ``docs/sources/ga4.md`` states
every policy and option.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from retainlib import _conform
from retainlib.errors import SourceError
from retainlib.tables import EVENTS, ORDERS, TIMESTAMP
from retainlib_analytics._events import KEY, Part, TablePlan
from retainlib_analytics._files import Text, damage_record, head_text, slices, text_of
from retainlib_analytics._jsonl import LINE, PROBLEM, TEXT, decode, lines
from retainlib_analytics._options import Ga4Options

__all__ = ["NAME", "SHAPE", "detect", "parts", "plans"]

NAME = "ga4"
_S = pl.String()
_VALUE = pl.Struct({"string_value": _S, "int_value": _S, "float_value": _S, "double_value": _S})
#: The fields read from each exported row (every value as text, as JSON exports write INT64s).
SHAPE = pl.Struct(
    {
        "event_date": _S,
        "event_timestamp": _S,
        "event_name": _S,
        "event_params": pl.List(pl.Struct({"key": _S, "value": _VALUE})),
        "event_bundle_sequence_id": _S,
        "batch_event_index": _S,
        "user_id": _S,
        "user_pseudo_id": _S,
        "stream_id": _S,
        "ecommerce": pl.Struct({"transaction_id": _S, "purchase_revenue": _S, "purchase_revenue_in_usd": _S}),
    }
)
#: ``event_params`` as a BigQuery Parquet export types it: read as it is, never written out as text.
TYPED_PARAMS = pl.List(
    pl.Struct(
        {
            "key": _S,
            "value": pl.Struct(
                {"string_value": _S, "int_value": pl.Int64, "float_value": pl.Float64, "double_value": pl.Float64}
            ),
        }
    )
)
_SLOTS = ("string_value", "int_value", "double_value", "float_value")  # the order a parameter's value is read in
#: Placeholder GA4 writes for a value it did not collect.
NOT_SET = "(not set)"
#: The valid range of event_timestamp: 0001-01-01 .. 9999-12-31 in microseconds since 1970.
_FIRST_US, _END_US = -62_135_596_800_000_000, 253_402_300_800_000_000
_NUMBER = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
#: Why an event whose instant is more than a day from its event_date is rejected.
FAR_FROM_DATE = (
    "event_timestamp: more than a day from event_date (event_timestamp counts microseconds since 1970; "
    "a value in milliseconds lands in 1970)"
)
_PURCHASE = "_purchase"
_OKEY = "_order_key"
_JSON_MARKS = re.compile(r'"event_timestamp"\s*:.*"(user_pseudo_id|event_params|event_bundle_sequence_id)"\s*:', re.S)


def detect(path: Path, head: bytes) -> int:
    """90 for a GA4 BigQuery export (JSON lines, gzipped or not, or Parquet), else 0."""
    if head.startswith(b"PAR1"):
        try:
            names = set(pl.read_parquet_schema(path))
        except (pl.exceptions.PolarsError, OSError, ValueError):
            return 0
        return 90 if {"event_timestamp", "event_name"} <= names and names & {"user_pseudo_id", "event_params"} else 0
    return 90 if _JSON_MARKS.search(head_text(head)[:65536]) else 0


def _clean(text: pl.Expr) -> pl.Expr:
    """Stripped text; blank and GA4's ``(not set)`` are null."""
    s = text.str.strip_chars()
    return pl.when((s != "") & (s != NOT_SET)).then(s)


def _param(key: str, params: pl.Expr | None = None) -> pl.Expr:
    """The value of event parameter ``key`` as text, from whichever slot holds it (null when absent).

    ``params`` (``event_params`` unless given) holds text (JSON exports) or typed slots (:data:`TYPED_PARAMS`):
    a typed value is written as text here, for this parameter only.
    """
    value = (
        (pl.col("event_params") if params is None else params)
        .list.eval(pl.element().filter(pl.element().struct.field("key") == key).struct.field("value"))
        .list.first()
    )
    return pl.coalesce(*(value.struct.field(slot).cast(pl.String) for slot in _SLOTS))


def _text_of(name: str, dtype: object, want: object, expr: pl.Expr, path: Path) -> pl.Expr:
    """A Parquet column shaped as :data:`SHAPE` has it (every leaf as text); a column of another shape is refused."""
    if isinstance(want, pl.Struct):
        if not isinstance(dtype, pl.Struct):
            raise SourceError(f"not a GA4 export: column {name} is {dtype}, not a record", file=path, source=NAME)
        have = dtype.to_schema()
        return pl.struct(
            *(
                (
                    _text_of(f"{name}.{f}", have[f], inner, expr.struct.field(f), path)
                    if f in have
                    else pl.lit(None, dtype=inner)
                ).alias(f)
                for f, inner in want.to_schema().items()
            )
        )
    if isinstance(want, pl.List):
        if not isinstance(dtype, pl.List | pl.Array):
            raise SourceError(
                f"not a GA4 export: column {name} is {dtype}, not a repeated field", file=path, source=NAME
            )
        inner = _text_of(name, dtype.inner, want.inner, pl.element(), path)
        return expr.list.eval(inner) if isinstance(dtype, pl.List) else expr.arr.to_list().list.eval(inner)
    if isinstance(dtype, pl.Struct | pl.List | pl.Array):
        raise SourceError(f"not a GA4 export: column {name} is {dtype}, not a value", file=path, source=NAME)
    return expr.cast(pl.String)


def _column(name: str, dtype: pl.DataType, path: Path) -> pl.Expr:
    """A Parquet column as the source reads it: typed as BigQuery types it when it is, else as text."""
    if name == "event_timestamp" and dtype.is_integer():
        return pl.col(name).cast(pl.Int64)
    if name == "event_params" and dtype == TYPED_PARAMS:
        return pl.col(name)
    return _text_of(name, dtype, SHAPE.to_schema()[name], pl.col(name), path)


def _parquet(path: Path) -> tuple[pl.LazyFrame, pl.Schema]:
    """A GA4 Parquet export's rows, each with its 1-based position as ``LINE``, and the columns kept typed.

    Every field of :data:`SHAPE`; ``event_timestamp`` (an integer column, as Int64) and ``event_params``
    (when :data:`TYPED_PARAMS`) are kept typed, the other columns as text.
    """
    try:
        frame = pl.scan_parquet(path)
        schema = frame.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise SourceError(f"not a readable Parquet file: {exc}", file=path, source=NAME) from None
    missing = [c for c in ("event_timestamp", "event_name") if c not in schema]
    if missing or not ({"user_id", "user_pseudo_id"} & set(schema)):
        lacks = missing or ["user_id or user_pseudo_id"]
        raise SourceError(f"not a GA4 export: no column {', '.join(lacks)}", file=path, source=NAME)
    fields = [
        (_column(n, schema[n], path) if n in schema else pl.lit(None, dtype=t)).alias(n)
        for n, t in SHAPE.to_schema().items()
    ]
    typed = pl.Schema(
        [("event_timestamp", pl.Int64())] * schema["event_timestamp"].is_integer()
        + [("event_params", TYPED_PARAMS)] * (schema.get("event_params") == TYPED_PARAMS)
    )
    rows = frame.with_row_index(LINE, offset=1).select(
        pl.col(LINE).cast(pl.Int64), pl.lit(None, dtype=pl.String).alias(PROBLEM), *fields
    )
    return rows, typed


def _json(text: Text, *, fast: bool = False) -> pl.LazyFrame:
    """A GA4 JSON lines export's rows as :data:`SHAPE`'s fields, with ``PROBLEM`` for unreadable lines."""
    return lines(text.source, text.span).select(LINE, decode(pl.col(TEXT), SHAPE, fast=fast).alias("_d")).unnest("_d")


def _params_hash(typed: bool) -> pl.Expr:
    """The 64-bit hash of ``event_params`` that tells the events of one batch apart; equal for equal parameters
    read from JSON lines and from Parquet.

    Typed parameters (:data:`TYPED_PARAMS`) are hashed as they are.  Text parameters are hashed as the typed
    ones they stand for when every number in them reads back as the same text (``"5"``, ``"9.99"``), else as
    text: two events whose numbers are written differently (``"9.5"``, ``"9.50"``) stay two events.
    """
    params = pl.col("event_params")
    if typed:
        return params.hash()
    item, value = pl.element(), pl.element().struct.field("value")
    numbers = {
        slot: value.struct.field(slot).cast(kind, strict=False)
        for slot, kind in (("int_value", pl.Int64), ("float_value", pl.Float64), ("double_value", pl.Float64))
    }
    slots = [value.struct.field("string_value"), *(n.alias(slot) for slot, n in numbers.items())]
    as_typed = params.list.eval(
        pl.when(item.is_not_null()).then(
            pl.struct(item.struct.field("key"), pl.when(value.is_not_null()).then(pl.struct(slots)).alias("value"))
        )
    )
    same = pl.all_horizontal(
        (value.struct.field(slot).is_null() | (n.cast(pl.String) == value.struct.field(slot))).fill_null(False)
        for slot, n in numbers.items()
    )
    exact = params.list.eval(same | item.is_null() | value.is_null()).list.all()
    return pl.when(exact.fill_null(True)).then(as_typed.hash()).otherwise(params.hash())


#: Whether an event's key is kept as its 128-bit digest (two 64-bit hashes of its fields, seeded apart) rather
#: than as the record of its fields: 16 bytes an event instead of about 110, the same duplicates (tested).
DIGEST = True


def _digest(key: pl.Expr) -> pl.Expr:
    """The key an event is compared on: its fields' 128-bit digest (:data:`DIGEST`), or the fields themselves.

    Two events with the same fields have the same digest; two with different fields share one with a chance
    of about 1 in 2^128 (a billion events: 1 in 10^20), against the 64-bit hash their parameters are already
    compared through.
    """
    if not DIGEST:
        return key
    return pl.struct(key.hash(seed=1).alias("a"), key.hash(seed=2).alias("b"))


def _reasons(*reasons: pl.Expr) -> pl.Expr:
    """The reasons that apply, joined with ``"; "``; null when none does."""
    joined = pl.concat_str(list(reasons), separator="; ", ignore_nulls=True)
    return pl.when(joined != "").then(joined)


def _candidates(frame: pl.LazyFrame, options: Ga4Options, *, typed: pl.Schema | None = None) -> pl.LazyFrame:
    """The canonical columns of every row, the parameters kept, the keys, and why a row is not an event.

    ``typed`` names the columns ``frame`` holds typed (see :func:`_parquet`); the others are text.
    """
    # the ids cleaned once (stage 1), read by the customer and by the key (stage 2)
    user_id, pseudo = pl.col("_user"), pl.col("_pseudo")
    customer = {"fallback": pl.coalesce(user_id, pseudo), "user_id": user_id, "pseudo": pseudo}[options.identity]
    missing_customer = {
        "fallback": "user_pseudo_id: neither a user_id nor a user_pseudo_id",
        "user_id": "user_id: missing (identity='user_id' reads only events of signed-in users)",
        "pseudo": "user_pseudo_id: missing",
    }[options.identity]
    typed = typed or pl.Schema()
    if typed.get("event_timestamp") == pl.Int64:  # Parquet: an integer column, read as it is
        micros = pl.col("event_timestamp")
        missing, whole = micros.is_null(), pl.lit(True)
    else:  # JSON lines: text
        stamp = pl.col("event_timestamp").str.strip_chars()
        micros = stamp.cast(pl.Int64, strict=False)
        missing, whole = stamp.is_null() | (stamp == ""), micros.is_not_null()
    in_range = (micros >= _FIRST_US) & (micros < _END_US)
    day = pl.col("event_date").str.strip_chars()
    transaction = _clean(pl.col("ecommerce").struct.field("transaction_id"))
    purchase, params = pl.col("event_name").str.strip_chars() == "purchase", pl.col("event_params")
    # Stage 1: each field read once; stage 2: the reasons and the keys from those columns.
    fields = frame.select(
        LINE,
        PROBLEM,
        _clean(pl.col("user_id")).alias("_user"),
        _clean(pl.col("user_pseudo_id")).alias("_pseudo"),
        _clean(pl.col("event_name")).alias("event"),
        missing.alias("_missing"),
        pl.when(in_range).then(micros).alias("_us"),
        whole.alias("_whole"),
        day.alias("_day"),
        day.str.to_date("%Y%m%d", strict=False).alias("_date"),
        *(_param(p).alias(p) for p in options.params),
        pl.col("stream_id").fill_null("").alias("_k_stream"),
        micros.alias("_k_us"),
        pl.col("event_bundle_sequence_id").fill_null("").alias("_k_bundle"),
        pl.col("batch_event_index").fill_null("").alias("_k_index"),
        # events of one batch can share their timestamp (and, in older exports, everything else but
        # their parameters): the parameters tell them apart, compared through their 64-bit hash (writing
        # them out as text costs four times more; two such events colliding is a chance of 1 in 2^64)
        _params_hash(typed.get("event_params") == TYPED_PARAMS).alias("_k_params"),
        transaction.alias("_o_order_id"),
        # what orders read (from purchases only: the order values cost nothing for the other events)
        pl.col("ecommerce").alias("_o_ecommerce"),
        # the parameters of purchases only (the other events' cut to nothing, at little cost): orders look for
        # the currency among them (looking into every event's parameters would cost more than reading them)
        params.list.head(pl.when(purchase).then(params.list.len()).otherwise(0)).alias("_o_params"),
    )
    event, customer_col, us = pl.col("event"), pl.col("customer_id"), pl.col("_us")
    # the fields that make an event, as a record (comparing records costs less than writing them out as text)
    key_fields = pl.struct(
        pl.col("_k_stream").alias("stream"),
        pseudo.fill_null("").alias("pseudo"),
        user_id.fill_null("").alias("user"),
        pl.col("_k_us").alias("us"),
        pl.col("_k_bundle").alias("bundle"),
        pl.col("_k_index").alias("index"),
        pl.col("_k_params").alias("params"),
        event.alias("event"),
    )
    when = pl.from_epoch(us, time_unit="us").dt.replace_time_zone("UTC").cast(TIMESTAMP)
    far = (when.dt.date() - pl.col("_date")).dt.total_days().abs() > 1
    problem = pl.coalesce(
        pl.col(PROBLEM),
        _reasons(
            pl.when(event.is_null()).then(pl.lit("event_name: missing")),
            pl.when(pl.col("_missing"))
            .then(pl.lit("event_timestamp: missing"))
            .when(~pl.col("_whole"))
            .then(pl.lit("event_timestamp: not a whole number (microseconds since 1970)"))
            .when(us.is_null())
            .then(pl.lit("event_timestamp: out of range (years 1 to 9999)")),
            pl.when(pl.col("_day").is_not_null() & (pl.col("_day") != "") & pl.col("_date").is_null())
            .then(pl.lit("event_date: not a YYYYMMDD date"))
            .when(far.fill_null(False))
            .then(pl.lit(FAR_FROM_DATE)),
            pl.when(customer_col.is_null()).then(pl.lit(missing_customer)),
            pl.when(customer_col.str.contains("\ufffd", literal=True)).then(
                pl.lit("customer_id: holds U+FFFD, the mark of bytes that are not UTF-8")
            ),
            pl.when(event.str.contains("\ufffd", literal=True)).then(
                pl.lit("event_name: holds U+FFFD, the mark of bytes that are not UTF-8")
            ),
        ),
    )
    return fields.with_columns(customer.alias("customer_id")).select(
        LINE,
        problem.alias(PROBLEM),
        "customer_id",
        when.alias("occurred_at"),
        "event",
        *options.params,
        _digest(key_fields).alias(KEY),
        ((event == "purchase") & pl.col("_o_order_id").is_not_null()).fill_null(False).alias(_PURCHASE),
        "_o_order_id",
        "_o_ecommerce",
        "_o_params",
    )


def _order_values(options: Ga4Options) -> list[pl.Expr]:
    """An order's amount (Float64: BigQuery FLOAT64, rounded by the core), currency and why it is not an order."""
    field = "purchase_revenue_in_usd" if options.revenue == "usd" else "purchase_revenue"
    text = pl.col("_o_ecommerce").struct.field(field).str.strip_chars()
    number = pl.when(text.str.contains(_NUMBER)).then(text.cast(pl.Float64, strict=False))
    given = _clean(pl.col("_o_currency")) if options.revenue == "local" else pl.lit("USD")
    currency = pl.coalesce(given, pl.lit(options.currency, dtype=pl.String))
    why = _reasons(
        pl.when(text.is_null() | (text == ""))
        .then(pl.lit(f"amount: the purchase has no ecommerce.{field}"))
        .when(number.is_null())
        .then(pl.format("amount: ecommerce.{} is not a number", pl.lit(field)))
        .when(number < 0)
        .then(pl.lit(f"amount: {_conform.NEGATIVE_AMOUNT}")),
        pl.when(currency.is_null()).then(
            pl.lit("currency: the purchase has no 'currency' event parameter (pass currency='EUR' or another code)")
        ),
    )
    return [number.alias("_o_amount"), currency.alias("_o_currency"), why.alias("_order_problem")]


def _orders(decoded: pl.LazyFrame, options: Ga4Options) -> pl.LazyFrame:
    """The purchases that are order candidates, with why each is not an order (the event's reason first).

    Their amount and currency are read here, from the purchases only: looking into the parameters of every
    event would cost more than reading the events.
    """
    return (
        decoded.filter(pl.col(_PURCHASE))
        .with_columns(_param("currency", pl.col("_o_params")).alias("_o_currency"))
        .with_columns(_order_values(options))
        .select(
            LINE,
            pl.coalesce(PROBLEM, "_order_problem").alias(PROBLEM),
            pl.col("_o_order_id").alias("order_id"),
            "customer_id",
            pl.col("occurred_at").alias("ordered_at"),
            pl.col("_o_amount").alias("amount"),
            pl.col("_o_currency").alias("currency"),
            pl.col("_o_order_id").alias(_OKEY),
        )
    )


def plans(options: Ga4Options) -> list[TablePlan]:
    """The events and orders a GA4 read makes."""
    columns = (*EVENTS.schema.names(), *options.params)
    return [
        TablePlan(
            spec=EVENTS,
            columns=columns,
            keys=(
                (
                    KEY,
                    "event: duplicate event (the same event was read earlier: a daily and an intraday table, "
                    "or one file read twice)",
                ),
            ),
        ),
        TablePlan(
            spec=ORDERS,
            columns=tuple(ORDERS.schema.names()),
            keys=((_OKEY, "order_id: duplicate transaction_id (an earlier purchase event has it)"),),
            select=lambda decoded: _orders(decoded, options),
        ),
    ]


def parts(paths: list[Path], heads: list[bytes], options: Ga4Options, slice_rows: int | None = None) -> Iterator[Part]:
    """One part per file: Parquet scanned, JSON lines (plain or gzipped) decoded, each lazily (``slice_rows``:
    a file of JSON lines in parts of that many lines)."""
    for path, first in zip(paths, heads, strict=True):
        if first.startswith(b"PAR1"):
            rows, typed = _parquet(path)
            yield Part(name=str(path), file=str(path), records=_candidates(rows, options, typed=typed))
            continue
        whole = text_of(path, first, NAME, "a GA4 BigQuery export (JSON lines)")
        for text in slices(whole, slice_rows):
            damaged = damage_record(str(path), text)
            yield Part(
                name=str(path),
                file=str(path),
                records=_candidates(_json(text, fast=True), options),
                careful=_candidates(_json(text), options),
                extra_rejects=damaged,
                extra_read=damaged.height,
                span=text.span,
            )
