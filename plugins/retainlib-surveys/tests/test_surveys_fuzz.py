"""Fuzzing the survey sources: messy and damaged files of every format they read.

Each test writes a file (a SurveyMonkey or Typeform CSV export, Typeform or
Delighted JSON) from valid records mixed with garbage cells (bad dates, bad
numbers, odd text), blank lines, duplicated rows, a dropped or renamed column,
another separator, line ending or encoding, a byte-order mark; or damages one
(cut short, random bytes, a stray quote, re-encoded).  Then it reads it and
checks the contract:

* only a :class:`~retainlib.errors.RetainlibError` escapes the read, never a
  raw exception nor the host's wrapper of one, and every read balances (rows
  read = rows loaded + rows rejected): ``retainlib.testing`` asserts both;
* nothing is silently dropped: rows read equals the file's records, counted
  here without the source (from what was written, or with the :mod:`csv`
  module once the bytes are damaged);
* an export keeping the columns the source needs always reads: bad cells are
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

import retainlib_surveys as surveys
from retainlib import _host
from retainlib.errors import RetainlibError
from retainlib.load_report import LoadReport
from retainlib.testing.asserts import assert_read_or_refused
from retainlib.testing.strategies import damaged
from retainlib_surveys._csvfile import WHITE

_SETTINGS = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
HOST = _host.build_host(entry_points=False, plugins=[surveys])

#: Cells that break readers, or could: dates, numbers, labels, e-mails and text of every kind.
ODD_CELLS = [
    "", " ", "\t", "n/a", "null", "NaN", "inf", "-1", "11", "7.5", "1e1", "10.0", "ten", "9" * 30, "0",
    "10 - Extremely likely", "0 - Not at all likely", "Extremely likely", "5 –", "– 5",
    "03/01/2024 10:00:00 AM", "13/45/2024 10:00:00 AM", "02/30/2024 10:00:00 AM", "03/31/2024 02:30:00 AM",
    "2024-03-01 10:00:00", "2024-13-45 00:00:00", "2024-03-01T10:00:00Z", "0001-01-01 00:00:00", "99/99/9999",
    "completed", "partial", "started", "COMPLETED", "abandoned",
    "a@example.com", "A@Example.COM ", "@", "a@", "no mail", "a@b@c",
    "\ufffd", '"', 'a"b', "x\ny", "x\r\ny", "a,b", "a;b", "=SUM(A1)", "\x00", "\u2028", "\ufeff", "\x1c", "é",
]  # fmt: skip
CELL = st.one_of(st.sampled_from(ODD_CELLS), st.text(max_size=12))
#: Blank lines the way editors and exporters leave them; a line of separators only is blank too.
BLANKS = ["", " ", "\t", "\u3000", "{seps}", " {seps} "]
NPS = "How likely are you to recommend Acme to a friend?"


class Export:
    """A CSV export: its header lines, the columns the source needs, a valid row, the read's options."""

    def __init__(
        self,
        source: str,
        header: list[list[str]],
        required: set[str],
        row: Callable[[int], list[str]],
        options: dict[str, str],
    ) -> None:
        self.source, self.header, self.required, self.row, self.options = source, header, required, row, options


EXPORTS = {
    "surveymonkey": Export(
        "surveymonkey",
        [
            ["Respondent ID", "Collector ID", "Start Date", "End Date", "IP Address", "Email Address", "First Name",
             "Last Name", "Custom Data 1", NPS, "Why?"],
            ["", "", "", "", "", "", "", "", "", "Response", "Open-Ended Response"],
        ],
        {"Respondent ID", "End Date", NPS},
        lambda i: [str(11400000000 + i), "404", "03/01/2024 09:00:00 AM", "03/01/2024 09:05:00 AM", "203.0.113.1",
                   f"p{i % 4}@example.com", "Ann", "Lee", "", ["10 - Extremely likely", "7", "0 - Not at all likely",
                   "9"][i % 4], "Fine"],
        {"tz": "Europe/Paris"},
    ),
    "typeform": Export(
        "typeform",
        [["#", NPS, "email", "Response Type", "Start Date (UTC)", "Stage Date (UTC)", "Submit Date (UTC)",
          "Network ID", "Tags"]],
        {"#", NPS, "Submit Date (UTC)"},
        lambda i: [f"tok{i}", str(i % 11), f"p{i % 4}@example.com", "partial" if i % 5 == 4 else "completed",
                   "2024-03-01 10:00:00", "2024-03-01 10:01:00", "" if i % 5 == 4 else "2024-03-01 10:01:00", "n", ""],
        {},
    ),
}  # fmt: skip

OPTIONS = {
    "surveymonkey": st.fixed_dictionaries({}, optional={"anonymous": st.sampled_from(["reject", "keep"])}),
    "typeform": st.fixed_dictionaries(
        {}, optional={"anonymous": st.sampled_from(["reject", "keep"]), "partial": st.sampled_from(["reject", "keep"])}
    ),
    "delighted": st.fixed_dictionaries({}, optional={"anonymous": st.sampled_from(["reject", "keep"])}),
}


