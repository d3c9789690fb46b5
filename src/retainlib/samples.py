"""A realistic, deterministic synthetic store: every canonical table, at any size.

:func:`synthetic_tables` builds the six canonical tables (customers, orders,
subscriptions, tickets, responses, events) of an imaginary shop that sells
both one-off orders and subscriptions; :func:`synthetic_store` wraps them in a
:class:`~retainlib._dataset.Dataset`.  The data is meant to exercise every
metric of the library (retention, cohorts, repeat purchase, RFM, CLV/BTYD,
MRR movements, NPS, retention after support, survival) and to serve as a
benchmark, so it is generated fully vectorised with numpy and polars and
scales to tens of millions of customers.

The model, in short:

* **Acquisition** grows linearly over the window (each year adds half the
  initial level: x2.5 after three years) with a yearly season (November and December peak, Black Friday week,
  quiet January), a weekly and an hourly (UTC) pattern.  Customer ids follow
  the order of acquisition.
* **Orders** follow a BG/NBD-like process.  Each buyer orders first when
  acquired (``created_at`` equals the first ``ordered_at``), then at a Poisson
  rate drawn from a gamma distribution (a heavy tail of frequent buyers) that
  follows the same season, and after each order drops out for good with a
  probability drawn from a beta distribution (larger for the ``paid`` channel,
  smaller for ``referral``).  About half the buyers order once; slow buyers
  lapse for months and come back.  Amounts come from a lognormal spend level
  per customer times a gamma noise per order, in whole cents.
* **Subscriptions** (about ``subscription_share`` of customers) are chains of
  constant-price segments on three plans (basic 29, pro 99, team 299 per
  month, or 290 / 990 / 2990 per year normalised to ``/ 12`` and rounded to 4
  places): upgrades and downgrades as back-to-back segments, cancellations,
  reactivations after a gap, and segments still running (``ended_at`` null).
* **Support tickets** follow some orders and arrive during subscriptions.
  Resolution times are lognormal (some tickets stay unsolved), slower tickets
  get more bad ratings, and a bad rating *causes* churn: with a fixed
  probability the customer stops ordering at once and cancels the subscription
  a few weeks later.
* **NPS responses** come from a subset of active customers; the score rises
  with the spend level and falls after a bad ticket.
* **Events**: one ``purchase`` per order, a ``session`` before some orders,
  ``session`` events during subscriptions and one at sign-up for customers
  who never buy nor subscribe (about 1.4 events per order overall).

Every frame starts with its canonical columns (``TABLES[name].schema``) and
is sorted by customer then time; ``customers`` adds the segment columns
``country`` and ``channel``, ``subscriptions`` adds ``plan``.  A given seed
always gives the same frames.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs
import numpy as np
import numpy.typing as npt
import polars as pl

from retainlib.errors import OptionError
from retainlib.tables import CURRENCY_PATTERN, MONEY, SATISFACTION, TABLES, TIMESTAMP

if TYPE_CHECKING:
    from retainlib._dataset import Dataset

__all__ = ["synthetic_store", "synthetic_tables", "write_synthetic_exports", "write_synthetic_parquet"]

_F = npt.NDArray[np.float64]
_I = npt.NDArray[np.int64]
_B = npt.NDArray[np.bool_]

_US_PER_SECOND: Final = 1_000_000
_US_PER_DAY: Final = 86_400 * _US_PER_SECOND
_DAYS_PER_MONTH: Final = 365.2425 / 12
_NEVER: Final = int(np.iinfo(np.int64).max)
_EPOCH: Final = dt.date(1970, 1, 1)

#: Customers generated together; each block has its own random stream.
_BLOCK: Final = 1 << 20

# --- segments ---------------------------------------------------------------------------

_COUNTRIES: Final = ("US", "GB", "DE", "FR", "CA", "AU", "NL", "SE")
_COUNTRY_WEIGHTS: Final = (0.42, 0.16, 0.12, 0.08, 0.08, 0.06, 0.04, 0.04)
#: Shift of the log spend level per country.
_COUNTRY_SPEND: Final = (0.10, 0.0, 0.0, -0.05, 0.05, 0.08, -0.05, 0.0)
_CHANNELS: Final = ("organic", "paid", "referral")
_CHANNEL_WEIGHTS: Final = (0.50, 0.35, 0.15)
#: Multiplier of the dropout probability per channel.
_CHANNEL_DROPOUT: Final = (1.0, 1.35, 0.6)

# --- season -----------------------------------------------------------------------------

_MONTH_FACTOR: Final = (0.82, 0.84, 0.93, 0.95, 1.0, 0.95, 0.9, 0.93, 1.0, 1.05, 1.32, 1.45)
_WEEKDAY_FACTOR: Final = (1.06, 1.04, 1.02, 1.0, 0.96, 0.88, 1.04)  # Monday first
_HOUR_FACTOR: Final = (
    *(0.55, 0.42, 0.32, 0.27, 0.27, 0.32, 0.45, 0.65, 0.85, 1.0, 1.1, 1.15),
    *(1.2, 1.2, 1.18, 1.18, 1.2, 1.28, 1.4, 1.52, 1.6, 1.5, 1.2, 0.85),
)
#: Acquisition grows by this share of its initial level per year of the window.
_GROWTH_PER_YEAR: Final = 0.5

# --- purchasing (BG/NBD-like) -----------------------------------------------------------

_SUBSCRIBER_BUYS: Final = 0.5  # share of subscribers who also order
_OTHER_BUYS: Final = 0.92  # share of other customers who order (the rest do nothing)
_RATE_SHAPE: Final = 0.35  # gamma shape of the purchase rate (heavy tail when < 1)
_RATE_SCALE: Final = 1 / 9  # gamma scale of the purchase rate, orders per day
_DROPOUT_A: Final = 1.1
_DROPOUT_B: Final = 4.5
_SPEND_MEDIAN: Final = 42.0  # median spend level, major units
_SPEND_SIGMA: Final = 0.6  # sigma of the log spend level
_AMOUNT_SHAPE: Final = 5.0  # gamma shape of an order's amount around the spend level

# --- subscriptions ----------------------------------------------------------------------

_PLANS: Final = ("basic", "pro", "team")
_PLAN_CENTS_MONTHLY: Final = (2900, 9900, 29900)
_PLAN_CENTS_ANNUAL: Final = (29000, 99000, 299000)
_PLAN_FIRST: Final = (0.55, 0.33, 0.12)
_PLAN_BACK: Final = (0.5, 0.35, 0.15)  # plan chosen when a customer comes back
_MAX_SEGMENTS: Final = 10
_SEGMENTS_P: Final = 0.45  # segments per subscriber ~ geometric(p), capped
_ANNUAL_SHARE: Final = 0.22
_MONTHLY_STAY_P: Final = 0.085  # months of a monthly segment ~ geometric(p)
_ANNUAL_STAY_P: Final = 0.55  # years of an annual segment ~ geometric(p)
_GAP_SHARE: Final = 0.3  # share of transitions that are a cancellation and a later return
_FOREVER_SHARE: Final = 0.35  # share of last segments that never end

# --- support, NPS, events ---------------------------------------------------------------

_TICKET_PER_ORDER: Final = 0.06
_TICKETS_PER_MONTH: Final = 0.06  # while subscribed
_UNSOLVED: Final = 0.05
_RESOLUTION_MEDIAN_H: Final = 14.0
_RESOLUTION_SIGMA: Final = 1.3
_RATED: Final = 0.55
_BAD_CHURN: Final = 0.55  # probability that a bad ticket makes the customer leave
_RESPONDENTS: Final = 0.14
_SESSION_BEFORE_ORDER: Final = 0.3
_SESSIONS_PER_MONTH: Final = 0.2  # while subscribed


# --- options ----------------------------------------------------------------------------


def _check_options(
    customers: object,
    seed: object,
    start: object,
    end: object,
    currency: object,
    subscription_share: object,
    events: object,
) -> None:
    if isinstance(customers, bool) or not isinstance(customers, int) or customers < 0:
        raise OptionError("customers must be a non-negative integer", option="customers", value=customers)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise OptionError("seed must be a non-negative integer", option="seed", value=seed)
    for name, value in (("start", start), ("end", end)):
        if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
            raise OptionError(
                f"{name} must be a datetime.date (the window runs from midnight UTC)",
                option=name,
                value=value,
            )
    assert isinstance(start, dt.date)
    assert isinstance(end, dt.date)
    if end <= start:
        raise OptionError("end must be after start", option="end", value=end)
    if not isinstance(currency, str) or not CURRENCY_PATTERN.match(currency):
        raise OptionError(
            "currency must be an ISO 4217 code of three upper-case letters",
            option="currency",
            value=currency,
        )
    if (
        isinstance(subscription_share, bool)
        or not isinstance(subscription_share, int | float)
        or not 0.0 <= subscription_share <= 1.0
    ):
        raise OptionError(
            "subscription_share must be a number in [0, 1]",
            option="subscription_share",
            value=subscription_share,
        )
    if not isinstance(events, bool):
        raise OptionError("events must be True or False", option="events", value=events)


# --- calendar ---------------------------------------------------------------------------


def _season(epoch_days: _I) -> _F:
    """Daily weight of shopping: month, Black Friday / Christmas, weekday."""
    d64 = epoch_days.astype("datetime64[D]")
    months = d64.astype("datetime64[M]")
    month = months.astype(np.int64) % 12
    day = (d64 - months).astype(np.int64) + 1
    weekday = (epoch_days + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    weight = np.asarray(_MONTH_FACTOR)[month] * np.asarray(_WEEKDAY_FACTOR)[weekday]
    black_friday = ((month == 10) & (day >= 24)) | ((month == 11) & (day <= 2))
    christmas = (month == 11) & (day >= 24) & (day <= 26)
    new_year = (month == 0) & (day == 1)
    weight = np.where(black_friday, weight * 1.6, weight)
    weight = np.where(christmas | new_year, weight * 0.6, weight)
    return np.asarray(weight, dtype=np.float64)


def _reference_season() -> float:
    first = (dt.date(2020, 1, 1) - _EPOCH).days
    last = (dt.date(2024, 1, 1) - _EPOCH).days
    return float(_season(np.arange(first, last, dtype=np.int64)).mean())


_SEASON_MEAN: Final = _reference_season()
_HOURS: Final = np.asarray(_HOUR_FACTOR) / np.mean(_HOUR_FACTOR)


@attrs.frozen
class _Calendar:
    """Hourly intensities over the window, as cumulative "operational" days.

    ``shop`` integrates the shopping intensity (mean 1 over a year, so a rate in
    orders per day keeps its meaning); ``acquire`` integrates the acquisition
    intensity (the same season times growth).  Times are days since ``start``.
    """

    days: int
    grid: _F
    shop: _F
    acquire: _F

    @classmethod
    def of(cls, start: dt.date, end: dt.date) -> _Calendar:
        days = (end - start).days
        first = (start - _EPOCH).days
        daily = _season(np.arange(first, first + days, dtype=np.int64)) / _SEASON_MEAN
        hourly = np.repeat(daily, 24) * np.tile(_HOURS, days) / 24.0
        grid = np.arange(days * 24 + 1, dtype=np.float64) / 24.0
        growth = 1.0 + _GROWTH_PER_YEAR * (grid[:-1] + 1 / 48) / 365.2425
        shop = np.concatenate(([0.0], np.cumsum(hourly)))
        acquire = np.concatenate(([0.0], np.cumsum(hourly * growth)))
        return cls(days=days, grid=grid, shop=shop, acquire=acquire)

    @property
    def end_us(self) -> int:
        """The window's end in microseconds since its start."""
        return self.days * _US_PER_DAY

    def shop_time(self, days: _F) -> _F:
        """Operational shopping time at ``days``."""
        return np.interp(days, self.grid, self.shop)

    def shop_inverse(self, op: _F) -> _F:
        """Days at operational shopping time ``op``."""
        return np.interp(op, self.shop, self.grid)

    def acquisitions(self, rng: np.random.Generator, n: int) -> _I:
        """``n`` sorted acquisition times, microseconds since the start."""
        spacing = rng.standard_exponential(n + 1)
        uniform = np.cumsum(spacing)
        quantiles = uniform[:-1] / uniform[-1] * self.acquire[-1]
        days = np.interp(quantiles, self.acquire, self.grid)
        return _to_us(days, 0, self.end_us)


