"""RFM on a dask cluster: one row per customer stays distributed; the fits take its compressed statistics."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import attrs
import polars as pl

from retainlib.clv._base import WEIGHT
from retainlib.errors import DataError, OptionError, RetainlibError
from retainlib.metrics._common import gather, merge_ends, prepare, segment_ends

if TYPE_CHECKING:
    import dask.dataframe as dd
    import pandas as pd

__all__ = ["rfm", "rfm_statistics"]

#: Options of :func:`retainlib.rfm` that :func:`rfm` passes on to each partition.
_OPTIONS = ("freq", "freq_multiplier", "observation_end", "holdout_end", "cut", "by", "as_of", "tz", "week_start")


def _by(by: object) -> tuple[str, ...]:
    if by is None:
        return ()
    return (by,) if isinstance(by, str) else tuple(by)  # type: ignore[arg-type]  # rfm checked it


def _to_pandas(frame: pl.DataFrame) -> pd.DataFrame:
    out: pd.DataFrame = frame.to_pandas(use_pyarrow_extension_array=True)
    return out


def _rfm_partition(part: pd.DataFrame, options: dict[str, Any], ends: pl.DataFrame | None) -> pd.DataFrame:
    """:func:`retainlib.rfm` of one partition (customers together), with the table's ends of observation."""
    from retainlib.dask._engine import portable, to_polars
    from retainlib.metrics.rfm import rfm as local_rfm

    try:
        orders = to_polars(part)
        by = _by(options.get("by"))
        if ends is None:
            result = local_rfm(orders, **options)
        elif not by:
            result = local_rfm(orders, **options, as_of=ends["_end"][0])
        else:  # each segment with its own end of observation, as the local kernel does
            pieces = []
            for row in ends.iter_rows(named=True):
                mine = pl.all_horizontal([pl.col(c).eq_missing(pl.lit(row[c], dtype=orders.schema[c])) for c in by])
                pieces.append(local_rfm(orders.filter(mine), **options, as_of=row["_end"]))
            keys = [*by, "customer_id"]
            result = pl.concat(pieces, how="vertical").sort(keys, nulls_last=True)
        assert isinstance(result, pl.DataFrame)
        return _to_pandas(result)
    except DataError as error:  # rows of a shuffled partition: named by their columns, not their place in it
        unplaced = [attrs.evolve(p, rows=p.rows.drop("row", strict=False)) for p in error.problems]
        raise portable(DataError(unplaced, rows=error.rows)) from None
    except RetainlibError as error:
        raise portable(error) from None


def rfm(orders: dd.DataFrame, **options: Any) -> dd.DataFrame:
    """:func:`retainlib.rfm` of a dask DataFrame of orders: a dask DataFrame, one row per customer.

    The options are those of :func:`retainlib.rfm` (``engine`` aside: the
    workers use polars' default).  The orders are partitioned by customer
    (:func:`retainlib.dask.by_customer`) and each partition summarised on its
    worker; without ``as_of`` each segment's end of observation (its last
    order) is found first, in one pass over the orders that also checks
    every value (a :class:`~retainlib.errors.DataError` names a bad row by
    file and row).  With ``as_of`` nothing is read until the result is
    computed, and a bad row is named by its columns (its place in the
    shuffled partition means nothing).  Rows are sorted by
    (``by`` columns, ``customer_id``) within each partition; ``compute()``
    gives a pandas DataFrame (``retainlib.dask.to_polars`` makes it polars),
    ``to_parquet`` writes it, :func:`rfm_statistics` compresses it for the
    BG/NBD and Gamma-Gamma fits.
    """
    from retainlib.dask._engine import DaskPartitions, by_customer
    from retainlib.metrics.rfm import rfm as local_rfm

    unknown = sorted(set(options) - set(_OPTIONS) - {"engine"})
    if unknown:
        raise OptionError(f"rfm takes no option {', '.join(unknown)}", option=unknown[0], value=options[unknown[0]])
    options = {k: v for k, v in options.items() if k != "engine"}
    partitions = DaskPartitions.of(orders, metric="rfm")
    meta = local_rfm(partitions.empty, **options)  # checks the options and the schema; the output's columns
    assert isinstance(meta, pl.DataFrame)
    ends: pl.DataFrame | None = None
    if options.get("as_of") is None and options.get("observation_end") is None:
        data: Any = orders  # a dask DataFrame: prepare takes it with distributed=True
        p = prepare(data, metric="rfm", tables=("orders",), by=options.get("by"), distributed=True)
        # Every column read too: a bad value is found here, before any shuffle, and named by file and row.
        found, _ = gather(p, lambda q: [segment_ends(q), q.frame.select(pl.all().null_count())], customers=False)
        ends = merge_ends(found, p.by).filter(pl.col("_end").is_not_null()).collect()
        if ends["_end"].dtype != pl.Datetime("us", "UTC"):  # pragma: no cover - canonical timestamps are UTC
            raise RetainlibError("rfm: the orders' last timestamp is not a UTC instant")
        assert all(isinstance(v, dt.datetime) for v in ends["_end"])
    frame: Any = by_customer(orders)  # dask's collections are untyped
    result: dd.DataFrame = frame.map_partitions(_rfm_partition, options, ends, meta=_to_pandas(meta))
    return result


def rfm_statistics(rfm_frame: dd.DataFrame, *, monetary: bool = False) -> pl.DataFrame:
    """The sufficient statistics of a distributed :func:`rfm`: each distinct (frequency, recency, T) and its customers.

    One small polars DataFrame (columns ``frequency``, ``recency``, ``T``,
    with ``monetary=True`` also ``monetary_value``, and ``_customers``, the
    number of customers sharing the row) that
    :meth:`retainlib.clv.BetaGeo.fit` and
    :meth:`retainlib.clv.GammaGamma.fit` take as they take the RFM frame.
    The rows come in the order of each one's first customer in the local
    :func:`retainlib.rfm` frame (sorted by ``by`` columns and ``customer_id``),
    so a BG/NBD fit equals the local one exactly.  Each partition compresses
    its customers; only the distinct rows travel to the client.
    """
    from retainlib.dask._engine import compute_partitions

    stats = ["frequency", "recency", "T", *(["monetary_value"] if monetary else [])]
    keys = [c for c in rfm_frame.columns if c not in (*stats, "monetary_value") and not c.endswith("_holdout")]

    def compress(part: pd.DataFrame) -> pl.DataFrame:
        from retainlib.dask._engine import to_polars

        frame = to_polars(part).sort(keys, nulls_last=True)
        return frame.group_by(stats, maintain_order=True).agg(pl.col(keys).first(), pl.len().alias(WEIGHT))

    parts: tuple[pl.DataFrame, ...] = compute_partitions(rfm_frame, compress)
    merged = pl.concat(parts, how="vertical").sort(keys, nulls_last=True)
    return merged.group_by(stats, maintain_order=True).agg(pl.col(WEIGHT).sum().cast(pl.Int64))
