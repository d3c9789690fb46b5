"""Stripe Dashboard CSV exports: payments (``unified_payments.csv``) and customers, read lazily.

Every field is read as a string (``infer_schema=False``) and coerced with
polars expressions; each record gets one reason or none, and the frame is
split into loaded rows and rejects.  No Python object is made per row.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path

import polars as pl

from retainlib.errors import SourceError
from retainlib.report import FileLoad
from retainlib.tables import CURRENCY_PATTERN, MONEY, MONEY_LIMIT, TIMESTAMP
from retainlib_stripe._currency import OUT_OF_RANGE, places
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
#: An amount as the Dashboard writes it: digits, a ``.`` fraction, and thousands grouped by ``,`` (``1,000.00``).
_PLAIN = r"^[0-9]+(\.[0-9]+)?$"
_GROUPED = r"^[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?$"
_EXPONENT = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)[eE][+-]?[0-9]+$"
#: Polars' message of a CSV that does not parse can quote the rest of the file: this much of it is shown.
_MESSAGE_CHARS = 200
_LINE, _REASON, _EMAIL = "_line", "_reason", "_email"
_API_REFUNDED = "_api_refunded"
_STATUS, _AMOUNT, _REFUNDED, _AMOUNT_WHY, _REFUNDED_WHY = (
    "_status",
    "_amount",
    "_refunded",
    "_amount_why",
    "_refunded_why",
)
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


def _malformed(path: Path, exc: Exception) -> SourceError:
    """The error of a file that does not parse as CSV, with the line at fault when the csv module finds it."""
    message = " ".join(str(exc).split())
    if len(message) > _MESSAGE_CHARS:
        message = message[:_MESSAGE_CHARS] + "..."
    return SourceError(f"cannot read as CSV{_fault(path)}: {message}", file=path, source="stripe")


def _fault(path: Path) -> str:
    """`` at line N (why)`` for the first line at fault in a file polars cannot parse, else ``""``.

    Only on the error path: a record the csv module finds malformed or longer than the header, else
    the first line with a quote inside a field that does not start with one (polars refuses those).
    """
    with path.open(encoding="utf-8", errors="replace", newline="") as f:
        rows = csv.reader(f, strict=True)
        width = 0
        try:
            for row in rows:
                width = width or len(row)
                if len(row) > width:
                    return f" at line {rows.line_num} ({len(row)} fields, the header has {width})"
        except csv.Error as exc:
            return f" at line {rows.line_num} ({exc})"
    with path.open(encoding="utf-8", errors="replace", newline="") as f:
        for number, line in enumerate(f, 1):
            if re.search(r'(^|,)[^",\r\n]+"', line):
                return f" at line {number} (a quote inside a field that is not quoted?)"
    return ""


def _scan(path: Path) -> tuple[pl.LazyFrame, list[str]]:
    """The file's records as strings with their line numbers; blank lines are not records and are left out.

    A blank line is a record whose every field is empty or white space (an empty line, or one holding
    only separators): it carries nothing to load or reject.
    """
    frame = pl.scan_csv(path, infer_schema=False, encoding="utf8-lossy", raise_if_empty=False)
    try:
        names = frame.collect_schema().names()
    except pl.exceptions.PolarsError as exc:
        raise _malformed(path, exc) from None
    quoted = [name for name in names if '"' in name]
    if quoted:  # polars would then read no record at all, without a word
        raise SourceError(
            f"cannot read as CSV: a quote inside the header's column name {quoted[0]!r}", file=path, source="stripe"
        )
    numbered = frame.with_row_index(_LINE, offset=2).with_columns(pl.col(_LINE).cast(pl.Int64))
    if not names:
        return numbered, names
    blank = pl.all_horizontal((pl.col(name).str.strip_chars() == "").fill_null(True) for name in names)
    return numbered.filter(~blank), names


def _text(names: Sequence[str], name: str) -> pl.Expr:
    """A column's stripped text, blanks as null (null when the export lacks the column)."""
    if name not in names:
        return pl.lit(None, dtype=pl.String)
    s = pl.col(name).str.strip_chars()
    return pl.when(s != "").then(s)


