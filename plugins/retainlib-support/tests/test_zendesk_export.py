"""``retainlib._exports.zendesk``: a Dataset's tickets written as Zendesk exports read back as the same tickets."""

from __future__ import annotations

import ast
import datetime as dt
import doctest
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import retainlib as rl
from retainlib._exports import zendesk as export
from retainlib.errors import OptionError
from retainlib.samples import synthetic_store
from retainlib.tables import CUSTOMERS, TICKETS

Read = Callable[..., rl.Dataset]
Writer = Callable[[rl.Dataset, Path], list[Path]]

WRITERS: dict[str, Writer] = {
    "csv": lambda ds, folder: [export.write_tickets_csv(ds, folder, tz="America/New_York")],
    "jsonl": export.write_tickets_jsonl,
    "pages": lambda ds, folder: export.write_incremental_export(ds, folder, per_page=7),
}


def to_the_second(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(c).dt.truncate("1s") for c in ("opened_at", "solved_at"))


def canonical_tickets(ds: rl.Dataset) -> pl.DataFrame:
    assert ds.tickets is not None
    return ds.require("tickets").select(TICKETS.schema.names()).collect().sort("ticket_id")


@pytest.fixture(scope="module")
def store() -> rl.Dataset:
    return synthetic_store(120, seed=3, events=False)


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_the_store_written_and_read_back_gives_the_same_tickets(
    store: rl.Dataset, read: Read, tmp_path: Path, kind: str
) -> None:
    files = WRITERS[kind](store, tmp_path)
    back = read(*files)
    assert store.tickets is not None and store.customers is not None
    expected = to_the_second(store.require("tickets").collect()).sort("ticket_id")
    assert expected.height > 20
    assert_frame_equal(canonical_tickets(back), expected)
    assert back.report is not None
    assert back.report.rows_rejected == 0
    # The requesters come back as customers with their e-mails (and, from the users objects, creation times).
    requesters = expected["customer_id"].unique().implode()
    shop = store.customers.filter(pl.col("customer_id").is_in(requesters)).collect().sort("customer_id")
    got = back.require("customers").collect().sort("customer_id")
    assert got["customer_id"].to_list() == shop["customer_id"].to_list()
    assert got["email"].to_list() == shop["email"].to_list()
    if kind != "csv":  # the CSV export has no user creation time: a customer is created at their first ticket
        assert got["created_at"].to_list() == shop["created_at"].dt.truncate("1s").to_list()


def test_csv_export_layout(tmp_path: Path) -> None:
    tickets = pl.DataFrame(
        {
            "ticket_id": ["35", "36"],
            "customer_id": ["7", "8"],
            "opened_at": ["2024-03-01T15:00:00.75Z", "2024-07-01T15:00:00Z"],
            "solved_at": ["2024-03-02T09:30:00Z", None],
            "satisfaction": ["bad", None],
        }
    )
    people = pl.DataFrame(
        {"customer_id": ["7"], "created_at": ["2024-01-01T00:00:00Z"], "email": ["a@b.example"], "name": ["Al"]}
    )
    path = export.write_tickets_csv({"tickets": tickets, "customers": people}, tmp_path, tz="America/New_York")
    rows = pl.read_csv(path, infer_schema=False)
    assert tuple(rows.columns) == export.CSV_HEADER
    picked = rows.select("Id", "Requester", "Requester id", "Requester email", "Requester domain", "Status")
    assert picked.rows() == [
        ("35", "Al", "7", "a@b.example", "b.example", "Solved"),
        ("36", None, "8", None, None, "Open"),
    ]
    # New York is UTC-5 in March, UTC-4 in July; the fraction is dropped (Zendesk writes whole seconds).
    assert rows.select("Created at", "Solved at", "Satisfaction Score").rows() == [
        ("2024-03-01 10:00:00 -0500", "2024-03-02 04:30:00 -0500", "Bad"),
        ("2024-07-01 11:00:00 -0400", None, "Unoffered"),
    ]


def test_json_ids_of_digits_are_numbers_and_others_strings(tmp_path: Path) -> None:
    def first_ticket(ticket_id: str, customer_id: str) -> dict[str, object]:
        tickets = pl.DataFrame(
            {
                "ticket_id": [ticket_id],
                "customer_id": [customer_id],
                "opened_at": ["2024-03-01T15:00:00Z"],
                "solved_at": [None],
                "satisfaction": [None],
            }
        )
        (path,) = export.write_tickets_jsonl({"tickets": tickets}, tmp_path / ticket_id)
        ticket: dict[str, object] = json.loads(path.read_text())
        return ticket

    numeric = first_ticket("35", "1159307768")
    assert (numeric["id"], numeric["requester_id"], numeric["status"]) == (35, 1159307768, "open")
    assert numeric["satisfaction_rating"] == {"score": "unoffered"}
    assert numeric["metric_set"] == {
        "ticket_id": 35,
        "created_at": "2024-03-01T15:00:00Z",
        "updated_at": "2024-03-01T15:00:00Z",
        "solved_at": None,
    }
    text = first_ticket("t-9", "007")
    assert (text["id"], text["requester_id"]) == ("t-9", "007")  # a leading zero would be lost as a number


