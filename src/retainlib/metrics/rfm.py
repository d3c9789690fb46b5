"""RFM summaries (frequency, recency, T, monetary value) and RFM scores and segments.

:func:`rfm` reduces an orders table to one row per customer with the
sufficient statistics of the "buy till you die" models (BG/NBD, Pareto/NBD,
Gamma-Gamma), with the meaning of lifetimes' ``summary_data_from_transaction_data``
and ``calibration_and_holdout_data`` (and of BTYD's ``cbs``), so that results
compare with them.  :func:`rfm_segments` scores such a summary 1..5 on recency,
frequency and monetary value and names a segment per customer.

The formulas, options and edge cases are in ``docs/metrics/rfm.md``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Final, Literal, TypeVar, Unpack, get_args, overload

import polars as pl

from retainlib._dataset import Dataset
from retainlib.calendar import Period, PeriodName, WeekStart, check_tz
from retainlib.errors import CurrencyError, OptionError, SchemaError
from retainlib.metrics._common import (
    By,
    Data,
    Engine,
    Prepared,
    _by_columns,
    by_customer_parts,
    customer_parts,
    finish_deferred,
    prepare,
)
from retainlib.metrics._options import AsOf, ObservationOptions
from retainlib.tables import MONEY, MONEY_PLACES, TIMESTAMP

__all__ = ["CUTS", "FREQS", "SEGMENTS", "SEGMENT_GRID", "Cut", "Freq", "rfm", "rfm_segments"]

#: The time unit of an RFM summary: days, weeks, months, quarters, years.
Freq = Literal["D", "W", "M", "Q", "Y"]
FREQS: Final[tuple[Freq, ...]] = get_args(Freq)
#: How an end of observation cuts the orders: at the end of its unit (lifetimes' summary) or at the instant.
Cut = Literal["period", "instant"]
CUTS: Final[tuple[Cut, ...]] = get_args(Cut)
_PERIOD: Final[Mapping[str, PeriodName]] = {"D": "day", "W": "week", "M": "month", "Q": "quarter", "Y": "year"}

#: The named segments, from best to worst; ``segment`` is a ``pl.Enum`` of them in this order.
SEGMENTS: Final[tuple[str, ...]] = (
    "Champions",
    "Loyal",
    "Potential loyalist",
    "New customers",
    "Promising",
    "Need attention",
    "About to sleep",
    "At risk",
    "Can't lose them",
    "Hibernating",
    "Lost",
)
#: The R/F grid: segment -> (R scores, F scores) on the 1..5 scale; the 25 cells are covered exactly once.
SEGMENT_GRID: Final[Mapping[str, tuple[tuple[int, ...], tuple[int, ...]]]] = {
    "Champions": ((5,), (4, 5)),
    "Loyal": ((3, 4), (4, 5)),
    "Potential loyalist": ((4, 5), (2, 3)),
    "New customers": ((5,), (1,)),
    "Promising": ((4,), (1,)),
    "Need attention": ((3,), (3,)),
    "About to sleep": ((3,), (1, 2)),
    "At risk": ((1, 2), (3, 4)),
    "Can't lose them": ((1, 2), (5,)),
    "Hibernating": ((2,), (1, 2)),
    "Lost": ((1,), (1, 2)),
}
_SEGMENT_DTYPE: Final = pl.Enum(list(SEGMENTS))
_RFM_COLUMNS: Final[tuple[str, ...]] = ("customer_id", "frequency", "recency", "T", "monetary_value")
#: Score inputs are compared after rounding to this many decimals, so that float noise never splits a tie.
_TIE_DECIMALS: Final = 9
_US: Final = dt.timedelta(microseconds=1)

F = TypeVar("F", pl.DataFrame, pl.LazyFrame)


L = TypeVar("L", bound=str)


def _choice(value: object, choices: tuple[L, ...], option: str, meaning: str) -> L:
    """``value`` when it is one of ``choices``, else an OptionError saying what each choice means."""
    message = f"unknown {option} {value!r}; use one of {', '.join(map(repr, choices))} ({meaning})"
    return OptionError.one_of(value, choices, option=option, message=message)


def _check_freq(freq: object) -> Freq:
    return _choice(freq, FREQS, "freq", "days, weeks, months, quarters, years")


def _check_cut(cut: object, holdout: bool) -> Cut:
    """The cut: by default ``"period"`` for a summary and ``"instant"`` for a calibration/holdout split."""
    if cut is None:
        return "instant" if holdout else "period"
    return _choice(cut, CUTS, "cut", "'period': whole units up to the end's unit, 'instant': orders up to the end")


def _one_end(
    observation_end: dt.datetime | dt.date | None, as_of: dt.datetime | dt.date | None
) -> tuple[dt.datetime | dt.date | None, str]:
    """The end of observation given by ``as_of`` or its lifetimes alias ``observation_end`` (not both)."""
    if as_of is not None and observation_end is not None:
        raise OptionError(
            "as_of and observation_end are two names of the same end of observation: pass only one",
            option="as_of",
            value=as_of,
        )
    return (as_of, "as_of") if as_of is not None else (observation_end, "observation_end")


def _check_multiplier(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise OptionError(
            f"freq_multiplier is a positive integer (7 with freq='D' gives weeks of 7 days), got {value!r}",
            option="freq_multiplier",
            value=value,
        )
    return value


def _cutoff(value: dt.datetime | dt.date | None, option: str, tz: str) -> dt.datetime | None:
    """The first instant *after* an end of observation (UTC), for ``cut="instant"``: orders before it count.

    A date means the whole local day in ``tz``; an aware datetime counts orders up to and including it.
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise OptionError(
                f"{option} is a naive datetime: give it a time zone, or pass a date", option=option, value=value
            )
        try:
            return value.astimezone(dt.UTC) + _US
        except OverflowError:
            raise OptionError(
                f"{option} ({value}) is past the last supported instant", option=option, value=value
            ) from None
    if isinstance(value, dt.date):
        return Period(kind="day", start=value, tz=tz).end_instant
    raise OptionError(f"{option} is a datetime or a date", option=option, value=value)


