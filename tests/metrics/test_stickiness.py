"""``stickiness``: hand-computed examples, a plain-Python reference, options, laziness and a fuzz case.

The reference below is written from ``docs/metrics/stickiness.md`` with
loops over Python objects and ``zoneinfo`` dates, independently of
``retainlib.calendar``.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import defaultdict
from fractions import Fraction
from typing import Any, Literal

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import retainlib as rl
from retainlib.errors import OptionError, RetainlibError
from retainlib.metrics.stickiness import stickiness
from retainlib.testing import events as events_strategy

UTC = dt.UTC
ONE_US = dt.timedelta(microseconds=1)


def _events(rows: list[tuple[str, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {"customer_id": [r[0] for r in rows], "occurred_at": [r[1] for r in rows], "event": [r[2] for r in rows]}
    )


# --- hand-computed ---------------------------------------------------------------------------------

#: Week of Monday 4 March 2024: a on Mon (twice), Wed; b on Sun; c on Mon..Sun (all 7 days).
#: Week of 11 March: a on Tue; c on Mon, Tue.  Observation ends on Tue 12 March (the last event).
WEEKS = _events(
    [
        ("a", "2024-03-04T09:00:00Z", "open"),
        ("a", "2024-03-04T21:00:00Z", "open"),
        ("a", "2024-03-06T09:00:00Z", "search"),
        ("b", "2024-03-10T09:00:00Z", "open"),
        *[("c", f"2024-03-{d:02d}T12:00:00Z", "open") for d in range(4, 11)],
        ("a", "2024-03-12T08:00:00Z", "open"),
        ("c", "2024-03-11T08:00:00Z", "open"),
        ("c", "2024-03-12T10:00:00Z", "search"),
    ]
)


def test_weekly_ratio_by_hand() -> None:
    result = stickiness(WEEKS, period="week")
    assert result.columns == [
        "period",
        "is_complete",
        "days",
        "active",
        "active_days",
        "average_daily_active",
        "stickiness",
    ]
    rows = result.select("period", "is_complete", "days", "active", "active_days").rows()
    # week 1: a 2 days + b 1 + c 7 = 10 customer-days over 7 days; week 2: observed Mon and Tue only
    assert rows == [(dt.date(2024, 3, 4), True, 7, 3, 10), (dt.date(2024, 3, 11), False, 2, 2, 3)]
    assert result["average_daily_active"].to_list() == pytest.approx([10 / 7, 3 / 2])
    assert result["stickiness"].to_list() == pytest.approx([10 / 7 / 3, 3 / 2 / 2])


def test_weekly_days_by_hand() -> None:
    result = stickiness(WEEKS, period="week", kind="days")
    first = result.filter(pl.col("period") == dt.date(2024, 3, 4))
    assert first.select("active_days", "customers", "customers_at_least").rows() == [
        (1, 1, 3),
        (2, 1, 2),
        (3, 0, 1),
        (4, 0, 1),
        (5, 0, 1),
        (6, 0, 1),
        (7, 1, 1),
    ]
    assert first["share"].to_list() == pytest.approx([1 / 3, 1 / 3, 0, 0, 0, 0, 1 / 3])
    second = result.filter(pl.col("period") == dt.date(2024, 3, 11))
    # two days observed: n runs 1..2; a on one day, c on two
    assert second.select("active_days", "active", "customers", "share_at_least").rows() == [
        (1, 2, 1, 1.0),
        (2, 2, 1, 0.5),
    ]


def test_events_option_and_segments() -> None:
    only_search = stickiness(WEEKS, period="week", events=["search"])
    # observation starts on the first day with a search (Wednesday): 5 days of the first week
    assert only_search.select("days", "active", "active_days").rows() == [(5, 1, 1), (2, 1, 1)]
    # the first day observed is the first day with activity of the events counted (Wednesday)
    by_event = stickiness(WEEKS, period="week", by="event")
    assert by_event.filter(pl.col("event") == "search").select("period", "days", "active_days").rows() == [
        (dt.date(2024, 3, 4), 5, 1),
        (dt.date(2024, 3, 11), 2, 1),
    ]


def test_days_are_local_days() -> None:
    # 23:30 UTC on Sunday 31 March is Monday 1 April in Paris (summer time)
    late = _events([("a", "2024-03-31T23:30:00Z", "open"), ("a", "2024-04-01T08:00:00Z", "open")])
    assert stickiness(late, period="month").select("period", "active_days").rows() == [
        (dt.date(2024, 3, 1), 1),
        (dt.date(2024, 4, 1), 1),
    ]
    paris = stickiness(late, period="month", tz="Europe/Paris")
    assert paris.select("period", "days", "active_days").rows() == [(dt.date(2024, 4, 1), 1, 1)]


def test_as_of_cuts_the_observation() -> None:
    cut = stickiness(WEEKS, period="week", as_of=dt.date(2024, 3, 7))
    # through Thursday 7 March: 4 days observed; a on Mon and Wed, c on Mon..Thu
    assert cut.select("is_complete", "days", "active", "active_days").rows() == [(False, 4, 2, 6)]


def test_monthly_dau_over_mau() -> None:
    # 30 days of April, one customer every day, another on 3 days: DAU/MAU = (30 + 3) / 30 / 2
    rows = [("a", f"2024-04-{d:02d}T10:00:00Z", "open") for d in range(1, 31)]
    rows += [("b", f"2024-04-{d:02d}T10:00:00Z", "open") for d in (2, 9, 16)]
    result = stickiness(_events(rows))
    assert result.select("days", "active", "active_days").row(0) == (30, 2, 33)
    assert result["stickiness"].item() == pytest.approx(33 / 30 / 2)


def test_orders_count_too_and_a_dataset() -> None:
    orders = pl.DataFrame(
        {
            "order_id": ["1", "2", "3"],
            "customer_id": ["a", "a", "b"],
            "ordered_at": ["2024-03-04T09:00:00Z", "2024-03-05T09:00:00Z", "2024-03-05T10:00:00Z"],
            "amount": ["1", "2", "3"],
            "currency": ["EUR"] * 3,
        }
    )
    assert stickiness(orders, period="week").select("active", "active_days").row(0) == (2, 3)
    ds = rl.Dataset(orders=orders, events=WEEKS)
    assert stickiness(ds, period="week")["active_days"].to_list() == [10, 3]  # events first
    assert stickiness(ds, period="week", table="orders")["active_days"].to_list() == [3]


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"period": "day"}, "period"),
        ({"period": "fortnight"}, "period"),
        ({"kind": "share"}, "kind"),
        ({"kind": None}, "kind"),
        ({"events": 3}, "events"),
        ({"table": "subscriptions"}, "table"),
        ({"by": "customer_id"}, "by"),
        ({"by": "period"}, "by"),
        ({"tz": "Europe/Pari"}, "tz"),
        ({"engine": "gpu"}, "engine"),
    ],
)
def test_bad_options(options: dict[str, Any], option: str) -> None:
    with pytest.raises(OptionError) as caught:
        stickiness(WEEKS.with_columns(period=pl.lit("x")) if options.get("by") == "period" else WEEKS, **options)
    assert caught.value.option == option


def test_lazy_in_lazy_out_reads_nothing_before_collect() -> None:
    reads: list[int] = []

    def source() -> pl.DataFrame:
        reads.append(1)
        return WEEKS.with_columns(pl.col("occurred_at").str.to_datetime(time_zone="UTC"))

    lazy = pl.defer(source, schema={"customer_id": pl.String, "occurred_at": rl.tables.TIMESTAMP, "event": pl.String})
    kinds: tuple[Literal["ratio", "days"], ...] = ("ratio", "days")
    for kind in kinds:
        result = stickiness(lazy, period="week", kind=kind)
        assert isinstance(result, pl.LazyFrame)
        assert reads == []
        assert result.collect().equals(stickiness(WEEKS, period="week", kind=kind))
        reads.clear()


def test_empty_events() -> None:
    empty = WEEKS.clear()
    assert stickiness(empty).height == 0
    assert stickiness(empty, kind="days").height == 0


# --- the reference --------------------------------------------------------------------------------


def _period_start(d: dt.date, period: str, week_start: int) -> dt.date:
    if period == "week":
        return d - dt.timedelta(days=(d.weekday() - week_start) % 7)
    if period == "month":
        return d.replace(day=1)
    if period == "quarter":
        return dt.date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)
    return dt.date(d.year, 1, 1)


def _next_start(start: dt.date, period: str) -> dt.date:
    if period == "week":
        return start + dt.timedelta(days=7)
    months = {"month": 1, "quarter": 3, "year": 12}[period]
    m = start.month - 1 + months
    return dt.date(start.year + m // 12, m % 12 + 1, 1)


def reference(
    rows: list[tuple[str, dt.datetime, str]], period: str, tz: str, week_start: int, as_of: dt.datetime | None
) -> dict[dt.date, dict[str, Any]]:
    """Per period start: days observed, each active customer's number of active days."""
    zone = zoneinfo.ZoneInfo(tz)
    kept = [r for r in rows if as_of is None or r[1] < as_of]
    if not kept:
        return {}
    end = as_of - ONE_US if as_of is not None else max(r[1] for r in rows)
    last_day = end.astimezone(zone).date()
    days_of: dict[tuple[dt.date, str], set[dt.date]] = defaultdict(set)
    for customer, at, _ in kept:
        day = at.astimezone(zone).date()
        days_of[(_period_start(day, period, week_start), customer)].add(day)
    first_day = min(at.astimezone(zone).date() for _, at, _ in kept)
    out: dict[dt.date, dict[str, Any]] = {}
    start = _period_start(first_day, period, week_start)
    stop = _period_start(max(last_day, first_day), period, week_start)
    while start <= stop:
        following = _next_start(start, period)
        observed = (min(following, last_day + dt.timedelta(days=1)) - max(start, first_day)).days
        counts = [len(d) for (p, _), d in days_of.items() if p == start]
        out[start] = {"days": observed, "counts": counts}
        start = following
    return out


