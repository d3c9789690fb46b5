"""Tests for ``nps``: a plain-Python reference on hypothesis data, hand examples, options and errors."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import defaultdict
from fractions import Fraction
from pathlib import Path
from statistics import NormalDist
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from retainlib._dataset import Dataset
from retainlib.calendar import Period, PeriodName
from retainlib.errors import DataError, OptionError, SchemaError
from retainlib.metrics.nps import nps, z_value
from retainlib.testing import responses as responses_strategy

UTC = dt.UTC
Z95 = 1.959963984540054  # Phi^-1(0.975)
COUNTS = ("responses", "promoters", "passives", "detractors")
FLOATS = ("nps", "ci_lower", "ci_upper")


def frame(rows: list[tuple[str, dt.datetime, int]], **extra: list[Any]) -> pl.DataFrame:
    """A canonical responses frame from (customer, time, score) rows (ids r1, r2...), plus extra columns."""
    return pl.DataFrame(
        {
            "response_id": [f"r{i}" for i in range(1, len(rows) + 1)],
            "customer_id": [c for c, _, _ in rows],
            "responded_at": pl.Series([t for _, t, _ in rows], dtype=pl.Datetime("us", "UTC")),
            "score": pl.Series([s for _, _, s in rows], dtype=pl.Int8),
            **extra,
        }
    )


def at(y: int, m: int, d: int, h: int = 12) -> dt.datetime:
    return dt.datetime(y, m, d, h, tzinfo=UTC)


# --- the plain-Python reference ------------------------------------------------------------


def reference_nps(
    rows: list[dict[str, Any]],
    *,
    period: PeriodName | None,
    by: str | None,
    as_of: dt.datetime | dt.date | None,
    tz: str,
    week_start: int,
    level: float,
) -> list[dict[str, Any]]:
    """The spec, with loops: per segment and period, counts, nps and nps -/+ z * se."""
    z = NormalDist().inv_cdf(1 - (1 - level) / 2)
    end_of_obs: dt.datetime | None
    if isinstance(as_of, dt.datetime):
        end_of_obs = as_of.astimezone(UTC)
    elif isinstance(as_of, dt.date):
        end_of_obs = Period(kind="day", start=as_of, tz=tz).end_instant  # through the end of that local day
    else:
        end_of_obs = None
    segments: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if end_of_obs is None or r["responded_at"] < end_of_obs:
            segments[r[by] if by else None].append(r)

    def scores(kept: list[dict[str, Any]]) -> dict[str, Any]:
        n = len(kept)
        pro = sum(1 for r in kept if r["score"] >= 9)
        det = sum(1 for r in kept if r["score"] <= 6)
        out: dict[str, Any] = {"responses": n, "promoters": pro, "passives": n - pro - det, "detractors": det}
        if n == 0:
            return out | {"nps": None, "ci_lower": None, "ci_upper": None}
        pp, pd = Fraction(pro, n), Fraction(det, n)
        score = 100 * (pp - pd)
        se = 100 * math.sqrt((pp + pd - (pp - pd) ** 2) / n)
        return out | {"nps": float(score), "ci_lower": float(score) - z * se, "ci_upper": float(score) + z * se}

    result = []
    for key in sorted(segments, key=lambda k: (k is not None, k)):  # nulls first, like polars' sort
        seg_rows = segments[key]
        head = {by: key} if by else {}
        if period is None:
            result.append(head | scores(seg_rows))
            continue

        def period_of(t: dt.datetime) -> Period:
            return Period.containing(t, period, tz=tz, week_start=week_start)

        first = min(period_of(r["responded_at"]) for r in seg_rows)
        if end_of_obs is not None:
            end = end_of_obs
            last = max(period_of(end - dt.timedelta(microseconds=1)), first)
        else:
            end = max(r["responded_at"] for r in seg_rows)
            last = period_of(end)
        p = first
        while p <= last:
            kept = [r for r in seg_rows if period_of(r["responded_at"]) == p]
            result.append(head | {"period": p.start, "is_complete": p.end_instant <= end} | scores(kept))
            p = p.next()
    return result


def assert_rows_match(got: pl.DataFrame, want: list[dict[str, Any]]) -> None:
    rows = got.to_dicts()
    assert len(rows) == len(want), (rows, want)
    for g, w in zip(rows, want, strict=True):
        assert g.keys() == w.keys()
        for k, v in w.items():
            if k in FLOATS and v is not None:
                assert g[k] == pytest.approx(v, rel=1e-12, abs=1e-9), (k, g, w)
            else:
                assert g[k] == v, (k, g, w)


PERIODS: list[PeriodName] = ["day", "week", "month", "quarter", "year"]
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Pacific/Kiritimati"]
START, END = dt.datetime(2023, 11, 1, tzinfo=UTC), dt.datetime(2024, 5, 1, tzinfo=UTC)


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    data = draw(responses_strategy(max_size=30, customers=6, start=START, end=END))
    seg = draw(st.lists(st.sampled_from(["a", "b", None]), min_size=data.height, max_size=data.height))
    period = draw(st.sampled_from([*PERIODS, None]))
    if period == "day":  # keep the day grid small
        data = data.filter(pl.col("responded_at") < dt.datetime(2023, 12, 15, tzinfo=UTC))
        seg = seg[: data.height]
    as_of: dt.datetime | dt.date | None = draw(
        st.one_of(
            st.none(),
            st.datetimes(min_value=dt.datetime(2023, 11, 20), max_value=dt.datetime(2024, 6, 1)).map(
                lambda d: d.replace(tzinfo=UTC)
            ),
            st.dates(min_value=dt.date(2023, 11, 20), max_value=dt.date(2024, 6, 1)),
        )
    )
    if period == "day" and as_of is not None:
        as_of = None
    return {
        "data": data.with_columns(seg=pl.Series(seg, dtype=pl.String)),
        "period": period,
        "tz": draw(st.sampled_from(ZONES)),
        "week_start": draw(st.integers(0, 6)),
        "as_of": as_of,
        "level": draw(st.sampled_from([0.95, 0.9, 0.99, 0.5])),
    }


# --- property tests against the reference --------------------------------------------------


@given(cases(), st.booleans())
def test_matches_reference(case: dict[str, Any], segmented: bool) -> None:
    data: pl.DataFrame = case.pop("data")
    by = "seg" if segmented else None
    got = nps(data, by=by, **case)
    want = reference_nps(data.to_dicts(), by=by, **case)
    assert_rows_match(got, want)
    # passives complete the count; the interval is symmetric around the score
    assert (got["promoters"] + got["passives"] + got["detractors"] == got["responses"]).all()


@given(cases())
def test_lazy_equals_eager_and_dataset(case: dict[str, Any]) -> None:
    data: pl.DataFrame = case.pop("data")
    eager = nps(data, by="seg", **case)
    lazy = nps(data.lazy(), by="seg", **case)
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.collect().equals(eager)
    assert nps(Dataset(responses=data), by="seg", **case).equals(eager)


@given(cases())
def test_by_equals_filter(case: dict[str, Any]) -> None:
    data: pl.DataFrame = case.pop("data")
    segmented = nps(data, by="seg", **case)
    for value in [*data["seg"].drop_nulls().unique().to_list(), None]:
        alone = data.filter(pl.col("seg").is_null() if value is None else pl.col("seg") == value)
        expected = nps(alone, **case)
        part = segmented.filter(pl.col("seg").is_null() if value is None else pl.col("seg") == value)
        assert part.drop("seg").equals(expected)


# --- hand-computed examples -----------------------------------------------------------------


def test_hand_example_one_period() -> None:
    # Six answers in March 2024: 10, 9 (promoters), 8, 7 (passives), 6, 0 (detractors).
    # nps = 100 * (2 - 2) / 6 = 0.  pp = pd = 1/3: var = 2/3 - 0 = 2/3, se = 100 * sqrt((2/3) / 6) = 100 / 3.
    # 95%: 0 -/+ 1.959964 * 33.3333 = -/+ 65.3321.
    data = frame([("a", at(2024, 3, d), s) for d, s in zip(range(1, 7), [10, 9, 8, 7, 6, 0], strict=True)])
    got = nps(data, as_of=dt.date(2024, 3, 31))
    assert got.columns == ["period", "is_complete", *COUNTS, *FLOATS]
    row = got.row(0, named=True)
    assert row["period"] == dt.date(2024, 3, 1) and row["is_complete"] is True
    assert (row["responses"], row["promoters"], row["passives"], row["detractors"]) == (6, 2, 2, 2)
    assert row["nps"] == 0.0
    assert row["ci_upper"] == pytest.approx(Z95 * 100 / 3) == pytest.approx(65.3321, abs=1e-4)
    assert row["ci_lower"] == pytest.approx(-Z95 * 100 / 3)
    assert got.schema["period"] == pl.Date and got.schema["responses"] == pl.UInt32


def test_hand_example_interval_beyond_100_and_clip() -> None:
    # 10, 9, 7, 3: n = 4, P = 2, D = 1, nps = 100 * (2 - 1) / 4 = 25.
    # pp = 0.5, pd = 0.25: var = 0.75 - 0.0625 = 0.6875, se = 100 * sqrt(0.6875 / 4) = 41.4578.
    # 95%: 25 -/+ 1.959964 * 41.4578 = 25 -/+ 81.2558 -> (-56.2558, 106.2558); the upper bound passes 100.
    data = frame(
        [("a", at(2024, 3, 1), 10), ("b", at(2024, 3, 2), 9), ("c", at(2024, 3, 3), 7), ("d", at(2024, 3, 4), 3)]
    )
    row = nps(data).row(0, named=True)
    assert row["nps"] == 25.0
    se = 100 * math.sqrt(0.6875 / 4)
    assert se == pytest.approx(41.4578, abs=1e-4)
    assert (row["ci_lower"], row["ci_upper"]) == (pytest.approx(25 - Z95 * se), pytest.approx(25 + Z95 * se))
    assert row["ci_upper"] == pytest.approx(106.2558, abs=1e-4)
    clipped = nps(data, clip=True).row(0, named=True)
    assert clipped["ci_upper"] == 100.0 and clipped["ci_lower"] == pytest.approx(-56.2558, abs=1e-4)


def test_hand_example_sauro_style_margin() -> None:
    # 100 answers: 50 promoters, 30 passives, 20 detractors -> nps = 30.
    # var = (0.5 + 0.2) - 0.3^2 = 0.61, se = 100 * sqrt(0.61 / 100) = 7.8102; 95%: 30 -/+ 15.3079 -> (14.69, 45.31).
    # 90% (z = 1.644854): 30 -/+ 12.8467.
    scores = [10] * 25 + [9] * 25 + [8] * 15 + [7] * 15 + [6] * 10 + [1] * 10
    data = frame([(f"c{i}", at(2024, 1, 1 + i % 28), s) for i, s in enumerate(scores)])
    row = nps(data, period="year").row(0, named=True)
    assert (row["responses"], row["promoters"], row["passives"], row["detractors"]) == (100, 50, 30, 20)
    assert row["nps"] == pytest.approx(30.0)
    assert (row["ci_lower"], row["ci_upper"]) == (pytest.approx(14.6921, abs=1e-4), pytest.approx(45.3079, abs=1e-4))
    row90 = nps(data, period="year", level=0.9).row(0, named=True)
    assert row90["ci_upper"] - 30 == pytest.approx(1.6448536269514722 * 7.810249675906654)


def test_all_promoters_or_all_detractors_have_zero_width() -> None:
    # pp = 1: var = 1 - 1 = 0, so the interval is the point 100 (and -100 for all detractors).
    data = frame([("a", at(2024, 1, 5), 10), ("b", at(2024, 1, 6), 9), ("c", at(2024, 2, 5), 0)])
    got = nps(data)
    assert got.select("nps", "ci_lower", "ci_upper").rows() == [(100.0, 100.0, 100.0), (-100.0, -100.0, -100.0)]


def test_gap_periods_have_zero_responses_and_null_score() -> None:
    # January (10), nothing in February, March (3): the window runs January..March.
    data = frame([("a", at(2024, 1, 10), 10), ("b", at(2024, 3, 10), 3)])
    got = nps(data)
    assert got["period"].to_list() == [dt.date(2024, 1, 1), dt.date(2024, 2, 1), dt.date(2024, 3, 1)]
    assert got["responses"].to_list() == [1, 0, 1]
    assert got["nps"].to_list() == [100.0, None, -100.0]
    assert got["ci_lower"][1] is None and got["ci_upper"][1] is None
    # the last period holds the last response: incomplete without as_of
    assert got["is_complete"].to_list() == [True, True, False]


def test_as_of_extends_and_cuts_the_window() -> None:
    data = frame([("a", at(2024, 1, 10), 10), ("b", at(2024, 3, 10), 3)])
    # as_of = 2024-04-30 (a date: through its end, i.e. up to 2024-05-01T00:00Z): April appears, empty, complete.
    got = nps(data, as_of=dt.date(2024, 4, 30))
    assert got["period"].to_list()[-1] == dt.date(2024, 4, 1)
    assert got["responses"].to_list() == [1, 0, 1, 0] and got["is_complete"].to_list() == [True] * 4
    # as_of = 2024-03-01T00:00Z exactly: the March response is after it and March is outside the window.
    cut = nps(data, as_of=dt.datetime(2024, 3, 1, tzinfo=UTC))
    assert cut["period"].to_list() == [dt.date(2024, 1, 1), dt.date(2024, 2, 1)]
    assert cut["responses"].to_list() == [1, 0] and cut["is_complete"].to_list() == [True, True]


def test_response_exactly_on_a_boundary_is_in_its_own_period() -> None:
    # 2024-02-01T00:00Z is the first instant of February (UTC): February is a period of the window.
    data = frame([("a", at(2024, 1, 10), 10), ("b", dt.datetime(2024, 2, 1, tzinfo=UTC), 0)])
    got = nps(data)
    assert got["period"].to_list() == [dt.date(2024, 1, 1), dt.date(2024, 2, 1)]
    assert got["nps"].to_list() == [100.0, -100.0]


def test_time_zone_moves_a_response_to_the_next_month() -> None:
    # 2024-01-31T23:30Z is 2024-02-01 00:30 in Paris (UTC+1).
    data = frame([("a", at(2024, 1, 10), 10), ("b", dt.datetime(2024, 1, 31, 23, 30, tzinfo=UTC), 0)])
    assert nps(data)["responses"].to_list() == [2]
    paris = nps(data, tz="Europe/Paris")
    assert paris["period"].to_list() == [dt.date(2024, 1, 1), dt.date(2024, 2, 1)]
    assert paris["responses"].to_list() == [1, 1]


def test_week_start() -> None:
    # 2024-03-03 is a Sunday: ISO weeks (Monday start) put it in the week of 2024-02-26; Sunday-start weeks
    # (week_start=6) start a new week on it.
    data = frame([("a", at(2024, 3, 2), 10), ("b", at(2024, 3, 3), 0)])
    assert nps(data, period="week")["period"].to_list() == [dt.date(2024, 2, 26)]
    assert nps(data, period="week", week_start=6)["period"].to_list() == [dt.date(2024, 2, 25), dt.date(2024, 3, 3)]


def test_period_none_is_one_row_per_segment() -> None:
    data = frame([("a", at(2024, 1, 10), 10), ("b", at(2024, 3, 10), 3), ("c", at(2024, 5, 1), 8)], seg=["x", "y", "x"])
    whole = nps(data, period=None)
    assert whole.columns == [*COUNTS, *FLOATS]
    # 10, 3, 8: P = 1, D = 1, n = 3 -> 0
    assert whole.select(*COUNTS, "nps").row(0) == (3, 1, 1, 1, 0.0)
    by = nps(data, period=None, by="seg")
    assert by.select("seg", "responses", "nps").rows() == [("x", 2, 100 * (1 - 0) / 2), ("y", 1, -100.0)]
    # as_of before May leaves the score-8 answer out
    assert nps(data, period=None, as_of=dt.date(2024, 4, 30))["responses"].to_list() == [2]


def test_empty_input() -> None:
    empty = frame([])
    assert nps(empty).height == 0 and nps(empty).columns == ["period", "is_complete", *COUNTS, *FLOATS]
    assert nps(empty, period=None).height == 0
    assert nps(empty.with_columns(seg=pl.lit("x")).lazy(), by="seg").collect().height == 0


def test_by_from_customers_table_and_synthetic_store() -> None:
    from retainlib.samples import synthetic_store

    ds = synthetic_store(customers=300, seed=3)
    got = nps(ds, by="channel", period="quarter")
    assert got.columns[:2] == ["channel", "period"]
    assert (got["promoters"] + got["passives"] + got["detractors"] == got["responses"]).all()
    # segment totals add up to the unsegmented counts per period
    total = nps(ds, period="quarter").select("period", "responses")
    summed = got.group_by("period").agg(pl.col("responses").sum().cast(pl.UInt32)).sort("period")
    joined = total.join(summed, on="period", how="left", suffix="_by").fill_null(0)
    assert (joined["responses"] == joined["responses_by"]).all()


def test_null_segment_is_a_segment() -> None:
    data = frame([("a", at(2024, 1, 10), 10), ("b", at(2024, 1, 11), 0)], seg=[None, "x"])
    got = nps(data, by="seg")
    assert got.select("seg", "nps").rows() == [(None, 100.0), ("x", -100.0)]


def test_r_package_formula(shared_data: Path) -> None:
    # The published reference (R package NPS 1.1, B. Rocks) defines nps = %promoters - %detractors and
    # var = (p_pro + p_det) - (p_pro - p_det)^2, se = sqrt(var / n), interval nps -/+ qnorm(1 - alpha/2) * se
    # (unclipped).  R's nps.se(c(10, 10, 9, 8, 7, 6, 5, 3, 0, 10)): P = 4, D = 4, n = 10 -> nps 0,
    # var = 0.8 - 0 = 0.8, se = sqrt(0.08) = 0.2828427; on our 0..100 scale 28.28427.
    ref = json.loads((shared_data / "reference" / "published_reference_values.json").read_text())["nps"]
    assert "(p_pro + p_det) - (p_pro - p_det)^2" in ref["variance"]
    scores = [10, 10, 9, 8, 7, 6, 5, 3, 0, 10]
    data = frame([(f"c{i}", at(2024, 6, 1 + i), s) for i, s in enumerate(scores)])
    row = nps(data).row(0, named=True)
    assert row["nps"] == 0.0
    assert row["ci_upper"] == pytest.approx(Z95 * 100 * math.sqrt(0.08))


# --- bad input ------------------------------------------------------------------------------


def test_out_of_range_and_fractional_scores_are_rejected_eagerly() -> None:
    data = frame([("a", at(2024, 1, 1), 9), ("b", at(2024, 1, 2), 7), ("c", at(2024, 1, 3), 3)])
    high = data.with_columns(pl.Series("score", [11, 7, 3], dtype=pl.Int8))  # canonical type, bad value
    with pytest.raises(DataError) as info:
        nps(high)
    [problem] = info.value.problems
    assert (problem.column, problem.reason, problem.count) == ("score", "score outside 0..10", 1)
    assert problem.rows["row"].to_list() == [1]
    fractional = data.with_columns(pl.Series("score", [9.0, 7.5, -1.0]))
    with pytest.raises(DataError) as info:
        nps(fractional)
    reasons = {(p.column, p.reason): p.rows["row"].to_list() for p in info.value.problems}
    assert reasons == {("score", "not an integer score"): [2], ("score", "score outside 0..10"): [3]}
    missing = data.with_columns(pl.Series("score", [9, None, 3], dtype=pl.Int64))
    with pytest.raises(DataError, match="score: missing value"):
        nps(missing)


def test_lazy_input_with_bad_scores_raises_at_collect() -> None:
    data = frame([("a", at(2024, 1, 1), 9), ("b", at(2024, 1, 2), 7), ("c", at(2024, 1, 3), 3)])
    for bad in (pl.Series("score", [11, 7, 3], dtype=pl.Int8), pl.Series("score", [9.0, 7.5, 3.0])):
        query = nps(data.with_columns(bad).lazy())  # nothing read yet
        with pytest.raises(DataError, match="score") as info:
            query.collect()
        assert [p.count for p in info.value.problems] == [1]
    with pytest.raises(DataError):
        Dataset(responses=data.with_columns(pl.Series("score", [11, 7, 3])).lazy())


def test_bad_options() -> None:
    data = frame([("a", at(2024, 1, 1), 9)])
    with pytest.raises(OptionError, match="period"):
        nps(data, period="fortnight")  # type: ignore[call-overload]
    for level in (0, 1, 1.5, -0.1, "0.95", True):
        with pytest.raises(OptionError, match="level"):
            nps(data, level=level)  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="clip"):
        nps(data, clip="yes")  # type: ignore[call-overload]
    with pytest.raises(OptionError, match="time zone"):
        nps(data, tz="Mars/Olympus")
    with pytest.raises(OptionError, match="as_of"):
        nps(data, as_of=dt.datetime(2024, 1, 1))
    with pytest.raises(OptionError, match="week_start"):
        nps(data, period="week", week_start=7)


def test_wrong_table_and_missing_columns() -> None:
    orders = pl.DataFrame(
        {"order_id": ["o1"], "customer_id": ["a"], "ordered_at": [at(2024, 1, 1)], "amount": ["1"], "currency": ["EUR"]}
    )
    with pytest.raises(SchemaError, match="responses"):
        nps(orders)
    with pytest.raises(SchemaError, match="responses"):
        nps(frame([("a", at(2024, 1, 1), 9)]).drop("score"))
    with pytest.raises(SchemaError, match="channel"):
        nps(frame([("a", at(2024, 1, 1), 9)]), by="channel")
    with pytest.raises(SchemaError):
        nps(Dataset(orders=orders))
    with pytest.raises(OptionError):
        nps([1, 2, 3])  # type: ignore[call-overload]


def test_z_value() -> None:
    assert z_value(0.95) == pytest.approx(Z95, rel=1e-15)
    assert z_value(0.9) == pytest.approx(NormalDist().inv_cdf(0.95), rel=1e-14)


@pytest.mark.parametrize("engine", ["auto", "streaming", "in-memory"])
@pytest.mark.parametrize("period", ["month", None])
def test_every_engine_gives_the_same_result(engine: Any, period: PeriodName | None) -> None:
    data = frame(
        [("a", at(2024, 1, 1), 9), ("b", at(2024, 1, 9), 3), ("a", at(2024, 3, 2), 10), ("c", at(2024, 3, 5), 7)],
        channel=["x", "y", "x", "x"],
    )
    want = nps(data, period=period, by="channel")
    assert nps(data, period=period, by="channel", engine=engine).equals(want)
    assert nps(data.lazy(), period=period, by="channel", engine=engine).collect(engine=engine).equals(want)
    with pytest.raises(OptionError, match="engine") as info:
        nps(data, period=period, engine="gpu")  # type: ignore[call-overload]
    assert info.value.option == "engine"


def test_a_placeholder_date_is_refused_rather_than_expanded() -> None:
    rows = [(f"c{i}", dt.datetime(2024, 1, 1 + i, tzinfo=dt.UTC), 9) for i in range(20)]
    placeholder = frame([*rows, ("c0", dt.datetime(9999, 12, 31, tzinfo=dt.UTC), 5)])
    for lazy in (False, True):
        with pytest.raises(DataError, match="weeks") as info:
            nps(placeholder.lazy(), period="week").collect() if lazy else nps(placeholder, period="week")
        assert info.value.problems[0].rows["response_id"].to_list() == ["r21"]  # the 9999-12-31 answer only
    assert nps(frame(rows), period="week").height == 3
