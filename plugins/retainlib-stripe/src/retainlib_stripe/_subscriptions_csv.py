"""The Dashboard subscriptions export -> subscription segments, read lazily.

No real export was available: the date and flag columns follow code that reads
real exports (FORMATS.md, "[code]"); so do the price columns ``Plan``,
``Quantity``, ``Currency``, ``Interval`` and ``Amount`` (major units per
interval), seen in code reading real exports but not in a file.  Each price
field is also looked for under ``Plan ...``/``Price ...`` names (``Plan
Amount``, ``Price Interval``...), ignoring case; those variants and ``Interval
Count`` (default 1) are assumed.  A file without the price is refused with a message naming the file
and the missing columns rather than guessed at.  The policies are those of API
subscriptions (``docs/stripe.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import polars as pl

from retainlib.errors import SourceError
from retainlib.load_report import FileLoad
from retainlib.tables import MONEY
from retainlib_stripe._api import MONTHS_PER_INTERVAL
from retainlib_stripe._csv import (
    _LINE,
    _REASON,
    DATE_HINT,
    _because,
    _collect,
    _money,
    _scan,
    _split,
    _text,
    _when,
    pick,
)
from retainlib_stripe._currency import OUT_OF_RANGE, as_money
from retainlib_stripe._options import Options

__all__ = ["PRICE_COLUMNS", "SUBSCRIPTION_COLUMNS", "is_subscriptions", "read_subscriptions"]

#: Columns that mark a subscriptions export (besides a start column, old or new name).
SUBSCRIPTION_COLUMNS = ("id", "Customer ID", "Status", "Current Period End (UTC)")
_STARTS = ("Start Date (UTC)", "Start (UTC)")
#: Price field -> the column names it is looked for under, in order (exact name first, then ignoring case).
PRICE_COLUMNS: dict[str, tuple[str, ...]] = {
    "amount": ("Amount", "Plan Amount", "Price Amount", "Unit Amount"),
    "currency": ("Currency", "Plan Currency", "Price Currency"),
    "interval": ("Interval", "Plan Interval", "Price Interval"),
    "interval_count": ("Interval Count", "Plan Interval Count", "Price Interval Count"),
    "quantity": ("Quantity", "Plan Quantity"),
    "coupon": ("Coupon", "Coupon ID"),
}
#: The price fields MRR needs.
_REQUIRED = ("amount", "currency", "interval")
_MRR_KEY = ("_amount", "_quantity", "_interval", "_count")
#: Date columns read when present: a value given but not a date is a reject, never taken as "no date".
_DATES = {
    "_trial_end": "Trial End (UTC)",
    "_period_start": "Current Period Start (UTC)",
    "_period_end": "Current Period End (UTC)",
    "_canceled_at": "Canceled At (UTC)",
    "_ended_at": "Ended At (UTC)",
}


def is_subscriptions(columns: Sequence[str]) -> bool:
    """Whether a header is the subscriptions export's."""
    names = set(columns)
    return bool(columns) and columns[0] == "id" and names >= set(SUBSCRIPTION_COLUMNS) and bool(names & set(_STARTS))


def _mrr_table(keys: pl.DataFrame) -> pl.DataFrame:
    """MRR of each distinct (amount, quantity, interval, count), computed with Decimal; null when out of range."""
    mrr: list[Decimal | None] = []
    for amount, quantity, interval, count in keys.iter_rows():
        months = MONTHS_PER_INTERVAL[interval] * count
        mrr.append(as_money(amount * quantity / months))
    return keys.with_columns(pl.Series("_mrr", mrr, dtype=MONEY))


