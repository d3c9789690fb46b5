"""support_retention at its edges, against the plain-Python reference of test_support.

The kernel numbers each (segment, customer) by sorting the activity rows and finds the next activity after
``end(p)`` with as-of joins on one (customer, time) key, and takes a customer's last ticket as the last row of
a sorted run.  So the data here is drawn on a grid of the instants where that could go wrong: period starts
in the reporting time zone, one microsecond either side, ``end(p) + W`` exactly and one microsecond after;
several orders or tickets at the same instant, tickets solved at the same instant (the tie goes to the later
``opened_at``, then the greater ``ticket_id``), resolution times on the bucket boundaries, tickets of
customers who never order, subscription segments starting together or lasting no time.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from retainlib import Dataset
from retainlib.calendar import Period, PeriodName
from retainlib.metrics.support import support_retention

sys.path.insert(0, str(Path(__file__).parent))
from test_support import (
    END,
    START,
    WINDOWS,
    ZONES,
    dicts,
    order_frame,
    reference,
    rows_of,
    subscription_frame,
    ticket_frame,
)

MICRO = dt.timedelta(microseconds=1)
BUYERS = ["A", "B", "C", "D"]
#: E opens tickets and never buys: supported, never active, never retained.
ASKERS = [*BUYERS, "E"]
RESOLUTIONS = [
    dt.timedelta(0),
    dt.timedelta(days=1) - MICRO,
    dt.timedelta(days=1),
    dt.timedelta(days=3),
    dt.timedelta(days=9),
]


@st.composite
def grid_case(draw: st.DrawFn, table: str) -> dict[str, Any]:
    periods: list[PeriodName] = ["day", "week", "month", "quarter"]
    period = draw(st.sampled_from(periods))
    tz = draw(st.sampled_from(ZONES))
    window = draw(st.sampled_from(WINDOWS))
    # A few consecutive periods, so that the drawn instants meet: the same customer active in p and at end(p).
    p = Period.containing(START, period, tz=tz)
    every: list[dt.datetime] = []
    while p.start_instant < END or len(every) < 6:
        every.append(p.start_instant)
        p = p.next()
    first = draw(st.integers(0, len(every) - 6))
    starts = every[first : first + 6]
    offsets = [dt.timedelta(0), -MICRO, MICRO, window, window + MICRO, dt.timedelta(hours=12)]
    instant = st.builds(lambda s, o: s + o, st.sampled_from(starts), st.sampled_from(offsets))
    if table == "orders":
        activity = order_frame(draw(st.lists(st.tuples(st.sampled_from(BUYERS), instant), min_size=1, max_size=10)))
    else:
        segments = draw(
            st.lists(
                st.tuples(st.sampled_from(BUYERS), instant, st.one_of(st.none(), instant), st.sampled_from([0, 5])),
                min_size=1,
                max_size=8,
            )
        )
        # a segment ends at or after its start (at its start: it never runs)
        activity = subscription_frame([(c, s, e if e is None else max(s, e), m) for c, s, e, m in segments])
    n = draw(st.integers(1, 12))
    ids = draw(st.permutations(range(n)))  # ticket ids out of time order ("t10" < "t9" as text)
    rows = []
    for i in range(n):
        solved = draw(st.one_of(st.none(), instant)) if i % 4 == 3 else draw(instant)
        opened = (solved or draw(instant)) - draw(st.sampled_from(RESOLUTIONS))
        rating = draw(st.sampled_from(["good", "bad", None]))
        rows.append((f"t{ids[i]}", draw(st.sampled_from(ASKERS)), opened, solved, rating))
    as_of = draw(st.one_of(st.none(), st.just(starts[-1] + 2 * window), instant))
    return {
        "tickets": ticket_frame(rows),
        "activity": activity,
        "window": window,
        "period": period,
        "tz": tz,
        "as_of": as_of,
    }


def _check(case: dict[str, Any], table: str) -> None:
    options: dict[str, Any] = {k: case[k] for k in ("window", "period", "tz", "as_of")}
    ds = Dataset(tickets=case["tickets"], validate="none", **{table: case["activity"]})
    got = support_retention(ds, activity=table, **options)  # type: ignore[call-overload]
    expected = reference(dicts(case["tickets"]), dicts(case["activity"]), table, **options)
    assert rows_of(got) == expected


@given(grid_case("orders"))
def test_orders_on_the_boundaries_match_reference(case: dict[str, Any]) -> None:
    _check(case, "orders")


@given(grid_case("subscriptions"))
def test_subscriptions_on_the_boundaries_match_reference(case: dict[str, Any]) -> None:
    _check(case, "subscriptions")


def test_ties_by_hand() -> None:
    # Two orders of A exactly at end(January) and one a microsecond later; B orders twice at one instant;
    # C's two tickets are solved at the same instant: the later opened_at decides (bad, 1 day).
    feb = dt.datetime(2024, 2, 1, tzinfo=dt.UTC)
    orders = order_frame(
        [
            ("A", dt.datetime(2024, 1, 5, tzinfo=dt.UTC)),
            ("A", feb),
            ("A", feb),
            ("A", feb + MICRO),
            ("B", dt.datetime(2024, 1, 7, tzinfo=dt.UTC)),
            ("B", dt.datetime(2024, 1, 7, tzinfo=dt.UTC)),
            ("C", dt.datetime(2024, 6, 30, tzinfo=dt.UTC)),
        ]
    )
    solved = dt.datetime(2024, 1, 20, tzinfo=dt.UTC)
    tickets = ticket_frame(
        [
            ("t2", "C", solved - dt.timedelta(days=2), solved, "good"),
            ("t1", "C", solved - dt.timedelta(days=1), solved, "bad"),
            ("t3", "E", solved, solved, None),  # E never orders
        ]
    )
    got = support_retention(tickets, orders=orders, window=30).filter(period=dt.date(2024, 1, 1))
    counts = {g: (n, r) for g, n, r in got.select("group", "customers", "retained").rows()}
    # January: supported {C, E}: neither active in (Feb 1, Mar 2]; baseline {A, B}: A (Feb 1 + 1 us) retained.
    assert counts["supported"] == (2, 0)
    assert counts["baseline"] == (2, 1)
    assert counts["satisfaction: bad"] == (1, 0) and counts["satisfaction: good"] == (0, 0)
    assert counts["satisfaction: unrated"] == (1, 0)
    assert counts["resolution: 1d-3d"] == (1, 0) and counts["resolution: <1d"] == (1, 0)
