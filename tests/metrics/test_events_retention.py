"""Product retention on events, checked against the PostHog / Amplitude / Mixpanel definitions.

What those products compute, and how ``rl.cohort_retention`` and
``rl.retention_rate`` on an events table match it:

* **intervals** are calendar periods (day, week, month) in the reporting time
  zone: PostHog's retention intervals, Amplitude's "strict calendar date"
  mode.  Amplitude's default "24-hour windows" per user (day N = hours 24N to
  24(N+1) after the user's start event) is *not* this definition and is not
  reproduced;
* a user's **cohort** is the interval of their first start event (PostHog's
  and Mixpanel's "first time" retention);
* **N-period** retention (PostHog "on", Amplitude "N-day", retainlib
  ``kind="classic"``): share of the cohort with a return event in interval
  ``cohort + k``;
* **unbounded** retention (PostHog "on or after", Amplitude "unbounded",
  retainlib ``kind="rolling"``): share with a return event in interval
  ``cohort + j`` for some ``j >= k``;
* the **start event and the return event may differ** (``start_events=``);
  period 0 then counts the cohort's users who also did the return event in
  their first interval (Mixpanel's interval 0), so it need not be 100%.

Each definition is written below as a plain-Python reference over tuples
(loops, ``zoneinfo`` dates, no retainlib), tested by hand on small examples
and by hypothesis against the kernels.
"""

from __future__ import annotations

import datetime as dt
import inspect
import itertools
import zoneinfo
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import retainlib as rl
from retainlib.tables import EVENTS

UTC = dt.UTC
ONE_US = dt.timedelta(microseconds=1)
HAS_START_EVENTS = "start_events" in inspect.signature(rl.cohort_retention).parameters
needs_start_events = pytest.mark.skipif(
    not HAS_START_EVENTS,
    reason="cohort_retention(start_events=...) is not in retainlib.metrics.retention yet (issue 16)",
)

Row = tuple[str, dt.datetime, str]


# --- the reference ---------------------------------------------------------------------------------


def _start(d: dt.date, period: str, week_start: int) -> dt.date:
    if period == "day":
        return d
    if period == "week":
        return d - dt.timedelta(days=(d.weekday() - week_start) % 7)
    return d.replace(day=1)  # month


