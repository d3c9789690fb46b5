"""Retention after support: do customers whose ticket was solved stay as often as the others?

See the spec section "Retention after support" and ``docs/metrics/support_retention.md``.

For a period ``p`` and a window ``W``:

* the *supported* group is the customers with at least one ticket solved in
  ``p`` (``solved_at`` in ``p``, local calendar);
* the *baseline* group is the customers active in ``p`` (an order in ``p``, or
  a segment with ``mrr > 0`` overlapping ``p``) with no ticket solved in ``p``;
* a customer of either group is *retained* when active in
  ``(end(p), end(p) + W]`` (``end(p)`` is the first instant of the next period);
* periods with ``end(p) + W`` after ``as_of`` are left out.

Within the supported group the customers are also broken down by the
satisfaction and the resolution time (``solved_at - opened_at``) of their last
ticket solved in ``p``.

The kernel is lazy and never joins every period with every order.  Each
(segment, customer) of the activity gets an integer code, in (segment,
customer) order.  The orders are numbered by one pass over their distinct
customers (the ids are sorted once per customer, not once per order) and
sorted by one Int128 key ``code * 2^64 + time`` that carries no id; the
subscriptions, far fewer rows, are sorted by (segment, customer, time) and
numbered as they come.  The active cells are the ends of runs of (code,
period); the tickets are sorted by (segment, customer, period, time) and the
last row of each (customer, period) run is the customer's last ticket.  The
retention test is then an as-of join on the Int128 key (the first order after
``end(p)``, or the furthest end of the segments started by ``end(p) + W``):
no ``by=`` (which polars hashes row by row) and no string comparison.  The
baseline is counted as the active cells less the supported ones that are
active.

Above :data:`~retainlib.metrics._common.PARTITION_ROWS` orders, the customers
are split in hash partitions and the steps above run on one partition at a
time, each its own collect; the counts per (segment, period) add up.  At 100M
orders (three partitions) this keeps the peak near 3 GiB, against about 8 GiB
for the orders sorted whole.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Callable, Sequence
from typing import Final, Literal, Unpack, overload

import attrs
import polars as pl

from retainlib._dataset import Dataset
from retainlib.calendar import Calendar, PeriodName, WeekStart
from retainlib.errors import OptionError, SchemaError
from retainlib.metrics import _common
from retainlib.metrics._common import (
    PERIOD_INDEX,
    By,
    Data,
    Engine,
    Prepared,
    customer_parts,
    guard_window,
    last_instant,
    prepare,
    safe_ratio,
)
from retainlib.metrics._options import AsOf, KernelOptions
from retainlib.tables import TIMESTAMP, TableName

__all__ = ["DEFAULT_RESOLUTION_BUCKETS", "ActivitySource", "SupportOptions", "support_retention"]

#: Which table defines activity: ``"auto"`` takes orders when the dataset has them, else subscriptions.
ActivitySource = Literal["auto", "orders", "subscriptions"]
#: Default resolution-time bucket boundaries: < 1 day, 1-3 days, 3-7 days, >= 7 days.
DEFAULT_RESOLUTION_BUCKETS: Final[tuple[dt.timedelta, ...]] = (
    dt.timedelta(days=1),
    dt.timedelta(days=3),
    dt.timedelta(days=7),
)

_METRIC: Final = "support_retention"
_SOURCES: Final[tuple[TableName, ...]] = ("orders", "subscriptions")
_SEG: Final = "_seg"  # a constant segment column standing in for "no by"
_FOREVER: Final = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)  # the end of a segment still running


_MAX_WINDOW_DAYS: Final = dt.timedelta.max.days  # what a datetime.timedelta holds


def _check_window(window: object) -> dt.timedelta:
    if isinstance(window, dt.timedelta):
        value = window
    elif (
        isinstance(window, int | float)
        and not isinstance(window, bool)
        and math.isfinite(window)
        and abs(window) <= _MAX_WINDOW_DAYS
    ):
        value = dt.timedelta(days=window)
    else:
        raise OptionError(
            f"window is a datetime.timedelta or a number of days (at most {_MAX_WINDOW_DAYS:,}), got {window!r}",
            option="window",
            value=window,
        )
    if value <= dt.timedelta(0):
        raise OptionError(f"window must be positive, got {value}", option="window", value=window)
    return value


def _check_buckets(buckets: object) -> tuple[dt.timedelta, ...]:
    if isinstance(buckets, str) or not isinstance(buckets, Sequence) or not buckets:
        raise OptionError(
            "resolution_buckets is a non-empty sequence of boundaries (timedelta or days), "
            f"such as (1, 3, 7); got {buckets!r}",
            option="resolution_buckets",
            value=buckets,
        )
    bounds = []
    for b in buckets:
        try:
            bounds.append(_check_window(b))
        except OptionError:
            raise OptionError(
                f"resolution_buckets holds positive timedeltas or numbers of days, got {b!r}",
                option="resolution_buckets",
                value=buckets,
            ) from None
    if any(lo >= hi for lo, hi in itertools.pairwise(bounds)):
        raise OptionError(
            f"resolution_buckets must be strictly increasing, got {buckets!r}",
            option="resolution_buckets",
            value=buckets,
        )
    return tuple(bounds)


def _duration_label(value: dt.timedelta) -> str:
    """A short label for a bucket boundary: ``1d``, ``12h``, ``30min``, ``90s``."""
    micros = value // dt.timedelta(microseconds=1)
    for unit, size in (("d", 86_400_000_000), ("h", 3_600_000_000), ("min", 60_000_000), ("s", 1_000_000)):
        if micros % size == 0:
            return f"{micros // size}{unit}"
    return f"{value.total_seconds():g}s"


def _resolution_labels(buckets: Sequence[dt.timedelta | float]) -> list[str]:
    """The ``group`` labels of the resolution buckets, shortest first.

    Boundaries ``b1 < b2 < ... < bn`` make the buckets ``[0, b1)``,
    ``[b1, b2)``, ..., ``[bn, inf)``.

    Examples
    --------
    >>> _resolution_labels([1, 3, 7])
    ['resolution: <1d', 'resolution: 1d-3d', 'resolution: 3d-7d', 'resolution: >=7d']
    """
    names = [_duration_label(b) for b in _check_buckets(buckets)]
    labels = [f"<{names[0]}"]
    labels += [f"{lo}-{hi}" for lo, hi in itertools.pairwise(names)]
    labels.append(f">={names[-1]}")
    return [f"resolution: {label}" for label in labels]


_SATISFACTION: Final = ("good", "bad", "unrated")


def _label_rows(buckets: tuple[dt.timedelta, ...]) -> list[tuple[str, str]]:
    """Every (breakdown, group) of the output, in output order."""
    rows = [("group", "supported"), ("group", "baseline")]
    rows += [("satisfaction", f"satisfaction: {s}") for s in _SATISFACTION]
    rows += [("resolution", label) for label in _resolution_labels(buckets)]
    return rows


def _bucket(resolution: pl.Expr, buckets: tuple[dt.timedelta, ...]) -> pl.Expr:
    labels = _resolution_labels(buckets)
    expr: pl.Expr = pl.lit(labels[-1])
    for bound, label in reversed(list(zip(buckets, labels, strict=False))):
        expr = pl.when(resolution < pl.lit(bound)).then(pl.lit(label)).otherwise(expr)
    return expr


def _join(
    left: pl.LazyFrame, right: pl.LazyFrame, on: Sequence[str], how: Literal["inner", "left", "anti"]
) -> pl.LazyFrame:
    """A join on segment keys where a null segment value is a value like any other."""
    return left.join(right, on=list(on), how=how, nulls_equal=True)


def _segmented(p: Prepared) -> Prepared:
    """Without ``by``, a constant segment column, so that every step groups by segment the same way."""
    if p.by:
        return p
    return attrs.evolve(p, frame=p.frame.with_columns(pl.lit(0, dtype=pl.Int8).alias(_SEG)), by=(_SEG,))


def _activity_source(present: Sequence[TableName], choice: object, given: str) -> TableName:
    """The table that defines activity: ``choice``, or with ``"auto"`` the first of ``present``.

    ``given`` says what the caller passed, for the error when the table is absent.
    """
    OptionError.one_of(
        choice,
        ("auto", *_SOURCES),
        option="activity",
        message=f"activity is 'auto', 'orders' or 'subscriptions', got {choice!r}",
    )
    wanted = [t for t in _SOURCES if t in present and choice in ("auto", t)]
    if not wanted:
        needed = "an orders or subscriptions table" if choice == "auto" else f"a {choice} table (activity={choice!r})"
        raise SchemaError(
            f"{_METRIC} needs {needed} to tell who is active; {given}",
            table="orders" if choice == "auto" else str(choice),
            column="*",
            expected="present",
            actual=None,
        )
    return wanted[0]


def _inputs(
    data: object, orders: pl.DataFrame | pl.LazyFrame | None, subscriptions: pl.DataFrame | pl.LazyFrame | None
) -> tuple[dict[TableName, Data], bool]:
    """The tickets and the activity tables (a Dataset stands for each table it holds), and whether eager."""
    frames: dict[TableName, pl.DataFrame | pl.LazyFrame | None] = {"orders": orders, "subscriptions": subscriptions}
    if isinstance(data, Dataset):
        for name, frame in frames.items():
            if frame is not None:
                raise OptionError(
                    f"{name}= goes with a tickets frame; a Dataset holds its own tables "
                    f"(Dataset(tickets=..., {name}=...))",
                    option=name,
                    value=type(frame).__name__,
                )
        every: dict[TableName, Data] = {"tickets": data, "orders": data, "subscriptions": data}
        return every, True
    if not isinstance(data, pl.DataFrame | pl.LazyFrame):
        raise OptionError(
            f"{_METRIC} takes a tickets DataFrame or LazyFrame (with orders= or subscriptions=), or a "
            f"retainlib Dataset holding tickets and orders or subscriptions; got {type(data).__name__}",
            option="tickets",
            value=type(data).__name__,
        )
    tables: dict[TableName, Data] = {"tickets": data}
    tables.update({name: frame for name, frame in frames.items() if frame is not None})
    return tables, isinstance(data, pl.DataFrame)


def _observed(p: Prepared) -> Prepared:
    """The activity rows that can make a customer active, cut at ``as_of``.

    Subscriptions: segments with ``mrr > 0`` that run at some instant
    (``ended_at`` null or after ``started_at``).  With an explicit ``as_of``
    (exclusive, as everywhere in retainlib) orders and segment starts at or
    after it are not observed.
    """
    frame = p.frame
    if p.table == "subscriptions":
        frame = frame.filter(
            (pl.col("mrr") > 0) & (pl.col("ended_at").is_null() | (pl.col("ended_at") > pl.col("started_at")))
        )
        if p.as_of is not None:
            frame = frame.filter(pl.col("started_at") < pl.lit(p.as_of, dtype=TIMESTAMP))
    elif p.as_of is not None:
        frame = frame.filter(pl.col("ordered_at") < pl.lit(p.as_of, dtype=TIMESTAMP))
    return attrs.evolve(p, frame=frame)


#: The code of a supported customer without any activity: below every real code, never equal to one.
_NO_CODE: Final = -1
_CODE_SHIFT: Final = 2**64


def _key(code: str, value: str | pl.Expr) -> pl.Expr:
    """``(code, value)`` as one Int128 that sorts as the pair: ``code * 2^64 + value``.

    ``value`` is an Int64 or a timestamp (its microseconds), so a code's keys
    fall in ``[code * 2^64 - 2^63, code * 2^64 + 2^63)``: sorted by code, then
    by value.  One as-of join on this key finds a customer's rows without
    ``by=`` (which polars hashes row by row).
    """
    v = pl.col(value) if isinstance(value, str) else value
    return pl.col(code).cast(pl.Int128) * pl.lit(_CODE_SHIFT, dtype=pl.Int128) + v.to_physical().cast(pl.Int128)


def _coded(frame: pl.LazyFrame, keys: list[str], time: str, columns: Sequence[str] = ()) -> pl.LazyFrame:
    """``frame`` sorted by ``keys`` then ``time``, with ``_code``: one Int64 per ``keys`` value, increasing.

    A null segment value is a value like any other (sorted last, one code).
    Cached: the caller reads it several times (runs, as-of joins, codes).
    """
    varying = [k for k in keys if k != _SEG]  # the stand-in segment is a constant: nothing to sort
    return (
        frame.select(*keys, time, *columns)
        .sort([*varying, time], nulls_last=True)
        .with_columns(_code=pl.struct(varying).rle_id().cast(pl.Int64))
        .cache()
    )


def _order_codes(frame: pl.LazyFrame, keys: list[str]) -> pl.LazyFrame:
    """The codes of the orders' customers: ``keys`` but the stand-in segment, ``_code``, and ``_n`` orders each.

    The codes of :func:`_coded` (the row numbers of the sorted distinct
    ``keys``), but the customer ids are sorted once per customer, not once per
    order.
    """
    varying = [k for k in keys if k != _SEG]
    return (
        frame.group_by(varying)
        .agg(pl.len().alias("_n"))
        .sort(varying, nulls_last=True)
        .with_row_index("_code")
        .with_columns(pl.col("_code").cast(pl.Int64))
    )


def _sorted_orders(frame: pl.LazyFrame, codes: pl.LazyFrame, keys: list[str]) -> pl.LazyFrame:
    """The orders of the customers of ``codes``: the ``by`` columns and ``_rk``, sorted by ``_rk``.

    ``_rk`` is :func:`_key` of (``_code``, ``ordered_at``); :func:`_decoded`
    gives back the code and the time.  The sorted orders carry no customer
    id, only one Int128 per order, which is also the right side of the as-of
    joins as it is.
    """
    varying = [k for k in keys if k != _SEG]
    carried = [k for k in keys if k not in (_SEG, "customer_id")]  # the by columns
    rows = (
        _join(frame.select(*varying, "ordered_at"), codes.select(*varying, "_code"), varying, "inner")
        .select(*carried, _key("_code", "ordered_at").alias("_rk"))
        .sort("_rk")
    )
    if _SEG in keys:
        rows = rows.with_columns(pl.lit(0, dtype=pl.Int8).alias(_SEG))
    return rows.cache()  # read three times: the active cells, the as-of joins, the end of observation


def _count_columns(labels: Sequence[tuple[str, str]]) -> list[str]:
    """The count columns of the partial counts: active, supported and active, and each group's but baseline."""
    return ["_an", "_ar", "_sn", "_sr", *(f"_{x}{i}" for i in range(len(labels)) if i != 1 for x in "nr")]


