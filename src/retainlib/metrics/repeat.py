"""Repeat purchase rate and returning customer rate (orders only).

Definitions, with their formulas: ``docs/metrics/repeat_purchase_rate.md`` and
``docs/metrics/returning_customer_rate.md`` (Shopify's returning customer rate).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Unpack, overload

import polars as pl

from retainlib._dataset import Dataset
from retainlib.calendar import PeriodName, WeekStart
from retainlib.errors import OptionError
from retainlib.metrics._common import (
    MASK,
    PERIOD_INDEX,
    By,
    DaskFrame,
    Data,
    Engine,
    Prepared,
    active_rows,
    activity,
    distributed_only,
    distributed_window,
    finish,
    finish_deferred,
    gather,
    is_complete,
    mask_period_counts,
    mask_plan,
    periods,
    prepare,
    safe_ratio,
    window,
)
from retainlib.metrics._options import KernelOptions

__all__ = ["repeat_purchase_rate", "returning_customer_rate"]


def _check_within(within: object) -> int | None:
    if within is None:
        return None
    if isinstance(within, bool) or not isinstance(within, int) or within < 0:
        raise OptionError("within is a number of periods, 0 or more", option="within", value=within)
    return within


def _check_cohorts(cohorts: object) -> bool | None:
    if cohorts is not None and not isinstance(cohorts, bool):
        raise OptionError("cohorts is True, False or None", option="cohorts", value=cohorts)
    return cohorts


@overload
def repeat_purchase_rate(
    data: pl.LazyFrame,
    *,
    within: int | None = ...,
    cohorts: bool | None = ...,
    **options: Unpack[KernelOptions],
) -> pl.LazyFrame: ...
@overload
def repeat_purchase_rate(
    data: pl.DataFrame | Dataset | DaskFrame,
    *,
    within: int | None = ...,
    cohorts: bool | None = ...,
    **options: Unpack[KernelOptions],
) -> pl.DataFrame: ...
def repeat_purchase_rate(
    data: Data | DaskFrame,
    *,
    within: int | None = None,
    cohorts: bool | None = None,
    period: PeriodName = "month",
    by: By = None,
    as_of: dt.datetime | dt.date | None = None,
    tz: str = "UTC",
    week_start: WeekStart = 0,
    engine: Engine = "auto",
) -> pl.DataFrame | pl.LazyFrame:
    """Share of customers who ordered more than once.

    ::

        repeat_purchase_rate = |{c : c has >= 2 orders}| / |{c : c has >= 1 order}|

    over the observation window (orders up to ``as_of``), per ``by`` segment.
    Orders are counted as rows: two orders on one day are a repeat.

    Per cohort (``cohort`` = the period of the first order) when ``within`` is
    given or ``cohorts=True``.  With ``within=k``, a customer counts as a
    repeat customer when the second order falls within ``k`` periods of the
    first (its period index minus the first's is at most ``k``; ``k = 0``: in
    the same period).  Cohorts too young to observe ``k`` full periods are kept
    and flagged ``is_complete = false``.  Any ``k`` is accepted: a window
    reaching past the calendar's horizon (:attr:`~retainlib.calendar.Calendar.horizon`,
    100 years of periods, the most the data may span) counts every second order,
    as no window would.

    Returns
    -------
    DataFrame or LazyFrame
        ``by`` columns, [cohort, is_complete,] customers, repeat_customers,
        repeat_purchase_rate (a share of customers, no time unit; over the
        window, or within ``k`` periods of the first order).

    Examples
    --------
    >>> import polars as pl, retainlib as rl
    >>> orders = pl.DataFrame({
    ...     "order_id": ["1", "2", "3", "4"], "customer_id": ["a", "a", "b", "c"],
    ...     "ordered_at": ["2024-01-05T00:00:00Z", "2024-03-05T00:00:00Z", "2024-01-09T00:00:00Z",
    ...                    "2024-02-20T00:00:00Z"],
    ...     "amount": ["10", "10", "5", "7"], "currency": ["EUR"] * 4})
    >>> rl.repeat_purchase_rate(orders).row(0)
    (3, 1, 0.3333333333333333)
    >>> rl.repeat_purchase_rate(orders, within=1).select("cohort", "customers", "repeat_customers").rows()
    [(datetime.date(2024, 1, 1), 2, 0), (datetime.date(2024, 2, 1), 1, 0)]
    """
    k = _check_within(within)
    cohorts = _check_cohorts(cohorts)
    per_cohort = bool(cohorts) or k is not None
    if cohorts is False and k is not None:
        raise OptionError(
            "within is measured per cohort: it cannot be used with cohorts=False", option="cohorts", value=cohorts
        )
    p = prepare(
        data,
        metric="repeat_purchase_rate",
        tables=["orders"],
        distributed=True,
        by=by,
        period=period,
        tz=tz,
        week_start=week_start,
        engine=engine,
        as_of=as_of,
    )
    if k is not None:
        # A window longer than the calendar's horizon holds every second order (the data spans no more
        # than the horizon): the same counts, and period indices that stay inside the calendar.
        k = min(k, p.calendar.horizon)
        return finish_deferred(p, lambda p: _repeat(p, k, per_cohort))  # a mask-plan pre-pass
    return finish(_repeat(p, k, per_cohort), p)


def _repeat(p: Prepared, k: int | None, per_cohort: bool) -> pl.LazyFrame:
    """The plan of :func:`repeat_purchase_rate` (with ``k``, its mask-plan pre-pass run)."""
    keys = [*p.by, "customer_id"]
    plan = mask_plan(p, first_repeats=True) if k is not None else None

    def per_customer(q: Prepared) -> pl.LazyFrame:  # first period and number of orders, in one pass
        return (
            active_rows(q, None)
            .group_by(keys)
            .agg(
                q.calendar.timestamp_index("ordered_at").min().alias("_cohort"),
                pl.len().cast(pl.UInt32).alias("_orders"),
            )
            .with_columns(pl.lit(1, dtype=pl.Int64).alias("_w"))
        )

    if k is None and p.partitions is not None:
        return _repeat_distributed(p, per_customer, per_cohort)
    if k is None:
        customers = per_customer(p)
    elif plan is not None:
        # Per distinct activity mask: the cohort is its lowest bit; the second order falls in the
        # cohort when the first period has two orders, else in the next set bit.
        m = pl.col(MASK)
        rest = m & (m - 1)
        second = pl.when(pl.col("_twice")).then(plan.first(m)).when(rest != 0).then(plan.first(rest))
        customers = plan.masks.with_columns(
            (plan.base + plan.first(m)).alias("_cohort"), (plan.base + second).alias("_second")
        )
    else:
        distributed_only(p, "repeat_purchase_rate", "within= over more than 62 periods")
        # Per customer: first period, total orders, and the period of the second order.
        ranked = (
            activity(p)
            .sort(*keys, PERIOD_INDEX)
            .with_columns(
                pl.col("orders").cum_sum().over(keys).alias("_cum"),
            )
        )
        customers = ranked.group_by(keys).agg(
            pl.col(PERIOD_INDEX).min().alias("_cohort"),
            pl.col(PERIOD_INDEX).filter(pl.col("_cum") >= 2).min().alias("_second"),
            pl.lit(1, dtype=pl.Int64).alias("_w"),
        )
    repeat = pl.col("_orders") >= 2 if k is None else (pl.col("_second") - pl.col("_cohort")) <= k
    counts = _repeat_counts(customers, repeat, p.by, per_cohort)
    if not per_cohort:
        return _repeat_table(p, counts, None, None)
    ends = plan.ends if plan is not None else None
    bounds = window(p, customers.select(*p.by, pl.col("_cohort").alias(PERIOD_INDEX)), ends)
    return _repeat_table(p, counts, bounds, k)


def _repeat_counts(customers: pl.LazyFrame, repeat: pl.Expr, by: Sequence[str], per_cohort: bool) -> pl.LazyFrame:
    """Per segment (and cohort): customers and repeat customers, additive over partitions of the customers.

    Rows of ``customers`` are customers, or distinct masks standing for ``_w`` customers each.
    """
    weight = pl.col("_w")
    group = [*by, "_cohort"] if per_cohort else list(by)
    return (customers.group_by(group) if group else customers.group_by(pl.lit(0).alias("_all"))).agg(
        weight.sum().cast(pl.UInt32).alias("customers"),
        (repeat.fill_null(False).cast(pl.Int64) * weight).sum().cast(pl.UInt32).alias("repeat_customers"),
    )


def _repeat_distributed(
    p: Prepared, per_customer: Callable[[Prepared], pl.LazyFrame], per_cohort: bool
) -> pl.LazyFrame:
    """:func:`repeat_purchase_rate` (without ``within``) of a distributed table: counts from the partitions, summed."""
    group = [*p.by, "_cohort"] if per_cohort else list(p.by)
    repeat = pl.col("_orders") >= 2
    (partial,) = gather(p, lambda q: [_repeat_counts(per_customer(q), repeat, q.by, per_cohort)])
    counts = partial.group_by(*(group or ["_all"])).agg(pl.col("customers", "repeat_customers").sum().cast(pl.UInt32))
    if not per_cohort:
        return _repeat_table(p, counts, None, None)
    index = p.calendar.timestamp_index("ordered_at").alias(PERIOD_INDEX)
    bounds = distributed_window(p, lambda q: active_rows(q, None).select(*q.by, index))
    return _repeat_table(p, counts, bounds, None)


def _repeat_table(p: Prepared, counts: pl.LazyFrame, bounds: pl.LazyFrame | None, k: int | None) -> pl.LazyFrame:
    """The rates from the counts: per segment, or per cohort with the window's ``bounds``."""
    rate = safe_ratio(pl.col("repeat_customers"), pl.col("customers")).alias("repeat_purchase_rate")
    if bounds is None:
        result = counts.select(*p.by, "customers", "repeat_customers", rate)
        if p.by:
            result = result.sort(*p.by)
        return result
    bounds = bounds.select(*p.by, "_end")
    cal = p.calendar
    joined = (
        counts.join(bounds, on=list(p.by), how="left", nulls_equal=True) if p.by else counts.join(bounds, how="cross")
    )
    return joined.sort(*p.by, "_cohort").select(
        *p.by,
        cal.start("_cohort").alias("cohort"),
        is_complete(cal, pl.col("_cohort") + (k or 0), pl.col("_end")).alias("is_complete"),
        "customers",
        "repeat_customers",
        rate,
    )


