"""The canonical tables: one place declares each of them.

Adapters produce, and kernels consume, six tables: customers, orders,
subscriptions, tickets, responses and events.  Each is declared here once, as

* an attrs record class for a single row (:class:`Order`, ...), used where rows
  are few and typed objects help (tests, plugin code, examples), and
* a :class:`TableSpec` holding the polars schema used for bulk data.

A test checks that the two agree field by field.  Bulk data never lives in
attrs objects: it stays in polars frames with the schema below.

Types (see ``docs/data-model.md``):

* identifiers are ``pl.String``;
* timestamps are ``pl.Datetime("us", "UTC")``;
* money is exact: ``pl.Decimal(38, 4)`` in *major* units (12.50 is twelve
  dollars fifty) beside an ISO 4217 ``currency`` code, below ``10**20`` in
  absolute value (:data:`MONEY_LIMIT`, so sums cannot overflow).  Four decimal places
  hold every ISO 4217 currency exactly (the largest exponent in use is 4), and
  sums never drift the way floats do;
* ``satisfaction`` is ``pl.Enum(["good", "bad"])`` (null: not rated);
* ``score`` is ``pl.Int8`` in 0..10.

Extra columns are kept and can be used as segments (``by=``).
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, TypeVar

import attrs
import polars as pl

from retainlib.errors import RecordError

__all__ = [
    "CUSTOMERS",
    "EVENTS",
    "MONEY",
    "MONEY_DIGITS",
    "MONEY_LIMIT",
    "ORDERS",
    "RESPONSES",
    "SATISFACTION",
    "SUBSCRIPTIONS",
    "TABLES",
    "TICKETS",
    "TIMESTAMP",
    "Column",
    "Customer",
    "Event",
    "Kind",
    "Order",
    "Response",
    "Subscription",
    "TableName",
    "TableSpec",
    "Ticket",
]

#: Exact money in major units; 4 decimal places cover every ISO 4217 currency.
MONEY = pl.Decimal(38, 4)
#: Every timestamp inside retainlib.
TIMESTAMP = pl.Datetime("us", "UTC")
#: Ticket satisfaction: good, bad or null (not rated).
SATISFACTION = pl.Enum(["good", "bad"])

MONEY_PLACES = 4
_MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_PLACES)
#: Every amount is below 10**20 in absolute value (20 integer digits): a sum of up to 10**14 of them
#: stays inside ``Decimal(38, 4)`` (34 integer digits), so no kernel's sum can overflow.
MONEY_DIGITS = 20
MONEY_LIMIT = Decimal(10) ** MONEY_DIGITS
CURRENCY_PATTERN = re.compile(r"^[A-Z]{3}$")

TableName = Literal["customers", "orders", "subscriptions", "tickets", "responses", "events"]


class Kind(enum.Enum):
    """What a canonical column holds; decides its polars type and how input is coerced."""

    ID = "id"
    TEXT = "text"
    EMAIL = "email"
    TIMESTAMP = "timestamp"
    MONEY = "money"
    CURRENCY = "currency"
    SCORE = "score"
    SATISFACTION = "satisfaction"

    @property
    def dtype(self) -> pl.DataType:
        """The polars type of a column of this kind."""
        return _KIND_DTYPES[self]


_KIND_DTYPES: dict[Kind, pl.DataType] = {
    Kind.ID: pl.String(),
    Kind.TEXT: pl.String(),
    Kind.EMAIL: pl.String(),
    Kind.TIMESTAMP: TIMESTAMP,
    Kind.MONEY: MONEY,
    Kind.CURRENCY: pl.String(),
    Kind.SCORE: pl.Int8(),
    Kind.SATISFACTION: SATISFACTION,
}


@attrs.frozen(kw_only=True)
class Column:
    """One canonical column.

    Attributes:
        name: the column's canonical name.
        kind: what it holds (decides type and coercion).
        required: the column must be present in the input.
        nullable: the column may hold nulls.
        doc: one line for the docs.
    """

    name: str
    kind: Kind
    required: bool = True
    nullable: bool = False
    doc: str = ""

    @property
    def dtype(self) -> pl.DataType:
        """The column's polars type."""
        return self.kind.dtype


