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
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import polars as pl

from retainlib.errors import SourceError
from retainlib.load_report import FileLoad
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
_EXPORT_FORMAT = "%Y-%m-%d %H:%M:%S"
#: An amount as the Dashboard writes it: digits, a ``.`` fraction, and thousands grouped by ``,`` (``1,000.00``).
_PLAIN = r"^[0-9]+(\.[0-9]+)?$"
_GROUPED = r"^[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?$"
_EXPONENT = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)[eE][+-]?[0-9]+$"
#: Either form of an amount (``_PLAIN`` or ``_GROUPED``) in one pattern.
_SHAPE = r"^([0-9]+|[0-9]{1,3}(,[0-9]{3})+)(\.[0-9]+)?$"
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
_DATE, _AMOUNT_TEXT, _REFUNDED_TEXT = "_date", "_amount_text", "_refunded_text"
_KNOWN, _AMOUNT_OK, _REFUNDED_OK, _SUSPECT = "_known", "_amount_ok", "_refunded_ok", "_suspect"
_BLANK, _EXACT = "_blank", "_exact"
#: The columns of a read payment (``_email`` is dropped once the customers are derived).
_PAYMENT_OUTPUT = ("order_id", "customer_id", "ordered_at", "amount", "currency", _EMAIL)
#: The values the full checks give a suspect payment (the others are those of the quick read).
_FULL_VALUES = ("customer_id", "amount", "currency")
#: ``Status`` values written as exports write them that surely are in ``SUCCEEDED`` (any other is looked at in full).
_SUCCEEDED_AS_WRITTEN = sorted({form for s in SUCCEEDED for form in (s, s.capitalize(), s.title(), s.upper())})
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
    numbered, names = _numbered(path)
    return (numbered.filter(~_blank(names)) if names else numbered), names


def _numbered(path: Path) -> tuple[pl.LazyFrame, list[str]]:
    """The file's records as strings with their line numbers, blank lines included (see :func:`_scan`)."""
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
    return frame.with_row_index(_LINE, offset=2).with_columns(pl.col(_LINE).cast(pl.Int64)), names


def _blank(names: Sequence[str]) -> pl.Expr:
    """Whether a record is blank: every field empty or white space."""
    return pl.all_horizontal((pl.col(name).str.strip_chars() == "").fill_null(True) for name in names)


_NO_TEXT = pl.lit(None, dtype=pl.String)


def _text(names: Sequence[str], name: str) -> pl.Expr:
    """A column's stripped text, blanks as null (null when the export lacks the column)."""
    if name not in names:
        return _NO_TEXT
    s = pl.col(name).str.strip_chars()
    return pl.when(s != "").then(s)


def _limit() -> pl.Expr:
    """``MONEY_LIMIT`` as a money literal, built from its text (a ``Decimal`` literal makes polars import numpy)."""
    return pl.lit(str(MONEY_LIMIT)).cast(MONEY)


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
        .when(value.is_null() | (value.abs() >= _limit()))
        .then(pl.lit(OUT_OF_RANGE))
    )
    return pl.when(why.is_null()).then(value), why


