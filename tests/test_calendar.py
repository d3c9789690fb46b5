"""The period calendar: vectorised :class:`Calendar` expressions against the scalar :class:`Period`.

Property tests draw a calendar (period, time zone, week start) and timestamps
from 1900 to 2100 -- uniformly, and close to local midnights of ordinary days
and of days with a clock change -- and hold the polars expressions to the
scalar rules element by element.  Hand-computed examples pin month ends, ISO
weeks, Sunday weeks and days made longer or shorter (or starting after
midnight) by daylight saving time.

One known disagreement is pinned by a strict ``xfail`` test at the end and
left out of the properties (see ``_instant_comparable``): polars' bundled
time-zone database has no DST transitions from 2100 on.  Days whose midnight
is skipped by a jump that is not a whole number of hours (Santiago 1916,
Kolkata 1906...) are checked by name below.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import zoneinfo
from collections.abc import Sequence
from typing import Any

import polars as pl
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from retainlib.calendar import HORIZON_YEARS, PERIODS, Calendar, Period, PeriodName, check_period, check_tz
from retainlib.errors import OptionError, RetainlibError

UTC = dt.UTC
HOUR = dt.timedelta(hours=1)
US = dt.timedelta(microseconds=1)
EPOCH = dt.date(1970, 1, 1)

ZONES = (
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "America/Santiago",  # DST jumps at midnight
    "America/Havana",  # DST jumps at midnight
)
#: Zones without DST in 2100, where polars and zoneinfo agree in 2100 too.
NO_DST_IN_2100 = frozenset({"UTC", "Asia/Kolkata"})
FIRST_DAY = dt.date(1900, 1, 1)
LAST_DAY = dt.date(2100, 12, 31)


# --- helpers ----------------------------------------------------------------------------


@functools.cache
def _zone(tz: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(tz)


def _midnight(day: dt.date, tz: str) -> dt.datetime:
    """Local midnight of ``day`` (fold=0: before the jump for a skipped one), in UTC."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=_zone(tz)).astimezone(UTC)


def _odd_skipped_midnight(day: dt.date, tz: str) -> bool:
    """Whether midnight of ``day`` is skipped by a jump that is not a whole number of hours."""
    local = dt.datetime.combine(day, dt.time(0), tzinfo=_zone(tz))
    before, after = local.utcoffset(), local.replace(fold=1).utcoffset()
    assert before is not None and after is not None
    gap = after - before  # > 0: midnight does not exist (PEP 495)
    return gap > dt.timedelta(0) and gap % HOUR != dt.timedelta(0)


def _instant_comparable(day: dt.date, tz: str) -> bool:
    """Whether ``Calendar.instant`` is expected to equal ``Period.start_instant`` for ``day``.

    Excluded: instants from 2100 in zones with DST, where polars has no DST rules
    (pinned by a strict xfail test below).
    """
    return not (day.year >= 2100 and tz not in NO_DST_IN_2100)


def _last_instant(tz: str) -> dt.datetime:
    """The last timestamp drawn in ``tz``: 2100 only where polars knows its offsets."""
    last = LAST_DAY if tz in NO_DST_IN_2100 else dt.date(2099, 12, 31)
    return dt.datetime.combine(last, dt.time(23, 59, 59, 999_999), tzinfo=UTC)


@functools.cache
def _clock_change_days(tz: str, year: int) -> tuple[dt.date, ...]:
    """Days of ``year`` whose local noon has another UTC offset than the previous day's."""
    zone = _zone(tz)
    out = []
    day = dt.date(year, 1, 1)
    prev = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(12), tzinfo=zone).utcoffset()
    while day.year == year:
        offset = dt.datetime.combine(day, dt.time(12), tzinfo=zone).utcoffset()
        if offset != prev:
            out.append(day)
        prev = offset
        day += dt.timedelta(days=1)
    return tuple(out)


def _frame(ts: Sequence[dt.datetime], **columns: Sequence[object]) -> pl.DataFrame:
    return pl.DataFrame({"t": ts, **columns}).with_columns(pl.col("t").cast(pl.Datetime("us", "UTC")))


def _dates(days: Sequence[dt.date]) -> pl.DataFrame:
    return pl.DataFrame({"d": days}, schema={"d": pl.Date})


# --- strategies -------------------------------------------------------------------------

periods = st.sampled_from(PERIODS)
zones = st.sampled_from(ZONES)
week_starts = st.integers(min_value=0, max_value=6)
calendars = st.builds(Calendar, period=periods, tz=zones, week_start=week_starts)
days = st.dates(min_value=FIRST_DAY, max_value=LAST_DAY)


