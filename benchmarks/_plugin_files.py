"""Generated exports of the Shopify and Mixpanel sources for ``bench_read.py``, and polars' own reading of them.

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
