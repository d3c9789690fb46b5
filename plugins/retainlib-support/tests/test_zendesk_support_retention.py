"""End to end: Zendesk tickets read from exports, merged with a shop's customers and orders by e-mail,
feed ``rl.support_retention`` (the numbers below are worked out by hand)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import polars as pl

import retainlib as rl

Read = Callable[..., rl.Dataset]


def shop() -> rl.Dataset:
    """Three shop customers: Gus and Hana are Zendesk's requesters 7001 and 7002 (matched by e-mail)."""
    customers = pl.DataFrame(
        {
            "customer_id": ["s1", "s2", "s3"],
            "created_at": ["2024-01-15T00:00:00Z", "2024-02-01T00:00:00Z", "2024-02-10T00:00:00Z"],
            "email": ["gus@example.com", "HANA@example.com", "other@example.com"],
        }
    )
    orders = pl.DataFrame(
        {
            "order_id": ["o1", "o2", "o3", "o4", "o5"],
            "customer_id": ["s1", "s1", "s2", "s3", "s3"],
            "ordered_at": [
                "2024-04-10T12:00:00Z",  # Gus, April
                "2024-05-15T12:00:00Z",  # Gus, back within 30 days of the end of April
                "2024-04-12T12:00:00Z",  # Hana, April; never again
                "2024-04-15T12:00:00Z",  # the other customer, April
                "2024-05-20T12:00:00Z",  # ... back in May
            ],
            "amount": ["10", "12", "9", "20", "22"],
            "currency": "EUR",
        }
    )
    return rl.Dataset(customers=customers, orders=orders, source="shop")


def test_tickets_from_zendesk_exports_feed_support_retention(read: Read, fixtures: Path) -> None:
    support = read(fixtures / "incremental_page_1.json", fixtures / "incremental_page_2.json")
    merged = rl.merge([shop(), support], match_ids=False)
    assert merged.tickets is not None
    # Zendesk's user ids and the shop's ids are different id spaces: the e-mails join them.
    owners = merged.tickets.collect().sort("ticket_id").select("ticket_id", "customer_id").rows()
    assert owners == [("201", "shop:s1"), ("202", "shop:s2"), ("203", "shop:s1")]
    result = rl.support_retention(merged, period="month", window=30, as_of=dt.datetime(2024, 6, 1, tzinfo=dt.UTC))
    # Only April is complete (end of April + 30 days = 31 May < 1 June). In April:
    # - supported: Gus (201 solved 2 Apr, 203 solved 6 Apr) and Hana (202 solved 4 Apr); Gus orders on
    #   15 May (within (1 May, 31 May]): retained; Hana never again;
    # - baseline: the other customer (active in April, no ticket), back on 20 May: retained;
    # - satisfaction of each one's last ticket solved in April: Gus 203 bad, Hana 202 offered = unrated;
    # - resolution of that ticket: 203 took 26 h, 202 28.5 h: both in [1 day, 3 days).
    april = result.filter(pl.col("period") == dt.date(2024, 4, 1)).select("group", "customers", "retained")
    assert result["period"].unique().to_list() == [dt.date(2024, 4, 1)]
    assert april.rows() == [
        ("supported", 2, 1),
        ("baseline", 1, 1),
        ("satisfaction: good", 0, 0),
        ("satisfaction: bad", 1, 1),
        ("satisfaction: unrated", 1, 0),
        ("resolution: <1d", 0, 0),
        ("resolution: 1d-3d", 2, 1),
        ("resolution: 3d-7d", 0, 0),
        ("resolution: >=7d", 0, 0),
    ]
    assert result.filter(group="supported")["retention_rate"].to_list() == [0.5]
