"""retainlib source ``etsy``: an Etsy shop's sold-orders CSV download.

The complete example of retainlib's plugin guide (``docs/plugins.md``): a
small source written with public retainlib API only.  It reads the columns
``Sale Date`` (``MM/DD/YY``, the shop's local date), ``Order ID``, ``Buyer
User ID``, ``Currency``, ``Order Value`` and, when present, ``Discount
Amount`` of Etsy's *Orders* CSV (``EtsySoldOrders<year>.csv``); any other
column is ignored.  Each row becomes an order worth the order value less the
discount (items only: no shipping, no sales tax), dated at the first instant
of its sale day in the ``tz`` option's zone; each buyer becomes a customer
created at their first order.  A row that cannot be an order is rejected
with its line and reason, so rows read = rows loaded + rows rejected.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import polars as pl

from retainlib import Dataset
from retainlib.calendar import Calendar, check_tz
from retainlib.errors import SourceError
from retainlib.load_report import REJECTS_SCHEMA, FileLoad, LoadReport
from retainlib.plugins import ReadResult, Source, hookimpl, progress
from retainlib.tables import MONEY, TIMESTAMP

__all__ = ["NAME", "detect", "read", "retainlib_sources"]

#: The source's name: ``rl.read("etsy", ...)``.
NAME = "etsy"
#: Columns every sold-orders CSV must have (``Discount Amount`` is optional).
REQUIRED = ("Sale Date", "Order ID", "Buyer User ID", "Currency", "Order Value")
#: What makes a header an Etsy sold-orders header, for detection.
SIGNATURE = frozenset({"Sale Date", "Order ID", "Buyer User ID", "Order Value"})


@hookimpl
def retainlib_sources() -> Iterator[Source]:
    """The plugin's one source."""
    yield Source(
        name=NAME,
        description="Etsy sold-orders CSV (Shop Manager > Settings > Options > Download Data > Orders)",
        kinds=("csv",),
        reader=read,
        detector=detect,
        options={"tz": "IANA time zone of the shop, whose days the sale dates are (default 'UTC')"},
    )


def detect(path: Path, head: bytes) -> int:
    """90 for a CSV whose header names Etsy's sold-orders columns, else 0 (recognised by content)."""
    first = head.split(b"\n", 1)[0].decode("utf-8", errors="replace").lstrip("\ufeff")
    names = {name.strip().strip('"') for name in first.split(",")}
    return 90 if names >= SIGNATURE else 0


def _text(column: str) -> pl.Expr:
    """A field as stripped text, an empty one as null."""
    value = pl.col(column).str.strip_chars()
    return pl.when(value != "").then(value)


def _money(column: str) -> pl.Expr:
    """A field as exact money (``"1,200.50"`` accepted), null when it is not a number."""
    text = _text(column).str.replace_all(",", "", literal=True)
    return text.cast(MONEY, strict=False)


def _read_file(path: Path, calendar: Calendar) -> tuple[pl.DataFrame, FileLoad]:
    """One file: its loaded orders and its load record (with the rejected rows)."""
    try:
        header = pl.read_csv(path, n_rows=0, infer_schema=False).columns
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as exc:
        raise SourceError(f"cannot read as CSV: {exc}", file=path, source=NAME) from exc
    missing = [column for column in REQUIRED if column not in header]
    if missing:
        raise SourceError(
            f"not an Etsy sold-orders CSV: no column {', '.join(map(repr, missing))}", file=path, source=NAME
        )
    rows = pl.scan_csv(path, infer_schema=False).with_row_index("line", offset=2)  # the header is line 1
    if "Discount Amount" not in header:
        rows = rows.with_columns(pl.lit("0").alias("Discount Amount"))

    day = _text("Sale Date").str.strptime(pl.Date, "%m/%d/%y", strict=False)
    value, discount = _money("Order Value"), _money("Discount Amount").fill_null(pl.lit(0).cast(MONEY))
    currency = _text("Currency").str.to_uppercase()
    problems = pl.concat_list(
        pl.when(_text("Order ID").is_null()).then(pl.lit("Order ID: missing")),
        pl.when(_text("Buyer User ID").is_null()).then(pl.lit("Buyer User ID: missing")),
        pl.when(day.is_null()).then(pl.lit("Sale Date: not a date (MM/DD/YY)")),
        pl.when(value.is_null() | (value < 0)).then(pl.lit("Order Value: not an amount")),
        pl.when(_money("Discount Amount").is_null() & _text("Discount Amount").is_not_null()).then(
            pl.lit("Discount Amount: not an amount")
        ),
        pl.when(value.is_not_null() & (discount > value)).then(pl.lit("Discount Amount: more than the order value")),
        pl.when(~currency.str.contains(r"^[A-Z]{3}$").fill_null(False)).then(pl.lit("Currency: not an ISO 4217 code")),
    ).list.drop_nulls()
    checked = rows.with_columns(problems.alias("_problems")).collect()
    ok = checked.filter(pl.col("_problems").list.len() == 0)
    bad = checked.filter(pl.col("_problems").list.len() > 0)

    orders = ok.select(
        _text("Order ID").alias("order_id"),
        _text("Buyer User ID").alias("customer_id"),
        calendar.instant(day).cast(TIMESTAMP).alias("ordered_at"),
        (value - discount).cast(MONEY).alias("amount"),
        currency.alias("currency"),
    )
    rejected = bad.select(
        pl.lit(str(path)).alias("file"),
        pl.col("line").cast(pl.Int64),
        pl.lit("orders").alias("table"),
        pl.col("_problems").list.first().str.split(": ").list.first().alias("column"),
        pl.col("_problems").list.join("; ").alias("reason"),
    ).cast(REJECTS_SCHEMA)
    load = FileLoad(
        file=str(path), table="orders", rows_read=checked.height, rows_loaded=orders.height, rejected=rejected
    )
    progress(path, checked.height)
    return orders, load


def read(paths: Sequence[Path], *, tz: str = "UTC") -> ReadResult:
    """Read Etsy sold-orders CSV files into ``orders`` and ``customers``, with their load report."""
    check_tz(tz)
    calendar = Calendar(period="day", tz=tz)
    parts = [_read_file(Path(path), calendar) for path in paths]
    orders = pl.concat([frame for frame, _ in parts])
    customers = orders.group_by("customer_id").agg(pl.col("ordered_at").min().alias("created_at"))
    # validate="full": every row checked again, and an order id repeated across files is a DataError.
    dataset = Dataset(orders=orders, customers=customers.sort("customer_id"), validate="full", source=NAME)
    return ReadResult(dataset=dataset, report=LoadReport(source=NAME, files=tuple(load for _, load in parts)))
