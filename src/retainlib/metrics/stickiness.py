"""Stickiness (``stickiness``): how many days of a period customers are active, and DAU over WAU / MAU.

Definitions, with their formulas: ``docs/metrics/stickiness.md``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Literal, Unpack, get_args, overload

import polars as pl

from retainlib._dataset import Dataset
from retainlib.calendar import PeriodName, WeekStart
from retainlib.errors import OptionError
from retainlib.metrics._common import (
    PERIOD_INDEX,
    By,
    Data,
    Engine,
    Prepared,
    active_rows,
    check_events,
    finish,
    is_complete,
    over_by,
    periods,
    prepare,
    safe_ratio,
    window,
)
from retainlib.metrics._options import KernelOptions
from retainlib.tables import TABLES, TableName

__all__ = ["stickiness"]

StickinessKind = Literal["ratio", "days"]
#: The tables whose rows are activity on a day (events first: stickiness is a product metric).
_TABLES: tuple[TableName, ...] = ("events", "orders")
_DAY, _DAYS, _FROM, _TO = "_day", "_days", "_from", "_to"


def _check_kind(kind: object) -> StickinessKind:
    kinds: tuple[StickinessKind, ...] = get_args(StickinessKind)
    return OptionError.one_of(kind, kinds, option="kind", message="kind is 'ratio' or 'days'")


@overload
def stickiness(
    data: pl.LazyFrame,
    *,
    kind: StickinessKind = ...,
    table: TableName | None = ...,
    events: Sequence[str] | None = ...,
    **options: Unpack[KernelOptions],
) -> pl.LazyFrame: ...
@overload
def stickiness(
    data: pl.DataFrame | Dataset,
    *,
    kind: StickinessKind = ...,
    table: TableName | None = ...,
    events: Sequence[str] | None = ...,
    **options: Unpack[KernelOptions],
) -> pl.DataFrame: ...
def stickiness(
    data: Data,
    *,
    kind: StickinessKind = "ratio",
    period: PeriodName = "month",
    by: By = None,
    as_of: dt.datetime | dt.date | None = None,
    tz: str = "UTC",
    week_start: WeekStart = 0,
    engine: Engine = "auto",
    table: TableName | None = None,
    events: Sequence[str] | None = None,
) -> pl.DataFrame | pl.LazyFrame:
    """Stickiness: on how many days of each period customers are active.

    A customer is active on a local day ``d`` (in ``tz``) when they have an
    event (of the ``events`` names, if given) that day.  For each period ``p``
    (a week, month, quarter or year), with ``days(c, p)`` the number of days of
    ``p`` on which ``c`` is active and ``D(p)`` the days of ``p`` observed (from
    the first day with activity of the segment to the end of observation)::

        active(p)               = |{c : days(c, p) >= 1}|           (WAU, MAU...)
        active_days(p)          = sum over c of days(c, p)          = sum over d in D(p) of DAU(d)
        average_daily_active(p) = active_days(p) / |D(p)|           (the average DAU)
        stickiness(p)           = average_daily_active(p) / active(p)   (DAU/WAU, DAU/MAU)

    ``kind="days"`` gives instead the distribution of ``days(c, p)``, as
    Mixpanel's and Amplitude's stickiness charts show it: for ``n = 1 ..
    |D(p)|``::

        customers(p, n)          = |{c : days(c, p) = n}|
        share(p, n)              = customers(p, n) / active(p)
        customers_at_least(p, n) = |{c : days(c, p) >= n}|
        share_at_least(p, n)     = customers_at_least(p, n) / active(p)

    Parameters
    ----------
    data
        Canonical events (or orders) as a DataFrame or LazyFrame, or a Dataset
        (its events, else its orders; or ``table=``).
    kind
        ``"ratio"`` (default: one row per period) or ``"days"`` (one row per
        period and number of active days).
    period
        ``"week"``, ``"month"`` (default), ``"quarter"`` or ``"year"``: the
        period whose days are counted (``"day"`` is an ``OptionError``).
    by, as_of, tz, week_start, table, events, engine
        As for :func:`retainlib.retention_rate`.

    Returns
    -------
    DataFrame or LazyFrame (the kind given; a Dataset gives a DataFrame)
        ``by`` columns, period, is_complete, days (days observed), then with
        ``kind="ratio"``: active, active_days, average_daily_active,
        stickiness; with ``kind="days"``: active_days (n), active, customers,
        share, customers_at_least, share_at_least.

    Examples
    --------
    >>> import polars as pl, retainlib as rl
    >>> events = pl.DataFrame({
    ...     "customer_id": ["a", "a", "a", "b"],
    ...     "occurred_at": ["2024-03-04T09:00:00Z", "2024-03-04T18:00:00Z", "2024-03-06T09:00:00Z",
    ...                     "2024-03-10T09:00:00Z"],
    ...     "event": ["open"] * 4})
    >>> rl.stickiness(events, period="week").select("days", "active", "active_days", "stickiness").row(0)
    (7, 2, 3, 0.21428571428571427)
    >>> rl.stickiness(events, period="week", kind="days").select("active_days", "customers").rows()[:3]
    [(1, 1), (2, 1), (3, 0)]
    """
    kind = _check_kind(kind)
    p = prepare(
        data,
        metric="stickiness",
        tables=_TABLES,
        by=by,
        period=period,
        tz=tz,
        week_start=week_start,
        engine=engine,
        as_of=as_of,
        table=table,
    )
    if p.calendar.period == "day":
        raise OptionError(
            "stickiness counts the active days of a longer period: period is 'week', 'month', 'quarter' or 'year'",
            option="period",
            value=period,
        )
    chosen = check_events(events)
    return finish(_stickiness(p, chosen, kind), p)


def _days_observed(p: Prepared) -> pl.Expr:
    """The days of period ``PERIOD_INDEX`` from the segment's first day with activity to the end of observation."""
    cal = p.calendar
    end = pl.col("_end") - pl.duration(microseconds=1) if p.as_of is not None else pl.col("_end")
    last = cal.local_date(end)
    start = pl.max_horizontal(cal.start(PERIOD_INDEX), pl.col(_FROM))
    stop = pl.min_horizontal(cal.start(pl.col(PERIOD_INDEX) + 1), last + pl.duration(days=1))
    return pl.max_horizontal((stop - start).dt.total_days(), pl.lit(0)).cast(pl.UInt32)


