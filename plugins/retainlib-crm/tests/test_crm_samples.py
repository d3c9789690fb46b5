"""Every real HubSpot and Salesforce sample of the shared data folder loads (skipped when the folder is absent).

The expectations are computed here from the files with the :mod:`csv` module,
independently of the source.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import polars as pl
import pytest

import retainlib as rl
import retainlib_crm
from retainlib import _host
from retainlib.errors import SourceError
from retainlib.testing import assert_canonical, assert_report_balanced

HOST = _host.build_host(entry_points=False, plugins=[retainlib_crm])


def records(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The header and the data records of a CSV file, read with the csv module."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    return header, [dict(zip(header, row, strict=False)) for row in rows[1:] if any(c.strip() for c in row)]


def samples(shared: Path, vendor: str) -> list[Path]:
    found = sorted((shared / "formats" / vendor).glob("*.csv"))
    assert found, f"no {vendor} sample in {shared}"
    return found


def test_every_hubspot_sample_loads(shared_data: Path) -> None:
    for path in samples(shared_data, "hubspot"):
        header, rows = records(path)
        head = path.read_bytes()[: 64 * 1024]
        assert retainlib_crm.detect_hubspot(path, head) == retainlib_crm.CONFIDENT, path.name
        ds = HOST.read(HOST.sources["hubspot"], [path], {"tz": "UTC"})
        assert ds.report is not None
        assert_report_balanced(ds.report)
        assert ds.report.rows_read == len(rows)
        assert ds.customers is not None  # contacts exports: customers
        assert_canonical(ds.customers.collect(), "customers", extra=True)
        # the headers HubSpot writes: quotes inside names, and (all properties) names written twice
        assert any('"' in name for name in header)


def test_the_all_properties_export_has_repeated_columns_and_reads(shared_data: Path) -> None:
    path = shared_data / "formats" / "hubspot" / "contacts_export.header_only.all_properties.vertmonhub.csv"
    if not path.exists():
        pytest.skip(f"{path.name} not in the shared data")
    header, _ = records(path)
    assert header.count("Billing Contact") == 2
    ds = rl.read(path, tz="America/New_York")  # detected by content
    assert ds.source == "hubspot"


def test_every_salesforce_sample_loads(shared_data: Path) -> None:
    for path in samples(shared_data, "salesforce"):
        _, rows = records(path)
        head = path.read_bytes()[: 64 * 1024]
        assert retainlib_crm.detect_salesforce(path, head) == retainlib_crm.CONFIDENT, path.name
        ds = HOST.read(HOST.sources["salesforce"], [path], {"currency": "USD"})
        assert ds.report is not None
        assert_report_balanced(ds.report)
        assert ds.report.rows_read == len(rows)


def test_salesforce_samples_hand_checked(shared_data: Path) -> None:
    folder = shared_data / "formats" / "salesforce"
    files = {name: next(folder.glob(f"{name}.*.csv"), None) for name in ("Account", "Opportunity", "Case")}
    if any(f is None for f in files.values()):
        pytest.skip("the Data Export samples are not all in the shared data")
    paths = [f for f in files.values() if f is not None]
    ds = rl.read("salesforce", *paths, currency="USD")
    _, accounts = records(files["Account"])  # type: ignore[arg-type]
    _, opportunities = records(files["Opportunity"])  # type: ignore[arg-type]
    _, cases = records(files["Case"])  # type: ignore[arg-type]
    assert ds.customers is not None
    customers = ds.customers.collect()
    assert customers["customer_id"].to_list() == [r["Id"] for r in accounts if r["IsDeleted"] == "0"]
    first = customers.row(0, named=True)
    created = dt.datetime.strptime(accounts[0]["CreatedDate"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC)
    assert (first["name"], first["created_at"]) == (accounts[0]["Name"], created)
    # the only opportunity is open (IsWon 0): no order, one rejected row saying why
    won = [r for r in opportunities if r["IsWon"] == "1"]
    orders = ds.orders.collect() if ds.orders is not None else pl.DataFrame()
    assert orders.height == len(won) == 0
    assert ds.report is not None
    reasons = ds.report.rejects["reason"].to_list()
    assert reasons == [f"IsWon: an open opportunity (stage {opportunities[0]['StageName']}), not an order"]
    # the case: its account (not the empty lookups 000000000000000AAA of its other lookups), opened, not closed
    assert ds.tickets is not None
    tickets = ds.tickets.collect()
    assert tickets.select("ticket_id", "customer_id").rows() == [(c["Id"], c["AccountId"]) for c in cases]
    assert tickets["solved_at"].to_list() == [None] * len(cases)
    assert_canonical(tickets, "tickets", extra=True)


def test_the_real_opportunity_export_has_no_contract_dates_for_subscriptions(shared_data: Path) -> None:
    """The sample is a standard Opportunity: no contract date field, so segments are refused, naming the columns."""
    path = next((shared_data / "formats" / "salesforce").glob("Opportunity.*.csv"), None)
    if path is None:
        pytest.skip("the Opportunity sample is not in the shared data")
    header, _ = records(path)
    assert not [c for c in header if "contract" in c.lower() or c.lower().startswith("sbqq__")]
    with pytest.raises(SourceError, match=r"lacks the column\(s\) 'Contract_Start_Date__c', 'Contract_End_Date__c'"):
        rl.read("salesforce", path, currency="USD", opportunities="subscriptions")
