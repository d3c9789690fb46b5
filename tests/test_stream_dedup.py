"""The host's duplicate keys (``FilePlan.dedup``): repeats within and across files and parts, against a reference.

A toy planner's plans are streamed by the host (``retainlib._stream``): each
file is split in parts (several plans of one file, as the analytics planners
slice large files), rows carry two hidden keys and the name of their input.
The rows loaded and the rows rejected must be exactly those a plain Python
pass over the rows in read order gives (the first holder of a key stays; the
second key is checked among the rows the first one left), with
rows read = loaded + rejected for every file.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retainlib import _stream
from retainlib.errors import PluginError
from retainlib.load_report import REJECTS_SCHEMA
from retainlib.plugins import FilePlan, ReadResult, Source
from retainlib.tables import TIMESTAMP

FIRST = "event: duplicate event (the same first key as an earlier event)"
SECOND = "event: duplicate event (the same second key as an earlier event)"
#: A row: (first key, second key); None is a null key (never a duplicate).
Row = tuple[int | None, int | None]


def _reader(paths: object, **options: object) -> ReadResult:
    raise AssertionError("the toy source is only streamed")


SOURCE = Source(name="toy", description="toy events", kinds=("jsonl",), reader=_reader)
WHEN = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)


def _plans(files: list[list[Row]], cuts: list[int]) -> list[FilePlan]:
    """One plan per part: file ``f``'s rows cut after ``cuts[f] % len`` rows (two parts, or one)."""
    plans = []
    for number, rows in enumerate(files):
        name = f"file{number}.jsonl"
        cut = cuts[number] % (len(rows) + 1) if rows else 0
        for start, stop in ((0, cut), (cut, len(rows))):
            if start == stop and (start, stop) != (0, len(rows)):
                continue
            frame = pl.DataFrame(
                {
                    "line": list(range(start + 1, stop + 1)),
                    "customer_id": [f"c{n}" for n in range(start, stop)],
                    "occurred_at": [WHEN] * (stop - start),
                    "event": ["view"] * (stop - start),
                    "_k1": [r[0] for r in rows[start:stop]],
                    "_k2": [r[1] for r in rows[start:stop]],
                    "_name": [f"{name}!{'ab'[start > 0]}"] * (stop - start),
                },
                schema={
                    "line": pl.Int64,
                    "customer_id": pl.String,
                    "occurred_at": TIMESTAMP,
                    "event": pl.String,
                    "_k1": pl.Int64,
                    "_k2": pl.Int64,
                    "_name": pl.String,
                },
            )
            plans.append(
                FilePlan(
                    file=Path(name),
                    table="events",
                    loaded=frame.lazy(),
                    rejected=pl.LazyFrame(schema=REJECTS_SCHEMA),
                    dedup=(FilePlan.Key(("_k1",), FIRST), FilePlan.Key(("_k2",), SECOND)),
                    hidden=("_k1", "_k2", "_name"),
                    named_by="_name",
                )
            )
    return plans


def _reference(files: list[list[Row]], cuts: list[int]) -> tuple[list[str], set[tuple[str, int, str]]]:
    """The customers loaded, in order, and the (input, line, reason) of each rejected row, in plain Python."""
    rows: list[tuple[str, int, str, int | None, int | None]] = []
    for number, found in enumerate(files):
        cut = cuts[number] % (len(found) + 1) if found else 0
        for n, (k1, k2) in enumerate(found):
            rows.append((f"file{number}.jsonl!{'ab'[0 < cut <= n]}", n + 1, f"c{n}", k1, k2))
    rejected = set()
    for place, reason in ((3, FIRST), (4, SECOND)):
        seen: set[int] = set()
        kept = []
        for row in rows:
            key = (row[3], row[4])[place - 3]
            if key is not None and key in seen:
                rejected.add((row[0], row[1], reason))
                continue
            if key is not None:
                seen.add(key)
            kept.append(row)
        rows = kept
    return [r[2] for r in rows], rejected


@contextmanager
def _keys_per_pass(n: int) -> Iterator[None]:
    before = _stream.KEYS_PER_PASS
    _stream.KEYS_PER_PASS = n
    try:
        yield
    finally:
        _stream.KEYS_PER_PASS = before


keys = st.one_of(st.none(), st.integers(0, 6))


