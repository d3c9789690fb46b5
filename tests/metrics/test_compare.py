"""Tests for ``compare``: Wilson intervals and pooled two-proportion z-tests against plain Python."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from statistics import NormalDist
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from retainlib.errors import DataError, OptionError, SchemaError
from retainlib.metrics.compare import compare

OUT = ["successes", "trials", "rate", "ci_lower", "ci_upper", "difference", "p_value"]
FLOATS = ("rate", "ci_lower", "ci_upper", "difference", "p_value")


# --- the plain-Python reference ------------------------------------------------------------


def wilson(s: int, n: int, level: float) -> tuple[float | None, float | None]:
    """Wilson score interval in its textbook form: (p + z²/2n -/+ z sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)."""
    if n == 0:
        return None, None
    z = NormalDist().inv_cdf(1 - (1 - level) / 2)
    p = s / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, center - half), min(1.0, center + half)


def z_test(s1: int, n1: int, s2: int, n2: int) -> float | None:
    """Two-sided p-value of the pooled two-proportion z-test (None when undefined)."""
    if n1 == 0 or n2 == 0:
        return None
    pooled = (s1 + s2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return None
    z = (s1 / n1 - s2 / n2) / se
    return math.erfc(abs(z) / math.sqrt(2))  # = 2 * (1 - Phi(|z|)), accurate in the tails


def reference_compare(
    rows: list[dict[str, Any]], *, by: list[str], group: str, s: str, n: str, reference: Any, level: float
) -> list[dict[str, Any]]:
    pooled: dict[tuple[Any, ...], dict[Any, list[int]]] = defaultdict(dict)
    for r in rows:
        counts = pooled[tuple(r[w] for w in by)].setdefault(r[group], [0, 0])
        counts[0] += r[s]
        counts[1] += r[n]
    fixed = [i for i, w in enumerate(by) if w not in ("period", "cohort", "period_number")]

    def baseline(key: tuple[Any, ...]) -> Any:
        """The reference of a stratum: given, or the first group with a trial among the strata sharing
        the stratum's non-time values."""
        if reference is not None:
            return reference
        tried = {
            g
            for other, per in pooled.items()
            if all(other[i] == key[i] for i in fixed)
            for g, (_, t) in per.items()
            if t > 0 and g is not None
        }
        return min(tried, default=None)

    def order(v: Any) -> tuple[bool, Any]:
        return (v is None, v)  # nulls last

    out = []
    for key in sorted(pooled, key=lambda k: tuple(order(v) for v in k)):
        per = pooled[key]
        base = baseline(key)
        ref = per.get(base) if base is not None else None
        for g in sorted(per, key=order):
            succ, tri = per[g]
            rate = succ / tri if tri else None
            lower, upper = wilson(succ, tri, level)
            is_ref = base is not None and g == base
            ref_rate = ref[0] / ref[1] if ref and ref[1] else None
            out.append(
                dict(zip(by, key, strict=True))
                | {
                    group: g,
                    "successes": succ,
                    "trials": tri,
                    "rate": rate,
                    "ci_lower": lower,
                    "ci_upper": upper,
                    "difference": None if rate is None or ref_rate is None else rate - ref_rate,
                    "p_value": None if is_ref or ref is None else z_test(succ, tri, ref[0], ref[1]),
                }
            )
    return out


def assert_rows_match(got: pl.DataFrame, want: list[dict[str, Any]]) -> None:
    rows = got.to_dicts()
    assert len(rows) == len(want), (rows, want)
    for g, w in zip(rows, want, strict=True):
        assert list(g) == list(w)
        for k, v in w.items():
            if k in FLOATS and v is not None:
                assert g[k] == pytest.approx(v, rel=1e-9, abs=1e-12), (k, g, w)
            else:
                assert g[k] == v, (k, g, w)


