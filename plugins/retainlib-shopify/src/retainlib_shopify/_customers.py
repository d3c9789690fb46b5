"""Customers: the customers export and API customer objects, and customers derived from orders.

A customer is keyed by its Shopify customer id where the record has one, else
by its normalised e-mail (stripped, lower-cased), the key orders without a
customer id get too.  The customers export has no creation date: a customer
of the export is dated by the earliest of its first order read in the same
call and the creation date an API payload of the same read gives it; one with
neither is rejected with that reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import attrs
import polars as pl

from retainlib import _conform
from retainlib.tables import CUSTOMERS, TIMESTAMP
from retainlib_shopify import _fields as f
from retainlib_shopify._orders import ROW, rejects, row_number

__all__ = ["CustomersRead", "derived", "read_customers"]

_EPOCH = pl.lit(0).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
#: Per style of record: how it names the e-mail and the creation date.
_EMAIL_LABELS = {"csv": "Email", "rest": "email", "graphql": "email"}
_CREATED_LABELS = {"csv": "created_at", "rest": "created_at", "graphql": "createdAt"}
NO_DATE = (
    "created_at: no order of this customer was read, and the customers export has no creation date "
    "(read the orders export or the API orders with it)"
)


@attrs.frozen(kw_only=True)
class CustomersRead:
    """The customers records loaded, and the account of every record per file.

    Attributes:
        customers: canonical customers with ``phone``.
        read: per file index, the records read.
        rejected: rejected records in the load-report shape, ``_src`` beside them.
    """

    customers: pl.DataFrame
    read: dict[int, int]
    rejected: pl.DataFrame


def _label(labels: dict[str, str]) -> pl.Expr:
    return pl.col("_style").replace_strict(labels, return_dtype=pl.String)


def read_customers(
    rows: pl.DataFrame, known: pl.LazyFrame, files: Sequence[Path], tz: str | None = None
) -> CustomersRead:
    """Customers from customer records (``_src``, ``_seq``, ``_line``, ``customer``, ``email``, ``name``,
    ``phone``, ``created``, ``_style``); ``known`` gives ``customer_id`` -> ``_known`` (a creation date);
    ``tz`` is the zone of creation times without a UTC offset."""
    email = f.email(pl.col("email"))
    own = f.iso_time(pl.col("created"))
    if tz is not None:
        own = pl.coalesce(own, f.local_time(pl.col("created"), tz))
    keyed = rows.lazy().with_columns(
        row_number(),
        email.alias("_email"),
        pl.coalesce(pl.col("customer"), email).alias("customer_id"),
        own.alias("_own"),
    )
    staged = keyed.join(known, on="customer_id", how="left", maintain_order="left").with_columns(
        pl.coalesce("_own", "_known").alias("created_at")
    )
    reason = (
        pl.when(pl.col("customer_id").is_null())
        .then(pl.format("{}: no customer id and no e-mail: the customer cannot be identified", _label(_EMAIL_LABELS)))
        .when(pl.col("created").is_not_null() & pl.col("_own").is_null())
        .then(pl.format("{}: {}", _label(_CREATED_LABELS), pl.lit(f.ISO_TIME_HINT)))
        .when(pl.col("created_at").is_null() & (pl.col("_style") == "csv"))
        .then(pl.lit(NO_DATE))
        .when(pl.col("created_at").is_null())
        .then(pl.format("{}: missing", _label(_CREATED_LABELS)))
    )
    staged = staged.with_columns(reason.alias("_why"))
    bad = pl.col("_why").is_not_null()
    frame = staged.select(
        ROW,
        pl.when(bad).then(pl.format("\x00{}", ROW)).otherwise(pl.col("customer_id")).alias("customer_id"),
        pl.when(bad).then(_EPOCH).otherwise(pl.col("created_at")).cast(TIMESTAMP).alias("created_at"),
        pl.col("_email").alias("email"),
        pl.col("name"),
        pl.col("phone"),
        pl.col("_src"),
        pl.col("_line"),
        pl.col("_why"),
    )
    conformed = _conform.conform(frame, CUSTOMERS, check_duplicates=True)
    conformed = attrs.evolve(
        conformed,
        frame=conformed.frame.with_columns((pl.col(_conform.BAD) | bad).alias(_conform.BAD)),
        problems=(pl.col("_why"), *conformed.problems),
    ).collect()
    checked = conformed.frame
    names = {i: str(p) for i, p in enumerate(files)}
    rejected_lf = rejects(
        conformed.explain(checked.filter(pl.col(_conform.BAD))).select(
            "_src", "_line", pl.col(_conform.PROBLEM).alias("_reason")
        ),
        names,
        table="customers",
    ).sort("_src", "line")
    loaded_lf = conformed.output(checked.filter(~pl.col(_conform.BAD)))
    loaded, rejected, read = pl.collect_all([loaded_lf, rejected_lf, rows.lazy().group_by("_src").len()])
    return CustomersRead(
        customers=loaded.drop("_src", "_line", "_why"),
        read={int(s): int(n) for s, n in read.iter_rows()},
        rejected=rejected,
    )


def derived(orders: pl.DataFrame, explicit: pl.DataFrame) -> pl.DataFrame:
    """Customers seen only in orders: dated by their first order (or an API payload's earlier creation date)."""
    embedded = f.iso_time(pl.col("_customer_created"))
    return (
        orders.lazy()
        .group_by("customer_id")
        .agg(
            pl.min_horizontal(pl.col("ordered_at").min(), embedded.min()).alias("created_at"),
            pl.col("_email").drop_nulls().first().alias("email"),
        )
        .join(explicit.lazy().select("customer_id"), on="customer_id", how="anti")
        .select(
            "customer_id",
            pl.col("created_at").cast(TIMESTAMP),
            "email",
            pl.lit(None, pl.String).alias("name"),
            pl.lit(None, pl.String).alias("phone"),
        )
        .sort("created_at", "customer_id")
        .collect()
    )
