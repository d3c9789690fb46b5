"""Generated exports of the Shopify, Mixpanel, GA4 and Amplitude sources for ``bench_read.py``, and polars reading them.

* ``shopify``: the synthetic store's orders written as a Shopify admin orders
  export (``retainlib._exports.shopify``: one row per line item, order fields
  on the first line, times in the shop's zone with their offset), about one
  line per order and a quarter of the orders over two lines; polars reads every
  column as text and parses ``Created at`` and ``Total``.
* ``mixpanel``: a raw export, one JSON object per line (``event``,
  ``properties.time`` in seconds, ``distinct_id``, ``$insert_id``), sorted by
  time, one line in a thousand a repeat of the line before (rejected as a
  duplicate event); polars reads the same lines with their schema given and
  turns the seconds into UTC datetimes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

MONEY = pl.Decimal(38, 4)
STAMP = pl.Datetime("us", "UTC")
#: Customers of the synthetic store giving about one million line items.
SHOPIFY_CUSTOMERS_PER_MILLION = 182_000
REPEAT_EVERY = 1000


def write_shopify(folder: Path, rows: int) -> Path:
    """A Shopify orders export of about ``rows`` line items; returns the file."""
    from retainlib._exports.shopify import write_orders_export
    from retainlib.samples import synthetic_store

    customers = max(1, rows * SHOPIFY_CUSTOMERS_PER_MILLION // 1_000_000)
    store = synthetic_store(customers, seed=1, events=False, subscription_share=0.0)
    (path,) = write_orders_export(store, folder)
    return path


def shopify_polars(path: Path) -> pl.DataFrame:
    """Every column as text, ``Created at`` (shop time with offset) and ``Total`` parsed (first lines only)."""
    return (
        pl.scan_csv(path, infer_schema=False)
        .with_columns(
            pl.col("Created at").str.to_datetime("%Y-%m-%d %H:%M:%S %z", strict=False, time_zone="UTC"),
            pl.col("Total").cast(MONEY, strict=False),
        )
        .collect()
    )


def write_mixpanel(folder: Path, rows: int, seed: int = 0) -> Path:
    """A Mixpanel raw export of ``rows`` events (JSON lines); returns the file."""
    rng = np.random.default_rng(seed)
    seconds = np.sort(rng.integers(1_704_067_200, 1_735_689_600, rows))
    users = rng.integers(0, max(rows // 20, 1), rows)
    names = rng.choice(["session", "view", "purchase", "login"], rows, p=[0.4, 0.4, 0.1, 0.1])
    insert = np.arange(rows)
    insert[REPEAT_EVERY::REPEAT_EVERY] -= 1  # a repeat of the line before: same $insert_id
    seconds[REPEAT_EVERY::REPEAT_EVERY] = seconds[REPEAT_EVERY - 1 :: REPEAT_EVERY][
        : len(seconds[REPEAT_EVERY::REPEAT_EVERY])
    ]
    users[REPEAT_EVERY::REPEAT_EVERY] = users[REPEAT_EVERY - 1 :: REPEAT_EVERY][
        : len(users[REPEAT_EVERY::REPEAT_EVERY])
    ]
    names[REPEAT_EVERY::REPEAT_EVERY] = names[REPEAT_EVERY - 1 :: REPEAT_EVERY][
        : len(names[REPEAT_EVERY::REPEAT_EVERY])
    ]
    frame = pl.DataFrame({"n": names, "t": seconds, "u": users, "i": insert})
    text = [pl.col(c).cast(pl.String) for c in ("n", "t", "u", "i")]
    lines = frame.select(
        pl.concat_str(
            pl.lit('{"event":"'),
            text[0],
            pl.lit('","properties":{"time":'),
            text[1],
            pl.lit(',"distinct_id":"u'),
            text[2],
            pl.lit('","$insert_id":"e'),
            text[3],
            pl.lit('"}}'),
        ).alias("line")
    )
    path = folder / "mixpanel_export.jsonl"
    lines.write_csv(path, include_header=False, quote_style="never")
    return path


def mixpanel_polars(path: Path) -> pl.DataFrame:
    """The same lines with their schema given; seconds to UTC datetimes."""
    properties = pl.Struct({"time": pl.Int64, "distinct_id": pl.String, "$insert_id": pl.String})
    return (
        pl.scan_ndjson(path, schema={"event": pl.String, "properties": properties})
        .select(
            pl.col("event"),
            pl.from_epoch(pl.col("properties").struct.field("time"), time_unit="s")
            .dt.replace_time_zone("UTC")
            .alias("occurred_at"),
            pl.col("properties").struct.field("distinct_id").alias("customer_id"),
            pl.col("properties").struct.field("$insert_id"),
        )
        .collect()
    )


# --- GA4 BigQuery export (JSON lines and Parquet) ----------------------------------------------------------------

#: Rows generated at a time (the files are written chunk by chunk, so that generating 20M rows fits in memory).
CHUNK = 1_000_000
#: One GA4 purchase event in this many rows (with an ecommerce record: also an order).
GA4_PURCHASE_EVERY = 100
_GA4_FIRST = 1_704_067_200  # 2024-01-01 UTC
_GA4_SPAN = 30 * 86_400  # a month of daily tables
_GA4_EVENTS = ["page_view", "user_engagement", "scroll", "session_start", "first_visit", "click"]
_GA4_SHARES = [0.45, 0.25, 0.12, 0.1, 0.04, 0.04]
_VALUE = pl.Struct(
    {"string_value": pl.String, "int_value": pl.Int64, "float_value": pl.Float64, "double_value": pl.Float64}
)
_PARAM = pl.Struct({"key": pl.String, "value": _VALUE})


def _ga4_param(
    key: str, *, string: pl.Expr | None = None, integer: pl.Expr | None = None, double: pl.Expr | None = None
) -> pl.Expr:
    """One ``event_params`` entry, its value in the slot BigQuery uses for its type (the others null)."""
    value = pl.struct(
        (string if string is not None else pl.lit(None, pl.String)).alias("string_value"),
        (integer if integer is not None else pl.lit(None, pl.Int64)).alias("int_value"),
        pl.lit(None, pl.Float64).alias("float_value"),
        (double if double is not None else pl.lit(None, pl.Float64)).alias("double_value"),
    )
    return pl.struct(pl.lit(key).alias("key"), value.alias("value"))


def ga4_frame(start: int, rows: int, total: int, seed: int = 0) -> pl.DataFrame:
    """Rows ``start .. start + rows`` of a GA4 export of ``total`` events, typed as BigQuery's schema.

    Sorted by time over a month; a user's pseudo id ``<random>.<first visit>``, a user id for a third of the
    users (signed in); four parameters an event (``ga_session_id``, ``ga_session_number``, ``page_location``,
    ``engagement_time_msec``) and two more for purchases (``currency``, ``value``); device, geo and traffic
    records; one event in :data:`GA4_PURCHASE_EVERY` a purchase with its ``ecommerce`` record; one row in
    :data:`REPEAT_EVERY` a copy of the row before (a daily and an intraday table overlapping: rejected).
    """
    rng = np.random.default_rng(seed * 1000 + start // CHUNK)
    index = np.arange(start, start + rows)
    stamp = _GA4_FIRST * 1_000_000 + index * (_GA4_SPAN * 1_000_000 // max(total, 1)) + rng.integers(0, 1000, rows)
    user = rng.integers(0, max(total // 20, 1), rows)
    names = rng.choice(_GA4_EVENTS, rows, p=_GA4_SHARES)
    purchase = index % GA4_PURCHASE_EVERY == GA4_PURCHASE_EVERY // 2
    names = np.where(purchase, "purchase", names)
    copy = (index % REPEAT_EVERY == 0) & (index > 0) & (np.arange(rows) > 0)
    previous = np.maximum(np.arange(rows) - 1, 0)
    stamp = np.where(copy, stamp[previous], stamp)
    user = np.where(copy, user[previous], user)
    names = np.where(copy, names[previous], names)
    cents = rng.integers(500, 40_000, rows)
    page, engaged = rng.integers(0, 200, rows), rng.integers(0, 60_000, rows)
    cents, page, engaged = (np.where(copy, a[previous], a) for a in (cents, page, engaged))
    frame = pl.DataFrame(
        {
            "_us": stamp,
            "_user": user,
            "event_name": names,
            "_purchase": names == "purchase",
            "_cents": cents,
            "_page": page,
            "_engaged": engaged,
            "_order": index,
        }
    )
    when = pl.from_epoch("_us", time_unit="us")
    pseudo = (
        (pl.col("_user") * 7919 % 1_000_000_000).cast(pl.String)
        + "."
        + (pl.lit(_GA4_FIRST) + pl.col("_user") % 86_400).cast(pl.String)
    )
    session = pl.col("_us") // 1_000_000 // 1800 * 1800
    common = [
        _ga4_param("ga_session_id", integer=session),
        _ga4_param("ga_session_number", integer=pl.col("_user") % 17 + 1),
        _ga4_param("page_location", string=pl.format("https://shop.example.com/p/{}", pl.col("_page"))),
        _ga4_param("engagement_time_msec", integer=pl.col("_engaged")),
    ]
    revenue = pl.col("_cents") / 100
    every = [*common, _ga4_param("currency", string=pl.lit("EUR")), _ga4_param("value", double=revenue)]
    # One list of parameters a row: the entries built column by column, interleaved and cut to the row's count
    # (polars' concat_list of structs is far slower).
    flat = pl.concat([frame.select("_us", p.alias("p")) for p in every])["p"]  # "_us": literals fill every row
    order = (np.arange(rows)[:, None] + np.arange(len(every))[None, :] * rows).ravel()
    frame = frame.with_columns(flat.gather(order).reshape((rows, len(every))).arr.to_list().alias("_params"))
    params = pl.col("_params").list.head(pl.when(pl.col("_purchase")).then(len(every)).otherwise(len(common)))
    transaction = pl.format("T{}", pl.col("_order"))
    ecommerce = pl.when(pl.col("_purchase")).then(
        pl.struct(
            pl.lit(1, pl.Int64).alias("total_item_quantity"),
            revenue.alias("purchase_revenue_in_usd"),
            revenue.alias("purchase_revenue"),
            transaction.alias("transaction_id"),
        )
    )
    signed_in = pl.col("_user") % 3 == 0
    return frame.select(
        when.dt.strftime("%Y%m%d").alias("event_date"),
        pl.col("_us").alias("event_timestamp"),
        "event_name",
        params.alias("event_params"),
        pl.lit(None, pl.Int64).alias("event_previous_timestamp"),
        pl.when(pl.col("_purchase")).then(revenue).alias("event_value_in_usd"),
        (pl.col("_us") // 1_000_000 % 2_000_000_000).alias("event_bundle_sequence_id"),
        pl.lit(None, pl.Int64).alias("event_server_timestamp_offset"),
        pl.when(signed_in).then(pl.format("u{}", pl.col("_user"))).alias("user_id"),
        pseudo.alias("user_pseudo_id"),
        pl.struct(
            pl.lit("desktop").alias("category"),
            pl.lit("Windows").alias("operating_system"),
            pl.lit("en-us").alias("language"),
            pl.lit("Chrome").alias("browser"),
        ).alias("device"),
        pl.struct(pl.lit("Germany").alias("country"), pl.lit("Berlin").alias("city")).alias("geo"),
        pl.struct(
            pl.lit("(organic)").alias("name"), pl.lit("organic").alias("medium"), pl.lit("google").alias("source")
        ).alias("traffic_source"),
        pl.lit("1234567890").alias("stream_id"),
        pl.lit("WEB").alias("platform"),
        ecommerce.alias("ecommerce"),
    )


def _instance(dtype: object) -> pl.DataType:
    """A data type as an instance (polars hands some out as their class)."""
    if isinstance(dtype, pl.DataType):
        return dtype
    assert isinstance(dtype, type) and issubclass(dtype, pl.DataType)
    return dtype()


def _ga4_json_schema(schema: pl.Schema) -> dict[str, pl.DataType]:
    """The export's schema with every INT64 as a string, as BigQuery writes INT64 values in JSON."""

    def text(dtype: pl.DataType) -> pl.DataType:
        if isinstance(dtype, pl.Struct):
            return pl.Struct({f.name: text(_instance(f.dtype)) for f in dtype.fields})
        if isinstance(dtype, pl.List):
            return pl.List(text(_instance(dtype.inner)))
        return pl.String() if dtype == pl.Int64 else dtype

    return {name: text(dtype) for name, dtype in schema.items()}