@st.composite
def instants(draw: st.DrawFn, tz: str) -> dt.datetime:
    """A UTC timestamp from 1900 to 2100, often close to a local midnight or a clock change."""
    last = _last_instant(tz)
    how = draw(st.sampled_from(["uniform", "midnight", "clock change"]))
    if how == "uniform":
        return draw(
            st.datetimes(
                min_value=dt.datetime(1900, 1, 1),
                max_value=last.replace(tzinfo=None),
                timezones=st.just(UTC),
            )
        )
    if how == "midnight":
        day = draw(st.dates(min_value=dt.date(1900, 1, 2), max_value=last.date() - dt.timedelta(days=1)))
    else:
        changes = _clock_change_days(tz, draw(st.integers(min_value=1900, max_value=last.year)))
        if not changes:
            changes = (dt.date(last.year, 1, 1),)
        day = draw(st.sampled_from(changes))
        day += dt.timedelta(days=draw(st.integers(min_value=-1, max_value=1)))
    base = _midnight(max(min(day, last.date()), dt.date(1900, 1, 2)), tz)
    offset = draw(
        st.one_of(
            st.sampled_from([0, -1, 1]),
            st.integers(min_value=-6 * 3600, max_value=6 * 3600).map(lambda s: s * 1_000_000),
            st.integers(min_value=-6 * 3600 * 1_000_000, max_value=6 * 3600 * 1_000_000),
        )
    )
    return min(max(base + dt.timedelta(microseconds=offset), dt.datetime(1900, 1, 1, tzinfo=UTC)), last)


@st.composite
def calendar_and_instants(draw: st.DrawFn, size: int = 25) -> tuple[Calendar, list[dt.datetime], list[int]]:
    cal = draw(calendars)
    ts = draw(st.lists(instants(cal.tz), min_size=1, max_size=size))
    ks = draw(st.lists(st.integers(min_value=-1000, max_value=1000), min_size=len(ts), max_size=len(ts)))
    return cal, ts, ks


# --- vectorised == scalar ---------------------------------------------------------------


@given(calendar_and_instants())
def test_expressions_agree_with_period(case: tuple[Calendar, list[dt.datetime], list[int]]) -> None:
    cal, ts, ks = case
    out = _frame(ts, k=ks).select(
        day=cal.local_date("t"),
        floor=cal.floor("t"),
        index=cal.timestamp_index("t"),
        start=cal.start(cal.timestamp_index("t")),
        index_of_day=cal.index(cal.local_date("t")),
        floor_date=cal.floor_date(cal.local_date("t")),
        instant=cal.instant(cal.floor("t")),
        next_instant=cal.instant(cal.shift(cal.floor("t"), 1)),
        shifted=cal.shift(cal.floor("t"), pl.col("k")),
        shifted_from_day=cal.shift(cal.local_date("t"), pl.col("k")),
        between=cal.between(cal.floor("t"), cal.shift(cal.floor("t"), pl.col("k"))),
        between_days=cal.between(cal.local_date("t"), cal.shift(cal.local_date("t"), pl.col("k"))),
    )
    assert out.schema["floor"] == pl.Date
    assert out.schema["index"] == pl.Int64
    assert out.schema["instant"] == pl.Datetime("us", "UTC")
    for t, k, row in zip(ts, ks, out.iter_rows(named=True), strict=True):
        p = Period.containing(t, cal.period, tz=cal.tz, week_start=cal.week_start)
        assert cal.period_of(t) == p
        assert row["day"] == t.astimezone(_zone(cal.tz)).date()
        assert row["floor"] == p.start == row["start"] == row["floor_date"]
        assert row["index"] == p.index == row["index_of_day"]
        assert row["shifted"] == p.shift(k).start == row["shifted_from_day"]
        assert row["between"] == (p + k) - p == k == row["between_days"]
        if _instant_comparable(p.start, cal.tz):
            assert row["instant"] == p.start_instant
        if _instant_comparable(p.end, cal.tz):
            assert row["next_instant"] == p.end_instant


@given(cal=calendars, data=st.data())
def test_start_instants_of_period_starts_agree(cal: Calendar, data: st.DataObject) -> None:
    """``Calendar.start`` and ``Calendar.instant`` from indices, against ``Period`` built from the same index."""
    some_days = data.draw(st.lists(days, min_size=1, max_size=20))
    indices = [Period.containing(d, cal.period, tz=cal.tz, week_start=cal.week_start).index for d in some_days]
    out = pl.DataFrame({"i": indices}, schema={"i": pl.Int64}).select(
        start=cal.start("i"), instant=cal.instant(cal.start("i"))
    )
    for d, row in zip(some_days, out.iter_rows(named=True), strict=True):
        p = Period.containing(d, cal.period, tz=cal.tz, week_start=cal.week_start)
        assert row["start"] == p.start
        assert p.start <= d < p.end
        if _instant_comparable(p.start, cal.tz):
            assert row["instant"] == p.start_instant


