"""Customer survival: Kaplan–Meier curves (``survival``), median lifetime and the log-rank test.

Definition, with its formulas: ``docs/metrics/survival.md``.

Every customer gets a lifetime and an event flag (churned, or censored at the
end of observation), from subscriptions, from orders with an inactivity
window, or given directly as a *durations* frame (columns ``duration`` and
``event``).  The Kaplan–Meier estimate, its Greenwood variance and the
confidence bands are then computed per ``by`` segment with window functions
over the distinct times, lazily.  The log-rank test sums its additive parts
(observed and expected events, the covariance matrix) lazily, then solves a
k x k system and evaluates the chi-square tail on the collected sums.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Final, Literal, TypeAlias, Unpack, get_args, overload

import attrs
import polars as pl

from retainlib._dataset import Dataset
from retainlib.calendar import check_tz
from retainlib.errors import DataError, OptionError, Problem, RetainlibError, SchemaError
from retainlib.metrics._common import (
    By,
    DaskFrame,
    Data,
    Engine,
    Prepared,
    _by_columns,
    _carried,
    by_customer_parts,
    check_engine,
    customer_parts,
    gather,
    last_instant,
    merge_ends,
    on_partition,
    prepare,
    segment_ends,
)
from retainlib.metrics._options import AsOf, ObservationOptions
from retainlib.tables import TIMESTAMP

__all__ = [
    "SURVIVAL_COLUMNS",
    "UNITS",
    "ConfidenceKind",
    "LifetimeOptions",
    "Unit",
    "logrank",
    "median_lifetime",
    "survival",
]

#: Time unit of the ``time`` column for canonical input.
Unit: TypeAlias = Literal["hour", "day", "week"]
#: How the pointwise 95% interval of S(t) is built from Greenwood's variance.
ConfidenceKind: TypeAlias = Literal["log-log", "log", "plain"]
#: Microseconds per unit: fixed lengths (a day is 86,400 s, a week 7 days), no calendar months.
UNITS: Final[dict[str, int]] = {"hour": 3_600_000_000, "day": 86_400_000_000, "week": 604_800_000_000}
#: The columns of a survival curve, after the ``by`` columns.
SURVIVAL_COLUMNS: Final[tuple[str, ...]] = (
    "time",
    "at_risk",
    "events",
    "censored",
    "survival",
    "ci_lower",
    "ci_upper",
)
#: Two-sided 95% normal quantile, 1.959963984540054.
Z95: Final = NormalDist().inv_cdf(0.975)
#: Slack when comparing a curve with 0.5 (a product of floats that is exactly 0.5 in rationals may round above it).
MEDIAN_TOLERANCE: Final = 1e-10

_DURATION = "_duration"
_EVENT = "_event"
_INT64_MAX = 2**63 - 1
_US = dt.timedelta(microseconds=1)


# --- options ------------------------------------------------------------------------------


def _check_unit(unit: object) -> int:
    names = tuple(UNITS)
    message = f"unknown unit {unit!r}; use one of {', '.join(get_args(Unit))} (a day is 86,400 s; no month unit)"
    return UNITS[OptionError.one_of(unit, names, option="unit", message=message)]


def _check_ci(ci: object) -> ConfidenceKind:
    kinds: tuple[ConfidenceKind, ...] = get_args(ConfidenceKind)
    return OptionError.one_of(ci, kinds, option="ci", message=f"unknown ci {ci!r}; use one of {', '.join(kinds)}")


def _window_us(window: object) -> int | None:
    """The inactivity window in microseconds (``None`` when not given); positive, capped at the Int64 range."""
    if window is None:
        return None
    if isinstance(window, bool) or not isinstance(window, dt.timedelta | int | float):
        raise OptionError(
            f"window is a datetime.timedelta or a number of days, got {window!r}", option="window", value=window
        )
    if isinstance(window, float) and not math.isfinite(window):
        raise OptionError(f"window must be finite, got {window!r}", option="window", value=window)
    try:
        delta = window if isinstance(window, dt.timedelta) else dt.timedelta(days=window)
    except OverflowError:
        raise OptionError(f"window {window!r} is too large", option="window", value=window) from None
    micros = delta // _US
    if micros <= 0:
        raise OptionError(
            f"window must be positive (at least one microsecond), got {window!r}", option="window", value=window
        )
    return min(micros, _INT64_MAX)


class LifetimeOptions(ObservationOptions, total=False):
    """The options of :func:`survival` and :func:`median_lifetime`: the shared ones and the lifetimes' own."""

    window: dt.timedelta | float | None
    unit: Unit
    ci: ConfidenceKind


# --- lifetimes ----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class _Lifetimes:
    """One row per customer (or per given duration): the ``by`` (and extra) columns, ``_duration``, ``_event``.

    Attributes:
        frame: the lifetimes, lazy.
        by: the segment columns.
        eager: whether the caller gave eager data.
        scale: microseconds per unit for canonical input (``_duration`` is Int64 µs); ``None`` for a
            durations frame (``_duration`` is Float64 in the frame's own unit).
        engine: the polars engine of the kernel's collects.
        table: for a distributed table, the Kaplan–Meier counts (:func:`_km_counts`) summed over its
            partitions (``frame`` then has no rows).
    """

    frame: pl.LazyFrame
    by: tuple[str, ...]
    eager: bool
    scale: int | None
    engine: Engine = "auto"
    table: pl.LazyFrame | None = None