# --- vector helpers ---------------------------------------------------------------------


def _to_us(days: _F, low: int | _I, high: int) -> _I:
    """Days (float) as integer microseconds, clipped to ``[low, high)``."""
    us = np.floor(days * _US_PER_DAY).astype(np.int64)
    return np.clip(us, low, high - 1)


def _days_us(days: _F) -> _I:
    """A duration in days (float) as integer microseconds."""
    return np.rint(days * _US_PER_DAY).astype(np.int64)


def _group_cumsum(values: _F, counts: _I) -> tuple[_F, _F]:
    """Inclusive cumulative sums within consecutive groups, and the group totals."""
    running = np.concatenate(([0.0], np.cumsum(values)))
    ends = np.cumsum(counts)
    base = running[ends - counts]
    return running[1:] - np.repeat(base, counts), running[ends] - base


def _group_offsets(steps: _I, counts: _I) -> _I:
    """Exclusive cumulative sums within consecutive groups (integers, exact)."""
    running = np.concatenate((np.zeros(1, dtype=np.int64), np.cumsum(steps)))
    ends = np.cumsum(counts)
    base = running[ends - counts]
    return np.asarray(running[:-1] - np.repeat(base, counts), dtype=np.int64)


def _positions(counts: _I) -> _I:
    """0, 1, ... within each of the consecutive groups of the given sizes."""
    total = int(counts.sum())
    starts = np.cumsum(counts) - counts
    return np.arange(total, dtype=np.int64) - np.repeat(starts, counts)


