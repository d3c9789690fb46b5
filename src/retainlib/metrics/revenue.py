"""Subscription revenue: ``mrr``, ``mrr_movements`` and ``revenue_retention``.

Definitions, with their formulas: ``docs/metrics/mrr.md``.  Everything is computed from *snapshots*: the MRR of
each customer at the first instant of each period, ``mrr_c(τ)`` = the sum of
the mrr of the customer's segments running at ``τ`` (``started_at <= τ <
ended_at``).  Money stays exact (``Decimal(38, 4)``) from the segments to the
identities; ratios come last.

Currency conversion (``fx=``, ``currency=``) follows one as-of rule: a
snapshot in currency ``X`` on date ``d`` is converted at the rate of ``X``
dated ``d``, or else the latest one before ``d``.  The rate table is checked
once (currency codes, dates, finite positive rates, one rate per currency and
date: :class:`~retainlib.errors.DataError` naming its rows), and a snapshot
with no rate on or before its date (a currency missing from the table, or a
date before its first rate) is a :class:`~retainlib.errors.CurrencyError`
listing the first missing (currency, date) pairs: revenue is never dropped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import NamedTuple, Unpack, overload

import polars as pl

from retainlib._dataset import Dataset
from retainlib.calendar import PeriodName, WeekStart
from retainlib.errors import CurrencyError, DataError, OptionError, RetainlibError, SchemaError
from retainlib.metrics._common import (
    PERIOD_INDEX,
    By,
    DaskFrame,
    Data,
    Engine,
    Prepared,
    check_single_currency,
    distributed_only,
    finish_deferred,
    gather,
    guard,
    guard_spans,
    guard_window,
    is_complete,
    last_instant,
    merge_ends,
    over_by,
    periods,
    prepare,
    problems,
    safe_ratio,
    segment_ends,
)
from retainlib.metrics._options import KernelOptions
from retainlib.tables import CURRENCY_PATTERN, MONEY, MONEY_DIGITS, MONEY_LIMIT, TIMESTAMP

__all__ = ["MOVEMENTS", "mrr", "mrr_movements", "revenue_retention"]

#: The movement kinds, in the order of the identity.
MOVEMENTS = ("new", "reactivation", "expansion", "contraction", "churn")
_ZERO = pl.lit(0, dtype=MONEY)


class Conversion(NamedTuple):
    """Where money is converted to: the checked rate table (currency, date, rate; lazy) and the target currency."""

    rates: pl.LazyFrame
    to: str


def _fx_error(message: str, column: str, expected: str, actual: pl.DataType | None = None) -> SchemaError:
    return SchemaError(
        message, table="fx", column=column, expected=expected, actual=None if actual is None else str(actual)
    )


def _fx_columns(schema: pl.Schema) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """The fx table's currency (String), date (Date) and rate (Float64) as expressions, or SchemaError."""
    cur, day, rate = schema["currency"], schema["date"], schema["rate"]
    if not (cur == pl.String or isinstance(cur, pl.Categorical | pl.Enum | pl.Null)):
        raise _fx_error(f"currency codes are text, not {cur}", "currency", "ISO 4217 codes", cur)
    currency = pl.col("currency").cast(pl.String).str.strip_chars().str.to_uppercase()
    if day in (pl.Date, pl.Null):
        date = pl.col("date").cast(pl.Date)
    elif isinstance(day, pl.Datetime):
        date = pl.col("date").dt.date()
    elif day == pl.String:
        date = pl.col("date").str.strip_chars().str.to_date("%Y-%m-%d", strict=False)
    else:
        raise _fx_error(f"dates are dates or YYYY-MM-DD text, not {day}", "date", "dates", day)
    if not (rate.is_numeric() or rate == pl.Null):
        raise _fx_error(f"rates are numbers, not {rate}", "rate", "numbers", rate)
    return currency, date, pl.col("rate").cast(pl.Float64)


def _fx_rates(fx: object, to: str) -> pl.LazyFrame:
    """The exchange-rate table, checked, as (currency, date, rate): lazy, sorted by date.

    A DataFrame is checked now; a LazyFrame inside the plan (the error comes
    from ``collect``).  Every row problem is reported in one
    :class:`~retainlib.errors.DataError` naming the rows.
    """
    if not isinstance(fx, pl.DataFrame | pl.LazyFrame):
        raise OptionError(
            "fx is a polars frame with columns currency, date, rate", option="fx", value=type(fx).__name__
        )
    lazy = fx.lazy()
    try:
        schema = lazy.collect_schema()
    except pl.exceptions.PolarsError as exc:
        raise _fx_error(f"cannot read the fx table's columns: {exc}", "*", "a table") from exc
    missing = [c for c in ("currency", "date", "rate") if c not in schema]
    if missing:
        raise _fx_error(
            f"fx needs columns currency, date, rate (units of {to} per unit of currency); missing {missing}",
            missing[0],
            "present",
        )
    currency, date, rate = _fx_columns(schema)
    given = lazy.select("currency", "date", "rate", currency.alias("_c"), date.alias("_d"), rate.alias("_r"))
    c, d, r = pl.col("_c"), pl.col("_d"), pl.col("_r")
    rules = [
        ("currency", "not an ISO 4217 currency code", c.is_null() | ~c.str.contains(CURRENCY_PATTERN.pattern)),
        ("date", "missing, or not a date (YYYY-MM-DD)", d.is_null()),
        ("rate", "not a finite number above 0", r.is_null() | ~r.is_finite() | (r <= 0)),
        (
            "date",
            "two rates for one currency and date (which one applies would be arbitrary)",
            pl.struct(c, d).is_duplicated() & c.is_not_null() & d.is_not_null(),
        ),
    ]
    shown = ["currency", "date", "rate"]

    def fail() -> RetainlibError:
        return DataError(problems(given, "fx", rules, shown))

    if isinstance(fx, pl.DataFrame):
        found = problems(given, "fx", rules, shown)
        if found:
            raise DataError(found)
        checked = given
    else:
        checked = guard(given, pl.any_horizontal([bad for _, _, bad in rules]), fail)
    return checked.select(c.alias("currency"), d.alias("date"), r.alias("rate")).sort("date")


