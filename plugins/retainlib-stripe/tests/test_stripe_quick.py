"""The payments export's quick read (issue 14): never looser than the full checks, validated once.

The reader gives every row a quick verdict and runs the full checks (which build the reasons) on the
suspect rows alone.  These tests hold it to that: a row that is not suspect has no reason and the
values the full checks would give it; blank lines are still told from rows with one field filled;
the tables are not checked a second time by ``Dataset``, unless that check would find something.
"""

from __future__ import annotations

import csv
import io
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import retainlib_stripe as stripe
from retainlib import _conform, _host
from retainlib.errors import DataError
from retainlib_stripe import _csv
from retainlib_stripe._options import Options

HOST = _host.build_host(entry_points=False, plugins=[stripe])
_SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

AMOUNTS = [
    "12.00", "1,008.00", "0.00", "12.500", "12.345", "12.3456", "12.34567", "8.000000", "0012.50", "12.", ".5", "5",
    "1,000", "1,0000.00", "12,34", "1.234,56", "1e3", "-5.00", "+5", "9" * 20, "9" * 21, "99999999999999999999.9999",
    "0.0001", "0.00001", "NaN", "٣", "1,000,000.01",
]  # fmt: skip
CURRENCIES = ["USD", "JPY", "KWD", "CLF", "MGA", "ISK", "DOLLARS", "US", "", "XXX"]


@_SETTINGS
@given(
    text=st.one_of(st.none(), st.sampled_from(AMOUNTS), st.text(alphabet="0123456789,.-+e ", max_size=14)),
    currency=st.sampled_from(CURRENCIES),
)
def test_the_quick_amount_check_is_the_full_one(text: str | None, currency: str) -> None:
    frame = pl.DataFrame({"text": [text], "currency": [currency]}, schema={"text": pl.String, "currency": pl.String})
    code = pl.col("currency")
    value, ok = _csv._quick_money(pl.col("text"), code, code.str.contains("^[A-Z]{3}$"))
    # The full check reads the text as _text leaves it: stripped, blank as null.
    full, why = _csv._money(_csv._clean(pl.col("text")), code)
    got = frame.select(value.alias("value"), ok.alias("ok"), full.alias("full"), why.alias("why")).row(0, named=True)
    if got["ok"]:
        assert got["why"] is None
        assert got["value"] == got["full"]
    if text is None or (text and text == text.strip()):
        assert got["ok"] == (got["why"] is None)  # text as the Dashboard writes it: the same verdict


HEADER = [
    "id", "Created date (UTC)", "Amount", "Amount Refunded", "Currency", "Captured", "Converted Amount",
    "Converted Amount Refunded", "Converted Currency", "Status", "Customer ID", "Customer Email", "Description",
]  # fmt: skip


def _often(usual: str, *others: str) -> st.SearchStrategy[str]:
    return st.one_of(st.just(usual), st.just(usual), st.sampled_from([usual, *others]))


CELLS: dict[str, st.SearchStrategy[str]] = {
    "Created date (UTC)": _often(
        "2024-03-01 10:00:00", "2024-03-01 10:00", " 2024-03-01 10:00:00", "2024-03-01T10:00:00", "2024-02-30 10:00:00",
        "2024-03-01 10:00:00.5", "03/01/2024", "",
    ),
    "Amount": _often("12.00", *AMOUNTS, " 7.10 ", ""),
    "Amount Refunded": _often("0.00", *AMOUNTS, "", " "),
    "Currency": _often("usd", "jpy", "kwd", " eur ", "dollars", ""),
    "Captured": _often("true", "false", " FALSE", "False ", "TRUE", "", "x"),
    "Converted Amount": _often("12.00", "n/a"),
    "Converted Amount Refunded": _often("0.00"),
    "Converted Currency": _often("usd"),
    "Status": _often("Paid", "paid", " Paid", "PAID", "Refunded", "Partially Refunded", "Failed", "pending", ""),
    "Customer ID": _often("cus_a", "cus_b", " cus_a ", "", "17.0"),
    "Customer Email": _often("a@example.com", " A@Example.com", "b@example.com", ""),
    "Description": _often("", "Subscription creation"),
}  # fmt: skip


