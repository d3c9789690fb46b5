"""The Fivetran layouts: Shopify (REST and GraphQL flavours) and Stripe, as their connectors write them.

Each function returns the :class:`~retainlib_warehouse._run.Query` objects
that read one canonical table; the joins and sums run in the database, so
each result row is one canonical row (or one rejected row) and results stream.
"""

from __future__ import annotations

import polars as pl

from retainlib.tables import CUSTOMERS, ORDERS, SUBSCRIPTIONS
from retainlib_warehouse._backend import quote
from retainlib_warehouse._catalog import Catalog
from retainlib_warehouse._options import Options
from retainlib_warehouse._run import Query

__all__ = ["MINOR_UNIT_SCALE", "shopify", "stripe"]


def _where(cat: Catalog, table: str, alias: str, column: str, opts: Options) -> list[str]:
    """The ``since``/``until`` bounds on a time column, pushed into the query."""
    expr = cat.time(alias, table, column)
    out = []
    if opts.since is not None:
        out.append(cat.time_bound(expr, table, column, ">=", opts.since))
    if opts.until is not None:
        out.append(cat.time_bound(expr, table, column, "<", opts.until))
    return out


def _and(conditions: list[str]) -> str:
    return (" WHERE " + " AND ".join(conditions)) if conditions else ""


def _reject(cases: list[tuple[str, str, str]]) -> tuple[str, str]:
    """``CASE`` expressions giving the reason (and the column) of the first rule a row breaks, else null."""
    if not cases:
        return "CAST(NULL AS VARCHAR)", "CAST(NULL AS VARCHAR)"
    reason = "CASE " + " ".join(f"WHEN {cond} THEN {text}" for cond, text, _ in cases) + " END"
    column = "CASE " + " ".join(f"WHEN {cond} THEN '{col}'" for cond, _, col in cases) + " END"
    return reason, column


# --- Shopify ---------------------------------------------------------------------------------


def _shopify_flavour(cat: Catalog) -> str:
    cols = cat.need("order", "id", "created_at", why="the Fivetran Shopify orders table")
    if "total_price_set_shop_amount" in cols or "currency_code" in cols or "display_financial_status" in cols:
        return "graphql"
    return "rest"


def _shopify_refunds(cat: Catalog, gql: bool) -> str | None:
    """A query of ``order_id, refunded`` (line refunds with their tax, less order adjustments), or ``None``."""
    if cat.refunds is not None:
        return cat.refunds
    if not cat.has("refund", "order_id"):
        return None
    line_table = cat.first_table("order_line_refund", "refund_line_item")
    subtotal, tax = ("subtotal_set_shop_amount", "total_tax_set_shop_amount") if gql else ("subtotal", "total_tax")
    parts: list[str] = []
    refund = cat.latest("refund")
    if line_table is not None and cat.has(line_table, subtotal):
        tax_sql = f"COALESCE({cat.money('l', line_table, tax)}, 0)" if cat.has(line_table, tax) else "0"
        parts.append(
            f"SELECT r.{quote('order_id')} AS order_id, COALESCE({cat.money('l', line_table, subtotal)}, 0) + {tax_sql}"
            f" AS refunded FROM {cat.latest(line_table)} l"
            f" JOIN {refund} r ON l.{quote('refund_id')} = r.{quote('id')}"
        )
    if cat.has("order_adjustment"):
        amount, adj_tax = ("amount_set_shop_amount", "tax_amount_set_shop_amount") if gql else ("amount", "tax_amount")
        if cat.has("order_adjustment", amount):
            tax_sql = (
                f"COALESCE({cat.money('a', 'order_adjustment', adj_tax)}, 0)"
                if cat.has("order_adjustment", adj_tax)
                else "0"
            )
            value = f"-(COALESCE({cat.money('a', 'order_adjustment', amount)}, 0) + {tax_sql})"
            if cat.has("order_adjustment", "order_id"):
                parts.append(
                    f"SELECT a.{quote('order_id')} AS order_id, {value} AS refunded "
                    f"FROM {cat.latest('order_adjustment')} a"
                )
            else:  # GraphQL: no order_id, reached through the refund
                parts.append(
                    f"SELECT r.{quote('order_id')} AS order_id, {value} AS refunded FROM "
                    f"{cat.latest('order_adjustment')} a JOIN {refund} r ON a.{quote('refund_id')} = r.{quote('id')}"
                )
    if not parts:
        return None
    union = " UNION ALL ".join(parts)
    return f"SELECT order_id, SUM(refunded) AS refunded FROM ({union}) u GROUP BY order_id"


