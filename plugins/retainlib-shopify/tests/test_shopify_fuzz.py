"""Fuzzing the ``shopify`` source: messy exports and payloads of every format it reads.

Each test writes a file (the orders export, the customers export, REST or
GraphQL JSON, bulk-operation JSON lines) from valid records mixed with garbage
cells, duplicated rows, blank lines, multi-line cells, odd encodings, a byte
order mark, another separator, missing or renamed columns and random bytes,
reads it, and checks the source's contract:

* only a :class:`~retainlib.errors.RetainlibError` escapes the read, never a
  raw exception nor the host's wrapper of one, and every read that works
  balances, file by file (``retainlib.testing.asserts.assert_read_or_refused``);
* nothing is dropped silently: rows read equals the file's data rows (or
  records), counted here without the source, from what the test wrote or with
  the :mod:`csv` module once the bytes are damaged;
* a file with every column the source needs always reads: bad cells are
  rejects, not errors.
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

import retainlib_shopify as shopify
from retainlib import _host
from retainlib._exports.shopify import CUSTOMERS_HEADER, ORDERS_HEADER
from retainlib.errors import RetainlibError
from retainlib.load_report import LoadReport
from retainlib.testing.asserts import assert_read_or_refused
from retainlib.testing.strategies import damaged

#: Unicode White_Space, what polars' ``strip_chars`` strips.
WHITE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
#: Half the profile's examples per test (20 in the default run): each example writes and reads files.
_SETTINGS = settings(
    max_examples=max(10, settings().max_examples // 2),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
HOST = _host.build_host(entry_points=False, plugins=[shopify])
REQUIRED = ("Name", "Email", "Created at", "Currency", "Total")

# --- the exports: valid rows ---------------------------------------------------------------------


def _order_rows(i: int) -> list[dict[str, str]]:
    """Order ``#100i``: its first row, and a second line item for every other order."""
    name, email = f"#{100 + i}", f"buyer{i % 3}@example.com"
    created = f"2024-03-{1 + i % 28:02d} 10:00:00 -0500"
    rows = [
        {
            "Name": name, "Email": email, "Financial Status": ["paid", "partially_refunded", "pending"][i % 3],
            "Currency": "USD", "Subtotal": "10.00", "Shipping": "2.00", "Taxes": "1.00", "Total": "13.00",
            "Refunded Amount": "3.00" if i % 3 == 1 else "0.00", "Created at": created, "Lineitem quantity": "1",
            "Lineitem name": "Mug", "Id": str(5000 + i), "Note Attributes": "gift: yes\nwrap: red" if i % 4 else "",
        }
    ]  # fmt: skip
    if i % 2:
        rows.append({"Name": name, "Email": email, "Created at": created, "Lineitem quantity": "2", "Vendor": "V"})
    return rows


def _customer_row(i: int) -> dict[str, str]:
    return {
        "Customer ID": f"'{7000 + i}", "First Name": "Ann", "Last Name": "Lee", "Email": f"buyer{i % 3}@example.com",
        "Phone": "'+15550000000", "Accepts Email Marketing": "yes", "Total Spent": "13.00", "Total Orders": "1",
    }  # fmt: skip


EXPORTS: dict[str, tuple[Sequence[str], Callable[[int], list[dict[str, str]]], Sequence[str]]] = {
    "orders": (ORDERS_HEADER, _order_rows, REQUIRED),
    "customers": (CUSTOMERS_HEADER, lambda i: [_customer_row(i)], ("Email",)),
}
#: Cells that have broken readers, or could: money, dates, statuses, e-mails and text of every kind.
ODD_CELLS = [
    "", " ", "\t", "n/a", "null", "1e3", "-1E-2", "12,34", "1.234,56", "-5.00", "+5", "9.99999", "8.000", ".5",
    "5.", "9" * 21, "9" * 40, "0" * 30 + "1", "1,000.00", "0", "0.00", "NaN", "inf", "paid", "refunded",
    "voided", "expired", "PAID", "bogus", "Bogus", "USD", "usd", "US", "dollars", "2024-13-45 00:00:00 -0500",
    "2024-02-30 10:00:00 -0500", "2024-03-01T10:00:00Z", "2024-03-01 10:00:00", "2024-03-01 10:00:00 +2500",
    "9999-12-31 23:59:59 -2359", "0001-01-01 00:00:00 +0000", "03/01/2024 10:00", "\ufffd", '"', 'a"b',
    "x\ny", "x\r\ny", "x\ry", "a,b", "a;b", "=SUM(A1)", "\x00", "\u2028", "\ufeff", "'123", "#100", "#101",
    "", "buyer0@example.com", " BUYER1@Example.com ", "v4bccx@scs3.tiktok.com", "gid://shopify/Order/1",
]  # fmt: skip
CELL = st.one_of(st.sampled_from(ODD_CELLS), st.text(max_size=12))
BLANKS = ["", " ", "\t", "\u3000", "{seps}", " {seps} "]