def write_ga4(folder: Path, rows: int, kind: str, seed: int = 0) -> Path:
    """A GA4 export of ``rows`` events as JSON lines (``kind="jsonl"``, INT64 as strings) or Parquet; the file."""
    path = folder / ("ga4_events.jsonl" if kind == "jsonl" else "ga4_events.parquet")
    partial = path.with_suffix(".partial")
    chunks: list[Path] = []
    with partial.open("wb") as out:
        for start in range(0, rows, CHUNK):
            frame = ga4_frame(start, min(CHUNK, rows - start), rows, seed)
            if kind == "jsonl":
                frame.cast(_ga4_json_schema(frame.schema)).write_ndjson(out)  # type: ignore[arg-type]
            else:
                chunk = folder / f".ga4_chunk_{start // CHUNK:04d}.parquet"
                frame.write_parquet(chunk)
                chunks.append(chunk)
    if kind != "jsonl":
        pl.scan_parquet(chunks).sink_parquet(partial)
        for chunk in chunks:
            chunk.unlink()
    partial.replace(path)
    return path


_GA4_FIELDS: dict[str, pl.DataType] = {
    "event_date": pl.String(),
    "event_timestamp": pl.Int64(),
    "event_name": pl.String(),
    "event_params": pl.List(_PARAM),
    "event_bundle_sequence_id": pl.Int64(),
    "user_id": pl.String(),
    "user_pseudo_id": pl.String(),
    "stream_id": pl.String(),
    "ecommerce": pl.Struct(
        {"transaction_id": pl.String(), "purchase_revenue": pl.Float64(), "purchase_revenue_in_usd": pl.Float64()}
    ),
}


