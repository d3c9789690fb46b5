"""The value parsers of the CRM sources: Salesforce ids, times, locale numbers, money, booleans.

Hand-computed examples, and property tests against small independent
implementations written here.
"""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Sequence
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from retainlib_crm._options import LOCALES, Locale
from retainlib_crm._values import (
    Parsed,
    boolean,
    instant,
    label,
    locale_money,
    money,
    salesforce_id,
    staged,
)

UTC = dt.UTC
ALNUM = string.ascii_letters + string.digits
SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def run(parsed: Parsed, values: Sequence[str | None]) -> list[tuple[object, object]]:
    """(value, why) of each text."""
    frame = staged(pl.DataFrame({"x": values}, schema={"x": pl.String}).lazy(), [parsed])
    out = frame.select(parsed.value.alias("value"), parsed.why.alias("why")).collect()
    return list(out.iter_rows())


def reference_id(id15: str) -> str:
    """The 18-character form of a 15-character id, computed the way Salesforce documents it."""
    suffix = ""
    for block in range(3):
        chunk = id15[block * 5 : block * 5 + 5]
        suffix += SUFFIX[sum(1 << j for j, ch in enumerate(chunk) if "A" <= ch <= "Z")]
    return id15 + suffix


# --- Salesforce ids ---------------------------------------------------------------------------------------


def test_the_ids_of_a_real_export() -> None:
    got = run(salesforce_id(pl.col("x"), "x"), ["001dN00000v2DEw", "001dN00000v2DEwQAM", "003dN00000Nrnwc"])
    assert got == [("001dN00000v2DEwQAM", None), ("001dN00000v2DEwQAM", None), ("003dN00000NrnwcQAB", None)]


def test_empty_lookups_and_bad_ids() -> None:
    got = run(
        salesforce_id(pl.col("x"), "x"),
        ["000000000000000AAA", "000000000000000", None, "001XYZ", "001dN00000v2DEw!!!", "001dN00000v2DEwQAA"],
    )
    assert got == [
        (None, None),
        (None, None),
        (None, None),
        (None, "not a Salesforce id (15 or 18 letters and digits)"),
        (None, "not a Salesforce id (15 or 18 letters and digits)"),
        (None, "not a valid Salesforce id (its last 3 characters do not match the first 15)"),
    ]


@given(st.text(alphabet=ALNUM, min_size=15, max_size=15))
def test_15_and_18_character_ids_are_one_id_whatever_their_case(id15: str) -> None:
    full = reference_id(id15)
    assume(full[:15] != "0" * 15)
    forms = [id15, full, full.lower(), full.upper(), full[:15] + full[15:].lower()]
    got = run(salesforce_id(pl.col("x"), "x"), forms)
    assert got == [(full, None)] * len(forms)


@given(st.text(alphabet=ALNUM, min_size=15, max_size=15), st.integers(0, 14))
def test_an_18_character_id_whose_case_disagrees_with_its_suffix_is_refused(id15: str, at: int) -> None:
    assume(id15[at].isalpha())
    flipped = id15[:at] + id15[at].swapcase() + id15[at + 1 :]
    # still of both cases: nothing says which case was lost
    assume(any(c.islower() for c in flipped) and any(c.isupper() for c in flipped))
    ((value, why),) = run(salesforce_id(pl.col("x"), "x"), [flipped + reference_id(id15)[15:]])
    assert value is None
    assert why == "not a valid Salesforce id (its last 3 characters do not match the first 15)"


# --- times ------------------------------------------------------------------------------------------------


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-01 10:00", at(2024, 3, 1, 9)),  # HubSpot: no seconds, local (Paris, winter)
        ("2024-07-01 10:00:30", at(2024, 7, 1, 8, 0, 30)),  # summer
        ("2024-03-01T10:00:00Z", at(2024, 3, 1, 10)),  # with its offset: no zone needed
        ("2024-03-01T10:00:00.000+0530", at(2024, 3, 1, 4, 30)),
        ("2024-03-01 10:00:00 UTC", at(2024, 3, 1, 10)),
        ("2024-03-01", at(2024, 2, 29, 23)),  # a date: the midnight starting it
        ("2024-10-27 02:30", at(2024, 10, 27, 0, 30)),  # repeated by the clock change: the first one
    ],
)
def test_local_times_in_a_zone(text: str, expected: dt.datetime) -> None:
    parsed = instant(pl.col("x"), "x", zone="Europe/Paris", date_zone="Europe/Paris", order=None, numeric=False)
    assert run(parsed, [text]) == [(expected, None)]


def test_times_that_cannot_be_read() -> None:
    parsed = instant(pl.col("x"), "x", zone="Europe/Paris", date_zone="UTC", order=None, numeric=False, hint="h")
    got = run(parsed, ["2024-03-31 02:30", "2024-02-30 10:00", "tomorrow", "3/1/2024", None])
    assert got == [
        (None, "a local time that does not exist in Europe/Paris (skipped by a clock change)"),
        (None, "not a date and time (h)"),
        (None, "not a date and time (h)"),
        (None, "not a date and time (h)"),  # HubSpot writes no numeric dates of locales
        (None, None),
    ]