def _by_parts(
    act: Prepared,
    tickets: pl.LazyFrame,
    keys: list[str],
    part: Callable[[pl.LazyFrame, pl.LazyFrame, pl.LazyFrame], pl.LazyFrame],
    period_keys: list[str],
    labels: Sequence[tuple[str, str]],
) -> pl.LazyFrame:
    """``part(orders, tickets, codes)``, the counts per (segment, period) and ``_end``, by customer partitions.

    The codes (:func:`_order_codes`) are collected first: one read of the
    orders, which also counts them.  Above
    :data:`~retainlib.metrics._common.PARTITION_ROWS` orders the customers
    are split in hash partitions (as :func:`~retainlib.metrics._common.by_customer_parts`
    does) and ``part`` runs on each in turn, its own collect: the sorted
    orders and the as-of joins of one partition at a time.  The counts add up
    and the ends take their maximum.  Deferred to the collect of the result.
    """
    varying = [k for k in keys if k != _SEG]
    count_columns = _count_columns(labels)

    def codes_of(codes: pl.LazyFrame) -> pl.LazyFrame:
        codes = codes.select(*varying, "_code")
        return codes.with_columns(pl.lit(0, dtype=pl.Int8).alias(_SEG)) if _SEG in keys else codes

    schema = part(act.frame, tickets, codes_of(_order_codes(act.frame, keys).clear())).collect_schema()

    def run() -> pl.DataFrame:
        codes = _order_codes(act.frame, keys).collect(engine=act.engine)
        parts = customer_parts(int(codes.get_column("_n").sum()))
        if parts <= 1:
            return part(act.frame, tickets, codes_of(codes.lazy())).collect(engine=act.engine)
        bucket = pl.col("customer_id").hash(seed=0) % parts
        results = [
            part(
                act.frame.filter(bucket == i), tickets.filter(bucket == i), codes_of(codes.filter(bucket == i).lazy())
            ).collect(engine=act.engine)
            for i in range(parts)
        ]
        summed = pl.concat(results).group_by(period_keys).agg(pl.col(count_columns).sum(), pl.col("_end").max())
        return summed.with_columns(pl.col(count_columns).cast(pl.UInt32)).select(schema.names())

    return pl.defer(run, schema=schema)


