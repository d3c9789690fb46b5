"""The ``retainlib-stripe`` plugin: Dashboard exports, API objects, policies, detection, the real samples."""

from __future__ import annotations

import csv
import datetime as dt
import importlib.metadata
import json
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import retainlib as rl
import retainlib_stripe as stripe
from retainlib import _host, _read
from retainlib.cli import main
from retainlib.errors import OptionError, SourceError
from retainlib.plugins import watching_progress
from retainlib.tables import CUSTOMERS, ORDERS, SUBSCRIPTIONS
from retainlib_stripe._currency import exponent, to_major

FIXTURES = Path(__file__).resolve().parent / "fixtures"
STRIPE = Path("formats") / "stripe"
UTC = dt.UTC


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=UTC)


def _epoch(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, tz=UTC)


@pytest.fixture(scope="module")
def host() -> _host.Host:
    """A host with the plugin registered explicitly (it may not be installed yet)."""
    return _host.build_host(entry_points=False, plugins=[stripe])


def _read_with(host: _host.Host, *paths: Path, **options: Any) -> rl.Dataset:
    return host.read(host.sources["stripe"], list(paths), options)


def _table(ds: rl.Dataset, name: str) -> pl.DataFrame:
    frame = getattr(ds, name)
    assert frame is not None, f"no {name} table"
    return frame.collect()  # type: ignore[no-any-return]


def _reasons(ds: rl.Dataset) -> list[tuple[int, str, str]]:
    assert ds.report is not None
    return sorted(ds.report.rejects.select("line", "column", "reason").iter_rows())


def _counts(ds: rl.Dataset) -> tuple[int, int, int]:
    report = ds.report
    assert report is not None
    report.check()
    return report.rows_read, report.rows_loaded, report.rows_rejected


def _orders(rows: list[tuple[str, str, dt.datetime, str, str]]) -> pl.DataFrame:
    return pl.DataFrame([(o, c, t, Decimal(a), cur) for o, c, t, a, cur in rows], schema=ORDERS.schema, orient="row")


