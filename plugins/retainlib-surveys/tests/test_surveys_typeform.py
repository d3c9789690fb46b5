"""The ``typeform`` source: CSV downloads, API pages and webhooks, nps and opinion_scale fields, partial responses."""

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
from retainlib.tables import RESPONSES

Read = Callable[..., rl.Dataset]
UTC = dt.UTC


def _rejects(ds: rl.Dataset) -> list[tuple[int, str, str]]:
    assert ds.report is not None
    return sorted(ds.report.rejects.select("line", "column", "reason").iter_rows())


def _loaded(ds: rl.Dataset) -> list[tuple[Any, ...]]:
    return ds.require("responses").collect().rows()


def _at(day: int, hour: int, minute: int = 0, second: int = 0, month: int = 3) -> dt.datetime:
    return dt.datetime(2024, month, day, hour, minute, second, tzinfo=UTC)


# --- CSV ----------------------------------------------------------------------------------------------


def test_the_csv_download(read: Read, fixtures: Path) -> None:
    ds = read("typeform", fixtures / "typeform.csv")
    expected = pl.DataFrame(
        [("tok0001", "ann@example.com", _at(1, 10, 1, 10), 10), ("tok0002", "bob@example.com", _at(2, 11, 3), 3)],
        schema=RESPONSES.schema,
        orient="row",
    )
    assert_frame_equal(ds.require("responses").collect(), expected)
    assert _rejects(ds) == [
        (4, "Response Type", "Response Type: a partial response, never submitted (partial='keep' keeps it)"),
        (5, "email", "email: no e-mail address (an anonymous response; anonymous='keep' keeps it)"),
        (6, "score", "score: no answer to the NPS question"),
        (7, "Submit Date (UTC)", "Submit Date (UTC): not a date (expected YYYY-MM-DD hh:mm:ss, UTC)"),
        (8, "Response Type", "Response Type: unknown response type (expected completed or partial)"),
    ]
    assert ds.require("customers").collect()["email"].to_list() == ["ann@example.com", "bob@example.com"]


def test_partial_responses_can_be_kept(read: Read, fixtures: Path) -> None:
    ds = read("typeform", fixtures / "typeform.csv", partial="keep", anonymous="keep")
    # A kept partial response is dated when it was last answered (Stage Date); an unknown type stays rejected.
    assert _loaded(ds) == [
        ("tok0001", "ann@example.com", _at(1, 10, 1, 10), 10),
        ("tok0002", "bob@example.com", _at(2, 11, 3), 3),
        ("tok0003", "cara@example.com", _at(3, 12, 0, 30), 8),
        ("tok0004", "anonymous:tok0004", _at(4, 9, 1), 9),
    ]
    assert [line for line, _, _ in _rejects(ds)] == [6, 7, 8]
    with pytest.raises(OptionError, match="partial is 'reject' or 'keep'"):
        read("typeform", fixtures / "typeform.csv", partial="maybe")


def test_an_older_download_without_response_type(read: Read, tmp_path: Path) -> None:
    path = tmp_path / "responses.csv"
    path.write_text(
        "#,How likely are you to recommend us?,email,Start Date (UTC),Submit Date (UTC),Network ID\n"
        "a1,9,a@example.com,2024-03-01 10:00:00,2024-03-01 10:02:00,n1\n"
        "a2,4,b@example.com,2024-03-02 10:00:00,,n2\n",
        encoding="utf-8",
    )
    ds = read("typeform", path)
    assert _loaded(ds) == [("a1", "a@example.com", _at(1, 10, 2), 9)]
    # Without a Response Type, a response with no Submit Date is a partial one.
    assert _rejects(ds) == [
        (3, "Submit Date (UTC)", "Submit Date (UTC): a partial response, never submitted (partial='keep' keeps it)")
    ]
    assert _loaded(read("typeform", path, partial="keep"))[1] == ("a2", "b@example.com", _at(2, 10), 4)


def test_csv_columns_named_by_options(read: Read, tmp_path: Path) -> None:
    path = tmp_path / "responses.csv"
    path.write_text(
        "#,On a scale of 0 to 10?,Your e-mail,Response Type,Submit Date (UTC)\n"
        "a1,7,A@Example.com,completed,2024-03-01 10:00:00\n",
        encoding="utf-8",
    )
    with pytest.raises(SourceError, match="no question reads like the NPS question"):
        read("typeform", path)
    ds = read("typeform", path, question="On a scale of 0 to 10?", email="your e-mail")
    assert _loaded(ds) == [("a1", "a@example.com", _at(1, 10), 7)]
    with pytest.raises(SourceError, match="email='mail': no column has that title"):
        read("typeform", path, question="scale", email="mail")


def test_a_csv_without_submit_dates_is_refused(read: Read, tmp_path: Path) -> None:
    path = tmp_path / "responses.csv"
    path.write_text("#,How likely are you to recommend us?,Start Date (UTC)\na1,9,2024-03-01 10:00:00\n", "utf-8")
    with pytest.raises(SourceError, match=r"no 'Submit Date \(UTC\)' column"):
        read("typeform", path)


# --- JSON ------------------------------------------------------------------------------------------------


def test_a_webhook_payload(read: Read, fixtures: Path) -> None:
    ds = read("typeform", fixtures / "typeform_webhook.json")
    assert _loaded(ds) == [("a3a12ec67a1365927098a606107fac15", "ann@example.com", _at(1, 18, 17, 2), 9)]


