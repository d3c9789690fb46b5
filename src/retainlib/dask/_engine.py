"""The kernels' partial steps on a dask cluster: partitions by customer, polars on the workers, errors that travel.

Imported only when a dask DataFrame reaches a kernel (see
:func:`retainlib.metrics._common.prepare`), so the core never imports dask.

A kernel's partial step (:class:`retainlib.metrics._common.Partitions`) runs
once per partition: the partition (pandas, as dask holds it) becomes an arrow
table and a polars DataFrame, is checked as a kernel checks a DataFrame, and
the step's small polars frames are collected there.  Only those frames travel
to the client, which concatenates them; the kernel then combines (sums by
keys) and finishes on the client with the same code as the local engine.

The per-customer steps of one kernel call are deferred and run together, in
one computation over one partitioning by customer (one shuffle at most).  A
:class:`~retainlib.errors.DataError` found on a worker is looked up again on
the partitions as given, so that its rows are named by file and row (or row
of the whole frame), not by their place in a shuffled partition.
"""

from __future__ import annotations

import copyreg
import functools
import importlib
import itertools
import threading
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import polars as pl

from retainlib import errors
from retainlib.errors import SHOWN_ROWS, DataError, OptionError, Problem, RetainlibError
from retainlib.metrics._common import (
    Prepared,
    carried,
    far_histogram,
    far_partition,
    far_problems,
    histogram_median,
    on_partition,
    partition_problems,
)
from retainlib.tables import TableName

if TYPE_CHECKING:
    import dask.dataframe as dd
    import pandas as pd

__all__ = [
    "DaskPartitions",
    "by_customer",
    "compute_partitions",
    "is_by_customer",
    "portable",
    "set_origins",
    "to_polars",
]

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


def compute_partitions(
    frame: dd.DataFrame, function: Callable[..., Any], *args: Any, each: Sequence[Sequence[Any]] | None = None
) -> tuple[Any, ...]:
    """``function(partition, *each[i], *args)`` for every partition ``i`` of ``frame``, computed by dask.

    Dask's current scheduler: a ``distributed.Client`` when one is active
    (the tasks run on its workers, their results come back here), else
    dask's local threads.  ``each`` gives each partition its own first
    arguments.
    """
    dask: Any = importlib.import_module("dask")  # dask's collections are untyped
    parts: Any = frame
    tasks = [
        dask.delayed(function)(part, *(each[i] if each is not None else ()), *args)
        for i, part in enumerate(parts.to_delayed())
    ]
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


#: A kernel's partial step: the partition's checked rows -> small frames.
Step = Callable[[Prepared], Sequence[pl.LazyFrame]]


def _run_steps(part: pd.DataFrame, steps: Sequence[tuple[Prepared, Step]]) -> list[list[pl.DataFrame]]:
    """Partial steps over one partition, on a worker: pandas -> arrow -> polars once, checked, every frame
    collected together (polars shares what the steps' queries have in common); the frames of each step."""
    try:
        rows = to_polars(part)
        queries: list[pl.LazyFrame] = []
        sizes = []
        for light, step in steps:
            frames = list(step(on_partition(light, rows)))
            queries += frames
            sizes.append(len(frames))
        collected = pl.collect_all(queries, engine=steps[0][0].engine)
    except RetainlibError as error:
        raise portable(error) from None
    out, start = [], 0
    for size in sizes:
        out.append(collected[start : start + size])
        start += size
    return out


def _far_of(
    part: pd.DataFrame, first_row: int, light: Prepared, median: float
) -> tuple[int, pl.DataFrame, pl.DataFrame]:
    """:func:`~retainlib.metrics._common.far_partition` of one partition's checked rows, on a worker."""
    try:
        return far_partition(on_partition(light, to_polars(part)), median, first_row)
    except RetainlibError as error:
        raise portable(error) from None


def _problems_of(
    part: pd.DataFrame, file: str | None, first_row: int, table: TableName
) -> tuple[int, list[Problem], int]:
    """One partition's rows, their problems (rows numbered from ``first_row``) and how many rows have one."""
    rows = to_polars(part)
    found, bad = partition_problems(rows, table, first_row=first_row, file=None if file is None else Path(file))
    return rows.height, found, bad


def _histogram(q: Prepared) -> list[pl.LazyFrame]:
    return [far_histogram(q)]


