"""A Dataset's orders and customers written as Shopify admin exports (orders and customers CSV).

:func:`write_orders_export` writes the canonical ``orders`` table as the
admin's *Orders > Export* file (``orders_export_1.csv``, ``_2``... when split)
and :func:`write_customers_export` the ``customers`` table as *Customers >
Export* (``customers_export.csv``), both with the current 2025 headers, so that
demos, docs and benchmarks read real-looking files through the ``shopify``
source (plugin ``retainlib-shopify``).  Reading the files back with that source
gives the same orders: ids, customers (through the e-mails, when the customers
export is read in the same call), instants to the second, amounts and
currencies.

What the files hold, per order:

* one row per line item, newest order first; the order-level fields
  (``Financial Status``, ``Currency``, ``Subtotal``, ``Total``, ``Refunded
  Amount``, ``Id``...) on the order's first row only; follow-on rows repeat
  ``Name``, ``Email`` and ``Created at``, as Shopify writes them;
* ``Name`` ``#1001``, ``#1002``... in the order of ``ordered_at`` (then
  ``order_id``); ``Id`` the canonical ``order_id``;
* ``Created at`` and ``Paid at`` in the shop's time zone with its offset
  (``2024-03-01 10:00:00 -0500``), whole seconds (the exports have no fraction);
* ``Email`` the customer's e-mail from the customers table (blank when the
  customer has none: the reader then rejects the order, which has no way to
  name its customer);
* amounts as plain decimals (``12.50``), no shipping and no taxes
  (``Subtotal`` = ``Total``); every third order is
  split into two line items and every seventh (above 5.00) carries a partial
  refund of 5.00 on top of its amount (``Financial Status``
  ``partially_refunded``, ``Total`` = amount + 5.00, ``Refunded Amount`` 5.00),
  so that the amount the customer kept is the canonical amount.

Customers: ``Customer ID`` apostrophe-prefixed (``'c0001``), as the real
export writes it; ``First Name``/``Last Name`` split from ``name`` at its
first space; ``Total Spent`` and ``Total Orders`` from the orders given.  The
export has no creation date: the reader dates each customer by its first
order.

Everything is polars expressions (no Python object per row): a million lines
write in a few seconds.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from retainlib._exports import _common
from retainlib.calendar import check_tz
from retainlib.errors import OptionError
from retainlib.tables import MONEY

__all__ = ["CUSTOMERS_HEADER", "ORDERS_HEADER", "write_customers_export", "write_orders_export"]

#: The admin's orders export header (79 columns, 2025-26).
ORDERS_HEADER: tuple[str, ...] = (
    "Name", "Email", "Financial Status", "Paid at", "Fulfillment Status", "Fulfilled at", "Accepts Marketing",
    "Currency", "Subtotal", "Shipping", "Taxes", "Total", "Discount Code", "Discount Amount", "Shipping Method",
    "Created at", "Lineitem quantity", "Lineitem name", "Lineitem price", "Lineitem compare at price",
    "Lineitem sku", "Lineitem requires shipping", "Lineitem taxable", "Lineitem fulfillment status", "Billing Name",
    "Billing Street", "Billing Address1", "Billing Address2", "Billing Company", "Billing City", "Billing Zip",
    "Billing Province", "Billing Country", "Billing Phone", "Shipping Name", "Shipping Street", "Shipping Address1",
    "Shipping Address2", "Shipping Company", "Shipping City", "Shipping Zip", "Shipping Province",
    "Shipping Country", "Shipping Phone", "Notes", "Note Attributes", "Cancelled at", "Payment Method",
    "Payment Reference", "Refunded Amount", "Vendor", "Outstanding Balance", "Employee", "Location", "Device ID",
    "Id", "Tags", "Risk Level", "Source", "Lineitem discount", "Tax 1 Name", "Tax 1 Value", "Tax 2 Name",
    "Tax 2 Value", "Tax 3 Name", "Tax 3 Value", "Tax 4 Name", "Tax 4 Value", "Tax 5 Name", "Tax 5 Value", "Phone",
    "Receipt Number", "Duties", "Billing Province Name", "Shipping Province Name", "Payment ID",
    "Payment Terms Name", "Next Payment Due At", "Payment References",
)  # fmt: skip
#: The admin's customers export header (current format).
CUSTOMERS_HEADER: tuple[str, ...] = (
    "Customer ID", "First Name", "Last Name", "Email", "Accepts Email Marketing", "Default Address Company",
    "Default Address Address1", "Default Address Address2", "Default Address City", "Default Address Province Code",
    "Default Address Country Code", "Default Address Zip", "Default Address Phone", "Phone", "Accepts SMS Marketing",
    "Total Spent", "Total Orders", "Note", "Tax Exempt", "Tags",
)  # fmt: skip

FrameLike = _common.FrameLike
Tables = _common.Tables

_DATE_FORMAT = "%Y-%m-%d %H:%M:%S %z"
#: The partial refund added to every seventh order (above it), in major units.
_REFUND = "5.00"
_FIRST_NAME = 1001


def _money(column: str | pl.Expr) -> pl.Expr:
    """Money as the exports write it: ``12.50`` (two places, more only when needed), no symbol."""
    e = pl.col(column) if isinstance(column, str) else column
    return e.cast(MONEY).cast(pl.String).str.replace(r"(\.\d\d)0{1,2}$", "${1}")


def _local(column: str, tz: str) -> pl.Expr:
    """A UTC instant as the shop's local time with its offset, whole seconds."""
    return pl.col(column).dt.truncate("1s").dt.convert_time_zone(tz).dt.strftime(_DATE_FORMAT)


