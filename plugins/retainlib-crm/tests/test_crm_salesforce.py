"""The ``salesforce`` source on Data Export files and report exports written by hand, with hand-computed results."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
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
KAARTECH = "001dN00000v2DEwQAM"  # the 18-character form of 001dN00000v2DEw, as Salesforce computes it
LINH = "003dN00000NrnwCQAR"


def read(*paths: Path, **options: Any) -> rl.Dataset:
    """A read through a host holding the plugin (whether or not it is installed)."""
    return HOST.read(HOST.sources["salesforce"], list(paths), options)


def table(ds: rl.Dataset, name: str) -> pl.DataFrame:
    frame = getattr(ds, name)
    assert frame is not None, f"no {name} table"
    result: pl.DataFrame = frame.collect()
    return result


def report(ds: rl.Dataset) -> LoadReport:
    assert ds.report is not None
    assert_report_balanced(ds.report)
    return ds.report


def rejects(ds: rl.Dataset) -> list[tuple[str, int, str, str]]:
    """(file name, line, column, reason) of every rejected record."""
    return [(Path(f).name, line, col, why) for f, line, _, col, why in report(ds).rejects.iter_rows()]


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# --- Data Export / Data Loader ----------------------------------------------------------------------------


def test_accounts_deleted_merged_and_ids_of_every_length(fixtures: Path) -> None:
    ds = read(fixtures / "salesforce_Account.csv")
    expected = pl.DataFrame(
        [
            (KAARTECH, at(2026, 6, 9, 16, 12, 25), None, "KaarTech", "account", "Customer"),
            # a 15-character id gets its suffix; Data Loader's ISO time; a person account's e-mail, normalised
            ("001dN00000v2DEzQAM", at(2023, 2, 7, 20, 47, 49), "pat@example.com", "Pat Doe", "account", None),
        ],
        schema={
            "customer_id": pl.String,
            "created_at": TIMESTAMP,
            "email": pl.String,
            "name": pl.String,
            "kind": pl.String,
            "type": pl.String,
        },
        orient="row",
    )
    assert_frame_equal(table(ds, "customers"), expected)
    assert_canonical(table(ds, "customers"), "customers", extra=True)
    assert rejects(ds) == [
        ("salesforce_Account.csv", 3, "IsDeleted", "IsDeleted: a deleted record (in the recycle bin)"),
        ("salesforce_Account.csv", 4, "IsDeleted", f"IsDeleted: merged into {KAARTECH} (a deleted record)"),
        # upper-cased on the way: the suffix gives the case back, and it is line 2's account again
        ("salesforce_Account.csv", 6, "customer_id", "customer_id: duplicate id"),
        ("salesforce_Account.csv", 7, "Id", "Id: not a Salesforce id (15 or 18 letters and digits)"),
        ("salesforce_Account.csv", 8, "CreatedDate", "CreatedDate: missing"),
    ]


OPPORTUNITY_REJECTS = [
    ("salesforce_Opportunity.csv", 4, "AccountId", "AccountId: no account and no contact"),
    ("salesforce_Opportunity.csv", 5, "IsWon", "IsWon: an open opportunity (stage Qualify), not an order"),
    ("salesforce_Opportunity.csv", 6, "IsWon", "IsWon: a lost opportunity (stage Closed Lost), not an order"),
    ("salesforce_Opportunity.csv", 7, "Amount", "Amount: missing (a won opportunity without an amount)"),
    ("salesforce_Opportunity.csv", 8, "IsWon", "IsWon: not a boolean (expected 1/0 or true/false)"),
    ("salesforce_Opportunity.csv", 9, "IsDeleted", "IsDeleted: a deleted record (in the recycle bin)"),
]


def test_won_opportunities_become_orders_of_their_account(fixtures: Path) -> None:
    ds = read(fixtures / "salesforce_Opportunity.csv", tz="Europe/Paris", currency="GBP")
    got = table(ds, "orders")
    expected = pl.DataFrame(
        [
            # a 15-character AccountId; CloseDate 2026-07-01 starts at midnight in Paris (22:00 UTC the day before)
            ("006dN00000DrvOrQAJ", KAARTECH, at(2026, 6, 30, 22), "1200", "USD"),
            # an empty lookup (000000000000000AAA) for the account: the contact; Data Loader's true/false;
            # 2026-03-29 is the day summer time starts: its midnight is still winter time (23:00 UTC)
            ("006dN00000DrvOsQAJ", LINH, at(2026, 3, 28, 23), "99.9", "EUR"),
            # no CurrencyIsoCode: the currency option
            ("006dN00000DrvOzQAJ", "001dN00000v2DExQAM", at(2026, 9, 29, 22), "42", "GBP"),
        ],
        schema={"order_id": pl.String, "customer_id": pl.String, "ordered_at": TIMESTAMP, "amount": pl.String,
                "currency": pl.String},
        orient="row",
    ).with_columns(pl.col("amount").cast(MONEY))  # fmt: skip
    assert_frame_equal(got.select(expected.columns), expected)
    assert got["type"].to_list() == ["Existing Customer - Renewal", None, None]
    assert_canonical(got, "orders", extra=True)
    assert rejects(ds) == OPPORTUNITY_REJECTS


def test_close_dates_start_at_midnight_utc_without_tz(fixtures: Path) -> None:
    ds = read(fixtures / "salesforce_Opportunity.csv", currency="GBP")
    assert table(ds, "orders")["ordered_at"].to_list() == [at(2026, 7, 1), at(2026, 3, 29), at(2026, 9, 30)]


def test_won_opportunities_without_a_currency_need_the_option(fixtures: Path) -> None:
    with pytest.raises(SourceError, match=r"1 won opportunity has no currency .* pass currency="):
        read(fixtures / "salesforce_Opportunity.csv")


def test_cases_become_tickets(fixtures: Path) -> None:
    ds = read(fixtures / "salesforce_Case.csv")
    got = table(ds, "tickets")
    expected = pl.DataFrame(
        [
            # a Description holding a line break spans lines 2-3
            ("500dN00000PC95xQAD", KAARTECH, at(2026, 6, 9, 18, 24, 44), at(2026, 6, 10, 9), "00001003", "Closed"),
            # no account: the contact; not closed: not solved
            ("500dN00000PC95yQAD", LINH, at(2026, 6, 11, 8), None, "00001004", "New"),
            # reopened (IsClosed 0): the old ClosedDate is not a solve time
            ("500dN00000PC96bQAD", KAARTECH, at(2026, 6, 12, 8), None, "00001007", "Reopened"),
        ],
        schema={"ticket_id": pl.String, "customer_id": pl.String, "opened_at": TIMESTAMP, "solved_at": TIMESTAMP,
                "case_number": pl.String, "status": pl.String},
        orient="row",
    )  # fmt: skip
    assert_frame_equal(got.select(expected.columns), expected)
    assert got["satisfaction"].null_count() == 3
    assert_canonical(got, "tickets", extra=True)
    assert rejects(ds) == [
        ("salesforce_Case.csv", 5, "ClosedDate", "ClosedDate: missing (a closed case without its close time)"),
        ("salesforce_Case.csv", 6, "solved_at", "solved_at: before opened_at"),
    ]


def test_contacts_of_an_account_are_not_customers_of_their_own(fixtures: Path) -> None:
    ds = read(fixtures / "salesforce_Contact.csv")
    assert table(ds, "customers").select("customer_id", "email", "name", "kind").rows() == [
        (LINH, "linh@example.com", "Linh Nguyen", "contact")
    ]
    assert rejects(ds) == [
        (
            "salesforce_Contact.csv",
            3,
            "AccountId",
            f"AccountId: a contact of account {KAARTECH} (the account is the customer: read the Account file)",
        )
    ]


def test_a_whole_export_read_together(fixtures: Path) -> None:
    files = [fixtures / f"salesforce_{name}.csv" for name in ("Account", "Contact", "Opportunity", "Case")]
    ds = read(*files, currency="GBP")
    loads = {(Path(f.file).name, f.table): (f.rows_read, f.rows_loaded) for f in report(ds).files}
    assert loads == {
        ("salesforce_Account.csv", "customers"): (7, 2),
        ("salesforce_Contact.csv", "customers"): (2, 1),
        ("salesforce_Opportunity.csv", "orders"): (9, 3),
        ("salesforce_Case.csv", "tickets"): (5, 3),
    }
    customers = set(table(ds, "customers")["customer_id"])
    # orders and tickets name customers of the same export, whatever length their ids were written with
    assert set(table(ds, "tickets")["customer_id"]) <= customers
    assert {KAARTECH, LINH} <= set(table(ds, "orders")["customer_id"])


# --- report exports ---------------------------------------------------------------------------------------


def test_opportunity_report_footer_and_total_rows_are_rejected(fixtures: Path) -> None:
    ds = read(fixtures / "salesforce_opportunities_report.csv", locale="en_US")
    got = table(ds, "orders").select("order_id", "customer_id", "ordered_at", "amount", "currency").rows()
    assert got == [
        # 15-character ids in a report are the Data Export's records
        ("006dN00000DrvOrQAJ", KAARTECH, at(2026, 7, 1), Decimal("1200"), "USD"),
        ("006dN00000DrvP0QAJ", KAARTECH, at(2026, 8, 15), Decimal("2500.5"), "USD"),
    ]
    name = "salesforce_opportunities_report.csv"
    copyright_line = "Copyright (c) 2000-2026 salesforce.com, inc. All rights reserved."
    assert rejects(ds) == [
        (name, 4, "Won", "Won: a lost opportunity (stage Closed Lost), not an order"),
        (name, 5, "Won", "Won: an open opportunity (stage Negotiation/Review), not an order"),
        (name, 6, "line", "line: a Total row of the report (a sum over other rows), not a record"),
        (name, 8, "line", "line: a report footer line ('Grand Totals (4 records)'), not a record"),
        (name, 10, "line", "line: a report footer line ('Confidential Information - Do Not Distribute'), not a record"),
        (name, 11, "line", f"line: a report footer line ('{copyright_line[:60]}'), not a record"),
    ]


def test_a_report_and_the_data_export_name_the_same_records(fixtures: Path) -> None:
    ds = read(
        fixtures / "salesforce_Opportunity.csv",
        fixtures / "salesforce_opportunities_report.csv",
        locale="en_US",
        currency="GBP",
    )
    (twice,) = [r for r in rejects(ds) if r[2] == "order_id"]
    # line 2 of the report is 006dN00000DrvOr, which the Data Export already gave as 006dN00000DrvOrQAJ
    assert twice == ("salesforce_opportunities_report.csv", 2, "order_id", "order_id: duplicate id")
    assert table(ds, "orders")["order_id"].to_list().count("006dN00000DrvOrQAJ") == 1


def test_case_report_in_a_german_locale_needs_tz(fixtures: Path) -> None:
    path = fixtures / "salesforce_cases_report.csv"
    with pytest.raises(SourceError, match="pass tz="):
        read(path)
    ds = read(path, tz="Europe/Berlin")
    got = table(ds, "tickets").select("ticket_id", "customer_id", "opened_at", "solved_at", "case_number").rows()
    assert got == [
        # 09.06.2026 20:24 in Berlin (summer time) is 18:24 UTC: the same instant as the Data Export's CreatedDate
        ("500dN00000PC95xQAD", KAARTECH, at(2026, 6, 9, 18, 24), at(2026, 6, 10, 9), "00001003"),
        ("500dN00000PC97aQAD", KAARTECH, at(2026, 7, 1, 7, 15), None, "00001008"),
    ]
    reasons = [(line, why) for _, line, _, why in rejects(ds)]
    assert reasons[0] == (4, "Account ID: no account and no contact")
    assert [line for line, _ in reasons] == [4, 5, 7, 9, 10]


def test_account_report_with_a_classic_footer(fixtures: Path) -> None:
    path = fixtures / "salesforce_accounts_report.csv"
    with pytest.raises(SourceError, match="locale="):
        read(path)  # 09/06/2026: June the 9th or September the 6th?
    ds = read(path, locale="en_GB", tz="Asia/Kolkata")
    assert table(ds, "customers").select("customer_id", "created_at", "name").rows() == [
        (KAARTECH, at(2026, 6, 8, 18, 30), "KaarTech"),  # midnight in Kolkata (+05:30)
        ("001dN00000v2DExQAM", at(2025, 12, 30, 18, 30), "Globex"),
    ]
    name = "salesforce_accounts_report.csv"
    footer = [(line, why.split("(")[0]) for _, line, column, why in rejects(ds) if column == "line"]
    # the report's name and the company's name are footer lines too: they come with Salesforce's marks
    assert [line for line, _ in footer] == [7, 8, 9, 10, 11]
    assert (name, 4, "Account ID", "Account ID: missing") in rejects(ds)


@pytest.mark.parametrize(
    ("locale", "written", "amount"),
    [
        ("en_US", "1,234.56", "1234.56"),
        ("en_GB", "1,234.56", "1234.56"),
        ("de_DE", "1.234,56", "1234.56"),
        ("fr_FR", "1\u202f234,56", "1234.56"),
        ("de_CH", "1'234.56", "1234.56"),
        ("es_ES", "EUR 1.234,5", "1234.5"),
        ("ja_JP", "¥1,234", "1234"),
    ],
)
def test_report_amounts_in_each_locale(tmp_path: Path, locale: str, written: str, amount: str) -> None:
    path = tmp_path / "report.csv"
    path.write_text(
        '"Opportunity Name","Account Name","Stage","Amount","Close Date"\n'
        f'"Deal","Acme","Closed Won","{written}","2026-01-15"\n',
        encoding="utf-8",
    )
    ds = read(path, locale=locale, currency="JPY")
    ((order_id, customer_id, value, currency),) = (
        table(ds, "orders").select("order_id", "customer_id", "amount", "currency").rows()
    )
    # without id columns, the names stand in for the ids
    assert (order_id, customer_id, value) == ("Deal", "Acme", Decimal(amount))
    assert currency == ("EUR" if written.startswith("EUR") else "JPY")


def test_ambiguous_report_numbers_need_a_locale(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    path.write_text(
        '"Opportunity Name","Account Name","Stage","Amount","Close Date"\n'
        '"Deal","Acme","Closed Won","1,234","2026-01-15"\n'
    )
    with pytest.raises(SourceError, match="locale="):
        read(path, currency="USD")
    assert table(read(path, currency="USD", locale="en_US"), "orders")["amount"].to_list() == [Decimal("1234")]
    assert table(read(path, currency="USD", locale="de_DE"), "orders")["amount"].to_list() == [Decimal("1.234")]


# --- files and options ------------------------------------------------------------------------------------


def test_files_the_source_does_not_read_are_refused(tmp_path: Path) -> None:
    lead = tmp_path / "Lead.csv"
    lead.write_text('"Id","IsDeleted","LastName","Company","Status","IsConverted","CreatedDate"\n')
    with pytest.raises(SourceError, match="not a Salesforce file this source reads"):
        read(lead)
    no_close = tmp_path / "Opportunity.csv"
    no_close.write_text('"Id","AccountId","StageName","Amount","IsWon"\n')
    with pytest.raises(SourceError, match="lacks the column\\(s\\) 'CloseDate'"):
        read(no_close)


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"locale": "xx_XX"}, "locale"),
        ({"locale": 3}, "locale"),
        ({"currency": "dollars"}, "currency"),
        ({"tz": "Nowhere/City"}, "tz"),
        ({"won_stages": [1]}, "won_stages"),
        ({"mapping": {"Schlusstermin": "Deadline"}}, "mapping"),
    ],
)
def test_options_are_checked(fixtures: Path, options: dict[str, object], option: str) -> None:
    with pytest.raises(OptionError) as caught:
        read(fixtures / "salesforce_Account.csv", **options)
    assert caught.value.option == option


def test_mapping_reads_a_report_in_another_language(tmp_path: Path) -> None:
    path = tmp_path / "bericht.csv"
    path.write_text(
        '"Opportunity-Name","Accountname","Phase","Betrag","Schlusstermin"\n'
        '"Deal","Acme","Closed Won","1.500,00","15.01.2026"\n'
    )
    mapping = {
        "Opportunity-Name": "Opportunity Name",
        "Accountname": "Account Name",
        "Phase": "Stage",
        "Betrag": "Amount",
        "Schlusstermin": "Close Date",
    }
    ds = read(path, mapping=mapping, locale="de_DE", currency="EUR")
    assert table(ds, "orders").select("order_id", "amount", "ordered_at").rows() == [
        ("Deal", Decimal("1500"), at(2026, 1, 15))
    ]


def test_detection_scores(fixtures: Path, tmp_path: Path) -> None:
    detect = retainlib_crm.detect_salesforce
    for name in ("Account", "Contact", "Opportunity", "Case"):
        path = fixtures / f"salesforce_{name}.csv"
        assert detect(path, path.read_bytes()) == retainlib_crm.CONFIDENT
        assert retainlib_crm.detect_hubspot(path, path.read_bytes()) == 0
    for name in ("opportunities", "cases", "accounts"):
        path = fixtures / f"salesforce_{name}_report.csv"
        assert detect(path, path.read_bytes()) == retainlib_crm.LIKELY
    assert detect(tmp_path / "t.csv", b"ticket_id,customer_id,opened_at\n1,c,2024-01-01T00:00:00Z\n") == 0
    assert rl.read(fixtures / "salesforce_Case.csv").source == "salesforce"
