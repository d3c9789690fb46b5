"""``retainlib._exports.surveys``: a Dataset's responses written in each tool's format and read back the same."""

from __future__ import annotations

import datetime as dt
import inspect
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import retainlib as rl
from retainlib._exports import surveys as exports
from retainlib.errors import OptionError
from retainlib.samples import synthetic_store
from retainlib.tables import CUSTOMERS, RESPONSES
from retainlib.testing import strategies

Read = Callable[..., rl.Dataset]
UTC = dt.UTC
POOL = [f"c{i}" for i in range(1, 7)]


def _small() -> rl.Dataset:
    responses = pl.DataFrame(
        [
            ("r1", "c1", dt.datetime(2024, 3, 1, 15, 4, 5, 123456, tzinfo=UTC), 10),
            ("r2", "c2", dt.datetime(2024, 7, 1, 4, 0, 0, tzinfo=UTC), 0),
            ("r3", "c1", dt.datetime(2024, 7, 2, 23, 59, 59, tzinfo=UTC), 7),
        ],
        schema=RESPONSES.schema,
        orient="row",
    )
    customers = pl.DataFrame(
        [
            ("c1", dt.datetime(2024, 1, 1, tzinfo=UTC), "ann@example.com", "Ann van Lee"),
            ("c2", dt.datetime(2024, 1, 1, tzinfo=UTC), None, None),
        ],
        schema=CUSTOMERS.schema,
        orient="row",
    )
    return rl.Dataset(responses=responses, customers=customers)


def test_a_surveymonkey_export_written_by_hand(tmp_path: Path) -> None:
    path = exports.write_surveymonkey_export(_small(), tmp_path / "sm.csv", tz="America/New_York")
    q = exports.NPS_QUESTION
    respondent = "Respondent ID,Collector ID,Start Date,End Date,IP Address,Email Address,First Name,Last Name"
    # New York: UTC-5 in March, UTC-4 in July; microseconds dropped; 0 and 10 as labels.
    assert path.read_text(encoding="utf-8").splitlines() == [
        f"{respondent},Custom Data 1,{q}",
        ",,,,,,,,,Response",
        "r1,400000001,03/01/2024 10:04:05 AM,03/01/2024 10:04:05 AM,,ann@example.com,Ann,van Lee,,"
        "10 - Extremely likely",
        "r2,400000001,07/01/2024 12:00:00 AM,07/01/2024 12:00:00 AM,,,,,,0 - Not at all likely",
        "r3,400000001,07/02/2024 07:59:59 PM,07/02/2024 07:59:59 PM,,ann@example.com,Ann,van Lee,,7",
    ]


def test_a_typeform_download_written_by_hand(tmp_path: Path) -> None:
    path = exports.write_typeform_export(_small(), tmp_path / "tf.csv")
    q = exports.NPS_QUESTION
    assert path.read_text(encoding="utf-8").splitlines() == [
        f"#,{q},email,Response Type,Start Date (UTC),Stage Date (UTC),Submit Date (UTC),Network ID,Tags",
        "r1,10,ann@example.com,completed,2024-03-01 15:03:05,2024-03-01 15:04:05,2024-03-01 15:04:05,,",
        "r2,0,,completed,2024-07-01 03:59:00,2024-07-01 04:00:00,2024-07-01 04:00:00,,",
        "r3,7,ann@example.com,completed,2024-07-02 23:58:59,2024-07-02 23:59:59,2024-07-02 23:59:59,,",
    ]


def test_delighted_responses_written_by_hand(tmp_path: Path) -> None:
    path = exports.write_delighted_json(_small(), tmp_path / "d.json")
    ann = {"id": "c1", "email": "ann@example.com", "name": "Ann van Lee"}
    # 2024-03-01 15:04:05 UTC is 1709305445 seconds after 1970-01-01 UTC.
    assert json.loads(path.read_text(encoding="utf-8")) == [
        {"id": "r1", "person": ann, "survey_type": "nps", "score": 10, "comment": None,
         "created_at": 1709305445, "updated_at": 1709305445},
        {"id": "r2", "person": {"id": "c2", "email": None, "name": None}, "survey_type": "nps", "score": 0,
         "comment": None, "created_at": 1719806400, "updated_at": 1719806400},
        {"id": "r3", "person": ann, "survey_type": "nps", "score": 7, "comment": None,
         "created_at": 1719964799, "updated_at": 1719964799},
    ]  # fmt: skip


