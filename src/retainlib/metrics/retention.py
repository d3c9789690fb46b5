"""Period retention (``retention_rate``), cohort retention (``cohort_retention``) and ``triangle``.

Definitions (activity, period retention, cohort retention), with their formulas:
``docs/metrics/retention_rate.md`` and ``docs/metrics/cohort_retention.md``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Final, Literal, Unpack, get_args, overload

import polars as pl

from retainlib._dataset import Dataset
from retainlib.calendar import PeriodName, WeekStart
from retainlib.errors import DataError, OptionError, SchemaError
from retainlib.metrics._common import (
    ANY_ACTIVITY,
    MASK,
    PERIOD_INDEX,
    By,
    DaskFrame,
    Data,
    Engine,
    MaskPlan,
    Prepared,
    active_rows,
    activity,
    bit_counts,
    check_events,
    distributed_only,
    finish,
    finish_deferred,
    is_complete,
    mask_period_counts,
    mask_plan,
    over_by,
    per_customers,
    periods,
    prepare,
    problems,
    safe_ratio,
    window,
)
from retainlib.metrics._options import KernelOptions
from retainlib.tables import MONEY, TableName

__all__ = ["cohort_retention", "retention_rate", "triangle"]

CohortKind = Literal["classic", "rolling"]
Measure = Literal["customers", "revenue"]

_RATE_SCHEMA = {
    "period": pl.Date,
    "is_complete": pl.Boolean,
    "start": pl.UInt32,
    "new": pl.UInt32,
    "retained": pl.UInt32,
    "reactivated": pl.UInt32,
    "churned": pl.UInt32,
    "end": pl.UInt32,
    "retention_rate": pl.Float64,
    "churn_rate": pl.Float64,
    "crr": pl.Float64,
}

#: The columns ``cohort_retention`` computes (everything else in its output is a ``by`` segment).
COHORT_COLUMNS: Final = (
    "cohort",
    "period_number",
    "is_complete",
    "cohort_size",
    "active",
    "retention",
    "revenue",
    "revenue_retention",
    "cumulative_revenue_per_customer",
)


def _flags(p: Prepared, active: pl.LazyFrame) -> pl.LazyFrame:
    """Active rows with: previous active period of the customer, and first period F(c)."""
    keys = [*p.by, "customer_id"]
    return active.with_columns(
        pl.col(PERIOD_INDEX).shift(1).over(keys, order_by=PERIOD_INDEX).alias("_prev"),
        pl.col(PERIOD_INDEX).min().over(keys).alias("_cohort"),
    )


@overload
def retention_rate(
    data: pl.LazyFrame,
    *,
    table: TableName | None = ...,
    events: Sequence[str] | None = ...,
    **options: Unpack[KernelOptions],
) -> pl.LazyFrame: ...
@overload
def retention_rate(
    data: pl.DataFrame | Dataset | DaskFrame,
    *,
    table: TableName | None = ...,
    events: Sequence[str] | None = ...,
    **options: Unpack[KernelOptions],
) -> pl.DataFrame: ...
def retention_rate(
    data: Data | DaskFrame,
    *,
    period: PeriodName = "month",
    by: By = None,
    as_of: dt.datetime | dt.date | None = None,
    tz: str = "UTC",
    week_start: WeekStart = 0,
    engine: Engine = "auto",
    table: TableName | None = None,
    events: Sequence[str] | None = None,
) -> pl.DataFrame | pl.LazyFrame:
    """Period retention and churn: for each period after the first, who stayed, came, came back, left.

    With ``A(c, p)`` = customer ``c`` active in period ``p`` and ``F(c)`` its
    first active period, for each period ``p`` after the first of the window::

        start       = |{c : A(c, p-1)}|
        end         = |{c : A(c, p)}|
        new         = |{c : F(c) = p}|
        retained    = |{c : A(c, p-1) and A(c, p)}|
        reactivated = |{c : A(c, p) and not A(c, p-1) and F(c) < p}|
        churned     = start - retained
        retention_rate = retained / start      churn_rate = churned / start
        crr         = (end - new) / start      (the textbook (E - N) / S)

    so ``end = retained + new + reactivated`` always.  Rates are per period of
    ``period``; a zero ``start`` gives null rates.

    Parameters
    ----------
    data
        Canonical orders, subscriptions or events (DataFrame or LazyFrame), or
        a Dataset (its orders, else subscriptions, else events; or ``table=``).
    period
        ``"day"``, ``"week"``, ``"month"`` (default), ``"quarter"`` or ``"year"``.
    by
        Segment column(s), from the activity table or the Dataset's customers.
    as_of
        End of observation (aware datetime, or a date meaning through its end);
        default the last timestamp in the data.  Activity after it is ignored.
    tz, week_start
        Reporting time zone and first day of the week.
    table
        Which table of a Dataset defines activity.
    events
        With events: only these event names count as activity.
    engine
        The polars engine of the collects the kernel makes (its result for eager
        input, its small pre-passes): ``"auto"`` (default: polars' choice, the
        streaming engine in polars 2), ``"streaming"`` or ``"in-memory"``.  Lazy
        input returns a LazyFrame: pass the engine to your own ``collect``.

    Returns
    -------
    DataFrame or LazyFrame (the kind given; a Dataset gives a DataFrame)
        ``by`` columns, period, is_complete, start, new, retained, reactivated,
        churned, end, retention_rate, churn_rate, crr.

    Examples
    --------
    >>> import polars as pl, retainlib as rl
    >>> orders = pl.DataFrame({
    ...     "order_id": ["1", "2", "3", "4"], "customer_id": ["a", "a", "b", "c"],
    ...     "ordered_at": ["2024-01-05T00:00:00Z", "2024-02-05T00:00:00Z", "2024-01-09T00:00:00Z",
    ...                    "2024-02-20T00:00:00Z"],
    ...     "amount": ["10", "10", "5", "7"], "currency": ["EUR"] * 4})
    >>> rl.retention_rate(rl.Dataset(orders=orders)).select("period", "start", "retained", "new", "end",
    ...                                                      "retention_rate").row(0)
    (datetime.date(2024, 2, 1), 2, 1, 1, 2, 0.5)
    """
    p = prepare(
        data,
        metric="retention_rate",
        tables=ANY_ACTIVITY,
        distributed=True,
        by=by,
        period=period,
        tz=tz,
        week_start=week_start,
        engine=engine,
        as_of=as_of,
        table=table,
    )
    chosen = check_events(events)
    return finish_deferred(p, lambda p: _retention(p, chosen))


def _retention(p: Prepared, events: Sequence[str] | None) -> pl.LazyFrame:
    """The plan of :func:`retention_rate` (its pre-pass run)."""
    plan = mask_plan(p, events=events)
    if plan is not None:
        # One bit per period per customer: retained in p = bits p-1 and p both set.
        m = pl.col(MASK)
        counts, bounds = mask_period_counts(
            p,
            plan,
            {
                "end": lambda j: plan.bit(m, j),
                "retained": lambda j: plan.bit(m & (m * 2), j),
                "new": lambda j: plan.first(m) == j,
            },
        )
    else:
        distributed_only(p, "retention_rate", "activity over more than 62 periods, or subscriptions,")
        active = activity(p, events=events)
        flagged = _flags(p, active)
        counts = flagged.group_by(*p.by, PERIOD_INDEX).agg(
            pl.len().cast(pl.UInt32).alias("end"),
            (pl.col("_prev") == pl.col(PERIOD_INDEX) - 1).sum().cast(pl.UInt32).alias("retained"),
            (pl.col(PERIOD_INDEX) == pl.col("_cohort")).sum().cast(pl.UInt32).alias("new"),
        )
        bounds = window(p, active)
    cal = p.calendar
    grid = periods(bounds).select(*p.by, PERIOD_INDEX, "_end", "_first")
    return (
        grid.join(counts, on=[*p.by, PERIOD_INDEX], how="left", nulls_equal=True)
        .with_columns(pl.col("end", "retained", "new").fill_null(0))
        .sort(*p.by, PERIOD_INDEX)
        .with_columns(over_by(pl.col("end").shift(1, fill_value=0), p.by).alias("start"))
        .filter(pl.col(PERIOD_INDEX) > pl.col("_first"))
        .with_columns(
            (pl.col("end") - pl.col("retained") - pl.col("new")).alias("reactivated"),
            (pl.col("start") - pl.col("retained")).alias("churned"),
        )
        .select(
            *p.by,
            cal.start(PERIOD_INDEX).alias("period"),
            is_complete(cal, pl.col(PERIOD_INDEX), pl.col("_end")).alias("is_complete"),
            "start",
            "new",
            "retained",
            "reactivated",
            "churned",
            "end",
            safe_ratio(pl.col("retained"), pl.col("start")).alias("retention_rate"),
            safe_ratio(pl.col("churned"), pl.col("start")).alias("churn_rate"),
            safe_ratio(pl.col("end").cast(pl.Int64) - pl.col("new").cast(pl.Int64), pl.col("start")).alias("crr"),
        )
        .cast({k: v for k, v in _RATE_SCHEMA.items() if k not in ("period", "is_complete")})
    )


def _check_kind(kind: object) -> CohortKind:
    kinds: tuple[CohortKind, ...] = get_args(CohortKind)
    return OptionError.one_of(kind, kinds, option="kind", message="kind is 'classic' or 'rolling'")


def _check_revenue(revenue: object) -> bool:
    if not isinstance(revenue, bool):
        raise OptionError(
            "revenue is True, False or None (None: with measure='revenue')", option="revenue", value=revenue
        )
    return revenue


def _check_measure(measure: object) -> Measure:
    measures: tuple[Measure, ...] = get_args(Measure)
    return OptionError.one_of(measure, measures, option="measure", message="measure is 'customers' or 'revenue'")


@overload
def cohort_retention(
    data: pl.LazyFrame,
    *,
    kind: CohortKind = ...,
    measure: Measure = ...,
    revenue: bool | None = ...,
    table: TableName | None = ...,
    events: Sequence[str] | None = ...,
    start_events: Sequence[str] | None = ...,
    **options: Unpack[KernelOptions],
) -> pl.LazyFrame: ...
@overload
def cohort_retention(
    data: pl.DataFrame | Dataset | DaskFrame,
    *,
    kind: CohortKind = ...,
    measure: Measure = ...,
    revenue: bool | None = ...,
    table: TableName | None = ...,
    events: Sequence[str] | None = ...,
    start_events: Sequence[str] | None = ...,
    **options: Unpack[KernelOptions],
) -> pl.DataFrame: ...
def cohort_retention(
    data: Data | DaskFrame,
    *,
    kind: CohortKind = "classic",
    measure: Measure = "customers",
    revenue: bool | None = None,
    period: PeriodName = "month",
    by: By = None,
    as_of: dt.datetime | dt.date | None = None,
    tz: str = "UTC",
    week_start: WeekStart = 0,
    engine: Engine = "auto",
    table: TableName | None = None,
    events: Sequence[str] | None = None,
    start_events: Sequence[str] | None = None,
) -> pl.DataFrame | pl.LazyFrame:
    """Cohort retention: of the customers first active in a period, how many are active k periods later.

    ``cohort(c) = F(c)``, the first active period.  For ``k = 0, 1, 2, ...``
    while ``cohort + k`` is inside the observation window::

        cohort_size = |cohort|
        active(k)   = |{c in cohort : A(c, cohort + k)}|                   kind="classic" (N-period)
        active(k)   = |{c in cohort : A(c, cohort + j) for some j >= k}|   kind="rolling" (unbounded)
        retention   = active(k) / cohort_size                              (k = 0 gives 1.0)
        revenue(k)  = sum of the cohort's order amounts in period cohort + k
        revenue_retention = revenue(k) / revenue(0)
        cumulative_revenue_per_customer = sum of revenue(0..k) / cohort_size

    With ``measure="revenue"`` the ``retention`` column holds the revenue
    retention instead (the headline follows the measure).  The three revenue
    columns come with ``measure="revenue"`` or ``revenue=True``: they need
    each order's cohort, a second look at the orders that costs about as much
    as the customer counts themselves, so customer retention does not pay for
    them unless asked.  Revenue needs orders in one currency, or
    ``by="currency"``.

    Parameters
    ----------
    data, period, by, as_of, tz, week_start, table, events, engine
        As for :func:`retention_rate`.
    kind
        ``"classic"`` (active in exactly period k) or ``"rolling"`` (active in k or later).
    measure
        ``"customers"`` (default) or ``"revenue"``: what ``retention`` measures.
    start_events
        With events: the event names that put a customer in a cohort (its
        cohort is the first period with one of them), when they differ from
        the return events ``events`` (PostHog's and Amplitude's "start" and
        "return" events).  Default: ``events``.  ``active(k)`` then counts the
        cohort's customers with a return event in period ``cohort + k`` (for
        ``k = 0`` too, so period 0 need not be 1.0); return events before the
        cohort's period are ignored.
    revenue
        Add the columns ``revenue``, ``revenue_retention`` and
        ``cumulative_revenue_per_customer``.  Default (``None``): only with
        ``measure="revenue"``.  ``True`` needs an orders table.

    Returns
    -------
    DataFrame or LazyFrame
        ``by`` columns, cohort (pl.Date), period_number (periods since the
        cohort's first), is_complete, cohort_size, active, retention; with
        revenue, also revenue (exact, major units), revenue_retention and
        cumulative_revenue_per_customer (per customer of the cohort, cumulative
        to period k).  Long format: one row per cohort and k; :func:`triangle`
        pivots it.

    Examples
    --------
    >>> import polars as pl, retainlib as rl
    >>> orders = pl.DataFrame({
    ...     "order_id": ["1", "2", "3"], "customer_id": ["a", "a", "b"],
    ...     "ordered_at": ["2024-01-05T00:00:00Z", "2024-03-05T00:00:00Z", "2024-01-09T00:00:00Z"],
    ...     "amount": ["10", "20", "5"], "currency": ["EUR"] * 3})
    >>> rl.cohort_retention(orders).select("period_number", "active", "retention").rows()
    [(0, 2, 1.0), (1, 0, 0.0), (2, 1, 0.5)]
    """
    kind = _check_kind(kind)
    measure = _check_measure(measure)
    p = prepare(
        data,
        metric="cohort_retention",
        tables=ANY_ACTIVITY,
        distributed=True,
        by=by,
        period=period,
        tz=tz,
        week_start=week_start,
        engine=engine,
        as_of=as_of,
        table=table,
    )
    with_revenue = measure == "revenue" if revenue is None else _check_revenue(revenue)
    if measure == "revenue" and not with_revenue:
        raise OptionError(
            "measure='revenue' comes with the revenue columns: leave revenue=None", option="revenue", value=revenue
        )
    if with_revenue and p.table != "orders":
        asked = "measure='revenue'" if measure == "revenue" else "revenue=True"
        raise SchemaError(
            f"{asked} needs orders; the {p.table} table has no order revenue",
            table=p.table,
            column="amount",
            expected="orders",
            actual=p.table,
        )
    chosen = check_events(events)
    start = check_events(start_events) if start_events is not None else chosen
    if start_events is not None and p.table != "events":
        raise OptionError(
            f"start_events needs an events table; the {p.table} table has no event names",
            option="start_events",
            value=start_events,
        )
    if start == chosen:
        return finish_deferred(p, lambda p: _cohorts(p, chosen, kind, measure, with_revenue))
    distributed_only(p, "cohort_retention", "start_events")
    return finish(_cohorts_from_start(p, start, chosen, kind), p)


def _cohorts(
    p: Prepared, events: Sequence[str] | None, kind: CohortKind, measure: Measure, with_revenue: bool
) -> pl.LazyFrame:
    """The plan of :func:`cohort_retention` (its pre-pass run: the span, and the currency check for revenue)."""
    cohort_keys = [*p.by, "_cohort"]
    plan = mask_plan(p, events=events, single_currency=with_revenue)
    if plan is not None:
        classic, spans, sizes, bounds = _cohort_counts_from_masks(p, plan, events, with_revenue)
    else:
        distributed_only(p, "cohort_retention", "activity over more than 62 periods, or subscriptions,")
        active = activity(p, events=events)
        if not with_revenue:
            active = active.with_columns(pl.lit(None, dtype=MONEY).alias("revenue"))
        flagged = _flags(p, active)
        per_k = flagged.with_columns((pl.col(PERIOD_INDEX) - pl.col("_cohort")).alias("_k"))
        classic = per_k.group_by(*cohort_keys, "_k").agg(
            pl.len().cast(pl.UInt32).alias("_active"), pl.col("revenue").sum().alias("_revenue")
        )
        lasts = per_k.group_by(*p.by, "customer_id", "_cohort").agg(pl.col("_k").max().alias("_span"))
        spans = lasts.group_by(*cohort_keys, pl.col("_span").alias("_k")).agg(pl.len().cast(pl.UInt32).alias("_ending"))
        sizes = lasts.group_by(*cohort_keys).agg(pl.len().cast(pl.UInt32).alias("cohort_size"))
        bounds = window(p, active)
    return _cohort_table(p, classic, spans, sizes, bounds, kind, measure, with_revenue)


def _cohorts_from_start(
    p: Prepared, start: Sequence[str] | None, events: Sequence[str] | None, kind: CohortKind
) -> pl.LazyFrame:
    """The plan of :func:`cohort_retention` when the start events differ from the return events.

    Cohort = first period with a start event; ``active(k)`` = the cohort's
    customers with a return event in period ``cohort + k`` (k >= 0).
    """
    keys = [*p.by, "customer_id"]
    cohort_keys = [*p.by, "_cohort"]
    index = p.calendar.timestamp_index("occurred_at")
    starts = active_rows(p, start).group_by(keys).agg(index.min().alias("_cohort"))
    returns = (
        activity(p, events=events)
        .join(starts, on=keys, how="inner", nulls_equal=True)
        .filter(pl.col(PERIOD_INDEX) >= pl.col("_cohort"))
        .with_columns((pl.col(PERIOD_INDEX) - pl.col("_cohort")).alias("_k"))
    )
    classic = returns.group_by(*cohort_keys, "_k").agg(
        pl.len().cast(pl.UInt32).alias("_active"), pl.lit(None, dtype=MONEY).alias("_revenue")
    )
    lasts = returns.group_by(*keys, "_cohort").agg(pl.col("_k").max().alias("_span"))
    spans = lasts.group_by(*cohort_keys, pl.col("_span").alias("_k")).agg(pl.len().cast(pl.UInt32).alias("_ending"))
    sizes = starts.group_by(*cohort_keys).agg(pl.len().cast(pl.UInt32).alias("cohort_size"))
    bounds = window(p, starts.select(*p.by, pl.col("_cohort").alias(PERIOD_INDEX)))
    return _cohort_table(p, classic, spans, sizes, bounds, kind, "customers", False)


def _cohort_table(
    p: Prepared,
    classic: pl.LazyFrame,
    spans: pl.LazyFrame,
    sizes: pl.LazyFrame,
    bounds: pl.LazyFrame,
    kind: CohortKind,
    measure: Measure,
    with_revenue: bool,
) -> pl.LazyFrame:
    """The long cohort table from the per-(cohort, k) counts, the spans, the sizes and the window."""
    cohort_keys = [*p.by, "_cohort"]
    cal = p.calendar
    grid = (
        (sizes.join(bounds, on=list(p.by), how="inner", nulls_equal=True) if p.by else sizes.join(bounds, how="cross"))
        .with_columns(pl.int_ranges(0, pl.col("_last") - pl.col("_cohort") + 1).alias("_k"))
        .explode("_k")
    )
    joined = (
        grid.join(classic, on=[*cohort_keys, "_k"], how="left", nulls_equal=True)
        .join(spans, on=[*cohort_keys, "_k"], how="left", nulls_equal=True)
        .with_columns(pl.col("_active", "_ending").fill_null(0))
        .with_columns(pl.col("_revenue").fill_null(0))
        .sort(*cohort_keys, "_k")
        .with_columns(
            (
                # customers with activity at k or later: those active at all (every member when the cohort's
                # own activity defines it) less those whose last activity is before k
                pl.col("_ending").sum().over(cohort_keys).cast(pl.UInt32)
                - pl.col("_ending").cum_sum().over(cohort_keys).cast(pl.UInt32)
                + pl.col("_ending")
            ).alias("_rolling"),
            pl.col("_revenue").cum_sum().over(cohort_keys).alias("_cumulative"),
            pl.col("_revenue").first().over(cohort_keys).alias("_revenue0"),
        )
    )
    active_col = pl.col("_rolling") if kind == "rolling" else pl.col("_active")
    revenue_retention = safe_ratio(pl.col("_revenue"), pl.col("_revenue0"))
    return joined.select(
        *p.by,
        cal.start("_cohort").alias("cohort"),
        pl.col("_k").cast(pl.Int64).alias("period_number"),
        is_complete(cal, pl.col("_cohort") + pl.col("_k"), pl.col("_end")).alias("is_complete"),
        "cohort_size",
        active_col.cast(pl.UInt32).alias("active"),
        (revenue_retention if measure == "revenue" else safe_ratio(active_col, pl.col("cohort_size"))).alias(
            "retention"
        ),
        *(
            [
                pl.col("_revenue").alias("revenue"),
                revenue_retention.alias("revenue_retention"),
                safe_ratio(pl.col("_cumulative"), pl.col("cohort_size")).alias("cumulative_revenue_per_customer"),
            ]
            if with_revenue
            else []
        ),
    )


@overload
def triangle(result: pl.LazyFrame, *, value: str = ...) -> pl.LazyFrame: ...
@overload
def triangle(result: pl.DataFrame, *, value: str = ...) -> pl.DataFrame: ...
def triangle(result: pl.DataFrame | pl.LazyFrame, *, value: str = "retention") -> pl.DataFrame | pl.LazyFrame:
    """Pivot a :func:`cohort_retention` result into the familiar triangle.

    One row per cohort (and ``by`` segment), with ``cohort_size`` and one
    column per period number (``"0"``, ``"1"``, ...) holding ``value``
    (default ``"retention"``; any numeric column of the result works:
    ``"active"``, ``"revenue"``, ``"cumulative_revenue_per_customer"``...).
    A frame that is not such a result (a missing column, a cohort with a
    period number twice or none) is a :class:`~retainlib.errors.SchemaError`
    or :class:`~retainlib.errors.DataError`.

    ``triangle`` is eager: the width of the pivot is the number of period
    numbers in the data, so it collects its input when called (a LazyFrame in
    gives a LazyFrame over the collected triangle).

    Examples
    --------
    >>> import polars as pl, retainlib as rl
    >>> orders = pl.DataFrame({
    ...     "order_id": ["1", "2", "3"], "customer_id": ["a", "a", "b"],
    ...     "ordered_at": ["2024-01-05T00:00:00Z", "2024-02-05T00:00:00Z", "2024-02-09T00:00:00Z"],
    ...     "amount": ["10", "20", "5"], "currency": ["EUR"] * 3})
    >>> rl.triangle(rl.cohort_retention(orders)).rows()
    [(datetime.date(2024, 1, 1), 1, 1.0, 1.0), (datetime.date(2024, 2, 1), 1, 1.0, None)]
    """
    eager = isinstance(result, pl.DataFrame)
    if not isinstance(value, str):
        raise OptionError(f"value is a column name, got {type(value).__name__}", option="value", value=value)
    lazy = result.lazy()
    columns = lazy.collect_schema().names()
    needed = ["cohort", "period_number", "cohort_size", value]
    missing = [c for c in needed if c not in columns]
    if missing:
        raise SchemaError(
            f"triangle takes a cohort_retention result; missing column(s) {missing}",
            table="cohort_retention",
            column=missing[0],
            expected="present",
            actual=None,
        )
    by = [c for c in columns if c not in COHORT_COLUMNS]
    index = [*by, "cohort", "cohort_size"]
    # The width (number of period columns) must be known to pivot lazily: it is
    # the longest cohort's length, so the pivot runs on the small long result.
    frame = lazy.select(*index, "period_number", value).collect()
    cell = [*by, "cohort", "period_number"]
    rules = [
        ("period_number", "missing", pl.col("period_number").is_null()),
        ("period_number", "the same cohort and period number twice", pl.struct(cell).is_duplicated()),
    ]
    found = problems(frame.lazy(), "cohort_retention", rules, cell)
    if found:
        raise DataError(found)
    wide = (
        frame.sort("period_number")
        .with_columns(pl.col("period_number").cast(pl.String))
        .pivot(on="period_number", index=index, values=value)
        .sort(index)
    )
    if wide.height == 0:
        wide = frame.select(index)
    return wide if eager else wide.lazy()


def _cohort_counts_from_masks(
    p: Prepared, plan: MaskPlan, events: Sequence[str] | None, with_revenue: bool
) -> tuple[pl.LazyFrame, pl.LazyFrame, pl.LazyFrame, pl.LazyFrame]:
    """Cohort counts from per-customer activity masks: (classic, spans, sizes, bounds) as the row plan makes them.

    Customer counts come from the distinct masks (cohort = lowest set bit,
    span = highest - lowest, active in k = bit k of the mask shifted to the
    cohort); revenue by (cohort, k) needs the orders with their customer's
    cohort, one window over the customers.
    """
    m, weight = pl.col(MASK), pl.col("_w")
    first = plan.first(m)
    cohort_keys = [*p.by, "_cohort"]
    dist = plan.masks.with_columns(
        (plan.base + first).alias("_cohort"),
        (plan.last(m) - first).alias("_span"),
        (m // pl.lit(2, dtype=pl.Int64).pow(first)).alias("_norm"),
    )
    sizes = dist.group_by(*cohort_keys).agg(weight.sum().cast(pl.UInt32).alias("cohort_size"))
    spans = dist.group_by(*cohort_keys, pl.col("_span").alias("_k")).agg(weight.sum().cast(pl.UInt32).alias("_ending"))
    norm = pl.col("_norm")
    active = bit_counts(dist, cohort_keys, plan.size, {"_active": lambda k: plan.bit(norm, k)}, name="_k")
    if with_revenue:
        index = p.calendar.timestamp_index("ordered_at")

        def by_cohort(part: pl.LazyFrame) -> pl.LazyFrame:
            return (
                part.select(*p.by, "customer_id", "amount", index.alias(PERIOD_INDEX))
                .with_columns(pl.col(PERIOD_INDEX).min().over([*p.by, "customer_id"]).alias("_cohort"))
                .group_by(*cohort_keys, (pl.col(PERIOD_INDEX) - pl.col("_cohort")).alias("_k"))
                .agg(pl.col("amount").sum().alias("_revenue"))
            )

        # Sums by (cohort, k) are additive over partitions of the customers.
        revenue = (
            per_customers(p, lambda q: active_rows(q, events), by_cohort, plan.rows)
            .group_by(*cohort_keys, "_k")
            .agg(pl.col("_revenue").sum())
        )
        classic = active.join(revenue, on=[*cohort_keys, "_k"], how="left", nulls_equal=True)
    else:
        classic = active.with_columns(pl.lit(None, dtype=MONEY).alias("_revenue"))
    bounds = window(p, dist.select(*p.by, pl.col("_cohort").alias(PERIOD_INDEX)), plan.ends)
    return classic, spans, sizes, bounds
