"""The ``hubspot`` source on small exports written by hand, one quirk at a time, with hand-computed results."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner
from polars.testing import assert_frame_equal

import retainlib as rl
import retainlib_crm
from retainlib import _host
from retainlib.cli import main
from retainlib.errors import OptionError, SourceError
from retainlib.load_report import LoadReport
from retainlib.plugins import watching_progress
from retainlib.tables import CUSTOMERS, MONEY, ORDERS, TIMESTAMP
from retainlib.testing import assert_canonical, assert_report_balanced

HOST = _host.build_host(entry_points=False, plugins=[retainlib_crm])
UTC = dt.UTC


def read(*paths: Path, **options: Any) -> rl.Dataset:
    """A read through a host holding the plugin (whether or not it is installed)."""
    return HOST.read(HOST.sources["hubspot"], list(paths), options)


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


def customers(rows: list[tuple[str, dt.datetime, str | None, str | None, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={**CUSTOMERS.schema, "kind": pl.String, "record_id": pl.String},
        orient="row",
    )


def orders(rows: list[tuple[str, str, dt.datetime, str, str, str, str, str]]) -> pl.DataFrame:
    frame = pl.DataFrame(
        rows,
        schema={
            "order_id": pl.String,
            "customer_id": pl.String,
            "ordered_at": TIMESTAMP,
            "amount": pl.String,
            "currency": pl.String,
            "deal_name": pl.String,
            "pipeline": pl.String,
            "deal_stage": pl.String,
        },
        orient="row",
    )
    return frame.with_columns(pl.col("amount").cast(MONEY))


# --- discovery --------------------------------------------------------------------------------------------


def test_both_sources_come_from_the_installed_entry_point() -> None:
    points = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="retainlib")}
    assert points.get("crm") == "retainlib_crm"
    sources = rl.sources()
    assert "hubspot" in sources
    assert "salesforce" in sources
    listed = CliRunner().invoke(main, ["sources"])
    assert listed.exit_code == 0
    assert "hubspot" in listed.output
    assert "salesforce" in listed.output


# --- contacts and companies -------------------------------------------------------------------------------


def test_contacts_export_every_quirk(fixtures: Path) -> None:
    ds = read(fixtures / "hubspot_contacts.csv", tz="Europe/Paris")
    expected = customers(
        [
            # "51.0" is record 51; the e-mail is normalised; 09:30 in Paris is 08:30 UTC (winter)
            ("contact-51", at(2024, 1, 5, 8, 30), "ann@example.com", "Ann Lee", "contact", "51"),
            ("contact-52", at(2024, 1, 6, 9), "bob@example.com", "Bob", "contact", "52"),
            # an ISO time with its offset needs no zone; its record spans two lines (a quoted line break)
            ("contact-57", at(2024, 2, 1, 8), None, "Gus", "contact", "57"),
            # summer time: 23:59 in Paris is 21:59 UTC
            ("contact-58", at(2024, 6, 30, 21, 59), "hal@example.com", "Hal Ito", "contact", "58"),
        ]
    )
    assert_frame_equal(table(ds, "customers"), expected)
    assert_canonical(table(ds, "customers"), "customers", extra=True)
    assert rejects(ds) == [
        (
            "hubspot_contacts.csv",
            4,
            "Email",
            "Email: the header has 2 columns for this field and this row's values differ (which one is right cannot "
            "be told)",
        ),
        ("hubspot_contacts.csv", 5, "Record ID", "Record ID: missing"),
        ("hubspot_contacts.csv", 7, "Create Date", "Create Date: missing"),
        (
            "hubspot_contacts.csv",
            8,
            "Create Date",
            "Create Date: not a date and time (expected 2024-03-01 10:00, as HubSpot exports write times)",
        ),
        (
            "hubspot_contacts.csv",
            9,
            "Create Date",
            "Create Date: a local time that does not exist in Europe/Paris (skipped by a clock change)",
        ),
        ("hubspot_contacts.csv", 12, "customer_id", "customer_id: duplicate id"),
    ]
    # 10 records: the blank line (6) and the line of separators (13) are not records
    (load,) = report(ds).files
    assert (load.rows_read, load.rows_loaded, load.rows_rejected) == (10, 4, 6)


def test_companies_export(fixtures: Path) -> None:
    ds = read(fixtures / "hubspot_companies.csv", tz="America/New_York")
    expected = customers(
        [
            ("company-9001", at(2023, 12, 1, 13), None, "Acme", "company", "9001"),
            ("company-9002", at(2023, 12, 2, 13), None, "Globex", "company", "9002"),
        ]
    )
    assert_frame_equal(table(ds, "customers"), expected)
    assert rejects(ds) == [
        ("hubspot_companies.csv", 4, "Record ID", "Record ID: not a HubSpot record id (a whole number)")
    ]


def test_local_times_are_refused_without_tz(fixtures: Path) -> None:
    with pytest.raises(SourceError, match=r"pass tz='America/New_York'") as caught:
        read(fixtures / "hubspot_contacts.csv")
    assert caught.value.file == fixtures / "hubspot_contacts.csv"


# --- deals ---------------------------------------------------------------------------------------------------

DEALS = [
    # Is Closed Won true; "101.0" is 101; the primary company wins over the list and the contact
    ("101", "company-9001", at(2024, 3, 1, 9), "1200", "USD", "Acme renewal", "Sales Pipeline", "Closed Won"),
    # the internal value closedwon; no company: its contact; a blank currency: the currency option
    ("102", "contact-52", at(2024, 3, 15, 11), "500.5", "EUR", "Globex new", "Sales Pipeline", "closedwon"),
    # a custom stage, but Is Closed Won says won; no primary company: the first of the list
    ("105", "company-9002", at(2024, 4, 2, 7), "250", "EUR", "Umbrella", "Renewals", "Won (custom)"),
    # Is Closed Won blank: the stage decides; "Euro (EUR)" is EUR
    ("111", "company-9002", at(2024, 4, 5, 7), "75.25", "EUR", "Oscorp", "Sales Pipeline", "Closed Won"),
]
DEAL_REJECTS = [
    ("hubspot_deals.csv", 4, "Deal Stage", "Deal Stage: a lost deal (Closed Lost), not an order"),
    ("hubspot_deals.csv", 5, "Deal Stage", "Deal Stage: not closed won (Appointment Scheduled), not an order"),
    ("hubspot_deals.csv", 7, "Amount", "Amount: not a number"),
    (
        "hubspot_deals.csv",
        8,
        "Associated Company IDs",
        "Associated Company IDs: no associated company or contact (export the deals with their associations)",
    ),
    ("hubspot_deals.csv", 9, "Close Date", "Close Date: missing"),
    ("hubspot_deals.csv", 10, "Amount", "Amount: negative"),
    ("hubspot_deals.csv", 11, "order_id", "order_id: duplicate id"),
    ("hubspot_deals.csv", 12, "Is Closed Won", "Is Closed Won: not a boolean (expected 1/0 or true/false)"),
]


def test_closed_won_deals_become_orders_of_their_company(fixtures: Path) -> None:
    ds = read(fixtures / "hubspot_deals.csv", tz="Europe/Paris", currency="EUR")
    assert_frame_equal(table(ds, "orders"), orders(DEALS))
    assert_canonical(table(ds, "orders"), "orders", extra=True)
    assert rejects(ds) == DEAL_REJECTS
    # the hand-computed revenue: 1200 USD; 500.50 + 250 + 75.25 = 825.75 EUR
    sums = table(ds, "orders").group_by("currency").agg(pl.col("amount").sum()).sort("currency")
    assert sums.rows() == [("EUR", Decimal("825.75")), ("USD", Decimal("1200"))]


def test_customer_contact_puts_the_contact_first(fixtures: Path) -> None:
    ds = read(fixtures / "hubspot_deals.csv", tz="UTC", currency="EUR", customer="contact")
    got = dict(table(ds, "orders").select("order_id", "customer_id").iter_rows())
    assert got == {"101": "contact-51", "102": "contact-52", "105": "company-9002", "111": "company-9002"}


def test_deals_without_a_currency_need_the_currency_option(fixtures: Path) -> None:
    with pytest.raises(SourceError, match=r"1 closed-won deal\(s\) have no currency .* pass currency="):
        read(fixtures / "hubspot_deals.csv", tz="UTC")


def test_deals_and_their_customers_read_together(fixtures: Path) -> None:
    ds = read(
        fixtures / "hubspot_deals.csv",
        fixtures / "hubspot_contacts.csv",
        fixtures / "hubspot_companies.csv",
        tz="Europe/Paris",
        currency="EUR",
    )
    loads = {(Path(f.file).name, f.table): (f.rows_read, f.rows_loaded) for f in report(ds).files}
    assert loads == {
        ("hubspot_deals.csv", "orders"): (12, 4),
        ("hubspot_contacts.csv", "customers"): (10, 4),
        ("hubspot_companies.csv", "customers"): (3, 2),
    }
    known = set(table(ds, "customers")["customer_id"])
    # every order's customer is a customer read in the same call: companies and contacts never collide
    assert set(table(ds, "orders")["customer_id"]) <= known
    assert {"company-9001", "contact-51"} <= known


def test_won_stages_adds_stages_of_custom_pipelines(tmp_path: Path) -> None:
    path = tmp_path / "deals.csv"
    path.write_text(
        '"Record ID","Deal Name","Deal Stage","Close Date","Amount","Currency","Associated Company IDs"\n'
        '"1","A","Signed","2024-05-01 12:00","10","USD","7"\n'
        '"2","B","Contract signed","2024-05-01 12:00","20","USD","7"\n'
        '"3","C","Closed Won","2024-05-01 12:00","30","USD","7"\n',
        encoding="utf-8",
    )
    plain = read(path, tz="UTC")
    assert table(plain, "orders")["order_id"].to_list() == ["3"]
    more = read(path, tz="UTC", won_stages="signed; Contract Signed")
    assert table(more, "orders")["order_id"].to_list() == ["1", "2", "3"]
    assert report(more).rows_rejected == 0


# --- localized headers and labels --------------------------------------------------------------------------

LOCALIZED = {
    "de": (
        [
            "Datensatz-ID", "Deal-Name", "Deal-Phase", "Abschlussdatum", "Betrag", "Währung",
            "Zugeordnete Unternehmens-IDs",
        ],
        ("Abgeschlossen und gewonnen", "Abgeschlossen und verloren"),
    ),
    "fr": (
        [
            "ID de fiche d'informations", "Nom de la transaction", "Phase de la transaction", "Date de fermeture",
            "Montant", "Devise", "ID des entreprises associées",
        ],
        ("Fermé gagné", "Fermé perdu"),
    ),
    "es": (
        ["ID de registro", "Nombre del negocio", "Etapa del negocio", "Fecha de cierre", "Importe", "Moneda",
         "ID de empresas asociadas"],
        ("Cerrado ganado", "Cerrado perdido"),
    ),
}  # fmt: skip


@pytest.mark.parametrize("language", sorted(LOCALIZED))
def test_localized_headers_and_stage_labels(tmp_path: Path, language: str) -> None:
    header, (won, lost) = LOCALIZED[language]
    path = tmp_path / f"deals_{language}.csv"
    lines = [
        ",".join(f'"{h}"' for h in header),
        f'"201","Müller","{won}","2024-05-02 14:00","999.99","EUR","7001"',
        f'"202","Schmidt","{lost}","2024-05-03 14:00","10","EUR","7002"',
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ds = read(path, tz="Europe/Berlin")
    got = table(ds, "orders").select("order_id", "customer_id", "ordered_at", "amount", "currency").rows()
    assert got == [("201", "company-7001", at(2024, 5, 2, 12), Decimal("999.99"), "EUR")]
    ((_, line, column, reason),) = rejects(ds)
    assert (line, column) == (3, header[2])
    assert reason == f"{header[2]}: a lost deal ({lost}), not an order"


def test_mapping_renames_headers_the_table_lacks(tmp_path: Path) -> None:
    path = tmp_path / "deals.csv"
    path.write_text(
        '"Datensatz-Nr.","Phase","Schluss","Wert","Firma"\n"5","Closed Won","2024-05-02 14:00","12","70"\n',
        encoding="utf-8",
    )
    with pytest.raises(SourceError, match="not a HubSpot export"):
        read(path, tz="UTC", currency="EUR")
    mapping = "Datensatz-Nr.=Record ID; Phase=Deal Stage; Schluss=Close Date; Wert=Amount; Firma=Associated Company IDs"
    ds = read(path, tz="UTC", currency="EUR", mapping=mapping)
    assert table(ds, "orders").select("order_id", "customer_id", "amount").rows() == [
        ("5", "company-70", Decimal("12"))
    ]
    as_dict = read(path, tz="UTC", currency="EUR", mapping=dict(p.split("=") for p in mapping.split("; ")))
    assert_frame_equal(table(as_dict, "orders"), table(ds, "orders"))


# --- files: separators, encodings, damage ----------------------------------------------------------------------


def test_resaved_files_semicolons_bom_and_latin1(tmp_path: Path, fixtures: Path) -> None:
    original = (fixtures / "hubspot_companies.csv").read_text(encoding="utf-8")
    expected = table(read(fixtures / "hubspot_companies.csv", tz="UTC"), "customers")
    semicolons = tmp_path / "semicolons.csv"
    semicolons.write_text(original.replace('","', '";"'), encoding="utf-8")
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + original.encode())
    utf16 = tmp_path / "utf16.csv"
    utf16.write_text(original, encoding="utf-16")
    latin = tmp_path / "latin.csv"
    latin.write_bytes(original.replace("Globex", "Glöbex").encode("latin-1"))
    for path in (semicolons, bom, utf16):
        assert_frame_equal(table(read(path, tz="UTC"), "customers"), expected)
    decoded = table(read(latin, tz="UTC", encoding="latin-1"), "customers")
    assert decoded["name"].to_list() == ["Acme", "Glöbex"]
    lossy = table(read(latin, tz="UTC"), "customers")  # a stray byte is U+FFFD, the row still reads
    assert lossy["name"].to_list() == ["Acme", "Gl\ufffdbex"]


def test_a_row_longer_than_the_header_is_rejected_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "companies.csv"
    path.write_text(
        '"Record ID","Company name","Create Date"\n"1","A","2024-01-01 10:00"\n"2","B","2024-01-01 10:00","x"\n'
        '"3","C","2024-01-01 10:00"\n',
        encoding="utf-8",
    )
    ds = read(path, tz="UTC")
    assert table(ds, "customers")["customer_id"].to_list() == ["company-1", "company-3"]
    assert rejects(ds) == [("companies.csv", 3, "line", "line: the row has 4 fields; the header has 3")]


def test_files_that_are_not_hubspot_exports_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(SourceError, match="the file is empty"):
        read(empty, tz="UTC")
    canonical = tmp_path / "orders.csv"
    canonical.write_text("order_id,customer_id,ordered_at,amount,currency\n1,c1,2024-01-01T00:00:00Z,5,USD\n")
    with pytest.raises(SourceError, match="not a HubSpot export"):
        read(canonical, tz="UTC")
    no_close = tmp_path / "deals.csv"
    no_close.write_text('"Record ID","Deal Name","Deal Stage","Amount","Associated Company IDs"\n')
    with pytest.raises(SourceError, match="lacks the column\\(s\\) 'Close Date'"):
        read(no_close, tz="UTC")
    broken = tmp_path / "broken.csv"
    broken.write_text('"Record ID","Company name","Create Date"\n"1","A,"2024-01-01 10:00"\n"2","B","C"\n')
    with pytest.raises(SourceError, match=r"line 2: .*broken quote"):
        read(broken, tz="UTC")


# --- options, detection, progress, command line -------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"tz": "Mars/Olympus"}, "tz"),
        ({"currency": "EURO"}, "currency"),
        ({"customer": "person"}, "customer"),
        ({"won_stages": 5}, "won_stages"),
        ({"mapping": "Record ID"}, "mapping"),
        ({"mapping": {"Nr": "Not a column"}}, "mapping"),
        ({"encoding": "klingon"}, "encoding"),
    ],
)
def test_options_are_checked(fixtures: Path, options: dict[str, object], option: str) -> None:
    with pytest.raises(OptionError) as caught:
        read(fixtures / "hubspot_companies.csv", **options)
    assert caught.value.option == option


def test_unknown_options_are_refused_by_the_host(fixtures: Path) -> None:
    with pytest.raises(OptionError, match="no option"):
        read(fixtures / "hubspot_companies.csv", locale="en_US")


def test_detection_by_content(fixtures: Path, tmp_path: Path) -> None:
    detect = retainlib_crm.detect_hubspot
    for name in ("hubspot_contacts.csv", "hubspot_companies.csv", "hubspot_deals.csv"):
        assert detect(fixtures / name, (fixtures / name).read_bytes()) == retainlib_crm.CONFIDENT
        assert retainlib_crm.detect_salesforce(fixtures / name, (fixtures / name).read_bytes()) == 0
    zoho_like = b"Record Id,First Name,Last Name,Email\n1,A,B,a@b.c\n"
    assert detect(tmp_path / "x.csv", zoho_like) == retainlib_crm.LIKELY
    canonical = b"customer_id,created_at,email\nc1,2024-01-01T00:00:00Z,a@b.c\n"
    assert detect(tmp_path / "customers.csv", canonical) == 0
    assert detect(tmp_path / "x.csv", b"\x00\xff garbage") == 0
    path = tmp_path / "export-2024.csv"  # any name: found by content
    path.write_bytes((fixtures / "hubspot_companies.csv").read_bytes())
    assert rl.read(path, tz="UTC").source == "hubspot"


def test_progress_is_reported_per_file(fixtures: Path) -> None:
    seen: list[tuple[str, int]] = []
    with watching_progress(lambda path, rows: seen.append((path.name, rows))):
        read(fixtures / "hubspot_companies.csv", fixtures / "hubspot_deals.csv", tz="UTC", currency="EUR")
    assert seen == [("hubspot_companies.csv", 3), ("hubspot_deals.csv", 12)]


def test_command_line_read(fixtures: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        [
            "read",
            "hubspot",
            str(fixtures / "hubspot_deals.csv"),
            str(fixtures / "hubspot_companies.csv"),
            "--out",
            str(out),
            "--tz",
            "Europe/Paris",
            "-o",
            "currency=EUR",
        ],
    )
    assert result.exit_code == 0, result.output
    written = pl.read_parquet(out / "orders.parquet")
    assert sorted(written["order_id"].to_list()) == ["101", "102", "105", "111"]
    assert written.columns[: len(ORDERS.schema)] == ORDERS.schema.names()
    assert pl.read_parquet(out / "rejected").height == len(DEAL_REJECTS) + 1  # and the companies file's one
