"""Damaged exports: a retainlib error or every record accounted for, never a crash and never a silent drop.

Hypothesis builds plausible exports for each source (JSON lines of events
whose fields vary in type), damages them (bad timestamps and numbers, missing
or renamed fields, values of the wrong kind, duplicated and blank lines,
garbage lines, a BOM, stray control bytes, truncation, flipped bytes), packs
them (plain, gzip, possibly cut, or an Amplitude zip archive, possibly cut)
and reads them with the readers themselves (not through the host, which
would turn a crash into a ``SourceError``).  The read either raises a
:class:`~retainlib.errors.RetainlibError` or balances: rows read = loaded +
rejected, and for plain JSON lines rows read is exactly the number of
non-blank lines.
"""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retainlib.errors import RetainlibError
from retainlib.plugins import ReadResult
from retainlib_analytics import read_amplitude, read_ga4, read_mixpanel

FUZZ = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture], deadline=None)

_ODD: list[object] = [
    None,
    "",
    " ",
    "abc",
    -1,
    0,
    1.5,
    "1e400",
    10**30,
    "NaN",
    True,
    {"a": 1},
    [1, 2],
    "2024-13-45 25:61:00",
    "\ufffd",
]


def _ga4_event(draw: st.DrawFn) -> dict[str, Any]:
    seconds = draw(st.integers(1_704_067_200, 1_735_689_599))
    stamp: object = draw(st.sampled_from([str(seconds * 10**6), seconds * 10**6, str(seconds * 1000)]))
    params: list[dict[str, Any]] = [
        {"key": k, "value": {"string_value": None, "int_value": None, "float_value": None, "double_value": None}}
        for k in draw(st.lists(st.sampled_from(["currency", "value", "ga_session_id"]), max_size=3, unique=True))
    ]
    for p in params:
        slot = draw(st.sampled_from(["string_value", "int_value", "double_value"]))
        p["value"][slot] = draw(st.sampled_from(["EUR", "5", "9.5", "usd"]))
    name = draw(st.sampled_from(["page_view", "purchase", "session_start"]))
    event: dict[str, Any] = {
        "event_date": draw(st.sampled_from(["20240301", "20241231", "2024-03-01", ""])),
        "event_timestamp": stamp,
        "event_name": name,
        "event_params": params,
        "event_bundle_sequence_id": str(draw(st.integers(1, 3))),
        "user_id": draw(st.sampled_from([None, "u1", "u2"])),
        "user_pseudo_id": draw(st.sampled_from([None, "p1.1", "p2.2"])),
    }
    if name == "purchase":
        event["ecommerce"] = {
            "transaction_id": draw(st.sampled_from(["T1", "T2", "(not set)", None])),
            "purchase_revenue": draw(st.sampled_from(["31.0", 12.345678, "-1", None, "x"])),
            "purchase_revenue_in_usd": "33.5",
        }
    return event


def _mixpanel_event(draw: st.DrawFn) -> dict[str, Any]:
    seconds = draw(st.integers(1_704_067_200, 1_735_689_599))
    time: object = draw(st.sampled_from([seconds, seconds * 1000, seconds + 0.25, str(seconds)]))
    return {
        "event": draw(st.sampled_from(["Signed up", "Viewed", "$identify"])),
        "properties": {
            "time": time,
            "distinct_id": draw(st.sampled_from(["u1", "u2", 7, "$device:abc"])),
            "$insert_id": draw(st.sampled_from([None, "i1", "i2"])),
            "mp_lib": "web",
        },
    }


