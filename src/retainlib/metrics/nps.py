"""Net Promoter Score (``nps``) per period and segment, with its Wald interval.

Definition, with its formula: ``docs/metrics/nps.md``.
"""

from __future__ import annotations

from typing import Unpack, overload

import polars as pl

from retainlib import _conform
from retainlib._dataset import Dataset
from retainlib.calendar import PeriodName, WeekStart
from retainlib.errors import OptionError
from retainlib.metrics._common import PERIOD_INDEX, By, Data, Engine, finish, guard_window, is_complete, prepare
from retainlib.metrics._options import AsOf, ObservationOptions
from retainlib.tables import RESPONSES, TIMESTAMP

__all__ = ["nps", "z_value"]

#: Promoters answer 9 or 10, detractors 0 to 6 (passives 7 or 8).
PROMOTER_MIN = 9
DETRACTOR_MAX = 6


def z_value(level: object) -> float:
    """The two-sided normal quantile for a confidence ``level`` (0.95 gives 1.959963984540054).

    Raises :class:`~retainlib.errors.OptionError` unless ``0 < level < 1``.
    """
    if isinstance(level, bool) or not isinstance(level, int | float) or not 0 < level < 1:
        raise OptionError(
            f"level is a confidence level strictly between 0 and 1, got {level!r}", option="level", value=level
        )
    from scipy import special  # imported when an interval is computed, not with retainlib

    return float(special.ndtri(1 - (1 - float(level)) / 2))


def _check_scores(data: pl.DataFrame) -> None:
    """Eager input is checked row by row: one DataError lists every bad score (and any other bad value)."""
    conformed = _conform.conform(data.lazy(), RESPONSES, trust_canonical=False, check_duplicates=False)
    _conform.raise_problems(conformed)


def _counts(frame: pl.LazyFrame, keys: list[str]) -> pl.LazyFrame:
    score = pl.col("score")
    aggs = [
        pl.len().cast(pl.UInt32).alias("responses"),
        (score >= PROMOTER_MIN).sum().cast(pl.UInt32).alias("promoters"),
        (score <= DETRACTOR_MAX).sum().cast(pl.UInt32).alias("detractors"),
    ]
    return frame.group_by(*keys).agg(aggs) if keys else frame.select(aggs)


def _scores(z: float, clip: bool) -> list[pl.Expr]:
    """The output columns from the counts: ratios last, the variance numerator exact in integers."""
    n = pl.col("responses").cast(pl.Int64)
    pro = pl.col("promoters").cast(pl.Int64)
    det = pl.col("detractors").cast(pl.Int64)
    # n^2 * var = n * (P + D) - (P - D)^2 >= 0, exact in integers (no negative rounding under the root).
    n2_var = n * (pro + det) - (pro - det) ** 2
    nf = n.cast(pl.Float64)
    score = pl.when(n > 0).then(100.0 * (pro - det).cast(pl.Float64) / nf)
    se = pl.when(n > 0).then(100.0 * n2_var.cast(pl.Float64).sqrt() / (nf * nf.sqrt()))
    lower, upper = score - z * se, score + z * se
    if clip:
        lower, upper = lower.clip(-100.0, 100.0), upper.clip(-100.0, 100.0)
    return [
        pl.col("responses"),
        pl.col("promoters"),
        (n - pro - det).cast(pl.UInt32).alias("passives"),
        pl.col("detractors"),
        score.alias("nps"),
        lower.alias("ci_lower"),
        upper.alias("ci_upper"),
    ]


