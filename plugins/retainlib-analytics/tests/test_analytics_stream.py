"""Streaming the analytics sources (``rl.read_to_parquet``): the same rows, rejects and report as ``rl.read``."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import retainlib as rl
from retainlib import _stream
from retainlib.tables import EVENTS, TIMESTAMP
from retainlib_analytics import _amplitude, _events, _ga4, _plan
from retainlib_analytics._jsonl import LINE, PROBLEM

REJECT_COLUMNS = ["file", "line", "table", "column", "reason"]


def _mixpanel_line(name: str, time: int, user: str, insert: str) -> str:
    return json.dumps({"event": name, "properties": {"time": time, "distinct_id": user, "$insert_id": insert}})


def test_mixpanel_duplicates_across_files_stream(tmp_path: Path, same_as_read: Callable[..., rl.Dataset]) -> None:
    first = tmp_path / "day1.jsonl"
    second = tmp_path / "day2.jsonl"
    first.write_text(
        "\n".join(
            [
                _mixpanel_line("view", 1_709_287_200, "u1", "a"),
                _mixpanel_line("view", 1_709_287_200, "u1", "a"),  # line 2 repeats line 1
                "not json",
                "",
                _mixpanel_line("buy", 1_709_287_260, "u2", "b"),
            ]
        )
        + "\n"
    )
    second.write_text(
        _mixpanel_line("buy", 1_709_287_260, "u2", "b")
        + "\n"
        + _mixpanel_line("view", 1_709_290_000_000, "u3", "c")
        + "\n"
    )
    ds = same_as_read("mixpanel", [first, second], tmp_path / "out")
    assert ds.report is not None
    rejects = ds.report.rejects.sort("file", "line")
    assert rejects.select("file", "line").rows() == [(str(first), 2), (str(first), 3), (str(second), 1)]
    assert rejects["reason"][0].startswith("event: duplicate event")
    assert ds.require("events").collect()["customer_id"].to_list() == ["u1", "u2", "u3"]


def test_keys_checked_in_slices_of_the_hash_space(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, same_as_read: Callable[..., rl.Dataset]
) -> None:
    """With at most 3 keys a pass, the duplicates found are the same (every slice looked at)."""
    monkeypatch.setattr(_stream, "KEYS_PER_PASS", 3)
    path = tmp_path / "export.jsonl"
    lines = [_mixpanel_line("view", 1_709_287_200 + i % 7, f"u{i % 5}", f"i{i % 11}") for i in range(60)]
    path.write_text("\n".join(lines) + "\n")
    ds = same_as_read("mixpanel", [path], tmp_path / "out")
    assert ds.report is not None
    # (name, user, second, insert id) repeats every lcm(7, 5, 11) = 385 lines: all 60 are distinct but for
    # the pairs of lines sharing i % 7, i % 5 and i % 11, which none do below 385
    assert ds.report.rows_rejected == 0
    path.write_text("\n".join(lines + lines[:10]) + "\n")
    ds = same_as_read("mixpanel", [path], tmp_path / "out")
    assert ds.report is not None
    assert ds.report.rows_rejected == 10
    assert ds.report.rejects["line"].to_list() == list(range(61, 71))


def _amplitude_event(n: int, **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_type": "view",
        "event_time": f"2024-03-01 10:{n % 60:02d}:00.000000",
        "user_id": f"u{n % 4}",
        "device_id": f"d{n}",
        "amplitude_id": 100 + n,
        "session_id": -1 if n % 3 == 0 else 1_709_287_200_000,
        "uuid": f"uuid-{n}",
        "$insert_id": f"ins-{n}",
    }
    event.update(fields)
    return event


def _archive(path: Path, members: dict[str, bytes], gzipped: bool = True) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, gzip.compress(data) if gzipped else data)
    return path


def _lines(events: list[dict[str, Any]]) -> bytes:
    return ("\n".join(json.dumps(e) for e in events) + "\n").encode()


@pytest.mark.parametrize("chunk", [1, 1 << 20])
def test_amplitude_members_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int, same_as_read: Callable[..., rl.Dataset]
) -> None:
    """uuid then $insert_id duplicates across members; rejects named by member and line, members read together
    (``chunk`` bytes a pass: every member alone, or all at once)."""
    monkeypatch.setattr(_amplitude, "CHUNK_BYTES", chunk)
    hour10 = [_amplitude_event(n) for n in range(5)]
    hour11 = [
        _amplitude_event(2),  # the same uuid as hour 10's line 3
        _amplitude_event(7, **{"$insert_id": "ins-4"}),  # a new uuid, an old $insert_id
        _amplitude_event(8, event_time="yesterday"),
        _amplitude_event(9, event_type="$identify"),
    ]
    members = {
        "187520/187520_2024-03-01_10#1.json.gz": _lines(hour10),
        "187520/187520_2024-03-01_11#1.json.gz": b"\n" + _lines(hour11) + b"{oops\n",
    }
    path = _archive(tmp_path / "export.zip", members)
    ds = same_as_read("amplitude", [path], tmp_path / "out")
    assert ds.report is not None
    member = f"{path}!187520/187520_2024-03-01_11#1.json.gz"
    found = ds.report.rejects.sort("line").select("file", "line", "column").rows()
    assert found == [
        (member, 2, "event"),
        (member, 3, "event"),
        (member, 4, "event_time"),
        (member, 5, "event_type"),
        (member, 6, "json"),
    ]
    assert ds.require("events").collect().height == 5


@pytest.mark.parametrize("chunk", [1, 1 << 20])
def test_an_archive_input_is_decoded_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    """One streamed read decodes each input once, for all its outputs (loaded rows, rejected ones, keys): the
    outputs' own filters must not reach the archive's IO source, which would then run once per output."""
    monkeypatch.setattr(_amplitude, "CHUNK_BYTES", chunk)
    seen: list[str] = []
    collect = _plan._collect_input

    def counted(part: _events.Part, plans: Any, schema: pl.Schema) -> pl.DataFrame:
        seen.append(part.name)
        return collect(part, plans, schema)

    monkeypatch.setattr(_plan, "_collect_input", counted)
    members = {
        f"187520/187520_2024-03-01_{hour}#1.json.gz": _lines([_amplitude_event(n + hour) for n in range(3)])
        + b"{oops\n"
        for hour in (10, 11, 12)
    }
    path = _archive(tmp_path / "export.zip", members)
    ds = rl.read_to_parquet("amplitude", path, out=tmp_path / "out")
    # a bad line a member; events 10 to 14 read nine times (uuid-11 twice, uuid-12 three times, uuid-13 twice)
    assert ds.report is not None and (ds.report.rows_loaded, ds.report.rows_rejected) == (5, 3 + 4)
    inputs = 3 if chunk == 1 else 1  # every member alone, or all of them in one input
    assert len(seen) == inputs
    assert len(set(seen)) == inputs


def test_ga4_events_and_orders_stream(fixtures: Path, tmp_path: Path, same_as_read: Callable[..., rl.Dataset]) -> None:
    """A GA4 export (the fixture) given twice: every event and purchase of the second copy a duplicate."""
    path = fixtures / "ga4_events_20240304.jsonl"
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(path.read_bytes())
    ds = same_as_read("ga4", [path, copy], tmp_path / "out", currency="EUR")
    assert ds.report is not None
    loads = {(f.file, f.table): f for f in ds.report.files}
    for table in ("events", "orders"):
        first, second = loads[(str(path), table)], loads[(str(copy), table)]
        assert first.rows_loaded > 0
        assert second.rows_loaded == 0  # every row loaded from the first file is a duplicate in its copy
        own = first.rejected.filter(pl.col("reason").str.contains("duplicate")).height  # repeats inside the file
        repeated = second.rejected.filter(pl.col("reason").str.contains("duplicate"))
        assert repeated.height == first.rows_loaded + own


def _param(key: str, text: str | None = None, number: int | None = None) -> dict[str, Any]:
    return {"key": key, "value": {"string_value": text, "int_value": number, "float_value": None, "double_value": None}}


def test_ga4_parquet_streams(tmp_path: Path, same_as_read: Callable[..., rl.Dataset]) -> None:
    """A Parquet export typed as BigQuery types it: a repeated row, a purchase, a row without a customer."""
    us = 1_709_546_400_000_000  # 2024-03-04 10:00 UTC
    page = [_param("page_location", "https://example.com/"), _param("ga_session_id", number=17)]
    rows = [
        ("page_view", us, None, "p1.1", page, None),
        ("page_view", us, None, "p1.1", page, None),  # the same event again: rejected
        ("purchase", us + 1, "u2", "p2.1", [*page, _param("currency", "EUR")], ("T1", 12.5)),
        ("page_view", us + 2, None, None, page, None),  # no user_id nor user_pseudo_id: rejected
        ("purchase", us + 3, "u2", "p2.1", page, ("T1", 3.0)),  # an event; as an order, a repeated transaction
    ]
    frame = pl.DataFrame(
        {
            "event_date": ["20240304"] * len(rows),
            "event_name": [r[0] for r in rows],
            "event_timestamp": [r[1] for r in rows],
            "user_id": [r[2] for r in rows],
            "user_pseudo_id": [r[3] for r in rows],
            "event_params": [r[4] for r in rows],
            "ecommerce": [
                None if r[5] is None else {"transaction_id": r[5][0], "purchase_revenue": r[5][1]} for r in rows
            ],
        }
    )
    path = tmp_path / "events.parquet"
    frame.write_parquet(path)
    ds = same_as_read("ga4", [path], tmp_path / "out", currency="EUR", params="page_location")
    assert ds.report is not None
    assert ds.report.rejects.sort("table", "line").select("table", "line").rows() == [
        ("events", 2),
        ("events", 4),
        ("orders", 5),
    ]
    assert ds.require("orders").collect()["amount"].to_list() == [12.5]


def test_nothing_is_staged_and_the_keys_are_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No temporary folder; the keys written beside the rows for the duplicate check are gone at the end."""
    staging = tmp_path / "tmp"
    staging.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(staging))
    path = tmp_path / "export.jsonl"
    path.write_text(_mixpanel_line("view", 1_709_287_200, "u1", "a") + "\n" * 2)
    rl.read_to_parquet("mixpanel", path, out=tmp_path / "out")
    assert list(staging.iterdir()) == []
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["events", "rejected", "retainlib.json"]