def _money(text: pl.Expr, currency: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Major-unit amounts in ``currency`` and, for text that is not one, why (null when it is, or is blank).

    Strict: digits with a ``.`` fraction and ``,`` grouping thousands (``1,000.00``, ``12,000``),
    no more significant decimal places than the currency's minor unit (at most 4; trailing zeros do
    not count), no sign, no exponent, no decimal comma, below ``MONEY_LIMIT`` (20 integer digits).
    """
    plain = text.str.replace_all(",", "", literal=True)
    # Leading zeros and the fraction's trailing zeros carry nothing: "0012.500" is 12.5.
    normal = plain.str.replace(r"^0+([0-9])", "${1}").str.replace(r"(\.[0-9]*?)0+$", "${1}").str.replace(r"\.$", "")
    decimals = normal.str.extract(r"\.([0-9]+)$", 1).str.len_chars().fill_null(0)
    allowed = places(currency)
    value = normal.cast(MONEY, strict=False)
    why = (
        pl.when(text.is_null())
        .then(pl.lit(None, dtype=pl.String))
        .when(plain.str.contains(r"^-[0-9]+(\.[0-9]+)?$"))
        .then(pl.lit("negative"))
        .when(text.str.contains(_EXPONENT))
        .then(pl.lit("exponent notation is not an amount (1e3: write 1000.00)"))
        .when(~text.str.contains(_PLAIN) & ~text.str.contains(_GROUPED))
        .then(
            pl.when(text.str.contains(r"^[0-9.,]*,[0-9.,]*$"))
            .then(pl.lit("a comma that does not group thousands (a decimal comma? the Dashboard writes 1,000.00)"))
            .otherwise(pl.lit("not a number"))
        )
        .when(decimals > allowed)
        .then(
            pl.when(currency.str.contains(CURRENCY_PATTERN.pattern))
            .then(pl.format("more decimal places than {} has ({})", currency, allowed))
            .otherwise(pl.format("more than {} decimal places", allowed))
        )
        .when(value.is_null() | (value.abs() >= pl.lit(MONEY_LIMIT, dtype=MONEY)))
        .then(pl.lit(OUT_OF_RANGE))
    )
    return pl.when(why.is_null()).then(value), why


def _because(column: str, why: pl.Expr) -> pl.Expr:
    """``"<column>: <why>"`` (null when ``why`` is)."""
    return pl.concat_str(pl.lit(f"{column}: "), why)


def _when(text: pl.Expr) -> pl.Expr:
    """UTC timestamps from ``YYYY-MM-DD HH:MM[:SS[.fff]]`` (one parse: a missing ``:SS`` is added first)."""
    normal = text.str.replace("T", " ", literal=True)
    normal = pl.when(normal.str.len_bytes() == 16).then(normal + ":00").otherwise(normal)
    return normal.str.to_datetime(DATE_FORMAT, strict=False, time_unit="us").dt.replace_time_zone("UTC").cast(TIMESTAMP)


def _collect(path: Path, plan: pl.LazyFrame) -> pl.DataFrame:
    """``plan`` collected; a file that turns out not to parse as CSV raises a ``SourceError`` naming it."""
    try:
        return plan.collect()
    except pl.exceptions.PolarsError as exc:
        raise _malformed(path, exc) from None


def _split(path: Path, checked: pl.LazyFrame, table: str, columns: Sequence[str]) -> tuple[pl.DataFrame, FileLoad]:
    """Collect ``checked`` once (one pass over the file), then split it into loaded rows and rejects."""
    frame = _collect(path, checked)
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
    currency = _text(names, currency_col).str.to_uppercase()
    amount, amount_why = _money(_text(names, amount_col), currency)
    refunded, refunded_why = _money(_text(names, refunded_col), currency)
    stage1 = frame.select(
        pl.col(_LINE),
        _text(names, "id").alias("order_id"),
        _text(names, "Status").alias(_STATUS),
        _when(_text(names, "Created date (UTC)")).alias("ordered_at"),
        amount.alias(_AMOUNT),
        amount_why.alias(_AMOUNT_WHY),
        refunded.alias(_REFUNDED),
        refunded_why.alias(_REFUNDED_WHY),
        currency.alias("currency"),
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
        .when(pl.col(_AMOUNT_WHY).is_not_null())
        .then(_because(amount_col, pl.col(_AMOUNT_WHY)))
        .when(pl.col(_AMOUNT).is_null())
        .then(pl.lit(f"{amount_col}: missing"))
        .when(pl.col(_REFUNDED_WHY).is_not_null())
        .then(_because(refunded_col, pl.col(_REFUNDED_WHY)))
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
