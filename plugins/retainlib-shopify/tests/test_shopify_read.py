"""The ``shopify`` source on small exports and payloads written here, one quirk at a time, and on the real samples."""

from __future__ import annotations

import csv
import datetime as dt
import importlib.metadata
import io
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner
from polars.testing import assert_frame_equal

import retainlib as rl
import retainlib_shopify as shopify
from retainlib import _host
from retainlib._exports.shopify import CUSTOMERS_HEADER, ORDERS_HEADER
from retainlib.cli import main
from retainlib.errors import DataError, OptionError, SourceError
from retainlib.load_report import LoadReport
from retainlib.plugins import watching_progress
from retainlib.tables import MONEY, TIMESTAMP
from retainlib.testing import assert_canonical, assert_report_balanced

HOST = _host.build_host(entry_points=False, plugins=[shopify])


def table(ds: rl.Dataset, name: str) -> pl.DataFrame:
    """A table of a dataset, collected (it must be there)."""
    frame = getattr(ds, name)
    assert frame is not None, f"no {name} table"
    result: pl.DataFrame = frame.collect()
    return result


def report(ds: rl.Dataset) -> LoadReport:
    """The load report of a dataset read from files."""
    assert ds.report is not None
    return ds.report


UTC = dt.UTC


def read(*paths: Path, **options: Any) -> rl.Dataset:
    """A read through a host holding the plugin (whether or not it is installed)."""
    return HOST.read(HOST.sources["shopify"], list(paths), options)


# --- writing exports --------------------------------------------------------------------------


def export(
    path: Path, rows: Sequence[Mapping[str, str]], header: Sequence[str] = ORDERS_HEADER, sep: str = ","
) -> Path:
    """A CSV export with ``header`` and one row per mapping (absent columns empty), as the admin writes it."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", delimiter=sep)
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(c, "") for c in header])
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def head(name: str, email: str, created: str, total: str, **fields: str) -> dict[str, str]:
    """An order's first row: its order fields and its first line item."""
    row = {
        "Name": name,
        "Email": email,
        "Financial Status": "paid",
        "Currency": "USD",
        "Subtotal": total,
        "Shipping": "0.00",
        "Taxes": "0.00",
        "Total": total,
        "Created at": created,
        "Lineitem quantity": "1",
        "Lineitem name": "Mug",
        "Refunded Amount": "0.00",
    }
    row.update(fields)
    return row


def line(name: str, email: str, created: str, **fields: str) -> dict[str, str]:
    """A follow-on row: the order's name, e-mail and time, and a line item."""
    return {
        "Name": name,
        "Email": email,
        "Created at": created,
        "Lineitem quantity": "2",
        "Lineitem name": "Tea",
        **fields,
    }


def split_export(folder: Path) -> tuple[Path, Path]:
    """Two files of one export, covering the quirks of the orders export (lines below are the file's)."""
    first = export(
        folder / "orders_export_1.csv",
        [
            # line 2-3: a multi-line Note Attributes; line 4 its second line item
            head("#1008", "ann@example.com", "2024-03-05 09:15:00 -0500", "48.20", Subtotal="40.00",
                 Shipping="5.00", Taxes="3.20", Id="5008", **{"Note Attributes": "gift: yes\nwrap: blue"}),
            line("#1008", "ann@example.com", "2024-03-05 09:15:00 -0500"),
            head("#1007", " BOB@Example.com ", "2024-03-04 18:00:00 -0500", "118.00", Subtotal="100.00",
                 Shipping="10.00", Taxes="8.00", Id="5007", **{"Financial Status": "partially_refunded",
                                                                "Refunded Amount": "59.00"}),  # line 5
            head("#1006", "cy@example.com", "2024-03-04 10:00:00 -0500", "30.00", Id="5006",
                 **{"Financial Status": "refunded", "Refunded Amount": "30.00",
                    "Cancelled at": "2024-03-04 12:00:00 -0500"}),  # line 6
            head("#1005", "dee@example.com", "2024-03-03 10:00:00 -0500", "9.99", Id="5005",
                 **{"Payment Method": "bogus"}),  # line 7
            head("#1004", "ann@example.com", "2024-03-02 10:00:00 -0500", "25.00", Id="5004",
                 **{"Financial Status": "refunded", "Refunded Amount": "25.00"}),  # line 8
            head("#1003", "bob@example.com", "2024-03-02 09:00:00 -0500", "12.00", Id="5003",
                 **{"Financial Status": "voided"}),  # line 9
            head("#1002", "", "2024-03-01 11:00:00 -0500", "7.00", Id="5002"),  # line 10
            head("#1001", "v4bccx6blfx5zk5ceppeb3tfryx2e@scs3.tiktok.com", "2024-03-01 10:00:00 -0500", "15.50",
                 Id="5001"),  # line 11
            head("#1009", "ann@example.com", "2024-03-06 23:30:00 +0100", "20.00", Currency="EUR", Id="5009"),  # 12
        ],
    )  # fmt: skip
    second = export(
        folder / "orders_export_2.csv",
        [
            line("#1009", "ann@example.com", "2024-03-06 23:30:00 +0100"),  # line 2: #1009 straddles the files
            head("#1010", "bob@example.com", "2024-03-07 08:00:00 -0500", "5.00", Id="5010"),  # line 3
            line("#1010", "bob@example.com", "07/03/2024 08:00"),  # line 4: a spreadsheet's date
        ],
    )
    return first, second