# --- properties of the rules ------------------------------------------------------------


@given(calendar_and_instants(size=10))
def test_floor_is_idempotent_and_contains(case: tuple[Calendar, list[dt.datetime], list[int]]) -> None:
    cal, ts, _ = case
    out = _frame(ts).select(
        floor=cal.floor("t"),
        refloor=cal.floor(cal.instant(cal.floor("t"))),
        starts=cal.instant(cal.floor("t")),
        ends=cal.instant(cal.shift(cal.floor("t"), 1)),
    )
    for t, row in zip(ts, out.iter_rows(named=True), strict=True):
        p = Period.containing(t, cal.period, tz=cal.tz, week_start=cal.week_start)
        # the period's first instant lies in the period itself (idempotent flooring)
        assert Period.containing(p.start_instant, cal.period, tz=cal.tz, week_start=cal.week_start) == p
        assert row["refloor"] == row["floor"]
        # start_instant(floor(t)) <= t < start_instant(next(floor(t)))
        assert p.start_instant <= t < p.next().start_instant
        assert p.contains(t)
        assert not p.previous().contains(t)
        assert not p.next().contains(t)
        # the instant just before the period belongs to the previous one
        before = p.start_instant - US
        assert Period.containing(before, cal.period, tz=cal.tz, week_start=cal.week_start) == p.previous()
        if _instant_comparable(p.start, cal.tz) and _instant_comparable(p.end, cal.tz):
            assert row["starts"] <= t < row["ends"]


@given(cal=calendars, day=days, k=st.integers(min_value=-2000, max_value=2000), j=st.integers(-50, 50))
def test_period_arithmetic_inverts(cal: Calendar, day: dt.date, k: int, j: int) -> None:
    p = Period.containing(day, cal.period, tz=cal.tz, week_start=cal.week_start)
    try:
        p.shift(k).shift(j)
    except OptionError:  # outside years 1..9999: refused with a retainlib error, nothing to invert
        assume(False)
    assert p.shift(k).shift(-k) == p
    assert (p + k) - p == k
    assert p - (p + k) == -k
    assert (p + k) + j == p + (k + j)
    assert p.next().previous() == p == p.previous().next()
    assert p.end == p.next().start
    assert p.start < p.end
    assert (p < p + k) == (k > 0)
    assert (p <= p + k) == (k >= 0)
    assert p.start_instant < p.end_instant
    assert Period(kind=p.kind, start=p.start, tz=p.tz, week_start=p.week_start) == p
    out = _dates([day]).select(
        cal.between(cal.floor_date("d"), cal.shift(cal.floor_date("d"), k)).alias("n"),
        cal.shift(cal.shift("d", k), -k).alias("back"),
    )
    assert out.row(0) == (k, p.start)


@given(period=periods, week_start=week_starts, day=days)
def test_index_follows_the_documented_table(period: PeriodName, week_start: int, day: dt.date) -> None:
    p = Period.containing(day, period, week_start=week_start)
    if period == "day":
        assert (p.start, p.index) == (day, (day - EPOCH).days)
    elif period == "week":
        assert p.start.weekday() == week_start
        assert 0 <= (day - p.start).days < 7
        epoch_week = Period.containing(EPOCH, "week", week_start=week_start)
        assert p.index - epoch_week.index == (p.start - epoch_week.start).days // 7
        if week_start == 0:  # ISO weeks
            iso = day.isocalendar()
            assert p == Period.week(iso.year, iso.week)
    elif period == "month":
        assert (p.start, p.index) == (day.replace(day=1), day.year * 12 + day.month - 1)
    elif period == "quarter":
        assert p.start == dt.date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
        assert p.index == day.year * 4 + (day.month - 1) // 3
    else:
        assert (p.start, p.index) == (dt.date(day.year, 1, 1), day.year)


@given(tz=zones, day=st.dates(min_value=FIRST_DAY, max_value=dt.date(2099, 12, 30)))
def test_a_day_lasts_between_22_and_26_hours(tz: str, day: dt.date) -> None:
    p = Period.containing(day, "day", tz=tz)
    length = p.end_instant - p.start_instant
    assert 22 * HOUR <= length <= 26 * HOUR
    start_local = p.start_instant.astimezone(_zone(tz))
    assert start_local.date() == day
    assert start_local.time() < dt.time(3)
    if tz == "UTC":
        assert length == 24 * HOUR and start_local.time() == dt.time(0)


