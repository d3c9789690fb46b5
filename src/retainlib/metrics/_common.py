"""What every metric kernel shares: input handling, options, activity and the observation window.

A kernel is written in four steps:

1. :func:`prepare` turns the input (a canonical polars DataFrame or LazyFrame,
   or a :class:`~retainlib.Dataset`) into a lazy canonical table, checks the
   common options (``period``, ``by``, ``as_of``, ``tz``, ``week_start``) and
   joins ``by`` columns from the customers table when the activity table lacks
   them;
2. :func:`activity` reduces it to one row per (segment, customer, period index)
   with the period's revenue and order count: the additive partial aggregate
   every retention metric starts from (and that merges across partitions);
3. the kernel computes additive counts and sums, then ratios last;
4. :func:`finish` returns the same kind of frame the caller gave (a Dataset
   yields a DataFrame).

Kernels stay lazy end to end: no ``collect`` in the middle, no Python loop over
rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Literal, TypeAlias, TypeVar

import attrs
import polars as pl

from retainlib import _conform
from retainlib._dataset import Dataset
from retainlib.calendar import Calendar, PeriodName, WeekStart, check_tz
from retainlib.errors import CurrencyError, OptionError, SchemaError
from retainlib.tables import MONEY, TABLES, TIMESTAMP, TableName

__all__ = [
    "ANY_ACTIVITY",
    "ENGINES",
    "MASK",
    "MASK_PERIODS",
    "PERIOD_INDEX",
    "By",
    "Data",
    "Engine",
    "MaskPlan",
    "Prepared",
    "active_rows",
    "activity",
    "as_of_instant",
    "bit_counts",
    "by_customer_parts",
    "check_engine",
    "check_single_currency",
    "customer_parts",
    "finish",
    "is_complete",
    "last_instant",
    "mask_period_counts",
    "mask_plan",
    "over_by",
    "periods",
    "prepare",
    "safe_ratio",
    "window",
]

#: What a kernel accepts.
Data: TypeAlias = pl.DataFrame | pl.LazyFrame | Dataset
F = TypeVar("F", pl.DataFrame, pl.LazyFrame)
#: Segment columns: one name or several.
By: TypeAlias = str | Sequence[str] | None
#: Tables that define activity, in the order a Dataset is searched.
ANY_ACTIVITY: tuple[TableName, ...] = ("orders", "subscriptions", "events")
#: Name of the integer period-index column inside kernels.
PERIOD_INDEX = "_period"
#: The polars engine that runs a kernel's collects: ``"auto"`` (polars' choice: the streaming engine
#: in polars 2), ``"streaming"`` (bounded memory, larger-than-memory data) or ``"in-memory"``.
Engine: TypeAlias = Literal["auto", "streaming", "in-memory"]
ENGINES: tuple[Engine, ...] = ("auto", "streaming", "in-memory")


def check_engine(engine: object) -> Engine:
    """``engine`` if it names a polars engine, else :class:`OptionError`."""
    for name in ENGINES:
        if engine == name:
            return name
    raise OptionError(f"engine is one of {', '.join(ENGINES)}", option="engine", value=engine)


@attrs.frozen(kw_only=True)
class Prepared:
    """A kernel's input, checked and made lazy.

    Attributes:
        frame: the canonical table (plus ``by`` columns), lazy.
        table: which canonical table it is.
        eager: whether the caller gave eager data (the result is collected).
        by: segment columns, in order.
        calendar: period, time zone and week start.
        as_of: end of observation (UTC), or ``None`` for "the last timestamp in the data".
        customers: the customers table, when a Dataset provided one.
        engine: the polars engine of the kernel's collects (its result, and its small pre-passes).
    """

    frame: pl.LazyFrame
    table: TableName
    eager: bool
    by: tuple[str, ...]
    calendar: Calendar
    as_of: dt.datetime | None
    customers: pl.LazyFrame | None = None
    engine: Engine = "auto"


def _by_columns(by: By) -> tuple[str, ...]:
    if by is None:
        return ()
    if isinstance(by, str):
        return (by,)
    cols = tuple(by)
    if not all(isinstance(c, str) for c in cols):
        raise OptionError("by is a column name or a sequence of column names", option="by", value=by)
    if len(set(cols)) != len(cols):
        raise OptionError("by names a column twice", option="by", value=by)
    return cols


def as_of_instant(as_of: dt.datetime | dt.date | None, tz: str) -> dt.datetime | None:
    """The end of observation as a UTC instant.

    An aware datetime is taken as it is; a date means the end of that local day
    in the reporting time zone (observation runs through the whole day).
    """
    if as_of is None:
        return None
    if isinstance(as_of, dt.datetime):
        if as_of.tzinfo is None or as_of.utcoffset() is None:
            raise OptionError(
                "as_of is a naive datetime: give it a time zone, or pass a date", option="as_of", value=as_of
            )
        return as_of.astimezone(dt.UTC)
    if isinstance(as_of, dt.date):
        from retainlib.calendar import Period

        return Period(kind="day", start=as_of, tz=tz).end_instant
    raise OptionError("as_of is a datetime or a date", option="as_of", value=as_of)


def _which_table(columns: Sequence[str], allowed: Sequence[TableName], metric: str) -> TableName:
    for name in allowed:
        if all(c in columns for c in TABLES[name].required):
            return name
    wanted = " or ".join(allowed)
    raise SchemaError(
        f"{metric} needs {wanted}; the frame's columns ({', '.join(columns[:12])}) fit none of them "
        f"(required: {'; '.join(f'{t}: ' + ', '.join(TABLES[t].required) for t in allowed)})",
        table=allowed[0],
        column="*",
        expected=wanted,
        actual=None,
    )


def prepare(
    data: Data,
    *,
    metric: str,
    tables: Sequence[TableName],
    by: By = None,
    period: PeriodName = "month",
    tz: str = "UTC",
    week_start: WeekStart = 0,
    as_of: dt.datetime | dt.date | None = None,
    table: TableName | None = None,
    engine: Engine = "auto",
) -> Prepared:
    """Check a kernel's input and common options; see the module docs.

    ``tables`` lists the tables the metric accepts, in order of preference;
    ``table`` picks one explicitly (for a Dataset holding several).
    """
    calendar = Calendar(period=period, tz=check_tz(tz), week_start=week_start)
    engine = check_engine(engine)
    by_cols = _by_columns(by)
    end = as_of_instant(as_of, calendar.tz)
    if table is not None and table not in tables:
        raise OptionError(f"{metric} works on {' or '.join(tables)}, not {table}", option="table", value=table)
    customers: pl.LazyFrame | None = None
    if isinstance(data, Dataset):
        candidates = [table] if table is not None else list(tables)
        chosen = next((t for t in candidates if getattr(data, t) is not None), None)
        if chosen is None:
            raise SchemaError(
                f"{metric} needs a {' or '.join(candidates)} table; the dataset has "
                f"{', '.join(data.tables) or 'no tables'}",
                table=candidates[0],
                column="*",
                expected="present",
                actual=None,
            )
        frame = data.require(chosen)
        customers = data.customers
        eager = True
    elif isinstance(data, pl.DataFrame | pl.LazyFrame):
        eager = isinstance(data, pl.DataFrame)
        lazy = data.lazy()
        chosen = table or _which_table(lazy.collect_schema().names(), tables, metric)
        conformed = _conform.conform(lazy, TABLES[chosen], trust_canonical=True, check_duplicates=False)
        frame = conformed.output(conformed.frame)
    else:
        raise OptionError(
            f"{metric} takes a polars DataFrame or LazyFrame or a retainlib Dataset, got {type(data).__name__}",
            option="data",
            value=type(data).__name__,
        )
    frame = _attach_by(frame, by_cols, customers, chosen)
    return Prepared(
        frame=frame,
        table=chosen,
        eager=eager,
        by=by_cols,
        calendar=calendar,
        as_of=end,
        customers=customers,
        engine=engine,
    )


def _attach_by(
    frame: pl.LazyFrame, by: tuple[str, ...], customers: pl.LazyFrame | None, table: TableName
) -> pl.LazyFrame:
    present = frame.collect_schema().names()
    missing = [c for c in by if c not in present]
    if not missing:
        return frame
    from_customers = customers.collect_schema().names() if customers is not None else []
    absent = [c for c in missing if c not in from_customers]
    if absent:
        where = f"the {table} table" + (" or the customers table" if customers is not None else "")
        raise SchemaError(
            f"by column(s) {absent} not found in {where}; columns: {', '.join(present)}",
            table=table,
            column=absent[0],
            expected="present",
            actual=None,
        )
    assert customers is not None
    segments = customers.select("customer_id", *missing).unique(subset="customer_id", keep="first")
    return frame.join(segments, on="customer_id", how="left", maintain_order="left")


def finish(result: pl.LazyFrame, prepared: Prepared) -> pl.DataFrame | pl.LazyFrame:
    """The result in the caller's kind: collected for eager input and Datasets, else lazy."""
    return result.collect(engine=prepared.engine) if prepared.eager else result