def _is_durations(data: Data) -> bool:
    if not isinstance(data, pl.DataFrame | pl.LazyFrame):
        return False
    names = data.collect_schema().names()
    return "duration" in names and "event" in names


def _is_curve(data: Data | DaskFrame) -> bool:
    if not isinstance(data, pl.DataFrame | pl.LazyFrame):
        return False
    names = data.collect_schema().names()
    return all(c in names for c in SURVIVAL_COLUMNS)


def _check_durations(frame: pl.DataFrame) -> None:
    """Eager durations are checked value by value; every problem is reported together."""
    duration, event = pl.col("duration"), pl.col("event")
    numbered = frame.with_row_index("row", offset=1)
    rules: list[tuple[str, pl.Expr, str]] = [
        ("duration", duration.is_null(), "missing duration"),
        ("event", event.is_null(), "missing event flag"),
    ]
    if frame.schema["duration"].is_float():
        rules.append(("duration", ~duration.is_finite(), "duration is not a finite number"))
    rules.append(("duration", duration < 0, "negative duration"))
    if frame.schema["event"] != pl.Boolean:
        rules.append(("event", ~event.is_in([0, 1]), "event is not 0 or 1 (or a bool)"))
    problems = []
    for column, bad, reason in rules:
        rows = numbered.filter(bad.fill_null(False))
        if rows.height:
            problems.append(
                Problem(table="durations", column=column, reason=reason, count=rows.height, rows=rows.head(5))
            )
    if problems:
        raise DataError(problems)


def _durations(data: pl.DataFrame | pl.LazyFrame, keys: tuple[str, ...]) -> pl.LazyFrame:
    schema = data.collect_schema()
    for column in keys:
        if column not in schema:
            raise SchemaError(
                f"column {column!r} not found; columns: {', '.join(schema.names())}",
                table="durations",
                column=column,
                expected="present",
                actual=None,
            )
    if not schema["duration"].is_numeric():
        raise SchemaError(
            "duration must be numeric (a lifetime in some unit)",
            table="durations",
            column="duration",
            expected="numeric",
            actual=str(schema["duration"]),
        )
    if not (schema["event"] == pl.Boolean or schema["event"].is_integer()):
        raise SchemaError(
            "event must be a bool or 0/1 (1 = the event, churn, was observed)",
            table="durations",
            column="event",
            expected="Boolean or integer 0/1",
            actual=str(schema["event"]),
        )
    if isinstance(data, pl.DataFrame):
        _check_durations(data)
    return data.lazy().select(
        *keys,
        pl.col("duration").cast(pl.Float64).alias(_DURATION),
        pl.col("event").cast(pl.Boolean).alias(_EVENT),
    )


def _table_for(data: Data | DaskFrame, window: int | None, metric: str) -> Literal["orders", "subscriptions"] | None:
    """For a Dataset: subscriptions, unless a window asks for orders; ``None`` lets ``prepare`` pick for frames."""
    if not isinstance(data, Dataset):
        return None
    if window is not None:
        return "orders"
    if data.subscriptions is None and data.orders is not None:
        raise OptionError(
            f"{metric} on orders needs an inactivity window: give window= (a timedelta or a number of days)",
            option="window",
            value=None,
        )
    return "subscriptions"


def _as_of(p: Prepared, by: tuple[str, ...]) -> pl.Expr:
    """End of observation per row: ``as_of``, or the last timestamp of the row's segment."""
    if p.as_of is not None:
        return pl.lit(p.as_of, dtype=TIMESTAMP)
    last = last_instant(p)
    return last.over(list(by)) if by else last


def _observed(p: Prepared, column: str) -> pl.Expr:
    """Whether a timestamp is observed: before ``as_of`` (exclusive, as every kernel), or any time up to and
    including the last timestamp when ``as_of`` is not given."""
    if p.as_of is not None:
        return pl.col(column) < pl.col("_as_of")
    return pl.col(column) <= pl.col("_as_of")


