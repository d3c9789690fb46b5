"""Stripe API objects (JSON): charges, invoices, refunds and customers -> rows; subscriptions -> segments.

API objects are small and few compared with payment exports, so they are read
with :mod:`json` and turned into rows one object at a time.  Every object is a
record: it becomes a row, or it is rejected with its file, position and reason.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from retainlib.errors import SourceError
from retainlib.load_report import FileLoad
from retainlib.tables import CURRENCY_PATTERN, CUSTOMERS, ORDERS, SUBSCRIPTIONS
from retainlib_stripe._csv import duplicate_of
from retainlib_stripe._currency import OUT_OF_RANGE, as_money, to_major
from retainlib_stripe._options import Options

__all__ = ["READ_OBJECTS", "ApiRead", "ApiRecord", "load_records", "read_records"]

#: The object types the source reads, and the table each goes to ("" for refunds: no table).
READ_OBJECTS = {
    "charge": "orders",
    "invoice": "orders",
    "customer": "customers",
    "subscription": "subscriptions",
    "refund": "",
}
#: Object types wrapping others: their ``data`` holds the objects.
_LISTS = ("list", "search_result")
#: Months per billing interval of one unit (a year is 12 months; a week 12/52 of a month; a day 12/365).
MONTHS_PER_INTERVAL = {"day": Decimal(12) / Decimal(365), "week": Decimal(12) / Decimal(52), "month": Decimal(1)}
MONTHS_PER_INTERVAL["year"] = Decimal(12)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_NEWLINE = b"\n"

_EMAIL = "_email"  # helper column: the payer's e-mail, for the customers derived from orders


@dataclass(frozen=True, slots=True)
class ApiRecord:
    """One object from a file: where it was and what it holds (``None`` when the text was not JSON)."""

    file: Path
    line: int
    value: object
    error: str = ""


class Reject(Exception):  # noqa: N818 - a control-flow signal, not an error
    """An object that does not become a row: ``column`` and ``reason`` say why."""

    def __init__(self, column: str, reason: str) -> None:
        super().__init__(f"{column}: {reason}")
        self.column = column
        self.reason = f"{column}: {reason}"


# --- parsing files ---------------------------------------------------------------------------


def _items(value: object) -> list[object]:
    """The objects of a parsed document: a list object's ``data``, an array's items, or the object itself."""
    if isinstance(value, dict) and value.get("object") in _LISTS and isinstance(value.get("data"), list):
        return list(value["data"])
    if isinstance(value, list):
        return value
    return [value]


def _parse(text: str) -> object:
    """One JSON document; :class:`ValueError` (``json.JSONDecodeError`` among them) when it is not one.

    Besides malformed text, a document nested too deep for the parser, or holding an integer of more
    digits than Python converts, is not one either.
    """
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _problem(exc: ValueError) -> str:
    """What is wrong with a document that :func:`_parse` refused."""
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON at column {exc.colno}: {exc.msg}"
    return f"invalid JSON: {exc}"


def load_records(path: Path) -> list[ApiRecord]:
    """Every object of a JSON file (a list object, an array, one object, or JSON lines).

    Positions: for JSON lines the line number (from 1); otherwise the object's
    1-based position in the list (1 for a single object).  A JSON-lines line that
    is not valid JSON is a record of its own, rejected later.  Blank lines are not records.
    """
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        where = f"line {raw.count(_NEWLINE, 0, exc.start) + 1} (byte {exc.start})"
        raise SourceError(f"not valid UTF-8 at {where}", file=path, source="stripe") from None
    if not text.strip():
        raise SourceError("the file is empty", file=path, source="stripe")
    try:
        document = _parse(text)
    except ValueError as whole:
        lines = text.split("\n")  # JSON lines end with "\n" (a "\r" before it is white space to JSON)
        first = next((i for i, line in enumerate(lines) if line.strip()), 0)
        try:
            _parse(lines[first])
        except ValueError:
            where = (
                f" at line {whole.lineno}, column {whole.colno}: {whole.msg}"
                if isinstance(whole, json.JSONDecodeError)
                else f": {whole}"
            )
            raise SourceError(f"invalid JSON{where}", file=path, source="stripe") from None
        records: list[ApiRecord] = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                value = _parse(line)
            except ValueError as exc:
                records.append(ApiRecord(path, number, None, _problem(exc)))
                continue
            records.extend(ApiRecord(path, number, item) for item in _items(value))
        return records
    return [ApiRecord(path, number, item) for number, item in enumerate(_items(document), 1)]


# --- field helpers ---------------------------------------------------------------------------


def _timestamp(obj: Mapping[str, Any], name: str, *, required: bool = False) -> dt.datetime | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise Reject(name, "missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Reject(name, "not a timestamp (epoch seconds)")
    try:
        return _EPOCH + dt.timedelta(seconds=int(value))
    except OverflowError:
        raise Reject(name, "not a timestamp (epoch seconds)") from None


def _integer(obj: Mapping[str, Any], name: str, default: int | None = None) -> int:
    value = obj.get(name, default)
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise Reject(name, "not an integer amount (minor units)")
    return value


def _currency(obj: Mapping[str, Any], name: str = "currency") -> str:
    value = obj.get(name)
    code = value.upper() if isinstance(value, str) else ""
    if not CURRENCY_PATTERN.match(code):
        raise Reject(name, "not an ISO 4217 currency code")
    return code


def _id_of(value: object) -> str | None:
    """An id (stripped), whether the field holds it or an expanded object; ``None`` when missing or blank."""
    if isinstance(value, dict):
        value = value.get("id")
    return value.strip() or None if isinstance(value, str) else None


def _text_of(value: object) -> str | None:
    """A text field's value; ``None`` when it is not text or is blank."""
    return value if isinstance(value, str) and value.strip() else None