def _is_data(row: Sequence[str]) -> bool:
    """A data row: not blank, a blank record being empty fields, the first perhaps white space (the core's rule)."""
    return bool(row) and (bool(row[0].strip(WHITE)) or any(row[1:]))


def _csv_text(header: Sequence[str], rows: Sequence[Sequence[str]], blanks: Sequence[tuple[int, str]], sep: str,
              eol: str) -> str:  # fmt: skip
    out = io.StringIO()
    csv.writer(out, delimiter=sep, lineterminator=eol).writerow(header)
    records: list[str] = []
    for row in rows:
        one = io.StringIO()
        csv.writer(one, delimiter=sep, lineterminator=eol).writerow(row)
        records.append(one.getvalue())
    for position, blank in sorted(blanks, reverse=True):
        records.insert(position % (len(records) + 1), blank.format(seps=sep * (len(header) - 1)) + eol)
    return out.getvalue() + "".join(records)


def csv_data_rows(raw: bytes, sep: str = ",") -> int | None:
    """The data rows of CSV bytes, counted with the csv module (``None`` when it cannot parse them).

    Decoded as the source decodes (UTF-8, bad bytes replaced); records end at
    ``"\\n"`` only, as in polars, so a lone ``"\\r"`` stays inside its field.
    """
    text = raw.decode("utf-8", errors="replace").removeprefix("\ufeff")
    text = re.sub("\r(?=[^\n])", "\ue000", text)
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=True))
    except csv.Error:
        return None
    return sum(1 for row in rows[1:] if _is_data(row))