def _canonical(
    p: Prepared, by: tuple[str, ...], window: int | None, metric: str, ends: pl.LazyFrame | None = None
) -> pl.LazyFrame:
    """Per customer: the ``by`` columns, ``_duration`` (µs) and ``_event``.

    ``ends`` (``by`` columns and ``_end``, without ``as_of``) gives each
    segment's end of observation when ``p.frame`` is one partition of a
    distributed table (:func:`~retainlib.metrics._common.segment_ends` over all of it).
    """
    keys = [*p.by, "customer_id"]

    def with_ends(frame: pl.LazyFrame) -> pl.LazyFrame:
        assert ends is not None
        known = ends.select(*by, pl.col("_end").alias("_as_of"))
        return frame.join(known, on=list(by), how="left", nulls_equal=True) if by else frame.join(known, how="cross")

    as_of = pl.col("_as_of")
    if p.table == "orders":
        if window is None:
            raise OptionError(
                f"{metric} on orders needs an inactivity window: give window= (a timedelta or a number of days)",
                option="window",
                value=None,
            )
        placed = pl.col("ordered_at")
        observed = placed < pl.lit(p.as_of, dtype=TIMESTAMP) if p.as_of is not None else placed.is_not_null()
        customers = _first_and_last(p, observed, keys)
        if p.as_of is not None:
            per = customers.with_columns(pl.lit(p.as_of, dtype=TIMESTAMP).alias("_as_of"))
        elif ends is not None:
            per = with_ends(customers)
        else:
            # The segment's last order, from its customers' last orders: every order is at or before it,
            # so the orders are summarised in one streaming pass (their last order broadcast over them first
            # holds them all in memory: 9 GiB at 100M orders sorted by time).
            last = pl.col("_last").max()
            per = customers.with_columns((last.over(list(by)) if by else last).alias("_as_of"))
        # Churned: the window after the last order has run out by as_of.
        event = (as_of - pl.col("_last")).dt.total_microseconds() >= window
        end = pl.when(event).then(pl.col("_last")).otherwise(as_of)
    else:
        if window is not None:
            raise OptionError(
                f"window is the inactivity window of orders; {metric} on subscriptions does not take one",
                option="window",
                value=window,
            )
        ended = pl.col("ended_at")
        rows = (
            with_ends(p.frame) if ends is not None and p.as_of is None else p.frame.with_columns(_as_of=_as_of(p, by))
        )
        per = (
            rows.filter(_observed(p, "started_at"))  # segments starting after as_of are not observed
            .group_by(*keys)
            .agg(
                pl.col("started_at").min().alias("_first"),
                ended.max().alias("_last"),
                (ended.is_null() | (ended > as_of)).any().alias("_running"),
                as_of.first(),
            )
        )
        event = ~pl.col("_running")
        end = pl.when(event).then(pl.col("_last")).otherwise(as_of)
    return per.select(
        *p.by,
        (end - pl.col("_first")).dt.total_microseconds().alias(_DURATION),
        event.alias(_EVENT),
    )


def _first_and_last(p: Prepared, observed: pl.Expr, keys: list[str]) -> pl.LazyFrame:
    """Per customer (``keys``): the first and the last observed order, ``_first`` and ``_last``.

    One ``group_by`` over the customers, by customer partitions above
    :data:`~retainlib.metrics._common.PARTITION_ROWS` orders (see
    :func:`~retainlib.metrics._common.by_customer_parts`).  Eager input counts
    its rows now; a LazyFrame counts them when collected (the count, then the
    summary: two reads of the input, or one per partition after the count).
    """

    def summarise(part: pl.LazyFrame) -> pl.LazyFrame:
        placed = pl.col("ordered_at")
        return part.filter(observed).group_by(*keys).agg(placed.min().alias("_first"), placed.max().alias("_last"))

    def by_parts() -> pl.LazyFrame:
        rows = p.frame.select(pl.len()).collect(engine=p.engine).item()
        return by_customer_parts(p.frame, summarise, customer_parts(rows), p.engine)

    if p.eager:
        return by_parts()

    def run() -> pl.DataFrame:
        try:
            return by_parts().collect(engine=p.engine)
        except RetainlibError as error:
            raise _carried(error) from None

    return pl.defer(run, schema=summarise(p.frame).collect_schema()).cache()


def _lifetimes(
    data: Data | DaskFrame,
    *,
    metric: str,
    window: object,
    as_of: AsOf,
    by: By,
    unit: object,
    tz: str,
    engine: Engine,
    extra: tuple[str, ...] = (),
    distributed: bool = False,
) -> _Lifetimes:
    scale = _check_unit(unit)
    window_us = _window_us(window)
    by_cols = _by_columns(by)
    check_tz(tz)
    engine = check_engine(engine)
    clash = [c for c in by_cols if c in SURVIVAL_COLUMNS or c.startswith("_")]
    if clash:
        raise OptionError(
            f"by column(s) {clash} clash with output or internal column names; rename them", option="by", value=by
        )
    if isinstance(data, pl.DataFrame | pl.LazyFrame) and _is_durations(data):
        for name, value in (("window", window), ("as_of", as_of)):
            if value is not None:
                raise OptionError(
                    f"{name} applies to orders or subscriptions; a durations frame already holds the lifetimes",
                    option=name,
                    value=value,
                )
        if unit != "day":
            raise OptionError(
                "a durations frame keeps the unit of its duration column; leave unit at its default",
                option="unit",
                value=unit,
            )
        frame = _durations(data, (*by_cols, *extra))
        return _Lifetimes(frame=frame, by=by_cols, eager=isinstance(data, pl.DataFrame), scale=None, engine=engine)
    if _is_curve(data):
        raise SchemaError(
            f"{metric} needs lifetimes (subscriptions, orders or a durations frame), not a survival curve",
            table="survival",
            column="*",
            expected="subscriptions, orders or durations",
            actual="survival curve",
        )
    table = _table_for(data, window_us, metric)
    p = prepare(
        data,
        metric=metric,
        tables=("subscriptions", "orders"),
        by=(*by_cols, *extra),
        tz=tz,
        as_of=as_of,
        table=table,
        engine=engine,
        distributed=distributed,
    )
    if p.partitions is not None:
        # Each partition's lifetimes and event counts (customers together), with the ends of observation
        # of the whole table; the counts add up.
        ends = None
        if p.as_of is None:
            (found,) = gather(p, lambda q: [segment_ends(q)], customers=False)
            ends = merge_ends(found, p.by).collect().lazy()
        (counts,) = gather(p, lambda q: [_km_counts(_canonical(q, by_cols, window_us, metric, ends), by_cols)])
        empty = _canonical(on_partition(p, pl.DataFrame(schema=p.frame.collect_schema())), by_cols, window_us, metric)
        sums = _km_sum(counts, by_cols)
        return _Lifetimes(frame=empty, by=by_cols, eager=True, scale=scale, engine=engine, table=sums)
    frame = _canonical(p, by_cols, window_us, metric)
    return _Lifetimes(frame=frame, by=by_cols, eager=p.eager, scale=scale, engine=engine)