@st.composite
def payments(draw: st.DrawFn) -> str:
    """A payments export: messy cells in every column the reader reads, blank lines among the rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for i in range(draw(st.integers(0, 12))):
        if draw(st.integers(0, 5)) == 0:
            out.write(draw(st.sampled_from(["", " ", "," * (len(HEADER) - 1), " , ,"])) + "\n")
        payment_id = draw(st.sampled_from([f"ch_{i}", f"ch_{i}", "", " ", f" py_{i}"]))
        writer.writerow([payment_id, *(draw(CELLS[column]) for column in HEADER[1:])])
    return out.getvalue()


@_SETTINGS
@given(text=payments(), guests=st.sampled_from(["email", "reject", "payment"]), refunds=st.booleans())
def test_a_row_that_is_not_suspect_passes_the_full_checks_with_the_same_values(
    text: str, guests: str, refunds: bool
) -> None:
    options = Options.of(guests=guests)
    api_refunds = {"ch_1": Decimal("3"), "ch_2": Decimal("100")} if refunds else {}
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "payments.csv"
        path.write_text(text, encoding="utf-8")
        plan = _csv._payments_plan(path, options, invoice_links={}, refunds=api_refunds)
        rows = _csv._without_blank_lines(path, plan.numbered, plan.names, plan.checked.collect())
    full = _csv._payment_reasons(rows, rows, options, plan.columns)
    quick = rows.filter(~pl.col("_suspect"))
    checked = full.filter(~rows.get_column("_suspect"))
    assert checked.get_column("_reason").null_count() == checked.height
    for column in _csv._FULL_VALUES:
        assert checked.get_column(column).equals(quick.get_column(column)), column


def _read(*paths: Path, **options: Any) -> Any:
    return HOST.read(HOST.sources["stripe"], list(paths), options)


def test_a_row_with_only_an_unread_field_filled_is_rejected_and_a_blank_one_is_not_read(tmp_path: Path) -> None:
    empty = [""] * (len(HEADER) - 1)
    lines = [
        HEADER,
        ["ch_1", "2024-03-01 10:00:00", "12.00", "0.00", "usd", "true", "", "", "", "Paid", "cus_a", "", ""],
        ["", *empty[:-1], "Subscription creation"],  # line 3: only the description
        ["", *empty],  # line 4: separators only, blank
        [" ", *[" "] * len(empty)],  # line 5: white space only, blank
    ]
    path = tmp_path / "payments.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows(lines)
    ds = _read(path)
    assert ds.report is not None
    assert (ds.report.rows_read, ds.report.rows_loaded) == (2, 1)
    assert ds.report.rejects.select("line", "reason").rows() == [(3, "id: incomplete payment, no charge (no status)")]


def _payment(payment_id: str, customer: str = "cus_a") -> list[str]:
    return [payment_id, "2024-03-01 10:00:00", "12.00", "0.00", "usd", "true", "", "", "", "Paid", customer, "", ""]


def _export(path: Path, *rows: list[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows([HEADER, *rows])
    return path


def test_a_payments_export_is_validated_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    full_check = _conform.raise_problems

    def counted(conformed: _conform.Conformed, *, limit: int = 5) -> None:
        calls.append(conformed.spec.name)
        full_check(conformed, limit=limit)

    monkeypatch.setattr(_conform, "raise_problems", counted)
    ds = _read(_export(tmp_path / "a.csv", _payment("ch_1"), _payment("ch_2", "cus_b")))
    assert calls == []  # every row was checked by the reader
    assert ds.require("orders").collect().get_column("order_id").to_list() == ["ch_1", "ch_2"]
    # What the full check would still change or refuse is left to it: an id written as a decimal ...
    ds = _read(_export(tmp_path / "b.csv", _payment("ch_3", "17.0")))
    assert ds.require("orders").collect().get_column("customer_id").to_list() == ["17"]
    assert sorted(calls) == ["customers", "orders"]
    # ... and one payment read from two exports.
    with pytest.raises(DataError, match="duplicate id"):
        _read(tmp_path / "a.csv", _export(tmp_path / "c.csv", _payment("ch_1")))
