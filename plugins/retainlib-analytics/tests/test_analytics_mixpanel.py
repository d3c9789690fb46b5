"""The ``mixpanel`` source: raw event export JSON lines -> events."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import retainlib as rl
from retainlib.errors import OptionError, SourceError
from retainlib.tables import EVENTS
from retainlib_analytics import _mixpanel

FIXTURE = "mixpanel_export.jsonl"
UTC = dt.UTC


def _at(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def _events(ds: rl.Dataset) -> pl.DataFrame:
    """The dataset's events, collected."""
    assert ds.events is not None
    return ds.events.collect()


def test_the_fixture_loads_every_quirk(read: Callable[..., rl.Dataset], fixtures: Path) -> None:
    ds = read("mixpanel", fixtures / FIXTURE, properties="mp_lib")
    expected = pl.DataFrame(
        {
            "customer_id": ["u1", "u1", "42", "u2", "u2"],
            "occurred_at": [
                _at(2024, 3, 4, 9),  # 1709542800 seconds
                _at(2024, 3, 5, 9, 0, 0, 123000),  # 1709629200123: milliseconds, by magnitude
                _at(2024, 3, 5, 9, 0, 0, 500000),  # 1709629200.5 seconds
                _at(2024, 3, 6, 9),  # "1709715600", a string
                _at(2024, 3, 6, 9),  # the same event without $insert_id: not a duplicate
            ],
            "event": ["Signed up", "Viewed report", "Viewed report", "Viewed report", "Viewed report"],
            "mp_lib": ["web", "web", "android", None, None],
        },
        schema={**EVENTS.schema, "mp_lib": pl.String},
    )
    assert_frame_equal(_events(ds), expected)
    assert ds.report is not None
    rejects = ds.report.rejects.select("line", "column", "reason").rows()
    assert rejects == [
        (4, "event", "event: duplicate event (the same event, customer, second and $insert_id as an earlier one)"),
        # the same second in seconds as line 2 in milliseconds, with its $insert_id: one event
        (5, "event", "event: duplicate event (the same event, customer, second and $insert_id as an earlier one)"),
        (8, "distinct_id", "distinct_id: missing"),
        (9, "time", "time: not a number of seconds (or milliseconds) since 1970"),
        (10, "event", "event: missing"),
        (11, "time", "time: out of range (after 1970-01-01, before the year 10000)"),
        (12, "time", "time: missing"),
        (13, "properties.distinct_id", "properties.distinct_id: an object where a value was expected"),
        (14, "distinct_id", "distinct_id: missing; time: missing"),
        (16, "json", "json: invalid JSON (Expecting property name enclosed in double quotes, column 2)"),
    ]
    assert ds.report.summary().select("read", "loaded", "rejected").row(0) == (15, 5, 10)


def test_time_unit_option(read: Callable[..., rl.Dataset], tmp_path: Path) -> None:
    path = tmp_path / "export.jsonl"
    path.write_text('{"event": "a", "properties": {"time": 1709542800, "distinct_id": "u"}}\n')
    assert _events(read("mixpanel", path, time_unit="s"))["occurred_at"].item() == _at(2024, 3, 4, 9)
    as_ms = _events(read("mixpanel", path, time_unit="ms"))["occurred_at"].item()
    assert as_ms == _at(1970, 1, 20, 18, 52, 22, 800000)
    with pytest.raises(OptionError) as caught:
        read("mixpanel", path, time_unit="us")
    assert caught.value.option == "time_unit"


@given(st.integers(1, 10**11 - 1), st.integers(10**11, 253402300799999))
def test_seconds_and_milliseconds_are_told_apart_by_magnitude(seconds: int, millis: int) -> None:
    frame = pl.DataFrame({"t": [str(seconds), str(millis)]})
    _, micros = _mixpanel.micros(pl.col("t"), "auto")
    assert frame.select(micros).to_series().to_list() == [seconds * 10**6, millis * 10**3]


def test_gzipped_export_and_empty_export(read: Callable[..., rl.Dataset], fixtures: Path, tmp_path: Path) -> None:
    text = (fixtures / FIXTURE).read_bytes()
    (tmp_path / "export.jsonl.gz").write_bytes(gzip.compress(text))
    plain, zipped = read("mixpanel", fixtures / FIXTURE), read("mixpanel", tmp_path / "export.jsonl.gz")
    assert_frame_equal(_events(plain), _events(zipped))
    # a day without events is an empty export: nothing read, nothing wrong
    (tmp_path / "empty.jsonl").write_bytes(b"")
    empty = read("mixpanel", tmp_path / "empty.jsonl")
    assert _events(empty).height == 0
    assert empty.report is not None and empty.report.rows_read == 0


def test_truncated_gzip_is_read_as_far_as_it_goes(read: Callable[..., rl.Dataset], tmp_path: Path) -> None:
    lines = [json.dumps({"event": "e", "properties": {"time": 1709542800 + i, "distinct_id": "u"}}) for i in range(200)]
    packed = gzip.compress(("\n".join(lines) + "\n").encode())
    (tmp_path / "cut.jsonl.gz").write_bytes(packed[: len(packed) * 2 // 3])
    ds = read("mixpanel", tmp_path / "cut.jsonl.gz")
    assert ds.report is not None
    loaded = _events(ds).height
    assert 0 < loaded < 200
    assert ds.report.rows_rejected == 1
    damage = ds.report.rejects.row(0, named=True)
    assert damage["line"] == loaded + 1 and damage["column"] == "gzip"
    assert "truncated gzip data" in damage["reason"]


def test_files_that_are_not_exports(read: Callable[..., rl.Dataset], tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("customer_id,occurred_at,event\nc1,2024-01-01T00:00:00Z,x\n")
    with pytest.raises(SourceError, match="no line of its first"):
        read("mixpanel", tmp_path / "a.csv")
    (tmp_path / "b.jsonl").write_bytes('{"event": "a"}\n'.encode("utf-16"))
    with pytest.raises(SourceError, match="UTF-16"):
        read("mixpanel", tmp_path / "b.jsonl")


def test_several_files_in_order(read: Callable[..., rl.Dataset], tmp_path: Path) -> None:
    line = {"event": "e", "properties": {"time": 1709542800, "distinct_id": "u", "$insert_id": "x"}}
    (tmp_path / "day1.jsonl").write_text(json.dumps(line) + "\n")
    (tmp_path / "day2.jsonl").write_text(json.dumps(line) + "\n")
    ds = read("mixpanel", tmp_path / "day1.jsonl", tmp_path / "day2.jsonl")
    assert ds.report is not None
    assert ds.report.summary().select("read", "loaded", "rejected").rows() == [(1, 1, 0), (1, 0, 1)]
    assert ds.report.rejects["file"].to_list() == [str(tmp_path / "day2.jsonl")]