@overload
def returning_customer_rate(
    data: pl.LazyFrame,
    **options: Unpack[KernelOptions],
) -> pl.LazyFrame: ...
@overload
def returning_customer_rate(
    data: pl.DataFrame | Dataset | DaskFrame,
    **options: Unpack[KernelOptions],
) -> pl.DataFrame: ...
def returning_customer_rate(
    data: Data | DaskFrame,
    *,
    period: PeriodName = "month",
    by: By = None,
    as_of: dt.datetime | dt.date | None = None,
    tz: str = "UTC",
    week_start: WeekStart = 0,
    engine: Engine = "auto",
) -> pl.DataFrame | pl.LazyFrame:
    """Shopify's returning customer rate: of the customers who ordered in a period, the share with 2+ lifetime orders.

    For each period ``p`` of the window::

        customers           = |{c : c ordered in p}|
        returning_customers = |{c : c ordered in p and c's orders up to the end of p number 2 or more}|
        returning_customer_rate = returning_customers / customers

    "Lifetime" looks back before the period (orders before ``p`` count) and
    includes the period itself, so a customer with two orders in their first
    period is returning; orders after the period do not count.  Periods with no
    orders give 0 customers and a null rate.

    Returns
    -------
    DataFrame or LazyFrame
        ``by`` columns, period, is_complete, customers, returning_customers,
        returning_customer_rate (a share of the period's customers).

    Examples
    --------
    >>> import polars as pl, retainlib as rl
    >>> orders = pl.DataFrame({
    ...     "order_id": ["1", "2", "3", "4"], "customer_id": ["a", "a", "b", "b"],
    ...     "ordered_at": ["2024-01-05T00:00:00Z", "2024-02-05T00:00:00Z", "2024-02-09T00:00:00Z",
    ...                    "2024-02-20T00:00:00Z"],
    ...     "amount": ["10", "10", "5", "7"], "currency": ["EUR"] * 4})
    >>> rl.returning_customer_rate(orders).select("period", "customers", "returning_customers").rows()
    [(datetime.date(2024, 1, 1), 1, 0), (datetime.date(2024, 2, 1), 2, 2)]
    """
    p = prepare(
        data,
        metric="returning_customer_rate",
        tables=["orders"],
        distributed=True,
        by=by,
        period=period,
        tz=tz,
        week_start=week_start,
        engine=engine,
        as_of=as_of,
    )
    return finish_deferred(p, _returning)