@settings(max_examples=6)  # each example streams two files (about 0.3 s)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["view", "buy", ""]), st.integers(0, 3), st.sampled_from(["u1", "u2"]), st.integers(0, 4)
        ),
        max_size=25,
    ),
    st.integers(0, 25),
)
def test_streaming_equals_reading(
    same_as_read: Callable[..., rl.Dataset], rows: list[tuple[str, int, str, int]], cut: int
) -> None:
    """Any export (empty names rejected, repeats rejected), split in two files anywhere: streamed = read."""
    lines = [_mixpanel_line(n, 1_709_287_200 + t, u, f"i{i}") for n, t, u, i in rows]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        a, b = folder / "a.jsonl", folder / "b.jsonl"
        a.write_text("".join(f"{line}\n" for line in lines[:cut]))
        b.write_text("".join(f"{line}\n" for line in lines[cut:]))
        same_as_read("mixpanel", [a, b], folder / "out")


@contextmanager
def _set(module: Any, name: str, value: int) -> Iterator[None]:
    before = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, before)


@settings(max_examples=6, deadline=None)  # each example streams two files and reads them (about 0.5 s)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["u1", "u2"]), st.integers(0, 5)), max_size=30),
    st.integers(0, 30),
    st.integers(1, 7),
)
def test_files_planned_in_slices_stream_as_they_read(
    same_as_read: Callable[..., rl.Dataset], rows: list[tuple[int, str, int]], cut: int, size: int
) -> None:
    """Mixpanel files cut in slices of ``size`` rows (several plans a file): repeats within a slice, across
    slices and across files rejected as ``rl.read`` rejects them; one load per file."""
    lines = [_mixpanel_line("view", 1_709_287_200 + t, u, f"i{i}") for t, u, i in rows]
    with tempfile.TemporaryDirectory() as tmp, _set(_plan, "SLICE_ROWS", size):
        folder = Path(tmp)
        a, b = folder / "a.jsonl", folder / "b.jsonl"
        a.write_text("".join(f"{line}\n" for line in lines[:cut]) + "{broken\n")
        b.write_text("".join(f"{line}\n" for line in lines[cut:]))
        ds = same_as_read("mixpanel", [a, b], folder / "out")
        assert ds.report is not None
        assert [f.file for f in ds.report.files] == [str(a), str(b)]


