"""The options of the ``ga4``, ``mixpanel`` and ``amplitude`` sources: declared once, checked before reading."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from retainlib.errors import OptionError
from retainlib.tables import CURRENCY_PATTERN, EVENTS

__all__ = [
    "AMPLITUDE_OPTIONS",
    "GA4_OPTIONS",
    "MIXPANEL_OPTIONS",
    "AmplitudeOptions",
    "Ga4Options",
    "MixpanelOptions",
]

Ga4Identity = Literal["fallback", "user_id", "pseudo"]
AmplitudeIdentity = Literal["fallback", "user_id", "amplitude_id"]
Revenue = Literal["local", "usd"]
TimeUnit = Literal["auto", "s", "ms"]

GA4_OPTIONS = {
    "identity": "who a customer is: 'fallback' (default: user_id, else user_pseudo_id), 'user_id' (events "
    "without a user_id are rejected) or 'pseudo' (always user_pseudo_id)",
    "params": "event parameters kept as extra text columns, e.g. 'page_location,ga_session_id' (a list, or "
    "names separated by commas)",
    "revenue": "purchase orders' amount: 'local' (default: ecommerce.purchase_revenue in the event's currency "
    "parameter) or 'usd' (ecommerce.purchase_revenue_in_usd, in USD)",
    "currency": "currency of purchases without a 'currency' event parameter, e.g. 'EUR' (default: such "
    "purchases are rejected as orders; their events are kept)",
}
MIXPANEL_OPTIONS = {
    "time_unit": "unit of properties.time: 'auto' (default: seconds below 10^11, milliseconds from there), 's' or 'ms'",
    "properties": "event properties kept as extra text columns, e.g. '$city,mp_lib' (a list, or names "
    "separated by commas)",
}
AMPLITUDE_OPTIONS = {
    "identity": "who a customer is: 'fallback' (default: user_id, else device_id), 'user_id' (events without "
    "a user_id are rejected) or 'amplitude_id' (Amplitude's own merged user id)",
    "properties": "event_properties kept as extra text columns, e.g. 'plan,source' (a list, or names "
    "separated by commas)",
}

_NAME = re.compile(r"^[^'\]\\\x00-\x1f]+$")
#: Extra columns a source always adds (their names cannot be taken by a kept property).
_RESERVED = {"session_id"}


def _choice(value: object, choices: tuple[str, ...], option: str, default: str) -> str:
    if value is None:
        return default
    text = value.strip().lower() if isinstance(value, str) else value
    listed = ", ".join(repr(c) for c in choices)
    return OptionError.one_of(text, choices, option=option, message=f"{option} is one of {listed}, got {value!r}")


def names(value: object, option: str, reserved: Sequence[str] = ()) -> tuple[str, ...]:
    """Property names: ``None`` (none), names separated by commas, or a list of names; each checked."""
    if value is None:
        return ()
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
        items = [v for v in items if v]
    elif isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        items = [v.strip() for v in value]
    else:
        raise OptionError(
            f"{option} is a list of names, or names separated by commas, got {value!r}", option=option, value=value
        )
    taken = {*EVENTS.schema.names(), *reserved}
    for item in items:
        if not item or not _NAME.match(item):
            raise OptionError(
                f"{option}: {item!r} is not a name retainlib can look up (no quote, ']', backslash or control "
                "character)",
                option=option,
                value=value,
            )
        if item in taken or item.startswith("_"):
            raise OptionError(
                f"{option}: {item!r} would take the name of a column the source makes (or a name starting "
                "with '_', reserved for retainlib's working columns)",
                option=option,
                value=value,
            )
    if len(set(items)) != len(items):
        raise OptionError(f"{option} names a property twice: {items}", option=option, value=value)
    return tuple(items)


@dataclass(frozen=True, slots=True)
class Ga4Options:
    """The checked options of one ``ga4`` read."""

    identity: Ga4Identity = "fallback"
    params: tuple[str, ...] = ()
    revenue: Revenue = "local"
    currency: str | None = None

    @classmethod
    def of(cls, *, identity: object, params: object, revenue: object, currency: object) -> Ga4Options:
        """Check option values (strings, as the command line gives them; ``None`` means the default)."""
        chosen: Ga4Identity = "fallback"
        match _choice(identity, ("fallback", "user_id", "pseudo"), "identity", "fallback"):
            case "user_id":
                chosen = "user_id"
            case "pseudo":
                chosen = "pseudo"
        money: Revenue = "usd" if _choice(revenue, ("local", "usd"), "revenue", "local") == "usd" else "local"
        code = None
        if currency is not None:
            code = currency.strip().upper() if isinstance(currency, str) else None
            if code is None or not CURRENCY_PATTERN.match(code):
                raise OptionError(
                    f"currency is an ISO 4217 code such as 'EUR', got {currency!r}", option="currency", value=currency
                )
        return cls(identity=chosen, params=names(params, "params", tuple(_RESERVED)), revenue=money, currency=code)


@dataclass(frozen=True, slots=True)
class MixpanelOptions:
    """The checked options of one ``mixpanel`` read."""

    time_unit: TimeUnit = "auto"
    properties: tuple[str, ...] = ()

    @classmethod
    def of(cls, *, time_unit: object, properties: object) -> MixpanelOptions:
        """Check option values (strings, as the command line gives them; ``None`` means the default)."""
        unit: TimeUnit = "auto"
        match _choice(time_unit, ("auto", "s", "ms"), "time_unit", "auto"):
            case "s":
                unit = "s"
            case "ms":
                unit = "ms"
        return cls(time_unit=unit, properties=names(properties, "properties"))


@dataclass(frozen=True, slots=True)
class AmplitudeOptions:
    """The checked options of one ``amplitude`` read."""

    identity: AmplitudeIdentity = "fallback"
    properties: tuple[str, ...] = ()

    @classmethod
    def of(cls, *, identity: object, properties: object) -> AmplitudeOptions:
        """Check option values (strings, as the command line gives them; ``None`` means the default)."""
        chosen: AmplitudeIdentity = "fallback"
        match _choice(identity, ("fallback", "user_id", "amplitude_id"), "identity", "fallback"):
            case "user_id":
                chosen = "user_id"
            case "amplitude_id":
                chosen = "amplitude_id"
        return cls(identity=chosen, properties=names(properties, "properties", tuple(_RESERVED)))