def orders_frame(rows: Sequence[tuple[str, str, dt.datetime, str, str, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "order_id": pl.String,
            "customer_id": pl.String,
            "ordered_at": TIMESTAMP,
            "amount": pl.String,
            "currency": pl.String,
            "order_name": pl.String,
            "financial_status": pl.String,
        },
        orient="row",
    ).with_columns(pl.col("amount").cast(MONEY))


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# --- discovery --------------------------------------------------------------------------------


def test_the_plugin_is_installed_and_listed() -> None:
    names = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="retainlib")}
    assert names.get("shopify") == "retainlib_shopify"
    assert "shopify" in rl.sources()
    result = CliRunner().invoke(main, ["sources"])
    assert result.exit_code == 0 and "shopify" in result.output


# --- the orders export ------------------------------------------------------------------------


def test_a_split_export_reads_as_one_with_every_row_accounted_for(tmp_path: Path) -> None:
    first, second = split_export(tmp_path)
    ds = read(first, second)
    expected = orders_frame(
        [
            ("5008", "ann@example.com", at(2024, 3, 5, 14, 15), "48.20", "USD", "#1008", "paid"),
            ("5007", "bob@example.com", at(2024, 3, 4, 23, 0), "59.00", "USD", "#1007", "partially_refunded"),
            ("5001", "v4bccx6blfx5zk5ceppeb3tfryx2e@scs3.tiktok.com", at(2024, 3, 1, 15, 0), "15.50", "USD",
             "#1001", "paid"),
            ("5009", "ann@example.com", at(2024, 3, 6, 22, 30), "20.00", "EUR", "#1009", "paid"),
        ]
    )  # fmt: skip
    assert_frame_equal(table(ds, "orders"), expected)
    assert_canonical(table(ds, "orders"), "orders", extra=True)
    rejects = report(ds).rejects.select("file", "line", "column", "reason").rows()
    assert rejects == [
        (str(first), 6, "Cancelled at", "Cancelled at: a cancelled order (cancelled 2024-03-04 12:00:00 -0500)"),
        (str(first), 7, "Payment Method", "Payment Method: a test order (Shopify's Bogus gateway)"),
        (str(first), 8, "Financial Status", "Financial Status: refunded (fully refunded)"),
        (str(first), 9, "Financial Status", "Financial Status: voided (never paid)"),
        (str(first), 10, "Email", "Email: no customer id and no e-mail: the customer cannot be identified "
                                  "(a guest, point-of-sale or cash-on-delivery order?)"),
        (str(second), 3, "order_id", "order_id: another line of this order was rejected (line 4)"),
        (str(second), 4, "Created at", "Created at: not a date and time with its UTC offset "
                                       "(expected 2024-03-01 10:00:00 -0500)"),
    ]  # fmt: skip
    loads = [
        (Path(f.file).name, f.table, f.rows_read, f.rows_loaded, f.rows_rejected, f.records) for f in report(ds).files
    ]
    # File 1: 10 rows (the Note Attributes record spans lines 2-3), 5 of them in 3 loaded orders, and #1009 is
    # counted where its first row is; file 2: #1009's second row, loaded, and #1010's two rows, rejected.
    assert loads == [("orders_export_1.csv", "orders", 10, 5, 5, 4), ("orders_export_2.csv", "orders", 3, 1, 2, 0)]
    assert_report_balanced(ds)
    customers = table(ds, "customers")
    assert sorted(customers["customer_id"]) == sorted(
        ["ann@example.com", "bob@example.com", "v4bccx6blfx5zk5ceppeb3tfryx2e@scs3.tiktok.com"]
    )
    ann = customers.filter(pl.col("customer_id") == "ann@example.com").row(0, named=True)
    assert ann["created_at"] == at(2024, 3, 5, 14, 15) and ann["email"] == "ann@example.com"


def test_the_other_file_is_named_when_the_bad_row_is_there(tmp_path: Path) -> None:
    first = export(tmp_path / "orders_export_1.csv", [head("#1", "a@x.com", "2024-03-01 10:00:00 -0500", "5.00")])
    second = export(tmp_path / "orders_export_2.csv", [line("#1", "a@x.com", "2024-13-01 10:00:00 -0500")])
    ds = read(first, second)
    assert report(ds).rejects.select("file", "line", "reason").rows()[0] == (
        str(first),
        2,
        f"order_id: another line of this order was rejected (line 2 of {second})",
    )


