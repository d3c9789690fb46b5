"""The ``zendesk`` source on small hand-written exports: every quirk, with the exact rows and rejects expected.

The fixtures (``fixtures/``) are written by hand in Zendesk's formats; the
expected tickets, customers and rejects below are worked out from them by
hand, line by line (the comments say why).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner
from polars.testing import assert_frame_equal

import retainlib as rl
import retainlib_support as zendesk
from retainlib._host import default_host
from retainlib.cli import main
from retainlib.errors import OptionError, SourceError
from retainlib.plugins import watching_progress
from retainlib.tables import CUSTOMERS, SATISFACTION, TICKETS, TIMESTAMP
from retainlib.testing import assert_canonical, assert_report_balanced

Read = Callable[..., rl.Dataset]


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def tickets(*rows: tuple[Any, ...]) -> pl.DataFrame:
    """Expected tickets: (id, customer, opened, solved, satisfaction, status, priority, channel)."""
    schema = pl.Schema({**TICKETS.schema, "status": pl.String(), "priority": pl.String(), "channel": pl.String()})
    data = [(t, c, utc(o), None if s is None else utc(s), sat, st, pr, ch) for t, c, o, s, sat, st, pr, ch in rows]
    return pl.DataFrame(data, schema=schema, orient="row")


def customers(*rows: tuple[str, str, str | None, str | None]) -> pl.DataFrame:
    """Expected customers: (id, created, e-mail, name)."""
    return pl.DataFrame([(c, utc(t), e, n) for c, t, e, n in rows], schema=CUSTOMERS.schema, orient="row")


def rejects(ds: rl.Dataset) -> list[tuple[str, int, str, str]]:
    """The rejects as (file name, line, table, reason), in file then line order."""
    assert ds.report is not None
    frame = ds.report.rejects.sort("file", "line", maintain_order=True)
    return [(Path(f).name, line, t, r) for f, line, t, r in frame.select("file", "line", "table", "reason").rows()]


def sort_tickets(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort("ticket_id")


NO_SOLVE_TIME = (
    "solved_at: the ticket is solved but no solve time was read (export the ticket metrics, "
    "include=metric_sets, or pass solve_time='updated_at')"
)
NAIVE = "naive timestamp; timestamps need a time zone: pass tz='Europe/Paris' (or any IANA name) for naive ones"


# --- discovery ------------------------------------------------------------------------------------


def test_the_source_is_installed_and_listed() -> None:
    assert "zendesk" in rl.sources()
    source = default_host().sources["zendesk"]
    assert source.plugin == "zendesk"  # the entry point's name
    assert set(source.options) == {"tz", "solve_time", "separator", "encoding"}
    result = CliRunner().invoke(main, ["sources"])
    assert result.exit_code == 0
    assert "zendesk" in result.output


# --- the CSV export -------------------------------------------------------------------------------


def test_csv_export_every_quirk(read: Read, fixtures: Path) -> None:
    ds = read(fixtures / "tickets_export.csv")
    # Line 17 repeats ticket 101 (the later version wins); 103 is offered (no rating); 104 has no requester
    # id: its e-mail is the customer; 105 has none either, but ann@example.com is 9001's (line 2/4); 105 is
    # pending, so its old "Solved at" does not count; 114's id 17850.0 is 17850.
    expected = tickets(
        ("101", "9001", "2024-03-01T10:00:00Z", "2024-03-02T08:30:00Z", "good", "solved", "normal", "mail"),
        ("102", "9002", "2024-03-03T08:00:00Z", "2024-03-04T11:00:00Z", "bad", "closed", "high", "web form"),
        ("103", "9001", "2024-03-05T10:00:00Z", "2024-03-05T12:00:00Z", None, "solved", "low", "mail"),
        ("104", "cy@example.com", "2024-03-06T10:00:00Z", None, None, "open", "normal", "web form"),
        ("105", "9001", "2024-03-07T10:00:00Z", None, None, "pending", None, "mail"),
        ("114", "17850", "2024-03-14T10:00:00Z", None, None, "new", None, "mail"),
    )
    assert_frame_equal(sort_tickets(ds.require("tickets").collect()), expected)
    assert rejects(ds) == [
        ("tickets_export.csv", 2, "tickets", "id: superseded by a later version of ticket 101 in the files read"),
        ("tickets_export.csv", 8, "tickets", "tags: marked as spam"),
        ("tickets_export.csv", 9, "tickets", "tags: merged into another ticket (closed_by_merge)"),
        (
            "tickets_export.csv",
            10,
            "tickets",
            "requester_id: no requester (neither a requester id nor a requester e-mail)",
        ),
        ("tickets_export.csv", 11, "tickets", NO_SOLVE_TIME),
        ("tickets_export.csv", 12, "tickets", "solved_at: before opened_at"),
        ("tickets_export.csv", 13, "tickets", f"opened_at: {NAIVE}; solved_at: {NAIVE}"),
        (
            "tickets_export.csv",
            14,
            "tickets",
            "satisfaction: unknown satisfaction score 'Meh' (Zendesk scores are good, bad, offered or unoffered)",
        ),
        ("tickets_export.csv", 15, "tickets", "status: a deleted ticket"),
    ]
    # Customers: the requesters of loaded tickets, created at their first ticket (the CSV has no user dates),
    # e-mail normalised, the first e-mail and name read.
    assert_frame_equal(
        ds.require("customers").collect().sort("customer_id"),
        customers(
            ("17850", "2024-03-14T10:00:00Z", "ed@example.com", "Ed"),
            ("9001", "2024-03-01T10:00:00Z", "ann@example.com", "Ann Lee"),
            ("9002", "2024-03-03T08:00:00Z", "bo@example.com", "Bo"),
            ("cy@example.com", "2024-03-06T10:00:00Z", "cy@example.com", "Cy"),
        ),
    )
    assert ds.report is not None
    assert (ds.report.rows_read, ds.report.rows_loaded, ds.report.rows_rejected) == (15, 6, 9)
    assert_report_balanced(ds)
    assert_canonical(ds.require("tickets"), "tickets", extra=True)
    assert_canonical(ds.require("customers"), "customers")


def test_csv_local_times_with_tz_and_updated_at_as_solve_time(read: Read, fixtures: Path) -> None:
    ds = read(fixtures / "tickets_export.csv", tz="Europe/Paris", solve_time="updated_at")
    got = ds.require("tickets").collect().filter(pl.col("ticket_id").is_in(["109", "111"])).sort("ticket_id")
    # 109 is solved without "Solved at": its last update (2024-03-12 10:00 UTC) stands in; 111's local times
    # are Paris times (UTC+1 in March).
    expected = tickets(
        ("109", "9002", "2024-03-10T10:00:00Z", "2024-03-12T10:00:00Z", None, "solved", None, "mail"),
        ("111", "9004", "2024-03-12T09:00:00Z", "2024-03-12T10:00:00Z", "good", "solved", None, "mail"),
    )
    assert_frame_equal(got, expected)
    assert ds.report is not None
    assert ds.report.rows_loaded == 8


def test_csv_headers_are_matched_by_name_in_any_order_and_case(read: Read, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        "Satisfaction score,created_at,REQUESTER_EMAIL,ticket id,Status\n"
        "bad,2024-01-02T03:04:05Z,Zoe@Example.com,9,solved\n",
    )
    ds = read(path, solve_time="updated_at")
    # No "Solved at" and no "Updated at": a solved ticket without either is rejected even so.
    assert rejects(ds) == [
        (
            "export.csv",
            2,
            "tickets",
            "solved_at: the ticket is solved but neither its solve time nor updated_at was read",
        )
    ]
    path.write_text(
        "Satisfaction score,created_at,REQUESTER_EMAIL,ticket id,Status\n"
        "bad,2024-01-02T03:04:05Z,Zoe@Example.com,9,open\n"
    )
    ds = read(path)
    assert ds.require("tickets").collect().select("ticket_id", "customer_id", "satisfaction").rows() == [
        ("9", "zoe@example.com", "bad")
    ]


def test_csv_rows_longer_than_the_header_are_rejected_with_their_line(read: Read, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        "Id,Requester id,Created at,Status\n"
        "1,7,2024-01-01T00:00:00Z,open\n"
        "2,7,2024-01-02T00:00:00Z,open,surplus\n"
        '3,8,"2024-01-03T00:00:00Z",open\n'
        "\n"
        "4,9\n",
    )
    ds = read(path)
    # The long row is refused by its line; the short one reads its missing fields as empty (no creation time).
    assert rejects(ds) == [
        ("export.csv", 3, "tickets", "line: the row has 5 fields; the header has 4"),
        ("export.csv", 6, "tickets", "opened_at: missing value"),
    ]
    assert ds.require("tickets").collect()["ticket_id"].to_list() == ["1", "3"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "empty"),
        (b"Id;Requester id;Created at\n1;2;2024-01-01T00:00:00Z\n", "separator=';'"),
        (b"Id,Name\n1,x\n", "missing column"),
        (b'Id,Requester id,Created at\n1,2,"2024-01-01\n', "broken quote"),
        (b"Id,Requester id,Created at\n1,J\xfcrgen,2024-01-01T00:00:00Z\n", "encoding='latin-1'"),
    ],
)
def test_files_that_are_not_a_tickets_export_raise_source_errors(
    read: Read, tmp_path: Path, raw: bytes, message: str
) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(raw)
    with pytest.raises(SourceError, match=message) as caught:
        read(path)
    assert str(path) in str(caught.value)


def test_csv_options_separator_and_encoding(read: Read, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes("Id;Requester;Requester id;Created at\n1;Jürgen;5;2024-01-01T00:00:00Z\n".encode("latin-1"))
    ds = read(path, separator=";", encoding="latin-1")
    assert ds.require("customers").collect().select("customer_id", "name").rows() == [("5", "Jürgen")]
    utf16 = tmp_path / "utf16.csv"
    utf16.write_bytes("Id,Requester id,Created at\n1,5,2024-01-01T00:00:00Z\n".encode("utf-16"))
    assert read(utf16).require("tickets").collect()["customer_id"].to_list() == ["5"]


# --- API JSON -------------------------------------------------------------------------------------


def test_incremental_export_pages_with_side_loads(read: Read, fixtures: Path) -> None:
    ds = read(fixtures / "incremental_page_1.json", fixtures / "incremental_page_2.json")
    # 201: solve time from its metric set, rated good. 202: its offset time (12:30+02:00) in UTC, offered =
    # no rating. 203 on page 1 (open) is superseded by page 2's version, solved per page 2's metric set and
    # rated bad. 204 is deleted. 205 is solved with no metric set: rejected.
    expected = tickets(
        ("201", "7001", "2024-04-01T09:00:00Z", "2024-04-02T09:45:00Z", "good", "solved", "normal", "email"),
        ("202", "7002", "2024-04-03T10:30:00Z", "2024-04-04T15:00:00Z", None, "closed", "high", "web"),
        ("203", "7001", "2024-04-05T08:00:00Z", "2024-04-06T10:00:00Z", "bad", "solved", None, "email"),
    )
    assert_frame_equal(sort_tickets(ds.require("tickets").collect()), expected)
    assert rejects(ds) == [
        ("incremental_page_1.json", 3, "tickets", "id: superseded by a later version of ticket 203 in the files read"),
        ("incremental_page_1.json", 4, "tickets", "status: a deleted ticket"),
        ("incremental_page_2.json", 2, "tickets", NO_SOLVE_TIME),
    ]
    # The side-loaded users give e-mails (normalised), names and creation times (Hana's user was created
    # after her first ticket: the ticket's time counts). The agent is side-loaded, not a requester: no row.
    assert_frame_equal(
        ds.require("customers").collect().sort("customer_id"),
        customers(
            ("7001", "2023-12-01T00:00:00Z", "gus@example.com", "Gus"),
            ("7002", "2024-04-03T10:30:00Z", "hana@example.com", "Hana"),
        ),
    )
    assert ds.report is not None
    assert [(Path(f.file).name, f.table, f.rows_read, f.rows_loaded) for f in ds.report.files] == [
        ("incremental_page_1.json", "tickets", 4, 2),
        ("incremental_page_2.json", "tickets", 2, 1),
    ]


def test_json_lines_with_embedded_metric_sets_ratings_and_bad_lines(read: Read, fixtures: Path) -> None:
    ds = read(fixtures / "tickets.jsonl")
    # 301's own rating (bad) wins over the rating record of line 8; 302's time is +05:30; pending: unsolved.
    expected = tickets(
        ("301", "7101", "2024-05-01T10:00:00Z", "2024-05-03T10:00:00Z", "bad", "solved", "urgent", "web"),
        ("302", "7102", "2024-05-02T04:30:00Z", None, None, "pending", None, None),
    )
    assert_frame_equal(sort_tickets(ds.require("tickets").collect()), expected)
    assert rejects(ds) == [
        ("tickets.jsonl", 4, "tickets", "json: invalid JSON"),
        ("tickets.jsonl", 5, "tickets", "json: not a JSON object (a string)"),
        ("tickets.jsonl", 6, "tickets", "tags: marked as spam"),
        ("tickets.jsonl", 9, "tickets", "object: not a Zendesk ticket, ticket metric, satisfaction rating or user"),
    ]
    assert ds.report is not None
    (load,) = ds.report.files
    # 8 records (the blank line 2 is none): 2 tickets + the metric (line 7) and the rating (line 8) loaded.
    assert (load.rows_read, load.rows_loaded, load.rows_rejected, load.records) == (8, 4, 4, 2)
    assert_report_balanced(ds)


def test_separate_api_responses_complete_each_other(read: Read, fixtures: Path) -> None:
    names = ["ticket_401.json", "ticket_401_metrics.json", "satisfaction_ratings.json", "users.json"]
    ds = read(*(fixtures / n for n in names))
    # The ticket's own score is "unoffered" (no rating): the satisfaction rating record (good) gives it.
    expected = tickets(("401", "7201", "2024-06-01T08:00:00Z", "2024-06-01T20:00:00Z", "good", "solved", None, "api"))
    assert_frame_equal(ds.require("tickets").collect(), expected)
    assert_frame_equal(
        ds.require("customers").collect(), customers(("7201", "2024-05-20T00:00:00Z", "jo@example.com", "Jo"))
    )
    assert rejects(ds) == [
        ("satisfaction_ratings.json", 2, "tickets", "ticket_id: no loaded ticket 999 among the files read"),
        ("users.json", 2, "customers", "id: user 3 is not the requester of a loaded ticket"),
    ]
    assert ds.report is not None
    assert [(Path(f.file).name, f.table, f.rows_read, f.rows_loaded, f.records) for f in ds.report.files] == [
        ("ticket_401.json", "tickets", 1, 1, 1),
        ("ticket_401_metrics.json", "tickets", 1, 1, 0),
        ("satisfaction_ratings.json", "tickets", 2, 1, 0),
        ("users.json", "customers", 2, 1, 0),
    ]
    # Without the metrics file the solved ticket has no solve time.
    alone = read(fixtures / "ticket_401.json")
    assert rejects(alone) == [("ticket_401.json", 1, "tickets", NO_SOLVE_TIME)]


def test_arrays_of_bare_objects_and_odd_values(read: Read, tmp_path: Path) -> None:
    path = tmp_path / "tickets.json"
    ticket = {"id": 1, "requester_id": 5, "created_at": "2024-01-01T00:00:00Z", "status": "open"}
    path.write_text(
        json.dumps(
            [
                ticket,
                {**ticket, "id": 2, "requester_id": {"id": 5}},  # an object where the id should be
                {**ticket, "id": {"nested": True}},
                [1],
                {**ticket, "id": 3, "requester_id": None, "status": "hold"},
                {**ticket, "id": 4, "created_at": "01/02/2024"},
                {**ticket, "id": 5, "satisfaction_rating": "good"},  # a string where an object should be
            ]
        )
    )
    ds = read(path)
    assert ds.require("tickets").collect()["ticket_id"].to_list() == ["1", "5"]
    assert rejects(ds) == [
        ("tickets.json", 2, "tickets", "requester_id: not an id (a JSON object or list)"),
        ("tickets.json", 3, "tickets", "id: not an id (a JSON object or list)"),
        ("tickets.json", 4, "tickets", "json: not a JSON object (a list)"),
        (
            "tickets.json",
            5,
            "tickets",
            "requester_id: no requester (neither a requester id nor a requester e-mail)",
        ),
        (
            "tickets.json",
            6,
            "tickets",
            "opened_at: unparseable timestamp (expected ISO 8601, e.g. 2024-03-01T10:00:00Z)",
        ),
    ]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"   \n", "empty"),
        (b"42", "not a Zendesk"),
        (b'{"tickets": [', "invalid JSON"),
        (b'{"id": 1, "requester_id": 2, "subject": "\xff"}', "not valid UTF-8"),
    ],
)
def test_json_that_cannot_be_read_raises_a_source_error(read: Read, tmp_path: Path, raw: bytes, message: str) -> None:
    path = tmp_path / "tickets.json"
    path.write_bytes(raw)
    with pytest.raises(SourceError, match=message):
        read(path)


def test_the_same_ticket_in_a_csv_and_a_json_file_is_read_once(read: Read, fixtures: Path, tmp_path: Path) -> None:
    path = tmp_path / "later.json"
    path.write_text(
        json.dumps(
            {"ticket": {"id": 102, "requester_id": 9002, "created_at": "2024-03-03T08:00:00Z", "status": "open"}}
        )
    )
    ds = read(fixtures / "tickets_export.csv", path)
    # The JSON file comes later: its version of 102 (open again) replaces the CSV's.
    assert ds.require("tickets").collect().filter(ticket_id="102").select("solved_at", "status").rows() == [
        (None, "open")
    ]
    assert (
        "tickets_export.csv",
        3,
        "tickets",
        "id: superseded by a later version of ticket 102 in the files read",
    ) in rejects(ds)


# --- the real samples -----------------------------------------------------------------------------


def test_real_samples_load(read: Read, shared_data: Path, tmp_path: Path) -> None:
    folder = shared_data / "formats" / "zendesk"
    ticket = folder / "api_ticket.zenpy_spec.json"
    metric = folder / "api_ticket_metric.zenpy_spec.json"
    rating = folder / "api_satisfaction_rating.zenpy_spec.json"
    for path in (ticket, metric, rating):
        assert zendesk.detect(path, path.read_bytes()) >= zendesk.LIKELY
        assert rl.read(path).source == "zendesk"
    ds = read(ticket)
    # The sample ticket: pending (no solve time needed), satisfaction_rating {} (not rated), high priority.
    expected = tickets(("1", "1159307768", "2015-07-25T02:21:13Z", None, None, "pending", "high", "sample_ticket"))
    assert_frame_equal(ds.require("tickets").collect(), expected)
    assert ds.require("customers").collect().rows() == [("1159307768", utc("2015-07-25T02:21:13Z"), None, None)]
    # The metric and the rating describe tickets 4343 and 208, which the samples do not hold: with tickets
    # of those ids, the metric gives 4343 its solve time and the rating gives 208 its score.
    own = tmp_path / "tickets.json"
    own.write_text(
        json.dumps(
            {
                "tickets": [
                    {"id": 4343, "requester_id": 1, "created_at": "2009-07-20T22:55:29Z", "status": "closed"},
                    {"id": 208, "requester_id": 7881, "created_at": "2011-07-19T10:00:00Z", "status": "open"},
                ]
            }
        )
    )
    both = read(own, metric, rating)
    assert both.require("tickets").collect().sort("ticket_id").select(
        "ticket_id", "solved_at", "satisfaction"
    ).rows() == [
        ("208", None, "good"),
        ("4343", utc("2011-05-09T10:38:52Z"), None),
    ]
    assert both.report is not None
    assert both.report.rows_rejected == 0
    alone = read(metric)
    assert rejects(alone) == [
        ("api_ticket_metric.zenpy_spec.json", 1, "tickets", "ticket_id: no loaded ticket 4343 among the files read")
    ]


# --- detection, options, progress, the command line -------------------------------------------------


def test_detection_scores(fixtures: Path, tmp_path: Path) -> None:
    def score(path: Path) -> int:
        return zendesk.detect(path, path.read_bytes()[: 64 * 1024])

    assert score(fixtures / "tickets_export.csv") == zendesk.CONFIDENT
    assert score(fixtures / "incremental_page_1.json") == zendesk.CONFIDENT
    assert score(fixtures / "tickets.jsonl") == zendesk.CONFIDENT  # a metric's url on line 7
    plain = tmp_path / "plain.jsonl"
    plain.write_text('{"id": 1, "requester_id": 2, "via": {"channel": "web"}}\n')
    assert score(plain) == zendesk.LIKELY
    canonical = tmp_path / "tickets.csv"
    canonical.write_text("ticket_id,customer_id,opened_at,solved_at,satisfaction\nt1,c1,2024-01-01T00:00:00Z,,\n")
    assert score(canonical) == 0
    canonical_json = tmp_path / "tickets.json"
    canonical_json.write_text('[{"ticket_id": "t1", "customer_id": "c1", "opened_at": "2024-01-01T00:00:00Z"}]')
    assert score(canonical_json) == 0
    stripe = tmp_path / "charges.json"
    stripe.write_text('{"object": "list", "data": [{"id": "ch_1", "object": "charge", "customer": "cus_1"}]}')
    assert score(stripe) == 0
    assert rl.read(canonical).source == "csv"  # canonical files stay with the built-in source


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"tz": "Mars/Olympus"}, "tz"),
        ({"solve_time": "sometime"}, "solve_time"),
        ({"separator": ";;"}, "separator"),
        ({"encoding": "klingon"}, "encoding"),
        ({"encoding": 8}, "encoding"),
    ],
)
def test_bad_options_are_option_errors(read: Read, fixtures: Path, options: dict[str, Any], option: str) -> None:
    with pytest.raises(OptionError) as caught:
        read(fixtures / "tickets_export.csv", **options)
    assert caught.value.option == option


def test_progress_is_reported_once_per_file(read: Read, fixtures: Path) -> None:
    seen: list[tuple[str, int]] = []
    with watching_progress(lambda path, rows: seen.append((path.name, rows))):
        read(fixtures / "ticket_401.json", fixtures / "users.json")
    assert seen == [("ticket_401.json", 1), ("users.json", 2)]


def test_command_line_read(fixtures: Path, tmp_path: Path) -> None:
    out = tmp_path / "data"
    result = CliRunner().invoke(
        main, ["read", "zendesk", str(fixtures / "tickets.jsonl"), "-o", "solve_time=updated_at", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    back = rl.Dataset.read_parquet(out)
    assert back.tickets is not None
    assert sorted(back.require("tickets").collect()["ticket_id"].to_list()) == ["301", "302"]
    assert back.require("tickets").collect_schema()["satisfaction"] == SATISFACTION
    assert back.require("tickets").collect_schema()["opened_at"] == TIMESTAMP
