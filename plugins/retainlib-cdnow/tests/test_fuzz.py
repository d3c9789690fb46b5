"""Fuzzing the ``cdnow`` source: messy transaction logs in each of its four layouts.

Each test writes a log (master, sample, BTYD's elog CSV, CLVTools' CSV) from
valid lines mixed with garbage fields, blank lines, odd encodings, huge
numbers, quotes, missing fields and random bytes, reads it through the host,
and checks the source's contract:

* only :class:`~retainlib.errors.RetainlibError` escapes the read, and never the
  host's wrapper of a raw exception, and every successful read balances (rows
  read = rows loaded + rows rejected): ``retainlib.testing`` asserts both;
* rows read equals the file's data rows, counted here without the source: the
  lines after the header (a first line without a digit) that are not blank.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import retainlib_cdnow as cdnow
from retainlib import _host
from retainlib.load_report import LoadReport
from retainlib.testing.asserts import assert_read_or_refused
from retainlib.testing.strategies import damaged

#: Unicode White_Space, what the reader strips from each line (a byte-order mark too, at a line's start).
WHITE = "\t\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
#: The project's hypothesis profiles, as ``tests/conftest.py`` defines them (it is not loaded for plugin tests):
#: 40 examples, or 1000 with ``RETAINLIB_HYPOTHESIS=thorough``.
_SETTINGS = settings(
    max_examples=1000 if os.environ.get("RETAINLIB_HYPOTHESIS") == "thorough" else 40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: Layout -> (header or None, separator, a valid line's fields).
LAYOUTS: dict[str, tuple[str | None, str, Callable[[int], list[str]]]] = {
    "master": (
        " customer_id  date number_of_cds  dollar_value",
        "  ",
        lambda i: [f"{i % 7 + 1:05d}", f"1997{i % 12 + 1:02d}{i % 28 + 1:02d}", "2", "29.33"],
    ),
    "master_bare": (None, " ", lambda i: [f"{i % 7 + 1:05d}", f"1997{i % 12 + 1:02d}01", "1", "11.77"]),
    "sample": (None, "  ", lambda i: [f"{i % 5 + 1:05d}", f"{i % 5 + 1:04d}", "19970101", "1", "9.99"]),
    "elog": ("masterid,sampleid,date,cds,sales", ",", lambda i: [str(i % 5 + 4), "1", "19970102", "1", "5.00"]),
    "clvtools": ("Id,Date,CDs,Price", ",", lambda i: [str(i % 5 + 1), "1997-01-18", "2", "20.759999999999998"]),
}
#: Fields that have broken readers, or could.
ODD_FIELDS = [
    "", "x", "0", "-0", "00000", "1,50", '"5.00"', '"', "1e3", "-5.5", "9" * 21, "9" * 40, "1" + "0" * 19,
    "0.000000001", "1.23456", "20.759999999999998", "NaN", "inf", "19970230", "00000000", "99991231", "00010101",
    "1997-02-29", "1997-13-01", "2.5", "+3", "\ufffd", "\ufeff", "\x00", "\x1c", "\u2028", "é", "a b", "4 1 1",
]  # fmt: skip
FIELD = st.one_of(
    st.sampled_from(ODD_FIELDS),
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\n\x1f"), max_size=8),
)
BLANKS = ["", " ", "\t", "\r", "\u3000", "\ufeff", " \ufeff "]
TZ = st.sampled_from(["UTC", "America/New_York", "Pacific/Kiritimati", "Asia/Kathmandu", "Pacific/Pago_Pago"])
HOST = _host.build_host(entry_points=False, plugins=[cdnow])


def _blank(line: str) -> bool:
    return not line.lstrip(WHITE + "\ufeff").rstrip(WHITE)


def data_rows(raw: bytes) -> int:
    """The records of a log, counted without the source: non-blank lines after the header.

    Lines end at ``"\\n"``; bad bytes are replaced; the header is the first non-blank line when
    it holds no digit.
    """
    lines = [line for line in raw.decode("utf-8", errors="replace").split("\n") if not _blank(line)]
    header = bool(lines) and not any(ch.isdigit() for ch in lines[0])
    return len(lines) - header


def read_checked(paths: Sequence[Path], options: dict[str, str]) -> LoadReport | None:
    """The report of a read through the host, ``None`` when it refused the file (see ``assert_read_or_refused``)."""
    ds = assert_read_or_refused(lambda: HOST.read(HOST.sources["cdnow"], list(paths), options))
    return None if ds is None else ds.report


@st.composite
def logs(draw: st.DrawFn) -> tuple[bytes, int]:
    """A log whose first record is valid: its bytes and its data rows (counted from what was written)."""
    header, separator, valid = LAYOUTS[draw(st.sampled_from(sorted(LAYOUTS)))]
    lines: list[str] = [] if header is None else [header]
    rows = 0
    for i in range(draw(st.integers(1, 15))):
        fields = valid(i)
        if i:  # the first record stays valid: it tells the layout
            for position, field in draw(st.lists(st.tuples(st.integers(0, 9), FIELD), max_size=3)):
                fields[position % len(fields)] = field
            if draw(st.integers(0, 9)) == 0:
                fields = fields[: draw(st.integers(0, len(fields)))] if draw(st.booleans()) else [*fields, "extra"]
        line = draw(st.sampled_from(["", " "])) + separator.join(fields)
        rows += not _blank(line)
        lines.append(line)
    for position, blank in draw(st.lists(st.tuples(st.integers(1, 20), st.sampled_from(BLANKS)), max_size=4)):
        lines.insert(min(position, len(lines)), blank)
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    text = draw(st.sampled_from(["", "\ufeff"])) + eol.join(lines) + draw(st.sampled_from(["", eol, eol * 3]))
    return text.encode(), rows


def _write(directory: str, raw: bytes) -> Path:
    path = Path(directory) / "log.txt"
    path.write_bytes(raw)
    return path


@_SETTINGS
@given(log=logs(), tz=TZ, currency=st.sampled_from(["USD", "eur"]))
def test_messy_logs_are_accounted_for_line_by_line(log: tuple[bytes, int], tz: str, currency: str) -> None:
    raw, rows = log
    with tempfile.TemporaryDirectory() as directory:
        report = read_checked([_write(directory, raw)], {"tz": tz, "currency": currency})
    assert report is not None, "a log must read: bad lines are rejects, not errors"
    assert report.rows_read == rows == data_rows(raw)


@_SETTINGS
@given(data=st.data(), log=logs())
def test_damaged_logs_raise_retainlib_errors_or_balance(data: st.DataObject, log: tuple[bytes, int]) -> None:
    broken = data.draw(damaged(log[0]))
    with tempfile.TemporaryDirectory() as directory:
        report = read_checked([_write(directory, broken)], {})
    if report is not None:
        assert report.rows_read == data_rows(broken)