@overload
def nps(
    responses: pl.LazyFrame,
    *,
    period: PeriodName | None = ...,
    week_start: WeekStart = ...,
    level: float = ...,
    clip: bool = ...,
    **options: Unpack[ObservationOptions],
) -> pl.LazyFrame: ...
@overload
def nps(
    responses: pl.DataFrame | Dataset,
    *,
    period: PeriodName | None = ...,
    week_start: WeekStart = ...,
    level: float = ...,
    clip: bool = ...,
    **options: Unpack[ObservationOptions],
) -> pl.DataFrame: ...
def nps(
    responses: Data,
    *,
    period: PeriodName | None = "month",
    by: By = None,
    as_of: AsOf = None,
    tz: str = "UTC",
    week_start: WeekStart = 0,
    engine: Engine = "auto",
    level: float = 0.95,
    clip: bool = False,
) -> pl.DataFrame | pl.LazyFrame:
    """Net Promoter Score per period (and segment), with a normal-approximation (Wald) interval.

    For the responses of a period (score 0..10 to "how likely are you to
    recommend us?"), with ``n`` responses, ``P`` promoters (score >= 9) and
    ``D`` detractors (score <= 6), ``pp = P / n`` and ``pd = D / n``::

        nps      = 100 * (P - D) / n                           (-100 .. 100)
        se       = 100 * sqrt((pp + pd - (pp - pd)^2) / n)
        ci       = nps -/+ z * se,   z = Phi^-1(1 - (1 - level) / 2)   (1.96 for 0.95)

    the definition and variance of Reichheld (2003) and of the R package NPS
    (``nps``, ``nps.var``, ``nps.se``, ``nps.test``).  The score is a level,
    not a rate: it has no time unit; ``period`` only says which responses are
    pooled.

    The window runs, per segment, from the first period with a response to
    the period holding the last response (or ``as_of``); periods in between
    without responses appear with ``responses = 0`` and null ``nps`` and
    interval.  A period ending after the end of observation has
    ``is_complete = false``.

    Parameters
    ----------
    responses
        Canonical responses (DataFrame or LazyFrame) or a Dataset with responses.
    period
        ``"day"``, ``"week"``, ``"month"`` (default), ``"quarter"``, ``"year"``,
        or ``None`` for the whole window in one row per segment (no ``period``
        and ``is_complete`` columns).
    by
        Segment column(s), from the responses or the Dataset's customers
        (default ``None``: no segments).
    as_of
        End of observation (aware datetime, or a date meaning through its
        end); default the last response.  Later responses are ignored.
    tz, week_start
        Reporting time zone (default ``"UTC"``) and first day of the week
        (default 0, Monday).
    engine
        The polars engine of the collect of an eager result: ``"auto"``
        (default), ``"streaming"`` or ``"in-memory"``.  Lazy input returns a
        LazyFrame: pass the engine to your own ``collect``.
    level
        Confidence level of the interval, strictly between 0 and 1 (default 0.95).
    clip
        Clip the interval to [-100, 100].  Off by default: the interval is the
        Wald interval of the definition (as in the R package NPS), which can
        reach past +-100 for small ``n``.

    Returns
    -------
    DataFrame or LazyFrame (the kind given; a Dataset gives a DataFrame)
        ``by`` columns, period (pl.Date, first day), is_complete, responses,
        promoters, passives, detractors (UInt32), nps, ci_lower, ci_upper
        (Float64, points on the -100..100 scale).  Sorted by ``by`` then period.

    Raises
    ------
    DataError
        A score that is not an integer 0..10 (or a missing one), listing the
        rows: at the call for a DataFrame, at ``collect`` for a LazyFrame.
    OptionError, SchemaError
        Bad options, or a frame that is not a responses table.

    Examples
    --------
    >>> import datetime as dt, polars as pl
    >>> from retainlib.metrics.nps import nps
    >>> responses = pl.DataFrame({
    ...     "response_id": ["1", "2", "3", "4"], "customer_id": ["a", "b", "c", "d"],
    ...     "responded_at": [dt.datetime(2024, 3, d, tzinfo=dt.UTC) for d in (1, 2, 3, 4)],
    ...     "score": [10, 9, 7, 3]})
    >>> nps(responses).select("responses", "promoters", "detractors", "nps").row(0)
    (4, 2, 1, 25.0)
    """
    z = z_value(level)
    if not isinstance(clip, bool):
        raise OptionError("clip is True or False", option="clip", value=clip)
    p = prepare(
        responses,
        metric="nps",
        tables=("responses",),
        by=by,
        period="month" if period is None else period,
        tz=tz,
        week_start=week_start,
        as_of=as_of,
        engine=engine,
    )
    if isinstance(responses, pl.DataFrame):
        _check_scores(responses)
    # Bad scores raise inside the plan (prepare's checks); the filter only keeps the type checker's promise.
    frame = p.frame.filter(pl.col("score").is_between(0, 10))
    if p.as_of is not None:
        frame = frame.filter(pl.col("responded_at") < pl.lit(p.as_of, dtype=TIMESTAMP))
    keys = list(p.by)
    if period is None:
        totals = _counts(frame, keys)
        result = totals.sort(keys) if keys else totals.filter(pl.col("responses") > 0)
        return finish(result.select(*keys, *_scores(z, clip)), p)
    cal = p.calendar
    indexed = frame.with_columns(cal.timestamp_index("responded_at").alias(PERIOD_INDEX))
    counts = _counts(indexed, [*keys, PERIOD_INDEX])
    # Per segment: the first period with a response, and the end of observation with the period holding it:
    # as_of is an exclusive end (an as_of exactly on a boundary closes the period before), while the last
    # response, when there is no as_of, lies in its own period.
    if p.as_of is not None:
        end = pl.lit(p.as_of, dtype=TIMESTAMP)
        end_index = cal.timestamp_index(end - pl.duration(microseconds=1))
    else:
        end = pl.col("responded_at").max()
        end_index = pl.col(PERIOD_INDEX).max()
    bounds_aggs = [pl.col(PERIOD_INDEX).min().alias("_first"), end.alias("_end"), end_index.alias("_last")]
    bounds = indexed.group_by(*keys).agg(bounds_aggs) if keys else indexed.select(bounds_aggs)
    bounds = guard_window(p, bounds.with_columns(_last=pl.max_horizontal("_last", "_first")))
    last = pl.col("_last")
    grid = (
        bounds.filter(pl.col("_first").is_not_null())
        .with_columns(pl.int_ranges("_first", last + 1).alias(PERIOD_INDEX))
        .explode(PERIOD_INDEX)
    )
    result = (
        # nulls_equal: a null segment value is a segment like any other.
        grid.join(counts, on=[*keys, PERIOD_INDEX], how="left", nulls_equal=True)
        .with_columns(pl.col("responses", "promoters", "detractors").fill_null(0))
        .sort(*keys, PERIOD_INDEX)
        .select(
            *keys,
            cal.start(PERIOD_INDEX).alias("period"),
            is_complete(cal, pl.col(PERIOD_INDEX), pl.col("_end")).alias("is_complete"),
            *_scores(z, clip),
        )
    )
    return finish(result, p)