@st.composite
def cases(draw: st.DrawFn) -> tuple[pl.DataFrame, dict[str, Any]]:
    frame = draw(
        events_strategy(
            0,
            30,
            customers=5,
            start=dt.datetime(2024, 1, 1, tzinfo=UTC),
            end=dt.datetime(2024, 6, 1, tzinfo=UTC),
        )
    )
    options: dict[str, Any] = {
        "period": draw(st.sampled_from(["week", "month", "quarter"])),
        "tz": draw(st.sampled_from(["UTC", "Europe/Paris", "America/Santiago"])),
        "week_start": draw(st.integers(0, 6)),
        "as_of": draw(st.sampled_from([None, dt.datetime(2024, 3, 15, 12, tzinfo=UTC)])),
    }
    return frame, options


@given(cases())
def test_ratio_matches_the_reference(case: tuple[pl.DataFrame, dict[str, Any]]) -> None:
    frame, options = case
    result = stickiness(frame, **options)
    expected = reference(frame.rows(), options["period"], options["tz"], options["week_start"], options["as_of"])
    assert result["period"].to_list() == sorted(expected)
    for row in result.iter_rows(named=True):
        want = expected[row["period"]]
        counts = want["counts"]
        assert (row["days"], row["active"], row["active_days"]) == (want["days"], len(counts), sum(counts))
        if counts:
            exact = Fraction(sum(counts), want["days"] * len(counts))
            assert row["stickiness"] == pytest.approx(float(exact))
        else:
            assert row["stickiness"] is None


