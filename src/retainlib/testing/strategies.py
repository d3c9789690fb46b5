"""Hypothesis strategies for canonical tables (needs hypothesis; re-exported by :mod:`retainlib.testing`).

The strategies draw polars DataFrames with exactly the canonical schema of a
table (``retainlib.tables.TABLES[name].schema``): timestamps aware in UTC,
money as exact decimals with at most two places, unique keys.  They lean on
the cases that break retention code: timestamps exactly at UTC midnight on the
first day of a month (a period boundary) or one microsecond before it, several
rows sharing a timestamp, several rows per customer, zero amounts, subscription
segments that end exactly where the next one starts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

import polars as pl
from hypothesis import strategies as st

from retainlib.errors import OptionError
from retainlib.tables import CURRENCY_PATTERN, TABLES

__all__ = [
    "DEFAULT_END",
    "DEFAULT_START",
    "amounts",
    "customer_ids",
    "customers",
    "damaged",
    "events",
    "orders",
    "responses",
    "subscriptions",
    "tickets",
    "timestamps",
]

#: Default first instant drawn (inclusive).
DEFAULT_START = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
#: Default end of the drawn instants (exclusive).
DEFAULT_END = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)

_US = dt.timedelta(microseconds=1)
_CENT = Decimal("0.01")
_SHOWN = 5  # offending values shown per problem


# --- building blocks --------------------------------------------------------------------


def _check_range(start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    for name, value in (("start", start), ("end", end)):
        if not isinstance(value, dt.datetime) or value.tzinfo is None or value.utcoffset() is None:
            raise OptionError(f"{name} must be an aware datetime, got {value!r}", option=name, value=value)
    start, end = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
    if start >= end:
        raise OptionError(f"start ({start}) must be before end ({end})", option="end", value=end)
    return start, end


def _check_sizes(min_size: int, max_size: int) -> None:
    if not 0 <= min_size <= max_size:
        raise OptionError(
            f"need 0 <= min_size <= max_size, got min_size={min_size}, max_size={max_size}",
            option="max_size",
            value=max_size,
        )


def _month_starts(start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """Every UTC midnight on the 1st of a month in ``[start, end)``."""
    out = []
    month = dt.datetime(start.year, start.month, 1, tzinfo=dt.UTC)
    while month < end:
        if month >= start:
            out.append(month)
        month = month.replace(year=month.year + month.month // 12, month=month.month % 12 + 1)
    return out


def _micros(delta: dt.timedelta) -> int:
    return delta // _US


def timestamps(start: dt.datetime = DEFAULT_START, end: dt.datetime = DEFAULT_END) -> st.SearchStrategy[dt.datetime]:
    """Aware UTC datetimes in ``[start, end)``, often exactly on a period boundary.

    About half are uniform; the others are UTC midnight on the 1st of a month,
    one microsecond before it, UTC midnight of some day, or ``start`` itself.

    Parameters
    ----------
    start, end
        Aware datetimes, ``start < end``; ``end`` is exclusive.

    Returns
    -------
    SearchStrategy[datetime.datetime]
        Datetimes with ``tzinfo=datetime.UTC``.

    Examples
    --------
    >>> import datetime as dt
    >>> from hypothesis import given, settings
    >>> first, end = dt.datetime(2024, 1, 1, tzinfo=dt.UTC), dt.datetime(2024, 7, 1, tzinfo=dt.UTC)
    >>> @settings(max_examples=20, deadline=None)
    ... @given(timestamps(first, end))
    ... def test_in_range(t):
    ...     assert t.tzinfo is dt.UTC and first <= t < end
    >>> test_in_range()
    """
    start, end = _check_range(start, end)
    span = _micros(end - start)
    uniform = st.integers(min_value=0, max_value=span - 1).map(lambda us: start + dt.timedelta(microseconds=us))
    edges: list[st.SearchStrategy[dt.datetime]] = [st.just(start)]
    months = _month_starts(start, end)
    if months:
        edges.append(st.sampled_from(months))
        before = [m - _US for m in months if m - _US >= start]
        if before:
            edges.append(st.sampled_from(before))
    first_midnight = dt.datetime.combine(start.date(), dt.time(0), tzinfo=dt.UTC)
    if first_midnight < start:
        first_midnight += dt.timedelta(days=1)
    if first_midnight < end:
        days = (end - first_midnight - _US).days
        edges.append(st.integers(min_value=0, max_value=days).map(lambda i: first_midnight + dt.timedelta(days=i)))
    return st.one_of(uniform, st.one_of(edges))


def amounts(min_value: Decimal | int = 0, max_value: Decimal | int = 1000) -> st.SearchStrategy[Decimal]:
    """Exact money amounts with at most two decimal places, often 0, 0.01 or a bound.

    Parameters
    ----------
    min_value, max_value
        Bounds (inclusive), with at most two decimal places.

    Returns
    -------
    SearchStrategy[decimal.Decimal]

    Examples
    --------
    >>> from decimal import Decimal
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=20, deadline=None)
    ... @given(amounts(max_value=10))
    ... def test_cents(x):
    ...     assert Decimal(0) <= x <= 10 and x == x.quantize(Decimal("0.01"))
    >>> test_cents()
    """
    low, high = Decimal(min_value), Decimal(max_value)
    if low > high or low != low.quantize(_CENT) or high != high.quantize(_CENT):
        raise OptionError(
            "amounts need min_value <= max_value, each with at most two decimal places",
            option="max_value",
            value=(min_value, max_value),
        )
    edges = sorted({v for v in (low, high, Decimal(0), _CENT) if low <= v <= high})
    return st.one_of(
        st.sampled_from(edges),
        st.decimals(min_value=low, max_value=high, places=2, allow_nan=False, allow_infinity=False),
    ).map(lambda d: d.quantize(_CENT))


def customer_ids(customers: int | Sequence[str] = 10) -> list[str]:
    """The pool of customer ids the strategies draw from.

    Parameters
    ----------
    customers
        A number ``n`` (ids ``"c1"`` .. ``"cn"``) or the ids themselves.

    Examples
    --------
    >>> customer_ids(3)
    ['c1', 'c2', 'c3']
    >>> customer_ids(["ann", "bob"])
    ['ann', 'bob']
    """
    if isinstance(customers, int) and not isinstance(customers, bool):
        pool = [f"c{i}" for i in range(1, customers + 1)]
    elif isinstance(customers, Sequence) and not isinstance(customers, str):
        pool = list(dict.fromkeys(customers))
    else:
        raise OptionError("customers is a number or a sequence of ids", option="customers", value=customers)
    if not pool or not all(isinstance(c, str) and c.strip() for c in pool):
        raise OptionError("customers needs at least one non-empty string id", option="customers", value=customers)
    return pool


def _frame(table: str, columns: dict[str, list[object]]) -> pl.DataFrame:
    return pl.DataFrame(columns, schema=TABLES[table].schema)


def _instant(draw: st.DrawFn, strategy: st.SearchStrategy[dt.datetime], seen: list[dt.datetime]) -> dt.datetime:
    """A timestamp; a third of the time one already drawn (ties)."""
    if seen and draw(st.integers(min_value=0, max_value=2)) == 0:
        return draw(st.sampled_from(seen))
    value = draw(strategy)
    seen.append(value)
    return value


# --- the table strategies ---------------------------------------------------------------


@st.composite
def _orders(
    draw: st.DrawFn,
    min_size: int,
    max_size: int,
    pool: list[str],
    currencies: tuple[str, ...],
    when: st.SearchStrategy[dt.datetime],
    money: st.SearchStrategy[Decimal],
) -> pl.DataFrame:
    n = draw(st.integers(min_value=min_size, max_value=max_size))
    seen: list[dt.datetime] = []
    rows = [
        (
            f"o{i}",
            draw(st.sampled_from(pool)),
            _instant(draw, when, seen),
            draw(money),
            draw(st.sampled_from(currencies)),
        )
        for i in range(1, n + 1)
    ]
    return _frame("orders", _columns("orders", rows))


def _columns(table: str, rows: Sequence[tuple[object, ...]]) -> dict[str, list[object]]:
    names = TABLES[table].schema.names()
    return {name: [row[i] for row in rows] for i, name in enumerate(names)}


def _check_currencies(currencies: Sequence[str]) -> tuple[str, ...]:
    codes = tuple(currencies)
    if not codes or isinstance(currencies, str) or not all(CURRENCY_PATTERN.match(c) for c in codes):
        raise OptionError(
            "currencies is a non-empty sequence of ISO 4217 codes such as ('USD', 'EUR')",
            option="currencies",
            value=currencies,
        )
    return codes


def orders(
    min_size: int = 0,
    max_size: int = 50,
    *,
    customers: int | Sequence[str] = 10,
    currencies: Sequence[str] = ("USD",),
    start: dt.datetime = DEFAULT_START,
    end: dt.datetime = DEFAULT_END,
    max_amount: Decimal | int = 1000,
) -> st.SearchStrategy[pl.DataFrame]:
    """Canonical orders tables.

    Parameters
    ----------
    min_size, max_size
        Bounds on the number of rows.
    customers
        The customer-id pool: a number ``n`` (``"c1"`` .. ``"cn"``) or the ids.
    currencies
        ISO 4217 codes drawn for each order.
    start, end
        ``ordered_at`` lies in ``[start, end)`` (see :func:`timestamps`).
    max_amount
        Largest ``amount``; amounts are 0 .. ``max_amount`` with two places.

    Returns
    -------
    SearchStrategy[polars.DataFrame]
        Frames with the schema ``TABLES["orders"].schema``; ``order_id`` is
        unique (``"o1"``, ``"o2"``...), a third of ``ordered_at`` values repeat
        an earlier one (ties).

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> from retainlib import Dataset
    >>> @settings(max_examples=10, deadline=None)
    ... @given(orders(min_size=1, max_size=10, currencies=("EUR",)))
    ... def test_dataset_accepts_orders(frame):
    ...     assert Dataset(orders=frame).currencies() == ["EUR"]
    >>> test_dataset_accepts_orders()
    """
    _check_sizes(min_size, max_size)
    return _orders(
        min_size,
        max_size,
        customer_ids(customers),
        _check_currencies(currencies),
        timestamps(start, end),
        amounts(0, max_amount),
    )


@st.composite
def _subscriptions(
    draw: st.DrawFn,
    min_size: int,
    max_size: int,
    pool: list[str],
    currencies: tuple[str, ...],
    when: st.SearchStrategy[dt.datetime],
    money: st.SearchStrategy[Decimal],
) -> pl.DataFrame:
    n = draw(st.integers(min_value=min_size, max_value=max_size))
    owners = draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
    counts: dict[str, int] = {}
    for owner in owners:
        counts[owner] = counts.get(owner, 0) + 1
    rows: list[tuple[object, ...]] = []
    for customer, k in counts.items():
        currency = draw(st.sampled_from(currencies))
        bounds = sorted(draw(st.lists(when, min_size=2 * k, max_size=2 * k, unique=True)))
        for i in range(k):
            started = bounds[2 * i]
            last = i == k - 1
            if last:
                ended: dt.datetime | None = None if draw(st.booleans()) else bounds[2 * i + 1]
            else:  # the next segment starts right at the end of this one, or after a gap
                ended = bounds[2 * i + 2] if draw(st.booleans()) else bounds[2 * i + 1]
            rows.append((f"s{len(rows) + 1}", customer, started, ended, draw(money), currency))
    order = draw(st.permutations(range(len(rows))))
    return _frame("subscriptions", _columns("subscriptions", [rows[i] for i in order]))


def subscriptions(
    min_size: int = 0,
    max_size: int = 50,
    *,
    customers: int | Sequence[str] = 10,
    currencies: Sequence[str] = ("USD",),
    start: dt.datetime = DEFAULT_START,
    end: dt.datetime = DEFAULT_END,
    max_mrr: Decimal | int = 500,
) -> st.SearchStrategy[pl.DataFrame]:
    """Canonical subscriptions tables: per customer, non-overlapping consecutive segments.

    A customer's segments follow one another in time without overlapping: a
    segment ends exactly where the next one starts (a price change) or before
    it (churn, then reactivation); the last one may still run (``ended_at``
    null).  A customer keeps one currency.

    Parameters
    ----------
    min_size, max_size
        Bounds on the number of rows (segments).
    customers
        The customer-id pool (see :func:`orders`).
    currencies
        ISO 4217 codes; each customer gets one.
    start, end
        ``started_at`` and ``ended_at`` lie in ``[start, end)``.
    max_mrr
        Largest ``mrr``; values are 0 .. ``max_mrr`` with two places.

    Returns
    -------
    SearchStrategy[polars.DataFrame]
        Frames with the schema ``TABLES["subscriptions"].schema``, rows in
        random order, ``subscription_id`` unique.

    Examples
    --------
    >>> import polars as pl
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10, deadline=None)
    ... @given(subscriptions(max_size=10))
    ... def test_segments_do_not_overlap(frame):
    ...     prev_end = pl.col("ended_at").shift().over("customer_id", order_by="started_at")
    ...     assert frame.filter(pl.col("started_at") < prev_end).height == 0
    >>> test_segments_do_not_overlap()
    """
    _check_sizes(min_size, max_size)
    return _subscriptions(
        min_size,
        max_size,
        customer_ids(customers),
        _check_currencies(currencies),
        timestamps(start, end),
        amounts(0, max_mrr),
    )


@st.composite
def _tickets(
    draw: st.DrawFn, min_size: int, max_size: int, pool: list[str], start: dt.datetime, end: dt.datetime
) -> pl.DataFrame:
    n = draw(st.integers(min_value=min_size, max_value=max_size))
    when = timestamps(start, end)
    seen: list[dt.datetime] = []
    rows: list[tuple[object, ...]] = []
    for i in range(1, n + 1):
        opened = _instant(draw, when, seen)
        solved: dt.datetime | None = None
        satisfaction: str | None = None
        if draw(st.integers(min_value=0, max_value=3)) > 0:
            room = _micros(end - opened) - 1
            wait = draw(st.one_of(st.just(0), st.integers(min_value=0, max_value=room)))
            solved = opened + dt.timedelta(microseconds=wait)
            satisfaction = draw(st.sampled_from([None, "good", "bad"]))
        rows.append((f"t{i}", draw(st.sampled_from(pool)), opened, solved, satisfaction))
    return _frame("tickets", _columns("tickets", rows))


def tickets(
    min_size: int = 0,
    max_size: int = 50,
    *,
    customers: int | Sequence[str] = 10,
    start: dt.datetime = DEFAULT_START,
    end: dt.datetime = DEFAULT_END,
) -> st.SearchStrategy[pl.DataFrame]:
    """Canonical tickets tables.

    Three tickets in four are solved, at or after ``opened_at`` and before
    ``end`` (sometimes at the very instant it was opened); only solved tickets
    carry a satisfaction (``"good"``, ``"bad"`` or null).

    Parameters
    ----------
    min_size, max_size
        Bounds on the number of rows.
    customers
        The customer-id pool (see :func:`orders`).
    start, end
        ``opened_at`` and ``solved_at`` lie in ``[start, end)``.

    Returns
    -------
    SearchStrategy[polars.DataFrame]
        Frames with the schema ``TABLES["tickets"].schema``.

    Examples
    --------
    >>> import polars as pl
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10, deadline=None)
    ... @given(tickets(max_size=10))
    ... def test_solved_after_opened(frame):
    ...     assert frame.filter(pl.col("solved_at") < pl.col("opened_at")).height == 0
    >>> test_solved_after_opened()
    """
    _check_sizes(min_size, max_size)
    s, e = _check_range(start, end)
    return _tickets(min_size, max_size, customer_ids(customers), s, e)


@st.composite
def _responses(
    draw: st.DrawFn, min_size: int, max_size: int, pool: list[str], when: st.SearchStrategy[dt.datetime]
) -> pl.DataFrame:
    n = draw(st.integers(min_value=min_size, max_value=max_size))
    seen: list[dt.datetime] = []
    rows: list[tuple[object, ...]] = [
        (
            f"r{i}",
            draw(st.sampled_from(pool)),
            _instant(draw, when, seen),
            draw(st.one_of(st.sampled_from([0, 6, 7, 8, 9, 10]), st.integers(min_value=0, max_value=10))),
        )
        for i in range(1, n + 1)
    ]
    return _frame("responses", _columns("responses", rows))


def responses(
    min_size: int = 0,
    max_size: int = 50,
    *,
    customers: int | Sequence[str] = 10,
    start: dt.datetime = DEFAULT_START,
    end: dt.datetime = DEFAULT_END,
) -> st.SearchStrategy[pl.DataFrame]:
    """Canonical responses tables (NPS answers), scores 0..10, often on the 6/7 and 8/9 borders.

    Parameters
    ----------
    min_size, max_size
        Bounds on the number of rows.
    customers
        The customer-id pool (see :func:`orders`).
    start, end
        ``responded_at`` lies in ``[start, end)``.

    Returns
    -------
    SearchStrategy[polars.DataFrame]
        Frames with the schema ``TABLES["responses"].schema``.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10, deadline=None)
    ... @given(responses(max_size=10))
    ... def test_scores(frame):
    ...     assert frame["score"].is_between(0, 10).all()
    >>> test_scores()
    """
    _check_sizes(min_size, max_size)
    return _responses(min_size, max_size, customer_ids(customers), timestamps(start, end))


@st.composite
def _events(
    draw: st.DrawFn,
    min_size: int,
    max_size: int,
    pool: list[str],
    names: tuple[str, ...],
    when: st.SearchStrategy[dt.datetime],
) -> pl.DataFrame:
    n = draw(st.integers(min_value=min_size, max_value=max_size))
    seen: list[dt.datetime] = []
    rows: list[tuple[object, ...]] = [
        (draw(st.sampled_from(pool)), _instant(draw, when, seen), draw(st.sampled_from(names))) for _ in range(n)
    ]
    return _frame("events", _columns("events", rows))


def events(
    min_size: int = 0,
    max_size: int = 50,
    *,
    customers: int | Sequence[str] = 10,
    names: Sequence[str] = ("login", "view", "purchase"),
    start: dt.datetime = DEFAULT_START,
    end: dt.datetime = DEFAULT_END,
) -> st.SearchStrategy[pl.DataFrame]:
    """Canonical events tables (product analytics); identical rows may repeat.

    Parameters
    ----------
    min_size, max_size
        Bounds on the number of rows.
    customers
        The customer-id pool (see :func:`orders`).
    names
        Event names drawn for each row.
    start, end
        ``occurred_at`` lies in ``[start, end)``.

    Returns
    -------
    SearchStrategy[polars.DataFrame]
        Frames with the schema ``TABLES["events"].schema``.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10, deadline=None)
    ... @given(events(max_size=10, names=("login",)))
    ... def test_names(frame):
    ...     assert set(frame["event"]) <= {"login"}
    >>> test_names()
    """
    _check_sizes(min_size, max_size)
    if isinstance(names, str) or not names or not all(isinstance(n, str) for n in names):
        raise OptionError("names is a non-empty sequence of event names", option="names", value=names)
    return _events(min_size, max_size, customer_ids(customers), tuple(names), timestamps(start, end))


_NAMES = ("Ann Lee", "bob", "Zoë Ångström", "李雷", "O'Brien, Pat")


@st.composite
def _customers(
    draw: st.DrawFn, min_size: int, max_size: int, pool: list[str], when: st.SearchStrategy[dt.datetime]
) -> pl.DataFrame:
    chosen = draw(st.lists(st.sampled_from(pool), min_size=min_size, max_size=max_size, unique=True))
    seen: list[dt.datetime] = []
    rows: list[tuple[object, ...]] = []
    for customer in chosen:
        number = pool.index(customer) + 1
        email = draw(st.sampled_from([None, f"customer{number}@example.com"]))
        name = draw(st.one_of(st.none(), st.sampled_from(_NAMES)))
        rows.append((customer, _instant(draw, when, seen), email, name))
    return _frame("customers", _columns("customers", rows))


def customers(
    min_size: int = 0,
    max_size: int = 50,
    *,
    customers: int | Sequence[str] = 10,
    start: dt.datetime = DEFAULT_START,
    end: dt.datetime = DEFAULT_END,
) -> st.SearchStrategy[pl.DataFrame]:
    """Canonical customers tables: distinct ids from the pool, normalised e-mails or null.

    Parameters
    ----------
    min_size, max_size
        Bounds on the number of rows; at most the size of the pool.
    customers
        The customer-id pool (see :func:`orders`): use the same pool for the
        other tables so that their ``customer_id`` values meet.
    start, end
        ``created_at`` lies in ``[start, end)``.

    Returns
    -------
    SearchStrategy[polars.DataFrame]
        Frames with the schema ``TABLES["customers"].schema``; ``email`` is
        ``customer<n>@example.com`` (lower-case, unique) or null.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10, deadline=None)
    ... @given(customers(customers=["ann", "bob"]))
    ... def test_ids(frame):
    ...     assert set(frame["customer_id"]) <= {"ann", "bob"}
    >>> test_ids()
    """
    pool = customer_ids(customers)
    _check_sizes(min_size, max_size)
    if min_size > len(pool):
        raise OptionError(
            f"min_size={min_size} customers cannot be drawn from a pool of {len(pool)} ids",
            option="min_size",
            value=min_size,
        )
    return _customers(min_size, min(max_size, len(pool)), pool, timestamps(start, end))


@st.composite
def damaged(draw: st.DrawFn, raw: bytes) -> bytes:
    """The bytes of a file damaged the way files get damaged, to fuzz a source plugin with.

    One damage per draw: a few random bytes inserted, a stray ``"`` inserted,
    the file cut short, re-encoded (``latin-1``, ``cp1252``, ``utf-16``), or
    replaced by random bytes.  Whatever the damage, a read must refuse the
    file with a retainlib error or balance (see
    :func:`retainlib.testing.asserts.assert_read_or_refused`).

    Parameters
    ----------
    raw
        The file's bytes, UTF-8 text.

    Returns
    -------
    SearchStrategy[bytes]
        The damaged bytes.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10, deadline=None)
    ... @given(damaged(b"id,amount\\nch_1,8.00\\n"))
    ... def test_bytes(raw):
    ...     assert isinstance(raw, bytes)
    >>> test_bytes()
    """
    how = draw(st.sampled_from(["insert", "quote", "truncate", "latin-1", "cp1252", "utf-16", "random"]))
    at = draw(st.integers(0, len(raw)))
    if how in ("insert", "quote"):
        inserted = draw(st.binary(min_size=1, max_size=8)) if how == "insert" else b'"'
        return raw[:at] + inserted + raw[at:]
    if how == "truncate":
        return raw[:at]
    if how == "random":
        return draw(st.binary(max_size=200))
    return raw.decode("utf-8", errors="replace").encode(how, errors="replace")
