"""Customer lifetime value: historical (what customers have spent) and the simple formula for subscriptions.

See the spec section "Customer lifetime value" and ``docs/metrics/clv.md``.

* :func:`clv_historical`: per customer, the total amount of their orders
  (``grain="customer"``), or per cohort the cumulative revenue per customer by
  period (``grain="cohort"``, the ``cumulative_revenue_per_customer`` column of
  :func:`~retainlib.metrics.retention.cohort_retention`).
* :func:`clv_formula`: ``CLV = ARPA * gross_margin / churn_rate`` per period,
  from subscription snapshots (spec "Subscription revenue"): a rough estimate
  that assumes the period's churn rate and ARPA hold for ever.

Predictive models (BG/NBD, Gamma-Gamma, sBG) live elsewhere.
"""

from __future__ import annotations

import math
from typing import Final, Literal, Unpack, overload

import attrs
import polars as pl

from retainlib._dataset import Dataset
from retainlib.calendar import PeriodName, WeekStart, check_period
from retainlib.errors import OptionError
from retainlib.metrics._common import (
    PERIOD_INDEX,
    By,
    Data,
    Engine,
    Prepared,
    activity,
    check_single_currency,
    finish,
    is_complete,
    periods,
    prepare,
    safe_ratio,
    window,
)
from retainlib.metrics._options import AsOf, KernelOptions, ObservationOptions
from retainlib.tables import TIMESTAMP

__all__ = ["GRAINS", "Grain", "clv_formula", "clv_historical"]

#: What :func:`clv_historical` reports: one row per customer, or per cohort and period number.
Grain = Literal["customer", "cohort"]
GRAINS: Final[tuple[Grain, ...]] = ("customer", "cohort")
#: Months in a period: ARPA is monthly, the formula needs revenue per account per period.
MONTHS: Final[dict[str, int]] = {"month": 1, "quarter": 3, "year": 12}

_SEG: Final = "_seg"  # a constant segment column standing in for "no by"


# --- historical ---------------------------------------------------------------------------


def _check_grain(grain: object) -> Grain:
    return OptionError.one_of(grain, GRAINS, option="grain", message=f"grain is 'customer' or 'cohort', got {grain!r}")


