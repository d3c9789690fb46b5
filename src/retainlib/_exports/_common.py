"""What the export writers share: the tables they take and where they write."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TypeAlias

import polars as pl

from retainlib._dataset import Dataset
from retainlib.errors import OptionError
from retainlib.tables import MONEY, TABLES

FrameLike: TypeAlias = pl.DataFrame | pl.LazyFrame
#: What the writers take: a Dataset, or its tables by name.
Tables: TypeAlias = Dataset | Mapping[str, FrameLike]


def table(data: Tables, name: str, *, required: bool, every_column: bool = False) -> pl.LazyFrame | None:
    """One canonical table of ``data`` as a LazyFrame, checked to hold the canonical columns.

    ``every_column``: the optional canonical columns must be present too (the
    writer writes them).  A missing table is ``None``, or an
    :class:`OptionError` when ``required``.
    """
    if isinstance(data, Dataset):
        frame = getattr(data, name)
    elif isinstance(data, Mapping):
        frame = data.get(name)
    else:
        raise OptionError(
            f"expected a Dataset or a mapping of table name -> frame, got {type(data).__name__}",
            option="data",
            value=type(data).__name__,
        )
    if frame is None:
        if required:
            raise OptionError(f"no {name} table to write", option="data", value=name)
        return None
    if not isinstance(frame, pl.DataFrame | pl.LazyFrame):
        raise OptionError(f"the {name} table is not a polars frame", option="data", value=type(frame).__name__)
    lazy = frame.lazy()
    spec = TABLES[name]
    present = lazy.collect_schema().names()
    needed = spec.schema.names() if every_column else spec.required
    missing = [c for c in needed if c not in present]
    if missing:
        raise OptionError(f"the {name} table lacks column(s) {', '.join(missing)}", option="data", value=name)
    return lazy


def folder(path: str | Path) -> Path:
    """``path`` as a folder, created if needed."""
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    return out


def spend(data: Tables) -> pl.LazyFrame:
    """Each customer's money spent and order count from the orders given: ``customer_id``, ``_spent``, ``_count``.

    Customers' exports (Stripe's ``Total Spend``/``Payment Count``, Shopify's
    ``Total Spent``/``Total Orders``) carry these; with no orders table the frame
    is empty and every customer gets 0.
    """
    orders = table(data, "orders", required=False)
    if orders is None:
        return pl.LazyFrame(schema={"customer_id": pl.String, "_spent": MONEY, "_count": pl.UInt32})
    return orders.group_by(pl.col("customer_id").cast(pl.String)).agg(
        pl.col("amount").cast(MONEY).sum().alias("_spent"), pl.len().alias("_count")
    )
