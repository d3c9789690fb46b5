"""The canonical tables: attrs records and polars schemas declared in :mod:`retainlib.tables` agree.

For every :class:`TableSpec` in ``TABLES`` the record class has exactly the
spec's columns as fields, in order, with an annotation matching the column's
polars type and nullability; records survive ``spec.frame`` / ``spec.records``
unchanged; and the record converters reject what the canonical rules reject.
"""

from __future__ import annotations

import datetime as dt
import doctest
import types
import typing
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import attrs
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import retainlib
from retainlib.errors import RecordError, RetainlibError
from retainlib.tables import (
    MONEY,
    MONEY_LIMIT,
    SATISFACTION,
    TABLES,
    TIMESTAMP,
    Customer,
    Event,
    Kind,
    Order,
    Response,
    Subscription,
    TableSpec,
    Ticket,
)

SPECS = list(TABLES.values())
UTC = dt.UTC
WHEN = dt.datetime(2024, 3, 1, 10, tzinfo=UTC)


def _spec_id(spec: TableSpec) -> str:
    return spec.name


# --- annotations against dtypes ---------------------------------------------------------


def _split_optional(annotation: Any) -> tuple[Any, bool]:
    """``(X, True)`` for ``X | None``, ``(X, False)`` otherwise."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        assert len(args) == 1, f"only X | None unions are canonical, got {annotation}"
        return args[0], optional
    return annotation, False


def _dtype_of(annotation: Any) -> pl.DataType:
    """The polars type a record annotation stands for."""
    if annotation is str:
        return pl.String()
    if annotation is dt.datetime:
        return pl.Datetime("us", "UTC")
    if annotation is Decimal:
        return pl.Decimal(38, 4)
    if annotation is int:
        return pl.Int8()
    if typing.get_origin(annotation) is Literal:
        return pl.Enum(list(typing.get_args(annotation)))
    raise AssertionError(f"no canonical polars type for {annotation!r}")


def test_tables_are_the_six_documented_ones_in_order() -> None:
    assert list(TABLES) == ["customers", "orders", "subscriptions", "tickets", "responses", "events"]
    assert all(name == spec.name for name, spec in TABLES.items())
    assert [spec.record for spec in SPECS] == [Customer, Order, Subscription, Ticket, Response, Event]


@pytest.mark.parametrize("spec", SPECS, ids=_spec_id)
def test_record_fields_are_the_columns_in_order(spec: TableSpec) -> None:
    fields = attrs.fields(spec.record)
    assert [f.name for f in fields] == [c.name for c in spec.columns] == list(spec.schema.names())


@pytest.mark.parametrize("spec", SPECS, ids=_spec_id)
def test_record_annotations_match_the_polars_schema(spec: TableSpec) -> None:
    hints = typing.get_type_hints(spec.record)
    for column in spec.columns:
        inner, optional = _split_optional(hints[column.name])
        assert _dtype_of(inner) == spec.schema[column.name] == column.dtype, column.name
        assert optional == column.nullable, f"{spec.name}.{column.name}: X | None <-> nullable"


@pytest.mark.parametrize("spec", SPECS, ids=_spec_id)
def test_columns_are_well_formed(spec: TableSpec) -> None:
    fields = {f.name: f for f in attrs.fields(spec.record)}
    required = [c.required for c in spec.columns]
    assert required == sorted(required, reverse=True), "required columns come first"
    assert spec.required == tuple(c.name for c in spec.columns if c.required)
    assert spec.time in spec.schema and spec.schema[spec.time] == TIMESTAMP
    assert spec.key is None or (spec.key == spec.columns[0].name and spec.column(spec.key).kind is Kind.ID)
    for c in spec.columns:
        assert c.doc, f"{spec.name}.{c.name} has no doc"
        if not c.required:  # an optional column is nullable and defaults to None in the record
            assert c.nullable
            assert fields[c.name].default is None
        if c.kind is Kind.ID:
            assert not c.nullable
    assert spec.schema_frame().schema == spec.schema
    assert spec.schema_frame().height == 0
    with pytest.raises(KeyError):
        spec.column("nope")


def test_kinds_map_to_the_documented_types() -> None:
    assert Kind.MONEY.dtype == MONEY == pl.Decimal(38, 4)
    assert Kind.TIMESTAMP.dtype == TIMESTAMP == pl.Datetime("us", "UTC")
    assert Kind.SATISFACTION.dtype == SATISFACTION == pl.Enum(["good", "bad"])
    assert Kind.SCORE.dtype == pl.Int8()
    for kind in (Kind.ID, Kind.TEXT, Kind.EMAIL, Kind.CURRENCY):
        assert kind.dtype == pl.String()
    assert TABLES["events"].key is None
    assert [spec.key for spec in SPECS[:5]] == [
        "customer_id",
        "order_id",
        "subscription_id",
        "ticket_id",
        "response_id",
    ]


def test_records_are_exported_from_the_package() -> None:
    for spec in SPECS:
        assert getattr(retainlib, spec.record.__name__) is spec.record
        assert spec.record.__name__ in retainlib.__all__


# --- round trip -------------------------------------------------------------------------

ids = st.text(min_size=1, max_size=12)
texts = st.text(max_size=20)
instants = st.datetimes(
    min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2100, 12, 31), timezones=st.sampled_from([UTC])
) | st.datetimes(min_value=dt.datetime(1900, 1, 2), max_value=dt.datetime(2100, 12, 30), timezones=st.timezones())
largest = MONEY_LIMIT - Decimal("0.0001")
money = st.decimals(min_value=-largest, max_value=largest, places=4, allow_nan=False, allow_infinity=False) | (
    st.integers(min_value=-(10**12), max_value=10**12)
)
currencies = st.from_regex(r"\A[A-Z]{3}\Z")
emails = st.none() | st.emails() | st.text(max_size=20)


@st.composite
def subscriptions(draw: st.DrawFn) -> Subscription:
    start = draw(instants)
    end = draw(st.none() | st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=3000)))
    return Subscription(
        subscription_id=draw(ids),
        customer_id=draw(ids),
        started_at=start,
        ended_at=None if end is None else start + end,
        mrr=draw(money),
        currency=draw(currencies),
    )


@st.composite
def tickets(draw: st.DrawFn) -> Ticket:
    opened = draw(instants)
    solved = draw(st.none() | st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=300)))
    return Ticket(
        ticket_id=draw(ids),
        customer_id=draw(ids),
        opened_at=opened,
        solved_at=None if solved is None else opened + solved,
        satisfaction=draw(st.sampled_from([None, "good", "bad"])),
    )


RECORDS: dict[str, st.SearchStrategy[Any]] = {
    "customers": st.builds(Customer, customer_id=ids, created_at=instants, email=emails, name=st.none() | texts),
    "orders": st.builds(Order, order_id=ids, customer_id=ids, ordered_at=instants, amount=money, currency=currencies),
    "subscriptions": subscriptions(),
    "tickets": tickets(),
    "responses": st.builds(
        Response, response_id=ids, customer_id=ids, responded_at=instants, score=st.integers(min_value=0, max_value=10)
    ),
    "events": st.builds(Event, customer_id=ids, occurred_at=instants, event=texts),
}


@pytest.mark.parametrize("spec", SPECS, ids=_spec_id)
@given(data=st.data())
def test_records_round_trip_through_frames(spec: TableSpec, data: st.DataObject) -> None:
    records = data.draw(st.lists(RECORDS[spec.name], max_size=8), label="records")
    frame = spec.frame(records)
    assert frame.schema == spec.schema
    assert frame.height == len(records)
    back = spec.records(frame)
    assert back == records
    assert all(type(r) is spec.record for r in back)
    assert spec.frame(back).equals(frame)


def test_frame_of_no_records_is_the_empty_canonical_frame() -> None:
    for spec in SPECS:
        assert spec.frame([]).schema == spec.schema
        assert spec.records(spec.frame([])) == []


def test_records_ignores_extra_columns() -> None:
    order = Order.of("o1", "c1", "2024-03-01T10:00:00+00:00", "9.90")
    frame = TABLES["orders"].frame([order]).with_columns(channel=pl.lit("web"))
    assert TABLES["orders"].records(frame.select("channel", *TABLES["orders"].schema.names())) == [order]


# --- record normalisation ---------------------------------------------------------------


def test_timestamps_are_kept_in_utc() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    order = Order(
        order_id="o1", customer_id="c1", ordered_at=dt.datetime(2024, 3, 1, 11, tzinfo=paris), amount=1, currency="EUR"
    )
    assert order.ordered_at == WHEN
    assert order.ordered_at.utcoffset() == dt.timedelta(0)


def test_money_is_exact_with_four_places() -> None:
    assert Order.of("o1", "c1", WHEN, "19.9").amount == Decimal("19.9000")
    assert str(Order.of("o1", "c1", WHEN, 3).amount) == "3.0000"
    assert Order.of("o1", "c1", WHEN, Decimal("0.0001")).amount == Decimal("0.0001")
    assert Order.of("o1", "c1", WHEN, "-5.25").amount == Decimal("-5.25")  # refunds may make a net amount negative
    assert Order.of("o1", "c1", WHEN, "1.50000").amount == Decimal("1.5")  # trailing zeros lose nothing


def test_currency_codes_are_normalised() -> None:
    assert Order.of("o1", "c1", WHEN, 1, currency=" eur ").currency == "EUR"


def test_emails_are_normalised() -> None:
    customer = Customer(customer_id="c1", created_at=WHEN, email="  Ann@Example.COM ")
    assert customer.email == "ann@example.com"
    assert Customer(customer_id="c1", created_at=WHEN, email="   ").email is None
    assert Customer(customer_id="c1", created_at=WHEN).email is None


def test_order_of_parses_iso_strings() -> None:
    order = Order.of("o1", "c1", "2024-03-01T10:00:00+00:00", "9.90")
    assert order == Order(order_id="o1", customer_id="c1", ordered_at=WHEN, amount=Decimal("9.9"), currency="USD")


def test_records_are_frozen() -> None:
    order = Order.of("o1", "c1", WHEN, "9.90")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        order.amount = Decimal(1)  # type: ignore[misc]


# --- record validation ------------------------------------------------------------------


def _order(**changes: Any) -> Order:
    fields: dict[str, Any] = {
        "order_id": "o1",
        "customer_id": "c1",
        "ordered_at": WHEN,
        "amount": Decimal("9.90"),
        "currency": "USD",
    }
    return Order(**{**fields, **changes})


NINE: Any = 9.0  # a float score: typed Any to reach the run-time check

BAD_RECORDS: list[Any] = [
    pytest.param(lambda: _order(ordered_at=dt.datetime(2024, 3, 1, 10)), "timestamp", id="naive datetime"),
    pytest.param(lambda: _order(ordered_at="2024-03-01T10:00:00Z"), "timestamp", id="string timestamp"),
    pytest.param(lambda: Customer(customer_id="c1", created_at=dt.datetime(2024, 1, 1)), "timestamp", id="naive"),
    pytest.param(lambda: _order(amount=9.9), "amount", id="float money"),
    pytest.param(lambda: _order(amount=True), "amount", id="bool money"),
    pytest.param(lambda: _order(amount=Decimal("1.23456")), "amount", id="5 decimals"),
    pytest.param(lambda: _order(amount="0.00001"), "amount", id="5 decimals string"),
    pytest.param(lambda: _order(amount="ten"), "amount", id="not a number"),
    pytest.param(lambda: _order(amount=Decimal("NaN")), "amount", id="NaN"),
    pytest.param(lambda: _order(amount=Decimal("Infinity")), "amount", id="infinity"),
    pytest.param(lambda: _order(currency="US"), "currency", id="2-letter currency"),
    pytest.param(lambda: _order(currency="USDX"), "currency", id="4-letter currency"),
    pytest.param(lambda: _order(currency="U5D"), "currency", id="digit in currency"),
    pytest.param(lambda: _order(currency=None), "currency", id="no currency"),
    pytest.param(lambda: _order(order_id=""), "id", id="empty id"),
    pytest.param(lambda: _order(customer_id=7), "id", id="int id"),
    pytest.param(lambda: Response(response_id="r", customer_id="c", responded_at=WHEN, score=11), "score", id="11"),
    pytest.param(lambda: Response(response_id="r", customer_id="c", responded_at=WHEN, score=-1), "score", id="-1"),
    pytest.param(lambda: Response(response_id="r", customer_id="c", responded_at=WHEN, score=NINE), "score", id="9.0"),
    pytest.param(lambda: Response(response_id="r", customer_id="c", responded_at=WHEN, score=True), "score", id="bool"),
    pytest.param(
        lambda: Ticket(ticket_id="t", customer_id="c", opened_at=WHEN, solved_at=None, satisfaction="meh"),
        "satisfaction",
        id="meh",
    ),
    pytest.param(
        lambda: Ticket(ticket_id="t", customer_id="c", opened_at=WHEN, solved_at=None, satisfaction="Good"),
        "satisfaction",
        id="Good",
    ),
    pytest.param(
        lambda: Subscription(
            subscription_id="s",
            customer_id="c",
            started_at=WHEN,
            ended_at=WHEN - dt.timedelta(microseconds=1),
            mrr=Decimal(10),
            currency="USD",
        ),
        "ended_at",
        id="ends before it starts",
    ),
    pytest.param(
        lambda: Subscription(
            subscription_id="s",
            customer_id="c",
            started_at=WHEN,
            ended_at=dt.datetime(2025, 1, 1),
            mrr=1,
            currency="USD",
        ),
        "timestamp",
        id="naive ended_at",
    ),
]


@pytest.mark.parametrize(("make", "field"), BAD_RECORDS)
def test_bad_records_raise_record_error(make: Any, field: str) -> None:
    with pytest.raises(RecordError) as info:
        make()
    error = info.value
    assert isinstance(error, ValueError)
    assert isinstance(error, RetainlibError)
    assert error.field == field
    assert str(error).startswith(f"{field}: ")
    assert "got " in str(error)


def test_record_error_message_names_the_value() -> None:
    with pytest.raises(RecordError, match=r"an NPS score is an integer 0..10 \(got 11\)") as info:
        Response(response_id="r", customer_id="c", responded_at=WHEN, score=11)
    assert info.value.value == 11
    with pytest.raises(RecordError, match="naive datetime"):
        _order(ordered_at=dt.datetime(2024, 3, 1))
    with pytest.raises(RecordError, match="not a float"):
        _order(amount=0.1)
    with pytest.raises(RecordError, match="more than 4 decimal places"):
        _order(amount=Decimal("0.12345"))


def test_a_zero_length_subscription_segment_is_allowed() -> None:
    segment = Subscription(
        subscription_id="s", customer_id="c", started_at=WHEN, ended_at=WHEN, mrr=Decimal(0), currency="USD"
    )
    assert segment.ended_at == segment.started_at


@pytest.mark.parametrize("amount", [MONEY_LIMIT - Decimal("0.0001"), -MONEY_LIMIT + Decimal("0.0001")])
def test_amounts_below_the_money_limit_are_accepted(amount: Decimal) -> None:
    order = _order(amount=amount)
    assert order.amount == amount
    assert TABLES["orders"].records(TABLES["orders"].frame([order])) == [order]


@pytest.mark.parametrize("amount", [MONEY_LIMIT, -MONEY_LIMIT, Decimal(10) ** 25, Decimal(10) ** 33])
def test_amounts_at_or_past_the_money_limit_are_refused(amount: Decimal) -> None:
    """Sums of amounts below 10**20 cannot overflow Decimal(38, 4): larger ones are refused (issue 13)."""
    with pytest.raises(RecordError, match="out of range"):
        _order(amount=amount)


# --- the data-model page documents these tables -------------------------------------------

DATA_MODEL = Path(__file__).resolve().parents[1] / "docs" / "data-model.md"
_DOC_TYPES = {
    "`String`": pl.String(),
    '`Datetime("us", "UTC")`': TIMESTAMP,
    "`Decimal(38, 4)`": MONEY,
    "`Int8`": pl.Int8(),
    '`Enum(["good", "bad"])`': SATISFACTION,
}


def _documented_columns(table: str) -> list[tuple[str, pl.DataType, bool, bool]]:
    text = DATA_MODEL.read_text(encoding="utf-8")
    section = text.split(f"\n### {table}\n", 1)[1].split("\n### ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    out = []
    for row in rows:
        name, dtype, required, nullable = (cell.strip() for cell in row.strip("|").split("|")[:4])
        out.append((name.strip("`"), _DOC_TYPES[dtype], required == "required", nullable == "yes"))
    return out


@pytest.mark.parametrize("spec", SPECS, ids=_spec_id)
def test_data_model_page_lists_every_column(spec: TableSpec) -> None:
    expected = [(c.name, c.dtype, c.required, c.nullable) for c in spec.columns]
    assert _documented_columns(spec.name) == expected


def test_data_model_page_examples_run() -> None:
    failures, attempted = doctest.testfile(str(DATA_MODEL), module_relative=False, report=True, verbose=False)
    assert attempted > 40
    assert failures == 0
