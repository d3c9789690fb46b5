"""The kernels' partial steps on a dask cluster: partitions by customer, polars on the workers, errors that travel.

Imported only when a dask DataFrame reaches a kernel (see
:func:`retainlib.metrics._common.prepare`), so the core never imports dask.

A kernel's partial step (:class:`retainlib.metrics._common.Partitions`) runs
once per partition: the partition (pandas, as dask holds it) becomes an arrow
table and a polars DataFrame, is checked as a kernel checks a DataFrame, and
the step's small polars frames are collected there.  Only those frames travel
to the client, which concatenates them; the kernel then combines (sums by
keys) and finishes on the client with the same code as the local engine.
"""

from __future__ import annotations

import copyreg
import importlib
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import polars as pl

from retainlib import errors
from retainlib.errors import OptionError, RetainlibError
from retainlib.metrics._common import Prepared, on_partition

if TYPE_CHECKING:
    import dask.dataframe as dd
    import pandas as pd

__all__ = ["DaskPartitions", "by_customer", "compute_partitions", "is_by_customer", "portable", "to_polars"]

#: Names of dask DataFrames declared (or made) partitioned by customer: each customer's rows in one partition.
_BY_CUSTOMER: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()


def to_polars(frame: pd.DataFrame) -> pl.DataFrame:
    """A pandas partition as a polars DataFrame, through arrow (an index named like a column becomes one)."""
    pa: Any = importlib.import_module("pyarrow")  # untyped; comes with pandas' arrow types and dask
    if frame.index.name is not None and frame.index.name not in frame.columns:
        frame = frame.reset_index()
    table = pa.Table.from_pandas(frame, preserve_index=False)
    out = pl.from_arrow(table)
    assert isinstance(out, pl.DataFrame)
    return out


def is_by_customer(frame: dd.DataFrame) -> bool:
    """Whether each customer's rows are in one partition: declared (:func:`by_customer`), or an index on customer_id.

    A dask DataFrame indexed by ``customer_id`` with known divisions (``set_index("customer_id")``,
    or Parquet read with that index and its divisions) keeps each id in one partition.
    """
    if _BY_CUSTOMER.get(frame._name) is frame:
        return True
    return bool(frame.index.name == "customer_id" and frame.known_divisions)


def by_customer(frame: dd.DataFrame, *, declared: bool = False) -> dd.DataFrame:
    """``frame`` partitioned by customer: each customer's rows in one partition.

    With ``declared=True`` the caller vouches that it already is (files
    written per customer bucket, say): nothing moves, and a wrong
    declaration gives wrong results.  Otherwise a frame that is not known to
    be (see :func:`is_by_customer`) is hash-shuffled by ``customer_id`` by
    dask, keeping its number of partitions.
    """
    if declared or is_by_customer(frame):
        out = frame
    else:
        if "customer_id" not in frame.columns:
            raise OptionError(
                "the dask DataFrame has no customer_id column to partition by", option="data", value=list(frame.columns)
            )
        out = frame.shuffle("customer_id", npartitions=frame.npartitions)
    _BY_CUSTOMER[out._name] = out
    return out


def compute_partitions(frame: dd.DataFrame, function: Callable[..., Any], *args: Any) -> tuple[Any, ...]:
    """``function(partition, *args)`` for every partition of ``frame``, computed by dask's current scheduler.

    A ``distributed.Client`` when one is active (the tasks run on its
    workers, their results come back here), else dask's local threads.
    """
    dask: Any = importlib.import_module("dask")  # dask's collections are untyped
    parts: Any = frame
    tasks = [dask.delayed(function)(part, *args) for part in parts.to_delayed()]
    results: tuple[Any, ...] = dask.compute(*tasks)
    return results


def _rebuild(kind: type[RetainlibError], message: str, state: dict[str, Any]) -> RetainlibError:
    error = kind.__new__(kind)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


def _reduce(error: RetainlibError) -> tuple[Any, ...]:
    return (_rebuild, (type(error), str(error), dict(vars(error))))


def _register_reducers() -> None:
    """retainlib's errors pickled by message and attributes (their constructors take keywords pickle cannot give)."""
    for value in vars(errors).values():
        if isinstance(value, type) and issubclass(value, RetainlibError):
            copyreg.pickle(value, _reduce)


_register_reducers()


def portable(error: RetainlibError) -> RetainlibError:
    """``error`` as an instance of its public class, so that it pickles from a worker to the client.

    An error raised inside a polars query travels as a subclass made on the
    fly (see ``_carried`` in :mod:`retainlib.metrics._common`), which pickle
    cannot name; the copy has the public class, message and attributes.
    """
    kind = type(error)
    if "_carried" not in vars(kind):
        return error
    base = kind.__bases__[0]
    assert issubclass(base, RetainlibError)
    return _rebuild(base, str(error), dict(vars(error)))


def _run_partition(
    part: pd.DataFrame, p: Prepared, step: Callable[[Prepared], Sequence[pl.LazyFrame]]
) -> list[pl.DataFrame]:
    """One partition's partial step, on a worker: pandas -> arrow -> polars, checked, the step collected."""
    try:
        q = on_partition(p, to_polars(part))
        return pl.collect_all(list(step(q)), engine=q.engine)
    except RetainlibError as error:
        raise portable(error) from None


@attrs.frozen
class DaskPartitions:
    """A dask DataFrame as the partitions of a kernel's table (see :class:`~retainlib.metrics._common.Partitions`).

    Attributes:
        frame: the dask DataFrame as given.
        empty: its schema as an empty polars DataFrame (what :func:`~retainlib.metrics._common.prepare` checks).
    """

    frame: dd.DataFrame
    empty: pl.DataFrame

    @classmethod
    def of(cls, data: object, *, metric: str) -> DaskPartitions:
        """The partitions of ``data``, a dask DataFrame (a dask Series or Array is an :class:`OptionError`)."""
        try:
            import dask.dataframe as dd
        except ImportError as exc:  # pragma: no cover - a dask object arrived, so dask is there
            raise RetainlibError('retainlib on dask needs dask: pip install "retainlib[dask]"') from exc
        if not isinstance(data, dd.DataFrame):
            raise OptionError(
                f"{metric} takes a dask DataFrame, got {type(data).__name__}", option="data", value=type(data).__name__
            )
        return cls(data, to_polars(data._meta))

    def run(
        self, p: Prepared, step: Callable[[Prepared], Sequence[pl.LazyFrame]], *, customers: bool = True
    ) -> list[pl.DataFrame]:
        """``step`` on every partition, on the workers; its frames concatenated here.

        ``customers=True`` (a step over customers) runs it on the frame partitioned
        by customer (:func:`by_customer`: a dask hash shuffle unless it already is).
        Any error on a worker is raised here, and no partial result is returned.
        """
        frame = by_customer(self.frame) if customers else self.frame
        light = attrs.evolve(p, frame=pl.LazyFrame(), partitions=None, customers=None)
        try:
            results: tuple[list[pl.DataFrame], ...] = compute_partitions(frame, _run_partition, light, step)
        except RetainlibError:
            raise
        except Exception as exc:  # a partition failed inside dask (reading it, a lost worker...): no partial result
            raise RetainlibError(
                f"a partition of the dask DataFrame failed on the cluster, so no result: {type(exc).__name__}: {exc}"
            ) from exc
        if not results:  # no partitions: the step over no rows
            return _run_partition(self.frame._meta, light, step)
        return [pl.concat([r[i] for r in results], how="vertical", rechunk=True) for i in range(len(results[0]))]