def safe_ratio(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    """``numerator / denominator`` as Float64, null (never NaN or inf) when the denominator is 0 or null."""
    return pl.when(denominator != 0).then(numerator.cast(pl.Float64) / denominator.cast(pl.Float64))


def over_by(expr: pl.Expr, by: Sequence[str]) -> pl.Expr:
    """``expr`` evaluated per ``by`` segment (over the whole frame without segments)."""
    return expr.over(list(by)) if by else expr


def _subscription_activity(p: Prepared) -> pl.LazyFrame:
    """(by, customer, period) for every period a segment with mrr > 0 overlaps; revenue = mrr summed.

    A segment ``[started_at, ended_at)`` overlaps period ``q`` when it starts
    before ``q`` ends and ends after ``q`` starts.  Running segments (and
    segments ending after the end of observation) run through the end of
    observation: ``as_of`` (exclusive), or the segment's last timestamp in the
    data (inclusive), per ``by`` segment.
    """
    cal = p.calendar
    frame = p.frame
    if p.as_of is not None:
        frame = frame.filter(pl.col("started_at") < pl.lit(p.as_of, dtype=TIMESTAMP))
        stop = cal.timestamp_index(pl.lit(p.as_of, dtype=TIMESTAMP) - pl.duration(microseconds=1))
    else:
        stop = cal.timestamp_index(over_by(last_instant(p), p.by))
    frame = frame.filter(pl.col("mrr") > 0)
    first = cal.timestamp_index("started_at")
    closed = cal.timestamp_index(pl.col("ended_at") - pl.duration(microseconds=1))
    last = pl.when(pl.col("ended_at").is_null()).then(stop).otherwise(pl.min_horizontal(closed, stop))
    keys = [*p.by, "customer_id"]
    return (
        frame.with_columns(_first=first, _last=last)
        # A zero-length segment (ended_at == started_at) never runs.
        .filter((pl.col("_last") >= pl.col("_first")) & pl.coalesce(pl.col("ended_at") > pl.col("started_at"), True))
        .select(*keys, "mrr", pl.int_ranges("_first", pl.col("_last") + 1).alias(PERIOD_INDEX))
        .explode(PERIOD_INDEX)
        .group_by(*keys, PERIOD_INDEX)
        .agg(pl.col("mrr").sum().alias("revenue"), pl.len().cast(pl.UInt32).alias("orders"))
    )


def activity(p: Prepared, *, events: Sequence[str] | None = None) -> pl.LazyFrame:
    """One row per active (by..., customer_id, period index) with revenue and order count.

    Columns: the ``by`` columns, ``customer_id``, ``_period`` (Int64 index),
    ``revenue`` (exact money; for subscriptions the mrr running; null for events) and
    ``orders`` (orders, or segments, or events in the period).  Timestamps after
    ``as_of`` are left out.
    """
    cal = p.calendar
    keys = [*p.by, "customer_id"]
    if p.table == "subscriptions":
        return _subscription_activity(p)
    revenue = pl.col("amount").sum() if p.table == "orders" else pl.lit(None, dtype=MONEY)
    return (
        active_rows(p, events)
        .group_by(*keys, cal.timestamp_index(TABLES[p.table].time).alias(PERIOD_INDEX))
        .agg(revenue.alias("revenue"), pl.len().cast(pl.UInt32).alias("orders"))
    )


def active_rows(p: Prepared, events: Sequence[str] | None) -> pl.LazyFrame:
    """The rows of an orders or events table that count as activity (before ``as_of``, chosen events)."""
    frame = p.frame
    if p.as_of is not None:
        frame = frame.filter(pl.col(TABLES[p.table].time) < pl.lit(p.as_of, dtype=TIMESTAMP))
    if p.table == "events" and events is not None:
        frame = frame.filter(pl.col("event").is_in(list(events)))
    return frame


#: Activity spanning at most this many periods takes the bit-mask plan (see :func:`mask_plan`).
MASK_PERIODS = 62
#: Name of the per-customer activity bit-mask column.
MASK = "_mask"


@attrs.frozen(kw_only=True)
class MaskPlan:
    """Per-customer activity as a bit mask: bit ``j`` set when active in period ``base + j``.

    Attributes:
        base: period index of bit 0 (the first period with activity in the data).
        size: number of periods from the first to the last with activity (at most :data:`MASK_PERIODS`).
        masks: lazy ``(by..., _mask, _w)``: each distinct mask of each segment and how many customers
            have it; with ``first_repeats=True`` also ``_twice`` (Boolean: two or more rows in the
            first active period), the masks then being counted per (mask, ``_twice``).
        rows: number of input rows (from the pre-pass), for the partitions of the kernel's other
            per-customer queries (:func:`customer_parts`).
        ends: each segment's end of observation (``by`` columns and ``_end``), read by the
            pre-pass when it is the last timestamp of the rows the masks are made from (no
            ``as_of``, no event filter), for :func:`window`; else ``None``.
    """

    base: int
    size: int
    masks: pl.LazyFrame
    rows: int
    ends: pl.LazyFrame | None = None

    def bit(self, mask: pl.Expr, j: int) -> pl.Expr:
        """Whether bit ``j`` of ``mask`` is set (Boolean)."""
        return (mask & (1 << j)) != 0

    def first(self, mask: pl.Expr) -> pl.Expr:
        """The offset (from ``base``) of the first active period of a mask."""
        return mask.bitwise_trailing_zeros().cast(pl.Int64)

    def last(self, mask: pl.Expr) -> pl.Expr:
        """The offset (from ``base``) of the last active period of a mask."""
        return 63 - mask.bitwise_leading_zeros().cast(pl.Int64)


#: Bits of the row number in the keys that find a customer's first and last row of the first period.
_ROW_BITS = 40
_ROW_MASK = (1 << _ROW_BITS) - 1


def mask_plan(p: Prepared, *, events: Sequence[str] | None = None, first_repeats: bool = False) -> MaskPlan | None:
    """The bit-mask plan of an orders or events table, or ``None`` when it does not apply.

    One ``group_by`` over the customers (one integer ``bitwise_or`` per
    customer, an additive and mergeable partial aggregate) replaces the
    ``(customer, period)`` activity table: with at most :data:`MASK_PERIODS`
    periods between the first and the last activity, each customer's activity
    is one Int64, and the kernels count bits over the distinct masks.

    It takes one small pre-pass (the minimum and maximum of the time column per
    segment) to fix bit 0 and check the span, and which also gives the
    segments' ends of observation when they are those maxima; it returns
    ``None`` (the caller uses :func:`activity`) for subscriptions, for no
    activity at all, and for longer spans (daily periods over years, say).  The
    masks are never partitioned: one Int64 per customer is small state (2.1 GiB
    peak at 100M orders).

    ``first_repeats=True`` adds whether a customer has two or more rows in
    their first active period (the returning customer rate and the repeat
    rate within k periods need it), still in the one ``group_by``: with ``i``
    each row's number and ``o`` its period's offset, the minima of
    ``o * 2^40 + i`` and of ``o * 2^40 + (2^40 - 1 - i)`` both fall in the
    first period, on its first and its last row; they are one row exactly when
    the period has one.  (Two more fixed-size, mergeable aggregates.)
    """
    if p.table == "subscriptions":
        return None
    time_col = TABLES[p.table].time
    rows = active_rows(p, events)
    t = pl.col(time_col)
    span = (
        rows.group_by(*p.by).agg(t.min().alias("a"), t.max().alias("_end"), pl.len().alias("n"))
        if p.by
        else rows.select(t.min().alias("a"), t.max().alias("_end"), pl.len().alias("n"))
    ).collect(engine=p.engine)
    first, last, count = span["a"].min(), span["_end"].max(), int(span["n"].sum())
    if first is None:
        return None
    # window()'s end of observation is the last timestamp of p.frame: the same rows here
    # unless as_of or an event filter left some out.
    same_rows = p.as_of is None and (p.table != "events" or events is None)
    ends = span.lazy().select(*p.by, "_end") if same_rows else None
    cal = p.calendar
    base, top = pl.select(
        cal.timestamp_index(pl.lit(first, dtype=TIMESTAMP)).alias("a"),
        cal.timestamp_index(pl.lit(last, dtype=TIMESTAMP)).alias("b"),
    ).row(0)
    size = top - base + 1
    if size > MASK_PERIODS:
        return None
    offset = cal.timestamp_index(time_col) - base
    bit = pl.lit(2, dtype=pl.Int64).pow(offset)

    keys = [*p.by, MASK]
    if first_repeats:
        row = pl.col("_row").cast(pl.Int64)
        high = offset * (1 << _ROW_BITS)
        per_customer = (
            rows.with_row_index("_row")
            .group_by(*p.by, "customer_id")
            .agg(
                bit.bitwise_or().alias(MASK),
                (high + row).min().alias("_lo"),
                (high + (_ROW_MASK - row)).min().alias("_hi"),
            )
            .select(*keys, ((pl.col("_lo") & _ROW_MASK) + (pl.col("_hi") & _ROW_MASK) != _ROW_MASK).alias("_twice"))
        )
        keys.append("_twice")
    else:
        per_customer = rows.group_by(*p.by, "customer_id").agg(bit.bitwise_or().alias(MASK))
    masks = per_customer.group_by(*keys).agg(pl.len().cast(pl.Int64).alias("_w"))
    return MaskPlan(base=base, size=size, masks=masks, rows=count, ends=ends)


def last_instant(p: Prepared) -> pl.Expr:
    """The end of observation as an aggregate expression over ``p.frame``: ``as_of`` or the last timestamp."""
    if p.as_of is not None:
        return pl.lit(p.as_of, dtype=TIMESTAMP)
    if p.table == "subscriptions":
        return pl.max_horizontal(pl.col("started_at").max(), pl.col("ended_at").max())
    return pl.col(TABLES[p.table].time).max()


def window(p: Prepared, active: pl.LazyFrame, ends: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """Per segment: the observation window as period indices and its end instant.

    Columns: the ``by`` columns, ``_first`` (first period with activity),
    ``_last`` (the period holding the end of observation) and ``_end`` (the end
    instant: ``as_of``, or the last timestamp in the segment's data).  ``ends``
    gives the ``_end`` per segment when a pre-pass already read it
    (:attr:`MaskPlan.ends`); else it is one more aggregate over ``p.frame``.
    """
    cal = p.calendar
    if ends is None:
        ends = (
            p.frame.group_by(*p.by).agg(last_instant(p).alias("_end"))
            if p.by
            else p.frame.select(last_instant(p).alias("_end"))
        )
    firsts = (
        active.group_by(*p.by).agg(pl.col(PERIOD_INDEX).min().alias("_first"))
        if p.by
        else active.select(pl.col(PERIOD_INDEX).min().alias("_first"))
    )
    joined = firsts.join(ends, on=list(p.by), how="inner", nulls_equal=True) if p.by else firsts.join(ends, how="cross")
    # The last period observed: the one holding the last timestamp (inclusive), or,
    # with as_of (exclusive), the one holding the instant just before it.
    end = pl.col("_end") - pl.duration(microseconds=1) if p.as_of is not None else pl.col("_end")
    # No activity at all (empty input): no window, rather than a window of nulls.
    return joined.filter(pl.col("_first").is_not_null()).with_columns(
        _last=pl.max_horizontal(cal.timestamp_index(end), pl.col("_first"))
    )


def periods(bounds: pl.LazyFrame) -> pl.LazyFrame:
    """One row per period of each window of :func:`window`: its columns plus ``_period``."""
    return bounds.with_columns(pl.int_ranges("_first", pl.col("_last") + 1).alias(PERIOD_INDEX)).explode(PERIOD_INDEX)


def is_complete(cal: Calendar, period_index: pl.Expr, end: pl.Expr) -> pl.Expr:
    """Whether the period with this index ends at or before the end of observation."""
    return cal.instant(cal.start(period_index + 1)) <= end


Kind = Literal["classic", "rolling"]


def check_single_currency(p: Prepared) -> None:
    """Raise :class:`CurrencyError` when amounts of several currencies would be summed together.

    Money is summed per ``by`` segment, so with ``"currency"`` among the ``by``
    columns any mix is fine.  Otherwise this runs one small query over the
    currency column (a validation pre-pass, not part of the kernel's plan).
    """
    if "currency" in p.by:
        return
    found = (
        p.frame.select(pl.col("currency").unique().sort()).collect(engine=p.engine).to_series().drop_nulls().to_list()
    )
    CurrencyError.check(found, f"the {p.table}")


def bit_counts(
    frame: pl.LazyFrame,
    keys: Sequence[str],
    size: int,
    counts: Mapping[str, Callable[[int], pl.Expr]],
    *,
    name: str,
    start: int = 0,
) -> pl.LazyFrame:
    """Per ``keys`` and ``j`` in ``range(size)``: the summed weight ``_w`` of the rows where each condition holds.

    The long result has the ``keys``, ``name`` (``start + j``) and one UInt32
    column per entry of ``counts`` (a function of ``j`` giving a Boolean
    expression over ``frame``'s columns).
    """
    weight = pl.col("_w")
    aggs = [(fn(j).cast(pl.Int64) * weight).sum().alias(f"{col}{j}") for col, fn in counts.items() for j in range(size)]
    wide = frame.group_by(*keys).agg(aggs) if keys else frame.select(aggs)
    return (
        wide.select(
            *keys,
            pl.int_ranges(start, start + size).alias(name),
            *(pl.concat_list([f"{col}{j}" for j in range(size)]).alias(col) for col in counts),
        )
        .explode(name, *counts)
        .with_columns(pl.col(*counts).cast(pl.UInt32))
    )


def mask_period_counts(
    p: Prepared, plan: MaskPlan, counts: Mapping[str, Callable[[int], pl.Expr]]
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Per segment and period from the plan's masks: the ``counts`` (see :func:`bit_counts`) and the window.

    ``counts`` maps each output column to a condition on the masks' columns for bit
    ``j``; the result's periods are ``PERIOD_INDEX`` = ``plan.base + j``.  The second
    frame is :func:`window` of the segments (their first period is the lowest bit
    of any mask).
    """
    tallies = bit_counts(plan.masks, p.by, plan.size, counts, name=PERIOD_INDEX, start=plan.base)
    firsts = plan.masks.select(*p.by, (plan.base + plan.first(pl.col(MASK))).alias(PERIOD_INDEX))
    return tallies, window(p, firsts, plan.ends)


#: Rows per customer partition of the kernels whose per-customer state is large (see :func:`by_customer_parts`).
PARTITION_ROWS = 35_000_000


def customer_parts(rows: int) -> int:
    """How many customer partitions :func:`by_customer_parts` uses for ``rows`` rows: one per :data:`PARTITION_ROWS`."""
    return max(1, -(-int(rows) // PARTITION_ROWS))


def by_customer_parts(
    frame: pl.LazyFrame, kernel: Callable[[pl.LazyFrame], pl.LazyFrame], parts: int, engine: Engine
) -> pl.LazyFrame:
    """``kernel`` over ``frame``, run on ``parts`` disjoint hash partitions of the customers one after another.

    A per-customer aggregate holds state for every customer at once (tens of
    millions at 100M orders).  Customers never span partitions, so running
    ``kernel`` on each partition and concatenating the results gives the same
    rows with about ``1/parts`` of the state.  Each partition is its own
    collect with ``engine``, deferred to the collect of the returned
    LazyFrame: the partitions of one lazy ``concat`` are not freed one by one
    by the streaming engine (measured at 100M orders: 5.4 GiB peak for three
    partitions in one query, 3.4 GiB collected in turn).  With one part it is
    just ``kernel(frame)``.  ``parts`` comes from :func:`customer_parts` of the
    input's row count.
    """
    if parts <= 1:
        return kernel(frame)
    bucket = pl.col("customer_id").hash(seed=0) % parts
    queries = [kernel(frame.filter(bucket == i)) for i in range(parts)]

    def run() -> pl.DataFrame:
        return pl.concat([query.collect(engine=engine) for query in queries], rechunk=False)

    return pl.defer(run, schema=queries[0].collect_schema())
