"""Plain-Python reference implementations of the spec, for checking the polars kernels.

Written straight from ``shared/spec/metrics.md`` with loops over Python
objects: slow, simple and obviously right.  Periods are computed here with
zoneinfo and date arithmetic only, independently of ``retainlib.calendar``.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any, NamedTuple

ONE_US = dt.timedelta(microseconds=1)


def local_date(t: dt.datetime, tz: str) -> dt.date:
    return t.astimezone(zoneinfo.ZoneInfo(tz)).date()


def period_start(d: dt.date, period: str, week_start: int = 0) -> dt.date:
    if period == "day":
        return d
    if period == "week":
        return d - dt.timedelta(days=(d.weekday() - week_start) % 7)
    if period == "month":
        return d.replace(day=1)
    if period == "quarter":
        return dt.date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)
    return dt.date(d.year, 1, 1)


def next_period(start: dt.date, period: str) -> dt.date:
    if period == "day":
        return start + dt.timedelta(days=1)
    if period == "week":
        return start + dt.timedelta(days=7)
    months = {"month": 1, "quarter": 3, "year": 12}[period]
    m = start.month - 1 + months
    return dt.date(start.year + m // 12, m % 12 + 1, 1)


def periods_from(first: dt.date, last: dt.date, period: str) -> list[dt.date]:
    out = [first]
    while out[-1] < last:
        out.append(next_period(out[-1], period))
    assert out[-1] == last
    return out


def day_start(d: dt.date, tz: str) -> dt.datetime:
    """First instant of local day d, found by scanning UTC instants on a 15-minute grid.

    Every UTC offset and every DST transition in the tz database falls on a
    15-minute boundary, so the first grid instant whose local date is d is exact.
    """
    zone = zoneinfo.ZoneInfo(tz)
    t = dt.datetime.combine(d, dt.time(0), tzinfo=dt.UTC) - dt.timedelta(hours=15)
    while t.astimezone(zone).date() < d:
        t += dt.timedelta(minutes=15)
    assert t.astimezone(zone).date() == d, f"day {d} does not exist in {tz}"
    return t


class Order(NamedTuple):
    customer: str
    at: dt.datetime
    amount: Decimal
    segment: str | None


class Window(NamedTuple):
    periods: list[dt.date]
    end: dt.datetime  # last timestamp (inclusive) or as_of (exclusive)
    inclusive: bool


def order_window(
    orders: Sequence[Order], period: str, tz: str, week_start: int, as_of: dt.datetime | None
) -> tuple[list[Order], Window | None]:
    kept = [o for o in orders if as_of is None or o.at < as_of]
    if not kept:
        return kept, None
    first = min(period_start(local_date(o.at, tz), period, week_start) for o in kept)
    if as_of is None:
        end = max(o.at for o in orders)
        last = period_start(local_date(end, tz), period, week_start)
    else:
        end = as_of
        last = period_start(local_date(as_of - ONE_US, tz), period, week_start)
    last = max(last, first)
    return kept, Window(periods_from(first, last, period), end, as_of is None)


def complete(p: dt.date, period: str, tz: str, w: Window) -> bool:
    return day_start(next_period(p, period), tz) <= w.end


def retention_rate(
    orders: Sequence[Order], *, period: str, tz: str, week_start: int = 0, as_of: dt.datetime | None = None
) -> list[dict[str, Any]]:
    kept, w = order_window(orders, period, tz, week_start, as_of)
    if w is None:
        return []
    active: dict[dt.date, set[str]] = defaultdict(set)
    for o in kept:
        active[period_start(local_date(o.at, tz), period, week_start)].add(o.customer)
    first_period: dict[str, dt.date] = {}
    for p in sorted(active):
        for c in active[p]:
            first_period.setdefault(c, p)
    rows = []
    for prev, p in zip(w.periods, w.periods[1:], strict=False):
        a_prev, a_now = active.get(prev, set()), active.get(p, set())
        start, end = len(a_prev), len(a_now)
        new = sum(1 for c in a_now if first_period[c] == p)
        retained = len(a_prev & a_now)
        reactivated = sum(1 for c in a_now if c not in a_prev and first_period[c] < p)
        churned = start - retained
        rows.append(
            {
                "period": p,
                "is_complete": complete(p, period, tz, w),
                "start": start,
                "new": new,
                "retained": retained,
                "reactivated": reactivated,
                "churned": churned,
                "end": end,
                "retention_rate": None if start == 0 else retained / start,
                "churn_rate": None if start == 0 else churned / start,
                "crr": None if start == 0 else (end - new) / start,
            }
        )
    return rows


def cohort_retention(
    orders: Sequence[Order], *, period: str, tz: str, kind: str = "classic", as_of: dt.datetime | None = None
) -> list[dict[str, Any]]:
    kept, w = order_window(orders, period, tz, 0, as_of)
    if w is None:
        return []
    index = {p: i for i, p in enumerate(w.periods)}
    active: dict[str, dict[int, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for o in kept:
        active[o.customer][index[period_start(local_date(o.at, tz), period)]] += o.amount
    cohorts: dict[int, list[str]] = defaultdict(list)
    for c, periods in active.items():
        cohorts[min(periods)].append(c)
    rows = []
    for cohort in sorted(cohorts):
        members = cohorts[cohort]
        size = len(members)
        cumulative = Decimal(0)
        revenue0 = None
        for k in range(len(w.periods) - cohort):
            if kind == "classic":
                n = sum(1 for c in members if cohort + k in active[c])
            else:
                n = sum(1 for c in members if max(active[c]) >= cohort + k)
            revenue = sum((active[c].get(cohort + k, Decimal(0)) for c in members), Decimal(0))
            revenue0 = revenue if k == 0 else revenue0
            cumulative += revenue
            rows.append(
                {
                    "cohort": w.periods[cohort],
                    "period_number": k,
                    "is_complete": complete(w.periods[cohort + k], period, tz, w),
                    "cohort_size": size,
                    "active": n,
                    "retention": n / size,
                    "revenue": revenue,
                    "revenue_retention": None if not revenue0 else float(Fraction(revenue) / Fraction(revenue0)),
                    "cumulative_revenue_per_customer": float(Fraction(cumulative) / size),
                }
            )
    return rows


def repeat_purchase_rate(orders: Iterable[Order], as_of: dt.datetime | None = None) -> tuple[int, int]:
    counts: dict[str, int] = defaultdict(int)
    for o in orders:
        if as_of is None or o.at < as_of:
            counts[o.customer] += 1
    return len(counts), sum(1 for n in counts.values() if n >= 2)


def repeat_within(
    orders: Sequence[Order], *, period: str, tz: str, within: int, as_of: dt.datetime | None = None
) -> list[tuple[dt.date, int, int]]:
    kept, w = order_window(orders, period, tz, 0, as_of)
    if w is None:
        return []
    index = {p: i for i, p in enumerate(w.periods)}
    times: dict[str, list[int]] = defaultdict(list)
    for o in kept:
        times[o.customer].append(index[period_start(local_date(o.at, tz), period)])
    by_cohort: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for ts in times.values():
        ts.sort()
        entry = by_cohort[ts[0]]
        entry[0] += 1
        if len(ts) >= 2 and ts[1] - ts[0] <= within:
            entry[1] += 1
    return [(w.periods[c], n, r) for c, (n, r) in sorted(by_cohort.items())]


def returning_customer_rate(
    orders: Sequence[Order], *, period: str, tz: str, as_of: dt.datetime | None = None
) -> list[tuple[dt.date, int, int]]:
    kept, w = order_window(orders, period, tz, 0, as_of)
    if w is None:
        return []
    rows = []
    for p in w.periods:
        end = next_period(p, period)
        buyers = {o.customer for o in kept if period_start(local_date(o.at, tz), period) == p}
        returning = sum(
            1 for c in buyers if sum(1 for o in kept if o.customer == c and local_date(o.at, tz) < end) >= 2
        )
        rows.append((p, len(buyers), returning))
    return rows


class Segment(NamedTuple):
    customer: str
    start: dt.datetime
    end: dt.datetime | None
    mrr: Decimal
    currency: str
    segment: str | None


def mrr_movements(
    segments: Sequence[Segment], *, period: str, tz: str, as_of: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Spec "Subscription revenue", straight from the definitions, with snapshots at period starts."""
    kept = [s for s in segments if as_of is None or s.start < as_of]
    if not kept:
        return []
    first = min(period_start(local_date(s.start, tz), period) for s in kept)
    if as_of is None:
        end = max([s.start for s in kept] + [s.end for s in kept if s.end is not None])
        last = period_start(local_date(end, tz), period)
    else:
        end = as_of
        last = period_start(local_date(as_of - ONE_US, tz), period)
    last = max(first, last)
    ps = periods_from(first, last, period)

    def running(c: str, tau: dt.datetime) -> Decimal:
        total = Decimal(0)
        for s in kept:
            if s.customer == c and s.mrr > 0 and s.start <= tau and (s.end is None or tau < s.end):
                total += s.mrr
        return total

    customers = sorted({s.customer for s in kept})
    rows = []
    for p in ps:
        tau0, tau1 = day_start(p, tz), day_start(next_period(p, period), tz)
        row: dict[str, Any] = {k: Decimal(0) for k in ("new", "reactivation", "expansion", "contraction", "churn")}
        m_start = m_end = Decimal(0)
        n_start = n_churned = 0
        for c in customers:
            m0, m1 = running(c, tau0), running(c, tau1)
            m_start += m0
            m_end += m1
            n_start += m0 > 0
            active_before = any(
                s.customer == c and s.mrr > 0 and s.start < tau0 and (s.end is None or s.end > s.start) for s in kept
            )
            if m0 == 0 and m1 > 0:
                row["reactivation" if active_before else "new"] += m1
            elif m0 > 0 and m1 > 0 and m1 > m0:
                row["expansion"] += m1 - m0
            elif m0 > 0 and m1 > 0 and m1 < m0:
                row["contraction"] += m0 - m1
            elif m0 > 0 and m1 == 0:
                row["churn"] += m0
                n_churned += 1
        lost = row["contraction"] + row["churn"]
        rows.append(
            {
                "period": p,
                "is_complete": tau1 <= end,
                "mrr_start": m_start,
                **row,
                "mrr_end": m_end,
                "customers_start": n_start,
                "customers_churned": n_churned,
                "logo_churn_rate": None if n_start == 0 else n_churned / n_start,
                "gross_revenue_retention": None if m_start == 0 else float((m_start - lost) / m_start),
                "net_revenue_retention": None if m_start == 0 else float((m_start + row["expansion"] - lost) / m_start),
                "quick_ratio": None
                if lost == 0
                else float((row["new"] + row["reactivation"] + row["expansion"]) / lost),
            }
        )
    return rows
