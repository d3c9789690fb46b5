"""Order files: refunds and cancellations, and line-item exports (the ``refunds`` and ``lines`` options).

Rows are first conformed one by one (:mod:`retainlib._conform`); this module
then decides, per *order*, what the built-in file sources load:

* ``lines``: rows are line items; the lines of one ``order_id`` become one
  order (amount = sum of the line totals, time = the earliest line's).  Lines
  whose order cannot be loaded are each rejected with the reason.
* ``refunds``: an order with a negative amount is a refund or a cancellation.
  ``"reject"`` (default) rejects it; ``"net"`` adds it to the order its
  ``cancels`` column names; ``"keep"`` loads it as it is.

Every rejected row keeps its own line number, so that rows read = rows
loaded + rows rejected still counts rows (lines) of the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import attrs
import polars as pl

from retainlib import _conform
from retainlib._conform import ROW, Conformed, value
from retainlib.errors import OptionError, SchemaError
from retainlib.tables import MONEY, MONEY_DIGITS, MONEY_LIMIT, MONEY_PLACES, ORDERS, Column, Kind, TableSpec

__all__ = ["CANCELS", "OrderOptions", "Refunds", "plan", "spec_for"]

Refunds = Literal["reject", "net", "keep"]
_REFUNDS: tuple[Refunds, ...] = ("reject", "net", "keep")
#: The column linking a refund or cancellation to the order it cancels (``refunds="net"``).
CANCELS = "cancels"
_QUANTITY, _UNIT_PRICE = "quantity", "unit_price"
#: Line totals (quantity x unit price) are computed exactly with this scale, then checked against 4 places.
_EXACT = pl.Decimal(38, 2 * MONEY_PLACES)
#: Line totals, like every amount, stay below ``MONEY_LIMIT``; checked in floats before the exact product.
_LINE_LIMIT = float(MONEY_LIMIT)
_REASON = "_retainlib_reason"
_REFUND = "_retainlib_refund"


@attrs.frozen(kw_only=True)
class OrderOptions:
    """The checked ``refunds`` and ``lines`` options of an order file.

    Attributes:
        refunds: what a negative order becomes: rejected, netted, or kept.
        lines: rows are line items, aggregated into orders by ``order_id``.
        quantity: input column of the line quantity (``None``: the ``amount`` column is the line total).
        unit_price: input column of the line unit price.
    """

    refunds: Refunds = "reject"
    lines: bool = False
    quantity: str | None = None
    unit_price: str | None = None

    @classmethod
    def check(cls, refunds: object, lines: object) -> OrderOptions:
        """The options, or an :class:`OptionError` naming the one at fault."""
        refunds = OptionError.one_of(
            refunds,
            _REFUNDS,
            option="refunds",
            message=f"refunds is one of {', '.join(map(repr, _REFUNDS))}, got {refunds!r}",
        )
        if lines is None or lines is False:
            return cls(refunds=refunds)
        if lines is True:
            return cls(refunds=refunds, lines=True)
        if isinstance(lines, Mapping) and set(lines) == {_QUANTITY, _UNIT_PRICE}:
            quantity, price = lines[_QUANTITY], lines[_UNIT_PRICE]
            if isinstance(quantity, str) and isinstance(price, str) and quantity and price:
                return cls(refunds=refunds, lines=True, quantity=quantity, unit_price=price)
        raise OptionError(
            "lines is True (each row a line item whose amount is the line total) or "
            "{'quantity': COLUMN, 'unit_price': COLUMN} (line total = quantity x unit price), "
            f"got {lines!r}",
            option="lines",
            value=lines,
        )

    @property
    def grouped(self) -> bool:
        """Whether orders are decided as groups of rows (line items, or refunds netted)."""
        return self.lines or self.refunds == "net"

    def renames(self, columns: list[str], table: str, file: Path) -> dict[str, str]:
        """Input renames for the quantity and unit price columns (checked present)."""
        if not self.lines:
            return {}
        if table != "orders":
            raise OptionError(f"lines= applies to orders files; {file} holds {table}", option="lines", value=True)
        if self.quantity is None or self.unit_price is None:
            return {}
        wanted = {self.quantity: _QUANTITY, self.unit_price: _UNIT_PRICE}
        absent = [c for c in wanted if c not in columns]
        if absent or "amount" in columns:
            why = (
                f"lines= names column(s) {absent} that the file lacks; columns: {columns}"
                if absent
                else "the file has an amount column and lines= computes the amount from quantity and unit price: "
                "use lines=True to take amount as each line's total, or map amount away"
            )
            raise SchemaError(
                why, table="orders", column=(absent or ["amount"])[0], expected="present", actual=None, file=file
            )
        return wanted

    def check_columns(self, columns: list[str], file: Path) -> None:
        """``refunds="net"`` needs the ``cancels`` column."""
        if self.refunds == "net" and CANCELS not in columns:
            raise SchemaError(
                "refunds='net' needs a cancels column: the order_id of the order each refund or cancellation "
                "cancels (map yours, e.g. mapping={'original_order': 'cancels'}), or pass refunds='reject'",
                table="orders",
                column=CANCELS,
                expected="present",
                actual=None,
                file=file,
            )


def spec_for(spec: TableSpec, options: OrderOptions) -> TableSpec:
    """The table to conform rows to: orders with line columns, a ``cancels`` link, no unique key for lines."""
    if spec.name != "orders" or not options.grouped:
        return spec
    columns: list[Column] = []
    for c in spec.columns:
        if c.name == "amount" and options.quantity is not None:
            columns.append(attrs.evolve(c, name=_QUANTITY, doc="line quantity"))
            columns.append(attrs.evolve(c, name=_UNIT_PRICE, doc="line unit price"))
        else:
            columns.append(c)
    if options.refunds == "net":
        columns.append(Column(name=CANCELS, kind=Kind.ID, required=True, nullable=True, doc="the order it cancels"))
    return attrs.evolve(spec, columns=tuple(columns), key=None if options.lines else spec.key)


def _line_totals(c: Conformed) -> Conformed:
    """Amount = quantity x unit price, exact; a total that needs more than 4 places or is huge is a problem."""
    q, p = value(_QUANTITY), value(_UNIT_PRICE)
    size = q.cast(pl.Float64).abs() * p.cast(pl.Float64).abs()
    safe = size < _LINE_LIMIT
    exact = q * pl.when(safe).then(p).cast(_EXACT)
    amount = exact.cast(MONEY)
    c = c.with_rules({}, [exact.alias("_retainlib_exact"), amount.alias(_conform._value_name("amount"))])
    exact_col = pl.col("_retainlib_exact")
    problem = (
        pl.when(q.is_null() | p.is_null())
        .then(None)
        .when(~safe)
        .then(pl.lit(f"line total (quantity x unit price) out of range (at most {MONEY_DIGITS} integer digits)"))
        .when(value("amount").cast(_EXACT) != exact_col)
        .then(pl.lit(f"line total (quantity x unit price) has more than {MONEY_PLACES} decimal places"))
    )
    return c.with_rules({"amount": problem})


def _lines_into_orders(c: Conformed, rows: pl.LazyFrame, good: pl.LazyFrame, options: OrderOptions) -> pl.LazyFrame:
    """One row per order from its good lines, with ``_REASON`` when the order cannot be loaded.

    One aggregation gives the order's values (first line's customer and
    currency, earliest time, summed amount, first extras, ``ROW`` of its first
    line, ``_lines`` its number of lines) and what its verdict reads: another
    line of it rejected, lines naming several customers or currencies, a total
    out of range.
    """
    oid = value("order_id")
    extras = [e for e in c.extras if e != CANCELS]
    # Rows arrive in file order and a group keeps its rows' order: first() is the first line's value.
    keep = [value(n).first() for n in ("customer_id", "currency")]
    if options.refunds == "net":
        keep.append(value(CANCELS).first())
    orders = good.group_by(oid).agg(
        *keep,
        value("ordered_at").min(),
        value("amount").sum(),
        *(pl.col(e).first() for e in extras),
        pl.col(ROW).min(),
        pl.len().alias("_lines"),
        # Several customers (currencies) in one order: told apart by 64-bit hashes (cheaper than texts).
        value("customer_id").hash().n_unique().alias("_customers"),
        value("currency").hash().n_unique().alias("_currencies"),
    )
    bad_lines = (
        rows.filter(pl.col(_conform.BAD) & oid.is_not_null()).group_by(oid).agg(pl.col(ROW).min().alias("_bad_line"))
    )
    reason = (
        pl.when(pl.col("_bad_line").is_not_null())
        .then(pl.format("order_id: another line of this order was rejected (line {})", pl.col("_bad_line")))
        .when(pl.col("_customers") > 1)
        .then(pl.lit("customer_id: the lines of this order name different customers"))
        .when(pl.col("_currencies") > 1)
        .then(pl.lit("currency: the lines of this order are in different currencies"))
        .when(_conform.too_large(value("amount")))
        .then(pl.lit(f"amount: order total {_conform.MONEY_RANGE}"))
    )
    return orders.join(bad_lines, on=_conform._value_name("order_id"), how="left").with_columns(reason.alias(_REASON))


def _refund_verdicts(orders: pl.LazyFrame, options: OrderOptions) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """The orders loaded (refunds netted) and the reason each other order is rejected."""
    oid, amount = value("order_id"), value("amount")
    if options.refunds == "keep":
        return orders, orders.select(oid, pl.lit(None, pl.String).alias(_REASON)).head(0)
    negative = pl.lit("amount: ") + _conform.negative_amount(amount)
    if options.refunds == "reject":
        rejected = orders.filter(amount < 0).select(oid, negative.alias(_REASON))
        return orders.filter(amount >= 0), rejected
    cancels = value(CANCELS)
    refunds = orders.filter(amount < 0)
    purchases = orders.filter(amount >= 0)
    target = purchases.select(
        oid.alias(_conform._value_name(CANCELS)),
        value("customer_id").alias("_target_customer"),
        value("currency").alias("_target_currency"),
    )
    linked = refunds.join(target, on=_conform._value_name(CANCELS), how="left")
    link_problem = (
        pl.when(cancels.is_null())
        .then(negative)
        .when(pl.col("_target_customer").is_null())
        .then(negative + pl.format(" of order {}, which is not loaded", cancels))
        .when(pl.col("_target_customer") != value("customer_id"))
        .then(pl.format("customer_id: refunds order {} of another customer", cancels))
        .when(pl.col("_target_currency") != value("currency"))
        .then(pl.format("currency: refunds order {} in another currency", cancels))
    )
    linked = linked.with_columns(link_problem.alias(_REASON))
    netted = (
        linked.filter(pl.col(_REASON).is_null())
        .group_by(cancels)
        .agg(amount.sum().alias(_REFUND), pl.col(ROW).min().alias("_refund_line"))
        .rename({_conform._value_name(CANCELS): _conform._value_name("order_id")})
    )
    purchases = purchases.join(netted, on=_conform._value_name("order_id"), how="left").with_columns(
        (amount + pl.col(_REFUND).fill_null(0)).alias(_conform._value_name("amount"))
    )
    fully = pl.col(_REFUND).is_not_null() & (amount <= 0)
    full_reason = pl.format("amount: fully refunded (by line {})", pl.col("_refund_line"))
    gone = purchases.filter(fully).select(oid, full_reason.alias(_REASON))
    # A refund of an order that is fully refunded goes with it.
    orphans = (
        linked.filter(pl.col(_REASON).is_null())
        .join(gone.select(oid.alias(_conform._value_name(CANCELS))), on=_conform._value_name(CANCELS), how="semi")
        .select(oid, pl.format("amount: refunds order {}, which is fully refunded", cancels).alias(_REASON))
    )
    rejected = pl.concat(
        [linked.filter(pl.col(_REASON).is_not_null()).select(oid, _REASON), gone, orphans], how="vertical"
    )
    return purchases.filter(~fully), rejected


def plan(c: Conformed, options: OrderOptions, *, file: str) -> tuple[pl.LazyFrame, pl.LazyFrame, pl.LazyFrame | None]:
    """Plan an orders file: the loaded orders, the rejected rows (report shape) and the count of rows loaded.

    The count is ``None`` when every loaded row is one order (no grouping).
    ``c`` comes checked in memory (:meth:`~retainlib._conform.Conformed.collect`):
    orders are decided from several views of its rows.

    Rows rejected on their own keep their own reasons; the rows of an order
    rejected as a whole (another line bad, lines that disagree, a refund, a
    fully refunded order) are each rejected with the order's reason.
    """
    if options.quantity is not None:
        c = _line_totals(c)
    if not options.grouped:
        if options.refunds == "reject":
            c = c.with_rules({"amount": _conform.negative_amount(value("amount"))})
        loaded, rejected = _conform.split(c, file=file)
        return loaded, rejected, None
    rows = c.frame  # already coerced and checked in memory (the file sources collect it once)
    good = rows.filter(~pl.col(_conform.BAD))
    verdicts: list[pl.LazyFrame] = []
    orders = good
    oid_name = _conform._value_name("order_id")
    if options.lines:
        decided = _lines_into_orders(c, rows, good, options)
        verdicts.append(decided.filter(pl.col(_REASON).is_not_null()).select(value("order_id"), _REASON))
        orders = decided.filter(pl.col(_REASON).is_null()).drop(_REASON)
    orders, refund_verdicts = _refund_verdicts(orders, options)
    verdicts.append(refund_verdicts)
    verdict = pl.concat(verdicts, how="vertical")
    explained_bad = c.explain(rows.filter(pl.col(_conform.BAD)))
    by_order = (
        good.join(verdict, on=oid_name, how="inner")
        .with_columns(pl.concat_list(pl.col(_REASON)).alias(_conform.PROBLEMS), pl.col(_REASON).alias(_conform.PROBLEM))
        .select(ROW, _conform.PROBLEMS, _conform.PROBLEM)
    )
    rejected = pl.concat(
        [
            _conform.rejects_frame(c, explained_bad, file=file),
            _conform.rejects_frame(c, by_order, file=file),
        ],
        how="vertical",
    ).sort("line")
    if options.lines:  # the lines of the orders rejected, counted per order: no join of the lines
        gone = decided.join(verdict.select(oid_name).unique(), on=oid_name, how="semi").select(
            pl.col("_lines").sum().cast(pl.Int64).alias("_gone")
        )
        total = good.select(pl.len().cast(pl.Int64).alias("_all"))
        loaded_rows = total.join(gone, how="cross").select((pl.col("_all") - pl.col("_gone")).alias("len"))
    else:
        loaded_rows = good.join(verdict, on=oid_name, how="anti").select(pl.len())
    extras = [e for e in c.extras if e != CANCELS]
    table = orders.sort(ROW).select(
        *(value(col.name).alias(col.name) for col in ORDERS.columns),
        *(pl.col(e) for e in extras),
    )
    return table, rejected, loaded_rows