def _record(row: Sequence[str], separator: str, eol: str) -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=separator, lineterminator=eol).writerow(row)
    return out.getvalue()


def _is_data(row: Sequence[str]) -> bool:
    return any(cell.strip(WHITE) for cell in row)


def csv_records(text: str, header_lines: int, separator: str) -> int | None:
    """The data records of a CSV text, counted with the csv module (``None`` when it cannot parse them).

    Records end at ``"\\n"`` (or the end) only, as in polars, so a lone ``"\\r"`` stays inside its field here too.
    """
    text = text.removeprefix("\ufeff")
    text = re.sub("\r(?=[^\n])", "\ue000", text)
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=separator, strict=True))
    except csv.Error:
        return None
    return sum(1 for row in rows[header_lines:] if _is_data(row))


@st.composite
def exports(draw: st.DrawFn) -> tuple[str, bytes, int, bool, dict[str, str], str]:
    """A messy CSV export: its source, bytes, data records, whether it keeps the needed columns, options, separator."""
    export = EXPORTS[draw(st.sampled_from(sorted(EXPORTS)))]
    header = [list(line) for line in export.header]
    rows: list[list[str]] = []
    for i, garbage in enumerate(draw(st.lists(st.lists(st.tuples(st.integers(0, 99), CELL), max_size=3), max_size=10))):
        row = export.row(i)
        for position, cell in garbage:
            row[position % len(row)] = cell
        rows.append(row)
    for position in draw(st.lists(st.integers(0, 20), max_size=2)):  # duplicated rows
        if rows:
            rows.append(list(rows[position % len(rows)]))
    complete = True
    change = draw(st.sampled_from(["none", "none", "drop", "rename"]))
    if change != "none":
        at = draw(st.integers(1, len(header[0]) - 1))  # the first column names the export: it stays
        complete = header[0][at] not in export.required
        if change == "drop":
            for line in (*header, *rows):
                del line[at]
        else:
            header[0][at] = header[0][at] + " (renamed)"
    separator = draw(st.sampled_from([",", ",", ";", "\t"]))
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    records = [_record(r, separator, eol) for r in rows]
    for position, blank in draw(st.lists(st.tuples(st.integers(0, 20), st.sampled_from(BLANKS)), max_size=3)):
        seps = separator * (len(header[0]) - 1)
        records.insert(position % (len(records) + 1), blank.format(seps=seps) + eol)
    text = "".join(_record(line, separator, eol) for line in header) + "".join(records)
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "utf-16", "cp1252"]))
    options = dict(export.options, **draw(OPTIONS[export.source]))
    if encoding == "cp1252":
        options["encoding"] = "cp1252"
    raw = text.encode(encoding, errors="replace")
    expected = csv_records(raw.decode(encoding), len(header), separator)
    assert expected is not None  # what the csv module wrote, it reads
    return export.source, raw, expected, complete, options, separator


JSON_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(ODD_CELLS),
    st.text(max_size=8),
)
JSON_VALUE = st.one_of(
    JSON_SCALAR, st.lists(JSON_SCALAR, max_size=3), st.dictionaries(st.text(max_size=6), JSON_SCALAR, max_size=3)
)


def _typeform_response(i: int) -> dict[str, Any]:
    return {
        "token": f"t{i}",
        "landed_at": "2024-03-01T10:00:00Z",
        "submitted_at": "0001-01-01T00:00:00Z" if i % 5 == 4 else "2024-03-01T10:01:00Z",
        "hidden": {"email": f"p{i % 3}@example.com"},
        "answers": [{"type": "number", "number": i % 11, "field": {"id": "F1", "type": "nps", "ref": "r"}}],
    }


def _delighted_response(i: int) -> dict[str, Any]:
    person: Any = {"id": str(i % 4), "email": f"p{i % 4}@example.com"} if i % 2 else str(i % 4)
    return {"id": str(100 + i), "person": person, "survey_type": ["nps", "csat"][i % 7 == 6],
            "score": i % 11, "created_at": 1709287200 + i}  # fmt: skip


TEMPLATES: dict[str, Callable[[int], dict[str, Any]]] = {
    "typeform": _typeform_response,
    "delighted": _delighted_response,
}
#: Lines of JSON lines that are not one good record (each is still one record: rejected).
ODD_LINES = [
    "{not json",
    "[1, 2]",
    "null",
    '"text"',
    "9" * 5000,  # more digits than Python converts
    "[" * 5000,  # nested too deeply
    '{"token": "x", "submitted_at": NaN, "created_at": Infinity}',
    '{"a": "\\ud800"}',  # a lone surrogate
]