@st.composite
def rate_frames(draw: st.DrawFn) -> pl.DataFrame:
    """retention_rate(..., by="channel")-shaped frames: several rows may share (period, channel)."""
    size = draw(st.integers(0, 12))
    periods = draw(st.lists(st.sampled_from([dt.date(2024, 1, 1), dt.date(2024, 2, 1)]), min_size=size, max_size=size))
    channels = draw(st.lists(st.sampled_from(["ads", "email", "web", None]), min_size=size, max_size=size))
    trials = draw(st.lists(st.one_of(st.integers(0, 3), st.integers(0, 400)), min_size=size, max_size=size))
    succ = [draw(st.integers(0, t)) for t in trials]
    return pl.DataFrame(
        {
            "channel": pl.Series(channels, dtype=pl.String),
            "period": pl.Series(periods, dtype=pl.Date),
            "is_complete": pl.Series([True] * size, dtype=pl.Boolean),
            "start": pl.Series(trials, dtype=pl.UInt32),
            "retained": pl.Series(succ, dtype=pl.UInt32),
            "retention_rate": pl.Series(
                [s / t if t else None for s, t in zip(succ, trials, strict=True)], dtype=pl.Float64
            ),
        }
    )


LEVELS = st.sampled_from([0.95, 0.9, 0.99])


# --- property tests -------------------------------------------------------------------------


@given(rate_frames(), LEVELS, st.sampled_from([None, "ads", "web"]))
def test_matches_reference_per_period(data: pl.DataFrame, level: float, reference: str | None) -> None:
    if reference is not None and reference not in data["channel"].to_list():
        reference = None  # eager input with an absent reference is an error (tested below)
    got = compare(data, level=level, reference=reference)
    assert got.columns == ["period", "channel", *OUT]
    want = reference_compare(
        data.to_dicts(), by=["period"], group="channel", s="retained", n="start", reference=reference, level=level
    )
    assert_rows_match(got, want)


@given(rate_frames(), st.data())
def test_matches_reference_by_breakdown(data: pl.DataFrame, draw: st.DataObject) -> None:
    # support_retention-shaped: the baseline is chosen per breakdown, the same in every period.
    breakdown = draw.draw(st.lists(st.sampled_from(["x", "y"]), min_size=data.height, max_size=data.height))
    shaped = data.rename({"start": "customers", "channel": "group"}).with_columns(
        breakdown=pl.Series(breakdown, dtype=pl.String)
    )
    got = compare(shaped)
    assert got.columns == ["period", "breakdown", "group", *OUT]
    want = reference_compare(
        shaped.to_dicts(),
        by=["period", "breakdown"],
        group="group",
        s="retained",
        n="customers",
        reference=None,
        level=0.95,
    )
    assert_rows_match(got, want)


@given(rate_frames(), LEVELS)
def test_matches_reference_over_the_whole_frame(data: pl.DataFrame, level: float) -> None:
    # Without a period column the groups' counts are pooled over all rows.
    plain = data.drop("period").rename({"start": "customers", "retained": "repeat_customers"})
    got = compare(plain, level=level)
    assert got.columns == ["channel", *OUT]
    want = reference_compare(
        plain.to_dicts(), by=[], group="channel", s="repeat_customers", n="customers", reference=None, level=level
    )
    assert_rows_match(got, want)


@given(rate_frames())
def test_lazy_equals_eager(data: pl.DataFrame) -> None:
    lazy = compare(data.lazy())
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.collect().equals(compare(data))


@given(rate_frames())
def test_interval_contains_rate_and_reference_row(data: pl.DataFrame) -> None:
    got = compare(data).filter(pl.col("trials") > 0)
    assert ((got["ci_lower"] <= got["rate"]) & (got["rate"] <= got["ci_upper"])).all()
    assert ((got["ci_lower"] >= 0) & (got["ci_upper"] <= 1)).all()
    reference = data.filter(pl.col("start") > 0)["channel"].drop_nulls().min()
    if reference is None:
        return
    ref = got.filter(pl.col("channel") == reference)
    assert ref["p_value"].null_count() == ref.height and (ref["difference"] == 0).all()


