"""Shopify API payloads (JSON): REST ``orders.json``, GraphQL responses and bulk-operation JSON lines.

API payloads are read with :mod:`json`, one object at a time, and turned into
text columns (the same ones the CSV reader builds), so that every policy and
check is one set of polars expressions for all formats.

What is read:

* REST: ``{"orders": [...]}``, ``{"order": {...}}``, ``{"customers": [...]}``,
  ``{"customer": {...}}``, ``{"refunds": [...]}``, ``{"refund": {...}}``, a bare
  array, or JSON lines of such objects;
* GraphQL: ``{"data": {"orders": {"edges": [{"node": ...}]}}}`` (or ``nodes``,
  or one ``order``; customers alike);
* bulk-operation JSON lines: one object per line, ids as global ids
  (``gid://shopify/Order/123``), the lines of nested connections (line items,
  an order under its customer) pointing at their parent with ``__parentId``.

Every object is a record: it becomes (part of) a row, or it is rejected with
its position and reason.  Positions are line numbers for JSON lines, and the
1-based position in the list otherwise (1 for a single object).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

import polars as pl

from retainlib.errors import SourceError
from retainlib_shopify._csv import CUSTOMER_ROW_COLUMNS, LINE_COLUMNS

__all__ = ["JsonRead", "Style", "looks_like_shopify", "read_json"]

Style = Literal["rest", "graphql"]
_NEWLINE = b"\n"
_GID = "gid://shopify/"
#: Keys of a REST or GraphQL payload holding objects of one type (plural: a list or a connection).
_CONTAINERS = {
    "orders": "order",
    "order": "order",
    "customers": "customer",
    "customer": "customer",
    "refunds": "refund",
    "refund": "refund",
}
#: Fields only an order has (REST, then GraphQL).
_ORDER_FIELDS = frozenset(
    {
        "total_price", "financial_status", "line_items", "order_number", "subtotal_price", "processed_at",
        "totalPriceSet", "displayFinancialStatus", "subtotalPriceSet", "totalRefundedSet", "processedAt",
    }
)  # fmt: skip
#: Fields only a customer has.
_CUSTOMER_FIELDS = frozenset(
    {
        "orders_count", "total_spent", "verified_email", "accepts_marketing", "default_address",
        "numberOfOrders", "amountSpent", "defaultEmailAddress", "verifiedEmail", "defaultAddress",
    }
)  # fmt: skip
_REFUND_FIELDS = frozenset({"refund_line_items", "refundLineItems"})
#: Words that say a payload is Shopify's (for the detector): REST and GraphQL field names and global ids.
MARKS = (
    _GID, '"financial_status"', '"total_price"', '"admin_graphql_api_id"', '"order_number"', '"orders_count"',
    '"total_spent"', '"verified_email"', '"refund_line_items"', '"displayFinancialStatus"', '"totalPriceSet"',
)  # fmt: skip


@dataclass(slots=True)
class JsonRead:
    """Rows taken from the JSON files of one read, as columns of text.

    Attributes:
        lines: per style, the order lines (columns :data:`~retainlib_shopify._csv.LINE_COLUMNS` plus ``_seq``).
        customers: customer records (:data:`~retainlib_shopify._csv.CUSTOMER_ROW_COLUMNS` plus ``_seq`` and
            ``_style``).
        others: records that are neither (``_src``, ``_seq``, ``_line``, ``reason``).
    """

    lines: dict[Style, dict[str, list[Any]]] = field(
        default_factory=lambda: {"rest": _columns(LINE_COLUMNS), "graphql": _columns(LINE_COLUMNS)}
    )
    customers: dict[str, list[Any]] = field(default_factory=lambda: _columns((*CUSTOMER_ROW_COLUMNS, "_style")))
    others: dict[str, list[Any]] = field(default_factory=lambda: _columns(("_src", "_seq", "_line", "reason")))


def _columns(names: tuple[str, ...]) -> dict[str, list[Any]]:
    return {name: [] for name in (*names, "_seq")}


def looks_like_shopify(head: bytes) -> bool:
    """Whether the first bytes of a JSON file hold Shopify's field names or global ids."""
    text = head.decode("utf-8", errors="replace")
    return any(mark in text for mark in MARKS)


# --- documents --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Record:
    line: int
    hint: str | None  # "order", "customer", "refund" when the container says so
    value: object
    error: str = ""