def _returning(p: Prepared) -> pl.LazyFrame:
    """The plan of :func:`returning_customer_rate` (its mask-plan pre-pass run)."""
    plan = mask_plan(p, first_repeats=True)
    if plan is None:
        distributed_only(p, "returning_customer_rate", "activity over more than 62 periods")
    if plan is not None:
        # A customer active in period j is returning unless j is their first period and it has
        # one order: an order in an earlier period, or two in the first, makes two by j's end.
        m = pl.col(MASK)
        counts, bounds = mask_period_counts(
            p,
            plan,
            {
                "customers": lambda j: plan.bit(m, j),
                "returning_customers": lambda j: plan.bit(m, j) & ((plan.first(m) != j) | pl.col("_twice")),
            },
        )
    else:
        active = activity(p)
        keys = [*p.by, "customer_id"]
        flagged = active.with_columns(pl.col("orders").cum_sum().over(keys, order_by=PERIOD_INDEX).alias("_lifetime"))
        counts = flagged.group_by(*p.by, PERIOD_INDEX).agg(
            pl.len().cast(pl.UInt32).alias("customers"),
            (pl.col("_lifetime") >= 2).sum().cast(pl.UInt32).alias("returning_customers"),
        )
        bounds = window(p, active)
    grid = periods(bounds).select(*p.by, PERIOD_INDEX, "_end")
    cal = p.calendar
    return (
        grid.join(counts, on=[*p.by, PERIOD_INDEX], how="left", nulls_equal=True)
        .with_columns(pl.col("customers", "returning_customers").fill_null(0))
        .sort(*p.by, PERIOD_INDEX)
        .select(
            *p.by,
            cal.start(PERIOD_INDEX).alias("period"),
            is_complete(cal, pl.col(PERIOD_INDEX), pl.col("_end")).alias("is_complete"),
            "customers",
            "returning_customers",
            safe_ratio(pl.col("returning_customers"), pl.col("customers")).alias("returning_customer_rate"),
        )
    )
