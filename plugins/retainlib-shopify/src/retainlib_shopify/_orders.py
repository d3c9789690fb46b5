"""From order lines (CSV rows, API objects) to canonical orders: the policies and the account of every line.

Every reader turns its records into *order lines* of text (the columns of
:data:`~retainlib_shopify._csv.LINE_COLUMNS`): an order's *head* (the CSV row
holding its order-level fields, or the API order object), its follow-on CSV
rows (``line``), the bulk-operation lines nested under it (``child``) and the
refund objects read beside it (``refund``), all sharing a group key (the CSV
``Name``, the API order id).

This module decides, with polars expressions:

1. per line, its own problems (no ``Name``, a ``Created at`` that is not a
   time, a refund whose amount is not money);
2. per order, from its head and its lines: the amount (``Total`` less
   refunds, or the subtotal's kept share), the customer (the order's customer
   id, else the Shopify id the read knows for its e-mail, else the normalised
   e-mail), the time (the earliest line's), and whether it is an order at all
   (a test, a cancelled, a voided or a fully refunded order is not; nor one
   whose order fields appear on several rows, whose lines name different
   customers, or whose customer cannot be identified);
3. the canonical checks, by the core's :func:`retainlib._conform.conform` on
   one row per order (ids, currency codes, money range, an ``order_id`` seen
   twice);
4. the verdict of every line, the way the core's line-item orders do it
   (``lines=True`` of the built-in sources): a line with a problem of its own
   is rejected with it; the other lines of an order rejected as a whole carry
   the order's reason, or "another line of this order was rejected (line N)".

Rows read = lines of loaded orders + lines rejected, every rejected line with
its own file, line and reason; ``FileLoad.rows_out`` counts the orders.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import attrs
import polars as pl

from retainlib import _conform
from retainlib.tables import MONEY, ORDERS, TIMESTAMP
from retainlib_shopify import _fields as f
from retainlib_shopify._options import Options

__all__ = ["CSV", "GRAPHQL", "REST", "Labels", "OrdersRead", "read_orders", "rejects", "row_number"]

ROW = _conform.ROW
#: Rows per file are numbered below this (file index x this + the record's number): one ``ROW`` for all files.
FILE_STRIDE = 1 << 32
#: Stand-in for the canonical values of a line already rejected here (never loaded: the line is rejected).
_STAND_IN = "\x00"
_EPOCH = pl.lit(0).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
#: Above this, the subtotal's kept share is not computed exactly (it would overflow ``Decimal(38, 12)``).
_SHARE_LIMIT = 10**12
_EXACT = pl.Decimal(38, 12)
#: Extra columns of the orders table (beside the canonical ones) and the helpers the read drops.
EXTRAS = ("order_name", "financial_status")
HELPERS = ("_src", "_why", "_email", "_customer_created")
#: Financial statuses of orders never paid: not orders.
NEVER_PAID = ("voided", "expired")


@attrs.frozen(kw_only=True)
class Labels:
    """How one format names the fields that reasons talk about (``"Total: not a number"``)."""

    group: str
    order_id: str
    email: str
    created: str
    total: str
    subtotal: str
    refunded: str
    cancelled: str
    status: str
    test: str
    test_reason: str
    refund: str
    parent: str
    time: Callable[[pl.Expr], pl.Expr]
    time_hint: str
    twice: str


CSV = Labels(
    group="Name",
    order_id="Id",
    email="Email",
    created="Created at",
    total="Total",
    subtotal="Subtotal",
    refunded="Refunded Amount",
    cancelled="Cancelled at",
    status="Financial Status",
    test="Payment Method",
    test_reason="a test order (Shopify's Bogus gateway)",
    refund="Refunded Amount",
    parent="Name",
    time=f.shop_time,
    time_hint=f.CSV_TIME_HINT,
    twice="Name: the order fields of {} appear on {} rows (a repeated row, or two orders with one name)",
)
REST = Labels(
    group="id",
    order_id="id",
    email="email",
    created="created_at",
    total="total_price",
    subtotal="subtotal_price",
    refunded="refunds",
    cancelled="cancelled_at",
    status="financial_status",
    test="test",
    test_reason="a test order",
    refund="transactions",
    parent="order_id",
    time=f.iso_time,
    time_hint=f.ISO_TIME_HINT,
    twice="id: order {} is read {} times (the same order in several payloads)",
)
GRAPHQL = Labels(
    group="id",
    order_id="id",
    email="email",
    created="createdAt",
    total="totalPriceSet",
    subtotal="subtotalPriceSet",
    refunded="totalRefundedSet",
    cancelled="cancelledAt",
    status="displayFinancialStatus",
    test="test",
    test_reason="a test order",
    refund="totalRefundedSet",
    parent="__parentId",
    time=f.iso_time,
    time_hint=f.ISO_TIME_HINT,
    twice="id: order {} is read {} times (the same order in several payloads)",
)


@attrs.frozen(kw_only=True)
class OrdersRead:
    """The orders of one format's lines, and the account of every line per file.

    Attributes:
        orders: canonical orders with :data:`EXTRAS` and the helpers ``_src``
            (the file of the order's head row), ``_email`` and ``_customer_created``.
        read: per file index, the lines read.
        loaded: per file index, the lines that went into loaded orders.
        rejected: rejected lines in the load-report shape, ``_src`` beside them.
        out: per file index, the orders whose head row (the row of their order fields) is in that file.
    """

    orders: pl.DataFrame
    read: dict[int, int]
    loaded: dict[int, int]
    rejected: pl.DataFrame
    out: dict[int, int]


def row_number() -> pl.Expr:
    """The one line number (``ROW``) of every file of a read: file index x :data:`FILE_STRIDE` + ``_seq``."""
    return (pl.col("_src").cast(pl.Int64) * FILE_STRIDE + pl.col("_seq").cast(pl.Int64)).alias(ROW)


def _own_problem(labels: Labels) -> pl.Expr:
    """Why a line is rejected for itself (null when it is not): no group key, a bad time, a bad refund."""
    kind = pl.col("_kind")
    _, refund_why = f.money(pl.col("refund"))
    return (
        pl.when(pl.col("_group").is_null())
        .then(pl.lit(f"{labels.group}: missing (it names the order)"))
        .when((kind == "refund") & refund_why.is_not_null())
        .then(pl.format(f"{labels.refund}: {{}}", refund_why))
        .when(pl.col("created").is_not_null() & pl.col("_time").is_null())
        .then(pl.lit(f"{labels.created}: {labels.time_hint}"))
    )


def _groups(lines: pl.LazyFrame) -> pl.LazyFrame:
    """Per order key, in integers and times only (cheap aggregations): its first head row (``ROW``), where its
    first line with a problem of its own is (file x stride + line, then split), the range of its lines' e-mail
    hashes (two distinct e-mails: two customers), a line other than the head holding an e-mail, its first time."""
    own = pl.col("_own").is_not_null()
    head = pl.col("_kind") == "head"
    has_email = pl.col("_email").is_not_null()
    email_hash = pl.when(has_email).then(pl.col("_email").hash())
    where = pl.col("_src").cast(pl.Int64) * FILE_STRIDE + pl.col("_line").cast(pl.Int64)
    return (
        lines.filter(pl.col("_group").is_not_null())
        .group_by("_group")
        .agg(
            pl.when(head).then(pl.col(ROW)).min().alias("_head_row"),
            pl.when(own).then(where).min().alias("_bad_at"),
            email_hash.min().alias("_email_lo"),
            email_hash.max().alias("_email_hi"),
            pl.when(has_email & ~head).then(pl.col(ROW)).min().alias("_email_row"),
            pl.col("_time").min().alias("_first_time"),
        )
        .with_columns(
            (pl.col("_bad_at") // FILE_STRIDE).alias("_bad_src"), (pl.col("_bad_at") % FILE_STRIDE).alias("_bad_line")
        )
    )


def _amount(labels: Labels, options: Options) -> tuple[pl.Expr, pl.Expr]:
    """An order's amount and the reason it is not an order because of its money or status (null when none)."""
    total, refunded, subtotal = pl.col("_total"), pl.col("_refunded"), pl.col("_subtotal")
    kept = total - refunded
    if options.amount == "subtotal":
        # The subtotal's share the customer kept: subtotal x (total - refunded) / total, exact to 12 places
        # then rounded half-even to 4 (inputs bounded so that the product fits).
        fits = (total < _SHARE_LIMIT) & (subtotal < _SHARE_LIMIT)
        safe = pl.when(fits & (total > 0)).then
        share = (safe(subtotal).cast(_EXACT) * safe(kept).cast(_EXACT)) / safe(total).cast(_EXACT)
        amount = pl.when(refunded == 0).then(subtotal).otherwise(share.round(4).cast(MONEY))
    else:
        fits = pl.lit(True)
        amount = kept
    status = pl.col("status")
    subtotal_mode = pl.lit(options.amount == "subtotal")
    reason = (
        pl.when(pl.col("test").str.to_lowercase() == "true")
        .then(pl.lit(f"{labels.test}: {labels.test_reason}"))
        .when(pl.col("cancelled").is_not_null())
        .then(pl.format(f"{labels.cancelled}: a cancelled order (cancelled {{}})", "cancelled"))
        .when(status.is_in(NEVER_PAID))
        .then(pl.format(f"{labels.status}: {{}} (never paid)", status))
        .when(pl.col("total").is_null())
        .then(pl.lit(f"{labels.total}: missing"))
        .when(pl.col("_total_why").is_not_null())
        .then(pl.format(f"{labels.total}: {{}}", "_total_why"))
        .when(pl.col("_refunded_why").is_not_null())
        .then(pl.format(f"{labels.refunded}: {{}}", "_refunded_why"))
        .when(subtotal_mode & pl.col("subtotal").is_null())
        .then(pl.lit(f"{labels.subtotal}: missing (option amount='subtotal')"))
        .when(subtotal_mode & pl.col("_subtotal_why").is_not_null())
        .then(pl.format(f"{labels.subtotal}: {{}}", "_subtotal_why"))
        .when(status == "refunded")
        .then(pl.lit(f"{labels.status}: refunded (fully refunded)"))
        .when((refunded > 0) & (kept <= 0))
        .then(pl.format(f"{labels.refunded}: fully refunded ({{}} of {{}})", refunded, total))
        .when(~fits & (refunded > 0))
        .then(pl.lit(f"{labels.subtotal}: too large to take the refunded share of (option amount='subtotal')"))
    )
    return amount, reason


def _attach(frame: pl.DataFrame, right: pl.LazyFrame, left_on: str, right_on: str) -> pl.DataFrame:
    """``frame`` (one row per ``ROW``, in ``ROW`` order) with the columns of the row of ``right`` whose
    ``right_on`` (unique) equals its ``left_on``, nulls where none does.

    A join of the key columns alone, put back in ``ROW`` order and set beside
    the frame: polars' order-keeping join would gather every column again.
    """
    keys = [ROW] if left_on == ROW else [ROW, left_on]
    narrow = frame.lazy().select(keys).join(right, left_on=left_on, right_on=right_on, how="left").sort(ROW)
    return frame.hstack(narrow.drop(keys, strict=False).collect())


def _another_line(src: pl.Expr, line: pl.Expr, names: dict[int, str]) -> pl.Expr:
    """The core's reason for the good lines of an order another line of which was rejected."""
    where = pl.when(src != pl.col("_src")).then(pl.format(" of {}", src.replace_strict(names, default="?")))
    return pl.format("order_id: another line of this order was rejected (line {}{})", line, where.otherwise(pl.lit("")))


def _orders_frame(
    heads: pl.LazyFrame, labels: Labels, options: Options, emails: pl.LazyFrame | None, names: dict[int, str]
) -> pl.LazyFrame:
    """One row per head: the canonical columns (stand-ins when rejected here), its reasons and verdict helpers."""
    total, total_why = f.money(pl.col("total"))
    refunded, refunded_why = f.money(pl.col("refunded"))
    subtotal, subtotal_why = f.money(pl.col("subtotal"))
    heads = heads.with_columns(
        total.alias("_total"),
        total_why.alias("_total_why"),
        (refunded.fill_null(0) + pl.col("_more").fill_null(0)).alias("_refunded"),
        refunded_why.alias("_refunded_why"),
        subtotal.alias("_subtotal"),
        subtotal_why.alias("_subtotal_why"),
    )
    mapped = pl.lit(None, dtype=pl.String)
    if emails is not None:
        heads = _attach(heads.collect(), emails, "_email", "_map_email").lazy()
        mapped = pl.col("_map_customer")
    amount, money_why = _amount(labels, options)
    customer = pl.coalesce(pl.col("customer"), mapped, pl.col("_email"))
    heads = heads.with_columns(amount.alias("_amount"), money_why.alias("_money_why"), customer.alias("_customer"))
    group_why = (
        pl.when(pl.col("_heads") > 1)
        .then(pl.format(labels.twice, "_group", "_heads"))
        .when(pl.col("_money_why").is_not_null())
        .then(pl.col("_money_why"))
        .when(pl.col("_email_lo") != pl.col("_email_hi"))
        .then(pl.lit("customer_id: the lines of this order name different customers"))
        .when(pl.col("_customer").is_null())
        .then(
            pl.lit(
                f"{labels.email}: no customer id and no e-mail: the customer cannot be identified "
                "(a guest, point-of-sale or cash-on-delivery order?)"
            )
        )
        .when(pl.lit(options.relay == "reject") & f.is_relay(pl.col("_email")))
        .then(pl.lit(f"{labels.email}: a marketplace relay address, not the buyer's (option relay='reject')"))
        .when(pl.col("_first_time").is_null())
        .then(pl.lit(f"{labels.created}: missing"))
    )
    heads = heads.with_columns(group_why.alias("_group_why"))
    why = pl.coalesce(
        pl.col("_own"),
        pl.col("_group_why"),
        pl.when(pl.col("_bad_line").is_not_null()).then(_another_line(pl.col("_bad_src"), pl.col("_bad_line"), names)),
    )
    bad = pl.col("_why").is_not_null()
    stand_in = pl.format(f"{_STAND_IN}{{}}", ROW)
    return heads.with_columns(why.alias("_why")).select(
        ROW,
        pl.when(bad).then(stand_in).otherwise(pl.coalesce("order_id", "_group")).alias("order_id"),
        pl.when(bad).then(stand_in).otherwise(pl.col("_customer")).alias("customer_id"),
        pl.when(bad).then(_EPOCH).otherwise(pl.col("_first_time")).cast(TIMESTAMP).alias("ordered_at"),
        pl.when(bad).then(pl.lit(0).cast(MONEY)).otherwise(pl.col("_amount")).cast(MONEY).alias("amount"),
        pl.when(bad).then(pl.lit("XXX")).otherwise(pl.col("currency")).alias("currency"),
        pl.coalesce("order_name", "_group").alias("order_name"),
        pl.col("status").alias("financial_status"),
        "_src",
        "_email",
        pl.col("customer_created").alias("_customer_created"),
        "_why",
        "_line",
        "_group",
        "_group_why",
        "_bad_src",
        "_bad_line",
    )


def _first_problem_column(reason: pl.Expr) -> pl.Expr:
    return reason.str.splitn(": ", 2).struct.field("field_0")


def rejects(frame: pl.LazyFrame, names: dict[int, str], table: str = "orders") -> pl.LazyFrame:
    """Rejected lines (``_src``, ``_line``, ``_reason``) in the load-report shape, ``_src`` kept beside."""
    return frame.select(
        pl.col("_src").replace_strict(names, return_dtype=pl.String).alias("file"),
        pl.col("_line").cast(pl.Int64).alias("line"),
        pl.lit(table).alias("table"),
        _first_problem_column(pl.col("_reason")).alias("column"),
        pl.col("_reason").alias("reason"),
        pl.col("_src"),
    )


def read_orders(
    lines: pl.DataFrame, labels: Labels, options: Options, emails: pl.LazyFrame | None, files: Sequence[Path]
) -> OrdersRead:
    """Orders from one format's lines (columns of ``LINE_COLUMNS`` and ``_seq``), every line accounted for.

    ``emails`` maps a normalised e-mail (``_map_email``) to the Shopify customer
    id known for it (``_map_customer``), one row per e-mail (``None``: no map).
    """
    names = {i: str(p) for i, p in enumerate(files)}
    created = pl.col("created")
    time = (
        labels.time(created)
        if options.tz is None
        else pl.coalesce(labels.time(created), f.local_time(created, options.tz))
    )
    rows = lines.lazy().with_columns(row_number(), f.email(pl.col("email")).alias("_email"), time.alias("_time"))
    checked_rows = rows.with_columns(_own_problem(labels).alias("_own")).collect()
    if not checked_rows[ROW].is_sorted():  # the readers build lines in file and line order; kept for safety
        checked_rows = checked_rows.sort(ROW)
    rows = checked_rows.lazy()
    groups = _groups(rows).collect().lazy()
    is_head = (pl.col("_kind") == "head") & pl.col("_group").is_not_null()
    # Each head takes its order's aggregates by its row number (an integer join); a repeated head row
    # (rejected below) keeps its count of heads only.
    heads = rows.filter(is_head).with_columns(pl.len().over("_group").alias("_heads")).collect()
    heads = _attach(heads, groups.drop("_group"), ROW, "_head_row")
    if heads["_email"].null_count():
        # A head without e-mail takes the e-mail of another line of its order (rare: looked up only then).
        emails_of = rows.select(pl.col(ROW).alias("_email_row"), pl.col("_email").alias("_other_email"))
        heads = _attach(heads, emails_of, "_email_row", "_email_row").with_columns(
            pl.coalesce("_email", "_other_email").alias("_email")
        )
    if lines.filter(pl.col("_kind") == "refund").height:
        refund_value, refund_why = f.money(pl.col("refund"))
        more = (
            rows.filter((pl.col("_kind") == "refund") & ~pl.col("refund_dup") & refund_why.is_null())
            .group_by("_group")
            .agg(refund_value.sum().alias("_more"))
        )
        heads = _attach(heads, more, "_group", "_group")
    else:
        heads = heads.with_columns(pl.lit(None, dtype=MONEY).alias("_more"))
    frame = _orders_frame(heads.lazy(), labels, options, emails, names)

    conformed = _conform.conform(frame, ORDERS, check_duplicates=True)
    # This module's reasons come first: a row rejected here carries stand-ins the core finds nothing wrong with.
    bad_here = pl.col("_why").is_not_null()
    conformed = attrs.evolve(
        conformed,
        frame=conformed.frame.with_columns((pl.col(_conform.BAD) | bad_here).alias(_conform.BAD)),
        problems=(pl.col("_why"), *conformed.problems),
    ).collect()
    checked = conformed.frame
    loaded = conformed.output(checked.filter(~pl.col(_conform.BAD)).sort(ROW))
    bad_heads = conformed.explain(checked.filter(pl.col(_conform.BAD))).select(
        "_src", "_line", "_group", "_group_why", "_bad_src", "_bad_line", pl.col(_conform.PROBLEM).alias("_reason")
    )
    # The verdict each other line of a rejected order takes: the order's own reason, or "another line".
    verdicts = bad_heads.unique("_group", keep="first", maintain_order=True).select(
        "_group",
        "_group_why",
        pl.coalesce("_bad_src", "_src").alias("_v_src"),
        pl.coalesce("_bad_line", "_line").alias("_v_line"),
        pl.lit(True).alias("_rejected"),
    )
    # The other lines' order does not matter: their rejects are sorted by file and line.
    others = rows.filter(~is_head).join(
        groups.select("_group", pl.col("_head_row").is_not_null().alias("_has_head")), on="_group", how="left"
    )
    others = others.join(verdicts, on="_group", how="left")
    no_head = (
        pl.when(pl.col("_kind") == "refund")
        .then(pl.format(f"{labels.parent}: a refund of order {{}}, which is not in the files read", "_group"))
        .when(pl.col("_kind") == "child")
        .then(pl.format(f"{labels.parent}: a line of order {{}}, which is not in the files read", "_group"))
        .otherwise(
            pl.format(
                f"{labels.total}: no row of order {{}} carries the order's fields (its first row is missing)",
                "_group",
            )
        )
    )
    verdict = pl.coalesce(
        pl.col("_own"),
        pl.when(~pl.col("_has_head").fill_null(False)).then(no_head),
        pl.col("_group_why"),
        pl.when(pl.col("_rejected")).then(_another_line(pl.col("_v_src"), pl.col("_v_line"), names)),
    )
    others = others.with_columns(verdict.alias("_reason"))
    rejected_lf = pl.concat(
        [rejects(bad_heads, names), rejects(others.filter(pl.col("_reason").is_not_null()), names)]
    ).sort("_src", "line")
    table, rejected, read, loaded_heads, loaded_others = pl.collect_all(
        [
            loaded,
            rejected_lf,
            rows.group_by("_src").len(),
            loaded.group_by("_src").len(),
            others.filter(pl.col("_reason").is_null()).group_by("_src").len(),
        ]
    )
    counts = {
        name: {int(s): int(n) for s, n in frame_.iter_rows()}
        for name, frame_ in (("read", read), ("heads", loaded_heads), ("others", loaded_others))
    }
    loaded_by = {s: counts["heads"].get(s, 0) + counts["others"].get(s, 0) for s in counts["read"]}
    return OrdersRead(
        orders=table.drop("_why", "_line", "_group", "_group_why", "_bad_src", "_bad_line"),
        read=counts["read"],
        loaded=loaded_by,
        rejected=rejected,
        out=counts["heads"],
    )
