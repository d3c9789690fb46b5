"""retainlib source ``shopify``: a Shopify store's admin exports and API payloads.

What it reads (each file recognised by its content, whatever its name):

* the **orders export** (*Orders > Export*: ``orders_export_1.csv``, split
  exports ``_1``, ``_2``... read together as one export) -> ``orders``, plus
  ``customers`` derived from the buyers;
* the **customers export** (*Customers > Export*: ``customers_export.csv``;
  current, transitional and legacy headers) -> ``customers``;
* REST **orders.json** (``{"orders": [...]}``, ``{"order": {...}}``), customers
  and refunds, and GraphQL responses and **bulk-operation JSON lines**
  (global ids ``gid://shopify/Order/123``, lines nested with ``__parentId``).

Policies (``docs/sources/shopify.md`` gives each with its reasons):

* **Amount**: what the customer paid and kept: ``Total`` less ``Refunded
  Amount`` (API: ``total_price`` less the refund transactions,
  ``totalPriceSet`` less ``totalRefundedSet``).  Option ``amount="subtotal"``
  takes the subtotal (after discounts, without shipping and taxes) instead,
  scaled by the share of the total the customer kept.
* **Not orders**: test orders, cancelled orders, voided or expired (never
  paid) orders and fully refunded orders are rejected with their reason.
* **Customers**: keyed by the Shopify customer id where the record has one
  (API orders, customers export), else by the e-mail normalised (stripped,
  lower-cased); an order keyed by e-mail takes the Shopify id that the same
  read knows for that e-mail (customers export, API customers).  An order
  with neither id nor e-mail is rejected, not guessed.  Marketplace relay
  addresses (TikTok Shop, Amazon...) are kept as keys, or rejected with
  ``relay="reject"``.
* **Times** are converted to UTC from the shop's offset (``2024-03-01
  10:00:00 -0500``) or the API's ISO times; option ``tz`` reads times without
  an offset (an export re-saved by a spreadsheet), which are rejected otherwise.
* **No creation date** in the customers export: a customer is dated by its
  first order read in the same call (or an API creation date); without one it
  is rejected.

Every record is accounted for: rows read = rows loaded + rows rejected, file
by file.  An orders export counts its CSV rows (line items): the rows of a
loaded order are loaded, those of a rejected order each rejected with the
order's reason; ``FileLoad.rows_out`` counts the orders.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import polars as pl

from retainlib import Dataset
from retainlib.errors import OptionError, SourceError
from retainlib.load_report import FileLoad, LoadReport
from retainlib.plugins import ReadResult, Source, hookimpl, progress
from retainlib.tables import CUSTOMERS, ORDERS, TIMESTAMP
from retainlib_shopify import _csv, _customers, _json, _orders
from retainlib_shopify import _fields as f
from retainlib_shopify._options import OPTIONS, Options

__all__ = ["CONFIDENT", "NAME", "OPTIONS", "Options", "detect", "read", "retainlib_sources"]

#: The source's name.
NAME = "shopify"
#: Score of a file that is certainly a Shopify export or API payload.
CONFIDENT = 90
_HEAD_BYTES = 64 * 1024
_LINE_SCHEMA: dict[str, pl.DataType] = {
    "_src": pl.Int32(),
    "_seq": pl.Int64(),
    "_line": pl.Int64(),
    "refund_dup": pl.Boolean(),
}
_CUSTOMER_COLUMNS = [*CUSTOMERS.schema.names(), "phone"]
#: The orders of a read without order files (with the helper columns the customers are derived from).
_NO_ORDERS = pl.DataFrame(
    schema={
        **ORDERS.schema,
        **dict.fromkeys(_orders.EXTRAS, pl.String()),
        "_src": pl.Int32(),
        "_email": pl.String(),
        "_customer_created": pl.String(),
    }
)


def _is_json(head: bytes) -> bool:
    return head.decode("utf-8", errors="replace").removeprefix("\ufeff").lstrip()[:1] in ("{", "[")


def detect(path: Path, head: bytes) -> int:
    """Score a file for the ``shopify`` source: :data:`CONFIDENT` for Shopify exports and API payloads, else 0."""
    del path  # recognised by content
    if _is_json(head):
        return CONFIDENT if _json.looks_like_shopify(head) else 0
    return CONFIDENT if _csv.sniff(head).kind is not None else 0


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(_HEAD_BYTES)
    except OSError as exc:
        raise SourceError(f"cannot open: {exc.strerror or exc}", file=path, source=NAME) from None


def _emails(customers: pl.DataFrame, order_lines: Sequence[pl.DataFrame]) -> pl.LazyFrame:
    """Normalised e-mail -> the Shopify customer id the read knows for it (the first one, in file order)."""
    pairs = [customers.lazy().select(f.email(pl.col("email")).alias("_map_email"), pl.col("customer"))]
    pairs += [
        lines.lazy()
        .filter(pl.col("_kind") == "head")
        .select(f.email(pl.col("email")).alias("_map_email"), pl.col("customer"))
        for lines in order_lines
    ]
    return (
        pl.concat(pairs)
        .filter(pl.col("_map_email").is_not_null() & pl.col("customer").is_not_null())
        .unique("_map_email", keep="first", maintain_order=True)
        .select("_map_email", pl.col("customer").alias("_map_customer"))
    )


def _known_dates(orders: pl.DataFrame, customers: pl.DataFrame) -> pl.LazyFrame:
    """``customer_id`` -> the earliest of its first order and a creation date an API payload gives it."""
    from_orders = orders.lazy().select(
        "customer_id",
        pl.min_horizontal("ordered_at", f.iso_time(pl.col("_customer_created"))).alias("_known"),
    )
    from_api = customers.lazy().select(
        pl.coalesce(pl.col("customer"), f.email(pl.col("email"))).alias("customer_id"),
        f.iso_time(pl.col("created")).alias("_known"),
    )
    return (
        pl.concat([from_orders, from_api])
        .filter(pl.col("customer_id").is_not_null())
        .group_by("customer_id")
        .agg(pl.col("_known").min().cast(TIMESTAMP))
    )


def read(
    paths: Sequence[Path], *, amount: str | None = None, relay: str | None = None, tz: str | None = None
) -> ReadResult:
    """Read Shopify exports and API payloads into ``orders`` and ``customers``.

    Options (strings; ``None`` is the default) are described in :data:`OPTIONS`
    and ``docs/sources/shopify.md``.  All the files of one call are one
    export: an orders export split into ``orders_export_1.csv``,
    ``orders_export_2.csv``... is grouped into orders across its files, and a
    customers export read beside it gives the orders' customers their Shopify
    ids and the customers their dates.
    """
    if not paths:
        raise OptionError("the shopify source needs at least one file", option="paths", value=list(paths))
    options = Options.of(amount=amount, relay=relay, tz=tz)
    files = [Path(p) for p in paths]
    order_files: list[tuple[int, Path, _csv.Sniffed]] = []
    customer_files: list[tuple[int, Path, _csv.Sniffed]] = []
    json_files: list[tuple[int, Path]] = []
    for src, path in enumerate(files):
        head = _head(path)
        if not head.strip():
            raise SourceError("the file is empty", file=path, source=NAME)
        if _is_json(head):
            json_files.append((src, path))
            continue
        sniffed = _csv.sniff(head)
        if sniffed.kind is None:
            raise SourceError(
                "not a Shopify export: expected the orders export (a header with Name, Email, Financial Status, "
                "..., Created at, Lineitem quantity, ...), the customers export (Customer ID or First Name, Last "
                "Name, Email, ..., Total Spent, ...) or API JSON",
                file=path,
                source=NAME,
            )
        (order_files if sniffed.kind == "orders" else customer_files).append((src, path, sniffed))

    api = _json.read_json(json_files)
    customer_frames = [
        _csv.scan_customers(path, sniffed, src).with_columns(
            pl.col("_line").alias("_seq"), pl.lit("csv").alias("_style")
        )
        for src, path, sniffed in customer_files
    ]
    customer_frames.append(_json.frame(api.customers, _LINE_SCHEMA))
    customer_rows = pl.concat(customer_frames, how="diagonal_relaxed")

    order_parts: list[tuple[pl.DataFrame, _orders.Labels]] = []
    if order_files:
        csv_lines = [
            _csv.scan_orders(path, sniffed, src).with_columns(pl.col("_line").alias("_seq"))
            for src, path, sniffed in order_files
        ]
        order_parts.append((pl.concat(csv_lines, how="diagonal_relaxed"), _orders.CSV))
    styles: tuple[tuple[_json.Style, _orders.Labels], ...] = (("rest", _orders.REST), ("graphql", _orders.GRAPHQL))
    for style, labels in styles:
        if api.lines[style]["_src"]:
            order_parts.append((_json.frame(api.lines[style], _LINE_SCHEMA), labels))
    email_map = _emails(customer_rows, [lines for lines, _ in order_parts]).collect()
    emails = email_map.lazy() if email_map.height else None
    reads = [_orders.read_orders(lines, labels, options, emails, files) for lines, labels in order_parts]
    orders = pl.concat([r.orders for r in reads], how="vertical") if reads else _NO_ORDERS
    known = _known_dates(orders, customer_rows)
    customers_read = _customers.read_customers(customer_rows, known, files, options.tz)
    explicit = customers_read.customers.select(_CUSTOMER_COLUMNS)
    customers = pl.concat([explicit, _customers.derived(orders, explicit)], how="vertical")

    loads = _loads(files, reads, customers_read, api, order_files, customer_files)
    for path in files:
        progress(path, sum(load.rows_read for load in loads if load.file == str(path)))
    tables = {load.table for load in loads}
    repeated = orders["order_id"].is_duplicated().any()
    dataset = Dataset(
        orders=orders.drop(_orders.HELPERS, strict=False) if "orders" in tables else None,
        customers=customers if tables & {"orders", "customers"} else None,
        validate="full" if repeated else "none",
        source=NAME,
    )
    return ReadResult(dataset=dataset, report=LoadReport(source=NAME, files=tuple(loads)))


def _loads(
    files: Sequence[Path],
    reads: Sequence[_orders.OrdersRead],
    customers: _customers.CustomersRead,
    api: _json.JsonRead,
    order_files: Sequence[tuple[int, Path, _csv.Sniffed]],
    customer_files: Sequence[tuple[int, Path, _csv.Sniffed]],
) -> list[FileLoad]:
    """One ``FileLoad`` per file and table its records went to (``""`` for records of no table)."""
    rejected_orders = pl.concat([r.rejected for r in reads], how="vertical") if reads else None
    others = _json.frame(api.others, _LINE_SCHEMA)
    order_srcs = {src for r in reads for src in r.read}
    loads: list[FileLoad] = []
    for src, path in enumerate(files):
        mine: list[FileLoad] = []
        if src in order_srcs or any(s == src for s, _, _ in order_files):
            assert rejected_orders is not None or not reads
            rejected = (
                rejected_orders.filter(pl.col("_src") == src)
                if rejected_orders is not None
                else pl.DataFrame(schema={"_src": pl.Int32})
            )
            mine.append(
                FileLoad(
                    file=str(path),
                    table="orders",
                    rows_read=sum(r.read.get(src, 0) for r in reads),
                    rows_loaded=sum(r.loaded.get(src, 0) for r in reads),
                    rejected=rejected,
                    rows_out=sum(r.out.get(src, 0) for r in reads),
                )
            )
        if src in customers.read or any(s == src for s, _, _ in customer_files):
            rejected = customers.rejected.filter(pl.col("_src") == src)
            read = customers.read.get(src, 0)
            mine.append(
                FileLoad(
                    file=str(path), table="customers", rows_read=read, rows_loaded=read - rejected.height,
                    rejected=rejected,
                )
            )  # fmt: skip
        other = others.filter(pl.col("_src") == src)
        if other.height or not mine:
            rejected = other.select(
                pl.lit(str(path)).alias("file"),
                pl.col("_line").alias("line"),
                pl.lit("").alias("table"),
                pl.col("reason").str.splitn(": ", 2).struct.field("field_0").alias("column"),
                pl.col("reason"),
            )
            mine.append(FileLoad(file=str(path), table="", rows_read=other.height, rows_loaded=0, rejected=rejected))
        loads.extend(mine)
    return loads


@hookimpl
def retainlib_sources() -> Iterable[Source]:
    """The ``shopify`` source."""
    yield Source(
        name=NAME,
        description="Shopify: admin orders and customers CSV exports (split exports read as one), REST orders.json "
        "and GraphQL / bulk-operation JSON lines",
        kinds=("csv", "json", "jsonl"),
        reader=read,
        detector=detect,
        options=OPTIONS,
    )