def _period_cutoff(cutoff: dt.datetime, p: Prepared, option: str, value: object) -> dt.datetime:
    """The first instant after the unit holding an end (``cut="period"``): whole units up to it count."""
    try:
        return _unit(cutoff, p).end_instant
    except OptionError:  # the unit ends after year 9999
        raise OptionError(
            f"{option} ({value}) is in the last supported {p.calendar.period}: its end is past year 9999",
            option=option,
            value=value,
        ) from None


def _check_currencies(p: Prepared, orders: pl.LazyFrame) -> None:
    """Raise when a customer's orders mix currencies (eager input only: it needs a pass over the data)."""
    keys = [*p.by, "customer_id"]
    mixed = (
        orders.group_by(keys)
        .agg(pl.col("currency").unique().sort().alias("_currencies"))
        .filter(pl.col("_currencies").list.len() > 1)
        .head(1)
        .collect(engine=p.engine)
    )
    if mixed.height:
        found = [str(c) for c in mixed["_currencies"][0]]
        raise CurrencyError(
            f"customer {mixed['customer_id'][0]!r} has orders in several currencies ({', '.join(found)}); "
            "amounts in different currencies are never added together: segment with by='currency' "
            "or convert them first",
            currencies=found,
        )


@overload
def rfm(
    orders: pl.DataFrame | Dataset,
    *,
    freq: Freq = ...,
    freq_multiplier: int = ...,
    observation_end: AsOf = ...,
    holdout_end: AsOf = ...,
    cut: Cut | None = ...,
    week_start: WeekStart = ...,
    **options: Unpack[ObservationOptions],
) -> pl.DataFrame: ...


@overload
def rfm(
    orders: pl.LazyFrame,
    *,
    freq: Freq = ...,
    freq_multiplier: int = ...,
    observation_end: AsOf = ...,
    holdout_end: AsOf = ...,
    cut: Cut | None = ...,
    week_start: WeekStart = ...,
    **options: Unpack[ObservationOptions],
) -> pl.LazyFrame: ...