@overload
def clv_historical(orders: pl.LazyFrame, *, grain: Grain = ..., **options: Unpack[KernelOptions]) -> pl.LazyFrame: ...
@overload
def clv_historical(
    orders: pl.DataFrame | Dataset, *, grain: Grain = ..., **options: Unpack[KernelOptions]
) -> pl.DataFrame: ...
def clv_historical(
    orders: Data,
    *,
    period: PeriodName = "month",
    by: By = None,
    as_of: AsOf = None,
    tz: str = "UTC",
    week_start: WeekStart = 0,
    engine: Engine = "auto",
    grain: Grain = "customer",
) -> pl.DataFrame | pl.LazyFrame:
    """Historical customer lifetime value: what customers have actually spent.

    ``grain="customer"``: per customer, the total amount of their orders
    (``revenue = sum(amount)``, exact), with their first and last order and
    order count.  ``grain="cohort"``: per cohort (first period with an order)
    and period number ``k``, the cumulative revenue per customer of the cohort,
    ``sum of revenue(0..k) / cohort_size``, as computed by
    :func:`~retainlib.metrics.retention.cohort_retention`.

    Parameters
    ----------
    orders
        A canonical orders table (DataFrame or LazyFrame) or a Dataset with one.
    period, tz, week_start
        The cohort calendar (defaults ``"month"``, ``"UTC"``, 0 = Monday), used
        by ``grain="cohort"`` (see
        :func:`~retainlib.metrics.retention.cohort_retention`); checked with
        either grain.  ``tz`` also reads a date ``as_of``.
    by
        Segment column(s) of the orders or customers table (default ``None``);
        the output starts with them.  Amounts of several currencies are never
        added: give ``by="currency"`` (or include it) when the orders mix
        currencies.
    as_of
        End of observation (exclusive): an aware datetime, or a date meaning
        through the end of that local day.  Orders at or after it are left out.
        Default (``None``): every order.
    engine
        The polars engine of the collects the kernel makes (the currency
        check, the result for eager input): ``"auto"`` (default),
        ``"streaming"`` or ``"in-memory"``.  Lazy input returns a LazyFrame:
        pass the engine to your own ``collect``.
    grain
        What a row is: ``"customer"`` (default) or ``"cohort"`` (a cohort and
        period number).

    Returns
    -------
    DataFrame or LazyFrame
        ``grain="customer"``: ``by`` columns, ``customer_id``, ``first_order``,
        ``last_order`` (Datetime UTC), ``orders`` (UInt32), ``revenue``
        (Decimal(38, 4), major units, over the customer's whole history to
        ``as_of``), ``currency`` (String; absent when ``by`` holds it); sorted
        by segment and customer.  ``grain="cohort"``: ``by`` columns,
        ``cohort`` (Date), ``period_number`` (Int64), ``is_complete``,
        ``cohort_size`` (UInt32), ``revenue`` (Decimal, revenue of period
        ``k``), ``cumulative_revenue_per_customer`` (Float64, currency per
        customer, cumulative to period ``k``).

    Raises
    ------
    CurrencyError
        The orders mix currencies and ``by`` does not include ``"currency"``.
    OptionError
        An unknown grain, or a bad shared option (an unknown period, time
        zone, week start or engine, a naive ``as_of``), named in the error.
    SchemaError
        The input is not an orders table, or a ``by`` column is missing.

    Examples
    --------
    >>> import polars as pl
    >>> orders = pl.DataFrame({
    ...     "order_id": ["1", "2", "3"], "customer_id": ["a", "a", "b"],
    ...     "ordered_at": ["2024-01-05T00:00:00Z", "2024-03-05T00:00:00Z", "2024-01-09T00:00:00Z"],
    ...     "amount": ["10.50", "20", "5"], "currency": ["EUR"] * 3})
    >>> clv_historical(orders).select("customer_id", "orders", "revenue").rows()
    [('a', 2, Decimal('30.5000')), ('b', 1, Decimal('5.0000'))]
    """
    if _check_grain(grain) == "cohort":
        from retainlib.metrics.retention import cohort_retention

        cohorts = cohort_retention(
            orders,
            by=by,
            as_of=as_of,
            period=period,
            tz=tz,
            week_start=week_start,
            engine=engine,
            table="orders",
            revenue=True,
        )
        names = cohorts.collect_schema().names()
        by_cols = names[: names.index("cohort")]
        columns = [
            "cohort",
            "period_number",
            "is_complete",
            "cohort_size",
            "revenue",
            "cumulative_revenue_per_customer",
        ]
        return cohorts.select(*by_cols, *columns)
    p = prepare(
        orders,
        metric="clv_historical",
        tables=["orders"],
        by=by,
        as_of=as_of,
        period=period,
        tz=tz,
        week_start=week_start,
        engine=engine,
    )
    check_single_currency(p)
    frame = p.frame
    if p.as_of is not None:
        frame = frame.filter(pl.col("ordered_at") < pl.lit(p.as_of, dtype=TIMESTAMP))
    keys = [*p.by, "customer_id"]
    currency = [] if "currency" in p.by else [pl.col("currency").first()]
    result = (
        frame.group_by(keys)
        .agg(
            pl.col("ordered_at").min().alias("first_order"),
            pl.col("ordered_at").max().alias("last_order"),
            pl.len().cast(pl.UInt32).alias("orders"),
            pl.col("amount").sum().alias("revenue"),
            *currency,
        )
        .sort(keys, nulls_last=True)
    )
    return finish(result, p)


# --- formula ------------------------------------------------------------------------------


def _check_margin(margin: object) -> float:
    if isinstance(margin, int | float) and not isinstance(margin, bool) and math.isfinite(margin) and 0 < margin <= 1:
        return float(margin)
    raise OptionError(
        f"margin is the gross margin, a fraction in (0, 1] (0.8 for 80 %), got {margin!r}",
        option="margin",
        value=margin,
    )


def _months(period: object) -> int:
    name = check_period(period)
    if name not in MONTHS:
        raise OptionError(
            f"clv_formula needs period 'month', 'quarter' or 'year', got {name!r}: ARPA is monthly revenue and "
            "the revenue per account of a period is ARPA times the months in it, not a whole number for "
            "days and weeks",
            option="period",
            value=period,
        )
    return MONTHS[name]


def _observed_segments(p: Prepared) -> Prepared:
    """Segments that run with ``mrr > 0``, as known at ``as_of``; a constant segment column without ``by``.

    With ``as_of`` (exclusive) a segment starting at or after it is unknown and
    an end at or after it is not known yet (the segment counts as running).
    """
    frame = p.frame.filter(
        (pl.col("mrr") > 0) & (pl.col("ended_at").is_null() | (pl.col("ended_at") > pl.col("started_at")))
    )
    if p.as_of is not None:
        cut = pl.lit(p.as_of, dtype=TIMESTAMP)
        frame = frame.filter(pl.col("started_at") < cut).with_columns(
            pl.when(pl.col("ended_at") < cut).then(pl.col("ended_at")).alias("ended_at")
        )
    if p.by:
        return attrs.evolve(p, frame=frame)
    return attrs.evolve(p, frame=frame.with_columns(pl.lit(0, dtype=pl.Int8).alias(_SEG)), by=(_SEG,))


