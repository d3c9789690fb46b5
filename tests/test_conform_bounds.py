"""Parquet statistics as bounds: the footer is read right, and the checks they spare change no outcome.

A Parquet file's footer bounds each text column (lowest and highest value over
every row group).  The id checks skip the tests of the first byte that no id
between the bounds can fail (``_conform._odd_id``).  Random files read with the
bounds and without them must give the same dataset and the same report.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import retainlib as rl
from retainlib._builtin import _parquet_stats, files


def test_the_bounds_are_the_lowest_and_highest_value_over_every_row_group(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    frame = pl.DataFrame(
        {
            "ids": ["o5", "o10", None, "b 7", "é", "o2"],  # "é" is two bytes from 0xC3: the highest
            "blank": ["x", None, None, None, "", "y"],  # row group 2 holds no value: no bound
            "n": [1, 2, 3, 4, 5, 6],
        }
    )
    frame.write_parquet(path, row_group_size=2)
    assert pl.read_parquet_metadata(path) is not None
    bounds = _parquet_stats.text_bounds(path, {"ids", "blank", "absent"})
    assert bounds == {"ids": (b"b 7", "é".encode())}


def test_a_file_that_is_no_parquet_has_no_bounds(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    path.write_bytes(b"PAR1 not really PAR1")
    assert _parquet_stats.text_bounds(path, {"a"}) == {}
    pl.DataFrame({"a": ["x"]}).write_parquet(path)
    whole = path.read_bytes()
    path.write_bytes(whole[:-30] + whole[-8:])  # the footer cut short, its length and mark kept
    assert _parquet_stats.text_bounds(path, {"a"}) == {}
    assert _parquet_stats.text_bounds(tmp_path / "absent.parquet", {"a"}) == {}


ids = st.one_of(
    st.sampled_from(["o1", "o10", "c7", "17850", "17850.0", "+3.", "-0", " o1", "o1 ", "\to2", "é", "oé", "~", "\x7f"]),
    st.text(alphabet="o9:+-.0 !é\x7f~", max_size=4),
    st.none(),
)


@given(
    st.lists(st.tuples(ids, ids), min_size=1, max_size=12),
    st.sampled_from([1, 3, 100]),
)
def test_ids_read_with_the_bounds_as_without(rows: list[tuple[str | None, str | None]], group: int) -> None:
    frame = pl.DataFrame(
        {
            "order_id": [o for o, _ in rows],
            "customer_id": [c for _, c in rows],
            "ordered_at": ["2024-03-01T10:00:00Z"] * len(rows),
            "amount": ["1.00"] * len(rows),
            "currency": ["EUR"] * len(rows),
        },
        schema=dict.fromkeys(["order_id", "customer_id", "ordered_at", "amount", "currency"], pl.String),
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "orders.parquet"
        frame.write_parquet(path, row_group_size=group)
        with_bounds = rl.read("parquet", path)
        real = files._text_bounds
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(files, "_text_bounds", lambda p, f: {})
            without = rl.read("parquet", path)
        assert real is files._text_bounds
    a, b = with_bounds.require("orders").collect(), without.require("orders").collect()
    assert a.equals(b)
    assert with_bounds.report is not None and without.report is not None
    assert with_bounds.report.rejects.equals(without.report.rejects)
    assert with_bounds.report.rows_read == with_bounds.report.rows_loaded + with_bounds.report.rows_rejected
    assert with_bounds.report.rows_read == len(rows)


def test_plain_ids_take_the_short_test_and_padded_ones_are_still_cleaned(tmp_path: Path) -> None:
    path = tmp_path / "orders.parquet"
    pl.DataFrame(
        {
            "order_id": ["o1", "o2 ", "o3"],  # the bounds allow every first byte: only the last is tested
            "customer_id": ["c1", "c1", "c2"],
            "ordered_at": ["2024-03-01T10:00:00Z"] * 3,
            "amount": ["1.00", "2.00", "3.00"],
            "currency": ["EUR"] * 3,
        }
    ).write_parquet(path)
    assert files._text_bounds(path, pl.scan_parquet(path))["order_id"] == (b"o1", b"o3")
    read = rl.read("parquet", path)
    assert read.require("orders").collect()["order_id"].to_list() == ["o1", "o2", "o3"]


def test_bounds_cut_short_by_the_writer_still_bound_every_value(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    values = ["a" * 5000 + "z", "b" * 3000 + "c", "b" * 3000]
    pl.DataFrame({"a": values}).write_parquet(path)
    low, high = _parquet_stats.text_bounds(path, {"a"})["a"]
    assert all(low <= v.encode() <= high for v in values)


@given(st.binary(max_size=200), st.booleans())
def test_any_footer_gives_bounds_or_none_without_failing(footer: bytes, nested: bool) -> None:
    if nested:  # structs nested deeper than any reader goes
        footer = b"\x1c" * 5000 + footer
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "t.parquet"
        path.write_bytes(b"PAR1" + footer + len(footer).to_bytes(4, "little") + b"PAR1")
        bounds = _parquet_stats.text_bounds(path, {"a"})
    assert set(bounds) <= {"a"}
    assert all(isinstance(low, bytes) and isinstance(high, bytes) for low, high in bounds.values())