@st.composite
def json_files(draw: st.DrawFn) -> tuple[str, bytes, int | None, dict[str, str]]:
    """A JSON file for a source: its bytes and records (``None`` when the file is no JSON to read at all)."""
    source = draw(st.sampled_from(sorted(TEMPLATES)))
    objects: list[Any] = []
    for i in range(draw(st.integers(0, 8))):
        obj = TEMPLATES[source](i)
        for key, value in draw(st.lists(st.tuples(st.sampled_from([*sorted(obj), "extra"]), JSON_VALUE), max_size=3)):
            obj[key] = value
        objects.append(obj)
    if source == "typeform" and draw(st.booleans()):
        objects = [{"event_type": "form_response", "form_response": o} for o in objects]
    options = draw(OPTIONS[source])
    layout = draw(st.sampled_from(["array", "lines", "page"] if source == "typeform" else ["array", "lines"]))
    if layout == "page":
        return source, json.dumps({"total_items": len(objects), "items": objects}).encode(), len(objects), options
    if layout == "array":
        return source, json.dumps(objects, indent=draw(st.sampled_from([None, 2]))).encode(), len(objects), options
    # JSON lines: the first line an object (else the file is no JSON lines), then odd and blank lines anywhere.
    lines = [json.dumps(obj) for obj in objects]
    if lines:
        for position, odd in draw(st.lists(st.tuples(st.integers(1, 20), st.sampled_from(ODD_LINES)), max_size=3)):
            lines.insert(1 + position % len(lines), odd)
    for position in draw(st.lists(st.integers(0, 20), max_size=2)):
        lines.insert(position % (len(lines) + 1), draw(st.sampled_from(["", "  ", "\r"])))
    records = sum(1 for line in lines if line.strip())
    return source, "\n".join(lines).encode(), records or None, options


def read_checked(source: str, paths: Sequence[Path], options: dict[str, str]) -> LoadReport | None:
    """The report of a read through the host, ``None`` when it refused the files (see ``assert_read_or_refused``)."""
    ds = assert_read_or_refused(lambda: HOST.read(HOST.sources[source], list(paths), options))
    return None if ds is None else ds.report


def _write(directory: str, name: str, raw: bytes) -> Path:
    path = Path(directory) / name
    path.write_bytes(raw)
    return path


@_SETTINGS
@given(export=exports())
def test_messy_exports_are_accounted_for_row_by_row(
    export: tuple[str, bytes, int, bool, dict[str, str], str],
) -> None:
    source, raw, records, complete, options, _ = export
    with tempfile.TemporaryDirectory() as directory:
        report = read_checked(source, [_write(directory, "export.csv", raw)], options)
    if complete:
        assert report is not None, "an export with the columns the source needs must read: bad cells are rejects"
    if report is not None:
        assert report.rows_read == records


@_SETTINGS
@given(data=st.data(), export=exports())
def test_damaged_exports_raise_retainlib_errors_or_balance(
    data: st.DataObject, export: tuple[str, bytes, int, bool, dict[str, str], str]
) -> None:
    source, raw, _, _, options, separator = export
    broken = data.draw(damaged(raw))
    with tempfile.TemporaryDirectory() as directory:
        report = read_checked(source, [_write(directory, "export.csv", broken)], options)
    # When the header survived and the bytes are UTF-8, rows read are the records the csv module counts.
    lines = len(EXPORTS[source].header)
    header = b"".join(raw.splitlines(keepends=True)[:lines])
    if report is None or not broken.startswith(header) or "encoding" in options or raw.startswith(b"\xff\xfe"):
        return
    try:
        text = broken.decode("utf-8")
    except UnicodeDecodeError:
        return
    expected = csv_records(text, lines, separator)
    if expected is not None:
        assert report.rows_read == expected


@_SETTINGS
@given(file=json_files())
def test_messy_json_is_accounted_for_record_by_record(file: tuple[str, bytes, int | None, dict[str, str]]) -> None:
    source, raw, records, options = file
    with tempfile.TemporaryDirectory() as directory:
        report = read_checked(source, [_write(directory, "responses.json", raw)], options)
    if records is None:
        assert report is None
    else:
        assert report is not None, "JSON must read: bad records are rejects, not errors"
        assert report.rows_read == records


@_SETTINGS
@given(data=st.data(), file=json_files())
def test_damaged_json_raises_retainlib_errors_or_balances(
    data: st.DataObject, file: tuple[str, bytes, int | None, dict[str, str]]
) -> None:
    source, raw, _, options = file
    with tempfile.TemporaryDirectory() as directory:
        read_checked(source, [_write(directory, "responses.jsonl", data.draw(damaged(raw)))], options)


@pytest.mark.parametrize(
    ("source", "raw"),
    [
        ("surveymonkey", b"\xff\xfe" + "Respondent ID,End Date\n".encode("utf-16-le")[:-1]),
        ("surveymonkey", b'Respondent ID,Collector ID,End Date,How likely to recommend\n1,2,"03/01/2024,9\n'),
        ("typeform", b"#,Submit Date (UTC),How likely to recommend\n\x00\x01\x02"),
        ("typeform", b"\x00\x01\x02"),
        ("delighted", b"[" * 10000),
    ],
)
def test_files_that_cannot_be_read_raise_a_source_error_naming_them(tmp_path: Path, source: str, raw: bytes) -> None:
    path = _write(str(tmp_path), "export.csv", raw)
    options = {"tz": "UTC"} if source == "surveymonkey" else {}
    try:
        report = read_checked(source, [path], options)
    except AssertionError:
        raise
    if report is None:
        with pytest.raises(RetainlibError, match=re.escape(str(path))):
            HOST.read(HOST.sources[source], [path], options)
