"""retainlib source ``stripe``: Stripe Dashboard CSV exports and Stripe API objects (JSON).

What it reads (each file recognised by its content, whatever its name):

* the Dashboard **payments** export (``unified_payments.csv``, any choice of
  columns) -> ``orders``, plus ``customers`` derived from the payers;
* the Dashboard **invoices** export -> ``orders`` (one per paid invoice);
* the Dashboard **customers** export -> ``customers``;
* the Dashboard **subscriptions** export -> ``subscriptions``;
* API **objects** as JSON (a list object ``{"object": "list", "data": [...]}``,
  an array, one object, or JSON lines): ``charge`` and ``invoice`` -> ``orders``,
  ``customer`` -> ``customers``, ``subscription`` -> ``subscriptions`` (one
  constant-price segment per subscription), ``refund`` -> taken off its charge.
  Both the current API shape and the one before ``2025-03-31.basil`` are read.

Every record (CSV row or API object) is loaded or rejected with its reason,
so rows read = loaded + rejected; failed, incomplete and fully refunded payments
are such rejects, and so are the payments of invoices read in the same call
(the money is counted once, as the invoice).  ``docs/stripe.md`` states every policy and option.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import polars as pl

from retainlib import Dataset
from retainlib._conform import canonical_id
from retainlib.errors import OptionError, SourceError
from retainlib.load_report import FileLoad, LoadReport
from retainlib.plugins import ReadResult, Source, hookimpl, progress
from retainlib.tables import CUSTOMERS
from retainlib_stripe import _api, _csv, _invoices_csv, _subscriptions_csv
from retainlib_stripe._currency import EXPONENTS, exponent
from retainlib_stripe._options import OPTIONS, Options

__all__ = ["CONFIDENT", "EXPONENTS", "NAME", "OPTIONS", "Options", "detect", "exponent", "read", "retainlib_sources"]

#: The source's name.
NAME = "stripe"
#: Score of a file that is certainly a Stripe export or holds Stripe objects the source reads.
CONFIDENT = 90
#: Score of JSON holding only Stripe objects the source does not turn into rows (coupons, prices...).
OTHER_OBJECTS = 50
_OTHER_TYPES = frozenset(
    {
        "coupon",
        "discount",
        "price",
        "plan",
        "product",
        "promotion_code",
        "subscription_item",
        "line_item",
        "invoiceitem",
        "payment_intent",
        "balance_transaction",
        "payout",
        "dispute",
        "credit_note",
        "tax_rate",
    }
)
_OBJECT = re.compile(r'"object"\s*:\s*"([a-z_.]+)"')
_HEAD_BYTES = 64 * 1024


def _is_json(head: bytes) -> bool:
    return head.decode("utf-8", errors="replace").removeprefix("\ufeff").lstrip()[:1] in ("{", "[")


def detect(path: Path, head: bytes) -> int:
    """Score a file for the ``stripe`` source: :data:`CONFIDENT` for Stripe exports and API objects, else 0."""
    del path  # recognised by content
    if _is_json(head):
        types = set(_OBJECT.findall(head.decode("utf-8", errors="replace")))
        if types & _api.READ_OBJECTS.keys():
            return CONFIDENT
        return OTHER_OBJECTS if types & _OTHER_TYPES else 0
    return CONFIDENT if _kind(head) is not None else 0


def _kind(head: bytes) -> str | None:
    """``payments``, ``invoices``, ``customers`` or ``subscriptions`` for a Stripe CSV export, else ``None``."""
    columns = _csv.header(head)
    kind = _csv.kind_of(columns)
    if kind != "payments" and _invoices_csv.is_invoices(columns):
        return "invoices"
    if kind is None and _subscriptions_csv.is_subscriptions(columns):
        kind = "subscriptions"
    return kind


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(_HEAD_BYTES)
    except OSError as exc:
        raise SourceError(f"cannot open: {exc.strerror or exc}", file=path, source=NAME) from None


def _derived_customers(orders: pl.DataFrame, subscriptions: pl.DataFrame) -> pl.DataFrame:
    """Customers seen only as payers or subscribers: created at their first order or segment."""
    seen = pl.concat(
        [
            orders.select("customer_id", pl.col("ordered_at").alias("created_at"), pl.col("_email").alias("email")),
            subscriptions.select(
                "customer_id", pl.col("started_at").alias("created_at"), pl.lit(None, pl.String).alias("email")
            ),
        ]
    )
    return (
        seen.sort("created_at", maintain_order=True)
        .group_by("customer_id", maintain_order=True)
        .agg(pl.col("created_at").min(), pl.col("email").drop_nulls().first())
        .with_columns(pl.lit(None, pl.String).alias("name"))
        .select(CUSTOMERS.schema.names())
    )


def _checked_once(orders: pl.DataFrame, customers: pl.DataFrame) -> bool:
    """Whether the full check of tables read from checked rows would refuse or change nothing.

    It would refuse an id repeated (one payment in two files), and write an id such as ``"17.0"`` as
    ``"17"`` (:func:`retainlib._conform.canonical_id`): only ids holding a point are looked at for that.
    """
    for frame, key in ((orders, "order_id"), (customers, "customer_id")):
        # Told by the ids' hashes: two ids sharing one (a few chances in a million at 10M ids) only send the tables to
        # the full check, which then finds them distinct.
        ids = frame.get_column(key).drop_nulls()
        if ids.hash().n_unique() < ids.len():
            return False
    for frame, columns in ((orders, ("order_id", "customer_id")), (customers, ("customer_id",))):
        for column in columns:
            ids = frame.get_column(column)
            dotted = ids.filter(ids.str.contains(".", literal=True))
            if dotted.len() and not dotted.equals(dotted.to_frame().select(canonical_id(pl.col(column))).to_series()):
                return False
    return True


def read(
    paths: Sequence[Path],
    *,
    guests: str | None = None,
    amounts: str | None = None,
    invoices: str | None = None,
    past_due: str | None = None,
    discounts: str | None = None,
    trials: str | None = None,
) -> ReadResult:
    """Read Stripe exports and API objects into ``orders``, ``customers`` and ``subscriptions``.

    Options (strings; ``None`` is the default) are described in :data:`OPTIONS`
    and ``docs/stripe.md``.  Invoices exports are read first, then API files, then
    the other exports, so that paid invoices and refunds are known when the
    charges and payments they concern are read.
    """
    if not paths:
        raise OptionError("the stripe source needs at least one file", option="paths", value=list(paths))
    options = Options.of(
        guests=guests, amounts=amounts, invoices=invoices, past_due=past_due, discounts=discounts, trials=trials
    )
    json_files: list[Path] = []
    csv_files: list[tuple[Path, str]] = []
    for p in map(Path, paths):
        head = _head(p)
        if not head.strip():
            raise SourceError("the file is empty", file=p, source=NAME)
        if _is_json(head):
            json_files.append(p)
            continue
        kind = _kind(head)
        if kind is None:
            raise SourceError(
                "not a Stripe export: expected a payments export (header starting 'id,Created date (UTC),Amount,...' "
                "with Currency and Status), an invoices export ('id,...,Customer,...,Amount Due,Amount Paid,...,"
                "Date (UTC),...'), a customers export ('id,...,Email,...,Created (UTC),...'), a "
                "subscriptions export ('id,Customer ID,...,Status,...,Start Date (UTC),...,Current Period End (UTC)') "
                "or API JSON",
                file=p,
                source=NAME,
            )
        csv_files.append((p, kind))

    # Invoices first: a charge or payment of a loaded invoice is its duplicate, not another order.
    links: dict[str, str] = {}
    invoice_reads: dict[Path, tuple[pl.DataFrame, FileLoad]] = {}
    for p, kind in csv_files:
        if kind == "invoices":
            frame, load, found = _invoices_csv.read_invoices(p, options)
            invoice_reads[p] = frame, load
            links.update(found)
    records = [r for p in json_files for r in _api.load_records(p)]
    api = _api.read_records(records, options, links)
    loads: list[FileLoad] = list(api.loads)
    for p in json_files:
        progress(p, sum(1 for r in records if r.file == p))
    orders: list[pl.DataFrame] = [_api.orders_frame(api.orders)]
    customers: list[pl.DataFrame] = [_api.customers_frame(api.customers)]
    subscriptions: list[pl.DataFrame] = [_api.subscriptions_frame(api.subscriptions)]
    for p, kind in csv_files:
        if kind == "invoices":
            frame, load = invoice_reads[p]
            orders.append(frame)
        elif kind == "payments":
            frame, load = _csv.read_payments(p, options, invoice_links=api.links, refunds=api.refunds)
            orders.append(frame)
        elif kind == "customers":
            frame, load = _csv.read_customers(p)
            customers.append(frame)
        else:
            frame, load = _subscriptions_csv.read_subscriptions(p, options)
            subscriptions.append(frame)
        loads.append(load)
        progress(p, load.rows_read)

    order_frame = pl.concat(orders, how="vertical_relaxed")
    subscription_frame = pl.concat(subscriptions, how="vertical_relaxed")
    explicit = pl.concat(customers, how="vertical_relaxed")
    derived = _derived_customers(order_frame, subscription_frame).join(explicit, on="customer_id", how="anti")
    customer_frame = pl.concat([explicit, derived], how="vertical_relaxed")
    tables = {load.table for load in loads}
    # The payments and customers exports' readers check every row: tables made of them alone are
    # validated once, unless the full check would still find something (an id repeated, or written as
    # a decimal).  Other inputs are checked in full.
    checked = not json_files and all(kind in ("payments", "customers") for _, kind in csv_files)
    validate: Literal["full", "schema"] = "schema" if checked and _checked_once(order_frame, customer_frame) else "full"
    dataset = Dataset(
        orders=order_frame.drop("_email") if "orders" in tables else None,
        customers=customer_frame if tables & {"orders", "customers", "subscriptions"} else None,
        subscriptions=subscription_frame if "subscriptions" in tables else None,
        validate=validate,
        source=NAME,
    )
    return ReadResult(dataset=dataset, report=LoadReport(source=NAME, files=tuple(loads)))


@hookimpl
def retainlib_sources() -> Iterable[Source]:
    """The ``stripe`` source."""
    yield Source(
        name=NAME,
        description="Stripe: Dashboard payments/invoices/customers/subscriptions CSV exports and API JSON (charges, "
        "invoices, refunds, customers, subscriptions)",
        kinds=("csv", "json", "jsonl"),
        reader=read,
        detector=detect,
        options=OPTIONS,
    )
