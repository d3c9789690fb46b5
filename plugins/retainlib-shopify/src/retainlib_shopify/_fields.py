"""Polars expressions for Shopify's fields: money, timestamps, e-mails, ids.

Every reader of the plugin (CSV exports, REST and GraphQL JSON) turns its
records into text columns first; these expressions turn the text into values
and, beside each value, say why a text is not one (null when it is, or when
the text is blank).
"""

from __future__ import annotations

import polars as pl

from retainlib._conform import MONEY_RANGE, too_large
from retainlib.tables import MONEY, MONEY_PLACES, TIMESTAMP

__all__ = [
    "CSV_TIME",
    "CSV_TIME_HINT",
    "ISO_TIME_HINT",
    "RELAY_DOMAINS",
    "email",
    "gid_tail",
    "is_relay",
    "iso_time",
    "local_time",
    "money",
    "shop_time",
    "text",
    "unquoted_id",
]

#: The orders export's timestamps: the shop's local time with its UTC offset (``2024-03-01 10:00:00 -0500``).
CSV_TIME = "%Y-%m-%d %H:%M:%S %z"
CSV_TIME_HINT = "not a date and time with its UTC offset (expected 2024-03-01 10:00:00 -0500)"
ISO_TIME_HINT = "not an ISO 8601 time with its UTC offset (expected 2024-03-01T10:00:00-05:00 or ...Z)"
#: Marketplaces that hand the shop a relay address instead of the buyer's (TikTok Shop, Amazon, eBay, Walmart).
RELAY_DOMAINS = r"(tiktok\.com|tiktokw\.us|marketplace\.amazon\.[a-z.]+|members\.ebay\.[a-z.]+|relay\.walmart\.com)"
_RELAY = rf"@([a-z0-9-]+\.)*{RELAY_DOMAINS}$"
#: A plain decimal as Shopify writes money (``1299.00``, GraphQL's unpadded ``10.0``): no sign, symbol, grouping.
_PLAIN = r"^[0-9]+(\.[0-9]+)?$"
#: A digit other than zero after the 4th decimal place: the amount needs more places than money has.
_TOO_PRECISE = rf"\.[0-9]{{{MONEY_PLACES}}}[0-9]*[1-9]"


def text(names: pl.Schema | list[str], name: str) -> pl.Expr:
    """A column's stripped text, blanks as null; null when the file lacks the column."""
    if name not in names:
        return pl.lit(None, dtype=pl.String)
    s = pl.col(name).str.strip_chars()
    return pl.when(s != "").then(s)


def money(value: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Money from stripped text: the value (null when blank or bad) and why a text is not money.

    Read exactly: ``12.5``, ``12.50`` and ``12.500`` are 12.5; trailing zeros
    beyond 4 places carry nothing.  Refused, with the reason: a sign
    (``negative``), anything but digits and one ``.`` (``not a number``: ``1e3``,
    ``1,000.00``, ``$5``), a digit after the 4th decimal place, 20 integer digits or more.
    """
    plain = value.str.contains(_PLAIN)
    precise = ~value.str.contains(_TOO_PRECISE)
    amount = pl.when(plain & precise).then(value.cast(MONEY, strict=False))
    why = (
        pl.when(value.is_null())
        .then(pl.lit(None, dtype=pl.String))
        .when(value.str.contains(r"^-[0-9]+(\.[0-9]+)?$"))
        .then(pl.lit("negative"))
        .when(~plain)
        .then(pl.lit("not a number"))
        .when(~precise)
        .then(pl.lit(f"more than {MONEY_PLACES} decimal places"))
        .when(amount.is_null() | too_large(amount))
        .then(pl.lit(MONEY_RANGE))
    )
    return pl.when(why.is_null()).then(amount), why


def shop_time(value: pl.Expr) -> pl.Expr:
    """The orders export's ``2024-03-01 10:00:00 -0500`` as a UTC instant (null when not of that form)."""
    return value.str.to_datetime(CSV_TIME, strict=False, time_unit="us", time_zone="UTC").cast(TIMESTAMP)


def iso_time(value: pl.Expr) -> pl.Expr:
    """The API's ISO 8601 times (``2008-01-10T11:00:00-05:00``, ``2024-01-09T14:54:29Z``) as UTC instants."""
    offset = value.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z", strict=False, time_unit="us", time_zone="UTC")
    zulu = value.str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", strict=False, time_unit="us", time_zone="UTC")
    return pl.coalesce(zulu, offset).cast(TIMESTAMP)


def local_time(value: pl.Expr, tz: str) -> pl.Expr:
    """A time written without its offset (``2024-03-01 10:00:00``, ``...T10:00:00``) read in ``tz``, as UTC.

    A local time that the zone skips (a summer-time jump) is null; one it
    repeats is taken the first time.
    """
    naive = pl.coalesce(
        value.str.to_datetime(f, strict=False, time_unit="us")
        for f in ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M")
    )
    local = naive.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
    return local.dt.convert_time_zone("UTC").cast(TIMESTAMP)


def email(value: pl.Expr) -> pl.Expr:
    """An e-mail normalised as retainlib matches them: stripped, lower-case, blank as null."""
    s = value.str.strip_chars().str.to_lowercase()
    return pl.when(s != "").then(s)


def is_relay(normalised: pl.Expr) -> pl.Expr:
    """Whether a normalised e-mail is a marketplace relay address (``...@scs3.tiktok.com``)."""
    return normalised.str.contains(_RELAY).fill_null(False)


def unquoted_id(value: pl.Expr) -> pl.Expr:
    """An id or phone without the apostrophe the exports put before it (``'9980311896380``); blank as null."""
    s = value.str.strip_chars().str.strip_prefix("'").str.strip_chars()
    return pl.when(s != "").then(s)


def gid_tail(value: pl.Expr) -> pl.Expr:
    """A GraphQL global id's number (``gid://shopify/Order/123`` -> ``123``); other text as it is."""
    return value.str.replace(r"^gid://shopify/[A-Za-z]+/([^/?]+)(\?.*)?$", "${1}")