def shop_settings(cat: Catalog) -> tuple[str | None, str | None]:
    """The shop's currency and IANA time zone from the ``shop`` table (``None`` when absent)."""
    column = cat.first("shop", "currency_code", "currency")
    tz = cat.first("shop", "iana_timezone")
    if column is None and tz is None:
        return None, None
    wanted = ", ".join(
        f"CAST({quote(c)} AS VARCHAR) AS {quote(alias)}"
        for c, alias in ((column, "currency"), (tz, "tz"))
        if c is not None
    )
    deleted = cat.flag("s", "shop", "_fivetran_deleted")
    frame = cat.conn.frame(f"SELECT {wanted} FROM {cat.latest('shop')} s WHERE NOT {deleted} LIMIT 1")
    if frame.height == 0:
        return None, None
    row = frame.row(0, named=True)
    return row.get("currency"), row.get("tz")


def _shopify_orders(cat: Catalog, opts: Options, flavour: str, shop_currency: str | None) -> Query:
    gql = flavour == "graphql"
    total = "total_price_set_shop_amount" if gql else "total_price"
    cols = cat.need("order", "id", "created_at", total)
    currency_col = cat.first("order", "currency_code", "currency") if gql else cat.first("order", "currency")
    if currency_col is not None:
        currency = f"UPPER(CAST(o.{quote(currency_col)} AS VARCHAR))"
        if shop_currency:
            currency = f"COALESCE({currency}, '{shop_currency}')"
    elif shop_currency:
        currency = f"'{shop_currency}'"
    else:
        cat.need("order", "currency_code" if gql else "currency")
        currency = "NULL"
    customer = cat.text("o", "order", "customer_id") if "customer_id" in cols else "CAST(NULL AS VARCHAR)"
    if "email" in cols:
        customer = f"COALESCE({customer}, NULLIF(LOWER(TRIM(CAST(o.{quote('email')} AS VARCHAR))), ''))"
    refunds = _shopify_refunds(cat, gql)
    amount = cat.money("o", "order", total)
    join = ""
    if refunds is not None:
        amount = f"{amount} - COALESCE(rf.refunded, 0)"
        join = f" LEFT JOIN ({refunds}) rf ON rf.order_id = o.{quote('id')}"
    status_col = cat.first("order", "display_financial_status", "financial_status")
    status = f"LOWER(CAST(o.{quote(status_col)} AS VARCHAR))" if status_col else "CAST(NULL AS VARCHAR)"
    rules = [
        *cat.superseded("o", "order"),
        (cat.flag("o", "order", cat.deleted), f"'deleted in Shopify ({cat.deleted})'", cat.deleted),
        (cat.flag("o", "order", "test"), "'test order'", "test"),
    ]
    if "cancelled_at" in cols:
        rules.append((f"o.{quote('cancelled_at')} IS NOT NULL", "'cancelled order'", "cancelled_at"))
    if status_col:
        rules.append(
            (
                f"{status} IN ('voided', 'expired')",
                "'never paid (financial status ' || financial_status || ')'",
                status_col,
            )
        )
    inner = (
        f"SELECT {cat.text('o', 'order', 'id')} AS order_id, {customer} AS customer_id, "
        f"{cat.time('o', 'order', 'created_at')} AS ordered_at, {amount} AS amount, {currency} AS currency, "
        f"{status} AS financial_status, "
        + ", ".join(f"{cond} AS _rule{i}" for i, (cond, _, _) in enumerate(rules))
        + f" FROM {cat.ref('order').sql()} o{join}"
        + _and(_where(cat, "order", "o", "created_at", opts))
    )
    cases = [(f"_rule{i}", text, col) for i, (_, text, col) in enumerate(rules)]
    cases.append(("amount <= 0", "'fully refunded (nothing kept after refunds)'", "amount"))
    reason, column = _reject(cases)
    sql = (
        "SELECT order_id, customer_id, ordered_at, amount, currency, financial_status, order_id AS _key, "
        f"{reason} AS _reject, {column} AS _reject_column FROM ({inner}) t"
    )
    return Query(spec=ORDERS, label=str(cat.ref("order")), key_name="id", sql=sql, keep=("financial_status",))