def _after(start: dt.date, period: str) -> dt.date:
    if period == "day":
        return start + dt.timedelta(days=1)
    if period == "week":
        return start + dt.timedelta(days=7)
    return dt.date(start.year + start.month // 12, start.month % 12 + 1, 1)


def _interval(at: dt.datetime, period: str, tz: str, week_start: int) -> dt.date:
    return _start(at.astimezone(zoneinfo.ZoneInfo(tz)).date(), period, week_start)


def _intervals(first: dt.date, last: dt.date, period: str) -> list[dt.date]:
    out = [first]
    while out[-1] < last:
        out.append(_after(out[-1], period))
    return out


def reference_cohorts(
    rows: Sequence[Row],
    *,
    period: str,
    tz: str = "UTC",
    week_start: int = 0,
    kind: str = "classic",
    start: Sequence[str] | None = None,
    returning: Sequence[str] | None = None,
    as_of: dt.datetime | None = None,
) -> list[tuple[dt.date, int, int, int]]:
    """(cohort, k, cohort size, retained) for every cohort and k up to the interval holding the end of observation.

    Cohort: interval of the user's first start event.  Retained at k (classic):
    a return event in interval cohort + k; (rolling): in cohort + j, j >= k.
    The observation ends at the last event of any name (or at ``as_of``).
    """
    seen = [r for r in rows if as_of is None or r[1] < as_of]
    if not rows:
        return []
    end = as_of - ONE_US if as_of is not None else max(r[1] for r in rows)
    last = _interval(end, period, tz, week_start)
    cohort: dict[str, dt.date] = {}
    for user, at, name in sorted(seen, key=lambda r: r[1]):
        if (start is None or name in start) and user not in cohort:
            cohort[user] = _interval(at, period, tz, week_start)
    active: dict[str, set[dt.date]] = defaultdict(set)
    for user, at, name in seen:
        if returning is None or name in returning:
            active[user].add(_interval(at, period, tz, week_start))
    out = []
    for c in sorted(set(cohort.values())):
        members = [u for u, first in cohort.items() if first == c]
        for k, when in enumerate(_intervals(c, max(c, last), period)):
            if kind == "classic":
                kept = sum(1 for u in members if when in active[u])
            else:
                kept = sum(1 for u in members if any(a >= when for a in active[u]))
            out.append((c, k, len(members), kept))
    return out


def reference_period_retention(
    rows: Sequence[Row], *, period: str, returning: Sequence[str] | None = None
) -> list[tuple[dt.date, int, int, int]]:
    """(period, start, retained, new) for each period after the first: users active in p-1, in both, first in p."""
    chosen = [r for r in rows if returning is None or r[2] in returning]
    if not chosen:
        return []
    active: dict[dt.date, set[str]] = defaultdict(set)
    first: dict[str, dt.date] = {}
    for user, at, _ in chosen:
        p = _interval(at, period, "UTC", 0)
        active[p].add(user)
        first[user] = min(first.get(user, p), p)
    last = _interval(max(r[1] for r in rows), period, "UTC", 0)
    spans = _intervals(min(active), max(last, min(active)), period)
    return [
        (p, len(active[q]), len(active[q] & active[p]), sum(1 for f in first.values() if f == p))
        for q, p in itertools.pairwise(spans)
    ]


def _frame(rows: Sequence[Row]) -> pl.DataFrame:
    return pl.DataFrame(
        {"customer_id": [r[0] for r in rows], "occurred_at": [r[1] for r in rows], "event": [r[2] for r in rows]},
        schema=EVENTS.schema,
    )


def _kernel(result: pl.DataFrame) -> list[tuple[dt.date, int, int, int]]:
    return result.select("cohort", "period_number", "cohort_size", "active").rows()


def _at(year: int, month: int, day: int, hour: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=UTC)


#: ``rl.cohort_retention`` called with ``start_events`` (an option the typed overloads may not list yet).
cohort_retention: Any = rl.cohort_retention


# --- hand-computed ---------------------------------------------------------------------------------

#: Signups and uses over four weeks (Mondays 1, 8, 15, 22 January 2024).
#: a signs up in week 1 and uses the product in weeks 1 and 3; b signs up in week 1, never uses it;
#: c signs up in week 2, uses it in week 4; d uses it in week 1 and signs up (late) in week 2;
#: e only uses the product (never signs up).
PRODUCT: list[Row] = [
    ("a", _at(2024, 1, 1, 10), "signup"),
    ("a", _at(2024, 1, 2, 10), "use"),
    ("a", _at(2024, 1, 16, 10), "use"),
    ("b", _at(2024, 1, 3, 10), "signup"),
    ("c", _at(2024, 1, 9, 10), "signup"),
    ("c", _at(2024, 1, 24, 10), "use"),
    ("d", _at(2024, 1, 4, 10), "use"),
    ("d", _at(2024, 1, 10, 10), "signup"),
    ("e", _at(2024, 1, 5, 10), "use"),
    ("e", _at(2024, 1, 25, 10), "use"),
]
W1, W2 = dt.date(2024, 1, 1), dt.date(2024, 1, 8)


def test_any_event_n_period_and_unbounded_by_hand() -> None:
    frame = _frame(PRODUCT)
    # any event starts and returns: cohorts by first event of any name (a, b, d, e in week 1; c in week 2)
    classic = rl.cohort_retention(frame, period="week")
    assert _kernel(classic) == [
        (W1, 0, 4, 4),
        (W1, 1, 4, 1),  # d signs up in week 2
        (W1, 2, 4, 1),  # a
        (W1, 3, 4, 1),  # e
        (W2, 0, 1, 1),
        (W2, 1, 1, 0),
        (W2, 2, 1, 1),  # c in week 4
    ]
    rolling = rl.cohort_retention(frame, period="week", kind="rolling")
    # on or after: week 1 cohort, k=1: a (week 3), d (week 2), e (week 4); k=2: a, e; k=3: e
    assert _kernel(rolling) == [
        (W1, 0, 4, 4),
        (W1, 1, 4, 3),
        (W1, 2, 4, 2),
        (W1, 3, 4, 1),
        (W2, 0, 1, 1),
        (W2, 1, 1, 1),
        (W2, 2, 1, 1),
    ]
    assert _kernel(classic) == reference_cohorts(PRODUCT, period="week")
    assert _kernel(rolling) == reference_cohorts(PRODUCT, period="week", kind="rolling")


def test_one_event_name_for_start_and_return_by_hand() -> None:
    uses = rl.cohort_retention(_frame(PRODUCT), period="week", events=["use"])
    # cohorts by first use: a, d, e in week 1 (a again in week 3, e in week 4); c in week 4
    assert _kernel(uses) == [
        (W1, 0, 3, 3),
        (W1, 1, 3, 0),
        (W1, 2, 3, 1),
        (W1, 3, 3, 1),
        (dt.date(2024, 1, 22), 0, 1, 1),
    ]
    assert _kernel(uses) == reference_cohorts(PRODUCT, period="week", start=["use"], returning=["use"])


@needs_start_events
def test_start_event_and_return_event_differ_by_hand() -> None:
    frame = _frame(PRODUCT)
    classic = cohort_retention(frame, period="week", start_events=["signup"], events=["use"])
    # signups: a, b in week 1; c, d in week 2.  Uses: a weeks 1 and 3, c week 4, d week 1 (before its signup)
    assert _kernel(classic) == [
        (W1, 0, 2, 1),  # a used it in its signup week: period 0 is not 100%
        (W1, 1, 2, 0),
        (W1, 2, 2, 1),
        (W1, 3, 2, 0),
        (W2, 0, 2, 0),  # d's use came before its signup: not a return
        (W2, 1, 2, 0),
        (W2, 2, 2, 1),  # c
    ]
    rolling = cohort_retention(frame, period="week", start_events=["signup"], events=["use"], kind="rolling")
    assert _kernel(rolling) == [
        (W1, 0, 2, 1),
        (W1, 1, 2, 1),
        (W1, 2, 2, 1),
        (W1, 3, 2, 0),
        (W2, 0, 2, 1),
        (W2, 1, 2, 1),
        (W2, 2, 2, 1),
    ]
    assert classic["retention"].to_list()[:3] == [0.5, 0.0, 0.5]


@needs_start_events
def test_start_events_need_events() -> None:
    orders = pl.DataFrame(
        {
            "order_id": ["1"],
            "customer_id": ["a"],
            "ordered_at": ["2024-01-01T00:00:00Z"],
            "amount": ["1"],
            "currency": ["EUR"],
        }
    )
    with pytest.raises(rl.OptionError) as caught:
        cohort_retention(orders, start_events=["signup"])
    assert caught.value.option == "start_events"


def test_period_retention_on_events_by_hand() -> None:
    result = rl.retention_rate(_frame(PRODUCT), period="week", events=["use"])
    # uses: week 1 {a, d, e}, week 2 {}, week 3 {a}, week 4 {c, e}
    assert result.select("period", "start", "retained", "new", "reactivated", "end").rows() == [
        (W2, 3, 0, 0, 0, 0),
        (dt.date(2024, 1, 15), 0, 0, 0, 1, 1),
        (dt.date(2024, 1, 22), 1, 0, 1, 1, 2),
    ]
    expected = reference_period_retention(PRODUCT, period="week", returning=["use"])
    assert result.select("period", "start", "retained", "new").rows() == expected


def test_lazy_frame_dataframe_and_dataset_agree() -> None:
    frame = _frame(PRODUCT)
    eager = rl.cohort_retention(frame, period="week", kind="rolling")
    lazy = rl.cohort_retention(frame.lazy(), period="week", kind="rolling").collect()
    dataset = rl.cohort_retention(rl.Dataset(events=frame), period="week", kind="rolling")
    assert eager.equals(lazy) and eager.equals(dataset)


# --- hypothesis against the reference ----------------------------------------------------------------

NAMES = ("signup", "use", "open")


@st.composite
def product_events(draw: st.DrawFn) -> list[Row]:
    n = draw(st.integers(0, 25))
    users = st.sampled_from(["u1", "u2", "u3", "u4", "u5", "u6"])
    seconds = st.integers(0, 120 * 86400 - 1)
    base = _at(2024, 1, 1)
    return [(draw(users), base + dt.timedelta(seconds=draw(seconds)), draw(st.sampled_from(NAMES))) for _ in range(n)]


OPTIONS: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {
        "period": st.sampled_from(["day", "week", "month"]),
        "tz": st.sampled_from(["UTC", "Europe/Paris", "America/Santiago"]),
        "week_start": st.integers(0, 6),
        "as_of": st.sampled_from([None, _at(2024, 2, 10, 13)]),
    }
)


