"""Compare a rate between groups (``compare``): Wilson intervals, differences, two-proportion z-tests.

Definition, with its formulas: ``docs/metrics/compare.md``.
"""

from __future__ import annotations

from typing import Final, overload

import polars as pl

from retainlib.errors import DataError, OptionError, Problem, SchemaError
from retainlib.metrics._common import By, Engine, _by_columns, check_engine
from retainlib.metrics.nps import z_value

__all__ = ["SEGMENTS", "SHAPES", "compare"]

#: The (successes, trials) pairs recognised without ``successes=``/``trials=``, and whose output has them.
SHAPES: Final[tuple[tuple[str, str, str], ...]] = (
    ("retained", "start", "retention_rate"),
    ("repeat_customers", "customers", "repeat_purchase_rate"),
    ("returning_customers", "customers", "returning_customer_rate"),
    ("retained", "customers", "support_retention"),
)
#: The default ``by`` columns (one comparison per value), those present, when ``by`` is not given.
SEGMENTS: Final[tuple[str, ...]] = ("period", "cohort", "period_number", "breakdown")
#: ``by`` columns that are time: the default reference group stays the same across them.
TIME: Final[frozenset[str]] = frozenset({"period", "cohort", "period_number"})
#: Metric columns of retainlib results: never taken as the group column by default.
METRIC_COLUMNS: Final[frozenset[str]] = frozenset(
    {
        "is_complete", "start", "new", "retained", "reactivated", "churned", "end", "retention_rate",
        "churn_rate", "crr", "customers", "repeat_customers", "repeat_purchase_rate", "returning_customers",
        "returning_customer_rate", "cohort_size", "active", "retention", "revenue", "revenue_retention",
        "cumulative_revenue_per_customer", "responses", "promoters", "passives", "detractors", "nps",
        "ci_lower", "ci_upper", "successes", "trials", "rate", "difference", "p_value",
    }
)  # fmt: skip
_TABLE = "compare"  # the "table" named in errors about the input frame


def _missing(column: str, columns: list[str], why: str) -> SchemaError:
    return SchemaError(
        f"{why}: no column {column!r}; columns: {', '.join(columns)}",
        table=_TABLE,
        column=column,
        expected="present",
        actual=None,
    )


def _counts(schema: pl.Schema, successes: str | None, trials: str | None) -> tuple[str, str]:
    names = schema.names()
    for option, value in (("successes", successes), ("trials", trials)):
        if value is not None and not isinstance(value, str):
            raise OptionError(f"{option} is a column name, got {type(value).__name__}", option=option, value=value)
    if (successes is None) != (trials is None):
        raise OptionError(
            "give both successes= and trials=, or neither (to recognise the result's shape)",
            option="successes" if successes is None else "trials",
            value=successes or trials,
        )
    if successes is not None and trials is not None:
        pair = (successes, trials)
        for c in pair:
            if c not in names:
                raise _missing(c, names, "successes/trials")
        if successes == trials:
            raise OptionError("successes and trials are two different columns", option="trials", value=trials)
    else:
        found = [(s, t) for s, t, _ in SHAPES if s in names and t in names]
        if not found:
            shapes = "; ".join(f"{s}/{t} ({m})" for s, t, m in SHAPES)
            raise SchemaError(
                f"no successes/trials pair recognised (known: {shapes}); pass successes= and trials=. "
                f"Columns: {', '.join(names)}",
                table=_TABLE,
                column="*",
                expected="a rate result",
                actual=None,
            )
        if len(found) > 1:
            raise OptionError(
                f"several successes/trials pairs fit ({', '.join(f'{s}/{t}' for s, t in found)}); "
                "pass successes= and trials=",
                option="successes",
                value=None,
            )
        pair = found[0]
    for c in pair:
        if not schema[c].is_integer():
            raise SchemaError(
                f"counts must be integers, not {schema[c]}",
                table=_TABLE,
                column=c,
                expected="integer counts",
                actual=str(schema[c]),
            )
    return pair