def rfm(
    orders: Data,
    *,
    freq: Freq = "D",
    freq_multiplier: int = 1,
    observation_end: AsOf = None,
    holdout_end: AsOf = None,
    cut: Cut | None = None,
    by: By = None,
    as_of: AsOf = None,
    tz: str = "UTC",
    week_start: WeekStart = 0,
    engine: Engine = "auto",
) -> pl.DataFrame | pl.LazyFrame:
    """Per customer: frequency, recency, T and monetary value (the RFM summary of lifetimes and BTYD).

    Orders are floored to the time unit ``freq`` (local days, weeks, months...
    in the reporting time zone ``tz``) and summed per (customer, unit).  Then,
    over the orders observed by the end of observation ``as_of`` (alias
    ``observation_end``):

    * ``frequency`` = number of distinct units with orders - 1 (repeat purchases);
    * ``recency`` = (last unit - first unit) / ``freq_multiplier``;
    * ``T`` = (unit of the end - first unit) / ``freq_multiplier``;
    * ``monetary_value`` = mean of the per-unit sums excluding the first unit
      (0 when ``frequency`` is 0).

    Which orders are observed is set by ``cut``.  A summary (no
    ``holdout_end``) floors the end to its unit too and keeps every order of
    the units up to it, as lifetimes' ``summary_data_from_transaction_data``:
    with daily units, an end at 00:00 keeps the orders placed later that day.
    A calibration/holdout split (``holdout_end`` given) cuts at the exact
    instants, as lifetimes' ``calibration_and_holdout_data``: the calibration
    period is the orders up to the end, the holdout period (end, ``holdout_end``].
    Customers whose first order is not observed by the end are left out.

    Parameters
    ----------
    orders
        A canonical orders table (DataFrame or LazyFrame) or a Dataset with one.
    freq
        The time unit: ``"D"`` (days), ``"W"`` (weeks starting on ``week_start``,
        Monday by default as in pandas' ``"W"``), ``"M"`` (months), ``"Q"``
        (quarters), ``"Y"`` (years).
    freq_multiplier
        Positive integer dividing ``recency``, ``T`` and ``duration_holdout``:
        ``freq="D", freq_multiplier=7`` gives exact weeks of 7 days (BTYD's and
        the CDNOW papers' ``T = days / 7``), as lifetimes' option of that name.
    as_of
        End of observation (of the calibration period with ``holdout_end``):
        an aware datetime or a date (a whole local day in ``tz``).  Default:
        the time of the last order (per ``by`` segment).
    observation_end
        lifetimes' name of ``as_of``, the same thing; pass one or the other.
    holdout_end
        End of the holdout period (same kinds as ``as_of``, which is then
        required and must be earlier).
    cut
        How an end selects orders.  ``"period"``: the end is floored to its
        unit (in ``tz``) and every order in a unit up to it counts, even one
        placed after the end inside the end's unit (a datetime at 00:00 keeps
        the rest of its day; a Wednesday with ``freq="W"`` the rest of its
        week).  ``"instant"``: an order counts when placed at or before the
        end (a datetime) or on or before it (a date), nothing later.  Default
        (``None``): ``"period"`` without ``holdout_end``, ``"instant"`` with it,
        as lifetimes' two functions.  The unit of the end gives ``T`` either
        way.
    by
        Segment column(s) of the orders or, for a Dataset, of the customers
        table; output gains those columns first and each segment is summarised
        on its own (its own default end of observation).
    tz
        Reporting time zone (IANA name) whose local calendar defines the units:
        orders and ends are floored to local units (lifetimes floors naive
        local times the same way).
    week_start
        First day of a week for ``freq="W"``: 0 (Monday) .. 6 (Sunday) or a day name.
    engine
        The polars engine of the collects the kernel makes (its result for eager
        input, its small pre-passes): ``"auto"`` (default: polars' choice, the
        streaming engine in polars 2), ``"streaming"`` or ``"in-memory"``.  Lazy
        input returns a LazyFrame: pass the engine to your own ``collect``.

    Returns
    -------
    polars.DataFrame or polars.LazyFrame
        The same kind as ``orders`` (a Dataset gives a DataFrame), one row per
        (by..., customer), sorted by the ``by`` columns then ``customer_id``
        (nulls last), the same whatever the order of the input or the engine: the ``by`` columns, ``customer_id``
        (String), ``frequency`` (Int64), ``recency`` and ``T`` (Float64, in units
        of ``freq`` times ``freq_multiplier``), ``monetary_value`` (Float64, in the
        orders' currency per unit with orders).  With ``holdout_end`` also
        ``frequency_holdout`` (Int64: distinct units with orders in the holdout
        period; no "- 1"), ``monetary_value_holdout`` (Float64: mean of the
        holdout's per-unit sums, 0 without holdout orders) and
        ``duration_holdout`` (Float64: unit of ``holdout_end`` - unit of
        ``observation_end``, divided by ``freq_multiplier``).

    Raises
    ------
    OptionError
        Unknown ``freq`` or ``cut``, bad ``freq_multiplier``, ``tz`` or
        ``week_start``, a naive end, both ``as_of`` and ``observation_end``,
        ``holdout_end`` without an end of observation or not after it (in a
        later unit with ``cut="period"``).
    SchemaError
        The input is not an orders table (or lacks a ``by`` column).
    CurrencyError
        A customer's orders mix currencies (checked for eager input).

    Examples
    --------
    >>> import datetime as dt, polars as pl
    >>> from retainlib.metrics.rfm import rfm
    >>> t = lambda d: dt.datetime.fromisoformat(d).replace(tzinfo=dt.UTC)
    >>> orders = pl.DataFrame({
    ...     "order_id": ["o1", "o2", "o3", "o4"],
    ...     "customer_id": ["a", "a", "a", "b"],
    ...     "ordered_at": [t("2024-01-01 09:00"), t("2024-01-01 18:00"), t("2024-01-11 10:00"), t("2024-01-05 12:00")],
    ...     "amount": ["10", "5", "20", "7"],
    ...     "currency": "EUR",
    ... })
    >>> rfm(orders, as_of=dt.date(2024, 1, 31))
    shape: (2, 5)
    ┌─────────────┬───────────┬─────────┬──────┬────────────────┐
    │ customer_id ┆ frequency ┆ recency ┆ T    ┆ monetary_value │
    │ ---         ┆ ---       ┆ ---     ┆ ---  ┆ ---            │
    │ str         ┆ i64       ┆ f64     ┆ f64  ┆ f64            │
    ╞═════════════╪═══════════╪═════════╪══════╪════════════════╡
    │ a           ┆ 1         ┆ 10.0    ┆ 30.0 ┆ 20.0           │
    │ b           ┆ 0         ┆ 0.0     ┆ 26.0 ┆ 0.0            │
    └─────────────┴───────────┴─────────┴──────┴────────────────┘
    """
    unit = _check_freq(freq)
    multiplier = _check_multiplier(freq_multiplier)
    zone = check_tz(tz)
    observation_end, end_name = _one_end(observation_end, as_of)
    mode = _check_cut(cut, holdout_end is not None)
    end = _cutoff(observation_end, end_name, zone)
    hold = _cutoff(holdout_end, "holdout_end", zone)
    if hold is not None and end is None:
        raise OptionError(
            "holdout_end needs observation_end or as_of (the end of the calibration period)",
            option="holdout_end",
            value=holdout_end,
        )
    p = prepare(
        orders,
        metric="rfm",
        tables=("orders",),
        by=by,
        period=_PERIOD[unit],
        tz=zone,
        week_start=week_start,
        engine=engine,
    )
    if mode == "period":  # each end moves to the end of its unit: lifetimes' flooring of the orders and the end
        end = None if end is None else _period_cutoff(end, p, end_name, observation_end)
        hold = None if hold is None else _period_cutoff(hold, p, "holdout_end", holdout_end)
    if hold is not None and end is not None and hold <= end:
        later = f" in a later {p.calendar.period} (cut='period' takes whole units)" if mode == "period" else ""
        raise OptionError(
            f"holdout_end ({holdout_end}) must be after {end_name} ({observation_end}){later}",
            option="holdout_end",
            value=holdout_end,
        )

    def build(p: Prepared) -> pl.LazyFrame:  # its row count is a pre-pass: deferred for lazy input
        cal = p.calendar
        keys = [*p.by, "customer_id"]
        unit_index = cal.timestamp_index("ordered_at").cast(pl.Int32).alias("_unit")  # any datetime's unit fits
        placed = pl.col("ordered_at")
        frame = p.frame
        if p.eager:
            last = hold if hold is not None else end
            _check_currencies(p, frame if last is None else frame.filter(placed < pl.lit(last, dtype=TIMESTAMP)))

        calibration = frame if end is None else frame.filter(placed < pl.lit(end, dtype=TIMESTAMP))
        parts = customer_parts(p.frame.select(pl.len()).collect(engine=p.engine).item())
        customers = by_customer_parts(
            calibration.with_columns(unit_index), lambda part: _summaries(part, keys), parts, p.engine
        )
        if end is None:  # the unit of the segment's last order
            end_unit = pl.col("_last").max().over(p.by) if p.by else pl.col("_last").max()
        else:
            end_unit = pl.lit(_unit(end, p).index, dtype=pl.Int64)
        row = pl.col("frequency")  # any non-null column: see _in_units
        result = customers.select(
            *keys,
            "frequency",
            _in_units(pl.col("_last") - pl.col("_first"), multiplier, row).alias("recency"),
            _in_units(end_unit - pl.col("_first"), multiplier, row).alias("T"),
            "monetary_value",
        )
        if hold is not None:
            assert end is not None
            holdout = (
                frame.filter((placed >= pl.lit(end, dtype=TIMESTAMP)) & (placed < pl.lit(hold, dtype=TIMESTAMP)))
                .group_by(keys)
                .agg(
                    unit_index.n_unique().cast(pl.Int64).alias("frequency_holdout"),
                    pl.col("amount").sum().alias("_holdout"),
                )
            )
            duration = (_unit(hold, p) - _unit(end, p)) / multiplier  # Python division: exactly rounded
            result = result.join(holdout, on=keys, how="left", nulls_equal=True).select(
                *keys,
                "frequency",
                "recency",
                "T",
                "monetary_value",
                pl.col("frequency_holdout").fill_null(0),
                _mean(pl.col("_holdout"), pl.col("frequency_holdout")).fill_null(0.0).alias("monetary_value_holdout"),
                pl.lit(duration, dtype=pl.Float64).alias("duration_holdout"),
            )
        # A deterministic row order (the partitions and the parallel group_by give none): one sort of the
        # per-customer rows, whose keys are unique, so equal inputs give equal frames whatever their order.
        return result.sort(keys, nulls_last=True)

    return finish_deferred(p, build)