# --- Kaplan–Meier -------------------------------------------------------------------------


def _over(e: pl.Expr, by: Sequence[str]) -> pl.Expr:
    """``e`` evaluated along each segment in time order."""
    return e.over(list(by) if by else None, order_by=_DURATION)


def _confidence(ci: ConfidenceKind, z: float) -> tuple[pl.Expr, pl.Expr]:
    """Pointwise bounds of S(t) from ``survival`` and ``_greenwood`` = sum d / (n (n - d)).

    S = 1 gives [1, 1] and S = 0 gives [0, 0] for every kind (no NaN); the caller then replaces the upper
    bound where S = 0.
    """
    s, g = pl.col("survival"), pl.col("_greenwood")
    se = g.sqrt()  # standard error of log S
    if ci == "plain":
        lower, upper = (s - z * s * se).clip(0.0, 1.0), (s + z * s * se).clip(0.0, 1.0)
    elif ci == "log":
        lower, upper = s * (-z * se).exp(), (s * (z * se).exp()).clip(upper_bound=1.0)
    else:
        theta = z * se / (-s.log())  # z times the standard error of log(-log S)
        inside = (s > 0) & (s < 1)
        lower = pl.when(inside).then(s.pow(theta.exp())).otherwise(s)
        upper = pl.when(inside).then(s.pow((-theta).exp())).otherwise(s)
    return lower, upper


def _km_counts(frame: pl.LazyFrame, by: Sequence[str]) -> pl.LazyFrame:
    """Per segment and distinct lifetime: events, censorings and customers ``_n`` (the partial step of the curve).

    Every segment also has a row at time 0 (as lifelines' event table does).
    Additive over partitions of the customers: :func:`_km_sum` merges them.
    """
    event = pl.col(_EVENT)
    counts = frame.group_by(*by, _DURATION).agg(
        event.sum().cast(pl.UInt32).alias("events"),
        (~event).sum().cast(pl.UInt32).alias("censored"),
        pl.len().cast(pl.UInt32).alias("_n"),
    )
    zeros = {name: pl.lit(0, dtype=pl.UInt32) for name in ("events", "censored", "_n")}
    origin = (frame.unique(subset=list(by), keep="any") if by else frame.head(1)).select(
        *by, (pl.col(_DURATION) * 0).alias(_DURATION), **zeros
    )
    return _km_sum(pl.concat([counts, origin], how="vertical"), by)


def _km_sum(counts: pl.LazyFrame, by: Sequence[str]) -> pl.LazyFrame:
    """Counts of :func:`_km_counts` summed by segment and lifetime."""
    return counts.group_by(*by, _DURATION).agg(pl.col("events").sum(), pl.col("censored").sum(), pl.col("_n").sum())


