"""The ``amplitude`` source: Export API zip archives of hourly gzipped JSON lines -> events."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import retainlib as rl
from retainlib.errors import OptionError, SourceError
from retainlib.tables import EVENTS
from retainlib_analytics import detect_amplitude

UTC = dt.UTC
PROJECT = "187520"


def _at(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def _events(ds: rl.Dataset) -> pl.DataFrame:
    """The dataset's events, collected."""
    assert ds.events is not None
    return ds.events.collect()


def _event(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "app": 187520,
        "amplitude_id": 111,
        "user_id": None,
        "device_id": None,
        "event_type": "view",
        "event_time": "2024-03-01 10:00:00.000000",
        "server_upload_time": "2024-03-01 10:00:01.000000",
        "client_event_time": "2024-03-01 10:00:00.000000",
        "session_id": -1,
        "event_properties": {},
        "user_properties": {},
        "uuid": None,
        "$insert_id": None,
        "library": "amplitude-js/8.21.9",
    }
    base.update(fields)
    return base


HOUR_10 = [
    _event(
        user_id="u1",
        device_id="d1",
        event_type="session_start",
        event_time="2024-03-01 10:00:00.123456",
        session_id=1709287200000,
        uuid="U1",
        **{"$insert_id": "I1"},
        event_properties={"plan": "pro"},
    ),
    _event(
        device_id="d2", amplitude_id=222, event_time="2024-03-01 10:05:00.000000", uuid="U2", **{"$insert_id": "I2"}
    ),
    _event(user_id="u1", event_type="$identify", uuid="U5", user_properties={"$set": {"plan": "pro"}}),
    _event(user_id="u1", event_time="01/03/2024 10:00", uuid="U6"),
    _event(uuid="U7"),
]
HOUR_11 = [
    _event(
        user_id="u1",
        device_id="d1",
        event_type="session_start",
        event_time="2024-03-01 10:00:00.123456",
        session_id=1709287200000,
        uuid="U1",
        **{"$insert_id": "I1"},
    ),
    _event(
        device_id="d2", amplitude_id=222, event_time="2024-03-01 10:05:00.000000", uuid="U3", **{"$insert_id": "I2"}
    ),
    _event(user_id="u1", event_time="2024-03-01 11:00:00", uuid="U4", session_id="soon"),
    _event(
        user_id="u3",
        device_id="d3",
        amplitude_id=333,
        event_time="2024-03-01T11:30:00Z",
        uuid="U8",
        session_id=1709292600000,
        event_properties={"plan": "free", "seats": 3},
    ),
]


def _jsonl(events: list[dict[str, Any]]) -> bytes:
    return ("\n".join(json.dumps(e) for e in events) + "\n").encode()