def test_incremental_pages_are_chained(tmp_path: Path) -> None:
    opened = [dt.datetime(2024, 1, d, tzinfo=dt.UTC) for d in (5, 1, 3, 2, 4)]
    tickets = pl.DataFrame(
        {
            "ticket_id": ["5", "1", "3", "2", "4"],
            "customer_id": ["9", "9", "8", "8", "9"],
            "opened_at": opened,
            "solved_at": [None] * 5,
            "satisfaction": [None] * 5,
        },
        schema_overrides={"solved_at": pl.Datetime("us", "UTC"), "satisfaction": pl.String},
    )
    paths = export.write_incremental_export({"tickets": tickets}, tmp_path, per_page=2, subdomain="acme")
    pages = [json.loads(p.read_text()) for p in paths]
    assert [p.name for p in paths] == ["tickets_0001.json", "tickets_0002.json", "tickets_0003.json"]
    # Oldest update first, two per page; each page side-loads its tickets' metric sets and requesters.
    assert [[t["id"] for t in page["tickets"]] for page in pages] == [[1, 2], [3, 4], [5]]
    assert [[m["ticket_id"] for m in page["metric_sets"]] for page in pages] == [[1, 2], [3, 4], [5]]
    assert [sorted(u["id"] for u in page["users"]) for page in pages] == [[8, 9], [8, 9], [9]]
    assert [p["count"] for p in pages] == [2, 2, 1]
    assert [p["end_time"] for p in pages] == [1704153600, 1704326400, 1704412800]  # 2024-01-02, 04, 05
    assert pages[0]["next_page"] == (
        "https://acme.zendesk.com/api/v2/incremental/tickets.json?include=metric_sets%2Cusers&start_time=1704153600"
    )
    assert [p["next_page"] is None for p in pages] == [False, False, True]
    assert [p["end_of_stream"] for p in pages] == [False, False, True]
    empty = export.write_incremental_export({"tickets": tickets.clear()}, tmp_path / "none")
    assert json.loads(empty[0].read_text())["tickets"] == []


@st.composite
def ticket_tables(draw: st.DrawFn) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Canonical tickets and their customers: numeric or text ids, solved or not, rated or not."""
    numeric = draw(st.booleans())
    count = draw(st.integers(1, 12))
    start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    ids = [str(1000 + i) if numeric else f"T-{i:03d}" for i in range(count)]
    people = draw(st.lists(st.sampled_from(["17", "0042", "c 9", "Émile"]), min_size=count, max_size=count))
    opened = [start + dt.timedelta(seconds=draw(st.integers(0, 10**8)), microseconds=draw(st.integers(0, 999_999)))
              for _ in range(count)]  # fmt: skip
    solved = [o + dt.timedelta(seconds=draw(st.integers(0, 10**6))) if draw(st.booleans()) else None for o in opened]
    rating = [draw(st.sampled_from(["good", "bad", None])) for _ in range(count)]
    tickets = pl.DataFrame(
        {"ticket_id": ids, "customer_id": people, "opened_at": opened, "solved_at": solved, "satisfaction": rating},
        schema=TICKETS.schema,
    )
    names = sorted(set(people))
    customers = pl.DataFrame(
        {
            "customer_id": names,
            "created_at": [start] * len(names),
            "email": [draw(st.sampled_from([None, f"{n.lower()}@example.com".replace(" ", "")])) for n in names],
            "name": [draw(st.sampled_from([None, "Ann", "José, Jr."])) for _ in names],
        },
        schema=CUSTOMERS.schema,
    )
    return tickets, customers


@settings(max_examples=15, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(tables=ticket_tables(), kind=st.sampled_from(sorted(WRITERS)))
def test_any_tickets_round_trip(read: Read, tables: tuple[pl.DataFrame, pl.DataFrame], kind: str) -> None:
    tickets, customers = tables
    with tempfile.TemporaryDirectory() as folder:
        back = read(*WRITERS[kind](rl.Dataset(tickets=tickets, customers=customers), Path(folder)))
    assert_frame_equal(canonical_tickets(back), to_the_second(tickets).sort("ticket_id"))
    got = back.require("customers").collect().sort("customer_id")
    expected = customers.filter(pl.col("customer_id").is_in(tickets["customer_id"].implode()))
    assert got.select("customer_id", "email").rows() == expected.select("customer_id", "email").rows()


@pytest.mark.parametrize(
    ("call", "option"),
    [
        (lambda folder: export.write_tickets_csv({"customers": pl.DataFrame()}, folder), "data"),
        (lambda folder: export.write_tickets_csv(["not", "tables"], folder), "data"),  # type: ignore[arg-type]
        (lambda folder: export.write_tickets_csv({"tickets": pl.DataFrame({"ticket_id": ["1"]})}, folder), "data"),
        (lambda folder: export.write_tickets_csv(synthetic_store(5, seed=1), folder, tz="Nowhere/Land"), "tz"),
        (lambda folder: export.write_tickets_jsonl(synthetic_store(5, seed=1), folder, subdomain="a b"), "subdomain"),
        (lambda folder: export.write_incremental_export(synthetic_store(5, seed=1), folder, per_page=0), "per_page"),
    ],
)
def test_writer_options_are_checked(tmp_path: Path, call: Callable[[Path], object], option: str) -> None:
    with pytest.raises(OptionError) as caught:
        call(tmp_path)
    assert caught.value.option == option


def test_the_writers_do_not_import_the_plugin_and_their_examples_run() -> None:
    source = Path(export.__file__).read_text()
    imported = {node.module or "" for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom)} | {
        alias.name for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Import) for alias in node.names
    }
    assert not any(name.startswith("retainlib_support") for name in imported)
    result = doctest.testmod(export, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0