def _ga4_select(frame: pl.LazyFrame) -> pl.DataFrame:
    return frame.select(
        pl.coalesce("user_id", "user_pseudo_id").alias("customer_id"),
        pl.from_epoch(pl.col("event_timestamp").cast(pl.Int64), time_unit="us")
        .dt.replace_time_zone("UTC")
        .alias("occurred_at"),
        pl.col("event_name").alias("event"),
        pl.col("event_date").str.to_date("%Y%m%d"),
        "event_params",
        "event_bundle_sequence_id",
        "stream_id",
        "ecommerce",
    ).collect()


def ga4_polars(path: Path) -> pl.DataFrame:
    """The fields the ``ga4`` source reads, with their schema given (JSON: INT64 strings cast), the instant parsed.

    JSON lines: ``pl.scan_ndjson`` with the fields' schema (the INT64 ones as text, then cast); Parquet:
    ``pl.scan_parquet`` of the same columns.  Then ``user_id`` falling back to ``user_pseudo_id``,
    ``event_timestamp`` (µs) as a UTC instant, ``event_date`` as a date; ``event_params`` and ``ecommerce``
    kept as they are (decoded, not looked into).
    """
    if path.suffix == ".parquet":
        return _ga4_select(pl.scan_parquet(path).select(list(_GA4_FIELDS)))
    schema = _ga4_json_schema(pl.Schema(_GA4_FIELDS))
    frame = pl.scan_ndjson(path, schema=schema).with_columns(
        pl.col("event_timestamp", "event_bundle_sequence_id").cast(pl.Int64)
    )
    return _ga4_select(frame)


