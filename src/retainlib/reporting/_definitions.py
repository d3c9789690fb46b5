"""The short definitions a report prints beside its numbers.

Each is a summary, in a few lines, of the metric's page under ``docs/metrics/``
(named by :attr:`Definition.page`), which holds the full definition and is the
contract; a test keeps the formulas here in step with those pages.
"""

from __future__ import annotations

from typing import Final

import attrs

__all__ = ["DEFINITIONS", "Definition"]


@attrs.frozen(kw_only=True)
class Definition:
    """What one metric of a report means.

    Attributes:
        key: the metric's name (the kernel's, or the kernel's column).
        title: a human title.
        text: the definition in a few sentences.
        formula: the formula, in the notation of the metric's docs page.
        page: the docs page holding the full definition (``metrics/<name>.md``).
    """

    key: str
    title: str
    text: str
    formula: str
    page: str


def _d(key: str, title: str, page: str, formula: str, text: str) -> Definition:
    return Definition(key=key, title=title, text=" ".join(text.split()), formula=formula, page=f"metrics/{page}.md")


#: Every metric a report can show, by key.
DEFINITIONS: Final[dict[str, Definition]] = {
    d.key: d
    for d in (
        _d(
            "retention_rate",
            "Period retention",
            "retention_rate",
            "retention_rate = retained / start",
            """A customer is active in a period when they have an order in it (orders), a subscription
            segment with mrr > 0 overlapping it (subscriptions) or an event in it (events).  start is the
            customers active in the previous period, retained those of them active again, new those first
            active now, reactivated those back after a gap; end = retained + new + reactivated.  The rate is
            per period of the report's period; a period without customers at its start has no rate.""",
        ),
        _d(
            "cohort_retention",
            "Cohort retention",
            "cohort_retention",
            "retention(k) = active(k) / cohort_size",
            """A cohort is the customers first active in a period.  active(k) counts those of the cohort
            active k periods later, so k = 0 gives 100%.  The last cell of a cohort may cover a period that
            has not ended yet.""",
        ),
        _d(
            "repeat_purchase_rate",
            "Repeat purchase rate",
            "repeat_purchase_rate",
            "repeat_purchase_rate = |{c : c has >= 2 orders}| / |{c : c has >= 1 order}|",
            """The share of customers who ordered more than once over the observation window (orders are
            counted as rows: two orders on one day make a repeat customer).""",
        ),
        _d(
            "returning_customer_rate",
            "Returning customer rate",
            "returning_customer_rate",
            "returning_customer_rate = returning_customers / customers",
            """Shopify's definition: of the customers who ordered in a period, the share whose orders up to
            the end of that period number two or more.""",
        ),
        _d(
            "compare",
            "Comparing segments",
            "compare",
            "rate = s / n",
            """Each segment's rate (s successes out of n trials) with its Wilson 95% interval, its difference
            from the reference segment and the two-sided p-value of the pooled two-proportion z-test.""",
        ),
        _d(
            "mrr",
            "Monthly recurring revenue",
            "mrr",
            "mrr(p) = mrr_end(p) = mrr(τ1)",
            """The monthly revenue of the subscription segments running at an instant τ (started_at <= τ <
            ended_at), in the subscriptions' currency.  A period's MRR is the MRR at its end τ1, the first
            instant of the next period; ARPA is that MRR over the customers paying then.""",
        ),
        _d(
            "mrr_movements",
            "MRR movements",
            "mrr",
            "mrr_end = mrr_start + new + reactivation + expansion − contraction − churn",
            """Per customer, the change of MRR between the first instant of the period and that of the next:
            new (from nothing, first time), reactivation (from nothing, back again), expansion and
            contraction (paying at both ends, more or less), churn (paying at the start, nothing at the end).
            The identity holds exactly, to the cent.""",
        ),
        _d(
            "net_revenue_retention",
            "Net revenue retention",
            "mrr",
            "net_revenue_retention = (mrr_start + expansion − contraction − churn) / mrr_start",
            """The share of the period's starting MRR kept by the customers already paying, expansion
            included; gross revenue retention leaves expansion out:
            (mrr_start − contraction − churn) / mrr_start.  Both are per period.""",
        ),
        _d(
            "revenue_retention",
            "Revenue retention over a year",
            "mrr",
            "net_revenue_retention = Σ mrr_c(τ_(p+h)) / Σ mrr_c(τ_p)",
            """The same customers at both ends of h periods: the MRR of the customers paying at the start of
            base period p, h periods later, over their MRR then (newcomers left out).  The report takes h as
            a year of periods and shows the latest base period whose end is observed.""",
        ),
        _d(
            "nps",
            "Net Promoter Score",
            "nps",
            "nps = 100 · (P − D) / n",
            """Of n answers (0..10) to "how likely are you to recommend us?", P promoters score 9 or 10 and D
            detractors 6 or less.  The 95% interval is the normal-approximation (Wald) interval of the usual
            NPS variance, on the −100..100 scale.""",
        ),
        _d(
            "support_retention",
            "Retention after support",
            "support_retention",
            "retention_rate = retained / customers",
            """For each period, the supported group is the customers with a ticket solved in it, the
            baseline the other customers active in it; a customer of either group is retained when active
            (an order or a paying subscription) within the window (90 days) after the end of the period.
            Only periods whose window has ended are counted.""",
        ),
        _d(
            "survival",
            "Customer survival (Kaplan–Meier)",
            "survival",
            "S(t) = ∏_{t_i ≤ t} (1 − d_i / n_i)",
            """The share of customers still customers t days after they started: d_i customers churn and n_i
            are at risk at each distinct lifetime t_i; customers still active at the end of observation are
            censored.  Subscribers churn when nothing runs at the end of observation; buyers when no order
            follows their last one within the inactivity window.  Greenwood 95% interval (log-log).""",
        ),
        _d(
            "median_lifetime",
            "Median customer lifetime",
            "survival",
            "median = min { t : S(t) ≤ 0.5 }",
            """The first time at which the Kaplan–Meier curve falls to one half or below, with the 95%
            interval read from the curve's interval; none when the curve never falls that far.""",
        ),
        _d(
            "stickiness",
            "Stickiness",
            "stickiness",
            "stickiness = average_daily_active / active",
            """On how many days of a period its active customers come back: the average number of customers
            active per day of the period over the customers active in it (DAU/WAU for weeks, DAU/MAU for
            months), between 1/days and 1.""",
        ),
    )
}