# --- textbook examples ----------------------------------------------------------------------


def test_wilson_newcombe_1998() -> None:
    # Newcombe (1998), Stat Med 17:857-872, Table I, method 3 (Wilson score, no continuity correction):
    #   81/263 -> 0.2553, 0.3662;  15/148 -> 0.0624, 0.1605;  0/20 -> 0, 0.1611;  1/29 -> 0.0061, 0.1718.
    # By hand for 81/263 with z² = 1.959964² = 3.841459:
    #   2s + z² = 165.841459;  4 s (n - s) / n = 4 * 81 * 182 / 263 = 224.212928;  sqrt(z² + that) = 15.101470;
    #   z * 15.101470 = 29.598337;  2 (n + z²) = 533.682918;
    #   lower = (165.841459 - 29.598337) / 533.682918 = 0.255289;  upper = 195.439796 / 533.682918 = 0.366210.
    # For 0/20 the bounds are 0 and z² / (n + z²) = 3.841459 / 23.841459 = 0.161125.
    data = pl.DataFrame({"trial": ["a", "b", "c", "d"], "s": [81, 15, 0, 1], "n": [263, 148, 20, 29]})
    got = compare(data, successes="s", trials="n")
    assert got["ci_lower"].round(4).to_list() == [0.2553, 0.0624, 0.0, 0.0061]
    assert got["ci_upper"].round(4).to_list() == [0.3662, 0.1605, 0.1611, 0.1718]
    assert got["ci_lower"][0] == pytest.approx(0.255289, abs=1e-6)
    assert got["ci_upper"][0] == pytest.approx(0.366210, abs=1e-6)
    assert got["ci_upper"][2] == pytest.approx(3.8414588206941236 / 23.841458820694124, rel=1e-12)


def test_z_test_by_hand() -> None:
    # ads 80/200 = 0.40 (reference: first in sort order), email 60/100 = 0.60.
    # pooled p = 140/300 = 0.466667;  se = sqrt(0.466667 * 0.533333 * (1/200 + 1/100)) = sqrt(0.0037333) = 0.0611010;
    # z = 0.2 / 0.0611010 = 3.273268;  p = 2 (1 - Phi(3.273268)) = 0.0010631
    # (the same as R's prop.test(c(60, 80), c(100, 200), correct = FALSE): X-squared = z² = 10.714, p = 0.001063).
    data = pl.DataFrame({"channel": ["email", "ads"], "start": [100, 200], "retained": [60, 80]})
    got = compare(data)
    assert got["channel"].to_list() == ["ads", "email"]
    assert got["rate"].to_list() == [0.4, 0.6]
    assert got["difference"].to_list() == [0.0, pytest.approx(0.2)]
    assert got["p_value"][0] is None
    assert got["p_value"][1] == pytest.approx(0.0010631149171586, rel=1e-9)
    flipped = compare(data, reference="email")
    assert flipped["difference"].to_list() == [pytest.approx(-0.2), 0.0]
    assert flipped["p_value"][0] == pytest.approx(0.0010631149171586, rel=1e-9)


def test_far_tail_p_value_is_accurate() -> None:
    # 900/1000 against 100/1000: pooled p = 0.5, se = sqrt(0.25 * 0.002) = 0.0223607, z = 0.8 / 0.0223607 = 35.777;
    # p = erfc(35.777 / sqrt 2) ~ 1.1e-280: representable, not rounded to 0 as 1 - Phi(z) would be.
    data = pl.DataFrame({"g": ["a", "b"], "start": [1000, 1000], "retained": [100, 900]})
    p = compare(data)["p_value"][1]
    assert p == pytest.approx(math.erfc(0.8 / math.sqrt(0.25 * 0.002) / math.sqrt(2)), rel=1e-9)
    assert 0 < p < 1e-270