def read_subscriptions(path: Path, options: Options) -> tuple[pl.DataFrame, FileLoad]:
    """Segments from a subscriptions export, and its load."""
    frame, names = _scan(path)
    found = {field: pick(names, candidates) for field, candidates in PRICE_COLUMNS.items()}
    missing = [field for field in _REQUIRED if found[field] is None]
    if missing:
        tried = "; ".join(f"{PRICE_COLUMNS[f][0]}: {' / '.join(PRICE_COLUMNS[f])}" for f in missing)
        raise SourceError(
            f"this subscriptions export lacks {', '.join(PRICE_COLUMNS[f][0] for f in missing)}: MRR needs each "
            f"subscription's price (columns looked for: {tried}); export with the Amount, Currency and Interval "
            "columns, or read the subscriptions from the API",
            file=path,
            source="stripe",
        )
    price = {field: found[field] or candidates[0] for field, candidates in PRICE_COLUMNS.items()}
    start_col = next(c for c in _STARTS if c in names)
    status = _text(names, "Status").str.to_lowercase()
    quantity_text = _text(names, price["quantity"])
    count_text = _text(names, price["interval_count"])
    currency = _text(names, price["currency"]).str.to_uppercase()
    amount, amount_why = _money(_text(names, price["amount"]), currency)
    stage1 = frame.select(
        pl.col(_LINE),
        _text(names, "id").alias("subscription_id"),
        _text(names, "Customer ID").alias("customer_id"),
        status.alias("_status"),
        pl.when(_text(names, start_col).is_null())
        .then(_when(_text(names, "Created (UTC)")))
        .otherwise(_when(_text(names, start_col)))
        .alias("_start"),
        *(_when(_text(names, column)).alias(name) for name, column in _DATES.items()),
        pl.coalesce(
            pl.when(_text(names, column).is_not_null() & _when(_text(names, column)).is_null()).then(
                pl.lit(f"{column}: {DATE_HINT}")
            )
            for column in _DATES.values()
        ).alias("_bad_date"),
        (_text(names, "Cancel At Period End").str.to_lowercase() == "true").fill_null(False).alias("_at_period_end"),
        amount.alias("_amount"),
        amount_why.alias("_amount_why"),
        pl.when(quantity_text.is_null())
        .then(1)
        .otherwise(quantity_text.cast(pl.Int64, strict=False))
        .alias("_quantity"),
        pl.when(count_text.is_null()).then(1).otherwise(count_text.cast(pl.Int64, strict=False)).alias("_count"),
        _text(names, price["interval"]).str.to_lowercase().alias("_interval"),
        currency.alias("currency"),
        _text(names, price["coupon"]).alias("_coupon"),
    )
    s = pl.col("_status")
    late = s.is_in(["past_due", "unpaid"]).fill_null(False)
    started = pl.max_horizontal("_start", "_trial_end")
    ended = pl.coalesce(
        pl.col("_ended_at"),
        pl.when(s == "canceled").then(pl.coalesce("_canceled_at", "_period_end")),
        pl.when(pl.col("_at_period_end")).then(pl.col("_period_end")),
        pl.when(late & pl.lit(options.past_due == "churned")).then(pl.col("_period_start")),
    )
    interval_ok = pl.col("_interval").is_in(list(MONTHS_PER_INTERVAL)).fill_null(False)
    price_ok = interval_ok & pl.col("_amount").is_not_null() & (pl.col("_quantity") >= 0) & (pl.col("_count") >= 1)
    stage2 = stage1.with_columns(started.alias("started_at"), ended.alias("ended_at"), price_ok.alias("_price_ok"))
    # MRR per distinct price, exactly (a handful of distinct prices, whatever the number of rows).
    keys = _collect(path, stage2.filter("_price_ok").select(_MRR_KEY).unique())
    stage3 = stage2.join(
        _mrr_table(keys).lazy(), on=list(_MRR_KEY), how="left", maintain_order="left", nulls_equal=True
    )
    reason = (
        pl.when(pl.col("subscription_id").is_null())
        .then(pl.lit("id: empty"))
        .when(s.is_in(["incomplete", "incomplete_expired"]).fill_null(False))
        .then(pl.concat_str(pl.lit("Status: never started ("), s, pl.lit(")")))
        .when((s == "trialing") & pl.lit(options.trials == "reject"))
        .then(pl.lit("Status: in its free trial (option trials='reject')"))
        .when(s == "paused")
        .then(pl.lit("Status: paused (its trial ended without a payment method)"))
        .when(late & pl.lit(options.past_due == "reject"))
        .then(pl.concat_str(pl.lit("Status: "), s, pl.lit(" (option past_due='reject')")))
        .when(pl.col("customer_id").is_null())
        .then(pl.lit("Customer ID: missing"))
        .when(pl.col("_start").is_null())
        .then(pl.lit(f"{start_col}: {DATE_HINT}"))
        .when(pl.col("_bad_date").is_not_null())
        .then(pl.col("_bad_date"))
        .when((s == "trialing") & pl.col("_trial_end").is_null())
        .then(pl.lit("Trial End (UTC): missing (a trialing subscription starts when its trial ends)"))
        .when(~interval_ok)
        .then(pl.lit(f"{price['interval']}: not day, week, month or year"))
        .when(pl.col("_amount_why").is_not_null())
        .then(_because(price["amount"], pl.col("_amount_why")))
        .when(pl.col("_amount").is_null())
        .then(pl.lit(f"{price['amount']}: missing"))
        .when(pl.col("_quantity").is_null() | (pl.col("_quantity") < 0))
        .then(pl.lit(f"{price['quantity']}: not a whole number"))
        .when(pl.col("_count").is_null() | (pl.col("_count") < 1))
        .then(pl.lit(f"{price['interval_count']}: not a whole number from 1"))
        .when(~pl.col("currency").str.contains(r"^[A-Z]{3}$").fill_null(False))
        .then(pl.lit(f"{price['currency']}: not an ISO 4217 currency code"))
        .when(pl.col("_coupon").is_not_null() & pl.lit(options.discounts == "reject"))
        .then(pl.lit(f"{price['coupon']}: a coupon id cannot be applied to MRR (option discounts='ignore')"))
        .when(pl.col("_at_period_end") & pl.col("ended_at").is_null())
        .then(pl.lit("Current Period End (UTC): missing (needed for Cancel At Period End)"))
        .when(pl.col("ended_at") <= pl.col("started_at"))
        .then(
            pl.when(pl.col("ended_at") <= pl.col("_trial_end"))
            .then(pl.lit("Ended At (UTC): ended within its free trial (never paid)"))
            .otherwise(pl.lit("Ended At (UTC): ends when or before it starts"))
        )
        .when(pl.col("_mrr").is_null())
        .then(pl.lit(f"mrr: {OUT_OF_RANGE}"))
        .when(pl.col("_mrr") <= 0)
        .then(pl.lit("mrr: zero (a free price, zero quantity or a 100% discount)"))
    )
    columns = ("subscription_id", "customer_id", "started_at", "ended_at", "mrr", "currency")
    checked = stage3.select(pl.col(_LINE), reason.alias(_REASON), *columns[:4], pl.col("_mrr").alias("mrr"), "currency")
    return _split(path, checked, "subscriptions", columns)