def test_amount_is_what_was_paid_and_kept_or_the_kept_share_of_the_subtotal(tmp_path: Path) -> None:
    first, second = split_export(tmp_path)
    kept = dict(table(read(first, second), "orders").select("order_id", "amount").rows())
    # #1008: Total 48.20, nothing refunded; #1007: Total 118.00 - Refunded 59.00.
    assert kept["5008"] == Decimal("48.20") and kept["5007"] == Decimal("59.00")
    subtotal = dict(table(read(first, second, amount="subtotal"), "orders").select("order_id", "amount").rows())
    # #1008: the subtotal 40.00; #1007: 100.00 x (118.00 - 59.00) / 118.00 = 50.00.
    assert subtotal["5008"] == Decimal("40.00") and subtotal["5007"] == Decimal("50.00")


@pytest.mark.parametrize(
    ("subtotal", "total", "refunded", "expected"),
    [
        ("10.00", "10.00", "0.00", "10.00"),  # nothing refunded: the subtotal
        ("10.00", "12.00", "4.00", "6.6667"),  # 10 x 8 / 12 = 6.66666... rounded half-even to 4 places
        ("0.01", "0.03", "0.02", "0.0033"),  # 0.01 x 0.01 / 0.03
        ("100", "100", "99.99", "0.01"),
        ("0.00", "5.00", "1.00", "0.00"),  # shipping only
    ],
)
def test_the_subtotal_share_by_hand(tmp_path: Path, subtotal: str, total: str, refunded: str, expected: str) -> None:
    path = export(
        tmp_path / "orders_export_1.csv",
        [head("#1", "a@x.com", "2024-03-01 10:00:00 -0500", total, Subtotal=subtotal,
              **{"Refunded Amount": refunded})],
    )  # fmt: skip
    ds = read(path, amount="subtotal")
    assert table(ds, "orders")["amount"].to_list() == [Decimal(expected)]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"Total": ""}, "Total: missing"),
        ({"Total": "1,299.00"}, "Total: not a number"),
        ({"Total": "1e3"}, "Total: not a number"),
        ({"Total": "-5.00"}, "Total: negative"),
        ({"Total": "5.00001"}, "Total: more than 4 decimal places"),
        ({"Total": "9" * 21}, "Total: out of range (at most 20 integer digits)"),
        ({"Refunded Amount": "abc"}, "Refunded Amount: not a number"),
        ({"Refunded Amount": "6.00"}, "Refunded Amount: fully refunded (6.0000 of 5.0000)"),
        ({"Financial Status": "expired"}, "Financial Status: expired (never paid)"),
        ({"Currency": "dollars"}, "currency: not an ISO 4217 currency code"),
        ({"Currency": ""}, "currency: missing value"),
        ({"Created at": ""}, "Created at: missing"),
        ({"Created at": "2024-03-01 10:00:00"}, "Created at: not a date and time with its UTC offset "
                                                "(expected 2024-03-01 10:00:00 -0500)"),
    ],
)  # fmt: skip
def test_an_order_that_is_no_order_is_rejected_with_its_reason(
    tmp_path: Path, fields: dict[str, str], reason: str
) -> None:
    path = export(
        tmp_path / "orders_export_1.csv", [head("#1", "a@x.com", "2024-03-01 10:00:00 -0500", "5.00", **fields)]
    )
    ds = read(path)
    assert report(ds).rejects["reason"].to_list() == [reason]
    assert table(ds, "orders").height == 0


def test_a_zero_amount_and_pending_orders_are_orders(tmp_path: Path) -> None:
    path = export(
        tmp_path / "orders_export_1.csv",
        [
            head("#1", "a@x.com", "2024-03-01 10:00:00 -0500", "0.00"),
            head("#2", "a@x.com", "2024-03-02 10:00:00 -0500", "8.00", **{"Financial Status": "pending"}),
            head("#3", "a@x.com", "2024-03-03 10:00:00 -0500", "9.00", **{"Financial Status": "authorized"}),
        ],
    )
    assert table(read(path), "orders")["amount"].to_list() == [Decimal(0), Decimal(8), Decimal(9)]


def test_rows_of_one_order_that_disagree_or_repeat_are_rejected(tmp_path: Path) -> None:
    t = "2024-03-01 10:00:00 -0500"
    path = export(
        tmp_path / "orders_export_1.csv",
        [
            head("#1", "a@x.com", t, "5.00", Id="11"),
            line("#1", "b@x.com", t),  # another customer
            head("#2", "a@x.com", t, "6.00", Id="12"),
            head("#2", "a@x.com", t, "6.00", Id="12"),  # the order's first row twice
            line("#3", "c@x.com", t),  # no row holds #3's order fields
            head("#4", "a@x.com", t, "7.00", Id="10"),
            head("#5", "a@x.com", t, "8.00", Id="10"),  # the Id of #4 again
            line("", "a@x.com", t),  # no Name
        ],
    )
    reasons = report(read(path)).rejects.select("line", "reason").rows()
    assert reasons == [
        (2, "customer_id: the lines of this order name different customers"),
        (3, "customer_id: the lines of this order name different customers"),
        (4, "Name: the order fields of #2 appear on 2 rows (a repeated row, or two orders with one name)"),
        (5, "Name: the order fields of #2 appear on 2 rows (a repeated row, or two orders with one name)"),
        (6, "Total: no row of order #3 carries the order's fields (its first row is missing)"),
        (8, "order_id: duplicate id"),
        (9, "Name: missing (it names the order)"),
    ]


