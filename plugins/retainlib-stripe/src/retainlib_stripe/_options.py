"""The ``stripe`` source's options: declared once, checked once, given to the readers as one record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from retainlib.errors import OptionError

__all__ = ["OPTIONS", "Options"]

#: Option name -> (allowed values, the first being the default; one-line description).
_CHOICES: dict[str, tuple[tuple[str, ...], str]] = {
    "guests": (
        ("email", "reject", "payment"),
        "payments without a Stripe customer: 'email' (default) uses the customer known for that e-mail, else the "
        "e-mail itself, and rejects the rest; 'reject' rejects them all; 'payment' makes each its own customer",
    ),
    "amounts": (
        ("original", "converted"),
        "payments CSV: 'original' (default) amount and currency, or 'converted' to the account's settlement currency",
    ),
    "invoices": (
        ("orders", "skip"),
        "invoices (API objects and the invoices export): 'orders' (default) makes paid invoices orders and rejects "
        "the payments of those invoices read in the same call as duplicates (the money is counted once); 'skip' "
        "rejects every invoice, so the payments are the orders",
    ),
    "past_due": (
        ("active", "churned", "reject"),
        "past_due and unpaid subscriptions: 'active' (default) keep running; 'churned' end at the current period's "
        "start; 'reject' rejects them",
    ),
    "discounts": (
        ("reject", "ignore"),
        "a subscription discount not expanded to its coupon: 'reject' (default) rejects the subscription; 'ignore' "
        "counts the subscription undiscounted",
    ),
    "trials": (
        ("load", "reject"),
        "trialing subscriptions: 'load' (default) loads them with the segment starting at the trial's end (one "
        "cancelled within its trial is rejected); 'reject' rejects them all",
    ),
}

#: The reader's options, name -> description (what ``retainlib sources`` shows).
OPTIONS = {name: description for name, (_, description) in _CHOICES.items()}


@dataclass(frozen=True, slots=True)
class Options:
    """The checked options of one read."""

    guests: Literal["email", "reject", "payment"] = "email"
    amounts: Literal["original", "converted"] = "original"
    invoices: Literal["orders", "skip"] = "orders"
    past_due: Literal["active", "churned", "reject"] = "active"
    discounts: Literal["reject", "ignore"] = "reject"
    trials: Literal["load", "reject"] = "load"

    @classmethod
    def of(cls, **given: str | None) -> Options:
        """Check option values (strings, as the command line gives them; ``None`` means the default)."""
        values: dict[str, str] = {}
        for name, value in given.items():
            allowed, _ = _CHOICES[name]
            if value is None:
                continue
            text = value.strip().lower() if isinstance(value, str) else value
            if text not in allowed:
                raise OptionError(
                    f"{name} is one of {', '.join(map(repr, allowed))}, got {value!r}", option=name, value=value
                )
            values[name] = str(text)
        return cls(**values)  # type: ignore[arg-type]