def _sorted(customer: _I, time: _I) -> npt.NDArray[np.intp]:
    """The permutation that sorts rows by customer, then time (stable)."""
    frame = pl.DataFrame({"c": customer, "t": time})
    order = frame.select(pl.arg_sort_by("c", "t", maintain_order=True)).to_series()
    return order.to_numpy().astype(np.intp)


def _uniform_in(rng: np.random.Generator, low: _I, span: _I) -> _I:
    """One uniform integer time in ``[low, low + span)`` per element (``low`` when empty)."""
    return low + np.floor(rng.random(low.size) * span).astype(np.int64)


# --- one block of customers -------------------------------------------------------------


@attrs.define
class _Block:
    """The tables of one block of customers as numpy columns (local customer indices)."""

    created: _I
    country: npt.NDArray[np.int8]
    channel: npt.NDArray[np.int8]
    order_customer: _I
    order_time: _I
    order_cents: _I
    sub_customer: _I
    sub_start: _I
    sub_end: _I  # _NEVER: still running at the end of the window
    sub_mrr: _I  # units of 1/10_000
    sub_plan: npt.NDArray[np.int8]
    ticket_customer: _I
    ticket_opened: _I
    ticket_solved: _I  # _NEVER: not solved
    ticket_rating: npt.NDArray[np.int8]  # 0 good, 1 bad, -1 not rated
    response_customer: _I
    response_time: _I
    response_score: npt.NDArray[np.int8]
    event_customer: _I
    event_time: _I
    event_kind: npt.NDArray[np.int8]  # 0 session, 1 purchase


def _choice(rng: np.random.Generator, weights: tuple[float, ...], n: int) -> npt.NDArray[np.int8]:
    """``n`` draws of 0, 1, ... with the given (relative) weights."""
    p = np.asarray(weights) / np.sum(weights)
    return np.asarray(rng.choice(len(weights), size=n, p=p), dtype=np.int8)