def _segments(rows: list[tuple[str, str, dt.datetime, dt.datetime | None, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        [(s, c, a, b, Decimal(m), cur) for s, c, a, b, m, cur in rows], schema=SUBSCRIPTIONS.schema, orient="row"
    )


# --- discovery ---------------------------------------------------------------------------------


def test_the_entry_point_is_installed() -> None:
    try:
        distribution = importlib.metadata.distribution("retainlib-stripe")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("retainlib-stripe is not installed yet (run `uv sync` at the repository root)")
    points = [ep for ep in distribution.entry_points if ep.group == "retainlib"]
    assert [(ep.name, ep.value) for ep in points] == [("stripe", "retainlib_stripe")]
    assert "stripe" in rl.sources()


def test_the_source_is_registered(host: _host.Host) -> None:
    source = host.sources["stripe"]
    assert source.plugin == "retainlib_stripe"
    assert set(source.options) == {"guests", "amounts", "invoices", "past_due", "discounts", "trials"}


# --- currencies --------------------------------------------------------------------------------


def test_minor_units_follow_each_currencys_exponent() -> None:
    assert [exponent(c) for c in ("usd", "JPY", "krw", "kwd", "BHD", "eur", "MGA", "ISK", "CLF")] == [
        2, 0, 0, 3, 3, 2, 0, 2, 4
    ]  # fmt: skip
    assert to_major(1999, "usd") == Decimal("19.99")
    assert to_major(980, "jpy") == Decimal(980)
    assert to_major(12345, "kwd") == Decimal("12.345")


# --- payments export ---------------------------------------------------------------------------

PAYMENT_REJECTS = [
    (5, "Amount Refunded", "Amount Refunded: fully refunded"),
    (6, "Status", "Status: not a succeeded payment (Failed)"),
    (7, "id", "id: incomplete payment, no charge (requires_payment_method)"),
    (10, "Customer ID", "Customer ID: no customer or e-mail (guest payment)"),
    (11, "Created date (UTC)", "Created date (UTC): not a date (expected YYYY-MM-DD HH:MM[:SS], UTC)"),
    (12, "Amount", "Amount: not a number"),
    (13, "Currency", "Currency: not an ISO 4217 currency code"),
]


def test_a_payments_export(host: _host.Host) -> None:
    path = FIXTURES / "payments.csv"
    done: list[tuple[Path, int]] = []
    with watching_progress(lambda p, rows: done.append((p, rows))):
        ds = _read_with(host, path)
    assert done == [(path, 13)]
    assert ds.source == "stripe"
    assert _counts(ds) == (13, 6, 7)
    expected = _orders(
        [
            ("ch_3PaidCsv", "cus_x", _utc(2024, 3, 1, 10), "1000", "USD"),  # "1,000.00", lower-case currency
            ("py_3NoSeconds", "cus_y", _utc(2024, 3, 2, 11, 30), "20", "EUR"),  # no seconds; partial refund
            ("ch_3Jpy", "cus_z", _utc(2024, 3, 3, 12), "12000", "JPY"),
            ("ch_3Guest", "cus_x", _utc(2024, 3, 6, 12), "9", "USD"),  # customer known by the e-mail
            ("ch_3NewGuest", "new@example.com", _utc(2024, 3, 6, 13), "9", "USD"),
            ("ch_3Invoiced", "cus_a", _utc(2024, 3, 8, 12), "45", "USD"),
        ]
    )
    assert_frame_equal(_table(ds, "orders"), expected)
    assert _reasons(ds) == PAYMENT_REJECTS
    customers = _table(ds, "customers").sort("customer_id")
    assert customers.rows() == [
        ("cus_a", _utc(2024, 3, 8, 12), None, None),
        ("cus_x", _utc(2024, 3, 1, 10), "x@example.com", None),
        ("cus_y", _utc(2024, 3, 2, 11, 30), None, None),
        ("cus_z", _utc(2024, 3, 3, 12), "z@example.com", None),
        ("new@example.com", _utc(2024, 3, 6, 13), "new@example.com", None),
    ]


def test_payments_in_the_converted_currency(host: _host.Host) -> None:
    ds = _read_with(host, FIXTURES / "payments.csv", amounts="converted")
    orders = _table(ds, "orders")
    assert dict(zip(orders["order_id"], orders["amount"], strict=True)) == {
        "ch_3PaidCsv": Decimal(1000),
        "py_3NoSeconds": Decimal("21.68"),
        "ch_3Jpy": Decimal("80.50"),
        "ch_3Guest": Decimal(9),
        "ch_3NewGuest": Decimal(9),
        "ch_3BadAmount": Decimal(9),  # its converted amount is fine
        "ch_3BadCurrency": Decimal(9),
        "ch_3Invoiced": Decimal(45),
    }
    assert set(orders["currency"]) == {"USD"}


@pytest.mark.parametrize(
    ("guests", "customer_of_guest", "customer_of_new", "anonymous"),
    [("reject", None, None, None), ("payment", "guest:ch_3Guest", "guest:ch_3NewGuest", "guest:ch_3Anonymous")],
)
def test_the_guests_option(
    host: _host.Host, guests: str, customer_of_guest: str | None, customer_of_new: str | None, anonymous: str | None
) -> None:
    ds = _read_with(host, FIXTURES / "payments.csv", guests=guests)
    orders = dict(_table(ds, "orders").select("order_id", "customer_id").iter_rows())
    assert orders.get("ch_3Guest") == customer_of_guest
    assert orders.get("ch_3NewGuest") == customer_of_new
    assert orders.get("ch_3Anonymous") == anonymous
    if guests == "reject":
        assert ("Customer ID: no customer (guest payment)", 3) in Counter(r for _, _, r in _reasons(ds)).items()


# --- API objects -------------------------------------------------------------------------------


def test_charges_with_refunds_and_invoices(host: _host.Host) -> None:
    ds = _read_with(host, FIXTURES / "charges.json", FIXTURES / "invoices.json", FIXTURES / "refunds.jsonl")
    orders = _table(ds, "orders").sort("order_id")
    expected = _orders(
        [
            ("ch_eur", "cus_e", _epoch(1704412800), "19.99", "EUR"),
            ("ch_guest", "guest@example.com", _epoch(1704585600), "10", "USD"),
            ("ch_jpy", "cus_f", _epoch(1704326400), "5000", "JPY"),
            ("ch_kwd", "cus_o", _epoch(1704499200), "12.345", "KWD"),
            ("ch_partial", "cus_b", _epoch(1704153600), "37.5", "USD"),
            ("ch_refund_obj", "cus_c", _epoch(1704672000), "50", "USD"),  # less the succeeded refund re_1
            ("ch_usd", "cus_a", _epoch(1704067200), "20", "USD"),
            ("in_credited", "cus_c", _epoch(1706745600), "15", "USD"),
            ("in_paid_new", "cus_a", _epoch(1709254800), "45", "USD"),  # paid_at
            ("in_paid_old", "cus_a", _epoch(1704067200), "45", "USD"),  # created, without paid_at
        ]
    )
    assert_frame_equal(orders, expected)
    assert ds.report is not None
    summary = ds.report.summary().select("table", "read", "loaded", "rejected").rows()
    assert summary == [("orders", 12, 7, 5), ("orders", 7, 3, 4), ("", 3, 0, 3)]
    rejects = sorted(ds.report.rejects.select("file", "line", "reason").iter_rows())
    name = {str(FIXTURES / n): n for n in ("charges.json", "invoices.json", "refunds.jsonl")}
    assert [(name[f], line, reason) for f, line, reason in rejects] == [
        ("charges.json", 3, "amount_refunded: fully refunded"),
        ("charges.json", 4, "status: not a succeeded charge (failed)"),
        ("charges.json", 8, "invoice: duplicate of invoice in_paid_old (counted once, as the invoice)"),
        ("charges.json", 10, "customer: no customer or e-mail (guest payment)"),
        ("charges.json", 12, "status: not a succeeded charge (pending)"),
        ("invoices.json", 3, "status: invoice not paid (open)"),
        ("invoices.json", 4, "amount_paid: nothing paid (a free trial, a 100% discount or a credit balance)"),
        ("invoices.json", 6, "post_payment_credit_notes_amount: fully credited after payment"),
        ("invoices.json", 7, "status: invoice not paid (void)"),
        *[
            ("refunds.jsonl", n, "object: refunds are not orders (they reduce their charge's amount)")
            for n in (1, 2, 3)
        ],
    ]


def test_invoices_can_be_skipped(host: _host.Host) -> None:
    ds = _read_with(host, FIXTURES / "charges.json", FIXTURES / "invoices.json", invoices="skip")
    orders = _table(ds, "orders")
    assert "ch_of_invoice" in orders["order_id"].to_list()
    assert not orders["order_id"].str.starts_with("in_").any()
    assert _counts(ds) == (19, 8, 11)


def test_api_refunds_and_invoices_reach_the_payments_export(host: _host.Host) -> None:
    ds = _read_with(host, FIXTURES / "payments.csv", FIXTURES / "refunds.jsonl", FIXTURES / "invoices.json")
    orders = dict(_table(ds, "orders").select("order_id", "amount").iter_rows())
    assert orders["ch_3PaidCsv"] == Decimal(995)  # re_3 refunded 5.00 of it
    assert "ch_3Invoiced" not in orders  # its invoice in_paid_new is the order
    assert (
        14,
        "Invoice ID",
        f"Invoice ID: duplicate of invoice {'in_paid_new'} (counted once, as the invoice)",
    ) in _reasons(ds)


def test_api_customers_and_derived_ones(host: _host.Host) -> None:
    ds = _read_with(host, FIXTURES / "customers.json", FIXTURES / "charges.json")
    customers = _table(ds, "customers").sort("customer_id")
    assert customers.filter(pl.col("customer_id").is_in(["cus_a", "cus_b", "cus_c"])).rows() == [
        ("cus_a", _epoch(1703980800), "a@example.com", "Ann"),  # the customer object wins over the payer
        ("cus_b", _epoch(1703980800), None, None),
        ("cus_c", _epoch(1704672000), None, None),  # derived from its first order
    ]
    assert [r for r in _reasons(ds) if r[1] in ("deleted", "created")] == [
        (3, "deleted", "deleted: a deleted customer"),
        (4, "created", "created: not a timestamp (epoch seconds)"),
    ]


def test_subscriptions_current_api_shape(host: _host.Host) -> None:
    ds = _read_with(host, FIXTURES / "subscriptions_current.json")
    assert _counts(ds) == (12, 8, 4)
    expected = _segments(
        [
            ("sub_qty", "cus_a", _utc(2024, 1, 1), None, "45", "USD"),  # 15.00 x 3
            ("sub_year_pct", "cus_b", _utc(2024, 1, 1), None, "75", "USD"),  # 1200/12 less 25%
            ("sub_week_amount", "cus_c", _utc(2024, 2, 1), None, "34.6667", "USD"),  # (10 - 2) x 52/12; 'once' ignored
            ("sub_trial_past", "cus_d", _utc(2024, 1, 15), None, "20", "USD"),  # starts at trial_end
            ("sub_cancel_end", "cus_e", _utc(2024, 1, 1), _utc(2024, 4, 1), "6.6", "EUR"),  # 9.90 x 2 per 3 months
            ("sub_jpy", "cus_f", _utc(2024, 1, 1), None, "980", "JPY"),
            ("sub_days", "cus_g", _utc(2024, 1, 1), _utc(2024, 3, 1), "30.4167", "USD"),  # 30.00 per 30 days x 365/12
            ("sub_trialing", "cus_h", _utc(2030, 1, 1), None, "5", "USD"),  # still in its trial: starts at trial_end
        ]
    )
    assert_frame_equal(_table(ds, "subscriptions"), expected)
    assert _reasons(ds) == [
        (
            9,
            "discounts",
            "discounts: discount di_123 is not expanded to its coupon "
            "(fetch with expand[]=discounts, or option discounts='ignore')",
        ),
        (10, "status", "status: never started (incomplete)"),
        (11, "ended_at", "ended_at: ended within its free trial (never paid)"),
        (12, "items", "items: metered or tiered price: its MRR depends on usage"),
    ]
    ignoring = _table(_read_with(host, FIXTURES / "subscriptions_current.json", discounts="ignore"), "subscriptions")
    assert ignoring.filter(pl.col("subscription_id") == "sub_unexpanded")["mrr"].to_list() == [Decimal(7)]


@pytest.mark.parametrize(
    ("past_due", "plan_only_end", "kwd_end"),
    [("active", None, None), ("churned", _epoch(1709251200), _epoch(1709251200))],
)
def test_subscriptions_pre_basil_shape(
    host: _host.Host, past_due: str, plan_only_end: dt.datetime | None, kwd_end: dt.datetime | None
) -> None:
    ds = _read_with(host, FIXTURES / "subscriptions_pre_basil.jsonl", past_due=past_due)
    expected = _segments(
        [
            ("sub_old_pct", "cus_m", _utc(2024, 1, 1), _epoch(1711929600), "5", "GBP"),  # `discount`, `coupon`
            ("sub_old_plan_only", "cus_n", _utc(2024, 1, 1), plan_only_end, "8.3333", "USD"),  # plan: 25.00 x 4 / 12
            ("sub_old_amount", "cus_o", _utc(2024, 1, 1), kwd_end, "11.345", "KWD"),  # 12.345 - 1.000
        ]
    )
    assert_frame_equal(_table(ds, "subscriptions"), expected)
    assert [(line, column) for line, column, _ in _reasons(ds)] == [(5, "json")]
    assert _counts(ds) == (4, 3, 1)


def test_past_due_subscriptions_can_be_rejected(host: _host.Host) -> None:
    ds = _read_with(host, FIXTURES / "subscriptions_pre_basil.jsonl", past_due="reject")
    assert [r for r in _reasons(ds) if r[1] == "status"] == [
        (2, "status", "status: past_due (option past_due='reject')"),
        (4, "status", "status: unpaid (option past_due='reject')"),
    ]


def test_a_multi_currency_account(host: _host.Host) -> None:
    ds = _read_with(host, FIXTURES / "charges.json", FIXTURES / "subscriptions_current.json")
    orders = _table(ds, "orders")
    totals = dict(orders.group_by("currency").agg(pl.col("amount").sum()).iter_rows())
    assert totals == {
        "USD": Decimal("192.5"),
        "EUR": Decimal("19.99"),
        "JPY": Decimal(5000),
        "KWD": Decimal("12.345"),
    }
    assert sorted(set(_table(ds, "subscriptions")["currency"])) == ["EUR", "JPY", "USD"]


# --- customers export --------------------------------------------------------------------------


def test_a_customers_export(host: _host.Host) -> None:
    ds = _read_with(host, FIXTURES / "customers_export.csv")
    assert _counts(ds) == (4, 2, 2)
    assert_frame_equal(
        _table(ds, "customers"),
        pl.DataFrame(
            [
                ("cus_x", _utc(2024, 2, 1, 9), "x@example.com", "Xavier"),
                ("cus_y", _utc(2024, 2, 2, 9), "y@example.com", "Yolanda"),
            ],
            schema=CUSTOMERS.schema,
            orient="row",
        ),
    )
    assert _reasons(ds) == [
        (4, "id", "id: empty"),
        (5, "Created (UTC)", "Created (UTC): not a date (expected YYYY-MM-DD HH:MM[:SS], UTC)"),
    ]


# --- subscriptions export ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "loaded"),
    [
        ({}, ["sub_e1", "sub_e2", "sub_e3", "sub_e4", "sub_e5"]),
        (
            {"discounts": "ignore", "past_due": "churned"},
            ["sub_e1", "sub_e2", "sub_e3", "sub_e4", "sub_e5", "sub_e5b"],
        ),
    ],
)
def test_a_subscriptions_export(host: _host.Host, options: dict[str, str], loaded: list[str]) -> None:
    ds = _read_with(host, FIXTURES / "subscriptions_export.csv", **options)
    churned = options.get("past_due") == "churned"
    expected = _segments(
        [
            ("sub_e1", "cus_x", _utc(2024, 1, 1), None, "30", "USD"),  # 15.00 x 2
            ("sub_e2", "cus_y", _utc(2024, 1, 15), _utc(2025, 1, 1), "100", "EUR"),  # trial, cancel at period end
            ("sub_e3", "cus_z", _utc(2024, 1, 1), _utc(2024, 2, 10), "4246.6667", "JPY"),  # 980 yen a week
            ("sub_e4", "cus_w", _utc(2024, 1, 15), None, "15", "USD"),  # trialing: starts at its Trial End
            ("sub_e5", "cus_v", _utc(2024, 1, 1), _utc(2024, 3, 1) if churned else None, "15", "USD"),  # past_due
            ("sub_e5b", "cus_v", _utc(2024, 1, 1), None, "15", "USD"),  # its coupon id
        ]
    ).filter(pl.col("subscription_id").is_in(loaded))
    assert_frame_equal(_table(ds, "subscriptions"), expected)
    reasons = [
        (7, "Start Date (UTC)", "Start Date (UTC): not a date (expected YYYY-MM-DD HH:MM[:SS], UTC)"),
        (8, "Coupon", "Coupon: a coupon id cannot be applied to MRR (option discounts='ignore')"),
        (9, "Interval", "Interval: not day, week, month or year"),
    ]
    assert _reasons(ds) == [r for r in reasons if r[0] != 8 or not options]
    assert _counts(ds) == (8, len(loaded), 8 - len(loaded))


def test_a_subscriptions_export_without_prices_is_refused(host: _host.Host, tmp_path: Path) -> None:
    path = tmp_path / "subscriptions.csv"
    path.write_text(
        "id,Customer ID,Status,Created (UTC),Start (UTC),Current Period End (UTC)\n"
        "sub_1,cus_1,active,2024-01-01 00:00,2024-01-01 00:00,2024-02-01 00:00\n"
    )
    assert stripe.detect(path, path.read_bytes()) == stripe.CONFIDENT
    with pytest.raises(SourceError, match="lacks Amount, Currency, Interval") as raised:
        _read_with(host, path)
    assert raised.value.file == path
    assert "Amount / Plan Amount / Price Amount" in str(raised.value)


def test_a_subscriptions_export_with_other_price_column_names(host: _host.Host, tmp_path: Path) -> None:
    path = tmp_path / "subscriptions.csv"
    path.write_text(
        "id,Customer ID,Status,Created (UTC),Start Date (UTC),Current Period End (UTC),plan amount,Plan Currency,"
        "Plan Interval,Plan Interval Count,Quantity\n"
        'sub_1,cus_1,active,2024-01-01 00:00,2024-01-01 00:00,2024-04-01 00:00,"1,200.00",usd,month,3,2\n'
        "sub_2,cus_2,active,2024-01-01 00:00,2024-01-01 00:00,2024-04-01 00:00,10.00,usd,fortnight,1,1\n"
    )
    ds = _read_with(host, path)
    assert _counts(ds) == (2, 1, 1)
    assert _table(ds, "subscriptions").select("subscription_id", "mrr", "currency").rows() == [
        ("sub_1", Decimal(800), "USD")  # 1,200.00 x 2 every 3 months
    ]
    assert _reasons(ds) == [(3, "Plan Interval", "Plan Interval: not day, week, month or year")]


# --- invoices export ---------------------------------------------------------------------------

INVOICE_ORDERS = [
    ("in_csv_1", "cus_x", _utc(2024, 3, 1, 11), "1000", "USD"),  # "1,000.00", at its paid date, lower-case currency
    ("in_csv_2", "cus_y", _utc(2024, 3, 2, 11, 30), "20", "EUR"),  # no paid date: the invoice date, without seconds
    ("in_jpy", "cus_z", _utc(2024, 3, 3, 12), "12000", "JPY"),  # zero-decimal currency, "12,000"
    ("in_kwd", "cus_o", _utc(2024, 3, 11, 10, 5), "1234.567", "KWD"),  # three decimals
    ("in_guest", "new@example.com", _utc(2024, 3, 12, 10, 1), "9.99", "GBP"),  # no customer: its e-mail
    ("in_upper", "cus_v", _utc(2024, 3, 15, 8, 30), "30", "USD"),  # "Paid", "USD"
]
INVOICE_REJECTS = [
    (5, "Status", "Status: invoice not paid (open)"),
    (6, "Status", "Status: invoice not paid (void)"),
    (7, "Status", "Status: invoice not paid (draft)"),
    (8, "Status", "Status: invoice not paid (uncollectible)"),
    (9, "Amount Paid", "Amount Paid: nothing paid (a free trial, a 100% discount or a credit balance)"),
    (10, "Date (UTC)", "Date (UTC): not a date (expected YYYY-MM-DD HH:MM[:SS], UTC)"),
    # line 11 is blank: not a record
    (12, "id", "id: empty"),
    (15, "Amount Paid", "Amount Paid: not a number"),
    (16, "Currency", "Currency: not an ISO 4217 currency code"),
]


def _duplicates(ds: rl.Dataset) -> list[tuple[int, str, str]]:
    return [r for r in _reasons(ds) if "duplicate of invoice" in r[2]]


def test_an_invoices_export(host: _host.Host) -> None:
    path = FIXTURES / "invoices_export.csv"
    done: list[tuple[Path, int]] = []
    with watching_progress(lambda p, rows: done.append((p, rows))):
        ds = _read_with(host, path)
    assert done == [(path, 15)]
    assert _counts(ds) == (15, 6, 9)
    assert_frame_equal(_table(ds, "orders"), _orders(INVOICE_ORDERS))
    assert _reasons(ds) == INVOICE_REJECTS
    emails = dict(_table(ds, "customers").select("customer_id", "email").iter_rows())
    assert emails == {
        "cus_x": "x@example.com",
        "cus_y": None,
        "cus_z": "z@example.com",
        "cus_o": None,
        "new@example.com": "new@example.com",
        "cus_v": None,
    }


def test_invoices_export_variants(host: _host.Host) -> None:
    """``Date``/``Paid At`` without ``(UTC)``, ``Customer ID`` for ``Customer``, ``Paid`` without ``Status``."""
    ds = _read_with(host, FIXTURES / "invoices_export_variants.csv")
    assert _counts(ds) == (3, 2, 1)
    expected = _orders(
        [("in_v1", "cus_a", _utc(2024, 3, 1, 0, 5), "45", "USD"), ("in_v3", "cus_c", _utc(2024, 3, 3), "2500", "JPY")]
    )
    assert_frame_equal(_table(ds, "orders"), expected)
    assert _reasons(ds) == [(3, "Paid", "Paid: invoice not paid (false)")]


def test_invoices_export_options(host: _host.Host) -> None:
    skipped = _read_with(host, FIXTURES / "invoices_export.csv", invoices="skip")
    assert _counts(skipped) == (15, 0, 15)
    assert {reason for _, _, reason in _reasons(skipped)} == {"id: invoices are not read (option invoices='skip')"}
    rejecting = _read_with(host, FIXTURES / "invoices_export.csv", guests="reject")
    assert (14, "Customer", "Customer: no customer (guest payment)") in _reasons(rejecting)
    paying = _read_with(host, FIXTURES / "invoices_export.csv", guests="payment")
    assert dict(_table(paying, "orders").select("order_id", "customer_id").iter_rows())["in_guest"] == "guest:in_guest"


def test_an_invoices_export_without_what_an_order_needs_is_refused(host: _host.Host, tmp_path: Path) -> None:
    path = tmp_path / "invoices.csv"
    path.write_text("id,Customer,Amount Due,Amount Paid,Date (UTC)\nin_1,cus_1,1.00,1.00,2024-01-01 00:00\n")
    assert stripe.detect(path, path.read_bytes()) == stripe.CONFIDENT
    with pytest.raises(SourceError, match=r"lacks Currency, Status \(or Paid\)") as raised:
        _read_with(host, path)
    assert raised.value.file == path
    assert str(path) in str(raised.value)


def test_payments_of_exported_invoices_are_counted_once(host: _host.Host) -> None:
    invoices, payments = FIXTURES / "invoices_export.csv", FIXTURES / "payments.csv"
    for paths in ((invoices, payments), (payments, invoices)):  # invoices are read first, whatever the order
        ds = _read_with(host, *paths)
        assert _counts(ds) == (15 + 13, 6 + 3, 9 + 10)
        assert sorted(_table(ds, "orders")["order_id"]) == sorted(
            [*(row[0] for row in INVOICE_ORDERS), "ch_3Guest", "ch_3NewGuest", "ch_3Invoiced"]
        )
        assert _duplicates(ds) == [
            (2, "Invoice ID", "Invoice ID: duplicate of invoice in_csv_1 (counted once, as the invoice)"),
            (3, "Invoice ID", "Invoice ID: duplicate of invoice in_csv_2 (counted once, as the invoice)"),
            (4, "id", "id: duplicate of invoice in_jpy (counted once, as the invoice)"),  # the invoice's Charge
        ]
    as_payments = _read_with(host, invoices, payments, invoices="skip")
    assert _counts(as_payments) == (15 + 13, 0 + 6, 15 + 7)
    assert not _duplicates(as_payments)


def test_api_charges_are_linked_to_their_invoices(host: _host.Host, tmp_path: Path) -> None:
    def charge(charge_id: str, intent: str) -> dict[str, Any]:  # current API shape: no `invoice`
        return {
            "id": charge_id,
            "object": "charge",
            "status": "succeeded",
            "amount": 4500,
            "currency": "usd",
            "customer": "cus_a",
            "created": 1709254800,
            "payment_intent": intent,
        }

    def invoice(invoice_id: str, **links: Any) -> dict[str, Any]:
        return {
            "id": invoice_id,
            "object": "invoice",
            "status": "paid",
            "amount_paid": 4500,
            "currency": "usd",
            "customer": "cus_a",
            "created": 1709254800,
            **links,
        }

    charges = tmp_path / "charges.json"
    charges.write_text(
        json.dumps(
            {
                "object": "list",
                "data": [
                    charge("ch_b1", "pi_v1"),
                    charge("ch_b2", "pi_b2"),
                    charge("ch_b3", "pi_other"),  # no invoice read names it: an order
                    charge("ch_b4", "pi_b4"),
                ],
            }
        )
    )
    invoices = tmp_path / "invoices.json"
    paid_with = {"payment": {"type": "payment_intent", "payment_intent": "pi_b2"}, "object": "invoice_payment"}
    invoices.write_text(
        json.dumps(
            [
                invoice("in_basil", payments={"object": "list", "data": [paid_with]}),  # expand[]=payments
                invoice("in_old", charge={"id": "ch_b4", "object": "charge"}),  # before basil, expanded
            ]
        )
    )
    ds = _read_with(host, charges, invoices, FIXTURES / "invoices_export_variants.csv")
    assert sorted(_table(ds, "orders")["order_id"]) == ["ch_b3", "in_basil", "in_old", "in_v1", "in_v3"]
    assert _duplicates(ds) == [
        (1, "payment_intent", "payment_intent: duplicate of invoice in_v1 (counted once, as the invoice)"),
        (2, "payment_intent", "payment_intent: duplicate of invoice in_basil (counted once, as the invoice)"),
        (4, "id", "id: duplicate of invoice in_old (counted once, as the invoice)"),
    ]
    _counts(ds)


def test_reading_invoices_and_payments_end_to_end(host: _host.Host, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_read, "default_host", lambda: host)
    ds = rl.read(FIXTURES / "payments.csv", FIXTURES / "invoices_export.csv")  # no source name: detected
    assert _counts(ds) == (28, 9, 19)
    orders = _table(ds, "orders")
    assert orders["order_id"].n_unique() == orders.height
    totals = dict(orders.group_by("currency").agg(pl.col("amount").sum()).iter_rows())
    assert totals == {
        "USD": Decimal(1093),  # in_csv_1 1000 + in_upper 30 + the payments of no invoice 9 + 9 + 45
        "EUR": Decimal(20),
        "JPY": Decimal(12000),
        "KWD": Decimal("1234.567"),
        "GBP": Decimal("9.99"),
    }


# --- property: any amount survives its export as major units ---------------------------------------

_INVOICE_ROW = st.tuples(
    st.integers(0, 10**12),
    st.sampled_from(["usd", "JPY", "kwd", "eur", "clf"]),
    st.sampled_from(["paid", "Paid", "open", "void", "draft", "uncollectible"]),
    st.booleans(),
)


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=st.lists(_INVOICE_ROW, max_size=25))
def test_any_invoices_export_round_trips_its_amounts(host: _host.Host, tmp_path: Path, rows: list[Any]) -> None:
    path = tmp_path / "invoices.csv"
    expected: dict[str, Decimal] = {}
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(
            ["id", "Customer", "Amount Due", "Amount Paid", "Currency", "Status", "Date (UTC)", "Paid At (UTC)"]
        )
        for i, (minor, currency, status, paid_at) in enumerate(rows):
            major = to_major(minor, currency)
            text = f"{major:,}"  # "1,234.56", "12,000", "1.2345": quoted by the writer when it holds a comma
            when = "2024-03-02 10:00" if paid_at else ""
            out.writerow([f"in_{i}", "cus_1", text, text, currency, status, "2024-03-01 10:00:00", when])
            if status.lower() == "paid" and minor > 0:
                expected[f"in_{i}"] = major
    ds = _read_with(host, path)
    read, loaded, _ = _counts(ds)
    assert (read, loaded) == (len(rows), len(expected))
    orders = _table(ds, "orders")
    assert dict(zip(orders["order_id"], orders["amount"], strict=True)) == expected
    minor_again = [
        int(amount.scaleb(exponent(currency))) for amount, currency in orders.select("amount", "currency").iter_rows()
    ]
    assert minor_again == [rows[int(i.removeprefix("in_"))][0] for i in orders["order_id"]]