def test_support_retention_shape_compares_by_breakdown() -> None:
    jan, feb = dt.date(2024, 1, 1), dt.date(2024, 2, 1)
    support = pl.DataFrame(
        {
            "period": [jan] * 4 + [feb] * 4,
            "breakdown": ["group", "group", "satisfaction", "satisfaction"] * 2,
            "group": ["supported", "baseline", "satisfaction: good", "satisfaction: bad"] * 2,
            "customers": [10, 50, 6, 4, 4, 0, 4, 0],
            "retained": [8, 25, 6, 2, 4, 0, 4, 0],
            "retention_rate": [0.8, 0.5, 1.0, 0.5, 1.0, None, 1.0, None],
        }
    )
    got = compare(support)
    assert got.columns == ["period", "breakdown", "group", *OUT]
    # Baselines: "baseline" for breakdown "group", "satisfaction: bad" for "satisfaction" (first in sort order).
    # January: supported 8/10 - baseline 25/50 = 0.3; good 6/6 - bad 2/4 = 0.5.
    # February: both baselines have 0 customers, so nothing is compared there.
    assert got.select("period", "group").rows() == [
        (jan, "baseline"),
        (jan, "supported"),
        (jan, "satisfaction: bad"),
        (jan, "satisfaction: good"),
        (feb, "baseline"),
        (feb, "supported"),
        (feb, "satisfaction: bad"),
        (feb, "satisfaction: good"),
    ]
    assert got["difference"].to_list() == [0.0, pytest.approx(0.3), 0.0, pytest.approx(0.5), None, None, None, None]
    assert got["p_value"][1] == pytest.approx(z_test(8, 10, 25, 50))
    assert got["p_value"][3] == pytest.approx(z_test(6, 6, 2, 4))
    assert got["rate"].to_list()[4:] == [None, 1.0, None, 1.0]
    want = reference_compare(
        support.to_dicts(),
        by=["period", "breakdown"],
        group="group",
        s="retained",
        n="customers",
        reference=None,
        level=0.95,
    )
    assert_rows_match(got, want)


def test_repeat_and_returning_shapes() -> None:
    repeat = pl.DataFrame(
        {"channel": ["a", "b"], "customers": [10, 10], "repeat_customers": [3, 3], "repeat_purchase_rate": [0.3, 0.3]}
    )
    # equal rates: z = 0, p = 1
    assert compare(repeat)["p_value"].to_list() == [None, pytest.approx(1.0)]
    returning = pl.DataFrame(
        {
            "country": ["DE", "FR"],
            "period": [dt.date(2024, 1, 1)] * 2,
            "is_complete": [True, True],
            "customers": [10, 10],
            "returning_customers": [0, 0],
            "returning_customer_rate": [0.0, 0.0],
        }
    )
    # pooled p = 0: the test is undefined -> null, never NaN
    got = compare(returning)
    assert got.columns == ["period", "country", *OUT]
    assert got["p_value"].to_list() == [None, None] and got["difference"].to_list() == [0.0, 0.0]


def test_cohort_frames_compare_by_cohort_and_period_number() -> None:
    cohorts = pl.DataFrame(
        {
            "channel": ["a", "b", "a", "b"],
            "cohort": [dt.date(2024, 1, 1)] * 4,
            "period_number": [0, 0, 1, 1],
            "cohort_size": [10, 20, 10, 20],
            "active": [10, 20, 5, 5],
            "retention": [1.0, 1.0, 0.5, 0.25],
        }
    )
    got = compare(cohorts, successes="active", trials="cohort_size")
    assert got.columns == ["cohort", "period_number", "channel", *OUT]
    assert got["difference"].to_list() == [0.0, 0.0, 0.0, -0.25]


