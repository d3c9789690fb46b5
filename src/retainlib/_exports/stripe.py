"""A Dataset's orders, customers and subscriptions written as Stripe Dashboard exports (CSV).

:func:`write_payments_export` writes the canonical ``orders`` table as the
Dashboard's *Payments > Export* file (``unified_payments.csv``, the default
columns), :func:`write_customers_export` the ``customers`` table as
*Customers > Export* (``customers.csv``) and :func:`write_subscriptions_export`
the ``subscriptions`` table as *Subscriptions > Export* (``subscriptions.csv``,
with the price columns ``Plan``, ``Quantity``, ``Currency``, ``Interval`` and
``Amount``), so that demos, docs and benchmarks read real-looking files through
the ``stripe`` source (plugin ``retainlib-stripe``).  Reading the three files
back in one call gives the same orders, customers and subscriptions: ids,
instants to the second, amounts, MRR and currencies.

What the files hold:

* payments: one ``Paid`` row per order (``id`` the ``order_id``, ``Customer
  ID``, ``Customer Email`` from the customers table, ``Created date (UTC)``
  to the second, ``Amount`` in major units with thousands grouped as the
  Dashboard writes them, ``1,000.00``, currency in lower case), newest
  first; every seventh order (above 5.00) was charged 5.00 more and partly
  refunded (``Amount Refunded`` 5.00, with its date), so the amount kept is
  the canonical amount; every eleventh order was preceded by a declined
  attempt (``Failed``, ``Captured`` false, id ``<order_id>_declined``) that
  the source rejects, as it rejects real ones.
* customers: ``Created (UTC)``, ``Email``, ``Name``; ``Total Spend`` and
  ``Payment Count`` from the orders given.
* subscriptions: one row per segment (the store's segments are
  subscriptions of one price each); ``Status`` ``active`` or ``canceled``
  (``Canceled At``/``Ended At`` the segment's end); the price is monthly when
  the MRR is whole cents, else yearly (``Amount`` = 12 x MRR, rounded to
  whole major units: the store's annual plans), ``Quantity`` 1.

Times are UTC, as every Dashboard export writes them.  Everything is polars
expressions (no Python object per row).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from retainlib._exports import _common
from retainlib.tables import MONEY

__all__ = [
    "CUSTOMERS_HEADER",
    "PAYMENTS_HEADER",
    "SUBSCRIPTIONS_HEADER",
    "prices",
    "write_customers_export",
    "write_payments_export",
    "write_subscriptions_export",
]

#: The Dashboard's payments export header (its default columns).
PAYMENTS_HEADER: tuple[str, ...] = (
    "id", "Created date (UTC)", "Amount", "Amount Refunded", "Currency", "Captured", "Converted Amount",
    "Converted Amount Refunded", "Converted Currency", "Decline Reason", "Description", "Fee",
    "Refunded date (UTC)", "Statement Descriptor", "Status", "Seller Message", "Taxes On Fee", "Card ID",
    "Customer ID", "Customer Description", "Customer Email", "Invoice ID", "Transfer",
)  # fmt: skip
#: The Dashboard's customers export header.
CUSTOMERS_HEADER: tuple[str, ...] = (
    "id", "Description", "Email", "Name", "Created (UTC)", "Delinquent", "Plan", "Status", "Total Spend",
    "Payment Count", "Refunded Volume", "Dispute Losses",
)  # fmt: skip
#: The Dashboard's subscriptions export header, with the price columns.
SUBSCRIPTIONS_HEADER: tuple[str, ...] = (
    "id", "Customer ID", "Customer Name", "Customer Email", "Status", "Cancellation Reason", "Created (UTC)",
    "Start Date (UTC)", "Current Period Start (UTC)", "Current Period End (UTC)", "Trial Start (UTC)",
    "Trial End (UTC)", "Canceled At (UTC)", "Cancel At Period End", "Ended At (UTC)", "Plan", "Product",
    "Quantity", "Currency", "Interval", "Amount",
)  # fmt: skip

_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
#: The partial refund of every seventh order (above it), in major units.
_REFUND = "5.00"


def _utc(column: str | pl.Expr) -> pl.Expr:
    """An instant as the Dashboard writes it: UTC, whole seconds, no offset."""
    e = pl.col(column) if isinstance(column, str) else column
    return e.dt.convert_time_zone("UTC").dt.truncate("1s").dt.strftime(_DATE_FORMAT)


def amount_text(value: pl.Expr) -> pl.Expr:
    """Money as the Dashboard writes it: two places (more only when needed), thousands grouped (``1,000.00``)."""
    text = value.cast(MONEY).cast(pl.String).str.replace(r"(\.\d\d\d*?)0+$", "${1}")
    whole = text.str.extract(r"^(\d+)", 1)
    rest = text.str.extract(r"^\d+(.*)$", 1)
    # Group the whole part by threes from the right: reversed, a comma after each three digits, reversed back.
    grouped = whole.str.reverse().str.replace_all(r"(\d{3})", "${1},").str.strip_chars_end(",").str.reverse()
    return pl.concat_str(grouped, rest)


def prices(subscriptions: pl.LazyFrame) -> pl.LazyFrame:
    """Each segment with the price that gives its MRR: ``_unit`` (minor units per interval), ``_interval``.

    Monthly when the MRR is whole cents; else yearly, 12 x MRR rounded to whole major units (the
    store's annual plans: 290.00 a year is an MRR of 24.1667).  ``_price`` names the price.
    """
    mrr = pl.col("mrr").cast(MONEY)
    cents4 = (mrr * 10_000).cast(pl.Int64)
    monthly = cents4 % 100 == 0
    yearly_cents = (mrr * 12).round(0).cast(pl.Int64) * 100
    return subscriptions.with_columns(
        pl.when(monthly).then(cents4 // 100).otherwise(yearly_cents).alias("_unit"),
        pl.when(monthly).then(pl.lit("month")).otherwise(pl.lit("year")).alias("_interval"),
    ).with_columns(pl.format("price_{}_{}_{}", "_interval", "_unit", pl.col("currency")).alias("_price"))


def _emails(data: _common.Tables) -> pl.LazyFrame:
    customers = _common.table(data, "customers", required=False)
    if customers is None:
        return pl.LazyFrame(schema={"customer_id": pl.String, "_email": pl.String, "_name": pl.String})
    names = customers.collect_schema().names()
    return customers.select(
        pl.col("customer_id").cast(pl.String),
        (pl.col("email").cast(pl.String) if "email" in names else pl.lit(None, pl.String)).alias("_email"),
        (pl.col("name").cast(pl.String) if "name" in names else pl.lit(None, pl.String)).alias("_name"),
    ).unique("customer_id", keep="first", maintain_order=True)


def _write(frame: pl.LazyFrame, header: tuple[str, ...], path: Path) -> Path:
    written = frame.collect_schema().names()
    frame.select(pl.col(c) if c in written else pl.lit(None, pl.String).alias(c) for c in header).collect().write_csv(
        path
    )
    return path


def write_payments_export(data: _common.Tables, folder: str | Path) -> Path:
    """Write the orders (with their customers' e-mails) as the Dashboard's payments export.

    Parameters
    ----------
    data
        A :class:`~retainlib.Dataset`, or a mapping ``{"orders": frame,
        "customers": frame}`` of canonical frames; ``customers`` (optional)
        gives ``Customer Email``.
    folder
        Where to write ``unified_payments.csv``; created if needed.

    Returns
    -------
    Path
        The file written.

    Examples
    --------
    >>> import tempfile, polars as pl
    >>> orders = pl.DataFrame({"order_id": ["ch_1"], "customer_id": ["cus_1"],
    ...                        "ordered_at": ["2024-03-01T15:00:00Z"], "amount": ["1250.5"], "currency": ["EUR"]})
    >>> path = write_payments_export({"orders": orders}, tempfile.mkdtemp())
    >>> path.read_text().splitlines()[1][:65]
    'ch_1,2024-03-01 15:00:00,"1,250.50",0.00,eur,true,"1,250.50",0.00'
    >>> row = pl.read_csv(path, infer_schema=False).row(0, named=True)
    >>> row["Status"], row["Fee"], row["Customer ID"]
    ('Paid', '36.56', 'cus_1')
    """
    orders = _common.table(data, "orders", required=True)
    assert orders is not None
    ranked = (
        orders.select(
            pl.col("order_id").cast(pl.String),
            pl.col("customer_id").cast(pl.String),
            pl.col("ordered_at").cast(pl.String).str.to_datetime(time_zone="UTC")
            if orders.collect_schema()["ordered_at"] == pl.String
            else pl.col("ordered_at"),
            pl.col("amount").cast(MONEY),
            pl.col("currency").cast(pl.String),
        )
        .sort("ordered_at", "order_id")
        .with_row_index("_n")
        .join(_emails(data), on="customer_id", how="left", maintain_order="left")
    )
    n, amount = pl.col("_n"), pl.col("amount")
    refund = pl.lit(_REFUND).cast(MONEY)
    refunded = (n % 7 == 3) & (amount > refund)
    charged = pl.when(refunded).then(amount + refund).otherwise(amount)
    currency = pl.col("currency").str.to_lowercase()
    paid = ranked.select(
        "_n",
        pl.lit(1).alias("_k"),
        pl.col("order_id").alias("id"),
        _utc("ordered_at").alias("Created date (UTC)"),
        amount_text(charged).alias("Amount"),
        pl.when(refunded).then(pl.lit(_REFUND)).otherwise(pl.lit("0.00")).alias("Amount Refunded"),
        currency.alias("Currency"),
        pl.lit("true").alias("Captured"),
        amount_text(charged).alias("Converted Amount"),
        pl.when(refunded).then(pl.lit(_REFUND)).otherwise(pl.lit("0.00")).alias("Converted Amount Refunded"),
        currency.alias("Converted Currency"),
        amount_text((charged * pl.lit("0.029").cast(MONEY) + pl.lit("0.30").cast(MONEY)).round(2)).alias("Fee"),
        pl.when(refunded)
        .then(_utc(pl.col("ordered_at") + pl.duration(days=2)))
        .otherwise(pl.lit(None, pl.String))
        .alias("Refunded date (UTC)"),
        pl.lit("Paid").alias("Status"),
        pl.lit("Payment complete.").alias("Seller Message"),
        pl.lit("0.00").alias("Taxes On Fee"),
        pl.col("customer_id").alias("Customer ID"),
        pl.col("_email").alias("Customer Email"),
    )
    declined = ranked.filter(n % 11 == 5).select(
        "_n",
        pl.lit(0).alias("_k"),
        pl.format("{}_declined", pl.col("order_id")).alias("id"),
        _utc(pl.col("ordered_at") - pl.duration(minutes=3)).alias("Created date (UTC)"),
        amount_text(charged).alias("Amount"),
        pl.lit("0.00").alias("Amount Refunded"),
        currency.alias("Currency"),
        pl.lit("false").alias("Captured"),
        amount_text(charged).alias("Converted Amount"),
        pl.lit("0.00").alias("Converted Amount Refunded"),
        currency.alias("Converted Currency"),
        pl.lit("card_declined").alias("Decline Reason"),
        pl.lit("0.00").alias("Fee"),
        pl.lit("Failed").alias("Status"),
        pl.lit("The bank did not return any further details with this decline.").alias("Seller Message"),
        pl.lit("0.00").alias("Taxes On Fee"),
        pl.col("customer_id").alias("Customer ID"),
        pl.col("_email").alias("Customer Email"),
    )
    rows = pl.concat([paid, declined], how="diagonal").sort(["_n", "_k"], descending=[True, True])
    return _write(rows, PAYMENTS_HEADER, _common.folder(folder) / "unified_payments.csv")


def write_customers_export(data: _common.Tables, folder: str | Path) -> Path:
    """Write the customers as the Dashboard's customers export (``customers.csv``).

    ``data`` holds ``customers`` (and, optionally, ``orders``: ``Total Spend`` and ``Payment Count``).

    Examples
    --------
    >>> import tempfile, polars as pl
    >>> customers = pl.DataFrame({"customer_id": ["cus_1"], "created_at": ["2024-03-01T15:00:00Z"],
    ...                           "email": ["ann@example.com"], "name": ["Ann Lee"]})
    >>> path = write_customers_export({"customers": customers}, tempfile.mkdtemp())
    >>> path.read_text().splitlines()[1]
    'cus_1,,ann@example.com,Ann Lee,2024-03-01 15:00:00,false,,,0.00,0,0.00,0.00'
    """
    customers = _common.table(data, "customers", required=True)
    assert customers is not None
    spent = _common.spend(data)
    created = (
        pl.col("created_at").str.to_datetime(time_zone="UTC")
        if customers.collect_schema()["created_at"] == pl.String
        else pl.col("created_at")
    )
    rows = (
        customers.with_columns(pl.col("customer_id").cast(pl.String), created.alias("created_at"))
        .join(_emails(data), on="customer_id", how="left", maintain_order="left")
        .join(spent, on="customer_id", how="left", maintain_order="left")
        .select(
            pl.col("customer_id").alias("id"),
            pl.col("_email").alias("Email"),
            pl.col("_name").alias("Name"),
            _utc("created_at").alias("Created (UTC)"),
            pl.lit("false").alias("Delinquent"),
            amount_text(pl.col("_spent").fill_null(pl.lit("0").cast(MONEY))).alias("Total Spend"),
            pl.col("_count").fill_null(0).cast(pl.String).alias("Payment Count"),
            pl.lit("0.00").alias("Refunded Volume"),
            pl.lit("0.00").alias("Dispute Losses"),
        )
    )
    return _write(rows, CUSTOMERS_HEADER, _common.folder(folder) / "customers.csv")


def write_subscriptions_export(data: _common.Tables, folder: str | Path) -> Path:
    """Write the subscriptions (one row per segment) as the Dashboard's subscriptions export.

    ``data`` holds ``subscriptions`` with their ``mrr`` and ``currency`` (and, optionally, ``customers``:
    ``Customer Name`` and ``Customer Email``).  The file is ``subscriptions.csv``.
    """
    subscriptions = _common.table(data, "subscriptions", required=True, every_column=True)
    assert subscriptions is not None
    names = subscriptions.collect_schema().names()
    product = pl.col("plan").cast(pl.String) if "plan" in names else pl.lit(None, pl.String)
    priced = prices(
        subscriptions.select(
            pl.col("subscription_id").cast(pl.String),
            pl.col("customer_id").cast(pl.String),
            "started_at",
            "ended_at",
            "mrr",
            pl.col("currency").cast(pl.String),
            product.alias("_product"),
        )
    ).join(_emails(data), on="customer_id", how="left", maintain_order="left")
    ended = pl.col("ended_at").is_not_null()
    period = pl.when(pl.col("_interval") == "year").then(pl.lit("1y")).otherwise(pl.lit("1mo"))
    rows = priced.select(
        pl.col("subscription_id").alias("id"),
        pl.col("customer_id").alias("Customer ID"),
        pl.col("_name").alias("Customer Name"),
        pl.col("_email").alias("Customer Email"),
        pl.when(ended).then(pl.lit("canceled")).otherwise(pl.lit("active")).alias("Status"),
        pl.when(ended).then(pl.lit("cancellation_requested")).alias("Cancellation Reason"),
        _utc("started_at").alias("Created (UTC)"),
        _utc("started_at").alias("Start Date (UTC)"),
        _utc("started_at").alias("Current Period Start (UTC)"),
        _utc(pl.col("started_at").dt.offset_by(period)).alias("Current Period End (UTC)"),
        _utc("ended_at").alias("Canceled At (UTC)"),
        pl.lit("false").alias("Cancel At Period End"),
        _utc("ended_at").alias("Ended At (UTC)"),
        pl.col("_price").alias("Plan"),
        pl.col("_product").alias("Product"),
        pl.lit("1").alias("Quantity"),
        pl.col("currency").str.to_lowercase().alias("Currency"),
        pl.col("_interval").alias("Interval"),
        amount_text(pl.col("_unit").cast(MONEY) / 100).alias("Amount"),
    )
    return _write(rows, SUBSCRIPTIONS_HEADER, _common.folder(folder) / "subscriptions.csv")
