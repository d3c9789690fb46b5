"""The Airbyte layouts: Shopify and Stripe streams, typed or as JSON blobs, in append or deduped mode.

Airbyte stores a stream in one of two ways, both read here:

* **typed tables** (Postgres destination v3, MotherDuck, newer DuckDB): one
  column per field of the stream's schema (objects and arrays as JSON) plus
  ``_airbyte_raw_id``, ``_airbyte_extracted_at``, ``_airbyte_meta`` (and
  ``_airbyte_generation_id``), in a table named after the stream (``orders``)
  or ``_airbyte_raw_<stream>``;
* **JSON blobs**: the whole record in ``_airbyte_data`` (``airbyte_internal.raw_<namespace>__<stream>``
  or ``<namespace>_raw__stream_<stream>``, or the older ``_airbyte_raw_<stream>`` with
  ``_airbyte_ab_id`` and ``_airbyte_emitted_at``).

Each stream becomes a :class:`~retainlib_warehouse._catalog.View` with the
columns (and names) the Fivetran layouts read, so that the same rules apply:
Stripe's epoch seconds (``BIGINT`` or ``DECIMAL``) become timestamps,
references (``customer``, ``invoice``) become ``customer_id``, ``invoice_id``,
nested fields (``status_transitions.paid_at``, ``recurring.interval``) are
taken out of their JSON.

**Versions.** In append mode a stream keeps every version of a record; in
deduped mode one.  Both are read the same way: of the rows sharing a primary
key, the one with the greatest cursor (``updated_at`` for Shopify orders and
customers, ``updated`` for Stripe), then the latest ``_airbyte_extracted_at``,
is kept (Airbyte's own dedup rule); the others are rejected as older versions,
so rows read = loaded + rejected still holds.  Stripe subscriptions keep their
versions: they are the history the subscription segments are built from.
"""

from __future__ import annotations

from typing import Literal

import attrs

from retainlib_warehouse._backend import Connection, TableRef, quote
from retainlib_warehouse._catalog import SUPERSEDED, Catalog, View, is_number, is_text
from retainlib_warehouse._options import Options
from retainlib_warehouse._run import Query

__all__ = ["locate", "shopify", "stripe"]

Kind = Literal["text", "int", "num", "bool", "tstz", "epoch"]
Path = tuple[str | int, ...]

_TYPE = {
    "text": "character varying",
    "int": "bigint",
    "num": "numeric",
    "bool": "boolean",
    "tstz": "timestamp with time zone",
    "epoch": "timestamp with time zone",
}
_CAST = {"text": "VARCHAR", "int": "BIGINT", "num": "NUMERIC(38, 9)", "bool": "BOOLEAN", "tstz": "TIMESTAMPTZ"}


@attrs.frozen
class Field:
    """A column of a view: its name (as the Fivetran layouts call it), its kind, where the record holds it.

    ``paths`` are tried in turn (``COALESCE``): ``("customer",)`` is a top-level field,
    ``("customer", "id")`` a field of an object, ``("items", "data", 0, "price", "id")`` one in an array.
    ``default`` is SQL for a null value (``TRUE`` for ``livemode``).
    """

    name: str
    kind: Kind
    paths: tuple[Path, ...] = ()
    default: str | None = None

    def where(self) -> tuple[Path, ...]:
        """The paths (the field's own name when none are given)."""
        return self.paths or ((self.name,),)


def _f(name: str, kind: Kind = "text", *paths: Path, default: str | None = None) -> Field:
    return Field(name, kind, tuple(paths), default)


@attrs.frozen(kw_only=True)
class Stored:
    """Where a stream is stored: the table, its columns, whether records are JSON blobs, its extraction time."""

    ref: TableRef
    columns: dict[str, str]
    blob: bool
    extracted: str | None


def _current_schema(conn: Connection) -> str:
    frame = conn.frame("SELECT CAST(current_schema() AS VARCHAR) AS s")
    return str(frame["s"][0]) if frame.height else "public"