@st.composite
def exports(draw: st.DrawFn) -> tuple[str, bytes, int, bool]:
    """An export: its kind, its bytes, its data rows, and whether it must read (every needed column, a known
    separator)."""
    kind = draw(st.sampled_from(sorted(EXPORTS)))
    full_header, valid, required = EXPORTS[kind]
    header = list(full_header)
    records: list[dict[str, str]] = []
    for i in range(draw(st.integers(0, 8))):
        for row in valid(i):
            for position, cell in draw(st.lists(st.tuples(st.integers(0, len(header) - 1), CELL), max_size=3)):
                row[header[position]] = cell
            records.append(row)
    for position in draw(st.lists(st.integers(0, 50), max_size=3)):  # duplicated rows
        if records:
            records.insert(position % len(records), dict(records[position % len(records)]))
    shape = draw(st.sampled_from(["complete", "complete", "older", "shuffled", "dropped", "renamed"]))
    if shape == "older":
        header = header[: len(header) * 2 // 3]
    elif shape == "shuffled":
        header = draw(st.permutations(header))
    elif shape in ("dropped", "renamed"):
        at = draw(st.integers(0, len(header) - 1))
        header = [*header[:at], *([f"{header[at]} (old)"] if shape == "renamed" else []), *header[at + 1 :]]
    sep = draw(st.sampled_from([",", ",", ",", ";", "\t", "|"]))
    rows = [[r.get(c, "") for c in header] for r in records]
    blanks = draw(st.lists(st.tuples(st.integers(0, 20), st.sampled_from(BLANKS)), max_size=3))
    text = _csv_text(header, rows, blanks, sep, draw(st.sampled_from(["\n", "\r\n"])))
    bom = draw(st.sampled_from(["", "\ufeff"]))
    readable = sep != "|" and all(c in header for c in required) and shopify.detect(Path("x"), text.encode()) > 0
    data_rows = csv_data_rows(text.encode(), sep)
    assert data_rows is not None  # the csv module wrote it
    return kind, (bom + text).encode(), data_rows, readable


def read_checked(paths: Sequence[Path], options: dict[str, str] | None = None) -> LoadReport | None:
    """The report of a read through the host, ``None`` when it refused the files."""
    ds = assert_read_or_refused(lambda: HOST.read(HOST.sources["shopify"], list(paths), options or {}))
    return None if ds is None else ds.report


OPTIONS = st.fixed_dictionaries(
    {}, optional={"amount": st.sampled_from(["total", "subtotal"]), "relay": st.sampled_from(["keep", "reject"])}
)


def _write(directory: str, name: str, raw: bytes) -> Path:
    path = Path(directory) / name
    path.write_bytes(raw)
    return path


@_SETTINGS
@given(export=exports(), options=OPTIONS)
def test_messy_exports_are_accounted_for_row_by_row(
    export: tuple[str, bytes, int, bool], options: dict[str, str]
) -> None:
    kind, raw, data_rows, readable = export
    with tempfile.TemporaryDirectory() as directory:
        report = read_checked([_write(directory, f"{kind}_export.csv", raw)], options)
    if readable:
        assert report is not None, "an export with every needed column must read: bad cells are rejects"
    if report is not None:
        assert report.rows_read == data_rows


@_SETTINGS
@given(data=st.data(), export=exports())
def test_damaged_exports_raise_retainlib_errors_or_balance(
    data: st.DataObject, export: tuple[str, bytes, int, bool]
) -> None:
    kind, raw, _, _ = export
    broken = data.draw(damaged(raw))
    with tempfile.TemporaryDirectory() as directory:
        report = read_checked([_write(directory, f"{kind}_export.csv", broken)])
    if report is not None:
        expected = csv_data_rows(broken, shopify._csv.sniff(broken[: 64 * 1024]).separator)
        if expected is not None:
            assert report.rows_read == expected


@_SETTINGS
@given(first=exports(), second=exports(), options=OPTIONS)
def test_two_messy_exports_read_together(
    first: tuple[str, bytes, int, bool], second: tuple[str, bytes, int, bool], options: dict[str, str]
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        paths = [_write(directory, "one.csv", first[1]), _write(directory, "two.csv", second[1])]
        report = read_checked(paths, options)
    if report is not None:
        read = {Path(f.file).name: 0 for f in report.files}
        for f in report.files:
            read[Path(f.file).name] += f.rows_read
        assert read == {"one.csv": first[2], "two.csv": second[2]}


# --- API payloads ----------------------------------------------------------------------------------


def _money_set(amount: str) -> dict[str, Any]:
    return {"shopMoney": {"amount": amount, "currencyCode": "USD"}}


TEMPLATES: dict[str, Callable[[int], dict[str, Any]]] = {
    "rest_order": lambda i: {
        "id": 6000 + i, "name": f"#{1100 + i}", "email": "ann@example.com", "created_at": "2024-03-07T10:00:00-05:00",
        "currency": "USD", "total_price": "30.00", "subtotal_price": "25.00", "financial_status": "paid",
        "test": False, "cancelled_at": None, "customer": {"id": 7001, "email": "ann@example.com"},
        "refunds": [{"id": 800 + i, "transactions": [{"kind": "refund", "status": "success", "amount": "1.00"}]}],
    },
    "rest_customer": lambda i: {"id": 7100 + i, "email": "c@x.com", "created_at": "2024-01-01T00:00:00Z",
                                "orders_count": 1, "total_spent": "1.00"},
    "rest_refund": lambda i: {"id": 900 + i, "order_id": 6000 + i - 1, "refund_line_items": [],
                              "transactions": [{"kind": "refund", "status": "success", "amount": "2.00"}]},
    "graphql_order": lambda i: {
        "id": f"gid://shopify/Order/{6500 + i}", "name": f"#{1500 + i}", "createdAt": "2024-03-10T10:00:00Z",
        "displayFinancialStatus": "PAID", "test": False, "totalPriceSet": _money_set("10.0"),
        "totalRefundedSet": _money_set("0.0"), "customer": {"id": "gid://shopify/Customer/7002"},
    },
    "graphql_line": lambda i: {"id": f"gid://shopify/LineItem/{i}", "quantity": 1,
                               "__parentId": f"gid://shopify/Order/{6500 + i - 1}"},
    "graphql_customer": lambda i: {"id": f"gid://shopify/Customer/{7200 + i}", "email": "d@x.com",
                                   "createdAt": "2024-01-01T00:00:00Z"},
}  # fmt: skip
JSON_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**40), 10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(ODD_CELLS),
    st.text(max_size=8),
)
JSON_VALUE = st.one_of(
    JSON_SCALAR, st.lists(JSON_SCALAR, max_size=3), st.dictionaries(st.text(max_size=6), JSON_SCALAR, max_size=3)
)
#: JSON-lines lines that are not one order, with the records each makes.
ODD_LINES = [
    ("{not json", 1),
    ("[1, 2]", 2),
    ('{"orders": [{"id": 1, "total_price": "x"}]}', 1),
    ('{"data": {"orders": {"edges": [{"node": {"id": "gid://shopify/Order/5"}}]}}}', 1),
    ("null", 1),
    ('"text"', 1),
    ("[]", 0),
    ("9" * 5000, 1),
    ("[" * 5000, 1),
    ('{"id": "gid://shopify/Order/9", "totalPriceSet": NaN}', 1),
    ('{"a": "\\ud800"}', 1),
    ('{"id": 5, "total_price": "1.00", "email": "\\ud800@x.com", "created_at": "\\udfff"}', 1),
    ('{"id": "gid://shopify/Product/1"}', 1),
]


