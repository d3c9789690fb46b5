"""``rl.report(dataset)``: run the kernels a dataset's tables allow and keep their aggregates."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeAlias

import polars as pl

from retainlib._dataset import Dataset
from retainlib.calendar import PeriodName, WeekStart, check_period, check_tz
from retainlib.errors import CurrencyError, OptionError
from retainlib.metrics import (
    cohort_retention,
    compare,
    median_lifetime,
    mrr,
    mrr_movements,
    nps,
    repeat_purchase_rate,
    retention_rate,
    returning_customer_rate,
    revenue_retention,
    stickiness,
    support_retention,
    survival,
    triangle,
)
from retainlib.metrics._common import Engine, check_engine
from retainlib.reporting._format import fmt, fmt_period
from retainlib.reporting._model import Chart, Headline, Report, Section, Skipped, TableView

__all__ = ["MAX_COHORTS", "MAX_PERIODS", "MAX_SEGMENTS", "Progress", "report"]

#: Called before each section is computed: (section title, sections done, sections in all).
Progress: TypeAlias = Callable[[str, int, int], None]

#: The cohort triangle keeps the latest cohorts and the first period numbers up to these.
MAX_COHORTS: Final = 36
MAX_PERIODS: Final = 36
#: A segments table keeps the segments with the most customers, up to this many.
MAX_SEGMENTS: Final = 20
#: Points kept per survival curve for the chart (the curve itself has one row per distinct lifetime).
CURVE_POINTS: Final = 400
#: Survival read at these lifetimes (days) in the lifetime table.
_MILESTONES: Final = ((30, "30 days"), (90, "90 days"), (180, "180 days"), (365, "1 year"), (730, "2 years"))
_PER_YEAR: Final[dict[str, int]] = {"day": 365, "week": 52, "month": 12, "quarter": 4, "year": 1}
_TIME_COLUMN: Final = {
    "customers": "created_at",
    "orders": "ordered_at",
    "subscriptions": "started_at",
    "tickets": "opened_at",
    "responses": "responded_at",
    "events": "occurred_at",
}
_RATE_COLUMNS: Final = ("retention_rate", "churn_rate", "crr", "returning_customer_rate", "repeat_purchase_rate")


def _kinds(frame: pl.DataFrame, **extra: Any) -> dict[str, Any]:
    """Display kinds for a kernel frame: rates as percent, integer counts as counts, decimals as money."""
    kinds: dict[str, Any] = {}
    for name, dtype in frame.schema.items():
        share = name in _RATE_COLUMNS or name.endswith(("_rate", "_retention")) or name in ("rate", "retention")
        if share or (name in ("ci_lower", "ci_upper", "difference") and "rate" in frame.columns):
            kinds[name] = "percent"
        elif isinstance(dtype, pl.Decimal):
            kinds[name] = "money"
        elif dtype.is_integer():
            kinds[name] = "count"
        elif dtype.is_float():
            kinds[name] = "ratio"
    kinds.update(extra)
    return kinds


def _customers(n: int, then: str) -> str:
    return f"{n:,} customer{'' if n == 1 else 's'} {then}".rstrip()


def _latest(frame: pl.DataFrame) -> tuple[dict[str, Any] | None, bool]:
    """The latest complete row of a per-period result (else the latest row), and whether it is complete."""
    if frame.height == 0:
        return None, False
    if "is_complete" in frame.columns:
        done = frame.filter(pl.col("is_complete"))
        if done.height:
            return done.row(-1, named=True), True
    return frame.row(-1, named=True), "is_complete" not in frame.columns


class _Builder:
    def __init__(
        self,
        dataset: Dataset,
        *,
        period: PeriodName,
        by: tuple[str, ...],
        as_of: dt.datetime | dt.date | None,
        tz: str,
        week_start: WeekStart,
        engine: Engine,
        window: dt.timedelta | float | None,
    ) -> None:
        self.ds = dataset
        self.period = period
        self.by = by
        self.window = window
        self.opts: dict[str, Any] = {"as_of": as_of, "tz": tz, "engine": engine}
        self.popts: dict[str, Any] = {**self.opts, "period": period, "week_start": week_start}
        self.frames: dict[str, pl.DataFrame] = {}
        self.currency: str | None = None
        self.currencies: dict[str, list[str]] = {}

    # ----------------------------------------------------------------- helpers
    def keep(self, name: str, frame: pl.DataFrame) -> pl.DataFrame:
        self.frames[name] = frame
        return frame

    def when(self, row: dict[str, Any] | None, complete: bool) -> str:
        if row is None or row.get("period") is None:
            return ""
        text = fmt_period(row["period"], self.period)
        return text if complete else f"{text} (not yet complete)"

    def money_currency(self, table: str) -> str | None:
        found = self.currencies.get(table, [])
        return found[0] if len(found) == 1 else None

    # ---------------------------------------------------------------- overview
    def overview(self) -> tuple[dict[str, int], dict[str, tuple[dt.datetime | None, dt.datetime | None]]]:
        names = list(self.ds.tables)
        queries = []
        for name, frame in self.ds.tables.items():
            ts = pl.col(_TIME_COLUMN[name])
            exprs = [pl.len().alias("rows"), ts.min().alias("first"), ts.max().alias("last")]
            if name in ("orders", "subscriptions"):
                exprs.append(pl.col("currency").drop_nulls().unique().sort().implode().alias("currencies"))
            queries.append(frame.select(exprs))
        results = pl.collect_all(queries, engine=self.opts["engine"]) if queries else []
        counts: dict[str, int] = {}
        spans: dict[str, tuple[dt.datetime | None, dt.datetime | None]] = {}
        for name, res in zip(names, results, strict=True):
            row = res.row(0, named=True)
            counts[name] = int(row["rows"])
            spans[name] = (row["first"], row["last"])
            if "currencies" in row:
                self.currencies[name] = list(row["currencies"] or [])
        money = sorted({c for found in self.currencies.values() for c in found})
        self.currency = money[0] if len(money) == 1 else None
        return counts, spans

    # ------------------------------------------------------------------ orders
    def orders(self) -> Section:
        period = self.period
        rates = self.keep("retention_rate", retention_rate(self.ds, table="orders", **self.popts))
        cohorts = self.keep("cohort_retention", cohort_retention(self.ds, table="orders", **self.popts))
        tri = self.keep("triangle", triangle(cohorts))
        repeat = self.keep("repeat_purchase_rate", repeat_purchase_rate(self.ds, **self.popts))
        returning = self.keep("returning_customer_rate", returning_customer_rate(self.ds, **self.popts))

        headlines = [
            Headline(
                key="customers",
                label="Customers with an order",
                value=repeat["customers"].item() if repeat.height else 0,
                kind="count",
                metric="repeat_purchase_rate",
            ),
            Headline(
                key="repeat_purchase_rate",
                label="Repeat purchase rate",
                value=repeat["repeat_purchase_rate"].item() if repeat.height else None,
                kind="percent",
                detail=_customers(repeat["repeat_customers"].item(), "ordered twice or more") if repeat.height else "",
                metric="repeat_purchase_rate",
            ),
        ]
        row, complete = _latest(rates)
        headlines.append(
            Headline(
                key="retention_rate",
                label=f"Retention rate, latest {period}",
                value=None if row is None else row["retention_rate"],
                kind="percent",
                detail=""
                if row is None
                else f"{self.when(row, complete)}: {row['retained']:,} of " + _customers(row["start"], "stayed"),
                metric="retention_rate",
            )
        )
        back = cohorts.filter((pl.col("period_number") == 1) & pl.col("is_complete")).select(
            pl.col("active").sum(), pl.col("cohort_size").sum()
        )
        active, size = back.row(0)
        headlines.append(
            Headline(
                key="cohort_retention_1",
                label=f"Back one {period} after their first",
                value=active / size if size else None,
                kind="percent",
                detail=f"all cohorts pooled: {active:,} of " + _customers(size, "")
                if size
                else f"no cohort is a whole {period} old yet",
                metric="cohort_retention",
            )
        )
        row, complete = _latest(returning)
        headlines.append(
            Headline(
                key="returning_customer_rate",
                label=f"Returning customer rate, latest {period}",
                value=None if row is None else row["returning_customer_rate"],
                kind="percent",
                detail=self.when(row, complete),
                metric="returning_customer_rate",
            )
        )

        recent = cohorts.filter(
            pl.col("cohort").is_in(cohorts["cohort"].unique().sort().tail(MAX_COHORTS).implode())
            & (pl.col("period_number") < MAX_PERIODS)
        )
        shown_tri = tri.tail(MAX_COHORTS).select(tri.columns[: 2 + MAX_PERIODS])
        notes: list[str] = []
        if tri.height > MAX_COHORTS or tri.width > 2 + MAX_PERIODS:
            notes.append(
                f"The triangle shows the latest {min(tri.height, MAX_COHORTS)} of {tri.height:,} cohorts and "
                f"their first {min(tri.width - 2, MAX_PERIODS)} {period}s."
            )
        period_cols = [c for c in shown_tri.columns if c.isdigit()]
        table_rates = rates.select(
            "period", "start", "new", "retained", "reactivated", "churned", "end", "retention_rate", "churn_rate"
        ).join(returning.select("period", "returning_customer_rate"), on="period", how="left", maintain_order="left")
        return Section(
            key="orders",
            title="Customers and orders",
            intro=f"Who buys again, from the orders table, by {period}.",
            headlines=tuple(headlines),
            charts=(
                Chart(kind="cohort_heatmap", title=f"Cohort retention by {period}", frame=recent),
                Chart(kind="retention_curves", title=f"Retention rate by {period}", frame=rates),
            ),
            tables=(
                TableView(
                    key="triangle",
                    title=f"Cohort retention: share of each cohort active n {period}s after its first",
                    frame=shown_tri,
                    kinds={"cohort_size": "count", **dict.fromkeys(period_cols, "percent")},
                    period_columns=("cohort",),
                    max_rows=MAX_COHORTS,
                    note="The last cell of each cohort may cover a period that has not ended.",
                ),
                TableView(
                    key="retention_rate",
                    title=f"Period retention by {period}",
                    frame=table_rates,
                    kinds=_kinds(table_rates),
                ),
            ),
            metrics=("repeat_purchase_rate", "retention_rate", "cohort_retention", "returning_customer_rate"),
            notes=tuple(notes),
        )

    # ----------------------------------------------------------- subscriptions
    def subscriptions(self) -> Section:
        period = self.period
        movements = self.keep("mrr_movements", mrr_movements(self.ds, **self.popts))
        levels = self.keep("mrr", mrr(self.ds, **self.popts))
        horizon = _PER_YEAR[period]
        yearly = self.keep("revenue_retention", revenue_retention(self.ds, horizon=horizon, **self.popts))
        currency = self.money_currency("subscriptions")
        row, complete = _latest(movements)
        when = self.when(row, complete)
        headlines = [
            Headline(
                key="mrr",
                label="MRR",
                value=None if row is None else row["mrr_end"],
                kind="money",
                currency=currency,
                detail=f"at the end of {when}" if when else "",
                metric="mrr",
            )
        ]
        level, level_complete = _latest(levels)
        headlines.append(
            Headline(
                key="paying_customers",
                label="Paying customers",
                value=None if level is None else level["customers"],
                kind="count",
                detail=""
                if level is None
                else f"ARPA {fmt(level['arpa'], 'money', currency=currency)}, {self.when(level, level_complete)}",
                metric="mrr",
            )
        )
        for key, label, metric in (
            ("net_revenue_retention", "Net revenue retention", "net_revenue_retention"),
            ("gross_revenue_retention", "Gross revenue retention", "net_revenue_retention"),
            ("logo_churn_rate", "Logo churn rate", "mrr_movements"),
        ):
            headlines.append(
                Headline(
                    key=key,
                    label=f"{label}, latest {period}",
                    value=None if row is None else row[key],
                    kind="percent",
                    detail=when,
                    metric=metric,
                )
            )
        if yearly.height:
            base = yearly.row(-1, named=True)
            headlines.append(
                Headline(
                    key="net_revenue_retention_year",
                    label="Net revenue retention over a year",
                    value=base["net_revenue_retention"],
                    kind="percent",
                    detail=f"customers paying at the start of {fmt_period(base['period'], period)}, "
                    f"{horizon} {period}s later",
                    metric="revenue_retention",
                )
            )
        shown = movements.select(
            "period",
            "mrr_start",
            "new",
            "reactivation",
            "expansion",
            "contraction",
            "churn",
            "mrr_end",
            "net_revenue_retention",
            "gross_revenue_retention",
            "logo_churn_rate",
        )
        return Section(
            key="subscriptions",
            title="Subscription revenue",
            intro=f"Monthly recurring revenue from the subscriptions table, its movements by {period}"
            + (f" (money in {currency})." if currency else "."),
            headlines=tuple(headlines),
            charts=(Chart(kind="mrr_waterfall", title=f"MRR movements by {period}", frame=movements),),
            tables=(
                TableView(key="mrr_movements", title=f"MRR movements by {period}", frame=shown, kinds=_kinds(shown)),
            ),
            metrics=("mrr", "mrr_movements", "net_revenue_retention", "revenue_retention"),
        )

    # ---------------------------------------------------------------- lifetime
    def lifetime(self) -> Section:
        curves: list[pl.DataFrame] = []
        medians: list[pl.DataFrame] = []
        groups: list[tuple[str, str]] = []
        opts = self.opts
        if self.ds.subscriptions is not None:
            groups.append(("subscribers", "subscribers (nothing running at the end of observation)"))
            curves.append(survival(self.ds, **opts))
            medians.append(median_lifetime(self.ds, **opts))
        if self.ds.orders is not None and self.window is not None:
            days = self.window.total_seconds() / 86400 if isinstance(self.window, dt.timedelta) else self.window
            groups.append(("buyers", f"buyers (no order for {days:g} days after their last)"))
            curves.append(survival(self.ds, window=self.window, **opts))
            medians.append(median_lifetime(self.ds, window=self.window, **opts))
        label = pl.Enum([g for g, _ in groups])
        curve = pl.concat(
            [
                c.select(pl.lit(g).cast(label).alias("customers"), pl.all())
                for c, (g, _) in zip(curves, groups, strict=True)
            ]
        )
        median = pl.concat(
            [
                m.select(pl.lit(g).cast(label).alias("customers"), pl.all())
                for m, (g, _) in zip(medians, groups, strict=True)
            ]
        )
        self.keep("survival", curve)
        self.keep("median_lifetime", median)
        headlines = [
            Headline(
                key=f"median_lifetime_{g}",
                label=f"Median lifetime of {g}",
                value=m["median"],
                kind="days",
                detail="95% CI "
                + (fmt(m["ci_lower"], "days") or "?")
                + " to "
                + (fmt(m["ci_upper"], "days") or "not reached"),
                metric="median_lifetime",
            )
            for (g, _), m in zip(groups, median.iter_rows(named=True), strict=True)
        ]
        milestones = pl.DataFrame(
            {
                "customers": [g for g, _ in groups for _ in _MILESTONES],
                "time": [float(d) for _ in groups for d, _ in _MILESTONES],
            },
            schema={"customers": label, "time": pl.Float64},
        ).sort("customers", "time")
        at = (
            milestones.join_asof(
                curve.sort("customers", "time"), on="time", by="customers", strategy="backward", check_sortedness=False
            )
            .with_columns(
                pl.col("time").replace_strict({float(d): name for d, name in _MILESTONES}, return_dtype=pl.String)
            )
            .pivot(on="time", index="customers", values="survival")
        )
        table = median.join(at, on="customers", how="left").with_columns(
            pl.col("customers").cast(pl.String).replace_strict(dict(groups), return_dtype=pl.String)
        )
        kinds: dict[str, Any] = {"median": "days", "ci_lower": "days", "ci_upper": "days"}
        kinds.update({name: "percent" for _, name in _MILESTONES})
        return Section(
            key="lifetime",
            title="Customer lifetime",
            intro="How long customers stay: Kaplan–Meier survival of customer lifetimes.",
            headlines=tuple(headlines),
            charts=(Chart(kind="survival_curve", title="Share of customers still customers", frame=_thin(curve)),),
            tables=(
                TableView(
                    key="median_lifetime",
                    title="Median lifetime (days, 95% CI) and the share still customers after",
                    frame=table,
                    kinds=kinds,
                    period_columns=(),
                ),
            ),
            metrics=("survival", "median_lifetime"),
        )

    # ----------------------------------------------------------------- support
    def support(self) -> Section:
        period = self.period
        result = self.keep("support_retention", support_retention(self.ds, **self.popts))
        pooled = (
            result.group_by("breakdown", "group", maintain_order=True)
            .agg(pl.col("customers").sum(), pl.col("retained").sum())
            .with_columns(
                pl.when(pl.col("customers") > 0).then(pl.col("retained") / pl.col("customers")).alias("retention_rate")
            )
        )
        by_group = dict(zip(pooled["group"], pooled.iter_rows(named=True), strict=True))
        headlines = [
            Headline(
                key=f"support_retention_{g}",
                label=f"Retained within 90 days, {label}",
                value=by_group[g]["retention_rate"] if g in by_group else None,
                kind="percent",
                detail=f"all periods pooled: {by_group[g]['retained']:,} of {by_group[g]['customers']:,} "
                "customer-periods"
                if g in by_group
                else "",
                metric="support_retention",
            )
            for g, label in (("supported", "after a solved ticket"), ("baseline", "without a ticket"))
        ]
        recent = (
            result.filter(pl.col("breakdown") == "group")
            .pivot(on="group", index="period", values=["customers", "retention_rate"])
            .rename(lambda c: c.replace("customers_", "customers ").replace("retention_rate_", "retention "))
        )
        kinds = {c: ("percent" if c.startswith("retention") else "count") for c in recent.columns if c != "period"}
        pooled_kinds = _kinds(pooled)
        latest = result["period"].unique().sort().tail(MAX_PERIODS)
        drawn = result.filter(pl.col("breakdown") == "group", pl.col("period").is_in(latest.implode()))
        return Section(
            key="support",
            title="Retention after support",
            intro=f"Do customers whose ticket was solved come back as often as the others?  From the tickets "
            f"table, by {period}, activity from the orders or subscriptions.",
            headlines=tuple(headlines),
            charts=(
                Chart(
                    kind="support_trend",
                    title=f"Retained within 90 days after each {period}: supported and baseline",
                    frame=drawn,
                ),
            ),
            tables=(
                TableView(
                    key="support_retention",
                    title="Retention within 90 days by group (all periods pooled)",
                    frame=pooled,
                    kinds=pooled_kinds,
                    period_columns=(),
                ),
                TableView(
                    key="support_retention", title=f"Supported and baseline by {period}", frame=recent, kinds=kinds
                ),
            ),
            metrics=("support_retention",),
        )

    # --------------------------------------------------------------------- NPS
    def nps(self) -> Section:
        period = self.period
        scores = self.keep("nps", nps(self.ds, **self.popts))
        overall = self.keep("nps_overall", nps(self.ds, **{**self.popts, "period": None}))
        whole = overall.row(0, named=True) if overall.height else None
        row, complete = _latest(scores)
        headlines = [
            Headline(
                key="nps",
                label="Net Promoter Score",
                value=None if whole is None else whole["nps"],
                kind="score",
                detail="" if whole is None else f"{whole['responses']:,} responses{_nps_interval(whole)}",
                metric="nps",
            ),
            Headline(
                key="nps_latest",
                label=f"NPS, latest {period}",
                value=None if row is None else row["nps"],
                kind="score",
                detail=""
                if row is None
                else f"{self.when(row, complete)}: {row['responses']:,} responses{_nps_interval(row)}",
                metric="nps",
            ),
        ]
        shown = scores.drop("is_complete")
        return Section(
            key="nps",
            title="Net Promoter Score",
            intro=f"From the survey responses, by {period}.",
            headlines=tuple(headlines),
            charts=(Chart(kind="nps_trend", title=f"NPS by {period} (95% CI)", frame=scores),),
            tables=(
                TableView(
                    key="nps",
                    title=f"NPS by {period}",
                    frame=shown,
                    kinds={**_kinds(shown), "nps": "score", "ci_lower": "score", "ci_upper": "score"},
                ),
            ),
            metrics=("nps",),
        )

    # ------------------------------------------------------------------ events
    def events(self) -> Section:
        period = self.period if self.period != "day" else "week"
        sticky = self.keep("stickiness", stickiness(self.ds, **{**self.popts, "period": period}))
        rates = self.keep("event_retention_rate", retention_rate(self.ds, table="events", **self.popts))
        row, complete = _latest(sticky)
        rrow, rcomplete = _latest(rates)
        headlines = [
            Headline(
                key="active_customers",
                label=f"Active customers, latest {period}",
                value=None if row is None else row["active"],
                kind="count",
                detail=self.when(row, complete),
                metric="stickiness",
            ),
            Headline(
                key="stickiness",
                label=f"Stickiness (DAU/{ {'week': 'WAU', 'month': 'MAU'}.get(period, period) }), latest {period}",
                value=None if row is None else row["stickiness"],
                kind="percent",
                detail=self.when(row, complete),
                metric="stickiness",
            ),
            Headline(
                key="event_retention_rate",
                label=f"Retention of active customers, latest {self.period}",
                value=None if rrow is None else rrow["retention_rate"],
                kind="percent",
                detail=self.when(rrow, rcomplete),
                metric="retention_rate",
            ),
        ]
        shown = sticky.drop("is_complete")
        return Section(
            key="events",
            title="Product engagement",
            intro="From the events table: who is active, and how often.",
            headlines=tuple(headlines),
            charts=(
                Chart(kind="retention_curves", title=f"Retention of active customers by {self.period}", frame=rates),
            ),
            tables=(
                TableView(
                    key="stickiness",
                    title=f"Stickiness by {period}",
                    frame=shown,
                    kinds={**_kinds(shown), "average_daily_active": "ratio", "stickiness": "percent"},
                ),
            ),
            metrics=("stickiness", "retention_rate"),
        )

    # ---------------------------------------------------------------- segments
    def segments(self) -> Section:
        by = list(self.by)
        label = " / ".join(by)
        tables: list[TableView] = []
        charts: list[Chart] = []
        metrics: list[str] = ["compare"]
        notes: list[str] = []

        def one_group(frame: pl.DataFrame) -> pl.DataFrame:
            if len(by) == 1:
                return frame
            joined = pl.concat_str([pl.col(c).cast(pl.String).fill_null("(none)") for c in by], separator=" / ")
            return frame.with_columns(joined.alias(label)).drop(by)

        def top(compared: pl.DataFrame) -> pl.DataFrame:
            if compared.height > MAX_SEGMENTS:
                notes.append(f"{label}: the {MAX_SEGMENTS} segments with the most customers of {compared.height:,}.")
                return compared.sort("trials", descending=True, maintain_order=True).head(MAX_SEGMENTS)
            return compared

        if self.ds.orders is not None:
            repeat = self.keep("repeat_purchase_rate_by", repeat_purchase_rate(self.ds, by=by, **self.popts))
            compared = top(compare(one_group(repeat), group=label))
            tables.append(
                TableView(
                    key="repeat_purchase_rate_by",
                    title=f"Repeat purchase rate by {label} (Wilson 95% CI; z-test against the first)",
                    frame=compared,
                    kinds={**_kinds(compared), "successes": "count", "trials": "count", "p_value": "ratio"},
                    period_columns=(),
                )
            )
            metrics.append("repeat_purchase_rate")
        rates = self.keep("retention_rate_by", retention_rate(self.ds, by=by, **self.popts))
        grouped = one_group(rates)
        charts.append(
            Chart(
                kind="retention_curves",
                title=f"Retention rate by {self.period} and {label}",
                frame=grouped,
                options={"by": label},
            )
        )
        latest = grouped.filter(pl.col("is_complete")).filter(pl.col("period") == pl.col("period").max())
        if latest.height:
            compared = top(compare(latest.drop("period", "is_complete"), group=label))
            when = fmt_period(latest["period"][0], self.period)
            tables.append(
                TableView(
                    key="retention_rate_by",
                    title=f"Retention rate by {label}, {when} (Wilson 95% CI; z-test against the first)",
                    frame=compared,
                    kinds={**_kinds(compared), "successes": "count", "trials": "count", "p_value": "ratio"},
                    period_columns=(),
                )
            )
        metrics.append("retention_rate")
        if self.ds.responses is not None:
            scores = self.keep("nps_by", nps(self.ds, by=by, **{**self.popts, "period": None}))
            scores = one_group(scores).sort("responses", descending=True, maintain_order=True).head(MAX_SEGMENTS)
            tables.append(
                TableView(
                    key="nps_by",
                    title=f"NPS by {label} (95% CI)",
                    frame=scores,
                    kinds={**_kinds(scores), "nps": "score", "ci_lower": "score", "ci_upper": "score"},
                    period_columns=(),
                )
            )
            metrics.append("nps")
        return Section(
            key="segments",
            title=f"Segments: {label}",
            intro=f"The headline rates compared between segments of {label}.",
            charts=tuple(charts),
            tables=tuple(tables),
            metrics=tuple(metrics),
            notes=tuple(notes),
        )


def _nps_interval(row: dict[str, Any]) -> str:
    """``", 95% CI a to b"`` for an NPS row, or nothing when the row has no interval (no responses)."""
    low, high = row["ci_lower"], row["ci_upper"]
    return "" if low is None or high is None else f", 95% CI {low:.1f} to {high:.1f}"


def _thin(curve: pl.DataFrame, points: int = CURVE_POINTS) -> pl.DataFrame:
    """At most about ``points`` rows per group of a survival curve: the last row of each time bin, and the first."""
    groups = [
        c
        for c in curve.columns
        if c not in ("time", "at_risk", "events", "censored", "survival", "ci_lower", "ci_upper")
    ]
    if curve.height <= points * max(1, len(groups)):
        return curve
    span = pl.col("time").max().over(groups) if groups else pl.col("time").max()
    binned = curve.with_columns((pl.col("time") / span * points).floor().fill_nan(0).alias("_bin"))
    first = binned.group_by(*groups, maintain_order=True).head(1)
    last = binned.group_by(*groups, "_bin", maintain_order=True).last()
    return pl.concat([first, last.select(first.columns)]).unique(maintain_order=True).sort(*groups, "time").drop("_bin")


def _check_by(dataset: Dataset, by: object) -> tuple[str, ...]:
    if by is None:
        return ()
    names = (by,) if isinstance(by, str) else tuple(by) if isinstance(by, Sequence) else None
    if names is None or not names or not all(isinstance(n, str) for n in names):
        raise OptionError("by is a column name or a list of column names", option="by", value=by)
    present = {c for f in dataset.tables.values() for c in f.collect_schema().names()}
    missing = [n for n in names if n not in present]
    if missing:
        raise OptionError(
            f"by: no column {', '.join(map(repr, missing))} in the dataset's tables "
            f"(segment columns come from the customers table or the table measured)",
            option="by",
            value=by,
        )
    return names


def report(
    dataset: Dataset,
    *,
    period: PeriodName = "month",
    by: str | Sequence[str] | None = None,
    as_of: dt.datetime | dt.date | None = None,
    tz: str = "UTC",
    week_start: WeekStart = 0,
    window: dt.timedelta | float | None = None,
    title: str | None = None,
    engine: Engine = "auto",
    progress: Progress | None = None,
) -> Report:
    """The headline numbers, tables and charts of a dataset, as a :class:`~retainlib.reporting.Report`.

    Runs the kernels the dataset's tables allow and keeps their results
    (aggregates only, never a row per customer):

    * orders: customers, repeat purchase rate, period retention, the cohort
      triangle, the returning customer rate;
    * subscriptions: MRR, its movements, net and gross revenue retention (per
      period and over a year), logo churn;
    * subscriptions (or orders, with ``window``): Kaplan–Meier survival and the
      median customer lifetime;
    * tickets with orders or subscriptions: retention after support;
    * responses: the Net Promoter Score with its interval;
    * events: active customers, stickiness, their retention;
    * with ``by``: the rates compared between segments.

    A part whose table is missing is left out, and the report says so
    (:attr:`Report.skipped`), as it does for money in several currencies.

    Parameters
    ----------
    dataset
        The :class:`~retainlib.Dataset` to report on (its load report, when it
        was read from files, is shown too).
    period
        The calendar period of the per-period metrics: ``"day"``, ``"week"``,
        ``"month"`` (default), ``"quarter"`` or ``"year"``.
    by
        Segment column(s) (from the customers table or the table measured):
        adds a section comparing the segments.  The headline numbers are over
        all customers.
    as_of, tz, week_start, engine
        As for every kernel (:func:`retainlib.retention_rate`).
    window
        Inactivity window (a ``datetime.timedelta`` or days) after which a
        buyer without orders counts as churned: adds the buyers' survival
        curve.  Without it, lifetimes come from the subscriptions only.
    title
        The report's title (default: "Retention report", with the source).
    progress
        Called before each section with (section title, sections done,
        sections in all): the command line draws a progress bar with it.

    Examples
    --------
    >>> import retainlib as rl
    >>> from retainlib.samples import synthetic_store
    >>> r = rl.report(synthetic_store(customers=300, seed=1), period="quarter")
    >>> [s.key for s in r.sections]
    ['orders', 'subscriptions', 'lifetime', 'support', 'nps', 'events']
    >>> r.headline("repeat_purchase_rate").value == rl.repeat_purchase_rate(
    ...     synthetic_store(customers=300, seed=1))["repeat_purchase_rate"].item()
    True
    """
    if not isinstance(dataset, Dataset):
        raise OptionError(
            f"report takes a retainlib Dataset, got {type(dataset).__name__} (build one with rl.Dataset or rl.read)",
            option="dataset",
            value=type(dataset).__name__,
        )
    period = check_period(period)
    tz = check_tz(tz)
    engine = check_engine(engine)
    names = _check_by(dataset, by)
    if title is not None and not isinstance(title, str):
        raise OptionError("title is a string", option="title", value=title)
    builder = _Builder(
        dataset, period=period, by=names, as_of=as_of, tz=tz, week_start=week_start, engine=engine, window=window
    )
    ds = dataset
    plan: list[tuple[str, str, Callable[[], Section]]] = []
    skipped: list[Skipped] = []
    if ds.orders is not None:
        plan.append(("orders", "Customers and orders", builder.orders))
    else:
        skipped.append(Skipped(section="Customers and orders", reason="the dataset has no orders table"))
    if ds.subscriptions is not None:
        plan.append(("subscriptions", "Subscription revenue", builder.subscriptions))
    else:
        skipped.append(Skipped(section="Subscription revenue", reason="the dataset has no subscriptions table"))
    if ds.subscriptions is not None or (ds.orders is not None and window is not None):
        plan.append(("lifetime", "Customer lifetime", builder.lifetime))
    if ds.subscriptions is None or (ds.orders is not None and window is None):
        reason = (
            "buyers' lifetimes need an inactivity window (window= in Python, --window DAYS on the command line: "
            "the days without an order after which a buyer counts as churned)"
            if ds.orders is not None
            else "the dataset has no subscriptions or orders table"
        )
        skipped.append(
            Skipped(section="Customer lifetime" + (" of buyers" if ds.subscriptions is not None else ""), reason=reason)
        )
    if ds.tickets is not None and (ds.orders is not None or ds.subscriptions is not None):
        plan.append(("support", "Retention after support", builder.support))
    else:
        skipped.append(
            Skipped(
                section="Retention after support",
                reason="the dataset has no tickets table"
                if ds.tickets is None
                else "tickets, but no orders or subscriptions to tell who stays active",
            )
        )
    if ds.responses is not None:
        plan.append(("nps", "Net Promoter Score", builder.nps))
    else:
        skipped.append(Skipped(section="Net Promoter Score", reason="the dataset has no responses table"))
    if ds.events is not None:
        plan.append(("events", "Product engagement", builder.events))
    else:
        skipped.append(Skipped(section="Product engagement", reason="the dataset has no events table"))
    if names and (ds.orders is not None or ds.subscriptions is not None or ds.events is not None):
        plan.append(("segments", "Segments", builder.segments))

    total = len(plan) + 1
    seconds: dict[str, float] = {}
    if progress is not None:
        progress("Tables and row counts", 0, total)
    started = time.perf_counter()
    counts, spans = builder.overview()
    seconds["overview"] = time.perf_counter() - started
    sections: list[Section] = []
    for done, (key, name, build) in enumerate(plan, start=1):
        if progress is not None:
            progress(name, done, total)
        started = time.perf_counter()
        try:
            sections.append(build())
        except CurrencyError as exc:
            skipped.append(Skipped(section=name, reason=f"{exc} (give by='currency' to see each currency apart)"))
        seconds[key] = time.perf_counter() - started
    if progress is not None:
        progress("done", total, total)
    source = ds.source or (ds.report.source if ds.report is not None else None)
    return Report(
        title=title or "Retention report" + (f": {source}" if source else ""),
        period=period,
        by=names,
        as_of=as_of,
        tz=tz,
        source=source,
        counts=counts,
        spans=spans,
        currency=builder.currency,
        sections=tuple(sections),
        skipped=tuple(skipped),
        load=ds.report,
        frames=builder.frames,
        seconds=seconds,
    )