def _quick_money(text: pl.Expr, currency: pl.Expr, known: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """The amount of ``text`` and whether :func:`_money` finds nothing wrong with it (true for a blank).

    Where ``ok`` is true the value is :func:`_money`'s; where it is false, :func:`_money` gives the reason.
    A few cheap operations per row instead of :func:`_money`'s dozen patterns, so that the reasons are built
    only for the rows that have one.  ``known``: whether ``currency`` is a well-formed code.
    """
    value = text.str.replace_all(",", "", literal=True).cast(MONEY, strict=False)
    # Significant decimal places: those after the point once the fraction's trailing zeros are gone.
    dot = text.str.find(".", literal=True).cast(pl.Int64)
    decimals = pl.when(dot.is_not_null()).then(text.str.strip_chars_end("0").str.len_bytes().cast(pl.Int64) - dot - 1)
    fits = (decimals.fill_null(0) <= places(currency, known)) & (value.abs() < _limit()).fill_null(False)
    return value, text.is_null() | (text.str.contains(_SHAPE) & fits)


def _because(column: str, why: pl.Expr) -> pl.Expr:
    """``"<column>: <why>"`` (null when ``why`` is)."""
    return pl.concat_str(pl.lit(f"{column}: "), why)


def _when(text: pl.Expr, exact: pl.Expr | None = None) -> pl.Expr:
    """UTC timestamps from ``YYYY-MM-DD HH:MM[:SS[.fff]]`` (one parse: a missing ``:SS`` is added first).

    The exports' own shape (``2024-03-01 10:00:00``) is parsed with its exact format (:func:`_exact_when`,
    or ``exact``, a column holding it); only the other texts (null for the rest, so costing nothing) go
    through the general form.
    """
    if exact is None:
        exact = _exact_when(text)
    normal = pl.when(exact.is_null()).then(text).str.strip_chars().str.replace("T", " ", literal=True)
    normal = pl.when(normal.str.len_bytes() == 16).then(normal + ":00").otherwise(normal)
    parsed = pl.coalesce(exact, normal.str.to_datetime(DATE_FORMAT, strict=False, time_unit="us"))
    return parsed.dt.replace_time_zone("UTC").cast(TIMESTAMP)


def _exact_when(text: pl.Expr) -> pl.Expr:
    """Naive timestamps from ``YYYY-MM-DD HH:MM:SS`` exactly, null for any other text."""
    return text.str.to_datetime(_EXPORT_FORMAT, strict=False, time_unit="us")


def _collect(path: Path, plan: pl.LazyFrame) -> pl.DataFrame:
    """``plan`` collected; a file that turns out not to parse as CSV raises a ``SourceError`` naming it."""
    try:
        return plan.collect()
    except pl.exceptions.PolarsError as exc:
        raise _malformed(path, exc) from None


def _split(path: Path, checked: pl.LazyFrame, table: str, columns: Sequence[str]) -> tuple[pl.DataFrame, FileLoad]:
    """Collect ``checked`` once (one pass over the file), then split it into loaded rows and rejects."""
    return _split_frame(path, _collect(path, checked), table, columns)


def _split_frame(path: Path, frame: pl.DataFrame, table: str, columns: Sequence[str]) -> tuple[pl.DataFrame, FileLoad]:
    """``frame`` (one row per record, ``_line`` and ``_reason``) split into loaded rows and rejects."""
    bad = frame.get_column(_REASON).is_not_null()
    loaded = frame.select(columns).filter(~bad)
    rejects = (
        frame.select(_LINE, _REASON)
        .filter(bad)
        .select(
            pl.lit(str(path)).alias("file"),
            pl.col(_LINE).alias("line"),
            pl.lit(table).alias("table"),
            pl.col(_REASON).str.splitn(": ", 2).struct.field("field_0").alias("column"),
            pl.col(_REASON).alias("reason"),
        )
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

    One pass over the file reads every value and gives each row a quick verdict (``_suspect``: the
    row may have a reason; :func:`_payments_plan`); the reasons, and the guests' customers, are then
    worked out for the suspect rows alone, with the full checks (:func:`_payment_reasons`).
    """
    plan = _payments_plan(path, options, invoice_links=invoice_links, refunds=refunds)
    rows = _without_blank_lines(path, plan.numbered, plan.names, _collect(path, plan.checked))
    suspects = rows.get_column(_SUSPECT).arg_true()
    reason = pl.repeat(None, rows.height, dtype=pl.String, eager=True).alias(_REASON)
    if suspects.len():
        full = _payment_reasons(rows, rows[suspects], options, plan.columns)
        # The full checks' values replace the quick ones, in place: the columns are not copied.
        columns = rows.select(_LINE, *_PAYMENT_OUTPUT).get_columns()
        del rows
        for series in columns:
            if series.name in _FULL_VALUES:
                series.scatter(suspects, full.get_column(series.name))
        reason.scatter(suspects, full.get_column(_REASON))
        rows = pl.DataFrame([*columns, reason])
        del columns
    else:
        rows = rows.select(_LINE, *_PAYMENT_OUTPUT).with_columns(reason)
    return _split_frame(path, rows, "orders", _PAYMENT_OUTPUT)


@dataclass(frozen=True, slots=True)
class _PaymentColumns:
    """The payments export's money columns read (the original or the converted ones)."""

    amount: str
    refunded: str
    currency: str


@dataclass(frozen=True, slots=True)
class _PaymentsPlan:
    """The quick read of a payments export (``checked``), and what reading it again needs."""

    checked: pl.LazyFrame
    numbered: pl.LazyFrame
    names: list[str]
    columns: _PaymentColumns


def _payments_plan(
    path: Path,
    options: Options,
    *,
    invoice_links: Mapping[str, str],
    refunds: Mapping[str, Decimal],
) -> _PaymentsPlan:
    """The quick read of a payments export: one row per record (blank lines included), its values and ``_suspect``.

    A row is suspect unless it surely passes every check of :func:`_payment_reasons`: the quick checks
    are never looser than the full ones, and the full checks give a row that is not suspect the values
    the quick read gave it.  The fields only the full checks read are kept as written (a null would take
    as much room as such a short text).
    """
    numbered, names = _numbered(path)
    converted = options.amounts == "converted"
    columns = _PaymentColumns(
        amount="Converted Amount" if converted else "Amount",
        refunded="Converted Amount Refunded" if converted else "Amount Refunded",
        currency="Converted Currency" if converted else "Currency",
    )
    missing = [c for c in (columns.amount, columns.currency) if c not in names]
    if missing:
        raise SourceError(
            f"amounts={options.amounts!r} needs column(s) {', '.join(missing)}, which this export lacks",
            file=path,
            source="stripe",
        )
    frame = numbered
    if refunds and not converted:
        refund_frame = pl.LazyFrame(
            {"id": list(refunds), _API_REFUNDED: list(refunds.values())}, schema={"id": pl.String, _API_REFUNDED: MONEY}
        )
        frame = frame.join(refund_frame, on="id", how="left", maintain_order="left")
        api_refunded = pl.col(_API_REFUNDED)
    else:
        api_refunded = pl.lit(None, dtype=MONEY)

    # Stage 1: each field read once into a named column; the later stages refer to those columns only.
    # The ids and the e-mail are stripped (as _text does) for every row; the other fields are read as
    # written, their quick checks failing for text with white space, which the full checks then read.
    cleaned = {"order_id": "id", "customer_id": "Customer ID", _EMAIL: "Customer Email"}
    raw = {
        _STATUS: "Status",
        _DATE: "Created date (UTC)",
        _AMOUNT_TEXT: columns.amount,
        _REFUNDED_TEXT: columns.refunded,
        "currency": columns.currency,
        _CAPTURED: "Captured",
    }
    stripped = frame.select(
        pl.col(_LINE),
        *(
            (pl.col(column).str.strip_chars() if column in names else _NO_TEXT).alias(name)
            for name, column in cleaned.items()
        ),
        *((pl.col(column) if column in names else _NO_TEXT).alias(name) for name, column in raw.items()),
        *([_duplicate(names, invoice_links).alias(_DUPLICATE)] if invoice_links else []),
        *([api_refunded.alias(_API_REFUNDED)] if refunds and not converted else []),
    )
    stage1 = stripped.with_columns(
        *(pl.when(pl.col(name) != "").then(pl.col(name)).alias(name) for name in cleaned),
        pl.col("currency").str.to_uppercase(),
    ).with_columns(pl.col(_EMAIL).str.to_lowercase())
    currency = pl.col("currency")
    stage2 = stage1.with_columns(
        currency.str.contains(CURRENCY_PATTERN.pattern).fill_null(False).alias(_KNOWN),
        _exact_when(pl.col(_DATE)).alias(_EXACT),
    ).with_columns(_when(pl.col(_DATE), pl.col(_EXACT)).alias("ordered_at"))
    amount, amount_ok = _quick_money(pl.col(_AMOUNT_TEXT), currency, pl.col(_KNOWN))
    refunded, refunded_ok = _quick_money(pl.col(_REFUNDED_TEXT), currency, pl.col(_KNOWN))
    api = pl.col(_API_REFUNDED) if refunds and not converted else None
    stage3 = stage2.with_columns(
        amount.alias(_AMOUNT), amount_ok.alias(_AMOUNT_OK), refunded.alias(_REFUNDED), refunded_ok.alias(_REFUNDED_OK)
    ).with_columns(_net(api).alias("amount"))
    # A row is suspect unless it surely passes every check of _payment_reasons (a superset of the rows with a reason).
    suspect = pl.any_horizontal(
        pl.col("order_id").is_null(),
        pl.col("ordered_at").is_null(),
        ~pl.col(_STATUS).is_in(_SUCCEEDED_AS_WRITTEN).fill_null(False),
        (pl.col(_CAPTURED).str.len_bytes() >= len("false")).fill_null(False),  # "false", in any case and spacing
        *([pl.col(_DUPLICATE).is_not_null()] if invoice_links else []),
        ~pl.col(_AMOUNT_OK),
        pl.col(_AMOUNT).is_null(),
        ~pl.col(_REFUNDED_OK),
        ~pl.col(_KNOWN),
        (pl.col("amount") <= 0).fill_null(True),
        pl.col("customer_id").is_null(),
    )
    # A blank line is among the rows without an id, customer, e-mail or date (_without_blank_lines).
    maybe_blank = pl.all_horizontal(
        pl.col(name).is_null() for name in ("order_id", "customer_id", _EMAIL, "ordered_at")
    )
    kept = [_STATUS, _AMOUNT_TEXT, _REFUNDED_TEXT, _CAPTURED]
    kept += ([_DUPLICATE] if invoice_links else []) + ([_API_REFUNDED] if api is not None else [])
    checked = stage3.with_columns(suspect.alias(_SUSPECT)).select(
        pl.col(_LINE),
        *_PAYMENT_OUTPUT,
        pl.col(_SUSPECT),
        *kept,
        maybe_blank.alias(_BLANK),
    )
    return _PaymentsPlan(checked=checked, numbered=numbered, names=names, columns=columns)


def _succeeded(status: pl.Expr) -> pl.Expr:
    """Whether a (stripped) ``Status`` is a succeeded payment's."""
    return status.str.to_lowercase().is_in(SUCCEEDED).fill_null(False)


def _net(api_refunded: pl.Expr | None = None) -> pl.Expr:
    """The amount less the larger of the export's and the API's refunds."""
    zero = pl.lit(0).cast(MONEY)
    refunded = pl.col(_REFUNDED).fill_null(zero)
    if api_refunded is not None:
        refunded = pl.max_horizontal(refunded, api_refunded.fill_null(zero))
    return pl.col(_AMOUNT) - refunded


def _without_blank_lines(path: Path, numbered: pl.LazyFrame, names: Sequence[str], rows: pl.DataFrame) -> pl.DataFrame:
    """``rows`` less the blank lines (see :func:`_scan`).

    Only a row whose fields read here are all blank (``_blank``) can be one; its other fields are looked at
    by reading the file again for those rows alone, which exports without such rows never do.
    """
    candidates = rows.get_column(_BLANK)
    if not candidates.any():
        return rows
    lines = rows.filter(candidates).get_column(_LINE).implode()
    found = _collect(path, numbered.filter(pl.col(_LINE).is_in(lines) & _blank(names)).select(_LINE))
    return rows.filter(~rows.get_column(_LINE).is_in(found.get_column(_LINE).implode()))


def _payment_reasons(
    rows: pl.DataFrame, suspects: pl.DataFrame, options: Options, columns: _PaymentColumns
) -> pl.DataFrame:
    """The full checks of the suspect rows: each one's reason (or null) and values (``_FULL_VALUES``).

    The fields read as written are cleaned as :func:`_text` cleans them first.  ``rows`` are all the
    rows of the file: the customer an e-mail is known by (option ``guests``) is looked up among them.
    """
    cleaned = suspects.with_columns(
        *(_clean(pl.col(name)) for name in (_STATUS, _AMOUNT_TEXT, _REFUNDED_TEXT, "currency")),
        _clean(pl.col(_CAPTURED)).str.to_lowercase(),
        *([] if _DUPLICATE in suspects.columns else [pl.lit(None, pl.String).alias(_DUPLICATE)]),
    )
    api = pl.col(_API_REFUNDED) if _API_REFUNDED in suspects.columns else None
    frame = cleaned.with_columns(
        *_amount(cleaned, _AMOUNT_TEXT, _AMOUNT, _AMOUNT_WHY),
        *_amount(cleaned, _REFUNDED_TEXT, _REFUNDED, _REFUNDED_WHY),
        _guest_customer(rows, suspects, options).alias("customer_id"),
    ).with_columns(_net(api).alias("amount"), (pl.col(_AMOUNT) - _net(api)).alias(_REFUNDED))
    payment_id, status = pl.col("order_id"), pl.col(_STATUS)
    reason = (
        pl.when(payment_id.is_null())
        .then(pl.concat_str(pl.lit("id: incomplete payment, no charge ("), status.fill_null("no status"), pl.lit(")")))
        .when(pl.col("ordered_at").is_null())
        .then(pl.lit(f"Created date (UTC): {DATE_HINT}"))
        .when(~_succeeded(status))
        .then(pl.concat_str(pl.lit("Status: not a succeeded payment ("), status.fill_null("no status"), pl.lit(")")))
        .when(pl.col(_CAPTURED) == "false")
        .then(pl.lit("Captured: not captured"))
        .when(pl.col(_DUPLICATE).is_not_null())
        .then(pl.col(_DUPLICATE))
        .when(pl.col(_AMOUNT_WHY).is_not_null())
        .then(_because(columns.amount, pl.col(_AMOUNT_WHY)))
        .when(pl.col(_AMOUNT).is_null())
        .then(pl.lit(f"{columns.amount}: missing"))
        .when(pl.col(_REFUNDED_WHY).is_not_null())
        .then(_because(columns.refunded, pl.col(_REFUNDED_WHY)))
        .when(~pl.col("currency").str.contains(r"^[A-Z]{3}$").fill_null(False))
        .then(pl.lit(f"{columns.currency}: not an ISO 4217 currency code"))
        .when(pl.col("amount") <= 0)
        .then(
            pl.when(pl.col(_REFUNDED) > 0)
            .then(pl.lit(f"{columns.refunded}: fully refunded"))
            .otherwise(pl.lit(f"{columns.amount}: not positive"))
        )
        .when(pl.col("customer_id").is_null())
        .then(pl.lit(guest_reason("Customer ID", options)))
    )
    return frame.select(reason.alias(_REASON), *_FULL_VALUES)


def _amount(frame: pl.DataFrame, text: str, value: str, why: str) -> tuple[pl.Series, pl.Series]:
    """:func:`_money` of the ``text`` column (cleaned) of ``frame``, as columns ``value`` and ``why``.

    Most suspect rows are suspect for another field (a failed payment has a fine amount): :func:`_money`'s
    patterns run only on the rows whose amount the quick check does not pass, the others keep its value.
    """
    code = pl.col("currency")
    quick, ok = _quick_money(pl.col(text), code, code.str.contains(CURRENCY_PATTERN.pattern).fill_null(False))
    checked = frame.select(quick.alias(value), ok.alias("_ok"), pl.lit(None, pl.String).alias(why))
    values, reasons = checked.get_column(value), checked.get_column(why)
    doubtful = (~checked.get_column("_ok")).arg_true()
    if doubtful.len():
        full, full_why = _money(pl.col(text), code)
        found = frame[doubtful].select(full.alias(value), full_why.alias(why))
        values = values.scatter(doubtful, found.get_column(value))
        reasons = reasons.scatter(doubtful, found.get_column(why))
    return values, reasons


def _clean(text: pl.Expr) -> pl.Expr:
    """:func:`_text` of a column read as written: stripped, blank as null."""
    stripped = text.str.strip_chars()
    return pl.when(stripped != "").then(stripped)


def _guest_customer(rows: pl.DataFrame, suspects: pl.DataFrame, options: Options) -> pl.Series:
    """:func:`guest_customer` of the suspect rows, the e-mails' customers looked up among all ``rows``."""
    customer = suspects.get_column("customer_id")
    if options.guests == "payment":
        return suspects.select(pl.coalesce("customer_id", pl.concat_str(pl.lit("guest:"), "order_id"))).to_series()
    if options.guests != "email":
        return customer
    wanted = suspects.filter(pl.col("customer_id").is_null()).get_column(_EMAIL).drop_nulls().unique()
    if not wanted.len():
        return customer
    # The first customer (in file order) of each e-mail, as ``guest_customer``'s window finds it.
    known = (
        rows.filter(pl.col(_EMAIL).is_in(wanted.implode()) & pl.col("customer_id").is_not_null())
        .group_by(_EMAIL, maintain_order=True)
        .agg(pl.col("customer_id").first().alias(_KNOWN))
    )
    found = suspects.select(_EMAIL, "customer_id").join(known, on=_EMAIL, how="left", maintain_order="left")
    return found.select(pl.coalesce("customer_id", _KNOWN, _EMAIL)).to_series()


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