# --- hand-computed examples -------------------------------------------------------------


def _floor(cal: Calendar, *ts: dt.datetime) -> list[dt.date]:
    return _frame(ts).select(cal.floor("t")).to_series().to_list()


def _instants(cal: Calendar, *day: dt.date) -> list[dt.datetime]:
    return _dates(day).select(cal.instant("d")).to_series().to_list()


def test_docstring_example_month_in_paris() -> None:
    cal = Calendar(period="month", tz="Europe/Paris")
    assert _floor(cal, dt.datetime(2024, 3, 31, 23, 30, tzinfo=UTC)) == [dt.date(2024, 4, 1)]
    assert _floor(Calendar(period="month"), dt.datetime(2024, 3, 31, 23, 30, tzinfo=UTC)) == [dt.date(2024, 3, 1)]


def test_defaults() -> None:
    cal = Calendar()
    assert (cal.period, cal.tz, cal.week_start) == ("month", "UTC", 0)
    p = Period(kind="month", start=dt.date(2024, 3, 1))
    assert (p.tz, p.week_start) == ("UTC", 0)
    assert str(p) == "month 2024-03-01"
    assert str(Period.day(2024, 3, 31, tz="Europe/Paris")) == "day 2024-03-31 (Europe/Paris)"


def test_month_ends() -> None:
    jan31 = Period.containing(dt.date(2024, 1, 31), "month")
    assert jan31 == Period.month(2024, 1)
    assert jan31 + 1 == Period.month(2024, 2)
    assert (jan31 + 1).end == dt.date(2024, 3, 1)
    assert Period.month(2024, 12) + 1 == Period.month(2025, 1)
    assert Period.month(2024, 1).shift(-1) == Period.month(2023, 12)
    cal = Calendar(period="month")
    out = _dates([dt.date(2024, 1, 31), dt.date(2023, 12, 31), dt.date(2024, 3, 31)]).select(
        cal.shift("d", 1).alias("next"), cal.shift("d", -1).alias("prev")
    )
    assert out["next"].to_list() == [dt.date(2024, 2, 1), dt.date(2024, 1, 1), dt.date(2024, 4, 1)]
    assert out["prev"].to_list() == [dt.date(2023, 12, 1), dt.date(2023, 11, 1), dt.date(2024, 2, 1)]
    last_microsecond = dt.datetime(2024, 2, 29, 23, 59, 59, 999_999, tzinfo=UTC)
    assert _floor(cal, last_microsecond, last_microsecond + US) == [dt.date(2024, 2, 1), dt.date(2024, 3, 1)]


@pytest.mark.parametrize(
    ("year", "days_in_february"), [(2023, 28), (2024, 29), (2000, 29), (1900, 28), (2100, 28), (1904, 29)]
)
def test_leap_years(year: int, days_in_february: int) -> None:
    feb = Period.month(year, 2)
    assert (feb.end - feb.start).days == days_in_february
    assert (feb.end_instant - feb.start_instant) == days_in_february * 24 * HOUR
    year_period = Period.year(year)
    assert (year_period.end - year_period.start).days == 337 + days_in_february


def test_quarters_and_years() -> None:
    assert Period.containing(dt.date(2024, 5, 15), "quarter") == Period.quarter(2024, 2)
    assert Period.quarter(2024, 2).start == dt.date(2024, 4, 1)
    assert Period.quarter(2024, 4) + 1 == Period.quarter(2025, 1)
    assert Period.quarter(2025, 1) - Period.quarter(2023, 3) == 6
    assert Period.year(2099) + 1 == Period.year(2100)
    cal = Calendar(period="quarter", tz="America/New_York")
    # 2024-04-01 03:59 UTC is still March 31 in New York (EDT, UTC-4)
    got = _floor(cal, dt.datetime(2024, 4, 1, 3, 59, tzinfo=UTC), dt.datetime(2024, 4, 1, 4, 0, tzinfo=UTC))
    assert got == [dt.date(2024, 1, 1), dt.date(2024, 4, 1)]
    assert Period.quarter(2024, 2, tz="America/New_York").start_instant == dt.datetime(2024, 4, 1, 4, tzinfo=UTC)