def _check_split(split_rows: object) -> int | None:
    if split_rows is None:
        return None
    if isinstance(split_rows, bool) or not isinstance(split_rows, int) or split_rows < 1:
        raise OptionError(
            f"split_rows is a positive number of rows per file, or None, got {split_rows!r}",
            option="split_rows",
            value=split_rows,
        )
    return split_rows


def write_orders_export(
    data: Tables, folder: str | Path, *, shop_tz: str = "America/New_York", split_rows: int | None = None
) -> list[Path]:
    """Write the orders (with their customers' e-mails) as Shopify's orders export.

    Parameters
    ----------
    data
        A :class:`~retainlib.Dataset`, or a mapping ``{"orders": frame,
        "customers": frame}`` of canonical frames; ``customers`` (optional)
        gives the e-mails written in ``Email``.
    folder
        Where to write ``orders_export_1.csv`` (and ``_2``... when split);
        created if needed.
    shop_tz
        The shop's time zone: ``Created at`` is written in it, with its offset.
    split_rows
        At most this many rows (line items) per file, as the admin splits large
        exports; an order's lines may then straddle two files, which the
        ``shopify`` source reads as one export.  ``None``: one file.

    Returns
    -------
    list[Path]
        The files written, in order.

    Examples
    --------
    >>> import tempfile, polars as pl
    >>> from retainlib import Dataset
    >>> orders = pl.DataFrame({"order_id": ["o1"], "customer_id": ["c1"], "ordered_at": ["2024-03-01T15:00:00Z"],
    ...                        "amount": ["19.90"], "currency": ["USD"]})
    >>> customers = pl.DataFrame({"customer_id": ["c1"], "created_at": ["2024-03-01T15:00:00Z"],
    ...                           "email": ["ann@example.com"]})
    >>> ds = Dataset(orders=orders, customers=customers)
    >>> [path.name for path in write_orders_export(ds, tempfile.mkdtemp())]
    ['orders_export_1.csv']
    """
    try:
        check_tz(shop_tz)
    except OptionError as exc:
        raise OptionError(f"shop_tz: {exc}", option="shop_tz", value=shop_tz) from None
    limit = _check_split(split_rows)
    orders = _common.table(data, "orders", required=True)
    assert orders is not None
    customers = _common.table(data, "customers", required=False)
    if customers is not None and "email" in customers.collect_schema().names():
        emails = customers.select("customer_id", pl.col("email").cast(pl.String).alias("_email")).unique(
            "customer_id", keep="first", maintain_order=True
        )
    else:
        emails = pl.LazyFrame(schema={"customer_id": pl.String, "_email": pl.String})
    ranked = (
        orders.select(
            pl.col("order_id").cast(pl.String),
            pl.col("customer_id").cast(pl.String),
            pl.col("ordered_at"),
            pl.col("amount").cast(MONEY),
            pl.col("currency").cast(pl.String),
        )
        .sort("ordered_at", "order_id")
        .with_row_index("_n")
        .join(emails, on="customer_id", how="left", maintain_order="left")
    )
    n = pl.col("_n")
    amount = pl.col("amount")
    refund = pl.lit(_REFUND).cast(MONEY)
    refunded = (n % 7 == 3) & (amount > refund)
    cents = pl.lit("0.01").cast(MONEY)
    two_lines = (n % 3 == 0) & (amount >= 2 * cents)
    # The first line's price: half the amount, whole cents (the second line holds the rest).
    half = (amount / 2 / cents).floor().cast(pl.Int64).cast(MONEY) * cents
    total = pl.when(refunded).then(amount + refund).otherwise(amount)
    heads = ranked.with_columns(
        pl.format("#{}", n + _FIRST_NAME).alias("Name"),
        _local("ordered_at", shop_tz).alias("Created at"),
        _money(total).alias("Total"),
        pl.when(refunded).then(pl.lit(_REFUND)).otherwise(pl.lit("0.00")).alias("Refunded Amount"),
        pl.when(refunded).then(pl.lit("partially_refunded")).otherwise(pl.lit("paid")).alias("Financial Status"),
        pl.when(two_lines).then(half).otherwise(amount).alias("_price1"),
        (amount - pl.when(two_lines).then(half).otherwise(amount)).alias("_price2"),
        two_lines.alias("_two"),
    )
    first = heads.select(
        "_n",
        pl.lit(0).alias("_k"),
        "Name",
        pl.col("_email").alias("Email"),
        "Financial Status",
        pl.col("Created at").alias("Paid at"),
        pl.lit("fulfilled").alias("Fulfillment Status"),
        pl.col("Created at").alias("Fulfilled at"),
        pl.lit("no").alias("Accepts Marketing"),
        pl.col("currency").alias("Currency"),
        pl.col("Total").alias("Subtotal"),
        pl.lit("0.00").alias("Shipping"),
        pl.lit("0.00").alias("Taxes"),
        "Total",
        pl.lit("0.00").alias("Discount Amount"),
        "Created at",
        pl.lit("1").alias("Lineitem quantity"),
        pl.lit("Item A").alias("Lineitem name"),
        _money("_price1").alias("Lineitem price"),
        pl.lit("true").alias("Lineitem requires shipping"),
        pl.lit("true").alias("Lineitem taxable"),
        pl.lit("fulfilled").alias("Lineitem fulfillment status"),
        pl.lit("manual").alias("Payment Method"),
        "Refunded Amount",
        pl.lit("0.00").alias("Outstanding Balance"),
        pl.col("order_id").alias("Id"),
        pl.lit("Low").alias("Risk Level"),
        pl.lit("web").alias("Source"),
        pl.lit("0.00").alias("Lineitem discount"),
    )
    second = heads.filter(pl.col("_two")).select(
        "_n",
        pl.lit(1).alias("_k"),
        "Name",
        pl.col("_email").alias("Email"),
        "Created at",
        pl.lit("1").alias("Lineitem quantity"),
        pl.lit("Item B").alias("Lineitem name"),
        _money("_price2").alias("Lineitem price"),
        pl.lit("true").alias("Lineitem requires shipping"),
        pl.lit("true").alias("Lineitem taxable"),
        pl.lit("fulfilled").alias("Lineitem fulfillment status"),
        pl.lit("0.00").alias("Lineitem discount"),
    )
    rows = (
        pl.concat([first, second], how="diagonal")
        .sort(["_n", "_k"], descending=[True, False])  # newest order first, its lines in order
        .select(
            pl.col(c) if c in _WRITTEN else pl.lit(None, pl.String).alias(c)  # the other columns stay empty
            for c in ORDERS_HEADER
        )
        .collect()
    )
    out = _common.folder(folder)
    size = rows.height if limit is None else limit
    parts = max(1, -(-rows.height // size)) if size else 1
    paths: list[Path] = []
    for part in range(parts):
        path = out / f"orders_export_{part + 1}.csv"
        rows.slice(part * size, size).write_csv(path)
        paths.append(path)
    return paths


#: The orders export columns the writer fills (the others are written empty).
_WRITTEN = frozenset(
    {
        "Name", "Email", "Financial Status", "Paid at", "Fulfillment Status", "Fulfilled at", "Accepts Marketing",
        "Currency", "Subtotal", "Shipping", "Taxes", "Total", "Discount Amount", "Created at", "Lineitem quantity",
        "Lineitem name", "Lineitem price", "Lineitem requires shipping", "Lineitem taxable",
        "Lineitem fulfillment status", "Payment Method", "Refunded Amount", "Outstanding Balance", "Id",
        "Risk Level", "Source", "Lineitem discount",
    }
)  # fmt: skip


def write_customers_export(data: Tables, folder: str | Path) -> Path:
    """Write the customers as Shopify's customers export (``customers_export.csv``, current header).

    Parameters
    ----------
    data
        A :class:`~retainlib.Dataset`, or a mapping ``{"customers": frame,
        "orders": frame}`` of canonical frames; ``orders`` (optional) gives
        ``Total Spent`` and ``Total Orders``.
    folder
        Where to write the file; created if needed.

    Returns
    -------
    Path
        The file written.

    Examples
    --------
    >>> import tempfile, polars as pl
    >>> customers = pl.DataFrame({"customer_id": ["7"], "created_at": ["2024-03-01T15:00:00Z"],
    ...                           "email": ["ann@example.com"], "name": ["Ann Lee"]})
    >>> path = write_customers_export({"customers": customers}, tempfile.mkdtemp())
    >>> path.read_text().splitlines()[1]
    "'7,Ann,Lee,ann@example.com,no,,,,,,,,,,no,0.00,0,,no,"
    """
    customers = _common.table(data, "customers", required=True)
    assert customers is not None
    names = customers.collect_schema().names()
    spent = _common.spend(data)
    text = {c: pl.col(c).cast(pl.String) if c in names else pl.lit(None, pl.String) for c in ("email", "name")}
    parts = pl.col("_name").str.splitn(" ", 2)
    rows = (
        customers.select(
            pl.col("customer_id").cast(pl.String),
            text["email"].alias("_email"),
            text["name"].str.strip_chars().alias("_name"),
        )
        .join(spent, on="customer_id", how="left", maintain_order="left")
        .select(
            pl.format("'{}", "customer_id").alias("Customer ID"),
            parts.struct.field("field_0").alias("First Name"),
            parts.struct.field("field_1").alias("Last Name"),
            pl.col("_email").alias("Email"),
            pl.lit("no").alias("Accepts Email Marketing"),
            pl.lit("no").alias("Accepts SMS Marketing"),
            _money(pl.col("_spent").fill_null(pl.lit("0").cast(MONEY))).alias("Total Spent"),
            pl.col("_count").fill_null(0).cast(pl.String).alias("Total Orders"),
            pl.lit("no").alias("Tax Exempt"),
        )
    )
    written = rows.collect_schema().names()
    frame = rows.select(
        pl.col(c) if c in written else pl.lit(None, pl.String).alias(c) for c in CUSTOMERS_HEADER
    ).collect()
    path = _common.folder(folder) / "customers_export.csv"
    frame.write_csv(path)
    return path