def test_pooling_rows_of_one_group_and_explicit_by() -> None:
    # by=["channel", "country"] compared by channel: counts are summed over countries.
    data = pl.DataFrame(
        {
            "channel": ["a", "a", "b"],
            "country": ["DE", "FR", "DE"],
            "start": [10, 30, 20],
            "retained": [5, 15, 4],
        }
    )
    with pytest.raises(OptionError, match="ambiguous"):
        compare(data)
    got = compare(data, group="channel")
    assert got.select("channel", "successes", "trials").rows() == [("a", 20, 40), ("b", 4, 20)]
    per_country = compare(data, group="channel", by="country")
    assert per_country.select("country", "channel", "difference").rows() == [
        ("DE", "a", 0.0),
        ("DE", "b", pytest.approx(4 / 20 - 5 / 10)),
        ("FR", "a", 0.0),
    ]


def test_zero_trials_and_null_group() -> None:
    data = pl.DataFrame(
        {
            "period": [1, 1, 1, 2, 2],
            "channel": ["a", None, "b", "b", "c"],
            "start": [0, 4, 5, 0, 2],
            "retained": [0, 2, 1, 0, 1],
        }
    )
    got = compare(data)
    # "a" never has a trial, so the default reference is "b" (first in sort order with a trial).
    # Period 1: a has null rate and interval; b 1/5 = 0.2 is the baseline; the null group 2/4 = 0.5 differs by 0.3.
    # Period 2: b has 0 trials there, so nothing is compared in that period.
    assert got.select("period", "channel").rows() == [(1, "a"), (1, "b"), (1, None), (2, "b"), (2, "c")]
    assert got.row(0) == (1, "a", 0, 0, None, None, None, None, None)
    assert got["rate"].to_list() == [None, 0.2, 0.5, None, 0.5]
    assert got["difference"].to_list() == [None, 0.0, pytest.approx(0.3), None, None]
    assert got["p_value"].to_list()[3:] == [None, None]
    assert got["p_value"][2] == pytest.approx(z_test(2, 4, 1, 5))


def test_empty_frame() -> None:
    data = pl.DataFrame(schema={"channel": pl.String, "period": pl.Date, "start": pl.UInt32, "retained": pl.UInt32})
    got = compare(data)
    assert got.height == 0 and got.columns == ["period", "channel", *OUT]


# --- bad input ------------------------------------------------------------------------------


def test_bad_counts_are_rejected_eagerly() -> None:
    data = pl.DataFrame({"channel": ["a", "b", "c", "d"], "start": [5, -1, 3, None], "retained": [6, 0, -2, 1]})
    with pytest.raises(DataError) as info:
        compare(data)
    found = {(p.column, p.reason): p.rows["row"].to_list() for p in info.value.problems}
    assert found == {
        ("start", "missing value"): [4],
        ("retained", "negative count"): [3],
        ("start", "negative count"): [2],
        ("retained", "retained greater than start"): [1, 2],  # 0 > -1 too
    }


def test_bad_counts_in_lazy_input_give_nulls() -> None:
    data = pl.DataFrame({"channel": ["a", "b", "b"], "start": [5, 10, 3], "retained": [2, 6, 4]})
    got = compare(data.lazy()).collect()
    # group b has a row with 4 retained out of 3: its whole pooled row is null
    assert got.row(1) == ("b", None, None, None, None, None, None, None)
    assert got["rate"][0] == 0.4


