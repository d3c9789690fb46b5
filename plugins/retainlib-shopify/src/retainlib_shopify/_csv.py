"""The admin's CSV exports: orders (``orders_export_1.csv``...) and customers (``customers_export.csv``).

Files are recognised by their header and read lazily by polars, every field as
text (``infer_schema=False``); columns are found by name, never by position, so
older exports without the trailing columns read as well as current ones.

Line numbers are the file's physical lines: the header is line 1, blank lines
count, and a record holding quoted line breaks (``Note Attributes``) counts
its lines, so the next record's number is exact.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import polars as pl

from retainlib.errors import SourceError
from retainlib_shopify import _fields as f

__all__ = [
    "CUSTOMER_COLUMNS",
    "LEGACY_CUSTOMER_COLUMNS",
    "ORDER_COLUMNS",
    "Kind",
    "Sniffed",
    "scan_customers",
    "scan_orders",
    "sniff",
]

Kind = Literal["orders", "customers"]
#: Columns the orders export must have: the order's name (its rows' group), its customer, time and money.
ORDER_COLUMNS = ("Name", "Email", "Created at", "Currency", "Total")
#: Columns only the orders export has (one of them, beside ``Name`` and ``Created at``, tells it apart).
_ORDER_MARKS = ("Financial Status", "Lineitem quantity", "Lineitem name", "Lineitem price", "Paid at")
#: The current and transitional customers export: these and one mark.
CUSTOMER_COLUMNS = ("Customer ID", "Email")
#: The legacy (pre-2023) customers export: no ``Customer ID``.
LEGACY_CUSTOMER_COLUMNS = ("First Name", "Last Name", "Email")
_CUSTOMER_MARKS = ("Accepts Email Marketing", "Accepts Marketing", "Total Spent", "Total Orders", "Tax Exempt")
_SEPARATORS = (",", ";", "\t")
#: Polars' message for a CSV that does not parse can quote the rest of the file: this much of it is shown.
_MESSAGE_CHARS = 200
#: Column of the line breaks inside a record's fields.
_BREAKS = "_shopify_breaks"
#: Columns of the unified order-lines frame the readers build (see :mod:`retainlib_shopify._orders`).
LINE_COLUMNS = (
    "_src", "_line", "_kind", "_group", "order_id", "order_name", "email", "customer", "customer_created",
    "created", "currency", "total", "subtotal", "refunded", "refund", "refund_dup", "cancelled", "test", "status",
)  # fmt: skip


class Sniffed:
    """What a CSV file's header says: its kind, separator and columns."""

    __slots__ = ("columns", "kind", "separator")

    def __init__(self, kind: Kind | None, separator: str, columns: list[str]) -> None:
        self.kind = kind
        self.separator = separator
        self.columns = columns


def _first_record(head: bytes, separator: str) -> list[str]:
    text = head.decode("utf-8", errors="replace").removeprefix("\ufeff")
    first = text.split("\n", 1)[0].rstrip("\r")
    try:
        return [c.strip() for c in next(csv.reader(io.StringIO(first), delimiter=separator), [])]
    except csv.Error:
        return []


def kind_of(columns: Sequence[str]) -> Kind | None:
    """``"orders"`` or ``"customers"`` for a Shopify export's header, else ``None``."""
    names = set(columns)
    if {"Name", "Created at"} <= names and names & set(_ORDER_MARKS):
        return "orders"
    if names & set(_CUSTOMER_MARKS) and (set(CUSTOMER_COLUMNS) <= names or set(LEGACY_CUSTOMER_COLUMNS) <= names):
        return "customers"
    return None


def sniff(head: bytes) -> Sniffed:
    """The kind of export (``None`` when none) and its separator (``,``; ``;`` or a tab when re-saved)."""
    for separator in _SEPARATORS:
        columns = _first_record(head, separator)
        kind = kind_of(columns)
        if kind is not None:
            return Sniffed(kind, separator, columns)
    return Sniffed(None, ",", _first_record(head, ","))