def _archive(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def _export(tmp_path: Path) -> Path:
    return _archive(
        tmp_path / "export.zip",
        {
            f"{PROJECT}/{PROJECT}_2024-03-01_10#0.json.gz": gzip.compress(_jsonl(HOUR_10)),
            f"{PROJECT}/{PROJECT}_2024-03-01_11#0.json.gz": gzip.compress(_jsonl(HOUR_11)),
        },
    )


def test_an_export_archive(read: Callable[..., rl.Dataset], tmp_path: Path) -> None:
    archive = _export(tmp_path)
    ds = read("amplitude", archive, properties="plan")
    expected = pl.DataFrame(
        {
            "customer_id": ["u1", "d2", "u3"],
            "occurred_at": [_at(2024, 3, 1, 10, 0, 0, 123456), _at(2024, 3, 1, 10, 5), _at(2024, 3, 1, 11, 30)],
            "event": ["session_start", "view", "view"],
            "session_id": [1709287200000, None, 1709292600000],  # -1: no session
            "plan": ["pro", None, "free"],
        },
        schema={**EVENTS.schema, "session_id": pl.Int64, "plan": pl.String},
    )
    assert_frame_equal(_events(ds), expected)
    assert ds.report is not None
    first, second = (f"{archive}!{PROJECT}/{PROJECT}_2024-03-01_{h}#0.json.gz" for h in (10, 11))
    assert ds.report.rejects.select("file", "line", "reason").rows() == [
        (first, 3, "event_type: $identify is a property update, not an event"),
        (first, 4, "event_time: not a time such as 2024-03-01 10:00:00.123456 (UTC)"),
        (first, 5, "device_id: neither a user_id nor a device_id"),
        (second, 1, "event: duplicate event (the same uuid as an earlier event)"),
        (second, 2, "event: duplicate event (the same $insert_id as an earlier event)"),
        (second, 3, "session_id: not a whole number"),
    ]
    # one account per archive, its members added up
    assert ds.report.summary().select("file", "read", "loaded", "rejected").rows() == [(str(archive), 9, 3, 6)]


def test_identity_options(read: Callable[..., rl.Dataset], tmp_path: Path) -> None:
    archive = _export(tmp_path)
    merged = _events(read("amplitude", archive, identity="amplitude_id"))["customer_id"].to_list()
    # the event without user_id nor device_id has an amplitude_id: an event of that user
    assert merged == ["111", "222", "111", "333"]
    signed_in = read("amplitude", archive, identity="user_id")
    assert _events(signed_in)["customer_id"].to_list() == ["u1", "u3"]
    with pytest.raises(OptionError):
        read("amplitude", archive, identity="device")


def test_one_member_saved_alone_and_decompressed(read: Callable[..., rl.Dataset], tmp_path: Path) -> None:
    member = tmp_path / f"{PROJECT}_2024-03-01_10#0.json.gz"
    member.write_bytes(gzip.compress(_jsonl(HOUR_10)))
    plain = tmp_path / f"{PROJECT}_2024-03-01_10#0.json"
    plain.write_bytes(_jsonl(HOUR_10))
    assert_frame_equal(_events(read("amplitude", member)), _events(read("amplitude", plain)))
    assert _events(read("amplitude", member)).height == 2


def test_damaged_members_are_read_as_far_as_they_go(read: Callable[..., rl.Dataset], tmp_path: Path) -> None:
    many = [_event(user_id=f"u{i}", uuid=f"V{i}") for i in range(300)]
    packed = gzip.compress(_jsonl(many))
    archive = _archive(
        tmp_path / "cut.zip",
        {
            f"{PROJECT}/a.json.gz": packed[: len(packed) // 2],  # truncated gzip stream
            f"{PROJECT}/b.json.gz": b"not gzip at all",  # a member that is no gzip data: read as text
            f"{PROJECT}/c.json.gz": gzip.compress(_jsonl(HOUR_11[3:])),
        },
    )
    ds = read("amplitude", archive)
    assert ds.report is not None
    rejects = ds.report.rejects
    truncated = rejects.filter(pl.col("column") == "gzip")
    assert truncated.height == 1 and "truncated gzip data" in truncated["reason"].item()
    loaded_from_a = _events(ds).filter(pl.col("customer_id").str.starts_with("u")).height - 1
    assert 0 < loaded_from_a < 300
    assert truncated["line"].item() == loaded_from_a + 1
    assert rejects.filter(pl.col("file").str.ends_with("b.json.gz"))["reason"].to_list() == [
        "json: invalid JSON (Expecting value, column 1)"
    ]
    assert ds.report.rows_read == ds.report.rows_loaded + ds.report.rows_rejected


def test_archives_that_cannot_be_read(read: Callable[..., rl.Dataset], tmp_path: Path) -> None:
    good = _export(tmp_path).read_bytes()
    broken = tmp_path / "broken.zip"
    broken.write_bytes(good[: len(good) // 2])  # no central directory
    with pytest.raises(SourceError, match="not a readable zip archive"):
        read("amplitude", broken)


def test_detection(tmp_path: Path) -> None:
    archive = _export(tmp_path)
    assert detect_amplitude(archive, archive.read_bytes()[:65536]) == 90
    member = tmp_path / "x.json.gz"
    member.write_bytes(gzip.compress(_jsonl(HOUR_10)))
    assert detect_amplitude(member, member.read_bytes()) == 90
    assert rl.read(archive).source == "amplitude"
    with zipfile.ZipFile(tmp_path / "folder.zip", "w") as z:
        z.writestr(zipfile.ZipInfo(f"{PROJECT}/"), b"")
        z.writestr(f"{PROJECT}/{PROJECT}_2024-03-01_10#0.json.gz", gzip.compress(_jsonl(HOUR_10)))
    with_folder = tmp_path / "folder.zip"
    assert detect_amplitude(with_folder, with_folder.read_bytes()[:65536]) == 90
    assert _events(rl.read(with_folder)).height == 2
    other = _archive(tmp_path / "other.zip", {"readme.txt": b"hello"})
    assert detect_amplitude(other, other.read_bytes()) == 0