def _group(schema: pl.Schema, group: str | None, by: list[str], counts: tuple[str, str]) -> str:
    names = schema.names()
    if group is not None:
        if not isinstance(group, str):
            raise OptionError("group is one column name", option="group", value=group)
        if group not in names:
            raise _missing(group, names, "group")
        if group in by or group in counts:
            raise OptionError(f"group {group!r} is also a by or count column", option="group", value=group)
        return group
    candidates = [
        c
        for c in names
        if c not in by
        and c not in counts
        and c not in METRIC_COLUMNS
        and not (schema[c].is_float() or isinstance(schema[c], pl.Decimal))
    ]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise OptionError(f"no group column found among {', '.join(names)}; pass group=", option="group", value=None)
    raise OptionError(
        f"the group column is ambiguous: {', '.join(candidates)}; pass group= (and by= for the segment "
        "columns, each segment compared separately)",
        option="group",
        value=None,
    )


def _reference(schema: pl.Schema, group: str, reference: object, by: list[str]) -> pl.Expr:
    """The reference group value, broadcast over the pooled frame.

    Default: per combination of the non-time ``by`` columns (e.g. support_retention's ``breakdown``;
    the whole frame when there are none), the first non-null group value in sort order among the groups
    with at least one trial, so that the baseline is the same in every period.
    """
    if reference is None:
        first = pl.col(group).filter(pl.col("trials") > 0).drop_nulls().sort().first()
        fixed = [c for c in by if c not in TIME]
        return first.over(fixed) if fixed else first
    dtype = schema[group]
    try:
        value = pl.Series(group, [reference]).cast(dtype, strict=True)
    except (pl.exceptions.PolarsError, TypeError, ValueError, OverflowError):
        raise OptionError(
            f"reference {reference!r} is not a value of group column {group!r} ({dtype})",
            option="reference",
            value=reference,
        ) from None
    if value.null_count():
        raise OptionError(
            f"reference {reference!r} is not a value of group column {group!r} ({dtype})",
            option="reference",
            value=reference,
        )
    return pl.lit(value).first()


def _check_rows(frame: pl.DataFrame, keys: list[str], s: str, n: str) -> None:
    """Eager input: every row's counts must be present, non-negative, and successes <= trials."""
    rows = frame.with_row_index("row", offset=1).select("row", *keys, s, n)
    rules = [
        (s, "missing value", pl.col(s).is_null()),
        (n, "missing value", pl.col(n).is_null()),
        (s, "negative count", pl.col(s) < 0),
        (n, "negative count", pl.col(n) < 0),
        (s, f"{s} greater than {n}", pl.col(s) > pl.col(n)),
    ]
    problems = []
    for column, reason, bad in rules:
        found = rows.filter(bad)
        if found.height:
            problems.append(Problem(table=_TABLE, column=column, reason=reason, count=found.height, rows=found))
    if problems:
        raise DataError(problems)


def _ndtr(x: pl.Expr) -> pl.Expr:
    """The standard normal CDF, elementwise: ``scipy.special.ndtr`` (double precision, tails included)."""

    def cdf(values: pl.Series) -> pl.Series:
        from scipy import special  # imported when a comparison runs, not with retainlib

        return pl.Series(values.name, special.ndtr(values.cast(pl.Float64).to_numpy()), dtype=pl.Float64)

    return x.map_batches(cdf, return_dtype=pl.Float64, is_elementwise=True).fill_nan(None)


def _wilson(z: float) -> tuple[pl.Expr, pl.Expr]:
    """Wilson score interval from integer counts: (2s + z^2 -/+ z sqrt(z^2 + 4 s (n - s) / n)) / (2 (n + z^2))."""
    s = pl.col("successes").cast(pl.Float64)
    n = pl.col("trials").cast(pl.Float64)
    z2 = z * z
    half = z * (z2 + 4.0 * s * (n - s) / n).sqrt()
    ok = pl.col("trials") > 0
    lower = pl.when(ok).then(((2.0 * s + z2 - half) / (2.0 * (n + z2))).clip(0.0, 1.0))
    upper = pl.when(ok).then(((2.0 * s + z2 + half) / (2.0 * (n + z2))).clip(0.0, 1.0))
    return lower, upper


def _z_test() -> pl.Expr:
    """Two-sided p-value of the pooled two-proportion z-test against the reference group.

    With s, n the group's counts, r, m the reference's, S = s + r, N = n + m:
    z = (s/n - r/m) / sqrt(S/N (1 - S/N) (1/n + 1/m)) = (s m - r n) sqrt(N) / sqrt(n m S (N - S)),
    p = 2 Phi(-|z|).  Null for the reference row and when n, m or S (N - S) is 0.
    """
    s, n = pl.col("successes").cast(pl.Float64), pl.col("trials").cast(pl.Float64)
    r, m = pl.col("_ref_s").cast(pl.Float64), pl.col("_ref_n").cast(pl.Float64)
    big_s, big_n = s + r, n + m
    spread = big_s * (big_n - big_s)
    z = (s * m - r * n) * big_n.sqrt() / (n * m * spread).sqrt()
    defined = ~pl.col("_is_ref") & (n > 0) & (m > 0) & (spread > 0)
    return pl.when(defined).then(2.0 * _ndtr(-z.abs()))