def test_local_times_without_a_zone_are_flagged_not_guessed() -> None:
    parsed = instant(pl.col("x"), "x", zone=None, date_zone="UTC", order=None)
    frame = staged(pl.DataFrame({"x": ["2024-03-01 10:00", "2024-03-01", "2024-03-01T10:00:00Z"]}).lazy(), [parsed])
    out = frame.select(parsed.value, parsed.why, parsed.needs_zone).collect()
    assert out.rows() == [(None, None, True), (at(2024, 3, 1), None, False), (at(2024, 3, 1, 10), None, False)]


@pytest.mark.parametrize(
    ("locale", "text", "expected"),
    [
        ("en_US", "3/1/2024 1:05 PM", at(2024, 3, 1, 13, 5)),
        ("en_US", "3/1/2024 12:05 AM", at(2024, 3, 1, 0, 5)),
        ("en_US", "12/31/2025", at(2025, 12, 31)),
        ("en_GB", "01/03/2024 13:05", at(2024, 3, 1, 13, 5)),
        ("de_DE", "01.03.2024 13:05", at(2024, 3, 1, 13, 5)),
        ("nl_NL", "1-3-2024 13:05", at(2024, 3, 1, 13, 5)),
        ("ja_JP", "2024/03/01 13:05", at(2024, 3, 1, 13, 5)),
    ],
)
def test_numeric_dates_of_locales(locale: str, text: str, expected: dt.datetime) -> None:
    order = LOCALES[locale].order
    parsed = instant(pl.col("x"), "x", zone="UTC", date_zone="UTC", order=order)
    assert run(parsed, [text]) == [(expected, None)]


def test_day_month_order_is_flagged_without_a_locale_unless_plain() -> None:
    parsed = instant(pl.col("x"), "x", zone="UTC", date_zone="UTC", order=None)
    frame = staged(pl.DataFrame({"x": ["3/1/2024", "01.03.2024", "2024/03/01"]}).lazy(), [parsed])
    out = frame.select(parsed.value, parsed.needs_locale).collect()
    assert out.rows() == [(None, True), (at(2024, 3, 1), False), (at(2024, 3, 1), False)]


def test_calendar_dates_drop_their_time_of_day() -> None:
    parsed = instant(pl.col("x"), "x", zone="UTC", date_zone="America/New_York", order=None, as_date=True)
    got = run(parsed, ["2026-07-01 00:00:00", "2026-07-01", "2026-07-01T23:00:00Z"])
    # midnight in New York (-04:00 in summer); an instant with an offset is first taken to New York's day
    assert got == [(at(2026, 7, 1, 4), None), (at(2026, 7, 1, 4), None), (at(2026, 7, 1, 4), None)]


# --- money, locale numbers, booleans, labels --------------------------------------------------------------------


def test_plain_money() -> None:
    got = run(money(pl.col("x"), "x"), ["1.0", "1200", "0.12345", "0.12340", "1e3", "1,000", "-5", "9" * 21, None])
    assert got == [
        (Decimal("1"), None),
        (Decimal("1200"), None),
        (None, "more than 4 decimal places"),
        (Decimal("0.1234"), None),
        (None, "not a number"),
        (None, "not a number"),
        (None, "negative"),
        (None, "out of range (at most 20 integer digits)"),
        (None, None),
    ]


def written(amount: Decimal, locale: Locale) -> str:
    """``amount`` as the locale writes it in a report: digits grouped by thousands."""
    text = f"{amount:,.2f}"  # 1,234.56
    if locale.decimal == ",":
        group = "\u202f" if locale.name == "fr_FR" else "."
        return text.replace(",", "\x00").replace(".", ",").replace("\x00", group)
    return text.replace(",", "'") if locale.name == "de_CH" else text


@given(
    st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False),
    st.sampled_from(sorted(LOCALES)),
)
def test_locale_numbers_read_back(amount: Decimal, name: str) -> None:
    locale = LOCALES[name]
    ((value, why),) = run(locale_money(pl.col("x"), "x", locale.decimal), [written(amount, locale)])
    assert (value, why) == (amount, None)


def test_locale_numbers_told_without_a_locale() -> None:
    parsed = locale_money(pl.col("x"), "x", None)
    texts = ["1,234.56", "1.234,56", "12,5", "12.50", "1.234.567", "USD 10,000.00", "(12.00)", "1,234", "1.234"]
    frame = staged(pl.DataFrame({"x": texts}).lazy(), [parsed])
    out = frame.select(parsed.value, parsed.why, parsed.needs_locale, parsed.code).collect()
    assert out.rows() == [
        (Decimal("1234.56"), None, False, None),
        (Decimal("1234.56"), None, False, None),
        (Decimal("12.5"), None, False, None),
        (Decimal("12.5"), None, False, None),
        (Decimal("1234567"), None, False, None),
        (Decimal("10000"), None, False, "USD"),
        (None, "negative", False, None),
        (None, None, True, None),  # a thousand, or one and a fraction?
        (None, None, True, None),
    ]


def test_booleans_and_labels() -> None:
    got = run(boolean(pl.col("x"), "x"), ["1", "0", "true", "FALSE", "Yes", "2", None])
    assert [v for v, _ in got] == [True, False, True, False, True, None, None]
    assert got[5][1] == "not a boolean (expected 1/0 or true/false)"
    keys = pl.DataFrame({"x": ["Closed Won", "closedwon", "Closed won", "Fermé gagné"]}).select(label(pl.col("x")))
    assert keys["x"].to_list() == ["closedwon", "closedwon", "closedwon", "fermégagné"]