@settings(max_examples=5, deadline=None)  # each example streams and reads an archive (about 0.5 s)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=12), st.integers(1, 4))
def test_archives_planned_in_groups_of_members_stream_as_they_read(
    same_as_read: Callable[..., rl.Dataset], uuids: list[int], members: int
) -> None:
    """An Amplitude archive read in groups of one member (several plans an archive): a uuid repeated in
    another group is rejected, named by its member and line."""
    events = [_amplitude_event(n, uuid=f"uuid-{u}") for n, u in enumerate(uuids)]
    size = -(-len(events) // members)
    with tempfile.TemporaryDirectory() as tmp, _set(_amplitude, "GROUP_BYTES", 1):
        folder = Path(tmp)
        chunks = {f"p/p_2024-03-01_{h}#1.json.gz": _lines(events[h * size : (h + 1) * size]) for h in range(members)}
        path = _archive(folder / "export.zip", {k: v for k, v in chunks.items() if v != b"\n"})
        same_as_read("amplitude", [path], folder / "out")


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["view", " ", None]), st.sampled_from([None, "json: invalid"])), max_size=12))
def test_conforming_a_part_without_unreadable_records_takes_no_copy_and_gives_the_same(
    rows: list[tuple[str | None, str | None]],
) -> None:
    """The fast path of ``conform_part`` (no unreadable record: the rows are not filtered) gives what the
    general one (filtering) gives."""
    decoded = pl.DataFrame(
        {
            LINE: list(range(1, len(rows) + 1)),
            PROBLEM: [p for _, p in rows],
            "customer_id": ["c1"] * len(rows),
            "occurred_at": [dt.datetime(2024, 3, 1, tzinfo=dt.UTC)] * len(rows),
            "event": [e for e, _ in rows],
        },
        schema_overrides={LINE: pl.Int64, PROBLEM: pl.String, "event": pl.String, "occurred_at": TIMESTAMP},
    )
    part = _events.Part(name="x.jsonl", file="x.jsonl", records=decoded.lazy())
    columns = EVENTS.schema.names()
    fast = _events.conform_part(part, decoded, EVENTS, columns=columns)
    with _set(_events, "FAST_SPLIT", 0):
        general = _events.conform_part(part, decoded, EVENTS, columns=columns)
    assert_frame_equal(fast.loaded, general.loaded)
    assert_frame_equal(fast.rejected, general.rejected)
    assert fast.read == general.read == fast.loaded.height + fast.rejected.height