@given(cases())
def test_days_match_the_reference(case: tuple[pl.DataFrame, dict[str, Any]]) -> None:
    frame, options = case
    result = stickiness(frame, kind="days", **options)
    expected = reference(frame.rows(), options["period"], options["tz"], options["week_start"], options["as_of"])
    for start, want in expected.items():
        rows = result.filter(pl.col("period") == start)
        assert rows["active_days"].to_list() == list(range(1, want["days"] + 1))
        counts = want["counts"]
        assert rows["customers"].to_list() == [counts.count(n) for n in range(1, want["days"] + 1)]
        assert rows["customers_at_least"].to_list() == [
            sum(1 for c in counts if c >= n) for n in range(1, want["days"] + 1)
        ]
    assert result.height == sum(w["days"] for w in expected.values())


@settings(max_examples=15)
@given(cases())
def test_the_two_kinds_agree_and_segments_add_up(case: tuple[pl.DataFrame, dict[str, Any]]) -> None:
    frame, options = case
    ratio = stickiness(frame, **options)
    days = stickiness(frame, kind="days", **options)
    from_days = (
        days.group_by("period", maintain_order=True)
        .agg((pl.col("active_days") * pl.col("customers")).sum().alias("active_days"), pl.col("customers").sum())
        .sort("period")
    )
    assert from_days["active_days"].to_list() == ratio["active_days"].to_list()
    assert from_days["customers"].to_list() == ratio["active"].to_list()
    by_event = stickiness(frame, by="event", **options)
    for name, part in by_event.group_by("event"):
        alone = stickiness(frame.filter(pl.col("event") == name[0]), **options)
        assert part.drop("event").sort("period").equals(alone)


# --- fuzz (the pattern of tests/fuzz/test_fuzz_kernels.py) -----------------------------------------