def locate(conn: Connection, schema: str | None, stream: str) -> Stored | None:
    """The table holding ``stream`` in namespace ``schema``: typed or raw, under any name Airbyte gives it."""
    namespace = schema if schema is not None else _current_schema(conn)
    candidates = [
        TableRef(name=stream, schema=schema),
        TableRef(name=f"_airbyte_raw_{stream}", schema=schema),
        TableRef(name=f"raw_{namespace}__{stream}", schema="airbyte_internal"),
        TableRef(name=f"{namespace}_raw__stream_{stream}", schema="airbyte_internal"),
    ]
    for ref in candidates:
        columns = conn.columns(ref)
        if columns is None or not any(c.startswith("_airbyte_") for c in columns):
            continue
        extracted = next((c for c in ("_airbyte_extracted_at", "_airbyte_emitted_at") if c in columns), None)
        return Stored(ref=ref, columns=columns, blob="_airbyte_data" in columns, extracted=extracted)
    return None


def _json_path(base: str, path: Path) -> str:
    """SQL for the text at ``path`` inside the JSON ``base``."""
    steps = [str(p) if isinstance(p, int) else "'" + p.replace("'", "''") + "'" for p in path]
    return f"CAST({base} AS JSON)" + "".join(f" -> {s}" for s in steps[:-1]) + f" ->> {steps[-1]}"


def _from_text(text: str, kind: Kind) -> str:
    if kind == "epoch":
        return f"TO_TIMESTAMP(CAST({text} AS DOUBLE PRECISION))"
    if kind == "text":
        return text
    return f"CAST({text} AS {_CAST[kind]})"


def _from_column(column: str, sql_type: str, kind: Kind) -> str:
    """SQL turning a typed column into ``kind`` (epoch seconds stored as BIGINT or DECIMAL become timestamps)."""
    stamped = sql_type.startswith(("timestamp", "date"))
    if kind == "epoch":
        return column if stamped else f"TO_TIMESTAMP(CAST({column} AS DOUBLE PRECISION))"
    if kind == "tstz":
        return column if stamped else f"CAST(CAST({column} AS VARCHAR) AS TIMESTAMPTZ)"
    if kind == "bool":
        return column if sql_type.startswith("bool") else f"CAST(CAST({column} AS VARCHAR) AS BOOLEAN)"
    if kind == "text":
        if is_number(sql_type) and not sql_type.startswith(("bigint", "integer", "int", "smallint", "hugeint")):
            return f"CAST(CAST({column} AS BIGINT) AS VARCHAR)"
        return f"CAST({column} AS VARCHAR)"
    return f"CAST({column} AS {_CAST[kind]})"


def _expr(stored: Stored, field: Field) -> str | None:
    """SQL of ``field`` over the stored table (alias ``t``), or ``None`` when a typed table lacks it."""
    parts: list[str] = []
    for path in field.where():
        head = str(path[0])
        if stored.blob:
            parts.append(_from_text(_json_path(f"t.{quote('_airbyte_data')}", path), field.kind))
        elif head in stored.columns:
            column = f"t.{quote(head)}"
            if len(path) == 1:
                parts.append(_from_column(column, stored.columns[head], field.kind))
            elif is_text(stored.columns[head]) or "json" in stored.columns[head] or stored.columns[head] == "struct":
                parts.append(_from_text(_json_path(column, path[1:]), field.kind))
    if not parts:
        return None
    if field.default is not None:
        parts.append(field.default)
    return parts[0] if len(parts) == 1 else "COALESCE(" + ", ".join(parts) + ")"


@attrs.frozen(kw_only=True)
class Stream:
    """An Airbyte stream read as a view: its name, the name the layouts read it by, its key, cursor and fields."""

    stream: str
    table: str
    fields: tuple[Field, ...]
    key: str = "id"
    cursor: str | None = None
    deleted: str | None = None  # a field marking deletion records (Shopify's deleted_at)
    history: bool = False  # keep versions as Fivetran history columns (Stripe subscriptions)