def test_iso_weeks() -> None:
    w53 = Period.week(2020, 53)
    assert w53.start == dt.date(2020, 12, 28)  # a Monday
    assert w53.end == dt.date(2021, 1, 4) == Period.week(2021, 1).start
    assert w53 + 1 == Period.week(2021, 1)
    assert w53 - Period.week(2020, 1) == 52
    assert Period.containing(dt.date(2021, 1, 3), "week") == w53
    assert Period.containing(dt.date(2021, 1, 1), "week") == w53
    assert Period.week(2026, 1).start == dt.date(2025, 12, 29)
    cal = Calendar(period="week")
    got = _floor(cal, dt.datetime(2021, 1, 3, 23, 59, 59, tzinfo=UTC), dt.datetime(2021, 1, 4, tzinfo=UTC))
    assert got == [dt.date(2020, 12, 28), dt.date(2021, 1, 4)]
    # week 0 holds 1970-01-01 (a Thursday) and starts on Monday 1969-12-29
    assert Period.containing(EPOCH, "week").index == 0
    assert Period.containing(EPOCH, "week").start == dt.date(1969, 12, 29)


@pytest.mark.parametrize("week_start", range(7))
def test_week_zero_holds_the_epoch(week_start: int) -> None:
    assert Period.containing(EPOCH, "week", week_start=week_start).index == 0
    cal = Calendar(period="week", week_start=week_start)
    assert _dates([EPOCH]).select(cal.index("d")).item() == 0


def test_weeks_starting_on_sunday() -> None:
    saturday, sunday = dt.date(2024, 3, 9), dt.date(2024, 3, 10)
    assert Period.containing(saturday, "week", week_start=6).start == dt.date(2024, 3, 3)
    assert Period.containing(sunday, "week", week_start=6).start == sunday
    assert Period.containing(saturday, "week", week_start="sunday") == Period.containing(saturday, "week", week_start=6)
    assert Period.containing(sunday, "week").start == dt.date(2024, 3, 4)  # ISO: Monday
    for name, number in [("monday", 0), ("Wednesday", 2), ("SUNDAY", 6)]:
        assert Calendar(period="week", week_start=name).week_start == number
    cal = Calendar(period="week", week_start="sunday")
    got = _floor(cal, dt.datetime(2024, 3, 9, 12, tzinfo=UTC), dt.datetime(2024, 3, 10, 0, tzinfo=UTC))
    assert got == [dt.date(2024, 3, 3), dt.date(2024, 3, 10)]
    # 1970-01-01 is a Thursday: the Sunday week holding it starts on Sunday 1969-12-28
    p = Period.containing(EPOCH, "week", week_start=6)
    assert p.start == dt.date(1969, 12, 28)
    assert _dates([EPOCH]).select(cal.floor_date("d")).item() == p.start
    # weeks of different start days are different calendars
    with pytest.raises(OptionError):
        _ = p - Period.containing(EPOCH, "week")


def test_dst_days_in_paris_last_23_and_25_hours() -> None:
    spring = Period.day(2024, 3, 31, tz="Europe/Paris")
    autumn = Period.day(2024, 10, 27, tz="Europe/Paris")
    assert spring.start_instant == dt.datetime(2024, 3, 30, 23, tzinfo=UTC)  # CET, UTC+1
    assert spring.end_instant == dt.datetime(2024, 3, 31, 22, tzinfo=UTC)  # CEST, UTC+2
    assert spring.end_instant - spring.start_instant == 23 * HOUR
    assert autumn.end_instant - autumn.start_instant == 25 * HOUR
    assert (spring + 1).end_instant - (spring + 1).start_instant == 24 * HOUR
    cal = Calendar(period="day", tz="Europe/Paris")
    spring_days = _instants(cal, dt.date(2024, 3, 30), dt.date(2024, 3, 31), dt.date(2024, 4, 1), dt.date(2024, 4, 2))
    assert [b - a for a, b in itertools.pairwise(spring_days)] == [24 * HOUR, 23 * HOUR, 24 * HOUR]
    autumn_days = _instants(cal, dt.date(2024, 10, 26), dt.date(2024, 10, 27), dt.date(2024, 10, 28))
    assert [b - a for a, b in itertools.pairwise(autumn_days)] == [24 * HOUR, 25 * HOUR]
    # both 02:30 UTC and 01:30 UTC on the autumn day are on October 27 in Paris
    assert (
        _floor(cal, dt.datetime(2024, 10, 27, 0, 30, tzinfo=UTC), dt.datetime(2024, 10, 27, 1, 30, tzinfo=UTC))
        == [dt.date(2024, 10, 27)] * 2
    )
    # a month holding the spring day is still one month
    march = Period.month(2024, 3, tz="Europe/Paris")
    assert march.end_instant - march.start_instant == 31 * 24 * HOUR - HOUR