def _block(rng: np.random.Generator, created: _I, cal: _Calendar, share: float, events: bool) -> _Block:
    """Generate everything about the customers acquired at ``created`` (µs since start)."""
    end = cal.end_us
    n = created.size
    country = _choice(rng, _COUNTRY_WEIGHTS, n)
    channel = _choice(rng, _CHANNEL_WEIGHTS, n)
    subscriber = rng.random(n) < share
    buyer = rng.random(n) < np.where(subscriber, _SUBSCRIBER_BUYS, _OTHER_BUYS)

    # --- orders: BG/NBD-like, every buyer orders when acquired -------------------------
    buyers = np.flatnonzero(buyer).astype(np.int64)
    nb = buyers.size
    rate = rng.gamma(_RATE_SHAPE, _RATE_SCALE, nb)
    dropout = rng.beta(_DROPOUT_A, _DROPOUT_B, nb) * np.asarray(_CHANNEL_DROPOUT)[channel[buyers]]
    lifetime_orders = rng.geometric(np.clip(dropout, 1e-6, 0.95))
    start_op = cal.shop_time(created[buyers] / _US_PER_DAY)
    remaining_op = cal.shop[-1] - start_op
    in_window = rng.poisson(rate * remaining_op)
    repeats = np.minimum(lifetime_orders - 1, in_window).astype(np.int64)
    # the first `repeats` of `in_window` uniform order statistics over the remaining time
    spacing, total = _group_cumsum(rng.standard_exponential(int(repeats.sum())), repeats)
    scale = total + rng.gamma((in_window - repeats + 1).astype(np.float64))
    owner = np.repeat(np.arange(nb), repeats)
    repeat_op = start_op[owner] + remaining_op[owner] * (spacing / scale[owner])
    counts = repeats + 1
    order_buyer = np.repeat(np.arange(nb), counts)
    first = np.cumsum(counts) - counts
    is_first = np.zeros(order_buyer.size, dtype=np.bool_)
    is_first[first] = True
    order_customer = buyers[order_buyer]
    order_time = np.empty(order_buyer.size, dtype=np.int64)
    order_time[first] = created[buyers]
    order_time[~is_first] = _to_us(cal.shop_inverse(repeat_op), created[order_customer[~is_first]], end)
    log_spend = (
        math.log(_SPEND_MEDIAN) + np.asarray(_COUNTRY_SPEND)[country[buyers]] + rng.normal(0.0, _SPEND_SIGMA, nb)
    )
    amount = np.exp(log_spend)[order_buyer] * rng.gamma(_AMOUNT_SHAPE, 1 / _AMOUNT_SHAPE, order_buyer.size)
    order_cents = np.maximum(np.rint(amount * 100), 100).astype(np.int64)
    spend_z = np.zeros(n)
    spend_z[buyers] = (log_spend - math.log(_SPEND_MEDIAN)) / _SPEND_SIGMA

    # --- subscriptions: chains of constant-price segments ------------------------------
    subscribers = np.flatnonzero(subscriber).astype(np.int64)
    ns = subscribers.size
    first_created = created[subscribers]
    later = buyer[subscribers] & (rng.random(ns) < 0.6)
    wait = np.minimum(_days_us(rng.exponential(45.0, ns)), (end - first_created) // 2)
    sub_first = first_created + np.where(later, wait, 0)
    segments = np.minimum(rng.geometric(_SEGMENTS_P, ns), _MAX_SEGMENTS).astype(np.int64)
    seg_owner = np.repeat(np.arange(ns), segments)
    nseg = seg_owner.size
    seg_k = _positions(segments)
    last = seg_k == np.repeat(segments - 1, segments)
    annual_taste = rng.random(ns) < _ANNUAL_SHARE
    annual = annual_taste[seg_owner] ^ (rng.random(nseg) < 0.1)
    months = np.where(
        annual,
        12 * rng.geometric(_ANNUAL_STAY_P, nseg),
        rng.geometric(_MONTHLY_STAY_P, nseg),
    )
    duration = _days_us(months * _DAYS_PER_MONTH)
    gap_after = (rng.random(nseg) < _GAP_SHARE) & ~last
    gap = np.where(gap_after, _days_us(20.0 + rng.exponential(110.0, nseg)), 0)
    seg_start = sub_first[seg_owner] + _group_offsets(duration + gap, segments)
    forever = last & (rng.random(nseg) < _FOREVER_SHARE)
    seg_end = np.where(forever, _NEVER, seg_start + duration)
    plan = _plan_chain(rng, seg_k, gap_after)
    seg_customer = subscribers[seg_owner]

    # --- support tickets: after some orders, and while subscribed ----------------------
    ticketed = np.flatnonzero(rng.random(order_time.size) < _TICKET_PER_ORDER)
    order_ticket_time = order_time[ticketed] + _days_us(300 / 86_400 + rng.exponential(2.0, ticketed.size))
    keep = order_ticket_time < end
    ticketed, order_ticket_time = ticketed[keep], order_ticket_time[keep]
    seen = seg_start < end
    span = np.minimum(seg_end, end) - seg_start
    per_segment = np.where(
        seen, rng.poisson(_TICKETS_PER_MONTH * np.maximum(span, 0) / _US_PER_DAY / _DAYS_PER_MONTH), 0
    ).astype(np.int64)
    sub_ticket_seg = np.repeat(np.arange(nseg), per_segment)
    sub_ticket_time = _uniform_in(rng, seg_start[sub_ticket_seg], span[sub_ticket_seg])
    t_customer = np.concatenate((order_customer[ticketed], seg_customer[sub_ticket_seg]))
    t_opened = np.concatenate((order_ticket_time, sub_ticket_time))
    nt = t_opened.size
    hours = np.exp(math.log(_RESOLUTION_MEDIAN_H) + rng.normal(0.0, _RESOLUTION_SIGMA, nt))
    t_solved = t_opened + _days_us(hours / 24.0)
    solved = (rng.random(nt) >= _UNSOLVED) & (t_solved < end)
    t_solved = np.where(solved, t_solved, _NEVER)
    rated = solved & (rng.random(nt) < _RATED)
    bad = rated & (rng.random(nt) < 0.1 + 0.45 * (1.0 - np.exp(-hours / 96.0)))
    rating = np.where(rated, np.where(bad, 1, 0), -1).astype(np.int8)

    # --- a bad ticket makes the customer leave: stop ordering, cancel a bit later -------
    leaves = bad & (rng.random(nt) < _BAD_CHURN)
    left_at = np.full(n, _NEVER, dtype=np.int64)
    np.minimum.at(left_at, t_customer[leaves], t_solved[leaves])
    cancel_at = left_at.copy()
    has_left = left_at < _NEVER
    cancel_at[has_left] += _days_us(1.0 + rng.exponential(20.0, int(has_left.sum())))

    order_kept = order_time <= left_at[order_customer]
    seg_kept = (seg_start < cancel_at[seg_customer]) & (seg_start < end)
    seg_end = np.minimum(seg_end, cancel_at[seg_customer])
    ticket_kept = np.concatenate((order_kept[ticketed], sub_ticket_time < cancel_at[seg_customer[sub_ticket_seg]]))

    order_customer, order_time, order_cents = (
        order_customer[order_kept],
        order_time[order_kept],
        order_cents[order_kept],
    )
    seg_customer, seg_start, seg_end = seg_customer[seg_kept], seg_start[seg_kept], seg_end[seg_kept]
    seg_end = np.where(seg_end >= end, _NEVER, seg_end)
    mrr = _mrr(plan[seg_kept], annual[seg_kept])
    plan = plan[seg_kept]
    t_customer, t_opened, t_solved, rating = (
        t_customer[ticket_kept],
        t_opened[ticket_kept],
        t_solved[ticket_kept],
        rating[ticket_kept],
    )
    t_order = _sorted(t_customer, t_opened)
    t_customer, t_opened, t_solved, rating = (
        t_customer[t_order],
        t_opened[t_order],
        t_solved[t_order],
        rating[t_order],
    )

    # --- NPS: active customers answer now and then ------------------------------------
    last_seen = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last_seen, order_customer, order_time)
    np.maximum.at(last_seen, seg_customer, np.minimum(seg_end, end))
    active = np.flatnonzero(last_seen >= 0)
    answers = np.where(rng.random(active.size) < _RESPONDENTS, 1 + rng.poisson(0.35, active.size), 0)
    r_customer = np.repeat(active, answers)
    r_low = created[r_customer]
    r_high = np.minimum(last_seen[r_customer] + 30 * _US_PER_DAY, end)
    r_time = _uniform_in(rng, r_low, r_high - r_low)
    r_order = _sorted(r_customer, r_time)
    r_customer, r_time = r_customer[r_order], r_time[r_order]
    bad_count = np.bincount(t_customer[rating == 1], minlength=n)
    good_count = np.bincount(t_customer[rating == 0], minlength=n)
    latent = (
        8.0
        + 0.8 * spend_z[r_customer]
        - 2.4 * (bad_count[r_customer] > 0)
        + 0.5 * (good_count[r_customer] > 0)
        + rng.normal(0.0, 1.9, r_customer.size)
    )
    score = np.clip(np.rint(latent), 0, 10).astype(np.int8)

    # --- events ----------------------------------------------------------------------
    if events:
        e_customer, e_time, e_kind = _events(
            rng,
            created=created,
            order_customer=order_customer,
            order_time=order_time,
            seg_customer=seg_customer,
            seg_start=seg_start,
            seg_end=np.minimum(seg_end, end),
            idle=np.flatnonzero(last_seen < 0),
        )
    else:
        e_customer = e_time = np.zeros(0, dtype=np.int64)
        e_kind = np.zeros(0, dtype=np.int8)

    return _Block(
        created=created,
        country=country,
        channel=channel,
        order_customer=order_customer,
        order_time=order_time,
        order_cents=order_cents,
        sub_customer=seg_customer,
        sub_start=seg_start,
        sub_end=seg_end,
        sub_mrr=mrr,
        sub_plan=plan,
        ticket_customer=t_customer,
        ticket_opened=t_opened,
        ticket_solved=t_solved,
        ticket_rating=rating,
        response_customer=r_customer,
        response_time=r_time,
        response_score=score,
        event_customer=e_customer,
        event_time=e_time,
        event_kind=e_kind,
    )


