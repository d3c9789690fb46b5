"""The period calendar: days, weeks, months, quarters and years in a reporting time zone.

Every period is identified by its first *local* day (a ``datetime.date``, or
``pl.Date`` in frames).  Inside kernels periods are handled as integer
*indices*, so period arithmetic is integer arithmetic:

=========  ==========================================================
period     index
=========  ==========================================================
day        days since 1970-01-01
week       weeks since the week (of the chosen start day) holding 1970-01-01:
           ``(days + (3 - week_start) % 7) // 7``
month      ``year * 12 + month - 1``
quarter    ``year * 4 + (month - 1) // 3``
year       ``year``
=========  ==========================================================

A timestamp (UTC) belongs to the period holding its local date in the
reporting time zone.  Working on local *dates* makes daylight-saving changes
harmless: a day is a day whatever its length.  The instant a period starts is
the first instant of its first local day (local midnight; where a DST jump
skips midnight, the instant of the jump).

A kernel lays out at most :attr:`Calendar.horizon` periods (those of
:data:`HORIZON_YEARS` = 100 years: 36,525 days, 5,218 weeks, 1,200 months, 400
quarters or 100 years) per window or per row; data spanning more raises a
:class:`~retainlib.errors.DataError` naming the rows far from the rest (a
placeholder date such as 9999-12-31 is the usual cause) rather than laying out
millions of empty periods.

The vectorised expressions (:class:`Calendar`) and the scalar value type
(:class:`Period`) implement the same rules; property tests hold them to each
other.  One known limit: polars' bundled time-zone database has no daylight
saving rules from the year 2100 on (Python's zoneinfo has), so for instants
from 2100 in zones with DST the two may differ by the DST offset.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from typing import Final, Literal, get_args

import attrs
import polars as pl

from retainlib.errors import OptionError

__all__ = [
    "HORIZON_YEARS",
    "PERIODS",
    "Calendar",
    "Period",
    "PeriodName",
    "WeekStart",
    "check_period",
    "check_tz",
]

PeriodName = Literal["day", "week", "month", "quarter", "year"]
PERIODS: Final[tuple[PeriodName, ...]] = get_args(PeriodName)
WeekDay = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
#: A week start: 0 (Monday, ISO) .. 6 (Sunday), or the day's English name.
WeekStart = int | WeekDay
_WEEKDAYS: Final[tuple[str, ...]] = get_args(WeekDay)
_EPOCH: Final = dt.date(1970, 1, 1)  # a Thursday: weekday() == 3
#: The longest span, in years, a kernel lays out period by period (see :attr:`Calendar.horizon`).
HORIZON_YEARS: Final = 100
_HORIZON: Final[dict[str, int]] = {
    "day": HORIZON_YEARS * 36525 // 100,
    "week": -(-HORIZON_YEARS * 36525 // 700),
    "month": HORIZON_YEARS * 12,
    "quarter": HORIZON_YEARS * 4,
    "year": HORIZON_YEARS,
}


def check_period(period: object) -> PeriodName:
    """Return ``period`` if it names a period, else raise :class:`OptionError`."""
    return OptionError.one_of(
        period, PERIODS, option="period", message=f"unknown period {period!r}; use one of {', '.join(PERIODS)}"
    )


@functools.cache
def _zone(tz: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(tz)


def check_tz(tz: object) -> str:
    """Return ``tz`` if it is an IANA time-zone name, else raise :class:`OptionError`."""
    if not isinstance(tz, str):
        raise OptionError(f"a time zone is an IANA name such as 'Europe/Paris', got {tz!r}", option="tz", value=tz)
    try:
        _zone(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise OptionError(
            f"unknown time zone {tz!r}; use an IANA name such as 'UTC' or 'Europe/Paris'",
            option="tz",
            value=tz,
        ) from None
    return tz


def _check_week_start(week_start: object) -> int:
    if isinstance(week_start, str) and week_start.lower() in _WEEKDAYS:
        return _WEEKDAYS.index(week_start.lower())
    if isinstance(week_start, int) and not isinstance(week_start, bool) and 0 <= week_start <= 6:
        return week_start
    raise OptionError(
        f"week_start is 0 (Monday) .. 6 (Sunday) or a day name, got {week_start!r}",
        option="week_start",
        value=week_start,
    )


def _as_expr(value: str | pl.Expr) -> pl.Expr:
    return pl.col(value) if isinstance(value, str) else value


# --- scalar rules (shared by Period; the expressions below mirror them) -------------------


def _index_of(kind: PeriodName, day: dt.date, week_start: int) -> int:
    if kind == "day":
        return (day - _EPOCH).days
    if kind == "week":
        return ((day - _EPOCH).days + (3 - week_start) % 7) // 7
    if kind == "month":
        return day.year * 12 + day.month - 1
    if kind == "quarter":
        return day.year * 4 + (day.month - 1) // 3
    return day.year


def _start_of(kind: PeriodName, index: int, week_start: int) -> dt.date:
    try:
        return _start_of_unchecked(kind, index, week_start)
    except (ValueError, OverflowError):
        raise OptionError(
            f"the {kind} with index {index} is outside the supported dates (years 1..9999)",
            option="index",
            value=index,
        ) from None


def _start_of_unchecked(kind: PeriodName, index: int, week_start: int) -> dt.date:
    if kind == "day":
        return _EPOCH + dt.timedelta(days=index)
    if kind == "week":
        return _EPOCH + dt.timedelta(days=index * 7 - (3 - week_start) % 7)
    if kind == "month":
        return dt.date(index // 12, index % 12 + 1, 1)
    if kind == "quarter":
        return dt.date(index // 4, (index % 4) * 3 + 1, 1)
    return dt.date(index, 1, 1)


def _date(year: int, month: int, day: int) -> dt.date:
    try:
        return dt.date(year, month, day)
    except (ValueError, TypeError) as exc:
        raise OptionError(
            f"no such date {year}-{month}-{day}: {exc}", option="date", value=(year, month, day)
        ) from None


def _local_day_start(day: dt.date, tz: str) -> dt.datetime:
    """The first instant (UTC) of local day ``day`` in ``tz``."""
    zone = _zone(tz)
    # fold=0: for an ambiguous midnight the first one; for a skipped midnight the
    # offset before the jump, which maps to the instant of the jump.
    local = dt.datetime.combine(day, dt.time(0), tzinfo=zone)
    instant = local.astimezone(dt.UTC)
    if instant.astimezone(zone).date() < day:  # midnight skipped: the day starts at the jump
        for hours in (1, 2, 3):
            later = dt.datetime.combine(day, dt.time(hours), tzinfo=zone).astimezone(dt.UTC)
            if later.astimezone(zone).date() == day:
                return later
    return instant


@attrs.frozen(kw_only=True)
class Calendar:
    """Vectorised period rules for one (period, time zone, week start).

    Attributes:
        period: ``"day"``, ``"week"``, ``"month"``, ``"quarter"`` or ``"year"``.
        tz: the reporting time zone (IANA name).
        week_start: first day of the week, 0 = Monday (ISO) .. 6 = Sunday.

    Examples
    --------
    >>> import datetime as dt, polars as pl
    >>> cal = Calendar(period="month", tz="Europe/Paris")
    >>> df = pl.DataFrame({"t": [dt.datetime(2024, 3, 31, 23, 30, tzinfo=dt.UTC)]})
    >>> df.select(cal.floor("t")).item()
    datetime.date(2024, 4, 1)
    """

    period: PeriodName = attrs.field(default="month", converter=check_period)
    tz: str = attrs.field(default="UTC", converter=check_tz)
    week_start: int = attrs.field(default=0, converter=_check_week_start)

    @property
    def horizon(self) -> int:
        """The most periods of this calendar's kind a kernel lays out: those of :data:`HORIZON_YEARS` years.

        36,525 days, 5,218 weeks, 1,200 months, 400 quarters or 100 years.

        Examples
        --------
        >>> Calendar(period="week").horizon
        5218
        """
        return _HORIZON[self.period]

    def local_date(self, ts: str | pl.Expr) -> pl.Expr:
        """The local date (``pl.Date``) of a UTC timestamp in the reporting time zone."""
        e = _as_expr(ts)
        if self.tz != "UTC":
            e = e.dt.convert_time_zone(self.tz)
        return e.dt.date()

    def index(self, day: str | pl.Expr) -> pl.Expr:
        """The period index (``Int64``) of a local date (any day of the period)."""
        d = _as_expr(day)
        if self.period == "day":
            return d.cast(pl.Int64)
        if self.period == "week":
            return (d.cast(pl.Int64) + (3 - self.week_start) % 7).floordiv(7)
        year = d.dt.year().cast(pl.Int64)
        month = d.dt.month().cast(pl.Int64)
        if self.period == "month":
            return year * 12 + month - 1
        if self.period == "quarter":
            return year * 4 + (month - 1).floordiv(3)
        return year

    def start(self, index: str | pl.Expr) -> pl.Expr:
        """The first local day (``pl.Date``) of the period with this index."""
        i = _as_expr(index).cast(pl.Int64)
        if self.period == "day":
            return i.cast(pl.Int32).cast(pl.Date)
        if self.period == "week":
            return (i * 7 - (3 - self.week_start) % 7).cast(pl.Int32).cast(pl.Date)
        if self.period == "month":
            return pl.date(i.floordiv(12), i.mod(12) + 1, 1)
        if self.period == "quarter":
            return pl.date(i.floordiv(4), i.mod(4) * 3 + 1, 1)
        return pl.date(i, 1, 1)

    def timestamp_index(self, ts: str | pl.Expr) -> pl.Expr:
        """The index of the period holding a UTC timestamp."""
        return self.index(self.local_date(ts))

    def floor(self, ts: str | pl.Expr) -> pl.Expr:
        """The period (its first local day, ``pl.Date``) holding a UTC timestamp."""
        return self.start(self.timestamp_index(ts))

    def floor_date(self, day: str | pl.Expr) -> pl.Expr:
        """The period (its first day) holding a local date."""
        return self.start(self.index(day))

    def between(self, first: str | pl.Expr, last: str | pl.Expr) -> pl.Expr:
        """Number of periods from the period of ``first`` to that of ``last`` (dates)."""
        return self.index(last) - self.index(first)

    def shift(self, day: str | pl.Expr, k: int | pl.Expr) -> pl.Expr:
        """The period ``k`` periods after the one holding ``day`` (its first day)."""
        return self.start(self.index(day) + k)

    def instant(self, day: str | pl.Expr) -> pl.Expr:
        """The first instant (UTC timestamp) of a local day: where a period starts."""
        naive = _as_expr(day).cast(pl.Datetime("us"))
        if self.tz == "UTC":
            return naive.dt.replace_time_zone("UTC")

        local = naive.dt.replace_time_zone(self.tz, ambiguous="earliest", non_existent="null")
        # A skipped midnight (a jump at 00:00) starts the day at the jump: local midnight
        # read with the offset in force before it (taken 12 hours earlier).
        before = (naive - pl.duration(hours=12)).dt.replace_time_zone(
            self.tz, ambiguous="earliest", non_existent="null"
        )
        jump = (naive - (before.dt.base_utc_offset() + before.dt.dst_offset())).dt.replace_time_zone("UTC")
        return pl.coalesce(local.dt.convert_time_zone("UTC"), jump).dt.cast_time_unit("us")

    def period_of(self, when: dt.datetime | dt.date) -> Period:
        """The :class:`Period` holding an aware datetime (or a local date)."""
        return Period.containing(when, self.period, tz=self.tz, week_start=self.week_start)


@attrs.frozen(kw_only=True)
class Period:
    """One calendar period: its kind, first local day and reporting time zone.

    Build one with a named constructor (:meth:`day`, :meth:`week`, :meth:`month`,
    :meth:`quarter`, :meth:`year`, :meth:`containing`); ``start`` must be the
    first day of a period of that kind.

    Attributes:
        kind: ``"day"``, ``"week"``, ``"month"``, ``"quarter"`` or ``"year"``.
        start: the first local day.
        tz: the reporting time zone.
        week_start: first day of the week (0 = Monday .. 6 = Sunday); weeks only.

    Examples
    --------
    >>> p = Period.month(2024, 3)
    >>> p.end, (p + 1).start, p.shift(-3).start
    (datetime.date(2024, 4, 1), datetime.date(2024, 4, 1), datetime.date(2023, 12, 1))
    >>> Period.month(2025, 1) - Period.month(2024, 3)
    10
    """

    kind: PeriodName = attrs.field(converter=check_period)
    start: dt.date = attrs.field()
    tz: str = attrs.field(default="UTC", converter=check_tz)
    week_start: int = attrs.field(default=0, converter=_check_week_start)

    @start.validator
    def _is_period_start(self, _: object, value: dt.date) -> None:
        if type(value) is not dt.date:
            raise OptionError(f"a period starts on a date, got {value!r}", option="start", value=value)
        first = _start_of(self.kind, _index_of(self.kind, value, self.week_start), self.week_start)
        if first != value:
            raise OptionError(
                f"{value} is not the first day of a {self.kind} (that is {first})",
                option="start",
                value=value,
            )

    # --- named constructors ---
    @classmethod
    def day(cls, year: int, month: int, day: int, *, tz: str = "UTC") -> Period:
        """The local day ``year-month-day``."""
        return cls(kind="day", start=_date(year, month, day), tz=tz)

    @classmethod
    def week(cls, year: int, week: int, *, tz: str = "UTC") -> Period:
        """ISO week ``week`` of ISO year ``year`` (Monday start)."""
        try:
            start = dt.date.fromisocalendar(year, week, 1)
        except ValueError as exc:
            raise OptionError(f"no ISO week {week} in {year}: {exc}", option="week", value=(year, week)) from None
        return cls(kind="week", start=start, tz=tz)

    @classmethod
    def month(cls, year: int, month: int, *, tz: str = "UTC") -> Period:
        """The month ``year-month``."""
        return cls(kind="month", start=_date(year, month, 1), tz=tz)

    @classmethod
    def quarter(cls, year: int, quarter: int, *, tz: str = "UTC") -> Period:
        """Quarter 1..4 of ``year``."""
        if not 1 <= quarter <= 4:
            raise OptionError("a quarter is 1..4", option="quarter", value=quarter)
        return cls(kind="quarter", start=dt.date(year, 3 * quarter - 2, 1), tz=tz)

    @classmethod
    def year(cls, year: int, *, tz: str = "UTC") -> Period:
        """The year ``year``."""
        return cls(kind="year", start=_date(year, 1, 1), tz=tz)

    @classmethod
    def containing(
        cls,
        when: dt.datetime | dt.date,
        kind: PeriodName,
        *,
        tz: str = "UTC",
        week_start: WeekStart = 0,
    ) -> Period:
        """The period of ``kind`` holding an aware datetime, or a local date."""
        ws = _check_week_start(week_start)
        kind = check_period(kind)
        if isinstance(when, dt.datetime):
            if when.tzinfo is None or when.utcoffset() is None:
                raise OptionError("naive datetime: give it a time zone", option="when", value=when)
            day = when.astimezone(_zone(check_tz(tz))).date()
        else:
            day = when
        return cls(kind=kind, start=_start_of(kind, _index_of(kind, day, ws), ws), tz=tz, week_start=ws)

    # --- arithmetic ---
    @property
    def index(self) -> int:
        """The period's integer index (see the module docs)."""
        return _index_of(self.kind, self.start, self.week_start)

    def shift(self, k: int) -> Period:
        """The period ``k`` periods later (earlier when negative)."""
        return attrs.evolve(self, start=_start_of(self.kind, self.index + k, self.week_start))

    def next(self) -> Period:
        """The following period."""
        return self.shift(1)

    def previous(self) -> Period:
        """The preceding period."""
        return self.shift(-1)

    @property
    def end(self) -> dt.date:
        """The first local day *after* the period (exclusive end)."""
        return self.shift(1).start

    @property
    def start_instant(self) -> dt.datetime:
        """The first instant of the period (UTC)."""
        return _local_day_start(self.start, self.tz)

    @property
    def end_instant(self) -> dt.datetime:
        """The first instant after the period (UTC)."""
        return _local_day_start(self.end, self.tz)

    def contains(self, when: dt.datetime) -> bool:
        """Whether an aware instant falls inside the period."""
        return self.start_instant <= when < self.end_instant

    def __add__(self, k: int) -> Period:
        return self.shift(k)

    def __sub__(self, other: Period) -> int:
        if (other.kind, other.tz, other.week_start) != (self.kind, self.tz, self.week_start):
            raise OptionError("periods of different calendars", option="other", value=other)
        return self.index - other.index

    def __lt__(self, other: Period) -> bool:
        return self - other < 0

    def __le__(self, other: Period) -> bool:
        return self - other <= 0

    def __str__(self) -> str:
        return f"{self.kind} {self.start.isoformat()}" + ("" if self.tz == "UTC" else f" ({self.tz})")