def test_new_york_dst() -> None:
    spring = Period.day(2024, 3, 10, tz="America/New_York")
    assert spring.start_instant == dt.datetime(2024, 3, 10, 5, tzinfo=UTC)
    assert spring.end_instant - spring.start_instant == 23 * HOUR
    autumn = Period.day(2024, 11, 3, tz="America/New_York")
    assert autumn.end_instant - autumn.start_instant == 25 * HOUR


def test_santiago_midnight_skipping_day_starts_at_the_jump() -> None:
    # 2024-09-08: clocks jump from 00:00 (UTC-4) to 01:00 (UTC-3); midnight never happens
    day = Period.day(2024, 9, 8, tz="America/Santiago")
    jump = dt.datetime(2024, 9, 8, 4, tzinfo=UTC)
    assert day.start_instant == jump
    local = jump.astimezone(_zone("America/Santiago"))
    assert (local.date(), local.time()) == (dt.date(2024, 9, 8), dt.time(1))  # inside the day
    assert day.end_instant - day.start_instant == 23 * HOUR
    assert day.previous().end_instant == jump
    assert day.contains(jump) and not day.contains(jump - US)
    cal = Calendar(period="day", tz="America/Santiago")
    assert _instants(cal, dt.date(2024, 9, 8)) == [jump]
    assert _floor(cal, jump - US, jump) == [dt.date(2024, 9, 7), dt.date(2024, 9, 8)]
    # a Sunday week starting on that day starts at the jump too
    week = Calendar(period="week", tz="America/Santiago", week_start="sunday")
    assert _dates([dt.date(2024, 9, 10)]).select(week.instant(week.floor_date("d"))).item() == jump
    # the autumn change (00:00 UTC-3 back to 23:00 UTC-4 on April 6) gives a 25-hour April 6
    autumn_eve = Period.day(2024, 4, 6, tz="America/Santiago")
    assert autumn_eve.end_instant - autumn_eve.start_instant == 25 * HOUR
    assert autumn_eve.end_instant == dt.datetime(2024, 4, 7, 4, tzinfo=UTC)


def test_havana_midnight_skipping_and_repeated_midnight() -> None:
    # 2024-03-10: 00:00 CST (UTC-5) jumps to 01:00 CDT (UTC-4)
    spring = Period.day(2024, 3, 10, tz="America/Havana")
    jump = dt.datetime(2024, 3, 10, 5, tzinfo=UTC)
    assert spring.start_instant == jump
    assert jump.astimezone(_zone("America/Havana")).time() == dt.time(1)
    assert spring.end_instant - spring.start_instant == 23 * HOUR
    # 2024-11-03: 01:00 CDT goes back to 00:00 CST: midnight happens twice, the day starts at the first
    autumn = Period.day(2024, 11, 3, tz="America/Havana")
    assert autumn.start_instant == dt.datetime(2024, 11, 3, 4, tzinfo=UTC)
    assert autumn.end_instant - autumn.start_instant == 25 * HOUR
    cal = Calendar(period="day", tz="America/Havana")
    got = _instants(cal, dt.date(2024, 3, 10), dt.date(2024, 11, 3), dt.date(2024, 11, 4))
    assert got == [jump, dt.datetime(2024, 11, 3, 4, tzinfo=UTC), dt.datetime(2024, 11, 4, 5, tzinfo=UTC)]


def test_lord_howe_half_hour_dst_and_kolkata_half_hour_offset() -> None:
    lord_howe = "Australia/Lord_Howe"
    autumn = Period.day(2024, 4, 7, tz=lord_howe)  # 02:00 +11 back to 01:30 +10:30
    spring = Period.day(2024, 10, 6, tz=lord_howe)  # 02:00 +10:30 on to 02:30 +11
    assert autumn.end_instant - autumn.start_instant == 24 * HOUR + HOUR / 2
    assert spring.end_instant - spring.start_instant == 24 * HOUR - HOUR / 2
    assert autumn.start_instant == dt.datetime(2024, 4, 6, 13, tzinfo=UTC)
    kolkata = Calendar(period="day", tz="Asia/Kolkata")
    ts = dt.datetime(2024, 3, 1, 18, 29, 59, 999_999, tzinfo=UTC)
    assert _floor(kolkata, ts, ts + US) == [dt.date(2024, 3, 1), dt.date(2024, 3, 2)]
    assert _instants(kolkata, dt.date(2024, 3, 2)) == [dt.datetime(2024, 3, 1, 18, 30, tzinfo=UTC)]