# --- detection and bad input -------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "payments.csv",
        "customers_export.csv",
        "subscriptions_export.csv",
        "invoices_export.csv",
        "invoices_export_variants.csv",
        "charges.json",
        "invoices.json",
        "refunds.jsonl",
        "customers.json",
        "subscriptions_current.json",
        "subscriptions_pre_basil.jsonl",
    ],
)
def test_stripe_files_are_recognised(host: _host.Host, name: str) -> None:
    path = FIXTURES / name
    assert stripe.detect(path, path.read_bytes()) == stripe.CONFIDENT == 90
    assert host.detect(path).name == "stripe"


@pytest.mark.parametrize(
    "content",
    [
        b"order_id,customer_id,ordered_at,amount,currency\no1,c1,2024-01-05T10:00:00Z,10.00,USD\n",
        b"customer_id,created_at,email,name\nc1,2024-01-05T10:00:00Z,a@b.c,Ann\n",
        b"subscription_id,customer_id,started_at,ended_at,mrr,currency\ns1,c1,2024-01-05T10:00:00Z,,9,USD\n",
        b" customer_id  date number_of_cds  dollar_value\r\n 00001 19970101  1   11.77\r\n",
        b"00004 0001 19970101  2   29.33\n",
        b"masterid,sampleid,date,cds,sales\n4,1,19970101,2,29.33\n",
        b"Id,Date,CDs,Price\n1,1997-01-01,2,29.33\n",
        b'[{"order_id": "o1", "customer_id": "c1"}]',
        b"id,Amount,Currency\nch_1,1.00,usd\n",  # too few payment columns
        b"id,Amount Due,Amount Paid,Currency\nin_1,1.00,1.00,usd\n",  # an invoices export names a customer, a date
        b"Invoice Number,Customer,Amount Due,Amount Paid,Date (UTC)\n1,c,1,1,2024-01-01 00:00\n",  # id not first
        b"",
    ],
)
def test_other_files_score_zero(tmp_path: Path, content: bytes) -> None:
    assert stripe.detect(tmp_path / "x.csv", content) == 0