def _plan_chain(rng: np.random.Generator, seg_k: _I, gap_after: _B) -> npt.NDArray[np.int8]:
    """The plan of each segment: a Markov chain along each subscriber's segments.

    Back-to-back segments move one plan up or down (basic only up, team only
    down); after a gap the returning customer picks a plan afresh.
    """
    nseg = seg_k.size
    plan = np.zeros(nseg, dtype=np.int8)
    plan[seg_k == 0] = _choice(rng, _PLAN_FIRST, int((seg_k == 0).sum()))
    back = _choice(rng, _PLAN_BACK, nseg)
    u = rng.random(nseg)
    for k in range(1, int(seg_k.max(initial=0)) + 1):
        at = np.flatnonzero(seg_k == k)
        prev = plan[at - 1]
        moved = np.where(
            prev == 0,
            np.where(u[at] < 0.85, 1, 2),
            np.where(prev == 2, np.where(u[at] < 0.8, 1, 0), np.where(u[at] < 0.45, 2, 0)),
        )
        plan[at] = np.where(gap_after[at - 1], back[at], moved)
    return plan


def _mrr(plan: npt.NDArray[np.int8], annual: _B) -> _I:
    """Monthly recurring revenue in units of 1/10_000 (annual plans: price / 12, half up)."""
    monthly = np.asarray(_PLAN_CENTS_MONTHLY, dtype=np.int64)[plan] * 100
    yearly = (np.asarray(_PLAN_CENTS_ANNUAL, dtype=np.int64)[plan] * 200 + 12) // 24
    return np.asarray(np.where(annual, yearly, monthly), dtype=np.int64)