def test_relay_addresses_are_kept_or_rejected(tmp_path: Path) -> None:
    path = export(
        tmp_path / "orders_export_1.csv",
        [
            head("#1", "v4bdjxwien2zzkncgxpghkuplal2e@scs.tiktokw.us", "2024-03-01 10:00:00 -0500", "5.00"),
            head("#2", "x1y2@Marketplace.Amazon.com", "2024-03-01 10:00:00 -0500", "5.00"),
            head("#3", "buyer@tiktok.example.com", "2024-03-01 10:00:00 -0500", "5.00"),  # not a relay
        ],
    )
    assert table(read(path), "orders").height == 3
    ds = read(path, relay="reject")
    assert table(ds, "orders")["order_name"].to_list() == ["#3"]
    assert set(report(ds).rejects["reason"]) == {
        "Email: a marketplace relay address, not the buyer's (option relay='reject')"
    }


def test_older_headers_are_read_by_name(tmp_path: Path) -> None:
    t = "2024-03-01 10:00:00 -0500"
    older = [("Fulfillment Date" if c == "Fulfilled at" else c) for c in ORDERS_HEADER[: ORDERS_HEADER.index("Tags")]]
    path = export(tmp_path / "old.csv", [head("#1", "a@x.com", t, "5.00", Id="77")], header=older)
    assert table(read(path), "orders")["order_id"].to_list() == ["77"]
    no_id = list(ORDERS_HEADER[: ORDERS_HEADER.index("Vendor")])
    path = export(tmp_path / "older.csv", [head("#1", "a@x.com", t, "5.00")], header=no_id)
    assert table(read(path), "orders")["order_id"].to_list() == ["#1"]
    shuffled = list(reversed(ORDERS_HEADER))
    path = export(tmp_path / "shuffled.csv", [head("#1", "a@x.com", t, "5.00", Id="78")], header=shuffled)
    assert table(read(path), "orders")["order_id"].to_list() == ["78"]


def test_an_export_resaved_with_semicolons_crlf_and_a_bom_reads_alike(tmp_path: Path) -> None:
    first, _ = split_export(tmp_path)
    resaved = tmp_path / "resaved.csv"
    text = first.read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="\r\n").writerows(rows)
    resaved.write_bytes(b"\xef\xbb\xbf" + out.getvalue().encode())
    a, b = read(first), read(resaved)
    assert_frame_equal(table(a, "orders"), table(b, "orders"))
    assert report(a).rejects.select("line", "reason").rows() == report(b).rejects.select("line", "reason").rows()


def test_blank_lines_are_not_rows_and_line_numbers_stay_exact(tmp_path: Path) -> None:
    t = "2024-03-01 10:00:00 -0500"
    path = export(
        tmp_path / "orders_export_1.csv",
        [head("#1", "a@x.com", t, "5.00", Notes="line one\nline two\nline three"), {}, head("#2", "", t, "6.00")],
    )
    text = path.read_text().replace("\n\n", "\n ,, \n")  # a line of separators and spaces is blank too
    path.write_text(text)
    ds = read(path)
    assert report(ds).rows_read == 2
    assert report(ds).rejects["line"].to_list() == [6]  # #1 spans lines 2-4, the blank record line 5


# --- the customers export ---------------------------------------------------------------------


TRANSITIONAL = [
    "Customer ID", "First Name", "Last Name", "Email", "Accepts Email Marketing", "Company", "Address1", "Address2",
    "City", "Province", "Province Code", "Country", "Country Code", "Zip", "Phone", "Accepts SMS Marketing",
    "Total Spent", "Total Orders", "Tags", "Note", "Tax Exempt",
]  # fmt: skip
LEGACY = [
    "First Name", "Last Name", "Email", "Company", "Address1", "Address2", "City", "Province", "Province Code",
    "Country", "Country Code", "Zip", "Phone", "Accepts Marketing", "Total Spent", "Total Orders", "Tags", "Note",
    "Tax Exempt",
]  # fmt: skip


def customers_export(path: Path, header: Sequence[str] = CUSTOMERS_HEADER) -> Path:
    rows = [
        {"Customer ID": "'7001", "First Name": "Ann", "Last Name": "Lee", "Email": "Ann@Example.com",
         "Phone": "'+15551234567", "Total Spent": "93.20", "Total Orders": "3"},
        {"Customer ID": "'7002", "First Name": "Bob", "Email": "bob@example.com", "Default Address Phone": "'555"},
        {"Customer ID": "'7003", "First Name": "Cy", "Email": "cy@example.com"},  # never ordered
        {"Customer ID": "", "First Name": "Nobody", "Email": ""},  # no id, no e-mail
    ]  # fmt: skip
    return export(path, rows, header=header)