def view(stored: Stored, spec: Stream, label: str) -> View | None:
    """The stream as a view with the fields the layouts read, each row marked ``_superseded`` or not."""
    exprs = {f.name: _expr(stored, f) for f in spec.fields}
    present = {f.name: f for f in spec.fields if exprs[f.name] is not None}
    if spec.key not in present:
        return None
    extracted = f"t.{quote(stored.extracted)}" if stored.extracted else "CAST(NULL AS TIMESTAMPTZ)"
    order = [f"{extracted} DESC"]
    if spec.cursor is not None and spec.cursor in present:
        order.insert(0, f"{exprs[spec.cursor]} DESC NULLS LAST")
    key = exprs[spec.key]
    selects = [f"{exprs[n]} AS {quote(n)}" for n in present]
    columns = {n: _TYPE[f.kind] for n, f in present.items()}
    selects.append(f"{extracted} AS {quote('_airbyte_extracted_at')}")
    columns["_airbyte_extracted_at"] = "timestamp with time zone"
    selects.append(f"ROW_NUMBER() OVER (PARTITION BY {key} ORDER BY {', '.join(order)}) > 1 AS {quote(SUPERSEDED)}")
    columns[SUPERSEDED] = "boolean"
    if spec.deleted is not None and spec.deleted in present:
        # A deletion record (every other field null) marks the record deleted, whichever version is kept.
        flag = f"MAX(CASE WHEN {exprs[spec.deleted]} IS NOT NULL THEN 1 ELSE 0 END) OVER (PARTITION BY {key}) = 1"
        selects = [s for s in selects if not s.endswith(f" AS {quote(spec.deleted)}")]
        selects.append(f"{flag} AS {quote(spec.deleted)}")
        columns[spec.deleted] = "boolean"
    body = f"SELECT {', '.join(selects)} FROM {stored.ref.sql()} t"
    if spec.history:
        # The versions are the history the segments are built from: the kept one is the current version.
        cursor = quote(spec.cursor) if spec.cursor in present else quote("_airbyte_extracted_at")
        body = (
            f"SELECT v.*, NOT v.{quote(SUPERSEDED)} AS {quote('_fivetran_active')}, v.{cursor} AS "
            f"{quote('_fivetran_start')}, v.{quote('_airbyte_extracted_at')} AS {quote('_fivetran_synced')} "
            f"FROM ({body}) v"
        )
        del columns[SUPERSEDED]
        columns["_fivetran_active"] = "boolean"
        columns["_fivetran_start"] = columns["_fivetran_synced"] = "timestamp with time zone"
    return View(label=label, body=body, columns=columns)


def _catalog(conn: Connection, opts: Options, streams: list[Stream], *, deleted: str) -> Catalog:
    """A catalog whose tables are the views of the streams found (the first stream found per table wins)."""
    views: dict[str, View] = {}
    for spec in streams:
        if spec.table in views:
            continue
        stored = locate(conn, opts.schema, spec.stream)
        if stored is None:
            continue
        made = view(stored, spec, str(stored.ref))
        if made is not None:
            views[spec.table] = made
    return Catalog(conn=conn, schema=opts.schema, views=views, deleted=deleted)


# --- Shopify ---------------------------------------------------------------------------------

_SHOPIFY = [
    Stream(
        stream="orders",
        table="order",
        cursor="updated_at",
        deleted="deleted_at",
        fields=(
            _f("id"),
            _f("customer_id", "text", ("customer_id",), ("customer", "id")),
            _f("email"),
            _f("created_at", "tstz"),
            _f("updated_at", "tstz"),
            _f("currency"),
            _f("total_price", "num"),
            _f("current_total_price", "num"),
            _f("financial_status"),
            _f("test", "bool", default="FALSE"),
            _f("cancelled_at", "tstz"),
            _f("deleted_at", "tstz"),
        ),
    ),
    Stream(
        stream="customers",
        table="customer",
        cursor="updated_at",
        fields=(
            _f("id"),
            _f("email"),
            _f("first_name"),
            _f("last_name"),
            _f("created_at", "tstz"),
            _f("updated_at", "tstz"),
        ),
    ),
    Stream(
        stream="transactions",
        table="transaction",
        cursor="created_at",
        fields=(
            _f("id"),
            _f("order_id"),
            _f("amount", "num"),
            _f("kind"),
            _f("status"),
            _f("test", "bool", default="FALSE"),
            _f("created_at", "tstz"),
        ),
    ),
]