def test_canonical_files_stay_with_the_csv_source(host: _host.Host, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes(b"order_id,customer_id,ordered_at,amount,currency\no1,c1,2024-01-05T10:00:00Z,10.00,USD\n")
    assert host.detect(path).name == "csv"


def test_bad_files_and_options(host: _host.Host, tmp_path: Path) -> None:
    unknown = tmp_path / "export.csv"
    unknown.write_text("id,Foo,Bar\n1,2,3\n")
    with pytest.raises(SourceError, match="not a Stripe export"):
        _read_with(host, unknown)
    broken = tmp_path / "broken.json"
    broken.write_text('{\n  "object": "list",\n  "data": [\n    {"id": "ch_1",\n')
    with pytest.raises(SourceError, match=r"invalid JSON at line 5"):
        _read_with(host, broken)
    empty = tmp_path / "empty.json"
    empty.write_text("  \n")
    with pytest.raises(SourceError, match="empty"):
        _read_with(host, empty)
    with pytest.raises(OptionError, match="guests is one of"):
        _read_with(host, FIXTURES / "payments.csv", guests="maybe")
    with pytest.raises(OptionError, match="no option"):
        _read_with(host, FIXTURES / "payments.csv", tz="UTC")
    with pytest.raises(OptionError, match="at least one file"):
        stripe.read([])
    short = tmp_path / "short.csv"
    short.write_text("id,Created date (UTC),Amount,Currency,Status\nch_1,2024-01-01 00:00,1.00,usd,Paid\n")
    with pytest.raises(SourceError, match="Converted Amount"):
        _read_with(host, short, amounts="converted")


def test_json_lines_with_odd_records(host: _host.Host, tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        '{"id": "cus_1", "object": "customer", "created": 1704067200}\n'
        "[1, 2]\n"
        '{"id": "cou_1", "object": "coupon"}\n'
        '{"id": "x"}\n'
        "{not json\n"
    )
    ds = _read_with(host, path)
    assert _counts(ds) == (6, 1, 5)
    assert [(line, column) for line, column, _ in _reasons(ds)] == [
        (2, "json"),
        (2, "json"),
        (3, "object"),
        (4, "object"),
        (5, "json"),
    ]


def test_the_command_line(host: _host.Host, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_read, "default_host", lambda: host)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["read", "stripe", str(FIXTURES / "payments.csv"), "--out", str(out), "-o", "amounts=converted"]
    )
    assert result.exit_code == 0, result.output
    assert "rows read 13 = loaded 8 + rejected 5" in result.output
    assert rl.Dataset.read_parquet(out).require("orders").collect().height == 8


