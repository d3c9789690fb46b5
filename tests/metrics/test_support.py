"""Tests of support_retention: a plain-Python reference on hypothesis data, hand examples, options, errors."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Literal

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from retainlib import DataError, Dataset, OptionError, SchemaError
from retainlib.calendar import Period, PeriodName
from retainlib.metrics import _common
from retainlib.metrics._common import as_of_instant
from retainlib.metrics.support import DEFAULT_RESOLUTION_BUCKETS, support_retention
from retainlib.tables import TABLES
from retainlib.testing import orders, subscriptions, tickets

UTC = dt.UTC
START = dt.datetime(2024, 1, 1, tzinfo=UTC)
END = dt.datetime(2024, 7, 1, tzinfo=UTC)
POOL = 6
COLUMNS = ["period", "breakdown", "group", "customers", "retained", "retention_rate"]


def ts(year: int, month: int, day: int, hour: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=UTC)


# --- the reference: loops over Python rows, straight from the spec -------------------------


def _labels(bounds: Sequence[dt.timedelta]) -> list[str]:
    def short(b: dt.timedelta) -> str:
        if b % dt.timedelta(days=1) == dt.timedelta(0):
            return f"{b // dt.timedelta(days=1)}d"
        return f"{b // dt.timedelta(hours=1)}h"

    names = [short(b) for b in bounds]
    inner = [f"{a}-{b}" for a, b in itertools.pairwise(names)]
    return [f"resolution: {x}" for x in [f"<{names[0]}", *inner, f">={names[-1]}"]]


def reference(
    ticket_rows: list[dict[str, Any]],
    activity_rows: list[dict[str, Any]],
    table: str,
    *,
    window: dt.timedelta,
    period: PeriodName,
    tz: str,
    as_of: dt.datetime | None,
    buckets: Sequence[dt.timedelta] = DEFAULT_RESOLUTION_BUCKETS,
) -> list[tuple[Any, ...]]:
    """support_retention without ``by``, from the spec; as_of is an instant (exclusive) or None."""

    def period_of(t: dt.datetime) -> Period:
        return Period.containing(t, period, tz=tz)

    if table == "orders":
        rows = [o for o in activity_rows if as_of is None or o["ordered_at"] < as_of]
        stamps = [o["ordered_at"] for o in rows]
        starts = [period_of(o["ordered_at"]) for o in rows]
    else:
        rows = [
            s
            for s in activity_rows
            if s["mrr"] > 0
            and (s["ended_at"] is None or s["ended_at"] > s["started_at"])
            and (as_of is None or s["started_at"] < as_of)
        ]
        stamps = [s["started_at"] for s in rows] + [s["ended_at"] for s in rows if s["ended_at"] is not None]
        starts = [period_of(s["started_at"]) for s in rows]

    def active_in(c: str, p: Period) -> bool:
        if table == "orders":
            return any(o["customer_id"] == c and period_of(o["ordered_at"]) == p for o in rows)
        return any(
            s["customer_id"] == c
            and s["started_at"] < p.end_instant
            and (s["ended_at"] is None or s["ended_at"] > p.start_instant)
            for s in rows
        )

    def active_between(c: str, a: dt.datetime, b: dt.datetime) -> bool:
        """Active at some instant of (a, b]."""
        if table == "orders":
            return any(o["customer_id"] == c and a < o["ordered_at"] <= b for o in rows)
        return any(
            s["customer_id"] == c and s["started_at"] <= b and (s["ended_at"] is None or s["ended_at"] > a)
            for s in rows
        )

    solved = [t for t in ticket_rows if t["solved_at"] is not None]
    end = as_of if as_of is not None else (max(stamps) if stamps else None)
    firsts = starts + [period_of(t["solved_at"]) for t in solved]
    if end is None or not firsts:
        return []
    customers = {r["customer_id"] for r in activity_rows} | {t["customer_id"] for t in ticket_rows}
    labels = _labels(buckets)
    out: list[tuple[Any, ...]] = []
    p = min(firsts)
    while p.end_instant + window <= end:
        a, b = p.end_instant, p.end_instant + window
        cells: dict[str, list[int]] = {g: [0, 0] for g in ["supported", "baseline"]}
        cells |= {f"satisfaction: {s}": [0, 0] for s in ("good", "bad", "unrated")}
        cells |= {label: [0, 0] for label in labels}
        for c in sorted(customers):
            mine = [t for t in solved if t["customer_id"] == c and period_of(t["solved_at"]) == p]
            kept = active_between(c, a, b)
            if mine:
                last = max(mine, key=lambda t: (t["solved_at"], t["opened_at"], t["ticket_id"]))
                sat = last["satisfaction"] or "unrated"
                res = last["solved_at"] - last["opened_at"]
                bucket = labels[sum(1 for bound in buckets if res >= bound)]
                groups = ["supported", f"satisfaction: {sat}", bucket]
            elif active_in(c, p):
                groups = ["baseline"]
            else:
                groups = []
            for g in groups:
                cells[g][0] += 1
                cells[g][1] += kept
        for g, (n, kept_n) in cells.items():
            breakdown = "group" if g in ("supported", "baseline") else g.split(":")[0]
            out.append((p.start, breakdown, g, n, kept_n, kept_n / n if n else None))
        p = p.next()
    return out


def rows_of(frame: pl.DataFrame) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in frame.select(COLUMNS).iter_rows()]


def dicts(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return [dict(zip(frame.columns, row, strict=True)) for row in frame.iter_rows()]


# --- hypothesis: kernel == reference ------------------------------------------------------

WINDOWS = [dt.timedelta(days=1), dt.timedelta(days=30), dt.timedelta(days=45, hours=12), dt.timedelta(days=90)]
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"]


@st.composite
def as_of_values(draw: st.DrawFn) -> dt.datetime | dt.date | None:
    kind = draw(st.sampled_from(["none", "instant", "date"]))
    if kind == "none":
        return None
    t = draw(st.datetimes(min_value=dt.datetime(2024, 2, 1), max_value=dt.datetime(2024, 8, 1), timezones=st.just(UTC)))
    return t if kind == "instant" else t.date()


@st.composite
def cases(draw: st.DrawFn, table: str) -> dict[str, Any]:
    if table == "orders":
        source = orders(min_size=4, max_size=40, customers=POOL, start=START, end=END)
    else:
        source = subscriptions(min_size=2, max_size=15, customers=POOL, start=START, end=END, max_mrr=3)
    return {
        "tickets": draw(tickets(min_size=1, max_size=15, customers=POOL, start=START, end=END)),
        "activity": draw(source),
        "window": draw(st.sampled_from(WINDOWS)),
        "period": draw(st.sampled_from(["day", "week", "month", "quarter"])),
        "tz": draw(st.sampled_from(ZONES)),
        "as_of": draw(as_of_values()),
    }


def _check_against_reference(case: dict[str, Any], table: Literal["orders", "subscriptions"]) -> None:
    ds = Dataset(tickets=case["tickets"], validate="none", **{table: case["activity"]})
    got = support_retention(
        ds, window=case["window"], period=case["period"], tz=case["tz"], as_of=case["as_of"], activity=table
    )
    expected = reference(
        dicts(case["tickets"]),
        dicts(case["activity"]),
        table,
        window=case["window"],
        period=case["period"],
        tz=case["tz"],
        as_of=as_of_instant(case["as_of"], case["tz"]),
    )
    assert rows_of(got) == expected
    assert got.schema == pl.Schema(
        {
            "period": pl.Date,
            "breakdown": pl.String,
            "group": pl.String,
            "customers": pl.UInt32,
            "retained": pl.UInt32,
            "retention_rate": pl.Float64,
        }
    )


@given(cases("orders"))
def test_orders_match_reference(case: dict[str, Any]) -> None:
    _check_against_reference(case, "orders")


@given(cases("subscriptions"))
def test_subscriptions_match_reference(case: dict[str, Any]) -> None:
    _check_against_reference(case, "subscriptions")


@given(cases("orders"))
def test_breakdowns_add_up_to_the_supported_group(case: dict[str, Any]) -> None:
    ds = Dataset(tickets=case["tickets"], orders=case["activity"], validate="none")
    got = support_retention(ds, window=case["window"], period=case["period"], tz=case["tz"], as_of=case["as_of"])
    sums = got.group_by("period", "breakdown").agg(pl.col("customers", "retained").sum())
    supported = got.filter(group="supported").select("period", "customers", "retained")
    for part in ("satisfaction", "resolution"):
        split = sums.filter(breakdown=part).drop("breakdown")
        assert split.sort("period").equals(supported.sort("period"))


@given(cases("orders"), st.lists(st.sampled_from(["a", "b", None]), min_size=POOL, max_size=POOL))
def test_by_equals_filter(case: dict[str, Any], tiers: list[str | None]) -> None:
    # Customers c1..c5 get a tier (maybe null); c6 is absent from the customers table (null tier too).
    ids = [f"c{i}" for i in range(1, POOL + 1)]
    customers = pl.DataFrame(
        {"customer_id": ids[:-1], "created_at": [START] * (POOL - 1), "tier": tiers[:-1]},
        schema={"customer_id": pl.String, "created_at": TABLES["customers"].schema["created_at"], "tier": pl.String},
    )
    tier_of = dict(zip(ids, [*tiers[:-1], None], strict=True))
    options: dict[str, Any] = {
        "window": case["window"],
        "period": case["period"],
        "tz": case["tz"],
        "as_of": case["as_of"],
    }
    ds = Dataset(customers=customers, tickets=case["tickets"], orders=case["activity"], validate="none")
    by_tier = support_retention(ds, by="tier", **options)
    assert by_tier.columns == ["tier", *COLUMNS]
    for tier in ("a", "b", None):
        mine = [c for c in ids if tier_of[c] == tier]
        alone = Dataset(
            tickets=case["tickets"].filter(pl.col("customer_id").is_in(mine)),
            orders=case["activity"].filter(pl.col("customer_id").is_in(mine)),
            validate="none",
        )
        expected = support_retention(alone, **options)
        got = by_tier.filter(pl.col("tier").eq_missing(tier)).drop("tier")
        assert got.equals(expected)


@given(cases("subscriptions"))
def test_lazy_tables_equal_eager_tables(case: dict[str, Any]) -> None:
    eager = Dataset(tickets=case["tickets"], subscriptions=case["activity"], validate="none")
    lazy = Dataset(tickets=case["tickets"].lazy(), subscriptions=case["activity"].lazy(), validate="none")
    options: dict[str, Any] = {
        "window": case["window"],
        "period": case["period"],
        "tz": case["tz"],
        "as_of": case["as_of"],
    }
    assert support_retention(lazy, **options).equals(support_retention(eager, **options))


# --- hand examples ------------------------------------------------------------------------


def ticket_frame(rows: list[tuple[str, str, dt.datetime, dt.datetime | None, str | None]]) -> pl.DataFrame:
    names = TABLES["tickets"].schema.names()
    return pl.DataFrame({n: [r[i] for r in rows] for i, n in enumerate(names)}, schema=TABLES["tickets"].schema)


def order_frame(rows: list[tuple[str, dt.datetime]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "order_id": [f"o{i}" for i in range(len(rows))],
            "customer_id": [r[0] for r in rows],
            "ordered_at": [r[1] for r in rows],
            "amount": [Decimal(1)] * len(rows),
            "currency": ["USD"] * len(rows),
        },
        schema=TABLES["orders"].schema,
    )


def subscription_frame(rows: list[tuple[str, dt.datetime, dt.datetime | None, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "subscription_id": [f"s{i}" for i in range(len(rows))],
            "customer_id": [r[0] for r in rows],
            "started_at": [r[1] for r in rows],
            "ended_at": [r[2] for r in rows],
            "mrr": [Decimal(r[3]) for r in rows],
            "currency": ["USD"] * len(rows),
        },
        schema=TABLES["subscriptions"].schema,
    )


HAND_TICKETS = ticket_frame(
    [
        ("t1", "A", ts(2024, 1, 10), ts(2024, 1, 12), "good"),  # 2 days: 1d-3d
        ("t2", "C", ts(2024, 1, 31, 20), ts(2024, 2, 1), "bad"),  # solved exactly at the start of February; 4 h
        ("t3", "D", ts(2024, 2, 1), ts(2024, 2, 10), "good"),  # 9 days
        ("t4", "D", ts(2024, 2, 14), ts(2024, 2, 14, 12), None),  # D's last ticket in February: unrated, 12 h
        ("t5", "B", ts(2024, 3, 20), None, None),  # never solved: nobody is supported by it
    ]
)
HAND_ORDERS = order_frame(
    [
        ("A", ts(2024, 1, 5)),
        ("A", ts(2024, 2, 10)),
        ("B", ts(2024, 1, 20)),
        ("B", ts(2024, 3, 15)),
        ("C", ts(2024, 1, 3)),
        ("C", ts(2024, 2, 1)),  # exactly end(January): outside January's window (end(p), end(p) + W]
        ("C", ts(2024, 3, 31)),  # exactly end(February) + 30 days: inside February's window
        ("D", ts(2024, 2, 20)),
    ]
)
# Worked by hand, month periods, W = 30 days:
# January: end = Feb 1, window (Feb 1, Mar 2].
#   supported = {A} (t1); A orders Feb 10: retained.                                     -> 1 / 1
#   baseline = active in Jan {A, B, C} minus {A} = {B, C}; B next orders Mar 15 (late),
#   C orders Feb 1 00:00 (not after end(p)) and Mar 31 (late): none retained.            -> 2 / 0
#   A's last ticket: good, 2 days (1d-3d).
# February: end = Mar 1, window (Mar 1, Mar 31]; end + W = Mar 31 <= as_of.
#   supported = {C (t2), D (t3, t4)}; C orders Mar 31 00:00: retained; D never again.     -> 2 / 1
#   baseline = active in Feb {A, C, D} minus {C, D} = {A}; A never orders again.          -> 1 / 0
#   C: bad, 4 h (<1d); D's last solved ticket t4: unrated, 12 h (<1d).
# March: end + W = Apr 1 + 30 days, after as_of: left out.
HAND_EXPECTED = [
    (dt.date(2024, 1, 1), "group", "supported", 1, 1, 1.0),
    (dt.date(2024, 1, 1), "group", "baseline", 2, 0, 0.0),
    (dt.date(2024, 1, 1), "satisfaction", "satisfaction: good", 1, 1, 1.0),
    (dt.date(2024, 1, 1), "satisfaction", "satisfaction: bad", 0, 0, None),
    (dt.date(2024, 1, 1), "satisfaction", "satisfaction: unrated", 0, 0, None),
    (dt.date(2024, 1, 1), "resolution", "resolution: <1d", 0, 0, None),
    (dt.date(2024, 1, 1), "resolution", "resolution: 1d-3d", 1, 1, 1.0),
    (dt.date(2024, 1, 1), "resolution", "resolution: 3d-7d", 0, 0, None),
    (dt.date(2024, 1, 1), "resolution", "resolution: >=7d", 0, 0, None),
    (dt.date(2024, 2, 1), "group", "supported", 2, 1, 0.5),
    (dt.date(2024, 2, 1), "group", "baseline", 1, 0, 0.0),
    (dt.date(2024, 2, 1), "satisfaction", "satisfaction: good", 0, 0, None),
    (dt.date(2024, 2, 1), "satisfaction", "satisfaction: bad", 1, 1, 1.0),
    (dt.date(2024, 2, 1), "satisfaction", "satisfaction: unrated", 1, 0, 0.0),
    (dt.date(2024, 2, 1), "resolution", "resolution: <1d", 2, 1, 0.5),
    (dt.date(2024, 2, 1), "resolution", "resolution: 1d-3d", 0, 0, None),
    (dt.date(2024, 2, 1), "resolution", "resolution: 3d-7d", 0, 0, None),
    (dt.date(2024, 2, 1), "resolution", "resolution: >=7d", 0, 0, None),
]


def test_hand_example_orders() -> None:
    ds = Dataset(tickets=HAND_TICKETS, orders=HAND_ORDERS)
    got = support_retention(ds, window=dt.timedelta(days=30), as_of=ts(2024, 4, 1))
    assert rows_of(got) == HAND_EXPECTED


def test_hand_example_default_as_of_is_the_last_order() -> None:
    # The last order is C's at Mar 31 00:00: February's window ends exactly there and is kept, the order counted.
    ds = Dataset(tickets=HAND_TICKETS, orders=HAND_ORDERS)
    assert rows_of(support_retention(ds, window=30)) == HAND_EXPECTED


def test_as_of_is_exclusive() -> None:
    # as_of = Mar 31 00:00 exactly: February is kept (end + W = as_of) but C's order at as_of is not observed.
    ds = Dataset(tickets=HAND_TICKETS, orders=HAND_ORDERS)
    got = support_retention(ds, window=30, as_of=ts(2024, 3, 31)).filter(period=dt.date(2024, 2, 1), group="supported")
    assert got.select("customers", "retained").row(0) == (2, 0)


def test_hand_example_subscriptions() -> None:
    subs = subscription_frame(
        [
            ("E", ts(2024, 1, 10), ts(2024, 2, 1), 10),  # ends exactly at end(January): not running after it
            ("F", ts(2024, 1, 1), None, 20),  # still running
            ("G", ts(2024, 1, 5), ts(2024, 1, 20), 5),
            ("G", ts(2024, 3, 2), None, 5),  # restarts exactly at end(January) + 30 days: inside the window
            ("H", ts(2024, 1, 5), ts(2024, 1, 25), 0),  # free: never active
        ]
    )
    tix = ticket_frame([("t1", "E", ts(2024, 1, 14), ts(2024, 1, 15), "good")])
    ds = Dataset(tickets=tix, subscriptions=subs)
    got = support_retention(ds, window=30, as_of=ts(2024, 3, 15))
    # January only (February: Mar 1 + 30 days = Mar 31 > Mar 15).
    # supported {E}: nothing runs in (Feb 1, Mar 2] -> 1 / 0; baseline {F, G}: both run -> 2 / 2.
    assert got["period"].unique().to_list() == [dt.date(2024, 1, 1)]
    assert got.filter(breakdown="group").select("group", "customers", "retained").rows() == [
        ("supported", 1, 0),
        ("baseline", 2, 2),
    ]


def test_reporting_time_zone_moves_a_ticket_across_the_boundary() -> None:
    # Solved 2024-02-01 03:00 UTC = Jan 31 22:00 in New York: February in UTC, January in New York.
    tix = ticket_frame([("t1", "A", ts(2024, 1, 30), ts(2024, 2, 1, 3), "good")])
    ds = Dataset(tickets=tix, orders=order_frame([("A", ts(2024, 1, 2)), ("B", ts(2024, 6, 1))]))
    for tz, month in (("UTC", 2), ("America/New_York", 1)):
        got = support_retention(ds, window=30, tz=tz).filter(group="supported", customers=1)
        assert got["period"].to_list() == [dt.date(2024, month, 1)]


def test_resolution_buckets_are_configurable() -> None:
    ds = Dataset(tickets=HAND_TICKETS, orders=HAND_ORDERS)
    got = support_retention(ds, window=30, resolution_buckets=(dt.timedelta(hours=6), 2))
    february = got.filter(period=dt.date(2024, 2, 1), breakdown="resolution")
    # C: 4 h (<6h); D's last ticket: 12 h (6h-2d).
    assert february.select("group", "customers").rows() == [
        ("resolution: <6h", 1),
        ("resolution: 6h-2d", 1),
        ("resolution: >=2d", 0),
    ]


def test_week_periods_and_week_start() -> None:
    # Order on Sunday 2024-01-07; ticket solved on Monday 2024-01-08.  ISO weeks (Monday start): two weeks;
    # weeks starting on Sunday: one week holding both, where A is supported (not baseline).
    tix = ticket_frame([("t1", "A", ts(2024, 1, 8), ts(2024, 1, 8, 1), None)])
    ds = Dataset(
        tickets=tix, orders=order_frame([("A", ts(2024, 1, 7)), ("A", ts(2024, 1, 16)), ("B", ts(2024, 3, 1))])
    )
    iso = support_retention(ds, window=7, period="week", as_of=ts(2024, 1, 24)).filter(breakdown="group", customers=1)
    assert iso.select("period", "group").rows() == [
        (dt.date(2024, 1, 1), "baseline"),
        (dt.date(2024, 1, 8), "supported"),
    ]
    sunday = support_retention(ds, window=7, period="week", week_start=6, as_of=ts(2024, 1, 24))
    assert sunday.filter(breakdown="group", customers=1).select("period", "group", "retained").rows() == [
        (dt.date(2024, 1, 7), "supported", 1)
    ]


def test_empty_tables_give_an_empty_frame() -> None:
    ds = Dataset(tickets=TABLES["tickets"].schema_frame(), orders=TABLES["orders"].schema_frame())
    got = support_retention(ds)
    assert got.height == 0 and got.columns == COLUMNS
    with_as_of = support_retention(ds, as_of=dt.date(2024, 12, 31), by=None)
    assert with_as_of.height == 0


def test_auto_activity_prefers_orders() -> None:
    subs = subscription_frame([("A", ts(2024, 1, 1), None, 10)])
    ds = Dataset(tickets=HAND_TICKETS, orders=HAND_ORDERS, subscriptions=subs)
    assert support_retention(ds, window=30).equals(support_retention(ds, window=30, activity="orders"))
    by_subs = support_retention(ds, window=30, activity="subscriptions", as_of=ts(2024, 4, 1))
    # Only A subscribes (running): January baseline is nobody (A is supported), A retained.
    assert by_subs.filter(period=dt.date(2024, 1, 1), breakdown="group").select("customers", "retained").rows() == [
        (1, 1),
        (0, 0),
    ]


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize("window", [0, -1, dt.timedelta(0), dt.timedelta(days=-2), "90d", True, float("nan")])
def test_bad_window(window: Any) -> None:
    ds = Dataset(tickets=HAND_TICKETS, orders=HAND_ORDERS)
    with pytest.raises(OptionError, match="window"):
        support_retention(ds, window=window)


@pytest.mark.parametrize("buckets", [(), (3, 1), (1, 1), (0, 2), "1,3", (dt.timedelta(days=-1),), None])
def test_bad_buckets(buckets: Any) -> None:
    ds = Dataset(tickets=HAND_TICKETS, orders=HAND_ORDERS)
    with pytest.raises(OptionError, match="resolution_buckets"):
        support_retention(ds, resolution_buckets=buckets)


def test_bad_options_and_input() -> None:
    ds = Dataset(tickets=HAND_TICKETS, orders=HAND_ORDERS)
    with pytest.raises(OptionError, match="activity"):
        support_retention(ds, activity="events")  # type: ignore[call-overload]
    with pytest.raises(OptionError, match="period"):
        support_retention(ds, period="fortnight")  # type: ignore[call-overload]
    with pytest.raises(SchemaError, match="needs tickets"):
        support_retention(HAND_ORDERS, orders=HAND_ORDERS)
    with pytest.raises(SchemaError, match="tickets"):
        support_retention(Dataset(orders=HAND_ORDERS))
    with pytest.raises(SchemaError, match="subscriptions"):
        support_retention(Dataset(tickets=HAND_TICKETS, orders=HAND_ORDERS), activity="subscriptions")
    with pytest.raises(SchemaError, match="orders or subscriptions"):
        support_retention(Dataset(tickets=HAND_TICKETS))
    with pytest.raises(SchemaError, match="nope"):
        support_retention(ds, by="nope")


def test_works_with_compare() -> None:
    from retainlib.metrics.compare import compare

    ds = Dataset(tickets=HAND_TICKETS, orders=HAND_ORDERS)
    result = support_retention(ds, window=30, as_of=ts(2024, 4, 1)).filter(breakdown="group")
    compared = compare(result)
    # Baseline (first in sort order) is the reference; counts come through unchanged (see HAND_EXPECTED).
    assert compared.select("period", "group", "successes", "trials").rows() == [
        (dt.date(2024, 1, 1), "baseline", 0, 2),
        (dt.date(2024, 1, 1), "supported", 1, 1),
        (dt.date(2024, 2, 1), "baseline", 0, 1),
        (dt.date(2024, 2, 1), "supported", 1, 2),
    ]
    assert compared.filter(group="supported")["difference"].to_list() == [1.0, 0.5]


# --- frames like every kernel: tickets first, the activity table beside them ------------------


@given(cases("orders"), st.booleans())
def test_frames_equal_the_dataset(case: dict[str, Any], lazy: bool) -> None:
    options: dict[str, Any] = {
        "window": case["window"],
        "period": case["period"],
        "tz": case["tz"],
        "as_of": case["as_of"],
    }
    want = support_retention(Dataset(tickets=case["tickets"], orders=case["activity"], validate="none"), **options)
    if lazy:
        got = support_retention(case["tickets"].lazy(), orders=case["activity"].lazy(), **options)
        assert isinstance(got, pl.LazyFrame)
        assert got.collect().equals(want)
    else:
        assert support_retention(case["tickets"], orders=case["activity"], **options).equals(want)


@given(cases("orders"), st.integers(min_value=5, max_value=15), st.sampled_from([None, "tier"]), st.booleans())
def test_customer_partitions_change_nothing(
    case: dict[str, Any], rows_per_part: int, by: str | None, lazy: bool
) -> None:
    """Above ``PARTITION_ROWS`` orders the customers run in hash partitions, one collect each: the same rows."""
    options: dict[str, Any] = {
        "window": case["window"],
        "period": case["period"],
        "tz": case["tz"],
        "as_of": case["as_of"],
        "by": by,
    }
    tier = pl.col("customer_id").replace_strict({"c1": "a", "c2": "a", "c3": "b", "c4": None}, default="c")
    tickets, orders = (frame.with_columns(tier=tier) for frame in (case["tickets"], case["activity"]))

    def run() -> pl.DataFrame:
        if lazy:
            result: pl.DataFrame | pl.LazyFrame = support_retention(tickets.lazy(), orders=orders.lazy(), **options)
        else:
            result = support_retention(tickets, orders=orders, **options)
        assert isinstance(result, pl.LazyFrame) == lazy
        return result.collect() if isinstance(result, pl.LazyFrame) else result

    whole = run()
    saved = _common.PARTITION_ROWS
    try:
        _common.PARTITION_ROWS = rows_per_part  # up to 8 partitions of a few customers
        parts = run()
    finally:
        _common.PARTITION_ROWS = saved
    assert_frame_equal(parts, whole, check_exact=True)


def test_frames_with_subscriptions_and_segments() -> None:
    subs = subscription_frame([("A", ts(2024, 1, 1), None, 10), ("B", ts(2024, 1, 1), ts(2024, 2, 1), 10)])
    options: dict[str, Any] = {"window": 30, "as_of": ts(2024, 4, 1)}
    want = support_retention(Dataset(tickets=HAND_TICKETS, subscriptions=subs), **options)
    assert support_retention(HAND_TICKETS, subscriptions=subs, **options).equals(want)
    assert support_retention(HAND_TICKETS.lazy(), subscriptions=subs, **options).collect().equals(want)
    # with both frames, activity= chooses (auto: orders)
    both = support_retention(HAND_TICKETS, orders=HAND_ORDERS, subscriptions=subs, activity="subscriptions", **options)
    assert both.equals(want)
    # by: the segment column is in both frames
    tier = {"A": "x", "B": "y", "C": "x", "D": "y"}

    def tiered(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(tier=pl.col("customer_id").replace_strict(tier, default="z"))

    per_tier = support_retention(tiered(HAND_TICKETS), orders=tiered(HAND_ORDERS), by="tier", **options)
    alone = support_retention(
        tiered(HAND_TICKETS).filter(tier="x"), orders=tiered(HAND_ORDERS).filter(tier="x"), **options
    )
    assert per_tier.filter(tier="x").drop("tier").equals(alone)


@pytest.mark.parametrize("engine", ["auto", "streaming", "in-memory"])
def test_every_engine_gives_the_same_result(engine: Any) -> None:
    ds = Dataset(tickets=HAND_TICKETS, orders=HAND_ORDERS)
    want = support_retention(ds, window=30, as_of=ts(2024, 4, 1))
    assert support_retention(ds, window=30, as_of=ts(2024, 4, 1), engine=engine).equals(want)
    lazy = support_retention(
        HAND_TICKETS.lazy(), orders=HAND_ORDERS.lazy(), window=30, as_of=ts(2024, 4, 1), engine=engine
    )
    assert lazy.collect(engine=engine).equals(want)


def test_frame_input_errors_name_the_option() -> None:
    ds = Dataset(tickets=HAND_TICKETS, orders=HAND_ORDERS)
    with pytest.raises(OptionError, match="Dataset") as info:
        support_retention(ds, orders=HAND_ORDERS)
    assert info.value.option == "orders"
    with pytest.raises(SchemaError, match="orders= or subscriptions="):
        support_retention(HAND_TICKETS)
    with pytest.raises(SchemaError, match="subscriptions"):
        support_retention(HAND_TICKETS, orders=HAND_ORDERS, activity="subscriptions")
    with pytest.raises(SchemaError, match="needs orders"):
        support_retention(HAND_TICKETS, orders=HAND_TICKETS)
    with pytest.raises(OptionError) as kind:
        support_retention({"ticket_id": ["t1"]})  # type: ignore[call-overload]
    assert kind.value.option == "tickets"
    refused: list[tuple[str, Any]] = [("engine", "gpu"), ("week_start", 9), ("period", "fortnight"), ("tz", "Mars/X")]
    for option, value in refused:
        with pytest.raises(OptionError) as bad:
            support_retention(HAND_TICKETS, orders=HAND_ORDERS, **{option: value})
        assert bad.value.option == option


def test_a_placeholder_date_is_refused_rather_than_expanded() -> None:
    orders = pl.concat([HAND_ORDERS, order_frame([("A", dt.datetime(9999, 12, 31, tzinfo=UTC))])])
    orders = orders.with_columns(order_id=pl.int_range(pl.len()).cast(pl.String))
    with pytest.raises(DataError, match="weeks") as info:
        support_retention(HAND_TICKETS, orders=orders, period="week")
    assert info.value.problems[0].rows["ordered_at"].dt.year().to_list() == [9999]


def test_a_window_past_what_a_timedelta_holds_is_an_option_error() -> None:
    for window in (2**70, -(2**70), 1e30):
        with pytest.raises(OptionError, match="window") as info:
            support_retention(HAND_TICKETS, orders=HAND_ORDERS, window=window)
        assert info.value.option == "window"