def _kaplan_meier(life: _Lifetimes, ci: ConfidenceKind) -> pl.LazyFrame:
    by = list(life.by)
    table = life.table if life.table is not None else _km_counts(life.frame, by)
    n = pl.col("at_risk").cast(pl.Float64)
    d = pl.col("events").cast(pl.Float64)
    curve = table.with_columns(_over(pl.col("_n").cum_sum(reverse=True), by).alias("at_risk")).with_columns(
        _over((1.0 - d / n).cum_prod(), by).alias("survival"),
        # Greenwood: sum over event times of d / (n (n - d)); the term where n = d (S drops to 0) is left
        # out (the bounds are defined apart there).
        _over(pl.when(n > d).then(d / (n * (n - d))).otherwise(0.0).cum_sum(), by).alias("_greenwood"),
    )
    lower, upper = _confidence(ci, Z95)
    # Where S drops to 0 (everyone still at risk churns), Greenwood's variance is infinite: the band
    # cannot narrow, so the upper bound stays where it was just before (1 when S is 0 from time 0).
    upper = pl.when(pl.col("survival") > 0).then(upper).otherwise(_over(upper.shift(1), by).fill_null(1.0))
    time = pl.col(_DURATION).cast(pl.Float64)
    if life.scale is not None:
        # whole units exactly, the rest times 1/scale: the same float whatever the query plan (polars divides
        # some columns by a scalar as a multiplication by its reciprocal, others not)
        whole = (pl.col(_DURATION) // life.scale).cast(pl.Float64)
        time = whole + (pl.col(_DURATION) % life.scale).cast(pl.Float64) * (1.0 / life.scale)
    return curve.select(
        *by,
        time.alias("time"),
        "at_risk",
        "events",
        "censored",
        "survival",
        lower.alias("ci_lower"),
        upper.alias("ci_upper"),
    ).sort(*by, "time")


def _result(frame: pl.LazyFrame, eager: bool, engine: Engine) -> pl.DataFrame | pl.LazyFrame:
    return frame.collect(engine=engine) if eager else frame


@overload
def survival(data: pl.LazyFrame, **options: Unpack[LifetimeOptions]) -> pl.LazyFrame: ...
@overload
def survival(data: pl.DataFrame | Dataset | DaskFrame, **options: Unpack[LifetimeOptions]) -> pl.DataFrame: ...
def survival(
    data: Data | DaskFrame,
    *,
    by: By = None,
    as_of: AsOf = None,
    tz: str = "UTC",
    engine: Engine = "auto",
    window: dt.timedelta | float | None = None,
    unit: Unit = "day",
    ci: ConfidenceKind = "log-log",
) -> pl.DataFrame | pl.LazyFrame:
    """Kaplan–Meier survival curve of customer lifetimes, with Greenwood 95% intervals.

    Each customer has a lifetime and an event flag:

    * subscriptions: from the first ``started_at`` to the end of the last
      segment (the largest ``ended_at``); churned (event) when no segment runs
      at ``as_of`` (every segment started before it has ``ended_at <= as_of``),
      else censored with lifetime ``as_of - first start``.  Segments starting
      at or after ``as_of`` are ignored; every segment counts, whatever its
      ``mrr``.
    * orders, with an inactivity ``window`` W: churned when the last order by
      ``as_of`` is followed by W without orders, ``last + W <= as_of``, with
      lifetime ``last - first order``; else censored with lifetime
      ``as_of - first order``.  Orders at or after ``as_of`` are ignored.
    * a durations frame (columns ``duration``, numeric, and ``event``, bool or
      0/1, plus optional ``by`` columns): the lifetimes as given, in their own
      unit (Telco tenure in months...).

    With ``d_i`` events and ``n_i`` customers at risk (lifetime >= t_i) at the
    distinct times ``t_i``, an event and a censoring at the same time counting
    the censored customer as still at risk (events first)::

        S(t) = prod_{t_i <= t} (1 - d_i / n_i)
        G(t) = sum_{t_i <= t, n_i > d_i} d_i / (n_i (n_i - d_i))     (Greenwood: Var log S)

    The interval is ``exp(log S -/+ 1.96 sqrt(G))`` for ``ci="log"``,
    ``S -/+ 1.96 S sqrt(G)`` for ``"plain"`` (both clipped to [0, 1]) and
    ``S ** exp(+/- 1.96 sqrt(G) / log S)`` for ``"log-log"``.  Where S = 1 the
    bounds are [1, 1]; where S drops to 0 (everyone still at risk churns,
    Greenwood's variance is infinite) the lower bound is 0 and the upper bound
    stays at its value just before (1 when S is 0 from time 0).

    Parameters
    ----------
    data
        Canonical subscriptions or orders (DataFrame or LazyFrame), a Dataset
        (subscriptions, or orders when ``window`` is given), or a durations frame.
    by
        Segment column(s): of the table, of the customers table of a Dataset, or
        of the durations frame.  One curve per segment (default ``None``: one curve).
    as_of
        End of observation: an aware datetime (exclusive, as in every kernel:
        the instants before it are observed), or a date meaning through the
        end of that local day in ``tz``.  Default: the last timestamp in each
        ``by`` segment's data, that timestamp included.
    tz
        Time zone of a date ``as_of`` (default ``"UTC"``); lifetimes are
        elapsed time, not local dates.
    engine
        The polars engine of the collects the kernel makes (its result for
        eager input, its small pre-passes): ``"auto"`` (default),
        ``"streaming"`` or ``"in-memory"``.  Lazy input returns a LazyFrame:
        pass the engine to your own ``collect``.
    window
        The inactivity window for orders: a ``datetime.timedelta`` or a number
        of days (> 0).  Required for orders, refused otherwise (default ``None``).
    unit
        Unit of ``time`` for canonical input: ``"hour"`` (3,600 s), ``"day"``
        (86,400 s) or ``"week"`` (7 days).  Default ``"day"``; a durations frame keeps its own unit.
    ci
        ``"log-log"`` (default, as lifelines), ``"log"`` (R survival's default)
        or ``"plain"``.

    Returns
    -------
    polars.DataFrame or polars.LazyFrame
        Same kind as the input (a Dataset gives a DataFrame).  Per segment, one
        row at time 0 then one per distinct lifetime (event or censoring),
        sorted: the ``by`` columns, ``time`` (Float64, in ``unit``),
        ``at_risk``, ``events``, ``censored`` (UInt32), ``survival``,
        ``ci_lower``, ``ci_upper`` (Float64).  ``survival`` is S at ``time``
        (right-continuous: including that time's events).

    Raises
    ------
    OptionError
        Orders without a window, a window for subscriptions, a window <= 0, an
        unknown unit or ci, a naive ``as_of``.
    SchemaError
        A table that is neither subscriptions nor orders nor durations, a
        missing ``by`` column, a non-numeric duration.
    DataError
        An eager durations frame with a missing, negative or non-finite
        duration or an event other than 0/1.

    Examples
    --------
    >>> import polars as pl
    >>> durations = pl.DataFrame({"duration": [1, 2, 2, 3], "event": [1, 1, 0, 1]})
    >>> survival(durations).select("time", "at_risk", "events", "survival")
    shape: (4, 4)
    ┌──────┬─────────┬────────┬──────────┐
    │ time ┆ at_risk ┆ events ┆ survival │
    │ ---  ┆ ---     ┆ ---    ┆ ---      │
    │ f64  ┆ u32     ┆ u32    ┆ f64      │
    ╞══════╪═════════╪════════╪══════════╡
    │ 0.0  ┆ 4       ┆ 0      ┆ 1.0      │
    │ 1.0  ┆ 4       ┆ 1      ┆ 0.75     │
    │ 2.0  ┆ 3       ┆ 1      ┆ 0.5      │
    │ 3.0  ┆ 1       ┆ 1      ┆ 0.0      │
    └──────┴─────────┴────────┴──────────┘
    """
    kind = _check_ci(ci)
    life = _lifetimes(
        data, metric="survival", window=window, as_of=as_of, by=by, unit=unit, tz=tz, engine=engine, distributed=True
    )
    return _result(_kaplan_meier(life, kind), life.eager, life.engine)


# --- median lifetime ----------------------------------------------------------------------


def _median(curve: pl.LazyFrame, by: Sequence[str]) -> pl.LazyFrame:
    def first_below(column: str) -> pl.Expr:
        return pl.col("time").filter(pl.col(column) <= 0.5 + MEDIAN_TOLERANCE).min().alias(column)

    aggs = [first_below("survival").alias("median"), first_below("ci_lower"), first_below("ci_upper")]
    if not by:
        return curve.select(aggs)
    return curve.group_by(*by).agg(aggs).sort(*by)


@overload
def median_lifetime(data: pl.LazyFrame, **options: Unpack[LifetimeOptions]) -> pl.LazyFrame: ...
@overload
def median_lifetime(data: pl.DataFrame | Dataset, **options: Unpack[LifetimeOptions]) -> pl.DataFrame: ...
def median_lifetime(
    data: Data,
    *,
    by: By = None,
    as_of: AsOf = None,
    tz: str = "UTC",
    engine: Engine = "auto",
    window: dt.timedelta | float | None = None,
    unit: Unit = "day",
    ci: ConfidenceKind = "log-log",
) -> pl.DataFrame | pl.LazyFrame:
    """Median lifetime per segment, with the 95% interval read off the survival bands.

    ``median`` is the smallest time with S(t) <= 0.5; ``ci_lower`` the smallest
    time where the lower band is <= 0.5 and ``ci_upper`` the smallest time where
    the upper band is <= 0.5 (Brookmeyer & Crowley's inversion of the pointwise
    band, as R's ``print.survfit`` and lifelines' ``median_survival_times`` on
    the confidence interval do).  Each is null when the curve never falls to
    0.5.  Where S equals 0.5 over an interval, the start of the interval is
    taken (lifelines; R reports the middle of the interval instead).

    Parameters
    ----------
    data
        A survival curve from :func:`survival` (its columns other than the
        curve's are the ``by`` columns), or anything :func:`survival` accepts.
    by, as_of, tz, engine, window, unit, ci
        As for :func:`survival` (defaults ``by=None``, ``as_of=None``,
        ``tz="UTC"``, ``engine="auto"``, ``window=None``, ``unit="day"``,
        ``ci="log-log"``).  With a survival curve they are already decided:
        only ``by`` (naming the curve's segment columns) and ``engine`` may be
        given; any other option away from its default is an error.

    Returns
    -------
    polars.DataFrame or polars.LazyFrame
        Same kind as the input: the ``by`` columns, ``median``, ``ci_lower``,
        ``ci_upper`` (Float64, in the curve's time unit), one row per segment
        (one row, possibly null, without ``by``).

    Raises
    ------
    OptionError, SchemaError, DataError
        As for :func:`survival`; an option given with a survival curve.

    Examples
    --------
    >>> import polars as pl
    >>> durations = pl.DataFrame({"duration": [1, 2, 2, 3], "event": [1, 1, 0, 1]})
    >>> median_lifetime(durations)["median"].item()
    2.0
    """
    engine = check_engine(engine)
    if _is_curve(data):
        assert isinstance(data, pl.DataFrame | pl.LazyFrame)
        given = {
            "window": (window, None),
            "as_of": (as_of, None),
            "unit": (unit, "day"),
            "tz": (tz, "UTC"),
            "ci": (ci, "log-log"),
        }
        for name, (value, default) in given.items():
            if value != default:
                raise OptionError(
                    f"{name} cannot be applied to a survival curve, which is already computed",
                    option=name,
                    value=value,
                )
        segments = tuple(c for c in data.collect_schema().names() if c not in SURVIVAL_COLUMNS)
        if by is not None and set(_by_columns(by)) != set(segments):
            raise OptionError(
                f"by must name the curve's segment columns {list(segments)}, got {by!r}", option="by", value=by
            )
        return _result(_median(data.lazy(), segments), isinstance(data, pl.DataFrame), engine)
    kind = _check_ci(ci)
    life = _lifetimes(
        data, metric="median_lifetime", window=window, as_of=as_of, by=by, unit=unit, tz=tz, engine=engine
    )
    return _result(_median(_kaplan_meier(life, kind), life.by), life.eager, life.engine)


# --- log-rank test ------------------------------------------------------------------------


def _logrank_sums(life: _Lifetimes, group: str) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Per (segment, group): observed and expected events; per (segment, group, group): the covariance."""
    by = list(life.by)
    keys = [*by, group]
    event = pl.col(_EVENT)
    counts = life.frame.group_by(*keys, _DURATION).agg(
        event.sum().cast(pl.Int64).alias("_d"), pl.len().cast(pl.Int64).alias("_n")
    )
    times = counts.group_by(*by, _DURATION).agg(pl.col("_d").sum().alias("_d_all"))
    groups = counts.select(*keys).unique()
    grid = times.join(groups, on=by, how="inner", nulls_equal=True) if by else times.join(groups, how="cross")
    at_risk = pl.col("_n").cum_sum(reverse=True).over(keys, order_by=_DURATION)
    grid = (
        grid.join(counts, on=[*keys, _DURATION], how="left", nulls_equal=True)
        .with_columns(pl.col("_d").fill_null(0), pl.col("_n").fill_null(0))
        .with_columns(at_risk.alias("_at_risk"))
        .filter(pl.col("_d_all") > 0)
        .with_columns(pl.col("_at_risk").sum().over([*by, _DURATION]).alias("_at_risk_all"))
    )
    n_all = pl.col("_at_risk_all").cast(pl.Float64)
    d_all = pl.col("_d_all").cast(pl.Float64)
    grid = grid.with_columns(
        (pl.col("_at_risk").cast(pl.Float64) / n_all).alias("_share"),
        # hypergeometric variance factor d (n - d) / (n - 1); 0 when n = 1 (then d = n)
        pl.when(n_all > 1).then(d_all * (n_all - d_all) / (n_all - 1)).otherwise(0.0).alias("_w"),
    )
    # Float sums run in time order (one row per time in each group): the same floats whatever the plan.
    observed = grid.group_by(*keys).agg(
        pl.col("_d").sum().alias("observed"),
        (pl.col("_share") * d_all).sort_by(_DURATION).cum_sum().last().alias("expected"),
    )
    other = grid.select(*by, _DURATION, pl.col(group).alias("_other"), pl.col("_share").alias("_share_other"))
    same = pl.col(group).eq_missing(pl.col("_other")).cast(pl.Float64)
    covariance = (
        grid.join(other, on=[*by, _DURATION], how="inner", nulls_equal=True)
        .group_by(*keys, "_other")
        .agg(
            (pl.col("_w") * pl.col("_share") * (same - pl.col("_share_other")))
            .sort_by(_DURATION)
            .cum_sum()
            .last()
            .alias("_v")
        )
    )
    return observed, covariance


def _chi_square(observed: pl.DataFrame, covariance: pl.DataFrame, group: str) -> tuple[float | None, int, float | None]:
    """U' V^+ U with U = O - E and df = rank V (k - 1 for k groups ever at risk at an event time)."""
    labels = observed.sort(group, nulls_last=True)[group].to_list()
    if not labels:
        return None, 0, None
    index = {label: i for i, label in enumerate(labels)}
    # Imported here: numpy and scipy are heavy imports that only the log-rank test needs.
    import numpy as np
    from scipy import stats

    u = np.zeros(len(labels))
    for label, o, e in observed.select(group, "observed", "expected").iter_rows():
        u[index[label]] = o - e
    v = np.zeros((len(labels), len(labels)))
    for a, b, value in covariance.select(group, "_other", "_v").iter_rows():
        v[index[a], index[b]] = value
    solution, _, rank, _ = np.linalg.lstsq(v, u, rcond=None)
    if rank == 0:
        return None, 0, None
    statistic = max(float(u @ solution), 0.0)
    return statistic, int(rank), float(stats.chi2.sf(statistic, rank))


@overload
def logrank(
    data: pl.LazyFrame,
    *,
    group: str,
    window: dt.timedelta | float | None = ...,
    unit: Unit = ...,
    **options: Unpack[ObservationOptions],
) -> pl.LazyFrame: ...
@overload
def logrank(
    data: pl.DataFrame | Dataset,
    *,
    group: str,
    window: dt.timedelta | float | None = ...,
    unit: Unit = ...,
    **options: Unpack[ObservationOptions],
) -> pl.DataFrame: ...
def logrank(
    data: Data,
    *,
    group: str | None = None,
    by: By = None,
    as_of: AsOf = None,
    tz: str = "UTC",
    engine: Engine = "auto",
    window: dt.timedelta | float | None = None,
    unit: Unit = "day",
) -> pl.DataFrame | pl.LazyFrame:
    """Log-rank test that the survival curves of two or more groups are equal.

    At each distinct event time ``t`` (pooled over the groups), with ``n_jt``
    at risk and ``d_jt`` events in group ``j``, ``n_t`` and ``d_t`` in all and
    ``p_jt = n_jt / n_t``::

        O_j  = sum_t d_jt,   E_j = sum_t p_jt d_t
        V_jl = sum_t d_t (n_t - d_t) / (n_t - 1) * p_jt (delta_jl - p_lt)
        statistic = U' V^- U  with U = O - E,   df = rank V  (= k - 1 for k groups)
        p_value = P(chi-square(df) > statistic)

    the Mantel–Haenszel log-rank test of R's ``survdiff`` (rho = 0) and
    lifelines' ``multivariate_logrank_test``.  ``V^-`` is a generalised inverse:
    a group never at risk at an event time drops out of the degrees of
    freedom.  Lifetimes are those of :func:`survival`; the default ``as_of`` is
    the last timestamp of each ``by`` segment, shared by its groups.

    The sums are computed lazily; the small k x k system and the chi-square
    tail (``scipy.stats.chi2.sf``) are then evaluated on the collected sums.  A
    LazyFrame input gives a LazyFrame that does all of it when collected
    (``pl.defer``): nothing is read before.

    Parameters
    ----------
    data
        As for :func:`survival` (subscriptions, orders with ``window``, a
        Dataset or a durations frame); not a survival curve, which lacks the
        per-group risk sets.
    group
        The column whose values are the groups compared (a null value is a
        group of its own); required (its absence is an ``OptionError``).
    by
        Segment column(s): one test per segment.
    as_of, tz, engine, window, unit
        As for :func:`survival` (defaults ``as_of=None``, ``tz="UTC"``,
        ``engine="auto"``, ``window=None``, ``unit="day"``; ``unit`` does not
        change the test).

    Returns
    -------
    polars.DataFrame or polars.LazyFrame
        Same kind as the input: the ``by`` columns, ``statistic`` (Float64),
        ``degrees_of_freedom`` (Int64) and ``p_value`` (Float64); one row per
        segment (one row without ``by``).  With fewer than two groups at risk
        at an event time (or no events) ``statistic`` and ``p_value`` are null
        and ``degrees_of_freedom`` is 0.

    Raises
    ------
    OptionError, SchemaError, DataError
        As for :func:`survival`; ``group`` also named in ``by``.

    Examples
    --------
    >>> import polars as pl
    >>> durations = pl.DataFrame({"duration": [1, 2, 3, 4], "event": [1, 1, 1, 1], "plan": ["a", "a", "b", "b"]})
    >>> logrank(durations, group="plan")["degrees_of_freedom"].item()
    1
    """
    if not isinstance(group, str):
        raise OptionError(
            "logrank needs group=, the name of the column holding the groups compared", option="group", value=group
        )
    if group in _by_columns(by):
        raise OptionError(f"group {group!r} is also a by column", option="group", value=group)
    life = _lifetimes(
        data, metric="logrank", window=window, as_of=as_of, by=by, unit=unit, tz=tz, engine=engine, extra=(group,)
    )
    observed, covariance = _logrank_sums(life, group)
    by_cols = list(life.by)
    frame_schema = life.frame.collect_schema()
    out_schema = pl.Schema(
        {
            **{c: frame_schema[c] for c in by_cols},
            "statistic": pl.Float64(),
            "degrees_of_freedom": pl.Int64(),
            "p_value": pl.Float64(),
        }
    )

    def run() -> pl.DataFrame:
        """The sums collected, then one small k x k system per segment."""
        rows: list[dict[str, object]] = []
        if not by_cols:
            observed_df, covariance_df = pl.collect_all([observed, covariance], engine=life.engine)
            statistic, df, p_value = _chi_square(observed_df, covariance_df, group)
            rows.append({"statistic": statistic, "degrees_of_freedom": df, "p_value": p_value})
            return pl.DataFrame(rows, schema=out_schema)
        # every segment with data gets a row, even one without events
        segments_lazy = life.frame.select(by_cols).unique()
        observed_df, covariance_df, segments = pl.collect_all([observed, covariance, segments_lazy], engine=life.engine)
        observed_parts = observed_df.partition_by(by_cols, as_dict=True)
        covariance_parts = covariance_df.partition_by(by_cols, as_dict=True)
        for key in segments.sort(by_cols).iter_rows():
            statistic, df, p_value = _chi_square(
                observed_parts.get(key, observed_df.clear()), covariance_parts.get(key, covariance_df.clear()), group
            )
            rows.append(
                {
                    **dict(zip(by_cols, key, strict=True)),
                    "statistic": statistic,
                    "degrees_of_freedom": df,
                    "p_value": p_value,
                }
            )
        return pl.DataFrame(rows, schema=out_schema)

    # Lazy input stays lazy: the sums are collected when the result is.
    return run() if life.eager else pl.defer(run, schema=out_schema)
