"""Files of JSON lines streamed in slices of lines (``rl.read_to_parquet``): the same rows, rejects and report as
``rl.read``, wherever the slices and the pieces a slice is read in are cut.

A streamed read cuts a file into spans of :data:`~retainlib_analytics._plan.SLICE_ROWS` lines found once by
looking for newlines (:func:`~retainlib_analytics._jsonl.spans`), and reads each span on its own, a piece of
about :data:`~retainlib_analytics._jsonl.PIECE_BYTES` at a time, its lines numbered from its first line's
number.  Both sizes are made small here so that every kind of line falls on a boundary.
"""

from __future__ import annotations

import gzip
import itertools
import json
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import retainlib as rl
from retainlib_analytics import _jsonl, _plan
from retainlib_analytics._jsonl import LINE, TEXT, Span

REJECT_COLUMNS = ["file", "line", "table", "column", "reason"]
BOM = b"\xef\xbb\xbf"


@contextmanager
def _sizes(slice_rows: int, piece_bytes: int) -> Iterator[None]:
    """Slices of ``slice_rows`` lines, read ``piece_bytes`` at a time (hypothesis runs examples in one test call,
    so the sizes are set and restored here rather than by ``monkeypatch``)."""
    before = _plan.SLICE_ROWS, _jsonl.PIECE_BYTES
    _plan.SLICE_ROWS, _jsonl.PIECE_BYTES = slice_rows, piece_bytes
    try:
        yield
    finally:
        _plan.SLICE_ROWS, _jsonl.PIECE_BYTES = before


def _record(name: str, second: int, user: str, insert: str) -> bytes:
    properties = {"time": 1_709_287_200 + second, "distinct_id": user, "$insert_id": insert}
    return json.dumps({"event": name, "properties": properties}).encode()


def test_records_at_the_edges_of_slices_keep_their_lines(
    tmp_path: Path, same_as_read: Callable[..., rl.Dataset]
) -> None:
    """Slices of 3 lines: a slice starting with a blank line, one ending with an invalid line, a repeat of a
    record of the slice before, a CRLF line, a last line without a newline: each rejected row named by its line
    in the whole file, as ``rl.read`` names it."""
    lines = [
        _record("view", 0, "u1", "a"),  # 1: first line of slice 1
        _record("view", 1, "u2", "b"),
        b"{broken",  # 3: last line of slice 1
        b"",  # 4: first line of slice 2, blank
        _record("view", 0, "u1", "a") + b"\r",  # 5: a repeat of line 1, CRLF
        _record("", 2, "u3", "c"),  # 6: last line of slice 2, no event name
        b"   ",  # 7: first line of slice 3, blank
        _record("buy", 3, "u3", "d"),  # 8: no newline after it
    ]
    path = tmp_path / "export.jsonl"
    path.write_bytes(b"\n".join(lines))
    with _sizes(3, 16):
        assert _jsonl.spans(path, 3) == [
            Span(0, sum(len(x) + 1 for x in lines[:3]), 1),
            Span(sum(len(x) + 1 for x in lines[:3]), sum(len(x) + 1 for x in lines[:6]), 4),
            Span(sum(len(x) + 1 for x in lines[:6]), path.stat().st_size, 7),
        ]
        ds = same_as_read("mixpanel", [path], tmp_path / "out")
    assert ds.report is not None
    found = ds.report.rejects.sort("line").select("line", "column").rows()
    assert found == [(3, "json"), (5, "event"), (6, "event")]
    assert ds.report.rejects.sort("line")["reason"][1].startswith("event: duplicate event")
    assert ds.require("events").collect()["customer_id"].to_list() == ["u1", "u2", "u3"]


