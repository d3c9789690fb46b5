"""The quick read of CDNOW logs (issue 14): never looser than the full checks, validated once.

Every line is read the quick way (one pattern per layout) and only the suspect ones go through the
full checks.  These tests hold it to that: a line that is not suspect has no reason and the values
the full checks would give it; the numbering of a customer's lines of a day, computed only where
keys repeat, is the numbering over every line; ``Dataset`` does not check the tables a second time.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import retainlib as rl
import retainlib_cdnow as cdnow
from retainlib import _conform

#: 40 examples, as the project's "fast" profile (no conftest loads it for this folder).
_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Layout -> (header line or None, separator, a valid line's fields).
LAYOUTS = {
    "master": (None, "  ", ["00001", "19970101", "2", "29.33"]),
    "sample": (None, " ", ["00004", "0001", "19970118", "1", "9.99"]),
    "elog": ("masterid,sampleid,date,cds,sales", ",", ["4", "1", "19970102", "1", "5.00"]),
    "clvtools": ("Id,Date,CDs,Price", ",", ["1", "1997-01-18", "2", "20.76"]),
}
#: Odd values of each field (by position in the valid line of the master layout: customer, date, cds, dollars),
#: then values odd anywhere.
ODD = [
    ["0", "00000", "12", "-1", "+3", "1.0", "x", "0000A", '"7"', "9" * 30],
    ["19970230", "19970101", "1997-01-01", "1997-02-29", "00010101", "1997011", "199701011", "1997-1-01", '"19970101"'],
    ["0", "-0", "+3", "-2", "1.0", "9" * 20, '"2"', "x"],
    [
        "1.23456", "0.00001", "12.345678", "20.759999999999998", "0.0001", "-5.5", ".5", "5.", "+1.00", "1e3", "1,50",
        "9" * 21, "1" + "0" * 19, "99999999999999999999.9999", '"5.00"', "NaN",
    ],
]  # fmt: skip
ANYWHERE = ["", "a b", "\t7", "7\t", "\ufeff1", "é", "1 2", "\u00a07", "7\u00a0", "7\r"]


@st.composite
def logs(draw: st.DrawFn) -> bytes:
    """A log of one layout whose first record is valid (it tells the layout), the others messy."""
    header, separator, valid = LAYOUTS[draw(st.sampled_from(sorted(LAYOUTS)))]
    lines = [] if header is None else [header]
    lines.append(" " + separator.join(valid))
    for _ in range(draw(st.integers(0, 12))):
        fields = list(valid)
        if draw(st.booleans()):
            position = draw(st.integers(0, len(fields) - 1))
            role = position - (len(fields) - len(ODD))  # the sample id (5 fields) takes the customer's odd values
            fields[position] = draw(st.sampled_from(ODD[max(role, 0)] + ANYWHERE))
        if draw(st.integers(0, 7)) == 0:
            fields = fields[:-1] if draw(st.booleans()) else [*fields, "1"]
        lines.append(
            draw(st.sampled_from(["", " ", "\t"])) + draw(st.sampled_from([separator, separator + " "])).join(fields)
        )
        if draw(st.integers(0, 5)) == 0:
            lines.append(draw(st.sampled_from(["", "  ", "\t"])))
    return "\r\n".join(lines).encode()


@_SETTINGS
@given(log=logs(), tz=st.sampled_from(["UTC", "America/Sao_Paulo", "Asia/Kathmandu"]))
def test_a_line_that_is_not_suspect_passes_the_full_checks_with_the_same_values(log: bytes, tz: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "log.txt"
        path.write_bytes(log)
        layout = cdnow._layout_of(path)
        lines = cdnow._lines(path, layout).collect()
        quick = cdnow._quick(cdnow._lines(path, layout), layout, tz).collect()
    full = cdnow._full(lines, layout, tz)  # every line, suspect or not
    sure = ~quick.get_column(cdnow._SUSPECT)
    checked = full.filter(sure)
    assert checked.get_column(cdnow._REASON).null_count() == checked.height
    assert not checked.get_column(cdnow._BLANK).any()
    for column in cdnow._value_columns(layout):
        assert checked.get_column(column).equals(quick.filter(sure).get_column(column)), column


@pytest.mark.parametrize(
    ("line", "suspect"),
    [
        (b" 00001 19970101  2   29.33", False),
        (b"1 1997-01-01 2 29.3300", False),
        (b" 00001 19970101  2   -5.5", False),  # a negative amount is an amount here
        (b" 00001 19970101  2   1.23456", True),  # more places than money holds: the full checks say why
        (b" 00001 19970101  2   20.759999999999998", True),  # float noise: the full checks round it
        (b" 00001 19970101  2   100000000000000000000", True),  # out of range
        (b" 00001 19970230  2   29.33", True),  # no such day
        (b" 00001 19970101  +2   29.33", False),
        (b" 00001 19970101  2.0   29.33", True),
        (b" 00001\t19970101  2   29.33", True),  # a tab: split by the full checks
        (b" 00001 19970101  2", True),  # a field short
        (b" 00001 19970101  2   29.33 7", True),  # a field more
        (b"   ", True),  # blank: not a record
    ],
)
def test_which_lines_the_quick_read_leaves_to_the_full_checks(tmp_path: Path, line: bytes, suspect: bool) -> None:
    path = tmp_path / "master.txt"
    path.write_bytes(b" 00009 19970101  1   1.00\r\n" + line + b"\r\n")
    layout = cdnow._layout_of(path)
    quick = cdnow._quick(cdnow._lines(path, layout), layout, "UTC").collect()
    assert quick.get_column(cdnow._SUSPECT).to_list() == [False, suspect]


@_SETTINGS
@given(keys=st.lists(st.tuples(st.sampled_from(["1", "2", "10", None]), st.integers(0, 3) | st.none()), max_size=60))
def test_the_numbering_of_a_customers_lines_of_a_day_is_over_every_line(
    keys: list[tuple[str | None, int | None]],
) -> None:
    rows = pl.DataFrame(
        keys, schema={cdnow._VALUE_CUSTOMER: pl.String, cdnow._DAY: pl.Int64}, orient="row"
    ).with_columns(pl.col(cdnow._DAY).cast(pl.Date))
    everywhere = rows.select(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over(cdnow._VALUE_CUSTOMER, cdnow._DAY))
    assert cdnow._nth(rows).to_list() == everywhere.to_series().to_list()


def test_a_log_is_validated_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    full_check = _conform.raise_problems

    def counted(conformed: _conform.Conformed, *, limit: int = 5) -> None:
        calls.append(conformed.spec.name)
        full_check(conformed, limit=limit)

    monkeypatch.setattr(_conform, "raise_problems", counted)
    first = tmp_path / "master.txt"
    first.write_bytes(b" 00001 19970101  1   11.77\r\n 00001 19970101  2   5.00\r\n 00002 19970230  1   1.00\r\n")
    second = tmp_path / "more.txt"
    second.write_bytes(b" 00003 19970101  1   11.77\r\n")
    ds = rl.read("cdnow", first, second)
    assert calls == []  # every line was checked by the reader, and no order id repeats
    assert ds.require("orders").collect().get_column("order_id").to_list() == [
        "1-19970101-1",
        "1-19970101-2",
        "3-19970101-1",
    ]
    assert ds.report is not None and ds.report.rows_rejected == 1