# --- the shared samples ------------------------------------------------------------------------


def _expected_payments(path: Path) -> tuple[Counter[str], Decimal]:
    """Reasons and loaded total of a payments export under the default policies, computed with csv."""
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    by_email = {r["Customer Email"].lower(): r["Customer ID"] for r in rows if r["Customer ID"] and r["Customer Email"]}
    outcome: Counter[str] = Counter()
    total = Decimal(0)
    for r in rows:
        amount = Decimal(r["Amount"].replace(",", ""))
        refunded = Decimal(r["Amount Refunded"].replace(",", "") or "0")
        customer = r["Customer ID"] or by_email.get(r["Customer Email"].lower()) or r["Customer Email"]
        if not r["id"]:
            outcome[f"id: incomplete payment, no charge ({r['Status']})"] += 1
        elif r["Status"] not in ("Paid", "Refunded"):
            outcome[f"Status: not a succeeded payment ({r['Status']})"] += 1
        elif amount - refunded <= 0:
            outcome["Amount Refunded: fully refunded"] += 1
        elif not customer:
            outcome["Customer ID: no customer or e-mail (guest payment)"] += 1
        else:
            outcome["loaded"] += 1
            total += amount - refunded
    return outcome, total


PAYMENT_SAMPLES = {
    "unified_payments.rrh1441_machine.pseudonymized.csv": (316, 222),
    "unified_payments.Ra7422_meedi8.pseudonymized.csv": (11, 3),
    "unified_payments.brknt_checkout_service.testmode.csv": (6, 0),
    "unified_payments.header_only.all_columns.streaming-overlays.csv": (0, 0),
}


