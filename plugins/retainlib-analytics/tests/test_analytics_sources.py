"""The plugin as installed: its three sources, their options, detection, progress and the command line."""

from __future__ import annotations

import gzip
import importlib.metadata
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import retainlib as rl
import retainlib_analytics
from retainlib import _host
from retainlib.cli import main
from retainlib.plugins import watching_progress
from retainlib_analytics import detect_amplitude, detect_ga4, detect_mixpanel

HOST = _host.build_host(entry_points=False, plugins=[retainlib_analytics])

SOURCES = ("ga4", "mixpanel", "amplitude")


def test_the_entry_point_is_installed() -> None:
    points = importlib.metadata.entry_points(group="retainlib")
    assert "retainlib_analytics" in {p.value for p in points if p.name == "analytics"}
    listed = rl.sources()
    for name in SOURCES:
        assert name in listed


def test_the_command_line_lists_them() -> None:
    result = CliRunner().invoke(main, ["sources"])
    assert result.exit_code == 0
    for name in SOURCES:
        assert name in result.output


def test_every_option_is_declared_and_described() -> None:
    for name in SOURCES:
        source = HOST.sources[name]
        assert source.options and all(text for text in source.options.values())
        assert source.detector is not None


def test_detection_scores(fixtures: Path, tmp_path: Path) -> None:
    ga4 = fixtures / "ga4_events_20240304.jsonl"
    mixpanel = fixtures / "mixpanel_export.jsonl"
    amplitude = tmp_path / "hour.json.gz"
    amplitude.write_bytes(
        gzip.compress(json.dumps({"event_type": "a", "event_time": "2024-03-01 10:00:00", "device_id": "d"}).encode())
    )
    canonical = tmp_path / "events.jsonl"
    canonical.write_text('{"customer_id": "c1", "occurred_at": "2024-03-01T10:00:00Z", "event": "login"}\n')
    detectors = {"ga4": detect_ga4, "mixpanel": detect_mixpanel, "amplitude": detect_amplitude}
    files = {"ga4": ga4, "mixpanel": mixpanel, "amplitude": amplitude}
    for owner, path in files.items():
        head = path.read_bytes()[:65536]
        scores = {name: detect(path, head) for name, detect in detectors.items()}
        assert scores == {name: 90 if name == owner else 0 for name in detectors}, (owner, scores)
        assert rl.read(path).source == owner
    head = canonical.read_bytes()
    assert [detect(canonical, head) for detect in detectors.values()] == [0, 0, 0]
    assert rl.read(canonical).source == "json"  # the built-in keeps canonical files


def test_progress_is_reported_per_file(fixtures: Path) -> None:
    seen: list[tuple[Path, int]] = []
    with watching_progress(lambda path, rows: seen.append((path, rows))):
        HOST.read(HOST.sources["mixpanel"], [fixtures / "mixpanel_export.jsonl"], {})
    assert seen == [(fixtures / "mixpanel_export.jsonl", 15)]


@pytest.mark.parametrize("name", SOURCES)
def test_a_source_needs_a_file(name: str) -> None:
    with pytest.raises(rl.RetainlibError):
        HOST.sources[name].reader([])


def test_read_to_parquet_writes_what_the_reader_reads(fixtures: Path, tmp_path: Path) -> None:
    written = rl.read_to_parquet("ga4", fixtures / "ga4_events_20240304.jsonl", out=tmp_path / "out")
    read = rl.read("ga4", fixtures / "ga4_events_20240304.jsonl")
    assert written.events is not None and read.events is not None
    assert written.events.collect().equals(read.events.collect())
    assert written.orders is not None and read.orders is not None
    assert written.orders.collect().equals(read.orders.collect())
    assert written.report is not None and written.report.rows_rejected == 11