def _shopify_refunds(cat: Catalog) -> str | None:
    """What each order gave back: its successful refund transactions, else total less ``current_total_price``."""
    if all(cat.has("transaction", c) for c in ("order_id", "amount", "kind", "status")):
        return (
            f"SELECT x.{quote('order_id')} AS order_id, CAST(SUM(x.{quote('amount')}) AS NUMERIC(38, 4)) AS refunded "
            f"FROM {cat.latest('transaction')} x WHERE LOWER(x.{quote('kind')}) = 'refund' AND "
            f"LOWER(x.{quote('status')}) = 'success' AND NOT x.{quote('test')} GROUP BY x.{quote('order_id')}"
        )
    if cat.has("order", "current_total_price"):
        return (
            f"SELECT o.{quote('id')} AS order_id, CAST(o.{quote('total_price')} - o.{quote('current_total_price')} "
            f"AS NUMERIC(38, 4)) AS refunded FROM {cat.latest('order')} o "
            f"WHERE o.{quote('current_total_price')} IS NOT NULL"
        )
    return None


def shopify(conn: Connection, opts: Options) -> list[Query]:
    """The queries of an Airbyte Shopify namespace (streams ``orders``, ``customers``, ``transactions``)."""
    from retainlib_warehouse import _fivetran

    cat = _catalog(conn, opts, _SHOPIFY, deleted="deleted_at")
    _require(cat, conn, opts, "order", "orders")
    cat.refunds = _shopify_refunds(cat)
    return _fivetran.shopify(cat, opts)


def _require(cat: Catalog, conn: Connection, opts: Options, table: str, stream: str) -> None:
    if cat.has(table):
        return
    where = f"schema {opts.schema!r}" if opts.schema else "the connection's current schema"
    raise conn.error(
        f"no Airbyte stream {stream!r} in {where} (looked for a table {stream}, _airbyte_raw_{stream}, and "
        f"airbyte_internal.raw_<namespace>__{stream}); pass schema= if it lives elsewhere",
        table=stream,
    )


# --- Stripe ----------------------------------------------------------------------------------

_LIVE = "TRUE"