@pytest.mark.reference
@pytest.mark.parametrize("name", sorted(PAYMENT_SAMPLES))
def test_the_payments_samples(host: _host.Host, shared_data: Path, name: str) -> None:
    path = shared_data / STRIPE / name
    expected, total = _expected_payments(path)
    assert host.detect(path).name == "stripe"
    ds = _read_with(host, path)
    read, loaded, _ = _counts(ds)
    assert (read, loaded) == PAYMENT_SAMPLES[name] == (sum(expected.values()), expected["loaded"])
    assert ds.report is not None
    got = Counter(dict(ds.report.reasons().select("reason", "rows").iter_rows()))
    assert got == Counter({k: v for k, v in expected.items() if k != "loaded"})
    orders = _table(ds, "orders")
    assert orders["amount"].sum() == total
    assert orders["order_id"].n_unique() == orders.height


API_SAMPLES = {
    "api_fixture_charge.stripe_openapi_fixtures3.json": ("orders", "captured: authorised but not captured"),
    "api_fixture_invoice.stripe_openapi_fixtures3.json": ("orders", "status: invoice not paid (draft)"),
    "api_fixture_invoice.pre_basil_2024-06.stripe_openapi_fixtures3.json": (
        "orders",
        "status: invoice not paid (draft)",
    ),
    # stripe-mock's synthetic subscriptions start, end their trial and end at one instant (1234567890).
    "api_fixture_subscription.stripe_openapi_fixtures3.json": (
        "subscriptions",
        "ended_at: ended within its free trial (never paid)",
    ),
    "api_fixture_subscription.pre_basil_2024-06.stripe_openapi_fixtures3.json": (
        "subscriptions",
        "ended_at: ended within its free trial (never paid)",
    ),
    "api_fixture_refund.stripe_openapi_fixtures3.json": (
        "",
        "object: refunds are not orders (they reduce their charge's amount)",
    ),
    "api_fixture_coupon.stripe_openapi_fixtures3.json": ("", "object: coupon objects are not read"),
    "api_fixture_discount.stripe_openapi_fixtures3.json": ("", "object: discount objects are not read"),
    "api_fixture_price.stripe_openapi_fixtures3.json": ("", "object: price objects are not read"),
    "api_fixture_customer.stripe_openapi_fixtures3.json": ("customers", ""),
}


@pytest.mark.reference
@pytest.mark.parametrize("name", sorted(API_SAMPLES))
def test_the_api_samples(host: _host.Host, shared_data: Path, name: str) -> None:
    path = shared_data / STRIPE / name
    objects = json.loads(path.read_text())
    assert isinstance(objects, dict)  # each sample holds one object
    table, reason = API_SAMPLES[name]
    assert host.detect(path).name == "stripe"
    ds = _read_with(host, path)
    assert ds.report is not None
    assert [(f.table, f.rows_read) for f in ds.report.files] == [(table, 1)]
    if reason:
        assert _counts(ds) == (1, 0, 1)
        assert ds.report.rejects["reason"].item().startswith(reason)
    else:
        assert _counts(ds) == (1, 1, 0)
        assert _table(ds, "customers").rows() == [(objects["id"], _epoch(objects["created"]), None, None)]


@pytest.mark.reference
def test_all_samples_together(host: _host.Host, shared_data: Path) -> None:
    paths = sorted((shared_data / STRIPE).glob("*.json")) + sorted((shared_data / STRIPE).glob("*.csv"))
    ds = _read_with(host, *paths)
    assert _counts(ds) == (10 + 333, 1 + 225, 9 + 108)


# --- property: any payments export balances and agrees with the csv-module count ----------------

_HEADER = [
    "id",
    "Created date (UTC)",
    "Amount",
    "Amount Refunded",
    "Currency",
    "Status",
    "Customer ID",
    "Customer Email",
]
_ROW = st.tuples(
    st.sampled_from(["", "ch_", "py_"]),
    st.sampled_from(["2024-03-01 10:00:00", "2024-03-01 10:00"]),
    st.integers(1, 10**8),
    st.integers(0, 10**8),
    st.sampled_from(["usd", "eur", "jpy"]),
    st.sampled_from(["Paid", "Failed", "Refunded", "requires_payment_method"]),
    st.sampled_from(["", "cus_1", "cus_2"]),
    st.sampled_from(["", "a@example.com", "B@example.com"]),
)


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=st.lists(_ROW, max_size=30))
def test_any_payments_export_is_accounted_for(host: _host.Host, tmp_path: Path, rows: list[Any]) -> None:
    path = tmp_path / "payments.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(_HEADER)
        for i, (prefix, when, cents, refunded, currency, status, customer, email) in enumerate(rows):
            refund = min(refunded, cents) if status != "Refunded" else cents
            amount = f"{to_major(cents, currency):,}"  # thousands separators, quoted by the writer; whole yen
            payment_id = f"{prefix}{i}" if prefix else ""
            out.writerow([payment_id, when, amount, f"{to_major(refund, currency)}", currency, status, customer, email])
    expected, total = _expected_payments(path)
    ds = _read_with(host, path)
    read, loaded, _ = _counts(ds)
    assert (read, loaded) == (len(rows), expected["loaded"])
    assert ds.report is not None
    assert Counter(dict(ds.report.reasons().select("reason", "rows").iter_rows())) == Counter(
        {k: v for k, v in expected.items() if k != "loaded"}
    )
    assert _table(ds, "orders")["amount"].sum() == total


# --- trials ------------------------------------------------------------------------------------