@st.composite
def api_files(draw: st.DrawFn) -> tuple[bytes, int | None]:
    """A JSON file and its records (``None`` when the file is no JSON at all: a ``SourceError``)."""
    objects: list[dict[str, Any]] = []
    for i in range(draw(st.integers(0, 8))):
        obj = TEMPLATES[draw(st.sampled_from(sorted(TEMPLATES)))](i)
        for key, value in draw(st.lists(st.tuples(st.sampled_from([*sorted(obj), "extra"]), JSON_VALUE), max_size=3)):
            if key != "id":  # ids stay unique: an order read twice in two formats is a DataError by design
                obj[key] = value
        objects.append(obj)
    layout = draw(st.sampled_from(["orders", "array", "graphql", "lines"]))
    if layout == "orders":
        return json.dumps({"orders": objects}).encode(), len(objects)
    if layout == "array":
        return json.dumps(objects, indent=draw(st.sampled_from([None, 2]))).encode(), len(objects)
    if layout == "graphql":
        edges = [{"node": o} for o in objects]
        return json.dumps({"data": {"orders": {"edges": edges}}}).encode(), len(objects)
    lines = [(json.dumps(obj), 1) for obj in objects]
    for position, odd in draw(st.lists(st.tuples(st.integers(0, 20), st.sampled_from(ODD_LINES)), max_size=3)):
        lines.insert(position % (len(lines) + 1), odd)
    for position in draw(st.lists(st.integers(0, 20), max_size=2)):
        lines.insert(position % (len(lines) + 1), (draw(st.sampled_from(["", "  ", "\r"])), 0))
    text = "\n".join(line for line, _ in lines)
    if not text.strip():
        return text.encode(), None
    first = next(line for line, _ in lines if line.strip())
    if first.lstrip()[:1] not in ("{", "["):
        return text.encode(), None  # JSON files start with an object or an array; anything else is no payload
    try:
        json.loads(first)
    except (ValueError, RecursionError):
        return text.encode(), None  # neither one document nor JSON lines
    if len([line for line, _ in lines if line.strip()]) == 1:
        only = json.loads(first)
        return text.encode(), len(only) if isinstance(only, list) else 1
    return text.encode(), sum(records for _, records in lines)


@_SETTINGS
@given(api=api_files(), options=OPTIONS)
def test_messy_api_files_are_accounted_for_object_by_object(
    api: tuple[bytes, int | None], options: dict[str, str]
) -> None:
    raw, records = api
    with tempfile.TemporaryDirectory() as directory:
        report = read_checked([_write(directory, "payload.json", raw)], options)
    if records is None:
        assert report is None
    else:
        assert report is not None, "JSON must read: bad objects are rejects, not errors"
        assert report.rows_read == records


@_SETTINGS
@given(data=st.data(), api=api_files(), export=exports())
def test_damaged_api_files_with_an_export_raise_retainlib_errors_or_balance(
    data: st.DataObject, api: tuple[bytes, int | None], export: tuple[str, bytes, int, bool]
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        paths = [_write(directory, "payload.jsonl", data.draw(damaged(api[0]))), _write(directory, "e.csv", export[1])]
        read_checked(paths)


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe" + ",".join(ORDERS_HEADER).encode("utf-16-le"),
        ",".join(ORDERS_HEADER).encode() + b'\n#1,"a@x.com,paid\n',
        ",".join(ORDERS_HEADER).encode() + b"\n#1" + b",x" * 100 + b"\n",
        ",".join(ORDERS_HEADER).encode() + b'\n#1,a"b@x.com\n',
        b"\x00\x01\x02",
        b"Name|Email|Created at|Currency|Total|Financial Status\n#1|a@x.com|2024-03-01 10:00:00 -0500|USD|5|paid\n",
    ],
)
def test_files_that_are_no_export_raise_a_source_error_naming_them(raw: bytes, tmp_path: Path) -> None:
    path = _write(str(tmp_path), "orders_export_1.csv", raw)
    assert read_checked([path]) is None
    with pytest.raises(RetainlibError, match=re.escape(str(path))):
        HOST.read(HOST.sources["shopify"], [path], {})