# --- Amplitude Export API archive (zip of hourly gzipped JSON lines) -------------------------------------------------

AMPLITUDE_PROJECT = "187520"
#: Hours of the archive: the events are spread over them, one member (``#1``) an hour.
AMPLITUDE_HOURS = 24 * 30


def amplitude_lines(start: int, rows: int, total: int, seed: int = 0) -> pl.DataFrame:
    """Lines ``start .. start + rows`` of an Amplitude export of ``total`` events (column ``line``, ``hour``).

    Sorted by time over a month; ``user_id`` for two users in three (``device_id`` always), ``session_id``
    in milliseconds (``-1`` for one event in fifty), ``event_properties`` and ``user_properties``, ``uuid`` and
    ``$insert_id``; one line in :data:`REPEAT_EVERY` a copy of the line before (the same event exported
    twice: rejected as a duplicate).
    """
    rng = np.random.default_rng(seed * 1000 + 7 + start // CHUNK)
    index = np.arange(start, start + rows)
    span = AMPLITUDE_HOURS * 3600 * 1_000_000
    us = _GA4_FIRST * 1_000_000 + index * (span // max(total, 1)) + rng.integers(0, 1000, rows)
    user = rng.integers(0, max(total // 20, 1), rows)
    names = rng.choice(
        ["Page Viewed", "Button Clicked", "Song Played", "Search", "Purchase"], rows, p=[0.4, 0.25, 0.2, 0.1, 0.05]
    )
    copy = (index % REPEAT_EVERY == 0) & (index > 0) & (np.arange(rows) > 0)
    previous = np.maximum(np.arange(rows) - 1, 0)
    event = np.where(copy, index - 1, index)
    us = np.where(copy, us[previous], us)
    user = np.where(copy, user[previous], user)
    names = np.where(copy, names[previous], names)
    frame = pl.DataFrame({"_us": us, "_user": user, "_name": names, "_event": event})
    when = pl.from_epoch("_us", time_unit="us")
    session = (
        pl.when(pl.col("_event") % 50 == 7)
        .then(pl.lit(-1, pl.Int64))
        .otherwise(pl.col("_us") // 1000 // 1_800_000 * 1_800_000)
    )
    uid = (
        pl.when(pl.col("_user") % 3 != 0)
        .then(pl.format('"user{}@example.com"', pl.col("_user")))
        .otherwise(pl.lit("null"))
    )
    text = [
        pl.lit('{"$insert_id":"'),
        pl.format("{}-ins", pl.col("_event")),
        pl.lit('","amplitude_id":'),
        (pl.col("_user") + 10**11).cast(pl.String),
        pl.lit(',"app":187520,"city":"Berlin","country":"Germany","device_id":"'),
        pl.format("d{}", pl.col("_user")),
        pl.lit('","device_type":"Apple iPhone 14","event_id":'),
        (pl.col("_event") % 1000).cast(pl.String),
        pl.lit(',"event_properties":{"source":"home","position":'),
        (pl.col("_event") % 10).cast(pl.String),
        pl.lit('},"event_time":"'),
        when.dt.strftime("%Y-%m-%d %H:%M:%S%.6f"),
        pl.lit('","event_type":"'),
        pl.col("_name"),
        pl.lit(
            '","language":"English","library":"amplitude-ios/8.17.0","os_name":"ios","platform":"iOS",'
            '"server_received_time":"'
        ),
        (when + pl.duration(seconds=2)).dt.strftime("%Y-%m-%d %H:%M:%S%.6f"),
        pl.lit('","session_id":'),
        session.cast(pl.String),
        pl.lit(',"user_id":'),
        uid,
        pl.lit(',"user_properties":{"plan":"free"},"uuid":"'),
        pl.format("00000000-0000-4000-8000-{}", pl.col("_event").cast(pl.String).str.zfill(12)),
        pl.lit('"}'),
    ]
    hour = (pl.col("_us") // 3_600_000_000 - _GA4_FIRST // 3600).alias("hour")
    return frame.select(pl.concat_str(text).alias("line"), hour)


def write_amplitude(folder: Path, rows: int, seed: int = 0) -> Path:
    """An Export API archive of ``rows`` events: a zip of one gzipped JSON lines member an hour; the file."""
    import datetime as dt
    import zipfile
    import zlib

    path = folder / "amplitude_export.zip"
    partial = path.with_suffix(".partial")
    base = dt.datetime(2024, 1, 1)
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED) as archive:
        pending: pl.DataFrame | None = None
        for start in range(0, rows, CHUNK):
            lines = amplitude_lines(start, min(CHUNK, rows - start), rows, seed)
            if pending is not None:
                lines = pl.concat([pending, lines])
            last = lines["hour"][-1] if start + CHUNK < rows else None
            for (hour,), group in lines.group_by("hour", maintain_order=True):
                if hour == last:
                    pending = group
                    continue
                when = base + dt.timedelta(hours=int(hour))
                name = f"{AMPLITUDE_PROJECT}/{AMPLITUDE_PROJECT}_{when:%Y-%m-%d}_{when.hour}#1.json.gz"
                text = ("\n".join(group["line"]) + "\n").encode()
                packer = zlib.compressobj(6, zlib.DEFLATED, 31)
                archive.writestr(name, packer.compress(text) + packer.flush())
    partial.replace(path)
    return path


_AMPLITUDE_FIELDS = {
    "event_type": pl.String,
    "event_time": pl.String,
    "user_id": pl.String,
    "device_id": pl.String,
    "amplitude_id": pl.Int64,
    "session_id": pl.Int64,
    "uuid": pl.String,
    "$insert_id": pl.String,
}


def amplitude_polars(path: Path) -> pl.DataFrame:
    """Each member read from the zip in memory (``zipfile``), gunzipped (``gzip.decompress``) and read by
    ``pl.read_ndjson`` with the fields' schema given; the members concatenated, ``user_id`` falling back to
    ``device_id``, ``event_time`` parsed as UTC, ``session_id`` -1 as null.
    """
    import gzip
    import zipfile

    frames = []
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            text = gzip.decompress(archive.read(info))
            frames.append(pl.read_ndjson(text, schema=_AMPLITUDE_FIELDS))
    return (
        pl.concat(frames)
        .lazy()
        .select(
            pl.coalesce("user_id", "device_id").alias("customer_id"),
            pl.col("event_time")
            .str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us", time_zone="UTC")
            .alias("occurred_at"),
            pl.col("event_type").alias("event"),
            pl.when(pl.col("session_id") != -1).then("session_id").alias("session_id"),
            "amplitude_id",
            "uuid",
            "$insert_id",
        )
        .collect()
    )


# --- the event cases of bench_read.py --------------------------------------------------------------------------------

#: The event exports of ``bench_read.py --formats`` beside ``mixpanel``, their files and their sources.
EVENT_FORMATS = ("ga4-jsonl", "ga4-parquet", "amplitude")
EVENT_FILES = {
    "ga4-jsonl": "ga4_events.jsonl",
    "ga4-parquet": "ga4_events.parquet",
    "amplitude": "amplitude_export.zip",
}
SOURCE = {"ga4-jsonl": "ga4", "ga4-parquet": "ga4"}


def write_events(folder: Path, rows: int, fmt: str) -> Path:
    """The export of one of :data:`EVENT_FORMATS` with ``rows`` events, in ``folder``."""
    if fmt == "amplitude":
        return write_amplitude(folder, rows)
    return write_ga4(folder, rows, "jsonl" if fmt == "ga4-jsonl" else "parquet")


def events_polars(fmt: str, path: Path) -> pl.DataFrame:
    """Polars reading the export of one of :data:`EVENT_FORMATS` (see :func:`ga4_polars`, :func:`amplitude_polars`)."""
    return amplitude_polars(path) if fmt == "amplitude" else ga4_polars(path)