def test_containing_a_date_ignores_the_zone_and_an_aware_datetime_uses_it() -> None:
    when = dt.datetime(2024, 1, 1, 2, tzinfo=UTC)
    assert Period.containing(when, "year", tz="America/New_York") == Period.year(2023, tz="America/New_York")
    assert Period.containing(when.date(), "year", tz="America/New_York") == Period.year(2024, tz="America/New_York")
    paris = dt.datetime(2024, 1, 1, 0, 30, tzinfo=_zone("Europe/Paris"))  # 2023-12-31 23:30 UTC
    assert Period.containing(paris, "day") == Period.day(2023, 12, 31)
    assert Period.containing(paris, "day", tz="Europe/Paris") == Period.day(2024, 1, 1, tz="Europe/Paris")


def test_extreme_years_of_the_range() -> None:
    first = Period.containing(dt.datetime(1900, 1, 1, tzinfo=UTC), "day")
    assert first.start == dt.date(1900, 1, 1) and first.index == -25567
    assert Period.containing(dt.datetime(2100, 12, 31, 23, 59, tzinfo=UTC), "year") == Period.year(2100)
    cal = Calendar(period="week", week_start=3)
    got = _floor(cal, dt.datetime(1900, 1, 1, tzinfo=UTC), dt.datetime(2100, 12, 31, 23, tzinfo=UTC))
    assert got == [dt.date(1899, 12, 28), dt.date(2100, 12, 30)]


# --- bad options ------------------------------------------------------------------------

FORTNIGHT: Any = "fortnight"  # not a PeriodName: typed Any to reach the run-time check


@pytest.mark.parametrize(
    ("make", "option"),
    [
        pytest.param(lambda: Calendar(period="fortnight"), "period", id="period"),
        pytest.param(lambda: Calendar(tz="Mars/Base"), "tz", id="tz"),
        pytest.param(lambda: Calendar(tz=""), "tz", id="empty tz"),
        pytest.param(lambda: Calendar(tz=3), "tz", id="tz not a string"),
        pytest.param(lambda: Calendar(week_start=7), "week_start", id="week_start 7"),
        pytest.param(lambda: Calendar(week_start=-1), "week_start", id="week_start -1"),
        pytest.param(lambda: Calendar(week_start=True), "week_start", id="week_start bool"),
        pytest.param(lambda: Calendar(week_start="funday"), "week_start", id="week_start name"),
        pytest.param(lambda: Period(kind="month", start=dt.date(2024, 3, 2)), "start", id="not a month start"),
        pytest.param(lambda: Period(kind="week", start=dt.date(2024, 3, 5)), "start", id="not a Monday"),
        pytest.param(lambda: Period(kind="week", start=dt.date(2024, 3, 4), week_start=6), "start", id="not a Sunday"),
        pytest.param(lambda: Period(kind="year", start=dt.date(2024, 2, 1)), "start", id="not a year start"),
        pytest.param(lambda: Period(kind="day", start=dt.datetime(2024, 3, 1, tzinfo=UTC)), "start", id="datetime"),
        pytest.param(lambda: Period(kind="fortnight", start=dt.date(2024, 3, 1)), "period", id="period kind"),
        pytest.param(lambda: Period.quarter(2024, 5), "quarter", id="quarter 5"),
        pytest.param(lambda: Period.month(2024, 3, tz="Mars/Base"), "tz", id="period tz"),
        pytest.param(lambda: Period.containing(dt.datetime(2024, 3, 1), "day"), "when", id="naive datetime"),
        pytest.param(lambda: Period.containing(dt.date(2024, 3, 1), FORTNIGHT), "period", id="containing period"),
        pytest.param(
            lambda: Period.containing(dt.date(2024, 3, 1), "week", week_start=9), "week_start", id="containing ws"
        ),
        pytest.param(lambda: Period.month(2024, 3) - Period.year(2024), "other", id="different kinds"),
        pytest.param(
            lambda: Period.month(2024, 3) - Period.month(2024, 3, tz="Europe/Paris"), "other", id="different zones"
        ),
        pytest.param(lambda: check_period("Month"), "period", id="check_period"),
        pytest.param(lambda: check_tz(None), "tz", id="check_tz"),
    ],
)
def test_bad_options_raise_option_error(make: object, option: str) -> None:
    assert callable(make)
    with pytest.raises(OptionError) as info:
        make()
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, RetainlibError)
    assert info.value.option == option
    assert str(info.value)