def _major(minor: Decimal | int, currency: str, column: str) -> Decimal:
    """Minor units as major units of ``MONEY`` (rounded half-even to 4 places); rejected when they do not fit."""
    major = as_money(to_major(minor, currency))
    if major is None:
        raise Reject(column, OUT_OF_RANGE)
    return major


def _payer(obj: Mapping[str, Any], emails: Sequence[str | None], object_id: str, options: Options) -> str:
    """The customer id of a charge or invoice, or the guest policy's stand-in."""
    customer = _id_of(obj.get("customer"))
    if customer is not None:
        return customer
    email = next((e.strip().lower() for e in emails if isinstance(e, str) and e.strip()), None)
    if options.guests == "email" and email is not None:
        return email
    if options.guests == "payment":
        return f"guest:{object_id}"
    raise Reject("customer", "no customer" + (" or e-mail" if options.guests == "email" else "") + " (guest payment)")


# --- one object each -------------------------------------------------------------------------


@dataclass(slots=True)
class ApiRead:
    """What the API objects of one read produced."""

    orders: list[dict[str, Any]] = field(default_factory=list)
    customers: list[dict[str, Any]] = field(default_factory=list)
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    loads: list[FileLoad] = field(default_factory=list)
    #: Invoice, charge and PaymentIntent ids of the invoices loaded as orders -> the invoice's id:
    #: the payments of these invoices are rejected as duplicates, not counted again.
    links: dict[str, str] = field(default_factory=dict)
    #: Succeeded refunds per charge id, in major units of the charge's currency.
    refunds: dict[str, Decimal] = field(default_factory=dict)


def _refund(obj: Mapping[str, Any]) -> tuple[str, Decimal] | None:
    """The charge and major-unit amount of a succeeded refund, ``None`` for one not applied (no charge, failed...).

    Raises :class:`Reject` for an amount out of range, which cannot be applied.
    """
    charge = _id_of(obj.get("charge"))
    amount, currency = obj.get("amount"), obj.get("currency")
    if obj.get("status", "succeeded") != "succeeded" or charge is None:
        return None
    if isinstance(amount, int) and not isinstance(amount, bool) and isinstance(currency, str):
        return charge, _major(amount, currency.upper(), "amount")
    return None