_TRIAL_START, _TRIAL_END, _PERIOD_END = 1704067200, 1705276800, 1707955200  # 2024-01-01, -01-15, -02-15


def _trial_subscription(status: str, **fields: Any) -> dict[str, Any]:
    price = {"currency": "usd", "unit_amount": 1500, "recurring": {"interval": "month", "interval_count": 1}}
    return {
        "id": f"sub_{status}",
        "object": "subscription",
        "customer": "cus_t",
        "status": status,
        "start_date": _TRIAL_START,
        "trial_end": _TRIAL_END,
        "cancel_at_period_end": False,
        "ended_at": None,
        "discounts": [],
        "items": {"object": "list", "data": [{"id": "si_1", "quantity": 1, "price": price}]},
        **fields,
    }


def test_a_trialing_subscription_starts_when_its_trial_ends(host: _host.Host, tmp_path: Path) -> None:
    # The same subscription seen in its trial and a month later: one segment, whatever the day of the export.
    during = tmp_path / "during.json"
    during.write_text(json.dumps(_trial_subscription("trialing", current_period_end=_TRIAL_END)))
    after = tmp_path / "after.json"
    after.write_text(json.dumps(_trial_subscription("active", current_period_end=_PERIOD_END)))
    segments = [_table(_read_with(host, path), "subscriptions").drop("subscription_id") for path in (during, after)]
    assert_frame_equal(segments[0], segments[1])
    assert segments[0].rows() == [("cus_t", _utc(2024, 1, 15), None, Decimal(15), "USD")]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"cancel_at_period_end": True, "current_period_end": _TRIAL_END}, "ended_at: ended within its free trial"),
        ({"cancel_at": _TRIAL_END - 86400}, "ended_at: ended within its free trial"),
        ({"trial_end": None}, "trial_end: missing (a trialing subscription starts when its trial ends)"),
    ],
)
def test_a_trial_cancelled_or_without_its_end_is_rejected(
    host: _host.Host, tmp_path: Path, fields: dict[str, Any], reason: str
) -> None:
    path = tmp_path / "subscriptions.json"
    path.write_text(json.dumps(_trial_subscription("trialing", **fields)))
    ds = _read_with(host, path)
    assert _counts(ds) == (1, 0, 1)
    assert _reasons(ds)[0][2].startswith(reason)


def test_a_trial_cancelled_within_it_stays_rejected_in_the_export(host: _host.Host, tmp_path: Path) -> None:
    path = tmp_path / "subscriptions.csv"
    path.write_text(
        "id,Customer ID,Status,Start Date (UTC),Current Period End (UTC),Trial End (UTC),Canceled At (UTC),"
        "Cancel At Period End,Ended At (UTC),Amount,Currency,Interval\n"
        "sub_1,cus_1,trialing,2024-01-01 00:00,2024-01-15 00:00,2024-01-15 00:00,2024-01-05 00:00,true,,"
        "9.00,usd,month\n"
        "sub_2,cus_2,canceled,2024-01-01 00:00,2024-01-15 00:00,2024-01-15 00:00,2024-01-05 00:00,false,"
        "2024-01-05 00:00,9.00,usd,month\n"
        "sub_3,cus_3,trialing,2024-01-01 00:00,2024-01-15 00:00,,,false,,9.00,usd,month\n"
        "sub_4,cus_4,trialing,2024-01-01 00:00,2024-01-15 00:00,2024-01-15 00:00,,false,,9.00,usd,month\n"
        "sub_5,cus_5,active,2024-01-01 00:00,2024-02-01 00:00,2024-01-15 00:00,,false,someday,9.00,usd,month\n"
    )
    ds = _read_with(host, path)
    assert _table(ds, "subscriptions").rows() == [("sub_4", "cus_4", _utc(2024, 1, 15), None, Decimal(9), "USD")]
    assert _reasons(ds) == [
        (2, "Ended At (UTC)", "Ended At (UTC): ended within its free trial (never paid)"),
        (3, "Ended At (UTC)", "Ended At (UTC): ended within its free trial (never paid)"),
        (4, "Trial End (UTC)", "Trial End (UTC): missing (a trialing subscription starts when its trial ends)"),
        (6, "Ended At (UTC)", "Ended At (UTC): not a date (expected YYYY-MM-DD HH:MM[:SS], UTC)"),
    ]


def test_the_trials_option(host: _host.Host, tmp_path: Path) -> None:
    for name in ("subscriptions_export.csv", "subscriptions_current.json"):
        ds = _read_with(host, FIXTURES / name, trials="reject")
        trialing = [r for r in _reasons(ds) if "trial" in r[2] and r[1] in ("Status", "status")]
        assert [reason for _, _, reason in trialing] == [
            f"{trialing[0][1]}: in its free trial (option trials='reject')"
        ]
        assert "sub_trialing" not in _table(ds, "subscriptions")["subscription_id"].to_list()
    with pytest.raises(OptionError, match=r"trials is one of 'load', 'reject', got 'maybe'"):
        _read_with(host, FIXTURES / "subscriptions_current.json", trials="maybe")


# --- amounts: strict in exports, bounded everywhere ---------------------------------------------

_STRICT_ROWS = [  # id, Amount, Amount Refunded, Currency -> the reason, or None when loaded (then its amount)
    ("ch_rounded", "9.99999", "0.00", "usd", "Amount: more decimal places than USD has (2)"),
    ("ch_cents", "9.999", "0.00", "usd", "Amount: more decimal places than USD has (2)"),
    ("ch_yen", "12000.5", "0", "jpy", "Amount: more decimal places than JPY has (0)"),
    ("ch_comma", "12,34", "0.00", "eur", "Amount: a comma that does not group thousands"),
    ("ch_exponent", "1e3", "0.00", "usd", "Amount: exponent notation is not an amount"),
    ("ch_negative", "-5.00", "0.00", "usd", "Amount: negative"),
    ("ch_refund", "5.00", "-1.00", "usd", "Amount Refunded: negative"),
    ("ch_huge", "1" + "0" * 20, "0.00", "usd", "Amount: out of range (at most 20 integer digits)"),
    ("ch_money", "9" * 20 + ".99", "0.00", "usd", None),
    ("ch_grouped", "1,000.00", "0.00", "usd", None),
    ("ch_zeros", "8.000", "0.00", "usd", None),
    ("ch_kwd", "1,234.567", "0.000", "kwd", None),
    ("ch_yen_grouped", "12,000", "0", "jpy", None),
]


def test_export_amounts_are_parsed_strictly(host: _host.Host, tmp_path: Path) -> None:
    path = tmp_path / "payments.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["id", "Created date (UTC)", "Amount", "Amount Refunded", "Currency", "Status", "Customer ID"])
        for payment, amount, refunded, currency, _ in _STRICT_ROWS:
            out.writerow([payment, "2024-03-01 10:00:00", amount, refunded, currency, "Paid", "cus_1"])
        out.writerow(["ch_blank_customer", "2024-03-01 10:00:00", "1.00", "0.00", "usd", "Paid", " "])
    ds = _read_with(host, path)
    reasons = {line: reason for line, _, reason in _reasons(ds)}
    for line, (_, _, _, _, reason) in enumerate(_STRICT_ROWS, 2):
        if reason is None:
            assert line not in reasons
        else:
            assert reasons[line].startswith(reason)
    assert reasons[len(_STRICT_ROWS) + 2] == "Customer ID: no customer or e-mail (guest payment)"
    amounts = dict(_table(ds, "orders").select("order_id", "amount").iter_rows())
    assert amounts == {
        "ch_money": Decimal("99999999999999999999.99"),
        "ch_grouped": Decimal(1000),
        "ch_zeros": Decimal(8),
        "ch_kwd": Decimal("1234.567"),
        "ch_yen_grouped": Decimal(12000),
    }