def _summaries(orders: pl.LazyFrame, keys: list[str]) -> pl.LazyFrame:
    """Per customer: first and last unit, ``frequency`` (distinct units - 1) and ``monetary_value``.

    One query: a window gives each order its customer's first unit, then one
    ``group_by`` over the customers sums the amounts after the first unit (all
    of the first unit's orders left out, exactly as lifetimes' per-unit sums)
    and counts the distinct units.
    """
    unit = pl.col("_unit")
    first = pl.col("_first")
    frequency = (pl.col("_units").cast(pl.Int64) - 1).alias("frequency")
    return (
        orders.with_columns(unit.min().over(keys).alias("_first"))
        .group_by(keys)
        .agg(
            unit.min().alias("_first"),
            unit.max().alias("_last"),
            unit.n_unique().alias("_units"),
            pl.when(unit != first).then(pl.col("amount")).sum().alias("_repeat"),
        )
        .select(
            *keys,
            "_first",
            "_last",
            frequency,
            _mean(pl.col("_repeat"), frequency).alias("monetary_value"),
        )
    )


def _unit(cutoff: dt.datetime, p: Prepared) -> Period:
    """The unit holding the last instant before ``cutoff`` (the end of observation)."""
    cal = p.calendar
    return Period.containing(cutoff - _US, cal.period, tz=cal.tz, week_start=cal.week_start)


