"""The ``shopify`` source's options: declared once, checked once, handed to the readers as one record."""

from __future__ import annotations

from typing import Literal

import attrs

from retainlib.calendar import check_tz
from retainlib.errors import OptionError

__all__ = ["OPTIONS", "Options"]

Amount = Literal["total", "subtotal"]
Relay = Literal["keep", "reject"]
_AMOUNTS: tuple[Amount, ...] = ("total", "subtotal")
_RELAYS: tuple[Relay, ...] = ("keep", "reject")

#: The reader's options, name -> description (what ``retainlib sources`` shows).
OPTIONS = {
    "amount": "an order's amount: 'total' (default) is what the customer paid and kept (Total less Refunded "
    "Amount); 'subtotal' is the subtotal (after discounts, without shipping and taxes), scaled down by the share "
    "refunded",
    "relay": "orders whose e-mail is a marketplace relay address (TikTok Shop, Amazon, eBay, Walmart): 'keep' "
    "(default) keys the customer by that address; 'reject' rejects them",
    "tz": "time zone of times written without their UTC offset (an export re-saved by a spreadsheet); "
    "default: such times are rejected",
}


@attrs.frozen(kw_only=True)
class Options:
    """The checked options of one read.

    Attributes:
        amount: which amount an order gets (``"total"`` or ``"subtotal"``).
        relay: what an order with a marketplace relay e-mail becomes (``"keep"`` or ``"reject"``).
        tz: the time zone of times without a UTC offset (``None``: they are rejected).
    """

    amount: Amount = "total"
    relay: Relay = "keep"
    tz: str | None = None

    @classmethod
    def of(cls, *, amount: object = None, relay: object = None, tz: object = None) -> Options:
        """Check option values (strings, as the command line gives them; ``None`` means the default)."""

        def choice(value: object, allowed: tuple[str, ...], name: str) -> str | None:
            if value is None:
                return None
            text = value.strip().lower() if isinstance(value, str) else value
            return OptionError.one_of(
                text, allowed, option=name, message=f"{name} is one of {', '.join(map(repr, allowed))}, got {value!r}"
            )

        amount_ = choice(amount, _AMOUNTS, "amount")
        relay_ = choice(relay, _RELAYS, "relay")
        return cls(
            amount="subtotal" if amount_ == "subtotal" else "total",
            relay="reject" if relay_ == "reject" else "keep",
            tz=None if tz is None else check_tz(tz.strip() if isinstance(tz, str) else tz),
        )