def _check_money(p: Prepared, fx: object, to: object) -> Conversion | None:
    """Without fx: one currency (or by='currency'); with fx: the checked conversion to the target currency."""
    if fx is None:
        if to is not None:
            raise OptionError("currency= needs an exchange-rate table fx=", option="currency", value=to)
        check_single_currency(p)
        return None
    if to is None:
        raise OptionError("fx= needs the target currency: currency='EUR'", option="currency", value=None)
    target = to.strip().upper() if isinstance(to, str) else None
    if target is None or not CURRENCY_PATTERN.match(target):
        raise OptionError("currency is an ISO 4217 code such as 'EUR'", option="currency", value=to)
    if "currency" in p.by:
        raise OptionError("with fx= everything is converted: drop 'currency' from by", option="by", value=p.by)
    return Conversion(rates=_fx_rates(fx, target), to=target)


def _convert(running: pl.LazyFrame, cal_start: pl.Expr, conversion: Conversion) -> pl.LazyFrame:
    """The snapshots' mrr converted to the target currency at the as-of rate of each snapshot's date.

    A snapshot with no rate on or before its date, or whose converted amount
    is out of range, raises :class:`CurrencyError` at collect (see the module docs).
    """
    to = conversion.to
    joined = (
        running.with_columns(cal_start.alias("_date"))
        .sort("_date")
        .join_asof(
            conversion.rates,
            left_on="_date",
            right_on="date",
            by="currency",
            strategy="backward",
            check_sortedness=False,  # both sides are sorted by date just above
        )
    )
    foreign = pl.col("currency") != to
    value = (pl.col("mrr").cast(pl.Float64) * pl.col("rate")).round(4)
    no_rate = foreign & pl.col("rate").is_null()
    too_large = foreign & (value.abs() >= float(MONEY_LIMIT))

    def missing() -> RetainlibError:
        pairs = (
            joined.filter(no_rate)
            .select("currency", "_date")
            .unique()
            .sort("currency", "_date")
            .collect(engine="in-memory")
        )
        firsts = dict(
            conversion.rates.group_by("currency").agg(pl.col("date").min()).collect(engine="in-memory").rows()
        )
        shown = "; ".join(
            f"{cur} on {day}" + (f" (its first rate is dated {firsts[cur]})" if cur in firsts else " (no rate at all)")
            for cur, day in pairs.head(5).rows()
        )
        more = f" and {pairs.height - 5} more" if pairs.height > 5 else ""
        return CurrencyError(
            f"no exchange rate to {to} on or before the date of {pairs.height} (currency, date) pair(s) the data "
            f"needs: {shown}{more}. A snapshot is converted at the latest rate on or before its date; add the "
            "missing rates to fx (revenue is never dropped)",
            currencies=sorted(set(pairs["currency"].to_list())),
        )

    def out_of_range() -> RetainlibError:
        rows = (
            joined.filter(too_large)
            .select("currency", "_date", "rate")
            .unique()
            .sort("currency", "_date")
            .head(5)
            .collect(engine="in-memory")
        )
        shown = "; ".join(f"{cur} on {day} at rate {r}" for cur, day, r in rows.rows())
        return CurrencyError(
            f"converting to {to} gives amounts of {MONEY_DIGITS} or more integer digits (out of range): {shown}",
            currencies=sorted(set(rows["currency"].to_list())),
        )

    checked = guard(guard(joined, no_rate, missing), too_large, out_of_range)
    return checked.with_columns(pl.when(foreign).then(value.cast(MONEY)).otherwise(pl.col("mrr")).alias("mrr"))


#: A distributed table's ends of observation (``None`` with ``as_of``) and window bounds (``None``: still
#: to be found), known when its partitions are read.
Known = tuple[pl.LazyFrame | None, pl.LazyFrame | None]


