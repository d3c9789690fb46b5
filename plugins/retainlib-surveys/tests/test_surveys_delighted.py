"""The ``delighted`` source: API survey responses, persons by id or expanded, epoch seconds, survey types."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import retainlib as rl
from retainlib.errors import OptionError, SourceError
from retainlib.tables import CUSTOMERS, RESPONSES

Read = Callable[..., rl.Dataset]
UTC = dt.UTC


def _rejects(ds: rl.Dataset) -> list[tuple[int, str, str]]:
    assert ds.report is not None
    return sorted(ds.report.rejects.select("line", "column", "reason").iter_rows())


def _epoch(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, tz=UTC)


def test_the_api_responses(read: Read, fixtures: Path) -> None:
    ds = read("delighted", fixtures / "delighted.json")
    # 1709287200 is 2024-03-01 10:00 UTC; 1711965600 2024-04-01 10:00 UTC.
    expected = pl.DataFrame(
        [
            ("101", "ann@example.com", dt.datetime(2024, 3, 1, 10, tzinfo=UTC), 10),
            ("102", "ann@example.com", dt.datetime(2024, 4, 1, 10, tzinfo=UTC), 6),  # person 501, expanded in 101
            ("104", "delighted:503", _epoch(1709310000), 8),  # no survey_type: an older account's NPS answer
        ],
        schema=RESPONSES.schema,
        orient="row",
    )
    assert_frame_equal(ds.require("responses").collect(), expected)
    assert _rejects(ds) == [
        (3, "survey_type", "survey_type: survey type csat is not NPS"),
        (5, "created_at", "created_at: not a time (expected whole seconds since 1970-01-01 UTC)"),
        (6, "person", "person: missing (an anonymous response; anonymous='keep' keeps it)"),
        (7, "survey_type", "survey_type: survey type enps is not NPS"),
    ]
    customers = pl.DataFrame(
        [
            ("ann@example.com", dt.datetime(2024, 3, 1, 10, tzinfo=UTC), "ann@example.com", "Ann Lee"),
            ("delighted:503", _epoch(1709310000), None, None),
        ],
        schema=CUSTOMERS.schema,
        orient="row",
    )
    assert_frame_equal(ds.require("customers").collect(), customers)


def test_anonymous_responses_can_be_kept(read: Read, fixtures: Path) -> None:
    ds = read("delighted", fixtures / "delighted.json", anonymous="keep")
    assert ("106", "anonymous:106", _epoch(1709330000), 9) in ds.require("responses").collect().rows()
    with pytest.raises(OptionError, match="anonymous is 'reject' or 'keep'"):
        read("delighted", fixtures / "delighted.json", anonymous="drop")


def _response(rid: str, person: Any, created: Any, score: Any = 9, **extra: Any) -> dict[str, Any]:
    return {"id": rid, "person": person, "survey_type": "nps", "score": score, "created_at": created, **extra}


def test_persons_expanded_in_another_file_give_their_email(read: Read, tmp_path: Path) -> None:
    expanded = tmp_path / "expanded.json"
    expanded.write_text(json.dumps([_response("1", {"id": "7", "email": " Zed@Example.com"}, 1700000000)]))
    by_id = tmp_path / "by_id.jsonl"
    by_id.write_text(json.dumps(_response("2", "7", 1700000600)) + "\n" + json.dumps(_response("3", 8, 1700001200)))
    ds = read("delighted", by_id, expanded)
    assert ds.require("responses").collect().select("response_id", "customer_id").rows() == [
        ("2", "zed@example.com"),
        ("3", "delighted:8"),  # an integer person id reads as its digits
        ("1", "zed@example.com"),
    ]


@pytest.mark.parametrize(
    ("created", "reason"),
    [
        (1700000000.0, None),  # a whole number written as a float
        ("1700000000", None),  # a number as text
        (-5, "created_at: not a time (expected whole seconds since 1970-01-01 UTC)"),
        (1700000000.5, "created_at: not a time (expected whole seconds since 1970-01-01 UTC)"),
        (10**15, "created_at: not a time (expected whole seconds since 1970-01-01 UTC)"),  # microseconds, not seconds
        (True, "created_at: not a time (expected whole seconds since 1970-01-01 UTC)"),
        (None, "created_at: missing"),
        ("2024-03-01T10:00:00Z", "created_at: not a time (expected whole seconds since 1970-01-01 UTC)"),
    ],
)
def test_times_are_epoch_seconds(read: Read, tmp_path: Path, created: Any, reason: str | None) -> None:
    path = tmp_path / "responses.json"
    path.write_text(json.dumps([_response("1", {"id": "1", "email": "a@example.com"}, created)]))
    ds = read("delighted", path)
    if reason is None:
        assert ds.require("responses").collect()["responded_at"].to_list() == [_epoch(1700000000)]
    else:
        assert [r for _, _, r in _rejects(ds)] == [reason]


@pytest.mark.parametrize(
    ("score", "reason"),
    [
        (11, "score: score outside 0..10"),
        (7.5, "score: not an integer score"),
        ("nine", "score: not a number"),
        (None, "score: missing value"),
        ({"value": 9}, "score: not a number"),
    ],
)
def test_scores_are_checked_as_everywhere(read: Read, tmp_path: Path, score: Any, reason: str) -> None:
    path = tmp_path / "responses.json"
    path.write_text(json.dumps([_response("1", "1", 1700000000, score)]))
    assert [r for _, _, r in _rejects(read("delighted", path))] == [reason]


def test_one_object_and_json_lines_with_bad_lines(read: Read, tmp_path: Path) -> None:
    one = tmp_path / "one.json"
    one.write_text(json.dumps(_response("1", "5", 1700000000), indent=2))
    assert read("delighted", one).require("responses").collect()["response_id"].to_list() == ["1"]
    lines = tmp_path / "lines.jsonl"
    lines.write_text(
        "\n".join([json.dumps(_response("1", "5", 1700000000)), "{oops", "", "42", json.dumps(_response("1", "6", 1))])
    )
    ds = read("delighted", lines)
    assert _rejects(ds) == [(2, "*", "invalid JSON"), (4, "*", "not a JSON object"), (5, "id", "id: duplicate id")]
    assert ds.report is not None and ds.report.rows_read == 4  # the blank line is no record


@pytest.mark.parametrize(
    ("content", "message"), [("", "the file is empty"), ("[1, ", "invalid JSON"), ("7", "not JSON")]
)
def test_files_that_are_no_responses_are_refused(read: Read, tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "responses.json"
    path.write_text(content)
    with pytest.raises(SourceError, match=message):
        read("delighted", path)


def test_an_empty_array_reads_no_response(read: Read, tmp_path: Path) -> None:
    path = tmp_path / "responses.json"
    path.write_text("[]")
    ds = read("delighted", path)
    assert ds.require("responses").collect().height == 0
    assert ds.require("customers").collect().height == 0


@pytest.mark.parametrize("person", [["1"], True, 7.5])
def test_a_person_that_is_no_id_nor_object_is_rejected(read: Read, tmp_path: Path, person: Any) -> None:
    path = tmp_path / "responses.json"
    path.write_text(json.dumps([_response("1", person, 1700000000)]))
    assert _rejects(read("delighted", path, anonymous="keep")) == [
        (1, "person", "person: not a person (expected its id or the person object)")
    ]
