"""Fuzzing the ``stripe`` source: messy files of every format it reads.

Each test writes a file of one format (the four Dashboard exports, API JSON as a
list object, an array or JSON lines) from valid records mixed with garbage
cells, blank lines, odd encodings, huge numbers, broken quotes, missing columns
and random bytes, reads it, and checks the source's contract:

* only :class:`~retainlib.errors.RetainlibError` escapes the read, and never the
  host's wrapper of a raw exception, and every successful read balances (rows
  read = rows loaded + rows rejected): ``retainlib.testing`` asserts both;
* rows read equals the file's data rows, counted here without the source: from
  what the test wrote, or with the :mod:`csv` module once the bytes are damaged.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import retainlib_stripe as stripe
from retainlib import _host
from retainlib.errors import RetainlibError
from retainlib.load_report import LoadReport
from retainlib.testing.asserts import assert_read_or_refused
from retainlib.testing.strategies import damaged

#: Unicode White_Space, what polars' ``strip_chars`` strips: a record of such cells only is a blank line.
WHITE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
_SETTINGS = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# --- the formats: a header and a valid row per export ---------------------------------------------

EXPORTS: dict[str, tuple[list[str], Callable[[int], list[str]]]] = {
    "payments": (
        ["id", "Created date (UTC)", "Amount", "Amount Refunded", "Currency", "Captured", "Converted Amount",
         "Converted Amount Refunded", "Converted Currency", "Status", "Customer ID", "Customer Email", "Invoice ID",
         "Description"],
        lambda i: [f"ch_{i}", "2024-03-01 10:00:00", "1,008.00", "0.00", "usd", "true", "9.10", "0.00", "eur", "Paid",
                   f"cus_{i % 3}", "a@example.com", "", "Subscription update"],
    ),
    "invoices": (
        ["id", "Customer", "Customer Email", "Amount Due", "Amount Paid", "Post Payment Credit Notes Amount",
         "Currency", "Status", "Paid", "Charge", "Date (UTC)", "Paid At (UTC)"],
        lambda i: [f"in_{i}", f"cus_{i % 3}", "", "10.00", "10.00", "0.00", "eur", "paid", "true", f"ch_x{i}",
                   "2024-03-01 10:00:00", "2024-03-01 10:05"],
    ),
    "customers": (
        ["id", "Description", "Email", "Name", "Created (UTC)", "Delinquent", "Total Spend"],
        lambda i: [f"cus_{i}", "", "X@Example.com", "Xavier", "2024-02-01 09:00:00", "false", "1,000.00"],
    ),
    "subscriptions": (
        ["id", "Customer ID", "Status", "Created (UTC)", "Start Date (UTC)", "Current Period Start (UTC)",
         "Current Period End (UTC)", "Trial End (UTC)", "Canceled At (UTC)", "Cancel At Period End",
         "Ended At (UTC)", "Quantity", "Currency", "Interval", "Amount", "Coupon"],
        lambda i: [f"sub_{i}", f"cus_{i % 3}", "trialing" if i % 2 else "active", "2024-01-01 00:00:00",
                   "2024-01-01 00:00:00", "2024-03-01 00:00:00", "2024-04-01 00:00:00", "2024-01-15 00:00", "",
                   "false", "", "2", "usd", "month", "15.00", ""],
    ),
}  # fmt: skip

#: Cells that have broken readers, or could: amounts, dates, statuses and text of every kind.
ODD_CELLS = [
    "", " ", "\t", "n/a", "null", "1e3", "-1E-2", "12,34", "1.234,56", "1,2,3", "-5.00", "+5", "9.99999", "8.000",
    ".5", "5.", "9" * 21, "9" * 40, "1" + "0" * 19, "0" * 30 + "1", "1,000,000.00", "12,000", "0", "0.00", "NaN",
    "inf", "Paid", "paid", "Failed", "Refunded", "trialing", "canceled", "past_due", "unpaid", "paused",
    "incomplete", "true", "false", "TRUE", "usd", "JPY", "kwd", "clf", "dollars", "US", "month", "year", "week",
    "day", "fortnight", "2024-13-45 00:00", "2024-02-30 10:00:00", "2024-03-01T10:00:00", "2024-03-01 10:00",
    "2024-03-01", "9999-12-31 23:59:59", "0001-01-01 00:00:00", "03/01/2024 10:00", "\ufffd", '"', 'a"b',
    "x\ny", "x\r\ny", "a,b", "=SUM(A1)", "\x00", "\u2028", "\ufeff", "cus_0", "ch_0", "in_0", "SAVE10",
]  # fmt: skip
CELL = st.one_of(st.sampled_from(ODD_CELLS), st.text(max_size=12))
#: Blank lines, the way editors and exporters leave them; a line of separators only is blank too.
BLANKS = ["", " ", "\t", "\u3000", "{commas}", " {commas} "]
#: A data row: its valid cells, and which cells garbage replaces (by position, modulo the width).
ROW = st.tuples(st.booleans(), st.lists(st.tuples(st.integers(0, 99), CELL), max_size=4))

# --- writing and counting --------------------------------------------------------------------------


def _csv_text(header: Sequence[str], rows: Sequence[Sequence[str]], blanks: Sequence[tuple[int, str]], eol: str) -> str:
    """The CSV text: the header, the rows (quoted where needed) and blank lines before some of them."""
    out = io.StringIO()
    csv.writer(out, lineterminator=eol).writerow(header)
    records: list[str] = []
    for row in rows:
        one = io.StringIO()
        csv.writer(one, lineterminator=eol).writerow(row)
        records.append(one.getvalue())
    for position, blank in sorted(blanks, reverse=True):
        records.insert(position % (len(records) + 1), blank.format(commas="," * (len(header) - 1)) + eol)
    return out.getvalue() + "".join(records)


def _is_data(row: Sequence[str]) -> bool:
    """A record with a cell that is not blank: a data row."""
    return any(cell.strip(WHITE) for cell in row)


def csv_data_rows(raw: bytes) -> int | None:
    """The data rows of CSV bytes, counted with the csv module (``None`` when it cannot parse them).

    Decoded as the source decodes (UTF-8, bad bytes replaced); records end at ``"\\n"`` (or the
    file's end) only, as in polars, so a lone ``"\\r"`` is kept inside its field here too.
    """
    text = raw.decode("utf-8", errors="replace").removeprefix("\ufeff")
    text = re.sub("\r(?=[^\n])", "\ue000", text)  # a "\r" ending the file ends its last line
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error:
        return None
    return sum(1 for row in rows[1:] if _is_data(row))


#: A host with the plugin registered explicitly (it may not be installed yet).
HOST = _host.build_host(entry_points=False, plugins=[stripe])


def read_checked(paths: Sequence[Path], options: dict[str, str]) -> LoadReport | None:
    """The report of a read through the host, ``None`` when it refused the files (see ``assert_read_or_refused``)."""
    ds = assert_read_or_refused(lambda: HOST.read(HOST.sources["stripe"], list(paths), options))
    return None if ds is None else ds.report


OPTIONS = st.fixed_dictionaries(
    {},
    optional={
        "guests": st.sampled_from(["email", "reject", "payment"]),
        "amounts": st.sampled_from(["original", "converted"]),
        "invoices": st.sampled_from(["orders", "skip"]),
        "past_due": st.sampled_from(["active", "churned", "reject"]),
        "discounts": st.sampled_from(["reject", "ignore"]),
        "trials": st.sampled_from(["load", "reject"]),
    },
)


@st.composite
def exports(draw: st.DrawFn) -> tuple[str, bytes, int, bool]:
    """A Dashboard export: its kind, bytes, data rows, and whether it keeps every column."""
    kind = draw(st.sampled_from(sorted(EXPORTS)))
    header, valid = EXPORTS[kind]
    header = list(header)
    rows: list[list[str]] = []
    for i, (blank_id, garbage) in enumerate(draw(st.lists(ROW, max_size=12))):
        row = valid(i)
        for position, cell in garbage:
            row[1 + position % (len(row) - 1)] = cell  # the id stays unique: a duplicate is an error by design
        if blank_id:
            row[0] = draw(st.sampled_from(["", " ", "\t"]))
        rows.append(row)
    complete = not draw(st.booleans()) or not rows
    if not complete:
        dropped = draw(st.integers(1, len(header) - 1))
        del header[dropped]
        for row in rows:
            del row[dropped]
    blanks = draw(st.lists(st.tuples(st.integers(0, 20), st.sampled_from(BLANKS)), max_size=4))
    text = _csv_text(header, rows, blanks, draw(st.sampled_from(["\n", "\r\n"])))
    bom = draw(st.sampled_from(["", "\ufeff"]))
    return kind, (bom + text).encode(), sum(1 for row in rows if _is_data(row)), complete


# --- API objects --------------------------------------------------------------------------------------

JSON_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**40), 10**40),
    st.sampled_from([0, -1, 10**26, 10**36, 2**63, -(2**63) - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(ODD_CELLS),
    st.text(max_size=8),
)
#: Any JSON value where a field's value should be: a scalar, or a list or object of them.
JSON_VALUE = st.one_of(
    JSON_SCALAR,
    st.lists(JSON_SCALAR, max_size=3),
    st.dictionaries(st.text(max_size=6), JSON_SCALAR, max_size=3),
)


def _price(amount: int) -> dict[str, Any]:
    return {"currency": "usd", "unit_amount": amount, "recurring": {"interval": "month", "interval_count": 1}}


TEMPLATES: dict[str, Callable[[int], dict[str, Any]]] = {
    "charge": lambda i: {
        "id": f"ch_{i}", "object": "charge", "amount": 2000, "amount_captured": 2000, "amount_refunded": 0,
        "captured": True, "status": "succeeded", "currency": "usd", "customer": "cus_a", "created": 1704067200,
        "billing_details": {"email": "a@example.com"}, "invoice": None, "payment_intent": f"pi_{i}",
    },
    "invoice": lambda i: {
        "id": f"in_{i}", "object": "invoice", "status": "paid", "amount_paid": 4500, "currency": "eur",
        "customer": "cus_b", "created": 1704067200, "status_transitions": {"paid_at": 1704067300},
        "post_payment_credit_notes_amount": 0, "customer_email": "b@example.com", "charge": f"ch_{i}",
    },
    "customer": lambda i: {"id": f"cus_{i}", "object": "customer", "created": 1704067200, "email": "C@x.com"},
    "subscription": lambda i: {
        "id": f"sub_{i}", "object": "subscription", "customer": "cus_c", "status": "trialing" if i % 2 else "active",
        "start_date": 1704067200, "trial_end": 1705276800, "cancel_at_period_end": False, "ended_at": None,
        "current_period_start": 1709251200, "current_period_end": 1711929600, "discounts": [],
        "items": {"object": "list", "data": [{"id": f"si_{i}", "quantity": 2, "price": _price(1500)}]},
    },
    "refund": lambda i: {"id": f"re_{i}", "object": "refund", "charge": f"ch_{i - 1}", "amount": 500,
                         "currency": "usd", "status": "succeeded"},
    "coupon": lambda i: {"id": f"co_{i}", "object": "coupon", "percent_off": 10},
}  # fmt: skip
#: Lines of JSON lines that are not one object, with the records each makes.
ODD_LINES = [
    ("{not json", 1),
    ("[1, 2]", 2),
    ('{"object": "list", "data": [{"object": "customer", "id": "cus_listed"}]}', 1),  # no "created": a reject
    ("null", 1),
    ('"text"', 1),
    ("[]", 0),
    ("9" * 5000, 1),  # more digits than Python converts
    ("[" * 5000, 1),  # nested too deeply
    ('{"object": "charge", "amount": NaN, "created": Infinity}', 1),
    ('{"a": "\\ud800"}', 1),  # a lone surrogate
]


@st.composite
def api_files(draw: st.DrawFn) -> tuple[bytes, int | None]:
    """An API JSON file and its records (``None`` when the file is not JSON at all: a ``SourceError``)."""
    objects: list[dict[str, Any]] = []
    for i in range(draw(st.integers(0, 10))):
        obj = TEMPLATES[draw(st.sampled_from(sorted(TEMPLATES)))](i)
        for key, value in draw(st.lists(st.tuples(st.sampled_from([*sorted(obj), "extra"]), JSON_VALUE), max_size=3)):
            if key not in ("id", "object"):  # ids stay unique: a duplicate order is an error by design
                obj[key] = value
        if draw(st.integers(0, 9)) == 0:
            obj["id"] = draw(st.sampled_from([" ", "", None, 7]))
        objects.append(obj)
    layout = draw(st.sampled_from(["list", "array", "lines"]))
    if layout == "list":
        return json.dumps({"object": "list", "data": objects, "has_more": False}).encode(), len(objects)
    if layout == "array":
        return json.dumps(objects, indent=draw(st.sampled_from([None, 2]))).encode(), len(objects)
    lines = [(json.dumps(obj), 1) for obj in objects]
    for position, odd in draw(st.lists(st.tuples(st.integers(0, 20), st.sampled_from(ODD_LINES)), max_size=3)):
        lines.insert(position % (len(lines) + 1), odd)
    for position in draw(st.lists(st.integers(0, 20), max_size=3)):
        lines.insert(position % (len(lines) + 1), (draw(st.sampled_from(["", "  ", "\r"])), 0))
    text = "\n".join(line for line, _ in lines)
    if not text.strip():
        return text.encode(), None
    first = next(line for line, _ in lines if line.strip())
    if first.lstrip()[:1] not in ("{", "["):
        return text.encode(), None  # JSON files start with an object or an array; anything else is no export
    try:
        json.loads(first)
    except (ValueError, RecursionError):
        return text.encode(), None  # its first line is not JSON: neither one document nor JSON lines
    return text.encode(), sum(records for _, records in lines)


# --- the tests --------------------------------------------------------------------------------------


def _write(directory: str, name: str, raw: bytes) -> Path:
    path = Path(directory) / name
    path.write_bytes(raw)
    return path


@_SETTINGS
@given(export=exports(), options=OPTIONS)
def test_messy_exports_are_accounted_for_row_by_row(
    export: tuple[str, bytes, int, bool], options: dict[str, str]
) -> None:
    kind, raw, data_rows, complete = export
    with tempfile.TemporaryDirectory() as directory:
        report = read_checked([_write(directory, f"{kind}.csv", raw)], options)
    if complete:
        assert report is not None, "a file with every column must read: bad cells are rejects, not errors"
    if report is not None:
        assert report.rows_read == data_rows
    assert csv_data_rows(raw) == data_rows  # the reference agrees with what was written


@_SETTINGS
@given(data=st.data(), export=exports())
def test_damaged_exports_raise_retainlib_errors_or_balance(
    data: st.DataObject, export: tuple[str, bytes, int, bool]
) -> None:
    kind, raw, _, _ = export
    broken = data.draw(damaged(raw))
    with tempfile.TemporaryDirectory() as directory:
        report = read_checked([_write(directory, f"{kind}.csv", broken)], {})
    if report is not None:
        expected = csv_data_rows(broken)
        if expected is not None:
            assert report.rows_read == expected


@_SETTINGS
@given(api=api_files(), options=OPTIONS)
def test_messy_api_files_are_accounted_for_object_by_object(
    api: tuple[bytes, int | None], options: dict[str, str]
) -> None:
    raw, records = api
    with tempfile.TemporaryDirectory() as directory:
        report = read_checked([_write(directory, "objects.json", raw)], options)
    if records is None:
        assert report is None
    else:
        assert report is not None, "JSON must read: bad objects are rejects, not errors"
        assert report.rows_read == records


@_SETTINGS
@given(data=st.data(), api=api_files())
def test_damaged_api_files_raise_retainlib_errors_or_balance(
    data: st.DataObject, api: tuple[bytes, int | None]
) -> None:
    broken = data.draw(damaged(api[0]))
    with tempfile.TemporaryDirectory() as directory:
        read_checked([_write(directory, "objects.jsonl", broken)], {})


@_SETTINGS
@given(first=exports(), second=exports(), api=api_files(), options=OPTIONS)
def test_several_messy_files_read_together(
    first: tuple[str, bytes, int, bool],
    second: tuple[str, bytes, int, bool],
    api: tuple[bytes, int | None],
    options: dict[str, str],
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        paths = [_write(directory, "first.csv", first[1]), _write(directory, "second.csv", second[1])]
        paths.append(_write(directory, "objects.json", api[0]))
        report = read_checked(paths, options)
    if report is not None:
        by_file = {Path(load.file).name: 0 for load in report.files}
        for load in report.files:
            by_file[Path(load.file).name] += load.rows_read
        assert by_file["first.csv"] == first[2]
        assert by_file["second.csv"] == second[2]


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe" + "id,Created date (UTC),Amount,Currency,Status\n".encode("utf-16-le"),
        b'id,Created date (UTC),Amount,Currency,Status\nch_1,2024-03-01 10:00,"1.00,usd,Paid\n',
        b"id,Created date (UTC),Amount,Currency,Status\nch_1,2024-03-01 10:00,1.00,usd,Paid,extra\n",
        b'id,Created date (UTC),Amount,Currency,Status\nch_1,2024-03-01 10:00,1.00,usd,Pa"id\n',
        b"\x00\x01\x02",
    ],
)
def test_files_that_are_not_csv_raise_a_source_error_naming_them(raw: bytes, tmp_path: Path) -> None:
    path = _write(str(tmp_path), "payments.csv", raw)
    assert read_checked([path], {}) is None
    with pytest.raises(RetainlibError, match=re.escape(str(path))):
        HOST.read(HOST.sources["stripe"], [path], {})