def _decoded(rows: pl.LazyFrame) -> pl.LazyFrame:
    """``rows`` of :func:`_sorted_orders` with ``_code`` and ``ordered_at`` taken back from ``_rk``."""
    code = (pl.col("_rk") + pl.lit(2**63, dtype=pl.Int128)) // pl.lit(_CODE_SHIFT, dtype=pl.Int128)
    time = pl.col("_rk") - code * pl.lit(_CODE_SHIFT, dtype=pl.Int128)
    return rows.with_columns(_code=code.cast(pl.Int64), ordered_at=time.cast(pl.Int64).cast(TIMESTAMP))


def _codes(rows: pl.LazyFrame, keys: list[str]) -> pl.LazyFrame:
    """``(keys, _code)``, one row per code, from a frame of :func:`_coded`."""
    first = (pl.col("_code") != pl.col("_code").shift(1)).fill_null(True)
    return rows.filter(first).select(*keys, "_code")


def _ends(*columns: str) -> pl.Expr:
    """Whether a row is the last of its run of equal ``columns`` in a sorted frame (nulls equal).

    One of the columns is never null (a code, a customer id, a period), so the
    last row, compared with nothing, always ends its run.
    """
    return pl.any_horizontal(pl.col(c).ne_missing(pl.col(c).shift(-1)) for c in columns)