def _expected(responses: pl.DataFrame, customers: pl.DataFrame, *, delighted: bool) -> pl.DataFrame:
    """What a source reads back (``anonymous='keep'``): the e-mail as customer, else its fallback; whole seconds."""
    emails = customers.select("customer_id", "email").unique("customer_id")
    joined = responses.join(emails, on="customer_id", how="left", maintain_order="left")
    fallback = (
        pl.lit("delighted:") + pl.col("customer_id") if delighted else pl.lit("anonymous:") + pl.col("response_id")
    )
    return joined.select(
        "response_id",
        pl.coalesce("email", fallback).alias("customer_id"),
        pl.col("responded_at").dt.truncate("1s"),
        "score",
    )


def _round_trip(read: Read, data: rl.Dataset, folder: Path, tz: str) -> None:
    responses = data.require("responses").collect()
    customers = data.require("customers").collect()
    written = {
        "surveymonkey": (exports.write_surveymonkey_export(data, folder / "sm.csv", tz=tz), {"tz": tz}),
        "typeform": (exports.write_typeform_export(data, folder / "tf.csv"), {}),
        "delighted": (exports.write_delighted_json(data, folder / "d.json"), {}),
    }
    for source, (path, options) in written.items():
        ds = read(source, path, anonymous="keep", **options)
        assert ds.report is not None
        assert ds.report.rows_rejected == 0, ds.report.rejects
        expected = _expected(responses, customers, delighted=source == "delighted")
        assert_frame_equal(ds.require("responses").collect(), expected, check_row_order=False)


# Three writes and three reads an example: a quarter of the profile's examples (the sample store below covers size).
@settings(max_examples=max(10, (settings.default.max_examples if settings.default else 40) // 4))
@given(
    responses=strategies.responses(max_size=15, customers=POOL),
    customers=strategies.customers(customers=POOL),
    tz=st.sampled_from(["UTC", "Asia/Tokyo", "Asia/Kolkata", "America/Phoenix"]),  # zones without summer time
)
def test_any_responses_round_trip(read: Read, responses: pl.DataFrame, customers: pl.DataFrame, tz: str) -> None:
    data = rl.Dataset(responses=responses, customers=customers)
    with tempfile.TemporaryDirectory() as folder:
        _round_trip(read, data, Path(folder), tz)


def test_the_sample_store_round_trips(read: Read, tmp_path: Path) -> None:
    store = synthetic_store(customers=300, seed=3, events=False)
    _round_trip(read, store, tmp_path, "Europe/Berlin")


def test_the_writers_check_their_input(tmp_path: Path) -> None:
    only_customers = rl.Dataset(customers=_small().require("customers"))
    with pytest.raises(OptionError, match="no responses table to write"):
        exports.write_typeform_export(only_customers, tmp_path / "x.csv")
    with pytest.raises(OptionError, match="unknown time zone"):
        exports.write_surveymonkey_export(_small(), tmp_path / "x.csv", tz="Nowhere/Land")
    with pytest.raises(OptionError, match="lacks column"):
        exports.write_delighted_json({"responses": pl.DataFrame({"response_id": ["r1"]})}, tmp_path / "x.json")
    # A mapping of frames, without customers: every respondent anonymous.
    frames = {"responses": _small().require("responses")}
    path = exports.write_typeform_export(frames, tmp_path / "anon.csv")
    assert path.read_text(encoding="utf-8").count("@") == 0


def test_the_writers_do_not_import_the_plugin() -> None:
    assert "retainlib_surveys" not in inspect.getsource(exports)