def _segments(p: Prepared, known: Known | None = None) -> tuple[pl.LazyFrame, pl.LazyFrame, pl.LazyFrame]:
    """(running segments with the snapshots they cover, ``_k0`` to ``_k1``), the window bounds, first starts.

    Snapshot ``k`` is the first instant of period ``k``.  A segment runs at
    ``τ_k`` for ``k`` from the first boundary at or after ``started_at`` to the
    last boundary before ``ended_at``; running segments run to the end of the
    window (the snapshot that closes its last period).  Only segments with
    ``mrr > 0`` that cover a snapshot are kept.  ``firsts`` holds each
    customer's first start of a paying segment (new vs reactivation).

    ``known`` (for one partition of a distributed table): the whole table's
    ends of observation per segment (``None`` with ``as_of``) and bounds.
    """
    cal = p.calendar
    keys = [*p.by, "customer_id"]
    # A lazy input is read once: every part of the plan below shares this cached subplan.
    frame = p.frame if p.eager else p.frame.cache()
    if p.as_of is not None:
        frame = frame.filter(pl.col("started_at") < pl.lit(p.as_of, dtype=TIMESTAMP))
    if p.as_of is None and known is not None:
        assert known[0] is not None
        ends = known[0]
        frame = (
            frame.join(ends, on=list(p.by), how="left", nulls_equal=True, maintain_order="left")
            if p.by
            else frame.join(ends, how="cross")
        )
        end = pl.col("_end")
    elif p.as_of is None:
        # The end of observation per segment, joined rather than broadcast from an aggregate
        # (polars' in-memory engine mis-broadcasts that aggregate once filters are pushed down).
        if p.by:
            ends = frame.group_by(*p.by).agg(last_instant(p).alias("_end"))
            frame = frame.join(ends, on=list(p.by), how="left", nulls_equal=True, maintain_order="left")
        else:
            frame = frame.join(frame.select(last_instant(p).alias("_end")), how="cross")
        end = pl.col("_end")
    else:
        end = pl.lit(p.as_of, dtype=TIMESTAMP)
    last_index = cal.timestamp_index(end - pl.duration(microseconds=1) if p.as_of is not None else end)
    start_index = cal.timestamp_index("started_at")
    first_k = (
        pl.when(cal.instant(cal.start(start_index)) == pl.col("started_at"))
        .then(start_index)
        .otherwise(start_index + 1)
    )
    closing = last_index + 1  # the snapshot at the end of the last period of the window
    last_k = (
        pl.when(pl.col("ended_at").is_null())
        .then(closing)
        .otherwise(pl.min_horizontal(cal.timestamp_index(pl.col("ended_at") - pl.duration(microseconds=1)), closing))
    )
    segments = frame.with_columns(
        _end=end,
        _first_period=start_index,
        _last_period=last_index,
        _k0=first_k,
        _k1=last_k,
    )
    bounds = (
        segments.group_by(*p.by).agg(
            pl.col("_first_period").min().alias("_first"),
            pl.col("_last_period").max().alias("_last"),
            pl.col("_end").max().alias("_end"),
        )
        if p.by
        else segments.select(
            pl.col("_first_period").min().alias("_first"),
            pl.col("_last_period").max().alias("_last"),
            pl.col("_end").max().alias("_end"),
        )
    )
    bounds = bounds.filter(pl.col("_first").is_not_null())
    if known is None:
        bounds = guard_window(p, bounds)
    elif known[1] is not None:
        bounds = known[1]  # else one partition's bounds, unguarded: merged and checked on the whole table
    running = guard_spans(p, segments.filter((pl.col("mrr") > 0) & (pl.col("_k1") >= pl.col("_k0"))), "_k0", "_k1")
    running = running.select(*dict.fromkeys([*keys, "mrr", "currency"]), "_k0", "_k1")
    firsts = (
        segments.filter((pl.col("mrr") > 0) & pl.coalesce(pl.col("ended_at") > pl.col("started_at"), True))
        .group_by(keys)
        .agg(pl.col("started_at").min().alias("_first_start"))
    )
    return running, bounds, firsts


def _snapshots(p: Prepared, conversion: Conversion | None) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """(per customer and snapshot index k: the MRR at τ_k, summed), and the per-segment window bounds."""
    cal = p.calendar
    keys = [*p.by, "customer_id"]
    segments, bounds, firsts = _segments(p)
    running = segments.select(
        *dict.fromkeys([*keys, "mrr", "currency"]), pl.int_ranges("_k0", pl.col("_k1") + 1).alias("_k")
    ).explode("_k")
    if conversion is not None:
        running = _convert(running, cal.start(pl.col("_k")), conversion)
    snapshots = running.group_by(*keys, "_k").agg(pl.col("mrr").sum().alias("_m"))
    return snapshots.join(firsts, on=keys, how="left", nulls_equal=True), bounds


