"""The Dashboard invoices export -> orders (one per paid invoice), read lazily.

No real export was available.  The column names follow code that reads real
exports (``id, Customer, Customer Name, Amount Due, Amount Paid, Paid, Charge,
Date (UTC), Number, Finalized At (UTC), Paid At (UTC), Period End (UTC),
Subscription, Status``...); ``Currency`` and ``Customer Email`` are assumed, as
the other Dashboard exports have them.  Each field is looked up under a few
variants (with or without ``(UTC)``, ``Customer`` or ``Customer ID``), and an
export lacking what an order needs is refused with the columns it lacks.  The
policies are those of API invoices (``docs/stripe.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from retainlib.errors import SourceError
from retainlib.load_report import FileLoad
from retainlib_stripe._csv import (
    _EMAIL,
    _LINE,
    _REASON,
    DATE_HINT,
    _because,
    _money,
    _scan,
    _split,
    _text,
    _when,
    guest_customer,
    guest_reason,
    pick,
)
from retainlib_stripe._options import Options

__all__ = ["COLUMNS", "is_invoices", "read_invoices"]

#: Field -> the column names it is looked for under, in order (exact name first, then ignoring case).
COLUMNS: dict[str, tuple[str, ...]] = {
    "customer": ("Customer", "Customer ID"),
    "email": ("Customer Email", "Email"),
    "amount_due": ("Amount Due",),
    "amount_paid": ("Amount Paid",),
    "credited": ("Post Payment Credit Notes Amount",),
    "currency": ("Currency",),
    "status": ("Status",),
    "paid": ("Paid",),
    "date": ("Date (UTC)", "Date", "Created (UTC)", "Created"),
    "paid_at": ("Paid At (UTC)", "Paid At"),
    "charge": ("Charge", "Charge ID"),
    "payment_intent": ("Payment Intent", "PaymentIntent ID", "Payment Intent ID"),
}
#: Fields without which no row can be an order.
_REQUIRED = ("amount_paid", "currency", "date")
_LOADED = ("order_id", "customer_id", "ordered_at", "amount", "currency", _EMAIL)
_CHARGE, _INTENT = "_charge", "_payment_intent"


def is_invoices(columns: Sequence[str]) -> bool:
    """Whether a header is the invoices export's: ``id`` first, amounts due and paid, a customer and a date."""
    if not columns or columns[0] != "id":
        return False
    return all(pick(columns, COLUMNS[field]) for field in ("amount_due", "amount_paid", "customer", "date"))


def read_invoices(path: Path, options: Options) -> tuple[pl.DataFrame, FileLoad, dict[str, str]]:
    """Orders from an invoices export, its load, and the links of the loaded invoices.

    The links map each loaded invoice's id, ``Charge`` and PaymentIntent to the
    invoice's id, so that the payments of those invoices, read in the same call,
    are rejected as duplicates rather than counted twice.
    """
    frame, names = _scan(path)
    found = {field: pick(names, candidates) for field, candidates in COLUMNS.items()}
    missing = [COLUMNS[field][0] for field in _REQUIRED if found[field] is None]
    if found["status"] is None and found["paid"] is None:
        missing.append("Status (or Paid)")
    if missing:
        raise SourceError(
            f"this invoices export lacks {', '.join(missing)}: an order needs each paid invoice's amount, currency "
            "and date; export with those columns, or read the invoices from the API",
            file=path,
            source="stripe",
        )

    def text(field: str) -> pl.Expr:
        column = found[field]
        return _text(names, column) if column is not None else pl.lit(None, dtype=pl.String)

    def name(field: str) -> str:
        return found[field] or COLUMNS[field][0]

    currency = text("currency").str.to_uppercase()
    amount, amount_why = _money(text("amount_paid"), currency)
    credited, credited_why = _money(text("credited"), currency)
    stage1 = frame.select(
        pl.col(_LINE),
        _text(names, "id").alias("order_id"),
        text("status").alias("_status"),
        text("paid").str.to_lowercase().alias("_paid"),
        _when(text("date")).alias("_date"),
        text("paid_at").alias("_paid_at_text"),
        _when(text("paid_at")).alias("_paid_at"),
        amount.alias("_amount"),
        amount_why.alias("_amount_why"),
        credited.fill_null(0).alias("_credited"),
        credited_why.alias("_credited_why"),
        currency.alias("currency"),
        text("email").str.to_lowercase().alias(_EMAIL),
        text("customer").alias("customer_id"),
        text("charge").alias(_CHARGE),
        text("payment_intent").alias(_INTENT),
    )
    stage2 = stage1.with_columns(
        guest_customer(options).alias("customer_id"),
        pl.coalesce("_paid_at", "_date").alias("ordered_at"),
        (pl.col("_amount") - pl.col("_credited")).alias("amount"),
    )
    status = pl.col("_status")
    paid = (
        pl.when(status.is_not_null())
        .then(status.str.to_lowercase() == "paid")
        .otherwise(pl.col("_paid") == "true")
        .fill_null(False)
    )
    said = (status, "no status") if found["status"] is not None else (pl.col("_paid"), "empty")
    not_paid = pl.concat_str(
        pl.lit(f"{name('status') if found['status'] else name('paid')}: invoice not paid ("),
        pl.coalesce(said[0], pl.lit(said[1])),
        pl.lit(")"),
    )
    reason = (
        pl.when(pl.lit(options.invoices == "skip"))
        .then(pl.lit("id: invoices are not read (option invoices='skip')"))
        .when(pl.col("order_id").is_null())
        .then(pl.lit("id: empty"))
        .when(~paid)
        .then(not_paid)
        .when(pl.col("_date").is_null())
        .then(pl.lit(f"{name('date')}: {DATE_HINT}"))
        .when(pl.col("_paid_at_text").is_not_null() & pl.col("_paid_at").is_null())
        .then(pl.lit(f"{name('paid_at')}: {DATE_HINT}"))
        .when(pl.col("_amount_why").is_not_null())
        .then(_because(name("amount_paid"), pl.col("_amount_why")))
        .when(pl.col("_amount").is_null())
        .then(pl.lit(f"{name('amount_paid')}: missing"))
        .when(pl.col("_credited_why").is_not_null())
        .then(_because(name("credited"), pl.col("_credited_why")))
        .when(~pl.col("currency").str.contains(r"^[A-Z]{3}$").fill_null(False))
        .then(pl.lit(f"{name('currency')}: not an ISO 4217 currency code"))
        .when(pl.col("_amount") <= 0)
        .then(pl.lit(f"{name('amount_paid')}: nothing paid (a free trial, a 100% discount or a credit balance)"))
        .when(pl.col("amount") <= 0)
        .then(pl.lit(f"{name('credited')}: fully credited after payment"))
        .when(pl.col("customer_id").is_null())
        .then(pl.lit(guest_reason(name("customer"), options)))
    )
    checked = stage2.select(pl.col(_LINE), reason.alias(_REASON), *_LOADED, _CHARGE, _INTENT)
    loaded, load = _split(path, checked, "orders", (*_LOADED, _CHARGE, _INTENT))
    pairs = pl.concat(loaded.select(pl.col(key).alias("key"), "order_id") for key in ("order_id", _CHARGE, _INTENT))
    links = dict(pairs.drop_nulls().iter_rows())
    return loaded.select(_LOADED), load, links