def test_a_customers_export_gives_the_orders_their_customer_ids_and_is_dated_by_them(tmp_path: Path) -> None:
    first, second = split_export(tmp_path)
    customers = customers_export(tmp_path / "customers_export.csv")
    ds = read(first, second, customers)
    orders = dict(table(ds, "orders").select("order_id", "customer_id").rows())
    assert orders == {
        "5008": "7001",
        "5007": "7002",
        "5001": "v4bccx6blfx5zk5ceppeb3tfryx2e@scs3.tiktok.com",
        "5009": "7001",
    }
    read_back = table(ds, "customers").sort("customer_id")
    assert read_back.select("customer_id", "created_at", "email", "name", "phone").rows() == [
        ("7001", at(2024, 3, 5, 14, 15), "ann@example.com", "Ann Lee", "+15551234567"),
        ("7002", at(2024, 3, 4, 23, 0), "bob@example.com", "Bob", "555"),
        ("v4bccx6blfx5zk5ceppeb3tfryx2e@scs3.tiktok.com", at(2024, 3, 1, 15, 0),
         "v4bccx6blfx5zk5ceppeb3tfryx2e@scs3.tiktok.com", None, None),
    ]  # fmt: skip
    load = next(f for f in report(ds).files if f.table == "customers")
    assert (load.rows_read, load.rows_loaded) == (4, 2)
    assert load.rejected.select("line", "reason").rows() == [
        (4, "created_at: no order of this customer was read, and the customers export has no creation date "
            "(read the orders export or the API orders with it)"),
        (5, "Email: no customer id and no e-mail: the customer cannot be identified"),
    ]  # fmt: skip
    assert_report_balanced(ds)


@pytest.mark.parametrize("header", [CUSTOMERS_HEADER, TRANSITIONAL, LEGACY], ids=["current", "transitional", "legacy"])
def test_every_customers_header_reads(tmp_path: Path, header: Sequence[str]) -> None:
    customers = customers_export(tmp_path / "customers_export.csv", header)
    orders = export(tmp_path / "orders_export_1.csv", [head("#1", "ann@example.com", "2024-03-01 10:00:00 -0500", "5")])
    ds = read(orders, customers)
    expected = "ann@example.com" if header is LEGACY else "7001"
    assert table(ds, "orders")["customer_id"].to_list() == [expected]
    assert table(ds, "customers").filter(pl.col("email") == "ann@example.com")["customer_id"].to_list() == [expected]


def test_a_customer_read_twice_is_kept_once(tmp_path: Path) -> None:
    customers = customers_export(tmp_path / "customers_export.csv")
    api = write_json(tmp_path / "customer.json", {"customer": {"id": 7001, "email": "ann@example.com",
                                                               "created_at": "2024-01-01T00:00:00Z"}})  # fmt: skip
    ds = read(customers, api)
    rows = table(ds, "customers").filter(pl.col("customer_id") == "7001")
    assert rows.select("created_at", "name").rows() == [(at(2024, 1, 1), "Ann Lee")]  # the export's row, dated
    api_load = next(f for f in report(ds).files if Path(f.file).name == "customer.json")
    assert api_load.rejected.select("line", "reason").rows() == [(1, "customer_id: duplicate id")]


def test_a_customers_export_alone_has_no_dates(tmp_path: Path) -> None:
    ds = read(customers_export(tmp_path / "customers_export.csv"))
    assert table(ds, "customers").height == 0
    assert report(ds).rows_read == 4 and report(ds).rows_rejected == 4


# --- API payloads -----------------------------------------------------------------------------

REST_ORDERS = {
    "orders": [
        {"id": 6001, "name": "#1101", "email": "ann@example.com", "created_at": "2024-03-07T10:00:00-05:00",
         "currency": "USD", "total_price": "30.00", "subtotal_price": "25.00",
         "financial_status": "partially_refunded", "test": False, "cancelled_at": None,
         "customer": {"id": 7001, "email": "ann@example.com", "created_at": "2024-01-02T09:00:00-05:00"},
         "refunds": [{"id": 801, "transactions": [{"kind": "refund", "status": "success", "amount": "10.00"},
                                                  {"kind": "refund", "status": "failure", "amount": "10.00"}]}]},
        {"id": 6002, "name": "#1102", "email": "bob@example.com", "created_at": "2024-03-07T11:00:00-05:00",
         "currency": "USD", "total_price": "15.00", "financial_status": "paid", "test": True},
        {"id": 6003, "name": "#1103", "email": "bob@example.com", "created_at": "2024-03-07T12:00:00-05:00",
         "currency": "USD", "total_price": "15.00", "financial_status": "refunded",
         "cancelled_at": "2024-03-08T09:00:00-05:00"},
        {"id": 6004, "name": "#1104", "email": " Dee@Example.com ", "created_at": "2024-03-08T12:00:00Z",
         "currency": "EUR", "total_price": "12.00", "financial_status": "paid", "test": False},
    ]
}  # fmt: skip


def write_json(path: Path, payload: object) -> Path:
    path.write_text(json.dumps(payload), encoding="utf-8")
    return path


