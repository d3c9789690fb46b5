"""Merging datasets from several sources into one, each customer once.

Customers are matched across datasets

* by id: equal ``customer_id`` strings are the same customer (``match_ids=True``,
  the default, for sources sharing one id space), and
* by normalised e-mail (stripped, lower-case) from the customers tables, when
  ids differ (a Shopify customer and a Stripe customer with one address).

Matching is transitive (connected components of the id/e-mail graph).  Each
group of matched customers takes the id of its first member, ranking members
by dataset order then id; the merged customers table lists every original id
of a customer in ``source_ids`` (``"<source>:<id>"``).  With
``match_ids=False`` ids are namespaced by source (``"<source>:<id>"``) so
equal ids of different sources stay apart unless their e-mails match.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from retainlib._dataset import Dataset
from retainlib.errors import OptionError
from retainlib.tables import TABLES

__all__ = ["merge"]


def _labels(datasets: Sequence[Dataset]) -> list[str]:
    labels = [d.source or f"dataset{i}" for i, d in enumerate(datasets)]
    if len(set(labels)) != len(labels):
        labels = [f"{label}{i}" for i, label in enumerate(labels)]
    return labels


def _identity_map(datasets: Sequence[Dataset], labels: list[str], match_ids: bool) -> pl.DataFrame:
    """(dataset, original id) -> merged customer id, for every customer id anywhere."""
    seen: list[pl.LazyFrame] = []
    emails: list[pl.LazyFrame] = []
    for i, d in enumerate(datasets):
        for _, frame in d.tables.items():
            seen.append(frame.select(pl.lit(i, pl.Int32).alias("dataset"), pl.col("customer_id").alias("id")))
        if d.customers is not None and "email" in d.customers.collect_schema():
            emails.append(
                d.customers.select(
                    pl.lit(i, pl.Int32).alias("dataset"),
                    pl.col("customer_id").alias("id"),
                    pl.col("email").str.strip_chars().str.to_lowercase().alias("email"),
                ).filter(pl.col("email").is_not_null() & (pl.col("email") != ""))
            )
    ids = pl.concat(seen).unique().collect() if seen else pl.DataFrame(schema={"dataset": pl.Int32, "id": pl.String})
    label = pl.col("dataset").replace_strict(dict(enumerate(labels)), return_dtype=pl.String)
    node = pl.col("id") if match_ids else pl.format("{}:{}", label, pl.col("id"))
    ids = ids.with_columns(node=node)
    # Rank nodes by (first dataset holding them, id): the group's first member names it.
    nodes = (
        ids.group_by("node")
        .agg(pl.col("dataset").min())
        .sort("dataset", "node")
        .with_row_index("rank")
        .select("node", pl.col("rank").cast(pl.Int64))
    )
    edges = (
        pl.concat(emails).collect().with_columns(node=node).select("node", "email").unique()
        if emails
        else pl.DataFrame(schema={"node": pl.String, "email": pl.String})
    )
    label_of = nodes.select("node", pl.col("rank").alias("group"))
    while True:  # label propagation over the node/e-mail graph; few rounds in practice
        by_email = edges.join(label_of, on="node").group_by("email").agg(pl.col("group").min())
        via_email = edges.join(by_email, on="email").group_by("node").agg(pl.col("group").min().alias("via"))
        updated = label_of.join(via_email, on="node", how="left").select(
            "node", pl.min_horizontal("group", "via").alias("group")
        )
        if updated.sort("node").equals(label_of.sort("node")):
            break
        label_of = updated
    names = nodes.select(pl.col("rank").alias("group"), pl.col("node").alias("customer"))
    return (
        ids.join(label_of, on="node")
        .join(names, on="group")
        .select("dataset", "id", pl.col("customer").alias("customer_id"))
    )


def merge(datasets: Sequence[Dataset], *, match_ids: bool = True) -> Dataset:
    """Merge datasets from several sources, resolving customers by id and e-mail.

    Parameters
    ----------
    datasets
        The datasets, in priority order (the first one's ids win).
    match_ids
        Whether equal customer ids in different datasets are one customer.

    Returns
    -------
    Dataset
        Every table concatenated (columns missing from some inputs are null
        there), ``customer_id`` replaced by the merged id, the customers table
        holding one row per merged customer (earliest ``created_at``, first
        non-null of other columns, ``source_ids`` listing the originals).
        Record ids (``order_id``...) must not collide across datasets.

    Examples
    --------
    >>> import polars as pl
    >>> shop = Dataset(customers=pl.DataFrame({"customer_id": ["1"], "created_at": ["2024-01-02T00:00:00Z"],
    ...                                        "email": ["Ann@Example.com "]}), source="shopify")
    >>> bill = Dataset(customers=pl.DataFrame({"customer_id": ["cus_9"], "created_at": ["2024-01-01T00:00:00Z"],
    ...                                        "email": ["ann@example.com"]}), source="stripe")
    >>> merge([shop, bill]).customers.collect()["customer_id"].to_list()
    ['1']
    """
    if not datasets:
        raise OptionError("merge needs at least one dataset", option="datasets", value=datasets)
    for d in datasets:
        if not isinstance(d, Dataset):
            raise OptionError(
                f"merge takes Dataset objects, got {type(d).__name__}", option="datasets", value=type(d).__name__
            )
    labels = _labels(datasets)
    idmap = _identity_map(datasets, labels, match_ids).lazy()
    merged: dict[str, Any] = {}
    for name in TABLES:
        parts = []
        for i, d in enumerate(datasets):
            frame = getattr(d, name)
            if frame is None:
                continue
            part = (
                frame.with_columns(pl.lit(i, pl.Int32).alias("_dataset"))
                .join(
                    idmap,
                    left_on=["_dataset", "customer_id"],
                    right_on=["dataset", "id"],
                    maintain_order="left",
                    how="left",
                    suffix="_merged",
                )
                .with_columns(
                    pl.lit(labels[i]).alias("_source"),
                    pl.col("customer_id").alias("_original_id"),
                    pl.col("customer_id_merged").alias("customer_id"),
                )
                .drop("customer_id_merged")
            )
            parts.append(part)
        if not parts:
            continue
        table = pl.concat(parts, how="diagonal_relaxed")
        if name == "customers":
            cols = [
                c
                for c in table.collect_schema().names()
                if c not in ("customer_id", "_dataset", "_source", "_original_id")
            ]
            table = (
                table.sort("_dataset", "_original_id")
                .group_by("customer_id", maintain_order=True)
                .agg(
                    *[pl.col(c).min() if c == "created_at" else pl.col(c).drop_nulls().first() for c in cols],
                    pl.format("{}:{}", "_source", "_original_id").alias("source_ids"),
                )
            )
        else:
            table = table.drop("_dataset", "_source", "_original_id")
        merged[name] = table
    return Dataset(**merged, validate="full", source="+".join(labels))