#: Where each partition of :func:`~retainlib.dask.read_parquet`'s frames starts: (file, first row in it, 1-based).
_ORIGINS: dict[str, tuple[tuple[str, int], ...]] = {}


def set_origins(frame: dd.DataFrame, origins: Sequence[tuple[str, int]]) -> None:
    """Record where ``frame``'s partitions come from (a file and its first row each), to name rows in errors."""
    _ORIGINS[frame._name] = tuple(origins)


def _merge(found: Sequence[Problem]) -> list[Problem]:
    """The problems of several partitions as one table's: one per (file, column, reason), counts summed, the
    first rows kept; ordered by file, then as :func:`retainlib._conform.raise_problems` orders them."""
    groups: dict[tuple[Path | None, str, str], list[Problem]] = {}
    for problem in found:
        groups.setdefault((problem.file, problem.column, problem.reason), []).append(problem)
    files = list(dict.fromkeys(problem.file for problem in found))
    merged = [
        Problem(
            table=parts[0].table,
            column=column,
            reason=reason,
            count=sum(part.count for part in parts),
            rows=pl.concat([part.rows for part in parts], how="vertical").head(SHOWN_ROWS),
            file=file,
        )
        for (file, column, reason), parts in groups.items()
    ]
    return sorted(merged, key=lambda m: (files.index(m.file), -m.count, f"{m.column}: {m.reason}"))


@attrs.define(eq=False)
class _Batch:
    """The per-customer steps of one kernel call, deferred until one is read, then run together over one shuffle.

    Attributes:
        pending: the steps not run yet: (slot, the kernel's prepared input without data, step).
        slots: each step's frames once run (``None`` before).
        error: what running them raised (raised again to any later reader).
    """

    pending: list[tuple[int, Prepared, Step]] = attrs.field(factory=list)
    slots: list[list[pl.DataFrame] | None] = attrs.field(factory=list)
    error: RetainlibError | None = None
    lock: threading.RLock = attrs.field(factory=threading.RLock)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Batch, ())  # sent to a worker inside a step's closure: nothing to run there