def test_rest_orders_with_their_refunds(tmp_path: Path) -> None:
    orders = write_json(tmp_path / "orders.json", REST_ORDERS)
    refund = write_json(
        tmp_path / "refund.json",
        {"refund": {"id": 802, "order_id": 6004, "transactions": [{"kind": "refund", "status": "success",
                                                                   "amount": "5.00"}]}},
    )  # fmt: skip
    again = write_json(  # refund 801 is already in its order: not taken off twice
        tmp_path / "refunds.json",
        {"refunds": [{"id": 801, "order_id": 6001, "transactions": [{"kind": "refund", "amount": "10.00"}]}]},
    )
    ds = read(orders, refund, again)
    expected = orders_frame(
        [
            ("6001", "7001", at(2024, 3, 7, 15, 0), "20.00", "USD", "#1101", "partially_refunded"),
            ("6004", "dee@example.com", at(2024, 3, 8, 12, 0), "7.00", "EUR", "#1104", "paid"),
        ]
    )
    assert_frame_equal(table(ds, "orders"), expected)
    assert report(ds).rejects.select("line", "column", "reason").rows() == [
        (2, "test", "test: a test order"),
        (3, "cancelled_at", "cancelled_at: a cancelled order (cancelled 2024-03-08T09:00:00-05:00)"),
    ]
    loads = [(Path(f.file).name, f.table, f.rows_read, f.rows_loaded, f.records) for f in report(ds).files]
    assert loads == [("orders.json", "orders", 4, 2, 2), ("refund.json", "orders", 1, 1, 0),
                     ("refunds.json", "orders", 1, 1, 0)]  # fmt: skip
    # The embedded customer's creation date dates the customer; Dee is dated by her order.
    created = dict(table(ds, "customers").select("customer_id", "created_at").rows())
    assert created == {"7001": at(2024, 1, 2, 14, 0), "dee@example.com": at(2024, 3, 8, 12, 0)}


def test_a_refund_of_an_order_not_read_is_rejected(tmp_path: Path) -> None:
    refund = write_json(tmp_path / "refund.json", {"refund": {"id": 1, "order_id": 99, "transactions": []}})
    ds = read(refund)
    assert report(ds).rejects["reason"].to_list() == ["order_id: a refund of order 99, which is not in the files read"]


BULK = [
    {"id": "gid://shopify/Customer/7002", "email": "bob@example.com", "createdAt": "2023-12-01T00:00:00Z"},
    {"id": "gid://shopify/Order/6101", "name": "#1201", "createdAt": "2024-03-10T10:00:00Z",
     "displayFinancialStatus": "PAID", "test": False, "cancelledAt": None,
     "totalPriceSet": {"shopMoney": {"amount": "10.0", "currencyCode": "USD"}},
     "totalRefundedSet": {"shopMoney": {"amount": "0.0", "currencyCode": "USD"}},
     "__parentId": "gid://shopify/Customer/7002"},
    {"id": "gid://shopify/LineItem/1", "quantity": 1, "__parentId": "gid://shopify/Order/6101"},
    {"id": "gid://shopify/LineItem/2", "quantity": 2, "__parentId": "gid://shopify/Order/6101"},
    {"id": "gid://shopify/Order/6102", "name": "#1202", "createdAt": "2024-03-11T10:00:00Z",
     "displayFinancialStatus": "REFUNDED",
     "totalPriceSet": {"shopMoney": {"amount": "43.0", "currencyCode": "USD"}},
     "totalRefundedSet": {"shopMoney": {"amount": "43.0", "currencyCode": "USD"}},
     "customer": {"id": "gid://shopify/Customer/7003", "email": "cy@example.com"}},
    {"id": "gid://shopify/LineItem/3", "quantity": 1, "__parentId": "gid://shopify/Order/6102"},
    {"id": "gid://shopify/LineItem/4", "quantity": 1, "__parentId": "gid://shopify/Order/9999"},
    {"id": "gid://shopify/Order/6103", "name": "#1203", "createdAt": "2024-03-12T10:00:00.123Z",
     "displayFinancialStatus": "PARTIALLY_REFUNDED",
     "totalPriceSet": {"shopMoney": {"amount": "43.5", "currencyCode": "USD"}},
     "totalRefundedSet": {"shopMoney": {"amount": "3.25", "currencyCode": "USD"}},
     "customer": {"id": "gid://shopify/Customer/7003", "email": "cy@example.com"}},
]  # fmt: skip


def test_a_bulk_operation_file(tmp_path: Path) -> None:
    text = "\n".join(json.dumps(o) for o in BULK[:4]) + "\n\n" + "\n".join(json.dumps(o) for o in BULK[4:])
    path = tmp_path / "bulk.jsonl"
    path.write_text(text + "\nnot json\n")
    ds = read(path)
    expected = orders_frame(
        [
            ("6101", "7002", at(2024, 3, 10, 10, 0), "10.0", "USD", "#1201", "paid"),
            ("6103", "7003", dt.datetime(2024, 3, 12, 10, 0, 0, 123000, tzinfo=UTC), "40.25", "USD", "#1203",
             "partially_refunded"),
        ]
    )  # fmt: skip
    assert_frame_equal(table(ds, "orders"), expected)
    assert report(ds).rejects.select("line", "table", "reason").rows() == [
        (6, "orders", "displayFinancialStatus: refunded (fully refunded)"),
        (7, "orders", "displayFinancialStatus: refunded (fully refunded)"),
        (8, "orders", "__parentId: a line of order 9999, which is not in the files read"),
        (10, "", "json: invalid JSON at column 1: Expecting value"),
    ]
    loads = [(f.table, f.rows_read, f.rows_loaded, f.records) for f in report(ds).files]
    assert loads == [("orders", 7, 4, 2), ("customers", 1, 1, 1), ("", 1, 0, 0)]
    created = dict(table(ds, "customers").select("customer_id", "created_at").rows())
    assert created == {"7002": at(2023, 12, 1), "7003": dt.datetime(2024, 3, 12, 10, 0, 0, 123000, tzinfo=UTC)}