def _in_units(count: pl.Expr, multiplier: int, row: pl.Expr) -> pl.Expr:
    """An integer count of units divided by ``multiplier``, as an exactly rounded Float64.

    polars divides by a scalar through its reciprocal (``43 / 7`` would come out one ulp off
    lifetimes' and numpy's value), so the divisor is made a column from ``row``, a non-null
    integer column of the frame, to get the IEEE division.
    """
    if multiplier == 1:
        return count.cast(pl.Float64)
    return count.cast(pl.Float64) / row.clip(multiplier, multiplier).cast(pl.Float64)


def _mean(total: pl.Expr, count: pl.Expr) -> pl.Expr:
    """An exact money total divided by a count, as Float64; 0.0 when the count is 0 (lifetimes' convention).

    The total is taken as its integer number of 1/10**MONEY_PLACES units, exact as a float below
    2**53 units (about 9e11 in major units), so the result is the exactly rounded quotient: a single
    rounding, never the two of ``float(total) / count``.
    """
    units = total.cast(MONEY).to_physical().cast(pl.Float64)
    scaled = count.cast(pl.Float64) * float(10**MONEY_PLACES)
    return pl.when(count > 0).then(units / scaled).otherwise(pl.lit(0.0))


def _check_bins(bins: object) -> int:
    if isinstance(bins, bool) or not isinstance(bins, int) or not 2 <= bins <= 100:
        raise OptionError(f"bins is an integer 2..100, got {bins!r}", option="bins", value=bins)
    return bins