@pytest.mark.parametrize("question", ["ease", "Fscale", "how easy was  CHECKOUT?"])
def test_an_opinion_scale_is_read_only_when_named(read: Read, fixtures: Path, question: str) -> None:
    # By ref, by id, or by its title in the webhook's definition.
    ds = read("typeform", fixtures / "typeform_webhook.json", question=question)
    assert [row[3] for row in _loaded(ds)] == [4]


def test_an_api_page(read: Read, fixtures: Path) -> None:
    ds = read("typeform", fixtures / "typeform_responses.json")
    assert _loaded(ds) == [("t1", "gus@example.com", _at(1, 8, 2, month=4), 0)]  # the e-mail from an email answer
    assert _rejects(ds) == [
        (2, "response_type", "response_type: a partial response, never submitted (partial='keep' keeps it)"),
        (3, "answers", "answers: no answer to an nps field (an opinion_scale question needs question=)"),
        (4, "score", "score: score outside 0..10"),
        (5, "submitted_at", "submitted_at: unparseable timestamp (expected ISO 8601, e.g. 2024-03-01T10:00:00Z)"),
    ]
    kept = read("typeform", fixtures / "typeform_responses.json", partial="keep")
    # Never submitted (submitted_at 0001-01-01): dated when the respondent landed.
    assert ("t2", "hal@example.com", _at(2, 8, month=4), 10) in _loaded(kept)


def _payload(token: str, answers: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "event_id": f"e-{token}",
        "event_type": "form_response",
        "form_response": {
            "form_id": "f1",
            "token": token,
            "landed_at": "2024-05-01T09:00:00Z",
            "submitted_at": "2024-05-01T09:05:00Z",
            "answers": answers,
            **extra,
        },
    }


def _nps(number: object, field: str = "F1") -> dict[str, Any]:
    return {"type": "number", "number": number, "field": {"id": field, "type": "nps", "ref": f"ref-{field}"}}


def test_webhook_payloads_as_json_lines(read: Read, tmp_path: Path) -> None:
    lines = [
        json.dumps(_payload("w1", [_nps(10)], hidden={"email": "w1@example.com"})),
        "{not json",
        "",
        json.dumps(_payload("w2", [_nps(3), _nps(9, "F2")], hidden={"email": "w2@example.com"})),
        "[1, 2]",
        json.dumps({"items": [], "total_items": 0}),
        json.dumps(_payload("w3", [_nps("9")], hidden={"EMAIL": "w3@example.com"})),
        json.dumps(_payload("w4", [{"type": "text", "text": "x", "field": {"id": "F9", "type": "short_text"}}])),
        json.dumps(_payload("w5", [_nps(7.0)], hidden={"email": "w5@example.com"}, submitted_at="2024-05-01T09:05:00")),
    ]
    path = tmp_path / "webhooks.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ds = read("typeform", path)
    # A number given as text, a whole float, a time without its Z (UTC, as Typeform's are) are read.
    assert _loaded(ds) == [
        ("w1", "w1@example.com", _at(1, 9, 5, month=5), 10),
        ("w3", "w3@example.com", _at(1, 9, 5, month=5), 9),
        ("w5", "w5@example.com", _at(1, 9, 5, month=5), 7),
    ]
    assert _rejects(ds) == [
        (2, "*", "invalid JSON"),
        (4, "answers", "answers: several NPS fields answered (F1, F2): pass question= with the field's id or ref"),
        (5, "*", "not a JSON object"),
        (6, "*", "an API page on one line: save each page as its own file"),
        (
            8,
            "answers",
            "answers: no answer to an nps field (an opinion_scale question needs question=); "
            "email: no e-mail address (an anonymous response; anonymous='keep' keeps it)",
        ),
    ]
    assert [row[3] for row in _loaded(read("typeform", path, question="ref-F2"))] == [9]


def test_an_array_of_items_and_the_email_option(read: Read, tmp_path: Path) -> None:
    items = [
        {"token": "i1", "submitted_at": "2024-06-01T10:00:00Z", "hidden": {"user_mail": "x@example.com"},
         "answers": [_nps(8)]},
        {"token": "i2", "submitted_at": "2024-06-02T10:00:00Z",
         "answers": [_nps(6), {"type": "email", "email": "Y@example.com", "field": {"id": "M", "ref": "work_mail"}}]},
    ]  # fmt: skip
    path = tmp_path / "items.json"
    path.write_text(json.dumps(items), encoding="utf-8")
    assert [row[1] for row in _loaded(read("typeform", path, anonymous="keep"))] == ["anonymous:i1", "y@example.com"]
    assert [row[1] for row in _loaded(read("typeform", path, email="user_mail", anonymous="keep"))] == [
        "x@example.com",
        "anonymous:i2",
    ]
    assert [row[1] for row in _loaded(read("typeform", path, email="work_mail", anonymous="keep"))] == [
        "anonymous:i1",
        "y@example.com",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "the file is empty"),
        ("[{]", "invalid JSON"),
        ('"text"', "not a Typeform export"),
        ("{not json\n", "invalid JSON at line 1"),
    ],
)
def test_json_that_is_no_export_is_refused(read: Read, tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "responses.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SourceError, match=message):
        read("typeform", path)


def test_csv_and_json_read_together(read: Read, fixtures: Path) -> None:
    ds = read("typeform", fixtures / "typeform.csv", fixtures / "typeform_webhook.json")
    assert ds.report is not None
    assert [(f.rows_read, f.rows_loaded) for f in ds.report.files] == [(7, 2), (1, 1)]
    # Ann answered twice: one respondent, created at her first answer.
    assert ds.require("customers").collect().select("customer_id", "created_at").rows() == [
        ("ann@example.com", _at(1, 10, 1, 10)),
        ("bob@example.com", _at(2, 11, 3)),
    ]