def _with_period_end(cal: Calendar, cells: pl.LazyFrame) -> pl.LazyFrame:
    """``cells`` plus ``_a``: ``end(p)``, the first instant of the next period, in the order of ``cells``.

    Computed once per distinct period and joined: a time zone's rules applied
    to every row cost about ten times the join.
    """
    cells = cells.cache()
    ends = cells.select(pl.col(PERIOD_INDEX).unique()).with_columns(_a=cal.instant(cal.start(pl.col(PERIOD_INDEX) + 1)))
    return cells.join(ends, on=PERIOD_INDEX, how="left", maintain_order="left")


def _retained_orders(cal: Calendar, cells: pl.LazyFrame, orders: pl.LazyFrame, window: dt.timedelta) -> pl.LazyFrame:
    """``cells`` (sorted by ``_code``, ``_period``) plus ``_retained``: an order in ``(end(p), end(p) + W]``.

    The first order strictly after ``end(p)`` (``_rk`` of ``orders`` of
    :func:`_sorted_orders`), found by one forward as-of join on
    :func:`_key`, falls by ``end(p) + W``.  With ``_lk`` the key of
    (code, ``end(p)``), the found key ``_rk`` is an order of the same code
    exactly when ``_rk - _lk < 2^63 - end(p)`` (below the next code's keys),
    and then ``_rk - _lk`` is the time from ``end(p)`` to the order: compared
    in Int128, so neither a window of any length nor a far date overflows.
    """
    left = _with_period_end(cal, cells).with_columns(_lk=_key("_code", "_a"))
    joined = left.join_asof(
        orders.select("_rk"),
        left_on="_lk",
        right_on="_rk",
        strategy="forward",
        allow_exact_matches=False,
        check_sortedness=False,
    )
    after = pl.col("_rk") - pl.col("_lk")
    same_code = after < pl.lit(2**63, dtype=pl.Int128) - pl.col("_a").to_physical().cast(pl.Int128)
    within = after <= pl.lit(window // dt.timedelta(microseconds=1), dtype=pl.Int128)
    return joined.with_columns(_retained=(same_code & within).fill_null(False)).drop("_a", "_lk", "_rk")


def _retained_subscriptions(
    cal: Calendar, cells: pl.LazyFrame, segments: pl.LazyFrame, window: dt.timedelta
) -> pl.LazyFrame:
    """``cells`` (sorted by ``_code``, ``_period``) plus ``_retained``: a segment running in ``(end(p), end(p) + W]``.

    Among a customer's segments started by ``end(p) + W`` (a backward as-of
    join on :func:`_key` against the running maximum of their ends), one ends
    after ``end(p)``.
    """
    stop = pl.coalesce(pl.col("ended_at"), pl.lit(_FOREVER, dtype=TIMESTAMP))
    reach = (
        segments.with_columns(_reach=stop.cum_max().over("_code"))
        .filter(_ends("_code", "started_at"))
        .select(_rk=_key("_code", "started_at"), _rcode=pl.col("_code"), _reach=pl.col("_reach"))
    )
    # end(p) + W, held at _FOREVER where it would pass it (and might overflow): such a period's window
    # ends after the end of observation, so it is never reported.
    forever = pl.lit(_FOREVER, dtype=TIMESTAMP)
    try:
        latest = _FOREVER - window
    except OverflowError:  # a window longer than the calendar: every end(p) + W passes _FOREVER
        until = forever
    else:
        until = pl.when(pl.col("_a") <= pl.lit(latest, dtype=TIMESTAMP)).then(pl.col("_a") + pl.lit(window))
        until = until.otherwise(forever)
    left = _with_period_end(cal, cells).with_columns(_b=until).with_columns(_lk=_key("_code", "_b"))
    joined = left.join_asof(
        reach,
        left_on="_lk",
        right_on="_rk",
        strategy="backward",
        allow_exact_matches=True,
        check_sortedness=False,
    )
    retained = (pl.col("_rcode") == pl.col("_code")) & (pl.col("_reach") > pl.col("_a"))
    return joined.with_columns(_retained=retained.fill_null(False)).drop(
        "_a", "_b", "_lk", "_rk", "_rcode", "_reach", strict=False
    )


def _is_active(supported: pl.LazyFrame, active: pl.LazyFrame) -> pl.LazyFrame:
    """``supported`` (sorted by ``_code``, ``_period``) plus ``_active``: the cell is also in ``active``."""
    cell = _key("_code", PERIOD_INDEX)
    joined = supported.with_columns(_lk=cell).join_asof(
        active.select(_rk=cell), left_on="_lk", right_on="_rk", strategy="backward", check_sortedness=False
    )
    return joined.with_columns(_active=(pl.col("_rk") == pl.col("_lk")).fill_null(False)).drop("_lk", "_rk")


class SupportOptions(KernelOptions, total=False):
    """The options of :func:`support_retention`: the shared ones and its own (see its parameters)."""

    orders: pl.DataFrame | pl.LazyFrame | None
    subscriptions: pl.DataFrame | pl.LazyFrame | None
    window: dt.timedelta | float
    activity: ActivitySource
    resolution_buckets: Sequence[dt.timedelta | float]


@overload
def support_retention(tickets: pl.LazyFrame, **options: Unpack[SupportOptions]) -> pl.LazyFrame: ...
@overload
def support_retention(tickets: pl.DataFrame | Dataset, **options: Unpack[SupportOptions]) -> pl.DataFrame: ...
def support_retention(
    tickets: Data,
    *,
    period: PeriodName = "month",
    by: By = None,
    as_of: AsOf = None,
    tz: str = "UTC",
    week_start: WeekStart = 0,
    engine: Engine = "auto",
    orders: pl.DataFrame | pl.LazyFrame | None = None,
    subscriptions: pl.DataFrame | pl.LazyFrame | None = None,
    window: dt.timedelta | float = dt.timedelta(days=90),
    activity: ActivitySource = "auto",
    resolution_buckets: Sequence[dt.timedelta | float] = DEFAULT_RESOLUTION_BUCKETS,
) -> pl.DataFrame | pl.LazyFrame:
    """Retention after support: supported customers against the others, per period.

    For each period ``p``: the *supported* group is the customers with a
    ticket solved in ``p``; the *baseline* group is the customers active in
    ``p`` without a ticket solved in ``p``.  A customer is *retained* when
    active (an order, or a running subscription with ``mrr > 0``) in
    ``(end(p), end(p) + window]``, where ``end(p)`` is the first instant of
    the next period.  Periods whose ``end(p) + window`` is after ``as_of`` are
    left out, so every reported period and window is complete.

    Like every kernel, it takes its data first: a canonical tickets table
    (DataFrame or LazyFrame) with the activity table passed as ``orders=``
    or ``subscriptions=``, or a :class:`~retainlib.Dataset` holding tickets
    and orders or subscriptions.  The result is the kind of the tickets: a
    LazyFrame for a LazyFrame (nothing is read before you collect it), else
    a DataFrame.

    Parameters
    ----------
    tickets
        Canonical tickets (DataFrame or LazyFrame), or a Dataset with a
        ``tickets`` table and an ``orders`` or ``subscriptions`` table.
    period
        ``"day"``, ``"week"``, ``"month"`` (default), ``"quarter"`` or ``"year"``.
    by
        Segment column(s) (default ``None``): present in both the tickets and
        the activity table, or, for a Dataset, in its customers table; the
        output starts with them.
    as_of
        End of observation (exclusive): an aware datetime, or a date meaning
        through the end of that local day.  Default: the last timestamp of the
        activity table (per segment with ``by``): ``ordered_at``, or
        ``started_at`` / ``ended_at`` of the segments with ``mrr > 0``.
    tz
        Reporting time zone (IANA name, default ``"UTC"``): periods are local
        calendar periods.
    week_start
        First day of a week, 0 (Monday, default) .. 6 (Sunday), for ``period="week"``.
    engine
        The polars engine of the collect of an eager result: ``"auto"``
        (default), ``"streaming"`` or ``"in-memory"``.
    orders, subscriptions
        With a tickets frame: the canonical table (DataFrame or LazyFrame)
        that tells who is active.  Refused with a Dataset, which holds its own.
    window
        How long after the end of the period activity is looked for: a
        ``datetime.timedelta`` or a number of days, positive (default 90 days).
    activity
        Which table defines activity: ``"orders"``, ``"subscriptions"``, or
        ``"auto"`` (default: orders when given, else subscriptions).
    resolution_buckets
        Increasing boundaries ``b1 < ... < bn`` (timedeltas or numbers of
        days) of the resolution-time buckets ``[0, b1)``, ``[b1, b2)``, ...,
        ``[bn, inf)``.  Default ``1, 3, 7`` days.

    Returns
    -------
    polars.DataFrame or polars.LazyFrame
        The kind of ``tickets`` (a Dataset gives a DataFrame).  One row per
        (``by``..., period, group), sorted by segment, period and group
        order: ``period`` (Date, first day of ``p``), ``breakdown`` (String:
        ``"group"``, ``"satisfaction"`` or ``"resolution"``),
        ``group`` (String: ``"supported"``, ``"baseline"``,
        ``"satisfaction: good"``/``"bad"``/``"unrated"``, ``"resolution: <1d"``...),
        ``customers`` (UInt32), ``retained`` (UInt32) and ``retention_rate``
        (Float64, ``retained / customers`` over the window that follows ``p``;
        null when the group is empty).  Satisfaction and resolution rows split
        the supported group by the customer's *last* ticket solved in ``p``
        (latest ``solved_at``; ties: latest ``opened_at``, then greatest
        ``ticket_id``), so each breakdown adds up to the supported row.
        Filter ``breakdown == "group"`` to compare supported with baseline.

    Raises
    ------
    OptionError
        A non-positive window, bad buckets, an unknown period, activity,
        time zone, week start or engine, data that is neither a tickets frame
        nor a Dataset, or ``orders=``/``subscriptions=`` given with a Dataset.
    SchemaError
        The tickets or the activity table is missing or is not what its name
        says, or a ``by`` column is missing.

    Examples
    --------
    >>> from retainlib.samples import synthetic_store
    >>> ds = synthetic_store(customers=500, seed=1)
    >>> out = support_retention(ds, window=90, period="quarter")
    >>> out.filter(breakdown="group").columns
    ['period', 'breakdown', 'group', 'customers', 'retained', 'retention_rate']
    >>> lazy = support_retention(ds.tickets.lazy(), orders=ds.orders, window=90, period="quarter")
    >>> lazy.collect().equals(out)
    True
    """
    span_width = _check_window(window)
    buckets = _check_buckets(resolution_buckets)
    tables, eager = _inputs(tickets, orders, subscriptions)

    def prepared(table: TableName) -> Prepared:
        data = tables[table]
        return _segmented(
            prepare(
                data,
                metric=_METRIC,
                tables=[table],
                table=table if isinstance(data, Dataset) else None,
                by=by,
                period=period,
                tz=tz,
                week_start=week_start,
                as_of=as_of,
                engine=engine,
            )
        )

    tix = prepared("tickets")
    if isinstance(tickets, Dataset):
        present = [t for t in _SOURCES if getattr(tickets, t) is not None]
        given = f"the dataset has {', '.join(tickets.tables) or 'no tables'}"
    else:
        present = [t for t in _SOURCES if t in tables]
        given = "pass orders= or subscriptions= with a tickets frame"
    act = _observed(prepared(_activity_source(present, activity, given)))
    cal = act.calendar
    seg = list(act.by)
    keys = [*seg, "customer_id"]
    cell = [*keys, PERIOD_INDEX]

    varying = [k for k in keys if k != _SEG]
    period_keys = [*seg, PERIOD_INDEX]
    labels = _label_rows(buckets)
    retained = _retained_orders if act.table == "orders" else _retained_subscriptions

    def counted(
        tickets_frame: pl.LazyFrame, rows: pl.LazyFrame, codes: pl.LazyFrame, active: pl.LazyFrame
    ) -> pl.LazyFrame:
        """The counts per (segment, period) of the customers of ``tickets_frame`` and ``rows``, and ``_end``."""
        # Supported cells with the last ticket's satisfaction and resolution: the tickets sorted by segment,
        # customer, period of solved_at and the order that makes a ticket the last (solved_at, opened_at,
        # ticket_id); the last row of each (segment, customer, period) run.
        last = ["solved_at", "opened_at", "ticket_id"]
        supported = (
            tickets_frame.filter(pl.col("solved_at").is_not_null())
            .select(*keys, *last, "satisfaction", cal.timestamp_index("solved_at").alias(PERIOD_INDEX))
            .sort([*varying, PERIOD_INDEX, *last], nulls_last=True)
            .filter(_ends(*varying, PERIOD_INDEX))
            .select(
                *cell,
                ("satisfaction: " + pl.col("satisfaction").cast(pl.String).fill_null("unrated")).alias("_sat"),
                _bucket(pl.col("solved_at") - pl.col("opened_at"), buckets).alias("_res"),
            )
        )
        # A supported customer without activity has no code of its own (never active, never retained).
        supported = (
            _join(supported, codes, keys, "left")
            .with_columns(pl.col("_code").fill_null(_NO_CODE))
            .drop("customer_id")
            .sort("_code", PERIOD_INDEX)
        )
        checked_active = retained(cal, active, rows, span_width)
        checked_supported = retained(cal, _is_active(supported, active), rows, span_width)
        # An active customer counts once in the active counts; a supported one in ``supported``, one
        # satisfaction and one resolution group; baseline = active - (supported and active), later.
        source_column = {"satisfaction": "_sat", "resolution": "_res"}
        kept = pl.col("_retained")
        counts = [pl.len().cast(pl.UInt32).alias("_n0"), kept.sum().cast(pl.UInt32).alias("_r0")]
        counts += [
            pl.col("_active").sum().cast(pl.UInt32).alias("_sn"),
            (pl.col("_active") & kept).sum().cast(pl.UInt32).alias("_sr"),
        ]
        for i, (breakdown, group) in enumerate(labels):
            if breakdown == "group":
                continue
            member = pl.col(source_column[breakdown]) == group
            counts.append(member.sum().cast(pl.UInt32).alias(f"_n{i}"))
            counts.append((member & kept).sum().cast(pl.UInt32).alias(f"_r{i}"))
        per_supported = checked_supported.group_by(period_keys).agg(counts)
        per_active = checked_active.group_by(period_keys).agg(
            pl.len().cast(pl.UInt32).alias("_an"), kept.sum().cast(pl.UInt32).alias("_ar")
        )
        both = per_active.join(per_supported, on=period_keys, how="full", coalesce=True, nulls_equal=True)
        both = both.with_columns(pl.col(_count_columns(labels)).fill_null(0))
        if act.as_of is not None:
            return both.with_columns(_end=pl.lit(act.as_of, dtype=TIMESTAMP))
        observed = _decoded(rows) if act.table == "orders" else rows
        return _join(both, observed.group_by(*seg).agg(last_instant(act).alias("_end")), seg, "left")

    # The activity rows sorted by (segment, customer, time), each (segment, customer) numbered by ``_code``,
    # and the active cells (segment, code, period) in (code, period) order.
    if act.table == "orders":

        def orders_part(orders_frame: pl.LazyFrame, tickets_frame: pl.LazyFrame, codes: pl.LazyFrame) -> pl.LazyFrame:
            rows = _sorted_orders(orders_frame, codes, keys)
            active = (  # the last order of each run of (code, period)
                _decoded(rows)
                .with_columns(cal.timestamp_index("ordered_at").alias(PERIOD_INDEX))
                .filter(_ends("_code", PERIOD_INDEX))
                .select(*seg, "_code", PERIOD_INDEX)
                .cache()  # read twice: retained, and whether a supported customer is active
            )
            return counted(tickets_frame, rows, codes, active)

        merged = _by_parts(act, tix.frame, keys, orders_part, period_keys, labels)
    else:
        rows = _coded(act.frame, keys, "started_at", ["ended_at"])
        codes = _codes(rows, keys)
        active = (
            _join(_common.activity(act).select(cell), codes, keys, "inner")
            .select(*seg, "_code", PERIOD_INDEX)
            .sort("_code", PERIOD_INDEX)
            .cache()
        )
        merged = counted(tix.frame, rows, codes, active)
    merged = merged.cache()  # read twice: the periods and their counts

    # Periods per segment: from the first ticket solved or activity to the last p with end(p) + W <= as_of.
    span = merged.group_by(*seg).agg(pl.col(PERIOD_INDEX).min().alias("_first"), pl.col("_end").max())
    span = span.with_columns(
        _last=cal.timestamp_index(pl.col("_end") - pl.lit(span_width)) - 1,
    ).filter(pl.col("_first") <= pl.col("_last"))
    span = guard_window(act, span)  # a placeholder date (9999-12-31) must not lay out millions of periods

    grid = span.select(*seg, pl.int_ranges("_first", pl.col("_last") + 1).alias(PERIOD_INDEX)).explode(PERIOD_INDEX)
    per_period = (
        _join(grid, merged.drop("_end"), period_keys, "left")
        .with_columns(pl.col(_count_columns(labels)).fill_null(0))
        .with_columns(_n1=pl.col("_an") - pl.col("_sn"), _r1=pl.col("_ar") - pl.col("_sr"))
    )
    cells = pl.concat_list(
        pl.struct(
            pl.lit(i, dtype=pl.UInt32).alias("_order"),
            pl.lit(breakdown).alias("breakdown"),
            pl.lit(group).alias("group"),
            pl.col(f"_n{i}").alias("customers"),
            pl.col(f"_r{i}").alias("retained"),
        )
        for i, (breakdown, group) in enumerate(labels)
    )
    result = (
        per_period.select(*seg, PERIOD_INDEX, cells.alias("_cell"))
        .explode("_cell")
        .unnest("_cell")
        .sort([*seg, PERIOD_INDEX, "_order"], nulls_last=True)
        .select(
            *(c for c in seg if c != _SEG),
            cal.start(PERIOD_INDEX).alias("period"),
            "breakdown",
            "group",
            "customers",
            "retained",
            safe_ratio(pl.col("retained"), pl.col("customers")).alias("retention_rate"),
        )
    )
    return result.collect(engine=act.engine) if eager else result