def test_each_slice_reads_its_own_lines_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One read of each span per streamed read, for all its outputs (loaded rows, rejected ones, keys), and the
    spans one after the other: no slice reads the lines before it."""
    seen: list[Span] = []
    pieces = _jsonl._pieces

    def counted(source: Path | bytes, span: Span) -> Iterator[pl.DataFrame]:
        seen.append(span)
        return pieces(source, span)

    monkeypatch.setattr(_jsonl, "_pieces", counted)
    path = tmp_path / "export.jsonl"
    path.write_bytes(b"".join(_record("view", n, f"u{n % 3}", f"i{n % 4}") + b"\n" for n in range(10)) + b"{oops\n")
    with _sizes(4, 1 << 20):
        ds = rl.read_to_parquet("mixpanel", path, out=tmp_path / "out")
    assert ds.report is not None and (ds.report.rows_loaded, ds.report.rows_rejected) == (10, 1)
    assert [s.first for s in seen] == [1, 5, 9]
    assert [s.start for s in seen[1:]] == [s.end for s in seen[:-1]]
    assert seen[-1].end == path.stat().st_size


def _texts(frame: pl.DataFrame) -> list[tuple[int, str]]:
    return list(zip(frame[LINE].to_list(), frame[TEXT].to_list(), strict=True))


#: Lines of every kind the reader meets: records, blank ones, CRLF, a byte-order mark inside the file, bytes that
#: are not UTF-8, a carriage return inside a line.
_PIECES = [
    *(b"\n", b"\r\n", b" \n", b'{"a":1}\n', b'{"a":1}\r\n'),
    *(BOM + b"{}\n", BOM + b"\n", b"\xff x\n", b"{b\n", b"x\ry\n"),
]


@settings(max_examples=40)
@given(
    st.lists(st.sampled_from(_PIECES), max_size=12),
    st.sampled_from([b"", b"z", b"\r", b"\n"]),
    st.booleans(),
    st.integers(1, 5),
    st.integers(1, 12),
)
def test_the_spans_give_the_lines_of_the_whole_file(
    pieces: list[bytes], tail: bytes, bom: bool, rows: int, piece: int
) -> None:
    """Cut anywhere and read a few bytes at a time, the spans' lines are the whole file's, numbered alike, for
    a file and for bytes (a gzipped file's text); each span holds ``rows`` lines, the last at most."""
    data = (BOM if bom else b"") + b"".join(pieces) + tail
    with tempfile.TemporaryDirectory() as tmp, _sizes(rows, piece):
        path = Path(tmp) / "f.jsonl"
        path.write_bytes(data)
        whole = _jsonl.lines(path).collect()
        for source in (path, data):
            cut = _jsonl.spans(source, rows)
            assert cut[0].start == 0 and cut[-1].end == len(data)
            assert all(a.end == b.start and b.first == a.first + rows for a, b in itertools.pairwise(cut))
            assert all(data[s.start : s.end].count(b"\n") == rows for s in cut[:-1])
            read = pl.concat([_jsonl.lines(source, s).collect() for s in cut])
            assert _texts(read) == _texts(whole)


_LINE = st.one_of(
    st.tuples(
        st.sampled_from(["view", "buy", ""]), st.integers(0, 3), st.sampled_from(["u1", "u2"]), st.integers(0, 3)
    ).map(lambda r: _record(r[0], r[1], r[2], f"i{r[3]}")),
    st.sampled_from([b"", b"  ", b"\r", b"{broken", b"[1, 2]", b'{"event": "view"}']),
)


@settings(max_examples=12, deadline=None)  # each example reads a file in memory and streamed (about 0.4 s)
@given(
    st.lists(_LINE, max_size=16),
    st.sampled_from([b"\n", b"\r\n"]),
    st.booleans(),
    st.booleans(),
    st.integers(1, 4),
    st.integers(1, 40),
)
def test_streaming_in_slices_equals_reading(
    same_as_read: Callable[..., rl.Dataset],
    lines: list[bytes],
    newline: bytes,
    final: bool,
    zipped: bool,
    rows: int,
    piece: int,
) -> None:
    """Any export (records, repeats, blank, invalid and incomplete lines), LF or CRLF, with or without a final
    newline, plain or gzipped, in slices of 1 to 4 lines read 1 to 40 bytes at a time: streamed = read."""
    data = newline.join(lines) + (newline if final and lines else b"")
    with tempfile.TemporaryDirectory() as tmp, _sizes(rows, piece):
        path = Path(tmp) / ("export.jsonl.gz" if zipped else "export.jsonl")
        path.write_bytes(gzip.compress(data) if zipped else data)
        try:
            rl.read("mixpanel", path)
        except rl.errors.SourceError:  # text holding no JSON object: refused as a file, streamed too
            with pytest.raises(rl.errors.SourceError):
                rl.read_to_parquet("mixpanel", path, out=Path(tmp) / "out")
            return
        same_as_read("mixpanel", [path], Path(tmp) / "out")


def test_a_damaged_gzip_tail_is_rejected_once_after_the_last_slice(
    tmp_path: Path, same_as_read: Callable[..., rl.Dataset]
) -> None:
    """A truncated gzip stream read in slices of 2 lines: the damage is one record, after the last line read."""
    data = b"".join(_record("view", n, "u1", f"i{n}") + b"\n" for n in range(5))
    packed = gzip.compress(data * 50)
    path = tmp_path / "export.jsonl.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with _sizes(2, 64):
        ds = same_as_read("mixpanel", [path], tmp_path / "out")
    assert ds.report is not None
    damage = ds.report.rejects.filter(pl.col("column") == "gzip")
    assert damage.height == 1
    assert damage["line"].item() == ds.report.rows_read  # the record after every complete line


def test_ga4_and_amplitude_json_lines_stream_in_slices(
    fixtures: Path, tmp_path: Path, same_as_read: Callable[..., rl.Dataset]
) -> None:
    """The GA4 fixture (events and orders) and a file of Amplitude lines, in slices of 2 lines: streamed = read."""
    with _sizes(2, 300):
        same_as_read("ga4", [fixtures / "ga4_events_20240304.jsonl"], tmp_path / "ga4", currency="EUR")
        events = [
            {"event_type": "view", "event_time": f"2024-03-01 10:0{n}:00.000000", "user_id": f"u{n % 2}"}
            | {"device_id": f"d{n}", "uuid": f"uuid-{n % 4}", "$insert_id": f"ins-{n}"}
            for n in range(7)
        ]
        path = tmp_path / "amplitude.json"
        path.write_text("\n".join(json.dumps(e) for e in events) + "\n\n{oops\n")
        ds = same_as_read("amplitude", [path], tmp_path / "amplitude")
    assert ds.report is not None
    assert ds.report.rejects.sort("line").select("line", "column").rows() == [
        (5, "event"),
        (6, "event"),
        (7, "event"),
        (9, "json"),
    ]