def _parse(text: str) -> object:
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _problem(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON at column {exc.colno}: {exc.msg}"
    return f"invalid JSON: {exc}"


def _connection(value: object) -> list[object]:
    """The objects of a GraphQL connection (``edges[].node`` or ``nodes``), a list, or one object."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        if isinstance(value.get("edges"), list):
            return [e.get("node") if isinstance(e, dict) else e for e in value["edges"]]
        if isinstance(value.get("nodes"), list):
            return list(value["nodes"])
    return [value]


def _items(document: object) -> list[tuple[str | None, object]]:
    """The objects of a parsed document, each with the type its container names (or ``None``).

    A GraphQL response's ``data`` and a REST wrapper (``{"orders": [...]}``,
    ``{"order": {...}}``) hold the objects; any other object is one itself.
    """
    if isinstance(document, list):
        return [(None, item) for item in document]
    if not isinstance(document, dict):
        return [(None, document)]
    data = document.get("data")
    if isinstance(data, dict):
        return [(hint, item) for key, hint in _CONTAINERS.items() if key in data for item in _connection(data[key])]
    wrapped = [key for key in _CONTAINERS if key in document and _is_container(document, key)]
    if not wrapped:
        return [(None, document)]
    return [(_CONTAINERS[key], item) for key in wrapped for item in _connection(document[key])]


def _is_container(document: Mapping[str, Any], key: str) -> bool:
    """Whether ``document[key]`` holds the payload (a REST wrapper), not a field of an object."""
    value = document[key]
    if key.endswith("s"):
        return isinstance(value, list) and len(document) <= 3  # {"orders": [...]} (with paging keys at most)
    return isinstance(value, dict) and len(document) == 1  # {"order": {...}}


def _records(path: Path) -> list[_Record]:
    """Every object of a JSON file: one document, or JSON lines (blank lines are not records)."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        where = f"line {raw.count(_NEWLINE, 0, exc.start) + 1} (byte {exc.start})"
        raise SourceError(f"not valid UTF-8 at {where}", file=path, source="shopify") from None
    if not text.strip():
        raise SourceError("the file is empty", file=path, source="shopify")
    try:
        document = _parse(text)
    except ValueError as whole:
        lines = text.split("\n")
        first = next((i for i, line in enumerate(lines) if line.strip()), 0)
        try:
            _parse(lines[first])
        except ValueError:
            where = (
                f" at line {whole.lineno}, column {whole.colno}: {whole.msg}"
                if isinstance(whole, json.JSONDecodeError)
                else f": {whole}"
            )
            raise SourceError(f"invalid JSON{where}", file=path, source="shopify") from None
        records: list[_Record] = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                value = _parse(line)
            except ValueError as exc:
                records.append(_Record(number, None, None, _problem(exc)))
                continue
            records.extend(_Record(number, hint, item) for hint, item in _items(value))
        return records
    items = _items(document)
    if len(items) == 1:
        return [_Record(1, items[0][0], items[0][1])]
    return [_Record(number, hint, item) for number, (hint, item) in enumerate(items, 1)]


# --- values -----------------------------------------------------------------------------------


def _text(value: object) -> str | None:
    """A field's value as text (as an export would write it); ``None`` when null or blank."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        if not value.isascii():  # a lone surrogate ("\ud800" in the JSON) is no text polars can hold
            value = value.encode("utf-8", "replace").decode("utf-8")
        return value.strip() or None
    return json.dumps(value)[:200]


def _get(obj: Mapping[str, Any], *path: str) -> object:
    value: object = obj
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _gid(value: object) -> tuple[str | None, str | None]:
    """(type, id) of a global id ``gid://shopify/Order/123``; (``None``, text) for any other id."""
    text = _text(value)
    if text is None or not text.startswith(_GID):
        return None, text
    kind, _, rest = text[len(_GID) :].partition("/")
    return kind, rest.split("?", 1)[0] or None


def _money_sum(values: list[object]) -> str | None:
    """The sum of money texts, as text; the first text that is not plain money when there is one."""
    total = Decimal(0)
    for value in values:
        text = _text(value)
        if text is None:
            continue
        if not text.replace(".", "", 1).isdigit() or not text.isascii():
            return text  # the readers' money check names what is wrong with it
        try:
            total += Decimal(text)
        except InvalidOperation:  # pragma: no cover - digits and one dot always parse
            return text
    return str(total)


def _rest_refund(refund: Mapping[str, Any]) -> str | None:
    """What a REST refund gave back: its successful ``refund`` transactions."""
    transactions = refund.get("transactions")
    if not isinstance(transactions, list):
        return None
    kept = [
        t.get("amount")
        for t in transactions
        if isinstance(t, dict) and t.get("kind", "refund") == "refund" and t.get("status", "success") == "success"
    ]
    return _money_sum(kept) if kept else "0"


def _graphql_refund(refund: Mapping[str, Any]) -> object:
    return _get(refund, "totalRefundedSet", "shopMoney", "amount")