_STRIPE = [
    Stream(
        stream="charges",
        table="charge",
        cursor="updated",
        fields=(
            _f("id"),
            _f("customer_id", "text", ("customer",), ("customer", "id")),
            _f("created", "epoch"),
            _f("updated", "epoch"),
            _f("amount", "int"),
            _f("amount_refunded", "int"),
            _f("currency"),
            _f("status"),
            _f("paid", "bool"),
            _f("captured", "bool", default="TRUE"),
            _f("invoice_id", "text", ("invoice",)),
            _f("livemode", "bool", default=_LIVE),
        ),
    ),
    Stream(
        stream="refunds",
        table="refund",
        cursor="updated",
        fields=(
            _f("id"),
            _f("charge_id", "text", ("charge",)),
            _f("amount", "int"),
            _f("status"),
            _f("currency"),
            _f("updated", "epoch"),
        ),
    ),
    Stream(
        stream="invoices",
        table="invoice",
        cursor="updated",
        fields=(
            _f("id"),
            _f("customer_id", "text", ("customer",)),
            _f("created", "epoch"),
            _f("updated", "epoch"),
            _f("status_transitions_paid_at", "epoch", ("status_transitions", "paid_at")),
            _f("period_end", "epoch"),
            _f("currency"),
            _f("amount_paid", "int"),
            _f("total", "int"),
            _f("status"),
            _f("is_deleted", "bool", default="FALSE"),
            _f("livemode", "bool", default=_LIVE),
        ),
    ),
    Stream(
        stream="customers",
        table="customer",
        cursor="updated",
        fields=(
            _f("id"),
            _f("created", "epoch"),
            _f("updated", "epoch"),
            _f("email"),
            _f("name"),
            _f("is_deleted", "bool", default="FALSE"),
            _f("livemode", "bool", default=_LIVE),
        ),
    ),
    Stream(
        stream="subscriptions",
        table="subscription_history",
        cursor="updated",
        history=True,
        fields=(
            _f("id"),
            _f("customer_id", "text", ("customer",)),
            _f("status"),
            _f("created", "epoch"),
            _f("updated", "epoch"),
            _f("start_date", "epoch"),
            _f("current_period_start", "epoch"),
            _f("ended_at", "epoch"),
            _f("canceled_at", "epoch"),
            _f("quantity", "int"),
            _f("livemode", "bool", default=_LIVE),
        ),
    ),
    Stream(
        stream="subscription_items",
        table="subscription_item",
        cursor="updated",
        fields=(
            _f("id"),
            _f("subscription_id", "text", ("subscription",)),
            _f("price_id", "text", ("price", "id")),
            _f("plan_id", "text", ("plan", "id"), ("plan",)),
            _f("quantity", "int"),
            _f("updated", "epoch"),
        ),
    ),
    # Without a subscription_items stream: the first item of each subscription (``items.data[0]``).
    Stream(
        stream="subscriptions",
        table="subscription_item",
        key="subscription_id",
        cursor="updated",
        fields=(
            _f("id", "text", ("items", "data", 0, "id")),
            _f("subscription_id", "text", ("id",)),
            _f("price_id", "text", ("items", "data", 0, "price", "id")),
            _f("quantity", "int", ("items", "data", 0, "quantity")),
            _f("updated", "epoch"),
        ),
    ),
    Stream(
        stream="prices",
        table="price",
        cursor="updated",
        fields=(
            _f("id"),
            _f("unit_amount", "num"),
            _f("currency"),
            _f("recurring_interval", "text", ("recurring", "interval")),
            _f("recurring_interval_count", "int", ("recurring", "interval_count")),
            _f("updated", "epoch"),
        ),
    ),
    Stream(
        stream="plans",
        table="plan",
        cursor="updated",
        fields=(
            _f("id"),
            _f("amount", "int"),
            _f("currency"),
            _f("interval"),
            _f("interval_count", "int"),
            _f("updated", "epoch"),
        ),
    ),
    # Without a prices stream: the prices embedded in the subscription items (then in the subscriptions).
    Stream(
        stream="subscription_items",
        table="price",
        cursor="updated",
        fields=(
            _f("id", "text", ("price", "id")),
            _f("unit_amount", "num", ("price", "unit_amount")),
            _f("currency", "text", ("price", "currency")),
            _f("recurring_interval", "text", ("price", "recurring", "interval")),
            _f("recurring_interval_count", "int", ("price", "recurring", "interval_count")),
            _f("updated", "epoch"),
        ),
    ),
    Stream(
        stream="subscriptions",
        table="price",
        cursor="updated",
        fields=(
            _f("id", "text", ("items", "data", 0, "price", "id")),
            _f("unit_amount", "num", ("items", "data", 0, "price", "unit_amount")),
            _f("currency", "text", ("items", "data", 0, "price", "currency")),
            _f("recurring_interval", "text", ("items", "data", 0, "price", "recurring", "interval")),
            _f("recurring_interval_count", "int", ("items", "data", 0, "price", "recurring", "interval_count")),
            _f("updated", "epoch"),
        ),
    ),
]


def stripe(conn: Connection, opts: Options) -> list[Query]:
    """The queries of an Airbyte Stripe namespace (``charges``, ``invoices``, ``customers``, ``subscriptions``...)."""
    from retainlib_warehouse import _fivetran

    cat = _catalog(conn, opts, _STRIPE, deleted="is_deleted")
    _require(cat, conn, opts, "charge", "charges")
    return _fivetran.stripe(cat, opts)
