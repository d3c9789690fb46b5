"""The competitors of ``bench_suite.py``: what a pandas user would otherwise write, plainly.

Each function takes pandas frames read by :func:`read_orders` or
:func:`read_subscriptions` (the read is timed separately by the suite) and
returns its result.  The idioms are the usual ones of tutorials and answers:
``to_period("M")``, ``groupby(...).transform("min")`` for the cohort,
``nunique`` and ``pivot_table`` for the triangle, month-start snapshots for MRR.
Month numbers are computed with vectorised year/month arithmetic rather than the
``.apply(attrgetter("n"))`` often seen, which is much slower: the competitor gets
the faster idiom.

Timestamps are read as naive UTC (``tz_localize(None)``, as most pandas code
has them; lifetimes is three times slower on aware ones), money as float64.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # imported where used, so that the retainlib processes do not load pandas
    import pandas as pd

ORDER_COLUMNS = ["customer_id", "ordered_at", "amount"]
SUBSCRIPTION_COLUMNS = ["customer_id", "started_at", "ended_at", "mrr"]


def read_orders(folder: Path) -> pd.DataFrame:
    """The orders columns the metrics need: customer_id, ordered_at (naive UTC), amount (float64)."""
    import pandas as pd

    df = pd.read_parquet(folder / "orders", columns=ORDER_COLUMNS)
    df["ordered_at"] = df["ordered_at"].dt.tz_localize(None)
    df["amount"] = df["amount"].astype("float64")
    return df


def read_subscriptions(folder: Path) -> pd.DataFrame:
    """The subscriptions columns MRR needs: customer_id, started_at, ended_at (naive UTC), mrr (float64)."""
    import pandas as pd

    df = pd.read_parquet(folder / "subscriptions", columns=SUBSCRIPTION_COLUMNS)
    for column in ("started_at", "ended_at"):
        df[column] = df[column].dt.tz_localize(None)
    df["mrr"] = df["mrr"].astype("float64")
    return df


# ----------------------------------------------------------------------------- orders
def cohort_counts(df: pd.DataFrame, measure: Literal["customers", "revenue"]) -> pd.DataFrame:
    """The cohort triangle of active customers (or revenue): cohort month x months since the first order."""
    df = df.assign(order_month=df["ordered_at"].dt.to_period("M"))
    df["cohort"] = df.groupby("customer_id")["order_month"].transform("min")
    df["period_number"] = (df["order_month"].dt.year - df["cohort"].dt.year) * 12 + (
        df["order_month"].dt.month - df["cohort"].dt.month
    )
    if measure == "customers":
        cells = df.groupby(["cohort", "period_number"])["customer_id"].nunique().reset_index()
        return cells.pivot_table(index="cohort", columns="period_number", values="customer_id")
    cells = df.groupby(["cohort", "period_number"])["amount"].sum().reset_index()
    return cells.pivot_table(index="cohort", columns="period_number", values="amount")


def cohort_retention(df: pd.DataFrame, measure: Literal["customers", "revenue"]) -> pd.DataFrame:
    """Retention triangle: each cohort's row divided by its month-0 value."""
    counts = cohort_counts(df, measure)
    return counts.divide(counts[0], axis=0)


def retention_rate(df: pd.DataFrame) -> pd.DataFrame:
    """Month by month: customers at the start, new, retained from the previous month, at the end; the rate."""
    import pandas as pd

    active = df.assign(month=df["ordered_at"].dt.to_period("M"))[["customer_id", "month"]].drop_duplicates()
    first = active.groupby("customer_id")["month"].transform("min")
    months = pd.period_range(active["month"].min(), active["month"].max(), freq="M")
    end = active.groupby("month").size().reindex(months, fill_value=0)
    new = active[active["month"] == first].groupby("month").size().reindex(months, fill_value=0)
    previous = active.assign(month=active["month"] + 1)
    retained = active.merge(previous, on=["customer_id", "month"]).groupby("month").size()
    out = pd.DataFrame(
        {"start": end.shift(1), "new": new, "retained": retained.reindex(months, fill_value=0), "end": end}
    ).iloc[1:]
    out["retention_rate"] = out["retained"] / out["start"]
    return out