def _score(value: pl.Expr, bins: int, by: tuple[str, ...]) -> pl.Expr:
    """1 + floor(bins * (customers with a strictly smaller value) / customers), within the segment."""
    below = value.round(_TIE_DECIMALS).rank("min").cast(pl.Int64) - 1
    count = pl.len().cast(pl.Int64)
    if by:
        below, count = below.over(by), count.over(by)
    return (below * bins // count + 1).cast(pl.Int8)


def _segment(r: pl.Expr, f: pl.Expr) -> pl.Expr:
    """The segment of the (R, F) cell in :data:`SEGMENT_GRID` (scores on the 1..5 scale)."""
    cells = [pl.when(r.is_in(rs) & f.is_in(fs)).then(pl.lit(name)) for name, (rs, fs) in SEGMENT_GRID.items()]
    return pl.coalesce(cells).cast(_SEGMENT_DTYPE)


@overload
def rfm_segments(rfm_frame: pl.DataFrame, *, bins: int = 5, by: By = None) -> pl.DataFrame: ...


@overload
def rfm_segments(rfm_frame: pl.LazyFrame, *, bins: int = 5, by: By = None) -> pl.LazyFrame: ...


def rfm_segments(
    rfm_frame: pl.DataFrame | pl.LazyFrame, *, bins: int = 5, by: By = None
) -> pl.DataFrame | pl.LazyFrame:
    """Quantile scores for recency, frequency and monetary value, and a named segment per customer.

    Each score is ``1 + floor(bins * below / n)``, ``n`` the number of
    customers (in the ``by`` segment) and ``below`` the number of them with a
    strictly worse value, so tied customers always share a score (the one of
    the tie's lowest rank) and the best score is ``bins``:

    * ``r_score`` from the time since the last purchase, ``T - recency``:
      smaller is better (the most recent buyers score ``bins``);
    * ``f_score`` from ``frequency``, larger is better;
    * ``m_score`` from ``monetary_value``, larger is better.

    Values are compared after rounding to 9 decimals, so that float noise
    never splits a tie.  ``segment`` names the customer's cell in the R/F grid
    :data:`SEGMENT_GRID` on the 1..5 scale (with ``bins`` other than 5 the
    grid uses 1..5 scores computed the same way).

    Parameters
    ----------
    rfm_frame
        The output of :func:`rfm` (columns ``customer_id``, ``frequency``,
        ``recency``, ``T``, ``monetary_value``; others are ignored).
    bins
        Number of score levels, 2..100 (default 5: quintiles).
    by
        Segment column(s): scores are quantiles within each segment.  Pass the
        ``by`` given to :func:`rfm`.

    Returns
    -------
    polars.DataFrame or polars.LazyFrame
        The same kind as ``rfm_frame``, one row per input row sorted by
        (by..., customer_id): the ``by`` columns, ``customer_id``, ``r_score``,
        ``f_score``, ``m_score`` (Int8, 1..bins) and ``segment``
        (``pl.Enum(SEGMENTS)``).

    Raises
    ------
    OptionError
        ``bins`` out of range, or ``rfm_frame`` not a polars frame.
    SchemaError
        A required column is missing.

    Examples
    --------
    >>> import polars as pl
    >>> from retainlib.metrics.rfm import rfm_segments
    >>> summary = pl.DataFrame({
    ...     "customer_id": ["a", "b", "c", "d", "e"],
    ...     "frequency": [4, 0, 2, 1, 0],
    ...     "recency": [20.0, 0.0, 5.0, 28.0, 0.0],
    ...     "T": [30.0, 2.0, 40.0, 29.0, 50.0],
    ...     "monetary_value": [12.5, 0.0, 30.0, 8.0, 0.0],
    ... })
    >>> rfm_segments(summary).select("customer_id", "r_score", "f_score", "segment")
    shape: (5, 4)
    ┌─────────────┬─────────┬─────────┬────────────────────┐
    │ customer_id ┆ r_score ┆ f_score ┆ segment            │
    │ ---         ┆ ---     ┆ ---     ┆ ---                │
    │ str         ┆ i8      ┆ i8      ┆ enum               │
    ╞═════════════╪═════════╪═════════╪════════════════════╡
    │ a           ┆ 3       ┆ 5       ┆ Loyal              │
    │ b           ┆ 4       ┆ 1       ┆ Promising          │
    │ c           ┆ 2       ┆ 4       ┆ At risk            │
    │ d           ┆ 5       ┆ 3       ┆ Potential loyalist │
    │ e           ┆ 1       ┆ 1       ┆ Lost               │
    └─────────────┴─────────┴─────────┴────────────────────┘
    """
    levels = _check_bins(bins)
    if not isinstance(rfm_frame, pl.DataFrame | pl.LazyFrame):
        raise OptionError(
            f"rfm_segments takes a polars DataFrame or LazyFrame (the output of rfm), got {type(rfm_frame).__name__}",
            option="rfm_frame",
            value=type(rfm_frame).__name__,
        )
    by_cols = _by_columns(by)
    taken = [c for c in by_cols if c in ("customer_id", "r_score", "f_score", "m_score", "segment")]
    if taken:
        raise OptionError(
            f"by={taken[0]!r} cannot be a segment: rfm_segments ranks customers within each segment and "
            "writes customer_id, r_score, f_score, m_score and segment; segment by another column",
            option="by",
            value=by,
        )
    lazy = rfm_frame.lazy()
    schema = lazy.collect_schema()
    names = schema.names()
    missing = [c for c in (*by_cols, *_RFM_COLUMNS) if c not in names]
    if missing:
        raise SchemaError(
            f"rfm_segments needs the output of rfm; missing column(s) {missing}; columns: {', '.join(names)}",
            table="rfm",
            column=missing[0],
            expected="present",
            actual=None,
        )
    for column in ("frequency", "recency", "T", "monetary_value"):
        dtype = schema[column]
        if not (dtype.is_numeric() or dtype == pl.Null):
            raise SchemaError(
                f"rfm_segments needs the output of rfm: {column} holds {dtype}, not numbers",
                table="rfm",
                column=column,
                expected="numbers",
                actual=str(dtype),
            )
    inactive = pl.col("T").cast(pl.Float64) - pl.col("recency").cast(pl.Float64)
    values = {
        "r": -inactive,
        "f": pl.col("frequency").cast(pl.Float64),
        "m": pl.col("monetary_value").cast(pl.Float64),
    }
    result = lazy.select(
        *by_cols,
        "customer_id",
        *(_score(v, levels, by_cols).alias(f"{k}_score") for k, v in values.items()),
        segment=_segment(_score(values["r"], 5, by_cols), _score(values["f"], 5, by_cols)),
    ).sort([*by_cols, "customer_id"], nulls_last=True)
    return result.collect() if isinstance(rfm_frame, pl.DataFrame) else result