# --- objects ----------------------------------------------------------------------------------


def _kind(hint: str | None, obj: Mapping[str, Any]) -> tuple[str | None, Style]:
    """(``"order"``, ``"customer"``, ``"refund"``, ``"child"`` or ``None``; style) of an object."""
    gid_type, _ = _gid(obj.get("id"))
    style: Style = "graphql" if gid_type is not None or "__parentId" in obj or "createdAt" in obj else "rest"
    if gid_type is not None:
        if gid_type in ("Order", "Customer", "Refund"):
            return gid_type.lower(), style
        return ("child" if "__parentId" in obj else None), style
    if hint is not None:
        return hint, style
    keys = set(obj)
    if keys & _REFUND_FIELDS or ("transactions" in keys and "order_id" in keys):
        return "refund", style
    if keys & _ORDER_FIELDS:
        return "order", style
    if keys & _CUSTOMER_FIELDS:
        return "customer", style
    return None, style


def _order_row(obj: Mapping[str, Any], style: Style, parents: Mapping[str, str]) -> dict[str, Any]:
    """An order's head row (text fields) from a REST or GraphQL order object."""
    customer = obj.get("customer")
    customer_obj: Mapping[str, Any] = customer if isinstance(customer, dict) else {}
    if style == "rest":
        refunds = obj.get("refunds")
        refund_texts = [_rest_refund(r) for r in refunds if isinstance(r, dict)] if isinstance(refunds, list) else []
        return {
            "order_id": _text(obj.get("id")),
            "order_name": _text(obj.get("name")),
            "email": _text(obj.get("email")) or _text(obj.get("contact_email")) or _text(customer_obj.get("email")),
            "customer": _text(customer_obj.get("id")),
            "customer_created": _text(customer_obj.get("created_at")),
            "created": _text(obj.get("created_at")),
            "currency": _text(obj.get("currency")),
            "total": _text(obj.get("total_price")),
            "subtotal": _text(obj.get("subtotal_price")),
            "refunded": _money_sum(list(refund_texts)),
            "cancelled": _text(obj.get("cancelled_at")),
            "test": _text(obj.get("test")),
            "status": (_text(obj.get("financial_status")) or "").lower() or None,
        }
    _, order_id = _gid(obj.get("id"))
    _, customer_id = _gid(customer_obj.get("id"))
    parent_type, parent_id = _gid(obj.get("__parentId"))
    if customer_id is None and parent_type == "Customer":
        customer_id = parent_id
    refunded: object = _get(obj, "totalRefundedSet", "shopMoney", "amount")
    if refunded is None and isinstance(obj.get("refunds"), list):
        refunded = _money_sum([_graphql_refund(r) for r in obj["refunds"] if isinstance(r, dict)])
    email = (
        _text(obj.get("email"))
        or _text(customer_obj.get("email"))
        or _text(_get(customer_obj, "defaultEmailAddress", "emailAddress"))
        or (parents.get(parent_id) if parent_type == "Customer" and parent_id else None)
    )
    return {
        "order_id": order_id or _text(obj.get("legacyResourceId")),
        "order_name": _text(obj.get("name")),
        "email": email,
        "customer": customer_id,
        "customer_created": _text(customer_obj.get("createdAt")),
        "created": _text(obj.get("createdAt")),
        "currency": _text(_get(obj, "totalPriceSet", "shopMoney", "currencyCode")) or _text(obj.get("currencyCode")),
        "total": _text(_get(obj, "totalPriceSet", "shopMoney", "amount")),
        "subtotal": _text(_get(obj, "subtotalPriceSet", "shopMoney", "amount")),
        "refunded": _text(refunded),
        "cancelled": _text(obj.get("cancelledAt")),
        "test": _text(obj.get("test")),
        "status": (_text(obj.get("displayFinancialStatus")) or "").lower() or None,
    }


def _customer_row(obj: Mapping[str, Any], style: Style) -> dict[str, Any]:
    if style == "rest":
        first, last = _text(obj.get("first_name")), _text(obj.get("last_name"))
        return {
            "customer": _text(obj.get("id")),
            "email": _text(obj.get("email")),
            "name": " ".join(p for p in (first, last) if p) or None,
            "phone": _text(obj.get("phone")),
            "created": _text(obj.get("created_at")),
        }
    _, customer_id = _gid(obj.get("id"))
    first, last = _text(obj.get("firstName")), _text(obj.get("lastName"))
    return {
        "customer": customer_id or _text(obj.get("legacyResourceId")),
        "email": _text(obj.get("email")) or _text(_get(obj, "defaultEmailAddress", "emailAddress")),
        "name": _text(obj.get("displayName")) or " ".join(p for p in (first, last) if p) or None,
        "phone": _text(obj.get("phone")) or _text(_get(obj, "defaultPhoneNumber", "phoneNumber")),
        "created": _text(obj.get("createdAt")),
    }


