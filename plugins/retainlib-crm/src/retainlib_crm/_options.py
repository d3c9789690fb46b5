"""The options of the ``hubspot`` and ``salesforce`` sources: declared once, checked before any file is opened.

Every option arrives as a string from the command line (``-o currency=EUR``)
or as a Python value; ``None`` means the default.  A wrong value raises
:class:`~retainlib.errors.OptionError` naming the option.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Mapping
from typing import Literal

import attrs

from retainlib.calendar import check_tz
from retainlib.errors import OptionError
from retainlib.tables import CURRENCY_PATTERN
from retainlib_crm._columns import key
from retainlib_crm._values import Order

__all__ = [
    "CUSTOMERS",
    "HUBSPOT_OPTIONS",
    "LOCALES",
    "OPPORTUNITIES",
    "SALESFORCE_OPTIONS",
    "Customer",
    "HubSpotOptions",
    "Locale",
    "Opportunities",
    "SalesforceOptions",
    "stage_key",
]

#: Whom a HubSpot deal's order belongs to first: its company, or its contact.
Customer = Literal["company", "contact"]
CUSTOMERS: tuple[Customer, ...] = ("company", "contact")
#: What a Salesforce won opportunity becomes: an order, a subscription segment (from its contract dates), or both.
Opportunities = Literal["orders", "subscriptions", "both"]
OPPORTUNITIES: tuple[Opportunities, ...] = ("orders", "subscriptions", "both")


@attrs.frozen(kw_only=True)
class Locale:
    """How a locale writes numeric dates and numbers (in Salesforce report exports).

    Attributes:
        name: the locale's name (``"en_US"``).
        order: the order of day, month and year in numeric dates.
        decimal: the decimal mark (``"."`` or ``","``); the other one groups digits.
    """

    name: str
    order: Order
    decimal: str


#: The locales whose report exports the ``salesforce`` source reads (their date order and decimal mark).
_LOCALES: tuple[tuple[str, Order, str], ...] = (
    ("en_US", "MDY", "."),
    ("en_GB", "DMY", "."),
    ("en_AU", "DMY", "."),
    ("de_DE", "DMY", ","),
    ("de_CH", "DMY", "."),
    ("fr_FR", "DMY", ","),
    ("es_ES", "DMY", ","),
    ("it_IT", "DMY", ","),
    ("nl_NL", "DMY", ","),
    ("pt_BR", "DMY", ","),
    ("ja_JP", "YMD", "."),
)
LOCALES: Mapping[str, Locale] = {name: Locale(name=name, order=order, decimal=dec) for name, order, dec in _LOCALES}

HUBSPOT_OPTIONS = {
    "tz": "time zone of the export's times, which HubSpot writes without an offset ('2024-03-01 10:00'): your "
    "HubSpot account's time zone, e.g. 'America/New_York'; required when a file holds such times",
    "currency": "ISO 4217 code of deal amounts without a currency (no 'Currency' column, or a blank one)",
    "customer": "whose order a closed-won deal is: 'company' (default: its primary, else first, associated "
    "company; else its contact) or 'contact' (its first associated contact; else its company)",
    "won_stages": "more deal stages (labels or internal ids, separated by ';') that mean closed won, for custom "
    "pipelines; 'Closed Won' / 'closedwon' and its translations are always won",
    "mapping": "header renames, file column -> the name this source reads ('Datensatz-Nr.=Record ID;...' or a dict)",
    "encoding": "the files' text encoding (default 'utf-8'; a UTF-16 byte-order mark is followed)",
}

SALESFORCE_OPTIONS = {
    "tz": "time zone of report exports' dates and times (the exporting user's zone, e.g. 'Europe/Paris'; "
    "required when a report holds times of day) and of the midnight that starts a date such as CloseDate "
    "(default UTC)",
    "currency": "ISO 4217 code of amounts without a currency (no CurrencyIsoCode / 'Amount Currency' column)",
    "locale": f"report exports: the exporting user's locale, which sets the order of numeric dates and the decimal "
    f"mark ({', '.join(LOCALES)}); needed when they are ambiguous ('3/1/2024', '1,234')",
    "won_stages": "more opportunity stages (separated by ';') that mean closed won when the file has no IsWon / "
    "'Won' column; 'Closed Won' is always won",
    "mapping": "header renames, file column -> the name this source reads ('Schlusstermin=Close Date;...' or a dict)",
    "encoding": "the files' text encoding (default 'utf-8'; e.g. 'latin-1' for a report exported as ISO-8859-1)",
    "opportunities": "what won opportunities become: 'orders' (default: an order at the close date), "
    "'subscriptions' (a subscription segment over the contract's dates, MRR = Amount / the term in months; "
    "needs contract date columns) or 'both' (the two tables, each accounting for every row)",
}


def stage_key(text: str) -> str:
    """A stage label or id as compared with the file's (see :func:`retainlib_crm._values.label`)."""
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _tz(value: object) -> str | None:
    if value is None:
        return None
    return check_tz(value.strip() if isinstance(value, str) else value)


def _currency(value: object) -> str | None:
    if value is None:
        return None
    text = value.strip().upper() if isinstance(value, str) else None
    if text is None or not CURRENCY_PATTERN.match(text):
        raise OptionError(
            f"currency is an ISO 4217 code such as 'USD' or 'EUR', got {value!r}", option="currency", value=value
        )
    return text