FUZZ = settings(
    max_examples=max(10, settings().max_examples // 2),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
WRONG: list[object] = [None, 0, 1.5, "", "x", True, [], {}, dt.date(2024, 1, 1), dt.datetime(2024, 1, 1)]
GOOD: dict[str, list[object]] = {
    "kind": ["ratio", "days", "share"],
    "period": ["week", "month", "quarter", "year", "day"],
    "by": [None, "event", "segment", "customer_id"],
    "as_of": [None, dt.date(2024, 3, 31), dt.datetime(2024, 2, 1, tzinfo=UTC), dt.date(2100, 1, 1)],
    "tz": ["UTC", "Europe/Paris", "Europe/Pari"],
    "week_start": [0, 6, "sunday", 7],
    "engine": ["auto", "streaming", "in-memory"],
    "table": [None, "events", "orders"],
    "events": [None, ["login"], []],
}


@st.composite
def damaged_events(draw: st.DrawFn) -> pl.DataFrame:
    frame = draw(events_strategy(0, 8, customers=4))
    frame = frame.with_columns(segment=pl.lit(draw(st.sampled_from(["x", None]))).cast(pl.String))
    how = draw(st.sampled_from(["as is", "null", "text", "naive", "far", "drop", "words", "ints"]))
    column = draw(st.sampled_from(frame.columns))
    if how == "null":
        frame = frame.with_columns(pl.lit(None).cast(frame.schema[column]).alias(column))
    elif how == "text":
        frame = frame.with_columns(pl.col(column).cast(pl.String))
    elif how == "naive":
        frame = frame.with_columns(pl.col("occurred_at").dt.replace_time_zone(None))
    elif how == "far":
        far = pl.lit(dt.datetime(9999, 12, 31, tzinfo=UTC)).dt.cast_time_unit("us")
        frame = frame.with_columns(
            pl.when(pl.int_range(pl.len()) == 0).then(far).otherwise("occurred_at").alias("occurred_at")
        )
    elif how == "drop":
        frame = frame.drop(column)
    elif how == "words":
        frame = frame.with_columns(pl.lit(draw(st.sampled_from(["", "2024-13-45", "NaN"]))).alias(column))
    elif how == "ints":
        frame = frame.with_columns(pl.int_range(pl.len()).alias(column))
    return frame


@FUZZ
@given(data=st.data())
def test_fuzz_only_retainlib_errors(data: st.DataObject) -> None:
    frame = data.draw(damaged_events(), label="frame")
    form = data.draw(st.sampled_from(["eager", "lazy", "dataset"]), label="form")
    given_data: Any = frame
    if form == "lazy":
        given_data = frame.lazy()
    elif form == "dataset":
        try:
            given_data = rl.Dataset(events=frame)
        except RetainlibError:
            given_data = frame
    options: dict[str, object] = {}
    for name, pool in GOOD.items():
        roll = data.draw(st.integers(0, 9), label=name)
        if roll >= 5:
            options[name] = data.draw(st.sampled_from(pool if roll < 9 else WRONG), label=f"{name} value")
    kernel: Any = stickiness
    try:
        result = kernel(given_data, **options)
        if isinstance(result, pl.LazyFrame):
            result.collect()
    except RetainlibError:
        pass


def test_the_docs_example() -> None:
    """The example of docs/metrics/stickiness.md, with the numbers the page shows."""
    events = pl.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b", "c", "c", "c", "c", "c", "c", "c"],
            "occurred_at": [
                "2024-03-04T09:00:00Z",
                "2024-03-04T21:00:00Z",
                "2024-03-06T09:00:00Z",
                "2024-03-10T09:00:00Z",
                *[f"2024-03-{d:02d}T12:00:00Z" for d in range(4, 11)],
            ],
            "event": ["open"] * 11,
        }
    )
    ratio = stickiness(events, period="week")
    assert ratio.select("period", "is_complete", "days", "active", "active_days").row(0) == (
        dt.date(2024, 3, 4),
        False,
        7,
        3,
        10,
    )
    assert ratio.select("average_daily_active", "stickiness").row(0) == pytest.approx((10 / 7, 10 / 21))
    whole = stickiness(events, period="week", as_of=dt.date(2024, 3, 10))
    assert whole["is_complete"].to_list() == [True]
    days = stickiness(events, period="week", kind="days")
    assert days["customers"].to_list() == [1, 1, 0, 0, 0, 0, 1]
    assert days["share_at_least"].to_list() == pytest.approx([1, 2 / 3, 1 / 3, 1 / 3, 1 / 3, 1 / 3, 1 / 3])