def _changes(p: Prepared, known: Known | None = None) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Per customer, only the periods where its MRR changes: (keys, _period, m0, m1, _first_start); and bounds.

    Without currency conversion a customer's MRR changes only where one of its
    segments starts or stops covering snapshots: each segment is two events
    (``+mrr`` at its first snapshot, ``-mrr`` after its last), and a running
    sum per customer gives the MRR from each change to the next.  The rows of
    period ``q`` hold ``m0 = mrr(τ_q)`` and ``m1 = mrr(τ_q+1)``, exactly as the
    snapshot plan does for customers whose MRR moves, without one row per
    customer and snapshot.  Rows before and after the window are kept (their
    changes make the MRR at the window's start).
    """
    keys = [*p.by, "customer_id"]
    segments, bounds, firsts = _segments(p, known)
    events = pl.concat(
        [
            segments.select(*keys, pl.col("_k0").alias("_k"), pl.col("mrr").alias("_d")),
            segments.select(*keys, (pl.col("_k1") + 1).alias("_k"), (-pl.col("mrr")).alias("_d")),
        ]
    )
    levels = (
        events.group_by(*keys, "_k")
        .agg(pl.col("_d").sum())
        .with_columns(pl.col("_d").cum_sum().over(keys, order_by="_k").alias("m1"))
        .with_columns(pl.col("m1").shift(1).over(keys, order_by="_k").fill_null(_ZERO).alias("m0"))
    )
    changes = levels.filter(pl.col("m0") != pl.col("m1")).select(
        *keys, (pl.col("_k") - 1).alias(PERIOD_INDEX), pl.col("m0").cast(MONEY), pl.col("m1").cast(MONEY)
    )
    return changes.join(firsts, on=keys, how="left", nulls_equal=True), bounds


def _movements(
    p: Prepared,
    fx: pl.DataFrame | pl.LazyFrame | None,
    to: str | None,
    *,
    window_only: bool = True,
    known: Known | None = None,
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Per customer and period p: m0 = mrr(τ_p), m1 = mrr(τ_p+1), the movement; and the window bounds.

    Without ``fx`` only the rows where the MRR moves (see :func:`_changes`);
    with it one row per customer and snapshot (a rate change moves every
    converted MRR).  ``window_only=False`` keeps rows outside the window.
    """
    conversion = _check_money(p, fx, to) if known is None else None  # a partition: checked on the whole table
    keys = [*p.by, "customer_id"]
    if conversion is None:
        both, bounds = _changes(p, known)
    else:
        snaps, bounds = _snapshots(p, conversion)
        start = snaps.select(*keys, pl.col("_k").alias(PERIOD_INDEX), pl.col("_m").alias("m0"), "_first_start")
        end = snaps.select(*keys, (pl.col("_k") - 1).alias(PERIOD_INDEX), pl.col("_m").alias("m1"), "_first_start")
        both = start.join(end, on=[*keys, PERIOD_INDEX], how="full", coalesce=True, nulls_equal=True).with_columns(
            pl.col("m0").fill_null(_ZERO),
            pl.col("m1").fill_null(_ZERO),
            pl.coalesce("_first_start", "_first_start_right").alias("_first_start"),
        )
    cal = p.calendar
    tau0 = cal.instant(cal.start(PERIOD_INDEX))
    m0, m1 = pl.col("m0"), pl.col("m1")
    movement = (
        pl.when((m0 == 0) & (m1 > 0) & (pl.col("_first_start") >= tau0))
        .then(pl.lit("new"))
        .when((m0 == 0) & (m1 > 0))
        .then(pl.lit("reactivation"))
        .when((m0 > 0) & (m1 > 0) & (m1 > m0))
        .then(pl.lit("expansion"))
        .when((m0 > 0) & (m1 > 0) & (m1 < m0))
        .then(pl.lit("contraction"))
        .when((m0 > 0) & (m1 == 0))
        .then(pl.lit("churn"))
    )
    amount = (pl.when(m0 == 0).then(m1).when(m1 == 0).then(m0).otherwise((m1 - m0).abs())).cast(MONEY)
    rows = both.select(*keys, PERIOD_INDEX, "m0", "m1", movement.alias("movement"), amount.alias("amount"))
    rows = rows.join(bounds, on=list(p.by), how="inner", nulls_equal=True) if p.by else rows.join(bounds, how="cross")
    if window_only:
        # Keep the periods of each segment's window only (snapshots outside are not reported).
        rows = rows.filter(pl.col(PERIOD_INDEX).is_between(pl.col("_first"), pl.col("_last")))
        return rows.drop("_first", "_last", "_end"), bounds
    return rows, bounds


def _rows_and_totals(
    p: Prepared, fx: pl.DataFrame | pl.LazyFrame | None, to: str | None
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """The movement rows inside the window (lazy) and the per-period totals of :func:`_totals`."""
    if fx is not None:
        rows, bounds = _movements(p, fx, to)
        return rows, _totals(p, rows, bounds)
    if p.partitions is not None:
        return _distributed_totals(p)
    everything, bounds = _movements(p, fx, to, window_only=False)
    inside = everything.filter(pl.col(PERIOD_INDEX).is_between(pl.col("_first"), pl.col("_last")))
    return inside.drop("_first", "_last", "_end"), _change_totals(p, everything, bounds)


def _distributed_totals(p: Prepared) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """:func:`_rows_and_totals` of a distributed table (without fx; no detail rows).

    Two passes over the partitions: the ends of observation and the window
    bounds (merged: maxima and minima), then, customers together, each
    partition's per-period sums of :func:`_change_sums` with those known
    (summed here).  The totals are then finished as the local ones.
    """
    check_single_currency(p)
    ends = None
    if p.as_of is None:
        ends = merge_ends(gather(p, lambda q: [segment_ends(q)], customers=False)[0], p.by).collect().lazy()
    (partial,) = gather(p, lambda q: [_segments(q, (ends, None))[1]], customers=False)
    bounds = guard_window(p, _merge_bounds(partial, p.by).collect().lazy())
    known: Known = (ends, bounds)
    (sums,) = gather(p, lambda q: [_change_sums(q, _movements(q, None, None, window_only=False, known=known)[0])])
    per_period = sums.group_by(*p.by, PERIOD_INDEX).agg(
        pl.col("_first").first(),
        pl.col("_dm", "_dc", *MOVEMENTS).sum(),
        pl.col("customers_churned").sum().cast(pl.UInt32),
    )
    return pl.LazyFrame(), _change_finish(p, per_period, bounds)


def _merge_bounds(bounds: pl.LazyFrame, by: Sequence[str]) -> pl.LazyFrame:
    aggs = [pl.col("_first").min(), pl.col("_last").max(), pl.col("_end").max()]
    merged = bounds.group_by(*by).agg(aggs) if by else bounds.select(aggs)
    return merged.filter(pl.col("_first").is_not_null())


def _money_sum(kind: str) -> pl.Expr:
    return pl.col("amount").filter(pl.col("movement") == kind).sum().alias(kind)


def _change_totals(p: Prepared, rows: pl.LazyFrame, bounds: pl.LazyFrame) -> pl.LazyFrame:
    """:func:`_totals` from the rows of changes only (no fx): levels are running sums of the changes.

    ``rows`` come from ``_movements(..., window_only=False)``: the changes before
    the window give the MRR and the paying customers at its start.
    """
    return _change_finish(p, _change_sums(p, rows).cache(), bounds)


def _change_sums(p: Prepared, rows: pl.LazyFrame) -> pl.LazyFrame:
    """Per segment and period up to the window's end: the changes' sums (the partial step of :func:`_change_totals`).

    Additive over partitions of the customers (``_first``, the segment's first
    period, is the same in every partition).
    """
    q = pl.col(PERIOD_INDEX)
    # One pass over the rows (tens of millions at 100M orders' subscriptions): sums per period up to the
    # window's end, then split into the periods before the window and those inside it (small frames).
    # Two filters of the rows instead would read them twice, or hold them all in a cache.
    return (
        rows.filter(q <= pl.col("_last"))
        .with_columns(
            (pl.col("m1") - pl.col("m0")).alias("_dm"),
            ((pl.col("m1") > 0).cast(pl.Int64) - (pl.col("m0") > 0).cast(pl.Int64)).alias("_dc"),
        )
        .group_by(*p.by, PERIOD_INDEX)
        .agg(
            pl.col("_first").first(),
            pl.col("_dm").sum(),
            pl.col("_dc").sum(),
            *(_money_sum(k) for k in MOVEMENTS),
            (pl.col("movement") == "churn").sum().cast(pl.UInt32).alias("customers_churned"),
        )
    )


def _change_finish(p: Prepared, per_period: pl.LazyFrame, bounds: pl.LazyFrame) -> pl.LazyFrame:
    """:func:`_change_totals` from the per-period sums of :func:`_change_sums`: levels as running sums."""
    q = pl.col(PERIOD_INDEX)
    earlier = per_period.filter(q < pl.col("_first"))
    start_aggs = (pl.col("_dm").sum().alias("_m_init"), pl.col("_dc").sum().alias("_c_init"))
    before = earlier.group_by(*p.by).agg(start_aggs) if p.by else earlier.select(start_aggs)
    inside = per_period.filter(q >= pl.col("_first")).drop("_first")
    grid = periods(bounds).select(*p.by, PERIOD_INDEX, "_end")
    joined = grid.join(inside, on=[*p.by, PERIOD_INDEX], how="left", nulls_equal=True)
    joined = (
        joined.join(before, on=list(p.by), how="left", nulls_equal=True) if p.by else joined.join(before, how="cross")
    )
    mrr_end = pl.col("_m_init") + over_by(pl.col("_dm").cum_sum(), p.by)
    customers_end = pl.col("_c_init") + over_by(pl.col("_dc").cum_sum(), p.by)
    return (
        joined.with_columns(
            *(pl.col(c).fill_null(_ZERO).cast(MONEY) for c in ("_dm", "_m_init", *MOVEMENTS)),
            pl.col("_dc", "_c_init").fill_null(0),
            pl.col("customers_churned").fill_null(0),
        )
        .sort(*p.by, PERIOD_INDEX)
        .with_columns(mrr_end.cast(MONEY).alias("mrr_end"), customers_end.alias("_ce"))
        .with_columns(
            (pl.col("mrr_end") - pl.col("_dm")).cast(MONEY).alias("mrr_start"),
            (pl.col("_ce") - pl.col("_dc")).cast(pl.UInt32).alias("customers_start"),
            pl.col("_ce").cast(pl.UInt32).alias("customers_end"),
        )
        .drop("_dm", "_dc", "_m_init", "_c_init", "_ce")
    )


def _totals(p: Prepared, rows: pl.LazyFrame, bounds: pl.LazyFrame) -> pl.LazyFrame:
    sums = rows.group_by(*p.by, PERIOD_INDEX).agg(
        pl.col("m0").sum().alias("mrr_start"),
        pl.col("m1").sum().alias("mrr_end"),
        *(_money_sum(k) for k in MOVEMENTS),
        (pl.col("m0") > 0).sum().cast(pl.UInt32).alias("customers_start"),
        (pl.col("m1") > 0).sum().cast(pl.UInt32).alias("customers_end"),
        (pl.col("movement") == "churn").sum().cast(pl.UInt32).alias("customers_churned"),
    )
    grid = periods(bounds).select(*p.by, PERIOD_INDEX, "_end")
    money_cols = ["mrr_start", "mrr_end", *MOVEMENTS]
    return (
        grid.join(sums, on=[*p.by, PERIOD_INDEX], how="left", nulls_equal=True)
        .with_columns(
            *(pl.col(c).fill_null(_ZERO).cast(MONEY) for c in money_cols),
            pl.col("customers_start", "customers_end", "customers_churned").fill_null(0),
        )
        .sort(*p.by, PERIOD_INDEX)
    )


def _check_detail(detail: object) -> bool:
    if not isinstance(detail, bool):
        raise OptionError("detail is True or False", option="detail", value=detail)
    return detail


@overload
def mrr_movements(
    data: pl.LazyFrame,
    *,
    detail: bool = ...,
    fx: pl.DataFrame | pl.LazyFrame | None = ...,
    currency: str | None = ...,
    **options: Unpack[KernelOptions],
) -> pl.LazyFrame: ...
@overload
def mrr_movements(
    data: pl.DataFrame | Dataset | DaskFrame,
    *,
    detail: bool = ...,
    fx: pl.DataFrame | pl.LazyFrame | None = ...,
    currency: str | None = ...,
    **options: Unpack[KernelOptions],
) -> pl.DataFrame: ...
def mrr_movements(
    data: Data | DaskFrame,
    *,
    period: PeriodName = "month",
    by: By = None,
    as_of: dt.datetime | dt.date | None = None,
    tz: str = "UTC",
    week_start: WeekStart = 0,
    engine: Engine = "auto",
    detail: bool = False,
    fx: pl.DataFrame | pl.LazyFrame | None = None,
    currency: str | None = None,
) -> pl.DataFrame | pl.LazyFrame:
    """MRR movements per period: new, reactivation, expansion, contraction, churn, and the retention ratios.

    With snapshots ``τ0`` = start of the period and ``τ1`` = start of the next,
    per customer ``Δ = mrr_c(τ1) - mrr_c(τ0)``:

    * new: ``mrr_c(τ0) = 0``, ``mrr_c(τ1) > 0`` and no segment of ``c`` started before ``τ0`` (``+mrr_c(τ1)``);
    * reactivation: the same, but ``c`` was active before ``τ0`` (``+mrr_c(τ1)``);
    * expansion / contraction: both positive and ``Δ > 0`` / ``Δ < 0`` (``|Δ|``);
    * churn: ``mrr_c(τ0) > 0`` and ``mrr_c(τ1) = 0`` (``mrr_c(τ0)``).

    ``mrr_end = mrr_start + new + reactivation + expansion - contraction - churn``
    holds exactly on every row (Decimal money); ``mrr_start`` of a period is the
    previous period's ``mrr_end``; gross revenue retention = (mrr_start -
    contraction - churn) / mrr_start; net revenue retention = (mrr_start +
    expansion - contraction - churn) / mrr_start; quick ratio = (new +
    reactivation + expansion) / (contraction + churn); logo churn rate =
    customers churned / customers with MRR at ``τ0``.  Rates are per period.

    Parameters
    ----------
    data
        Canonical subscriptions (segments), or a Dataset holding them.
    detail
        Instead of the totals, the per-customer movements behind them:
        ``by`` columns, customer_id, period, movement, amount (a positive
        amount; the identity adds new, reactivation, expansion and subtracts
        contraction and churn), mrr_start, mrr_end.
    fx, currency
        Without them, subscriptions in several currencies raise
        :class:`~retainlib.errors.CurrencyError` (unless ``by`` includes
        ``"currency"``).  With ``fx`` (columns currency, date, rate: units of
        ``currency`` per unit of the row's currency, daily or monthly) every
        snapshot is converted at the latest rate on or before the snapshot's
        date; exchange-rate changes therefore show as expansion or contraction.
    period, by, as_of, tz, week_start, engine
        As for the other kernels (:func:`retainlib.retention_rate`).

    Returns
    -------
    DataFrame or LazyFrame
        ``by`` columns, period, is_complete, mrr_start, new, reactivation,
        expansion, contraction, churn, mrr_end (Decimal money per month),
        customers_start, customers_churned, logo_churn_rate,
        gross_revenue_retention, net_revenue_retention, quick_ratio.

    Examples
    --------
    >>> import polars as pl, retainlib as rl
    >>> subs = pl.DataFrame({
    ...     "subscription_id": ["s1", "s2", "s3"], "customer_id": ["a", "a", "b"],
    ...     "started_at": ["2024-01-01T00:00:00Z", "2024-02-10T00:00:00Z", "2024-01-15T00:00:00Z"],
    ...     "ended_at": ["2024-02-10T00:00:00Z", None, "2024-02-20T00:00:00Z"],
    ...     "mrr": ["10", "30", "20"], "currency": ["EUR"] * 3})
    >>> rl.mrr_movements(subs).select("period", "mrr_start", "expansion", "churn", "mrr_end").rows()[1]
    (datetime.date(2024, 2, 1), Decimal('30.0000'), Decimal('20.0000'), Decimal('20.0000'), Decimal('30.0000'))
    """
    detail = _check_detail(detail)
    p = prepare(
        data,
        metric="mrr_movements",
        tables=["subscriptions"],
        distributed=True,
        by=by,
        period=period,
        tz=tz,
        week_start=week_start,
        engine=engine,
        as_of=as_of,
    )

    if p.partitions is not None and (detail or fx is not None):
        distributed_only(p, "mrr_movements", "detail=True" if detail else "fx= (currency conversion)")

    def build(p: Prepared) -> pl.LazyFrame:  # the currency check is a pre-pass: deferred for lazy input
        rows, totals = _rows_and_totals(p, fx, currency)
        cal = p.calendar
        if detail:
            result = (
                rows.filter(pl.col("movement").is_not_null())
                .sort(*p.by, PERIOD_INDEX, "customer_id")
                .select(
                    *p.by,
                    "customer_id",
                    cal.start(PERIOD_INDEX).alias("period"),
                    "movement",
                    "amount",
                    pl.col("m0").alias("mrr_start"),
                    pl.col("m1").alias("mrr_end"),
                )
            )
            return result
        lost = pl.col("contraction") + pl.col("churn")
        result = totals.select(
            *p.by,
            cal.start(PERIOD_INDEX).alias("period"),
            is_complete(cal, pl.col(PERIOD_INDEX), pl.col("_end")).alias("is_complete"),
            "mrr_start",
            *MOVEMENTS,
            "mrr_end",
            "customers_start",
            "customers_churned",
            safe_ratio(pl.col("customers_churned"), pl.col("customers_start")).alias("logo_churn_rate"),
            safe_ratio(pl.col("mrr_start") - lost, pl.col("mrr_start")).alias("gross_revenue_retention"),
            safe_ratio(pl.col("mrr_start") + pl.col("expansion") - lost, pl.col("mrr_start")).alias(
                "net_revenue_retention"
            ),
            safe_ratio(pl.col("new") + pl.col("reactivation") + pl.col("expansion"), lost).alias("quick_ratio"),
        )
        return result

    return finish_deferred(p, build)


@overload
def mrr(
    data: pl.LazyFrame,
    *,
    fx: pl.DataFrame | pl.LazyFrame | None = ...,
    currency: str | None = ...,
    **options: Unpack[KernelOptions],
) -> pl.LazyFrame: ...
@overload
def mrr(
    data: pl.DataFrame | Dataset,
    *,
    fx: pl.DataFrame | pl.LazyFrame | None = ...,
    currency: str | None = ...,
    **options: Unpack[KernelOptions],
) -> pl.DataFrame: ...
def mrr(
    data: Data,
    *,
    period: PeriodName = "month",
    by: By = None,
    as_of: dt.datetime | dt.date | None = None,
    tz: str = "UTC",
    week_start: WeekStart = 0,
    engine: Engine = "auto",
    fx: pl.DataFrame | pl.LazyFrame | None = None,
    currency: str | None = None,
) -> pl.DataFrame | pl.LazyFrame:
    """Monthly recurring revenue at the end of each period, customers paying then, and ARPA.

    ``mrr`` of a period is ``mrr(τ1)``, the MRR at its end (the first instant of
    the next period) — equal to that period's ``mrr_end`` in
    :func:`mrr_movements`; ``customers`` counts customers with MRR > 0 then;
    ``arpa = mrr / customers`` (average revenue per account, per month).
    Options as for :func:`mrr_movements`.

    Examples
    --------
    >>> import polars as pl, retainlib as rl
    >>> subs = pl.DataFrame({
    ...     "subscription_id": ["s1", "s2"], "customer_id": ["a", "b"],
    ...     "started_at": ["2024-01-01T00:00:00Z", "2024-01-15T00:00:00Z"], "ended_at": [None, None],
    ...     "mrr": ["10", "20"], "currency": ["EUR"] * 2}, schema_overrides={"ended_at": pl.String})
    >>> import datetime as dt
    >>> rl.mrr(subs, as_of=dt.date(2024, 2, 29)).select("period", "mrr", "customers").rows()
    [(datetime.date(2024, 1, 1), Decimal('30.0000'), 2), (datetime.date(2024, 2, 1), Decimal('30.0000'), 2)]
    """
    p = prepare(
        data,
        metric="mrr",
        tables=["subscriptions"],
        by=by,
        period=period,
        tz=tz,
        week_start=week_start,
        engine=engine,
        as_of=as_of,
    )

    def build(p: Prepared) -> pl.LazyFrame:  # the currency check is a pre-pass: deferred for lazy input
        _, totals = _rows_and_totals(p, fx, currency)
        cal = p.calendar
        result = totals.select(
            *p.by,
            cal.start(PERIOD_INDEX).alias("period"),
            is_complete(cal, pl.col(PERIOD_INDEX), pl.col("_end")).alias("is_complete"),
            pl.col("mrr_end").alias("mrr"),
            pl.col("customers_end").alias("customers"),
            safe_ratio(pl.col("mrr_end"), pl.col("customers_end")).alias("arpa"),
        )
        return result

    return finish_deferred(p, build)


@overload
def revenue_retention(
    data: pl.LazyFrame,
    *,
    horizon: int = ...,
    fx: pl.DataFrame | pl.LazyFrame | None = ...,
    currency: str | None = ...,
    **options: Unpack[KernelOptions],
) -> pl.LazyFrame: ...
@overload
def revenue_retention(
    data: pl.DataFrame | Dataset,
    *,
    horizon: int = ...,
    fx: pl.DataFrame | pl.LazyFrame | None = ...,
    currency: str | None = ...,
    **options: Unpack[KernelOptions],
) -> pl.DataFrame: ...
def revenue_retention(
    data: Data,
    *,
    horizon: int = 12,
    period: PeriodName = "month",
    by: By = None,
    as_of: dt.datetime | dt.date | None = None,
    tz: str = "UTC",
    week_start: WeekStart = 0,
    engine: Engine = "auto",
    fx: pl.DataFrame | pl.LazyFrame | None = None,
    currency: str | None = None,
) -> pl.DataFrame | pl.LazyFrame:
    """Gross and net revenue retention over ``horizon`` periods, comparing the same customers at both ends.

    For each period ``p`` (the base), the customers paying at ``τ_p`` (its
    first instant) and their MRR then (``mrr_base``); ``horizon`` periods later,
    at ``τ_(p+h)``, the MRR of *those same customers* (``mrr_after``; newcomers
    are left out)::

        net_revenue_retention   = Σ mrr_c(τ_(p+h)) / Σ mrr_c(τ_p)
        gross_revenue_retention = Σ min(mrr_c(τ_(p+h)), mrr_c(τ_p)) / Σ mrr_c(τ_p)

    over the customers with ``mrr_c(τ_p) > 0``.  Only bases whose
    ``τ_(p+h)`` falls inside the observation window are reported.

    Returns
    -------
    DataFrame or LazyFrame
        ``by`` columns, period (the base period), customers, mrr_base,
        mrr_after, gross_revenue_retention, net_revenue_retention (shares over
        ``horizon`` periods).
    """
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise OptionError("horizon is a whole number of periods, 1 or more", option="horizon", value=horizon)
    p = prepare(
        data,
        metric="revenue_retention",
        tables=["subscriptions"],
        by=by,
        period=period,
        tz=tz,
        week_start=week_start,
        engine=engine,
        as_of=as_of,
    )

    def build(p: Prepared) -> pl.LazyFrame:  # the currency check is a pre-pass: deferred for lazy input
        snaps, bounds = _snapshots(p, _check_money(p, fx, currency))
        keys = [*p.by, "customer_id"]
        base = snaps.select(*keys, "_k", pl.col("_m").alias("_m0"))
        later = snaps.select(*keys, (pl.col("_k") - horizon).alias("_k"), pl.col("_m").alias("_m1"))
        joined = base.join(later, on=[*keys, "_k"], how="left", nulls_equal=True).with_columns(
            pl.col("_m1").fill_null(_ZERO)
        )
        sums = joined.group_by(*p.by, "_k").agg(
            pl.len().cast(pl.UInt32).alias("customers"),
            pl.col("_m0").sum().alias("mrr_base"),
            pl.col("_m1").sum().alias("mrr_after"),
            pl.min_horizontal("_m0", "_m1").sum().alias("_kept"),
        )
        window = (
            sums.join(bounds, on=list(p.by), how="inner", nulls_equal=True) if p.by else sums.join(bounds, how="cross")
        ).filter(pl.col("_k").is_between(pl.col("_first"), pl.col("_last") + 1 - horizon))
        cal = p.calendar
        result = window.sort(*p.by, "_k").select(
            *p.by,
            cal.start("_k").alias("period"),
            "customers",
            pl.col("mrr_base").cast(MONEY),
            pl.col("mrr_after").cast(MONEY),
            safe_ratio(pl.col("_kept"), pl.col("mrr_base")).alias("gross_revenue_retention"),
            safe_ratio(pl.col("mrr_after"), pl.col("mrr_base")).alias("net_revenue_retention"),
        )
        return result

    return finish_deferred(p, build)
