"""The ``retainlib-surveys`` plugin's sources: discovery, detection by content, options, the command line."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

import retainlib as rl
import retainlib_surveys as surveys
from retainlib import _host, _read
from retainlib.cli import main
from retainlib.errors import OptionError
from retainlib.plugins import watching_progress

NAMES = ("surveymonkey", "typeform", "delighted")
DETECTORS = {
    "surveymonkey": surveys.detect_surveymonkey,
    "typeform": surveys.detect_typeform,
    "delighted": surveys.detect_delighted,
}
FILES = {
    "surveymonkey.csv": "surveymonkey",
    "typeform.csv": "typeform",
    "typeform_webhook.json": "typeform",
    "typeform_responses.json": "typeform",
    "delighted.json": "delighted",
}


def test_the_entry_point_is_installed() -> None:
    try:
        distribution = importlib.metadata.distribution("retainlib-surveys")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("retainlib-surveys is not installed yet (run `uv sync` at the repository root)")
    points = [ep for ep in distribution.entry_points if ep.group == "retainlib"]
    assert [(ep.name, ep.value) for ep in points] == [("surveys", "retainlib_surveys")]
    assert set(NAMES) <= set(rl.sources())


def test_one_plugin_gives_three_sources(host: _host.Host) -> None:
    options = {name: set(host.sources[name].options) for name in NAMES}
    assert options == {
        "surveymonkey": {"tz", "question", "email", "anonymous", "encoding"},
        "typeform": {"question", "partial", "email", "anonymous", "encoding"},
        "delighted": {"anonymous"},
    }
    assert {host.sources[name].plugin for name in NAMES} == {"retainlib_surveys"}


@pytest.mark.parametrize(("name", "source"), sorted(FILES.items()))
def test_each_file_is_recognised_by_its_content(
    host: _host.Host, fixtures: Path, tmp_path: Path, name: str, source: str
) -> None:
    # Renamed, so that only the content can tell.
    path = tmp_path / "export.dat"
    path.write_bytes((fixtures / name).read_bytes())
    head = path.read_bytes()
    assert {s: detect(path, head) for s, detect in DETECTORS.items()} == {
        s: (surveys.CONFIDENT if s == source else 0) for s in NAMES
    }
    assert host.detect(path).name == source


@pytest.mark.parametrize(
    "content",
    [
        b"response_id,customer_id,responded_at,score\nr1,c1,2024-03-01T10:00:00Z,9\n",  # canonical: the csv source's
        b'[{"response_id": "r1", "customer_id": "c1", "responded_at": "2024-03-01T10:00:00Z", "score": 9}]',
        b"id,Created date (UTC),Amount,Currency,Status\nch_1,2024-03-01 10:00,1.00,usd,Paid\n",
        b'{"object": "list", "data": [{"object": "charge", "id": "ch_1", "created": 1}]}',
        b'{"id": 1, "score": "good", "created_at": "2024-03-01T10:00:00Z", "ticket_id": 7}',  # a Zendesk rating
        b"Respondent,Collector ID\n",
        b"#,Name\n1,Ann\n",
        b"",
        b"\xff\xfe\x00\x00",
    ],
)
def test_other_files_score_zero(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "other.csv"
    assert {s: detect(path, content) for s, detect in DETECTORS.items()} == dict.fromkeys(NAMES, 0)


def test_canonical_responses_stay_with_the_csv_source(host: _host.Host, tmp_path: Path) -> None:
    path = tmp_path / "responses.csv"
    path.write_bytes(b"response_id,customer_id,responded_at,score\nr1,c1,2024-03-01T10:00:00Z,9\n")
    assert host.detect(path).name == "csv"


@given(st.binary(max_size=300))
def test_detectors_never_raise(head: bytes) -> None:
    for detect in DETECTORS.values():
        assert detect(Path("x.csv"), head) in (0, surveys.CONFIDENT)


def test_options_are_checked(read: object, fixtures: Path) -> None:
    assert callable(read)
    with pytest.raises(OptionError, match="has no option"):
        read("delighted", fixtures / "delighted.json", tz="UTC")
    with pytest.raises(OptionError, match="question is the NPS question's text"):
        read("surveymonkey", fixtures / "surveymonkey.csv", tz="UTC", question="  ")
    with pytest.raises(OptionError, match="needs at least one file"):
        surveys._typeform.read([])


def test_progress_is_told_once_per_file(read: object, fixtures: Path) -> None:
    assert callable(read)
    seen: list[tuple[str, int]] = []
    with watching_progress(lambda path, rows: seen.append((path.name, rows))):
        read("typeform", fixtures / "typeform.csv", fixtures / "typeform_webhook.json")
    assert seen == [("typeform.csv", 7), ("typeform_webhook.json", 1)]


def test_the_command_line(host: _host.Host, fixtures: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_read, "default_host", lambda: host)
    listed = CliRunner().invoke(main, ["sources"])
    assert listed.exit_code == 0, listed.output
    for name in NAMES:
        assert name in listed.output
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["read", "surveymonkey", str(fixtures / "surveymonkey.csv"), "--tz", "Europe/Paris", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "rows read 11 = loaded 3 + rejected 8" in result.output
    assert rl.Dataset.read_parquet(out).require("responses").collect().height == 3
    detected = CliRunner().invoke(
        main, ["read", str(fixtures / "delighted.json"), "-o", "anonymous=keep", "--out", str(tmp_path / "d")]
    )
    assert detected.exit_code == 0, detected.output
    assert "rows read 7 = loaded 4 + rejected 3" in detected.output


def test_rl_read_detects_and_merges_survey_files(
    host: _host.Host, fixtures: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_read, "default_host", lambda: host)
    ds = rl.read(fixtures / "typeform.csv", fixtures / "delighted.json")
    # Ann answered in both tools: one customer, by e-mail.
    customers = ds.require("customers").collect()
    assert customers.filter(customers["email"] == "ann@example.com").height == 1
    assert ds.report is not None
    assert [f.rows_read for f in ds.report.files] == [7, 7]
    json.dumps(ds.report.summary().to_dicts())  # the report is plain data