def _append(columns: dict[str, list[Any]], row: Mapping[str, Any]) -> None:
    for name, values in columns.items():
        values.append(row.get(name))


def _line_row(src: int, seq: int, line: int, kind: str, group: str | None, **fields: Any) -> dict[str, Any]:
    return {"_src": src, "_seq": seq, "_line": line, "_kind": kind, "_group": group, "refund_dup": False, **fields}


def read_json(files: Iterator[tuple[int, Path]] | list[tuple[int, Path]], read: JsonRead | None = None) -> JsonRead:
    """Rows from the JSON files (``(file index, path)`` pairs) of one read."""
    out = read or JsonRead()
    loaded = [(src, path, _records(path)) for src, path in files]
    # Bulk operations list a customer before the orders under it: their e-mails go to those orders.
    # A refund object already counted in its order (REST: listed in its refunds; GraphQL: the order
    # gives its totalRefundedSet) is not counted again.
    parent_emails: dict[str, str] = {}
    inline_refunds: dict[str, set[str]] = {}
    refunded_orders: set[str] = set()
    for _, _, records in loaded:
        for record in records:
            if not isinstance(record.value, dict):
                continue
            obj = record.value
            kind, style = _kind(record.hint, obj)
            if kind == "customer" and style == "graphql":
                row = _customer_row(obj, style)
                if row["customer"] and row["email"]:
                    parent_emails.setdefault(row["customer"], row["email"])
            elif kind == "order" and style == "rest" and isinstance(obj.get("refunds"), list):
                ids = {_text(r.get("id")) for r in obj["refunds"] if isinstance(r, dict)}
                inline_refunds.setdefault(_text(obj.get("id")) or "", set()).update(i for i in ids if i)
            elif kind == "order" and style == "graphql" and ("totalRefundedSet" in obj or "refunds" in obj):
                refunded_orders.add(_gid(obj.get("id"))[1] or "")
    for src, _, records in loaded:
        for seq, record in enumerate(records, 1):
            _record(out, src, seq, record, parent_emails, inline_refunds, refunded_orders)
    return out


def _record(
    out: JsonRead,
    src: int,
    seq: int,
    record: _Record,
    parent_emails: Mapping[str, str],
    inline_refunds: Mapping[str, set[str]],
    refunded_orders: set[str],
) -> None:
    where = {"_src": src, "_seq": seq, "_line": record.line}
    if record.error:
        _append(out.others, {**where, "reason": f"json: {record.error}"})
        return
    obj = record.value
    if not isinstance(obj, dict):
        _append(out.others, {**where, "reason": f"json: not an object ({type(obj).__name__})"})
        return
    kind, style = _kind(record.hint, obj)
    if kind == "order":
        row = _order_row(obj, style, parent_emails)
        group = row["order_id"] or row["order_name"]
        _append(out.lines[style], _line_row(src, seq, record.line, "head", group, **row))
    elif kind == "customer":
        _append(out.customers, {**where, **_customer_row(obj, style), "_style": style})
    elif kind == "refund":
        order = _text(obj.get("order_id")) if style == "rest" else _gid(obj.get("__parentId"))[1]
        amount = _rest_refund(obj) if style == "rest" else _text(_graphql_refund(obj))
        refund_id = _text(obj.get("id"))
        if style == "rest":
            duplicate = refund_id is not None and refund_id in inline_refunds.get(order or "", set())
        else:
            duplicate = (order or "") in refunded_orders
        row = _line_row(src, seq, record.line, "refund", order, refund=amount or "0")
        row["refund_dup"] = duplicate
        _append(out.lines[style], row)
    elif kind == "child":
        parent_type, parent = _gid(obj.get("__parentId"))
        if parent_type in (None, "Order"):
            _append(out.lines[style], _line_row(src, seq, record.line, "child", parent))
        else:
            reason = f"__parentId: a {parent_type} line under {parent}, not part of an order (not read)"
            _append(out.others, {**where, "reason": reason})
    else:
        gid_type, _ = _gid(obj.get("id"))
        what = f"a {gid_type}" if gid_type else "an object"
        _append(out.others, {**where, "reason": f"json: {what} that is not a Shopify order, customer or refund"})


def frame(columns: Mapping[str, list[Any]], schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """A frame of text columns (other types as ``schema`` says)."""
    return pl.DataFrame(
        {name: pl.Series(name, values, dtype=schema.get(name, pl.String())) for name, values in columns.items()}
    )