def _refund_totals(objects: Iterable[dict[str, Any]]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    for obj in objects:
        try:
            found = _refund(obj)
        except Reject:
            continue  # out of range: rejected as such when the refund itself is accounted for
        if found is not None:
            charge, amount = found
            totals[charge] = totals.get(charge, Decimal(0)) + amount
    return totals


def _invoice_links(obj: Mapping[str, Any], invoice_id: str) -> dict[str, str]:
    """The ids a payment of this invoice may name -> the invoice's id.

    Before ``2025-03-31.basil`` the invoice names its ``charge`` and
    ``payment_intent``; after, its ``payments`` (included with ``expand[]=payments``)
    list InvoicePayments whose ``payment`` names a ``charge`` or ``payment_intent``.
    """
    keys: list[object] = [invoice_id, obj.get("charge"), obj.get("payment_intent")]
    payments = obj.get("payments")
    for payment in _items(payments) if isinstance(payments, dict | list) else []:
        inner = payment.get("payment") if isinstance(payment, dict) else None
        if isinstance(inner, dict):
            keys += [inner.get("charge"), inner.get("payment_intent")]
    return {key: invoice_id for key in map(_id_of, keys) if key is not None}


def _invoice(obj: dict[str, Any], options: Options) -> dict[str, Any]:
    if options.invoices == "skip":
        raise Reject("object", "invoices are not read (option invoices='skip')")
    invoice_id = _id_of(obj.get("id"))
    if invoice_id is None:
        raise Reject("id", "missing")
    status = obj.get("status")
    if status != "paid":
        raise Reject("status", f"invoice not paid ({status})")
    currency = _currency(obj)
    paid = _integer(obj, "amount_paid")
    credited = _integer(obj, "post_payment_credit_notes_amount", 0)
    if paid <= 0:
        raise Reject("amount_paid", "nothing paid (a free trial, a 100% discount or a credit balance)")
    if paid - credited <= 0:
        raise Reject("post_payment_credit_notes_amount", "fully credited after payment")
    transitions = obj.get("status_transitions")
    paid_at = _timestamp(transitions, "paid_at") if isinstance(transitions, dict) else None
    when = paid_at or _timestamp(obj, "created", required=True)
    customer = _payer(obj, [obj.get("customer_email")], invoice_id, options)
    return {
        "order_id": invoice_id,
        "customer_id": customer,
        "ordered_at": when,
        "amount": _major(paid - credited, currency, "amount_paid"),
        "currency": currency,
        _EMAIL: _text_of(obj.get("customer_email")),
    }


def _charge(obj: dict[str, Any], options: Options, read: ApiRead) -> dict[str, Any]:
    charge_id = _id_of(obj.get("id"))
    if charge_id is None:
        raise Reject("id", "missing")
    status = obj.get("status")
    if status != "succeeded":
        raise Reject("status", f"not a succeeded charge ({status})")
    if obj.get("captured") is False:
        raise Reject("captured", "authorised but not captured")
    for name in ("invoice", "id", "payment_intent"):  # pre-basil charges name their invoice; all, their intent
        invoice = read.links.get(_id_of(obj.get(name)) or "")
        if invoice is not None:
            raise Reject(name, duplicate_of(invoice))
    currency = _currency(obj)
    amount = _integer(obj, "amount_captured") if obj.get("amount_captured") is not None else _integer(obj, "amount")
    refunded = max(
        _major(_integer(obj, "amount_refunded", 0), currency, "amount_refunded"),
        read.refunds.get(charge_id, Decimal(0)),
    )
    net = _major(amount, currency, "amount") - refunded
    if net <= 0:
        raise Reject("amount_refunded", "fully refunded" if refunded > 0 else "nothing charged")
    billing = obj.get("billing_details")
    emails = [billing.get("email") if isinstance(billing, dict) else None, obj.get("receipt_email")]
    return {
        "order_id": charge_id,
        "customer_id": _payer(obj, emails, charge_id, options),
        "ordered_at": _timestamp(obj, "created", required=True),
        "amount": net,
        "currency": currency,
        _EMAIL: next((e for e in emails if isinstance(e, str) and e.strip()), None),
    }


def _customer(obj: dict[str, Any]) -> dict[str, Any]:
    customer_id = _id_of(obj.get("id"))
    if customer_id is None:
        raise Reject("id", "missing")
    email, name = obj.get("email"), obj.get("name")
    return {
        "customer_id": customer_id,
        "created_at": _timestamp(obj, "created", required=True),
        "email": email.strip().lower() or None if isinstance(email, str) else None,
        "name": name if isinstance(name, str) and name else None,
    }


# --- subscriptions ---------------------------------------------------------------------------


def _coupon(discount: object, options: Options) -> dict[str, Any] | None:
    """The coupon of a discount (current API: ``source.coupon``; older: ``coupon``), or ``None`` to skip it."""
    coupon: object = None
    if isinstance(discount, dict):
        if discount.get("object") == "coupon":
            coupon = discount
        else:
            source = discount.get("source")
            coupon = discount.get("coupon") or (source.get("coupon") if isinstance(source, dict) else None)
    if isinstance(coupon, dict):
        return coupon
    if options.discounts == "ignore":
        return None
    what = discount if isinstance(discount, str) else _id_of(discount) or "?"
    raise Reject(
        "discounts",
        f"discount {what} is not expanded to its coupon (fetch with expand[]=discounts, or option discounts='ignore')",
    )


def _discounted(
    monthly: Decimal, discounts: Sequence[object], months: Decimal, currency: str, options: Options
) -> Decimal:
    """``monthly`` (minor units) less each discount in turn: percent_off, then amount_off per billing period."""
    for discount in discounts:
        coupon = _coupon(discount, options)
        if coupon is None or coupon.get("duration") == "once":
            continue  # a one-off discount lowers one invoice, not the recurring revenue
        percent, amount = coupon.get("percent_off"), coupon.get("amount_off")
        if isinstance(percent, float) and not math.isfinite(percent):
            raise Reject("discounts", f"percent_off is not a number ({percent})")
        if isinstance(percent, int | float) and not isinstance(percent, bool):
            monthly = monthly * (Decimal(100) - Decimal(str(percent))) / Decimal(100)
        elif isinstance(amount, int) and not isinstance(amount, bool):
            coupon_currency = str(coupon.get("currency") or "").upper()
            options_by_currency = coupon.get("currency_options")
            if coupon_currency != currency:
                other = options_by_currency.get(currency.lower()) if isinstance(options_by_currency, dict) else None
                if not isinstance(other, dict) or not isinstance(other.get("amount_off"), int):
                    raise Reject(
                        "discounts", f"amount_off coupon in {coupon_currency or '?'}, subscription in {currency}"
                    )
                amount = other["amount_off"]
            monthly = monthly - Decimal(amount) / months
        else:
            raise Reject("discounts", "coupon with neither percent_off nor amount_off")
        monthly = max(monthly, Decimal(0))
    return monthly


def _discount_list(obj: Mapping[str, Any]) -> list[object]:
    """``discounts[]`` when given, else the singular ``discount`` of older API versions; each once."""
    many = obj.get("discounts")
    found: list[object] = list(many) if isinstance(many, list) and many else []
    single = obj.get("discount")
    if not found and single:
        found = [single]
    unique: dict[str, object] = {}
    for i, d in enumerate(found):
        unique.setdefault(_id_of(d) or f"#{i}", d)
    return list(unique.values())


def _mrr(obj: dict[str, Any], options: Options) -> tuple[Decimal, str]:
    """Monthly recurring revenue (major units) and currency of a subscription's current prices."""
    items_list = obj.get("items")
    items = items_list.get("data") if isinstance(items_list, dict) else None
    if not isinstance(items, list) or not items:
        raise Reject("items", "no items")
    currency = ""
    total = Decimal(0)
    months = Decimal(1)
    for item in items:
        if not isinstance(item, dict):
            raise Reject("items", "an item is not an object")
        price = item.get("price") if isinstance(item.get("price"), dict) else item.get("plan")
        if not isinstance(price, dict):
            raise Reject("items", "an item without a price")
        if not currency:
            currency = _currency(price) if price.get("currency") else _currency(obj)
        nested = price.get("recurring")
        recurring: dict[str, Any] = nested if isinstance(nested, dict) else price
        interval, count = recurring.get("interval"), recurring.get("interval_count", 1)
        if (
            not isinstance(interval, str)
            or interval not in MONTHS_PER_INTERVAL
            or isinstance(count, bool)
            or not isinstance(count, int)
            or count < 1
        ):
            raise Reject("items", f"not a recurring price (interval {interval!r}, interval_count {count!r})")
        if recurring.get("usage_type") == "metered" or price.get("billing_scheme") == "tiered":
            raise Reject("items", "metered or tiered price: its MRR depends on usage")
        unit: object = price.get("unit_amount", price.get("amount"))
        if unit is None:
            unit = price.get("unit_amount_decimal", price.get("amount_decimal"))
        try:
            unit_amount = Decimal(str(unit)) if not isinstance(unit, bool) and unit is not None else None
        except ArithmeticError:
            unit_amount = None
        if unit_amount is None or not unit_amount.is_finite():
            raise Reject("items", "a price without a unit amount")
        if as_money(to_major(unit_amount, currency)) is None:
            raise Reject("items", f"unit amount {OUT_OF_RANGE}")
        quantity = item.get("quantity", 1)
        quantity = 1 if quantity is None else quantity
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
            raise Reject("items", "quantity is not a whole number")
        transform = price.get("transform_quantity") or price.get("transform_usage")
        billed = Decimal(quantity)
        if isinstance(transform, dict) and isinstance(transform.get("divide_by"), int) and transform["divide_by"] > 0:
            ratio = Decimal(quantity) / Decimal(transform["divide_by"])
            billed = Decimal(math.ceil(ratio) if transform.get("round") == "up" else math.floor(ratio))
        months = MONTHS_PER_INTERVAL[interval] * count
        monthly = unit_amount * billed / months
        total += _discounted(monthly, _discount_list(item), months, currency, options)
    total = _discounted(total, _discount_list(obj), months, currency, options)
    return _major(total, currency, "mrr"), currency


def _period(obj: Mapping[str, Any], name: str) -> dt.datetime | None:
    """``current_period_<name>`` of the subscription (before 2025-03-31.basil) or of its items (after)."""
    key = f"current_period_{name}"
    if obj.get(key) is not None:
        return _timestamp(obj, key)
    items_list = obj.get("items")
    items = items_list.get("data") if isinstance(items_list, dict) else None
    found = [_timestamp(i, key) for i in items if isinstance(i, dict)] if isinstance(items, list) else []
    values = [v for v in found if v is not None]
    if not values:
        return None
    return max(values) if name == "end" else min(values)


def _subscription(obj: dict[str, Any], options: Options) -> dict[str, Any]:
    subscription_id = _id_of(obj.get("id"))
    if subscription_id is None:
        raise Reject("id", "missing")
    status = obj.get("status")
    if status in ("incomplete", "incomplete_expired"):
        raise Reject("status", f"never started ({status})")
    if status == "trialing" and options.trials == "reject":
        raise Reject("status", "in its free trial (option trials='reject')")
    if status == "paused":
        raise Reject("status", "paused (its trial ended without a payment method)")
    if status in ("past_due", "unpaid") and options.past_due == "reject":
        raise Reject("status", f"{status} (option past_due='reject')")
    customer = _id_of(obj.get("customer"))
    if customer is None:
        raise Reject("customer", "missing")
    start = _timestamp(obj, "start_date") or _timestamp(obj, "created", required=True)
    assert start is not None
    trial_end = _timestamp(obj, "trial_end")
    if status == "trialing" and trial_end is None:
        raise Reject("trial_end", "missing (a trialing subscription starts when its trial ends)")
    started = max(start, trial_end) if trial_end is not None else start
    ended = _timestamp(obj, "ended_at")
    if ended is None:
        if status == "canceled":
            ended = _timestamp(obj, "canceled_at") or _period(obj, "end")
            if ended is None:
                raise Reject("ended_at", "a canceled subscription without ended_at or canceled_at")
        elif obj.get("cancel_at_period_end") is True:
            ended = _period(obj, "end")
            if ended is None:
                raise Reject("current_period_end", "missing (needed for cancel_at_period_end)")
        elif obj.get("cancel_at") is not None:
            ended = _timestamp(obj, "cancel_at")
        elif status in ("past_due", "unpaid") and options.past_due == "churned":
            ended = _period(obj, "start")
            if ended is None:
                raise Reject("current_period_start", f"missing (needed to end a {status} subscription)")
    if ended is not None and ended <= started:
        if trial_end is not None and ended <= trial_end:
            raise Reject("ended_at", "ended within its free trial (never paid)")
        raise Reject("ended_at", "ends when or before it starts")
    mrr, currency = _mrr(obj, options)
    if mrr <= 0:
        raise Reject("mrr", "zero (a free price, zero quantity or a 100% discount)")
    return {
        "subscription_id": subscription_id,
        "customer_id": customer,
        "started_at": started,
        "ended_at": ended,
        "mrr": mrr,
        "currency": currency,
    }


# --- the whole read --------------------------------------------------------------------------


@dataclass(slots=True)
class _Tally:
    read: int = 0
    loaded: int = 0
    rejects: list[dict[str, Any]] = field(default_factory=list)


def _objects(records: Iterable[ApiRecord]) -> Iterator[tuple[ApiRecord, dict[str, Any] | None]]:
    for record in records:
        yield record, record.value if isinstance(record.value, dict) else None


def read_records(records: Sequence[ApiRecord], options: Options, links: Mapping[str, str] | None = None) -> ApiRead:
    """Turn API objects into rows, in an order that lets refunds and invoices inform charges.

    ``links`` are those of invoices already loaded from exports (see :attr:`ApiRead.links`).
    """
    out = ApiRead(links=dict(links or {}))
    tallies: dict[tuple[str, str], _Tally] = {}
    files = list(dict.fromkeys(str(r.file) for r in records))

    def tally(record: ApiRecord, table: str) -> _Tally:
        return tallies.setdefault((str(record.file), table), _Tally())

    def kind(obj: dict[str, Any] | None) -> str:
        value = obj.get("object") if obj is not None else None
        return value if isinstance(value, str) else ""

    objects = list(_objects(records))
    out.refunds = _refund_totals(obj for _, obj in objects if obj is not None and kind(obj) == "refund")
    # Invoices first: a charge paying a loaded invoice is not an order again.
    ordered = sorted(objects, key=lambda pair: 0 if kind(pair[1]) == "invoice" else 1)
    for record, obj in ordered:
        object_type = kind(obj)
        table = READ_OBJECTS.get(object_type, "")
        t = tally(record, table)
        t.read += 1
        try:
            if obj is None:
                raise Reject("json", record.error or "not a JSON object")
            if object_type not in READ_OBJECTS:
                what = f"{object_type} objects are" if object_type else "an object without 'object' is"
                raise Reject("object", f"{what} not read (the source reads {', '.join(READ_OBJECTS)})")
            if obj.get("deleted") is True:
                raise Reject("deleted", f"a deleted {object_type}")
            if object_type == "refund":
                _refund(obj)  # an amount out of range is rejected as such
                raise Reject("object", "refunds are not orders (they reduce their charge's amount)")
            if object_type == "invoice":
                row = _invoice(obj, options)
                out.links.update(_invoice_links(obj, row["order_id"]))
                out.orders.append(row)
            elif object_type == "charge":
                out.orders.append(_charge(obj, options, out))
            elif object_type == "customer":
                out.customers.append(_customer(obj))
            else:
                out.subscriptions.append(_subscription(obj, options))
            t.loaded += 1
        except Reject as reject:
            t.rejects.append(
                {
                    "file": str(record.file),
                    "line": record.line,
                    "table": table,
                    "column": reject.column,
                    "reason": reject.reason,
                }
            )
    for file in files:
        for (name, table), t in tallies.items():
            if name == file:
                out.loads.append(
                    FileLoad(
                        file=name,
                        table=table,
                        rows_read=t.read,
                        rows_loaded=t.loaded,
                        rejected=pl.DataFrame(
                            t.rejects,
                            schema={
                                "file": pl.String,
                                "line": pl.Int64,
                                "table": pl.String,
                                "column": pl.String,
                                "reason": pl.String,
                            },
                        ),
                    )
                )
    return out


def orders_frame(rows: Sequence[dict[str, Any]]) -> pl.DataFrame:
    """The orders built from API objects, with the helper e-mail column."""
    return pl.DataFrame(rows, schema={**ORDERS.schema, _EMAIL: pl.String}, orient="row")


def customers_frame(rows: Sequence[dict[str, Any]]) -> pl.DataFrame:
    """The customers built from API objects."""
    return pl.DataFrame(rows, schema=CUSTOMERS.schema, orient="row")


def subscriptions_frame(rows: Sequence[dict[str, Any]]) -> pl.DataFrame:
    """The subscription segments built from API objects."""
    return pl.DataFrame(rows, schema=SUBSCRIPTIONS.schema, orient="row")