def _amplitude_event(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "event_type": draw(st.sampled_from(["view", "session_start", "$identify"])),
        "event_time": draw(
            st.sampled_from(["2024-03-01 10:00:00.123456", "2024-03-01 10:00:00", "2024-03-01T10:00:00Z"])
        ),
        "user_id": draw(st.sampled_from([None, "u1"])),
        "device_id": draw(st.sampled_from([None, "d1", "d2"])),
        "amplitude_id": draw(st.integers(1, 3)),
        "session_id": draw(st.sampled_from([-1, 1709287200000])),
        "uuid": draw(st.sampled_from([None, "U1", "U2", "U3"])),
        "$insert_id": draw(st.sampled_from([None, "I1", "I2"])),
        "event_properties": {"plan": "pro"},
    }


EVENTS: dict[str, Callable[[st.DrawFn], dict[str, Any]]] = {
    "ga4": _ga4_event,
    "mixpanel": _mixpanel_event,
    "amplitude": _amplitude_event,
}
READERS: dict[str, Callable[..., ReadResult]] = {
    "ga4": read_ga4,
    "mixpanel": read_mixpanel,
    "amplitude": read_amplitude,
}
OPTIONS: dict[str, list[dict[str, Any]]] = {
    "ga4": [{}, {"params": "value,currency"}, {"identity": "user_id"}, {"revenue": "usd", "currency": "EUR"}],
    "mixpanel": [{}, {"properties": "mp_lib"}, {"time_unit": "ms"}],
    "amplitude": [{}, {"properties": "plan"}, {"identity": "amplitude_id"}],
}


def _paths(event: dict[str, Any]) -> list[list[str]]:
    out: list[list[str]] = []
    for key, value in event.items():
        out.append([key])
        if isinstance(value, dict):
            out.extend([key, inner] for inner in value)
    return out


@st.composite
def damaged_event(draw: st.DrawFn, source: str) -> str:
    """One event's JSON line, often with one field missing, renamed or of an odd value."""
    event = EVENTS[source](draw)
    how = draw(st.sampled_from(["as is", "as is", "drop", "rename", "odd"]))
    if how != "as is":
        path = draw(st.sampled_from(_paths(event)))
        holder: dict[str, Any] = event
        for key in path[:-1]:
            holder = holder[key]
        if how == "drop":
            del holder[path[-1]]
        elif how == "rename":
            holder[path[-1] + "_x"] = holder.pop(path[-1])
        else:
            holder[path[-1]] = draw(st.sampled_from(_ODD))
    return json.dumps(event)


@st.composite
def export(draw: st.DrawFn, source: str) -> bytes:
    """JSON lines of events, with duplicated, blank and garbage lines, a BOM, control bytes or a cut."""
    lines = draw(st.lists(damaged_event(source), min_size=0, max_size=8))
    for _ in range(draw(st.integers(0, 3))):
        extra = draw(st.sampled_from(["dup", "blank", "garbage", "array", "null", "cr"]) if lines else st.just("blank"))
        at = draw(st.integers(0, len(lines)))
        if extra == "dup" and lines:
            lines.insert(at, draw(st.sampled_from(lines)))
        elif extra == "blank":
            lines.insert(at, draw(st.sampled_from(["", "   ", "\t"])))
        elif extra == "garbage":
            lines.insert(at, draw(st.sampled_from(["{", "not json", '{"a": }', "\x1f{}", "\x00"])))
        elif extra == "array":
            lines.insert(at, "[1, 2]")
        elif extra == "null":
            lines.insert(at, "null")
        else:
            lines.insert(at, lines[at - 1] + "\r" if at else "{}\r")
    data = "\n".join(lines).encode() + draw(st.sampled_from([b"\n", b""]))
    how = draw(st.sampled_from(["as is", "as is", "bom", "truncate", "flip", "latin"]))
    if how == "bom":
        data = b"\xef\xbb\xbf" + data
    elif how == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif how == "flip" and data:
        buf = bytearray(data)
        for _ in range(draw(st.integers(1, 3))):
            buf[draw(st.integers(0, len(buf) - 1))] = draw(st.integers(0, 255))
        data = bytes(buf)
    elif how == "latin":
        data = data.replace(b"u1", "é1".encode("latin-1"))
    return data