def test_missing_and_ambiguous_columns() -> None:
    data = pl.DataFrame({"channel": ["a"], "start": [5], "retained": [2]})
    with pytest.raises(SchemaError, match="no successes/trials pair"):
        compare(data.drop("start"))
    with pytest.raises(OptionError, match="both"):
        compare(data, successes="retained")
    with pytest.raises(SchemaError, match="nope"):
        compare(data, successes="nope", trials="start")
    with pytest.raises(SchemaError, match="nope"):
        compare(data, group="nope")
    with pytest.raises(SchemaError, match="nope"):
        compare(data, by="nope")
    with pytest.raises(OptionError, match="no group column"):
        compare(data.drop("channel"))
    with pytest.raises(OptionError, match="several successes/trials pairs"):
        compare(data.with_columns(customers=pl.lit(5)))
    with pytest.raises(SchemaError, match="integers"):
        compare(data.with_columns(pl.col("start").cast(pl.Float64)))
    with pytest.raises(OptionError, match="different"):
        compare(data, successes="start", trials="start")
    with pytest.raises(OptionError, match="count column"):
        compare(data, by="start")
    with pytest.raises(OptionError, match="group"):
        compare(data, group="start")


def test_bad_reference_and_options() -> None:
    data = pl.DataFrame({"channel": ["a", "b"], "start": [5, 5], "retained": [2, 3]})
    with pytest.raises(OptionError, match="reference"):
        compare(data, reference="zzz")  # absent from eager input
    assert compare(data.lazy(), reference="zzz").collect()["difference"].to_list() == [None, None]
    ints = pl.DataFrame({"cohort_year": [2023, 2024], "start": [5, 5], "retained": [2, 3]})
    with pytest.raises(OptionError, match="reference"):
        compare(ints.lazy(), reference="x")  # not even a value of the column's type
    assert compare(ints, reference=2024)["difference"].to_list() == [pytest.approx(-0.2), 0.0]
    for level in (0, 1, "x"):
        with pytest.raises(OptionError, match="level"):
            compare(data, level=level)  # type: ignore[arg-type]
    with pytest.raises(OptionError):
        compare({"channel": ["a"]})  # type: ignore[call-overload]


# --- the shared vocabulary: by segments, group is compared, engine runs the collect ---------


def test_by_means_segments_and_empty_by_pools_every_row() -> None:
    data = pl.DataFrame(
        {
            "period": [1, 1, 2, 2],
            "channel": ["a", "b", "a", "b"],
            "start": [10, 10, 10, 30],
            "retained": [5, 2, 5, 6],
        }
    )
    per_period = compare(data)  # default by: the period column present
    assert compare(data, by="period").equals(per_period)
    assert per_period.select("period", "channel", "successes").rows() == [
        (1, "a", 5),
        (1, "b", 2),
        (2, "a", 5),
        (2, "b", 6),
    ]
    pooled = compare(data, group="channel", by=())
    assert pooled.columns == ["channel", *OUT]
    assert pooled.select("channel", "successes", "trials").rows() == [("a", 10, 20), ("b", 8, 40)]
    assert pooled["difference"][1] == pytest.approx(8 / 40 - 10 / 20)
    with pytest.raises(OptionError, match="by") as info:
        compare(data, by=["period", "period"])
    assert info.value.option == "by"
    with pytest.raises(OptionError, match="by"):
        compare(data, by=[1])  # type: ignore[list-item]
    with pytest.raises(OptionError, match="group") as group_info:
        compare(data, group="period", by="period")
    assert group_info.value.option == "group"
    with pytest.raises(TypeError):
        compare(data, within="period")  # type: ignore[call-overload]


@pytest.mark.parametrize("engine", ["auto", "streaming", "in-memory"])
def test_every_engine_gives_the_same_result(engine: Any) -> None:
    data = pl.DataFrame(
        {
            "channel": ["a", "b", "c"] * 2,
            "period": [1] * 3 + [2] * 3,
            "start": [50, 40, 0, 9, 8, 7],
            "retained": [9, 30, 0, 1, 2, 7],
        }
    )
    want = compare(data)
    assert compare(data, engine=engine).equals(want)
    assert compare(data.lazy(), engine=engine).collect().equals(want)
    with pytest.raises(OptionError, match="engine") as info:
        compare(data, engine="gpu-please")  # type: ignore[call-overload]
    assert info.value.option == "engine"