def _stickiness(p: Prepared, events: Sequence[str] | None, kind: StickinessKind) -> pl.LazyFrame:
    """The plan of :func:`stickiness`: customer-days, then per customer and period, then per period."""
    cal = p.calendar
    keys = [*p.by, "customer_id"]
    day = cal.local_date(TABLES[p.table].time)
    # One row per (segment, customer, active local day), then the days of each customer per period.
    days = active_rows(p, events).group_by(*keys, day.alias(_DAY)).agg()
    per_customer = days.group_by(*keys, cal.index(_DAY).alias(PERIOD_INDEX)).agg(pl.len().cast(pl.UInt32).alias(_DAYS))
    firsts = (
        days.group_by(*p.by).agg(pl.col(_DAY).min().alias(_FROM))
        if p.by
        else days.select(pl.col(_DAY).min().alias(_FROM))
    )
    bounds = window(p, per_customer)
    bounds = (
        bounds.join(firsts, on=list(p.by), how="left", nulls_equal=True) if p.by else bounds.join(firsts, how="cross")
    )
    grid = periods(bounds).with_columns(_days_observed(p).alias("days"))
    head: list[str | pl.Expr] = [
        *p.by,
        cal.start(PERIOD_INDEX).alias("period"),
        is_complete(cal, pl.col(PERIOD_INDEX), pl.col("_end")).alias("is_complete"),
        "days",
    ]
    if kind == "ratio":
        counts = per_customer.group_by(*p.by, PERIOD_INDEX).agg(
            pl.len().cast(pl.UInt32).alias("active"), pl.col(_DAYS).sum().cast(pl.UInt64).alias("active_days")
        )
        average = safe_ratio(pl.col("active_days"), pl.col("days"))
        return (
            grid.join(counts, on=[*p.by, PERIOD_INDEX], how="left", nulls_equal=True)
            .with_columns(pl.col("active").fill_null(0), pl.col("active_days").fill_null(0))
            .sort(*p.by, PERIOD_INDEX)
            .select(
                *head,
                "active",
                "active_days",
                average.alias("average_daily_active"),
                safe_ratio(average, pl.col("active")).alias("stickiness"),
            )
        )
    distribution = per_customer.group_by(*p.by, PERIOD_INDEX, _DAYS).agg(pl.len().cast(pl.UInt32).alias("customers"))
    cells = grid.with_columns(pl.int_ranges(1, pl.col("days").cast(pl.Int64) + 1).alias(_DAYS)).explode(_DAYS)
    period_keys = [*p.by, PERIOD_INDEX]
    return (
        cells.join(
            distribution.with_columns(pl.col(_DAYS).cast(pl.Int64)),
            on=[*period_keys, _DAYS],
            how="left",
            nulls_equal=True,
        )
        .filter(pl.col(_DAYS).is_not_null())
        .with_columns(pl.col("customers").fill_null(0))
        .sort(*period_keys, _DAYS, descending=[False] * len(period_keys) + [True])
        .with_columns(
            pl.col("customers").cum_sum().over(period_keys).cast(pl.UInt32).alias("customers_at_least"),
            over_by(pl.col("customers").sum(), period_keys).cast(pl.UInt32).alias("active"),
        )
        .sort(*period_keys, _DAYS)
        .select(
            *head,
            pl.col(_DAYS).alias("active_days"),
            "active",
            "customers",
            safe_ratio(pl.col("customers"), pl.col("active")).alias("share"),
            "customers_at_least",
            safe_ratio(pl.col("customers_at_least"), pl.col("active")).alias("share_at_least"),
        )
    )