def test_option_error_names_the_choices() -> None:
    with pytest.raises(OptionError, match="day, week, month, quarter, year") as info:
        Calendar(period="fortnight")
    assert info.value.value == "fortnight"
    with pytest.raises(OptionError, match="Mars/Base"):
        Calendar(tz="Mars/Base")
    with pytest.raises(OptionError, match=r"is not the first day of a month \(that is 2024-03-01\)"):
        Period(kind="month", start=dt.date(2024, 3, 2))


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: Period.month(2024, 13), id="month 13"),
        pytest.param(lambda: Period.day(2023, 2, 29), id="Feb 29 2023"),
        pytest.param(lambda: Period.week(2021, 53), id="ISO week 53 of 2021"),
    ],
)
def test_impossible_named_periods_raise_option_error(make: object) -> None:
    assert callable(make)
    with pytest.raises(OptionError):
        make()


# --- known bugs, pinned ----------------------------------------------------------------


@pytest.mark.xfail(
    strict=True,
    reason="known limitation: polars' bundled tz database (chrono-tz) has no DST transitions from 2100 on while "
    "zoneinfo has, so Calendar (polars) and Period (zoneinfo) disagree for 2100+ in DST zones",
)
def test_calendar_and_period_agree_in_2100() -> None:
    t = dt.datetime(2100, 7, 1, 22, 30, tzinfo=UTC)  # 00:30 CEST on July 2 in Paris
    p = Period.containing(t, "day", tz="Europe/Paris")
    assert p.start == dt.date(2100, 7, 2)
    cal = Calendar(period="day", tz="Europe/Paris")
    assert _floor(cal, t) == [p.start]  # polars: 2100-07-01 (it thinks Paris is on UTC+1 in July 2100)


ODD_SKIPPED_MIDNIGHTS = [
    # (zone, day, true first instant: the jump)
    ("America/Santiago", dt.date(1916, 7, 1), dt.datetime(1916, 7, 1, 5, 0, tzinfo=UTC)),  # -5:00 -> -4:42:45
    ("America/Santiago", dt.date(1918, 9, 10), dt.datetime(1918, 9, 10, 4, 42, 45, tzinfo=UTC)),  # -4:42:45 -> -4
    ("America/Santiago", dt.date(1927, 9, 1), dt.datetime(1927, 9, 1, 4, 42, 45, tzinfo=UTC)),  # -4:42:45 -> -4
    ("Australia/Lord_Howe", dt.date(1981, 3, 1), dt.datetime(1981, 2, 28, 14, 0, tzinfo=UTC)),  # +10 -> +10:30
    ("Asia/Kolkata", dt.date(1906, 1, 1), dt.datetime(1905, 12, 31, 18, 38, 50, tzinfo=UTC)),  # +5:21:10 -> +5:30
]


@pytest.mark.parametrize(("tz", "day", "jump"), ODD_SKIPPED_MIDNIGHTS)
def test_period_starts_an_odd_skipped_midnight_at_the_jump(tz: str, day: dt.date, jump: dt.datetime) -> None:
    assert _odd_skipped_midnight(day, tz)
    p = Period.containing(day, "day", tz=tz)
    assert p.start_instant == jump == p.previous().end_instant
    assert p.contains(jump) and p.previous().contains(jump - US)


@pytest.mark.parametrize(("tz", "day", "jump"), ODD_SKIPPED_MIDNIGHTS)
def test_calendar_starts_an_odd_skipped_midnight_at_the_jump(tz: str, day: dt.date, jump: dt.datetime) -> None:
    cal = Calendar(period="day", tz=tz)
    assert _instants(cal, day) == [jump]


def test_no_other_skipped_midnight_is_odd() -> None:
    """The exclusion in the properties covers exactly the pinned days (ordinary DST days stay checked)."""
    assert not _odd_skipped_midnight(dt.date(2024, 9, 8), "America/Santiago")
    assert not _odd_skipped_midnight(dt.date(2024, 3, 10), "America/Havana")
    assert not _odd_skipped_midnight(dt.date(2024, 3, 31), "Europe/Paris")
    assert all(_instant_comparable(d, tz) for tz in ZONES for d in (dt.date(2099, 12, 31), dt.date(1900, 1, 1)))
    assert _odd_skipped_midnight(dt.date(1916, 7, 1), "America/Santiago")


@pytest.mark.parametrize("period", ["day", "week", "month", "quarter", "year"])
def test_horizon_holds_one_hundred_years_of_periods(period: PeriodName) -> None:
    cal = Calendar(period=period)
    first = Period.containing(dt.date(1925, 1, 1), period)
    hundred_years = Period.containing(dt.date(1925 + HORIZON_YEARS, 1, 1), period)
    # Periods from 1925-01-01 up to (not including) 2025-01-01, rounded up to whole periods.
    assert hundred_years - first <= cal.horizon <= hundred_years - first + 1