#: Unicode's White_Space characters (what a blank line holds; Python's str.isspace also takes \x1c-\x1f).
WHITE_SPACE = frozenset("\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | frozenset(
    chr(c) for c in range(0x2000, 0x200B)
)


def _records(data: bytes) -> int:
    """Non-blank lines, as the sources count them (a line ends at \\n; text after a \\x1f byte is not read)."""
    count = 0
    for line in data.split(b"\n"):
        text = line.split(b"\x1f")[0].decode("utf-8", errors="replace").removeprefix("\ufeff")
        count += any(ch not in WHITE_SPACE for ch in text)
    return count


def _read(source: str, paths: list[Path], options: dict[str, Any]) -> ReadResult | None:
    try:
        result = READERS[source](paths, **options)
    except RetainlibError:
        return None
    result.report.check()
    for load in result.report.files:
        table = getattr(result.dataset, load.table)
        assert table is not None
    events = result.dataset.events
    assert events is not None
    assert events.collect().height == sum(f.rows_loaded for f in result.report.files if f.table == "events")
    return result


@FUZZ
@given(data=st.data())
def test_plain_json_lines(tmp_path: Path, data: st.DataObject) -> None:
    source = data.draw(st.sampled_from(sorted(EVENTS)), label="source")
    raw = data.draw(export(source), label="file")
    path = tmp_path / "export.jsonl"
    path.write_bytes(raw)
    result = _read(source, [path], data.draw(st.sampled_from(OPTIONS[source]), label="options"))
    if result is not None:
        events = [f for f in result.report.files if f.table == "events"]
        assert sum(f.rows_read for f in events) == _records(raw)


@FUZZ
@given(data=st.data())
def test_gzipped_and_zipped(tmp_path: Path, data: st.DataObject) -> None:
    source = data.draw(st.sampled_from(sorted(EVENTS)), label="source")
    members = data.draw(st.lists(export(source), min_size=1, max_size=3), label="members")
    packed = [gzip.compress(m) for m in members]
    if data.draw(st.booleans(), label="cut a member"):
        i = data.draw(st.integers(0, len(packed) - 1))
        packed[i] = packed[i][: data.draw(st.integers(0, len(packed[i])))]
    if source == "amplitude" and data.draw(st.booleans(), label="zip"):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for n, member in enumerate(packed):
                z.writestr(f"1/1_2024-03-01_{n}#0.json.gz", member)
        raw = buffer.getvalue()
        if data.draw(st.booleans(), label="cut the archive"):
            raw = raw[: data.draw(st.integers(0, len(raw)))]
        paths = [tmp_path / "export.zip"]
        paths[0].write_bytes(raw)
    else:
        paths = [tmp_path / f"part{n}.json.gz" for n in range(len(packed))]
        for path, member in zip(paths, packed, strict=True):
            path.write_bytes(member)
    result = _read(source, paths, data.draw(st.sampled_from(OPTIONS[source]), label="options"))
    if result is not None:
        assert result.report.rows_read >= result.report.rows_loaded


@FUZZ
@given(data=st.data())
def test_ga4_parquet(tmp_path: Path, data: st.DataObject) -> None:
    raw = data.draw(export("ga4"), label="file")
    lines = [line for line in raw.decode("utf-8", errors="replace").splitlines() if line.strip()]
    objects = []
    for line in lines:
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            objects.append({k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in value.items()})
    path = tmp_path / "events.parquet"
    try:
        pl.DataFrame(objects, infer_schema_length=None).write_parquet(path)
    except (pl.exceptions.PolarsError, TypeError, ValueError, OverflowError):
        return
    cut = data.draw(st.booleans(), label="cut")
    if cut:
        whole = path.read_bytes()
        path.write_bytes(whole[: data.draw(st.integers(0, len(whole)))])
    result = _read("ga4", [path], {})
    if result is not None and not cut:
        assert result.report.rows_read == len(objects)