def test_invoice_and_subscription_export_amounts_are_strict_too(host: _host.Host, tmp_path: Path) -> None:
    invoices = tmp_path / "invoices.csv"
    invoices.write_text(
        "id,Customer,Amount Due,Amount Paid,Post Payment Credit Notes Amount,Currency,Status,Date (UTC)\n"
        "in_1,cus_1,10.00,1e1,0,usd,paid,2024-03-01 10:00\n"
        "in_2,cus_1,10.00,10.00,-2.00,usd,paid,2024-03-01 10:00\n"
        'in_3,cus_1,10.00,"10,5",0,usd,paid,2024-03-01 10:00\n'
    )
    assert [reason for _, _, reason in _reasons(_read_with(host, invoices))] == [
        "Amount Paid: exponent notation is not an amount (1e3: write 1000.00)",
        "Post Payment Credit Notes Amount: negative",
        "Amount Paid: a comma that does not group thousands (a decimal comma? the Dashboard writes 1,000.00)",
    ]
    subscriptions = tmp_path / "subscriptions.csv"
    subscriptions.write_text(
        "id,Customer ID,Status,Start Date (UTC),Current Period End (UTC),Amount,Currency,Quantity,Interval\n"
        "sub_1,cus_1,active,2024-01-01 00:00,2024-02-01 00:00,15.001,usd,1,month\n"
        f"sub_2,cus_2,active,2024-01-01 00:00,2024-02-01 00:00,{'9' * 19},usd,1000,month\n"
    )
    assert [reason for _, _, reason in _reasons(_read_with(host, subscriptions))] == [
        "Amount: more decimal places than USD has (2)",
        "mrr: out of range (at most 20 integer digits)",
    ]


def test_api_amounts_out_of_range_are_rejected(host: _host.Host, tmp_path: Path) -> None:
    base = {"status": "succeeded", "currency": "usd", "customer": "cus_1", "created": 1704067200}
    objects = [
        {"object": "charge", "id": "ch_fits", "amount": 10**21 - 1, **base},  # 9,999,999,999,999,999,999.99 USD
        {"object": "charge", "id": "ch_big", "amount": 10**26, **base},
        {"object": "charge", "id": "ch_refunded", "amount": 500, "amount_refunded": 10**40, **base},
        {"object": "charge", "id": "ch_blank", "amount": 500, **{**base, "customer": " "}},
        {"object": "invoice", "id": "in_big", "amount_paid": 10**36, **{**base, "status": "paid"}},
        {"object": "refund", "id": "re_big", "charge": "ch_fits", "amount": 10**30, "currency": "usd"},
        _trial_subscription("active", items={"data": [{"price": {"currency": "usd", "unit_amount": 10**30,
                                                                 "recurring": {"interval": "month"}}}]}),
    ]  # fmt: skip
    path = tmp_path / "objects.json"
    path.write_text(json.dumps(objects))
    ds = _read_with(host, path)
    assert _table(ds, "orders").select("order_id", "amount").rows() == [("ch_fits", Decimal("9999999999999999999.99"))]
    assert _reasons(ds) == [
        (2, "amount", "amount: out of range (at most 20 integer digits)"),
        (3, "amount_refunded", "amount_refunded: out of range (at most 20 integer digits)"),
        (4, "customer", "customer: no customer or e-mail (guest payment)"),
        (5, "amount_paid", "amount_paid: out of range (at most 20 integer digits)"),
        (6, "amount", "amount: out of range (at most 20 integer digits)"),  # a refund that cannot be applied
        (7, "items", "items: unit amount out of range (at most 20 integer digits)"),
    ]


def test_json_that_python_cannot_hold_is_rejected_or_refused(host: _host.Host, tmp_path: Path) -> None:
    lines = tmp_path / "objects.jsonl"
    lines.write_text(
        '{"object": "customer", "id": "cus_1", "created": 1704067200}\n'
        f'{{"object": "charge", "amount": {"9" * 5000}}}\n' + "[" * 100_000 + "\n"
    )
    ds = _read_with(host, lines)
    assert [(line, reason.split(":")[1].strip()) for line, _, reason in _reasons(ds)] == [
        (2, "invalid JSON"),
        (3, "invalid JSON"),
    ]
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000)
    with pytest.raises(SourceError, match="nested too deeply") as raised:
        _read_with(host, deep)
    assert raised.value.file == deep
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"object": "customer", "id": "caf\xe9"}')
    with pytest.raises(SourceError, match=r"not valid UTF-8 at line 1 \(byte 33\)"):
        _read_with(host, latin)


# --- blank lines and malformed files ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["payments.csv", "customers_export.csv", "subscriptions_export.csv", "invoices_export.csv"]
)
def test_blank_lines_are_neither_read_nor_rejected(host: _host.Host, tmp_path: Path, name: str) -> None:
    lines = (FIXTURES / name).read_text(encoding="utf-8").splitlines()
    header = lines[0]
    records = [line for line in lines[1:] if line.strip()]
    blank = ["", "   ", "\t", "," * header.count(","), " , ,"]
    text = "\r\n".join([header, blank[0], *[f"{r}\r\n{blank[i % len(blank)]}" for i, r in enumerate(records)], ""])
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    plain = tmp_path / f"plain_{name}"
    plain.write_text("\n".join([header, *records, ""]), encoding="utf-8")
    ds, reference = _read_with(host, path), _read_with(host, plain)
    assert _counts(ds) == _counts(reference)
    assert _counts(ds)[0] == len(records)
    # Line numbers stay those of the file: record k (from 0) is on line 3 + 2k.
    assert [line for line, _, _ in _reasons(ds)] == [3 + 2 * (line - 2) for line, _, _ in _reasons(reference)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('ch_1,2024-03-01 10:00,"1.00,usd,Paid\nch_2,2024-03-01 10:00,1.00,usd,Paid\n', "at line 3"),
        ("ch_1,2024-03-01 10:00,1.00,usd,Paid\nch_2,2024-03-01 10:00,1.00,usd,Paid,extra\n", "at line 3 \\(6 fields"),
        ('ch_1,2024-03-01 10:00,1.00,usd,Pa"id\n', "at line 2 \\(a quote inside a field"),
    ],
)
def test_a_malformed_csv_names_its_file_and_line(host: _host.Host, tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "payments.csv"
    path.write_text("id,Created date (UTC),Amount,Currency,Status\n" + content)
    with pytest.raises(SourceError, match=f"cannot read as CSV {message}") as raised:
        _read_with(host, path)
    assert raised.value.file == path
    assert raised.value.__cause__ is None  # the source's own error, not the host's wrapper of a raw one


def test_a_quote_in_the_header_is_refused_rather_than_reading_nothing(host: _host.Host, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text('id,D"escription,Email,Created (UTC),Delinquent\ncus_1,,a@b.c,2024-01-01 00:00,false\n')
    with pytest.raises(SourceError, match="a quote inside the header's column name 'D\"escription'"):
        _read_with(host, path)