def malformed(path: Path, exc: Exception) -> SourceError:
    """The error of a file that does not parse as CSV, with the line at fault when it can be found."""
    message = " ".join(str(exc).split())
    if len(message) > _MESSAGE_CHARS:
        message = message[:_MESSAGE_CHARS] + "..."
    return SourceError(f"cannot read as CSV{_fault(path)}: {message}", file=path, source="shopify")


def _fault(path: Path) -> str:
    """`` at line N (why)`` for the first line at fault, else ``""`` (only on the error path)."""
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        rows = csv.reader(handle, strict=True)
        width = 0
        try:
            for row in rows:
                width = width or len(row)
                if len(row) > width:
                    return f" at line {rows.line_num} ({len(row)} fields, the header has {width})"
        except csv.Error as exc:
            return f" at line {rows.line_num} ({exc})"
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        for number, line in enumerate(handle, 1):
            if re.search(r'(^|[,;\t])[^",;\t\r\n]+"', line):
                return f" at line {number} (a quote inside a field that is not quoted?)"
            if "\r" in line.rstrip("\r\n"):
                return f" at line {number} (a carriage return inside a field that is not quoted)"
    return ""


def _blank(names: Sequence[str]) -> pl.Expr:
    """Whether a record is blank: every field empty, the first one perhaps white space (the core's rule).

    Polars reads an empty field as null, so only the first field is stripped.
    """
    first = pl.col(names[0])
    return pl.all_horizontal(
        first.is_null() | (first.str.strip_chars() == ""), *(pl.col(n).is_null() for n in names[1:])
    )


def _scan(
    path: Path, sniffed: Sniffed, needed: Sequence[str], build: Callable[[list[str]], list[pl.Expr]]
) -> pl.DataFrame:
    """The file's records as the columns ``build(header)`` makes of them, with their physical line (``_line``).

    A blank record (an empty line, a line of separators, a first field of
    white space and nothing else) is not a record: neither read nor rejected.
    """
    frame = pl.scan_csv(
        path, separator=sniffed.separator, infer_schema=False, encoding="utf8-lossy", raise_if_empty=False
    )
    try:
        names = frame.collect_schema().names()
    except pl.exceptions.PolarsError as exc:
        raise malformed(path, exc) from None
    quoted = [name for name in names if '"' in name]
    if quoted:  # polars would read no record at all, without a word
        raise SourceError(
            f"cannot read as CSV: a quote inside the header's column name {quoted[0]!r}", file=path, source="shopify"
        )
    doubled = sorted({n for n in needed if f"{n}_duplicated_0" in names})
    if doubled:
        raise SourceError(
            f"the header names column {doubled[0]!r} more than once: which one to read is unclear",
            file=path,
            source="shopify",
        )
    missing = [n for n in needed if n not in names]
    if missing:
        raise SourceError(
            f"this Shopify export lacks column(s) {', '.join(map(repr, missing))} (columns are found by name; "
            f"the header has {len(names)} columns: {', '.join(names[:12])}{', ...' if len(names) > 12 else ''})",
            file=path,
            source="shopify",
        )
    # Every column is read (a row with more fields than the header is an error only then), in one query
    # with the columns built from them.
    records = _collect(path, frame.select(*build(names), _blank(names).alias("_blank")))
    newlines, ends = _newlines(path)
    if newlines + (0 if ends else 1) == records.height + 1:  # one line per record: the header is line 1
        lines = pl.int_range(2, records.height + 2, dtype=pl.Int64, eager=True)
    else:  # quoted line breaks: each record starts one line after the previous one ends
        breaks = pl.sum_horizontal(pl.col(n).str.count_matches("\n", literal=True).fill_null(0) for n in names)
        counted = _collect(path, frame.select(breaks.cast(pl.Int64).alias(_BREAKS)))[_BREAKS]
        lines = pl.int_range(2, records.height + 2, dtype=pl.Int64, eager=True) + counted.cum_sum() - counted
    return records.with_columns(lines.alias("_line")).filter(~pl.col("_blank")).drop("_blank")