@given(product_events(), st.data())
def test_same_start_and_return_match_the_reference(rows: list[Row], data: st.DataObject) -> None:
    options = data.draw(OPTIONS)
    kind = data.draw(st.sampled_from(["classic", "rolling"]))
    names = data.draw(st.sampled_from([None, ["use"], ["use", "open"]]))
    result = cohort_retention(_frame(rows), kind=kind, events=names, **options)
    expected = reference_cohorts(rows, kind=kind, start=names, returning=names, **options)
    assert _kernel(result) == expected


@needs_start_events
@given(product_events(), st.data())
def test_different_start_and_return_match_the_reference(rows: list[Row], data: st.DataObject) -> None:
    options = data.draw(OPTIONS)
    kind = data.draw(st.sampled_from(["classic", "rolling"]))
    start = data.draw(st.sampled_from([["signup"], ["signup", "open"]]))
    back = data.draw(st.sampled_from([None, ["use"], ["open", "use"]]))
    result = cohort_retention(_frame(rows), kind=kind, start_events=start, events=back, **options)
    expected = reference_cohorts(rows, kind=kind, start=start, returning=back, **options)
    assert _kernel(result) == expected
    # retention is retained over cohort size, whatever period 0 holds
    for size, kept, share in result.select("cohort_size", "active", "retention").rows():
        assert share == pytest.approx(kept / size)


@given(product_events(), st.sampled_from(["day", "week", "month"]), st.sampled_from([None, ["use"]]))
def test_period_retention_matches_the_reference(rows: list[Row], period: str, names: list[str] | None) -> None:
    retention_rate: Any = rl.retention_rate
    result = retention_rate(_frame(rows), period=period, events=names)
    expected = reference_period_retention(rows, period=period, returning=names)
    assert result.select("period", "start", "retained", "new").rows() == expected
