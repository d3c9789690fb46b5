"""The ``surveymonkey`` source: the two-line header, answers and labels, local dates, respondents, odd files."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import retainlib as rl
from retainlib.errors import OptionError, SourceError
from retainlib.tables import CUSTOMERS, RESPONSES
from retainlib_surveys._surveymonkey import score_text

Read = Callable[..., rl.Dataset]
UTC = dt.UTC
HEADER = (
    "Respondent ID,Collector ID,Start Date,End Date,IP Address,Email Address,First Name,Last Name,Custom Data 1,"
    "How likely are you to recommend us to a friend?,Why?\n"
)
SUBLABELS = ",,,,,,,,,Response,Open-Ended Response\n"


def _responses(rows: list[tuple[str, str, dt.datetime, int]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=RESPONSES.schema, orient="row")


def _rejects(ds: rl.Dataset) -> list[tuple[int, str, str]]:
    assert ds.report is not None
    return sorted(ds.report.rejects.select("line", "column", "reason").iter_rows())


def _write(tmp_path: Path, body: str, *, name: str = "export.csv", header: str = HEADER + SUBLABELS) -> Path:
    path = tmp_path / name
    path.write_text(header + body, encoding="utf-8")
    return path


def _row(rid: str, end: str, email: str, answer: str, why: str = "") -> str:
    return f"{rid},404,{end},{end},203.0.113.1,{email},,,,{answer},{why}\n"


# --- the hand-written export ----------------------------------------------------------------------


def test_the_fixture_export(read: Read, fixtures: Path) -> None:
    ds = read("surveymonkey", fixtures / "surveymonkey.csv", tz="Europe/Paris")
    # Paris is UTC+1 in early March: 10:02:45 AM local is 09:02:45 UTC; 12:15:30 AM on the 2nd is 23:15:30 on the 1st.
    expected = _responses(
        [
            ("11401000001", "ann@example.com", dt.datetime(2024, 3, 1, 9, 2, 45, tzinfo=UTC), 10),
            ("11401000002", "bob@example.com", dt.datetime(2024, 3, 1, 23, 15, 30, tzinfo=UTC), 9),
            ("11401000004", "cara@example.com", dt.datetime(2024, 3, 9, 7, 1, tzinfo=UTC), 7),
        ]
    )
    assert_frame_equal(ds.require("responses").collect(), expected)
    # Lines are record numbers: Ann's answer spans two physical lines; the blank line 6 is no record.
    assert _rejects(ds) == [
        (5, "Email Address", "Email Address: no e-mail address (an anonymous response; anonymous='keep' keeps it)"),
        (8, "End Date", "End Date: not a valid local time in Europe/Paris"),  # 2:30 AM on 31 March is skipped
        (9, "End Date", "End Date: not a date (expected MM/DD/YYYY hh:mm:ss AM/PM)"),
        (10, "score", "score: score outside 0..10"),
        (
            11,
            "Email Address",
            "Email Address: not an e-mail address (an anonymous response; anonymous='keep' keeps it)",
        ),
        (12, "score", "score: no answer to the NPS question"),
        (13, "Respondent ID", "Respondent ID: duplicate id"),
        (14, "score", "score: not a number"),
    ]
    assert ds.report is not None
    assert (ds.report.rows_read, ds.report.rows_loaded, ds.report.rows_rejected) == (11, 3, 8)
    customers = pl.DataFrame(
        [
            ("ann@example.com", dt.datetime(2024, 3, 1, 9, 2, 45, tzinfo=UTC), "ann@example.com", "Ann Lee"),
            ("bob@example.com", dt.datetime(2024, 3, 1, 23, 15, 30, tzinfo=UTC), "bob@example.com", "Bob"),
            ("cara@example.com", dt.datetime(2024, 3, 9, 7, 1, tzinfo=UTC), "cara@example.com", "Cara Diaz"),
        ],
        schema=CUSTOMERS.schema,
        orient="row",
    )
    assert_frame_equal(ds.require("customers").collect(), customers)
    assert ds.source == "surveymonkey"


def test_anonymous_responses_can_be_kept(read: Read, fixtures: Path) -> None:
    ds = read("surveymonkey", fixtures / "surveymonkey.csv", tz="Europe/Paris", anonymous="keep")
    loaded = ds.require("responses").collect()
    assert loaded.filter(pl.col("customer_id").str.starts_with("anonymous:")).rows() == [
        ("11401000003", "anonymous:11401000003", dt.datetime(2024, 3, 5, 12, 5, tzinfo=UTC), 0),
        ("11401000008", "anonymous:11401000008", dt.datetime(2024, 3, 11, 8, 10, tzinfo=UTC), 5),
    ]
    # An anonymous respondent is no customer: the customers table is unchanged.
    assert ds.require("customers").collect()["customer_id"].to_list() == [
        "ann@example.com",
        "bob@example.com",
        "cara@example.com",
    ]


def test_the_time_zone_is_required(read: Read, fixtures: Path) -> None:
    with pytest.raises(OptionError, match=r"tz=") as caught:
        read("surveymonkey", fixtures / "surveymonkey.csv")
    assert caught.value.option == "tz"
    with pytest.raises(OptionError, match="unknown time zone"):
        read("surveymonkey", fixtures / "surveymonkey.csv", tz="Mars/Olympus")


# --- dates and answers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("03/01/2024 12:00:00 AM", dt.datetime(2024, 3, 1, 0, 0)),  # midnight is 12 AM
        ("03/01/2024 12:30:00 PM", dt.datetime(2024, 3, 1, 12, 30)),  # half past noon is 12:30 PM
        ("3/1/2024 9:03:07 pm", dt.datetime(2024, 3, 1, 21, 3, 7)),  # unpadded, lower case
        ("03/01/2024 07:48 AM", dt.datetime(2024, 3, 1, 7, 48)),  # no seconds
        ("03/01/2024 19:48:07", dt.datetime(2024, 3, 1, 19, 48, 7)),  # 24-hour, as a spreadsheet re-saves it
        ("03/01/2024 19:48", dt.datetime(2024, 3, 1, 19, 48)),
        ("2024-03-01 19:48:07", dt.datetime(2024, 3, 1, 19, 48, 7)),
    ],
)
def test_end_dates_are_local_times(read: Read, tmp_path: Path, text: str, expected: dt.datetime) -> None:
    path = _write(tmp_path, _row("1", text, "a@example.com", "9"))
    # New York is UTC-5 on 1 March 2024.
    ds = read("surveymonkey", path, tz="America/New_York")
    assert ds.require("responses").collect()["responded_at"].to_list() == [
        (expected + dt.timedelta(hours=5)).replace(tzinfo=UTC)
    ]


@pytest.mark.parametrize(
    "text", ["13/01/2024 10:00:00 AM", "03/01/2024", "2024-03-01T10:00:00Z", "soon", "03/01/2024 13:00:00 PM"]
)
def test_other_dates_are_rejected(read: Read, tmp_path: Path, text: str) -> None:
    ds = read("surveymonkey", _write(tmp_path, _row("1", text, "a@example.com", "9")), tz="UTC")
    assert _rejects(ds) == [(3, "End Date", "End Date: not a date (expected MM/DD/YYYY hh:mm:ss AM/PM)")]


def test_a_time_repeated_by_the_clock_change_is_read_as_the_first(read: Read, tmp_path: Path) -> None:
    # Paris goes back from 3:00 to 2:00 on 27 October 2024: 2:30 happens at 00:30 and again at 01:30 UTC.
    ds = read(
        "surveymonkey", _write(tmp_path, _row("1", "10/27/2024 02:30:00 AM", "a@example.com", "9")), tz="Europe/Paris"
    )
    assert ds.require("responses").collect()["responded_at"].to_list() == [dt.datetime(2024, 10, 27, 0, 30, tzinfo=UTC)]


@pytest.mark.parametrize(
    ("answer", "score"),
    [
        ("10 - Extremely likely", "10"),
        ("0 - Not at all likely", "0"),
        ("10 - Extremely Likely", "10"),
        ("5 – so so", "5"),
        ("Extremely likely", "10"),
        ("Not at all  likely", "0"),
        ("Extremely likely - 10", "10"),
        (" 7 ", "7"),
        ("7.0", "7.0"),
        ("Very likely", "Very likely"),
        ("", ""),
    ],
)
def test_answers_as_numbers_or_labels(answer: str, score: str) -> None:
    got = pl.select(score_text(pl.lit(answer))).item()
    assert got == score


def test_answers_read_from_a_file(read: Read, tmp_path: Path) -> None:
    body = "".join(
        _row(str(i), "03/01/2024 10:00:00 AM", f"p{i}@example.com", answer)
        for i, answer in enumerate(["10 - Extremely likely", "0 - Not at all likely", "8", "7.0", "7.5", "-1", "ten"])
    )
    ds = read("surveymonkey", _write(tmp_path, body), tz="UTC")
    assert ds.require("responses").collect()["score"].to_list() == [10, 0, 8, 7]
    assert _rejects(ds) == [
        (7, "score", "score: not an integer score"),
        (8, "score", "score: score outside 0..10"),
        (9, "score", "score: not a number"),
    ]


# --- the header ---------------------------------------------------------------------------------------


def test_a_condensed_export_without_sublabels(read: Read, tmp_path: Path) -> None:
    path = _write(tmp_path, _row("1", "03/01/2024 10:00:00 AM", "a@example.com", "9"), header=HEADER)
    ds = read("surveymonkey", path, tz="UTC")
    assert ds.require("responses").collect()["response_id"].to_list() == ["1"]
    assert _rejects(ds) == []


def test_a_blank_sublabel_line_is_a_header_line(read: Read, tmp_path: Path) -> None:
    path = _write(tmp_path, _row("1", "03/01/2024 10:00:00 AM", "a@example.com", "9"), header=HEADER + ",,,,,,,,,,\n")
    ds = read("surveymonkey", path, tz="UTC")
    assert ds.report is not None
    assert (ds.report.rows_read, ds.report.rows_loaded) == (1, 1)


def test_the_nps_question_is_found_by_its_wording_or_named(read: Read, tmp_path: Path) -> None:
    header = (
        "Respondent ID,Collector ID,Start Date,End Date,Email Address,"
        '"How likely is it that you would recommend Acme to a friend or colleague?",'
        "How likely are you to recommend our support team?\n,,,,,Response,Response\n"
    )
    path = _write(tmp_path, "1,9,03/01/2024 10:00:00 AM,03/01/2024 10:00:00 AM,a@example.com,9,3\n", header=header)
    with pytest.raises(SourceError, match="several questions read like the NPS question"):
        read("surveymonkey", path, tz="UTC")
    whole = "How likely is it that you would recommend Acme to a friend or colleague?"
    assert read("surveymonkey", path, tz="UTC", question=whole).require("responses").collect()["score"].to_list() == [9]
    part = "  our SUPPORT   team "  # white space and case aside, a part of one title
    assert read("surveymonkey", path, tz="UTC", question=part).require("responses").collect()["score"].to_list() == [3]
    with pytest.raises(SourceError, match=r"matches several questions"):
        read("surveymonkey", path, tz="UTC", question="How likely")
    with pytest.raises(SourceError, match=r"no question matches question='Why\?'; the questions are"):
        read("surveymonkey", path, tz="UTC", question="Why?")


def test_an_export_without_an_nps_question_is_refused(read: Read, tmp_path: Path) -> None:
    header = "Respondent ID,Collector ID,Start Date,End Date,How satisfied are you?\n,,,,Response\n"
    path = _write(tmp_path, "1,9,03/01/2024 10:00:00 AM,03/01/2024 10:00:00 AM,4\n", header=header)
    with pytest.raises(SourceError, match=r"no question reads like the NPS question.*'How satisfied are you\?'"):
        read("surveymonkey", path, tz="UTC")
    ds = read("surveymonkey", path, tz="UTC", question="How satisfied are you?", anonymous="keep")
    assert ds.require("responses").collect()["score"].to_list() == [4]


def test_the_email_column_can_be_named_by_its_sublabel(read: Read, tmp_path: Path) -> None:
    header = (
        "Respondent ID,Collector ID,Start Date,End Date,Contact information,,"
        "How likely are you to recommend us?\n,,,,Name,Email,Response\n"
    )
    path = _write(tmp_path, "1,9,,03/01/2024 10:00:00 AM,Ann,ANN@example.com,10\n", header=header)
    ds = read("surveymonkey", path, tz="UTC")
    assert _rejects(ds) == [
        (3, "Email Address", "Email Address: no e-mail address (an anonymous response; anonymous='keep' keeps it)")
    ]
    ds = read("surveymonkey", path, tz="UTC", email="email")
    assert ds.require("responses").collect()["customer_id"].to_list() == ["ann@example.com"]
    blank = tmp_path / "blank.csv"
    blank.write_text(path.read_text(encoding="utf-8").replace("ANN@example.com", " "), encoding="utf-8")
    # The reasons name the column as the export does (its sub-label here).
    assert _rejects(read("surveymonkey", blank, tz="UTC", email="email")) == [
        (3, "Email", "Email: no e-mail address (an anonymous response; anonymous='keep' keeps it)")
    ]
    with pytest.raises(SourceError, match="email='Phone': no column has that header or sub-label"):
        read("surveymonkey", path, tz="UTC", email="Phone")


def test_an_export_without_end_dates_is_refused(read: Read, tmp_path: Path) -> None:
    header = "Respondent ID,Collector ID,Start Date,How likely are you to recommend us?\n,,,Response\n"
    path = _write(tmp_path, "1,9,03/01/2024 10:00:00 AM,10\n", header=header)
    with pytest.raises(SourceError, match="no 'End Date' column"):
        read("surveymonkey", path, tz="UTC")


def test_a_header_alone_reads_no_response(read: Read, tmp_path: Path) -> None:
    for header in (HEADER, HEADER + SUBLABELS):
        ds = read("surveymonkey", _write(tmp_path, "", header=header), tz="UTC")
        assert ds.require("responses").collect().height == 0
        assert ds.report is not None and ds.report.rows_read == 0


# --- separators, encodings, damaged files --------------------------------------------------------------


BODY = _row("1", "03/01/2024 10:00:00 AM", "Zoë@example.com", "9", "Très bien") + _row(
    "2", "03/02/2024 10:00:00 AM", "bo@example.com", "6"
)


@pytest.mark.parametrize(
    ("encoding", "option", "separator"),
    [
        ("utf-8", None, ","),
        ("utf-8-sig", None, ","),  # a byte-order mark
        ("utf-16", None, ","),  # UTF-16 with its byte-order mark
        ("cp1252", "cp1252", ","),
        ("utf-8", None, ";"),  # saved by a spreadsheet in a locale using commas for decimals
        ("utf-8", None, "\t"),
    ],
)
def test_encodings_and_separators(
    read: Read, tmp_path: Path, encoding: str, option: str | None, separator: str
) -> None:
    content = (HEADER + SUBLABELS + BODY).replace(",", separator)
    path = tmp_path / "export.csv"
    path.write_bytes(content.encode(encoding))
    options = {} if option is None else {"encoding": option}
    ds = read("surveymonkey", path, tz="UTC", **options)
    assert ds.require("responses").collect().select("customer_id", "score").rows() == [
        ("zoë@example.com", 9),
        ("bo@example.com", 6),
    ]


def test_another_encoding_without_the_option_is_refused_clearly(read: Read, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes((HEADER + SUBLABELS + BODY).encode("cp1252"))
    with pytest.raises(SourceError, match=r"not valid utf-8 at line 3.*encoding='cp1252'"):
        read("surveymonkey", path, tz="UTC")
    with pytest.raises(OptionError, match="unknown encoding"):
        read("surveymonkey", path, tz="UTC", encoding="klingon")


def test_a_row_with_too_many_fields_is_rejected_with_its_line(read: Read, tmp_path: Path) -> None:
    body = (
        BODY
        + "3,404,x,03/02/2024 10:00:00 AM,ip,c@example.com,,,,9,,extra,fields\n"
        + _row("4", "03/03/2024 10:00:00 AM", "d@example.com", "10")
    )
    ds = read("surveymonkey", _write(tmp_path, body), tz="UTC")
    assert ds.require("responses").collect()["response_id"].to_list() == ["1", "2", "4"]
    assert _rejects(ds) == [(5, "*", "the row has 13 fields; the header has 11")]


def test_a_broken_quote_names_the_file_and_line(read: Read, tmp_path: Path) -> None:
    path = _write(tmp_path, BODY + '3,404,x,03/02/2024 10:00:00 AM,ip,"c@example.com,,,,9,\n')
    with pytest.raises(SourceError, match=rf"{path}.*line 5.*broken quote"):
        read("surveymonkey", path, tz="UTC")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"id,score\n1,9\n", "not a SurveyMonkey export"),
        (b"\xff\xfe\x00\x01garbage", "not a SurveyMonkey export"),
    ],
)
def test_files_that_are_no_export_are_refused(read: Read, tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(content)
    with pytest.raises(SourceError, match=message):
        read("surveymonkey", path, tz="UTC")


def test_several_files_and_ids_repeated_across_them(read: Read, tmp_path: Path) -> None:
    first = _write(tmp_path, _row("1", "03/01/2024 10:00:00 AM", "a@example.com", "9"), name="a.csv")
    second = _write(tmp_path, _row("2", "03/02/2024 10:00:00 AM", "A@example.com", "3"), name="b.csv")
    ds = read("surveymonkey", first, second, tz="UTC")
    assert ds.require("responses").collect()["customer_id"].to_list() == ["a@example.com", "a@example.com"]
    # One respondent, created at their first answer.
    assert ds.require("customers").collect().rows() == [
        ("a@example.com", dt.datetime(2024, 3, 1, 10, tzinfo=UTC), "a@example.com", None)
    ]
    with pytest.raises(rl.DataError, match="duplicate id"):
        read("surveymonkey", first, first, tz="UTC")