R = TypeVar("R")


@attrs.frozen(kw_only=True)
class TableSpec:
    """The declaration of one canonical table.

    Attributes:
        name: the table's name (``"orders"``...).
        record: the attrs class of one row.
        columns: the canonical columns, required ones first.
        key: the column that identifies a row uniquely (``None`` for events).
        time: the column holding the row's main timestamp.
        doc: one line for the docs.
    """

    name: TableName
    record: type[Any]
    columns: tuple[Column, ...]
    key: str | None
    time: str
    doc: str = ""

    @property
    def schema(self) -> pl.Schema:
        """The polars schema of the canonical columns."""
        return pl.Schema({c.name: c.dtype for c in self.columns})

    @property
    def required(self) -> tuple[str, ...]:
        """Names of the columns every input must have."""
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        """The canonical column called ``name``."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)  # internal misuse only, never for user input

    def frame(self, records: Iterable[Any]) -> pl.DataFrame:
        """A frame with the canonical schema from attrs records of this table."""
        rows = [attrs.asdict(r, recurse=False) for r in records]
        for row in rows:
            for c in self.columns:
                if c.kind is Kind.SATISFACTION and row[c.name] is not None:
                    row[c.name] = str(row[c.name])
        return pl.DataFrame(rows, schema=self.schema, orient="row") if rows else self.schema_frame()

    def schema_frame(self) -> pl.DataFrame:
        """An empty frame with the canonical schema."""
        return pl.DataFrame(schema=self.schema)

    def records(self, frame: pl.DataFrame) -> list[Any]:
        """The rows of a canonical frame as attrs records (for small frames only)."""
        names = [c.name for c in self.columns]
        return [self.record(**row) for row in frame.select(names).iter_rows(named=True)]


# --- record field helpers ---------------------------------------------------------------


def _utc(value: dt.datetime) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        raise RecordError("expected a datetime", field="timestamp", value=value)
    if value.tzinfo is None or value.utcoffset() is None:
        raise RecordError(
            "naive datetime: give it a time zone (retainlib keeps every timestamp in UTC)",
            field="timestamp",
            value=value,
        )
    return value.astimezone(dt.UTC)


def _utc_or_none(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else _utc(value)


def _money(value: Decimal | int | str) -> Decimal:
    if isinstance(value, float | bool):
        raise RecordError(
            "money must be a Decimal, an int or a decimal string, not a float",
            field="amount",
            value=value,
        )
    try:
        d = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise RecordError("not a decimal number", field="amount", value=value) from None
    if not d.is_finite():
        raise RecordError("money must be finite", field="amount", value=value)
    if abs(d) >= MONEY_LIMIT:
        raise RecordError(f"out of range: money has at most {MONEY_DIGITS} integer digits", field="amount", value=value)
    with decimal.localcontext(prec=60):  # room for 34 integer digits and 4 places
        quantized = d.quantize(_MONEY_QUANTUM)
    if d != quantized:
        raise RecordError(f"more than {MONEY_PLACES} decimal places would be lost", field="amount", value=value)
    return quantized


def _currency(value: str) -> str:
    code = value.strip().upper() if isinstance(value, str) else value
    if not isinstance(code, str) or not CURRENCY_PATTERN.match(code):
        raise RecordError("not an ISO 4217 currency code", field="currency", value=value)
    return code


def _score(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10:
        raise RecordError("an NPS score is an integer 0..10", field="score", value=value)
    return value


def _satisfaction(value: str | None) -> Literal["good", "bad"] | None:
    if value is None:
        return None
    if value == "good":
        return "good"
    if value == "bad":
        return "bad"
    raise RecordError("satisfaction is 'good', 'bad' or None", field="satisfaction", value=value)


def _email(value: str | None) -> str | None:
    return None if value is None else value.strip().lower() or None


def _id(value: str) -> str:
    if not isinstance(value, str) or not value:
        raise RecordError("an id is a non-empty string", field="id", value=value)
    return value


# --- the records ------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Customer:
    """One customer.

    Attributes:
        customer_id: the customer's id in its source.
        created_at: when the customer was created (aware; stored in UTC).
        email: normalised (stripped, lower-case); used to match customers across sources.
        name: display name.
    """

    customer_id: str = attrs.field(converter=_id)
    created_at: dt.datetime = attrs.field(converter=_utc)
    email: str | None = attrs.field(default=None, converter=_email)
    name: str | None = None


@attrs.frozen(kw_only=True)
class Order:
    """One order: net revenue after discounts and refunds, in major units.

    Attributes:
        order_id: the order's id.
        customer_id: who placed it.
        ordered_at: when (aware; stored in UTC).
        amount: net revenue, exact, in major units of ``currency``.
        currency: ISO 4217 code, upper-case.
    """

    order_id: str = attrs.field(converter=_id)
    customer_id: str = attrs.field(converter=_id)
    ordered_at: dt.datetime = attrs.field(converter=_utc)
    amount: Decimal = attrs.field(converter=_money)
    currency: str = attrs.field(converter=_currency)

    @classmethod
    def of(
        cls,
        order_id: str,
        customer_id: str,
        ordered_at: str | dt.datetime,
        amount: Decimal | int | str,
        currency: str = "USD",
    ) -> Order:
        """Shorthand for examples and tests: ``Order.of("o1", "c1", "2024-03-01T10:00Z", "9.90")``."""
        when = dt.datetime.fromisoformat(ordered_at) if isinstance(ordered_at, str) else ordered_at
        return cls(
            order_id=order_id,
            customer_id=customer_id,
            ordered_at=when,
            amount=Decimal(amount) if not isinstance(amount, Decimal) else amount,
            currency=currency,
        )


@attrs.frozen(kw_only=True)
class Subscription:
    """One constant-price segment of a subscription.

    Attributes:
        subscription_id: the segment's id (unique per segment).
        customer_id: the subscriber.
        started_at: start of the segment (inclusive).
        ended_at: end of the segment (exclusive); ``None`` while it runs.
        mrr: recurring revenue normalised to one month, exact, major units.
        currency: ISO 4217 code.
    """

    subscription_id: str = attrs.field(converter=_id)
    customer_id: str = attrs.field(converter=_id)
    started_at: dt.datetime = attrs.field(converter=_utc)
    ended_at: dt.datetime | None = attrs.field(converter=_utc_or_none)
    mrr: Decimal = attrs.field(converter=_money)
    currency: str = attrs.field(converter=_currency)

    @ended_at.validator
    def _ends_after_start(self, _: object, value: dt.datetime | None) -> None:
        if value is not None and value < self.started_at:
            raise RecordError("ends before it starts", field="ended_at", value=value)


@attrs.frozen(kw_only=True)
class Ticket:
    """One support ticket.

    Attributes:
        ticket_id: the ticket's id.
        customer_id: the requester.
        opened_at: when it was opened.
        solved_at: when it was solved (``None``: not solved).
        satisfaction: ``"good"``, ``"bad"`` or ``None`` (not rated).
    """

    ticket_id: str = attrs.field(converter=_id)
    customer_id: str = attrs.field(converter=_id)
    opened_at: dt.datetime = attrs.field(converter=_utc)
    solved_at: dt.datetime | None = attrs.field(converter=_utc_or_none)
    satisfaction: Literal["good", "bad"] | None = attrs.field(converter=_satisfaction)


@attrs.frozen(kw_only=True)
class Response:
    """One answer to the NPS question.

    Attributes:
        response_id: the response's id.
        customer_id: the respondent.
        responded_at: when.
        score: integer 0..10.
    """

    response_id: str = attrs.field(converter=_id)
    customer_id: str = attrs.field(converter=_id)
    responded_at: dt.datetime = attrs.field(converter=_utc)
    score: int = attrs.field(converter=_score)


@attrs.frozen(kw_only=True)
class Event:
    """One product-analytics event.

    Attributes:
        customer_id: who.
        occurred_at: when.
        event: the event's name.
    """

    customer_id: str = attrs.field(converter=_id)
    occurred_at: dt.datetime = attrs.field(converter=_utc)
    event: str


# --- the specs --------------------------------------------------------------------------


def _col(name: str, kind: Kind, doc: str, *, required: bool = True, nullable: bool = False) -> Column:
    return Column(name=name, kind=kind, required=required, nullable=nullable, doc=doc)


CUSTOMERS = TableSpec(
    name="customers",
    record=Customer,
    key="customer_id",
    time="created_at",
    doc="one row per customer",
    columns=(
        _col("customer_id", Kind.ID, "the customer's id"),
        _col("created_at", Kind.TIMESTAMP, "when the customer was created"),
        _col("email", Kind.EMAIL, "normalised e-mail (stripped, lower-case)", required=False, nullable=True),
        _col("name", Kind.TEXT, "display name", required=False, nullable=True),
    ),
)
ORDERS = TableSpec(
    name="orders",
    record=Order,
    key="order_id",
    time="ordered_at",
    doc="one row per order; cancelled and test orders are not orders",
    columns=(
        _col("order_id", Kind.ID, "the order's id"),
        _col("customer_id", Kind.ID, "who ordered"),
        _col("ordered_at", Kind.TIMESTAMP, "when"),
        _col("amount", Kind.MONEY, "net revenue after discounts and refunds, major units"),
        _col("currency", Kind.CURRENCY, "ISO 4217 code"),
    ),
)
SUBSCRIPTIONS = TableSpec(
    name="subscriptions",
    record=Subscription,
    key="subscription_id",
    time="started_at",
    doc="one row per constant-price segment of a subscription",
    columns=(
        _col("subscription_id", Kind.ID, "the segment's id"),
        _col("customer_id", Kind.ID, "the subscriber"),
        _col("started_at", Kind.TIMESTAMP, "segment start (inclusive)"),
        _col("ended_at", Kind.TIMESTAMP, "segment end (exclusive); null while running", nullable=True),
        _col("mrr", Kind.MONEY, "recurring revenue normalised to a month, major units"),
        _col("currency", Kind.CURRENCY, "ISO 4217 code"),
    ),
)
TICKETS = TableSpec(
    name="tickets",
    record=Ticket,
    key="ticket_id",
    time="opened_at",
    doc="one row per support ticket",
    columns=(
        _col("ticket_id", Kind.ID, "the ticket's id"),
        _col("customer_id", Kind.ID, "the requester"),
        _col("opened_at", Kind.TIMESTAMP, "when it was opened"),
        _col("solved_at", Kind.TIMESTAMP, "when it was solved; null if not", nullable=True),
        _col("satisfaction", Kind.SATISFACTION, "good, bad or null (not rated)", nullable=True),
    ),
)
RESPONSES = TableSpec(
    name="responses",
    record=Response,
    key="response_id",
    time="responded_at",
    doc="one row per answer to the NPS question",
    columns=(
        _col("response_id", Kind.ID, "the response's id"),
        _col("customer_id", Kind.ID, "the respondent"),
        _col("responded_at", Kind.TIMESTAMP, "when"),
        _col("score", Kind.SCORE, "integer 0..10"),
    ),
)
EVENTS = TableSpec(
    name="events",
    record=Event,
    key=None,
    time="occurred_at",
    doc="one row per product-analytics event",
    columns=(
        _col("customer_id", Kind.ID, "who"),
        _col("occurred_at", Kind.TIMESTAMP, "when"),
        _col("event", Kind.TEXT, "the event's name"),
    ),
)

#: Every canonical table by name, in the order they are documented.
TABLES: Mapping[str, TableSpec] = {t.name: t for t in (CUSTOMERS, ORDERS, SUBSCRIPTIONS, TICKETS, RESPONSES, EVENTS)}


#: Key of the Parquet key-value metadata that marks a file written by retainlib.
PARQUET_MARK = "retainlib"


def parquet_mark(table: str) -> dict[str, str]:
    """The Parquet metadata retainlib writes with a canonical ``table``: its rows are already checked."""
    return {PARQUET_MARK: f'{{"table": "{table}", "version": 1}}'}