@settings(max_examples=6, deadline=None)  # each example reads two files four times (about 1 s)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["page_view", "purchase"]),
            st.integers(0, 1),
            st.sampled_from(["p1", "p2"]),
            st.sampled_from(["/a", "/b", None]),
            st.sampled_from([None, 3, 4]),
        ),
        min_size=1,
        max_size=14,
    ),
    st.integers(0, 14),
)
def test_the_ga4_key_digest_finds_the_duplicates_its_fields_find(
    same_as_read: Callable[..., rl.Dataset], rows: list[tuple[str, int, str, str | None, int | None]], cut: int
) -> None:
    """GA4 events compared through their key's 128-bit digest (the default) or through the key's fields: the
    same events and orders loaded, the same rows rejected, in memory and streamed, within and across files."""
    us = 1_709_546_400_000_000
    frame = pl.DataFrame(
        {
            "event_date": ["20240304"] * len(rows),
            "event_name": [r[0] for r in rows],
            "event_timestamp": [us + r[1] for r in rows],
            "user_pseudo_id": [r[2] for r in rows],
            "event_params": [
                [_param("page_location", r[3]), _param("ga_session_id", number=r[4]), _param("currency", "EUR")]
                for r in rows
            ],
            "ecommerce": [{"transaction_id": f"T{r[1]}", "purchase_revenue": 2.5} for r in rows],
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        a, b = folder / "a.parquet", folder / "b.parquet"
        frame.slice(0, cut).write_parquet(a)
        frame.slice(cut).write_parquet(b)
        digest = same_as_read("ga4", [a, b], folder / "digest")
        eager = rl.read("ga4", a, b)
        with _set(_ga4, "DIGEST", 0):
            fields = same_as_read("ga4", [a, b], folder / "fields")
            plain = rl.read("ga4", a, b)
        for table in plain.tables:
            assert_frame_equal(eager.require(table).collect(), plain.require(table).collect())  # type: ignore[arg-type]
            assert_frame_equal(digest.require(table).collect(), fields.require(table).collect())  # type: ignore[arg-type]
        assert eager.report is not None and plain.report is not None
        assert_frame_equal(eager.report.rejects, plain.report.rejects)
