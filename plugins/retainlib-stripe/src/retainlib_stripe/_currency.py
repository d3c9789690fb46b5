"""Minor units per currency: how many decimal places an amount of the Stripe API has.

Stripe's API gives every amount as an integer in the currency's minor unit.  The
number of places is the ISO 4217 exponent, with the deviations Stripe documents
(https://docs.stripe.com/currencies#zero-decimal): Stripe treats ``MGA`` as
zero-decimal (ISO: 2) and ``ISK`` as two-decimal (ISO: 0, amounts ending in 00).
Every other currency not listed has 2 places.
"""

from __future__ import annotations

from decimal import Decimal

__all__ = ["DEFAULT_EXPONENT", "EXPONENTS", "exponent", "to_major"]

#: Places of a currency not listed below.
DEFAULT_EXPONENT = 2

_ISO_ZERO = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"  # ISO 4217 exponent 0
_ISO_THREE = "BHD IQD JOD KWD LYD OMR TND"  # ISO 4217 exponent 3
_ISO_FOUR = "CLF UYW"  # ISO 4217 exponent 4
#: Stripe's own deviations from ISO 4217.
STRIPE_DEVIATIONS = {"MGA": 0, "ISK": 2}

#: Currency (upper case) -> decimal places of its minor unit, for the currencies that do not have 2.
EXPONENTS: dict[str, int] = {
    **dict.fromkeys(_ISO_ZERO.split(), 0),
    **dict.fromkeys(_ISO_THREE.split(), 3),
    **dict.fromkeys(_ISO_FOUR.split(), 4),
    **STRIPE_DEVIATIONS,
}
EXPONENTS = {code: places for code, places in EXPONENTS.items() if places != DEFAULT_EXPONENT}


def exponent(currency: str) -> int:
    """Decimal places of ``currency``'s minor unit in Stripe's API (``JPY`` 0, ``USD`` 2, ``KWD`` 3)."""
    return EXPONENTS.get(currency.upper(), DEFAULT_EXPONENT)


def to_major(minor: int | Decimal, currency: str) -> Decimal:
    """An amount in minor units as an exact Decimal in major units: ``to_major(1999, 'usd') == Decimal('19.99')``."""
    return Decimal(minor).scaleb(-exponent(currency))