@overload
def compare(
    result: pl.LazyFrame,
    *,
    group: str | None = ...,
    successes: str | None = ...,
    trials: str | None = ...,
    reference: object = ...,
    level: float = ...,
    by: By = ...,
    engine: Engine = ...,
) -> pl.LazyFrame: ...
@overload
def compare(
    result: pl.DataFrame,
    *,
    group: str | None = ...,
    successes: str | None = ...,
    trials: str | None = ...,
    reference: object = ...,
    level: float = ...,
    by: By = ...,
    engine: Engine = ...,
) -> pl.DataFrame: ...
def compare(
    result: pl.DataFrame | pl.LazyFrame,
    *,
    group: str | None = None,
    successes: str | None = None,
    trials: str | None = None,
    reference: object = None,
    level: float = 0.95,
    by: By = None,
    engine: Engine = "auto",
) -> pl.DataFrame | pl.LazyFrame:
    """Compare a rate between groups: each rate with a Wilson interval, its difference and a z-test p-value.

    Takes a per-group result holding a count of successes and of trials per
    row: ``retention_rate(..., by=...)`` (retained / start),
    ``repeat_purchase_rate(..., by=...)`` (repeat_customers / customers),
    ``returning_customer_rate`` (returning_customers / customers) and
    ``support_retention`` (retained / customers) are recognised; any other
    frame works with ``successes=`` and ``trials=``.  For each group with
    ``s`` successes out of ``n`` trials, and the reference group's ``r`` out
    of ``m``::

        rate        = s / n
        ci          = (2s + z^2 -/+ z sqrt(z^2 + 4 s (n - s) / n)) / (2 (n + z^2))    (Wilson score)
        difference  = s / n - r / m
        z           = (s/n - r/m) / sqrt(p (1 - p) (1/n + 1/m)),   p = (s + r) / (n + m)  (pooled)
        p_value     = 2 * Phi(-|z|)                                 (two-sided)

    with ``z = Phi^-1(1 - (1 - level) / 2)`` for the interval (1.96 at 95%).
    The p-value is the same as R's ``prop.test(correct = FALSE)`` (a chi-square
    test without continuity correction).  Rates keep the time unit of the
    input (a monthly retention rate stays monthly).

    ``by`` means what it means on every kernel: segment columns, the
    comparison being made separately in each segment (each period, say);
    ``group`` is the column whose values are compared.  Rows sharing the
    ``by`` values and the group are pooled first (successes and trials
    summed), so a result by several segments can be compared on one of them;
    without ``by`` columns the whole frame is one comparison (e.g. a rate over several periods becomes the pooled rate).

    Parameters
    ----------
    result
        A DataFrame or LazyFrame with one row per group (and period, cohort...).
    group
        The column whose values are compared.  Default: the one column that is
        not a ``by`` column, a count or a known metric column, and not a
        float; an error if there are none or several.
    successes, trials
        Integer count columns (both or neither; default: recognised from the shape).
    reference
        The group value every other group is compared with.  Default: the
        first non-null group value in sort order among the groups with at
        least one trial, over all periods (the same baseline in every
        period), chosen separately for each value of the non-time ``by``
        columns (``breakdown``).  A stratum where the reference has no
        trials has null differences and p-values.
    by
        Segment column(s): one comparison per segment.  Default (``None``):
        those of ``period``, ``cohort``, ``period_number`` and ``breakdown``
        present; ``by=()`` pools every row of a group into one comparison.
    engine
        The polars engine of the collect of an eager result: ``"auto"``
        (default), ``"streaming"`` or ``"in-memory"``.  A LazyFrame is
        returned lazy: pass the engine to your own ``collect``.
    level
        Confidence level of the Wilson interval, strictly between 0 and 1.

    Returns
    -------
    DataFrame or LazyFrame (the kind given)
        ``by`` columns, the group column (its own name), successes,
        trials (Int64), rate, ci_lower, ci_upper, difference, p_value
        (Float64).  ``difference`` is 0 and ``p_value`` null on the reference
        row.  A group with 0 trials has null rate and interval, and null
        difference and p-value.  Sorted by ``by`` then group (nulls last).

    Raises
    ------
    DataError
        Eager input with a missing, negative or inconsistent count (successes
        greater than trials), listing the rows.  A LazyFrame is not scanned:
        such a group has every computed column null.
    OptionError, SchemaError
        A missing or ambiguous column, non-integer counts, a reference that
        is not a value of the group column (or, for eager input, not present).

    Notes
    -----
    The normal CDF is ``scipy.special.ndtr`` applied with
    ``pl.Expr.map_batches`` (elementwise, on the small per-group frame; polars
    has no ``erf``), so p-values are exact to double precision, far tails
    included.

    Examples
    --------
    >>> import polars as pl
    >>> from retainlib.metrics.compare import compare
    >>> rates = pl.DataFrame({"channel": ["ads", "email"], "start": [200, 100], "retained": [80, 60]})
    >>> out = compare(rates).select("channel", "rate", "ci_lower", "difference", "p_value")
    >>> out.with_columns(pl.col(pl.Float64).round(4)).rows()
    [('ads', 0.4, 0.3346, 0.0, None), ('email', 0.6, 0.502, 0.2, 0.0011)]
    """
    z = z_value(level)
    engine = check_engine(engine)
    if not isinstance(result, pl.DataFrame | pl.LazyFrame):
        raise OptionError(
            f"compare takes a polars DataFrame or LazyFrame, got {type(result).__name__}",
            option="result",
            value=type(result).__name__,
        )
    lazy = result.lazy()
    schema = lazy.collect_schema()
    names = schema.names()
    s_col, n_col = _counts(schema, successes, trials)
    by_cols = [c for c in SEGMENTS if c in names] if by is None else list(_by_columns(by))
    for c in by_cols:
        if c not in names:
            raise _missing(c, names, "by")
        if c in (s_col, n_col):
            raise OptionError(f"{c!r} is a count column, not a by column", option="by", value=by)
    group_col = _group(schema, group, by_cols, (s_col, n_col))
    ref = _reference(schema, group_col, reference, by_cols)
    keys = [*by_cols, group_col]
    if isinstance(result, pl.DataFrame):
        _check_rows(result, keys, s_col, n_col)
        if reference is not None and not result.select((pl.col(group_col) == ref).any()).item():
            raise OptionError(
                f"reference {reference!r} is not a value of column {group_col!r}", option="reference", value=reference
            )
    s, n = pl.col(s_col).cast(pl.Int64), pl.col(n_col).cast(pl.Int64)
    bad_row = s.is_null() | n.is_null() | (s < 0) | (n < 0) | (s > n)
    pooled = lazy.group_by(keys).agg(s.sum().alias("successes"), n.sum().alias("trials"), bad_row.any().alias("_bad"))
    # A group with a bad row (only possible for lazy input) has null counts, so every computed column is null.
    pooled = pooled.with_columns(
        pl.when(~pl.col("_bad")).then(pl.col(c)).alias(c) for c in ("successes", "trials")
    ).with_columns((pl.col(group_col) == ref).fill_null(False).alias("_is_ref"))

    def in_stratum(e: pl.Expr) -> pl.Expr:
        return e.over(by_cols) if by_cols else e

    lower, upper = _wilson(z)
    rate = pl.when(pl.col("trials") > 0).then(pl.col("successes").cast(pl.Float64) / pl.col("trials"))
    out = (
        pooled.with_columns(
            in_stratum(pl.col("successes").filter("_is_ref").first()).alias("_ref_s"),
            in_stratum(pl.col("trials").filter("_is_ref").first()).alias("_ref_n"),
            rate.alias("rate"),
        )
        .with_columns(
            pl.when(pl.col("_ref_n") > 0).then(pl.col("_ref_s").cast(pl.Float64) / pl.col("_ref_n")).alias("_ref_rate")
        )
        .select(
            *keys,
            "successes",
            "trials",
            "rate",
            lower.alias("ci_lower"),
            upper.alias("ci_upper"),
            (pl.col("rate") - pl.col("_ref_rate")).alias("difference"),
            _z_test().alias("p_value"),
        )
        .sort(keys, nulls_last=True)
    )
    return out.collect(engine=engine) if isinstance(result, pl.DataFrame) else out