def _newlines(path: Path) -> tuple[int, bool]:
    """The number of line feeds in a file, and whether it ends with one."""
    count, last = 0, b""
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count, last == b"\n"


def _collect(path: Path, plan: pl.LazyFrame) -> pl.DataFrame:
    try:
        return plan.collect()
    except pl.exceptions.PolarsError as exc:
        raise malformed(path, exc) from None


def scan_orders(path: Path, sniffed: Sniffed, src: int) -> pl.DataFrame:
    """An orders export as order lines (the unified columns of :data:`LINE_COLUMNS`).

    A row whose order-level fields (``Financial Status``, ``Currency``,
    ``Subtotal``, ``Total``, ``Id``) are all blank is a follow-on line of its
    order; the others are the order's head row.  Rows are grouped by ``Name``.
    """

    def build(names: list[str]) -> list[pl.Expr]:
        order_level = [f.text(names, n) for n in ("Financial Status", "Currency", "Subtotal", "Total", "Id")]
        head = pl.any_horizontal(e.is_not_null() for e in order_level)
        gateway = f.text(names, "Payment Method").str.to_lowercase()
        return [
            pl.when(head).then(pl.lit("head")).otherwise(pl.lit("line")).alias("_kind"),
            f.text(names, "Name").alias("_group"),
            f.unquoted_id(f.text(names, "Id")).alias("order_id"),
            f.text(names, "Email").alias("email"),
            f.text(names, "Created at").alias("created"),
            f.text(names, "Currency").alias("currency"),
            f.text(names, "Total").alias("total"),
            f.text(names, "Subtotal").alias("subtotal"),
            f.text(names, "Refunded Amount").alias("refunded"),
            f.text(names, "Cancelled at").alias("cancelled"),
            pl.when(gateway == "bogus").then(pl.lit("true")).otherwise(pl.lit("false")).alias("test"),
            f.text(names, "Financial Status").str.to_lowercase().alias("status"),
        ]

    return _scan(path, sniffed, ORDER_COLUMNS, build).select(
        pl.lit(src, dtype=pl.Int32).alias("_src"),
        pl.col("_line"),
        "_kind",
        "_group",
        "order_id",
        pl.col("_group").alias("order_name"),
        "email",
        pl.lit(None, dtype=pl.String).alias("customer"),
        pl.lit(None, dtype=pl.String).alias("customer_created"),
        "created",
        "currency",
        "total",
        "subtotal",
        "refunded",
        pl.lit(None, dtype=pl.String).alias("refund"),
        pl.lit(False).alias("refund_dup"),
        "cancelled",
        "test",
        "status",
    )


#: Columns of the customer rows the readers build (see :mod:`retainlib_shopify._customers`).
CUSTOMER_ROW_COLUMNS = ("_src", "_line", "customer", "email", "name", "phone", "created")


def scan_customers(path: Path, sniffed: Sniffed, src: int) -> pl.DataFrame:
    """A customers export (current, transitional or legacy header) as customer rows.

    ``Customer ID`` and phones lose the apostrophe the export puts before them;
    the export has no creation date (``created`` is null).
    """

    def build(names: list[str]) -> list[pl.Expr]:
        full = pl.concat_str(f.text(names, "First Name"), f.text(names, "Last Name"), separator=" ", ignore_nulls=True)
        phone = pl.coalesce(
            f.unquoted_id(f.text(names, "Phone")), f.unquoted_id(f.text(names, "Default Address Phone"))
        )
        return [
            f.unquoted_id(f.text(names, "Customer ID")).alias("customer"),
            f.text(names, "Email").alias("email"),
            pl.when(full != "").then(full).alias("name"),
            phone.alias("phone"),
        ]

    return _scan(path, sniffed, ("Email",), build).select(
        pl.lit(src, dtype=pl.Int32).alias("_src"),
        pl.col("_line"),
        "customer",
        "email",
        "name",
        "phone",
        pl.lit(None, dtype=pl.String).alias("created"),
    )
