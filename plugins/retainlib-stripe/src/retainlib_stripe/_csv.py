"""Stripe Dashboard CSV exports: payments (``unified_payments.csv``) and customers, read lazily.

Every field is read as a string (``infer_schema=False``) and coerced with
polars expressions; each record gets one reason or none, and the frame is
split into loaded rows and rejects.  No Python object is made per row.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path

import polars as pl

from retainlib.errors import SourceError
from retainlib.report import FileLoad
from retainlib.tables import MONEY, TIMESTAMP
from retainlib_stripe._options import Options

__all__ = [
    "CUSTOMER_COLUMNS",
    "PAYMENT_COLUMNS",
    "SUCCEEDED",
    "duplicate_of",
    "guest_customer",
    "guest_reason",
    "header",
    "kind_of",
    "pick",
    "read_customers",
    "read_payments",
]

#: Columns every payments export has (users choose the others; ``id`` always comes first).
PAYMENT_COLUMNS = ("id", "Created date (UTC)", "Amount", "Currency", "Status")
#: Columns of the customers export that the source needs.
CUSTOMER_COLUMNS = ("id", "Email", "Created (UTC)")
#: Columns only the customers export has (one of them must be present, to tell it from other exports).
_CUSTOMER_MARKS = ("Delinquent", "Total Spend", "Payment Count", "Refunded Volume", "Dispute Losses", "Plan")
#: ``Status`` values (lower-cased) of a payment that succeeded (refunds are taken off its amount).
SUCCEEDED = ("paid", "succeeded", "refunded", "partially refunded", "partially_refunded")
#: Date format of Stripe exports, all in UTC (``HH:MM`` without seconds is read too).
DATE_FORMAT = "%Y-%m-%d %H:%M:%S%.f"
DATE_HINT = "not a date (expected YYYY-MM-DD HH:MM[:SS], UTC)"
_NUMBER = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$"
_LINE, _REASON, _EMAIL = "_line", "_reason", "_email"
_API_REFUNDED = "_api_refunded"
_STATUS, _AMOUNT, _REFUNDED, _REFUNDED_BAD = "_status", "_amount", "_refunded", "_refunded_bad"
_CAPTURED, _DUPLICATE = "_captured", "_duplicate"
#: Payments export columns that link a payment to an invoice: its invoice, its charge id, its PaymentIntent.
_LINK_COLUMNS = ("Invoice ID", "id", "PaymentIntent ID")
_COUNTED_ONCE = " (counted once, as the invoice)"


def header(head: bytes) -> list[str]:
    """The column names of a CSV file's first line."""
    text = head.decode("utf-8", errors="replace").removeprefix("\ufeff")
    first = text.split("\n", 1)[0].rstrip("\r")
    try:
        return next(csv.reader(io.StringIO(first)), [])
    except csv.Error:
        return []


def kind_of(columns: Sequence[str]) -> str | None:
    """``"payments"`` or ``"customers"`` for a Stripe export's header, else ``None``."""
    if not columns or columns[0] != "id":
        return None
    names = set(columns)
    if names >= set(PAYMENT_COLUMNS):
        return "payments"
    if names >= set(CUSTOMER_COLUMNS) and names & set(_CUSTOMER_MARKS):
        return "customers"
    return None


def pick(names: Sequence[str], candidates: Sequence[str]) -> str | None:
    """The first of ``candidates`` that is a column of ``names`` (exact name first, then ignoring case)."""
    for candidate in candidates:
        if candidate in names:
            return candidate
    folded = {name.strip().casefold(): name for name in names}
    return next((folded[c.casefold()] for c in candidates if c.casefold() in folded), None)


def duplicate_of(invoice: str) -> str:
    """Why a payment of a loaded invoice is not an order (its reject reason, after the column)."""
    return f"duplicate of invoice {invoice}{_COUNTED_ONCE}"


def _linked(text: pl.Expr, links: Mapping[str, str]) -> pl.Expr:
    """The loaded invoice an id (invoice, charge or PaymentIntent) belongs to; null when none."""
    if not links:
        return pl.lit(None, dtype=pl.String)
    return text.replace_strict(list(links), list(links.values()), default=None, return_dtype=pl.String)


def _duplicate(names: Sequence[str], links: Mapping[str, str]) -> pl.Expr:
    """The reason of a payment row that paid a loaded invoice (the first linking column wins), else null."""
    return pl.coalesce(
        pl.concat_str(
            pl.lit(f"{column}: duplicate of invoice "), _linked(_text(names, column), links), pl.lit(_COUNTED_ONCE)
        )
        for column in _LINK_COLUMNS
    )