def test_a_graphql_response(tmp_path: Path) -> None:
    node = {"id": "gid://shopify/Order/6201", "name": "#1301", "createdAt": "2024-03-13T10:00:00Z",
            "displayFinancialStatus": "PAID", "totalPriceSet": {"shopMoney": {"amount": "8.5", "currencyCode": "GBP"}},
            "customer": {"id": "gid://shopify/Customer/7004", "email": "eve@example.com",
                         "createdAt": "2024-02-01T00:00:00Z"}}  # fmt: skip
    path = write_json(tmp_path / "response.json", {"data": {"orders": {"edges": [{"node": node}]}}, "extensions": {}})
    ds = read(path)
    assert table(ds, "orders").select("order_id", "customer_id", "amount", "currency").rows() == [
        ("6201", "7004", Decimal("8.5"), "GBP")
    ]
    assert table(ds, "customers").select("customer_id", "created_at").rows() == [("7004", at(2024, 2, 1))]


def test_the_same_order_in_the_export_and_the_api_is_refused(tmp_path: Path) -> None:
    orders = export(tmp_path / "orders_export_1.csv", [head("#1104", "a@x.com", "2024-03-01 10:00:00 -0500", "5",
                                                            Id="6004")])  # fmt: skip
    api = write_json(tmp_path / "orders.json", REST_ORDERS)
    with pytest.raises(DataError, match="duplicate id"):
        read(orders, api)


# --- merging with other sources ---------------------------------------------------------------


def test_customers_merge_with_another_source_by_email(tmp_path: Path) -> None:
    first, second = split_export(tmp_path)
    shop = read(first, second)
    help_desk = rl.Dataset(
        customers=pl.DataFrame(
            {"customer_id": ["z1"], "created_at": ["2024-01-01T00:00:00Z"], "email": [" ANN@example.com"]}
        ),
        tickets=pl.DataFrame(
            {"ticket_id": ["t1"], "customer_id": ["z1"], "opened_at": ["2024-03-06T00:00:00Z"], "solved_at": [None],
             "satisfaction": [None]}
        ),
        source="zendesk",
    )  # fmt: skip
    merged = rl.merge([shop, help_desk])
    assert table(merged, "tickets")["customer_id"].to_list() == ["ann@example.com"]
    assert table(merged, "customers").height == 3


# --- options, errors, detection, progress ----------------------------------------------------


def test_times_without_offset_are_read_in_the_zone_given(tmp_path: Path) -> None:
    path = export(
        tmp_path / "orders_export_1.csv",
        [
            head("#1", "a@x.com", "2024-03-01 10:00:00", "5.00"),  # re-saved by a spreadsheet
            head("#2", "a@x.com", "2024-03-10 02:30:00", "5.00"),  # skipped by the summer-time jump in New York
            head("#3", "a@x.com", "2024-03-02 10:00:00 +0100", "5.00"),  # its offset wins
        ],
    )
    ds = read(path, tz="America/New_York")
    assert table(ds, "orders")["ordered_at"].to_list() == [at(2024, 3, 1, 15), at(2024, 3, 2, 9)]
    assert report(ds).rejects["line"].to_list() == [3]
    assert report(read(path)).rejects["line"].to_list() == [2, 3]


@pytest.mark.parametrize(
    ("option", "value"),
    [("amount", "net"), ("amount", 3), ("relay", "drop"), ("relay", []), ("tz", "Mars/Olympus"), ("tz", 5)],
)
def test_bad_options_are_refused(tmp_path: Path, option: str, value: object) -> None:
    first, _ = split_export(tmp_path)
    with pytest.raises(OptionError) as caught:
        read(first, **{option: value})
    assert caught.value.option == option


