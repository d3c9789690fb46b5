"""Won opportunities with contract dates as subscription segments (``opportunities='subscriptions'``).

Hand-computed results on a small export written for these tests (two accounts
renewing, an add-on co-termed with a contract, rows that cannot be segments),
and properties checked against a plain-Python statement of the rule: the
segment's dates, its MRR (Amount × 30 / (30 × whole months + days left over),
half-even to 4 places), and consecutive renewals read by the MRR kernels as one
unbroken subscription.
"""

from __future__ import annotations

import calendar
import datetime as dt
import decimal
import tempfile
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import retainlib as rl
import retainlib_crm
from retainlib import _host
from retainlib.errors import OptionError, SourceError
from retainlib.load_report import LoadReport
from retainlib.tables import MONEY, TIMESTAMP
from retainlib.testing import assert_canonical, assert_report_balanced

HOST = _host.build_host(entry_points=False, plugins=[retainlib_crm])
UTC = dt.UTC
KAARTECH = "001dN00000v2DEwQAM"
GLOBEX = "001dN00000v2DExQAM"
#: Half the profile's examples per property (20 in the default run: each reads a file, some run a kernel).
_FEW = settings(max_examples=max(10, settings().max_examples // 2))


def read(*paths: Path, **options: Any) -> rl.Dataset:
    """A read through a host holding the plugin (whether or not it is installed)."""
    return HOST.read(HOST.sources["salesforce"], list(paths), options)


def subscriptions(ds: rl.Dataset) -> pl.DataFrame:
    assert ds.subscriptions is not None, "no subscriptions table"
    frame: pl.DataFrame = ds.subscriptions.collect()
    return frame


def report(ds: rl.Dataset) -> LoadReport:
    assert ds.report is not None
    assert_report_balanced(ds.report)
    return ds.report


def at(year: int, month: int, day: int, hour: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=UTC)


def money(text: str) -> Decimal:
    return Decimal(text).quantize(Decimal("0.0001"))


# --- the export written for these tests -----------------------------------------------------------------


def test_won_opportunities_with_contract_dates_become_segments_of_their_account(fixtures: Path) -> None:
    ds = read(fixtures / "salesforce_renewals.csv", opportunities="subscriptions")
    got = subscriptions(ds)
    assert_canonical(got, "subscriptions", extra=True)
    expected = pl.DataFrame(
        [
            # 1 Jan - 31 Dec 2024 (end date inclusive): 12 months, 12,000 / 12
            ("006dN00000DrvQ1QAJ", KAARTECH, at(2024, 1, 1), at(2025, 1, 1), money("1000"), 12.0),
            # an add-on co-termed with it: 6 months (end date and term agree), 3,000 / 6
            ("006dN00000DrvQ2QAJ", KAARTECH, at(2024, 7, 1), at(2025, 1, 1), money("500"), 6.0),
            # the renewal, a term without an end date: 12 months from 1 Jan 2025, 15,000 / 12
            ("006dN00000DrvQ3QAJ", KAARTECH, at(2025, 1, 1), at(2026, 1, 1), money("1250"), 12.0),
            ("006dN00000DrvQ4QAJ", GLOBEX, at(2024, 3, 1), at(2025, 3, 1), money("500"), 12.0),
            ("006dN00000DrvQ5QAJ", GLOBEX, at(2025, 3, 1), at(2026, 3, 1), money("600"), 12.0),
        ],
        schema={
            "subscription_id": pl.String,
            "customer_id": pl.String,
            "started_at": TIMESTAMP,
            "ended_at": TIMESTAMP,
            "mrr": MONEY,
            "term_months": pl.Float64,
        },
        orient="row",
    )
    assert_frame_equal(got.select(expected.columns), expected)
    assert got["currency"].to_list() == ["USD"] * 5
    assert got["amount"].to_list() == [money(a) for a in ("12000", "3000", "15000", "6000", "7200")]
    rejected = [(line, reason) for _, line, _, _, reason in report(ds).rejects.iter_rows()]
    assert rejected == [
        (7, "IsWon: an open opportunity (stage Qualify), not a subscription segment"),
        (8, "Contract_Start_Date__c: missing (a won opportunity without contract dates is no subscription segment)"),
        (9, "Contract_End_Date__c: before Contract_Start_Date__c"),
        (10, "Contract_End_Date__c: disagrees with Contract_Term__c (12 months from 2024-06-01 end on 2025-05-31)"),
    ]
    assert ds.orders is None  # opportunities='subscriptions': won opportunities are segments, not orders


def test_consecutive_renewals_read_as_expansion_contraction_and_churn(fixtures: Path) -> None:
    ds = read(fixtures / "salesforce_renewals.csv", opportunities="subscriptions")
    end = dt.date(2026, 3, 1)
    moves = rl.mrr_movements(ds, as_of=end)
    changed = moves.filter(
        (pl.col("new") + pl.col("reactivation") + pl.col("expansion") + pl.col("contraction") + pl.col("churn")) > 0
    )
    # By hand, MRR at each month's first instant: KaarTech 1,000 from Jan 2024, 1,500 from Jul 2024 (the add-on),
    # 1,250 from Jan 2025 (the renewal), 0 from Jan 2026; Globex 500 from Mar 2024, 600 from Mar 2025, 0 from Mar
    # 2026.  A period's movement compares its first instant with the next period's.
    rows = [
        (dt.date(2024, 2, 1), "1000", "500", "0", "0", "0", "1500"),  # Globex starts on 1 Mar: new
        (dt.date(2024, 6, 1), "1500", "0", "500", "0", "0", "2000"),  # KaarTech's add-on on 1 Jul
        (dt.date(2024, 12, 1), "2000", "0", "0", "250", "0", "1750"),  # KaarTech renews 1,500 -> 1,250
        (dt.date(2025, 2, 1), "1750", "0", "100", "0", "0", "1850"),  # Globex renews 500 -> 600
        (dt.date(2025, 12, 1), "1850", "0", "0", "0", "1250", "600"),  # KaarTech does not renew
        (dt.date(2026, 2, 1), "600", "0", "0", "0", "600", "0"),  # Globex's renewal is still open
    ]
    names = ["period", "mrr_start", "new", "expansion", "contraction", "churn", "mrr_end"]
    expected = pl.DataFrame(
        [(p, *(money(v) for v in values)) for p, *values in rows],
        schema={"period": pl.Date, **dict.fromkeys(names[1:], MONEY)},
        orient="row",
    )
    assert_frame_equal(changed.select(names), expected)
    assert changed["reactivation"].to_list() == [money("0")] * len(rows)  # renewals chain: no gap, no reactivation
    assert moves["period"].to_list()[0] == dt.date(2024, 1, 1)
    assert moves["mrr_start"][0] == money("1000")
    retention = rl.revenue_retention(ds, horizon=12, as_of=end)
    by_base = {r["period"]: r for r in retention.iter_rows(named=True)}
    # Base March 2024: 1,000 + 500 then, 1,250 + 600 a year later; gross caps each account at its base.
    march = by_base[dt.date(2024, 3, 1)]
    assert (march["mrr_base"], march["mrr_after"]) == (money("1500"), money("1850"))
    assert march["net_revenue_retention"] == pytest.approx(1850 / 1500)
    assert march["gross_revenue_retention"] == pytest.approx(1.0)
    # Base July 2024 (with the add-on): 2,000 then 1,850; gross (1,250 + 500) / 2,000.
    july = by_base[dt.date(2024, 7, 1)]
    assert (july["mrr_base"], july["mrr_after"]) == (money("2000"), money("1850"))
    assert july["gross_revenue_retention"] == pytest.approx(1750 / 2000)


def test_both_gives_orders_and_segments_each_accounting_for_every_row(fixtures: Path) -> None:
    path = fixtures / "salesforce_renewals.csv"
    ds = read(path, opportunities="both")
    loads = {f.table: f for f in report(ds).files}
    assert sorted(loads) == ["orders", "subscriptions"]
    assert (loads["orders"].rows_read, loads["orders"].rows_loaded, loads["orders"].rows_rejected) == (9, 8, 1)
    assert (loads["subscriptions"].rows_read, loads["subscriptions"].rows_loaded) == (9, 5)
    assert ds.orders is not None
    assert ds.orders.collect()["order_id"].to_list()[:2] == ["006dN00000DrvQ1QAJ", "006dN00000DrvQ2QAJ"]
    assert subscriptions(ds).height == 5
    # The default is unchanged: orders only, contract columns ignored.
    plain = read(path)
    assert plain.subscriptions is None
    assert [(f.table, f.rows_loaded) for f in report(plain).files] == [("orders", 8)]


def test_the_option_is_checked_and_contract_columns_are_required(fixtures: Path) -> None:
    with pytest.raises(OptionError) as caught:
        read(fixtures / "salesforce_renewals.csv", opportunities="renewals")
    assert caught.value.option == "opportunities"
    # An opportunity file without contract columns: refused, naming them (accounts and cases read as always).
    with pytest.raises(SourceError, match=r"lacks the column\(s\) 'Contract_Start_Date__c', 'Contract_End_Date__c' or"):
        read(fixtures / "salesforce_Opportunity.csv", currency="USD", opportunities="subscriptions")
    ds = read(fixtures / "salesforce_Account.csv", opportunities="subscriptions")
    assert ds.customers is not None and ds.subscriptions is None


def test_a_report_with_contract_columns_in_the_users_locale_and_zone(tmp_path: Path) -> None:
    path = tmp_path / "renewals report.csv"
    path.write_text(
        '"Opportunity Name","Opportunity ID","Account ID","Stage","Amount Currency","Amount","Close Date",'
        '"Contract Start Date","Contract End Date","Contract Term (months)"\n'
        '"Renewal","006dN00000DrvOr","001dN00000v2DEw","Closed Won","EUR","1.200,00","15.12.2025","01.01.2026","",'
        '"12"\n'
        '"Partial","006dN00000DrvOs","001dN00000v2DEw","Closed Won","EUR","1.000,00","01.04.2026","15.04.2026",'
        '"31.12.2026",""\n'
        '"Rounding","006dN00000DrvOt","001dN00000v2DEw","Closed Won","EUR","1,0003","01.04.2026","01.01.2026",'
        '"28.02.2026",""\n'
        '"Half","006dN00000DrvOu","001dN00000v2DEw","Closed Won","EUR","1,0001","01.04.2026","01.01.2026","","2"\n'
        '"Fraction","006dN00000DrvOv","001dN00000v2DEw","Closed Won","EUR","100,00","01.04.2026","01.01.2026","",'
        '"1,5"\n',
        encoding="utf-8",
    )
    ds = read(path, locale="de_DE", tz="Europe/Berlin", opportunities="subscriptions")
    got = subscriptions(ds).select("subscription_id", "started_at", "ended_at", "mrr")
    # Midnight in Berlin: 23:00 UTC the day before in winter, 22:00 in summer.
    new_year, next_year, march = at(2025, 12, 31, 23), at(2026, 12, 31, 23), at(2026, 2, 28, 23)
    assert got.rows() == [
        ("006dN00000DrvOrQAJ", new_year, next_year, money("100")),
        # 15 Apr - 31 Dec: 8 whole months to 15 Dec, then 17 days: 1,000 x 30 / 257 = 116.73151...
        ("006dN00000DrvOsQAJ", at(2026, 4, 14, 22), next_year, money("116.7315")),
        # 2 months: 1.0003 / 2 = 0.50015, half-even: 0.5002
        ("006dN00000DrvOtQAJ", new_year, march, money("0.5002")),
        # 1.0001 / 2 = 0.50005, half-even: 0.5000
        ("006dN00000DrvOuQAJ", new_year, march, money("0.5")),
    ]
    assert [r[-1] for r in report(ds).rejects.iter_rows()] == ["Contract Term (months): not a whole number of months"]


def test_extreme_contracts_are_rejected_with_their_reason(tmp_path: Path) -> None:
    path = tmp_path / "Opportunity.csv"
    rows = [
        ("20.00", "2024-03-31", "", "1"),  # 31 Mar + 1 month: 30 Apr (the contract's last day is 29 Apr)
        ("10", "2024-01-01", "", "12.0000"),  # a whole number written with decimals
        ("99999999999999999999.9999", "2024-01-01", "2024-01-01", ""),  # one day: 30 x the amount a month
        ("0.0001", "2024-01-01", "", "1200"),
        ("0", "2024-01-01", "", "12"),
        ("10", "0001-01-01", "9999-12-31", ""),
        ("10", "2024-01-01", "", "1201"),
        ("10", "2024-01-01", "", "-3"),
    ]
    lines = [
        f"006dN00000D{i:04d},001dN00000v2DEw,Closed Won,{a},{d},USD,{d},{e},{t}\n"
        for i, (a, d, e, t) in enumerate(rows)
    ]
    path.write_text(HEADER + "".join(lines), encoding="utf-8")
    ds = read(path, opportunities="subscriptions")
    assert subscriptions(ds).select("started_at", "ended_at", "mrr").rows() == [
        (at(2024, 3, 31), at(2024, 4, 30), money("20")),
        (at(2024, 1, 1), at(2025, 1, 1), money("0.8333")),
    ]
    assert [(line, reason) for _, line, _, _, reason in report(ds).rejects.iter_rows()] == [
        (4, "mrr: out of range (at most 20 integer digits)"),
        (5, "mrr: less than 0.0001 a month (rounds to zero)"),
        (6, "Amount: zero (no recurring revenue)"),
        (7, "Contract_End_Date__c: more than 1200 months after Contract_Start_Date__c (a placeholder end date?)"),
        (8, "Contract_Term__c: more than 1200 months"),
        (9, "Contract_Term__c: negative"),
    ]


# --- the rule, against a plain-Python statement of it ---------------------------------------------------


def add_months(day: dt.date, months: int) -> dt.date:
    """``months`` calendar months after ``day``, the day clamped to the month's last."""
    years, month0 = divmod(day.month - 1 + months, 12)
    year = day.year + years
    return dt.date(year, month0 + 1, min(day.day, calendar.monthrange(year, month0 + 1)[1]))


def reference(start: dt.date, end: dt.date | None, term: int | None, amount: Decimal) -> tuple[dt.date, Decimal] | str:
    """The day after the contract and its MRR, or the word of the reason it is no segment."""
    if end is not None and end < start:
        return "before"
    if term is not None:
        stop = add_months(start, term)
        if end is not None and end + dt.timedelta(days=1) != stop:
            return "disagrees"
        length = 30 * term
    else:
        assert end is not None
        stop = end + dt.timedelta(days=1)
        whole = 0
        while add_months(start, whole + 1) <= stop:
            whole += 1
        length = 30 * whole + (stop - add_months(start, whole)).days
    if amount == 0:
        return "zero"
    with decimal.localcontext(prec=80):
        mrr = (amount * 30 / length).quantize(Decimal("0.0001"), rounding=decimal.ROUND_HALF_EVEN)
    if mrr == 0:
        return "rounds to zero"
    return stop, mrr


HEADER = "Id,AccountId,StageName,Amount,CloseDate,CurrencyIsoCode,Contract_Start_Date__c,Contract_End_Date__c,"
HEADER += "Contract_Term__c\n"


def export(path: Path, contracts: Sequence[tuple[dt.date, dt.date | None, int | None, Decimal]]) -> Path:
    """A Data Export of won opportunities of one account, one per contract (15-character ids)."""
    lines = [
        f"006dN00000D{i:04d},001dN00000v2DEw,Closed Won,{amount},{start},USD,{start} 00:00:00,"
        f"{'' if end is None else end},{'' if term is None else term}\n"
        for i, (start, end, term, amount) in enumerate(contracts)
    ]
    path.write_text(HEADER + "".join(lines), encoding="utf-8")
    return path


DAYS = st.dates(dt.date(1999, 1, 1), dt.date(2040, 12, 31))
AMOUNTS = st.integers(0, 10**12).map(lambda units: Decimal(units).scaleb(-4))


@st.composite
def contracts(draw: st.DrawFn) -> tuple[dt.date, dt.date | None, int | None, Decimal]:
    start = draw(DAYS)
    shape = draw(st.sampled_from(["end", "term", "both", "both_wrong"]))
    term = draw(st.integers(1, 40)) if shape != "end" else None
    if shape == "end":
        end: dt.date | None = start + dt.timedelta(days=draw(st.integers(-40, 900)))
    elif shape == "term":
        end = None
    else:
        assert term is not None
        end = add_months(start, term) - dt.timedelta(days=1 + (shape == "both_wrong") * draw(st.integers(1, 5)))
    return start, end, term, draw(AMOUNTS)


@_FEW
@given(rows=st.lists(contracts(), min_size=1, max_size=8))
def test_segments_follow_the_rule_row_by_row(rows: list[tuple[dt.date, dt.date | None, int | None, Decimal]]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        ds = read(export(Path(directory) / "Opportunity.csv", rows), opportunities="subscriptions")
        got = {r["subscription_id"][:15]: r for r in subscriptions(ds).iter_rows(named=True)}
        rejected = {line: reason for _, line, _, _, reason in report(ds).rejects.iter_rows()}
    assert len(got) + len(rejected) == len(rows)
    for i, (start, end, term, amount) in enumerate(rows):
        expected = reference(start, end, term, amount)
        if isinstance(expected, str):
            assert expected in rejected[i + 2], (i, rows[i], rejected)
            continue
        stop, mrr = expected
        row = got[f"006dN00000D{i:04d}"]
        midnight = dt.datetime.combine(start, dt.time(), UTC)
        assert (row["started_at"], row["ended_at"], row["mrr"]) == (
            midnight,
            dt.datetime.combine(stop, dt.time(), UTC),
            mrr,
        ), rows[i]


@st.composite
def renewals(draw: st.DrawFn) -> list[tuple[dt.date, dt.date | None, int | None, Decimal]]:
    """A contract and its renewals, each starting the day after the one before ends."""
    day = draw(st.dates(dt.date(2020, 1, 1), dt.date(2024, 12, 31)))
    chain: list[tuple[dt.date, dt.date | None, int | None, Decimal]] = []
    for _ in range(draw(st.integers(1, 4))):
        amount = Decimal(draw(st.integers(100, 10**6))).scaleb(-2)
        if draw(st.booleans()):
            term = draw(st.integers(1, 18))
            chain.append((day, None, term, amount))
            day = add_months(day, term)
        else:
            end = day + dt.timedelta(days=draw(st.integers(20, 500)))
            chain.append((day, end, None, amount))
            day = end + dt.timedelta(days=1)
    return chain


def month_starts(first: dt.date, count: int) -> list[dt.datetime]:
    return [dt.datetime(first.year + (first.month - 1 + k) // 12, (first.month - 1 + k) % 12 + 1, 1, tzinfo=UTC)
            for k in range(count)]  # fmt: skip


@_FEW
@given(chain=renewals())
def test_renewals_chain_into_one_subscription_for_the_mrr_kernels(
    chain: list[tuple[dt.date, dt.date | None, int | None, Decimal]],
) -> None:
    segments = []
    for start, end, term, amount in chain:
        expected = reference(start, end, term, amount)
        assert not isinstance(expected, str)
        segments.append(
            (dt.datetime.combine(start, dt.time(), UTC), dt.datetime.combine(expected[0], dt.time(), UTC), expected[1])
        )
    last_stop = segments[-1][1]
    with tempfile.TemporaryDirectory() as directory:
        ds = read(export(Path(directory) / "Opportunity.csv", chain), opportunities="subscriptions")
        moves = rl.mrr_movements(ds, as_of=last_stop)
    first = chain[0][0].replace(day=1)
    snapshots = month_starts(first, moves.height + 1)
    assert moves["period"].to_list() == [s.date() for s in snapshots[:-1]]

    def mrr_at(instant: dt.datetime) -> Decimal:
        return sum((m for s, e, m in segments if s <= instant < e), Decimal(0))

    zero = Decimal(0)
    for k, row in enumerate(moves.iter_rows(named=True)):
        m0, m1 = mrr_at(snapshots[k]), mrr_at(snapshots[k + 1])
        started_before = any(s < snapshots[k] for s, _, _ in segments)
        assert row["mrr_start"] == m0 and row["mrr_end"] == m1, (k, row)
        assert row["new"] == (m1 if m0 == 0 and m1 > 0 and not started_before else zero)
        assert row["reactivation"] == (m1 if m0 == 0 and m1 > 0 and started_before else zero)
        assert row["expansion"] == (m1 - m0 if m0 > 0 and m1 > m0 else zero)
        assert row["contraction"] == (m0 - m1 if m1 > 0 and m0 > m1 else zero)
        assert row["churn"] == (m0 if m0 > 0 and m1 == 0 else zero)
    # One unbroken subscription: once it has begun, it is never lost and won back, and it is lost once, at the end.
    paying = [mrr_at(s) > 0 for s in snapshots]
    if any(paying):
        begun = paying.index(True)
        assert all(paying[begun:-1]) and not paying[-1]
        assert moves["customers_churned"].sum() == 1