def _scan(path: Path) -> tuple[pl.LazyFrame, list[str]]:
    frame = pl.scan_csv(path, infer_schema=False, encoding="utf8-lossy", raise_if_empty=False)
    try:
        names = frame.collect_schema().names()
    except pl.exceptions.PolarsError as exc:
        raise SourceError(f"cannot read as CSV: {exc}", file=path, source="stripe") from None
    return frame.with_row_index(_LINE, offset=2).with_columns(pl.col(_LINE).cast(pl.Int64)), names


def _text(names: Sequence[str], name: str) -> pl.Expr:
    """A column's stripped text, blanks as null (null when the export lacks the column)."""
    if name not in names:
        return pl.lit(None, dtype=pl.String)
    s = pl.col(name).str.strip_chars()
    return pl.when(s != "").then(s)


def _money(text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Major-unit amounts (``"1,000.00"`` included) and whether the text is not a number."""
    plain = text.str.replace_all(",", "", literal=True)
    bad = text.is_not_null() & ~plain.str.contains(_NUMBER).fill_null(False)
    return plain.cast(MONEY, strict=False), bad


def _when(text: pl.Expr) -> pl.Expr:
    """UTC timestamps from ``YYYY-MM-DD HH:MM[:SS[.fff]]`` (one parse: a missing ``:SS`` is added first)."""
    normal = text.str.replace("T", " ", literal=True)
    normal = pl.when(normal.str.len_bytes() == 16).then(normal + ":00").otherwise(normal)
    return normal.str.to_datetime(DATE_FORMAT, strict=False, time_unit="us").dt.replace_time_zone("UTC").cast(TIMESTAMP)


def _split(path: Path, checked: pl.LazyFrame, table: str, columns: Sequence[str]) -> tuple[pl.DataFrame, FileLoad]:
    """Collect ``checked`` once (one pass over the file), then split it into loaded rows and rejects."""
    try:
        frame = checked.collect()
    except pl.exceptions.PolarsError as exc:
        raise SourceError(f"cannot read as CSV: {exc}", file=path, source="stripe") from None
    bad = pl.col(_REASON).is_not_null()
    loaded = frame.filter(~bad).select(columns)
    rejects = frame.filter(bad).select(
        pl.lit(str(path)).alias("file"),
        pl.col(_LINE).alias("line"),
        pl.lit(table).alias("table"),
        pl.col(_REASON).str.splitn(": ", 2).struct.field("field_0").alias("column"),
        pl.col(_REASON).alias("reason"),
    )
    load = FileLoad(file=str(path), table=table, rows_read=frame.height, rows_loaded=loaded.height, rejected=rejects)
    return loaded, load


def guest_customer(options: Options) -> pl.Expr:
    """``customer_id`` under option ``guests``, from the ``customer_id``, ``_email`` and ``order_id`` columns."""
    order_id, email, customer = pl.col("order_id"), pl.col(_EMAIL), pl.col("customer_id")
    if options.guests == "email":
        known = pl.when(email.is_not_null()).then(customer.drop_nulls().first().over(email))
        return pl.coalesce(customer, known, email)
    if options.guests == "payment":
        return pl.coalesce(customer, pl.concat_str(pl.lit("guest:"), order_id))
    return customer


def guest_reason(column: str, options: Options) -> str:
    """The reject reason of a payment or invoice left without a customer by option ``guests``."""
    return f"{column}: no customer" + (" or e-mail" if options.guests == "email" else "") + " (guest payment)"


def read_payments(
    path: Path, options: Options, *, invoice_links: Mapping[str, str], refunds: Mapping[str, Decimal]
) -> tuple[pl.DataFrame, FileLoad]:
    """Orders from a payments export, and its load; see ``docs/stripe.md`` for the policies.

    ``invoice_links`` maps the invoice, charge and PaymentIntent ids of the invoices loaded by the
    same read to the invoice's id: a payment of such an invoice is rejected as its duplicate.
    """
    frame, names = _scan(path)
    converted = options.amounts == "converted"
    amount_col = "Converted Amount" if converted else "Amount"
    refunded_col = "Converted Amount Refunded" if converted else "Amount Refunded"
    currency_col = "Converted Currency" if converted else "Currency"
    missing = [c for c in (amount_col, currency_col) if c not in names]
    if missing:
        raise SourceError(
            f"amounts={options.amounts!r} needs column(s) {', '.join(missing)}, which this export lacks",
            file=path,
            source="stripe",
        )
    if refunds and not converted:
        refund_frame = pl.LazyFrame(
            {"id": list(refunds), _API_REFUNDED: list(refunds.values())}, schema={"id": pl.String, _API_REFUNDED: MONEY}
        )
        frame = frame.join(refund_frame, on="id", how="left", maintain_order="left")
        api_refunded = pl.col(_API_REFUNDED)
    else:
        api_refunded = pl.lit(None, dtype=MONEY)

    # Stage 1: each field parsed once into a named column; stage 2 refers to those columns only.
    stage1 = frame.select(
        pl.col(_LINE),
        _text(names, "id").alias("order_id"),
        _text(names, "Status").alias(_STATUS),
        _when(_text(names, "Created date (UTC)")).alias("ordered_at"),
        _money(_text(names, amount_col))[0].alias(_AMOUNT),
        *(e.alias(n) for e, n in zip(_money(_text(names, refunded_col)), (_REFUNDED, _REFUNDED_BAD), strict=True)),
        _text(names, currency_col).str.to_uppercase().alias("currency"),
        _text(names, "Customer Email").str.to_lowercase().alias(_EMAIL),
        _text(names, "Customer ID").alias("customer_id"),
        _text(names, "Captured").str.to_lowercase().alias(_CAPTURED),
        _duplicate(names, invoice_links).alias(_DUPLICATE),
        api_refunded.alias(_API_REFUNDED),
    )
    payment_id, status = pl.col("order_id"), pl.col(_STATUS)
    refunded_total = pl.max_horizontal(
        pl.col(_REFUNDED).fill_null(Decimal(0)), pl.col(_API_REFUNDED).fill_null(Decimal(0))
    )
    stage2 = stage1.with_columns(
        guest_customer(options).alias("customer_id"),
        refunded_total.alias(_REFUNDED),
        (pl.col(_AMOUNT) - refunded_total).alias("amount"),
    )
    succeeded = status.str.to_lowercase().is_in(SUCCEEDED).fill_null(False)
    reason = (
        pl.when(payment_id.is_null())
        .then(pl.concat_str(pl.lit("id: incomplete payment, no charge ("), status.fill_null("no status"), pl.lit(")")))
        .when(pl.col("ordered_at").is_null())
        .then(pl.lit(f"Created date (UTC): {DATE_HINT}"))
        .when(~succeeded)
        .then(pl.concat_str(pl.lit("Status: not a succeeded payment ("), status.fill_null("no status"), pl.lit(")")))
        .when(pl.col(_CAPTURED) == "false")
        .then(pl.lit("Captured: not captured"))
        .when(pl.col(_DUPLICATE).is_not_null())
        .then(pl.col(_DUPLICATE))
        .when(pl.col(_AMOUNT).is_null())
        .then(pl.lit(f"{amount_col}: missing or not a number"))
        .when(pl.col(_REFUNDED_BAD))
        .then(pl.lit(f"{refunded_col}: not a number"))
        .when(~pl.col("currency").str.contains(r"^[A-Z]{3}$").fill_null(False))
        .then(pl.lit(f"{currency_col}: not an ISO 4217 currency code"))
        .when(pl.col("amount") <= 0)
        .then(
            pl.when(pl.col(_REFUNDED) > 0)
            .then(pl.lit(f"{refunded_col}: fully refunded"))
            .otherwise(pl.lit(f"{amount_col}: not positive"))
        )
        .when(pl.col("customer_id").is_null())
        .then(pl.lit(guest_reason("Customer ID", options)))
    )
    columns = ("order_id", "customer_id", "ordered_at", "amount", "currency", _EMAIL)
    checked = stage2.select(pl.col(_LINE), reason.alias(_REASON), *columns)
    return _split(path, checked, "orders", columns)


def read_customers(path: Path) -> tuple[pl.DataFrame, FileLoad]:
    """Customers from a customers export (``id``, ``Email``, ``Name``, ``Created (UTC)``)."""
    frame, names = _scan(path)
    customer_id = _text(names, "id")
    created = _when(_text(names, "Created (UTC)"))
    reason = (
        pl.when(customer_id.is_null())
        .then(pl.lit("id: empty"))
        .when(created.is_null())
        .then(pl.lit(f"Created (UTC): {DATE_HINT}"))
    )
    checked = frame.select(
        pl.col(_LINE),
        reason.alias(_REASON),
        customer_id.alias("customer_id"),
        created.alias("created_at"),
        _text(names, "Email").str.to_lowercase().alias("email"),
        _text(names, "Name").alias("name"),
    )
    return _split(path, checked, "customers", ("customer_id", "created_at", "email", "name"))