def _stages(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    items: Iterable[object]
    if isinstance(value, str):
        items = value.split(";")
    elif isinstance(value, list | tuple):
        items = value
    else:
        raise OptionError(
            f"won_stages is a list of stage names or ids (or one string, separated by ';'), got {value!r}",
            option="won_stages",
            value=value,
        )
    keys = []
    for item in items:
        if not isinstance(item, str):
            raise OptionError(f"won_stages holds {item!r}, not a stage name", option="won_stages", value=value)
        if stage_key(item):
            keys.append(stage_key(item))
    return tuple(keys)


def _mapping(value: object, targets: Iterable[str]) -> dict[str, str]:
    if value is None:
        return {}
    pairs: dict[str, str] = {}
    if isinstance(value, str):
        for part in re.split(r"[;\n]", value):
            if not part.strip():
                continue
            source, sep, target = part.partition("=")
            if not sep or not source.strip() or not target.strip():
                raise OptionError(
                    f"mapping is 'file column=known column;...', got {value!r}", option="mapping", value=value
                )
            pairs[source.strip()] = target.strip()
    elif isinstance(value, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        pairs = dict(value)
    else:
        raise OptionError(
            f"mapping is a dict of file column -> known column (or 'a=b;c=d'), got {value!r}",
            option="mapping",
            value=value,
        )
    known = {key(t) for t in targets}
    for source, target in pairs.items():
        if key(target) not in known:
            raise OptionError(
                f"mapping renames {source!r} to {target!r}, a column this source does not read; it reads: "
                f"{', '.join(sorted(set(targets)))}",
                option="mapping",
                value=value,
            )
    return pairs


def _encoding(value: object) -> str:
    if value is None:
        return "utf-8"
    if not isinstance(value, str):
        raise OptionError(f"encoding is a name such as 'utf-8', got {value!r}", option="encoding", value=value)
    try:
        name = codecs.lookup(value.strip()).name
    except LookupError:
        raise OptionError(f"unknown encoding {value!r}", option="encoding", value=value) from None
    return "utf-8" if name in ("utf-8", "utf-8-sig") else name


def _locale(value: object) -> Locale | None:
    if value is None:
        return None
    by_key = {name.lower(): name for name in LOCALES}
    text = value.strip().replace("-", "_").lower() if isinstance(value, str) else value
    chosen = OptionError.one_of(
        text,
        tuple(by_key),
        option="locale",
        message=f"locale is one of {', '.join(LOCALES)} (the report user's locale), got {value!r}",
    )
    return LOCALES[by_key[chosen]]


@attrs.frozen(kw_only=True)
class HubSpotOptions:
    """The checked options of a ``hubspot`` read (see :data:`HUBSPOT_OPTIONS`)."""

    tz: str | None = None
    currency: str | None = None
    customer: Customer = "company"
    won_stages: tuple[str, ...] = ()
    mapping: Mapping[str, str] = attrs.field(factory=dict)
    encoding: str = "utf-8"

    @classmethod
    def of(cls, *, targets: Iterable[str], **given: object) -> HubSpotOptions:
        """Check the options given (``targets``: the column names ``mapping`` may rename to)."""
        customer: Customer = "company"
        raw = given.get("customer")
        if raw is not None:
            text = raw.strip().lower() if isinstance(raw, str) else raw
            customer = OptionError.one_of(
                text, CUSTOMERS, option="customer", message=f"customer is 'company' or 'contact', got {raw!r}"
            )
        return cls(
            tz=_tz(given.get("tz")),
            currency=_currency(given.get("currency")),
            customer=customer,
            won_stages=_stages(given.get("won_stages")),
            mapping=_mapping(given.get("mapping"), targets),
            encoding=_encoding(given.get("encoding")),
        )


@attrs.frozen(kw_only=True)
class SalesforceOptions:
    """The checked options of a ``salesforce`` read (see :data:`SALESFORCE_OPTIONS`)."""

    tz: str | None = None
    currency: str | None = None
    locale: Locale | None = None
    won_stages: tuple[str, ...] = ()
    mapping: Mapping[str, str] = attrs.field(factory=dict)
    encoding: str = "utf-8"
    opportunities: Opportunities = "orders"

    @property
    def tables(self) -> tuple[str, ...]:
        """The canonical tables an opportunity file gives (``orders``, ``subscriptions`` or both)."""
        return ("orders", "subscriptions") if self.opportunities == "both" else (self.opportunities,)

    @classmethod
    def of(cls, *, targets: Iterable[str], **given: object) -> SalesforceOptions:
        """Check the options given (``targets``: the column names ``mapping`` may rename to)."""
        raw = given.get("opportunities")
        opportunities: Opportunities = "orders"
        if raw is not None:
            opportunities = OptionError.one_of(
                raw.strip().lower() if isinstance(raw, str) else raw,
                OPPORTUNITIES,
                option="opportunities",
                message=f"opportunities is 'orders', 'subscriptions' or 'both' (what won opportunities become), "
                f"got {raw!r}",
            )
        return cls(
            opportunities=opportunities,
            tz=_tz(given.get("tz")),
            currency=_currency(given.get("currency")),
            locale=_locale(given.get("locale")),
            won_stages=_stages(given.get("won_stages")),
            mapping=_mapping(given.get("mapping"), targets),
            encoding=_encoding(given.get("encoding")),
        )