def _shopify_customers(cat: Catalog, opts: Options) -> Query:
    cols = cat.need("customer", "id", "created_at", why="the Fivetran Shopify customers table")
    email = (
        f"NULLIF(LOWER(TRIM(CAST(c.{quote('email')} AS VARCHAR))), '')" if "email" in cols else "CAST(NULL AS VARCHAR)"
    )
    if "first_name" in cols and "last_name" in cols:
        name = (
            f"NULLIF(TRIM(COALESCE(CAST(c.{quote('first_name')} AS VARCHAR), '') || ' ' || "
            f"COALESCE(CAST(c.{quote('last_name')} AS VARCHAR), '')), '')"
        )
    else:
        name = "CAST(NULL AS VARCHAR)"
    reason, column = _reject(
        [
            *cat.superseded("c", "customer"),
            (cat.flag("c", "customer", cat.deleted), f"'deleted in Shopify ({cat.deleted})'", cat.deleted),
        ]
    )
    sql = (
        f"SELECT {cat.text('c', 'customer', 'id')} AS customer_id, "
        f"{cat.time('c', 'customer', 'created_at')} AS created_at,"
        f" {email} AS email, {name} AS name, {cat.text('c', 'customer', 'id')} AS _key, {reason} AS _reject, "
        f"{column} AS _reject_column FROM {cat.ref('customer').sql()} c"
        + _and(_where(cat, "customer", "c", "created_at", opts))
    )
    return Query(spec=CUSTOMERS, label=str(cat.ref("customer")), key_name="id", sql=sql)


def shopify(cat: Catalog, opts: Options) -> list[Query]:
    """The queries of a Fivetran Shopify schema (REST or GraphQL flavour, told apart by the ``order`` columns)."""
    queries: list[Query] = []
    shop_currency, _ = shop_settings(cat) if cat.has("shop") else (None, None)
    if opts.wants("orders"):
        queries.append(_shopify_orders(cat, opts, _shopify_flavour(cat), shop_currency))
    if opts.wants("customers") and (cat.has("customer") or "customers" in opts.tables_given):
        queries.append(_shopify_customers(cat, opts))
    return queries


# --- Stripe ----------------------------------------------------------------------------------

#: Minor units per major unit, by currency (Stripe's zero- and three-decimal currencies; the rest use 100).
_ZERO_DECIMAL = (
    "bif",
    "clp",
    "djf",
    "gnf",
    "jpy",
    "kmf",
    "krw",
    "mga",
    "pyg",
    "rwf",
    "ugx",
    "vnd",
    "vuv",
    "xaf",
    "xof",
    "xpf",
)
_THREE_DECIMAL = ("bhd", "jod", "kwd", "omr", "tnd")
MINOR_UNIT_SCALE = "major units = minor units / 100, except zero-decimal (JPY, KRW...) and three-decimal (BHD, KWD...)"


def _exponent(currency_sql: str) -> str:
    zero = ", ".join(f"'{c}'" for c in _ZERO_DECIMAL)
    three = ", ".join(f"'{c}'" for c in _THREE_DECIMAL)
    return (
        f"CASE WHEN LOWER({currency_sql}) IN ({zero}) THEN 0 WHEN LOWER({currency_sql}) IN ({three}) THEN 3 ELSE 2 END"
    )


def minor_to_major(minor: str = "_minor", exponent: str = "_exp", column: str = "amount") -> pl.Expr:
    """Polars: integer minor units and their currency's exponent as exact money in major units."""
    scale = pl.lit(10, pl.Int64).pow(pl.col(exponent).cast(pl.Int64))
    return (pl.col(minor).cast(pl.Decimal(38, 4)) / scale.cast(pl.Decimal(38, 4))).alias(column)


