"""Dataset construction, validation errors, Parquet round trip and merging."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import retainlib as rl
from retainlib.errors import CurrencyError, DataError, OptionError, RetainlibError, SchemaError
from retainlib.tables import MONEY, ORDERS, SUBSCRIPTIONS, TIMESTAMP

UTC = dt.UTC


def _orders(**cols: list[object]) -> pl.DataFrame:
    base: dict[str, list[object]] = {
        "order_id": ["o1", "o2"],
        "customer_id": ["c1", "c2"],
        "ordered_at": ["2024-03-01T10:00:00Z", "2024-03-02T11:30:00+02:00"],
        "amount": ["19.90", "5"],
        "currency": ["usd", "USD"],
    }
    base.update(cols)
    return pl.DataFrame(base)


def test_strings_are_coerced_to_the_canonical_schema() -> None:
    ds = rl.Dataset(orders=_orders())
    assert ds.orders is not None
    df = ds.orders.collect()
    assert df.schema == ORDERS.schema
    assert df["amount"].to_list() == [Decimal("19.90"), Decimal("5")]
    assert df["currency"].to_list() == ["USD", "USD"]
    assert df["ordered_at"].to_list() == [
        dt.datetime(2024, 3, 1, 10, tzinfo=UTC),
        dt.datetime(2024, 3, 2, 9, 30, tzinfo=UTC),
    ]


def test_missing_column_names_table_column_and_suggests() -> None:
    df = _orders().rename({"customer_id": "customer"})
    with pytest.raises(SchemaError) as info:
        rl.Dataset(orders=df)
    err = info.value
    assert (err.table, err.column, err.actual) == ("orders", "customer_id", None)
    assert "did you mean 'customer'" in str(err)
    assert isinstance(err, ValueError) and isinstance(err, RetainlibError)


def test_wrong_type_names_expected_and_actual() -> None:
    df = _orders().with_columns(amount=pl.lit(True))
    with pytest.raises(SchemaError) as info:
        rl.Dataset(orders=df)
    assert info.value.column == "amount"
    assert info.value.actual == "Boolean"
    assert "decimal" in info.value.expected


def test_naive_datetimes_need_a_time_zone() -> None:
    naive = _orders().with_columns(ordered_at=pl.Series([dt.datetime(2024, 3, 1, 10), dt.datetime(2024, 3, 1, 12)]))
    with pytest.raises(SchemaError, match="tz="):
        rl.Dataset(orders=naive)
    ds = rl.Dataset(orders=naive, tz="Europe/Paris")
    assert ds.orders is not None
    assert ds.orders.collect()["ordered_at"][0] == dt.datetime(2024, 3, 1, 9, tzinfo=UTC)


def test_every_row_problem_is_reported_together() -> None:
    df = _orders(
        order_id=["o1", "o1", "o3", "o4"],
        customer_id=["c1", "", "c3", "c4"],
        ordered_at=["2024-03-01T10:00:00Z", "yesterday", "2024-03-01 10:00", "2024-03-01T10:00:00Z"],
        amount=["1.00", "1,5", "2.123456", "3"],
        currency=["USD", "USD", "US", "USD"],
    )
    with pytest.raises(DataError) as info:
        rl.Dataset(orders=df)
    found = {(p.column, p.reason.split(" (")[0].split(";")[0]): p for p in info.value.problems}
    assert set(found) == {
        ("order_id", "duplicate id"),
        ("customer_id", "empty id"),
        ("ordered_at", "unparseable timestamp"),
        ("ordered_at", "naive timestamp"),
        ("amount", "not a number"),
        ("amount", "more than 4 decimal places"),
        ("currency", "not an ISO 4217 currency code"),
    }
    dup = found[("order_id", "duplicate id")]
    assert dup.rows["row"].to_list() == [2]
    assert dup.count == 1
    message = str(info.value)
    assert "orders.amount: not a number (1 row)" in message
    assert "1,5" in message  # the offending value is shown


def test_scores_and_satisfaction_are_checked() -> None:
    responses = pl.DataFrame(
        {
            "response_id": ["r1", "r2", "r3", "r4"],
            "customer_id": ["c"] * 4,
            "responded_at": ["2024-01-01T00:00:00Z"] * 4,
            "score": ["10", "11", "7.5", "x"],
        }
    )
    with pytest.raises(DataError) as info:
        rl.Dataset(responses=responses)
    assert {p.reason for p in info.value.problems} == {"score outside 0..10", "not an integer score", "not a number"}
    tickets = pl.DataFrame(
        {
            "ticket_id": ["t1", "t2"],
            "customer_id": ["c", "c"],
            "opened_at": ["2024-01-02T00:00:00Z"] * 2,
            "solved_at": ["2024-01-01T00:00:00Z", None],
            "satisfaction": ["GOOD", "meh"],
        }
    )
    with pytest.raises(DataError) as info:
        rl.Dataset(tickets=tickets)
    assert {(p.column, p.reason) for p in info.value.problems} == {
        ("solved_at", "before opened_at"),
        ("satisfaction", "satisfaction is good, bad or empty"),
    }


def test_subscriptions_end_after_start_and_mrr_nonnegative() -> None:
    subs = pl.DataFrame(
        {
            "subscription_id": ["s1", "s2"],
            "customer_id": ["c", "c"],
            "started_at": ["2024-02-01T00:00:00Z", "2024-01-01T00:00:00Z"],
            "ended_at": ["2024-01-01T00:00:00Z", None],
            "mrr": ["10", "-1"],
            "currency": ["EUR", "EUR"],
        }
    )
    with pytest.raises(DataError) as info:
        rl.Dataset(subscriptions=subs)
    assert {(p.column, p.reason) for p in info.value.problems} == {
        ("ended_at", "before started_at"),
        ("mrr", "negative"),
    }


def test_mixed_currencies_are_refused_where_summed() -> None:
    ds = rl.Dataset(orders=_orders(currency=["USD", "EUR"]))
    assert ds.currencies() == ["EUR", "USD"]
    with pytest.raises(CurrencyError, match=r"the dataset's tables mix currencies \(EUR, USD\)") as info:
        ds.single_currency()
    assert info.value.currencies == ("EUR", "USD")
    assert rl.Dataset(orders=_orders(currency=["USD", "USD"])).single_currency() == "USD"


def test_from_frames_mapping_defaults_and_pandas() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(
        {"id": [1, 2], "user": [7, 8], "when": ["2024-03-01 10:00", "2024-03-02"], "total": [9.5, 0.7]}
    )
    ds = rl.Dataset.from_frames(
        orders=frame,
        mapping={"orders": {"id": "order_id", "user": "customer_id", "when": "ordered_at", "total": "amount"}},
        defaults={"orders": {"currency": "EUR"}},
        tz="Europe/Paris",
    )
    assert ds.orders is not None
    df = ds.orders.collect()
    assert df.schema == ORDERS.schema
    assert df["amount"].to_list() == [Decimal("9.5"), Decimal("0.7")]  # floats rounded to 4 places, not truncated
    assert df["customer_id"].to_list() == ["7", "8"]
    with pytest.raises(SchemaError, match="lacks"):
        rl.Dataset.from_frames(orders=frame, mapping={"orders": {"nope": "order_id"}})
    with pytest.raises(OptionError):
        rl.Dataset.from_frames(ordres=frame)


def test_pyarrow_tables_are_accepted() -> None:
    pa = pytest.importorskip("pyarrow")
    ds = rl.Dataset(orders=_orders().to_arrow())
    assert isinstance(pa.__name__, str)
    assert ds.orders is not None and ds.orders.collect().height == 2
    with pytest.raises(OptionError, match="polars, pandas or pyarrow"):
        rl.Dataset(orders=[1, 2, 3])


def test_require_names_the_missing_table() -> None:
    ds = rl.Dataset(orders=_orders())
    with pytest.raises(SchemaError, match="retention needs the subscriptions table; the dataset has orders"):
        ds.require("subscriptions", purpose="retention")


def test_lazy_input_stays_lazy() -> None:
    ds = rl.Dataset(orders=_orders().lazy(), validate="schema")
    assert isinstance(ds.orders, pl.LazyFrame)
    assert ds.orders.collect().schema == ORDERS.schema


money = st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"), places=4, allow_nan=False)
moments = st.datetimes(min_value=dt.datetime(1950, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(UTC))


@given(
    rows=st.lists(
        st.tuples(moments, st.one_of(st.none(), moments), money, st.sampled_from(["USD", "JPY", "BHD"])), max_size=20
    ),
    extra=st.lists(st.text(max_size=5), max_size=20),
)
def test_parquet_round_trip_is_lossless(
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[tuple[dt.datetime, dt.datetime | None, Decimal, str]],
    extra: list[str],
) -> None:
    n = len(rows)
    subs = pl.DataFrame(
        {
            "subscription_id": [f"s{i}" for i in range(n)],
            "customer_id": [f"c{i % 3}" for i in range(n)],
            "started_at": pl.Series([r[0] for r in rows], dtype=TIMESTAMP),
            "ended_at": pl.Series([None if r[1] is None or r[1] < r[0] else r[1] for r in rows], dtype=TIMESTAMP),
            "mrr": pl.Series([abs(r[2]) for r in rows], dtype=MONEY),
            "currency": [r[3] for r in rows],
            "plan": (extra + [""] * n)[:n],
        },
        schema_overrides={"plan": pl.String},
    )
    ds = rl.Dataset(subscriptions=subs, orders=_orders())
    folder = ds.write_parquet(tmp_path_factory.mktemp("ds"))
    back = rl.Dataset.read_parquet(folder, validate="full")
    assert back.equals(ds)
    assert back.subscriptions is not None
    expected = pl.Schema([*SUBSCRIPTIONS.schema.items(), ("plan", pl.String())])
    assert back.subscriptions.collect_schema() == expected


def test_read_parquet_errors(tmp_path: Path) -> None:
    with pytest.raises(rl.SourceError, match="not a folder"):
        rl.Dataset.read_parquet(tmp_path / "nope")
    with pytest.raises(rl.SourceError, match="no table files"):
        rl.Dataset.read_parquet(tmp_path)


def _customers(ids: list[str], emails: list[str | None], day: int = 1) -> pl.DataFrame:
    return pl.DataFrame(
        {"customer_id": ids, "created_at": [f"2024-01-{day:02d}T00:00:00Z"] * len(ids), "email": emails},
        schema_overrides={"email": pl.String},
    )


def test_merge_resolves_customers_by_email_and_id() -> None:
    shop = rl.Dataset(
        customers=_customers(["1", "2", "3"], ["Ann@Example.com ", "bob@x.com", None], day=2),
        orders=_orders(customer_id=["1", "3"]),
        source="shopify",
    )
    bill = rl.Dataset(
        customers=_customers(["cus_a", "cus_b", "3"], ["ann@example.com", None, "carol@x.com"]),
        subscriptions=pl.DataFrame(
            {
                "subscription_id": ["s1", "s2"],
                "customer_id": ["cus_a", "cus_b"],
                "started_at": ["2024-02-01T00:00:00Z"] * 2,
                "ended_at": [None, None],
                "mrr": ["10", "20"],
                "currency": ["USD", "USD"],
            },
            schema_overrides={"ended_at": pl.String},
        ),
        source="stripe",
    )
    merged = rl.merge([shop, bill])
    assert merged.customers is not None and merged.subscriptions is not None and merged.orders is not None
    customers = merged.customers.collect().sort("customer_id")
    assert customers["customer_id"].to_list() == ["1", "2", "3", "cus_b"]
    ann = customers.row(0, named=True)
    assert ann["email"] == "ann@example.com"
    assert ann["created_at"] == dt.datetime(2024, 1, 1, tzinfo=UTC)  # earliest of both sources
    assert sorted(ann["source_ids"]) == ["shopify:1", "stripe:cus_a"]
    assert customers.filter(pl.col("customer_id") == "3")["email"].item() == "carol@x.com"
    assert merged.subscriptions.collect()["customer_id"].to_list() == ["1", "cus_b"]
    assert merged.orders.collect()["customer_id"].to_list() == ["1", "3"]
    # Without id matching, equal ids of different sources stay apart.
    apart = rl.merge([shop, bill], match_ids=False)
    assert apart.customers is not None
    assert apart.customers.collect().height == 5


def test_merge_is_transitive() -> None:
    a = rl.Dataset(customers=_customers(["x"], ["one@x.com"]), source="a")
    b = rl.Dataset(customers=_customers(["x", "y"], ["two@x.com", "two@x.com"]), source="b")
    c = rl.Dataset(customers=_customers(["z"], ["TWO@x.com"]), source="c")
    merged = a.merge(b, c)
    assert merged.customers is not None
    assert merged.customers.collect()["customer_id"].to_list() == ["x"]


def test_merge_refuses_colliding_record_ids() -> None:
    a = rl.Dataset(orders=_orders(), source="a")
    with pytest.raises(DataError, match="duplicate id"):
        rl.merge([a, a])
    with pytest.raises(OptionError):
        rl.merge([])


text_values = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.sampled_from(["", " ", "2024-02-30", "2024-03-01T10:00:00Z", "1e400", "-0", "good", "BAD", "usd", "10", "NaN"]),
)


@given(
    table=st.sampled_from(["customers", "orders", "subscriptions", "tickets", "responses", "events"]),
    data=st.data(),
)
def test_any_text_input_is_loaded_or_refused_with_a_retainlib_error(table: str, data: st.DataObject) -> None:
    """Schema checks on arbitrary text: never a bare polars error, never a silently dropped row."""
    from retainlib import _conform
    from retainlib.tables import TABLES

    spec = TABLES[table]
    n = data.draw(st.integers(0, 8))
    frame = pl.DataFrame(
        {c.name: data.draw(st.lists(text_values, min_size=n, max_size=n)) for c in spec.columns},
        schema={c.name: pl.String for c in spec.columns},
    )
    try:
        tables: dict[str, Any] = {table: frame}
        ds = rl.Dataset(**tables, tz=data.draw(st.sampled_from([None, "UTC", "Europe/Paris"])))
    except RetainlibError:
        pass
    else:
        loaded = getattr(ds, table).collect()
        assert loaded.height == n
        assert loaded.schema == spec.schema
    conformed = _conform.conform(frame.lazy(), spec, tz="UTC")
    ok, rejected = _conform.split(conformed, file="<frame>")
    assert ok.collect().height + rejected.collect().height == n