def repeat_purchase_rate(df: pd.DataFrame) -> dict[str, float]:
    """Share of customers with two orders or more."""
    orders = df.groupby("customer_id").size()
    repeat = int((orders >= 2).sum())
    return {"customers": len(orders), "repeat_customers": repeat, "repeat_purchase_rate": repeat / len(orders)}


def km_durations(df: pd.DataFrame, window_days: float) -> tuple[pd.Series, pd.Series]:
    """Lifetimes from orders: churned when no order in the ``window_days`` before the last timestamp."""
    import pandas as pd

    as_of = df["ordered_at"].max()
    per = df.groupby("customer_id")["ordered_at"].agg(["min", "max"])
    event = (as_of - per["max"]) >= pd.Timedelta(days=window_days)
    end = per["max"].where(event, as_of)
    return (end - per["min"]).dt.total_seconds() / 86_400, event


def kaplan_meier(df: pd.DataFrame, window_days: float) -> Any:
    """lifelines' Kaplan–Meier fit on those lifetimes (days)."""
    from lifelines import KaplanMeierFitter

    duration, event = km_durations(df, window_days)
    return KaplanMeierFitter().fit(duration, event)


def lifetimes_rfm(df: pd.DataFrame) -> pd.DataFrame:
    """lifetimes' RFM summary (days; observation ends at the last order)."""
    from lifetimes.utils import summary_data_from_transaction_data

    summary: pd.DataFrame = summary_data_from_transaction_data(
        df, "customer_id", "ordered_at", monetary_value_col="amount"
    )
    return summary


def pymc_rfm(df: pd.DataFrame) -> pd.DataFrame:
    """PyMC-Marketing's RFM summary (days; observation ends at the last order)."""
    from pymc_marketing.clv.utils import rfm_summary

    summary: pd.DataFrame = rfm_summary(df, "customer_id", "ordered_at", monetary_value_col="amount")
    return summary


# ----------------------------------------------------------------------------- subscriptions
def mrr_movements(subs: pd.DataFrame) -> pd.DataFrame:
    """MRR movements from month-start snapshots: a customer's MRR at τ is the sum over segments running at τ.

    A segment runs at τ when ``started_at <= τ < ended_at`` (no end: still running).
    Between consecutive snapshots each customer is new (0 → >0, first paying segment
    started at or after τ0), reactivated (0 → >0, earlier), expanding, contracting or churned.
    """
    import pandas as pd

    last = max(subs["started_at"].max(), subs["ended_at"].max())
    months = pd.period_range(subs["started_at"].min().to_period("M"), last.to_period("M") + 1, freq="M")
    paying = subs[(subs["mrr"] > 0) & (subs["ended_at"].isna() | (subs["ended_at"] > subs["started_at"]))]
    first_start = paying.groupby("customer_id")["started_at"].min()
    snapshots = {}
    for month in months:
        tau = month.to_timestamp()
        running = paying[(paying["started_at"] <= tau) & (paying["ended_at"].isna() | (paying["ended_at"] > tau))]
        snapshots[month] = running.groupby("customer_id")["mrr"].sum()
    rows = []
    for m0, m1 in itertools.pairwise(months):
        both = pd.concat({"m0": snapshots[m0], "m1": snapshots[m1]}, axis=1).fillna(0.0)
        gained = (both["m0"] == 0) & (both["m1"] > 0)
        is_new = gained & (first_start.reindex(both.index) >= m0.to_timestamp())
        kept = (both["m0"] > 0) & (both["m1"] > 0)
        delta = both["m1"] - both["m0"]
        churned = (both["m0"] > 0) & (both["m1"] == 0)
        rows.append(
            {
                "period": m0,
                "mrr_start": both["m0"].sum(),
                "new": both["m1"][is_new].sum(),
                "reactivation": both["m1"][gained & ~is_new].sum(),
                "expansion": delta[kept & (delta > 0)].sum(),
                "contraction": -delta[kept & (delta < 0)].sum(),
                "churn": both["m0"][churned].sum(),
                "mrr_end": both["m1"].sum(),
            }
        )
    return pd.DataFrame(rows).set_index("period")