@overload
def clv_formula(
    subscriptions: pl.LazyFrame,
    *,
    period: PeriodName = ...,
    margin: float = ...,
    **options: Unpack[ObservationOptions],
) -> pl.LazyFrame: ...
@overload
def clv_formula(
    subscriptions: pl.DataFrame | Dataset,
    *,
    period: PeriodName = ...,
    margin: float = ...,
    **options: Unpack[ObservationOptions],
) -> pl.DataFrame: ...
def clv_formula(
    subscriptions: Data,
    *,
    period: PeriodName = "month",
    by: By = None,
    as_of: AsOf = None,
    tz: str = "UTC",
    engine: Engine = "auto",
    margin: float = 1.0,
) -> pl.DataFrame | pl.LazyFrame:
    """The textbook subscription CLV, ``ARPA * gross_margin / churn_rate``, per period: a rough estimate.

    For each period ``p``, with snapshots at ``τ0 = start(p)`` and
    ``τ1 = start(p+1)`` (a segment runs at ``τ`` when
    ``started_at <= τ < ended_at``; ``mrr_c(τ)`` sums the customer's running
    segments)::

        customers_start = |{c : mrr_c(τ0) > 0}|
        churned         = |{c : mrr_c(τ0) > 0 and mrr_c(τ1) = 0}|
        churn_rate      = churned / customers_start                 (logo churn, per period)
        arpa            = mrr(τ1) / |{c : mrr_c(τ1) > 0}|            (per month)
        clv             = arpa * months(p) * margin / churn_rate     (currency)

    ``months(p)`` is 1, 3 or 12.  The formula assumes the period's churn rate
    and ARPA last for ever (expected lifetime ``1 / churn_rate`` periods) and
    does not discount: use it to compare segments and periods, not as a
    forecast.

    Parameters
    ----------
    subscriptions
        A canonical subscriptions table (DataFrame or LazyFrame) or a Dataset with one.
    period
        ``"month"`` (default), ``"quarter"`` or ``"year"``; others are an
        :class:`~retainlib.errors.OptionError` (there is no ``week_start``).
    as_of
        End of observation (exclusive): an aware datetime, or a date meaning
        through the end of that local day.  Segments starting at or after it
        are ignored and ends at or after it are not known yet.  Default: the
        last timestamp of the segments with ``mrr > 0`` (per segment with ``by``).
    by
        Segment column(s) of the subscriptions or customers table (default
        ``None``).  Several currencies need ``by="currency"`` (or including it).
    tz
        Reporting time zone (IANA name, default ``"UTC"``): snapshots are at
        local period starts.
    engine
        The polars engine of the collects the kernel makes (the currency
        check, the result for eager input): ``"auto"`` (default),
        ``"streaming"`` or ``"in-memory"``.
    margin
        Gross margin, a fraction in ``(0, 1]`` (default 1: CLV in revenue).

    Returns
    -------
    DataFrame or LazyFrame
        ``by`` columns, ``period`` (Date), ``is_complete`` (Boolean: ``τ1`` at
        or before the end of observation), ``customers_start``, ``churned``
        (UInt32), ``churn_rate`` (Float64, per period), ``arpa`` (Float64,
        currency per account per month), ``margin`` (Float64), ``clv``
        (Float64, currency per account), ``zero_churn`` (Boolean).  ``clv`` is
        null when nobody churned (``zero_churn`` true: the formula is
        infinite), when nobody was there at ``τ0`` (``churn_rate`` null) or at
        ``τ1`` (``arpa`` null).  From the first period with a running segment to
        the one holding the end of observation.

    Raises
    ------
    CurrencyError
        The subscriptions mix currencies and ``by`` does not include ``"currency"``.
    OptionError
        ``margin`` outside ``(0, 1]``, a period other than month, quarter or
        year, or another bad option.
    SchemaError
        The input is not a subscriptions table, or a ``by`` column is missing.

    Examples
    --------
    >>> import polars as pl
    >>> subs = pl.DataFrame({
    ...     "subscription_id": ["1", "2"], "customer_id": ["a", "b"],
    ...     "started_at": ["2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"],
    ...     "ended_at": ["2024-02-15T00:00:00Z", None], "mrr": ["10", "30"], "currency": ["EUR"] * 2})
    >>> clv_formula(subs, margin=0.5).select("period", "churn_rate", "arpa", "clv").rows()
    [(datetime.date(2024, 1, 1), 0.0, 20.0, None), (datetime.date(2024, 2, 1), 0.5, 30.0, 30.0)]
    """
    months = _months(period)
    gross = _check_margin(margin)
    p = prepare(
        subscriptions,
        metric="clv_formula",
        tables=["subscriptions"],
        by=by,
        period=period,
        tz=tz,
        as_of=as_of,
        engine=engine,
    )
    check_single_currency(p)
    q = _observed_segments(p)
    cal = q.calendar
    seg = list(q.by)
    bounds = window(q, activity(q)).select(*seg, "_first", "_last", "_end")

    # mrr_c(τ_k) at every snapshot τ_k = start(k), k = first .. last + 1: a segment runs at the
    # snapshots from the first period start at or after started_at to the last one before ended_at.
    start_index = cal.timestamp_index("started_at")
    k_min = start_index + (cal.instant(cal.start(start_index)) < pl.col("started_at")).cast(pl.Int64)
    k_end = cal.timestamp_index(pl.col("ended_at") - pl.duration(microseconds=1))
    k_max = pl.when(pl.col("ended_at").is_null()).then(pl.col("_last") + 1).otherwise(k_end)
    snapshots = (
        q.frame.join(bounds, on=seg, how="inner", nulls_equal=True)
        .with_columns(
            _kmin=pl.max_horizontal(k_min, pl.col("_first")),
            _kmax=pl.min_horizontal(k_max, pl.col("_last") + 1),
        )
        .filter(pl.col("_kmax") >= pl.col("_kmin"))
        .select(*seg, "_first", "_last", "customer_id", "mrr", pl.int_ranges("_kmin", pl.col("_kmax") + 1).alias("_k"))
        .explode("_k")
        .group_by(*seg, "_first", "_last", "customer_id", "_k")
        .agg(pl.col("mrr").sum().alias("_m"))
    )
    none = pl.lit(None, dtype=snapshots.collect_schema()["_m"])
    keys = [*seg, "customer_id", PERIOD_INDEX]
    # Each snapshot is the start (τ0) of period k and the end (τ1) of period k - 1.
    per_customer = (
        pl.concat(
            [
                snapshots.filter(pl.col("_k") <= pl.col("_last")).select(
                    *seg, "customer_id", pl.col("_k").alias(PERIOD_INDEX), pl.col("_m").alias("_m0"), none.alias("_m1")
                ),
                snapshots.filter(pl.col("_k") > pl.col("_first")).select(
                    *seg,
                    "customer_id",
                    (pl.col("_k") - 1).alias(PERIOD_INDEX),
                    none.alias("_m0"),
                    pl.col("_m").alias("_m1"),
                ),
            ]
        )
        .group_by(keys)
        .agg(pl.col("_m0").sum(), pl.col("_m1").sum())
    )
    at_start, at_end = pl.col("_m0") > 0, pl.col("_m1") > 0
    counts = per_customer.group_by(*seg, PERIOD_INDEX).agg(
        at_start.sum().cast(pl.UInt32).alias("customers_start"),
        (at_start & ~at_end).sum().cast(pl.UInt32).alias("churned"),
        at_end.sum().cast(pl.UInt32).alias("_customers_end"),
        pl.col("_m1").sum().alias("_mrr_end"),
    )
    grid = periods(bounds)
    churn_rate = safe_ratio(pl.col("churned"), pl.col("customers_start"))
    arpa = safe_ratio(pl.col("_mrr_end"), pl.col("_customers_end"))
    result = (
        grid.join(counts, on=[*seg, PERIOD_INDEX], how="left", nulls_equal=True)
        .with_columns(
            pl.col("customers_start", "churned", "_customers_end").fill_null(0), pl.col("_mrr_end").fill_null(0)
        )
        .sort([*seg, PERIOD_INDEX], nulls_last=True)
        .select(
            *(c for c in seg if c != _SEG),
            cal.start(PERIOD_INDEX).alias("period"),
            is_complete(cal, pl.col(PERIOD_INDEX), pl.col("_end")).alias("is_complete"),
            "customers_start",
            "churned",
            churn_rate.alias("churn_rate"),
            arpa.alias("arpa"),
            pl.lit(gross, dtype=pl.Float64).alias("margin"),
            pl.when(pl.col("churned") > 0).then(arpa * (months * gross) / churn_rate).alias("clv"),
            ((pl.col("customers_start") > 0) & (pl.col("churned") == 0)).alias("zero_churn"),
        )
    )
    return finish(result, p)