def _events(
    rng: np.random.Generator,
    *,
    created: _I,
    order_customer: _I,
    order_time: _I,
    seg_customer: _I,
    seg_start: _I,
    seg_end: _I,
    idle: _I,
) -> tuple[_I, _I, npt.NDArray[np.int8]]:
    """Purchases, sessions before some orders, sessions while subscribed, sign-up visits."""
    browsed = np.flatnonzero(rng.random(order_time.size) < _SESSION_BEFORE_ORDER)
    before = order_time[browsed] - _days_us((60.0 + rng.exponential(1200.0, browsed.size)) / 86_400)
    keep = before >= created[order_customer[browsed]]
    span = seg_end - seg_start
    visits = rng.poisson(_SESSIONS_PER_MONTH * span / _US_PER_DAY / _DAYS_PER_MONTH).astype(np.int64)
    visit_seg = np.repeat(np.arange(seg_start.size), visits)
    customer = np.concatenate((order_customer, order_customer[browsed][keep], seg_customer[visit_seg], idle))
    time = np.concatenate(
        (
            order_time,
            before[keep],
            _uniform_in(rng, seg_start[visit_seg], span[visit_seg]),
            created[idle],
        )
    )
    kind = np.concatenate(
        (
            np.ones(order_time.size, dtype=np.int8),
            np.zeros(time.size - order_time.size, dtype=np.int8),
        )
    )
    order = _sorted(customer, time)
    return customer[order], time[order], kind[order]


# --- polars frames ----------------------------------------------------------------------


def _ids(prefix: str, first: int, n: int, width: int) -> pl.Series:
    """``n`` ids ``prefix`` + zero-padded numbers from ``first`` (1-based)."""
    width = max(width, len(str(first + n - 1)))
    numbers = pl.int_range(first + 10**width, first + n + 10**width, dtype=pl.Int64)
    expr = pl.concat_str(pl.lit(prefix), numbers.cast(pl.String).str.slice(1))
    return pl.select(expr.alias("id")).to_series()


def _times(us: _I, origin: int, *, nullable: bool = False) -> pl.Series:
    """Microseconds since the window's start as UTC timestamps (``_NEVER`` is null)."""
    if not nullable:
        return pl.Series(us + origin).cast(TIMESTAMP)
    known = us != _NEVER
    values = pl.Series(np.where(known, us, 0) + origin).cast(TIMESTAMP)
    return pl.select(pl.when(pl.lit(pl.Series(known))).then(pl.lit(values))).to_series()


def _money(units: _I, places: int) -> pl.Series:
    """Integer amounts in units of ``10**-places`` as exact ``MONEY``."""
    return pl.select(pl.lit(pl.Series(units)).cast(MONEY) / 10**places).to_series()


def _labels(names: tuple[str, ...], codes: npt.NDArray[np.int8]) -> pl.Series:
    """The string ``names[code]`` for each code."""
    return pl.Series(names, dtype=pl.String).gather(codes.astype(np.int64))


def _columns(table: str, *, extra: tuple[str, ...] = (), **constants: pl.Expr) -> list[pl.Expr]:
    """The canonical columns of ``table`` then ``extra``; ``constants`` are broadcast literals.

    Literal columns stay constant ("scalar") columns in polars and take no
    memory per row until an operation needs them materialised.
    """
    names = [*TABLES[table].schema.names(), *extra]
    return [constants[n].alias(n) if n in constants else pl.col(n) for n in names]


@attrs.define
class _Counters:
    """Rows written so far per table, for the ids of the next block."""

    orders: int = 0
    subscriptions: int = 0
    tickets: int = 0
    responses: int = 0


def _frames(
    block: _Block,
    *,
    first_customer: int,
    customer_width: int,
    origin: int,
    currency: str,
    counters: _Counters,
    events: bool,
) -> dict[str, pl.DataFrame]:
    """The canonical frames of one block (ids numbered after the previous blocks)."""
    n = block.created.size
    cid = _ids("c", first_customer, n, customer_width)
    customers = pl.DataFrame(
        {
            "customer_id": cid,
            "created_at": _times(block.created, origin),
            "email": (cid + "@example.com"),
            "country": _labels(_COUNTRIES, block.country),
            "channel": _labels(_CHANNELS, block.channel),
        }
    ).select(_columns("customers", name=pl.lit(None, dtype=pl.String), extra=("country", "channel")))
    no = block.order_customer.size
    orders = pl.DataFrame(
        {
            "order_id": _ids("o", counters.orders + 1, no, 9),
            "customer_id": cid.gather(block.order_customer),
            "ordered_at": _times(block.order_time, origin),
            "amount": _money(block.order_cents, 2),
        }
    ).select(_columns("orders", currency=pl.lit(currency, dtype=pl.String)))
    counters.orders += no
    ns = block.sub_customer.size
    subscriptions = pl.DataFrame(
        {
            "subscription_id": _ids("s", counters.subscriptions + 1, ns, 8),
            "customer_id": cid.gather(block.sub_customer),
            "started_at": _times(block.sub_start, origin),
            "ended_at": _times(block.sub_end, origin, nullable=True),
            "mrr": _money(block.sub_mrr, 4),
            "plan": _labels(_PLANS, block.sub_plan),
        }
    ).select(_columns("subscriptions", currency=pl.lit(currency, dtype=pl.String), extra=("plan",)))
    counters.subscriptions += ns
    nt = block.ticket_customer.size
    rating = pl.Series(block.ticket_rating)
    tickets = pl.DataFrame(
        {
            "ticket_id": _ids("t", counters.tickets + 1, nt, 8),
            "customer_id": cid.gather(block.ticket_customer),
            "opened_at": _times(block.ticket_opened, origin),
            "solved_at": _times(block.ticket_solved, origin, nullable=True),
            "satisfaction": pl.select(
                pl.when(pl.lit(rating) == 0)
                .then(pl.lit("good"))
                .when(pl.lit(rating) == 1)
                .then(pl.lit("bad"))
                .cast(SATISFACTION)
            ).to_series(),
        }
    )
    counters.tickets += nt
    nr = block.response_customer.size
    responses = pl.DataFrame(
        {
            "response_id": _ids("r", counters.responses + 1, nr, 8),
            "customer_id": cid.gather(block.response_customer),
            "responded_at": _times(block.response_time, origin),
            "score": pl.Series(block.response_score, dtype=pl.Int8),
        }
    )
    counters.responses += nr
    frames = {
        "customers": customers,
        "orders": orders,
        "subscriptions": subscriptions,
        "tickets": tickets,
        "responses": responses,
    }
    if events:
        frames["events"] = pl.DataFrame(
            {
                "customer_id": cid.gather(block.event_customer),
                "occurred_at": _times(block.event_time, origin),
                "event": _labels(("session", "purchase"), block.event_kind),
            }
        )
    return frames


