"""From survey exports to NPS: respondents matched with a shop's customers by e-mail, then ``rl.nps``."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

import retainlib as rl
from retainlib.tables import CUSTOMERS

Read = Callable[..., rl.Dataset]
UTC = dt.UTC
Z = 1.959963984540054  # the two-sided normal quantile of a 95% interval


def _shop() -> rl.Dataset:
    """A shop's customers, keyed by the shop's numeric ids, with e-mails and an acquisition channel."""
    customers = pl.DataFrame(
        [
            ("1001", dt.datetime(2023, 5, 1, tzinfo=UTC), "ann@example.com", "Ann", "paid"),
            ("1002", dt.datetime(2023, 6, 1, tzinfo=UTC), "bob@example.com", "Bob", "organic"),
            ("1003", dt.datetime(2023, 7, 1, tzinfo=UTC), "cara@example.com", "Cara", "organic"),
        ],
        schema={**CUSTOMERS.schema, "channel": pl.String},
        orient="row",
    )
    return rl.Dataset(customers=customers, source="shop")


def _typeform(tmp_path: Path) -> Path:
    path = tmp_path / "responses.csv"
    path.write_text(
        "#,How likely are you to recommend Acme to a friend?,email,Response Type,Submit Date (UTC)\n"
        "t1,10,ANN@example.com,completed,2024-03-04 10:00:00\n"
        "t2,9,bob@example.com ,completed,2024-03-10 10:00:00\n"
        "t3,6,cara@example.com,completed,2024-03-20 10:00:00\n"
        "t4,8,dora@example.com,completed,2024-03-28 10:00:00\n"
        "t5,3,bob@example.com,completed,2024-04-02 10:00:00\n"
        "t6,10,ann@example.com,partial,2024-04-03 10:00:00\n",
        encoding="utf-8",
    )
    return path


def _interval(promoters: int, detractors: int, n: int) -> tuple[float, float, float]:
    """NPS and its Wald interval, from the formula of docs/metrics/nps.md."""
    pp, pd = promoters / n, detractors / n
    score = 100 * (pp - pd)
    se = 100 * math.sqrt((pp + pd - (pp - pd) ** 2) / n)
    return score, score - Z * se, score + Z * se


def test_survey_respondents_are_the_shops_customers(read: Read, tmp_path: Path) -> None:
    survey = read("typeform", _typeform(tmp_path))
    merged = rl.merge([_shop(), survey])
    customers = merged.require("customers").collect().sort("customer_id")
    # Ann, Bob and Cara are matched by e-mail (whatever its case and spaces) and keep the shop's ids; Dora is new.
    assert customers.select("customer_id", "email", "channel").rows() == [
        ("1001", "ann@example.com", "paid"),
        ("1002", "bob@example.com", "organic"),
        ("1003", "cara@example.com", "organic"),
        ("dora@example.com", "dora@example.com", None),
    ]
    responses = merged.require("responses").collect().sort("response_id")
    assert responses.select("response_id", "customer_id").rows() == [
        ("t1", "1001"),
        ("t2", "1002"),
        ("t3", "1003"),
        ("t4", "dora@example.com"),
        ("t5", "1002"),
    ]


def test_nps_end_to_end(read: Read, tmp_path: Path) -> None:
    merged = rl.merge([_shop(), read("typeform", _typeform(tmp_path))])
    monthly = rl.nps(merged, period="month")
    # March: 10, 9, 6, 8 -> 2 promoters, 1 detractor of 4; April: 3 -> 1 detractor (t6, partial, is not read).
    assert monthly.select("period", "responses", "promoters", "passives", "detractors").rows() == [
        (dt.date(2024, 3, 1), 4, 2, 1, 1),
        (dt.date(2024, 4, 1), 1, 0, 0, 1),
    ]
    march = _interval(2, 1, 4)
    assert monthly.row(0, named=True)["nps"] == pytest.approx(march[0]) == 25.0
    assert (monthly["ci_lower"][0], monthly["ci_upper"][0]) == pytest.approx(march[1:])
    assert monthly.row(1, named=True)["nps"] == -100.0
    # By the shop's acquisition channel, over the whole window: paid is Ann (10); organic Bob (9, 3) and Cara (6).
    by_channel = rl.nps(merged, period=None, by="channel").sort("channel", nulls_last=True)
    assert by_channel.select("channel", "responses", "nps").rows() == [
        ("organic", 3, pytest.approx(100 * (1 - 2) / 3)),
        ("paid", 1, 100.0),
        (None, 1, 0.0),  # Dora, who is no shop customer, answered 8: a passive
    ]
