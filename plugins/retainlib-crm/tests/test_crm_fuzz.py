"""Fuzzing the ``hubspot`` and ``salesforce`` sources with messy and damaged exports.

Each test writes a file from valid records mixed with garbage cells (bad
dates, bad numbers, odd ids and stages), duplicated rows, blank lines, dropped
or renamed columns, another delimiter, a byte-order mark, another encoding, or
damage (random bytes, a stray quote, a cut), reads it through the host, and
checks the contract:

* only a :class:`~retainlib.errors.RetainlibError` escapes
  (``assert_read_or_refused``), and every read balances: rows read = rows
  loaded + rows rejected, file by file;
* a file that keeps the columns the source needs reads (bad values are
  rejects, not errors), and its rows read are the records written, counted
  here without the source (from what the test wrote, or with the :mod:`csv`
  module once the bytes are damaged).
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import retainlib_crm
from retainlib import _host
from retainlib.load_report import LoadReport
from retainlib.testing.asserts import assert_read_or_refused
from retainlib.testing.strategies import damaged

HOST = _host.build_host(entry_points=False, plugins=[retainlib_crm])
#: Unicode White_Space (what polars strips): a record of such cells only is a blank line.
WHITE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
#: Half the profile's examples per test (20 in the default run).
_SETTINGS = settings(
    max_examples=max(10, settings().max_examples // 2),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: Cells that have broken readers, or could: dates, numbers, ids, stages, booleans and text of every kind.
ODD_CELLS = [
    "", " ", "\t", "\u3000", "n/a", "null", "1e3", "-1", "1.0", "17850.0", "1.5", "9" * 40, "0", "1,234", "1.234,56",
    "2024-13-45 10:00", "2024-02-30 10:00", "2024-03-31 02:30", "2024-03-01", "2024-03-01T10:00:00Z", "03/01/2024",
    "3/1/2024 1:05 PM", "01.03.2024", "9999-12-31 23:59", "0001-01-01 00:00", "Closed Won", "closedwon", "Closed Lost",
    "true", "false", "1", "maybe", "000000000000000AAA", "001dN00000v2DEw", "001dn00000v2dewqam", "001DN00000V2DEWQAM",
    "Total", "Grand Totals (3 records)", "Confidential Information - Do Not Distribute", '"', 'a"b', "x\ny", "x\r\ny",
    "a,b", "a;b", "=SUM(A1)", "\ufeff", "Ánn", "USD 10", "(5.00)", "9001;9002", "abc;9001",
]  # fmt: skip
CELL = st.one_of(st.sampled_from(ODD_CELLS), st.text(max_size=10))
BLANKS = ["", " ", "\t", "{commas}", " {commas} "]


def _is_data(row: Sequence[str]) -> bool:
    return any(cell.strip(WHITE) for cell in row)


def csv_data_rows(raw: bytes) -> int | None:
    """The data records of comma-separated bytes, counted with the csv module (``None`` when it cannot parse).

    Decoded as the source decodes (UTF-8, bad bytes replaced; UTF-16 after its byte-order mark); records end at
    ``"\\n"`` only, as in polars, so a lone ``"\\r"`` stays inside its field.
    """
    utf16 = raw.startswith((b"\xff\xfe", b"\xfe\xff"))
    text = raw.decode("utf-16" if utf16 else "utf-8", errors="replace").removeprefix("\ufeff")
    text = re.sub("\r(?=[^\n])", "\ue000", text)
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error:
        return None
    return sum(1 for row in rows[1:] if _is_data(row))


@st.composite
def exports(
    draw: st.DrawFn,
    header: Sequence[str],
    valid: Sequence[str],
    required: Sequence[str],
    renames: dict[str, str],
    footer: Sequence[str] = (),
) -> tuple[bytes, int, bool]:
    """A CSV export: its bytes, its data records, and whether the source must be able to read it."""
    columns = list(header)
    rows: list[list[str]] = []
    for i, garbage in enumerate(draw(st.lists(st.lists(st.tuples(st.integers(0, 99), CELL), max_size=4), max_size=8))):
        row = [cell.format(i=i) for cell in valid]
        for position, cell in garbage:
            row[position % len(row)] = cell
        rows.append(row)
    for position in draw(st.lists(st.integers(0, 20), max_size=3)):  # duplicated rows
        if rows:
            rows.insert(position % (len(rows) + 1), list(rows[position % len(rows)]))
    change = draw(st.sampled_from(["none", "none", "drop", "rename"]))
    readable = True
    if change == "drop":
        dropped = draw(st.integers(0, len(columns) - 1))
        readable = columns[dropped] not in required
        del columns[dropped]
        for row in rows:
            del row[dropped]
    elif change == "rename":
        name = draw(st.sampled_from(sorted(renames)))
        columns[columns.index(name)] = renames[name]
    separator = draw(st.sampled_from([",", ",", ",", ";", "\t"]))
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    out = io.StringIO()
    csv.writer(out, delimiter=separator, lineterminator=eol, quoting=csv.QUOTE_ALL).writerow(columns)
    records = []
    for row in rows:
        one = io.StringIO()
        if draw(st.booleans()):
            csv.writer(one, delimiter=separator, lineterminator=eol, quoting=csv.QUOTE_ALL).writerow(row)
        else:
            csv.writer(one, delimiter=separator, lineterminator=eol).writerow(row)
        records.append(one.getvalue())
    for position, blank in draw(st.lists(st.tuples(st.integers(0, 20), st.sampled_from(BLANKS)), max_size=3)):
        records.insert(position % (len(records) + 1), blank.format(commas=separator * (len(columns) - 1)) + eol)
    tail = "".join((f'"{line}"' if line else "") + eol for line in footer)
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "latin-1", "utf-16"]))
    bom = draw(st.sampled_from(["", "\ufeff"])) if encoding == "utf-8" else ""
    text = bom + out.getvalue() + "".join(records) + tail
    raw = text.encode(encoding, errors="replace")
    data_rows = sum(1 for row in rows if _is_data(row)) + sum(1 for line in footer if line)
    return raw, data_rows, readable


def read_checked(source: str, paths: Sequence[Path], options: dict[str, str]) -> LoadReport | None:
    """The report of a read through the host, ``None`` when it refused the files."""
    ds = assert_read_or_refused(lambda: HOST.read(HOST.sources[source], list(paths), options))
    return None if ds is None else ds.report


def _write(directory: str, name: str, raw: bytes) -> Path:
    path = Path(directory) / name
    path.write_bytes(raw)
    return path


# --- HubSpot deals and contacts -------------------------------------------------------------------------

DEALS_HEADER = [
    "Record ID", "Deal Name", "Deal Stage", "Close Date", "Amount", "Currency", "Associated Company IDs (Primary)",
    "Associated Contact IDs", 'Date entered "Lead (Lifecycle Stage Pipeline)"', "Billing Contact", "Billing Contact",
]  # fmt: skip
DEALS_VALID = [
    "{i}01.0", "Deal {i}", "Closed Won", "2024-03-01 10:00", "12.5", "USD", "9001", "51", "2024-01-01 10:00", "a", "a",
]  # fmt: skip
DEALS_RENAMES = {"Record ID": "record id", "Deal Stage": "dealstage", "Amount": "Betrag", "Close Date": "closedate"}
CONTACTS_HEADER = ["Record ID", "First Name", "Last Name", "Email", "Create Date", "Email"]
CONTACTS_VALID = ["{i}", "Ann", "Lee", "Ann{i}@Example.com", "2024-01-05 09:30", ""]
HUBSPOT_OPTIONS = st.fixed_dictionaries(
    {"tz": st.sampled_from(["UTC", "Europe/Paris", "America/Sao_Paulo"]), "currency": st.just("EUR")},
    optional={"customer": st.sampled_from(["company", "contact"]), "won_stages": st.just("Closed Lost")},
)


@_SETTINGS
@given(
    export=exports(DEALS_HEADER, DEALS_VALID, ("Record ID", "Deal Stage", "Close Date", "Amount"), DEALS_RENAMES),
    options=HUBSPOT_OPTIONS,
)
def test_messy_hubspot_deals_are_accounted_for_row_by_row(
    export: tuple[bytes, int, bool], options: dict[str, str]
) -> None:
    raw, data_rows, readable = export
    with tempfile.TemporaryDirectory() as directory:
        report = read_checked("hubspot", [_write(directory, "deals.csv", raw)], options)
    if readable:
        assert report is not None, "an export with the columns it needs must read: bad values are rejects"
        assert report.rows_read == data_rows
    if report is not None:
        assert report.rows_read == data_rows


@_SETTINGS
@given(
    export=exports(CONTACTS_HEADER, CONTACTS_VALID, ("Record ID", "Create Date"), {"Email": "E-Mail"}),
    options=HUBSPOT_OPTIONS,
)
def test_messy_hubspot_contacts_are_accounted_for_row_by_row(
    export: tuple[bytes, int, bool], options: dict[str, str]
) -> None:
    raw, data_rows, readable = export
    with tempfile.TemporaryDirectory() as directory:
        report = read_checked("hubspot", [_write(directory, "contacts.csv", raw)], options)
    if readable:
        assert report is not None, "an export with the columns it needs must read: bad values are rejects"
    if report is not None:
        assert report.rows_read == data_rows


@_SETTINGS
@given(data=st.data(), export=exports(DEALS_HEADER, DEALS_VALID, ("Record ID",), DEALS_RENAMES))
def test_damaged_hubspot_exports_raise_retainlib_errors_or_balance(
    data: st.DataObject, export: tuple[bytes, int, bool]
) -> None:
    broken = data.draw(damaged(export[0]))
    with tempfile.TemporaryDirectory() as directory:
        report = read_checked("hubspot", [_write(directory, "deals.csv", broken)], {"tz": "UTC", "currency": "USD"})
    if report is not None and broken.count(b",") > broken.count(b";"):
        expected = csv_data_rows(broken)
        if expected is not None:
            assert report.rows_read == expected


# --- Salesforce Data Export and reports -----------------------------------------------------------------

OPPORTUNITY_HEADER = [
    "Id", "IsDeleted", "AccountId", "Name", "StageName", "Amount", "CloseDate", "IsClosed", "IsWon", "ContactId",
    "Description",
]  # fmt: skip
OPPORTUNITY_VALID = [
    "006dN00000DrvO{i}", "0", "001dN00000v2DEwQAM", "Deal", "Closed Won", "100.00", "2026-07-01 00:00:00", "1", "1",
    "000000000000000AAA", "<p>rich\ntext</p>",
]  # fmt: skip
REPORT_HEADER = [
    "Opportunity Owner", "Account Name", "Account ID", "Opportunity Name", "Opportunity ID", "Stage", "Amount",
    "Close Date", "Won",
]  # fmt: skip
REPORT_VALID = [
    "Ann",
    "Acme",
    "001dN00000v2DEw",
    "Deal {i}",
    "006dN00000DrvO{i}",
    "Closed Won",
    "1,200.00",
    "7/1/2026",
    "1",
]
FOOTER = ["", "Grand Totals (3 records)", "", "Confidential Information - Do Not Distribute", "Copyright (c) 2000-2026"]
SALESFORCE_OPTIONS = st.fixed_dictionaries(
    {"currency": st.just("USD"), "locale": st.sampled_from(["en_US", "en_GB"])},
    optional={"tz": st.sampled_from(["UTC", "Europe/Paris"]), "won_stages": st.just("Negotiation")},
)


@_SETTINGS
@given(
    export=exports(
        OPPORTUNITY_HEADER,
        OPPORTUNITY_VALID,
        ("Id", "StageName", "CloseDate", "Amount"),
        {"Id": "ID", "AccountId": "accountid", "IsWon": "ISWON"},
    ),
    options=SALESFORCE_OPTIONS,
)
def test_messy_salesforce_exports_are_accounted_for_row_by_row(
    export: tuple[bytes, int, bool], options: dict[str, str]
) -> None:
    raw, data_rows, readable = export
    with tempfile.TemporaryDirectory() as directory:
        report = read_checked("salesforce", [_write(directory, "Opportunity.csv", raw)], options)
    if readable:
        assert report is not None, "an export with the columns it needs must read: bad values are rejects"
    if report is not None:
        assert report.rows_read == data_rows


@_SETTINGS
@given(
    export=exports(
        REPORT_HEADER,
        REPORT_VALID,
        ("Stage", "Amount", "Close Date"),
        {"Opportunity ID": "opportunity id", "Stage": "STAGE"},
        footer=FOOTER,
    ),
    options=SALESFORCE_OPTIONS,
)
def test_messy_salesforce_reports_are_accounted_for_with_their_footer(
    export: tuple[bytes, int, bool], options: dict[str, str]
) -> None:
    raw, data_rows, readable = export
    with tempfile.TemporaryDirectory() as directory:
        report = read_checked("salesforce", [_write(directory, "report.csv", raw)], {**options, "tz": "UTC"})
    if readable:
        assert report is not None, "a report with the columns it needs must read: bad values are rejects"
    if report is not None:
        assert report.rows_read == data_rows
        footer = report.rejects.filter(report.rejects["reason"].str.contains("report footer line"))
        assert footer.height >= 2  # never loaded, never silently dropped


@_SETTINGS
@given(data=st.data(), export=exports(OPPORTUNITY_HEADER, OPPORTUNITY_VALID, ("Id",), {"Id": "ID"}))
def test_damaged_salesforce_exports_raise_retainlib_errors_or_balance(
    data: st.DataObject, export: tuple[bytes, int, bool]
) -> None:
    broken = data.draw(damaged(export[0]))
    with tempfile.TemporaryDirectory() as directory:
        report = read_checked("salesforce", [_write(directory, "Opportunity.csv", broken)], {"currency": "USD"})
    if report is not None and broken.count(b",") > broken.count(b";"):
        expected = csv_data_rows(broken)
        if expected is not None:
            assert report.rows_read == expected


# --- Salesforce renewals as subscription segments -------------------------------------------------------

RENEWAL_HEADER = [*OPPORTUNITY_HEADER, "Contract_Start_Date__c", "Contract_End_Date__c", "Contract_Term__c"]
RENEWAL_VALID = [*OPPORTUNITY_VALID, "2026-07-01 00:00:00", "2027-06-30 00:00:00", "12"]


@_SETTINGS
@given(
    export=exports(
        RENEWAL_HEADER,
        RENEWAL_VALID,
        ("Id", "StageName", "CloseDate", "Amount", "Contract_Start_Date__c"),
        {"Contract_End_Date__c": "CONTRACT_END_DATE__C", "Contract_Term__c": "Term"},
    ),
    options=SALESFORCE_OPTIONS,
    opportunities=st.sampled_from(["subscriptions", "both"]),
)
def test_messy_salesforce_renewals_are_accounted_for_in_each_table(
    export: tuple[bytes, int, bool], options: dict[str, str], opportunities: str
) -> None:
    raw, data_rows, readable = export
    with tempfile.TemporaryDirectory() as directory:
        path = _write(directory, "Opportunity.csv", raw)
        report = read_checked("salesforce", [path], {**options, "opportunities": opportunities})
    if readable:  # a drop or a rename leaves one of the end date and the term: bad values are rejects
        assert report is not None, "an export with the columns it needs must read: bad values are rejects"
    if report is not None:
        tables = sorted(f.table for f in report.files)
        assert tables == (["orders", "subscriptions"] if opportunities == "both" else ["subscriptions"])
        assert all(f.rows_read == data_rows for f in report.files)  # each table accounts for every row
