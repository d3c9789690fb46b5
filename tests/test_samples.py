"""Tests of the synthetic store (:mod:`retainlib.samples`)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import retainlib as rl
from retainlib.errors import OptionError
from retainlib.samples import synthetic_tables, write_synthetic_parquet
from retainlib.tables import MONEY, TABLES, TIMESTAMP

NAMES = ("customers", "orders", "subscriptions", "tickets", "responses", "events")
EXTRAS: dict[str, dict[str, pl.DataType]] = {
    "customers": {"country": pl.String(), "channel": pl.String()},
    "subscriptions": {"plan": pl.String()},
}
START = dt.date(2022, 1, 1)
END = dt.date(2025, 1, 1)


def num(value: object) -> float:
    """A polars aggregate (``Series.mean()``...) as a float."""
    assert isinstance(value, int | float)
    return float(value)


def utc(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def check_invariants(
    tables: dict[str, pl.DataFrame],
    *,
    customers: int,
    start: dt.date,
    end: dt.date,
    currency: str,
    events: bool,
) -> None:
    """Every rule a synthetic store keeps, whatever its size, seed and options."""
    assert tuple(tables) == (NAMES if events else NAMES[:-1])
    lo, hi = utc(start), utc(end)

    for name, frame in tables.items():
        spec = TABLES[name]
        canonical = list(spec.schema.items())
        assert list(frame.schema.items()) == canonical + list(EXTRAS.get(name, {}).items())
        for column in spec.columns:
            if not column.nullable:
                assert frame[column.name].null_count() == 0, (name, column.name)
        if spec.key is not None:
            assert frame[spec.key].is_unique().all(), name
        for column in spec.columns:
            if column.dtype == TIMESTAMP:
                values = frame[column.name].drop_nulls()
                assert values.is_empty() or ((values >= lo).all() and (values < hi).all())
        if "currency" in frame.columns:
            assert (frame["currency"] == currency).all()
        # the attrs records accept every row (exact money, valid ranges...)
        spec.records(frame.head(50))

    c = tables["customers"]
    assert c.height == customers
    assert c["customer_id"].str.contains(r"^c\d{7,}$").all()
    assert set(c["country"].unique()) <= {"US", "GB", "DE", "FR", "CA", "AU", "NL", "SE"}
    assert set(c["channel"].unique()) <= {"organic", "paid", "referral"}
    created = c.select("customer_id", "created_at")
    known = c["customer_id"]

    # every row belongs to a known customer and happens once that customer exists
    for name, time in (
        ("orders", "ordered_at"),
        ("subscriptions", "started_at"),
        ("tickets", "opened_at"),
        ("responses", "responded_at"),
        ("events", "occurred_at"),
    ):
        if name not in tables:
            continue
        frame = tables[name]
        assert frame["customer_id"].is_in(known.implode()).all(), name
        rows = frame.select("customer_id", time)
        assert rows.equals(rows.sort("customer_id", time, maintain_order=True)), name  # sorted
        key = TABLES[name].key
        assert key is None or frame[key].is_sorted(), name  # ids numbered in row order
        joined = frame.join(created, on="customer_id")
        assert (joined[time] >= joined["created_at"]).all(), name

    o = tables["orders"]
    assert (o["amount"] > Decimal(0)).all()
    assert o["amount"].cast(pl.String).str.ends_with("00").all()  # at most 2 decimals
    first = o.group_by("customer_id").agg(pl.col("ordered_at").min()).join(created, on="customer_id")
    assert (first["ordered_at"] == first["created_at"]).all()  # acquired by the first order

    s = tables["subscriptions"].sort("customer_id", "started_at")
    assert (s["mrr"] > Decimal(0)).all()
    assert s["plan"].is_in(["basic", "pro", "team"]).all()
    assert s.filter(pl.col("ended_at") <= pl.col("started_at")).is_empty()
    chained = s.with_columns(previous_end=pl.col("ended_at").shift().over("customer_id"))
    later = chained.filter(pl.col("customer_id").is_first_distinct().not_())
    assert later["previous_end"].null_count() == 0  # only the last segment may run on
    assert (later["previous_end"] <= later["started_at"]).all()  # no overlap

    t = tables["tickets"]
    solved = t.filter(pl.col("solved_at").is_not_null())
    assert (solved["solved_at"] >= solved["opened_at"]).all()
    assert (
        t.filter(pl.col("solved_at").is_null())["satisfaction"].null_count()
        == t.filter(pl.col("solved_at").is_null()).height
    )  # only solved tickets are rated
    served = pl.concat([o["customer_id"], s["customer_id"]])
    assert t["customer_id"].is_in(served.implode()).all()

    r = tables["responses"]
    assert r["score"].is_between(0, 10).all()

    if events:
        e = tables["events"]
        assert e["event"].is_in(["session", "purchase"]).all()
        assert (e["event"] == "purchase").sum() == o.height


@settings(max_examples=150, deadline=None)
@given(
    customers=st.integers(0, 300),
    seed=st.integers(0, 2**64),
    start=st.dates(dt.date(1995, 1, 1), dt.date(2035, 1, 1)),
    days=st.integers(1, 2_000),
    currency=st.sampled_from(["USD", "EUR", "JPY", "BHD"]),
    share=st.floats(0.0, 1.0),
    events=st.booleans(),
)
def test_invariants_hold_for_any_size_seed_and_window(
    customers: int,
    seed: int,
    start: dt.date,
    days: int,
    currency: str,
    share: float,
    events: bool,
) -> None:
    end = start + dt.timedelta(days=days)
    tables = synthetic_tables(
        customers,
        seed=seed,
        start=start,
        end=end,
        currency=currency,
        subscription_share=share,
        events=events,
    )
    check_invariants(tables, customers=customers, start=start, end=end, currency=currency, events=events)


@settings(max_examples=15, deadline=None)
@given(customers=st.integers(1, 300), seed=st.integers(0, 2**32))
def test_same_seed_same_frames_other_seed_other_frames(customers: int, seed: int) -> None:
    one = synthetic_tables(customers, seed=seed)
    two = synthetic_tables(customers, seed=seed)
    other = synthetic_tables(customers, seed=seed + 1)
    assert all(one[name].equals(two[name]) for name in NAMES)
    assert not one["customers"].equals(other["customers"])


def test_zero_customers_gives_empty_frames_with_the_schema() -> None:
    tables = synthetic_tables(0)
    assert set(tables) == set(NAMES)
    for name, frame in tables.items():
        assert frame.is_empty()
        assert frame.schema == pl.Schema({**TABLES[name].schema, **EXTRAS.get(name, {})})
    assert "events" not in synthetic_tables(0, events=False)


def test_everyone_or_nobody_subscribes_at_the_extreme_shares() -> None:
    everyone = synthetic_tables(200, seed=3, subscription_share=1.0)
    nobody = synthetic_tables(200, seed=3, subscription_share=0.0)
    assert everyone["subscriptions"]["customer_id"].n_unique() == 200
    assert nobody["subscriptions"].is_empty()
    assert nobody["orders"]["customer_id"].n_unique() < 200  # some never order


def test_money_is_exact_and_annual_plans_are_normalised() -> None:
    s = synthetic_tables(2_000, seed=5)["subscriptions"]
    assert s["mrr"].dtype == MONEY
    prices = set(s["mrr"].unique().to_list())
    monthly = {Decimal("29"), Decimal("99"), Decimal("299")}
    annual = {Decimal("24.1667"), Decimal("82.5000"), Decimal("249.1667")}  # 290 / 12, ...
    assert prices <= monthly | annual
    assert prices & monthly
    assert prices & annual


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"customers": -1}, "customers"),
        ({"customers": 2.5}, "customers"),
        ({"customers": True}, "customers"),
        ({"seed": -3}, "seed"),
        ({"end": dt.date(2022, 1, 1)}, "end"),
        ({"end": dt.date(2021, 6, 1)}, "end"),
        ({"start": dt.datetime(2022, 1, 1, tzinfo=dt.UTC)}, "start"),
        ({"end": "2025-01-01"}, "end"),
        ({"currency": "usd"}, "currency"),
        ({"currency": "EURO"}, "currency"),
        ({"currency": ""}, "currency"),
        ({"subscription_share": -0.1}, "subscription_share"),
        ({"subscription_share": 1.5}, "subscription_share"),
        ({"subscription_share": float("nan")}, "subscription_share"),
        ({"events": "yes"}, "events"),
    ],
)
def test_invalid_options_raise_option_error(options: dict[str, object], option: str) -> None:
    arguments: dict[str, object] = {"customers": 10, **options}
    with pytest.raises(OptionError) as info:
        synthetic_tables(**arguments)  # type: ignore[arg-type]
    assert info.value.option == option
    assert info.value.value is options[option] or info.value.value == options[option]


# --- statistical properties at a fixed seed ---------------------------------------------


@pytest.fixture(scope="module")
def store() -> dict[str, pl.DataFrame]:
    return synthetic_tables(20_000, seed=42)


def test_purchasing_looks_like_btyd(store: dict[str, pl.DataFrame]) -> None:
    o = store["orders"]
    per_buyer = o.group_by("customer_id").len()["len"]
    assert 3.0 <= num(per_buyer.mean()) <= 5.0
    assert 0.35 <= num((per_buyer == 1).mean()) <= 0.60
    assert num(per_buyer.max()) >= 30  # a heavy tail of frequent buyers
    buyers = per_buyer.len() / store["customers"].height
    assert 0.7 <= buyers <= 0.9  # some customers never order


def test_buyers_lapse_and_come_back(store: dict[str, pl.DataFrame]) -> None:
    gaps = (
        store["orders"]
        .sort("customer_id", "ordered_at")
        .with_columns(gap=pl.col("ordered_at").diff().over("customer_id"))
    )
    repeaters = gaps.filter(pl.col("gap").is_not_null())["customer_id"].n_unique()
    returning = gaps.filter(pl.col("gap") >= pl.duration(days=91))["customer_id"].n_unique()
    assert returning >= 0.1 * repeaters


def test_subscriptions_move_up_down_out_and_back(store: dict[str, pl.DataFrame]) -> None:
    s = store["subscriptions"].sort("customer_id", "started_at")
    share = s["customer_id"].n_unique() / store["customers"].height
    assert 0.25 <= share <= 0.35
    s = s.with_columns(
        previous_end=pl.col("ended_at").shift().over("customer_id"),
        previous_mrr=pl.col("mrr").shift().over("customer_id"),
        last=pl.col("customer_id").is_last_distinct(),
    )
    moves = s.filter(pl.col("previous_end") == pl.col("started_at"))
    upgrades = moves.filter(pl.col("mrr") > pl.col("previous_mrr")).height
    downgrades = moves.filter(pl.col("mrr") < pl.col("previous_mrr")).height
    reactivations = s.filter(pl.col("previous_end") < pl.col("started_at")).height
    cancelled = s.filter(pl.col("last") & pl.col("ended_at").is_not_null()).height
    running = s.filter(pl.col("ended_at").is_null()).height
    assert upgrades > downgrades > 100
    assert reactivations > 100
    assert cancelled > 500
    assert running > 1_000


def test_bad_tickets_cause_churn(store: dict[str, pl.DataFrame]) -> None:
    window = dt.timedelta(days=180)
    o = store["orders"].select("customer_id", "ordered_at")
    subscribers = store["subscriptions"]["customer_id"].implode()
    tickets = store["tickets"].filter(
        pl.col("satisfaction").is_not_null(),
        pl.col("solved_at") < utc(END) - window,
        pl.col("customer_id").is_in(subscribers).not_(),
    )
    came_back = (
        tickets.join(o, on="customer_id")
        .with_columns(
            after=pl.col("ordered_at").is_between(pl.col("solved_at"), pl.col("solved_at") + window, closed="right")
        )
        .group_by("ticket_id", "satisfaction")
        .agg(pl.col("after").any())
    )
    churn = dict(
        came_back.group_by("satisfaction")
        .agg(churn=1 - pl.col("after").mean())
        .select(pl.col("satisfaction").cast(pl.String), "churn")
        .iter_rows()
    )
    assert churn["bad"] > churn["good"] + 0.2

    s = store["subscriptions"]
    ends = s.group_by("customer_id").agg(pl.col("ended_at").max(), running=pl.col("ended_at").is_null().any())
    rated = store["tickets"].filter(pl.col("satisfaction").is_not_null(), pl.col("solved_at") < utc(END) - window)
    cancels = (
        rated.join(ends, on="customer_id")
        .with_columns(cancelled=~pl.col("running") & (pl.col("ended_at") <= pl.col("solved_at") + window))
        .group_by(pl.col("satisfaction").cast(pl.String))
        .agg(pl.col("cancelled").mean())
    )
    rate = dict(cancels.iter_rows())
    assert rate["bad"] > rate["good"] + 0.2


def test_acquisition_grows_with_seasons(store: dict[str, pl.DataFrame]) -> None:
    created = store["customers"]["created_at"]
    monthly = (
        created.to_frame().group_by(year=pl.col("created_at").dt.year(), month=pl.col("created_at").dt.month()).len()
    )
    for year in (2022, 2023, 2024):
        months = monthly.filter(pl.col("year") == year)
        average = num(months["len"].mean())
        peak = months.filter(pl.col("month") >= 11)["len"]
        assert (peak > average).all(), year
    per_year = created.dt.year().value_counts().sort("created_at")["count"]
    assert per_year[0] < per_year[1] < per_year[2]
    weekday = created.dt.weekday()
    assert (weekday == 6).sum() < (weekday == 1).sum()  # fewer on Saturdays than Mondays


def test_nps_follows_spend_and_satisfaction(store: dict[str, pl.DataFrame]) -> None:
    r = store["responses"]
    assert 0.03 <= r["customer_id"].n_unique() / store["customers"].height <= 0.2
    bad = store["tickets"].filter(pl.col("satisfaction") == "bad")["customer_id"].implode()
    scores = r.with_columns(bad=pl.col("customer_id").is_in(bad))
    by_bad = dict(scores.group_by("bad").agg(pl.col("score").cast(pl.Float64).mean()).iter_rows())
    assert by_bad[True] < by_bad[False] - 1.0
    spend = store["orders"].group_by("customer_id").agg(pl.col("amount").cast(pl.Float64).mean())
    corr = r.join(spend, on="customer_id").select(pl.corr("score", "amount")).item()
    assert corr > 0.1


def test_events_are_modest(store: dict[str, pl.DataFrame]) -> None:
    e = store["events"]
    per_order = e.height / store["orders"].height
    assert 1.0 < per_order < 2.0
    assert {"session", "purchase"} == set(e["event"].unique())


def test_parquet_writer_gives_the_same_tables_in_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import retainlib as rl
    from retainlib import samples

    monkeypatch.setattr(samples, "_BLOCK", 700)  # several blocks, hence several part files
    folder = write_synthetic_parquet(tmp_path / "store", 2_000, seed=5, events=True)
    assert sorted(p.name for p in (folder / "orders").iterdir()) == [f"part-0000{b}.parquet" for b in range(3)]
    expected = synthetic_tables(2_000, seed=5, events=True)
    read = rl.Dataset.read_parquet(folder, validate="full")
    assert read.source == "synthetic"
    assert set(read.tables) == set(expected)
    for name, frame in expected.items():
        assert read.tables[name].collect().equals(frame), name


def test_parquet_writer_checks_its_options(tmp_path: Path) -> None:
    with pytest.raises(OptionError):
        write_synthetic_parquet(tmp_path / "store", -1)
    assert not (tmp_path / "store").exists()


def test_the_store_written_as_vendor_exports_reads_back_and_merges_by_email(tmp_path: Path) -> None:
    """Shopify, Zendesk and Typeform files of one store: each read by its source, merged by e-mail."""
    for plugin in ("retainlib_shopify", "retainlib_support", "retainlib_surveys"):
        pytest.importorskip(plugin)
    from retainlib.samples import synthetic_store, write_synthetic_exports

    store = synthetic_store(300, seed=3, events=False)
    files = write_synthetic_exports(tmp_path, 300, seed=3)
    assert {name: [p.parent.name for p in paths] for name, paths in files.items()} == {
        "shopify": ["shopify", "shopify"],
        "zendesk": ["zendesk"],
        "typeform": ["typeform"],
    }
    parts = [rl.read(name, *paths) for name, paths in files.items()]
    shop, desk, survey = parts
    expected = store.counts()
    assert shop.require("orders").select(pl.len()).collect().item() == expected["orders"]
    assert desk.require("tickets").select(pl.len()).collect().item() == expected["tickets"]
    assert survey.require("responses").select(pl.len()).collect().item() == expected["responses"]
    total = shop.require("orders").select(pl.col("amount").sum()).collect().item()
    assert total == store.require("orders").select(pl.col("amount").sum()).collect().item()
    merged = rl.merge(parts, match_ids=False)
    # Every ticket and response finds the shop customer with the same e-mail.
    emails = store.require("customers").select("customer_id", "email").collect()
    assert emails["email"].is_unique().all()
    customers = merged.require("customers").collect()
    for table in ("orders", "tickets", "responses"):
        ids = merged.require(table).select("customer_id").unique().collect()
        assert ids.join(customers, on="customer_id", how="anti").height == 0, table
        in_store = store.require(table).select(pl.col("customer_id").n_unique()).collect().item()
        assert merged.require(table).select(pl.col("customer_id").n_unique()).collect().item() == in_store, table
    retention = rl.support_retention(merged)
    assert retention.height > 0
    assert rl.nps(merged, period=None)["responses"].to_list() == [expected["responses"]]


def test_the_exports_walkthrough_runs() -> None:
    """docs/exports-to-retention.md: its examples run and print what the page says."""
    import doctest

    for plugin in ("retainlib_shopify", "retainlib_support", "retainlib_surveys"):
        pytest.importorskip(plugin)
    page = Path(__file__).resolve().parents[1] / "docs" / "exports-to-retention.md"
    failures, attempted = doctest.testfile(
        str(page), module_relative=False, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    assert attempted >= 20
    assert failures == 0
