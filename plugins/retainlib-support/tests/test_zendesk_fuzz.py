"""Fuzzing the ``zendesk`` source: messy tickets CSV exports, API JSON and JSON lines.

Each test writes a file from valid records mixed with garbage cells, odd
values, blank lines, duplicated rows, dropped or renamed columns, another
delimiter, a byte-order mark, another encoding, and damage (random bytes, a
stray quote, a cut), reads it through the host, and checks the contract:

* only a :class:`~retainlib.errors.RetainlibError` of the source's own escapes
  (``assert_read_or_refused``), and every read balances: rows read = rows
  loaded + rows rejected, file by file;
* a file that keeps what the source needs reads (bad values are rejects, not
  errors), and its rows read are the records written, counted here without
  the source: from what the test wrote, or with the :mod:`csv` module once
  the bytes are damaged.
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

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import retainlib_support
from retainlib import _host
from retainlib.load_report import LoadReport
from retainlib.testing.asserts import assert_read_or_refused
from retainlib.testing.strategies import damaged

#: A host with the plugin registered explicitly (it may not be installed yet).
HOST = _host.build_host(entry_points=False, plugins=[retainlib_support])
#: Unicode White_Space (what polars strips): a record of such cells only is a blank line.
WHITE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
#: Half the profile's examples per test (20 in the default run): five tests read files of three formats.
_EXAMPLES = max(10, settings().max_examples // 2)
_SETTINGS = settings(
    max_examples=_EXAMPLES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- the CSV export -------------------------------------------------------------------------------

HEADER = [
    "Summation column", "Id", "Requester", "Requester id", "Requester email", "Tags", "Status", "Created at",
    "Updated at", "Solved at", "Satisfaction Score", "Ticket Category [list]",
]  # fmt: skip
#: Columns without which the file is no tickets export (the requester needs its id or its e-mail).
REQUIRED = ("Id", "Created at")
#: Names the source reads as the same columns.
RENAMES = {"Id": "ID", "Requester id": "requester_id", "Created at": "CREATED AT", "Solved at": "Solved_At"}


def valid(i: int) -> list[str]:
    return [
        "", str(100 + i), "Ann Lee", str(9000 + i % 3), "Ann@Example.com", "vip", "Solved", "2024-03-01T10:00:00Z",
        "2024-03-02 10:00:00 +0100", "2024-03-02T09:00:00Z", "Good", "billing",
    ]  # fmt: skip


#: Cells that have broken readers, or could: dates, ids, statuses, scores, tags and text of every kind.
ODD_CELLS = [
    "", " ", "\t", "\u3000", "n/a", "null", "1e3", "-1", "17850.0", "1.5", "9" * 40, "0", "2024-13-45T00:00:00Z",
    "2024-02-30 10:00:00", "2024-03-01 10:00", "2024-03-01", "2024-03-01T10:00:00", "03/01/2024 10:00",
    "2024-03-01T10:00:00+01", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z",
    "Solved", "closed", "Deleted", "Open", "On-hold", "pending", "Good", "bad", "Offered", "Unoffered",
    "Good with comment", "Meh", "spam", "closed_by_merge", "a b spam", "{}", "[1]", '{"id": 5}', "\ufffd",
    '"', 'a"b', "x\ny", "x\r\ny", "a,b", "a;b", "=SUM(A1)", "\ufeff", "Ánn@Exämple.com",
]  # fmt: skip
CELL = st.one_of(st.sampled_from(ODD_CELLS), st.text(max_size=10))
BLANKS = ["", " ", "\t", "{commas}", " {commas} "]


def _is_data(row: Sequence[str]) -> bool:
    return any(cell.strip(WHITE) for cell in row)


def csv_data_rows(raw: bytes) -> int | None:
    """The data records of CSV bytes, counted with the csv module (``None`` when it cannot parse them).

    Decoded as the source decodes (UTF-8, bad bytes replaced; UTF-16 after its byte-order mark); records
    end at ``"\\n"`` only, as in polars, so a lone ``"\\r"`` stays inside its field.
    """
    utf16 = raw.startswith((b"\xff\xfe", b"\xfe\xff"))  # the source follows a UTF-16 byte-order mark
    text = raw.decode("utf-16" if utf16 else "utf-8", errors="replace").removeprefix("\ufeff")
    text = re.sub("\r(?=[^\n])", "\ue000", text)
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error:
        return None
    return sum(1 for row in rows[1:] if _is_data(row))


@st.composite
def exports(draw: st.DrawFn) -> tuple[bytes, int, bool]:
    """A tickets CSV export: its bytes, its data records, and whether the source must be able to read it."""
    header = list(HEADER)
    rows: list[list[str]] = []
    for i, garbage in enumerate(draw(st.lists(st.lists(st.tuples(st.integers(0, 99), CELL), max_size=4), max_size=10))):
        row = valid(i)
        for position, cell in garbage:
            row[1 + position % (len(row) - 1)] = cell
        rows.append(row)
    for position in draw(st.lists(st.integers(0, 20), max_size=3)):  # duplicated rows
        if rows:
            rows.insert(position % (len(rows) + 1), list(rows[position % len(rows)]))
    change = draw(st.sampled_from(["none", "none", "drop", "rename"]))
    readable = True
    if change == "drop":
        dropped = draw(st.integers(0, len(header) - 1))
        readable = header[dropped] not in REQUIRED
        del header[dropped]
        for row in rows:
            del row[dropped]
    elif change == "rename":
        name = draw(st.sampled_from(sorted(RENAMES)))
        header[header.index(name)] = RENAMES[name]
    separator = draw(st.sampled_from([",", ",", ",", ";", "\t"]))
    readable = readable and separator == ","
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    out = io.StringIO()
    writer = csv.writer(out, delimiter=separator, lineterminator=eol)
    writer.writerow(header)
    records = []
    for row in rows:
        one = io.StringIO()
        csv.writer(one, delimiter=separator, lineterminator=eol).writerow(row)
        records.append(one.getvalue())
    for position, blank in draw(st.lists(st.tuples(st.integers(0, 20), st.sampled_from(BLANKS)), max_size=3)):
        records.insert(position % (len(records) + 1), blank.format(commas=separator * (len(header) - 1)) + eol)
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "latin-1"]))
    bom = draw(st.sampled_from(["", "\ufeff"])) if encoding == "utf-8" else ""
    text = bom + out.getvalue() + "".join(records)
    raw = text.encode(encoding, errors="replace")
    readable = readable and (encoding == "utf-8" or raw.isascii())
    return raw, sum(1 for row in rows if _is_data(row)), readable


def read_checked(paths: Sequence[Path], options: dict[str, str] | None = None) -> LoadReport | None:
    """The report of a read through the host, ``None`` when it refused the files."""
    ds = assert_read_or_refused(lambda: HOST.read(HOST.sources["zendesk"], list(paths), options or {}))
    return None if ds is None else ds.report


def _write(directory: str, name: str, raw: bytes) -> Path:
    path = Path(directory) / name
    path.write_bytes(raw)
    return path


OPTIONS = st.fixed_dictionaries(
    {},
    optional={
        "tz": st.sampled_from(["UTC", "Europe/Paris", "Asia/Kolkata"]),
        "solve_time": st.sampled_from(["metrics", "updated_at"]),
    },
)


@_SETTINGS
@given(export=exports(), options=OPTIONS)
def test_messy_csv_exports_are_accounted_for_row_by_row(
    export: tuple[bytes, int, bool], options: dict[str, str]
) -> None:
    raw, data_rows, readable = export
    with tempfile.TemporaryDirectory() as directory:
        report = read_checked([_write(directory, "export.csv", raw)], options)
    if readable:
        assert report is not None, "an export with the columns it needs must read: bad values are rejects"
        assert report.rows_read == data_rows
        assert csv_data_rows(raw) == data_rows  # the reference agrees with what was written
    if report is not None:
        assert report.rows_read == csv_data_rows(raw)


@_SETTINGS
@given(data=st.data(), export=exports())
def test_damaged_csv_exports_raise_retainlib_errors_or_balance(
    data: st.DataObject, export: tuple[bytes, int, bool]
) -> None:
    broken = data.draw(damaged(export[0]))
    with tempfile.TemporaryDirectory() as directory:
        report = read_checked([_write(directory, "export.csv", broken)])
    if report is not None and not broken.lstrip(b"\xef\xbb\xbf \t\r\n").startswith((b"{", b"[")):
        expected = csv_data_rows(broken)
        if expected is not None:
            assert report.rows_read == expected


# --- API JSON and JSON lines ------------------------------------------------------------------------

JSON_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(ODD_CELLS),
    st.text(max_size=8),
)
JSON_VALUE = st.one_of(
    JSON_SCALAR,
    st.lists(JSON_SCALAR, max_size=3),
    st.dictionaries(st.sampled_from(["score", "solved_at", "channel", "id", "x"]), JSON_SCALAR, max_size=3),
)
_API = "https://acme.zendesk.com/api/v2"
TEMPLATES: dict[str, Callable[[int], dict[str, Any]]] = {
    "ticket": lambda i: {
        "url": f"{_API}/tickets/{i}.json", "id": i, "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-02T00:00:00Z", "status": "solved", "requester_id": 7000 + i % 3, "tags": ["a"],
        "via": {"channel": "web"}, "satisfaction_rating": {"score": "good"},
        "metric_set": {"ticket_id": i, "solved_at": "2024-01-01T05:00:00Z"},
    },
    "metric": lambda i: {"url": f"{_API}/ticket_metrics/{i}.json", "id": i, "ticket_id": i - 1,
                         "solved_at": "2024-01-01T06:00:00Z", "reopens": 0},
    "rating": lambda i: {"url": f"{_API}/satisfaction_ratings/{i}.json", "id": i, "ticket_id": i - 1, "score": "bad"},
    "user": lambda i: {"url": f"{_API}/users/{i}.json", "id": 7000 + i % 3, "email": "U@example.com",
                       "created_at": "2023-01-01T00:00:00Z", "role": "end-user"},
}  # fmt: skip
#: JSON lines that are not one object, with the records each makes.
ODD_LINES = [
    ("{not json", 1),
    ("[1, 2]", 2),
    ("null", 1),
    ('"text"', 1),
    ("[]", 0),
    ("[" * 3000, 1),  # nested too deeply
    ('{"id": NaN, "requester_id": 1, "status": "open"}', 1),
    ('{"tickets": [{"id": 1, "requester_id": 2, "created_at": "2024-01-01T00:00:00Z", "status": "open"}, 7]}', 2),
    ('{"users": [{"id": 2, "email": "x@example.com"}], "count": 1}', 1),
    ('{"a": "\\ud800"}', 1),
]


@st.composite
def objects(draw: st.DrawFn, kinds: Sequence[str]) -> list[dict[str, Any]]:
    """Zendesk objects of the given kinds with random fields changed (ids unique within a kind)."""
    found: list[dict[str, Any]] = []
    for i in range(draw(st.integers(0, 8))):
        obj = TEMPLATES[draw(st.sampled_from(list(kinds)))](100 + i)
        for key, value in draw(st.lists(st.tuples(st.sampled_from([*sorted(obj), "extra"]), JSON_VALUE), max_size=3)):
            if key != "url":
                obj[key] = value
        found.append(obj)
    return found


@st.composite
def api_files(draw: st.DrawFn) -> tuple[bytes, int | None]:
    """A Zendesk JSON file and its records (``None`` when the file is no JSON the source reads)."""
    layout = draw(st.sampled_from(["page", "array", "object", "lines"]))
    if layout == "page":
        tickets = draw(objects(["ticket"]))
        page = {
            "tickets": tickets,
            "metric_sets": draw(objects(["metric"])),
            "users": draw(objects(["user"])),
            "count": len(tickets),
            "end_time": 1704067200,
            "next_page": None,
            "end_of_stream": True,
        }
        return json.dumps(page, indent=draw(st.sampled_from([None, 2]))).encode(), len(tickets)
    if layout == "array":
        items: list[Any] = draw(objects(sorted(TEMPLATES)))
        items += draw(st.lists(JSON_SCALAR, max_size=2))
        return json.dumps(items).encode(), len(items)
    if layout == "object":  # one bare ticket, as GET /api/v2/tickets/{id}.json holds it without its wrapper
        ticket = TEMPLATES["ticket"](1)
        for key, value in draw(st.lists(st.tuples(st.sampled_from(sorted(ticket)), JSON_VALUE), max_size=3)):
            ticket[key] = value
        return json.dumps(ticket).encode(), 1
    lines = [(json.dumps(obj), 1) for obj in draw(objects(sorted(TEMPLATES)))]
    for position, odd in draw(st.lists(st.tuples(st.integers(0, 20), st.sampled_from(ODD_LINES)), max_size=3)):
        lines.insert(position % (len(lines) + 1), odd)
    for position in draw(st.lists(st.integers(0, 20), max_size=3)):
        lines.insert(position % (len(lines) + 1), (draw(st.sampled_from(["", "  ", "\r"])), 0))
    text = "\n".join(line for line, _ in lines)
    first = text.lstrip()
    if not first or first[0] not in "{[":
        return text.encode(), None  # no JSON: read as a CSV file, which it is not
    try:
        json.loads(first.split("\n", 1)[0])
    except (ValueError, RecursionError):
        return text.encode(), None  # its first line is not JSON: neither one document nor JSON lines
    return text.encode(), sum(records for _, records in lines)


@_SETTINGS
@given(api=api_files(), options=OPTIONS)
def test_messy_api_files_are_accounted_for_record_by_record(
    api: tuple[bytes, int | None], options: dict[str, str]
) -> None:
    raw, records = api
    with tempfile.TemporaryDirectory() as directory:
        report = read_checked([_write(directory, "tickets.json", raw)], options)
    if records is None:
        assert report is None, "not JSON the source reads: refused"
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
        read_checked([_write(directory, "tickets.jsonl", broken)])


@_SETTINGS
@given(first=exports(), second=api_files(), third=api_files())
def test_several_messy_files_read_together(
    first: tuple[bytes, int, bool], second: tuple[bytes, int | None], third: tuple[bytes, int | None]
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        paths = [
            _write(directory, "export.csv", first[0]),
            _write(directory, "a.json", second[0]),
            _write(directory, "b.jsonl", third[0]),
        ]
        report = read_checked(paths)
    if report is not None:
        by_file: dict[str, int] = {}
        for load in report.files:
            by_file[Path(load.file).name] = by_file.get(Path(load.file).name, 0) + load.rows_read
        assert by_file["export.csv"] == first[1]
        for name, (_, records) in (("a.json", second), ("b.jsonl", third)):
            if records is not None:
                assert by_file[name] == records