def _livemode(cat: Catalog, alias: str, table: str, what: str) -> list[tuple[str, str, str]]:
    if not cat.has(table, "livemode"):
        return []
    return [(f"NOT {cat.flag(alias, table, 'livemode')}", f"'test-mode {what} (livemode false)'", "livemode")]


def _paid_invoices(cat: Catalog) -> str | None:
    if not cat.has("invoice", "id"):
        return None
    status = cat.first("invoice", "status")
    deleted = cat.flag("i", "invoice", "is_deleted")
    paid = f"LOWER(CAST(i.{quote(status)} AS VARCHAR)) = 'paid'" if status else cat.flag("i", "invoice", "paid")
    return f"SELECT i.{quote('id')} AS id FROM {cat.latest('invoice')} i WHERE {paid} AND NOT {deleted}"


def _stripe_charges(cat: Catalog, opts: Options) -> Query:
    cols = cat.need("charge", "id", "amount", "currency", "created", why="the Fivetran Stripe charges table")
    refunded = "0"
    if "amount_refunded" in cols:
        refunded = f"COALESCE({cat.money('c', 'charge', 'amount_refunded', minor=True)}, 0)"
    elif cat.has("refund", "charge_id") and cat.has("refund", "amount"):
        status = cat.first("refund", "status")
        ok = f" WHERE LOWER(CAST(r.{quote(status)} AS VARCHAR)) = 'succeeded'" if status else ""
        refunded = (
            f"COALESCE((SELECT SUM({cat.money('r', 'refund', 'amount', minor=True)}) FROM {cat.latest('refund')} r"
            f"{ok}{' AND' if ok else ' WHERE'} r.{quote('charge_id')} = c.{quote('id')}), 0)"
        )
    minor = f"{cat.money('c', 'charge', 'amount', minor=True)} - {refunded}"
    rules = cat.superseded("c", "charge") + _livemode(cat, "c", "charge", "charge")
    if "status" in cols:
        status = f"LOWER(CAST(c.{quote('status')} AS VARCHAR))"
        rules.append((f"{status} <> 'succeeded'", f"'payment ' || {status} || ' (not succeeded)'", "status"))
    if "captured" in cols:
        rules.append(
            (f"NOT {cat.flag('c', 'charge', 'captured')}", "'not captured (an authorisation only)'", "captured")
        )
    paid = _paid_invoices(cat) if opts.invoices == "orders" and "invoice_id" in cols else None
    if paid is not None:
        rules.append(
            (
                f"c.{quote('invoice_id')} IN ({paid})",
                f"'counted as its invoice ' || CAST(c.{quote('invoice_id')} AS VARCHAR)",
                "invoice_id",
            )
        )
    rules.append((f"{minor} <= 0", "'fully refunded (nothing kept after refunds)'", "amount_refunded"))
    reason, column = _reject(rules)
    customer = cat.text("c", "charge", "customer_id") if "customer_id" in cols else "CAST(NULL AS VARCHAR)"
    currency = f"CAST(c.{quote('currency')} AS VARCHAR)"
    sql = (
        f"SELECT {cat.text('c', 'charge', 'id')} AS order_id, {customer} AS customer_id, "
        f"{cat.time('c', 'charge', 'created')} AS ordered_at, {minor} AS _minor, {_exponent(currency)} AS _exp, "
        f"UPPER({currency}) AS currency, {cat.text('c', 'charge', 'id')} AS _key, {reason} AS _reject, "
        f"{column} AS _reject_column FROM {cat.ref('charge').sql()} c"
        + _and(_where(cat, "charge", "c", "created", opts))
    )
    return Query(spec=ORDERS, label=str(cat.ref("charge")), key_name="id", sql=sql, money=("_minor", "_exp", "amount"))