@attrs.frozen
class DaskPartitions:
    """A dask DataFrame as the partitions of a kernel's table (see :class:`~retainlib.metrics._common.Partitions`).

    Attributes:
        frame: the dask DataFrame as given.
        empty: its schema as an empty polars DataFrame (what :func:`~retainlib.metrics._common.prepare` checks).
        batch: the kernel call's deferred per-customer steps.
    """

    frame: dd.DataFrame
    empty: pl.DataFrame
    batch: _Batch = attrs.field(factory=_Batch, eq=False, repr=False)

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

    def run(self, p: Prepared, step: Step, *, customers: bool = True) -> list[pl.LazyFrame]:
        """``step`` on every partition, on the workers; its frames concatenated here.

        ``customers=True`` (a step over customers) runs it on the frame partitioned
        by customer (:func:`by_customer`: a dask hash shuffle unless it already is),
        deferred: the frames are read (or :meth:`flush` called) once the kernel has
        made all its per-customer steps, and they all run in one computation over
        one shuffle, each partition's rows converted and checked once for all.
        Any error on a worker is raised on the client, and no partial result is
        returned; a :class:`~retainlib.errors.DataError` names the rows by their file
        and row (see :meth:`locate`).
        """
        light = attrs.evolve(p, frame=pl.LazyFrame(), partitions=None, customers=None)
        if not customers:
            (frames,) = self._compute(self.frame, [(light, step)])
            return [frame.lazy() for frame in frames]
        (empty,) = _run_steps(self.frame._meta, [(light, step)])  # the frames' schemas: the step over no rows
        batch = self.batch
        with batch.lock:
            slot = len(batch.slots)
            batch.slots.append(None)
            batch.pending.append((slot, light, step))
        return [pl.defer(functools.partial(self._read, slot, k), schema=frame.schema) for k, frame in enumerate(empty)]

    def flush(self) -> None:
        """Run the deferred per-customer steps: one computation, over one partitioning by customer."""
        batch = self.batch
        with batch.lock:
            if batch.error is not None:
                raise batch.error
            if not batch.pending:
                return
            pending = list(batch.pending)
            try:
                results = self._compute(by_customer(self.frame), [(light, step) for _, light, step in pending])
            except RetainlibError as error:
                batch.error = error
                raise
            for (slot, _, _), frames in zip(pending, results, strict=True):
                batch.slots[slot] = frames
            batch.pending.clear()

    def _read(self, slot: int, k: int) -> pl.DataFrame:
        """Frame ``k`` of the deferred step in ``slot`` (read by polars: an error travels as polars carries it)."""
        try:
            self.flush()
        except RetainlibError as error:
            raise carried(error) from None
        frames = self.batch.slots[slot]
        assert frames is not None
        return frames[k]

    def _compute(self, frame: dd.DataFrame, steps: Sequence[tuple[Prepared, Step]]) -> list[list[pl.DataFrame]]:
        """The steps over every partition of ``frame``: each step's frames, concatenated over the partitions."""
        try:
            results: tuple[list[list[pl.DataFrame]], ...] = compute_partitions(frame, _run_steps, steps)
        except DataError:
            located = self.locate(steps[0][0].table)
            if located is not None:
                raise located from None
            raise
        except RetainlibError:
            raise
        except Exception as exc:  # a partition failed inside dask (reading it, a lost worker...): no partial result
            raise RetainlibError(
                f"a partition of the dask DataFrame failed on the cluster, so no result: {type(exc).__name__}: {exc}"
            ) from exc
        if not results:  # no partitions: the steps over no rows
            return _run_steps(self.frame._meta, steps)
        return [
            [pl.concat([r[s][k] for r in results], how="vertical", rechunk=True) for k in range(len(results[0][s]))]
            for s in range(len(steps))
        ]

    def _origins(self, heights: Sequence[int] | None = None) -> list[tuple[str | None, int]]:
        """Each partition's file (``None`` when not known) and the number of its first row there.

        Partitions of :func:`~retainlib.dask.read_parquet` are pieces of files;
        any other frame's rows are numbered through the whole frame, from the
        partitions' ``heights`` (all starting at 1 without them).
        """
        known = _ORIGINS.get(self.frame._name)
        if known is not None and len(known) == self.frame.npartitions:
            return [(file, first) for file, first in known]
        if heights is None:
            return [(None, 1)] * self.frame.npartitions
        starts = itertools.accumulate(heights, initial=1)
        return [(None, start) for start, _ in zip(starts, heights, strict=False)]

    def locate(self, table: TableName) -> DataError | None:
        """The :class:`DataError` of the whole table, its rows named by file and row (or row of the whole frame).

        Run when a step failed on some partition's rows: the partitions as
        given (before any shuffle, which loses the rows' places) are checked
        again, each numbering its rows from its first row in its file (or in
        the frame).  ``None`` when the checks find nothing (the error came from
        a kernel's own check).
        """
        origins = self._origins()
        found: tuple[tuple[int, list[Problem], int], ...] = compute_partitions(
            self.frame, _problems_of, table, each=origins
        )
        if not any(problems for _, problems, _ in found):
            return None
        unknown = all(file is None for file, _ in origins)
        problems: list[Problem] = []
        start = 0
        for height, mine, _ in found:
            if unknown:  # numbered from 1 in each partition: moved to the frame's numbering
                problems += [attrs.evolve(m, rows=m.rows.with_columns(pl.col("row") + start)) for m in mine]
            else:
                problems += mine
            start += height
        return DataError(_merge(problems), rows=sum(bad for _, _, bad in found))

    def far_rows(self, p: Prepared) -> list[Problem]:
        """``_far_rows`` of :mod:`retainlib.metrics._common` over the partitions: two passes over the table as given
        (rows per period, for the median; then the far rows, numbered by file and row, or row of the frame)."""
        light = attrs.evolve(p, frame=pl.LazyFrame(), partitions=None, customers=None)
        try:
            histograms: tuple[list[list[pl.DataFrame]], ...] = compute_partitions(
                self.frame, _run_steps, [(light, _histogram)]
            )
            frames = [h[0][0] for h in histograms]
            median = histogram_median(pl.concat(frames, how="vertical")) if frames else None
            if median is None:
                return []
            origins = self._origins([int(h["_n"].sum()) for h in frames])
            parts: tuple[tuple[int, pl.DataFrame, pl.DataFrame], ...] = compute_partitions(
                self.frame, _far_of, light, median, each=[(first,) for _, first in origins]
            )
        except RetainlibError:
            raise
        except Exception as exc:
            raise RetainlibError(
                f"a partition of the dask DataFrame failed on the cluster, so no result: {type(exc).__name__}: {exc}"
            ) from exc
        return far_problems(
            p, [(None if file is None else Path(file), part) for (file, _), part in zip(origins, parts, strict=True)]
        )