@settings(max_examples=20, deadline=None)  # each example streams up to 6 parts
@given(
    st.lists(st.lists(st.tuples(keys, keys), max_size=12), min_size=1, max_size=3),
    st.lists(st.integers(0, 12), min_size=3, max_size=3),
    st.sampled_from([1, 2, 5, 4_000_000]),
)
def test_repeated_keys_are_rejected_as_a_python_pass_over_the_rows_does(
    files: list[list[Row]], cuts: list[int], per_pass: int
) -> None:
    """Repeats within a part, across parts of one file and across files; keys hashed in slices of any size."""
    with tempfile.TemporaryDirectory() as tmp, _keys_per_pass(per_pass):
        root = Path(tmp) / "out"
        report = _stream._stream(root, SOURCE, _plans(files, cuts))
        loaded = pl.scan_parquet(root / "events" / "*.parquet").collect()
        left = sorted(p.name for p in root.iterdir())  # the keys, their hashes and the suspect rows are removed
    assert left == ["events", "rejected", "retainlib.json"]
    customers, rejected = _reference(files, cuts)
    assert loaded.get_column("customer_id").to_list() == customers
    assert loaded.columns == ["customer_id", "occurred_at", "event"]  # the hidden columns are not written
    found = report.rejects
    assert set(found.select("file", "line", "reason").iter_rows()) == rejected
    assert found.height == len(rejected)
    assert set(found.get_column("column")) <= {"event"}
    assert [f.file for f in report.files] == [f"file{n}.jsonl" for n in range(len(files))]  # parts merged
    for load, rows in zip(report.files, files, strict=True):
        assert load.rows_read == len(rows) == load.rows_loaded + load.rejected.height


def test_a_key_of_several_columns_and_the_tables_own_key(tmp_path: Path) -> None:
    """Orders: a declared key of two columns (null in one: no key), then ``order_id`` across files."""

    def plan(name: str, ids: list[str], shops: list[str | None], refs: list[str]) -> FilePlan:
        frame = pl.DataFrame(
            {
                "line": range(2, len(ids) + 2),
                "order_id": ids,
                "customer_id": ["c1"] * len(ids),
                "ordered_at": [WHEN] * len(ids),
                "amount": [1.5] * len(ids),
                "currency": ["EUR"] * len(ids),
                "_shop": shops,
                "_ref": refs,
            },
            schema_overrides={"ordered_at": TIMESTAMP, "_shop": pl.String},
        )
        return FilePlan(
            file=tmp_path / name,
            table="orders",
            loaded=frame.lazy(),
            rejected=pl.LazyFrame(schema=REJECTS_SCHEMA),
            dedup=[FilePlan.Key(["_shop", "_ref"], "order: the same shop and reference as an earlier order")],
            hidden=["_shop", "_ref"],
        )

    plans = [
        plan("a.csv", ["o1", "o2", "o3"], ["s1", "s1", None], ["r1", "r1", "r1"]),  # line 3 repeats line 2
        plan("b.csv", ["o1", "o4"], [None, "s2"], ["r1", "r1"]),  # o1 repeats a.csv's order id
    ]
    report = _stream._stream(tmp_path / "out", SOURCE, plans)
    rows = report.rejects.sort("file").select("file", "line", "column", "reason").rows()
    assert rows == [
        (str(tmp_path / "a.csv"), 3, "order", "order: the same shop and reference as an earlier order"),
        (str(tmp_path / "b.csv"), 2, "order_id", "order_id: duplicate id (loaded from an earlier file)"),
    ]
    loaded = pl.scan_parquet(tmp_path / "out" / "orders" / "*.parquet").collect()
    assert loaded.get_column("order_id").to_list() == ["o1", "o3", "o4"]
    assert "_shop" not in loaded.columns


def test_an_optional_table_no_file_feeds_is_not_written(tmp_path: Path) -> None:
    empty = pl.LazyFrame(
        schema={
            "line": pl.Int64,
            "order_id": pl.String,
            "customer_id": pl.String,
            "ordered_at": TIMESTAMP,
            "amount": pl.Float64,
            "currency": pl.String,
        }
    )
    plan = FilePlan(
        file=tmp_path / "a.jsonl", table="orders", loaded=empty, rejected=pl.LazyFrame(schema=REJECTS_SCHEMA)
    )
    events = _plans([[(1, 1)]], [0])[0]
    optional = FilePlan(file=plan.file, table="orders", loaded=empty, rejected=plan.rejected, optional=True)
    report = _stream._stream(tmp_path / "out", SOURCE, [events, optional])
    assert [(f.table, f.rows_read) for f in report.files] == [("events", 1)]
    assert not (tmp_path / "out" / "orders").exists()
    report = _stream._stream(tmp_path / "out", SOURCE, [events, plan])  # not optional: an empty load
    assert [(f.table, f.rows_read) for f in report.files] == [("events", 1), ("orders", 0)]


def test_plans_of_one_table_must_declare_the_same_keys(tmp_path: Path) -> None:
    first, second = _plans([[(1, 1)], [(2, 2)]], [0, 0])
    odd = FilePlan(
        file=second.file, table="events", loaded=second.loaded, rejected=second.rejected, hidden=second.hidden
    )
    with pytest.raises(PluginError, match="different keys"):
        _stream._stream(tmp_path / "out", SOURCE, [first, odd])


def test_a_key_needs_a_column_and_names_its_column() -> None:
    assert FilePlan.Key(("_id",), "event: duplicate").column == "event"
    assert FilePlan.Key(("_id",), "duplicate", column="event_id").column == "event_id"
    with pytest.raises(PluginError):
        FilePlan.Key((), "event: duplicate")