def _stripe_invoices(cat: Catalog, opts: Options) -> Query:
    cols = cat.need("invoice", "id", "currency", why="the Fivetran Stripe invoices table")
    times = [c for c in ("status_transitions_paid_at", "created", "period_end") if c in cols]
    if not times:
        cat.need("invoice", "created")
    amount_col = "amount_paid" if "amount_paid" in cols else "total"
    cat.need("invoice", amount_col)
    rules = _livemode(cat, "i", "invoice", "invoice")
    rules.insert(0, (cat.flag("i", "invoice", "is_deleted"), "'deleted in Stripe (is_deleted)'", "is_deleted"))
    rules[:0] = cat.superseded("i", "invoice")
    if "status" in cols:
        status = f"LOWER(CAST(i.{quote('status')} AS VARCHAR))"
        rules.append(
            (
                f"COALESCE({status}, '') <> 'paid'",
                f"'invoice not paid (status ' || COALESCE({status}, 'null') || ')'",
                "status",
            )
        )
    minor = cat.money("i", "invoice", amount_col, minor=True)
    rules.append((f"COALESCE({minor}, 0) <= 0", "'nothing paid'", amount_col))
    reason, column = _reject(rules)
    # When it was paid; else when it was created (a seed without ``created`` has its period's end).
    when = (
        "COALESCE(" + ", ".join(cat.time("i", "invoice", c) for c in times) + ")"
        if len(times) > 1
        else cat.time("i", "invoice", times[0])
    )
    customer = cat.text("i", "invoice", "customer_id") if "customer_id" in cols else "CAST(NULL AS VARCHAR)"
    currency = f"CAST(i.{quote('currency')} AS VARCHAR)"
    sql = (
        f"SELECT {cat.text('i', 'invoice', 'id')} AS order_id, {customer} AS customer_id, {when} AS ordered_at, "
        f"{minor} AS _minor, {_exponent(currency)} AS _exp, UPPER({currency}) AS currency, "
        f"{cat.text('i', 'invoice', 'id')} AS _key, {reason} AS _reject, {column} AS _reject_column "
        f"FROM {cat.ref('invoice').sql()} i" + _and(_where(cat, "invoice", "i", times[-1], opts))
    )
    return Query(spec=ORDERS, label=str(cat.ref("invoice")), key_name="id", sql=sql, money=("_minor", "_exp", "amount"))


def _stripe_customers(cat: Catalog, opts: Options) -> Query:
    cols = cat.need("customer", "id", "created", why="the Fivetran Stripe customers table")
    email = (
        f"NULLIF(LOWER(TRIM(CAST(c.{quote('email')} AS VARCHAR))), '')" if "email" in cols else "CAST(NULL AS VARCHAR)"
    )
    name = f"CAST(c.{quote('name')} AS VARCHAR)" if "name" in cols else "CAST(NULL AS VARCHAR)"
    rules = cat.superseded("c", "customer")
    rules.append((cat.flag("c", "customer", "is_deleted"), "'deleted in Stripe (is_deleted)'", "is_deleted"))
    rules += _livemode(cat, "c", "customer", "customer")
    reason, column = _reject(rules)
    sql = (
        f"SELECT {cat.text('c', 'customer', 'id')} AS customer_id, "
        f"{cat.time('c', 'customer', 'created')} AS created_at, "
        f"{email} AS email, {name} AS name, {cat.text('c', 'customer', 'id')} AS _key, {reason} AS _reject, "
        f"{column} AS _reject_column FROM {cat.ref('customer').sql()} c"
        + _and(_where(cat, "customer", "c", "created", opts))
    )
    return Query(spec=CUSTOMERS, label=str(cat.ref("customer")), key_name="id", sql=sql)


def _stripe_prices(cat: Catalog) -> str:
    """The current price of each subscription item: ``subscription_id, unit_num, unit_den, item_quantity, currency``.

    A recurring price is normalised to a month as amount x 1/count (month),
    1/(12 count) (year), 52/(12 count) (week) or 365/(12 count) (day).
    """
    cat.need("subscription_item", "subscription_id", why="the prices of subscriptions")
    link = cat.first("subscription_item", "price_id", "plan_id")
    if link is None:
        cat.need("subscription_item", "plan_id")
    assert link is not None
    if cat.has("price", "unit_amount") and cat.has("price", "recurring_interval"):
        table, amount, interval, count = "price", "unit_amount", "recurring_interval", "recurring_interval_count"
    else:
        cat.need("plan", "id", "amount", "interval", "currency", why="the prices of subscriptions (no price table)")
        table, amount, interval, count = "plan", "amount", "interval", "interval_count"
    count_sql = f"COALESCE(CAST(p.{quote(count)} AS BIGINT), 1)" if cat.has(table, count) else "1"
    unit = f"LOWER(CAST(p.{quote(interval)} AS VARCHAR))"
    num = f"CASE {unit} WHEN 'week' THEN 52 WHEN 'day' THEN 365 ELSE 1 END"
    den = f"CASE WHEN {unit} IN ('year', 'week', 'day') THEN 12 * {count_sql} ELSE {count_sql} END"
    quantity = (
        f"COALESCE(CAST(si.{quote('quantity')} AS BIGINT), 1)" if cat.has("subscription_item", "quantity") else "1"
    )
    return (
        f"SELECT si.{quote('subscription_id')} AS subscription_id, "
        f"{cat.money('p', table, amount, minor=True)} * {num} AS unit_num, {den} AS unit_den, "
        f"{quantity} AS item_quantity, "
        f"CAST(p.{quote('currency')} AS VARCHAR) AS currency FROM {cat.latest('subscription_item')} si "
        f"JOIN {cat.latest(table)} p ON p.{quote('id')} = si.{quote(link)}"
    )