def test_options_take_the_command_lines_strings(tmp_path: Path) -> None:
    first, second = split_export(tmp_path)
    result = CliRunner().invoke(
        main, ["read", "shopify", str(first), str(second), "--out", str(tmp_path / "out"), "-o", "amount= Subtotal"]
    )
    assert result.exit_code == 0, result.output
    amounts = table(rl.Dataset.read_parquet(tmp_path / "out"), "orders")["amount"]
    assert Decimal("50") in amounts.to_list()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"a,b,c\n1,2,3\n", "not a Shopify export"),
        (",".join(h for h in ORDERS_HEADER if h != "Total").encode() + b"\n", "lacks column"),
        (b"Name,Email,Created at,Currency,Total,Financial Status,Total\n", "more than once"),
        (b'Name,Email,Created at,Currency,Total,Financial Status\n#1,a@x.com,"2024,USD,5,paid\n', "line 2"),
        (b"Name,Email,Created at,Currency,Total,Financial Status\n#1,a,b,c,d,e,f,g\n", "line 2"),
        (b'{"orders": [', "invalid JSON"),
        (b'{"orders": [{"id": 1, "name": "\xff"}]}', "UTF-8"),
    ],
)
def test_files_that_cannot_be_read_raise_a_source_error_naming_them(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "orders_export_1.csv"
    path.write_bytes(content)
    with pytest.raises(SourceError, match=message) as caught:
        read(path)
    assert str(path) in str(caught.value)


def test_detection(tmp_path: Path) -> None:
    first, _ = split_export(tmp_path)
    assert shopify.detect(first, first.read_bytes()[:65536]) == shopify.CONFIDENT
    customers = customers_export(tmp_path / "c.csv", LEGACY)
    assert shopify.detect(customers, customers.read_bytes()) == shopify.CONFIDENT
    for payload in (REST_ORDERS, {"data": {"orders": {"nodes": [BULK[1]]}}}):
        assert shopify.detect(tmp_path / "x.json", json.dumps(payload).encode()) == shopify.CONFIDENT
    others = [
        b"order_id,customer_id,ordered_at,amount,currency\no1,c1,2024-03-01T10:00:00Z,5,EUR\n",
        b"id,Created date (UTC),Amount,Currency,Status\nch_1,2024-03-01 10:00,5.00,usd,Paid\n",
        b'[{"order_id": "o1", "customer_id": "c1"}]',
        b'{"object": "list", "data": [{"object": "charge", "id": "ch_1"}]}',
    ]
    assert [shopify.detect(tmp_path / "x", head) for head in others] == [0, 0, 0, 0]
    assert rl.read(first).source == "shopify"


def test_progress_is_reported_once_per_file(tmp_path: Path) -> None:
    first, second = split_export(tmp_path)
    seen: list[tuple[str, int]] = []
    with watching_progress(lambda path, rows: seen.append((Path(path).name, rows))):
        read(first, second)
    assert seen == [("orders_export_1.csv", 10), ("orders_export_2.csv", 3)]


# --- the real samples -------------------------------------------------------------------------


def test_the_real_orders_export(shared_data: Path) -> None:
    path = shared_data / "formats" / "shopify" / "orders_export_1.devstore.csv"
    ds = read(path)
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    heads = [r for r in rows if r["Total"]]
    kept = [r for r in heads if r["Email"]]  # #1001 has no e-mail (a draft order): rejected
    assert report(ds).rows_read == len(rows) == 121
    assert report(ds).rows_rejected == 1 and report(ds).rejects["reason"][0].startswith("Email: no customer id")
    orders = table(ds, "orders")
    assert orders.height == len(kept) == 50
    total = sum((Decimal(r["Total"]) - Decimal(r["Refunded Amount"] or 0) for r in kept), Decimal(0))
    assert orders["amount"].sum() == total
    first = orders.filter(pl.col("order_name") == "#1051").row(0, named=True)
    assert first["order_id"] == "6798481555755" and first["ordered_at"] == at(2025, 12, 6, 15, 37, 33)
    assert set(orders["currency"]) == {"INR"}
    assert_report_balanced(ds)


def test_every_real_sample_loads(shared_data: Path) -> None:
    folder = shared_data / "formats" / "shopify"
    samples = sorted(p for p in folder.iterdir() if p.suffix in (".csv", ".json"))
    assert len(samples) == 7
    for path in samples:
        ds = rl.read(path)  # detected
        assert ds.source == "shopify", path
        assert_report_balanced(ds)
    orders = table(read(folder / "api_rest_orders.shopify_python_api.json"), "orders")
    assert orders.select("order_id", "customer_id", "amount").rows() == [("450789469", "207119551", Decimal("598.94"))]
    customer = table(read(folder / "api_rest_customer.shopify_python_api.json"), "customers")
    assert customer.select("customer_id", "created_at", "name").rows() == [
        ("207119551", at(2015, 5, 27, 22, 11, 24), "Bob Norman")
    ]
    refund = read(folder / "api_rest_order.shopify_python_api.json", folder / "api_rest_refund.shopify_python_api.json")
    # 409.94 less the refund's one successful transaction of 209.00
    assert table(refund, "orders")["amount"].to_list() == [Decimal("200.94")]


def test_the_real_headers_are_the_writers(shared_data: Path) -> None:
    folder = shared_data / "formats" / "shopify"
    with (folder / "orders_export_1.devstore.csv").open(encoding="utf-8") as handle:
        assert tuple(next(csv.reader(handle))) == ORDERS_HEADER
    with (folder / "customers_export.header_only.b2b.csv").open(encoding="utf-8") as handle:
        assert tuple(next(csv.reader(handle))) == CUSTOMERS_HEADER