def _empty(name: str, extra: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(schema={**TABLES[name].schema, **extra})


# --- public API -------------------------------------------------------------------------


def _blocks(
    customers: int,
    seed: int,
    start: dt.date,
    end: dt.date,
    currency: str,
    subscription_share: float,
    events: bool,
) -> Iterator[dict[str, pl.DataFrame]]:
    """The canonical frames block by block (about a million customers each), options already checked."""
    cal = _Calendar.of(start, end)
    rng = np.random.default_rng(seed)
    created = cal.acquisitions(rng, customers)
    n_blocks = max(1, -(-customers // _BLOCK))
    streams = rng.spawn(n_blocks)
    origin = (start - _EPOCH).days * _US_PER_DAY
    width = max(7, len(str(customers)))
    counters = _Counters()
    for b, stream in enumerate(streams):
        lo, hi = b * _BLOCK, min(customers, (b + 1) * _BLOCK)
        block = _block(stream, created[lo:hi], cal, float(subscription_share), events)
        frames = _frames(
            block,
            first_customer=lo + 1,
            customer_width=width,
            origin=origin,
            currency=currency,
            counters=counters,
            events=events,
        )
        del block
        yield frames


def synthetic_tables(
    customers: int = 10_000,
    *,
    seed: int = 0,
    start: dt.date = dt.date(2022, 1, 1),
    end: dt.date = dt.date(2025, 1, 1),
    currency: str = "USD",
    subscription_share: float = 0.3,
    events: bool = True,
) -> dict[str, pl.DataFrame]:
    """Generate the canonical tables of a realistic synthetic store.

    Parameters
    ----------
    customers
        Number of customers (rows of ``customers``).  About 80 % of them order
        (some only subscribe, some do nothing); there are about 3.5 orders per
        customer.
    seed
        Seed of ``numpy.random.default_rng``; the same seed (and options)
        always gives the same frames.
    start, end
        The window ``[start, end)``, from midnight UTC.  Every timestamp falls
        inside it.
    currency
        ISO 4217 code (three upper-case letters) of every amount.
    subscription_share
        Expected share of customers who subscribe, in ``[0, 1]``.
    events
        Also generate the ``events`` table.

    Returns
    -------
    dict[str, polars.DataFrame]
        Frames for ``"customers"``, ``"orders"``, ``"subscriptions"``,
        ``"tickets"``, ``"responses"`` and, when ``events`` is true,
        ``"events"``.  Each starts with the canonical columns of its table
        (``TABLES[name].schema``, same order and types) and is sorted by
        customer and time.  ``customers`` adds ``country`` and ``channel``
        (``"organic"``, ``"paid"``, ``"referral"``), ``subscriptions`` adds
        ``plan`` (``"basic"``, ``"pro"``, ``"team"``).  Ids are unique strings
        (``"c0000001"``, ``"o000000001"``, ``"s00000001"``, ``"t00000001"``,
        ``"r00000001"``) numbered in that order.

    Raises
    ------
    OptionError
        ``customers`` or ``seed`` negative, ``end <= start``, a bad currency
        code, ``subscription_share`` outside ``[0, 1]``.

    Notes
    -----
    See the module docstring for the model.  Generation is vectorised and runs
    by blocks of about a million customers, each with its own random stream
    spawned from ``seed``, so memory beyond the result stays bounded.

    Examples
    --------
    >>> tables = synthetic_tables(1_000, seed=7)
    >>> tables["customers"].height
    1000
    """
    _check_options(customers, seed, start, end, currency, subscription_share, events)
    parts: dict[str, list[pl.DataFrame]] = {}
    for frames in _blocks(customers, seed, start, end, currency, subscription_share, events):
        for name, frame in frames.items():
            parts.setdefault(name, []).append(frame)
    result = {name: pl.concat(frames, rechunk=False) for name, frames in parts.items()}
    extras: dict[str, dict[str, Any]] = {
        "customers": {"country": pl.String, "channel": pl.String},
        "subscriptions": {"plan": pl.String},
    }
    for name, frame in result.items():
        expected = _empty(name, extras.get(name, {})).schema
        assert frame.schema == expected, (name, frame.schema, expected)
    return result


def synthetic_store(
    customers: int = 10_000,
    *,
    seed: int = 0,
    start: dt.date = dt.date(2022, 1, 1),
    end: dt.date = dt.date(2025, 1, 1),
    currency: str = "USD",
    subscription_share: float = 0.3,
    events: bool = True,
) -> Dataset:
    """A :class:`~retainlib._dataset.Dataset` over :func:`synthetic_tables`.

    Parameters
    ----------
    customers, seed, start, end, currency, subscription_share, events
        As for :func:`synthetic_tables`.

    Returns
    -------
    Dataset
        The tables, checked against the canonical schema (``validate="schema"``),
        with ``source="synthetic"``.

    Raises
    ------
    OptionError
        As for :func:`synthetic_tables`.
    """
    from retainlib._dataset import Dataset

    tables = synthetic_tables(
        customers,
        seed=seed,
        start=start,
        end=end,
        currency=currency,
        subscription_share=subscription_share,
        events=events,
    )
    return Dataset(
        customers=tables["customers"],
        orders=tables["orders"],
        subscriptions=tables["subscriptions"],
        tickets=tables["tickets"],
        responses=tables["responses"],
        events=tables.get("events"),
        validate="schema",
        source="synthetic",
    )


def write_synthetic_parquet(
    folder: str | Path,
    customers: int = 10_000,
    *,
    seed: int = 0,
    start: dt.date = dt.date(2022, 1, 1),
    end: dt.date = dt.date(2025, 1, 1),
    currency: str = "USD",
    subscription_share: float = 0.3,
    events: bool = False,
) -> Path:
    """Write the synthetic store to a Parquet dataset folder, block by block; return the folder.

    The same tables as :func:`synthetic_tables` with the same arguments (equal
    rows, in the same order), but each table is written as a folder of part
    files (``folder/orders/part-00000.parquet``, ...), one per block of about
    a million customers, so memory stays bounded by one block whatever the
    size: 100M orders (about 28M customers) are written without holding them.
    :meth:`retainlib.Dataset.read_parquet` reads the folder back lazily.

    Raises
    ------
    OptionError
        As for :func:`synthetic_tables`.
    """
    import json

    _check_options(customers, seed, start, end, currency, subscription_share, events)
    root = Path(folder)
    for b, frames in enumerate(_blocks(customers, seed, start, end, currency, subscription_share, events)):
        for name, frame in frames.items():
            (root / name).mkdir(parents=True, exist_ok=True)
            frame.write_parquet(root / name / f"part-{b:05d}.parquet")
    meta = {"format": "retainlib-dataset", "version": 1, "source": "synthetic"}
    (root / "retainlib.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return root


def write_synthetic_exports(
    folder: str | Path,
    customers: int = 2_000,
    *,
    seed: int = 0,
    shop_tz: str = "America/New_York",
    start: dt.date = dt.date(2022, 1, 1),
    end: dt.date = dt.date(2025, 1, 1),
    currency: str = "USD",
    stripe: bool = False,
) -> dict[str, list[Path]]:
    """Write the synthetic store as the files its systems would export; return them by source.

    The shop's orders and customers as a Shopify admin export
    (``folder/shopify/orders_export_1.csv``, ``customers_export.csv``, times in
    ``shop_tz``), its support tickets as a Zendesk tickets export
    (``folder/zendesk/tickets.csv``, times in UTC) and its NPS responses as a
    Typeform responses download (``folder/typeform/responses.csv``).  Each
    system keys customers its own way; the e-mails are the same across them,
    so the datasets read from these files merge by e-mail
    (``rl.merge([...], match_ids=False)``).  Reading them needs the plugins
    ``retainlib-shopify``, ``retainlib-support`` and ``retainlib-surveys``.

    With ``stripe=True``, the same store's orders, customers and subscriptions
    are also written as Stripe Dashboard exports
    (``folder/stripe/unified_payments.csv``, ``customers.csv``,
    ``subscriptions.csv``, times in UTC, the store's ids), read by the
    ``stripe`` source (plugin ``retainlib-stripe``) into the same orders,
    customers and subscriptions.  The payments are the shop's orders seen by
    the payment processor: read the Stripe files or the Shopify ones, not both
    into one dataset.

    Returns
    -------
    dict[str, list[Path]]
        ``{"shopify": [...], "zendesk": [...], "typeform": [...]}`` (and
        ``"stripe": [...]``): the files to give ``rl.read`` with each source.

    Raises
    ------
    OptionError
        As for :func:`synthetic_tables`.
    """
    from retainlib._exports import shopify, surveys, zendesk
    from retainlib._exports import stripe as stripe_exports

    store = synthetic_store(customers, seed=seed, start=start, end=end, currency=currency, events=False)
    root = Path(folder)
    (root / "typeform").mkdir(parents=True, exist_ok=True)
    files = {
        "shopify": [
            *shopify.write_orders_export(store, root / "shopify", shop_tz=shop_tz),
            shopify.write_customers_export(store, root / "shopify"),
        ],
        "zendesk": [zendesk.write_tickets_csv(store, root / "zendesk")],
        "typeform": [surveys.write_typeform_export(store, root / "typeform" / "responses.csv")],
    }
    if stripe:
        files["stripe"] = [
            stripe_exports.write_payments_export(store, root / "stripe"),
            stripe_exports.write_customers_export(store, root / "stripe"),
            stripe_exports.write_subscriptions_export(store, root / "stripe"),
        ]
    return files