def _stripe_subscriptions(cat: Catalog, opts: Options) -> Query:
    """Segments of constant quantity from ``subscription_history`` (or the older ``subscription``).

    The history's ``_fivetran_start``/``_fivetran_end`` are sync times: they
    only order the versions of a subscription.  Business times come from the
    business columns: the first segment starts at ``start_date`` (else
    ``created``); a later version whose ``quantity`` differs starts a new
    segment at its ``current_period_start`` (clamped to the subscription's
    start); the last segment ends at the current version's ``ended_at``
    (else ``canceled_at`` once the status is ``canceled``).  Prices are the
    current ones (``subscription_item`` keeps no history): MRR = price per
    month x the segment's quantity.
    """
    table = "subscription_history" if cat.has("subscription_history") else "subscription"
    cols = cat.need(table, "id", "customer_id", "status", why="the Fivetran Stripe subscriptions")
    start_col = "start_date" if "start_date" in cols else "created"
    cat.need(table, start_col)
    order_by = (
        ", ".join(f"s.{quote(c)}" for c in ("_fivetran_start", "_fivetran_synced") if c in cols) or f"s.{quote('id')}"
    )
    active = cat.flag("s", table, "_fivetran_active") if "_fivetran_active" in cols else "TRUE"
    quantity = f"CAST(s.{quote('quantity')} AS BIGINT)" if "quantity" in cols else "CAST(NULL AS BIGINT)"
    period = cat.time("s", table, "current_period_start") if "current_period_start" in cols else "NULL"
    ended = cat.time("s", table, "ended_at") if "ended_at" in cols else "NULL"
    canceled = cat.time("s", table, "canceled_at") if "canceled_at" in cols else "NULL"
    start = cat.time("s", table, start_col)
    live = f"NOT {cat.flag('s', table, 'livemode')}" if "livemode" in cols else "FALSE"
    window = f"(PARTITION BY s.{quote('id')} ORDER BY CASE WHEN {active} THEN 1 ELSE 0 END, {order_by})"
    versions = (
        f"SELECT CAST(s.{quote('id')} AS VARCHAR) AS id, {cat.text('s', table, 'customer_id')} AS customer_id, "
        f"LOWER(CAST(s.{quote('status')} AS VARCHAR)) AS status, {start} AS sub_start, {period} AS period_start, "
        f"{ended} AS ended, {canceled} AS canceled, {quantity} AS quantity, {live} AS test_mode, "
        f"CASE WHEN {active} THEN 1 ELSE 0 END AS is_active, "
        f"ROW_NUMBER() OVER {window} AS n, LAG({quantity}) OVER {window} "
        f"AS prev_quantity FROM {cat.ref(table).sql()} s"
    )
    last = (
        "SELECT id, status AS last_status, test_mode AS last_test, "
        "COALESCE(ended, CASE WHEN status IN ('canceled', 'incomplete_expired') THEN canceled END) AS sub_end "
        "FROM (SELECT v.*, ROW_NUMBER() OVER (PARTITION BY id ORDER BY n DESC) AS back FROM v) z WHERE back = 1"
    )
    changes = (
        "SELECT v.id, v.customer_id, v.quantity, v.n, ROW_NUMBER() OVER (PARTITION BY v.id ORDER BY v.n) AS k, "
        "CASE WHEN v.n = 1 OR v.period_start IS NULL THEN v.sub_start ELSE GREATEST(v.period_start, v.sub_start) END "
        "AS seg_start FROM v WHERE v.n = 1 OR v.quantity IS DISTINCT FROM v.prev_quantity"
    )
    prices = (
        f"SELECT subscription_id, SUM(unit_num * item_quantity) AS unit_num, MAX(unit_den) AS unit_den, "
        f"SUM(item_quantity) AS item_quantity, COUNT(*) AS items, MIN(currency) AS currency, "
        f"COUNT(DISTINCT currency) AS currencies FROM ({_stripe_prices(cat)}) p0 GROUP BY subscription_id"
    )
    segments = (
        "SELECT c.id || CASE WHEN c.k > 1 THEN '#' || CAST(c.k AS VARCHAR) ELSE '' END AS subscription_id, "
        "c.customer_id, c.seg_start AS started_at, "
        "COALESCE(LEAD(c.seg_start) OVER (PARTITION BY c.id ORDER BY c.k), l.sub_end) AS ended_at, "
        "CASE WHEN p.items = 1 AND c.quantity IS NOT NULL AND p.item_quantity > 0 "
        "THEN p.unit_num / p.item_quantity * c.quantity ELSE p.unit_num END AS _minor, "
        "p.unit_den AS _den, p.currency AS _currency, c.id AS _key, l.last_status, l.last_test, p.items, p.currencies "
        "FROM changes c JOIN last l ON l.id = c.id LEFT JOIN prices p ON p.subscription_id = c.id"
    )
    rules: list[tuple[str, str, str]] = [
        ("last_test", "'test-mode subscription (livemode false)'", "livemode"),
        (
            "last_status IN ('incomplete', 'incomplete_expired')",
            "'never started (status ' || last_status || ')'",
            "status",
        ),
        ("items IS NULL", "'no price: no subscription_item with a price or plan'", "subscription_item"),
        ("currencies > 1", "'items priced in several currencies'", "currency"),
        (
            "ended_at IS NOT NULL AND ended_at <= started_at",
            "'segment of no length (replaced the same instant)'",
            "ended_at",
        ),
    ]
    reason, column = _reject(rules)
    bounds = []
    if opts.until is not None:
        bounds.append(f"started_at < CAST('{opts.until}' AS TIMESTAMPTZ)")
    if opts.since is not None:
        bounds.append(f"(ended_at IS NULL OR ended_at >= CAST('{opts.since}' AS TIMESTAMPTZ))")
    sql = (
        f"WITH v AS ({versions}), last AS ({last}), changes AS ({changes}), prices AS ({prices}), seg AS ({segments}) "
        f"SELECT subscription_id, customer_id, started_at, ended_at, _minor, _den, _currency, "
        f"{_exponent('_currency')} AS _exp, UPPER(_currency) AS currency, "
        f"_key || CASE WHEN subscription_id <> _key THEN ' segment ' || subscription_id ELSE '' END AS _key, "
        f"{reason} AS _reject, {column} AS _reject_column FROM seg" + _and(bounds)
    )
    return Query(
        spec=SUBSCRIPTIONS,
        label=str(cat.ref(table)),
        key_name="id",
        sql=sql,
        money=("_minor", "_exp", "mrr"),
        per="_den",
    )


def stripe(cat: Catalog, opts: Options) -> list[Query]:
    """The queries of a Fivetran Stripe schema: orders (charges, paid invoices), customers, subscriptions."""
    queries: list[Query] = []
    if opts.wants("orders"):
        queries.append(_stripe_charges(cat, opts))
        if opts.invoices == "orders" and cat.has("invoice"):
            queries.append(_stripe_invoices(cat, opts))
    if opts.wants("customers") and (cat.has("customer") or "customers" in opts.tables_given):
        queries.append(_stripe_customers(cat, opts))
    if opts.wants("subscriptions") and (
        cat.has("subscription_history") or cat.has("subscription") or "subscriptions" in opts.tables_given
    ):
        queries.append(_stripe_subscriptions(cat, opts))
    return queries
